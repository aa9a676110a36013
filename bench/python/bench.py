"""Driver of bench/python/run.sh: runs the scenarios against one nsqd (which
run.sh started), each in a fresh process per client (client.py), checks
nsqd's counts, and prints per-round numbers, medians and ratios.

Standard library only; it never imports gnsq itself.

    python bench.py NSQD_TCP NSQD_HTTP NSQD_PID

Environment: ROUNDS (3), N (200000: messages consumed, and published by
MPUB), M (20000: synchronous and windowed publishes), RDY (2500),
SCENARIOS ("pub mpub consume"; "aio" stands for "apub apub100 aconsume
aconsume-async", "all" for both sets; publishing scenarios always run
before consuming ones), CLIENTS (only these client kinds,
e.g. "pynsq-0.9.1"; default all of each scenario's), BENCH_PY (the bench
venv's python), ROOT, BENCH_WRITER (nsqd's bench_writer, "" to skip).

Scenarios and their clients:
  pub, mpub, consume   ours-threads, ours-gevent, gnsq-1.0.2, ours-threads-1P
                       (and bench_writer in mpub)
  aconsume             ours-aio, pynsq-0.9.1, gnsq-1.0.2 (its plain consume:
                       gnsq has no asyncio API), ours-aio-1P
  aconsume-async       ours-aio, pynsq-0.9.1, ours-aio-1P (with an async def
                       handler; the gnsq 1.0.2 ratio uses gnsq-1.0.2's
                       consume from aconsume or consume of the same run, and
                       runs it here only when neither is selected)
  apub                 ours-aio, pynsq-0.9.1, ours-aio-1P
  apub100              ours-aio, pynsq-0.9.1, ours-threads (publish with
                       raise_error=False, 100 results outstanding),
                       ours-aio-1P
"""
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

TCP, HTTP, NSQD_PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
ROOT = os.environ["ROOT"]
PY = os.environ["BENCH_PY"]
BENCH_WRITER = os.environ.get("BENCH_WRITER", "")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
N = int(os.environ.get("N", "200000"))
M = int(os.environ.get("M", "20000"))
RDY = int(os.environ.get("RDY", "2500"))
SYNC_SCENARIOS = ["pub", "mpub", "consume"]
AIO_SCENARIOS = ["apub", "apub100", "aconsume", "aconsume-async"]
SCENARIOS = []
for _s in os.environ.get("SCENARIOS", "pub mpub consume").split():
    for _t in {"aio": AIO_SCENARIOS, "all": SYNC_SCENARIOS + AIO_SCENARIOS}.get(_s, [_s]):
        if _t not in SCENARIOS:
            SCENARIOS.append(_t)
for _s in SCENARIOS:
    if _s not in SYNC_SCENARIOS + AIO_SCENARIOS:
        raise SystemExit("unknown scenario %r (known: %s, aio, all)" % (_s, " ".join(SYNC_SCENARIOS + AIO_SCENARIOS)))
# publishing first (see main), in the order given otherwise
SCENARIOS.sort(key=lambda _s: _s in ("consume", "aconsume", "aconsume-async"))
ONLY = os.environ.get("CLIENTS", "").split()
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "client.py")
OURS_DIR = os.path.join(ROOT, "bindings", "python", "gnsq") + os.sep
VENV_DIR = os.path.dirname(os.path.dirname(os.path.abspath(PY))) + os.sep
FILL_BATCH = 5000  # messages per HTTP /mpub (nsqd's --max-body-size is 5 MB)
CLIENT_TIMEOUT = 600

