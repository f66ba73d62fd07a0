#!/usr/bin/env bats
# edgectl run --mount store:KEY_OR_PREFIX:/PATH[:ro|:rw] on the file://
# store and on a real Ceph RGW (tests/lib/rgw.bash), in real containers
# (crun): a prefix of 1,000 small objects as a directory, a large object
# (256 MiB, not the issue's 1 GiB, to keep CI time sane) compared with
# `edgectl store get`, an object overwritten during the fetch, the cache
# reused by a second instance (same inodes, nothing fetched), :rw copies,
# a missing key.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/busybox
	load ../lib/rgw
	[ "$(id -u)" = 0 ] || return 0
	export MNT_ROOT="$BATS_FILE_TMPDIR/root"
	mkdir -p "$BATS_FILE_TMPDIR/ctx"
	busybox_rootfs "$BATS_FILE_TMPDIR/ctx/rootfs"
	printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n' >"$BATS_FILE_TMPDIR/ctx/Dockerfile"
	EDGECTL_ROOT=$MNT_ROOT edgectl -q build -t bb:mnt "$BATS_FILE_TMPDIR/ctx" >/dev/null
	rgw_setup_file
}

teardown_file() {
	load ../lib/rgw
	rgw_stop
}

setup() {
	load ../lib/common
	load ../lib/rgw
	ec_require_root
	# a root per test (its own cache), the image layers shared
	export EDGECTL_ROOT="$BATS_TEST_TMPDIR/root"
	mkdir -p "$EDGECTL_ROOT"
	cp -a "$MNT_ROOT/." "$EDGECTL_ROOT/"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/cfg"
	CACHE=$EDGECTL_ROOT/cache/store-mounts
}

use_file() {
	export EDGECTL_STORE="file://$BATS_TEST_TMPDIR/store"
}

use_rgw() {
	rgw_require
	rgw_env
	EDGECTL_STORE=$(rgw_store_url "m$BATS_TEST_NUMBER")
	export EDGECTL_STORE
}

# spec.json of the instance named $1
spec_of() {
	local id
	id=$(edgectl --json ps -a | jq -r --arg n "$1" '.[] | select(.name == $n) | .id')
	cat "$EDGECTL_ROOT/instances/$id/spec.json"
}

# 1,000 small objects under many/ (in 10 subdirectories), 8 puts at a time.
put_many() {
	local d=$BATS_TEST_TMPDIR/many i
	mkdir -p "$d"
	for i in $(seq -w 0 999); do
		mkdir -p "$d/s${i:0:1}"
		echo "small object $i" >"$d/s${i:0:1}/f$i"
	done
	(cd "$d" && find . -type f | sed 's|^\./||' | xargs -P 8 -I{} edgectl -q store put "many/{}" "{}" >/dev/null)
	MANY_SUM=$(cd "$d" && find . -type f | sort | xargs cat | md5sum | cut -d' ' -f1)
}

mt_many() {
	local sum1 sum2 ino1 ino2
	put_many
	run -0 --separate-stderr edgectl run --name m1 --network none --runtime crun \
		--mount store:many:/data bb:mnt -- \
		sh -c 'cd /data && find . -type f | wc -l && find . -type f | sort | xargs cat | md5sum | cut -d" " -f1 && stat -c %i s3/f321'
	[ "${lines[0]}" = 1000 ]
	[ "${lines[1]}" = "$MANY_SUM" ]
	ino1=${lines[2]}
	spec_of m1 | jq -e '.store_mounts[0] | .objects == 1000 and .fetched_objects == 1000 and .is_dir'
	echo "# $1: 1,000 objects fetched in $(spec_of m1 | jq .store_mounts[0].fetch_ms) ms" >&3
	# a second instance: the same view, nothing downloaded
	run -0 --separate-stderr edgectl run --name m2 --network none --runtime crun \
		--mount store:many/:/data bb:mnt -- stat -c %i /data/s3/f321
	ino2=$output
	[ "$ino1" = "$ino2" ]
	spec_of m2 | jq -e '.store_mounts[0] | .objects == 1000 and .fetched_objects == 0 and .fetched_bytes == 0'
	[ "$(spec_of m1 | jq -r '.store_mounts[0].cache')" = "$(spec_of m2 | jq -r '.store_mounts[0].cache')" ]
	# read-only
	run -1 edgectl run --rm --network none --runtime crun --mount store:many:/data bb:mnt -- touch /data/new
	[[ $output == *"Read-only file system"* ]]
}

mt_large() {
	local big=$BATS_TEST_TMPDIR/big sum t0 t1 t2 get_ms mnt_ms
	dd if=/dev/urandom of="$big" bs=1M count=256 status=none
	sum=$(md5sum <"$big" | cut -d' ' -f1)
	edgectl -q store put big "$big" >/dev/null
	t0=$(date +%s%N)
	edgectl -q store get big "$BATS_TEST_TMPDIR/got" >/dev/null
	t1=$(date +%s%N)
	cmp "$big" "$BATS_TEST_TMPDIR/got"
	rm -f "$BATS_TEST_TMPDIR/got"
	run -0 --separate-stderr edgectl run --name big1 --network none --runtime crun \
		--mount store:big:/big.bin bb:mnt -- sh -c 'md5sum /big.bin'
	[ "${output%% *}" = "$sum" ]
	spec_of big1 | jq -e '.store_mounts[0] | .objects == 1 and .fetched_bytes == 268435456 and (.is_dir | not)'
	mnt_ms=$(spec_of big1 | jq '.store_mounts[0].fetch_ms')
	get_ms=$(((t1 - t0) / 1000000))
	echo "# $1: 256 MiB: mount fetch $mnt_ms ms ($((256000 / (mnt_ms + 1))) MiB/s), store get $get_ms ms ($((256000 / (get_ms + 1))) MiB/s)" >&3
	# the cached file is the object, read-only
	run -0 find "$CACHE/objects" -type f -size 262144k -perm 0444
	[ "${#lines[@]}" = 1 ]
}

