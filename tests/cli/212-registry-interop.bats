#!/usr/bin/env bats
# edgectl push and pull against registries as they behave out there:
# one that ignores Range, a plain-http one that never answers a TLS hello,
# cross-repository mounts (and a HEAD that lies about a mount), -v/-vv,
# an interrupted pull resumed, a corrupt local blob, a Location that is
# not http(s). Real docker-registry (distribution 2.8), with
# tests/lib/reg-proxy.pl in front of it where a behaviour is needed.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/registry
	reg_setup_file || return
	[ -n "${REGISTRY_MISSING:-}" ] && return 0
	reg_proxy_start
	# one image with two 40 MiB layers (random: nothing to compress),
	# pushed by skopeo straight to the registry
	local w=$BATS_FILE_TMPDIR/big
	mkdir -p "$w/a" "$w/b"
	head -c $((40 << 20)) /dev/urandom >"$w/a/a.bin"
	head -c $((40 << 20)) /dev/urandom >"$w/b/b.bin"
	tar -C "$w/a" -cf "$w/a.tar" a.bin
	tar -C "$w/b" -cf "$w/b.tar" b.bin
	tests/lib/mkimage.sh "$w/lay" big none "$w/a.tar" "$w/b.tar" >/dev/null
	skopeo copy -q --dest-tls-verify=false "oci:$w/lay:big" "docker://$REGISTRY/big:1"
	rm -rf "$w"
	# the digest the registry serves (skopeo rewrites the manifest)
	export BIG_DIGEST
	BIG_DIGEST=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/big:1" | jq -r .Digest)
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
	reg_proxy_mode ""
	: >"$PROXY_LOG"
	export SOURCE_DATE_EPOCH=1700000000
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/src/tree"
	head -c $((5 << 20)) /dev/urandom >"$T/src/tree/blob"
	printf 'FROM scratch\nCOPY tree/ /\n' >"$T/src/Dockerfile"
}

# blob GETs the proxy saw: "range=..." of each
blob_gets() {
	grep -E '^GET /v2/[^ ]*/blobs/sha256:' "$PROXY_LOG" || true
}

@test "pull: a registry that ignores Range streams big blobs whole, probed once per run" {
	reg_proxy_mode norange
	run -0 --separate-stderr edgectl -v --json pull -j 4 --insecure-registry "$PROXY" "$PROXY/big:1"
	jq -e --arg d "$BIG_DIGEST" '.digest == $d and .blobs_copied == 3' <<<"$output"
	[[ $stderr == *"ignores Range"* ]] || { echo "$stderr"; false; }
	# each blob asked for once: the 200 to a ranged GET was taken as the
	# whole blob, not refused and asked for again
	blob_gets
	[ "$(blob_gets | wc -l)" = 3 ]
	# -j 1: the first big layer's ranged GET learns it, the second layer
	# is asked for whole (edgectl's own -vv shows the Range headers sent;
	# the proxy drops them)
	: >"$PROXY_LOG"
	run -0 --separate-stderr edgectl --root "$T/r2" -vv pull -j 1 --insecure-registry "$PROXY" "$PROXY/big:1"
	[ "$(grep -c '> Range: bytes=' <<<"$stderr")" = 1 ] || { grep 'Range' <<<"$stderr"; false; }
	[ "$(blob_gets | wc -l)" = 3 ]
	# same bytes as the registry holds: skopeo reads it back
	run -0 skopeo inspect "oci:$T/r2:$PROXY/big:1"
}

@test "pull: Accept-Ranges: none is believed: no ranged GET is tried" {
	reg_proxy_mode norange arnone
	# -j 1: the config blob's answer comes before the layers are asked for
	run -0 --separate-stderr edgectl -vv --json pull -j 1 --insecure-registry "$PROXY" "$PROXY/big:1"
	jq -e --arg d "$BIG_DIGEST" '.digest == $d' <<<"$output"
	[[ $stderr == *"< Accept-Ranges: none"* ]] || { echo "$stderr"; false; }
	run -1 grep -c '> Range: bytes=' <<<"$stderr"
	[ "$(blob_gets | wc -l)" = 3 ]
}

