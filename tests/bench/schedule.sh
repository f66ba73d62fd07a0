#!/bin/bash
# tests/bench/schedule.sh - how fast edgectl decides and commits placements.
#
#   inproc  the placement decision itself, sc_place (src/sched/sched.c),
#           in-process (tests/bench/schedule_drv.c) on a generated fleet:
#           330 locations (real city coordinates and UTC offsets, generated
#           deterministically) x 30 hosts, a tenth of them with GPUs, and a
#           mix of requests (latency with 1-3 users by coordinates or by
#           location name, GPU, off-peak, binpack/spread, allow/deny; 1-3
#           replicas). A decision is one replica placed (one pass over the
#           whole fleet). Reported against the goal of 20,000 decisions/s
#           and two published anchors: Nomad's C1M run, 1,000,000
#           containers on 5,000 hosts in under 5 minutes (~3,750/s), and
#           kube-scheduler, ~1,150 pods/s at 5,000 nodes. Also on a ~5,000
#           host fleet (167 x 30) to compare at the anchors' size.
#   rgw     `edgectl schedule --no-start` committing placements by
#           compare-and-swap on the host objects of a real Ceph RGW store
#           (tests/lib/start-rgw.sh), with 1, 4 and 8 concurrent schedulers
#           on a fresh fleet each time: wall time, placements/s; then an
#           audit of the store: every placement is there exactly once, no
#           host is over capacity (CPU or memory), every app record has its
#           replicas 0..R-1. Modest sizes (a 2-CPU box): 20 locations x 10
#           hosts of 6 CPUs (1,200 one-CPU slots), 1,000 placements as 100
#           apps x 10 replicas; schedulers working at the same time aim at
#           the same location (near it), so they race for the same hosts.
#
# A benchmark reports: it never fails on speed, only when something is
# broken (a scheduler failed, the audit found a lost, duplicated or
# overcommitted placement, the server did not start).
#
#   tests/bench/schedule.sh                         both parts
#   BENCH_SCHED_PARTS=inproc tests/bench/schedule.sh
#
# env: BENCH_SCHED_PARTS ("inproc rgw"), BENCH_RUNS (in-process runs, best
#      reported; default 1),
#      BENCH_SCHED_LOCS / BENCH_SCHED_HOSTS / BENCH_SCHED_DECISIONS
#      (in-process fleet and decisions; default 330, 30, 20000),
#      BENCH_SCHED_RGW_LOCS / BENCH_SCHED_RGW_HOSTS / BENCH_SCHED_RGW_CPUS
#      (default 20, 10, 6), BENCH_SCHED_PLACEMENTS (default 1000),
#      BENCH_SCHED_REPLICAS (replicas per schedule call; default 10),
#      BENCH_SCHED_CONCURRENCY (default "1 4 8"),
#      BENCH_DIR (scratch parent; default $TMPDIR or /tmp).
# Output: progress on stderr; "bench schedule: ..." lines on stdout.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
O=${O:-build}
EDGECTL=${EDGECTL:-$TOP/$O/edgectl}
PARTS=${BENCH_SCHED_PARTS:-inproc rgw}
RUNS=${BENCH_RUNS:-1}
LOCS=${BENCH_SCHED_LOCS:-330}
HOSTS=${BENCH_SCHED_HOSTS:-30}
DECISIONS=${BENCH_SCHED_DECISIONS:-20000}
RLOCS=${BENCH_SCHED_RGW_LOCS:-20}
RHOSTS=${BENCH_SCHED_RGW_HOSTS:-10}
RCPUS=${BENCH_SCHED_RGW_CPUS:-6}
PLACEMENTS=${BENCH_SCHED_PLACEMENTS:-1000}
REPLICAS=${BENCH_SCHED_REPLICAS:-10}
CONC=${BENCH_SCHED_CONCURRENCY:-1 4 8}

