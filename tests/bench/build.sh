#!/bin/bash
# tests/bench/build.sh - `edgectl build --no-cache` of a large context
# (FROM scratch, one COPY of a tree: a Debian minbase root filesystem plus
# incompressible random data) against, in the same run on the same tree:
#   floor  tar -C TREE -cf - . | zstd -T0 -3   (no hashing, no fsync, no
#          image: what any zstd layer writer has to do at least), and
#          floor-sync, the same followed by sync(1) of its output file
#          (on disk when it returns, as edgectl's blob is)
#   umoci  umoci init + new + insert TREE /    (another tool turning a tree
#          into an OCI image layer; it writes gzip layers)
# Reports wall seconds, MiB/s of context, edgectl/floor and edgectl/umoci
# ratios, output sizes and peak RSS (/usr/bin/time -f %M; for a pipeline
# the largest of its processes), plus edgectl's peak RSS on a quarter-size
# layer to show whether its memory grows with the layer. A benchmark
# reports: it never fails on speed, only when something is broken (a tool
# fails, edgectl's layer does not hold what tar holds).
#
#   tests/bench/build.sh                     minbase + 512 MiB random
#   BENCH_MB=64 BENCH_BUILD_ROOTFS=none tests/bench/build.sh      quick
#
# The minbase tree is made once with debootstrap (needs root and the
# network) and kept as a tar in the cache dir; the random data is cached
# too. The Debian mirror is read at run time from the apt sources
# (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources).
#
# env: BENCH_BUILD_RANDOM_MB (random data in the context; default BENCH_MB,
#      else 512), BENCH_BUILD_ROOTFS (minbase or none; default minbase),
#      BENCH_RUNS (runs of each tool, interleaved; the fastest is reported;
#      default 1), BENCH_BUILD_FRAME (edgectl --frame-size; default
#      edgectl's), BENCH_DEBIAN_MIRROR (mirror URL instead of the apt
#      sources'), BENCH_CACHE_DIR (default
#      ${XDG_CACHE_HOME:-~/.cache}/edgectl-bench), BENCH_DIR (scratch
#      parent; default $TMPDIR or /tmp; needs about 2x the context and
#      2x more per run), BENCH_KEEP=1 (keep the scratch dir),
#      BENCH_BASELINE (another edgectl binary, e.g. main's, measured in
#      the same runs as "baseline": before/after ratios from one run),
#      BENCH_BUILD_UMOCI=0 (leave umoci out: quicker runs when only the
#      floor ratio is wanted), BENCH_NICE=N (root: run the whole benchmark,
#      every tool alike, in a session of its own whose autogroup has nice
#      N, e.g. -10: on a machine loaded by other work, wall times then
#      show the tools rather than the share of the CPUs each happened to
#      get; without it, at a load above the CPU count, a wall time can be
#      10x the CPU time and the ratios are noise - the CPU-time ratio
#      printed beside them is the steadier figure).
# Output: progress on stderr; "bench build: ..." summary lines on stdout.
set -euo pipefail
if [ -n "${BENCH_NICE:-}" ] && [ -z "${BENCH_NICE_SESSION:-}" ]; then
	case $BENCH_NICE in -[0-9] | -1[0-9] | -20 | [0-9] | 1[0-9]) ;;
	*) echo "build.sh: BENCH_NICE: a nice value (-20 to 19), not '$BENCH_NICE'" >&2; exit 1 ;; esac
	[ "$(id -u)" = 0 ] || { echo "build.sh: BENCH_NICE needs root" >&2; exit 1; }
	# a new session is a new autogroup: its nice sets the group's share
	BENCH_NICE_SESSION=1 exec setsid -w "$0" "$@"
fi
if [ -n "${BENCH_NICE_SESSION:-}" ]; then
	if [ -w /proc/self/autogroup ]; then
		echo "$BENCH_NICE" >/proc/self/autogroup
	fi
	renice -n "$BENCH_NICE" -p $$ >/dev/null
