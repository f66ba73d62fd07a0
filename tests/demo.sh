#!/bin/bash
# tests/demo.sh - the main job on the embedded default: the local directory
# store and this machine as the only host ("local"). Build an image, push
# it to the store, register this machine as a host, prewarm it, schedule an
# app of two replicas with one address (a VIP), reach them directly and
# through the VIP (an XDP router on a client namespace's link), let --tick
# replace a dead one (the route follows), remove the app. Needs root
# (containers, CNI, XDP). Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/build:$PATH"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need it)" >&2; exit 1; }

tmp=$(mktemp -d)
VIP=198.18.255.10
CL=ec-demo-cl$$   # the client's network namespace
RT=ecdemo$$       # its link into this machine, where the router sits
PINS=/sys/fs/bpf/edgectl-demo-$$
cleanup() {
	edgectl -q schedule rm demo-web >/dev/null 2>&1 || true
	edgectl -q route detach --dev "$RT" --pin-dir "$PINS" >/dev/null 2>&1 || true
	ip link del "$RT" >/dev/null 2>&1 || true
	ip netns del "$CL" >/dev/null 2>&1 || true
	rm -rf "$PINS" "$PINS-cl"
	rm -rf "$tmp"
}
trap cleanup EXIT

step "the store: $(edgectl --json store ls >/dev/null && echo ok) (default \$XDG_DATA_HOME/edgectl/store; EDGECTL_STORE for S3)"

step "compare-and-swap: the stale writer loses (exit 6), a fresh one wins"
edgectl store rm demo/counter >/dev/null
echo 1 | edgectl -q store put --if-absent demo/counter -
etag=$(edgectl --json store stat demo/counter | jq -r .etag)
echo 2 | edgectl -q store put --if-match "$etag" demo/counter -
set +e
echo 3 | edgectl store put --if-match "$etag" demo/counter - 2>&1
echo "stale writer's exit status: $?"
set -e
edgectl store rm demo/counter >/dev/null

step "build an image: a busybox web server (FROM scratch, framed zstd layers)"
mkdir -p "$tmp/ctx/rootfs/bin" "$tmp/ctx/rootfs/www"
cp /bin/busybox "$tmp/ctx/rootfs/bin/busybox"
for a in sh httpd hostname sleep; do ln -s busybox "$tmp/ctx/rootfs/bin/$a"; done
echo "hello from the edge" >"$tmp/ctx/rootfs/www/index.html"
cat >"$tmp/ctx/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
EOF
edgectl build -t demo-web:1 "$tmp/ctx"

step "push it to the store (blobs/sha256/..., refs/demo-web/1)"
edgectl push demo-web:1

step "this machine as the fleet: a location and the host 'local' (probed)"
edgectl location add here --lat 52.52 --lon 13.40 --utc-offset +01:00
edgectl host add local --location here --subnet 198.19.0.0/24
edgectl host ls

step "prewarm: the image pulled by digest, layers unpacked, recorded in the host object"
edgectl prewarm --host local demo-web:1

step "schedule two replicas with one address, the VIP $VIP (placed by CAS, started, routed)"
edgectl schedule --image demo-web:1 --name demo-web --replicas 2 --near here --vip "$VIP" --explain \
	-- sh -c 'echo "hello from $(hostname)" >/www/index.html; exec httpd -f -p 80 -h /www'
edgectl ps

step "each replica answers on its container address"
for ip in $(edgectl --json ps | jq -r '.[] | select(.image | startswith("demo-web")) | .ip'); do
	printf '%s: ' "$ip"
	curl -fsS -m 5 "http://$ip/"
done

step "the VIP: an XDP router on the client's link sends each connection to a replica"
ip netns add "$CL"
ip link add "$RT" type veth peer name eth0 netns "$CL"
ip addr add 198.18.254.1/30 dev "$RT"
ip link set "$RT" up
ip -n "$CL" link set lo up
ip -n "$CL" addr add 198.18.254.2/30 dev eth0
ip -n "$CL" link set eth0 up
ip -n "$CL" route add "$VIP/32" via 198.18.254.1
# local senders over veth: full checksums before XDP sees them (xdp-notes)
ip netns exec "$CL" ethtool -K eth0 tx off >/dev/null
txoff() {
	for id in $(edgectl --json ps | jq -r '.[] | select(.app == "demo-web") | .id'); do
		nsenter --net="/run/netns/ec-$id" ethtool -K eth0 tx off >/dev/null
	done
}
txoff
edgectl route attach --dev "$RT" --host local --pin-dir "$PINS"
nsenter --net="/run/netns/$CL" edgectl -q route attach --dev eth0 --pass --pin-dir "$PINS-cl"
edgectl route sync --local --host local --pin-dir "$PINS"
edgectl route show "$VIP" --pin-dir "$PINS"
for i in 1 2 3 4; do
	printf 'client -> %s: ' "$VIP"
	ip netns exec "$CL" curl -fsS -m 5 "http://$VIP/"
done

step "a replica dies; schedule --tick notices and replaces it"
victim=$(edgectl --json ps | jq -r '[.[] | select(.name == "demo-web-0")][0].id')
edgectl -q stop -t 0 "$victim"
edgectl schedule --tick
edgectl ps

step "the route follows: the new replica replaces the dead one behind the VIP"
txoff
edgectl route sync --local --host local --pin-dir "$PINS"
edgectl route show "$VIP" --pin-dir "$PINS"
for i in 1 2 3 4 5 6; do
	printf 'client -> %s: ' "$VIP"
	ip netns exec "$CL" curl -fsS -m 5 "http://$VIP/"
done

step "schedule rm: instances stopped, capacity freed"
edgectl schedule rm demo-web
edgectl ps -a | head -5
edgectl host rm local
edgectl location rm here
echo
echo "demo done."
