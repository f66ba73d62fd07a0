/* run.c - `edgectl run`, `ps`, `logs`, `stop`, `rm` on this host, and the
 * internal `__monitor` that keeps a detached instance. */
#include "cmd.h"
#include "fleet/fleet.h"
#include "image/image.h"
#include "instance/instance.h"
#include "net/net.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "runtime/qemu.h"
#include "runtime/runtime.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SUBNET "198.19.0.0/24"

enum {
	O_HOST = OPT_FIRST_LONG,
	O_RUNTIME,
	O_NAME,
	O_RM,
	O_CPUS,
	O_MEMORY,
	O_PIDS,
	O_NETWORK,
	O_READ_ONLY,
	O_APP,
	O_SUBNET,
	O_ALL_HOSTS,
	O_ENTRYPOINT,
	O_WORKDIR,
	O_USER,
	O_VIP,
	O_TMPFS,
};

static int run_run(struct ec_ctx *ctx, int argc, char **argv);
static int run_ps(struct ec_ctx *ctx, int argc, char **argv);
static int run_logs(struct ec_ctx *ctx, int argc, char **argv);
static int run_stop(struct ec_ctx *ctx, int argc, char **argv);
static int run_rm(struct ec_ctx *ctx, int argc, char **argv);
static int run_monitor(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt run_opts[] = {
    {"host", 0, "NAME", "run on this host of the fleet (over SSH)", O_HOST},
    {"runtime", 0, "NAME",
     "crun, runc, runsc or qemu (a microVM) (default: config, else "
     "the first installed)",
     O_RUNTIME},
    {"name", 0, "NAME", "instance name (default: its id)", O_NAME},
    {"detach", 'd', NULL, "start in the background, print the id", 'd'},
    {"rm", 0, NULL, "remove the instance when it exits", O_RM},
    {"env", 'e', "K=V", "set an environment variable (repeatable)", 'e'},
    {"publish", 'p', "HOST:CPORT[/PROTO]",
     "publish a container port on the host (repeatable)", 'p'},
    {"volume", 'v', "SRC:DST[:ro]", "bind mount a host path (repeatable)", 'v'},
    {"tmpfs", 0, "PATH", "mount a fresh tmpfs at PATH (repeatable)", O_TMPFS},
    {"cpus", 0, "N", "CPU limit (e.g. 0.5)", O_CPUS},
    {"memory", 0, "SIZE",
     "memory limit (e.g. 64M); past it the container "
     "is OOM-killed",
     O_MEMORY},
    {"pids-limit", 0, "N", "most processes", O_PIDS},
    {"network", 0, "bridge|none|host", "network (default bridge, via CNI)",
     O_NETWORK},
    {"read-only", 0, NULL, "read-only root filesystem", O_READ_ONLY},
    {"entrypoint", 0, "PATH", "override the image's entrypoint", O_ENTRYPOINT},
    {"workdir", 'w', "DIR", "working directory", O_WORKDIR},
    {"user", 'u', "USER[:GROUP]", "run as this user", O_USER},
    {"vip", 0, "ADDR",
     "serve this VIP: put it on the container's loopback (repeatable; see "
     "edgectl route)",
     O_VIP},
    {"app", 0, "APP",
     "application the instance belongs to (default: its "
     "name)",
     O_APP},
    {"subnet", 0, "CIDR",
     "container subnet of this host's bridge (default "
     "from config, else " DEFAULT_SUBNET ")",
     O_SUBNET},
    {0},
};

static const struct ec_opt ps_opts[] = {
    {"all", 'a', NULL, "also instances that have exited", 'a'},
    {"host", 0, "NAME", "list the instances of this host (over SSH)", O_HOST},
    {"all-hosts", 0, NULL, "list the instances of every host of the fleet",
     O_ALL_HOSTS},
    {0},
};

static const struct ec_opt logs_opts[] = {
    {"follow", 'f', NULL, "keep printing until the instance exits", 'f'},
    {0},
};

static const struct ec_opt stop_opts[] = {
    {"time", 't', "SECS", "seconds between SIGTERM and SIGKILL (default 10)",
     't'},
    {0},
};

static const struct ec_opt rm_opts[] = {
    {"force", 'f', NULL, "stop a running instance first", 'f'},
    {0},
};

static const struct ec_opt no_opts[] = {{0}};

const struct ec_cmd cmd_run_def = {
    .name = "run",
    .summary = "start a container from an image",
    .usage = "edgectl run [--host NAME] [--runtime R] [--name N] [-d] [--rm] "
	     "[-e K=V]... "
	     "[-p HOST:CPORT]... [-v SRC:DST[:ro]]... [--cpus N] "
	     "[--memory SIZE] [--network M] IMAGE [-- CMD ARG...]",
    .opts = run_opts,
    .run = run_run,
    .json_probe = "ps",
    .operands_last = 1,
};

const struct ec_cmd cmd_ps_def = {
    .name = "ps",
    .summary = "list the instances on this host",
    .usage = "edgectl ps [-a] [--host NAME | --all-hosts]",
    .opts = ps_opts,
    .run = run_ps,
    .json_probe = "ps",
};

const struct ec_cmd cmd_logs_def = {
    .name = "logs",
    .summary = "print a detached instance's output",
    .usage = "edgectl logs [-f] ID",
    .opts = logs_opts,
    .run = run_logs,
    .json_probe = "ps",
};

const struct ec_cmd cmd_stop_def = {
    .name = "stop",
    .summary = "stop a running instance",
    .usage = "edgectl stop [-t SECS] ID",
    .opts = stop_opts,
    .run = run_stop,
    .json_probe = "ps",
};

const struct ec_cmd cmd_rm_def = {
    .name = "rm",
    .summary = "remove an instance that has exited",
    .usage = "edgectl rm [-f] ID...",
    .opts = rm_opts,
    .run = run_rm,
    .json_probe = "ps",
};

const struct ec_cmd cmd_monitor_def = {
    .name = "__monitor",
    .summary = "internal: keep a detached instance",
    .usage = "edgectl __monitor ID",
    .opts = no_opts,
    .run = run_monitor,
};

/* --- image -> instance spec ---------------------------------------------- */

/* The image's manifest digest in the local root, pulled first when it is
 * not there (from the store, a registry or an OCI directory). */
static int resolve_image(struct ec_ctx *ctx, struct oci_layout *l,
			 const char *image, char digest[OCI_DIGEST_MAX],
			 struct ec_err *err)
{
	struct img_ref r;
	struct oci_desc d;
	_cleanup_free_ char *name = NULL, *cache = NULL, *layers = NULL;
	struct img_pull_opts po = {0};
	struct img_copy_result res;
	int rc;

	if (img_ref_parse(image, &r, err) < 0)
		return -1;
	name = img_pull_name(&r);
	if (r.kind != REF_OCI && oci_ref_get(l, name, &d, NULL) == 0) {
		img_ref_release(&r);
		snprintf(digest, OCI_DIGEST_MAX, "%s", d.digest);
		return 0;
	}
	cache = xasprintf("%s/cache", ctx->root);
	layers = xasprintf("%s/layers", ctx->root);
	po.eo.cache_dir = cache;
	po.eo.cancel = ctx->interrupted;
	po.layers_dir = layers;
	if (r.kind == REF_STORE && !(po.store = ctx_store(ctx, err))) {
		img_ref_release(&r);
		return -1;
	}
	if (fs_mkdir_p(cache, err) < 0) {
		img_ref_release(&r);
		return -1;
	}
	rc = img_pull(l, &r, name, &po, &res, NULL, err);
	img_ref_release(&r);
	if (rc < 0)
		return ec_err_prefix(err, "image '%s'", image);
	snprintf(digest, OCI_DIGEST_MAX, "%s", res.image.digest);
	return 0;
}

struct run_args {
	const char *host;
	const char *runtime, *name, *network, *app, *subnet, *entrypoint,
	    *workdir, *user;
	int detach, rm, read_only;
	double cpus;
	uint64_t memory, pids;
	json_t *env, *ports, *mounts, *vips;
};

static json_t *jstrs(char **v, int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Instance spec from the image config and the flags. */
static json_t *make_spec(struct ec_ctx *ctx, struct oci_layout *l,
			 const char *id, const char *image, const char *digest,
			 struct run_args *a, char **cmd, int ncmd,
			 struct ec_err *err)
{
	_cleanup_json_ json_t *man = oci_blob_json(l, digest, err);
	_cleanup_json_ json_t *cfgblob = NULL;
	_cleanup_free_ struct img_layer *layers = NULL;
	_cleanup_free_ char *ldir = xasprintf("%s/layers", ctx->root);
	json_t *cfg, *args, *env, *lowers, *v;
	const char *cd;
	size_t n, i;
	unsigned done;

	if (!man)
		return NULL;
	cd = ec_json_str(json_object_get(man, "config"), "digest");
	if (!cd || !(cfgblob = oci_blob_json(l, cd, err)))
		return NULL;
	/* layer dirs (built images have them; pulled ones too, unless an
	 * earlier unpack was interrupted) */
	if (img_unpack_layers(l, digest, ldir, 0, &done, err) < 0 ||
	    img_layers(l, digest, &layers, &n, err) < 0)
		return NULL;
	lowers = json_array();
	for (i = n; i-- > 0;)
		json_array_append_new(
		    lowers, json_sprintf("%s/%s", ldir, layers[i].diff_id + 7));
	cfg = json_object_get(cfgblob, "config");
	/* argv: entrypoint + (command given, else the image's Cmd) */
	args = json_array();
	if (a->entrypoint)
		json_array_append_new(args, json_string(a->entrypoint));
	else
		json_array_extend(args, json_object_get(cfg, "Entrypoint")
					    ?: json_array());
	if (ncmd) {
		json_t *c = jstrs(cmd, ncmd);
		json_array_extend(args, c);
		json_decref(c);
	} else if (!a->entrypoint)
		json_array_extend(args,
				  json_object_get(cfg, "Cmd") ?: json_array());
	env = json_deep_copy(json_object_get(cfg, "Env") ?: json_array());
	if (!json_array_size(env))
		json_array_append_new(
		    env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/"
				     "usr/sbin:/usr/bin:/sbin:/bin"));
	json_array_foreach (a->env, i, v) {
		/* -e K=V replaces K */
		const char *kv = json_string_value(v);
		size_t kl = strcspn(kv, "=");
		size_t j;
		json_t *e;
		json_array_foreach (env, j, e)
			if (!strncmp(json_string_value(e), kv, kl) &&
			    json_string_value(e)[kl] == '=') {
				json_array_remove(env, j);
				break;
			}
		json_array_append(env, v);
	}
	return json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s?,s:o,s:o,s:s?,s:s?,s:s,s:s,s:O,s:s,"
	    "s:o,s:O,s:I,s:f,s:I,s:b,s:b,s:i}",
	    "id", id, "name", a->name ? a->name : id, "app",
	    a->app    ? a->app
	    : a->name ? a->name
		      : id,
	    "image", image, "digest", digest, "runtime", a->runtime, "args",
	    args, "env", env, "cwd",
	    a->workdir ?: ec_json_str(cfg, "WorkingDir"), "user",
	    a->user ?: ec_json_str(cfg, "User"), "hostname", id, "network",
	    a->network ? a->network : "bridge", "ports", a->ports, "subnet",
	    a->subnet, "lowerdirs", lowers, "mounts", a->mounts, "memory",
	    (json_int_t)a->memory, "cpus", a->cpus, "pids", (json_int_t)a->pids,
	    "read_only", a->read_only, "rm", a->rm, "stop_grace_ms", 10000);
}

