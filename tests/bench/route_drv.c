/* route_drv.c - driver for tests/bench/route.sh: the router's cost per
 * packet, from the kernel's test-run of crafted frames (no device).
 *
 *   route_drv [CALLS [BACKENDS]]     defaults 200000 calls, 100 backends
 *
 * Every call runs one packet (repeat = 1: a rewriting program must never
 * see its own output, xdp-notes). The kernel reports each call's run time;
 * the mean of a pass-only program is the floor (test-run overhead), and
 * each case prints its mean minus that floor. Cases: traffic of no VIP,
 * connection-table hit (local backend), miss + insert (a new flow each
 * call), SYN (table, no lookup), IPIP encapsulation (hit), decapsulation
 * (hit). Needs root; pins into a private bpffs in a private mount
 * namespace, so nothing is left behind. */
#include "route/route.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>

static struct route *R;

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* An IPv4 packet (TCP with flags, or UDP) with 64 bytes of payload. */
static size_t mk_ip(uint8_t *p, uint8_t proto, uint32_t src, uint32_t dst,
		    uint16_t sport, uint16_t dport, uint8_t flags)
{
	size_t l4 = proto == 6 ? 20 : proto == 17 ? 8 : 0, len = 20 + l4 + 64;

	memset(p, 0, len);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)len);
	put16(p + 6, 0x4000);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, &src, 4);
	memcpy(p + 16, &dst, 4);
	put16(p + 10, csum(p, 20));
	put16(p + 20, sport);
	put16(p + 22, dport);
	if (proto == 6) {
		p[32] = 5 << 4;
		p[33] = flags;
	} else if (proto == 17) {
		put16(p + 24, (uint16_t)(8 + 64));
	}
	return len;
}

static size_t mk_eth(uint8_t *p)
{
	static const uint8_t us[6] = {2, 0, 0, 0, 0, 1},
			     cl[6] = {2, 0, 0, 0, 0, 0xc1};

	memcpy(p, us, 6);
	memcpy(p + 6, cl, 6);
	put16(p + 12, 0x0800);
	return 14;
}

/* Mean kernel time per call over n calls; frame() rebuilds the input. */
struct bcase {
	const char *name;
	uint32_t want;
	size_t (*frame)(uint8_t *p, unsigned i);
	int prog;
};

static double measure(const struct bcase *c, unsigned n, double *wall)
{
	uint8_t in[512], out[4096];
	uint64_t sum = 0;
	struct timespec t0, t1;
	struct ec_err err;
	unsigned i, bad = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		size_t len = c->frame(in, i), olen = sizeof(out);
		uint32_t act, ns;

		if (route_test_run(R, c->prog, in, len, out, &olen, &act, &ns,
				   &err) < 0) {
			fprintf(stderr, "route_drv: %s\n", err.msg);
			exit(1);
		}
		bad += act != c->want;
		sum += ns;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (bad) {
		fprintf(stderr, "route_drv: %s: %u of %u verdicts wrong\n",
			c->name, bad, n);
		exit(1);
	}
	*wall = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
		 (double)(t1.tv_nsec - t0.tv_nsec)) /
		n;
	return (double)sum / n;
}

#define CLIENT	   "198.19.100.1"
#define VIP_LOCAL  "198.19.0.10" /* :80/tcp -> backend 1 (here) */
#define VIP_REMOTE "198.19.0.11" /* :80/tcp -> backends 2.. (elsewhere) */
#define VIP_NOLRU  "198.19.0.12" /* the same, without connection table */

static size_t f_pass(uint8_t *p, unsigned i)
{
	size_t n = mk_eth(p);

	(void)i;
	return n + mk_ip(p + n, 6, ip4(CLIENT), ip4("198.19.0.99"), 40000, 80,
			 0x10);
}

static size_t f_hit(uint8_t *p, unsigned i)
{
	size_t n = mk_eth(p);

	(void)i;
	return n +
	       mk_ip(p + n, 6, ip4(CLIENT), ip4(VIP_LOCAL), 40000, 80, 0x10);
}

