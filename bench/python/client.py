"""One timed scenario with one gnsq: this package (PYTHONPATH=bindings/python)
or gnsq 1.0.2 from PyPI (the bench venv), in a process of its own.

    python client.py RUNTIME SCENARIO NSQD_TCP TOPIC COUNT [MAX_IN_FLIGHT]

RUNTIME:  threads  -- gevent is never imported (our package runs on threads)
          gevent   -- gevent is imported before gnsq, not monkey-patched
                      (gnsq 1.0.2 uses gevent's own sockets and needs no
                      patching; ours switches to gevent once it is imported);
                      BENCH_GEVENT_PATCH=1 calls gevent.monkey.patch_all()
                      first instead
SCENARIO: consume  -- a Consumer on channel "bench" with max_in_flight, a
                      no-op handler on on_message that counts; timed from
                      just before start() to the COUNT-th message
          mpub     -- multipublish of batches of 100 x 100 B until COUNT
                      messages (COUNT a multiple of 100), after one untimed
                      batch
          pub      -- COUNT sequential synchronous publish() of 100 B, after
                      one untimed publish

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
elif RUNTIME != "threads":
    sys.exit("runtime must be threads or gevent, not %r" % RUNTIME)

import resource
import threading
import time

import gnsq

SCENARIO, NSQD, TOPIC, COUNT = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
MAX_IN_FLIGHT = int(sys.argv[6]) if len(sys.argv) > 6 else 2500
BODY = b"m" * 100
BATCH = 100


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


def main():
    if SCENARIO == "consume" and os.environ.get("BENCH_CPROFILE"):
        n, elapsed, cpu_s = consume_profiled(os.environ["BENCH_CPROFILE"])
    else:
        n, elapsed, cpu_s = {"consume": consume, "mpub": mpub, "pub": pub}[SCENARIO]()
    runtime = "gevent" if "gevent" in sys.modules else "threads"
    patched = False
    if "gevent.monkey" in sys.modules:
        import gevent.monkey

        patched = gevent.monkey.is_module_patched("socket")
    print("gnsq_file=%s gnsq_version=%s runtime=%s patched=%s gomaxprocs=%s n=%d elapsed_s=%.6f rate=%.1f "
          "cpu_s=%.4f" % (gnsq.__file__, gnsq.__version__, runtime, patched, os.environ.get("GOMAXPROCS", "-"), n,
                          elapsed, n / elapsed, cpu_s), flush=True)


if __name__ == "__main__":
    main()
