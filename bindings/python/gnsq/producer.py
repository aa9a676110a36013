"""gnsq.Producer over libgnsq.

Connections, reconnects with backoff and the matching of nsqd's answers to
publishes run in the library. On a thread other than the main one, a
blocking publish is one call that sleeps in the library (the GIL released).
On the main thread (where Ctrl-C must interrupt it) and under gevent, a
publish waits a bounded time in the library for nsqd's answer
(gnsq_producer_publish_bounded: 200 ms, or 100 us under gevent) and
otherwise gets its outcome from the producer's event loop (a thread or
greenlet), which also sends the signals; raise_error=False does not wait at
all (gnsq_producer_publish_async).
"""
import array
import ctypes
import itertools
import json
import logging
import threading
import time

import blinker

from . import _ffi, _handle, _options, _wait, errors, protocol
from .errors import NSQException, NSQNoConnections
from .util import parse_nsqds

__all__ = ["Producer"]

INIT, RUNNING, CLOSED = "init", "running", "closed"
GREEN_WAIT_US = 100
THREAD_WAIT_US = 200000
YIELD_EVERY = 32
_MAIN_THREAD = threading.main_thread()


def _timeout_ms(block, timeout):
    """gnsq's block/timeout (the wait for a connection) in the library's ms."""
    if not block:
        return 0
    if timeout is None or timeout < 0:
        return -1
    return max(int(timeout * 1000), 1)


def _pending(rc):
    """An async publish's success means its outcome comes as an event."""
    return _ffi.E_PENDING if rc == 0 else rc


def _bodies(messages):
    """(joined, ptrs, lens, n): the bodies in one bytes object, and arrays
    of each one's address in it and length, for the C bodies/lens
    parameters (joined must stay referenced during the call)."""
    bodies = [m if type(m) is bytes else _body(m) for m in messages]
    joined = b"".join(bodies)
    lens = array.array("Q", map(len, bodies))
    ptrs = array.array("Q", itertools.accumulate(lens, initial=ctypes.cast(joined, ctypes.c_void_p).value))
    return joined, ptrs, lens, len(bodies)


def _body(data):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("message body must be a byte string")
    return bytes(data)


def publish_args(topic, data, defer):
    """(body, defer_ms, refusal) of a publish: refusal is nsqd's answer (an
    NSQErrorCode) to arguments it refuses, given here without sending: gnsq
    sent them, and nsqd refused them the same way but also closed the
    connection under every other publish queued on it."""
    protocol.assert_valid_topic_name(topic)
    body = _body(data)
    defer_ms = int(defer) if defer is not None else 0
    if defer_ms < 0:
        return body, defer_ms, errors.NSQInvalid(b"DPUB could not parse timeout %d" % defer_ms)
    if not body:
        return body, defer_ms, errors.NSQBadMessage(b"%s invalid message body size 0" % (
            protocol.DPUB if defer_ms else protocol.PUB))
    return body, defer_ms, None


def multipublish_args(topic, messages):
    """(joined, ptrs, lens, n, refusal) of an MPUB (see _bodies and
    publish_args)."""
    protocol.assert_valid_topic_name(topic)
    joined, ptrs, lens, n = _bodies(messages)
    if not n:
        return joined, ptrs, lens, n, errors.NSQBadBody(b"MPUB invalid message count 0")
    if 0 in lens:
        return joined, ptrs, lens, n, errors.NSQBadMessage(b"MPUB invalid message(%d) body size 0" % lens.index(0))
    return joined, ptrs, lens, n, None


def outcome_error(code, data):
    """The exception of a PUBLISHED event's outcome, None for success."""
    if code == 0:
        return None
    if code == _ffi.E_CLOSED:
        return NSQException("connection closed")
    return _ffi.error_for(code, data)