/* A new flow each call (source address and port walk 2^30 values). */
static size_t f_miss(uint8_t *p, unsigned i)
{
	size_t n = mk_eth(p);
	uint32_t src = htonl(0xc6130000u | ((i >> 14) & 0xffff));

	return n + mk_ip(p + n, 6, src, ip4(VIP_REMOTE),
			 (uint16_t)(1024 + (i & 0x3fff)), 80, 0x10);
}

/* A new flow each call to a VIP without connection table. */
static size_t f_nolru(uint8_t *p, unsigned i)
{
	size_t n = mk_eth(p);
	uint32_t src = htonl(0xc6130000u | ((i >> 14) & 0xffff));

	return n + mk_ip(p + n, 6, src, ip4(VIP_NOLRU),
			 (uint16_t)(1024 + (i & 0x3fff)), 80, 0x10);
}

static size_t f_syn(uint8_t *p, unsigned i)
{
	size_t n = mk_eth(p);

	return n + mk_ip(p + n, 6, ip4(CLIENT), ip4(VIP_REMOTE),
			 (uint16_t)(1024 + (i & 0x3fff)), 80, 0x02);
}

static size_t f_encap(uint8_t *p, unsigned i)
{
	size_t n = mk_eth(p);

	(void)i;
	return n +
	       mk_ip(p + n, 6, ip4(CLIENT), ip4(VIP_REMOTE), 40001, 80, 0x10);
}

static size_t f_decap(uint8_t *p, unsigned i)
{
	size_t n = mk_eth(p), il;

	(void)i;
	il = mk_ip(p + n + 20, 6, ip4(CLIENT), ip4(VIP_LOCAL), 40002, 80, 0x10);
	memset(p + n, 0, 20);
	p[n] = 0x45;
	put16(p + n + 2, (uint16_t)(il + 20));
	p[n + 8] = 64;
	p[n + 9] = 4;
	*(uint32_t *)(p + n + 12) = ip4("198.18.0.2");
	*(uint32_t *)(p + n + 16) = ip4("198.18.0.1");
	put16(p + n + 10, csum(p + n, 20));
	return n + 20 + il;
}

