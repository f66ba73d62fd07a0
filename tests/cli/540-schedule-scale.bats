#!/usr/bin/env bats
# Location summaries (fleet/<loc>/summary.json) against a real S3 server
# (Ceph RGW): built by `location refresh`, kept by the commits that change
# host objects, read by `schedule` to pick candidate locations and decided
# on row by row (only the hosts placed on are read, by name); stale
# summaries (rows that overstate, hosts deleted since) never make a
# scheduler overcommit; the fleet generator.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/rgw
	rgw_setup_file
}

teardown_file() {
	load ../lib/rgw
	rgw_stop
}

setup() {
	load ../lib/common
	load ../lib/rgw
	ec_isolate
	rgw_require
	rgw_env
	rgw_test_store
	T=$BATS_TEST_TMPDIR
	ec_tiny_image app:1 push
}

# put_host LOC NAME CPUS [USED_CPUS]: a host object written by hand (no
# summary update), USED_CPUS taken by an app "other".
put_host() {
	jq -n --arg n "$2" --arg l "$1" --argjson c "$3" --argjson u "${4:-0}" \
		'{name: $n, location: $l, capacity: {cpus: $c, memory_bytes: 68719476736},
		  gpus: [], warm: [], labels: {}, generation: 1,
		  allocations: (if $u > 0 then [{app: "other", replica: 0, instance: "other-0",
			cpu_m: ($u * 1000), memory_bytes: 0, gpus: [], gpu_memory_bytes: 0}] else [] end)}' >"$T/h.json"
	edgectl store put "fleet/$1/hosts/$2.json" "$T/h.json" >/dev/null
}

summary() { edgectl store get "fleet/$1/summary.json" -; }