@test "pull: a registry that honours Range is read in parallel ranges" {
	run -0 --separate-stderr edgectl -vv --json pull -j 4 --insecure-registry "$PROXY" "$PROXY/big:1"
	jq -e --arg d "$BIG_DIGEST" '.digest == $d' <<<"$output"
	# 40 MiB = two 32 MiB ranges per layer
	[ "$(blob_gets | grep -c 'range=bytes=')" = 4 ] || { blob_gets; false; }
	[[ $stderr != *"ignores Range"* ]]
}

@test "--tls-verify=false: a listener that takes TCP but never answers TLS costs ~1 s once, then nothing" {
	edgectl -q build -t web:1 "$T/src" >/dev/null
	local ms
	run -0 --separate-stderr edgectl -v --json push --tls-verify=false web:1 "docker://$PROXY/web:1"
	grep -q tls-hello "$PROXY_LOG"
	# the TLS probe gave up after its own short timeout (curl says how
	# long it waited: not a clock read here, so load cannot fail it)
	[[ $stderr == *"milliseconds; trying plain http"* ]] || { echo "$stderr"; false; }
	ms=$(grep -oE 'after [0-9]+ milliseconds' <<<"$stderr" | head -n 1 | grep -oE '[0-9]+')
	echo "TLS probe: $ms ms"
	[ -n "$ms" ]
	[ "$ms" -lt 2000 ]
	jq -e --arg r "$PROXY" '.registries[$r].scheme == "http"' "$EDGECTL_ROOT/cache/registries.json"
	# remembered: no TLS attempt at all the next time
	: >"$PROXY_LOG"
	run -0 --separate-stderr edgectl -v --json push --tls-verify=false web:1 "docker://$PROXY/web:1"
	jq -e '.blobs_copied == 0' <<<"$output"
	run -1 grep -q tls-hello "$PROXY_LOG"
	[[ $stderr != *"trying plain http"* ]] || { echo "$stderr"; false; }
}

@test "insecure_registries (config) and --insecure-registry: plain http, never a TLS hello" {
	edgectl -q build -t web:1 "$T/src" >/dev/null
	mkdir -p "$XDG_CONFIG_HOME/edgectl"
	printf '{"insecure_registries": ["%s"]}\n' "$PROXY" >"$XDG_CONFIG_HOME/edgectl/config.json"
	run -0 --separate-stderr edgectl --json push web:1 "docker://$PROXY/web:2"
	run -1 grep -q tls-hello "$PROXY_LOG"
	# a host without a port covers every port of it
	printf '{"insecure_registries": ["127.0.0.1"]}\n' >"$XDG_CONFIG_HOME/edgectl/config.json"
	run -0 --separate-stderr edgectl --root "$T/r2" --json pull "$PROXY/web:2"
	run -1 grep -q tls-hello "$PROXY_LOG"
	rm "$XDG_CONFIG_HOME/edgectl/config.json"
	run -0 --separate-stderr edgectl --root "$T/r3" --json pull --insecure-registry "$PROXY" "$PROXY/web:2"
	run -1 grep -q tls-hello "$PROXY_LOG"
	# build's FROM follows the config's list too
	printf '{"insecure_registries": ["%s"]}\n' "$PROXY" >"$XDG_CONFIG_HOME/edgectl/config.json"
	mkdir -p "$T/fromctx"
	printf 'FROM %s/web:2\nENV FROM_REGISTRY=1\n' "$PROXY" >"$T/fromctx/Dockerfile"
	run -0 --separate-stderr edgectl --root "$T/r5" -q build -t derived:1 "$T/fromctx"
	run -1 grep -q tls-hello "$PROXY_LOG"
	rm "$XDG_CONFIG_HOME/edgectl/config.json"
	# malformed list: usage error
	printf '{"insecure_registries": "%s"}\n' "$PROXY" >"$XDG_CONFIG_HOME/edgectl/config.json"
	run -2 --separate-stderr edgectl pull "$PROXY/web:2"
	[[ $stderr == *insecure_registries* ]] || { echo "$stderr"; false; }
	# without either (and without --tls-verify=false) TLS is required;
	# the error says how to allow plain http
	rm "$XDG_CONFIG_HOME/edgectl/config.json"
	run -4 --separate-stderr edgectl --root "$T/r4" pull "$REGISTRY/web:2"
	[[ $stderr == *insecure_registries* ]] || { echo "$stderr"; false; }
}

