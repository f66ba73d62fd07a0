/* router.bpf.c - edgectl's XDP router (DESIGN §6).
 *
 * One XDP program, rt_router, attached to a host's uplink:
 *   - IPv4 TCP/UDP to a VIP {addr, port, proto}: pick a backend (connection
 *     table, else the VIP's Maglev table), then either rewrite the MACs and
 *     redirect into the backend's veth (backend on this host) or wrap the
 *     packet in IPIP to the backend's host and XDP_TX it (or redirect it to
 *     a configured egress interface).
 *   - IPIP whose outer destination is this host: strip the outer header and
 *     deliver the inner packet to the local container it is for.
 *   - Everything else, IPv6 included (this router is IPv4 only), returns
 *     XDP_PASS with the packet untouched.
 * VIP traffic that is fragmented or carries IPv4 options is dropped and
 * counted: the router needs the ports of every packet of a flow, and the
 * stack would reassemble or parse what the router cannot see.
 *
 * Containers own the VIP on their loopback and answer directly (direct
 * server return): the inner packet is never rewritten, so no L4 checksum
 * work is needed; only the outer IPv4 header gets a checksum.
 *
 * Next hop for IPIP: the backend's `mac` (user space resolves the MAC of the
 * backend's host, or of the gateway towards it), else the config's gw_mac;
 * the source MAC is the destination MAC the frame arrived with (ours). The
 * frame leaves by XDP_TX unless the config names an egress interface other
 * than the one it came in by (a router attached to a client-facing link as
 * well as to its uplink): then it is redirected there, from the egress
 * interface's MAC.
 *
 * rt_pass is a program that passes everything: XDP_TX and redirects into a
 * veth are dropped unless the peer end has an XDP program (or GRO), so user
 * space attaches rt_pass there (route_attach with ROUTE_ATTACH_PASS).
 *
 * Not handled (passed or dropped as said): VLAN-tagged frames (passed), ICMP
 * to a VIP (passed: PMTU errors reach the host stack, not the container),
 * IPIP larger than the MTU (dropped and counted; no ICMP frag-needed is
 * sent). The TTL is not decremented: the router acts as a tunnel. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "router.h"

#define IP_DF	  0x4000
#define IP_MF	  0x2000
#define IP_OFFSET 0x1fff
#define RT_TTL	  64

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RT_MAX_VIPS);
	__type(key, struct rt_vip_key);
	__type(value, struct rt_vip_val);
} rt_vips SEC(".maps");

/* VIP addresses (value: how many VIPs use it), to recognise non-first
 * fragments, which carry no ports. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RT_MAX_VIP_ADDRS);
	__type(key, __be32);
	__type(value, __u32);
} rt_vip_addrs SEC(".maps");

struct rt_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RT_MAX_TABLE + 1);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, RT_MAX_VIPS);
	__type(key, __u32);
	__array(values, struct rt_table);
} rt_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct rt_backend);
} rt_backends SEC(".maps");

/* Container address -> backend index, for IPIP addressed to a container. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RT_MAX_BACKENDS);
	__type(key, __be32);
	__type(value, __u32);
} rt_endpoints SEC(".maps");

/* The connection table. Per-CPU LRU lists (BPF_F_NO_COMMON_LRU: no global
 * LRU lock) over one shared hash, rather than LRU_PERCPU_HASH: a per-CPU
 * value costs max_entries x CPUs of memory, and a flow whose packets change
 * CPU (on veth the CPU is the sender's) would find its slot empty there and
 * could land on another backend after a table swap. Written only on misses
 * and SYNs, so the shared buckets see little contention. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RT_MAX_FLOWS);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct rt_flow);
	__type(value, __u32);
} rt_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RT_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct rt_stats);
} rt_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rt_config);
} rt_config SEC(".maps");

/* What the parser learnt about one IPv4 packet. */
struct rt_pkt {
	struct rt_flow flow;
	__u8 syn;  /* TCP SYN without ACK: a new connection */
	__u8 frag; /* first fragment (MF set, offset 0) */
	__u8 opts; /* IPv4 options present */
};

