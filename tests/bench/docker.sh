#!/bin/bash
# tests/bench/docker.sh - edgectl against docker, the tool users compare
# with, on the same image in the same run:
#   build + push   `docker build` (BuildKit) + `docker push` vs
#                  `edgectl build --no-cache` + `edgectl push`, each push
#                  to a new, empty docker-registry (tests/lib/start-registry.sh)
#   pull           `docker pull` into a fresh daemon (image ready to run:
#                  layers unpacked by overlay2) vs `edgectl pull` into a new
#                  root (layers verified and unpacked, ready for `run`)
#   floors         build: tar | zstd -T0 -3 of the context; push: curl
#                  uploads of edgectl's blobs (all at once, nothing hashed);
#                  pull: curl downloads of them + zstd -dc | tar -x of each
#                  layer (in parallel, nothing hashed or fsync'd)
# The image (a Dockerfile FROM scratch): a Debian minbase root filesystem,
# an incompressible "weights" file and a compressible data dir (copies of
# the minbase tar), >= 2 GiB by default. docker runs as a private dockerd
# (tests/lib/docker.bash: its own data root and socket, --iptables=false,
# no bridge), started fresh for the pulls and stopped by PID. Peak RSS:
# /usr/bin/time of the client; for docker, plus the peak of dockerd and its
# containerd over the step (their VmHWM, reset before each step through
# /proc/PID/clear_refs). Reports seconds, MiB/s of image content, ratios
# docker/edgectl against the goals (>= 2x faster pull and build+push, lower
# RSS), never failing on speed; it fails only when something is broken.
#
#   tests/bench/docker.sh                          minbase + 1536 + 384 MiB
#   BENCH_WEIGHTS_MB=64 BENCH_TEXT_MB=32 tests/bench/docker.sh     quick
#
# env: BENCH_WEIGHTS_MB (incompressible; default 1536), BENCH_TEXT_MB
#      (compressible; default 384), BENCH_RUNS (runs of each comparison,
#      interleaved, fastest reported; default 2), BENCH_CACHE_DIR,
#      BENCH_DIR (scratch parent; needs ~6x the image), BENCH_KEEP=1.
# Needs root (dockerd), docker.io, docker-registry, zstd, curl, jq and the
# minbase tar tests/bench/build.sh caches (made by it once with debootstrap).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EDGECTL=${EDGECTL:-$TOP/build/edgectl}
TIME=/usr/bin/time
WMB=${BENCH_WEIGHTS_MB:-1536}
TMB=${BENCH_TEXT_MB:-384}
RUNS=${BENCH_RUNS:-2}
CACHE=${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:?}/.cache}/edgectl-bench}

say() { echo "docker.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
for v in "$WMB" "$TMB" "$RUNS"; do
	case $v in '' | *[!0-9]*) die "BENCH_WEIGHTS_MB, BENCH_TEXT_MB, BENCH_RUNS: numbers, not '$v'" ;; esac
done
[ "$RUNS" -gt 0 ] || die "BENCH_RUNS: at least 1"
[ "$(id -u)" = 0 ] || die "needs root (a private dockerd)"
[ -x "$EDGECTL" ] || die "missing $EDGECTL (make)"
for t in "$TIME" tar zstd curl jq /usr/sbin/dockerd /usr/bin/docker docker-registry; do
	command -v "$t" >/dev/null || die "needs $t (tests/lib/deps.sh bench)"
done
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
minbase_tar=$CACHE/minbase-bookworm-$arch.tar
if [ ! -s "$minbase_tar" ]; then
	say "no $minbase_tar: making it with tests/bench/build.sh (debootstrap, once)"
	BENCH_MB=1 "$TOP/tests/bench/build.sh" >/dev/null || die "tests/bench/build.sh could not make $minbase_tar"
