"""gnsq.NsqdTCPClient over libgnsq (gnsq/_nsqd_tcp.py).

Against a scripted mock nsqd, the bytes the server receives for every
command equal gnsq.protocol's encoders (gnsq 1.0.2's bytes; IDENTIFY by its
JSON fields), and read_response/listen return and signal what gnsq does.
The mock runs in a thread for the threads runtime, and as a gevent
StreamServer in the client's own hub in a subprocess that imports gevent
first. Then against a real nsqd."""
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from conftest import wait_until

from gnsq import errors, protocol, states
from gnsq._nsqd_tcp import HOSTNAME, SHORTNAME, NsqdTCPClient
from gnsq.message import Message
from gnsq.version import USERAGENT

ID1, ID2 = b"0123456789abcdef", b"deadbeafdeadbeaf"

# The mock side, shared with the gevent subprocess (which execs this text).
PEER = '''
import struct


def frame(frame_type, data):
    return struct.pack(">ll", len(data) + 4, frame_type) + data


def message_frame(timestamp, attempts, id, body):
    return frame(2, struct.pack(">qh", timestamp, attempts) + id + body)


class Peer:
    """The server's end of one connection: reads whole commands."""

    def __init__(self, sock):
        self.sock = sock

    def recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("client closed after %r" % data)
            data += chunk
        return data

    def command(self):
        """One command as sent: its line and, if it has one, its sized body."""
        line = b""
        while not line.endswith(b"\\n"):
            line += self.recv(1)
        if line.split()[0] not in (b"IDENTIFY", b"AUTH", b"PUB", b"DPUB", b"MPUB"):
            return line
        size = self.recv(4)
        return line + size + self.recv(struct.unpack(">l", size)[0])

    def send(self, frame_type, data):
        self.sock.sendall(frame(frame_type, data))

    def eof(self):
        return self.sock.recv(1) == b""
'''
exec(PEER)


class MockNsqd:
    """A scripted nsqd in a thread: accepts one connection and runs
    script(peer); join() re-raises what the script raised."""

    def __init__(self, script):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.error = None
        self.thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self.thread.start()

    def _serve(self, script):
        try:
            with self.listener, self.listener.accept()[0] as sock:
                sock.settimeout(10)
                script(Peer(sock))
        except BaseException as e:  # re-raised by join
            self.error = e

    def join(self):
        self.thread.join(15)
        assert not self.thread.is_alive(), "the mock's script did not end"
        if self.error is not None:
            raise self.error

    def client(self, **kwargs):
        return NsqdTCPClient("127.0.0.1", self.port, **kwargs)


def recorder(conn, *names):
    """Connects a receiver to each signal; returns the list of (name, kwargs)."""
    seen = []
    for name in names:
        receiver = (lambda n: lambda sender, **kw: seen.append((n, kw)) if sender is conn else None)(name)
        getattr(conn, name).connect(receiver, weak=False)
    return seen


def identify_fields(conn):
    """The IDENTIFY fields gnsq 1.0.2 sends, from its attributes."""
    return {"client_id": conn.client_id, "hostname": conn.hostname, "feature_negotiation": True,
            "heartbeat_interval": conn.heartbeat_interval, "output_buffer_size": conn.output_buffer_size,
            "output_buffer_timeout": conn.output_buffer_timeout, "tls_v1": conn.tls_v1, "snappy": conn.snappy,
            "deflate": conn.deflate, "deflate_level": conn.deflate_level, "sample_rate": conn.sample_rate,
            "user_agent": conn.user_agent}


def assert_identify(cmd, conn):
    line, size, body = cmd[:9], cmd[9:13], cmd[13:]
    assert line == protocol.IDENTIFY + protocol.NEWLINE
    assert protocol.unpack_size(size) == len(body)
    assert json.loads(body) == identify_fields(conn)


# -- mock nsqd, threads ------------------------------------------------------


