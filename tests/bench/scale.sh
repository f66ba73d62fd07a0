#!/bin/bash
# tests/bench/scale.sh - one scheduling decision on a fleet of Cloudflare's
# size, with location summaries against the full read of every host object
# (issue 13). Same run, same store, same fleet:
#
#   fleet     330 locations x 30 hosts (tests/lib/mkfleet.sh: real places
#             and time zones from tzdata's zone1970.tab, GPUs on a tenth
#             of the hosts, each location's summary.json), in a real Ceph
#             RGW (tests/lib/start-rgw.sh) on loopback
#   new       this tree's edgectl: `schedule --dry-run --near 48.8,2.3`
#             reads the summaries (one LIST, GETs in parallel) and the
#             hosts of the candidate locations only
#   base      the full read as before: edgectl built from git `main`
#             (BENCH_SCALE_BASE=PATH: use that binary instead; "none":
#             skip), the same command
#
#   reads     the fleet-wide read every whole-fleet command shares
#             (host ls, ps --all-hosts, route sync --all, prewarm --all,
#             schedule --tick: fleet_hosts -> src/fleet/listing.c): `host
#             ls` with this tree's binary (one LIST, GETs -j at a time over
#             reused connections) against main's (one GET after another)
#   wan       the same calls through tests/bench/delayproxy.c, a TCP proxy
#             holding every request BENCH_SCALE_DELAY_MS (30) before it
#             reaches RGW (and a new connection's first one twice that): what
#             a user that far from R2/S3 sees. No netem in this kernel.
#   commit    BENCH_SCALE_COMMITS (1,000) placements committed by
#             BENCH_SCALE_SCHEDULERS (8) concurrent `schedule --no-start`
#             calls (apps of 10 replicas near one of four cities, the
#             schedulers at work at the same moment near the same one), on
#             a fresh 330 x 30 fleet with summaries for each binary (new,
#             then main): wall time, placements/s, compare-and-swap
#             conflicts (412s, host objects and summaries apart, from
#             RGW's log), and an audit of the store (every placement once,
#             no host over capacity, app records = allocations).
#
# For each: wall time (best and median of BENCH_RUNS calls), requests per
# call and bytes the server sent per call, both counted from RGW's own
# access log (beast lines at debug_rgw 1: method, key, status, bytes), and
# the share of the fleet's objects read. Goals (issue 13): <= 0.5 s on
# loopback and <= 2% of the fleet's objects per call. Also the time to
# write the fleet and to rebuild every summary (`location refresh --all`).
#
# A benchmark reports: it fails only when something is broken (the server
# did not start, a call failed, the two binaries placed differently).
#
# env: BENCH_SCALE_LOCS (330), BENCH_SCALE_HOSTS (30), BENCH_RUNS (5),
#      BENCH_SCALE_DELAY_MS (30; 0 = no wan part), BENCH_SCALE_JOBS (16),
#      BENCH_SCALE_COMMITS (1000), BENCH_SCALE_SCHEDULERS (8),
#      BENCH_SCALE_PARTS ("decide reads wan commit"),
#      BENCH_SCALE_BASE, BENCH_DIR (scratch parent; $TMPDIR or /tmp).
# Output: progress on stderr; "bench scale: ..." lines on stdout.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
O=${O:-build}
EDGECTL=${EDGECTL:-$TOP/$O/edgectl}
LOCS=${BENCH_SCALE_LOCS:-330}
HOSTS=${BENCH_SCALE_HOSTS:-30}
RUNS=${BENCH_RUNS:-5}
NEAR=48.8,2.3
DELAY=${BENCH_SCALE_DELAY_MS:-30}
JOBS=${BENCH_SCALE_JOBS:-16}
COMMITS=${BENCH_SCALE_COMMITS:-1000}
SCHEDULERS=${BENCH_SCALE_SCHEDULERS:-8}
PARTS=${BENCH_SCALE_PARTS:-decide reads wan commit}

