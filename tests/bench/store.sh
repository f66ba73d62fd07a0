#!/bin/bash
# tests/bench/store.sh - moving a large object through the store, against a
# peer tool on the same file in the same run:
#   s3    `edgectl store put/get` (multipart, parallel parts and ranges) vs
#         `aws s3 cp` (Debian awscli, /usr/bin/aws: a pyenv shim may shadow
#         `aws`), both on one throw-away Ceph RGW (tests/lib/start-rgw.sh)
#   file  `edgectl store put/get` on a file:// store vs `cp`, and vs
#         `cp` + `sync -d` (edgectl fsyncs what it writes; cp does not)
# Reports seconds, MiB/s, edgectl/peer ratios and peak RSS (/usr/bin/time
# -f %M). A benchmark reports: it never fails on speed, only when something
# is broken (a transfer fails, the bytes differ, a "multipart" upload was
# not one, a second run resumed instead of sending).
#
#   tests/bench/store.sh                       1 GiB, both backends
#   BENCH_MB=64 tests/bench/store.sh           quick
#   BENCH_STORE_BACKENDS=file tests/bench/store.sh
#
# env: BENCH_STORE_MB (object size; default BENCH_MB, else 1024),
#      BENCH_STORE_BACKENDS (default "s3 file"),
#      BENCH_RUNS (runs of each transfer, edgectl and peer alternating;
#      the fastest is reported; default 1: a busy box may want 3),
#      BENCH_STORE_JOBS and BENCH_STORE_PART (edgectl -j / --part-size;
#      default: edgectl's own defaults),
#      BENCH_MEMSTORE_BYTES (RGW RAM store; default room for every upload
#      plus one object: overwritten objects wait for RGW's garbage collector),
#      BENCH_DIR (scratch parent; default $TMPDIR or /tmp; needs about 4x
#      the object size on disk for the file backend).
# Output: progress on stderr; "bench store: ..." summary lines on stdout.
# Page caches stay warm (the source was just written); dirty pages are
# flushed (sync -f) before each timed run so one run's writeback does not
# land in the next.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EDGECTL=${EDGECTL:-$TOP/build/edgectl}
AWS=/usr/bin/aws
TIME=/usr/bin/time
MB=${BENCH_STORE_MB:-${BENCH_MB:-1024}}
RUNS=${BENCH_RUNS:-1}
JOBS=${BENCH_STORE_JOBS:-}
PART=${BENCH_STORE_PART:-}
BACKENDS=${BENCH_STORE_BACKENDS:-s3 file}

say() { echo "store.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
case $MB in '' | *[!0-9]* | 0) die "BENCH_STORE_MB/BENCH_MB: not a positive number of MiB: '$MB'" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS: not a positive number: '$RUNS'" ;; esac
need=("$EDGECTL" "$TIME")
case " $BACKENDS " in *" s3 "*) need+=("$AWS") ;; esac
for x in "${need[@]}"; do
	[ -x "$x" ] || die "missing $x (make; tests/lib/deps.sh bench)"
done
command -v jq >/dev/null || die "needs jq (tests/lib/deps.sh)"

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-store.XXXXXX")
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_private_edgectl

export EDGECTL_ROOT=$dir/root
unset EDGECTL_STORE

say "writing $MB MiB of random bytes"
head -c "$((MB * 1048576))" /dev/urandom >"$dir/src"
size=$(stat -c %s "$dir/src")

# measure NAME CMD...: time one run of CMD (stdout kept in $dir/NAME.out);
# $dir/NAME.time keeps "seconds kib" of the fastest run so far, NAME.t
# those of the last one
measure() {
	bench_run "$@"
	echo "$BENCH_S $BENCH_K" >"$dir/$1.t"
	bench_keep_best "$1"
}

# same FILE WHAT: FILE must equal the source
same() {
	cmp -s "$dir/src" "$1" || die "$2: the bytes differ from the source"
	rm -f "$1"
}

