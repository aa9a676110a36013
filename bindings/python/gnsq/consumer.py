"""gnsq.Consumer over libgnsq.

All NSQ semantics (RDY distribution, backoff, giving up, reconnects,
lookupd discovery) run in the library. This class runs the handlers: it
polls the library's events in batches, makes a Message per MESSAGE event,
sends on_message, and hands the outcomes back in one respond call per batch
(gnsq's rules: a return finishes, NSQRequeueMessage and exceptions
requeue). Messages answered later (enable_async) are answered at once.
"""
import array
import ctypes
import json
import logging
import struct
import time

import blinker

from . import _ffi, _handle, _options, _wait, protocol
from .errors import NSQException, NSQRequeueMessage
from .message import Message
from .util import parse_lookupds, parse_nsqds

__all__ = ["Consumer"]

# include/gnsq.h: gnsq_response_t (32 bytes) and the GNSQ_RESP_* actions.
RESPONSE = struct.Struct("<QiiqII")
RESP_FINISH, RESP_REQUEUE, RESP_TOUCH, RESP_HANDLER_OK, RESP_HANDLER_FAILED, RESP_HANDLER_REQUEUE = range(1, 7)
STATUS = struct.Struct("<6i")
CONN_INFO = struct.Struct("<Ii5ii256s")

INIT, RUNNING, CLOSED = "init", "running", "closed"
# How long close() from another thread waits for a handler in progress
# before closing anyway (its message is then redelivered by nsqd).
CLOSE_WAIT = 5.0
# Under gevent the loop yields to the hub after this many messages.
YIELD_EVERY = 64
# Answers are sent once per batch, or sooner when handlers took this long
# (s): nsqd must not time out messages whose handler returned.
ANSWER_DELAY = 0.005


class Connection:
    """A live view of one of the consumer's nsqd connections (what gnsq's
    on_auth sends as conn): str() is 'host:port'; the counters are read
    from the library when asked."""

    def __init__(self, consumer, conn_id, address):
        self._consumer, self.id, self.address_text = consumer, conn_id, address
        self.address, _, port = address.rpartition(":")
        self.port = int(port) if port.isdigit() else port

    def _info(self):
        return self._consumer._conn_info(self.id)

    @property
    def is_connected(self):
        info = self._info()
        return bool(info and info[1])

    @property
    def ready_count(self):
        info = self._info()
        return info[2] if info else 0

    @property
    def in_flight(self):
        info = self._info()
        return info[4] if info else 0

    @property
    def max_ready_count(self):
        info = self._info()
        return info[5] if info else 0

    @property
    def is_starved(self):
        info = self._info()
        return bool(info and info[6])

    def __str__(self):
        return self.address_text

    def __repr__(self):
        return "<Connection %s>" % self.address_text

    def __hash__(self):
        return hash(self.address_text)

    def __eq__(self, other):
        return str(self) == str(other)


