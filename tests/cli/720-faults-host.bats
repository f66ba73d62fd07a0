#!/usr/bin/env bats
# Host faults on the namespace fleet (issue 18): sshd killed in the middle
# of a prewarm and of a schedule's start, a host whose edgectl is broken,
# a host that "reboots" (its instances' processes gone, their state left on
# disk), instances no app record places (orphans), hosts whose clocks are
# hours off. Each host runs edgectl through a wrapper that control files in
# $FH_CTL/hN can make hold before a subcommand (hold-CMD: it writes held-CMD
# and waits), fail (broken) or run on a clock off by an offset (clock: a
# faketime offset such as +3h).
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 3 || return 1
	export FH_CTL="$BATS_FILE_TMPDIR/ctl"
	fleet_app_ctx '["httpd", "-f", "-p", "80", "-h", "/www"]' || return 1
	mkdir -p "$BATS_FILE_TMPDIR/ctx/rootfs/www"
	echo "fault hello" >"$BATS_FILE_TMPDIR/ctx/rootfs/www/index.html"
	head -c 2097152 /dev/urandom >"$BATS_FILE_TMPDIR/ctx/rootfs/weights"
	fleet_app_push FH web:1 || return 1
	export XDG_CONFIG_HOME=$FH_CFG EDGECTL_STORE=$FH_STORE EDGECTL_ROOT=$FH_ROOT
	edgectl location add fra --lat 50.11 --lon 8.68 --utc-offset +01:00
	local h w
	for h in $FLEET_HOSTS; do
		mkdir -p "$FH_CTL/$h"
		w="$BATS_FILE_TMPDIR/edgectl-$h"
		# the host's edgectl: hold before a subcommand, or be broken
		cat >"$w" <<EOF
#!/bin/bash
ctl='$FH_CTL/$h'
if [ -e "\$ctl/broken" ]; then
	echo "edgectl-wrapper: simulated breakage" >&2
	echo "garbage, not JSON"
	exit 139
fi
for a in "\$@"; do
	case \$a in pull | run | ps | rm) sub=\$a; break ;; esac
done
if [ -n "\${sub:-}" ] && [ -e "\$ctl/hold-\$sub" ]; then
	: >"\$ctl/held-\$sub"
	while [ -e "\$ctl/hold-\$sub" ]; do sleep 0.05; done
fi
if [ -s "\$ctl/clock" ]; then
	# libfaketime is preloaded: ASan must not insist on coming first;
	# file times stay the kernel's (NO_FAKE_STAT): the store's files are
	# stamped by the machine that keeps them, not by this host's clock
	# (a faked stat would also change the file store's ETags)
	export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" NO_FAKE_STAT=1
	exec faketime -f "\$(cat "\$ctl/clock")" '$EDGECTL' "\$@"
fi
exec '$EDGECTL' "\$@"
EOF
		chmod 0755 "$w"
	done
	fleet_hosts_add -e "$BATS_FILE_TMPDIR/edgectl-%h" fra 150
}

