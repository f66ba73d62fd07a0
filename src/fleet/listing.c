/* listing.c - LIST + parallel GET with bounded concurrency (listing.h). */
#include "fleet/listing.h"
#include "fleet/remote.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int read_jobs = FLEET_READ_JOBS_DEFAULT;

void fleet_read_jobs_set(int n)
{
	if (n < 1)
		n = 1;
	if (n > FLEET_READ_JOBS_MAX)
		n = FLEET_READ_JOBS_MAX;
	atomic_store(&read_jobs, n);
}

int fleet_read_jobs(void)
{
	return atomic_load(&read_jobs);
}

struct item {
	char *key;
	json_t *val; /* NULL: gone (or not read yet) */
};

/* The work queue: the lister appends keys, workers take them in order. */
struct lg {
	struct store *s;
	fleet_keep_fn keep;
	void *ctx;
	uint64_t max;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct item **items;
	size_t n, cap, next;
	int done;   /* the listing has ended */
	int failed; /* err holds the first failure */
	int inflight;
	struct fleet_read_stats st;
	struct ec_err err;
};

static void fail(struct lg *g, const struct ec_err *e)
{
	pthread_mutex_lock(&g->mu);
	if (!g->failed) {
		g->failed = 1;
		g->err = *e;
	}
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* GET and parse one key: 0 with *out (NULL when gone), or -1. */
static int get_one(struct store *s, const char *key, uint64_t max, json_t **out,
		   uint64_t *bytes, struct ec_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;

	*out = NULL;
	if (store_get_buf(s, key, max, &data, &len, NULL, err) < 0) {
		if (err->cat != EC_NOTFOUND)
			return -1;
		ec_err_clear(err); /* deleted since the LIST */
		return 0;
	}
	*bytes += len;
	return (*out = ec_json_parse(data, len, key, err)) ? 0 : -1;
}

static void *worker(void *arg)
{
	struct lg *g = arg;
	struct ec_err e = {0};

	for (;;) {
		struct item *it;
		uint64_t bytes = 0;
		json_t *v;
		int rc;

		pthread_mutex_lock(&g->mu);
		while (!g->failed && g->next >= g->n && !g->done)
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->failed || g->next >= g->n) {
			pthread_mutex_unlock(&g->mu);
			return NULL;
		}
		it = g->items[g->next++];
		if (++g->inflight > g->st.peak)
			g->st.peak = g->inflight;
		pthread_mutex_unlock(&g->mu);

		rc = get_one(g->s, it->key, g->max, &v, &bytes, &e);

		pthread_mutex_lock(&g->mu);
		g->inflight--;
		g->st.read++;
		g->st.bytes += bytes;
		if (rc == 0 && !v)
			g->st.gone++;
		it->val = v;
		pthread_mutex_unlock(&g->mu);
		if (rc < 0) {
			fail(g, &e);
			return NULL;
		}
	}
}

static int on_entry(void *ctx, const struct store_entry *e, struct ec_err *err)
{
	struct lg *g = ctx;
	struct item *it;

	(void)err;
	if (e->is_prefix)
		return 0;
	pthread_mutex_lock(&g->mu);
	g->st.listed++;
	if (g->failed) {
		pthread_mutex_unlock(&g->mu);
		return 1; /* stop: the read has failed */
	}
	pthread_mutex_unlock(&g->mu);
	if (g->keep && !g->keep(e->key, g->ctx))
		return 0;
	it = xcalloc(1, sizeof(*it));
	it->key = xstrdup(e->key);
	pthread_mutex_lock(&g->mu);
	g->items = xgrow(g->items, &g->cap, g->n + 1, sizeof(*g->items));
	g->items[g->n++] = it;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

json_t *fleet_list_get(struct store *s, const char *prefix, fleet_keep_fn keep,
		       void *ctx, int par, uint64_t max,
		       struct fleet_read_stats *st, struct ec_err *err)
{
	struct lg g = {.s = s, .keep = keep, .ctx = ctx, .max = max};
	struct store_list_opts lo = {.prefix = prefix};
	pthread_t th[FLEET_READ_JOBS_MAX];
	int nth = 0, i, lrc;
	json_t *out = NULL;
	size_t k;

	if (par <= 0)
		par = fleet_read_jobs();
	if (par > FLEET_READ_JOBS_MAX)
		par = FLEET_READ_JOBS_MAX;
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	for (i = 0; i < par; i++) {
		if (pthread_create(&th[nth], NULL, worker, &g) != 0)
			break;
		nth++;
	}
	lrc = store_list(s, &lo, on_entry, &g, err);
	pthread_mutex_lock(&g.mu);
	g.done = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	if (!nth) /* no thread could start: read here */
		worker(&g);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (lrc < 0) {
		/* err set by the listing */
	} else if (g.failed) {
		*err = g.err;
	} else {
		out = json_array();
		for (k = 0; k < g.n; k++)
			if (g.items[k]->val)
				json_array_append(out, g.items[k]->val);
	}
	for (k = 0; k < g.n; k++) {
		json_decref(g.items[k]->val);
		free(g.items[k]->key);
		free(g.items[k]);
	}
	free(g.items);
	pthread_mutex_destroy(&g.mu);
	pthread_cond_destroy(&g.cv);
	if (st)
		*st = g.st;
	return out;
}

struct many {
	struct store *s;
	const char *const *keys;
	uint64_t max;
	json_t **out;
	pthread_mutex_t mu;
	int failed;
	struct ec_err err; /* the first failure */
};

static void many_one(size_t i, void *arg)
{
	struct many *m = arg;
	struct ec_err e = {0};
	uint64_t bytes = 0;
	int failed;

	pthread_mutex_lock(&m->mu);
	failed = m->failed;
	pthread_mutex_unlock(&m->mu);
	if (failed ||
	    get_one(m->s, m->keys[i], m->max, &m->out[i], &bytes, &e) == 0)
		return;
	pthread_mutex_lock(&m->mu);
	if (!m->failed) {
		m->failed = 1;
		m->err = e;
	}
	pthread_mutex_unlock(&m->mu);
}

int fleet_get_many(struct store *s, const char *const *keys, size_t n, int par,
		   uint64_t max, json_t **out, struct ec_err *err)
{
	struct many m = {.s = s, .keys = keys, .max = max, .out = out};
	size_t i;

	if (par <= 0)
		par = fleet_read_jobs();
	memset(out, 0, n * sizeof(*out));
	pthread_mutex_init(&m.mu, NULL);
	fleet_fanout(n, par, many_one, &m);
	pthread_mutex_destroy(&m.mu);
	if (!m.failed)
		return 0;
	for (i = 0; i < n; i++) {
		json_decref(out[i]);
		out[i] = NULL;
	}
	*err = m.err;
	return -1;
}