def test_every_command_is_sent_as_gnsq_encodes_it():
    conn = None

    def script(p):
        assert p.recv(4) == protocol.MAGIC_V2
        assert_identify(p.command(), conn)
        p.send(0, b"OK")
        for expected in (protocol.subscribe("topic", "channel"), protocol.publish("topic", b"sup"),
                         protocol.deferpublish("topic", b"later", 1500),
                         protocol.multipublish("topic", [b"a", b"", b"\n" * 300])):
            assert p.command() == expected
            p.send(0, b"OK")
        assert p.command() == protocol.ready(2)
        p.sock.sendall(message_frame(10**18, 1, ID1, b"one") + message_frame(7, 3, ID2, b""))
        for expected in (protocol.finish(ID1), protocol.requeue(ID2, 1000), protocol.touch(ID1),
                         protocol.touch(ID2), protocol.finish(ID2), protocol.requeue(ID1)):
            assert p.command() == expected
        p.send(0, protocol.HEARTBEAT)
        assert p.command() == protocol.nop()
        assert p.command() == protocol.nop()
        assert p.command() == protocol.close()
        p.send(0, b"CLOSE_WAIT")
        assert p.eof()

    server = MockNsqd(script)
    conn = server.client(client_id="cid", hostname="host.example", heartbeat_interval=12,
                         output_buffer_size=4096, output_buffer_timeout=100, deflate_level=3)
    assert conn.heartbeat_interval == 12000
    conn.connect()
    assert conn.identify() is None
    conn.subscribe("topic", "channel")
    assert conn.read_response() == (0, b"OK")
    conn.publish("topic", b"sup")
    conn.check_ok()
    conn.publish("topic", b"later", defer=1500)
    conn.check_ok()
    conn.multipublish("topic", iter([b"a", b"", b"\n" * 300]))
    conn.check_ok()
    conn.ready(2)
    assert conn.ready_count == 2
    (_, m1), (_, m2) = conn.read_response(), conn.read_response()
    assert (m1.timestamp, m1.attempts, m1.id, m1.body) == (10**18, 1, ID1, b"one")
    assert (m2.timestamp, m2.attempts, m2.id, m2.body) == (7, 3, ID2, b"")
    assert conn.in_flight == 2
    m1.finish()
    m2.requeue(1000)
    conn.touch(ID1)
    conn.touch(ID2.decode())  # gnsq's tests pass str ids
    conn.finish(ID2.decode())
    conn.requeue(ID1)
    assert conn.in_flight == -2
    assert conn.read_response() == (0, protocol.HEARTBEAT)
    conn.nop()
    conn.close()
    assert conn.read_response() == (0, b"CLOSE_WAIT")
    conn.close_stream()
    server.join()


def test_default_identify_fields():
    conn = None

    def script(p):
        assert p.recv(4) == protocol.MAGIC_V2
        assert_identify(p.command(), conn)
        p.send(0, b"OK")

    server = MockNsqd(script)
    conn = server.client()
    assert (conn.client_id, conn.hostname, conn.user_agent) == (SHORTNAME, HOSTNAME, USERAGENT)
    assert "gnsq" in conn.user_agent and conn.heartbeat_interval == 30000
    conn.connect()
    assert conn.identify() is None
    server.join()


def test_response_frame_and_heartbeat():
    def script(p):
        p.recv(4)
        p.send(0, b"hello")
        p.send(0, protocol.HEARTBEAT)
        assert p.command() == protocol.nop()

    server = MockNsqd(script)
    conn = server.client()
    seen = recorder(conn, "on_response", "on_error", "on_message")
    conn.connect()
    before = conn.last_response
    assert conn.read_response() == (protocol.FRAME_TYPE_RESPONSE, b"hello")
    assert conn.read_response() == (protocol.FRAME_TYPE_RESPONSE, protocol.HEARTBEAT)
    assert conn.last_response >= before
    assert seen == [("on_response", {"response": b"hello"}), ("on_response", {"response": protocol.HEARTBEAT})]
    server.join()
    assert conn.is_connected


