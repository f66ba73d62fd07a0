#!/usr/bin/env bats
# edgectl build: COPY/ADD against hostile contexts (issue 12: nothing is read
# or written outside the context, the stage roots and the layer dir) and
# with docker's meaning (issue 20: directory destinations, symlink sources,
# --chown on created dirs, ADD of tars and of compressed non-tars). Trees
# are checked on the built image: umoci's unpack and GNU tar's listing of
# the layer blob.
bats_require_minimum_version 1.5.0

setup() {
	load ../lib/common
	ec_isolate
	export SOURCE_DATE_EPOCH=1700000000
	CTX="$BATS_TEST_TMPDIR/ctx"
	OUT="$BATS_TEST_TMPDIR/outside"
	mkdir -p "$CTX" "$OUT/dir"
	chmod 0755 "$OUT/dir"
	echo host-secret >"$OUT/dir/secret"
}

# A base image "base:1" with /tmp (1777), /root (0700), /o, users and groups.
base() {
	local b="$BATS_TEST_TMPDIR/base"
	mkdir -p "$b/rootfs/etc" "$b/rootfs/tmp" "$b/rootfs/root" "$b/rootfs/o"
	chmod 1777 "$b/rootfs/tmp"
	chmod 0700 "$b/rootfs/root"
	printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$b/rootfs/etc/passwd"
	printf 'root:x:0:\nstaff:x:50:\napp:x:1000:\n' >"$b/rootfs/etc/group"
	printf 'FROM scratch\nCOPY rootfs/ /\n' >"$b/Dockerfile"
	edgectl -q build -t base:1 "$b" >/dev/null
}

# Unpack image $2 from the root with umoci into $1 (via skopeo: gzip layers).
umoci_unpack() {
	local lay="$BATS_TEST_TMPDIR/gz-layout"
	skopeo copy -q --dest-compress --dest-compress-format gzip "oci:$EDGECTL_ROOT:$2" "oci:$lay:x"
	umoci unpack --image "$lay:x" "$1"
}

# "mode uid/gid path" of every entry of the last layer of image $1.
last_layer() {
	local d
	d=$(skopeo inspect --raw "oci:$EDGECTL_ROOT:$1" | jq -r '.layers[-1].digest' | cut -d: -f2)
	zstd -q -d -c "$EDGECTL_ROOT/blobs/sha256/$d" | tar --numeric-owner -tvf - | awk '{print $1, $2, $6}'
}

# Build $CTX as $1 and print file $2 of the image's tree.
built_file() {
	edgectl -q build -t "$1" "$CTX" >/dev/null
	umoci_unpack "$BATS_TEST_TMPDIR/u-$1" "$1" >/dev/null
	cat "$BATS_TEST_TMPDIR/u-$1/rootfs/$2"
}

# The outside tree is exactly as setup made it.
outside_untouched() {
	[ "$(cd "$OUT" && find . | sort | tr '\n' ' ')" = ". ./dir ./dir/secret " ]
	[ "$(stat -c %a "$OUT/dir")" = 755 ]
}

# --- issue 12: hostile contexts ---

@test "build: a directory meeting a symlink an earlier source copied follows it inside the image, never on the host" {
	mkdir -p "$CTX/a" "$CTX/b/x"
	ln -s "$OUT/dir" "$CTX/a/x"
	echo owned >"$CTX/b/x/pwned"
	chmod 0777 "$CTX/b/x"
	printf 'FROM scratch\nCOPY a b /\n' >"$CTX/Dockerfile"
	edgectl -q build -t h1:1 "$CTX" >/dev/null
	outside_untouched
	# docker's meaning: the link is followed in the image's own tree
	mkdir -p "$CTX/b/y"
	ln -s z "$CTX/a/y"
	echo f >"$CTX/b/y/f"
	edgectl -q build -t h1:1 "$CTX" >/dev/null
	umoci_unpack "$BATS_TEST_TMPDIR/u" h1:1
	r="$BATS_TEST_TMPDIR/u/rootfs"
	[ "$(readlink "$r/x")" = "$OUT/dir" ]
	[ "$(cat "$r$OUT/dir/pwned")" = owned ]
	[ "$(readlink "$r/y")" = z ]
	[ "$(cat "$r/z/f")" = f ]
	outside_untouched
	# a link that never reaches a directory is refused, naming it
	rm "$CTX/a/x" "$CTX/a/y"
	ln -s x "$CTX/a/x"
	run -2 --separate-stderr edgectl build -t h1:2 "$CTX"
	[[ $stderr == *"Dockerfile:2"*"'/x' is a symlink"* ]]
	run -3 edgectl inspect h1:2
}

