"""gnsq's HTTP clients (NsqdHTTPClient, LookupdClient, deprecated Lookupd)
against real nsqd/nsqlookupd: every method's return type and value, errors,
from_url, the closed client, threads, and gevent (in a subprocess, since the
runtime is chosen once gevent is imported)."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import wait_until
from gnsq import httpclient
from gnsq._nsqd_http import NsqdHTTPClient
from gnsq.errors import NSQException, NSQHttpError, NSQSocketError
from gnsq.lookupd import Lookupd, LookupdClient


def dead_port():
    """A port nobody listens on: a request there is a connection error."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def blackhole():
    """A server that accepts connections and never answers: its (host, port)
    and an Event set once it accepted one."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    accepted = threading.Event()
    conns = []

    def accept():
        try:
            while True:
                conns.append(srv.accept()[0])
                accepted.set()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    yield srv.getsockname(), accepted
    srv.shutdown(socket.SHUT_RDWR)  # ends the accept()
    srv.close()
    for c in conns:
        c.close()


@pytest.fixture
def client(nsqd):
    with NsqdHTTPClient.from_url(nsqd.http_address) as c:
        yield c


def topic_stats(client, topic):
    return next(t for t in client.stats(topic=topic)["topics"] if t["topic_name"] == topic)


def channel_stats(client, topic, channel):
    return next(c for c in topic_stats(client, topic)["channels"] if c["channel_name"] == channel)


# ---- NsqdHTTPClient -------------------------------------------------------


def test_nsqd_ping_info_stats(client, nsqd, topic):
    assert client.ping() == b"OK"
    info = client.info()
    assert type(info) is dict and info["version"] == "1.3.0" and info["http_port"] == nsqd.http_port
    assert client.create_topic(topic) == b""
    assert client.create_channel(topic, "ch") == b""
    stats = client.stats()
    assert type(stats) is dict and topic in [t["topic_name"] for t in stats["topics"]]
    assert [t["topic_name"] for t in client.stats(topic=topic)["topics"]] == [topic]
    assert [c["channel_name"] for c in client.stats(topic, "ch")["topics"][0]["channels"]] == ["ch"]
    text = client.stats(text=True)
    assert type(text) is bytes and topic.encode() in text
    assert b"ch" in client.stats(topic, "ch", text=True)


def test_nsqd_publish_and_multipublish(client, nsqd, topic):
    client.create_topic(topic)
    client.create_channel(topic, "ch")
    assert client.publish(topic, b"one") == b"OK"
    assert client.publish(topic, bytearray(b"two")) == b"OK"
    assert client.multipublish(topic, iter([b"a", b"b", b"c"])) == b"OK"  # text mode takes any iterable
    assert client.multipublish(topic, [b"with\nnewline", b"\x00\xff"], binary=True) == b"OK"
    wait_until(lambda: channel_stats(client, topic, "ch")["depth"] == 7, what="7 messages")
    assert topic_stats(client, topic)["message_count"] == 7

    assert client.publish(topic, b"later", defer=60000) == b"OK"
    wait_until(lambda: channel_stats(client, topic, "ch")["deferred_count"] == 1, what="deferred message")
    assert channel_stats(client, topic, "ch")["depth"] == 7


def test_nsqd_topic_and_channel_operations(client, nsqd, topic):
    assert client.create_topic(topic) == b""
    assert client.create_channel(topic, "ch") == b""
    client.publish(topic, b"x")
    assert client.pause_topic(topic) == b""
    assert topic_stats(client, topic)["paused"] is True
    assert client.unpause_topic(topic) == b""
    assert topic_stats(client, topic)["paused"] is False
    assert client.pause_channel(topic, "ch") == b""
    assert channel_stats(client, topic, "ch")["paused"] is True
    assert client.unpause_channel(topic, "ch") == b""
    assert channel_stats(client, topic, "ch")["paused"] is False
    wait_until(lambda: channel_stats(client, topic, "ch")["depth"] == 1, what="message in channel")
    assert client.empty_channel(topic, "ch") == b""
    assert channel_stats(client, topic, "ch")["depth"] == 0

    assert client.delete_channel(topic, "ch") == b""
    assert topic_stats(client, topic)["channels"] == []
    client.pause_topic(topic)  # messages stay at the topic
    client.publish(topic, b"y")
    assert topic_stats(client, topic)["depth"] == 1
    assert client.empty_topic(topic) == b""
    assert topic_stats(client, topic)["depth"] == 0
    assert client.delete_topic(topic) == b""
    assert not client.stats(topic=topic)["topics"]  # nsqd says null


@pytest.mark.parametrize("call", [
    lambda c: c.empty_topic("missing"),
    lambda c: c.delete_topic("missing"),
    lambda c: c.pause_topic("missing"),
    lambda c: c.create_channel("missing", "ch"),
    lambda c: c.empty_channel("missing", "ch"),
])
def test_nsqd_http_errors_keep_the_status_and_the_reason(client, call):
    with pytest.raises(NSQHttpError, match=r"^http error <404>: TOPIC_NOT_FOUND$"):
        call(client)


def test_nsqd_empty_body_is_a_400(client, topic):
    with pytest.raises(NSQHttpError, match=r"^http error <400>: MSG_EMPTY$"):
        client.publish(topic, b"")


BAD_NAME_CALLS = [
    ("publish", ("bad topic", b"x")), ("multipublish", ("bad topic", [b"x"])), ("create_topic", ("",)),
    ("delete_topic", ("a" * 65,)), ("empty_topic", ("bad/topic",)), ("pause_topic", ("bad topic",)),
    ("unpause_topic", ("bad topic",)), ("create_channel", ("t", "bad channel")),
    ("delete_channel", ("bad topic", "ch")), ("empty_channel", ("t", "")), ("pause_channel", ("t", "bad channel")),
    ("unpause_channel", ("t", "bad channel")), ("stats", ("bad topic",)), ("stats", ("t", "bad channel")),
]


@pytest.mark.parametrize("method,args", BAD_NAME_CALLS)
def test_nsqd_invalid_names_are_refused_before_any_io(method, args):
    client = NsqdHTTPClient("127.0.0.1", dead_port())  # any I/O would be an NSQSocketError
    with pytest.raises(ValueError, match="^invalid (topic|channel) name$"):
        getattr(client, method)(*args)


@pytest.mark.parametrize("call", [
    lambda c: c.publish("t", "text"),
    lambda c: c.publish("t", None),
    lambda c: c.multipublish("t", [b"ok", "text"]),
    lambda c: c.multipublish("t", ["text"], binary=True),
])
def test_nsqd_bodies_must_be_bytes(call):
    with pytest.raises(TypeError, match="byte string"):
        call(NsqdHTTPClient("127.0.0.1", dead_port()))


def test_nsqd_text_multipublish_refuses_newlines():
    with pytest.raises(NSQException, match="newline") as e:
        NsqdHTTPClient("127.0.0.1", dead_port()).multipublish("t", [b"a", b"b\nc"])
    assert not isinstance(e.value, ValueError)


def test_answers_larger_than_the_buffer_come_back_whole(client, nsqd):
    names = {"big%03d_%s" % (i, "x" * 57) for i in range(400)}
    for name in names:
        client.create_topic(name)
    stats = client.stats()
    assert len(json.dumps(stats)) > httpclient.BUFFER_SIZE
    assert {t["topic_name"] for t in stats["topics"]} == names


def test_one_client_from_many_threads(client, topic):
    errors = []

    def work(k):
        try:
            name = "%s_%d" % (topic[:50], k)
            for i in range(25):
                assert client.publish(name, b"%d" % i) == b"OK"
                assert topic_stats(client, name)["message_count"] == i + 1
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ---- LookupdClient and Lookupd --------------------------------------------


def test_lookupd_methods(lookupd, start_nsqd, topic):
    nsqd = start_nsqd("--lookupd-tcp-address=" + lookupd.tcp_address)
    nsqd_client = NsqdHTTPClient.from_url(nsqd.http_address)
    nsqd_client.create_topic(topic)
    nsqd_client.create_channel(topic, "ch")
    c = LookupdClient.from_url("http://%s/" % lookupd.http_address)
    assert c.ping() == b"OK"
    assert c.info() == {"version": "1.3.0"}
    wait_until(lambda: topic in c.topics()["topics"], what="nsqd registering its topic")
    wait_until(lambda: c.channels(topic) == {"channels": ["ch"]}, what="nsqd registering its channel")

    found = c.lookup(topic)
    assert found["channels"] == ["ch"]
    (producer,) = found["producers"]
    assert {"broadcast_address", "tcp_port", "http_port", "hostname", "remote_address", "version"} <= set(producer)
    assert (producer["tcp_port"], producer["http_port"]) == (nsqd.tcp_port, nsqd.http_port)
    (node,) = c.nodes()["producers"]
    assert node["http_port"] == nsqd.http_port and topic in node["topics"]

    assert c.create_topic("registry_only") == b""
    assert c.create_channel("registry_only", "c2") == b""
    assert c.channels("registry_only") == {"channels": ["c2"]}
    assert c.delete_channel("registry_only", "c2") == b""
    assert c.channels("registry_only") == {"channels": []}
    assert c.delete_topic("registry_only") == b""
    assert "registry_only" not in c.topics()["topics"]

    assert c.tombstone_topic(topic, "127.0.0.1:%d" % nsqd.http_port) == b""
    assert c.lookup(topic)["producers"] == []
    with pytest.raises(ValueError, match="host:http_port"):
        c.tombstone_topic(topic, "no-port")


def test_lookupd_errors(lookupd):
    c = LookupdClient("127.0.0.1", lookupd.http_port)
    with pytest.raises(NSQHttpError, match=r"^http error <404>: TOPIC_NOT_FOUND$"):
        c.lookup("unknown")
    with pytest.raises(NSQHttpError, match=r"^http error <404>: CHANNEL_NOT_FOUND$"):
        c.delete_channel("unknown", "ch")
    dead = LookupdClient("127.0.0.1", dead_port())
    for call in (lambda: dead.lookup("bad topic"), lambda: dead.channels(""), lambda: dead.create_topic("a/b"),
                 lambda: dead.delete_topic("bad topic"), lambda: dead.create_channel("t", "bad channel"),
                 lambda: dead.delete_channel("bad topic", "c"), lambda: dead.tombstone_topic("bad topic", "h:1")):
        with pytest.raises(ValueError, match="^invalid (topic|channel) name$"):
            call()


def test_deprecated_lookupd(lookupd):
    with pytest.warns(DeprecationWarning):
        c = Lookupd("http://%s/" % lookupd.http_address)
    assert isinstance(c, LookupdClient)
    assert c.ping() == b"OK"
    with pytest.warns(DeprecationWarning):
        assert c.base_url == "http://%s/" % lookupd.http_address
    c.create_topic("t")
    with pytest.warns(DeprecationWarning):
        assert c.tombstone_topic_producer("t", "127.0.0.1:1") == b""
    with pytest.warns(DeprecationWarning):
        assert Lookupd().address == "http://localhost:4161/"
    with pytest.warns(DeprecationWarning):
        assert Lookupd("https://h").address == "https://h:4161/"


# ---- construction, from_url, properties -----------------------------------


@pytest.mark.parametrize("cls,url,scheme,host,port", [
    (NsqdHTTPClient, "http://h:1234", "http", "h", 1234),
    (NsqdHTTPClient, "h:1234", "http", "h", 1234),
    (NsqdHTTPClient, "h", "http", "h", 4151),
    (NsqdHTTPClient, "https://h", "https", "h", 4151),
    (NsqdHTTPClient, "http://h:1234/path?q=1", "http", "h", 1234),
    (NsqdHTTPClient, "http://[::1]:1234/", "http", "::1", 1234),
    (LookupdClient, "https://h.example:99/x", "https", "h.example", 99),
    (LookupdClient, "h", "http", "h", 4161),
])
def test_from_url(cls, url, scheme, host, port):
    c = cls.from_url(url)
    assert type(c) is cls
    assert (c.scheme, c.host, c.port) == (scheme, host, port)
    shown = "[%s]" % host if ":" in host else host
    assert c.address == "%s://%s:%d/" % (scheme, shown, port)
    assert repr(c) == "<%s '%s'>" % (cls.__name__, c.address)


def test_constructor_and_properties():
    c = NsqdHTTPClient()
    assert repr(c) == "<NsqdHTTPClient 'http://localhost:4151/'>"
    assert repr(LookupdClient("127.0.0.1")) == "<LookupdClient 'http://127.0.0.1:4161/'>"
    for attr in ("scheme", "host", "port", "address"):
        with pytest.raises(AttributeError):
            setattr(c, attr, "x")

    class HTTPSConnectionPool:
        pass

    class HTTPConnectionPool:
        pass

    assert NsqdHTTPClient("h", connection_class=HTTPSConnectionPool).scheme == "https"
    assert NsqdHTTPClient("h", connection_class="HTTPSConnectionPool").scheme == "https"
    assert NsqdHTTPClient("h", connection_class=HTTPConnectionPool).scheme == "http"
    assert NsqdHTTPClient.from_url("https://h", connection_class=HTTPConnectionPool).scheme == "http"
    assert NsqdHTTPClient("h", 1, useragent="me/1", timeout=2.5).port == 1
    assert httpclient.USERAGENT.startswith("gnsq/1.0.2")
    with pytest.raises(TypeError, match="maxsize"):
        NsqdHTTPClient("h", maxsize=3)
    with pytest.raises(ValueError):
        NsqdHTTPClient("h", timeout=0)
    with pytest.raises(ValueError):
        NsqdHTTPClient.from_url("ftp://h")


def test_constructing_and_inspecting_clients_does_not_load_the_library():
    r = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import warnings
        from gnsq._nsqd_http import NsqdHTTPClient
        from gnsq.lookupd import Lookupd, LookupdClient
        warnings.simplefilter('ignore')
        clients = [NsqdHTTPClient(), NsqdHTTPClient.from_url('https://h:1'), LookupdClient.from_url('h'), Lookupd()]
        [(repr(c), c.address, c.scheme, c.host, c.port) for c in clients]
        clients[0].close()
        assert 'libgnsq' not in open('/proc/self/maps').read(), 'loaded'
        print('ok')
    """)], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "ok", r.stderr


