/* control.c - what happens to instances after they start (instance.h):
 * records in the store, stop, rm, logs, and listing them here or on every
 * host of the fleet. */
#include "fleet/remote.h"
#include "instance/instance.h"
#include "util/io.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STOP_POLL_MS 100
#define LOG_POLL_MS  100
#define PS_PARALLEL  8

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int inst_publish(const struct inst_env *env, const char *id, struct ec_err *err)
{
	_cleanup_json_ json_t *st = inst_state(env->root, id, err);
	_cleanup_json_ json_t *sp = st ? inst_spec(env->root, id, err) : NULL;
	_cleanup_json_ json_t *rec = NULL;
	_cleanup_free_ char *key = NULL, *s = NULL;
	char host[256] = "local";
	struct store *store;

	if (!sp || !(store = env->store(env->store_arg, err)))
		return -1;
	/* the name it was started under: the monitor has no configuration */
	if (ec_json_str(sp, "host"))
		snprintf(host, sizeof(host), "%s", ec_json_str(sp, "host"));
	else if (env->host)
		snprintf(host, sizeof(host), "%s", env->host);
	else
		gethostname(host, sizeof(host) - 1);
	rec = inst_record(st, sp, host);
	key = inst_record_key(ec_json_str(sp, "app"), id);
	s = ec_json_dump(rec);
	return store_put_buf(store, key, s, strlen(s), NULL, NULL, err);
}

/* SIGTERM, then inst_stop_next() until the monitor is gone. */
static int stop_id(const char *root, const char *id, int64_t grace_ms,
		   struct ec_err *err)
{
	_cleanup_json_ json_t *st = inst_state(root, id, err);
	_cleanup_json_ json_t *sp = st ? inst_spec(root, id, err) : NULL;
	const char *rt;
	int64_t t0;
	int stage = 0;
	pid_t mon;

	if (!sp)
		return -1;
	if (!inst_running(st))
		return inst_reap(root, id, st, err); /* a dead monitor's */
	rt = ec_json_str(sp, "runtime");
	mon = (pid_t)ec_json_int(st, "monitor_pid");
	/* without its runtime nothing can signal the container: say so
	 * rather than wait through every stop stage in vain */
	if (rt && strcmp(rt, "qemu") && !rt_path(rt))
		return ec_err_set(err, EC_FAIL,
				  "instance %s: its runtime '%s' is not "
				  "installed on this host any more: it cannot "
				  "be stopped (install %s again)",
				  id, rt, rt);
	/* the monitor records the status and cleans up once the container
	 * ends; the signals go to the container */
	rt_kill(rt, id, "TERM", NULL);
	t0 = mono_ms();
	while (inst_monitor_alive(st)) { /* a zombie counts as gone */
		switch (inst_stop_next(grace_ms, mono_ms() - t0, &stage)) {
		case INST_STOP_WAIT:
			break;
		case INST_STOP_KILL:
			rt_kill(rt, id, "KILL", NULL);
			break;
		case INST_STOP_FORCE:
			/* runsc with host networking may not return */
			rt_delete_force(rt, id, NULL);
			break;
		case INST_STOP_GIVE_UP:
			return ec_err_set(err, EC_FAIL,
					  "instance %s: its monitor (pid %d) "
					  "did not finish",
					  id, (int)mon);
		}
		io_sleep_ms(STOP_POLL_MS);
	}
	return 0;
}

int inst_stop(const struct inst_env *env, const char *what, int64_t grace_ms,
	      json_t **state, struct ec_err *err)
{
	_cleanup_free_ char *id = NULL;

	*state = NULL;
	if (inst_find(env->root, what, &id, err) < 0 ||
	    stop_id(env->root, id, grace_ms, err) < 0)
		return -1;
	inst_publish(env, id, NULL);
	*state = inst_state(env->root, id, NULL);
	if (!*state)
		*state = json_pack("{s:s}", "id", id);
	return 0;
}

int inst_rm(const struct inst_env *env, const char *what, int force, char **id,
	    struct ec_err *err)
{
	if (inst_find(env->root, what, id, err) < 0)
		return -1;
	if ((force && stop_id(env->root, *id, 0, err) < 0) ||
	    inst_remove(env->root, *id, err) < 0) {
		free(*id);
		*id = NULL;
		return -1;
	}
	return 0;
}

/* Is the instance still running (for follow)? */
static int still_running(const char *root, const char *id)
{
	_cleanup_json_ json_t *st = inst_state(root, id, NULL);

	return st && inst_running(st);
}

