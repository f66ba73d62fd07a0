#!/usr/bin/env bats
# edgectl schedule against a real S3 server (Ceph RGW): concurrent
# schedulers commit by compare-and-swap on host objects and never
# overcommit or lose a placement; placement, explain, dry-run, rm.
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

# make_fleet LOCS HOSTS CPUS: LOCS locations of HOSTS hosts with CPUS CPUs
# (and 64 GiB) each, written straight to the store.
make_fleet() {
	local l h
	for l in $(seq 1 "$1"); do
		edgectl location add "loc$l" --lat $((10 * l)) --lon $((20 * l)) --utc-offset +0$((l % 10)):00
		for h in $(seq 1 "$2"); do
			jq -n --arg n "l${l}h$h" --arg l "loc$l" --argjson c "$3" \
				'{name: $n, location: $l, capacity: {cpus: $c, memory_bytes: 68719476736},
				  gpus: [], allocations: [], warm: [], labels: {}}' >"$T/h.json"
			edgectl store put "fleet/loc$l/hosts/l${l}h$h.json" "$T/h.json" >/dev/null
		done
	done
}

# Total allocations and any host over capacity, from the store.
audit() {
	edgectl --json host ls | jq -c '{total: (map(.allocations | length) | add),
		over: [.[] | select((.allocations | map(.cpu_m) | add // 0) > .capacity.cpus * 1000) | .name]}'
}

@test "schedule: 8 concurrent schedulers place exactly 400 replicas on a fleet with room for 400" {
	make_fleet 4 5 20 # 4 x 5 hosts x 20 CPUs = 400 one-CPU replicas
	local i pids=() failed=0 t0 t1
	t0=$(date +%s%N)
	for i in $(seq 1 8); do
		edgectl --json schedule --no-start --image app:1 --name "app$i" --replicas 50 --cpus 1 \
			>"$T/s$i.json" 2>"$T/s$i.err" &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { echo "scheduler $((i + 1)) failed: $(cat "$T/s$((i + 1)).err")"; failed=1; }
	done
	t1=$(date +%s%N)
	[ "$failed" = 0 ]
	run -0 audit
	echo "$output"
	jq -e '.total == 400 and .over == []' <<<"$output"
	# every app has its 50 placements, no replica lost or duplicated
	for i in $(seq 1 8); do
		jq -e '.placements | length == 50' "$T/s$i.json" >/dev/null
		edgectl --json store get "apps/app$i.json" "$T/a$i.json" >/dev/null
		jq -e '[.placements[].replica] | sort == [range(0; 50)]' "$T/a$i.json"
	done
	printf '# 8 schedulers, 400 placements committed in %d ms\n' $(((t1 - t0) / 1000000)) >&3
	# the fleet is full: one more replica is a clear "no capacity" (exit 3)
	run -3 --separate-stderr edgectl schedule --no-start --image app:1 --name extra --cpus 1
	[[ $stderr == *"no capacity"* ]] || { echo "$stderr"; false; }
}

@test "schedule: near picks the closest location, replicas spread, --explain and --dry-run commit nothing" {
	edgectl location add berlin --lat 52.52 --lon 13.40 --utc-offset +01:00
	edgectl location add tokyo --lat 35.68 --lon 139.69 --utc-offset +09:00
	for n in b1 b2; do
		jq -n --arg n "$n" '{name: $n, location: "berlin", capacity: {cpus: 4, memory_bytes: 8589934592}, allocations: []}' >"$T/h.json"
		edgectl store put "fleet/berlin/hosts/$n.json" "$T/h.json" >/dev/null
	done
	jq -n '{name: "t1", location: "tokyo", capacity: {cpus: 4, memory_bytes: 8589934592}, allocations: []}' >"$T/h.json"
	edgectl store put fleet/tokyo/hosts/t1.json "$T/h.json" >/dev/null
	run -0 --separate-stderr edgectl --json schedule --dry-run --explain --image app:1 --replicas 2 --near tokyo
	jq -e '.dry_run and (.placements | map(.host) | sort) == ["b1", "t1"] or (.placements | map(.location) | index("tokyo")) != null' <<<"$output"
	jq -e '.explain | length >= 2' <<<"$output"
	# the first replica goes near the users
	jq -e '[.placements[] | select(.replica == 0)][0].location == "tokyo"' <<<"$output"
	run -0 audit
	jq -e '.total == 0' <<<"$output"
	run -3 edgectl store stat apps/app.json
	# committed: replicas on distinct hosts
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --replicas 3 --near 52.5,13.4
	jq -e '(.placements | map(.host) | unique | length) == 3' <<<"$output"
	run -0 audit
	jq -e '.total == 3' <<<"$output"
	run -0 --separate-stderr edgectl --json schedule ls
	jq -e 'length == 1 and .[0].name == "app" and (.[0].placements | length) == 3' <<<"$output"
	# rm frees the capacity
	run -0 edgectl schedule rm app
	run -0 audit
	jq -e '.total == 0' <<<"$output"
	run -3 edgectl schedule rm app
}

@test "schedule: off-peak places only where it is night now (--now), else says why" {
	edgectl location add day --lat 0 --lon 0 --utc-offset +00:00 --off-peak 01:00-05:00
	edgectl location add night --lat 0 --lon 90 --tz Asia/Dhaka --off-peak 22:00-04:00 # UTC+6, no DST
	for l in day night; do
		jq -n --arg l "$l" '{name: ($l + "1"), location: $l, capacity: {cpus: 4, memory_bytes: 8589934592}, allocations: []}' >"$T/h.json"
		edgectl store put "fleet/$l/hosts/${l}1.json" "$T/h.json" >/dev/null
		# busy enough not to count as idle
		edgectl --json schedule --no-start --image app:1 --name "busy$l" --cpus 2 --location "$l" >/dev/null
	done
	# 20:00 UTC: 02:00 at +06:00 (inside 22:00-04:00), 20:00 at +00:00
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name job --policy off-peak --now 2026-12-01T20:00Z
	jq -e '.placements[0].location == "night"' <<<"$output"
	# 12:00 UTC: day at noon, night at 18:00: nowhere
	run -3 --separate-stderr edgectl --json schedule --dry-run --explain --image app:1 --name job2 --policy off-peak --now 2026-12-01T12:00Z
	[[ $stderr == *"no capacity"* ]]
	# not a dry run: the job waits in the queue with the reason
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name job2 --policy off-peak --now 2026-12-01T12:00Z
	jq -e '.queued and (.reason | test("no capacity"))' <<<"$output"
	run -0 edgectl store stat queue/job2.json
	# a location that is always off-peak appears: the next tick places it
	edgectl location add always --lat 0 --lon 0 --utc-offset +00:00 --off-peak 00:00-23:59
	jq -n '{name: "a1", location: "always", capacity: {cpus: 4, memory_bytes: 8589934592}, allocations: []}' >"$T/h.json"
	edgectl store put fleet/always/hosts/a1.json "$T/h.json" >/dev/null
	run -0 --separate-stderr edgectl --json schedule --tick
	echo "$output"
	jq -e 'map(select(.app == "job2" and .action == "placed")) | length == 1' <<<"$output"
	run -3 edgectl store stat queue/job2.json
}

@test "schedule: bad input - image not in the store exits 3, bad policy exits 2" {
	make_fleet 1 1 4
	run -3 --separate-stderr edgectl schedule --no-start --image nothere:1
	[[ $stderr == *"not in the store"* ]]
	run -2 edgectl schedule --image app:1 --policy fastest
	run -2 edgectl schedule --image app:1 --replicas 0
	run -2 edgectl schedule --image app:1 --near 100,0
}

@test "schedule: --image X -- CMD ARG... becomes the spec's command; --vip its route" {
	make_fleet 1 1 4
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name cmdapp \
		--vip 198.18.250.9:8080 -- sh -c 'echo a b'
	run -0 --separate-stderr edgectl --json schedule ls
	jq -e '.[] | select(.name == "cmdapp") | .spec.command == ["sh", "-c", "echo a b"]
		and .spec.vip == "198.18.250.9:8080"' <<<"$output"
	# a route for the VIP (no backends: nothing started)
	run -0 --separate-stderr edgectl --json route show 198.18.250.9
	jq -e '.app == "cmdapp" and .port == 8080 and (.backends | length) == 0' <<<"$output"
	run -0 edgectl -q schedule rm cmdapp
	run -3 --separate-stderr edgectl route show 198.18.250.9
	run -2 --separate-stderr edgectl schedule --no-start --image app:1 --vip nonsense
	[[ $stderr == *"'vip'"* ]]
}

# gpu_host NAME: a host of location frag with one 80 GiB A100.
gpu_host() {
	jq -n --arg n "$1" '{name: $n, location: "frag", capacity: {cpus: 16, memory_bytes: 68719476736},
		gpus: [{model: "A100", memory_bytes: 85899345920}], allocations: [], warm: [], labels: {}}' >"$T/h.json"
	edgectl store put "fleet/frag/hosts/$1.json" "$T/h.json" >/dev/null
}

# Per host: the apps allocated there and any GPU over its memory.
gpu_audit() {
	edgectl --json host ls | jq -c 'map(. as $h | {key: .name, value: {apps: ([.allocations[].app] | sort),
		over: [range(0; .gpus | length) as $i | select(([$h.allocations[] | select(any(.gpus[]; . == $i))
			| .gpu_memory_bytes] | add // 0) > $h.gpus[$i].memory_bytes) | $i]}}) | from_entries'
}

@test "schedule: --rebalance moves two 20G GPU tenants to make room for a 70G request" {
	edgectl location add frag --lat 50 --lon 8 --utc-offset +01:00
	# g1: 20 + 20 GiB used; g2, g3: 50 GiB each; 40 + 30 + 30 free, no
	# GPU has 70, and the 50s fit nowhere else: the 20s must move
	gpu_host g1
	for a in small1 small2; do
		edgectl -q schedule --no-start --image app:1 --name "$a" --gpu-mem 20G >/dev/null
	done
	gpu_host g2
	gpu_host g3
	for a in big1 big2; do
		edgectl -q schedule --no-start --image app:1 --name "$a" --gpu-mem 50G >/dev/null
	done
	run -0 gpu_audit
	echo "$output"
	jq -e '.g1.apps == ["small1", "small2"] and .g2.apps == ["big1"] and .g3.apps == ["big2"]' <<<"$output"
	run -3 --separate-stderr edgectl schedule --no-start --image app:1 --name large --gpu-mem 70G
	[[ $stderr == *"no capacity"* ]]
	# an unknown location: a clear error
	run -3 --separate-stderr edgectl schedule --rebalance nowhere --no-start --image app:1 --name large --gpu-mem 70G
	[[ $stderr == *"no location 'nowhere'"* ]]
	# --dry-run prints the plan and commits nothing
	run -0 --separate-stderr edgectl --json schedule --rebalance frag --dry-run --no-start --image app:1 --name large --gpu-mem 70G
	echo "$output"
	jq -e '.dry_run and (.moves | length) == 2 and (.moves | map(.app) | sort) == ["small1", "small2"]
		and (.moves | map(.from) | unique) == ["g1"] and (.moves | map(.to) | sort) == ["g2", "g3"]
		and .placements[0].host == "g1"' <<<"$output"
	run -0 --separate-stderr edgectl schedule --rebalance frag --dry-run --no-start --image app:1 --name large --gpu-mem 70G
	[[ $output == *"move small1-0: g1 -> g"[23]" (frag)"* ]] || { echo "$output"; false; }
	run -3 edgectl store stat apps/large.json
	run -0 gpu_audit
	jq -e '.g1.apps == ["small1", "small2"]' <<<"$output"
	# for real: start new (none here: --no-start), stop old, place
	run -0 --separate-stderr edgectl --json schedule --rebalance frag --no-start --image app:1 --name large --gpu-mem 70G
	echo "$output"
	jq -e '(.moves | length) == 2 and .placements[0].host == "g1" and .placements[0].location == "frag"' <<<"$output"
	run -0 gpu_audit
	echo "$output"
	jq -e '.g1.apps == ["large"] and ([.[].over[]] | length) == 0' <<<"$output"
	jq -e '([.g2.apps, .g3.apps] | sort) == [["big1", "small1"], ["big2", "small2"]]
		or ([.g2.apps, .g3.apps] | sort) == [["big1", "small2"], ["big2", "small1"]]' <<<"$output"
	# the moved apps' records point at their new hosts
	for a in small1 small2; do
		edgectl --json store get "apps/$a.json" "$T/$a.json" >/dev/null
		jq -e '.placements | length == 1 and .[0].host != "g1" and .[0].location == "frag"' "$T/$a.json"
		h=$(jq -r '.placements[0].host' "$T/$a.json")
		run -0 gpu_audit
		jq -e --arg h "$h" --arg a "$a" '.[$h].apps | index($a) != null' <<<"$output"
	done
	# once it fits, --rebalance moves nothing
	run -0 --separate-stderr edgectl --json schedule --rebalance frag --no-start --image app:1 --name tiny --gpu-mem 5G
	jq -e '.moves == [] and (.placements | length) == 1' <<<"$output"
}
