#!/usr/bin/env bats
# edgectl build: Dockerfiles to reproducible OCI images, checked against
# peers nobody here wrote (skopeo, umoci, the zstd CLI, GNU tar).
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	# a busybox base image context, shared by the tests of this file
	export BB="$BATS_FILE_TMPDIR/bb"
	mkdir -p "$BB/rootfs/bin" "$BB/rootfs/etc" "$BB/rootfs/tmp"
	chmod 1777 "$BB/rootfs/tmp"
	cp /bin/busybox "$BB/rootfs/bin/busybox"
	for a in sh echo cat ls mkdir rm touch id sleep true false mv cp ln wc head; do
		ln -s busybox "$BB/rootfs/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$BB/rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' >"$BB/rootfs/etc/group"
	printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n' >"$BB/Dockerfile"
}

setup() {
	load ../lib/common
	ec_isolate
	export SOURCE_DATE_EPOCH=1700000000
	CTX="$BATS_TEST_TMPDIR/ctx"
	mkdir -p "$CTX"
}

# Build the busybox base as bb:1 in the current root.
base() {
	edgectl -q build -t bb:1 "$BB" >/dev/null
}

# Unpack an image from the root with umoci into $1.
# umoci 0.4.7 (Debian 12) cannot read zstd layers: skopeo (which can)
# recompresses to gzip first, so both peers read what edgectl wrote.
umoci_unpack() {
	local lay="$BATS_TEST_TMPDIR/gz-layout"
	skopeo copy -q --dest-compress --dest-compress-format gzip "oci:$EDGECTL_ROOT:$2" "oci:$lay:x"
	umoci unpack --image "$lay:x" "$1"
}

@test "build: FROM scratch + COPY gives a valid OCI image skopeo and umoci read" {
	mkdir -p "$CTX/app/sub"
	echo hello >"$CTX/app/hello.txt"
	echo deep >"$CTX/app/sub/deep.txt"
	ln -s hello.txt "$CTX/app/link"
	printf 'FROM scratch\nCOPY app/ /srv/\nENV A=1 B="two words"\nLABEL org.example.x=y\nWORKDIR /srv\nEXPOSE 80\nCMD ["/bin/true"]\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl --json build -t web:1 "$CTX"
	digest=$(jq -r .digest <<<"$output")
	[[ $digest == sha256:* ]]
	jq -e '.layers == 1 and (.steps | length) == 7' <<<"$output"
	run -0 skopeo inspect --raw "oci:$EDGECTL_ROOT:web:1"
	jq -e '.layers[0].mediaType == "application/vnd.oci.image.layer.v1.tar+zstd"' <<<"$output"
	run -0 skopeo inspect --config "oci:$EDGECTL_ROOT:web:1"
	jq -e '(.config.Env | index("B=two words")) != null and .config.WorkingDir == "/srv" and .config.Labels["org.example.x"] == "y" and .config.ExposedPorts["80/tcp"] != null' <<<"$output"
	run -0 skopeo copy "oci:$EDGECTL_ROOT:web:1" "dir:$BATS_TEST_TMPDIR/dir"
	umoci_unpack "$BATS_TEST_TMPDIR/u" web:1
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/srv/hello.txt")" = hello ]
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/srv/sub/deep.txt")" = deep ]
	[ "$(readlink "$BATS_TEST_TMPDIR/u/rootfs/srv/link")" = hello.txt ]
	run -0 edgectl --json images
	jq -e --arg d "$digest" '.[] | select(.ref == "web:1") | .digest == $d' <<<"$output"
	run -0 edgectl --json inspect web:1
	jq -e '.config.config.Cmd == ["/bin/true"]' <<<"$output"
}

