/* loader.c - the router's loader: the only file that includes the BPF
 * skeleton (build/bpf/router.skel.h) and speaks libbpf.
 *
 * Loading pins everything under one directory of bpffs, config last (its
 * pin means "complete"), under an flock of the directory so concurrent
 * first runs load once. Every later use, in this process or another,
 * opens the pins by path: one code path, and the router keeps running
 * between short-lived edgectl processes. XDP attachments are netlink ones,
 * which outlive the process too. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#include "router.h"
#include "router.skel.h"

#include "route/route.h"
#include "util/xalloc.h"

_Static_assert(ROUTE_MAX_VIPS == RT_MAX_VIPS, "vip limit");
_Static_assert(ROUTE_MAX_BACKENDS == RT_MAX_BACKENDS, "backend limit");
_Static_assert((int)ROUTE_C_MAX == (int)RT_C_MAX, "counters");
_Static_assert(ROUTE_VIP_HASH_SRC == RT_VIP_HASH_SRC, "vip flags");
_Static_assert(ROUTE_VIP_NO_LRU == RT_VIP_NO_LRU, "vip flags");

#define ROUTE_BPFFS "/sys/fs/bpf"

enum {
	M_VIPS,
	M_VIP_ADDRS,
	M_TABLES,
	M_BACKENDS,
	M_ENDPOINTS,
	M_FLOWS,
	M_STATS,
	M_CONFIG, /* last: pinned last, its pin means the set is complete */
	M_N,
};

/* What each pinned map must look like. */
static const struct {
	const char *name;
	enum bpf_map_type type;
	uint32_t key, value;
} rt_maps[M_N] = {
    [M_VIPS] = {RT_MAP_VIPS, BPF_MAP_TYPE_HASH, sizeof(struct rt_vip_key),
		sizeof(struct rt_vip_val)},
    [M_VIP_ADDRS] = {RT_MAP_VIP_ADDRS, BPF_MAP_TYPE_HASH, 4, 4},
    [M_TABLES] = {RT_MAP_TABLES, BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4},
    [M_BACKENDS] = {RT_MAP_BACKENDS, BPF_MAP_TYPE_ARRAY, 4,
		    sizeof(struct rt_backend)},
    [M_ENDPOINTS] = {RT_MAP_ENDPOINTS, BPF_MAP_TYPE_HASH, 4, 4},
    [M_FLOWS] = {RT_MAP_FLOWS, BPF_MAP_TYPE_LRU_HASH, sizeof(struct rt_flow),
		 4},
    [M_STATS] = {RT_MAP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
		 sizeof(struct rt_stats)},
    [M_CONFIG] = {RT_MAP_CONFIG, BPF_MAP_TYPE_ARRAY, 4,
		  sizeof(struct rt_config)},
};

static const char *const rt_progs[2] = {RT_PROG_ROUTER, RT_PROG_PASS};

struct route {
	int dfd; /* the pin directory: flock serialises read-modify-writes */
	int map[M_N];
	int prog[2];	 /* [0] router, [1] pass */
	uint32_t pid[2]; /* their program ids */
	int ncpus;
};

static const char *const counter_names[ROUTE_C_MAX] = {
    [ROUTE_C_PASS] = "pass",
    [ROUTE_C_LOCAL] = "local",
    [ROUTE_C_ENCAP] = "encap",
    [ROUTE_C_DECAP] = "decap",
    [ROUTE_C_DROP_FRAG] = "drop_frag",
    [ROUTE_C_DROP_OPTS] = "drop_opts",
    [ROUTE_C_DROP_NO_BACKEND] = "drop_no_backend",
    [ROUTE_C_DROP_NO_LOCAL] = "drop_no_local",
    [ROUTE_C_DROP_TOO_BIG] = "drop_too_big",
    [ROUTE_C_DROP_NO_NEXTHOP] = "drop_no_nexthop",
    [ROUTE_C_DROP_ERROR] = "drop_error",
    [ROUTE_C_LRU_HIT] = "lru_hit",
    [ROUTE_C_LRU_MISS] = "lru_miss",
};

const char *route_counter_name(enum route_counter c)
{
	if ((unsigned)c >= ROUTE_C_MAX)
		return "unknown";
	return counter_names[c];
}

/* libbpf's messages: never printed (src/ does not print); the last warning
 * is kept to explain a failed load. */
static char rt_libbpf_msg[256];

static int rt_libbpf_print(enum libbpf_print_level level, const char *fmt,
			   va_list ap)
{
	char line[256];
	size_t n;

	if (level != LIBBPF_WARN)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (n)
		memcpy(rt_libbpf_msg, line, n + 1);
	return 0;
}

/* Fill err from errno after a bpf() call about `what`. */
static int rt_errno(struct ec_err *err, int e, const char *what)
{
	if (e == EPERM || e == EACCES)
		return ec_err_set(err, EC_PERM,
				  "%s: %s (needs root: CAP_BPF and "
				  "CAP_NET_ADMIN)",
				  what, strerror(e));
	return ec_err_errno(err, EC_FAIL, e, "%s", what);
}

