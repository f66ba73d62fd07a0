/* decide.c - a placement decision that reads O(candidates), not the fleet
 * (sc_fleet_decide in commit.h; DESIGN §4, issue 13).
 *
 * Three levels of what is known about a location, each read only when it
 * could still matter:
 *   0  its place, from the location index (fleet/index.json): a bound
 *      from distance alone (sc_loc_bound_far);
 *   1  its summary (fleet/<loc>/summary.json): one sc_host per row, so
 *      sc_place decides on the rows themselves; a host a placement lands
 *      on is then read by name (one GET, no LIST) and replaces its row
 *      before the decision stands;
 *   2  all its host objects (LIST + GETs): only for a location without a
 *      summary, or when the rows leave replicas unplaced (a summary that
 *      understates room is read last, before "no capacity").
 * A row is optimistic where the summary knows less than the host object
 * (labels taken to match, warm when the location is, no replica of the
 * app but those its record names), so a decision on rows that lands on
 * read hosts only is the one sc_place gives on the whole fleet (up to
 * ties) when the summaries are current. A row that overstates room (a
 * stale summary, a host deleted since) is corrected by its read and the
 * decision made again: more reads, never a wrong commit (the commit's CAS
 * checks the host object again). Rows found stale are written back into
 * the summary (one CAS per location, at the end).
 *
 * Every round reads the summaries of the best level-0 locations while one
 * of them could beat a placement (or replicas are left), then the hosts
 * the placements land on. Without the index, or for a request not near
 * anyone (every location equally far), all summaries are read at once.
 * The LIST of fleet/ is the truth about which locations exist: a location
 * missing from the index has its summary read, one without a summary its
 * hosts (and its summary is written). */
#include "fleet/fleet.h"
#include "fleet/listing.h"
#include "fleet/remote.h"
#include "fleet/summary.h"
#include "sched/commit.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_PAR      32
#define SUMMARY_BATCH 16 /* summaries read per round, at first */
#define HOST_OBJ_MAX  (1u << 20)

enum { AT_PLACE = 0, AT_ROWS, AT_HOSTS, AT_NONE };

struct lazy {
	struct store *s;
	const struct sc_decide *d;
	struct sc_fleet *f;
	int *level;   /* AT_* per location */
	json_t **sum; /* its summary or location object (held by f->json) */
	double *bound;
	json_t **fix;  /* host objects read that its summary may not know */
	json_t **gone; /* hosts in its summary that are deleted */
	json_t **got;  /* a fan-out's result per location */
	struct ec_err *errs;
	size_t *todo;
	int *want; /* what todo[i] reads: AT_ROWS (summary) or AT_HOSTS */
	int inner; /* GETs in flight within one location's hosts */
};

/* --- pure --------------------------------------------------------------- */

void sc_rows_prepare(struct sc_loc *l, int warm, const struct sc_decide *d)
{
	size_t i, k;

	l->app_count = 0;
	for (k = 0; k < d->napp_locs; k++)
		l->app_count += !strcmp(d->app_locs[k], l->name);
	for (i = 0; i < l->nhosts; i++) {
		struct sc_host *h = &l->hosts[i];

		struct ec_err e;

		h->unverified = 1;
		if (!h->name || fleet_name_check("host", h->name, &e) < 0) {
			h->down = 1; /* not a name to read: never chosen */
			h->unverified = 0;
		}
		h->warm = warm;
		h->labels = NULL;
		h->app_count = 0;
		for (k = 0; d->app_hosts && k < d->napp_locs; k++)
			h->app_count += d->app_hosts[k] && h->name &&
					!strcmp(d->app_locs[k], l->name) &&
					!strcmp(d->app_hosts[k], h->name);
	}
}

