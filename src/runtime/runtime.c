/* runtime.c - run a container to completion with an OCI runtime.
 *
 * rt_run(): bundle directory (state_dir/bundle), rootfs mount (rootfs.c),
 * user lookup in the mounted rootfs (user.c), config.json (config.c),
 * `<runtime> run` (proc.c), then `delete --force`, unmount, remove, on
 * every path.
 *
 * Notes:
 * - Runtime flags: all get --log=<bundle>/log.json --log-format=json, which
 *   tells a start failure (an "error" line in the log) from the container's
 *   own non-zero exit. runsc takes --network=none|host as a global flag (it
 *   refuses a spec network namespace in the root namespace otherwise).
 * - crun on a hybrid cgroup host whose cgroup2 mount has controllers runs
 *   in a private mount namespace without /sys/fs/cgroup/unified (proc.c).
 * - RT_NET_NONE: a new network namespace with only `lo`, which crun, runc
 *   and runsc all bring up (checked by tests/unit/runtime.c).
 * - Cgroups: cgroupfs path /edgectl/<id>; the runtime removes <id>, the
 *   shared /edgectl parent stays (like docker's).
 * - The runtime's own stderr shares the container's stderr pipe, so a
 *   start failure also shows up on stream 2 of `out`.
 * - rt_available() reads $PATH (a deliberate exception to "src/ never
 *   reads the environment": it is where the runtimes are installed).
 * - No seccomp profile and no AppArmor/SELinux label yet. */
#include "runtime/qemu.h"
#include "runtime/rt_impl.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_GRACE_MS 10000
#define ID_MAX_LEN	 64

static const char *const names[] = {"crun", "runc", "runsc"};
static const char *std_dirs =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
static char *paths[ARRAY_SIZE(names)];
static const char *avail[ARRAY_SIZE(names) + 1];
static char *qemu_path; /* qemu-system-x86_64, when a guest kernel is there */
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* First executable regular file `name` in the ':'-separated dirs. Empty
 * and relative entries are skipped. */
static char *search(const char *dirs, const char *name)
{
	_cleanup_free_ char *copy = xstrdup(dirs);
	char *d, *save = NULL;
	struct stat st;

	for (d = strtok_r(copy, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		char *p;

		if (d[0] != '/')
			continue;
		p = xasprintf("%s/%s", d, name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static void probe(void)
{
	const char *env = getenv("PATH");
	size_t i, n = 0;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		paths[i] = env ? search(env, names[i]) : NULL;
		if (!paths[i])
			paths[i] = search(std_dirs, names[i]);
		if (paths[i])
			avail[n++] = names[i];
	}
	qemu_path = env ? search(env, "qemu-system-x86_64") : NULL;
	if (!qemu_path)
		qemu_path = search(std_dirs, "qemu-system-x86_64");
	if (qemu_path) {
		char *k = NULL, *rel = NULL;
		if (vm_kernel_find(NULL, &k, &rel, NULL) < 0) {
			free(qemu_path); /* no guest kernel: no VM runtime */
			qemu_path = NULL;
		}
		free(k);
		free(rel);
	}
	avail[n] = NULL;
}

const char *const *rt_available(void)
{
	pthread_once(&probe_once, probe);
	return avail;
}

const char *rt_path(const char *name)
{
	size_t i;

	pthread_once(&probe_once, probe);
	if (name && !strcmp(name, "qemu"))
		return qemu_path;
	for (i = 0; name && i < ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i]))
			return paths[i];
	return NULL;
}

int rt_pick(const char *want, const char *const *have, const char **out,
	    struct ec_err *err)
{
	_cleanup_strbuf_ struct strbuf list = STRBUF_INIT;
	const char *const *p;

	*out = NULL;
	if (!want) {
		if (!have[0])
			return ec_err_set(err, EC_NOTFOUND,
					  "no OCI runtime on this host "
					  "(install crun, runc or runsc)");
		*out = have[0];
		return 0;
	}
	for (p = have; *p; p++) {
		if (!strcmp(*p, want)) {
			*out = want;
			return 0;
		}
		sb_addf(&list, "%s%s", list.len ? ", " : "", *p);
	}
	return ec_err_set(err, EC_USAGE,
			  "runtime '%s' is not installed on this host (it has: "
			  "%s)",
			  want, list.len ? list.buf : "none");
}

int rt_choose(const char *want, const char **out, struct ec_err *err)
{
	if (want && !strcmp(want, "qemu")) {
		*out = want;
		if (rt_path("qemu"))
			return 0;
		*out = NULL;
		return ec_err_set(
		    err, EC_USAGE,
		    "runtime 'qemu' needs qemu-system-x86_64 and a "
		    "guest kernel in /boot (install qemu-system-x86 "
		    "and linux-image-amd64)");
	}
	if (want && rt_qemu_vmm_unsupported(want, err) < 0) {
		*out = NULL;
		return -1;
	}
	return rt_pick(want, rt_available(), out, err);
}

int rt_check_id(const char *id, struct ec_err *err)
{
	size_t n = id ? strlen(id) : 0, i;

	if (!n || n > ID_MAX_LEN)
		return ec_err_set(
		    err, EC_USAGE,
		    "container id '%s' must be 1 to %d characters",
		    id ? id : "", ID_MAX_LEN);
	for (i = 0; i < n; i++) {
		char c = id[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || !strchr("_.-", c)))
			return ec_err_set(
			    err, EC_USAGE,
			    "container id '%s': use letters, digits, '_', '.' "
			    "and '-', starting with a letter or digit",
			    id);
	}
	return 0;
}

