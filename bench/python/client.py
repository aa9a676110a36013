"""One timed scenario with one client library, in a process of its own: this
package (PYTHONPATH=bindings/python), gnsq 1.0.2 or pynsq 0.9.1 from PyPI
(the bench venv).

    python client.py RUNTIME SCENARIO NSQD_TCP TOPIC COUNT [MAX_IN_FLIGHT]

RUNTIME:  threads  -- gevent is never imported (our package runs on threads)
          gevent   -- gevent is imported before gnsq, not monkey-patched
                      (gnsq 1.0.2 uses gevent's own sockets and needs no
                      patching; ours switches to gevent once it is imported);
                      BENCH_GEVENT_PATCH=1 calls gevent.monkey.patch_all()
                      first instead
          asyncio  -- our gnsq.aio under asyncio.run() (the default event
                      loop); gevent is never imported
          pynsq    -- pynsq (import name nsq) on tornado's IOLoop, which in
                      tornado 6 is the running asyncio loop (asyncio.run());
                      gnsq is never imported
SCENARIO: consume  -- a Consumer on channel "bench" with max_in_flight, a
                      no-op handler on on_message that counts; timed from
                      just before start() to the COUNT-th message
          mpub     -- multipublish of batches of 100 x 100 B until COUNT
                      messages (COUNT a multiple of 100), after one untimed
                      batch
          pub      -- COUNT sequential synchronous publish() of 100 B, after
                      one untimed publish
          pub100   -- (threads) COUNT publish(raise_error=False) of 100 B
                      with 100 results outstanding (a window: the oldest
                      result is got before the 101st publish is made), after
                      one untimed publish; every result must be b'OK'
  asyncio and pynsq runtimes:
          aconsume        -- consume with a plain handler (gnsq.aio: on_message
                             handler(consumer, message) returning None; pynsq:
                             message_handler(message) returning True)
          aconsume-async  -- the same with an `async def` handler
          apub            -- COUNT sequential awaited publishes of 100 B,
                             after one untimed publish
          apub100         -- COUNT publishes with 100 in flight (the window
                             of pub100: the oldest is awaited before the
                             101st is made), after one untimed publish
  Consumes are timed from just before the consumer is started to the
  COUNT-th message; publishes from after the untimed first one to the last
  answer. Every publish answer is checked to be b'OK'.

BENCH_CPROFILE=FILE (consume only): runs the consumer's loop in the main
thread under cProfile and writes the stats to FILE.

Prints one line of key=value fields on stdout (gnsq_file=..., elapsed_s=...,
rate=..., cpu_s=...); everything else goes to stderr.
"""
import os
import sys

RUNTIME = sys.argv[1]
if RUNTIME == "gevent":
    import gevent  # first: our gnsq picks its runtime when its objects are made

    if os.environ.get("BENCH_GEVENT_PATCH") == "1":
        import gevent.monkey

        gevent.monkey.patch_all()
    import gevent.event
elif RUNTIME not in ("threads", "asyncio", "pynsq"):
    sys.exit("runtime must be threads, gevent, asyncio or pynsq, not %r" % RUNTIME)

import collections
import resource
import threading
import time

if RUNTIME in ("asyncio", "pynsq"):
    import asyncio
if RUNTIME == "pynsq":
    import nsq
    import tornado
else:
    import gnsq
if RUNTIME == "asyncio":
    import gnsq.aio

SCENARIO, NSQD, TOPIC, COUNT = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
MAX_IN_FLIGHT = int(sys.argv[6]) if len(sys.argv) > 6 else 2500
BODY = b"m" * 100
BATCH = 100
WINDOW = 100  # publishes in flight in pub100/apub100


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def consume():
    done = gevent.event.Event() if RUNTIME == "gevent" else threading.Event()
    state = {"n": 0, "end": 0.0, "bad": 0}

    def handler(consumer, message):  # no-op: counts, and notes the last one
        n = state["n"] = state["n"] + 1
        if n == COUNT:
            state["end"] = time.perf_counter()
            done.set()

    consumer = gnsq.Consumer(TOPIC, "bench", NSQD, max_in_flight=MAX_IN_FLIGHT)
    consumer.on_message.connect(handler)
    c0 = cpu()
    t0 = time.perf_counter()
    consumer.start(block=False)
    if not done.wait(300):
        sys.exit("consume: only %d of %d messages within 300 s" % (state["n"], COUNT))
    c1 = cpu()
    consumer.close()
    consumer.join(10)
    elapsed = state["end"] - t0
    return COUNT, elapsed, c1 - c0


def consume_profiled(path):
    """consume() under cProfile (stats written to path): the consumer's loop
    runs in this thread (start(block=True)), closed by the handler at the
    COUNT-th message, so the profile sees the whole loop."""
    import cProfile

    state = {"n": 0, "end": 0.0}

    def handler(consumer, message):
        n = state["n"] = state["n"] + 1
        if n == COUNT:
            state["end"] = time.perf_counter()
            consumer.close()

    consumer = gnsq.Consumer(TOPIC, "bench", NSQD, max_in_flight=MAX_IN_FLIGHT)
    consumer.on_message.connect(handler)
    prof = cProfile.Profile()
    c0 = cpu()
    t0 = time.perf_counter()
    prof.enable()
    consumer.start(block=True)
    prof.disable()
    c1 = cpu()
    prof.dump_stats(path)
    if state["n"] < COUNT:
        sys.exit("consume: only %d of %d messages" % (state["n"], COUNT))
    return COUNT, state["end"] - t0, c1 - c0


