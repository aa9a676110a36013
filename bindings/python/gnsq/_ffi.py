"""The one place that declares libgnsq's C functions (include/gnsq.h).

The library is loaded lazily, on the first call that needs it, never at
import: a process that imports gnsq and then forks (gunicorn --preload,
multiprocessing's 'fork') stays able to use it in the children. A child
forked *after* the library was loaded cannot: libgnsq's Go runtime does not
survive fork(). The library then answers every call with GNSQ_E_FORKED; here
``lib()`` refuses even earlier, with ``errors.NSQLibraryForkedError``.

The library file is ``$GNSQ_LIBRARY`` if set, else the ``libgnsq.so.0``
bundled in this package (``_lib/``).
"""
import ctypes
import os
import threading
from ctypes import POINTER as _P
from ctypes import c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint32, c_uint64, c_void_p

from . import errors

__all__ = ["SIGNATURES", "lib", "library_path", "check", "error_for"]

# The GNSQ_E_* codes of include/gnsq.h.
E_INVALID_ARG = -1
E_INVALID_HANDLE = -2
E_CLOSED = -3
E_TIMEOUT = -4
E_NO_CONNECTIONS = -5
E_CONNECTION = -6
E_NSQ = -7
E_NSQ_NONFATAL = -8
E_PROTOCOL = -9
E_TLS = -10
E_AUTH = -11
E_HTTP = -12
E_NOT_RUNNING = -13
E_ALREADY_RESPONDED = -14
E_UNKNOWN_TOKEN = -15
E_IO = -17
E_INTERNAL = -18
E_IN_CALLBACK = -19
E_FORKED = -20
E_PENDING = -21
E_INTERRUPTED = -22

