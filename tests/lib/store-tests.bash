# store-tests.bash - the body of the `edgectl store` tests, run against every
# backend: tests/cli/010-store-file.bats (file://) and 011-store-s3.bats
# (Ceph RGW) load this file, point EDGECTL_STORE at their backend in setup,
# and wire each st_test_* function to an @test "store: ..." of the same
# behaviour (one body, two backends; the last test of each file checks that
# no st_test_* function is left out).
#
# Knobs the .bats file (or the environment) may set: ST_RESUME_MB (size of
# the resume test's file, a multiple of 5; default 100), ST_MULTIPART_MB
# (the multipart test's object; default 200; make check-sanitize: 48).

MiB=1048576

# Random bytes: st_rand FILE BYTES
st_rand() {
	head -c "$2" /dev/urandom >"$1"
}

# Fail with a message unless "$1" = "$2".
st_eq() {
	[ "$1" = "$2" ] || {
		printf '%s: got [%s], want [%s]\n' "${3:-value}" "$1" "$2" >&2
		return 1
	}
}

# The first line of the JSON on stdout of the last `run`, checked by jq -e.
st_jq() {
	jq -e "$@" <<<"$output" >/dev/null || {
		echo "jq -e $* failed on: $output" >&2
		return 1
	}
}

st_etag() { edgectl --json store stat "$1" | jq -r .etag; }

# --- round trips -----------------------------------------------------------

st_test_roundtrip_text() {
	local f=$BATS_TEST_TMPDIR/in.txt
	printf 'hello, store\nline two\n' >"$f"
	run -0 --separate-stderr edgectl store put docs/hello.txt "$f"
	[ -n "$output" ] # the new ETag
	run -0 --separate-stderr edgectl store get docs/hello.txt
	st_eq "$output" "$(cat "$f")" "get to stdout"
	run -0 edgectl store get docs/hello.txt "$BATS_TEST_TMPDIR/out.txt"
	cmp "$f" "$BATS_TEST_TMPDIR/out.txt"
	# the output file appears atomically: no temp file is left behind
	st_eq "$(ls "$BATS_TEST_TMPDIR" | grep -c edgectl-part)" 0 "leftover temp files"
}

st_test_roundtrip_1mib_random() {
	local f=$BATS_TEST_TMPDIR/rand
	st_rand "$f" $MiB
	run -0 edgectl store put bin/rand "$f"
	run -0 edgectl store get bin/rand "$BATS_TEST_TMPDIR/out"
	cmp "$f" "$BATS_TEST_TMPDIR/out"
	# and through stdout, byte for byte
	edgectl store get bin/rand >"$BATS_TEST_TMPDIR/out2"
	cmp "$f" "$BATS_TEST_TMPDIR/out2"
}

st_test_json_output() {
	local f=$BATS_TEST_TMPDIR/in etag
	st_rand "$f" 4321
	run -0 --separate-stderr edgectl --json store put j/obj "$f"
	st_jq '.key == "j/obj" and .size_bytes == 4321 and
		(.etag | type == "string" and length > 0) and .parts == 0 and
		.bytes_sent == 4321 and (.modified | type == "number")'
	st_eq "${#lines[@]}" 1 "put --json: lines on stdout"
	etag=$(jq -r .etag <<<"$output")
	run -0 --separate-stderr edgectl --json store get j/obj "$BATS_TEST_TMPDIR/out"
	st_jq --arg e "$etag" '.key == "j/obj" and .size_bytes == 4321 and .etag == $e'
	cmp "$f" "$BATS_TEST_TMPDIR/out"
	run -0 --separate-stderr edgectl --json store stat j/obj
	st_jq --arg e "$etag" '.key == "j/obj" and .size_bytes == 4321 and .etag == $e'
	# --json with output to stdout is a usage error: stdout carries the JSON
	run -2 --separate-stderr edgectl --json store get j/obj
	st_eq "$output" "" "stdout"
	jq -e '.error.exit_status == 2' <<<"$stderr"
}

st_test_stat() {
	local f=$BATS_TEST_TMPDIR/in etag
	printf '0123456789' >"$f"
	etag=$(edgectl store put s/ten "$f")
	run -0 --separate-stderr edgectl store stat s/ten
	st_eq "${lines[0]}" "key: s/ten"
	st_eq "${lines[1]}" "size: 10"
	st_eq "${lines[2]}" "etag: $etag"
	[[ ${lines[3]} =~ ^modified:\ [0-9]+$ ]]
	run -0 --separate-stderr edgectl --json store stat s/ten
	st_jq --arg e "$etag" '.size_bytes == 10 and .etag == $e and .modified > 1000000000'
	run -3 --separate-stderr edgectl store stat s/eleven
	[[ $stderr == *"s/eleven"* ]]
}