# Allocations in total and hosts over capacity, from the store.
audit() {
	edgectl --json host ls | jq -c '{total: (map(.allocations | map(select(.app != "other")) | length) | add),
		over: [.[] | select((.allocations | map(.cpu_m) | add // 0) > .capacity.cpus * 1000) | .name]}'
}

@test "location refresh: rebuilds summaries from host objects written by hand" {
	edgectl location add par --lat 48.85 --lon 2.35 --tz Europe/Paris --off-peak 01:00-04:00
	edgectl location add fra --lat 50.1 --lon 8.7 --utc-offset +01:00
	put_host par p1 8 2
	put_host par p2 4
	put_host fra f1 16
	# written by hand: the summaries (made by location add) know no hosts
	run -0 summary par
	jq -e '.hosts_total == 0 and .location == "par" and .tz == "Europe/Paris"' <<<"$output"
	run -0 --separate-stderr edgectl --json location refresh --all
	jq -e 'length == 2 and (map(.location) | sort) == ["fra", "par"] and all(.[]; has("rows") | not)' <<<"$output"
	run -0 summary par
	echo "$output"
	jq -e '.version == 1 and .hosts_total == 2 and .hosts_up == 2 and .cpu_free_m == 10000
		and .cpu_free_max_m == 6000 and .off_peak == "01:00-04:00"
		and ([.rows[] | [.[0], .[1]]] == [["p1", 1], ["p2", 1]]) and .generation >= 2' <<<"$output"
	run -0 --separate-stderr edgectl --json location refresh fra
	jq -e 'length == 1 and .[0].cpu_free_m == 16000 and .[0].hosts_total == 1' <<<"$output"
	run -0 --separate-stderr edgectl location refresh --all
	[[ ${lines[0]} == NAME* ]]
	[[ $output == *fra*par* ]]
}

@test "location refresh: needs NAME or --all, one of them (exit 2); an unknown location exits 3" {
	run -2 --separate-stderr edgectl location refresh
	[[ $stderr == *"NAME or --all"* ]]
	edgectl location add par --lat 48.85 --lon 2.35 --utc-offset +01:00
	run -2 --separate-stderr edgectl location refresh par --all
	run -2 --separate-stderr edgectl location refresh par fra
	run -3 --separate-stderr edgectl location refresh nowhere
	[[ $stderr == *"'nowhere'"* ]]
	run -2 --separate-stderr edgectl location ls --all
}

@test "schedule: a commit updates its location's summary by CAS; schedule rm and host rm too" {
	edgectl location add par --lat 48.85 --lon 2.35 --utc-offset +01:00
	put_host par p1 8
	put_host par p2 8
	edgectl -q location refresh par >/dev/null
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name web --replicas 3 --cpus 2
	run -0 summary par
	echo "$output"
	# 3 x 2 CPUs on 2 hosts: 16 - 6 = 10 CPUs free, rows at the hosts' generations
	jq -e '.cpu_free_m == 10000 and .hosts_total == 2' <<<"$output"
	edgectl store get fleet/par/hosts/p1.json "$T/p1.json" >/dev/null
	jq -e --slurpfile h "$T/p1.json" '.rows[0][1] == $h[0].generation' <<<"$output"
	run -0 edgectl -q schedule rm web
	run -0 summary par
	jq -e '.cpu_free_m == 16000' <<<"$output"
	run -0 edgectl -q host rm p2
	run -0 summary par
	jq -e '.hosts_total == 1 and (.rows | map(.[0])) == ["p1"]' <<<"$output"
	run -0 edgectl -q location rm par || true
	edgectl -q host rm p1
	run -0 edgectl -q location rm par
	run -3 edgectl store stat fleet/par/summary.json
}

@test "schedule: stale summaries that overstate room - 8 concurrent schedulers re-decide and never overcommit" {
	# near: 4 hosts of 4 CPUs, its summary says empty, but 3 hosts are
	# full (written by hand after the summary): room for 4 replicas there;
	# far: 4 hosts of 4 CPUs, empty; 20 replicas in all
	edgectl location add near --lat 48.85 --lon 2.35 --utc-offset +01:00
	edgectl location add far --lat 35.68 --lon 139.69 --utc-offset +09:00
	for h in 1 2 3 4; do
		put_host near "n$h" 4
		put_host far "f$h" 4
	done
	edgectl -q location refresh --all >/dev/null
	for h in 1 2 3; do put_host near "n$h" 4 4; done
	run -0 summary near
	jq -e '.cpu_free_m == 16000' <<<"$output" # stale: overstates by 12 CPUs
	local i pids=() failed=0
	for i in $(seq 1 8); do
		edgectl --json schedule --no-start --image app:1 --name "app$i" --replicas 3 --cpus 1 --near 48.8,2.3 \
			>"$T/s$i.json" 2>"$T/s$i.err" &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { cat "$T/s$((i + 1)).err"; failed=$((failed + 1)); }
	done
	# 24 asked, 20 fit: the schedulers that got there last say so
	run -0 audit
	echo "$output"
	jq -e '.over == [] and .total == 20' <<<"$output"
	# every placement a scheduler reported is in the store, and the near
	# hosts filled first (4 replicas there)
	run -0 --separate-stderr edgectl --json host ls
	jq -e '[.[] | select(.location == "near") | .allocations[] | select(.app != "other")] | length == 4' <<<"$output"
	local placed=0
	for i in $(seq 1 8); do
		[ -s "$T/s$i.json" ] && placed=$((placed + $(jq '.placements | length' "$T/s$i.json")))
	done
	[ "$placed" = 20 ]
	# and the summaries are right again (kept by the commits)
	run -0 summary near
	jq -e '.cpu_free_m == 0' <<<"$output"
}

@test "schedule: decides on summary rows and reads only the hosts it places on, by name (no LIST of hosts)" {
	local l
	for l in 1 2 3 4 5 6; do
		edgectl location add "loc$l" --lat $((8 * l)) --lon $((10 * l)) --utc-offset +00:00
		put_host "loc$l" "h$l" 4
		put_host "loc$l" "g$l" 4 3
	done
	edgectl -q location refresh --all >/dev/null
	run -0 --separate-stderr edgectl -v --json schedule --dry-run --explain --image app:1 --near 8,10 --replicas 2
	echo "$output"
	# best fit (g: 1 CPU free) in the nearest two (replicas spread)
	jq -e '[.placements[] | .location + "/" + .host] == ["loc1/g1", "loc2/g2"]' <<<"$output"
	# two host objects read, each by its key; none listed
	grep 'fleet/loc[0-9]/hosts' <<<"$stderr" || true
	grep -q 'GET .*fleet/loc1/hosts/g1\.json' <<<"$stderr"
	grep -q 'GET .*fleet/loc2/hosts/g2\.json' <<<"$stderr"
	[ "$(grep -c 'GET .*fleet/.*hosts/' <<<"$stderr")" = 2 ]
	# -v shows LISTs (the one of fleet/), none of a location's hosts
	grep -q 'list-type' <<<"$stderr"
	! grep 'list-type' <<<"$stderr" | grep -q hosts || false
}

@test "schedule: a host deleted but still in its summary is never placed on; its row goes" {
	edgectl location add par --lat 48.85 --lon 2.35 --utc-offset +01:00
	put_host par p1 4
	put_host par p2 8
	edgectl -q location refresh par >/dev/null
	# p1 (the best fit by its row) deleted by hand
	edgectl store rm fleet/par/hosts/p1.json >/dev/null
	run -0 summary par
	jq -e '.hosts_total == 2' <<<"$output"
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name web --replicas 2 --cpus 1
	echo "$output"
	jq -e '[.placements[].host] == ["p2", "p2"]' <<<"$output"
	run -0 summary par
	jq -e '.hosts_total == 1 and (.rows | map(.[0])) == ["p2"] and .cpu_free_m == 6000' <<<"$output"
	[ "$(audit)" = '{"total":2,"over":[]}' ]
}

@test "schedule: a location without a summary has its hosts read and gets one" {
	edgectl location add par --lat 48.85 --lon 2.35 --utc-offset +01:00
	put_host par p1 4
	edgectl store rm fleet/par/summary.json >/dev/null
	run -3 edgectl store stat fleet/par/summary.json
	run -0 --separate-stderr edgectl --json schedule --dry-run --image app:1
	jq -e '.placements[0].host == "p1"' <<<"$output"
	run -0 summary par
	jq -e '.hosts_total == 1 and .cpu_free_m == 4000' <<<"$output"
}

@test "mkfleet: real places and zones from zone1970.tab; its summaries equal location refresh's" {
	[ -r /usr/share/zoneinfo/zone1970.tab ] || skip "no tzdata"
	run -0 "$BATS_TEST_DIRNAME/../lib/mkfleet.sh" -s -g 0.5 "$EDGECTL_STORE" 40 3
	run -0 --separate-stderr edgectl --json location ls
	jq -e 'length == 40 and all(.[]; (.tz | test("^[A-Z][a-z]+/")) and (.lat | type) == "number")' <<<"$output"
	# the rows of zone1970.tab, e.g. Andorra's (AD, +4230+00131, Europe/Andorra)
	jq -e 'any(.[]; .name == "andorra" and .tz == "Europe/Andorra" and .lat == 42.5 and ((.lon - 1.5166) | fabs) < 0.001)' <<<"$output"
	run -0 --separate-stderr edgectl --json host ls
	jq -e 'length == 120 and ([.[] | select(.gpus | length > 0)] | length) > 20' <<<"$output"
	edgectl store get fleet/andorra/summary.json "$T/gen.json" >/dev/null
	edgectl -q location refresh --all >/dev/null
	edgectl store get fleet/andorra/summary.json "$T/ref.json" >/dev/null
	jq -e -n --slurpfile a "$T/gen.json" --slurpfile b "$T/ref.json" \
		'($a[0] | del(.generation, .lat, .lon)) == ($b[0] | del(.generation, .lat, .lon))'
	run -0 --separate-stderr edgectl --json schedule --dry-run --image app:1 --near 42.5,1.5
	jq -e '.placements[0].location == "andorra"' <<<"$output"
}

@test "host ls -j N: the parallel read lists every host once, the same for -j 1 and -j 16; -j 0 exits 2" {
	run -0 "$BATS_TEST_DIRNAME/../lib/mkfleet.sh" -s "$EDGECTL_STORE" 12 9
	run -0 --separate-stderr edgectl --json host ls -j 1
	one=$output
	jq -e 'length == 108 and (map(.name) | unique | length) == 108' <<<"$one"
	run -0 --separate-stderr edgectl --json host ls -j 16
	[ "$output" = "$one" ]
	run -0 --separate-stderr edgectl --json host ls
	[ "$output" = "$one" ]
	# -v shows the GETs: more than one connection's worth at once is
	# not asserted (timing); each host object is fetched exactly once
	run -0 --separate-stderr edgectl -v --json host ls -j 8
	[ "$(grep -c 'GET .*/hosts/.*\.json' <<<"$stderr")" = 108 ]
	run -2 --separate-stderr edgectl host ls -j 0
	[[ $stderr == *"--jobs: 1 to 64"* ]]
	run -2 --separate-stderr edgectl ps --all-hosts -j 65
	run -2 --separate-stderr edgectl schedule --tick -j x
}

@test "schedule: a call's summary writes come at its end, one per location, with every host it committed to" {
	edgectl location add par --lat 48.85 --lon 2.35 --utc-offset +01:00
	edgectl location add fra --lat 50.1 --lon 8.7 --utc-offset +01:00
	for h in p1 p2 p3; do put_host par "$h" 4; done
	put_host fra f1 4
	edgectl -q location refresh --all >/dev/null
	gen=$(summary par | jq .generation)
	# 6 replicas of 1 CPU kept in par (--location): three hosts, three
	# host commits, one summary write
	run -0 --separate-stderr edgectl -v --json schedule --no-start --image app:1 --name web \
		--replicas 6 --cpus 1 --location par
	[ "$(grep -c 'PUT .*fleet/par/hosts/' <<<"$stderr")" = 3 ]
	[ "$(grep -c 'PUT .*fleet/par/summary.json' <<<"$stderr")" = 1 ]
	run -0 summary par
	echo "$output"
	jq -e --argjson g "$gen" '.generation == $g + 1 and .cpu_free_m == 6000' <<<"$output"
	[ "$(audit)" = '{"total":6,"over":[]}' ]
}
