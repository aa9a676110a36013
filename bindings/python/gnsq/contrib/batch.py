"""gnsq.contrib.batch: handle messages in batches.

A collector (a greenlet under gevent, else a thread) forms batches: it
flushes at batch_size messages, after timeout seconds without a new one,
or as soon as the consumer is starved (nothing more will arrive until
messages are answered), the last two with a RuntimeWarning. Each batch
runs through spawn."""
import logging
import warnings

from .. import _wait
from ..errors import NSQException

logger = logging.getLogger(__name__)

__all__ = ["BatchHandler"]


class BatchHandler:
    """Connect with consumer.on_message.connect(handler, weak=False); use a
    max_in_flight larger than batch_size.

    spawn: how a batch is run: a function like gevent.spawn (default: a
    new greenlet or thread), or an int n for a pool of n workers."""

    def __init__(self, batch_size, handle_batch=None, handle_message=None, handle_batch_error=None,
                 handle_message_error=None, timeout=10, spawn=None):
        self.batch_size = batch_size
        self.timeout = timeout
        if handle_batch is not None:
            self.handle_batch = handle_batch
        if handle_message is not None:
            self.handle_message = handle_message
        if handle_batch_error is not None:
            self.handle_batch_error = handle_batch_error
        if handle_message_error is not None:
            self.handle_message_error = handle_message_error
        self._runtime = _wait.current()
        self.spawn = self._pool(spawn) if isinstance(spawn, int) else spawn or self._runtime.spawn
        self.queue = self._runtime.Queue()
        self._collector = self._runtime.spawn(self._collect)

    def _pool(self, size):
        if self._runtime.green:
            import gevent.pool

            return gevent.pool.Pool(size).spawn
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(size, thread_name_prefix="gnsq-batch").submit

    def __call__(self, consumer, message):
        message.enable_async()
        self.queue.put((consumer, message))

    def _collect(self):
        messages = []
        while True:
            try:
                consumer, message = self.queue.get(timeout=self.timeout)
            except self._runtime.Empty:
                if messages:
                    warnings.warn("batch timed out with %d messages" % len(messages), RuntimeWarning)
                    messages = self._flush(messages)
                continue
            messages.append(message)
            if len(messages) >= self.batch_size:
                messages = self._flush(messages)
            elif consumer.is_starved:
                warnings.warn("consumer is starved: flushing a batch of %d messages" % len(messages), RuntimeWarning)
                messages = self._flush(messages)

    def _flush(self, messages):
        self.spawn(self.run_batch, messages)
        return []

    def run_batch(self, messages):
        """handle_message for each message (one that raises is requeued and
        left out), then handle_batch on the results: success finishes the
        messages, an exception requeues them (those not yet answered)."""
        batch = []
        for message in messages:
            try:
                batch.append(self.handle_message(message))
            except Exception as error:
                logger.exception("handle_message failed: requeueing the message")
                self.handle_message_error(error, message)
                self.requeue_message(message)
        if not batch:
            return  # every message failed and was requeued
        try:
            self.handle_batch(batch)
        except Exception as error:
            logger.exception("handle_batch failed: requeueing %d messages", len(messages))
            self.handle_batch_error(error, messages, batch)
            self.requeue_messages(messages)
        else:
            self.finish_messages(messages)

    def handle_message(self, message):
        """One message's contribution to the batch (default: the message)."""
        return message

    def handle_batch(self, messages):
        raise RuntimeError("handle_batch not implemented")

    def handle_message_error(self, error, message):
        pass

    def handle_batch_error(self, error, messages, batch):
        pass

    def finish_message(self, message):
        if not message.has_responded():
            try:
                message.finish()
            except NSQException as error:  # its connection is gone: nsqd redelivers it
                logger.warning("could not finish a message: %s", error)

    def finish_messages(self, messages):
        for message in messages:
            self.finish_message(message)

    def requeue_message(self, message):
        if not message.has_responded():
            try:
                message.requeue()
            except NSQException as error:
                logger.warning("could not requeue a message: %s", error)

    def requeue_messages(self, messages):
        for message in messages:
            self.requeue_message(message)
