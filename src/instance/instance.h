/* instance.h - containers started by `edgectl run` on this host.
 *
 * An instance lives in ROOT/instances/<id>/:
 *   spec.json   what to run (image, args, env, limits, network, ports)
 *   state.json  status, pids, times, address, exit status (rewritten
 *               atomically; the owner of a change holds ROOT/instances/
 *               <id>/lock)
 *   log         the container's stdout and stderr (detached instances)
 *   upper/ work/  its overlay upper and work dirs; the image's layers
 *               (ROOT/layers/<diffid>) are the shared read-only lowers
 *   rt/         the runtime bundle while it runs
 *   net.json    the record of the spare network namespace it claimed
 *               (net.h: its bridge ADD and lease are under the spare's
 *               id, which DEL and the reaping of a dead monitor use)
 *
 * inst_exec() runs an instance to completion: network (CNI in a named
 * namespace: a spare made ahead when one is ready, else made now; once
 * the runtime runs, a keeper makes the spare for the next start),
 * runtime, teardown of everything it set up, also on failure.
 * A foreground `run` calls it directly; a detached one runs it in a
 * monitor process (`edgectl __monitor ID`, a new session) whose PID is in
 * state.json; stop signals the container through the runtime and waits
 * for the monitor, which records the exit status when the container ends.
 *
 * Files: instance.c (the directory, state, inst_exec), spec.c (what
 * decides, pure: options -> spec, records, start/stop/log decisions),
 * start.c (inst_run: image, spec, create, foreground or detached),
 * control.c (records in the store, stop, rm, logs, ps here and over the
 * fleet). */
#ifndef EC_INSTANCE_H
#define EC_INSTANCE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "fleet/fleet.h"
#include "runtime/runtime.h"
#include "store/store.h"
#include "util/err.h"

/* Container subnet of a host's bridge when neither the options nor the
 * host's configuration name one. */
#define INST_DEFAULT_SUBNET "198.19.0.0/24"

/* A fresh instance id: 12 lower-case hex digits. */
void inst_new_id(char id[13]);

/* Instance directory (allocated). */
char *inst_dir(const char *root, const char *id);

/* Create the instance directory with spec.json and a "created" state.
 * spec is the JSON of inst_exec's input (see instance.c). */
int inst_create(const char *root, const char *id, json_t *spec,
		struct ec_err *err);

/* Read spec.json / state.json (new references). EC_NOTFOUND naming the
 * instance when it does not exist. */
json_t *inst_spec(const char *root, const char *id, struct ec_err *err);
json_t *inst_state(const char *root, const char *id, struct ec_err *err);
/* Merge `fields` into state.json atomically (under the lock). */
int inst_state_update(const char *root, const char *id, json_t *fields,
		      struct ec_err *err);

/* Find an instance by id, id prefix (unique) or name. *id gets the full
 * id (allocated). */
int inst_find(const char *root, const char *what, char **id,
	      struct ec_err *err);
/* All instances: a new array of state objects (with "id"). */
json_t *inst_list(const char *root, struct ec_err *err);

/* Run the instance to completion (see above). out gets the container's
 * output; cancel (checked every 100 ms) stops it with SIGTERM, then SIGKILL
 * after spec.stop_grace_ms. *exit_status as rt_run's. The state ends
 * "exited" with the status, or "failed" with the error. With spec.rm the
 * instance directory is removed at the end. */
int inst_exec(const char *root, const char *id, rt_output_fn out, void *ctx,
	      const volatile int *cancel, int *exit_status, struct ec_err *err);

/* Start time of a process (clock ticks since boot, /proc/PID/stat field
 * 22), 0 when it is gone: a PID plus this names one process. */
int64_t inst_proc_start_ticks(pid_t pid);

/* Is the monitor of a detached instance alive? */
int inst_monitor_alive(const json_t *state);

/* Remove an instance that is not running (its directory); EC_CONFLICT when
 * it still runs. */
int inst_remove(const char *root, const char *id, struct ec_err *err);
/* Clean up after an instance whose monitor died (killed, host crash): its
 * container killed and deleted, rootfs unmounted, network namespace and
 * CNI allocations released, status "lost". Does nothing for an instance
 * that ended normally; st is its state (not running: inst_running). */
