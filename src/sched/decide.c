/* decide.c - a placement decision that reads O(candidates), not the fleet
 * (sc_fleet_decide in commit.h; DESIGN §4, issue 13).
 *
 * Three levels of what is known about a location, each read only when it
 * could still matter:
 *   0  its place, from the location index (fleet/index.json): a bound
 *      from distance alone (sc_loc_bound_far);
 *   1  its summary (fleet/<loc>/summary.json): a bound from its rows
 *      (sc_loc_bound) and whether a replica fits there at all;
 *   2  its host objects: sc_place decides on the locations at level 2.
 * Every round reads the summaries of the best level-0 locations and the
 * hosts of the best level-1 ones (one parallel fan-out), places, and ends
 * when no location below level 2 has a bound above the worst placement's
 * score and every replica is placed (or nothing is left to read). With
 * current summaries the outcome is the one sc_place gives on the whole
 * fleet (up to ties); a stale summary costs reads: one that overstates
 * room is read and found full, one that understates it is read last,
 * before "no capacity". Without the index, or for a request not near
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

enum { AT_PLACE = 0, AT_SUMMARY, AT_HOSTS, AT_NONE };

struct lazy {
	struct store *s;
	const struct sc_decide *d;
	struct sc_fleet *f;
	int *level;   /* AT_* per location */
	json_t **sum; /* its summary (held by f->json) */
	struct sc_host **room;
	size_t *nroom;
	double *bound;
	int *fits;
	json_t **hosts; /* its host objects once read */
	json_t **got;	/* a fan-out's result per location */
	struct ec_err *errs;
	size_t *todo;
	int *want; /* what todo[i] reads: AT_SUMMARY or AT_HOSTS */
	int inner; /* GETs in flight within one location's hosts */
};

/* --- reading ----------------------------------------------------------------
 */

static void read_one(size_t i, void *arg)
{
	struct lazy *z = arg;
	size_t li = z->todo[i];
	const char *name = z->f->locs[li].name;

	ec_err_clear(&z->errs[li]);
	z->got[li] = z->want[i] == AT_SUMMARY
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

/* Location li from summary sum (taken): level 1, or -1 when this version
 * cannot read it. */
static int take_summary(struct lazy *z, size_t li, json_t *sum)
{
	struct sc_loc *l = &z->f->locs[li];

	if (fleet_summary_room(sum, l, &z->room[li], &z->nroom[li]) < 0) {
		free(z->room[li]);
		z->room[li] = NULL;
		json_decref(sum);
		return -1;
	}
	json_array_append_new(json_object_get(z->f->json, "summaries"), sum);
	z->sum[li] = sum;
	apply_tz(z, l, sum);
	l->app_count = 0;
	l->unread = 1;
	z->level[li] = AT_SUMMARY;
	return 0;
}

/* Location li has no summary: its location object, then its hosts in the
 * next round. */
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
	z->level[li] = AT_SUMMARY;
	z->fits[li] = 1;
	z->room[li] = NULL;
	z->nroom[li] = 0;
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

	z->hosts[li] = hosts;
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

/* --- ranking
 * ------------------------------------------------------------------ */

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

	if (z->fits[x] != z->fits[y])
		return z->fits[x] ? -1 : 1;
	if (z->bound[x] != z->bound[y])
		return z->bound[x] < z->bound[y] ? 1 : -1;
	return x < y ? -1 : x > y;
}

/* The locations not decided on yet, best bound first (those whose
 * summary says a replica fits nowhere there last): their number. */
static size_t rank(struct lazy *z, size_t *order)
{
	struct sc_fleet *f = z->f;
	size_t i, n = 0;

	for (i = 0; i < f->nlocs; i++) {
		struct sc_loc l = f->locs[i];

		if (z->level[i] == AT_HOSTS || z->level[i] == AT_NONE)
			continue;
		l.app_count = app_count(z->d, l.name);
		if (z->level[i] == AT_PLACE) {
			z->fits[i] = 1;
			z->bound[i] =
			    sc_loc_bound_far(&l, f->locs, f->nlocs, z->d->req);
		} else if (!z->room[i]) { /* no summary: hosts next */
			z->fits[i] = 1;
			z->bound[i] = INFINITY;
		} else {
			l.hosts = z->room[i];
			l.nhosts = z->nroom[i];
			z->bound[i] = sc_loc_bound(
			    &l, f->locs, f->nlocs, z->d->req, z->d->now,
			    fleet_summary_warm(z->sum[i], z->d->digest),
			    &z->fits[i]);
		}
		if (z->bound[i] != -INFINITY)
			order[n++] = i;
	}
	sort_z = z;
	qsort(order, n, sizeof(*order), by_bound);
	return n;
}