# name: (restype, argtypes). Handles, buffers and structs are c_void_p:
# the callers pass ctypes buffers, decoded with struct in bulk.
SIGNATURES = {
    "gnsq_version": (c_int, []),
    "gnsq_version_str": (c_char_p, []),
    "gnsq_strerror": (c_char_p, [c_int]),
    "gnsq_error_is_fatal": (c_int, [c_int]),
    "gnsq_error_is_retriable": (c_int, [c_int]),
    "gnsq_last_error": (c_int, [c_char_p, c_size_t]),
    "gnsq_config_new": (c_int, [_P(c_void_p)]),
    "gnsq_config_set": (c_int, [c_void_p, c_char_p, c_char_p]),
    "gnsq_config_get": (c_int, [c_char_p, c_size_t, c_void_p, c_char_p]),
    "gnsq_config_free": (c_int, [c_void_p]),
    "gnsq_producer_new": (c_int, [_P(c_void_p), _P(c_char_p), c_size_t, c_void_p]),
    "gnsq_producer_start": (c_int, [c_void_p]),
    "gnsq_producer_publish": (c_int, [c_void_p, c_char_p, c_void_p, c_size_t, c_int64, c_int]),
    "gnsq_producer_multipublish": (c_int, [c_void_p, c_char_p, c_void_p, c_void_p, c_size_t, c_int]),
    "gnsq_producer_publish_async": (c_int, [_P(c_uint64), c_void_p, c_char_p, c_void_p, c_size_t, c_int64, c_int]),
    "gnsq_producer_publish_bounded": (c_int, [_P(c_uint64), c_void_p, c_char_p, c_void_p, c_size_t, c_int64, c_int, c_int]),
    "gnsq_producer_multipublish_bounded": (c_int, [_P(c_uint64), c_void_p, c_char_p, c_void_p, c_void_p, c_size_t, c_int, c_int]),
    "gnsq_producer_multipublish_async": (c_int, [_P(c_uint64), c_void_p, c_char_p, c_void_p, c_void_p, c_size_t, c_int]),
    "gnsq_producer_publish_batch": (c_int, [_P(c_uint64), c_void_p, c_void_p, c_size_t]),
    "gnsq_producer_poll": (c_int, [c_void_p, c_void_p, c_int, c_int, c_void_p, c_size_t]),
    "gnsq_producer_set_callback": (c_int, [c_void_p, c_int, c_void_p, c_void_p]),
    "gnsq_producer_dispatch": (c_int, [c_void_p, c_int]),
    "gnsq_producer_run": (c_int, [c_void_p]),
    "gnsq_producer_wakeup": (c_int, [c_void_p]),
    "gnsq_producer_notify_fd": (c_int, [_P(c_int), c_void_p]),
    "gnsq_producer_close": (c_int, [c_void_p, c_int]),
    "gnsq_producer_close_async": (c_int, [_P(c_uint64), c_void_p, c_int]),
    "gnsq_producer_free": (c_int, [c_void_p]),
    "gnsq_consumer_new": (c_int, [_P(c_void_p), c_char_p, c_char_p, _P(c_char_p), c_size_t, _P(c_char_p), c_size_t, c_void_p]),
    "gnsq_consumer_start": (c_int, [c_void_p]),
    "gnsq_consumer_poll": (c_int, [c_void_p, c_void_p, c_int, c_int, c_void_p, c_size_t]),
    "gnsq_consumer_read_body": (c_int, [c_void_p, c_uint64, c_void_p, c_size_t]),
    "gnsq_consumer_respond": (c_int, [c_void_p, c_void_p, c_size_t, c_char_p, c_size_t]),
    "gnsq_consumer_set_event_mask": (c_int, [c_void_p, c_uint32]),
    "gnsq_producer_set_event_mask": (c_int, [c_void_p, c_uint32]),
    "gnsq_consumer_set_max_in_flight": (c_int, [c_void_p, c_int]),
    "gnsq_consumer_status": (c_int, [c_void_p, c_void_p]),
    "gnsq_consumer_connections": (c_int, [c_void_p, c_size_t, c_void_p]),
    "gnsq_consumer_connection": (c_int, [c_void_p, c_void_p, c_uint32]),
    "gnsq_consumer_connect_to_nsqd": (c_int, [c_void_p, c_char_p]),
    "gnsq_consumer_set_callback": (c_int, [c_void_p, c_int, c_void_p, c_void_p]),
    "gnsq_consumer_dispatch": (c_int, [c_void_p, c_int]),
    "gnsq_consumer_run": (c_int, [c_void_p]),
    "gnsq_consumer_wakeup": (c_int, [c_void_p]),
    "gnsq_consumer_notify_fd": (c_int, [_P(c_int), c_void_p]),
    "gnsq_consumer_close": (c_int, [c_void_p, c_int]),
    "gnsq_consumer_close_async": (c_int, [_P(c_uint64), c_void_p, c_int]),
    "gnsq_consumer_drain": (c_int, [c_void_p, c_int]),
    "gnsq_consumer_drain_async": (c_int, [_P(c_uint64), c_void_p, c_int]),
    "gnsq_consumer_free": (c_int, [c_void_p]),
    "gnsq_tcp_new": (c_int, [_P(c_void_p), c_char_p, c_void_p]),
    "gnsq_tcp_open": (c_int, [c_void_p]),
    "gnsq_tcp_open_async": (c_int, [_P(c_uint64), c_void_p]),
    "gnsq_tcp_identify": (c_int, [c_void_p, c_size_t, _P(c_uint64), c_void_p]),
    "gnsq_tcp_identify_async": (c_int, [_P(c_uint64), c_void_p]),
    "gnsq_tcp_auth": (c_int, [c_void_p, c_size_t, _P(c_uint64), c_void_p]),
    "gnsq_tcp_auth_async": (c_int, [_P(c_uint64), c_void_p]),
    "gnsq_tcp_read_response": (c_int, [_P(c_int32), c_void_p, c_size_t, _P(c_uint64), c_void_p, c_int]),
    "gnsq_tcp_read_response_async": (c_int, [_P(c_uint64), c_void_p, c_int]),
    "gnsq_tcp_listen": (c_int, [c_void_p]),
    "gnsq_tcp_connect": (c_int, [c_void_p, c_size_t, _P(c_uint64), c_void_p]),
    "gnsq_tcp_connect_async": (c_int, [_P(c_uint64), c_void_p]),
    "gnsq_tcp_subscribe": (c_int, [c_void_p, c_char_p, c_char_p]),
    "gnsq_tcp_publish": (c_int, [c_void_p, c_char_p, c_void_p, c_size_t, c_int64]),
    "gnsq_tcp_multipublish": (c_int, [c_void_p, c_char_p, _P(c_void_p), _P(c_size_t), c_size_t]),
    "gnsq_tcp_ready": (c_int, [c_void_p, c_int]),
    "gnsq_tcp_finish": (c_int, [c_void_p, c_void_p]),
    "gnsq_tcp_requeue": (c_int, [c_void_p, c_void_p, c_int64, c_int]),
    "gnsq_tcp_touch": (c_int, [c_void_p, c_void_p]),
    "gnsq_tcp_nop": (c_int, [c_void_p]),
    "gnsq_tcp_cls": (c_int, [c_void_p]),
    "gnsq_tcp_status": (c_int, [c_void_p, c_void_p]),
    "gnsq_tcp_poll": (c_int, [c_void_p, c_void_p, c_int, c_int, c_void_p, c_size_t]),
    "gnsq_tcp_read_body": (c_int, [c_void_p, c_uint64, c_void_p, c_size_t]),
    "gnsq_tcp_wakeup": (c_int, [c_void_p]),
    "gnsq_tcp_notify_fd": (c_int, [_P(c_int), c_void_p]),
    "gnsq_tcp_close": (c_int, [c_void_p, c_int]),
    "gnsq_tcp_close_async": (c_int, [_P(c_uint64), c_void_p, c_int]),
    "gnsq_tcp_free": (c_int, [c_void_p]),
    "gnsq_http_new": (c_int, [_P(c_void_p), c_int, c_char_p, c_void_p]),
    "gnsq_http_request": (c_int, [c_void_p, c_size_t, _P(c_int32), _P(c_uint64), c_void_p, c_void_p, c_int]),
    "gnsq_http_request_async": (c_int, [_P(c_uint64), c_void_p, c_void_p, c_int]),
    "gnsq_http_poll": (c_int, [c_void_p, c_void_p, c_int, c_int, c_void_p, c_size_t]),
    "gnsq_http_read_body": (c_int, [c_void_p, c_uint64, c_void_p, c_size_t]),
    "gnsq_http_wakeup": (c_int, [c_void_p]),
    "gnsq_http_notify_fd": (c_int, [_P(c_int), c_void_p]),
    "gnsq_http_close": (c_int, [c_void_p, c_int]),
    "gnsq_http_close_async": (c_int, [_P(c_uint64), c_void_p, c_int]),
    "gnsq_http_free": (c_int, [c_void_p]),
}

