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
#   BENCH_BASE=HEAD~1 BENCH_NET=0 ...   before/after: REV's program too
# Then, through the namespace fleet, HTTP requests/s with wrk to the VIP via
# the XDP router vs the same backends behind Linux IPVS, in the same run
# (tests/bench/route_net.bash; its head has the topology and the knobs
# BENCH_NET_RUNS, BENCH_NET_SECS, BENCH_NET_THREADS, BENCH_NET_CONNS):
#   BENCH_NET=0 tests/bench/route.sh    the test-run part only
# Goal: at least IPVS's requests/s. Needs wrk and ipvsadm
# (tests/lib/deps.sh bench); without IPVS in the kernel only the XDP side
# is measured and the reason is printed.
# Needs root (CAP_BPF); leaves nothing pinned (private bpffs; the network
# part removes its fleet, containers and pins on exit).
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
	$(make -s --no-print-directory -C . print-libs)

# BENCH_BASE=REV: the same driver linked with REV's XDP program and loader
# (bpf/, src/route/loader.c; REV's route.h must match the driver's), run
# alternately with this tree's in the same run: before/after numbers of a
# data-plane change on one machine at one time.
base_drv=''
if [ -n "${BENCH_BASE:-}" ]; then
	bd=$O/tests/bench/route-base
	rm -rf "$bd"
	mkdir -p "$bd"
	git archive "$BENCH_BASE" bpf src/route | tar -x -C "$bd"
	clang -O2 -g -target bpf -Wall -I"$bd/bpf" -idirafter "/usr/include/$(cc -print-multiarch)" \
		-c -o "$bd/router.bpf.o" "$bd/bpf/router.bpf.c"
	llvm-strip -g "$bd/router.bpf.o"
	bpftool gen skeleton "$bd/router.bpf.o" name router >"$bd/router.skel.h"
	cc -std=gnu11 -O2 -D_GNU_SOURCE -I"$bd/bpf" -I"$bd" -I"$bd/src" -Isrc \
		-c -o "$bd/loader.o" "$bd/src/route/loader.c"
	base_drv=$bd/route_drv
	# shellcheck disable=SC2046
	cc -std=gnu11 -O2 -D_GNU_SOURCE -pthread -Isrc -o "$base_drv" \
		tests/bench/route_drv.c "$bd/loader.o" "$O/libedgectl.a" \
		$(make -s --no-print-directory -C . print-libs)
fi

echo "kernel $(uname -r), $(nproc) CPUs, pinned to CPU 0"
for ((i = 1; i <= runs; i++)); do
	if [ -n "$base_drv" ]; then
		echo "-- run $i of $runs: $calls calls per case, base $BENCH_BASE"
		"$base_drv" "$calls" "$backends"
	fi
	echo "-- run $i of $runs: $calls calls per case${base_drv:+, this tree}"
	"$drv" "$calls" "$backends"
done

if [ "${BENCH_NET:-1}" != 0 ]; then
	echo "-- through the namespace fleet (XDP router vs IPVS)"
	O=$O bash tests/bench/route_net.bash
fi
