/* build.c - the build executor: stages, instructions, cache, image. */
#include "build/build.h"
#include "registry/registry.h"
#include "build/copy.h"
#include "build/dockerfile.h"
#include "build/dockerignore.h"
#include "build/layer.h"
#include "crypto/digest.h"
#include "image/image.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "runtime/rt_impl.h"
#include "runtime/runtime.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define DOCKERFILE_MAX (1u << 20)

struct stage {
	char *name; /* AS name, lower case, or NULL */
	json_t *
	    image; /* image config: architecture, os, config, rootfs, history */
	json_t *layers; /* array of layer descriptors (manifest form) */
	json_t *dirs;	/* array of layer dir paths, bottom first */
	json_t *args;	/* ARG values in scope {name: value} */
	char chain[65]; /* cache chain key */
	int cmd_set;	/* a CMD ran in this stage (ENTRYPOINT keeps it) */
};

struct builder {
	const struct build_opts *o;
	struct oci_layout *layout;
	struct df_file *df;
	char *dfname;
	struct di_rules *ignore;
	int ctxfd;
	char *tmp;	  /* ROOT/tmp/build-XXXX */
	char *layers_dir; /* ROOT/layers */
	char *cache_dir;  /* ROOT/cache/build */
	struct stage *stages;
	size_t nstages;
	json_t *global_args; /* ARGs before the first FROM */
	json_t *build_args;  /* --build-arg */
	json_t *used_args;   /* build args that some ARG declared */
	json_t *steps;
	int step_no, step_total;
	char created[32];
};

static void warn(struct builder *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warn(struct builder *b, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!b->o->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->o->warn(b->o->cb_ctx, msg);
}

static const char *host_arch(void)
{
	struct utsname u;

	if (uname(&u) == 0 && !strcmp(u.machine, "aarch64"))
		return "arm64";
	return "amd64";
}

/* --- variables --- */

struct lookup {
	struct builder *b;
	struct stage *st; /* NULL before the first FROM */
};

static const char *env_get(json_t *env, const char *name)
{
	size_t i, n = strlen(name);
	json_t *e;

	json_array_foreach (env, i, e) {
		const char *s = json_string_value(e);
		if (s && !strncmp(s, name, n) && s[n] == '=')
			return s + n + 1;
	}
	return NULL;
}

static const char *lookup_var(void *ctx, const char *name)
{
	struct lookup *l = ctx;
	const char *v;

	if (!l->st)
		return ec_json_str(l->b->global_args, name);
	v = env_get(
	    json_object_get(json_object_get(l->st->image, "config"), "Env"),
	    name);
	if (v)
		return v;
	return ec_json_str(l->st->args, name);
}

static char *expand(struct builder *b, struct stage *st, const char *s,
		    const struct df_instr *in, struct ec_err *err)
{
	struct lookup l = {b, st};
	char *out = NULL;

	if (df_expand_esc(s, b->df->escape, lookup_var, &l, &out, err) < 0) {
		ec_err_prefix(err, "%s:%d", b->dfname, in->line);
		return NULL;
	}
	return out;
}

static const char *flag_value(const struct df_instr *in, const char *name)
{
	const struct df_flag *f = df_instr_flag(in, name);

	return f ? f->value : NULL;
}

/* The parser already refuses flags an instruction does not take (with
 * Docker's list); this refuses the ones edgectl does not implement. */
static int check_flags(struct builder *b, const struct df_instr *in,
		       const char *const *allowed, struct ec_err *err)
{
	size_t i;

	for (i = 0; i < in->nflags; i++) {
		const char *const *a;
		int ok = 0;
		for (a = allowed; a && *a; a++)
			if (!strcmp(*a, in->flags[i].name))
				ok = 1;
		if (!ok)
			return ec_err_set(
			    err, EC_USAGE,
			    "%s:%d: %s --%s is not supported by edgectl",
			    b->dfname, in->line, in->keyword,
			    in->flags[i].name);
	}
	return 0;
}

/* --- stages --- */

static json_t *config_obj(struct stage *st)
{
	json_t *c = json_object_get(st->image, "config");

	if (!c) {
		c = json_object();
		json_object_set_new(st->image, "config", c);
	}
	return c;
}

static void stage_release(struct stage *st)
{
	free(st->name);
	json_decref(st->image);
	json_decref(st->layers);
	json_decref(st->dirs);
	json_decref(st->args);
}

static void chain_update(struct stage *st, const char *what, const char *extra)
{
	struct sha256_ctx *h = sha256_new();
	uint8_t d[SHA256_LEN];

	sha256_update(h, st->chain, strlen(st->chain));
	sha256_update(h, "\n", 1);
	sha256_update(h, what, strlen(what));
	sha256_update(h, "\n", 1);
	if (extra)
		sha256_update(h, extra, strlen(extra));
	sha256_final(h, d);
	sha256_free(h);
	hex_encode(d, sizeof(d), st->chain);
}

static void history_add(struct builder *b, struct stage *st, const char *by,
			int empty)
{
	json_t *h = json_object_get(st->image, "history");

	json_array_append_new(
	    h, json_pack("{s:s,s:s}", "created", b->created, "created_by", by));
	if (empty)
		json_object_set_new(json_array_get(h, json_array_size(h) - 1),
				    "empty_layer", json_true());
}

/* Unpacked layer dir of diff_id (ROOT/layers/<hex>). */
static char *layer_dir(struct builder *b, const char *diff_id)
{
	return xasprintf("%s/%s", b->layers_dir, diff_id + 7);
}

/* Every layer dir of the stage on disk: a COPY layer tarred straight from
 * the context (or a cached or base layer whose dir is gone) has only its
 * blob until a step needs the files; unpack those (verified) now. */
static int stage_dirs_ready(struct builder *b, const struct stage *st,
			    struct ec_err *err)
{
	json_t *diffs =
	    json_object_get(json_object_get(st->image, "rootfs"), "diff_ids");
	size_t i, n = json_array_size(st->dirs);

	if (json_array_size(diffs) != n || json_array_size(st->layers) != n)
		return ec_err_set(err, EC_FAIL,
				  "the stage's layers, dirs and diff_ids "
				  "differ in number");
	for (i = 0; i < n; i++) {
		const char *d = json_string_value(json_array_get(st->dirs, i));
		const char *diff = json_string_value(json_array_get(diffs, i));
		struct img_layer ly;

		if (!d || access(d, F_OK) == 0)
			continue;
		memset(&ly, 0, sizeof(ly));
		if (!diff || oci_digest_check(diff, err) < 0 ||
		    oci_desc_from_json(json_array_get(st->layers, i), &ly.blob,
				       err) < 0)
			return ec_err_prefix(err, "layer %zu", i + 1);
		snprintf(ly.diff_id, sizeof(ly.diff_id), "%s", diff);
		if (img_unpack_layer(b->layout, &ly, b->layers_dir, err) < 0)
			return ec_err_prefix(err, "unpack layer %s", diff);
	}
	return 0;
}

/* Base image from the local layout: manifest, config, layer dirs. */
static int base_from_layout(struct builder *b, struct stage *st,
			    const char *name, struct ec_err *err)
{
	struct oci_desc d;
	_cleanup_json_ json_t *man = NULL;
	json_t *cfg, *diffs, *l;
	const char *cd;
	size_t i;

	if (oci_ref_get(b->layout, name, &d, err) < 0)
		return ec_err_set(err, EC_NOTFOUND,
				  "base image '%s' not found in the local root "
				  "(build it, or pull it first)",
				  name);
	man = oci_blob_json(b->layout, d.digest, err);
	if (!man)
		return -1;
	cd = ec_json_str(json_object_get(man, "config"), "digest");
	if (!cd || !(cfg = oci_blob_json(b->layout, cd, err)))
		return ec_err_prefix(err, "base image '%s': config", name);
	json_decref(st->image);
	st->image = cfg;
	json_decref(st->layers);
	st->layers = json_deep_copy(json_object_get(man, "layers"));
	if (!json_is_array(st->layers))
		st->layers = json_array();
	diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	if (json_array_size(diffs) != json_array_size(st->layers))
		return ec_err_set(
		    err, EC_FAIL,
		    "base image '%s': layers and diff_ids differ in number",
		    name);
	json_array_foreach (diffs, i, l) {
		_cleanup_free_ char *dir = NULL;
		const char *diff = json_string_value(l);
		if (!diff || oci_digest_check(diff, err) < 0)
			return ec_err_prefix(err, "base image '%s'", name);
		dir = layer_dir(b, diff); /* unpacked when a step needs it */
		json_array_append_new(st->dirs, json_string(dir));
	}
	memcpy(st->chain, d.digest + 7, 64);
	st->chain[64] = 0;
	if (!json_object_get(st->image, "history"))
		json_object_set_new(st->image, "history", json_array());
	return 0;
}

/* A base image that is not in the local root yet (or is named by a
 * registry or oci: reference, or a digest): pull it first. */
static int pull_base(struct builder *b, const struct img_ref *r,
		     const char *name, struct ec_err *err)
{
	struct img_pull_opts po = {.layers_dir = b->layers_dir};
	_cleanup_free_ char *cache = xasprintf("%s/cache", b->o->root);
	struct img_copy_result res;
	struct oci_desc d;
	struct ec_err e;

	/* already there (built or pulled: its layer dirs exist too) */
	if (oci_ref_get(b->layout, name, &d, &e) == 0 && r->kind != REF_OCI)
		return 0;
	if (r->kind == REF_STORE) {
		if (!b->o->open_store)
			return ec_err_set(err, EC_NOTFOUND,
					  "base image '%s' not found in the "
					  "local root (pull it first)",
					  name);
		if (!(po.store = b->o->open_store(b->o->cb_ctx, err)))
			return -1;
	}
	po.eo.insecure = b->o->insecure;
	po.eo.plain_http = r->kind == REF_REGISTRY &&
			   reg_host_listed(b->o->insecure_registries,
					   b->o->ninsecure, r->registry);
	po.eo.creds = b->o->creds;
	po.eo.cache_dir = cache;
	po.eo.cancel = b->o->cancel;
	return img_pull(b->layout, r, name, &po, &res, NULL, err);
}

#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* A FROM scratch stage starts as BuildKit's emptyImage: WorkingDir "/"
 * (the legacy builder leaves it empty). */
static void scratch_image(struct builder *b, struct stage *st)
{
	json_decref(st->image);
	st->image =
	    json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:[]},s:[]}", "architecture",
		      host_arch(), "os", "linux", "config", "WorkingDir", "/",
		      "rootfs", "type", "layers", "diff_ids", "history");
	(void)b;
	memset(st->chain, '0', 64);
	st->chain[64] = '\0';
}

