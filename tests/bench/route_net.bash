#!/bin/bash
# route_net.bash - the XDP router's HTTP throughput through the namespace
# fleet, against Linux IPVS over the same backends in the same run. Run by
# tests/bench/route.sh (BENCH_NET=0 skips it); named .bash so that
# run-all.sh does not run it a second time on its own.
#
# Topology (as tests/cli/600-route.bats, tests/lib/fleet.bash):
#   client ns FLEET_NET.100 ── switch ── h1 (director) ── a1 (container)
#                                    └── h2 ── b1, b2 (containers)
#   the client routes the VIP via h1; containers own the VIP on their
#   loopback and answer the client directly (DSR); busybox httpd, 1 page.
#   xdp:  edgectl route attach on h1 and h2 (h1: local redirect to a1, IPIP
#         to h2 for b1/b2; h2: decap), pass programs on the switch side.
#   ipvs: routers detached; IPVS on h1 with the same VIP:80, rr, a1 by
#         direct routing (-g), b1/b2 by IPIP tunnel (-i) to their IPs
#         (routed via h2; each container brings tunl0 up).
#   nat:  only with BENCH_NET_NAT=1, a reference that is not IPVS: routers
#         detached, netfilter on h1 spreads new connections over the same
#         backends (DNAT, nth 1 of 3) and masquerades those to h2, so
#         their replies return through h1 (full NAT, not DSR).
# Each side: BENCH_NET_RUNS (2) runs, interleaved (xdp, ipvs, nat, xdp, ...), of wrk -t BENCH_NET_THREADS (2)
# -c BENCH_NET_CONNS (32) -d BENCH_NET_SECS (10) from the client, --latency.
# Prints one line per run and a summary table: requests/s (best run),
# latency percentiles of that run, ratio xdp/ipvs.
#
# IPVS needs CONFIG_IP_VS (built in or a loadable module); without it the
# IPVS side is reported as unavailable with the reason and only the XDP side
# is measured. Needs root, wrk, ipvsadm (tests/lib/deps.sh bench) and what
# the fleet needs. Everything made here is recorded and removed on exit,
# also on failure or interrupt (SIGKILL: the fleet's watchdog removes the
# namespaces, but containers and pins would stay).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
O=${O:-build}
export EDGECTL=$TOP/$O/edgectl
export PATH="$TOP/$O:$PATH"
# shellcheck source=tests/lib/fleet.bash
. tests/lib/fleet.bash
# shellcheck source=tests/lib/busybox.bash
. tests/lib/busybox.bash

runs=${BENCH_NET_RUNS:-2}
secs=${BENCH_NET_SECS:-10}
threads=${BENCH_NET_THREADS:-2}
conns=${BENCH_NET_CONNS:-32}
nat=${BENCH_NET_NAT:-0}
VIP=198.19.250.1
SUB2=198.19.102 # h2's container subnet (host add --subnet below)

log() { echo "route_net: $*" >&2; }
die() {
	log "$*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, XDP)"
command -v wrk >/dev/null || die "'wrk' not found (install: tests/lib/deps.sh bench)"
[ -x "$EDGECTL" ] || die "'$EDGECTL' not built (make)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecroute-net.XXXXXX")
IDS=$WORK/instances # "HOST ID" lines, written before anything else uses them
: >"$IDS"
export XDG_CONFIG_HOME=$WORK/cfg EDGECTL_STORE=file://$WORK/store EDGECTL_ROOT=$WORK/root
CLIENT='' PIN1='' PIN2='' WRK_PID=''

