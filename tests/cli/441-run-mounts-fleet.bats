#!/usr/bin/env bats
# run --mount on other hosts: `run --host H --mount ... --mount-sync` over
# SSH and "mounts"/"mount_sync" in an app spec through `schedule`, on the
# namespace fleet (tests/lib/fleet.bash: real sshd hosts), the store
# shared (file://). The host fetches into its own root's cache; the
# write-back happens there when the instance exits.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 1 || return 1
	fleet_app_ctx '["sh"]' || return 1
	fleet_app_push MF mnt:1 || return 1
	export XDG_CONFIG_HOME=$MF_CFG EDGECTL_STORE=$MF_STORE EDGECTL_ROOT=$MF_ROOT
	edgectl location add loc1 --lat 50.11 --lon 8.68 --utc-offset +01:00
	fleet_hosts_add loc1 140
	echo "input one" >"$BATS_FILE_TMPDIR/in.txt"
	edgectl -q store put data/in.txt "$BATS_FILE_TMPDIR/in.txt" >/dev/null
}

teardown_file() {
	load ../lib/fleet
	fleet_rm_instances
	fleet_down
}

setup() {
	load ../lib/common
	load ../lib/fleet
	ec_require_root
	fleet_require
	export XDG_CONFIG_HOME=$MF_CFG EDGECTL_STORE=$MF_STORE EDGECTL_ROOT=$MF_ROOT
	H1_ROOT=$(fleet_root h1)
}

@test "run --host: --mount fetches on the host, --mount-sync writes back from there" {
	run -0 --separate-stderr edgectl run --host h1 --rm --network none \
		--mount store:data:/data:rw --mount-sync mnt:1 -- \
		sh -c 'cat /data/in.txt && echo "from h1" > /data/out.txt'
	[ "$output" = "input one" ]
	[ "$(edgectl store get data/out.txt)" = "from h1" ]
	# fetched into h1's cache, not into this root
	run -0 find "$H1_ROOT/cache/store-mounts/objects" -type f ! -name '*.lock'
	[ "${#lines[@]}" -ge 1 ]
	[ ! -e "$MF_ROOT/cache/store-mounts" ]
	# a missing key fails on the host before anything starts: exit 3 here
	run -3 --separate-stderr edgectl run --host h1 --rm --network none \
		--mount store:nope:/x mnt:1 true
	[[ $stderr == *"no object 'nope'"* ]]
}

@test "schedule: an app spec's mounts and mount_sync reach each instance" {
	local spec=$BATS_TEST_TMPDIR/app.json id i
	jq -n '{name: "mapp", image: "mnt:1", replicas: 1, resources: {cpus: 0.1},
		mounts: ["store:data:/data", "store:res:/res:rw"], mount_sync: true,
		command: ["sh", "-c", "cat /data/in.txt > /res/copy.txt; exec sleep 600"]}' >"$spec"
	echo seed >"$BATS_TEST_TMPDIR/seed"
	edgectl -q store put res/seed "$BATS_TEST_TMPDIR/seed" >/dev/null
	run -0 --separate-stderr edgectl --json schedule "$spec"
	jq -e '.placements | length == 1' <<<"$output"
	id=$(fleet_ssh h1 "$EDGECTL" --root "$H1_ROOT" --json ps | jq -r '.[] | select(.name | startswith("mapp")) | .id')
	[ -n "$id" ]
	jq -e '[.store_mounts[] | {key, rw, sync}] == [{key: "data", rw: false, sync: null}, {key: "res", rw: true, sync: true}]' \
		"$H1_ROOT/instances/$id/spec.json"
	run -3 edgectl store get res/copy.txt
	# the write-back happens when the instance stops (rm waits for its
	# monitor, which writes back before it ends)
	run -0 edgectl schedule rm mapp
	[ "$(edgectl store get res/copy.txt)" = "input one" ]
	[ "$(edgectl store get res/seed)" = seed ]
	# a bad entry is refused with the field named (exit 2)
	jq '.mounts = ["store:data"]' "$spec" >"$spec.bad"
	run -2 --separate-stderr edgectl schedule --dry-run "$spec.bad"
	[[ $stderr == *"spec: 'mounts[0]'"* ]]
	jq '.mounts = ["store:data:/data"]' "$spec" >"$spec.bad"
	run -2 --separate-stderr edgectl schedule --dry-run "$spec.bad"
	[[ $stderr == *"'mount_sync' needs a ':rw' entry"* ]]
}
