/* runtime.c - rt_run() against every OCI runtime installed here, with a
 * busybox rootfs (tests/lib/busybox.bash) as the lower layer. Needs root. */
#include "runtime/runtime.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *base;  /* per-test-run temp dir */
static char *lower; /* busybox rootfs */
static int seq;

struct cap {
	struct strbuf s[3];
};

static void collect(void *ctx, int stream, const char *d, size_t n)
{
	struct cap *c = ctx;

	if (stream == 1 || stream == 2)
		sb_add(&c->s[stream], d, n);
}

static void cap_reset(struct cap *c)
{
	int i;

	for (i = 0; i < 3; i++)
		sb_reset(&c->s[i]);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fresh upper/work dirs and a fresh id for one run. */
struct box {
	char id[64];
	char *dir, *upper, *work, *state;
	const char *lowers[2];
};

static void box_init(struct box *b, const char *rt)
{
	struct ec_err err;

	snprintf(b->id, sizeof(b->id), "ectest-%d-%s-%d", (int)getpid(), rt,
		 __atomic_add_fetch(&seq, 1, __ATOMIC_SEQ_CST));
	b->dir = xasprintf("%s/%s", base, b->id);
	b->upper = xasprintf("%s/upper", b->dir);
	b->work = xasprintf("%s/work", b->dir);
	b->state = xasprintf("%s/state", b->dir);
	if (fs_mkdir_p(b->upper, &err) < 0 || fs_mkdir_p(b->work, &err) < 0)
		BUG("%s", err.msg);
	b->lowers[0] = lower;
	b->lowers[1] = NULL;
}

static void box_release(struct box *b)
{
	free(b->dir);
	free(b->upper);
	free(b->work);
	free(b->state);
}

static void spec_init(struct rt_spec *s, struct box *b, const char *const *args)
{
	memset(s, 0, sizeof(*s));
	s->args = args;
	s->lowerdirs = b->lowers;
	s->upper = b->upper;
	s->work = b->work;
}

/* 1 when some mount in /proc/self/mountinfo lies under `dir`. */
static int mounted_under(const char *dir)
{
	char *data = NULL;
	struct ec_err err;
	int r;

	if (fs_read_file("/proc/self/mountinfo", 1 << 20, &data, NULL, &err) <
	    0)
		return -1;
	r = strstr(data, dir) != NULL;
	free(data);
	return r;
}

static int run(const char *rt, struct box *b, const struct rt_spec *s,
	       struct cap *c, int *status, struct ec_err *err)
{
	cap_reset(c);
	return rt_run(rt, b->id, b->state, s, collect, c, NULL, status, err);
}

static void test_output(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c", "echo hi; echo err >&2; exit 7",
			      NULL};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	r = run(rt, &b, &s, c, &st, &err);
	is_int(r, 0, "%s: echo/exit runs (%s)", rt, err.msg);
	is_int(st, 7, "%s: exit status 7", rt);
	is_str(c->s[1].buf, "hi\n", "%s: stdout on stream 1", rt);
	is_str(c->s[2].buf, "err\n", "%s: stderr on stream 2", rt);
	ok(access(b.state, F_OK) < 0 && errno == ENOENT,
	   "%s: state dir removed", rt);
	box_release(&b);
}

/* 20 MB on stdout and 1 MB on stderr arrive intact and in full */
static void test_bulk_output(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c",
			      "head -c 1000000 /dev/zero >&2 & "
			      "head -c 20000000 /dev/zero; wait",
			      NULL};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: bulk output runs (%s)", rt, err.msg);
	is_int(c->s[1].len, 20000000, "%s: 20 MB on stdout", rt);
	is_int(c->s[2].len, 1000000, "%s: 1 MB on stderr", rt);
	box_release(&b);
}

struct par {
	const char *rt;
	int n, rc, status;
	struct cap c;
	struct ec_err err;
};