static __always_inline void rt_count(__u32 row, __u32 c, __u64 bytes)
{
	struct rt_stats *s;

	if (c >= RT_C_MAX)
		return;
	s = bpf_map_lookup_elem(&rt_stats, &row);
	if (!s)
		return;
	s->packets[c]++;
	s->bytes[c] += bytes;
}

static __always_inline int rt_verdict(__u32 row, __u32 c, __u64 bytes,
				      int action)
{
	rt_count(row, c, bytes);
	return action;
}

static __always_inline int rt_mac_zero(const __u8 *m)
{
	return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

/* Parse the L4 ports of the IPv4 packet at `ip` (20 bytes checked by the
 * caller). Returns 0 with p filled, 1 for a non-first fragment (no ports),
 * -1 for anything not TCP/UDP or truncated. The walk over options is
 * bounded: ihl is 4 bits, so L4 starts at most 60 bytes in. */
static __always_inline int rt_parse_l4(struct iphdr *ip, void *end,
				       struct rt_pkt *p)
{
	__u32 hl = (ip->ihl & 0xf) * 4;
	__u16 frag = ip->frag_off;
	void *l4 = (void *)ip + hl;

	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return -1;
	if (frag & bpf_htons(IP_OFFSET))
		return 1;
	p->frag = !!(frag & bpf_htons(IP_MF));
	p->opts = hl != sizeof(struct iphdr);
	p->flow.src = ip->saddr;
	p->flow.dst = ip->daddr;
	p->flow.proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end)
			return -1;
		p->flow.sport = th->source;
		p->flow.dport = th->dest;
		p->syn = th->syn && !th->ack;
	} else {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return -1;
		p->flow.sport = uh->source;
		p->flow.dport = uh->dest;
	}
	return 0;
}

/* Pick the backend for a VIP flow: the connection table first (SYNs skip
 * it and take the current table), then the Maglev table, remembering the
 * choice. A table hit for a backend slot marked invalid is a miss; a valid
 * backend absent from the current table (weight 0: draining) still serves
 * the flows the connection table holds for it. Returns the backend or NULL. */
static __always_inline struct rt_backend *
rt_pick(struct rt_pkt *p, const struct rt_vip_val *vip, __u32 row, __u64 len)
{
	int lru = !(vip->flags & RT_VIP_NO_LRU);
	__u32 id = vip->id, slot = RT_TABLE_SIZE_SLOT, idx, *v, m;
	struct rt_backend *be;
	void *table;

	if (lru && !p->syn) {
		v = bpf_map_lookup_elem(&rt_flows, &p->flow);
		if (v) {
			idx = *v;
			be = bpf_map_lookup_elem(&rt_backends, &idx);
			if (be && (be->flags & RT_BE_VALID)) {
				rt_count(row, RT_C_LRU_HIT, len);
				return be;
			}
		}
	}
	table = bpf_map_lookup_elem(&rt_tables, &id);
	if (!table)
		return NULL;
	v = bpf_map_lookup_elem(table, &slot);
	if (!v || !*v)
		return NULL;
	m = *v;
	slot = rt_flow_hash(&p->flow, vip->flags) % m + 1;
	v = bpf_map_lookup_elem(table, &slot);
	if (!v || !*v)
		return NULL;
	idx = *v;
	be = bpf_map_lookup_elem(&rt_backends, &idx);
	if (!be || !(be->flags & RT_BE_VALID))
		return NULL;
	if (lru) {
		bpf_map_update_elem(&rt_flows, &p->flow, &idx, BPF_ANY);
		rt_count(row, RT_C_LRU_MISS, len);
	}
	return be;
}

/* Hand the frame at ctx (Ethernet + IPv4) to a container on this host. */
static __always_inline int rt_to_local(struct xdp_md *ctx,
				       const struct rt_backend *be, __u32 row,
				       __u32 c, __u64 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if (!be->ifindex)
		return rt_verdict(row, RT_C_DROP_NO_NEXTHOP, len, XDP_DROP);
	if ((void *)(eth + 1) > end)
		return rt_verdict(row, RT_C_DROP_ERROR, len, XDP_DROP);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	rt_count(row, c, len);
	return bpf_redirect(be->ifindex, 0);
}