/* The host's bridge: "bridge" in config.json, else ec0. */
static void spec_bridge(struct ec_ctx *ctx, json_t *spec)
{

	const char *b = ctx->config ? ec_json_str(ctx->config, "bridge") : NULL;

	if (b)
		json_object_set_new(spec, "bridge", json_string(b));
}

/* VM runtimes: the config's "vm" object (kernel, cmdline, boot_timeout_ms,
 * accel) into the spec. */
static void spec_vm(struct ec_ctx *ctx, json_t *spec)
{
	json_t *vm = ctx->config ? json_object_get(ctx->config, "vm") : NULL;
	const char *k = vm ? ec_json_str(vm, "kernel") : NULL;
	const char *c = vm ? ec_json_str(vm, "cmdline") : NULL;
	json_t *t = vm ? json_object_get(vm, "boot_timeout_ms") : NULL;

	if (k)
		json_object_set_new(spec, "vm_kernel", json_string(k));
	if (c)
		json_object_set_new(spec, "vm_cmdline", json_string(c));
	if (json_is_integer(t))
		json_object_set(spec, "vm_boot_timeout_ms", t);
	if (vm && ec_json_str(vm, "accel"))
		json_object_set_new(spec, "vm_accel",
				    json_string(ec_json_str(vm, "accel")));
}

