/* summary.h - fleet/<location>/summary.json: a location's free capacity
 * for the global scheduling step (DESIGN §2, §4).
 *
 *   {"version": 1, "location": NAME, "generation": G,
 *    "lat", "lon", "tz" | "utc_offset_min", "off_peak", "labels"
 *                                  (copied from location.json)
 *    "hosts_total", "hosts_up",
 *    "cpu_total_m", "cpu_free_m", "memory_free_bytes"   (up hosts),
 *    "cpu_free_max_m", "memory_free_max_bytes"  (the largest room on one
 *                                                 host),
 *    "gpus": [{"model", "count", "free_memory_max_bytes"}],
 *    "warm": [DIGEST...] (at most FLEET_SUMMARY_WARM_MAX),
 *    "warm_truncated": true (when more hosts' images were warm),
 *    "rows": [[HOST, HOST_GENERATION, CPU_TOTAL_M, CPU_USED_M, MEM_TOTAL,
 *              MEM_USED, DOWN, [[GPU_MODEL, MEM_TOTAL, MEM_USED,
 *              USED_BY]...]]...]}
 *
 * A row per host, with the generation of the host object it was made
 * from, so a commit updates the summary from the one host it changed
 * (no re-read of the location), and an older update never replaces a
 * newer one. The summary is best-effort: it is written after the host's
 * CAS, by its own CAS; a stale one only misleads the global step, and the
 * host CAS (the truth) makes the scheduler re-decide. */
#ifndef EC_FLEET_SUMMARY_H
#define EC_FLEET_SUMMARY_H

#include <jansson.h>

#include "sched/sched.h"
#include "store/store.h"
#include "util/err.h"

#define FLEET_SUMMARY_VERSION  1
#define FLEET_SUMMARY_WARM_MAX 32
#define FLEET_SUMMARY_MAX      (4u << 20)

char *fleet_summary_key(const char *loc);

/* --- pure ------------------------------------------------------------------
 */

/* The summary of location object loc and its host objects (an array):
 * a new object without "generation" (the CAS write adds it). */
json_t *fleet_summary_build(const json_t *loc, const json_t *hosts);

/* Put host object `host` into summary sum (its row replaced, its warm
 * images added, the totals recomputed). Returns 1, or 0 and leaves sum
 * alone when the summary already has this host at the same or a newer
 * generation. */
int fleet_summary_apply_host(json_t *sum, const json_t *host);

/* Remove host `name` from sum; 1 when it was there. */
int fleet_summary_drop_host(json_t *sum, const char *name);

/* The room a summary describes, for the global step: l's name, place and
 * off-peak window (strings point into sum), and one sc_host per row in
 * *hosts (a new array of *n; no labels, no warm or app counts), so the
 * scheduler can check a request against it with sc_fits. -1 when sum is
 * not a summary this version understands. */
int fleet_summary_room(const json_t *sum, struct sc_loc *l,
		       struct sc_host **hosts, size_t *n);

/* Does the summary list image `digest` as warm (or may it: a truncated
 * list says yes)? */
int fleet_summary_warm(const json_t *sum, const char *digest);

/* --- store -----------------------------------------------------------------
 */

/* Rebuild the summary of location `loc` from location.json and its host
 * objects and write it (CAS, created when missing); *out (optional) gets
 * what was written (a new reference). EC_NOTFOUND without location.json. */
int fleet_summary_refresh(struct store *s, const char *loc, json_t **out,
			  struct ec_err *err);

/* Refresh location `loc`, or every location when NULL (`par` at a time):
 * a new array of the summaries written, without their rows. */
json_t *fleet_summary_refresh_all(struct store *s, const char *loc, int par,
				  struct ec_err *err);

/* After a host's CAS: put the host object as written into its location's
 * summary (CAS, retried); a missing summary is rebuilt. */
int fleet_summary_note_host(struct store *s, const char *loc,
			    const json_t *host, struct ec_err *err);

/* The same for several host objects of location `loc` (an array, as
 * written) in one CAS: what a scheduler that committed to several hosts
 * of a location writes once (fleet_summary_defer_begin). */
int fleet_summary_note_hosts(struct store *s, const char *loc,
			     const json_t *hosts, struct ec_err *err);

/* Coalesce: between begin and end, this thread's host commits
 * (fleet_host_update) do not update their location's summary each; end
 * writes each location's summary once with every host object committed
 * meanwhile (a summary is a hint, so a crash in between only leaves it
 * stale; R2 allows about one write a second to one key). end returns -1
 * with err when a summary could not be written (the host commits stand). */
void fleet_summary_defer_begin(void);
int fleet_summary_defer_end(struct store *s, struct ec_err *err);

/* After a host was deleted: remove its row (CAS). A missing summary is
 * left missing. */
int fleet_summary_note_rm(struct store *s, const char *loc, const char *host,
			  struct ec_err *err);

/* After reading all host objects of sum's location: when a host's row is
 * older than the object read or (same generation: written by hand)
 * differs from it, put the hosts into the summary (CAS; rows only ever
 * move to newer generations). 0 when nothing needed writing. */
int fleet_summary_fix(struct store *s, const json_t *sum, const json_t *hosts,
		      struct ec_err *err);

/* The names of the locations in the store (one LIST of fleet/ by "/"):
 * a new array of strings, sorted. */
json_t *fleet_location_names(struct store *s, struct ec_err *err);

/* The summary of location `loc` (a new reference), or NULL: EC_NOTFOUND
 * when it has none or one that does not parse (treated as missing). */
json_t *fleet_summary_get(struct store *s, const char *loc, struct ec_err *err);

/* --- the location index ------------------------------------------------------
 * fleet/index.json {"version": 1, "locations": {NAME: [LAT, LON]...}}:
 * where every location is, so a request near some users reads the
 * summaries of the nearest locations first and none of those too far to
 * matter. Kept by location add and rm (CAS), rebuilt by `location
 * refresh --all`; a location missing from it is still found (the LIST of
 * fleet/ is the truth) and its summary read. */

/* The index (a new reference), or NULL with err clear when there is none
 * (or none of this version), NULL with err set on a store error. */
json_t *fleet_index_get(struct store *s, struct ec_err *err);
/* Add or update location object loc in the index (CAS). */
int fleet_index_put(struct store *s, const json_t *loc, struct ec_err *err);
/* Remove location `name` from the index (CAS; no index: nothing). */
int fleet_index_drop(struct store *s, const char *name, struct ec_err *err);
/* An index of the location (or summary) objects in array locs (new). */
json_t *fleet_index_build(const json_t *locs);

/* The summaries of every location (a new object {LOC: summary|null}: null
 * for a location without a summary or with one that does not parse), read
 * in parallel (`par` requests at a time): one LIST of fleet/ by "/" and
 * one GET per location. */
json_t *fleet_summaries(struct store *s, int par, struct ec_err *err);

#endif