/* Everything about the spec that can be checked before touching disk. */
static int check_spec(const char *id, const struct rt_spec *s,
		      struct ec_err *err)
{
	size_t i;
	struct stat st;

	if (!s || !s->args || !s->args[0] || !*s->args[0])
		return ec_err_set(err, EC_USAGE, "no command to run");
	if (rt_check_id(id, err) < 0)
		return -1;
	if (s->cpus < 0)
		return ec_err_set(err, EC_USAGE, "cpus must not be negative");
	if (s->cwd && *s->cwd && s->cwd[0] != '/')
		return ec_err_set(err, EC_USAGE,
				  "working directory '%s' must be absolute",
				  s->cwd);
	for (i = 0;
	     s->mounts && (!s->nmounts || i < s->nmounts) && s->mounts[i].src;
	     i++) {
		const struct rt_mount *m = &s->mounts[i];

		if (!m->dst || m->dst[0] != '/')
			return ec_err_set(
			    err, EC_USAGE,
			    "mount destination '%s' must be absolute",
			    m->dst ? m->dst : "");
		if (!m->tmpfs && stat(m->src, &st) < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "mount source '%s'", m->src);
	}
	return 0;
}

static int check_dir(const char *path, struct ec_err *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "state directory '%s'",
				    path);
	if (!S_ISDIR(st.st_mode))
		return ec_err_set(err, EC_USAGE,
				  "state directory '%s' is not a directory",
				  path);
	return 0;
}

static int write_config(const char *path, json_t *cfg, struct ec_err *err)
{
	_cleanup_free_ char *s = ec_json_dump(cfg);
	_cleanup_close_ int fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create '%s'", path);
	return io_write_all(fd, s, strlen(s), -1, path, err);
}

