"""gnsq's NsqdTCPClient: one low-level TCP connection to nsqd, over
libgnsq's TCP client (the gnsq_tcp_* steps of include/gnsq.h).

The library speaks the protocol (it builds every command, so there is no
raw send()); this class keeps gnsq's attributes, states and signals. The
steps that wait for nsqd (connect, identify, auth, read_response) run as
the library's *_async steps and are waited for on the handle's notify fd
with the runtime chosen at construction: poll() with threads, gevent's
wait_read under gevent, so that other greenlets (a mock nsqd in the same
hub) run meanwhile. Commands only write and never wait. Once listen() is
called, every frame arrives as an event.

The library is loaded, and the C handle made, by connect(): never at
import or in the constructor (gunicorn --preload builds objects and then
forks)."""
import collections
import ctypes
import errno
import json
import logging
import socket
import time

import blinker

from . import _ffi, _options, _wait, errors, protocol, states
from ._handle import (EV_AUTH, EV_DISCONNECTED, EV_ERROR, EV_LOG, EV_MESSAGE, EV_RESPONSE, EV_STEP_DONE, Config,
                      Handle, log_level_for, log_record)
from .message import Message
from .version import USERAGENT

__all__ = ["NsqdTCPClient", "HOSTNAME", "SHORTNAME"]

HOSTNAME = socket.gethostname()
SHORTNAME = HOSTNAME.split(".")[0]

_log = logging.getLogger("gnsq")


def _not_connected():
    return errors.NSQSocketError(errno.ENOTCONN, "Socket is not connected")


def _name(value):
    return value.encode("utf-8") if isinstance(value, str) else value


def _body(data):
    if not isinstance(data, bytes):
        raise TypeError("message body must be a byte string")
    return data


def _message_id(message_id):
    mid = _name(message_id)
    if not isinstance(mid, bytes) or len(mid) != 16:
        raise ValueError("a message id is 16 bytes, got %r" % (message_id,))
    return mid