size_t sc_to_verify(const struct sc_loc *fleet, const struct sc_place *pl,
		    size_t n, struct sc_hostref *out)
{
	size_t i, j, k = 0;

	for (i = 0; i < n; i++) {
		if (pl[i].loc == (size_t)-1 ||
		    !fleet[pl[i].loc].hosts[pl[i].host].unverified)
			continue;
		for (j = 0; j < k; j++)
			if (out[j].loc == pl[i].loc &&
			    out[j].host == pl[i].host)
				break;
		if (j == k)
			out[k++] = (struct sc_hostref){pl[i].loc, pl[i].host};
	}
	return k;
}

static int same_room(const struct sc_host *a, const struct sc_host *b)
{
	int i;

	if (a->cpu_total != b->cpu_total || a->cpu_used != b->cpu_used ||
	    a->mem_total != b->mem_total || a->mem_used != b->mem_used ||
	    !a->down != !b->down || a->ngpus != b->ngpus)
		return 0;
	for (i = 0; i < a->ngpus; i++)
		if (strcmp(a->gpus[i].model, b->gpus[i].model) ||
		    a->gpus[i].mem_total != b->gpus[i].mem_total ||
		    a->gpus[i].mem_used != b->gpus[i].mem_used ||
		    a->gpus[i].used_by != b->gpus[i].used_by)
			return 0;
	return 1;
}

int sc_host_verify(struct sc_host *h, const json_t *obj, const char *loc,
		   const char *app, const char *digest)
{
	struct sc_host v;
	const char *name = h->name;

	if (!obj || !json_is_object(obj) ||
	    strcmp(ec_json_str(obj, "name") ?: "", name ?: "") ||
	    strcmp(ec_json_str(obj, "location") ?: "", loc)) {
		/* deleted since the summary (or not this host): no room */
		h->down = 1;
		h->unverified = 0;
		return 1;
	}
	sc_host_from_json(&v, obj, app, digest);
	v.name = name;
	v.loc = h->loc;
	v.unverified = 0;
	{
		int stale = !same_room(h, &v);
		*h = v;
		return stale;
	}
}

/* --- reading ------------------------------------------------------------ */

static void read_one(size_t i, void *arg)
{
	struct lazy *z = arg;
	size_t li = z->todo[i];
	const char *name = z->f->locs[li].name;

	ec_err_clear(&z->errs[li]);
	z->got[li] = z->want[i] == AT_ROWS
			 ? fleet_summary_get(z->s, name, &z->errs[li])
			 : fleet_hosts_par(z->s, name, z->inner, &z->errs[li]);
}

/* The location object of a location without a summary (NULL with err
 * clear when it has none: not a location). */
static json_t *loc_object(struct store *s, const char *name, struct ec_err *err)
{
	_cleanup_free_ char *key = fleet_location_key(name);
	_cleanup_free_ char *data = NULL;
	size_t len;

	if (store_get_buf(s, key, 64u << 10, &data, &len, NULL, err) < 0) {
		if (err->cat == EC_NOTFOUND)
			ec_err_clear(err);
		return NULL;
	}
	return ec_json_parse(data, len, key, err);
}

/* The UTC offset of a location given with a time zone. */
static void apply_tz(struct lazy *z, struct sc_loc *l, const json_t *obj)
{
	const char *tz = ec_json_str(obj, "tz");
	int m;

	if (tz && z->d->offset && z->d->offset(tz, z->d->now, &m) == 0)
		l->utc_offset_min = m;
}

/* Location li from summary sum (taken): its rows as its hosts (level 1),
 * or -1 when this version cannot read it (or it names another
 * location). */
static int take_summary(struct lazy *z, size_t li, json_t *sum)
{
	struct sc_loc *l = &z->f->locs[li];
	const char *name = l->name;
	struct sc_host *rows;
	size_t n;

	if (fleet_summary_room(sum, l, &rows, &n) < 0 ||
	    strcmp(l->name, name)) {
		free(rows);
		memset(l, 0, sizeof(*l));
		l->name = name;
		l->unread = 1;
		json_decref(sum);
		return -1;
	}
	json_array_append_new(json_object_get(z->f->json, "summaries"), sum);
	z->sum[li] = sum;
	l->name = name;
	apply_tz(z, l, sum);
	l->hosts = rows;
	l->nhosts = n;
	l->unread = 0;
	sc_rows_prepare(l, fleet_summary_warm(sum, z->d->digest), z->d);
	z->level[li] = AT_ROWS;
	return 0;
}