eopts=()
[ -n "$JOBS" ] && eopts+=(-j "$JOBS")
[ -n "$PART" ] && eopts+=(--part-size "$PART")
edesc="-j ${JOBS:-4 (default)}, --part-size ${PART:-16M (default)}"

# check_put NAME: edgectl's --json put result says it sent every part
check_put() {
	local out=$dir/$1.out
	jq -e --argjson size "$size" '.size_bytes == $size and .parts_resumed == 0
		and .bytes_sent == $size' "$out" >/dev/null ||
		die "$1: unexpected put result (a resumed or short upload?): $(cat "$out")"
}

bench_s3() {
	local store parts etag asize
	say "s3: starting Ceph RGW"
	bench_rgw_start "${BENCH_MEMSTORE_BYTES:-$(((2 * RUNS + 1) * MB * 1048576 + (512 << 20)))}"

	# both tools get the same credentials and nothing from the user's config
	mkdir -p "$dir/home"
	export HOME=$dir/home AWS_CONFIG_FILE=$dir/home/aws-config AWS_SHARED_CREDENTIALS_FILE=$dir/home/aws-credentials
	: >"$AWS_CONFIG_FILE"
	: >"$AWS_SHARED_CREDENTIALS_FILE"
	export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
	export AWS_REGION=$S3_REGION AWS_DEFAULT_REGION=$S3_REGION AWS_EC2_METADATA_DISABLED=true
	export AWS_PAGER=
	unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_PROFILE

	store="s3://$S3_BUCKET/edgectl?endpoint=$S3_ENDPOINT"
	# warm-up, untimed: RGW creates its data and multipart pools on first
	# use, which would land in whichever tool goes first
	head -c $((12 << 20)) "$dir/src" >"$dir/warm"
	"$EDGECTL" --store "$store" -q store put --part-size 5M warm "$dir/warm" ||
		die "s3: warm-up upload with edgectl failed"
	"$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp --only-show-errors "$dir/warm" "s3://$S3_BUCKET/edgectl/warm" ||
		die "s3: warm-up upload with aws failed"
	rm -f "$dir/warm"
	adesc="awscli $("$AWS" --version 2>&1 | sed 's,^aws-cli/\([^ ]*\).*,\1,') defaults"
	local i
	for i in $(seq 1 "$RUNS"); do
		say "s3 upload, run $i: edgectl store put, aws s3 cp"
		measure s3-up-edgectl "$EDGECTL" --store "$store" --json store put "${eopts[@]}" big "$dir/src"
		check_put s3-up-edgectl
		measure s3-up-aws "$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp --no-progress --only-show-errors \
			"$dir/src" "s3://$S3_BUCKET/edgectl/aws-big"
	done
	# the server holds a multipart object with as many parts as edgectl
	# says it sent (RGW's multipart ETag is "MD5-PARTS")
	parts=$(jq -r .parts "$dir/s3-up-edgectl.out")
	etag=$("$EDGECTL" --store "$store" --json store stat big | jq -r .etag)
	if [ "$parts" -gt 1 ]; then
		case $etag in *-"$parts" | *-"$parts"\") ;; *) die "s3: edgectl reported $parts parts, the server's ETag is $etag" ;; esac
	fi
	asize=$("$EDGECTL" --store "$store" --json store stat aws-big | jq -r .size_bytes)
	[ "$asize" = "$size" ] || die "s3: aws uploaded $asize bytes, not $size"
	# both download the object edgectl uploaded
	for i in $(seq 1 "$RUNS"); do
		say "s3 download, run $i: edgectl store get, aws s3 cp"
		measure s3-down-edgectl "$EDGECTL" --store "$store" -q store get "${eopts[@]}" big "$dir/dst"
		same "$dir/dst" "s3: edgectl store get"
		measure s3-down-aws "$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp --no-progress --only-show-errors \
			"s3://$S3_BUCKET/edgectl/big" "$dir/dst"
		same "$dir/dst" "s3: aws s3 cp"
	done
	echo "$edesc, $parts parts" >"$dir/s3-edgectl.desc"
	echo "$adesc" >"$dir/s3-aws.desc"
	bench_rgw_stop
}

