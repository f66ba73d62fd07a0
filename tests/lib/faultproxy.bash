# faultproxy.bash - tests/lib/faultproxy.pl in front of the file's RGW
# (rgw.bash), and an RGW restart, for the fault suites.
#
#   setup_file() { ...; rgw_setup_file; fault_start; }
#   teardown_file() { fault_stop; rgw_stop; }
#   setup() { ...; fault_clear; FAULT_STORE=$(fault_store_url PREFIX); }
#
# fault_start exports FAULT_DIR (rules, log, port), FAULT_ENDPOINT
# (http://127.0.0.1:PORT) and FAULT_PID; fault_stop kills exactly that PID
# (the proxy stops its own children).
FAULT_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fault_start() {
	[ -n "${S3_ENDPOINT:-}" ] || { echo "fault_start: no RGW (rgw_setup_file first)" >&2; return 1; }
	FAULT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/edgectl-fault.XXXXXX") || return 1
	: >"$FAULT_DIR/rules"
	perl "$FAULT_LIB/faultproxy.pl" "$FAULT_DIR" "${S3_ENDPOINT#http://}" \
		</dev/null >"$FAULT_DIR/out" 2>&1 3>&- &
	FAULT_PID=$!
	local i
	for i in $(seq 1 100); do
		[ -s "$FAULT_DIR/port" ] && break
		kill -0 "$FAULT_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$FAULT_DIR/port" ] || { cat "$FAULT_DIR/out" >&2; return 1; }
	FAULT_ENDPOINT=http://127.0.0.1:$(cat "$FAULT_DIR/port")
	export FAULT_DIR FAULT_ENDPOINT FAULT_PID
}

fault_stop() {
	[ -n "${FAULT_PID:-}" ] && kill "$FAULT_PID" 2>/dev/null
	[ -n "${FAULT_DIR:-}" ] && rm -rf "$FAULT_DIR"
	unset FAULT_PID FAULT_DIR
}

# A store URL through the proxy under PREFIX.
fault_store_url() {
	echo "s3://$RGW_BUCKET/$1?endpoint=$FAULT_ENDPOINT"
}

# fault_set RULE...: replace the rules (one per argument), counts afresh.
# The rename makes the change atomic for requests in flight.
fault_set() {
	rm -rf "$FAULT_DIR/counts"
	mkdir -p "$FAULT_DIR/counts"
	printf '%s\n' "$@" >"$FAULT_DIR/rules.tmp"
	mv "$FAULT_DIR/rules.tmp" "$FAULT_DIR/rules"
}

# Pass everything through again and start a new log.
fault_clear() {
	fault_set
	: >"$FAULT_DIR/log"
}

# fault_hits REGEX: how many logged requests match (a fault that never
# fired makes a test prove nothing, so tests check it fired).
fault_hits() {
	grep -cE -- "$1" "$FAULT_DIR/log" || true
}

# The radosgw process of the file's RGW (start-rgw.sh records it in pids).
rgw_pid() {
	local p
	for p in $(tac "$RGW_DIR/pids"); do
		if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q "^radosgw .*$RGW_DIR/ceph.conf"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# rgw_kill: stop radosgw (SIGKILL: a crash, nothing flushed), leaving the
# monitor and the OSD (the data) running.
rgw_kill() {
	local p
	p=$(rgw_pid) || { echo "rgw_kill: no radosgw running" >&2; return 1; }
	kill -9 "$p"
	while [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; do sleep 0.1; done
}

# rgw_start_again: start radosgw as start-rgw.sh did (its PID recorded, so
# rgw_stop stops it) and wait until it answers (up to 60 s).
rgw_start_again() {
	setsid radosgw -f -c "$RGW_DIR/ceph.conf" -n client.rgw \
		>>"$RGW_DIR/log/rgw.out" 2>&1 </dev/null 3>&- &
	local p=$! i
	echo "$p" >>"$RGW_DIR/pids"
	for i in $(seq 1 240); do
		curl -s -o /dev/null "$S3_ENDPOINT/" && return 0
		kill -0 "$p" 2>/dev/null || { echo "radosgw exited" >&2; return 1; }
		sleep 0.25
	done
	echo "radosgw not answering 60 s after its restart" >&2
	return 1
}