# name -> (runtime, ours?, extra environment)
CLIENTS = {
    "ours-threads": ("threads", True, {}),
    "ours-gevent": ("gevent", True, {}),
    "gnsq-1.0.2": ("gevent", False, {}),
    "ours-threads-1P": ("threads", True, {"GOMAXPROCS": "1"}),
    "ours-aio": ("asyncio", True, {}),
    "ours-aio-1P": ("asyncio", True, {"GOMAXPROCS": "1"}),
    "pynsq-0.9.1": ("pynsq", False, {}),
}
ORDER = ["ours-threads", "ours-gevent", "gnsq-1.0.2", "ours-threads-1P"]
AIO_ORDER = ["ours-aio", "pynsq-0.9.1", "ours-aio-1P"]
# scenario -> its clients, in the order of round 1 (later rounds rotate it)
SCENARIO_CLIENTS = {
    "pub": ORDER, "mpub": ORDER, "consume": ORDER,
    "aconsume": ["ours-aio", "pynsq-0.9.1", "gnsq-1.0.2", "ours-aio-1P"],
    "aconsume-async": AIO_ORDER,
    "apub": AIO_ORDER,
    "apub100": ["ours-aio", "pynsq-0.9.1", "ours-threads", "ours-aio-1P"],
}
for _c in ONLY:
    if _c not in CLIENTS and _c != "bench_writer":
        raise SystemExit("unknown client %r in CLIENTS (known: %s bench_writer)" % (_c, " ".join(CLIENTS)))
# what client.py runs for a client whose API has no such scenario
CLIENT_SCENARIO = {("aconsume", "gnsq-1.0.2"): "consume", ("aconsume-async", "gnsq-1.0.2"): "consume",
                   ("apub100", "ours-threads"): "pub100"}
UNITS = {"consume": "msg/s", "mpub": "msg/s", "pub": "publishes/s", "aconsume": "msg/s",
         "aconsume-async": "msg/s", "apub": "publishes/s", "apub100": "publishes/s"}
