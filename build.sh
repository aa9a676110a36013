#!/usr/bin/env bash
# libgnsq build driver.
#
#   ./build.sh [build]   build the Go core and the pinned NSQ servers (build/bin)
#   ./build.sh test      build, then run every test (Go with -race, C, Python, Node, fuzz smoke)
#   ./build.sh fuzz [FUZZTIME] [TARGET...]   run each core fuzz target longer
#                        (default 1000000x each, about 7 min in all on 2 cores)
#   ./build.sh demo      build, start a local nsqd, run the main example
#   ./build.sh bench     build, then run the Go benchmark program (bench/)
#   ./build.sh bench-c   build, then run the C benchmarks (bench/c, needs jq and perl)
#   ./build.sh bench-python   build, then run the Python benchmark (bench/python: ours vs gnsq 1.0.2 and pynsq 0.9.1)
#   ./build.sh bench-node     build, then run the Node benchmark (bench/node: ours vs nsqjs 0.13)
#   ./build.sh install PREFIX=dir   build, then install libgnsq.so.0, gnsq.h and gnsq.pc
#
# DEBUG=1 builds the library with symbols and DWARF (stripped otherwise).
#
# Needs only bash, curl and a network path to the Go module proxy: when no
# Go >= 1.22 is on PATH, the pinned Go toolchain is fetched from the proxy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD="$ROOT/build"
BIN="$BUILD/bin"
GO_PINNED=go1.26.8 # used only when the machine has no usable Go
# An execution count, not a duration: with a duration, go1.26's fuzz coordinator
# can fail a target with a bare "context deadline exceeded" when the time runs
# out under load (golang/go#75804, fixed in go1.27); a count has no deadline.
# 80000x keeps the four targets' smoke run near 30 s on 2 cores.
FUZZ_TIME=${FUZZ_TIME:-80000x}
LIB_VERSION=$(sed -n 's/^#define GNSQ_VERSION_STR "\(.*\)"/\1/p' "$ROOT/include/gnsq.h")
LIB_MAJOR=${LIB_VERSION%%.*}

log() { printf '==> %s\n' "$*" >&2; }

