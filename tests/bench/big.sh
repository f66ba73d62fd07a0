#!/bin/bash
# tests/bench/big.sh - a big image end to end, and whether memory stays
# flat as the image grows: for each size (default 1 GiB and 4 GiB of
# content: 3/4 incompressible "weights", 1/4 compressible slices of the
# minbase tar, one COPY each), in the same run:
#   build          edgectl build --no-cache
#   push-rgw       edgectl push to a Ceph RGW (tests/lib/start-rgw.sh)
#   push-registry  edgectl push to a docker-registry (start-registry.sh)
#   pull-registry  edgectl pull into a second, empty root (layers unpacked)
#   pull-rgw       edgectl pull from RGW into a third root
# Reports seconds, MiB/s of content and peak RSS (/usr/bin/time) per step
# and size, and the RSS ratio largest/smallest size per step (flat: close to
# 1 while the data grew 4x). Never fails on speed or memory; fails when a
# step fails or a pulled image does not hold the weights built.
#
#   tests/bench/big.sh                           1024 and 4096 MiB
#   BENCH_BIG_SIZES="64 256" tests/bench/big.sh  quick
#
# env: BENCH_BIG_SIZES (MiB of content, space-separated; default
#      "1024 4096"), BENCH_CACHE_DIR (the minbase tar of build.sh),
#      BENCH_DIR (scratch parent; needs ~4x the largest size; RGW keeps
#      its objects in RAM: the largest compressed image + 1 GiB),
#      BENCH_KEEP=1.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EDGECTL=${EDGECTL:-$TOP/build/edgectl}
TIME=/usr/bin/time
SIZES=${BENCH_BIG_SIZES:-1024 4096}
CACHE=${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:?}/.cache}/edgectl-bench}

say() { echo "big.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
for s in $SIZES; do
	case $s in '' | *[!0-9]* | 0) die "BENCH_BIG_SIZES: MiB numbers, not '$s'" ;; esac
done
[ -x "$EDGECTL" ] || die "missing $EDGECTL (make)"
for t in "$TIME" jq cmp; do
	command -v "$t" >/dev/null || die "needs $t (tests/lib/deps.sh bench)"
done
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
minbase_tar=$CACHE/minbase-bookworm-$arch.tar
if [ ! -s "$minbase_tar" ]; then
	say "no $minbase_tar: making it with tests/bench/build.sh (debootstrap, once)"
	BENCH_MB=1 "$TOP/tests/bench/build.sh" >/dev/null || die "tests/bench/build.sh could not make $minbase_tar"
