"""gnsq.aio.NsqdHTTPClient and LookupdClient: gnsq's HTTP clients whose
request methods are coroutines (same arguments, same answers: dicts for
JSON, bytes otherwise, NSQHttpError for a non-200 answer). Arguments are
checked when a method is called, before anything is sent."""
import ctypes
import json

from .. import _ffi, _handle, httpclient, lookupd
from .._nsqd_http import NsqdHTTPClient as _SyncNsqdHTTPClient
from ._watch import Watcher, loop_of

__all__ = ["NsqdHTTPClient", "LookupdClient"]


class _AsyncRequests:
    """Requests through gnsq_http_request_async, completed from the
    handle's HTTP_DONE events on the loop."""

    _loop = None
    _watcher = None

    async def _request(self, op, topic=None, channel=None, node=None, bodies=None, defer_ms=0):
        loop = loop_of(self)
        handle = self._open()
        if self._watcher is None:
            self._futures = {}  # token -> future of a request awaiting its HTTP_DONE event
            self._watcher = Watcher(loop, handle, self._on_events, self._on_closed)
        req = httpclient.new_request(op, topic, channel, node, bodies, defer_ms)
        token = ctypes.c_uint64()
        rc = _ffi.lib().gnsq_http_request_async(ctypes.byref(token), handle.ptr, ctypes.byref(req), -1)
        if rc < 0:
            raise self._error(rc, _ffi.last_error(), 0)
        future = self._futures[token.value] = loop.create_future()
        code, status, data = await future
        if code < 0:
            raise self._error(code, data, status)
        return json.loads(data) if op in httpclient.JSON_OPS else data

    def _on_events(self, events):
        for typ, code, token, _, value, data, _, _, _ in events:
            if typ == _handle.EV_HTTP_DONE:
                future = self._futures.pop(token, None)
                if future is not None and not future.done():  # done: its task was cancelled
                    future.set_result((code, value, data))
            elif typ == _handle.EV_LOG:
                _handle.log_record(data, value)

    def _on_closed(self):
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_result((_ffi.E_CLOSED, 0, b""))

    async def close(self):
        """Ends pending requests (they raise) and releases the library
        handle. Idempotent."""
        with self._lock:
            self._closed = True
            handle, self._handle = self._handle, None
        if self._watcher is None:
            if handle is not None:  # opened, never used on a loop
                handle.close()
            return
        if handle is not None:
            handle.close_async()
        await self._watcher.closed.wait()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def __enter__(self):
        raise TypeError("use async with")


class NsqdHTTPClient(_AsyncRequests, _SyncNsqdHTTPClient):
    """nsqd's HTTP API; every request method is a coroutine."""


class LookupdClient(_AsyncRequests, lookupd.LookupdClient):
    """nsqlookupd's HTTP API; every request method is a coroutine."""


