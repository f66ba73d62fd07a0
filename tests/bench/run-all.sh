#!/bin/bash
# tests/bench/run-all.sh - run every tests/bench/*.sh (but this one), then
# print their summaries. A benchmark prints its summary on stdout and its
# progress on stderr (shown as it runs). Benchmarks report numbers and never
# fail on speed: this exits 1 only when a benchmark itself failed (broke).
set -u
cd "$(dirname "$0")"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/edgectl-bench.XXXXXX")
failed=()
for b in *.sh; do
	[ "$b" = run-all.sh ] && continue
	echo "== $b" >&2
	t0=$(date +%s)
	"./$b" >"$logdir/${b%.sh}.out"
	st=$?
	echo "== $b: exit $st after $(($(date +%s) - t0)) s" >&2
	[ "$st" = 0 ] || failed+=("$b (exit $st)")
done
echo
echo "benchmark summaries:"
for b in *.sh; do
	[ "$b" = run-all.sh ] && continue
	echo "== ${b%.sh}"
	cat "$logdir/${b%.sh}.out"
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}"
	rm -rf "$logdir"
	exit 1
fi
rm -rf "$logdir"
