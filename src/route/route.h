/* route.h - the router (DESIGN §6): the Maglev table builder (pure) and the
 * loader of the XDP program (bpf/router.bpf.c), which owns the pinned
 * programs and maps under /sys/fs/bpf/edgectl.
 *
 * The data plane in one paragraph: a VIP {IPv4 address, port, protocol} has
 * an id; the id selects a Maglev table (swapped whole, atomically) whose
 * slots hold backend indices; a backend is a container {address, host,
 * host-side veth ifindex, MAC}. A packet to a VIP goes to the backend its
 * flow had before (connection table), else to the one its 5-tuple hash
 * picks in the table: backends on this host get the frame through their
 * veth, others get it IPIP-encapsulated to their host, whose router strips
 * the outer header and delivers it. The container answers from the VIP
 * (direct server return).
 *
 * Byte order: addresses are network order (as inet_pton gives them), ports
 * host order. Ids and indices start at 1; 0 means none. */
#ifndef EC_ROUTE_H
#define EC_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* ---- Maglev (pure) ---------------------------------------------------- */

/* One backend as the table builder sees it. */
struct mg_backend {
	const char *key; /* stable identity, e.g. "host/10.1.2.3": sorted on,
			  * and hashed for the backend's permutation */
	uint32_t weight; /* relative share; 0 = draining, not in the table */
	uint32_t id;	 /* what the table stores: the backend index (>= 1) */
};

#define MAGLEV_RATIO 100 /* table size >= 100 x backends */

/* The table size for n backends: the smallest prime of a fixed list (251,
 * 509, 1021, ... 65537, ... 524287) that is at least MAGLEV_RATIO * n; the
 * largest one when n exceeds the list. Every host gets the same answer. */
uint32_t maglev_size_for(size_t n);

/* The table size a VIP uses for n backends: MAGLEV_TABLE_SIZE, fixed (as
 * Katran does), so that a backend leaving or turning unhealthy moves only
 * its own flows - a size that followed the count rebuilt every slot at
 * each step (3 -> 2 backends: 509 -> 251 slots, half the surviving flows
 * moved). Larger (maglev_size_for) only past MAGLEV_TABLE_SIZE /
 * MAGLEV_RATIO = 655 backends. 256 KiB of kernel memory per VIP. */
#define MAGLEV_TABLE_SIZE 65537
uint32_t maglev_table_size(size_t n);

/* Fill table[0..m-1] with the ids of the backends b[0..n-1]: each slot
 * holds an id, or 0 when no backend has a weight. m must be a prime of the
 * maglev_size_for() list. Heavier backends take proportionally more turns;
 * the result depends only on the set of backends (sorted by key), not on
 * their order. Fails with EC_USAGE for a bad size, a missing key, id 0 or a
 * duplicate key. */
int maglev_build(const struct mg_backend *b, size_t n, uint32_t m,
		 uint32_t *table, struct ec_err *err);

/* ---- the loaded router (loader.c) ------------------------------------- */

#define ROUTE_PIN_DIR	   "/sys/fs/bpf/edgectl"
#define ROUTE_MAX_VIPS	   1024 /* vip ids 1..1023 */
#define ROUTE_MAX_BACKENDS 4096 /* backend indices 1..4095 */

struct route; /* a handle on the pinned maps and programs */

enum route_proto { ROUTE_TCP = 6, ROUTE_UDP = 17 };

struct route_vip {
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	uint8_t proto; /* ROUTE_TCP or ROUTE_UDP */
};

#define ROUTE_VIP_HASH_SRC (1U << 0) /* backend by client address only */
#define ROUTE_VIP_NO_LRU   (1U << 1) /* no connection table for this VIP */

struct route_backend {
	uint32_t addr;	  /* the container's IPv4 address */
	uint32_t host;	  /* IPv4 of the host running it */
	uint32_t ifindex; /* local backends: host-side veth of the container */
	uint8_t mac[6];	  /* local: the container-side MAC; remote: next hop
			   * towards `host` (zero: route_config.gw_mac) */
};

