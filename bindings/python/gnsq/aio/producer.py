"""gnsq.aio.Producer: gnsq's Producer for asyncio.

A publish is sent on the loop thread without blocking it: the library waits
up to BOUND_US for nsqd's answer (a local nsqd answers within that, so such
a publish costs no loop turn); a later answer arrives as a PUBLISHED event
on the notify fd and completes the publish's future. While other publishes
await their answers a new one does not wait at all: nsqd answers in order.
"""
import asyncio
import ctypes

from .. import _ffi, _handle, protocol
from ..errors import NSQException
from ..producer import CLOSED, INIT, RUNNING, ProducerBase, multipublish_args, outcome_error, publish_args
from ._watch import Watcher, loop_of

__all__ = ["Producer"]

BOUND_US = 100
# The longest pause between attempts while no nsqd is connected (s).
RETRY_MAX = 0.05


class Producer(ProducerBase):
    """gnsq.Producer's constructor, keywords and signals; start, publish,
    multipublish, close and join are coroutines. ``async with`` starts and
    closes it."""

    def __init__(self, nsqd_tcp_addresses=[], max_backoff_duration=128, **kwargs):
        super().__init__(nsqd_tcp_addresses, max_backoff_duration, **kwargs)
        self._loop = None
        self._watcher = None
        self._futures = {}  # token -> future of a publish awaiting its PUBLISHED event
        self._connected = None  # set on each CONNECTED event
        self._turn_task = None  # the task that published first in this loop turn

    def __repr__(self):
        return "<gnsq.aio.Producer %s %s>" % (",".join(sorted(self.nsqd_tcp_addresses)), self._state)

    async def start(self):
        """Connects to every nsqd; returns after each first attempt (on a
        worker thread); failures are logged and retried."""
        if self._state == CLOSED:
            raise NSQException("producer already closed")
        if self._state == RUNNING:
            self.logger.warning("producer already started")
            return
        loop = loop_of(self)
        self._new_handle()
        self._connected = asyncio.Event()
        self._watcher = Watcher(loop, self._handle, self._on_events, self._on_closed)
        self._state = RUNNING
        rc = await loop.run_in_executor(None, _ffi.lib().gnsq_producer_start, self._handle.ptr)
        if rc < 0:
            error = _ffi.error_for(rc, b"")
            await self.close()
            raise error

    async def close(self):
        """Closes the connections; publishes still awaiting an answer raise
        NSQException('connection closed'). Returns once closed."""
        if self._state == INIT:
            return
        if self._state == RUNNING:
            self._state = CLOSED
            self._handle.close_async()
            await self._watcher.closed.wait()
            self.on_close.send(self)
        else:
            await self._watcher.closed.wait()

    async def join(self):
        """Waits until the producer is closed."""
        if self._watcher is not None:
            await self._watcher.closed.wait()

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def publish(self, topic, data, defer=None, timeout=None):
        """Publishes data to topic (DPUB when defer, in ms); returns b'OK' or
        raises nsqd's error. timeout (s, None: no limit) bounds the wait for
        a connection. Cancelling the awaiting task does not unsend it."""
        self._check_running()
        body, defer_ms, refusal = publish_args(topic, data, defer)
        if refusal is not None:
            raise refusal
        lib, ptr, topic_b = _ffi.lib(), self._handle.ptr, topic.encode()
        return await self._send(lambda token, wait_us: lib.gnsq_producer_publish_bounded(
            ctypes.byref(token), ptr, topic_b, body, len(body), defer_ms, wait_us, 0), timeout)

    async def multipublish(self, topic, messages, timeout=None):
        """Publishes an iterable of bodies to topic in one MPUB."""
        self._check_running()
        joined, ptrs, lens, n, refusal = multipublish_args(topic, messages)
        if refusal is not None:
            raise refusal
        lib, ptr, topic_b = _ffi.lib(), self._handle.ptr, topic.encode()
        return await self._send(lambda token, wait_us: lib.gnsq_producer_multipublish_bounded(
            ctypes.byref(token), ptr, topic_b, ptrs.buffer_info()[0], lens.buffer_info()[0], n, wait_us, 0), timeout)

    def _check_running(self):
        if self._state != RUNNING:
            raise NSQException("producer not running")
        loop_of(self)
        self._set_mask()

    async def _send(self, call, timeout):
        """Runs call(token, wait_us), a publish that does not wait for a
        connection, until one is there (or timeout), and returns its
        outcome: at once, or from its PUBLISHED event."""
        loop = self._loop
        deadline = None if timeout is None else loop.time() + timeout
        pause = 0.001
        token = ctypes.c_uint64()
        while True:
            self._connected.clear()
            rc = call(token, self._wait_us())
            if rc == _ffi.E_PENDING:
                future = self._futures[token.value] = loop.create_future()
                rc, detail = await future
            else:
                detail = _ffi.last_error() if rc < 0 else b""
            if rc == 0:
                return protocol.OK
            if rc != _ffi.E_NO_CONNECTIONS:
                raise outcome_error(rc, detail)
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise outcome_error(rc, detail)
            try:
                await asyncio.wait_for(self._connected.wait(), pause if remaining is None else min(pause, remaining))
            except asyncio.TimeoutError:
                pause = min(pause * 2, RETRY_MAX)
            self._check_running()

    def _wait_us(self):
        """How long this publish may wait for nsqd's answer: BOUND_US, unless
        others are in flight or another task published in this loop turn
        (concurrent publishes: the answer comes after theirs, so each one is
        sent without waiting and all answers come in one batch)."""
        if self._futures:
            return 0
        task = asyncio.current_task()
        if self._turn_task is None:
            self._turn_task = task
            self._loop.call_soon(self._new_turn)
            return BOUND_US
        return BOUND_US if self._turn_task is task else 0

    def _new_turn(self):
        self._turn_task = None

    def _on_events(self, events):
        self._set_mask()
        for typ, code, token, _, value, data, _, conn, _ in events:
            if typ == _handle.EV_PUBLISHED:
                future = self._futures.pop(token, None)
                if future is not None and not future.done():  # done: its task was cancelled
                    future.set_result((code, data))
            elif typ == _handle.EV_CONNECTED:
                self._connected.set()
            else:
                self._signal_event(typ, code, value, data, conn)

    def _on_closed(self):
        self._state = CLOSED
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_result((_ffi.E_CLOSED, b""))
