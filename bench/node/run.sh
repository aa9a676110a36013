#!/usr/bin/env bash
# bench/node/run.sh - this package (bindings/node) against nsqjs 0.13.0 from
# npm, in one run on one nsqd: consuming, sequential publish, 100 publishes
# in flight and MPUB, 100 B bodies. Prints per-round numbers, medians,
# ratios and the issue's targets (met or NOT met).
#
#   bench/node/run.sh                             # 3 rounds of pub, pub100, mpub, consume
#   ROUNDS=5 N=200000 M=20000 RDY=2500 bench/node/run.sh
#   SCENARIOS="consume" bench/node/run.sh         # only these scenarios
#   CLIENTS="ours nsqjs" bench/node/run.sh        # only these client kinds
#   CPU_PROF=/tmp/prof bench/node/run.sh          # every client under node --cpu-prof
#
# Client kinds, each a fresh node process of bench/node/client.js per round:
#   ours      the package (require of bindings/node's copy, see below)
#   nsqjs     nsqjs 0.13.0 from bench/node/node_modules (never loads the package)
#   ours-1P   ours with GOMAXPROCS=1 (a 1-CPU container)
# Scenarios and checks: bench/node/bench.js's header.
#
# Needs build/bin/nsqd and the built addon (bindings/node/lib/gnsq.node and
# lib/libgnsq.so.0 next to it), node >= 18, npm and the npm registry.
# nsqjs is pinned by bench/node/package.json and package-lock.json and
# installed with `npm ci` into bench/node/node_modules (again whenever the
# lock file changes); it is never a dependency of the package.
#
# The machine's load moves these numbers: on a shared 2-core VM expect
# +-20% between runs; the ratios of one run (same nsqd, alternating
# clients) are steadier than the absolute rates.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/bench/node"
NSQD="$ROOT/build/bin/nsqd"
PKG="$ROOT/bindings/node"

. "$ROOT/bench/lib.sh"

for f in "$NSQD" "$PKG/index.js" "$PKG/lib/gnsq.node" "$PKG/lib/libgnsq.so.0"; do
	if [ ! -e "$f" ]; then
		echo "missing $f: run ./build.sh build and build the Node addon first" >&2
		exit 1
	fi
done

# nsqjs, exactly as package-lock.json pins it (nsqjs is plain JavaScript;
# its optional snappy and crc32 dependencies ship prebuilt binaries, so no
# install scripts are run)
STAMP="$HERE/node_modules/.bench-lock-sha256"
LOCK_SHA=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$LOCK_SHA" ]; then
	log "npm ci in bench/node (nsqjs 0.13.0, as package-lock.json pins it)"
	(cd "$HERE" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
	echo "$LOCK_SHA" >"$STAMP"
fi
log "node $(node --version), npm $(npm --version); nsqjs $(node -p "require('$HERE/node_modules/nsqjs/package.json').version")"

DATA=$(mktemp -d)
# The clients load a private copy of the package (its .js files and lib/):
# every round measures the same build, and a rebuild during the run (which
# overwrites lib/ in place) cannot crash a client with SIGBUS.
mkdir -p "$DATA/nsqd" "$DATA/pkg"
cp "$PKG"/*.js "$PKG/package.json" "$DATA/pkg/"
cp -r "$PKG/lib" "$DATA/pkg/lib"
export BENCH_GNSQ_PKG="$DATA/pkg"
log "package: copy of bindings/node (gnsq.node sha256 $(sha256sum "$DATA/pkg/lib/gnsq.node" | cut -c1-12), \
libgnsq.so.0 sha256 $(sha256sum "$DATA/pkg/lib/libgnsq.so.0" | cut -c1-12)); \
git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- bindings/node core capi 2>/dev/null | grep -q . && echo ', with uncommitted changes in bindings/node, core or capi')"
NSQD_PID=
cleanup() {
	stop_nsqd
	rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_nsqd "$NSQD" "$DATA/nsqd" "$DATA/nsqd.log"
log "nsqd $("$NSQD" --version 2>&1 | head -n1 | cut -d' ' -f2) on 127.0.0.1:$TCP (http $HTTP), pid $NSQD_PID, data $DATA"

node "$HERE/bench.js" "127.0.0.1:$TCP" "127.0.0.1:$HTTP" "$NSQD_PID"
