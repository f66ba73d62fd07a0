/* route.c - the router: Maglev tables (pure), then the XDP program run by
 * the kernel's test-run on crafted frames (needs root): exact verdicts and
 * output bytes, as Katran's fixtures do. The BPF tests pin into a private
 * bpffs mounted in a private mount namespace, so nothing outlives the test
 * even when it crashes. Addresses are in 198.18.0.0/15. */
#include "route/route.h"
#include "util/xalloc.h"

#include "router.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/magic.h>

static void skip(const char *what, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++tap_n, what, why);
}

/* ---- Maglev ------------------------------------------------------------ */

static int is_prime(uint32_t n)
{
	uint32_t d;

	if (n < 2)
		return 0;
	for (d = 2; (uint64_t)d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

/* n backends keyed "host<i>/198.18.<i>.2", ids 1..n, weight w[i] (or 1). */
static struct mg_backend *mk_backends(size_t n, const uint32_t *w)
{
	struct mg_backend *b = xcalloc(n, sizeof(*b));
	size_t i;

	for (i = 0; i < n; i++) {
		b[i].key = xasprintf("host%zu/198.18.%zu.2", i % 7, i);
		b[i].weight = w ? w[i] : 1;
		b[i].id = (uint32_t)i + 1;
	}
	return b;
}

static void free_backends(struct mg_backend *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((char *)b[i].key);
	free(b);
}

static uint32_t *build(const struct mg_backend *b, size_t n, uint32_t m)
{
	uint32_t *t = xcalloc(m, sizeof(*t));
	struct ec_err err;

	if (maglev_build(b, n, m, t, &err) < 0) {
		ok(0, "maglev_build: %s", err.msg);
		free(t);
		return NULL;
	}
	return t;
}

static void test_sizes(void)
{
	static const uint32_t want[][2] = {
	    {0, 251},	   {1, 251},	 {2, 251},	{3, 509},
	    {10, 1021},	   {11, 2039},	 {100, 16381},	{163, 16381},
	    {164, 32749},  {655, 65537}, {656, 131071}, {5242, 524287},
	    {9999, 524287}};
	int all_prime = 1;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(want); i++)
		is_int(maglev_size_for(want[i][0]), want[i][1],
		       "maglev_size_for(%u)", want[i][0]);
	for (i = 0; i < 100000; i += 37) {
		uint32_t m = maglev_size_for(i);

		all_prime &= is_prime(m);
		if (i <= 5242 && m < MAGLEV_RATIO * i)
			all_prime = 0;
	}
	ok(all_prime, "every size is prime and >= 100 x backends");
	is_int(maglev_size_for(1000000), RT_MAX_TABLE,
	       "the largest size is the data plane's limit");
}

/* Each backend's share of the table is its weight's share, within 1% of
 * it or one slot (a slot is the table's granularity). */
static int shares_ok(const uint32_t *t, uint32_t m, const struct mg_backend *b,
		     size_t n)
{
	uint64_t total = 0;
	size_t *cnt = xcalloc(n + 1, sizeof(*cnt));
	size_t i;
	int good = 1;

	for (i = 0; i < n; i++)
		total += b[i].weight;
	for (i = 0; i < m; i++)
		cnt[t[i] <= n ? t[i] : 0]++;
	if (cnt[0])
		good = 0;
	for (i = 0; i < n; i++) {
		double want = (double)m * b[i].weight / (double)total;
		double d = (double)cnt[i + 1] - want;
		double tol = want * 0.01 > 1.0 ? want * 0.01 : 1.0;

		if (d < -tol || d > tol) {
			printf("#   backend %zu: %zu slots, want %.1f\n", i,
			       cnt[i + 1], want);
			good = 0;
		}
	}
	free(cnt);
	return good;
}

static void test_shares(void)
{
	static const uint32_t w5[] = {1, 2, 3, 4, 10};
	static const size_t ns[] = {1, 2, 3, 10, 37, 100};
	struct mg_backend *b;
	uint32_t w[40], *t, m;
	size_t i, k;

	for (k = 0; k < ARRAY_SIZE(ns); k++) {
		m = maglev_size_for(ns[k]);
		b = mk_backends(ns[k], NULL);
		t = build(b, ns[k], m);
		ok(t && shares_ok(t, m, b, ns[k]),
		   "%zu equal backends share %u slots evenly", ns[k], m);
		free(t);
		free_backends(b, ns[k]);
	}
	m = maglev_size_for(5);
	b = mk_backends(5, w5);
	t = build(b, 5, m);
	ok(t && shares_ok(t, m, b, 5), "weights 1,2,3,4,10 over %u slots", m);
	free(t);
	free_backends(b, 5);
	for (i = 0; i < ARRAY_SIZE(w); i++)
		w[i] = 1 + (uint32_t)(i * 7919 % 50);
	m = maglev_size_for(40);
	b = mk_backends(40, w);
	t = build(b, 40, m);
	ok(t && shares_ok(t, m, b, 40), "40 backends, weights 1..50");
	free(t);
	free_backends(b, 40);
}

/* Removing one of n backends moves its own slots (1/n) plus some churn
 * among the others. Maglev is not minimal: at 100 slots per backend the
 * churn is 1-2% of the table (a reference Python implementation measures
 * the same), shrinking as the table grows; bound it by 2.5%. */
static void test_disruption(size_t n)
{
	uint32_t m = maglev_size_for(n), *a, *c;
	struct mg_backend *b = mk_backends(n, NULL);
	size_t victim = n / 3, i, moved = 0, own = 0;
	double frac, bound = 1.0 / (double)n + 0.025;

	a = build(b, n, m);
	b[victim].weight = 0;
	c = build(b, n, m);
	if (a && c) {
		for (i = 0; i < m; i++) {
			if (a[i] != c[i])
				moved++;
			if (a[i] == b[victim].id)
				own++;
		}
		frac = (double)moved / m;
		printf("# n=%zu m=%u: %zu of %u slots moved (%.4f; 1/n = "
		       "%.4f)\n",
		       n, m, moved, m, frac, 1.0 / (double)n);
		ok(moved >= own && frac <= bound,
		   "removing 1 of %zu backends moves %.2f%% of slots (<= "
		   "1/n + 2.5%%)",
		   n, 100 * frac);
		for (i = 0; i < m; i++)
			if (c[i] == b[victim].id)
				break;
		ok(i == m,
		   "the drained backend (weight 0) is not in the table");
	}
	free(a);
	free(c);
	free_backends(b, n);
}

static uint64_t fnv(const uint32_t *t, uint32_t m)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t i;

	for (i = 0; i < m; i++) {
		h ^= t[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void test_order(void)
{
	size_t n = 12, i, j;
	uint32_t m = maglev_size_for(n), *a, *c;
	struct mg_backend *b = mk_backends(n, NULL), tmp;
	unsigned seed = 1;
	int same = 1, round;

	a = build(b, n, m);
	for (round = 0; round < 5 && a; round++) {
		for (i = n - 1; i > 0; i--) {
			seed = seed * 1103515245 + 12345;
			j = (seed >> 8) % (i + 1);
			tmp = b[i];
			b[i] = b[j];
			b[j] = tmp;
		}
		c = build(b, n, m);
		same &= c && !memcmp(a, c, m * sizeof(*a));
		free(c);
	}
	ok(a && same, "the table does not depend on the input order");
	/* A golden value: hosts running different builds must agree. */
	printf("# golden: %#llx\n", a ? (unsigned long long)fnv(a, m) : 0ULL);
	ok(a && fnv(a, m) == 0xe0416d923e2d8548ULL,
	   "the table of a fixed input is stable");
	free(a);
	free_backends(b, n);
}

static void test_edges(void)
{
	struct mg_backend b[3] = {{"a", 1, 1}, {"b", 0, 2}, {"c", 0, 3}};
	uint32_t t[251], i;
	struct ec_err err;
	int zero = 1, all_a = 1;

	ok(maglev_build(b, 0, 251, t, &err) == 0, "no backends: ok");
	for (i = 0; i < 251; i++)
		zero &= t[i] == 0;
	ok(zero, "no backends: every slot is 0");
	b[0].weight = 0;
	maglev_build(b, 3, 251, t, &err);
	for (i = 0; i < 251; i++)
		zero &= t[i] == 0;
	ok(zero, "all weights 0: every slot is 0");
	b[0].weight = 5;
	maglev_build(b, 3, 251, t, &err);
	for (i = 0; i < 251; i++)
		all_a &= t[i] == 1;
	ok(all_a, "one backend with weight: every slot is it");
	ok(maglev_build(b, 3, 250, t, &err) < 0 && err.cat == EC_USAGE,
	   "a size off the prime list is refused: %s", err.msg);
	b[2].key = "a";
	ok(maglev_build(b, 3, 251, t, &err) < 0 &&
	       strstr(err.msg, "duplicate backend 'a'"),
	   "duplicate keys are refused: %s", err.msg);
	b[2].key = "c";
	b[1].id = 0;
	ok(maglev_build(b, 3, 251, t, &err) < 0 && strstr(err.msg, "id 0"),
	   "id 0 is refused: %s", err.msg);
}

/* ---- frames -------------------------------------------------------------- */

#define TH_SYN 0x02
#define TH_ACK 0x10
#define IP_DF  0x4000
#define IP_MF  0x2000

static const uint8_t MAC_US[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t MAC_CLIENT[6] = {0x02, 0, 0, 0, 0, 0xc1};
static const uint8_t MAC_GW[6] = {0x02, 0, 0, 0, 0, 0xfe};
static const uint8_t MAC_BE1[6] = {0x02, 0, 0, 0, 0x01, 0x02};
static const uint8_t MAC_H2[6] = {0x02, 0, 0, 0, 0x02, 0x00};
static const uint8_t MAC_H4[6] = {0x02, 0, 0, 0, 0x04, 0x00};

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

struct spec {
	uint8_t proto; /* 6, 17, or 4 for an empty IPIP shell */
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t flags;	/* TCP flags */
	uint16_t frag;	/* the frag_off field, host order */
	int opts;	/* bytes of IPv4 options (multiple of 4) */
	size_t payload; /* bytes after the L4 header */
	uint8_t tos;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* The test's own checksum, written independently of rt_ip_csum. */
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

/* An IPv4 header + L4 + payload at p; returns its length. */
static size_t mk_ip(uint8_t *p, const struct spec *s)
{
	size_t hl = 20 + (size_t)s->opts, l4, i, len;
	uint32_t a;

	l4 = s->proto == 6 ? 20 : s->proto == 17 ? 8 : 0;
	len = hl + l4 + s->payload;
	memset(p, 0, len);
	p[0] = (uint8_t)(0x40 | hl / 4);
	p[1] = s->tos;
	put16(p + 2, (uint16_t)len);
	put16(p + 4, 0x1234);
	put16(p + 6, s->frag);
	p[8] = 64;
	p[9] = s->proto;
	a = ip4(s->src);
	memcpy(p + 12, &a, 4);
	a = ip4(s->dst);
	memcpy(p + 16, &a, 4);
	memset(p + 20, 0x01, (size_t)s->opts); /* NOPs */
	put16(p + 10, csum(p, hl));
	if (s->proto == 6) {
		put16(p + hl, s->sport);
		put16(p + hl + 2, s->dport);
		p[hl + 7] = 1; /* seq */
		p[hl + 12] = 5 << 4;
		p[hl + 13] = s->flags;
		put16(p + hl + 14, 65535);
	} else if (s->proto == 17) {
		put16(p + hl, s->sport);
		put16(p + hl + 2, s->dport);
		put16(p + hl + 4, (uint16_t)(8 + s->payload));
	}
	for (i = 0; i < s->payload; i++)
		p[hl + l4 + i] = (uint8_t)i;
	return len;
}

static size_t mk_eth(uint8_t *p, const uint8_t *dst, const uint8_t *src,
		     uint16_t type)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	put16(p + 12, type);
	return 14;
}

/* client -> router frame carrying the packet of s. */
static size_t mk_frame(uint8_t *p, const struct spec *s)
{
	size_t n = mk_eth(p, MAC_US, MAC_CLIENT, 0x0800);

	return n + mk_ip(p + n, s);
}

/* What the router must emit for an IPIP encapsulation of `in`. */
static size_t want_encap(uint8_t *out, const uint8_t *in, size_t len,
			 const uint8_t *dmac, const char *src, const char *dst)
{
	const uint8_t *inner = in + 14;
	uint8_t *o = out + 14;
	uint32_t a;

	mk_eth(out, dmac, in, 0x0800); /* source: the dst MAC it came to */
	o[0] = 0x45;
	o[1] = inner[1];
	put16(o + 2, (uint16_t)((inner[2] << 8 | inner[3]) + 20));
	put16(o + 4, 0);
	put16(o + 6, (uint16_t)((inner[6] << 8 | inner[7]) & IP_DF));
	o[8] = 64;
	o[9] = 4;
	put16(o + 10, 0);
	a = ip4(src);
	memcpy(o + 12, &a, 4);
	a = ip4(dst);
	memcpy(o + 16, &a, 4);
	put16(o + 10, csum(o, 20));
	memcpy(o + 20, inner, len - 14);
	return len + 20;
}

/* ---- the BPF program ---------------------------------------------------- */

static struct route *R;

#define HOST1	      "198.18.0.1" /* this host */
#define HOST2	      "198.18.0.2"
#define HOST3	      "198.18.0.3"
#define HOST4	      "198.18.0.4"
#define CLIENT	      "198.19.100.1"
#define VIP_LOCAL     "198.19.0.10" /* :80/tcp, id 1: backend 1 (local) */
#define VIP_REMOTE    "198.19.0.11" /* :53/udp, id 2: backend 2 (host 2) */
#define VIP_MIX	      "198.19.0.12" /* :443/tcp, id 3: backends 2 and 3 */
#define VIP_EMPTY     "198.19.0.13" /* :80/tcp, id 4: no table */
#define LOCAL_IFINDEX 7

struct run {
	uint32_t action;
	size_t len;
	uint8_t out[4096];
};

static int run(const uint8_t *in, size_t len, struct run *r)
{
	struct ec_err err;

	r->len = sizeof(r->out);
	if (route_test_run(R, ROUTE_PROG_ROUTER, in, len, r->out, &r->len,
			   &r->action, NULL, &err) < 0) {
		printf("# test run: %s\n", err.msg);
		r->action = 99;
		return -1;
	}
	return 0;
}

static void hexdump(const char *tag, const uint8_t *p, size_t n)
{
	size_t i;

	printf("#   %s:", tag);
	for (i = 0; i < n; i++)
		printf("%s%02x", i % 16 ? " " : "\n#     ", p[i]);
	printf("\n");
}

/* Verdict and exact bytes. */
static void expect(const uint8_t *in, size_t len, uint32_t action,
		   const uint8_t *want, size_t wlen, const char *what)
{
	struct run r;
	int good;

	run(in, len, &r);
	good =
	    r.action == action && r.len == wlen && !memcmp(r.out, want, wlen);
	ok(good, "%s", what);
	if (!good) {
		printf("#   action %u (want %u), %zu bytes (want %zu)\n",
		       r.action, action, r.len, wlen);
		hexdump("got", r.out, r.len);
		hexdump("want", want, wlen);
	}
}

static uint64_t counter(uint32_t row, enum route_counter c)
{
	struct route_stats s;
	struct ec_err err;

	if (route_stats_read(R, row, &s, &err) < 0) {
		printf("# stats: %s\n", err.msg);
		return (uint64_t)-1;
	}
	return s.packets[c];
}

static int setup_state(struct ec_err *err)
{
	struct route_config cfg = {.host_ip = ip4(HOST1), .mtu = 1500};
	struct route_backend b1 = {
	    ip4("198.18.1.2"), ip4(HOST1), LOCAL_IFINDEX, {0}};
	struct route_backend b2 = {ip4("198.18.2.2"), ip4(HOST2), 0, {0}};
	struct route_backend b3 = {ip4("198.18.3.2"), ip4(HOST3), 0, {0}};
	struct route_backend b4 = {ip4("198.18.4.2"), ip4(HOST4), 0, {0}};
	struct route_vip v1 = {ip4(VIP_LOCAL), 80, ROUTE_TCP};
	struct route_vip v2 = {ip4(VIP_REMOTE), 53, ROUTE_UDP};
	struct route_vip v3 = {ip4(VIP_MIX), 443, ROUTE_TCP};
	struct route_vip v4 = {ip4(VIP_EMPTY), 80, ROUTE_TCP};
	uint32_t m = 251, t1[251], t2[251], i;

	memcpy(cfg.gw_mac, MAC_GW, 6);
	memcpy(b1.mac, MAC_BE1, 6);
	memcpy(b2.mac, MAC_H2, 6); /* b3: none, the gateway's is used */
	memcpy(b4.mac, MAC_H4, 6);
	for (i = 0; i < m; i++) {
		t1[i] = 1;
		t2[i] = 2;
	}
	if (route_config_set(R, &cfg, err) < 0 ||
	    route_backend_set(R, 1, &b1, err) < 0 ||
	    route_backend_set(R, 2, &b2, err) < 0 ||
	    route_backend_set(R, 3, &b3, err) < 0 ||
	    route_backend_set(R, 4, &b4, err) < 0 ||
	    route_vip_set(R, &v1, 1, 0, err) < 0 ||
	    route_vip_set(R, &v2, 2, 0, err) < 0 ||
	    route_vip_set(R, &v3, 3, 0, err) < 0 ||
	    route_vip_set(R, &v4, 4, 0, err) < 0 ||
	    route_table_swap(R, 1, t1, m, err) < 0 ||
	    route_table_swap(R, 2, t2, m, err) < 0)
		return -1;
	return 0;
}

static void test_local(void)
{
	struct spec s = {6,	 CLIENT, VIP_LOCAL, 40000, 80,
			 TH_SYN, IP_DF,	 0,	    0,	   0};
	uint8_t in[256], want[256];
	uint64_t before = counter(1, ROUTE_C_LOCAL);
	size_t n = mk_frame(in, &s);

	memcpy(want, in, n);
	memcpy(want, MAC_BE1, 6);
	memcpy(want + 6, MAC_US, 6);
	expect(in, n, XDP_REDIRECT, want, n,
	       "VIP -> local backend: MACs rewritten, redirected");
	is_int(counter(1, ROUTE_C_LOCAL), before + 1, "counted as local");
	s.flags = TH_ACK;
	s.payload = 100;
	n = mk_frame(in, &s);
	memcpy(want, in, n);
	memcpy(want, MAC_BE1, 6);
	memcpy(want + 6, MAC_US, 6);
	expect(in, n, XDP_REDIRECT, want, n, "... and its next packet");
}

static void test_remote(void)
{
	static const uint8_t outer[20] = {
	    0x45, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x00, 0x40, 0x04,
	    0xae, 0x92, 198,  18,   0,	  1,	198,  18,   0,	  2};
	struct spec s = {17, CLIENT, VIP_REMOTE, 5353, 53, 0, IP_DF, 0, 16, 0};
	uint8_t in[2048], want[2048];
	size_t n = mk_frame(in, &s), wn;

	wn = want_encap(want, in, n, MAC_H2, HOST1, HOST2);
	ok(!memcmp(want + 14, outer, 20),
	   "the expected outer header is the literal one");
	expect(in, n, XDP_TX, want, wn,
	       "VIP -> remote backend: IPIP to its host, XDP_TX, checksum");
	is_int(counter(2, ROUTE_C_ENCAP), 1, "counted as encap");

	s.tos = 0xb8;
	s.frag = 0;
	s.src = "198.19.200.7";
	s.payload = 333;
	n = mk_frame(in, &s);
	wn = want_encap(want, in, n, MAC_H2, HOST1, HOST2);
	expect(in, n, XDP_TX, want, wn,
	       "encap copies TOS, leaves DF clear when the inner has none");

	s.payload = 1500 - 28 - 20 + 1;
	n = mk_frame(in, &s);
	expect(in, n, XDP_DROP, in, n,
	       "encap beyond the MTU is dropped, unchanged");
	is_int(counter(2, ROUTE_C_DROP_TOO_BIG), 1, "counted as too big");
	s.payload = 1500 - 28 - 20;
	n = mk_frame(in, &s);
	wn = want_encap(want, in, n, MAC_H2, HOST1, HOST2);
	expect(in, n, XDP_TX, want, wn, "encap of exactly the MTU passes");
	s.payload = 16;
	n = mk_frame(in, &s);
	put16(in + 14 + 2, 200); /* total length beyond the frame */
	expect(in, n, XDP_DROP, in, n,
	       "an IPv4 length beyond the frame is not encapsulated");
	is_int(counter(2, ROUTE_C_DROP_ERROR), 1, "counted as an error");
}

/* A router attached to a client-facing link too: IPIP leaves by the
 * configured egress (the uplink) from its MAC, not back to the client.
 * (A test run comes in by lo, ifindex 1; the egress index is not
 * looked up: a test run does not redirect for real.) */
static void test_egress(void)
{
	static const uint8_t mac_up[6] = {0x02, 0, 0, 0, 0x0e, 0x01};
	struct spec s = {17, CLIENT, VIP_REMOTE, 5454, 53, 0, IP_DF, 0, 16, 0};
	struct route_config cfg, old;
	uint8_t in[256], want[256];
	size_t n = mk_frame(in, &s), wn;
	struct ec_err err;

	if (route_config_get(R, &old, &err) < 0) {
		ok(0, "config: %s", err.msg);
		return;
	}
	cfg = old;
	cfg.egress_ifindex = 4000;
	memcpy(cfg.egress_mac, mac_up, 6);
	ok(route_config_set(R, &cfg, &err) == 0 &&
	       route_config_get(R, &cfg, &err) == 0 &&
	       !memcmp(cfg.egress_mac, mac_up, 6),
	   "the egress interface and its MAC round-trip");
	wn = want_encap(want, in, n, MAC_H2, HOST1, HOST2);
	memcpy(want + 6, mac_up, 6);
	expect(in, n, XDP_REDIRECT, want, wn,
	       "IPIP from another interface: redirected to the egress, from "
	       "its MAC");
	cfg.egress_ifindex = 1;
	if (route_config_set(R, &cfg, &err) == 0) {
		wn = want_encap(want, in, n, MAC_H2, HOST1, HOST2);
		expect(in, n, XDP_TX, want, wn,
		       "IPIP that came in by the egress itself: XDP_TX, from "
		       "the MAC it came to");
	}
	if (route_config_set(R, &old, &err) < 0)
		ok(0, "config: %s", err.msg);
}

static void test_pass(void)
{
	struct spec s = {6,  CLIENT, "198.19.0.99", 40000, 80, TH_SYN, IP_DF, 0,
			 10, 0};
	uint8_t in[256];
	size_t n = mk_frame(in, &s);

	expect(in, n, XDP_PASS, in, n, "non-VIP address: passed unchanged");
	s.dst = VIP_LOCAL;
	s.dport = 81;
	n = mk_frame(in, &s);
	expect(in, n, XDP_PASS, in, n, "VIP address, other port: passed");
	s.dport = 80;
	s.proto = 17;
	n = mk_frame(in, &s);
	expect(in, n, XDP_PASS, in, n, "VIP address, other protocol: passed");
	s.proto = 1;
	n = mk_frame(in, &s);
	expect(in, n, XDP_PASS, in, n, "ICMP to a VIP address: passed");
	s.proto = 6;
	s.dst = "198.19.0.99";
	s.opts = 8;
	s.frag = IP_MF;
	n = mk_frame(in, &s);
	expect(in, n, XDP_PASS, in, n, "non-VIP fragment with options: passed");

	/* IPv6 (TCP to port 80), untouched whatever it carries. */
	n = mk_eth(in, MAC_US, MAC_CLIENT, 0x86dd);
	memset(in + n, 0, 60);
	in[n] = 0x60;
	in[n + 5] = 20;
	in[n + 6] = 6;
	in[n + 7] = 64;
	in[n + 40 + 3] = 80;
	n += 60;
	expect(in, n, XDP_PASS, in, n, "IPv6: passed unchanged");
	n = mk_eth(in, MAC_US, MAC_CLIENT, 0x0806);
	memset(in + n, 0x11, 28);
	n += 28;
	expect(in, n, XDP_PASS, in, n, "ARP: passed unchanged");
	n = mk_eth(in, MAC_US, MAC_CLIENT, 0x0800);
	expect(in, n, XDP_PASS, in, n, "truncated IPv4: passed unchanged");
}

static void test_frag_opts(void)
{
	struct spec s = {6,	 CLIENT, VIP_LOCAL, 40001, 80,
			 TH_ACK, IP_MF,	 0,	    64,	   0};
	uint8_t in[256];
	uint64_t row0 = counter(0, ROUTE_C_DROP_FRAG);
	size_t n = mk_frame(in, &s);

	expect(in, n, XDP_DROP, in, n,
	       "first fragment of VIP traffic: dropped");
	is_int(counter(1, ROUTE_C_DROP_FRAG), 1, "counted on the VIP");
	s.frag = 0x0010; /* offset 128 bytes, last fragment */
	n = mk_frame(in, &s);
	expect(in, n, XDP_DROP, in, n,
	       "later fragment to a VIP address: dropped");
	is_int(counter(0, ROUTE_C_DROP_FRAG), row0 + 1,
	       "counted in row 0 (no ports, no VIP)");
	s.dst = "198.19.0.99";
	n = mk_frame(in, &s);
	expect(in, n, XDP_PASS, in, n, "later fragment elsewhere: passed");

	s.dst = VIP_LOCAL;
	s.frag = IP_DF;
	s.opts = 4;
	n = mk_frame(in, &s);
	expect(in, n, XDP_DROP, in, n, "IPv4 options on VIP traffic: dropped");
	s.opts = 40;
	n = mk_frame(in, &s);
	expect(in, n, XDP_DROP, in, n, "40 bytes of options: dropped");
	is_int(counter(1, ROUTE_C_DROP_OPTS), 2, "counted on the VIP");
}

/* IPIP from host 2 to us around the packet of s. */
static size_t mk_ipip(uint8_t *p, const struct spec *s)
{
	struct spec o = {4, HOST2, HOST1, 0, 0, 0, 0, 0, 0, 0};
	size_t n = mk_eth(p, MAC_US, MAC_H2, 0x0800), il;

	il = mk_ip(p + n + 20, s);
	o.payload = il;
	mk_ip(p + n, &o); /* rewrites the payload area: rebuild it */
	mk_ip(p + n + 20, s);
	return n + 20 + il;
}

static void test_decap(void)
{
	struct spec s = {6,	 CLIENT, VIP_LOCAL, 40002, 80,
			 TH_SYN, IP_DF,	 0,	    20,	   0};
	uint8_t in[512], want[512];
	size_t n = mk_ipip(in, &s), wn;

	wn = mk_eth(want, MAC_BE1, MAC_US, 0x0800);
	wn += mk_ip(want + wn, &s);
	expect(in, n, XDP_REDIRECT, want, wn,
	       "IPIP to us for a VIP served here: stripped, delivered");
	is_int(counter(1, ROUTE_C_DECAP), 1, "counted as decap on the VIP");

	s.dst = "198.18.1.2";
	s.dport = 8080;
	n = mk_ipip(in, &s);
	wn = mk_eth(want, MAC_BE1, MAC_US, 0x0800);
	wn += mk_ip(want + wn, &s);
	expect(in, n, XDP_REDIRECT, want, wn,
	       "IPIP to us for a local container address: delivered");
	is_int(counter(0, ROUTE_C_DECAP), 1, "counted as decap in row 0");

	s.dst = VIP_REMOTE;
	s.proto = 17;
	s.dport = 53;
	n = mk_ipip(in, &s);
	expect(in, n, XDP_DROP, in, n,
	       "IPIP for a VIP whose backend is elsewhere: dropped, no loop");
	is_int(counter(2, ROUTE_C_DROP_NO_LOCAL), 1, "counted as no local");

	s.dst = "198.19.0.99";
	n = mk_ipip(in, &s);
	expect(in, n, XDP_PASS, in, n,
	       "IPIP to us for nothing of ours: passed unchanged");

	/* IPIP to another host is not ours to open. */
	s.dst = VIP_LOCAL;
	s.proto = 6;
	s.dport = 80;
	n = mk_ipip(in, &s);
	memcpy(in + 14 + 16, &(uint32_t){ip4(HOST3)}, 4);
	in[14 + 10] = in[14 + 11] = 0;
	put16(in + 14 + 10, csum(in + 14, 20));
	expect(in, n, XDP_PASS, in, n, "IPIP to another host: passed");
}

/* The backend id an encapsulated or redirected output went to. */
static uint32_t where(const struct run *r)
{
	uint32_t dst;

	if (r->action == XDP_REDIRECT && !memcmp(r->out, MAC_BE1, 6))
		return 1;
	if (r->action != XDP_TX || r->len < 34)
		return 0;
	memcpy(&dst, r->out + 14 + 16, 4);
	if (dst == ip4(HOST2))
		return 2;
	if (dst == ip4(HOST3))
		return 3;
	if (dst == ip4(HOST4))
		return 4;
	return 0;
}

static uint32_t send_flow(uint16_t sport, uint8_t flags)
{
	struct spec s = {6, CLIENT, VIP_MIX, sport, 443, flags, IP_DF, 0, 8, 0};
	uint8_t in[256];
	struct run r;

	run(in, mk_frame(in, &s), &r);
	return where(&r);
}

/* The backend the current table of VIP 3 gives flow sport. */
static uint32_t table_pick(const uint32_t *t, uint32_t m, uint16_t sport)
{
	struct route_flow f = {ip4(CLIENT), ip4(VIP_MIX), sport, 443, 6};

	return t[route_flow_slot(&f, 0, m)];
}

static void swap3(const uint32_t *t, uint32_t m)
{
	struct ec_err err;

	if (route_table_swap(R, 3, t, m, &err) < 0)
		ok(0, "table swap: %s", err.msg);
}

static uint32_t *drain_test(uint16_t f2)
{
	struct mg_backend b[3] = {{"host2/198.18.2.2", 1, 2},
				  {"host3/198.18.3.2", 1, 3},
				  {"host4/198.18.4.2", 1, 4}};
	uint32_t m = maglev_size_for(3), *t = xcalloc(m, sizeof(*t));
	uint32_t *d = xcalloc(m, sizeof(*d));
	uint16_t sport, olds[64];
	int n = 0, fresh = 0, moved_other = 0, i, stayed = 1;
	struct ec_err err;

	if (maglev_build(b, 3, m, t, &err) < 0)
		ok(0, "maglev: %s", err.msg);
	b[0].weight = 0;
	if (maglev_build(b, 3, m, d, &err) < 0)
		ok(0, "maglev: %s", err.msg);
	swap3(t, m);
	is_int(send_flow(f2, TH_SYN), table_pick(t, m, f2),
	       "on a table of three backends");
	for (sport = 52000; sport < 52200 && n < 64; sport++)
		if (table_pick(t, m, sport) == 2 &&
		    send_flow(sport, TH_SYN) == 2)
			olds[n++] = sport;
	swap3(d, m);
	for (i = 0; i < n; i++)
		stayed &= send_flow(olds[i], TH_ACK) == 2;
	ok(n >= 20 && stayed,
	   "draining: %d established flows still reach the drained backend", n);
	for (i = 0; i < n; i++)
		stayed &= send_flow(olds[i], TH_ACK) == 2;
	ok(stayed, "... on every packet");
	for (sport = 53000; sport < 53400; sport++) {
		uint32_t got;

		if (table_pick(t, m, sport) != 2)
			continue;
		got = send_flow(sport, TH_SYN);
		fresh++;
		if (got != 3 && got != 4)
			moved_other = 1;
	}
	ok(fresh >= 50 && !moved_other,
	   "draining: %d new flows the old table gave it go to 3 and 4", fresh);
	free(d);
	return t;
}

static void test_lru_swap(void)
{
	struct mg_backend b[2] = {{"host2/198.18.2.2", 1, 2},
				  {"host3/198.18.3.2", 1, 3}};
	uint32_t m = maglev_size_for(2), *t = xcalloc(m, sizeof(*t));
	uint32_t *only2 = xcalloc(m, sizeof(*t)), *only3;
	uint16_t sport, f2 = 0, f3 = 0;
	int agree = 1, i, gw_ok;
	struct ec_err err;
	struct route_flow f;
	uint32_t held;

	only3 = xcalloc(m, sizeof(*t));
	for (i = 0; i < (int)m; i++) {
		only2[i] = 2;
		only3[i] = 3;
	}
	if (maglev_build(b, 2, m, t, &err) < 0)
		ok(0, "maglev: %s", err.msg);
	swap3(t, m);
	for (sport = 50000; sport < 50040; sport++) {
		uint32_t got = send_flow(sport, TH_SYN);

		agree &= got == table_pick(t, m, sport);
		if (got == 2 && !f2)
			f2 = sport;
		if (got == 3 && !f3)
			f3 = sport;
	}
	ok(agree, "SYNs go where the user-space hash says (40 flows)");
	ok(f2 && f3, "flows on both backends");
	gw_ok = 1;
	{
		struct spec s = {6,	 CLIENT, VIP_MIX, f3, 443,
				 TH_ACK, IP_DF,	 0,	  8,  0};
		uint8_t in[256];
		struct run r;

		run(in, mk_frame(in, &s), &r);
		gw_ok = r.len > 6 && !memcmp(r.out, MAC_GW, 6);
	}
	ok(gw_ok, "a backend without a MAC gets the gateway's");

	/* Swap to a table of only backend 3: established flows stay. */
	swap3(only3, m);
	is_int(send_flow(f2, TH_ACK), 2,
	       "after a swap, an established flow stays on its backend");
	f = (struct route_flow){ip4(CLIENT), ip4(VIP_MIX), f2, 443, 6};
	ok(route_flow_get(R, &f, &held, &err) == 0 && held == 2,
	   "route_flow_get sees it on backend 2");
	is_int(send_flow(f2, TH_SYN), 3, "a SYN takes the new table");
	is_int(send_flow(f2, TH_ACK), 3, "... and the flow then stays there");
	is_int(send_flow(60001, TH_ACK), 3,
	       "an unknown non-SYN flow takes the new table");

	/* Drain backend 2 (weight 0) of {2, 3, 4}: out of the table, its
	 * established flows kept, no new flow for it. */
	free(t);
	t = drain_test(f2);
	/* A removed backend: its flows move on their next packet. */
	swap3(only3, m);
	send_flow(f2, TH_SYN);
	swap3(only2, m);
	is_int(send_flow(f2, TH_ACK), 3, "flow pinned to backend 3");
	ok(route_backend_del(R, 3, &err) == 0, "remove backend 3");
	is_int(send_flow(f2, TH_ACK), 2,
	       "a flow of a removed backend moves to the table's choice");
	{
		struct route_backend b3 = {
		    ip4("198.18.3.2"), ip4(HOST3), 0, {0}};
		ok(route_backend_set(R, 3, &b3, &err) == 0, "restore it");
	}
	free(t);
	free(only2);
	free(only3);
}

/* ROUTE_VIP_HASH_SRC: a client sticks to one backend whatever its ports;
 * ROUTE_VIP_NO_LRU: nothing is remembered. */
static void test_vip_flags(void)
{
	struct mg_backend b[3] = {{"host2/198.18.2.2", 1, 2},
				  {"host3/198.18.3.2", 1, 3},
				  {"host4/198.18.4.2", 1, 4}};
	struct route_vip v3 = {ip4(VIP_MIX), 443, ROUTE_TCP};
	uint32_t m = maglev_size_for(3), *t = xcalloc(m, sizeof(*t)), want;
	struct route_flow f = {ip4(CLIENT), ip4(VIP_MIX), 0, 443, 6};
	int same = 1, forgot = 1;
	struct ec_err err;
	uint16_t sport;
	uint32_t held;

	if (maglev_build(b, 3, m, t, &err) < 0 ||
	    route_vip_set(R, &v3, 3, ROUTE_VIP_HASH_SRC | ROUTE_VIP_NO_LRU,
			  &err) < 0)
		ok(0, "set up: %s", err.msg);
	swap3(t, m);
	want = t[route_flow_slot(&f, ROUTE_VIP_HASH_SRC, m)];
	for (sport = 54000; sport < 54030; sport++) {
		same &= send_flow(sport, TH_SYN) == want;
		f.sport = sport;
		forgot &= route_flow_get(R, &f, &held, &err) == 0 && !held;
	}
	ok(same, "source-hashed VIP: 30 ports of one client, one backend");
	ok(forgot, "no-LRU VIP: no flow remembered");
	if (route_vip_set(R, &v3, 3, 0, &err) < 0)
		ok(0, "reset flags: %s", err.msg);
	free(t);
}

static void test_no_backend(void)
{
	struct spec s = {6,	 CLIENT, VIP_EMPTY, 40000, 80,
			 TH_SYN, IP_DF,	 0,	    0,	   0};
	uint8_t in[256];
	size_t n = mk_frame(in, &s);

	expect(in, n, XDP_DROP, in, n, "VIP without a table: dropped");
	is_int(counter(4, ROUTE_C_DROP_NO_BACKEND), 1, "counted as no backend");
}

static void test_reopen(const char *dir)
{
	struct route_vip v3 = {ip4(VIP_MIX), 443, ROUTE_TCP};
	uint32_t id = 0, *t1 = NULL, *t2 = NULL, m1 = 0, m2 = 0;
	struct route *again = NULL;
	struct ec_err err;
	struct route_backend b;

	ok(route_open(dir, 0, &again, &err) == 0, "reopen the pins: %s",
	   again ? "ok" : err.msg);
	if (!again)
		return;
	ok(route_vip_get(again, &v3, &id, NULL, &err) == 0 && id == 3,
	   "a later opener sees the VIP");
	ok(route_backend_get(again, 1, &b, &err) == 0 &&
	       b.ifindex == LOCAL_IFINDEX && !memcmp(b.mac, MAC_BE1, 6),
	   "... and the backend");
	route_table_get(R, 3, &t1, &m1, &err);
	route_table_get(again, 3, &t2, &m2, &err);
	ok(m1 == maglev_size_for(3) && m1 == m2 &&
	       !memcmp(t1, t2, m1 * sizeof(*t1)),
	   "... and the same table");
	ok(route_vip_del(again, &v3, &err) == 0, "delete a VIP");
	ok(route_vip_get(R, &v3, NULL, NULL, &err) < 0 &&
	       err.cat == EC_NOTFOUND,
	   "the other handle sees it gone");
	free(t1);
	free(t2);
	t1 = NULL;
	route_table_get(R, 3, &t1, &m1, &err);
	ok(!t1 && m1 == 0, "its table went with it");
	route_free(again);
}

static int count_backend(uint32_t idx, const struct route_backend *b, void *arg)
{
	(void)b;
	*(uint32_t *)arg |= 1U << idx;
	return 0;
}

static int count_vip(const struct route_vip *v, uint32_t id, uint32_t flags,
		     void *arg)
{
	(void)v;
	(void)flags;
	*(uint32_t *)arg |= 1U << id;
	return 0;
}

static void test_listing(void)
{
	uint32_t seen = 0;
	struct ec_err err;

	ok(route_backend_foreach(R, count_backend, &seen, &err) == 0 &&
	       seen == (1U << 1 | 1U << 2 | 1U << 3 | 1U << 4),
	   "route_backend_foreach lists backends 1-4 (%#x)", seen);
	seen = 0;
	ok(route_vip_foreach(R, count_vip, &seen, &err) == 0 &&
	       seen == (1U << 1 | 1U << 2 | 1U << 3 | 1U << 4),
	   "route_vip_foreach lists VIPs 1-4 (%#x)", seen);
	ok(route_ifindex("lo", &err) == 1, "route_ifindex('lo') is 1");
	ok(route_ifindex("nosuchif0", &err) < 0 && err.cat == EC_NOTFOUND,
	   "an unknown interface: %s", err.msg);
}

static void test_api_errors(void)
{
	struct route_vip v = {ip4(VIP_LOCAL), 80, 1};
	struct route_backend b = {ip4("198.18.9.9"), ip4(HOST1), 0, {0}};
	uint32_t t[251] = {0};
	struct ec_err err;

	ok(route_vip_set(R, &v, 9, 0, &err) < 0 && err.cat == EC_USAGE,
	   "protocol 1 refused: %s", err.msg);
	v.proto = ROUTE_TCP;
	ok(route_vip_set(R, &v, 0, 0, &err) < 0 && err.cat == EC_USAGE,
	   "VIP id 0 refused: %s", err.msg);
	ok(route_vip_set(R, &v, ROUTE_MAX_VIPS, 0, &err) < 0,
	   "VIP id too big refused: %s", err.msg);
	ok(route_backend_set(R, 9, &b, &err) < 0 && err.cat == EC_USAGE,
	   "local backend without ifindex refused: %s", err.msg);
	ok(route_backend_set(R, 0, &b, &err) < 0, "backend 0 refused: %s",
	   err.msg);
	t[7] = ROUTE_MAX_BACKENDS;
	ok(route_table_swap(R, 1, t, 251, &err) < 0 && err.cat == EC_USAGE,
	   "table naming a backend out of range refused: %s", err.msg);
	ok(route_open("/tmp", 0, &(struct route *){NULL}, &err) < 0 &&
	       err.cat == EC_NOTFOUND,
	   "open without pins: not found: %s", err.msg);
}

/* ---- end to end: real veths, native XDP, namespaces ----------------------
 *
 *   cli (198.18.0.100) --+
 *   h1  (198.18.0.1) ----+-- br0 in "sw": one L2 segment
 *   h2  (198.18.0.2) ----+
 *   h1: vc1 (198.18.1.1) -- c1: eth0 198.18.1.2, VIP1 on lo
 *   h2: vc2 (198.18.2.1) -- c2: eth0 198.18.2.2, VIP2 on lo
 *
 * Each host runs its own copy of the router (own pins, own maps) with the
 * same VIPs and backends. The client sends UDP to VIP1 (served on h1: MAC
 * rewrite + redirect into vc1) and to VIP2 (h1 encapsulates to h2 and
 * XDP_TXes into the bridge; h2 strips it and redirects into vc2); the
 * containers answer from the VIP straight back (direct server return). A
 * reaper process deletes the namespaces however this process ends. */

#define E2E_PORT 7777
#define E2E_VIP1 "198.19.0.10"
#define E2E_VIP2 "198.19.0.11"

static char e2e_ns[6][32];
enum { NS_SW, NS_CLI, NS_H1, NS_H2, NS_C1, NS_C2 };
static const char *const e2e_tag[6] = {"sw", "cli", "h1", "h2", "c1", "c2"};
static int e2e_home = -1; /* our own network namespace */

static void e2e_delete(void)
{
	char cmd[256];
	int i;

	for (i = 0; i < 6; i++) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s >/dev/null 2>&1",
			 e2e_ns[i]);
		if (system(cmd) < 0)
			continue;
	}
}

/* A process that waits for our end (the pipe closes) and then deletes the
 * namespaces, so a crash leaves nothing behind. */
static pid_t e2e_reaper(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		e2e_delete();
		_exit(0);
	}
	close(p[0]); /* p[1] stays open until we exit */
	return pid;
}

/* Run a shell command; on failure show it and its output. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512], line[256];
	va_list ap;
	FILE *f;
	int rc;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd) - 8, fmt, ap);
	va_end(ap);
	n = strlen(cmd);
	snprintf(cmd + n, sizeof(cmd) - n, " 2>&1");
	f = popen(cmd, "r");
	if (!f)
		return -1;
	rc = 0;
	while (fgets(line, sizeof(line), f)) {
		if (!rc)
			printf("# $ %s\n", cmd);
		rc = 1;
		printf("#   %s", line);
	}
	rc = pclose(f);
	if (rc != 0)
		printf("# exit %d: %s\n", rc, cmd);
	return rc;
}

static int ns_enter(int which)
{
	char path[256];
	int fd, rc;

	if (which < 0)
		return setns(e2e_home, CLONE_NEWNET);
	snprintf(path, sizeof(path), "/run/netns/%s", e2e_ns[which]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

static int e2e_topology(void)
{
	static const struct {
		int ns;
		const char *port, *mac, *ip;
	} up[] = {
	    {NS_CLI, "swcli", "02:00:00:00:00:64", "198.18.0.100"},
	    {NS_H1, "swh1", "02:00:00:00:00:01", "198.18.0.1"},
	    {NS_H2, "swh2", "02:00:00:00:00:02", "198.18.0.2"},
	};
	static const struct {
		int host, box;
		const char *hveth, *hip, *mac, *ip, *vip;
	} box[] = {
	    {NS_H1, NS_C1, "vc1", "198.18.1.1", "02:00:00:00:01:02",
	     "198.18.1.2", E2E_VIP1},
	    {NS_H2, NS_C2, "vc2", "198.18.2.1", "02:00:00:00:02:02",
	     "198.18.2.2", E2E_VIP2},
	};
	const char *sw;
	size_t i;
	int bad = 0;

	for (i = 0; i < 6; i++)
		bad |= sh("ip netns add %s", e2e_ns[i]);
	if (bad)
		return -1;
	sw = e2e_ns[NS_SW];
	bad |= sh("ip -n %s link add br0 type bridge && "
		  "ip -n %s link set br0 up",
		  sw, sw);
	for (i = 0; i < ARRAY_SIZE(up); i++) {
		const char *ns = e2e_ns[up[i].ns];

		bad |= sh("ip -n %s link add %s type veth peer name up0 "
			  "netns %s",
			  sw, up[i].port, ns);
		bad |= sh("ip -n %s link set %s master br0 up", sw, up[i].port);
		bad |= sh("ip -n %s link set up0 address %s up && "
			  "ip -n %s addr add %s/24 dev up0 && "
			  "ip -n %s link set lo up",
			  ns, up[i].mac, ns, up[i].ip, ns);
	}
	for (i = 0; i < ARRAY_SIZE(box); i++) {
		const char *h = e2e_ns[box[i].host], *c = e2e_ns[box[i].box];

		bad |= sh("ip -n %s link add %s type veth peer name eth0 "
			  "netns %s",
			  h, box[i].hveth, c);
		bad |= sh("ip -n %s addr add %s/24 dev %s && "
			  "ip -n %s link set %s up",
			  h, box[i].hip, box[i].hveth, h, box[i].hveth);
		bad |= sh("ip -n %s link set eth0 address %s up && "
			  "ip -n %s addr add %s/24 dev eth0 && "
			  "ip -n %s link set lo up && "
			  "ip -n %s addr add %s/32 dev lo && "
			  "ip -n %s route add default via %s",
			  c, box[i].mac, c, box[i].ip, c, c, box[i].vip, c,
			  box[i].hip);
		bad |= sh("ip netns exec %s sysctl -qw net.ipv4.ip_forward=1 "
			  "net.ipv4.conf.all.rp_filter=0 "
			  "net.ipv4.conf.default.rp_filter=0",
			  h);
		/* Local senders over veth: full checksums (xdp-notes). */
		bad |=
		    sh("ip netns exec %s ethtool -K eth0 tx off >/dev/null", c);
	}
	bad |= sh("ip -n %s route add 198.19.0.0/24 via 198.18.0.1",
		  e2e_ns[NS_CLI]);
	bad |= sh("ip netns exec %s ethtool -K up0 tx off >/dev/null",
		  e2e_ns[NS_CLI]);
	return bad ? -1 : 0;
}