@test "build: a symlink in a source path resolves inside the context, never to the host" {
	ln -s "$OUT/dir" "$CTX/lnk"
	printf 'FROM scratch\nCOPY lnk/secret /s\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build -t h2:1 "$CTX"
	[[ $stderr == *"Dockerfile:2"*"'lnk/secret' not found in the build context"* ]]
	run -3 edgectl inspect h2:1
	# climbing out with a relative link is clamped at the context root too
	rm "$CTX/lnk"
	ln -s ../../../../../../../.. "$CTX/lnk"
	printf 'FROM scratch\nCOPY lnk%s/dir/secret /s\n' "$OUT" >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build -t h2:1 "$CTX"
	[[ $stderr == *"not found in the build context"* ]]
	# docker's rule: an absolute link means the same path in the context
	rm "$CTX/lnk"
	mkdir -p "$CTX/$OUT/dir"
	echo ctx-file >"$CTX/$OUT/dir/secret"
	ln -s "$OUT/dir" "$CTX/lnk"
	printf 'FROM scratch\nCOPY lnk/secret /s\n' >"$CTX/Dockerfile"
	[ "$(built_file h2:1 s)" = ctx-file ]
	outside_untouched
}

@test "build: a wildcard below a symlinked directory stays inside the context" {
	ln -s "$OUT" "$CTX/lnk"
	printf 'FROM scratch\nCOPY lnk/dir/* /g/\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build -t h3:1 "$CTX"
	[[ $stderr == *"'lnk/dir/*' matches no file in the build context"* ]]
	run -3 edgectl inspect h3:1
}

@test "build: COPY --from resolves a stage's symlinks inside that stage's root" {
	mkdir -p "$CTX/d"
	ln -s / "$CTX/d/rootlink"
	printf 'FROM scratch AS s0\nCOPY d/ /x/\nFROM scratch\nCOPY --from=s0 /x/rootlink%s/dir/secret /s\n' "$OUT" >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build -t h4:1 "$CTX"
	[[ $stderr == *"Dockerfile:4"*"not found in stage 's0'"* ]]
	run -3 edgectl inspect h4:1
	# the link means the stage's own root: its file is taken
	mkdir -p "$CTX/d/etc"
	echo stage-file >"$CTX/d/etc/f"
	printf 'FROM scratch AS s0\nCOPY d/ /x/\nFROM scratch\nCOPY --from=s0 /x/rootlink/x/etc/f /s\n' >"$CTX/Dockerfile"
	[ "$(built_file h4:1 s)" = stage-file ]
	outside_untouched
}

# --- issue 20: docker's meaning ---