static void env_set(json_t *cfg, const char *k, const char *v);
static void stage_init(struct stage *st);

/* Both of Docker's builders give every stage a PATH when its base has
 * none. */
static void default_path(struct stage *st)
{
	json_t *cfg = config_obj(st);

	if (!env_get(json_object_get(cfg, "Env"), "PATH"))
		env_set(cfg, "PATH", DEFAULT_PATH);
}

static int do_from(struct builder *b, const struct df_instr *in,
		   struct ec_err *err)
{
	struct lookup l = {b, NULL};
	_cleanup_free_ char *image = NULL;
	struct stage *st;
	const char *plat = flag_value(in, "platform");
	size_t i;

	if (check_flags(b, in, (const char *const[]){"platform", NULL}, err) <
	    0)
		return -1;
	if (plat && strcmp(plat, "linux/amd64") && strcmp(plat, "linux/arm64"))
		return ec_err_set(err, EC_USAGE,
				  "%s:%d: platform '%s' is not supported "
				  "(linux/amd64, linux/arm64)",
				  b->dfname, in->line, plat);
	if (df_expand_esc(in->image, b->df->escape, lookup_var, &l, &image,
			  err) < 0)
		return ec_err_prefix(err, "%s:%d", b->dfname, in->line);
	b->stages = xrealloc(b->stages, (b->nstages + 1) * sizeof(*b->stages));
	st = &b->stages[b->nstages++];
	stage_init(st);
	st->name = in->stage ? xstrdup(in->stage) : NULL;
	if (st->name)
		for (char *p = st->name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	if (!strcasecmp(image, "scratch")) {
		scratch_image(b, st);
		default_path(st);
		return 0;
	}
	for (i = 0; i + 1 < b->nstages; i++) {
		struct stage *p = &b->stages[i];
		if (p->name && !strcasecmp(p->name, image)) {
			st->image = json_deep_copy(p->image);
			json_decref(st->layers);
			json_decref(st->dirs);
			st->layers = json_deep_copy(p->layers);
			st->dirs = json_deep_copy(p->dirs);
			memcpy(st->chain, p->chain, sizeof(st->chain));
			return 0;
		}
	}
	{
		struct img_ref r;
		_cleanup_free_ char *name = NULL;
		int rc;
		if (img_ref_parse(image, &r, err) < 0)
			return ec_err_prefix(err, "%s:%d: FROM", b->dfname,
					     in->line);
		name = img_pull_name(&r);
		rc = pull_base(b, &r, name, err);
		img_ref_release(&r);
		if (rc < 0)
			return ec_err_prefix(err, "%s:%d: FROM %s", b->dfname,
					     in->line, image);
		scratch_image(b, st);
		rc = base_from_layout(b, st, name, err);
		if (rc < 0)
			return ec_err_prefix(err, "%s:%d", b->dfname, in->line);
	}
	default_path(st);
	return 0;
}

/* --- cache --- */

/* Cached layers depend on how they were compressed too: the key gets the
 * compression, level and frame size (a gzip build never reuses a zstd
 * layer). */
static char *cache_path(struct builder *b, const char *key)
{
	return xasprintf("%s/%s-%s%d-%llu.json", b->cache_dir, key,
			 b->o->comp == COMP_GZIP ? "gz" : "zst", b->o->level,
			 (unsigned long long)b->o->frame_size);
}

/* A cached layer for this chain key, if its blob and dir still exist. */
static json_t *cache_get(struct builder *b, const char *key)
{
	_cleanup_free_ char *p = NULL;
	struct ec_err e;
	json_t *c;
	const char *diff, *dg;

	if (b->o->no_cache)
		return NULL;
	p = cache_path(b, key);
	if (access(p, F_OK) < 0)
		return NULL;
	c = ec_json_load_file(p, &e);
	if (!c)
		return NULL;
	diff = ec_json_str(c, "diff_id");
	dg = ec_json_str(json_object_get(c, "layer"), "digest");
	if (!diff || !dg || oci_digest_check(diff, NULL) < 0 ||
	    !oci_blob_exists(b->layout, dg)) {
		json_decref(c);
		return NULL;
	}
	return c; /* its dir is unpacked when a step needs it */
}

static void cache_put(struct builder *b, const char *key, json_t *entry)
{
	if (b->o->no_cache)
		return; /* --no-cache: a build that leaves the cache alone */
	_cleanup_free_ char *p = cache_path(b, key);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp%d", p, (int)getpid());
	struct ec_err e;

	if (fs_mkdir_p(b->cache_dir, &e) < 0 ||
	    json_dump_file(entry, tmp, JSON_COMPACT) < 0 || rename(tmp, p) < 0)
		unlink(tmp);
}

static void add_layer(struct builder *b, struct stage *st, json_t *entry,
		      const char *by)
{
	const char *diff = ec_json_str(entry, "diff_id");
	_cleanup_free_ char *dir = layer_dir(b, diff);

	json_array_append(st->layers, json_object_get(entry, "layer"));
	json_array_append_new(st->dirs, json_string(dir));
	json_array_append_new(
	    json_object_get(json_object_get(st->image, "rootfs"), "diff_ids"),
	    json_string(diff));
	history_add(b, st, by, 0);
}

/* Add the cached layer of the stage's current chain key, if there is one.
 * Returns 1 when it did. */
static int reuse_cached(struct builder *b, struct stage *st, const char *by)
{
	json_t *cached = cache_get(b, st->chain);

	if (!cached)
		return 0;
	add_layer(b, st, cached, by);
	json_decref(cached);
	return 1;
}

static void layer_progress(void *ctx, uint64_t n)
{
	struct builder *b = ctx;

	if (b->o->bytes)
		b->o->bytes(b->o->cb_ctx, n);
}

/* Turn directory `dir` into a layer (blob + ROOT/layers/<diff>), cache it
 * under `key` and add it to the stage. With `defer` the dir's regular
 * files are empty and their bytes come from the sources copy recorded:
 * the dir is left for the caller to remove and ROOT/layers/<diff> is
 * unpacked from the blob only if a step needs it. */
static int commit_layer(struct builder *b, struct stage *st, const char *dir,
			int overlay_upper, struct copy_deferred *defer,
			const char *key, const char *by, struct ec_err *err)
{
	struct layer_opts lo = {.comp = b->o->comp,
				.level = b->o->level,
				.frame_size = b->o->frame_size,
				.threads = b->o->threads,
				.mtime_max = b->o->source_date_epoch,
				.uid = -1,
				.gid = -1,
				.overlay_upper = overlay_upper,
				.progress = layer_progress,
				.progress_ctx = b,
				.content = defer ? copy_deferred_open : NULL,
				.content_ctx = defer};
	struct layer_result res;
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *final = NULL;
	_cleanup_json_ json_t *entry = NULL;

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open layer '%s'",
				    dir);
	if (layer_create(b->layout, fd, &lo, &res, err) < 0)
		return ec_err_prefix(err, "make layer");
	if (res.tar_size > (5ull << 30))
		warn(b,
		     "layer of '%s' is %.1f GiB: some registries refuse layers "
		     "over 5 GiB; split it into several COPY/RUN steps",
		     by, (double)res.tar_size / (1 << 30));
	final = layer_dir(b, res.diff_id);
	if (!defer && rename(dir, final) < 0) {
		struct ec_err e;
		if (errno != ENOTEMPTY && errno != EEXIST)
			return ec_err_errno(err, EC_FAIL, errno,
					    "store layer dir '%s'", final);
		fs_rm_rf(dir, &e); /* same content is already unpacked */
	}
	entry = json_pack("{s:s,s:o,s:I,s:i}", "diff_id", res.diff_id, "layer",
			  oci_desc_json(&res.blob), "tar_size",
			  (json_int_t)res.tar_size, "frames", res.frames);
	cache_put(b, key, entry);
	add_layer(b, st, entry, by);
	return 0;
}

