#!/usr/bin/env bats
# edgectl build against Docker itself: every case is built by a private
# dockerd (Debian's docker.io 20.10) with the legacy builder and with
# BuildKit, and by edgectl, from the same context; the merged trees (path,
# type, mode, uid:gid, link target, content) and the configs (Env, Cmd,
# Entrypoint, WorkingDir, User, ExposedPorts, Labels, StopSignal,
# Healthcheck, Volumes, Shell, OnBuild) are compared live: no saved
# expectations. Base images are made here (a busybox rootfs imported with
# `docker import`, handed to edgectl through docker save -> skopeo -> oci:).
#
# Where Docker's two builders disagree, a case compares with BuildKit only
# (TREE=bk / CONFIG=bk, the reason beside it); edgectl-build(1) documents
# each such choice. The "issue 20 #N" in a name is the item it checks.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/busybox
	load ../lib/docker
	docker_setup_file || return 1
	[ -n "${DOCKER_MISSING:-}" ] && return 0
	export BASES="$BATS_FILE_TMPDIR/bases" ROOT_ALL="$BATS_FILE_TMPDIR/root"
	local bb="$BATS_FILE_TMPDIR/bb" nd="$BATS_FILE_TMPDIR/nodev"
	# bb:1 - busybox, users root/app, groups root/staff/app, /root 0700
	busybox_rootfs "$bb" || return 1
	chmod 700 "$bb/root"
	echo 'app:x:1000:1000::/home/app:/bin/sh' >>"$bb/etc/passwd"
	printf 'staff:x:50:\napp:x:1000:\n' >>"$bb/etc/group"
	tar --numeric-owner -C "$bb" -cf "$BATS_FILE_TMPDIR/bb.tar" . || return 1
	# nodev:1 - the same without /dev /proc /sys (RUN mount points)
	mkdir -p "$nd" && cp -a "$bb/." "$nd/" && rmdir "$nd/dev" "$nd/proc" "$nd/sys"
	tar --numeric-owner -C "$nd" -cf "$BATS_FILE_TMPDIR/nodev.tar" . || return 1
	"$DOCKER" import "$BATS_FILE_TMPDIR/bb.tar" bb:1 >/dev/null || return 1
	"$DOCKER" import "$BATS_FILE_TMPDIR/nodev.tar" nodev:1 >/dev/null || return 1
	docker_to_oci bb:1 "$BASES" bb || return 1
	docker_to_oci nodev:1 "$BASES" nodev || return 1
	EDGECTL_ROOT=$ROOT_ALL edgectl -q pull -t bb:1 "oci:$BASES:bb" >/dev/null || return 1
	EDGECTL_ROOT=$ROOT_ALL edgectl -q pull -t nodev:1 "oci:$BASES:nodev" >/dev/null || return 1
	# BuildKit must work offline here (it does with --network=none)
	mkdir -p "$BATS_FILE_TMPDIR/probe"
	printf 'FROM bb:1\nRUN echo ok >/ok\n' >"$BATS_FILE_TMPDIR/probe/Dockerfile"
	DOCKER_BUILDKIT=1 "$DOCKER" build --network=none -q "$BATS_FILE_TMPDIR/probe" >/dev/null 2>"$BATS_FILE_TMPDIR/probe.err" || {
		echo "BuildKit does not build offline here:" >&2
		cat "$BATS_FILE_TMPDIR/probe.err" >&2
		return 1
	}
}

teardown_file() {
	load ../lib/docker
	docker_stop
}

setup() {
	load ../lib/common
	load ../lib/docker
	ec_isolate
	docker_require
	export EDGECTL_ROOT=$ROOT_ALL
	CTX="$BATS_TEST_TMPDIR/ctx"
	OUT="$BATS_TEST_TMPDIR/out"
	mkdir -p "$OUT"
	std_context "$CTX"
	# one tag per test
	NAME="c$BATS_TEST_NUMBER"
}