CONSUMES = ("consume", "aconsume", "aconsume-async")
# the targets for ours-aio: scenario -> [(against, scenario of the reference, at least)]
TARGETS = {
    "aconsume": [("pynsq-0.9.1", "aconsume", 20.0), ("gnsq-1.0.2", None, 8.0)],
    "aconsume-async": [("pynsq-0.9.1", "aconsume-async", 20.0), ("gnsq-1.0.2", None, 8.0)],
    "apub": [("pynsq-0.9.1", "apub", 2.0)],
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- nsqd's HTTP API ---------------------------------------------------------

def http(method, path, data=None):
    req = urllib.request.Request("http://%s%s" % (HTTP, path), data=data, method=method)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def stats(topic):
    doc = json.loads(http("GET", "/stats?format=json&topic=%s" % topic))
    topics = doc.get("topics") or []
    return topics[0] if topics else None


def delete_topic(topic):
    try:
        http("POST", "/topic/delete?topic=%s" % topic)
    except urllib.error.HTTPError:
        pass


def fill(topic, count):
    """Creates topic and its channel "bench" and puts count 100 B messages
    into it over HTTP (binary /mpub); waits until the channel holds them."""
    http("POST", "/topic/create?topic=%s" % topic)
    http("POST", "/channel/create?topic=%s&channel=bench" % topic)
    one = struct.pack(">I", 100) + b"m" * 100
    left = count
    while left:
        k = min(left, FILL_BATCH)
        http("POST", "/mpub?topic=%s&binary=true" % topic, struct.pack(">I", k) + one * k)
        left -= k
    for _ in range(400):
        if channel(topic)["depth"] == count:
            return
        time.sleep(0.05)
    raise SystemExit("fill %s: channel depth %d, want %d" % (topic, channel(topic)["depth"], count))


def channel(topic):
    return [c for c in stats(topic)["channels"] if c["channel_name"] == "bench"][0]


def nsqd_ticks():
    with open("/proc/%d/stat" % NSQD_PID) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def settle():
    """Waits (at most 5 s) until nsqd is idle: at most 1 tick of CPU in
    100 ms, so that leftover work (a fill, GC) is not measured."""
    for _ in range(50):
        a = nsqd_ticks()
        time.sleep(0.1)
        if nsqd_ticks() - a <= 1:
            return
    log("   nsqd did not go idle within 5 s; measuring anyway")


# ---- clients -------------------------------------------------------------------

FILES = {}


def run_client(name, scenario, topic, count):
    runtime, ours, extra = CLIENTS[name]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("GOMAXPROCS", None)
    if ours:
        env["PYTHONPATH"] = os.path.join(ROOT, "bindings", "python")
    env.update(extra)
    args = [PY, CLIENT, runtime, CLIENT_SCENARIO.get((scenario, name), scenario), TCP, topic, str(count), str(RDY)]
    proc = subprocess.run(args, env=env, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=CLIENT_TIMEOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit("%s %s failed (exit %d):\n%s%s" % (name, scenario, proc.returncode, proc.stdout,
                                                             proc.stderr))
    line = proc.stdout.strip().splitlines()[-1]
    fields = dict(kv.split("=", 1) for kv in line.split())
    gfile = fields["gnsq_file"]
    # each process must have imported the gnsq it is meant to
    if ours != gfile.startswith(OURS_DIR):
        raise SystemExit("%s imported the wrong gnsq: %s" % (name, gfile))
    if fields["runtime"] != runtime:
        raise SystemExit("%s ran on %s, want %s" % (name, fields["runtime"], runtime))
    if runtime == "asyncio" and not fields.get("aio_file", "").startswith(OURS_DIR):
        raise SystemExit("%s imported the wrong gnsq.aio: %s" % (name, fields.get("aio_file")))
    if runtime == "pynsq":
        # pynsq from the bench venv, and no gnsq imported in that process
        nfile = fields.get("nsq_file", "")
        if gfile != "-" or not nfile.startswith(VENV_DIR) or fields.get("nsq_version") != "0.9.1":
            raise SystemExit("%s imported gnsq %s, nsq %s %s" % (name, gfile, nfile, fields.get("nsq_version")))
        gfile = "nsq %s, tornado %s" % (nfile, fields["tornado_version"])
    if name not in FILES:
        FILES[name] = gfile
        log("   %s: %s (runtime %s, monkey-patched %s)" % (
            name, gfile if runtime == "pynsq" else "gnsq.__file__ = " + gfile, fields["runtime"], fields["patched"]))
    return fields


BW_LINE = re.compile(r"duration: (\S+) - ([0-9.]+)mb/s - ([0-9.]+)ops/s")


def go_duration(text):
    total = 0.0
    for value, unit in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", text):
        total += float(value) * {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def run_bench_writer(topic, runfor):
    """nsqd's bench_writer with one connection (GOMAXPROCS=1), one MPUB of
    100 x 100 B outstanding, for runfor seconds. Returns (msgs, seconds)."""
    env = dict(os.environ, GOMAXPROCS="1")
    proc = subprocess.run([BENCH_WRITER, "-nsqd-tcp-address=" + TCP, "-topic=" + topic, "-size=100",
                           "-batch-size=100", "-runfor=%dms" % max(int(runfor * 1000), 200)],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=runfor + 60)
    m = BW_LINE.search(proc.stdout)
    if proc.returncode != 0 or not m:
        raise SystemExit("bench_writer failed (exit %d):\n%s" % (proc.returncode, proc.stdout))
    seconds = go_duration(m.group(1))
    return int(float(m.group(3)) * seconds + 0.5), seconds


# ---- scenarios ----------------------------------------------------------------

results = {}  # (scenario, client) -> [rate per round]
cpu_per = {}  # (scenario, client) -> [cpu µs per message per round]
mpub_elapsed = []


def record(scenario, name, rate, cpu_us=None):
    results.setdefault((scenario, name), []).append(rate)
    if cpu_us is not None:
        cpu_per.setdefault((scenario, name), []).append(cpu_us)


def rotated(items, r):
    k = (r - 1) % len(items)
    return items[k:] + items[:k]


def one(scenario, name, r):
    topic = "py_%s_%d_%s" % (scenario, r, name.replace(".", "").replace("-", "_"))
    delete_topic(topic)
    if scenario in CONSUMES:
        total = N + 2 * RDY  # see BENCHMARKS.md: the channel must not run dry before the N-th message
        fill(topic, total)
    settle()
    if name == "bench_writer":
        runfor = statistics.median(mpub_elapsed) if mpub_elapsed else 1.0
        msgs, seconds = run_bench_writer(topic, runfor)
        got = stats(topic)["message_count"]
        if abs(got - msgs) > 100:
            raise SystemExit("bench_writer reported %d messages, nsqd has %d" % (msgs, got))
        rate = msgs / seconds
        log("   round %d %-8s %-16s %10.0f %s  (%d msgs in %.3f s)" % (r, scenario, name, rate, UNITS[scenario],
                                                                      msgs, seconds))
        record(scenario, name, rate)
        delete_topic(topic)
        return
    count = N if scenario in CONSUMES or scenario == "mpub" else M
    f = run_client(name, scenario, topic, count)
    n, elapsed, cpu_s = int(f["n"]), float(f["elapsed_s"]), float(f["cpu_s"])
    if scenario in CONSUMES:
        time.sleep(0.2)
        st = stats(topic)
        if st["message_count"] != total:
            raise SystemExit("%s %s: topic message_count %d, want %d" % (name, scenario, st["message_count"], total))
        if scenario != "consume":
            # A handler's return taken as a failure would leave the
            # messages unfinished (requeued, back in the queue): at least
            # N - max_in_flight must have been finished (neither queued
            # nor in flight). A close may requeue what the client holds
            # unhandled (ours-aio does, pynsq and gnsq 1.0.2 leave it in
            # flight), and more than max_in_flight when nsqd sends more
            # before it sees the close.
            ch = [c for c in st["channels"] if c["channel_name"] == "bench"][0]
            finished = total - ch["in_flight_count"] - ch["depth"] - ch["deferred_count"]
            log("   %s %s: after close the channel has %d requeued%s, %d in flight and %d queued, so %d finished" % (
                name, scenario, ch["requeue_count"], " (more than max_in_flight)" if ch["requeue_count"] > RDY else "",
                ch["in_flight_count"], ch["depth"], finished))
            if finished < N - RDY:
                raise SystemExit("%s %s: only %d messages finished, want at least N - max_in_flight = %d" % (
                    name, scenario, finished, N - RDY))
    else:
        want = count + (100 if scenario == "mpub" else 1)  # the untimed first call
        got = stats(topic)["message_count"]
        if got != want:
            raise SystemExit("%s %s: topic message_count %d, want %d" % (name, scenario, got, want))
        if scenario == "mpub" and name.startswith("ours"):
            mpub_elapsed.append(elapsed)
    delete_topic(topic)
    rate = n / elapsed
    log("   round %d %-8s %-16s %10.0f %s  (%.3f s, client CPU %.2f us/msg)" % (
        r, scenario, name, rate, UNITS[scenario], elapsed, cpu_s / n * 1e6))
    record(scenario, name, rate, cpu_s / n * 1e6)


def profile():
    """PROFILE=1: one consume of N messages per client under cProfile (the
    consumer's loop in the process's main thread), each from a fresh fill;
    prints the top functions by own time."""
    import pstats
    import tempfile

    top = int(os.environ.get("PROFILE_TOP", "18"))
    outdir = tempfile.mkdtemp(prefix="gnsq-profile-")
    for name in ("ours-threads", "ours-gevent", "gnsq-1.0.2"):
        topic = "py_profile_" + name.replace("-", "_").replace(".", "")
        delete_topic(topic)
        fill(topic, N + 2 * RDY)
        settle()
        path = os.path.join(outdir, name + ".pstats")
        os.environ["BENCH_CPROFILE"] = path
        try:
            f = run_client(name, "consume", topic, N)
        finally:
            del os.environ["BENCH_CPROFILE"]
        delete_topic(topic)
        n, elapsed, cpu_s = int(f["n"]), float(f["elapsed_s"]), float(f["cpu_s"])
        print("\n#### %s: %d messages in %.3f s under cProfile (%.0f msg/s), client CPU %.2f us/msg; %s\n"
              % (name, n, elapsed, n / elapsed, cpu_s / n * 1e6, path))
        st = pstats.Stats(path, stream=sys.stdout)
        st.sort_stats("tottime").print_stats(top)
        sys.stdout.flush()


def main():
    log("python: %s; nsqd tcp %s http %s pid %d; ROUNDS=%d N=%d M=%d RDY=%d; scenarios %s%s" % (
        PY, TCP, HTTP, NSQD_PID, ROUNDS, N, M, RDY, " ".join(SCENARIOS),
        "; clients " + " ".join(ONLY) if ONLY else ""))
    # Publishing first (all rounds), consuming last: consuming leaves nsqd
    # with a larger heap, which would shift later publish numbers.
    for scenario in SCENARIOS:
        names = list(SCENARIO_CLIENTS[scenario])
        if scenario == "mpub" and BENCH_WRITER:
            names.append("bench_writer")
        if scenario == "aconsume-async" and not ({"aconsume", "consume"} & set(SCENARIOS)):
            names.insert(2, "gnsq-1.0.2")  # the reference of the gnsq 1.0.2 target
        if ONLY:
            names = [n for n in names if n in ONLY]
        if not names:
            continue
        log("== %s" % scenario)
        for r in range(1, ROUNDS + 1):
            for name in rotated(names, r):
                one(scenario, name, r)
    report()


def fmt(x):
    return "{:,.0f}".format(x)


def report():
    med = {k: statistics.median(v) for k, v in results.items()}
    out = sys.stdout
    ran = [s for s in SCENARIOS if any(k[0] == s for k in results)]
    aio = [s for s in ran if s in AIO_SCENARIOS]
    out.write("\n### Per round (%s)\n\n" % ", ".join("%s %s" % (s, UNITS[s]) for s in ran))
    if not aio:
        cols = ORDER + ["bench_writer"]
    else:
        cols = [c for c in ORDER + AIO_ORDER + ["bench_writer"] if any((s, c) in results for s in ran)]
    out.write("| scenario | round | " + " | ".join(cols) + " |\n|---|---:|" + "---:|" * len(cols) + "\n")
    for s in ran:
        for r in range(ROUNDS):
            cells = [fmt(results[(s, c)][r]) if len(results.get((s, c), ())) > r else "" for c in cols]
            out.write("| %s | %d | %s |\n" % (s, r + 1, " | ".join(cells)))

    def ratio_of(sa, a, sb, b):
        """the ratio of the medians of (sa, a) and (sb, b), or None"""
        if (sa, a) not in med or (sb, b) not in med:
            return None
        return med[(sa, a)] / med[(sb, b)]

    def ratio(sa, a, sb, b):
        x = ratio_of(sa, a, sb, b)
        if x is None:
            return ""
        per = [p / q for p, q in zip(results[(sa, a)], results[(sb, b)])]
        return "**%.2fx** (%.2f-%.2f)" % (x, min(per), max(per))

    out.write("\n### Medians of %d rounds and ratios (ratios of the medians; per-round range in brackets)\n\n"
              % ROUNDS)
    sync = [s for s in ran if s not in AIO_SCENARIOS]
    if sync:
        out.write("| scenario | ours threads | ours gevent | gnsq 1.0.2 (gevent) | ours threads GOMAXPROCS=1 "
                  "| threads / gnsq | gevent / gnsq | 1P threads / gnsq | bench_writer | ours threads / bench_writer "
                  "| ours gevent / bench_writer |\n")
        out.write("|---|" + "---:|" * 10 + "\n")
        for s in sync:
            cells = [fmt(med[(s, c)]) if (s, c) in med else "" for c in ORDER]
            cells += [ratio(s, "ours-threads", s, "gnsq-1.0.2"), ratio(s, "ours-gevent", s, "gnsq-1.0.2"),
                      ratio(s, "ours-threads-1P", s, "gnsq-1.0.2")]
            cells += [fmt(med[(s, "bench_writer")]) if (s, "bench_writer") in med else "",
                      ratio(s, "ours-threads", s, "bench_writer"), ratio(s, "ours-gevent", s, "bench_writer")]
            out.write("| %s (%s) | %s |\n" % (s, UNITS[s], " | ".join(cells)))
    if aio:
        if sync:
            out.write("\n")

        def gnsq_ref(s):
            """the scenario whose gnsq-1.0.2 consume is the reference of s"""
            for t in (s, "aconsume", "consume"):
                if (t, "gnsq-1.0.2") in med:
                    return t
            return None

        out.write("| scenario | ours aio | ours aio GOMAXPROCS=1 | pynsq 0.9.1 | gnsq 1.0.2 consume (gevent) "
                  "| ours threads (raise_error=False) | aio / pynsq | aio 1P / pynsq | aio / gnsq | aio 1P / gnsq "
                  "| aio / threads |\n")
        out.write("|---|" + "---:|" * 10 + "\n")
        for s in aio:
            g = gnsq_ref(s) if s in CONSUMES else None
            cells = [fmt(med[(s, c)]) if (s, c) in med else "" for c in ("ours-aio", "ours-aio-1P", "pynsq-0.9.1")]
            cells.append((fmt(med[(g, "gnsq-1.0.2")]) + ("" if g == s else " (from %s)" % g)) if g else "")
            cells.append(fmt(med[(s, "ours-threads")]) if (s, "ours-threads") in med else "")
            cells += [ratio(s, "ours-aio", s, "pynsq-0.9.1"), ratio(s, "ours-aio-1P", s, "pynsq-0.9.1")]
            cells += [ratio(s, "ours-aio", g, "gnsq-1.0.2") if g else "",
                      ratio(s, "ours-aio-1P", g, "gnsq-1.0.2") if g else ""]
            cells.append(ratio(s, "ours-aio", s, "ours-threads"))
            out.write("| %s (%s) | %s |\n" % (s, UNITS[s], " | ".join(cells)))
        lines = []
        for s in aio:
            for against, ref, least in TARGETS.get(s, []):
                note = ""
                if ref is None:
                    ref = gnsq_ref(s)
                    note = " (%s's plain consume, measured in %s)" % (against, ref) if ref else ""
                x = ratio_of(s, "ours-aio", ref, against) if ref else None
                x1 = ratio_of(s, "ours-aio-1P", ref, against) if ref else None
                verdict = "not measured" if x is None else "%.2fx, %s" % (x, "met" if x >= least else "NOT met")
                if x1 is not None:
                    verdict += " (GOMAXPROCS=1: %.2fx, %s)" % (x1, "met" if x1 >= least else "NOT met")
                lines.append("- %s: ours-aio >= %gx %s%s: %s\n" % (s, least, against, note, verdict))
        if lines:
            out.write("\nThe issue's targets (medians):\n\n" + "".join(lines))
    ccols = [c for c in cols if c != "bench_writer"]
    out.write("\nClient CPU per message (user+sys of the client process over the timed part, median, us):\n\n")
    out.write("| scenario | " + " | ".join(ccols) + " |\n|---|" + "---:|" * len(ccols) + "\n")
    for s in ran:
        cells = ["%.2f" % statistics.median(cpu_per[(s, c)]) if (s, c) in cpu_per else "" for c in ccols]
        out.write("| %s | %s |\n" % (s, " | ".join(cells)))
    out.write("\n%s imported from: %s\n" % ("gnsq" if not aio else "libraries",
                                           "; ".join("%s %s" % (k, v) for k, v in FILES.items())))
    out.flush()


if __name__ == "__main__":
    try:
        profile() if os.environ.get("PROFILE") == "1" else main()
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
