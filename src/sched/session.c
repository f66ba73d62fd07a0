/* session.c - a scheduling session: place, commit, record, start;
 * rebalance; tick; remove (session.h). */
#include "fleet/remote.h"
#include "fleet/summary.h"
#include "image/store_ref.h"
#include "oci/ref.h"
#include "route/control.h"
#include "sched/app_impl.h"
#include "sched/autoscale.h"
#include "sched/commit.h"
#include "store/cas.h"
#include "util/io.h"
#include "util/json.h"
#include "util/tz.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMMIT_ROUNDS	 30
#define REBALANCE_ROUNDS 3

struct sess {
	const struct sc_config *c;
	const struct sc_spec *spec;
	const char *app;
	const char *digest;
	struct sc_placed *done; /* the app's placements: old, then new */
	size_t ndone;
	struct sc_explain *x;
	json_t *moves;
	json_t *names, *index; /* read with the app record (prefetched) */
	int prefetched;
};

static void warnf(const struct sc_config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warnf(const struct sc_config *c, const char *fmt, ...)
{
	char msg[EC_ERR_MSG_MAX + 256];
	va_list ap;

	if (!c->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->warn(c->warn_arg, msg);
}

static int interrupted(const struct sc_config *c)
{
	return c->interrupted && *c->interrupted;
}

static struct sc_placed *add_placed(struct sess *ss, int replica,
				    const char *instance, const char *host,
				    const char *loc)
{
	struct sc_placed *p;

	ss->done = xrealloc(ss->done, (ss->ndone + 1) * sizeof(*ss->done));
	p = &ss->done[ss->ndone++];
	memset(p, 0, sizeof(*p));
	p->replica = replica;
	p->started = -1;
	snprintf(p->instance, sizeof(p->instance), "%s", instance);
	snprintf(p->host, sizeof(p->host), "%s", host);
	snprintf(p->loc, sizeof(p->loc), "%s", loc);
	return p;
}

static struct sc_placed *add_placed_json(struct sess *ss, const json_t *p)
{
	struct sc_placed *q = add_placed(ss, (int)ec_json_int(p, "replica"),
					 ec_json_str(p, "instance") ?: "",
					 ec_json_str(p, "host") ?: "",
					 ec_json_str(p, "location") ?: "");
	const json_t *g;
	size_t i;

	/* the GPUs the record says it holds (an index in 0..SC_MAX_GPUS) */
	json_array_foreach (json_object_get(p, "gpus"), i, g)
		if (json_is_integer(g) && json_integer_value(g) >= 0 &&
		    json_integer_value(g) < SC_MAX_GPUS &&
		    q->ngpus < SC_MAX_GPUS)
			q->gpus[q->ngpus++] = (int)json_integer_value(g);
	return q;
}

/* The first replica number not used by the app yet. */
static int next_replica(const struct sess *ss)
{
	int m = 0;
	size_t i;

	for (i = 0; i < ss->ndone; i++)
		if (ss->done[i].replica >= m && ss->done[i].replica < INT32_MAX)
			m = ss->done[i].replica + 1;
	return m;
}

static int load_fleet(const struct sess *ss, struct sc_fleet *f,
		      struct ec_err *err)
{
	if (sc_fleet_load(ss->c->store, ss->app, ss->digest, f, err) < 0)
		return -1;
	sc_fleet_apply_tz(f, ss->c->now, tz_offset_minutes);
	return 0;
}

/* Place n replicas from the location summaries and the hosts of the
 * candidate locations (sc_fleet_decide). */
static int decide_lazy(const struct sess *ss, size_t n, struct sc_fleet *f,
		       struct sc_place *pl, size_t *placed,
		       struct sc_explain *x, struct ec_err *err)
{
	struct sc_decide d = {ss->app, ss->digest, &ss->spec->req,
			      n,       ss->c->now, tz_offset_minutes};
	const char **locs = xcalloc(ss->ndone + 1, sizeof(*locs));
	const char **hosts = xcalloc(ss->ndone + 1, sizeof(*hosts));
	size_t i;
	int rc;

	for (i = 0; i < ss->ndone; i++) {
		locs[i] = ss->done[i].loc;
		hosts[i] = ss->done[i].host;
	}
	d.app_locs = locs;
	d.app_hosts = hosts;
	d.napp_locs = ss->ndone;
	/* the names and index read at the start serve every round: a
	 * location added meanwhile waits for the next call */
	d.prefetched = ss->prefetched;
	d.names = ss->names;
	d.index = ss->index;
	rc = sc_fleet_decide(ss->c->store, &d, f, pl, placed, x, err);
	free(locs);
	free(hosts);
	return rc;
}

static int no_capacity(const struct sess *ss, size_t nlocs, size_t want,
		       size_t left, struct ec_err *err)
{
	if (!nlocs)
		return ec_err_set(err, EC_NOTFOUND,
				  "the fleet is empty (edgectl location add, "
				  "host add)");
	return ec_err_set(err, EC_NOTFOUND,
			  "no capacity: %zu of %zu replicas of '%s' placed, "
			  "%zu fit nowhere (--explain says why)",
			  want - left, want, ss->app, left);
}

/* Commit the placements of pl that go to the host of pl[i] (one CAS
 * write); those after i are marked done. *left shrinks by what was
 * committed; *lost is set when the host filled up meanwhile. */
static int commit_group(struct sess *ss, struct sc_fleet *f,
			struct sc_place *pl, size_t n, size_t i, int *base,
			int commit, size_t *left, int *lost, struct ec_err *err)
{
	const struct sc_loc *L = &f->locs[pl[i].loc];
	const struct sc_host *H = &L->hosts[pl[i].host];
	struct sc_alloc *al = xcalloc(n, sizeof(*al));
	size_t g = 0, j;
	int full = 0;

	for (j = i; j < n; j++) {
		if (pl[j].loc != pl[i].loc || pl[j].host != pl[i].host)
			continue;
		al[g].replica = (*base)++;
		snprintf(al[g].instance, sizeof(al[g].instance), "%s-%d",
			 ss->app, al[g].replica);
		g++;
		if (j != i)
			pl[j].loc = (size_t)-1;
	}
	if (commit && sc_commit_host(ss->c->store, L->name, H->name, ss->app,
				     &ss->spec->req, al, g, &full, err) < 0) {
		free(al);
		*base -= (int)g; /* those numbers were not used */
		if (!full && err->cat != EC_CONFLICT)
			return -1;
		ec_err_clear(err);
		*lost = 1;
		return 0;
	}
	for (j = 0; j < g; j++) {
		struct sc_placed *q = add_placed(
		    ss, al[j].replica, al[j].instance, H->name, L->name);
		q->ngpus = al[j].ngpus;
		memcpy(q->gpus, al[j].gpus, sizeof(q->gpus));
	}
	*left -= g;
	free(al);
	return 0;
}

/* Decide and commit `want` replicas; lost races re-read the fleet and
 * decide again. A round that loses no race and places fewer than asked
 * ends with "no capacity": the fleet as read has no room for the rest (a
 * dry run, which commits nothing, would otherwise see the same free room
 * again in every round). */
static int place_rounds(struct sess *ss, size_t want, int commit,
			struct ec_err *err);

/* The summaries of the locations committed to are written once at the
 * end, not after each host (fleet_summary_defer_begin). */
static int place(struct sess *ss, size_t want, int commit, struct ec_err *err)
{
	struct ec_err e;
	int rc;

	fleet_summary_defer_begin();
	rc = place_rounds(ss, want, commit, err);
	if (fleet_summary_defer_end(ss->c->store, &e) < 0)
		warnf(ss->c,
		      "%s (a stale summary; 'edgectl location refresh' "
		      "rebuilds it)",
		      e.msg);
	return rc;
}

static int place_rounds(struct sess *ss, size_t want, int commit,
			struct ec_err *err)
{
	int rounds = 0, base = next_replica(ss);
	size_t left = want;

	while (left > 0) {
		struct sc_fleet f;
		struct sc_place *pl;
		size_t n = 0, i, nlocs;
		int lost = 0, rc = 0;

		if (interrupted(ss->c))
			return ec_err_set(err, EC_INTR,
					  "interrupted: %zu of %zu replicas of "
					  "'%s' placed",
					  want - left, want, ss->app);
		pl = xcalloc(left, sizeof(*pl));
		if (decide_lazy(ss, left, &f, pl, &n,
				rounds == 0 && ss->x->n == 0 ? ss->x : NULL,
				err) < 0) {
			free(pl);
			return -1;
		}
		for (i = 0; i < n && rc == 0; i++) {
			if (pl[i].loc == (size_t)-1)
				continue; /* committed with an earlier one */
			if (commit && interrupted(ss->c))
				rc = ec_err_set(err, EC_INTR,
						"interrupted: %zu of %zu "
						"replicas of '%s' placed",
						want - left, want, ss->app);
			else
				rc = commit_group(ss, &f, pl, n, i, &base,
						  commit, &left, &lost, err);
		}
		nlocs = f.nlocs;
		sc_fleet_release(&f);
		free(pl);
		if (rc < 0)
			return -1;
		if (lost && ++rounds >= COMMIT_ROUNDS)
			return ec_err_set(err, EC_CONFLICT,
					  "lost the race for hosts %d times: "
					  "%zu of %zu replicas placed; run "
					  "schedule again to place the rest",
					  rounds, want - left, want);
		if (!lost && left > 0)
			return no_capacity(ss, nlocs, want, left, err);
	}
	return 0;
}

/* --- starting ----------------------------------------------------------------
 */

struct starts {
	const struct sc_config *c;
	const struct sc_spec *spec;
	const char *image;
	struct sc_placed *p;
};

static void start_one(size_t i, void *arg)
{
	struct starts *s = arg;
	struct sc_placed *p = &s->p[i];
	struct ec_err err;

	ec_err_clear(&err);
	if (interrupted(s->c))
		ec_err_set(&err, EC_INTR, "interrupted before it started");
	else if (s->c->hooks->start(s->c->hooks->arg, s->spec, s->image, p,
				    p->id, &err) == 0) {
		p->started = 1;
		return;
	}
	p->started = 0;
	free(p->error);
	p->error = xstrdup(err.msg);
}

/* Start the n placements of p (in parallel); how many failed. */
static size_t start_all(const struct sc_config *c, const struct sc_spec *spec,
			const char *image, struct sc_placed *p, size_t n)
{
	struct starts s = {c, spec, image, p};
	size_t i, failed = 0;

	fleet_fanout(n, c->parallel ? c->parallel : 8, start_one, &s);
	for (i = 0; i < n; i++)
		failed += p[i].started != 1;
	return failed;
}

/* The spec of an app record (validated again: records outlive versions)
 * and its image "repo@digest". */
static int record_spec(const json_t *rec, struct sc_spec *spec, char **image,
		       struct ec_err *err)
{
	_cleanup_json_ json_t *copy =
	    json_deep_copy(json_object_get(rec, "spec"));
	struct img_ref r;

	*image = NULL;
	if (sc_spec_parse(copy, spec, err) < 0)
		return ec_err_prefix(err, "app '%s'",
				     ec_json_str(rec, "name") ?: "?");
	if (img_ref_parse(spec->image, &r, err) < 0)
		return -1;
	*image =
	    xasprintf("%s@%s", r.repo ?: "", ec_json_str(rec, "digest") ?: "");
	img_ref_release(&r);
	return 0;
}

/* --- rebalance
 * ---------------------------------------------------------------- Make room
 * for one replica in a location by moving smaller GPU tenants
 * (sc_rebalance_plan): commit each moved allocation on its new host by CAS
 * (and start the new instance there, for apps that run), then point the
 * app records at the new hosts, stop the old instances and remove their
 * allocations; the caller then places the replica as usual. */

static int move_placement(json_t *rec, void *ctx)
{
	const struct sc_placed *m = ctx;

	json_object_set_new(
	    rec, "placements",
	    sc_app_merge(json_object_get(rec, "placements"), m, 1));
	json_object_set_new(rec, "updated", json_integer(time(NULL)));
	return 0;
}

/* Does the app run (a record without no_start)? Its record in *rec. */
static int app_runs(struct store *s, const char *app, json_t **rec)
{
	struct ec_err e;

	ec_err_clear(&e);
	*rec = sc_app_get(s, app, &e);
	return *rec && !json_is_true(json_object_get(*rec, "no_start"));
}

/* Start the moved instance on its new host. */
static int start_moved(struct sess *ss, const json_t *rec,
		       const struct sc_tenant *t, const char *host,
		       const char *loc, struct ec_err *err)
{
	struct sc_spec spec;
	struct sc_placed p = {.replica = t->replica, .started = -1};
	_cleanup_free_ char *image = NULL;
	int rc;

	snprintf(p.instance, sizeof(p.instance), "%s", t->instance);
	snprintf(p.host, sizeof(p.host), "%s", host);
	snprintf(p.loc, sizeof(p.loc), "%s", loc);
	if (record_spec(rec, &spec, &image, err) < 0) {
		sc_spec_release(&spec);
		return -1;
	}
	rc =
	    ss->c->hooks->start(ss->c->hooks->arg, &spec, image, &p, p.id, err);
	sc_spec_release(&spec);
	if (rc < 0)
		return ec_err_prefix(err, "start %s on %s", t->instance, host);
	return 0;
}

/* Stop the old instance (when the app runs) and free its allocation. */
static void stop_moved(struct sess *ss, const struct sc_tenant *t, int runs,
		       const char *host, const char *loc)
{
	struct ec_err e;

	ec_err_clear(&e);
	if (runs)
		ss->c->hooks->stop(ss->c->hooks->arg, host, t->instance, &e);
	if (e.cat == EC_OK)
		sc_release_replica(ss->c->store, loc, host, t->app, t->replica,
				   NULL, &e);
	if (e.cat != EC_OK)
		warnf(ss->c, "rebalance: old %s on %s: %s", t->instance, host,
		      e.msg);
}

/* Undo the first n committed moves (their new allocations). */
static void undo_moves(struct sess *ss, const struct sc_loc *l,
		       const struct sc_tenant *t, const struct sc_rebalance *p,
		       size_t n)
{
	struct ec_err e;

	while (n-- > 0) {
		const struct sc_tenant *tt = &t[p->moves[n].tenant];
		const char *to = l->hosts[p->moves[n].to].name;
		ec_err_clear(&e);
		if (sc_release_replica(ss->c->store, l->name, to, tt->app,
				       tt->replica, NULL, &e) < 0)
			warnf(ss->c, "rebalance: undo %s on %s: %s",
			      tt->instance, to, e.msg);
	}
}

/* Point the moved tenants' records at their new hosts, stop the old. */
static void finish_moves(struct sess *ss, const struct sc_loc *l,
			 const struct sc_tenant *t,
			 const struct sc_rebalance *p, json_t **recs,
			 const int *runs)
{
	size_t i;

	for (i = 0; i < p->nmoves; i++) {
		const struct sc_tenant *tt = &t[p->moves[i].tenant];
		struct sc_placed m = {.replica = tt->replica};
		_cleanup_free_ char *key = sc_app_key(tt->app);
		struct ec_err e;

		snprintf(m.host, sizeof(m.host), "%s",
			 l->hosts[p->moves[i].to].name);
		snprintf(m.loc, sizeof(m.loc), "%s", l->name);
		ec_err_clear(&e);
		if (recs[i] &&
		    store_json_update(ss->c->store, key, 16u << 20, 0, key,
				      move_placement, &m, &e) < 0)
			warnf(ss->c, "rebalance: record of '%s': %s", tt->app,
			      e.msg);
		stop_moved(ss, tt, runs[i] && !ss->c->no_start,
			   l->hosts[tt->host].name, l->name);
	}
}

/* Carry out plan p in location l: 0, or -1 (*retry set when a host
 * filled up meanwhile: everything done was undone). */
static int do_moves(struct sess *ss, const struct sc_loc *l,
		    const struct sc_tenant *t, const struct sc_rebalance *p,
		    int *retry, struct ec_err *err)
{
	json_t *recs[SC_REBALANCE_MAX_MOVES] = {0};
	int runs[SC_REBALANCE_MAX_MOVES] = {0};
	size_t i, done = 0;
	int rc = 0;

	*retry = 0;
	for (i = 0; i < p->nmoves && rc == 0; i++) {
		const struct sc_tenant *tt = &t[p->moves[i].tenant];
		const char *to = l->hosts[p->moves[i].to].name;
		struct sc_alloc al = {.replica = tt->replica};
		int full = 0;

		snprintf(al.instance, sizeof(al.instance), "%s", tt->instance);
		runs[i] = app_runs(ss->c->store, tt->app, &recs[i]);
		if (sc_commit_host(ss->c->store, l->name, to, tt->app, &tt->req,
				   &al, 1, &full, err) < 0) {
			*retry = full || err->cat == EC_CONFLICT;
			rc = -1;
			break;
		}
		done++; /* committed: undone on a failure from here on */
		if (runs[i] && !ss->c->no_start &&
		    start_moved(ss, recs[i], tt, to, l->name, err) < 0)
			rc = -1;
	}
	if (rc < 0)
		/* (a started new instance is left to tick's view: its
		 * allocation goes, the old one keeps running) */
		undo_moves(ss, l, t, p, done);
	else
		finish_moves(ss, l, t, p, recs, runs);
	for (i = 0; i < SC_REBALANCE_MAX_MOVES; i++)
		json_decref(recs[i]);
	return rc;
}

static void report_moves(struct sess *ss, const struct sc_loc *l,
			 const struct sc_tenant *t,
			 const struct sc_rebalance *p)
{
	size_t i;

	for (i = 0; i < p->nmoves; i++) {
		const struct sc_tenant *tt = &t[p->moves[i].tenant];

		json_array_append_new(
		    ss->moves,
		    json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:I}", "app", tt->app,
			      "instance", tt->instance, "replica", tt->replica,
			      "location", l->name, "from",
			      l->hosts[tt->host].name, "to",
			      l->hosts[p->moves[i].to].name, "gpu_memory_bytes",
			      (json_int_t)tt->req.gpu_mem));
	}
}