/* The accelerator a qemu run used: the config's vm.accel when it forces
 * one, else the runtime's probe. */
static const char *vm_accel_used(struct ec_ctx *ctx, const char *vmdir)
{
	json_t *vm = ctx->config ? json_object_get(ctx->config, "vm") : NULL;
	const char *a = vm ? ec_json_str(vm, "accel") : NULL;

	if (a && (!strcmp(a, "kvm") || !strcmp(a, "tcg")))
		return a;
	return rt_qemu_accel(vmdir);
}

/* --- the store's record of instances (best effort) ----------------------- */

static void record_instance(struct ec_ctx *ctx, const char *id)
{
	struct ec_err e;
	_cleanup_json_ json_t *st = inst_state(ctx->root, id, NULL);
	_cleanup_json_ json_t *sp = inst_spec(ctx->root, id, NULL);
	_cleanup_free_ char *key = NULL, *s = NULL;
	struct store *store;
	char host[256] = "local";

	if (!st || !sp)
		return;
	ec_err_clear(&e);
	if (!(store = ctx_store(ctx, &e)))
		return;
	if (ctx->config && ec_json_str(ctx->config, "host"))
		snprintf(host, sizeof(host), "%s",
			 ec_json_str(ctx->config, "host"));
	else
		gethostname(host, sizeof(host) - 1);
	json_object_set_new(st, "host", json_string(host));
	json_object_set(st, "app", json_object_get(sp, "app"));
	json_object_set(st, "digest", json_object_get(sp, "digest"));
	key = xasprintf("instances/%s/%s.json", ec_json_str(sp, "app"), id);
	s = ec_json_dump(st);
	store_put_buf(store, key, s, strlen(s), NULL, NULL, &e);
}

/* --- run ----------------------------------------------------------------- */

