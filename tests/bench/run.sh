#!/bin/bash
# tests/bench/run.sh - cold start of an image that is already in the local
# root (a busybox root filesystem, tests/lib/busybox.bash), in the same run
# against:
#   floor   the OCI runtime alone on a prepared bundle (`crun spec`, a
#           rootfs directory, `crun run --bundle B ID`; runc and runsc
#           likewise, for edgectl's per-runtime figures)
#   podman  Debian's podman 4.3 with the same image (copied in from the
#           root's OCI layout: `skopeo copy oci:ROOT:bb:web oci-archive:X`,
#           `podman load -i X`), with a
#           storage and configuration of its own under the scratch dir
# Two cases, each contender run BENCH_RUN_N times, interleaved:
#   true  `edgectl run --rm --network none --runtime R bb:web -- true`,
#         `crun run --bundle B ID` (the bundle's new network namespace has
#         only lo), `podman run --rm --network none IMG true`: wall time
#         of the whole command (start, exit, clean-up)
#   http  time to the first HTTP answer of `busybox httpd -f -p 80 -h /www`
#         on the container's address: `edgectl --json run -d` on edgectl's
#         default bridge network (CNI), then curl on the address it
#         prints until the page comes back; the floor is
#         `crun run --detach` in a network namespace that the timed
#         command makes itself with ip(8) (netns, veth on a bridge of ours,
#         address: what the CNI bridge plugin does, minus IPAM files);
#         podman uses a CNI network of podman's default shape (bridge
#         with ipMasq, portmap, firewall, tuning; see podman_net) on a
#         bridge and subnet of ours, with a static --ip. Removal (rm -f,
#         kill + delete) is not timed.
# edgectl's run -d claims the spare network namespace (veth on the
# bridge, address set) that the previous run's keeper made (nice 19, after
# that run's start); the benchmark waits, untimed, until the next spare is
# ready before the next sample, so making it is timed for no contender.
# The http case also prints where edgectl's time goes: the median of each
# step of `run -d` from the instance's start_trace (state.json; stamps of
# the run process and of its monitor): create (image, spec, instance
# dir), spawn (fork of the monitor), netns (with lo up), ipam+bridge (the
# lease, the CNI bridge plugin exec, address/route), running (rootfs
# mount, runtime start, seen by run's poll), publish (the record in the
# store), answer (run's exit to the first HTTP answer: curl's polling and
# httpd's start).
# Reports median and fastest wall time, peak RSS of the starting command
# (/usr/bin/time -f %M; for a script the largest of its processes), and
# ratios of medians against the goals: edgectl with crun within 1.5x of
# the crun floor, and faster than podman. A benchmark reports: it never
# fails on speed, only when something is broken (a container does not
# start, the page is wrong, an instance is left behind).
#
# This host's cgroup layout matters: on a v1/v2 hybrid whose cgroup2 mount
# has controllers, crun refuses to run ("cgroups in hybrid mode not
# supported"). edgectl then runs crun in a private mount namespace without
# /sys/fs/cgroup/unified; the crun floor does the same with
# `unshare -m` + `umount` (a few ms more than crun alone: that favours
# edgectl slightly), and podman, which cannot, runs with runc there (its
# ratio is reported against edgectl with runc as well).
# podman also gets nofile/nproc ulimits no higher than the host's: it
# raises them for root by default, which fails without CAP_SYS_RESOURCE.
#
#   tests/bench/run.sh                       (root)
#   BENCH_RUN_N=3 BENCH_RUN_RUNTIMES=crun tests/bench/run.sh     quick
#
# env: BENCH_RUN_N (samples of each contender and case; default 10),
#      BENCH_RUN_RUNTIMES (edgectl's runtimes; default "crun runc runsc",
#      those installed), BENCH_RUN_CASES (default "true http"),
#      BENCH_RUN_PODMAN (0: leave podman out; default 1),
#      BENCH_RUN_BASE (another edgectl binary, e.g. main's build, run
#      as the contender "base-crun" in the http case, interleaved: the
#      before/after of a change in one run; default none),
#      BENCH_DIR (scratch parent; default $TMPDIR or /tmp),
#      BENCH_KEEP=1 (keep the scratch dir).
# Networks: bridges ecb<pid> (edgectl), ecf<pid> (floor), ecp<pid>
# (podman) on three free /24s in 198.19.220.0-198.19.252.255; all three
# are deleted at the end, with podman's IPAM dir and, when this run made
# them, the CNI firewall plugin's iptables chains.
# Output: progress on stderr; "bench run: ..." summary lines on stdout.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EDGECTL=${EDGECTL:-$TOP/build/edgectl}
TIME=/usr/bin/time
N=${BENCH_RUN_N:-10}
RUNTIMES=${BENCH_RUN_RUNTIMES:-crun runc runsc}
CASES=${BENCH_RUN_CASES:-true http}
PODMAN=${BENCH_RUN_PODMAN:-1}
PAGE="hello from busybox"

