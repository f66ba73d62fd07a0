#!/bin/bash
# vip.sh - one app, one IP (issue 14): what a VIP's users feel when the fleet
# changes, each number against a peer measured in the same run.
#
#   1. flows moved when a backend leaves or changes weight (vip_drv.c):
#      fresh flows with the fixed Maglev size vs the size that follows the
#      backend count, both against the theoretical minimum (the departed
#      backend's own flows); established flows through the XDP program
#      (test-run) when a backend drains and when it is removed.
#   2. router cost per packet (route_drv.c, the kernel's test-run): LRU hit
#      and IPIP encapsulation as a multiple of the XDP_PASS-only floor.
#   3. on the namespace fleet (tests/lib/fleet.bash, 3 hosts, one location,
#      a client on its own link to h1's router; BENCH_FLEET=0 skips it):
#      failover - a host serving a replica dies (sshd killed, router
#      detached: its traffic is lost, its containers keep running),
#      then two route checks and a sync (the VIP answers again), then two
#      ticks and a sync (re-placed); a client asking every 50 ms measures
#      from the kill to the last failed request, and how many failed; the
#      peer is the same checks and sync on the healthy fleet.
#      scale-up - an app with a load target under a bounded wrk run: from
#      the route check that records the load above target (the app's own
#      HTTP load endpoint: its established connections) to the first
#      answer of the new replica through the VIP, and the load per replica
#      before and after; the peer is a plain `schedule` of one replica.
#
#   tests/bench/vip.sh                  BENCH_FLOWS=200000 BENCH_CALLS=100000
#   BENCH_FLEET=0 tests/bench/vip.sh    parts 1 and 2 only (seconds)
#   BENCH_FAILOVER=0 tests/bench/vip.sh part 3 without the failover (3b only)
# Needs root (BPF, namespaces), wrk and what the fleet needs. Prints
# numbers and ratios; never fails on speed. Everything made is removed on
# exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
O=${O:-build}
flows=${BENCH_FLOWS:-200000}
calls=${BENCH_CALLS:-100000}
export EDGECTL=$TOP/$O/edgectl
export PATH="$TOP/$O:$PATH"