/* Location li has no summary: its location object, then its hosts in the
 * next fan-out. */
static int no_summary(struct lazy *z, size_t li, struct ec_err *err)
{
	struct sc_loc *l = &z->f->locs[li];
	json_t *lo = loc_object(z->s, l->name, err);

	if (!lo) {
		z->level[li] = AT_NONE; /* hosts without a location.json */
		return err->cat == EC_OK ? 0 : -1;
	}
	json_array_append_new(json_object_get(z->f->json, "summaries"), lo);
	z->sum[li] = lo; /* its place for the summary written later */
	l->lat = json_number_value(json_object_get(lo, "lat"));
	l->lon = json_number_value(json_object_get(lo, "lon"));
	l->utc_offset_min = (int)ec_json_int(lo, "utc_offset_min");
	l->labels = json_object_get(lo, "labels");
	{
		int a, b, c, e; /* "HH:MM-HH:MM", default 00:00-05:00 */
		if (sscanf(ec_json_str(lo, "off_peak") ?: "", "%d:%d-%d:%d", &a,
			   &b, &c, &e) == 4) {
			l->offpeak_start = a * 60 + b;
			l->offpeak_end = c * 60 + e;
		} else {
			l->offpeak_start = 0;
			l->offpeak_end = 300;
		}
	}
	apply_tz(z, l, lo);
	return 1; /* read its hosts now */
}

/* Location li's host objects were read: into sc_hosts (level 2); its
 * summary written when it had none, set right when it was stale. */
static void take_hosts(struct lazy *z, size_t li, json_t *hosts)
{
	struct sc_loc *l = &z->f->locs[li];
	json_t *all = json_object_get(z->f->json, "hosts"), *h;
	struct ec_err e;
	size_t k;

	free(l->hosts);
	l->hosts = xcalloc(json_array_size(hosts) + 1, sizeof(*l->hosts));
	l->nhosts = 0;
	l->app_count = 0;
	json_array_foreach (hosts, k, h) {
		sc_host_from_json(&l->hosts[l->nhosts], h, z->d->app,
				  z->d->digest);
		l->app_count += l->hosts[l->nhosts].app_count;
		l->nhosts++;
		json_array_append(all, h); /* in order, for sc_fleet_tenants */
	}
	l->unread = 0;
	z->level[li] = AT_HOSTS;
	json_decref(z->fix[li]); /* this read fixes it all */
	z->fix[li] = NULL;
	json_decref(z->gone[li]);
	z->gone[li] = NULL;
	if (z->sum[li] && ec_json_str(z->sum[li], "location")) {
		fleet_summary_fix(z->s, z->sum[li], hosts, &e);
	} else if (z->sum[li]) { /* none yet: put-if-absent */
		_cleanup_json_ json_t *sum =
		    fleet_summary_build(z->sum[li], hosts);
		_cleanup_free_ char *key = fleet_summary_key(l->name);
		_cleanup_free_ char *text = NULL;
		struct store_put_opts po = {.if_absent = 1};

		json_object_set_new(sum, "generation", json_integer(1));
		text = ec_json_dump(sum);
		store_put_buf(z->s, key, text, strlen(text), &po, NULL, &e);
	}
	json_decref(hosts);
}