@test "push: a blob already in another repository is mounted, no blob bytes uploaded" {
	edgectl -q build -t web:1 "$T/src" >/dev/null
	run -0 --separate-stderr edgectl --json push --insecure-registry "$REGISTRY" web:1 "docker://$REGISTRY/team/a:1"
	jq -e '.blobs_copied == 2 and .blobs_mounted == 0' <<<"$output"
	local before
	before=$(wc -l <"$REGISTRY_DIR/registry.log")
	run -0 --separate-stderr edgectl --json push --insecure-registry "$REGISTRY" web:1 "docker://$REGISTRY/team/b:1"
	jq -e '.blobs_copied == 0 and .blobs_mounted == 2' <<<"$output"
	tail -n +"$((before + 1))" "$REGISTRY_DIR/registry.log" >"$T/log"
	# two mounts, and no PATCH or PUT of blob bytes
	[ "$(grep -c 'http.request.method=POST.*mount=sha256' "$T/log")" = 2 ] || { grep POST "$T/log"; false; }
	run -1 grep -E 'http.request.method=(PATCH|PUT) .*blobs/uploads' "$T/log"
	run -1 grep -E 'http.request.method=(PATCH|PUT).*uri="/v2/team/b/blobs/uploads' "$T/log"
	run -0 skopeo inspect --tls-verify=false "docker://$REGISTRY/team/b:1"
	# registry to registry in a fresh root: mounted from the source repo
	run -0 --separate-stderr edgectl --root "$T/r2" --json push --insecure-registry "$REGISTRY" "docker://$REGISTRY/team/a:1" "docker://$REGISTRY/team/c:1"
	jq -e '.blobs_mounted == 2 and .blobs_copied == 0' <<<"$output"
	run -0 skopeo inspect --tls-verify=false "docker://$REGISTRY/team/c:1"
}

@test "push: a mount whose HEAD does not match is not trusted: the blob is uploaded" {
	edgectl -q build -t web:1 "$T/src" >/dev/null
	run -0 --separate-stderr edgectl --json push --insecure-registry "$PROXY" web:1 "docker://$PROXY/lie/a:1"
	reg_proxy_mode badhead
	run -0 --separate-stderr edgectl -v --json push --insecure-registry "$PROXY" web:1 "docker://$PROXY/lie/b:1"
	jq -e '.blobs_mounted == 0 and .blobs_copied == 2' <<<"$output"
	[[ $stderr == *"does not match it; uploading"* ]] || { echo "$stderr"; false; }
	grep -q '^PATCH /v2/lie/b/blobs/uploads\|^PUT /v2/lie/b/blobs/uploads' "$PROXY_LOG"
	reg_proxy_mode ""
	run -0 skopeo inspect --tls-verify=false "docker://$REGISTRY/lie/b:1"
}

@test "-v and -vv print registry traffic: exchanges at -v, request and answer headers at -vv" {
	edgectl -q build -t web:1 "$T/src" >/dev/null
	run -0 --separate-stderr edgectl -v push --insecure-registry "$REGISTRY" web:1 "docker://$REGISTRY/verbose:1"
	[[ $stderr == *"GET http://$REGISTRY/v2/ -> "* ]] || { echo "$stderr"; false; }
	[[ $stderr == *"PUT http://$REGISTRY/v2/verbose/manifests/1 -> 201"* ]] || { echo "$stderr"; false; }
	[[ $stderr != *"edgectl: > "* ]]
	run -0 --separate-stderr edgectl --root "$T/r2" -vv pull --insecure-registry "$REGISTRY" "$REGISTRY/verbose:1"
	[[ $stderr == *"GET http://$REGISTRY/v2/verbose/manifests/1 -> 200"* ]] || { echo "$stderr"; false; }
	[[ $stderr == *"edgectl: > Accept: application/vnd.oci.image.index.v1+json"* ]] || { echo "$stderr"; false; }
	[[ $stderr == *"edgectl: < Docker-Content-Digest: sha256:"* ]] || { echo "$stderr"; false; }
	# without -v: nothing but the summary
	run -0 --separate-stderr edgectl --root "$T/r3" pull --insecure-registry "$REGISTRY" "$REGISTRY/verbose:1"
	[[ $stderr != *"-> 200"* ]]
}