_lock = threading.Lock()
_lib = None
_loaded_pid = None


def library_path():
    """The file lib() loads."""
    return os.environ.get("GNSQ_LIBRARY") or os.path.join(os.path.dirname(__file__), "_lib", "libgnsq.so.0")


def lib():
    """libgnsq, loaded on first use with every function's signature set."""
    global _lib, _loaded_pid
    if _lib is not None:
        if _loaded_pid != os.getpid():
            raise errors.NSQLibraryForkedError(
                "libgnsq was loaded in process %d before it forked: its runtime does not survive fork(); "
                "use gnsq only after forking (gunicorn without --preload, multiprocessing 'spawn' or "
                "'forkserver')" % _loaded_pid
            )
        return _lib
    with _lock:
        if _lib is None:
            path = library_path()
            try:
                loaded = ctypes.CDLL(path)
            except OSError as e:
                raise errors.NSQException("cannot load libgnsq from %s: %s" % (path, e)) from e
            for name, (restype, argtypes) in SIGNATURES.items():
                fn = getattr(loaded, name)
                fn.restype, fn.argtypes = restype, argtypes
            _loaded_pid = os.getpid()
            _lib = loaded
    return lib()


def last_error():
    """The calling thread's last error detail (bytes)."""
    buf = ctypes.create_string_buffer(1024)
    n = lib().gnsq_last_error(buf, len(buf))
    if n >= len(buf):
        buf = ctypes.create_string_buffer(n + 1)
        lib().gnsq_last_error(buf, len(buf))
    return buf.value


def error_for(code, detail):
    """The gnsq exception for a GNSQ_E_* code and its detail (bytes): the
    one place that maps the library's errors to Python's."""
    text = detail.decode("utf-8", "replace")
    if code in (E_NSQ, E_NSQ_NONFATAL) or (code == E_AUTH and detail.startswith(b"E_")):
        return errors.make_error(detail)  # nsqd's own error: its E_* name starts the detail
    if code == E_INVALID_ARG:
        return ValueError(text)
    if code == E_NO_CONNECTIONS:
        return errors.NSQNoConnections(text)
    if code == E_HTTP:
        return errors.NSQHttpError(text)
    if code in (E_CONNECTION, E_TIMEOUT, E_IO, E_TLS):
        return errors.NSQSocketError(text)
    if code == E_PROTOCOL:
        return errors.NSQFrameError(text)
    if code == E_FORKED:
        return errors.NSQLibraryForkedError(text)
    return errors.NSQException(text)


def check(rc):
    """rc if it is a success (>= 0), else raises error_for(rc, last_error())."""
    if rc < 0:
        raise error_for(rc, last_error())
    return rc