log() { echo "vip: $*" >&2; }
die() {
	log "$*"
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (BPF, network namespaces)"

make -s "O=$O" "$O/libedgectl.a" "$O/edgectl"
mkdir -p "$O/tests/bench"
for d in vip_drv route_drv; do
	# shellcheck disable=SC2046 # one word per library
	cc -std=gnu11 -O2 -D_GNU_SOURCE -pthread -Isrc -o "$O/tests/bench/$d" \
		"tests/bench/$d.c" "$O/libedgectl.a" \
		$(make -s --no-print-directory -C "$TOP" print-libs)
done

echo "== 1. flows moved"
"$O/tests/bench/vip_drv" "$flows"

echo "== 2. router cost per packet (kernel test-run, $calls calls per case)"
"$O/tests/bench/route_drv" "$calls" 3 | tee "${TMPDIR:-/tmp}/vip-route.$$"
awk '/^floor/ { f = $4 + 0 }
	/^LRU hit, local/ { h = $(NF - 1) } /^encap \(hit\)/ { e = $(NF - 1) }
	END { if (f > 0) printf "ratios to the XDP_PASS floor (%.0f ns): LRU hit %.2fx, encap %.2fx\n", f, h / f, e / f }' \
	"${TMPDIR:-/tmp}/vip-route.$$"
rm -f "${TMPDIR:-/tmp}/vip-route.$$"

[ "${BENCH_FLEET:-1}" != 0 ] || exit 0
command -v wrk >/dev/null || die "'wrk' not found (install: tests/lib/deps.sh bench)"

# --- 3. the fleet ------------------------------------------------------------
# shellcheck source=tests/lib/fleet.bash
. tests/lib/fleet.bash
# shellcheck source=tests/lib/busybox.bash
. tests/lib/busybox.bash
# shellcheck source=tests/lib/vip.bash
. tests/lib/vip.bash

VIP=198.19.250.7
VIP2=198.19.250.8
NET_C=198.19.203
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecvip.XXXXXX")
export XDG_CONFIG_HOME=$WORK/cfg EDGECTL_STORE=file://$WORK/store EDGECTL_ROOT=$WORK/root
CLIENT='' PINS='' LOOP='' WRK_PID=''

cleanup() {
	local rc=$? h
	trap - EXIT INT TERM
	set +e
	for p in "$LOOP" "$WRK_PID"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	fleet_rm_instances
	[ -n "$CLIENT" ] && [ -e "/run/netns/$CLIENT" ] && ip netns del "$CLIENT"
	[ -n "${FLEET_DIR:-}" ] && fleet_down "$FLEET_DIR"
	if [ -n "$PINS" ]; then
		for h in h1 h2 h3; do rm -rf "$PINS-$h"; done
	fi
	rm -rf --one-file-system "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

rc=0
fleet_up 3 || rc=$?
[ "$rc" = 77 ] && die "the fleet cannot start: $FLEET_MISSING"
[ "$rc" = 0 ] || die "fleet_up failed"
PINS=/sys/fs/bpf/edgectl-$FLEET_PREFIX
CLIENT=$FLEET_PREFIX-cl
echo "$CLIENT" >>"$FLEET_DIR/netns" # the fleet's watchdog removes it too

mkdir -p "$WORK/ctx/rootfs/www/cgi-bin"
fleet_edgectl_config "$XDG_CONFIG_HOME"
(set +o pipefail; busybox_rootfs "$WORK/ctx/rootfs")
printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\ncat /proc/net/tcp /proc/net/tcp6 | grep -c ":0050 [0-9A-F]*:[0-9A-F]* 01 "\n' \
	>"$WORK/ctx/rootfs/www/cgi-bin/load"
printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\nsleep 1\nhostname\n' \
	>"$WORK/ctx/rootfs/www/cgi-bin/slow"
chmod +x "$WORK/ctx/rootfs/www/cgi-bin/load" "$WORK/ctx/rootfs/www/cgi-bin/slow"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n' >"$WORK/ctx/Dockerfile"
edgectl -q build -t bb:web "$WORK/ctx" >/dev/null
edgectl -q push bb:web >/dev/null
edgectl location add edge1 --lat 52.52 --lon 13.40 --utc-offset +01:00 >/dev/null
i=0
for h in $FLEET_HOSTS; do
	i=$((i + 1))
	edgectl -q host add "$h" --location edge1 --ssh "$h" --host-root "$(fleet_root "$h")" \
		--edgectl "$EDGECTL" --subnet "198.19.$((130 + i)).0/24"
	fleet_exec "$h" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0
	fleet_exec "$h" ethtool -K eth0 tx off >/dev/null
	fleet_exec "$h" "$EDGECTL" --store "$EDGECTL_STORE" route attach --dev eth0 --host "$h" \
		--pin-dir "$PINS-$h" >/dev/null
	nsenter --net="/run/netns/$FLEET_PREFIX-sw" "$EDGECTL" route attach --dev "$h" --pass \
		--pin-dir "$PINS-$h" >/dev/null
done
ethtool -K "$FLEET_LINK" tx off >/dev/null
vip_client "$CLIENT" h1 "$NET_C" "$PINS-h1"

jq -n --arg vip "$VIP" '{name: "web", image: "bb:web", replicas: 2, min_replicas: 2,
	max_replicas: 3, near: [{location: "edge1"}], vip: $vip, health: {type: "http", path: "/"},
	command: ["sh", "-c", "hostname >/www/index.html; exec httpd -f -p 80 -h /www"]}' >"$WORK/web.json"
edgectl -q --json schedule "$WORK/web.json" >"$WORK/web.out"
# shellcheck disable=SC2086 # one word per host
vip_txoff $FLEET_HOSTS
edgectl -q --json route check --all --timeout 500 >/dev/null
edgectl -q --json route sync --all >/dev/null
for i in $(seq 10); do
	ip netns exec "$CLIENT" curl -fsS -m 2 "http://$VIP/" >/dev/null || die "the VIP does not answer"
done

# the failover loop: two checks (a host that cannot be reached counts a
# failed probe for each of its backends: two take them out) and a sync;
# then two ticks (the host is declared down, its replica re-placed) and a
# sync. The peer: the same on the healthy fleet.
fast_loop() {
	edgectl -q --json route check --all --timeout 500 >/dev/null 2>&1 || true
	edgectl -q --json route check --all --timeout 500 >/dev/null 2>&1 || true
	edgectl -q --json route sync --all >/dev/null 2>&1 || true
}
tick_loop() {
	edgectl -q --json schedule --tick >/dev/null
	edgectl -q --json schedule --tick >/dev/null
	edgectl -q --json route sync --all >/dev/null 2>&1 || true
}
if [ "${BENCH_FAILOVER:-1}" != 0 ]; then
t0=$(ms)
fast_loop
steady=$(($(ms) - t0))
t0=$(ms)
tick_loop
steady_tick=$(($(ms) - t0))

# failover: the client asks every 50 ms, a host serving a replica dies
(while :; do
	st=$(ms)
	if ip netns exec "$CLIENT" curl -fsS -m 1 -o /dev/null "http://$VIP/" 2>/dev/null; then
		echo "$st ok"
	else
		echo "$st fail"
	fi
	sleep 0.05
done) >"$WORK/loop.log" &
LOOP=$!
sleep 1
victim=$(edgectl --json schedule ls | jq -r '[.[] | select(.name == "web") | .placements[].host
	| select(. != "h1")] | first')
[ -n "$victim" ] && [ "$victim" != null ] || die "no replica outside h1"
t0=$(ms)
vip_kill_host "$victim" "$PINS-$victim"
fast_loop
t1=$(ms)
tick_loop
t2=$(ms)
sleep 2
kill "$LOOP"
wait "$LOOP" 2>/dev/null || true
LOOP=
read -r fo fails total < <(awk -v t0="$t0" '$1 >= t0 { n++; if ($2 == "fail") { f++; last = $1 } }
	END { print (last ? last - t0 : 0), f + 0, n + 0 }' "$WORK/loop.log")
after=$(awk -v t1="$t1" '$1 > t1 && $2 == "fail"' "$WORK/loop.log" | wc -l)
echo "== 3a. failover (host $victim killed; 2 checks + sync, then 2 ticks + sync)"
echo "  VIP answering again: last failed request started ${fo} ms after the kill; $fails of $total requests failed ($after after the checks and sync)"
echo "  checks + sync after the kill: $((t1 - t0)) ms (healthy fleet: $steady ms); ticks + sync (re-placed): $((t2 - t1)) ms (healthy: $steady_tick ms)"
awk -v a="$fo" -v b="$steady" 'BEGIN { if (b > 0) printf "  ratio failover / the same checks + sync on the healthy fleet: %.2fx\n", a / b }'
else
	victim=none
fi

# scale-up: the peer is a plain schedule of one replica
jq -n --arg vip "$VIP2" '{name: "api", image: "bb:web", replicas: 1, min_replicas: 1, max_replicas: 2,
	near: [{location: "edge1"}], vip: $vip, health: {type: "http", path: "/"},
	load: {metric: "connections", target: 5, path: "/cgi-bin/load", up_after: 0, down_after: 0, cooldown: 0},
	command: ["sh", "-c", "hostname >/www/index.html; exec httpd -f -p 80 -h /www"]}' >"$WORK/api.json"
t0=$(ms)
edgectl -q --json schedule "$WORK/api.json" >/dev/null
sched_ms=$(($(ms) - t0))
live=$(for h in $FLEET_HOSTS; do [ "$h" = "$victim" ] || echo "$h"; done)
# shellcheck disable=SC2086 # one word per host
vip_txoff $live
edgectl -q --json route check --all --timeout 500 >/dev/null || true
edgectl -q --json route sync --all >/dev/null || true
# wrk holds 20 connections, each request 1 s (/cgi-bin/slow; busybox httpd
# closes after every answer, so each request is a new connection: a new
# flow the router places); the app's /cgi-bin/load counts its established
# connections on port 80 (the probe's own included). Bounded: wrk stops
# after 90 s, or when this part is done.
ip netns exec "$CLIENT" timeout 120 wrk -t2 -c20 -d90s --timeout 3s "http://$VIP2/cgi-bin/slow" \
	>"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
# the app's load as route check records it: the sum over healthy backends
app_load() {
	edgectl --json route show "$VIP2" | jq '[.backends[] | select(.healthy) | .load // 0] | add // 0'
}
per_replica() {
	edgectl --json route show "$VIP2" | jq -r '[.backends[] | select(.healthy)
		| "\(.host) \(.load // "?")"] | join(", ")'
}
# checks until the load recorded is above the target (bounded: 20 checks)
above=''
for i in $(seq 20); do
	sleep 1
	edgectl -q --json route check --all --timeout 1000 >/dev/null 2>&1 || true
	if awk -v l="$(app_load)" 'BEGIN { exit !(l > 5) }'; then
		above=$(ms)
		break
	fi
