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
	fault_setup_file
}

teardown_file() {
	load ../lib/rgw
	load ../lib/faultproxy
	fault_teardown_file
}

setup() {
	load ../lib/common
	load ../lib/rgw
	load ../lib/faultproxy
	fault_setup f
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

@test "faults store: 500, SlowDown, a stalled answer and latency on get and put: retried with backoff" {
	head -c 100000 /dev/urandom >"$T/in"
	fault_set 'PUT /k$ 1 status=500' 'PUT /k$ 2 slowdown'
	run -0 --separate-stderr edgectl -v store put k "$T/in"
	echo "$stderr"
	[[ $stderr == *"retry 1/"*"retry 2/"* ]]
	# three SlowDowns, a server that hangs 2 s then drops the connection,
	# and 300 ms of latency
	fault_set 'GET /k$ 1-3 slowdown' 'GET /k$ 4 stall=2' 'GET /k$ 5 delay=300'
	run -0 --separate-stderr edgectl store get k "$T/out"
	cmp "$T/in" "$T/out"
	[ "$(fault_hits 'GET .*/k -> slowdown 503')" = 3 ]
	[ "$(fault_hits 'GET .*/k -> stall=2')" = 1 ]
	[ "$(fault_hits 'GET .*/k -> delay=300 200')" = 1 ]
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
	# a conditional write that gets 503 every time: each is read back
	# (still the old object), then exit 4; the object is untouched
	echo v2 >"$T/v2"
	run -0 --separate-stderr edgectl --json store stat k
	e1=$(jq -r .etag <<<"$output")
	fault_set 'PUT /k$ * status=503'
	run -4 --separate-stderr edgectl store put --if-match "$e1" k "$T/v2"
	echo "$stderr"
	[[ $stderr == *"'k'"* && $stderr == *503* ]]
	[ "$(fault_hits 'PUT .*/k -> status=503')" -ge 2 ]
	fault_clear
	run -0 edgectl store get k -
	[ "$output" = data ]
	run -0 edgectl store put --if-match "$e1" k "$T/v2"
	run -0 edgectl store get k -
	[ "$output" = v2 ]
}

# with_stall_timeout S: the store URL with the client's stall timeout S s
with_stall_timeout() {
	EDGECTL_STORE="$EDGECTL_STORE&stall_timeout=$1"
	export EDGECTL_STORE
}

@test "faults store: put --if-match whose answer never comes (stall past the client's timeout): read back, once; a stall before the server: sent again, once" {
	echo v1 >"$T/v1"
	echo v2 >"$T/v2"
	echo v3 >"$T/v3"
	run -2 --separate-stderr edgectl --store "$EDGECTL_STORE&stall_timeout=0" store stat k
	[[ $stderr == *"stall_timeout='0'"* ]]
	with_stall_timeout 2
	run -0 --separate-stderr edgectl --json store put k "$T/v1"
	e1=$(jq -r .etag <<<"$output")
	# applied, then no answer for 20 s: the client gives up after 2 s of
	# silence and reads back
	fault_clear
	fault_set 'PUT /k$ 1 stall-after=20'
	run -0 --separate-stderr edgectl --json -v store put --if-match "$e1" k "$T/v2"
	echo "$stderr" | grep -v '^edgectl: [A-Z]* http'
	e2=$(jq -r .etag <<<"$output")
	[ "$(fault_hits 'PUT .*/k -> stall-after=20 200')" = 1 ]
	[ "$(fault_hits '^PUT ')" = 1 ]
	[[ $stderr == *"went through after all"* ]]
	fault_clear
	run -0 edgectl store get k -
	[ "$output" = v2 ]
	# not applied (the server never saw it), no answer: written again
	fault_set 'PUT /k$ 1 stall=20'
	run -0 --separate-stderr edgectl --json store put --if-match "$e2" k "$T/v3"
	[ "$(fault_hits 'PUT .*/k -> stall=20')" = 1 ]
	[ "$(fault_hits '^PUT ')" = 2 ]
	fault_clear
	run -0 edgectl store get k -
	[ "$output" = v3 ]
	run -6 --separate-stderr edgectl store put --if-match "$e2" k "$T/v1"
}

@test "faults store: schedule host and app commits whose answers never come: every placement once, none lost" {
	ec_tiny_image app:1 push
	fault_fleet 1 3 4
	with_stall_timeout 2
	fault_set 'PUT /fleet/loc1/hosts/ 1 stall-after=20' 'PUT /fleet/loc1/hosts/ 3 stall=20' \
		'PUT /apps/ 1 stall-after=20'
	run -0 --separate-stderr edgectl --json -v schedule --no-start --image app:1 --name web --replicas 6 --cpus 1
	echo "$stderr" | grep -v '^edgectl: [A-Z]* http' | tail
	jq -e '.placements | length == 6' <<<"$output"
	[ "$(fault_hits 'PUT .*hosts.* -> stall-after=20 200')" = 1 ]
	[ "$(fault_hits 'PUT .*hosts.* -> stall=20')" = 1 ]
	[ "$(fault_hits 'PUT .*apps.* -> stall-after=20 200')" = 1 ]
	fault_clear
	audit_clean web
	[ "$(jq .total <<<"$(fault_audit web)")" = 6 ]
	jq -e '[.placements[].replica] | sort == [0,1,2,3,4,5]' <(edgectl store get apps/web.json -)
}

# pulled_ok TAG ROOT: TAG pulled (every blob verified) into a fresh ROOT is
# the image of the test's root.
pulled_ok() {
	edgectl --root "$2" -q pull "$1" >/dev/null || return 1
	[ "$(fault_digest "$1" "$2")" = "$(fault_digest "$1")" ]
}

@test "faults store: push (multipart) through reset, cut upload, 500 and a lost complete answer: one clean object" {
	fault_image big:1 40
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
	# no upload left open, no journal, the blob verifies on a pull into
	# another root
	fault_clear
	[ "$(fault_open_uploads)" = 0 ]
	[ -z "$(ls -A "$EDGECTL_ROOT/cache/uploads" 2>/dev/null)" ]
	run -0 pulled_ok big:1 "$T/r2"
}

@test "faults store: pull (ranges) through reset, cut bodies and SlowDown: verified, nothing half-visible" {
	fault_image big:1 40
	run -0 edgectl -q push big:1
	fault_set 'GET /blobs/sha256/ 2 reset-body=1000000' \
		'GET /blobs/sha256/ 3 slowdown' \
		'GET /blobs/sha256/ 4 reset' \
		'GET /blobs/sha256/ 6 reset-body=70000'
	run -0 --separate-stderr edgectl --root "$T/r2" -v pull -j 2 big:1
	echo "$stderr" | grep -v '^edgectl: [A-Z]* http' | tail -20
	# every fault fired
	[ "$(fault_hits 'GET .*blobs.* -> reset-body=1000000 ')" = 1 ]
	[ "$(fault_hits 'GET .*blobs.* -> slowdown 503')" = 1 ]
	[ "$(fault_hits 'GET .*blobs.* -> reset - ')" = 1 ]
	[ "$(fault_hits 'GET .*blobs.* -> reset-body=70000 ')" = 1 ]
	[ "$(fault_digest big:1 "$T/r2")" = "$(fault_digest big:1)" ]
	# no partial files left behind
	run -0 fault_leftovers "$T/r2"
	[ -z "$output" ]
}

@test "faults store: pull whose blob GET fails every time exits 4 naming the blob; nothing half-visible; a re-run finishes" {
	local big
	fault_image big:1 8
	run -0 edgectl -q push big:1
	big=$(ls -S "$EDGECTL_ROOT/blobs/sha256" | head -1)
	fault_set "GET /blobs/sha256/$big * reset"
	run -4 --separate-stderr edgectl --root "$T/r2" pull big:1
	echo "$stderr"
	[[ $stderr == *"$big"* ]]
	[ "$(fault_hits "GET .*$big -> reset ")" -ge 2 ]
	run -0 --separate-stderr edgectl --root "$T/r2" --json images
	[ "$output" = "[]" ]
	[ ! -e "$T/r2/blobs/sha256/$big" ]
	fault_clear
	run -0 --separate-stderr edgectl --root "$T/r2" -q pull big:1
	[ "$(fault_digest big:1 "$T/r2")" = "$(fault_digest big:1)" ]
	run -0 fault_leftovers "$T/r2"
	[ -z "$output" ]
}

@test "faults store: push that gives up exits 4 naming the part; the re-run sends only what is missing" {
	fault_image big:1 40
	fault_set 'PUT partNumber=4& * status=503'
	run -4 --separate-stderr edgectl push --part-size 5M -j 2 big:1
	echo "$stderr"
	[[ $stderr == *"part 4"* && $stderr == *503* ]]
	[ "$(fault_hits 'partNumber=4&.* -> status=503')" -ge 2 ]
	run -3 edgectl store stat refs/big/1
	# the upload stays open for the resume (which also shows the count
	# below sees uploads)
	[ "$(fault_open_uploads)" -ge 1 ]
	# what a resume needs is kept (the journal), nothing else half-written
	run -0 fault_leftovers "$EDGECTL_ROOT"
	[ -z "$output" ]
	fault_clear
	run -0 --separate-stderr edgectl --json push --part-size 5M -j 2 big:1
	echo "$output"
	jq -e '.parts_resumed > 0' <<<"$output"
	[ "$(fault_hits 'partNumber=1&')" = 0 ]
	# done: no multipart upload left open on the server, no journal
	[ "$(fault_open_uploads)" = 0 ]
	[ -z "$(ls -A "$EDGECTL_ROOT/cache/uploads" 2>/dev/null)" ]
	run -0 pulled_ok big:1 "$T/r2"
}

audit_clean() {
	run -0 fault_audit "$@"
	echo "audit: $output"
	jq -e '.over == [] and .lost == [] and .orphans == [] and .dup == []' <<<"$output"
}

@test "faults store: schedule commits through lost answers, resets and 503s: every placement once, none lost" {
	ec_tiny_image app:1 push
	fault_fleet 1 3 4
	fault_set 'PUT /fleet/loc1/hosts/ 1 reset-after' \
		'PUT /fleet/loc1/hosts/ 2 reset' \
		'PUT /fleet/loc1/hosts/ 3 slowdown' \
		'PUT /apps/ 1 reset-after' \
		'GET /fleet/loc1/hosts/ 2 reset-body=10'
	run -0 --separate-stderr edgectl --json -v schedule --no-start --image app:1 --name web --replicas 6 --cpus 1
	echo "$stderr" | grep -v '^edgectl: [A-Z]* http' | tail
	jq -e '.placements | length == 6' <<<"$output"
	# every fault fired
	[ "$(fault_hits 'PUT .*hosts.* -> reset-after 200')" = 1 ]
	[ "$(fault_hits 'PUT .*hosts.* -> reset - ')" = 1 ]
	[ "$(fault_hits 'PUT .*hosts.* -> slowdown 503')" = 1 ]
	[ "$(fault_hits 'PUT .*apps.* -> reset-after 200')" = 1 ]
	[ "$(fault_hits 'GET .*hosts.* -> reset-body=10 ')" = 1 ]
	fault_clear
	audit_clean web
	jq -e '[.placements[].replica] | sort == [0,1,2,3,4,5]' <(edgectl store get apps/web.json -)
}

@test "faults store: schedule that gives up exits 4 naming what failed; the re-run places the rest, no doubles" {
	ec_tiny_image app:1 push
	fault_fleet 1 3 4
	# host commits land, the app record never does
	fault_set 'PUT /apps/web.json * status=503'
	run -4 --separate-stderr edgectl schedule --no-start --image app:1 --name web --replicas 4 --cpus 1
	echo "$stderr"
	[[ $stderr == *"apps/web.json"* && $stderr == *503* && $stderr == *"nothing placed"* ]]
	audit_clean web
	fault_clear
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name web --replicas 4 --cpus 1
	echo "$output"
	jq -e '.placements | length == 4' <<<"$output"
	jq -e '[.placements[].replica] | sort == [0,1,2,3]' <(edgectl store get apps/web.json -)
	[ "$(jq '.total' <<<"$(fault_audit web)")" = 4 ]
	audit_clean web
	# the store itself fails on the host objects: nothing committed
	fault_set 'GET /fleet/loc1/hosts/ * status=500'
	run -4 --separate-stderr edgectl schedule --no-start --image app:1 --name api --replicas 2 --cpus 1
	echo "$stderr"
	[[ $stderr == *"fleet/loc1/hosts/l1h"* ]]
	fault_clear
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name api --replicas 2 --cpus 1
	jq -e '.placements | length == 2' <<<"$output"
	[ "$(jq '.total' <<<"$(fault_audit web api)")" = 6 ]
	audit_clean web api
}

@test "faults store: prewarm records the warm set through a lost answer and a 503 (once, not twice)" {
	ec_tiny_image app:1 push
	edgectl location add loc1 --lat 10 --lon 20 --utc-offset +01:00
	edgectl -q host add local --location loc1 --host-root "$T/hostroot"
	# the 503 first: a conditional write read back as not applied is sent
	# again, and that one's answer is lost
	fault_set 'PUT /fleet/loc1/hosts/local.json 1 slowdown' \
		'PUT /fleet/loc1/hosts/local.json 2 reset-after' \
		'GET /blobs/sha256/ 1 reset'
	run -0 --separate-stderr edgectl --json -v prewarm --host local app:1
	echo "$output"
	echo "$stderr" | grep -v '^edgectl: [A-Z]* http' | tail
	jq -e '.warm == 1 and .failed == 0' <<<"$output"
	# every fault fired
	[ "$(fault_hits 'PUT .*local.json -> reset-after 200')" = 1 ]
	[ "$(fault_hits 'PUT .*local.json -> slowdown 503')" = 1 ]
	[ "$(fault_hits 'GET .*blobs.* -> reset - ')" = 1 ]
	fault_clear
	run -0 --separate-stderr edgectl --json host ls
	d=$(fault_digest app:1)
	jq -e --arg d "$d" '.[0].warm | map(select(.digest == $d)) | length == 1' <<<"$output"
	# the store keeps failing on the host object: exit 4 naming it; the
	# host has the image, the re-run records it
	edgectl -q host rm local
	edgectl -q host add local --location loc1 --host-root "$T/hostroot2"
	fault_set 'PUT /fleet/loc1/hosts/local.json * status=503'
	run --separate-stderr edgectl prewarm --host local app:1
	echo "$status $output $stderr"
	[ "$status" = 4 ]
	[[ $stderr == *local* && $stderr == *503* ]]
	fault_clear
	run -0 --separate-stderr edgectl --json prewarm --host local app:1
	jq -e '.warm == 1 and .failed == 0' <<<"$output"
	run -0 --separate-stderr edgectl --json host ls
	jq -e --arg d "$d" '.[0].warm | map(select(.digest == $d)) | length == 1' <<<"$output"
}

# route_obj VIP: the stored route object of VIP
route_obj() {
	edgectl store get "routes/$1.json" -
}

@test "faults store: route add/update/rm through lost answers and 503s: one route, each update applied once" {
	local v1=198.18.7.1 v2=198.18.7.2
	# add: a 503 (read back: not there, sent again), then a lost answer
	# (read back: ours)
	fault_set "PUT /routes/$v1.json 1 slowdown" "PUT /routes/$v1.json 2 reset-after"
	run -0 --separate-stderr edgectl --json -v route add "$v1:80" --app web
	echo "$stderr" | grep -v '^edgectl: [A-Z]* http' | tail
	[ "$(fault_hits "PUT .*routes/$v1.json -> slowdown 503")" = 1 ]
	[ "$(fault_hits "PUT .*routes/$v1.json -> reset-after 200")" = 1 ]
	[ "$(fault_hits "^PUT .*routes/$v1.json")" = 2 ]
	fault_clear
	run -0 route_obj "$v1"
	jq -e '.generation == 1 and .check.type == "http"' <<<"$output"
	run -0 --separate-stderr edgectl --json route add "$v2:80" --app api
	# update: its answer lost after the server applied it
	fault_clear
	fault_set "PUT /routes/$v1.json 1 reset-after"
	run -0 --separate-stderr edgectl --json route add "$v1:80" --app web --check tcp
	echo "$output"
	[ "$(fault_hits "PUT .*routes/$v1.json -> reset-after 200")" = 1 ]
	[ "$(fault_hits '^PUT ')" = 1 ]
	fault_clear
	# applied exactly once: one generation more, the new check
	run -0 route_obj "$v1"
	jq -e '.generation == 2 and .check.type == "tcp" and .app == "web"' <<<"$output"
	run -0 --separate-stderr edgectl --json route ls
	echo "$output"
	jq -e 'length == 2 and (map(.id) | unique | length) == 2' <<<"$output"
	# rm: the delete's answer lost, then a 503: removed, said so once
	fault_set "DELETE /routes/$v2.json 1 reset-after" "DELETE /routes/$v2.json 2 slowdown"
	run -0 --separate-stderr edgectl --json route rm "$v2"
	jq -e '.removed == true' <<<"$output"
	[ "$(fault_hits "DELETE .*routes/$v2.json -> reset-after 204")" = 1 ]
	[ "$(fault_hits "DELETE .*routes/$v2.json -> slowdown 503")" = 1 ]
	fault_clear
	run -0 --separate-stderr edgectl --json route ls
	jq -e --arg v "$v1" 'length == 1 and .[0].vip == $v' <<<"$output"
	run -3 --separate-stderr edgectl route rm "$v2"
}

@test "faults store: route add/update/rm against a store answering 503 every time: exit 4 naming the route, a re-run finishes" {
	local v1=198.18.7.1
	fault_set 'PUT /routes/ * status=503'
	run -4 --separate-stderr edgectl route add "$v1:80" --app web
	echo "$stderr"
	[[ $stderr == *"$v1"* && $stderr == *503* ]]
	fault_clear
	run -3 edgectl store stat "routes/$v1.json"
	run -0 --separate-stderr edgectl route add "$v1:80" --app web
	fault_set 'PUT /routes/ * status=503'
	run -4 --separate-stderr edgectl route add "$v1:80" --app web --check tcp
	echo "$stderr"
	[[ $stderr == *"$v1"* && $stderr == *503* ]]
	fault_clear
	run -0 route_obj "$v1"
	jq -e '.generation == 1 and .check.type == "http"' <<<"$output"
	run -0 --separate-stderr edgectl route add "$v1:80" --app web --check tcp
	run -0 route_obj "$v1"
	jq -e '.generation == 2 and .check.type == "tcp"' <<<"$output"
	fault_set 'DELETE /routes/ * status=503'
	run -4 --separate-stderr edgectl route rm "$v1"
	echo "$stderr"
	[[ $stderr == *"$v1"* && $stderr == *503* ]]
	fault_clear
	run -0 edgectl store stat "routes/$v1.json"
	run -0 --separate-stderr edgectl route rm "$v1"
	run -3 edgectl store stat "routes/$v1.json"
}
