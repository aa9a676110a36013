"""Driver of bench/python/run.sh: runs the scenarios against one nsqd (which
run.sh started), each in a fresh process per client (client.py), checks
nsqd's counts, and prints per-round numbers, medians and ratios.

Standard library only; it never imports gnsq itself.

    python bench.py NSQD_TCP NSQD_HTTP NSQD_PID

Environment: ROUNDS (3), N (200000: messages consumed, and published by
MPUB), M (20000: synchronous publishes), RDY (2500), SCENARIOS
("pub mpub consume"), BENCH_PY (the bench venv's python), ROOT,
BENCH_WRITER (nsqd's bench_writer, "" to skip).
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
SCENARIOS = os.environ.get("SCENARIOS", "pub mpub consume").split()
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "client.py")
OURS_DIR = os.path.join(ROOT, "bindings", "python", "gnsq") + os.sep
FILL_BATCH = 5000  # messages per HTTP /mpub (nsqd's --max-body-size is 5 MB)
CLIENT_TIMEOUT = 600

# name -> (runtime, ours?, extra environment)
CLIENTS = {
    "ours-threads": ("threads", True, {}),
    "ours-gevent": ("gevent", True, {}),
    "gnsq-1.0.2": ("gevent", False, {}),
    "ours-threads-1P": ("threads", True, {"GOMAXPROCS": "1"}),
}
ORDER = ["ours-threads", "ours-gevent", "gnsq-1.0.2", "ours-threads-1P"]
UNITS = {"consume": "msg/s", "mpub": "msg/s", "pub": "publishes/s"}


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
    args = [PY, CLIENT, runtime, scenario, TCP, topic, str(count), str(RDY)]
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
    if name not in FILES:
        FILES[name] = gfile
        log("   %s: gnsq.__file__ = %s (runtime %s, monkey-patched %s)" % (name, gfile, fields["runtime"],
                                                                           fields["patched"]))
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
    if scenario == "consume":
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
    count = {"consume": N, "mpub": N, "pub": M}[scenario]
    f = run_client(name, scenario, topic, count)
    n, elapsed, cpu_s = int(f["n"]), float(f["elapsed_s"]), float(f["cpu_s"])
    if scenario == "consume":
        time.sleep(0.2)
        st = stats(topic)
        if st["message_count"] != total:
            raise SystemExit("%s consume: topic message_count %d, want %d" % (name, st["message_count"], total))
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
    log("python: %s; nsqd tcp %s http %s pid %d; ROUNDS=%d N=%d M=%d RDY=%d" % (PY, TCP, HTTP, NSQD_PID, ROUNDS,
                                                                               N, M, RDY))
    # Publishing first (all rounds), consuming last: consuming leaves nsqd
    # with a larger heap, which would shift later publish numbers.
    for scenario in SCENARIOS:
        names = list(ORDER)
        if scenario == "mpub" and BENCH_WRITER:
            names.append("bench_writer")
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
    out.write("\n### Per round (%s)\n\n" % ", ".join("%s %s" % (s, UNITS[s]) for s in SCENARIOS))
    cols = ORDER + ["bench_writer"]
    out.write("| scenario | round | " + " | ".join(cols) + " |\n|---|---:|" + "---:|" * len(cols) + "\n")
    for s in SCENARIOS:
        for r in range(ROUNDS):
            cells = [fmt(results[(s, c)][r]) if (s, c) in results else "" for c in cols]
            out.write("| %s | %d | %s |\n" % (s, r + 1, " | ".join(cells)))
    out.write("\n### Medians of %d rounds and ratios (ratios of the medians; per-round range in brackets)\n\n"
              % ROUNDS)
    out.write("| scenario | ours threads | ours gevent | gnsq 1.0.2 (gevent) | ours threads GOMAXPROCS=1 "
              "| threads / gnsq | gevent / gnsq | 1P threads / gnsq | bench_writer | ours threads / bench_writer "
              "| ours gevent / bench_writer |\n")
    out.write("|---|" + "---:|" * 10 + "\n")

    def ratio(s, a, b):
        if (s, a) not in med or (s, b) not in med:
            return ""
        per = [x / y for x, y in zip(results[(s, a)], results[(s, b)])]
        return "**%.2fx** (%.2f-%.2f)" % (med[(s, a)] / med[(s, b)], min(per), max(per))

    for s in SCENARIOS:
        cells = [fmt(med[(s, c)]) if (s, c) in med else "" for c in ORDER]
        cells += [ratio(s, "ours-threads", "gnsq-1.0.2"), ratio(s, "ours-gevent", "gnsq-1.0.2"),
                  ratio(s, "ours-threads-1P", "gnsq-1.0.2")]
        cells += [fmt(med[(s, "bench_writer")]) if (s, "bench_writer") in med else "",
                  ratio(s, "ours-threads", "bench_writer"), ratio(s, "ours-gevent", "bench_writer")]
        out.write("| %s (%s) | %s |\n" % (s, UNITS[s], " | ".join(cells)))
    out.write("\nClient CPU per message (user+sys of the client process over the timed part, median, us):\n\n")
    out.write("| scenario | " + " | ".join(ORDER) + " |\n|---|" + "---:|" * len(ORDER) + "\n")
    for s in SCENARIOS:
        cells = ["%.2f" % statistics.median(cpu_per[(s, c)]) if (s, c) in cpu_per else "" for c in ORDER]
        out.write("| %s | %s |\n" % (s, " | ".join(cells)))
    out.write("\ngnsq imported from: %s\n" % "; ".join("%s %s" % (k, v) for k, v in FILES.items()))
    out.flush()


if __name__ == "__main__":
    try:
        profile() if os.environ.get("PROFILE") == "1" else main()
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