int inst_logs(const char *root, const char *what, int follow, rt_output_fn out,
	      void *out_ctx, const volatile int *cancel, struct ec_err *err)
{
	_cleanup_free_ char *id = NULL, *path = NULL;
	_cleanup_close_ int fd = -1;
	int64_t off = 0;
	char buf[65536];
	struct stat sb;
	ssize_t n;
	int running;

	if (inst_find(root, what, &id, err) < 0)
		return -1;
	path = xasprintf("%s/instances/%s/log", root, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return ec_err_set(err, EC_NOTFOUND,
				  "instance %s has no log (it ran in the "
				  "foreground)",
				  id);
	for (;;) {
		running = follow && still_running(root, id);
		if (fstat(fd, &sb) < 0)
			return ec_err_errno(err, EC_FAIL, errno, "log of %s",
					    id);
		switch (inst_log_next(off, sb.st_size, follow, running)) {
		case INST_LOG_READ:
			n = pread(fd, buf, sizeof(buf), off);
			if (n < 0)
				return ec_err_errno(err, EC_FAIL, errno,
						    "read the log of %s", id);
			off += n;
			out(out_ctx, 1, buf, (size_t)n);
			break;
		case INST_LOG_REWIND:
			off = 0;
			break;
		case INST_LOG_WAIT:
			if (cancel && *cancel)
				return 0;
			io_sleep_ms(LOG_POLL_MS);
			break;
		case INST_LOG_END:
			return 0;
		}
	}
}

json_t *inst_ps(const char *root, int all, struct ec_err *err)
{
	_cleanup_json_ json_t *list = inst_list(root, err);
	json_t *out, *s;
	struct timespec ts;
	int64_t now;
	size_t i;

	if (!list)
		return NULL;
	out = json_array();
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	json_array_foreach (list, i, s) {
		if (!inst_visible(s, all))
			continue;
		/* the age by this host's clock: callers on other machines
		 * compare it, not created_ms, with their own */
		if (json_is_integer(json_object_get(s, "created_ms")))
			json_object_set_new(
			    s, "age_ms",
			    json_integer(now - ec_json_int(s, "created_ms")));
		json_array_append(out, s);
	}
	return out;
}

/* --- ps over hosts -------------------------------------------------------- */

struct ps_fan {
	const struct ssh_opts *so;
	const char *root;
	const json_t *hosts;
	int all;
	json_t **lists; /* per host: its instances, or NULL */
	struct ec_err *errs;
};

static void ps_host(size_t i, void *arg)
{
	struct ps_fan *f = arg;
	const json_t *h = json_array_get(f->hosts, i);
	const char *args[] = {"ps", f->all ? "-a" : NULL, NULL};
	json_t *r;

	ec_err_clear(&f->errs[i]);
	if (!ec_json_str(h, "ssh")) {
		f->lists[i] = inst_ps(f->root, f->all, &f->errs[i]);
		return;
	}
	r = fleet_remote_json(f->so, h, args, &f->errs[i]);
	if (r && !json_is_array(r)) {
		ec_err_set(&f->errs[i], EC_REMOTE,
			   "host %s: ps answered with no list",
			   ec_json_str(h, "name"));
		json_decref(r);
		r = NULL;
	}
	f->lists[i] = r;
}

json_t *inst_ps_hosts(const struct ssh_opts *so, const char *root,
		      const json_t *hosts, int all, json_t **errors)
{
	size_t n = json_array_size(hosts), i, x;
	struct ps_fan f = {so,
			   root,
			   hosts,
			   all,
			   xcalloc(n + 1, sizeof(json_t *)),
			   xcalloc(n + 1, sizeof(struct ec_err))};
	json_t *out = json_array(), *e;

	*errors = json_array();
	fleet_fanout(n, PS_PARALLEL, ps_host, &f);
	for (i = 0; i < n; i++) {
		const char *hn = ec_json_str(json_array_get(hosts, i), "name");

		if (!f.lists[i]) {
			json_array_append_new(
			    *errors, json_pack("{s:s?,s:s}", "host", hn,
					       "error", f.errs[i].msg));
			continue;
		}
		json_array_foreach (f.lists[i], x, e) {
			json_object_set_new(e, "host", json_string(hn));
			json_array_append(out, e);
		}
		json_decref(f.lists[i]);
	}
	free(f.lists);
	free(f.errs);
	return out;
}

json_t *inst_ps_fleet(struct store *s, const struct ssh_opts *so,
		      const char *root, const char *one, int all,
		      json_t **errors, struct ec_err *err)
{
	_cleanup_json_ json_t *hosts = NULL;
	json_t *h;

	*errors = NULL;
	if (!one)
		hosts = fleet_hosts(s, NULL, err);
	else if ((h = fleet_host_get(s, one, NULL, err)))
		hosts = json_pack("[o]", h);
	if (!hosts)
		return NULL;
	return inst_ps_hosts(so, root, hosts, all, errors);
}