static size_t find_loc(const struct sc_fleet *f, const char *loc)
{
	size_t li;

	for (li = 0; li < f->nlocs && strcmp(f->locs[li].name, loc); li++)
		;
	return li;
}

/* One try at making room in location loc; *retry when a host filled up
 * meanwhile. With commit 0 (dry run) the plan is only reported, and the
 * replica's planned place goes to ss->done. */
static int rebalance_once(struct sess *ss, const char *loc, int commit,
			  int *retry, struct ec_err *err)
{
	struct sc_fleet f;
	struct sc_tenant *t = NULL;
	struct sc_rebalance p;
	struct sc_place pl;
	size_t li, nt = 0, n = 0;
	int rc = 0;

	*retry = 0;
	if (load_fleet(ss, &f, err) < 0)
		return -1;
	if ((li = find_loc(&f, loc)) == f.nlocs) {
		sc_fleet_release(&f);
		return ec_err_set(err, EC_NOTFOUND,
				  "rebalance: no location '%s' (edgectl "
				  "location ls)",
				  loc);
	}
	/* fits somewhere as is: nothing to move */
	if (sc_place(f.locs, f.nlocs, &ss->spec->req, 1, ss->c->now, &pl, &n,
		     NULL) == 0 &&
	    n == 1) {
		sc_fleet_release(&f);
		return 0;
	}
	sc_fleet_tenants(&f, li, ss->app, &t, &nt);
	if (!sc_rebalance_plan(&f.locs[li], &ss->spec->req, t, nt, &p)) {
		rc = ec_err_set(err, EC_NOTFOUND,
				"rebalance '%s': no capacity for '%s', and "
				"moving up to %d smaller GPU tenants makes "
				"none",
				loc, ss->app, SC_REBALANCE_MAX_MOVES);
	} else if (p.nmoves) {
		report_moves(ss, &f.locs[li], t, &p);
		if (!commit) {
			int rep = next_replica(ss);
			char inst[96];
			snprintf(inst, sizeof(inst), "%s-%d", ss->app, rep);
			add_placed(ss, rep, inst, f.locs[li].hosts[p.host].name,
				   loc);
		} else {
			rc = do_moves(ss, &f.locs[li], t, &p, retry, err);
		}
	}
	free(t);
	sc_fleet_release(&f);
	return rc;
}

