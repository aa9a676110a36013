"""gnsq.aio against live nsqd/nsqlookupd, on the default asyncio loop and on
uvloop (the `run` fixture runs a test's coroutine on each)."""
import asyncio
import signal
import time

import pytest

import gnsq
import gnsq.aio
from gnsq.errors import (NSQBadMessage, NSQBadBody, NSQException, NSQHttpError, NSQInvalid, NSQNoConnections,
                         NSQRequeueMessage)

from conftest import wait_until
from test_consumer import run_python

TEST_TIMEOUT = 60


def _loop_factories():
    factories = [pytest.param(asyncio.new_event_loop, id="asyncio")]
    try:
        import uvloop
    except ImportError:  # build.sh installs it: only a bare pytest run lacks it
        factories.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip(reason="uvloop not installed")))
    else:
        factories.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return factories


@pytest.fixture(params=_loop_factories())
def run(request):
    """run(coroutine) on a new loop of each kind, bounded by TEST_TIMEOUT."""
    def run(coroutine):
        with asyncio.Runner(loop_factory=request.param) as runner:
            return runner.run(asyncio.wait_for(coroutine, TEST_TIMEOUT))
    return run


def arun(coroutine):
    """The default loop only, for tests of semantics rather than loops."""
    return asyncio.run(asyncio.wait_for(coroutine, TEST_TIMEOUT))


async def fill(nsqd, topic, n, size=10):
    async with gnsq.aio.Producer([nsqd.tcp_address]) as producer:
        for start in range(0, n, 1000):
            await producer.multipublish(topic, [b"%0*d" % (size, i) for i in range(start, min(start + 1000, n))])