@test "build: zstd layers are independent frames with a seek table the zstd CLI accepts" {
	head -c 3000000 /dev/urandom >"$CTX/big"
	printf 'FROM scratch\nCOPY big /big\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl --json build --frame-size 1M -t z:1 "$CTX"
	layer=$(skopeo inspect --raw "oci:$EDGECTL_ROOT:z:1" | jq -r '.layers[0].digest' | cut -d: -f2)
	blob="$EDGECTL_ROOT/blobs/sha256/$layer"
	zstd -q -t "$blob"
	run -0 zstd -lv "$blob"
	frames=$(sed -n 's/.*# Zstandard Frames: *\([0-9]*\).*/\1/p' <<<"$output")
	skippable=$(sed -n 's/.*# Skippable Frames: *\([0-9]*\).*/\1/p' <<<"$output")
	# 3 MB of input plus tar headers in 1 MiB frames: 3 frames, and the seek table
	[ "$frames" -eq 3 ]
	[ "$skippable" -eq 1 ]
	# the table lists as many frames (footer: u32 count before the 9-byte tail)
	n=$(tail -c 9 "$blob" | head -c 4 | od -An -tu4 | tr -d ' ')
	[ "$n" -eq "$frames" ]
	zstd -q -d -c "$blob" | tar -tf - | grep -qx big
}

@test "build: gzip layers when asked" {
	echo x >"$CTX/f"
	printf 'FROM scratch\nCOPY f /f\n' >"$CTX/Dockerfile"
	edgectl -q build --compression gzip -t g:1 "$CTX" >/dev/null
	run -0 skopeo inspect --raw "oci:$EDGECTL_ROOT:g:1"
	jq -e '.layers[0].mediaType == "application/vnd.oci.image.layer.v1.tar+gzip"' <<<"$output"
	layer=$(jq -r '.layers[0].digest' <<<"$output" | cut -d: -f2)
	gzip -t "$EDGECTL_ROOT/blobs/sha256/$layer"
}

@test "build: the same context twice, second time into an empty root, gives the same digest" {
	mkdir -p "$CTX/d"
	echo a >"$CTX/d/a"
	head -c 100000 /dev/urandom >"$CTX/d/r"
	touch -d @1800000000 "$CTX/d/a" # newer than SOURCE_DATE_EPOCH: clamped
	printf 'FROM scratch\nCOPY d /d\nENV X=1\n' >"$CTX/Dockerfile"
	d1=$(edgectl build -q -t r:1 "$CTX")
	export EDGECTL_ROOT="$BATS_TEST_TMPDIR/root2"
	d2=$(edgectl build -q -t r:1 "$CTX")
	[ -n "$d1" ]
	[ "$d1" = "$d2" ]
	# and a different epoch changes it
	d3=$(SOURCE_DATE_EPOCH=1700000001 edgectl build -q --no-cache -t r:1 "$CTX")
	[ "$d3" != "$d1" ]
}

@test "build: RUN in a container records additions, changes and deletions as whiteouts" {
	ec_require_root
	base
	printf 'FROM bb:1\nRUN mkdir -p /data/gone /data/keep && echo 1 > /data/gone/f && echo k > /data/keep/f && echo old > /etc/motd\nRUN rm -r /data/gone && echo new > /etc/motd && echo added > /data/keep/g && rm /bin/head\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl --json build -t run:1 "$CTX"
	layers=$(skopeo inspect --raw "oci:$EDGECTL_ROOT:run:1" | jq -r '.layers[].digest' | cut -d: -f2)
	last=$(tail -n1 <<<"$layers")
	entries=$(zstd -q -d -c "$EDGECTL_ROOT/blobs/sha256/$last" | tar -tf -)
	grep -qx 'data/.wh.gone' <<<"$entries"
	grep -qx 'bin/.wh.head' <<<"$entries"
	grep -qx 'etc/motd' <<<"$entries"
	grep -qx 'data/keep/g' <<<"$entries"
	umoci_unpack "$BATS_TEST_TMPDIR/u" run:1
	[ ! -e "$BATS_TEST_TMPDIR/u/rootfs/data/gone" ]
	[ ! -e "$BATS_TEST_TMPDIR/u/rootfs/bin/head" ]
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/etc/motd")" = new ]
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/data/keep/f")" = k ]
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/data/keep/g")" = added ]
}

@test "build: RUN sees ENV, ARG, WORKDIR and USER; --build-arg overrides" {
	ec_require_root
	base
	printf 'FROM bb:1\nARG WHO=nobody-default\nENV GREETING=hi\nWORKDIR /work\nRUN echo "$GREETING $WHO $(pwd)" > /work/out\nUSER app\nRUN id -u > /tmp/uid\n' >"$CTX/Dockerfile"
	edgectl -q build --build-arg WHO=tester -t env:1 "$CTX" >/dev/null
	umoci_unpack "$BATS_TEST_TMPDIR/u" env:1
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/work/out")" = "hi tester /work" ]
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/tmp/uid")" = 1000 ]
}

