"""gnsq.Reader: the deprecated name of Consumer, with its old options.

``async=True`` makes every message asynchronous (enable_async);
``max_concurrency`` N > 0 hands messages to N workers (threads, or
greenlets under gevent) started by start(); < 0 means one per CPU."""
import multiprocessing
import queue as queue_module
import warnings

from . import _wait
from .consumer import RESP_REQUEUE, Consumer
from .errors import NSQException, NSQRequeueMessage

__all__ = ["Reader"]


class Reader(Consumer):
    def __init__(self, *args, **kwargs):
        """Use :class:`Consumer` instead."""
        warnings.warn("Reader is deprecated, use Consumer instead", DeprecationWarning, stacklevel=2)
        self.async_ = kwargs.pop("async", False)
        setattr(self, "async", self.async_)  # gnsq's attribute name (a keyword, hence setattr)
        max_concurrency = kwargs.pop("max_concurrency", 0)
        self.max_concurrency = multiprocessing.cpu_count() if max_concurrency < 0 else max_concurrency
        super().__init__(*args, **kwargs)
        runtime = _wait.current()
        if self.max_concurrency and runtime.green:
            import gevent.queue

            self.queue = gevent.queue.Queue()
        else:
            self.queue = queue_module.Queue() if self.max_concurrency else None
        self._workers = []

    def start(self, *args, **kwargs):
        if self.max_concurrency and not self._workers and not self.is_running:
            self._workers = [self._runtime.spawn(self._work) for _ in range(self.max_concurrency)]
        return super().start(*args, **kwargs)

    def close(self):
        super().close()
        for _ in self._workers:
            self.queue.put(None)

    def _give_back(self):
        # the queued messages go back to nsqd at once; no worker takes
        # another one (they skip messages once the reader is closed)
        while self.queue is not None:
            try:
                message = self.queue.get_nowait()
            except (queue_module.Empty, self._runtime.Empty):
                break
            if message is not None and not message._responded:
                message._responded = True
                self._answer(message._token, RESP_REQUEUE)

    def publish(self, topic, message):
        """Reader.publish was broken in gnsq 1.0 (AttributeError); use a
        Producer. Kept as a clear error."""
        raise NotImplementedError("Reader.publish is not supported: publish with gnsq.Producer")

    def handle_message(self, conn, message):
        if self.async_:
            message.enable_async()
        if self.max_concurrency:
            message.enable_async()
            self.queue.put(message)
            return
        super().handle_message(conn, message)

    def _work(self):
        """One worker: runs on_message for queued messages with gnsq's
        answers (a return finishes, an exception requeues)."""
        while True:
            message = self.queue.get()
            if message is None:
                return
            if not self.is_running:  # closed: back to nsqd, as close() does with the rest
                try:
                    message.requeue(0, False)
                except NSQException:
                    pass  # already closed: nsqd redelivers it after msg_timeout
                continue
            try:
                self._handle_queued(message)
            except NSQException as error:  # e.g. answering after close: nsqd redelivers it
                self.logger.warning("[%s] could not answer a message: %s", self.name, error)

    def _handle_queued(self, message):
        try:
            self.on_message.send(self, message=message)
        except NSQRequeueMessage as error:
            if not message.has_responded():
                backoff = self.backoff_on_requeue if error.backoff is None else error.backoff
                message.requeue(self.requeue_delay, backoff)
        except Exception as error:
            self.logger.exception("[%s] caught exception while handling message", self.name)
            self.on_exception.send(self, message=message, error=error)
            if not message.has_responded():
                message.requeue(self.requeue_delay, True)
        else:
            if not message.has_responded() and not self.async_:
                message.finish()