fi
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EDGECTL=${EDGECTL:-$TOP/build/edgectl}
TIME=/usr/bin/time
RAND_MB=${BENCH_BUILD_RANDOM_MB:-${BENCH_MB:-512}}
ROOTFS=${BENCH_BUILD_ROOTFS:-minbase}
RUNS=${BENCH_RUNS:-1}
UMOCI_ON=${BENCH_BUILD_UMOCI:-1}
FRAME=${BENCH_BUILD_FRAME:-}
SUITE=bookworm
CACHE=${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:?}/.cache}/edgectl-bench}

say() { echo "build.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
case $RAND_MB in '' | *[!0-9]*) die "BENCH_BUILD_RANDOM_MB/BENCH_MB: not a number of MiB: '$RAND_MB'" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS: not a positive number: '$RUNS'" ;; esac
case $ROOTFS in minbase | none) ;; *) die "BENCH_BUILD_ROOTFS: minbase or none, not '$ROOTFS'" ;; esac
[ "$ROOTFS" = none ] && [ "$RAND_MB" = 0 ] && die "an empty context: set BENCH_BUILD_RANDOM_MB or BENCH_BUILD_ROOTFS=minbase"
[ -x "$EDGECTL" ] || die "missing $EDGECTL (make)"
for t in "$TIME" tar zstd jq $([ "$UMOCI_ON" = 0 ] || echo umoci); do
	command -v "$t" >/dev/null || die "needs $t (tests/lib/deps.sh bench)"