static char *rt_path(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* Make sure dir's parent is a BPF filesystem; mount one on the default
 * place when nothing is mounted there. */
static int rt_bpffs(const char *dir, struct ec_err *err)
{
	_cleanup_free_ char *parent = xstrdup(dir);
	char *slash = strrchr(parent, '/');
	struct statfs st;

	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "'%s'", parent);
	if (st.f_type == BPF_FS_MAGIC)
		return 0;
	if (strcmp(parent, ROUTE_BPFFS))
		return ec_err_set(err, EC_USAGE,
				  "'%s' is not on a BPF filesystem", parent);
	if (mount("bpf", ROUTE_BPFFS, "bpf", 0, "mode=0700") < 0)
		return ec_err_errno(err, EC_FAIL, errno,
				    "mount bpffs on '" ROUTE_BPFFS "'");
	return 0;
}

static void rt_unpin(const char *dir)
{
	size_t i;

	for (i = 0; i < M_N; i++) {
		_cleanup_free_ char *p = rt_path(dir, rt_maps[i].name);
		unlink(p);
	}
	for (i = 0; i < ARRAY_SIZE(rt_progs); i++) {
		_cleanup_free_ char *p = rt_path(dir, rt_progs[i]);
		unlink(p);
	}
}

/* Load the object and pin its maps and programs, config last. */
static int rt_load_pin(const char *dir, struct ec_err *err)
{
	struct rt_config cfg = {.abi = RT_ABI_VERSION};
	libbpf_print_fn_t old = libbpf_set_print(rt_libbpf_print);
	struct router *skel;
	uint32_t zero = 0;
	size_t i;
	int e;

	rt_libbpf_msg[0] = '\0';
	skel = router__open_and_load();
	e = errno;
	libbpf_set_print(old);
	if (!skel) {
		rt_errno(err, e, "load the XDP program");
		if (err && rt_libbpf_msg[0] && err->cat != EC_PERM)
			ec_err_prefix(err, "%s", rt_libbpf_msg);
		return -1;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.rt_config), &zero, &cfg,
				BPF_ANY) < 0) {
		rt_errno(err, errno, "write the router config");
		goto destroy;
	}
	for (i = 0; i < ARRAY_SIZE(rt_progs); i++) {
		struct bpf_program *p =
		    bpf_object__find_program_by_name(skel->obj, rt_progs[i]);
		_cleanup_free_ char *path = rt_path(dir, rt_progs[i]);

		if (!p || bpf_program__pin(p, path) < 0) {
			rt_errno(err, p ? errno : ENOENT, path);
			goto unpin;
		}
	}
	for (i = 0; i < M_N; i++) {
		struct bpf_map *m =
		    bpf_object__find_map_by_name(skel->obj, rt_maps[i].name);
		_cleanup_free_ char *path = rt_path(dir, rt_maps[i].name);

		if (!m || bpf_map__pin(m, path) < 0) {
			rt_errno(err, m ? errno : ENOENT, path);
			goto unpin;
		}
	}
	router__destroy(skel);
	return 0;
unpin:
	rt_unpin(dir);
destroy:
	router__destroy(skel);
	return -1;
}

/* Check a pinned map is the one this build expects. */
static int rt_check_map(int fd, size_t i, struct ec_err *err)
{
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return rt_errno(err, errno, rt_maps[i].name);
	if (info.type != rt_maps[i].type || info.key_size != rt_maps[i].key ||
	    info.value_size != rt_maps[i].value)
		return ec_err_set(err, EC_CONFLICT,
				  "pinned map '%s' has another layout",
				  rt_maps[i].name);
	return 0;
}

static int rt_open_pins(struct route *r, const char *dir, struct ec_err *err)
{
	struct rt_config cfg;
	uint32_t zero = 0;
	size_t i;

	for (i = 0; i < M_N; i++) {
		_cleanup_free_ char *p = rt_path(dir, rt_maps[i].name);

		r->map[i] = bpf_obj_get(p);
		if (r->map[i] < 0)
			return rt_errno(err, errno, p);
		if (rt_check_map(r->map[i], i, err) < 0)
			return -1;
	}
	for (i = 0; i < ARRAY_SIZE(rt_progs); i++) {
		_cleanup_free_ char *p = rt_path(dir, rt_progs[i]);
		struct bpf_prog_info info = {0};
		uint32_t len = sizeof(info);

		r->prog[i] = bpf_obj_get(p);
		if (r->prog[i] < 0)
			return rt_errno(err, errno, p);
		if (bpf_obj_get_info_by_fd(r->prog[i], &info, &len) < 0)
			return rt_errno(err, errno, p);
		r->pid[i] = info.id;
	}
	if (bpf_map_lookup_elem(r->map[M_CONFIG], &zero, &cfg) < 0)
		return rt_errno(err, errno, "read the router config");
	if (cfg.abi != RT_ABI_VERSION)
		return ec_err_set(
		    err, EC_CONFLICT,
		    "the router pinned in '%s' has ABI %u, this "
		    "edgectl needs %u; detach it and run 'edgectl "
		    "route unload'",
		    dir, cfg.abi, RT_ABI_VERSION);
	return 0;
}

