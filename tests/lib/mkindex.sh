#!/bin/bash
# mkindex.sh DIR TAG - add to the OCI layout DIR a two-platform image index
# tagged TAG: a linux/amd64 manifest whose one layer holds /arch = "amd64"
# and a linux/arm64 one with "arm64" (made with mkimage.sh, gzip layers).
set -euo pipefail
dir=${1:?usage: mkindex.sh DIR TAG} tag=${2:?usage: mkindex.sh DIR TAG}
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
entries='[]'
for a in amd64 arm64; do
	mkdir -p "$t/$a"
	echo "$a" >"$t/$a/arch"
	tar -C "$t/$a" -cf "$t/$a.tar" arch
	d=$("$here/mkimage.sh" "$dir" "$tag-$a" gzip "$t/$a.tar")
	s=$(stat -c %s "$dir/blobs/sha256/${d#sha256:}")
	entries=$(jq -c --arg d "$d" --argjson s "$s" --arg a "$a" '. + [{
		mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d,
		size: $s, platform: {os: "linux", architecture: $a}}]' <<<"$entries")
done
jq -cn --argjson e "$entries" '{schemaVersion: 2,
	mediaType: "application/vnd.oci.image.index.v1+json", manifests: $e}' >"$t/idx"
m=$(sha256sum "$t/idx" | cut -d' ' -f1)
s=$(stat -c %s "$t/idx")
cp "$t/idx" "$dir/blobs/sha256/$m"
jq -c --arg d "sha256:$m" --argjson s "$s" --arg t "$tag" '.manifests += [{
	mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
	annotations: {"org.opencontainers.image.ref.name": $t}}]' "$dir/index.json" >"$t/ij"
mv "$t/ij" "$dir/index.json"
echo "sha256:$m"
