/* store.c - `edgectl store`: object store plumbing for operators/scripts. */
#include "cmd.h"
#include "store/getfile.h"
#include "util/io.h"
#include "util/parse.h"
#include "util/tmpfile.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	O_IF_MATCH = OPT_FIRST_LONG,
	O_IF_ABSENT,
	O_IF_NONE_MATCH,
	O_RANGE,
	O_JOBS,
	O_PART_SIZE,
	O_CONTENT_TYPE
};

struct args {
	int recursive, if_absent;
	const char *if_match, *if_none_match, *content_type, *range;
	uint64_t jobs, part_size;
};

static const struct ec_opt opts[] = {
    {"recursive", 'r', NULL,
     "ls: list every key under PREFIX (no '/' grouping)", 'r',
     OPT_FLAG_TO(struct args, recursive)},
    {"if-match", 0, "ETAG",
     "put: only if the object's ETag is ETAG (else exit 6)", O_IF_MATCH,
     OPT_STR_TO(struct args, if_match)},
    {"if-absent", 0, NULL,
     "put: only if the object does not exist (else exit 6)", O_IF_ABSENT,
     OPT_FLAG_TO(struct args, if_absent)},
    {"if-none-match", 0, "ETAG", "get: fetch only if the ETag differs",
     O_IF_NONE_MATCH, OPT_STR_TO(struct args, if_none_match)},
    {"range", 0, "START-END", "get: bytes START..END (inclusive; END optional)",
     O_RANGE, OPT_STR_TO(struct args, range)},
    {"jobs", 'j', "N", "parallel requests for large objects (default 4)",
     O_JOBS, OPT_U64_TO(struct args, jobs, 1, XFER_JOBS_MAX)},
    {"part-size", 0, "SIZE", "multipart part size (default 16M, min 5M)",
     O_PART_SIZE,
     OPT_SIZE_TO(struct args, part_size, STORE_PART_MIN, STORE_PART_MAX)},
    {"content-type", 0, "TYPE", "put: Content-Type of the object",
     O_CONTENT_TYPE, OPT_STR_TO(struct args, content_type)},
    {0},
};

static const int ls_opts[] = {'r', 0};
static const int get_opts[] = {O_RANGE, O_IF_NONE_MATCH, O_JOBS, O_PART_SIZE,
			       0};
static const int put_opts[] = {O_IF_MATCH, O_IF_ABSENT,	   O_PART_SIZE,
			       O_JOBS,	   O_CONTENT_TYPE, 0};

static const struct ec_verb verbs[] = {
    {"ls", "edgectl store ls [-r] [PREFIX]", ls_opts, 0, 1, "store ls"},
    {"stat", "edgectl store stat KEY", NULL, 1, 1},
    {"get",
     "edgectl store get [--range START-END] [--if-none-match ETAG] "
     "[--part-size SIZE] [-j N] "
     "KEY [FILE]",
     get_opts, 1, 2},
    {"put",
     "edgectl store put [--if-match ETAG | --if-absent] [--part-size SIZE] "
     "[--content-type TYPE] "
     "[-j N] KEY [FILE]",
     put_opts, 1, 2},
    {"rm", "edgectl store rm KEY...", NULL, 1, -1},
    {0},
};

static int run(struct ec_ctx *ctx, int argc, char **argv);

const struct ec_cmd cmd_store_def = {
    .name = "store",
    .summary = "read and write objects in the shared store (plumbing)",
    .opts = opts,
    .run = run,
    .verbs = verbs,
};

static json_t *info_json(const char *key, const struct store_info *i)
{
	return json_pack("{s:s,s:I,s:s,s:I}", "key", key, "size_bytes",
			 (json_int_t)i->size, "etag", i->etag, "modified",
			 (json_int_t)i->mtime);
}

struct ls_ctx {
	struct ec_ctx *ctx;
	json_t *arr;
};

static int ls_entry(void *c, const struct store_entry *e, struct ec_err *err)
{
	struct ls_ctx *l = c;
	char when[32] = "";
	struct tm tm;
	time_t t = e->mtime;

	(void)err;
	if (l->arr) {
		json_array_append_new(
		    l->arr,
		    e->is_prefix
			? json_pack("{s:s}", "prefix", e->key)
			: json_pack("{s:s,s:I,s:s,s:I}", "key", e->key,
				    "size_bytes", (json_int_t)e->size, "etag",
				    e->etag, "modified", (json_int_t)e->mtime));
		return 0;
	}
	if (e->is_prefix) {
		printf("%19s %12s  %s\n", "", "PRE", e->key);
		return 0;
	}
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%19s %12llu  %s\n", when, (unsigned long long)e->size, e->key);
	return 0;
}

static int do_ls(struct ec_ctx *ctx, struct store *s, struct args *a, int argc,
		 char **argv, struct ec_err *err)
{
	struct store_list_opts lo = {.prefix = argc ? argv[0] : NULL,
				     .delimiter = a->recursive ? NULL : "/"};
	struct ls_ctx l = {.ctx = ctx, .arr = ctx->json ? json_array() : NULL};

	if (store_list(s, &lo, ls_entry, &l, err) < 0) {
		json_decref(l.arr);
		return -1;
	}
	if (l.arr)
		json_out(l.arr);
	return 0;
}

static void on_progress(void *c, uint64_t done, uint64_t total)
{
	struct progress *pr = c;

	pr->total = total;
	progress_update(pr, done);
}