static struct route *rt_new(void)
{
	struct route *r = xcalloc(1, sizeof(*r));
	size_t i;

	for (i = 0; i < M_N; i++)
		r->map[i] = -1;
	r->prog[0] = r->prog[1] = -1;
	r->dfd = -1;
	return r;
}

void route_free(struct route *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < M_N; i++)
		if (r->map[i] >= 0)
			close(r->map[i]);
	for (i = 0; i < ARRAY_SIZE(r->prog); i++)
		if (r->prog[i] >= 0)
			close(r->prog[i]);
	if (r->dfd >= 0)
		close(r->dfd);
	free(r);
}

/* Open (creating with `create`) the pin directory, locked. */
static int rt_lock_dir(const char *dir, int create, struct ec_err *err)
{
	int fd;

	if (create) {
		if (rt_bpffs(dir, err) < 0)
			return -1;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return rt_errno(err, errno, dir);
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return ec_err_set(err, EC_NOTFOUND,
					  "no router is loaded (nothing "
					  "pinned in '%s')",
					  dir);
		return rt_errno(err, errno, dir);
	}
	if (flock(fd, LOCK_EX) < 0) {
		rt_errno(err, errno, dir);
		close(fd);
		return -1;
	}
	return fd;
}

int route_open(const char *dir, unsigned flags, struct route **out,
	       struct ec_err *err)
{
	int create = !!(flags & ROUTE_OPEN_CREATE);
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *cfgp = NULL;
	struct route *r;
	int n;

	*out = NULL;
	if (!dir)
		dir = ROUTE_PIN_DIR;
	dfd = rt_lock_dir(dir, create, err);
	if (dfd < 0 && err && err->cat == EC_NOTFOUND)
		return -1;
	if (dfd < 0)
		return ec_err_prefix(err, "open the router");
	cfgp = rt_path(dir, RT_MAP_CONFIG);
	if (access(cfgp, F_OK) < 0) {
		if (!create)
			return ec_err_set(err, EC_NOTFOUND,
					  "no router is loaded (nothing "
					  "pinned in '%s')",
					  dir);
		rt_unpin(dir); /* leftovers of a load that did not finish */
		if (rt_load_pin(dir, err) < 0)
			return ec_err_prefix(err, "load the router");
	}
	r = rt_new();
	if (rt_open_pins(r, dir, err) < 0) {
		route_free(r);
		return ec_err_prefix(err, "open the router in '%s'", dir);
	}
	n = libbpf_num_possible_cpus();
	if (n <= 0) {
		route_free(r);
		return ec_err_errno(err, EC_FAIL, n ? -n : EINVAL,
				    "count possible CPUs");
	}
	r->ncpus = n;
	flock(dfd, LOCK_UN);
	r->dfd = EC_STEAL_FD(dfd);
	*out = r;
	return 0;
}

/* Hold the pin directory's lock over a read-modify-write of several maps,
 * so concurrent edgectl processes do not interleave them. */
static void rt_lock(struct route *r)
{
	while (flock(r->dfd, LOCK_EX) < 0 && errno == EINTR)
		;
}

static int rt_unlock(struct route *r, int rc)
{
	flock(r->dfd, LOCK_UN);
	return rc;
}

int route_unload(const char *dir, struct ec_err *err)
{
	_cleanup_close_ int dfd = -1;

	if (!dir)
		dir = ROUTE_PIN_DIR;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		return rt_errno(err, errno, dir);
	}
	if (flock(dfd, LOCK_EX) < 0)
		return rt_errno(err, errno, dir);
	rt_unpin(dir);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return rt_errno(err, errno, dir);
	return 0;
}

/* ---- config ------------------------------------------------------------ */

static int rt_config_read(struct route *r, struct rt_config *c,
			  struct ec_err *err)
{
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(r->map[M_CONFIG], &zero, c) < 0)
		return rt_errno(err, errno, "read the router config");
	return 0;
}

int route_config_set(struct route *r, const struct route_config *c,
		     struct ec_err *err)
{
	struct rt_config v = {.abi = RT_ABI_VERSION};
	uint32_t zero = 0;

	v.host_ip = c->host_ip;
	v.egress_ifindex = c->egress_ifindex;
	v.mtu = c->mtu;
	memcpy(v.gw_mac, c->gw_mac, sizeof(v.gw_mac));
	memcpy(v.egress_mac, c->egress_mac, sizeof(v.egress_mac));
	if (c->mtu && c->mtu < 576)
		return ec_err_set(err, EC_USAGE, "mtu %u is below 576",
				  (unsigned)c->mtu);
	if (bpf_map_update_elem(r->map[M_CONFIG], &zero, &v, BPF_ANY) < 0)
		return rt_errno(err, errno, "write the router config");
	return 0;
}