/* Read what todo[0..n) want, in parallel, and take it. */
static int read_round(struct lazy *z, size_t n, struct ec_err *err)
{
	size_t i, more = 0;
	int jobs = fleet_read_jobs() * 2; /* GETs in flight in all */

	/* n locations at a time, each reading its hosts `inner` at a time */
	z->inner = n < (size_t)jobs ? jobs / (int)n : 1;
	fleet_fanout(n, READ_PAR, read_one, z);
	for (i = 0; i < n; i++) {
		size_t li = z->todo[i];
		json_t *got = z->got[li];

		z->got[li] = NULL;
		if (z->want[i] == AT_HOSTS) {
			if (!got) {
				*err = z->errs[li];
				for (; i < n; i++) {
					json_decref(z->got[z->todo[i]]);
					z->got[z->todo[i]] = NULL;
				}
				return -1;
			}
			take_hosts(z, li, got);
			continue;
		}
		if (got && take_summary(z, li, got) == 0)
			continue;
		if (!got && z->errs[li].cat != EC_NOTFOUND) {
			*err = z->errs[li];
			return -1;
		}
		switch (no_summary(z, li, err)) {
		case -1:
			return -1;
		case 1: /* its hosts, in a second fan-out below */
			z->todo[more] = li;
			z->want[more++] = AT_HOSTS;
		}
	}
	return more ? read_round(z, more, err) : 0;
}

/* Read the hosts refs[0..n) by name (GETs in parallel) into their
 * locations: each replaces its row; what its summary had wrong is noted
 * for the write at the end. */
static int verify(struct lazy *z, const struct sc_hostref *refs, size_t n,
		  struct ec_err *err)
{
	char **keys = xcalloc(n + 1, sizeof(*keys));
	json_t **obj = xcalloc(n + 1, sizeof(*obj));
	json_t *all = json_object_get(z->f->json, "hosts");
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		struct sc_loc *l = &z->f->locs[refs[i].loc];
		keys[i] = fleet_host_key(l->name, l->hosts[refs[i].host].name);
	}
	rc = fleet_get_many(z->s, (const char *const *)keys, n, READ_PAR,
			    HOST_OBJ_MAX, obj, err);
	for (i = 0; rc == 0 && i < n; i++) {
		size_t li = refs[i].loc;
		struct sc_loc *l = &z->f->locs[li];
		struct sc_host *h = &l->hosts[refs[i].host];
		const char *name = h->name;
		json_t **list;

		if (!sc_host_verify(h, obj[i], l->name, z->d->app,
				    z->d->digest))
			goto keep;
		/* the summary was wrong about this host */
		list = obj[i] && !h->down ? &z->fix[li] : &z->gone[li];
		if (!*list)
			*list = json_array();
		if (obj[i] && !h->down)
			json_array_append(*list, obj[i]);
		else if (!obj[i])
			json_array_append_new(*list, json_string(name));
	keep:
		if (obj[i]) /* h's strings point into it */
			json_array_append(all, obj[i]);
	}
	for (i = 0; i < n; i++) {
		json_decref(obj[i]);
		free(keys[i]);
	}
	free(obj);
	free(keys);
	return rc;
}

/* Write back what the reads found the summaries had wrong (best effort:
 * a stale summary costs reads, never a wrong commit). */
static void fix_one(size_t j, void *arg)
{
	struct lazy *z = arg;
	size_t i = z->todo[j], k;
	const char *name = z->f->locs[i].name;
	struct ec_err e;
	json_t *g;

	ec_err_clear(&e);
	if (z->fix[i])
		fleet_summary_fix(z->s, z->sum[i], z->fix[i], &e);
	json_array_foreach (z->gone[i], k, g)
		fleet_summary_note_rm(z->s, name, json_string_value(g), &e);
}

/* --- ranking ------------------------------------------------------------ */

static int app_count(const struct sc_decide *d, const char *loc)
{
	size_t i;
	int n = 0;

	for (i = 0; i < d->napp_locs; i++)
		n += !strcmp(d->app_locs[i], loc);
	return n;
}

static const struct lazy *sort_z;

static int by_bound(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	const struct lazy *z = sort_z;

	if (z->bound[x] != z->bound[y])
		return z->bound[x] < z->bound[y] ? 1 : -1;
	return x < y ? -1 : x > y;
}

/* The locations at `level` (AT_PLACE: not read yet; AT_ROWS: known from
 * their summaries), best bound from their place first: their number. */
