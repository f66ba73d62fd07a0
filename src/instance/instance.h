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
 *
 * inst_exec() runs an instance to completion: network (CNI in a named
 * namespace), runtime, teardown of everything it set up, also on failure.
 * A foreground `run` calls it directly; a detached one runs it in a
 * monitor process (`edgectl __monitor ID`, a new session) whose PID is in
 * state.json, so stop is a signal to the monitor and the exit status is
 * recorded when the container ends. */
#ifndef EC_INSTANCE_H
#define EC_INSTANCE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/runtime.h"
#include "util/err.h"

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

#endif
