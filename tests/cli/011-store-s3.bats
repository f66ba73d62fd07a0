#!/usr/bin/env bats
# `edgectl store` on the S3 backend against a real server: one Ceph RGW
# (memstore) on 127.0.0.1 serves the whole file. The shared test bodies are
# in tests/lib/store-tests.bash (also run on file:// by 010-store-file.bats);
# the tests at the end are S3-only (credentials, network, buckets).
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/rgw
	rgw_setup_file
}

teardown_file() {
	load ../lib/rgw
	rgw_stop
}

setup() {
	load ../lib/common
	load ../lib/rgw
	load ../lib/store-tests
	ec_isolate
	rgw_require
	rgw_env
	# one prefix per test in the shared bucket
	EDGECTL_STORE=$(rgw_store_url "t$BATS_TEST_NUMBER")
	export EDGECTL_STORE
}

@test "store: put/get round trip of text" { st_test_roundtrip_text; }
@test "store: put/get round trip of 1 MiB of random bytes" { st_test_roundtrip_1mib_random; }
@test "store: --json output of put, get and stat" { st_test_json_output; }
@test "store: stat shows size and ETag, exit 3 when missing" { st_test_stat; }
@test "store: get --range returns exactly those bytes" { st_test_range_get; }
@test "store: get --if-none-match: same ETag is not modified, another gets content" { st_test_if_none_match; }
@test "store: put --if-absent twice: the second exits 6" { st_test_put_if_absent; }
@test "store: put --if-match: current ETag wins, stale ETag exits 6" { st_test_put_if_match; }
@test "store: ls groups by '/' (PRE), -r lists everything, --json" { st_test_ls; }
@test "store: ls pages through 1100 keys in sorted order" { st_test_ls_pagination; }
@test "store: multipart put/get of 200 MiB (--part-size 16M -j 4)" { st_test_multipart_200mib; }
@test "store: put from stdin (multipart when larger than a part)" { st_test_put_stdin; }
@test "store: a killed multipart put resumes from its journal" { st_test_resume; }
@test "store: rm, then get exits 3 naming the key" { st_test_rm; }
@test "store: get of a missing key exits 3" { st_test_get_missing; }
@test "store: a bad store URL exits 2" { st_test_bad_store_url; }
@test "store: a key with '..' or '.' exits 2" { st_test_key_dotdot; }

@test "store: every shared store test runs on s3://" { st_check_wiring; }

# --- S3 only -------------------------------------------------------------------

@test "store: a wrong secret key exits 5 naming credentials or the signature" {
	echo x >"$BATS_TEST_TMPDIR/in"
	edgectl store put k "$BATS_TEST_TMPDIR/in" >/dev/null
	export AWS_SECRET_ACCESS_KEY=not-the-secret
	run -5 --separate-stderr edgectl store ls
	st_eq "$output" "" "stdout"
	[[ ${stderr,,} =~ credential|signature ]] || { echo "unclear message: $stderr"; false; }
	run -5 --separate-stderr edgectl store get k
	[[ ${stderr,,} =~ credential|signature ]] || { echo "unclear message: $stderr"; false; }
	run -5 --separate-stderr edgectl store put k "$BATS_TEST_TMPDIR/in"
	[[ ${stderr,,} =~ credential|signature ]] || { echo "unclear message: $stderr"; false; }
	run -5 --separate-stderr edgectl --json store stat k
	jq -e '.error.exit_status == 5' <<<"$stderr"
	# an unknown access key, too
	export AWS_ACCESS_KEY_ID=NOSUCHKEY AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
	run -5 --separate-stderr edgectl store ls
	[[ ${stderr,,} =~ credential|signature|access.key ]] || { echo "unclear message: $stderr"; false; }
}