int route_config_get(struct route *r, struct route_config *c,
		     struct ec_err *err)
{
	struct rt_config v;

	if (rt_config_read(r, &v, err) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	c->host_ip = v.host_ip;
	c->egress_ifindex = v.egress_ifindex;
	c->mtu = v.mtu;
	memcpy(c->gw_mac, v.gw_mac, sizeof(c->gw_mac));
	memcpy(c->egress_mac, v.egress_mac, sizeof(c->egress_mac));
	return 0;
}

/* ---- VIPs -------------------------------------------------------------- */

static int rt_vip_key(const struct route_vip *v, struct rt_vip_key *k,
		      struct ec_err *err)
{
	memset(k, 0, sizeof(*k));
	if (v->proto != ROUTE_TCP && v->proto != ROUTE_UDP)
		return ec_err_set(err, EC_USAGE,
				  "protocol %u is neither tcp nor udp",
				  (unsigned)v->proto);
	if (!v->addr)
		return ec_err_set(err, EC_USAGE, "VIP address 0.0.0.0");
	k->addr = v->addr;
	k->port = htons(v->port);
	k->proto = v->proto;
	return 0;
}

/* Walk a hash map's keys; fn returns non-zero to stop. */
static int rt_keys(int fd, size_t ksz,
		   int (*fn)(int fd, const void *key, void *arg), void *arg,
		   struct ec_err *err)
{
	unsigned char cur[64], next[64];
	const void *prev = NULL;
	int rc;

	if (ksz > sizeof(cur))
		BUG("key size %zu", ksz);
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(cur, next, ksz);
		prev = cur;
		rc = fn(fd, cur, arg);
		if (rc)
			return rc;
	}
	if (errno != ENOENT)
		return rt_errno(err, errno, "walk a router map");
	return 0;
}

struct rt_count_arg {
	uint32_t addr, id;
	unsigned addrs, ids;
};

static int rt_count_vip(int fd, const void *key, void *arg)
{
	const struct rt_vip_key *k = key;
	struct rt_count_arg *a = arg;
	struct rt_vip_val v;

	if (bpf_map_lookup_elem(fd, k, &v) < 0)
		return 0; /* removed meanwhile */
	if (k->addr == a->addr)
		a->addrs++;
	if (v.id == a->id)
		a->ids++;
	return 0;
}

/* Count the VIPs using an address and an id. */
static int rt_vip_usage(struct route *r, uint32_t addr, uint32_t id,
			struct rt_count_arg *a, struct ec_err *err)
{
	memset(a, 0, sizeof(*a));
	a->addr = addr;
	a->id = id;
	return rt_keys(r->map[M_VIPS], sizeof(struct rt_vip_key), rt_count_vip,
		       a, err);
}

/* Keep rt_vip_addrs in step with the VIPs at addr. */
static int rt_vip_addr_sync(struct route *r, uint32_t addr, unsigned n,
			    struct ec_err *err)
{
	uint32_t cnt = n;

	if (n) {
		if (bpf_map_update_elem(r->map[M_VIP_ADDRS], &addr, &cnt,
					BPF_ANY) < 0)
			return rt_errno(err, errno, "update the VIP addresses");
	} else if (bpf_map_delete_elem(r->map[M_VIP_ADDRS], &addr) < 0 &&
		   errno != ENOENT) {
		return rt_errno(err, errno, "update the VIP addresses");
	}
	return 0;
}

static int rt_vip_set(struct route *r, const struct route_vip *v, uint32_t id,
		      uint32_t flags, struct ec_err *err)
{
	struct rt_vip_val val = {.id = id, .flags = flags};
	struct rt_count_arg use;
	struct rt_vip_key k;

	if (rt_vip_key(v, &k, err) < 0)
		return -1;
	if (!id || id >= RT_MAX_VIPS)
		return ec_err_set(err, EC_USAGE, "VIP id %u is not in 1..%u",
				  id, RT_MAX_VIPS - 1);
	if (flags & ~(RT_VIP_HASH_SRC | RT_VIP_NO_LRU))
		return ec_err_set(err, EC_USAGE, "unknown VIP flags %#x",
				  flags);
	if (bpf_map_update_elem(r->map[M_VIPS], &k, &val, BPF_ANY) < 0) {
		if (errno == E2BIG)
			return ec_err_set(err, EC_FAIL,
					  "too many VIPs (at most %u)",
					  RT_MAX_VIPS);
		return rt_errno(err, errno, "write the VIP");
	}
	if (rt_vip_usage(r, k.addr, id, &use, err) < 0)
		return -1;
	return rt_vip_addr_sync(r, k.addr, use.addrs, err);
}

int route_vip_set(struct route *r, const struct route_vip *v, uint32_t id,
		  uint32_t flags, struct ec_err *err)
{
	rt_lock(r);
	return rt_unlock(r, rt_vip_set(r, v, id, flags, err));
}