done

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-build.XXXXXX")
# unmount whatever is mounted at or below $1 (debootstrap mounts proc and
# sysfs inside its target; an interrupted run can leave them)
umount_below() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
	umount_below "$dir"
	if [ -n "${BENCH_KEEP:-}" ]; then
		say "kept $dir (BENCH_KEEP)"
	else
		rm -rf --one-file-system "$dir"
	fi
	rm -f "$CACHE"/*.partial."$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a private copy: the tree's build/edgectl may be rebuilt while this runs
mkdir -p "$dir/bin"
cp "$EDGECTL" "$dir/bin/edgectl"
say "edgectl: $EDGECTL, built $(date -r "$EDGECTL" '+%F %T')"
EDGECTL=$dir/bin/edgectl
BASELINE=
if [ -n "${BENCH_BASELINE:-}" ]; then
	[ -x "$BENCH_BASELINE" ] || die "BENCH_BASELINE: not an executable: $BENCH_BASELINE"
	cp "$BENCH_BASELINE" "$dir/bin/edgectl-baseline"
	BASELINE=$dir/bin/edgectl-baseline
	say "baseline: $BENCH_BASELINE, built $(date -r "$BENCH_BASELINE" '+%F %T')"
fi

# --- the Debian mirror, from apt's own configuration ---

# the first URI of a deb822 stanza (Types: deb, Suites: has $1) in file $2
deb822_uri() {
	awk -v suite="$1" '
	function keep(k, v) {
		if (k == "uris") uris = uris " " v
		else if (k == "suites") suites = suites " " v
		else if (k == "types") types = types " " v
		else if (k == "enabled") enabled = tolower(v)
	}
	function flush() {
		if (uris != "" && enabled != "no" && (types " ") ~ / deb / &&
		    (suites " ") ~ (" " suite " ")) {
			split(uris, u, " ")
			print u[1]
			found = 1
			exit
		}
		types = uris = suites = key = ""
		enabled = "yes"
	}
	/^[ \t]*$/ { flush(); next }
	/^#/ { next }
	/^[ \t]/ { v = $0; gsub(/^[ \t]+|[ \t]+$/, "", v); keep(key, v); next }
	{
		i = index($0, ":")
		if (!i) next
		key = tolower(substr($0, 1, i - 1))
		v = substr($0, i + 1)
		gsub(/^[ \t]+|[ \t]+$/, "", v)
		keep(key, v)
	}
	END { if (!found) flush() }' "$2"
}
# the URI of a one-line "deb [OPTIONS] URI SUITE COMPONENTS" for suite $1
list_uri() {
	awk -v suite="$1" '$1 == "deb" {
		i = 2
		if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
		if ($(i + 1) == suite) { print $i; exit }
	}' "$2"
}
apt_mirror() {
	local f m
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		m=$(list_uri "$SUITE" "$f")
		[ -n "$m" ] && { echo "${m%/}"; return 0; }
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		m=$(deb822_uri "$SUITE" "$f")
		[ -n "$m" ] && { echo "${m%/}"; return 0; }
	done
	return 1
}

# --- cached inputs ---

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
minbase_tar=$CACHE/minbase-$SUITE-$arch.tar
random_bin=$CACHE/random-${RAND_MB}M.bin
mkdir -p "$CACHE"

make_minbase() {
	local mirror boot log from="the apt sources"
	for t in debootstrap curl; do
		command -v "$t" >/dev/null || die "needs $t to make $minbase_tar (tests/lib/deps.sh bench)"
	done
	[ "$(id -u)" = 0 ] || die "debootstrap needs root to make $minbase_tar (run once as root; later runs use the cache)"
	if [ -n "${BENCH_DEBIAN_MIRROR:-}" ]; then
		mirror=${BENCH_DEBIAN_MIRROR%/}
		from=BENCH_DEBIAN_MIRROR
	else
		mirror=$(apt_mirror) ||
			die "no Debian mirror for '$SUITE' in /etc/apt/sources.list{,.d/*.list,.d/*.sources}: set BENCH_DEBIAN_MIRROR=URL"
	fi
	say "checking the Debian mirror $mirror (from $from)"
	if ! curl -fsS -o /dev/null --connect-timeout 15 --max-time 60 "$mirror/dists/$SUITE/Release" 2>"$dir/curl.err"; then
		die "cannot reach the Debian mirror: $(cat "$dir/curl.err") ($mirror/dists/$SUITE/Release). debootstrap needs it once to make $minbase_tar; fix the network or proxy, set BENCH_DEBIAN_MIRROR=URL, put such a tar there yourself, or run with BENCH_BUILD_ROOTFS=none"
	fi
	boot=$dir/debootstrap
	log=$dir/debootstrap.log
	say "debootstrap --variant=minbase $SUITE (once; log: $log)"
	if ! debootstrap --variant=minbase "$SUITE" "$boot" "$mirror" >"$log" 2>&1; then
		umount_below "$boot"
		tail -n 20 "$log" >&2
		if grep -qiE 'Failed getting release|Couldn.t download|Temporary failure|Connection|resolve' "$log"; then
			die "debootstrap could not download from $mirror (see above); set BENCH_DEBIAN_MIRROR=URL or fix the network"
		fi
		die "debootstrap failed (see above)"
	fi
	umount_below "$boot"
	tar --numeric-owner -C "$boot" -cf "$minbase_tar.partial.$$" .
	mv "$minbase_tar.partial.$$" "$minbase_tar"
	rm -rf --one-file-system "$boot"
}

(
	flock 9
	if [ "$ROOTFS" = minbase ] && [ ! -s "$minbase_tar" ]; then
		make_minbase
	fi
	if [ "$RAND_MB" -gt 0 ] && [ "$(stat -c %s "$random_bin" 2>/dev/null || echo 0)" != $((RAND_MB * 1048576)) ]; then
		say "writing $RAND_MB MiB of random bytes to $random_bin (once)"
		head -c $((RAND_MB * 1048576)) /dev/urandom >"$random_bin.partial.$$"
		mv "$random_bin.partial.$$" "$random_bin"
	fi
) 9>"$CACHE/.lock"

# --- the context ---

ctx=$dir/ctx
tree=$ctx/tree
mkdir -p "$tree"
desc=
if [ "$ROOTFS" = minbase ]; then
	tar --numeric-owner -C "$tree" -xpf "$minbase_tar"
	# an image's /dev is the runtime's; edgectl's COPY refuses device
	# nodes, fifos and sockets (debootstrap makes a few in /dev): every
	# tool gets the tree without them
	nspecial=$(find "$tree" \( -type b -o -type c -o -type p -o -type s \) -print -delete | wc -l)
	desc="minbase $SUITE $(du -s --apparent-size -BM "$tree" | cut -f1)iB, $(find "$tree" | wc -l) entries ($nspecial special files dropped)"
fi
if [ "$RAND_MB" -gt 0 ]; then
	mkdir -p "$tree/opt"
	cp "$random_bin" "$tree/opt/random.bin"
	desc="${desc:+$desc + }$RAND_MB MiB random"
	head -c $((RAND_MB * 1048576 / 4)) "$random_bin" >"$ctx/quarter.bin"
fi
printf 'FROM scratch\nCOPY tree/ /\n' >"$ctx/Dockerfile"
printf 'FROM scratch\nCOPY quarter.bin /\n' >"$ctx/Dockerfile.quarter"
ctx_bytes=$(du -s --apparent-size -B1 "$tree" | cut -f1)
ctx_mb=$(awk -v b="$ctx_bytes" 'BEGIN { printf "%.0f", b / 1048576 }')
say "context: $ctx_mb MiB ($desc)"

# edgectl reads nothing from the user's configuration
mkdir -p "$dir/config"
export XDG_CONFIG_HOME=$dir/config
unset EDGECTL_ROOT EDGECTL_STORE SOURCE_DATE_EPOCH

quiesce() { sync -f "$dir" 2>/dev/null || sync; }

# measure NAME CMD...: time one run (stdout in $dir/NAME.out); keep
# "seconds kib" of the fastest run in $dir/NAME.time
measure() {
	local name=$1 s k best t0 t1 u sy cpu
	shift
	quiesce
	t0=$(date +%s%N)
	if ! "$TIME" -f '%U %S %M' -o "$dir/$name.rss" "$@" >"$dir/$name.out" 2>"$dir/$name.err"; then
		say "$name failed: $*"
		tail -n 20 "$dir/$name.err" >&2
		exit 1
	fi
	t1=$(date +%s%N)
	read -r u sy k < <(tail -n 1 "$dir/$name.rss")
	s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	cpu=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
	say "  $name: $s s, CPU $cpu s, peak RSS $k KiB"
	# CPU seconds (user + sys, all processes) of every run: on a busy
	# machine wall time is mostly the share of the CPUs a tool got
	echo "$cpu" >>"$dir/$name.cpu"
	if [ -f "$dir/$name.time" ]; then
		read -r best _ <"$dir/$name.time"
		awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }' || return 0
	fi
	echo "$s $k" >"$dir/$name.time"
}

eopts=()
[ -n "$FRAME" ] && eopts+=(--frame-size "$FRAME")
# shellcheck disable=SC2016 # expanded by the inner bash
FLOOR=(bash -c 'set -o pipefail; tar -C "$1" -cf - . | zstd -q -T0 -3 >"$2"' floor)
# the same, then fsync of the output (sync FILE): edgectl's blob is on
# disk when it returns, so the disk's write speed bounds it as it bounds
# this floor, not the first one
# shellcheck disable=SC2016
FLOOR_SYNC=(bash -c 'set -o pipefail; tar -C "$1" -cf - . | zstd -q -T0 -3 >"$2" && sync "$2"' floor-sync)
# shellcheck disable=SC2016
UMOCI=(bash -c 'umoci init --layout "$1" && umoci new --image "$1:t" && umoci insert --image "$1:t" "$2" /' umoci)

# Every run writes to new paths and nothing is deleted before the end: on
# an ext4 without a journal, creating files where many were just deleted
# is slow (the allocator skips recently deleted inodes), and edgectl is the
# only one of the three that creates a file per context file.
for i in $(seq 1 "$RUNS"); do
	say "run $i of $RUNS: edgectl build, tar | zstd, umoci"
	measure edgectl "$EDGECTL" --root "$dir/root-$i" --json build --no-cache "${eopts[@]}" -t bench:latest "$ctx"
	measure floor "${FLOOR[@]}" "$tree" "$dir/floor-$i.tar.zst"
	measure floor-sync "${FLOOR_SYNC[@]}" "$tree" "$dir/floor-sync-$i.tar.zst"
	if [ -n "$BASELINE" ]; then
		measure baseline "$BASELINE" --root "$dir/rootb-$i" --json build --no-cache "${eopts[@]}" -t bench:latest "$ctx"
	fi
	[ "$UMOCI_ON" = 0 ] || measure umoci "${UMOCI[@]}" "$dir/umoci-$i" "$tree"
done
if [ -f "$ctx/quarter.bin" ]; then
	say "edgectl build of a layer of a quarter of the random data (memory scaling)"
	measure edgectl-quarter "$EDGECTL" --root "$dir/root-quarter" --json build --no-cache "${eopts[@]}" \
		-f "$ctx/Dockerfile.quarter" -t bench:quarter "$ctx"
fi

# --- checks: edgectl's image holds one layer with what tar holds ---

jq -e '.layers == 1' "$dir/edgectl.out" >/dev/null || die "edgectl: expected one layer: $(cat "$dir/edgectl.out")"
blob() { echo "$1/blobs/${2%%:*}/${2#*:}"; }
# (the outputs of the last run: $dir/edgectl.out is its result)
manifest=$(jq -r '.digest' "$dir/edgectl.out")
layer=$(jq -r '.layers[0].digest' "$(blob "$dir/root-$RUNS" "$manifest")")
ltype=$(jq -r '.layers[0].mediaType' "$(blob "$dir/root-$RUNS" "$manifest")")
[ "$ltype" = application/vnd.oci.image.layer.v1.tar+zstd ] || die "edgectl: layer media type $ltype"
ec_blob=$(blob "$dir/root-$RUNS" "$layer")
# entry names (no "./", no trailing "/", no root entry), sorted; then
# "#hardlinks N" and "#bytes N" (sum of the entries' sizes)
listing() {
	tar -tvf - | awk '{ s += $3; n = $0
		if (n ~ / link to /) h++
		for (i = 0; i < 5; i++) sub(/^[^ ]+ +/, "", n)
		sub(/ -> .*| link to .*/, "", n); sub(/^\.\//, "", n); sub(/\/$/, "", n)
		if (n != "." && n != "") print n } END { printf "~hardlinks %d\n~bytes %.0f\n", h, s }' | LC_ALL=C sort
}
zstd -dc "$ec_blob" | listing >"$dir/list.edgectl" || die "edgectl: its layer does not decompress or untar"
zstd -dc "$dir/floor-$RUNS.tar.zst" | listing >"$dir/list.floor"
grep -v '^~' "$dir/list.edgectl" >"$dir/names.edgectl" || true
grep -v '^~' "$dir/list.floor" >"$dir/names.floor" || true
if ! cmp -s "$dir/names.edgectl" "$dir/names.floor"; then
	diff "$dir/names.floor" "$dir/names.edgectl" | head -n 20 >&2 || true
	die "edgectl: its layer's entries differ from tar's (diff above: < tar, > edgectl)"