static void *par_run(void *arg)
{
	struct par *p = arg;
	char script[64];
	const char *args[] = {"sh", "-c", script, NULL};
	struct rt_spec s;
	struct box b;

	snprintf(script, sizeof(script), "echo %d; exit %d", p->n, p->n);
	box_init(&b, p->rt);
	spec_init(&s, &b, args);
	p->rc = rt_run(p->rt, b.id, b.state, &s, collect, &p->c, NULL,
		       &p->status, &p->err);
	box_release(&b);
	return NULL;
}

/* rt_run from several threads at once (fork from a threaded process) */
static void test_parallel(const char *rt)
{
	struct par p[4];
	pthread_t th[4];
	int i, good = 0;

	memset(p, 0, sizeof(p));
	for (i = 0; i < 4; i++) {
		p[i].rt = rt;
		p[i].n = i + 1;
		sb_init(&p[i].c.s[1]);
		sb_init(&p[i].c.s[2]);
	}
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, par_run, &p[i]);
	for (i = 0; i < 4; i++) {
		char want[8];

		pthread_join(th[i], NULL);
		snprintf(want, sizeof(want), "%d\n", i + 1);
		if (p[i].rc == 0 && p[i].status == i + 1 &&
		    !strcmp(p[i].c.s[1].buf, want))
			good++;
		else
			printf("# parallel %d: rc %d status %d out '%s' %s\n",
			       i, p[i].rc, p[i].status, p[i].c.s[1].buf,
			       p[i].err.msg);
		sb_release(&p[i].c.s[1]);
		sb_release(&p[i].c.s[2]);
	}
	is_int(good, 4, "%s: 4 containers in parallel threads", rt);
}

static void test_overlay(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c", "echo new > /new && rm /etc/victim",
			      NULL};
	struct rt_spec s;
	struct ec_err err;
	struct stat st;
	struct box b;
	char *p;
	int es, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	r = run(rt, &b, &s, c, &es, &err);
	ok(r == 0 && es == 0, "%s: write and remove in the rootfs (%s)", rt,
	   err.msg);
	p = xasprintf("%s/new", b.upper);
	ok(stat(p, &st) == 0 && S_ISREG(st.st_mode), "%s: upper has /new", rt);
	free(p);
	p = xasprintf("%s/etc/victim", b.upper);
	ok(lstat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0,
	   "%s: upper has a 0/0 whiteout for /etc/victim", rt);
	free(p);
	p = xasprintf("%s/etc/victim", lower);
	ok(access(p, F_OK) == 0, "%s: lower file untouched", rt);
	free(p);
	box_release(&b);
}

static void test_user_env_cwd(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c",
			      "id -u; id -g; echo $FOO; pwd; "
			      "echo $HOME",
			      NULL};
	const char *env[] = {"FOO=bar baz", NULL};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.user = "nobody";
	s.env = env;
	s.cwd = "/tmp";
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: user/env/cwd run (%s)", rt, err.msg);
	is_str(c->s[1].buf, "65534\n65534\nbar baz\n/tmp\n/nonexistent\n",
	       "%s: user nobody, env, cwd and HOME honoured", rt);
	box_release(&b);

	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.user = "0:65534";
	r = run(rt, &b, &s, c, &st, &err);
	is_str(c->s[1].buf, "0\n65534\n\n/\n/root\n", "%s: uid:gid numeric",
	       rt);
	box_release(&b);

	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.user = "nosuchuser";
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == -1 && err.cat == EC_USAGE && strstr(err.msg, "nosuchuser"),
	   "%s: unknown user is a usage error: %s", rt, err.msg);
	ok(!mounted_under(b.dir), "%s: nothing mounted after a user error", rt);
	box_release(&b);
}

static void test_network_none(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c",
			      "cat /proc/net/dev; ip -o link | wc -l", NULL};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.network = RT_NET_NONE;
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: network none runs (%s)", rt, err.msg);
	ok(strstr(c->s[1].buf, "lo:") && !strstr(c->s[1].buf, "eth") &&
	       !strstr(c->s[1].buf, "ens"),
	   "%s: only lo in /proc/net/dev", rt);
	box_release(&b);

	/* all three runtimes bring lo up in the new namespace */
	args[2] = "ip -o link; nc 127.0.0.1 1 </dev/null 2>&1";
	box_init(&b, rt);
	spec_init(&s, &b, args);
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && strstr(c->s[1].buf, "lo: <LOOPBACK,UP") &&
	       strstr(c->s[1].buf, "refused"),
	   "%s: lo is up (connection refused, not unreachable)", rt);
	box_release(&b);
}

