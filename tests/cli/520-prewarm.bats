#!/usr/bin/env bats
# edgectl prewarm on the namespace fleet: images pulled onto hosts over SSH
# (by digest, layers unpacked), the warm set recorded in the host objects,
# a second prewarm fetching nothing, schedule preferring warm hosts.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 3 || return 1
	fleet_app_ctx '["sleep", "3600"]' || return 1
	head -c 4194304 /dev/urandom >"$BATS_FILE_TMPDIR/ctx/rootfs/weights"
	fleet_app_push PW job:1 || return 1
	export XDG_CONFIG_HOME=$PW_CFG EDGECTL_STORE=$PW_STORE EDGECTL_ROOT=$PW_ROOT
	edgectl location add par --lat 48.85 --lon 2.35 --utc-offset +01:00 --off-peak 00:00-23:59
	fleet_hosts_add par 120
}

teardown_file() {
	load ../lib/fleet
	fleet_down
}

setup() {
	load ../lib/common
	load ../lib/fleet
	ec_require_root
	fleet_require
	export XDG_CONFIG_HOME=$PW_CFG EDGECTL_STORE=$PW_STORE EDGECTL_ROOT=$PW_ROOT
}

@test "prewarm: one host first; schedule of an off-peak job lands on it and --explain says warm" {
	run -0 --separate-stderr edgectl --json prewarm --host h2 job:1
	jq -e '.warm == 1 and .hosts[0].host == "h2" and .hosts[0].bytes_fetched > 4000000' <<<"$output"
	run -0 --separate-stderr edgectl --json schedule --dry-run --explain --image job:1 --name offjob --policy off-peak
	echo "$output"
	jq -e '.placements[0].host == "h2"' <<<"$output"
	jq -e '[.explain[] | select(.why | test("warm"))] | length >= 1' <<<"$output"
}

@test "prewarm: a location of 3 hosts; verified blobs and layer dirs; recorded; a second run fetches 0 bytes" {
	run -0 --separate-stderr edgectl --json prewarm --location par job:1
	echo "$output"
	jq -e '.warm == 3 and .failed == 0' <<<"$output"
	local d h
	d=$(jq -r .digest <<<"$output")
	for h in $FLEET_HOSTS; do
		# the host's own root holds the image and its unpacked layer
		run -0 fleet_ssh "$h" "$EDGECTL" --root "$(fleet_root "$h")" --json images
		jq -e 'length == 1' <<<"$output"
		[ -n "$(ls "$(fleet_root "$h")/layers/")" ]
		cmp "$(fleet_root "$h")/layers/"*/weights "$BATS_FILE_TMPDIR/ctx/rootfs/weights"
	done
	run -0 --separate-stderr edgectl --json host ls
	jq -e --arg d "$d" 'all(.[]; [.warm[].digest] | index($d) != null)' <<<"$output"
	run -0 --separate-stderr edgectl --json prewarm --location par job:1
	jq -e '.bytes_fetched == 0 and all(.hosts[]; .already_warm)' <<<"$output"
	run -0 --separate-stderr edgectl --json prewarm ls --image job:1
	jq -e 'length == 3' <<<"$output"
}

@test "prewarm: an image not in the store exits 3 before touching a host; an unreachable host is reported, others warm (exit 4)" {
	run -3 --separate-stderr edgectl prewarm --all nothere:1
	[[ $stderr == *"not in the store"* ]]
	edgectl store get fleet/par/hosts/h1.json "$BATS_TEST_TMPDIR/h.json"
	jq --arg a "root@$FLEET_NET.99" '.name = "ghost" | .ssh = $a | .warm = []' "$BATS_TEST_TMPDIR/h.json" >"$BATS_TEST_TMPDIR/g.json"
	edgectl store put fleet/par/hosts/ghost.json "$BATS_TEST_TMPDIR/g.json" >/dev/null
	run -4 --separate-stderr edgectl --json prewarm --all job:1
	echo "$output"
	jq -e '.warm == 3 and .failed == 1 and ([.hosts[] | select(.ok | not) | .host] == ["ghost"])' <<<"$output"
	edgectl host rm ghost
	run -2 edgectl prewarm job:1
}

