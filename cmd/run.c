/* run.c - `edgectl run`, `logs`, `stop`, `rm` on this host and the
 * internal `__monitor` that keeps a detached instance (`ps` is ps.c):
 * options in, one src/instance call (the lifecycle lives there), text or
 * JSON out. */
#include "cmd.h"
#include "fleet/remote.h"
#include "instance/instance.h"
#include "runtime/qemu.h"
#include "util/io.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

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
	O_ENTRYPOINT,
	O_WORKDIR,
	O_USER,
	O_VIP,
	O_TMPFS,
	O_GPUS,
	O_DEVICE,
	O_MOUNT,
	O_MOUNT_SYNC,
};

static int run_run(struct ec_ctx *ctx, int argc, char **argv);
static int run_logs(struct ec_ctx *ctx, int argc, char **argv);
static int run_stop(struct ec_ctx *ctx, int argc, char **argv);
static int run_rm(struct ec_ctx *ctx, int argc, char **argv);
static int run_monitor(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt run_opts[] = {
    {"host", 0, "NAME", "run on this host of the fleet (over SSH)", O_HOST},
    {"runtime", 0, "NAME",
     "crun, runc, runsc or qemu (a microVM) (default: config, else the "
     "first installed)",
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
     "memory limit (e.g. 64M); past it the container is OOM-killed", O_MEMORY},
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
    {"app", 0, "APP", "application the instance belongs to (default: its name)",
     O_APP},
    {"subnet", 0, "CIDR",
     "container subnet of this host's bridge (default from config, "
     "else " INST_DEFAULT_SUBNET ")",
     O_SUBNET},
    {"gpus", 0, "N|all|device=ID,...",
     "NVIDIA GPUs through CDI: the first N, all, or these indices/UUIDs "
     "(runsc: with nvproxy)",
     O_GPUS},
    {"device", 0, "VENDOR/CLASS=NAME",
     "a CDI device (repeatable; NAME may be all)", O_DEVICE},
    {"mount", 0, "store:KEY:/PATH[:ro|:rw]",
     "a store object (file) or prefix (directory) from a shared cache, "
     "read-only unless :rw (a private copy; repeatable)",
     O_MOUNT},
    {"mount-sync", 0, NULL,
     "when the instance exits, write the changes in its :rw store mounts "
     "back to the store (compare-and-swap: a key someone else changed "
     "meanwhile is a conflict, exit 6, the local copy kept; deletions are "
     "not written back)",
     O_MOUNT_SYNC},
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
	     "[--memory SIZE] [--network M] [--gpus G] [--device D]... "
	     "[--mount store:KEY:/PATH[:ro|:rw]]... [--mount-sync] "
	     "[--tmpfs PATH]... [--pids-limit N] [--read-only] "
	     "[--entrypoint PATH] [-w DIR] [-u USER[:GROUP]] [--vip ADDR]... "
	     "[--app APP] [--subnet CIDR] IMAGE "
	     "[-- CMD ARG...]",
    .opts = run_opts,
    .run = run_run,
    .json_probe = "ps",
    .operands_last = 1,
    .min_args = 1,
    .max_args = -1,
};

const struct ec_cmd cmd_logs_def = {
    .name = "logs",
    .summary = "print a detached instance's output",
    .usage = "edgectl logs [-f] ID",
    .opts = logs_opts,
    .run = run_logs,
    .json_probe = "ps",
    .min_args = 1,
    .max_args = 1,
};

const struct ec_cmd cmd_stop_def = {
    .name = "stop",
    .summary = "stop a running instance",
    .usage = "edgectl stop [-t SECS] ID",
    .opts = stop_opts,
    .run = run_stop,
    .json_probe = "ps",
    .min_args = 1,
    .max_args = 1,
};

const struct ec_cmd cmd_rm_def = {
    .name = "rm",
    .summary = "remove an instance that has exited",
    .usage = "edgectl rm [-f] ID...",
    .opts = rm_opts,
    .run = run_rm,
    .json_probe = "ps",
    .min_args = 1,
    .max_args = -1,
};

const struct ec_cmd cmd_monitor_def = {
    .name = "__monitor",
    .summary = "internal: keep a detached instance",
    .usage = "edgectl __monitor ID",
    .opts = no_opts,
    .run = run_monitor,
};

/* --- shared ------------------------------------------------------------- */

static struct store *env_store(void *c, struct ec_err *err)
{
	return ctx_store(c, err);
}

/* A configured default from config.json. */
static const char *config_str(struct ec_ctx *ctx, const char *key)
{
	return ctx->config ? ec_json_str(ctx->config, key) : NULL;
}

static void env_init(struct ec_ctx *ctx, struct inst_env *e)
{
	*e = (struct inst_env){
	    .root = ctx->root,
	    .store_url = ctx->store_url,
	    .host = config_str(ctx, "host"),
	    .store = env_store,
	    .store_arg = ctx,
	    .store_opts = &ctx->store_opts,
	    .cancel = ctx->interrupted,
	    .vm = ctx->config ? json_object_get(ctx->config, "vm") : NULL,
	};
}

/* The accelerator a qemu run used: the config's vm.accel when it forces
 * one, else what the runtime's probe found. */
static const char *vm_accel_used(struct ec_ctx *ctx, const char *vmdir)
{
	json_t *vm = ctx->config ? json_object_get(ctx->config, "vm") : NULL;
	const char *a = vm ? ec_json_str(vm, "accel") : NULL;

	if (a && (!strcmp(a, "kvm") || !strcmp(a, "tcg")))
		return a;
	return rt_qemu_accel(vmdir);
}

static void out_fg(void *c, int stream, const char *data, size_t len)
{
	FILE *f = stream == 2 ? stderr : stdout;

	(void)c;
	if (fwrite(data, 1, len, f) == len)
		fflush(f);
}

/* --- run ----------------------------------------------------------------- */

/* `run --host H ...` on another host: the same command line there (minus
 * --host, plus the store and the host's subnet), output streamed, its exit
 * status ours. */
struct remote {
	struct ec_ctx *ctx;
	int argc, image;
	char **argv;
};

static const char **remote_args(const json_t *host, void *arg)
{
	struct remote *r = arg;

	return inst_remote_run_args(r->ctx->store_url, r->ctx->json,
				    ec_json_str(host, "subnet"), r->argc,
				    r->argv, r->image);
}

static int run_remote(struct ec_ctx *ctx, const char *host, int argc,
		      char **argv, int image)
{
	struct remote r = {ctx, argc, image, argv};
	struct store *s;
	struct ssh_opts so;
	struct ec_err err;
	int st;

	ec_err_clear(&err);
	ctx_ssh_opts(ctx, &so);
	if (!(s = ctx_store(ctx, &err)) ||
	    fleet_remote_run(&so, s, host, remote_args, &r, &st, &err) < 0)
		return report_error(ctx, &err);
	return st;
}

/* Parse run's options into o; *host gets --host. -1 when parsed, else the
 * exit status. */
static int run_parse(struct ec_ctx *ctx, int argc, char **argv,
		     struct inst_opts *o, const char **host, int *ind)
{
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	const struct ec_opt *e;
	int c;

	opt_init(&op, ctx, &cmd_run_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		if (c == OPT_EXIT)
			return op.status;
		if (c == O_HOST) {
			*host = op.arg;
			continue;
		}
		for (e = run_opts; e->name && e->id != c; e++)
			;
		if (!e->name)
			BUG("run option %d not in the table", c);
		if (inst_opt_set(o, e->name, op.arg, &err) < 0)
			return usage_error(ctx, &cmd_run_def, "%s", err.msg);
	}
	*ind = op.ind;
	return -1;
}

static int run_run(struct ec_ctx *ctx, int argc, char **argv)
{
	struct inst_opts o;
	struct inst_env env;
	struct inst_run_result res;
	struct ec_err err;
	const char *host = NULL, *accel = NULL;
	_cleanup_free_ char *vmdir = NULL;
	char **cmd;
	int st, ind = 0, ncmd, spares;

	inst_opts_init(&o);
	ec_err_clear(&err);
	if ((st = run_parse(ctx, argc, argv, &o, &host, &ind)) >= 0)
		goto out;
	st = 0;
	if (host && strcmp(host, "local")) {
		st = run_remote(ctx, host, argc, argv, ind);
		goto out;
	}
	cmd = argv + ind + 1;
	ncmd = argc - ind - 1;
	if (ncmd && !strcmp(cmd[0], "--")) {
		cmd++;
		ncmd--;
	}
	if (inst_opts_check(&o, &err) < 0) {
		st = usage_error(ctx, &cmd_run_def, "%s", err.msg);
		goto out;
	}
	o.runtime = o.runtime ? o.runtime : config_str(ctx, "runtime");
	o.subnet = o.subnet ? o.subnet : config_str(ctx, "subnet");
	o.bridge = config_str(ctx, "bridge");
	if (ctx_config_bool(ctx, "spares", 1, &spares, &err) < 0) {
		st = report_error(ctx, &err);
		goto out;
	}
	o.no_spares = !spares;
	o.cdi_dirs = ctx_cdi_dirs(ctx);
	env_init(ctx, &env);
	if (inst_run(&env, &o, argv[ind], cmd, ncmd, out_fg, NULL, &res, &err) <
	    0) {
		st = report_error(ctx, &err);
	} else if (o.detach) {
		if (ctx->json)
			json_out(json_incref(res.state));
		else
			printf("%s\n", res.id);
		json_decref(res.state);
	} else {
		/* the container's status is ours; 128+N when killed by
		 * signal N */
		st = res.exit_status;
		if (res.sync_status) {
			/* a conflict or failed write-back wins over a
			 * clean exit; a failed container keeps its status */
			fprintf(stderr, "edgectl: error: %s\n", err.msg);
			if (st == 0)
				st = res.sync_status;
		}
		if (o.runtime && !strcmp(o.runtime, "qemu")) {
			vmdir = xasprintf("%s/vm", ctx->root);
			accel = vm_accel_used(ctx, vmdir);
			if (ctx->verbose)
				fprintf(stderr,
					"edgectl: run %s: qemu microvm with "
					"%s\n",
					res.id, accel);
		}
		if (ctx->json)
			json_out(json_pack(
			    "{s:s,s:i,s:s?,s:s?,s:O?}", "id", res.id,
			    "exit_status", res.exit_status, "runtime",
			    o.runtime, "accel", accel, "sync",
			    json_array_size(res.sync) ? res.sync : NULL));
		json_decref(res.sync);
		res.sync = NULL;
	}
out:
	inst_opts_release(&o);
	return st;
}

/* --- logs, stop, rm ------------------------------------------------------- */

/* Options of logs, stop and rm: a flag (-f) and -t SECS. -1 when parsed,
 * else the exit status. */
static int one_arg(struct ec_ctx *ctx, const struct ec_cmd *cmd, int argc,
		   char **argv, int *flag, int *secs, int *ind)
{
	_cleanup_optparse_ struct optparse op = {0};
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
			*secs = (int)u;
		} else {
			*flag = 1;
		}
	}
	*ind = op.ind;
	return -1;
}