cleanup() {
	local rc=$? h id
	trap - EXIT INT TERM
	set +e
	if [ -n "$WRK_PID" ]; then
		kill "$WRK_PID" 2>/dev/null
		wait "$WRK_PID" 2>/dev/null
	fi
	# containers first (their namespaces are not the fleet's)
	while read -r h id; do
		fleet_exec "$h" "$EDGECTL" --root "$(fleet_root "$h")" rm -f "$id" >/dev/null 2>&1 ||
			log "cleanup: could not remove instance '$id' on $h"
	done <"$IDS"
	# IPVS rules live in h1's namespace and go with it; the client
	# namespace is in the fleet's records (fleet-down deletes it)
	[ -n "$CLIENT" ] && [ -e "/run/netns/$CLIENT" ] && ip netns del "$CLIENT"
	[ -n "${FLEET_DIR:-}" ] && fleet_down "$FLEET_DIR"
	# the routers' pins (programs and XDP attachments went with the namespaces)
	[ -n "$PIN1" ] && rm -rf "$PIN1"
	[ -n "$PIN2" ] && rm -rf "$PIN2"
	rm -rf --one-file-system "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the fleet, the client, the image ---------------------------------------
t0=$(_fleet_ms)
rc=0
fleet_up 2 || rc=$?
[ "$rc" = 77 ] && die "the fleet cannot start: $FLEET_MISSING"
[ "$rc" = 0 ] || die "fleet_up failed"
CLIENT=$FLEET_PREFIX-cl
PIN1=/sys/fs/bpf/edgectl-$FLEET_PREFIX-h1
PIN2=/sys/fs/bpf/edgectl-$FLEET_PREFIX-h2
for d in "$PIN1" "$PIN2"; do
	[ ! -e "$d" ] || die "pin dir '$d' already exists (left by an interrupted run? rm -rf it)"
done
H1=$(fleet_addr h1)
H2=$(fleet_addr h2)

# the client: recorded with the fleet's namespaces first, so the fleet's
# watchdog removes it too
echo "$CLIENT" >>"$FLEET_DIR/netns"
sw=$FLEET_PREFIX-sw
ip netns add "$CLIENT"
ip -n "$sw" link add cl type veth peer name eth0 netns "$CLIENT"
ip -n "$sw" link set cl master br0 up
ip -n "$CLIENT" link set lo up
ip -n "$CLIENT" addr add "$FLEET_NET.100/24" dev eth0
ip -n "$CLIENT" link set eth0 up
ip -n "$CLIENT" route add "$VIP/32" via "$H1"
# local senders over veth: full checksums (xdp-notes)
ip netns exec "$CLIENT" ethtool -K eth0 tx off >/dev/null
# one connection per request (busybox httpd closes): many client ports
ip netns exec "$CLIENT" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1

mkdir -p "$WORK/ctx"
fleet_edgectl_config "$XDG_CONFIG_HOME"
# (its static-binary check is a pipeline that fails under pipefail)
(set +o pipefail; busybox_rootfs "$WORK/ctx/rootfs")
mkdir -p "$WORK/ctx/rootfs/www"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n' >"$WORK/ctx/Dockerfile"
edgectl -q build -t bb:web "$WORK/ctx" >/dev/null
edgectl -q push bb:web >/dev/null

edgectl location add edge1 --lat 52.52 --lon 13.40 --utc-offset +01:00 >/dev/null
i=0
for h in $FLEET_HOSTS; do
	i=$((i + 1))
	edgectl -q host add "$h" --location edge1 --ssh "$h" --host-root "$(fleet_root "$h")" \
		--edgectl "$EDGECTL" --subnet "198.19.$((100 + i)).0/24"
	fleet_exec "$h" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0
	fleet_exec "$h" ethtool -K eth0 tx off >/dev/null
done
ethtool -K "$FLEET_LINK" tx off >/dev/null

# start NAME HOST: a web container of app "web" serving the VIP
start_web() {
	local id
	id=$(edgectl run --host "$2" -d --name "$1" --app web --vip "$VIP" bb:web -- \
		sh -c "echo $1 >/www/index.html; exec httpd -f -p 80 -h /www")
	[ -n "$id" ] || die "run $1 on $2: no id"
	echo "$2 $id" >>"$IDS"
	nsenter --net="/run/netns/ec-$id" ethtool -K eth0 tx off >/dev/null
	# for the IPVS tunnel side: decapsulate IPIP to the container's address
	# (tunl0 exists only with IPIP in the kernel; the XDP side needs none)
	nsenter --net="/run/netns/ec-$id" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 2>/dev/null || true
}
start_web a1 h1
start_web b1 h2
start_web b2 h2
edgectl -q route add "$VIP" --app web
BACKENDS=$(edgectl --json route show "$VIP" | jq -r '.backends[] | "\(.host) \(.ip)"')
[ "$(wc -l <<<"$BACKENDS")" = 3 ] || die "route show: expected 3 backends, got: $BACKENDS"
log "fleet, client, 3 backends up in $(($(_fleet_ms) - t0)) ms"

# --- measuring ----------------------------------------------------------------

# hit N: N requests, one connection each; fails unless all are answered
hit() {
	local i out
	for i in $(seq "$1"); do
		out=$(ip netns exec "$CLIENT" curl -fsS -m 2 "http://$VIP/" 2>&1) ||
			{ log "request $i to $VIP failed: $out"; return 1; }
		echo "$out"
	done
}

# cpu: the machine's CPU counters (all CPUs): "busy softirq total" jiffies
cpu() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i
	print t - $5 - $6, $8, t }' /proc/stat; }

