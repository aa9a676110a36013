"""How this package waits: with plain threads, or cooperatively under gevent.

gnsq runs everything as greenlets in the caller's thread. This package does
the same whenever the program has imported gevent (monkey-patched or not:
gnsq's own users and tests mix it with gevent.sleep, joinall and
StreamServer without patching): waits go through gevent's wait_read on the
library's notify fd, background loops are greenlets, results are gevent
AsyncResults. Without gevent, waits are poll() on the fd (so Ctrl-C
raises KeyboardInterrupt at once) and background loops are daemon threads.

An object chooses once, when it is created: ``Runtime.current()``.
"""
import os
import queue
import select
import sys
import threading
import time


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


class Queue(queue.Queue):
    """queue.Queue with gevent.queue.Queue's peek and iteration (for the
    contrib handlers without gevent); maxsize None or <= 0: unbounded."""

    def __init__(self, maxsize=None):
        super().__init__(maxsize if maxsize and maxsize > 0 else 0)

    def peek(self, block=True, timeout=None):
        with self.not_empty:
            if not block and not self._qsize():
                raise queue.Empty
            if not self.not_empty.wait_for(self._qsize, timeout):
                raise queue.Empty
            return self.queue[0]

    def peek_nowait(self):
        return self.peek(False)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get()
        if item is StopIteration:
            raise StopIteration
        return item


class _Threads:
    green = False
    Event = threading.Event
    RLock = threading.RLock
    AsyncResult = AsyncResult
    Queue = Queue
    Empty = queue.Empty

    @staticmethod
    def Channel():
        return Queue(1)

    @staticmethod
    def wait_readable(fd, timeout=None):
        """True when fd became readable, False on timeout (seconds, None:
        none). poll(), not select(): fds above 1024 are fine."""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else timeout * 1000))

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

    sleep = staticmethod(time.sleep)


class _Gevent:
    green = True

    def __init__(self):
        import gevent
        import gevent.event
        import gevent.lock
        import gevent.queue
        import gevent.socket

        self._gevent = gevent
        self._wait_read = gevent.socket.wait_read
        self.Event = gevent.event.Event
        self.RLock = gevent.lock.RLock
        self.AsyncResult = gevent.event.AsyncResult
        self.Queue = gevent.queue.Queue
        self.Channel = gevent.queue.Channel
        self.Empty = gevent.queue.Empty

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
        """Lets the other greenlets run, timers and I/O included (sleep(0)
        would not run the event loop)."""
        self._gevent.idle()

    def sleep(self, seconds):
        self._gevent.sleep(seconds)


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