def producer():
    p = gnsq.Producer(NSQD)
    p.start()
    return p


def mpub():
    if COUNT % BATCH:
        sys.exit("mpub: COUNT must be a multiple of %d" % BATCH)
    p = producer()
    batch = [BODY] * BATCH
    p.multipublish(TOPIC, batch)  # untimed: connects, creates the topic
    c0 = cpu()
    t0 = time.perf_counter()
    for _ in range(COUNT // BATCH):
        p.multipublish(TOPIC, batch)
    elapsed = time.perf_counter() - t0
    c1 = cpu()
    p.close()
    return COUNT, elapsed, c1 - c0


def pub():
    p = producer()
    p.publish(TOPIC, BODY)  # untimed: connects, creates the topic
    c0 = cpu()
    t0 = time.perf_counter()
    for _ in range(COUNT):
        p.publish(TOPIC, BODY)
    elapsed = time.perf_counter() - t0
    c1 = cpu()
    p.close()
    return COUNT, elapsed, c1 - c0


def check_ok(result):
    if result != b"OK":
        sys.exit("publish answered %r, want b'OK'" % (result,))


def pub100():
    """Threads: publish(raise_error=False) returns a result at once; WINDOW of
    them are kept outstanding, the oldest got before the next publish."""
    p = producer()
    p.publish(TOPIC, BODY)  # untimed: connects, creates the topic
    pending = collections.deque()
    c0 = cpu()
    t0 = time.perf_counter()
    for _ in range(COUNT):
        if len(pending) == WINDOW:
            check_ok(pending.popleft().get())
        pending.append(p.publish(TOPIC, BODY, raise_error=False))
    while pending:
        check_ok(pending.popleft().get())
    elapsed = time.perf_counter() - t0
    c1 = cpu()
    p.close()
    return COUNT, elapsed, c1 - c0


async def windowed(publish):
    """COUNT publishes with WINDOW in flight: publish() returns an awaitable
    (a Task or a Future); the oldest is awaited before the next is made."""
    pending = collections.deque()
    for _ in range(COUNT):
        if len(pending) == WINDOW:
            check_ok(await pending.popleft())
        pending.append(publish())
    while pending:
        check_ok(await pending.popleft())


# ---- gnsq.aio (RUNTIME asyncio) --------------------------------------------------

async def aio_consume(async_handler):
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    state = {"n": 0, "end": 0.0}

    def count():
        n = state["n"] = state["n"] + 1
        if n == COUNT:
            state["end"] = time.perf_counter()
            # safe whichever thread gnsq.aio calls handlers on (the loop's, by its spec)
            loop.call_soon_threadsafe(done.set)

    if async_handler:
        async def handler(consumer, message):  # returning finishes
            count()
    else:
        def handler(consumer, message):  # returning finishes
            count()

    consumer = gnsq.aio.Consumer(TOPIC, "bench", nsqd_tcp_addresses=[NSQD], max_in_flight=MAX_IN_FLIGHT)
    consumer.on_message.connect(handler, weak=False)
    c0 = cpu()
    t0 = time.perf_counter()
    await consumer.start(block=False)
    try:
        await asyncio.wait_for(done.wait(), 300)
    except asyncio.TimeoutError:
        sys.exit("aconsume: only %d of %d messages within 300 s" % (state["n"], COUNT))
    c1 = cpu()
    await consumer.close()
    await asyncio.wait_for(consumer.join(), 10)
    return COUNT, state["end"] - t0, c1 - c0


async def aio_publish(window):
    p = gnsq.aio.Producer([NSQD])
    await p.start()
    check_ok(await p.publish(TOPIC, BODY, timeout=10))  # untimed: connects, creates the topic
    c0 = cpu()
    t0 = time.perf_counter()
    if window:
        await windowed(lambda: asyncio.ensure_future(p.publish(TOPIC, BODY)))
    else:
        for _ in range(COUNT):
            check_ok(await p.publish(TOPIC, BODY))
    elapsed = time.perf_counter() - t0
    c1 = cpu()
    await p.close()
    return COUNT, elapsed, c1 - c0


# ---- pynsq 0.9.1 (RUNTIME pynsq) -------------------------------------------------
# nsq.Reader and nsq.Writer take tornado's IOLoop.current() when they are
# made, so they are made inside the running asyncio loop.

async def pynsq_consume(async_handler):
    done = asyncio.Event()
    state = {"n": 0, "end": 0.0}

    def count():
        n = state["n"] = state["n"] + 1
        if n == COUNT:
            state["end"] = time.perf_counter()
            done.set()

    if async_handler:
        # pynsq 0.9.1 takes coroutine handlers itself (Reader._handle_message:
        # a result other than True/False/None is made a future with
        # tornado.gen.convert_yielded, the message is made async, and it is
        # finished when the coroutine returns a true value, requeued when
        # it returns a false one -- None included), so no enable_async()
        # is needed, but the coroutine must return True.
        async def handler(message):
            count()
            return True
    else:
        def handler(message):  # True finishes
            count()
            return True

    c0 = cpu()
    t0 = time.perf_counter()
    # a Reader connects on the IOLoop's next turn after it is made
    reader = nsq.Reader(TOPIC, "bench", message_handler=handler, nsqd_tcp_addresses=[NSQD],
                        max_in_flight=MAX_IN_FLIGHT)
    try:
        await asyncio.wait_for(done.wait(), 300)
    except asyncio.TimeoutError:
        sys.exit("aconsume: only %d of %d messages within 300 s" % (state["n"], COUNT))
    c1 = cpu()
    reader.close()
    await asyncio.sleep(0.05)  # let the close callbacks run
    return COUNT, state["end"] - t0, c1 - c0


async def pynsq_publish(window):
    loop = asyncio.get_running_loop()
    writer = nsq.Writer([NSQD])
    deadline = time.monotonic() + 10
    while not any(c.connected() for c in writer.conns.values()):  # connects in the background
        if time.monotonic() > deadline:
            sys.exit("pynsq: no connection to %s within 10 s" % NSQD)
        await asyncio.sleep(0.001)

    def publish():
        # Writer.pub's return value is IOStream.write's future (the command
        # written to the socket, not nsqd's answer): the answer comes to the
        # callback as (conn, data), data b'OK' or an nsq.Error.
        fut = loop.create_future()

        def answered(conn, data):
            if isinstance(data, nsq.Error):
                fut.set_exception(data)
            else:
                fut.set_result(data)

        writer.pub(TOPIC, BODY, callback=answered)
        return fut

    check_ok(await publish())  # untimed: creates the topic
    c0 = cpu()
    t0 = time.perf_counter()
    if window:
        await windowed(publish)
    else:
        for _ in range(COUNT):
            check_ok(await publish())
    elapsed = time.perf_counter() - t0
    c1 = cpu()
    for conn in list(writer.conns.values()):  # a Writer has no close()
        conn.close()
    await asyncio.sleep(0.05)
    return COUNT, elapsed, c1 - c0


ASYNC_SCENARIOS = {
    "aconsume": lambda lib: lib["consume"](False),
    "aconsume-async": lambda lib: lib["consume"](True),
    "apub": lambda lib: lib["publish"](False),
    "apub100": lambda lib: lib["publish"](True),
}


def main():
    if SCENARIO == "consume" and os.environ.get("BENCH_CPROFILE"):
        n, elapsed, cpu_s = consume_profiled(os.environ["BENCH_CPROFILE"])
    elif RUNTIME in ("asyncio", "pynsq"):
        if SCENARIO not in ASYNC_SCENARIOS:
            sys.exit("scenario %r is not one of the %s runtime's" % (SCENARIO, RUNTIME))
        lib = ({"consume": aio_consume, "publish": aio_publish} if RUNTIME == "asyncio" else
               {"consume": pynsq_consume, "publish": pynsq_publish})
        n, elapsed, cpu_s = asyncio.run(ASYNC_SCENARIOS[SCENARIO](lib))
    else:
        scenarios = {"consume": consume, "mpub": mpub, "pub": pub, "pub100": pub100}
        if SCENARIO not in scenarios:
            sys.exit("scenario %r is not one of the %s runtime's" % (SCENARIO, RUNTIME))
        n, elapsed, cpu_s = scenarios[SCENARIO]()
    # the runtime that really ran, from what was imported
    if "gevent" in sys.modules:
        runtime = "gevent"
    elif "gnsq.aio" in sys.modules:
        runtime = "asyncio"
    elif "nsq" in sys.modules and "gnsq" not in sys.modules:
        runtime = "pynsq"
    else:
        runtime = "threads"
    patched = False
    if "gevent.monkey" in sys.modules:
        import gevent.monkey

        patched = gevent.monkey.is_module_patched("socket")
    if "gnsq" in sys.modules:
        lib = "gnsq_file=%s gnsq_version=%s" % (gnsq.__file__, gnsq.__version__)
        if "gnsq.aio" in sys.modules:
            lib += " aio_file=%s" % gnsq.aio.__file__
    else:
        lib = "gnsq_file=- gnsq_version=- nsq_file=%s nsq_version=%s tornado_version=%s" % (
            nsq.__file__, nsq.__version__, tornado.version)
    print("%s runtime=%s patched=%s gomaxprocs=%s n=%d elapsed_s=%.6f rate=%.1f cpu_s=%.4f" % (
        lib, runtime, patched, os.environ.get("GOMAXPROCS", "-"), n, elapsed, n / elapsed, cpu_s), flush=True)


if __name__ == "__main__":
    main()
