# fleet.bash - a fleet of N "hosts" on this machine, for tests and benchmarks.
#
#   setup_file()    { load ../lib/common; load ../lib/fleet; fleet_setup_file 3; }
#   teardown_file() { load ../lib/fleet; fleet_down; }
#   setup()         { load ../lib/common; load ../lib/fleet; ec_isolate; fleet_require; }
#   @test ...       { run fleet_ssh h1 "$EDGECTL" --root "$(fleet_root h1)" images; }
#
# A host is a network namespace with its own real OpenSSH sshd; everything
# else (files, binaries, users) is the machine's, so $TOP/build/edgectl runs
# on every host. Layout (NET = 198.18.K, the first /24 of 198.18.0.0/16 that
# no address or route of the root namespace uses yet, so parallel runs do not
# clash; K is 0 for the first fleet):
#
#   root ns (the test)   PREFIX-t  NET.1/24 ─┐ veth
#   PREFIX-sw            t0 ── br0 ── h1 h2 … hN       (the switch: a bridge)
#   PREFIX-hI            lo, eth0 NET.(10+I)/24 ─┘ veth, sshd on NET.(10+I):22
#
# Only the connected route NET.0/24 on PREFIX-t is added to the root
# namespace; no host has a default route; nothing leaves the machine.
# PREFIX defaults to "ec-PID" (PID of the owner, see below); at most 12
# characters, as interface names are limited to 15.
#
# fleet_up N [PREFIX]   start the fleet; returns 0, 1 (failed: the error and
#                       each sshd's log are on stderr and what was made is
#                       torn down again), 2 (usage) or 77 (a needed program
#                       is missing: the reason is in FLEET_MISSING). It sets
#                       and exports:
#   FLEET_DIR           the run dir: per-run keys, configs, logs, records
#   FLEET_SSH_CONFIG    for `ssh -F "$FLEET_SSH_CONFIG" hN cmd`: Host aliases
#                       h1..hN (and the bare addresses), User root, BatchMode,
#                       the per-run client key, the host keys pre-recorded
#                       (StrictHostKeyChecking yes), ControlMaster auto with
#                       ControlPath FLEET_DIR/cm-ADDRESS, ControlPersist 60s
#   FLEET_HOSTS         "h1 h2 … hN"
#   FLEET_NET           "198.18.K" (hosts are FLEET_NET.11 …)
#   FLEET_TEST_ADDR     the test side's address (FLEET_NET.1)
#   FLEET_LINK          the test side's interface (PREFIX-t)
#   FLEET_PREFIX        the name prefix
#   FLEET_UP_MS         how long fleet_up took
# and writes the same as shell assignments to FLEET_DIR/env (for scripts).
# fleet_addr hN         the host's address
# fleet_root hN         FLEET_DIR/hN/root: a root dir for `edgectl --root`
# fleet_netns hN        the host's network namespace name
# fleet_ssh hN CMD…     ssh -F "$FLEET_SSH_CONFIG" hN CMD… (stdin is forwarded:
#                       use -n, or </dev/null, when running it in a loop)
# fleet_exec hN CMD…    run CMD directly in the host (no ssh), for assertions
# fleet_down [DIR]      stop and remove everything (tests/lib/fleet-down.sh);
#                       idempotent, and right after a fleet_up that failed
# fleet_setup_file N    fleet_up for setup_file: a missing package fails the
#                       file when EDGECTL_STRICT=1, else fleet_require skips
# fleet_require         skip (with the reason) when the fleet could not start
#
# The owner: a watchdog started by fleet_up runs fleet-down.sh once the
# process that called fleet_up is gone (FLEET_OWNER_PID overrides it), so an
# interrupted run leaves no namespace and no sshd. From setup_file that is
# bats-exec-file: the fleet lives until the file ends. Call fleet_up in the
# shell that owns the fleet, not inside $(...).
#
# What a host is, exactly: sshd is started with `nsenter --net`, so a host
# is a network namespace and nothing else: it shares the machine's mounts
# (the runtimes need /sys/fs/cgroup, the router /sys/fs/bpf; `ip netns
# exec` would give it a fresh /sys without them), so a mount made on one
# host is seen everywhere and /sys/class/net shows the machine's
# interfaces. fleet_exec enters the namespaces of the host's sshd
# (nsenter), so it sees exactly what an ssh session sees.
# Unix sockets are shared by all hosts: an `ssh -F "$FLEET_SSH_CONFIG"` run
# on a host reuses the test side's control master (add -o ControlPath=none
# to really connect from that host). sshd sets SHLVL=1 in sessions (SetEnv)
# so that bash does not source root's ~/.bashrc for every ssh command (it
# does for commands run by sshd; a heavy one made each ssh call 200+ ms).
#
# Knobs: FLEET_START_TIMEOUT (s, default 30: every sshd must accept an ssh
# session by then), FLEET_OWNER_PID, FLEET_SSHD (default /usr/sbin/sshd; the
# self-test swaps in broken ones). Parallel fleet_up calls on one machine
# serialise their choice of /24 on /run/lock/edgectl-fleet.lock.
FLEET_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Why the fleet cannot run here (empty: it can).
_fleet_missing() {
	local sshd=${FLEET_SSHD:-/usr/sbin/sshd} b
	[ "$(id -u)" = 0 ] || { echo "the fleet needs root (network namespaces)"; return; }
	[ -x "$sshd" ] || { echo "'$sshd' not found (install: apt-get install -y openssh-server)"; return; }
	for b in ssh ssh-keygen; do
		command -v "$b" >/dev/null ||
			{ echo "'$b' not found (install: apt-get install -y openssh-client)"; return; }
	done
	command -v ip >/dev/null || { echo "'ip' not found (install: apt-get install -y iproute2)"; return; }
	for b in nsenter flock setsid timeout; do
		command -v "$b" >/dev/null ||
			{ echo "'$b' not found (install: apt-get install -y util-linux coreutils)"; return; }
	done
}