@test "build: multi-stage COPY --from and --target" {
	ec_require_root
	base
	printf 'FROM bb:1 AS builder\nRUN mkdir /out && echo artifact > /out/a\nFROM scratch AS final\nCOPY --from=builder /out/a /a\nFROM bb:1 AS other\nRUN false\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl --json build --target final -t ms:1 "$CTX"
	jq -e '.layers == 1' <<<"$output"
	umoci_unpack "$BATS_TEST_TMPDIR/u" ms:1
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/a")" = artifact ]
}

@test "build: .dockerignore excludes files, with ! exceptions" {
	mkdir -p "$CTX/src" "$CTX/logs"
	echo code >"$CTX/src/main.c"
	echo secret >"$CTX/src/key.pem"
	echo keep >"$CTX/src/public.pem"
	echo log >"$CTX/logs/a.log"
	printf 'logs\n**/*.pem\n!src/public.pem\n' >"$CTX/.dockerignore"
	printf 'FROM scratch\nCOPY . /ctx/\n' >"$CTX/Dockerfile"
	edgectl -q build -t ign:1 "$CTX" >/dev/null
	layer=$(skopeo inspect --raw "oci:$EDGECTL_ROOT:ign:1" | jq -r '.layers[0].digest' | cut -d: -f2)
	entries=$(zstd -q -d -c "$EDGECTL_ROOT/blobs/sha256/$layer" | tar -tf -)
	grep -qx 'ctx/src/main.c' <<<"$entries"
	grep -qx 'ctx/src/public.pem' <<<"$entries"
	! grep -q 'key.pem' <<<"$entries" || false
	! grep -q 'logs' <<<"$entries" || false
	printf 'FROM scratch\nCOPY src/key.pem /k\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build "$CTX"
	[[ $stderr == *"key.pem"*"excluded by .dockerignore"* ]]
}

@test "build: a rebuild reports every step cached and gives the same digest" {
	echo a >"$CTX/a"
	printf 'FROM scratch\nCOPY a /a\nENV X=1\nCOPY a /b\n' >"$CTX/Dockerfile"
	d1=$(edgectl build -q -t c:1 "$CTX")
	run -0 --separate-stderr edgectl --json build -t c:1 "$CTX"
	jq -e --arg d "$d1" '.digest == $d and ([.steps[] | select(.instruction | test("^COPY")) | .cached] == [true, true])' <<<"$output"
	echo changed >"$CTX/a"
	run -0 --separate-stderr edgectl --json build -t c:1 "$CTX"
	jq -e '[.steps[] | select(.instruction | test("^COPY")) | .cached] == [false, false]' <<<"$output"
	run -0 --separate-stderr edgectl --json build --no-cache -t c:1 "$CTX"
	jq -e '[.steps[] | .cached] | all | not' <<<"$output"
}

@test "build: an unknown instruction names file:line" {
	printf 'FROM scratch\n\nFRM x\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build "$CTX"
	[[ $stderr == *"Dockerfile:3"*"FRM"* ]]
}

@test "build: COPY from outside the context is refused" {
	printf 'FROM scratch\nCOPY ../../etc/passwd /p\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build "$CTX"
	[[ $stderr == *"outside the build context"* ]]
}

@test "build: a failing RUN fails the build with its status and output, and tags nothing" {
	ec_require_root
	base
	printf 'FROM bb:1\nRUN echo about to fail; exit 7\n' >"$CTX/Dockerfile"
	run -1 --separate-stderr edgectl build -t bad:1 "$CTX"
	[[ $stderr == *"Dockerfile:2"*"status 7"*"about to fail"* ]]
	run -3 edgectl inspect bad:1
	# nothing left behind: no mounts, no temp dirs, no containers
	! grep -q "$EDGECTL_ROOT" /proc/self/mountinfo || false
	[ -z "$(ls -A "$EDGECTL_ROOT/tmp")" ]
	! crun list 2>/dev/null | grep -q edgectl-build || false
}

