# registry.bash - a real OCI registry (Debian's docker-registry, i.e.
# distribution 2.8) on 127.0.0.1 for a whole bats file.
#
#   setup_file()    { load ../lib/common; load ../lib/registry; reg_setup_file; }
#   teardown_file() { load ../lib/registry; reg_stop; }
#   setup()         { load ../lib/common; load ../lib/registry; ec_isolate; reg_require; }
#
# reg_setup_file [ARGS...] passes ARGS to tests/lib/start-registry.sh
# (--htpasswd USER:PASS, --token, --jwt GRANTS, --redirect,
# --relative-urls; see that script);
# reg_setup_file_auth starts one with Basic auth for edgectl:edgectl-pw.
# Both export:
#   REGISTRY        127.0.0.1:PORT (plain http: use --tls-verify=false)
#   REGISTRY_DIR    the server's scratch dir (pids, config.yml,
#                   registry.log, data/)
#   REGISTRY_USER, REGISTRY_PASS   with --htpasswd
#   REGISTRY_SIDE   127.0.0.2:PORT of the side server (--token/--redirect)
#   REGISTRY_CA     the self-signed certificate (--tls)
# reg_auth_file FILE writes a docker config file with the server's
# credentials (for REGISTRY_AUTH_FILE / DOCKER_CONFIG / --authfile tests).
# reg_mint_token GRANTS [ISSUER] changes what a --jwt server's token
# service hands out from now on ("repo:pull,push other:pull").
# reg_stop kills exactly the PIDs start-registry.sh recorded
# (stop-registry.sh). A watchdog started with the server also stops it if
# the bats process that owns it dies (interrupted run).
#
# Missing docker-registry (or htpasswd, busybox): reg_setup_file fails
# loudly when EDGECTL_STRICT=1 (CI: nothing skips silently); otherwise it
# records the reason in REGISTRY_MISSING and reg_require skips each test.
REGISTRY_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

reg_start() {
	local out rc tries=0 owner=$BASHPID
	export REGISTRY_MISSING=
	while :; do
		tries=$((tries + 1))
		REGISTRY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/edgectl-registry.XXXXXX") || return 1
		rc=0
		# OWNER_PID: this shell (bats-exec-file while in setup_file), taken
		# before $(...) forks: inside it $BASHPID is the short-lived subshell
		out=$(OWNER_PID=$owner "$REGISTRY_LIB/start-registry.sh" "$REGISTRY_DIR" "$@" 2>&1) || rc=$?
		[ "$rc" = 0 ] && break
		if [ "$rc" = 77 ]; then
			REGISTRY_MISSING="registry test server not available: $(grep -m1 -o "'[^']*' not found.*" <<<"$out") (tests/lib/deps.sh installs docker-registry apache2-utils busybox-static openssl)"
			rm -rf "$REGISTRY_DIR"
			unset REGISTRY_DIR
			return 77
		fi
		# a port taken between the pick and the bind: try another one
		if [ "$tries" -lt 3 ] && grep -qiE 'already in use|address in use|bind' <<<"$out" "$REGISTRY_DIR"/registry.log 2>/dev/null; then
			"$REGISTRY_LIB/stop-registry.sh" "$REGISTRY_DIR" 2>/dev/null || rm -rf "$REGISTRY_DIR"
			continue
		fi
		echo "reg_start: start-registry.sh failed ($rc):" >&2
		echo "$out" >&2
		"$REGISTRY_LIB/stop-registry.sh" "$REGISTRY_DIR" 2>/dev/null || rm -rf "$REGISTRY_DIR"
		unset REGISTRY_DIR
		return 1
	done
	unset REGISTRY_USER REGISTRY_PASS REGISTRY_SIDE REGISTRY_CA
	# shellcheck disable=SC1091
	. "$REGISTRY_DIR/env"
	export REGISTRY REGISTRY_DIR
	[ -n "${REGISTRY_USER:-}" ] && export REGISTRY_USER REGISTRY_PASS
	[ -n "${REGISTRY_SIDE:-}" ] && export REGISTRY_SIDE
	[ -n "${REGISTRY_CA:-}" ] && export REGISTRY_CA
	return 0
}