static int do_put(struct ec_ctx *ctx, struct store *s, struct args *a,
		  const char *key, const char *file, struct ec_err *err)
{
	struct store_put_opts po = {.if_match = a->if_match,
				    .if_absent = a->if_absent,
				    .content_type = a->content_type};
	_cleanup_free_ char *journal = xasprintf("%s/cache/uploads", ctx->root);
	struct store_xfer_opts xo = {.jobs = (unsigned)a->jobs,
				     .part_size = a->part_size,
				     .journal_dir = journal,
				     .put = &po,
				     .progress = on_progress,
				     .cancel = ctx->interrupted};
	struct store_xfer_result res;
	struct store_info info;
	struct progress pr;
	double t0 = now_seconds();
	_cleanup_close_ int fd = -1;

	if (!file || !strcmp(file, "-")) {
		fd = dup(0);
		xo.journal_dir = NULL;
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", file);
	progress_init(&pr, ctx, key, 0);
	xo.progress_ctx = &pr;
	if (store_upload_fd(s, key, fd, &xo, &info, &res, err) < 0)
		return -1;
	progress_done(&pr);
	if (ctx->json) {
		json_t *j = info_json(key, &info);
		json_object_set_new(j, "size_bytes",
				    json_integer((json_int_t)res.size));
		json_object_set_new(j, "parts", json_integer(res.parts));
		json_object_set_new(j, "parts_resumed",
				    json_integer(res.parts_resumed));
		json_object_set_new(j, "bytes_sent",
				    json_integer((json_int_t)res.bytes_sent));
		json_object_set_new(
		    j, "duration_ms",
		    json_integer((json_int_t)((now_seconds() - t0) * 1000)));
		json_out(j);
	} else if (!ctx->quiet) {
		printf("%s\n", info.etag);
	}
	return 0;
}

/* Get KEY into FILE (atomically: FILE appears only when complete) or to
 * stdout. Whole objects into files use parallel ranges. */
static int do_get(struct ec_ctx *ctx, struct store *s, struct args *a,
		  const char *key, const char *file, struct ec_err *err)
{
	struct store_get_opts g = {.if_none_match = a->if_none_match};
	struct store_xfer_opts xo = {.jobs = (unsigned)a->jobs,
				     .part_size = a->part_size,
				     .progress = on_progress,
				     .cancel = ctx->interrupted};
	struct store_info info;
	struct progress pr;
	double t0 = now_seconds();
	int r;

	if (a->range && store_range_parse(a->range, &g, err) < 0)
		return -1;
	if (!file || !strcmp(file, "-")) {
		if (ctx->json)
			return ec_err_set(err, EC_USAGE,
					  "--json needs an output FILE (stdout "
					  "carries the JSON)");
		fflush(stdout);
		return store_get_fd(s, key, &g, 1, NULL, &info, err) < 0 ? -1
									 : 0;
	}
	progress_init(&pr, ctx, key, 0);
	xo.progress_ctx = &pr;
	if ((r = store_get_file(s, key, file, &g, &xo, &info, err)) < 0)
		return -1;
	if (r == STORE_NOT_MODIFIED) {
		if (ctx->json)
			json_out(json_pack("{s:s,s:s,s:b}", "key", key, "etag",
					   info.etag, "not_modified", 1));
		return 0;
	}
	progress_done(&pr);
	if (ctx->json) {
		json_t *j = info_json(key, &info);
		json_object_set_new(
		    j, "duration_ms",
		    json_integer((json_int_t)((now_seconds() - t0) * 1000)));
		json_out(j);
	}
	return 0;
}

static int do_rm(struct ec_ctx *ctx, struct store *s, int argc, char **argv,
		 struct ec_err *err)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < argc; i++) {
		if (store_delete(s, argv[i], err) < 0) {
			json_decref(arr);
			return -1;
		}
		json_array_append_new(arr, json_string(argv[i]));
	}
	if (ctx->json)
		json_out(json_pack("{s:o}", "deleted", arr));
	else
		json_decref(arr);
	return 0;
}

static int run(struct ec_ctx *ctx, int argc, char **argv)
{
	struct args a = {0};
	_cleanup_optparse_ struct optparse op = {0};
	struct ec_err err;
	struct store *s;
	const char *sub;
	int r, n;

	ec_err_clear(&err);
	if ((r = opt_parse(&op, ctx, &cmd_store_def, argc, argv, &a)) >= 0)
		return r;
	if (a.if_match && a.if_absent)
		return usage_error(
		    ctx, &cmd_store_def,
		    "--if-match and --if-absent exclude each other");
	sub = op.verb->name;
	argv += op.ind + 1;
	n = argc - op.ind - 1;
	if (!(s = ctx_store(ctx, &err)))
		return report_error(ctx, &err);
	if (!strcmp(sub, "ls"))
		r = do_ls(ctx, s, &a, n, argv, &err);
	else if (!strcmp(sub, "stat")) {
		struct store_info info;
		r = store_head(s, argv[0], &info, &err);
		if (r == 0 && ctx->json)
			json_out(info_json(argv[0], &info));
		else if (r == 0)
			printf(
			    "key: %s\nsize: %llu\netag: %s\nmodified: %lld\n",
			    argv[0], (unsigned long long)info.size, info.etag,
			    (long long)info.mtime);
	} else if (!strcmp(sub, "get"))
		r = do_get(ctx, s, &a, argv[0], n > 1 ? argv[1] : NULL, &err);
	else if (!strcmp(sub, "put"))
		r = do_put(ctx, s, &a, argv[0], n > 1 ? argv[1] : NULL, &err);
	else
		r = do_rm(ctx, s, n, argv, &err);
	return r < 0 ? report_error(ctx, &err) : 0;
}