/* Wrap the IPv4 packet in IPIP from this host to the backend's host. */
static __always_inline int rt_encap(struct xdp_md *ctx,
				    const struct rt_config *cfg,
				    const struct rt_backend *be, __u32 row,
				    __u64 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1), *outer;
	__u8 smac[ETH_ALEN];
	const __u8 *dmac;
	__u16 inner_len, df;
	__u8 tos;
	int egress;

	if ((void *)(ip + 1) > end)
		return rt_verdict(row, RT_C_DROP_ERROR, len, XDP_DROP);
	inner_len = bpf_ntohs(ip->tot_len);
	if (inner_len < sizeof(struct iphdr) || (void *)ip + inner_len > end)
		return rt_verdict(row, RT_C_DROP_ERROR, len, XDP_DROP);
	if (cfg->mtu && inner_len + sizeof(struct iphdr) > cfg->mtu)
		return rt_verdict(row, RT_C_DROP_TOO_BIG, len, XDP_DROP);
	dmac = rt_mac_zero(be->mac) ? cfg->gw_mac : be->mac;
	if (rt_mac_zero(dmac))
		return rt_verdict(row, RT_C_DROP_NO_NEXTHOP, len, XDP_DROP);
	egress =
	    cfg->egress_ifindex && cfg->egress_ifindex != ctx->ingress_ifindex;
	__builtin_memcpy(smac, egress ? cfg->egress_mac : eth->h_dest,
			 ETH_ALEN);
	tos = ip->tos;
	df = ip->frag_off & bpf_htons(IP_DF);

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return rt_verdict(row, RT_C_DROP_ERROR, len, XDP_DROP);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	outer = (void *)(eth + 1);
	if ((void *)(outer + 1) > end)
		return rt_verdict(row, RT_C_DROP_ERROR, len, XDP_DROP);

	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = df;
	outer->ttl = RT_TTL;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = cfg->host_ip;
	outer->daddr = be->host;
	outer->check = rt_ip_csum(outer);

	rt_count(row, RT_C_ENCAP, len);
	if (egress)
		return bpf_redirect(cfg->egress_ifindex, 0);
	return XDP_TX;
}

/* Strip the outer IPv4 header of an IPIP packet and deliver the inner one
 * to the local backend `be`. */
static __always_inline int
rt_strip(struct xdp_md *ctx, const struct rt_backend *be, __u32 row, __u64 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 mac[ETH_ALEN];

	if (!be->ifindex)
		return rt_verdict(row, RT_C_DROP_NO_NEXTHOP, len, XDP_DROP);
	if ((void *)(eth + 1) > end)
		return rt_verdict(row, RT_C_DROP_ERROR, len, XDP_DROP);
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct iphdr)))
		return rt_verdict(row, RT_C_DROP_ERROR, len, XDP_DROP);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return rt_verdict(row, RT_C_DROP_ERROR, len, XDP_DROP);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return rt_to_local(ctx, be, row, RT_C_DECAP, len);
}

static __always_inline int rt_is_local(const struct rt_backend *be,
				       const struct rt_config *cfg)
{
	return be->host == cfg->host_ip;
}

/* IPIP addressed to this host. The inner packet goes to the local container
 * whose address is its destination, or, for a VIP (direct server return:
 * the inner destination is the VIP), to the backend this host's connection
 * table or Maglev table picks; every host of a location builds the same
 * tables from the same inputs, so that is the one the sender picked. IPIP
 * for neither is passed untouched (another tunnel user may want it). */
