#!/usr/bin/env bats
# GPUs on other hosts: `host add` over SSH records the devices of the
# host's CDI spec (YAML, as nvidia-ctk writes it), and `schedule` hands
# each replica the GPU indices it committed for it (`run --gpus
# device=I` there), so the container sees exactly those GPUs. Namespace
# fleet (tests/lib/fleet.bash: a real sshd host); the GPUs are fake:
# character devices with /dev/null's numbers, one per index.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/fleet
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	fleet_setup_file 1 || return 1
	fleet_app_ctx '["sh"]' || return 1
	fleet_app_push GF gpu:1 || return 1
	export XDG_CONFIG_HOME=$GF_CFG EDGECTL_STORE=$GF_STORE EDGECTL_ROOT=$GF_ROOT
	local d=$BATS_FILE_TMPDIR/h1 i
	mkdir -p "$d/cdi" "$d/nodes"
	{
		printf -- '---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n'
		for i in 0 1 2; do
			mknod "$d/nodes/gpu$i" c 1 3
			printf -- '- name: "%s"\n  containerEdits:\n    deviceNodes:\n    - {path: /dev/nvidia%s, hostPath: %s}\n' \
				"$i" "$i" "$d/nodes/gpu$i"
		done
	} >"$d/cdi/nvidia.yaml"
	# h1's edgectl reads that directory (ssh passes no environment)
	printf '#!/bin/sh\nEDGECTL_CDI_SPEC_DIRS=%s exec %s "$@"\n' "$d/cdi" "$EDGECTL" >"$d/edgectl"
	chmod 0755 "$d/edgectl"
	edgectl location add loc1 --lat 50.11 --lon 8.68 --utc-offset +01:00
	# three 16 GiB GPUs (--gpu: no nvidia-smi here to give their memory)
	edgectl -q host add h1 --location loc1 --ssh h1 --host-root "$(fleet_root h1)" \
		--edgectl "$d/edgectl" --subnet 198.19.161.0/24 \
		--gpu T4:16G --gpu T4:16G --gpu T4:16G
}

teardown_file() {
	load ../lib/fleet
	fleet_rm_instances
	fleet_down
}

setup() {
	load ../lib/common
	load ../lib/fleet
	ec_require_root
	fleet_require
	export XDG_CONFIG_HOME=$GF_CFG EDGECTL_STORE=$GF_STORE EDGECTL_ROOT=$GF_ROOT
	H1_ROOT=$(fleet_root h1)
}

# seen INSTANCE: the /dev/nvidia* nodes the instance's container listed
# (its first log line), waiting for it (bounded).
seen() {
	local i out
	for i in $(seq 1 600); do
		out=$(fleet_ssh h1 "$EDGECTL" --root "$H1_ROOT" logs "$1" </dev/null 2>/dev/null) || true
		[ -n "$out" ] && { echo "$out" | head -1; return 0; }
		sleep 0.1
	done
	echo "no output from '$1' in 60 s" >&2
	return 1
}

@test "host add: over SSH, the host's YAML CDI spec's GPUs are recorded" {
	run -0 --separate-stderr edgectl --json host ls
	jq -e '.[0].probe.cdi_devices == ["nvidia.com/gpu=0", "nvidia.com/gpu=1", "nvidia.com/gpu=2"]' <<<"$output"
	jq -e '[.[0].probe.gpus[] | .cdi] == ["nvidia.com/gpu=0", "nvidia.com/gpu=1", "nvidia.com/gpu=2"]' <<<"$output"
}

@test "schedule: each GPU replica's container sees exactly the GPUs committed to it" {
	local inst idx want got n=0
	# 10 GiB of a 16 GiB GPU: no two replicas can share one
	run -0 --separate-stderr edgectl --json schedule --image gpu:1 --name gapp --replicas 2 \
		--gpus 1 --gpu-mem 10G -- sh -c 'ls /dev | grep ^nvidia | tr "\n" " "; echo; exec sleep 600'
	run -0 --separate-stderr edgectl --json host ls
	jq -e '[.[0].allocations[] | select(.app == "gapp") | .gpus[0]] | length == 2 and unique == .' <<<"$output"
	while read -r inst idx; do
		want="nvidia$idx "
		got=$(seen "$inst")
		[ "$got" = "$want" ] || { echo "$inst (GPU $idx) sees '$got', not '$want'"; false; }
		n=$((n + 1))
	done < <(jq -r '.[0].allocations[] | select(.app == "gapp") | "\(.instance) \(.gpus[0])"' <<<"$output")
	[ "$n" = 2 ] || { echo "$output"; false; }
	run -0 edgectl schedule rm gapp
}
