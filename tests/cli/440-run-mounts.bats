#!/usr/bin/env bats
# edgectl run --mount store:KEY_OR_PREFIX:/PATH[:ro|:rw] on the file://
# store and on a real Ceph RGW (tests/lib/rgw.bash), in real containers
# (crun): a prefix of 1,000 small objects as a directory, a large object
# (1 GiB on RGW, the issue's size: 64 multipart parts fetched as ranges,
# RSS bounded; EDGECTL_BIG_MIB=N for another size; 64 MiB on file://) compared with
# `edgectl store get`, an object overwritten during the fetch, the cache
# reused by a second instance (same inodes, nothing fetched), :rw copies,
# a missing key, --mount-sync (changes written back by CAS; a concurrent
# writer's version is never overwritten: exit 6, the local copy kept).
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

# $1: file or rgw; $2: MiB. The object is compared with `store get` of
# the same store in the same run (both times reported, never asserted);
# the mount's peak RSS is bounded (streamed: ranges to the file, not
# through memory).
mt_large() {
	local big=$BATS_TEST_TMPDIR/big mib=$2 sum t0 t1 get_ms mnt_ms rss
	dd if=/dev/urandom of="$big" bs=1M count="$mib" status=none
	sum=$(md5sum <"$big" | cut -d' ' -f1)
	edgectl -q store put big "$big" >/dev/null
	t0=$(date +%s%N)
	edgectl -q store get big "$BATS_TEST_TMPDIR/got" >/dev/null
	t1=$(date +%s%N)
	cmp "$big" "$BATS_TEST_TMPDIR/got"
	rm -f "$BATS_TEST_TMPDIR/got"
	run -0 --separate-stderr /usr/bin/time -f "rss=%M" edgectl run --name big1 --network none --runtime crun \
		--mount store:big:/big.bin bb:mnt -- sh -c 'md5sum /big.bin'
	[ "${output%% *}" = "$sum" ]
	rss=$(grep -o 'rss=[0-9]*' <<<"$stderr" | cut -d= -f2)
	spec_of big1 | jq -e --argjson b $((mib << 20)) '.store_mounts[0] | .objects == 1 and .fetched_bytes == $b and (.is_dir | not)'
	mnt_ms=$(spec_of big1 | jq '.store_mounts[0].fetch_ms')
	get_ms=$(((t1 - t0) / 1000000))
	echo "# $1: $mib MiB: mount fetch $mnt_ms ms ($((mib * 1000 / (mnt_ms + 1))) MiB/s), store get $get_ms ms ($((mib * 1000 / (get_ms + 1))) MiB/s), run peak RSS $((rss / 1024)) MiB" >&3
	# memory does not grow with the object
	[ "$rss" -lt $((128 * 1024)) ]
	# the cached file is the object, read-only
	run -0 find "$CACHE/objects" -type f -size "$((mib * 1024))k" -perm 0444
	[ "${#lines[@]}" = 1 ]
	edgectl rm big1 >/dev/null
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

# Three objects under sync/.
put_sync() {
	local f
	mkdir -p "$BATS_TEST_TMPDIR/sync/sub"
	echo a0 >"$BATS_TEST_TMPDIR/sync/a.txt"
	echo b0 >"$BATS_TEST_TMPDIR/sync/b.txt"
	echo c0 >"$BATS_TEST_TMPDIR/sync/sub/c.txt"
	for f in a.txt b.txt sub/c.txt; do
		edgectl -q store put "sync/$f" "$BATS_TEST_TMPDIR/sync/$f" >/dev/null
	done
}

# Wait until instance $1 (id) exited and its monitor wrote back (.sync).
wait_synced() {
	local i
	for i in $(seq 1 600); do
		jq -e '.status == "exited" and has("sync")' "$EDGECTL_ROOT/instances/$1/state.json" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "instance $1 did not exit and write back"
	return 1
}

mt_sync() {
	local etag_c id kept
	put_sync
	etag_c=$(edgectl --json store ls -r sync/ | jq -r '.[] | select(.key == "sync/sub/c.txt") | .etag')
	run -2 --separate-stderr edgectl run --rm --network none --mount-sync --mount store:sync:/s bb:mnt true
	[[ $stderr == *"--mount-sync writes back :rw store mounts"* ]]
	# changed, new, deleted, unchanged, a symlink and a FIFO
	run -0 --separate-stderr edgectl --json run --rm --network none --runtime crun \
		--mount store:sync:/s:rw --mount-sync bb:mnt -- \
		sh -c 'echo a1 > /s/a.txt && echo n1 > /s/sub/new.txt && rm /s/b.txt && ln -s /etc/passwd /s/link && mkfifo /s/fifo'
	jq -e '.exit_status == 0 and (.sync | length == 1)' <<<"$output"
	jq -e '.sync[0] | .written == 1 and .created == 1 and .unchanged == 1 and .deleted == ["sync/b.txt"] and (.conflicts | length == 0) and (.skipped | length == 2)' <<<"$output"
	[ "$(edgectl store get sync/a.txt)" = a1 ]
	[ "$(edgectl store get sync/sub/new.txt)" = n1 ]
	# deletions are not written back; links and FIFOs never leave
	[ "$(edgectl store get sync/b.txt)" = b0 ]
	run -3 edgectl store get sync/link
	run -3 edgectl store get sync/fifo
	# an unchanged file is not sent again
	[ "$(edgectl --json store ls -r sync/ | jq -r '.[] | select(.key == "sync/sub/c.txt") | .etag')" = "$etag_c" ]
	# a file mount: the key itself, by CAS
	run -0 --separate-stderr edgectl run --rm --network none --runtime runc \
		--mount store:sync/a.txt:/a.txt:rw --mount-sync bb:mnt -- sh -c 'echo a2 > /a.txt'
	[ "$(edgectl store get sync/a.txt)" = a2 ]
	# without --mount-sync, :rw stays private
	run -0 --separate-stderr edgectl run --rm --network none --runtime crun \
		--mount store:sync/a.txt:/a.txt:rw bb:mnt -- sh -c 'echo lost > /a.txt'
	[ "$(edgectl store get sync/a.txt)" = a2 ]
}

# A writer changes a.txt and creates n.txt in the store while the
# instance runs: both are conflicts, the store keeps theirs, ours is kept.
mt_sync_conflict() {
	local ctl=$BATS_TEST_TMPDIR/ctl pid st id kept
	put_sync
	mkdir -p "$ctl"
	echo theirs >"$BATS_TEST_TMPDIR/theirs"
	# foreground, --rm: exit 6, the copy moved to the cache's kept/
	edgectl run --rm --name fg --network none --runtime crun -v "$ctl:/ctl" \
		--mount store:sync:/s:rw --mount-sync bb:mnt -- \
		sh -c 'echo mine > /s/a.txt; echo mine > /s/n.txt; echo c1 > /s/sub/c.txt; touch /ctl/ready; while [ ! -e /ctl/go ]; do sleep 0.1; done' \
		>"$BATS_TEST_TMPDIR/fg.out" 2>"$BATS_TEST_TMPDIR/fg.err" &
	pid=$!
	for _ in $(seq 1 600); do [ -e "$ctl/ready" ] && break; sleep 0.1; done
	[ -e "$ctl/ready" ]
	edgectl -q store put sync/a.txt "$BATS_TEST_TMPDIR/theirs" >/dev/null
	edgectl -q store put sync/n.txt "$BATS_TEST_TMPDIR/theirs" >/dev/null
	touch "$ctl/go"
	st=0
	wait "$pid" || st=$?
	cat "$BATS_TEST_TMPDIR/fg.err"
	[ "$st" = 6 ]
	grep -q "store keeps the other version" "$BATS_TEST_TMPDIR/fg.err"
	grep -q "(2 conflict(s))" "$BATS_TEST_TMPDIR/fg.err"
	[ "$(edgectl store get sync/a.txt)" = theirs ]
	[ "$(edgectl store get sync/n.txt)" = theirs ]
	# the rest was written
	[ "$(edgectl store get sync/sub/c.txt)" = c1 ]
	kept=$(ls -d "$CACHE"/kept/*-0)
	[ "$(cat "$kept/a.txt")" = mine ]
	[ "$(cat "$kept/n.txt")" = mine ]
	# detached: the monitor writes back and records the conflict
	rm -f "$ctl"/*
	run -0 edgectl run -d --name bg --network none --runtime crun -v "$ctl:/ctl" \
		--mount store:sync:/s:rw --mount-sync bb:mnt -- \
		sh -c 'echo mine2 > /s/a.txt; touch /ctl/ready; while [ ! -e /ctl/go ]; do sleep 0.1; done'
	id=$output
	for _ in $(seq 1 600); do [ -e "$ctl/ready" ] && break; sleep 0.1; done
	edgectl -q store put sync/a.txt "$BATS_TEST_TMPDIR/sync/b.txt" >/dev/null
	touch "$ctl/go"
	wait_synced "$id"
	jq -e '.sync[0].conflicts[0].key == "sync/a.txt"' "$EDGECTL_ROOT/instances/$id/state.json"
	[ "$(edgectl store get sync/a.txt)" = b0 ]
	[ "$(cat "$EDGECTL_ROOT/instances/$id/store-mounts/0/a.txt")" = mine2 ]
	run -0 edgectl logs "$id"
	[[ $output == *"'sync/a.txt' changed in the store since it was mounted"* ]]
	# no conflict: the monitor writes it back
	rm -f "$ctl"/*
	run -0 edgectl run -d --name bg2 --network none --runtime crun -v "$ctl:/ctl" \
		--mount store:sync:/s:rw --mount-sync bb:mnt -- sh -c 'echo mine3 > /s/a.txt'
	wait_synced "$output"
	[ "$(edgectl store get sync/a.txt)" = mine3 ]
}

# images rm collects the cache: what no instance names and was not used
# for ten minutes; an instance's mount stays.
mt_gc() {
	local a b
	echo one >"$BATS_TEST_TMPDIR/one"
	echo two >"$BATS_TEST_TMPDIR/two"
	edgectl -q store put gc/a "$BATS_TEST_TMPDIR/one" >/dev/null
	edgectl -q store put gc/b "$BATS_TEST_TMPDIR/two" >/dev/null
	edgectl -q build -t bb:gc "$BATS_FILE_TMPDIR/ctx" >/dev/null
	run -0 --separate-stderr edgectl run --rm --network none --runtime crun --mount store:gc/a:/a bb:mnt -- cat /a
	[ "$output" = one ]
	run -0 --separate-stderr edgectl run --name keep --network none --runtime crun --mount store:gc/b:/b bb:mnt -- cat /b
	[ "$output" = two ]
	a=$(find "$CACHE/objects" -type f ! -name '*.lock' | xargs grep -l one)
	b=$(find "$CACHE/objects" -type f ! -name '*.lock' | xargs grep -l two)
	# used just now: kept
	run -0 --separate-stderr edgectl --json images rm bb:gc
	jq -e '.store_mount_bytes_freed == 0' <<<"$output"
	[ -e "$a" ]
	[ -e "$b" ]
	touch -d '1 hour ago' "$a" "$b"
	edgectl -q build -t bb:gc "$BATS_FILE_TMPDIR/ctx" >/dev/null
	run -0 --separate-stderr edgectl --json images rm bb:gc
	jq -e '.store_mount_bytes_freed == 4' <<<"$output"
	[ ! -e "$a" ]
	# the instance 'keep' names b
	[ -e "$b" ]
	edgectl rm keep >/dev/null
	edgectl -q build -t bb:gc "$BATS_FILE_TMPDIR/ctx" >/dev/null
	run -0 --separate-stderr edgectl images rm bb:gc
	[[ $output == *"+ 4 B of store mounts"* ]] || [[ $output == *"+ 4 bytes of store mounts"* ]] || { echo "$output"; false; }
	[ ! -e "$b" ]
}

@test "run --mount (file://): images rm collects the cache of store mounts no instance uses" { use_file; mt_gc; }

@test "run --mount (file://): a prefix of 1,000 objects as a directory; a second instance reuses the cache" { use_file; mt_many file; }
@test "run --mount (RGW): a prefix of 1,000 objects as a directory; a second instance reuses the cache" { use_rgw; mt_many rgw; }
@test "run --mount (file://): a 64 MiB object, verified, against store get" { use_file; mt_large file 64; }
@test "run --mount (RGW): a 1 GiB object (EDGECTL_BIG_MIB), verified, streamed (bounded RSS), against store get" { use_rgw; mt_large rgw "${EDGECTL_BIG_MIB:-1024}"; }
@test "run --mount (file://): an object overwritten during the fetch gives one whole version or exit 6" { use_file; mt_change file; }
@test "run --mount (RGW): an object overwritten during the fetch gives one whole version or exit 6" { use_rgw; mt_change rgw; }
@test "run --mount (file://): missing key exits 3 before anything starts; :rw is a private copy; a key is a file" { use_file; mt_missing_rw; }
@test "run --mount (RGW): missing key exits 3 before anything starts; :rw is a private copy; a key is a file" { use_rgw; mt_missing_rw; }
@test "run --mount-sync (file://): changes written back by CAS; deletions, links and FIFOs are not" { use_file; mt_sync; }
@test "run --mount-sync (RGW): changes written back by CAS; deletions, links and FIFOs are not" { use_rgw; mt_sync; }
@test "run --mount-sync (file://): a concurrent writer's version wins: exit 6, local copy kept; -d by the monitor" { use_file; mt_sync_conflict; }
@test "run --mount-sync (RGW): a concurrent writer's version wins: exit 6, local copy kept; -d by the monitor" { use_rgw; mt_sync_conflict; }