# ---- closing, timeouts, connection errors ----------------------------------

NSQD_CALLS = [
    ("publish", ("t", b"x")), ("multipublish", ("t", [b"x"])), ("create_topic", ("t",)), ("delete_topic", ("t",)),
    ("empty_topic", ("t",)), ("pause_topic", ("t",)), ("unpause_topic", ("t",)), ("create_channel", ("t", "c")),
    ("delete_channel", ("t", "c")), ("empty_channel", ("t", "c")), ("pause_channel", ("t", "c")),
    ("unpause_channel", ("t", "c")), ("stats", ()), ("ping", ()), ("info", ()),
]
LOOKUPD_CALLS = [
    ("lookup", ("t",)), ("topics", ()), ("channels", ("t",)), ("nodes", ()), ("create_topic", ("t",)),
    ("delete_topic", ("t",)), ("create_channel", ("t", "c")), ("delete_channel", ("t", "c")),
    ("tombstone_topic", ("t", "h:1")), ("ping", ()), ("info", ()),
]


@pytest.mark.parametrize("used", [False, True])
def test_every_method_of_a_closed_client_raises(nsqd, lookupd, used):
    for c, calls in ((NsqdHTTPClient.from_url(nsqd.http_address), NSQD_CALLS),
                     (LookupdClient.from_url(lookupd.http_address), LOOKUPD_CALLS)):
        if used:
            assert c.ping() == b"OK"
        c.close()
        c.close()  # idempotent
        for method, args in calls:
            with pytest.raises(NSQException, match="^<%s '%s'> is closed$" % (type(c).__name__, c.address)):
                getattr(c, method)(*args)