/* Value of "Key:\t..." in /proc/self/status output, or "" */
static char *status_field(const char *status, const char *key)
{
	char *k = xasprintf("\n%s:\t", key);
	const char *p = strstr(status, k);
	char *v = p ? xstrndup(p + strlen(k), strcspn(p + strlen(k), "\n"))
		    : xstrdup("");

	free(k);
	return v;
}

/* hostname, rlimit, docker's capability bounding set, no_new_privs, and no
 * signal left ignored (main ignores SIGPIPE, like edgectl's main). gVisor
 * drops CAP_NET_RAW and shows neither NoNewPrivs nor SigIgn. */
static void test_process(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c", "hostname; ulimit -n", NULL};
	const char *status[] = {"cat", "/proc/self/status", NULL};
	int gvisor = !strcmp(rt, "runsc");
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	char *v;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.hostname = "box";
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: hostname/ulimit run (%s)", rt, err.msg);
	is_str(c->s[1].buf, "box\n1024\n", "%s: hostname and NOFILE 1024", rt);
	box_release(&b);

	box_init(&b, rt);
	spec_init(&s, &b, status);
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: /proc/self/status run (%s)", rt, err.msg);
	v = status_field(c->s[1].buf, "CapBnd");
	is_str(v, gvisor ? "00000000a80405fb" : "00000000a80425fb",
	       "%s: docker's capability bounding set", rt);
	free(v);
	v = status_field(c->s[1].buf, "NoNewPrivs");
	is_str(v, gvisor ? "" : "1", "%s: no_new_privs", rt);
	free(v);
	v = status_field(c->s[1].buf, "SigIgn");
	is_str(v, gvisor ? "" : "0000000000000000",
	       "%s: no signal ignored (SIGPIPE reset)", rt);
	free(v);
	box_release(&b);
}

/* The first host interface other than lo ("lo" when there is none). */
static char *host_ifname(void)
{
	FILE *f = fopen("/proc/net/dev", "re");
	char line[512], *name = NULL;

	while (f && !name && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " "), *colon = strchr(p, ':');

		if (colon && colon - p > 0 && strncmp(p, "lo:", 3))
			name = xstrndup(p, (size_t)(colon - p));
	}
	if (f)
		fclose(f);
	return name ? name : xstrdup("lo");
}

static void test_network_host(const char *rt, struct cap *c)
{
	const char *args[] = {"cat", "/proc/net/dev", NULL};
	char *ifname = host_ifname();
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.network = RT_NET_HOST;
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: network host runs (%s)", rt, err.msg);
	ok(strstr(c->s[1].buf, ifname), "%s: host interface '%s' visible", rt,
	   ifname);
	free(ifname);
	box_release(&b);
}

static void test_bad_exec(const char *rt, struct cap *c)
{
	const char *args[] = {"/no/such/program", NULL};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == -1 && err.cat == EC_FAIL && strstr(err.msg, "/no/such/program"),
	   "%s: missing executable fails to start: %s", rt, err.msg);
	is_int(st, -1, "%s: no exit status", rt);
	ok(!mounted_under(b.dir), "%s: nothing mounted after a failed start",
	   rt);
	ok(access(b.state, F_OK) < 0, "%s: state removed after failure", rt);
	box_release(&b);
}

