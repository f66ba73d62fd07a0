#!/bin/bash
# tests/lib/mkfleet.sh - build (when needed) and run the fleet generator
# tests/lib/mkfleet.c: LOCS x HOSTS hosts with real places and time zones
# from tzdata's zone1970.tab, written in parallel into a store.
#
#   tests/lib/mkfleet.sh STORE LOCS HOSTS [-c CPUS] [-m MEM_GIB]
#                        [-g GPU_FRACTION] [-s] [-j JOBS]
#
# -s also writes each location's summary. env: O (build dir, default
# build), AWS_* for s3:// stores.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
bin=$TOP/$O/tests/lib/mkfleet
make -s -C "$TOP" "O=$O" "$O/libedgectl.a" >&2
if [ ! -x "$bin" ] || [ "$TOP/tests/lib/mkfleet.c" -nt "$bin" ] || [ "$TOP/$O/libedgectl.a" -nt "$bin" ]; then
	mkdir -p "$(dirname "$bin")"
	# shellcheck disable=SC2046
	cc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -pthread -I"$TOP/src" -o "$bin" \
		"$TOP/tests/lib/mkfleet.c" "$TOP/$O/libedgectl.a" \
		$(make -s --no-print-directory -C "$TOP" print-libs)
fi
exec "$bin" "$@"
