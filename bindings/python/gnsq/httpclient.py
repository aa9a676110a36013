"""gnsq's HTTPClient, the base of NsqdHTTPClient and LookupdClient, over
libgnsq's HTTP clients (gnsq_http_*).

The library handle is created on the first request (never at import or in
the constructor: a process may fork after creating clients). With threads a
request is one blocking library call (the GIL released). Under gevent it is
started with gnsq_http_request_async and its GNSQ_EV_HTTP_DONE event awaited
on the handle's notify fd, so other greenlets keep running; concurrent
callers share that fd: one of them at a time polls and hands the others
their answers (routed by token).
"""
import ctypes
import json
import threading
import urllib.parse
from ctypes import byref, c_char_p, c_int32, c_int64, c_size_t, c_uint64, c_void_p

from . import _ffi, _options, _wait
from ._handle import EV_HTTP_DONE, EV_LOG, Config, Handle, log_record
from .errors import NSQException
from .protocol import _encode, assert_valid_channel_name, assert_valid_topic_name
from .version import USERAGENT

__all__ = ["HTTPClient", "USERAGENT"]

# include/gnsq.h: client kinds and GNSQ_HTTP_* operations.
KIND_NSQD, KIND_LOOKUPD = 1, 2
(PING, INFO, STATS, STATS_TEXT, PUBLISH, MULTIPUBLISH, MULTIPUBLISH_BINARY, CREATE_TOPIC, DELETE_TOPIC,
 EMPTY_TOPIC, PAUSE_TOPIC, UNPAUSE_TOPIC, CREATE_CHANNEL, DELETE_CHANNEL, EMPTY_CHANNEL, PAUSE_CHANNEL,
 UNPAUSE_CHANNEL, LOOKUP, TOPICS, CHANNELS, NODES, TOMBSTONE_TOPIC) = range(1, 23)
JSON_OPS = frozenset((INFO, STATS, LOOKUP, TOPICS, CHANNELS, NODES))

# Answers up to this size come back in one call; larger ones are held by
# the library and read with gnsq_http_read_body.
BUFFER_SIZE = 64 * 1024


class _Request(ctypes.Structure):
    """gnsq_http_request_t."""

    _fields_ = [("op", c_int32), ("reserved", c_int32), ("topic", c_char_p), ("channel", c_char_p),
                ("node", c_char_p), ("bodies", c_void_p), ("lens", c_void_p), ("n", c_size_t),
                ("defer_ms", c_int64)]


def new_request(op, topic=None, channel=None, node=None, bodies=None, defer_ms=0):
    """A gnsq_http_request_t; it keeps what it points to referenced."""
    req = _Request(op=op, topic=_encode(topic) if topic else None, channel=_encode(channel) if channel else None,
                   node=_encode(node) if node else None, defer_ms=defer_ms)
    if bodies is not None:
        ptrs = (c_char_p * len(bodies))(*bodies)
        lens = (c_size_t * len(bodies))(*map(len, bodies))
        req.bodies, req.lens, req.n = ctypes.cast(ptrs, c_void_p), ctypes.cast(lens, c_void_p), len(bodies)
        req.keep = (ptrs, lens)
    return req


