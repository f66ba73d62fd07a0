#!/usr/bin/env bats
# Store faults under running commands: tests/lib/faultproxy.pl between
# edgectl and a real S3 server (Ceph RGW) answers 5xx/SlowDown, resets
# connections before or after the server applied a request, cuts bodies
# short; radosgw itself is killed and restarted. Expected: retries with
# backoff where the request is idempotent or its outcome can be read
# back; a conditional write whose outcome is unknown is resolved by
# reading back (never lost, never doubled); a command that gives up exits 4
# naming what failed, and a re-run finishes the work.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/rgw
	load ../lib/faultproxy
	rgw_setup_file
	[ -z "${RGW_MISSING:-}" ] || return 0
	fault_start
}

teardown_file() {
	load ../lib/rgw
	load ../lib/faultproxy
	fault_stop
	rgw_stop
}

setup() {
	load ../lib/common
	load ../lib/rgw
	load ../lib/faultproxy
	ec_isolate
	rgw_require
	rgw_env
	fault_clear
	EDGECTL_STORE=$(fault_store_url "f$BATS_TEST_NUMBER")
	export EDGECTL_STORE
	T=$BATS_TEST_TMPDIR
}

teardown() {
	# what the proxy saw, for a failing test's output
	[ -z "${FAULT_DIR:-}" ] || tail -n 40 "$FAULT_DIR/log"
}

@test "faults store: put --if-match whose answer is lost after the server applied it succeeds once (read back)" {
	echo v1 >"$T/v1"
	echo v2 >"$T/v2"
	run -0 --separate-stderr edgectl --json store put k "$T/v1"
	e1=$(jq -r .etag <<<"$output")
	fault_clear
	fault_set 'PUT /k$ 1 reset-after'
	run -0 --separate-stderr edgectl --json -v store put --if-match "$e1" k "$T/v2"
	echo "$stderr"
	e2=$(jq -r .etag <<<"$output")
	[ "$(fault_hits 'PUT .*/k -> reset-after 200')" = 1 ]
	[[ $stderr == *"went through after all"* ]]
	run -0 edgectl store get k -
	[ "$output" = v2 ]
	run -0 --separate-stderr edgectl --json store stat k
	[ "$(jq -r .etag <<<"$output")" = "$e2" ]
	# exactly one write reached the server
	[ "$(fault_hits '^PUT ')" = 1 ]
	# the old ETag is stale now: a second conditional write is a conflict
	run -6 --separate-stderr edgectl store put --if-match "$e1" k "$T/v1"
}

@test "faults store: put --if-match reset before it reached the server is sent again and lands once" {
	echo v1 >"$T/v1"
	echo v2 >"$T/v2"
	run -0 --separate-stderr edgectl --json store put k "$T/v1"
	e1=$(jq -r .etag <<<"$output")
	fault_set 'PUT /k$ 1-2 reset'
	run -0 --separate-stderr edgectl store put --if-match "$e1" k "$T/v2"
	[ "$(fault_hits 'PUT .*/k -> reset')" = 2 ]
	run -0 edgectl store get k -
	[ "$output" = v2 ]
}

@test "faults store: 500 and SlowDown on get and put are retried with backoff" {
	head -c 100000 /dev/urandom >"$T/in"
	fault_set 'PUT /k$ 1 status=500' 'PUT /k$ 2 slowdown'
	run -0 --separate-stderr edgectl -v store put k "$T/in"
	echo "$stderr"
	[[ $stderr == *"retry 1/"*"retry 2/"* ]]
	fault_set 'GET /k$ 1-3 slowdown'
	run -0 --separate-stderr edgectl store get k "$T/out"
	cmp "$T/in" "$T/out"
	[ "$(fault_hits 'GET .*/k -> slowdown 503')" = 3 ]
}

@test "faults store: a store that keeps failing: exit 4 naming the key and the status, then a re-run works" {
	echo data >"$T/in"
	fault_set 'PUT /k$ * status=503'
	run -4 --separate-stderr edgectl store put k "$T/in"
	echo "$stderr"
	[[ $stderr == *"'k'"* && $stderr == *503* ]]
	fault_set 'GET /k2$ * reset'
	run -4 --separate-stderr edgectl store get k2 -
	echo "$stderr"
	[[ $stderr == *"'k2'"* ]]
	fault_clear
	run -0 edgectl store put k "$T/in"
	run -0 edgectl store get k -
	[ "$output" = data ]
}