# wrk_run SIDE RUN: one wrk run; appends "SIDE RUN rps p50 p75 p90 p99
# errors busy% softirq%" (latencies in ms; CPU of the whole machine during
# the run) to WORK/results and prints the line
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}
wrk_run() {
	local side=$1 run=$2 out rps p50 p75 p90 p99 errs c0 c1 load
	c0=$(cpu)
	# in the background: a signal is handled at once (wait returns), and
	# cleanup stops it by its PID
	ip netns exec "$CLIENT" timeout $((secs + 30)) \
		wrk -t "$threads" -c "$conns" -d "${secs}s" --latency "http://$VIP/" \
		>"$WORK/wrk-$side-$run.txt" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID" || die "wrk ($side, run $run) failed: $(cat "$WORK/wrk-$side-$run.txt")"
	WRK_PID=''
	c1=$(cpu)
	out=$(cat "$WORK/wrk-$side-$run.txt")
	load=$(awk -v a="$c0" -v b="$c1" 'BEGIN { split(a, x); split(b, y); t = y[3] - x[3]
		printf "%.0f %.0f", 100 * (y[1] - x[1]) / t, 100 * (y[2] - x[2]) / t }')
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
	p75=$(to_ms "$(awk '$1 == "75%" { print $2 }' <<<"$out")")
	p90=$(to_ms "$(awk '$1 == "90%" { print $2 }' <<<"$out")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
	# socket errors and non-2xx answers
	errs=$(awk '/Socket errors:/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 }
		/Non-2xx/ { s += $NF } END { print s + 0 }' <<<"$out")
	[ -n "$rps" ] || die "wrk ($side, run $run): no Requests/sec in: $out"
	echo "$side $run $rps $p50 $p75 $p90 $p99 $errs $load" | tee -a "$WORK/results" >&2
}

: >"$WORK/results"

# Each side is switched on, measured once, and switched off, round after
# round (xdp, ipvs, nat, xdp, ...), so that drift on a shared machine hits
# every side alike. The pass programs on the switch side of h1 and h2 stay
# for all sides.
nsenter --net="/run/netns/$sw" "$EDGECTL" route attach --dev h1 --pass --pin-dir "$PIN1" >/dev/null
nsenter --net="/run/netns/$sw" "$EDGECTL" route attach --dev h2 --pass --pin-dir "$PIN2" >/dev/null
# h1 reaches h2's containers via h2 (IPVS tunnel mode, netfilter NAT)
fleet_exec h1 ip route replace "$SUB2.0/24" via "$H2"

# check_side SIDE: 12 requests succeed and reach every backend
check_side() {
	local out
	out=$(hit 12) || die "$1: requests to the VIP fail"
	[ "$(sort -u <<<"$out" | wc -l)" = 3 ] ||
		die "$1: not all 3 backends answered: $(sort <<<"$out" | uniq -c | tr '\n' ' ')"
}

xdp_on() {
	fleet_exec h1 "$EDGECTL" route attach --dev eth0 --host h1 --pin-dir "$PIN1" >/dev/null
	fleet_exec h2 "$EDGECTL" route attach --dev eth0 --host h2 --pin-dir "$PIN2" >/dev/null
	edgectl --json route sync --all | jq -e 'all(.[]; .ok and .result.vips[0].backends == 3)' >/dev/null ||
		die "route sync did not put 3 backends on both routers"
}
xdp_off() {
	log "xdp counters on h1: $(fleet_exec h1 "$EDGECTL" --json route stats --pin-dir "$PIN1" |
		jq -r '.[] | select(.id == 1) | .counters | to_entries |
			map("\(.key)=\(.value.packets)") | join(" ")')"
	fleet_exec h1 "$EDGECTL" route detach --dev eth0 --pin-dir "$PIN1" >/dev/null
	fleet_exec h2 "$EDGECTL" route detach --dev eth0 --pin-dir "$PIN2" >/dev/null
}

# IPVS on h1 (the director): rr over a1 by direct routing (on h1's
# container bridge) and b1, b2 by IPIP tunnel to their own addresses
ipvs_why=
if ! command -v ipvsadm >/dev/null; then
	ipvs_why="'ipvsadm' not found (install: tests/lib/deps.sh bench)"
elif ! e=$(fleet_exec h1 ipvsadm -Ln 2>&1); then
	ipvs_why="ipvsadm -Ln in the director namespace: $(head -n 1 <<<"$e")"
	if [ -r /proc/config.gz ]; then
		ipvs_why+="; kernel $(uname -r): $(zcat /proc/config.gz |
			grep -E '^(# )?CONFIG_(IP_VS|MODULES)[ =]' | tr '\n' ';' | sed 's/;$//; s/;/, /g')"
	fi
elif ! fleet_exec h1 ip link show tunl0 >/dev/null 2>&1; then
	ipvs_why="no IPIP in this kernel (no tunl0): IPVS tunnel mode to h2's backends cannot be decapsulated"
fi
[ -z "$ipvs_why" ] || log "IPVS side skipped: $ipvs_why"
if [ -z "$ipvs_why" ]; then
	# the real servers accept IPIP to their own address
	while read -r h id; do
		nsenter --net="/run/netns/ec-$id" sh -c 'ip link set tunl0 up &&
			sysctl -qw net.ipv4.conf.tunl0.rp_filter=0'
	done <"$IDS"
fi
ipvs_on() {
	local h ip
	fleet_exec h1 ipvsadm -A -t "$VIP:80" -s rr
	while read -r h ip; do
		if [ "$h" = h1 ]; then
			fleet_exec h1 ipvsadm -a -t "$VIP:80" -r "$ip:80" -g
		else
			fleet_exec h1 ipvsadm -a -t "$VIP:80" -r "$ip:80" -i
		fi
	done <<<"$BACKENDS"
	# the director accepts the VIP (IPVS works in LOCAL_IN)
	fleet_exec h1 ip addr add "$VIP/32" dev lo
}
ipvs_off() {
	log "ipvs: $(fleet_exec h1 ipvsadm -Ln --stats | tail -n +4 | tr -s ' ' | tr '\n' ';')"
	fleet_exec h1 ipvsadm -C
	fleet_exec h1 ip addr del "$VIP/32" dev lo
}

# the netfilter reference (opt-in) on h1: new connections 1 of 3 to each
# backend; masquerade towards h2 so that replies return through h1
nat_on() {
	local h ip n=3
	while read -r h ip; do
		if [ "$n" -gt 1 ]; then
			fleet_exec h1 iptables -t nat -A PREROUTING -d "$VIP/32" -p tcp --dport 80 \
				-m statistic --mode nth --every "$n" --packet 0 -j DNAT --to-destination "$ip:80"
		else
			fleet_exec h1 iptables -t nat -A PREROUTING -d "$VIP/32" -p tcp --dport 80 \
				-j DNAT --to-destination "$ip:80"
		fi
		n=$((n - 1))
	done <<<"$BACKENDS"
	fleet_exec h1 iptables -t nat -A POSTROUTING -d "$SUB2.0/24" -o eth0 -j MASQUERADE
}
nat_off() {
	fleet_exec h1 iptables -t nat -F
}

sides=xdp
[ -z "$ipvs_why" ] && sides+=" ipvs"
[ "$nat" = 1 ] && sides+=" nat"
for r in $(seq "$runs"); do
	for side in $sides; do
		"${side}_on"
		check_side "$side"
		wrk_run "$side" "$r"
		"${side}_off"
	done
done

# --- summary (stdout) ---------------------------------------------------------
best() { awk -v s="$1" '$1 == s && $3 + 0 > b { b = $3 + 0; l = $0 } END { print l }' "$WORK/results"; }
echo "route through namespaces: wrk -t$threads -c$conns -d${secs}s, $runs runs per side, 3 backends (1 local, 2 by IPIP), busybox httpd"
printf '%-6s %12s %9s %9s %9s %9s %7s %6s %8s   %s\n' side 'req/s best' 'p50 ms' 'p75 ms' 'p90 ms' 'p99 ms' errors 'cpu %' 'softirq%' 'req/s of each run'
shown="xdp ipvs"
[ "$nat" = 1 ] && shown+=" nat"
for side in $shown; do
	l=$(best "$side")
	if [ -z "$l" ]; then
		printf '%-6s %12s   %s\n' "$side" - "not measured: $ipvs_why"
		continue
	fi
	read -r _ _ rps p50 p75 p90 p99 errs busy sirq <<<"$l"
	printf '%-6s %12.0f %9s %9s %9s %9s %7s %6s %8s   %s\n' "$side" "$rps" "$p50" "$p75" "$p90" "$p99" "$errs" "$busy" "$sirq" \
		"$(awk -v s="$side" '$1 == s { printf "%s%.0f", (n++ ? " " : ""), $3 }' "$WORK/results")"
done
x=$(best xdp | awk '{ print $3 }')
v=$(best ipvs | awk '{ print $3 }')
if [ -n "$x" ] && [ -n "$v" ]; then
	awk -v x="$x" -v v="$v" 'BEGIN { printf "ratio xdp/ipvs %.2f (goal >= 1.00)\n", x / v }'
else
	echo "ratio xdp/ipvs: n/a (IPVS not measured)"
fi
v=$(best nat | awk '{ print $3 }')
if [ -n "$x" ] && [ -n "$v" ]; then
	awk -v x="$x" -v v="$v" 'BEGIN { printf "ratio xdp/nat %.2f (nat: netfilter DNAT + masquerade on h1, a reference, not IPVS)\n", x / v }'
fi