async def until(cond, what, timeout=10.0):
    """Awaits cond() (checked every 5 ms) without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        await asyncio.sleep(0.005)


def channel_stats(nsqd, topic, channel):
    return next(c for c in nsqd.stats(topic)["channels"] if c["channel_name"] == channel)


# ---- Producer --------------------------------------------------------------

def test_producer_publishes(run, nsqd, topic):
    async def main():
        responses = []
        async with gnsq.aio.Producer([nsqd.tcp_address]) as producer:
            producer.on_response.connect(lambda sender, response: responses.append(response), weak=False)
            assert producer.is_running
            assert await producer.publish(topic, b"one") == b"OK"
            assert await producer.publish(topic, bytearray(b"two"), defer=10) == b"OK"
            assert await producer.multipublish(topic, [b"three", memoryview(b"four")]) == b"OK"
            assert await asyncio.gather(*[producer.publish(topic, b"%d" % i) for i in range(100)]) == [b"OK"] * 100
        assert not producer.is_running
        assert responses == [b"OK"] * 103
        await until(lambda: nsqd.depth(topic) == 104, "104 messages in nsqd")
    run(main())


def test_producer_refuses_bad_input_before_sending(nsqd, topic):
    async def main():
        async with gnsq.aio.Producer([nsqd.tcp_address]) as producer:
            with pytest.raises(ValueError):
                await producer.publish("bad topic!", b"x")
            with pytest.raises(TypeError):
                await producer.publish(topic, "text")
            with pytest.raises(NSQBadMessage):
                await producer.publish(topic, b"")
            with pytest.raises(NSQInvalid):
                await producer.publish(topic, b"x", defer=-1)
            with pytest.raises(NSQBadBody):
                await producer.multipublish(topic, [])
            with pytest.raises(NSQBadMessage):
                await producer.multipublish(topic, [b"a", b""])
            assert await producer.publish(topic, b"still fine") == b"OK"
        assert nsqd.depth(topic) == 1
    arun(main())


def test_producer_raises_nsqd_errors_and_goes_on(start_nsqd, topic):
    nsqd = start_nsqd("--max-msg-size=100")

    async def main():
        async with gnsq.aio.Producer([nsqd.tcp_address]) as producer:
            with pytest.raises(NSQBadMessage):
                await producer.publish(topic, b"x" * 101)
            # nsqd closed that connection; the library reconnects
            assert await producer.publish(topic, b"x" * 100, timeout=10) == b"OK"
    arun(main())


def test_producer_closed_or_not_started(nsqd, topic):
    async def main():
        producer = gnsq.aio.Producer([nsqd.tcp_address])
        with pytest.raises(NSQException, match="not running"):
            await producer.publish(topic, b"x")
        await producer.close()  # not started: nothing to do
        closed = []
        producer.on_close.connect(lambda sender: closed.append(sender), weak=False)
        await producer.start()
        await producer.close()
        await producer.close()
        await producer.join()
        assert closed == [producer]
        with pytest.raises(NSQException, match="not running"):
            await producer.publish(topic, b"x")
        with pytest.raises(NSQException, match="already closed"):
            await producer.start()
    arun(main())


def test_producer_without_nsqd_times_out_then_connects(start_nsqd, topic):
    from conftest import free_port
    port = free_port()

    async def main():
        producer = gnsq.aio.Producer(["127.0.0.1:%d" % port])
        await producer.start()
        with pytest.raises(NSQNoConnections):
            await producer.publish(topic, b"x", timeout=0.2)
        # nsqd comes up while this publish waits for a connection (started
        # on this thread, blocking the loop briefly: PDEATHSIG would kill it
        # with an executor thread that ends)
        waiting = asyncio.ensure_future(producer.publish(topic, b"late"))
        await asyncio.sleep(0.05)
        nsqd = start_nsqd("--tcp-address=127.0.0.1:%d" % port)
        assert await waiting == b"OK"
        await producer.close()
        return nsqd
    nsqd = arun(main())
    assert nsqd.depth(topic) == 1


def test_producer_cancelled_publish_leaves_it_usable(nsqd, topic):
    async def main():
        async with gnsq.aio.Producer([nsqd.tcp_address]) as producer:
            # cancelled while awaiting their answers (100 in flight), or before
            tasks = [asyncio.ensure_future(producer.publish(topic, b"%d" % i)) for i in range(100)]
            await asyncio.sleep(0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert all(task.cancelled() or task.result() == b"OK" for task in tasks)
            assert await producer.publish(topic, b"after") == b"OK"
            assert await producer.multipublish(topic, [b"a", b"b"]) == b"OK"
            # the cancelled ones' answers still come (publishes sent by the
            # library's own thread may be answered after later ones): none is kept
            await until(lambda: not producer._futures, "the cancelled publishes' answers")
    arun(main())


def test_producer_close_fails_publishes_in_flight(nsqd, topic):
    async def main():
        producer = gnsq.aio.Producer([nsqd.tcp_address])
        await producer.start()
        tasks = [asyncio.ensure_future(producer.publish(topic, b"x")) for _ in range(200)]
        await asyncio.sleep(0)  # they are sent; most are awaiting nsqd's answer
        await producer.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            assert result == b"OK" or (isinstance(result, NSQException) and "closed" in str(result)), result
        assert not producer._futures
    arun(main())


def test_producer_belongs_to_one_loop(nsqd, topic):
    producer = gnsq.aio.Producer([nsqd.tcp_address])
    arun(producer.start())
    with pytest.raises(RuntimeError, match="another event loop"):
        arun(producer.publish(topic, b"x"))


# ---- Consumer: handlers ------------------------------------------------------

def test_consumer_plain_and_async_handlers(run, nsqd, topic):
    async def main():
        await fill(nsqd, topic, 300)
        got = []
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=50)

        @consumer.on_message.connect
        def plain(consumer, message):
            got.append(("plain", message.body))

        @consumer.on_message.connect
        async def coroutine(consumer, message):
            await asyncio.sleep(0)
            got.append(("async", message.body))
            if len(got) == 600:
                await consumer.close(drain=True)

        await consumer.start()  # returns once closed
        assert sorted(b for kind, b in got if kind == "plain") == [b"%010d" % i for i in range(300)]
        assert sorted(b for kind, b in got if kind == "async") == [b"%010d" % i for i in range(300)]
        assert not consumer.is_running
    run(main())
    stats = channel_stats(nsqd, topic, "ch")
    assert (stats["depth"], stats["in_flight_count"], stats["requeue_count"]) == (0, 0, 0)


def test_consumer_async_handler_rules(nsqd, topic):
    """A return finishes, an exception requeues (and on_exception), so does
    NSQRequeueMessage; after max_tries the library gives up."""
    async def main():
        async with gnsq.aio.Producer([nsqd.tcp_address]) as producer:
            for body in (b"ok", b"raise", b"requeue"):
                await producer.publish(topic, body)
        seen, exceptions, giving_up, finished, requeued = [], [], [], [], []
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=3,
                                     max_tries=2, requeue_delay=0, backoff_on_requeue=False)
        consumer.on_exception.connect(lambda c, message, error: exceptions.append((message.body, error)), weak=False)
        consumer.on_giving_up.connect(lambda c, message: giving_up.append(message.body), weak=False)
        consumer.on_finish.connect(lambda c, message_id: finished.append(message_id), weak=False)
        consumer.on_requeue.connect(lambda c, message_id, timeout: requeued.append(message_id), weak=False)

        @consumer.on_message.connect
        async def handler(consumer, message):
            seen.append((message.body, message.attempts))
            await asyncio.sleep(0)  # suspends more than once before its outcome
            await asyncio.sleep(0.001)
            if message.body == b"raise":
                raise ValueError("boom")
            if message.body == b"requeue":
                raise NSQRequeueMessage()

        await consumer.start(block=False)
        await until(lambda: len(giving_up) == 2 and len(finished) == 3, "2 given up, 3 finished")
        await consumer.close()
        assert sorted(seen) == [(b"ok", 1), (b"raise", 1), (b"raise", 2), (b"requeue", 1), (b"requeue", 2)]
        assert [(body, str(error)) for body, error in exceptions] == [(b"raise", "boom"), (b"raise", "boom")]
        assert sorted(giving_up) == [b"raise", b"requeue"]
        assert len(requeued) == 4  # each handled attempt was requeued
    arun(main())
    stats = channel_stats(nsqd, topic, "ch")
    assert (stats["depth"], stats["in_flight_count"]) == (0, 0)


def test_consumer_max_concurrency(run, nsqd, topic):
    async def main():
        for limit in (1, 4):
            limited_topic = "%s_%d" % (topic[:60], limit)
            await fill(nsqd, limited_topic, 60)
            running, peak, done = 0, 0, []
            consumer = gnsq.aio.Consumer(limited_topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address],
                                         max_in_flight=20, max_concurrency=limit)

            @consumer.on_message.connect
            async def handler(consumer, message):
                nonlocal running, peak
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.005)
                running -= 1
                done.append(message.body)
                if len(done) == 60:
                    await consumer.close(drain=True)

            await consumer.start()
            assert peak == limit
            expected = [b"%010d" % i for i in range(60)]
            assert (done if limit == 1 else sorted(done)) == expected  # one nsqd: in order when limit is 1
    run(main())


def test_consumer_answers_not_held_behind_an_awaiting_handler(nsqd, topic):
    """max_concurrency 1: while a handler awaits, the answers of the
    messages before it reach nsqd."""
    async def main():
        release = asyncio.Event()
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=3)

        @consumer.on_message.connect
        def handler(consumer, message):  # the fast ones are answered inline
            if message.body == b"slow":
                return release.wait()  # an awaitable: awaited before the next message

        async with gnsq.aio.Producer([nsqd.tcp_address]) as producer:
            await producer.publish(topic, b"warm-up")
            await consumer.start(block=False)
            await until(lambda: consumer.total_ready_count == 3 and channel_stats(nsqd, topic, "ch")[
                "in_flight_count"] == 0, "RDY 3, warm-up finished")
            await producer.multipublish(topic, [b"fast", b"fast", b"slow"])  # one batch
        # the two fast ones are finished while the slow one is in its handler
        await until(lambda: channel_stats(nsqd, topic, "ch")["in_flight_count"] == 1 and
                    channel_stats(nsqd, topic, "ch")["depth"] == 0, "the fast ones finished")
        assert not release.is_set()
        release.set()
        await until(lambda: channel_stats(nsqd, topic, "ch")["in_flight_count"] == 0, "the slow one finished")
        await consumer.close()
    arun(main())


def test_consumer_async_message(nsqd, topic):
    """enable_async: answered later, from a loop callback; touch works."""
    async def main():
        await fill(nsqd, topic, 5)
        answered, finished = [], []
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=5)
        consumer.on_finish.connect(lambda c, message_id: finished.append(message_id), weak=False)

        def answer(message):
            message.touch()
            message.finish()
            answered.append(message)

        @consumer.on_message.connect
        def handler(consumer, message):
            message.enable_async()
            asyncio.get_running_loop().call_later(0.01, answer, message)

        await consumer.start(block=False)
        await until(lambda: len(finished) == 5, "5 finished")
        await consumer.close()
        with pytest.raises(NSQException):
            answered[0].requeue()
    arun(main())
    assert channel_stats(nsqd, topic, "ch")["in_flight_count"] == 0


def test_consumer_requires_receivers_to_block(nsqd, topic):
    async def main():
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address])
        with pytest.raises(RuntimeError, match="no receivers"):
            await consumer.start()
    arun(main())
    with pytest.raises(ValueError):
        gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_concurrency=0)


def test_auth_signals_and_errors(auth_nsqd, topic):
    """AUTH through the keywords; on_auth, on_response and on_error carry
    gnsq's keyword names and error classes."""
    nsqd, auth = auth_nsqd

    async def main():
        producer_auths, auths, errors = [], [], []
        producer = gnsq.aio.Producer([nsqd.tcp_address], auth_secret="letmein")
        producer.on_auth.connect(lambda sender, conn, response: producer_auths.append(response), weak=False)
        async with producer:
            assert await producer.publish(topic, b"x") == b"OK"
        assert producer_auths and producer_auths[0]["identity"] == "tester"

        got = asyncio.Event()
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], auth_secret="letmein",
                                     message_handler=lambda c, message: got.set())
        consumer.on_auth.connect(lambda c, conn, response: auths.append((str(conn), response["identity"])),
                                 weak=False)
        await consumer.start(block=False)
        await got.wait()
        await consumer.close()
        assert auths == [(nsqd.tcp_address, "tester")]

        auth.topics = "only-this-topic"  # SUB to another topic is refused: E_UNAUTHORIZED
        refused = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], auth_secret="letmein",
                                    message_handler=lambda c, message: None)
        refused.on_error.connect(lambda c, error: errors.append(error), weak=False)
        await refused.start(block=False)
        await until(lambda: errors, "on_error")
        await refused.close()
        assert isinstance(errors[0], gnsq.errors.NSQUnauthorized)
    arun(main())


