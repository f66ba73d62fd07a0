/* rt_impl.h - internals of the runtime module, shared between its files:
 * rootfs mounting (rootfs.c), user lookup (user.c), the OCI config
 * (config.c) and running the runtime binaries (proc.c). */
#ifndef EC_RT_IMPL_H
#define EC_RT_IMPL_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "runtime/runtime.h"
#include "util/err.h"
#include "util/strbuf.h"

enum rt_kind { RT_CRUN, RT_RUNC, RT_RUNSC };

/* One runtime binary as rt_run() drives it. */
struct rt_tool {
	enum rt_kind kind;
	const char *name; /* "crun" */
	const char *path; /* absolute, static storage */
	/* crun refuses hybrid cgroup hosts whose cgroup2 mount has controllers;
	 * then it runs in a private mount namespace without that mount, where
	 * it sees (and uses) plain cgroup v1. */
	int hide_unified;
	enum rt_network network; /* runsc takes it as a global flag */
	/* runsc in a CNI namespace: runsc itself runs in that namespace with
	 * --network=host. gVisor's own netstack ("sandbox") refuses to start
	 * on kernels where net.core.rmem_default is visible in every network
	 * namespace (its "root namespace" test), which Linux >= 6.x does. */
	const char *enter_netns;
	int nvproxy; /* runsc --nvproxy (GPUs from CDI) */
};

/* --- rootfs.c --- */

/* Mount the container rootfs of `spec` on the empty directory `target`:
 * overlayfs of spec->lowerdirs + upper/work, a read-only overlay of the
 * lowers alone, or a bind mount of upper (or of a single lower, read-only).
 * Sets *readonly when the result cannot be written. */
int rt_rootfs_mount(const struct rt_spec *spec, const char *target,
		    int *readonly, struct ec_err *err);

/* Unmount everything stacked on `target` (lazily when busy). Fails if it is
 * still a mount point afterwards. Not mounted is fine. */
int rt_rootfs_umount(const char *target, struct ec_err *err);

/* Unmount `<bundle>/rootfs` and remove the bundle directory; missing is
 * fine. Never descends into a directory that is still mounted. */
int rt_bundle_remove(const char *bundle, struct ec_err *err);

/* --- user.c --- */

struct rt_user {
	uid_t uid;
	gid_t gid;
	gid_t *gids; /* supplementary groups */
	size_t ngids;
	char *home; /* from /etc/passwd, or NULL */
};

/* Resolve "uid[:gid]" / "name[:group]" (NULL or "" = root) against
 * etc/passwd and etc/group below `rootfd`, never leaving the rootfs
 * (symlinks resolve inside it). A name that does not resolve fails with
 * EC_USAGE. Release with rt_user_release(). */
int rt_user_resolve(int rootfd, const char *user, struct rt_user *u,
		    struct ec_err *err);
void rt_user_release(struct rt_user *u);

/* --- config.c --- */

/* Build the OCI runtime config (spec 1.0.2) for `spec` run as `u`, with the
 * rootfs at "rootfs" next to config.json. Returns a new reference. */
json_t *rt_config_new(const char *id, const struct rt_spec *spec,
		      const struct rt_user *u, int readonly_root);

/* --- proc.c --- */

/* Fill `t` for runtime `name` (NULL = first available). EC_USAGE when it is
 * unknown or not installed here. */
int rt_tool_init(struct rt_tool *t, const char *name, enum rt_network net,
		 struct ec_err *err);

/* Run `<runtime> [global flags] run --bundle B ID`, forwarding its output,
 * handling cancel; see rt_run(). started(started_ctx), when not NULL,
 * once it runs. *status is the runtime's exit status
 * (128+N when it died from signal N); *cancelled is set when cancel
 * stopped it. */
int rt_proc_run(const struct rt_tool *t, const char *id, const char *bundle,
		const char *log, rt_output_fn out, void *ctx,
		const volatile int *cancel, unsigned grace_ms,
		void (*started)(void *), void *started_ctx, int *status,
		int *cancelled, struct ec_err *err);

/* Run a short runtime subcommand (kill, delete, state): its stdout and
 * stderr go to `output` (capped; may be NULL). Returns the exit status, or
 * -1 when it could not be run. Gives up (SIGKILL) after 30 s. */
int rt_proc_cmd(const struct rt_tool *t, const char *const *args,
		struct strbuf *output, struct ec_err *err);

/* The last "error"-level message in a runtime's JSON log file (crun, runc
 * and runsc all write {"level":"error","msg":...} lines with
 * --log-format=json), or NULL. Caller frees. */
char *rt_log_last_error(const char *log);

#endif