@pytest.mark.parametrize("data,cls,fatal", [
    (b"E_INVALID cannot SUB in current state", errors.NSQInvalid, True),
    (b"E_BAD_BODY MPUB failed to read body size", errors.NSQBadBody, True),
    (b"E_BAD_TOPIC SUB topic name oh my god is not valid", errors.NSQBadTopic, True),
    (b"E_BAD_MESSAGE PUB failed to read message body", errors.NSQBadMessage, True),
    (b"E_PUB_FAILED PUB failed", errors.NSQPubFailed, True),
    (b"E_AUTH_FAILED AUTH failed", errors.NSQAuthFailed, True),
    (b"E_UNAUTHORIZED AUTH No authorizations found", errors.NSQUnauthorized, True),
    (b"E_FIN_FAILED FIN failed", errors.NSQFinishFailed, False),
    (b"E_REQ_FAILED REQ failed", errors.NSQRequeueFailed, False),
    (b"E_TOUCH_FAILED TOUCH failed", errors.NSQTouchFailed, False),
    (b"some unknown error", errors.NSQErrorCode, True),
])
def test_error_frames_are_returned(data, cls, fatal):
    def script(p):
        p.recv(4)
        p.send(1, data)
        if fatal:
            assert p.eof()
        else:
            assert p.command() == protocol.nop()

    server = MockNsqd(script)
    conn = server.client()
    seen = recorder(conn, "on_error", "on_close")
    conn.connect()
    frame, error = conn.read_response()
    assert frame == protocol.FRAME_TYPE_ERROR and type(error) is cls
    assert error.args == errors.make_error(data).args and all(isinstance(a, bytes) for a in error.args)
    assert seen[0] == ("on_error", {"error": error})
    assert conn.is_connected != fatal
    assert seen[1:] == ([("on_close", {})] if fatal else [])
    if not fatal:
        conn.nop()
    server.join()


def test_message_frame():
    def script(p):
        p.recv(4)
        p.sock.sendall(message_frame(123, 2, ID1, b"body"))
        assert p.command() == protocol.touch(ID1)
        assert p.command() == protocol.requeue(ID1, 5)

    server = MockNsqd(script)
    conn = server.client()
    seen = recorder(conn, "on_message", "on_requeue")
    conn.connect()
    frame, msg = conn.read_response()
    assert frame == protocol.FRAME_TYPE_MESSAGE and isinstance(msg, Message)
    assert seen == [("on_message", {"message": msg})]
    assert conn.in_flight == 1 and conn.is_starved
    msg.touch()
    msg.requeue(5, backoff=False)
    assert seen[1] == ("on_requeue", {"message_id": ID1, "timeout": 5, "backoff": False})
    assert conn.in_flight == 0
    with pytest.raises(errors.NSQException):
        msg.finish()
    server.join()


def test_identify_negotiation_and_error():
    def script(p):
        p.recv(4)
        p.command()
        p.send(0, json.dumps({"max_rdy_count": 100, "test": 42}).encode())

    server = MockNsqd(script)
    conn = server.client()
    seen = recorder(conn, "on_response")
    conn.connect()
    resp = conn.identify()
    assert resp["test"] == 42 and conn.max_ready_count == 100
    assert seen == [("on_response", {"response": json.dumps(resp).encode()})]
    with pytest.raises(ValueError):  # above max_rdy_count: refused, not sent (nsqd would close)
        conn.ready(101)
    assert conn.is_connected and conn.ready_count == 0
    server.join()

    def refuse(p):
        p.recv(4)
        p.command()
        p.send(1, b"E_BAD_BODY IDENTIFY failed")
        assert p.eof()

    server = MockNsqd(refuse)
    conn = server.client()
    seen = recorder(conn, "on_error", "on_close")
    conn.connect()
    with pytest.raises(errors.NSQBadBody) as e:
        conn.identify()
    assert e.value.args == (b"IDENTIFY failed",)
    assert [name for name, _ in seen] == ["on_error", "on_close"]
    assert conn.state == states.DISCONNECTED
    server.join()


