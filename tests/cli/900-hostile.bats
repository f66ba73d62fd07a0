#!/usr/bin/env bats
# Hostile input against the image store, the layer unpacker, `images
# import` and `store get`: what a hostile image, stream, key or planted
# file can do must stay inside its target, be refused with a clear message
# and the right exit status. Issue 12. The first group failed before the
# fixes; the second (escapes, digest tricks) already passed and must stay so.
bats_require_minimum_version 1.5.0

setup() {
	load ../lib/common
	ec_isolate
	export EDGECTL_STORE="file://$BATS_TEST_TMPDIR/store"
	T=$BATS_TEST_TMPDIR
	R=$EDGECTL_ROOT
}

# A layer tar of entries "TYPE NAME [ARG]" (tests/lib/hostile-tar.py).
hostile_tar() {
	python3 tests/lib/hostile-tar.py "$@"
}

# evil IMAGE-DIR TAR...: an OCI layout holding image x of these layers
evil() {
	local dir=$1
	shift
	rm -rf "$dir"
	tests/lib/mkimage.sh "$dir" x none "$@" >/dev/null
}

# as_nobody CMD...: run CMD as an unprivileged user (uid/gid 65534)
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

# --- failed before the fixes ----------------------------------------------

@test "pull: a device node in a layer is refused (exit 2) naming it; nothing unpacked" {
	ec_require_root
	hostile_tar "$T/dev.tar" "d dev" "c dev/mem 1:1" "f ok"
	evil "$T/evil" "$T/dev.tar"
	run -2 --separate-stderr edgectl pull "oci:$T/evil:x"
	[[ $stderr == *"'dev/mem'"*"device node"* ]] || { echo "$stderr"; false; }
	[ -z "$(find "$R/layers" -mindepth 1 -maxdepth 1 2>/dev/null)" ]
	[ -z "$(find "$R" -type c 2>/dev/null)" ]
	hostile_tar "$T/blk.tar" "b sda"
	evil "$T/evil" "$T/blk.tar"
	run -2 --separate-stderr edgectl pull --unpack "$T/flat" "oci:$T/evil:x"
	[[ $stderr == *"'sda'"*"device node"* ]] || { echo "$stderr"; false; }
	[ -z "$(find "$R" "$T/flat" -type b 2>/dev/null)" ]
}

@test "pull: the local root is private: setuid files of an image are out of reach of other users" {
	ec_require_root
	hostile_tar "$T/suid.tar" "d bin" "s bin/rootsh"
	evil "$T/evil" "$T/suid.tar"
	run -0 --separate-stderr edgectl pull "oci:$T/evil:x"
	local f
	f=$(find "$R/layers" -name rootsh)
	[ -n "$f" ]
	[ -u "$f" ]
	# the root 0711 or tighter, layers/ and instances/ 0700
	[ "$(stat -c %a "$R")" = 711 ] || [ "$(stat -c %a "$R")" = 700 ]
	[ "$(stat -c %a "$R/layers")" = 700 ]
	[ "$(stat -c %a "$R/instances")" = 700 ]
	run ! as_nobody test -x "$f"
	run ! as_nobody ls "$R/layers"
}

@test "run: with the private root, containers as a non-root user still run (crun, runc, runsc)" {
	ec_require_root
	load ../lib/busybox
	busybox_rootfs "$T/ctx/rootfs"
	echo "image file" >"$T/ctx/rootfs/etc/motd"
	chmod 0644 "$T/ctx/rootfs/etc/motd"
	# the image's USER (run -u is ignored today: cmd/run.c never reads it)
	printf 'FROM scratch\nCOPY rootfs/ /\nUSER 65534:65534\n' >"$T/ctx/Dockerfile"
	run -0 --separate-stderr edgectl -q build -t bb:1 "$T/ctx"
	run ! as_nobody ls "$R/layers"
	local rt
	for rt in crun runc runsc; do
		run -0 --separate-stderr edgectl run --rm --runtime "$rt" --network none bb:1 -- sh -c 'id -u; cat /etc/motd'
		[ "$output" = "65534"$'\n'"image file" ] || { echo "$rt: $output $stderr"; false; }
	done
	run ! as_nobody ls "$R/instances"
	[ "$(stat -c %a "$R/layers")" = 700 ]
}

@test "pull: a root made before (layers/ 0755) is made private by the next command" {
	ec_require_root
	mkdir -p "$R/layers/x" "$R/instances"
	chmod 0755 "$R" "$R/layers" "$R/instances"
	run -0 --separate-stderr edgectl images
	[ "$(stat -c %a "$R")" = 711 ]
	[ "$(stat -c %a "$R/layers")" = 700 ]
	[ "$(stat -c %a "$R/instances")" = 700 ]
}