# The context every case gets: files, a directory with a link inside, a link
# to a file, a link to a directory, tar archives (one with owners), a
# compressed file that is not a tar.
std_context() {
	local c=$1 t="$BATS_TEST_TMPDIR/tarsrc"
	mkdir -p "$c/dir/sub" "$c/pkg" "$t/arch/in"
	echo hello >"$c/f.txt"
	echo other >"$c/g.txt"
	printf '#!/bin/sh\necho run\n' >"$c/run.sh"
	echo '{"name":"x"}' >"$c/pkg/package.json"
	echo a >"$c/dir/a.txt"
	echo b >"$c/dir/sub/b.txt"
	ln -s a.txt "$c/dir/link"
	ln -s f.txt "$c/lnk"
	ln -s dir "$c/dlink"
	chmod 644 "$c/f.txt" "$c/g.txt" "$c/pkg/package.json" "$c/dir/a.txt" "$c/dir/sub/b.txt"
	chmod 755 "$c/run.sh" "$c/dir" "$c/dir/sub" "$c/pkg"
	echo owned >"$t/arch/in/o.txt"
	echo top >"$t/arch/top.txt"
	chmod 640 "$t/arch/in/o.txt"
	chmod 750 "$t/arch/in"
	tar --owner=1234 --group=5678 --numeric-owner -C "$t/arch" -cf "$c/arch.tar" in top.txt
	tar --owner=42 --group=43 --numeric-owner -C "$t/arch" -czf "$c/arch.tar.gz" in top.txt
	gzip -c "$c/f.txt" >"$c/f.txt.gz"
	chmod 644 "$c/arch.tar" "$c/arch.tar.gz" "$c/f.txt.gz"
}

# The Dockerfile of the case, from stdin.
df() {
	cat >"$CTX/Dockerfile"
}

# unpack_tree LAYOUT TAG NAME: merged tree and listing of one image.
unpack_tree() {
	umoci unpack --image "$1:$2" "$OUT/$3.bundle" >/dev/null || return 1
	tree_list "$OUT/$3.bundle/rootfs" >"$OUT/$3.tree"
}

# The contents of the regular files whose hashes differ (small ones).
content_diff() {
	local p
	awk -F'\t' '/^[-+][^-+]/ && $2 == "f" { print substr($1, 2) }' "$OUT/$1.tree.diff" |
		sort -u | head -5 | while read -r p; do
		[ -f "$OUT/$1.bundle/rootfs/$p" ] && [ -f "$OUT/e.bundle/rootfs/$p" ] || continue
		echo "content of /$p [-docker +edgectl]:"
		diff <(head -c 2000 "$OUT/$1.bundle/rootfs/$p") <(head -c 2000 "$OUT/e.bundle/rootfs/$p")
	done
}

# Build the case with edgectl; then with each docker builder in $BUILDERS
# (default: BuildKit and the legacy builder) and compare trees and
# configs. TREE / CONFIG (default $BUILDERS) say which builders the tree and
# the config must agree with; extra arguments go to every build.
conform() {
	local builders=${BUILDERS:-bk legacy} tree=${TREE:-${BUILDERS:-bk legacy}}
	local config=${CONFIG:-${BUILDERS:-bk legacy}} b rc=0
	rm -rf "$OUT" && mkdir -p "$OUT"
	run --separate-stderr edgectl -q build -t "$NAME:e" "$@" "$CTX"
	[ "$status" = 0 ] || {
		echo "edgectl build failed ($status): $stderr" >&2
		return 1
	}
	skopeo copy -q --dest-compress-format gzip "oci:$EDGECTL_ROOT:$NAME:e" "oci:$OUT/lay:e"
	unpack_tree "$OUT/lay" e e
	edgectl --json inspect "$NAME:e" | jq .config.config | config_norm >"$OUT/e.config"
	for b in $builders; do
		run --separate-stderr env DOCKER_BUILDKIT=$([ "$b" = bk ] && echo 1 || echo 0) \
			"$DOCKER" build --network=none -q -t "$NAME:$b" "$@" "$CTX"
		[ "$status" = 0 ] || {
			echo "docker build ($b) failed ($status): $stderr" >&2
			return 1
		}
		docker_to_oci "$NAME:$b" "$OUT/lay" "$b"
		unpack_tree "$OUT/lay" "$b" "$b"
		"$DOCKER" image inspect "$NAME:$b" --format '{{json .Config}}' | config_norm >"$OUT/$b.config"
	done
	for b in $tree; do
		if ! diff -u "$OUT/$b.tree" "$OUT/e.tree" >"$OUT/$b.tree.diff"; then
			echo "tree differs from docker ($b) [-docker +edgectl]:" >&2
			cat "$OUT/$b.tree.diff" >&2
			content_diff "$b" >&2
			rc=1
		fi
	done
	for b in $config; do
		if ! diff -u "$OUT/$b.config" "$OUT/e.config" >"$OUT/$b.config.diff"; then
			echo "config differs from docker ($b) [-docker +edgectl]:" >&2
			cat "$OUT/$b.config.diff" >&2
			rc=1
		fi
	done
	return $rc
}

