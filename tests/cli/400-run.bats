#!/usr/bin/env bats
# edgectl run, ps, logs, stop, rm on this host with the real runtimes (crun,
# runc, runsc) and the real CNI plugins: a busybox HTTP server reached
# through its container address and a published port, exit statuses, the
# memory limit, and nothing left behind after many run/rm cycles.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	export RUN_ROOT="$BATS_FILE_TMPDIR/root"
	mkdir -p "$BATS_FILE_TMPDIR/ctx"
	busybox_rootfs "$BATS_FILE_TMPDIR/ctx/rootfs"
	mkdir -p "$BATS_FILE_TMPDIR/ctx/rootfs/www"
	echo "hello from busybox" >"$BATS_FILE_TMPDIR/ctx/rootfs/www/index.html"
	printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n' \
		>"$BATS_FILE_TMPDIR/ctx/Dockerfile"
	EDGECTL_ROOT=$RUN_ROOT edgectl -q build -t bb:web "$BATS_FILE_TMPDIR/ctx" >/dev/null
	# a bridge and subnet of our own, so runs on one machine don't clash
	export RUN_SUBNET="198.19.$((RANDOM % 200 + 20)).0/24"
	export RUN_BRIDGE="ect$$"
}

teardown_file() {
	[ -n "${RUN_BRIDGE:-}" ] && ip link del "$RUN_BRIDGE" 2>/dev/null || true
}

setup() {
	load ../lib/common
	ec_require_root
	export EDGECTL_ROOT=$RUN_ROOT
	export EDGECTL_STORE="file://$BATS_TEST_TMPDIR/store"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/cfg"
	mkdir -p "$XDG_CONFIG_HOME/edgectl"
	echo "{\"subnet\": \"$RUN_SUBNET\", \"bridge\": \"$RUN_BRIDGE\"}" \
		>"$XDG_CONFIG_HOME/edgectl/config.json"
	STARTED=()
}

teardown() {
	local id
	for id in "${STARTED[@]}"; do
		edgectl rm -f "$id" >/dev/null 2>&1 || true
	done
}

# Wait until http://$1/ answers (bounded), print the body.
http_get() {
	local i
	for i in $(seq 1 50); do
		curl -fsS -m 2 "http://$1/" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no HTTP answer from $1" >&2
	return 1
}