/* User lookup in the mounted rootfs, then config.json. */
static int prepare(const char *id, const char *bundle, const struct rt_spec *s,
		   int readonly, struct ec_err *err)
{
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
	_cleanup_free_ char *config = xasprintf("%s/config.json", bundle);
	_cleanup_close_ int rootfd =
	    open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_json_ json_t *cfg = NULL;
	struct rt_user u;

	if (rootfd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", rootfs);
	if (rt_user_resolve(rootfd, s->user, &u, err) < 0)
		return -1;
	cfg = rt_config_new(id, s, &u, readonly);
	rt_user_release(&u);
	return write_config(config, cfg, err);
}

/* Remove the container from the runtime's state, when it is still there
 * (`run` normally deletes it on exit). */
static int delete_container(const struct rt_tool *t, const char *id,
			    struct ec_err *err)
{
	const char *del[] = {"delete", "--force", id, NULL};
	const char *state[] = {"state", id, NULL};
	struct strbuf out = STRBUF_INIT;
	int r = 0;

	if (rt_proc_cmd(t, del, &out, err) != 0 &&
	    rt_proc_cmd(t, state, NULL, err) == 0) {
		while (out.len && out.buf[out.len - 1] == '\n')
			out.buf[--out.len] = '\0';
		r = ec_err_set(err, EC_FAIL, "delete container '%s' (%s): %s",
			       id, t->name, out.buf);
	}
	sb_release(&out);
	return r;
}

/* Map the runtime's exit to rt_run's result. */
static int outcome(const struct rt_tool *t, const char *id, const char *log,
		   int status, int cancelled, int *exit_status,
		   struct ec_err *err)
{
	_cleanup_free_ char *msg = NULL;

	if (cancelled) {
		*exit_status = status;
		return ec_err_set(err, EC_INTR, "container '%s' was stopped",
				  id);
	}
	if (status != 0)
		msg = rt_log_last_error(log);
	if (msg)
		return ec_err_set(err, EC_FAIL,
				  "start container '%s' with %s: %s", id,
				  t->name, msg);
	*exit_status = status;
	return 0;
}

/* The part of rt_run() between mounting and unmounting. */
static int run_mounted(const struct rt_tool *t, const char *id,
		       const char *bundle, const struct rt_spec *s,
		       int readonly, rt_output_fn out, void *ctx,
		       const volatile int *cancel, int *exit_status,
		       struct ec_err *err)
{
	_cleanup_free_ char *log = xasprintf("%s/log.json", bundle);
	unsigned grace = s->kill_grace_ms ? s->kill_grace_ms : DEFAULT_GRACE_MS;
	struct ec_err derr;
	int status = -1, cancelled = 0, r;

	if (prepare(id, bundle, s, readonly, err) < 0)
		return -1;
	if (rt_proc_run(t, id, bundle, log, out, ctx, cancel, grace, s->started,
			s->started_ctx, &status, &cancelled, err) < 0)
		return -1;
	r = outcome(t, id, log, status, cancelled, exit_status, err);
	/* `run` deletes the container when it exits by itself: only a
	 * cancelled run or a failed start can leave one (one exec saved on
	 * every container: run.sh's cold start) */
	if (r == 0 && !cancelled)
		return 0;
	ec_err_clear(&derr);
	if (delete_container(t, id, &derr) < 0 && r == 0) {
		if (err)
			*err = derr;
		r = -1;
	}
	return r;
}

int rt_run(const char *runtime, const char *id, const char *state_dir,
	   const struct rt_spec *spec, rt_output_fn out, void *ctx,
	   const volatile int *cancel, int *exit_status, struct ec_err *err)
{
	_cleanup_free_ char *bundle = NULL, *rootfs = NULL;
	struct ec_err cerr;
	struct rt_tool t;
	int readonly, r;

	if (runtime && !strcmp(runtime, "qemu"))
		return rt_qemu_run(rt_path("qemu"), id, state_dir, spec, out,
				   ctx, cancel, exit_status, err);
	ec_err_clear(err);
	*exit_status = -1;
	if (check_spec(id, spec, err) < 0 ||
	    rt_tool_init(&t, runtime, spec->network, err) < 0)
		return -1;
	t.nvproxy = spec->nvproxy;
	if (geteuid() != 0)
		return ec_err_set(err, EC_PERM,
				  "running containers needs root");
	if (cancel && *cancel)
		return ec_err_set(err, EC_INTR, "container '%s' was stopped",
				  id);
	if (!state_dir || !*state_dir)
		return ec_err_set(err, EC_USAGE, "no state directory given");
	bundle = xasprintf("%s/bundle", state_dir);
	rootfs = xasprintf("%s/rootfs", bundle);
	if (fs_mkdir_p(state_dir, err) < 0 || check_dir(state_dir, err) < 0 ||
	    rt_bundle_remove(bundle, err) < 0)
		return ec_err_prefix(err, "container '%s'", id);
	if (mkdir(bundle, 0700) < 0 || mkdir(rootfs, 0755) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "create bundle '%s'", bundle);
		goto remove_bundle;
	}
	if (rt_rootfs_mount(spec, rootfs, &readonly, err) < 0)
		goto remove_bundle;
	if (t.kind == RT_RUNSC && spec->network == RT_NET_PATH) {
		/* see rt_tool.enter_netns */
		struct rt_spec hs = *spec;
		hs.network = RT_NET_HOST;
		t.enter_netns = spec->netns;
		t.network = RT_NET_HOST;
		r = run_mounted(&t, id, bundle, &hs, readonly, out, ctx, cancel,
				exit_status, err);
	} else {
		r = run_mounted(&t, id, bundle, spec, readonly, out, ctx,
				cancel, exit_status, err);
	}
	ec_err_clear(&cerr);
	if (rt_bundle_remove(bundle, &cerr) < 0 && r == 0) {
		if (err)
			*err = cerr;
		r = -1;
	}
	rmdir(state_dir);
	return r;

remove_bundle:
	ec_err_clear(&cerr);
	rt_bundle_remove(bundle, &cerr);
	rmdir(state_dir);
	return ec_err_prefix(err, "container '%s'", id);
}