static int setup(unsigned nb, struct ec_err *err)
{
	struct route_config cfg = {.host_ip = ip4("198.18.0.1")};
	struct route_backend b = {
	    ip4("198.18.1.2"), ip4("198.18.0.1"), 7, {2, 0, 0, 0, 1, 2}};
	struct route_vip vl = {ip4(VIP_LOCAL), 80, ROUTE_TCP};
	struct route_vip vr = {ip4(VIP_REMOTE), 80, ROUTE_TCP};
	struct route_vip vn = {ip4(VIP_NOLRU), 80, ROUTE_TCP};
	struct mg_backend *mb = xcalloc(nb, sizeof(*mb));
	uint32_t m = maglev_table_size(nb), *t = xcalloc(m, sizeof(*t)), i;
	uint32_t one[251];
	int rc = -1;

	for (i = 0; i < 251; i++)
		one[i] = 1;
	if (route_config_set(R, &cfg, err) < 0 ||
	    route_backend_set(R, 1, &b, err) < 0 ||
	    route_vip_set(R, &vl, 1, 0, err) < 0 ||
	    route_vip_set(R, &vr, 2, 0, err) < 0 ||
	    route_table_swap(R, 1, one, 251, err) < 0)
		goto out;
	for (i = 0; i < nb; i++) {
		struct route_backend r = {htonl(0xc6120000u | (2 + i) << 8 | 2),
					  htonl(0xc6120000u | (2 + i)),
					  0,
					  {2, 0, 0, 0, 0, 2}};

		if (route_backend_set(R, 2 + i, &r, err) < 0)
			goto out;
		mb[i].key = xasprintf("h%u/c", i);
		mb[i].weight = 1;
		mb[i].id = 2 + i;
	}
	if (maglev_build(mb, nb, m, t, err) < 0 ||
	    route_table_swap(R, 2, t, m, err) < 0 ||
	    route_vip_set(R, &vn, 3, ROUTE_VIP_NO_LRU, err) < 0 ||
	    route_table_swap(R, 3, t, m, err) < 0)
		goto out;
	printf("setup: VIP with %u remote backends, Maglev table %u slots\n",
	       nb, m);
	rc = 0;
out:
	for (i = 0; i < nb; i++)
		free((char *)mb[i].key);
	free(mb);
	free(t);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
	unsigned nb = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 100;
	const struct bcase floor_case = {"floor", XDP_PASS, f_pass,
					 ROUTE_PROG_PASS};
	const struct bcase cases[] = {
	    {"no VIP (pass)", XDP_PASS, f_pass, ROUTE_PROG_ROUTER},
	    {"LRU hit, local", XDP_REDIRECT, f_hit, ROUTE_PROG_ROUTER},
	    {"miss + insert", XDP_TX, f_miss, ROUTE_PROG_ROUTER},
	    {"table, no LRU", XDP_TX, f_nolru, ROUTE_PROG_ROUTER},
	    {"SYN (table)", XDP_TX, f_syn, ROUTE_PROG_ROUTER},
	    {"encap (hit)", XDP_TX, f_encap, ROUTE_PROG_ROUTER},
	    {"decap (hit)", XDP_REDIRECT, f_decap, ROUTE_PROG_ROUTER},
	};
	char tmpl[] = "/tmp/edgectl-route-bench-XXXXXX", *dir;
	double floor_ns, floor_wall, ns, wall;
	struct ec_err err;
	cpu_set_t one;
	size_t i;

	if (!n || nb < 1 || nb > 4000) {
		fprintf(stderr, "usage: route_drv [CALLS [BACKENDS<=4000]]\n");
		return 2;
	}
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one); /* steadier numbers */
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    !mkdtemp(tmpl) || mount("bpf", tmpl, "bpf", 0, "mode=0700") < 0) {
		fprintf(stderr, "route_drv: private bpffs: %s (needs root)\n",
			strerror(errno));
		return 1;
	}
	dir = xasprintf("%s/edgectl", tmpl);
	if (route_open(dir, ROUTE_OPEN_CREATE, &R, &err) < 0 ||
	    setup(nb, &err) < 0) {
		fprintf(stderr, "route_drv: %s\n", err.msg);
		return 1;
	}
	/* warm up, then the floor */
	measure(&floor_case, n / 10 + 1, &wall);
	floor_ns = measure(&floor_case, n, &floor_wall);
	printf("floor (XDP_PASS-only program): %.0f ns/call in the kernel, "
	       "%.0f ns/call wall (syscall)\n",
	       floor_ns, floor_wall);
	printf("%-18s %10s %12s %12s\n", "case", "ns/packet", "kernel ns",
	       "wall ns");
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cases[i].frame == f_hit || cases[i].frame == f_encap ||
		    cases[i].frame == f_decap)
			measure(&cases[i], 1, &wall); /* insert the flow */
		ns = measure(&cases[i], n, &wall);
		printf("%-18s %10.0f %12.0f %12.0f\n", cases[i].name,
		       ns - floor_ns, ns, wall);
	}
	/* the hit cases must have hit: connection-table counters of the
	 * local VIP (1: LRU hit case) and the remote one (2) */
	for (i = 1; i <= 2; i++) {
		struct route_stats st;

		if (route_stats_read(R, (uint32_t)i, &st, &err) < 0) {
			fprintf(stderr, "route_drv: %s\n", err.msg);
			return 1;
		}
		printf("VIP %zu: connection table %llu hits, %llu misses\n", i,
		       (unsigned long long)st.packets[ROUTE_C_LRU_HIT],
		       (unsigned long long)st.packets[ROUTE_C_LRU_MISS]);
	}
	route_free(R);
	route_unload(dir, &err);
	umount2(tmpl, MNT_DETACH);
	rmdir(tmpl);
	free(dir);
	return 0;
}