static void mac_parse(const char *s, uint8_t *m)
{
	unsigned v[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5]) != 6)
		abort();
	for (i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
}

/* Attach `flags` program of r to dev inside namespace ns. */
static int e2e_attach(struct route *r, int ns, const char *dev, unsigned flags,
		      int *ifindex)
{
	struct ec_err err;
	int idx, rc;

	if (ns_enter(ns) < 0)
		return -1;
	idx = (int)if_nametoindex(dev);
	rc = idx > 0 ? route_attach(r, idx, flags, &err) : -1;
	if (rc < 0)
		printf("# attach to %s in %s: %s\n", dev, e2e_ns[ns],
		       idx > 0 ? err.msg : "no such device");
	if (ifindex)
		*ifindex = idx;
	ns_enter(-1);
	return rc;
}

/* The router of host `self` (1 or 2): same VIPs and backends on both. */
static int e2e_configure(struct route *r, int self, int vc_ifindex)
{
	struct route_config cfg = {0};
	struct route_backend b1 = {
	    ip4("198.18.1.2"), ip4("198.18.0.1"), 0, {0}};
	struct route_backend b2 = {
	    ip4("198.18.2.2"), ip4("198.18.0.2"), 0, {0}};
	struct route_vip v1 = {ip4(E2E_VIP1), E2E_PORT, ROUTE_UDP};
	struct route_vip v2 = {ip4(E2E_VIP2), E2E_PORT, ROUTE_UDP};
	uint32_t t1[251], t2[251], i;
	struct ec_err err;

	cfg.host_ip = ip4(self == 1 ? "198.18.0.1" : "198.18.0.2");
	cfg.mtu = 1500;
	if (self == 1) { /* c1 is local; c2 is behind h2's MAC */
		b1.ifindex = (uint32_t)vc_ifindex;
		mac_parse("02:00:00:00:01:02", b1.mac);
		mac_parse("02:00:00:00:00:02", b2.mac);
	} else {
		b2.ifindex = (uint32_t)vc_ifindex;
		mac_parse("02:00:00:00:02:02", b2.mac);
		mac_parse("02:00:00:00:00:01", b1.mac);
	}
	for (i = 0; i < 251; i++) {
		t1[i] = 1;
		t2[i] = 2;
	}
	if (route_config_set(r, &cfg, &err) < 0 ||
	    route_backend_set(r, 1, &b1, &err) < 0 ||
	    route_backend_set(r, 2, &b2, &err) < 0 ||
	    route_vip_set(r, &v1, 1, 0, &err) < 0 ||
	    route_vip_set(r, &v2, 2, 0, &err) < 0 ||
	    route_table_swap(r, 1, t1, 251, &err) < 0 ||
	    route_table_swap(r, 2, t2, 251, &err) < 0) {
		printf("# configure router %d: %s\n", self, err.msg);
		return -1;
	}
	return 0;
}

