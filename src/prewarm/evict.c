/* evict.c - what an eviction on one host removes (prewarm.h): a pure
 * function of the host object and its image list, so the order (least
 * recently warmed first: warm-set order, not the machines' clocks), the
 * budget and the images an instance uses are
 * unit-tested apart from the SSH that carries it out (run.c). */
#include "prewarm/prewarm.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct cand {
	const char *digest;
	int64_t size;
};

static int has(const json_t *list, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach (list, i, v)
		if (!strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

/* {digest: {"size", "users"}} of images (a digest's size counted once);
 * *used gets the sum of the sizes. */
static json_t *by_digest(const json_t *images, uint64_t *used)
{
	json_t *seen = json_object(), *v, *e;
	size_t i;

	*used = 0;
	json_array_foreach (images, i, v) {
		const char *d = ec_json_str(v, "digest") ?: "";
		int64_t size = ec_json_int(v, "size_bytes");
		if (!(e = json_object_get(seen, d))) {
			*used += size > 0 ? (uint64_t)size : 0;
			e = json_pack("{s:I,s:I}", "size", (json_int_t)size,
				      "users", (json_int_t)0);
			json_object_set_new(seen, d, e);
		}
		json_object_set_new(e, "users",
				    json_integer(ec_json_int(e, "users") +
						 ec_json_int(v, "instances")));
	}
	return seen;
}

void pw_evict_plan(const json_t *host, const json_t *images, int64_t budget,
		   const char *keep, struct pw_evict_plan *p)
{
	const json_t *warm = json_object_get(host, "warm");
	_cleanup_json_ json_t *seen = NULL;
	_cleanup_free_ struct cand *cv =
	    xcalloc(json_array_size(warm) + 1, sizeof(*cv));
	json_t *w, *v;
	size_t i, k, nc = 0;
	uint64_t size;

	memset(p, 0, sizeof(*p));
	p->digests = json_array();
	p->refs = json_array();
	if (budget < 0)
		budget = ec_json_int(host, "disk_budget_bytes");
	p->budget = budget > 0 ? (uint64_t)budget : 0;
	seen = by_digest(images, &p->used);
	p->after = p->used;
	/* candidates: warm-set images not in use and not `keep`, oldest
	 * first as pw_warm_add keeps them (each "t" is the clock of the
	 * machine that ran that prewarm: one hours off must not make an image
	 * it just warmed the first to go); entries for images the host no
	 * longer has are dropped */
	json_array_foreach (warm, i, w) {
		const char *d = ec_json_str(w, "digest");
		json_t *e = d ? json_object_get(seen, d) : NULL;
		if (!d || has(p->digests, d))
			continue;
		if (!e)
			json_array_append_new(p->digests, json_string(d));
		else if (!ec_json_int(e, "users") &&
			 !(keep && !strcmp(d, keep)))
			cv[nc++] = (struct cand){d, ec_json_int(e, "size")};
	}
	for (k = 0; k < nc && p->after > p->budget; k++) {
		if (has(p->digests, cv[k].digest))
			continue; /* a digest twice in the warm set */
		json_array_foreach (images, i, v)
			if (!strcmp(ec_json_str(v, "digest") ?: "",
				    cv[k].digest) &&
			    ec_json_str(v, "ref"))
				json_array_append_new(
				    p->refs,
				    json_string(ec_json_str(v, "ref")));
		size = cv[k].size > 0 ? (uint64_t)cv[k].size : 0;
		p->after = size < p->after ? p->after - size : 0;
		json_array_append_new(p->digests, json_string(cv[k].digest));
	}
}

void pw_evict_plan_release(struct pw_evict_plan *p)
{
	json_decref(p->digests);
	json_decref(p->refs);
	p->digests = p->refs = NULL;
}