class ProducerBase:
    """What gnsq.Producer and gnsq.aio.Producer share: gnsq's constructor,
    signals, the library handle and the events that only send signals."""

    def __init__(self, nsqd_tcp_addresses=[], max_backoff_duration=128, **kwargs):
        if not nsqd_tcp_addresses:
            raise ValueError("must specify at least one nsqd or lookupd")
        self.nsqd_tcp_addresses = parse_nsqds(nsqd_tcp_addresses)
        self.max_backoff_duration = max_backoff_duration
        _options.check_tcp_kwargs(type(self).__name__, kwargs)
        self.conn_kwargs = kwargs
        self.logger = logging.getLogger("gnsq.producer")

        self.on_response = blinker.Signal(doc="Emitted when a response is received (response=).")
        self.on_error = blinker.Signal(doc="Emitted when an error is received (error=).")
        self.on_auth = blinker.Signal(doc="Emitted after a connection authenticated (conn=, response=).")
        self.on_close = blinker.Signal(doc="Emitted after close().")

        self._state = INIT
        self._handle = None
        self._response_events = False

    @property
    def is_running(self):
        return self._state == RUNNING

    def _new_handle(self):
        """Creates the library's producer (not started) as self._handle."""
        addrs = [a.encode() for a in sorted(self.nsqd_tcp_addresses)]
        ptr = ctypes.c_void_p()
        items = _options.config_items(self.conn_kwargs, max_backoff_duration=self.max_backoff_duration,
                                      log_level=_handle.log_level_for(self.logger))
        with _handle.Config(items) as cfg:
            _ffi.check(_ffi.lib().gnsq_producer_new(ctypes.byref(ptr), (ctypes.c_char_p * len(addrs))(*addrs),
                                                    len(addrs), cfg.ptr))
        self._handle = _handle.Handle("producer", ptr, max_events=128, buf_size=64 * 1024)
        self._set_mask()

    def _set_mask(self):
        """RESPONSE events (one per publish) only while someone listens."""
        wanted = bool(self.on_response.receivers)
        if wanted != self._response_events:
            self._response_events = wanted
            mask = 0xFFFFFFFF if wanted else 0xFFFFFFFF & ~(1 << _handle.EV_RESPONSE)
            _ffi.lib().gnsq_producer_set_event_mask(self._handle.ptr, mask)

    def _signal_event(self, typ, code, value, data, conn):
        """Sends the signal of a RESPONSE, ERROR or AUTH event, or logs a LOG
        event; other events are the caller's."""
        if typ == _handle.EV_RESPONSE:
            _handle.call_logged(self.logger, self.on_response.send, self, response=data)
        elif typ == _handle.EV_ERROR:
            _handle.call_logged(self.logger, self.on_error.send, self, error=_ffi.error_for(code, data))
        elif typ == _handle.EV_AUTH:
            # conn: the library's connection id (the producer has no connection objects)
            _handle.call_logged(self.logger, self.on_auth.send, self, conn=conn, response=json.loads(data))
        elif typ == _handle.EV_LOG:
            _handle.log_record(data, value)


