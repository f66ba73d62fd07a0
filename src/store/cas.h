/* cas.h - read-modify-write of a JSON object in the store by
 * compare-and-swap: the pattern every piece of shared state uses (host
 * objects, routes). */
#ifndef EC_STORE_CAS_H
#define EC_STORE_CAS_H

#include <jansson.h>

#include "store/store.h"
#include "util/err.h"

#define STORE_CAS_TRIES 10

/* GET key (at most `max` bytes), let fn change the object in place (0, or
 * -1 with err set to abort), bump its "generation" and write it back with
 * put-if-match on the ETag just read; a lost race (412) re-reads and
 * re-applies fn, up to STORE_CAS_TRIES times with growing jitter, then
 * EC_CONFLICT naming `what`. With create, a missing object starts as {}
 * and is written with put-if-absent; without, a missing object is
 * EC_NOTFOUND "no <what>". */
int store_json_update(struct store *s, const char *key, size_t max, int create,
		      const char *what, int (*fn)(json_t *obj, void *ctx),
		      void *ctx, struct ec_err *err);

#endif
