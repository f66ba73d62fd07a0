/* spec.c - what `edgectl run` decides without acting (instance.h): options
 * checked and turned into an instance spec, the record published in the
 * store, and the decisions of the lifecycle (start, stop escalation, log
 * follow, which instances ps shows, run's argv for another host). No I/O
 * here: tests/unit/instance.c covers it. */
#include "instance/instance.h"
#include "cdi/cdi.h"
#include "mount/store_mount.h"
#include "net/net.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PATH                                                           \
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define STOP_GRACE_MS 10000 /* of a foreground run on SIGINT/SIGTERM */

void inst_opts_init(struct inst_opts *o)
{
	*o = (struct inst_opts){0};
	o->env = json_array();
	o->ports = json_array();
	o->mounts = json_array();
	o->vips = json_array();
	o->devices = json_array();
	o->store_mounts = json_array();
}

void inst_opts_release(struct inst_opts *o)
{
	json_decref(o->env);
	json_decref(o->ports);
	json_decref(o->mounts);
	json_decref(o->vips);
	json_decref(o->devices);
	json_decref(o->store_mounts);
	o->env = o->ports = o->mounts = o->vips = NULL;
	o->devices = o->store_mounts = NULL;
}

/* One setter per option that takes a value: check it (EC_USAGE naming the
 * option and the value), then keep it. */

static int opt_env(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	if (!strchr(arg, '=') || arg[0] == '=')
		return ec_err_set(err, EC_USAGE, "-e '%s': use KEY=VALUE", arg);
	return json_array_append_new(o->env, json_string(arg));
}

static int opt_publish(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	struct net_port p;

	if (net_port_parse(arg, &p, err) < 0)
		return -1;
	return json_array_append_new(o->ports, json_string(arg));
}

/* -v /HOST:/CONTAINER[:ro|rw] */
static int opt_volume(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	_cleanup_free_ char *v = xstrdup(arg);
	char *dst = strchr(v, ':'), *mode;

	if (!dst || v[0] != '/' || dst[1] != '/')
		return ec_err_set(
		    err, EC_USAGE,
		    "-v '%s': use /HOST/PATH:/CONTAINER/PATH[:ro]", arg);
	*dst++ = '\0';
	mode = strchr(dst, ':');
	if (mode)
		*mode++ = '\0';
	if (mode && strcmp(mode, "ro") && strcmp(mode, "rw"))
		return ec_err_set(err, EC_USAGE, "-v '%s': mode ro or rw", arg);
	return json_array_append_new(
	    o->mounts, json_pack("{s:s,s:s,s:b}", "src", v, "dst", dst, "ro",
				 mode && !strcmp(mode, "ro")));
}

static int opt_tmpfs(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	if (arg[0] != '/')
		return ec_err_set(err, EC_USAGE,
				  "--tmpfs '%s': an absolute path", arg);
	return json_array_append_new(
	    o->mounts,
	    json_pack("{s:s,s:s,s:b}", "src", "tmpfs", "dst", arg, "tmpfs", 1));
}

static int opt_cpus(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	char *end;

	o->cpus = strtod(arg, &end);
	if (end == arg || *end || !(o->cpus > 0) || o->cpus > 1024)
		return ec_err_set(err, EC_USAGE, "--cpus '%s': a number > 0",
				  arg);
	return 0;
}

static int opt_memory(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	if (parse_size(arg, UINT64_MAX, &o->memory, "--memory", err) < 0 ||
	    o->memory < (4u << 20))
		return ec_err_set(err, EC_USAGE,
				  "--memory '%s': a size of at least 4M", arg);
	return 0;
}

static int opt_pids(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	if (parse_u64(arg, 1u << 22, &o->pids, "--pids-limit", err) < 0 ||
	    !o->pids)
		return ec_err_set(err, EC_USAGE,
				  "--pids-limit '%s': a number from 1 to %u",
				  arg, 1u << 22);
	return 0;
}

static int opt_network(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	if (strcmp(arg, "bridge") && strcmp(arg, "none") && strcmp(arg, "host"))
		return ec_err_set(err, EC_USAGE,
				  "--network '%s': bridge, none or host", arg);
	o->network = arg;
	return 0;
}

static int opt_vip(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	struct in_addr in;

	if (inet_pton(AF_INET, arg, &in) != 1)
		return ec_err_set(err, EC_USAGE, "--vip '%s': an IPv4 address",
				  arg);
	return json_array_append_new(o->vips, json_string(arg));
}

static int opt_name(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	if (rt_check_id(arg, NULL) < 0)
		return ec_err_set(err, EC_USAGE,
				  "--name '%s': letters, digits, '_', '.', '-'",
				  arg);
	o->name = arg;
	return 0;
}

static int opt_gpus(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	return cdi_request_add(o->devices, "gpus", arg, err);
}

static int opt_device(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	return cdi_request_add(o->devices, "device", arg, err);
}