# --- ranges and conditional reads -------------------------------------------

st_test_range_get() {
	local f=$BATS_TEST_TMPDIR/in d=$BATS_TEST_TMPDIR
	st_rand "$f" 1000
	edgectl store put r/obj "$f" >/dev/null
	run -0 edgectl store get --range 10-19 r/obj "$d/part"
	tail -c +11 "$f" | head -c 10 >"$d/want"
	st_eq "$(stat -c %s "$d/part")" 10 "size of --range 10-19"
	cmp "$d/want" "$d/part"
	run -0 edgectl store get --range 5- r/obj "$d/tail"
	tail -c +6 "$f" >"$d/want"
	st_eq "$(stat -c %s "$d/tail")" 995 "size of --range 5-"
	cmp "$d/want" "$d/tail"
	# to stdout, on text
	printf 'abcdefghijklmnopqrstuvwxyz' >"$f"
	edgectl store put r/text "$f" >/dev/null
	run -0 --separate-stderr edgectl store get --range 10-19 r/text
	st_eq "$output" "klmnopqrst" "--range 10-19"
	run -0 --separate-stderr edgectl store get --range 5- r/text
	st_eq "$output" "fghijklmnopqrstuvwxyz" "--range 5-"
	run -0 --separate-stderr edgectl store get --range 25-25 r/text
	st_eq "$output" "z" "--range 25-25"
	# malformed ranges are usage errors
	run -2 edgectl store get --range 19-10 r/text
	run -2 edgectl store get --range x r/text
}

st_test_if_none_match() {
	local f=$BATS_TEST_TMPDIR/in out=$BATS_TEST_TMPDIR/out etag before
	printf 'version one\n' >"$f"
	etag=$(edgectl store put c/obj "$f")
	[ -n "$etag" ]
	printf 'sentinel\n' >"$out"
	before=$(stat -c '%i %y' "$out")
	# same ETag: not modified, the file is not rewritten
	run -0 --separate-stderr edgectl --json store get --if-none-match "$etag" c/obj "$out"
	st_jq --arg e "$etag" '.not_modified == true and .etag == $e'
	st_eq "$(cat "$out")" "sentinel" "content after not-modified"
	st_eq "$(stat -c '%i %y' "$out")" "$before" "inode/mtime after not-modified"
	run -0 --separate-stderr edgectl store get --if-none-match "$etag" c/obj
	st_eq "$output" "" "stdout of a not-modified get"
	# another ETag: the content
	run -0 --separate-stderr edgectl store get --if-none-match "not-$etag" c/obj "$out"
	cmp "$f" "$out"
	run -0 --separate-stderr edgectl store get --if-none-match "not-$etag" c/obj
	st_eq "$output" "version one"
	st_eq "$(ls "$BATS_TEST_TMPDIR" | grep -c edgectl-part)" 0 "leftover temp files"
}

# --- conditional writes -------------------------------------------------------

st_test_put_if_absent() {
	local d=$BATS_TEST_TMPDIR
	echo first >"$d/1"
	echo second >"$d/2"
	run -0 edgectl store put --if-absent cas/absent "$d/1"
	run -6 --separate-stderr edgectl store put --if-absent cas/absent "$d/2"
	[[ $stderr == *"cas/absent"* ]]
	run -0 --separate-stderr edgectl store get cas/absent
	st_eq "$output" first "content after the losing put"
	run -6 --separate-stderr edgectl --json store put --if-absent cas/absent "$d/2"
	jq -e '.error.exit_status == 6 and .error.category == "conflict"' <<<"$stderr"
}

st_test_put_if_match() {
	local d=$BATS_TEST_TMPDIR e1 e2
	echo v1 >"$d/1"
	echo v2 >"$d/2"
	echo v3 >"$d/3"
	e1=$(edgectl store put cas/match "$d/1")
	run -0 --separate-stderr edgectl --json store put --if-match "$e1" cas/match "$d/2"
	e2=$(jq -r .etag <<<"$output")
	[ -n "$e2" ] && [ "$e2" != "$e1" ] || { echo "new etag '$e2' vs old '$e1'"; false; }
	st_eq "$(st_etag cas/match)" "$e2" "etag after the winning put"
	# stale ETag: conflict, content unchanged
	run -6 --separate-stderr edgectl store put --if-match "$e1" cas/match "$d/3"
	[[ $stderr == *"cas/match"* ]]
	run -0 --separate-stderr edgectl store get cas/match
	st_eq "$output" v2 "content after the losing put"
	st_eq "$(st_etag cas/match)" "$e2" "etag after the losing put"
	# the current ETag still wins
	run -0 edgectl store put --if-match "$e2" cas/match "$d/3"
	run -0 --separate-stderr edgectl store get cas/match
	st_eq "$output" v3
}

