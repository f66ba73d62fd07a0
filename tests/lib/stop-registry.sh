#!/bin/bash
# stop-registry.sh - stop what start-registry.sh started.
#   usage: stop-registry.sh DIR [--keep]
# Kills exactly the PIDs recorded in DIR/pids (newest first), and only while
# they still run with DIR on their command line (a PID may have been
# reused); waits up to 5 s for each, then SIGKILLs it. Removes DIR unless
# --keep.
set -u
DIR=${1:?usage: stop-registry.sh DIR [--keep]}
[ -f "$DIR/pids" ] || { echo "stop-registry: no $DIR/pids" >&2; exit 1; }
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
for p in $(tac "$DIR/pids"); do
	[ "$p" = "$$" ] && continue # the watchdog exec'd into this script
	if [ -r "/proc/$p/cmdline" ] && tr '\0' '\n' <"/proc/$p/cmdline" | grep -qxF -e "$DIR/config.yml" -e "$DIR/data" -e "$DIR"; then
		kill "$p" 2>/dev/null
		for _ in $(seq 1 50); do
			alive "$p" || break
			sleep 0.1
		done
		alive "$p" && kill -9 "$p" 2>/dev/null
	fi
done
[ "${2:-}" = "--keep" ] || rm -rf "$DIR"
echo "stop-registry: stopped" >&2