@test "prewarm --peer: a cold location of 3 hosts; one host's worth of bytes from the store, the rest from peers; all verified" {
	mkdir -p "$BATS_TEST_TMPDIR/ctx2"
	cp -a "$BATS_FILE_TMPDIR/ctx/rootfs" "$BATS_FILE_TMPDIR/ctx/Dockerfile" "$BATS_TEST_TMPDIR/ctx2/"
	head -c 3145728 /dev/urandom >"$BATS_TEST_TMPDIR/ctx2/rootfs/weights"
	edgectl -q build -t job:2 "$BATS_TEST_TMPDIR/ctx2" >/dev/null
	edgectl -q push job:2 >/dev/null
	cp "$BATS_TEST_TMPDIR/ctx2/rootfs/weights" "$BATS_FILE_TMPDIR/weights2"
	run -0 --separate-stderr edgectl --json prewarm --peer --location par job:2
	echo "$output"
	jq -e '.warm == 3 and .failed == 0' <<<"$output"
	# one host's worth from the store (the seed), two from peers
	local one
	one=$(jq '[.hosts[] | select(.peer == null)] | .[0].bytes_from_store' <<<"$output")
	[ "$one" -gt 3000000 ]
	jq -e --argjson one "$one" '.bytes_from_store == $one and .bytes_from_peers >= 2 * $one * 0.9' <<<"$output"
	jq -e '[.hosts[] | select(.peer != null and .bytes_from_store < 100000 and .bytes_from_peer > 3000000)] | length == 2' <<<"$output"
	local d h f
	d=$(jq -r .digest <<<"$output")
	for h in $FLEET_HOSTS; do
		# every blob of the host's root hashes to its name
		for f in "$(fleet_root "$h")"/blobs/sha256/*; do
			[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ]
		done
		run -0 fleet_ssh "$h" "$EDGECTL" --root "$(fleet_root "$h")" --json images
		jq -e --arg d "$d" '[.[].digest] | index($d) != null' <<<"$output"
		# and the layer unpacked there
		sha256sum "$(fleet_root "$h")"/layers/*/weights | grep -q "^$(sha256sum <"$BATS_FILE_TMPDIR/weights2" | cut -d' ' -f1) "
	done
	run -0 --separate-stderr edgectl --json prewarm ls --image job:2
	jq -e 'length == 3' <<<"$output"
	# warm already: nothing from anywhere
	run -0 --separate-stderr edgectl --json prewarm --peer --location par job:2
	jq -e '.bytes_fetched == 0 and .bytes_from_peers == 0 and all(.hosts[]; .already_warm)' <<<"$output"
}

@test "prewarm --evict: least recently warmed unused images go (budget per host), one in use stays; warm sets updated" {
	local d1 d2 h
	d1=$(edgectl --json prewarm ls --image job:1 | jq -r '.[0].digest')
	d2=$(edgectl --json prewarm ls --image job:2 | jq -r '.[0].digest')
	[ -n "$d1" ]
	[ "$d1" != null ]
	[ -n "$d2" ]
	[ "$d2" != null ]
	# h1: an instance uses job:1 (the image GC must never touch)
	mkdir -p "$(fleet_root h1)/instances/inst1"
	local l1
	l1=$(dirname "$(sha256sum "$(fleet_root h1)"/layers/*/weights | grep "^$(sha256sum <"$BATS_FILE_TMPDIR/ctx/rootfs/weights" | cut -d' ' -f1) " | cut -d' ' -f3)")
	jq -n --arg d "$d1" --arg l "$l1" \
		'{id: "inst1", digest: $d, lowerdirs: [$l]}' >"$(fleet_root h1)/instances/inst1/spec.json"
	run -0 fleet_ssh h1 "$EDGECTL" --root "$(fleet_root h1)" --json images
	jq -e --arg d "$d1" '[.[] | select(.digest == $d) | .instances] == [1]' <<<"$output"
	# h2: a budget in the host object that fits one image: the older (job:1) goes
	edgectl store get fleet/par/hosts/h2.json "$BATS_TEST_TMPDIR/h2.json"
	jq '.disk_budget_bytes = 8000000' "$BATS_TEST_TMPDIR/h2.json" >"$BATS_TEST_TMPDIR/h2b.json"
	edgectl store put fleet/par/hosts/h2.json "$BATS_TEST_TMPDIR/h2b.json" >/dev/null
	run -0 --separate-stderr edgectl --json prewarm --evict --location par
	echo "$output"
	jq -e --arg d1 "$d1" --arg d2 "$d2" '
		(.hosts[] | select(.host == "h1") | .evicted) == [$d2] and
		(.hosts[] | select(.host == "h2") | .evicted) == [$d1] and
		(.hosts[] | select(.host == "h3") | .evicted | sort) == ([$d1, $d2] | sort) and
		.failed == 0 and .bytes_freed > 0' <<<"$output"
	# h1 keeps the image in use, its blobs and its layer dir
	run -0 fleet_ssh h1 "$EDGECTL" --root "$(fleet_root h1)" --json images
	jq -e --arg d "$d1" '[.[].digest] == [$d]' <<<"$output"
	[ "$(ls "$(fleet_root h1)/layers")" = "$(basename "$l1")" ]
	cmp "$(jq -r '.lowerdirs[0]' "$(fleet_root h1)/instances/inst1/spec.json")/weights" "$BATS_FILE_TMPDIR/ctx/rootfs/weights"
	run -0 fleet_ssh h3 "$EDGECTL" --root "$(fleet_root h3)" --json images
	jq -e 'length == 0' <<<"$output"
	[ -z "$(ls "$(fleet_root h3)/blobs/sha256")" ]
	[ -z "$(ls "$(fleet_root h3)/layers")" ]
	# the warm sets say the same
	run -0 --separate-stderr edgectl --json prewarm ls
	jq -e --arg d1 "$d1" --arg d2 "$d2" '
		([.[] | select(.host == "h1") | .digest] == [$d1]) and
		([.[] | select(.host == "h2") | .digest] == [$d2]) and
		([.[] | select(.host == "h3")] == [])' <<<"$output"
	# images rm on a host refuses an image in use unless -f
	run -1 --separate-stderr fleet_ssh h1 "$EDGECTL" --root "$(fleet_root h1)" images rm "job@$d1"
	[[ $stderr == *"used by instance 'inst1'"* ]]
	rm -rf "$(fleet_root h1)/instances/inst1"
}