# --- listing ------------------------------------------------------------------

# keys of a plain `store ls` output ("PRE x/" rows as "x/ PRE")
st_ls_keys() { awk '$(NF-1) == "PRE" { print $NF " PRE"; next } { print $NF }'; }

st_test_ls() {
	local f=$BATS_TEST_TMPDIR/in k
	printf 'twelve bytes' >"$f"
	for k in top.txt 0.txt c.txt a/1 a/2 b/c/3; do
		edgectl store put "$k" "$f" >/dev/null
	done
	run -0 --separate-stderr edgectl store ls
	st_eq "$(st_ls_keys <<<"$output" | paste -sd,)" "0.txt,a/ PRE,b/ PRE,c.txt,top.txt" "ls"
	run -0 --separate-stderr edgectl store ls a/
	st_eq "$(st_ls_keys <<<"$output" | paste -sd,)" "a/1,a/2" "ls a/"
	run -0 --separate-stderr edgectl store ls b/
	st_eq "$(st_ls_keys <<<"$output" | paste -sd,)" "b/c/ PRE" "ls b/"
	run -0 --separate-stderr edgectl store ls -r
	st_eq "$(st_ls_keys <<<"$output" | paste -sd,)" "0.txt,a/1,a/2,b/c/3,c.txt,top.txt" "ls -r"
	run -0 --separate-stderr edgectl store ls -r b/
	st_eq "$(st_ls_keys <<<"$output" | paste -sd,)" "b/c/3" "ls -r b/"
	# sizes in the plain listing
	st_eq "$(awk '$NF == "b/c/3" { print $(NF-1) }' <<<"$output")" 12 "size column"
	run -0 --separate-stderr edgectl --json store ls
	st_jq '[.[] | .prefix // .key] == ["0.txt", "a/", "b/", "c.txt", "top.txt"]'
	st_jq '[.[] | select(.key)] | length == 3 and
		all(.size_bytes == 12 and (.etag | type == "string" and length > 0))'
	st_jq '[.[] | select(.prefix)] | all(keys == ["prefix"])'
	run -0 --separate-stderr edgectl --json store ls -r
	st_jq '[.[].key] == ["0.txt", "a/1", "a/2", "b/c/3", "c.txt", "top.txt"]'
	# the ETags listed are the ETags of the objects
	st_eq "$(jq -r '.[] | select(.key == "a/2") | .etag' <<<"$output")" "$(st_etag a/2)" "etag in ls"
	run -0 --separate-stderr edgectl --json store ls nothing/here/
	st_jq '. == []'
}

st_test_ls_pagination() {
	local f=$BATS_TEST_TMPDIR/in want=$BATS_TEST_TMPDIR/want
	echo x >"$f"
	# keys many/0 .. many/1099: creation order differs from key order
	seq 0 1099 | xargs -P 8 -I{} "$EDGECTL" -q store put many/{} "$f"
	edgectl store put other/x "$f" >/dev/null
	seq 0 1099 | sed 's,^,many/,' | LC_ALL=C sort >"$want"
	run -0 --separate-stderr edgectl --json store ls -r many/
	st_jq 'length == 1100'
	diff "$want" <(jq -r '.[].key' <<<"$output")
	run -0 --separate-stderr edgectl --json store ls many/
	st_jq 'length == 1100 and all(.key)'
	run -0 --separate-stderr edgectl --json store ls -r
	st_jq 'length == 1101 and .[-1].key == "other/x"'
	run -0 --separate-stderr edgectl store ls -r many/
	st_eq "${#lines[@]}" 1100 "lines of ls -r many/"
	diff "$want" <(awk '{ print $NF }' <<<"$output")
	run -0 --separate-stderr edgectl --json store ls
	st_jq '. == [{"prefix": "many/"}, {"prefix": "other/"}]'
}

# --- large objects ----------------------------------------------------------