int inst_reap(const char *root, const char *id, const json_t *st,
	      struct ec_err *err);

/* Is this state status one of a live instance ("created", "running")? */
int inst_status_active(const char *status);
/* Active status and its monitor alive (inst_monitor_alive). */
int inst_running(const json_t *state);

/* --- what to run: options -> spec (spec.c, pure) -------------------------- */

/* The options of `edgectl run` that say what to run. Strings are borrowed
 * (they must outlive the struct); the arrays are owned. */
struct inst_opts {
	const char *runtime, *name, *network, *app, *subnet, *bridge,
	    *entrypoint, *workdir, *user;
	int detach, rm, read_only;
	int mount_sync; /* --mount-sync: write :rw store mounts back */
	int no_spares;	/* config "spares": false: no spare netns made */
	double cpus;
	uint64_t memory, pids;
	json_t *env;	/* ["K=V"] */
	json_t *ports;	/* ["HOST:CPORT[/PROTO]"] */
	json_t *mounts; /* [{src, dst, ro} | {src: "tmpfs", dst, tmpfs}] */
	json_t *vips;	/* ["ADDR"] */

	/* devices and store mounts (attach.c) */
	json_t *devices;	     /* CDI requests of --gpus/--device */
	json_t *store_mounts;	     /* --mount: [{source, key, dst, rw}] */
	const char *const *cdi_dirs; /* CDI spec dirs; NULL = the defaults */
};

void inst_opts_init(struct inst_opts *o);
void inst_opts_release(struct inst_opts *o);

/* Apply option `name` of `edgectl run` (its long name: "runtime", "name",
 * "detach", "rm", "env", "publish", "volume", "tmpfs", "cpus", "memory",
 * "pids-limit", "network", "read-only", "entrypoint", "workdir", "user",
 * "vip", "app", "subnet") with its argument (NULL for a flag; borrowed).
 * EC_USAGE naming the option and the value when the value is not valid.
 * An unknown name is a bug. */
int inst_opt_set(struct inst_opts *o, const char *name, const char *arg,
		 struct ec_err *err);

/* Checks across options (-p needs the bridge network). EC_USAGE. */
int inst_opts_check(const struct inst_opts *o, struct ec_err *err);

/* The spec (spec.json, see instance.c) of instance `id` from the options
 * (o->runtime already chosen), the image (its reference and manifest
 * digest), the "config" object of its image config (Entrypoint, Cmd, Env,
 * WorkingDir, User; may be NULL), its layer dirs (array, top first) and
 * the command given after IMAGE (may be empty). A new object.
 *   args: --entrypoint or the image's Entrypoint, then the command given,
 *         else (without --entrypoint) the image's Cmd
 *   env:  the image's Env (PATH alone when it has none), each -e K=V
 *         replacing K
 *   name defaults to the id, app to the name, network to "bridge", subnet
 *   to INST_DEFAULT_SUBNET, cwd and user to the image's. */
json_t *inst_spec_build(const struct inst_opts *o, const char *id,
			const char *image, const char *digest,
			const json_t *image_config, const json_t *lowerdirs,
			char *const *cmd, int ncmd);

/* --- records in the store ------------------------------------------------- */

/* Store key of an instance's record: instances/<app>/<id>.json, and the
 * prefix of an app's records: instances/<app>/ (allocated). */
char *inst_record_key(const char *app, const char *id);
char *inst_record_prefix(const char *app);

/* The record of an instance: its state plus "host", and "app" and "digest"
 * from its spec. Pure; a new object. */
json_t *inst_record(const json_t *state, const json_t *spec, const char *host);

/* --- decisions of the lifecycle (spec.c, pure) ---------------------------- */

/* While a detached instance starts: its state (may be NULL), whether its
 * monitor has exited, and (when its state is "running") the runtime's view
 * of the container. 1 started (or already ended), 0 not yet, -1 failed to
 * start (EC_FAIL with the instance's error). */
int inst_start_check(const json_t *state, int monitor_exited,
		     const char *rt_status, struct ec_err *err);

