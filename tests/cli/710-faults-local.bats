#!/usr/bin/env bats
# Local faults under running commands: the disk fills up (a small tmpfs as
# the root) while pulling and building, a blob cannot be read (EACCES: a
# file made unreadable for the unprivileged user running edgectl; EIO: the
# blobs on a FUSE pass-through, tests/lib/eiofs.py, with a bad spot), the
# monitor of a detached instance is killed -9, the runtime binary is
# missing (not executable, or absent: hidden in a private mount namespace,
# never removed from the machine). Expected: a clear error naming what failed, nothing
# half-visible (no image listed, no blob or layer dir half there), temp
# files collected, and the next command works once the fault is gone.
# Needs root (tmpfs mounts, setpriv, containers, FUSE).
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/busybox
	[ "$(id -u)" = 0 ] || return 0
	export LF_CTX="$BATS_FILE_TMPDIR/ctx"
	mkdir -p "$LF_CTX"
	busybox_rootfs "$LF_CTX/rootfs"
	printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["sleep", "3600"]\n' >"$LF_CTX/Dockerfile"
	export RUN_SUBNET="198.19.$((RANDOM % 200 + 20)).0/24"
	export RUN_BRIDGE="ecf$$"
}

teardown_file() {
	[ -n "${RUN_BRIDGE:-}" ] && ip link del "$RUN_BRIDGE" 2>/dev/null || true
}

setup() {
	load ../lib/common
	ec_require_root
	ec_isolate
	T=$BATS_TEST_TMPDIR
	export EDGECTL_STORE="file://$T/store"
	mkdir -p "$XDG_CONFIG_HOME/edgectl"
	echo "{\"subnet\": \"$RUN_SUBNET\", \"bridge\": \"$RUN_BRIDGE\"}" \
		>"$XDG_CONFIG_HOME/edgectl/config.json"
	MNT=()
	MNT_DIRS=()
	STARTED=()
	EIOFS=()
}

teardown() {
	local id m
	for id in "${STARTED[@]}"; do
		edgectl rm -f "$id" >/dev/null 2>&1 || true
	done
	for m in "${MNT[@]}"; do umount -l "$m" 2>/dev/null || true; done
	for m in "${EIOFS[@]}"; do kill "$m" 2>/dev/null || true; done
	for m in "${MNT_DIRS[@]}"; do rm -rf "$m"; done
}

# small_root DIR MIB: a tmpfs of MIB MiB at DIR (unmounted in teardown).
small_root() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=${2}m,mode=0700" "edgectl-fault-$$" "$1"
	MNT+=("$1")
}

# temps ROOT: files a failed command must not leave (temp blobs, partial
# layer dirs, build dirs in ROOT/tmp: src/build/build.c), one per line.
temps() {
	find "$1" -path "$1/tmp/*" -prune -print -o \( -name '*.tmp*' -o -name '.tmp*' \
		-o -name '*.partial*' -o -name '.partial*' -o -name 'tmp-*' -o -name '.incoming*' \) \
		-print 2>/dev/null
}

@test "faults local: ENOSPC while pulling: clear error, no image, no temp left; after room is made the pull works" {
	# a 40 MiB image in the store, built in a normal root
	mkdir -p "$T/bigctx"
	head -c $((40 << 20)) /dev/urandom >"$T/bigctx/blob"
	printf 'FROM scratch\nCOPY blob /blob\n' >"$T/bigctx/Dockerfile"
	edgectl --root "$T/src" -q build -t big:1 "$T/bigctx" >/dev/null
	edgectl --root "$T/src" -q push big:1
	small_root "$T/small" 24
	run --separate-stderr edgectl --root "$T/small" pull big:1
	echo "exit $status: $stderr"
	[ "$status" = 1 ]
	[[ $stderr == *"No space left on device"* || $stderr == *"no space"* ]]
	run -0 --separate-stderr edgectl --root "$T/small" --json images
	[ "$output" = "[]" ]
	run -0 temps "$T/small"
	echo "left: $output"
	[ -z "$output" ]
	mount -o remount,size=200m "$T/small"
	run -0 --separate-stderr edgectl --root "$T/small" -q pull big:1
	run -0 --separate-stderr edgectl --root "$T/small" --json images
	jq -e 'length == 1 and .[0].ref == "big:1"' <<<"$output"
}