static int rebalance(struct sess *ss, const char *loc, int commit,
		     struct ec_err *err)
{
	int round, retry;

	for (round = 0; round < REBALANCE_ROUNDS; round++) {
		if (interrupted(ss->c))
			return ec_err_set(err, EC_INTR, "interrupted");
		if (rebalance_once(ss, loc, commit, &retry, err) == 0)
			return 0;
		if (!retry)
			return -1;
		json_array_clear(ss->moves);
		ec_err_clear(err);
	}
	return ec_err_set(err, EC_CONFLICT,
			  "rebalance '%s': hosts kept filling up while moving "
			  "tenants (%d tries); run it again",
			  loc, REBALANCE_ROUNDS);
}

/* Rebalanced placement: one replica at a time, make room, then place. */
static int place_rebalanced(struct sess *ss, size_t want, struct ec_err *err)
{
	const struct sc_config *c = ss->c;
	size_t i, before;
	int rc = 0;

	for (i = 0; i < want && rc == 0; i++) {
		before = ss->ndone;
		rc = rebalance(ss, c->rebalance, !c->dry_run, err);
		if (rc == 0 && c->dry_run) {
			/* the plan is for the next replica only */
			if (ss->ndone == before)
				rc = place(ss, want, 0, err);
			break;
		}
		if (rc == 0)
			rc = place(ss, 1, 1, err);
	}
	return rc;
}