/* A UDP echo server on vip:E2E_PORT inside namespace ns: "pong <msg>". */
static pid_t e2e_server(int ns, const char *vip)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(E2E_PORT)};
	pid_t pid;

	pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(20);
	if (ns_enter(ns) < 0)
		_exit(1);
	a.sin_addr.s_addr = ip4(vip);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		_exit(2);
	for (;;) {
		char buf[256], out[300];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0,
				     (struct sockaddr *)&from, &fl);
		int on;

		if (n < 0)
			continue;
		buf[n] = '\0';
		on = snprintf(out, sizeof(out), "pong %s", buf);
		sendto(fd, out, (size_t)on, 0, (struct sockaddr *)&from, fl);
	}
}

/* From the client namespace: send "ping N" to vip, expect the echo. */
static int e2e_ping(const char *vip, int tries)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(E2E_PORT)};
	struct timeval tv = {0, 300000};
	char buf[300], msg[32], want[40];
	int fd, i, got = 0;

	if (ns_enter(NS_CLI) < 0)
		return -1;
	a.sin_addr.s_addr = ip4(vip);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (i = 0; i < tries && !got; i++) {
		ssize_t n;

		snprintf(msg, sizeof(msg), "ping %d", i);
		snprintf(want, sizeof(want), "pong %s", msg);
		sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a,
		       sizeof(a));
		while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			if (!strcmp(buf, want)) {
				got = 1;
				break;
			}
		}
	}
	close(fd);
	ns_enter(-1);
	return got ? 0 : -1;
}

