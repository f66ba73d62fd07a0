#!/bin/bash
# tests/bench/pushpull.sh - moving one image (a Debian minbase root
# filesystem layer plus a layer of incompressible "model weights", built
# once with `edgectl build`) to and from a registry and an object store,
# against peers in the same run on the same image:
#   registry push  `edgectl push IMG docker://R/a:1` vs
#                  `skopeo copy oci:ROOT:IMG docker://R/b:1`; both push the
#                  same zstd image as it is (no recompression), each to a
#                  registry instance of its own started just before (empty:
#                  nothing can be skipped or mounted)
#   registry pull  `edgectl pull --unpack DIR docker://R/...` (into a new
#                  root: blobs verified and fsync'd into the root, each
#                  layer unpacked into ROOT/layers/, then DIR as a flat
#                  rootfs) vs `skopeo copy docker://R/... oci:X` then
#                  `umoci unpack` (a bundle: rootfs plus umoci's mtree).
#                  umoci 0.4.7 reads no zstd, so the peer pulls a gzip
#                  build of the same image (`edgectl build --compression
#                  gzip`); edgectl is timed on both the zstd and the gzip
#                  image, and also without --unpack (layers only: what
#                  `edgectl run` needs)
#   registry floor curl: every blob uploaded (POST + PUT) or downloaded at
#                  once, nothing hashed or unpacked: the registry's own time
#   s3 push/pull   `edgectl push IMG` / `edgectl pull IMG` on a Ceph RGW
#                  store vs `aws s3 cp --recursive` of the same blob files
#                  (Debian awscli, /usr/bin/aws): the transfer floor. That
#                  floor neither hashes nor unpacks; edgectl pull does both,
#                  so the pull also has an unpack floor (zstd -dc | tar -x
#                  of the downloaded layers, in parallel) and the sum
# Reports seconds, MiB/s, edgectl/peer ratios against the goals (registry:
# at least 2x faster than skopeo(+umoci), time ratio <= 0.50; s3: within
# 1.2x of aws, ratio <= 1.20) and peak RSS (/usr/bin/time -f %M), plus
# edgectl's peak RSS for an image with a quarter of the weights (does
# memory grow with the image?). A benchmark reports: it never fails on
# speed, only when something is broken (a transfer fails, a push skipped a
# blob, unpacked bytes differ from the source).
#
#   tests/bench/pushpull.sh                      minbase + 1 GiB weights
#   BENCH_MB=64 tests/bench/pushpull.sh          quick (minbase + 64 MiB)
#   BENCH_MB=64 BENCH_PUSHPULL_ROOTFS=none BENCH_PUSHPULL_TARGETS=registry tests/bench/pushpull.sh
#
# The minbase tar and the random data are the cached inputs of build.sh
# (${XDG_CACHE_HOME:-~/.cache}/edgectl-bench/minbase-bookworm-ARCH.tar and
# random-<MB>M.bin); a missing minbase tar is made by running build.sh once
# (debootstrap: root and the network).
#
# env: BENCH_PUSHPULL_MB (weights layer in MiB; default BENCH_MB, else
#      1024), BENCH_PUSHPULL_ROOTFS (minbase or none; default minbase),
#      BENCH_PUSHPULL_TARGETS (default "registry s3"),
#      BENCH_RUNS (runs of each transfer, edgectl and peer alternating;
#      the fastest is reported; default 1), BENCH_PUSHPULL_JOBS (edgectl
#      -j; default edgectl's), BENCH_MEMSTORE_BYTES (RGW RAM store; default
#      room for every upload), BENCH_CACHE_DIR, BENCH_DIR (scratch parent;
#      default $TMPDIR or /tmp; needs about 6x the image per run),
#      BENCH_KEEP=1 (keep the scratch dir), BENCH_BASE_EDGECTL (another
#      edgectl binary, e.g. main's: its pulls are timed in the same run
#      beside this one's, as "base" lines: before/after on one machine).
# Output: progress on stderr; "bench pushpull: ..." summary lines on stdout.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EDGECTL=${EDGECTL:-$TOP/build/edgectl}
AWS=/usr/bin/aws
TIME=/usr/bin/time
MB=${BENCH_PUSHPULL_MB:-${BENCH_MB:-1024}}
ROOTFS=${BENCH_PUSHPULL_ROOTFS:-minbase}
TARGETS=${BENCH_PUSHPULL_TARGETS:-registry s3}
RUNS=${BENCH_RUNS:-1}
JOBS=${BENCH_PUSHPULL_JOBS:-}
SUITE=bookworm
CACHE=${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:?}/.cache}/edgectl-bench}

