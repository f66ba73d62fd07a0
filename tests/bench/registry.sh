#!/bin/bash
# shellcheck disable=SC2016 # best PREP: eval'd, single quotes on purpose
# tests/bench/registry.sh - edgectl against registries as they behave out
# there, with peers measured in the same run (docker-registry, i.e.
# distribution 2.8, behind tests/lib/reg-proxy.pl on loopback):
#   big-blob pull  one image with a BENCH_REGISTRY_MB (default 200) MiB
#                  random layer, `edgectl pull -j 4` into a new root
#                  (layers unpacked) through the proxy passing Range
#                  through (parallel ranges) vs the proxy in "norange"
#                  mode (the registry ignores Range: one streaming GET);
#                  peer: `skopeo copy docker://... oci:DIR` of the same
#                  image through the same proxy (one GET per blob, no
#                  unpack); and edgectl straight from docker-registry (the
#                  proxy is a forking perl process per connection: with
#                  parallel ranges on a small machine it is the bottleneck)
#   no-op push     `edgectl push --tls-verify=false` of an image the
#                  registry already has, to the proxy, which holds any TLS
#                  hello without answering (a plain-http registry that
#                  waits for a request line): the first run in a new root
#                  (https probe, then http, remembered), the next runs,
#                  `--insecure-registry` (no TLS attempt); peer: `skopeo
#                  inspect --tls-verify=false` of the same image
#   before         with EDGECTL_BEFORE=/path/to/an/older/edgectl (e.g. the
#                  main checkout's build), the same no-op push and the
#                  norange pull with it, for the before/after numbers
# A benchmark reports: it fails only when something is broken (a pull
# fails, a digest differs), never on speed.
#
#   tests/bench/registry.sh
#   BENCH_REGISTRY_MB=64 BENCH_RUNS=3 EDGECTL_BEFORE=/work/main/build/edgectl tests/bench/registry.sh
#
# env: BENCH_REGISTRY_MB, BENCH_RUNS (best of; default 1), BENCH_DIR
#      (scratch parent; default $TMPDIR or /tmp), EDGECTL_BEFORE.
# Output: progress on stderr; "bench registry: ..." lines on stdout.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
EDGECTL=${EDGECTL:-$TOP/build/edgectl}
MB=${BENCH_REGISTRY_MB:-200}
RUNS=${BENCH_RUNS:-1}
BEFORE=${EDGECTL_BEFORE:-}
for p in docker-registry skopeo jq perl; do
	command -v "$p" >/dev/null || { echo "registry.sh: '$p' not found (tests/lib/deps.sh installs it)" >&2; exit 1; }
done
[ -x "$EDGECTL" ] || { echo "registry.sh: build edgectl first (make)" >&2; exit 1; }
W=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/edgectl-bench-registry.XXXXXX")
# shellcheck source=../lib/registry.bash disable=SC1091
. "$TOP/tests/lib/registry.bash"
cleanup() {
	reg_stop
	rm -rf "$W"
}
trap cleanup EXIT
REGISTRY_DIR=$W/reg
mkdir -p "$REGISTRY_DIR"
OWNER_PID=$$ "$TOP/tests/lib/start-registry.sh" "$REGISTRY_DIR" >/dev/null
# shellcheck disable=SC1091
. "$REGISTRY_DIR/env"
export REGISTRY REGISTRY_DIR
reg_proxy_start
export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_DATA_HOME=$W/home/.local/share
mkdir -p "$XDG_CONFIG_HOME"

now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
# best PREP CMD...: the fastest ms of CMD run RUNS times, each after
# eval PREP (single-quoted on purpose: expanded at each run)
best() { # PREP CMD...
	local prep=$1 b=999999999 t0 t1
	shift
	for _ in $(seq 1 "$RUNS"); do
		eval "$prep"
		t0=$(now)
		"$@" >/dev/null 2>"$W/last.err" || { cat "$W/last.err" >&2; return 1; }
		t1=$(now)
		[ "$(ms "$t0" "$t1")" -lt "$b" ] && b=$(ms "$t0" "$t1")
	done
	echo "$b"
}
mibs() { awk -v mb="$1" -v ms="$2" 'BEGIN { printf "%.0f", ms ? mb / (ms / 1000) : 0 }'; }

echo "registry.sh: making a ${MB} MiB layer image" >&2
mkdir -p "$W/img"
head -c $((MB << 20)) /dev/urandom >"$W/img/weights.bin"
tar -C "$W/img" -cf "$W/layer.tar" weights.bin
rm "$W/img/weights.bin"
"$TOP/tests/lib/mkimage.sh" "$W/lay" big none "$W/layer.tar" >/dev/null
rm "$W/layer.tar"
skopeo copy -q --dest-tls-verify=false "oci:$W/lay:big" "docker://$REGISTRY/big:1"
rm -rf "$W/lay"
DIGEST=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/big:1" | jq -r .Digest)

