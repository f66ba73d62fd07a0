#!/bin/bash
# start-registry.sh - start a throw-away OCI registry (Debian's
# docker-registry, i.e. distribution 2.8) on 127.0.0.1 in the background,
# for tests of push and pull.
#
#   usage: start-registry.sh DIR [--htpasswd USER:PASS] [--token | --jwt GRANTS]
#                                [--redirect] [--relative-urls] [--tls]
#     DIR              scratch dir, wiped and recreated: config.yml, pids,
#                      env, registry.log, data/ (filesystem storage)
#     --htpasswd U:P   Basic auth (htpasswd -B) with that one user
#     --token          Bearer challenges (the registry's "silly" access
#                      controller: any Authorization header is accepted);
#                      the token realm is DIR/data/token, a static JSON
#                      token document served by the side server
#     --jwt GRANTS     Bearer challenges checked for real (the registry's
#                      "token" access controller): DIR/data/token holds a
#                      JWT signed with a throw-away key (DIR/token.key,
#                      certificate DIR/token.crt) that grants GRANTS, a
#                      space-separated list of REPO:ACTIONS such as
#                      "team/app:pull,push other:pull"
#     --redirect       blob GET/HEAD answer 307 to the side server (the
#                      registry's "redirect" storage middleware), which
#                      serves DIR/data with byte ranges: blob storage on
#                      another host, like a CDN behind a real registry
#     --relative-urls  Location headers are relative (/v2/...)
#     --tls            https with a throw-away self-signed certificate
#                      (DIR/tls.crt, for 127.0.0.1) instead of plain http
#   The side server (busybox httpd) listens on 127.0.0.2 - another host
#   than the registry's 127.0.0.1, so "never send Authorization to another
#   host" is observable.
#   env: START_TIMEOUT (s, default 20), REGISTRY_PORT (default: a free one),
#        OWNER_PID: when set, a watchdog stops the server (stop-registry.sh
#        DIR) once that process is gone, so an interrupted test run leaves
#        nothing behind.
#
# Exit status: 0 started, 1 failed to start, 2 bad usage / port in use,
# 77 a needed program is missing (the message names the package).
#
# On success prints (and writes to DIR/env, shell-sourceable):
#   REGISTRY=127.0.0.1:PORT  REGISTRY_DIR=DIR  [REGISTRY_USER=.. REGISTRY_PASS=..]
#   [REGISTRY_SIDE=127.0.0.2:PORT2]  [REGISTRY_CA=DIR/tls.crt]
# Every PID it starts is appended to DIR/pids; stop with stop-registry.sh DIR.
#
#   usage: start-registry.sh --mint-token DIR GRANTS [ISSUER]
# replaces the token a --jwt server's realm hands out (GRANTS as above;
# another ISSUER makes a token the registry refuses), for tests of token
# refresh and refusal.
set -euo pipefail

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '=\n'; }
mint_token() { # DIR GRANTS [ISSUER]
	local dir=$1 grants=$2 iss=${3:-edgectl-test-issuer} access='' g repo acts
	local now hdr claims input sig
	for g in $grants; do
		repo=${g%%:*} acts=${g#*:}
		[ "$repo" = "$g" ] && acts=pull
		access+="${access:+,}{\"type\":\"repository\",\"name\":\"$repo\",\"actions\":[\"${acts//,/\",\"}\"]}"
	done
	now=$(date +%s)
	hdr="{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5c\":[\"$(openssl x509 -in "$dir/token.crt" -outform DER | base64 -w0)\"]}"
	claims="{\"iss\":\"$iss\",\"sub\":\"edgectl\",\"aud\":\"edgectl-test\",\"exp\":$((now + 3600)),\"nbf\":$((now - 60)),\"iat\":$now,\"jti\":\"$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')\",\"access\":[$access]}"
	input="$(printf '%s' "$hdr" | b64url).$(printf '%s' "$claims" | b64url)"
	sig=$(printf '%s' "$input" | openssl dgst -sha256 -sign "$dir/token.key" -binary | b64url)
	printf '{"token":"%s","expires_in":3600}\n' "$input.$sig" >"$dir/data/token.tmp"
	mv "$dir/data/token.tmp" "$dir/data/token"
}
if [ "${1:-}" = --mint-token ]; then
	if [ $# -lt 3 ] || [ ! -f "$2/token.key" ]; then
		echo "usage: start-registry.sh --mint-token DIR GRANTS [ISSUER] (DIR of a --jwt server)" >&2
		exit 2
	fi
	mint_token "$2" "$3" "${4:-}"
	exit 0
fi
usage() {
	echo "usage: start-registry.sh DIR [--htpasswd USER:PASS] [--token | --jwt GRANTS] [--redirect] [--relative-urls] [--tls]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
DIR=$1
shift
HTPASSWD='' TOKEN=0 REDIRECT=0 RELATIVE=false JWT='' TLS=0
while [ $# -gt 0 ]; do
	case $1 in
	--htpasswd)
		[ $# -ge 2 ] || usage
		HTPASSWD=$2
		shift 2
		;;
	--token) TOKEN=1 && shift ;;
	--jwt)
		[ $# -ge 2 ] || usage
		TOKEN=1 JWT=$2
		shift 2
		;;
	--redirect) REDIRECT=1 && shift ;;
	--relative-urls) RELATIVE=true && shift ;;
	--tls) TLS=1 && shift ;;
	*) usage ;;
	esac
