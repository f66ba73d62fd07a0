/* render.h - the text form of what the verbs of src/route/control.h return
 * (`edgectl route ls/show/check/sync/stats/add` without --json): pure
 * functions of the JSON results, written to the FILE given. */
#ifndef EC_ROUTE_RENDER_H
#define EC_ROUTE_RENDER_H

#include <jansson.h>
#include <stdio.h>

/* route_ls: one line per VIP under a header. */
void route_render_ls(FILE *f, const json_t *rows);
/* route_show: the VIP, its backends and this host's counters. */
void route_render_show(FILE *f, const json_t *r);
/* route_check: one line per probed backend. */
void route_render_check(FILE *f, const json_t *rows);
/* route_sync_local: warnings on warn, the summary line on f. */
void route_render_sync(FILE *f, FILE *warn, const json_t *rep);
/* route_stats: the counters of every VIP. */
void route_render_stats(FILE *f, const json_t *rows);
/* route_add: what was added (one line). */
void route_render_added(FILE *f, const json_t *r);
/* route_push's results: each failure on errf; "HOST: ok" on f for the
 * others unless f is NULL. The number of hosts that failed. */
int route_render_push(FILE *f, FILE *errf, const json_t *res);

#endif
