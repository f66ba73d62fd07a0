#!/usr/bin/env bats
# The fleet fixture (tests/lib/fleet.bash): N hosts as network namespaces on
# a bridge, each with its own sshd. One 3-host fleet serves the file; the
# tests at the end start (and break) fleets of their own.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/fleet
	ip route show default >"$BATS_FILE_TMPDIR/default-route"
	fleet_setup_file 3
	if [ -n "${FLEET_DIR:-}" ]; then
		echo "# fleet_up 3: $FLEET_UP_MS ms ($FLEET_NET.0/24, $FLEET_DIR)" >&3
	fi
}

teardown_file() {
	load ../lib/fleet
	fleet_down
}

setup() {
	load ../lib/common
	load ../lib/fleet
	ec_isolate
	fleet_require
}

teardown() {
	# a fleet or an owner a test started itself (the watchdog would also
	# clean up after the test process, this is just sooner)
	[ -z "${OWNER:-}" ] || kill -9 "$OWNER" 2>/dev/null || true
	[ -z "${OWN_DIR:-}" ] || fleet_down "$OWN_DIR"
}

# alive PID: running (not a zombie)
alive() {
	local l
	read -r l 2>/dev/null <"/proc/$1/stat" || return 1
	l=${l##*) }
	[ "${l%% *}" != Z ]
}

# refute CMD...: fail when CMD succeeds (a bare `! cmd` does not fail a test)
refute() {
	if "$@"; then
		echo "unexpectedly succeeded: $*" >&2
		return 1
	fi
}
netns_listed() { [ -e "/run/netns/$1" ] || ip netns list 2>/dev/null | grep -qw -- "$1"; }

netns_of() { readlink "/proc/$1/ns/net"; }
netns_id() { echo "net:[$(stat -L -c %i "/run/netns/$1")]"; }

# Forget the file's fleet in this test's process, to start another one.
forget_file_fleet() {
	unset FLEET_DIR FLEET_SSH_CONFIG FLEET_HOSTS FLEET_NET FLEET_TEST_ADDR \
		FLEET_LINK FLEET_PREFIX FLEET_UP_MS
}

@test "fleet: ssh to every host runs there, on that host's address" {
	for h in $FLEET_HOSTS; do
		addr=$(fleet_addr "$h")
		run -0 fleet_ssh "$h" 'hostname -I' </dev/null
		[ "$(echo $output)" = "$addr" ]
		run -0 fleet_ssh "$h" 'ip -4 -o addr show | awk "{ print \$2, \$4 }"' </dev/null
		[ "$output" = "lo 127.0.0.1/8
eth0 $addr/24" ]
	done
	# the bare address is an alias too
	run -0 ssh -F "$FLEET_SSH_CONFIG" "$(fleet_addr h2)" 'hostname -I' </dev/null
	[ "$(echo $output)" = "$(fleet_addr h2)" ]
}

@test "fleet: an ssh session runs in its host's network namespace: only lo and eth0" {
	for h in $FLEET_HOSTS; do
		run -0 fleet_ssh "$h" 'ip -o link | cut -d: -f2 | cut -d@ -f1' </dev/null
		[ "$(echo $output)" = "lo eth0" ]
		run -0 fleet_ssh "$h" readlink /proc/self/ns/net </dev/null
		[ "$output" = "$(netns_id "$(fleet_netns "$h")")" ]
		[ "$output" != "$(netns_of $$)" ]
	done
}

@test "fleet: fleet_exec runs in the host and sees what an ssh session sees" {
	for h in $FLEET_HOSTS; do
		run -0 fleet_exec "$h" readlink /proc/self/ns/net /proc/self/ns/mnt
		want=$output
		run -0 fleet_ssh "$h" readlink /proc/self/ns/net /proc/self/ns/mnt </dev/null
		[ "$output" = "$want" ]
		# the machine's mounts: what runtimes and the router need
		run -0 fleet_ssh "$h" findmnt -n -o FSTYPE /sys/fs/cgroup </dev/null
		[ -n "$output" ]
	done
	run -1 fleet_exec h9 true
	[[ $output == *"no host 'h9'"* ]]
	# a mount made over ssh is seen by fleet_exec (the same namespaces)
	m=$(fleet_root h1)/m
	mkdir -p "$m"
	fleet_ssh h1 mount -t tmpfs fleet-test "$m" </dev/null
	run -0 fleet_exec h1 findmnt -n -o SOURCE "$m"
	[ "$output" = fleet-test ]
	fleet_ssh h1 umount "$m" </dev/null
}

@test "fleet: every host reaches every other host; ssh from h1 to h2 comes from h1's address" {
	for a in $FLEET_HOSTS; do
		for b in $FLEET_HOSTS; do
			[ "$a" != "$b" ] || continue
			run -0 fleet_exec "$a" timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/22"; head -c 7 <&3' - "$(fleet_addr "$b")"
			[ "$output" = "SSH-2.0" ]
		done
	done
	# a real connection from h1 (not through the test side's control master)
	run -0 fleet_exec h1 ssh -F "$FLEET_SSH_CONFIG" -o ControlPath=none h2 'echo $SSH_CONNECTION' </dev/null
	read -r src _ dst dport <<<"$output"
	[ "$src" = "$(fleet_addr h1)" ]
	[ "$dst $dport" = "$(fleet_addr h2) 22" ]
}

@test "fleet: sessions share one connection per host (ControlMaster)" {
	for h in $FLEET_HOSTS; do
		run -0 ssh -F "$FLEET_SSH_CONFIG" -O check "$h"
		[[ $output =~ Master\ running\ \(pid=([0-9]+)\) ]]
		alive "${BASH_REMATCH[1]}"
	done
	# the same client port: the same TCP connection
	run -0 fleet_ssh h1 'echo $SSH_CONNECTION' </dev/null
	first=$output
	t0=${EPOCHREALTIME/./}
	for _ in 1 2 3 4 5; do
		run -0 fleet_ssh h1 'echo $SSH_CONNECTION' </dev/null
		[ "$output" = "$first" ]
	done
	echo "# 5 multiplexed sessions: $(((${EPOCHREALTIME/./} - t0) / 1000)) ms" >&3
}

@test "fleet: host keys are checked (StrictHostKeyChecking yes, keys pre-recorded)" {
	run -255 ssh -F "$FLEET_SSH_CONFIG" -o ControlPath=none -o UserKnownHostsFile=/dev/null h1 true </dev/null
	[[ $output == *"verification failed"* ]]
	grep -q "^$(fleet_addr h3),h3 ssh-ed25519 " "$FLEET_DIR/known_hosts"
}

@test "fleet: edgectl runs on a host with that host's root" {
	[ -x "$EDGECTL" ] || skip "no $EDGECTL (make first)"
	for h in $FLEET_HOSTS; do
		root=$(fleet_root "$h")
		[ "$root" = "$FLEET_DIR/$h/root" ]
		[ -d "$root" ]
		run -0 fleet_ssh "$h" "$EDGECTL" --root "$root" images </dev/null
	done
}

@test "host: add probes over SSH, --gpu replaces the probed GPUs, a re-add keeps the warm set, rm removes it" {
	[ -x "$EDGECTL" ] || skip "no $EDGECTL (make first)"
	fleet_edgectl_config "$XDG_CONFIG_HOME"
	edgectl location add par --lat 48.85 --lon 2.35 --tz Europe/Paris --off-peak 22:00-06:00
	run -0 --separate-stderr edgectl --json host add h1 --location par --ssh h1 \
		--host-root "$(fleet_root h1)" --edgectl "$EDGECTL" --gpu L4:24G --label tier=edge
	jq -e '.name == "h1" and .location == "par" and .ssh == "h1" and .probe.cpus >= 1
		and .gpus == [{"model": "L4", "memory_bytes": 25769803776}] and .labels == {"tier": "edge"}
		and .allocations == [] and .warm == [] and .generation == 1' <<<"$output"
	# what prewarm recorded survives a re-add; GPUs not given: the probed ones
	edgectl store get fleet/par/hosts/h1.json "$BATS_TEST_TMPDIR/h.json"
	jq '.warm = [{"digest": "sha256:00", "image": "x:1", "t": 1}]' "$BATS_TEST_TMPDIR/h.json" >"$BATS_TEST_TMPDIR/w.json"
	edgectl store put fleet/par/hosts/h1.json "$BATS_TEST_TMPDIR/w.json" >/dev/null
	run -0 --separate-stderr edgectl host add h1 --location par --ssh h1 --host-root "$(fleet_root h1)" --edgectl "$EDGECTL"
	[[ $stderr == "added host h1 in par: "*" CPUs, "*" GiB" ]]
	[ -z "$output" ]
	run -0 --separate-stderr edgectl --json host ls --location par
	jq -e 'length == 1 and .[0].warm[0].digest == "sha256:00" and .[0].gpus == .[0].probe.gpus
		and .[0].labels == {} and .[0].generation == 2' <<<"$output"
	run -0 --separate-stderr edgectl host ls
	[[ ${lines[1]} =~ ^h1\ +par\ +h1\ + ]]
	# a location goes only when its hosts have gone
	run -6 --separate-stderr edgectl location rm par
	[[ $stderr == *"location 'par' still has 1 hosts"* ]]
	run -0 edgectl host rm h1
	run -3 --separate-stderr edgectl host rm h1
	[[ $stderr == *"no host 'h1'"* ]]
	run -0 edgectl location rm par
	run -0 --separate-stderr edgectl --json location ls
	jq -e 'length == 0' <<<"$output"
}

@test "host, location: bad options and operands exit 2 before touching the store; ls shows the zone or the offset" {
	run -2 --separate-stderr edgectl host add h9 --location par
	[[ $stderr == *"needs --location and --ssh"* ]]
	run -2 --separate-stderr edgectl host add h9 --location par --ssh -oProxyCommand=x
	[[ $stderr == *"--ssh: ssh target '-oProxyCommand=x'"* ]]
	run -2 --separate-stderr edgectl host add h9 --location par --ssh h9 --gpu L4
	[[ $stderr == *"--gpu 'L4': use MODEL:MEM"* ]]
	run -2 --separate-stderr edgectl host add h9 --location par --ssh h9 --label novalue
	run -2 --separate-stderr edgectl host add Bad_Name --location par --ssh h9
	run -2 --separate-stderr edgectl host rm
	run -2 --separate-stderr edgectl location add x --lat 91 --lon 0 --utc-offset 0
	run -2 --separate-stderr edgectl location add x --lat 1 --lon 1 --utc-offset +15:00
	run -2 --separate-stderr edgectl location add x --lat 1 --lon 1 --utc-offset 0 --off-peak 25:00-01:00
	run -2 --separate-stderr edgectl location add x --lat 1 --lon 1
	[[ $stderr == *"--utc-offset or --tz"* ]]
	run -2 --separate-stderr edgectl location frob x
	[ ! -e "$XDG_DATA_HOME/edgectl/store/fleet" ]
	edgectl location add lis --lat 38.72 --lon -9.14 --utc-offset -01:30
	edgectl location add par --lat 48.85 --lon 2.35 --tz Europe/Paris --off-peak 22:00-06:00
	run -0 --separate-stderr edgectl location ls
	[[ $output == *"lis "*"UTC-1:30 "*" -"* ]]
	[[ $output == *"par "*"Europe/Paris "*"22:00-06:00"* ]]
	run -0 --separate-stderr edgectl --json location ls
	jq -e 'map({(.name): (.utc_offset_min // .tz)}) | add == {"lis": -90, "par": "Europe/Paris"}' <<<"$output"
}

@test "fleet: routes: only our /24 on our link in the test namespace, no default route on the hosts" {
	run -0 ip -4 route show dev "$FLEET_LINK"
	[ "$(echo $output)" = "$FLEET_NET.0/24 proto kernel scope link src $FLEET_TEST_ADDR" ]
	# every route of ours (main and local tables) is on our link
	run -0 ip -4 route show table all
	mine=$(grep -F " $FLEET_NET." <<<" $output" || true)
	[ -n "$mine" ]
	run -1 grep -v "dev $FLEET_LINK " <<<"$mine"
	# the machine's default route is untouched
	[ "$(ip route show default)" = "$(cat "$BATS_FILE_TMPDIR/default-route")" ]
	# no IPv6 address on our link (addrgenmode none)
	[ -z "$(ip -6 addr show dev "$FLEET_LINK")" ]
	for h in $FLEET_HOSTS; do
		run -0 fleet_exec "$h" ip -4 route show
		[ "$(echo $output)" = "$FLEET_NET.0/24 dev eth0 proto kernel scope link src $(fleet_addr "$h")" ]
		run -0 fleet_exec "$h" ip -6 route show default
		[ -z "$output" ]
	done
	# the switch has no address, only the bridge and its ports
	run -0 ip -n "$FLEET_PREFIX-sw" -4 -o addr show
	[ -z "$output" ]
	run -0 ip -n "$FLEET_PREFIX-sw" -o link show master br0
	[ "$(awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' <<<"$output" | sort | tr '\n' ' ')" = "h1 h2 h3 t0 " ]
}

@test "fleet: usage errors; a second fleet_up in the same shell is refused" {
	run -2 fleet_up 0
	run -2 fleet_up x
	run -2 fleet_up 2 this-prefix-is-too-long
	run -2 fleet_up 2 'bad/prefix'
	run -1 fleet_up 2
	[[ $output == *"already up"* ]]
	run -1 fleet_addr h4
	run -0 fleet_addr h3
	[ "$output" = "$FLEET_NET.13" ]
}

@test "fleet: fleet_down stops exactly what it started, removes it all, and is idempotent" {
	file_net=$FLEET_NET
	forget_file_fleet
	fleet_up 2
	OWN_DIR=$FLEET_DIR
	dir=$FLEET_DIR link=$FLEET_LINK
	# a second fleet on this machine takes another /24
	[ "$FLEET_NET" != "$file_net" ]
	mapfile -t nss <"$dir/netns"
	[ "${#nss[@]}" = 3 ]
	mapfile -t pids < <(awk '{ print $3 }' "$dir/pids")
	[ "${#pids[@]}" = 3 ] # 2 sshd and the watchdog
	for p in "${pids[@]}"; do alive "$p"; done
	masters=()
	for h in $FLEET_HOSTS; do
		run -0 ssh -F "$FLEET_SSH_CONFIG" -O check "$h"
		[[ $output =~ pid=([0-9]+) ]]
		masters+=("${BASH_REMATCH[1]}")
	done
	# something started in a host that fleet_down has to stop too
	fleet_ssh h1 'sleep 300 </dev/null >/dev/null 2>&1 & echo $!' </dev/null >"$BATS_TEST_TMPDIR/bg"
	read -r bg <"$BATS_TEST_TMPDIR/bg"
	alive "$bg"

	t0=${EPOCHREALTIME/./}
	fleet_down
	echo "# fleet_down 2: $(((${EPOCHREALTIME/./} - t0) / 1000)) ms" >&3
	[ -z "${FLEET_DIR:-}" ]
	[ ! -e "$dir" ]
	for ns in "${nss[@]}"; do
		[ ! -e "/run/netns/$ns" ]
		refute netns_listed "$ns"
	done
	refute ip link show dev "$link"
	for p in "${pids[@]}" "${masters[@]}" "$bg"; do refute alive "$p"; done
	# again: nothing to do
	fleet_down "$dir"
	fleet_down
}

@test "fleet: an sshd that dies: fleet_up fails with its log and leaves nothing" {
	forget_file_fleet
	printf '#!/bin/sh\necho "fake sshd: cannot bind (boom)" >&2\nexit 1\n' >"$BATS_TEST_TMPDIR/sshd"
	chmod +x "$BATS_TEST_TMPDIR/sshd"
	prefix=ecd-$BASHPID
	run -1 env FLEET_SSHD="$BATS_TEST_TMPDIR/sshd" bash -c '. "$1"; fleet_up 2 "$2"' - "$FLEET_LIB/fleet.bash" "$prefix"
	[[ $output == *"sshd of h1 h2 not accepting"* ]]
	[[ $output == *"--- h1/sshd.log"* ]]
	[[ $output == *"(boom)"* ]]
	refute netns_listed "$prefix-sw"
	refute netns_listed "$prefix-h1"
	refute netns_listed "$prefix-h2"
	refute ip link show dev "$prefix-t"
}

@test "fleet: an sshd that never listens: fleet_up times out (bounded) and stops it" {
	forget_file_fleet
	printf '#!/bin/sh\necho $$ >"%s"\necho "fake sshd: hanging" >&2\nexec sleep 300\n' "$BATS_TEST_TMPDIR/fake.pid" >"$BATS_TEST_TMPDIR/sshd"
	chmod +x "$BATS_TEST_TMPDIR/sshd"
	t0=${EPOCHREALTIME/./}
	prefix=ech-$BASHPID
	run -1 env FLEET_SSHD="$BATS_TEST_TMPDIR/sshd" FLEET_START_TIMEOUT=1 \
		bash -c '. "$1"; fleet_up 1 "$2"' - "$FLEET_LIB/fleet.bash" "$prefix"
	# bounded: well under the fake's 300 s, with room for a loaded machine
	[ $(((${EPOCHREALTIME/./} - t0) / 1000000)) -lt 120 ]
	[[ $output == *"within 1s"* ]]
	[[ $output == *"hanging"* ]]
	refute netns_listed "$prefix-h1"
	refute netns_listed "$prefix-sw"
	# the fake sshd (a sleep in the host's namespace) was stopped
	read -r pid <"$BATS_TEST_TMPDIR/fake.pid"
	refute alive "$pid"
}

@test "fleet: a missing openssh-server: 77 and the reason; EDGECTL_STRICT=1 fails instead" {
	forget_file_fleet
	rc=0
	FLEET_SSHD=/nonexistent/sshd fleet_up 1 || rc=$?
	[ "$rc" = 77 ]
	[[ $FLEET_MISSING == *"openssh-server"* ]]
	[ -z "${FLEET_DIR:-}" ]
	run -1 env EDGECTL_STRICT=1 FLEET_SSHD=/nonexistent/sshd bash -c '. "$1"; fleet_setup_file 1' - "$FLEET_LIB/fleet.bash"
	[[ $output == *"FAIL (EDGECTL_STRICT=1)"*"openssh-server"* ]]
	run -0 env -u EDGECTL_STRICT FLEET_SSHD=/nonexistent/sshd bash -c '. "$1"; fleet_setup_file 1 3>&1' - "$FLEET_LIB/fleet.bash"
	[[ $output == *"openssh-server"*"skip"* ]]
}

@test "fleet: a killed owner: the watchdog tears the fleet down" {
	mkfifo "$BATS_TEST_TMPDIR/hold"
	# the owner: a bash that starts a fleet and then blocks forever
	env -u FLEET_DIR bash -c '. "$1"; fleet_up 2 || exit 1
		echo "$FLEET_DIR" >"$2.tmp" && mv "$2.tmp" "$2"
		exec 9<>"$3"; read -r -u 9 _' owner "$FLEET_LIB/fleet.bash" \
		"$BATS_TEST_TMPDIR/dir" "$BATS_TEST_TMPDIR/hold" \
		</dev/null >"$BATS_TEST_TMPDIR/owner.log" 2>&1 3>&- &
	OWNER=$!
	for _ in $(seq 1 200); do
		[ -s "$BATS_TEST_TMPDIR/dir" ] && break
		alive "$OWNER" || { cat "$BATS_TEST_TMPDIR/owner.log"; false; }
		sleep 0.1
	done
	read -r dir <"$BATS_TEST_TMPDIR/dir"
	OWN_DIR=$dir
	mapfile -t nss <"$dir/netns"
	mapfile -t pids < <(awk '{ print $3 }' "$dir/pids")
	[ "${#nss[@]}" = 3 ]
	[ "${#pids[@]}" = 3 ]
	for ns in "${nss[@]}"; do [ -e "/run/netns/$ns" ]; done
	for p in "${pids[@]}"; do alive "$p"; done

	kill -9 "$OWNER"
	OWNER=
	t0=${EPOCHREALTIME/./}
	gone=
	for _ in $(seq 1 100); do
		left=0
		for ns in "${nss[@]}"; do [ ! -e "/run/netns/$ns" ] || left=1; done
		for p in "${pids[@]}"; do ! alive "$p" || left=1; done
		[ ! -e "$dir" ] || left=1
		[ "$left" = 1 ] || { gone=1; break; }
		sleep 0.1
	done
	[ -n "$gone" ]
	echo "# watchdog cleanup after the owner died: $(((${EPOCHREALTIME/./} - t0) / 1000)) ms" >&3
}