teardown_file() {
	load ../lib/fleet
	rm -rf "${FH_CTL:?}"/*/hold-* "${FH_CTL:?}"/*/broken "${FH_CTL:?}"/*/clock 2>/dev/null
	fleet_rm_instances
	fleet_down
}

setup() {
	load ../lib/common
	load ../lib/fleet
	ec_require_root
	fleet_require
	export XDG_CONFIG_HOME=$FH_CFG EDGECTL_STORE=$FH_STORE EDGECTL_ROOT=$FH_ROOT
}

teardown() {
	# whatever a failed test left: hosts answer, nothing holds
	rm -f "$FH_CTL"/*/hold-* "$FH_CTL"/*/held-* "$FH_CTL"/*/broken "$FH_CTL"/*/clock
	[ -n "${BG_PID:-}" ] && kill "$BG_PID" 2>/dev/null
	local h
	for h in $FLEET_HOSTS; do
		timeout 5 ssh -F "$FLEET_SSH_CONFIG" -o ConnectTimeout=2 "$h" true </dev/null >/dev/null 2>&1 ||
			fleet_sshd_start "$h" || true
	done
}

# wait_file F: until F exists (30 s at most)
wait_file() {
	local i
	for i in $(seq 600); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $1" >&2
	return 1
}

# The running instances on host H: "name" lines, sorted.
running_on() {
	fleet_exec "$1" "$EDGECTL" --root "$(fleet_root "$1")" --json ps |
		jq -r '.[] | select(.status == "running") | .name' | sort
}

# Audit of app APP: every placement runs exactly once on its host, nothing
# else of the app runs anywhere, every host's allocations are the app's
# placements there (no overcommit, no lost or doubled placement).
audit_app() {
	local app=$1 rec h want got alloc
	rec=$(edgectl store get "apps/$app.json")
	for h in $FLEET_HOSTS; do
		want=$(jq -r --arg h "$h" '.placements[] | select(.host == $h) | .instance' <<<"$rec" | sort)
		got=$(running_on "$h" | grep "^$app-" || true)
		[ "$want" = "$got" ] || { echo "host $h: placed [$want] running [$got]"; return 1; }
		alloc=$(edgectl --json host ls | jq --arg h "$h" --arg a "$app" \
			'[.[] | select(.name == $h) | .allocations[] | select(.app == $a)] | length')
		[ "$alloc" = "$(grep -c . <<<"$want")" ] ||
			{ echo "host $h: $alloc allocations for [$want]"; return 1; }
	done
}

@test "sshd killed during prewarm: the others warm, the host is reported (exit 4), not recorded warm; a re-run warms it" {
	: >"$FH_CTL/h2/hold-pull"
	edgectl --json prewarm --all web:1 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	BG_PID=$!
	wait_file "$FH_CTL/h2/held-pull"
	fleet_sshd_kill h2
	rm -f "$FH_CTL/h2/hold-pull"
	# wait in this shell: 'run wait' would wait in a subshell, which
	# cannot wait for this shell's child
	local rc=0
	wait "$BG_PID" || rc=$?
	BG_PID=
	cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
	[ "$rc" = 4 ]
	jq -e '.warm == 2 and .failed == 1 and
		([.hosts[] | select(.ok | not) | .host] == ["h2"]) and
		([.hosts[] | select(.ok) | .host] | sort == ["h1", "h3"])' "$BATS_TEST_TMPDIR/out"
	jq -e '[.hosts[] | select(.host == "h2") | .error] | .[0] | test("h2")' "$BATS_TEST_TMPDIR/out"
	run -0 --separate-stderr edgectl --json prewarm ls --image web:1
	jq -e '[.[].host] | sort == ["h1", "h3"]' <<<"$output"
	# sshd back: the next prewarm warms h2 and fetches nothing for the others
	fleet_sshd_start h2
	run -0 --separate-stderr edgectl --json prewarm --all web:1
	echo "$output"
	jq -e '.warm == 3 and .failed == 0 and
		all(.hosts[]; (.host == "h2") or .already_warm)' <<<"$output"
	run -0 --separate-stderr edgectl --json prewarm ls --image web:1
	jq -e 'length == 3' <<<"$output"
}

@test "sshd killed while schedule starts a replica: placements kept, exit 4 naming the host; --tick starts it; audit clean" {
	: >"$FH_CTL/h2/hold-run"
	edgectl --json schedule --image web:1 --name web --replicas 3 --policy spread --cpus 0.1 \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	BG_PID=$!
	wait_file "$FH_CTL/h2/held-run"
	fleet_sshd_kill h2
	rm -f "$FH_CTL/h2/hold-run"
	# wait in this shell: 'run wait' would wait in a subshell, which
	# cannot wait for this shell's child
	local rc=0
	wait "$BG_PID" || rc=$?
	BG_PID=
	cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
	[ "$rc" = 4 ]
	# h2's placement is the one not started, its error names the host
	jq -e '[.placements[] | select(.started | not)] | length == 1 and
		.[0].host == "h2" and (.[0].error | test("host h2 .*ssh failed"))' "$BATS_TEST_TMPDIR/out"
	run -0 edgectl store get apps/web.json
	jq -e '(.placements | length) == 3 and (.placements | map(.host) | unique | length) == 3' <<<"$output"
	[ -z "$(running_on h2 | grep '^web-' || true)" ]
	fleet_sshd_start h2
	run -0 --separate-stderr edgectl --json schedule --tick
	echo "$output"
	jq -e 'map(select(.action == "replaced" and .host == "h2" and .started)) | length == 1' <<<"$output"
	audit_app web
	# and a second tick has nothing to do
	run -0 --separate-stderr edgectl --json schedule --tick
	jq -e 'length == 0' <<<"$output"
}

@test "a host whose edgectl is broken: prewarm, ps --all-hosts and --tick name it; the others work; fixed, the tick heals" {
	: >"$FH_CTL/h3/broken"
	run -4 --separate-stderr edgectl --json ps --all-hosts
	echo "$output"
	jq -e '(.errors | length) == 1 and .errors[0].host == "h3" and
		(.instances | map(.host) | unique | sort) == ["h1", "h2"]' <<<"$output"
	run -4 --separate-stderr edgectl --json prewarm --all web:1
	jq -e '.failed == 1 and ([.hosts[] | select(.ok | not) | .host] == ["h3"])' <<<"$output"
	# the tick cannot see h3's replica: it says so, replaces nothing there
	run -0 --separate-stderr edgectl --json schedule --tick
	echo "$output"
	jq -e 'map(select(.error and (.instance | startswith("web-")))) | length == 1' <<<"$output"
	jq -e 'map(select(.action == "replaced")) | length == 0' <<<"$output"
	# kill h3's replica while edgectl there is broken, then repair it
	local n
	n=$(edgectl store get apps/web.json | jq -r '.placements[] | select(.host == "h3") | .instance')
	fleet_exec h3 "$EDGECTL" --root "$(fleet_root h3)" stop -t 0 "$n" >/dev/null
	rm -f "$FH_CTL/h3/broken"
	run -0 --separate-stderr edgectl --json schedule --tick
	echo "$output"
	jq -e --arg n "$n" 'map(select(.instance == $n and .action == "replaced" and .started)) | length == 1' <<<"$output"
	audit_app web
}

@test "a host reboots (its instances' processes gone, state left on disk): --tick restarts them there and they answer" {
	local st pids p n ip
	st=$(fleet_exec h1 "$EDGECTL" --root "$(fleet_root h1)" --json ps)
	n=$(jq -r '.[] | select(.name | startswith("web-")) | .name' <<<"$st")
	[ -n "$n" ]
	# every process of h1's instances: their monitors and their cgroups
	pids=$(jq -r '.[] | .monitor_pid // empty' <<<"$st")
	for p in $(jq -r '.[] | .cgroup // empty' <<<"$st"); do
		[ -f "/sys/fs/cgroup/$p/cgroup.procs" ] && pids="$pids $(cat "/sys/fs/cgroup/$p/cgroup.procs")"
	done
	[ -n "$pids" ]
	# shellcheck disable=SC2086 # one word per pid
	kill -9 $pids
	run -0 --separate-stderr edgectl --json schedule --tick
	echo "$output"
	jq -e --arg n "$n" 'map(select(.instance == $n and .action == "replaced" and .host == "h1" and .started)) | length == 1' <<<"$output"
	ip=$(fleet_exec h1 "$EDGECTL" --root "$(fleet_root h1)" --json ps | jq -r --arg n "$n" '.[] | select(.name == $n) | .ip')
	run -0 fleet_exec h1 curl -fsS -m 5 "http://$ip/"
	[ "$output" = "fault hello" ]
	audit_app web
}

@test "orphans: a replica the record lacks and an app without a record are reported; --remove-orphans removes them, not a user's instance" {
	# web-7: started as schedule would, never recorded; gone-0: its app's
	# record deleted by hand; mine: a user's own instance
	fleet_exec h1 "$EDGECTL" --root "$(fleet_root h1)" run -d --app web --name web-7 \
		--subnet 198.19.151.0/24 web:1 >/dev/null
	fleet_exec h2 "$EDGECTL" --root "$(fleet_root h2)" run -d --app gone --name gone-0 \
		--subnet 198.19.152.0/24 web:1 >/dev/null
	fleet_exec h2 "$EDGECTL" --root "$(fleet_root h2)" run -d --name mine \
		--subnet 198.19.152.0/24 web:1 >/dev/null
	run -0 --separate-stderr edgectl --json schedule --tick
	echo "$output"
	# h1 runs a web replica, so the tick asked it; h2 too
	jq -e 'map(select(.action == "orphan")) | map(.instance) | sort == ["gone-0", "web-7"]' <<<"$output"
	run -2 edgectl schedule --remove-orphans
	# young: kept, said why
	run -0 --separate-stderr edgectl --json schedule --tick --remove-orphans
	jq -e 'map(select(.action == "orphan" and (.error | test("grace")))) | length == 2' <<<"$output"
	run -0 --separate-stderr edgectl --json schedule --tick --remove-orphans --orphan-grace 0
	echo "$output"
	jq -e 'map(select(.action == "orphan-removed")) | map(.instance) | sort == ["gone-0", "web-7"]' <<<"$output"
	[ -z "$(running_on h1 | grep -x web-7 || true)" ]
	[ -z "$(running_on h2 | grep -x gone-0 || true)" ]
	[ "$(running_on h2 | grep -x mine)" = mine ]
	audit_app web
	run -0 --separate-stderr edgectl --json schedule --tick --remove-orphans --orphan-grace 0
	jq -e 'map(select(.action | startswith("orphan"))) | length == 0' <<<"$output"
	fleet_exec h2 "$EDGECTL" --root "$(fleet_root h2)" rm -f mine >/dev/null
	run -0 edgectl schedule rm web
}

# push_variant TAG: web:1 plus one file naming TAG, pushed as TAG (an image
# of its own digest that shares web:1's layers but one)
push_variant() {
	echo "$1" >"$BATS_FILE_TMPDIR/ctx/rootfs/variant"
	fleet_app_push FH "$1"
	rm -f "$BATS_FILE_TMPDIR/ctx/rootfs/variant"
}

@test "hosts whose clocks are 3 h off (h1 ahead, h3 behind): nothing marked down, orphaned or lost; eviction order ignores the operators' clocks" {
	command -v faketime >/dev/null || { echo "faketime missing (tests/lib/deps.sh installs it)"; false; }
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	local now_ms c st d2 d3 used
	echo +3h >"$FH_CTL/h1/clock"
	echo -3h >"$FH_CTL/h3/clock"
	run -0 --separate-stderr edgectl --json prewarm --all web:1
	jq -e '.warm == 3 and .failed == 0' <<<"$output"
	run -0 --separate-stderr edgectl --json schedule --image web:1 --name clk --replicas 3 \
		--policy spread --cpus 0.1
	echo "$output"
	jq -e '(.placements | map(.host) | unique | length) == 3' <<<"$output"
	audit_app clk
	# the replicas of h1 and h3 were created on their own clocks
	now_ms=$(($(date +%s) * 1000))
	c=$(fleet_exec h1 "$EDGECTL" --root "$(fleet_root h1)" --json ps | jq '.[] | select(.name | startswith("clk-")) | .created_ms')
	[ "$c" -gt $((now_ms + 7200000)) ] || { echo "h1 created_ms $c, now $now_ms"; false; }
	c=$(fleet_exec h3 "$EDGECTL" --root "$(fleet_root h3)" --json ps | jq '.[] | select(.name | startswith("clk-")) | .created_ms')
	[ "$c" -lt $((now_ms - 7200000)) ] || { echo "h3 created_ms $c, now $now_ms"; false; }
	# ps --all-hosts: every host answers; ages are each host's own (none
	# negative, none hours old)
	run -0 --separate-stderr edgectl --json ps --all-hosts
	echo "$output"
	jq -e '(.errors | length) == 0 and
		([.instances[] | select(.name | startswith("clk-")) | .host] | sort) == ["h1", "h2", "h3"] and
		all(.instances[] | select(.name | startswith("clk-")); .age_ms >= 0 and .age_ms < 3600000)' <<<"$output"
	# two ticks that would remove orphans: nothing down, orphaned, replaced
	# or forgotten; the placements are those of the start
	st=$(edgectl store get apps/clk.json | jq -c '[.placements[] | [.host, .instance]] | sort')
	for c in 1 2; do
		run -0 --separate-stderr edgectl --json schedule --tick --remove-orphans
		echo "$output"
		[[ $stderr != *clock* ]] || { echo "$stderr"; false; }
		jq -e 'map(select(.action | test("host-down|orphan|replaced|forgotten|lost"))) | length == 0' <<<"$output"
	done
	[ "$(edgectl store get apps/clk.json | jq -c '[.placements[] | [.host, .instance]] | sort')" = "$st" ]
	run -0 --separate-stderr edgectl --json host ls
	jq -e 'all(.[]; (.down // false) == false)' <<<"$output"
	audit_app clk
	# eviction on h2: web:3 warmed by this machine, then web:2 by an
	# operator whose clock is 3 h behind (its "t" the older): web:2 is the
	# newest and stays; the budget is one byte short
	push_variant web:2
	push_variant web:3
	run -0 --separate-stderr edgectl --json prewarm --host h2 web:3
	NO_FAKE_STAT=1 run -0 --separate-stderr faketime -f -3h "$EDGECTL" --json prewarm --host h2 web:2
	d2=$(edgectl --json prewarm ls --image web:2 | jq -r '.[0].digest')
	d3=$(edgectl --json prewarm ls --image web:3 | jq -r '.[0].digest')
	run -0 --separate-stderr edgectl --json prewarm ls
	jq -e --arg d2 "$d2" --arg d3 "$d3" '(.[] | select(.digest == $d2) | .t) < (.[] | select(.digest == $d3) | .t)' <<<"$output"
	used=$(fleet_exec h2 "$EDGECTL" --root "$(fleet_root h2)" --json images | jq '[unique_by(.digest)[] | .size_bytes] | add')
	run -0 --separate-stderr edgectl --json prewarm --evict --host h2 --budget $((used - 1))
	echo "$output"
	# the old order (by t) evicted web:2, warmed last
	jq -e --arg d3 "$d3" '.hosts[0].evicted == [$d3]' <<<"$output"
	rm -f "$FH_CTL"/*/clock
	run -0 edgectl schedule rm clk
}
