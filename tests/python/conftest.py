"""Fixtures: real nsqd and nsqlookupd (the pinned v1.3.0 that build.sh puts
in $GNSQ_BIN_DIR, default build/bin) on 127.0.0.1, ports chosen free at
test time, stopped by pid, and killed with the test process (PDEATHSIG)
if pytest itself is killed."""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("GNSQ_BIN_DIR") or os.path.join(ROOT, "build", "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def wait_until(cond, timeout=10.0, what="condition"):
    """Polls cond() until it is true; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.005)


class Server:
    """One nsqd or nsqlookupd process."""

    def __init__(self, name, flags=()):
        self.name = name
        self.tcp_port, self.http_port = free_port(), free_port()
        self.data = tempfile.mkdtemp(prefix=name + "-")
        args = [os.path.join(BIN_DIR, name), "--tcp-address=127.0.0.1:%d" % self.tcp_port,
                "--http-address=127.0.0.1:%d" % self.http_port, "--broadcast-address=127.0.0.1",
                "--log-level=warn"]
        if name == "nsqd":
            args.append("--data-path=" + self.data)
        self.proc = subprocess.Popen(args + list(flags), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.http("/ping") == b"OK":
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s did not start: %s" % (name, self.proc.stderr.read().decode()))
            time.sleep(0.01)

    @property
    def tcp_address(self):
        return "127.0.0.1:%d" % self.tcp_port

    @property
    def http_address(self):
        return "127.0.0.1:%d" % self.http_port

    def http(self, path, data=None):
        """GET (or POST data to) path on the server's HTTP port; the body."""
        with urllib.request.urlopen("http://%s%s" % (self.http_address, path), data=data, timeout=5) as r:
            return r.read()

    def stats(self, topic):
        """nsqd's stats of topic (a dict), or None before the topic exists."""
        topics = json.loads(self.http("/stats?format=json&topic=" + topic))["topics"]
        return next((t for t in topics if t["topic_name"] == topic), None)

    def depth(self, topic, channel=None):
        """Messages waiting in topic (or in its channel), 0 if absent."""
        t = self.stats(topic)
        if t is None:
            return 0
        if channel is None:
            return t["depth"]
        c = next((c for c in t["channels"] if c["channel_name"] == channel), None)
        return 0 if c is None else c["depth"]

    def in_flight(self, topic, channel):
        t = self.stats(topic)
        c = t and next((c for c in t["channels"] if c["channel_name"] == channel), None)
        return 0 if c is None else c["in_flight_count"]

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def nsqd():
    s = Server("nsqd")
    yield s
    s.stop()


@pytest.fixture
def nsqd2():
    s = Server("nsqd")
    yield s
    s.stop()


@pytest.fixture
def start_nsqd():
    """A factory for nsqd with extra flags; all stopped at the end."""
    started = []

    def start(*flags):
        s = Server("nsqd", flags)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def lookupd():
    s = Server("nsqlookupd")
    yield s
    s.stop()


@pytest.fixture
def topic(request):
    """A topic name unique to the test."""
    return ("t%d_%s" % (os.getpid(), re.sub(r"[^.a-zA-Z0-9_-]", "_", request.node.name)))[:64]


class AuthServer:
    """nsqd's --auth-http-address: grants `topics` (a regex) to `secret`."""

    def __init__(self, secret, topics=".*"):
        import http.server
        import threading
        import urllib.parse

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
                if query.get("secret") != secret:
                    self.send_error(403)
                    return
                body = json.dumps({"ttl": 3600, "identity": "tester", "identity_url": "",
                                   "authorizations": [{"topic": outer.topics, "channels": [".*"],
                                                       "permissions": ["subscribe", "publish"]}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.topics = topics
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def auth_nsqd():
    """(nsqd requiring AUTH, its AuthServer with secret b'letmein')."""
    auth = AuthServer("letmein")
    s = Server("nsqd", ["--auth-http-address=" + auth.address])
    yield s, auth
    s.stop()
    auth.stop()


def pytest_runtest_teardown(item):
    # the package picks gevent once gevent is imported: tests of gevent run it in a subprocess
    assert "gevent" not in sys.modules, "%s imported gevent into the pytest process" % item.nodeid