@test "pull --unpack: an existing non-empty DIR is refused (exit 2) and left as it was" {
	hostile_tar "$T/l.tar" "f etc/hello hi"
	evil "$T/evil" "$T/l.tar"
	mkdir -p "$T/flat"
	echo mine >"$T/flat/keep"
	run -2 --separate-stderr edgectl pull --unpack "$T/flat" "oci:$T/evil:x"
	[[ $stderr == *"'$T/flat'"*"not empty"* ]] || { echo "$stderr"; false; }
	[ "$(cat "$T/flat/keep")" = mine ]
	[ ! -e "$T/flat/etc" ]
	# refused before anything was fetched: no image, no layer
	run -0 --separate-stderr edgectl --json images
	jq -e 'length == 0' <<<"$output"
	# a file where DIR should be: refused too
	run -2 --separate-stderr edgectl pull --unpack "$T/flat/keep" "oci:$T/evil:x"
	# an empty DIR and a new DIR are fine
	mkdir "$T/empty"
	run -0 --separate-stderr edgectl pull --unpack "$T/empty" "oci:$T/evil:x"
	[ "$(cat "$T/empty/etc/hello")" = hi ]
	run -0 --separate-stderr edgectl pull --unpack "$T/new" "oci:$T/evil:x"
	[ "$(cat "$T/new/etc/hello")" = hi ]
}

@test "store get: a symlink planted at the temp name is not written through" {
	echo secret >"$T/victim"
	echo payload >"$T/src"
	run -0 edgectl store put k "$T/src"
	ln -s "$T/victim" "$T/out.edgectl-part"
	run -0 --separate-stderr edgectl store get k "$T/out"
	[ "$(cat "$T/out")" = payload ]
	[ ! -L "$T/out" ]
	[ "$(cat "$T/victim")" = secret ]
	# a missing key does not truncate it either
	ln -s "$T/victim" "$T/gone.edgectl-part"
	run -3 --separate-stderr edgectl store get nope "$T/gone"
	[ "$(cat "$T/victim")" = secret ]
	# and no temp file is left beside FILE
	[ -z "$(find "$T" -maxdepth 1 -name '*.edgectl-part?*')" ]
}

@test "store: a key component longer than 255 bytes exits 2 naming it" {
	local long
	long=$(printf 'a%.0s' {1..256})
	echo x >"$T/src"
	run -2 --separate-stderr edgectl store put "dir/$long" "$T/src"
	[[ $stderr == *"component"*"255"* ]] || { echo "$stderr"; false; }
	run -2 --separate-stderr edgectl store get "$long" "$T/out"
	# 255 is fine
	run -0 --separate-stderr edgectl store put "dir/${long:1}" "$T/src"
}

# Old temps of killed transfers, one of each kind, and one still held.
plant_temps() {
	mkdir -p "$R/layers/.tmp-old1/etc" "$R/blobs/sha256" "$T/store/.edgectl/tmp"
	touch "$R/blobs/sha256/.tmp-old2" "$T/store/.edgectl/tmp/0123abcd"
	touch "$R/blobs/sha256/.partial-$(printf 'a%.0s' {1..64})"
	touch "$R/blobs/sha256/.partial-$(printf 'a%.0s' {1..64}).json"
	touch -h -d '3 days ago' "$R/layers/.tmp-old1" "$R/blobs/sha256/.tmp-old2" \
		"$T/store/.edgectl/tmp/0123abcd" "$R/blobs/sha256/.partial-"*
	# fresh ones belong to transfers in flight
	mkdir "$R/layers/.tmp-new"
	touch "$R/blobs/sha256/.tmp-new" "$T/store/.edgectl/tmp/4567"
}