static int rt_zero_stats(struct route *r, uint32_t id, struct ec_err *err)
{
	size_t n = (size_t)r->ncpus * sizeof(struct rt_stats);
	_cleanup_free_ void *z = xcalloc(1, n);

	if (bpf_map_update_elem(r->map[M_STATS], &id, z, BPF_ANY) < 0)
		return rt_errno(err, errno, "reset the VIP counters");
	return 0;
}

static int rt_vip_del(struct route *r, const struct route_vip *v,
		      struct ec_err *err)
{
	struct rt_count_arg use;
	struct rt_vip_key k;
	struct rt_vip_val val;

	if (rt_vip_key(v, &k, err) < 0)
		return -1;
	if (bpf_map_lookup_elem(r->map[M_VIPS], &k, &val) < 0 ||
	    bpf_map_delete_elem(r->map[M_VIPS], &k) < 0) {
		if (errno == ENOENT)
			return ec_err_set(err, EC_NOTFOUND, "no such VIP");
		return rt_errno(err, errno, "remove the VIP");
	}
	if (rt_vip_usage(r, k.addr, val.id, &use, err) < 0 ||
	    rt_vip_addr_sync(r, k.addr, use.addrs, err) < 0)
		return -1;
	if (use.ids)
		return 0; /* the id (table, counters) is shared */
	if (route_table_swap(r, val.id, NULL, 0, err) < 0)
		return -1;
	return rt_zero_stats(r, val.id, err);
}

int route_vip_del(struct route *r, const struct route_vip *v,
		  struct ec_err *err)
{
	rt_lock(r);
	return rt_unlock(r, rt_vip_del(r, v, err));
}

int route_vip_get(struct route *r, const struct route_vip *v, uint32_t *id,
		  uint32_t *flags, struct ec_err *err)
{
	struct rt_vip_key k;
	struct rt_vip_val val;

	if (rt_vip_key(v, &k, err) < 0)
		return -1;
	if (bpf_map_lookup_elem(r->map[M_VIPS], &k, &val) < 0) {
		if (errno == ENOENT)
			return ec_err_set(err, EC_NOTFOUND, "no such VIP");
		return rt_errno(err, errno, "read the VIP");
	}
	if (id)
		*id = val.id;
	if (flags)
		*flags = val.flags;
	return 0;
}

struct rt_foreach_arg {
	int (*fn)(const struct route_vip *v, uint32_t id, uint32_t flags,
		  void *arg);
	void *arg;
};

static int rt_foreach_vip(int fd, const void *key, void *arg)
{
	const struct rt_vip_key *k = key;
	struct rt_foreach_arg *a = arg;
	struct route_vip v = {0};
	struct rt_vip_val val;

	if (bpf_map_lookup_elem(fd, k, &val) < 0)
		return 0;
	v.addr = k->addr;
	v.port = ntohs(k->port);
	v.proto = k->proto;
	return a->fn(&v, val.id, val.flags, a->arg);
}

int route_vip_foreach(struct route *r,
		      int (*fn)(const struct route_vip *v, uint32_t id,
				uint32_t flags, void *arg),
		      void *arg, struct ec_err *err)
{
	struct rt_foreach_arg a = {fn, arg};

	return rt_keys(r->map[M_VIPS], sizeof(struct rt_vip_key),
		       rt_foreach_vip, &a, err);
}

/* ---- backends ---------------------------------------------------------- */

static int rt_backend_idx(uint32_t idx, struct ec_err *err)
{
	if (!idx || idx >= RT_MAX_BACKENDS)
		return ec_err_set(err, EC_USAGE,
				  "backend index %u is not in 1..%u", idx,
				  RT_MAX_BACKENDS - 1);
	return 0;
}

/* Drop the endpoint entry of addr if it names backend idx. */
static int rt_endpoint_drop(struct route *r, uint32_t addr, uint32_t idx,
			    struct ec_err *err)
{
	uint32_t cur;

	if (bpf_map_lookup_elem(r->map[M_ENDPOINTS], &addr, &cur) < 0 ||
	    cur != idx)
		return 0;
	if (bpf_map_delete_elem(r->map[M_ENDPOINTS], &addr) < 0 &&
	    errno != ENOENT)
		return rt_errno(err, errno, "remove the endpoint");
	return 0;
}

