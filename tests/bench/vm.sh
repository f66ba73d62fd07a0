#!/bin/bash
# tests/bench/vm.sh - start of the busybox image as a QEMU microvm
# (`edgectl run --rm --runtime qemu IMG -- true`) against the floor: bare
# QEMU with the same machine, kernel image and memory, and an initramfs
# whose /init (a static C program made here) resets the machine at once:
#   qemu-system-x86_64 -M microvm ... -kernel K -initrd floor.cpio
# i.e. kernel boot to the first user instruction and out, no module
# loading, no disk, no channel. K is the kernel image edgectl boots: the
# vmlinux it unpacks from Debian's bzImage into ROOT/vm/kernel (PVH
# entry); the bzImage itself is measured too, for what unpacking saves.
# Pre-booted starts, same run: `images vm-disk --boot` saves a snapshot of
# the VM booted to the init's wait for its config; each sample then times
# a restored run (the default when a snapshot is there) beside the cold
# boot (config vm.snapshot false), ratio restore/cold.
# Runs use --network none (the floor has no network either). First HTTP
# answer, same samples: `run -d --runtime qemu` on the CNI network (a
# bridge and subnet of its own) with busybox httpd in the VM, timed from
# the start to the first HTTP answer from the VM's address (polled every
# 50 ms), cold and restored, beside the cold `true` run and the floor, so
# the network's share shows.
# Each accelerator in BENCH_VM_ACCELS (default "kvm tcg"): KVM where a
# guest boots with it (edgectl's probe decides the same), else reported
# as not booting; edgectl is forced to it with config vm.accel.
# Interleaved, BENCH_VM_N samples each (default 5), median and fastest
# wall time, ratio of medians against the goal (edgectl within 1.3x of
# the floor). Reports only; fails when a run is broken or leaves a QEMU.
# Out of scope here: firecracker and cloud-hypervisor (not packaged on
# Debian 12).
#
#   tests/bench/vm.sh                 (root)
#   BENCH_VM_N=3 BENCH_VM_ACCELS=tcg tests/bench/vm.sh
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
E="$TOP/build/edgectl"
N=${BENCH_VM_N:-5}
ACCELS=${BENCH_VM_ACCELS:-kvm tcg}
[ "$(id -u)" = 0 ] || { echo "vm.sh: needs root" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "vm.sh: no qemu-system-x86_64" >&2; exit 1; }
# shellcheck source=../lib/busybox.bash
. "$TOP/tests/lib/busybox.bash"