# The case must fail everywhere: edgectl with exit 2 and a message holding
# $1 (the line number), both docker builders with an error.
conform_fail() {
	local want=$1 b
	shift
	run -2 --separate-stderr edgectl -q build -t "$NAME:e" "$@" "$CTX"
	[[ $stderr == *"$want"* ]] || {
		echo "edgectl's message lacks '$want': $stderr" >&2
		return 1
	}
	for b in 1 0; do
		run --separate-stderr env DOCKER_BUILDKIT=$b "$DOCKER" build --network=none -q "$@" "$CTX"
		[ "$status" -ne 0 ] || {
			echo "docker (DOCKER_BUILDKIT=$b) built it" >&2
			return 1
		}
	done
}

# --- issue 20, item by item ---------------------------------------------

@test "docker: WORKDIR /tmp + COPY f.txt . writes into the directory (issue 20 #1)" {
	df <<-'EOF'
		FROM bb:1
		WORKDIR /tmp
		COPY f.txt .
	EOF
	conform
}

@test "docker: COPY f.txt /root onto an existing directory (issue 20 #1)" {
	df <<-'EOF'
		FROM bb:1
		COPY f.txt /root
	EOF
	conform
}

@test "docker: WORKDIR /app + COPY package.json . (issue 20 #1)" {
	df <<-'EOF'
		FROM bb:1
		WORKDIR /app
		COPY pkg/package.json .
		RUN ls -l /app/package.json
	EOF
	conform
}

@test "docker: WORKDIR creates its directory with nothing written there (issue 20 #2)" {
	df <<-'EOF'
		FROM bb:1
		WORKDIR /newdir/deeper
	EOF
	conform
}

@test "docker: WORKDIR under USER app makes it app's (issue 20 #2, BuildKit's rule)" {
	df <<-'EOF'
		FROM bb:1
		USER app
		WORKDIR /home/app/work
		USER root
	EOF
	# the legacy builder makes it root's; BuildKit the current USER's
	TREE=bk conform
}

@test "docker: WORKDIR / then WORKDIR x/y is /x/y (issue 20 #2)" {
	df <<-'EOF'
		FROM bb:1
		WORKDIR /
		WORKDIR x/y
	EOF
	conform
}

@test "docker: WORKDIR paths are cleaned (issue 20 #3)" {
	df <<-'EOF'
		FROM bb:1
		WORKDIR /a
		WORKDIR b
		WORKDIR ../c/./d
		WORKDIR /e/../f/./g/
	EOF
	conform
}

@test "docker: ENV expands with the values from before the instruction (issue 20 #4)" {
	df <<-'EOF'
		FROM bb:1
		ENV A=1
		ENV A=2 E=$A F=${A}x
		ENV G="$A $E"
		LABEL l1=$A l2="${F}-y"
	EOF
	conform
}

@test "docker: ENTRYPOINT keeps a CMD set in the same stage (issue 20 #5)" {
	df <<-'EOF'
		FROM bb:1
		CMD ["a"]
		ENTRYPOINT ["b"]
	EOF
	conform
}

@test "docker: ENTRYPOINT resets a CMD inherited from the base (issue 20 #5)" {
	df <<-'EOF'
		FROM bb:1 AS base
		CMD ["from-base"]
		FROM base
		ENTRYPOINT ["/bin/echo"]
	EOF
	conform
}

@test "docker: COPY of a symlink to a file copies the file (issue 20 #6)" {
	df <<-'EOF'
		FROM bb:1
		COPY lnk /toplink
	EOF
	conform
}

@test "docker: COPY of a symlink to a directory copies its contents (issue 20 #6)" {
	df <<-'EOF'
		FROM bb:1
		COPY dlink /dl/
	EOF
	conform
}

@test "docker: links inside a copied directory stay links (issue 20 #6)" {
	df <<-'EOF'
		FROM bb:1
		COPY dir /d2/
	EOF
	conform
}

@test "docker: COPY --chown owns the directories it creates (issue 20 #7)" {
	df <<-'EOF'
		FROM bb:1
		COPY --chown=app:staff f.txt /o/new/deep/file
		COPY --chown=1000:50 dir /own/
	EOF
	conform
}

@test "docker: ADD of a local tar keeps the archive's owners (issue 20 #8)" {
	df <<-'EOF'
		FROM bb:1
		ADD arch.tar /x/
		ADD arch.tar.gz /y/
	EOF
	conform
}

