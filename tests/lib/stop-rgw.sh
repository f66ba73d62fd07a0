#!/bin/bash
# stop-rgw.sh - stop what start-rgw.sh started (adapted from
# /work/shared/reference/stop-s3.sh).
#   usage: stop-rgw.sh DIR [--keep]     (DIR as printed by start-rgw.sh: S3_DIR)
# Kills exactly the PIDs recorded in DIR/pids (newest first), and only while
# they still run with DIR/ceph.conf on their command line (a PID may have
# been reused); waits up to 10 s for each, then SIGKILLs it. Removes DIR
# unless --keep.
set -u
DIR=${1:?usage: stop-rgw.sh DIR [--keep]}
[ -f "$DIR/pids" ] || { echo "stop-rgw: no $DIR/pids" >&2; exit 1; }
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
for p in $(tac "$DIR/pids"); do
	if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$DIR/ceph.conf"; then
		kill "$p" 2>/dev/null
		for _ in $(seq 1 40); do
			alive "$p" || break
			sleep 0.25
		done
		alive "$p" && kill -9 "$p" 2>/dev/null
	fi
done
[ "${2:-}" = "--keep" ] || rm -rf "$DIR"
echo "stop-rgw: stopped" >&2