static void e2e_kill(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static void test_e2e(const char *fs)
{
	_cleanup_free_ char *d1 = xasprintf("%s/h1", fs);
	_cleanup_free_ char *d2 = xasprintf("%s/h2", fs);
	struct route *r1 = NULL, *r2 = NULL;
	pid_t reaper, s1 = -1, s2 = -1;
	int i, vc1 = 0, vc2 = 0, bad = 0;
	struct route_stats st;
	struct ec_err err;

	if (system("command -v ip >/dev/null && command -v ethtool "
		   ">/dev/null") != 0) {
		ok(0, "end to end: needs ip and ethtool (tests/lib/deps.sh)");
		return;
	}
	for (i = 0; i < 6; i++)
		snprintf(e2e_ns[i], sizeof(e2e_ns[i]), "ecr%d%s", (int)getpid(),
			 e2e_tag[i]);
	e2e_home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	reaper = e2e_reaper();
	ok(reaper > 0 && e2e_home >= 0, "end to end: reaper started");
	ok(e2e_topology() == 0, "end to end: namespaces, bridge, veths");
	if (route_open(d1, ROUTE_OPEN_CREATE, &r1, &err) < 0 ||
	    route_open(d2, ROUTE_OPEN_CREATE, &r2, &err) < 0) {
		ok(0, "end to end: load two routers: %s", err.msg);
		goto out;
	}
	bad |= e2e_attach(r1, NS_H1, "up0", 0, NULL);
	bad |= e2e_attach(r2, NS_H2, "up0", 0, NULL);
	bad |= e2e_attach(r1, NS_SW, "swh1", ROUTE_ATTACH_PASS, NULL);
	bad |= e2e_attach(r2, NS_SW, "swh2", ROUTE_ATTACH_PASS, NULL);
	bad |= e2e_attach(r1, NS_C1, "eth0", ROUTE_ATTACH_PASS, NULL);
	bad |= e2e_attach(r2, NS_C2, "eth0", ROUTE_ATTACH_PASS, NULL);
	bad |= ns_enter(NS_H1) < 0 || !(vc1 = (int)if_nametoindex("vc1"));
	bad |= ns_enter(NS_H2) < 0 || !(vc2 = (int)if_nametoindex("vc2"));
	ns_enter(-1);
	ok(!bad, "end to end: routers attached natively, pass on the peers");
	ok(e2e_configure(r1, 1, vc1) == 0 && e2e_configure(r2, 2, vc2) == 0,
	   "end to end: both routers configured alike");
	s1 = e2e_server(NS_C1, E2E_VIP1);
	s2 = e2e_server(NS_C2, E2E_VIP2);
	usleep(100000);
	ok(e2e_ping(E2E_VIP1, 10) == 0,
	   "end to end: UDP to a VIP served on the same host is answered");
	ok(route_stats_read(r1, 1, &st, &err) == 0 &&
	       st.packets[ROUTE_C_LOCAL] >= 1,
	   "... the edge redirected it into the container's veth");
	ok(e2e_ping(E2E_VIP2, 10) == 0,
	   "end to end: UDP to a VIP served on another host is answered");
	ok(route_stats_read(r1, 2, &st, &err) == 0 &&
	       st.packets[ROUTE_C_ENCAP] >= 1,
	   "... the edge encapsulated it (IPIP, XDP_TX)");
	ok(route_stats_read(r2, 2, &st, &err) == 0 &&
	       st.packets[ROUTE_C_DECAP] >= 1,
	   "... the backend's host decapsulated and delivered it");
	ok(ns_enter(NS_H1) == 0 &&
	       route_detach(r1, (int)if_nametoindex("up0"), 0, &err) == 0 &&
	       route_attached(r1, (int)if_nametoindex("up0"), &err) == 0,
	   "end to end: detach");
	ns_enter(-1);
out:
	e2e_kill(s1);
	e2e_kill(s2);
	route_free(r1);
	route_free(r2);
	route_unload(d1, &err);
	route_unload(d2, &err);
	e2e_delete();
	for (i = 0; i < 6; i++) {
		char p[256];

		snprintf(p, sizeof(p), "/run/netns/%s", e2e_ns[i]);
		bad |= access(p, F_OK) == 0;
	}
	ok(!bad, "end to end: namespaces removed");
	e2e_kill(reaper);
	if (e2e_home >= 0)
		close(e2e_home);
}

/* Private mount namespace, bpffs on a temp dir: gone with the process. */
static char *private_bpffs(char *why, size_t wn)
{
	char tmpl[] = "/tmp/edgectl-route-XXXXXX";
	char *d;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(why, wn, "private mount namespace: %s",
			 strerror(errno));
		return NULL;
	}
	d = mkdtemp(tmpl);
	if (!d || mount("bpf", d, "bpf", 0, "mode=0700") < 0) {
		snprintf(why, wn, "bpffs on %s: %s", tmpl, strerror(errno));
		if (d)
			rmdir(d);
		return NULL;
	}
	return xstrdup(d);
}

