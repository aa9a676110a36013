"""gnsq's module layout and the smaller classes (Message, BackoffTimer),
plus the Consumer's discovery paths: nsqlookupd and connect_to_nsqd."""
import importlib
import random

import blinker
import pytest
from conftest import wait_until

import gnsq
from gnsq import errors


def test_gnsqs_modules_and_names_are_there():
    assert gnsq.__version__ == "1.0.2"
    assert sorted(gnsq.__all__) == sorted(["Consumer", "Reader", "Producer", "Nsqd", "NsqdTCPClient", "NsqdHTTPClient",
                                           "Lookupd", "LookupdClient", "Message", "BackoffTimer"])
    for name in gnsq.__all__:
        assert isinstance(getattr(gnsq, name), type)
    for module in ("errors", "protocol", "states", "util", "decorators", "httpclient", "version", "message",
                   "consumer", "producer", "nsqd", "lookupd", "reader", "backofftimer", "contrib", "contrib.batch",
                   "contrib.giveup", "contrib.queue", "contrib.sentry"):
        importlib.import_module("gnsq." + module)
    from gnsq import errors, protocol, states  # noqa: F401  (gnsq's tests import them so)
    assert gnsq.nsqd.NsqdTCPClient is gnsq.NsqdTCPClient and gnsq.lookupd.LookupdClient is gnsq.LookupdClient


def test_message_attributes_guards_and_signals():
    m = gnsq.Message(123, 1, b"0123456789abcdef", b"body")
    assert (m.timestamp, m.attempts, m.id, m.body) == (123, 1, b"0123456789abcdef", b"body")
    assert not m.is_async() and not m.has_responded()
    m.enable_async()
    assert m.is_async()
    seen = []
    for name in ("on_finish", "on_requeue", "on_touch"):
        assert isinstance(getattr(m, name), blinker.Signal)
    m.on_touch.connect(lambda message: seen.append(("touch", message)), weak=False)
    m.on_requeue.connect(lambda message, timeout, backoff: seen.append(("requeue", timeout, backoff)), weak=False)
    m.on_finish.connect(lambda message: seen.append(("finish", message)), weak=False)
    m.touch()
    assert not m.has_responded()
    with pytest.raises(TypeError):
        m.requeue("10")
    m.requeue(10, backoff=False)
    assert m.has_responded()
    for answer in (m.finish, m.requeue, m.touch):
        with pytest.raises(errors.NSQException, match="already responded"):
            answer()
    assert seen == [("touch", m), ("requeue", 10, False)]
    m2 = gnsq.Message(0, 1, b"x" * 16, b"")
    m2.on_finish.connect(lambda message: seen.append(("finish", message)), weak=False)
    m2.finish()
    assert seen[-1] == ("finish", m2)


def test_backoff_timer_arithmetic():
    random.seed(1)
    t = gnsq.BackoffTimer(ratio=2, max_interval=10, min_interval=0.5)
    assert t.is_reset() and t.c == 0
    assert t.get_interval() == 0.5  # 0 clipped to min_interval
    assert t.failure().failure().c == 2
    for _ in range(100):
        assert 0.5 <= t.get_interval() <= 6  # random() * (2**2 - 1) * 2
    assert t.failure().failure().failure().failure().c == 6
    assert max(t.get_interval() for _ in range(100)) <= 10
    assert t.success().c == 5 and t.reset().is_reset()
    assert gnsq.BackoffTimer().success().c == 0


def test_consumer_discovers_nsqd_through_nsqlookupd(start_nsqd, lookupd, topic):
    nsqd = start_nsqd("--lookupd-tcp-address=127.0.0.1:%d" % lookupd.tcp_port)
    p = gnsq.Producer(nsqd.tcp_address)
    p.start()
    p.publish(topic, b"found")
    p.close()
    wait_until(lambda: gnsq.LookupdClient.from_url(lookupd.http_address).lookup(topic)["producers"],
               what="nsqd registering the topic with nsqlookupd")
    got = []
    c = gnsq.Consumer(topic, "ch", lookupd_http_addresses=["http://" + lookupd.http_address],
                      message_handler=lambda consumer, message: got.append(message.body), lookupd_poll_interval=1)
    assert [l.address for l in c.lookupds] == ["http://%s/" % lookupd.http_address]
    c.start(block=False)
    try:
        wait_until(lambda: got == [b"found"])
    finally:
        c.close()


def test_connect_to_nsqd_adds_a_connection_while_running(nsqd, nsqd2, topic):
    p = gnsq.Producer(nsqd2.tcp_address)
    p.start()
    p.publish(topic, b"from the second")
    p.close()
    got = []
    # max_in_flight 2: with fewer RDY than connections they would take turns every 5 s
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=2,
                      message_handler=lambda consumer, message: got.append(message.body))
    c.connect_to_nsqd("127.0.0.1", 1)  # not running yet: a no-op, as in gnsq
    c.start(block=False)
    try:
        host, port = nsqd2.tcp_address.split(":")
        c.connect_to_nsqd(host, int(port))
        wait_until(lambda: got == [b"from the second"])
    finally:
        c.close()