fi
say "check: edgectl's layer has the $(wc -l <"$dir/names.floor") entries tar has"
# the same bytes, unless edgectl stored hardlinked files as copies
note=
if ! cmp -s "$dir/list.edgectl" "$dir/list.floor"; then
	read -r _ hf < <(grep '^~hardlinks' "$dir/list.floor")
	read -r _ he < <(grep '^~hardlinks' "$dir/list.edgectl")
	read -r _ bf < <(grep '^~bytes' "$dir/list.floor")
	read -r _ be < <(grep '^~bytes' "$dir/list.edgectl")
	note="bench build: note: edgectl's layer has $he hardlink entries (tar: $hf) and $((be - bf)) more bytes of file content than tar's"
fi
[ "$UMOCI_ON" = 0 ] || umoci_layer=$(find "$dir/umoci-$RUNS/blobs" -type f -size +1k -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)

# --- summary ---

fsize() { stat -c %s "$1"; }
ec_out=$(fsize "$ec_blob")
floor_out=$(fsize "$dir/floor-$RUNS.tar.zst")
[ "$UMOCI_ON" = 0 ] || umoci_out=$(fsize "$umoci_layer")
cpus=$(nproc)
echo "bench build: context $ctx_mb MiB ($desc), $cpus CPUs, best of $RUNS"
line() { # NAME OUTBYTES DESC
	local s k
	read -r s k <"$dir/$1.time"
	awk -v n="$1" -v s="$s" -v k="$k" -v mb="$ctx_mb" -v o="$2" -v d="$3" 'BEGIN {
		printf "bench build: %-15s %7.2f s %7.1f MiB/s  peak RSS %7.1f MiB  output %7.1f MiB  (%s)\n",
			n, s, (s > 0 ? mb / s : 0), k / 1024, o / 1048576, d }'
}
ratio() { # PEER
	local se ke sp kp
	read -r se ke <"$dir/edgectl.time"
	read -r sp kp <"$dir/$1.time"
	awk -v p="$1" -v se="$se" -v ke="$ke" -v sp="$sp" -v kp="$kp" 'BEGIN {
		printf "bench build: edgectl/%-7s time %5.2f  peak RSS %5.2f\n", p,
			(sp > 0 ? se / sp : 0), (kp > 0 ? ke / kp : 0) }'
}
line edgectl "$ec_out" "edgectl build --no-cache, zstd -3, frames ${FRAME:-8M (default)}"
line floor "$floor_out" "tar | zstd -T0 -3, $(zstd -V | sed -n 's/.* v\([0-9.]*\),.*/zstd \1/p'); RSS of the larger process"
[ "$UMOCI_ON" = 0 ] || line umoci "$umoci_out" "$(umoci --version | sed 's/ version / /') init+new+insert, gzip"
[ -z "$BASELINE" ] || line baseline "$ec_out" "BENCH_BASELINE: $BENCH_BASELINE"
line floor-sync "$floor_out" "the floor, then sync(1) of its output file: durable like edgectl's blob"
ratio floor
ratio floor-sync
[ "$UMOCI_ON" = 0 ] || ratio umoci
if [ -n "$BASELINE" ]; then
	ratio baseline
	read -r sb _ <"$dir/baseline.time"
	read -r sf _ <"$dir/floor.time"
	awk -v b="$sb" -v f="$sf" 'BEGIN { printf "bench build: baseline/floor  time %5.2f\n", (f > 0 ? b / f : 0) }'