class NsqdTCPClient:
    """Low level object representing a TCP connection to nsqd (gnsq's
    NsqdTCPClient; see its documentation for the parameters).
    heartbeat_interval is given in seconds and kept in ms, as gnsq does."""

    def __init__(self, address="127.0.0.1", port=4150, timeout=60.0, client_id=None, hostname=None,
                 heartbeat_interval=30, output_buffer_size=16384, output_buffer_timeout=250, tls_v1=False,
                 tls_options=None, snappy=False, deflate=False, deflate_level=6, sample_rate=0, auth_secret=None,
                 user_agent=USERAGENT):
        self.address = address
        self.port = port
        self.timeout = timeout
        self.client_id = client_id or SHORTNAME
        self.hostname = hostname or HOSTNAME
        self.heartbeat_interval = 1000 * heartbeat_interval
        self.output_buffer_size = output_buffer_size
        self.output_buffer_timeout = output_buffer_timeout
        self.tls_v1 = tls_v1
        self.tls_options = tls_options
        self.snappy = snappy
        self.deflate = deflate
        self.deflate_level = deflate_level
        self.sample_rate = sample_rate
        self.auth_secret = auth_secret
        self.user_agent = user_agent

        self.state = states.INIT
        self.last_response = time.time()
        self.last_message = time.time()
        self.ready_count = 0
        self.in_flight = 0
        self.max_ready_count = 2500

        self.on_message = blinker.Signal(doc="Emitted when a message frame is received (message=).")
        self.on_response = blinker.Signal(doc="Emitted when a response frame is received (response=).")
        self.on_error = blinker.Signal(doc="Emitted when an error frame is received (error=).")
        self.on_finish = blinker.Signal(doc="Emitted after finish() (message_id=).")
        self.on_requeue = blinker.Signal(doc="Emitted after requeue() (message_id=, timeout=, backoff=).")
        self.on_auth = blinker.Signal(doc="Emitted after the connection is authenticated (response=).")
        self.on_close = blinker.Signal(doc="Emitted after close_stream().")

        self._runtime = _wait.current()
        self._handle = None
        self._backlog = collections.deque()  # events polled and not yet handled
        self._listening = False
        self._failure = None  # what ended the connection under listen()

    @property
    def is_connected(self):
        """Check if the client is currently connected."""
        return self.state == states.CONNECTED

    @property
    def is_starved(self):
        """Whether the messages in flight reached 85% of RDY: a batching
        handler should process what it holds now."""
        return self.in_flight >= max(self.ready_count * 0.85, 1)

    # -- the library handle and its steps --------------------------------

    def _new_handle(self):
        settings = {key: getattr(self, key) for key in _options.TCP_DEFAULTS}
        settings["heartbeat_interval"] = self.heartbeat_interval / 1000
        host = "[%s]" % self.address if ":" in self.address else self.address
        ptr = ctypes.c_void_p()
        items = _options.config_items(settings, dial_timeout=self.timeout, log_level=log_level_for(_log))
        with Config(items) as cfg:
            _ffi.check(_ffi.lib().gnsq_tcp_new(ctypes.byref(ptr), ("%s:%s" % (host, self.port)).encode(), cfg.ptr))
        return Handle("tcp", ptr)

    def _step(self, name, *args, frames=True, closes=True):
        """Runs the library's gnsq_tcp_<name>_async step and waits for its
        STEP_DONE, dispatching the events queued before it (frames: also
        RESPONSE and ERROR, the frames the step read for itself). Returns
        (value, data); a failure raises, closing the connection first when
        closes (the library has closed it, or gnsq would)."""
        token = ctypes.c_uint64()
        _ffi.check(getattr(_ffi.lib(), "gnsq_tcp_%s_async" % name)(ctypes.byref(token), self._handle.ptr, *args))
        for event in self._queued():
            if event[0] == EV_STEP_DONE and event[2] == token.value:
                break
            self._dispatch(event, frames)
        else:  # closed meanwhile by another thread or greenlet
            raise _not_connected()
        code, value, data = event[1], event[4], event[5]
        if code < 0:
            error = _ffi.error_for(code, data)
            if closes and code != _ffi.E_INVALID_ARG:
                self.close_stream()
            raise error
        return value, data

    def _queued(self):
        """Yields the handle's events one by one, waiting for them, until
        the handle is closed and drained. Events not yet yielded stay
        queued (a signal receiver may raise, or the caller stop)."""
        while True:
            if not self._backlog:
                try:
                    self._backlog.extend(self._handle.poll(0))
                except errors.NSQException:  # closed
                    return
            if self._backlog:
                yield self._backlog.popleft()
            else:
                self._runtime.wait_readable(self._handle.fd)
                _wait.drain(self._handle.fd)

    def _dispatch(self, event, frames):
        typ, code, data = event[0], event[1], event[5]
        if typ == EV_MESSAGE:
            self.last_response = time.time()
            self._handle_message(Message(event[3], event[6], event[8], data))
        elif typ == EV_RESPONSE and frames:
            self.last_response = time.time()
            self._handle_response(data)
        elif typ == EV_ERROR and frames:
            error = _ffi.error_for(code, data)
            if isinstance(error, errors.NSQErrorCode):  # an error frame
                self.last_response = time.time()
                self._handle_error(error)
            else:  # the connection failed: listen() raises it
                self._failure = error
        elif typ == EV_AUTH:
            self.on_auth.send(self, response=json.loads(data.decode("utf-8")))
        elif typ == EV_LOG:
            log_record(data, event[4])
        elif typ == EV_DISCONNECTED:
            failure, self._failure = self._failure, None
            self.close_stream()
            if code < 0:
                raise failure or _ffi.error_for(code, b"connection to %s lost" % data)
        # FINISHED and REQUEUED: finish() and requeue() signal themselves.

    def _command(self, name, *args):
        """Runs a command (gnsq_tcp_<name>: it only writes). A failure to
        write closes the connection, as in gnsq."""
        if not self.is_connected:
            raise _not_connected()
        rc = getattr(_ffi.lib(), "gnsq_tcp_" + name)(self._handle.ptr, *args)
        if rc < 0:
            error = _ffi.error_for(rc, _ffi.last_error())
            if rc != _ffi.E_INVALID_ARG:
                self.close_stream()
            raise error

    # -- frames ------------------------------------------------------------

    def _handle_response(self, data):
        self.on_response.send(self, response=data)  # the library answered a heartbeat with NOP
        return data

    def _handle_error(self, error):
        self.on_error.send(self, error=error)
        if error.fatal:  # nsqd closes the connection after it
            self.close_stream()
        return error

    def _handle_message(self, message):
        self.last_message = time.time()
        self.in_flight += 1
        message._owner = self
        self.on_message.send(self, message=message)
        return message

    def _message_finish(self, message):
        self.finish(message.id)

    def _message_requeue(self, message, time_ms, backoff):
        self.requeue(message.id, time_ms, backoff)

    def _message_touch(self, message):
        self.touch(message.id)

    # -- gnsq's methods ----------------------------------------------------

    def connect(self):
        """Initialize connection to the nsqd."""
        if self.state == states.DISCONNECTED:
            raise errors.NSQException("connection already closed")
        if self.is_connected:
            return
        if self._handle is None:
            self._handle = self._new_handle()
        self._step("open", closes=False)
        self.state = states.CONNECTED

    def close_stream(self):
        """Close the underlying socket."""
        if not self.is_connected:
            return
        self.state = states.DISCONNECTED
        self._handle.close()
        self.on_close.send(self)

    def send(self, data):
        """Not available: libgnsq encodes every command itself."""
        raise NotImplementedError("NsqdTCPClient.send(): raw writes are not possible over libgnsq, which encodes "
                                  "every command itself; use the command methods (publish, ready, finish, ...)")

    def read_response(self):
        """Read an individual response from nsqd.

        :returns: tuple of the frame type and the processed data: bytes, an
            NSQErrorCode (returned, not raised) or a Message."""
        if not self.is_connected:
            raise _not_connected()
        wait_ms = -1 if self.timeout is None else int(self.timeout * 1000)
        frame, data = self._step("read_response", wait_ms, frames=False)
        self.last_response = time.time()
        if frame == protocol.FRAME_TYPE_RESPONSE:
            return frame, self._handle_response(data)
        if frame == protocol.FRAME_TYPE_ERROR:
            return frame, self._handle_error(errors.make_error(data))
        if frame == protocol.FRAME_TYPE_MESSAGE:
            return frame, self._handle_message(Message(*protocol.unpack_message(data)))
        raise errors.NSQFrameError("unknown frame %s" % frame)

    def listen(self):
        """Listen to incoming responses until the connection closes; a
        connection that fails raises its error (after on_close)."""
        if not self.is_connected:
            return
        if not self._listening:
            self._command("listen")
            self._listening = True
        for event in self._queued():
            self._dispatch(event, True)
            if not self.is_connected:
                break

    def check_ok(self, expected=protocol.OK):
        frame, data = self.read_response()
        if frame == protocol.FRAME_TYPE_ERROR:
            raise data
        if frame != protocol.FRAME_TYPE_RESPONSE:
            raise errors.NSQException("expected response frame")
        if data != expected:
            raise errors.NSQException("unexpected response %r" % (data,))

    def identify(self):
        """Update client metadata on the server and negotiate features; the
        library also performs the upgrades nsqd agreed to and AUTH.

        :returns: nsqd response data if there was feature negotiation,
            otherwise ``None``"""
        if not self.is_connected:
            raise _not_connected()
        _, data = self._step("identify")
        if not data:
            return None
        response = json.loads(data.decode("utf-8"))
        self.max_ready_count = response.get("max_rdy_count", self.max_ready_count)
        if not (self.snappy and response.get("snappy")) and self.deflate and response.get("deflate"):
            self.deflate_level = response.get("deflate_level", self.deflate_level)
        return response

    def auth(self):
        """Send authorization secret to nsqd; returns its parsed answer."""
        if not self.is_connected:
            raise _not_connected()
        _, data = self._step("auth")
        return json.loads(data.decode("utf-8"))

    def upgrade_to_tls(self):
        raise NotImplementedError("libgnsq upgrades to TLS inside identify(), as nsqd agreed")

    def upgrade_to_snappy(self):
        raise NotImplementedError("libgnsq upgrades to Snappy inside identify(), as nsqd agreed")

    def upgrade_to_defalte(self):
        raise NotImplementedError("libgnsq upgrades to Deflate inside identify(), as nsqd agreed")

    def subscribe(self, topic, channel):
        """Subscribe to a nsq `topic` and `channel`."""
        protocol.assert_valid_topic_name(topic)
        protocol.assert_valid_channel_name(channel)
        self._command("subscribe", _name(topic), _name(channel))

    def publish(self, topic, data, defer=None):
        """Publish a message to the given topic over tcp (DPUB with defer,
        in ms). The caller reads nsqd's answer."""
        protocol.assert_valid_topic_name(topic)
        body = _body(data)
        self._command("publish", _name(topic), body, len(body), defer or 0)

    def multipublish(self, topic, messages):
        """Publish an iterable of messages to the given topic (MPUB). The
        caller reads nsqd's answer."""
        protocol.assert_valid_topic_name(topic)
        bodies = [_body(m) for m in messages]
        ptrs = (ctypes.c_char_p * len(bodies))(*bodies)
        lens = (ctypes.c_size_t * len(bodies))(*map(len, bodies))
        self._command("multipublish", _name(topic), ctypes.cast(ptrs, ctypes.POINTER(ctypes.c_void_p)), lens,
                      len(bodies))

    def ready(self, count):
        """Indicate you are ready to receive ``count`` messages."""
        protocol.ready(count)  # gnsq's TypeError / ValueError
        self._command("ready", count)
        self.ready_count = count

    def finish_inflight(self):
        self.in_flight -= 1

    def finish(self, message_id):
        """Finish a message (indicate successful processing)."""
        self._command("finish", _message_id(message_id))
        self.finish_inflight()
        self.on_finish.send(self, message_id=message_id)

    def requeue(self, message_id, timeout=0, backoff=True):
        """Re-queue a message (indicate failure to process)."""
        mid = _message_id(message_id)
        protocol.requeue(mid, timeout)  # gnsq's TypeError for a timeout that is not an int
        self._command("requeue", mid, timeout, int(bool(backoff)))
        self.finish_inflight()
        self.on_requeue.send(self, message_id=message_id, timeout=timeout, backoff=backoff)

    def touch(self, message_id):
        """Reset the timeout for an in-flight message."""
        self._command("touch", _message_id(message_id))

    def close(self):
        """Indicate no more messages should be sent (CLS)."""
        self._command("cls")

    def nop(self):
        """Send no-op to nsqd. Used to keep connection alive."""
        self._command("nop")

    def __str__(self):
        return "%s:%s" % (self.address, self.port)

    def __hash__(self):
        return hash(str(self))

    def __eq__(self, other):
        return isinstance(other, NsqdTCPClient) and str(self) == str(other)

    def __lt__(self, other):
        return str(self) < str(other)