/* --- metadata instructions --- */

static void env_set(json_t *cfg, const char *k, const char *v)
{
	json_t *env = json_object_get(cfg, "Env");
	_cleanup_free_ char *kv = xasprintf("%s=%s", k, v);
	size_t i, n = strlen(k);
	json_t *e;

	if (!env) {
		env = json_array();
		json_object_set_new(cfg, "Env", env);
	}
	json_array_foreach (env, i, e) {
		const char *s = json_string_value(e);
		if (s && !strncmp(s, k, n) && s[n] == '=') {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Exec form as given, or shell form wrapped in the stage's SHELL. */
static json_t *command_json(struct stage *st, const struct df_instr *in)
{
	json_t *shell, *a;

	if (in->json)
		return strv_json(in->argv, in->argc);
	shell = json_object_get(config_obj(st), "Shell");
	a = shell ? json_deep_copy(shell) : json_pack("[s,s]", "/bin/sh", "-c");
	json_array_append_new(a, json_string(in->raw ? in->raw : ""));
	return a;
}

/* ENV and LABEL. Every key and value is expanded with the variables as
 * they were before the instruction (Docker's rule: "ENV A=2 B=$A" gives B
 * the old A), then all are set. */
/* Set Cmd or Entrypoint (takes `cmd`); an empty one ("CMD []") clears the
 * field, as BuildKit's images show it (the legacy builder keeps "Cmd":
 * []). */
static void set_command(json_t *cfg, const char *key, json_t *cmd)
{
	if (json_array_size(cmd) == 0) {
		json_object_del(cfg, key);
		json_decref(cmd);
		return;
	}
	json_object_set_new(cfg, key, cmd);
}

static int do_kv(struct builder *b, struct stage *st, const struct df_instr *in,
		 struct ec_err *err)
{
	json_t *cfg = config_obj(st);
	_cleanup_json_ json_t *set = json_array();
	json_t *kv;
	size_t i;

	for (i = 0; i < in->nkv; i++) {
		_cleanup_free_ char *k = expand(b, st, in->kv[i].key, in, err);
		_cleanup_free_ char *v = NULL;
		if (!k ||
		    !(v = expand(b, st, in->kv[i].value ? in->kv[i].value : "",
				 in, err)))
			return -1;
		json_array_append_new(set, json_pack("[s,s]", k, v));
	}
	json_array_foreach (set, i, kv) {
		const char *k = json_string_value(json_array_get(kv, 0));
		const char *v = json_string_value(json_array_get(kv, 1));
		if (!strcmp(in->keyword, "ENV")) {
			env_set(cfg, k, v);
		} else {
			json_t *labels = json_object_get(cfg, "Labels");
			if (!labels) {
				labels = json_object();
				json_object_set_new(cfg, "Labels", labels);
			}
			json_object_set_new(labels, k, json_string(v));
		}
	}
	return 0;
}

static int do_arg(struct builder *b, struct stage *st,
		  const struct df_instr *in, struct ec_err *err)
{
	size_t i;

	for (i = 0; i < in->nkv; i++) {
		const char *k = in->kv[i].key;
		const char *given = ec_json_str(b->build_args, k);
		_cleanup_free_ char *def = NULL;
		json_t *scope = st ? st->args : b->global_args;

		if (given)
			json_object_set_new(b->used_args, k, json_true());
		if (!given && in->kv[i].value) {
			if (!(def = expand(b, st, in->kv[i].value, in, err)))
				return -1;
			given = def;
		}
		if (!given &&
		    st) /* a global ARG's value, re-declared in the stage */
			given = ec_json_str(b->global_args, k);
		if (given)
			json_object_set_new(scope, k, json_string(given));
		else if (!json_object_get(scope, k))
			json_object_set_new(scope, k, json_string(""));
	}
	return 0;
}

/* HEALTHCHECK NONE | [flags] CMD command: argv[0] is the type, then the
 * command (exec form: its words; shell form: the text). */
static int do_healthcheck(struct builder *b, json_t *cfg,
			  const struct df_instr *in, struct ec_err *err)
{
	static const char *const names[] = {"interval", "timeout",
					    "start-period", "start-interval"};
	static const char *const keys[] = {"Interval", "Timeout", "StartPeriod",
					   "StartInterval"};
	json_t *hc, *t;
	const char *val;
	int64_t v;
	size_t k;

	if (!strcasecmp(in->argv[0], "NONE")) {
		json_object_set_new(cfg, "Healthcheck",
				    json_pack("{s:[s]}", "Test", "NONE"));
		return 0;
	}
	if (in->json) {
		t = strv_json(in->argv + 1, in->argc - 1);
		json_array_insert_new(t, 0, json_string("CMD"));
	} else {
		t = json_pack("[s,s]", "CMD-SHELL",
			      in->argc > 1 ? in->argv[1] : "");
	}
	hc = json_pack("{s:o}", "Test", t);
	for (k = 0; k < ARRAY_SIZE(names); k++) {
		if (!(val = flag_value(in, names[k])))
			continue;
		if (df_parse_duration(val, &v, err) < 0) {
			json_decref(hc);
			return ec_err_prefix(err, "%s:%d: HEALTHCHECK --%s",
					     b->dfname, in->line, names[k]);
		}
		json_object_set_new(hc, keys[k], json_integer(v));
	}
	if ((val = flag_value(in, "retries"))) {
		if (parse_i64(val, 0, INT32_MAX, &v, "--retries", err) < 0) {
			json_decref(hc);
			return ec_err_prefix(err, "%s:%d: HEALTHCHECK",
					     b->dfname, in->line);
		}
		json_object_set_new(hc, "Retries", json_integer(v));
	}
	json_object_set_new(cfg, "Healthcheck", hc);
	return 0;
}

static int do_meta(struct builder *b, struct stage *st,
		   const struct df_instr *in, struct ec_err *err)
{
	json_t *cfg = config_obj(st);
	const char *kw = in->keyword;
	_cleanup_free_ char *v = NULL;

	if (!strcmp(kw, "ENV") || !strcmp(kw, "LABEL"))
		return do_kv(b, st, in, err);
	if (!strcmp(kw, "ARG"))
		return do_arg(b, st, in, err);
	if (!strcmp(kw, "MAINTAINER")) {
		warn(
		    b,
		    "%s:%d: MAINTAINER is deprecated; use LABEL maintainer=...",
		    b->dfname, in->line);
		return 0;
	}
	if (!strcmp(kw, "ENTRYPOINT")) {
		set_command(cfg, "Entrypoint", command_json(st, in));
		/* as Docker: ENTRYPOINT resets a CMD inherited from the base,
		 * not one set in this stage */
		if (!st->cmd_set)
			json_object_del(cfg, "Cmd");
		return 0;
	}
	if (!strcmp(kw, "CMD")) {
		set_command(cfg, "Cmd", command_json(st, in));
		st->cmd_set = 1;
		return 0;
	}
	if (!strcmp(kw, "ONBUILD")) {
		json_t *ob = json_object_get(cfg, "OnBuild");
		if (!json_is_array(ob)) {
			ob = json_array();
			json_object_set_new(cfg, "OnBuild", ob);
		}
		json_array_append_new(ob, json_string(in->argv[0]));
		return 0;
	}
	if (!strcmp(kw, "SHELL")) {
		if (!in->json)
			return ec_err_set(err, EC_USAGE,
					  "%s:%d: SHELL needs the JSON form, "
					  "e.g. SHELL [\"/bin/bash\", \"-c\"]",
					  b->dfname, in->line);
		json_object_set_new(cfg, "Shell",
				    strv_json(in->argv, in->argc));
		return 0;
	}
	if (!strcmp(kw, "HEALTHCHECK"))
		return do_healthcheck(b, cfg, in, err);
	/* single-word values, expanded */
	if (!in->raw && !in->json)
		return ec_err_set(err, EC_USAGE, "%s:%d: %s needs an argument",
				  b->dfname, in->line, kw);
	if (in->json && (!strcmp(kw, "VOLUME"))) {
		json_t *vols = json_object_get(cfg, "Volumes");
		if (!vols) {
			vols = json_object();
			json_object_set_new(cfg, "Volumes", vols);
		}
		for (size_t i = 0; i < in->argc; i++)
			json_object_set_new(vols, in->argv[i], json_object());
		return 0;
	}
	if (!(v = expand(b, st, in->raw, in, err)))
		return -1;
	if (!strcmp(kw, "USER")) {
		json_object_set_new(cfg, "User", json_string(v));
	} else if (!strcmp(kw, "STOPSIGNAL")) {
		if (df_check_signal(v, err) < 0)
			return ec_err_prefix(err, "%s:%d: STOPSIGNAL",
					     b->dfname, in->line);
		json_object_set_new(cfg, "StopSignal", json_string(v));
	} else if (!strcmp(kw, "EXPOSE") || !strcmp(kw, "VOLUME")) {
		const char *key = kw[0] == 'E' ? "ExposedPorts" : "Volumes";
		json_t *o = json_object_get(cfg, key);
		char *tok, *save = NULL;
		if (!o) {
			o = json_object();
			json_object_set_new(cfg, key, o);
		}
		for (tok = strtok_r(v, " \t", &save); tok;
		     tok = strtok_r(NULL, " \t", &save)) {
			char **ports;
			size_t np, k;
			if (kw[0] != 'E') {
				json_object_set_new(o, tok, json_object());
				continue;
			}
			if (df_expose_ports(tok, &ports, &np, err) < 0)
				return ec_err_prefix(err, "%s:%d", b->dfname,
						     in->line);
			for (k = 0; k < np; k++)
				json_object_set_new(o, ports[k], json_object());
			df_words_free(ports);
		}
	}
	return 0;
}

/* --- COPY / ADD --- */

static int exclude_cb(void *ctx, const char *rel)
{
	struct builder *b = ctx;

	return b->ignore && di_match(b->ignore, rel) == 1;
}

/* The stage's layer dirs as fds for copy_into_layer (the image so far). */
static int open_lowers(struct stage *st, struct copy_opts *co,
		       struct ec_err *err)
{
	size_t i, n = json_array_size(st->dirs);
	int *fds = xcalloc(n + 1, sizeof(int));

	co->lowerfds = fds;
	for (i = 0; i < n; i++) {
		const char *d = json_string_value(json_array_get(st->dirs, i));
		fds[i] = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "open layer '%s'", d);
		co->nlowers = i + 1;
	}
	return 0;
}

static void close_lowers(struct copy_opts *co)
{
	for (size_t i = 0; i < co->nlowers; i++)
		close(co->lowerfds[i]);
	free((int *)co->lowerfds);
	co->lowerfds = NULL;
	co->nlowers = 0;
}

/* Resolve --chown USER[:GROUP] to numbers (names via the stage's files). */
static int lookup_id(const struct copy_opts *co, const char *file,
		     const char *name, int64_t *out)
{
	char *end;
	long v = strtol(name, &end, 10);
	_cleanup_free_ char *data = NULL;
	char *line, *save = NULL;
	size_t n = strlen(name);
	struct ec_err e;

	if (*name && !*end && v >= 0) {
		*out = v;
		return 0;
	}
	/* the image's file, read without leaving its layer dirs */
	if (copy_image_read(co, file, 1 << 20, &data, &e) <= 0)
		return -1;
	for (line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f = strchr(line, ':');
		if (!strncmp(line, name, n) && line[n] == ':' && f &&
		    (f = strchr(f + 1, ':'))) {
			*out = strtol(f + 1, NULL, 10);
			return 0;
		}
	}
	return -1;
}

static int parse_chown(struct builder *b, const struct df_instr *in,
		       const char *spec, struct copy_opts *co,
		       struct ec_err *err)
{
	_cleanup_free_ char *s = xstrdup(spec);
	char *colon = strchr(s, ':');

	if (colon)
		*colon++ = '\0';
	if (lookup_id(co, "etc/passwd", s, &co->uid) < 0)
		return ec_err_set(err, EC_USAGE,
				  "%s:%d: --chown: no user '%s' in the image",
				  b->dfname, in->line, s);
	co->gid = co->uid;
	if (colon && lookup_id(co, "etc/group", colon, &co->gid) < 0)
		return ec_err_set(err, EC_USAGE,
				  "%s:%d: --chown: no group '%s' in the image",
				  b->dfname, in->line, colon);
	return 0;
}

/* The merged root of a stage's layers: an empty dir, its one layer dir, or
 * an overlay of its layers mounted read-only under tmp (*mounted is then
 * 1: umount2(*root, MNT_DETACH) when done). `what` names it in messages. */
static int stage_root(struct builder *b, const struct stage *src,
		      const char *what, char **root, int *mounted,
		      struct ec_err *err)
{
	_cleanup_strbuf_ struct strbuf opt = STRBUF_INIT;
	size_t i, n = json_array_size(src->dirs);

	*mounted = 0;
	if (stage_dirs_ready(b, src, err) < 0)
		return -1;
	if (n == 0) {
		*root = fs_mkdtemp(b->tmp, "empty-", err);
		return *root ? 0 : -1;
	}
	if (n == 1) {
		*root =
		    xstrdup(json_string_value(json_array_get(src->dirs, 0)));
		return 0;
	}
	sb_adds(&opt, "lowerdir=");
	for (i = n; i-- > 0;) {
		sb_adds(&opt, json_string_value(json_array_get(src->dirs, i)));
		if (i)
			sb_addc(&opt, ':');
	}
	*root = fs_mkdtemp(b->tmp, "from-", err);
	if (!*root)
		return -1;
	if (mount("overlay", *root, "overlay", MS_RDONLY, opt.buf) < 0)
		return ec_err_errno(err, errno == EPERM ? EC_PERM : EC_FAIL,
				    errno, "mount %s (needs root)", what);
	*mounted = 1;
	return 0;
}

static void stage_init(struct stage *st)
{
	memset(st, 0, sizeof(*st));
	st->layers = json_array();
	st->dirs = json_array();
	st->args = json_object();
}

/* A stage for image `name` (pulled like a FROM base when it is not in the
 * local root yet). */
static int image_stage(struct builder *b, const char *name, struct stage *st,
		       struct ec_err *err)
{
	_cleanup_free_ char *local = NULL;
	struct img_ref r;
	int rc;

	if (img_ref_parse(name, &r, err) < 0)
		return -1;
	local = img_pull_name(&r);
	rc = pull_base(b, &r, local, err);
	img_ref_release(&r);
	if (rc < 0)
		return -1;
	scratch_image(b, st);
	return base_from_layout(b, st, local, err);
}

/* Source root for COPY --from: an earlier stage (by name or index) or else
 * an image, pulled like FROM (BuildKit's rule). */
static int from_root(struct builder *b, const char *from,
		     const struct df_instr *in, char **root, int *mounted,
		     struct ec_err *err)
{
	const struct stage *src = NULL;
	_cleanup_free_ char *what = NULL;
	struct stage img;
	size_t i;
	int rc, numeric = from[0] && strspn(from, "0123456789") == strlen(from);

	*mounted = 0;
	for (i = 0; i + 1 < b->nstages; i++)
		if ((b->stages[i].name &&
		     !strcasecmp(b->stages[i].name, from)) ||
		    (numeric && (size_t)strtoul(from, NULL, 10) == i))
			src = &b->stages[i];
	if (!src && numeric)
		return ec_err_set(err, EC_USAGE,
				  "%s:%d: COPY --from=%s: there is no earlier "
				  "stage %s",
				  b->dfname, in->line, from, from);
	if (src) {
		what = xasprintf("stage '%s' for COPY --from", from);
		return stage_root(b, src, what, root, mounted, err);
	}
	stage_init(&img);
	if (image_stage(b, from, &img, err) < 0) {
		stage_release(&img);
		return ec_err_prefix(err, "%s:%d: COPY --from=%s", b->dfname,
				     in->line, from);
	}
	what = xasprintf("image '%s' for COPY --from", from);
	rc = stage_root(b, &img, what, root, mounted, err);
	stage_release(&img);
	return rc;
}

/* Does a step after `in` in its stage read the stage's files (RUN, COPY,
 * ADD, WORKDIR)? Then COPY fills its layer dir; otherwise it tars the
 * sources straight into the blob (the dir is unpacked if a later stage or
 * build needs it). An instruction of an ONBUILD trigger counts as yes. */
static int later_needs_files(const struct builder *b, const struct df_instr *in)
{
	const struct df_instr *v = b->df->instrs;
	size_t i, n = b->df->ninstrs;

	if (in < v || in >= v + n)
		return 1;
	for (i = (size_t)(in - v) + 1; i < n && v[i].kind != DF_FROM; i++)
		if (v[i].kind == DF_RUN || v[i].kind == DF_COPY ||
		    v[i].kind == DF_ADD || v[i].kind == DF_WORKDIR)
			return 1;
	return 0;
}

static int do_copy(struct builder *b, struct stage *st,
		   const struct df_instr *in, const char *by,
		   struct ec_err *err)
{
	struct copy_opts co = {.uid = 0,
			       .gid = 0,
			       .mode = -1,
			       .exclude = exclude_cb,
			       .exclude_ctx = b,
			       .extract_archives = !strcmp(in->keyword, "ADD")};
	const char *from = flag_value(in, "from"),
		   *chown_s = flag_value(in, "chown");
	const char *chmod_s = flag_value(in, "chmod");
	char **args = NULL;
	size_t nargs = 0, i;
	_cleanup_free_ char *dest = NULL, *layer = NULL, *src_root = NULL;
	_cleanup_free_ char *src_name = NULL;
	char hex[65], key_extra[200];
	json_t *cached;
	uint64_t bytes;
	int srcfd = b->ctxfd, mounted = 0, layer_mounted = 0, r = -1;
	const char *wd = ec_json_str(config_obj(st), "WorkingDir");

	if (check_flags(
		b, in,
		(const char *const[]){"from", "chown", "chmod", "link", NULL},
		err) < 0)
		return -1;
	nargs = in->argc;
	args = xcalloc(nargs + 1, sizeof(char *));
	for (i = 0; i < nargs; i++)
		args[i] = xstrdup(in->argv[i]);
	for (i = 0; i < nargs; i++) {
		char *e = expand(b, st, args[i], in, err);
		if (!e)
			goto out;
		free(args[i]);
		args[i] = e;
		if (!strcmp(in->keyword, "ADD") &&
		    (!strncmp(e, "http://", 7) || !strncmp(e, "https://", 8) ||
		     !strncmp(e, "git@", 4))) {
			ec_err_set(
			    err, EC_USAGE,
			    "%s:%d: ADD of a URL is not supported; download it "
			    "in a RUN step (curl/wget) instead",
			    b->dfname, in->line);
			goto out;
		}
	}
	if (nargs < 2) {
		ec_err_set(
		    err, EC_USAGE,
		    "%s:%d: %s needs at least one source and a destination",
		    b->dfname, in->line, in->keyword);
		goto out;
	}
	if (stage_dirs_ready(b, st, err) < 0 || open_lowers(st, &co, err) < 0 ||
	    (chown_s && parse_chown(b, in, chown_s, &co, err) < 0))
		goto out;
	co.chown = chown_s != NULL;
	if (chmod_s) {
		char *end;
		long m = strtol(chmod_s, &end, 8);
		if (*end || m < 0 || m > 07777) {
			ec_err_set(err, EC_USAGE,
				   "%s:%d: --chmod '%s': expected an octal "
				   "mode like 755",
				   b->dfname, in->line, chmod_s);
			goto out;
		}
		co.mode = m;
	}
	dest = args[nargs - 1][0] == '/'
		   ? xstrdup(args[nargs - 1])
		   : xasprintf("%s/%s", wd && *wd ? wd : "", args[nargs - 1]);
	if (from) {
		co.exclude = NULL;
		co.src_name = src_name = xasprintf("stage '%s'", from);
		if (from_root(b, from, in, &src_root, &mounted, err) < 0)
			goto out;
		srcfd = open(src_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (srcfd < 0) {
			ec_err_errno(err, EC_FAIL, errno, "open '%s'",
				     src_root);
			goto out;
		}
	}
	if (b->o->no_cache) {
		/* no cache to look up or fill: skip reading the inputs twice
		 * (the key only has to be unique) */
		uint8_t rnd[16];
		random_bytes(rnd, sizeof(rnd));
		hex_encode(rnd, sizeof(rnd), hex);
	} else if (copy_inputs_hash(srcfd, (const char *const *)args, nargs - 1,
				    &co, hex, err) < 0) {
		ec_err_prefix(err, "%s:%d: %s", b->dfname, in->line,
			      in->keyword);
		goto out;
	}
	snprintf(key_extra, sizeof(key_extra), "%s %lld:%lld %llo", hex,
		 (long long)co.uid, (long long)co.gid, (long long)co.mode);
	chain_update(st, by, key_extra);
	if ((cached = cache_get(b, st->chain))) {
		add_layer(b, st, cached, by);
		json_decref(cached);
		r = 1;
		goto out;
	}
	if (!(layer = fs_mkdtemp(b->tmp, "layer-", err)))
		goto out;
	if (!co.extract_archives && !later_needs_files(b, in)) {
		co.defer = copy_deferred_new();
		/* The layer dir then holds only names and metadata: on a
		 * tmpfs (as root) its thousands of inodes cost no disk work
		 * to create or delete. Elsewhere it stays on disk. */
		if (mount("tmpfs", layer, "tmpfs",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=0700,nr_inodes=0") == 0)
			layer_mounted = 1;
	}
	{
		_cleanup_close_ int lfd =
		    open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if ((lfd < 0 && ec_err_errno(err, EC_FAIL, errno, "open '%s'",
					     layer) < 0) ||
		    copy_into_layer(srcfd, (const char *const *)args, nargs - 1,
				    dest, lfd, &co, &bytes, err) < 0) {
			ec_err_prefix(err, "%s:%d: %s", b->dfname, in->line,
				      in->keyword);
			goto out;
		}
	}
	if (commit_layer(b, st, layer, 0, co.defer, st->chain, by, err) < 0)
		goto out;
	r = 0;
out:
	copy_deferred_free(co.defer);
	close_lowers(&co);
	if (srcfd != b->ctxfd && srcfd >= 0)
		close(srcfd);
	if (mounted)
		umount2(src_root, MNT_DETACH);
	if (layer_mounted)
		umount2(layer, MNT_DETACH);
	if (layer) {
		struct ec_err e;
		fs_rm_rf(layer, &e);
	}
	for (i = 0; i < nargs; i++)
		free(args[i]);
	free(args);
	return r;
}

/* --- WORKDIR --- */

/* lstat `rel` in the merged view of the stage's layers without mounting
 * them: the topmost layer that has it decides, an overlay whiteout (a 0/0
 * character device) means it is not there. Opaque directories are not
 * looked at. 0, or -1 with errno ENOENT. */
static int layers_lstat(const struct stage *st, const char *rel,
			struct stat *sb)
{
	size_t i = json_array_size(st->dirs);

	while (i-- > 0) {
		_cleanup_free_ char *p = xasprintf(
		    "%s/%s", json_string_value(json_array_get(st->dirs, i)),
		    rel);
		if (lstat(p, sb) == 0) {
			if (S_ISCHR(sb->st_mode) && sb->st_rdev == 0)
				break;
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

/* Where WORKDIR looks: the mounted merged root, or (when mounting is not
 * allowed: not root) the layers themselves. */
struct merged {
	int rootfd; /* -1: look through st's layers */
	const struct stage *st;
};

static int merged_lstat(const struct merged *m, const char *rel,
			struct stat *sb)
{
	if (m->rootfd >= 0)
		return fstatat(m->rootfd, rel, sb, AT_SYMLINK_NOFOLLOW);
	return layers_lstat(m->st, rel, sb);
}

/* A root to resolve the USER in: the merged root, else the topmost layer
 * with an etc/passwd (else the top layer). -1 when the stage has none. */
static int user_rootfd(const struct merged *m)
{
	size_t n = json_array_size(m->st->dirs), i = n;
	struct stat sb;

	if (m->rootfd >= 0)
		return dup(m->rootfd);
	while (i-- > 0) {
		const char *d =
		    json_string_value(json_array_get(m->st->dirs, i));
		_cleanup_free_ char *p = xasprintf("%s/etc/passwd", d);
		if (lstat(p, &sb) == 0 || i == 0)
			return open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return -1;
}

/* Copy the metadata of directory `rel` in the merged root to the same
 * path in the layer (a parent that exists must not change in the diff). */
static int keep_dir(int lfd, const char *rel, const struct stat *sb,
		    struct ec_err *err)
{
	struct timespec ts[2] = {sb->st_atim, sb->st_mtim};

	if (mkdirat(lfd, rel, 0700) < 0 ||
	    (fchownat(lfd, rel, sb->st_uid, sb->st_gid, AT_SYMLINK_NOFOLLOW) <
		 0 &&
	     errno != EPERM) ||
	    fchmodat(lfd, rel, sb->st_mode & 07777, 0) < 0 ||
	    utimensat(lfd, rel, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "WORKDIR: '/%s'", rel);
	return 0;
}

#define WD_LEAVE (-2)

/* Length of the longest prefix of `wd` (absolute, clean, not "/") that
 * exists in the merged root as directories; strlen(wd) when all of it
 * exists; WD_LEAVE when a component is something else (a symlink Docker
 * would follow, a file it would fail on): then nothing is created; -1 on
 * failure. */
static long existing_prefix(const struct merged *m, const char *wd,
			    struct ec_err *err)
{
	size_t n = strlen(wd), end = 1;
	_cleanup_free_ char *rel = NULL;
	struct stat sb;

	while (end <= n) {
		size_t next = end;
		while (next < n && wd[next] != '/')
			next++;
		free(rel);
		rel = xstrndup(wd + 1, next - 1);
		if (merged_lstat(m, rel, &sb) < 0) {
			if (errno == ENOENT)
				return (long)end - 1;
			return ec_err_errno(err, EC_FAIL, errno,
					    "WORKDIR: stat '%s'", wd);
		}
		if (!S_ISDIR(sb.st_mode))
			return WD_LEAVE;
		end = next + 1;
	}
	return (long)n;
}

/* Make `wd` in layer dir lfd: the parts below `have` keep the merged root's
 * metadata, the rest are new 0755 directories owned by u. */
static int make_workdir(const struct merged *m, int lfd, const char *wd,
			size_t have, const struct rt_user *u,
			struct ec_err *err)
{
	size_t n = strlen(wd), end = 1;
	struct stat sb;

	while (end <= n) {
		size_t next = end;
		_cleanup_free_ char *rel = NULL;
		while (next < n && wd[next] != '/')
			next++;
		rel = xstrndup(wd + 1, next - 1);
		if (next <= have) {
			if (merged_lstat(m, rel, &sb) < 0)
				return ec_err_errno(err, EC_FAIL, errno,
						    "WORKDIR: stat '/%s'", rel);
			if (keep_dir(lfd, rel, &sb, err) < 0)
				return -1;
		} else if (mkdirat(lfd, rel, 0700) < 0 ||
			   (fchownat(lfd, rel, u->uid, u->gid,
				     AT_SYMLINK_NOFOLLOW) < 0 &&
			    errno != EPERM) ||
			   fchmodat(lfd, rel, 0755, 0) < 0) {
			return ec_err_errno(err, EC_FAIL, errno,
					    "WORKDIR: create '/%s'", rel);
		}
		end = next + 1;
	}
	return 0;
}

/* WORKDIR sets the config and creates the directory when the image has
 * none there, as BuildKit does (mkdir -p, 0755, owned by the current USER;
 * the legacy builder makes it root's). Returns 0, 1 when the layer came
 * from the cache, -1 on failure. */
static int do_workdir(struct builder *b, struct stage *st,
		      const struct df_instr *in, const char *by,
		      struct ec_err *err)
{
	_cleanup_free_ char *v = NULL, *wd = NULL, *root = NULL, *layer = NULL,
			    *extra = NULL;
	_cleanup_close_ int rootfd = -1, lfd = -1, ufd = -1;
	json_t *cfg = config_obj(st);
	struct rt_user u = {0};
	struct merged m = {.rootfd = -1, .st = st};
	int mounted = 0, r = -1;
	long have;

	if (!(v = expand(b, st, in->raw, in, err)))
		return -1;
	wd = df_workdir(ec_json_str(cfg, "WorkingDir"), v);
	json_object_set_new(cfg, "WorkingDir", json_string(wd));
	{ /* Docker keeps an absolute WORKDIR as written; mkdir cleans it */
		char *c = di_path_clean(wd, strlen(wd));
		free(wd);
		wd = c;
	}
	if (!strcmp(wd, "/"))
		goto no_layer;
	if (stage_dirs_ready(b, st, err) < 0)
		goto out;
	if (stage_root(b, st, "the stage for WORKDIR", &root, &mounted, err) ==
	    0) {
		rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0) {
			ec_err_errno(err, EC_FAIL, errno, "open '%s'", root);
			goto out;
		}
	} else if (err->cat != EC_PERM) {
		goto out;
	} else {
		ec_err_clear(err); /* not root: look through the layers */
	}
	m.rootfd = rootfd;
	have = existing_prefix(&m, wd, err);
	if (have == -1)
		goto out;
	if (have < 0 || (size_t)have == strlen(wd))
		goto no_layer;
	ufd = user_rootfd(&m);
	if (ufd < 0) {
		ufd = open(b->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (rt_user_resolve(ufd, ec_json_str(cfg, "User"), &u, err) < 0) {
		ec_err_prefix(err, "%s:%d: WORKDIR", b->dfname, in->line);
		goto out;
	}
	extra = xasprintf("mkdir %ld %u:%u", have, (unsigned)u.uid,
			  (unsigned)u.gid);
	chain_update(st, by, extra);
	if (reuse_cached(b, st, by)) {
		r = 1;
		goto out;
	}
	if (!(layer = fs_mkdtemp(b->tmp, "layer-", err)))
		goto out;
	lfd = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "open '%s'", layer);
		goto out;
	}
	if (make_workdir(&m, lfd, wd, (size_t)have, &u, err) < 0 ||
	    commit_layer(b, st, layer, 0, NULL, st->chain, by, err) < 0) {
		ec_err_prefix(err, "%s:%d", b->dfname, in->line);
		goto out;
	}
	r = 0;
	goto out;
no_layer:
	chain_update(st, by, wd);
	history_add(b, st, by, 1);
	r = 0;
out:
	if (rootfd >= 0) {
		close(rootfd);
		rootfd = -1;
	}
	if (mounted)
		umount2(root, MNT_DETACH);
	if (layer) {
		struct ec_err e;
		fs_rm_rf(layer, &e);
	}
	rt_user_release(&u);
	return r;
}

/* --- RUN --- */

struct run_out {
	struct builder *b;
	char tail[2048]; /* last output, for the error message */
	size_t len;
};

static void run_output(void *ctx, int stream, const char *data, size_t len)
{
	struct run_out *ro = ctx;

	if (ro->b->o->output)
		ro->b->o->output(ro->b->o->cb_ctx, stream, data, len);
	if (len >= sizeof(ro->tail)) {
		data += len - (sizeof(ro->tail) - 1);
		len = sizeof(ro->tail) - 1;
	}
	if (ro->len + len >= sizeof(ro->tail)) {
		size_t drop = ro->len + len - (sizeof(ro->tail) - 1);
		memmove(ro->tail, ro->tail + drop, ro->len - drop);
		ro->len -= drop;
	}
	memcpy(ro->tail + ro->len, data, len);
	ro->len += len;
	ro->tail[ro->len] = '\0';
}

/* The mount points a runtime creates in the root for RUN. */
static const char *const run_mounts[] = {"dev", "proc", "sys"};

/* 1 when top-level entry `name` exists in the stage's layers. */
static int in_lowers(struct stage *st, const char *name)
{
	struct stat sb;

	return layers_lstat(st, name, &sb) == 0;
}

/* Drop from RUN's upper dir the empty mount points the runtime made
 * (`had` says which the image had before): Docker's legacy builder leaves
 * none in the layer. */
static void drop_mount_points(const char *upper, const int *had)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(run_mounts); i++) {
		_cleanup_free_ char *p = NULL;
		if (had[i])
			continue;
		p = xasprintf("%s/%s", upper, run_mounts[i]);
		(void)rmdir(p); /* only when empty: RUN may have used it */
	}
}

/* The last `lines` lines of s. */
static const char *last_lines(const char *s, int lines)
{
	const char *p = s + strlen(s);

	while (p > s && p[-1] == '\n')
		p--;
	while (p > s) {
		if (p[-1] == '\n' && --lines == 0)
			break;
		p--;
	}
	return p;
}

static int do_run(struct builder *b, struct stage *st,
		  const struct df_instr *in, const char *by, struct ec_err *err)
{
	json_t *cfg = config_obj(st), *cmd, *env, *v;
	const char *net = flag_value(in, "network");
	const char **argv = NULL, **envp = NULL, **lowers = NULL;
	_cleanup_free_ char *upper = NULL, *work = NULL, *state = NULL,
			    *id = NULL;
	_cleanup_free_ char *extra = NULL;
	struct rt_spec spec = {0};
	struct run_out ro = {.b = b};
	int had[ARRAY_SIZE(run_mounts)];
	const char *k;
	size_t i, n;
	int status = 0, r = -1;

	if (check_flags(b, in, (const char *const[]){"network", NULL}, err) < 0)
		return -1;
	if (net && strcmp(net, "none") && strcmp(net, "host") &&
	    strcmp(net, "default"))
		return ec_err_set(err, EC_USAGE,
				  "%s:%d: RUN --network='%s': use none or host",
				  b->dfname, in->line, net);
	if (!json_array_size(st->dirs))
		return ec_err_set(
		    err, EC_USAGE,
		    "%s:%d: RUN needs a base image with a shell (this stage "
		    "starts FROM scratch and has no files)",
		    b->dfname, in->line);
	if (stage_dirs_ready(b, st, err) < 0)
		return -1;
	cmd = command_json(st, in);
	/* environment: image Env, then ARGs not shadowed by Env */
	env = json_deep_copy(json_object_get(cfg, "Env"));
	if (!env)
		env = json_array();
	json_object_foreach (st->args, k, v) {
		if (!env_get(env, k)) {
			_cleanup_free_ char *kv =
			    xasprintf("%s=%s", k, json_string_value(v));
			json_array_append_new(env, json_string(kv));
		}
	}
	if (!env_get(env, "PATH"))
		json_array_append_new(
		    env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/"
				     "sbin:/usr/bin:/sbin:/bin"));
	{
		json_t *key =
		    json_pack("{s:O,s:O,s:s?,s:s?,s:s}", "cmd", cmd, "env", env,
			      "user", ec_json_str(cfg, "User"), "wd",
			      ec_json_str(cfg, "WorkingDir"), "net",
			      net && !strcmp(net, "host") ? "host" : "none");
		extra = ec_json_dump(key);
		json_decref(key);
	}
	chain_update(st, by, extra);
	if (reuse_cached(b, st, by)) {
		json_decref(cmd);
		json_decref(env);
		return 1;
	}
	argv = xcalloc(json_array_size(cmd) + 1, sizeof(char *));
	json_array_foreach (cmd, i, v)
		argv[i] = json_string_value(v);
	envp = xcalloc(json_array_size(env) + 1, sizeof(char *));
	json_array_foreach (env, i, v)
		envp[i] = json_string_value(v);
	for (i = 0; i < ARRAY_SIZE(run_mounts); i++)
		had[i] = in_lowers(st, run_mounts[i]);
	n = json_array_size(st->dirs);
	lowers = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		lowers[i] =
		    json_string_value(json_array_get(st->dirs, n - 1 - i));
	upper = fs_mkdtemp(b->tmp, "layer-", err);
	work = upper ? fs_mkdtemp(b->tmp, "work-", err) : NULL;
	state = work ? fs_mkdtemp(b->tmp, "run-", err) : NULL;
	if (!state)
		goto out;
	/* overlayfs gives the merged root the upper dir's mode: not mkdtemp's
	 * 0700 */
	chmod(upper, 0755);
	{
		uint8_t rnd[6];
		char hex[13];
		random_bytes(rnd, sizeof(rnd));
		hex_encode(rnd, sizeof(rnd), hex);
		id = xasprintf("edgectl-build-%s", hex);
	}
	spec.args = argv;
	spec.env = envp;
	spec.cwd = ec_json_str(cfg, "WorkingDir");
	if (spec.cwd && !*spec.cwd)
		spec.cwd = NULL;
	spec.user = ec_json_str(cfg, "User");
	if (spec.user && !*spec.user)
		spec.user = NULL;
	spec.lowerdirs = lowers;
	spec.upper = upper;
	spec.work = work;
	spec.network = (net && !strcmp(net, "host")) || b->o->network_host
			   ? RT_NET_HOST
			   : RT_NET_NONE;
	spec.hostname = "buildkitsandbox";
	if (rt_run(b->o->runtime, id, state, &spec, run_output, &ro,
		   b->o->cancel, &status, err) < 0) {
		ec_err_prefix(err, "%s:%d: RUN", b->dfname, in->line);
		goto out;
	}
	if (status != 0) {
		ec_err_set(err, EC_FAIL, "%s:%d: RUN exited with status %d%s%s",
			   b->dfname, in->line, status,
			   ro.len ? "; last output:\n" : "",
			   last_lines(ro.tail, 5));
		goto out;
	}
	drop_mount_points(upper, had);
	if (commit_layer(b, st, upper, 1, NULL, st->chain, by, err) < 0)
		goto out;
	r = 0;
out : {
	struct ec_err e;
	if (upper)
		fs_rm_rf(upper, &e);
	if (work)
		fs_rm_rf(work, &e);
	if (state)
		fs_rm_rf(state, &e);
}
	free(argv);
	free(envp);
	free(lowers);
	json_decref(cmd);
	json_decref(env);
	return r;
}

/* --- driver --- */

/* Read a Dockerfile or .dockerignore: a regular file (after symlinks) of
 * at most DOCKERFILE_MAX bytes. Opened non-blocking so that a FIFO is
 * refused instead of hanging the build. */
static int read_regular(const char *path, char **text, size_t *len,
			struct ec_err *err)
{
	_cleanup_close_ int fd =
	    open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct strbuf sb = STRBUF_INIT;
	struct stat st;
	char buf[16384];
	ssize_t n;

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", path);
	if (fstat(fd, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat '%s'", path);
	if (!S_ISREG(st.st_mode))
		return ec_err_set(err, EC_USAGE,
				  "'%s' is not a regular file (a Dockerfile "
				  "must be one)",
				  path);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || sb.len + (size_t)n > DOCKERFILE_MAX) {
			sb_release(&sb);
			if (n < 0)
				return ec_err_errno(err, EC_FAIL, errno,
						    "read '%s'", path);
			return ec_err_set(err, EC_USAGE,
					  "'%s' is larger than %u bytes", path,
					  DOCKERFILE_MAX);
		}
		sb_add(&sb, buf, (size_t)n);
	}
	*len = sb.len;
	*text = sb_detach(&sb, NULL);
	return 0;
}

static int read_dockerfile(struct builder *b, struct ec_err *err)
{
	const struct build_opts *o = b->o;
	_cleanup_free_ char *path = NULL, *text = NULL, *ign = NULL,
			    *itext = NULL;
	size_t len;

	if (o->dockerfile) {
		path = xstrdup(o->dockerfile);
	} else {
		path = xasprintf("%s/Dockerfile", o->context);
		if (access(path, F_OK) < 0) {
			free(path);
			path = xasprintf("%s/Containerfile", o->context);
		}
	}
	if (access(path, F_OK) < 0)
		return ec_err_set(
		    err, EC_USAGE,
		    "no Dockerfile or Containerfile in '%s' (use -f FILE)",
		    o->context);
	if (read_regular(path, &text, &len, err) < 0)
		return -1;
	b->dfname =
	    xstrdup(o->dockerfile ? o->dockerfile : (strrchr(path, '/') + 1));
	if (df_parse(text, len, b->dfname, &b->df, err) < 0)
		return -1;
	ign = xasprintf("%s/.dockerignore", o->context);
	if (access(ign, F_OK) == 0) {
		if (read_regular(ign, &itext, &len, err) < 0 ||
		    di_parse(itext, len, &b->ignore, err) < 0)
			return ec_err_prefix(err, ".dockerignore");
	}
	return 0;
}

static void step_report(struct builder *b, const char *by, int cached,
			double t0)
{
	struct timespec ts;
	double t;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	json_array_append_new(b->steps,
			      json_pack("{s:s,s:b,s:I}", "instruction", by,
					"cached", cached, "duration_ms",
					(json_int_t)((t - t0) * 1000)));
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Index of the last instruction of the target stage. */
static int target_end(struct builder *b, struct ec_err *err)
{
	size_t i;
	int end = (int)b->df->ninstrs, found = !b->o->target;

	for (i = 0; i < b->df->ninstrs; i++) {
		const struct df_instr *in = &b->df->instrs[i];
		if (strcmp(in->keyword, "FROM"))
			continue;
		if (found) {
			end = (int)i;
			if (b->o->target)
				break;
			found = 1;
			end = (int)b->df->ninstrs;
		}
		if (b->o->target && in->stage &&
		    !strcasecmp(in->stage, b->o->target))
			found = 1;
	}
	if (!found)
		return ec_err_set(err, EC_USAGE,
				  "--target '%s': no stage of that name",
				  b->o->target);
	return end;
}

/* Run one instruction of stage st (NULL before the first FROM). Returns 0,
 * 1 when its layer came from the cache, -1 on failure. */
static int exec_instr(struct builder *b, struct stage *st,
		      const struct df_instr *in, const char *by,
		      struct ec_err *err)
{
	int r;

	if (in->kind == DF_FROM)
		return do_from(b, in, err);
	if (!st) {
		if (in->kind != DF_ARG)
			return ec_err_set(err, EC_USAGE,
					  "%s:%d: %s before the first FROM",
					  b->dfname, in->line, in->keyword);
		return do_arg(b, NULL, in, err);
	}
	if (in->kind == DF_COPY || in->kind == DF_ADD)
		return do_copy(b, st, in, by, err);
	if (in->kind == DF_RUN)
		return do_run(b, st, in, by, err);
	if (in->kind == DF_WORKDIR)
		return do_workdir(b, st, in, by, err);
	r = do_meta(b, st, in, err);
	if (r == 0) {
		chain_update(st, by, NULL);
		history_add(b, st, by, 1);
	}
	return r;
}

/* After a FROM: run the base image's ONBUILD triggers in this stage, in
 * order, then drop them from its config (Docker: triggers fire once, in
 * the direct child). */
static int run_triggers(struct builder *b, const struct df_instr *from,
			struct ec_err *err)
{
	struct stage *st = &b->stages[b->nstages - 1];
	json_t *cfg = config_obj(st), *ob = json_object_get(cfg, "OnBuild"), *v;
	_cleanup_free_ const char **exprs = NULL;
	struct df_file *trig = NULL;
	size_t i, n = json_array_size(ob);
	int r = 0;

	if (!n) {
		json_object_del(cfg, "OnBuild");
		return 0;
	}
	exprs = xcalloc(n, sizeof(*exprs));
	json_array_foreach (ob, i, v) {
		if (!json_is_string(v))
			return ec_err_set(err, EC_USAGE,
					  "%s:%d: the base image's OnBuild "
					  "holds something other than strings",
					  b->dfname, from->line);
		exprs[i] = json_string_value(v);
	}
	if (df_parse_triggers(exprs, n, b->df->escape, b->dfname, from->line,
			      &trig, err) < 0)
		return ec_err_prefix(err, "ONBUILD trigger of the base image");
	json_object_del(cfg, "OnBuild");
	for (i = 0; i < trig->ninstrs && r >= 0; i++) {
		const struct df_instr *in = &trig->instrs[i];
		_cleanup_free_ char *by = df_instr_str(in);
		double t0 = mono();

		if (b->o->step)
			b->o->step(b->o->cb_ctx, b->step_no, b->step_total, by,
				   0);
		r = exec_instr(b, st, in, by, err);
		if (r < 0)
			ec_err_prefix(err, "ONBUILD trigger '%s'", by);
		else
			step_report(b, by, r == 1, t0);
	}
	df_file_free(trig);
	return r < 0 ? -1 : 0;
}

static int run_instructions(struct builder *b, struct ec_err *err)
{
	int end = target_end(b, err), i;

	if (end < 0)
		return -1;
	b->step_total = end;
	for (i = 0; i < end; i++) {
		const struct df_instr *in = &b->df->instrs[i];
		struct stage *st =
		    b->nstages ? &b->stages[b->nstages - 1] : NULL;
		_cleanup_free_ char *by = df_instr_str(in);
		double t0 = mono();
		int r;

		if (b->o->cancel && *b->o->cancel)
			return ec_err_set(err, EC_INTR, "interrupted");
		b->step_no = i + 1;
		if (b->o->step)
			b->o->step(b->o->cb_ctx, i + 1, end, by, 0);
		r = exec_instr(b, st, in, by, err);
		if (r < 0)
			return -1;
		step_report(b, by, r == 1, t0);
		if (in->kind == DF_FROM && run_triggers(b, in, err) < 0)
			return -1;
	}
	return 0;
}

static void fmt_created(char out[32], int64_t epoch)
{
	time_t t = epoch >= 0 ? (time_t)epoch : time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_image(struct builder *b, struct build_result *res,
		       struct ec_err *err)
{
	struct stage *st = &b->stages[b->nstages - 1];
	_cleanup_free_ char *cfg_s = NULL, *man_s = NULL;
	_cleanup_json_ json_t *man = NULL;
	struct oci_desc cd, md;
	const char *const *t;

	json_object_set_new(st->image, "created", json_string(b->created));
	cfg_s = ec_json_dump(st->image);
	if (oci_blob_put(b->layout, cfg_s, strlen(cfg_s), MT_OCI_CONFIG, &cd,
			 err) < 0)
		return -1;
	man = json_pack("{s:i,s:s,s:o,s:O}", "schemaVersion", 2, "mediaType",
			MT_OCI_MANIFEST, "config", oci_desc_json(&cd), "layers",
			st->layers);
	man_s = ec_json_dump(man);
	if (oci_blob_put(b->layout, man_s, strlen(man_s), MT_OCI_MANIFEST, &md,
			 err) < 0)
		return -1;
	for (t = b->o->tags; t && *t; t++) {
		struct img_ref r;
		_cleanup_free_ char *name = NULL;
		if (img_ref_parse(*t, &r, err) < 0)
			return ec_err_prefix(err, "tag");
		name = img_ref_local_name(&r);
		img_ref_release(&r);
		if (oci_ref_set(b->layout, name, &md, err) < 0)
			return -1;
	}
	snprintf(res->manifest_digest, sizeof(res->manifest_digest), "%s",
		 md.digest);
	snprintf(res->config_digest, sizeof(res->config_digest), "%s",
		 cd.digest);
	res->manifest_size = md.size;
	res->layers = (unsigned)json_array_size(st->layers);
	return 0;
}

/* Every -t name must be a valid local image name: checked before the
 * build starts, not after it. */
static int check_tags(const char *const *tags, struct ec_err *err)
{
	const char *const *t;

	for (t = tags; t && *t; t++) {
		struct img_ref r;
		int digest;

		if (img_ref_parse(*t, &r, err) < 0) {
			err->cat = EC_USAGE;
			return ec_err_prefix(err, "-t '%s'", *t);
		}
		digest = r.digest != NULL || r.kind == REF_OCI;
		img_ref_release(&r);
		if (digest)
			return ec_err_set(err, EC_USAGE,
					  "-t '%s': a tag is NAME[:TAG], not a "
					  "digest or an oci: directory",
					  *t);
	}
	return 0;
}

static int parse_build_args(struct builder *b, struct ec_err *err)
{
	const char *const *a;

	for (a = b->o->build_args; a && *a; a++) {
		const char *eq = strchr(*a, '=');
		_cleanup_free_ char *k =
		    eq ? xstrndup(*a, (size_t)(eq - *a)) : xstrdup(*a);
		if (!*k)
			return ec_err_set(
			    err, EC_USAGE,
			    "--build-arg '%s': expected NAME=VALUE", *a);
		if (!eq) {
			warn(b,
			     "--build-arg '%s' has no value; ignored (edgectl "
			     "does not read it from the environment)",
			     *a);
			continue;
		}
		json_object_set_new(b->build_args, k, json_string(eq + 1));
	}
	return 0;
}

int build_run(const struct build_opts *o, struct build_result *res,
	      struct ec_err *err)
{
	int gc_fd = -1;
	struct builder b = {.o = o, .ctxfd = -1};
	_cleanup_free_ char *tmpbase = xasprintf("%s/tmp", o->root);
	struct stat st;
	const char *k;
	json_t *v;
	size_t i;
	int r = -1;

	memset(res, 0, sizeof(*res));
	ec_err_clear(err);
	if (check_tags(o->tags, err) < 0)
		return -1;
	if (stat(o->context, &st) < 0 || !S_ISDIR(st.st_mode))
		return ec_err_set(err, EC_USAGE,
				  "build context '%s' is not a directory",
				  o->context);
	b.global_args = json_object();
	b.build_args = json_object();
	b.used_args = json_object();
	b.steps = json_array();
	fmt_created(b.created, o->source_date_epoch);
	b.layers_dir = xasprintf("%s/layers", o->root);
	b.cache_dir = xasprintf("%s/cache/build", o->root);
	if (parse_build_args(&b, err) < 0 || read_dockerfile(&b, err) < 0)
		goto out;
	if (oci_layout_open(o->root, 1, &b.layout, err) < 0 ||
	    fs_mkdir_p(b.layers_dir, err) < 0)
		goto out;
	/* layers and blobs are written before the tag: hold off a collector
	 * (images rm) until the build is done */
	if ((gc_fd = oci_layout_gc_lock(b.layout, 0, err)) < 0)
		goto out;
	b.tmp = fs_mkdtemp(tmpbase, "build-", err);
	if (!b.tmp)
		goto out;
	b.ctxfd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b.ctxfd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "open context '%s'",
			     o->context);
		goto out;
	}
	for (i = 0; i < b.df->nwarnings; i++)
		warn(&b, "%s", b.df->warnings[i]);
	if (run_instructions(&b, err) < 0)
		goto out;
	if (!b.nstages) {
		ec_err_set(err, EC_USAGE, "the Dockerfile has no FROM");
		goto out;
	}
	json_object_foreach (b.build_args, k, v)
		if (!json_object_get(b.used_args, k))
			warn(&b, "--build-arg '%s' was not consumed by any ARG",
			     k);
	if (write_image(&b, res, err) < 0)
		goto out;
	res->steps = json_incref(b.steps);
	r = 0;
out:
	if (b.tmp) {
		struct ec_err e;
		fs_rm_rf(b.tmp, &e);
	}
	if (b.ctxfd >= 0)
		close(b.ctxfd);
	for (i = 0; i < b.nstages; i++)
		stage_release(&b.stages[i]);
	free(b.stages);
	free(b.tmp);
	free(b.layers_dir);
	free(b.cache_dir);
	json_decref(b.global_args);
	json_decref(b.build_args);
	json_decref(b.used_args);
	json_decref(b.steps);
	df_file_free(b.df);
	free(b.dfname);
	di_rules_free(b.ignore);
	oci_layout_free(b.layout);
	if (gc_fd >= 0)
		close(gc_fd);
	return r;
}

void build_result_release(struct build_result *res)
{
	json_decref(res->steps);
	res->steps = NULL;
}
