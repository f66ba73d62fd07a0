#!/bin/bash
# tests/bench/run-all.sh - run the benchmarks, then print their summaries.
#
#   tests/bench/run-all.sh              all: every tests/bench/*.sh but this
#                                       one (big, build, compress, docker,
#                                       prewarm, pushpull, registry, route,
#                                       run, scale, schedule, store, vm)
#   tests/bench/run-all.sh store build  only these (names without .sh)
#
# A benchmark prints its summary on stdout and its progress on stderr (shown
# as it runs). Benchmarks report numbers and never fail on speed: this exits
# 1 only when a benchmark itself failed (broke), 2 on an unknown name.
# Sizes and repeats are each benchmark's BENCH_* variables (BENCH_MB,
# BENCH_RUNS, ...; see the head of each script). Timings on a shared or
# small machine are noisy: BENCH_RUNS=3 reports the best of three.
set -u
cd "$(dirname "$0")" || exit 1
all=()
for b in *.sh; do
	[ "$b" = run-all.sh ] || all+=("${b%.sh}")
done
benches=()
if [ $# -gt 0 ]; then
	for b in "$@"; do
		b=${b%.sh}
		if [ "$b" = run-all ] || [ ! -f "$b.sh" ]; then
			echo "run-all.sh: no benchmark '$b' (have: ${all[*]})" >&2
			exit 2
		fi
		benches+=("$b.sh")
	done
else
	for b in "${all[@]}"; do
		benches+=("$b.sh")
	done
fi
# what was measured (the tree may change while this runs)
what="edgectl $(git describe --always --dirty 2>/dev/null || echo '?'), built $(date -r ../../build/edgectl '+%F %T' 2>/dev/null || echo '?')"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/edgectl-bench.XXXXXX")
trap 'rm -rf "$logdir"' EXIT
failed=()
for b in "${benches[@]}"; do
	echo "== $b" >&2
	t0=$(date +%s)
	"./$b" >"$logdir/${b%.sh}.out"
	st=$?
	echo "== $b: exit $st after $(($(date +%s) - t0)) s" >&2
	[ "$st" = 0 ] || failed+=("$b (exit $st)")
done
echo
echo "benchmark summaries ($(nproc) CPUs, load now $(cut -d' ' -f1-3 /proc/loadavg); at the start: $what):"
for b in "${benches[@]}"; do
	echo "== ${b%.sh}"
	cat "$logdir/${b%.sh}.out"
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}"
	exit 1
fi