W=$(mktemp -d /tmp/ec-bench-vm.XXXXXX)
BR="ecb$$"
SUBNET="198.19.$((RANDOM % 200 + 20)).0/24"
HTTP_ID=
cleanup() {
	[ -n "$HTTP_ID" ] && "$E" rm -f "$HTTP_ID" >/dev/null 2>&1
	ip link del "$BR" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
export EDGECTL_ROOT="$W/root" EDGECTL_STORE="file://$W/store" HOME="$W/home"
export XDG_CONFIG_HOME="$W/cfg"
mkdir -p "$XDG_CONFIG_HOME/edgectl" "$W/ctx" "$HOME"
busybox_rootfs "$W/ctx/rootfs"
mkdir -p "$W/ctx/rootfs/web"
echo hello >"$W/ctx/rootfs/web/index.html"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["true"]\n' >"$W/ctx/Dockerfile"
"$E" -q build -t bb:vm "$W/ctx" >/dev/null
echo '{"vm": {"accel": "tcg"}}' >"$XDG_CONFIG_HOME/edgectl/config.json"
# first run: builds the erofs, the initramfs and the vmlinux (not timed)
t0=$(date +%s.%N)
"$E" run --rm --runtime qemu --network none bb:vm -- true
echo "# first run (builds rootfs disk, initramfs, vmlinux): $(echo "$(date +%s.%N) - $t0" | bc) s"
VMLINUX=$(ls "$EDGECTL_ROOT"/vm/kernel/*.vmlinux 2>/dev/null | head -1)
BZ=$(ls /boot/vmlinuz-* | sort -V | tail -1)
K=${VMLINUX:-$BZ}

# the floor's initramfs: /init resets the machine
cat >"$W/reset.c" <<'C'
#include <sys/reboot.h>
#include <unistd.h>
int main(void) { reboot(RB_AUTOBOOT); for (;;) pause(); }
C
gcc -static -Os -s -o "$W/init" "$W/reset.c"
(cd "$W" && echo init | cpio -o -H newc --quiet >"$W/floor.cpio")
TSC=$(awk -F: '/cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)

floor() { # accel kernel
	local acc=(-enable-kvm -cpu host) app="console=ttyS0 quiet panic=-1 reboot=t rdinit=/init"
	if [ "$1" = tcg ]; then
		acc=(-accel tcg)
		app="$app tsc_early_khz=$TSC tsc=reliable"
	fi
	timeout "${FLOOR_TIMEOUT:-120}" qemu-system-x86_64 -M microvm,x-option-roms=off,isa-serial=on \
		-no-user-config -nodefaults -no-reboot -display none "${acc[@]}" \
		-m 512 -smp 1 -kernel "$2" -initrd "$W/floor.cpio" -append "$app" \
		-serial null
}

vm_config() { # accel snapshot
	jq -n --arg s "$SUBNET" --arg b "$BR" --arg a "$1" --argjson snap "$2" \
		'{subnet: $s, bridge: $b, vm: {accel: $a, snapshot: $snap}}' >"$XDG_CONFIG_HOME/edgectl/config.json"
}

edgectl_run() { # accel [snapshot: true|false]
	vm_config "$1" "${2:-false}"
	timeout 120 "$E" run --rm --runtime qemu --network none bb:vm -- true
}

# ms from `run -d` (CNI network, httpd in the VM) to the first HTTP answer
# from the VM's address, or "fail"; the VM is removed after (not timed)
http_first() { # accel snapshot
	local s e ip i ms=fail
	vm_config "$1" "$2"
	s=$(date +%s%N)
	if HTTP_ID=$(timeout 120 "$E" run -d --runtime qemu bb:vm -- httpd -f -p 80 -h /web 2>/dev/null) &&
		ip=$("$E" --json ps | jq -r --arg id "$HTTP_ID" '.[] | select(.id == $id) | .ip') &&
		[ -n "$ip" ] && [ "$ip" != null ]; then
		for i in $(seq 1 2400); do
			if curl -fsS -m 1 -o /dev/null "http://$ip/" 2>/dev/null; then
				e=$(date +%s%N)
				ms=$(((e - s) / 1000000))
				break
			fi
			sleep 0.05
		done
	fi
	[ -n "$HTTP_ID" ] && "$E" rm -f "$HTTP_ID" >/dev/null 2>&1
	HTTP_ID=
	echo "$ms"
}

# the snapshot for accel $1 (not timed in the samples; its time reported)
snapshot() {
	vm_config "$1" true
	local s e
	s=$(date +%s%N)
	timeout 300 "$E" -q images vm-disk --boot bb:vm >/dev/null
	e=$(date +%s%N)
	echo "$1: snapshot (images vm-disk --boot, once): $(((e - s) / 1000000)) ms, $(du -h "$EDGECTL_ROOT"/vm/snap/*.vmstate | tail -1 | cut -f1)"
}

# wall time of "$@" in ms, or "fail"
timed() {
	local s e
	s=$(date +%s%N)
	if "$@" >/dev/null 2>&1; then
		e=$(date +%s%N)
		echo $(((e - s) / 1000000))
	else
		echo fail
	fi
}

stats() { # values... -> "median min" (ms) or "fail"
	local v
	for v in "$@"; do [ "$v" = fail ] && { echo fail; return; }; done
	printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1]}'
}

echo "# vm.sh: $N samples each; kernel image $K (bzImage $BZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for acc in $ACCELS; do
	if [ "$acc" = kvm ]; then
		if [ ! -w /dev/kvm ]; then
			echo "kvm: no usable /dev/kvm here: skipped"
			continue
		fi
		# one bounded try: a nested /dev/kvm that opens may not boot
		if [ "$(FLOOR_TIMEOUT=20 timed floor kvm "$K")" = fail ]; then
			echo "kvm: the floor does not boot within 20 s with KVM here (nested virtualization): skipped; edgectl's probe picks tcg"
			continue
		fi
	fi
	snapshot "$acc"
	f=() b=() r=() s=() h=() hs=()
	for i in $(seq 1 "$N"); do
		f+=("$(timed floor "$acc" "$K")")
		[ "$K" != "$BZ" ] && b+=("$(timed floor "$acc" "$BZ")")
		r+=("$(timed edgectl_run "$acc" false)")
		s+=("$(timed edgectl_run "$acc" true)")
		h+=("$(http_first "$acc" false)")
		hs+=("$(http_first "$acc" true)")
	done
	read -r sm sl <<<"$(stats "${s[@]}")"
	read -r fm fl <<<"$(stats "${f[@]}")"
	read -r rm_ rl <<<"$(stats "${r[@]}")"
	echo "$acc: floor (bare qemu, $(basename "$K")): median ${fm} ms, fastest ${fl} ms"
	if [ ${#b[@]} -gt 0 ]; then
		read -r bm bl <<<"$(stats "${b[@]}")"
		echo "$acc: floor with the bzImage (in-guest xz): median ${bm} ms, fastest ${bl} ms"
	fi
	echo "$acc: edgectl run --rm --runtime qemu bb:vm -- true (cold boot): median ${rm_} ms, fastest ${rl} ms"
	echo "$acc: the same restored from the snapshot: median ${sm} ms, fastest ${sl} ms"
	read -r hm hl <<<"$(stats "${h[@]}")"
	read -r hsm hsl <<<"$(stats "${hs[@]}")"
	echo "$acc: run -d (CNI network, httpd) to the first HTTP answer, cold boot: median ${hm} ms, fastest ${hl} ms"
	echo "$acc: the same restored from the snapshot: median ${hsm} ms, fastest ${hsl} ms"
	if [ "$fm" != fail ] && [ "$rm_" != fail ] && [ "$sm" != fail ] && [ "$hm" != fail ] && [ "$hsm" != fail ]; then
		echo "$acc: ratio edgectl/floor (medians): $(echo "scale=2; $rm_ / $fm" | bc) (goal <= 1.3)"
		echo "$acc: ratio restored/cold (medians): $(echo "scale=2; $sm / $rm_" | bc); restored/floor: $(echo "scale=2; $sm / $fm" | bc)"
		echo "$acc: first HTTP answer/floor (medians): cold $(echo "scale=2; $hm / $fm" | bc), restored $(echo "scale=2; $hsm / $fm" | bc); cold HTTP/cold true run (the network's share): $(echo "scale=2; $hm / $rm_" | bc)"
	else
		echo "$acc: a run failed" >&2
		exit 1
	fi
done
left=$(pgrep -fc "qemu-system-x86_64.*$W" || true)
[ "$left" = 0 ] || { echo "vm.sh: $left QEMU processes left" >&2; exit 1; }