say() { echo "run.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
case $N in '' | *[!0-9]* | 0) die "BENCH_RUN_N: not a positive number: '$N'" ;; esac
for c in $CASES; do
	case $c in true | http) ;; *) die "BENCH_RUN_CASES: unknown case '$c' (true, http)" ;; esac
done
[ "$(id -u)" = 0 ] || die "needs root (containers, network namespaces, bridges)"
[ -x "$EDGECTL" ] || die "missing $EDGECTL (make)"
BASE=${BENCH_RUN_BASE:-}
[ -z "$BASE" ] || [ -x "$BASE" ] || die "BENCH_RUN_BASE: not an executable: '$BASE'"
need=("$TIME" jq curl ip unshare crun)
[ "$PODMAN" = 1 ] && need+=(podman runc skopeo iptables)
for t in "${need[@]}" $RUNTIMES; do
	command -v "$t" >/dev/null || die "needs $t (tests/lib/deps.sh bench)"
done
# shellcheck source=tests/lib/busybox.bash disable=SC1091
. "$TOP/tests/lib/busybox.bash"

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-run.XXXXXX")
EB=ecb$$ FB=ecf$$ PB=ecp$$ # bridges: edgectl, floor, podman
NS=ecf$$                   # the floor's network namespace (one at a time)
PNET=ecbench$$             # podman's network name
touch "$dir/ids"           # "tool id" of everything started, for cleanup
# podman's CNI firewall plugin leaves its chains behind; they go at the end
# when this run made them (nothing else here uses that plugin)
fw_before=0
iptables -S CNI-FORWARD >/dev/null 2>&1 && fw_before=1
umount_below() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
	local tool id
	while read -r tool id; do
		case $tool in
		edgectl) "$EDGECTL" rm -f "$id" >/dev/null 2>&1 || true ;;
		podman) podman rm -f -t 0 "$id" >/dev/null 2>&1 || true ;;
		crun | runc | runsc) "$tool" delete -f "$id" >/dev/null 2>&1 || true ;;
		esac
	done <"$dir/ids"
	ip netns del "$NS" 2>/dev/null || true
	for b in "$EB" "$FB" "$PB"; do ip link del "$b" 2>/dev/null || true; done
	rm -rf "/var/lib/cni/networks/$PNET"
	if [ "$fw_before" = 0 ] && [ "$(iptables -S CNI-FORWARD 2>/dev/null | wc -l)" = 2 ] &&
		[ "$(iptables -S CNI-ADMIN 2>/dev/null | wc -l)" = 1 ]; then
		iptables -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD 2>/dev/null
		iptables -F CNI-FORWARD && iptables -X CNI-FORWARD && iptables -X CNI-ADMIN
	fi
	umount_below "$dir"
	if [ -n "${BENCH_KEEP:-}" ]; then
		say "kept $dir (BENCH_KEEP)"
	else
		rm -rf --one-file-system "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a private copy: the tree's build/edgectl may be rebuilt while this runs
