# faultproxy.bash - tests/lib/faultproxy.pl in front of the file's RGW
# (rgw.bash), an RGW restart, and the checks the fault suites share (an
# image of N MiB, a fleet, the audit of placements against allocations).
#
#   setup_file()    { load ../lib/common; load ../lib/rgw; load ../lib/faultproxy; fault_setup_file; }
#   teardown_file() { load ../lib/rgw; load ../lib/faultproxy; fault_teardown_file; }
#   setup()         { load ../lib/common; load ../lib/rgw; load ../lib/faultproxy; fault_setup PREFIX; }
#
# fault_setup_file: the file's RGW (rgw_setup_file) and the proxy in front
# of it; fault_teardown_file stops both. fault_setup PREFIX: for each test,
# ec_isolate, the RGW's credentials, no faults and a new log,
# EDGECTL_STORE through the proxy under PREFIX<test number>, T (the test's
# temp dir).
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

fault_setup_file() {
	rgw_setup_file || return 1
	[ -z "${RGW_MISSING:-}" ] || return 0
	fault_start
}

fault_teardown_file() {
	fault_stop
	rgw_stop
}

fault_setup() {
	ec_isolate
	rgw_require || return 1
	rgw_env
	fault_clear
	FAULT_PREFIX=$1$BATS_TEST_NUMBER
	EDGECTL_STORE=$(fault_store_url "$FAULT_PREFIX")
	export EDGECTL_STORE FAULT_PREFIX
	# shellcheck disable=SC2034 # for the tests
	T=$BATS_TEST_TMPDIR
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

# fault_open_uploads: how many multipart uploads are open on the RGW under
# the test's prefix (ListMultipartUploads, signed by tests/lib/s3get.pl,
# straight to RGW, not through the proxy, so the log stays the command's).
# Fails unless RGW answered with a listing.
fault_open_uploads() {
	local x
	x=$(perl "$FAULT_LIB/s3get.pl" "$S3_ENDPOINT" "/$RGW_BUCKET" \
		"prefix=$FAULT_PREFIX%2F&uploads=" "$RGW_REGION") || { echo "$x" >&2; return 1; }
	[[ $x == *"<ListMultipartUploadsResult"* ]] || { echo "not a listing: $x" >&2; return 1; }
	grep -o '<Upload>' <<<"$x" | wc -l
}

# fault_leftovers ROOT: half-written files a command must not leave in
# ROOT, one per line: temp files and dirs (.tmp-*, *.tmp), partial blobs
# (.partial-*), anything in ROOT/tmp (build dirs). Upload journals
# (ROOT/cache/uploads) are not listed: a resume needs them.
fault_leftovers() {
	find "$1" -path "$1/tmp/*" -prune -print -o \( -name '*.tmp*' -o -name '.tmp*' \
		-o -name '*.partial*' -o -name '.partial*' -o -name 'tmp-*' -o -name '.incoming*' \) \
		-print 2>/dev/null
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

# --- what the fault suites check with ---

# fault_image TAG MIB: an image of one random MIB MiB file in the test's
# root (not pushed).
fault_image() {
	mkdir -p "$BATS_TEST_TMPDIR/bigctx"
	head -c $(($2 << 20)) /dev/urandom >"$BATS_TEST_TMPDIR/bigctx/blob"
	printf 'FROM scratch\nCOPY blob /blob\n' >"$BATS_TEST_TMPDIR/bigctx/Dockerfile"
	edgectl -q build -t "$1" "$BATS_TEST_TMPDIR/bigctx" >/dev/null
}

# fault_digest TAG [ROOT]: the image's manifest digest in ROOT (default:
# the test's root).
fault_digest() {
	edgectl ${2:+--root "$2"} --json images | jq -er --arg t "$1" '.[] | select(.ref == $t) | .digest'
}

# fault_fleet LOCS HOSTS CPUS: locations loc1..locLOCS of HOSTS hosts
# (lNhM) with CPUS CPUs and 64 GiB each, written straight to the store.
fault_fleet() {
	local l h f=$BATS_TEST_TMPDIR/host.json
	for l in $(seq 1 "$1"); do
		edgectl location add "loc$l" --lat $((10 * l)) --lon $((20 * l)) --utc-offset +0$((l % 10)):00 || return 1
		for h in $(seq 1 "$2"); do
			jq -n --arg n "l${l}h$h" --arg l "loc$l" --argjson c "$3" \
				'{name: $n, location: $l, capacity: {cpus: $c, memory_bytes: 68719476736},
				  gpus: [], allocations: [], warm: [], labels: {}}' >"$f"
			edgectl store put "fleet/loc$l/hosts/l${l}h$h.json" "$f" >/dev/null || return 1
		done
	done
}

# fault_audit APPS...: the fleet against the apps' records, as JSON
# {total, over, lost, orphans, dup}: total allocations; hosts over
# capacity; placements with no allocation (lost); allocations no app
# record holds (orphans); (app, replica) allocated twice (dup). A clean
# fleet has empty arrays.
fault_audit() {
	local a d=$BATS_TEST_TMPDIR
	edgectl --json host ls >"$d/audit-hosts.json" || return 1
	for a in "$@"; do
		edgectl store get "apps/$a.json" - 2>/dev/null || echo '{"name": "'"$a"'", "placements": []}'
	done | jq -s . >"$d/audit-apps.json"
	jq -n -c --slurpfile h "$d/audit-hosts.json" --slurpfile a "$d/audit-apps.json" '
		($h[0] | map(.name as $n | .allocations[] | {app, replica, host: $n})) as $al
		| ($a[0] | map(.name as $n | .placements[] | {app: $n, replica, host})) as $pl
		| {total: ($al | length),
		   over: [$h[0][] | select((.allocations | map(.cpu_m) | add // 0) > .capacity.cpus * 1000) | .name],
		   lost: ($pl - $al), orphans: ($al - $pl),
		   dup: ($al | group_by([.app, .replica]) | map(select(length > 1)) | map(.[0]))}'
}