static void test_memory(const char *rt, struct cap *c)
{
	const char *show[] = {
	    "sh", "-c",
	    "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
	    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
	    "sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo",
	    NULL};
	const char *hog[] = {"sh", "-c",
			     "x=$(head -c 67108864 /dev/zero | tr '\\0' a); "
			     "echo ${#x}",
			     NULL};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, show);
	s.memory_bytes = 16u << 20;
	s.pids_limit = 64;
	s.cpus = 0.5;
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0, "%s: limits accepted (%s)", rt, err.msg);
	/* gVisor has no cgroupfs inside; it sizes MemTotal to the limit */
	is_str(c->s[1].buf, strcmp(rt, "runsc") ? "16777216\n" : "16384\n",
	       "%s: memory limit visible inside", rt);
	box_release(&b);

	box_init(&b, rt);
	spec_init(&s, &b, hog);
	s.memory_bytes = 16u << 20;
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st != 0 && !strstr(c->s[1].buf, "67108864"),
	   "%s: 64 MiB in a 16 MiB container fails (status %d)", rt, st);
	box_release(&b);
}

static void test_mounts_ro(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c",
			      "cat /share/f; touch /share/g || echo ro-bind; "
			      "touch /x 2>/dev/null || echo ro-root",
			      NULL};
	char *share = xasprintf("%s/share", base);
	char *f = xasprintf("%s/f", share);
	struct rt_mount m[] = {{share, "/share", 1}, {0}};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r, fd;

	mkdir(share, 0755);
	fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ok(fd >= 0 && write(fd, "shared\n", 7) == 7, "%s: host file", rt);
	close(fd);
	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.mounts = m;
	s.readonly_rootfs = 1;
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: bind mount run (%s)", rt, err.msg);
	is_str(c->s[1].buf, "shared\nro-bind\nro-root\n",
	       "%s: read-only bind and read-only rootfs", rt);
	box_release(&b);
	free(share);
	free(f);
}

/* upper alone (no lowers) is bind-mounted as the rootfs */
static void test_plain_dir(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c", "head -n1 /etc/passwd", NULL};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.lowerdirs = NULL;
	s.upper = lower;
	s.work = NULL;
	s.readonly_rootfs = 1;
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: plain directory rootfs (%s)", rt, err.msg);
	is_str(c->s[1].buf, "root:x:0:0:root:/root:/bin/sh\n",
	       "%s: plain directory content", rt);
	box_release(&b);
}

struct canceller {
	volatile int flag;
	int delay_ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *k = arg;

	usleep((useconds_t)k->delay_ms * 1000);
	k->flag = 1;
	return NULL;
}

static void test_cancel(const char *rt, struct cap *c, const char *script,
			const char *what)
{
	const char *args[] = {"sh", "-c", script, NULL};
	struct canceller k = {0, 700};
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	pthread_t th;
	int64_t t0;
	int st, r;

	box_init(&b, rt);
	spec_init(&s, &b, args);
	s.kill_grace_ms = 500;
	pthread_create(&th, NULL, cancel_later, &k);
	t0 = now_ms();
	cap_reset(c);
	r = rt_run(rt, b.id, b.state, &s, collect, c, &k.flag, &st, &err);
	pthread_join(th, NULL);
	ok(r == -1 && err.cat == EC_INTR, "%s: cancel %s: %s", rt, what,
	   err.msg);
	ok(st == 143 || st == 137, "%s: cancelled status %d", rt, st);
	ok(now_ms() - t0 < 8000, "%s: cancel %s took %lld ms", rt, what,
	   (long long)(now_ms() - t0));
	ok(!mounted_under(b.dir), "%s: nothing mounted after cancel", rt);
	box_release(&b);
}

static void test_timing(const char *rt, struct cap *c)
{
	const char *args[] = {"true", NULL};
	int64_t t[5], tmp;
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int i, j, st, bad = 0;

	for (i = 0; i < 5; i++) {
		box_init(&b, rt);
		spec_init(&s, &b, args);
		t[i] = now_ms();
		if (run(rt, &b, &s, c, &st, &err) < 0 || st != 0)
			bad++;
		t[i] = now_ms() - t[i];
		box_release(&b);
	}
	for (i = 0; i < 5; i++)
		for (j = i + 1; j < 5; j++)
			if (t[j] < t[i]) {
				tmp = t[i];
				t[i] = t[j];
				t[j] = tmp;
			}
	ok(!bad, "%s: 5 runs of true", rt);
	printf("# %s: rt_run(true) median %lld ms (min %lld, max %lld)\n", rt,
	       (long long)t[2], (long long)t[0], (long long)t[4]);
}