_fleet_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# _fleet_alive PID: the process runs (exists and is not a zombie).
_fleet_alive() {
	local l
	read -r l 2>/dev/null <"/proc/$1/stat" || return 1
	l=${l##*) }
	[ "${l%% *}" != Z ]
}

# _fleet_abort DIR MESSAGE: report a failed fleet_up with each sshd's log,
# tear down what was made, return 1.
_fleet_abort() {
	local dir=$1 f
	echo "fleet_up: $2" >&2
	for f in "$dir"/h*/sshd.log "$dir"/h*/ssh.err; do
		[ -s "$f" ] || continue
		echo "--- ${f#"$dir"/}" >&2
		tail -n 20 "$f" >&2
	done
	"$FLEET_LIB/fleet-down.sh" "$dir" || true
	return 1
}

# _fleet_wait_host DIR HOST NETNS DEADLINE_MS: until the host's sshd accepts
# an ssh session (which also starts the control master), or it exited, or
# the deadline passed. Runs in a background subshell.
_fleet_wait_host() {
	local dir=$1 h=$2 ns=$3 deadline=$4 pid=
	while [ "$(_fleet_ms)" -lt "$deadline" ]; do
		[ -n "$pid" ] || pid=$(awk -v ns="$ns" '$1 == "sshd" && $2 == ns { print $3 }' "$dir/pids")
		if [ -n "$pid" ] && ! _fleet_alive "$pid"; then
			echo "sshd exited" >>"$dir/$h/ssh.err"
			return 1
		fi
		# sshd writes its PidFile once it listens
		if [ -s "$dir/$h/sshd.pid" ] &&
			timeout 10 ssh -F "$dir/ssh_config" -o ConnectTimeout=2 "$h" true </dev/null >/dev/null 2>>"$dir/$h/ssh.err"; then
			return 0
		fi
		sleep 0.02
	done
	echo "no ssh session after the deadline" >>"$dir/$h/ssh.err"
	return 1
}

fleet_up() {
	local owner=${FLEET_OWNER_PID:-$BASHPID} t0 n=${1:-} prefix=${2:-}
	local dir net k used lock lockfd sw link i h ns addr hosts=() waits=() failed=()
	local timeout_s=${FLEET_START_TIMEOUT:-30} sshd=${FLEET_SSHD:-/usr/sbin/sshd}
	t0=$(_fleet_ms)
	case $n in '' | *[!0-9]* | 0*)
		echo "usage: fleet_up N [PREFIX]   (N = 1..240 hosts)" >&2
		return 2
		;;
	esac
	[ "$n" -le 240 ] || { echo "fleet_up: at most 240 hosts" >&2; return 2; }
	prefix=${prefix:-ec-$owner}
	[[ $prefix =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,11}$ ]] || {
		echo "fleet_up: bad prefix '$prefix' (letters, digits and '-', at most 12 characters: interface names are limited to 15)" >&2
		return 2
	}
	if [ -n "${FLEET_DIR:-}" ] && [ -d "$FLEET_DIR" ]; then
		echo "fleet_up: a fleet is already up in '$FLEET_DIR' (fleet_down first)" >&2
		return 1
	fi
	export FLEET_MISSING=
	FLEET_MISSING=$(_fleet_missing)
	[ -z "$FLEET_MISSING" ] || return 77

	sw=$prefix-sw
	link=$prefix-t
	for i in $(seq 1 "$n"); do hosts+=("h$i"); done
	for ns in "$sw" "${hosts[@]/#/$prefix-}"; do
		if [ -e "/run/netns/$ns" ]; then
			echo "fleet_up: network namespace '$ns' already exists (left by an interrupted run? remove it: ip netns del $ns)" >&2
			return 1
		fi
	done
	if ip link show dev "$link" >/dev/null 2>&1; then
		echo "fleet_up: interface '$link' already exists (left by an interrupted run? remove it: ip link del $link)" >&2
		return 1
	fi

	# the run dir: ControlPath sockets live here, and a socket path has at most
	# 107 bytes (DIR/cm-198.18.255.250 plus ssh's temporary suffix)
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ecfleet.XXXXXX") || return 1
	if [ ${#dir} -gt 64 ]; then
		rmdir "$dir"
		dir=$(mktemp -d /tmp/ecfleet.XXXXXX) || return 1
	fi
	: >"$dir/pids"
	: >"$dir/netns"
	: >"$dir/links"
	: >"$dir/hosts"

	# the watchdog: tears the fleet down once the owner is gone (or a zombie)
	# shellcheck disable=SC2016 # expanded by the watchdog's bash
	setsid bash -c 'echo "watchdog - $$" >>"$2/pids"
		alive() { local l; read -r l 2>/dev/null <"/proc/$1/stat" || return 1; l=${l##*) }; [ "${l%% *}" != Z ]; }
		while alive "$1" && [ -f "$2/pids" ]; do sleep 0.5; done
		[ -f "$2/pids" ] && exec "$3/fleet-down.sh" "$2"' \
		fleet-watchdog "$owner" "$dir" "$FLEET_LIB" </dev/null >/dev/null 2>&1 3>&- &

	# keys: one client key, one host key per host
	ssh-keygen -q -t ed25519 -N '' -C "fleet-client@$prefix" -f "$dir/id_ed25519" ||
		{ _fleet_abort "$dir" "ssh-keygen (client key) failed"; return 1; }
	cp "$dir/id_ed25519.pub" "$dir/authorized_keys" || { _fleet_abort "$dir" "cannot write to '$dir'"; return 1; }
	for h in "${hosts[@]}"; do
		mkdir -p "$dir/$h/root" || { _fleet_abort "$dir" "cannot write to '$dir'"; return 1; }
		ssh-keygen -q -t ed25519 -N '' -C "$h@$prefix" -f "$dir/$h/ssh_host_ed25519_key" ||
			{ _fleet_abort "$dir" "ssh-keygen (host key of $h) failed"; return 1; }
	done

	# the switch
	echo "$sw" >>"$dir/netns"
	{ ip netns add "$sw" &&
		ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 &&
		ip -n "$sw" link set br0 up; } 2>"$dir/ip.err" ||
		{ _fleet_abort "$dir" "creating the switch namespace '$sw' failed: $(cat "$dir/ip.err")"; return 1; }

	# the test side: the first /24 nobody here uses (under a lock, so that
	# parallel runs pick different ones), on a veth into the switch
	lock=/run/lock/edgectl-fleet.lock
	[ -d /run/lock ] || lock=/tmp/edgectl-fleet.lock
	exec {lockfd}>>"$lock" || { _fleet_abort "$dir" "cannot open the lock '$lock'"; return 1; }
	flock -w 30 "$lockfd" || true
	used=$(ip -4 -o addr show; ip -4 route show table all)
	net=
	for k in $(seq 0 255); do
		grep -qF "198.18.$k." <<<"$used" || { net=198.18.$k; break; }
	done
	if [ -z "$net" ]; then
		exec {lockfd}>&-
		_fleet_abort "$dir" "no free /24 in 198.18.0.0/16"
		return 1
	fi
	echo "$link" >>"$dir/links"
	i=0
	{ ip link add "$link" type veth peer name t0 netns "$sw" &&
		{ ip link set dev "$link" addrgenmode none 2>/dev/null || true; } &&
		ip addr add "$net.1/24" dev "$link" &&
		ip link set dev "$link" up &&
		ip -n "$sw" link set t0 master br0 up; } 2>"$dir/ip.err" || i=$?
	exec {lockfd}>&-
	[ "$i" = 0 ] || { _fleet_abort "$dir" "creating the test side link '$link' failed: $(cat "$dir/ip.err")"; return 1; }

	# the hosts
	i=0
	for h in "${hosts[@]}"; do
		i=$((i + 1))
		ns=$prefix-$h
		addr=$net.$((10 + i))
		echo "$h $ns $addr" >>"$dir/hosts"
		echo "$ns" >>"$dir/netns"
		{ ip netns add "$ns" &&
			ip -n "$sw" link add "$h" type veth peer name eth0 netns "$ns" &&
			ip -n "$sw" link set "$h" master br0 up &&
			ip -n "$ns" link set lo up &&
			ip -n "$ns" addr add "$addr/24" dev eth0 &&
			ip -n "$ns" link set eth0 up; } 2>"$dir/ip.err" ||
			{ _fleet_abort "$dir" "creating host $h (namespace '$ns') failed: $(cat "$dir/ip.err")"; return 1; }
		cat >"$dir/$h/sshd_config" <<EOF
ListenAddress $addr:22
HostKey $dir/$h/ssh_host_ed25519_key
PidFile $dir/$h/sshd.pid
PermitRootLogin prohibit-password
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserRC no
UseDNS no
PrintMotd no
PrintLastLog no
MaxSessions 100
MaxStartups 100:30:200
Subsystem sftp internal-sftp
SetEnv SHLVL=1
EOF
		echo "$addr,$h $(cut -d' ' -f1,2 "$dir/$h/ssh_host_ed25519_key.pub")" >>"$dir/known_hosts"
	done

	{
		for h in "${hosts[@]}"; do
			addr=$(awk -v h="$h" '$1 == h { print $3 }' "$dir/hosts")
			printf 'Host %s %s\n\tHostName %s\n' "$h" "$addr" "$addr"
		done
		cat <<EOF
Host *
	User root
	Port 22
	IdentityFile $dir/id_ed25519
	IdentitiesOnly yes
	UserKnownHostsFile $dir/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	CheckHostIP no
	BatchMode yes
	AddressFamily inet
	ConnectTimeout 5
	ControlMaster auto
	ControlPath $dir/cm-%h
	ControlPersist 60s
	LogLevel ERROR
EOF
	} >"$dir/ssh_config"

	# sshd wants its privilege separation dir (made by the package's service)
	[ -d /run/sshd ] || mkdir -m 0755 /run/sshd

	# start every sshd (each records its own PID before it becomes sshd),
	# then wait for all of them in parallel
	while read -r h ns addr; do
		# shellcheck disable=SC2016 # expanded by that bash
		setsid bash -c 'echo "sshd $1 $$" >>"$2"; shift 2; exec "$@"' fleet-sshd "$ns" "$dir/pids" \
			nsenter --net="/run/netns/$ns" -- "$sshd" -D -e -f "$dir/$h/sshd_config" \
			</dev/null >>"$dir/$h/sshd.log" 2>&1 3>&- &
	done <"$dir/hosts"
	k=$(($(_fleet_ms) + timeout_s * 1000))
	while read -r h ns addr; do
		_fleet_wait_host "$dir" "$h" "$ns" "$k" 3>&- &
		waits+=("$h:$!")
	done <"$dir/hosts"
	for i in "${waits[@]}"; do
		wait "${i#*:}" || failed+=("${i%%:*}")
	done
	if [ ${#failed[@]} != 0 ]; then
		_fleet_abort "$dir" "sshd of ${failed[*]} not accepting ssh sessions within ${timeout_s}s (FLEET_START_TIMEOUT)"
		return 1
	fi
	# the watchdog has recorded its PID (it started first: this is at once)
	until grep -q '^watchdog ' "$dir/pids"; do
		[ "$(_fleet_ms)" -lt "$k" ] || { _fleet_abort "$dir" "the watchdog did not start"; return 1; }
		sleep 0.02
	done

	export FLEET_DIR=$dir FLEET_SSH_CONFIG=$dir/ssh_config FLEET_HOSTS="${hosts[*]}"
	export FLEET_NET=$net FLEET_TEST_ADDR=$net.1 FLEET_LINK=$link FLEET_PREFIX=$prefix
	export FLEET_UP_MS=$(($(_fleet_ms) - t0))
	for k in FLEET_DIR FLEET_SSH_CONFIG FLEET_HOSTS FLEET_NET FLEET_TEST_ADDR FLEET_LINK FLEET_PREFIX; do
		printf '%s=%q\n' "$k" "${!k}"
	done >"$dir/env"
}

# _fleet_host hN: check that hN is a host of the running fleet.
_fleet_host() {
	[ -n "${FLEET_DIR:-}" ] || { echo "fleet: no fleet is up (fleet_up first)" >&2; return 1; }
	case " $FLEET_HOSTS " in *" $1 "*) return 0 ;; esac
	echo "fleet: no host '$1' (hosts: $FLEET_HOSTS)" >&2
	return 1
}

fleet_addr() { _fleet_host "$1" && echo "$FLEET_NET.$((10 + ${1#h}))"; }
fleet_root() { _fleet_host "$1" && echo "$FLEET_DIR/$1/root"; }
fleet_netns() { _fleet_host "$1" && echo "$FLEET_PREFIX-$1"; }
fleet_ssh() { _fleet_host "$1" && ssh -F "$FLEET_SSH_CONFIG" "$@"; }

fleet_exec() {
	local h=${1:-} pid=
	_fleet_host "$h" || return 1
	shift
	[ -s "$FLEET_DIR/$h/sshd.pid" ] && read -r pid <"$FLEET_DIR/$h/sshd.pid"
	if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = \
		"net:[$(stat -L -c %i "/run/netns/$FLEET_PREFIX-$h" 2>/dev/null)]" ]; then
		nsenter -t "$pid" -n -m -w"$PWD" -- "$@"
	else
		ip netns exec "$FLEET_PREFIX-$h" "$@"
	fi
}

# fleet_edgectl_config DIR: write DIR/edgectl/config.json (DIR is an
# XDG_CONFIG_HOME) telling edgectl to reach the hosts with the fleet's
# ssh_config.
fleet_edgectl_config() {
	mkdir -p "$1/edgectl" &&
		jq -n --arg c "$FLEET_SSH_CONFIG" '{ssh: {config: $c}}' >"$1/edgectl/config.json"
}

# The test side of a fleet file, for setup_file after fleet_setup_file:
#   fleet_app_ctx CMD        $BATS_FILE_TMPDIR/ctx: a busybox rootfs and a
#                            Dockerfile FROM scratch, COPY rootfs/ /, CMD CMD
#                            (JSON); add files under ctx/rootfs, then:
#   fleet_app_push VAR TAG   export VAR_STORE (file://BATS_FILE_TMPDIR/store),
#                            VAR_CFG (an XDG_CONFIG_HOME reaching the hosts)
#                            and VAR_ROOT; build ctx as TAG there and push it
#   fleet_hosts_add [-e EDGECTL] LOCATION NET [hI=LOCATION...]
#                            `edgectl host add` each host hI of the fleet: in
#                            LOCATION (or the one named for it), containers on
#                            198.19.(NET+I).0/24, its edgectl EDGECTL (%h: the
#                            host's name; default $EDGECTL); with the caller's
#                            XDG_CONFIG_HOME, EDGECTL_STORE and EDGECTL_ROOT
# (fleet_app_ctx needs ../lib/busybox loaded.)
fleet_app_ctx() {
	local ctx=$BATS_FILE_TMPDIR/ctx
	mkdir -p "$ctx" && busybox_rootfs "$ctx/rootfs" || return 1
	printf 'FROM scratch\nCOPY rootfs/ /\nCMD %s\n' "$1" >"$ctx/Dockerfile"
}

fleet_app_push() {
	local d=$BATS_FILE_TMPDIR
	export "$1_STORE=file://$d/store" "$1_CFG=$d/cfg" "$1_ROOT=$d/root"
	fleet_edgectl_config "$d/cfg" || return 1
	XDG_CONFIG_HOME=$d/cfg EDGECTL_STORE=file://$d/store EDGECTL_ROOT=$d/root \
		edgectl -q build -t "$2" "$d/ctx" >/dev/null || return 1
	XDG_CONFIG_HOME=$d/cfg EDGECTL_STORE=file://$d/store EDGECTL_ROOT=$d/root \
		edgectl -q push "$2" >/dev/null
}

fleet_hosts_add() {
	local ec=$EDGECTL h loc a
	if [ "${1:-}" = -e ]; then
		ec=$2
		shift 2
	fi
	for h in $FLEET_HOSTS; do
		loc=$1
		for a in "${@:3}"; do [ "${a%%=*}" = "$h" ] && loc=${a#*=}; done
		edgectl -q host add "$h" --location "$loc" --ssh "$h" --host-root "$(fleet_root "$h")" \
			--edgectl "${ec//%h/$h}" --subnet "198.19.$(($2 + ${h#h})).0/24" || return 1
	done
}

# fleet_rm_instances [EDGECTL]: remove every instance of every host's root
# (for teardown; through fleet_exec, so it works whatever state a test left
# the hosts' network in).
fleet_rm_instances() {
	local ec=${1:-$EDGECTL} h ids
	for h in ${FLEET_HOSTS:-}; do
		ids=$(fleet_exec "$h" "$ec" --root "$(fleet_root "$h")" --json ps -a 2>/dev/null |
			jq -r '.[].id' 2>/dev/null) || true
		# shellcheck disable=SC2086 # one word per id
		[ -z "$ids" ] || fleet_exec "$h" "$ec" --root "$(fleet_root "$h")" rm -f $ids >/dev/null 2>&1 || true
	done
}

fleet_down() {
	local dir=${1:-${FLEET_DIR:-}} rc=0
	[ -n "$dir" ] || return 0
	"$FLEET_LIB/fleet-down.sh" "$dir" || rc=$?
	if [ "$dir" = "${FLEET_DIR:-}" ]; then
		unset FLEET_DIR FLEET_SSH_CONFIG FLEET_HOSTS FLEET_NET FLEET_TEST_ADDR \
			FLEET_LINK FLEET_PREFIX FLEET_UP_MS
	fi
	return "$rc"
}

# For setup_file: start N hosts; a missing package fails the file under
# EDGECTL_STRICT=1, else is remembered for fleet_require to skip with.
fleet_setup_file() {
	local rc=0
	fleet_up "$@" || rc=$?
	if [ "$rc" = 77 ]; then
		if [ "${EDGECTL_STRICT:-}" = 1 ]; then
			echo "FAIL (EDGECTL_STRICT=1): $FLEET_MISSING" >&2
			return 1
		fi
		echo "# $FLEET_MISSING: the fleet tests of $(basename "${BATS_TEST_FILENAME:-?}") skip" >&3
		return 0
	fi
	return "$rc"
}

# For setup or a test: skip (with the reason) when the fleet could not be
# started because a package is missing.
fleet_require() {
	if [ -n "${FLEET_MISSING:-}" ]; then
		[ "${EDGECTL_STRICT:-}" = 1 ] && { echo "FAIL: $FLEET_MISSING" >&2; return 1; }
		skip "$FLEET_MISSING"
	fi
	[ -n "${FLEET_DIR:-}" ] || { echo "the fleet was not started (fleet_setup_file in setup_file?)" >&2; return 1; }
}

# fleet_sshd_kill hN: the host's sshd dies with every session it serves
# (SIGKILL to the recorded sshd and its descendants, so a command running
# there over ssh dies mid-way; detached instance monitors are not its
# descendants and live on) and the test side's control master to it is
# closed. fleet_sshd_start hN brings it back.
fleet_sshd_kill() {
	local h=${1:-} ns pid
	ns=$(fleet_netns "$h") || return 1
	pid=$(awk -v ns="$ns" '$1 == "sshd" && $2 == ns { p = $3 } END { print p }' "$FLEET_DIR/pids")
	[ -n "$pid" ] && _fleet_alive "$pid" || { echo "fleet: no sshd of $h runs" >&2; return 1; }
	_fleet_kill_tree "$pid"
	ssh -F "$FLEET_SSH_CONFIG" -O exit "$h" >/dev/null 2>&1 || true
	rm -f "$FLEET_DIR/$h/sshd.pid"
}

# _fleet_kill_tree PID: stop PID (no new children), its descendants, then it.
_fleet_kill_tree() {
	local c
	kill -STOP "$1" 2>/dev/null || return 0
	for c in $(pgrep -P "$1"); do _fleet_kill_tree "$c"; done
	kill -9 "$1" 2>/dev/null || true
}

# fleet_sshd_start hN: start the host's sshd again (after fleet_sshd_kill)
# and wait until it accepts an ssh session (FLEET_START_TIMEOUT).
fleet_sshd_start() {
	local h=${1:-} ns k sshd=${FLEET_SSHD:-/usr/sbin/sshd}
	ns=$(fleet_netns "$h") || return 1
	rm -f "$FLEET_DIR/$h/sshd.pid"
	# shellcheck disable=SC2016 # expanded by that bash
	setsid bash -c 'echo "sshd $1 $$" >>"$2"; shift 2; exec "$@"' fleet-sshd "$ns" "$FLEET_DIR/pids" \
		nsenter --net="/run/netns/$ns" -- "$sshd" -D -e -f "$FLEET_DIR/$h/sshd_config" \
		</dev/null >>"$FLEET_DIR/$h/sshd.log" 2>&1 3>&- &
	k=$(($(_fleet_ms) + ${FLEET_START_TIMEOUT:-30} * 1000))
	until [ -s "$FLEET_DIR/$h/sshd.pid" ] &&
		timeout 10 ssh -F "$FLEET_SSH_CONFIG" -o ConnectTimeout=2 "$h" true </dev/null >/dev/null 2>&1; do
		[ "$(_fleet_ms)" -lt "$k" ] || { echo "fleet: sshd of $h not back within ${FLEET_START_TIMEOUT:-30}s" >&2; return 1; }
		sleep 0.05
	done
}
