#!/usr/bin/env bats
# edgectl run --runtime qemu: the busybox image as a QEMU microvm booting
# Debian's kernel with our init. Output, exit statuses (0, 3, 137), env,
# workdir, user, whiteouts of upper layers, run -d / logs / stop, the CNI
# network (busybox httpd in the VM reached on its address, through -p and
# through a --vip routed to it), volumes (virtio-9p read/write and :ro,
# --tmpfs), --memory as the entrypoint's cgroup limit (OOM kill: 137),
# firecracker/cloud-hypervisor refused as unsupported, what is refused,
# and guests that panic or never boot: a clear error within a bound and
# nothing left (no QEMU, no state files, no mounts, no temp files, no
# netns, veth or lease). KVM when a guest boots
# with it here, TCG otherwise: each test says which ran (TAP comment
# lines).
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	export VM_ROOT="$BATS_FILE_TMPDIR/root"
	local ctx="$BATS_FILE_TMPDIR/ctx"
	mkdir -p "$ctx/rootfs/www" "$ctx/rootfs/d"
	busybox_rootfs "$ctx/rootfs"
	echo kept >"$ctx/rootfs/www/kept"
	echo gone >"$ctx/rootfs/www/gone"
	echo old >"$ctx/rootfs/d/old"
	ln -sf busybox "$ctx/rootfs/bin/od"
	mkdir -p "$ctx/rootfs/web"
	echo "hello from the VM" >"$ctx/rootfs/web/index.html"
	printf 'FROM scratch\nCOPY rootfs/ /\nENV GREETING=hello\nCMD ["sh", "-c", "echo $GREETING from $(hostname)"]\n' \
		>"$ctx/Dockerfile"
	EDGECTL_ROOT=$VM_ROOT edgectl -q build -t bbvm:1 "$ctx" >/dev/null
	# a second image whose upper layer deletes a file (whiteout) and
	# replaces a directory (opaque); RUN goes through crun
	mkdir -p "$BATS_FILE_TMPDIR/ctx2"
	printf 'FROM bbvm:1\nRUN rm /www/gone && rm -rf /d && mkdir /d && echo new >/d/new\n' \
		>"$BATS_FILE_TMPDIR/ctx2/Dockerfile"
	EDGECTL_ROOT=$VM_ROOT edgectl -q build -t bbvm:2 "$BATS_FILE_TMPDIR/ctx2" >/dev/null
	# a bridge and subnet of our own, so runs on one machine don't clash
	export VM_SUBNET="198.19.$((RANDOM % 200 + 20)).0/24"
	export VM_BRIDGE="ecv$$"
}

teardown_file() {
	[ -n "${VM_BRIDGE:-}" ] && ip link del "$VM_BRIDGE" 2>/dev/null || true
}

# config.json: our subnet and bridge, plus the "vm" object given (JSON)
vm_config() {
	jq -n --arg s "$VM_SUBNET" --arg b "$VM_BRIDGE" --argjson vm "${1:-{\}}" \
		'{subnet: $s, bridge: $b, vm: $vm}' >"$XDG_CONFIG_HOME/edgectl/config.json"
}

setup() {
	load ../lib/common
	ec_require_root
	command -v qemu-system-x86_64 >/dev/null || {
		echo "qemu-system-x86_64 missing (tests/lib/deps.sh installs qemu-system-x86)" >&2
		return 1
	}
	ls /boot/vmlinuz-* >/dev/null 2>&1 || {
		echo "no guest kernel in /boot (deps.sh installs linux-image-amd64)" >&2
		return 1
	}
	export EDGECTL_ROOT=$VM_ROOT
	export EDGECTL_STORE="file://$BATS_TEST_TMPDIR/store"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/cfg"
	mkdir -p "$XDG_CONFIG_HOME/edgectl"
	vm_config
	STARTED=()
	ROUTES=()
}

teardown() {
	local id r
	for id in "${STARTED[@]}"; do
		edgectl rm -f "$id" >/dev/null 2>&1 || true
	done
	for r in "${ROUTES[@]}"; do
		ip route del "$r" 2>/dev/null || true
	done
}

# Which accelerator the last run used, as a TAP comment.
say_accel() {
	local a
	a=$(sed -n 2p "$VM_ROOT/vm/accel" 2>/dev/null || true)
	# no accel file: the probe never ran (no usable /dev/kvm), so TCG
	[ -e /dev/kvm ] || a=${a:-tcg}
	echo "# qemu ran with ${a:-unknown} (KVM when a guest boots with it here, else TCG)" >&3
}