def body_bytes(data):
    """A message body as bytes; TypeError unless it is bytes-like."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("message body must be a byte string")
    return bytes(data)


def url_args(url, kwargs):
    """gnsq's from_url rules: 'http://h:p', 'h:p' or 'https://h' -> (host,
    port or None, kwargs with the https connection_class); path and query
    are dropped."""
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("invalid url %r" % url)
    if parts.scheme == "https":
        kwargs = dict(kwargs, connection_class=kwargs.get("connection_class") or "HTTPSConnectionPool")
    return parts.hostname, parts.port, kwargs


class HTTPClient:
    """gnsq's HTTP client base. connection_class only chooses the scheme
    (a name containing "HTTPS" means https); of urllib3's pool keywords only
    timeout (seconds per request) is taken."""

    _KIND = None
    _DEFAULT_PORT = None

    def __init__(self, host, port, useragent=USERAGENT, connection_class=None, **pool_kwargs):
        timeout = pool_kwargs.pop("timeout", None)
        for key in pool_kwargs:
            raise TypeError("%s() got an unexpected keyword argument %r" % (type(self).__name__, key))
        if timeout is not None and not float(timeout) > 0:
            raise ValueError("timeout must be > 0 seconds")
        name = connection_class if isinstance(connection_class, str) else getattr(connection_class, "__name__", "")
        self._scheme = "https" if "HTTPS" in name else "http"
        self._host = host
        self._port = int(port if port is not None else self._DEFAULT_PORT)
        self._config = _options.config_items({}, timeout=timeout, user_agent=useragent)
        self._lock = threading.Lock()
        self._handle = None
        self._closed = False
        self._runtime = None
        # Under gevent: token -> HTTP_DONE event not yet taken by its caller;
        # token -> Event of a caller sleeping while another one polls; tokens
        # whose callers gave up.
        self._polling = False
        self._done, self._sleepers, self._abandoned = {}, {}, set()

    @classmethod
    def from_url(cls, url, **kwargs):
        host, port, kwargs = url_args(url, kwargs)
        return cls(host, port, **kwargs)

    @property
    def scheme(self):
        return self._scheme

    @property
    def host(self):
        return self._host

    @property
    def port(self):
        return self._port

    @property
    def address(self):
        host = "[%s]" % self._host if ":" in self._host else self._host
        return "%s://%s:%d/" % (self._scheme, host, self._port)

    def __repr__(self):
        return "<%s %r>" % (type(self).__name__, self.address)

    def close(self):
        """Ends pending requests and releases the library handle (once the
        requests in progress return). Idempotent."""
        with self._lock:
            self._closed = True
            handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _closed_error(self):
        return NSQException("%r is closed" % self)

    def _open(self):
        """The library handle, created on first use."""
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self._handle is None:
                ptr = c_void_p()
                with Config(self._config) as cfg:
                    url = self.address.rstrip("/").encode()
                    _ffi.check(_ffi.lib().gnsq_http_new(byref(ptr), self._KIND, url, cfg.ptr))
                self._handle = Handle("http", ptr, max_events=64, buf_size=BUFFER_SIZE)
                self._runtime = _wait.current()
            return self._handle

    def _error(self, code, detail, status):
        if self._closed:
            return self._closed_error()
        if code == _ffi.E_HTTP:  # gnsq's 'http error <404>', plus nsqd's reason
            reason = detail.partition(b"http error %d" % status)[2].lstrip(b": ")
            detail = b"http error <%d>" % status + (b": " + reason if reason else b"")
        return _ffi.error_for(code, detail)

    def _request(self, op, topic=None, channel=None, node=None, bodies=None, defer_ms=0):
        """Performs op: the answer, parsed when the operation returns JSON."""
        handle = self._open()
        req = new_request(op, topic, channel, node, bodies, defer_ms)
        if self._runtime.green:
            data = self._request_green(handle, req)
        else:
            data = self._request_blocking(handle, req)
        return json.loads(data) if op in JSON_OPS else data

    def _request_blocking(self, handle, req):
        out, status, held = ctypes.create_string_buffer(BUFFER_SIZE), c_int32(), c_uint64()
        n = _ffi.lib().gnsq_http_request(out, BUFFER_SIZE, byref(status), byref(held), handle.ptr, byref(req), -1)
        if n < 0:
            raise self._error(n, _ffi.last_error(), status.value)
        return ctypes.string_at(out, n) if n <= BUFFER_SIZE else handle.read_body(held.value, n)

    def _request_green(self, handle, req):
        token = c_uint64()
        rc = _ffi.lib().gnsq_http_request_async(byref(token), handle.ptr, byref(req), -1)
        if rc < 0:
            raise self._error(rc, _ffi.last_error(), 0)
        _, code, _, _, status, data = self._await(handle, token.value)[:6]
        if code < 0:
            raise self._error(code, data, status)
        return data

    def _await(self, handle, token):
        """token's HTTP_DONE event. The caller holding the poller role waits
        on the fd and hands the others their events; it passes the role on
        when its own event came (or it gave up)."""
        try:
            while True:
                with self._lock:
                    event = self._done.pop(token, None)
                    if event is not None:
                        return event
                    poller = not self._polling
                    if poller:
                        self._polling = True
                    else:
                        wake = self._sleepers[token] = self._runtime.Event()
                if not poller:
                    wake.wait()
                    continue
                try:
                    self._poll_until(handle, token)
                finally:
                    with self._lock:
                        self._polling = False
                        self._hand_off()
        except BaseException:  # e.g. a gevent.Timeout: its event is dropped when it comes
            with self._lock:
                self._sleepers.pop(token, None)
                if self._done.pop(token, None) is None:
                    self._abandoned.add(token)
                self._hand_off()
            raise

    def _hand_off(self):
        """Wakes a sleeping caller to take the poller role (lock held)."""
        if not self._polling and self._sleepers:
            self._sleepers.popitem()[1].set()

    def _poll_until(self, handle, token):
        """Polls first, then waits on the fd: events a previous poller left
        queued (it stops once its own came) are taken before waiting."""
        while token not in self._done:
            events = handle.poll(0)
            if not events:
                self._runtime.wait_readable(handle.fd)
                _wait.drain(handle.fd)
            for event in events:
                if event[0] == EV_LOG:
                    log_record(event[5], event[4])
                elif event[0] == EV_HTTP_DONE:
                    with self._lock:
                        if event[2] in self._abandoned:
                            self._abandoned.discard(event[2])
                            continue
                        self._done[event[2]] = event
                        wake = self._sleepers.pop(event[2], None)
                    if wake is not None:
                        wake.set()

    def _topic_op(self, op, topic):
        assert_valid_topic_name(topic)
        return self._request(op, topic=topic)

    def _channel_op(self, op, topic, channel):
        assert_valid_topic_name(topic)
        assert_valid_channel_name(channel)
        return self._request(op, topic=topic, channel=channel)