# ensure_go puts a Go >= 1.22 on PATH, downloading the pinned toolchain
# from the Go module proxy (golang.org/toolchain) when needed.
ensure_go() {
	if command -v go >/dev/null 2>&1; then
		local v
		v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
		local major=${v%%.*} rest=${v#*.}
		local minor=${rest%%.*}
		if [ "${major:-0}" -gt 1 ] || { [ "${major:-0}" -eq 1 ] && [ "${minor:-0}" -ge 22 ]; }; then
			return
		fi
	fi
	local dir="$BUILD/toolchain/$GO_PINNED"
	if [ ! -x "$dir/bin/go" ]; then
		local arch
		case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
		local os
		os=$(uname -s | tr '[:upper:]' '[:lower:]')
		local url="https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-$GO_PINNED.$os-$arch.zip"
		log "installing $GO_PINNED from $url"
		mkdir -p "$BUILD/toolchain"
		curl -fsSL "$url" -o "$BUILD/toolchain/go.zip"
		rm -rf "$BUILD/toolchain/extract"
		mkdir -p "$BUILD/toolchain/extract"
		if command -v unzip >/dev/null 2>&1; then
			unzip -q "$BUILD/toolchain/go.zip" -d "$BUILD/toolchain/extract"
		else
			python3 -m zipfile -e "$BUILD/toolchain/go.zip" "$BUILD/toolchain/extract"
		fi
		mv "$BUILD/toolchain/extract/golang.org/toolchain@v0.0.1-$GO_PINNED.$os-$arch" "$dir"
		chmod +x "$dir/bin/"* "$dir/pkg/tool/"*/* 2>/dev/null || true
		rm -rf "$BUILD/toolchain/extract" "$BUILD/toolchain/go.zip"
	fi
	export PATH="$dir/bin:$PATH"
}

# ensure_python_env makes build/venv with the pinned test and runtime
# dependencies of the Python package (from PyPI); a stamp file records the
# pins, so changing them rebuilds the venv.
PY_PINS=(pytest==8.3.4 blinker==1.9.0 gevent==24.11.1 uvloop==0.21.0)
ensure_python_env() {
	if [ "$(cat "$BUILD/venv/pins" 2>/dev/null)" != "${PY_PINS[*]}" ]; then
		log "creating build/venv with ${PY_PINS[*]}"
		rm -rf "$BUILD/venv"
		python3 -m venv "$BUILD/venv"
		"$BUILD/venv/bin/python" -m pip install -q "${PY_PINS[@]}"
		echo "${PY_PINS[*]}" >"$BUILD/venv/pins"
	fi
}

# ensure_node_env installs bindings/node's pinned development dependencies
# (node-api-headers, typescript, @types/node, koffi) from npm with `npm ci`;
# a stamp records the lockfile it installed.
ensure_node_env() {
	local dir="$ROOT/bindings/node" stamp
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "node and npm (Node.js >= 18) are needed for bindings/node" >&2
		exit 1
	fi
	stamp=$(sha256sum "$dir/package-lock.json" | cut -c1-16)
	if [ "$(cat "$dir/node_modules/.gnsq-stamp" 2>/dev/null)" != "$stamp" ]; then
		log "installing bindings/node's pinned dev dependencies (npm ci)"
		(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts)
		echo "$stamp" >"$dir/node_modules/.gnsq-stamp"
	fi
}

# build_node_addon compiles the Node-API addon bindings/node/lib/gnsq.node
# against node-api-headers (from npm), next to a copy of libgnsq.so.0 that
# it finds through its rpath $ORIGIN (in the repository and once installed).
build_node_addon() {
	ensure_node_env
	local dir="$ROOT/bindings/node"
	mkdir -p "$dir/lib"
	cp "$BUILD/lib/libgnsq.so.$LIB_VERSION" "$dir/lib/libgnsq.so.0"
	cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -shared -fPIC -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=gnsq \
		-I"$dir/node_modules/node-api-headers/include" -I"$ROOT/include" "$dir/src/addon.c" \
		-o "$dir/lib/gnsq.node" -L"$dir/lib" -l:libgnsq.so.0 -Wl,-rpath,'$ORIGIN'
}

# build_library builds libgnsq.so.$LIB_VERSION into $1 with the links
# libgnsq.so.0 (its SONAME) and libgnsq.so. Stripped unless DEBUG=1.
build_library() {
	local dir=$1 ldflags="-extldflags=-Wl,-soname,libgnsq.so.$LIB_MAJOR,--version-script=$ROOT/capi/libgnsq.map"
	[ "${DEBUG:-0}" = 1 ] || ldflags="-s -w $ldflags"
	(cd "$ROOT" && go build -buildmode=c-shared -ldflags="$ldflags" -o "$dir/libgnsq.so.$LIB_VERSION" ./capi)
	# cgo's generated header declares the Go exports (gnsqgo_*): not an API
	# (include/gnsq.h is), kept for the test comparing their prototypes.
	mv "$dir/libgnsq.so.${LIB_VERSION%.*}.h" "$dir/cgo-exports.h"
	ln -sf "libgnsq.so.$LIB_VERSION" "$dir/libgnsq.so.$LIB_MAJOR"
	ln -sf "libgnsq.so.$LIB_MAJOR" "$dir/libgnsq.so"
}

# write_pc FILE PREFIX INCLUDEDIR writes a pkg-config file. With PREFIX
# "relocatable" the paths are relative to the file itself (${pcfiledir}),
# so an installed tree can be moved.
write_pc() {
	local file=$1 prefix=$2 includedir=${3:-}
	mkdir -p "$(dirname "$file")"
	if [ "$prefix" = relocatable ]; then
		prefix='${pcfiledir}/../..'
		includedir='${prefix}/include'
	fi
	cat >"$file" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=$includedir

Name: gnsq
Description: NSQ client library with the semantics of Python's gnsq
Version: $LIB_VERSION
Libs: -L\${libdir} -lgnsq -Wl,-rpath,\${libdir}
Cflags: -I\${includedir}
PC
}

build() {
	ensure_go
	log "building the Go core"
	(cd "$ROOT" && go build ./...)
	log "building libgnsq.so (build/lib) and the C tests (build/tests)"
	mkdir -p "$BUILD/lib" "$BUILD/lib-cgocheck2" "$BUILD/tests"
	build_library "$BUILD/lib"
	GOEXPERIMENT=cgocheck2 build_library "$BUILD/lib-cgocheck2"
	local cflags=(-std=c99 -g -O1 -Wall -Wextra -Werror -I"$ROOT/include")
	local ldflags=(-L"$BUILD/lib" -lgnsq -lpthread -Wl,-rpath,'$ORIGIN/../lib')
	cc "${cflags[@]}" "$ROOT/tests/c/src/api_test.c" "${ldflags[@]}" -o "$BUILD/tests/api_test"
	cc "${cflags[@]}" "$ROOT/tests/c/src/tcp_steps_test.c" "${ldflags[@]}" -o "$BUILD/tests/tcp_steps_test"
	cc "${cflags[@]}" "$ROOT/tests/c/src/exit_live.c" "${ldflags[@]}" -o "$BUILD/tests/exit_live"
	cc "${cflags[@]}" "$ROOT/tests/c/src/leaks_test.c" "${ldflags[@]}" -o "$BUILD/tests/leaks_test"
	# Not linked to libgnsq: it dlopen()s the library like an FFI does.
	cc "${cflags[@]}" "$ROOT/tests/c/src/dlopen_test.c" -ldl -lpthread -o "$BUILD/tests/dlopen_test"
	mkdir -p "$BUILD/examples" "$BUILD/bench"
	local prog
	for prog in producer consumer_poll consumer_callbacks; do
		cc "${cflags[@]}" "$ROOT/examples/c/$prog.c" "${ldflags[@]}" -o "$BUILD/examples/$prog"
	done
	for prog in consume_bench publish_bench; do
		cc "${cflags[@]}" -O2 "$ROOT/bench/c/$prog.c" "${ldflags[@]}" -o "$BUILD/bench/$prog"
	done
	cc "${cflags[@]}" -fsanitize=address -fno-omit-frame-pointer "$ROOT/tests/c/src/api_test.c" "${ldflags[@]}" -o "$BUILD/tests/api_test_asan"
	write_pc "$BUILD/lib/pkgconfig/gnsq.pc" "$BUILD" "$ROOT/include"
	log "bundling libgnsq.so.0 into the Python package (bindings/python/gnsq/_lib)"
	mkdir -p "$ROOT/bindings/python/gnsq/_lib"
	cp "$BUILD/lib/libgnsq.so.$LIB_VERSION" "$ROOT/bindings/python/gnsq/_lib/libgnsq.so.0"
	log "building the Node addon with libgnsq.so.0 beside it (bindings/node/lib)"
	build_node_addon
	log "building nsqd, nsqlookupd, bench_writer, bench_reader v1.3.0 into build/bin"
	mkdir -p "$BIN"
	(cd "$ROOT/tests/servers" && go build -o "$BIN/" \
		github.com/nsqio/nsq/apps/nsqd \
		github.com/nsqio/nsq/apps/nsqlookupd \
		github.com/nsqio/nsq/bench/bench_writer \
		github.com/nsqio/nsq/bench/bench_reader)
}

run_tests() {
	build
	export GNSQ_BIN_DIR="$BIN"
	log "go vet (core and the bench module)"
	(cd "$ROOT" && go vet ./...)
	(cd "$ROOT/bench" && go vet ./...)
	log "go test -race ./..."
	(cd "$ROOT" && go test -race -count=1 -timeout 10m ./...)
	log "Python package tests (pytest)"
	ensure_python_env
	(cd "$ROOT" && PYTHONPATH="$ROOT/bindings/python" "$BUILD/venv/bin/python" -m pytest -q -p no:cacheprovider \
		-W error::pytest.PytestUnhandledThreadExceptionWarning tests/python)
	log "Node package tests (node --test tests/node)"
	(cd "$ROOT" && node --test --test-concurrency=1 tests/node/)
	log "fuzzing each target for -fuzztime $FUZZ_TIME"
	fuzz "$FUZZ_TIME"
	log "all tests passed"
}

# fuzz_targets prints "<package> <target>" for each Fuzz* target.
fuzz_targets() {
	local pkg
	for pkg in ./internal/protocol ./core; do
		(cd "$ROOT/$pkg" && grep -ho '^func Fuzz[A-Za-z0-9_]*' ./*_test.go | sed "s|^func |$pkg |")
	done
}

# fuzz [FUZZTIME] [TARGET...] runs each Fuzz* target (default: all) for
# FUZZTIME, an execution count as FUZZ_TIME is (default 1000000x: about a
# minute per in-memory target, 3-4 min for FuzzIdentifyResponse, which goes
# through loopback TCP). Inputs that find new coverage stay in Go's fuzz
# cache ($(go env GOCACHE)/fuzz); a failing one is written to
# testdata/fuzz/<target>/ in the target's package and fails the run.
fuzz() {
	ensure_go
	local fuzztime=${1:-1000000x} pkg target
	[ $# -gt 0 ] && shift
	local all
	all=$(fuzz_targets)
	local targets=("$@")
	if [ ${#targets[@]} -eq 0 ]; then
		mapfile -t targets < <(cut -d' ' -f2 <<<"$all")
	fi
	for target in "${targets[@]}"; do
		pkg=$(awk -v t="$target" '$2 == t { print $1 }' <<<"$all")
		if [ -z "$pkg" ]; then
			log "no fuzz target $target"
			return 1
		fi
		log "fuzzing $target for -fuzztime $fuzztime"
		(cd "$ROOT" && go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg")
	done
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

# wait_http_ok waits until GET http://$1/ping answers.
wait_http_ok() {
	local i
	for i in $(seq 1 300); do
		if curl -fs "http://$1/ping" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "nsqd did not answer on $1" >&2
	return 1
}

demo() {
	build
	local tcp http data pid
	tcp=$(free_port)
	http=$(free_port)
	data=$(mktemp -d)
	log "starting nsqd on 127.0.0.1:$tcp (http 127.0.0.1:$http)"
	"$BIN/nsqd" --tcp-address="127.0.0.1:$tcp" --http-address="127.0.0.1:$http" \
		--data-path="$data" --log-level=warn &
	pid=$!
	trap 'kill -TERM '"$pid"' 2>/dev/null; wait '"$pid"' 2>/dev/null; rm -rf '"$data" EXIT
	wait_http_ok "127.0.0.1:$http"
	log "running examples/go/demo"
	(cd "$ROOT" && go run ./examples/go/demo -nsqd "127.0.0.1:$tcp" -nsqd-http "127.0.0.1:$http")
	log "running the C examples: producer, then consumer_poll and consumer_callbacks"
	"$BUILD/examples/producer" "127.0.0.1:$tcp" demo_c_poll
	"$BUILD/examples/consumer_poll" "127.0.0.1:$tcp" demo_c_poll ch 16 30
	"$BUILD/examples/producer" "127.0.0.1:$tcp" demo_c_callbacks >/dev/null
	timeout 60 "$BUILD/examples/consumer_callbacks" "127.0.0.1:$tcp" demo_c_callbacks ch 16
	log "running examples/python/demo.py (the gnsq drop-in package)"
	ensure_python_env
	PYTHONPATH="$ROOT/bindings/python" timeout 60 "$BUILD/venv/bin/python" "$ROOT/examples/python/demo.py" "127.0.0.1:$tcp"
	log "running examples/python/aio_demo.py (gnsq.aio, asyncio)"
	PYTHONPATH="$ROOT/bindings/python" timeout 60 "$BUILD/venv/bin/python" "$ROOT/examples/python/aio_demo.py" \
		"127.0.0.1:$tcp" "127.0.0.1:$http"
	log "running examples/node/demo.js (the libgnsq npm package)"
	timeout 60 node "$ROOT/examples/node/demo.js" "127.0.0.1:$tcp" "127.0.0.1:$http"
}

# install PREFIX=dir (default /usr/local): the library with its links, the
# header and a relocatable gnsq.pc.
install_lib() {
	local prefix=/usr/local arg
	for arg in "$@"; do
		case "$arg" in
		PREFIX=*) prefix=${arg#PREFIX=} ;;
		*)
			echo "install: unknown argument $arg (PREFIX=dir)" >&2
			exit 2
			;;
		esac
	done
	build
	log "installing into $prefix"
	mkdir -p "$prefix/lib" "$prefix/include"
	cp "$BUILD/lib/libgnsq.so.$LIB_VERSION" "$prefix/lib/"
	ln -sf "libgnsq.so.$LIB_VERSION" "$prefix/lib/libgnsq.so.$LIB_MAJOR"
	ln -sf "libgnsq.so.$LIB_MAJOR" "$prefix/lib/libgnsq.so"
	cp "$ROOT/include/gnsq.h" "$prefix/include/"
	write_pc "$prefix/lib/pkgconfig/gnsq.pc" relocatable
}

# bench-c: the C benchmarks with the client programs at the defaults,
# at GOMAXPROCS=1, and pinned to one CPU (a 1-CPU container).
bench_c() {
	build
	local client_env
	for client_env in "" "GOMAXPROCS=1" "taskset -c 0"; do
		log "running bench/c/run.sh with client environment '${client_env:-defaults}' (needs jq and perl)"
		CLIENT_ENV="$client_env" "$ROOT/bench/c/run.sh"
	done
}

bench() {
	build
	log "running bench/cmd/nsqbench"
	(cd "$ROOT/bench" && go run ./cmd/nsqbench -nsqd-bin "$BIN/nsqd" -bench-writer-bin "$BIN/bench_writer" -bench-reader-bin "$BIN/bench_reader" "$@")
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case "$cmd" in
build) build ;;
test) run_tests ;;
fuzz) fuzz "$@" ;;
demo) demo ;;
bench) bench "$@" ;;
bench-c) bench_c ;;
bench-python)
	build
	"$ROOT/bench/python/run.sh"
	;;
bench-node)
	build
	"$ROOT/bench/node/run.sh"
	;;
install) install_lib "$@" ;;
*)
	echo "usage: $0 [build|test|fuzz [FUZZTIME] [TARGET...]|demo|bench|bench-c|bench-python|bench-node|install PREFIX=dir]" >&2
	exit 2
	;;
esac
