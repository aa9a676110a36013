"""gnsq.Producer against live nsqd: return values, gnsq's error classes,
lifecycle, signals, and publishes that end exactly once."""
import threading
import time

import pytest
from conftest import free_port, wait_until

import gnsq
from gnsq import errors


@pytest.fixture
def producer(nsqd):
    p = gnsq.Producer(nsqd.tcp_address)
    p.start()
    yield p
    p.close()
    p.join(5)


def test_publish_returns_ok_and_the_message_is_in_nsqd(nsqd, producer, topic):
    assert producer.publish(topic, b"hello") == b"OK"
    assert producer.publish(topic, bytes(range(256))) == b"OK"
    assert producer.multipublish(topic, [b"a", b"b", b"c"]) == b"OK"
    assert producer.multipublish(topic, iter([b"d"])) == b"OK"  # any iterable (gnsq needed a sized one)
    assert nsqd.depth(topic) == 6


def test_deferred_publish(nsqd, producer, topic):
    assert producer.publish(topic, b"later", defer=60000) == b"OK"
    assert producer.publish(topic, b"now", defer=0) == b"OK"
    t = nsqd.stats(topic)
    assert t["message_count"] == 2
    with pytest.raises(errors.NSQInvalid) as e:
        producer.publish(topic, b"x", defer=-1000)
    assert e.value.args == (b"DPUB could not parse timeout -1000",)


def test_raise_error_false_returns_a_result(nsqd, producer, topic):
    results = [producer.publish(topic, b"%d" % i, raise_error=False) for i in range(100)]
    results.append(producer.multipublish(topic, [b"m1", b"m2"], raise_error=False))
    assert [r.get(timeout=10) for r in results] == [b"OK"] * 101
    assert all(r.ready() and r.successful() for r in results)
    assert nsqd.depth(topic) == 102


def test_nsqds_refusal_is_raised_as_its_error_class_and_the_producer_goes_on(start_nsqd, topic):
    nsqd = start_nsqd("--max-msg-size=100")
    p = gnsq.Producer(nsqd.tcp_address)
    p.start()
    try:
        with pytest.raises(errors.NSQBadMessage) as e:
            p.publish(topic, b"x" * 101)
        assert isinstance(e.value.args[0], bytes) and e.value.args[0].startswith(b"PUB message too big")
        result = p.publish(topic, b"y" * 101, raise_error=False)
        with pytest.raises(errors.NSQBadMessage):
            result.get(timeout=10)
        assert p.publish(topic, b"small") == b"OK"  # reconnected (a fatal error closes the connection)
    finally:
        p.close()


def test_bad_input_raises_before_any_io_and_leaves_the_producer_usable(nsqd, producer, topic):
    with pytest.raises(TypeError, match="message body must be a byte string"):
        producer.publish(topic, "text")
    with pytest.raises(TypeError):
        producer.multipublish(topic, [b"ok", "text"])
    with pytest.raises(ValueError, match="invalid topic name"):
        producer.publish("bad topic", b"x")
    with pytest.raises(ValueError, match="invalid topic name"):
        producer.multipublish("x" * 65, [b"x"])
    assert producer.publish(topic, b"after") == b"OK"  # gnsq 1.0.2 hung here
    assert nsqd.depth(topic) == 1


def test_lifecycle_errors(nsqd, topic):
    p = gnsq.Producer(nsqd.tcp_address)
    with pytest.raises(errors.NSQException, match="producer not running"):
        p.publish(topic, b"x")
    p.start()
    assert p.is_running
    p.start()  # warns, stays running
    closed = []
    p.on_close.connect(lambda producer: closed.append(producer), weak=False)
    p.close()
    p.join(5)
    assert closed == [p] and not p.is_running
    with pytest.raises(errors.NSQException, match="producer not running"):
        p.publish(topic, b"x")
    with pytest.raises(errors.NSQException, match="producer already closed"):
        p.start()
    with pytest.raises(ValueError, match="must specify at least one nsqd"):
        gnsq.Producer([])
    with pytest.raises(TypeError, match="bogus"):
        gnsq.Producer(nsqd.tcp_address, bogus=True)


def test_no_connection_with_block_false_raises_nsq_no_connections():
    p = gnsq.Producer("127.0.0.1:%d" % free_port())
    p.start()
    try:
        with pytest.raises(errors.NSQNoConnections):
            p.publish("t", b"x", block=False)
        t0 = time.monotonic()
        with pytest.raises(errors.NSQNoConnections):
            p.publish("t", b"x", timeout=0.2)
        assert time.monotonic() - t0 < 5
    finally:
        p.close()