/* The default pin path mounts bpffs on /sys/fs/bpf when nothing is there.
 * Checked under a tmpfs over /sys/fs in our private mount namespace, so
 * whatever the host has at /sys/fs/bpf is neither seen nor touched. */
static void test_default_path(void)
{
	struct route *r = NULL;
	struct ec_err err;
	struct statfs st;

	if (mount("tmpfs", "/sys/fs", "tmpfs", 0, "mode=0755") < 0 ||
	    mkdir("/sys/fs/bpf", 0700) < 0) {
		ok(0, "tmpfs over /sys/fs: %s", strerror(errno));
		return;
	}
	ok(route_open(NULL, 0, &r, &err) < 0 && err.cat == EC_NOTFOUND,
	   "default path, nothing loaded: not found (%s)", err.msg);
	ok(route_open(NULL, ROUTE_OPEN_CREATE, &r, &err) == 0,
	   "default path: load %s", r ? "ok" : err.msg);
	ok(statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC,
	   "... mounted bpffs on /sys/fs/bpf");
	ok(access(ROUTE_PIN_DIR "/" RT_MAP_CONFIG, F_OK) == 0,
	   "... pinned under " ROUTE_PIN_DIR);
	route_free(r);
	ok(route_unload(NULL, &err) == 0 && access(ROUTE_PIN_DIR, F_OK) < 0,
	   "... and unloads");
	umount2("/sys/fs/bpf", MNT_DETACH);
	umount2("/sys/fs", MNT_DETACH);
}