@test "build: a missing context is a usage error" {
	run -2 --separate-stderr edgectl build "$BATS_TEST_TMPDIR/nope"
	[[ $stderr == *"not a directory"* ]]
	run -2 --separate-stderr edgectl build "$CTX"
	[[ $stderr == *"no Dockerfile"* ]]
}

@test "build: ADD extracts a local tar archive" {
	mkdir -p "$BATS_TEST_TMPDIR/t/inner"
	echo in >"$BATS_TEST_TMPDIR/t/inner/f"
	tar -C "$BATS_TEST_TMPDIR/t" -czf "$CTX/a.tar.gz" inner
	printf 'FROM scratch\nADD a.tar.gz /opt/\n' >"$CTX/Dockerfile"
	edgectl -q build -t add:1 "$CTX" >/dev/null
	umoci_unpack "$BATS_TEST_TMPDIR/u" add:1
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/opt/inner/f")" = in ]
}

@test "build: Ctrl-C during a RUN leaves no mounts, containers, temp blobs or tag" {
	ec_require_root
	base
	printf 'FROM bb:1\nRUN echo started; sleep 60\n' >"$CTX/Dockerfile"
	edgectl build -t int:1 "$CTX" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	local pid=$! i st=0
	for i in $(seq 1 100); do
		grep -q started "$BATS_TEST_TMPDIR/out" && break
		sleep 0.1
	done
	grep -q started "$BATS_TEST_TMPDIR/out" || { cat "$BATS_TEST_TMPDIR/out"; kill -9 "$pid"; false; }
	kill -INT "$pid"
	wait "$pid" || st=$?
	cat "$BATS_TEST_TMPDIR/out"
	[ "$st" = 130 ] || { echo "exit $st, want 130"; false; }
	run -3 edgectl inspect int:1
	! grep -q "$EDGECTL_ROOT" /proc/self/mountinfo || false
	[ -z "$(ls -A "$EDGECTL_ROOT/tmp" 2>/dev/null)" ]
	[ -z "$(find "$EDGECTL_ROOT/blobs" -name '.tmp-*')" ]
	# this build's container is gone (crun's list is machine-wide: other
	# builds running at the same time have theirs); and none of this root
	local id
	id=$(grep -o "edgectl-build-[0-9a-f]*" "$BATS_TEST_TMPDIR/out" | head -1)
	[ -n "$id" ]
	! crun list 2>/dev/null | grep -q -e "$id" -e "$EDGECTL_ROOT/" || false
}

@test "build: a FIFO as the Dockerfile is refused at once, not read forever" {
	mkfifo "$CTX/Dockerfile"
	run -2 --separate-stderr timeout 20 edgectl build "$CTX"
	[[ $stderr == *"'$CTX/Dockerfile' is not a regular file"* ]]
	mkfifo "$BATS_TEST_TMPDIR/df"
	run -2 --separate-stderr timeout 20 edgectl build -f "$BATS_TEST_TMPDIR/df" "$CTX"
	[[ $stderr == *"is not a regular file"* ]]
	rm "$CTX/Dockerfile"
	printf 'FROM scratch\n' >"$CTX/Dockerfile"
	mkfifo "$CTX/.dockerignore"
	run -2 --separate-stderr timeout 20 edgectl build "$CTX"
	[[ $stderr == *".dockerignore"*"is not a regular file"* ]]
}

@test "build: a bad -t name is refused before any step runs" {
	printf 'FROM scratch\nCOPY f /f\n' >"$CTX/Dockerfile"
	echo x >"$CTX/f"
	run -2 --separate-stderr edgectl build -t 'Bad Name!' "$CTX"
	[[ $stderr == *"-t 'Bad Name!'"* ]]
	[[ $stderr != *"[1/2]"* ]]
	[ ! -e "$EDGECTL_ROOT/layers" ] || [ -z "$(ls -A "$EDGECTL_ROOT/layers")" ]
	run -2 --separate-stderr edgectl build -t ok:1 -t 'web@sha256:0123' "$CTX"
	[[ $stderr == *"-t 'web@sha256:0123'"* ]]
	run -3 edgectl inspect ok:1
}

