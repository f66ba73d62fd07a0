/* start.c - `edgectl run` as a library call (instance.h): the image (pulled
 * when missing), the spec, the instance, then a foreground run or a
 * detached start under a monitor process. */
#include "image/image.h"
#include "instance/instance.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <signal.h>
#include <errno.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 60000 /* a cold runsc, a slow CNI */
/* a look is a read of state.json and of the runtime's pid file (no
 * process): cheap enough to look often */
#define START_POLL_MS 3

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The image's manifest digest in the local root, pulled first when it is
 * not there (from the store, a registry or an OCI directory). */
static int resolve_image(const struct inst_env *env, struct oci_layout *l,
			 const char *image, char digest[OCI_DIGEST_MAX],
			 struct ec_err *err)
{
	_cleanup_free_ char *name = NULL, *cache = NULL, *layers = NULL;
	struct img_pull_opts po = {0};
	struct img_copy_result res;
	struct img_ref r;
	struct oci_desc d;
	int rc = -1;

	if (img_ref_parse(image, &r, err) < 0)
		return -1;
	name = img_pull_name(&r);
	if (r.kind != REF_OCI && oci_ref_get(l, name, &d, NULL) == 0) {
		snprintf(digest, OCI_DIGEST_MAX, "%s", d.digest);
		rc = 0;
		goto out;
	}
	cache = xasprintf("%s/cache", env->root);
	layers = xasprintf("%s/layers", env->root);
	po.eo.cache_dir = cache;
	po.eo.cancel = env->cancel;
	po.layers_dir = layers;
	if (r.kind == REF_STORE &&
	    !(po.store = env->store(env->store_arg, err)))
		goto out;
	if (fs_mkdir_p(cache, err) < 0)
		goto out;
	if (img_pull(l, &r, name, &po, &res, NULL, err) < 0) {
		ec_err_prefix(err, "image '%s'", image);
		goto out;
	}
	snprintf(digest, OCI_DIGEST_MAX, "%s", res.image.digest);
	rc = 0;
out:
	img_ref_release(&r);
	return rc;
}

/* The spec of instance `id` of image `digest`: its config from the root,
 * its layers unpacked (built and pulled images have them, unless an
 * earlier unpack was interrupted). */
static json_t *make_spec(const struct inst_env *env, struct oci_layout *l,
			 const struct inst_opts *o, const char *id,
			 const char *image, const char *digest,
			 char *const *cmd, int ncmd, struct ec_err *err)
{
	_cleanup_json_ json_t *man = oci_blob_json(l, digest, err);
	_cleanup_json_ json_t *cfg = NULL, *lowers = NULL;
	_cleanup_free_ struct img_layer *layers = NULL;
	_cleanup_free_ char *ldir = xasprintf("%s/layers", env->root);
	const char *cd;
	unsigned done;
	size_t n, i;

	if (!man)
		return NULL;
	cd = ec_json_str(json_object_get(man, "config"), "digest");
	if (!cd || !(cfg = oci_blob_json(l, cd, err)))
		return NULL;
	if (img_unpack_layers(l, digest, ldir, 0, &done, err) < 0 ||
	    img_layers(l, digest, &layers, &n, err) < 0)
		return NULL;
	lowers = json_array();
	for (i = n; i-- > 0;)
		json_array_append_new(
		    lowers, json_sprintf("%s/%s", ldir, layers[i].diff_id + 7));
	return inst_spec_build(o, id, image, digest,
			       json_object_get(cfg, "config"), lowers, cmd,
			       ncmd);
}

/* The forked monitor's output: the instance's log on fd 1. */
static void out_log(void *c, int stream, const char *data, size_t len)
{
	(void)c;
	(void)stream;
	io_write_all(1, data, len, -1, "log", NULL);
}

/* The forked monitor's store: its own, opened on first use with the
 * options run's store had (the run process's connections are not shared
 * across the fork). */
static struct store_opts child_opts;
static struct store *child_store(void *arg, struct ec_err *err)
{
	static struct store *s;
	const char *url = arg;

	if (!s && store_open(url, &child_opts, &s, err) < 0) {
		ec_err_prefix(err, "store '%s'", url);
		return NULL;
	}
	return s;
}

/* The monitor: a fork of this process in a new session, output appended
 * to the instance's log, running inst_monitor(). A fork, not an exec of
 * `edgectl __monitor ID` (that command stays): loading edgectl's ~45
 * shared libraries again was a fifth of the start path. Only the thread
 * that forks exists in the child; run has no other thread at this point
 * (fetch pools are joined). */