@test "faults local: ENOSPC while building: clear error, no image, no temp left; after room is made the build works" {
	mkdir -p "$T/bigctx"
	head -c $((40 << 20)) /dev/urandom >"$T/bigctx/blob"
	printf 'FROM scratch\nCOPY blob /blob\n' >"$T/bigctx/Dockerfile"
	small_root "$T/small" 24
	run --separate-stderr edgectl --root "$T/small" build -t big:1 "$T/bigctx"
	echo "exit $status: $stderr"
	[ "$status" = 1 ]
	[[ $stderr == *"No space left on device"* || $stderr == *"no space"* ]]
	run -0 --separate-stderr edgectl --root "$T/small" --json images
	[ "$output" = "[]" ]
	run -0 temps "$T/small"
	echo "left: $output"
	[ -z "$output" ]
	mount -o remount,size=300m "$T/small"
	run -0 --separate-stderr edgectl --root "$T/small" -q build -t big:1 "$T/bigctx"
}

@test "faults local: a blob that cannot be read (EACCES): push exits 5 naming the blob, pushes no ref; readable again, the push works" {
	local u=65534 blob d
	# a tree the unprivileged user can reach (BATS_TEST_TMPDIR's parents
	# are private)
	d=$(mktemp -d /tmp/edgectl-lf.XXXXXX)
	MNT_DIRS+=("$d")
	chmod 755 "$d"
	edgectl --root "$d/r" -q build -t bb:1 "$LF_CTX" >/dev/null
	mkdir -p "$d/store" "$d/home"
	chown -R "$u:$u" "$d"
	blob=$(ls -S "$d/r/blobs/sha256/" | head -1)
	chmod 000 "$d/r/blobs/sha256/$blob"
	# and a binary it can reach: the tree may be checked out under a
	# private dir (mktemp -d is 0700)
	install -m 755 "$EDGECTL" "$d/edgectl"
	as_nobody() {
		setpriv --reuid "$u" --regid "$u" --clear-groups -- env HOME="$d/home" \
			XDG_CONFIG_HOME="$d/home/.config" XDG_DATA_HOME="$d/home/.local/share" \
			EDGECTL_STORE="file://$d/store" "$d/edgectl" --root "$d/r" "$@"
	}
	run --separate-stderr as_nobody push bb:1
	echo "exit $status: $stderr"
	[ "$status" = 5 ]
	[[ $stderr == *"$blob"* && $stderr == *"ermission denied"* ]]
	run -3 as_nobody store stat refs/bb/1
	# nothing half-written in the root nor in the store
	run -0 temps "$d/r"
	echo "left: $output"
	[ -z "$output" ]
	run -0 temps "$d/store"
	[ -z "$output" ]
	chmod 644 "$d/r/blobs/sha256/$blob"
	run -0 --separate-stderr as_nobody -q push bb:1
	run -0 as_nobody store stat refs/bb/1
}