@test "build: STOPSIGNAL, EXPOSE ranges, ENV same-line rule, ENTRYPOINT keeps this stage's CMD, default PATH" {
	printf 'FROM scratch\nENV A=1\nENV A=2 E=$A F=${A}x\nEXPOSE 8080-8081 9000-9001/udp 53/UDP\nSTOPSIGNAL sigrtmin+3\nCMD ["c"]\nENTRYPOINT ["e"]\nWORKDIR /a\nWORKDIR b\nWORKDIR ../c/./d\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl build -t m:1 "$CTX"
	run -0 edgectl --json inspect m:1
	jq -e '.config.config | .Env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=2","E=1","F=1x"]
		and (.ExposedPorts | keys) == ["53/udp","8080/tcp","8081/tcp","9000/udp","9001/udp"]
		and .StopSignal == "sigrtmin+3" and .Cmd == ["c"] and .Entrypoint == ["e"]
		and .WorkingDir == "/a/c/d"' <<<"$output"
	printf 'FROM m:1\nENTRYPOINT ["e2"]\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl build -t m:2 "$CTX"
	run -0 edgectl --json inspect m:2
	jq -e '.config.config | has("Cmd") | not' <<<"$output"
	printf 'FROM scratch\n\nSTOPSIGNAL NOPE\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build "$CTX"
	[[ $stderr == *"Dockerfile:3: STOPSIGNAL: invalid signal 'NOPE'"* ]]
	printf 'FROM scratch\nEXPOSE 80-70\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build "$CTX"
	[[ $stderr == *"Dockerfile:2: EXPOSE '80-70'"* ]]
}

@test "build: WORKDIR creates its directory (as the USER), keeps existing parents; RUN leaves no /dev /proc /sys" {
	ec_require_root
	base
	printf 'FROM bb:1\nUSER app\nWORKDIR /tmp/new/deep\nUSER root\nWORKDIR /\nWORKDIR x/y\nRUN ["/bin/true"]\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl build -t wd:1 "$CTX"
	umoci_unpack "$BATS_TEST_TMPDIR/u" wd:1
	r="$BATS_TEST_TMPDIR/u/rootfs"
	[ "$(stat -c '%a %u:%g' "$r/tmp")" = "1777 0:0" ]
	[ "$(stat -c '%a %u:%g' "$r/tmp/new")" = "755 1000:1000" ]
	[ "$(stat -c '%a %u:%g' "$r/tmp/new/deep")" = "755 1000:1000" ]
	[ "$(stat -c '%a %u:%g' "$r/x/y")" = "755 0:0" ]
	[ ! -e "$r/dev" ]
	[ ! -e "$r/proc" ]
	[ ! -e "$r/sys" ]
	run -0 edgectl --json inspect wd:1
	jq -e '.config.config.WorkingDir == "/x/y"' <<<"$output"
}

@test "build: ONBUILD is recorded, fires in the child build only, and COPY --from takes an image" {
	ec_require_root
	base
	echo hi >"$CTX/f.txt"
	printf 'FROM bb:1\nONBUILD COPY f.txt /o/\nonbuild run echo fired >/fired\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl build -t ob:1 "$CTX"
	run -0 edgectl --json inspect ob:1
	jq -e '.config.config.OnBuild == ["COPY f.txt /o/","run echo fired >/fired"]' <<<"$output"
	printf 'FROM ob:1\nCOPY --from=bb:1 /etc/passwd /pw\n' >"$CTX/Dockerfile"
	run -0 --separate-stderr edgectl build -t ob:2 "$CTX"
	run -0 edgectl --json inspect ob:2
	jq -e '.config.config | has("OnBuild") | not' <<<"$output"
	umoci_unpack "$BATS_TEST_TMPDIR/u" ob:2
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/o/f.txt")" = hi ]
	[ "$(cat "$BATS_TEST_TMPDIR/u/rootfs/fired")" = fired ]
	cmp "$BB/rootfs/etc/passwd" "$BATS_TEST_TMPDIR/u/rootfs/pw"
	printf 'FROM bb:1\nONBUILD FROM x\n' >"$CTX/Dockerfile"
	run -2 --separate-stderr edgectl build "$CTX"
	[[ $stderr == *"Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"* ]]
	printf 'FROM bb:1\nCOPY --from=nosuch:1 /a /b\n' >"$CTX/Dockerfile"
	run -3 --separate-stderr edgectl build "$CTX"
	[[ $stderr == *"COPY --from=nosuch:1"* ]]
}
