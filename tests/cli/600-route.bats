#!/usr/bin/env bats
# edgectl route: route objects in the store, health checks with hysteresis
# against a real HTTP server, identical tables on every host, and end to end
# on the namespace fleet (tests/lib/fleet.bash): a client namespace on the
# fleet's switch reaches a VIP through host h1, whose XDP router delivers
# to a container on h1 or encapsulates (IPIP) to h2; containers answer the
# client directly (DSR).
bats_require_minimum_version 1.5.0

VIP=198.19.250.1

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 2 || return 1
	[ -n "${FLEET_DIR:-}" ] || return 0
	export FR_CLIENT="$FLEET_PREFIX-cl"
	export FR_PIN1="/sys/fs/bpf/edgectl-$FLEET_PREFIX-h1"
	export FR_PIN2="/sys/fs/bpf/edgectl-$FLEET_PREFIX-h2"
	fleet_app_ctx '["httpd", "-f", "-p", "80", "-h", "/www"]' || return 1
	mkdir -p "$BATS_FILE_TMPDIR/ctx/rootfs/www"
	fleet_app_push FR bb:web
}

teardown_file() {
	load ../lib/fleet
	[ -n "${FR_CLIENT:-}" ] && ip netns del "$FR_CLIENT" 2>/dev/null
	# the instances the tests left (directly in the host: no network, so
	# no dependence on the routers' state)
	fleet_rm_instances
	fleet_down
	# the routers' pins (their programs went with the namespaces)
	[ -n "${FR_PIN1:-}" ] && rm -rf "$FR_PIN1" "$FR_PIN2"
	true
}

setup() {
	load ../lib/common
	ec_isolate
}

