/* listing.h - the one path for fleet-wide reads: LIST a prefix and GET the
 * objects it names in parallel, with bounded concurrency, over the store's
 * pooled connections (issue 13).
 *
 * Every read of "all hosts" or "all locations" (host ls, ps --all-hosts,
 * route sync --all, prewarm --all, schedule --tick, the full placement
 * read) goes through fleet_list_get(): GETs start as soon as the first
 * page of the LIST arrives (the listing goes on meanwhile), at most `par`
 * requests in flight. Each worker thread takes one libcurl handle from the
 * store's pool (src/http/http.c) for all its requests, so its connection
 * is reused: `par` connections for the whole read, not one per object. */
#ifndef EC_FLEET_LISTING_H
#define EC_FLEET_LISTING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define FLEET_READ_JOBS_DEFAULT 16
#define FLEET_READ_JOBS_MAX	64

/* Store requests in flight for fleet-wide reads in this process (the
 * commands' -j): 1..FLEET_READ_JOBS_MAX, others clamped. */
void fleet_read_jobs_set(int n);
int fleet_read_jobs(void);

/* Which listed keys to read: 1 to read key, 0 to skip it. */
typedef int (*fleet_keep_fn)(const char *key, void *ctx);

/* What a read did (optional). */
struct fleet_read_stats {
	size_t listed; /* keys the LIST gave */
	size_t read;   /* GETs made */
	size_t gone;   /* keys deleted between the LIST and their GET */
	uint64_t bytes;
	int peak; /* most GETs in flight at once */
};

/* LIST `prefix` (flat) and GET every key keep() keeps (all when NULL),
 * `par` at a time (0 = fleet_read_jobs()), each parsed as one JSON value
 * of at most `max` bytes. A new array of the values in key order; keys
 * deleted between the LIST and their GET are left out. The first failure
 * (a store error, an object that does not parse) stops the read: NULL with
 * err (the one that failed first, naming its key). */
json_t *fleet_list_get(struct store *s, const char *prefix, fleet_keep_fn keep,
		       void *ctx, int par, uint64_t max,
		       struct fleet_read_stats *st, struct ec_err *err);

/* GET keys[0..n) the same way: out[i] = the parsed object, or NULL when
 * the key does not exist. -1 with err at the first other failure (out
 * then holds nothing: every value read is released). */
int fleet_get_many(struct store *s, const char *const *keys, size_t n, int par,
		   uint64_t max, json_t **out, struct ec_err *err);

#endif