@test "docker: ADD of a compressed file that is not a tar copies it as is (issue 20 #9)" {
	df <<-'EOF'
		FROM bb:1
		ADD f.txt.gz /z/
	EOF
	conform
}

@test "docker: EXPOSE port ranges record each port (issue 20 #10)" {
	df <<-'EOF'
		FROM bb:1
		EXPOSE 8080-8081 9000-9001/udp 53/UDP 80
		EXPOSE 443/tcp
	EOF
	conform
}

@test "docker: COPY --from=IMAGE takes an image that is no stage (issue 20 #11)" {
	df <<-'EOF'
		FROM bb:1 AS first
		RUN echo stage >/s
		FROM scratch
		COPY --from=bb:1 /etc/passwd /pw
		COPY --from=first /s /s
	EOF
	# WorkingDir: BuildKit starts scratch at "/", the legacy builder at ""
	CONFIG=bk conform
}

@test "docker: a base without PATH gets the default PATH (issue 20 #12)" {
	df <<-'EOF'
		FROM bb:1
		RUN echo "$PATH" >/path
	EOF
	conform
}

@test "docker: FROM scratch gets the default PATH (issue 20 #12)" {
	df <<-'EOF'
		FROM scratch
		ENV X=1
		COPY f.txt /
	EOF
	# WorkingDir: BuildKit starts scratch at "/", the legacy builder at ""
	CONFIG=bk conform
}

@test "docker: RUN leaves no /dev /proc /sys mount points (issue 20 #13)" {
	df <<-'EOF'
		FROM nodev:1
		RUN touch /x
	EOF
	# BuildKit keeps an empty /dev (0755); the legacy builder and the issue:
	# nothing
	TREE=legacy conform
}

@test "docker: STOPSIGNAL NOPE fails with the line number (issue 20 #14)" {
	df <<-'EOF'
		FROM bb:1

		STOPSIGNAL NOPE
	EOF
	conform_fail "Dockerfile:3: STOPSIGNAL: invalid signal 'NOPE'"
}

@test "docker: STOPSIGNAL names and numbers are recorded as written (issue 20 #14)" {
	df <<-'EOF'
		FROM bb:1
		ARG S=sigrtmin+3
		STOPSIGNAL kill
		STOPSIGNAL $S
	EOF
	conform
}

@test "docker: ONBUILD is recorded as written (issue 20 #15)" {
	df <<-'EOF'
		FROM bb:1
		ONBUILD run   echo  fired \
		  >/fired
		onbuild COPY f.txt /o/
	EOF
	conform
}

@test "docker: ONBUILD triggers fire in the child image, once (issue 20 #15)" {
	df <<-'EOF'
		FROM bb:1
		ONBUILD RUN echo fired >/fired
		ONBUILD COPY f.txt /o/
		ONBUILD ENV FROM_TRIGGER=1
	EOF
	local b
	for b in e bk legacy; do
		if [ "$b" = e ]; then
			# edgectl's parent under each name a child is built with
			run -0 --separate-stderr edgectl -q build -t "$NAME-parent:bk" \
				-t "$NAME-parent:legacy" "$CTX"
		else
			run -0 --separate-stderr env DOCKER_BUILDKIT=$([ "$b" = bk ] && echo 1 || echo 0) \
				"$DOCKER" build --network=none -q -t "$NAME-parent:$b" "$CTX"
		fi
	done
	df <<-'EOF'
		ARG PARENT
		FROM $PARENT
		RUN test -f /fired
	EOF
	# each builder's child is built on its own parent
	mv "$CTX/Dockerfile" "$BATS_TEST_TMPDIR/child"
	for b in bk legacy; do
		cp "$BATS_TEST_TMPDIR/child" "$CTX/Dockerfile"
		BUILDERS=$b conform --build-arg PARENT="$NAME-parent:$b"
	done
}

# --- more of what users write ---------------------------------------------

@test "docker: COPY . copies the context, .dockerignore with ! exceptions" {
	printf 'g.txt\n*.gz\n!f.txt.gz\ndir/sub\n' >"$CTX/.dockerignore"
	df <<-'EOF'
		FROM bb:1
		COPY . /ctx/
	EOF
	conform
}

@test "docker: COPY of several sources and a wildcard into a directory" {
	df <<-'EOF'
		FROM bb:1
		COPY f.txt g.txt /two/
		COPY *.txt /glob/
		COPY dir/sub/b.txt run.sh /mixed/
	EOF
	conform
}