@test "build: COPY onto an existing directory of the image puts the file inside it" {
	base
	echo f >"$CTX/f.txt"
	printf 'FROM base:1\nWORKDIR /tmp\nCOPY f.txt .\nCOPY f.txt /root\n' >"$CTX/Dockerfile"
	edgectl -q build -t d1:1 "$CTX" >/dev/null
	umoci_unpack "$BATS_TEST_TMPDIR/u" d1:1
	r="$BATS_TEST_TMPDIR/u/rootfs"
	[ -d "$r/tmp" ]
	[ -d "$r/root" ]
	[ "$(cat "$r/tmp/f.txt")" = f ]
	[ "$(cat "$r/root/f.txt")" = f ]
	# the existing directories keep their mode and owner in the new layers
	[ "$(stat -c %a "$r/tmp")" = 1777 ]
	[ "$(stat -c %a "$r/root")" = 700 ]
	[ "$(last_layer d1:1)" = "drwx------ 0/0 root/
-rw-r--r-- 0/0 root/f.txt" ]
	# a new name is still a file
	printf 'FROM base:1\nCOPY f.txt /o/g\n' >"$CTX/Dockerfile"
	edgectl -q build -t d1:2 "$CTX" >/dev/null
	[[ $(last_layer d1:2) == *"-rw-r--r-- 0/0 o/g" ]]
}

@test "build: a symlink named as a source is followed inside the context; links inside a directory stay links" {
	mkdir -p "$CTX/d"
	echo content >"$CTX/f.txt"
	echo a >"$CTX/d/a"
	ln -s a "$CTX/d/inner"
	ln -s f.txt "$CTX/lnk"
	ln -s d "$CTX/dlink"
	ln -s /d "$CTX/alink"
	printf 'FROM scratch\nCOPY lnk /toplink\nCOPY dlink /dl/\nCOPY alink /al/\nCOPY lnk /dir/\n' >"$CTX/Dockerfile"
	edgectl -q build -t d6:1 "$CTX" >/dev/null
	umoci_unpack "$BATS_TEST_TMPDIR/u" d6:1
	r="$BATS_TEST_TMPDIR/u/rootfs"
	[ -f "$r/toplink" ]
	[ ! -L "$r/toplink" ]
	[ "$(cat "$r/toplink")" = content ]
	[ -f "$r/dl/a" ]
	[ ! -L "$r/dl/a" ]
	[ "$(readlink "$r/dl/inner")" = a ]
	[ "$(cat "$r/al/a")" = a ]
	[ "$(cat "$r/dir/lnk")" = content ]
	[ ! -L "$r/dir/lnk" ]
}

@test "build: COPY --chown owns the directories it creates, not the ones that existed" {
	base
	echo f >"$CTX/f.txt"
	printf 'FROM base:1\nCOPY --chown=app:staff f.txt /o/new/deep/file\n' >"$CTX/Dockerfile"
	edgectl -q build -t d7:1 "$CTX" >/dev/null
	[ "$(last_layer d7:1)" = "drwxr-xr-x 0/0 o/
drwxr-xr-x 1000/50 o/new/
drwxr-xr-x 1000/50 o/new/deep/
-rw-r--r-- 1000/50 o/new/deep/file" ]
}

@test "build: ADD of a local tar keeps the archive's owners, or gives them the --chown owner" {
	ec_require_root
	mkdir -p "$BATS_TEST_TMPDIR/t/inner"
	echo in >"$BATS_TEST_TMPDIR/t/inner/f"
	tar -C "$BATS_TEST_TMPDIR/t" --owner=1234 --group=5678 --numeric-owner -czf "$CTX/a.tar.gz" inner
	printf 'FROM scratch\nADD a.tar.gz /opt/\n' >"$CTX/Dockerfile"
	edgectl -q build -t d8:1 "$CTX" >/dev/null
	run -0 last_layer d8:1
	[[ $output == *" 1234/5678 opt/inner/"* ]]
	[[ $output == *" 1234/5678 opt/inner/f"* ]]
	# with --chown its entries get that owner (BuildKit since v0.23)
	printf 'FROM scratch\nADD --chown=1000:50 a.tar.gz /opt/\n' >"$CTX/Dockerfile"
	edgectl -q build -t d8:2 "$CTX" >/dev/null
	run -0 last_layer d8:2
	[[ $output == *" 1000/50 opt/inner/"* ]]
	[[ $output == *" 1000/50 opt/inner/f"* ]]
}

@test "build: ADD unpacks tars compressed as docker knows them and copies any other file as is" {
	echo plain >"$BATS_TEST_TMPDIR/notes.txt"
	gzip -c "$BATS_TEST_TMPDIR/notes.txt" >"$CTX/notes.txt.gz"
	zstd -q -c "$BATS_TEST_TMPDIR/notes.txt" >"$CTX/notes.txt.zst"
	xz -c "$BATS_TEST_TMPDIR/notes.txt" >"$CTX/notes.txt.xz"
	bzip2 -c "$BATS_TEST_TMPDIR/notes.txt" >"$CTX/notes.txt.bz2"
	# docker does not decompress lz4, nor two layers of compression
	lz4 -q -c "$BATS_TEST_TMPDIR/notes.txt" >"$CTX/notes.txt.lz4"
	mkdir -p "$BATS_TEST_TMPDIR/t/in"
	echo in >"$BATS_TEST_TMPDIR/t/in/f"
	tar -C "$BATS_TEST_TMPDIR/t" -cJf "$CTX/a.tar.xz" in
	tar -C "$BATS_TEST_TMPDIR/t" -cjf "$CTX/a.tar.bz2" in
	tar -C "$BATS_TEST_TMPDIR/t" -cf - in | gzip | gzip >"$CTX/twice.tar.gz.gz"
	printf 'FROM scratch\nADD notes.txt.gz notes.txt.zst notes.txt.xz notes.txt.bz2 notes.txt.lz4 twice.tar.gz.gz /n/\nADD a.tar.xz /xz/\nADD a.tar.bz2 /bz2/\n' >"$CTX/Dockerfile"
	edgectl -q build -t d9:1 "$CTX" >/dev/null
	umoci_unpack "$BATS_TEST_TMPDIR/u" d9:1
	r="$BATS_TEST_TMPDIR/u/rootfs"
	for f in notes.txt.gz notes.txt.zst notes.txt.xz notes.txt.bz2 notes.txt.lz4 twice.tar.gz.gz; do
		cmp "$CTX/$f" "$r/n/$f"
	done
	[ "$(cat "$r/xz/in/f")" = in ]
	[ "$(cat "$r/bz2/in/f")" = in ]
}

@test "build: a destination through the image's symlinks lands where docker puts it, inside the image" {
	local b="$BATS_TEST_TMPDIR/lb"
	mkdir -p "$b/rootfs/run" "$b/rootfs/var" "$b/rootfs/usr/bin"
	ln -s ../run "$b/rootfs/var/run"
	ln -s usr/bin "$b/rootfs/bin"
	ln -s "$OUT/dir" "$b/rootfs/hostlink"
	ln -s ../../../../../../.. "$b/rootfs/var/up"
	printf 'FROM scratch\nCOPY rootfs/ /\n' >"$b/Dockerfile"
	edgectl -q build -t lb:1 "$b" >/dev/null
	echo f >"$CTX/f.txt"
	printf 'FROM lb:1\nCOPY f.txt /var/run/\nCOPY f.txt /bin/tool\nCOPY f.txt /hostlink/\nCOPY f.txt /var/up/escaped\n' >"$CTX/Dockerfile"
	edgectl -q build -t l:1 "$CTX" >/dev/null
	umoci_unpack "$BATS_TEST_TMPDIR/u" l:1
	r="$BATS_TEST_TMPDIR/u/rootfs"
	[ "$(readlink "$r/var/run")" = ../run ]
	[ "$(cat "$r/run/f.txt")" = f ]
	[ "$(readlink "$r/bin")" = usr/bin ]
	[ "$(cat "$r/usr/bin/tool")" = f ]
	[ "$(cat "$r/escaped")" = f ]
	# an absolute link is the image's path, never the host's
	[ "$(cat "$r$OUT/dir/f.txt")" = f ]
	outside_untouched
}

@test "build: COPY --chown reads the image's passwd and group inside the image, never the host's" {
	local b="$BATS_TEST_TMPDIR/pb"
	echo 'evil:x:4242:4242::/:/bin/sh' >"$OUT/dir/secret"
	mkdir -p "$b/rootfs/etc" "$b/rootfs/usr/share"
	ln -s "$OUT/dir/secret" "$b/rootfs/etc/passwd"
	printf 'FROM scratch\nCOPY rootfs/ /\n' >"$b/Dockerfile"
	edgectl -q build -t pb:1 "$b" >/dev/null
	echo f >"$CTX/f.txt"
	printf 'FROM pb:1\nCOPY --chown=evil f.txt /f\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build -t p:1 "$CTX"
	[[ $stderr == *"Dockerfile:2"*"no user 'evil' in the image"* ]]
	# a link inside the image is followed there, as docker does
	rm "$b/rootfs/etc/passwd"
	echo 'app:x:1000:1000::/:/bin/sh' >"$b/rootfs/usr/share/passwd"
	ln -s ../usr/share/passwd "$b/rootfs/etc/passwd"
	edgectl -q build -t pb:1 "$b" >/dev/null
	printf 'FROM pb:1\nCOPY --chown=app f.txt /f\n' >"$CTX/Dockerfile"
	edgectl -q build -t p:1 "$CTX" >/dev/null
	[ "$(last_layer p:1)" = "-rw-r--r-- 1000/1000 f" ]
}

@test "build: a symlink source is no alias around .dockerignore" {
	mkdir -p "$CTX/keys"
	echo secret >"$CTX/keys/id"
	echo code >"$CTX/main.c"
	ln -s keys "$CTX/k"
	ln -s . "$CTX/all"
	printf 'keys\n' >"$CTX/.dockerignore"
	printf 'FROM scratch\nCOPY k/id /id\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build -t di:1 "$CTX"
	[[ $stderr == *"Dockerfile:2"*"'k/id' is excluded by .dockerignore"* ]]
	printf 'FROM scratch\nCOPY all /x/\n' >"$CTX/Dockerfile"
	edgectl -q build -t di:1 "$CTX" >/dev/null
	run -0 last_layer di:1
	[[ $output == *" x/main.c"* ]]
	[[ $output != *"keys/"* ]]
}