struct route_config {
	uint32_t host_ip; /* this host's IPv4: IPIP source, decap target */
	uint32_t egress_ifindex; /* IPIP leaves by it (from egress_mac) when
				  * the frame came in by another interface;
				  * 0 = back out (XDP_TX) */
	uint16_t mtu;	   /* underlay MTU; bigger IPIP is dropped; 0 = off */
	uint8_t gw_mac[6]; /* IPIP next hop when a backend has no MAC */
	uint8_t egress_mac[6]; /* the egress interface's MAC */
};

/* Counters, per VIP (row = vip id) and for traffic of no VIP (row 0). */
enum route_counter {
	ROUTE_C_PASS,
	ROUTE_C_LOCAL,
	ROUTE_C_ENCAP,
	ROUTE_C_DECAP,
	ROUTE_C_DROP_FRAG,
	ROUTE_C_DROP_OPTS,
	ROUTE_C_DROP_NO_BACKEND,
	ROUTE_C_DROP_NO_LOCAL,
	ROUTE_C_DROP_TOO_BIG,
	ROUTE_C_DROP_NO_NEXTHOP,
	ROUTE_C_DROP_ERROR,
	ROUTE_C_LRU_HIT,
	ROUTE_C_LRU_MISS,
	ROUTE_C_MAX,
};

struct route_stats {
	uint64_t packets[ROUTE_C_MAX];
	uint64_t bytes[ROUTE_C_MAX];
};

/* Stable snake_case name of a counter ("drop_frag"), for text and JSON. */
const char *route_counter_name(enum route_counter c);

#define ROUTE_OPEN_CREATE (1U << 0) /* load and pin when nothing is pinned */

/* Open the router pinned in pin_dir (NULL: ROUTE_PIN_DIR). Without pins:
 * EC_NOTFOUND, or with ROUTE_OPEN_CREATE load the program and pin it (on
 * the default path, mounting bpffs on /sys/fs/bpf if needed). EC_PERM
 * without CAP_BPF/CAP_NET_ADMIN; EC_CONFLICT when the pins are of another
 * ABI. *out is freed with route_free(); the pins outlive it. */
int route_open(const char *pin_dir, unsigned flags, struct route **out,
	       struct ec_err *err);
/* Close the handle (not the pins). NULL is a no-op. */
void route_free(struct route *r);
/* Remove the pins of pin_dir (NULL: default). Interfaces the program is
 * still attached to keep it (and its maps) until detached. Missing is ok. */
int route_unload(const char *pin_dir, struct ec_err *err);

/* Configuration of this host. */
int route_config_set(struct route *r, const struct route_config *c,
		     struct ec_err *err);
int route_config_get(struct route *r, struct route_config *c,
		     struct ec_err *err);

/* Create or update a VIP with id 1..ROUTE_MAX_VIPS-1 and ROUTE_VIP_* flags.
 * The id selects the Maglev table and the counters: VIPs that share an id
 * share both (e.g. ports 80 and 443 of one service). The caller allocates
 * ids. EC_USAGE for a bad protocol or id. Writes that span several maps
 * (here, route_vip_del, route_backend_set/del) hold the pin directory's
 * flock, so concurrent edgectl processes do not interleave them. */
int route_vip_set(struct route *r, const struct route_vip *v, uint32_t id,
		  uint32_t flags, struct ec_err *err);
/* Remove a VIP and, unless another VIP shares its id, its table and
 * counters. EC_NOTFOUND when absent. */
int route_vip_del(struct route *r, const struct route_vip *v,
		  struct ec_err *err);
/* Look a VIP up: EC_NOTFOUND when absent. id/flags may be NULL. */
int route_vip_get(struct route *r, const struct route_vip *v, uint32_t *id,
		  uint32_t *flags, struct ec_err *err);
/* Call fn for each VIP (unordered) until it returns non-zero, which is
 * then returned. Returns -1 with err on a map error. */
int route_vip_foreach(struct route *r,
		      int (*fn)(const struct route_vip *v, uint32_t id,
				uint32_t flags, void *arg),
		      void *arg, struct ec_err *err);

/* Install backend index 1..ROUTE_MAX_BACKENDS-1 (replacing the slot). It is
 * local when b->host equals the config's host_ip (so set the config
 * first), and then needs an ifindex and MAC. A remote backend's MAC is the
 * next hop towards its host (zero: route_config.gw_mac). EC_USAGE. */
