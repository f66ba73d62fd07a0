/* config.c - the OCI runtime config.json (runtime spec 1.0.2) for one
 * container: docker's defaults for capabilities, mounts, masked and
 * read-only paths and device rules, plus the limits of the rt_spec. No
 * seccomp profile (see the module's notes in runtime.c). */
#include "runtime/rt_impl.h"
#include "cdi/cdi.h"
#include "util/xalloc.h"

#include <string.h>

#define DEFAULT_PATH                                                           \
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CPU_PERIOD_US 100000

static const char *const default_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
    NULL,
};

static const char *const masked_paths[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    NULL,
};

static const char *const readonly_paths[] = {
    "/proc/bus",	   "/proc/fs", "/proc/irq", "/proc/sys",
    "/proc/sysrq-trigger", NULL,
};

/* Allocation failure aborts (STYLE), also inside jansson. */
static void jset(json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		BUG("out of memory building config.json");
}

static void jpush(json_t *arr, json_t *v)
{
	if (!v || json_array_append_new(arr, v) < 0)
		BUG("out of memory building config.json");
}

static json_t *jobj(void)
{
	json_t *o = json_object();

	if (!o)
		BUG("out of memory building config.json");
	return o;
}

static json_t *jarr(void)
{
	json_t *a = json_array();

	if (!a)
		BUG("out of memory building config.json");
	return a;
}

static json_t *jstrs(const char *const *v)
{
	json_t *a = jarr();

	for (; v && *v; v++)
		jpush(a, json_string(*v));
	return a;
}

static int env_has(const char *const *env, const char *key)
{
	size_t n = strlen(key);

	for (; env && *env; env++)
		if (!strncmp(*env, key, n) && (*env)[n] == '=')
			return 1;
	return 0;
}

static json_t *process_env(const struct rt_spec *s, const struct rt_user *u)
{
	json_t *a = jstrs(s->env);

	if (!env_has(s->env, "PATH"))
		jpush(a, json_string(DEFAULT_PATH));
	if (!env_has(s->env, "HOME")) {
		char *home = xasprintf("HOME=%s", u->home ? u->home : "/");

		jpush(a, json_string(home));
		free(home);
	}
	return a;
}

static json_t *process_user(const struct rt_user *u)
{
	json_t *o = jobj(), *gids;
	size_t i;

	jset(o, "uid", json_integer(u->uid));
	jset(o, "gid", json_integer(u->gid));
	if (u->ngids) {
		gids = jarr();
		for (i = 0; i < u->ngids; i++)
			jpush(gids, json_integer(u->gids[i]));
		jset(o, "additionalGids", gids);
	}
	return o;
}

static json_t *process(const struct rt_spec *s, const struct rt_user *u)
{
	json_t *p = jobj(), *caps = jobj(), *rl = jobj(), *rls = jarr();

	jset(p, "terminal", json_false());
	jset(p, "user", process_user(u));
	jset(p, "args", jstrs(s->args));
	jset(p, "env", process_env(s, u));
	jset(p, "cwd", json_string(s->cwd && *s->cwd ? s->cwd : "/"));
	jset(caps, "bounding", jstrs(default_caps));
	jset(caps, "effective", jstrs(default_caps));
	jset(caps, "permitted", jstrs(default_caps));
	jset(p, "capabilities", caps);
	jset(rl, "type", json_string("RLIMIT_NOFILE"));
	jset(rl, "hard", json_integer(1024));
	jset(rl, "soft", json_integer(1024));
	jpush(rls, rl);
	jset(p, "rlimits", rls);
	jset(p, "noNewPrivileges", json_true());
	return p;
}

/* {destination, type, source, options...}; options NULL-terminated. */
static json_t *mnt(const char *dst, const char *type, const char *src,
		   const char *const *opts)
{
	json_t *m = jobj();

	jset(m, "destination", json_string(dst));
	jset(m, "type", json_string(type));
	jset(m, "source", json_string(src));
	jset(m, "options", jstrs(opts));
	return m;
}