/* A load that died half-way leaves pins but no config: the next load
 * clears them. */
static void test_partial_pins(const char *fs)
{
	_cleanup_free_ char *dir = xasprintf("%s/partial", fs);
	_cleanup_free_ char *pin = xasprintf("%s/" RT_MAP_VIPS, dir);
	struct route *r = NULL;
	struct ec_err err;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "stray", 4, 4, 1, NULL);
	if (mkdir(dir, 0700) < 0 || fd < 0 || bpf_obj_pin(fd, pin) < 0) {
		ok(0, "make a stray pin: %s", strerror(errno));
		return;
	}
	close(fd);
	ok(route_open(dir, ROUTE_OPEN_CREATE, &r, &err) == 0,
	   "a half-pinned directory is reloaded: %s", r ? "ok" : err.msg);
	route_free(r);
	route_unload(dir, &err);
}

static void test_bpf(void)
{
	char why[256];
	_cleanup_free_ char *fs = NULL, *dir = NULL;
	struct ec_err err;

	if (geteuid() != 0) {
		skip("XDP program fixtures", "needs root (CAP_BPF)");
		return;
	}
	fs = private_bpffs(why, sizeof(why));
	if (!fs) {
		ok(0, "set up a private bpffs: %s", why);
		return;
	}
	dir = xasprintf("%s/edgectl", fs);
	ok(route_open(dir, ROUTE_OPEN_CREATE, &R, &err) == 0,
	   "load and pin the router: %s", R ? "ok" : err.msg);
	if (!R)
		goto out;
	ok(setup_state(&err) == 0, "configure VIPs, backends, tables%s%s",
	   err.cat ? ": " : "", err.cat ? err.msg : "");
	test_local();
	test_remote();
	test_egress();
	test_pass();
	test_frag_opts();
	test_decap();
	test_lru_swap();
	test_vip_flags();
	test_no_backend();
	test_listing();
	test_api_errors();
	test_reopen(dir);
	route_free(R);
	R = NULL;
	ok(route_unload(dir, &err) == 0 && access(dir, F_OK) < 0,
	   "unload removes the pins");
	test_partial_pins(fs);
	test_e2e(fs);
	test_default_path();
out:
	umount2(fs, MNT_DETACH);
	rmdir(fs);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_sizes();
	test_shares();
	test_disruption(10);
	test_disruption(50);
	test_disruption(300);
	test_order();
	test_edges();
	test_bpf();
	return done_testing();
}
