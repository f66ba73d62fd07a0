/* prewarm.c - `edgectl prewarm`: pull an image onto hosts before work
 * arrives (by digest, layers unpacked), record the warm set in each host
 * object by CAS so `schedule` prefers warm hosts; `prewarm ls`.
 *
 * --peer: per location one host pulls from the store (or is warm
 * already); the others get the blobs from it: `edgectl images export` on
 * the peer piped (by this process, between two ssh sessions) into
 * `edgectl images import` on the target, which verifies every blob; the
 * target's pull from the store then only sets the ref and unpacks.
 * --evict: per host, the least recently warmed images (warm set "t") that
 * no instance uses are removed (`edgectl images rm` there) until the
 * host's images fit its budget (--budget, else "disk_budget_bytes" of the
 * host object, else 0: every such image but IMAGE). */
#include "cmd.h"
#include "image/store_ref.h"
#include "util/tz.h"
#include "fleet/fleet.h"
#include "sched/commit.h"
#include "sched/sched.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum {
	O_LOCATION = OPT_FIRST_LONG,
	O_HOST,
	O_ALL,
	O_POLICY,
	O_COUNT,
	O_PERCENT,
	O_UNPACK,
	O_NOW,
	O_IMAGE,
	O_PEER,
	O_EVICT,
	O_BUDGET,
};

static int run_prewarm(struct ec_ctx *ctx, int argc, char **argv);

static const struct ec_opt opts[] = {
    {"location", 0, "LOC", "every host of this location (repeatable)",
     O_LOCATION},
    {"host", 0, "NAME", "this host (repeatable)", O_HOST},
    {"all", 0, NULL, "every host of the fleet", O_ALL},
    {"policy", 0, "off-peak",
     "only hosts whose location is off-peak now (or idle)", O_POLICY},
    {"count", 0, "N", "N hosts, spread over the locations", O_COUNT},
    {"percent", 0, "P", "P% of the hosts, spread over the locations",
     O_PERCENT},
    {"unpack", 0, NULL,
     "unpack the layers too (always done: a start "
     "then needs no decompression)",
     O_UNPACK},
    {"jobs", 'j', "N", "hosts at a time (default 8)", 'j'},
    {"now", 0, "TIME", "evaluate off-peak at TIME (epoch seconds)", O_NOW},
    {"peer", 0, NULL,
     "one host per location pulls from the store, the others from it", O_PEER},
    {"evict", 0, NULL,
     "remove least recently warmed images no instance uses, to the budget",
     O_EVICT},
    {"budget", 0, "SIZE",
     "--evict: images may use SIZE per host (default: the host's "
     "disk_budget_bytes, else 0)",
     O_BUDGET},
    {"image", 0, "REF", "prewarm ls: only this image", O_IMAGE},
    {0},
};

static const char *const subcmds[] = {"ls", NULL};

const struct ec_cmd cmd_prewarm_def = {
    .name = "prewarm",
    .summary = "pull an image onto hosts before work arrives",
    .usage = "edgectl prewarm [--location L]... [--host H]... [--all] "
	     "[--policy off-peak] [--count N | --percent P] [-j N] [--peer] "
	     "[--evict [--budget SIZE]] IMAGE\n"
	     "edgectl prewarm --evict [--budget SIZE] [--location L]... "
	     "[--host H]... [--all]\n"
	     "edgectl prewarm ls [--image REF]",
    .opts = opts,
    .run = run_prewarm,
    .subcmds = subcmds,
};

struct job {
	struct ec_ctx *ctx;
	json_t *host;
	const char *image; /* repo@digest */
	const char *digest;
	const json_t *peer; /* --peer: the warm host to copy from */
	uint64_t budget;    /* --evict */
	int has_budget, evict;
	json_t *now_host; /* --evict: the host object after warming */
	/* results */
	int ok, warm;
	json_int_t bytes, peer_bytes, freed;
	double secs;
	json_t *evicted; /* digests removed */
	char msg[1200], peer_msg[1200];
};

struct warm_add {
	const char *digest, *image;
};