say() { echo "schedule.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
posint() { case $2 in '' | *[!0-9]* | 0*) die "$1: not a positive number: '$2'" ;; esac }
posint BENCH_RUNS "$RUNS"
posint BENCH_SCHED_LOCS "$LOCS"
posint BENCH_SCHED_HOSTS "$HOSTS"
posint BENCH_SCHED_DECISIONS "$DECISIONS"
posint BENCH_SCHED_RGW_LOCS "$RLOCS"
posint BENCH_SCHED_RGW_HOSTS "$RHOSTS"
posint BENCH_SCHED_RGW_CPUS "$RCPUS"
posint BENCH_SCHED_PLACEMENTS "$PLACEMENTS"
posint BENCH_SCHED_REPLICAS "$REPLICAS"
for c in $CONC; do posint BENCH_SCHED_CONCURRENCY "$c"; done
[ $((PLACEMENTS % REPLICAS)) = 0 ] ||
	die "BENCH_SCHED_PLACEMENTS ($PLACEMENTS) must be a multiple of BENCH_SCHED_REPLICAS ($REPLICAS)"
[ $((RLOCS * RHOSTS * RCPUS)) -ge "$PLACEMENTS" ] ||
	die "the RGW fleet ($RLOCS x $RHOSTS hosts x $RCPUS CPUs) has no room for $PLACEMENTS one-CPU placements"

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-schedule.XXXXXX")
RGW_LIB=$TOP/tests/lib
RGW_NOTE=
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

make -s "O=$O" "$O/libedgectl.a"
drv=$dir/schedule_drv
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -D_GNU_SOURCE -pthread -Isrc -o "$drv" \
	tests/bench/schedule_drv.c "$O/libedgectl.a" \
	$(make -s --no-print-directory -C "$TOP" print-libs)

# --- in-process ---------------------------------------------------------------

# inproc LOCS HOSTS: best of RUNS (by decisions/s of wall time)
inproc() {
	local i best=0 rate
	for i in $(seq 1 "$RUNS"); do
		say "in-process: $1 x $2 hosts, $DECISIONS decisions, run $i"
		"$drv" bench "$1" "$2" "$DECISIONS" >"$dir/inproc.out"
		cat "$dir/inproc.out" >&2
		rate=$(sed -n 's/.* \([0-9][0-9]*\) decisions\/s wall.*/\1/p' "$dir/inproc.out")
		if [ "$rate" -gt "$best" ]; then
			best=$rate
			cp "$dir/inproc.out" "$dir/inproc.best"
		fi
	done
	sed "/decisions\/s wall/s/\$/ (best of $RUNS)/" "$dir/inproc.best"
}

bench_inproc() {
	inproc "$LOCS" "$HOSTS"
	# the anchors' size: ~5,000 hosts
	inproc $(((5000 + HOSTS - 1) / HOSTS)) "$HOSTS"
}

# --- end to end on RGW -------------------------------------------------------

# The RGW frontend of tests/lib/start-rgw.sh leaves Nagle's algorithm on:
# a small GET on a reused connection then waits for the client's delayed
# ACK (~40 ms) between the response's header and body writes, and a
# schedule call (one GET per location and host object) takes ~10 s on a
# 200-host fleet instead of ~0.4 s. Unless BENCH_SCHED_RGW_NODELAY=0, run a
# private copy of the helpers with beast's tcp_nodelay=1 (a no-op once
# start-rgw.sh sets it). Sets RGW_LIB and RGW_NOTE.
rgw_helpers() {
	local lib=$TOP/tests/lib
	if [ "${BENCH_SCHED_RGW_NODELAY:-1}" != 0 ] && ! grep -q 'tcp_nodelay' "$lib/start-rgw.sh"; then
		mkdir -p "$dir/lib"
		cp "$lib/start-rgw.sh" "$lib/stop-rgw.sh" "$dir/lib/"
		sed -i 's/^\(rgw frontends = beast endpoint=[^ ]*\)$/\1 tcp_nodelay=1/' "$dir/lib/start-rgw.sh"
		grep -q 'tcp_nodelay=1' "$dir/lib/start-rgw.sh" || die "could not set tcp_nodelay in a copy of start-rgw.sh"
		RGW_NOTE="beast tcp_nodelay=1, a patched copy of tests/lib/start-rgw.sh"
		RGW_LIB=$dir/lib
		return
	fi
	RGW_NOTE="tests/lib/start-rgw.sh as is"
	RGW_LIB=$lib
}

