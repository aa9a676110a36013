#!/usr/bin/env bash
# bench/c/run.sh - runs the C benchmarks (consume_bench, publish_bench)
# against a private nsqd started like bench/cmd/nsqbench starts its own
# (--mem-queue-size=10000000, --log-level=warn, free ports, a temporary
# data directory), and prints the medians.
#
#   bench/c/run.sh                 # 5 rounds
#   ROUNDS=3 N=200000 RDY=2500 M=20000 bench/c/run.sh
#   CLIENT_ENV="GOMAXPROCS=1" bench/c/run.sh    # the client programs at one P
#   CLIENT_ENV="taskset -c 0" bench/c/run.sh    # the client programs on one CPU
#
# Needs build/lib/libgnsq.so and build/bin/nsqd (./build.sh build), cc,
# curl, jq and perl. Compiles the two programs into build/bench/.
#
# Each round, per variant (finish.block, handler_ok.block, finish.fd, go;
# the order rotates):
#   a fresh topic and its channel are created over HTTP, filled with
#   N + 2 x RDY messages of 100 bytes by /mpub (binary, not timed), nsqd
#   is let go idle (see settle), and consume_bench reads N of them with max_in_flight RDY (answering with
#   FINISH or HANDLER_OK, waiting in a blocking gnsq_consumer_poll() or on
#   the notify fd), or gobench reads them with the Go Consumer. Afterwards nsqd's
#   /stats must show: channel message_count = the fill, depth + in flight =
#   the fill - what consume_bench answered (messages still in flight at the
#   disconnect stay there until nsqd's msg_timeout), no requeue, no timeout.
# Then publish_bench (C) and gobench (Go) each make M synchronous publishes
# to a fresh topic, whose message_count must then be M. Topics are deleted
# after use. The summary gives the C figures as ratios to the Go ones.
set -euo pipefail
trap 'echo "bench/c/run.sh: failed at line $LINENO" >&2' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${ROUNDS:-5}
N=${N:-200000}
RDY=${RDY:-2500}
M=${M:-20000}
OUT="$ROOT/build/bench"
NSQD="$ROOT/build/bin/nsqd"
BATCH=5000 # messages per /mpub request (nsqd's --max-body-size is 5 MB)

. "$ROOT/bench/lib.sh"

mkdir -p "$OUT"
for prog in consume_bench publish_bench; do
	cc -std=c99 -O2 -Wall -Wextra -Werror -I "$ROOT/include" "$ROOT/bench/c/$prog.c" \
		-L "$ROOT/build/lib" -lgnsq -Wl,-rpath,'$ORIGIN/../lib' -o "$OUT/$prog"
done
(cd "$ROOT/bench" && go build -o "$OUT/gobench" ./c/gobench)

DATA=$(mktemp -d)
WORK=$(mktemp -d)
NSQD_PID=
cleanup() {
	stop_nsqd
	rm -rf "$DATA" "$WORK"
}
trap cleanup EXIT
start_nsqd "$NSQD" "$DATA" "$WORK/nsqd.log"
log "nsqd on 127.0.0.1:$TCP (http $HTTP), pid $NSQD_PID"

api() { curl -fsS -X POST "http://127.0.0.1:$HTTP/$1" >/dev/null; }

# stat TOPIC JQ prints one value of /stats for TOPIC and its channel "bench".
stat() {
	curl -fsS "http://127.0.0.1:$HTTP/stats?format=json&topic=$1" |
		jq -r "(.topics[0]) as \$t | (\$t.channels[] | select(.channel_name == \"bench\")) as \$c | $2"
}

# mpub_file COUNT: a /mpub?binary=true body of COUNT 100-byte messages.
mpub_file() {
	local f="$WORK/mpub.$1"
	[ -f "$f" ] || perl -e 'my $n = shift; print pack("N", $n); print pack("N", 100), "m" x 100 for 1 .. $n' "$1" >"$f"
	echo "$f"
}

# fill TOPIC COUNT: creates TOPIC/bench and puts COUNT messages into it.
fill() {
	local topic=$1 left=$2 k
	api "topic/create?topic=$topic"
	api "channel/create?topic=$topic&channel=bench"
	while [ "$left" -gt 0 ]; do
		k=$((left < BATCH ? left : BATCH))
		curl -fsS -X POST "http://127.0.0.1:$HTTP/mpub?topic=$topic&binary=true" \
			--data-binary @"$(mpub_file "$k")" >/dev/null
		left=$((left - k))
	done
	for _ in $(seq 1 200); do
		[ "$(stat "$topic" '$c.depth')" = "$2" ] && return 0
		sleep 0.05
	done
	echo "fill $topic: channel depth $(stat "$topic" '$c.depth'), want $2" >&2
	return 1
}

# settle waits (at most 5 s) until nsqd is idle: under 10% of a core over
# 100 ms, so that the work left from a fill (nsqd's GC) is not measured as
# part of the next timed run.
nsqd_ticks() { awk '{ print $14 + $15 }' "/proc/$NSQD_PID/stat"; }
settle() {
	local a b
	for _ in $(seq 1 50); do
		a=$(nsqd_ticks)
		sleep 0.1
		b=$(nsqd_ticks)
		[ $((b - a)) -le 1 ] && return 0
	done
	echo "nsqd did not go idle within 5 s; measuring anyway" >&2
}