/* Layers named by long paths: the options do not fit in a page, so the
 * layers go by /proc/self/fd/N. */
static void test_many_layers(const char *rt, struct cap *c)
{
	const char *args[] = {"sh", "-c", "cat /l0 /l39", NULL};
	const char *lowers[42];
	char pad[121];
	struct rt_spec s;
	struct ec_err err;
	struct box b;
	int i, st, r;

	memset(pad, 'x', 120);
	pad[120] = '\0';
	box_init(&b, rt);
	for (i = 0; i < 40; i++) {
		char *d = xasprintf("%s/layer-%02d-%s", b.dir, i, pad);
		char *f = xasprintf("%s/l%d", d, i);
		int fd;

		mkdir(d, 0755);
		fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || dprintf(fd, "layer %d\n", i) < 0)
			BUG("write %s", f);
		close(fd);
		lowers[i] = d;
		free(f);
	}
	lowers[40] = lower;
	lowers[41] = NULL;
	spec_init(&s, &b, args);
	s.lowerdirs = lowers;
	r = run(rt, &b, &s, c, &st, &err);
	ok(r == 0 && st == 0, "%s: 41 layers with long names (%s)", rt,
	   err.msg);
	is_str(c->s[1].buf, "layer 0\nlayer 39\n", "%s: all layers visible",
	       rt);
	for (i = 0; i < 40; i++)
		free((char *)lowers[i]);
	box_release(&b);
}

/* Our ids in `<rt> list` and in cgroup directories. */
static void test_leftovers(const char *rt)
{
	const char *patterns[] = {"/sys/fs/cgroup/*/edgectl/",
				  "/sys/fs/cgroup/edgectl/"};
	char cmd[256], id[64], pat[128];
	struct strbuf out = STRBUF_INIT;
	char buf[4096];
	size_t i;
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "%s list 2>&1", rt_path(rt));
	f = popen(cmd, "r");
	while (f && fgets(buf, sizeof(buf), f))
		sb_adds(&out, buf);
	if (f)
		pclose(f);
	snprintf(id, sizeof(id), "ectest-%d-", (int)getpid());
	ok(!strstr(out.buf, id), "%s: no containers of ours left in '%s list'",
	   rt, rt);
	sb_release(&out);
	for (i = 0; i < ARRAY_SIZE(patterns); i++) {
		glob_t g;

		snprintf(pat, sizeof(pat), "%s%s*", patterns[i], id);
		if (glob(pat, 0, NULL, &g) == 0)
			n += (int)g.gl_pathc;
		globfree(&g);
	}
	is_int(n, 0, "%s: no cgroups of ours left", rt);
}

static void test_errors(void)
{
	const char *args[] = {"true", NULL};
	const char *const *avail = rt_available();
	struct rt_spec s = {.args = args};
	struct ec_err err;
	int st, r, i, has_runsc = 0;

	r = rt_run("nosuch", "x", "/nonexistent", &s, NULL, NULL, NULL, &st,
		   &err);
	ok(r == -1 && err.cat == EC_USAGE, "unknown runtime: %s", err.msg);
	for (i = 0; avail[i]; i++)
		has_runsc |= !strcmp(avail[i], "runsc");
	if (!has_runsc) {
		r = rt_run("runsc", "x", "/nonexistent", &s, NULL, NULL, NULL,
			   &st, &err);
		ok(r == -1 && err.cat == EC_USAGE &&
		       strstr(err.msg, "not installed here (available:"),
		   "missing runtime: %s", err.msg);
	}
	r = rt_run(NULL, "bad/id", "/nonexistent", &s, NULL, NULL, NULL, &st,
		   &err);
	ok(r == -1 && err.cat == EC_USAGE, "bad id: %s", err.msg);
	s.args = NULL;
	r = rt_run(NULL, "x", "/nonexistent", &s, NULL, NULL, NULL, &st, &err);
	ok(r == -1 && err.cat == EC_USAGE, "no args: %s", err.msg);
}

