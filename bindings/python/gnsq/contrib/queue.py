"""gnsq.contrib.queue: consume messages by iterating a queue.

Connect a handler to on_message; it makes each message asynchronous and
queues it; iterate the handler (or call get()) and finish each message.
The queue is gevent's under gevent, else a thread-safe one with the same
methods (get, get_nowait, peek, peek_nowait, put, empty, full, qsize)."""
from .. import _wait

__all__ = ["QueueHandler", "ChannelHandler"]


class QueueHandler:
    """Queues messages for an iterating consumer of the queue.

    maxsize: most messages queued (None or <= 0: unbounded); when full,
    the consumer waits before handling the next message."""

    def __init__(self, maxsize=None):
        self._queue = _wait.current().Queue(maxsize)

    def __call__(self, consumer, message):
        message.enable_async()
        self._queue.put(message)

    def __iter__(self):
        return iter(self._queue)

    def __getattr__(self, name):
        return getattr(self._queue, name)


class ChannelHandler(QueueHandler):
    """A QueueHandler whose put waits for a getter (gevent's Channel; a
    one-place queue with threads)."""

    def __init__(self):
        self._queue = _wait.current().Channel()