# An instance record as run writes it: put_inst APP ID IP [HOST] [STATUS]
put_inst() {
	jq -n --arg a "$1" --arg i "$2" --arg ip "$3" --arg h "${4:-nohost}" --arg s "${5:-running}" \
		'{id: $i, name: $i, app: $a, ip: $ip, host: $h, status: $s}' >"$BATS_TEST_TMPDIR/i.json"
	edgectl store put "instances/$1/$2.json" "$BATS_TEST_TMPDIR/i.json" >/dev/null
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

@test "route: add, ls, show, rm against the store" {
	put_inst web bbb 198.19.9.3
	put_inst web aaa 198.19.9.2
	put_inst web ccc 198.19.9.4 nohost exited
	run -0 --separate-stderr edgectl --json route add 198.19.250.7:8080 --app web
	jq -e '.vip == "198.19.250.7" and .port == 8080 and .proto == "tcp" and .app == "web"
		and .id == 1 and .generation == 1 and .check.type == "http"
		and ([.backends[].instance] == ["aaa", "bbb"])
		and all(.backends[]; .healthy and .weight == 100 and .fails == 0)
		and ([.backends[].index] | sort == [1, 2])' <<<"$output"
	run -0 edgectl store stat routes/198.19.250.7.json
	# a second VIP gets the next id and other backend indices
	run -2 --separate-stderr edgectl route add 198.19.250.8:53/sctp --app web
	run -2 --separate-stderr edgectl route add nonsense --app web
	run -2 --separate-stderr edgectl route add 198.19.250.8
	run -0 --separate-stderr edgectl --json route add 198.19.250.8:53/udp --app web --check tcp
	jq -e '.id == 2 and .proto == "udp" and ([.backends[].index] | sort == [3, 4])' <<<"$output"
	run -0 --separate-stderr edgectl --json route ls
	jq -e 'length == 2 and .[0].vip == "198.19.250.7" and .[0].backends == 2 and .[0].healthy == 2' <<<"$output"
	run -0 --separate-stderr edgectl route ls
	[[ ${lines[1]} == *198.19.250.7*8080/tcp*web* ]]
	# draining: weight 0 keeps the backend but takes it out of the table;
	# no host has an address, so nothing is in a table yet
	run -0 --separate-stderr edgectl --json route add 198.19.250.7:8080 --app web --weight aaa=0
	jq -e '.generation == 2 and (.backends[] | select(.instance == "aaa") | .weight == 0)' <<<"$output"
	run -3 --separate-stderr edgectl route add 198.19.250.7:8080 --app web --weight zzz=1
	[[ $stderr == *zzz* ]]
	run -0 --separate-stderr edgectl --json route show 198.19.250.7
	jq -e '.table_size == 0 and (.backends | length == 2)' <<<"$output"
	run -0 --separate-stderr edgectl route rm 198.19.250.7
	run -3 --separate-stderr edgectl route show 198.19.250.7
	[[ $stderr == *"no route for VIP '198.19.250.7'"* ]]
	run -3 --separate-stderr edgectl route rm 198.19.250.7
	run -0 --separate-stderr edgectl --json route ls
	jq -e 'length == 1' <<<"$output"
}

@test "route: a malformed route object in the store is refused, naming its key" {
	put_inst web aaa 198.19.9.2
	run -0 edgectl -q route add 198.19.250.30 --app web
	jq -n '{vip: "198.19.250.31", port: 0, id: 2, backends: []}' >"$BATS_TEST_TMPDIR/r.json"
	edgectl store put routes/198.19.250.31.json "$BATS_TEST_TMPDIR/r.json" >/dev/null
	run -2 --separate-stderr edgectl route ls
	[[ $stderr == *"'routes/198.19.250.31.json': port is not 1-65535"* ]]
	jq -n '{vip: "198.19.250.31", port: 80, id: 2, check: {type: "http", path: "/\r\nX: y"}}' \
		>"$BATS_TEST_TMPDIR/r.json"
	edgectl store put routes/198.19.250.31.json "$BATS_TEST_TMPDIR/r.json" >/dev/null
	run -2 --separate-stderr edgectl route check 198.19.250.31
	[[ $stderr == *"check has a bad type or path"* ]]
	run -0 edgectl route rm 198.19.250.31
	run -0 --separate-stderr edgectl --json route ls
	jq -e 'length == 1 and .[0].vip == "198.19.250.30"' <<<"$output"
}

@test "route: check probes a real HTTP server, health changes only after 2 in a row" {
	local port pid
	port=$(free_port)
	put_inst web a1 127.0.0.1
	run -0 edgectl -q route add "198.19.250.9:$port" --app web --path /ok
	mkdir -p "$BATS_TEST_TMPDIR/www" && echo ok >"$BATS_TEST_TMPDIR/www/ok"
	# down: one failure is noise, the second takes it out
	run -0 --separate-stderr edgectl --json route check --timeout 300
	jq -e 'length == 1 and .[0].ok == false and .[0].healthy == true' <<<"$output"
	run -0 --separate-stderr edgectl --json route check 198.19.250.9 --timeout 300
	jq -e '.[0].ok == false and .[0].healthy == false' <<<"$output"
	run -0 --separate-stderr edgectl --json route show 198.19.250.9
	jq -e '.backends[0].fails == 2 and .backends[0].rtt_ms == null' <<<"$output"
	# up: a real server; one success is not enough, two are
	python3 -m http.server "$port" --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 50); do nc -z 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.1; done
	run -0 --separate-stderr edgectl --json route check
	jq -e '.[0].ok == true and .[0].healthy == false and .[0].rtt_ms >= 0' <<<"$output"
	run -0 --separate-stderr edgectl --json route check
	jq -e '.[0].ok == true and .[0].healthy == true' <<<"$output"
	# a path that is not there is an HTTP failure
	run -0 edgectl -q route add "198.19.250.9:$port" --app web --path /missing
	run -0 --separate-stderr edgectl --json route check
	jq -e '.[0].ok == false and (.[0].error | test("HTTP 404")) and .[0].healthy == true' <<<"$output"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	run -0 --separate-stderr edgectl route check
	[[ $output == *"198.19.250.9"*a1*fail*unhealthy* ]]
}