static size_t rank(struct lazy *z, int level, size_t *order)
{
	struct sc_fleet *f = z->f;
	size_t i, n = 0;

	for (i = 0; i < f->nlocs; i++) {
		struct sc_loc l = f->locs[i];

		if (z->level[i] != level)
			continue;
		l.app_count = app_count(z->d, l.name);
		z->bound[i] =
		    sc_loc_bound_far(&l, f->locs, f->nlocs, z->d->req);
		if (z->bound[i] != -INFINITY)
			order[n++] = i;
	}
	sort_z = z;
	qsort(order, n, sizeof(*order), by_bound);
	return n;
}

/* The first `max` of order[0..n) into todo, each to read as `want`. */
static size_t pick(struct lazy *z, const size_t *order, size_t n, size_t max,
		   int want)
{
	size_t i;

	for (i = 0; i < n && i < max; i++) {
		z->todo[i] = order[i];
		z->want[i] = want;
	}
	return i;
}

/* --- placing ------------------------------------------------------------ */

struct saved {
	struct sc_host *hosts;
	int app_count;
};

static void save(const struct sc_fleet *f, struct saved *sv)
{
	size_t i, sz;

	for (i = 0; i < f->nlocs; i++) {
		free(sv[i].hosts);
		sv[i].hosts = NULL;
		sv[i].app_count = f->locs[i].app_count;
		if (!f->locs[i].nhosts)
			continue;
		sz = f->locs[i].nhosts * sizeof(struct sc_host);
		sv[i].hosts = xmalloc(sz);
		memcpy(sv[i].hosts, f->locs[i].hosts, sz);
	}
}

static void restore(struct sc_fleet *f, const struct saved *sv)
{
	size_t i;

	for (i = 0; i < f->nlocs; i++) {
		f->locs[i].app_count = sv[i].app_count;
		if (f->locs[i].nhosts && sv[i].hosts)
			memcpy(f->locs[i].hosts, sv[i].hosts,
			       f->locs[i].nhosts * sizeof(struct sc_host));
	}
}

/* Must more summaries be read? While replicas are left and locations
 * are, or while the best location not read could beat a placement. */
static int need_more(const struct lazy *z, const size_t *order, size_t n,
		     const struct sc_place *pl, size_t placed, size_t want)
{
	double worst = INFINITY;
	size_t i;

	if (!n)
		return 0;
	if (placed < want)
		return 1;
	for (i = 0; i < placed; i++)
		worst = fmin(worst, pl[i].score);
	return z->bound[order[0]] > worst;
}

/* --- the decision ------------------------------------------------------- */

static void lazy_free(struct lazy *z, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		json_decref(z->got[i]);
		json_decref(z->fix[i]);
		json_decref(z->gone[i]);
	}
	free(z->level);
	free(z->sum);
	free(z->bound);
	free(z->fix);
	free(z->gone);
	free(z->got);
	free(z->errs);
	free(z->todo);
	free(z->want);
}

/* Every location at level 0 with its place from the index, or (no index,
 * not near anyone, missing from the index) to be read at once. */
static size_t start(struct lazy *z, const json_t *ix)
{
	const json_t *all = json_object_get(ix, "locations"), *p;
	size_t i, k = 0;

	for (i = 0; i < z->f->nlocs; i++) {
		struct sc_loc *l = &z->f->locs[i];

		l->unread = 1;
		l->offpeak_end = 300;
		z->level[i] = AT_PLACE;
		p = json_object_get(all, l->name);
		if (z->d->req->nnear && json_is_array(p)) {
			l->lat = json_number_value(json_array_get(p, 0));
			l->lon = json_number_value(json_array_get(p, 1));
			continue;
		}
		z->todo[k] = i;
		z->want[k++] = AT_ROWS;
	}
	return k;
}

/* The location names and index: the caller's when it read them already
 * (sc_decide.prefetched), else read here. */
