#!/usr/bin/env bats
# The microVM rootfs disk ahead of time and its collection: `images
# vm-disk` builds ROOT/vm/rootfs/<digest>.erofs once, `prewarm` runs it on
# a host that advertises qemu (a real sshd host in a network namespace,
# tests/lib/fleet.bash), and the image GC (`images rm`, `prewarm --evict`)
# removes a disk (and its snapshots) once no ref and no instance uses its
# image; `schedule` with runtime qemu places only on a host that lists it
# (firecracker: on none) and starts the VM there. Two VMs boot here
# (prewarm --boot's snapshot, the scheduled one); the runs are in
# 420-run-qemu.bats.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 1 || return 1
	fleet_app_ctx '["true"]' || return 1
	fleet_app_push PQ vmjob:1 || return 1
	export XDG_CONFIG_HOME=$PQ_CFG EDGECTL_STORE=$PQ_STORE EDGECTL_ROOT=$PQ_ROOT
	edgectl location add qpar --lat 48.85 --lon 2.35 --utc-offset +01:00
	fleet_hosts_add qpar $((RANDOM % 100 + 119))
}

teardown_file() {
	load ../lib/fleet
	fleet_down
}

setup() {
	load ../lib/common
	load ../lib/fleet
	ec_require_root
	fleet_require
	export XDG_CONFIG_HOME=$PQ_CFG EDGECTL_STORE=$PQ_STORE EDGECTL_ROOT=$PQ_ROOT
}

@test "images vm-disk: the rootfs disk built once per image; images rm collects it" {
	command -v mkfs.erofs >/dev/null || { echo "mkfs.erofs missing (deps.sh installs erofs-utils)" >&2; false; }
	run -0 --separate-stderr edgectl --json images vm-disk vmjob:1
	jq -e '.built == true and .bytes > 0 and (.path | endswith(".erofs"))' <<<"$output"
	local p d
	p=$(jq -r .path <<<"$output")
	d=$(jq -r .digest <<<"$output")
	[ "$p" = "$PQ_ROOT/vm/rootfs/${d#sha256:}.erofs" ]
	run -0 --separate-stderr edgectl --json images vm-disk vmjob:1
	jq -e '.built == false' <<<"$output"
	run -3 --separate-stderr edgectl images vm-disk nothere:1
	[[ $stderr == *"not in this root"* ]]
	# a second tag keeps it; removing the last ref collects it
	edgectl -q build -t other:1 "$BATS_FILE_TMPDIR/ctx" >/dev/null
	run -0 --separate-stderr edgectl --json images rm other:1
	[ -e "$p" ]
	# an instance using the image keeps the disk when the ref goes
	mkdir -p "$PQ_ROOT/instances/inst1"
	jq -n --arg d "$d" '{id: "inst1", digest: $d, lowerdirs: []}' >"$PQ_ROOT/instances/inst1/spec.json"
	run -0 --separate-stderr edgectl --json images rm -f vmjob:1
	jq -e '.vm_disks_removed == 0' <<<"$output"
	[ -e "$p" ]
	rm -rf "$PQ_ROOT/instances/inst1"
	# rm of a ref that is gone still collects (exit 3 for the ref)
	run -3 --separate-stderr edgectl --json images rm vmjob:1
	[ ! -e "$p" ] || { ls -la "$PQ_ROOT/vm/rootfs"; false; }
}

@test "prewarm --vm: a host advertising qemu builds the image's VM disk (not without --vm); --evict collects it" {
	run -0 --separate-stderr edgectl --json host ls
	jq -e '.[] | select(.name == "h1") | (.probe.runtimes | index("qemu")) != null' <<<"$output" || {
		echo "h1 does not advertise qemu: $output"
		false
	}
	run -0 --separate-stderr edgectl --json prewarm --host h1 vmjob:1
	echo "$output"
	jq -e '.warm == 1 and (.hosts[0].vm_disk == null)' <<<"$output"
	[ -z "$(ls "$(fleet_root h1)/vm/rootfs/" 2>/dev/null)" ]
	run -0 --separate-stderr edgectl --json prewarm --vm --host h1 vmjob:1
	echo "$output"
	jq -e '.hosts[0].vm_disk == "built"' <<<"$output"
	local d
	d=$(jq -r .digest <<<"$output")
	[ -s "$(fleet_root h1)/vm/rootfs/${d#sha256:}.erofs" ]
	run -0 --separate-stderr edgectl --json prewarm --vm --host h1 vmjob:1
	jq -e '.hosts[0].vm_disk == "present" and .hosts[0].already_warm' <<<"$output"
	# --boot: a VM snapshot there too (one TCG boot)
	run -0 --separate-stderr edgectl --json prewarm --boot --host h1 vmjob:1
	echo "$output"
	jq -e '.hosts[0].ok' <<<"$output"
	ls "$(fleet_root h1)/vm/snap/${d#sha256:}"-*.vmstate
	# a budget of 0: the warm image goes, and its disk and snapshot with it
	run -0 --separate-stderr edgectl --json prewarm --evict --budget 0 --host h1
	echo "$output"
	jq -e --arg d "$d" '.hosts[0].evicted == [$d]' <<<"$output"
	[ ! -e "$(fleet_root h1)/vm/rootfs/${d#sha256:}.erofs" ]
	[ -z "$(ls "$(fleet_root h1)/vm/snap/")" ]
}

@test "schedule --runtime qemu: placed only on a host that lists qemu, started there as a microVM; firecracker has no host" {
	# no host lists firecracker: nothing placed (sched.t checks the note)
	run -3 --separate-stderr edgectl --json schedule --dry-run --explain --image vmjob:1 --name fcapp \
		--runtime firecracker --memory 64M
	[[ $stderr == *"no capacity"* ]] || { echo "$output $stderr"; false; }
	# qemu: h1 lists it; the replica starts there with --runtime qemu
	run -0 --separate-stderr edgectl --json schedule --image vmjob:1 --name vmapp --runtime qemu \
		--memory 64M --cpus 0.1 -- sleep 300
	echo "$output"
	jq -e '(.placements | length) == 1 and .placements[0].host == "h1" and .placements[0].started' <<<"$output"
	local n i ps
	n=$(jq -r '.placements[0].instance' <<<"$output")
	for i in $(seq 1 120); do
		ps=$(fleet_ssh h1 "$EDGECTL" --root "$(fleet_root h1)" --json ps -a)
		jq -e --arg n "$n" '.[] | select(.name == $n) | .status == "running"' <<<"$ps" >/dev/null && break
		sleep 0.5
	done
	jq -e --arg n "$n" '.[] | select(.name == $n) | .status == "running" and .runtime == "qemu"' <<<"$ps" || { echo "$ps"; false; }
	[ "$(pgrep -fc "qemu-system-x86_64.*$(fleet_root h1)")" = 1 ]
	run -0 edgectl schedule rm vmapp
	for i in $(seq 1 60); do
		[ "$(pgrep -fc "qemu-system-x86_64.*$(fleet_root h1)")" = 0 ] && break
		sleep 0.5
	done
	[ "$(pgrep -fc "qemu-system-x86_64.*$(fleet_root h1)")" = 0 ]
}