static int add_warm(json_t *h, void *c)
{
	struct warm_add *w = c;
	json_t *arr = json_object_get(h, "warm"), *e;
	size_t i;

	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(h, "warm", arr);
	}
	json_array_foreach (arr, i, e) {
		const char *d = json_is_string(e) ? json_string_value(e)
						  : ec_json_str(e, "digest");
		if (d && !strcmp(d, w->digest)) {
			json_array_remove(arr, i);
			break;
		}
	}
	json_array_append_new(arr, json_pack("{s:s,s:s,s:I}", "digest",
					     w->digest, "image", w->image, "t",
					     (json_int_t)time(NULL)));
	return 0;
}

static void *warm_one(void *arg)
{
	struct job *j = arg;
	const char *args[] = {"--json", "--store", j->ctx->store_url,
			      "pull",	j->image,  NULL};
	struct strbuf out = STRBUF_INIT, eo = STRBUF_INIT;
	struct ssh_opts so;
	struct ec_err err;
	json_t *r;
	int st;

	ec_err_clear(&err);
	ctx_ssh_opts(j->ctx, &so);
	so.timeout_ms = 3600 * 1000;
	if (fleet_ssh(&so, j->host, args, 0, &out, &eo, &st, &err) < 0) {
		snprintf(j->msg, sizeof(j->msg), "%s", err.msg);
	} else if (st != 0) {
		json_t *e = json_loadb(eo.buf, eo.len, 0, NULL);
		const char *m =
		    e ? ec_json_str(json_object_get(e, "error"), "message")
		      : NULL;
		snprintf(j->msg, sizeof(j->msg), "pull exited %d: %s", st,
			 m	  ? m
			 : eo.len ? eo.buf
				  : "");
		json_decref(e);
	} else if ((r = json_loadb(out.buf, out.len, 0, NULL))) {
		j->ok = 1;
		j->bytes =
		    json_integer_value(json_object_get(r, "bytes_copied"));
		j->secs = (double)json_integer_value(
			      json_object_get(r, "duration_ms")) /
			  1000;
		j->warm = j->bytes == 0 && json_integer_value(json_object_get(
					       r, "layers_unpacked")) == 0;
		json_decref(r);
	} else {
		snprintf(j->msg, sizeof(j->msg), "pull printed no JSON");
	}
	sb_release(&out);
	sb_release(&eo);
	return NULL;
}

static pid_t spawn(char **argv, int in, int out, int errfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	pid_t pid;
	int r;

	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_init(&fa);
	if (in < 0)
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
						 0);
	else
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	r = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return r ? -1 : pid;
}

static void slurp(int fd, struct strbuf *sb)
{
	char buf[4096];
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0 && sb->len < (1u << 20))
		sb_add(sb, buf, (size_t)n);
}

/* Run `edgectl SRC_ARGS` on src piped into `edgectl DST_ARGS` on dst (two
 * ssh sessions; the bytes pass through a pipe of this process). out gets
 * dst's stdout, msg the first failure. 0 when both exited 0. */
static int relay(const struct ssh_opts *o, const json_t *src,
		 const char *const *sargs, const json_t *dst,
		 const char *const *dargs, struct strbuf *out, char *msg,
		 size_t msz)
{
	struct ec_err aerr;
	char **sv = fleet_ssh_argv(o, src, sargs, &aerr),
	     **dv = fleet_ssh_argv(o, dst, dargs, &aerr);
	int p[2] = {-1, -1}, se = memfd_create("src-err", MFD_CLOEXEC),
	    de = memfd_create("dst-err", MFD_CLOEXEC),
	    dout = memfd_create("dst-out", MFD_CLOEXEC), ss = -1, ds = -1,
	    r = -1;
	pid_t a = -1, b = -1;
	struct strbuf e = STRBUF_INIT;

	if (!sv || !dv) {
		snprintf(msg, msz, "relay: %s", aerr.msg);
		goto out;
	}
	if (se < 0 || de < 0 || dout < 0 || pipe2(p, O_CLOEXEC) < 0) {
		snprintf(msg, msz, "relay: %s", strerror(errno));
		goto out;
	}
	a = spawn(sv, -1, p[1], se);
	b = a < 0 ? -1 : spawn(dv, p[0], dout, de);
	close(p[0]);
	close(p[1]);
	if (a < 0 || b < 0) {
		snprintf(msg, msz, "relay: cannot run %s", sv[0]);
		if (a > 0)
			kill(a, SIGTERM);
		goto out;
	}
	while (waitpid(a, &ss, 0) < 0 && errno == EINTR)
		;
	while (waitpid(b, &ds, 0) < 0 && errno == EINTR)
		;
	slurp(dout, out);
	if (WIFEXITED(ss) && WEXITSTATUS(ss) == 0 && WIFEXITED(ds) &&
	    WEXITSTATUS(ds) == 0) {
		r = 0;
		goto out;
	}
	slurp(WIFEXITED(ss) && WEXITSTATUS(ss) == 0 ? de : se, &e);
	while (e.len && (e.buf[e.len - 1] == '\n'))
		e.buf[--e.len] = '\0';
	snprintf(msg, msz, "%s %s: %s",
		 WIFEXITED(ss) && WEXITSTATUS(ss) == 0 ? "import on"
						       : "export on",
		 ec_json_str(WIFEXITED(ss) && WEXITSTATUS(ss) == 0 ? dst : src,
			     "name")
		     ?: "?",
		 e.len ? e.buf : "failed");
out:
	sb_release(&e);
	if (se >= 0)
		close(se);
	if (de >= 0)
		close(de);
	if (dout >= 0)
		close(dout);
	fleet_argv_free(sv);
	fleet_argv_free(dv);
	return r;
}

