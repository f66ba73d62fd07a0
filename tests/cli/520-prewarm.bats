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
	export PW_STORE="file://$BATS_FILE_TMPDIR/store"
	export PW_CFG="$BATS_FILE_TMPDIR/cfg"
	export PW_ROOT="$BATS_FILE_TMPDIR/root"
	mkdir -p "$PW_CFG/edgectl" "$BATS_FILE_TMPDIR/ctx"
	jq -n --arg c "$FLEET_SSH_CONFIG" '{ssh: {config: $c}}' >"$PW_CFG/edgectl/config.json"
	busybox_rootfs "$BATS_FILE_TMPDIR/ctx/rootfs"
	head -c 4194304 /dev/urandom >"$BATS_FILE_TMPDIR/ctx/rootfs/weights"
	printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["sleep", "3600"]\n' >"$BATS_FILE_TMPDIR/ctx/Dockerfile"
	export XDG_CONFIG_HOME=$PW_CFG EDGECTL_STORE=$PW_STORE EDGECTL_ROOT=$PW_ROOT
	edgectl -q build -t job:1 "$BATS_FILE_TMPDIR/ctx" >/dev/null
	edgectl -q push job:1 >/dev/null
	edgectl location add par --lat 48.85 --lon 2.35 --utc-offset +01:00 --off-peak 00:00-23:59
	local i=0 h
	for h in $FLEET_HOSTS; do
		i=$((i + 1))
		edgectl -q host add "$h" --location par --ssh "$h" --host-root "$(fleet_root "$h")" \
			--edgectl "$EDGECTL" --subnet "198.19.$((120 + i)).0/24"
	done
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