# cp + fdatasync of the copy: what edgectl's fsync'd write costs with cp
# shellcheck disable=SC2016 # expanded by the inner bash
CPSYNC=(bash -c 'cp "$1" "$2" && sync -d "$2"' cp+sync)

bench_file() {
	local store="file://$dir/fstore" i
	for i in $(seq 1 "$RUNS"); do
		say "file upload, run $i: edgectl store put, cp, cp+sync"
		measure file-up-edgectl "$EDGECTL" --store "$store" --json store put "${eopts[@]}" big "$dir/src"
		check_put file-up-edgectl
		cmp -s "$dir/src" "$dir/fstore/big" || die "file: the stored object differs from the source"
		rm -f "$dir/cp-up"
		measure file-up-cp cp "$dir/src" "$dir/cp-up"
		rm -f "$dir/cp-up"
		measure file-up-cpsync "${CPSYNC[@]}" "$dir/src" "$dir/cp-up"
		same "$dir/cp-up" "file: cp"
	done
	for i in $(seq 1 "$RUNS"); do
		say "file download, run $i: edgectl store get, cp, cp+sync"
		measure file-down-edgectl "$EDGECTL" --store "$store" -q store get "${eopts[@]}" big "$dir/dst"
		same "$dir/dst" "file: edgectl store get"
		measure file-down-cp cp "$dir/fstore/big" "$dir/dst"
		rm -f "$dir/dst"
		measure file-down-cpsync "${CPSYNC[@]}" "$dir/fstore/big" "$dir/dst"
		same "$dir/dst" "file: cp"
	done
	echo "$edesc, $(jq -r .parts "$dir/file-up-edgectl.out") parts" >"$dir/file-edgectl.desc"
	echo "coreutils $(cp --version | sed -n '1s/.* //p')" >"$dir/file-cp.desc"
	echo "cp, then sync -d the copy" >"$dir/file-cpsync.desc"
}

for b in $BACKENDS; do
	case $b in
	s3) bench_s3 ;;
	file) bench_file ;;
	*) die "BENCH_STORE_BACKENDS: unknown backend '$b' (s3, file)" ;;
	esac
done

# summary: one line per measurement, then edgectl/peer ratios
# (time ratio < 1: edgectl faster; RSS ratio < 1: edgectl smaller)
line() { # BACKEND DIR TOOL
	local s k
	read -r s k <"$dir/$1-$2-$3.time"
	awk -v b="$1" -v d="$2" -v t="$3" -v mb="$MB" -v s="$s" -v k="$k" -v runs="$RUNS" \
		-v desc="$(cat "$dir/$1-$3.desc")" 'BEGIN {
		printf "bench store: %-4s %-8s %-8s %5d MiB in %7.2f s %8.1f MiB/s  peak RSS %7.1f MiB  (%s; best of %d)\n",
			b, (d == "up" ? "upload" : "download"), (t == "cpsync" ? "cp+sync" : t), mb, s,
			(s > 0 ? mb / s : 0), k / 1024, desc, runs }'
}
ratio() { # BACKEND DIR PEER
	local se ke sp kp
	read -r se ke <"$dir/$1-$2-edgectl.time"
	read -r sp kp <"$dir/$1-$2-$3.time"
	awk -v b="$1" -v d="$2" -v p="$3" -v se="$se" -v ke="$ke" -v sp="$sp" -v kp="$kp" 'BEGIN {
		printf "bench store: %-4s %-8s edgectl/%-7s time %5.2f  peak RSS %5.2f\n",
			b, (d == "up" ? "upload" : "download"), (p == "cpsync" ? "cp+sync" : p),
			(sp > 0 ? se / sp : 0), (kp > 0 ? ke / kp : 0) }'
}
for b in $BACKENDS; do
	case $b in s3) peers="aws" ;; file) peers="cp cpsync" ;; esac
	for d in up down; do
		line "$b" "$d" edgectl
		for p in $peers; do line "$b" "$d" "$p"; done
		for p in $peers; do ratio "$b" "$d" "$p"; done
	done
done
