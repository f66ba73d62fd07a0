#!/usr/bin/env bats
# The compare-and-swap race on both store backends: 16 processes each do 25
# read-modify-write increments of one counter (store get -> +1 -> store put
# --if-match; a lost race re-reads and retries: tests/lib/cas-incr.sh). No
# update may be lost: the counter ends at exactly 400 (16 x 25: enough to
# race hard on both stores; 50 each took 4 minutes of CI for no more proof).
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
}

WORKERS=16
INCREMENTS=25

cas_race() {
	local backend=$1 d=$BATS_TEST_TMPDIR pids=() i failed=0 t0 t1 lost
	echo "0 init" >"$d/zero"
	run -0 edgectl store put --if-absent race/counter "$d/zero"
	t0=$(date +%s%N)
	for i in $(seq 1 $WORKERS); do
		"$TOP/tests/lib/cas-incr.sh" race/counter $INCREMENTS "w$i" >"$d/w$i.out" 2>"$d/w$i.err" &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		if ! wait "${pids[$i]}"; then
			echo "worker w$((i + 1)) (pid ${pids[$i]}) failed: $(cat "$d/w$((i + 1)).err")" >&2
			failed=1
		fi
	done
	t1=$(date +%s%N)
	[ "$failed" = 0 ]
	cat "$d"/w*.out
	lost=$(awk '{ n += $(NF-2) } END { print n + 0 }' "$d"/w*.out)
	run -0 --separate-stderr edgectl store get race/counter
	st_eq "${output%% *}" $((WORKERS * INCREMENTS)) "counter"
	printf '# cas race %s: %d x %d increments in %d.%02d s, %d lost races\n' "$backend" \
		$WORKERS $INCREMENTS $(((t1 - t0) / 1000000000)) $(((t1 - t0) / 10000000 % 100)) "$lost" >&3
}

@test "store: 16 processes x 25 CAS increments end at exactly 400 (file://)" {
	export EDGECTL_STORE="file://$BATS_TEST_TMPDIR/store"
	cas_race file://
}

@test "store: 16 processes x 25 CAS increments end at exactly 400 (s3:// on RGW)" {
	rgw_require
	rgw_env
	EDGECTL_STORE=$(rgw_store_url cas)
	export EDGECTL_STORE
	cas_race s3://
}