static int rt_backend_set(struct route *r, uint32_t idx,
			  const struct route_backend *b, struct ec_err *err)
{
	struct rt_backend old, v = {0};
	struct rt_config cfg;

	if (rt_backend_idx(idx, err) < 0)
		return -1;
	if (!b->addr || !b->host)
		return ec_err_set(err, EC_USAGE,
				  "backend %u needs a container and a host "
				  "address",
				  idx);
	if (rt_config_read(r, &cfg, err) < 0)
		return -1;
	if (b->host == cfg.host_ip &&
	    (!b->ifindex || !memcmp(b->mac, (uint8_t[6]){0}, 6)))
		return ec_err_set(err, EC_USAGE,
				  "backend %u is on this host and needs the "
				  "ifindex of its veth and its MAC",
				  idx);
	v.addr = b->addr;
	v.host = b->host;
	v.ifindex = b->ifindex;
	memcpy(v.mac, b->mac, sizeof(v.mac));
	v.flags = RT_BE_VALID;
	if (bpf_map_lookup_elem(r->map[M_BACKENDS], &idx, &old) < 0)
		return rt_errno(err, errno, "read the backend");
	if (bpf_map_update_elem(r->map[M_BACKENDS], &idx, &v, BPF_ANY) < 0)
		return rt_errno(err, errno, "write the backend");
	if ((old.flags & RT_BE_VALID) && old.addr != v.addr &&
	    rt_endpoint_drop(r, old.addr, idx, err) < 0)
		return -1;
	if (bpf_map_update_elem(r->map[M_ENDPOINTS], &v.addr, &idx, BPF_ANY) <
	    0)
		return rt_errno(err, errno, "write the endpoint");
	return 0;
}

int route_backend_set(struct route *r, uint32_t idx,
		      const struct route_backend *b, struct ec_err *err)
{
	rt_lock(r);
	return rt_unlock(r, rt_backend_set(r, idx, b, err));
}

static int rt_backend_del(struct route *r, uint32_t idx, struct ec_err *err)
{
	struct rt_backend old, z = {0};

	if (rt_backend_idx(idx, err) < 0)
		return -1;
	if (bpf_map_lookup_elem(r->map[M_BACKENDS], &idx, &old) < 0)
		return rt_errno(err, errno, "read the backend");
	if (!(old.flags & RT_BE_VALID))
		return ec_err_set(err, EC_NOTFOUND, "no backend %u", idx);
	if (bpf_map_update_elem(r->map[M_BACKENDS], &idx, &z, BPF_ANY) < 0)
		return rt_errno(err, errno, "remove the backend");
	return rt_endpoint_drop(r, old.addr, idx, err);
}

int route_backend_del(struct route *r, uint32_t idx, struct ec_err *err)
{
	rt_lock(r);
	return rt_unlock(r, rt_backend_del(r, idx, err));
}

int route_backend_get(struct route *r, uint32_t idx, struct route_backend *b,
		      struct ec_err *err)
{
	struct rt_backend v;

	if (rt_backend_idx(idx, err) < 0)
		return -1;
	if (bpf_map_lookup_elem(r->map[M_BACKENDS], &idx, &v) < 0)
		return rt_errno(err, errno, "read the backend");
	if (!(v.flags & RT_BE_VALID))
		return ec_err_set(err, EC_NOTFOUND, "no backend %u", idx);
	memset(b, 0, sizeof(*b));
	b->addr = v.addr;
	b->host = v.host;
	b->ifindex = v.ifindex;
	memcpy(b->mac, v.mac, sizeof(b->mac));
	return 0;
}

int route_backend_foreach(struct route *r,
			  int (*fn)(uint32_t idx, const struct route_backend *b,
				    void *arg),
			  void *arg, struct ec_err *err)
{
	struct route_backend b = {0};
	struct rt_backend v;
	uint32_t idx;
	int rc;

	for (idx = 1; idx < RT_MAX_BACKENDS; idx++) {
		if (bpf_map_lookup_elem(r->map[M_BACKENDS], &idx, &v) < 0)
			return rt_errno(err, errno, "read the backends");
		if (!(v.flags & RT_BE_VALID))
			continue;
		b.addr = v.addr;
		b.host = v.host;
		b.ifindex = v.ifindex;
		memcpy(b.mac, v.mac, sizeof(b.mac));
		rc = fn(idx, &b, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- Maglev tables ----------------------------------------------------- */

/* Write vals[0..n-1] at keys 0..n-1 of an ARRAY, batched. */
static int rt_array_fill(int fd, const uint32_t *vals, uint32_t n,
			 struct ec_err *err)
{
	_cleanup_free_ uint32_t *keys = xcalloc(n, sizeof(*keys));
	uint32_t i, count = n;

	for (i = 0; i < n; i++)
		keys[i] = i;
	if (bpf_map_update_batch(fd, keys, vals, &count, NULL) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY) < 0)
			return rt_errno(err, errno, "fill the table");
	return 0;
}

/* Read keys 0..n-1 of an ARRAY, batched. */
static int rt_array_read(int fd, uint32_t *vals, uint32_t n, struct ec_err *err)
{
	_cleanup_free_ uint32_t *keys = xcalloc(n, sizeof(*keys));
	uint32_t i, count = n, batch = 0;

	if (bpf_map_lookup_batch(fd, NULL, &batch, keys, vals, &count, NULL) ==
		0 ||
	    (errno == ENOENT && count == n))
		return 0;
	for (i = 0; i < n; i++)
		if (bpf_map_lookup_elem(fd, &i, &vals[i]) < 0)
			return rt_errno(err, errno, "read the table");
	return 0;
}

int route_table_swap(struct route *r, uint32_t vip_id, const uint32_t *table,
		     uint32_t m, struct ec_err *err)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_INNER_MAP);
	_cleanup_free_ uint32_t *vals = NULL;
	_cleanup_close_ int fd = -1;
	uint32_t i;

	if (!vip_id || vip_id >= RT_MAX_VIPS)
		return ec_err_set(err, EC_USAGE, "VIP id %u is not in 1..%u",
				  vip_id, RT_MAX_VIPS - 1);
	if (!m) {
		if (bpf_map_delete_elem(r->map[M_TABLES], &vip_id) < 0 &&
		    errno != ENOENT)
			return rt_errno(err, errno, "remove the table");
		return 0;
	}
	if (m > RT_MAX_TABLE)
		return ec_err_set(err, EC_USAGE,
				  "table of %u slots (at most %u)", m,
				  RT_MAX_TABLE);
	vals = xcalloc((size_t)m + 1, sizeof(*vals));
	vals[RT_TABLE_SIZE_SLOT] = m;
	for (i = 0; i < m; i++) {
		if (table[i] >= RT_MAX_BACKENDS)
			return ec_err_set(err, EC_USAGE,
					  "table slot %u names backend %u", i,
					  table[i]);
		vals[i + 1] = table[i];
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "rt_table", 4, 4, m + 1, &o);
	if (fd < 0)
		return rt_errno(err, errno, "create a table");
	if (rt_array_fill(fd, vals, m + 1, err) < 0)
		return -1;
	if (bpf_map_update_elem(r->map[M_TABLES], &vip_id, &fd, BPF_ANY) < 0)
		return rt_errno(err, errno, "swap the table in");
	return 0;
}

