/* fleet.h - the fleet inventory in the store and remote execution on its
 * hosts over SSH.
 *
 * Store layout (DESIGN §2):
 *   fleet/<location>/location.json     {name, lat, lon, utc_offset_min |
 *                                       tz, off_peak, labels}
 *   fleet/<location>/hosts/<host>.json {name, location, ssh, root, edgectl,
 *                                       subnet, labels, gpus, probe,
 *                                       allocations, warm, generation}
 * Host objects are the CAS unit: every change is a read-modify-write with
 * put-if-match on the ETag, retried on a lost race.
 *
 * Remote execution: `ssh -o BatchMode=yes -o ControlMaster=auto
 * -o ControlPath=... -o ControlPersist=60 [-F CONFIG] TARGET -- EDGECTL
 * --root ROOT ARGS...` (arguments shell-quoted); JSON comes back on
 * stdout. The host named "local" is this machine: no SSH. */
#ifndef EC_FLEET_H
#define EC_FLEET_H

#include <jansson.h>

#include "store/store.h"
#include "util/err.h"
#include "util/strbuf.h"

/* Check a location or host name: 1-63 of [a-z0-9-], starting with a
 * letter or digit. EC_USAGE otherwise. */
int fleet_name_check(const char *what, const char *name, struct ec_err *err);

/* Keys. */
char *fleet_location_key(const char *loc);
char *fleet_host_key(const char *loc, const char *host);

/* Find host `name` in any location: its object (new reference) and ETag
 * (optional, STORE_ETAG_MAX bytes). EC_NOTFOUND naming it. */
json_t *fleet_host_get(struct store *s, const char *name, char *etag,
		       struct ec_err *err);
/* All hosts (of `loc`, or of every location when NULL): a new array in key
 * order. One LIST, the GETs in parallel (fleet/listing.h: fleet_read_jobs()
 * in flight; fleet_hosts_par: `par`, 0 = that default). */
json_t *fleet_hosts(struct store *s, const char *loc, struct ec_err *err);
json_t *fleet_hosts_par(struct store *s, const char *loc, int par,
			struct ec_err *err);
/* All locations: a new array of location objects (read the same way). */
json_t *fleet_locations(struct store *s, struct ec_err *err);

/* Read-modify-write of a host object by CAS: fn changes `host` in place
 * (return 0, or -1 with err to abort); retried (re-read, re-applied) on a
 * lost race, up to 10 times with jitter, then EC_CONFLICT. The object's
 * "generation" is incremented. With create, a missing object starts as
 * {} (put-if-absent). */
int fleet_host_update(struct store *s, const char *loc, const char *host,
		      int create, int (*fn)(json_t *host, void *ctx), void *ctx,
		      struct ec_err *err);

/* SSH settings, from config.json "ssh": {"config": FILE, "options":
 * ["-o", "X=Y", ...]}, and where control sockets live. */
struct ssh_opts {
	const char *config;
	const char *const *options;
	const char *control_dir; /* e.g. ~/.cache/edgectl/ssh */
	int timeout_ms;		 /* 0 = none */
};

/* Run `edgectl` on `host` (its object: ssh target, root, edgectl path)
 * with args (NULL-terminated). out/errout captured (may be NULL);
 * *status = the remote exit status. ssh's own failure (exit 255) is
 * EC_REMOTE "host NAME (TARGET): <ssh's message>". With interactive, the
 * remote's stdout/stderr are ours (streamed) and nothing is captured. */
int fleet_ssh(const struct ssh_opts *o, const json_t *host,
	      const char *const *args, int interactive, struct strbuf *out,
	      struct strbuf *errout, int *status, struct ec_err *err);

/* After running a command on host with ssh (argv of fleet_ssh_argv):
 * -1 with err when the exit status is ssh's own failure (255: EC_REMOTE
 * "host NAME (TARGET): ssh failed: <errbuf>") or a missing edgectl there
 * (127), else 0 (the status is the remote command's). A host without
 * "ssh" never fails here. */
int fleet_ssh_failed(const json_t *host, int status, const char *errbuf,
		     size_t len, struct ec_err *err);

/* An SSH target [USER@]HOST[:PORT] (HOST may be [V6]:PORT or a bare IPv6
 * address): user and host of [A-Za-z0-9._-], not starting with '-', port
 * 1-65535 (0: none given). Checked at `host add` and every time a host
 * record from the store is used, so a value in the store never reaches ssh
 * as an option. EC_USAGE naming the target. */
struct ssh_target {
	char user[64];
	char host[256];
	int port;
};
int fleet_ssh_target_parse(const char *target, struct ssh_target *t,
			   struct ec_err *err);

/* The argv fleet_ssh runs for host and args (ssh with the options above,
 * or /proc/self/exe for a host without "ssh"): for callers that need the
 * process themselves (pipes between hosts). NULL with err when the host's
 * ssh target is invalid. Free with fleet_argv_free. */