/* How long a stop waits after SIGKILL before `delete --force`, and before
 * giving up on the monitor. */
#define INST_STOP_FORCE_MS  3000
#define INST_STOP_GIVEUP_MS 30000

enum inst_stop_act {
	INST_STOP_WAIT,	   /* poll again */
	INST_STOP_KILL,	   /* grace is over: SIGKILL */
	INST_STOP_FORCE,   /* the runtime hangs: delete --force */
	INST_STOP_GIVE_UP, /* the monitor does not finish: fail */
};

/* The escalation of a stop, `elapsed_ms` after SIGTERM with `grace_ms`
 * before SIGKILL, while the monitor is still alive. *stage starts at 0
 * and remembers what was done: every act but WAIT and GIVE_UP is returned
 * once. */
enum inst_stop_act inst_stop_next(int64_t grace_ms, int64_t elapsed_ms,
				  int *stage);

enum inst_log_act {
	INST_LOG_READ,	 /* bytes between offset and size */
	INST_LOG_REWIND, /* the log shrank (replaced): read from 0 */
	INST_LOG_WAIT,	 /* nothing new yet, the instance still runs */
	INST_LOG_END,
};

/* Reading a log at `offset` whose size is now `size`: with follow, until
 * the instance stops running and everything it wrote is read. `running`
 * must be sampled before `size`, so output written before the end is not
 * lost. */
enum inst_log_act inst_log_next(int64_t offset, int64_t size, int follow,
				int running);

/* Does `ps` show an instance in this state (all: also ended ones)? */
int inst_visible(const json_t *state, int all);

/* Arguments for `edgectl ARGS` running `run` on another host: --store URL,
 * --json when json, "run", --subnet S when the host has one, then
 * argv[1..argc) without --host NAME or --host=NAME among the options
 * (before argv[image]). A new NULL-terminated array of borrowed strings. */
const char **inst_remote_run_args(const char *store_url, int json,
				  const char *subnet, int argc,
				  char *const *argv, int image);

/* --- the lifecycle (start.c, control.c) ----------------------------------- */

/* Where instances live and what they reach, from cmd/. */
struct inst_env {
	const char *root;
	const char *store_url; /* handed to the monitor */
	const char *host;      /* this host's name in records; NULL: hostname */
	/* the store, opened on first use (pulling from it, records) */
	struct store *(*store)(void *arg, struct ec_err *err);
	void *store_arg;
	/* how `store` opens it (credentials, endpoint): the forked monitor
	 * opens its own with these; NULL = the defaults */
	const struct store_opts *store_opts;
	const volatile int *cancel;
	/* VM runtimes: the config's "vm" object (kernel, cmdline, accel,
	 * boot_timeout_ms; borrowed, may be NULL), copied into the spec */
	const json_t *vm;
};

/* Wall-clock stamps of the start path, in ms since the epoch with
 * fractions (CLOCK_REALTIME: the run process and the monitor compare
 * them): `trace` gets {name: now}. The state's "start_trace" holds them
 * (run: run, created, monitor_spawned, seen_running; monitor: monitor,
 * netns, net, plus cni_PLUGIN_ADD_ms durations); tests/bench/run.sh
 * prints the table. */
void inst_trace(json_t *trace, const char *name);

struct inst_run_result {
	char id[13];
	int exit_status; /* foreground: the container's (128+N: signal N) */
	json_t *sync;	 /* foreground --mount-sync: inst_finish's report */
	int sync_status; /* 0, or the exit code of a failed sync (6 conflict) */
	json_t *state;	 /* detached: the state once it runs (new ref) */
};

/* `edgectl run`: choose the runtime (rt_choose), check the name is free
 * (EC_CONFLICT), get the image (pulled when it is not in the root), create
 * the instance, then either start it detached (its monitor is `edgectl
 * --root R --store S __monitor ID`; returns once the container runs or
 * fails to start) or run it in the foreground with output to `out`. Its
 * record is published in the store (best effort; not for a foreground
 * --rm). A foreground container that ran returns 0 with its exit status
 * even when it was interrupted. */
