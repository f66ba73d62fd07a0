/* prewarm.c - `edgectl prewarm`: pull an image onto hosts before work
 * arrives (by digest, layers unpacked), record the warm set in each host
 * object by CAS so `schedule` prefers warm hosts; `prewarm ls`. */
#include "cmd.h"
#include "fleet/fleet.h"
#include "sched/commit.h"
#include "sched/sched.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    {"image", 0, "REF", "prewarm ls: only this image", O_IMAGE},
    {0},
};

static const char *const subcmds[] = {"ls", NULL};

const struct ec_cmd cmd_prewarm_def = {
    .name = "prewarm",
    .summary = "pull an image onto hosts before work arrives",
    .usage = "edgectl prewarm [--location L]... [--host H]... [--all] "
	     "[--policy off-peak] [--count N | --percent P] [-j N] IMAGE\n"
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
	/* results */
	int ok, warm;
	json_int_t bytes;
	double secs;
	char msg[1200];
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
	if (image && cmd_image_digest(s, image, &repo, digest, &err) < 0) {
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

static int run_prewarm(struct ec_ctx *ctx, int argc, char **argv)
{
	struct optparse op;
	struct ec_err err;
	json_t *locs = json_array(), *hostnames = json_array();
	_cleanup_json_ json_t *all = NULL, *targets = json_array();
	_cleanup_free_ char *repo = NULL, *image = NULL;
	const char *ls_image = NULL;
	char digest[80];
	int c, st = 0, every = 0, offpeak = 0, jobs = 8;
	uint64_t count = 0, percent = 0, u;
	time_t now = time(NULL);
	struct store *s;
	struct job *jv = NULL;
	size_t n, i, k, ok = 0;

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
		}
	}
	if (!(s = ctx_store(ctx, &err)))
		goto fail;
	if (op.ind < argc && !strcmp(argv[op.ind], "ls")) {
		st = prewarm_ls(ctx, s, ls_image);
		goto out;
	}
	if (argc - op.ind != 1) {
		st = usage_error(ctx, &cmd_prewarm_def,
				 "prewarm needs one IMAGE");
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
	if (cmd_image_digest(s, argv[op.ind], &repo, digest, &err) < 0)
		goto fail;
	image = xasprintf("%s@%s", repo, digest);
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
			sc_fleet_apply_tz(&f, now, cmd_tz_offset);
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
	for (i = 0; i < n; i += (size_t)jobs) {
		pthread_t th[64];
		int started[64] = {0};
		for (k = 0; k < (size_t)jobs && i + k < n; k++) {
			jv[i + k] =
			    (struct job){.ctx = ctx,
					 .host = json_array_get(targets, i + k),
					 .image = image,
					 .digest = digest};
			started[k] = pthread_create(&th[k], NULL, warm_one,
						    &jv[i + k]) == 0;
			if (!started[k])
				warm_one(&jv[i + k]);
		}
		for (k = 0; k < (size_t)jobs && i + k < n; k++)
			if (started[k])
				pthread_join(th[k], NULL);
	}
	{
		json_t *rep = json_array();
		json_int_t bytes = 0;
		struct warm_add w = {digest, argv[op.ind]};
		for (i = 0; i < n; i++) {
			const char *hn = ec_json_str(jv[i].host, "name");
			if (jv[i].ok) {
				struct ec_err e;
				ec_err_clear(&e);
				if (fleet_host_update(
					s, ec_json_str(jv[i].host, "location"),
					hn, 0, add_warm, &w, &e) < 0) {
					jv[i].ok = 0;
					snprintf(jv[i].msg, sizeof(jv[i].msg),
						 "warm but not recorded: %s",
						 e.msg);
				}
			}
			ok += (size_t)jv[i].ok;
			bytes += jv[i].bytes;
			json_array_append_new(
			    rep,
			    jv[i].ok
				? json_pack("{s:s,s:b,s:I,s:f,s:b}", "host", hn,
					    "ok", 1, "bytes_fetched",
					    jv[i].bytes, "seconds", jv[i].secs,
					    "already_warm", jv[i].warm)
				: json_pack("{s:s,s:b,s:s}", "host", hn, "ok",
					    0, "error", jv[i].msg));
			if (!ctx->json) {
				if (jv[i].ok)
					printf(
					    "%-16s  %s  %10.1f MB  %6.2f s\n",
					    hn,
					    jv[i].warm ? "already warm"
						       : "warmed      ",
					    (double)jv[i].bytes / 1e6,
					    jv[i].secs);
				else
					fprintf(stderr,
						"edgectl: error: %s: %s\n", hn,
						jv[i].msg);
			}
		}
		if (ctx->json)
			json_out(json_pack(
			    "{s:s,s:s,s:o,s:I,s:i,s:i}", "image", argv[op.ind],
			    "digest", digest, "hosts", rep, "bytes_fetched",
			    bytes, "warm", (int)ok, "failed", (int)(n - ok)));
		else
			json_decref(rep);
	}
	/* 0 all warm, 4 some failed (the others are warm), 1 none */
	st = ok == n ? 0 : ok ? EC_REMOTE : EC_FAIL;
	goto out;
fail:
	st = report_error(ctx, &err);
out:
	free(jv);
	json_decref(locs);
	json_decref(hostnames);
	return st;
}