def test_consumer_discovers_nsqd_through_lookupd(lookupd, start_nsqd, topic):
    nsqd = start_nsqd("--lookupd-tcp-address=" + lookupd.tcp_address)

    async def main():
        await fill(nsqd, topic, 20)
        got = []
        consumer = gnsq.aio.Consumer(topic, "ch", lookupd_http_addresses=[lookupd.http_address],
                                     max_in_flight=20, lookupd_poll_interval=0.1)

        @consumer.on_message.connect
        async def handler(consumer, message):
            got.append(message.body)
            if len(got) == 20:
                await consumer.close(drain=True)

        await consumer.start()
        assert sorted(got) == [b"%010d" % i for i in range(20)]
    arun(main())


# ---- Consumer: async for -------------------------------------------------------

def test_consumer_async_for(run, nsqd, topic):
    async def main():
        await fill(nsqd, topic, 50)
        bodies = []
        async with gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address],
                                     max_in_flight=10) as consumer:
            async for message in consumer:
                bodies.append(message.body)
                if message.body == b"%010d" % 7 and message.attempts == 1:
                    message.requeue(backoff=False)  # answered here: comes again
                elif len(bodies) == 51:
                    message.finish()
                    break
        assert sorted(set(bodies)) == [b"%010d" % i for i in range(50)]
        assert bodies.count(b"%010d" % 7) == 2
    run(main())
    stats = channel_stats(nsqd, topic, "ch")
    assert (stats["depth"], stats["in_flight_count"]) == (0, 0)