def test_on_response_receives_ok_per_publish(nsqd, producer, topic):
    responses = []
    producer.on_response.connect(lambda producer, response: responses.append(response), weak=False)
    for _ in range(3):
        producer.publish(topic, b"x")
    wait_until(lambda: responses.count(b"OK") >= 3)


def test_close_ends_publishes_still_waiting_for_a_connection(nsqd, topic):
    p = gnsq.Producer(nsqd.tcp_address)
    p.start()
    nsqd.stop()  # a publish now waits for a connection that never comes
    wait_until(lambda: not p.publish(topic, b"probe", raise_error=False, block=False).successful(),
               what="the producer to see nsqd gone")
    outcomes = []

    def publisher(**kwargs):
        try:
            outcomes.append(p.publish(topic, b"x", **kwargs))
        except errors.NSQException as e:
            outcomes.append(e)

    threads = [threading.Thread(target=publisher), threading.Thread(target=publisher, kwargs={"raise_error": False})]
    for t in threads:
        t.start()
    time.sleep(0.2)  # let them reach their wait; the test is that close ends it, whenever it comes
    p.close()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 2
    for outcome in outcomes:  # the error, or (raise_error=False) a result that fails
        if not isinstance(outcome, errors.NSQException):
            with pytest.raises(errors.NSQException):
                outcome.get(timeout=10)


def test_every_publish_ends_exactly_once_across_an_nsqd_restart(start_nsqd, topic):
    nsqd = start_nsqd()
    p = gnsq.Producer(nsqd.tcp_address)
    p.start()
    outcomes, stop = [], threading.Event()

    def publisher():
        i = 0
        while not stop.is_set():
            try:
                outcomes.append(("ok", p.publish(topic, b"%d" % i, timeout=2)))
            except errors.NSQException as e:
                outcomes.append(("error", type(e).__name__))
            i += 1

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(outcomes) > 200)
    nsqd.proc.kill()
    nsqd.proc.wait()
    wait_until(lambda: any(o[0] == "error" for o in outcomes), what="a failed publish while nsqd is down")
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    p.close()
    assert all(o in (("ok", b"OK"),) or o[0] == "error" for o in outcomes)


@pytest.mark.parametrize("compression", [{"snappy": True}, {"deflate": True, "deflate_level": 3}],
                         ids=["snappy", "deflate"])
def test_compressed_connections_publish_and_consume(nsqd, topic, compression):
    # gnsq 1.0.2's Producer raised KeyError with snappy/deflate/TLS
    p = gnsq.Producer(nsqd.tcp_address, **compression)
    p.start()
    bodies = [b"compressible " * 50, bytes(range(256))]
    try:
        assert p.multipublish(topic, bodies) == b"OK"
    finally:
        p.close()
    got = []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=5,
                      message_handler=lambda consumer, message: got.append(message.body), **compression)
    c.start(block=False)
    try:
        wait_until(lambda: sorted(got) == sorted(bodies))
        flag = "snappy" if "snappy" in compression else "deflate"
        assert [client[flag] for client in nsqd.stats(topic)["channels"][0]["clients"]] == [True]
    finally:
        c.close()


def test_ctrl_c_interrupts_a_publish_waiting_for_a_connection():
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import time, gnsq
        p = gnsq.Producer('127.0.0.1:%d')
        p.start()
        print('ready', flush=True)
        try:
            p.publish('t', b'x')  # no nsqd: waits for a connection
        except KeyboardInterrupt:
            t0 = time.monotonic()
            p.close()
            print('interrupted', p.is_running, round(time.monotonic() - t0, 1), flush=True)
    """ % free_port())
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # let it reach its wait; the test is that SIGINT ends it, whenever it comes
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert out.strip() == "interrupted False 0.0", err
    assert time.monotonic() - t0 < 2


def test_empty_bodies_raise_nsqds_error_classes_without_breaking_the_connection(nsqd, producer, topic):
    # gnsq sent them: nsqd refused with a fatal error and closed the connection
    pending = producer.publish(topic, b"queued", raise_error=False)
    with pytest.raises(errors.NSQBadMessage):
        producer.publish(topic, b"")
    with pytest.raises(errors.NSQBadMessage):
        producer.publish(topic, b"", defer=1000)
    with pytest.raises(errors.NSQBadBody):
        producer.multipublish(topic, [])
    with pytest.raises(errors.NSQBadMessage):
        producer.multipublish(topic, [b"a", b""])
    with pytest.raises(errors.NSQBadMessage):
        producer.publish(topic, b"", raise_error=False).get(timeout=5)
    assert pending.get(timeout=10) == b"OK"
    assert producer.publish(topic, b"after") == b"OK"
    assert nsqd.depth(topic) == 2