def test_identify_with_auth_and_auth():
    def script(p):
        p.recv(4)
        p.command()
        p.send(0, json.dumps({"auth_required": True}).encode())
        assert p.command() == protocol.auth(b"secret")
        p.send(0, json.dumps({"identity": "awesome"}).encode())
        assert p.command() == protocol.auth(b"secret")
        p.send(0, json.dumps({"identity": "again"}).encode())

    server = MockNsqd(script)
    conn = server.client(auth_secret=b"secret")
    seen = recorder(conn, "on_auth")
    conn.connect()
    assert conn.identify()["auth_required"] is True
    assert seen == [("on_auth", {"response": {"identity": "awesome"}})]
    assert conn.auth() == {"identity": "again"}
    assert seen[1:] == [("on_auth", {"response": {"identity": "again"}})]
    server.join()


def test_listen_emits_signals_until_a_fatal_error():
    def script(p):
        p.recv(4)
        p.sock.sendall(frame(0, b"OK") + frame(1, b"E_FIN_FAILED nope") + message_frame(1, 1, ID1, b"m"))
        assert p.command() == protocol.finish(ID1)
        p.send(0, protocol.HEARTBEAT)  # the library answers it at once, on its own
        assert p.command() == protocol.nop()
        p.send(1, b"E_INVALID bye")
        assert p.eof()

    server = MockNsqd(script)
    conn = server.client()
    seen = recorder(conn, "on_response", "on_error", "on_message", "on_finish", "on_close")
    conn.on_message.connect(lambda c, message: message.finish(), weak=False)
    conn.connect()
    conn.listen()
    assert conn.state == states.DISCONNECTED
    names = [name for name, _ in seen]
    assert names == ["on_response", "on_error", "on_message", "on_finish", "on_response", "on_error", "on_close"]
    assert isinstance(seen[1][1]["error"], errors.NSQFinishFailed)
    assert seen[3][1] == {"message_id": ID1}
    assert isinstance(seen[5][1]["error"], errors.NSQInvalid)
    server.join()


def test_listen_again_after_a_receiver_raised():
    def script(p):
        p.recv(4)
        p.sock.sendall(message_frame(1, 1, ID1, b"boom") + message_frame(2, 1, ID2, b"fine"))
        assert p.command() == protocol.finish(ID2)
        p.send(1, b"E_INVALID bye")

    server = MockNsqd(script)
    conn = server.client()
    bodies = []

    @conn.on_message.connect
    def handle(c, message):
        bodies.append(message.body)
        if message.body == b"boom":
            raise RuntimeError("handler failed")
        message.finish()

    conn.connect()
    with pytest.raises(RuntimeError):
        conn.listen()
    assert conn.is_connected and bodies == [b"boom"]
    conn.listen()  # goes on with the frames already read
    assert bodies == [b"boom", b"fine"] and not conn.is_connected
    server.join()


def test_listen_raises_when_the_connection_drops():
    server = MockNsqd(lambda p: p.recv(4))
    conn = server.client()
    closed = recorder(conn, "on_close")
    conn.connect()
    with pytest.raises(errors.NSQSocketError):
        conn.listen()
    assert conn.state == states.DISCONNECTED and closed == [("on_close", {})]
    server.join()


def test_close_stream_ends_listen_from_another_thread():
    release = threading.Event()

    def script(p):
        p.recv(4)
        p.send(0, b"listening")
        release.wait(10)

    server = MockNsqd(script)
    conn = server.client()
    listening = threading.Event()
    conn.on_response.connect(lambda c, response: listening.set(), weak=False)
    conn.connect()
    listener = threading.Thread(target=conn.listen)
    listener.start()
    assert listening.wait(10)
    conn.close_stream()
    listener.join(10)
    assert not listener.is_alive() and conn.state == states.DISCONNECTED
    release.set()
    server.join()


