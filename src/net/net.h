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
 * gets the allocated path. EC_PERM when not root. netns_hold() +
 * netns_attach(). */
int netns_create(const char *name, char **path, struct ec_err *err);
/* A new network namespace with `lo` up, held only by *nsfd (no name: it
 * goes when the last descriptor closes, also when its holder is killed);
 * the calling thread stays in its own. */
int netns_hold(int *nsfd, struct ec_err *err);
/* Name the namespace of `nsfd` /run/netns/NAME (a bind mount); *path gets
 * it (allocated). */
int netns_attach(int nsfd, const char *name, char **path, struct ec_err *err);
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
	/* the container id bridge and IPAM were set up under, when not the
	 * id given to cni_del (a claimed spare's: net_spare_claim) */
	const char *l2_id;
};

/* Attach the namespace at `netns` (container `id`) to the host's bridge:
 * bridge + host-local IPAM (eth0), portmap for the ports (lo is up from
 * netns_create; the loopback plugin is not run).
 * *result gets what DEL needs later (keep it with the instance), *ip the
 * container's IPv4 address (allocated, without the prefix length). On
 * failure everything done so far is undone. */
int cni_add(const struct cni_opts *o, const char *id, const char *netns,
	    json_t **result, char **ip, struct ec_err *err);
/* cni_add's portmap step alone, on a bridge result (a claimed spare's);
 * nothing without ports. */
int cni_add_ports(const struct cni_opts *o, const char *id, const char *netns,
		  const json_t *result, struct ec_err *err);
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

/* --- spare namespaces (spare.c) ------------------------------------------
 *
 * A spare is a network namespace attached to the bridge ahead of time
 * (cni_add done: veth on the bridge, address leased and set) for the next
 * instance of that bridge and subnet. Its keeper is a background process
 * (a new session, nice 19) that holds the namespace by a descriptor only:
 * no name in /run/netns, so the namespace and its veth go with the keeper
 * even when it is killed. Its record DIR/<sid>.json (sid: "s" + 12 hex,
 * the CNI container id of its bridge ADD and lease) says which keeper, fd
 * and namespace inode. A keeper nobody claims within NET_SPARE_IDLE_MS
 * takes its record back (a rename), releases its lease and exits. */

#define NET_SPARES	  1	/* spares kept per bridge and subnet */
#define NET_SPARE_IDLE_MS 30000 /* an unclaimed spare lives this long */

struct net_spare {
	char sid[16];
	char *ip;	/* without prefix length */
	json_t *result; /* the bridge ADD's (with the lease) */
};

/* Claim a ready spare of o->bridge and o->subnet: its record renamed to
 * `record` (atomic: one claimer wins), its namespace bound at
 * /run/netns/NS_NAME, its keeper killed. 1 with *sp (release with
 * net_spare_release), 0 when none is ready (or each one found was gone:
 * what it held is released), -1 on error. */
int net_spare_claim(const struct cni_opts *o, const char *dir,
		    const char *record, const char *ns_name,
		    struct net_spare *sp, struct ec_err *err);
void net_spare_release(struct net_spare *sp);
/* The sid a claimed spare's record (at `record`) names, or NULL
 * (allocated). */
char *net_spare_record_sid(const char *record);
/* Start a keeper for o (bridge, subnet, ipam_dir; ports are not a
 * spare's) when fewer than NET_SPARES spares of it are ready or being
 * made. Returns at once; failures only mean no spare. */
void net_spare_fill(const struct cni_opts *o, const char *dir);
/* Remove what spares whose keeper is gone (killed) left: their records and
 * leases. Returns how many. */
int net_spare_collect(const char *dir, const char *ipam_dir);

#endif
