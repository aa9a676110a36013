"""One libgnsq handle (producer, consumer, tcp or http) and its events.

Events are copied out of the library in batches (gnsq_*_poll) and decoded
in bulk with struct; a Python object per event is made only by the caller.
The library's LOG events go to Python's logging here, under the component
name the library gives (gnsq's logger names)."""
import ctypes
import logging
import struct

from . import _ffi

# include/gnsq.h: gnsq_event_t (64 bytes) and the GNSQ_EV_* types.
EVENT = struct.Struct("<iiQqqIIHHI16s")
EV_MESSAGE, EV_GIVING_UP, EV_FINISHED, EV_REQUEUED, EV_RESPONSE, EV_ERROR, EV_AUTH, EV_CLOSED = range(1, 9)
EV_CONNECTED, EV_DISCONNECTED, EV_EXCEPTION, EV_PUBLISHED, EV_HTTP_DONE, EV_CONNECT_DONE, EV_LOG = range(9, 16)
EV_STEP_DONE = 16
EVF_HELD = 1

# Python logging levels <-> the config's log_level.
_LOG_LEVELS = ((logging.DEBUG, "debug"), (logging.INFO, "info"), (logging.WARNING, "warn"), (logging.ERROR, "error"))


def log_level_for(logger):
    """The library log_level that delivers what logger would emit."""
    level = logger.getEffectiveLevel()
    for py, name in _LOG_LEVELS:
        if level <= py:
            return name
    return "off"


def log_record(data, level):
    """Sends one LOG event's data ("<component> <text>") to logging."""
    component, _, text = data.decode("utf-8", "replace").partition(" ")
    logging.getLogger(component or "gnsq").log(level, "%s", text)


def call_logged(logger, receiver, *args, **kwargs):
    """Calls a signal's send or a handle_* method for an event loop: an
    exception is logged and the loop goes on."""
    try:
        receiver(*args, **kwargs)
    except Exception:
        logger.exception("a receiver of a signal raised")


class Config:
    """A gnsq_config_t built from (key, value) pairs; values are the
    config's string forms (docs/config.md)."""

    def __init__(self, items):
        lib = _ffi.lib()
        ptr = ctypes.c_void_p()
        _ffi.check(lib.gnsq_config_new(ctypes.byref(ptr)))
        self.ptr = ptr
        try:
            for key, value in items:
                _ffi.check(lib.gnsq_config_set(ptr, key.encode(), value.encode()))
        except BaseException:
            self.free()
            raise

    def free(self):
        if self.ptr:
            _ffi.lib().gnsq_config_free(self.ptr)
            self.ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()


class Handle:
    """A live handle of one kind ("producer", "consumer", "tcp", "http"):
    its C functions bound once, its notify fd, and poll buffers."""

    def __init__(self, kind, ptr, max_events=256, buf_size=256 * 1024):
        lib = _ffi.lib()
        self.kind = kind
        self.ptr = ptr
        self._poll = getattr(lib, "gnsq_%s_poll" % kind)
        self._read_body = getattr(lib, "gnsq_%s_read_body" % kind, None)
        self._wakeup = getattr(lib, "gnsq_%s_wakeup" % kind)
        self._close = getattr(lib, "gnsq_%s_close" % kind)
        self._close_async = getattr(lib, "gnsq_%s_close_async" % kind)
        self._free = getattr(lib, "gnsq_%s_free" % kind)
        fd = ctypes.c_int()
        _ffi.check(getattr(lib, "gnsq_%s_notify_fd" % kind)(ctypes.byref(fd), ptr))
        self.fd = fd.value
        self._max = max_events
        self._events = ctypes.create_string_buffer(EVENT.size * max_events)
        self._buf = ctypes.create_string_buffer(buf_size)
        self._events_view = memoryview(self._events).cast("B")
        self._buf_view = memoryview(self._buf).cast("B")

    def poll(self, timeout_ms=0):
        """The queued events (waiting at most timeout_ms for the first), each
        a tuple (type, code, token, timestamp, value, data, attempts, conn,
        id); data is bytes. [] when none came. Raises the mapped error once
        the handle is closed and drained (GNSQ_E_CLOSED)."""
        n = self._poll(self.ptr, self._events, self._max, timeout_ms, self._buf, len(self._buf))
        if n <= 0:
            if n < 0:
                _ffi.check(n)
            return []
        buf = self._buf_view
        out = []
        for typ, code, token, ts, value, dlen, doff, attempts, flags, conn, mid in EVENT.iter_unpack(
                self._events_view[:n * EVENT.size]):
            if flags & EVF_HELD:
                data = self.read_body(token, dlen)
            else:
                data = buf[doff:doff + dlen].tobytes()
            out.append((typ, code, token, ts, value, data, attempts, conn, mid))
        return out

    def read_body(self, token, size):
        """A held body or answer (GNSQ_EVF_HELD, or a *held out-parameter)."""
        dst = ctypes.create_string_buffer(size)
        n = _ffi.check(self._read_body(self.ptr, token, dst, size))
        return dst.raw[:n]

    def wakeup(self):
        self._wakeup(self.ptr)

    def close(self, timeout_ms=-1):
        """Closes (idempotent); GNSQ_E_TIMEOUT is not an error here: the
        handle is closed anyway."""
        rc = self._close(self.ptr, timeout_ms)
        if rc < 0 and rc not in (_ffi.E_TIMEOUT, _ffi.E_CLOSED):
            _ffi.check(rc)

    def close_async(self, timeout_ms=-1):
        token = ctypes.c_uint64()
        _ffi.check(self._close_async(ctypes.byref(token), self.ptr, timeout_ms))
        return token.value

    def free(self):
        ptr, self.ptr = self.ptr, None
        if ptr:
            self._free(ptr)

    def __del__(self):
        try:
            self.free()
        except Exception:  # interpreter shutdown, or a forked child
            pass
