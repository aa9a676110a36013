"""gnsq.aio.Consumer: gnsq's Consumer for asyncio.

One task per consumer polls the library's events in batches (woken through
the notify fd by loop.add_reader) and runs the handlers. A plain handler
runs inline; an ``async def`` handler's coroutine is awaited before the
next message (max_concurrency 1: in order) or runs as one of up to
max_concurrency tasks. gnsq's rules decide the answer (a return finishes,
NSQRequeueMessage and other exceptions requeue); giving up, backoff and RDY
are the library's. Answers go to the library in batches: at the end of
each batch of events, and once per loop turn for those given by tasks.
"""
import asyncio
import ctypes
import inspect
import threading
import types

from .. import _ffi, _handle, _wait
from ..consumer import CLOSE_WAIT, CLOSED, INIT, RESP_FINISH, RESP_REQUEUE, RESP_TOUCH, RUNNING, ConsumerBase
from ..errors import NSQException
from ..message import Message
from ._watch import loop_of

__all__ = ["Consumer"]


class Consumer(ConsumerBase):
    """gnsq.Consumer's constructor, keywords and signals, plus
    max_concurrency (how many async handlers run at once; 1: one message
    after the other). on_message receivers may be plain functions or
    ``async def``. start, close and join are coroutines; ``async for
    message in consumer`` is the alternative to receivers; ``async with``
    starts it and closes it."""

    def __init__(self, topic, channel, nsqd_tcp_addresses=[], lookupd_http_addresses=[], name=None,
                 message_handler=None, max_tries=5, max_in_flight=1, requeue_delay=0, lookupd_poll_interval=60,
                 lookupd_poll_jitter=0.3, low_ready_idle_timeout=10, max_backoff_duration=128,
                 backoff_on_requeue=True, max_concurrency=1, **kwargs):
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError("max_concurrency must be an int >= 1")
        super().__init__(topic, channel, nsqd_tcp_addresses, lookupd_http_addresses, name, message_handler,
                         max_tries, max_in_flight, requeue_delay, lookupd_poll_interval, lookupd_poll_jitter,
                         low_ready_idle_timeout, max_backoff_duration, backoff_on_requeue, **kwargs)
        self.max_concurrency = max_concurrency
        self._loop = None
        self._thread = None  # the loop's thread: answers from other threads go at once
        self._task = None  # the task polling and dispatching
        self._tasks = {}  # handler task -> (message, awaitable) (max_concurrency > 1)
        self._slot_freed = None  # a future the task awaits while max_concurrency handlers run
        self._wake = None  # set when the notify fd is readable
        self._done = None  # set when closed and the task ended
        self._started = None  # set when the library's start returned
        self._queue = None  # messages for async for (None: handlers)
        self._iterated = None  # the message async for gave last, until answered
        self._iterating = None  # the task running async for
        self._flush_scheduled = False
        self._inline = None  # the message whose async handler the task awaits (max_concurrency 1)
        self._inline_cancelled = False  # close() cancelled that handler
        self._unanswered = {}  # token -> message made async and not answered yet

    def __repr__(self):
        return "<gnsq.aio.Consumer %s/%s %s>" % (self.topic, self.channel, self._state)

    # ---- public API -----------------------------------------------------

    async def start(self, block=True):
        """Connects and starts handling messages. block=True returns after
        close() (cancelling it closes the consumer); block=False returns
        once the first connection attempts are done. Without on_message
        receivers the consumer is to be iterated (async for)."""
        if self._state != INIT:
            self.logger.warning("consumer already started")
            if block:
                await self.join()
            return
        if self.on_message.receivers:
            if self._queue is not None:
                raise RuntimeError("a consumer iterated with async for takes no on_message receivers")
        elif block:
            raise RuntimeError("no receivers connected to on_message (or iterate the consumer with async for)")
        elif self._queue is None:
            self._queue = asyncio.Queue()  # to be iterated
        loop = loop_of(self)
        self._thread = threading.get_ident()
        self._wake, self._done, self._started = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._new_handle()
        self._state = RUNNING
        loop.add_reader(self._handle.fd, self._readable)
        self._task = loop.create_task(self._run())
        try:
            # waits for each nsqd's first connection attempt and the first lookup
            try:
                rc = await loop.run_in_executor(None, _ffi.lib().gnsq_consumer_start, self._handle.ptr)
            finally:
                self._started.set()
            if rc < 0:
                raise _ffi.error_for(rc, b"")
            if block:
                await self.join()
        except BaseException:  # a failed start, or the task awaiting start() was cancelled
            await asyncio.shield(self.close())
            raise

    async def close(self, drain=False, timeout=None):
        """Stops. drain=False: no handler starts any more, running async
        handlers are cancelled (their messages requeued), what was received
        and not handled is requeued, the answers given reach nsqd.
        drain=True: nsqd is told to send nothing more, the handlers still
        get every message received, then the consumer closes; after
        timeout (s, None: no limit) it goes on as drain=False. Either way
        nothing is lost. Returns once closed, except when called from
        a handler (it closes when the handler returns) or, for a drain,
        from the task iterating the consumer (the iteration ends when the
        drain is done)."""
        if self._state == INIT:
            return
        if self._state == RUNNING and not self._draining:
            self._draining = True
            # The library drains in both cases (CLS, then every message it
            # handed out must be answered); without drain=True what it hands
            # out is requeued at once. Its timeout is a backstop for
            # handlers that ignore cancellation: they are abandoned then.
            ms = -1 if drain and timeout is None else int(((timeout or 0) + CLOSE_WAIT) * 1000)
            token = ctypes.c_uint64()
            _ffi.check(_ffi.lib().gnsq_consumer_drain_async(ctypes.byref(token), self._handle.ptr, ms))
        if not drain:
            self._give_back_all()
        if self._inside(drain):
            return
        if drain:
            try:
                await asyncio.wait_for(asyncio.shield(self._done.wait()), timeout)
                return
            except asyncio.TimeoutError:
                self._give_back_all()
        try:
            await asyncio.wait_for(asyncio.shield(self._done.wait()), CLOSE_WAIT)
        except asyncio.TimeoutError:
            self.logger.warning("a handler ignored its cancellation for %ss; closing anyway", CLOSE_WAIT)
            self._task.cancel()
            await self._done.wait()

    async def join(self):
        """Waits until the consumer is closed; raises what ended its task
        if that was an error."""
        if self._done is None:
            return
        await self._done.wait()
        if self._task.done() and not self._task.cancelled() and self._task.exception() is not None:
            raise self._task.exception()

    async def __aenter__(self):
        await self.start(block=False)
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def __aiter__(self):
        if self.on_message.receivers:
            raise RuntimeError("a consumer with on_message receivers cannot be iterated")
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self

    async def __anext__(self):
        """The next message. The previous one, unless answered (or made
        async with enable_async), is finished now. Iteration ends when the
        consumer is closed; close() requeues what was not answered."""
        if self._state == INIT:
            await self.start(block=False)
        self._iterating = asyncio.current_task()
        self._answer_iterated()
        message = await self._queue.get()
        if message is None:
            self._queue.put_nowait(None)  # for any other iterator
            raise StopAsyncIteration
        self._iterated = message
        return message

    def handle_message(self, conn, message):
        """Calls on_message's receivers; returns what the async ones left
        to await (None when there is nothing). Overridable, also with an
        ``async def``."""
        awaitables = []
        for receiver in self.on_message.receivers_for(self):
            result = receiver(self, message=message)
            if inspect.isawaitable(result):
                awaitables.append(result)
        return _joined(awaitables)

    # ---- the loop -------------------------------------------------------

    def _inside(self, drain):
        """Whether the caller runs where waiting for the close would wait
        for itself: in this consumer's task or one of its handler tasks, or
        (for a drain, which needs the iteration to go on) in the task
        iterating it with async for."""
        current = asyncio.current_task()
        return current is not None and (current is self._task or current in self._tasks or
                                        (drain and current is self._iterating))

    def _give_back_all(self):
        """Stops handling (close without drain, or a drain timed out): the
        handlers running are cancelled and requeue their messages, the
        messages waiting for async for are requeued, and so is every
        message still coming from the library (_dispatch)."""
        if self._state != RUNNING:
            return
        self._state = CLOSED
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        if self._inline is not None and current is not self._task:
            self._inline_cancelled = True
            self._task.cancel()
        self._give_back()
        self._schedule_flush()

    def _readable(self):
        _wait.drain(self._handle.fd)
        self._wake.set()

    async def _run(self):
        handle = self._handle
        try:
            # events only once start is done, as with the sync Consumer: the
            # connections are then known (an AUTH event's conn has its address)
            await self._started.wait()
            while True:
                self._wake.clear()
                try:
                    events = handle.poll(0)
                except NSQException:
                    break  # closed, and every event before CLOSED handled
                if not events:
                    await self._wake.wait()
                    continue
                await self._dispatch(events)
                await asyncio.sleep(0)  # other tasks run between batches
        except BaseException:  # cancelled (close timed out), or a handler's KeyboardInterrupt/SystemExit
            self._state = CLOSED
            if not self._handle_closed:
                self._stop_intake()
                self._handle_closed = True
                handle.close()
                _handle.call_logged(self.logger, self.on_close.send, self)
            raise
        finally:
            self._loop.remove_reader(handle.fd)
            for task in self._tasks:
                task.cancel()
            handle.free()
            if self._queue is not None:
                self._queue.put_nowait(None)
            self._done.set()

    async def _dispatch(self, events):
        self._update_mask()
        queue = self._queue
        receivers = (list(self.on_message.receivers_for(self))
                     if queue is None and type(self).handle_message is Consumer.handle_message else None)
        for index, (typ, code, token, ts, value, data, attempts, conn, mid) in enumerate(events):
            if typ == _handle.EV_MESSAGE:
                if self._state != RUNNING:
                    self._answer(token, RESP_REQUEUE)  # not handled: back to nsqd at once
                    continue
                message = Message(ts, attempts, mid, data)
                message._owner, message._token = self, token
                if queue is not None:
                    queue.put_nowait(message)
                    continue
                try:
                    if len(self._tasks) >= self.max_concurrency:  # max_concurrency > 1: wait for a free slot
                        self._schedule_flush()
                        while len(self._tasks) >= self.max_concurrency:
                            self._slot_freed = self._loop.create_future()
                            await self._slot_freed
                        if self._state != RUNNING:  # closed meanwhile: back to nsqd
                            self._requeue_messages(events[index:index + 1])
                            continue
                    pending = self._call_handlers(message, receivers, conn)
                    if pending is not None:
                        # the answers given so far go out as soon as a handler
                        # really awaits (the loop turns), not held behind it
                        self._schedule_flush()
                        await self._start_async(message, pending)
                except BaseException:  # a cancellation, KeyboardInterrupt: give back what is left
                    self._requeue_messages(events[index + 1:])
                    raise
            elif typ == _handle.EV_CLOSED:
                self._drain_ended()
            else:
                self._signal_event(typ, code, token, ts, value, data, attempts, conn, mid)
        self._flush()

    def _call_handlers(self, message, receivers, conn_id):
        """Runs the message's handlers: None when the message is answered,
        else what their async parts left to await."""
        awaitables = []
        try:
            if receivers is None:
                result = self.handle_message(self._connection(conn_id), message)
                if result is not None and inspect.isawaitable(result):
                    awaitables.append(result)
            else:
                for receiver in receivers:
                    result = receiver(self, message=message)
                    if result is not None and inspect.isawaitable(result):
                        awaitables.append(result)
        except BaseException as error:
            for awaitable in awaitables:  # never to be awaited
                if inspect.iscoroutine(awaitable):
                    awaitable.close()
            self._handler_failed(message, error)
            if not isinstance(error, Exception):
                raise
            return None
        if not awaitables:
            self._handler_ok(message)
            return None
        if len(awaitables) == 1 and inspect.iscoroutine(awaitables[0]):
            # Run its first step here, as a task's first step would run: a
            # handler that returns without suspending is answered at once,
            # without an await chain or a loop turn.
            coroutine = awaitables[0]
            try:
                suspended_on = coroutine.send(None)
            except StopIteration:
                self._handler_ok(message)
                return None
            except BaseException as error:
                self._handler_failed(message, error)
                if not isinstance(error, Exception):
                    raise
                return None
            return _resume(coroutine, suspended_on)
        return _joined(awaitables)

    async def _start_async(self, message, pending):
        """Awaits the rest of an async handler here (max_concurrency 1) or
        as a task (_dispatch started it only with a slot free)."""
        if self.max_concurrency == 1:
            self._inline = message
            try:
                await self._await_handler(message, pending)
            except asyncio.CancelledError:
                if not self._inline_cancelled:
                    raise
                # cancelled by _give_back_all: its message is requeued; go on
                # requeueing the others
                self._inline_cancelled = False
                if hasattr(self._task, "uncancel"):  # Python >= 3.11
                    self._task.uncancel()
            finally:
                self._inline = None
            return
        task = self._loop.create_task(self._await_handler(message, pending))
        self._tasks[task] = message, pending
        task.add_done_callback(self._handler_task_done)

    def _handler_task_done(self, task):
        message, pending = self._tasks.pop(task)
        if task.cancelled() and not message._responded:
            # cancelled before it ran (a close came first): give the message back
            if inspect.iscoroutine(pending):
                pending.close()
            message._responded = True
            self._answer(message._token, RESP_REQUEUE)
            self._schedule_flush()
        if self._slot_freed is not None and not self._slot_freed.done():
            self._slot_freed.set_result(None)

    async def _await_handler(self, message, pending):
        try:
            await pending
        except BaseException as error:
            self._handler_failed(message, error)
            if not isinstance(error, Exception):
                raise
        else:
            self._handler_ok(message)
        finally:
            self._schedule_flush()

    # ---- answers --------------------------------------------------------

    def _schedule_flush(self):
        """Sends the batched answers at the next loop turn (one call for
        every answer given until then)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self):
        self._flush_scheduled = False
        self._flush()

    def _answer_iterated(self):
        message, self._iterated = self._iterated, None
        if message is not None and not self._handle_closed:
            self._handler_ok(message)
            self._schedule_flush()

    def _handler_ok(self, message):
        super()._handler_ok(message)
        if message._async and not message._responded:
            self._unanswered[message._token] = message

    def _give_back(self):
        """Requeues what async for received and did not answer, and the
        async messages not answered yet."""
        left = list(self._unanswered.values())
        self._unanswered.clear()
        if self._iterated is not None:
            left.append(self._iterated)
            self._iterated = None
        while self._queue is not None and not self._queue.empty():
            left.append(self._queue.get_nowait())
        for message in left:
            if message is not None and not message._responded:
                message._responded = True
                self._answer(message._token, RESP_REQUEUE)

    # Message owner protocol (gnsq.message): answers join the batch; from
    # another thread they go at once.
    def _message_answer(self, message, action, backoff=0, delay_ms=0):
        if self._handle_closed:
            raise NSQException("consumer is closed")
        self._unanswered.pop(message._token, None)
        if threading.get_ident() != self._thread:
            self._respond_now(message, action, backoff, delay_ms)
            return
        self._answer(message._token, action, backoff, delay_ms)
        self._schedule_flush()

    def _message_finish(self, message):
        self._message_answer(message, RESP_FINISH)

    def _message_requeue(self, message, time_ms, backoff):
        self._message_answer(message, RESP_REQUEUE, 1 if backoff else 0, time_ms)

    def _message_touch(self, message):
        self._respond_now(message, RESP_TOUCH)



@types.coroutine
def _resume(coroutine, suspended_on):
    """Awaits the rest of a coroutine whose first step already ran and
    suspended on suspended_on: that is handed to the task awaiting this
    (as the coroutine's own await would have), then the coroutine goes on
    as if awaited from the start (a cancellation is thrown into it)."""
    while True:
        try:
            yield suspended_on
        except BaseException as error:
            try:
                suspended_on = coroutine.throw(error)
            except StopIteration as stop:
                return stop.value
            continue
        return (yield from coroutine)


def _joined(awaitables):
    if not awaitables:
        return None
    return awaitables[0] if len(awaitables) == 1 else asyncio.gather(*awaitables)
