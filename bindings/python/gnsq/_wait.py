"""How this package waits: with plain threads, or cooperatively under gevent.

gnsq runs everything as greenlets in the caller's thread. This package does
the same whenever the program has imported gevent (monkey-patched or not:
gnsq's own users and tests mix it with gevent.sleep, joinall and
StreamServer without patching): waits go through gevent's wait_read on the
library's notify fd, background loops are greenlets, results are gevent
AsyncResults. Without gevent, waits are select() on the fd (so Ctrl-C
raises KeyboardInterrupt at once) and background loops are daemon threads.

An object chooses once, when it is created: ``Runtime.current()``.
"""
import os
import select
import sys
import threading


class _Timeout(Exception):
    pass


def drain(fd):
    """Reads the notify pipe empty (it is non-blocking)."""
    try:
        while len(os.read(fd, 4096)) == 4096:
            pass
    except BlockingIOError:
        pass


class AsyncResult:
    """What publish(raise_error=False) returns without gevent: the parts of
    gevent.event.AsyncResult that callers use (get, wait, ready, successful,
    value, exception, set, set_exception)."""

    __slots__ = ("_event", "value", "_exception")

    def __init__(self):
        self._event = threading.Event()
        self.value = None
        self._exception = None

    @property
    def exception(self):
        return self._exception

    def set(self, value=None):
        self.value = value
        self._event.set()

    def set_exception(self, exception):
        self._exception = exception
        self._event.set()

    def ready(self):
        return self._event.is_set()

    def successful(self):
        return self._event.is_set() and self._exception is None

    def wait(self, timeout=None):
        self._event.wait(timeout)
        return self.value

    def get(self, block=True, timeout=None):
        if not self._event.wait(timeout if block else 0):
            raise TimeoutError("the result is not ready")
        if self._exception is not None:
            raise self._exception
        return self.value


class _Threads:
    green = False
    Event = threading.Event
    RLock = threading.RLock
    AsyncResult = AsyncResult

    @staticmethod
    def wait_readable(fd, timeout=None):
        """True when fd became readable, False on timeout (seconds, None: none)."""
        return bool(select.select([fd], [], [], timeout)[0])

    @staticmethod
    def spawn(fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True, name="gnsq")
        t.start()
        return t

    @staticmethod
    def join(worker, timeout=None):
        """True when worker ended within timeout."""
        worker.join(timeout)
        return not worker.is_alive()

    @staticmethod
    def current():
        return threading.get_ident()

    @staticmethod
    def cooperate():
        pass


class _Gevent:
    green = True

    def __init__(self):
        import gevent
        import gevent.event
        import gevent.lock
        import gevent.socket

        self._gevent = gevent
        self._wait_read = gevent.socket.wait_read
        self.Event = gevent.event.Event
        self.RLock = gevent.lock.RLock
        self.AsyncResult = gevent.event.AsyncResult

    def wait_readable(self, fd, timeout=None):
        try:
            self._wait_read(fd, timeout=timeout, timeout_exc=_Timeout)
            return True
        except _Timeout:
            return False

    def spawn(self, fn, *args):
        return self._gevent.spawn(fn, *args)

    @staticmethod
    def join(worker, timeout=None):
        worker.join(timeout)
        return worker.dead

    def current(self):
        return self._gevent.getcurrent()

    def cooperate(self):
        self._gevent.sleep(0)


_THREADS = _Threads()
_gevent_runtime = None


def current():
    """The runtime for an object created now: gevent's once the program has
    imported gevent, else threads."""
    global _gevent_runtime
    if "gevent" not in sys.modules:
        return _THREADS
    if _gevent_runtime is None:
        _gevent_runtime = _Gevent()
    return _gevent_runtime