# What this file's instances (ids given) and root left, one count each:
# mounts under our root, network namespaces ec-ID and cgroups edgectl/ID
# of the ids, leases in our root that no live spare holds, veths on our
# bridge beyond the live spares', spares beyond NET_SPARES (1). Only our
# own: other suites run instances on this machine at the same time.
# Spares (src/net/spare.c) are made by keeper processes after a start; a
# spare still being made is waited for (bounded).
leftovers() {
	local id n=0 c=0 f sid pid sids=" " live=0 leases=0 veths i
	for id in "$@"; do
		[ -e "/run/netns/ec-$id" ] && n=$((n + 1))
		c=$((c + $(find /sys/fs/cgroup -maxdepth 3 -path "*edgectl/$id" -type d 2>/dev/null | wc -l)))
	done
	for i in $(seq 1 300); do
		compgen -G "$RUN_ROOT/cni/spares/*.prep" >/dev/null || break
		sleep 0.1
	done
	for f in "$RUN_ROOT"/cni/spares/*.json; do
		[ -e "$f" ] || continue
		sid=$(jq -r .sid "$f")
		pid=$(jq -r .pid "$f")
		[ -e "/proc/$pid/fd/$(jq -r .fd "$f")" ] || continue
		sids="$sids$sid "
		live=$((live + 1))
	done
	for f in "$RUN_ROOT"/cni/networks/edgectl/198.*; do
		[ -e "$f" ] || continue
		[[ $sids == *" $(head -n 1 "$f" | tr -d '\r') "* ]] || leases=$((leases + 1))
	done
	veths=$(ip -o link show master "$RUN_BRIDGE" 2>/dev/null | grep -c . || true)
	echo "mounts $(grep -c "$RUN_ROOT" /proc/self/mountinfo || true) netns $n cgroups $c" \
		"leases $leases veths $((veths - live)) spares-over $((live > 1 ? live - 1 : 0))"
}

serve_with() {
	local rt=$1 port=$2 id ip
	run -0 --separate-stderr edgectl run -d --runtime "$rt" --name "web-$rt" -p "$port:80" bb:web
	id=$output
	STARTED+=("$id")
	[[ $id =~ ^[0-9a-f]{12}$ ]] || { echo "not an id: $id"; false; }
	run -0 --separate-stderr edgectl --json ps
	ip=$(jq -r --arg id "$id" '.[] | select(.id == $id) | .ip' <<<"$output")
	[[ $ip == 198.19.* ]] || { echo "no address: $output"; false; }
	jq -e --arg id "$id" --arg rt "$rt" '.[] | select(.id == $id) |
		.status == "running" and .runtime == $rt and .name == "web-" + $rt' <<<"$output"
	[ "$(http_get "$ip")" = "hello from busybox" ]
	if [ "$rt" != runsc ]; then
		# through the published port on the bridge address
		[ "$(http_get "${RUN_SUBNET%.0/24}.1:$port")" = "hello from busybox" ]
	fi
	run -0 edgectl stop -t 1 "$id"
	run -0 --separate-stderr edgectl --json ps -a
	jq -e --arg id "$id" '.[] | select(.id == $id) | .status == "exited"' <<<"$output"
	run -0 edgectl rm "$id"
	run -3 edgectl rm "$id"
}

@test "run -d: busybox httpd with crun answers on its address and a published port" {
	serve_with crun 18181
}

@test "run -d: busybox httpd with runc answers on its address and a published port" {
	serve_with runc 18182
}

@test "run -d: busybox httpd with runsc (gVisor) answers on its address" {
	serve_with runsc 18183
}

@test "run: the container's exit status is edgectl's; output streams" {
	local rt
	for rt in crun runc runsc; do
		run -7 --separate-stderr edgectl run --rm --runtime "$rt" bb:web -- sh -c 'echo out-$0; echo err >&2; exit 7' "$rt"
		[ "$output" = "out-$rt" ] || { echo "$rt: $output"; false; }
		[[ $stderr == *err* ]]
	done
	run -0 edgectl run --rm --network none bb:web -- true
}

@test "run: a memory limit is enforced (OOM kill reported as 137)" {
	# 64 MiB limit: a shell variable of 200 MiB cannot fit
	run -137 --separate-stderr edgectl run --rm --runtime crun --memory 64M bb:web -- \
		sh -c 'x=$(dd if=/dev/zero bs=1M count=200 2>/dev/null | tr "\0" a); echo survived ${#x}'
	[[ $output != *survived* ]]
	# under the limit it runs
	run -0 edgectl run --rm --runtime crun --memory 64M bb:web -- sh -c 'x=$(dd if=/dev/zero bs=1M count=8 2>/dev/null | tr "\0" a); echo ${#x}'
	[ "$output" = 8388608 ]
}

@test "run: logs of a detached instance, name lookup, rm of a running instance needs -f" {
	run -0 --separate-stderr edgectl run -d --name talker bb:web -- sh -c 'echo line1; echo line2; sleep 30'
	STARTED+=("$output")
	sleep 0.5
	run -0 edgectl logs talker
	[ "$output" = "$(printf 'line1\nline2')" ]
	run -6 --separate-stderr edgectl rm talker
	[[ $stderr == *running* ]]
	run -0 edgectl rm -f talker
	run -3 edgectl logs talker
}

@test "run: bad input - unknown runtime lists the installed ones, missing image exits 3, bad entrypoint fails cleanly" {
	local before
	run -2 --separate-stderr edgectl run --runtime nosuch bb:web
	[[ $stderr == *"nosuch"* && $stderr == *crun* ]] || { echo "$stderr"; false; }
	run -3 --separate-stderr edgectl run nosuch:1
	[[ $stderr == *"nosuch"* ]]
	before=$(leftovers)
	run -1 --separate-stderr edgectl run -d bb:web -- /no/such/program
	[[ $stderr == *"/no/such/program"* ]] || { echo "$stderr"; false; }
	run -1 --separate-stderr edgectl run --rm bb:web -- /no/such/program
	[ "$(leftovers)" = "$before" ] || { echo "left behind: $before -> $(leftovers)"; false; }
}

@test "run: 50 run/rm cycles leave no mounts, namespaces, veths, leases or cgroups" {
	local i id ids=() none="mounts 0 netns 0 cgroups 0 leases 0 veths 0 spares-over 0"
	[ "$(leftovers)" = "$none" ] || { echo "before: $(leftovers)"; false; }
	for i in $(seq 1 25); do
		# the hostname is the instance id
		run -0 --separate-stderr edgectl run --rm bb:web -- hostname
		[[ $output =~ ^[0-9a-f]{12}$ ]] || { echo "not an id: $output"; false; }
		ids+=("$output")
	done
	for i in $(seq 1 25); do
		id=$(edgectl run -d bb:web -- sleep 30)
		ids+=("$id")
		edgectl rm -f "$id" >/dev/null
	done
	[ "$(leftovers "${ids[@]}")" = "$none" ] || { echo "left behind: $(leftovers "${ids[@]}")"; false; }
}

@test "run: --read-only root, --tmpfs scratch, -v bind mounts (ro and rw), -e" {
	mkdir -p "$BATS_TEST_TMPDIR/data"
	echo from-host >"$BATS_TEST_TMPDIR/data/in"
	run -0 --separate-stderr edgectl run --rm --network none --read-only --tmpfs /scratch \
		-v "$BATS_TEST_TMPDIR/data:/data" -v "$BATS_TEST_TMPDIR/data:/rodata:ro" -e GREETING=hi bb:web -- \
		sh -c 'echo x >/scratch/f && cat /scratch/f /data/in && echo out >/data/out &&
			{ echo no >/rodata/x 2>/dev/null || echo ro-bind; } &&
			{ echo no >/z 2>/dev/null || echo ro-root; } && echo $GREETING'
	[ "$output" = "$(printf 'x\nfrom-host\nro-bind\nro-root\nhi')" ] || { echo "$output"; false; }
	[ "$(cat "$BATS_TEST_TMPDIR/data/out")" = out ]
}