def test_consumer_async_for_ends_with_a_drain(nsqd, topic):
    async def main():
        await fill(nsqd, topic, 30)
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=10)
        bodies = []
        async for message in consumer:  # starts it
            bodies.append(message.body)
            if len(bodies) == 5:
                await consumer.close(drain=True)  # returns at once: the loop goes on with what was received
        await consumer.join()
        return bodies
    bodies = arun(main())
    assert 5 <= len(bodies) <= 30
    stats = channel_stats(nsqd, topic, "ch")
    assert stats["in_flight_count"] == 0
    assert stats["depth"] == 30 - len(bodies)  # the rest was never sent or was requeued


def test_consumer_async_for_refuses_receivers(nsqd, topic):
    consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address])
    consumer.on_message.connect(lambda c, message: None, weak=False)
    with pytest.raises(RuntimeError, match="cannot be iterated"):
        consumer.__aiter__()


# ---- Consumer: close ---------------------------------------------------------------

@pytest.mark.parametrize("drain", [True, False], ids=["drain", "no-drain"])
def test_consumer_close_loses_nothing(run, nsqd, topic, drain):
    """Slow async handlers with 100 messages in flight: a drained close
    handles every message received; a plain close cancels the handlers and
    requeues. Either way nothing stays in flight."""
    async def main():
        await fill(nsqd, topic, 400)
        handled = []
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=100,
                                     max_concurrency=10)

        @consumer.on_message.connect
        async def handler(consumer, message):
            await asyncio.sleep(0.01)
            handled.append(message.body)

        await consumer.start(block=False)
        await until(lambda: len(handled) >= 20, "20 handled")
        await consumer.close(drain=drain)
        assert not consumer.is_running
        return len(handled)
    handled = run(main())
    stats = channel_stats(nsqd, topic, "ch")
    assert stats["in_flight_count"] == 0
    assert stats["depth"] == 400 - handled  # each message handled once or back in the queue
    assert stats["message_count"] == 400