# spare_rec: the record of the ready spare network namespace (src/net/
# spare.c) a start's keeper made, once there is one (bounded wait).
spare_rec() {
	local i f
	for i in $(seq 1 300); do
		for f in "$EDGECTL_ROOT"/cni/spares/*.json; do
			[ -e "$f" ] && echo "$f" && return 0
		done
		sleep 0.1
	done
	echo "no spare made" >&2
	return 1
}
# has_link NAME: the host has link NAME
has_link() { [ -e "/sys/class/net/$1" ]; }
# lease_of ID: the leases held under ID
lease_of() { grep -l "^$1" "$EDGECTL_ROOT"/cni/networks/edgectl/198.* 2>/dev/null | wc -l; }

@test "faults local: kill -9 of run -d's monitor: ps says so, rm cleans up, the next run works" {
	local id mon st rec sid
	edgectl -q build -t bb:1 "$LF_CTX" >/dev/null
	# a start leaves a spare namespace for the next one, which claims it
	run -0 --separate-stderr edgectl run --rm bb:1 -- true
	rec=$(spare_rec)
	sid=$(jq -r .sid "$rec")
	run -0 --separate-stderr edgectl run -d bb:1 -- sleep 300
	id=$output
	STARTED+=("$id")
	[ ! -e "$rec" ]
	[ "$(jq -r .sid "$EDGECTL_ROOT/instances/$id/net.json")" = "$sid" ]
	[ "$(lease_of "$sid")" = 1 ]
	st=$(find "$EDGECTL_ROOT/instances" -maxdepth 2 -name state.json -path "*$id*" | head -1)
	mon=$(jq -r .monitor_pid "$st")
	[ -n "$mon" ]
	[ "$mon" != null ]
	kill -9 "$mon"
	while [ -d "/proc/$mon" ] && ! grep -q '^State:.*Z' "/proc/$mon/status" 2>/dev/null; do sleep 0.1; done
	run -0 --separate-stderr edgectl --json ps -a
	echo "$output"
	jq -e --arg id "$id" '.[] | select(.id == $id) | .status != "running"' <<<"$output"
	run -0 --separate-stderr edgectl rm -f "$id"
	echo "$stderr"
	# nothing of it left: no container, no mount of its rootfs, no
	# network namespace, no state dir
	run -1 crun state "$id"
	run -1 grep -q "$id" /proc/self/mountinfo
	[ ! -e "/run/netns/ec-$id" ]
	[ ! -e "$(dirname "$st")" ]
	# nor the claimed spare's lease; its veth went with the namespace
	[ "$(lease_of "$sid")" = 0 ]
	[ "$(lease_of "$id")" = 0 ]
	run -0 --separate-stderr edgectl run --rm bb:1 -- echo next
	[ "$output" = next ]
}

@test "faults local: kill -9 of a spare namespace's keeper: its namespace and veth go with it, rm collects its record and lease, ps never shows it" {
	local id rec pid sid veth i
	edgectl -q build -t bb:1 "$LF_CTX" >/dev/null
	run -0 --separate-stderr edgectl run -d bb:1 -- sleep 300
	id=$output
	STARTED+=("$id")
	rec=$(spare_rec)
	pid=$(jq -r .pid "$rec")
	sid=$(jq -r .sid "$rec")
	# the host side of its veth, on our bridge
	veth=$(jq -r '.result.interfaces[] | select(.sandbox == null and (.name | startswith("veth"))) | .name' "$rec")
	[ "$(cat "/sys/class/net/$veth/master/uevent" | sed -n 's/^INTERFACE=//p')" = "$RUN_BRIDGE" ]
	[ "$(lease_of "$sid")" = 1 ]
	# a spare has no name in /run/netns and is no instance
	[ "$(ls /run/netns | grep -c "$sid" || true)" = 0 ]
	run -0 --separate-stderr edgectl --json ps -a
	jq -e --arg id "$id" 'length == 1 and .[0].id == $id' <<<"$output"
	kill -9 "$pid"
	for i in $(seq 1 100); do
		has_link "$veth" || break
		sleep 0.1
	done
	run -1 has_link "$veth"
	run -0 --separate-stderr edgectl rm -f "$id"
	[ ! -e "$rec" ]
	[ "$(lease_of "$sid")" = 0 ]
	[ "$(lease_of "$id")" = 0 ]
	# the next start makes its own network (the dead spare is not claimed)
	run -0 --separate-stderr edgectl run --rm bb:1 -- echo next
	[ "$output" = next ]
}

@test "faults local: config spares false: a start makes no spare namespace; a non-boolean is refused naming the key" {
	local id i
	edgectl -q build -t bb:1 "$LF_CTX" >/dev/null
	echo "{\"subnet\": \"$RUN_SUBNET\", \"bridge\": \"$RUN_BRIDGE\", \"spares\": \"no\"}" \
		>"$XDG_CONFIG_HOME/edgectl/config.json"
	run -2 --separate-stderr edgectl run --rm bb:1 -- true
	[[ $stderr == *"spares must be true or false"* ]]
	echo "{\"subnet\": \"$RUN_SUBNET\", \"bridge\": \"$RUN_BRIDGE\", \"spares\": false}" \
		>"$XDG_CONFIG_HOME/edgectl/config.json"
	run -0 --separate-stderr edgectl run -d bb:1 -- sleep 300
	id=$output
	STARTED+=("$id")
	jq -e '.spares == false' "$EDGECTL_ROOT/instances/$id/spec.json"
	# a keeper would have written its record (.prep, then .json) while
	# the runtime made the container; give one 3 s to show
	for i in $(seq 1 30); do
		run -1 compgen -G "$EDGECTL_ROOT/cni/spares/s*"
		sleep 0.1
	done
	run -0 --separate-stderr edgectl rm -f "$id"
}

# run_left_clean: a run that failed in a fresh root left nothing: no
# instance (ps -a, the instances dir), no lease, no spare namespace
# record, no temp.
run_left_clean() {
	run -0 --separate-stderr edgectl --json ps -a
	[ "$output" = "[]" ]
	[ -z "$(ls -A "$EDGECTL_ROOT/instances" 2>/dev/null)" ]
	[ -z "$(compgen -G "$EDGECTL_ROOT/cni/networks/edgectl/198.*")" ]
	[ -z "$(compgen -G "$EDGECTL_ROOT/cni/spares/s*")" ]
	run -0 temps "$EDGECTL_ROOT"
	echo "left: $output"
	[ -z "$output" ]
}

@test "faults local: the runtime binary missing: run exits with an error naming it; an instance whose runtime vanished is removed once it is back" {
	local id rt
	edgectl -q build -t bb:1 "$LF_CTX" >/dev/null
	rt=$(command -v crun)
	: >"$T/not-a-runtime"
	chmod 644 "$T/not-a-runtime"
	# in a private mount namespace crun is a non-executable file
	run --separate-stderr unshare -m sh -c 'mount --bind "$1" "$2" && exec "$3" run --rm --runtime crun bb:1 -- echo hi' \
		- "$T/not-a-runtime" "$rt" "$EDGECTL"
	echo "exit $status: $stderr"
	[ "$status" = 2 ] || [ "$status" = 1 ]
	[[ $stderr == *crun* ]]
	run_left_clean
	# started with crun, then crun is gone for stop and rm
	run -0 --separate-stderr edgectl run -d --runtime crun bb:1 -- sleep 300
	id=$output
	STARTED+=("$id")
	run --separate-stderr unshare -m sh -c 'mount --bind "$1" "$2" && exec "$3" rm -f "$4"' \
		- "$T/not-a-runtime" "$rt" "$EDGECTL" "$id"
	echo "exit $status: $stderr"
	[ "$status" != 0 ]
	[[ $stderr == *crun* ]]
	run -0 --separate-stderr edgectl rm -f "$id"
	run -0 --separate-stderr edgectl run --rm --runtime crun bb:1 -- echo next
	[ "$output" = next ]
}

# without_crun CMD...: CMD in a private mount namespace where crun does not
# exist: its directory is an overlay of itself with a whiteout for crun
# (stat gives ENOENT; nothing is removed from the machine).
without_crun() {
	local rt dir
	rt=$(readlink -f "$(command -v crun)")
	dir=$(dirname "$rt")
	mkdir -p "$T/ov/up" "$T/ov/work"
	[ -e "$T/ov/up/crun" ] || mknod "$T/ov/up/crun" c 0 0
	unshare -m sh -c 'mount --make-rprivate / && mount -t overlay ec-nocrun -o "lowerdir=$1,upperdir=$2,workdir=$3" "$1" && test ! -e "$1/crun" && shift 3 && exec "$@"' \
		- "$dir" "$T/ov/up" "$T/ov/work" "$@"
}

@test "faults local: the runtime binary truly absent: run exits naming it and what is there, leaves nothing; rm of an instance started with it waits for it" {
	local id
	edgectl -q build -t bb:1 "$LF_CTX" >/dev/null
	run --separate-stderr without_crun "$EDGECTL" run --rm --runtime crun bb:1 -- echo hi
	echo "exit $status: $stderr"
	[ "$status" = 2 ]
	[[ $stderr == *"runtime 'crun' is not installed"* ]]
	run_left_clean
	# detached with it, then it is gone: rm fails naming it, keeps the
	# instance; once back, rm works and leaves nothing
	run -0 --separate-stderr edgectl run -d --runtime crun bb:1 -- sleep 300
	id=$output
	STARTED+=("$id")
	run --separate-stderr without_crun "$EDGECTL" rm -f "$id"
	echo "exit $status: $stderr"
	[ "$status" != 0 ]
	[[ $stderr == *crun* ]]
	run -0 --separate-stderr edgectl --json ps -a
	jq -e --arg id "$id" 'map(select(.id == $id)) | length == 1' <<<"$output"
	run -0 --separate-stderr edgectl rm -f "$id"
	# gone: no instance, namespace, lease or temp (the spare namespace
	# its start left for the next one stays)
	[ ! -e "/run/netns/ec-$id" ]
	[ ! -e "$EDGECTL_ROOT/instances/$id" ]
	[ "$(lease_of "$id")" = 0 ]
	run -0 --separate-stderr edgectl --json ps -a
	[ "$output" = "[]" ]
	run -0 temps "$EDGECTL_ROOT"
	[ -z "$output" ]
	run -0 --separate-stderr edgectl run --rm --runtime crun bb:1 -- echo next
	[ "$output" = next ]
}

# eio_mount ROOT: ROOT/blobs becomes tests/lib/eiofs.py over a copy of
# itself (a disk with a bad spot: reads of the files named in $T/eio-list
# fail with EIO; unmounted in teardown).
eio_mount() {
	local i
	mv "$1/blobs" "$1/blobs.disk"
	mkdir "$1/blobs"
	: >"$T/eio-list"
	/usr/bin/python3 "$BATS_TEST_DIRNAME/../lib/eiofs.py" "$1/blobs.disk" "$1/blobs" "$T/eio-list" \
		</dev/null >"$T/eiofs.out" 2>&1 3>&- &
	EIOFS+=($!)
	MNT+=("$1/blobs")
	for i in $(seq 1 100); do
		mountpoint -q "$1/blobs" && return 0
		kill -0 "${EIOFS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/eiofs.out" >&2
	return 1
}

@test "faults local: a blob read fails with EIO (a FUSE disk with a bad spot): push, run and pull exit 1 naming the blob and EIO, leave nothing; removed and pulled again, all work" {
	local r=$T/r blob
	edgectl --root "$r" -q build -t bb:1 "$LF_CTX" >/dev/null
	edgectl --root "$r" -q push bb:1
	blob=$(ls -S "$r/blobs/sha256" | head -1)
	eio_mount "$r"
	echo "$blob" >"$T/eio-list"
	run -1 cat "$r/blobs/sha256/$blob"
	[[ $output == *"Input/output error"* ]]
	# push to an empty store: nothing published
	run --separate-stderr edgectl --root "$r" --store "file://$T/store2" push bb:1
	echo "exit $status: $stderr"
	[ "$status" = 1 ]
	[[ $stderr == *"sha256:$blob"* && $stderr == *"Input/output error"* ]]
	run -3 edgectl --store "file://$T/store2" store stat refs/bb/1
	run -3 edgectl --store "file://$T/store2" store stat "blobs/sha256/$blob"
	# run: the layer has to be unpacked from the blob (the unpacked one
	# collected)
	rm -rf "$r/layers"
	run --separate-stderr edgectl --root "$r" run --rm --network none --runtime crun bb:1 -- echo hi
	echo "exit $status: $stderr"
	[ "$status" = 1 ]
	[[ $stderr == *"sha256:$blob"* && $stderr == *"Input/output error"* ]]
	# nothing half there: no instance, no layer dir, no temp
	run -0 --separate-stderr edgectl --root "$r" --json ps -a
	[ "$output" = "[]" ]
	[ -z "$(ls -A "$r/layers" 2>/dev/null)" ]
	run -0 temps "$r"
	[ -z "$output" ]
	# pull (the blob is there, unpacking reads it): the same
	run --separate-stderr edgectl --root "$r" pull bb:1
	echo "exit $status: $stderr"
	[ "$status" = 1 ]
	[[ $stderr == *"sha256:$blob"* && $stderr == *"Input/output error"* ]]
	[ -z "$(ls -A "$r/layers" 2>/dev/null)" ]
	run -0 temps "$r"
	[ -z "$output" ]
	# the bad blob removed (its new copy lands elsewhere on the disk):
	# pull, run and push work
	rm "$r/blobs/sha256/$blob"
	: >"$T/eio-list"
	run -0 --separate-stderr edgectl --root "$r" -q pull bb:1
	[ -e "$r/blobs/sha256/$blob" ]
	run -0 --separate-stderr edgectl --root "$r" run --rm --network none --runtime crun bb:1 -- echo hi
	[ "$output" = hi ]
	run -0 --separate-stderr edgectl --root "$r" -q --store "file://$T/store2" push bb:1
	run -0 edgectl --store "file://$T/store2" store stat refs/bb/1
}
