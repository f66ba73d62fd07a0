#!/bin/bash
# compress.sh - the edgectl zstd writer (seekable frames, threads) against
# `zstd -T0 -3` on the same input in the same run: MB/s, ratio, peak RSS.
# Also parallel decompression by seek table against `zstd -d`, and shell
# level checks that the zstd and gzip tools accept edgectl's output (these
# fail the script; timings are only reported, never asserted).
#
#   tests/bench/compress.sh            512 MiB: half random, half text
#   BENCH_MB=64 tests/bench/compress.sh
#   BENCH_THREADS=2 BENCH_FRAME=32M    edgectl writer settings (0 = online
#                                      CPUs, 0 = 32 MiB)
#   BENCH_RUNS=3                       report the best of 3 runs (busy box)
set -euo pipefail
cd "$(dirname "$0")/../.."

mb=${BENCH_MB:-512}
threads=${BENCH_THREADS:-0}
frame=${BENCH_FRAME:-0}
O=${O:-build}
drv=$O/tests/bench/compress_drv

for t in zstd gzip cmp /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "compress.sh: needs $t" >&2; exit 1; }
done

make -s "O=$O" "$O/libedgectl.a"
mkdir -p "$(dirname "$drv")"
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -D_GNU_SOURCE -pthread -Isrc -o "$drv" \
	tests/bench/compress_drv.c "$O/libedgectl.a" \
	$(make -s --no-print-directory -C . print-libs)

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/edgectl-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
in=$tmp/input
half=$((mb * 1024 * 1024 / 2))
head -c "$half" /dev/urandom >"$in"
"$drv" gen-text "$half" >>"$in"
size=$(stat -c %s "$in")

fail=0
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "check: ok: $what"
	else
		echo "check: FAILED: $what"
		fail=1
	fi
}

# run NAME OUTPUT COMMAND...: time a command (best of BENCH_RUNS), print
# MB/s of uncompressed data, the ratio when OUTPUT is compressed, peak RSS
runs=${BENCH_RUNS:-1}
run() {
	local name=$1 out=$2 secs rss best=0 brss=0 osize i
	shift 2
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -f '%e %M' -o "$tmp/time" "$@" 2>"$tmp/stderr" ||
			{ cat "$tmp/stderr" >&2; echo "compress.sh: $name failed" >&2; exit 1; }
		read -r secs rss <"$tmp/time"
		if [ "$best" = 0 ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$secs
		fi
		[ "$rss" -gt "$brss" ] && brss=$rss
	done
	osize=$(stat -c %s "$out")
	awk -v n="$name" -v s="$best" -v r="$brss" -v i="$size" -v o="$osize" \
		'BEGIN { if (s < 0.01) s = 0.01;
			 ratio = o < i ? sprintf("ratio %6.3f", i / o) : "            ";
			 printf "%-30s %8.1f MB/s  %s  %6.2f s  peak RSS %7.1f MiB\n",
				n, i / s / 1e6, ratio, s, r / 1024 }'
}

cpus=$(nproc)
echo "input: $mb MiB ($((half / 1048576)) MiB random + text), $cpus CPUs, $(zstd -V | head -1)"
echo "== compress (MB/s of input; ratio = input / output)"
run "edgectl zstd -3 threads=$threads" "$tmp/ec.zst" \
	"$drv" zstd "$in" "$tmp/ec.zst" "$threads" "$frame" 3
grep frames "$tmp/stderr" | sed 's/^/  /'
run "zstd -T0 -3" "$tmp/cli.zst" zstd -q -f -T0 -3 "$in" -o "$tmp/cli.zst"
run "edgectl zstd -3 threads=1" "$tmp/ec1.zst" \
	"$drv" zstd "$in" "$tmp/ec1.zst" 1 "$frame" 3
run "zstd -T1 -3" "$tmp/cli1.zst" zstd -q -f -T1 -3 "$in" -o "$tmp/cli1.zst"

echo "== decompress (MB/s of decompressed output)"
run "edgectl unzseek threads=$threads" "$tmp/ec.out" \
	"$drv" unzseek "$tmp/ec.zst" "$tmp/ec.out" "$threads"
run "edgectl stream reader" "$tmp/ec.out" \
	"$drv" unstream "$tmp/ec.zst" "$tmp/ec.out"
run "zstd -d" "$tmp/cli.out" zstd -q -f -d "$tmp/ec.zst" -o "$tmp/cli.out"

echo "== checks"
check "output identical for threads=1 and threads=$threads" cmp "$tmp/ec.zst" "$tmp/ec1.zst"
check "zstd -t accepts edgectl output" zstd -q -t "$tmp/ec.zst"
check "zstd -d output equals input" cmp "$tmp/cli.out" "$in"
check "edgectl unzseek output equals input" \
	"$drv" unzseek "$tmp/ec.zst" "$tmp/ec.out" "$threads"
check "... and equals input" cmp "$tmp/ec.out" "$in"
check "edgectl reader decodes zstd CLI output" "$drv" unstream "$tmp/cli.zst" "$tmp/ec.out"
check "... and equals input" cmp "$tmp/ec.out" "$in"
check "edgectl unzseek falls back to a stream for zstd CLI output" \
	"$drv" unzseek "$tmp/cli.zst" "$tmp/ec.out"
check "... and equals input" cmp "$tmp/ec.out" "$in"

# gzip is slow: check it on the first 64 MiB (or all of a smaller input)
head -c $((64 * 1024 * 1024)) "$in" >"$tmp/gin"
check "edgectl gzip" "$drv" gzip "$tmp/gin" "$tmp/ec.gz"
check "gzip -t accepts edgectl gzip" gzip -t "$tmp/ec.gz"
zcat "$tmp/ec.gz" >"$tmp/gout" || true
check "zcat output equals input" cmp "$tmp/gout" "$tmp/gin"
gzip -c -n "$tmp/gin" >"$tmp/cli.gz"
check "edgectl reader decodes gzip(1) output" "$drv" unstream "$tmp/cli.gz" "$tmp/gout"
check "... and equals input" cmp "$tmp/gout" "$tmp/gin"
exit $fail
