"""gnsq.contrib handlers and the deprecated aliases (Reader, Nsqd), against
live nsqd where they talk to it."""
import io
import json
import threading
import warnings

import pytest
from conftest import wait_until

import gnsq
from gnsq.contrib.batch import BatchHandler
from gnsq.contrib.giveup import JSONLogGiveupHandler, LogGiveupHandler, NsqdGiveupHandler
from gnsq.contrib.queue import ChannelHandler, QueueHandler
from gnsq.contrib.sentry import SentryExceptionHandler


def publish(nsqd, topic, bodies):
    p = gnsq.Producer(nsqd.tcp_address)
    p.start()
    p.multipublish(topic, list(bodies))
    p.close()


def test_batch_handler_flushes_full_batches_and_finishes_them(nsqd, topic):
    publish(nsqd, topic, [b"%d" % i for i in range(40)])
    batches = []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=50)
    c.on_message.connect(BatchHandler(10, handle_batch=batches.append, handle_message=lambda message: message.body,
                                      timeout=0.5), weak=False)
    c.start(block=False)
    try:
        wait_until(lambda: sum(map(len, batches)) == 40 and nsqd.in_flight(topic, "ch") == 0)
    finally:
        c.close()
    # the first message comes alone (a new connection has RDY 1 until its first FIN: starved)
    assert all(len(b) <= 10 for b in batches) and any(len(b) == 10 for b in batches)
    assert sorted(int(x) for b in batches for x in b) == list(range(40))
    assert nsqd.depth(topic, "ch") == 0


def test_batch_handler_flushes_when_the_consumer_is_starved(nsqd, topic):
    # max_in_flight below the batch size: the batch never fills, the consumer starves
    publish(nsqd, topic, [b"%d" % i for i in range(12)])
    batches = []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=4)
    c.on_message.connect(BatchHandler(100, handle_batch=batches.append, timeout=1), weak=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        c.start(block=False)
        try:
            wait_until(lambda: sum(map(len, batches)) == 12 and nsqd.in_flight(topic, "ch") == 0, 20)
        finally:
            c.close()
    assert all(len(b) <= 4 for b in batches)
    # (a last few messages, too few to starve the consumer, may wait for the timeout)
    assert any("starved" in str(w.message) for w in caught)


def test_batch_handler_requeues_failed_messages_and_failed_batches(nsqd, topic):
    publish(nsqd, topic, [b"good", b"bad"])
    seen, message_errors, batch_errors = [], [], []

    def handle_message(message):
        seen.append((message.body, message.attempts))
        if message.body == b"bad" and message.attempts == 1:
            raise ValueError("bad message")
        return message.body

    def handle_batch(batch):
        if batch == [b"good"] and not batch_errors:
            raise RuntimeError("first batch fails")

    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=10, max_backoff_duration=0)
    c.on_message.connect(BatchHandler(
        1, handle_batch=handle_batch, handle_message=handle_message,
        handle_message_error=lambda error, message: message_errors.append((str(error), message.body)),
        handle_batch_error=lambda error, messages, batch: batch_errors.append((str(error), batch))), weak=False)
    c.start(block=False)
    try:
        wait_until(lambda: (b"good", 2) in seen and (b"bad", 2) in seen and nsqd.in_flight(topic, "ch") == 0
                   and nsqd.depth(topic, "ch") == 0)
    finally:
        c.close()
    assert message_errors == [("bad message", b"bad")]
    assert batch_errors == [("first batch fails", [b"good"])]


def test_queue_handler_iterates_messages(nsqd, topic):
    publish(nsqd, topic, [b"a", b"b", b"c"])
    queue = QueueHandler()
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=10)
    c.on_message.connect(queue)  # gnsq's documented use: the consumer holds the handler weakly
    c.start(block=False)
    got = []
    try:
        for message in queue:
            got.append(message.body)
            assert message.is_async()
            message.finish()
            if len(got) == 3:
                break
        assert queue.empty() and queue.qsize() == 0
        wait_until(lambda: nsqd.in_flight(topic, "ch") == 0)
    finally:
        c.close()
    assert sorted(got) == [b"a", b"b", b"c"]


def test_queue_and_channel_handler_queue_methods():
    q = QueueHandler(maxsize=1)
    m = gnsq.Message(0, 1, b"0" * 16, b"body")
    q(None, m)
    assert m.is_async() and q.full() and q.peek() is m and q.peek_nowait() is m and q.get_nowait() is m
    channel = ChannelHandler()
    t = threading.Thread(target=channel, args=(None, m))
    t.start()
    assert channel.get(timeout=5) is m
    t.join(5)


def test_giveup_handlers_write_the_message(nsqd, topic):
    m = gnsq.Message(1600000000000000000, 6, b"0123456789abcdef", b"body \xff")
    out = io.StringIO()
    LogGiveupHandler(out.write)(None, m)
    assert out.getvalue() == "body \\xff\n"
    out = io.StringIO()
    JSONLogGiveupHandler(out.write)(None, m)
    assert json.loads(out.getvalue()) == {"timestamp": 1600000000000000000, "attempts": 6, "id": "0123456789abcdef",
                                          "body": "body \\xff"}
    handler = NsqdGiveupHandler(topic + ".__BURY__", [nsqd.http_address], nsqd_class=gnsq.NsqdHTTPClient.from_url)
    handler(None, m)
    handler(None, m)
    assert nsqd.depth(topic + ".__BURY__") == 2


