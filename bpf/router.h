/* router.h - the ABI between bpf/router.bpf.c and src/route/loader.c: map
 * names, key and value layouts, counters, and the flow hash both sides must
 * compute identically (user space uses it to predict where a flow goes).
 *
 * Only <linux/types.h> types, so the header compiles with clang -target bpf
 * and in user space. Addresses and ports are in network byte order, exactly
 * as they sit in the packet. Changing any layout here bumps RT_ABI_VERSION:
 * a loader refuses pinned maps of another ABI. */
#ifndef EC_BPF_ROUTER_H
#define EC_BPF_ROUTER_H

#include <linux/types.h>

#define RT_ABI_VERSION 2 /* 2: egress_mac */

/* Sizes. Index 0 of VIP ids and backend indices is invalid ("none"). */
#define RT_MAX_VIPS	 1024	/* vip ids 1..RT_MAX_VIPS-1 */
#define RT_MAX_BACKENDS	 4096	/* backend indices 1..RT_MAX_BACKENDS-1 */
#define RT_MAX_FLOWS	 262144 /* LRU connection table entries */
#define RT_MAX_TABLE	 524287 /* largest Maglev table (prime) */
#define RT_MAX_VIP_ADDRS RT_MAX_VIPS

/* VIP -> id. One entry per (address, port, protocol). */
struct rt_vip_key {
	__be32 addr;
	__be16 port;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;   /* must be 0 */
};

#define RT_VIP_HASH_SRC (1U << 0) /* pick backends by source address only */
#define RT_VIP_NO_LRU	(1U << 1) /* no connection table: table only */

struct rt_vip_val {
	__u32 id; /* 1..RT_MAX_VIPS-1: index of the Maglev table and stats */
	__u32 flags;
};

/* Maglev tables: the outer ARRAY_OF_MAPS is indexed by vip id; each inner
 * map is an ARRAY of __u32 created with BPF_F_INNER_MAP so sizes may differ:
 * slot 0 holds the table size M, slots 1..M the backend index of each
 * Maglev slot (0 = none). Size and contents travel in one map, so a single
 * outer update swaps both atomically. */
#define RT_TABLE_SIZE_SLOT 0

/* Backends, an ARRAY indexed by backend index (0 invalid). RT_BE_VALID
 * marks a slot in use: connection-table hits on other slots are misses. */
#define RT_BE_VALID (1U << 0)

struct rt_backend {
	__be32 addr;   /* container address */
	__be32 host;   /* address of the host running the container */
	__u32 ifindex; /* local: the container's host-side veth */
	__u8 mac[6];   /* local: container-side MAC; remote: next hop towards
			* `host` (all zero: the config's gw_mac) */
	__u16 flags;   /* RT_BE_* */
};

/* Connection table: an LRU_HASH with BPF_F_NO_COMMON_LRU (per-CPU LRU
 * lists, one shared table) keyed by the 5-tuple; the value is the __u32
 * backend index. See router.bpf.c for why not LRU_PERCPU_HASH. */
struct rt_flow {
	__be32 src;
	__be32 dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3]; /* must be 0 */
};

/* The config ARRAY has one entry. */
struct rt_config {
	__u32 abi;	      /* RT_ABI_VERSION, written by the loader */
	__be32 host_ip;	      /* this host; 0 = no decap, no local backends */
	__u32 egress_ifindex; /* IPIP out of: 0 = XDP_TX (ingress iface) */
	__u16 mtu;	      /* underlay MTU; 0 = unchecked */
	__u8 gw_mac[6];	      /* IPIP next hop when the backend has no MAC */
	__u8 egress_mac[6];   /* IPIP source MAC when it leaves by egress */
};

/* Counters, a PERCPU_ARRAY indexed by vip id; row 0 counts what belongs to
 * no VIP (passed traffic, decap to a container address, fragments to a VIP
 * address without ports). LRU_HIT/LRU_MISS count lookups, not verdicts. */
enum rt_counter {
	RT_C_PASS,	      /* not ours: passed untouched */
	RT_C_LOCAL,	      /* redirected into a local container's veth */
	RT_C_ENCAP,	      /* IPIP-encapsulated to the backend's host */
	RT_C_DECAP,	      /* IPIP for this host, decapsulated, delivered */
	RT_C_DROP_FRAG,	      /* fragment of VIP traffic */
	RT_C_DROP_OPTS,	      /* IPv4 options on VIP traffic */
	RT_C_DROP_NO_BACKEND, /* VIP without a usable backend */
	RT_C_DROP_NO_LOCAL,   /* decapsulated VIP flow whose backend is not here
			       */
	RT_C_DROP_TOO_BIG,    /* encapsulated packet would exceed the MTU */
	RT_C_DROP_NO_NEXTHOP, /* no MAC or ifindex to forward to */
	RT_C_DROP_ERROR,      /* bad IPv4 length, or no headroom */
	RT_C_LRU_HIT,
	RT_C_LRU_MISS,
	RT_C_MAX,
};

struct rt_stats {
	__u64 packets[RT_C_MAX];
	__u64 bytes[RT_C_MAX];
};

/* Pinned names (BPF object names: at most 15 characters). */
#define RT_MAP_VIPS	 "rt_vips"
#define RT_MAP_VIP_ADDRS "rt_vip_addrs"
#define RT_MAP_TABLES	 "rt_tables"
#define RT_MAP_BACKENDS	 "rt_backends"
#define RT_MAP_ENDPOINTS "rt_endpoints"
#define RT_MAP_FLOWS	 "rt_flows"
#define RT_MAP_STATS	 "rt_stats"
#define RT_MAP_CONFIG	 "rt_config"
#define RT_PROG_ROUTER	 "rt_router"
#define RT_PROG_PASS	 "rt_pass"

/* The flow hash: Bob Jenkins' lookup3 final mix over the 5-tuple, taken as
 * the 32-bit words in memory (so on one byte order every host and user
 * space agree). RT_VIP_HASH_SRC hashes the source address only. */
static inline __u32 rt_rol32(__u32 x, int k)
{
	return (x << k) | (x >> (32 - k));
}

static inline __u32 rt_flow_hash(const struct rt_flow *f, __u32 vip_flags)
{
	__u32 a, b, c, init = 0xdeadbeef + 12 + 0x45444745;

	if (vip_flags & RT_VIP_HASH_SRC) {
		a = f->src + init;
		b = init;
		c = init;
	} else {
		a = f->src + init;
		b = f->dst + init;
		c = ((__u32)f->sport << 16 | f->dport) + f->proto + init;
	}
	c ^= b;
	c -= rt_rol32(b, 14);
	a ^= c;
	a -= rt_rol32(c, 11);
	b ^= a;
	b -= rt_rol32(a, 25);
	c ^= b;
	c -= rt_rol32(b, 16);
	a ^= c;
	a -= rt_rol32(c, 4);
	b ^= a;
	b -= rt_rol32(a, 14);
	c ^= b;
	c -= rt_rol32(b, 24);
	return c;
}

/* Internet checksum of an IPv4 header without options (check field 0). */
static inline __u16 rt_ip_csum(const void *hdr)
{
	const __u16 *p = hdr;
	__u32 sum = 0;
	int i;

	for (i = 0; i < 10; i++)
		sum += p[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

#endif