done
case $HTPASSWD in '' | *:*) ;; *) usage ;; esac
[ -n "$HTPASSWD" ] && [ "$TOKEN" = 1 ] && {
	echo "start-registry: --htpasswd and --token/--jwt exclude each other" >&2
	exit 2
}
START_TIMEOUT=${START_TIMEOUT:-20}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SIDE=0
[ "$TOKEN" = 1 ] || [ "$REDIRECT" = 1 ] && SIDE=1

need() {
	command -v "$1" >/dev/null || {
		echo "start-registry: '$1' not found (install: apt-get install -y --no-install-recommends $2)" >&2
		exit 77
	}
}
need docker-registry docker-registry
need curl curl
[ -n "$HTPASSWD" ] && need htpasswd apache2-utils
[ "$SIDE" = 1 ] && need busybox busybox-static
[ -n "$JWT" ] || [ "$TLS" = 1 ] && need openssl openssl

in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
free_port() { # HOST: a free port below the ephemeral range (32768+)
	local p
	for _ in $(seq 1 50); do
		p=$((10000 + RANDOM % 22000))
		in_use "$1" "$p" || {
			echo "$p"
			return 0
		}
	done
	return 1
}
PORT=${REGISTRY_PORT:-$(free_port 127.0.0.1)}
case $PORT in '' | *[!0-9]*)
	echo "start-registry: bad port '$PORT'" >&2
	exit 2
	;;
esac
if in_use 127.0.0.1 "$PORT"; then
	echo "start-registry: port $PORT on 127.0.0.1 is already in use" >&2
	exit 2
fi
SIDE_PORT=
[ "$SIDE" = 1 ] && SIDE_PORT=$(free_port 127.0.0.2)

fail() {
	echo "start-registry: FAILED: $*" >&2
	[ -f "$DIR/registry.log" ] && tail -5 "$DIR/registry.log" >&2
	[ -f "$DIR/pids" ] && for p in $(tac "$DIR/pids"); do kill "$p" 2>/dev/null || true; done
	exit 1
}

rm -rf "$DIR"
mkdir -p "$DIR/data"
: >"$DIR/pids"
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

AUTH=
if [ -n "$HTPASSWD" ]; then
	htpasswd -Bbn "${HTPASSWD%%:*}" "${HTPASSWD#*:}" >"$DIR/htpasswd" 2>/dev/null ||
		fail "htpasswd -B"
	AUTH="auth:
  htpasswd:
    realm: edgectl-test
    path: $DIR/htpasswd"
