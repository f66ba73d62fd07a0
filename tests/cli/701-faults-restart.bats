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

@test "faults restart: radosgw restarted in the middle of a push and of a pull: both finish (or a re-run does), blobs verify" {
	local mib=${FAULT_BIG_MIB:-1024} rc=0
	fault_image big:1 "$mib"
	edgectl --json push -j 4 big:1 >"$T/push.json" 2>"$T/push.err" &
	BG+=($!)
	wait_hits 'partNumber=.* -> pass 200' 3
	restart_rgw
	wait "${BG[0]}" || rc=$?
	cat "$T/push.err"
	echo "push: exit $rc"
	if [ "$rc" != 0 ]; then
		[ "$rc" = 4 ]
		run -0 --separate-stderr edgectl --json push -j 4 big:1
		jq -e '.parts_resumed > 0' <<<"$output"
	fi
	printf '# push through a restart: exit %s first\n' "$rc" >&3
	# the pull: restart after a few ranges arrived
	fault_clear
	rc=0
	edgectl --root "$T/r2" --json pull -j 4 big:1 >"$T/pull.json" 2>"$T/pull.err" &
	BG+=($!)
	wait_hits 'GET .*blobs.* -> pass 206' 3
	restart_rgw
	wait "${BG[1]}" || rc=$?
	cat "$T/pull.err"
	echo "pull: exit $rc"
	if [ "$rc" != 0 ]; then
		[ "$rc" = 4 ]
		run -0 edgectl --root "$T/r2" -q pull -j 4 big:1
	fi
	printf '# pull through a restart: exit %s first\n' "$rc" >&3
	[ "$(fault_digest big:1 "$T/r2")" = "$(fault_digest big:1)" ]
	# nothing half-downloaded left behind
	run -0 find "$T/r2" -name '*.partial*'
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
		edgectl --json schedule --no-start --image app:1 --name "app$i" --replicas 3 --cpus 1 \
			>"$T/s$i.json" 2>"$T/s$i.err" &
		BG+=($!)
	done
	wait_hits 'PUT .*fleet/loc.*/hosts/.* -> pass 200' 3
	restart_rgw
	for i in "${!BG[@]}"; do
		rc=0
		wait "${BG[$i]}" || rc=$?
		codes+=("$rc")
		[ "$rc" = 0 ] || echo "scheduler $((i + 1)): exit $rc: $(cat "$T/s$((i + 1)).err")"
		# only network (4) or a lost race (6) may end one
		[[ $rc =~ ^(0|4|6)$ ]]
	done
	BG=()
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
