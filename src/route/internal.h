/* internal.h - what control.c (store, checks, fan-out) and local.c (this
 * machine's router) share; not part of the route library's API. */
#ifndef EC_ROUTE_INTERNAL_H
#define EC_ROUTE_INTERNAL_H

#include "route/control.h"

/* Every route object in key order (route_obj_parse each): a new array. */
json_t *route_objects(struct store *s, struct ec_err *err);

/* The host object of this machine: q->self, else the hostname. */
json_t *route_self_host(struct store *s, const struct route_req *q,
			struct ec_err *err);

/* The counters of VIP id on this machine's router (pin dir from q), or
 * NULL when no router is loaded or readable. */
json_t *route_local_counters(const struct route_req *q, uint32_t id);

#endif