def test_states_and_closed_client_errors():
    def script(p):
        assert p.recv(4) == protocol.MAGIC_V2
        assert p.eof()

    server = MockNsqd(script)
    conn = server.client()
    closed = recorder(conn, "on_close")
    assert conn.state == states.INIT and not conn.is_connected
    with pytest.raises(errors.NSQSocketError):  # not connected yet (gnsq: AttributeError 'stream')
        conn.nop()
    conn.connect()
    assert conn.state == states.CONNECTED
    conn.connect()
    assert conn.state == states.CONNECTED
    conn.close_stream()
    conn.close_stream()
    assert conn.state == states.DISCONNECTED and closed == [("on_close", {})]
    server.join()
    for call in (conn.nop, conn.read_response, conn.identify, lambda: conn.publish("t", b"x"),
                 lambda: conn.finish(ID1), lambda: conn.ready(1), conn.close):
        with pytest.raises(errors.NSQSocketError) as e:
            call()
        assert e.value.args[0] == 107  # ENOTCONN, as gnsq's stream
    conn.listen()  # returns at once
    with pytest.raises(errors.NSQException, match="already closed"):
        conn.connect()


def test_connect_failure_leaves_the_client_unconnected():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    conn = NsqdTCPClient("127.0.0.1", port)
    with pytest.raises(errors.NSQSocketError):
        conn.connect()
    assert conn.state == states.INIT


def test_local_argument_errors_come_before_io():
    conn = NsqdTCPClient()  # never connected: these fail before looking at the connection
    with pytest.raises(ValueError):
        conn.subscribe("bad topic", "ch")
    with pytest.raises(ValueError):
        conn.subscribe("topic", "bad/channel")
    with pytest.raises(ValueError):
        conn.publish("x" * 65, b"body")
    with pytest.raises(ValueError):
        conn.multipublish("no!", [b"a"])
    with pytest.raises(TypeError):
        conn.publish("topic", "a str")
    with pytest.raises(TypeError):
        conn.multipublish("topic", [b"a", "b"])
    with pytest.raises(TypeError):
        conn.ready("1")
    with pytest.raises(ValueError):
        conn.ready(-1)
    with pytest.raises(TypeError):
        conn.requeue(ID1, 1.5)
    with pytest.raises(ValueError):
        conn.finish(b"short")
    with pytest.raises(NotImplementedError):
        conn.send(protocol.nop())


def test_str_hash_eq_lt():
    a, b, c = NsqdTCPClient("localhost", 1337), NsqdTCPClient("localhost", 1337), NsqdTCPClient("localhost", 1338)
    assert str(a) == "localhost:1337"
    assert a == b and not (a < b) and not (b < a) and {a: 1}[b] == 1
    assert a != c and a < c and sorted([c, a]) == [a, c]
    assert a != "localhost:1337"


# -- mock nsqd, gevent: the server greenlet answers in the client's hub ------

GEVENT_SCRIPT = PEER + '''
import gevent
import json
import struct
import sys

import gevent.event
from gevent.server import StreamServer

import gnsq
from gnsq import protocol
from gnsq._nsqd_tcp import NsqdTCPClient

ID = b"0000000000000042"
done = gevent.event.AsyncResult()


def script(sock, address):
    try:
        p = Peer(sock)
        assert p.recv(4) == protocol.MAGIC_V2
        cmd = p.command()
        assert cmd.startswith(b"IDENTIFY\\n") and "gnsq" in json.loads(cmd[13:])["user_agent"]
        p.send(0, json.dumps({"max_rdy_count": 10}).encode())
        assert p.command() == protocol.subscribe("topic", "channel")
        p.send(0, b"OK")
        assert p.command() == protocol.publish("topic", b"sup")
        p.send(1, b"E_FIN_FAILED oops")
        assert p.command() == protocol.ready(1)
        p.sock.sendall(message_frame(5, 1, ID, b"read"))
        assert p.command() == protocol.finish(ID)
        p.sock.sendall(message_frame(6, 2, ID, b"listened"))
        assert p.command() == protocol.requeue(ID, 7)
        p.send(0, protocol.HEARTBEAT)
        assert p.command() == protocol.nop()
        assert p.command() == protocol.close()
        p.send(0, b"CLOSE_WAIT")
        done.set(True)
    except BaseException as e:
        done.set_exception(e)
    finally:
        sock.close()


server = StreamServer(("127.0.0.1", 0), script)
server.start()
conn = NsqdTCPClient("127.0.0.1", server.server_port)
assert "libgnsq" not in open("/proc/self/maps").read(), "the constructor loaded the library"
conn.connect()
assert conn.identify() == {"max_rdy_count": 10}
conn.subscribe("topic", "channel")
conn.check_ok()
conn.publish("topic", b"sup")
frame_type, error = conn.read_response()
assert isinstance(error, gnsq.errors.NSQFinishFailed) and conn.is_connected
conn.ready(1)
frame_type, msg = conn.read_response()
assert msg.body == b"read"
msg.finish()

bodies = []
ticks = []


def on_message(c, message):
    bodies.append(message.body)
    message.requeue(7)


def on_response(c, response):
    if response == protocol.HEARTBEAT:
        c.close()  # CLS; the server answers CLOSE_WAIT


def on_close_wait(c, response):
    if response == b"CLOSE_WAIT":
        c.close_stream()


conn.on_message.connect(on_message)
conn.on_response.connect(on_response)
conn.on_response.connect(on_close_wait)
listener = gevent.spawn(conn.listen)
while not listener.dead:  # the hub runs the listener, the server and this loop
    ticks.append(1)
    gevent.sleep(0.001)
listener.get()
assert done.get(timeout=10)
assert bodies == [b"listened"] and ticks
server.stop()
print("ok")
'''