fi
echo "bench build: load $(cut -d' ' -f1-3 /proc/loadavg)${BENCH_NICE:+, run at autogroup nice $BENCH_NICE (BENCH_NICE)}"
# CPU seconds (all processes, fastest run of each): steadier than wall
# time when the machine is busy with other work
cpumin() { sort -n "$dir/$1.cpu" | head -n 1; }
awk -v e="$(cpumin edgectl)" -v f="$(cpumin floor)" 'BEGIN {
	printf "bench build: edgectl/floor   CPU  %5.2f (least CPU seconds of the runs: %.2f / %.2f)\n", (f > 0 ? e / f : 0), e, f }'
if [ -n "$BASELINE" ]; then
	awk -v e="$(cpumin baseline)" -v f="$(cpumin floor)" 'BEGIN {
		printf "bench build: baseline/floor  CPU  %5.2f\n", (f > 0 ? e / f : 0) }'
fi
cpuline() { # NAME: CPU seconds of each run
	[ -f "$dir/$1.cpu" ] || return 0
	echo "bench build: $1 CPU (user+sys) per run: $(paste -sd' ' "$dir/$1.cpu") s"
}
for n in edgectl baseline floor floor-sync umoci; do cpuline "$n"; done
[ -z "$note" ] || echo "$note"
[ -f "$dir/edgectl-quarter.time" ] || exit 0
read -r _ kfull <"$dir/edgectl.time"
read -r _ kq <"$dir/edgectl-quarter.time"
awk -v a="$kfull" -v b="$kq" -v mb="$ctx_mb" -v q="$((RAND_MB / 4))" 'BEGIN {
	printf "bench build: edgectl peak RSS %.1f MiB for the %d MiB layer, %.1f MiB for a %d MiB layer (ratio %.2f for %.1fx the data)\n",
		a / 1024, mb, b / 1024, q, (b > 0 ? a / b : 0), (q > 0 ? mb / q : 0) }'
