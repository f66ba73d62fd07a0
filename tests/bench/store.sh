#!/bin/bash
# tests/bench/store.sh - moving a large object through a real S3 server:
# `edgectl store put/get` (multipart, parallel) vs `aws s3 cp` (Debian
# awscli, /usr/bin/aws: a pyenv shim may shadow `aws`), same file, same Ceph
# RGW, same run. Reports seconds, MiB/s, edgectl/aws ratios and peak RSS
# (/usr/bin/time -f %M). A benchmark reports: it never fails on speed, only
# when something is broken (a transfer fails or the bytes differ).
#
# env: BENCH_STORE_MB (object size; default BENCH_MB, else 1024),
#      BENCH_RUNS (repeat each transfer, report the fastest; default 1: a
#      busy box may want 3), BENCH_STORE_JOBS and BENCH_STORE_PART (edgectl
#      -j / --part-size; default: edgectl's own defaults),
#      BENCH_MEMSTORE_BYTES (RGW RAM store; default room for every upload
#      plus one object: overwritten objects wait for RGW's garbage collector),
#      BENCH_DIR (scratch; default a new dir under /tmp; the source and one
#      download of BENCH_STORE_MB each go there).
# Output: progress on stderr; one "bench store: ..." summary line per
# measurement on stdout.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EDGECTL=$TOP/build/edgectl
AWS=/usr/bin/aws
MB=${BENCH_STORE_MB:-${BENCH_MB:-1024}}
RUNS=${BENCH_RUNS:-1}
JOBS=${BENCH_STORE_JOBS:-}
PART=${BENCH_STORE_PART:-}
TIME=/usr/bin/time

say() { echo "store.sh: $*" >&2; }
for x in "$EDGECTL" "$AWS" "$TIME"; do
	[ -x "$x" ] || { say "missing $x (make build/edgectl; tests/lib/deps.sh bench)"; exit 1; }
done

dir=$(mktemp -d "${BENCH_DIR:-/tmp}/edgectl-bench-store.XXXXXX")
rgw=
cleanup() {
	[ -n "$rgw" ] && "$TOP/tests/lib/stop-rgw.sh" "$rgw" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting Ceph RGW"
rgw=$dir/rgw
OWNER_PID=$$ MEMSTORE_BYTES=${BENCH_MEMSTORE_BYTES:-$(((2 * RUNS + 1) * MB * 1048576 + (512 << 20)))} \
	"$TOP/tests/lib/start-rgw.sh" auto "$rgw" bench >"$dir/rgw.env" 2>"$dir/rgw.log" ||
	{ cat "$dir/rgw.log" >&2; say "RGW did not start"; exit 1; }
# shellcheck disable=SC1091
. "$dir/rgw.env"

# both tools get the same credentials and nothing from the user's config
mkdir -p "$dir/home"
export HOME=$dir/home AWS_CONFIG_FILE=$dir/home/aws-config AWS_SHARED_CREDENTIALS_FILE=$dir/home/aws-credentials
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_REGION=$S3_REGION AWS_DEFAULT_REGION=$S3_REGION AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN EDGECTL_STORE
export EDGECTL_ROOT=$dir/root

say "writing $MB MiB of random bytes"
head -c "$((MB * 1048576))" /dev/urandom >"$dir/src"

# run NAME CMD...: time CMD (BENCH_RUNS times), leave "seconds kib" of the
# fastest run in $dir/NAME.time
run() {
	local name=$1 i s k best=
	shift
	for i in $(seq 1 "$RUNS"); do
		if ! "$TIME" -f '%e %M' -o "$dir/$name.t" "$@" >"$dir/$name.out" 2>&1; then
			say "$name failed: $*"
			cat "$dir/$name.out" >&2
			exit 1
		fi
		read -r s k <"$dir/$name.t"
		say "  $name run $i: $s s, peak RSS $k KiB"
		if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$s
			cp "$dir/$name.t" "$dir/$name.time"
		fi
	done
}

store="s3://$S3_BUCKET/edgectl?endpoint=$S3_ENDPOINT"
eopts=()
[ -n "$JOBS" ] && eopts+=(-j "$JOBS")
[ -n "$PART" ] && eopts+=(--part-size "$PART")
edesc="-j ${JOBS:-4 (default)}, --part-size ${PART:-16M (default)}, best of $RUNS"
adesc="awscli $("$AWS" --version 2>&1 | sed 's,^aws-cli/\([^ ]*\).*,\1,') defaults, best of $RUNS"

say "upload: edgectl store put"
run up-edgectl "$EDGECTL" --store "$store" -q store put "${eopts[@]}" big "$dir/src"
say "upload: aws s3 cp"
run up-aws "$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp --no-progress "$dir/src" "s3://$S3_BUCKET/aws/big"
# both download the object edgectl uploaded
say "download: edgectl store get"
run down-edgectl "$EDGECTL" --store "$store" -q store get "${eopts[@]}" big "$dir/dst"
cmp "$dir/src" "$dir/dst" || { say "edgectl download differs from the source"; exit 1; }
rm -f "$dir/dst"
say "download: aws s3 cp"
run down-aws "$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp --no-progress "s3://$S3_BUCKET/edgectl/big" "$dir/dst"
cmp "$dir/src" "$dir/dst" || { say "aws download differs from the source"; exit 1; }
rm -f "$dir/dst"

line() { # DIR TOOL DESC
	local s kib
	read -r s kib <"$dir/$1-$2.time"
	awk -v d="$1" -v t="$2" -v mb="$MB" -v s="$s" -v k="$kib" -v desc="$3" 'BEGIN {
		printf "bench store: %-8s %-7s %5d MiB in %7.2f s %8.1f MiB/s  peak RSS %7.1f MiB  (%s)\n",
			(d == "up" ? "upload" : "download"), t, mb, s, (s > 0 ? mb / s : 0), k / 1024, desc }'
}
ratio() { # DIR
	local se ke sa ka
	read -r se ke <"$dir/$1-edgectl.time"
	read -r sa ka <"$dir/$1-aws.time"
	awk -v d="$1" -v se="$se" -v ke="$ke" -v sa="$sa" -v ka="$ka" 'BEGIN {
		printf "bench store: %-8s edgectl/aws: time %.2f, MiB/s %.2f, peak RSS %.2f\n",
			(d == "up" ? "upload" : "download"), (sa > 0 ? se / sa : 0),
			(se > 0 ? sa / se : 0), (ka > 0 ? ke / ka : 0) }'
}
for d in up down; do
	line "$d" edgectl "$edesc"
	line "$d" aws "$adesc"
	ratio "$d"
done