def test_gevent_mock_server_in_the_same_hub():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", "import gevent\n" + GEVENT_SCRIPT],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.strip() == "ok", r.stderr


# -- a real nsqd --------------------------------------------------------------


def connected(nsqd, **kwargs):
    conn = NsqdTCPClient("127.0.0.1", nsqd.tcp_port, **kwargs)
    conn.connect()
    return conn


def test_live_publish_subscribe_finish_requeue(nsqd, topic):
    conn = connected(nsqd)
    resp = conn.identify()
    assert resp["max_rdy_count"] == conn.max_ready_count == 2500
    conn.publish(topic, b"one")
    assert conn.read_response() == (0, b"OK")
    conn.multipublish(topic, [b"two", b"three"])
    conn.check_ok()
    conn.subscribe(topic, "ch")
    conn.check_ok()
    seen = recorder(conn, "on_finish", "on_requeue")
    conn.ready(3)
    msgs = [conn.read_response()[1] for _ in range(3)]
    assert [m.body for m in msgs] == [b"one", b"two", b"three"] and conn.in_flight == 3
    assert all(m.attempts == 1 and len(m.id) == 16 for m in msgs)
    msgs[0].finish()
    msgs[1].touch()
    msgs[1].requeue(0, backoff=True)
    assert seen == [("on_finish", {"message_id": msgs[0].id}),
                    ("on_requeue", {"message_id": msgs[1].id, "timeout": 0, "backoff": True})]
    frame, again = conn.read_response()
    assert (frame, again.body, again.attempts) == (2, b"two", 2)
    conn.finish(again.id)
    conn.finish(msgs[2].id)
    wait_until(lambda: nsqd.in_flight(topic, "ch") == 0, what="FINs applied")
    assert conn.in_flight == 0
    conn.close_stream()


def test_live_listen(nsqd, topic):
    pub = connected(nsqd)
    pub.identify()
    pub.multipublish(topic, [b"%d" % i for i in range(20)])
    pub.check_ok()
    conn = connected(nsqd)
    conn.identify()
    conn.subscribe(topic, "ch")
    conn.check_ok()
    bodies = []

    @conn.on_message.connect
    def handle(c, message):
        bodies.append(message.body)
        message.finish()
        if len(bodies) == 20:
            c.close()  # CLS; nsqd answers CLOSE_WAIT

    @conn.on_response.connect
    def close_wait(c, response):
        if response == b"CLOSE_WAIT":
            c.close_stream()

    conn.ready(5)
    conn.listen()
    assert sorted(bodies, key=int) == [b"%d" % i for i in range(20)]
    assert conn.state == states.DISCONNECTED
    wait_until(lambda: nsqd.depth(topic, "ch") == 0 and nsqd.in_flight(topic, "ch") == 0, what="all finished")
    pub.close_stream()