static void out_fg(void *c, int stream, const char *data, size_t len)
{
	(void)c;
	if (fwrite(data, 1, len, stream == 2 ? stderr : stdout) < len)
		return;
	fflush(stream == 2 ? stderr : stdout);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Start the monitor of a detached instance and wait until the container
 * runs (or failed to start). */
static int start_detached(struct ec_ctx *ctx, const char *id,
			  struct ec_err *err)
{
	_cleanup_free_ char *log =
	    xasprintf("%s/instances/%s/log", ctx->root, id);
	const char *argv[] = {"edgectl",      "--root",	   ctx->root, "--store",
			      ctx->store_url, "__monitor", id,	      NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	pid_t pid;
	int r, i, wst;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log,
					 O_WRONLY | O_CREAT | O_APPEND, 0640);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawnattr_init(&at);
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID |
					  POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETSIGMASK);
	r = posix_spawn(&pid, "/proc/self/exe", &fa, &at, (char *const *)argv,
			NULL);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r != 0)
		return ec_err_errno(err, EC_FAIL, r, "start monitor");
	inst_state_update(ctx->root, id,
			  json_pack("{s:i,s:I}", "monitor_pid", (int)pid,
				    "monitor_start_ticks",
				    (json_int_t)inst_proc_start_ticks(pid)),
			  NULL);
	/* up to 60 s (a cold runsc, a slow CNI) */
	for (i = 0; i < 6000; i++) {
		_cleanup_json_ json_t *st = inst_state(ctx->root, id, NULL);
		const char *s = st ? ec_json_str(st, "status") : NULL;
		_cleanup_json_ json_t *sp = NULL;
		char *rs = NULL;

		if (s && !strcmp(s, "failed"))
			return ec_err_set(err, EC_FAIL, "%s",
					  ec_json_str(st, "error") ?: "failed");
		if (s && !strcmp(s, "exited"))
			return 0; /* ran and ended already */
		if (waitpid(pid, &wst, WNOHANG) == pid) {
			st = inst_state(ctx->root, id, NULL);
			s = st ? ec_json_str(st, "status") : NULL;
			if (s && !strcmp(s, "failed"))
				return ec_err_set(err, EC_FAIL, "%s",
						  ec_json_str(st, "error")
						      ?: "failed");
			return 0;
		}
		if (s && !strcmp(s, "running")) {
			sp = inst_spec(ctx->root, id, NULL);
			if (sp &&
			    rt_state(ec_json_str(sp, "runtime"), id, &rs, NULL,
				     NULL) == 0 &&
			    rs &&
			    (!strcmp(rs, "running") ||
			     !strcmp(rs, "stopped"))) {
				free(rs);
				return 0;
			}
			free(rs);
		}
		sleep_ms(10);
		if (ctx->interrupted && *ctx->interrupted)
			return ec_err_set(err, EC_INTR, "interrupted");
	}
	return ec_err_set(err, EC_REMOTE,
			  "instance %s did not start within 60 s (see "
			  "'edgectl logs %s')",
			  id, id);
}

/* The host object of `name`, from the store. */
static json_t *host_obj(struct ec_ctx *ctx, const char *name,
			struct ec_err *err)
{
	struct store *s = ctx_store(ctx, err);

	return s ? fleet_host_get(s, name, NULL, err) : NULL;
}

/* `run --host H ...` on another host: the same command line there (minus
 * --host, plus the store and the host's subnet), output streamed, its exit
 * status ours. */
static int run_remote(struct ec_ctx *ctx, const char *host, int argc,
		      char **argv)
{
	_cleanup_json_ json_t *h = NULL;
	_cleanup_free_ const char **args =
	    xcalloc((size_t)argc + 8, sizeof(*args));
	struct ssh_opts so;
	struct ec_err err;
	size_t n = 0;
	int i, st;

	ec_err_clear(&err);
	if (!(h = host_obj(ctx, host, &err)))
		return report_error(ctx, &err);
	args[n++] = "--store";
	args[n++] = ctx->store_url;
	if (ctx->json)
		args[n++] = "--json";
	args[n++] = "run";
	if (ec_json_str(h, "subnet")) {
		args[n++] = "--subnet";
		args[n++] = ec_json_str(h, "subnet");
	}
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--host")) {
			i++;
			continue;
		}
		if (!strncmp(argv[i], "--host=", 7))
			continue;
		args[n++] = argv[i];
	}
	args[n] = NULL;
	ctx_ssh_opts(ctx, &so);
	if (fleet_ssh(&so, h, args, 1, NULL, NULL, &st, &err) < 0)
		return report_error(ctx, &err);
	return st;
}

struct ps_job {
	struct ec_ctx *ctx;
	json_t *host;
	int all;
	json_t *result; /* array, or NULL with err */
	struct ec_err err;
};

static void *ps_one(void *arg)
{
	struct ps_job *j = arg;
	const char *args[] = {"--json", "ps", j->all ? "-a" : NULL, NULL};
	struct strbuf out = STRBUF_INIT;
	struct ssh_opts so;
	int st;

	ec_err_clear(&j->err);
	if (!ec_json_str(j->host, "ssh")) {
		/* the local host */
		j->result = inst_list(j->ctx->root, &j->err);
		return NULL;
	}
	ctx_ssh_opts(j->ctx, &so);
	so.timeout_ms = 30000;
	if (fleet_ssh(&so, j->host, args, 0, &out, NULL, &st, &j->err) == 0) {
		if (st != 0)
			ec_err_set(&j->err, EC_REMOTE,
				   "host %s: edgectl ps exited %d",
				   ec_json_str(j->host, "name"), st);
		else
			j->result = ec_json_parse(out.buf, out.len,
						  "remote ps output", &j->err);
	}
	sb_release(&out);
	return NULL;
}

/* ps over hosts, in parallel (8 at a time); one host's failure is
 * reported with its name and the others' results still shown. */
