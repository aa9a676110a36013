"""gnsq.Message: one message from nsqd, and how it is answered.

finish(), requeue() and touch() emit the message's own signals (sender =
the message, as gnsq) and then tell the message's owner (the Consumer or
NsqdTCPClient that received it), which sends the answer: a Consumer
batches the answers of messages handled synchronously and sends those of
enable_async() messages at once."""
import blinker

from .errors import NSQException

__all__ = ["Message"]


class Message:
    """Message(timestamp, attempts, id, body): plain attributes; from nsqd,
    timestamp (ns) and attempts are ints, id (16 bytes) and body bytes."""

    # __dict__: callers may set attributes of their own, as on gnsq's Message
    __slots__ = ("timestamp", "attempts", "id", "body", "_async", "_responded", "_owner", "_token", "_signals",
                 "__weakref__", "__dict__")

    def __init__(self, timestamp, attempts, id, body):
        self.timestamp = timestamp
        self.attempts = attempts
        self.id = id
        self.body = body
        self._async = False
        self._responded = False
        self._owner = None  # set by whoever received it from nsqd
        self._token = 0
        self._signals = None

    def _signal(self, name):
        if self._signals is None:
            self._signals = {}
        signal = self._signals.get(name)
        if signal is None:
            signal = self._signals[name] = blinker.Signal()
        return signal

    @property
    def on_finish(self):
        """Emitted by finish(); sender = the message."""
        return self._signal("on_finish")

    @property
    def on_requeue(self):
        """Emitted by requeue(); sender = the message; timeout, backoff."""
        return self._signal("on_requeue")

    @property
    def on_touch(self):
        """Emitted by touch(); sender = the message."""
        return self._signal("on_touch")

    def _emit(self, name, **kwargs):
        if self._signals is not None and name in self._signals:
            self._signals[name].send(self, **kwargs)

    def enable_async(self):
        """The consumer will not answer this message when the handler
        returns: call finish() or requeue() later."""
        self._async = True

    def is_async(self):
        return self._async

    def has_responded(self):
        return self._responded

    def finish(self):
        """Tells nsqd the message was processed (FIN)."""
        if self._responded:
            raise NSQException("already responded")
        self._responded = True
        self._emit("on_finish")
        if self._owner is not None:
            self._owner._message_finish(self)

    def requeue(self, time_ms=0, backoff=True):
        """Tells nsqd to deliver the message again after time_ms (REQ)."""
        if self._responded:
            raise NSQException("already responded")
        if not isinstance(time_ms, int) or isinstance(time_ms, bool):
            raise TypeError("requeue timeout must be an integer")
        self._responded = True
        self._emit("on_requeue", timeout=time_ms, backoff=backoff)
        if self._owner is not None:
            self._owner._message_requeue(self, time_ms, backoff)

    def touch(self):
        """Asks nsqd for more time (TOUCH); the message stays open."""
        if self._responded:
            raise NSQException("already responded")
        self._emit("on_touch")
        if self._owner is not None:
            self._owner._message_touch(self)

    def __repr__(self):
        return "<Message id=%r attempts=%r>" % (self.id, self.attempts)
