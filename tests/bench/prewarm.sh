#!/bin/bash
# tests/bench/prewarm.sh - time from `edgectl schedule` of an off-peak job
# to its container running, on a cold host vs a prewarmed one, with the
# same ~1 GiB image (BENCH_MB of incompressible data plus busybox) in the
# same run, on the namespace fleet (tests/lib/fleet.bash; hosts pull from a
# file:// store they share with us). Goal: warm start under 1 s and at
# least 20x faster than cold. Needs root.
#   BENCH_MB (default 1024)  size of the image's data layer
#   BENCH_RUNS (default 2)   cold/warm pairs (fresh host roots each time)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
MB=${BENCH_MB:-1024}
RUNS=${BENCH_RUNS:-2}
[ "$(id -u)" = 0 ] || { echo "prewarm.sh: needs root" >&2; exit 1; }
# shellcheck source=../lib/busybox.bash
. "$TOP/tests/lib/busybox.bash"
# shellcheck source=../lib/fleet.bash
. "$TOP/tests/lib/fleet.bash"

W=$(mktemp -d "${TMPDIR:-/tmp}/edgectl-bench-prewarm.XXXXXX")
EC="$W/edgectl"
cp "$TOP/build/edgectl" "$EC"
cleanup() {
	fleet_rm_instances "$EC"
	fleet_down 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

ms() { date +%s%3N; }

fleet_up 2 >/dev/null
export XDG_CONFIG_HOME="$W/cfg" EDGECTL_STORE="file://$W/store" EDGECTL_ROOT="$W/root"
mkdir -p "$W/ctx"
fleet_edgectl_config "$XDG_CONFIG_HOME"
busybox_rootfs "$W/ctx/rootfs" >/dev/null
head -c $((MB << 20)) /dev/urandom >"$W/ctx/weights"
printf 'FROM scratch\nCOPY rootfs/ /\nCOPY weights /weights\nCMD ["sleep", "3600"]\n' >"$W/ctx/Dockerfile"
echo "building and pushing a $((MB + 1)) MiB image..."
"$EC" -q build -t job:1 "$W/ctx" >/dev/null
"$EC" -q push job:1 >/dev/null
rm -f "$W/ctx/weights"
"$EC" location add bench --lat 0 --lon 0 --utc-offset +00:00 --off-peak 00:00-23:59

printf '\n%-6s %10s %10s %8s\n' run cold_ms warm_ms ratio
for r in $(seq 1 "$RUNS"); do
	# fresh roots: h1 cold, h2 prewarmed
	for h in h1 h2; do
		rm -rf "$(fleet_root "$h")"
		mkdir -p "$(fleet_root "$h")"
		"$EC" -q host rm "$h" 2>/dev/null || true
		"$EC" -q host add "$h" --location bench --ssh "$h" --host-root "$(fleet_root "$h")" \
			--edgectl "$EC" --subnet "198.19.$((200 + ${h#h})).0/24" --label "bench=$h"
	done
	"$EC" -q prewarm --host h2 job:1 >/dev/null
	# each job pinned to its host by a label constraint (a spec file)
	for k in cold:h1 warm:h2; do
		jq -n --arg n "${k%%:*}$r" --arg h "${k#*:}" '{name: $n, image: "job:1",
			policy: "off-peak", resources: {cpus: 0.1},
			constraints: {labels: {bench: $h}}}' >"$W/${k%%:*}.json"
	done
	t0=$(ms)
	"$EC" -q schedule "$W/cold.json" >/dev/null
	t1=$(ms)
	cold_host=$("$EC" store get "apps/cold$r.json" | jq -r '.placements[0].host')
	t2=$(ms)
	"$EC" -q schedule "$W/warm.json" >/dev/null
	t3=$(ms)
	warm_host=$("$EC" store get "apps/warm$r.json" | jq -r '.placements[0].host')
	cold=$((t1 - t0)) warm=$((t3 - t2))
	printf '%-6s %10d %10d %7.1fx   (cold on %s, warm on %s)\n' "$r" "$cold" "$warm" \
		"$(echo "$cold / $warm" | bc -l)" "$cold_host" "$warm_host"
	"$EC" -q schedule rm "cold$r" >/dev/null 2>&1 || true
	"$EC" -q schedule rm "warm$r" >/dev/null 2>&1 || true
done
echo "goal: warm < 1000 ms and cold/warm >= 20x"