mkdir -p "$dir/bin"
cp "$EDGECTL" "$dir/bin/edgectl"
say "edgectl: $EDGECTL, built $(date -r "$EDGECTL" '+%F %T')"
EDGECTL=$dir/bin/edgectl
if [ -n "$BASE" ]; then
	cp "$BASE" "$dir/bin/edgectl-base"
	say "base: $BASE, built $(date -r "$BASE" '+%F %T')"
	BASE=$dir/bin/edgectl-base
fi

# --- three free /24s for the bridges ---

subnets=()
for third in $(seq 220 252 | shuf); do
	[ -z "$(ip -4 route show "198.19.$third.0/24")" ] || continue
	ip -4 addr show | grep -q "inet 198\.19\.$third\." && continue
	subnets+=("$third")
	[ ${#subnets[@]} = 3 ] && break
done
[ ${#subnets[@]} = 3 ] || die "no three free /24s in 198.19.220-252"
ESUB=198.19.${subnets[0]} FSUB=198.19.${subnets[1]} PSUB=198.19.${subnets[2]}
for b in "$EB" "$FB" "$PB"; do
	[ ! -e "/sys/class/net/$b" ] || die "a link named $b exists already"
done
say "bridges: $EB $ESUB.0/24 (edgectl), $FB $FSUB.0/24 (floor), $PB $PSUB.0/24 (podman)"

# --- the image, the bundles ---

ctx=$dir/ctx
# (its static-build check is a pipeline from ldd, which exits 1 on a static
# binary: not under pipefail)
(set +o pipefail && busybox_rootfs "$ctx/rootfs") || die "busybox_rootfs failed"
mkdir -p "$ctx/rootfs/www"
echo "$PAGE" >"$ctx/rootfs/www/index.html"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n' >"$ctx/Dockerfile"

# edgectl reads nothing from the user's configuration
mkdir -p "$dir/config/edgectl" "$dir/home"
export HOME=$dir/home XDG_CONFIG_HOME=$dir/config
export EDGECTL_ROOT=$dir/root EDGECTL_STORE=file://$dir/store
printf '{"bridge": "%s", "subnet": "%s.0/24"}\n' "$EB" "$ESUB" >"$XDG_CONFIG_HOME/edgectl/config.json"
"$EDGECTL" -q build -t bb:web "$ctx" >/dev/null || die "edgectl build failed"

# one rootfs for every bundle (read-only), one bundle per case and runtime
# flavour: "true" (new netns, only lo), "http" (the floor's netns)
cp -a "$ctx/rootfs" "$dir/rootfs"
(cd "$dir" && crun spec) || die "crun spec failed"
jq --arg r "$dir/rootfs" '.process.terminal = false | .root.path = $r | .process.args = ["true"]' \
	"$dir/config.json" >"$dir/spec-true.json"
jq --arg ns "/var/run/netns/$NS" '.process.args = ["httpd", "-f", "-p", "80", "-h", "/www"] |
	.linux.namespaces |= map(if .type == "network" then .path = $ns else . end)' \
	"$dir/spec-true.json" >"$dir/spec-http.json"
for c in true http; do
	mkdir -p "$dir/bundle-$c"
	cp "$dir/spec-$c.json" "$dir/bundle-$c/config.json"
done

# crun on a hybrid cgroup host: see the head of this file
CRUN=(crun)
hybrid=0
if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && [ -r /sys/fs/cgroup/unified/cgroup.controllers ] &&
	grep -q '[a-z]' /sys/fs/cgroup/unified/cgroup.controllers; then
	hybrid=1
	# shellcheck disable=SC2016 # expanded by the inner sh
	CRUN=(unshare -m --propagation slave sh -c 'umount -l /sys/fs/cgroup/unified && exec crun "$@"' crun)
fi

# --- podman: storage and configuration of its own ---

PRT=crun
[ "$hybrid" = 1 ] && PRT=runc
if [ "$PODMAN" = 1 ]; then
	P=$dir/podman
	mkdir -p "$P/net" "$P/tmp"
	cat >"$P/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[network]
network_backend = "cni"
network_config_dir = "$P/net"
default_subnet = "$PSUB.0/24"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
runtime = "$PRT"
EOF
	cat >"$P/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$P/graph"
runroot = "$P/run"
EOF
	export CONTAINERS_CONF=$P/containers.conf CONTAINERS_STORAGE_CONF=$P/storage.conf
	# podman_net: what `podman network create` writes (4.3, CNI), on our
	# bridge (4.3 has no --interface-name)
	cat >"$P/net/$PNET.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$PNET",
  "plugins": [
    {"type": "bridge", "bridge": "$PB", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
              "ranges": [[{"subnet": "$PSUB.0/24", "gateway": "$PSUB.1"}]]},
     "capabilities": {"ips": true}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall", "backend": ""},
    {"type": "tuning"}
  ]
}
EOF
	skopeo copy -q "oci:$EDGECTL_ROOT:bb:web" "oci-archive:$dir/bb.tar:localhost/bb:web" ||
		die "skopeo copy oci:$EDGECTL_ROOT:bb:web oci-archive:... failed"
	podman load -q -i "$dir/bb.tar" >"$dir/podman-load.out" 2>&1 ||
		die "podman load failed: $(cat "$dir/podman-load.out")"
	rm -f "$dir/bb.tar"
	podman image exists localhost/bb:web || die "podman load: no localhost/bb:web: $(cat "$dir/podman-load.out")"
fi

# --- measuring ---

# A file descriptor to sleep on without a fork: read -t on a pipe nobody
# writes.
exec {nap}<> <(:)
nap() { read -r -t "$1" -u "$nap" _ || true; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000)); } # microseconds

# sample CASE NAME US KIB: one sample
sample() { echo "$3 $4" >>"$dir/$1-$2.samples"; }

# timed NAME CMD...: run CMD under /usr/bin/time; sets T0 (start, ns) and
# KIB; stdout in $dir/last.out
timed() {
	local name=$1
	shift
	T0=$(date +%s%N)
	if ! "$TIME" -f '%M' -o "$dir/last.rss" "$@" >"$dir/last.out" 2>"$dir/last.err"; then
		say "$name failed: $*"
		tail -n 20 "$dir/last.err" >&2
		exit 1
	fi
	KIB=$(tail -n 1 "$dir/last.rss")
}

# wait_page IP: poll http://IP/ until it gives the page (30 s at most)
wait_page() {
	local body deadline=$(($(date +%s) + 30))
	while :; do
		body=$(curl --noproxy '*' -fsS -m 1 "http://$1/" 2>/dev/null) && [ "$body" = "$PAGE" ] && return 0
		[ "$(date +%s)" -lt "$deadline" ] || die "no page from http://$1/ after 30 s (last answer: '$body')"
		nap 0.005
	done
}
# on_bridge IP BRIDGE: the host reaches IP through BRIDGE (not the default
# route: something else may answer there)
on_bridge() {
	ip -4 route get "$1" | grep -q " dev $2 " || die "$1 is not routed through $2: $(ip -4 route get "$1")"
}

# --- case true ---

true_floor() { # RUNTIME
	local rt=$1 id=ecbench-$$-$i us
	local cmd=("$rt" run --bundle "$dir/bundle-true" "$id")
	case $rt in
	crun) cmd=("${CRUN[@]}" run --bundle "$dir/bundle-true" "$id") ;;
	runsc) cmd=(runsc --network=none run --bundle "$dir/bundle-true" "$id") ;;
	esac
	timed "floor $rt" "${cmd[@]}"
	us=$(ms_since "$T0")
	sample true "floor-$rt" "$us" "$KIB"
}
true_edgectl() { # RUNTIME
	local us
	timed "edgectl ($1)" "$EDGECTL" run --rm --network none --runtime "$1" bb:web -- true
	us=$(ms_since "$T0")
	sample true "edgectl-$1" "$us" "$KIB"
}
true_podman() {
	local us
	timed podman podman run --rm --network none localhost/bb:web true
	us=$(ms_since "$T0")
	sample true podman "$us" "$KIB"
}