@test "docker: COPY to a new file name and into an existing dir with a slash" {
	df <<-'EOF'
		FROM bb:1
		COPY f.txt /newname
		COPY f.txt /tmp/
		COPY run.sh /usr/bin/
	EOF
	conform
}

@test "docker: COPY --chmod (BuildKit only)" {
	df <<-'EOF'
		FROM bb:1
		COPY --chmod=640 f.txt /m
		COPY --chmod=755 dir /md/
	EOF
	# the legacy builder refuses --chmod
	BUILDERS=bk conform
}

@test "docker: ADD --chown of a directory" {
	df <<-'EOF'
		FROM bb:1
		ADD --chown=1:2 dir /own/
	EOF
	conform
}

@test "docker: RUN additions, changes and deletions (whiteouts)" {
	df <<-'EOF'
		FROM bb:1
		RUN rm /usr/bin/env && mkdir -p /r/s && echo x >/r/s/y && chmod 600 /r/s/y
		RUN rm -r /r/s && echo z >/r/z && ln -s z /r/zl && chown 1000:50 /r/z
	EOF
	conform
}

@test "docker: RUN sees ENV, ARG, WORKDIR and USER" {
	df <<-'EOF'
		FROM bb:1
		ARG V=argval
		ENV E=envval
		WORKDIR /tmp/w
		USER app
		WORKDIR /tmp
		RUN echo "$V $E $(pwd) $(id -u)" >/tmp/seen
	EOF
	conform
}

@test "docker: SHELL changes the shell of RUN, CMD and ENTRYPOINT" {
	df <<-'EOF'
		FROM bb:1
		SHELL ["/bin/sh", "-ec"]
		RUN echo shell >/sh
		CMD echo cmd
		ENTRYPOINT echo ep
	EOF
	conform
}

@test "docker: CMD and ENTRYPOINT in shell and exec form" {
	df <<-'EOF'
		FROM bb:1
		ENTRYPOINT /bin/echo "a b"
		CMD ["x", "y z"]
	EOF
	conform
}

@test "docker: ENV and LABEL, both forms, quotes and escapes" {
	df <<-'EOF'
		FROM bb:1
		ENV OLD some value here
		ENV Q="two words" R='single $Q' S=a\ b
		LABEL a=1 "b c"="d e" org.example.x=y
		LABEL multi="1" \
		      more=2
	EOF
	conform
}

@test "docker: ARG before FROM, ARG defaults and --build-arg" {
	df <<-'EOF'
		ARG BASE=bb:1
		FROM $BASE
		ARG X=default
		ARG Y
		ENV X=$X Y=${Y:-unset}
	EOF
	conform --build-arg Y=given
}

@test "docker: WORKDIR from a variable, relative COPY and RUN there" {
	df <<-'EOF'
		FROM bb:1
		ENV D=/srv
		WORKDIR $D/app
		COPY f.txt ./sub/
		RUN echo here >rel.txt
	EOF
	conform
}

@test "docker: USER name:group and uid" {
	df <<-'EOF'
		FROM bb:1
		USER app:staff
		RUN id -u -n >/tmp/id && id -g -n >>/tmp/id
		USER 1000
	EOF
	conform
}

@test "docker: HEALTHCHECK CMD with options" {
	df <<-'EOF'
		FROM bb:1
		HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --retries=3 CMD wget -q localhost || exit 1
	EOF
	conform
}

@test "docker: HEALTHCHECK exec form" {
	df <<-'EOF'
		FROM bb:1
		HEALTHCHECK CMD ["/bin/true"]
	EOF
	conform
}

@test "docker: HEALTHCHECK NONE" {
	df <<-'EOF'
		FROM bb:1
		HEALTHCHECK NONE
	EOF
	conform
}

@test "docker: HEALTHCHECK NONE over a base's healthcheck, flags kept apart" {
	df <<-'EOF'
		FROM bb:1 AS base
		HEALTHCHECK --interval=5s --retries=2 CMD true
		FROM base
		HEALTHCHECK NONE
	EOF
	# the legacy builder keeps the base's Interval and Retries beside
	# Test ["NONE"]; BuildKit replaces the whole healthcheck
	CONFIG=bk conform
}

@test "docker: VOLUME in JSON and plain form" {
	df <<-'EOF'
		FROM bb:1
		VOLUME ["/data"]
		VOLUME /a /b
	EOF
	conform
}

@test "docker: multi-stage COPY --from and --target" {
	df <<-'EOF'
		FROM bb:1 AS build
		RUN mkdir /out && echo built >/out/bin
		FROM bb:1 AS final
		COPY --from=build /out /app
		FROM bb:1 AS other
		RUN echo never >/never
	EOF
	conform --target final
}

