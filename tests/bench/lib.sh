# shellcheck shell=bash disable=SC2154 # dir, say, die, TOP: the sourcing script's
# tests/bench/lib.sh - what the benchmark scripts share. Source it after
# defining say and die and setting TOP (the tree), dir (the run's scratch
# dir) and, for bench_run, TIME (/usr/bin/time):
#
#   bench_private_edgectl  copy $EDGECTL to $dir/bin/edgectl and point
#                          EDGECTL at the copy (the tree's build/edgectl
#                          may be rebuilt while a benchmark runs)
#   bench_minbase          set minbase_tar ($CACHE/minbase-bookworm-ARCH.tar),
#                          making it once with tests/bench/build.sh
#   bench_quiesce          flush dirty pages (one run's writeback must not
#                          land in the next)
#   bench_run NAME CMD...  quiesce, run CMD under $TIME: stdout in
#                          $dir/NAME.out, stderr in NAME.err; sets BENCH_S
#                          (seconds, wall) and BENCH_K (peak RSS, KiB) and
#                          says them; a failed CMD ends the benchmark
#   bench_keep_best NAME   write "BENCH_S BENCH_K" to $dir/NAME.time unless
#                          a faster run is there already
#   bench_rgw_start BYTES [BUCKET]
#                          a Ceph RGW (tests/lib/start-rgw.sh, memstore of
#                          BYTES) in $dir/rgw (sets rgw; RGW_LIB overrides
#                          the helpers' dir), stopped with the benchmark;
#                          sources its env (S3_ENDPOINT, S3_BUCKET, ...)
#   bench_rgw_creds        export its credentials as AWS_* (and nothing
#                          else of the user's AWS environment)
#   bench_rgw_stop         stop it (also at exit, from bench_cleanup)
#   bench_cleanup          for the EXIT trap: stop the RGW, remove $dir
#                          (kept with BENCH_KEEP) and $CACHE/*.partial.PID
rgw=

bench_private_edgectl() {
	mkdir -p "$dir/bin"
	cp "$EDGECTL" "$dir/bin/edgectl"
	say "edgectl: $EDGECTL, built $(date -r "$EDGECTL" '+%F %T')"
	EDGECTL=$dir/bin/edgectl
}

bench_minbase() {
	local arch
	arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
	minbase_tar=$CACHE/minbase-bookworm-$arch.tar
	if [ ! -s "$minbase_tar" ]; then
		say "no $minbase_tar: making it with tests/bench/build.sh (debootstrap, once)"
		BENCH_MB=1 "$TOP/tests/bench/build.sh" >/dev/null || die "tests/bench/build.sh could not make $minbase_tar"
	fi
}

bench_quiesce() { sync -f "$dir" 2>/dev/null || sync; }

bench_run() {
	local name=$1 t0 t1
	shift
	bench_quiesce
	t0=$(date +%s%N)
	if ! "$TIME" -f '%M' -o "$dir/$name.rss" "$@" >"$dir/$name.out" 2>"$dir/$name.err"; then
		say "$name failed: $*"
		tail -n 20 "$dir/$name.err" >&2
		exit 1
	fi
	t1=$(date +%s%N)
	BENCH_K=$(tail -n 1 "$dir/$name.rss")
	BENCH_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	say "  $name: $BENCH_S s, peak RSS $BENCH_K KiB"
}

bench_keep_best() {
	local best
	if [ -f "$dir/$1.time" ]; then
		read -r best _ <"$dir/$1.time"
		awk -v a="$BENCH_S" -v b="$best" 'BEGIN { exit !(a < b) }' || return 0
	fi
	echo "$BENCH_S $BENCH_K" >"$dir/$1.time"
}

bench_rgw_start() {
	local tries=0 rc lib=${RGW_LIB:-$TOP/tests/lib}
	rgw=$dir/rgw
	while :; do
		tries=$((tries + 1))
		rc=0
		OWNER_PID=$$ MEMSTORE_BYTES=$1 \
			"$lib/start-rgw.sh" auto "$rgw" "${2:-bench}" >"$dir/rgw.env" 2>"$dir/rgw.log" || rc=$?
		[ "$rc" = 0 ] && break
		# a port taken between the pick and the bind: try another one
		if [ "$rc" != 77 ] && [ "$tries" -lt 3 ] &&
			grep -qiE 'already in use|address in use|bind' "$dir/rgw.log" "$rgw"/log/*.log 2>/dev/null; then
			continue
		fi
		cat "$dir/rgw.log" >&2
		die "RGW did not start (start-rgw.sh exit $rc)"
	done
	# shellcheck disable=SC1091
	. "$dir/rgw.env"
}

bench_rgw_creds() {
	export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
	export AWS_REGION=$S3_REGION
	unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_PROFILE
}

bench_rgw_stop() {
	if [ -n "$rgw" ] && [ -f "$rgw/pids" ]; then
		"${RGW_LIB:-$TOP/tests/lib}/stop-rgw.sh" "$rgw" 2>/dev/null || true
	fi
	rgw=
}

bench_cleanup() {
	bench_rgw_stop
	if [ -n "${BENCH_KEEP:-}" ]; then
		say "kept $dir (BENCH_KEEP)"
	else
		rm -rf --one-file-system "$dir"
	fi
	[ -z "${CACHE:-}" ] || rm -f "$CACHE"/*.partial."$$"
}