# ST_MULTIPART_MB (default 200, at least 17): the sanitizer lane's smaller
# object (the same parts, ranges and boundaries; a fraction of the bytes
# through ASan)
st_test_multipart_200mib() {
	local f=$BATS_TEST_TMPDIR/big mb=${ST_MULTIPART_MB:-200}
	[ "$mb" -ge 17 ] || { echo "ST_MULTIPART_MB: at least 17 (a part boundary at 16 MiB)" >&2; return 1; }
	[ "$mb" = 200 ] || echo "# multipart: $mb MiB (ST_MULTIPART_MB)" >&3
	st_rand "$f" $((mb * MiB))
	run -0 --separate-stderr edgectl --json store put --part-size 16M -j 4 big/200m "$f"
	st_jq --argjson n $((mb * MiB)) '.size_bytes == $n and .bytes_sent == $n'
	st_eq "$(jq .parts <<<"$output")" $(((mb + 15) / 16)) "parts"
	run -0 --separate-stderr edgectl --json store stat big/200m
	st_jq --argjson n $((mb * MiB)) '.size_bytes == $n'
	run -0 edgectl store get -j 4 big/200m "$BATS_TEST_TMPDIR/out"
	cmp "$f" "$BATS_TEST_TMPDIR/out"
	rm -f "$BATS_TEST_TMPDIR/out"
	# a range across a part boundary (16 MiB)
	run -0 edgectl store get --range $((16 * MiB - 3))-$((16 * MiB + 4)) big/200m "$BATS_TEST_TMPDIR/r"
	cmp <(tail -c +$((16 * MiB - 2)) "$f" | head -c 8) "$BATS_TEST_TMPDIR/r"
}

st_test_put_stdin() {
	local f=$BATS_TEST_TMPDIR/in
	st_rand "$f" $((12 * MiB + 12345))
	# a pipe larger than the part size goes multipart
	run -0 --separate-stderr bash -c 'cat "$1" | edgectl --json store put --part-size 5M -j 2 pipe/big -' _ "$f"
	st_jq --argjson n $((12 * MiB + 12345)) '.size_bytes == $n and .parts == 3 and .key == "pipe/big"'
	run -0 edgectl store get pipe/big "$BATS_TEST_TMPDIR/out"
	cmp "$f" "$BATS_TEST_TMPDIR/out"
	# a small one without FILE: a single put
	run -0 --separate-stderr bash -c 'echo small | edgectl --json store put pipe/small'
	st_jq '.size_bytes == 6 and .parts == 0'
	run -0 --separate-stderr edgectl store get pipe/small
	st_eq "$output" small
	# an empty one
	run -0 bash -c 'edgectl store put pipe/empty - </dev/null'
	run -0 --separate-stderr edgectl --json store stat pipe/empty
	st_jq '.size_bytes == 0'
}