@test "images rm and pull sweep temps of killed transfers, not fresh or locked ones" {
	hostile_tar "$T/l.tar" "f a"
	evil "$T/evil" "$T/l.tar"
	run -0 --separate-stderr edgectl pull "oci:$T/evil:x"
	plant_temps
	# an old temp still locked by its writer stays
	touch -d '3 days ago' "$R/blobs/sha256/.tmp-held"
	flock "$R/blobs/sha256/.tmp-held" sleep 30 &
	local holder=$!
	sleep 0.3
	run -0 --separate-stderr edgectl images rm evil:x
	kill "$holder"
	wait "$holder" || true
	[ ! -e "$R/layers/.tmp-old1" ]
	[ ! -e "$R/blobs/sha256/.tmp-old2" ]
	[ -z "$(find "$R/blobs/sha256" -name '.partial-*')" ]
	[ -e "$R/layers/.tmp-new" ]
	[ -e "$R/blobs/sha256/.tmp-new" ]
	[ -e "$R/blobs/sha256/.tmp-held" ]
	# pull sweeps them too, and push sweeps the store's
	rm -rf "$R/layers/.tmp-new" "$R/blobs/sha256/.tmp-new" "$R/blobs/sha256/.tmp-held"
	plant_temps
	run -0 --separate-stderr edgectl pull "oci:$T/evil:x"
	[ ! -e "$R/layers/.tmp-old1" ]
	[ ! -e "$R/blobs/sha256/.tmp-old2" ]
	[ -e "$R/layers/.tmp-new" ]
	run -0 --separate-stderr edgectl push evil:x st:1
	[ ! -e "$T/store/.edgectl/tmp/0123abcd" ]
	[ -e "$T/store/.edgectl/tmp/4567" ]
}

# ustar header of a file NAME whose size field is SIZE (GNU base-256)
big_header() {
	python3 - "$1" "$2" <<'PY'
import sys
name, size = sys.argv[1].encode(), int(sys.argv[2])
h = bytearray(512)
h[0:len(name)] = name
h[100:108] = b"0000644\0"
h[108:116] = b"0000000\0"
h[116:124] = b"0000000\0"
h[124:136] = b"\x80" + size.to_bytes(11, "big")
h[136:148] = b"00000000000\0"
h[156:157] = b"0"
h[257:263] = b"ustar\0"
h[263:265] = b"00"
h[148:156] = b" " * 8
h[148:156] = b"%06o\0 " % sum(h)
sys.stdout.buffer.write(bytes(h))
PY
}

@test "images import: a tar size near 2^64 (size + padding would wrap) is refused" {
	{
		big_header index.json 18446744073709551615
		head -c 1024 /dev/zero
	} >"$T/wrap.tar"
	run -1 --separate-stderr edgectl images import <"$T/wrap.tar"
	[[ $stderr == *"index.json"*"size"* ]] || { echo "$stderr"; false; }
}

@test "pull: a layer whose size differs from its descriptor is refused as corrupt" {
	hostile_tar "$T/l.tar" "f a"
	evil "$T/evil" "$T/l.tar"
	# grow the descriptor's size of the layer by one byte, keep digests true
	python3 - "$T/evil" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
idx = json.load(open(f"{d}/index.json"))
m = idx["manifests"][0]
b = f"{d}/blobs/sha256/" + m["digest"][7:]
man = json.load(open(b))
man["layers"][0]["size"] += 1
data = json.dumps(man).encode()
h = hashlib.sha256(data).hexdigest()
open(f"{d}/blobs/sha256/{h}", "wb").write(data)
m["digest"], m["size"] = "sha256:" + h, len(data)
json.dump(idx, open(f"{d}/index.json", "w"))
PY
	run -1 --separate-stderr edgectl pull "oci:$T/evil:x"
	[[ $stderr == *"is 10240 bytes but the manifest says 10241"* ]] || { echo "$stderr"; false; }
	[ -z "$(find "$R/layers" -mindepth 1 -maxdepth 1 2>/dev/null)" ]
}

@test "images import: a ref whose descriptor size differs from its manifest is refused" {
	hostile_tar "$T/l.tar" "f a"
	evil "$T/evil" "$T/l.tar"
	# index.json claims one byte more for the manifest than it has
	jq -c '.manifests[0].size += 1' "$T/evil/index.json" >"$T/idx"
	mv "$T/idx" "$T/evil/index.json"
	local size
	size=$(jq '.manifests[0].size' "$T/evil/index.json")
	run -1 --separate-stderr edgectl images import < <(tar -cf - -C "$T/evil" .)
	[[ $stderr == *"is $((size - 1)) bytes but its descriptor says $size"* ]] || { echo "$stderr"; false; }
	run -0 --separate-stderr edgectl --json images
	jq -e 'length == 0' <<<"$output"
}

