/* vip_drv.c - driver for tests/bench/vip.sh: how many flows move when the
 * backends of a VIP change, against the theoretical minimum, in the same
 * run.
 *
 *   vip_drv [FLOWS]        default 200000 fresh flows per case
 *
 * Part 1, fresh flows (pure: maglev_build and route_flow_slot, what the
 * data plane computes): for N backends, one leaves (or halves its weight);
 * a flow "moved" when its backend differs before and after. The minimum is
 * the departed backend's own flows (1/N) - survivors' flows need not move
 * at all; for a weight change, the share it gave up. Each case is
 * measured with the fixed table size edgectl uses (maglev_table_size,
 * 65,537) and with the size that follows the backend count
 * (maglev_size_for: 251, 509, ...), the peer in the same run.
 *
 * Part 2, established flows through the real XDP program (the kernel's
 * test-run, private bpffs): 3 remote backends (IPIP: the outer destination
 * names the backend's host); FLOWS/10 flows each send a packet (inserted
 * into the connection table), then the table is swapped for one without
 * backend 2 (it drains: still installed), and every flow sends again; then
 * backend 2 is removed (route_backend_del) and they send once more. Needs
 * root (CAP_BPF) for part 2 only. */
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
#include <unistd.h>

#include <linux/bpf.h>

#define VIP "198.19.0.11"

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

/* A fixed pseudo-random flow i (same in every case and every run). */
static struct route_flow flow(unsigned i)
{
	uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ULL + 0x1234567;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return (struct route_flow){
	    htonl(0xc6130000u | (uint32_t)(x & 0xffff)), ip4(VIP),
	    (uint16_t)(1024 + ((x >> 16) % 60000)), 80, 6};
}

static uint32_t *table(struct mg_backend *b, size_t n, uint32_t m)
{
	uint32_t *t = xcalloc(m, sizeof(*t));
	struct ec_err err;

	if (maglev_build(b, n, m, t, &err) < 0) {
		fprintf(stderr, "vip_drv: %s\n", err.msg);
		exit(1);
	}
	return t;
}

struct moved {
	double all, survivors, minimum;
};

/* Backends before (b, n) and after (a, na); m0/m1 the table sizes. */
static struct moved count(struct mg_backend *b, size_t n, uint32_t m0,
			  struct mg_backend *a, size_t na, uint32_t m1,
			  uint32_t gone, unsigned flows)
{
	uint32_t *t0 = table(b, n, m0), *t1 = table(a, na, m1);
	unsigned i, moved = 0, surv = 0, surv_moved = 0;

	for (i = 0; i < flows; i++) {
		struct route_flow f = flow(i);
		uint32_t x = t0[route_flow_slot(&f, 0, m0)];
		uint32_t y = t1[route_flow_slot(&f, 0, m1)];
		moved += x != y;
		if (x != gone) {
			surv++;
			surv_moved += x != y;
		}
	}
	free(t0);
	free(t1);
	return (struct moved){(double)moved / flows,
			      surv ? (double)surv_moved / surv : 0,
			      (double)(flows - surv) / flows};
}

static void part1(unsigned flows)
{
	static const size_t ns[] = {3, 10, 100};
	size_t k, i;

	printf("fresh flows moved (%u flows; minimum = the departed backend's "
	       "own flows, survivors' flows need not move)\n",
	       flows);
	printf("%-4s %-22s %9s %9s %13s %13s %9s\n", "N", "change", "minimum",
	       "fixed", "fixed: surv.", "by-count", "by/fixed");
	for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		size_t n = ns[k];
		struct mg_backend *b = xcalloc(n, sizeof(*b)),
				  *a = xcalloc(n, sizeof(*a));
		struct moved f, o;
		uint32_t gone = (uint32_t)(n / 2 + 1);

		for (i = 0; i < n; i++) {
			b[i].key = xasprintf("h%zu/backend", i);
			b[i].weight = 100;
			b[i].id = (uint32_t)i + 1;
		}
		/* one leaves: the backends but `gone` */
		for (i = 0; i < n; i++)
			if (b[i].id != gone)
				a[i < gone - 1 ? i : i - 1] = b[i];
		f = count(b, n, maglev_table_size(n), a, n - 1,
			  maglev_table_size(n - 1), gone, flows);
		o = count(b, n, maglev_size_for(n), a, n - 1,
			  maglev_size_for(n - 1), gone, flows);
		printf("%-4zu %-22s %8.2f%% %8.2f%% %12.2f%% %12.2f%% %8.1fx\n",
		       n, "one of N leaves", 100 * f.minimum, 100 * f.all,
		       100 * f.survivors, 100 * o.all,
		       f.all > 0 ? o.all / f.all : 0);
		/* one halves its weight (what an RTT or load factor does) */
		memcpy(a, b, n * sizeof(*b));
		a[gone - 1].weight = 50;
		f = count(b, n, maglev_table_size(n), a, n,
			  maglev_table_size(n), 0, flows);
		o = count(b, n, maglev_size_for(n), a, n, maglev_size_for(n), 0,
			  flows);
		/* its share falls from 1/N to 50/(100N - 50) */
		f.minimum = 1.0 / (double)n - 50.0 / (100.0 * (double)n - 50);
		printf("%-4zu %-22s %8.2f%% %8.2f%% %13s %12.2f%% %8.1fx\n", n,
		       "one to half weight", 100 * f.minimum, 100 * f.all, "-",
		       100 * o.all, f.all > 0 ? o.all / f.all : 0);
		for (i = 0; i < n; i++)
			free((char *)b[i].key);
		free(b);
		free(a);
	}
}

/* ---- part 2: the data plane ------------------------------------------- */