static int spawn_monitor(const struct inst_env *env, const char *id, pid_t *pid,
			 struct ec_err *err)
{
	_cleanup_free_ char *log =
	    xasprintf("%s/instances/%s/log", env->root, id);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	struct inst_env ce;
	struct ec_err e;
	sigset_t none;
	int fd, i;

	fflush(stdout);
	fflush(stderr);
	*pid = fork();
	if (*pid < 0)
		return ec_err_errno(err, EC_FAIL, errno, "start monitor");
	if (*pid > 0)
		goto started;
	/* the child: what `__monitor` gets from main(), then the monitor */
	setsid();
	for (i = 1; i < NSIG; i++)
		if (i != SIGINT && i != SIGTERM && i != SIGPIPE &&
		    i != SIGKILL && i != SIGSTOP)
			sigaction(i, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0)
		_exit(1);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(1);
	/* run's sockets and files are not the monitor's */
	syscall(SYS_close_range, 3U, ~0U, 0U);
	ce = *env;
	if (env->store_opts)
		child_opts = *env->store_opts;
	child_opts.log = NULL; /* -v's log wrote to run's terminal */
	child_opts.log_ctx = NULL;
	ce.store = child_store;
	ce.store_arg = (void *)env->store_url;
	ec_err_clear(&e);
	inst_monitor(&ce, id, out_log, NULL, &e);
	_exit(0);
started:
	/* the monitor runs now: a state that cannot be written shows in the
	 * start check (the monitor cannot write it either) */
	inst_state_update(env->root, id,
			  json_pack("{s:i,s:I}", "monitor_pid", (int)*pid,
				    "monitor_start_ticks",
				    (json_int_t)inst_proc_start_ticks(*pid)),
			  NULL);
	return 0;
}

/* One look at a starting instance (inst_start_check). */
static int start_poll(const struct inst_env *env, const char *id, pid_t pid,
		      struct ec_err *err)
{
	_cleanup_json_ json_t *st = inst_state(env->root, id, NULL);
	_cleanup_json_ json_t *sp = NULL;
	_cleanup_free_ char *rs = NULL, *rtdir = NULL;
	int wst, exited = waitpid(pid, &wst, WNOHANG) == pid;

	if (exited) {
		/* what it recorded before it ended */
		json_decref(st);
		st = inst_state(env->root, id, NULL);
	} else if (!strcmp(ec_json_str(st, "status") ?: "", "running") &&
		   (sp = inst_spec(env->root, id, NULL))) {
		rtdir = xasprintf("%s/instances/%s/rt", env->root, id);
		rt_started(ec_json_str(sp, "runtime"), id, rtdir, &rs, NULL);
	}
	return inst_start_check(st, exited, rs, err);
}

/* Start the monitor of a detached instance and wait until the container
 * runs (or failed to start). */
static int start_detached(const struct inst_env *env, const char *id,
			  json_t *trace, struct ec_err *err)
{
	int64_t t0 = mono_ms();
	pid_t pid;
	int r;

	if (spawn_monitor(env, id, &pid, err) < 0)
		return -1;
	inst_trace(trace, "monitor_spawned");
	while (mono_ms() - t0 < START_TIMEOUT_MS) {
		if ((r = start_poll(env, id, pid, err)) != 0)
			return r < 0 ? -1 : 0;
		io_sleep_ms(START_POLL_MS);
		if (env->cancel && *env->cancel)
			return ec_err_set(err, EC_INTR, "interrupted");
	}
	return ec_err_set(err, EC_REMOTE,
			  "instance %s did not start within %d s (see "
			  "'edgectl logs %s')",
			  id, START_TIMEOUT_MS / 1000, id);
}

/* The config's "vm" object into the spec as vm_kernel, vm_cmdline,
 * vm_accel, vm_boot_timeout_ms (read by inst_exec for VM runtimes). */
static void spec_vm(json_t *spec, const json_t *vm)
{
	static const char *const keys[] = {"kernel", "cmdline", "accel"};
	const json_t *t = json_object_get(vm, "boot_timeout_ms");
	size_t i;

	for (i = 0; vm && i < sizeof(keys) / sizeof(keys[0]); i++)
		if (ec_json_str(vm, keys[i]))
			json_object_set_new(
			    spec,
			    keys[i][0] == 'k'	? "vm_kernel"
			    : keys[i][0] == 'c' ? "vm_cmdline"
						: "vm_accel",
			    json_string(ec_json_str(vm, keys[i])));
	if (json_is_integer(t))
		json_object_set_new(spec, "vm_boot_timeout_ms",
				    json_integer(json_integer_value(t)));
	if (json_is_false(json_object_get(vm, "snapshot")))
		json_object_set_new(spec, "vm_snapshot", json_false());
}