def test_consumer_drain_timeout(nsqd, topic):
    async def main():
        await fill(nsqd, topic, 20)
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=20)
        started = asyncio.Event()

        @consumer.on_message.connect
        async def handler(consumer, message):
            started.set()
            await asyncio.sleep(3600)

        await consumer.start(block=False)
        await started.wait()
        t0 = time.monotonic()
        await consumer.close(drain=True, timeout=0.2)
        return time.monotonic() - t0
    took = arun(main())
    assert took < 10  # not the hour: the timeout ended the drain
    wait_until(lambda: channel_stats(nsqd, topic, "ch")["in_flight_count"] <= 1, what="requeued")


def test_consumer_cancelled_start_closes(nsqd, topic):
    async def main():
        await fill(nsqd, topic, 10)
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=10,
                                     message_handler=lambda c, message: message.enable_async())
        task = asyncio.ensure_future(consumer.start())
        await until(lambda: consumer.total_in_flight >= 1, "a message in flight")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not consumer.is_running
    arun(main())
    # the async messages nobody answered were requeued at the close
    wait_until(lambda: channel_stats(nsqd, topic, "ch")["in_flight_count"] == 0, what="nothing in flight")


def test_consumer_close_from_plain_handler(nsqd, topic):
    async def main():
        await fill(nsqd, topic, 10)
        got = []
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=10)

        @consumer.on_message.connect
        def handler(consumer, message):
            got.append(message.body)
            if len(got) == 3:
                asyncio.ensure_future(consumer.close())

        await consumer.start()
        return len(got)
    handled = arun(main())
    stats = channel_stats(nsqd, topic, "ch")
    assert stats["in_flight_count"] == 0 and stats["depth"] == 10 - handled