@test "route: sync builds the same tables on two routers from the same store" {
	ec_require_root
	local d1="/sys/fs/bpf/edgectl-t600-$$-a" d2="/sys/fs/bpf/edgectl-t600-$$-b" i
	edgectl location add l1 --lat 0 --lon 0 --utc-offset 0
	for i in 1 2; do
		jq -n --arg n "x$i" --arg ip "198.18.254.$i" --arg d "/sys/fs/bpf/edgectl-t600-$$-$i" \
			'{name: $n, location: "l1", subnet: ("198.19.24" + ($n[1:]) + ".0/24"),
			  router: {dev: "eth0", ip: $ip, mac: "02:00:00:00:00:0\($n[1:])", pin_dir: $d}}' \
			>"$BATS_TEST_TMPDIR/h.json"
		edgectl store put "fleet/l1/hosts/x$i.json" "$BATS_TEST_TMPDIR/h.json" >/dev/null
	done
	# backends on both hosts (by subnet), one remote for each host
	for i in 1 2 3 4 5 6; do put_inst api "b$i" "198.19.24$((i % 2 + 1)).$((10 + i))"; done
	put_inst api b7 198.19.241.99
	run -0 edgectl -q route add 198.19.250.10 --app api
	run -0 edgectl -q route add 198.19.250.11:443 --app api --weight b1=0 --weight b3=5
	run -0 --separate-stderr edgectl --json route show 198.19.250.11
	jq -e '(.backends[] | select(.instance == "b1") | .table_slots == 0)
		and ([.backends[] | select(.host == "x1")] | length == 4)' <<<"$output"
	# the backends on x1/x2 are not containers here: their veths are
	# missing, which sync reports as a warning on the host that has them
	run -0 --separate-stderr edgectl --json route sync --local --host x1 --pin-dir "$d1"
	r1=$output
	run -0 --separate-stderr edgectl --json route sync --local --host x2 --pin-dir "$d2"
	r2=$output
	rm -rf "$d1" "$d2"
	jq -e '.host == "x1" and (.vips | length == 2) and (.warnings | length >= 1)' <<<"$r1"
	[ "$(jq -c '[.vips[] | [.vip, .id, .table_size, .table_fnv]]' <<<"$r1")" = \
		"$(jq -c '[.vips[] | [.vip, .id, .table_size, .table_fnv]]' <<<"$r2")" ]
	jq -e '.vips[0].table_size == 65537 and .vips[0].backends == 7' <<<"$r1"
}

@test "route: sync fans out to every host with a router, names a failing host, does the others" {
	ec_require_root
	local d="/sys/fs/bpf/edgectl-t600-$$-f"
	edgectl location add l1 --lat 0 --lon 0 --utc-offset 0
	# f1: a router with an address; f2: a router record without one;
	# f3: no router (not a target). No "ssh": the host is this machine.
	jq -n --arg d "$d" '{name: "f1", location: "l1",
		router: {dev: "eth0", ip: "198.18.254.21", mac: "02:00:00:00:00:21", pin_dir: $d}}' \
		>"$BATS_TEST_TMPDIR/h.json"
	edgectl store put fleet/l1/hosts/f1.json "$BATS_TEST_TMPDIR/h.json" >/dev/null
	jq -n '{name: "f2", location: "l1", router: {dev: "eth0"}}' >"$BATS_TEST_TMPDIR/h.json"
	edgectl store put fleet/l1/hosts/f2.json "$BATS_TEST_TMPDIR/h.json" >/dev/null
	jq -n '{name: "f3", location: "l1"}' >"$BATS_TEST_TMPDIR/h.json"
	edgectl store put fleet/l1/hosts/f3.json "$BATS_TEST_TMPDIR/h.json" >/dev/null
	put_inst api b1 198.19.250.11
	run -0 edgectl -q route add 198.19.250.20 --app api
	run -4 --separate-stderr edgectl --json route sync --all
	rm -rf "$d"
	jq -e 'length == 2
		and .[0].host == "f1" and .[0].ok and .[0].result.host == "f1"
		and (.[0].result.vips | length == 1)
		and .[1].host == "f2" and (.[1].ok | not)
		and (.[1].error | test("^host f2: host .f2. has no router address"))' <<<"$output"
	[[ $stderr == *"edgectl: host f2: host 'f2' has no router address"* ]]
	# one host: the same, and text output names the good ones
	run -4 --separate-stderr edgectl route sync --host f2
	[ -z "$output" ]
	[[ $stderr == *"host f2: "* ]]
	run -0 --separate-stderr edgectl route sync --host f1
	rm -rf "$d"
	[ "$output" = "f1: ok" ]
	run -3 --separate-stderr edgectl route sync --host nosuch
}