# QEMU processes of this test's root, state dirs of its VMs, mounts
# under the root, temp files of the image cache, veths on our bridge and
# address leases (the instance's netns goes with its veth).
leftovers() {
	{
		pgrep -f "qemu-system-x86_64.*$VM_ROOT" | wc -l
		ls /run/edgectl/qemu 2>/dev/null | grep -cE '^[0-9a-f]{12}$' || true
		grep -c "$VM_ROOT" /proc/self/mountinfo || true
		find "$VM_ROOT/vm" -name '.tmp-*' -o -name '.mnt-*' -o -name '*.tmp-*' 2>/dev/null | wc -l
		ip -o link show master "$VM_BRIDGE" 2>/dev/null | grep -c . || true
		find "$VM_ROOT/cni/networks" -type f -name '198.*' 2>/dev/null | wc -l
	} | tr '\n' ' '
}
NOTHING="0 0 0 0 0 0 "

# Wait until http://$1/ answers (bounded: a TCG boot takes seconds), print
# the body.
http_get() {
	local i
	for i in $(seq 1 120); do
		curl -fsS -m 2 "http://$1/" 2>/dev/null && return 0
		sleep 0.25
	done
	echo "no HTTP answer from $1" >&2
	return 1
}

@test "run --runtime qemu: output comes back, the image's CMD and ENV apply, exit 0" {
	run -0 --separate-stderr edgectl run --rm --runtime qemu bbvm:1
	say_accel
	[[ $output =~ ^hello\ from\ [0-9a-f]{12}$ ]] || { echo "stdout: $output"; echo "stderr: $stderr"; false; }
	[ "$(leftovers)" = "$NOTHING" ]
}

@test "run --runtime qemu: exit statuses 3 and 137 (killed by SIGKILL), stderr apart from stdout" {
	run -3 --separate-stderr edgectl run --rm --runtime qemu bbvm:1 -- sh -c 'echo out; echo err >&2; exit 3'
	[ "$output" = out ]
	[[ $stderr == *err* ]]
	run -137 --separate-stderr edgectl run --rm --runtime qemu bbvm:1 -- sh -c 'echo before; kill -9 $$; echo after'
	[ "$output" = before ]
	say_accel
}

@test "run --runtime qemu: -e, -w, -u, --cpus, --memory and --json (runtime, accel, exit status)" {
	run -0 --separate-stderr edgectl --json run --rm --runtime qemu -e FOO=bar -e GREETING=hi -w /www -u nobody \
		--cpus 1.5 --memory 160M bbvm:1 -- \
		sh -c 'echo "{\"foo\":\"$FOO\",\"greeting\":\"$GREETING\",\"pwd\":\"$(pwd)\",\"uid\":$(id -u),\"gid\":$(id -g),\"cpus\":$(grep -c ^processor /proc/cpuinfo),\"mem_kb\":$(grep MemTotal /proc/meminfo | tr -dc 0-9),\"avail_kb\":$(grep MemAvailable /proc/meminfo | tr -dc 0-9),\"mem_max\":$(cat /sys/fs/cgroup/memory.max)}"'
	local guest=${lines[0]} result=${lines[1]}
	jq -e '.foo == "bar" and .greeting == "hi" and .pwd == "/www" and .uid == 65534 and .gid == 65534' <<<"$guest"
	# --cpus 1.5 is two vCPUs; --memory 160M is the entrypoint's cgroup
	# limit; the guest's RAM adds 96 MiB and a tenth for its kernel and
	# init, so the guest has that much available
	jq -e '.cpus == 2 and .avail_kb > 163840 and .mem_kb <= 278528 and .mem_max == 167772160' <<<"$guest" || { echo "$guest"; false; }
	jq -e '.exit_status == 0 and .runtime == "qemu" and (.accel == "kvm" or .accel == "tcg")' <<<"$result"
	echo "# accel reported by --json: $(jq -r .accel <<<"$result")" >&3
	# -u with a name not in the image's /etc/passwd: a start failure
	run -1 --separate-stderr edgectl run --rm --runtime qemu -u nosuch bbvm:1 -- true
	[[ $stderr == *"user 'nosuch' is not in the image's /etc/passwd"* ]]
	# a missing executable is a start failure too, not status 127
	run -1 --separate-stderr edgectl run --rm --runtime qemu bbvm:1 -- /nonexistent
	[[ $stderr == *"exec '/nonexistent'"* ]]
}

