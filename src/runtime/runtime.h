/* runtime.h - one interface over OCI runtimes (crun, runc, runsc): a
 * container from a rootfs made of overlayfs layers, run to completion or
 * started detached. Used by `build` (RUN) and `run`. */
#ifndef EC_RUNTIME_H
#define EC_RUNTIME_H

#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/* RT_NET_NONE: a new network namespace with only lo; RT_NET_HOST: the
 * host's; RT_NET_PATH: the existing namespace at spec->netns (set up by
 * CNI beforehand). */
enum rt_network { RT_NET_NONE = 0, RT_NET_HOST, RT_NET_PATH };

struct rt_mount {
	const char *src, *dst; /* tmpfs: src is ignored but must be set */
	int readonly;
	int tmpfs; /* a fresh tmpfs (mode 1777, nosuid, nodev) at dst */
};

struct rt_spec {
	const char *const *args; /* argv, NULL-terminated, required */
	const char *const *env;	 /* "K=V", NULL-terminated */
	const char *cwd;	 /* default "/" */
	const char *user;	 /* "uid[:gid]" or "name[:group]" resolved in
				    the container's /etc/passwd, /etc/group */
	/* rootfs: overlayfs of lowerdirs (first = top) with upper/work, or, if
	 * no lowerdirs are given, upper alone as a plain directory. */
	const char *const *lowerdirs;
	const char *upper, *work;
	int readonly_rootfs;
	enum rt_network network;
	const char *netns; /* RT_NET_PATH: e.g. /run/netns/NAME */
	const char *hostname;
	const struct rt_mount *mounts; /* extra bind mounts, ends with {0} */
	size_t nmounts;
	uint64_t memory_bytes; /* 0 = no limit */
	uint64_t pids_limit;   /* 0 = no limit */
	double cpus;	       /* 0 = no limit */
	/* On cancel: SIGTERM, then SIGKILL after this long (0 = 10000). */
	unsigned kill_grace_ms;
	/* CDI edits (cdi/cdi.h: device nodes, env, mounts, hooks) applied to
	 * the OCI config last; NULL = none. nvproxy: runsc --nvproxy. */
	const struct json_t *devices;
	int nvproxy;
	/* VM runtimes (qemu; see runtime/qemu.h), ignored by the others: */
	const char *image_digest;    /* cache key of the image's rootfs disk */
	const char *vm_dir;	     /* its cache (ROOT/vm); NULL = state_dir */
	const char *vm_kernel;	     /* NULL = the newest /boot/vmlinuz-* */
	const char *vm_cmdline;	     /* appended to the kernel command line */
	unsigned vm_boot_timeout_ms; /* 0 = 60000 */
	const char *vm_accel;	     /* "kvm", "tcg"; NULL/"auto" = probe */
	const char *const *vips;     /* VM: the VIPs for the guest's lo */
	/* called once the runtime process is started (rt_run, not qemu):
	 * work for the caller while the runtime makes the container (the
	 * monitor starts the next spare network namespace's keeper) */
	void (*started)(void *ctx);
	void *started_ctx;
	int vm_no_snapshot; /* VM: cold boot even with a snapshot */
};

/* Output callbacks (from the calling thread). stream 1 = stdout, 2 = stderr. */
typedef void (*rt_output_fn)(void *ctx, int stream, const char *data,
			     size_t len);

/* Names of OCI runtimes found on this machine, in preference order
 * (crun, runc, runsc); returns a NULL-terminated static array. The VM
 * runtime "qemu" is not among them: rt_path("qemu") says whether it is
 * here (qemu-system-x86_64 and a guest kernel in /boot). Looks in
 * $PATH, then in the standard system directories (/usr/local/sbin ... /bin),
 * once per process. */
const char *const *rt_available(void);

/* Absolute path of runtime `name` ("crun", "runc", "runsc") found by
 * rt_available(), or of qemu-system-x86_64 for "qemu" when a guest kernel
 * is there too; NULL when it is not installed here. Static storage. */
const char *rt_path(const char *name);