# --- end to end on the fleet ---------------------------------------------

fleet_env() {
	load ../lib/fleet
	ec_require_root
	fleet_require
	export XDG_CONFIG_HOME=$FR_CFG EDGECTL_STORE=$FR_STORE
	export EDGECTL_ROOT="$BATS_FILE_TMPDIR/root"
}

# The client: FLEET_NET.100 on the switch; the VIP is routed via h1, the
# container subnet of h1 too (for plain forwarding).
client_up() {
	local sw=$FLEET_PREFIX-sw
	ip netns add "$FR_CLIENT"
	ip -n "$sw" link add cl type veth peer name eth0 netns "$FR_CLIENT"
	ip -n "$sw" link set cl master br0 up
	ip -n "$FR_CLIENT" link set lo up
	ip -n "$FR_CLIENT" addr add "$FLEET_NET.100/24" dev eth0
	ip -n "$FR_CLIENT" link set eth0 up
	ip -n "$FR_CLIENT" route add "$VIP/32" via "$(fleet_addr h1)"
	ip -n "$FR_CLIENT" route add 198.19.101.0/24 via "$(fleet_addr h1)"
	# local senders over veth: full checksums (xdp-notes)
	ip netns exec "$FR_CLIENT" ethtool -K eth0 tx off >/dev/null
}

# start NAME HOST: a web container of app "web" serving $VIP, answering
# with its name; prints the instance id
start_web() {
	local id
	id=$(edgectl run --host "$2" -d --name "$1" --app web --vip "$VIP" bb:web -- \
		sh -c "echo $1 >/www/index.html; exec httpd -f -p 80 -h /www") || return 1
	nsenter --net="/run/netns/ec-$id" ethtool -K eth0 tx off >/dev/null || return 1
	echo "$id"
}

# N requests from the client to the VIP (new connection each); prints
# who answered, one per line ("FAIL" for a failed request)
hit() {
	local i
	for i in $(seq "$1"); do
		# one retry (a new source port): a CI run saw one request of
		# test 6 fail once, not reproduced alone; a backend still in a
		# table fails both tries of some requests, and b1's name is
		# checked separately
		ip netns exec "$FR_CLIENT" curl -fsS -m 2 --retry 1 --retry-all-errors --retry-delay 0 \
			"http://$VIP/" 2>/dev/null || echo FAIL
	done
}

