#!/bin/bash
# tests/demo.sh - the north-star flow as far as it exists, on the embedded
# default: the local directory store and this machine as the only host.
# It grows with every subcommand that lands (see README "Status").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/build:$PATH"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "the store: $(edgectl --json store ls >/dev/null && echo ok) (default: \$XDG_DATA_HOME/edgectl/store, or EDGECTL_STORE)"
app=demo/apps/web.json
spec='{"name":"web","image":"web:1","replicas":2,"resources":{"cpus":0.5,"memory_bytes":67108864}}'

step "publish an app spec (desired state) with put-if-absent"
edgectl store rm "$app" >/dev/null
echo "$spec" | edgectl --json store put --if-absent "$app" - | jq .

step "a second writer racing on the same object: put-if-absent loses (exit 6)"
set +e
echo "$spec" | edgectl store put --if-absent "$app" -
echo "exit status: $?"
set -e

step "compare-and-swap update: read ETag, write with --if-match"
etag=$(edgectl --json store stat "$app" | jq -r .etag)
edgectl store get "$app" | jq -c '.replicas = 3' | edgectl store put --if-match "$etag" "$app" - >/dev/null
echo "replicas now: $(edgectl store get "$app" | jq .replicas)"
set +e
echo "$spec" | edgectl store put --if-match "$etag" "$app" -
echo "a writer holding the old ETag gets exit status: $? (re-read and retry)"
set -e

step "8 concurrent writers, 5 read-modify-write increments each, on one counter"
edgectl store rm demo/counter >/dev/null
echo 0 | edgectl store put demo/counter - >/dev/null
incr() { # $1 = increments; retry on a lost race (exit 6)
	local i etag n rc
	for ((i = 0; i < $1; i++)); do
		while :; do
			etag=$(edgectl --json store stat demo/counter | jq -r .etag)
			n=$(edgectl store get demo/counter)
			rc=0
			echo $((n + 1)) | edgectl -q store put --if-match "$etag" demo/counter - 2>/dev/null || rc=$?
			[ $rc -eq 0 ] && break
			[ $rc -eq 6 ] || return 1
		done
	done
}
pids=()
for w in $(seq 8); do incr 5 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
echo "counter = $(edgectl store get demo/counter) (expected 40)"

step "a 64 MiB object as a parallel multipart upload, then a parallel ranged download"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 64M /dev/urandom >"$tmp/blob"
edgectl --json store put --part-size 8M -j 4 demo/blob "$tmp/blob" | jq -c '{size_bytes, parts, duration_ms}'
edgectl --json store get -j 4 --part-size 8M demo/blob "$tmp/back" | jq -c '{size_bytes, duration_ms}'
cmp "$tmp/blob" "$tmp/back" && echo "round trip verified"

step "what is in the store"
edgectl store ls -r demo/
edgectl store rm demo/blob demo/counter "$app" >/dev/null
echo
echo "demo done. Next to land: build, push/pull, run, schedule, route, prewarm (see README)."
