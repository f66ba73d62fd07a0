#!/bin/bash
# start-rgw.sh - start a throw-away single-node Ceph RADOS Gateway (a real S3
# server) on 127.0.0.1 in the background, for tests and benchmarks.
# Adapted from /work/shared/reference/start-s3.sh.
#
#   usage: start-rgw.sh [PORT|auto] [DIR] [BUCKET]
#     PORT    S3 (radosgw) port on 127.0.0.1; "auto" (default) picks a free
#             one. The Ceph monitor uses PORT+1 (override: MON_PORT=...).
#     DIR     scratch dir, wiped and recreated   default: mktemp -d
#     BUCKET  bucket to create ("" = none)        default edgectl-test
#   env: S3_ACCESS_KEY / S3_SECRET_KEY (default TESTKEY / TESTSECRET),
#        MEMSTORE_BYTES (OSD RAM store size, default 1 GiB),
#        START_TIMEOUT (s, default 90),
#        OWNER_PID: when set, a watchdog stops the server (stop-rgw.sh DIR)
#        once that process is gone, so an interrupted test run leaves nothing.
#
# Needs (Debian 12): apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd curl
# No mgr, no cephx (auth none, crc-only messenger), OSD on memstore (RAM).
# Exit status: 0 started, 1 failed to start, 2 bad usage / port in use,
# 77 a needed program is missing (the message names the packages).
#
# On success prints (and writes to DIR/env, shell-sourceable):
#   S3_ENDPOINT=http://127.0.0.1:PORT  S3_REGION=us-east-1  S3_ACCESS_KEY=..
#   S3_SECRET_KEY=..  S3_BUCKET=..  S3_VHOST_DOMAIN=localhost  S3_DIR=DIR
# Every PID it starts is appended to DIR/pids; stop with stop-rgw.sh DIR.
set -euo pipefail
PORT=${1:-auto}
DIR=${2:-$(mktemp -d "${TMPDIR:-/tmp}/edgectl-rgw.XXXXXX")}
BUCKET=${3-edgectl-test}
AK=${S3_ACCESS_KEY:-TESTKEY}
SK=${S3_SECRET_KEY:-TESTSECRET}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-1073741824}
START_TIMEOUT=${START_TIMEOUT:-90}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl; do
	command -v "$b" >/dev/null || {
		echo "start-rgw: '$b' not found (install: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd curl)" >&2
		exit 77
	}
done

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ "$PORT" = auto ]; then
	# below the ephemeral range (32768+), so client sockets do not take it
	for _ in $(seq 1 50); do
		PORT=$((10000 + RANDOM % 22000))
		in_use "$PORT" || in_use $((PORT + 1)) || break
	done
fi
case $PORT in '' | *[!0-9]*)
	echo "start-rgw: bad port '$PORT'" >&2
	exit 2
	;;
esac
MON_PORT=${MON_PORT:-$((PORT + 1))}
for p in "$PORT" "$MON_PORT"; do
	if in_use "$p"; then
		echo "start-rgw: port $p on 127.0.0.1 is already in use" >&2
		exit 2
	fi
done

T0=$(date +%s%N)
el() { echo "$((($(date +%s%N) - T0) / 1000000)) ms"; }
fail() {
	echo "start-rgw: FAILED: $*" >&2
	for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
		[ -f "$f" ] && {
			echo "--- $f" >&2
			tail -5 "$f" >&2
		}
	done
	[ -f "$DIR/pids" ] && for p in $(tac "$DIR/pids"); do kill "$p" 2>/dev/null || true; done
	exit 1
}

rm -rf "$DIR"
mkdir -p "$DIR"/{mon.a,osd.0,run,log,rgw}
: >"$DIR/pids"
FSID=$(cat /proc/sys/kernel/random/uuid)
CONF=$DIR/ceph.conf
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
ms bind ipv6 = false
run dir = $DIR/run
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
keyring = $DIR/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon data avail warn = 1
mon data avail crit = 1
paxos propose interval = 0.1
mon tick interval = 1
[mon.a]
mon data = $DIR/mon.a
[osd]
osd data = $DIR/osd.\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd max object name len = 460
osd max object namespace len = 64
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
rgw dns name = localhost
rgw data = $DIR/rgw
EOF
C=(-c "$CONF")

# monitor
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon "${C[@]}" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring" >"$DIR/log/mkfs.out" 2>&1 || fail "ceph-mon --mkfs"
setsid ceph-mon -f "${C[@]}" -i a >"$DIR/log/mon.out" 2>&1 </dev/null &
echo $! >>"$DIR/pids"

# the watchdog: stops everything in DIR/pids once OWNER_PID is gone
if [ -n "${OWNER_PID:-}" ]; then
	setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
		exec "$2/stop-rgw.sh" "$3"' rgw-watchdog "$OWNER_PID" "$HERE" "$DIR" \
		"$CONF" >/dev/null 2>&1 </dev/null &
	echo $! >>"$DIR/pids"
fi

# OSD (memstore)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(timeout 30 ceph "${C[@]}" --connect-timeout 25 osd new "$OSD_UUID" 2>>"$DIR/log/cli.out") || fail "ceph osd new (monitor not up?)"
ceph-osd "${C[@]}" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >>"$DIR/log/mkfs.out" 2>&1 || fail "ceph-osd --mkfs"
setsid ceph-osd -f "${C[@]}" -i "$OSD_ID" >"$DIR/log/osd.out" 2>&1 </dev/null &
echo $! >>"$DIR/pids"
echo "start-rgw: mon+osd launched after $(el)" >&2

# radosgw
setsid radosgw -f "${C[@]}" -n client.rgw >"$DIR/log/rgw.out" 2>&1 </dev/null &
RGW_PID=$!
echo $RGW_PID >>"$DIR/pids"
DEADLINE=$(($(date +%s) + START_TIMEOUT))
until curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do
	kill -0 "$RGW_PID" 2>/dev/null || fail "radosgw exited"
	[ "$(date +%s)" -lt "$DEADLINE" ] || fail "radosgw not answering on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
	sleep 0.25
done
echo "start-rgw: radosgw answering on 127.0.0.1:$PORT after $(el)" >&2

# S3 user with fixed keys
timeout 60 radosgw-admin "${C[@]}" user create --uid=edgectl-test --display-name=edgectl-test \
	--access-key="$AK" --secret-key="$SK" >"$DIR/log/user.out" 2>&1 || fail "radosgw-admin user create"

# bucket (curl's SigV4 on Debian 12 (7.88) needs x-amz-content-sha256 set by hand)
if [ -n "$BUCKET" ]; then
	code=$(curl -s -o "$DIR/log/bucket.out" -w '%{http_code}' -X PUT \
		--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$PORT/$BUCKET")
	[ "$code" = 200 ] || fail "create bucket $BUCKET: HTTP $code"
fi
echo "start-rgw: ready after $(el)" >&2

cat >"$DIR/env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$PORT
S3_REGION=us-east-1
S3_ACCESS_KEY=$AK
S3_SECRET_KEY=$SK
S3_BUCKET=$BUCKET
S3_VHOST_DOMAIN=localhost
S3_DIR=$DIR
EOF
cat "$DIR/env"