fi

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-big.XXXXXX")
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"
REG_DIR=''
RGW_DIR=''
cleanup() {
	[ -z "$REG_DIR" ] || "$TOP/tests/lib/stop-registry.sh" "$REG_DIR" 2>/dev/null || true
	[ -z "$RGW_DIR" ] || "$TOP/tests/lib/stop-rgw.sh" "$RGW_DIR" 2>/dev/null || true
	if [ -n "${BENCH_KEEP:-}" ]; then
		say "kept $dir (BENCH_KEEP)"
	else
		rm -rf --one-file-system "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir/bin" "$dir/config"
cp "$EDGECTL" "$dir/bin/edgectl"
say "edgectl: $EDGECTL, built $(date -r "$EDGECTL" '+%F %T')"
EDGECTL=$dir/bin/edgectl
export XDG_CONFIG_HOME=$dir/config
unset EDGECTL_ROOT EDGECTL_STORE SOURCE_DATE_EPOCH REGISTRY_AUTH_FILE
TLS=(--tls-verify=false)

# measure NAME CMD...: one run; "seconds kib" in $dir/NAME.time
measure() {
	bench_run "$@"
	echo "$BENCH_S $BENCH_K" >"$dir/$1.time"
}

# make_ctx MIB: DIR/ctx-MIB with weights.bin (3/4) and data/ (1/4)
make_ctx() {
	local mb=$1 c=$dir/ctx-$1 left i=0 n msize
	mkdir -p "$c/data"
	head -c $((mb * 3 * 1048576 / 4)) /dev/urandom >"$c/weights.bin"
	left=$((mb * 1048576 - mb * 3 * 1048576 / 4))
	msize=$(stat -c %s "$minbase_tar")
	while [ "$left" -gt 0 ]; do
		n=$((left < msize ? left : msize))
		head -c "$n" "$minbase_tar" >"$c/data/part-$i.bin"
		left=$((left - n))
		i=$((i + 1))
	done
	printf 'FROM scratch\nCOPY weights.bin /models/weights.bin\nCOPY data/ /data/\n' >"$c/Dockerfile"
}

for mb in $SIZES; do
	say "size $mb MiB: context"
	make_ctx "$mb"
	ctx=$dir/ctx-$mb
	root=$dir/root-$mb
	measure "build-$mb" "$EDGECTL" --root "$root" --json build --no-cache -t "big:$mb" "$ctx"
	zbytes=$(du -s --apparent-size -B1 "$root/blobs" | cut -f1)

	say "size $mb MiB: RGW ($((zbytes >> 20)) MiB of blobs)"
	RGW_DIR=$dir/rgw
	OWNER_PID=$$ MEMSTORE_BYTES=$((zbytes + (1 << 30))) \
		"$TOP/tests/lib/start-rgw.sh" auto "$RGW_DIR" big >"$dir/rgw.env" 2>"$dir/rgw.log" ||
		{ cat "$dir/rgw.log" >&2; die "RGW did not start"; }
	# shellcheck disable=SC1091
	. "$dir/rgw.env"
	store="s3://$S3_BUCKET/img?endpoint=$S3_ENDPOINT"
	export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_REGION=$S3_REGION
	measure "push-rgw-$mb" "$EDGECTL" --root "$root" --store "$store" --json push "big:$mb"
	measure "pull-rgw-$mb" "$EDGECTL" --root "$dir/rgwpull-$mb" --store "$store" --json pull "big:$mb"
	"$TOP/tests/lib/stop-rgw.sh" "$RGW_DIR" 2>/dev/null || true
	RGW_DIR=
	cmp -s "$ctx/weights.bin" "$(find "$dir/rgwpull-$mb/layers" -path '*/models/weights.bin' | head -n 1)" ||
		die "pull from RGW: the weights differ from the context's"
	rm -rf --one-file-system "$dir/rgwpull-$mb"

	say "size $mb MiB: registry"
	REG_DIR=$dir/reg
	OWNER_PID=$$ "$TOP/tests/lib/start-registry.sh" "$REG_DIR" >"$dir/reg.env" 2>"$dir/reg.log" ||
		{ cat "$dir/reg.log" >&2; die "docker-registry did not start"; }
	REGISTRY=$(sed -n 's/^REGISTRY=//p' "$REG_DIR/env")
	measure "push-registry-$mb" "$EDGECTL" --root "$root" --json push "${TLS[@]}" "big:$mb" "docker://$REGISTRY/big:$mb"
	measure "pull-registry-$mb" "$EDGECTL" --root "$dir/regpull-$mb" --json pull "${TLS[@]}" "docker://$REGISTRY/big:$mb"
	"$TOP/tests/lib/stop-registry.sh" "$REG_DIR" 2>/dev/null || true
	rm -rf --one-file-system "$REG_DIR"
	REG_DIR=
	cmp -s "$ctx/weights.bin" "$(find "$dir/regpull-$mb/layers" -path '*/models/weights.bin' | head -n 1)" ||
		die "pull from the registry: the weights differ from the context's"
	rm -rf --one-file-system "$dir/regpull-$mb" "$root" "$ctx"
done

# --- summary ---
first=${SIZES%% *}
last=${SIZES##* }
echo "bench big: sizes ${SIZES// /, } MiB (3/4 random, 1/4 compressible), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for step in build push-rgw push-registry pull-registry pull-rgw; do
	for mb in $SIZES; do
		read -r s k <"$dir/$step-$mb.time"
		awk -v n="$step" -v mb="$mb" -v s="$s" -v k="$k" 'BEGIN {
			printf "bench big: %-14s %5d MiB %8.2f s %7.1f MiB/s  peak RSS %7.1f MiB\n",
				n, mb, s, (s > 0 ? mb / s : 0), k / 1024 }'
	done
	if [ "$first" != "$last" ]; then
		read -r _ k1 <"$dir/$step-$first.time"
		read -r _ k2 <"$dir/$step-$last.time"
		awk -v n="$step" -v a="$k1" -v b="$k2" -v x="$((last / first))" 'BEGIN {
			printf "bench big: %-14s peak RSS %s MiB -> %s MiB: x%.2f for x%d the data (%s)\n", n,
				sprintf("%.1f", a / 1024), sprintf("%.1f", b / 1024), (a > 0 ? b / a : 0), x,
				(a > 0 && b / a <= 1.25 ? "flat" : "GROWS") }'
	fi
done
