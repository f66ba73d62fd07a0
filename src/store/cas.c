/* cas.c - JSON read-modify-write by compare-and-swap (cas.h). */
#include "store/cas.h"
#include "crypto/digest.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <string.h>
#include <time.h>

static void jitter_sleep(int attempt)
{
	uint32_t r;
	struct timespec ts;
	long ms;

	random_bytes(&r, sizeof(r));
	ms = 1 + (long)(r % (uint32_t)(20 << (attempt < 6 ? attempt : 6)));
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

int store_json_update(struct store *s, const char *key, size_t max, int create,
		      const char *what, int (*fn)(json_t *obj, void *ctx),
		      void *ctx, struct ec_err *err)
{
	int attempt;

	for (attempt = 0; attempt < STORE_CAS_TRIES; attempt++) {
		struct store_info info;
		struct store_put_opts po = {0};
		_cleanup_free_ char *data = NULL, *out = NULL;
		_cleanup_json_ json_t *j = NULL;
		size_t len;

		if (store_get_buf(s, key, max, &data, &len, &info, err) < 0) {
			if (err->cat != EC_NOTFOUND)
				return -1;
			if (!create)
				return ec_err_set(err, EC_NOTFOUND, "no %s",
						  what);
			ec_err_clear(err);
			j = json_object();
			po.if_absent = 1;
		} else {
			if (!(j = ec_json_parse(data, len, key, err)))
				return -1;
			po.if_match = info.etag;
		}
		if (fn(j, ctx) < 0)
			return -1;
		json_object_set_new(
		    j, "generation",
		    json_integer(
			json_integer_value(json_object_get(j, "generation")) +
			1));
		out = ec_json_dump(j);
		if (store_put_buf(s, key, out, strlen(out), &po, NULL, err) ==
		    0)
			return 0;
		if (err->cat != EC_CONFLICT)
			return -1;
		ec_err_clear(err);
		jitter_sleep(attempt);
	}
	return ec_err_set(err, EC_CONFLICT,
			  "%s: lost %d compare-and-swap races in a row (too "
			  "many concurrent writers); try again",
			  what, STORE_CAS_TRIES);
}
