#!/usr/bin/env bats
# Host faults on the namespace fleet (issue 18): sshd killed in the middle
# of a prewarm and of a schedule's start, a host whose edgectl is broken,
# a host that "reboots" (its instances' processes gone, their state left on
# disk), instances no app record places (orphans). Each host runs edgectl
# through a wrapper that control files in $FH_CTL/hN can make hold before a
# subcommand (hold-CMD: it writes held-CMD and waits) or fail (broken).
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
exec '$EDGECTL' "\$@"
EOF
		chmod 0755 "$w"
	done
	fleet_hosts_add -e "$BATS_FILE_TMPDIR/edgectl-%h" fra 150
}

teardown_file() {
	load ../lib/fleet
	rm -rf "${FH_CTL:?}"/*/hold-* "${FH_CTL:?}"/*/broken 2>/dev/null
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
	rm -f "$FH_CTL"/*/hold-* "$FH_CTL"/*/held-* "$FH_CTL"/*/broken
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
	run wait "$BG_PID"
	BG_PID=
	cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
	[ "$status" = 4 ]
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
	run wait "$BG_PID"
	BG_PID=
	cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
	[ "$status" = 4 ]
	grep -q "h2" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
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