/* --- schedule
 * ----------------------------------------------------------------- */

void sc_result_release(struct sc_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		free(r->placed[i].error);
	free(r->placed);
	free(r->repo);
	json_decref(r->moves);
	json_decref(r->route);
	sc_explain_release(&r->x);
	memset(r, 0, sizeof(*r));
}

/* The route of an app with a vip: its backends become the app's running
 * instances (route_add: created with the lowest free VIP id, or updated).
 * Routers apply it at their next `route sync`. A failure is a warning:
 * the placements stand. */
static json_t *route_update(const struct sc_config *c,
			    const struct sc_spec *spec)
{
	struct route_req q = {.app = spec->name,
			      .check = spec->health_type,
			      .path = spec->health_path,
			      .ready = spec->health_ready,
			      .load = json_object_get(spec->json, "load")};
	struct ec_err err;
	json_t *r;

	if (!spec->vip || c->dry_run)
		return NULL;
	ec_err_clear(&err);
	if (!(r = route_add(c->store, spec->vip, &q, &err)))
		warnf(c, "route of '%s' (%s): %s", spec->name, spec->vip,
		      err.msg);
	return r;
}

/* Keep the new placements (from `have` on) in res. */
static void take_new(struct sess *ss, size_t have, struct sc_result *res)
{
	res->n = ss->ndone - have;
	res->placed = xcalloc(res->n + 1, sizeof(*res->placed));
	memcpy(res->placed, ss->done + have, res->n * sizeof(*res->placed));
}

/* Start the new placements; EC_REMOTE when some did not start. */
static int start_new(const struct sc_config *c, const struct sc_spec *spec,
		     struct sc_result *res, struct ec_err *err)
{
	_cleanup_free_ char *image = xasprintf("%s@%s", res->repo, res->digest);

	res->start_failed = start_all(c, spec, image, res->placed, res->n);
	if (!res->start_failed)
		return 0;
	if (interrupted(c))
		return ec_err_set(err, EC_INTR,
				  "interrupted: %zu instances not started "
				  "(placements are kept; schedule --tick "
				  "starts them)",
				  res->start_failed);
	return ec_err_set(err, EC_REMOTE,
			  "some instances did not start (placements are "
			  "kept; schedule --tick retries)");
}

/* After host commits, the app record is what makes the placements real:
 * a write that failed for the network with no answer at all (the store
 * restarting, say) is tried again for up to RECORD_PATIENCE_MS, one try a
 * second, before the commits are taken back. A store that answers (5xx)
 * had its retries already. */
#define RECORD_PATIENCE_MS 15000

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run op until it succeeds, fails for something else than the network,
 * or RECORD_PATIENCE_MS pass. */
#define PATIENTLY(c, op, err)                                                  \
	({                                                                     \
		int64_t t_end_ = mono_ms() + RECORD_PATIENCE_MS;               \
		int rc_;                                                       \
		while ((rc_ = (op)) < 0 && (err)->cat == EC_REMOTE &&          \
		       !(err)->http_status && !interrupted(c) &&               \
		       mono_ms() < t_end_) {                                   \
			ec_err_clear(err);                                     \
			io_sleep_ms(1000);                                     \
		}                                                              \
		rc_;                                                           \
	})

/* The app record could not be written after the n placements of p were
 * committed on their hosts: take those allocations back, so that a re-run
 * (which places what the record lacks) does not place them twice. A
 * release that fails too leaves an allocation no record holds: err then
 * names them. */
static void unrecord(const struct sc_config *c, const char *app,
		     const struct sc_placed *p, size_t n, struct ec_err *err)
{
	struct strbuf left = STRBUF_INIT;
	struct ec_err e;
	size_t i, len;

	for (i = 0; i < n; i++) {
		ec_err_clear(&e);
		if (PATIENTLY(c,
			      sc_release_replica(c->store, p[i].loc, p[i].host,
						 app, p[i].replica, NULL, &e),
			      &e) == 0)
			continue;
		sb_addf(&left, "%s%s on %s", left.len ? ", " : "",
			p[i].instance, p[i].host);
	}
	len = strlen(err->msg);
	if (left.len)
		snprintf(err->msg + len, sizeof(err->msg) - len,
			 "; the allocations of %s could not be taken back "
			 "either: they hold capacity no app record names",
			 left.buf);
	else
		snprintf(err->msg + len, sizeof(err->msg) - len,
			 " (nothing placed: the host allocations were taken "
			 "back; run schedule again)");
	sb_release(&left);
}

/* Decide (and commit) the missing replicas: 0, or -1 with err. */
static int decide(struct sess *ss, size_t want, struct ec_err *err)
{
	if (!want)
		return 0;
	if (ss->c->rebalance)
		return place_rebalanced(ss, want, err);
	return place(ss, want, !ss->c->dry_run, err);
}

/* The reads a call starts with, at once (one round trip, not four): the
 * image's digest, the app record, and for the decision the location
 * names (LIST) and the index. */
struct first {
	const struct sc_config *c;
	const struct sc_spec *spec;
	struct sc_result *res;
	json_t *old, *names, *index;
	struct ec_err e[4];
};

static void first_one(size_t i, void *arg)
{
	struct first *r = arg;
	struct store *s = r->c->store;

	ec_err_clear(&r->e[i]);
	switch (i) {
	case 0:
		image_store_digest(s, r->spec->image, &r->res->repo,
				   r->res->digest, &r->e[i]);
		break;
	case 1:
		r->old = sc_app_get(s, r->spec->name, &r->e[i]);
		break;
	case 2:
		r->names = fleet_location_names(s, &r->e[i]);
		break;
	case 3:
		if (r->spec->req.nnear)
			r->index = fleet_index_get(s, &r->e[i]);
		break;
	}
}

static int first_reads(struct sess *ss, struct sc_result *res, json_t **old,
		       struct ec_err *err)
{
	struct first r = {.c = ss->c, .spec = ss->spec, .res = res};
	/* rebalance reads the whole location its own way */
	size_t n = ss->c->rebalance ? 2 : 4;