int route_backend_set(struct route *r, uint32_t idx,
		      const struct route_backend *b, struct ec_err *err);
/* Invalidate a backend slot: its flows move on their next packet. Remove
 * it from the tables first. */
int route_backend_del(struct route *r, uint32_t idx, struct ec_err *err);
/* EC_NOTFOUND for an unused slot. */
int route_backend_get(struct route *r, uint32_t idx, struct route_backend *b,
		      struct ec_err *err);

/* Call fn for each backend in use, by index, until it returns non-zero,
 * which is then returned. -1 with err on a map error. */
int route_backend_foreach(struct route *r,
			  int (*fn)(uint32_t idx, const struct route_backend *b,
				    void *arg),
			  void *arg, struct ec_err *err);

/* Replace the Maglev table of a VIP id with table[0..m-1] (backend
 * indices, 0 = none; from maglev_build): fills a new inner map and swaps
 * it in with one update, so the data plane sees the old or the new table,
 * never a mix. m = 0 removes the table (the VIP then drops). */
int route_table_swap(struct route *r, uint32_t vip_id, const uint32_t *table,
		     uint32_t m, struct ec_err *err);
/* Read a VIP's current table: *table (allocated, m entries; NULL and 0
 * when there is none). */
int route_table_get(struct route *r, uint32_t vip_id, uint32_t **table,
		    uint32_t *m, struct ec_err *err);

/* The counters of row vip_id (0: traffic of no VIP), summed over CPUs. */
int route_stats_read(struct route *r, uint32_t vip_id, struct route_stats *s,
		     struct ec_err *err);

/* One direction of a connection, as the connection table keys it. */
struct route_flow {
	uint32_t src, dst; /* network order */
	uint16_t sport, dport;
	uint8_t proto;
};

/* The backend the connection table holds for a flow: *idx = 0 if none. */
int route_flow_get(struct route *r, const struct route_flow *f, uint32_t *idx,
		   struct ec_err *err);
/* The table slot (0..m-1) the data plane hashes a flow to (VIP flags
 * matter: ROUTE_VIP_HASH_SRC). Pure. */
uint32_t route_flow_slot(const struct route_flow *f, uint32_t vip_flags,
			 uint32_t m);

#define ROUTE_ATTACH_PASS  (1U << 0) /* the pass-only program (veth peers) */
#define ROUTE_ATTACH_FORCE (1U << 1) /* replace/remove a foreign program */
#define ROUTE_ATTACH_SKB   (1U << 2) /* generic XDP (no driver support) */

/* The ifindex of an interface of the caller's network namespace, or -1
 * with EC_NOTFOUND. */
int route_ifindex(const char *ifname, struct ec_err *err);

/* Attach the router (or with ROUTE_ATTACH_PASS the pass program) to an
 * interface in native XDP mode. The attachment outlives the process.
 * Re-attaching ours is a no-op or a replacement; another program there is
 * EC_CONFLICT unless ROUTE_ATTACH_FORCE. EC_NOTFOUND for no interface. */
int route_attach(struct route *r, int ifindex, unsigned flags,
		 struct ec_err *err);
/* Detach our program from an interface (none attached: ok; a foreign one:
 * EC_CONFLICT unless ROUTE_ATTACH_FORCE). */
int route_detach(struct route *r, int ifindex, unsigned flags,
		 struct ec_err *err);
/* Which of ours is attached: 0 none, ROUTE_PROG_ROUTER, ROUTE_PROG_PASS,
 * or -1 for a foreign program (err untouched) / -2 on error (err set). */
#define ROUTE_PROG_ROUTER 1
#define ROUTE_PROG_PASS	  2
int route_attached(struct route *r, int ifindex, struct ec_err *err);

/* Run program `prog` (ROUTE_PROG_ROUTER or ROUTE_PROG_PASS) once on a
 * crafted frame without a device (the kernel's test-run; one packet per
 * call, repeat 1, so rewrites never stack on their own output). out gets
 * the resulting frame (*out_len: in capacity, out length), *action the XDP
 * verdict, *ns the kernel's run time if ns is not NULL. */
int route_test_run(struct route *r, int prog, const void *in, size_t len,
		   void *out, size_t *out_len, uint32_t *action, uint32_t *ns,
		   struct ec_err *err);

#endif