@test "pull: an interrupted registry pull resumes with ranged GETs where it stopped" {
	# 12 MiB/s: the first 32 MiB range of a layer is done after ~3 s;
	# edgectl is killed once the journal records it
	reg_proxy_mode slow=$((12 << 20))
	edgectl pull -j 1 --insecure-registry "$PROXY" "$PROXY/big:1" 2>"$T/err1" &
	local pid=$!
	for _ in $(seq 1 300); do
		compgen -G "$EDGECTL_ROOT/blobs/sha256/.partial-*.json" >/dev/null && break
		sleep 0.05
	done
	kill -KILL "$pid"
	wait "$pid" || true
	compgen -G "$EDGECTL_ROOT/blobs/sha256/.partial-*.json" >/dev/null || { cat "$T/err1"; false; }
	local j hex
	j=$(compgen -G "$EDGECTL_ROOT/blobs/sha256/.partial-*.json" | head -1)
	jq -e '.done == [0] and .part_size == 33554432' "$j"
	local size
	size=$(jq -r .size "$j")
	hex=${j##*/.partial-}
	hex=${hex%.json}
	reg_proxy_mode ""
	: >"$PROXY_LOG"
	run -0 --separate-stderr edgectl --json pull -j 1 --insecure-registry "$PROXY" "$PROXY/big:1"
	jq -e --arg d "$BIG_DIGEST" '.digest == $d and .bytes_resumed >= 33554432' <<<"$output"
	# that blob: only the range that was not on disk was asked for
	run -0 grep -F "sha256:$hex range=" "$PROXY_LOG"
	[ "$output" = "GET /v2/big/blobs/sha256:$hex range=bytes=33554432-$((size - 1))" ] || { echo "$output"; false; }
	compgen -G "$EDGECTL_ROOT/blobs/sha256/.partial-*" && false
	run -0 skopeo inspect "oci:$EDGECTL_ROOT:$PROXY/big:1"
}

@test "push: a corrupt local blob is refused, never published under its digest" {
	edgectl -q build -t web:1 "$T/src" >/dev/null
	local layer f
	layer=$(skopeo inspect "oci:$EDGECTL_ROOT:web:1" | jq -r '.Layers[0]')
	f=$EDGECTL_ROOT/blobs/sha256/${layer#sha256:}
	chmod u+w "$f"
	# same size, one byte changed in the middle
	printf 'X' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") / 2)) conv=notrunc status=none
	# one request (monolithic) and chunked PATCHes
	run -1 --separate-stderr edgectl push --insecure-registry "$REGISTRY" web:1 "docker://$REGISTRY/corrupt/a:1"
	[[ $stderr == *"local blob $layer is corrupt"* ]] || { echo "$stderr"; false; }
	run -1 --separate-stderr edgectl push --chunk-size 1M --insecure-registry "$REGISTRY" web:1 "docker://$REGISTRY/corrupt/b:1"
	[[ $stderr == *"local blob $layer is corrupt"* ]] || { echo "$stderr"; false; }
	local r
	for r in corrupt/a corrupt/b; do
		run -0 curl -s -o /dev/null -w '%{http_code}' -I "http://$REGISTRY/v2/$r/blobs/$layer"
		[ "$output" = 404 ]
	done
	# the same for a push to the object store
	run -1 --separate-stderr edgectl --store "file://$T/store" push web:1
	[[ $stderr == *"local blob $layer is corrupt"* ]] || { echo "$stderr"; false; }
	[ ! -e "$T/store/blobs/sha256/${layer#sha256:}" ]
}

@test "push: an upload Location that is not http(s) is refused, not taken as a path" {
	edgectl -q build -t web:1 "$T/src" >/dev/null
	reg_proxy_mode badloc
	run -4 --separate-stderr edgectl push --insecure-registry "$PROXY" web:1 "docker://$PROXY/loc:1"
	[[ $stderr == *"'file:///etc/passwd', which is not an http(s) URL"* ]] || { echo "$stderr"; false; }
}