reg_stop() {
	[ -n "${REGISTRY_DIR:-}" ] && [ -d "$REGISTRY_DIR" ] || return 0
	"$REGISTRY_LIB/stop-registry.sh" "$REGISTRY_DIR" 2>/dev/null
	unset REGISTRY_DIR
}

# For setup_file: start the server; missing packages fail the file under
# EDGECTL_STRICT=1, else are remembered for reg_require to skip with.
reg_setup_file() {
	local rc=0
	reg_start "$@" || rc=$?
	if [ "$rc" = 77 ]; then
		if [ "${EDGECTL_STRICT:-}" = 1 ]; then
			echo "FAIL (EDGECTL_STRICT=1): $REGISTRY_MISSING" >&2
			return 1
		fi
		echo "# $REGISTRY_MISSING: the registry tests of $(basename "$BATS_TEST_FILENAME") skip" >&3
		return 0
	fi
	return "$rc"
}

# reg_setup_file with Basic auth (user edgectl, password edgectl-pw).
reg_setup_file_auth() {
	reg_setup_file --htpasswd edgectl:edgectl-pw "$@"
}

# For setup or a test: skip (with the reason) when the server could not be
# started because its packages are missing.
reg_require() {
	if [ -n "${REGISTRY_MISSING:-}" ]; then
		[ "${EDGECTL_STRICT:-}" = 1 ] && { echo "FAIL: $REGISTRY_MISSING" >&2; return 1; }
		skip "$REGISTRY_MISSING"
	fi
	[ -n "${REGISTRY_DIR:-}" ] || { echo "registry was not started (reg_setup_file in setup_file?)" >&2; return 1; }
}

# reg_auth_file FILE [USER PASS]: a docker config file with credentials for
# $REGISTRY (default: the server's own).
reg_auth_file() {
	local file=$1 user=${2:-${REGISTRY_USER:-}} pass=${3:-${REGISTRY_PASS:-}}
	mkdir -p "$(dirname "$file")"
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REGISTRY" \
		"$(printf '%s:%s' "$user" "$pass" | base64 -w0)" >"$file"
}

# The manifest of REPO:REF as the registry stores it (curl, no auth).
reg_curl_manifest() {
	local auth=()
	[ -n "${REGISTRY_USER:-}" ] && auth=(-u "$REGISTRY_USER:$REGISTRY_PASS")
	curl -sf "${auth[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' \
		"http://$REGISTRY/v2/$1/manifests/$2"
}

# reg_mint_token GRANTS [ISSUER]: see start-registry.sh --mint-token.
reg_mint_token() {
	"$REGISTRY_LIB/start-registry.sh" --mint-token "$REGISTRY_DIR" "$@"
}

# reg_proxy_start [MODE]: tests/lib/reg-proxy.pl in front of $REGISTRY
# (a registry that ignores Range, is slow, lies on HEAD...: see that
# script), on another port of 127.0.0.1. Exports PROXY (127.0.0.1:PORT)
# and PROXY_LOG (a line per request). Its PID goes to $REGISTRY_DIR/pids,
# so reg_stop (and the watchdog) stop it by PID with the registry.
reg_proxy_start() {
	rm -f "$REGISTRY_DIR/proxy.port"
	printf '%s\n' "${1:-}" >"$REGISTRY_DIR/proxy.mode"
	perl "$REGISTRY_LIB/reg-proxy.pl" "$REGISTRY_DIR" "$REGISTRY" \
		</dev/null >"$REGISTRY_DIR/proxy.out" 2>&1 3>&- &
	echo $! >>"$REGISTRY_DIR/pids"
	for _ in $(seq 1 100); do
		[ -s "$REGISTRY_DIR/proxy.port" ] && break
		sleep 0.05
	done
	[ -s "$REGISTRY_DIR/proxy.port" ] || { cat "$REGISTRY_DIR/proxy.out" >&2; return 1; }
	PROXY=127.0.0.1:$(cat "$REGISTRY_DIR/proxy.port")
	PROXY_LOG=$REGISTRY_DIR/proxy.log
	export PROXY PROXY_LOG
}

# reg_proxy_mode MODE: what the proxy does from the next request on.
reg_proxy_mode() {
	printf '%s\n' "$*" >"$REGISTRY_DIR/proxy.mode"
}
