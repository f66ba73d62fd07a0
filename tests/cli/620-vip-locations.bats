#!/usr/bin/env bats
# One VIP in two locations, end to end on the namespace fleet
# (tests/lib/fleet.bash): h1 and h2 are location west, h3 is east; every
# host runs a router, and h1 (west) and h3 (east) also face a client
# each on a link of its own (anycast simulated by attachment: which router
# a client reaches depends on its link). An app with a VIP is scheduled
# over both locations; each location's client is served by its own
# location's backends only. Then west's instances are removed: once
# `route check` marks them down and `route sync` runs, west's router sends
# its client to east's backend (IPIP over the uplink); `schedule --tick`
# re-places west's replicas, west's client is served at home again, and a
# connection that was established on east's backend meanwhile stays there
# (it sends more data after the switch and gets its answer from east).
# Run time: about 30-40 s (3 hosts).
bats_require_minimum_version 1.5.0

VIP=198.19.250.5
NET_W=198.19.201 # west's client link
NET_E=198.19.202 # east's client link

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 3 || return 1
	[ -n "${FLEET_DIR:-}" ] || return 0
	export FL_CW="$FLEET_PREFIX-cw" FL_CE="$FLEET_PREFIX-ce"
	export FL_PINS="/sys/fs/bpf/edgectl-$FLEET_PREFIX"
	fleet_app_ctx '["httpd", "-f", "-p", "80", "-h", "/www"]' || return 1
	# echo: the request body (read as it arrives), then which instance
	mkdir -p "$BATS_FILE_TMPDIR/ctx/rootfs/www/cgi-bin"
	printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\nhead -c "$CONTENT_LENGTH"\necho\nhostname\n' \
		>"$BATS_FILE_TMPDIR/ctx/rootfs/www/cgi-bin/echo"
	chmod +x "$BATS_FILE_TMPDIR/ctx/rootfs/www/cgi-bin/echo"
	fleet_app_push FL bb:web
}

teardown_file() {
	load ../lib/fleet
	# the held connection of a test that failed (its PID is in a file:
	# the test's variables do not reach teardown_file)
	[ -s "$BATS_FILE_TMPDIR/hold.pid" ] && kill "$(cat "$BATS_FILE_TMPDIR/hold.pid")" 2>/dev/null
	[ -n "${FL_CW:-}" ] && ip netns del "$FL_CW" 2>/dev/null
	[ -n "${FL_CE:-}" ] && ip netns del "$FL_CE" 2>/dev/null
	fleet_rm_instances
	fleet_down
	[ -n "${FL_PINS:-}" ] && rm -rf "$FL_PINS"-h1 "$FL_PINS"-h2 "$FL_PINS"-h3
	true
}

setup() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/vip
	ec_isolate
	ec_require_root
	fleet_require
	export XDG_CONFIG_HOME=$FL_CFG EDGECTL_STORE=$FL_STORE
	export EDGECTL_ROOT="$BATS_FILE_TMPDIR/root"
}

# N requests from client namespace NS: one answer (an instance id) a line,
# FAIL for a failed one.
ask() {
	local ns=$1 n=$2 i
	for i in $(seq "$n"); do
		ip netns exec "$ns" curl -fsS -m 2 "http://$VIP/" || echo FAIL
	done
}

# The instance ids of the placements (JSON array) $2 in location $1.
ids_in() {
	jq -r --arg l "$1" '.[] | select(.location == $l) | .id' <<<"$2" | sort
}

# Only ids of the list $2 (lines) in the answers $1, and none failed.
only_from() {
	local out=$1 allowed=$2 l
	[ -n "$out" ] || return 1
	while read -r l; do
		grep -qxF -- "$l" <<<"$allowed" || { echo "'$l' is not one of: $allowed"; return 1; }
	done <<<"$out"
}

sync_all() {
	run -0 --separate-stderr edgectl --json route sync --all
	echo "sync: $output"
	jq -e 'length == 3 and all(.[]; .ok)' <<<"$output"
}