def test_giveup_handler_on_a_consumer(nsqd, topic):
    publish(nsqd, topic, [b"doomed"])
    out = io.StringIO()
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_tries=1, max_backoff_duration=0)
    c.on_message.connect(lambda consumer, message: message.requeue(0, False), weak=False)
    c.on_giving_up.connect(LogGiveupHandler(out.write), weak=False)
    c.start(block=False)
    try:
        wait_until(lambda: out.getvalue() == "doomed\n")
    finally:
        c.close()


class FakeRaven:
    """The raven client interface SentryExceptionHandler calls."""

    def __init__(self):
        self.calls = []

    def captureException(self, **kwargs):
        import sys

        self.calls.append((sys.exc_info()[1], kwargs))


def test_sentry_handler_reports_the_exception_with_the_message(nsqd, topic):
    publish(nsqd, topic, [b"x"])
    client = FakeRaven()
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_backoff_duration=0)

    @c.on_message.connect
    def handler(consumer, message):
        if message.attempts == 1:
            raise KeyError("boom")

    c.on_exception.connect(SentryExceptionHandler(client), weak=False)
    c.start(block=False)
    try:
        wait_until(lambda: client.calls and nsqd.in_flight(topic, "ch") == 0 and nsqd.depth(topic, "ch") == 0)
    finally:
        c.close()
    error, kwargs = client.calls[0]
    assert isinstance(error, KeyError)
    extra = kwargs["extra"]["message"]
    assert extra["body"] == b"x" and extra["attempts"] == 1 and len(extra["id"]) == 16


def test_reader_is_a_deprecated_consumer_with_async_and_max_concurrency(nsqd, topic):
    publish(nsqd, topic, [b"%d" % i for i in range(20)])
    got, lock = [], threading.Lock()
    with pytest.warns(DeprecationWarning):
        r = gnsq.Reader(topic, "ch", nsqd.tcp_address, max_in_flight=20, max_concurrency=3)
    assert isinstance(r, gnsq.Consumer) and r.max_concurrency == 3

    @r.on_message.connect
    def handler(reader, message):
        with lock:
            got.append((threading.get_ident(), message.body))

    r.start(block=False)
    try:
        wait_until(lambda: len(got) == 20 and nsqd.in_flight(topic, "ch") == 0)
    finally:
        r.close()
    assert {ident for ident, _ in got} != {r._loop_id}  # handled by the workers

    held = []
    with pytest.warns(DeprecationWarning):
        r = gnsq.Reader(topic, "ch2", nsqd.tcp_address, **{"async": True})
    r.on_message.connect(lambda reader, message: held.append(message), weak=False)
    r.start(block=False)
    try:
        wait_until(lambda: r.total_ready_count > 0)  # subscribed: the channel exists
        publish(nsqd, topic, [b"later"])
        wait_until(lambda: held)
        assert held[0].is_async() and not held[0].has_responded()
        held[0].finish()
        wait_until(lambda: nsqd.in_flight(topic, "ch2") == 0)
    finally:
        r.close()


def test_nsqd_alias_publishes_over_tcp_when_connected_else_http(nsqd, topic):
    host, tcp_port = nsqd.tcp_address.split(":")
    with pytest.warns(DeprecationWarning):
        n = gnsq.Nsqd(host, int(tcp_port), nsqd.http_port)
    assert str(n) == nsqd.tcp_address and n.base_url == "http://%s/" % nsqd.http_address
    assert n.publish(topic, b"over http") == b"OK"  # not connected over TCP
    with pytest.warns(DeprecationWarning):
        assert n.publish_http(topic, b"again") == b"OK"  # gnsq 1.0.2 returned None
    assert n.stats()["version"]  # looked up on the HTTP client
    n.connect()  # looked up on the TCP client
    n.identify()
    n.publish(topic, b"over tcp")  # fire and forget, as NsqdTCPClient.publish
    assert n.read_response() == (0, b"OK")
    wait_until(lambda: nsqd.depth(topic) == 3)
    with pytest.raises(AttributeError):
        n.no_such_method
    n.close_stream()


def test_reader_close_gives_queued_messages_back_and_starts_no_handler(nsqd, topic):
    publish(nsqd, topic, [b"%d" % i for i in range(20)])
    started, release = [], threading.Event()
    with pytest.warns(DeprecationWarning):
        r = gnsq.Reader(topic, "ch", nsqd.tcp_address, max_in_flight=20, max_concurrency=1)

    @r.on_message.connect
    def handler(reader, message):
        started.append(message.body)
        if len(started) == 2:
            release.wait(10)  # the rest waits in the queue

    r.start(block=False)
    wait_until(lambda: len(started) == 2 and r.queue.qsize() > 0)
    r.close()  # while a worker is inside a handler
    release.set()
    count = len(started)
    # the queued messages are back in the channel at once; the one whose
    # handler was running is redelivered after nsqd's msg_timeout
    wait_until(lambda: nsqd.depth(topic, "ch") == 20 - count and nsqd.in_flight(topic, "ch") == 1)
    assert len(started) == count == 2