class ConsumerBase:
    """What gnsq.Consumer and gnsq.aio.Consumer share: gnsq's constructor,
    signals and overridable handle_* methods, the library handle, the
    answers to nsqd, and the events that only send signals."""

    def __init__(self, topic, channel, nsqd_tcp_addresses=[], lookupd_http_addresses=[], name=None,
                 message_handler=None, max_tries=5, max_in_flight=1, requeue_delay=0, lookupd_poll_interval=60,
                 lookupd_poll_jitter=0.3, low_ready_idle_timeout=10, max_backoff_duration=128,
                 backoff_on_requeue=True, **kwargs):
        if not nsqd_tcp_addresses and not lookupd_http_addresses:
            raise ValueError("must specify at least one nsqd or lookupd")
        self.nsqd_tcp_addresses = parse_nsqds(nsqd_tcp_addresses) if nsqd_tcp_addresses else set()
        self.lookupds = parse_lookupds(lookupd_http_addresses) if lookupd_http_addresses else []
        self.iterlookupds = iter(self.lookupds)
        _options.check_tcp_kwargs(type(self).__name__, kwargs)
        self.topic, self.channel = topic, channel
        self.max_tries = max_tries
        self.max_in_flight = max_in_flight
        self.requeue_delay = requeue_delay
        self.lookupd_poll_interval = lookupd_poll_interval
        self.lookupd_poll_jitter = lookupd_poll_jitter
        self.low_ready_idle_timeout = low_ready_idle_timeout
        self.max_backoff_duration = max_backoff_duration
        self.backoff_on_requeue = backoff_on_requeue
        self.conn_kwargs = kwargs
        self.name = name or "gnsq.consumer.%s.%s" % (topic, channel)
        self.logger = logging.getLogger(self.name)

        self.on_message = blinker.Signal(doc="Emitted when a message is received (message=).")
        self.on_response = blinker.Signal(doc="Emitted when a response is received (response=).")
        self.on_error = blinker.Signal(doc="Emitted when an error is received (error=).")
        self.on_finish = blinker.Signal(doc="Emitted after a message is finished (message_id=).")
        self.on_requeue = blinker.Signal(doc="Emitted after a message is requeued (message_id=, timeout=).")
        self.on_giving_up = blinker.Signal(doc="Emitted when giving up on a message (message=).")
        self.on_auth = blinker.Signal(doc="Emitted after a connection authenticated (conn=, response=).")
        self.on_exception = blinker.Signal(doc="Emitted when a handler raised (message=, error=).")
        self.on_close = blinker.Signal(doc="Emitted after close().")
        if message_handler is not None:
            self.on_message.connect(message_handler, weak=False)

        self._state = INIT
        self._handle = None
        self._pending = array.array("Q")  # the current batch's answers: gnsq_response_t as 4 words each
        self._texts = bytearray()
        self._mask = None
        self._connections = {}
        self._handle_closed = False
        self._draining = False
        self._sent_max_in_flight = max_in_flight
        self._init_runtime()

    def _init_runtime(self):
        """Sets what the subclass needs to run (threads, gevent or asyncio)."""

    # ---- gnsq's public API ---------------------------------------------

    @property
    def is_running(self):
        return self._state == RUNNING

    @property
    def is_starved(self):
        return bool(self._status()[1])

    @property
    def total_ready_count(self):
        return self._status()[2]

    @property
    def total_in_flight(self):
        return self._status()[3]

    def connect_to_nsqd(self, address, port=None):
        """Adds a connection to nsqd at address[:port] while running."""
        if self._state != RUNNING:
            return
        addr = address if port is None else "%s:%s" % (address, port)
        _ffi.check(_ffi.lib().gnsq_consumer_connect_to_nsqd(self._handle.ptr, addr.encode()))

    def query_nsqd(self):
        """The library keeps every static nsqd connected; kept for gnsq."""

    def query_lookupd(self):
        """The library polls lookupd (lookupd_poll_interval); kept for gnsq."""

    def redistribute_ready_state(self):
        """Applies a changed max_in_flight; the library redistributes RDY
        itself."""
        if self._state == RUNNING and not self._draining and self.max_in_flight != self._sent_max_in_flight:
            self._sent_max_in_flight = self.max_in_flight
            _ffi.check(_ffi.lib().gnsq_consumer_set_max_in_flight(self._handle.ptr, self.max_in_flight))

    # gnsq's per-event receivers: overridable in a subclass (the deprecated
    # Reader overrides handle_message); each sends its signal.
    def handle_message(self, conn, message):
        self.on_message.send(self, message=message)

    def handle_response(self, conn, response):
        self.on_response.send(self, response=response)

    def handle_error(self, conn, error):
        self.on_error.send(self, error=error)

    def handle_finish(self, conn, message_id):
        self.on_finish.send(self, message_id=message_id)

    def handle_requeue(self, conn, message_id, timeout):
        self.on_requeue.send(self, message_id=message_id, timeout=timeout)

    def handle_auth(self, conn, response):
        self.on_auth.send(self, conn=conn, response=response)

    # ---- the library handle ---------------------------------------------

    def _config_items(self):
        return _options.config_items(
            self.conn_kwargs, max_tries=self.max_tries, max_in_flight=self.max_in_flight,
            requeue_delay=self.requeue_delay, lookupd_poll_interval=self.lookupd_poll_interval,
            lookupd_poll_jitter=self.lookupd_poll_jitter, low_ready_idle_timeout=self.low_ready_idle_timeout,
            max_backoff_duration=self.max_backoff_duration, backoff_on_requeue=self.backoff_on_requeue,
            log_level=_handle.log_level_for(self.logger))

    def _new_handle(self):
        """Creates the library's consumer (not started) as self._handle."""
        protocol.assert_valid_topic_name(self.topic)
        protocol.assert_valid_channel_name(self.channel)
        lib = _ffi.lib()
        nsqds = [a.encode() for a in sorted(self.nsqd_tcp_addresses)]
        lookupds = [l.address.encode() for l in self.lookupds]
        ptr = ctypes.c_void_p()
        with _handle.Config(self._config_items()) as cfg:
            _ffi.check(lib.gnsq_consumer_new(
                ctypes.byref(ptr), self.topic.encode(), self.channel.encode(),
                (ctypes.c_char_p * len(nsqds))(*nsqds), len(nsqds),
                (ctypes.c_char_p * len(lookupds))(*lookupds), len(lookupds), cfg.ptr))
        self._handle = _handle.Handle("consumer", ptr)
        self._respond_fn = lib.gnsq_consumer_respond
        self._update_mask()

    def _stop_intake(self):
        """Before closing: tells nsqd to send nothing more, requeues at once
        what was received but not handled (else nsqd redelivers it only
        after its msg_timeout), and sends the answers given so far."""
        handle = self._handle
        _ffi.lib().gnsq_consumer_set_max_in_flight(handle.ptr, 0)
        try:
            events = handle.poll(0)
            while events:
                self._requeue_messages(events)
                events = handle.poll(0)
        except NSQException:
            pass
        self._give_back()
        self._flush()

    def _requeue_messages(self, events):
        """Requeues the messages of MESSAGE events no handler got."""
        for event in events:
            if event[0] == _handle.EV_MESSAGE:
                self._answer(event[2], RESP_REQUEUE)

    def _drain_ended(self):
        """At the CLOSED event of a drain: the last answers, then on_close."""
        if not self._handle_closed:
            self._flush()
            self._state = CLOSED
            self._handle_closed = True
            _handle.call_logged(self.logger, self.on_close.send, self)

    def _give_back(self):
        """At close, before the last answers go out: requeue (with _answer)
        the messages a subclass holds unhandled (the deprecated Reader's
        worker queue)."""

    def _status(self):
        handle = self._handle
        if handle is None or handle.ptr is None:
            return (0,) * 6
        buf = ctypes.create_string_buffer(STATUS.size)
        if _ffi.lib().gnsq_consumer_status(buf, handle.ptr) < 0:
            return (0,) * 6
        return STATUS.unpack(buf.raw)

    def _conn_info(self, conn_id):
        handle = self._handle
        if handle is None or handle.ptr is None:
            return None
        buf = ctypes.create_string_buffer(CONN_INFO.size)
        if _ffi.lib().gnsq_consumer_connection(buf, handle.ptr, conn_id) < 0:
            return None
        return CONN_INFO.unpack(buf.raw)

    def _connection(self, conn_id):
        """The Connection of an event's conn id; its address is "?" (and it
        is not kept) while the library does not know the connection."""
        conn = self._connections.get(conn_id)
        if conn is None:
            info = self._conn_info(conn_id)
            if info is None:
                return Connection(self, conn_id, "?")
            conn = self._connections[conn_id] = Connection(self, conn_id, info[8].split(b"\0", 1)[0].decode())
        return conn

    def _update_mask(self):
        """FINISHED, REQUEUED and RESPONSE events only while someone listens
        (or a subclass overrides their handle_* method); also applies a
        changed max_in_flight, as gnsq's RDY loop would."""
        self.redistribute_ready_state()
        mask = 0xFFFFFFFF & ~(1 << _handle.EV_EXCEPTION)  # on_exception is sent here, with the exception
        cls = type(self)
        for event, signal, method in ((_handle.EV_FINISHED, self.on_finish, "handle_finish"),
                                      (_handle.EV_REQUEUED, self.on_requeue, "handle_requeue"),
                                      (_handle.EV_RESPONSE, self.on_response, "handle_response")):
            if not signal.receivers and getattr(cls, method) is getattr(ConsumerBase, method):
                mask &= ~(1 << event)
        if mask != self._mask:
            self._mask = mask
            _ffi.lib().gnsq_consumer_set_event_mask(self._handle.ptr, mask)

    # ---- answers --------------------------------------------------------

    def _answer(self, token, action, backoff=0, delay_ms=0, detail=b""):
        """Adds one answer to the batch (sent by _flush), as the four 64-bit
        words of a gnsq_response_t (a little-endian platform)."""
        offset = len(self._texts)
        if detail:
            self._texts += detail
        self._pending.extend((token, action | (backoff & 0xFFFFFFFF) << 32, delay_ms & 0xFFFFFFFFFFFFFFFF,
                              offset | len(detail) << 32))

    def _flush(self):
        n = len(self._pending) // 4
        if not n or self._handle_closed:
            return
        texts = bytes(self._texts) if self._texts else None
        rc = self._respond_fn(self._handle.ptr, self._pending.buffer_info()[0], n, texts, len(self._texts))
        del self._pending[:]
        self._texts.clear()
        if rc < 0:
            self.logger.warning("answering messages: %s", _ffi.error_for(rc, _ffi.last_error()))

    def _respond_now(self, message, action, backoff=0, delay_ms=0):
        if self._handle_closed:
            raise NSQException("consumer is closed")
        _ffi.check(self._respond_fn(self._handle.ptr, RESPONSE.pack(message._token, action, backoff, delay_ms, 0, 0),
                                    1, None, 0))

    def _handler_ok(self, message):
        """Answers a message whose handler returned (gnsq: it finishes it)."""
        if not message._responded and not message._async:
            message._responded = True
            self._pending.extend((message._token, RESP_HANDLER_OK, 0, 0))  # _answer's words, inlined

    def _handler_failed(self, message, error):
        """Answers a message whose handler raised error, by gnsq's rules:
        NSQRequeueMessage requeues, another Exception requeues and is
        reported (on_exception), anything else (KeyboardInterrupt,
        SystemExit, a cancellation) requeues; the caller re-raises that."""
        if isinstance(error, NSQRequeueMessage):
            if not message._responded:
                message._responded = True
                backoff = -1 if error.backoff is None else int(bool(error.backoff))
                self._answer(message._token, RESP_HANDLER_REQUEUE, backoff)
        elif isinstance(error, Exception):
            self.logger.error("[%s] caught exception while handling message", self.name, exc_info=error)
            self.on_exception.send(self, message=message, error=error)
            if not message._responded:
                message._responded = True
                self._answer(message._token, RESP_HANDLER_FAILED, 0, 0,
                             ("%s: %s" % (type(error).__name__, error)).encode("utf-8", "replace"))
        elif not message._responded:
            message._responded = True
            self._answer(message._token, RESP_REQUEUE)

    def _signal_event(self, typ, code, token, ts, value, data, attempts, conn, mid):
        """Handles an event other than MESSAGE and CLOSED: sends its signal
        (or logs it)."""
        if typ == _handle.EV_GIVING_UP:
            message = Message(ts, attempts, mid, data)
            message._responded = True  # the library finished it
            self.logger.warning("giving up on message %s after %d tries", mid.decode("ascii", "replace"), attempts)
            _handle.call_logged(self.logger, self.on_giving_up.send, self, message=message)
        elif typ == _handle.EV_FINISHED:
            _handle.call_logged(self.logger, self.handle_finish, self._connection(conn), mid)
        elif typ == _handle.EV_REQUEUED:
            _handle.call_logged(self.logger, self.handle_requeue, self._connection(conn), mid, value)
        elif typ == _handle.EV_RESPONSE:
            _handle.call_logged(self.logger, self.handle_response, self._connection(conn), data)
        elif typ == _handle.EV_ERROR:
            _handle.call_logged(self.logger, self.handle_error, self._connection(conn), _ffi.error_for(code, data))
        elif typ == _handle.EV_AUTH:
            _handle.call_logged(self.logger, self.handle_auth, self._connection(conn), json.loads(data))
        elif typ == _handle.EV_LOG:
            _handle.log_record(data, value)
        elif typ == _handle.EV_DISCONNECTED:
            self._connections.pop(conn, None)