/* The run process's stamps into the state's start_trace (the monitor's
 * are there already). */
static void trace_merge(const char *root, const char *id, json_t *trace)
{
	_cleanup_json_ json_t *st = inst_state(root, id, NULL);
	json_t *t = json_object_get(st, "start_trace");

	if (t)
		json_object_update_missing(trace, t);
	inst_state_update(root, id, json_pack("{s:O}", "start_trace", trace),
			  NULL);
}

/* Choose the runtime, check the name is free, get the image, create the
 * instance (res->id). */
static int create(const struct inst_env *env, const struct inst_opts *opts,
		  const char *image, char *const *cmd, int ncmd,
		  struct inst_run_result *res, struct ec_err *err)
{
	struct inst_opts o = *opts;
	_cleanup_free_ char *other = NULL;
	_cleanup_json_ json_t *spec = NULL;
	_cleanup_json_ json_t *attach = NULL;
	struct oci_layout *l = NULL;
	char digest[OCI_DIGEST_MAX];
	int r = -1;

	if (inst_opts_check(&o, err) < 0 ||
	    rt_choose(opts->runtime, &o.runtime, err) < 0)
		return -1;
	if (o.name && inst_find(env->root, o.name, &other, NULL) == 0)
		return ec_err_set(err, EC_CONFLICT,
				  "an instance named '%s' exists (%s); remove "
				  "it or pick another name",
				  o.name, other);
	/* devices and store objects first: a missing one stops the run
	 * before anything is pulled or created */
	if (!(attach = inst_attach(env, &o, err)) ||
	    oci_layout_open(env->root, 1, &l, err) < 0 ||
	    resolve_image(env, l, image, digest, err) < 0)
		goto out;
	inst_new_id(res->id);
	if (!(spec = make_spec(env, l, &o, res->id, image, digest, cmd, ncmd,
			       err)))
		goto out;
	if (env->host)
		json_object_set_new(spec, "host", json_string(env->host));
	if (inst_attach_merge(env->root, res->id, spec, attach, err) < 0)
		goto out;
	spec_vm(spec, env->vm);
	r = inst_create(env->root, res->id, spec, err);
out:
	oci_layout_free(l);
	return r;
}

int inst_run(const struct inst_env *env, const struct inst_opts *o,
	     const char *image, char *const *cmd, int ncmd, rt_output_fn out,
	     void *out_ctx, struct inst_run_result *res, struct ec_err *err)
{
	_cleanup_json_ json_t *trace = json_object();

	*res = (struct inst_run_result){.exit_status = -1};
	inst_trace(trace, "run");
	if (create(env, o, image, cmd, ncmd, res, err) < 0)
		return -1;
	inst_trace(trace, "created");
	if (o->detach) {
		if (start_detached(env, res->id, trace, err) < 0)
			return -1;
		inst_trace(trace, "seen_running");
		inst_publish(env, res->id, NULL);
		inst_trace(trace, "published");
		trace_merge(env->root, res->id, trace);
		res->state = inst_state(env->root, res->id, NULL);
		if (!res->state)
			res->state = json_object();
		return 0;
	}
	if (inst_exec(env->root, res->id, out, out_ctx, env->cancel,
		      &res->exit_status, err) < 0 &&
	    res->exit_status < 0) {
		inst_finish(env, res->id, 0, NULL, NULL);
		return -1;
	}
	res->sync_status = inst_finish(env, res->id, 1, &res->sync, err);
	if (!o->rm)
		inst_publish(env, res->id, NULL);
	return 0;
}

int inst_monitor(const struct inst_env *env, const char *id, rt_output_fn out,
		 void *out_ctx, struct ec_err *err)
{
	int status = -1;
	int r =
	    inst_exec(env->root, id, out, out_ctx, env->cancel, &status, err);
	struct ec_err e;

	/* the log says what the write-back did (the state has it too) */
	ec_err_clear(&e);
	if (inst_finish(env, id, status >= 0, NULL, &e) != 0 && out) {
		_cleanup_free_ char *msg =
		    xasprintf("edgectl: error: %s\n", e.msg);
		out(out_ctx, 2, msg, strlen(msg));
	}
	inst_publish(env, id, NULL);
	return r;
}