static int ps_hosts(struct ec_ctx *ctx, const char *one, int all)
{
	struct ec_err err;
	_cleanup_json_ json_t *hosts = NULL;
	struct ps_job *jobs;
	json_t *out = json_array(), *errors = json_array();
	size_t n, i, k;
	int failed = 0;
	struct store *s;

	ec_err_clear(&err);
	if (!(s = ctx_store(ctx, &err)))
		goto fail;
	if (one) {
		json_t *h = fleet_host_get(s, one, NULL, &err);
		if (!h)
			goto fail;
		hosts = json_array();
		json_array_append_new(hosts, h);
	} else if (!(hosts = fleet_hosts(s, NULL, &err))) {
		goto fail;
	}
	n = json_array_size(hosts);
	jobs = xcalloc(n + 1, sizeof(*jobs));
	for (i = 0; i < n; i += 8) {
		pthread_t th[8];
		int started[8] = {0};
		for (k = 0; k < 8 && i + k < n; k++) {
			jobs[i + k] = (struct ps_job){
			    ctx, json_array_get(hosts, i + k), all, NULL, {0}};
			started[k] = pthread_create(&th[k], NULL, ps_one,
						    &jobs[i + k]) == 0;
			if (!started[k])
				ps_one(&jobs[i + k]);
		}
		for (k = 0; k < 8 && i + k < n; k++)
			if (started[k])
				pthread_join(th[k], NULL);
	}
	for (i = 0; i < n; i++) {
		const char *hn = ec_json_str(jobs[i].host, "name");
		json_t *e;
		size_t x;
		if (!jobs[i].result) {
			failed = 1;
			json_array_append_new(
			    errors, json_pack("{s:s,s:s}", "host", hn, "error",
					      jobs[i].err.msg));
			if (!ctx->json)
				fprintf(stderr, "edgectl: error: %s\n",
					jobs[i].err.msg);
			continue;
		}
		json_array_foreach (jobs[i].result, x, e) {
			json_object_set_new(e, "host", json_string(hn));
			json_array_append(out, e);
		}
		json_decref(jobs[i].result);
	}
	free(jobs);
	if (ctx->json) {
		json_out(
		    json_pack("{s:o,s:o}", "instances", out, "errors", errors));
	} else {
		json_t *e;
		printf("%-12s  %-12s  %-16s  %-20s  %-8s  %-15s  %s\n", "HOST",
		       "ID", "NAME", "IMAGE", "RUNTIME", "IP", "STATUS");
		json_array_foreach (out, i, e)
			printf("%-12s  %-12s  %-16s  %-20s  %-8s  %-15s  %s\n",
			       ec_json_str(e, "host") ?: "",
			       ec_json_str(e, "id") ?: "",
			       ec_json_str(e, "name") ?: "",
			       ec_json_str(e, "image") ?: "",
			       ec_json_str(e, "runtime") ?: "",
			       ec_json_str(e, "ip") ?: "-",
			       ec_json_str(e, "status") ?: "");
		json_decref(out);
		json_decref(errors);
	}
	return failed ? EC_REMOTE : 0;
fail:
	json_decref(out);
	json_decref(errors);
	return report_error(ctx, &err);
}

static int push_json(json_t *a, const char *s)
{
	return json_array_append_new(a, json_string(s));
}