@test "route: end to end, local and IPIP delivery, a dead backend leaves, detach restores plain forwarding" {
	fleet_env
	local i h ids a1 b1 b2 t0 t1 out
	edgectl location add edge1 --lat 52.52 --lon 13.40 --utc-offset +01:00
	i=0
	for h in $FLEET_HOSTS; do
		i=$((i + 1))
		edgectl -q host add "$h" --location edge1 --ssh "$h" \
			--host-root "$(fleet_root "$h")" --edgectl "$EDGECTL" \
			--subnet "198.19.$((100 + i)).0/24"
		fleet_exec "$h" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0
		# sshd and forwarded replies leave through a veth whose peer
		# runs XDP: full checksums (xdp-notes)
		fleet_exec "$h" ethtool -K eth0 tx off >/dev/null
	done
	ethtool -K "$FLEET_LINK" tx off >/dev/null
	client_up
	a1=$(start_web a1 h1)
	b1=$(start_web b1 h2)
	b2=$(start_web b2 h2)
	run -0 --separate-stderr edgectl --json route add "$VIP" --app web
	jq -e --arg a "$a1" --arg b "$b1" --arg c "$b2" '(.backends | length == 3)
		and (.backends[] | select(.instance == $a) | .host == "h1")
		and (.backends[] | select(.instance == $b) | .host == "h2")' <<<"$output"
	# the routers: one per host (own pins: the hosts share /sys/fs/bpf),
	# the pass program on the switch side of the hosts' veths (XDP_TX)
	run -0 --separate-stderr fleet_exec h1 "$EDGECTL" --store "$FR_STORE" route attach --dev eth0 --host h1 --pin-dir "$FR_PIN1"
	run -0 --separate-stderr fleet_exec h2 "$EDGECTL" --store "$FR_STORE" route attach --dev eth0 --host h2 --pin-dir "$FR_PIN2"
	nsenter --net="/run/netns/$FLEET_PREFIX-sw" "$EDGECTL" route attach --dev h1 --pass --pin-dir "$FR_PIN1"
	nsenter --net="/run/netns/$FLEET_PREFIX-sw" "$EDGECTL" route attach --dev h2 --pass --pin-dir "$FR_PIN2"
	run -0 --separate-stderr edgectl --json host ls
	jq -e 'all(.[]; .router.ip != null and .router.mac != null)' <<<"$output"
	# sync pushes `route sync --local` over SSH to both hosts
	run -0 --separate-stderr edgectl --json route sync --all
	echo "$output"
	jq -e 'length == 2 and all(.[]; .ok and .result.vips[0].backends == 3)
		and (.[0].result.vips[0].table_fnv == .[1].result.vips[0].table_fnv)' <<<"$output"
	# requests through h1: local delivery (a1) and IPIP to h2 (b1, b2)
	out=$(hit 30)
	echo "$out"
	! grep -q FAIL <<<"$out" || false
	grep -qx a1 <<<"$out"
	grep -Eqx 'b1|b2' <<<"$out"
	run -0 --separate-stderr fleet_exec h1 "$EDGECTL" --json route stats --pin-dir "$FR_PIN1"
	jq -e '.[] | select(.id == 1) | .counters.local.packets >= 1 and .counters.encap.packets >= 1' <<<"$output"
	run -0 --separate-stderr fleet_exec h2 "$EDGECTL" --json route stats --pin-dir "$FR_PIN2"
	jq -e '.[] | select(.id == 1) | .counters.decap.packets >= 1' <<<"$output"
	# kill b1: two failed checks take it out, sync moves new connections
	fleet_ssh h2 "$EDGECTL" --root "$(fleet_root h2)" stop -t 0 "$b1" >/dev/null
	t0=$(date +%s%N)
	for i in 1 2; do
		run --separate-stderr edgectl --json route check --all --timeout 500
		echo "$output $stderr"
		[ "$status" = 0 ]
	done
	run -0 --separate-stderr edgectl --json route show "$VIP"
	jq -e --arg b "$b1" '.backends[] | select(.instance == $b) | .healthy == false' <<<"$output" ||
		jq -e --arg b "$b1" '[.backends[] | select(.instance == $b)] | length == 0' <<<"$output"
	run -0 --separate-stderr edgectl route sync --all
	t1=$(date +%s%N)
	echo "# dead backend out of every table in $(((t1 - t0) / 1000000)) ms" >&3
	# what is checked is that 2 rounds and a sync do it (above), not how
	# fast: the time goes to the benchmark (bench/vip.sh); a generous
	# bound only catches a hang (a loaded CI box took 10 s and more)
	[ $(((t1 - t0) / 1000000)) -lt 120000 ]
	out=$(hit 30)
	echo "$out"
	! grep -q FAIL <<<"$out" || false
	! grep -qx b1 <<<"$out" || false
	grep -qx b2 <<<"$out"
	# drain a1 (weight 0): new connections go to b2 only
	run -0 edgectl -q route add "$VIP" --app web --weight "$a1=0"
	run -0 --separate-stderr edgectl --json route sync --all
	jq -e 'all(.[]; .ok and .result.backends == 2 and .result.vips[0].backends == 2)' <<<"$output"
	out=$(hit 10)
	[ "$(sort -u <<<"$out")" = b2 ] || { echo "$out"; false; }
	# detach: no XDP on h1's uplink, non-VIP traffic forwarded as before
	run -0 --separate-stderr fleet_exec h1 "$EDGECTL" route detach --dev eth0 --pin-dir "$FR_PIN1"
	run -0 fleet_exec h1 ip link show dev eth0
	[[ $output != *xdp* ]]
	ip1=$(edgectl --json route show "$VIP" | jq -r --arg a "$a1" '.backends[] | select(.instance == $a) | .ip')
	run -0 ip netns exec "$FR_CLIENT" curl -fsS -m 3 "http://$ip1/"
	[ "$output" = a1 ]
}