static int opt_mount(struct inst_opts *o, const char *arg, struct ec_err *err)
{
	struct smount m;

	if (smount_parse(arg, &m, err) < 0)
		return -1;
	json_array_append_new(
	    o->store_mounts, json_pack("{s:s,s:s,s:s,s:b}", "source", arg,
				       "key", m.key, "dst", m.dst, "rw", m.rw));
	smount_release(&m);
	return 0;
}

static const struct {
	const char *name;
	int (*set)(struct inst_opts *o, const char *arg, struct ec_err *err);
} setters[] = {
    {"env", opt_env},	      {"publish", opt_publish}, {"volume", opt_volume},
    {"tmpfs", opt_tmpfs},     {"cpus", opt_cpus},	{"memory", opt_memory},
    {"pids-limit", opt_pids}, {"network", opt_network}, {"vip", opt_vip},
    {"name", opt_name},	      {"gpus", opt_gpus},	{"device", opt_device},
    {"mount", opt_mount},
};

/* The string field of option `name`, or NULL. */
static const char **opt_str(struct inst_opts *o, const char *name)
{
	if (!strcmp(name, "runtime"))
		return &o->runtime;
	if (!strcmp(name, "app"))
		return &o->app;
	if (!strcmp(name, "subnet"))
		return &o->subnet;
	if (!strcmp(name, "entrypoint"))
		return &o->entrypoint;
	if (!strcmp(name, "workdir"))
		return &o->workdir;
	if (!strcmp(name, "user"))
		return &o->user;
	return NULL;
}

/* The flag of option `name`, or NULL. */
static int *opt_flag(struct inst_opts *o, const char *name)
{
	if (!strcmp(name, "detach"))
		return &o->detach;
	if (!strcmp(name, "rm"))
		return &o->rm;
	if (!strcmp(name, "read-only"))
		return &o->read_only;
	if (!strcmp(name, "mount-sync"))
		return &o->mount_sync;
	return NULL;
}

int inst_opt_set(struct inst_opts *o, const char *name, const char *arg,
		 struct ec_err *err)
{
	const char **str = opt_str(o, name);
	int *flag = opt_flag(o, name);
	size_t i;

	if (flag) {
		*flag = 1;
		return 0;
	}
	if (!arg)
		BUG("run option '%s' needs a value", name);
	if (str) {
		*str = arg;
		return 0;
	}
	for (i = 0; i < sizeof(setters) / sizeof(setters[0]); i++)
		if (!strcmp(name, setters[i].name))
			return setters[i].set(o, arg, err);
	BUG("unknown run option '%s'", name);
}

int inst_opts_check(const struct inst_opts *o, struct ec_err *err)
{
	const json_t *m;
	size_t i;
	int rw = 0;

	json_array_foreach (o->store_mounts, i, m)
		rw |= json_is_true(json_object_get(m, "rw"));
	if (o->mount_sync && !rw)
		return ec_err_set(err, EC_USAGE,
				  "--mount-sync writes back :rw store mounts: "
				  "give one (--mount store:KEY:/PATH:rw)");
	if (json_array_size(o->ports) && o->network &&
	    strcmp(o->network, "bridge"))
		return ec_err_set(err, EC_USAGE, "-p needs --network bridge");
	if (json_array_size(o->devices) && o->runtime &&
	    cdi_runtime_check(o->runtime, err) < 0)
		return -1;
	return 0;
}

/* The image's Env with each -e K=V replacing K (a new array). */
static json_t *spec_env(const json_t *image_env, const json_t *given)
{
	json_t *env =
	    json_is_array(image_env) ? json_deep_copy(image_env) : json_array();
	const json_t *v, *e;
	size_t i, j;

	if (!json_array_size(env))
		json_array_append_new(env, json_string(DEFAULT_PATH));
	json_array_foreach (given, i, v) {
		const char *kv = json_string_value(v);
		size_t kl = strcspn(kv, "=");

		json_array_foreach (env, j, e) {
			const char *s = json_string_value(e);
			if (s && !strncmp(s, kv, kl) && s[kl] == '=') {
				json_array_remove(env, j);
				break;
			}
		}
		json_array_append(env, (json_t *)v);
	}
	return env;
}

/* argv: entrypoint, then the command given, else the image's Cmd (not
 * with --entrypoint: the image's Cmd belongs to its own entrypoint). */
static json_t *spec_args(const char *entrypoint, const json_t *cfg,
			 char *const *cmd, int ncmd)
{
	json_t *args = json_array();
	const json_t *ep = json_object_get(cfg, "Entrypoint");
	const json_t *c = json_object_get(cfg, "Cmd");
	int i;

	if (entrypoint)
		json_array_append_new(args, json_string(entrypoint));
	else if (json_is_array(ep))
		json_array_extend(args, (json_t *)ep);
	for (i = 0; i < ncmd; i++)
		json_array_append_new(args, json_string(cmd[i]));
	if (!ncmd && !entrypoint && json_is_array(c))
		json_array_extend(args, (json_t *)c);
	return args;
}