start_rgw() {
	say "rgw: starting Ceph RGW ($RGW_NOTE)"
	bench_rgw_start "${BENCH_MEMSTORE_BYTES:-1073741824}"
	bench_rgw_creds
}

# put_fleet STORE: the generated fleet's objects, 4 writers
put_fleet() {
	local store=$1 k
	"$drv" fleet "$RLOCS" "$RHOSTS" "$RCPUS" 16 >"$dir/fleet.tsv"
	split -n l/4 "$dir/fleet.tsv" "$dir/fleet.part."
	for k in "$dir"/fleet.part.*; do
		while IFS=$'\t' read -r key json; do
			printf '%s' "$json" | "$EDGECTL" --store "$store" -q store put "$key" - >/dev/null ||
				exit 1
		done <"$k" &
	done
	wait_all "writing the fleet"
	rm -f "$dir"/fleet.part.*
}

# wait for every background job; die naming WHAT when one failed
wait_all() {
	local p failed=0
	for p in $(jobs -p); do
		wait "$p" || failed=1
	done
	[ "$failed" = 0 ] || die "$1 failed"
}

# scheduler STORE S C OUTDIR: apps S, S+C, ... one `schedule` call each;
# app a wants to be near location (a / 8) % RLOCS, so the schedulers
# running at the same moment aim at the same location
scheduler() {
	local store=$1 s=$2 c=$3 out=$4 a t0 t1 st
	for ((a = s; a < APPS; a += c)); do
		t0=$(date +%s%N)
		st=0
		"$EDGECTL" --store "$store" --json schedule --no-start --image app:1 --name "app$a" \
			--replicas "$REPLICAS" --cpus 1 --memory 256M --near "${NEAR[$(((a / 8) % RLOCS))]}" \
			>"$out/app$a.json" 2>"$out/app$a.err" || st=$?
		t1=$(date +%s%N)
		echo "$a $st $(((t1 - t0) / 1000000))" >>"$out/calls.$s"
	done
}

