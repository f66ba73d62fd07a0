/* autoscale.c - replica counts from load, hosts declared down (pure;
 * autoscale.h). */
#include "sched/autoscale.h"
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

int as_decide(const struct as_policy *p, int current, double load, int measured,
	      time_t now, struct as_state *st, char *why, size_t wn)
{
	int need, cool;

	if (current < p->min || current > p->max) {
		int want = clamp(current, p->min, p->max);
		snprintf(why, wn, "%d replicas, outside %d-%d: %d", current,
			 p->min, p->max, want);
		st->above_since = st->below_since = 0;
		st->last_scale = now;
		return want;
	}
	if (!(p->target > 0) || !measured) {
		snprintf(why, wn, "%d replicas (no load measured)", current);
		st->above_since = st->below_since = 0;
		return current;
	}
	need = clamp((int)ceil(load / p->target), p->min, p->max);
	cool = st->last_scale && now - st->last_scale < p->cooldown;
	if (need > current) {
		st->below_since = 0;
		if (!st->above_since)
			st->above_since = now;
		if (now - st->above_since < p->up_after || cool) {
			snprintf(why, wn,
				 "load %.1f needs %d replicas, %d run: %s",
				 load, need, current,
				 cool ? "cooling down" : "waiting (up_after)");
			return current;
		}
		snprintf(why, wn,
			 "load %.1f above target %.1f x %d for %llds: up to %d",
			 load, p->target, current,
			 (long long)(now - st->above_since), need);
		st->above_since = 0;
		st->last_scale = now;
		return need;
	}
	st->above_since = 0;
	if (current > p->min &&
	    load <= p->target * (current - 1) * AS_DOWN_MARGIN) {
		if (!st->below_since)
			st->below_since = now;
		if (now - st->below_since < p->down_after || cool) {
			snprintf(why, wn, "load %.1f fits %d replicas: %s",
				 load, current - 1,
				 cool ? "cooling down"
				      : "waiting (down_after)");
			return current;
		}
		snprintf(why, wn,
			 "load %.1f below target %.1f x %d for %llds: down to "
			 "%d",
			 load, p->target, current - 1,
			 (long long)(now - st->below_since), current - 1);
		st->below_since = 0;
		st->last_scale = now;
		return current - 1;
	}
	st->below_since = 0;
	snprintf(why, wn, "load %.1f, target %.1f x %d replicas: steady", load,
		 p->target, current);
	return current;
}

int as_host_down(int answered, int *misses)
{
	*misses = answered ? 0 : *misses + 1;
	return *misses >= AS_HOST_MISSES_TO_DOWN;
}

double as_route_load(const json_t *route, size_t *n)
{
	const json_t *b, *l;
	double sum = 0;
	size_t i;

	*n = 0;
	json_array_foreach (json_object_get(route, "backends"), i, b) {
		l = json_object_get(b, "load");
		if (!json_is_true(json_object_get(b, "healthy")) ||
		    !json_is_number(l))
			continue;
		sum += json_number_value(l);
		(*n)++;
	}
	return sum;
}

const char *as_busiest_location(const json_t *route)
{
	const json_t *b, *o;
	const char *best = NULL;
	double best_v = -1;
	size_t i, k;

	json_array_foreach (json_object_get(route, "backends"), i, b) {
		const char *loc = ec_json_str(b, "location");
		double sum = 0;
		size_t n = 0;
		if (!loc || !json_is_true(json_object_get(b, "healthy")) ||
		    !json_is_number(json_object_get(b, "load")))
			continue;
		json_array_foreach (json_object_get(route, "backends"), k, o)
			if (json_is_true(json_object_get(o, "healthy")) &&
			    json_is_number(json_object_get(o, "load")) &&
			    !strcmp(ec_json_str(o, "location") ?: "", loc)) {
				sum += json_number_value(
				    json_object_get(o, "load"));
				n++;
			}
		if (sum / n > best_v ||
		    (sum / n == best_v && strcmp(loc, best) < 0)) {
			best_v = sum / n;
			best = loc;
		}
	}
	return best;
}

void as_state_get(const json_t *o, struct as_state *st)
{
	st->above_since = ec_json_int(o, "above_since");
	st->below_since = ec_json_int(o, "below_since");
	st->last_scale = ec_json_int(o, "last_scale");
}

json_t *as_state_json(const struct as_state *st)
{
	return json_pack("{s:I,s:I,s:I}", "above_since",
			 (json_int_t)st->above_since, "below_since",
			 (json_int_t)st->below_since, "last_scale",
			 (json_int_t)st->last_scale);
}

enum as_lost as_lost_gc(int host_down, int64_t lost_at, time_t now)
{
	if (!host_down)
		return AS_LOST_STOP;
	if (lost_at > 0 && now - lost_at > AS_LOST_TTL)
		return AS_LOST_FORGET;
	return AS_LOST_KEEP;
}