static __always_inline int rt_decap(struct xdp_md *ctx,
				    const struct rt_config *cfg, __u64 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *outer = data + sizeof(struct ethhdr), *ip;
	struct rt_vip_key vk = {};
	struct rt_vip_val *vip;
	struct rt_backend *be;
	struct rt_pkt p = {};
	__u32 idx, *v;
	__be32 dst;
	int r;

	if ((void *)(outer + 1) > end)
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	if (outer->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return rt_verdict(0, RT_C_DROP_FRAG, len, XDP_DROP);
	if (outer->ihl != 5)
		return rt_verdict(0, RT_C_DROP_OPTS, len, XDP_DROP);
	ip = (void *)(outer + 1);
	if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);

	dst = ip->daddr;
	v = bpf_map_lookup_elem(&rt_endpoints, &dst);
	if (v) {
		idx = *v;
		be = bpf_map_lookup_elem(&rt_backends, &idx);
		if (be && (be->flags & RT_BE_VALID) && rt_is_local(be, cfg))
			return rt_strip(ctx, be, 0, len);
	}

	r = rt_parse_l4(ip, end, &p);
	if (r == 1) {
		if (bpf_map_lookup_elem(&rt_vip_addrs, &dst))
			return rt_verdict(0, RT_C_DROP_FRAG, len, XDP_DROP);
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	}
	if (r < 0)
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	vk.addr = p.flow.dst;
	vk.port = p.flow.dport;
	vk.proto = p.flow.proto;
	vip = bpf_map_lookup_elem(&rt_vips, &vk);
	if (!vip)
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	if (p.frag)
		return rt_verdict(vip->id, RT_C_DROP_FRAG, len, XDP_DROP);
	if (p.opts)
		return rt_verdict(vip->id, RT_C_DROP_OPTS, len, XDP_DROP);
	be = rt_pick(&p, vip, vip->id, len);
	if (!be)
		return rt_verdict(vip->id, RT_C_DROP_NO_BACKEND, len, XDP_DROP);
	if (!rt_is_local(be, cfg))
		return rt_verdict(vip->id, RT_C_DROP_NO_LOCAL, len, XDP_DROP);
	return rt_strip(ctx, be, vip->id, len);
}

/* TCP/UDP that may be for a VIP. */
static __always_inline int rt_vip(struct xdp_md *ctx,
				  const struct rt_config *cfg, struct iphdr *ip,
				  void *end, __u64 len)
{
	struct rt_vip_key vk = {};
	struct rt_vip_val *vip;
	struct rt_backend *be;
	struct rt_pkt p = {};
	__be32 dst = ip->daddr;
	int r;

	r = rt_parse_l4(ip, end, &p);
	if (r == 1) {
		if (bpf_map_lookup_elem(&rt_vip_addrs, &dst))
			return rt_verdict(0, RT_C_DROP_FRAG, len, XDP_DROP);
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	}
	if (r < 0)
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	vk.addr = p.flow.dst;
	vk.port = p.flow.dport;
	vk.proto = p.flow.proto;
	vip = bpf_map_lookup_elem(&rt_vips, &vk);
	if (!vip)
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	if (p.frag)
		return rt_verdict(vip->id, RT_C_DROP_FRAG, len, XDP_DROP);
	if (p.opts)
		return rt_verdict(vip->id, RT_C_DROP_OPTS, len, XDP_DROP);
	be = rt_pick(&p, vip, vip->id, len);
	if (!be)
		return rt_verdict(vip->id, RT_C_DROP_NO_BACKEND, len, XDP_DROP);
	if (rt_is_local(be, cfg))
		return rt_to_local(ctx, be, vip->id, RT_C_LOCAL, len);
	return rt_encap(ctx, cfg, be, vip->id, len);
}

SEC("xdp")
int rt_router(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct rt_config *cfg;
	struct iphdr *ip;
	__u64 len = end - data;
	__u32 zero = 0;

	if ((void *)(eth + 1) > end)
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	/* IPv6, ARP, VLAN-tagged frames: not ours, untouched. */
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
		return rt_verdict(0, RT_C_PASS, len, XDP_PASS);
	cfg = bpf_map_lookup_elem(&rt_config, &zero);
	if (!cfg)
		return XDP_PASS;
	if (ip->protocol == IPPROTO_IPIP && cfg->host_ip &&
	    ip->daddr == cfg->host_ip)
		return rt_decap(ctx, cfg, len);
	return rt_vip(ctx, cfg, ip, end, len);
}

SEC("xdp")
int rt_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}