static int run_run(struct ec_ctx *ctx, int argc, char **argv)
{
	struct run_args a = {0};
	struct optparse op;
	struct ec_err err;
	struct oci_layout *l = NULL;
	_cleanup_json_ json_t *spec = NULL;
	_cleanup_free_ char *vmdir = NULL;
	const char *accel = NULL;
	char digest[OCI_DIGEST_MAX], id[13];
	const char *image;
	const char *const *avail;
	int c, st = 0, exit_status = -1, ncmd;
	uint64_t u;
	char **cmd;

	ec_err_clear(&err);
	a.env = json_array();
	a.ports = json_array();
	a.mounts = json_array();
	a.vips = json_array();
	opt_init(&op, ctx, &cmd_run_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		switch (c) {
		case OPT_EXIT:
			st = op.status;
			goto out;
		case O_HOST:
			a.host = op.arg;
			break;
		case O_RUNTIME:
			a.runtime = op.arg;
			break;
		case O_NAME:
			if (rt_check_id(op.arg, &err) < 0) {
				st = usage_error(ctx, &cmd_run_def,
						 "--name '%s': letters, "
						 "digits, '_', '.', '-'",
						 op.arg);
				goto out;
			}
			a.name = op.arg;
			break;
		case 'd':
			a.detach = 1;
			break;
		case O_RM:
			a.rm = 1;
			break;
		case 'e':
			if (!strchr(op.arg, '=') || op.arg[0] == '=') {
				st = usage_error(ctx, &cmd_run_def,
						 "-e '%s': use KEY=VALUE",
						 op.arg);
				goto out;
			}
			push_json(a.env, op.arg);
			break;
		case 'p': {
			struct net_port p;
			if (net_port_parse(op.arg, &p, &err) < 0) {
				st = usage_error(ctx, &cmd_run_def, "%s",
						 err.msg);
				goto out;
			}
			push_json(a.ports, op.arg);
			break;
		}
		case 'v': {
			_cleanup_free_ char *v = xstrdup(op.arg);
			char *dst = strchr(v, ':'), *mode;
			if (!dst || v[0] != '/' || dst[1] != '/') {
				st = usage_error(ctx, &cmd_run_def,
						 "-v '%s': use /HOST/PATH:/"
						 "CONTAINER/PATH[:ro]",
						 op.arg);
				goto out;
			}
			*dst++ = '\0';
			mode = strchr(dst, ':');
			if (mode)
				*mode++ = '\0';
			if (mode && strcmp(mode, "ro") && strcmp(mode, "rw")) {
				st = usage_error(ctx, &cmd_run_def,
						 "-v '%s': mode ro or rw",
						 op.arg);
				goto out;
			}
			json_array_append_new(
			    a.mounts,
			    json_pack("{s:s,s:s,s:b}", "src", v, "dst", dst,
				      "ro", mode && !strcmp(mode, "ro")));
			break;
		}
		case O_TMPFS:
			if (op.arg[0] != '/') {
				st = usage_error(ctx, &cmd_run_def,
						 "--tmpfs '%s': an absolute "
						 "path",
						 op.arg);
				goto out;
			}
			json_array_append_new(
			    a.mounts, json_pack("{s:s,s:s,s:b}", "src", "tmpfs",
						"dst", op.arg, "tmpfs", 1));
			break;
		case O_CPUS: {
			char *end;
			a.cpus = strtod(op.arg, &end);
			if (*end || a.cpus <= 0 || a.cpus > 1024) {
				st = usage_error(ctx, &cmd_run_def,
						 "--cpus '%s': a number > 0",
						 op.arg);
				goto out;
			}
			break;
		}
		case O_MEMORY:
			if (parse_size(op.arg, UINT64_MAX, &a.memory,
				       "--memory", &err) < 0 ||
			    a.memory < (4u << 20)) {
				st = usage_error(ctx, &cmd_run_def,
						 "--memory '%s': a size of "
						 "at least 4M",
						 op.arg);
				goto out;
			}
			break;
		case O_PIDS:
			if (parse_u64(op.arg, 1u << 22, &a.pids, "--pids-limit",
				      &err) < 0 ||
			    !a.pids) {
				st = usage_error(ctx, &cmd_run_def, "%s",
						 err.msg);
				goto out;
			}
			break;
		case O_NETWORK:
			if (strcmp(op.arg, "bridge") &&
			    strcmp(op.arg, "none") && strcmp(op.arg, "host")) {
				st = usage_error(ctx, &cmd_run_def,
						 "--network '%s': bridge, "
						 "none or host",
						 op.arg);
				goto out;
			}
			a.network = op.arg;
			break;
		case O_READ_ONLY:
			a.read_only = 1;
			break;
		case O_APP:
			a.app = op.arg;
			break;
		case O_SUBNET:
			a.subnet = op.arg;
			break;
		case O_ENTRYPOINT:
			a.entrypoint = op.arg;
			break;
		case O_WORKDIR:
			a.workdir = op.arg;
			break;
		case O_USER:
			a.user = op.arg;
			break;
		case O_VIP: {
			struct in_addr in;
			if (inet_pton(AF_INET, op.arg, &in) != 1) {
				st = usage_error(ctx, &cmd_run_def,
						 "--vip '%s': an IPv4 address",
						 op.arg);
				goto out;
			}
			push_json(a.vips, op.arg);
			break;
		}
		}
	}
	(void)u;
	if (op.ind >= argc) {
		st = usage_error(ctx, &cmd_run_def, "run needs an IMAGE");
		goto out;
	}
	if (a.host && strcmp(a.host, "local")) {
		st = run_remote(ctx, a.host, argc, argv);
		goto out;
	}
	image = argv[op.ind];
	cmd = argv + op.ind + 1;
	ncmd = argc - op.ind - 1;
	if (ncmd && !strcmp(cmd[0], "--")) {
		cmd++;
		ncmd--;
	}
	if (a.ports && json_array_size(a.ports) && a.network &&
	    strcmp(a.network, "bridge")) {
		st =
		    usage_error(ctx, &cmd_run_def, "-p needs --network bridge");
		goto out;
	}
	if (!a.runtime && ctx->config)
		a.runtime = ec_json_str(ctx->config, "runtime");
	avail = rt_available();
	if (a.runtime && !rt_path(a.runtime)) {
		_cleanup_free_ char *list = NULL;
		size_t n = 0;
		for (const char *const *p = avail; *p; p++)
			n += strlen(*p) + 2;
		list = xcalloc(n + 8, 1);
		for (const char *const *p = avail; *p; p++)
			strcat(strcat(list, *list ? ", " : ""), *p);
		ec_err_set(&err, EC_USAGE,
			   "runtime '%s' is not installed on this host (it "
			   "has: %s)",
			   a.runtime, *list ? list : "none");
		goto fail;
	}
	if (!a.runtime && !(a.runtime = avail[0])) {
		ec_err_set(&err, EC_NOTFOUND,
			   "no OCI runtime on this host (install crun, runc "
			   "or runsc)");
		goto fail;
	}
	/* a VM has no network yet (qemu.h): none unless asked, then refused */
	if (!strcmp(a.runtime, "qemu") && !a.network)
		a.network = "none";
	if (!a.subnet)
		a.subnet = ctx->config && ec_json_str(ctx->config, "subnet")
			       ? ec_json_str(ctx->config, "subnet")
			       : DEFAULT_SUBNET;
	if (a.name) {
		_cleanup_free_ char *other = NULL;
		struct ec_err e;
		if (inst_find(ctx->root, a.name, &other, &e) == 0) {
			ec_err_set(&err, EC_CONFLICT,
				   "an instance named '%s' exists (%s); "
				   "remove it or pick another name",
				   a.name, other);
			goto fail;
		}
	}
	if (oci_layout_open(ctx->root, 1, &l, &err) < 0 ||
	    resolve_image(ctx, l, image, digest, &err) < 0)
		goto fail;
	inst_new_id(id);
	if (!(spec =
		  make_spec(ctx, l, id, image, digest, &a, cmd, ncmd, &err)) ||
	    (spec_bridge(ctx, spec), spec_vm(ctx, spec),
	     json_object_set(spec, "vips", a.vips),
	     inst_create(ctx->root, id, spec, &err)) < 0)
		goto fail;
	if (a.detach) {
		if (start_detached(ctx, id, &err) < 0)
			goto fail;
		record_instance(ctx, id);
		if (ctx->json) {
			_cleanup_json_ json_t *s =
			    inst_state(ctx->root, id, NULL);
			json_out(json_incref(s ? s : json_object()));
		} else {
			printf("%s\n", id);
		}
		goto out;
	}
	if (inst_exec(ctx->root, id, out_fg, NULL, ctx->interrupted,
		      &exit_status, &err) < 0 &&
	    exit_status < 0)
		goto fail;
	if (!strcmp(a.runtime, "qemu"))
		vmdir = xasprintf("%s/vm", ctx->root);
	if (vmdir)
		accel = vm_accel_used(ctx, vmdir);
	if (vmdir && ctx->verbose)
		fprintf(stderr, "edgectl: run %s: qemu microvm with %s\n", id,
			accel);
	if (!a.rm)
		record_instance(ctx, id);
	/* the container's status is ours; 128+N when killed by signal N */
	st = exit_status;
	if (ctx->json)
		json_out(json_pack("{s:s,s:i,s:s,s:s?}", "id", id,
				   "exit_status", exit_status, "runtime",
				   a.runtime, "accel", accel));
	goto out;
fail:
	st = report_error(ctx, &err);
out:
	oci_layout_free(l);
	json_decref(a.env);
	json_decref(a.ports);
	json_decref(a.mounts);
	json_decref(a.vips);
	return st;
}