/* What the best of order[0..n) need next: up to nh host reads and ns
 * summary reads among the first nh + ns; into todo/want. */
static size_t pick(struct lazy *z, const size_t *order, size_t n, size_t nh,
		   size_t ns, size_t *hosts)
{
	size_t i, k = 0, h = 0, s = 0;

	for (i = 0; i < n && i < nh + ns; i++) {
		size_t li = order[i];
		if (z->level[li] == AT_SUMMARY && h < nh) {
			z->todo[k] = li;
			z->want[k++] = AT_HOSTS;
			h++;
		} else if (z->level[li] == AT_PLACE && s < ns) {
			z->todo[k] = li;
			z->want[k++] = AT_SUMMARY;
			s++;
		}
	}
	*hosts = h;
	return k;
}

/* --- placing
 * ------------------------------------------------------------------ */

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
		if (f->locs[i].nhosts)
			memcpy(f->locs[i].hosts, sv[i].hosts,
			       f->locs[i].nhosts * sizeof(struct sc_host));
	}
}

/* Must more be read? While replicas are left and locations are, or while
 * the best location not decided on could beat a placement. */
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
	return z->fits[order[0]] && z->bound[order[0]] > worst;
}

/* --- the decision
 * ------------------------------------------------------------- */

static void lazy_free(struct lazy *z, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(z->room[i]);
		json_decref(z->hosts[i]);
		json_decref(z->got[i]);
	}
	free(z->level);
	free(z->sum);
	free(z->room);
	free(z->nroom);
	free(z->bound);
	free(z->fits);
	free(z->hosts);
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
		z->want[k++] = AT_SUMMARY;
	}
	return k;
}

int sc_fleet_decide(struct store *s, const struct sc_decide *d,
		    struct sc_fleet *f, struct sc_place *pl, size_t *placed,
		    struct sc_explain *x, struct ec_err *err)
{
	struct lazy z = {.s = s, .d = d, .f = f};
	_cleanup_json_ json_t *ix = NULL;
	json_t *names;
	struct saved *sv;
	size_t n, i, k, nord, nh, ns = SUMMARY_BATCH, nread, *order;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	*placed = 0;
	if (!(names = fleet_location_names(s, err)))
		return -1;
	if (d->req->nnear && !(ix = fleet_index_get(s, err)) &&
	    err->cat != EC_OK) {
		json_decref(names);
		return -1;
	}
	n = json_array_size(names);
	f->json =
	    json_pack("{s:o,s:[],s:[]}", "names", names, "summaries", "hosts");
	f->locs = xcalloc(n + 1, sizeof(*f->locs));
	f->nlocs = n;
	for (i = 0; i < n; i++)
		f->locs[i].name = json_string_value(json_array_get(names, i));
	z.level = xcalloc(n + 1, sizeof(*z.level));
	z.sum = xcalloc(n + 1, sizeof(*z.sum));
	z.room = xcalloc(n + 1, sizeof(*z.room));
	z.nroom = xcalloc(n + 1, sizeof(*z.nroom));
	z.bound = xcalloc(n + 1, sizeof(*z.bound));
	z.fits = xcalloc(n + 1, sizeof(*z.fits));
	z.hosts = xcalloc(n + 1, sizeof(*z.hosts));
	z.got = xcalloc(n + 1, sizeof(*z.got));
	z.errs = xcalloc(n + 1, sizeof(*z.errs));
	z.todo = xcalloc(n + 1, sizeof(*z.todo));
	z.want = xcalloc(n + 1, sizeof(*z.want));
	order = xcalloc(n + 1, sizeof(*order));
	sv = xcalloc(n + 1, sizeof(*sv));
	nh = d->n + 1 < 2 ? 2 : d->n + 1;
	if ((k = start(&z, ix)) && read_round(&z, k, err) < 0)
		goto out;
	for (;;) {
		nord = rank(&z, order);
		if (!(k = pick(&z, order, nord, nh, ns, &nread)))
			break;
		if (read_round(&z, k, err) < 0)
			goto out;
		save(f, sv);
		sc_place(f->locs, f->nlocs, d->req, d->n, d->now, pl, placed,
			 NULL);
		nord = rank(&z, order);
		if (!need_more(&z, order, nord, pl, *placed, d->n))
			break;
		restore(f, sv);
		if (nread) { /* not enough with these hosts: more next time */
			nh *= 2;
			ns *= 2;
		}
	}
	if (x || !k) { /* nothing read in the last round: place now */
		if (k)
			restore(f, sv);
		else
			save(f, sv);
		sc_place(f->locs, f->nlocs, d->req, d->n, d->now, pl, placed,
			 x);
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(sv[i].hosts);
	free(sv);
	free(order);
	lazy_free(&z, n);
	if (rc < 0)
		sc_fleet_release(f);
	return rc;
}