field() { tr " " "\n" | sed -n "s/^$1=//p" | head -n1; }

# client runs a client program under CLIENT_ENV (e.g. "GOMAXPROCS=1" or
# "taskset -c 0"); nsqd is not affected.
client() {
	# shellcheck disable=SC2086 # CLIENT_ENV is words on purpose
	env ${CLIENT_ENV:-} "$@"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Consume variants: <respond action>.<wait>. The blocking poll is the one
# the targets are about; "fd" waits on the notify fd instead (comparison);
# "go" is the Go Consumer (gobench) on the same nsqd and fill.
VARIANTS="finish.block handler_ok.block finish.fd go"
for v in $VARIANTS pub gopub; do : >"$WORK/$v"; done
FILL=$((N + 2 * RDY))
for r in $(seq 1 "$ROUNDS"); do
	# rotate the order of the variants from round to round
	set -- $VARIANTS
	for _ in $(seq 2 "$r"); do set -- "${@:2}" "$1"; done
	for v in "$@"; do
		mode=${v%.*} wait=${v#*.}
		topic="cbench_${r}_${mode}_$wait"
		fill "$topic" "$FILL"
		settle
		if [ "$v" = go ]; then
			line=$(client "$OUT/gobench" consume "127.0.0.1:$TCP" "$topic" bench "$N" "$RDY")
		else
			line=$(client "$OUT/consume_bench" "127.0.0.1:$TCP" "$topic" bench "$N" "$RDY" "$mode" "$wait")
		fi
		answered=$(echo "$line" | field answered)
		sleep 0.2 # let nsqd process the FINs and the disconnect
		checks=$(stat "$topic" '"\($c.message_count) \($c.depth + $c.in_flight_count) \($c.requeue_count) \($c.timeout_count)"')
		want="$FILL $((FILL - answered)) 0 0"
		if [ "$checks" != "$want" ]; then
			echo "round $r $v: channel message_count, depth+in_flight, requeue_count, timeout_count = $checks; want $want" >&2
			exit 1
		fi
		api "topic/delete?topic=$topic"
		echo "round $r: $line" >&2
		echo "$line" | field msg_per_s >>"$WORK/$v"
	done
	# sync publish: C and Go, in an order that alternates
	pubs="pub gopub"
	[ $((r % 2)) -eq 0 ] && pubs="gopub pub"
	for v in $pubs; do
		topic="pbench_${r}_$v"
		settle
		if [ "$v" = pub ]; then
			line=$(client "$OUT/publish_bench" "127.0.0.1:$TCP" "$topic" "$M" sync)
		else
			line=$(client "$OUT/gobench" publish "127.0.0.1:$TCP" "$topic" "$M")
		fi
		count=$(curl -fsS "http://127.0.0.1:$HTTP/stats?format=json&topic=$topic" | jq -r '.topics[0].message_count')
		if [ "$count" != "$M" ]; then
			echo "round $r $v: message_count $count, want $M" >&2
			exit 1
		fi
		api "topic/delete?topic=$topic"
		echo "round $r: $line" >&2
		echo "$line" | field us_per_call >>"$WORK/$v"
		echo "$line" | field cpu_us_per_call >>"$WORK/$v.cpu"
	done
done

fin=$(median <"$WORK/finish.block")
hok=$(median <"$WORK/handler_ok.block")
ffd=$(median <"$WORK/finish.fd")
gocons=$(median <"$WORK/go")
pub=$(median <"$WORK/pub")
gopub=$(median <"$WORK/gopub")
pubcpu=$(median <"$WORK/pub.cpu")
gopubcpu=$(median <"$WORK/gopub.cpu")
ratio() { echo "$1 $2" | awk '{ printf "%.3f", $1 / $2 }'; }
printf 'Client programs run with: %s\n' "${CLIENT_ENV:-(defaults)}"
printf 'Consume, %d msgs, max_in_flight %d, median of %d rounds (msg/s):\n' "$N" "$RDY" "$ROUNDS"
printf '  Go Consumer                 %.0f\n' "$gocons"
printf '  C, blocking poll + FINISH      %.0f  (%sx Go)\n' "$fin" "$(ratio "$fin" "$gocons")"
printf '  C, blocking poll + HANDLER_OK  %.0f  (%sx Go)\n' "$hok" "$(ratio "$hok" "$gocons")"
printf '  C, notify fd     + FINISH      %.0f  (%sx Go)\n' "$ffd" "$(ratio "$ffd" "$gocons")"
printf 'Sync publish, 100 B, %d calls, median of %d rounds (us/call; process CPU us/call):\n' "$M" "$ROUNDS"
printf '  Go Producer  %.2f  (cpu %.2f)\n' "$gopub" "$gopubcpu"
printf '  C            %.2f  (cpu %.2f; %sx Go publishes/s)\n' "$pub" "$pubcpu" "$(ratio "$gopub" "$pub")"