def test_live_finish_then_close_stream_delivers_the_fins(nsqd, topic):
    for _ in range(10):  # one lost FIN is likely in each round
        conn = connected(nsqd)
        conn.publish(topic, b"m")
        conn.check_ok()
        conn.subscribe(topic, "ch")
        conn.check_ok()
        conn.ready(1)
        conn.read_response()[1].finish()
        conn.close_stream()
    wait_until(lambda: nsqd.in_flight(topic, "ch") == 0, timeout=2, what="the FINs to reach nsqd")


@pytest.mark.parametrize("call,cls,fatal", [
    (lambda c, t: c.close(), errors.NSQInvalid, True),
    (lambda c, t: c.publish(t, b""), errors.NSQBadMessage, True),
    (lambda c, t: c.multipublish(t, []), errors.NSQBadBody, True),
    (lambda c, t: c.finish(ID1), errors.NSQFinishFailed, False),
])
def test_live_error_frames(nsqd, topic, call, cls, fatal):
    conn = connected(nsqd)
    conn.identify()
    if cls is errors.NSQFinishFailed:
        conn.subscribe(topic, "ch")
        conn.check_ok()
    call(conn, topic)
    frame, error = conn.read_response()
    assert frame == protocol.FRAME_TYPE_ERROR and type(error) is cls
    assert len(error.args) == 1 and isinstance(error.args[0], bytes)
    assert conn.is_connected != fatal
    if fatal:
        with pytest.raises(errors.NSQSocketError):
            conn.publish(topic, b"x")
    else:
        conn.nop()
        conn.publish(topic, b"still up")
        conn.check_ok()
        conn.close_stream()


def test_live_local_errors_keep_the_connection(nsqd, topic):
    conn = connected(nsqd)
    conn.identify()
    with pytest.raises(ValueError):
        conn.publish("bad topic!", b"x")
    with pytest.raises(TypeError):
        conn.publish(topic, "not bytes")
    with pytest.raises(ValueError):
        conn.ready(2501)
    with pytest.raises(ValueError):
        conn.publish(topic, b"x", defer=-1)
    conn.publish(topic, b"x")
    assert conn.read_response() == (0, b"OK")
    assert nsqd.depth(topic) == 1
    conn.close_stream()


def test_live_bodies_larger_than_the_poll_buffer(nsqd, topic):
    big = os.urandom(600 * 1024)
    conn = connected(nsqd)
    conn.identify()
    conn.multipublish(topic, [big, big[::-1]])
    conn.check_ok()
    conn.subscribe(topic, "ch")
    conn.check_ok()
    conn.ready(2)
    first = conn.read_response()[1]  # a step's held answer
    assert first.body == big
    first.finish()
    received = []

    @conn.on_message.connect
    def handle(c, message):  # a held MESSAGE event
        received.append(message.body)
        message.finish()
        c.close()

    conn.on_response.connect(lambda c, response: c.close_stream(), weak=False)
    conn.listen()
    assert received == [big[::-1]]


@pytest.mark.parametrize("option", ["deflate", "snappy"])
def test_live_compression(nsqd, topic, option):
    conn = connected(nsqd, **{option: True})
    resp = conn.identify()
    assert resp[option] is True
    conn.publish(topic, b"z" * 5000)
    conn.check_ok()
    conn.subscribe(topic, "ch")
    conn.check_ok()
    conn.ready(1)
    assert conn.read_response()[1].body == b"z" * 5000
    conn.close_stream()


def test_live_identify_error_closes(nsqd):
    conn = connected(nsqd, heartbeat_interval=120, timeout=200)  # above nsqd's max (60 s)
    closed = recorder(conn, "on_close")
    with pytest.raises(errors.NSQBadBody):
        conn.identify()
    assert conn.state == states.DISCONNECTED and closed == [("on_close", {})]
