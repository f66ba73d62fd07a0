#!/usr/bin/env bats
# edgectl push and pull against a real registry (Debian's docker-registry,
# distribution 2.8) with skopeo and umoci as the peers that check us.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/registry
	reg_setup_file
}

teardown_file() {
	load ../lib/registry
	reg_stop
}

setup() {
	load ../lib/common
	load ../lib/registry
	ec_isolate
	reg_require
	export SOURCE_DATE_EPOCH=1700000000
	T=$BATS_TEST_TMPDIR
	SRC=$T/src
	mkdir -p "$SRC/tree/etc" "$SRC/tree/bin"
	echo hello >"$SRC/tree/etc/hello"
	ln -s hello "$SRC/tree/etc/link"
	ln "$SRC/tree/etc/hello" "$SRC/tree/etc/hard"
	head -c $((5 << 20)) /dev/urandom >"$SRC/tree/bin/blob"
	chmod 0750 "$SRC/tree/bin"
	printf 'FROM scratch\nCOPY tree/ /\n' >"$SRC/Dockerfile"
}

tree_sig() {
	(cd "$1" && find . -mindepth 1 -printf '%p %y %m %l %s\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

@test "push to a registry: skopeo inspect and skopeo copy back agree on the digests" {
	run -0 --separate-stderr edgectl -q build -t web:1 "$SRC"
	local built=$output
	run -0 --separate-stderr edgectl --json push --tls-verify=false web:1 "docker://$REGISTRY/team/web:1"
	jq -e --arg d "$built" '.digest == $d and .blobs_copied == 2' <<<"$output"
	run -0 skopeo inspect --tls-verify=false "docker://$REGISTRY/team/web:1"
	jq -e --arg d "$built" '.Digest == $d' <<<"$output"
	skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/team/web:1" "oci:$T/back:web"
	run -0 skopeo inspect "oci:$T/back:web"
	jq -e --arg d "$built" '.Digest == $d' <<<"$output"
	# the same layer digests as the local image
	diff <(skopeo inspect "oci:$EDGECTL_ROOT:web:1" | jq -c .Layers) \
		<(skopeo inspect --tls-verify=false "docker://$REGISTRY/team/web:1" | jq -c .Layers)
	# a second push finds every blob there
	run -0 --separate-stderr edgectl --json push --tls-verify=false web:1 "docker://$REGISTRY/team/web:1"
	jq -e '.blobs_copied == 0' <<<"$output"
}

@test "push in chunks: --chunk-size 1M sends a 5 MiB layer as several PATCH requests" {
	edgectl -q build --compression gzip -t big:1 "$SRC" >/dev/null
	local before after
	before=$(grep -c 'http.request.method=PATCH' "$REGISTRY_DIR/registry.log" || true)
	run -0 --separate-stderr edgectl push --tls-verify=false --chunk-size 1M big:1 "docker://$REGISTRY/chunked:1"
	after=$(grep -c 'http.request.method=PATCH' "$REGISTRY_DIR/registry.log" || true)
	echo "PATCH requests: $((after - before))"
	[ $((after - before)) -ge 5 ]
	skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/chunked:1" "dir:$T/d"
}

@test "skopeo pushes an umoci image (gzip layers); edgectl pull --unpack gives the same tree" {
	umoci init --layout "$T/lay"
	umoci new --image "$T/lay:base"
	umoci insert --image "$T/lay:base" "$SRC/tree" /
	skopeo copy -q --dest-tls-verify=false "oci:$T/lay:base" "docker://$REGISTRY/umoci:1"
	run -0 --separate-stderr edgectl --json pull --tls-verify=false --unpack "$T/flat" "$REGISTRY/umoci:1"
	jq -e --arg n "$REGISTRY/umoci:1" '.destination == $n and .layers_unpacked == 1' <<<"$output"
	diff <(tree_sig "$SRC/tree") <(tree_sig "$T/flat")
	[ "$(stat -c %i "$T/flat/etc/hello")" = "$(stat -c %i "$T/flat/etc/hard")" ]
	run -0 edgectl --json images
	jq -e --arg n "$REGISTRY/umoci:1" 'map(.ref) | index($n) != null' <<<"$output"
}

@test "a Docker v2 schema2 image pushed by skopeo pulls; pull by digest pins it" {
	edgectl -q build --compression gzip -t web:2 "$SRC" >/dev/null
	skopeo copy -q --format v2s2 --dest-tls-verify=false "oci:$EDGECTL_ROOT:web:2" "docker://$REGISTRY/v2s2:1"
	run -0 skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/v2s2:1"
	jq -e '.mediaType == "application/vnd.docker.distribution.manifest.v2+json"' <<<"$output"
	local d
	d=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/v2s2:1" | jq -r .Digest)
	run -0 --separate-stderr edgectl --root "$T/r2" --json pull --tls-verify=false --unpack "$T/flat" "docker://$REGISTRY/v2s2@$d"
	jq -e --arg d "$d" '.digest == $d' <<<"$output"
	diff <(tree_sig "$SRC/tree") <(tree_sig "$T/flat")
}

@test "registry errors: missing tag exits 3, unreachable registry exits 4 naming it" {
	run -3 --separate-stderr edgectl pull --tls-verify=false "docker://$REGISTRY/nothere:1"
	[[ $stderr == *nothere* ]] || { echo "$stderr"; false; }
	run -4 --separate-stderr edgectl pull --tls-verify=false "docker://127.0.0.1:9/x:1"
	[[ $stderr == *"127.0.0.1:9"* ]] || { echo "$stderr"; false; }
}

@test "a multi-platform index in the local root is pushed whole; pull by platform from the registry" {
	local idx
	idx=$(tests/lib/mkindex.sh "$T/mp" multi)
	# the local root gets the whole index from a peer (skopeo --all)
	skopeo copy -q --all "oci:$T/mp:multi" "oci:$EDGECTL_ROOT:multi"
	run -0 --separate-stderr edgectl --json push --tls-verify=false multi "docker://$REGISTRY/mp:1"
	jq -e --arg d "$idx" '.digest == $d and .blobs == 4' <<<"$output"
	run -0 skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/mp:1"
	jq -e '(.manifests | length) == 2 and ([.manifests[].platform.architecture] | sort) == ["amd64", "arm64"]' <<<"$output"
	run -0 --separate-stderr edgectl --root "$T/r2" pull --tls-verify=false --platform linux/arm64 --unpack "$T/f" "docker://$REGISTRY/mp:1"
	[ "$(cat "$T/f/arch")" = arm64 ]
}