int route_table_get(struct route *r, uint32_t vip_id, uint32_t **table,
		    uint32_t *m, struct ec_err *err)
{
	_cleanup_free_ uint32_t *t = NULL;
	_cleanup_close_ int fd = -1;
	uint32_t id, k, size;

	*table = NULL;
	*m = 0;
	if (!vip_id || vip_id >= RT_MAX_VIPS)
		return ec_err_set(err, EC_USAGE, "VIP id %u is not in 1..%u",
				  vip_id, RT_MAX_VIPS - 1);
	if (bpf_map_lookup_elem(r->map[M_TABLES], &vip_id, &id) < 0) {
		if (errno == ENOENT)
			return 0;
		return rt_errno(err, errno, "read the table");
	}
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* swapped out meanwhile */
		return rt_errno(err, errno, "open the table");
	}
	k = RT_TABLE_SIZE_SLOT;
	if (bpf_map_lookup_elem(fd, &k, &size) < 0)
		return rt_errno(err, errno, "read the table");
	if (!size || size > RT_MAX_TABLE)
		return ec_err_set(err, EC_FAIL, "table of VIP %u is corrupt",
				  vip_id);
	t = xcalloc((size_t)size + 1, sizeof(*t));
	if (rt_array_read(fd, t, size + 1, err) < 0)
		return -1;
	memmove(t, t + 1, (size_t)size * sizeof(*t));
	*table = EC_STEAL(t);
	*m = size;
	return 0;
}

/* ---- counters and flows ------------------------------------------------ */

int route_stats_read(struct route *r, uint32_t vip_id, struct route_stats *s,
		     struct ec_err *err)
{
	_cleanup_free_ struct rt_stats *v =
	    xcalloc((size_t)r->ncpus, sizeof(*v));
	int c, i;

	memset(s, 0, sizeof(*s));
	if (vip_id >= RT_MAX_VIPS)
		return ec_err_set(err, EC_USAGE, "VIP id %u is not in 0..%u",
				  vip_id, RT_MAX_VIPS - 1);
	if (bpf_map_lookup_elem(r->map[M_STATS], &vip_id, v) < 0)
		return rt_errno(err, errno, "read the counters");
	for (c = 0; c < r->ncpus; c++)
		for (i = 0; i < RT_C_MAX; i++) {
			s->packets[i] += v[c].packets[i];
			s->bytes[i] += v[c].bytes[i];
		}
	return 0;
}

static void rt_flow_key(const struct route_flow *f, struct rt_flow *k)
{
	memset(k, 0, sizeof(*k));
	k->src = f->src;
	k->dst = f->dst;
	k->sport = htons(f->sport);
	k->dport = htons(f->dport);
	k->proto = f->proto;
}

int route_flow_get(struct route *r, const struct route_flow *f, uint32_t *idx,
		   struct ec_err *err)
{
	struct rt_flow k;

	rt_flow_key(f, &k);
	*idx = 0;
	if (bpf_map_lookup_elem(r->map[M_FLOWS], &k, idx) < 0 &&
	    errno != ENOENT)
		return rt_errno(err, errno, "read the connection table");
	return 0;
}

