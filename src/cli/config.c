/* config.c - the settings of one invocation: config.json, then flag >
 * environment > config file > default for the store and the root, the S3
 * settings of the AWS conventions, and the config's lists. */
#include "cli/cli.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <string.h>
#include <unistd.h>

/* $XDG_<what>_HOME or ~/<fallback>; caller frees. */
static char *xdg_dir(const char *(*env)(const char *), const char *var,
		     const char *fallback)
{
	const char *v = env(var), *home = env("HOME");

	if (v)
		return xstrdup(v);
	return xasprintf("%s/%s", home ? home : "/", fallback);
}

int cli_load_config(struct ec_ctx *ctx, const char *(*env)(const char *name),
		    struct ec_err *err)
{
	_cleanup_free_ char *dir = xdg_dir(env, "XDG_CONFIG_HOME", ".config");
	_cleanup_free_ char *path = xasprintf("%s/edgectl/config.json", dir);

	if (access(path, F_OK) < 0)
		return 0;
	ctx->config = ec_json_load_file(path, err);
	if (!ctx->config)
		return ec_err_prefix(err, "config file (fix or remove it)");
	if (!json_is_object(ctx->config))
		return ec_err_set(err, EC_USAGE,
				  "config file '%s' must hold a JSON object",
				  path);
	return 0;
}

void cli_settings(struct ec_ctx *ctx, const char *(*env)(const char *name),
		  unsigned uid, const char *cwd)
{
	struct store_opts *so = &ctx->store_opts;
	const char *c;

	if (!ctx->store_url)
		ctx->store_url = env("EDGECTL_STORE");
	if (!ctx->store_url && (c = ec_json_str(ctx->config, "store")))
		ctx->store_url = c;
	if (!ctx->store_url) {
		_cleanup_free_ char *d =
		    xdg_dir(env, "XDG_DATA_HOME", ".local/share");
		ctx->store_url = ctx->owned[0] =
		    xasprintf("file://%s/edgectl/store", d);
	}
	if (!ctx->root)
		ctx->root = env("EDGECTL_ROOT");
	if (!ctx->root && (c = ec_json_str(ctx->config, "root")))
		ctx->root = c;
	if (!ctx->root && uid == 0)
		ctx->root = "/var/lib/edgectl";
	if (!ctx->root) {
		_cleanup_free_ char *d =
		    xdg_dir(env, "XDG_DATA_HOME", ".local/share");
		ctx->root = ctx->owned[1] = xasprintf("%s/edgectl/root", d);
	}
	/* absolute: runtimes and monitors work from other directories */
	if (ctx->root[0] != '/' && cwd)
		ctx->root = ctx->owned[2] = xasprintf("%s/%s", cwd, ctx->root);
	/* S3 settings follow the AWS conventions. */
	so->endpoint = env("AWS_ENDPOINT_URL_S3") ?: env("AWS_ENDPOINT_URL");
	so->region = env("AWS_REGION") ?: env("AWS_DEFAULT_REGION");
	so->access_key = env("AWS_ACCESS_KEY_ID");
	so->secret_key = env("AWS_SECRET_ACCESS_KEY");
	so->session_token = env("AWS_SESSION_TOKEN");
	so->path_style = -1;
	so->quote_if_match = -1;
	so->tls_verify = 1;
}

int ctx_config_bool(struct ec_ctx *ctx, const char *key, int dflt, int *out,
		    struct ec_err *err)
{
	const json_t *v = json_object_get(ctx->config, key);

	*out = dflt;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return ec_err_set(err, EC_USAGE,
				  "config: %s must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int ctx_insecure_registries(struct ec_ctx *ctx, const char **list, size_t *n,
			    size_t max, struct ec_err *err)
{
	json_t *l = json_object_get(ctx->config, "insecure_registries"), *v;
	size_t i;

	if (!l)
		return 0;
	if (!json_is_array(l))
		return ec_err_set(err, EC_USAGE,
				  "config: insecure_registries must be an "
				  "array of \"HOST[:PORT]\" strings");
	json_array_foreach (l, i, v) {
		if (!json_is_string(v) || !*json_string_value(v) ||
		    strchr(json_string_value(v), '/'))
			return ec_err_set(err, EC_USAGE,
					  "config: insecure_registries[%zu] "
					  "must be a \"HOST[:PORT]\" string",
					  i);
		if (*n < max)
			list[(*n)++] = json_string_value(v);
	}
	return 0;
}

const char *const *cli_cdi_dirs(struct ec_ctx *ctx, const char *env_dirs)
{
	static const char **dirs;
	const json_t *cfg = json_object_get(ctx->config, "cdi_spec_dirs"), *v;
	size_t i, n = 0;

	if (dirs)
		return dirs;
	if (env_dirs && *env_dirs) {
		char *dup = xstrdup(env_dirs), *save = NULL, *d;
		dirs = xcalloc(strlen(env_dirs) + 2, sizeof(*dirs));
		for (d = strtok_r(dup, ":", &save); d;
		     d = strtok_r(NULL, ":", &save))
			dirs[n++] = d; /* kept for the process's life */
	} else if (json_is_array(cfg)) {
		dirs = xcalloc(json_array_size(cfg) + 1, sizeof(*dirs));
		json_array_foreach (cfg, i, v)
			if (json_is_string(v))
				dirs[n++] = json_string_value(v);
	}
	return dirs;
}