fi

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-docker.XXXXXX")
registries=()
# shellcheck source=tests/lib/docker.bash
. "$TOP/tests/lib/docker.bash"
cleanup() {
	local r
	docker_stop || true
	for r in "${registries[@]}"; do "$TOP/tests/lib/stop-registry.sh" "$r" 2>/dev/null || true; done
	if [ -n "${BENCH_KEEP:-}" ]; then
		say "kept $dir (BENCH_KEEP)"
	else
		rm -rf --one-file-system "$dir"
	fi
	rm -f "$CACHE"/*.partial."$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir/bin"
cp "$EDGECTL" "$dir/bin/edgectl"
say "edgectl: $EDGECTL, built $(date -r "$EDGECTL" '+%F %T')"
EDGECTL=$dir/bin/edgectl
mkdir -p "$dir/config"
export XDG_CONFIG_HOME=$dir/config
unset EDGECTL_ROOT EDGECTL_STORE SOURCE_DATE_EPOCH REGISTRY_AUTH_FILE
export DOCKER_BUILDKIT=1

# --- the context ---
random_bin=$CACHE/random-${WMB}M.bin
(
	flock 9
	if [ "$(stat -c %s "$random_bin" 2>/dev/null || echo 0)" != $((WMB * 1048576)) ]; then
		say "writing $WMB MiB of random bytes to $random_bin (once)"
		head -c $((WMB * 1048576)) /dev/urandom >"$random_bin.partial.$$"
		mv "$random_bin.partial.$$" "$random_bin"
	fi
) 9>"$CACHE/.lock"
ctx=$dir/ctx
mkdir -p "$ctx/rootfs" "$ctx/data"
tar --numeric-owner -C "$ctx/rootfs" -xpf "$minbase_tar"
# an image's /dev is the runtime's; edgectl's COPY refuses device nodes
find "$ctx/rootfs" \( -type b -o -type c -o -type p -o -type s \) -delete
cp "$random_bin" "$ctx/weights.bin"
# compressible: slices of the minbase tar (binaries, text, zeros), TMB MiB
i=0
left=$((TMB * 1048576))
msize=$(stat -c %s "$minbase_tar")
while [ "$left" -gt 0 ]; do
	n=$((left < msize ? left : msize))
	head -c "$n" "$minbase_tar" >"$ctx/data/part-$i.bin"
	left=$((left - n))
	i=$((i + 1))
done
cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
COPY weights.bin /models/weights.bin
COPY data/ /data/
EOF
printf 'Dockerfile\n' >"$ctx/.dockerignore"
img_bytes=$(du -s --apparent-size -B1 --exclude=Dockerfile --exclude=.dockerignore "$ctx" | cut -f1)
img_mb=$(awk -v b="$img_bytes" 'BEGIN { printf "%.0f", b / 1048576 }')
say "image content: $img_mb MiB (minbase + $WMB MiB random + $TMB MiB compressible)"

quiesce() { sync -f "$dir" 2>/dev/null || sync; }

# the daemon's processes: dockerd and its children (containerd, shims)
daemon_pids() {
	local p
	p=$(cat "$DOCKER_DIR/dockerd.pid")
	echo "$p"
	ps -o pid= --ppid "$p" 2>/dev/null || true
}
daemon_reset_peak() {
	local p
	for p in $(daemon_pids); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done
}
# CPU seconds (user + sys) the daemon's processes have used so far
daemon_cpu() {
	local p
	for p in $(daemon_pids); do cat "/proc/$p/stat" 2>/dev/null; done |
		awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); t += $12 + $13 } END { printf "%.2f", t / hz }'
}
daemon_peak_kib() {
	local p s=0 k
	for p in $(daemon_pids); do
		k=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		s=$((s + ${k:-0}))
	done
	echo "$s"
}

# measure NAME CMD...: time one run (stdout in $dir/NAME.out); keep
# "seconds kib" of the fastest run in $dir/NAME.time. With DAEMON=1 the
# daemon's peak over the step is added to the client's.
measure() {
	local name=$1 s k best t0 t1 d=0 c0=0 c1=0 u sy cpu
	shift
	quiesce
	if [ -n "${DAEMON:-}" ]; then
		daemon_reset_peak
		c0=$(daemon_cpu)
	fi
	t0=$(date +%s%N)
	if ! "$TIME" -f '%U %S %M' -o "$dir/$name.rss" "$@" >"$dir/$name.out" 2>"$dir/$name.err"; then
		say "$name failed: $*"
		tail -n 20 "$dir/$name.err" >&2
		exit 1
	fi
	t1=$(date +%s%N)
	read -r u sy k < <(tail -n 1 "$dir/$name.rss")
	if [ -n "${DAEMON:-}" ]; then
		d=$(daemon_peak_kib)
		c1=$(daemon_cpu)
	fi
	k=$((k + d))
	s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	cpu=$(awk -v u="$u" -v s="$sy" -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", u + s + b - a }')
	echo "$cpu" >>"$dir/$name.cpu"
	say "  $name: $s s, CPU $cpu s, peak RSS $k KiB${DAEMON:+ (daemon $d KiB)}"
	if [ -f "$dir/$name.time" ]; then
		read -r best _ <"$dir/$name.time"
		awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }' || return 0
	fi
	echo "$s $k" >"$dir/$name.time"
}

reg_start() {
	local tries=0 rc
	REG_DIR=$dir/reg-$1
	while :; do
		tries=$((tries + 1))
		rc=0
		registries+=("$REG_DIR")
		OWNER_PID=$$ "$TOP/tests/lib/start-registry.sh" "$REG_DIR" >"$dir/reg.env" 2>"$dir/reg.log" || rc=$?
		[ "$rc" = 0 ] && break
		[ "$rc" = 2 ] && [ "$tries" -lt 3 ] && continue
		cat "$dir/reg.log" >&2
		die "docker-registry did not start (start-registry.sh exit $rc)"
	done
	REGISTRY=$(sed -n 's/^REGISTRY=//p' "$REG_DIR/env")
}
reg_stop() {
	"$TOP/tests/lib/stop-registry.sh" "$REG_DIR" 2>/dev/null || true
	rm -rf --one-file-system "$REG_DIR"
}

TLS=(--tls-verify=false)
blob() { echo "$1/blobs/${2%%:*}/${2#*:}"; }
manifest_of() { # ROOT TAG
	jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json" | head -n 1
}
layers_of() { # ROOT TAG
	jq -r '.layers[].digest' "$(blob "$1" "$(manifest_of "$1" "$2")")"
}
# the floors (see pushpull.sh): curl uploads/downloads, all blobs at once
# shellcheck disable=SC2016 # expanded by the inner bash
CURL_PUSH=(bash -c 'set -eo pipefail; reg=$1 repo=$2; shift 2; pids=()
	up() {
		local loc
		loc=$(curl -fsS -D - -o /dev/null -X POST "http://$reg/v2/$repo/blobs/uploads/" |
			tr -d "\r" | sed -n "s/^[Ll]ocation: //p")
		case $loc in /*) loc=http://$reg$loc ;; esac
		case $loc in *"?"*) loc="$loc&" ;; *) loc="$loc?" ;; esac
		curl -fsS -o /dev/null -H "Expect:" -H "Content-Type: application/octet-stream" \
			-T "$1" "${loc}digest=sha256:${1##*/}"
	}
	for b; do up "$b" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || exit 1; done' curl-push)