	fleet_fanout(n, (int)n, first_one, &r);
	*old = r.old;
	if (n == 4 && r.names && r.e[3].cat == EC_OK) {
		ss->prefetched = 1;
		ss->names = r.names;
		ss->index = r.index;
	} else {
		json_decref(r.names);
		json_decref(r.index);
	}
	if (r.e[0].cat != EC_OK) {
		*err = r.e[0];
		return -1;
	}
	if (!r.old && r.e[1].cat != EC_NOTFOUND) {
		*err = r.e[1];
		return -1;
	}
	return 0;
}

int sc_schedule(const struct sc_config *c, const struct sc_spec *spec,
		struct sc_result *res, struct ec_err *err)
{
	struct sess ss = {.c = c, .spec = spec, .app = spec->name};
	_cleanup_json_ json_t *old = NULL, *rec = NULL;
	struct ec_err perr;
	const json_t *p;
	size_t i, have, want;
	int rc;

	memset(res, 0, sizeof(*res));
	ec_err_clear(&perr);
	ss.x = &res->x;
	ss.digest = res->digest;
	if (c->rebalance)
		ss.moves = res->moves = json_array();
	/* an app that exists keeps its placements; only missing replicas
	 * are placed */
	if (first_reads(&ss, res, &old, err) < 0) {
		json_decref(ss.names);
		json_decref(ss.index);
		return -1;
	}
	ec_err_clear(err);
	json_array_foreach (json_object_get(old, "placements"), i, p)
		add_placed_json(&ss, p);
	have = ss.ndone;
	want =
	    (size_t)spec->replicas > have ? (size_t)spec->replicas - have : 0;
	rc = decide(&ss, want, err);
	if (rc < 0 && ss.ndone == have && spec->req.policy == SC_OFFPEAK &&
	    !c->rebalance && err->cat == EC_NOTFOUND && !c->dry_run) {
		/* off-peak and nowhere eligible now: the job waits in the
		 * queue for a later tick */
		snprintf(res->reason, sizeof(res->reason), "%s", err->msg);
		ec_err_clear(err);
		free(ss.done);
		json_decref(ss.names);
		json_decref(ss.index);
		if (sc_queue_put(c->store, ss.app, spec->json, res->reason,
				 c->no_start, err) < 0)
			return -1;
		res->queued = 1;
		return 0;
	}
	if (rc < 0 && ss.ndone == have)
		goto out;
	if (rc < 0)
		perr = *err; /* partly placed: the rest is recorded first */
	ec_err_clear(err);
	take_new(&ss, have, res);
	if (!c->dry_run && res->n) {
		rec =
		    sc_app_record(ss.app, spec->json, res->digest,
				  json_object_get(old, "placements"),
				  res->placed, res->n, c->no_start, time(NULL));
		if (PATIENTLY(c, sc_app_put(c->store, rec, err), err) < 0) {
			unrecord(c, ss.app, res->placed, res->n, err);
			res->n = 0;
			rc = -1;
			goto out;
		}
	}
	if (!c->dry_run && !c->no_start && res->n && perr.cat != EC_INTR &&
	    start_new(c, spec, res, err) < 0 && rc == 0)
		rc = -1;
	if (perr.cat != EC_INTR)
		res->route = route_update(c, spec);
	if (perr.cat != EC_OK)
		*err = perr;
out:
	free(ss.done);
	json_decref(ss.names);
	json_decref(ss.index);
	return rc < 0 ? -1 : 0;
}

/* --- tick
 * --------------------------------------------------------------------- */

/* Try one queued job again; its entry goes when it is placed. */
static void tick_one_queued(const struct sc_config *c, const char *key,
			    json_t *report)
{
	struct sc_config qc = *c;
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *j = NULL, *spec = NULL, *pl = NULL;
	struct sc_spec s;
	struct sc_result res;
	struct ec_err err;
	size_t n, i;

	ec_err_clear(&err);
	if (store_get_buf(c->store, key, 1 << 20, &buf, &n, NULL, &err) < 0 ||
	    !(j = ec_json_parse(buf, n, key, &err)))
		return;
	qc.no_start = json_is_true(json_object_get(j, "no_start"));
	qc.dry_run = qc.explain = 0;
	qc.rebalance = NULL;
	spec = json_deep_copy(json_object_get(j, "spec"));
	if (sc_spec_parse(spec, &s, &err) < 0) {
		warnf(c, "queue: %s: %s", key, err.msg);
		sc_spec_release(&s);
		return;
	}
	if (sc_schedule(&qc, &s, &res, &err) == 0 && !res.queued) {
		pl = json_array();
		for (i = 0; i < res.n; i++)
			json_array_append_new(pl,
					      sc_placed_json(&res.placed[i]));
		store_delete(c->store, key, &err);
		json_array_append_new(
		    report, json_pack("{s:s,s:s,s:O}", "app", s.name, "action",
				      "placed", "placements", pl));
	}
	sc_result_release(&res);
	sc_spec_release(&s);
}

static void tick_queue(const struct sc_config *c, json_t *report)
{
	struct ec_err err;
	json_t *keys, *k;
	size_t i;

	ec_err_clear(&err);
	if (!(keys = sc_queue_keys(c->store, &err))) {
		warnf(c, "queue: %s", err.msg);
		return;
	}
	json_array_foreach (keys, i, k) {
		if (interrupted(c))
			break;
		tick_one_queued(c, json_string_value(k), report);
	}
	json_decref(keys);
}

/* The instances on host (cached in ps: host -> array, or the error). */
static const json_t *host_ps(const struct sc_config *c, json_t *ps,
			     const char *host, const char **why)
{
	json_t *v = json_object_get(ps, host);
	struct ec_err err;

	if (!v) {
		ec_err_clear(&err);
		v = c->hooks->list(c->hooks->arg, host, &err);
		if (!v)
			v = json_string(err.msg[0] ? err.msg : "ps failed");
		json_object_set_new(ps, host, v);
	}
	*why = json_string_value(v);
	return json_is_array(v) ? v : NULL;
}

/* The placements of rec whose instance is not running; unreachable
 * hosts are reported, hosts that are down (tick_hosts) skipped: their
 * replicas are re-placed elsewhere (tick_app). */
static void find_dead(const struct sc_config *c, const json_t *rec,
		      const json_t *down, struct sess *dead, json_t *ps,
		      json_t *report)
{
	const char *app = ec_json_str(rec, "name");
	const json_t *p;
	size_t i;

	json_array_foreach (json_object_get(rec, "placements"), i, p) {
		const char *host = ec_json_str(p, "host");
		const char *inst = ec_json_str(p, "instance");
		const char *why = NULL;
		const json_t *list;
		struct ec_err err;

		if (!host || !inst || json_object_get(down, host))
			continue;
		if (!(list = host_ps(c, ps, host, &why))) {
			json_array_append_new(
			    report, json_pack("{s:s,s:s,s:s}", "app", app,
					      "instance", inst, "error", why));
			continue;
		}
		if (sc_instance_running(list, inst))
			continue;
		ec_err_clear(&err);
		c->hooks->stop(c->hooks->arg, host, inst, &err);
		add_placed_json(dead, p);
	}
}