elif [ -n "$JWT" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/token.key" -out "$DIR/token.crt" \
		-days 2 -subj /CN=edgectl-test-token >/dev/null 2>&1 || fail "openssl req (token key)"
	mint_token "$DIR" "$JWT"
	AUTH="auth:
  token:
    realm: http://127.0.0.2:$SIDE_PORT/token
    service: edgectl-test
    issuer: edgectl-test-issuer
    rootcertbundle: $DIR/token.crt"
elif [ "$TOKEN" = 1 ]; then
	# A static token document; the "silly" controller accepts any token.
	printf '{"token":"edgectl-test-token","expires_in":300}\n' >"$DIR/data/token"
	AUTH="auth:
  silly:
    realm: http://127.0.0.2:$SIDE_PORT/token
    service: edgectl-test"
fi
TLSCONF=
SCHEME=http
if [ "$TLS" = 1 ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/tls.key" -out "$DIR/tls.crt" \
		-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 ||
		fail "openssl req (TLS certificate)"
	TLSCONF="  tls:
    certificate: $DIR/tls.crt
    key: $DIR/tls.key"
	SCHEME=https
fi
MIDDLEWARE=
if [ "$REDIRECT" = 1 ]; then
	MIDDLEWARE="middleware:
  storage:
    - name: redirect
      options:
        baseurl: http://127.0.0.2:$SIDE_PORT"
fi

cat >"$DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: $SECRET
  relativeurls: $RELATIVE
$TLSCONF
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
$AUTH
$MIDDLEWARE
EOF

setsid docker-registry serve "$DIR/config.yml" >"$DIR/registry.log" 2>&1 </dev/null &
REG_PID=$!
echo "$REG_PID" >>"$DIR/pids"

if [ "$SIDE" = 1 ]; then
	# -f: foreground (so the PID is the server's); DIR is on its command line
	setsid busybox httpd -f -p "127.0.0.2:$SIDE_PORT" -h "$DIR/data" >"$DIR/side.log" 2>&1 </dev/null &
	SIDE_PID=$!
	echo "$SIDE_PID" >>"$DIR/pids"
fi

# the watchdog: stops everything in DIR/pids once OWNER_PID is gone
if [ -n "${OWNER_PID:-}" ]; then
	# shellcheck disable=SC2016 # expanded by the inner bash
	setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
		exec "$2/stop-registry.sh" "$3"' registry-watchdog "$OWNER_PID" "$HERE" "$DIR" \
		"$DIR/config.yml" >/dev/null 2>&1 </dev/null &
	echo $! >>"$DIR/pids"
fi

DEADLINE=$(($(date +%s) + START_TIMEOUT))
until code=$(curl -sk -o /dev/null -w '%{http_code}' "$SCHEME://127.0.0.1:$PORT/v2/") &&
	[ "$code" != 000 ]; do
	kill -0 "$REG_PID" 2>/dev/null || fail "docker-registry exited"
	[ "$(date +%s)" -lt "$DEADLINE" ] || fail "docker-registry not answering on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
	sleep 0.1
done
if [ "$SIDE" = 1 ]; then
	echo ok >"$DIR/data/ping"
	until curl -sf -o /dev/null "http://127.0.0.2:$SIDE_PORT/ping"; do
		kill -0 "$SIDE_PID" 2>/dev/null || fail "busybox httpd exited (port 127.0.0.2:$SIDE_PORT in use?): $(cat "$DIR/side.log")"
		[ "$(date +%s)" -lt "$DEADLINE" ] || fail "busybox httpd not answering on 127.0.0.2:$SIDE_PORT"
		sleep 0.1
	done
fi

{
	echo "REGISTRY=127.0.0.1:$PORT"
	echo "REGISTRY_DIR=$DIR"
	if [ -n "$HTPASSWD" ]; then
		echo "REGISTRY_USER=${HTPASSWD%%:*}"
		echo "REGISTRY_PASS=${HTPASSWD#*:}"
	fi
	[ "$SIDE" = 1 ] && echo "REGISTRY_SIDE=127.0.0.2:$SIDE_PORT"
	[ "$TLS" = 1 ] && echo "REGISTRY_CA=$DIR/tls.crt"
	true
} >"$DIR/env"
cat "$DIR/env"