@test "two locations: each client is served at home; west's instances die -> east serves west's client; tick re-places; an established flow stays on east" {
	local i h out west east new_west t0 t1 enc0 enc1 FL_HOLD
	edgectl location add west --lat 48.85 --lon 2.35 --utc-offset +01:00
	edgectl location add east --lat 52.23 --lon 21.01 --utc-offset +01:00
	i=0
	for h in $FLEET_HOSTS; do
		i=$((i + 1))
		edgectl -q host add "$h" --location "$([ "$h" = h3 ] && echo east || echo west)" \
			--ssh "$h" --host-root "$(fleet_root "$h")" --edgectl "$EDGECTL" \
			--subnet "198.19.$((120 + i)).0/24"
		fleet_exec "$h" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0
		fleet_exec "$h" ethtool -K eth0 tx off >/dev/null
	done
	ethtool -K "$FLEET_LINK" tx off >/dev/null
	# one replica per host: two in west, one in east
	jq -n --arg vip "$VIP" '{name: "web", image: "bb:web", replicas: 3,
		near: [{location: "west"}, {location: "east"}],
		vip: $vip, health: {type: "http", path: "/"},
		command: ["sh", "-c", "hostname >/www/index.html; exec httpd -f -p 80 -h /www"]}' \
		>"$BATS_TEST_TMPDIR/web.json"
	run -0 --separate-stderr edgectl --json schedule "$BATS_TEST_TMPDIR/web.json"
	echo "$output"
	jq -e '(.placements | length == 3) and ([.placements[].host] | unique | length == 3)' <<<"$output"
	west=$(ids_in west "$(jq .placements <<<"$output")")
	east=$(ids_in east "$(jq .placements <<<"$output")")
	[ "$(wc -l <<<"$west")" = 2 ]
	[ "$(wc -l <<<"$east")" = 1 ]
	# a router on every host's uplink (own pins; the pass program on
	# the switch side of it), and on the client links of h1 and h3
	for h in $FLEET_HOSTS; do
		run -0 --separate-stderr fleet_exec "$h" "$EDGECTL" --store "$FL_STORE" route attach \
			--dev eth0 --host "$h" --pin-dir "$FL_PINS-$h"
		nsenter --net="/run/netns/$FLEET_PREFIX-sw" "$EDGECTL" route attach --dev "$h" --pass \
			--pin-dir "$FL_PINS-$h" >/dev/null
	done
	vip_client "$FL_CW" h1 "$NET_W" "$FL_PINS-h1"
	vip_client "$FL_CE" h3 "$NET_E" "$FL_PINS-h3"
	# shellcheck disable=SC2086 # one word per host
	vip_txoff $FLEET_HOSTS
	run -0 --separate-stderr edgectl --json route check --all --timeout 500
	jq -e 'all(.[]; .ok and (.result | all(.[]; .ok and .healthy)))' <<<"$output"
	sync_all
	# the routers of one location build one table, the other location
	# another
	jq -e 'map({(.host): .result.vips[0].table_fnv}) | add
		| .h1 == .h2 and .h1 != .h3' <<<"$output"

	# each client is served by its own location only (before this
	# change west's router sent about a third of its flows to east)
	out=$(ask "$FL_CW" 20)
	echo "west client: $out"
	only_from "$out" "$west"
	[ "$(sort -u <<<"$out" | wc -l)" = 2 ]
	out=$(ask "$FL_CE" 10)
	echo "east client: $out"
	only_from "$out" "$east"

	# west's instances go: two checks mark them down, a sync takes them
	# out of every table; west's router then sends to east (IPIP)
	enc0=$(fleet_exec h1 "$EDGECTL" --json route stats --pin-dir "$FL_PINS-h1" |
		jq '[.[].counters.encap.packets // 0] | add')
	t0=$(($(date +%s%N) / 1000000))
	vip_rm_instances_of h1
	vip_rm_instances_of h2
	for i in 1 2; do
		run --separate-stderr edgectl --json route check --all --timeout 500
		echo "check $i: $output"
	done
	run -0 --separate-stderr edgectl --json route show "$VIP"
	echo "$output"
	jq -e '[.backends[] | select(.location == "west" and .healthy)] | length == 0' <<<"$output"
	sync_all
	out=$(ask "$FL_CW" 10)
	t1=$(($(date +%s%N) / 1000000))
	echo "west client, west down: $out"
	only_from "$out" "$east"
	enc1=$(fleet_exec h1 "$EDGECTL" --json route stats --pin-dir "$FL_PINS-h1" |
		jq '[.[].counters.encap.packets // 0] | add')
	echo "# west down: its client served by east (IPIP from west's router: $((enc1 - enc0)) packets), $((t1 - t0)) ms from the removal to 10 answers (2 checks + sync)" >&3
	[ "$enc1" -gt "$enc0" ]
	out=$(ask "$FL_CE" 5)
	only_from "$out" "$east"

	# a connection established on east meanwhile: it sends half its
	# body now and the rest once west serves again
	ip netns exec "$FL_CW" bash -c "exec 3<>/dev/tcp/$VIP/80
		printf 'POST /cgi-bin/echo HTTP/1.0\r\nContent-Length: 4\r\n\r\nab' >&3
		while [ ! -e '$BATS_TEST_TMPDIR/go' ]; do sleep 0.1; done
		printf cd >&3
		timeout 10 cat <&3" >"$BATS_TEST_TMPDIR/hold.out" 2>&1 &
	FL_HOLD=$!
	echo "$FL_HOLD" >"$BATS_FILE_TMPDIR/hold.pid"
	sleep 1

	# the tick re-places west's replicas (on the hosts they ran on)
	run -0 --separate-stderr edgectl --json schedule --tick
	echo "tick: $output"
	jq -e 'map(select(.action == "replaced")) | length == 2 and all(.[]; .host != "h3")' <<<"$output"
	new_west=$(jq -r 'map(select(.action == "replaced")) | .[].id' <<<"$output" | sort)
	[ "$(wc -l <<<"$new_west")" = 2 ]
	[ "$new_west" != "$west" ]
	vip_txoff h1 h2
	run -0 --separate-stderr edgectl --json route check --all --timeout 500
	# each host's check recorded its router's client packets for the
	# VIP (scale-up near the load): west's clients reach h1 (served by
	# east meanwhile: still counted at west), east's h3; h2 has none
	run -0 --separate-stderr edgectl --json route show "$VIP"
	jq -e '.demand | .h1.location == "west" and .h3.location == "east"
		and .h1.pps > 0 and .h3.pps > 0 and (.h2.pps // 0) == 0' <<<"$output" ||
		{ jq -c .demand <<<"$output"; false; }
	sync_all
	out=$(ask "$FL_CW" 20)
	echo "west client, west back: $out"
	only_from "$out" "$new_west"
	out=$(ask "$FL_CE" 5)
	only_from "$out" "$east"

	# the established connection is still east's: it gets its whole
	# body back from east's instance
	touch "$BATS_TEST_TMPDIR/go"
	wait "$FL_HOLD"
	rm -f "$BATS_FILE_TMPDIR/hold.pid"
	cat "$BATS_TEST_TMPDIR/hold.out"
	grep -qx abcd "$BATS_TEST_TMPDIR/hold.out"
	grep -qxF "$east" "$BATS_TEST_TMPDIR/hold.out"
}
