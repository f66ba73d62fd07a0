/* spec.h - the app spec: parsed and validated into a placement request.
 *
 * An app spec is the JSON an operator writes (`schedule SPEC.json`) or the
 * command line builds; it is kept in the app record and the off-peak
 * queue and read again by `schedule --tick`. Every field is checked for
 * type and range here, once, before anything is decided: numbers where
 * integers belong must be JSON integers, sizes are integers or strings
 * like "64M", and every quantity is 0 < x <= its cap, so no later
 * arithmetic sees a negative or wrapped value. */
#ifndef EC_SCHED_SPEC_H
#define EC_SCHED_SPEC_H

#include <jansson.h>
#include <stddef.h>

#include "sched/sched.h"
#include "util/err.h"

#define SC_MAX_REPLICAS 100000	    /* as --replicas on the CLI */
#define SC_MAX_CPUS	4096	    /* per replica */
#define SC_MAX_BYTES	(1LL << 50) /* memory, GPU memory: 1 PiB */
#define SC_MAX_LIST	1024	    /* env, ports, command, near... */
#define SC_MAX_STR	4096	    /* one string of those lists */

struct sc_spec {
	json_t *json; /* the spec (a reference held; name filled in) */
	const char *name, *image, *runtime;
	int replicas;
	struct sc_req req; /* its pointers point into this struct/json */
	struct sc_near *near;
	const char **allow, **deny;	      /* NULL-terminated or NULL */
	const char **env, **ports, **command; /* NULL-terminated */
	size_t nenv, nports, ncommand;
	/* "mounts": run's --mount values ("store:KEY:/PATH[:ro|:rw]", checked
	 * by smount_parse), "mount_sync": run's --mount-sync */
	const char **mounts;
	size_t nmounts;
	int mount_sync;
	/* "vip": the app's one address, "A[:PORT[/PROTO]]" as given (NULL:
	 * none); vip_addr its address (what `run --vip` puts on each
	 * instance's loopback); "health": {"type": "http"|"tcp", "path"} */
	const char *vip;
	char vip_addr[16];
	const char *health_type, *health_path;
	const char *health_ready; /* "health.ready": readiness path or NULL */
	/* "min_replicas"/"max_replicas" (default: replicas; min <= replicas
	 * <= max); "load": {"metric": "connections"|"requests", "target": N
	 * per replica, "path": the app's HTTP endpoint that reports it (a
	 * number; default "/load"), "up_after"/"down_after": seconds the
	 * load must stay above/below target (default 30/120), "cooldown":
	 * seconds between two scalings (default 60)}; load_target 0: none */
	int min_replicas, max_replicas;
	const char *load_metric, *load_path;
	double load_target;
	int up_after, down_after, cooldown;
};

/* Validate spec and fill s (strings borrowed from spec, which s holds a
 * reference to). A missing "name" is derived from the image's repository
 * ("team/web" -> "team-web") and set in spec. EC_USAGE naming the field
 * ("spec: 'resources.memory' ...") on any bad value. */
int sc_spec_parse(json_t *spec, struct sc_spec *s, struct ec_err *err);
void sc_spec_release(struct sc_spec *s);

/* A --near value: "LOC" or "LAT,LON", with an optional "@WEIGHT"; a new
 * object for the spec's "near" array, or NULL with EC_USAGE. */
json_t *sc_near_parse(const char *s, struct ec_err *err);

/* A spec built from `schedule` options: option `opt` (its long name:
 * image, name, policy, runtime, vip, replicas, cpus, memory, gpus,
 * gpu-mem, gpu-model, near, location) with value arg set into spec (its
 * values are checked again by sc_spec_parse). 0, 1 when opt is not a spec
 * option, -1 with err (EC_USAGE) for a bad value. */
int sc_spec_set_opt(json_t *spec, const char *opt, const char *arg,
		    struct ec_err *err);
/* The keys of a spec file that the options did not set (constraints
 * merged: --location adds to the file's); -1 when file is not an object. */
int sc_spec_merge_file(json_t *spec, const json_t *file);

#endif
