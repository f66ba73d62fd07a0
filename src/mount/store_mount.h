/* store_mount.h - store objects as directories in containers
 * (`run --mount store:PREFIX_OR_KEY:/path[:ro|:rw]`).
 *
 * The object, or every object under a prefix, is fetched into a content
 * cache under the root and bind-mounted from there:
 *
 *   ROOT/cache/store-mounts/objects/<h>   one object version, h = sha256 of
 *                                         (store URL, key, ETag); read-only
 *                                         files, renamed in when complete
 *                                         and verified (size, ETag, and the
 *                                         MD5 of single-part S3 objects)
 *   ROOT/cache/store-mounts/views/<v>     a prefix as a directory tree of
 *                                         hard links to objects/, v = sha256
 *                                         of (URL, prefix, every key + ETag)
 *   ROOT/cache/store-mounts/tmp/          downloads and views being built
 *
 * Instances that mount the same versions share the files (same inodes, no
 * second download). A key is bound as a file, a prefix as a directory; :rw
 * gives the instance a private copy (in its own directory) instead.
 * Downloads use the store's parallel ranged GETs pinned to one ETag
 * (store_download_fd); an object that changes while it is fetched is
 * listed and fetched again (3 times), then fails with EC_CONFLICT. */
#ifndef EC_STORE_MOUNT_H
#define EC_STORE_MOUNT_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

struct smount {
	char *key; /* object key or prefix (trailing '/' kept when given) */
	char *dst; /* absolute path in the container */
	int rw;	   /* :rw: a private writable copy */
};

/* Parse "store:KEY_OR_PREFIX:/path[:ro|:rw]" (the path holds no ':').
 * Pure; EC_USAGE saying what a valid one looks like. */
int smount_parse(const char *arg, struct smount *m, struct ec_err *err);
void smount_release(struct smount *m);

/* Cache file name of one object version (64 hex + NUL). Pure. */
void smount_object_name(const char *store_url, const char *key,
			const char *etag, char out[65]);

/* Relative path of `key` under `prefix` inside a view, or NULL (EC_USAGE)
 * when it cannot be a file there (a key that ends in '/'). Pure. */
const char *smount_relpath(const char *prefix, const char *key,
			   struct ec_err *err);

struct smount_result {
	char *src; /* what to bind: an object file or a view dir (allocated) */
	int is_dir;
	uint64_t objects, bytes;		 /* mounted */
	uint64_t fetched_objects, fetched_bytes; /* downloaded this time */
	json_t *etags; /* {key: ETag} of every object mounted (for the sync) */
};

struct smount_opts {
	unsigned jobs;	    /* objects fetched at once (0 = 8) */
	unsigned xfer_jobs; /* ranges of one large object (0 = default) */
	uint64_t part_size; /* 0 = the store default */
	const volatile int *cancel;
	/* Bytes of one large object so far (from a download thread, at
	 * least once per range); NULL = none. */
	void (*progress)(void *ctx, const char *key, uint64_t done,
			 uint64_t total);
	void *progress_ctx;
};

/* Fetch what `key` names (an object when one exists with that exact key,
 * else the objects under "key/") into the cache of `root` and fill `res`.
 * EC_NOTFOUND when neither exists; EC_CONFLICT when objects keep changing;
 * EC_USAGE when the keys cannot form a tree (a key that is also a
 * prefix). Release res with smount_result_release(). */
int smount_fetch(struct store *s, const char *root, const char *key,
		 const struct smount_opts *o, struct smount_result *res,
		 struct ec_err *err);
void smount_result_release(struct smount_result *r);

/* A private writable copy of `src` (file or tree) at `dst` (created). */
int smount_copy(const char *src, const char *dst, struct ec_err *err);

/* --mount-sync: write the changes an instance made to its :rw copy back
 * to the store, by CAS. `m` is the instance's store_mounts[] record
 * (key, is_dir, cache, copy, etags — as inst_attach_merge wrote it).
 *   - a file that differs from the version mounted is PUT with If-Match
 *     the ETag that was fetched; a new file (no object with its key) with
 *     If-None-Match: * ; unchanged files are not sent;
 *   - a PUT that loses (someone else wrote the key meanwhile) is a
 *     conflict: the store keeps the other writer's version, the key goes
 *     to res->conflicts with the path of the local file (the copy is
 *     kept by the caller), the other files are still written;
 *   - files deleted in the copy are NOT deleted in the store: S3 and RGW
 *     have no conditional DELETE, so a delete could remove a concurrent
 *     writer's version; they are listed in res->deleted;
 *   - only regular files are sent; symlinks, devices, FIFOs and names
 *     that are not valid keys are never followed or sent: res->skipped.
 *   - a file over STORE_PUT_MAX cannot be written by CAS (one PUT): it is
 *     an error entry in res->skipped, not a multipart overwrite.
 * Returns -1 only when the sync could not run (store, copy unreadable);
 * conflicts are reported in res, not as an error. */
struct smount_sync_result {
	uint64_t written, created, unchanged, bytes;
	json_t *conflicts; /* [{key, local}] */
	json_t *deleted;   /* [key] */
	json_t *skipped;   /* [{path, reason}] */
};
int smount_sync(struct store *s, const json_t *m, const struct smount_opts *o,
		struct smount_sync_result *res, struct ec_err *err);
/* The result as JSON (counts and arrays; steals the arrays). */
json_t *smount_sync_json(struct smount_sync_result *res);

/* Collect the cache of `root`: views and objects that no instance's
 * spec.json names (its store_mounts[].cache) and nothing older links to,
 * older than `min_age_s` (a run between fetch and create keeps its
 * files); leftovers in tmp/ older than a day. *freed gets the bytes
 * removed. Called by `images rm` after the image GC (oci_gc), with
 * SMOUNT_GC_MIN_AGE. kept/ (copies --mount-sync could not write back) is
 * never collected. */
#define SMOUNT_GC_MIN_AGE (10 * 60) /* what `images rm` passes */
int smount_gc(const char *root, int64_t min_age_s, uint64_t *freed,
	      struct ec_err *err);

#endif
