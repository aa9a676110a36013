"""A library handle's events on an asyncio loop, for the objects whose
events only complete futures or send signals (Producer, HTTP clients)."""
import asyncio

from .. import _wait
from ..errors import NSQException


def loop_of(obj):
    """The running loop, which must be the one obj was first used on
    (obj._loop, set here on first use)."""
    loop = asyncio.get_running_loop()
    if obj._loop is None:
        obj._loop = loop
    elif obj._loop is not loop:
        raise RuntimeError("%r belongs to another event loop" % obj)
    return loop


class Watcher:
    """Polls handle whenever its notify fd is readable and hands each batch
    of events to on_events, one batch per loop turn until none is left.
    Once the handle is closed (poll says so after its CLOSED event) it
    stops watching, calls on_closed, frees the handle and sets closed."""

    def __init__(self, loop, handle, on_events, on_closed):
        self.loop, self.handle = loop, handle
        self.on_events, self.on_closed = on_events, on_closed
        self.closed = asyncio.Event()
        self._scheduled = False
        loop.add_reader(handle.fd, self._readable)

    def _readable(self):
        _wait.drain(self.handle.fd)
        self._poll()

    def _poll(self):
        self._scheduled = False
        if self.closed.is_set():
            return
        try:
            events = self.handle.poll(0)
        except NSQException:
            self._stop()
            return
        if events:
            try:
                self.on_events(events)
            finally:
                # the queue may hold more than one poll takes: poll again
                # next turn (the fd is signalled only when events arrive)
                if not self._scheduled:
                    self._scheduled = True
                    self.loop.call_soon(self._poll)

    def _stop(self):
        self.loop.remove_reader(self.handle.fd)
        try:
            self.on_closed()
        finally:
            self.handle.free()
            self.closed.set()