@test "pull: a zstd layer asking for a 64 MiB window is refused naming the layer; 32 MiB is fine" {
	# libzstd's default cap is 128 MiB per decoder; edgectl's is 32 MiB
	# (klauspost's largest, zstd --ultra -20): issue 17
	hostile_tar "$T/l.tar" "f a"
	rm -rf "$T/evil"
	MKIMAGE_ZSTD=--long=26 tests/lib/mkimage.sh "$T/evil" x zstd "$T/l.tar" >/dev/null
	local layer
	layer=$(jq -r '.layers[0].digest' "$T/evil/blobs/sha256/$(jq -r '.manifests[0].digest[7:]' "$T/evil/index.json")")
	run -1 --separate-stderr edgectl pull "oci:$T/evil:x"
	[[ $stderr == *"$layer"*"window over 32 MiB"*"recompress"* ]] || { echo "$stderr"; false; }
	[ -z "$(find "$R/layers" -mindepth 1 -maxdepth 1 2>/dev/null)" ]
	rm -rf "$T/evil"
	MKIMAGE_ZSTD=--long=25 tests/lib/mkimage.sh "$T/evil" x zstd "$T/l.tar" >/dev/null
	run -0 --separate-stderr edgectl pull --unpack "$T/flat" "oci:$T/evil:x"
	[ -f "$T/flat/a" ]
}

# --- passed before; must stay so ------------------------------------------

# Pull oci:$T/evil:x, expect exit 2 naming $1, nothing outside, no layer.
expect_refused() {
	run -2 --separate-stderr edgectl pull --unpack "$T/flat" "oci:$T/evil:x"
	[[ $stderr == *"$1"* ]] || { echo "message does not name '$1': $stderr"; false; }
	[ ! -e "$T/outside" ]
	[ ! -e "$T/pwned" ]
	[ -z "$(find "$R/layers" -mindepth 1 -maxdepth 1 2>/dev/null)" ]
}

@test "pull: layer entries with '..', an absolute path, a symlink or hardlink out are refused" {
	hostile_tar "$T/a.tar" "f ../../outside"
	evil "$T/evil" "$T/a.tar"
	expect_refused "../../outside"
	hostile_tar "$T/a.tar" "f $T/outside"
	evil "$T/evil" "$T/a.tar"
	expect_refused "$T/outside"
	# a symlink to a directory outside, then a file through it
	hostile_tar "$T/a.tar" "l esc $T" "f esc/pwned"
	evil "$T/evil" "$T/a.tar"
	expect_refused "esc/pwned"
	# a relative symlink climbing out
	hostile_tar "$T/a.tar" "l up ../../.." "f up/pwned"
	evil "$T/evil" "$T/a.tar"
	expect_refused "up/pwned"
	# a symlink as the entry itself, then a write to it
	echo keep >"$T/victim"
	hostile_tar "$T/a.tar" "l v $T/victim" "f v pwned"
	evil "$T/evil" "$T/a.tar"
	run -0 --separate-stderr edgectl pull --unpack "$T/flat2" "oci:$T/evil:x"
	[ "$(cat "$T/victim")" = keep ]
	[ "$(cat "$T/flat2/v")" = pwned ]
	rm -rf "$R"
	hostile_tar "$T/a.tar" "h hl $T/victim"
	evil "$T/evil" "$T/a.tar"
	expect_refused "hl"
	[ "$(cat "$T/victim")" = keep ]
}

@test "images import: a blob whose bytes do not match its name is refused, nothing stored" {
	hostile_tar "$T/l.tar" "f a"
	evil "$T/evil" "$T/l.tar"
	local b
	b=$(find "$T/evil/blobs/sha256" -type f -size +1k | head -n 1)
	echo tampered >>"$b"
	run -1 --separate-stderr edgectl images import < <(tar -cf - -C "$T/evil" .)
	[[ $stderr == *"mismatch"* ]] || { echo "$stderr"; false; }
	[ ! -e "$R/blobs/sha256/$(basename "$b")" ]
	run -0 --separate-stderr edgectl --json images
	jq -e 'length == 0' <<<"$output"
	# a blob named like a path, not a digest
	tar -cf "$T/odd.tar" -C "$T/evil" --transform 's,blobs/sha256/.*,blobs/sha256/../../x,' blobs/sha256
	run -1 --separate-stderr edgectl images import <"$T/odd.tar"
	[ ! -e "$R/../x" ]
	[ ! -e "$T/x" ]
}

@test "pull: a tampered layer (digest mismatch) is refused, nothing installed" {
	hostile_tar "$T/l.tar" "f a"
	evil "$T/evil" "$T/l.tar"
	local b
	b=$(find "$T/evil/blobs/sha256" -type f -size +1k | head -n 1)
	printf 'X' | dd of="$b" bs=1 seek=600 conv=notrunc status=none
	run -1 --separate-stderr edgectl pull "oci:$T/evil:x"
	[[ $stderr == *"mismatch"* ]] || { echo "$stderr"; false; }
	run -0 --separate-stderr edgectl --json images
	jq -e 'length == 0' <<<"$output"
}
