# rgw.bash - a real S3 server (Ceph RGW, memstore) for a whole bats file.
#
#   setup_file()    { load ../lib/common; load ../lib/rgw; rgw_setup_file; }
#   teardown_file() { rgw_stop; }
#   setup()         { load ../lib/common; load ../lib/rgw; ec_isolate; rgw_require; rgw_env; }
#
# rgw_start picks a free port on 127.0.0.1, runs tests/lib/start-rgw.sh in a
# temp dir and exports:
#   RGW_DIR        the server's scratch dir (pids, logs, ceph.conf)
#   S3_ENDPOINT    http://127.0.0.1:PORT
#   RGW_BUCKET     a bucket that exists
#   RGW_STORE      s3://RGW_BUCKET/edgectl?endpoint=S3_ENDPOINT
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (also saved as
#   RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_REGION: ec_isolate unsets the AWS_*
#   variables for every test, rgw_env puts them back).
# rgw_stop kills exactly the PIDs start-rgw.sh recorded (stop-rgw.sh). A
# watchdog started with the server also stops it if the bats process that
# owns it dies (interrupted run), so nothing outlives the file.
#
# Missing Ceph packages: rgw_setup_file fails loudly when EDGECTL_STRICT=1
# (CI: nothing skips silently); otherwise it records the reason in
# RGW_MISSING and rgw_require skips each test that needs the server.
RGW_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rgw_start() {
	local out rc tries=0 owner=$BASHPID
	export RGW_MISSING=
	RGW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/edgectl-rgw.XXXXXX") || return 1
	while :; do
		tries=$((tries + 1))
		rc=0
		# OWNER_PID: this shell (bats-exec-file while in setup_file), taken
		# before $(...) forks: inside it $BASHPID is the short-lived subshell
		out=$(OWNER_PID=$owner MEMSTORE_BYTES=${MEMSTORE_BYTES:-2147483648} \
			"$RGW_LIB/start-rgw.sh" auto "$RGW_DIR" "${RGW_BUCKET:-edgectl-test}" 2>&1) || rc=$?
		[ "$rc" = 0 ] && break
		if [ "$rc" = 77 ]; then
			RGW_MISSING="Ceph RGW not installed: $(grep -m1 -o "'[^']*' not found" <<<"$out") (tests/lib/deps.sh installs radosgw ceph-mon ceph-osd)"
			rm -rf "$RGW_DIR"
			unset RGW_DIR
			return 77
		fi
		# a port taken between the pick and the bind: try another one
		if [ "$tries" -lt 3 ] && grep -qiE 'already in use|Address in use|bind' <<<"$out" "$RGW_DIR"/log/*.log 2>/dev/null; then
			continue
		fi
		echo "rgw_start: start-rgw.sh failed ($rc):" >&2
		echo "$out" >&2
		rm -rf "$RGW_DIR"
		unset RGW_DIR
		return 1
	done
	# shellcheck disable=SC1091
	. "$RGW_DIR/env"
	export RGW_DIR S3_ENDPOINT RGW_BUCKET=$S3_BUCKET
	export RGW_ACCESS_KEY=$S3_ACCESS_KEY RGW_SECRET_KEY=$S3_SECRET_KEY RGW_REGION=$S3_REGION
	export RGW_STORE="s3://$RGW_BUCKET/edgectl?endpoint=$S3_ENDPOINT"
	rgw_env
}

# Put the server's credentials back after ec_isolate.
rgw_env() {
	[ -n "${RGW_DIR:-}" ] || return 0
	export AWS_ACCESS_KEY_ID=$RGW_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
	export AWS_REGION=$RGW_REGION
}

# A store URL on the server under PREFIX (tests use one prefix each).
rgw_store_url() {
	echo "s3://$RGW_BUCKET/$1?endpoint=$S3_ENDPOINT"
}

# For setup: the test's own store on the server (a prefix per test).
rgw_test_store() {
	EDGECTL_STORE=$(rgw_store_url "s$BATS_TEST_NUMBER")
	export EDGECTL_STORE
}

rgw_stop() {
	[ -n "${RGW_DIR:-}" ] && [ -d "$RGW_DIR" ] || return 0
	"$RGW_LIB/stop-rgw.sh" "$RGW_DIR" 2>/dev/null
	unset RGW_DIR
}

# For setup_file: start the server; missing packages fail the file under
# EDGECTL_STRICT=1, else are remembered for rgw_require to skip with.
rgw_setup_file() {
	local rc=0
	rgw_start || rc=$?
	if [ "$rc" = 77 ]; then
		if [ "${EDGECTL_STRICT:-}" = 1 ]; then
			echo "FAIL (EDGECTL_STRICT=1): $RGW_MISSING" >&2
			return 1
		fi
		echo "# $RGW_MISSING: the RGW tests of $(basename "$BATS_TEST_FILENAME") skip" >&3
		return 0
	fi
	return "$rc"
}

# For setup or a test: skip (with the reason) when the server could not be
# started because its packages are missing.
rgw_require() {
	if [ -n "${RGW_MISSING:-}" ]; then
		[ "${EDGECTL_STRICT:-}" = 1 ] && { echo "FAIL: $RGW_MISSING" >&2; return 1; }
		skip "$RGW_MISSING"
	fi
	[ -n "${RGW_DIR:-}" ] || { echo "RGW was not started (rgw_setup_file in setup_file?)" >&2; return 1; }
}