# ---- responsiveness --------------------------------------------------------------

def test_loop_stays_responsive_during_200k_consume(run, nsqd, topic):
    """A 10 ms ticker task keeps ticking while 200000 messages are consumed
    with plain handlers: the consumer yields to the loop between batches."""
    n = 200000
    nsqd.http("/topic/create?topic=" + topic, b"")
    for start in range(0, n, 5000):
        nsqd.http("/mpub?topic=" + topic, b"\n".join(b"%099d" % i for i in range(start, start + 5000)))

    async def main():
        ticks = []

        async def ticker():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        tick_task = asyncio.ensure_future(ticker())
        await asyncio.sleep(0.05)
        count = 0
        consumer = gnsq.aio.Consumer(topic, "ch", nsqd_tcp_addresses=[nsqd.tcp_address], max_in_flight=2500)

        @consumer.on_message.connect
        def handler(consumer, message):
            nonlocal count
            count += 1
            if count == n:
                asyncio.ensure_future(consumer.close(drain=True))

        t0 = time.monotonic()
        await consumer.start()
        elapsed = time.monotonic() - t0
        tick_task.cancel()
        gaps = [b - a for a, b in zip(ticks, ticks[1:]) if a >= t0]
        return count, elapsed, max(gaps)
    count, elapsed, worst = run(main())
    assert count == n
    # far below the run time: the ticker ran all along
    assert worst < elapsed / 5, (worst, elapsed)


# ---- HTTP ----------------------------------------------------------------------------

def test_nsqd_http_client(run, nsqd, topic):
    async def main():
        async with gnsq.aio.NsqdHTTPClient("127.0.0.1", nsqd.http_port) as http:
            assert await http.ping() == b"OK"
            assert (await http.info())["version"] == "1.3.0"
            assert await http.create_topic(topic) == b""
            assert await http.create_channel(topic, "ch") == b""
            assert await http.publish(topic, b"\x00binary\n") == b"OK"
            assert await http.publish(topic, b"later", defer=1000) == b"OK"
            assert await http.multipublish(topic, [b"a", b"b"]) == b"OK"
            assert await http.multipublish(topic, [b"with\nnewline"], binary=True) == b"OK"
            stats = await http.stats(topic=topic)
            assert stats["topics"][0]["message_count"] == 5
            assert b"[" + topic.encode() in await http.stats(text=True)
            assert await asyncio.gather(*[http.ping() for _ in range(20)]) == [b"OK"] * 20
            for op in (http.pause_topic, http.unpause_topic, http.empty_topic):
                assert await op(topic) == b""
            for op in (http.pause_channel, http.unpause_channel, http.empty_channel, http.delete_channel):
                assert await op(topic, "ch") == b""
            with pytest.raises(NSQHttpError, match="CHANNEL_NOT_FOUND"):
                await http.delete_channel(topic, "ch")
            assert await http.delete_topic(topic) == b""
            with pytest.raises(ValueError):
                http.publish("bad topic!", b"x")  # refused when called, before any I/O
        with pytest.raises(NSQException, match="closed"):
            await http.ping()
    run(main())


