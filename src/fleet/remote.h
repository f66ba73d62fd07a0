/* remote.h - the one remote-execution layer: run `edgectl --json ...` on a
 * host and take its answer strictly, and a bounded parallel fan-out.
 *
 * Every command that acts on other hosts (schedule, run --host, ps
 * --all-hosts, prewarm, route sync) goes through fleet_remote_json(): the
 * remote's stdout is one JSON value parsed with the size cap and duplicate
 * key rejection of ec_json_parse(); a remote failure keeps its category (a
 * remote "not found" is EC_NOTFOUND here, exit 3) and its message, prefixed
 * with the host's name. */
#ifndef EC_FLEET_REMOTE_H
#define EC_FLEET_REMOTE_H

#include <jansson.h>
#include <stddef.h>

#include "fleet/fleet.h"
#include "util/err.h"

/* Run `edgectl --json ARGS...` on host (its object; a host without "ssh"
 * is this machine) and return its stdout parsed as one JSON value (a new
 * reference; JSON null when the remote printed nothing). On a non-zero
 * remote exit status, err gets the remote's {"error": {"message",
 * "category"}} from its stderr (or its raw stderr when that is not JSON),
 * "host NAME: " in front, and the category of the remote exit status;
 * returns NULL. ssh's own failures are EC_REMOTE (fleet_ssh). */
json_t *fleet_remote_json(const struct ssh_opts *o, const json_t *host,
			  const char *const *args, struct ec_err *err);

/* Run `edgectl ARGS...` on the host `name` of the inventory in s with its
 * output streamed through (stdout and stderr are ours: `run --host`), and
 * put the remote's exit status in *status. args_for(host, arg) gives ARGS
 * (NULL-terminated; freed with free(), the strings borrowed) from the
 * host's record, e.g. with its subnet. -1 with err when the host is not in
 * the inventory (EC_NOTFOUND) or ssh itself fails (EC_REMOTE). */
typedef const char **(*fleet_args_fn)(const json_t *host, void *arg);
int fleet_remote_run(const struct ssh_opts *o, struct store *s,
		     const char *name, fleet_args_fn args_for, void *arg,
		     int *status, struct ec_err *err);

/* The category whose exit status is `status` (EC_FAIL for unknown ones). */
enum ec_cat fleet_status_cat(int status);

/* Fill err from a remote's exit status and captured stderr, as
 * fleet_remote_json() does; `name` names the host. Returns -1. */
int fleet_remote_error(const char *name, int status, const char *stderr_buf,
		       size_t len, struct ec_err *err);

/* Call fn(i, arg) for every i in [0, n) on at most `par` threads (1..64;
 * values outside are clamped) and return when all calls have returned.
 * Work is handed out one index at a time, so one slow host holds back one
 * thread, not a batch. fn must be thread-safe for distinct i. */
void fleet_fanout(size_t n, int par, void (*fn)(size_t i, void *arg),
		  void *arg);

#endif