def test_close_ends_a_pending_request(blackhole):
    address, accepted = blackhole
    c = NsqdHTTPClient(*address, timeout=30)
    outcome = []

    def ping():
        try:
            c.ping()
        except NSQException as e:
            outcome.append(str(e))

    t = threading.Thread(target=ping)
    started = time.monotonic()
    t.start()
    assert accepted.wait(10)
    with c:
        pass  # the context manager closes it
    t.join(10)
    assert time.monotonic() - started < 10
    assert outcome == ["%r is closed" % c]


def test_timeout_and_connection_errors(blackhole):
    c = NsqdHTTPClient(*blackhole[0], timeout=0.2)
    started = time.monotonic()
    with pytest.raises(NSQSocketError):
        c.ping()
    assert 0.15 < time.monotonic() - started < 5
    with pytest.raises(NSQSocketError):
        NsqdHTTPClient("127.0.0.1", dead_port()).info()
    with pytest.raises(NSQSocketError):
        LookupdClient("127.0.0.1", dead_port()).topics()


# ---- gevent ------------------------------------------------------------------

GEVENT_SCRIPT = """
import gevent  # first: the clients then use gevent's runtime
import json, socket, sys, time
from gnsq import httpclient
from gnsq._nsqd_http import NsqdHTTPClient
from gnsq.errors import NSQException, NSQHttpError, NSQSocketError

ticks = [0]
def ticker():
    while True:
        ticks[0] += 1
        gevent.sleep(0.001)
gevent.spawn(ticker)

def ticks_during(fn):
    before = ticks[0]
    fn()
    return ticks[0] - before

out = {}
c = NsqdHTTPClient.from_url(sys.argv[1])
assert c.ping() == b"OK" and c._runtime.green

# many greenlets share the client (and its notify fd); each gets its own answers
names = ["g%03d_%s" % (i, "x" * 58) for i in range(400)]
def worker(k):
    for i, name in enumerate(names[k::20]):
        assert c.create_topic(name) == b""
        assert c.publish(name, name.encode()) == b"OK"
        (t,) = c.stats(topic=name)["topics"]
        assert (t["topic_name"], t["message_count"]) == (name, 1), t
gevent.joinall([gevent.spawn(worker, k) for k in range(20)], raise_error=True)
try:
    c.empty_topic("missing")
except NSQHttpError as e:
    out["error"] = str(e)

# an answer larger than the poll buffer
stats = c.stats()
out["big"] = len(json.dumps(stats)) > httpclient.BUFFER_SIZE
out["all_topics"] = {t["topic_name"] for t in stats["topics"]} == set(names)

# a request waiting for an answer lets the other greenlets run
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)  # never accepted: connections wait in the backlog, unanswered
slow = NsqdHTTPClient(*srv.getsockname(), timeout=0.5)
def timed_out():
    try:
        slow.ping()
    except NSQSocketError:
        return
    raise AssertionError("no timeout")
out["ticks_during_wait"] = ticks_during(timed_out)

# the greenlet polling for everyone gives up (gevent.Timeout): another one takes over
def gives_up():
    try:
        with gevent.Timeout(0.1):
            slow.ping()
    except gevent.Timeout:
        return "gave up"
def waits():
    try:
        slow.ping()
    except NSQSocketError:
        return "timed out"
g1, g2 = gevent.spawn(gives_up), gevent.spawn(waits)
gevent.joinall([g1, g2], timeout=20)
out["hand_off"] = [g1.value, g2.value]
while slow._abandoned:  # the abandoned request's event still comes, and is dropped
    gevent.spawn(timed_out).join()
out["leftovers"] = [len(slow._done), len(slow._sleepers), slow._polling]

# close() ends pending requests
pending = NsqdHTTPClient(*srv.getsockname(), timeout=30)
def closed():
    try:
        pending.info()
    except NSQException as e:
        return str(e)
g = gevent.spawn(closed)
while not pending._polling:
    gevent.sleep(0.001)
started = time.monotonic()
pending.close()
out["closed"] = g.get(timeout=10)
out["close_took"] = time.monotonic() - started
print(json.dumps(out))
"""


def test_gevent_requests_do_not_block_other_greenlets(nsqd):
    r = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT, nsqd.http_address], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["error"] == "http error <404>: TOPIC_NOT_FOUND"
    assert out["big"] and out["all_topics"]
    assert out["ticks_during_wait"] > 20  # ~0.5 s of 1 ms ticks; a blocked hub gives 0
    assert out["hand_off"] == ["gave up", "timed out"]
    assert out["leftovers"] == [0, 0, False]
    assert out["closed"].endswith("is closed") and out["close_took"] < 5


def test_requests_send_the_user_agent_and_gnsqs_accept_header():
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.headers["User-Agent"], self.headers["Accept"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert NsqdHTTPClient("127.0.0.1", port).ping() == b"OK"
        assert LookupdClient("127.0.0.1", port, useragent="me/1").ping() == b"OK"
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [(httpclient.USERAGENT, "application/vnd.nsq; version=1.0"), ("me/1", "application/vnd.nsq; version=1.0")]