/* --- ps, logs, stop, rm ------------------------------------------------- */

static int one_arg(struct ec_ctx *ctx, const struct ec_cmd *cmd, int argc,
		   char **argv, int *flag, int *ival, int *ind)
{
	struct optparse op;
	struct ec_err err;
	uint64_t u;
	int c;

	opt_init(&op, ctx, cmd, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == 't') {
			if (parse_u64(op.arg, 3600, &u, "-t", &err) < 0)
				return usage_error(ctx, cmd, "%s", err.msg);
			*ival = (int)u;
		} else {
			*flag = 1;
		}
	}
	*ind = op.ind;
	return -1;
}

/* "repo@sha256:<64 hex>" shown as "repo@sha256:<12 hex>". */
static const char *short_image(const char *image, char *buf, size_t len)
{
	const char *at = image ? strstr(image, "@sha256:") : NULL;

	if (!at)
		return image ? image : "";
	snprintf(buf, len, "%.*s@%.12s", (int)(at - image), image, at + 8);
	return buf;
}

static int run_ps(struct ec_ctx *ctx, int argc, char **argv)
{
	int all = 0, all_hosts = 0, c;
	const char *host = NULL;
	struct optparse op;
	struct ec_err err;
	_cleanup_json_ json_t *list = NULL;
	json_t *out, *s;
	size_t i;

	opt_init(&op, ctx, &cmd_ps_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == 'a')
			all = 1;
		else if (c == O_HOST)
			host = op.arg;
		else if (c == O_ALL_HOSTS)
			all_hosts = 1;
	}
	if (op.ind != argc)
		return usage_error(ctx, &cmd_ps_def, "ps takes no arguments");
	if (host && all_hosts)
		return usage_error(ctx, &cmd_ps_def,
				   "--host and --all-hosts exclude each other");
	if (all_hosts || (host && strcmp(host, "local")))
		return ps_hosts(ctx, host, all);
	ec_err_clear(&err);
	if (!(list = inst_list(ctx->root, &err)))
		return report_error(ctx, &err);
	out = json_array();
	json_array_foreach (list, i, s) {
		const char *status = ec_json_str(s, "status") ?: "";
		if (!all && strcmp(status, "running") &&
		    strcmp(status, "created"))
			continue;
		json_array_append(out, s);
	}
	if (ctx->json) {
		json_out(out);
		return 0;
	}
	char img[64];

	printf("%-12s  %-16s  %-24s  %-8s  %-15s  %s\n", "ID", "NAME", "IMAGE",
	       "RUNTIME", "IP", "STATUS");
	json_array_foreach (out, i, s) {
		const char *status = ec_json_str(s, "status") ?: "?";
		char buf[32];
		if (!strcmp(status, "exited"))
			snprintf(buf, sizeof(buf), "exited (%d)",
				 (int)json_integer_value(
				     json_object_get(s, "exit_status")));
		printf("%-12s  %-16s  %-24s  %-8s  %-15s  %s\n",
		       ec_json_str(s, "id") ?: "", ec_json_str(s, "name") ?: "",
		       short_image(ec_json_str(s, "image"), img, sizeof(img)),
		       ec_json_str(s, "runtime") ?: "",
		       ec_json_str(s, "ip") ?: "-",
		       !strcmp(status, "exited") ? buf : status);
	}
	json_decref(out);
	return 0;
}

static int running(const json_t *st)
{
	const char *s = ec_json_str(st, "status");

	return s && (!strcmp(s, "running") || !strcmp(s, "created")) &&
	       inst_monitor_alive(st);
}