# big_image TAG MIB: an image of one MIB MiB random layer (pushed nowhere).
big_image() {
	mkdir -p "$T/ctx"
	head -c $(($2 << 20)) /dev/urandom >"$T/ctx/blob"
	printf 'FROM scratch\nCOPY blob /blob\n' >"$T/ctx/Dockerfile"
	edgectl -q build -t "$1" "$T/ctx" >/dev/null
}

# digest_of TAG [ROOT]: the image's manifest digest in the (test's) root.
digest_of() {
	edgectl ${2:+--root "$2"} --json images | jq -er --arg t "$1" '.[] | select(.ref == $t) | .digest'
}

# pulled_ok TAG ROOT: TAG pulled (every blob verified) into a fresh ROOT is
# the image of the test's root.
pulled_ok() {
	edgectl --root "$2" -q pull "$1" >/dev/null || return 1
	[ "$(digest_of "$1" "$2")" = "$(digest_of "$1")" ]
}

@test "faults store: push (multipart) through reset, cut upload, 500 and a lost complete answer: one clean object" {
	big_image big:1 40
	fault_set 'PUT partNumber=2& 1 reset' \
		'PUT partNumber=3& 1 cut-request=1000000' \
		'PUT partNumber=5& 1 status=500' \
		'PUT partNumber=6& 1 reset-after' \
		'POST uploadId= 1 reset-after'
	run -0 --separate-stderr edgectl --json -v push --part-size 5M -j 2 big:1
	echo "$stderr" | grep -v '^edgectl: [A-Z]* http' | tail -20
	# every fault fired
	[ "$(fault_hits 'partNumber=2&.* -> reset ')" = 1 ]
	[ "$(fault_hits 'partNumber=3&.* -> cut-request')" = 1 ]
	[ "$(fault_hits 'partNumber=5&.* -> status=500')" = 1 ]
	[ "$(fault_hits 'partNumber=6&.* -> reset-after 200')" = 1 ]
	[ "$(fault_hits '^POST .*uploadId=.* -> reset-after 200')" = 1 ]
	# no upload left open, the blob verifies on a pull into another root
	fault_clear
	run -0 pulled_ok big:1 "$T/r2"
}

@test "faults store: pull (ranges) through reset, cut bodies and SlowDown: verified, nothing half-visible" {
	big_image big:1 40
	run -0 edgectl -q push big:1
	fault_set 'GET /blobs/sha256/ 2 reset-body=1000000' \
		'GET /blobs/sha256/ 3 slowdown' \
		'GET /blobs/sha256/ 4 reset' \
		'GET /blobs/sha256/ 6 reset-body=70000'
	run -0 --separate-stderr edgectl --root "$T/r2" -v pull -j 2 big:1
	echo "$stderr" | grep -v '^edgectl: [A-Z]* http' | tail -20
	[ "$(fault_hits 'GET .*blobs.* -> reset-body=1000000')" = 1 ]
	[ "$(fault_hits 'GET .*blobs.* -> slowdown 503')" = 1 ]
	[ "$(digest_of big:1 "$T/r2")" = "$(digest_of big:1)" ]
	# no partial files left behind
	run -0 find "$T/r2" -name '*.partial*' -o -name '*.tmp*'
	[ -z "$output" ]
}

@test "faults store: push that gives up exits 4 naming the part; the re-run sends only what is missing" {
	big_image big:1 40
	fault_set 'PUT partNumber=4& * status=503'
	run -4 --separate-stderr edgectl push --part-size 5M -j 2 big:1
	echo "$stderr"
	[[ $stderr == *"part 4"* && $stderr == *503* ]]
	run -3 edgectl store stat refs/big/1
	fault_clear
	run -0 --separate-stderr edgectl --json push --part-size 5M -j 2 big:1
	echo "$output"
	jq -e '.parts_resumed > 0' <<<"$output"
	[ "$(fault_hits 'partNumber=1&')" = 0 ]
	run -0 pulled_ok big:1 "$T/r2"
}