/* --- tick: hosts that stop answering, scaling (autoscale.h) --------------
 * A host that does not answer `ps` for AS_HOST_MISSES_TO_DOWN ticks in a
 * row is marked down in its object (CAS): placement skips it, routes drop
 * the instances on it, and the tick re-places its replicas elsewhere
 * under the app's constraints. The replica count follows the load the
 * app's route recorded (as_decide); the state of that decision lives in
 * the app record's "autoscale". */

struct host_mark {
	int answered, down, misses;
};

static int host_mark_cb(json_t *h, void *ctx)
{
	struct host_mark *m = ctx;
	int misses = (int)ec_json_int(h, "misses");
	int by_tick = !strcmp(ec_json_str(h, "down_by") ?: "", "tick");

	if (as_host_down(m->answered, &misses) &&
	    !json_is_true(json_object_get(h, "down"))) {
		json_object_set_new(h, "down", json_true());
		json_object_set_new(h, "down_by", json_string("tick"));
	} else if (m->answered && by_tick) {
		json_object_del(h, "down");
		json_object_del(h, "down_by");
	}
	json_object_set_new(h, "misses", json_integer(misses));
	m->misses = misses;
	m->down = json_is_true(json_object_get(h, "down"));
	return 0;
}

static int placed_on(const json_t *apps, const char *host)
{
	const json_t *a, *p;
	size_t i, k;

	json_array_foreach (apps, i, a)
		json_array_foreach (json_object_get(a, "placements"), k, p)
			if (!json_is_true(json_object_get(a, "no_start")) &&
			    !strcmp(ec_json_str(p, "host") ?: "", host))
				return 1;
	return 0;
}

/* Ask every host that runs instances of an app (or that a tick marked
 * down) whether it answers, record it, and fill down {host: true} with
 * the hosts that are down. A row goes to report when a host goes down or
 * comes back (a single miss is reported by find_dead, per instance). */
static void tick_hosts(const struct sc_config *c, const json_t *apps,
		       json_t *ps, json_t *down, json_t *report)
{
	_cleanup_json_ json_t *hosts = NULL;
	const json_t *h;
	struct ec_err err;
	size_t i;

	ec_err_clear(&err);
	if (!(hosts = fleet_hosts(c->store, NULL, &err))) {
		warnf(c, "tick: hosts: %s", err.msg);
		return;
	}
	json_array_foreach (hosts, i, h) {
		const char *name = ec_json_str(h, "name") ?: "";
		const char *why = NULL;
		struct host_mark m = {.misses = (int)ec_json_int(h, "misses")};
		int was = json_is_true(json_object_get(h, "down"));
		int by_tick = !strcmp(ec_json_str(h, "down_by") ?: "", "tick");

		if (!placed_on(apps, name) && !by_tick) {
			if (was)
				json_object_set_new(down, name, json_true());
			continue;
		}
		m.answered = host_ps(c, ps, name, &why) != NULL;
		m.down = was;
		if (m.answered && !m.misses && !by_tick) {
			if (was)
				json_object_set_new(down, name, json_true());
			continue; /* nothing new to record */
		}
		ec_err_clear(&err);
		if (c->dry_run) {
			int mm = m.misses, dn = as_host_down(m.answered, &mm);
			m.down = m.answered && by_tick ? 0 : was || dn;
			m.misses = mm;
		} else if (fleet_host_update(
			       c->store, ec_json_str(h, "location") ?: "", name,
			       0, host_mark_cb, &m, &err) < 0) {
			warnf(c, "tick: host %s: %s", name, err.msg);
			m.down = was;
		}
		if (m.down)
			json_object_set_new(down, name, json_true());
		if (m.down == was)
			continue;
		json_array_append_new(
		    report,
		    json_pack("{s:s,s:s,s:i,s:s?}", "host", name, "action",
			      m.down ? "host-down" : "host-back", "misses",
			      m.misses, "error", m.answered ? NULL : why));
	}
}

/* The app's load as its route recorded it (route check), *n backends
 * that reported one, and where it comes from into near ("" when
 * unknown). */
static double app_load(const struct sc_config *c, const struct sc_spec *spec,
		       size_t *n, char near[64])
{
	_cleanup_json_ json_t *r = NULL;
	struct ec_err err;

	*n = 0;
	near[0] = '\0';
	ec_err_clear(&err);
	if (!spec->vip || !(r = route_object(c->store, spec->vip_addr, &err)))
		return 0;
	/* where the clients are (routers' demand), else where it is served */
	snprintf(near, 64, "%s",
		 route_demand_location(r, store_now(c->store))
		     ?: as_busiest_location(r) ?: "");
	return as_route_load(r, n);
}

struct rec_edit {
	const json_t *drop; /* {instance: true} placements to remove */
	json_t *state;	    /* the new "autoscale" (borrowed) */
};

static int rec_edit_cb(json_t *rec, void *ctx)
{
	struct rec_edit *e = ctx;
	json_t *pl = json_object_get(rec, "placements"), *keep = json_array();
	json_t *p;
	size_t i;

	json_array_foreach (pl, i, p)
		if (!json_object_get(e->drop, ec_json_str(p, "instance") ?: ""))
			json_array_append(keep, p);
	json_object_set_new(rec, "placements", keep);
	if (e->state)
		json_object_set(rec, "autoscale", e->state);
	return 0;
}

static int rec_edit(const struct sc_config *c, const char *app,
		    struct rec_edit *e, struct ec_err *err)
{
	_cleanup_free_ char *key = sc_app_key(app);
	_cleanup_free_ char *what = xasprintf("app '%s'", app);

	return store_json_update(c->store, key, 1 << 20, 0, what, rec_edit_cb,
				 e, err);
}

static int cmp_replica_desc(const void *x, const void *y)
{
	int a = (int)ec_json_int(*(json_t *const *)x, "replica");
	int b = (int)ec_json_int(*(json_t *const *)y, "replica");

	return (b > a) - (b < a);
}

/* Placements of rec to remove: those on down hosts (lost), then, to come
 * down to `want`, the highest replicas of the others (stopped, their
 * allocation freed). Rows go to report. */
static void pick_drops(const struct sc_config *c, const json_t *rec,
		       const json_t *down, int want, json_t *drop,
		       json_t *report)
{
	const char *app = ec_json_str(rec, "name") ?: "";
	const json_t *pl = json_object_get(rec, "placements"), *p;
	size_t i, n = 0, live = 0;
	const json_t **v = xcalloc(json_array_size(pl) + 1, sizeof(*v));
	struct ec_err err;

	json_array_foreach (pl, i, p) {
		const char *host = ec_json_str(p, "host") ?: "";
		if (!json_object_get(down, host)) {
			v[n++] = p;
			continue;
		}
		json_object_set_new(drop, ec_json_str(p, "instance") ?: "",
				    json_true());
		json_array_append_new(
		    report,
		    json_pack("{s:s,s:O,s:s,s:s}", "app", app, "instance",
			      json_object_get(p, "instance"), "host", host,
			      "action", "lost"));
	}
	qsort(v, n, sizeof(*v), cmp_replica_desc);
	live = n;
	for (i = 0; i < n && live > (size_t)want; i++, live--) {
		const char *host = ec_json_str(v[i], "host") ?: "";
		const char *inst = ec_json_str(v[i], "instance") ?: "";
		json_object_set_new(drop, inst, json_true());
		ec_err_clear(&err);
		if (!c->dry_run &&
		    c->hooks->stop(c->hooks->arg, host, inst, &err) < 0)
			warnf(c, "%s: %s", inst, err.msg);
		json_array_append_new(report,
				      json_pack("{s:s,s:s,s:s,s:s}", "app", app,
						"instance", inst, "host", host,
						"action", "removed"));
	}
	free(v);
}

