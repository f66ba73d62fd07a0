#!/usr/bin/env bats
# `edgectl store` on the file:// backend. The test bodies are shared with
# 011-store-s3.bats (Ceph RGW): tests/lib/store-tests.bash.
bats_require_minimum_version 1.5.0

setup() {
	load ../lib/common
	load ../lib/store-tests
	ec_isolate
	export EDGECTL_STORE="file://$BATS_TEST_TMPDIR/store"
	# file:// is fast: a larger file gives the resume test time to kill
	export ST_RESUME_MB=400
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

@test "store: every shared store test runs on file://" { st_check_wiring; }