# shellcheck disable=SC2016
CURL_PULL=(bash -c 'set -e; reg=$1 repo=$2 out=$3; shift 3; pids=(); mkdir -p "$out"
	for d; do curl -fsS -o "$out/${d#sha256:}" "http://$reg/v2/$repo/blobs/$d" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || exit 1; done' curl-pull)
# shellcheck disable=SC2016
UNTAR=(bash -c 'set -o pipefail; out=$1; shift; i=0; pids=()
	for l; do i=$((i + 1)); mkdir -p "$out/$i"
		{ zstd -q -dc "$l" | tar --numeric-owner -xpf - -C "$out/$i"; } & pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || exit 1; done' untar)
# shellcheck disable=SC2016
FLOOR_BUILD=(bash -c 'set -o pipefail; tar -C "$1" --exclude=./Dockerfile --exclude=./.dockerignore -cf - . | zstd -q -T0 -3 >"$2"' floor-build)

docker_start || die "dockerd did not start"
for i in $(seq 1 "$RUNS"); do
	say "build + push, run $i of $RUNS: docker, edgectl, floors (each push to a new registry)"
	reg_start "d$i"
	DAEMON=1 measure docker-build "$DOCKER" build -q -t "$REGISTRY/d:1" "$ctx"
	DAEMON=1 measure docker-push "$DOCKER" push -q "$REGISTRY/d:1"
	if [ "$i" = "$RUNS" ]; then # kept for the pulls
		DREG_DIR=$REG_DIR DREGISTRY=$REGISTRY
	else
		reg_stop
	fi
	if [ "$i" != "$RUNS" ]; then # the next run builds from nothing
		"$DOCKER" rmi -f "$REGISTRY/d:1" >/dev/null
		"$DOCKER" builder prune -af >/dev/null
	fi
	reg_start "e$i"
	root=$dir/root-$i
	measure edgectl-build "$EDGECTL" --root "$root" --json build --no-cache -t bench:1 "$ctx"
	measure edgectl-push "$EDGECTL" --root "$root" --json push "${TLS[@]}" bench:1 "docker://$REGISTRY/e:1"
	if [ "$i" = "$RUNS" ]; then
		EREG_DIR=$REG_DIR EREGISTRY=$REGISTRY
	else
		reg_stop
	fi
	measure floor-build "${FLOOR_BUILD[@]}" "$ctx" "$dir/floor.tar.zst"
	rm -f "$dir/floor.tar.zst"
	reg_start "c$i"
	mapfile -t lays < <(layers_of "$root" bench:1)
	bl=()
	for l in "${lays[@]}"; do bl+=("$(blob "$root" "$l")"); done
	measure floor-push "${CURL_PUSH[@]}" "$REGISTRY" c "${bl[@]}"
	reg_stop
	[ "$i" = "$RUNS" ] || rm -rf --one-file-system "$root"
done
root=$dir/root-$RUNS

say "pull: from the registries the last run pushed to"
mapfile -t lays < <(layers_of "$root" bench:1)
for i in $(seq 1 "$RUNS"); do
	say "pull, run $i of $RUNS: docker pull (fresh daemon), edgectl pull (new root), floors"
	docker_stop || true
	docker_start || die "dockerd did not start"
	DAEMON=1 measure docker-pull "$DOCKER" pull -q "$DREGISTRY/d:1"
	measure edgectl-pull "$EDGECTL" --root "$dir/pull-$i" --json pull "${TLS[@]}" "docker://$EREGISTRY/e:1"
	jq -e --argjson n "${#lays[@]}" '.layers_unpacked == $n' "$dir/edgectl-pull.out" >/dev/null ||
		die "edgectl pull: expected ${#lays[@]} layers unpacked: $(cat "$dir/edgectl-pull.out")"
	rm -rf --one-file-system "$dir/pull-$i"
	measure floor-download "${CURL_PULL[@]}" "$EREGISTRY" e "$dir/down" "${lays[@]}"
	bl=()
	for l in "${lays[@]}"; do bl+=("$dir/down/${l#sha256:}"); done
	measure floor-unpack "${UNTAR[@]}" "$dir/untar" "${bl[@]}"
	rm -rf --one-file-system "$dir/down" "$dir/untar"
done
docker_stop || true
for REG_DIR in "$DREG_DIR" "$EREG_DIR"; do reg_stop; done

# --- summary ---
t() { read -r s k <"$dir/$1.time"; echo "$s $k"; }
sum() { # NAME NAME: seconds added, peak RSS the larger
	local s1 k1 s2 k2
	read -r s1 k1 <"$dir/$1.time"
	read -r s2 k2 <"$dir/$2.time"
	awk -v a="$s1" -v b="$s2" -v x="$k1" -v y="$k2" 'BEGIN { printf "%.3f %d\n", a + b, (x > y ? x : y) }'
}
sum docker-build docker-push >"$dir/docker-bp.time"
sum edgectl-build edgectl-push >"$dir/edgectl-bp.time"
sum floor-build floor-push >"$dir/floor-bp.time"
sum floor-download floor-unpack >"$dir/floor-pull.time"
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench docker: image $img_mb MiB (minbase + $WMB MiB random + $TMB MiB compressible), $(nproc) CPUs, best of $RUNS, load $load"
line() { # NAME DESC
	local s k
	read -r s k <"$dir/$1.time"
	awk -v n="$1" -v s="$s" -v k="$k" -v mb="$img_mb" -v d="$2" 'BEGIN {
		printf "bench docker: %-15s %7.2f s %7.1f MiB/s  peak RSS %7.1f MiB  (%s)\n",
			n, s, (s > 0 ? mb / s : 0), k / 1024, d }'
}
line docker-build "docker build, BuildKit; RSS: client + dockerd + containerd"
line docker-push "docker push (gzip)"
line docker-bp "docker build + push"
line edgectl-build "edgectl build --no-cache (zstd)"
line edgectl-push "edgectl push"
line edgectl-bp "edgectl build + push"
line floor-build "tar | zstd -T0 -3"
line floor-push "curl uploads of edgectl's layers, all at once"
line floor-bp "floor build + push"
line docker-pull "docker pull into a fresh daemon"
line edgectl-pull "edgectl pull, layers unpacked"
line floor-download "curl downloads, all at once"
line floor-unpack "zstd -dc | tar -x, layers in parallel"
line floor-pull "floor download + unpack"
ratio() { # A B GOAL: how many times faster B is than A, RSS A/B
	local sa ka sb kb
	read -r sa ka <"$dir/$1.time"
	read -r sb kb <"$dir/$2.time"
	awk -v a="$1" -v b="$2" -v sa="$sa" -v ka="$ka" -v sb="$sb" -v kb="$kb" -v g="$3" 'BEGIN {
		sp = (sb > 0 ? sa / sb : 0); m = (kb > 0 ? ka / kb : 0)
		printf "bench docker: %s/%s  time %5.2fx  peak RSS %5.2fx  (goal: %s; %s)\n", a, b, sp, m, g,
			(g == "" ? "" : ((sp >= 2 && m > 1) ? "met" : "NOT met")) }'
}
for n in docker-build docker-push edgectl-build edgectl-push floor-build floor-push docker-pull edgectl-pull floor-download floor-unpack; do
	echo "bench docker: $n CPU (user+sys, daemon included) per run: $(paste -sd' ' "$dir/$n.cpu") s"
done
ratio docker-bp edgectl-bp ">= 2x faster, lower RSS"
ratio docker-pull edgectl-pull ">= 2x faster, lower RSS"
awk -v e="$(t edgectl-bp)" -v f="$(t floor-bp)" -v ep="$(t edgectl-pull)" -v fp="$(t floor-pull)" 'BEGIN {
	split(e, a, " "); split(f, b, " "); split(ep, c, " "); split(fp, d, " ")
	printf "bench docker: edgectl/floor  build+push %.2fx  pull %.2fx\n", a[1] / b[1], c[1] / d[1] }'