/* Free the allocations of the dropped placements; the instance records
 * on down hosts are marked lost (route_instances_lost). */
static void release_drops(const struct sc_config *c, const json_t *rec,
			  const json_t *drop, const json_t *down)
{
	const char *app = ec_json_str(rec, "name") ?: "";
	const json_t *p;
	struct ec_err err;
	size_t i;

	json_array_foreach (json_object_get(rec, "placements"), i, p) {
		if (!json_object_get(drop, ec_json_str(p, "instance") ?: ""))
			continue;
		ec_err_clear(&err);
		if (sc_release_replica(
			c->store, ec_json_str(p, "location") ?: "",
			ec_json_str(p, "host") ?: "", app,
			(int)ec_json_int(p, "replica"), NULL, &err) < 0 &&
		    err.cat != EC_NOTFOUND)
			warnf(c, "%s: %s", ec_json_str(p, "instance"), err.msg);
		ec_err_clear(&err);
		if (json_object_get(down, ec_json_str(p, "host") ?: "") &&
		    route_instances_lost(c->store, app, ec_json_str(p, "host"),
					 &err) < 0)
			warnf(c, "%s: %s", ec_json_str(p, "instance"), err.msg);
	}
}

/* Place (and start) replicas up to `want` with the app's constraints,
 * near `near` when set (a location: where the load comes from); a row
 * {app, action: "placed", placements, near} goes to report. */
static void tick_place(const struct sc_config *c, const struct sc_spec *spec,
		       int want, const char *near, json_t *report)
{
	struct sc_config qc = *c;
	struct sc_spec s2 = *spec;
	struct sc_near n = {.weight = 1, .loc = near};
	struct sc_result res;
	struct ec_err err;
	json_t *pl = json_array();
	size_t i;

	qc.rebalance = NULL;
	s2.replicas = want;
	if (near) {
		s2.req.near = &n;
		s2.req.nnear = 1;
	}
	ec_err_clear(&err);
	if (sc_schedule(&qc, &s2, &res, &err) < 0 && !res.n) {
		json_array_append_new(
		    report, json_pack("{s:s,s:s,s:s}", "app", spec->name,
				      "action", "placed", "error", err.msg));
		json_decref(pl);
		sc_result_release(&res);
		return;
	}
	for (i = 0; i < res.n; i++)
		json_array_append_new(pl, sc_placed_json(&res.placed[i]));
	json_array_append_new(
	    report,
	    json_pack("{s:s,s:s,s:o,s:s?,s:o*}", "app", spec->name, "action",
		      "placed", "placements", pl, "near", near, "explain",
		      c->explain ? sc_explain_json(&res.x) : NULL));
	sc_result_release(&res);
}

/* Re-place what down hosts lost and follow the load: the decision, then
 * the record (CAS), then the new replicas. 1 when the app changed. */
static int tick_scale(const struct sc_config *c, const json_t *rec,
		      const struct sc_spec *spec, const json_t *down,
		      json_t *report)
{
	struct as_policy pol = {spec->min_replicas, spec->max_replicas,
				spec->load_target,  spec->up_after,
				spec->down_after,   spec->cooldown};
	struct as_state st, st0;
	_cleanup_json_ json_t *drop = json_object(), *state = NULL;
	struct rec_edit e = {drop, NULL};
	size_t nload, have;
	char near[64];
	double load = app_load(c, spec, &nload, near);
	int n = (int)json_array_size(json_object_get(rec, "placements"));
	int want, scaled;
	char why[200];
	struct ec_err err;

	as_state_get(json_object_get(rec, "autoscale"), &st);
	st0 = st;
	want =
	    as_decide(&pol, n, load, nload > 0, c->now, &st, why, sizeof(why));
	scaled = want != n;
	if (scaled || spec->load_target > 0)
		json_array_append_new(
		    report,
		    json_pack("{s:s,s:s,s:i,s:i,s:f,s:i,s:s}", "app",
			      spec->name, "action", scaled ? "scale" : "steady",
			      "from", n, "to", want, "load", load, "measured",
			      (int)nload, "why", why));
	pick_drops(c, rec, down, want, drop, report);
	have = (size_t)n - json_object_size(drop);
	if (c->dry_run || (!json_object_size(drop) && (size_t)want <= have &&
			   !memcmp(&st, &st0, sizeof(st))))
		return 0; /* nothing to record */
	if (json_object_size(drop))
		release_drops(c, rec, drop, down);
	e.state = state = as_state_json(&st);
	ec_err_clear(&err);
	if (rec_edit(c, spec->name, &e, &err) < 0) {
		warnf(c, "tick: %s", err.msg);
		return 0;
	}
	if ((size_t)want > have) {
		/* scaling up: near the load; replacing: as placed first */
		tick_place(c, spec, want, want > n && near[0] ? near : NULL,
			   report);
		json_object_clear(drop);
		ec_err_clear(&err);
		if (rec_edit(c, spec->name, &e, &err) < 0) /* the state again */
			warnf(c, "tick: %s", err.msg);
		return 0; /* sc_schedule updated the route */
	}
	return json_object_size(drop) > 0;
}

/* as_lost_gc for route_instances_gc */
static int lost_decide(int host_down, int64_t lost_at, time_t now)
{
	switch (as_lost_gc(host_down, lost_at, now)) {
	case AS_LOST_STOP:
		return ROUTE_GC_STOP;
	case AS_LOST_FORGET:
		return ROUTE_GC_FORGET;
	default:
		return ROUTE_GC_KEEP;
	}
}

/* Lost instance records of the app: stopped and dropped once their host
 * answers again, forgotten after AS_LOST_TTL while it stays down. */
static void tick_gc(const struct sc_config *c, const char *app,
		    const json_t *down, json_t *report)
{
	const struct route_gc_hooks h = {lost_decide, c->hooks->stop,
					 c->hooks->arg};
	json_t *rows, *r;
	struct ec_err err;
	size_t i;

	ec_err_clear(&err);
	if (c->dry_run)
		return;
	if (!(rows =
		  route_instances_gc(c->store, app, down, c->now, &h, &err))) {
		warnf(c, "tick: %s: lost records: %s", app, err.msg);
		return;
	}
	json_array_foreach (rows, i, r)
		json_array_append(report, r);
	json_decref(rows);
}

