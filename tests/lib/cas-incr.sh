#!/bin/bash
# cas-incr.sh KEY N [ID] - N read-modify-write increments of the counter
# object KEY in $EDGECTL_STORE, each one: `store get` (value and ETag from the
# same response) -> value+1 -> `store put --if-match ETAG`. A lost race
# (exit 6) re-reads and tries again; any other failure stops with exit 1 and
# the command's message on stderr.
# Contention is managed with a randomised exponential backoff: each loss
# doubles the window (CAS_BACKOFF_MS, default 50, up to CAS_BACKOFF_MAX_MS,
# default 2000), each win halves it again; without it 16 processes on a small
# machine spend most of their time losing. The object holds "VALUE WRITER" (WRITER = ID.i makes every write's
# content unique). Prints "ID: N increments, R lost races" when done.
set -u
key=${1:?usage: cas-incr.sh KEY N [ID]} n=${2:?usage: cas-incr.sh KEY N [ID]} id=${3:-$$}
ec=${EDGECTL:-edgectl}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cas-incr.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
lost=0
base=${CAS_BACKOFF_MS:-50} cap=${CAS_BACKOFF_MAX_MS:-2000}
RANDOM=$$
# sleep for a random time below base*2^level ms (capped); no fork: read -t
# on a pipe nobody writes to
exec {never}<> <(:)
level=0
backoff() {
	local ms=$((base << (level < 8 ? level : 8)))
	[ "$ms" -le "$cap" ] || ms=$cap
	ms=$((RANDOM % (ms + 1)))
	printf -v secs '%d.%03d' $((ms / 1000)) $((ms % 1000))
	read -r -t "$secs" -u "$never" _ || true
}
for ((i = 1; i <= n; i++)); do
	while :; do
		[ "$level" -gt 0 ] && backoff
		rc=0
		meta=$("$ec" --json store get "$key" "$tmp/cur" 2>"$tmp/err") || rc=$?
		if [ "$rc" != 0 ]; then
			echo "$id: increment $i: store get exited $rc: $(cat "$tmp/err")" >&2
			exit 1
		fi
		if ! [[ $meta =~ \"etag\":\"([^\"]+)\" ]]; then
			echo "$id: increment $i: no etag in: $meta" >&2
			exit 1
		fi
		etag=${BASH_REMATCH[1]}
		read -r v _ <"$tmp/cur" || true
		if ! [[ ${v:-} =~ ^[0-9]+$ ]]; then
			echo "$id: increment $i: counter is not a number: $(head -c 100 "$tmp/cur")" >&2
			exit 1
		fi
		printf '%d %s.%d\n' $((v + 1)) "$id" "$i" >"$tmp/next"
		rc=0
		"$ec" -q store put --if-match "$etag" "$key" "$tmp/next" 2>"$tmp/err" || rc=$?
		if [ "$rc" = 0 ]; then
			[ "$level" -gt 0 ] && level=$((level - 1))
			break
		fi
		if [ "$rc" != 6 ]; then
			echo "$id: increment $i: store put --if-match exited $rc: $(cat "$tmp/err")" >&2
			exit 1
		fi
		lost=$((lost + 1))
		level=$((level + 1))
	done
done
echo "$id: $n increments, $lost lost races"