uint32_t route_flow_slot(const struct route_flow *f, uint32_t vip_flags,
			 uint32_t m)
{
	struct rt_flow k;

	rt_flow_key(f, &k);
	return m ? rt_flow_hash(&k, vip_flags) % m : 0;
}

/* ---- attachments and test runs ----------------------------------------- */

static const char *rt_ifname(int ifindex, char *buf)
{
	if (!if_indextoname((unsigned)ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "#%d", ifindex);
	return buf;
}

int route_ifindex(const char *ifname, struct ec_err *err)
{
	unsigned idx = if_nametoindex(ifname);

	if (!idx)
		return ec_err_set(err, EC_NOTFOUND, "no interface '%s'",
				  ifname);
	return (int)idx;
}

static uint32_t rt_xdp_mode(unsigned flags)
{
	return flags & ROUTE_ATTACH_SKB ? XDP_FLAGS_SKB_MODE
					: XDP_FLAGS_DRV_MODE;
}

/* The id of the XDP program attached in mode (0: none). */
static int rt_query(int ifindex, uint32_t mode, uint32_t *id,
		    struct ec_err *err)
{
	char name[IF_NAMESIZE];
	int rc;

	*id = 0;
	rc = bpf_xdp_query_id(ifindex, (int)mode, id);
	if (rc == -ENODEV)
		return ec_err_set(err, EC_NOTFOUND, "no interface %d", ifindex);
	if (rc < 0)
		return rt_errno(err, -rc, rt_ifname(ifindex, name));
	return 0;
}

int route_attached(struct route *r, int ifindex, struct ec_err *err)
{
	uint32_t id;

	if (rt_query(ifindex, 0, &id, err) < 0)
		return -2;
	if (!id)
		return 0;
	if (id == r->pid[0])
		return ROUTE_PROG_ROUTER;
	if (id == r->pid[1])
		return ROUTE_PROG_PASS;
	return -1;
}

int route_attach(struct route *r, int ifindex, unsigned flags,
		 struct ec_err *err)
{
	int which = flags & ROUTE_ATTACH_PASS ? 1 : 0;
	uint32_t mode = rt_xdp_mode(flags), id;
	char name[IF_NAMESIZE];
	int rc;

	if (rt_query(ifindex, mode, &id, err) < 0)
		return -1;
	if (id == r->pid[which])
		return 0;
	if (id && id != r->pid[0] && id != r->pid[1] &&
	    !(flags & ROUTE_ATTACH_FORCE))
		return ec_err_set(err, EC_CONFLICT,
				  "'%s' already runs XDP program %u; force "
				  "to replace it",
				  rt_ifname(ifindex, name), id);
	rc = bpf_xdp_attach(ifindex, r->prog[which], mode, NULL);
	if (rc == -EOPNOTSUPP)
		return ec_err_set(err, EC_FAIL,
				  "'%s' has no native XDP; use generic XDP",
				  rt_ifname(ifindex, name));
	if (rc == -EBUSY || rc == -EEXIST)
		return ec_err_set(err, EC_CONFLICT,
				  "'%s' has an XDP program in another mode",
				  rt_ifname(ifindex, name));
	if (rc < 0)
		return rt_errno(err, -rc, rt_ifname(ifindex, name));
	return 0;
}

int route_detach(struct route *r, int ifindex, unsigned flags,
		 struct ec_err *err)
{
	uint32_t mode = rt_xdp_mode(flags), id;
	char name[IF_NAMESIZE];
	int rc;

	if (rt_query(ifindex, mode, &id, err) < 0)
		return -1;
	if (!id)
		return 0;
	if (id != r->pid[0] && id != r->pid[1] && !(flags & ROUTE_ATTACH_FORCE))
		return ec_err_set(err, EC_CONFLICT,
				  "'%s' runs XDP program %u, not ours; force "
				  "to remove it",
				  rt_ifname(ifindex, name), id);
	rc = bpf_xdp_detach(ifindex, mode, NULL);
	if (rc < 0)
		return rt_errno(err, -rc, rt_ifname(ifindex, name));
	return 0;
}

int route_test_run(struct route *r, int prog, const void *in, size_t len,
		   void *out, size_t *out_len, uint32_t *action, uint32_t *ns,
		   struct ec_err *err)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in,
		    .data_size_in = (uint32_t)len, .data_out = out,
		    .data_size_out = (uint32_t)*out_len, .repeat = 1);
	int fd;

	if (prog != ROUTE_PROG_ROUTER && prog != ROUTE_PROG_PASS)
		BUG("route_test_run: program %d", prog);
	fd = r->prog[prog == ROUTE_PROG_PASS];
	if (bpf_prog_test_run_opts(fd, &o) < 0)
		return rt_errno(err, errno, "test-run the XDP program");
	*out_len = o.data_size_out;
	*action = o.retval;
	if (ns)
		*ns = o.duration;
	return 0;
}