static void tick_app(const struct sc_config *c, const json_t *rec, json_t *ps,
		     const json_t *down, json_t *report)
{
	struct sess dead = {.c = c};
	struct sc_spec spec;
	_cleanup_free_ char *image = NULL;
	struct ec_err err;
	size_t i;
	int changed;

	ec_err_clear(&err);
	if (json_is_true(json_object_get(rec, "no_start")))
		return; /* placed only: nothing runs to replace */
	if (record_spec(rec, &spec, &image, &err) < 0) {
		warnf(c, "tick: %s", err.msg);
		sc_spec_release(&spec);
		return;
	}
	find_dead(c, rec, down, &dead, ps, report);
	start_all(c, &spec, image, dead.done, dead.ndone);
	changed = tick_scale(c, rec, &spec, down, report);
	tick_gc(c, spec.name, down, report);
	if (dead.ndone || changed)
		json_decref(route_update(c, &spec)); /* the new backends */
	for (i = 0; i < dead.ndone; i++) {
		json_t *j = sc_placed_json(&dead.done[i]);
		json_object_del(j, "location");
		json_object_del(j, "replica");
		json_object_set_new(j, "app", json_string(spec.name));
		json_object_set_new(j, "action", json_string("replaced"));
		json_array_append_new(report, j);
		free(dead.done[i].error);
	}
	free(dead.done);
	sc_spec_release(&spec);
}

/* --- tick: orphans --------------------------------------------------------
 * Instances a host runs for an app that no app record places there (a
 * `schedule rm` whose stop failed, a record deleted by hand, a host back
 * after its replicas were re-placed) are reported for the hosts this tick
 * asked; with remove_orphans every host that is up is asked and orphans
 * at least orphan_grace_ms old (by the host's own clock: ps -a's age_ms)
 * are removed. */
static void tick_orphans(const struct sc_config *c, const json_t *apps,
			 json_t *ps, const json_t *down, json_t *report)
{
	_cleanup_json_ json_t *hosts = NULL, *all = json_copy((json_t *)apps);
	_cleanup_json_ json_t *fresh = NULL;
	const char *name, *why;
	const json_t *h, *l;
	json_t *orph, *o;
	struct ec_err err;
	size_t i, k;

	/* placed by a record as the tick began or as it ends (this tick's
	 * own placements and drops are neither orphans) */
	ec_err_clear(&err);
	if (!(fresh = sc_app_list(c->store, &err))) {
		warnf(c, "tick: orphans: %s", err.msg);
		return;
	}
	json_array_extend(all, fresh);
	if (c->remove_orphans) {
		if (!(hosts = fleet_hosts(c->store, NULL, &err))) {
			warnf(c, "tick: hosts: %s", err.msg);
			return;
		}
		json_array_foreach (hosts, i, h) {
			name = ec_json_str(h, "name") ?: "";
			if (!json_object_get(down, name) &&
			    !json_is_true(json_object_get(h, "down")))
				host_ps(c, ps, name, &why);
		}
	}
	json_object_foreach (ps, name, l) {
		if (!json_is_array(l) || json_object_get(down, name))
			continue;
		orph = sc_orphans(all, name, l);
		json_array_foreach (orph, k, o) {
			json_int_t age = ec_json_int(o, "age_ms");
			const char *inst = ec_json_str(o, "instance");
			int old = json_object_get(o, "age_ms") &&
				  age >= c->orphan_grace_ms;

			json_object_set_new(o, "action", json_string("orphan"));
			if (c->remove_orphans && !old)
				json_object_set_new(
				    o, "error",
				    json_string("younger than the grace "
						"period (or its age unknown): "
						"kept"));
			if (c->remove_orphans && old && !c->dry_run) {
				ec_err_clear(&err);
				if (c->hooks->stop(c->hooks->arg, name, inst,
						   &err) < 0)
					json_object_set_new(
					    o, "error", json_string(err.msg));
				else
					json_object_set_new(
					    o, "action",
					    json_string("orphan-removed"));
			}
			json_array_append(report, o);
		}
		json_decref(orph);
	}
}

json_t *sc_tick(const struct sc_config *c, struct ec_err *err)
{
	json_t *apps, *report, *ps, *a, *down;
	size_t i;

	if (!(apps = sc_app_list(c->store, err)))
		return NULL;
	report = json_array();
	ps = json_object();
	down = json_object();
	tick_queue(c, report);
	tick_hosts(c, apps, ps, down, report);
	json_array_foreach (apps, i, a) {
		if (interrupted(c))
			break;
		tick_app(c, a, ps, down, report);
	}
	if (!interrupted(c))
		tick_orphans(c, apps, ps, down, report);
	json_decref(down);
	json_decref(ps);
	json_decref(apps);
	return report;
}

/* --- remove
 * ------------------------------------------------------------------- */

/* The route of a removed app with a vip goes too (a warning when it
 * cannot be removed; gone already is fine). */
static void remove_route(const struct sc_config *c, const json_t *rec)
{
	const char *vip = ec_json_str(json_object_get(rec, "spec"), "vip");
	struct ec_err err;
	json_t *r;

	ec_err_clear(&err);
	if (!vip)
		return;
	r = route_rm_app(c->store, vip, ec_json_str(rec, "name") ?: "", &err);
	if (!r && err.cat != EC_NOTFOUND)
		warnf(c, "route %s: %s", vip, err.msg);
	json_decref(r);
}

int sc_app_remove(const struct sc_config *c, const char *app,
		  struct ec_err *err)
{
	_cleanup_json_ json_t *a = NULL, *done = json_object();
	_cleanup_free_ char *key = sc_app_key(app);
	const json_t *p;
	size_t i;
	int failed = 0;

	if (!(a = sc_app_get(c->store, app, err))) {
		if (err->cat == EC_NOTFOUND)
			ec_err_set(err, EC_NOTFOUND,
				   "no app '%s' (edgectl schedule ls)", app);
		return -1;
	}
	json_array_foreach (json_object_get(a, "placements"), i, p) {
		const char *host = ec_json_str(p, "host");
		const char *loc = ec_json_str(p, "location");
		const char *inst = ec_json_str(p, "instance");

		if (!host || !loc)
			continue;
		if (inst && c->hooks->stop(c->hooks->arg, host, inst, err) < 0)
			warnf(c, "%s: %s", inst, err->msg);
		ec_err_clear(err);
		if (json_object_get(done, host))
			continue;
		/* free its capacity (all of the app's allocations) */
		if (sc_release_app(c->store, loc, host, app, NULL, err) < 0 &&
		    err->cat != EC_NOTFOUND) {
			warnf(c, "%s", err->msg);
			failed = 1;
		}
		ec_err_clear(err);
		json_object_set_new(done, host, json_true());
	}
	if (failed)
		return ec_err_set(err, EC_REMOTE,
				  "app '%s': some capacity could not be "
				  "released; run schedule rm again",
				  app);
	remove_route(c, a);
	return store_delete(c->store, key, err);
}