say() { echo "scale.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
posint() { case $2 in '' | *[!0-9]* | 0*) die "$1: not a positive number: '$2'" ;; esac }
posint BENCH_SCALE_LOCS "$LOCS"
posint BENCH_SCALE_HOSTS "$HOSTS"
posint BENCH_RUNS "$RUNS"
command -v jq >/dev/null || die "needs jq (tests/lib/deps.sh)"

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-scale.XXXXXX")
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"
rgw=
proxy_pid=
cleanup() {
	if [ -n "$proxy_pid" ]; then
		kill "$proxy_pid" 2>/dev/null || true
		wait "$proxy_pid" 2>/dev/null || true
	fi
	if [ -n "$rgw" ] && [ -f "$rgw/pids" ]; then
		"$TOP/tests/lib/stop-rgw.sh" "$rgw" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# the baseline: edgectl from git main, built in the scratch dir
base_binary() {
	case ${BENCH_SCALE_BASE:-} in
	none) return 1 ;;
	'') ;;
	*)
		[ -x "$BENCH_SCALE_BASE" ] || die "BENCH_SCALE_BASE: not an executable: $BENCH_SCALE_BASE"
		cp "$BENCH_SCALE_BASE" "$dir/bin/base"
		return 0
		;;
	esac
	say "building the baseline (git main) in $dir/base"
	mkdir -p "$dir/base"
	git archive main | tar -x -C "$dir/base"
	nice make -s -C "$dir/base" -j2 build/edgectl >"$dir/base.log" 2>&1 ||
		{ tail -20 "$dir/base.log" >&2; die "building main failed"; }
	cp "$dir/base/build/edgectl" "$dir/bin/base"
	rm -rf "$dir/base"
}

start_rgw() {
	bench_rgw_start "${BENCH_MEMSTORE_BYTES:-2147483648}"
	bench_rgw_creds
}

# The RGW access log (beast lines): its size now, and the requests and
# bytes sent after offset $1 (GET/HEAD/PUT/... lines of our bucket).
rgw_log() { cat "$rgw"/log/client.rgw.log 2>/dev/null; }
log_mark() { rgw_log | wc -c; }
log_count() {
	rgw_log | tail -c +"$(($1 + 1))" |
		awk '/beast: .*"(GET|HEAD|PUT|POST|DELETE) / {
			n++
			for (i = 1; i <= NF; i++) if ($i ~ /^[0-9][0-9][0-9]$/ && $(i - 1) ~ /HTTP\/1/) { b += $(i + 1); break }
			if ($0 ~ /"GET [^ ]*\?[^ ]*list-type|"GET [^ ]*\?(prefix|delimiter)/) l++
		} END { printf "%d %d %d\n", n, b, l }'
}