/* rt_run as an unprivileged user fails with EC_PERM before touching disk */
static void test_not_root(void)
{
	const char *args[] = {"true", NULL};
	struct rt_spec s = {.args = args};
	int wst = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct ec_err err;
		int st, r;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		r = rt_run(NULL, "x", "/nonexistent/state", &s, NULL, NULL,
			   NULL, &st, &err);
		_exit(r == -1 && err.cat == EC_PERM &&
			      !strcmp(err.msg, "running containers needs root")
			  ? 0
			  : 1);
	}
	waitpid(pid, &wst, 0);
	ok(WIFEXITED(wst) && WEXITSTATUS(wst) == 0,
	   "not root: EC_PERM 'running containers needs root'");
}

/* tests/lib/busybox.bash from the source tree (cwd or next to argv[0]). */
static int count_fds(void)
{
	glob_t g;
	int n = -1;

	if (glob("/proc/self/fd/*", 0, NULL, &g) == 0)
		n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

static int make_lower(const char *argv0)
{
	char *self = xstrdup(argv0), *lib, *cmd, *victim;
	int r, fd;

	lib = xasprintf("%s/../../../tests/lib/busybox.bash", dirname(self));
	if (access("tests/lib/busybox.bash", R_OK) == 0) {
		free(lib);
		lib = xstrdup("tests/lib/busybox.bash");
	}
	lower = xasprintf("%s/lower", base);
	cmd = xasprintf("bash -c '. \"%s\" && busybox_rootfs \"%s\"'", lib,
			lower);
	r = system(cmd);
	victim = xasprintf("%s/etc/victim", lower);
	fd = open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	free(victim);
	free(cmd);
	free(lib);
	free(self);
	return r == 0 && fd >= 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *const *avail = rt_available();
	struct cap c = {{STRBUF_INIT, STRBUF_INIT, STRBUF_INIT}};
	struct ec_err err;
	int i, fds;

	(void)argc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root\n");
		return 0;
	}
	test_errors();
	if (!avail[0]) {
		ok(0, "no OCI runtime installed (tests/lib/deps.sh installs "
		      "crun, runc)");
		return done_testing();
	}
	test_not_root();
	base = fs_mkdtemp("/tmp", "edgectl-rt-", &err);
	if (!base || make_lower(argv[0]) < 0) {
		ok(0, "busybox rootfs: %s",
		   base ? "busybox_rootfs failed" : err.msg);
		return done_testing();
	}
	fds = count_fds();
	for (i = 0; avail[i]; i++) {
		const char *rt = avail[i];

		printf("# runtime %s at %s\n", rt, rt_path(rt));
		test_output(rt, &c);
		test_bulk_output(rt, &c);
		test_parallel(rt);
		test_overlay(rt, &c);
		test_user_env_cwd(rt, &c);
		test_network_none(rt, &c);
		test_network_host(rt, &c);
		test_process(rt, &c);
		test_bad_exec(rt, &c);
		test_memory(rt, &c);
		test_mounts_ro(rt, &c);
		test_plain_dir(rt, &c);
		test_many_layers(rt, &c);
		test_cancel(rt, &c, "trap 'exit 143' TERM; sleep 30 & wait",
			    "(TERM handled)");
		test_cancel(rt, &c, "exec sleep 30", "(TERM ignored, KILL)");
		test_timing(rt, &c);
		test_leftovers(rt);
	}
	is_int(count_fds(), fds, "no file descriptors leaked");
	ok(mounted_under(base) == 0, "no mounts left under %s", base);
	if (fs_rm_rf(base, &err) < 0)
		printf("# cleanup: %s\n", err.msg);
	for (i = 0; i < 3; i++)
		sb_release(&c.s[i]);
	return done_testing();
}
