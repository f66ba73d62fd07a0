/* app_impl.h - what session.c and app.c share inside src/sched. */
#ifndef EC_SCHED_APP_IMPL_H
#define EC_SCHED_APP_IMPL_H

#include "sched/session.h"

char *sc_app_key(const char *app);
/* A whole app record; old_placements merged with p (sc_app_merge). */
json_t *sc_app_record(const char *app, const json_t *spec, const char *digest,
		      const json_t *old_placements, const struct sc_placed *p,
		      size_t n, int no_start, time_t updated);
int sc_app_put(struct store *s, const json_t *rec, struct ec_err *err);
int sc_queue_put(struct store *s, const char *app, const json_t *spec,
		 const char *why, int no_start, struct ec_err *err);
/* The keys under queue/: a new array of strings. */
json_t *sc_queue_keys(struct store *s, struct ec_err *err);

#endif