/* The runtime to use: `want` (NULL: no preference), else the first of
 * `have` (names in preference order, NULL-terminated). EC_USAGE listing
 * `have` when `want` is not among them, EC_NOTFOUND when there is none.
 * Pure; *out points into the inputs. */
int rt_pick(const char *want, const char *const *have, const char **out,
	    struct ec_err *err);
/* rt_pick() among the runtimes installed here (rt_available); "qemu" when
 * rt_path("qemu") finds QEMU and a guest kernel. */
int rt_choose(const char *want, const char **out, struct ec_err *err);

/* Check a container id: 1..64 characters of [A-Za-z0-9_.-], starting with a
 * letter or digit (what every runtime accepts). EC_USAGE otherwise. */
int rt_check_id(const char *id, struct ec_err *err);

/* Run a container to completion with runtime `runtime` ("crun", "runc",
 * "runsc"; NULL = first available). `state_dir` is a private directory for
 * the bundle (created; removed afterwards). Mounts the overlay, writes the
 * OCI config.json (namespaces: mount, pid, ipc, uts, and network unless
 * RT_NET_HOST; default capability set; no-new-privileges; masked and
 * read-only paths; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys ro),
 * runs, streams output to `out`, unmounts and deletes everything it made,
 * also on failure or cancel. *exit_status gets the container's exit status
 * (128+N when killed by signal N). Fails (EC_USAGE/EC_FAIL/EC_PERM) when the
 * container could not be started at all, with the runtime's message.
 *
 * Details: `id` must pass rt_check_id() and be unique among the
 * runtime's containers (its default state root is used, so `crun list`
 * shows it while it runs); a leftover container of the same id (a crashed
 * earlier run) is deleted afterwards. Extra mounts iterate up to `nmounts`
 * entries (when non-zero) and stop at an entry with src == NULL. Without
 * `upper`, the rootfs is read-only. Overlay mounts use
 * redirect_dir=off,metacopy=off,index=off so `upper` is a self-contained
 * layer diff (whiteouts are 0/0 character devices). Cgroups go to
 * "/edgectl/<id>" (cgroupfs driver). Cancel (`*cancel` non-zero, checked
 * every 100 ms) stops the container and fails with EC_INTR; *exit_status is
 * still set. A missing executable is a start failure (-1, EC_FAIL with the
 * runtime's message), not exit status 127. */
int rt_run(const char *runtime, const char *id, const char *state_dir,
	   const struct rt_spec *spec, rt_output_fn out, void *ctx,
	   const volatile int *cancel, int *exit_status, struct ec_err *err);

/* State of container `id` under `runtime` (NULL = first available):
 * *status = "creating", "created", "running", "stopped" (allocated), or
 * NULL when the runtime does not know it. *pid (optional) its init. */
int rt_state(const char *runtime, const char *id, char **status, int *pid,
	     struct ec_err *err);

/* Has the container that rt_run(runtime, id, state_dir) runs started?
 * Without a runtime process: the runtime writes the container's PID to
 * the bundle's pid file (`run --pid-file`) once it made the container;
 * *status "running" while that process lives, "stopped" after, NULL
 * before (or "qemu": rt_state). What `RUNTIME state` would say, minus the
 * exec of the runtime (a start polls it every few ms). */
int rt_started(const char *runtime, const char *id, const char *state_dir,
	       char **status, struct ec_err *err);

/* Send signal `sig` ("TERM", "KILL", ...) to container `id`. */
int rt_kill(const char *runtime, const char *id, const char *sig,
	    struct ec_err *err);
/* `delete --force`: the last resort when a killed container's runtime
 * does not return (runsc with host networking can hang so). */
int rt_delete_force(const char *runtime, const char *id, struct ec_err *err);
/* What rt_run leaves when the process running it is killed: the container
 * (killed, deleted), the rootfs mount and the bundle under state_dir.
 * Nothing there is fine. */
int rt_reap(const char *runtime, const char *id, const char *state_dir,
	    struct ec_err *err);

#endif