/* --peer: the image's blobs from j->peer into the host, then the usual
 * pull (which finds them and only unpacks). A failed copy falls back to
 * the store (peer_msg says why). */
static void *peer_one(void *arg)
{
	struct job *j = arg;
	const char *sargs[] = {"images", "export", j->image, NULL};
	const char *dargs[] = {"--json", "images", "import", NULL};
	struct strbuf out = STRBUF_INIT;
	struct ssh_opts so;
	json_t *r;

	ctx_ssh_opts(j->ctx, &so);
	if (relay(&so, j->peer, sargs, j->host, dargs, &out, j->peer_msg,
		  sizeof(j->peer_msg)) == 0 &&
	    (r = json_loadb(out.buf, out.len, 0, NULL))) {
		j->peer_bytes =
		    json_integer_value(json_object_get(r, "bytes_received"));
		json_decref(r);
	}
	sb_release(&out);
	return warm_one(j);
}

static int in_warm(const json_t *host, const char *digest)
{
	json_t *w;
	size_t i;

	json_array_foreach (json_object_get(host, "warm"), i, w)
		if (!strcmp(ec_json_str(w, "digest") ?: "", digest))
			return 1;
	return 0;
}

struct cand {
	const char *digest;
	json_int_t t, size;
};

static int by_t(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

/* --evict on one host: list its images, pick the least recently warmed
 * unused ones until the rest fits the budget, `images rm` them there. */
static void *evict_one(void *arg)
{
	struct job *j = arg;
	const char *la[] = {"--json", "images", NULL};
	const char *ra[64] = {"--json", "images", "rm"};
	struct strbuf out = STRBUF_INIT, eo = STRBUF_INIT;
	_cleanup_json_ json_t *imgs = NULL, *seen = json_object();
	_cleanup_free_ struct cand *cv = NULL;
	json_t *h = j->now_host ? j->now_host : j->host, *v, *w;
	uint64_t budget = j->budget, used = 0;
	size_t i, k, nc = 0, nr = 3;
	struct ssh_opts so;
	struct ec_err err;
	int st;

	ec_err_clear(&err);
	ctx_ssh_opts(j->ctx, &so);
	j->evicted = json_array();
	if (!j->has_budget &&
	    json_is_integer(json_object_get(h, "disk_budget_bytes")))
		budget = (uint64_t)json_integer_value(
		    json_object_get(h, "disk_budget_bytes"));
	if (fleet_ssh(&so, h, la, 0, &out, &eo, &st, &err) < 0 || st ||
	    !(imgs = json_loadb(out.buf, out.len, 0, NULL))) {
		snprintf(j->msg, sizeof(j->msg), "evict: list images: %s",
			 err.msg[0] ? err.msg
			 : eo.len   ? eo.buf
				    : "failed");
		goto fail;
	}
	/* usage and in-use per digest */
	json_array_foreach (imgs, i, v) {
		const char *d = ec_json_str(v, "digest") ?: "";
		json_t *e = json_object_get(seen, d);
		if (!e) {
			used += (uint64_t)json_integer_value(
			    json_object_get(v, "size_bytes"));
			e = json_pack("{s:I,s:i}", "size",
				      json_integer_value(
					  json_object_get(v, "size_bytes")),
				      "users", 0);
			json_object_set_new(seen, d, e);
		}
		json_object_set_new(
		    e, "users",
		    json_integer(
			json_integer_value(json_object_get(e, "users")) +
			json_integer_value(json_object_get(v, "instances"))));
	}
	/* candidates: warm-set images (prewarm put them there) not in use,
	 * not the image of this run; the warm set's entries for images the
	 * host no longer has are dropped too */
	cv = xcalloc(json_array_size(json_object_get(h, "warm")) + 1,
		     sizeof(*cv));
	json_array_foreach (json_object_get(h, "warm"), i, w) {
		const char *d = ec_json_str(w, "digest");
		json_t *e = d ? json_object_get(seen, d) : NULL;
		if (!d)
			continue;
		if (!e) {
			json_array_append_new(j->evicted, json_string(d));
			continue;
		}
		if (json_integer_value(json_object_get(e, "users")) ||
		    (j->digest && !strcmp(d, j->digest)))
			continue;
		cv[nc++] = (struct cand){
		    d, json_integer_value(json_object_get(w, "t")),
		    json_integer_value(json_object_get(e, "size"))};
	}
	qsort(cv, nc, sizeof(*cv), by_t);
	for (k = 0; k < nc && used > budget; k++) {
		json_array_foreach (imgs, i, v)
			if (!strcmp(ec_json_str(v, "digest") ?: "",
				    cv[k].digest) &&
			    nr < 62)
				ra[nr++] = ec_json_str(v, "ref");
		used -= (uint64_t)cv[k].size;
		json_array_append_new(j->evicted, json_string(cv[k].digest));
	}
	if (nr > 3) {
		json_t *r;
		ra[nr] = NULL;
		sb_reset(&out);
		sb_reset(&eo);
		if (fleet_ssh(&so, h, ra, 0, &out, &eo, &st, &err) < 0 || st) {
			snprintf(j->msg, sizeof(j->msg), "evict: %s",
				 err.msg[0] ? err.msg
				 : eo.len   ? eo.buf
					    : "images rm failed");
			goto fail;
		}
		if ((r = json_loadb(out.buf, out.len, 0, NULL))) {
			j->freed = json_integer_value(
			    json_object_get(r, "bytes_freed"));
			json_decref(r);
		}
	}
	sb_release(&out);
	sb_release(&eo);
	return NULL;
fail:
	json_array_clear(j->evicted);
	j->ok = 0;
	sb_release(&out);
	sb_release(&eo);
	return NULL;
}

static int drop_warm(json_t *h, void *c)
{
	json_t *gone = c, *arr = json_object_get(h, "warm"), *g;
	size_t i, k;

	for (i = 0; i < json_array_size(arr);) {
		const char *d = ec_json_str(json_array_get(arr, i), "digest");
		int drop = 0;
		json_array_foreach (gone, k, g)
			if (d && !strcmp(d, json_string_value(g)))
				drop = 1;
		if (drop)
			json_array_remove(arr, i);
		else
			i++;
	}
	return 0;
}

/* Run fn on jobs[idx[0..n)], `jobs` at a time. */
static void fan_out(struct job *jv, const size_t *idx, size_t n, int jobs,
		    void *(*fn)(void *))
{
	size_t i, k;

	for (i = 0; i < n; i += (size_t)jobs) {
		pthread_t th[64];
		int started[64] = {0};
		for (k = 0; k < (size_t)jobs && i + k < n; k++) {
			started[k] = pthread_create(&th[k], NULL, fn,
						    &jv[idx[i + k]]) == 0;
			if (!started[k])
				fn(&jv[idx[i + k]]);
		}
		for (k = 0; k < (size_t)jobs && i + k < n; k++)
			if (started[k])
				pthread_join(th[k], NULL);
	}
}

static int listed(json_t *list, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach (list, i, v)
		if (!strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

static int prewarm_ls(struct ec_ctx *ctx, struct store *s, const char *image)
{
	struct ec_err err;
	_cleanup_json_ json_t *hosts = fleet_hosts(s, NULL, &err);
	_cleanup_free_ char *repo = NULL;
	char digest[80] = "";
	json_t *out = json_array(), *h, *w;
	size_t i, k;

	if (!hosts) {
		json_decref(out);
		return report_error(ctx, &err);
	}
	if (image && image_store_digest(s, image, &repo, digest, &err) < 0) {
		json_decref(out);
		return report_error(ctx, &err);
	}
	json_array_foreach (hosts, i, h)
		json_array_foreach (json_object_get(h, "warm"), k, w) {
			const char *d = ec_json_str(w, "digest");
			if (!d || (image && strcmp(d, digest)))
				continue;
			json_array_append_new(
			    out,
			    json_pack(
				"{s:s?,s:s?,s:s,s:s?,s:I}", "host",
				ec_json_str(h, "name"), "location",
				ec_json_str(h, "location"), "digest", d,
				"image", ec_json_str(w, "image"), "t",
				json_integer_value(json_object_get(w, "t"))));
		}
	if (ctx->json) {
		json_out(out);
		return 0;
	}
	printf("%-16s  %-12s  %-30s  %s\n", "HOST", "LOCATION", "IMAGE",
	       "DIGEST");
	json_array_foreach (out, i, w)
		printf("%-16s  %-12s  %-30s  %.19s\n",
		       ec_json_str(w, "host") ?: "",
		       ec_json_str(w, "location") ?: "",
		       ec_json_str(w, "image") ?: "",
		       ec_json_str(w, "digest") ?: "");
	json_decref(out);
	return 0;
}

static void *run_job(void *arg)
{
	struct job *j = arg;

	return j->peer ? peer_one(j) : warm_one(j);
}

/* Pull the image onto every host; with peer, one host per location from
 * the store first (one already warm, if any), then the others from it. */
static void warm_all(struct job *jv, size_t n, int jobs, int peer)
{
	size_t *first = xcalloc(n, sizeof(*first)),
	       *rest = xcalloc(n, sizeof(*rest));
	size_t nf = 0, nr = 0, i, k;

	for (i = 0; i < n; i++) {
		const char *loc = ec_json_str(jv[i].host, "location") ?: "";
		size_t seed = i;
		if (!peer) {
			first[nf++] = i;
			continue;
		}
		/* the location's seed: its first warm host, else its first */
		for (k = n; k-- > 0;)
			if (!strcmp(ec_json_str(jv[k].host, "location") ?: "",
				    loc))
				seed = k;
		for (k = n; k-- > 0;)
			if (!strcmp(ec_json_str(jv[k].host, "location") ?: "",
				    loc) &&
			    in_warm(jv[k].host, jv[i].digest))
				seed = k;
		if (seed == i)
			first[nf++] = i;
		else {
			jv[i].peer = jv[seed].host;
			rest[nr++] = i;
		}
	}
	fan_out(jv, first, nf, jobs, run_job);
	for (i = 0; i < nr; i++) {
		struct job *j = &jv[rest[i]];
		size_t s;
		for (s = 0; s < n && jv[s].host != j->peer; s++)
			;
		/* a failed seed, or a host already warm: from the store */
		if (!jv[s].ok || in_warm(j->host, j->digest))
			j->peer = NULL;
	}
	fan_out(jv, rest, nr, jobs, run_job);
	free(first);
	free(rest);
}

static void record_warm(struct store *s, struct job *jv, size_t n,
			const char *image, const char *digest)
{
	struct warm_add w = {digest, image};
	size_t i;

	for (i = 0; i < n; i++) {
		struct ec_err e;
		ec_err_clear(&e);
		if (jv[i].ok &&
		    fleet_host_update(s, ec_json_str(jv[i].host, "location"),
				      ec_json_str(jv[i].host, "name"), 0,
				      add_warm, &w, &e) < 0) {
			jv[i].ok = 0;
			snprintf(jv[i].msg, sizeof(jv[i].msg),
				 "warm but not recorded: %s", e.msg);
		}
	}
}

/* Evict on every host still ok, then drop what went from the warm sets. */
static void evict_all(struct store *s, struct job *jv, size_t n, int jobs)
{
	struct ec_err e;
	_cleanup_json_ json_t *now = NULL;
	size_t *idx = xcalloc(n, sizeof(*idx)), m = 0, i, k;
	json_t *h;

	ec_err_clear(&e);
	/* the warm sets as they are now (this run's entries included) */
	if ((now = fleet_hosts(s, NULL, &e)))
		json_array_foreach (now, k, h)
			for (i = 0; i < n; i++)
				if (!strcmp(ec_json_str(h, "name") ?: "",
					    ec_json_str(jv[i].host, "name")
						?: ""))
					jv[i].now_host = json_incref(h);
	for (i = 0; i < n; i++)
		if (jv[i].ok)
			idx[m++] = i;
	fan_out(jv, idx, m, jobs, evict_one);
	for (i = 0; i < n; i++) {
		if (!jv[i].ok || !json_array_size(jv[i].evicted))
			continue;
		ec_err_clear(&e);
		if (fleet_host_update(s, ec_json_str(jv[i].host, "location"),
				      ec_json_str(jv[i].host, "name"), 0,
				      drop_warm, jv[i].evicted, &e) < 0) {
			jv[i].ok = 0;
			snprintf(jv[i].msg, sizeof(jv[i].msg),
				 "evicted but not recorded: %s", e.msg);
		}
	}
	free(idx);
}

static json_t *host_json(const struct job *j, int peer, int evict)
{
	const char *hn = ec_json_str(j->host, "name");
	json_t *o;

	if (!j->ok)
		return json_pack("{s:s,s:b,s:s}", "host", hn, "ok", 0, "error",
				 j->msg);
	o = json_pack("{s:s,s:b}", "host", hn, "ok", 1);
	if (j->image) {
		json_object_set_new(o, "bytes_fetched",
				    json_integer(j->bytes + j->peer_bytes));
		json_object_set_new(o, "seconds", json_real(j->secs));
		json_object_set_new(o, "already_warm", json_boolean(j->warm));
	}
	if (j->image && peer) {
		json_object_set_new(o, "bytes_from_store",
				    json_integer(j->bytes));
		json_object_set_new(o, "bytes_from_peer",
				    json_integer(j->peer_bytes));
		json_object_set_new(
		    o, "peer",
		    j->peer ? json_string(ec_json_str(j->peer, "name"))
			    : json_null());
		if (j->peer_msg[0])
			json_object_set_new(o, "peer_error",
					    json_string(j->peer_msg));
	}
	if (evict) {
		json_object_set(o, "evicted", j->evicted);
		json_object_set_new(o, "bytes_freed", json_integer(j->freed));
	}
	return o;
}

static void host_print(const struct job *j, int evict)
{
	const char *hn = ec_json_str(j->host, "name");

	if (!j->ok) {
		fprintf(stderr, "edgectl: error: %s: %s\n", hn, j->msg);
		return;
	}
	if (j->image) {
		printf("%-16s  %s  %10.1f MB  %6.2f s", hn,
		       j->warm ? "already warm" : "warmed      ",
		       (double)(j->bytes + j->peer_bytes) / 1e6, j->secs);
		if (j->peer_bytes)
			printf("  (%.1f MB from %s)",
			       (double)j->peer_bytes / 1e6,
			       ec_json_str(j->peer, "name"));
		printf("\n");
	}
	if (j->peer_msg[0])
		fprintf(stderr, "edgectl: warning: %s: from the store: %s\n",
			hn, j->peer_msg);
	if (evict)
		printf("%-16s  evicted %zu image(s), freed %.1f MB\n", hn,
		       json_array_size(j->evicted), (double)j->freed / 1e6);
}

/* Render the run; returns how many hosts are ok. */
static size_t report_all(struct ec_ctx *ctx, struct job *jv, size_t n,
			 const char *image, const char *digest, int peer,
			 int evict)
{
	json_t *rep = json_array(), *o;
	json_int_t store = 0, peers = 0, freed = 0;
	size_t i, ok = 0, gone = 0;

	for (i = 0; i < n; i++) {
		ok += (size_t)jv[i].ok;
		store += jv[i].bytes;
		peers += jv[i].peer_bytes;
		freed += jv[i].freed;
		gone += json_array_size(jv[i].evicted);
		if (ctx->json)
			json_array_append_new(rep,
					      host_json(&jv[i], peer, evict));
		else
			host_print(&jv[i], evict);
	}
	if (!ctx->json) {
		if (peer)
			printf("%.1f MB from the store, %.1f MB from peers\n",
			       (double)store / 1e6, (double)peers / 1e6);
		json_decref(rep);
		return ok;
	}
	o = json_pack("{s:o,s:I,s:i,s:i}", "hosts", rep, "bytes_fetched",
		      store + peers, "warm", image ? (int)ok : 0, "failed",
		      (int)(n - ok));
	if (image) {
		json_object_set_new(o, "image", json_string(image));
		json_object_set_new(o, "digest", json_string(digest));
	}
	if (peer) {
		json_object_set_new(o, "bytes_from_store", json_integer(store));
		json_object_set_new(o, "bytes_from_peers", json_integer(peers));
	}
	if (evict) {
		json_object_set_new(o, "evicted",
				    json_integer((json_int_t)gone));
		json_object_set_new(o, "bytes_freed", json_integer(freed));
	}
	json_out(o);
	return ok;
}

static int run_prewarm(struct ec_ctx *ctx, int argc, char **argv)
{
	struct optparse op;
	struct ec_err err;
	json_t *locs = json_array(), *hostnames = json_array();
	_cleanup_json_ json_t *all = NULL, *targets = json_array();
	_cleanup_free_ char *repo = NULL, *image = NULL;
	const char *ls_image = NULL;
	char digest[80];
	int c, st = 0, every = 0, offpeak = 0, jobs = 8, peer = 0, evict = 0;
	int has_budget = 0;
	uint64_t count = 0, percent = 0, u, budget = 0;
	time_t now = time(NULL);
	struct store *s;
	struct job *jv = NULL;
	size_t n = 0, i, k, ok = 0;

	ec_err_clear(&err);
	opt_init(&op, ctx, &cmd_prewarm_def, argc, argv);
	while ((c = opt_next(&op)) != OPT_END) {
		switch (c) {
		case OPT_EXIT:
			st = op.status;
			goto out;
		case O_LOCATION:
			json_array_append_new(locs, json_string(op.arg));
			break;
		case O_HOST:
			json_array_append_new(hostnames, json_string(op.arg));
			break;
		case O_ALL:
			every = 1;
			break;
		case O_POLICY:
			if (strcmp(op.arg, "off-peak")) {
				st = usage_error(ctx, &cmd_prewarm_def,
						 "--policy: only off-peak");
				goto out;
			}
			offpeak = 1;
			break;
		case O_COUNT:
		case O_PERCENT:
			if (parse_u64(op.arg, c == O_PERCENT ? 100 : 1000000,
				      &u,
				      c == O_COUNT ? "--count" : "--percent",
				      &err) < 0 ||
			    !u) {
				st = usage_error(ctx, &cmd_prewarm_def, "%s",
						 err.msg[0] ? err.msg
							    : "must be > 0");
				goto out;
			}
			*(c == O_COUNT ? &count : &percent) = u;
			break;
		case 'j':
			if (parse_u64(op.arg, 64, &u, "--jobs", &err) < 0 ||
			    !u) {
				st = usage_error(ctx, &cmd_prewarm_def,
						 "--jobs: 1 to 64");
				goto out;
			}
			jobs = (int)u;
			break;
		case O_NOW: {
			char *end;
			now = (time_t)strtoll(op.arg, &end, 10);
			if (*end) {
				st = usage_error(ctx, &cmd_prewarm_def,
						 "--now: epoch seconds");
				goto out;
			}
			break;
		}
		case O_IMAGE:
			ls_image = op.arg;
			break;
		case O_PEER:
			peer = 1;
			break;
		case O_EVICT:
			evict = 1;
			break;
		case O_BUDGET:
			if (parse_size(op.arg, UINT64_MAX / 2, &budget,
				       "--budget", &err) < 0) {
				st = usage_error(ctx, &cmd_prewarm_def, "%s",
						 err.msg);
				goto out;
			}
			has_budget = 1;
			break;
		}
	}
	if (!(s = ctx_store(ctx, &err)))
		goto fail;
	if (op.ind < argc && !strcmp(argv[op.ind], "ls")) {
		st = prewarm_ls(ctx, s, ls_image);
		goto out;
	}
	if (argc - op.ind != 1 && !(evict && argc == op.ind)) {
		st = usage_error(ctx, &cmd_prewarm_def,
				 "prewarm needs one IMAGE (or --evict alone)");
		goto out;
	}
	if ((has_budget && !evict) || (peer && argc == op.ind)) {
		st = usage_error(ctx, &cmd_prewarm_def,
				 has_budget ? "--budget goes with --evict"
					    : "--peer needs an IMAGE");
		goto out;
	}
	if (count && percent) {
		st = usage_error(ctx, &cmd_prewarm_def,
				 "--count and --percent exclude each other");
		goto out;
	}
	if (!every && !json_array_size(locs) && !json_array_size(hostnames) &&
	    !offpeak && !count && !percent) {
		st = usage_error(ctx, &cmd_prewarm_def,
				 "which hosts? (--host, --location, --all, "
				 "--policy off-peak, --count or --percent)");
		goto out;
	}
	/* the image first: nothing touches a host when it is missing */
	if (op.ind < argc) {
		if (image_store_digest(s, argv[op.ind], &repo, digest, &err) <
		    0)
			goto fail;
		image = xasprintf("%s@%s", repo, digest);
	}
	if (!(all = fleet_hosts(s, NULL, &err)))
		goto fail;
	{
		/* off-peak eligibility per location, from the scheduler */
		struct sc_fleet f;
		json_t *eligible = json_array(), *h;
		if (offpeak) {
			if (sc_fleet_load(s, NULL, NULL, &f, &err) < 0) {
				json_decref(eligible);
				goto fail;
			}
			sc_fleet_apply_tz(&f, now, tz_offset_minutes);
			for (i = 0; i < f.nlocs; i++) {
				struct sc_req r = {.policy = SC_OFFPEAK};
				struct sc_place p;
				size_t np = 0;
				/* eligible = the scheduler would place there */
				sc_place(&f.locs[i], 1, &r, 1, now, &p, &np,
					 NULL);
				if (np || sc_offpeak_now(&f.locs[i], now))
					json_array_append_new(
					    eligible,
					    json_string(f.locs[i].name));
			}
			sc_fleet_release(&f);
		}
		json_array_foreach (all, i, h) {
			const char *hn = ec_json_str(h, "name");
			const char *hl = ec_json_str(h, "location");
			int want = every || count || percent ||
				   listed(hostnames, hn) || listed(locs, hl);
			if (offpeak && !json_array_size(hostnames) &&
			    !json_array_size(locs) && !every)
				want = 1;
			if (offpeak && !listed(eligible, hl))
				want = 0;
			if (want)
				json_array_append(targets, h);
		}
		json_decref(eligible);
		json_array_foreach (hostnames, i, h)
			if (!fleet_host_get(s, json_string_value(h), NULL,
					    &err)) {
				goto fail;
			}
	}
	if (count || percent) {
		/* spread: round-robin over locations */
		size_t total = json_array_size(targets), want, taken = 0;
		json_t *picked = json_array(), *loclist = json_array(), *h;
		want = count ? (size_t)count : (total * percent + 99) / 100;
		json_array_foreach (targets, i, h)
			if (!listed(loclist, ec_json_str(h, "location")))
				json_array_append_new(
				    loclist,
				    json_string(ec_json_str(h, "location")));
		for (k = 0; taken < want && taken < total; k++) {
			size_t li;
			json_t *L;
			json_array_foreach (loclist, li, L) {
				size_t seen = 0;
				json_array_foreach (targets, i, h) {
					if (strcmp(ec_json_str(h, "location"),
						   json_string_value(L)))
						continue;
					if (seen++ == k && taken < want) {
						json_array_append(picked, h);
						taken++;
					}
				}
			}
		}
		json_decref(loclist);
		json_decref(targets);
		targets = picked;
	}
	n = json_array_size(targets);
	if (!n) {
		ec_err_set(&err, EC_NOTFOUND,
			   "no host to prewarm (none matches%s)",
			   offpeak ? ", or no location is off-peak now" : "");
		goto fail;
	}
	jv = xcalloc(n, sizeof(*jv));
	for (i = 0; i < n; i++)
		jv[i] = (struct job){.ctx = ctx,
				     .host = json_array_get(targets, i),
				     .image = image,
				     .digest = image ? digest : NULL,
				     .budget = budget,
				     .has_budget = has_budget,
				     .ok = !image};
	if (image) {
		warm_all(jv, n, jobs, peer);
		record_warm(s, jv, n, argv[op.ind], digest);
	}
	if (evict)
		evict_all(s, jv, n, jobs);
	ok = report_all(ctx, jv, n, image ? argv[op.ind] : NULL, digest, peer,
			evict);
	/* 0 all warm, 4 some failed (the others are warm), 1 none */
	st = ok == n ? 0 : ok ? EC_REMOTE : EC_FAIL;
	goto out;
fail:
	st = report_error(ctx, &err);
out:
	for (i = 0; jv && i < n; i++) {
		json_decref(jv[i].evicted);
		json_decref(jv[i].now_host);
	}
	free(jv);
	json_decref(locs);
	json_decref(hostnames);
	return st;
}