say() { echo "pushpull.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}
case $MB in '' | *[!0-9]* | 0) die "BENCH_PUSHPULL_MB/BENCH_MB: not a positive number of MiB: '$MB'" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS: not a positive number: '$RUNS'" ;; esac
case $ROOTFS in minbase | none) ;; *) die "BENCH_PUSHPULL_ROOTFS: minbase or none, not '$ROOTFS'" ;; esac
for t in $TARGETS; do
	case $t in registry | s3) ;; *) die "BENCH_PUSHPULL_TARGETS: unknown target '$t' (registry, s3)" ;; esac
done
[ -x "$EDGECTL" ] || die "missing $EDGECTL (make)"
need=("$TIME" jq curl tar zstd)
case " $TARGETS " in *" registry "*) need+=(skopeo umoci docker-registry) ;; esac
case " $TARGETS " in *" s3 "*) need+=("$AWS" radosgw) ;; esac
for t in "${need[@]}"; do
	command -v "$t" >/dev/null || die "needs $t (tests/lib/deps.sh bench)"
done

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
minbase_tar=$CACHE/minbase-$SUITE-$arch.tar
random_bin=$CACHE/random-${MB}M.bin
mkdir -p "$CACHE"
# the minbase tar is build.sh's: it alone knows how to make it (apt
# sources, debootstrap); a minbase-only run of it is short
if [ "$ROOTFS" = minbase ] && [ ! -s "$minbase_tar" ]; then
	say "no $minbase_tar yet: running build.sh once to make it"
	BENCH_CACHE_DIR=$CACHE BENCH_BUILD_RANDOM_MB=0 BENCH_BUILD_ROOTFS=minbase BENCH_RUNS=1 \
		"$TOP/tests/bench/build.sh" >/dev/null || die "build.sh could not make $minbase_tar (see above)"
	[ -s "$minbase_tar" ] || die "build.sh ran but made no $minbase_tar"