# Kill an upload after some parts, run it again: it resumes from the journal.
st_test_resume() {
	local mb=${ST_RESUME_MB:-100} f=$BATS_TEST_TMPDIR/big jdir=$EDGECTL_ROOT/cache/uploads
	local pid n try st j size
	size=$((mb * MiB))
	st_rand "$f" "$size"
	for try in 1 2 3; do
		rm -rf "$jdir"
		edgectl -q store put -j 2 --part-size 5M res/big "$f" 2>"$BATS_TEST_TMPDIR/put.err" &
		pid=$!
		n=0
		# wait until the journal lists at least 3 parts (timeout 60 s)
		for _ in $(seq 1 6000); do
			for j in "$jdir"/*.json; do
				[ -f "$j" ] && n=$(jq '.parts | length' "$j" 2>/dev/null || echo 0)
			done
			[ "${n:-0}" -ge 3 ] && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.01
		done
		kill -9 "$pid" 2>/dev/null || true
		st=0
		wait "$pid" || st=$?
		[ "$st" = 137 ] && break
		# the upload finished before the kill (a fast machine): again
		echo "try $try: put exited $st before the kill ($(cat "$BATS_TEST_TMPDIR/put.err"))" >&2
		[ "$st" = 0 ] || return 1
		edgectl store rm res/big
	done
	st_eq "$st" 137 "exit status of the killed put"
	# journal state at the kill: J parts confirmed
	set -- "$jdir"/*.json
	[ $# = 1 ] && [ -f "$1" ] || { echo "journals: $*" >&2; false; }
	n=$(jq '.parts | length' "$1")
	[ "$n" -ge 3 ] && [ "$n" -lt $((mb / 5)) ] || { echo "journal has $n parts"; false; }
	run -3 edgectl store stat res/big # not complete, not visible
	run -0 --separate-stderr edgectl --json store put -j 2 --part-size 5M res/big "$f"
	echo "journal parts at the kill: $n; resumed: $output"
	st_jq --argjson n "$n" --argjson size "$size" --argjson parts $((mb / 5)) \
		'.parts_resumed >= 3 and .parts_resumed == $n and .bytes_sent < $size and
		 .bytes_sent == $size - .parts_resumed * 5242880 and .size_bytes == $size and
		 .parts == $parts'
	# the journal is gone once the upload completed
	st_eq "$(ls "$jdir" | grep -c '\.json$')" 0 "journals left in $jdir"
	run -0 edgectl store get res/big "$BATS_TEST_TMPDIR/out"
	cmp "$f" "$BATS_TEST_TMPDIR/out"
}

# --- deletion and errors ------------------------------------------------------

st_test_rm() {
	local f=$BATS_TEST_TMPDIR/in
	echo bye >"$f"
	edgectl store put gone/one.txt "$f" >/dev/null
	edgectl store put gone/two.txt "$f" >/dev/null
	edgectl store put gone/keep.txt "$f" >/dev/null
	run -0 --separate-stderr edgectl --json store rm gone/one.txt gone/two.txt
	st_jq '.deleted == ["gone/one.txt", "gone/two.txt"]'
	run -3 --separate-stderr edgectl store get gone/one.txt
	st_eq "$output" "" "stdout"
	[[ $stderr == *"gone/one.txt"* ]] || { echo "message does not name the key: $stderr"; false; }
	run -3 --separate-stderr edgectl store get gone/two.txt "$BATS_TEST_TMPDIR/out"
	[[ $stderr == *"gone/two.txt"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/out" ]
	run -3 edgectl store stat gone/one.txt
	run -0 --separate-stderr edgectl --json store ls -r gone/
	st_jq '[.[].key] == ["gone/keep.txt"]'
	# deleting a missing object succeeds (S3 semantics)
	run -0 edgectl store rm gone/one.txt
}

st_test_get_missing() {
	run -3 --separate-stderr edgectl store get no/such/key
	st_eq "$output" "" "stdout"
	[[ $stderr == *"no/such/key"* ]] || { echo "message does not name the key: $stderr"; false; }
	run -3 --separate-stderr edgectl store get no/such/key "$BATS_TEST_TMPDIR/out"
	[ ! -e "$BATS_TEST_TMPDIR/out" ] && [ ! -e "$BATS_TEST_TMPDIR/out.edgectl-part" ]
	run -3 --separate-stderr edgectl --json store get no/such/key "$BATS_TEST_TMPDIR/out"
	jq -e '.error.exit_status == 3 and .error.category == "not_found" and
		(.error.message | contains("no/such/key"))' <<<"$stderr"
	run -3 edgectl store get --range 0-1 no/such/key
	run -3 edgectl store get --if-none-match x no/such/key
}

st_test_bad_store_url() {
	local u
	for u in 'bogus://x' 'file://relative/dir' 's3://' 's3:///prefix' 's3://b?endpoint' 'http://127.0.0.1/b'; do
		run -2 --separate-stderr edgectl --store "$u" store ls
		[[ $stderr == *"$u"* ]] || { echo "message does not name '$u': $stderr"; false; }
		st_eq "$output" "" "stdout"
	done
	EDGECTL_STORE='bogus://x' run -2 edgectl store stat k
	run -2 --separate-stderr edgectl --json --store 'bogus://x' store ls
	jq -e '.error.exit_status == 2 and .error.category == "usage"' <<<"$stderr"
}

st_test_key_dotdot() {
	local f=$BATS_TEST_TMPDIR/in k
	echo x >"$f"
	for k in a/../b ../x .. a/./b ./a a/..; do
		run -2 --separate-stderr edgectl store put "$k" "$f"
		[[ $stderr == *"$k"* ]] || { echo "put '$k': $stderr"; false; }
		run -2 edgectl store get "$k"
		run -2 edgectl store stat "$k"
		run -2 edgectl store rm "$k"
	done
	run -2 edgectl store put /abs "$f"
	run -2 edgectl store put '' "$f"
	run -0 --separate-stderr edgectl --json store ls -r
	st_jq '. == []'
}

# Each .bats file that loads this ends with a test calling this with its
# own name: every st_test_* function must be wired to an @test there.
st_check_wiring() {
	local fn missing=0
	for fn in $(declare -F | awk '$3 ~ /^st_test_/ { print $3 }'); do
		grep -qE "(^|[[:space:]{;])$fn([[:space:];}]|$)" "$BATS_TEST_FILENAME" ||
			{ echo "$fn is not called from $BATS_TEST_FILENAME" >&2; missing=1; }
	done
	return "$missing"
}
