#!/usr/bin/env bash
# bench/python/run.sh - this package (bindings/python) against gnsq 1.0.2
# from PyPI, in one run on one nsqd: consuming, MPUB and synchronous
# publish, 100 B bodies; and its asyncio API (gnsq.aio) against pynsq 0.9.1
# (tornado) and gnsq 1.0.2. Prints per-round numbers, medians and ratios.
#
#   bench/python/run.sh                   # 3 rounds of pub, mpub, consume
#   ROUNDS=5 N=200000 M=20000 RDY=2500 bench/python/run.sh
#   SCENARIOS="consume" bench/python/run.sh
#   SCENARIOS=aio bench/python/run.sh     # = SCENARIOS="apub apub100 aconsume aconsume-async":
#                                         #   gnsq.aio vs pynsq 0.9.1 (and gnsq 1.0.2, ours threads)
#   SCENARIOS=all bench/python/run.sh     # both sets
#   CLIENTS="pynsq-0.9.1" SCENARIOS=aio bench/python/run.sh   # only these client kinds
#   PROFILE=1 bench/python/run.sh         # instead: cProfile of one consume per client
#
# The aio scenarios (bench.py's docstring has the details): aconsume (N
# messages, max_in_flight RDY, a plain handler), aconsume-async (an async
# def handler), apub (M sequential awaited publishes), apub100 (M
# publishes, 100 in flight); they print the issue's targets (ours-aio >=
# 20x pynsq and >= 8x gnsq 1.0.2 consuming, >= 2x pynsq in apub) as met or
# not.
#
# Needs build/bin/nsqd, build/bin/bench_writer and the library bundled in
# bindings/python/gnsq/_lib (./build.sh build; ./build.sh bench-python
# builds, then runs this), python3 (3.11 tested) and PyPI.
#
# build/bench-venv holds gnsq 1.0.2 and its dependencies, pinned (a stamp
# file rebuilds the venv when the pins change). Every measurement is a
# fresh process of that venv's python running bench/python/client.py:
#   ours-threads     PYTHONPATH=bindings/python, gevent never imported
#   ours-gevent      PYTHONPATH=bindings/python, gevent imported first, not
#                    monkey-patched (BENCH_GEVENT_PATCH=1: patch_all())
#   gnsq-1.0.2       no PYTHONPATH: PyPI's gnsq (gevent, as it always is)
#   ours-threads-1P  ours-threads with GOMAXPROCS=1 (a 1-CPU container)
#   ours-aio         PYTHONPATH=bindings/python, gnsq.aio under asyncio.run(),
#                    gevent never imported
#   ours-aio-1P      ours-aio with GOMAXPROCS=1
#   pynsq-0.9.1      no PYTHONPATH: PyPI's pynsq (import name nsq, so no
#                    clash with gnsq) on tornado's IOLoop, which is the
#                    running asyncio loop in tornado 6; gnsq never imported
# Each process prints its gnsq.__file__ (gnsq.aio's, nsq's), which the
# driver checks.
# nsqd's bench_writer (GOMAXPROCS=1: one connection, one MPUB of 100 x 100 B
# outstanding) runs in the MPUB rounds for as long as our MPUB runs took.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD="$ROOT/build"
VENV="$BUILD/bench-venv"
NSQD="$BUILD/bin/nsqd"
PYTHON=${PYTHON:-python3}
# gnsq 1.0.2 and the exact versions its dependencies resolved to on
# CPython 3.11 (gevent and blinker as build.sh pins them for the tests);
# pynsq 0.9.1 and tornado, its only dependency: pynsq requires tornado
# without a bound, and 6.6.1 (what it resolves to now) runs it on 3.11
# (checked: consume, async handlers, Writer.pub).
PINS=(gnsq==1.0.2 gevent==24.11.1 greenlet==3.5.6 zope.event==6.2 zope.interface==8.7
	blinker==1.9.0 six==1.17.0 urllib3==1.26.20 pynsq==0.9.1 tornado==6.6.1)

. "$ROOT/bench/lib.sh"

for f in "$NSQD" "$ROOT/bindings/python/gnsq/_lib/libgnsq.so.0"; do
	if [ ! -e "$f" ]; then
		echo "missing $f: run ./build.sh build first" >&2
		exit 1
	fi
done

if [ "$(cat "$VENV/pins" 2>/dev/null)" != "${PINS[*]}" ]; then
	log "creating build/bench-venv with ${PINS[*]}"
	rm -rf "$VENV"
	"$PYTHON" -m venv "$VENV"
	"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}"
	echo "${PINS[*]}" >"$VENV/pins"
fi
log "$("$VENV/bin/python" -VV | head -n1); $("$VENV/bin/python" -m pip freeze --disable-pip-version-check | tr '\n' ' ')"

DATA=$(mktemp -d)
# Our processes load a private copy of the bundled library (GNSQ_LIBRARY):
# every round measures the same build, and a rebuild during the run (which
# overwrites the file in place) cannot crash a client with SIGBUS.
mkdir -p "$DATA/lib" "$DATA/nsqd"
cp "$ROOT/bindings/python/gnsq/_lib/libgnsq.so.0" "$DATA/lib/libgnsq.so.0"
export GNSQ_LIBRARY="$DATA/lib/libgnsq.so.0"
log "library: copy of bindings/python/gnsq/_lib/libgnsq.so.0 (sha256 $(sha256sum "$GNSQ_LIBRARY" | cut -c1-12)); \
git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- bindings/python core capi 2>/dev/null | grep -q . && echo ', with uncommitted changes in bindings/python, core or capi')"
NSQD_PID=
cleanup() {
	stop_nsqd
	rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_nsqd "$NSQD" "$DATA/nsqd" "$DATA/nsqd.log"
log "nsqd v1.3.0 on 127.0.0.1:$TCP (http $HTTP), pid $NSQD_PID, data $DATA"

BW="$BUILD/bin/bench_writer"
[ -x "$BW" ] || {
	log "no $BW: MPUB is compared with gnsq only"
	BW=
}
ROOT="$ROOT" BENCH_PY="$VENV/bin/python" BENCH_WRITER="$BW" "$VENV/bin/python" "$ROOT/bench/python/bench.py" \
	"127.0.0.1:$TCP" "127.0.0.1:$HTTP" "$NSQD_PID"
