#!/bin/bash
# mkimage.sh DIR TAG gzip|zstd|none LAYER.tar... - write an OCI image
# layout in DIR (created or added to) holding one image tagged TAG whose
# layers are the given tar files, as they are (nothing is checked or
# cleaned: this is how tests make hostile images). The config's diff_ids
# are the sha256 of each tar. Prints the manifest digest.
# MKIMAGE_ZSTD="OPTS" compresses zstd layers with `zstd OPTS` from a pipe
# (the frame header then keeps the window OPTS asks for, e.g. --long=26).
# MKIMAGE_FORMAT=docker writes a Docker v2 schema2 manifest (docker media
# types, gzip layers), as older registries and tools hold them.
set -euo pipefail
dir=${1:?usage: mkimage.sh DIR TAG gzip|zstd|none LAYER.tar...}
tag=${2:?tag}
comp=${3:?compression}
shift 3
mkdir -p "$dir/blobs/sha256"
[ -e "$dir/oci-layout" ] || echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
[ -e "$dir/index.json" ] || echo '{"schemaVersion":2,"manifests":[]}' >"$dir/index.json"

# put FILE -> prints "sha256:HEX SIZE"
put() {
	local h s
	h=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	cp "$1" "$dir/blobs/sha256/$h"
	echo "sha256:$h $s"
}

mmt=application/vnd.oci.image.manifest.v1+json
cmt=application/vnd.oci.image.config.v1+json
case $comp in
gzip) mt=application/vnd.oci.image.layer.v1.tar+gzip ;;
zstd) mt=application/vnd.oci.image.layer.v1.tar+zstd ;;
none) mt=application/vnd.oci.image.layer.v1.tar ;;
*) echo "mkimage.sh: compression '$comp': gzip, zstd or none" >&2; exit 2 ;;
esac
if [ "${MKIMAGE_FORMAT:-oci}" = docker ]; then
	[ "$comp" = gzip ] || { echo "mkimage.sh: docker format needs gzip" >&2; exit 2; }
	mt=application/vnd.docker.image.rootfs.diff.tar.gzip
	mmt=application/vnd.docker.distribution.manifest.v2+json
	cmt=application/vnd.docker.container.image.v1+json
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
diffs='[]' layers='[]'
for t in "$@"; do
	d=sha256:$(sha256sum "$t" | cut -d' ' -f1)
	case $comp in
	gzip) gzip -n -c "$t" >"$tmp/l" ;;
	zstd)
		if [ -n "${MKIMAGE_ZSTD:-}" ]; then
			# shellcheck disable=SC2086 # options, split on purpose
			zstd -q $MKIMAGE_ZSTD -c <"$t" >"$tmp/l"
		else
			zstd -q -c "$t" >"$tmp/l"
		fi
		;;
	none) cp "$t" "$tmp/l" ;;
	esac
	read -r dg sz < <(put "$tmp/l")
	diffs=$(jq -c --arg d "$d" '. + [$d]' <<<"$diffs")
	layers=$(jq -c --arg m "$mt" --arg d "$dg" --argjson s "$sz" \
		'. + [{mediaType: $m, digest: $d, size: $s}]' <<<"$layers")
done
jq -cn --argjson d "$diffs" '{architecture: "amd64", os: "linux",
	config: {}, rootfs: {type: "layers", diff_ids: $d}, history: []}' >"$tmp/config"
read -r cdg csz < <(put "$tmp/config")
jq -cn --arg c "$cdg" --argjson cs "$csz" --argjson l "$layers" --arg mm "$mmt" \
	--arg cm "$cmt" '{schemaVersion: 2, mediaType: $mm,
	config: {mediaType: $cm, digest: $c, size: $cs},
	layers: $l}' >"$tmp/manifest"
read -r mdg msz < <(put "$tmp/manifest")
jq -c --arg d "$mdg" --argjson s "$msz" --arg t "$tag" --arg mm "$mmt" '.manifests |= ([.[] |
	select(.annotations["org.opencontainers.image.ref.name"] != $t)] + [{
	mediaType: $mm, digest: $d,
	size: $s, annotations: {"org.opencontainers.image.ref.name": $t}}])' \
	"$dir/index.json" >"$tmp/index"
mv "$tmp/index" "$dir/index.json"
echo "$mdg"
