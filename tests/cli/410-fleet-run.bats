#!/usr/bin/env bats
# The fleet inventory and remote execution against real hosts: network
# namespaces running their own sshd (tests/lib/fleet.bash), each with its
# own edgectl root and container subnet, the store shared (file://).
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 2 || return 1
	fleet_app_ctx '["httpd", "-f", "-p", "80", "-h", "/www"]' || return 1
	mkdir -p "$BATS_FILE_TMPDIR/ctx/rootfs/www"
	echo "hello from the fleet" >"$BATS_FILE_TMPDIR/ctx/rootfs/www/index.html"
	fleet_app_push FR bb:web
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
	export XDG_CONFIG_HOME=$FR_CFG EDGECTL_STORE=$FR_STORE
	export EDGECTL_ROOT="$BATS_FILE_TMPDIR/root"
}

add_fleet() {
	local i=0 h
	edgectl location add edge1 --lat 52.52 --lon 13.40 --utc-offset +01:00 --off-peak 01:00-05:00
	for h in $FLEET_HOSTS; do
		i=$((i + 1))
		edgectl -q host add "$h" --location edge1 --ssh "$h" \
			--host-root "$(fleet_root "$h")" --edgectl "$EDGECTL" \
			--subnet "198.19.$((100 + i)).0/24" --label tier=test
	done
}

@test "fleet: location add and host add probe every host over SSH" {
	add_fleet
	run -0 --separate-stderr edgectl --json location ls
	jq -e 'length == 1 and .[0].name == "edge1" and .[0].utc_offset_min == 60 and .[0].off_peak == "01:00-05:00"' <<<"$output"
	run -0 --separate-stderr edgectl --json host ls
	jq -e 'length == 2 and all(.[]; .probe.cpus >= 1 and .probe.memory_bytes > 0
		and (.probe.runtimes | index("crun")) != null and .probe.cni == true
		and .labels.tier == "test" and .generation >= 1)' <<<"$output"
	# the host objects are where DESIGN says
	run -0 edgectl store stat fleet/edge1/hosts/h1.json
	# adding again updates by compare-and-swap: the generation grows
	local g1 g2
	g1=$(edgectl --json host ls | jq '.[] | select(.name == "h1") | .generation')
	edgectl -q host add h1 --location edge1 --ssh h1 --host-root "$(fleet_root h1)" --edgectl "$EDGECTL" --subnet 198.19.101.0/24
	g2=$(edgectl --json host ls | jq '.[] | select(.name == "h1") | .generation')
	[ "$g2" -gt "$g1" ]
}

@test "fleet: run --host over SSH pulls the image there, streams output, propagates the exit status" {
	add_fleet
	run -7 --separate-stderr edgectl run --host h2 --rm bb:web -- sh -c 'echo on-$(hostname -i 2>/dev/null || echo x); exit 7'
	[[ $output == on-* ]] || { echo "$output / $stderr"; false; }
	# the image is now in h2's own root, not in h1's
	run -0 fleet_ssh h2 "$EDGECTL" --root "$(fleet_root h2)" --json images
	jq -e 'map(.ref) | index("bb:web") != null' <<<"$output"
	run -0 fleet_ssh h1 "$EDGECTL" --root "$(fleet_root h1)" --json images
	jq -e 'length == 0' <<<"$output"
}

@test "fleet: run -d on two hosts, ps --all-hosts lists both, the server answers inside its host" {
	add_fleet
	local id1 id2 ip1
	run -0 --separate-stderr edgectl run --host h1 -d --name web1 bb:web
	id1=$output
	run -0 --separate-stderr edgectl run --host h2 -d --name web2 bb:web
	id2=$output
	run -0 --separate-stderr edgectl --json ps --all-hosts
	echo "$output"
	jq -e --arg a "$id1" --arg b "$id2" '.errors == [] and
		([.instances[] | select(.id == $a and .host == "h1" and .status == "running")] | length == 1) and
		([.instances[] | select(.id == $b and .host == "h2" and .status == "running")] | length == 1)' <<<"$output"
	ip1=$(jq -r --arg a "$id1" '.instances[] | select(.id == $a) | .ip' <<<"$output")
	[[ $ip1 == 198.19.101.* ]]
	# from inside h1 (its bridge), the container answers
	run -0 fleet_exec h1 curl -fsS -m 5 "http://$ip1/"
	[ "$output" = "hello from the fleet" ]
	# the store has the instance records
	run -0 edgectl store stat "instances/web1/$id1.json"
	fleet_ssh h1 "$EDGECTL" --root "$(fleet_root h1)" rm -f "$id1" >/dev/null
	fleet_ssh h2 "$EDGECTL" --root "$(fleet_root h2)" rm -f "$id2" >/dev/null
}

@test "fleet: an unreachable host is reported by name, the others still answer (exit 4)" {
	add_fleet
	# a third host whose address nobody serves
	edgectl location add edge2 --lat 48.1 --lon 11.6 --utc-offset +01:00
	run -4 --separate-stderr edgectl host add ghost --location edge2 --ssh "root@$FLEET_NET.99" --edgectl "$EDGECTL"
	[[ $stderr == *ghost* ]] || { echo "$stderr"; false; }
	# record it anyway (as if it had gone down after being added)
	edgectl store get fleet/edge1/hosts/h1.json "$BATS_TEST_TMPDIR/h.json"
	jq --arg a "root@$FLEET_NET.99" '.name = "ghost" | .location = "edge2" | .ssh = $a' "$BATS_TEST_TMPDIR/h.json" >"$BATS_TEST_TMPDIR/g.json"
	edgectl store put fleet/edge2/hosts/ghost.json "$BATS_TEST_TMPDIR/g.json" >/dev/null
	run -4 --separate-stderr edgectl --json ps --all-hosts -a
	jq -e '(.errors | length == 1) and .errors[0].host == "ghost"' <<<"$output"
	run -4 --separate-stderr edgectl run --host ghost --rm bb:web -- true
	[[ $stderr == *ghost* ]] || { echo "$stderr"; false; }
	edgectl host rm ghost
	run -0 edgectl --json ps --all-hosts
}

@test "fleet: host add to a missing location exits 3; bad names exit 2" {
	run -3 --separate-stderr edgectl host add h1 --location nowhere --ssh h1
	[[ $stderr == *nowhere* ]]
	run -2 edgectl host add Bad_Name --location edge1 --ssh h1
	run -2 edgectl location add x --lat 100 --lon 0 --utc-offset 0
}