# --- case http ---

# The floor's start: netns + veth on $FB + address, then crun run -d.
# shellcheck disable=SC2016 # expanded by the inner bash
FLOOR_HTTP=(bash -c 'set -e
	printf "netns add %s\nlink add %s type veth peer name eth0 netns %s\nlink set %s master %s up\n" \
		"$1" "$1v" "$1" "$1v" "$2" | ip -b -
	printf "addr add %s/24 dev eth0\nlink set eth0 up\nlink set lo up\n" "$3" | ip -n "$1" -b -
	shift 3
	exec "$@" </dev/null >/dev/null 2>&1' floor-http)

http_floor() {
	local id=ecbench-$$-h$i addr=$FSUB.2 us
	echo "crun $id" >>"$dir/ids"
	timed "floor http" "${FLOOR_HTTP[@]}" "$NS" "$FB" "$addr" "${CRUN[@]}" run --detach --bundle "$dir/bundle-http" "$id"
	wait_page "$addr"
	us=$(ms_since "$T0")
	on_bridge "$addr" "$FB"
	sample http floor-crun "$us" "$KIB"
	"${CRUN[@]}" kill "$id" KILL 2>/dev/null || true
	"${CRUN[@]}" delete -f "$id" >/dev/null 2>&1 || die "crun delete $id failed"
	ip netns del "$NS"
}
http_edgectl() { # RUNTIME [BINARY NAME]
	local id addr us bin=${2:-$EDGECTL} name=${3:-edgectl-$1}
	timed "edgectl run -d ($1)" "$bin" --json run -d --runtime "$1" bb:web
	# the id and address from run's JSON with bash alone: two jq
	# processes here were timed as edgectl's (the floor knows its
	# address); --json prints them as plain strings
	local out
	out=$(<"$dir/last.out")
	[[ $out =~ \"id\":\ *\"([0-9a-f]+)\" ]] || die "edgectl run -d: no id in: $out"
	id=${BASH_REMATCH[1]}
	echo "edgectl $id" >>"$dir/ids"
	[[ $out =~ \"ip\":\ *\"([0-9.]+)\" ]] && addr=${BASH_REMATCH[1]} || addr=
	case $addr in "$ESUB".*) ;; *) die "edgectl run -d: address '$addr' not in $ESUB.0/24: $(cat "$dir/last.out")" ;; esac
	wait_page "$addr"
	us=$(ms_since "$T0")
	on_bridge "$addr" "$EB"
	sample http "$name" "$us" "$KIB"
	steps "$name" "$id" "$us"
	"$bin" rm -f "$id" >/dev/null || die "edgectl rm -f $id failed"
	spare_wait
}
# spare_wait: until the spare network namespace that run -d's keeper makes
# for the next start (nice 19) is ready, untimed, so its making (a CNI
# bridge ADD) lands on no timed sample, neither edgectl's nor a peer's:
# what a host that starts instances now and then has ready (30 s at most)
spare_wait() {
	local deadline=$(($(date +%s) + 30)) f
	while :; do
		for f in "$EDGECTL_ROOT"/cni/spares/*.json; do
			[ -e "$f" ] && return 0
		done
		[ "$(date +%s)" -lt "$deadline" ] || {
			say "no spare network namespace ready after 30 s"
			return 0
		}
		nap 0.02
	done
}
http_base() { http_edgectl crun "$BASE" base-crun; }
# steps NAME ID US: the step durations (ms) of the instance's start_trace,
# one line per sample in $dir/http-NAME.steps (none from a binary that
# does not record them)
steps() {
	jq -r --argjson t0 "$(awk -v t="$T0" 'BEGIN { printf "%.3f", t / 1e6 }')" --argjson us "$3" '
		.start_trace // empty | . as $t |
		[$t.created - $t.run, $t.monitor_spawned - $t.created,
		 $t.netns - $t.monitor, $t.net - $t.netns,
		 ($t.cni_bridge_ADD_ms // 0), ($t.seen_running - $t.net),
		 $t.published - $t.seen_running, ($t0 + $us / 1000) - $t.published,
		 $t.run - $t0, (if $t.spare then 1 else 0 end)] | map(. * 10 | round / 10) | @tsv' \
		"$EDGECTL_ROOT/instances/$2/state.json" >>"$dir/http-$1.steps" || true
}
http_podman() {
	local id addr=$PSUB.$((10 + i % 200)) us
	timed "podman run -d" podman run -d --network "$PNET" --ip "$addr" localhost/bb:web
	id=$(cat "$dir/last.out")
	echo "podman $id" >>"$dir/ids"
	wait_page "$addr"
	us=$(ms_since "$T0")
	on_bridge "$addr" "$PB"
	sample http podman "$us" "$KIB"
	podman rm -f -t 0 "$id" >/dev/null || die "podman rm -f $id failed"
}

# the bridges exist before anything is timed (edgectl makes its own on
# first use: the warm-up's)
ip link add "$FB" type bridge
ip addr add "$FSUB.1/24" dev "$FB"
ip link set "$FB" up

contenders() { # CASE: the names, in the order they run
	local rt
	case $1 in
	true)
		for rt in $RUNTIMES; do echo "floor-$rt"; done
		for rt in $RUNTIMES; do echo "edgectl-$rt"; done
		;;
	http)
		echo floor-crun
		for rt in $RUNTIMES; do echo "edgectl-$rt"; done
		[ -n "$BASE" ] && echo base-crun
		;;
	esac
	[ "$PODMAN" = 1 ] && echo podman
	return 0
}
one() { # CASE NAME
	case $2 in
	floor-*) "$1_floor" "${2#floor-}" ;;
	edgectl-*) "$1_edgectl" "${2#edgectl-}" ;;
	base-crun) "$1_base" ;;
	podman) "$1_podman" ;;
	esac
}

for c in $CASES; do
	say "case $c: warm-up (untimed)"
	i=0
	for name in $(contenders "$c"); do one "$c" "$name"; done
	rm -f "$dir/$c"-*.samples "$dir/$c"-*.steps
	say "case $c: $N samples of each of $(contenders "$c" | tr '\n' ' ')"
	for i in $(seq 1 "$N"); do
		for name in $(contenders "$c"); do one "$c" "$name"; done
	done
done

# nothing of edgectl's is left: no instance, no mount under its root
left=$("$EDGECTL" --json ps -a | jq length)
[ "$left" = 0 ] || die "edgectl ps -a lists $left instances after the run"
grep -q " $EDGECTL_ROOT/" /proc/self/mountinfo && die "mounts left under $EDGECTL_ROOT"

# --- summary ---

# stats CASE NAME -> "median_ms min_ms max_kib samples"
stats() {
	sort -n "$dir/$1-$2.samples" | awk '{ t[NR] = $1; if ($2 > k) k = $2 }
		END { m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
		      printf "%.1f %.1f %d %d\n", m / 1000, t[1] / 1000, k, NR }'
}
desc() { # NAME
	case $1 in
	floor-crun) echo "crun $(crun --version | sed -n '1s/.* //p') run of a prepared bundle$([ "$hybrid" = 1 ] && echo ", via unshare+umount")" ;;
	floor-runc) echo "runc $(runc --version | sed -n '1s/.* //p') run of a prepared bundle" ;;
	floor-runsc) echo "runsc --network=none run of a prepared bundle" ;;
	edgectl-*) echo "edgectl run, runtime ${1#edgectl-}" ;;
	base-crun) echo "BENCH_RUN_BASE's edgectl run, runtime crun" ;;
	podman) echo "podman $(podman --version | sed 's/.* //'), runtime $PRT" ;;
	esac
}
echo "bench run: $(nproc) CPUs, $N samples each, median (fastest); busybox image, already in the local root"
for c in $CASES; do
	what="cold start, run --rm ... true, network none"
	[ "$c" = http ] && what="time to the first HTTP answer of busybox httpd, bridge network (podman: a CNI network of podman's default shape)"
	echo "bench run: $c: $what"
	for name in $(contenders "$c"); do
		read -r med min kib _ < <(stats "$c" "$name")
		[ "$c" = http ] && [ "$name" = floor-crun ] && d="ip(8) netns+veth+address, then crun run -d$([ "$hybrid" = 1 ] && echo " via unshare+umount")" || d=$(desc "$name")
		printf 'bench run: %-5s %-14s %8.1f ms (%7.1f)  peak RSS %6.1f MiB  (%s)\n' "$c" "$name" "$med" "$min" \
			"$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')" "$d"
	done
done
# the steps of run -d: the median of each column
med_col() { # FILE COLUMN
	cut -f "$2" "$1" | sort -n | awk '{ v[NR] = $1 }
		END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for f in "$dir"/http-*.steps; do
	[ -s "$f" ] || continue
	name=${f##*/http-}
	name=${name%.steps}
	line="start $(med_col "$f" 9)"
	c=1
	for h in create spawn netns ipam+bridge "(bridge-exec)" running publish answer; do
		line="$line, $h $(med_col "$f" $c)"
		c=$((c + 1))
	done
	echo "bench run: http  $name steps of run -d (median ms): $line; a spare namespace in $(awk -F'\t' '$10 == 1' "$f" | wc -l) of $(wc -l <"$f")"
done
# ratio CASE A B GOAL OP: median of A / median of B against the goal
# (GOAL "-": no goal, the two use different runtimes; "=": no goal, a
# before/after of BENCH_RUN_BASE)
ratio() {
	local ma mb
	[ -f "$dir/$1-$2.samples" ] && [ -f "$dir/$1-$3.samples" ] || return 0
	read -r ma _ <<<"$(stats "$1" "$2")"
	read -r mb _ <<<"$(stats "$1" "$3")"
	awk -v c="$1" -v a="$2" -v b="$3" -v ma="$ma" -v mb="$mb" -v g="$4" -v op="$5" 'BEGIN {
		r = (mb > 0 ? ma / mb : 0)
		if (g == "-" || g == "=") {
			printf "bench run: %-5s %-14s / %-12s time %5.2f  (%s)\n", c, a, b, r,
				(g == "-" ? "not the same runtime" : "no goal: before/after")
			exit
		}
		ok = (op == "<" ? r < g : r <= g)
		printf "bench run: %-5s %-14s / %-12s time %5.2f  (goal: %s %.2f, %s)\n",
			c, a, b, r, op, g, (ok ? "met" : "NOT met") }'
}
for c in $CASES; do
	for rt in $RUNTIMES; do
		if [ "$c" = true ]; then
			ratio "$c" "edgectl-$rt" "floor-$rt" 1.5 "<="
		elif [ "$rt" = crun ]; then
			ratio "$c" "edgectl-$rt" floor-crun 1.5 "<="
			[ -n "$BASE" ] && ratio "$c" base-crun floor-crun = "<"
			[ -n "$BASE" ] && ratio "$c" edgectl-crun base-crun = "<"
		fi
	done
	# podman runs $PRT: the goal is for edgectl's default (crun) and for
	# the same runtime as podman's
	for rt in $RUNTIMES; do
		if [ "$rt" = crun ] || [ "$rt" = "$PRT" ]; then
			ratio "$c" "edgectl-$rt" podman 1 "<"
		else
			ratio "$c" "edgectl-$rt" podman - "<"
		fi
	done
done