pull() { # BINARY ROOT
	"$1" --root "$2" --json pull -j 4 --insecure-registry "$PROXY" "$PROXY/big:1" >"$W/pull.json"
	jq -e --arg d "$DIGEST" '.digest == $d' "$W/pull.json" >/dev/null
}

echo "registry.sh: pulls" >&2
reg_proxy_mode ""
t_ranges=$(best 'rm -rf "$W/r"' pull "$EDGECTL" "$W/r")
reg_proxy_mode norange
t_norange=$(best 'rm -rf "$W/r"' pull "$EDGECTL" "$W/r")
reg_proxy_mode ""
pull_direct() { # ROOT: straight from docker-registry, no proxy
	"$EDGECTL" --root "$1" --json pull -j 4 --insecure-registry "$REGISTRY" "$REGISTRY/big:1" >"$W/pull.json"
	jq -e --arg d "$DIGEST" '.digest == $d' "$W/pull.json" >/dev/null
}
t_direct=$(best 'rm -rf "$W/r"' pull_direct "$W/r")
t_skopeo=$(best 'rm -rf "$W/sk"' skopeo copy -q --src-tls-verify=false "docker://$PROXY/big:1" "oci:$W/sk:big")
echo "bench registry: pull ${MB} MiB blob, registry with ranges: ${t_ranges} ms ($(mibs "$MB" "$t_ranges") MiB/s, parallel 32 MiB ranges)"
echo "bench registry: pull ${MB} MiB blob, registry ignoring Range: ${t_norange} ms ($(mibs "$MB" "$t_norange") MiB/s, one streaming GET)"
echo "bench registry: pull ${MB} MiB blob straight from docker-registry (ranges, no proxy): ${t_direct} ms ($(mibs "$MB" "$t_direct") MiB/s)"
echo "bench registry: peer skopeo copy (one GET per blob, no unpack): ${t_skopeo} ms ($(mibs "$MB" "$t_skopeo") MiB/s)"
if [ -n "$BEFORE" ]; then
	reg_proxy_mode norange
	rm -rf "$W/r"
	if "$BEFORE" --root "$W/r" pull -j 4 --insecure-registry "$PROXY" "$PROXY/big:1" >/dev/null 2>"$W/before.err" ||
		"$BEFORE" --root "$W/r" pull -j 4 --tls-verify=false "$PROXY/big:1" >/dev/null 2>"$W/before.err"; then
		echo "bench registry: before ($BEFORE): pull from a registry ignoring Range: worked"
	else
		echo "bench registry: before ($BEFORE): pull from a registry ignoring Range: FAILED (exit $?): $(tail -1 "$W/before.err")"
	fi
	reg_proxy_mode ""
fi

echo "registry.sh: no-op pushes against a listener that never answers TLS" >&2
mkdir -p "$W/src"
head -c $((1 << 20)) /dev/urandom >"$W/src/f"
printf 'FROM scratch\nCOPY f /f\n' >"$W/src/Dockerfile"
"$EDGECTL" --root "$W/p" -q build -t web:1 "$W/src" >/dev/null
"$EDGECTL" --root "$W/p" push --insecure-registry "$PROXY" web:1 "docker://$PROXY/web:1" >/dev/null 2>&1
noop() { # BINARY ROOT ARGS...
	local b=$1 root=$2
	shift 2
	"$b" --root "$root" --json push "$@" web:1 "docker://$PROXY/web:1" >"$W/push.json"
	jq -e '.blobs_copied == 0' "$W/push.json" >/dev/null
}
# first run: a root that never talked to this registry (a copy of the image)
t_first=$(best 'rm -rf "$W/q"; cp -a "$W/p" "$W/q"; rm -f "$W/q/cache/registries.json"' noop "$EDGECTL" "$W/q" --tls-verify=false)
t_next=$(best ':' noop "$EDGECTL" "$W/q" --tls-verify=false)
t_listed=$(best ':' noop "$EDGECTL" "$W/p" --insecure-registry "$PROXY")
t_peer=$(best ':' timeout 60 skopeo inspect --tls-verify=false "docker://$PROXY/web:1")
echo "bench registry: no-op push, --tls-verify=false, first run (https probe, then http): ${t_first} ms"
echo "bench registry: no-op push, --tls-verify=false, scheme remembered: ${t_next} ms"
echo "bench registry: no-op push, --insecure-registry (http, no TLS attempt): ${t_listed} ms"
echo "bench registry: peer skopeo inspect --tls-verify=false: ${t_peer} ms"
if [ -n "$BEFORE" ]; then
	t_before=$(best ':' "$BEFORE" --root "$W/p" --json push --tls-verify=false web:1 "docker://$PROXY/web:1")
	echo "bench registry: before ($BEFORE): no-op push, --tls-verify=false: ${t_before} ms"
fi
