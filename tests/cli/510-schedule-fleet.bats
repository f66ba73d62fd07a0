#!/usr/bin/env bats
# schedule end to end on the namespace fleet: replicas of the busybox HTTP
# app placed over two locations, started over SSH, answering; schedule rm
# stops them and frees the capacity; --tick replaces a killed instance.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 3 || return 1
	fleet_app_ctx '["httpd", "-f", "-p", "80", "-h", "/www"]' || return 1
	mkdir -p "$BATS_FILE_TMPDIR/ctx/rootfs/www"
	echo "scheduled hello" >"$BATS_FILE_TMPDIR/ctx/rootfs/www/index.html"
	fleet_app_push SF web:1 || return 1
	export XDG_CONFIG_HOME=$SF_CFG EDGECTL_STORE=$SF_STORE EDGECTL_ROOT=$SF_ROOT
	# two locations: h1, h2 in fra; h3 in nrt
	edgectl location add fra --lat 50.11 --lon 8.68 --utc-offset +01:00
	edgectl location add nrt --lat 35.68 --lon 139.69 --utc-offset +09:00
	fleet_hosts_add fra 110 h3=nrt
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
	export XDG_CONFIG_HOME=$SF_CFG EDGECTL_STORE=$SF_STORE EDGECTL_ROOT=$SF_ROOT
}

# The address of instance NAME on host H.
inst_ip() {
	fleet_ssh "$1" "$EDGECTL" --root "$(fleet_root "$1")" --json ps |
		jq -r --arg n "$2" '.[] | select(.name == $n) | .ip'
}

@test "schedule: 3 replicas over 2 locations start and answer; --tick replaces a killed one; rm stops them" {
	run -0 --separate-stderr edgectl --json schedule --image web:1 --name web --replicas 3 --cpus 0.1 --near fra
	echo "$output"
	jq -e '(.placements | length) == 3 and all(.placements[]; .started) and
		(.placements | map(.host) | unique | length) == 3 and
		(.placements | map(.location) | unique | sort) == ["fra", "nrt"]' <<<"$output"
	local p h n ip
	for p in $(jq -r '.placements[] | .host + "/" + .instance' <<<"$output"); do
		h=${p%%/*}
		n=${p#*/}
		ip=$(inst_ip "$h" "$n")
		[ -n "$ip" ] || { echo "no address for $n on $h"; false; }
		run -0 fleet_exec "$h" curl -fsS -m 5 "http://$ip/"
		[ "$output" = "scheduled hello" ]
	done
	# kill one instance behind edgectl's back: --tick replaces it
	p=$(edgectl store get apps/web.json)
	h=$(jq -r '.placements[0].host' <<<"$p")
	n=$(jq -r '.placements[0].instance' <<<"$p")
	fleet_ssh "$h" "$EDGECTL" --root "$(fleet_root "$h")" stop -t 0 "$n" >/dev/null
	run -0 --separate-stderr edgectl --json schedule --tick
	echo "$output"
	jq -e --arg n "$n" 'map(select(.instance == $n and .action == "replaced" and .started)) | length == 1' <<<"$output"
	ip=$(inst_ip "$h" "$n")
	run -0 fleet_exec "$h" curl -fsS -m 5 "http://$ip/"
	# a second tick has nothing to do
	run -0 --separate-stderr edgectl --json schedule --tick
	jq -e 'length == 0' <<<"$output"
	# rm stops every instance and frees the capacity
	run -0 edgectl schedule rm web
	run -0 --separate-stderr edgectl --json ps --all-hosts
	jq -e '[.instances[] | select(.status == "running")] | length == 0' <<<"$output"
	run -0 --separate-stderr edgectl --json host ls
	jq -e 'all(.[]; (.allocations | length) == 0)' <<<"$output"
}
