# vip.bash - helpers of the VIP suites (tests/cli/6xx) and tests/bench/vip.sh
# on the namespace fleet (tests/lib/fleet.bash; load it first).
#
#   vip_txoff HOST...          full checksums in every running instance of
#                              the hosts (local senders over a veth whose
#                              peer runs XDP: the router cannot finish a
#                              partial checksum); the hosts share /run/netns
#   vip_rm_instances_of HOST   remove every instance of the host's root
#   vip_client NS HOST NET     a client namespace NS on its own link to HOST
#                              (anycast by attachment: the VIP is reached
#                              through HOST's router): HOST gets NET.1/24 on
#                              interface "cl" (its router is attached there
#                              too, pins PIN_DIR when given as $4), the
#                              client NET.2/24 with its default route via
#                              NET.1; every other fleet host routes NET.0/24
#                              via HOST (the containers answer the client
#                              directly: direct server return)
#   vip_kill_host HOST [PINS]  the host stops answering: its sshd (listener
#                              and sessions) is killed; with PINS its router
#                              is detached from eth0 (the VIP traffic sent
#                              to it is lost; its containers keep running,
#                              as behind a cut cable), else its containers
#                              are removed
#   vip_revive_host HOST       start its sshd again; wait until it answers

vip_txoff() {
	local h id
	for h in "$@"; do
		for id in $(fleet_exec "$h" "$EDGECTL" --root "$(fleet_root "$h")" --json ps |
			jq -r '.[] | select(.status == "running") | .id'); do
			nsenter --net="/run/netns/ec-$id" ethtool -K eth0 tx off >/dev/null 2>&1 || true
		done
	done
}

vip_rm_instances_of() {
	local ids
	ids=$(fleet_exec "$1" "$EDGECTL" --root "$(fleet_root "$1")" --json ps -a | jq -r '.[].id')
	# shellcheck disable=SC2086 # one word per id
	[ -z "$ids" ] || fleet_exec "$1" "$EDGECTL" --root "$(fleet_root "$1")" rm -f $ids >/dev/null
}

vip_client() {
	local ns=$1 h=$2 net=$3 pins=${4:-} hns o
	hns=$(fleet_netns "$h")
	ip netns add "$ns" || return 1
	ip -n "$hns" link add cl type veth peer name eth0 netns "$ns" || return 1
	ip -n "$hns" addr add "$net.1/24" dev cl
	ip -n "$hns" link set cl up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$net.2/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$net.1"
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
	for o in $FLEET_HOSTS; do
		[ "$o" = "$h" ] || fleet_exec "$o" ip route add "$net.0/24" via "$(fleet_addr "$h")"
	done
	[ -z "$pins" ] ||
		fleet_exec "$h" "$EDGECTL" route attach --dev cl --pin-dir "$pins" >/dev/null
}

vip_kill_host() {
	local h=$1 pins=${2:-} pid kids
	if [ -n "$pins" ]; then
		fleet_exec "$h" "$EDGECTL" route detach --dev eth0 --pin-dir "$pins" >/dev/null
	else
		vip_rm_instances_of "$h"
	fi
	read -r pid <"$FLEET_DIR/$h/sshd.pid"
	kids=$(ps -o pid= --ppid "$pid" | tr -d ' ')
	# shellcheck disable=SC2086 # one word per pid
	kill "$pid" $kids 2>/dev/null || true
	ssh -F "$FLEET_SSH_CONFIG" -O exit "$h" 2>/dev/null || true
}

# vip_revive_host HOST: start the host's sshd again (as fleet_up does,
# recorded for fleet_down) and wait until it accepts an ssh session.
vip_revive_host() {
	local h=$1 ns i
	ns=$(fleet_netns "$h")
	rm -f "$FLEET_DIR/$h/sshd.pid"
	# shellcheck disable=SC2016 # expanded by that bash
	setsid bash -c 'echo "sshd $1 $$" >>"$2"; shift 2; exec "$@"' fleet-sshd "$ns" "$FLEET_DIR/pids" \
		nsenter --net="/run/netns/$ns" -- /usr/sbin/sshd -D -e -f "$FLEET_DIR/$h/sshd_config" \
		</dev/null >>"$FLEET_DIR/$h/sshd.log" 2>&1 3>&- &
	for i in $(seq 100); do
		[ -s "$FLEET_DIR/$h/sshd.pid" ] &&
			timeout 10 ssh -F "$FLEET_SSH_CONFIG" -o ConnectTimeout=2 "$h" true </dev/null 2>/dev/null &&
			return 0
		sleep 0.1
	done
	echo "vip_revive_host: sshd of $h does not accept sessions" >&2
	return 1
}