int inst_run(const struct inst_env *env, const struct inst_opts *o,
	     const char *image, char *const *cmd, int ncmd, rt_output_fn out,
	     void *out_ctx, struct inst_run_result *res, struct ec_err *err);

/* The monitor of a detached instance: inst_exec() with output to `out`,
 * then the record. Returns inst_exec's. */
int inst_monitor(const struct inst_env *env, const char *id, rt_output_fn out,
		 void *out_ctx, struct ec_err *err);

/* Publish the instance's record (inst_record) under inst_record_key; its
 * host is the spec's "host" (env->host when it was created), else
 * env->host, else this machine's hostname. */
int inst_publish(const struct inst_env *env, const char *id,
		 struct ec_err *err);

/* `edgectl stop`: find `what` (inst_find), SIGTERM, SIGKILL after grace_ms,
 * delete --force when the runtime hangs (inst_stop_next), then publish.
 * *state gets its state afterwards (new ref). An instance that does not
 * run is left as it is. */
int inst_stop(const struct inst_env *env, const char *what, int64_t grace_ms,
	      json_t **state, struct ec_err *err);

/* `edgectl rm`: find `what`, stop it first with force (no grace), remove
 * it (EC_CONFLICT when it runs and not force). *id gets its id. */
int inst_rm(const struct inst_env *env, const char *what, int force, char **id,
	    struct ec_err *err);

/* `edgectl logs`: the log of `what` from its start to `out` (stream 1),
 * with follow until the instance ends (or *cancel). EC_NOTFOUND when it has
 * no log (it ran in the foreground). */
int inst_logs(const char *root, const char *what, int follow, rt_output_fn out,
	      void *out_ctx, const volatile int *cancel, struct ec_err *err);

/* `edgectl ps`: the states of this host's instances that inst_visible()
 * shows (a new array). */
json_t *inst_ps(const char *root, int all, struct ec_err *err);

/* `ps --all-hosts`: the instances of each host of `hosts` (host objects),
 * asked in parallel over SSH (fleet_fanout, fleet_remote_json; a host
 * without "ssh" is this machine, `root`). A new array of states with
 * "host", in host order; *errors gets a new array of {"host", "error"}
 * for hosts that did not answer. */
json_t *inst_ps_hosts(const struct ssh_opts *so, const char *root,
		      const json_t *hosts, int all, json_t **errors);
/* inst_ps_hosts() of host `one`, or of every host of the fleet when NULL
 * (from the store s). NULL with err when the hosts cannot be read. */
json_t *inst_ps_fleet(struct store *s, const struct ssh_opts *so,
		      const char *root, const char *one, int all,
		      json_t **errors, struct ec_err *err);

/* --- devices and store mounts (attach.c) ---------------------------------- */

/* What --gpus/--device and --mount need before the instance is created,
 * for o->runtime on this host: the CDI edits (cdi_edits_for: unknown
 * devices EC_NOTFOUND, malformed specs EC_USAGE) and the store objects
 * fetched into the cache (smount_fetch: a missing key EC_NOTFOUND). A new
 * object {cdi?, store_mounts: [...]}, for inst_attach_merge. */
json_t *inst_attach(const struct inst_env *env, const struct inst_opts *o,
		    struct ec_err *err);

/* Put `attach` into the spec of instance `id`: "cdi", "store_mounts", and
 * a bind mount per store mount (a private copy in the instance directory
 * for :rw). */
int inst_attach_merge(const char *root, const char *id, json_t *spec,
		      const json_t *attach, struct ec_err *err);

/* After the container of `id` exited (ran: it did run): --mount-sync of
 * its :rw store mounts (smount_sync, each mount's result, a "conflicts"
 * or "error" in it, recorded as the state's "sync"), then the removal of
 * --rm. A mount that conflicted or failed keeps its copy: with --rm it is
 * moved to ROOT/cache/store-mounts/kept/ID-N first (the report names the
 * path). *report (may be NULL) gets the array. Returns 0, or the exit code
 * the sync asks for: EC_CONFLICT (6) when a key conflicted, else the
 * category of the first failure; *err says which. */
int inst_finish(const struct inst_env *env, const char *id, int ran,
		json_t **report, struct ec_err *err);

#endif
