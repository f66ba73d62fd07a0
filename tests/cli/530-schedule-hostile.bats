#!/usr/bin/env bats
# schedule given hostile or careless input (issue 12): app spec fields of
# the wrong type, negative or wrapping; a negative allocation planted in a
# host object; a dry run that must count its own placements; 2 replicas on
# one host (an out-of-bounds read under ASan); every env entry and command
# argument reaching the remote `run`; SIGTERM during a long placement.
bats_require_minimum_version 1.5.0

setup() {
	load ../lib/common
	ec_isolate
	export EDGECTL_STORE="file://$BATS_TEST_TMPDIR/store"
	T=$BATS_TEST_TMPDIR
	ec_tiny_image app:1 push
}

# host NAME LOC CPUS MEMORY_BYTES [ALLOCATIONS_JSON]: a host object
# written straight to the store.
host() {
	jq -n --arg n "$1" --arg l "$2" --argjson c "$3" --argjson m "$4" \
		--argjson a "${5:-[]}" \
		'{name: $n, location: $l, capacity: {cpus: $c, memory_bytes: $m},
		  gpus: [], allocations: $a, warm: [], labels: {}}' >"$T/h.json"
	edgectl store put "fleet/$2/hosts/$1.json" "$T/h.json" >/dev/null
}