class Producer(ProducerBase):
    """gnsq's high-level producer; same signature, defaults and signals."""

    def __init__(self, nsqd_tcp_addresses=[], max_backoff_duration=128, **kwargs):
        super().__init__(nsqd_tcp_addresses, max_backoff_duration, **kwargs)
        self._runtime = _wait.current()
        self._worker = None
        self._results = {}  # token -> result of a publish left to the loop
        self._early = {}  # token -> (code, data) the loop saw before its publisher registered
        self._lock = self._runtime.RLock()
        self._calls = 0

    def start(self):
        """Connects to every nsqd (failures are logged and retried)."""
        if self._state == CLOSED:
            raise NSQException("producer already closed")
        if self._state == RUNNING:
            self.logger.warning("producer already started")
            return
        self._new_handle()
        try:
            _ffi.check(_ffi.lib().gnsq_producer_start(self._handle.ptr))
        except BaseException:
            self._handle.free()
            raise
        self._state = RUNNING
        self._worker = self._runtime.spawn(self._loop)

    def close(self):
        """Closes the connections; publishes still waiting fail with
        NSQException('connection closed')."""
        if self._state != RUNNING:
            return  # not started (gnsq: a no-op) or already closed
        self._state = CLOSED
        self._handle.close()
        self.on_close.send(self)

    def join(self, timeout=None, raise_error=False):
        """Waits until the producer's event loop has ended (after close)."""
        if self._worker is not None:
            self._runtime.join(self._worker, timeout)

    def publish(self, topic, data, defer=None, block=True, timeout=None, raise_error=True):
        """Publishes data to topic (DPUB when defer, in ms). Returns b'OK',
        or with raise_error=False a result to get() it from."""
        self._check_running()
        body, defer_ms, refusal = publish_args(topic, data, defer)
        if refusal is not None:
            return self._refused(refusal, raise_error)
        wait_ms = _timeout_ms(block, timeout)
        lib = _ffi.lib()
        if raise_error and wait_ms < 0 and not self._waits_here():
            _ffi.check(lib.gnsq_producer_publish(self._handle.ptr, topic.encode(), body, len(body), defer_ms, -1))
            return protocol.OK
        token = ctypes.c_uint64()
        if raise_error:
            return self._submit(lambda ms: lib.gnsq_producer_publish_bounded(
                ctypes.byref(token), self._handle.ptr, topic.encode(), body, len(body), defer_ms, self._bound_us(),
                ms), wait_ms, token, True)
        return self._submit(lambda ms: _pending(lib.gnsq_producer_publish_async(
            ctypes.byref(token), self._handle.ptr, topic.encode(), body, len(body), defer_ms, ms)), wait_ms, token,
            False)

    def multipublish(self, topic, messages, block=True, timeout=None, raise_error=True):
        """Publishes an iterable of bodies to topic in one MPUB."""
        self._check_running()
        joined, ptrs, lens, n, refusal = multipublish_args(topic, messages)
        if refusal is not None:
            return self._refused(refusal, raise_error)
        wait_ms = _timeout_ms(block, timeout)
        lib = _ffi.lib()
        if raise_error and wait_ms < 0 and not self._waits_here():
            _ffi.check(lib.gnsq_producer_multipublish(self._handle.ptr, topic.encode(), ptrs.buffer_info()[0],
                                                      lens.buffer_info()[0], n, -1))
            return protocol.OK
        token = ctypes.c_uint64()
        if raise_error:
            return self._submit(lambda ms: lib.gnsq_producer_multipublish_bounded(
                ctypes.byref(token), self._handle.ptr, topic.encode(), ptrs.buffer_info()[0], lens.buffer_info()[0],
                n, self._bound_us(), ms), wait_ms, token, True)
        return self._submit(lambda ms: _pending(lib.gnsq_producer_multipublish_async(
            ctypes.byref(token), self._handle.ptr, topic.encode(), ptrs.buffer_info()[0], lens.buffer_info()[0], n,
            ms)), wait_ms, token, False)

    # ---- helpers --------------------------------------------------------

    def _check_running(self):
        if self._state != RUNNING:
            raise NSQException("producer not running")
        self._set_mask()
        if self._runtime.green:
            # a publish answered within the bounded wait never yields: let
            # the other greenlets run every few dozen publishes
            self._calls += 1
            if self._calls % YIELD_EVERY == 0:
                self._runtime.cooperate()

    def _refused(self, error, raise_error):
        """Raises or returns (as a result) the refusal of publish_args."""
        if raise_error:
            raise error
        result = self._runtime.AsyncResult()
        result.set_exception(error)
        return result

    def _bound_us(self):
        """How long a blocking publish waits inside the library for nsqd's
        answer before leaving it to the event loop: under gevent about a
        local round trip (the hub must not block); on a thread long enough
        for nsqd to answer, short enough for Ctrl-C to be felt."""
        return GREEN_WAIT_US if self._runtime.green else THREAD_WAIT_US

    def _waits_here(self):
        """Whether a publish must wait here rather than inside the library:
        under gevent (the hub must run) and on the main thread (a signal
        handler, Ctrl-C, runs only between library calls)."""
        return self._runtime.green or threading.current_thread() is _MAIN_THREAD

    def _submit(self, call, wait_ms, token, wait):
        """Runs call(ms) (a publish waiting at most ms for a connection) and
        returns its outcome (wait) or its result. Where the wait must happen
        here (_waits_here), the library is asked not to wait, and the
        waiting for a connection happens here, sleeping cooperatively and
        interruptibly (NSQNoConnections may come at once or as the outcome)."""
        if wait_ms == 0 or not self._waits_here():
            result = self._result(call(wait_ms), token.value)
            return result.get() if wait else result
        deadline = None if wait_ms < 0 else time.monotonic() + wait_ms / 1000.0
        pause = 0.001
        while True:
            result = self._result(call(0), token.value)
            expired = deadline is not None and time.monotonic() >= deadline
            if wait:
                try:
                    return result.get()
                except NSQNoConnections:
                    if expired:
                        raise
            elif expired or not (result.ready() and isinstance(result.exception, NSQNoConnections)):
                return result
            self._runtime.sleep(pause if deadline is None else min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 0.05)
            self._check_running()

    def _result(self, rc, token):
        """A result for a publish's return code; a pending one is completed
        by the loop (which may have seen its outcome already)."""
        result = self._runtime.AsyncResult()
        if rc == _ffi.E_PENDING:
            with self._lock:
                outcome = self._early.pop(token, None)
                if outcome is None:
                    self._results[token] = result
            if outcome is not None:
                self._complete(result, *outcome)
        elif rc < 0:
            result.set_exception(_ffi.error_for(rc, _ffi.last_error()))
        else:
            result.set(protocol.OK)
        return result

    @staticmethod
    def _complete(result, code, data):
        error = outcome_error(code, data)
        if error is None:
            result.set(protocol.OK)
        else:
            result.set_exception(error)

    def _loop(self):
        """Delivers publish outcomes and signals until the producer is closed."""
        runtime, handle = self._runtime, self._handle
        try:
            while True:
                try:
                    events = handle.poll(0)
                except NSQException:
                    break  # closed, and everything before CLOSED delivered
                if not events:
                    if runtime.wait_readable(handle.fd):
                        _wait.drain(handle.fd)
                    continue
                self._set_mask()
                for typ, code, token, _, value, data, _, conn, _ in events:
                    if typ == _handle.EV_PUBLISHED:
                        with self._lock:
                            result = self._results.pop(token, None)
                            if result is None:
                                self._early[token] = (code, data)
                        if result is not None:
                            self._complete(result, code, data)
                    else:
                        self._signal_event(typ, code, value, data, conn)
        finally:
            # normally after CLOSED; if the loop failed, no outcome can come
            # any more: fail what waits, so no publish hangs
            self._state = CLOSED
            with self._lock:
                waiting, self._results = self._results, {}
            for result in waiting.values():
                result.set_exception(NSQException("connection closed"))
            handle.free()