@test "store: an unreachable endpoint exits 4 within 20 s" {
	if (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; then
		echo "something listens on 127.0.0.1:9; this test needs it closed" >&2
		false
	fi
	local t0 t1
	t0=$(date +%s)
	run -4 --separate-stderr edgectl --store 's3://b?endpoint=http://127.0.0.1:9' store ls
	t1=$(date +%s)
	echo "took $((t1 - t0)) s: $stderr"
	[ $((t1 - t0)) -le 20 ] || { echo "took $((t1 - t0)) s"; false; }
	st_eq "$output" "" "stdout"
	[[ $stderr == *"127.0.0.1:9"* ]] || { echo "message does not name the endpoint: $stderr"; false; }
	t0=$(date +%s)
	run -4 --separate-stderr edgectl --store 's3://b?endpoint=http://127.0.0.1:9' store get k "$BATS_TEST_TMPDIR/out"
	t1=$(date +%s)
	[ $((t1 - t0)) -le 20 ] || { echo "get took $((t1 - t0)) s"; false; }
	[ ! -e "$BATS_TEST_TMPDIR/out" ]
}

@test "store: a missing bucket exits 3 naming the bucket" {
	local u
	u="s3://no-such-bucket-4711/p?endpoint=$S3_ENDPOINT"
	echo x >"$BATS_TEST_TMPDIR/in"
	run -3 --separate-stderr edgectl --store "$u" store ls
	[[ $stderr == *"no-such-bucket-4711"* ]] || { echo "message does not name the bucket: $stderr"; false; }
	run -3 --separate-stderr edgectl --store "$u" store get k
	[[ $stderr == *"no-such-bucket-4711"* ]] || { echo "message does not name the bucket: $stderr"; false; }
	run -3 --separate-stderr edgectl --store "$u" store put k "$BATS_TEST_TMPDIR/in"
	[[ $stderr == *"no-such-bucket-4711"* ]] || { echo "message does not name the bucket: $stderr"; false; }
}

@test "store: AWS_ENDPOINT_URL works instead of ?endpoint=, ETags are unquoted" {
	local etag
	echo hello >"$BATS_TEST_TMPDIR/in"
	export AWS_ENDPOINT_URL=$S3_ENDPOINT
	export EDGECTL_STORE="s3://$RGW_BUCKET/env"
	run -0 --separate-stderr edgectl --json store put k "$BATS_TEST_TMPDIR/in"
	st_jq '.etag | test("^[0-9a-f]{32}$")' # a single PUT's ETag is the MD5, unquoted
	etag=$(jq -r .etag <<<"$output")
	st_eq "$etag" "$(md5sum <"$BATS_TEST_TMPDIR/in" | cut -d' ' -f1)" "etag"
	run -0 --separate-stderr edgectl store get k
	st_eq "$output" hello
	# the object is under the prefix, seen through ?endpoint= as well
	run -0 --separate-stderr edgectl --json --store "$(rgw_store_url env)" store ls -r
	st_jq --arg e "$etag" '. == [{"key": "k", "size_bytes": 6, "etag": $e, "modified": .[0].modified}]'
}

@test "s3: a machine whose clock is hours off signs with the server's time (one warning), a real 403 stays a 403" {
	command -v faketime >/dev/null || { echo "faketime missing (tests/lib/deps.sh installs it)"; false; }
	echo "skewed" >"$BATS_TEST_TMPDIR/f"
	# libfaketime is preloaded: ASan must not insist on coming first
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	run -0 --separate-stderr faketime -f '+3h' "$EDGECTL" store put k "$BATS_TEST_TMPDIR/f"
	[[ $stderr == *"clock is 108"*" s ahead of the server's"* ]] || { echo "$stderr"; false; }
	# a HEAD's 403 has no body: the Date alone tells (get starts with one)
	run -0 --separate-stderr faketime -f '-2h' "$EDGECTL" store get k "$BATS_TEST_TMPDIR/g"
	[[ $stderr == *"s behind the server's"* ]] || { echo "$stderr"; false; }
	cmp "$BATS_TEST_TMPDIR/f" "$BATS_TEST_TMPDIR/g"
	run -0 --separate-stderr faketime -f '-2h' "$EDGECTL" --json store ls
	jq -e 'length == 1' <<<"$output"
	# the clock right, the credentials wrong: exit 5, no clock warning
	AWS_SECRET_ACCESS_KEY=wrong run -5 --separate-stderr edgectl store ls
	[[ $stderr == *credentials* && $stderr != *clock* ]] || { echo "$stderr"; false; }
}