static int names_index(struct store *s, const struct sc_decide *d,
		       json_t **names, json_t **ix, struct ec_err *err)
{
	*ix = NULL;
	if (d->prefetched) {
		*names = json_incref(d->names);
		*ix = json_incref(d->index);
		return *names ? 0 : -1;
	}
	if (!(*names = fleet_location_names(s, err)))
		return -1;
	if (d->req->nnear && !(*ix = fleet_index_get(s, err)) &&
	    err->cat != EC_OK) {
		json_decref(*names);
		return -1;
	}
	return 0;
}

int sc_fleet_decide(struct store *s, const struct sc_decide *d,
		    struct sc_fleet *f, struct sc_place *pl, size_t *placed,
		    struct sc_explain *x, struct ec_err *err)
{
	struct lazy z = {.s = s, .d = d, .f = f};
	_cleanup_json_ json_t *ix = NULL;
	json_t *names;
	struct saved *sv;
	struct sc_hostref *refs;
	size_t n, i, k, nord, nh, ns = SUMMARY_BATCH, *order;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	*placed = 0;
	if (names_index(s, d, &names, &ix, err) < 0)
		return -1;
	n = json_array_size(names);
	f->json =
	    json_pack("{s:o,s:[],s:[]}", "names", names, "summaries", "hosts");
	f->locs = xcalloc(n + 1, sizeof(*f->locs));
	f->nlocs = n;
	for (i = 0; i < n; i++)
		f->locs[i].name = json_string_value(json_array_get(names, i));
	z.level = xcalloc(n + 1, sizeof(*z.level));
	z.sum = xcalloc(n + 1, sizeof(*z.sum));
	z.bound = xcalloc(n + 1, sizeof(*z.bound));
	z.fix = xcalloc(n + 1, sizeof(*z.fix));
	z.gone = xcalloc(n + 1, sizeof(*z.gone));
	z.got = xcalloc(n + 1, sizeof(*z.got));
	z.errs = xcalloc(n + 1, sizeof(*z.errs));
	z.todo = xcalloc(n + 1, sizeof(*z.todo));
	z.want = xcalloc(n + 1, sizeof(*z.want));
	order = xcalloc(n + 1, sizeof(*order));
	sv = xcalloc(n + 1, sizeof(*sv));
	refs = xcalloc(d->n + 1, sizeof(*refs));
	nh = d->n + 1 < 2 ? 2 : d->n + 1;
	if ((k = start(&z, ix)) && read_round(&z, k, err) < 0)
		goto out;
	for (;;) {
		save(f, sv);
		sc_place(f->locs, f->nlocs, d->req, d->n, d->now, pl, placed,
			 NULL);
		/* 1. summaries that could still do better */
		nord = rank(&z, AT_PLACE, order);
		if (need_more(&z, order, nord, pl, *placed, d->n)) {
			restore(f, sv);
			if (read_round(&z, pick(&z, order, nord, ns, AT_ROWS),
				       err) < 0)
				goto out;
			ns *= 2;
			continue;
		}
		/* 2. the hosts the placements land on, by name */
		if ((k = sc_to_verify(f->locs, pl, *placed, refs))) {
			restore(f, sv);
			if (verify(&z, refs, k, err) < 0)
				goto out;
			continue;
		}
		/* 3. replicas left: the summaries may understate room */
		if (*placed < d->n && (nord = rank(&z, AT_ROWS, order)) > 0) {
			restore(f, sv);
			if (read_round(&z, pick(&z, order, nord, nh, AT_HOSTS),
				       err) < 0)
				goto out;
			nh *= 2;
			continue;
		}
		break;
	}
	if (x) {
		restore(f, sv);
		sc_place(f->locs, f->nlocs, d->req, d->n, d->now, pl, placed,
			 x);
	}
	rc = 0;
out:
	for (i = k = 0; i < n; i++)
		if (z.fix[i] || z.gone[i])
			z.todo[k++] = i;
	fleet_fanout(k, READ_PAR, fix_one, &z);
	for (i = 0; i < n; i++)
		free(sv[i].hosts);
	free(sv);
	free(refs);
	free(order);
	lazy_free(&z, n);
	if (rc < 0)
		sc_fleet_release(f);
	return rc;
}