char **fleet_ssh_argv(const struct ssh_opts *o, const json_t *host,
		      const char *const *args, struct ec_err *err);
void fleet_argv_free(char **argv);

/* A private directory for ssh control sockets into buf: /tmp/edgectl-ssh-UID
 * when it is a directory owned by uid with mode 0700 (lstat: a symlink or
 * someone else's directory is refused), else RUNTIME_DIR/edgectl-ssh
 * (e.g. $XDG_RUNTIME_DIR). -1 (buf empty) when neither is usable: then no
 * connection sharing. */
int fleet_ssh_control_dir(const char *runtime_dir, unsigned uid, char *buf,
			  size_t size);

/* This machine as a host: CPUs, memory, disk of `root`, GPUs
 * (nvidia-smi), runtimes, CNI, XDP support, kernel. New object. */
json_t *fleet_probe(const char *root);
/* The same with the CDI specs of `cdi_dirs` (NULL = /etc/cdi,
 * /var/run/cdi): GPUs they name join "gpus" (with "cdi": KIND=NAME), every
 * device is in "cdi_devices". */
json_t *fleet_probe_cdi(const char *root, const char *const *cdi_dirs);

/* --- records: what `location add` and `host add` write (inventory.c) --- */

/* Option values: "K=V" into labels; "MODEL:MEM" (e.g. L4:24G) appended to
 * gpus as {"model", "memory_bytes"}; "[+-]HH[:MM]" as minutes east of UTC
 * (at most 14 hours); an off-peak window "HH:MM-HH:MM". EC_USAGE naming
 * the option and its form. */
int fleet_label_add(json_t *labels, const char *kv, struct ec_err *err);
int fleet_gpu_add(json_t *gpus, const char *spec, struct ec_err *err);
int fleet_utc_offset_parse(const char *s, int *minutes, struct ec_err *err);
int fleet_window_check(const char *s, struct ec_err *err);

struct fleet_location_spec {
	const char *name;
	double lat, lon; /* NAN: not given */
	const char *tz;	 /* a time zone, or */
	int utc_offset_min, has_offset;
	const char *off_peak; /* "HH:MM-HH:MM" or NULL */
	const json_t *labels; /* {k: v} or NULL */
};

/* The location object for l (a new object), or NULL with EC_USAGE when
 * the name is invalid, lat/lon are missing or out of range, or neither a
 * time zone nor an offset is given. */
json_t *fleet_location_record(const struct fleet_location_spec *l,
			      struct ec_err *err);
/* Write a location object (a record as above) under its key. */
int fleet_location_put(struct store *s, const json_t *loc, struct ec_err *err);
/* Delete location `name`; EC_CONFLICT while it has hosts. */
int fleet_location_rm(struct store *s, const char *name, struct ec_err *err);

struct fleet_host_spec {
	const char *name, *location;
	const char *ssh;     /* [USER@]ADDR[:PORT]; NULL only for "local" */
	const char *root;    /* edgectl's root there, or NULL */
	const char *edgectl; /* edgectl's path there, or NULL */
	const char *subnet;  /* the container subnet, or NULL */
	const json_t *labels, *gpus; /* {k: v} and [{model, memory_bytes}] */
	/* the local host ("local", no --ssh): its CDI spec dirs (NULL: the
	 * defaults); a remote host's probe uses its own */
	const char *const *cdi_dirs;
};

/* EC_USAGE unless a host can be added as a says: valid host and location
 * names, --location, --ssh (except for the host "local"), a valid SSH
 * target ("--ssh: ..."). */
int fleet_host_check(const struct fleet_host_spec *a, struct ec_err *err);
/* Set h's inventory fields from a and the probe (GPUs given replace the
 * probed ones); allocations and warm set are kept (created empty). */
void fleet_host_fill(json_t *h, const struct fleet_host_spec *a,
		     const json_t *probe);
/* Add or update host a: checked, its location must exist (EC_NOTFOUND),
 * probed where it is (`edgectl host probe` over SSH, or this machine with
 * local_root as the root for a host without ssh), written by CAS. Returns
 * the stored object (a new reference). */
json_t *fleet_host_add(struct store *s, const struct ssh_opts *o,
		       const struct fleet_host_spec *a, const char *local_root,
		       struct ec_err *err);
/* Delete host `name` (found in any location); EC_NOTFOUND naming it. */
int fleet_host_rm(struct store *s, const char *name, struct ec_err *err);

/* o's config file and options from config.json's "ssh" object; the option
 * strings (borrowed from ssh) go into optv, at most max - 1 of them and a
 * NULL. */
void fleet_ssh_opts_config(struct ssh_opts *o, const json_t *ssh,
			   const char **optv, size_t max);

#endif