static int run_logs(struct ec_ctx *ctx, int argc, char **argv)
{
	int follow = 0, ival = 0, ind, st, fd;
	_cleanup_free_ char *id = NULL, *path = NULL;
	struct ec_err err;
	char buf[65536];

	if ((st = one_arg(ctx, &cmd_logs_def, argc, argv, &follow, &ival,
			  &ind)) >= 0)
		return st;
	if (argc - ind != 1)
		return usage_error(ctx, &cmd_logs_def, "logs needs one ID");
	ec_err_clear(&err);
	if (inst_find(ctx->root, argv[ind], &id, &err) < 0)
		return report_error(ctx, &err);
	path = xasprintf("%s/instances/%s/log", ctx->root, id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ec_err_set(&err, EC_NOTFOUND,
			   "instance %s has no log (it ran in the foreground)",
			   id);
		return report_error(ctx, &err);
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			fwrite(buf, 1, (size_t)n, stdout);
			continue;
		}
		fflush(stdout);
		if (!follow || (ctx->interrupted && *ctx->interrupted))
			break;
		{
			_cleanup_json_ json_t *s =
			    inst_state(ctx->root, id, NULL);
			if (!s || !running(s)) {
				/* what was written before the end */
				while ((n = read(fd, buf, sizeof(buf))) > 0)
					fwrite(buf, 1, (size_t)n, stdout);
				break;
			}
		}
		sleep_ms(100);
	}
	close(fd);
	return 0;
}

/* Stop one instance: SIGTERM to the container, SIGKILL after `secs`. */
static int stop_one(struct ec_ctx *ctx, const char *id, int secs,
		    struct ec_err *err)
{
	_cleanup_json_ json_t *st = inst_state(ctx->root, id, err);
	_cleanup_json_ json_t *sp = inst_spec(ctx->root, id, err);
	const char *rt;
	pid_t mon;
	int i;

	if (!st || !sp)
		return -1;
	if (!running(st))
		return 0;
	rt = ec_json_str(sp, "runtime");
	mon = (pid_t)json_integer_value(json_object_get(st, "monitor_pid"));
	rt_kill(rt, id, "TERM", NULL);
	for (i = 0; i < secs * 10 + 1; i++) {
		if (kill(mon, 0) < 0)
			return 0;
		sleep_ms(100);
	}
	rt_kill(rt, id, "KILL", NULL);
	/* the monitor records the status and cleans up; a runtime that does
	 * not return after the kill gets `delete --force` */
	for (i = 0; i < 300; i++) {
		if (kill(mon, 0) < 0)
			return 0;
		if (i == 30)
			rt_delete_force(rt, id, NULL);
		sleep_ms(100);
	}
	return ec_err_set(err, EC_FAIL,
			  "instance %s: its monitor (pid %d) did not finish",
			  id, (int)mon);
}

static int run_stop(struct ec_ctx *ctx, int argc, char **argv)
{
	int flag = 0, secs = 10, ind, st;
	_cleanup_free_ char *id = NULL;
	struct ec_err err;

	if ((st = one_arg(ctx, &cmd_stop_def, argc, argv, &flag, &secs,
			  &ind)) >= 0)
		return st;
	if (argc - ind != 1)
		return usage_error(ctx, &cmd_stop_def, "stop needs one ID");
	ec_err_clear(&err);
	if (inst_find(ctx->root, argv[ind], &id, &err) < 0 ||
	    stop_one(ctx, id, secs, &err) < 0)
		return report_error(ctx, &err);
	record_instance(ctx, id);
	if (ctx->json) {
		_cleanup_json_ json_t *s = inst_state(ctx->root, id, NULL);
		json_out(json_incref(s ? s : json_object()));
	} else {
		printf("%s\n", id);
	}
	return 0;
}

static int run_rm(struct ec_ctx *ctx, int argc, char **argv)
{
	int force = 0, ival = 0, ind, st, i;
	struct ec_err err;
	json_t *done = json_array();

	if ((st = one_arg(ctx, &cmd_rm_def, argc, argv, &force, &ival, &ind)) >=
	    0) {
		json_decref(done);
		return st;
	}
	if (argc - ind < 1) {
		json_decref(done);
		return usage_error(ctx, &cmd_rm_def, "rm needs an ID");
	}
	ec_err_clear(&err);
	/* every ID is tried; the first failure is reported at the end */
	for (i = ind; i < argc; i++) {
		_cleanup_free_ char *id = NULL;
		struct ec_err e;
		ec_err_clear(&e);
		if (inst_find(ctx->root, argv[i], &id, &e) < 0 ||
		    (force && stop_one(ctx, id, 0, &e) < 0) ||
		    inst_remove(ctx->root, id, &e) < 0) {
			if (err.cat == EC_OK)
				err = e;
			else if (!ctx->json)
				fprintf(stderr, "edgectl: error: %s\n", e.msg);
			continue;
		}
		json_array_append_new(done, json_string(id));
		if (!ctx->json)
			printf("%s\n", id);
	}
	if (err.cat != EC_OK) {
		json_decref(done);
		return report_error(ctx, &err);
	}
	if (ctx->json)
		json_out(done);
	else
		json_decref(done);
	return 0;
}

/* --- __monitor ------------------------------------------------------------ */

static void out_log(void *c, int stream, const char *data, size_t len)
{
	(void)c;
	(void)stream;
	while (len) {
		ssize_t n = write(1, data, len);
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

static int run_monitor(struct ec_ctx *ctx, int argc, char **argv)
{
	struct ec_err err;
	int status = -1;

	if (argc != 2)
		return 2;
	ec_err_clear(&err);
	inst_exec(ctx->root, argv[1], out_log, NULL, ctx->interrupted, &status,
		  &err);
	record_instance(ctx, argv[1]);
	return 0;
}