int rt_state(const char *runtime, const char *id, char **status, int *pid,
	     struct ec_err *err)
{
	const char *args[] = {"state", id, NULL};
	struct strbuf out = STRBUF_INIT;
	struct rt_tool t;
	json_error_t je;
	json_t *j;
	const char *s;
	int r;

	if (runtime && !strcmp(runtime, "qemu"))
		return rt_qemu_state(id, status, pid, err);
	*status = NULL;
	if (pid)
		*pid = 0;
	if (rt_tool_init(&t, runtime, RT_NET_NONE, err) < 0)
		return -1;
	r = rt_proc_cmd(&t, args, &out, err);
	if (r != 0) {
		sb_release(&out);
		return r < 0 ? -1 : 0; /* no such container */
	}
	j = json_loadb(out.buf, out.len, 0, &je);
	s = j ? ec_json_str(j, "status") : NULL;
	if (s)
		*status = xstrdup(s);
	if (pid && j)
		*pid = (int)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	sb_release(&out);
	return 0;
}

int rt_kill(const char *runtime, const char *id, const char *sig,
	    struct ec_err *err)
{
	const char *args[] = {"kill", id, sig, NULL};
	struct strbuf out = STRBUF_INIT;
	struct rt_tool t;
	int r;

	if (runtime && !strcmp(runtime, "qemu"))
		return rt_qemu_kill(id, sig, err);
	if (rt_tool_init(&t, runtime, RT_NET_NONE, err) < 0)
		return -1;
	r = rt_proc_cmd(&t, args, &out, err);
	if (r > 0)
		ec_err_set(err, EC_FAIL, "%s kill %s %s: %.*s", t.name, id, sig,
			   (int)out.len, out.buf);
	sb_release(&out);
	return r == 0 ? 0 : -1;
}

int rt_reap(const char *runtime, const char *id, const char *state_dir,
	    struct ec_err *err)
{
	_cleanup_free_ char *bundle = xasprintf("%s/bundle", state_dir);
	char *status = NULL;
	struct ec_err e;

	ec_err_clear(&e);
	/* the runtime knows it (running or stopped): kill and delete it. The
	 * `RUNTIME run` the dead monitor started may still be alive and clean
	 * up at the same time: what counts is that the runtime forgets it. */
	if (rt_state(runtime, id, &status, NULL, &e) == 0 && status) {
		free(status);
		status = NULL;
		rt_delete_force(runtime, id, &e);
		ec_err_clear(&e);
		if (rt_state(runtime, id, &status, NULL, &e) == 0 && status) {
			ec_err_set(err, EC_FAIL,
				   "container '%s': still %s after delete "
				   "--force",
				   id, status);
			free(status);
			return -1;
		}
	}
	free(status);
	if (rt_bundle_remove(bundle, err) < 0)
		return ec_err_prefix(err, "container '%s'", id);
	rmdir(state_dir);
	return 0;
}

int rt_delete_force(const char *runtime, const char *id, struct ec_err *err)
{
	const char *args[] = {"delete", "--force", id, NULL};
	struct rt_tool t;

	if (runtime && !strcmp(runtime, "qemu"))
		return rt_qemu_delete_force(id, err);
	if (rt_tool_init(&t, runtime, RT_NET_NONE, err) < 0)
		return -1;
	return rt_proc_cmd(&t, args, NULL, err) == 0 ? 0 : -1;
}

int rt_started(const char *runtime, const char *id, const char *state_dir,
	       char **status, struct ec_err *err)
{
	_cleanup_free_ char *pf = xasprintf("%s/bundle/pid", state_dir);
	char buf[32];
	ssize_t n;
	long pid;
	int fd;

	*status = NULL;
	if (runtime && !strcmp(runtime, "qemu"))
		return rt_qemu_state(id, status, NULL, err);
	fd = open(pf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT
			   ? 0
			   : ec_err_errno(err, EC_FAIL, errno, "read '%s'", pf);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0; /* written, not yet filled */
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 0)
		return 0;
	*status = xstrdup(
	    kill((pid_t)pid, 0) == 0 || errno == EPERM ? "running" : "stopped");
	return 0;
}