@test "docker: MAINTAINER, EXPOSE with a variable, STOPSIGNAL number" {
	df <<-'EOF'
		FROM bb:1
		MAINTAINER someone
		ARG P=7000
		EXPOSE $P ${P}/udp
		STOPSIGNAL 9
	EOF
	conform
}

@test "docker: EXPOSE with a reversed range fails" {
	df <<-'EOF'
		FROM bb:1
		EXPOSE 80-70
	EOF
	conform_fail "Dockerfile:2: EXPOSE '80-70'"
}

@test "docker: an unknown instruction fails with its line" {
	df <<-'EOF'
		FROM bb:1
		RUN true
		FRM x
	EOF
	conform_fail "Dockerfile:3"
}

@test "docker: ONBUILD FROM is refused" {
	df <<-'EOF'
		FROM bb:1
		ONBUILD FROM bb:1
	EOF
	conform_fail "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"
}

# --- where Docker's two builders disagree -----------------------------------

@test "docker: RUN under a VOLUME keeps its changes (BuildKit's rule)" {
	df <<-'EOF'
		FROM bb:1
		VOLUME /data
		RUN mkdir -p /data && echo x >/data/f
	EOF
	# the legacy builder drops what RUN writes below a declared volume
	TREE=bk conform
}

@test "docker: a later ARG does not override an earlier ENV of the same name" {
	df <<-'EOF'
		FROM bb:1
		ENV X=env
		ARG X=arg
		RUN echo "$X" >/x
		LABEL x=$X
	EOF
	# BuildKit lets the ARG (cli) win in RUN's environment and (not in
	# every run) in the LABEL's expansion; the Dockerfile reference ("ENV
	# always overrides an ARG of the same name") and the legacy builder: env
	TREE=legacy CONFIG=legacy conform --build-arg X=cli
}

@test "docker: ONBUILD triggers of an earlier stage fire in a stage built FROM it" {
	df <<-'EOF'
		FROM bb:1 AS base
		ONBUILD RUN echo fired >/fired
		FROM base
		RUN echo child >/child
	EOF
	conform
}

# --- more edges -----------------------------------------------------------

@test "docker: COPY keeps modes, setuid and sticky bits, and empty directories" {
	mkdir -p "$CTX/modes/empty" "$CTX/modes/sticky"
	echo s >"$CTX/modes/suid"
	echo p >"$CTX/modes/private"
	chmod 4755 "$CTX/modes/suid"
	chmod 600 "$CTX/modes/private"
	chmod 1777 "$CTX/modes/sticky"
	chmod 700 "$CTX/modes/empty"
	df <<-'EOF'
		FROM bb:1
		COPY modes /modes/
	EOF
	# the legacy builder drops the setuid bit; BuildKit keeps it
	TREE=bk conform
}

@test "docker: WORKDIR as a numeric USER that is not in /etc/passwd" {
	df <<-'EOF'
		FROM bb:1
		USER 4242:4343
		WORKDIR /numeric/dir
	EOF
	# the legacy builder makes it root's
	TREE=bk conform
}

@test "docker: ENTRYPOINT [] and CMD [] clear what the base set" {
	df <<-'EOF'
		FROM bb:1 AS base
		ENTRYPOINT ["/bin/echo"]
		CMD ["hi"]
		FROM base
		ENTRYPOINT []
		CMD []
	EOF
	# BuildKit's image has neither; the legacy builder's has "Cmd": []
	CONFIG=bk conform
}

@test "docker: ADD extracts xz and bzip2 tar archives" {
	local t="$BATS_TEST_TMPDIR/tarsrc/arch"
	tar --owner=7 --group=8 --numeric-owner -C "$t" -cJf "$CTX/a.tar.xz" in top.txt
	tar --owner=7 --group=8 --numeric-owner -C "$t" -cjf "$CTX/a.tar.bz2" in top.txt
	df <<-'EOF'
		FROM bb:1
		ADD a.tar.xz /xz/
		ADD a.tar.bz2 /bz2/
	EOF
	conform
}

@test "docker: ARG in FROM names a stage; .dockerignore with **" {
	printf '**/b.txt\n' >"$CTX/.dockerignore"
	df <<-'EOF'
		ARG STAGE=one
		FROM bb:1 AS one
		COPY dir /d/
		FROM $STAGE
		LABEL from=$STAGE
	EOF
	conform
}