fi

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-pushpull.XXXXXX")
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"
registries=() # dirs of the registries started (stopped at exit)
rgw=
cleanup() {
	local r
	for r in "${registries[@]}"; do
		[ -f "$r/pids" ] && "$TOP/tests/lib/stop-registry.sh" "$r" 2>/dev/null
	done
	if [ -n "$rgw" ] && [ -f "$rgw/pids" ]; then
		"$TOP/tests/lib/stop-rgw.sh" "$rgw" 2>/dev/null || true
	fi
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
BASE=
if [ -n "${BENCH_BASE_EDGECTL:-}" ]; then
	[ -x "$BENCH_BASE_EDGECTL" ] || die "BENCH_BASE_EDGECTL: not an executable: $BENCH_BASE_EDGECTL"
	cp "$BENCH_BASE_EDGECTL" "$dir/bin/edgectl-base"
	BASE=$dir/bin/edgectl-base
	say "base edgectl: $BENCH_BASE_EDGECTL, built $(date -r "$BENCH_BASE_EDGECTL" '+%F %T')"
fi

# nothing from the user's configuration: no edgectl config, docker or
# containers auth, aws profile
mkdir -p "$dir/home" "$dir/config"
export HOME=$dir/home XDG_CONFIG_HOME=$dir/config
unset EDGECTL_ROOT EDGECTL_STORE SOURCE_DATE_EPOCH REGISTRY_AUTH_FILE DOCKER_CONFIG

# --- the image ---

(
	flock 9
	if [ "$(stat -c %s "$random_bin" 2>/dev/null || echo 0)" != $((MB * 1048576)) ]; then
		say "writing $MB MiB of random bytes to $random_bin (once)"
		head -c $((MB * 1048576)) /dev/urandom >"$random_bin.partial.$$"
		mv "$random_bin.partial.$$" "$random_bin"
	fi
) 9>"$CACHE/.lock"

ctx=$dir/ctx
mkdir -p "$ctx/minbase"
desc="$MB MiB weights"
if [ "$ROOTFS" = minbase ]; then
	tar --numeric-owner -C "$ctx/minbase" -xpf "$minbase_tar"
	# edgectl's COPY refuses device nodes, fifos and sockets (a runtime
	# provides /dev): the layer gets the tree without them, as in build.sh
	find "$ctx/minbase" \( -type b -o -type c -o -type p -o -type s \) -delete
	desc="minbase $SUITE ($(du -s --apparent-size -BM "$ctx/minbase" | cut -f1)iB, $(find "$ctx/minbase" | wc -l) entries) + $desc"
fi
cp "$random_bin" "$ctx/weights"
head -c $((MB * 1048576 / 4)) "$random_bin" >"$ctx/weights.quarter"
printf 'FROM scratch\nCOPY minbase/ /\nCOPY weights /weights\n' >"$ctx/Dockerfile"
printf 'FROM scratch\nCOPY minbase/ /\nCOPY weights.quarter /weights\n' >"$ctx/Dockerfile.quarter"

root=$dir/root
say "building the image: $desc (zstd, gzip, and zstd with a quarter of the weights)"
# --no-cache each time: the build cache does not key on --compression (a
# gzip build after a zstd one would reuse the zstd layers)
"$EDGECTL" --root "$root" -q build --no-cache -t bench:zstd "$ctx" >/dev/null ||
	die "edgectl build failed"
"$EDGECTL" --root "$root" -q build --no-cache --compression gzip -t bench:gzip "$ctx" >/dev/null ||
	die "edgectl build --compression gzip failed"
"$EDGECTL" --root "$root" -q build --no-cache -f "$ctx/Dockerfile.quarter" -t bench:quarter "$ctx" >/dev/null ||
	die "edgectl build (quarter) failed"

blob() { echo "$root/blobs/${1%%:*}/${1#*:}"; }
manifest_of() { # TAG: the digest index.json gives TAG
	jq -r --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
		"$root/index.json"
}
# blobs_of TAG: manifest, config and layer digests, one a line
blobs_of() {
	local m
	m=$(manifest_of "$1")
	echo "$m"
	jq -r '.config.digest, .layers[].digest' "$(blob "$m")"
}
# layers_of TAG DIR: the layer blob files of TAG under DIR/blobs/sha256, in order
layers_of() {
	local l
	for l in $(jq -r '.layers[].digest' "$(blob "$(manifest_of "$1")")"); do
		echo "$2/blobs/sha256/${l#sha256:}"
	done
}
image_bytes() { # TAG
	local b s=0
	for b in $(blobs_of "$1"); do s=$((s + $(stat -c %s "$(blob "$b")"))); done
	echo "$s"
}
for t in zstd gzip; do
	jq -r '.layers[].mediaType' "$(blob "$(manifest_of "bench:$t")")" | grep -qvx "application/vnd.oci.image.layer.v1.tar+$t" &&
		die "bench:$t: its layers are not all $t"
done
zbytes=$(image_bytes bench:zstd)
gbytes=$(image_bytes bench:gzip)
qbytes=$(image_bytes bench:quarter)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
say "image: $(mib "$zbytes") MiB as zstd, $(mib "$gbytes") MiB as gzip ($(blobs_of bench:zstd | wc -l) blobs)"


# measure NAME CMD...: time one run of CMD (stdout kept in $dir/NAME.out);
# $dir/NAME.time keeps "seconds kib" of the fastest run so far
measure() {
	bench_run "$@"
	bench_keep_best "$1"
}

eopts=()
[ -n "$JOBS" ] && eopts+=(-j "$JOBS")

# check_copied NAME: edgectl's --json result says every blob was sent
check_copied() {
	jq -e '.blobs > 0 and .blobs_copied == .blobs and .bytes_copied == .total_bytes' \
		"$dir/$1.out" >/dev/null || die "$1: not every blob was sent (skipped or resumed?): $(cat "$dir/$1.out")"
}
# check_tree NAME DIR: DIR/weights is the weights file (and /etc/os-release
# is there when the image has minbase); then DIR goes
check_tree() {
	cmp -s "$ctx/weights" "$2/weights" || die "$1: $2/weights differs from the source"
	if [ "$ROOTFS" = minbase ] && [ ! -e "$2/etc/os-release" ] && [ ! -L "$2/etc/os-release" ]; then
		die "$1: $2 has no etc/os-release"
	fi
	rm -rf --one-file-system "$2"
}

# --- registry ---

# reg_start NAME: a new, empty registry; sets REG_DIR and REGISTRY
reg_start() {
	local tries=0 rc
	REG_DIR=$dir/reg-$1
	while :; do
		tries=$((tries + 1))
		rc=0
		registries+=("$REG_DIR")
		OWNER_PID=$$ "$TOP/tests/lib/start-registry.sh" "$REG_DIR" >"$dir/reg.env" 2>"$dir/reg.log" || rc=$?
		[ "$rc" = 0 ] && break
		# a port taken between the pick and the bind: try another one
		[ "$rc" = 2 ] && [ "$tries" -lt 3 ] && continue
		cat "$dir/reg.log" >&2
		die "docker-registry did not start (start-registry.sh exit $rc)"
	done
	REGISTRY=$(sed -n 's/^REGISTRY=//p' "$REG_DIR/env")
}
reg_stop() { "$TOP/tests/lib/stop-registry.sh" "$REG_DIR" 2>/dev/null || true; }
# reg_has_blobs TAG: the registry's storage holds every blob of TAG
reg_has_blobs() {
	local b h
	for b in $(blobs_of "$1"); do
		h=${b#sha256:}
		[ -s "$REG_DIR/data/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data" ] ||
			die "registry: blob $b of $1 is not in $REG_DIR"
	done
}
TLS=(--tls-verify=false)
# The registry's transfer floor, to see how much of a push or pull is the
# registry's own time: curl, every blob at once, nothing hashed or unpacked.
# push: REGISTRY REPO MANIFEST BLOBFILE... (files named by their hex
# digest); a monolithic upload each (POST, then PUT of the body), then the
# manifest
# shellcheck disable=SC2016 # expanded by the inner bash
CURL_PUSH=(bash -c 'set -eo pipefail; reg=$1 repo=$2 man=$3; shift 3; pids=()
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
	for p in "${pids[@]}"; do wait "$p" || exit 1; done
	curl -fsS -o /dev/null -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
		--data-binary "@$man" "http://$reg/v2/$repo/manifests/1"' curl-push)
# pull: REGISTRY REPO TAG OUTDIR DIGEST...: the manifest, then the blobs
# shellcheck disable=SC2016
CURL_PULL=(bash -c 'set -e; reg=$1 repo=$2 tag=$3 out=$4; shift 4; pids=(); mkdir -p "$out"
	curl -fsS -o "$out/manifest" -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"http://$reg/v2/$repo/manifests/$tag"
	for d; do curl -fsS -o "$out/${d#sha256:}" "http://$reg/v2/$repo/blobs/$d" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || exit 1; done' curl-pull)

bench_registry() {
	local i zref gref bl b
	for i in $(seq 1 "$RUNS"); do
		say "registry push, run $i: edgectl push, skopeo copy, curl (each to a new registry)"
		reg_start "push-edgectl-$i"
		measure reg-push-edgectl "$EDGECTL" --root "$root" --json push "${eopts[@]}" "${TLS[@]}" \
			bench:zstd "docker://$REGISTRY/a:1"
		check_copied reg-push-edgectl
		reg_has_blobs bench:zstd
		reg_stop
		reg_start "push-skopeo-$i"
		measure reg-push-skopeo skopeo copy -q --dest-tls-verify=false \
			"oci:$root:bench:zstd" "docker://$REGISTRY/b:1"
		reg_has_blobs bench:zstd
		reg_stop
		reg_start "push-curl-$i"
		mapfile -t bl < <(blobs_of bench:zstd | tail -n +2 | while read -r b; do blob "$b"; done)
		measure reg-push-curl "${CURL_PUSH[@]}" "$REGISTRY" c "$(blob "$(manifest_of bench:zstd)")" "${bl[@]}"
		reg_has_blobs bench:zstd
		reg_stop
	done

	say "registry pull: one registry holding the zstd and gzip images (pushed by edgectl, untimed)"
	reg_start pull
	zref="docker://$REGISTRY/bench:zstd"
	gref="docker://$REGISTRY/bench:gzip"
	"$EDGECTL" --root "$root" -q push "${TLS[@]}" bench:zstd "$zref" >/dev/null
	"$EDGECTL" --root "$root" -q push "${TLS[@]}" bench:gzip "$gref" >/dev/null
	for i in $(seq 1 "$RUNS"); do
		say "registry pull, run $i: edgectl pull --unpack (zstd, gzip), edgectl pull (zstd), skopeo copy + umoci unpack (gzip), curl"
		measure reg-pull-edgectl "$EDGECTL" --root "$dir/pr" --json pull "${eopts[@]}" "${TLS[@]}" \
			--unpack "$dir/flat" "$zref"
		check_copied reg-pull-edgectl
		check_tree "edgectl pull --unpack" "$dir/flat"
		rm -rf --one-file-system "$dir/pr"
		if [ -n "$BASE" ]; then
			measure reg-pull-base "$BASE" --root "$dir/pr" --json pull "${eopts[@]}" "${TLS[@]}" \
				--unpack "$dir/flat" "$zref"
			check_tree "base edgectl pull --unpack" "$dir/flat"
			rm -rf --one-file-system "$dir/pr"
			measure reg-pull-basenoflat "$BASE" --root "$dir/pr" --json pull "${eopts[@]}" "${TLS[@]}" "$zref"
			rm -rf --one-file-system "$dir/pr"
		fi
		measure reg-pull-skopeo skopeo copy -q --src-tls-verify=false "$gref" "oci:$dir/oci:g"
		measure reg-pull-umoci umoci unpack --image "$dir/oci:g" "$dir/bundle"
		check_tree "skopeo copy + umoci unpack" "$dir/bundle/rootfs"
		rm -rf --one-file-system "$dir/oci" "$dir/bundle"
		measure reg-pull-edgectlgz "$EDGECTL" --root "$dir/pr" --json pull "${eopts[@]}" "${TLS[@]}" \
			--unpack "$dir/flat" "$gref"
		check_copied reg-pull-edgectlgz
		check_tree "edgectl pull --unpack (gzip)" "$dir/flat"
		rm -rf --one-file-system "$dir/pr"
		measure reg-pull-edgectlnoflat "$EDGECTL" --root "$dir/pr" --json pull "${eopts[@]}" "${TLS[@]}" "$zref"
		check_copied reg-pull-edgectlnoflat
		jq -e '.layers_unpacked == 2' "$dir/reg-pull-edgectlnoflat.out" >/dev/null ||
			die "edgectl pull: expected 2 layers unpacked: $(cat "$dir/reg-pull-edgectlnoflat.out")"
		rm -rf --one-file-system "$dir/pr"
		mapfile -t bl < <(blobs_of bench:zstd | tail -n +2)
		measure reg-pull-curl "${CURL_PULL[@]}" "$REGISTRY" bench zstd "$dir/cdown" "${bl[@]}"
		for b in "${bl[@]}"; do
			cmp -s "$(blob "$b")" "$dir/cdown/${b#sha256:}" || die "registry: curl download of $b differs"
		done
		rm -rf "$dir/cdown"
	done

	say "registry: edgectl push and pull of the image with a quarter of the weights (memory)"
	measure reg-push-quarter "$EDGECTL" --root "$root" --json push "${eopts[@]}" "${TLS[@]}" \
		bench:quarter "docker://$REGISTRY/q:1"
	measure reg-pull-quarter "$EDGECTL" --root "$dir/pr" --json pull "${eopts[@]}" "${TLS[@]}" \
		--unpack "$dir/flat" "docker://$REGISTRY/q:1"
	rm -rf --one-file-system "$dir/pr" "$dir/flat"
	reg_stop
	skopeo --version | sed 's/^skopeo version /skopeo /' >"$dir/skopeo.version"
	umoci --version | sed 's/ version / /' >"$dir/umoci.version"
}

# --- s3 (Ceph RGW) ---

bench_s3() {
	local tries=0 rc i b stage n lays
	say "s3: starting Ceph RGW"
	bench_rgw_start "${BENCH_MEMSTORE_BYTES:-$((2 * RUNS * zbytes + (512 << 20)))}"
	export AWS_CONFIG_FILE=$HOME/aws-config AWS_SHARED_CREDENTIALS_FILE=$HOME/aws-credentials
	: >"$AWS_CONFIG_FILE"
	: >"$AWS_SHARED_CREDENTIALS_FILE"
	export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
	export AWS_REGION=$S3_REGION AWS_DEFAULT_REGION=$S3_REGION AWS_EC2_METADATA_DISABLED=true
	export AWS_PAGER=
	unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_PROFILE
	store() { echo "s3://$S3_BUCKET/$1?endpoint=$S3_ENDPOINT"; }
	AWSCP=("$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp --recursive --no-progress --only-show-errors)
	# the unpack floor: each layer blob (in DIR/blobs/sha256) decompressed
	# and extracted into a directory of its own, all at once (edgectl pull
	# unpacks layers in parallel too); nothing hashed, nothing fsync'd
	# shellcheck disable=SC2016 # expanded by the inner bash
	UNTAR=(bash -c 'set -o pipefail; out=$1; shift; i=0; pids=()
		for l; do i=$((i + 1)); mkdir -p "$out/$i"
			{ zstd -q -dc "$l" | tar --numeric-owner -xpf - -C "$out/$i"; } & pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || exit 1; done' untar)

	# the floor's input: the image's blob files, as they are in the root
	stage=$dir/stage
	mkdir -p "$stage/blobs/sha256"
	for b in $(blobs_of bench:zstd); do
		ln "$(blob "$b")" "$stage/blobs/sha256/${b#sha256:}"
	done

	# warm-up, untimed: RGW creates its data and multipart pools on first use
	head -c $((12 << 20)) "$ctx/weights" >"$dir/warm"
	"$EDGECTL" --store "$(store warm)" -q store put --part-size 5M warm "$dir/warm" ||
		die "s3: warm-up upload with edgectl failed"
	"$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp --only-show-errors "$dir/warm" "s3://$S3_BUCKET/warm/aws" ||
		die "s3: warm-up upload with aws failed"
	rm -f "$dir/warm"

	for i in $(seq 1 "$RUNS"); do
		say "s3 push, run $i: edgectl push, aws s3 cp --recursive (each to a new prefix)"
		measure s3-push-edgectl "$EDGECTL" --root "$root" --store "$(store "e$i")" --json push "${eopts[@]}" bench:zstd
		check_copied s3-push-edgectl
		jq -e '.parts_resumed == 0' "$dir/s3-push-edgectl.out" >/dev/null ||
			die "s3: edgectl push resumed parts: $(cat "$dir/s3-push-edgectl.out")"
		measure s3-push-aws "${AWSCP[@]}" "$stage" "s3://$S3_BUCKET/a$i/"
		n=$("$AWS" --endpoint-url "$S3_ENDPOINT" s3 ls --recursive "s3://$S3_BUCKET/a$i/" | wc -l)
		[ "$n" = "$(blobs_of bench:zstd | wc -l)" ] || die "s3: aws uploaded $n objects"
	done
	for i in $(seq 1 "$RUNS"); do
		say "s3 pull, run $i: edgectl pull (new root), aws s3 cp --recursive"
		measure s3-pull-edgectl "$EDGECTL" --root "$dir/pr" --store "$(store e1)" --json pull "${eopts[@]}" bench:zstd
		check_copied s3-pull-edgectl
		jq -e '.layers_unpacked == 2' "$dir/s3-pull-edgectl.out" >/dev/null ||
			die "s3: edgectl pull: expected 2 layers unpacked: $(cat "$dir/s3-pull-edgectl.out")"
		rm -rf --one-file-system "$dir/pr"
		if [ -n "$BASE" ]; then
			measure s3-pull-base "$BASE" --root "$dir/pr" --store "$(store e1)" --json pull "${eopts[@]}" bench:zstd
			rm -rf --one-file-system "$dir/pr"
		fi
		measure s3-pull-aws "${AWSCP[@]}" "s3://$S3_BUCKET/a1/" "$dir/down"
		for b in $(blobs_of bench:zstd); do
			cmp -s "$(blob "$b")" "$dir/down/blobs/sha256/${b#sha256:}" || die "s3: aws download of $b differs"
		done
		# what edgectl pull does after the transfer, done by zstd and tar
		mapfile -t lays < <(layers_of bench:zstd "$dir/down")
		measure s3-pull-untar "${UNTAR[@]}" "$dir/untar" "${lays[@]}"
		cmp -s "$ctx/weights" "$dir/untar/2/weights" || die "s3: zstd -dc | tar -x: weights differ"
		rm -rf --one-file-system "$dir/down" "$dir/untar"
	done
	"$AWS" --version 2>&1 | sed 's,^aws-cli/\([^ ]*\).*,awscli \1,' >"$dir/aws.version"
	"$TOP/tests/lib/stop-rgw.sh" "$rgw" 2>/dev/null || true
	rgw=
}

for t in $TARGETS; do
	case $t in
	registry) bench_registry ;;
	s3) bench_s3 ;;
	esac
done

# --- summary ---
# time ratio < 1: edgectl faster; RSS ratio < 1: edgectl smaller

echo "bench pushpull: image $desc: $(mib "$zbytes") MiB as zstd, $(mib "$gbytes") MiB as gzip; $(nproc) CPUs, best of $RUNS"
line() { # WHAT NAME BYTES DESC
	local s k
	read -r s k <"$dir/$2.time"
	awk -v w="$1" -v s="$s" -v k="$k" -v b="$3" -v d="$4" 'BEGIN {
		printf "bench pushpull: %-34s %7.2f s %7.1f MiB/s  peak RSS %7.1f MiB  (%s)\n",
			w, s, (s > 0 ? b / 1048576 / s : 0), k / 1024, d }'
}
# sum NAME NAME2 OUT: a two-step peer as one ("seconds kib": sum of the
# best times, larger peak RSS)
sum() {
	local s1 k1 s2 k2
	read -r s1 k1 <"$dir/$1.time"
	read -r s2 k2 <"$dir/$2.time"
	awk -v a="$s1" -v b="$s2" -v c="$k1" -v d="$k2" 'BEGIN { printf "%.3f %d\n", a + b, (c > d ? c : d) }' >"$dir/$3.time"
}
ratio() { # WHAT EDGECTL PEER GOAL ("-": none)
	local se ke sp kp
	read -r se ke <"$dir/$2.time"
	read -r sp kp <"$dir/$3.time"
	awk -v w="$1" -v se="$se" -v ke="$ke" -v sp="$sp" -v kp="$kp" -v g="$4" 'BEGIN {
		r = (sp > 0 ? se / sp : 0)
		printf "bench pushpull: %-34s time %5.2f  peak RSS %5.2f", w, r, (kp > 0 ? ke / kp : 0)
		if (g == "-") printf "\n"
		else printf "  (goal: time <= %.2f, %s)\n", g, (r <= g ? "met" : "NOT met") }'
}
ev="edgectl -j ${JOBS:-4 (default)}"
if [ -f "$dir/reg-push-edgectl.time" ]; then
	sk=$(cat "$dir/skopeo.version")
	um=$(cat "$dir/umoci.version")
	sum reg-pull-skopeo reg-pull-umoci reg-pull-peer
	line "registry push edgectl" reg-push-edgectl "$zbytes" "$ev, zstd image"
	line "registry push skopeo" reg-push-skopeo "$zbytes" "$sk copy oci: -> docker://, zstd image as is"
	line "registry push curl (floor)" reg-push-curl "$zbytes" "curl POST+PUT of every blob at once, then the manifest"
	line "registry pull edgectl --unpack" reg-pull-edgectl "$zbytes" "$ev, zstd image: blobs, layer dirs, flat rootfs"
	line "registry pull edgectl --unpack gz" reg-pull-edgectlgz "$gbytes" "$ev, gzip image: blobs, layer dirs, flat rootfs"
	line "registry pull edgectl (layers)" reg-pull-edgectlnoflat "$zbytes" "$ev, zstd image: blobs, layer dirs; no --unpack"
	line "registry pull skopeo+umoci" reg-pull-peer "$gbytes" "gzip image: sum of the best of each step, larger RSS"
	line "  of which skopeo copy" reg-pull-skopeo "$gbytes" "$sk docker:// -> oci:"
	line "  of which umoci unpack" reg-pull-umoci "$gbytes" "$um unpack: rootfs + mtree"
	line "registry pull curl (floor)" reg-pull-curl "$zbytes" "curl GET of the manifest, then every blob at once; no unpack"
	ratio "registry push edgectl/skopeo" reg-push-edgectl reg-push-skopeo 0.5
	ratio "registry push skopeo/curl" reg-push-skopeo reg-push-curl -
	ratio "registry push edgectl/curl" reg-push-edgectl reg-push-curl -
	ratio "registry pull edgectl/skopeo+umoci" reg-pull-edgectl reg-pull-peer 0.5
	ratio "  same gzip image" reg-pull-edgectlgz reg-pull-peer 0.5
	ratio "  edgectl (layers)/skopeo+umoci" reg-pull-edgectlnoflat reg-pull-peer -
	ratio "registry pull skopeo/curl" reg-pull-skopeo reg-pull-curl -
	if [ -f "$dir/reg-pull-base.time" ]; then
		line "registry pull base --unpack" reg-pull-base "$zbytes" "BENCH_BASE_EDGECTL, same image and run"
		line "registry pull base (layers)" reg-pull-basenoflat "$zbytes" "BENCH_BASE_EDGECTL, no --unpack"
		ratio "registry pull --unpack edgectl/base" reg-pull-edgectl reg-pull-base -
		ratio "registry pull (layers) edgectl/base" reg-pull-edgectlnoflat reg-pull-basenoflat -
	fi
	read -r _ kf <"$dir/reg-push-edgectl.time"
	read -r _ kq <"$dir/reg-push-quarter.time"
	read -r _ kpf <"$dir/reg-pull-edgectl.time"
	read -r _ kpq <"$dir/reg-pull-quarter.time"
	awk -v f="$kf" -v q="$kq" -v pf="$kpf" -v pq="$kpq" -v bf="$zbytes" -v bq="$qbytes" 'BEGIN {
		printf "bench pushpull: edgectl peak RSS, %.0f MiB image vs %.0f MiB image: push %.1f vs %.1f MiB, pull --unpack %.1f vs %.1f MiB (%.1fx the data)\n",
			bf / 1048576, bq / 1048576, f / 1024, q / 1024, pf / 1024, pq / 1024, bf / bq }'
fi
if [ -f "$dir/s3-push-edgectl.time" ]; then
	av=$(cat "$dir/aws.version")
	line "s3 push edgectl" s3-push-edgectl "$zbytes" "$ev, Ceph RGW store"
	line "s3 push aws (floor)" s3-push-aws "$zbytes" "$av cp --recursive of the blob files"
	line "s3 pull edgectl" s3-pull-edgectl "$zbytes" "$ev: blobs verified, layer dirs unpacked"
	line "s3 pull aws (floor)" s3-pull-aws "$zbytes" "$av cp --recursive: download only"
	sum s3-pull-aws s3-pull-untar s3-pull-floor2
	line "  unpack floor" s3-pull-untar "$zbytes" "zstd -dc | tar -x of each layer into its own dir, in parallel"
	line "  aws + unpack floor" s3-pull-floor2 "$zbytes" "sum of the two"
	ratio "s3 push edgectl/aws" s3-push-edgectl s3-push-aws 1.2
	ratio "s3 pull edgectl/aws" s3-pull-edgectl s3-pull-aws 1.2
	ratio "s3 pull edgectl/(aws + unpack)" s3-pull-edgectl s3-pull-floor2 1.2
	if [ -f "$dir/s3-pull-base.time" ]; then
		line "s3 pull base" s3-pull-base "$zbytes" "BENCH_BASE_EDGECTL, same image and run"
		ratio "s3 pull edgectl/base" s3-pull-edgectl s3-pull-base -
	fi
fi
