#!/bin/bash
# route.sh - the XDP router's cost per packet, measured by the kernel's
# test-run of crafted frames (tests/bench/route_drv.c): one packet per call
# (repeat = 1), minus the floor of a pass-only program. Cases: no VIP, LRU
# hit (local backend), miss + insert, SYN, IPIP encapsulation, decap.
# Anchors (xdp-notes): a Katran-like program here ~190 ns/call on a hit
# and 325-456 ns on a miss with insert, floor included (floor ~50 ns).
#
#   tests/bench/route.sh                200000 calls per case, 100 backends
#   BENCH_CALLS=1000000 BENCH_BACKENDS=1000 tests/bench/route.sh
#   BENCH_RUNS=3                        three runs (numbers are noisy)
# Needs root (CAP_BPF); leaves nothing pinned (private bpffs).
set -euo pipefail
cd "$(dirname "$0")/../.."

calls=${BENCH_CALLS:-200000}
backends=${BENCH_BACKENDS:-100}
runs=${BENCH_RUNS:-1}
O=${O:-build}
drv=$O/tests/bench/route_drv

if [ "$(id -u)" != 0 ]; then
	echo "route.sh: needs root (CAP_BPF)" >&2
	exit 1
fi
make -s "O=$O" "$O/libedgectl.a"
mkdir -p "$(dirname "$drv")"
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -D_GNU_SOURCE -pthread -Isrc -o "$drv" \
	tests/bench/route_drv.c "$O/libedgectl.a" \
	$(pkg-config --libs libbpf libzstd zlib libcurl libarchive openssl jansson) -lm

echo "kernel $(uname -r), $(nproc) CPUs, pinned to CPU 0"
for ((i = 1; i <= runs; i++)); do
	echo "-- run $i of $runs: $calls calls per case"
	"$drv" "$calls" "$backends"
done