static json_t *mounts(const struct rt_spec *s)
{
	static const char *const o_proc[] = {"nosuid", "noexec", "nodev", NULL};
	static const char *const o_dev[] = {"nosuid", "strictatime", "mode=755",
					    "size=65536k", NULL};
	static const char *const o_pts[] = {
	    "nosuid",	 "noexec", "newinstance", "ptmxmode=0666",
	    "mode=0620", "gid=5",  NULL};
	static const char *const o_shm[] = {"nosuid",	 "noexec",	"nodev",
					    "mode=1777", "size=65536k", NULL};
	static const char *const o_ro[] = {"nosuid", "noexec", "nodev", "ro",
					   NULL};
	static const char *const o_bind[] = {"rbind", "rprivate", NULL};
	static const char *const o_tmp[] = {"nosuid", "nodev", "mode=1777",
					    NULL};
	static const char *const o_bind_ro[] = {"rbind", "rprivate", "ro",
						NULL};
	json_t *a = jarr();
	size_t i;

	jpush(a, mnt("/proc", "proc", "proc", o_proc));
	jpush(a, mnt("/dev", "tmpfs", "tmpfs", o_dev));
	jpush(a, mnt("/dev/pts", "devpts", "devpts", o_pts));
	jpush(a, mnt("/dev/shm", "tmpfs", "shm", o_shm));
	jpush(a, mnt("/dev/mqueue", "mqueue", "mqueue", o_proc));
	jpush(a, mnt("/sys", "sysfs", "sysfs", o_ro));
	jpush(a, mnt("/sys/fs/cgroup", "cgroup", "cgroup", o_ro));
	for (i = 0;
	     s->mounts && (!s->nmounts || i < s->nmounts) && s->mounts[i].src;
	     i++)
		jpush(a, s->mounts[i].tmpfs
			     ? mnt(s->mounts[i].dst, "tmpfs", "tmpfs", o_tmp)
			     : mnt(s->mounts[i].dst, "bind", s->mounts[i].src,
				   s->mounts[i].readonly ? o_bind_ro : o_bind));
	return a;
}

static json_t *namespaces(const struct rt_spec *s)
{
	static const char *const types[] = {"pid", "ipc", "uts", "mount"};
	json_t *a = jarr(), *ns;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		ns = jobj();
		jset(ns, "type", json_string(types[i]));
		jpush(a, ns);
	}
	if (s->network != RT_NET_HOST) {
		ns = jobj();
		jset(ns, "type", json_string("network"));
		if (s->network == RT_NET_PATH && s->netns)
			jset(ns, "path", json_string(s->netns));
		jpush(a, ns);
	}
	return a;
}

/* One device cgroup rule; major/minor < 0 = any. */
static json_t *dev_rule(int allow, const char *type, long major, long minor,
			const char *access)
{
	json_t *r = jobj();

	jset(r, "allow", json_boolean(allow));
	if (type)
		jset(r, "type", json_string(type));
	if (major >= 0)
		jset(r, "major", json_integer(major));
	if (minor >= 0)
		jset(r, "minor", json_integer(minor));
	jset(r, "access", json_string(access));
	return r;
}

static json_t *devices(void)
{
	/* null zero full random urandom tty console ptmx */
	static const int chr[][2] = {{1, 3}, {1, 5}, {1, 7}, {1, 8},
				     {1, 9}, {5, 0}, {5, 1}, {5, 2}};
	json_t *a = jarr();
	size_t i;

	jpush(a, dev_rule(0, NULL, -1, -1, "rwm"));
	jpush(a, dev_rule(1, "c", -1, -1, "m"));
	jpush(a, dev_rule(1, "b", -1, -1, "m"));
	for (i = 0; i < ARRAY_SIZE(chr); i++)
		jpush(a, dev_rule(1, "c", chr[i][0], chr[i][1], "rwm"));
	jpush(a, dev_rule(1, "c", 136, -1, "rwm")); /* /dev/pts/N */
	return a;
}

static json_t *resources(const struct rt_spec *s)
{
	json_t *r = jobj(), *o;

	jset(r, "devices", devices());
	if (s->memory_bytes) {
		o = jobj();
		jset(o, "limit", json_integer((json_int_t)s->memory_bytes));
		jset(r, "memory", o);
	}
	if (s->pids_limit) {
		o = jobj();
		jset(o, "limit", json_integer((json_int_t)s->pids_limit));
		jset(r, "pids", o);
	}
	if (s->cpus > 0) {
		json_int_t quota = (json_int_t)(s->cpus * CPU_PERIOD_US);

		o = jobj();
		jset(o, "quota", json_integer(quota < 1000 ? 1000 : quota));
		jset(o, "period", json_integer(CPU_PERIOD_US));
		jset(r, "cpu", o);
	}
	return r;
}

static json_t *linux_section(const char *id, const struct rt_spec *s)
{
	json_t *l = jobj();
	char *cg = xasprintf("/edgectl/%s", id);

	jset(l, "namespaces", namespaces(s));
	jset(l, "maskedPaths", jstrs(masked_paths));
	jset(l, "readonlyPaths", jstrs(readonly_paths));
	jset(l, "resources", resources(s));
	jset(l, "cgroupsPath", json_string(cg));
	free(cg);
	return l;
}

json_t *rt_config_new(const char *id, const struct rt_spec *spec,
		      const struct rt_user *u, int readonly_root)
{
	json_t *c = jobj(), *root = jobj();

	jset(c, "ociVersion", json_string("1.0.2"));
	jset(c, "process", process(spec, u));
	jset(root, "path", json_string("rootfs"));
	jset(root, "readonly", json_boolean(readonly_root));
	jset(c, "root", root);
	jset(c, "hostname",
	     json_string(spec->hostname && *spec->hostname ? spec->hostname
							   : id));
	jset(c, "mounts", mounts(spec));
	jset(c, "linux", linux_section(id, spec));
	cdi_apply(c, spec->devices);
	return c;
}
