/* net.h - container networking: named network namespaces (as `ip netns`
 * makes them, under /run/netns) and the standard CNI plugins (bridge with
 * host-local IPAM, portmap, loopback) invoked per the CNI 1.0 spec.
 *
 * The network of a host: a bridge (default "ec0") holding the host side of
 * every container's veth, the bridge's address the containers' gateway, a
 * /24 (or any prefix) subnet per host from its inventory record. Nothing is
 * masqueraded: container addresses are routed, not hidden. */
#ifndef EC_NET_H
#define EC_NET_H

#include <jansson.h>
#include <stdint.h>

#include "util/err.h"

#define NETNS_DIR "/run/netns"

/* Create the network namespace /run/netns/NAME with only `lo`, up (what
 * the CNI loopback plugin would do, done in the creating child). *path
 * gets the allocated path. EC_PERM when not root. */
int netns_create(const char *name, char **path, struct ec_err *err);
/* Unmount and remove it; missing is fine. */
int netns_delete(const char *name, struct ec_err *err);

struct net_port {
	uint16_t host_port, container_port;
	char proto[4]; /* "tcp" or "udp" */
};

/* Parse "HOSTPORT:CPORT[/tcp|udp]" (or "PORT" for both). EC_USAGE. */
int net_port_parse(const char *s, struct net_port *p, struct ec_err *err);

struct cni_opts {
	const char *plugin_dir; /* NULL = /usr/lib/cni */
	const char *bridge;	/* NULL = "ec0" */
	const char *subnet;	/* e.g. "198.19.1.0/24" (required) */
	const char *ipam_dir;	/* host-local lease directory (required) */
	const struct net_port *ports;
	size_t nports;
	/* optional: cni_add/cni_del add {"cni_PLUGIN_CMD_ms": N} for each
	 * plugin they run (the start-path table of `run`; NULL = none) */
	json_t *timings;
	/* 1: IPAM by the host-local plugin (a process under bridge's); 0
	 * (default): in this process (ipam_alloc, the same lease files),
	 * the bridge plugin run without "ipam" (L2: veth on the bridge) and
	 * the address, route and bridge gateway set here */
	int ipam_plugin;
};

/* Attach the namespace at `netns` (container `id`) to the host's bridge:
 * bridge + host-local IPAM (eth0), portmap for the ports (lo is up from
 * netns_create; the loopback plugin is not run).
 * *result gets what DEL needs later (keep it with the instance), *ip the
 * container's IPv4 address (allocated, without the prefix length). On
 * failure everything done so far is undone. */
int cni_add(const struct cni_opts *o, const char *id, const char *netns,
	    json_t **result, char **ip, struct ec_err *err);
/* Undo cni_add (reverse order; each plugin's DEL). `result` may be NULL
 * (then DEL runs without prevResult, which the plugins accept). */
int cni_del(const struct cni_opts *o, const char *id, const char *netns,
	    const json_t *result, struct ec_err *err);

/* --- host-local IPAM in process (ipam.c) --------------------------------- */

#define IPAM_NETWORK "edgectl" /* the network name: DIR/edgectl/ */

struct ipam_range {
	uint32_t net, gw, first, last; /* host byte order */
	int prefix;
};
struct ipam_lease {
	uint32_t addr;
	struct ipam_range range;
};

/* "A.B.C.D/N" (N 8..30): gateway the first address, leases from the
 * second to the one before broadcast. Pure; EC_USAGE. */
int ipam_subnet_parse(const char *cidr, struct ipam_range *r,
		      struct ec_err *err);
void ipam_addr_str(uint32_t a, char out[16]);
/* Lease a free address of `subnet` for (id, ifname) under DIR/edgectl,
 * in host-local's files and order. EC_FAIL when the range is full. */
int ipam_alloc(const char *dir, const char *subnet, const char *id,
	       const char *ifname, struct ipam_lease *out, struct ec_err *err);
/* Remove the leases of (id, ifname); none is fine. */
int ipam_release(const char *dir, const char *id, const char *ifname,
		 struct ec_err *err);

#endif
