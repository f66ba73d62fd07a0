#!/usr/bin/env bats
# radosgw killed (-9) and started again under running commands: a 1 GiB
# push and pull (FAULT_BIG_MIB=N for another size), and 8
# concurrent schedulers. The store's retries ride out the restart or the
# command exits 4 and its re-run finishes; afterwards the audit is clean:
# no host over capacity, no placement lost or doubled, every blob verifies
# (a pull into a fresh root hashes every blob).
# The requests go through tests/lib/faultproxy.pl (no faults set) only so
# that the test can see how far a command got before pulling the plug.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/rgw
	load ../lib/faultproxy
	fault_setup_file
}

teardown_file() {
	load ../lib/rgw
	load ../lib/faultproxy
	fault_teardown_file
}

setup() {
	load ../lib/common
	load ../lib/rgw
	load ../lib/faultproxy
	fault_setup r
	BG=()
}

teardown() {
	local p
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
	# radosgw back for the next test whatever happened
	rgw_pid >/dev/null || rgw_start_again
}

# wait_hits REGEX N: until the proxy logged N requests matching (60 s).
wait_hits() {
	local i
	for i in $(seq 1 600); do
		[ "$(fault_hits "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "wait_hits: fewer than $2 requests matching '$1' after 60 s" >&2
	return 1
}

# restart_rgw: kill -9, 1 s of nothing answering, start again.
restart_rgw() {
	rgw_kill
	sleep 1
	rgw_start_again
}

# bg CMD...: CMD in the background under a 600 s bound (timeout kills it
# by PID, then wait gives 137), its PID appended to BG.
bg() {
	timeout -s KILL 600 "$@" &
	BG+=($!)
}

# wait_bg PID: its exit status in RC; fail if the bound killed it.
wait_bg() {
	RC=0
	wait "$1" || RC=$?
	[ "$RC" != 137 ] || { echo "pid $1 still running after 600 s: killed" >&2; return 1; }
}

# hit_running ERRFILE: the restart hit a command at work: after the kill
# the proxy found radosgw gone for one of its requests (upstream-down,
# no-answer) or the command (-v) retried.
hit_running() {
	local down retries
	down=$(fault_hits ' -> pass (upstream-down|no-answer) ')
	retries=$(grep -c 'retry [0-9]*/' "$1" || true)
	echo "restart hit: $down requests found radosgw gone, $retries retries in $1"
	[ "$down" -gt 0 ] || [ "$retries" -gt 0 ]
}

@test "faults restart: radosgw restarted in the middle of a push and of a pull: both finish (or a re-run does), blobs verify" {
	local mib=${FAULT_BIG_MIB:-1024} rc=0
	fault_image big:1 "$mib"
	bg edgectl --json -v push -j 4 big:1 >"$T/push.json" 2>"$T/push.err"
	wait_hits 'partNumber=.* -> pass 200' 3
	kill -0 "${BG[0]}"
	restart_rgw
	wait_bg "${BG[0]}"
	rc=$RC
	grep -v '^edgectl: [A-Z]* http' "$T/push.err" | tail -20
	echo "push: exit $rc"
	run -0 hit_running "$T/push.err"
	echo "$output"
	if [ "$rc" != 0 ]; then
		[ "$rc" = 4 ]
		run -0 --separate-stderr edgectl --json push -j 4 big:1
		jq -e '.parts_resumed > 0' <<<"$output"
	fi
	printf '# push through a restart: exit %s first\n' "$rc" >&3
	# done: no multipart upload left open on the server, no journal, no
	# temp in the root
	[ "$(fault_open_uploads)" = 0 ]
	[ -z "$(ls -A "$EDGECTL_ROOT/cache/uploads" 2>/dev/null)" ]
	run -0 fault_leftovers "$EDGECTL_ROOT"
	[ -z "$output" ]
	# the pull: restart after a few ranges arrived
	fault_clear
	rc=0
	bg edgectl --root "$T/r2" --json -v pull -j 4 big:1 >"$T/pull.json" 2>"$T/pull.err"
	wait_hits 'GET .*blobs.* -> pass 206' 3
	kill -0 "${BG[1]}"
	restart_rgw
	wait_bg "${BG[1]}"
	rc=$RC
	grep -v '^edgectl: [A-Z]* http' "$T/pull.err" | tail -20
	echo "pull: exit $rc"
	run -0 hit_running "$T/pull.err"
	echo "$output"
	if [ "$rc" != 0 ]; then
		[ "$rc" = 4 ]
		run -0 edgectl --root "$T/r2" -q pull -j 4 big:1
	fi
	printf '# pull through a restart: exit %s first\n' "$rc" >&3
	[ "$(fault_digest big:1 "$T/r2")" = "$(fault_digest big:1)" ]
	# nothing half-downloaded left behind
	run -0 fault_leftovers "$T/r2"
	[ -z "$output" ]
	# and a third root pulls it cleanly (every blob verifies)
	run -0 edgectl --root "$T/r3" -q pull big:1
}

@test "faults restart: radosgw restarted under 8 concurrent schedulers: no overcommit, nothing lost or doubled; re-runs place the rest" {
	local t0=$SECONDS
	ec_tiny_image app:1 push
	fault_fleet 1 4 6 # 24 one-CPU replicas fit
	printf '# fleet made in %d s\n' $((SECONDS - t0)) >&3
	local i rc codes=()
	fault_clear
	for i in $(seq 1 8); do
		bg edgectl --json -v schedule --no-start --image app:1 --name "app$i" --replicas 3 --cpus 1 \
			>"$T/s$i.json" 2>"$T/s$i.err"
	done
	wait_hits 'PUT .*fleet/loc.*/hosts/.* -> pass 200' 3
	restart_rgw
	for i in "${!BG[@]}"; do
		wait_bg "${BG[$i]}"
		rc=$RC
		codes+=("$rc")
		[ "$rc" = 0 ] || echo "scheduler $((i + 1)): exit $rc: $(grep -v "^edgectl: [A-Z]* http" "$T/s$((i + 1)).err" | tail -5)"
		# only network (4) or a lost race (6) may end one
		[[ $rc =~ ^(0|4|6)$ ]]
	done
	BG=()
	cat "$T"/s*.err >"$T/all.err"
	run -0 hit_running "$T/all.err"
	echo "$output"
	printf '# 8 schedulers through a restart: exits %s (%d s)\n' "${codes[*]}" $((SECONDS - t0)) >&3
	run -0 fault_audit app{1..8}
	echo "audit: $output"
	jq -e '.over == [] and .lost == [] and .orphans == [] and .dup == []' <<<"$output"
	# the re-runs place what is missing; then every app has its 10
	for i in $(seq 1 8); do
		run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name "app$i" --replicas 3 --cpus 1
	done
	run -0 fault_audit app{1..8}
	echo "audit: $output"
	jq -e '.total == 24 and .over == [] and .lost == [] and .orphans == [] and .dup == []' <<<"$output"
	for i in $(seq 1 8); do
		edgectl store get "apps/app$i.json" - | jq -e '[.placements[].replica] | sort == [range(0; 3)]' >/dev/null
	done
}