json_t *inst_spec_build(const struct inst_opts *o, const char *id,
			const char *image, const char *digest,
			const json_t *cfg, const json_t *lowerdirs,
			char *const *cmd, int ncmd)
{
	const char *name = o->name ? o->name : id;

	json_t *spec = json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s?,s:o,s:o,s:s?,s:s?,s:s,s:s,s:O,s:s,s:s?,"
	    "s:O,s:O,s:I,s:f,s:I,s:b,s:b,s:i,s:O}",
	    "id", id, "name", name, "app", o->app ? o->app : name, "image",
	    image, "digest", digest, "runtime", o->runtime, "args",
	    spec_args(o->entrypoint, cfg, cmd, ncmd), "env",
	    spec_env(json_object_get(cfg, "Env"), o->env), "cwd",
	    o->workdir ? o->workdir : ec_json_str(cfg, "WorkingDir"), "user",
	    o->user ? o->user : ec_json_str(cfg, "User"), "hostname", id,
	    "network", o->network ? o->network : "bridge", "ports", o->ports,
	    "subnet", o->subnet ? o->subnet : INST_DEFAULT_SUBNET, "bridge",
	    o->bridge, "lowerdirs", lowerdirs, "mounts", o->mounts, "memory",
	    (json_int_t)o->memory, "cpus", o->cpus, "pids", (json_int_t)o->pids,
	    "read_only", o->read_only, "rm", o->rm, "stop_grace_ms",
	    STOP_GRACE_MS, "vips", o->vips);

	if (spec && o->no_spares)
		json_object_set_new(spec, "spares", json_false());
	return spec;
}

/* --- records -------------------------------------------------------------- */

char *inst_record_key(const char *app, const char *id)
{
	return xasprintf("instances/%s/%s.json", app, id);
}

char *inst_record_prefix(const char *app)
{
	return xasprintf("instances/%s/", app);
}

json_t *inst_record(const json_t *state, const json_t *spec, const char *host)
{
	json_t *r = json_deep_copy(state);

	json_object_set_new(r, "host", json_string(host));
	json_object_set(r, "app", json_object_get(spec, "app"));
	json_object_set(r, "digest", json_object_get(spec, "digest"));
	return r;
}

/* --- lifecycle decisions -------------------------------------------------- */

int inst_status_active(const char *status)
{
	return status &&
	       (!strcmp(status, "running") || !strcmp(status, "created"));
}

int inst_visible(const json_t *state, int all)
{
	return all || inst_status_active(ec_json_str(state, "status"));
}

int inst_start_check(const json_t *state, int monitor_exited,
		     const char *rt_status, struct ec_err *err)
{
	const char *s = state ? ec_json_str(state, "status") : NULL;
	const char *e = state ? ec_json_str(state, "error") : NULL;

	if (s && !strcmp(s, "failed"))
		return ec_err_set(err, EC_FAIL, "%s", e ? e : "failed");
	if (s && !strcmp(s, "exited"))
		return 1; /* ran and ended already */
	if (monitor_exited)
		return 1;
	if (s && !strcmp(s, "running") && rt_status &&
	    (!strcmp(rt_status, "running") || !strcmp(rt_status, "stopped")))
		return 1;
	return 0;
}

enum inst_stop_act inst_stop_next(int64_t grace_ms, int64_t elapsed_ms,
				  int *stage)
{
	if (grace_ms < 0)
		grace_ms = 0;
	switch (*stage) {
	case 0:
		if (elapsed_ms <= grace_ms)
			return INST_STOP_WAIT;
		*stage = 1;
		return INST_STOP_KILL;
	case 1:
		if (elapsed_ms < grace_ms + INST_STOP_FORCE_MS)
			return INST_STOP_WAIT;
		*stage = 2;
		return INST_STOP_FORCE;
	default:
		if (elapsed_ms < grace_ms + INST_STOP_GIVEUP_MS)
			return INST_STOP_WAIT;
		return INST_STOP_GIVE_UP;
	}
}

enum inst_log_act inst_log_next(int64_t offset, int64_t size, int follow,
				int running)
{
	if (size < offset)
		return INST_LOG_REWIND;
	if (size > offset)
		return INST_LOG_READ;
	return follow && running ? INST_LOG_WAIT : INST_LOG_END;
}

const char **inst_remote_run_args(const char *store_url, int json,
				  const char *subnet, int argc,
				  char *const *argv, int image)
{
	const char **args = xcalloc((size_t)argc + 8, sizeof(*args));
	size_t n = 0;
	int i;

	args[n++] = "--store";
	args[n++] = store_url;
	if (json)
		args[n++] = "--json";
	args[n++] = "run";
	if (subnet) {
		args[n++] = "--subnet";
		args[n++] = subnet;
	}
	for (i = 1; i < argc; i++) {
		if (i < image && !strcmp(argv[i], "--host")) {
			i++;
			continue;
		}
		if (i < image && !strncmp(argv[i], "--host=", 7))
			continue;
		args[n++] = argv[i];
	}
	args[n] = NULL;
	return args;
}
