# common.bash - loaded by every bats file: isolate HOME/XDG dirs, find the
# binary, small helpers. Tests that start servers record PIDs and stop them
# in teardown, even on failure.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# EDGECTL_O (tests/run): the build directory, e.g. the sanitizer build
export PATH="$TOP/${EDGECTL_O:-build}:$PATH"
export EDGECTL="$TOP/${EDGECTL_O:-build}/edgectl"

# Fresh per-test dirs under BATS_TEST_TMPDIR (bats removes it).
ec_isolate() {
	export HOME="$BATS_TEST_TMPDIR/home"
	export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share"
	mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"
	unset EDGECTL_STORE EDGECTL_ROOT AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 \
		AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION \
		AWS_DEFAULT_REGION REGISTRY_AUTH_FILE DOCKER_CONFIG
	export EDGECTL_ROOT="$BATS_TEST_TMPDIR/root"
}

# Require root (or another condition) for a test: in CI (EDGECTL_STRICT=1)
# a skip is reported and counted as a failure by tests/run.
ec_require_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

# Run a command, failing the test with its output when it fails.
ec_ok() {
	"$@" || { echo "command failed ($?): $*" >&2; return 1; }
}

# ec_tiny_image TAG [push]: a one-file image (FROM scratch, COPY x) built
# from $BATS_TEST_TMPDIR/ctx into the test's root, pushed to its store
# with "push". For tests that need some image, not a particular one.
ec_tiny_image() {
	local ctx=$BATS_TEST_TMPDIR/ctx
	mkdir -p "$ctx"
	echo x >"$ctx/x"
	printf 'FROM scratch\nCOPY x /x\n' >"$ctx/Dockerfile"
	edgectl -q build -t "$1" "$ctx" >/dev/null || return 1
	[ "${2:-}" != push ] || edgectl -q push "$1" >/dev/null
}
