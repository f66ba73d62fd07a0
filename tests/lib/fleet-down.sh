#!/bin/bash
# fleet-down.sh - tear down a fleet started by fleet_up (tests/lib/fleet.bash).
#
#   usage: fleet-down.sh DIR        (DIR = FLEET_DIR)
#
# Works from the records fleet_up writes before it creates anything, so it is
# also right after a fleet_up that failed halfway:
#   DIR/pids    "sshd NETNS PID" and "watchdog - PID" lines
#   DIR/netns   the network namespaces, one a line
#   DIR/links   the interfaces made in the root namespace, one a line
#   DIR/hosts   "hN NETNS ADDRESS" lines (ssh control masters to close)
# In order: stops the watchdog (unless it is the caller: the watchdog execs
# this script), closes the ssh control masters, stops the recorded sshd PIDs
# (only while they still run in the fleet's namespace, or with DIR on their
# command line: a PID may have been reused), then whatever else still runs in
# the fleet's namespaces (ssh sessions, commands started with fleet_exec:
# those namespaces belong to this fleet alone), deletes the links and
# namespaces and removes DIR. Idempotent; two concurrent runs serialise on
# DIR/lock. Exit status 0 unless DIR is not a fleet dir.
set -u
DIR=${1:?usage: fleet-down.sh DIR}
[ -d "$DIR" ] || exit 0
[ -f "$DIR/pids" ] || {
	echo "fleet-down: '$DIR' is not a fleet dir (no pids file)" >&2
	exit 1
}
exec 9>>"$DIR/lock" || exit 0
flock 9
[ -f "$DIR/pids" ] || exit 0 # a concurrent fleet-down got here first

alive() {
	local l
	read -r l 2>/dev/null <"/proc/$1/stat" || return 1
	l=${l##*) }
	[ "${l%% *}" != Z ]
}
cmdline_has() {
	[ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
in_netns() {
	local ino
	ino=$(stat -L -c %i "/run/netns/$2" 2>/dev/null) || return 1
	[ "$(readlink "/proc/$1/ns/net" 2>/dev/null)" = "net:[$ino]" ]
}
lines() { [ -f "$DIR/$1" ] && tac "$DIR/$1"; }

victims=()
# the watchdog (not ourselves: the watchdog execs this script)
while read -r kind _ pid; do
	[ "$kind" = watchdog ] && [ "$pid" != $$ ] && cmdline_has "$pid" "$DIR" &&
		kill "$pid" 2>/dev/null && victims+=("$pid")
done < <(lines pids)

# ssh control masters (client side, ControlPath DIR/cm-ADDRESS)
if [ -f "$DIR/ssh_config" ]; then
	while read -r h _ addr; do
		[ -S "$DIR/cm-$addr" ] &&
			timeout 5 ssh -F "$DIR/ssh_config" -O exit "$h" >/dev/null 2>&1
	done < <(lines hosts)
fi

# the sshd PIDs recorded
while read -r kind ns pid; do
	[ "$kind" = sshd ] || continue
	if in_netns "$pid" "$ns" || cmdline_has "$pid" "$DIR"; then
		kill "$pid" 2>/dev/null && victims+=("$pid")
	fi
done < <(lines pids)

# anything else left in the fleet's own namespaces
while read -r ns; do
	[ -e "/run/netns/$ns" ] || continue
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		[ "$pid" != $$ ] && kill "$pid" 2>/dev/null && victims+=("$pid")
	done
done < <(lines netns)

# wait up to 3 s, then SIGKILL what is left and wait up to 3 s more
for sig in KILL ""; do
	for _ in $(seq 1 60); do
		left=()
		for pid in "${victims[@]}"; do alive "$pid" && left+=("$pid"); done
		[ ${#left[@]} = 0 ] && break
		sleep 0.05
	done
	victims=("${left[@]}")
	[ ${#victims[@]} = 0 ] && break
	[ -n "$sig" ] && kill -"$sig" "${victims[@]}" 2>/dev/null
done
[ ${#victims[@]} = 0 ] || echo "fleet-down: PIDs still alive: ${victims[*]}" >&2

while read -r l; do
	ip link show dev "$l" >/dev/null 2>&1 && ip link del dev "$l"
done < <(lines links)
while read -r ns; do
	[ -e "/run/netns/$ns" ] && ip netns del "$ns"
done < <(lines netns)

# never follow a mount a test left under DIR into another file system
rm -rf --one-file-system "$DIR"
exit 0