class Consumer(ConsumerBase):
    """gnsq's high-level consumer; same signature, defaults and signals."""

    def _init_runtime(self):
        self._runtime = _wait.current()
        self._worker = None
        self._done = self._runtime.Event()
        self._batch_lock = self._runtime.RLock()
        self._loop_id = None  # the thread/greenlet running the loop

    def start(self, block=True):
        """Connects and starts handling messages; with block=True returns
        only after close() (from a handler, another thread or greenlet)."""
        if self._state != INIT:
            self.logger.warning("consumer already started")
            if block:
                self.join()
            return
        if not self.on_message.receivers:
            raise RuntimeError("no receivers connected to on_message")
        self._new_handle()
        try:
            _ffi.check(_ffi.lib().gnsq_consumer_start(self._handle.ptr))
        except BaseException:
            self._handle.free()
            raise
        self._state = RUNNING
        if block:
            self._loop()
        else:
            self._worker = self._runtime.spawn(self._loop)

    def close(self):
        """Stops: no handler starts after close() returns, and the answers
        of every message handled so far reach nsqd. Messages received but
        not handled are requeued. Unlike gnsq, nothing handled is lost."""
        if self._state != RUNNING:
            return
        self._state = CLOSED
        self._handle.wakeup()  # the loop may be waiting (e.g. close() from a signal handler on its thread)
        if self._loop_id is not None and self._loop_id == self._runtime.current():
            return  # inside a handler or a signal handler: the loop closes when it gets back
        if self._batch_lock.acquire(timeout=CLOSE_WAIT):
            try:
                self._close_handle()
            finally:
                self._batch_lock.release()
        else:
            # the loop still owns the batch: close without touching it
            self.logger.warning("a handler did not return within %ss; closing anyway", CLOSE_WAIT)
            self._close_handle(drain=False)

    def drain(self, timeout=None):
        """Closes gracefully (not in gnsq): nsqd is told to send nothing
        more, the handlers still get every message already received, their
        answers are written out, then the consumer closes (on_close). After
        timeout seconds (None: no limit) what no handler got is requeued at
        once and the consumer closes. From a handler it returns at once
        (start() returns when the drain is done); elsewhere it waits."""
        if self._state != RUNNING or self._draining:
            return
        self._draining = True
        token = ctypes.c_uint64()
        ms = -1 if timeout is None else max(int(timeout * 1000), 0)
        _ffi.check(_ffi.lib().gnsq_consumer_drain_async(ctypes.byref(token), self._handle.ptr, ms))
        if self._loop_id is None or self._loop_id != self._runtime.current():
            self.join()

    def join(self, timeout=None, raise_error=False):
        """Waits until the consumer is closed and its loop has ended."""
        if self._state == INIT:
            return
        self._done.wait(timeout)

    def _close_handle(self, drain=True):
        """Sends the answers given so far, closes the library's consumer and
        emits on_close, once; drain=False (the loop still owns its batch)
        only closes. The handle is freed when the loop ends (its notify fd
        must stay open while the loop may wait on it)."""
        if self._handle_closed:
            return
        if drain:
            self._stop_intake()
        self._handle_closed = True
        self._handle.close()
        self.on_close.send(self)

    def _in_loop(self, message):
        return message is self._current and self._runtime.current() == self._loop_id

    # Message owner protocol (gnsq.message): answers of the message being
    # handled join the batch; the others (enable_async) go at once.
    def _message_finish(self, message):
        if self._in_loop(message):
            self._answer(message._token, RESP_FINISH)
        else:
            self._respond_now(message, RESP_FINISH)

    def _message_requeue(self, message, time_ms, backoff):
        if self._in_loop(message):
            self._answer(message._token, RESP_REQUEUE, 1 if backoff else 0, time_ms)
        else:
            self._respond_now(message, RESP_REQUEUE, 1 if backoff else 0, time_ms)

    def _message_touch(self, message):
        self._respond_now(message, RESP_TOUCH)

    # ---- the loop -------------------------------------------------------

    _current = None

    def _loop(self):
        """Handles events until the consumer is closed."""
        runtime, handle = self._runtime, self._handle
        self._loop_id = runtime.current()
        try:
            while self._state == RUNNING:
                with self._batch_lock:  # close() from another thread drains under it too
                    try:
                        events = handle.poll(0)
                    except NSQException:
                        break  # closed
                    if events:
                        self._dispatch(events)
                        continue
                if runtime.wait_readable(handle.fd):
                    _wait.drain(handle.fd)
            with self._batch_lock:
                self._close_handle()  # no-op when close() did it
        except BaseException:
            self._state = CLOSED
            with self._batch_lock:
                self._close_handle()
            raise
        finally:
            self._loop_id = None
            handle.free()
            self._done.set()

    def _dispatch(self, events):
        self._update_mask()
        cooperate = self._runtime.green
        handled = 0
        # on_message's receivers, looked up once per batch (blinker's send
        # looks them up per call); an overridden handle_message is called.
        receivers = (list(self.on_message.receivers_for(self))
                     if type(self).handle_message is Consumer.handle_message else None)
        since = time.monotonic()
        for index, (typ, code, token, ts, value, data, attempts, conn, mid) in enumerate(events):
            if typ == _handle.EV_MESSAGE:
                if self._state != RUNNING:
                    self._answer(token, RESP_REQUEUE)  # not handled: back to nsqd at once
                    continue
                message = Message(ts, attempts, mid, data)
                message._owner, message._token = self, token
                try:
                    self._handle_one(message, receivers, conn)
                except BaseException:  # KeyboardInterrupt, SystemExit: give back what is left
                    self._requeue_messages(events[index + 1:])
                    raise
                handled += 1
                now = time.monotonic()
                if now - since > ANSWER_DELAY:  # a slow handler: do not hold the answers given
                    self._flush()
                    since = now
                if cooperate and handled % YIELD_EVERY == 0:
                    self._runtime.cooperate()
            elif typ == _handle.EV_CLOSED:
                self._drain_ended()
            else:
                self._signal_event(typ, code, token, ts, value, data, attempts, conn, mid)
        self._flush()
        if self._state != RUNNING:
            self._close_handle()  # close() was called by a handler

    def _handle_one(self, message, receivers, conn_id):
        self._current = message
        try:
            if receivers is None:
                self.handle_message(self._connection(conn_id), message)
            else:
                for receiver in receivers:
                    receiver(self, message=message)
        except BaseException as error:
            self._handler_failed(message, error)
            if not isinstance(error, Exception):
                raise
        else:
            self._handler_ok(message)
        finally:
            self._current = None