def test_lookupd_client(run, lookupd, start_nsqd, topic):
    nsqd = start_nsqd("--lookupd-tcp-address=" + lookupd.tcp_address)

    async def main():
        async with gnsq.aio.LookupdClient.from_url("http://" + lookupd.http_address) as client:
            assert await client.ping() == b"OK"
            assert "version" in await client.info()
            async with gnsq.aio.NsqdHTTPClient("127.0.0.1", nsqd.http_port) as http:
                await http.create_topic(topic)
            deadline = time.monotonic() + 10
            while topic not in (await client.topics())["topics"]:
                assert time.monotonic() < deadline, "topic never registered"
                await asyncio.sleep(0.02)
            producers = (await client.lookup(topic))["producers"]
            assert [p["tcp_port"] for p in producers] == [nsqd.tcp_port]
            assert [p["tcp_port"] for p in (await client.nodes())["producers"]] == [nsqd.tcp_port]
            assert await client.create_topic(topic + "_2") == b""
            assert topic + "_2" in (await client.topics())["topics"]
            assert await client.delete_topic(topic + "_2") == b""
            assert await client.create_channel(topic, "ch") == b""
            assert "ch" in (await client.channels(topic))["channels"]
            assert await client.delete_channel(topic, "ch") == b""
            node = "127.0.0.1:%d" % nsqd.http_port
            assert await client.tombstone_topic(topic, node) == b""
            with pytest.raises(NSQHttpError):
                await client.lookup("no_such_topic")
    run(main())


def test_http_request_cancelled_leaves_client_usable(nsqd):
    async def main():
        async with gnsq.aio.NsqdHTTPClient("127.0.0.1", nsqd.http_port) as http:
            tasks = [asyncio.ensure_future(http.stats()) for _ in range(10)]
            await asyncio.sleep(0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert await http.ping() == b"OK"
            assert not http._futures or all(f.done() for f in http._futures.values())
    arun(main())


def test_sync_and_aio_share_the_api():
    """The same keywords as the sync classes (plus max_concurrency)."""
    import inspect
    sync = inspect.signature(gnsq.Consumer).parameters
    aio = inspect.signature(gnsq.aio.Consumer).parameters
    assert [p for p in aio if p != "max_concurrency"] == list(sync)
    assert inspect.signature(gnsq.aio.Producer) == inspect.signature(gnsq.Producer)
    for cls in (gnsq.aio.Producer, gnsq.aio.Consumer):
        for name in ("start", "close", "join"):
            assert inspect.iscoroutinefunction(getattr(cls, name)), (cls, name)


# ---- the process around it ---------------------------------------------------------------

def test_ctrl_c_under_asyncio_run_closes_and_requeues(nsqd, topic):
    """Ctrl-C cancels asyncio.run's main task: the cancelled start() closes
    the consumer, which requeues the messages it held (enable_async)."""
    arun(fill(nsqd, topic, 10))
    proc = run_python("""
        import asyncio, gnsq.aio
        async def main():
            c = gnsq.aio.Consumer(%r, 'ch', nsqd_tcp_addresses=[%r], max_in_flight=10)
            @c.on_message.connect
            def hold(consumer, message):
                message.enable_async()
                print('holding', flush=True)
            await c.start()
        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            print('interrupted', flush=True)
    """ % (topic, nsqd.tcp_address))
    assert proc.stdout.readline().strip() == "holding"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert out.strip().endswith("interrupted"), err
    assert time.monotonic() - t0 < 5  # not the 5 s backstop: the close did not wait for the held messages
    assert channel_stats(nsqd, topic, "ch")["in_flight_count"] == 0


def test_asyncio_run_returning_with_live_objects_exits(nsqd, topic):
    code = """
        import asyncio, gnsq.aio
        async def main():
            c = gnsq.aio.Consumer(%r, 'ch', nsqd_tcp_addresses=[%r], message_handler=lambda consumer, message: None)
            await c.start(block=False)
            p = gnsq.aio.Producer([%r])
            await p.start()
            await p.publish(%r, b'x')
            http = gnsq.aio.NsqdHTTPClient('127.0.0.1', %d)
            await http.ping()
        asyncio.run(main())
        print('ok', flush=True)
    """ % (topic, nsqd.tcp_address, nsqd.tcp_address, topic, nsqd.http_port)
    procs = [run_python(code) for _ in range(20)]
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        assert out.strip() == "ok" and proc.returncode == 0, err