done
before=$(per_replica)
t0=$(ms)
edgectl --json schedule --tick >"$WORK/tick.json"
new=$(jq -r 'map(select(.app == "api" and .action == "placed")) | .[0].placements[0].id // empty' "$WORK/tick.json")
echo "== 3b. scale-up (wrk: 20 connections, each request held 1 s; target 5 per replica; up_after 0)"
if [ -z "$above" ]; then
	echo "  the recorded load never went above the target: $(per_replica)"
elif [ -z "$new" ]; then
	echo "  no replica was added: $(jq -c 'map(select(.app == "api"))' "$WORK/tick.json")"
else
	# shellcheck disable=SC2086 # one word per host
	vip_txoff $live
	edgectl -q --json route sync --all >/dev/null || true
	got=''
	for i in $(seq 100); do
		if [ "$(ip netns exec "$CLIENT" curl -fsS -m 3 "http://$VIP2/" 2>/dev/null)" = "$new" ]; then
			got=$(ms)
			break
		fi
	done
	if [ -z "$got" ]; then
		echo "  the new replica $new never answered through the VIP"
	else
		# the load per replica once the new one takes its share
		sleep 3
		edgectl -q --json route check --all --timeout 1000 >/dev/null 2>&1 || true
		edgectl -q --json route check --all --timeout 1000 >/dev/null 2>&1 || true
		echo "  load above target (recorded by a check) -> new replica's first answer through the VIP: $((got - above)) ms"
		echo "  of which from the tick (decides and places it) to that answer: $((got - t0)) ms"
		echo "  a plain schedule of one replica: $sched_ms ms"
		awk -v a="$((got - above))" -v b="$sched_ms" 'BEGIN { if (b > 0) printf "  ratio scale-up / schedule: %.2fx\n", a / b }'
		echo "  load per replica before: $before; after: $(per_replica)"
	fi
fi
kill -INT "$WRK_PID" 2>/dev/null || true # wrk prints its summary on SIGINT
wait "$WRK_PID" || true
WRK_PID=
echo "  wrk: $(grep -E 'requests in|Non-2xx|Socket errors' "$WORK/wrk.out" | tr -s ' ' | tr '\n' ';')"