mt_change() {
	local v1=$BATS_TEST_TMPDIR/v1 v2=$BATS_TEST_TMPDIR/v2 s1 s2 pid got f
	dd if=/dev/urandom of="$v1" bs=1M count=48 status=none
	dd if=/dev/urandom of="$v2" bs=1M count=40 status=none
	s1=$(md5sum <"$v1" | cut -d' ' -f1)
	s2=$(md5sum <"$v2" | cut -d' ' -f1)
	edgectl -q store put chg "$v1" >/dev/null
	# overwrite v2, v1, v2, ... while the mount fetches
	(for _ in $(seq 1 6); do
		edgectl -q store put chg "$v2" >/dev/null
		edgectl -q store put chg "$v1" >/dev/null
	done) &
	pid=$!
	run --separate-stderr edgectl run --rm --network none --runtime crun \
		--mount store:chg:/chg bb:mnt -- sh -c 'md5sum /chg'
	got=$status
	wait "$pid"
	echo "# $1: run during overwrites: exit $got ${stderr:-}" >&3
	if [ "$got" = 0 ]; then
		# exactly one version, never a mix
		[ "${output%% *}" = "$s1" ] || [ "${output%% *}" = "$s2" ]
	else
		[ "$got" = 6 ]
		[[ $stderr == *"'chg' kept changing"* ]]
	fi
	# the cache holds only whole versions, nothing half-written
	for f in "$CACHE"/objects/*; do
		case $f in *.lock) continue ;; esac
		sum=$(md5sum <"$f" | cut -d' ' -f1)
		[ "$sum" = "$s1" ] || [ "$sum" = "$s2" ] || { echo "mixed file $f"; false; }
	done
	run -0 find "$CACHE/tmp" -mindepth 1
	[ "$output" = "" ]
	# settled: the mount now sees the last version
	run -0 --separate-stderr edgectl run --rm --network none --runtime crun \
		--mount store:chg:/chg bb:mnt -- sh -c 'md5sum /chg'
	[ "${output%% *}" = "$s1" ]
}

mt_missing_rw() {
	echo "one" >"$BATS_TEST_TMPDIR/a.txt"
	edgectl -q store put one/a.txt "$BATS_TEST_TMPDIR/a.txt" >/dev/null
	run -3 --separate-stderr edgectl run --name gone --network none --mount store:nope:/x bb:mnt true
	[[ $stderr == *"--mount 'store:nope:/x': no object 'nope' and nothing under 'nope/' in the store"* ]]
	run -0 --separate-stderr edgectl --json ps -a
	jq -e 'map(select(.name == "gone")) | length == 0' <<<"$output"
	run -2 --separate-stderr edgectl run --rm --network none --mount store:one bb:mnt true
	[[ $stderr == *"use store:KEY_OR_PREFIX:/PATH[:ro|:rw]"* ]]
	# :rw is a private copy: writes stay in the instance
	run -0 --separate-stderr edgectl run --rm --network none --runtime crun \
		--mount store:one:/one:rw bb:mnt -- sh -c 'echo changed > /one/a.txt && echo new > /one/b && cat /one/a.txt'
	[ "$output" = changed ]
	run -0 --separate-stderr edgectl run --rm --network none --runtime runc \
		--mount store:one:/one bb:mnt -- sh -c 'cat /one/a.txt; ls /one'
	[ "$output" = $'one\na.txt' ]
	# a key alone is a file
	run -0 --separate-stderr edgectl run --rm --network none --runtime crun \
		--mount store:one/a.txt:/etc/a.txt bb:mnt -- cat /etc/a.txt
	[ "$output" = one ]
}

@test "run --mount (file://): a prefix of 1,000 objects as a directory; a second instance reuses the cache" { use_file; mt_many file; }
@test "run --mount (RGW): a prefix of 1,000 objects as a directory; a second instance reuses the cache" { use_rgw; mt_many rgw; }
@test "run --mount (file://): a 256 MiB object, verified, against store get" { use_file; mt_large file; }
@test "run --mount (RGW): a 256 MiB object, verified, against store get" { use_rgw; mt_large rgw; }
@test "run --mount (file://): an object overwritten during the fetch gives one whole version or exit 6" { use_file; mt_change file; }
@test "run --mount (RGW): an object overwritten during the fetch gives one whole version or exit 6" { use_rgw; mt_change rgw; }
@test "run --mount (file://): missing key exits 3 before anything starts; :rw is a private copy; a key is a file" { use_file; mt_missing_rw; }
@test "run --mount (RGW): missing key exits 3 before anything starts; :rw is a private copy; a key is a file" { use_rgw; mt_missing_rw; }