@test "run --runtime qemu: a memory limit is enforced in the VM (OOM kill reported as 137), nothing left" {
	# 400's case: 64 MiB limit, a shell variable of 200 MiB cannot fit; the
	# guest's OOM killer acts in the entrypoint's cgroup, not on the guest
	run -137 --separate-stderr edgectl run --rm --runtime qemu --memory 64M bbvm:1 -- \
		sh -c 'x=$(dd if=/dev/zero bs=1M count=200 2>/dev/null | tr "\0" a); echo survived ${#x}'
	say_accel
	[[ $output != *survived* ]] || { echo "out: $output"; false; }
	[[ $stderr == *"out of memory (over its --memory limit)"* ]] || { echo "err: $stderr"; false; }
	[ "$(leftovers)" = "$NOTHING" ]
	# under the limit it runs, and sees its limit as a container does
	run -0 --separate-stderr edgectl run --rm --runtime qemu --memory 64M bbvm:1 -- \
		sh -c 'x=$(dd if=/dev/zero bs=1M count=8 2>/dev/null | tr "\0" a); echo ${#x}; cat /sys/fs/cgroup/memory.max'
	[ "$output" = "$(printf '8388608\n67108864')" ] || { echo "out: $output"; echo "err: $stderr"; false; }
	# a SIGKILL that is not the OOM killer's says nothing of memory
	run -137 --separate-stderr edgectl run --rm --runtime qemu --memory 64M bbvm:1 -- sh -c 'kill -9 $$'
	[[ $stderr != *"out of memory"* ]]
	# detached: ps shows 137, the logs say why, rm leaves nothing
	run -0 --separate-stderr edgectl run -d --runtime qemu --memory 64M bbvm:1 -- \
		sh -c 'echo start; x=$(dd if=/dev/zero bs=1M count=200 2>/dev/null | tr "\0" a); echo survived'
	local id=$output i
	STARTED+=("$id")
	for i in $(seq 1 240); do
		edgectl --json ps -a | jq -e --arg id "$id" '.[] | select(.id == $id) | .status == "exited"' >/dev/null && break
		sleep 0.5
	done
	run -0 --separate-stderr edgectl --json ps -a
	jq -e --arg id "$id" '.[] | select(.id == $id) | .status == "exited" and .exit_status == 137' <<<"$output" || { echo "$output"; false; }
	run -0 edgectl logs "$id"
	[[ $output == start*"out of memory"* && $output != *survived* ]] || { echo "logs: $output"; false; }
	run -0 edgectl rm "$id"
	[ "$(leftovers)" = "$NOTHING" ]
}