# audit STORE OUTDIR: the store against what the schedulers said
audit() {
	local store=$1 out=$2
	"$EDGECTL" --store "$store" --json host ls >"$out/hosts.json"
	"$EDGECTL" --store "$store" --json schedule ls >"$out/apps.json"
	jq -n --slurpfile h "$out/hosts.json" --slurpfile a "$out/apps.json" \
		--argjson n "$PLACEMENTS" --argjson apps "$APPS" --argjson r "$REPLICAS" '
		($h[0]) as $hosts | ($a[0]) as $recs |
		[$hosts[] | .name as $host | .allocations[] | {i: .instance, h: $host}] as $allocs |
		[$recs[] | .placements[] | {i: .instance, h: .host}] as $placed |
		{
		  allocations: ($allocs | length),
		  unique_instances: ($allocs | map(.i) | unique | length),
		  over_cpu: [$hosts[] | select((.allocations | map(.cpu_m) | add // 0) > .capacity.cpus * 1000) | .name],
		  over_mem: [$hosts[] | select((.allocations | map(.memory_bytes) | add // 0) > .capacity.memory_bytes) | .name],
		  full_hosts: [$hosts[] | select((.allocations | map(.cpu_m) | add // 0) == .capacity.cpus * 1000)] | length,
		  apps: ($recs | length),
		  bad_apps: [$recs[] | select(([.placements[].replica] | sort) != [range(0; $r)]) | .name],
		  records_match: (($allocs | sort) == ($placed | sort))
		} | . + {ok: (.allocations == $n and .unique_instances == $n and .over_cpu == []
			 and .over_mem == [] and .apps == $apps and .bad_apps == [] and .records_match)}' >"$out/audit.json"
}

bench_rgw() {
	local c s out store t0 t1 failed calls
	command -v jq >/dev/null || die "needs jq (tests/lib/deps.sh)"
	[ -x "$EDGECTL" ] || die "missing $EDGECTL (make)"
	# a private copy: the tree's build/edgectl may be rebuilt while this runs
	mkdir -p "$dir/bin" "$dir/home"
	cp "$EDGECTL" "$dir/bin/edgectl"
	EDGECTL=$dir/bin/edgectl
	export HOME=$dir/home EDGECTL_ROOT=$dir/root
	unset EDGECTL_STORE
	rgw_helpers
	start_rgw
	echo "bench schedule: rgw: $(radosgw --version 2>/dev/null | grep -o 'ceph version [^ ]*' || echo 'Ceph RGW') on 127.0.0.1, memstore; $RGW_NOTE"
	mkdir -p "$dir/ctx"
	echo bench >"$dir/ctx/x"
	printf 'FROM scratch\nCOPY x /x\n' >"$dir/ctx/Dockerfile"
	"$EDGECTL" -q build -t app:1 "$dir/ctx" >/dev/null || die "edgectl build failed"
	mapfile -t NEAR < <("$drv" cities "$RLOCS" | cut -d' ' -f1)
	APPS=$((PLACEMENTS / REPLICAS))
	for c in $CONC; do
		store="s3://$S3_BUCKET/sched-c$c?endpoint=$S3_ENDPOINT"
		out=$dir/c$c
		mkdir -p "$out"
		say "rgw: $c scheduler(s): writing $RLOCS locations x $RHOSTS hosts, pushing the image"
		"$EDGECTL" --store "$store" -q push app:1 >/dev/null || die "edgectl push failed"
		put_fleet "$store"
		say "rgw: $c scheduler(s): $APPS apps x $REPLICAS replicas"
		t0=$(date +%s%N)
		for ((s = 0; s < c; s++)); do
			scheduler "$store" "$s" "$c" "$out" &
		done
		wait_all "a scheduler"
		t1=$(date +%s%N)
		cat "$out"/calls.* >"$out/calls"
		failed=$(awk '$2 != 0' "$out/calls" | wc -l)
		calls=$(wc -l <"$out/calls")
		audit "$store" "$out"
		awk -v c="$c" -v ms=$(((t1 - t0) / 1000000)) -v n="$PLACEMENTS" -v apps="$APPS" \
			-v r="$REPLICAS" -v f="$failed" -v fleet="$RLOCS x $RHOSTS hosts x $RCPUS CPUs" '
			{ sum += $3; if ($3 > max) max = $3 }
			END { printf "bench schedule: rgw %d scheduler(s): %d placements (%d apps x %d replicas, %s) committed in %.1f s: %.1f placements/s; schedule call mean %.0f ms, max %d ms; %d call(s) failed\n",
				c, n, apps, r, fleet, ms / 1000, n / (ms / 1000), sum / NR, max, f }' "$out/calls"
		jq -r --arg c "$c" '"bench schedule: rgw \($c) scheduler(s): audit \(if .ok then "ok" else "FAILED" end): \(.allocations) allocations (\(.unique_instances) distinct), \(.full_hosts) hosts full, over capacity: \(.over_cpu + .over_mem | length), \(.apps) app records, \(.bad_apps | length) with missing/extra replicas, records match allocations: \(.records_match)"' "$out/audit.json"
		if [ "$failed" != 0 ]; then
			awk '$2 != 0 { print $1 }' "$out/calls" | head -3 | while read -r a; do
				say "app$a: $(cat "$out/app$a.err")"
			done
			die "rgw: $failed of $calls schedule calls failed with $c scheduler(s)"
		fi
		jq -e .ok "$out/audit.json" >/dev/null ||
			die "rgw: audit failed with $c scheduler(s): $(cat "$out/audit.json")"
	done
	bench_rgw_stop
}

for p in $PARTS; do
	case $p in
	inproc) bench_inproc ;;
	rgw) bench_rgw ;;
	*) die "BENCH_SCHED_PARTS: unknown part '$p' (inproc, rgw)" ;;
	esac
done
