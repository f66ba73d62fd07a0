#!/bin/bash
# deps.sh [bench] - install the Debian 12 packages edgectl builds and tests
# with. Idempotent: asks dpkg first, runs apt-get only for what is missing.
set -euo pipefail
pkgs=(
	# build
	gcc make pkg-config libzstd-dev libcurl4-openssl-dev libarchive-dev
	libssl-dev libjansson-dev libbpf-dev zlib1g-dev scdoc
	# CDI specs in YAML (src/util/yaml.c): the format CDI documents beside
	# JSON and the default of `nvidia-ctk cdi generate`
	libyaml-dev
	# the XDP router (bpf/): BPF compiler, llvm-strip, skeleton generator
	clang llvm bpftool
	# tests: harness, real S3 server (Ceph RGW), tools
	perl bats jq curl zstd man-db radosgw ceph-mon ceph-osd procps zsh fish
	util-linux iproute2 ethtool skopeo umoci crun runc busybox-static runsc
	# a machine whose clock is off (011-store-s3: SigV4 skew correction)
	faketime
	# ADD's compressions (tests/cli/110-build-copy.bats)
	xz-utils bzip2 lz4
	# registry peer (push/pull), Basic auth
	docker-registry apache2-utils openssl
	# Docker's own builders for the conformance suite (120-build-docker):
	# dockerd and /usr/bin/docker (tests call it by path, so another docker
	# client earlier on PATH does not matter)
	docker.io
	# the fleet: hosts are network namespaces running sshd; CNI networking
	openssh-server openssh-client containernetworking-plugins
	# microVMs (run --runtime qemu): QEMU, Debian's guest kernel (~70 MB
	# download, ~400 MB in /boot and /lib/modules), the rootfs disk
	# builder, cpio to check the initramfs; xz unpacks the kernel's vmlinux
	qemu-system-x86 linux-image-amd64 erofs-utils cpio xz-utils
	# EIO on a blob read (710-faults-local): tests/lib/eiofs.py, a FUSE
	# pass-through that fails reads of chosen files
	python3-fusepy
)
if [ "${1:-}" = bench ]; then
	pkgs+=(awscli time debootstrap podman)
	# the router against peers: an HTTP load generator, IPVS
	pkgs+=(wrk ipvsadm)
fi
missing=()
for p in "${pkgs[@]}"; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$s" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# docker.io's postinst would start a system dockerd (bridge, iptables):
# the tests start their own. Deny service starts during the install unless
# the machine already has a policy.
policy=
if [[ " ${missing[*]} " == *" docker.io "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