static struct route *R;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* An Ethernet + IPv4 + TCP ACK frame of flow f (no payload). */
static size_t frame(uint8_t *p, const struct route_flow *f)
{
	static const uint8_t us[6] = {2, 0, 0, 0, 0, 1},
			     cl[6] = {2, 0, 0, 0, 0, 0xc1};
	uint32_t s = 0;
	int i;

	memset(p, 0, 54);
	memcpy(p, us, 6);
	memcpy(p + 6, cl, 6);
	put16(p + 12, 0x0800);
	p[14] = 0x45;
	put16(p + 16, 40);
	put16(p + 20, 0x4000);
	p[22] = 64;
	p[23] = 6;
	memcpy(p + 26, &f->src, 4);
	memcpy(p + 30, &f->dst, 4);
	for (i = 0; i < 20; i += 2)
		s += (uint32_t)p[14 + i] << 8 | p[15 + i];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	put16(p + 24, (uint16_t)~s);
	put16(p + 34, f->sport);
	put16(p + 36, f->dport);
	p[46] = 5 << 4;
	p[47] = 0x10; /* ACK */
	return 54;
}

/* The backend host a flow's packet goes to (outer destination), 0 when
 * dropped. */
static uint32_t send1(const struct route_flow *f)
{
	uint8_t in[64], out[256];
	size_t len = frame(in, f), olen = sizeof(out);
	uint32_t act, host;
	struct ec_err err;

	if (route_test_run(R, ROUTE_PROG_ROUTER, in, len, out, &olen, &act,
			   NULL, &err) < 0) {
		fprintf(stderr, "vip_drv: %s\n", err.msg);
		exit(1);
	}
	if (act != XDP_TX || olen < 34)
		return 0;
	memcpy(&host, out + 30, 4);
	return host;
}

static int part2(unsigned flows)
{
	char tmpl[] = "/tmp/edgectl-vip-bench-XXXXXX", *dir;
	struct route_config cfg = {.host_ip = ip4("198.18.0.1")};
	struct route_vip v = {ip4(VIP), 80, ROUTE_TCP};
	struct mg_backend b[3];
	char *keys[3];
	uint32_t m = maglev_table_size(3), *t, *before, x;
	unsigned i, moved = 0, surv = 0, on_gone = 0, fresh_moved = 0;
	unsigned gone_moved = 0;
	struct ec_err err;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    !mkdtemp(tmpl) || mount("bpf", tmpl, "bpf", 0, "mode=0700") < 0) {
		fprintf(stderr, "vip_drv: private bpffs: %s (needs root)\n",
			strerror(errno));
		return 1;
	}
	dir = xasprintf("%s/edgectl", tmpl);
	if (route_open(dir, ROUTE_OPEN_CREATE, &R, &err) < 0 ||
	    route_config_set(R, &cfg, &err) < 0 ||
	    route_vip_set(R, &v, 1, 0, &err) < 0)
		goto fail;
	for (i = 0; i < 3; i++) {
		struct route_backend rb = {
		    htonl(0xc6120000u | (2 + i) << 8 | 2),
		    htonl(0xc6120000u | (2 + i)),
		    0,
		    {2, 0, 0, 0, 0, 2}};
		if (route_backend_set(R, i + 1, &rb, &err) < 0)
			goto fail;
		keys[i] = xasprintf("h%u/c", i);
		b[i] = (struct mg_backend){keys[i], 100, i + 1};
	}
	t = table(b, 3, m);
	if (route_table_swap(R, 1, t, m, &err) < 0)
		goto fail;
	free(t);
	before = xcalloc(flows, sizeof(*before));
	for (i = 0; i < flows; i++) {
		struct route_flow f = flow(i);
		before[i] = send1(&f); /* miss: into the connection table */
	}
	/* backend 2 leaves the table (draining: still installed) */
	b[1] = b[2];
	t = table(b, 2, m);
	if (route_table_swap(R, 1, t, m, &err) < 0)
		goto fail;
	free(t);
	for (i = 0; i < flows; i++) {
		struct route_flow f = flow(i);
		x = send1(&f);
		if (before[i] == htonl(0xc6120000u | 3))
			on_gone++;
		else
			surv++;
		moved += x != before[i];
	}
	if (route_backend_del(R, 2, &err) < 0)
		goto fail;
	for (i = 0; i < flows; i++) {
		struct route_flow f = flow(i);
		x = send1(&f);
		if (before[i] == htonl(0xc6120000u | 3))
			gone_moved += x != before[i];
		else
			fresh_moved += x != before[i];
	}
	printf("established flows through the XDP program (%u flows, 3 remote "
	       "backends, %u on backend 2)\n",
	       flows, on_gone);
	printf("  backend 2 leaves the table (draining): %u of %u flows moved "
	       "(%.2f%%; minimum 0: the connection table keeps them)\n",
	       moved, flows, 100.0 * moved / flows);
	printf("  backend 2 removed: %u of its %u flows moved (%.0f%%), %u of "
	       "the %u others (%.2f%%; minimum 0)\n",
	       gone_moved, on_gone, on_gone ? 100.0 * gone_moved / on_gone : 0,
	       fresh_moved, surv, surv ? 100.0 * fresh_moved / surv : 0);
	free(before);
	for (i = 0; i < 3; i++)
		free(keys[i]);
	route_free(R);
	route_unload(dir, &err);
	umount2(tmpl, MNT_DETACH);
	rmdir(tmpl);
	free(dir);
	return 0;
fail:
	fprintf(stderr, "vip_drv: %s\n", err.msg);
	return 1;
}

int main(int argc, char **argv)
{
	unsigned flows =
	    argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;

	if (flows < 100) {
		fprintf(stderr, "usage: vip_drv [FLOWS>=100]\n");
		return 2;
	}
	part1(flows);
	return part2(flows / 10);
}