# Per host: allocated CPU (millicores) and memory, counting only positive
# amounts, and whether that is over the capacity.
audit() {
	edgectl --json host ls | jq -c 'map({key: .name, value: {
		n: (.allocations | map(select(.app != "neg")) | length),
		over: ((.allocations | map(.cpu_m | select(. > 0)) | add // 0) > .capacity.cpus * 1000
			or (.allocations | map(.memory_bytes | select(. > 0)) | add // 0) > .capacity.memory_bytes)}})
		| from_entries'
}

# spec_case JQ_EXPR FIELD: a spec with JQ_EXPR applied is refused with
# exit 2 and a message naming FIELD; nothing is committed. (spec_raw:
# the spec as written, for integers jq would turn into floats.)
spec_case() {
	jq -n "{image: \"app:1\", name: \"bad\", resources: {cpus: 0.1}} | $1" >"$T/spec.json"
	spec_check "$1" "$2"
}

spec_raw() {
	printf '%s\n' "$1" >"$T/spec.json"
	spec_check "$1" "$2"
}

spec_check() {
	run -2 --separate-stderr edgectl schedule --no-start "$T/spec.json"
	[[ $stderr == *"'$2'"* ]] || { echo "case $1: $stderr"; return 1; }
	[ -z "$output" ]
}

@test "schedule: negative, overflowing and mistyped spec fields exit 2 naming the field" {
	edgectl location add l1 --lat 0 --lon 0 --utc-offset +00:00
	host h1 l1 4 8589934592
	spec_case '.resources.memory = -107374182400' resources.memory
	spec_raw '{"image": "app:1", "name": "bad", "resources": {"memory": -9223372036854775808}}' resources.memory
	spec_raw '{"image": "app:1", "name": "bad", "replicas": 4294967297}' replicas
	spec_raw '{"image": "app:1", "name": "bad", "resources": {"gpus": 4294967297}}' resources.gpus
	spec_case '.resources.memory = 0' resources.memory
	spec_case '.resources.memory = "lots"' resources.memory
	spec_case '.resources.gpu_memory = -1' resources.gpu_memory
	spec_case '.replicas = 4294967297' replicas
	spec_case '.replicas = 100001' replicas
	spec_case '.replicas = 0' replicas
	spec_case '.replicas = -1' replicas
	spec_case '.replicas = 1.5' replicas
	spec_case '.replicas = "3"' replicas
	spec_case '.resources.gpus = 4294967297' resources.gpus
	spec_case '.resources.gpus = -1' resources.gpus
	spec_raw '{"image": "app:1", "name": "bad", "resources": {"gpus": 1.0}}' resources.gpus
	spec_case '.resources.cpus = "2"' resources.cpus
	spec_case '.resources.cpus = -1' resources.cpus
	spec_case '.resources.cpus = 0' resources.cpus
	spec_case '.resources.cpus = 1e300' resources.cpus
	spec_case '.resources = 5' resources
	spec_case '.env = ["A=1", 7]' 'env[1]'
	spec_case '.env = ["NOEQUALS"]' 'env[0]'
	spec_case '.ports = "80"' ports
	spec_case '.command = ["sh", null]' 'command[1]'
	spec_case '.runtime = 5' runtime
	spec_case '.policy = 3' policy
	spec_case '.near = [{lat: 91, lon: 0}]' 'near[0].lat'
	spec_case '.near = [{location: "l1", weight: -1}]' 'near[0].weight'
	spec_case '.spread_locations = "yes"' spread_locations
	spec_case '.constraints.labels = {gpu: 1}' constraints.labels.gpu
	spec_case '.name = "-x"' name
	# an image that is not in the store (oci:) and no name: the old code
	# took the missing repository for the name and crashed (fuzzer)
	spec_case '.image = "oci:1" | del(.name)' image
	run -2 --separate-stderr edgectl schedule --dry-run --image oci:1
	[[ $stderr == *"from the store"* ]]
	# verbs take their operands, no more (usage, exit 2)
	run -2 --separate-stderr edgectl schedule ls extra
	[[ $stderr == *"usage:"* ]]
	run -2 --separate-stderr edgectl schedule rm a b
	run -2 --separate-stderr edgectl schedule rm
	# the same limit as --replicas, from the command line
	run -2 --separate-stderr edgectl schedule --no-start --image app:1 --replicas 100001
	run -0 audit
	jq -e '.h1.n == 0' <<<"$output"
	run -3 edgectl store stat apps/bad.json
	# a good spec still places
	jq -n '{image: "app:1", name: "good", replicas: 2, resources: {cpus: 0.5, memory: "1G"}}' >"$T/spec.json"
	run -0 --separate-stderr edgectl --json schedule --no-start "$T/spec.json"
	jq -e '(.placements | length) == 2' <<<"$output"
}

@test "schedule: a negative allocation in a host object never lets another app overcommit the host" {
	edgectl location add l1 --lat 0 --lon 0 --utc-offset +00:00
	# 4 CPUs, 4 GiB; a hand-written (or old) allocation claims -100 GiB
	host h1 l1 4 4294967296 '[{"app": "neg", "replica": 0, "instance": "neg-0", "cpu_m": -100000,
		"memory_bytes": -107374182400, "gpus": [], "gpu_memory_bytes": 0}]'
	run -3 --separate-stderr edgectl --json schedule --no-start --image app:1 --name big --replicas 3 --cpus 1 --memory 3G
	[[ $stderr == *"no capacity"* ]] || { echo "$stderr"; false; }
	jq -e '(.placements | length) == 1' <<<"$output"
	run -0 audit
	echo "$output"
	jq -e '.h1.n == 1 and .h1.over == false' <<<"$output"
}

@test "schedule: --dry-run counts its own placements (30 x 0.5 CPU on a 2-CPU host places 4, as a commit does)" {
	edgectl location add l1 --lat 0 --lon 0 --utc-offset +00:00
	host h1 l1 2 68719476736
	run -3 --separate-stderr edgectl --json schedule --dry-run --image app:1 --name d --replicas 30 --cpus 0.5
	echo "$output"
	jq -e '.dry_run and (.placements | length) == 4' <<<"$output"
	[[ $stderr == *"4 of 30 replicas"* ]] || { echo "$stderr"; false; }
	run -0 audit
	jq -e '.h1.n == 0' <<<"$output"
	# the real commit places the same 4
	run -3 --separate-stderr edgectl --json schedule --no-start --image app:1 --name d --replicas 30 --cpus 0.5
	jq -e '(.placements | length) == 4' <<<"$output"
	run -0 audit
	jq -e '.h1.n == 4 and .h1.over == false' <<<"$output"
}

@test "schedule: 2 replicas on one host are committed together (place() reads no index before its check; ASan lane)" {
	edgectl location add l1 --lat 0 --lon 0 --utc-offset +00:00
	host h1 l1 4 8589934592
	run -0 --separate-stderr edgectl --json schedule --no-start --image app:1 --name two --replicas 2 --cpus 1
	[ -z "$stderr" ] || { echo "$stderr"; false; }
	jq -e '(.placements | map(.host) | unique) == ["h1"] and (.placements | map(.replica) | sort) == [0, 1]' <<<"$output"
	run -0 audit
	jq -e '.h1.n == 2' <<<"$output"
}

@test "schedule: SIGTERM during a long placement exits 130 and records what was committed" {
	local i pid st
	edgectl location add l1 --lat 0 --lon 0 --utc-offset +00:00
	# 1500 hosts written straight into the file store: one CAS commit
	# each, seconds of work, long enough to be interrupted
	mkdir -p "$T/store/fleet/l1/hosts"
	for i in $(seq 1 1500); do
		printf '{"name": "h%d", "location": "l1", "capacity": {"cpus": 1, "memory_bytes": 1073741824}, "allocations": []}' "$i" \
			>"$T/store/fleet/l1/hosts/h$i.json"
	done
	edgectl --json schedule --no-start --image app:1 --name long --replicas 1500 --cpus 1 \
		>"$T/out.json" 2>"$T/err.txt" &
	pid=$!
	# signal it as soon as the first host commit is in the store
	for i in $(seq 1 200); do
		grep -qs '"app"' "$T"/store/fleet/l1/hosts/*.json && break
		sleep 0.05
	done
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	cat "$T/err.txt"
	[ "$st" = 130 ]
	jq -e '.error.category == "interrupted"' "$T/err.txt"
	# what was committed before the signal is recorded, nothing is lost
	edgectl --json store get apps/long.json "$T/rec.json" >/dev/null
	n=$(jq '.placements | length' "$T/rec.json")
	[ "$n" -gt 0 ]
	[ "$n" -lt 1500 ]
	run -0 --separate-stderr edgectl --json host ls
	jq -e --argjson n "$n" '[.[].allocations | length] | add == $n' <<<"$output"
}

@test "schedule: 20 env entries and 24 command arguments all reach the instance (the remote run is built to size)" {
	ec_require_root
	load ../lib/busybox
	local sub="198.19.$((RANDOM % 200 + 20)).0/24" br="ecs$$" i inst
	mkdir -p "$XDG_CONFIG_HOME/edgectl" "$T/bb"
	echo "{\"subnet\": \"$sub\", \"bridge\": \"$br\"}" >"$XDG_CONFIG_HOME/edgectl/config.json"
	busybox_rootfs "$T/bb/rootfs"
	printf 'FROM scratch\nCOPY rootfs/ /\n' >"$T/bb/Dockerfile"
	edgectl -q build -t bb:1 "$T/bb" >/dev/null
	edgectl -q push bb:1 >/dev/null
	edgectl location add l1 --lat 0 --lon 0 --utc-offset +00:00
	# a host without "ssh" is this machine: the run goes to our own root
	jq -n --arg r "$EDGECTL_ROOT" '{name: "here", location: "l1", root: $r,
		capacity: {cpus: 4, memory_bytes: 8589934592}, allocations: []}' >"$T/h.json"
	edgectl store put fleet/l1/hosts/here.json "$T/h.json" >/dev/null
	# V1..V20, and sh -c SCRIPT x a1..a21: 24 command arguments
	jq -n '{image: "bb:1", name: "many",
		env: [range(1; 21) | "V\(.)=v\(.)"],
		command: (["sh", "-c", "echo env=$(env | grep -c \"^V[0-9]*=v\") args=$# last=${21}; sleep 30", "x"]
			+ [range(1; 22) | "a\(.)"])}' >"$T/spec.json"
	run --separate-stderr edgectl --json schedule "$T/spec.json"
	echo "$output $stderr"
	[ "$status" = 0 ]
	inst=$(jq -r '.placements[0].instance' <<<"$output")
	jq -e '.placements[0].started' <<<"$output"
	for i in $(seq 1 50); do
		run -0 edgectl logs "$inst"
		[ -n "$output" ] && break
		sleep 0.1
	done
	edgectl rm -f "$inst" >/dev/null 2>&1 || true
	ip link del "$br" 2>/dev/null || true
	[ "$output" = "env=20 args=21 last=a21" ] || { echo "got: $output"; false; }
}