# one BIN LABEL [STORE [RUNS [CMD...]]]: RUNS calls of CMD (default: the
# schedule --dry-run); prints "LABEL best_ms median_ms requests bytes lists"
decide=(schedule --dry-run --image app:1 --name bench --near "$NEAR" --cpus 1 --memory 256M)
one() {
	local bin=$1 label=$2 st=${3:-$store} runs=${4:-$RUNS} i t0 mark times=() req bytes lists
	shift $(($# < 4 ? $# : 4))
	[ $# -gt 0 ] || set -- "${decide[@]}"
	for i in $(seq 1 "$runs"); do
		mark=$(log_mark)
		t0=$(date +%s%N)
		"$bin" --store "$st" --json "$@" >"$dir/$label.json" 2>"$dir/$label.err" ||
			{ cat "$dir/$label.err" >&2; die "$label: $1 failed"; }
		times+=("$(ms "$t0")")
		sleep 0.3 # the log is written asynchronously
		read -r req bytes lists < <(log_count "$mark")
	done
	printf '%s\n' "${times[@]}" | sort -n >"$dir/$label.times"
	echo "$label $(head -1 "$dir/$label.times") $(sed -n "$(((runs + 1) / 2))p" "$dir/$label.times") $req $bytes $lists"
}

mkdir -p "$dir/bin" "$dir/home"
make -s "O=$O" "$O/edgectl" >&2
cp "$EDGECTL" "$dir/bin/new"
have_base=1
base_binary || have_base=0
export HOME=$dir/home EDGECTL_ROOT=$dir/root XDG_CONFIG_HOME=$dir/home/.config XDG_DATA_HOME=$dir/home/.local/share
unset EDGECTL_STORE
say "starting Ceph RGW"
start_rgw
store="s3://$S3_BUCKET/scale?endpoint=$S3_ENDPOINT"
echo "bench scale: rgw: $(radosgw --version 2>/dev/null | grep -o 'ceph version [^ ]*' || echo 'Ceph RGW') on 127.0.0.1, memstore"

mkdir -p "$dir/ctx"
echo bench >"$dir/ctx/x"
printf 'FROM scratch\nCOPY x /x\n' >"$dir/ctx/Dockerfile"
"$dir/bin/new" -q build -t app:1 "$dir/ctx" >/dev/null || die "edgectl build failed"
"$dir/bin/new" --store "$store" -q push app:1 >/dev/null || die "edgectl push failed"

# write_fleet STORE: LOCS x HOSTS hosts with summaries; prints the time
write_fleet() {
	local t0
	t0=$(date +%s%N)
	AWS_ENDPOINT_URL=$S3_ENDPOINT "$TOP/tests/lib/mkfleet.sh" -s "$1" "$LOCS" "$HOSTS" 2>"$dir/mkfleet.err" ||
		{ cat "$dir/mkfleet.err" >&2; die "mkfleet failed"; }
	ms "$t0"
}

objects=$((LOCS * (HOSTS + 2)))
hosts_total=$((LOCS * HOSTS))
fleet_ready=0
fleet() {
	[ "$fleet_ready" = 1 ] && return
	say "writing $LOCS x $HOSTS hosts (and summaries)"
	t=$(write_fleet "$store")
	echo "bench scale: fleet $LOCS locations x $HOSTS hosts = $hosts_total host objects ($objects objects with location.json and summary.json) written in $t ms ($(cat "$dir/mkfleet.err"))"
	fleet_ready=1
}

# --- one decision: summaries, then the candidates' hosts ---
part_decide() {
	fleet
	mark=$(log_mark)
	t0=$(date +%s%N)
	"$dir/bin/new" --store "$store" -q location refresh --all >/dev/null || die "location refresh --all failed"
	t=$(ms "$t0")
	sleep 0.3
	read -r req bytes lists < <(log_count "$mark")
	echo "bench scale: location refresh --all: $t ms, $req requests"

	say "new: $RUNS calls"
	read -r _ nbest nmed nreq nbytes nlists < <(one "$dir/bin/new" new)
	echo "bench scale: with summaries: best $nbest ms, median $nmed ms; $nreq requests per call ($nlists LIST), $((nbytes / 1024)) KiB read; $(awk -v r="$nreq" -v o="$objects" 'BEGIN { printf "%.1f%%", 100 * r / o }') of the fleet's objects"
	if [ "$have_base" = 1 ]; then
		say "base: $RUNS calls"
		read -r _ bbest bmed breq bbytes blists < <(one "$dir/bin/base" base)
		echo "bench scale: main: best $bbest ms, median $bmed ms; $breq requests per call ($blists LIST), $((bbytes / 1024)) KiB read"
		jq -e -n --slurpfile a "$dir/new.json" --slurpfile b "$dir/base.json" \
			'[$a[0].placements[] | .host] == [$b[0].placements[] | .host]' >/dev/null ||
			die "the two binaries placed differently: $(jq -c '[.placements[].host]' "$dir/new.json") vs $(jq -c '[.placements[].host]' "$dir/base.json")"
		echo "bench scale: ratio: wall $(awk -v a="$nmed" -v b="$bmed" 'BEGIN { printf "%.3f", a / b }') (median), requests $(awk -v a="$nreq" -v b="$breq" 'BEGIN { printf "%.3f", a / b }'), bytes $(awk -v a="$nbytes" -v b="$bbytes" 'BEGIN { printf "%.3f", (b ? a / b : 0) }'); same placement: $(jq -c '[.placements[].host]' "$dir/new.json")"
	fi
	echo "bench scale: goals (issue 13): <= 500 ms per call on loopback: $([ "$nmed" -le 500 ] && echo met || echo NOT met); <= 2% of the fleet's objects per call: $(awk -v r="$nreq" -v o="$objects" 'BEGIN { print (r <= 0.02 * o) ? "met" : "NOT met" }')"
}

# --- the fleet-wide read (host ls: what ps --all-hosts, route sync --all,
# prewarm --all and --tick read first) ---
part_reads() {
	fleet
	say "reads: host ls, new (-j $JOBS)"
	read -r _ rbest rmed rreq rbytes rlists < <(one "$dir/bin/new" hostls-new "$store" 3 host ls -j "$JOBS")
	n=$(jq length "$dir/hostls-new.json")
	[ "$n" = "$hosts_total" ] || die "host ls listed $n hosts, not $hosts_total"
	echo "bench scale: host ls (new, -j $JOBS): best $rbest ms, median $rmed ms; $rreq requests ($rlists LIST), $((rbytes / 1024)) KiB"
	if [ "$have_base" = 1 ]; then
		say "reads: host ls, main"
		read -r _ qbest qmed qreq qbytes qlists < <(one "$dir/bin/base" hostls-base "$store" 3 host ls)
		cmp -s <(jq -S . "$dir/hostls-new.json") <(jq -S . "$dir/hostls-base.json") ||
			die "host ls: the two binaries listed different hosts"
		echo "bench scale: host ls (main, one GET after another): best $qbest ms, median $qmed ms; $qreq requests ($qlists LIST), $((qbytes / 1024)) KiB"
		echo "bench scale: ratio host ls: wall $(awk -v a="$rmed" -v b="$qmed" 'BEGIN { printf "%.3f", a / b }') (median), requests $(awk -v a="$rreq" -v b="$qreq" 'BEGIN { printf "%.3f", a / b }'); same hosts"
	fi
}

# --- the same over a WAN: delayproxy in front of RGW ---
part_wan() {
	[ "$DELAY" -gt 0 ] || return 0
	fleet
	cc -std=gnu11 -O2 -D_GNU_SOURCE -pthread -o "$dir/bin/delayproxy" tests/bench/delayproxy.c ||
		die "building delayproxy failed"
	up=${S3_ENDPOINT#*://}
	"$dir/bin/delayproxy" 0 "${up%:*}" "${up##*:}" "$DELAY" >"$dir/proxy.port" &
	proxy_pid=$!
	for _ in $(seq 1 50); do [ -s "$dir/proxy.port" ] && break; sleep 0.1; done
	[ -s "$dir/proxy.port" ] || die "delayproxy did not start"
	wan="s3://$S3_BUCKET/scale?endpoint=http://127.0.0.1:$(cat "$dir/proxy.port")"
	say "wan: +$DELAY ms per request: schedule --dry-run (new)"
	read -r _ wbest wmed wreq _ wlists < <(one "$dir/bin/new" wan-new "$wan")
	echo "bench scale: +$DELAY ms/request: schedule --dry-run: best $wbest ms, median $wmed ms; $wreq requests ($wlists LIST); goal <= 2000 ms: $([ "$wmed" -le 2000 ] && echo met || echo NOT met); the full read of every host object one after another (before summaries) would be >= $((hosts_total * DELAY / 1000)) s"
	if [ "$have_base" = 1 ]; then
		say "wan: +$DELAY ms per request: schedule --dry-run (main)"
		read -r _ vbest vmed vreq _ vlists < <(one "$dir/bin/base" wan-base "$wan")
		echo "bench scale: +$DELAY ms/request: schedule --dry-run (main): best $vbest ms, median $vmed ms; $vreq requests ($vlists LIST)"
		echo "bench scale: ratio +$DELAY ms/request: wall $(awk -v a="$wmed" -v b="$vmed" 'BEGIN { printf "%.3f", a / b }') (median), requests $(awk -v a="$wreq" -v b="$vreq" 'BEGIN { printf "%.3f", a / b }'); $(((vmed - wmed) / DELAY)) round trips of $DELAY ms saved"
	fi
	say "wan: host ls (new, -j $JOBS)"
	read -r _ xbest _ xreq _ _ < <(one "$dir/bin/new" wan-hostls "$wan" 1 host ls -j "$JOBS")
	echo "bench scale: +$DELAY ms/request: host ls (new, -j $JOBS): $xbest ms, $xreq requests (one GET after another, as main: >= $((xreq * DELAY / 1000)) s, not run)"
	kill "$proxy_pid" 2>/dev/null || true
	wait "$proxy_pid" 2>/dev/null || true
	proxy_pid=
}

# --- commit throughput: SCHEDULERS concurrent schedulers ---
NEARS=(48.8,2.3 40.7,-74.0 35.7,139.7 -33.9,151.2)
REPL=10

# scheduler BIN STORE S OUT: apps S, S+SCHEDULERS, ...; app a is near
# NEARS[(a / SCHEDULERS) % 4]: the schedulers at work together race for
# the same location's hosts
scheduler() {
	local bin=$1 st=$2 s=$3 out=$4 a rc
	for ((a = s; a < COMMITS / REPL; a += SCHEDULERS)); do
		rc=0
		"$bin" --store "$st" --json schedule --no-start --image app:1 --name "app$a" \
			--replicas "$REPL" --cpus 1 --memory 256M --near "${NEARS[$(((a / SCHEDULERS) % 4))]}" \
			>"$out/app$a.json" 2>"$out/app$a.err" || rc=$?
		echo "$a $rc" >>"$out/calls.$s"
	done
}

# audit STORE OUT: the store against what the schedulers said
audit() {
	"$dir/bin/new" --store "$1" --json host ls >"$2/hosts.json" || die "audit: host ls failed"
	"$dir/bin/new" --store "$1" --json schedule ls >"$2/apps.json" || die "audit: schedule ls failed"
	jq -n --slurpfile h "$2/hosts.json" --slurpfile a "$2/apps.json" \
		--argjson n "$COMMITS" --argjson apps "$((COMMITS / REPL))" --argjson r "$REPL" '
		($h[0]) as $hosts | ($a[0]) as $recs |
		[$hosts[] | .name as $host | .allocations[] | {i: .instance, h: $host}] as $allocs |
		[$recs[] | .placements[] | {i: .instance, h: .host}] as $placed |
		{
		  allocations: ($allocs | length),
		  unique_instances: ($allocs | map(.i) | unique | length),
		  over_cpu: [$hosts[] | select((.allocations | map(.cpu_m) | add // 0) > .capacity.cpus * 1000) | .name],
		  over_mem: [$hosts[] | select((.allocations | map(.memory_bytes) | add // 0) > .capacity.memory_bytes) | .name],
		  locations: ([$allocs[] | .h] | unique | length),
		  apps: ($recs | length),
		  bad_apps: [$recs[] | select(([.placements[].replica] | sort) != [range(0; $r)]) | .name],
		  records_match: (($allocs | sort) == ($placed | sort))
		} | . + {ok: (.allocations == $n and .unique_instances == $n and .over_cpu == []
			 and .over_mem == [] and .apps == $apps and .bad_apps == [] and .records_match)}' >"$2/audit.json"
}

# commit_run BIN LABEL: a fresh fleet under its own prefix, then the run
commit_run() {
	local bin=$1 label=$2 st out t0 t s mark failed
	st="s3://$S3_BUCKET/commit-$label?endpoint=$S3_ENDPOINT"
	out=$dir/commit-$label
	mkdir -p "$out"
	say "commit ($label): writing the fleet"
	write_fleet "$st" >/dev/null
	"$dir/bin/new" --store "$st" -q push app:1 >/dev/null || die "edgectl push failed"
	say "commit ($label): $COMMITS placements, $SCHEDULERS schedulers"
	sleep 0.5
	mark=$(log_mark)
	t0=$(date +%s%N)
	for ((s = 0; s < SCHEDULERS; s++)); do
		scheduler "$bin" "$st" "$s" "$out" &
	done
	wait
	t=$(ms "$t0")
	sleep 0.5
	cat "$out"/calls.* >"$out/calls"
	failed=$(awk '$2 != 0' "$out/calls" | wc -l)
	# PUTs and their 412s (lost compare-and-swap races) by kind
	rgw_log | tail -c +"$((mark + 1))" | awk -v p="/commit-$label/" '
		/beast: .*"PUT / && index($0, p) {
			k = ($0 ~ /summary\.json/) ? "summary" : ($0 ~ /\/hosts\//) ? "host" : "other"
			put[k]++; if ($0 ~ /HTTP\/1\.[01]" 412 /) c[k]++
		} END { printf "%d %d %d %d\n", put["host"], c["host"], put["summary"], c["summary"] }' >"$out/puts"
	read -r hput hc sput sc <"$out/puts"
	read -r creq _ clists < <(log_count "$mark")
	audit "$st" "$out"
	echo "bench scale: commit ($label): $COMMITS placements ($((COMMITS / REPL)) apps x $REPL, $SCHEDULERS schedulers) in $t ms: $(awk -v n="$COMMITS" -v t="$t" 'BEGIN { printf "%.1f", n / (t / 1000) }') placements/s; $failed call(s) failed; host PUTs $hput ($hc lost a CAS race), summary PUTs $sput ($sc lost); $creq requests ($clists LIST), $((creq / (COMMITS / REPL))) per call"
	jq -r --arg l "$label" '"bench scale: commit (\($l)): audit \(if .ok then "ok" else "FAILED" end): \(.allocations) allocations (\(.unique_instances) distinct) on \(.locations) hosts, over capacity: \(.over_cpu + .over_mem | length), \(.apps) app records, \(.bad_apps | length) with missing/extra replicas, records match allocations: \(.records_match)"' "$out/audit.json"
	echo "$t" >"$out/ms"
	if [ "$failed" != 0 ]; then
		awk '$2 != 0 { print $1 }' "$out/calls" | head -3 | while read -r a; do
			say "app$a: $(cat "$out/app$a.err")"
		done
	fi
	jq -e .ok "$out/audit.json" >/dev/null || die "commit ($label): audit failed: $(cat "$out/audit.json")"
}

part_commit() {
	commit_run "$dir/bin/new" new
	if [ "$have_base" = 1 ]; then
		commit_run "$dir/bin/base" main
		echo "bench scale: ratio commit: wall $(awk -v a="$(cat "$dir/commit-new/ms")" -v b="$(cat "$dir/commit-main/ms")" 'BEGIN { printf "%.3f", a / b }') (new / main)"
	fi
}

for p in $PARTS; do
	case $p in
	decide | reads | wan | commit) "part_$p" ;;
	*) die "BENCH_SCALE_PARTS: unknown part '$p' (decide, reads, wan, commit)" ;;
	esac
done
