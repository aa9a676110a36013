# bench/lib.sh: what the bench run.sh scripts share (sourced, not run).
# Each script starts one nsqd of its own on free ports and stops it by pid.

log() { printf '==> %s\n' "$*" >&2; }

# free_port prints a TCP port of 127.0.0.1 that nothing listens on.
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

# start_nsqd NSQD DATA_DIR LOG_FILE starts nsqd (its data in DATA_DIR, its
# output in LOG_FILE) on two free ports, sets TCP, HTTP and NSQD_PID, and
# waits until it answers. A port taken between the check and nsqd's bind
# (tests may run beside the benchmark) means new ports; after 5 tries it
# prints nsqd's log and exits.
start_nsqd() {
	local nsqd=$1 data=$2 logfile=$3 try
	for try in 1 2 3 4 5; do
		TCP=$(free_port)
		HTTP=$(free_port)
		while [ "$HTTP" = "$TCP" ]; do HTTP=$(free_port); done
		"$nsqd" --tcp-address="127.0.0.1:$TCP" --http-address="127.0.0.1:$HTTP" --broadcast-address=127.0.0.1 \
			--data-path="$data" --mem-queue-size=10000000 --log-level=warn >"$logfile" 2>&1 &
		NSQD_PID=$!
		for _ in $(seq 1 300); do
			curl -fs "http://127.0.0.1:$HTTP/ping" >/dev/null 2>&1 && return 0
			kill -0 "$NSQD_PID" 2>/dev/null || break # it exited: a port was taken
			sleep 0.05
		done
		stop_nsqd
	done
	echo "nsqd did not answer on 127.0.0.1:$HTTP; its log:" >&2
	cat "$logfile" >&2
	exit 1
}

# stop_nsqd stops the nsqd start_nsqd started, if it did.
stop_nsqd() {
	if [ -n "${NSQD_PID:-}" ]; then
		kill -TERM "$NSQD_PID" 2>/dev/null || true
		wait "$NSQD_PID" 2>/dev/null || true
	fi
}