static int run_logs(struct ec_ctx *ctx, int argc, char **argv)
{
	int follow = 0, secs = 0, ind, st;
	struct ec_err err;

	if ((st = one_arg(ctx, &cmd_logs_def, argc, argv, &follow, &secs,
			  &ind)) >= 0)
		return st;
	ec_err_clear(&err);
	if (inst_logs(ctx->root, argv[ind], follow, out_fg, NULL,
		      ctx->interrupted, &err) < 0)
		return report_error(ctx, &err);
	return 0;
}

static int run_stop(struct ec_ctx *ctx, int argc, char **argv)
{
	int flag = 0, secs = 10, ind, st;
	_cleanup_json_ json_t *state = NULL;
	struct inst_env env;
	struct ec_err err;

	if ((st = one_arg(ctx, &cmd_stop_def, argc, argv, &flag, &secs,
			  &ind)) >= 0)
		return st;
	ec_err_clear(&err);
	env_init(ctx, &env);
	if (inst_stop(&env, argv[ind], (int64_t)secs * 1000, &state, &err) < 0)
		return report_error(ctx, &err);
	if (ctx->json)
		json_out(json_incref(state));
	else
		printf("%s\n", ec_json_str(state, "id"));
	return 0;
}

static int run_rm(struct ec_ctx *ctx, int argc, char **argv)
{
	int force = 0, secs = 0, ind, st, i;
	_cleanup_json_ json_t *done = NULL;
	struct inst_env env;
	struct ec_err err, e;

	if ((st = one_arg(ctx, &cmd_rm_def, argc, argv, &force, &secs, &ind)) >=
	    0)
		return st;
	ec_err_clear(&err);
	env_init(ctx, &env);
	done = json_array();
	/* every ID is tried; the first failure is reported at the end */
	for (i = ind; i < argc; i++) {
		_cleanup_free_ char *id = NULL;
		ec_err_clear(&e);
		if (inst_rm(&env, argv[i], force, &id, &e) < 0) {
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
	if (err.cat != EC_OK)
		return report_error(ctx, &err);
	if (ctx->json)
		json_out(json_incref(done));
	return 0;
}

/* --- __monitor ------------------------------------------------------------ */

/* The monitor's stdout is the instance's log. */
static void out_log(void *c, int stream, const char *data, size_t len)
{
	(void)c;
	(void)stream;
	io_write_all(1, data, len, -1, "log", NULL);
}

static int run_monitor(struct ec_ctx *ctx, int argc, char **argv)
{
	struct inst_env env;
	struct ec_err err;

	if (argc != 2)
		return 2;
	ec_err_clear(&err);
	env_init(ctx, &env);
	inst_monitor(&env, argv[1], out_log, NULL, &err);
	return 0;
}