@test "run --runtime qemu: the rootfs disk applies whiteouts and opaque dirs, is cached per image, and writes stay in the VM" {
	run -0 --separate-stderr edgectl run --rm --runtime qemu bbvm:2 -- sh -c 'ls /www; ls /d; echo x >/www/new && cat /www/new'
	[ "$output" = "$(printf 'kept\nnew\nx')" ] || { echo "$output"; false; }
	# one erofs per image, built once, no temp files beside them
	local n
	n=$(find "$VM_ROOT/vm/rootfs" -name '*.erofs' | wc -l)
	[ "$n" -ge 2 ]
	local before
	before=$(stat -c %Y "$VM_ROOT"/vm/rootfs/*.erofs | sort | tr '\n' ' ')
	run -0 edgectl run --rm --runtime qemu bbvm:2 -- cat /www/kept
	[ "$output" = kept ]
	[ "$(stat -c %Y "$VM_ROOT"/vm/rootfs/*.erofs | sort | tr '\n' ' ')" = "$before" ]
	# the write went to the guest's overlay, not to the image
	run -0 edgectl run --rm --runtime qemu bbvm:2 -- sh -c 'ls /www'
	[ "$output" = kept ]
	[ "$(leftovers)" = "$NOTHING" ]
}

@test "run -d --runtime qemu: ps shows it running, logs, stop forwards SIGTERM, rm" {
	run -0 --separate-stderr edgectl run -d --runtime qemu bbvm:1 -- sh -c 'echo started; exec sleep 300'
	local id=$output
	STARTED+=("$id")
	[[ $id =~ ^[0-9a-f]{12}$ ]]
	run -0 --separate-stderr edgectl --json ps
	jq -e --arg id "$id" '.[] | select(.id == $id) | .status == "running" and .runtime == "qemu"' <<<"$output"
	local i
	for i in $(seq 1 100); do
		[ "$(edgectl logs "$id")" = started ] && break
		sleep 0.2
	done
	[ "$(edgectl logs "$id")" = started ]
	run -0 edgectl stop -t 20 "$id"
	run -0 --separate-stderr edgectl --json ps -a
	# sleep is not PID 1 in the guest: SIGTERM ends it (128+15)
	jq -e --arg id "$id" '.[] | select(.id == $id) | .status == "exited" and .exit_status == 143' <<<"$output"
	run -0 edgectl rm "$id"
	[ "$(leftovers)" = "$NOTHING" ]
	say_accel
}

@test "run -d --runtime qemu: httpd in the VM answers on its address, a published port and a --vip; stop leaves nothing" {
	local vip="198.18.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 2))"
	local port=$((18300 + RANDOM % 500))
	run -0 --separate-stderr edgectl run -d --runtime qemu -p "$port:80" --vip "$vip" bbvm:1 -- httpd -f -p 80 -h /web
	local id=$output
	STARTED+=("$id")
	[[ $id =~ ^[0-9a-f]{12}$ ]] || { echo "not an id: $id $stderr"; false; }
	run -0 --separate-stderr edgectl --json ps
	local ip
	ip=$(jq -r --arg id "$id" '.[] | select(.id == $id) | .ip' <<<"$output")
	[[ $ip == "${VM_SUBNET%.0/24}".* ]] || { echo "no address: $output"; false; }
	# on the address CNI gave the instance: the guest answers (the
	# namespace itself serves nothing)
	[ "$(http_get "$ip")" = "hello from the VM" ]
	# through the published port (portmap's DNAT on the host side)
	[ "$(http_get "${VM_SUBNET%.0/24}.1:$port")" = "hello from the VM" ]
	# the VIP is on the guest's lo: packets routed to the instance for it
	# are answered (what the router does with direct server return)
	ip route add "$vip/32" via "$ip" dev "$VM_BRIDGE"
	ROUTES+=("$vip/32")
	[ "$(http_get "$vip")" = "hello from the VM" ]
	ip route del "$vip/32"
	run -0 edgectl stop -t 5 "$id"
	run -0 edgectl rm "$id"
	[ "$(leftovers)" = "$NOTHING" ]
	say_accel
}

@test "run --runtime qemu: -v shares a host directory (virtio-9p) read-write and :ro, --tmpfs" {
	local rw="$BATS_TEST_TMPDIR/rw" ro="$BATS_TEST_TMPDIR/ro"
	mkdir -p "$rw" "$ro"
	echo from-host >"$ro/f"
	echo old >"$rw/old"
	run -0 --separate-stderr edgectl run --rm --runtime qemu --network none -v "$rw:/data" -v "$ro:/in:ro" \
		--tmpfs /scratch bbvm:1 -- sh -c 'cat /data/old; echo written >/data/new; mkdir /data/d;
			cat /in/f; echo x >/in/g 2>/dev/null && echo ro-written;
			echo t >/scratch/t && grep -c " /scratch tmpfs" /proc/mounts'
	[ "$output" = "$(printf 'old\nfrom-host\n1')" ] || { echo "out: $output"; echo "err: $stderr"; false; }
	[ "$(cat "$rw/new")" = written ]
	[ -d "$rw/d" ]
	[ ! -e "$ro/g" ]
	[ "$(leftovers)" = "$NOTHING" ]
	say_accel
}

@test "images vm-disk --boot: a VM snapshot that runs restore with their own config, randomness and network; vm.snapshot false boots cold" {
	run -0 --separate-stderr edgectl --json images vm-disk --boot bbvm:1
	jq -e '.snapshot_built == true and (.snapshot | endswith(".vmstate"))' <<<"$output" || { echo "$output $stderr"; false; }
	local snap
	snap=$(jq -r .snapshot <<<"$output")
	[ -s "$snap" ]
	run -0 --separate-stderr edgectl --json images vm-disk --boot bbvm:1
	jq -e '.snapshot_built == false' <<<"$output"
	# two runs restore it: the guest's boot id is the snapshot's (no kernel
	# boot), each run has its own env and args, and its own random bytes
	local probe='cat /proc/sys/kernel/random/boot_id; echo "$X"; head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"; echo'
	run -0 --separate-stderr edgectl run --rm --runtime qemu --network none -e X=one bbvm:1 -- sh -c "$probe"
	local a=("${lines[@]}")
	run -0 --separate-stderr edgectl run --rm --runtime qemu --network none -e X=two bbvm:1 -- sh -c "$probe"
	[ "${lines[0]}" = "${a[0]}" ] || { echo "boot ids: ${a[0]} ${lines[0]}: not restored"; false; }
	[ "${a[1]}" = one ] && [ "${lines[1]}" = two ]
	[ ${#a[2]} = 32 ] && [ "${lines[2]}" != "${a[2]}" ] || { echo "random: ${a[2]} ${lines[2]}"; false; }
	# restored with the CNI network: httpd answers on the instance's address
	run -0 --separate-stderr edgectl run -d --runtime qemu bbvm:1 -- httpd -f -p 80 -h /web
	local id=$output ip
	STARTED+=("$id")
	ip=$(edgectl --json ps | jq -r --arg id "$id" '.[] | select(.id == $id) | .ip')
	[ "$(http_get "$ip")" = "hello from the VM" ]
	run -0 edgectl stop -t 5 "$id"
	run -0 edgectl rm "$id"
	# vm.snapshot false: a cold boot
	vm_config '{"snapshot": false}'
	run -0 --separate-stderr edgectl run --rm --runtime qemu --network none -e X=three bbvm:1 -- sh -c "$probe"
	[ "${lines[0]}" != "${a[0]}" ] && [ "${lines[1]}" = three ]
	# a damaged snapshot: a clear error, and it goes (the next run boots)
	vm_config
	truncate -s 4096 "$snap"
	run -1 --separate-stderr edgectl run --rm --runtime qemu --network none bbvm:1 -- true
	[[ $stderr == *"restored from a snapshot"*"the snapshot was removed"* ]] || { echo "$stderr"; false; }
	[ ! -e "$snap" ]
	run -0 --separate-stderr edgectl run --rm --runtime qemu --network none bbvm:1 -- echo cold
	[ "$output" = cold ]
	[ "$(leftovers)" = "$NOTHING" ]
	say_accel
}

@test "run --runtime qemu: a file volume, --network host and too little memory are refused clearly" {
	echo x >"$BATS_TEST_TMPDIR/file"
	run -2 --separate-stderr edgectl run --rm --runtime qemu -v "$BATS_TEST_TMPDIR/file:/mnt/f" bbvm:1 -- true
	[[ $stderr == *"shares directories only"* ]] || { echo "$stderr"; false; }
	run -2 --separate-stderr edgectl run --rm --runtime qemu --network host bbvm:1 -- true
	[[ $stderr == *"cannot use --network host"* ]] || { echo "$stderr"; false; }
	run -2 --separate-stderr edgectl run --rm --runtime qemu --memory 32M bbvm:1 -- true
	[[ $stderr == *"at least 64M"* ]]
	[ "$(leftovers)" = "$NOTHING" ]
}

@test "run --runtime qemu: a guest kernel that panics is a clear error, nothing left" {
	# no init in the initramfs: the kernel panics (panic=-1 resets at once)
	vm_config '{"cmdline": "rdinit=/nonexistent"}'
	local t0=$SECONDS
	run -1 --separate-stderr edgectl run --rm --runtime qemu bbvm:1 -- true
	echo "# panic reported after $((SECONDS - t0)) s" >&3
	[[ $stderr == *"the guest ended before its entrypoint ran"* ]] || { echo "$stderr"; false; }
	[[ $stderr == *"Kernel panic"* ]]
	[ "$(leftovers)" = "$NOTHING" ]
}

@test "run --runtime qemu: a guest that never boots fails within its boot timeout, nothing left" {
	# panic=0: the panicking kernel hangs instead of resetting, as a guest
	# stuck in boot would
	vm_config '{"cmdline": "rdinit=/nonexistent panic=0", "boot_timeout_ms": 4000}'
	local t0=$SECONDS
	run -1 --separate-stderr edgectl run --rm --runtime qemu bbvm:1 -- true
	local took=$((SECONDS - t0))
	echo "# boot timeout reported after $took s" >&3
	[[ $stderr == *"did not start its entrypoint in time"* ]] || { echo "$stderr"; false; }
	[ "$took" -lt 30 ]
	[ "$(leftovers)" = "$NOTHING" ]
}

@test "run --runtime firecracker / cloud-hypervisor: not supported on this host, said clearly (exit 3), nothing left" {
	local r
	for r in firecracker cloud-hypervisor; do
		run -3 --separate-stderr edgectl run --rm --runtime "$r" bbvm:1 -- true
		[[ $stderr == *"runtime '$r' is not supported on this host"*"not packaged in Debian 12"*"--runtime qemu"* ]] ||
			{ echo "$stderr"; false; }
		run -3 --separate-stderr edgectl run -d --runtime "$r" bbvm:1 -- true
		[[ $stderr == *"not supported on this host"* ]]
	done
	run -0 --separate-stderr edgectl --json ps -a
	[ "$(jq length <<<"$output")" = 0 ] || { echo "$output"; false; }
	[ "$(leftovers)" = "$NOTHING" ]
}

@test "host probe: advertises qemu when qemu-system-x86_64 and a guest kernel are here" {
	run -0 --separate-stderr edgectl --json host probe
	jq -e '.runtimes | index("qemu") != null' <<<"$output"
}
