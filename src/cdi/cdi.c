/* cdi.c - CDI specs: strict checks, loading, name resolution and the edits
 * applied to an OCI config (cdi.h). */
#include "cdi/cdi.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/proc.h"
#include "util/xalloc.h"
#include "util/yaml.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

const char *const cdi_default_dirs[] = {"/etc/cdi", "/var/run/cdi", NULL};

/* Largest number of spec files read from one directory. */
#define CDI_FILES_MAX 1024

/* --- names ------------------------------------------------------------ */

/* [A-Za-z0-9] first and last, `mid` characters between. */
static int name_part_ok(const char *s, size_t n, const char *mid)
{
	size_t i;

	if (!n || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[n - 1]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(mid, s[i]))
			return 0;
	return 1;
}

static int kind_check(const char *kind, struct ec_err *err)
{
	const char *slash = strchr(kind, '/');

	if (!slash)
		return ec_err_set(err, EC_USAGE,
				  "'%s' is not a CDI kind: use VENDOR/CLASS "
				  "(e.g. nvidia.com/gpu)",
				  kind);
	if (!name_part_ok(kind, (size_t)(slash - kind), "._-"))
		return ec_err_set(err, EC_USAGE,
				  "'%s': the vendor may hold letters, digits, "
				  "'.', '_', '-' (starting and ending with a "
				  "letter or digit)",
				  kind);
	if (!name_part_ok(slash + 1, strlen(slash + 1), "_-"))
		return ec_err_set(err, EC_USAGE,
				  "'%s': the class may hold letters, digits, "
				  "'_', '-' (starting and ending with a letter "
				  "or digit)",
				  kind);
	return 0;
}

static int devname_ok(const char *n)
{
	return name_part_ok(n, strlen(n), "_.:-");
}

int cdi_name_check(const char *q, struct ec_err *err)
{
	const char *eq = strchr(q, '=');
	_cleanup_free_ char *kind = NULL;

	if (!eq)
		return ec_err_set(err, EC_USAGE,
				  "'%s' is not a CDI device name: use "
				  "VENDOR/CLASS=NAME (e.g. nvidia.com/gpu=0)",
				  q);
	kind = xstrndup(q, (size_t)(eq - q));
	if (kind_check(kind, err) < 0)
		return -1;
	if (!devname_ok(eq + 1))
		return ec_err_set(err, EC_USAGE,
				  "'%s': the device name may hold letters, "
				  "digits, '_', '.', ':', '-'",
				  q);
	return 0;
}

/* --- requests --------------------------------------------------------- */

static void push_name(json_t *req, const char *kind, const char *name)
{
	json_array_append_new(req,
			      json_pack("{s:s++}", "name", kind, "=", name));
}

static int gpu_ids(json_t *req, const char *list, struct ec_err *err)
{
	_cleanup_free_ char *dup = xstrdup(list);
	char *save = NULL, *id;
	size_t n = 0;

	for (id = strtok_r(dup, ",", &save); id;
	     id = strtok_r(NULL, ",", &save)) {
		if (!devname_ok(id))
			return ec_err_set(
			    err, EC_USAGE,
			    "--gpus '%s': '%s' is not a GPU index "
			    "or UUID",
			    list, id);
		push_name(req, CDI_GPU_KIND, id);
		n++;
	}
	if (!n || list[0] == ',' || list[strlen(list) - 1] == ',' ||
	    strstr(list, ",,"))
		return ec_err_set(err, EC_USAGE,
				  "--gpus '%s': use N, all, or ID[,ID...]",
				  list);
	return 0;
}

int cdi_request_add(json_t *req, const char *opt, const char *arg,
		    struct ec_err *err)
{
	uint64_t n;

	if (!strcmp(opt, "device")) {
		if (cdi_name_check(arg, err) < 0)
			return ec_err_prefix(err, "--device");
		json_array_append_new(req, json_pack("{s:s}", "name", arg));
		return 0;
	}
	if (strcmp(opt, "gpus"))
		BUG("cdi_request_add: option '%s'", opt);
	if (!strcmp(arg, "all")) {
		push_name(req, CDI_GPU_KIND, "all");
		return 0;
	}
	if (!strncmp(arg, "device=", 7))
		return gpu_ids(req, arg + 7, err);
	if (strchr(arg, ','))
		return gpu_ids(req, arg, err);
	if (arg[0] >= '0' && arg[0] <= '9' &&
	    strspn(arg, "0123456789") == strlen(arg)) {
		if (parse_u64(arg, 1024, &n, "--gpus", err) < 0 || !n)
			return ec_err_set(err, EC_USAGE,
					  "--gpus '%s': a count from 1 to "
					  "1024, all, or device=ID[,ID...]",
					  arg);
		json_array_append_new(req, json_pack("{s:s,s:I}", "kind",
						     CDI_GPU_KIND, "count",
						     (json_int_t)n));
		return 0;
	}
	return gpu_ids(req, arg, err);
}

/* --- strict checks ---------------------------------------------------- */

/* Only the keys in `allowed` (NULL-terminated). */
static int keys_only(const json_t *o, const char *const *allowed,
		     const char *file, const char *where, struct ec_err *err)
{
	const char *k;
	const json_t *v;
	size_t i;

	json_object_foreach ((json_t *)o, k, v) {
		for (i = 0; allowed[i] && strcmp(allowed[i], k); i++)
			;
		if (!allowed[i])
			return ec_err_set(err, EC_USAGE,
					  "CDI spec '%s': %s: unknown key '%s'",
					  file, where, k);
	}
	return 0;
}

static int want(int ok, const char *file, const char *where, const char *what,
		struct ec_err *err)
{
	if (ok)
		return 0;
	return ec_err_set(err, EC_USAGE, "CDI spec '%s': %s: %s", file, where,
			  what);
}

static int str_array_ok(const json_t *a)
{
	const json_t *v;
	size_t i;

	if (!json_is_array(a))
		return 0;
	json_array_foreach (a, i, v)
		if (!json_is_string(v))
			return 0;
	return 1;
}

static int abs_path(const json_t *v)
{
	const char *s = json_string_value(v);

	return s && s[0] == '/' && strlen(s) < 4096;
}

static int opt_uint(const json_t *o, const char *key, json_int_t max)
{
	const json_t *v = json_object_get(o, key);

	return !v || (json_is_integer(v) && json_integer_value(v) >= 0 &&
		      json_integer_value(v) <= max);
}

static int check_env(const json_t *env, const char *file, const char *w,
		     struct ec_err *err)
{
	const json_t *v;
	size_t i;

	if (want(str_array_ok(env), file, w,
		 "'env' must be an array of strings", err) < 0)
		return -1;
	json_array_foreach (env, i, v) {
		const char *s = json_string_value(v);
		if (want(strchr(s, '=') && s[0] != '=', file, w,
			 "'env' entries are KEY=VALUE", err) < 0)
			return -1;
	}
	return 0;
}

static int check_node(const json_t *n, const char *file, const char *w,
		      struct ec_err *err)
{
	static const char *const keys[] = {
	    "path",	"hostPath",    "type", "major", "minor",
	    "fileMode", "permissions", "uid",  "gid",	NULL};
	const char *t = ec_json_str(n, "type"),
		   *p = ec_json_str(n, "permissions");

	if (want(json_is_object(n), file, w, "a device node is an object",
		 err) < 0 ||
	    keys_only(n, keys, file, w, err) < 0 ||
	    want(abs_path(json_object_get(n, "path")), file, w,
		 "'path' (absolute) is required", err) < 0 ||
	    want(!json_object_get(n, "hostPath") ||
		     abs_path(json_object_get(n, "hostPath")),
		 file, w, "'hostPath' must be an absolute path", err) < 0 ||
	    want(!json_object_get(n, "type") ||
		     (t && (!strcmp(t, "c") || !strcmp(t, "b") ||
			    !strcmp(t, "u") || !strcmp(t, "p"))),
		 file, w, "'type' is one of c, b, u, p", err) < 0 ||
	    want(opt_uint(n, "major", 4095) && opt_uint(n, "minor", 1048575),
		 file, w, "'major' and 'minor' are device numbers", err) < 0 ||
	    want(opt_uint(n, "fileMode", 07777), file, w,
		 "'fileMode' is a mode from 0 to 07777", err) < 0 ||
	    want(opt_uint(n, "uid", 0xfffffffe) &&
		     opt_uint(n, "gid", 0xfffffffe),
		 file, w, "'uid' and 'gid' are ids", err) < 0)
		return -1;
	if (json_object_get(n, "permissions") &&
	    want(p && *p && strspn(p, "rwm") == strlen(p), file, w,
		 "'permissions' is made of r, w, m", err) < 0)
		return -1;
	/* a type other than p needs both numbers, or neither (from the host) */
	return want(!json_object_get(n, "major") ==
			!json_object_get(n, "minor"),
		    file, w, "give both 'major' and 'minor', or neither", err);
}

static int check_mount(const json_t *m, const char *file, const char *w,
		       struct ec_err *err)
{
	static const char *const keys[] = {"hostPath", "containerPath",
					   "options", "type", NULL};

	if (want(json_is_object(m), file, w, "a mount is an object", err) < 0 ||
	    keys_only(m, keys, file, w, err) < 0 ||
	    want(abs_path(json_object_get(m, "hostPath")), file, w,
		 "'hostPath' (absolute) is required", err) < 0 ||
	    want(abs_path(json_object_get(m, "containerPath")), file, w,
		 "'containerPath' (absolute) is required", err) < 0 ||
	    want(!json_object_get(m, "options") ||
		     str_array_ok(json_object_get(m, "options")),
		 file, w, "'options' must be an array of strings", err) < 0 ||
	    want(!json_object_get(m, "type") ||
		     json_is_string(json_object_get(m, "type")),
		 file, w, "'type' must be a string", err) < 0)
		return -1;
	return 0;
}

static int check_hook(const json_t *h, const char *file, const char *w,
		      struct ec_err *err)
{
	static const char *const keys[] = {"hookName", "path",	  "args",
					   "env",      "timeout", NULL};
	static const char *const names[] = {"prestart",
					    "createRuntime",
					    "createContainer",
					    "startContainer",
					    "poststart",
					    "poststop",
					    NULL};
	const char *n = ec_json_str(h, "hookName");
	size_t i;

	if (want(json_is_object(h), file, w, "a hook is an object", err) < 0 ||
	    keys_only(h, keys, file, w, err) < 0)
		return -1;
	for (i = 0; n && names[i] && strcmp(names[i], n); i++)
		;
	if (want(n && names[i], file, w,
		 "'hookName' is one of prestart, createRuntime, "
		 "createContainer, startContainer, poststart, poststop",
		 err) < 0 ||
	    want(abs_path(json_object_get(h, "path")), file, w,
		 "'path' (absolute) is required", err) < 0 ||
	    want(!json_object_get(h, "args") ||
		     str_array_ok(json_object_get(h, "args")),
		 file, w, "'args' must be an array of strings", err) < 0 ||
	    (json_object_get(h, "env") &&
	     check_env(json_object_get(h, "env"), file, w, err) < 0) ||
	    want(opt_uint(h, "timeout", 86400), file, w, "'timeout' is seconds",
		 err) < 0)
		return -1;
	return 0;
}

/* Each element of edits[key] through fn, named "WHERE.KEY[i]". */
static int check_list(const json_t *edits, const char *key,
		      int (*fn)(const json_t *, const char *, const char *,
				struct ec_err *),
		      const char *file, const char *where, struct ec_err *err)
{
	const json_t *a = json_object_get(edits, key), *v;
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return ec_err_set(err, EC_USAGE,
				  "CDI spec '%s': %s: '%s' must be an array",
				  file, where, key);
	json_array_foreach (a, i, v) {
		char w[256];
		snprintf(w, sizeof(w), "%s.%s[%zu]", where, key, i);
		if (fn(v, file, w, err) < 0)
			return -1;
	}
	return 0;
}

static int check_edits(const json_t *e, const char *file, const char *where,
		       struct ec_err *err)
{
	static const char *const keys[] = {
	    "env",	"deviceNodes", "mounts", "hooks", "additionalGIDs",
	    "intelRdt", NULL};
	const json_t *g, *v;
	size_t i;

	if (want(json_is_object(e), file, where, "must be an object", err) <
		0 ||
	    keys_only(e, keys, file, where, err) < 0)
		return -1;
	if (want(!json_object_get(e, "intelRdt"), file, where,
		 "'intelRdt' is not supported by edgectl", err) < 0)
		return -1;
	if (json_object_get(e, "env") &&
	    check_env(json_object_get(e, "env"), file, where, err) < 0)
		return -1;
	if ((g = json_object_get(e, "additionalGIDs"))) {
		if (want(json_is_array(g), file, where,
			 "'additionalGIDs' must be an array", err) < 0)
			return -1;
		json_array_foreach (g, i, v)
			if (want(json_is_integer(v) &&
				     json_integer_value(v) > 0 &&
				     json_integer_value(v) <= 0xfffffffe,
				 file, where,
				 "'additionalGIDs' holds group ids", err) < 0)
				return -1;
	}
	if (check_list(e, "deviceNodes", check_node, file, where, err) < 0 ||
	    check_list(e, "mounts", check_mount, file, where, err) < 0 ||
	    check_list(e, "hooks", check_hook, file, where, err) < 0)
		return -1;
	return 0;
}

/* "0.3.0" .. "0.8.0" */
static int version_ok(const char *v)
{
	unsigned maj, min, patch;
	char end;

	return v && sscanf(v, "%u.%u.%u%c", &maj, &min, &patch, &end) == 3 &&
	       maj == 0 && min >= 3 && min <= 8;
}

int cdi_spec_check(const json_t *s, const char *file, struct ec_err *err)
{
	static const char *const top[] = {"cdiVersion",	    "kind",
					  "annotations",    "devices",
					  "containerEdits", NULL};
	static const char *const dkeys[] = {"name", "annotations",
					    "containerEdits", NULL};
	const json_t *devs, *d;
	_cleanup_json_ json_t *seen = json_object();
	size_t i;

	if (want(json_is_object(s), file, "top", "a spec is a JSON object",
		 err) < 0 ||
	    keys_only(s, top, file, "top", err) < 0)
		return -1;
	if (!version_ok(ec_json_str(s, "cdiVersion")))
		return ec_err_set(err, EC_USAGE,
				  "CDI spec '%s': cdiVersion '%s' is not "
				  "supported (0.3.0 to 0.8.0)",
				  file, ec_json_str(s, "cdiVersion") ?: "");
	if (!ec_json_str(s, "kind"))
		return ec_err_set(err, EC_USAGE,
				  "CDI spec '%s': 'kind' is required", file);
	if (kind_check(ec_json_str(s, "kind"), err) < 0)
		return ec_err_prefix(err, "CDI spec '%s'", file);
	if (json_object_get(s, "annotations") &&
	    want(json_is_object(json_object_get(s, "annotations")), file, "top",
		 "'annotations' must be an object", err) < 0)
		return -1;
	if (json_object_get(s, "containerEdits") &&
	    check_edits(json_object_get(s, "containerEdits"), file,
			"containerEdits", err) < 0)
		return -1;
	devs = json_object_get(s, "devices");
	if (!json_is_array(devs) || !json_array_size(devs))
		return ec_err_set(err, EC_USAGE,
				  "CDI spec '%s': 'devices' must be a "
				  "non-empty array",
				  file);
	json_array_foreach (devs, i, d) {
		char w[64];
		const char *n = ec_json_str(d, "name");
		snprintf(w, sizeof(w), "devices[%zu]", i);
		if (want(json_is_object(d), file, w, "a device is an object",
			 err) < 0 ||
		    keys_only(d, dkeys, file, w, err) < 0 ||
		    want(!json_is_number(json_object_get(d, "name")) &&
			     !json_is_boolean(json_object_get(d, "name")),
			 file, w,
			 "'name' must be a string (in YAML, quote a number "
			 "or true/false: name: \"0\")",
			 err) < 0 ||
		    want(n && devname_ok(n), file, w,
			 "'name' is required: letters, digits, '_', '.', "
			 "':', '-'",
			 err) < 0 ||
		    want(!json_object_get(seen, n), file, w,
			 "a device of this name is defined twice", err) < 0 ||
		    want(json_is_object(json_object_get(d, "containerEdits")),
			 file, w, "'containerEdits' is required", err) < 0 ||
		    check_edits(json_object_get(d, "containerEdits"), file, w,
				err) < 0)
			return -1;
		json_object_set_new(seen, n, json_true());
	}
	return 0;
}

/* --- loading ---------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && !strcmp(s + n - m, suf);
}

/* Registry: {kinds: {KIND: {devices: {NAME: {edits, spec}}, order: [..]}},
 * specs: [{file, edits}], dirs: [..]}. */
static int add_spec(json_t *reg, json_t *spec, const char *file, int dirno,
		    struct ec_err *err)
{
	json_t *kinds = json_object_get(reg, "kinds");
	json_t *specs = json_object_get(reg, "specs");
	const char *kind = ec_json_str(spec, "kind");
	json_t *k = json_object_get(kinds, kind), *d, *devs, *order;
	size_t i, idx = json_array_size(specs);

	if (!k) {
		k = json_pack("{s:{},s:[]}", "devices", "order");
		json_object_set_new(kinds, kind, k);
	}
	devs = json_object_get(k, "devices");
	order = json_object_get(k, "order");
	json_array_append_new(
	    specs, json_pack("{s:s,s:O?}", "file", file, "edits",
			     json_object_get(spec, "containerEdits")));
	json_array_foreach (json_object_get(spec, "devices"), i, d) {
		const char *n = ec_json_str(d, "name");
		json_t *old = json_object_get(devs, n);
		if (old &&
		    json_integer_value(json_object_get(old, "dir")) == dirno)
			return ec_err_set(
			    err, EC_USAGE,
			    "CDI device '%s=%s' is defined in both '%s' and "
			    "'%s'; remove one",
			    kind, n,
			    ec_json_str(
				json_array_get(
				    specs, (size_t)json_integer_value(
					       json_object_get(old, "spec"))),
				"file"),
			    file);
		if (!old)
			json_array_append_new(order, json_string(n));
		json_object_set_new(
		    devs, n,
		    json_pack("{s:O,s:I,s:i}", "edits",
			      json_object_get(d, "containerEdits"), "spec",
			      (json_int_t)idx, "dir", dirno));
	}
	return 0;
}

/* One spec file, JSON or YAML by its name, at most EC_JSON_MAX bytes;
 * errors start "CDI spec 'PATH'". */
static json_t *load_spec(const char *path, struct ec_err *err)
{
	_cleanup_free_ char *what = xasprintf("CDI spec '%s'", path);
	_cleanup_free_ char *data = NULL;
	size_t len;

	if (fs_read_file(path, EC_JSON_MAX, &data, &len, err) < 0) {
		ec_err_prefix(err, "CDI spec");
		return NULL;
	}
	if (has_suffix(path, ".json"))
		return ec_json_parse(data, len, what, err);
	return ec_yaml_parse(data, len, what, err);
}

static int load_dir(json_t *reg, const char *dir, int dirno, struct ec_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;
	int r = 0;

	if (!d) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return ec_err_errno(err, EC_FAIL, errno,
				    "read CDI spec directory '%s'", dir);
	}
	names = xcalloc(CDI_FILES_MAX, sizeof(*names));
	while ((de = readdir(d)) && n < CDI_FILES_MAX)
		if (de->d_name[0] != '.')
			names[n++] = xstrdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
		_cleanup_json_ json_t *spec = NULL;

		if (r < 0)
			continue;
		if (!has_suffix(names[i], ".json") &&
		    !has_suffix(names[i], ".yaml") &&
		    !has_suffix(names[i], ".yml"))
			continue;
		if (!(spec = load_spec(path, err))) {
			r = -1;
			if (err && err->cat == EC_NOTFOUND)
				err->cat = EC_FAIL; /* removed meanwhile */
			continue;
		}
		if (cdi_spec_check(spec, path, err) < 0 ||
		    add_spec(reg, spec, path, dirno, err) < 0)
			r = -1;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

json_t *cdi_load(const char *const *dirs, struct ec_err *err)
{
	json_t *reg = json_pack("{s:{},s:[],s:[]}", "kinds", "specs", "dirs");
	int i;

	if (!dirs)
		dirs = cdi_default_dirs;
	for (i = 0; dirs[i]; i++) {
		json_array_append_new(json_object_get(reg, "dirs"),
				      json_string(dirs[i]));
		if (load_dir(reg, dirs[i], i, err) < 0) {
			json_decref(reg);
			return NULL;
		}
	}
	return reg;
}

/* --- resolution --------------------------------------------------------- */

static char *join(const json_t *a, const char *sep, size_t max)
{
	struct {
		char *buf;
		size_t len;
	} o = {xstrdup(""), 0};
	const json_t *v;
	size_t i;

	json_array_foreach (a, i, v) {
		char *n;
		if (i == max) {
			n = xasprintf("%s%s...", o.buf, sep);
			free(o.buf);
			o.buf = n;
			break;
		}
		n = xasprintf("%s%s%s", o.buf, i ? sep : "",
			      json_string_value(v));
		free(o.buf);
		o.buf = n;
	}
	return o.buf;
}

static int not_found_kind(const json_t *reg, const char *kind,
			  struct ec_err *err)
{
	_cleanup_free_ char *dirs = join(json_object_get(reg, "dirs"), ", ", 8);

	return ec_err_set(err, EC_NOTFOUND,
			  "no CDI spec for '%s' in %s (install the vendor's "
			  "CDI spec, e.g. `nvidia-ctk cdi generate "
			  "--output=/etc/cdi/nvidia.yaml`)",
			  kind, dirs);
}

/* Add one device's edits (and its spec's, once) to out. */
static void merge_edits(json_t *out, const json_t *e)
{
	static const char *const lists[] = {"env", "deviceNodes", "mounts",
					    "hooks", "additionalGIDs"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lists); i++) {
		json_t *src = json_object_get(e, lists[i]);
		if (src)
			json_array_extend(json_object_get(out, lists[i]), src);
	}
}

static int add_device(json_t *out, json_t *used, const json_t *reg,
		      const char *kind, const char *name)
{
	const json_t *k = json_object_get(json_object_get(reg, "kinds"), kind);
	const json_t *d = json_object_get(json_object_get(k, "devices"), name);
	json_int_t si = json_integer_value(json_object_get(d, "spec"));
	char key[32];
	const json_t *spec;
	_cleanup_free_ char *q = xasprintf("%s=%s", kind, name);
	const json_t *v;
	size_t i;

	json_array_foreach (json_object_get(out, "devices"), i, v)
		if (!strcmp(json_string_value(v), q))
			return 0; /* asked twice */
	json_array_append_new(json_object_get(out, "devices"), json_string(q));
	snprintf(key, sizeof(key), "%lld", (long long)si);
	if (!json_object_get(used, key)) {
		json_object_set_new(used, key, json_true());
		spec =
		    json_array_get(json_object_get(reg, "specs"), (size_t)si);
		merge_edits(out, json_object_get(spec, "edits"));
	}
	merge_edits(out, json_object_get(d, "edits"));
	return 0;
}

/* Device names of a kind that count as "every device": all but one
 * literally named "all" (nvidia-ctk writes one). */
static int is_index(const char *n)
{
	return *n && strspn(n, "0123456789") == strlen(n);
}

static int by_index(const void *a, const void *b)
{
	long long x = atoll(*(char *const *)a), y = atoll(*(char *const *)b);

	return x < y ? -1 : x > y;
}

/* The GPUs of a kind in order: index-named devices by index when there
 * are any, else every device but "all". *n gets the count; caller frees
 * the array (strings borrowed from the registry). */
static const char **kind_units(const json_t *k, size_t *n)
{
	const json_t *order = json_object_get(k, "order"), *v;
	const char **out = xcalloc(json_array_size(order) + 1, sizeof(*out));
	size_t i, m = 0;

	json_array_foreach (order, i, v)
		if (is_index(json_string_value(v)))
			out[m++] = json_string_value(v);
	if (m) {
		qsort(out, m, sizeof(*out), by_index);
	} else {
		json_array_foreach (order, i, v)
			if (strcmp(json_string_value(v), "all"))
				out[m++] = json_string_value(v);
	}
	*n = m;
	return out;
}

static int resolve_one(json_t *out, json_t *used, const json_t *reg,
		       const json_t *rq, struct ec_err *err)
{
	const char *q = ec_json_str(rq, "name");
	_cleanup_free_ char *kind = NULL;
	_cleanup_free_ const char **units = NULL;
	const char *name;
	const json_t *k, *devs;
	size_t n, i, want_n;

	if (q) {
		name = strchr(q, '=') + 1;
		kind = xstrndup(q, (size_t)(name - 1 - q));
	} else {
		name = NULL;
		kind = xstrdup(ec_json_str(rq, "kind"));
	}
	k = json_object_get(json_object_get(reg, "kinds"), kind);
	if (!k)
		return not_found_kind(reg, kind, err);
	devs = json_object_get(k, "devices");
	if (name && json_object_get(devs, name))
		return add_device(out, used, reg, kind, name);
	units = kind_units(k, &n);
	if (name && strcmp(name, "all")) {
		_cleanup_free_ char *have =
		    join(json_object_get(k, "order"), ", ", 16);
		return ec_err_set(err, EC_NOTFOUND,
				  "no CDI device '%s' (%s has: %s)", q, kind,
				  have);
	}
	want_n =
	    name ? n : (size_t)json_integer_value(json_object_get(rq, "count"));
	if (want_n > n)
		return ec_err_set(err, EC_NOTFOUND,
				  "%zu GPUs of '%s' asked for, this host has "
				  "%zu",
				  want_n, kind, n);
	for (i = 0; i < want_n; i++)
		add_device(out, used, reg, kind, units[i]);
	return 0;
}

json_t *cdi_resolve(const json_t *reg, const json_t *requests,
		    struct ec_err *err)
{
	json_t *out = json_pack("{s:[],s:[],s:[],s:[],s:[],s:[],s:b}",
				"devices", "env", "deviceNodes", "mounts",
				"hooks", "additionalGIDs", "nvproxy", 0);
	_cleanup_json_ json_t *used = json_object();
	const json_t *rq;
	size_t i;

	json_array_foreach (requests, i, rq)
		if (resolve_one(out, used, reg, rq, err) < 0) {
			json_decref(out);
			return NULL;
		}
	return out;
}

int cdi_runtime_check(const char *runtime, struct ec_err *err)
{
	static const char *const oci[] = {"crun", "runc", "runsc", NULL};
	size_t i;

	for (i = 0; runtime && oci[i]; i++)
		if (!strcmp(oci[i], runtime))
			return 0;
	return ec_err_set(err, EC_USAGE,
			  "runtime '%s' cannot take devices (--gpus, "
			  "--device): a VM runtime has no CDI or GPU "
			  "passthrough in edgectl; use crun, runc, or runsc "
			  "(NVIDIA GPUs through nvproxy)",
			  runtime ? runtime : "");
}

/* --- this host ---------------------------------------------------------- */

/* Type, major, minor and mode of a node from the host when the spec left
 * them out. */
static int complete_node(json_t *n, struct ec_err *err)
{
	const char *host = ec_json_str(n, "hostPath") ?: ec_json_str(n, "path");
	const char *t = ec_json_str(n, "type");
	struct stat st;

	if (t && !strcmp(t, "p")) {
		if (!json_object_get(n, "permissions"))
			json_object_set_new(n, "permissions",
					    json_string("rwm"));
		return 0;
	}
	if (!json_object_get(n, "major") || !t) {
		if (stat(host, &st) < 0)
			return ec_err_errno(err, EC_NOTFOUND, errno,
					    "CDI device node '%s'", host);
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			return ec_err_set(err, EC_USAGE,
					  "CDI device node '%s' is not a "
					  "character or block device",
					  host);
		if (!t)
			json_object_set_new(
			    n, "type",
			    json_string(S_ISBLK(st.st_mode) ? "b" : "c"));
		if (!json_object_get(n, "major")) {
			json_object_set_new(n, "major",
					    json_integer(major(st.st_rdev)));
			json_object_set_new(n, "minor",
					    json_integer(minor(st.st_rdev)));
		}
		if (!json_object_get(n, "fileMode"))
			json_object_set_new(n, "fileMode",
					    json_integer(st.st_mode & 07777));
	}
	if (!strcmp(ec_json_str(n, "type"), "u"))
		json_object_set_new(n, "type", json_string("c"));
	if (!json_object_get(n, "permissions"))
		json_object_set_new(n, "permissions", json_string("rwm"));
	return 0;
}

json_t *cdi_edits_for(const char *const *dirs, const json_t *requests,
		      const char *runtime, struct ec_err *err)
{
	_cleanup_json_ json_t *reg = NULL;
	json_t *e, *n, *v;
	size_t i;

	if (!json_array_size(requests))
		return NULL;
	if (cdi_runtime_check(runtime, err) < 0 ||
	    !(reg = cdi_load(dirs, err)) ||
	    !(e = cdi_resolve(reg, requests, err)))
		return NULL;
	json_array_foreach (json_object_get(e, "deviceNodes"), i, n)
		if (complete_node(n, err) < 0) {
			json_decref(e);
			return NULL;
		}
	/* gVisor serves /dev itself: host nodes reach it only through
	 * nvproxy (NVIDIA), others would silently be missing */
	if (!strcmp(runtime, "runsc"))
		json_array_foreach (json_object_get(e, "deviceNodes"), i, n)
			if (strncmp(ec_json_str(n, "path"), "/dev/nvidia",
				    11)) {
				ec_err_set(
				    err, EC_USAGE,
				    "runsc (gVisor) passes only NVIDIA "
				    "GPU device nodes (nvproxy), not "
				    "'%s'; use crun or runc for %s",
				    ec_json_str(n, "path"),
				    json_string_value(json_array_get(
					json_object_get(e, "devices"), 0)));
				json_decref(e);
				return NULL;
			}
	/* gVisor runs createRuntime, prestart, poststart and poststop hooks;
	 * those inside the container (createContainer, startContainer) would
	 * silently not run */
	if (!strcmp(runtime, "runsc"))
		json_array_foreach (json_object_get(e, "hooks"), i, n) {
			const char *h = ec_json_str(n, "hookName");
			if (strcmp(h, "createContainer") &&
			    strcmp(h, "startContainer"))
				continue;
			ec_err_set(err, EC_USAGE,
				   "runsc (gVisor) does not run %s hooks "
				   "(needed by %s); use crun or runc",
				   h,
				   json_string_value(json_array_get(
				       json_object_get(e, "devices"), 0)));
			json_decref(e);
			return NULL;
		}
	if (!strcmp(runtime, "runsc"))
		json_array_foreach (json_object_get(e, "devices"), i, v)
			if (!strncmp(json_string_value(v), CDI_GPU_KIND "=",
				     strlen(CDI_GPU_KIND) + 1))
				json_object_set_new(e, "nvproxy", json_true());
	return e;
}

/* --- applying ----------------------------------------------------------- */

static json_t *child(json_t *o, const char *key, int array)
{
	json_t *c = json_object_get(o, key);

	if (!c) {
		c = array ? json_array() : json_object();
		json_object_set_new(o, key, c);
	}
	return c;
}

static void env_set(json_t *env, const char *kv)
{
	size_t kl = strcspn(kv, "="), i;
	json_t *v;

	json_array_foreach (env, i, v) {
		const char *s = json_string_value(v);
		if (s && !strncmp(s, kv, kl) && s[kl] == '=') {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static void apply_node(json_t *lnx, const json_t *n)
{
	json_t *d = json_object(), *r = json_object();
	static const char *const copy[] = {"path",     "type", "major", "minor",
					   "fileMode", "uid",  "gid"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(copy); i++)
		if (json_object_get(n, copy[i]))
			json_object_set(d, copy[i],
					json_object_get(n, copy[i]));
	json_array_append_new(child(lnx, "devices", 1), d);
	if (!strcmp(ec_json_str(n, "type") ?: "", "p")) {
		json_decref(r);
		return;
	}
	json_object_set_new(r, "allow", json_true());
	json_object_set(r, "type", json_object_get(n, "type"));
	json_object_set(r, "major", json_object_get(n, "major"));
	json_object_set(r, "minor", json_object_get(n, "minor"));
	json_object_set_new(
	    r, "access", json_string(ec_json_str(n, "permissions") ?: "rwm"));
	json_array_append_new(child(child(lnx, "resources", 0), "devices", 1),
			      r);
}

static void apply_mount(json_t *mounts, const json_t *m)
{
	const json_t *opts = json_object_get(m, "options"), *v;
	const char *type = ec_json_str(m, "type");
	json_t *o = json_array();
	int bind = 0;
	size_t i;

	json_array_foreach (opts, i, v) {
		const char *s = json_string_value(v);
		bind |= !strcmp(s, "bind") || !strcmp(s, "rbind");
		json_array_append(o, (json_t *)v);
	}
	if (!type && !bind)
		json_array_insert_new(o, 0, json_string("rbind"));
	json_array_append_new(
	    mounts, json_pack("{s:O,s:s,s:O,s:o}", "destination",
			      json_object_get(m, "containerPath"), "type",
			      type ? type : "bind", "source",
			      json_object_get(m, "hostPath"), "options", o));
}

static void apply_hook(json_t *hooks, const json_t *h)
{
	json_t *o = json_pack("{s:O}", "path", json_object_get(h, "path"));
	static const char *const copy[] = {"args", "env", "timeout"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(copy); i++)
		if (json_object_get(h, copy[i]))
			json_object_set(o, copy[i],
					json_object_get(h, copy[i]));
	json_array_append_new(child(hooks, ec_json_str(h, "hookName"), 1), o);
}

void cdi_apply(json_t *config, const json_t *e)
{
	json_t *proc = child(config, "process", 0);
	json_t *lnx = child(config, "linux", 0);
	const json_t *v;
	size_t i;

	if (!e)
		return;
	json_array_foreach (json_object_get(e, "env"), i, v)
		env_set(child(proc, "env", 1), json_string_value(v));
	json_array_foreach (json_object_get(e, "deviceNodes"), i, v)
		apply_node(lnx, v);
	json_array_foreach (json_object_get(e, "mounts"), i, v)
		apply_mount(child(config, "mounts", 1), v);
	json_array_foreach (json_object_get(e, "hooks"), i, v)
		apply_hook(child(config, "hooks", 0), v);
	json_array_foreach (json_object_get(e, "additionalGIDs"), i, v)
		json_array_append(
		    child(child(proc, "user", 0), "additionalGids", 1),
		    (json_t *)v);
}

/* --- probe -------------------------------------------------------------- */

static int class_is_gpu(const char *kind)
{
	const char *slash = strchr(kind, '/');

	return slash && !strcmp(slash + 1, "gpu");
}

/* --- runsc's nvproxy ---------------------------------------------------- */

int cdi_runsc_has_nvproxy(const char *flags)
{
	const char *l;

	for (l = flags; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		l += strspn(l, " \t");
		l += *l == '-' && l[1] == '-';
		if (!strncmp(l, "-nvproxy", 8) && strchr(" \t=\n", l[8]))
			return 1;
	}
	return 0;
}

int cdi_nvproxy_check(const char *runsc, struct ec_err *err)
{
	const char *flags[] = {runsc, "flags", NULL};
	const char *version[] = {runsc, "--version", NULL};
	struct proc_opts o = {.timeout_ms = 30000, .max_output = 1 << 20};
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT, eout = STRBUF_INIT;
	int st;

	if (!runsc)
		return ec_err_set(err, EC_NOTFOUND, "runsc is not installed");
	if (proc_run(flags, &o, &out, &eout, &st, err) < 0)
		return ec_err_prefix(err, "'%s flags'", runsc);
	if (cdi_runsc_has_nvproxy(out.buf) || cdi_runsc_has_nvproxy(eout.buf))
		return 0;
	sb_reset(&out);
	if (proc_run(version, &o, &out, NULL, &st, NULL) < 0 || !out.len)
		sb_adds(&out, "version unknown");
	out.buf[strcspn(out.buf, "\n")] = '\0';
	return ec_err_set(
	    err, EC_USAGE,
	    "GPUs under runsc need its --nvproxy (gVisor's "
	    "NVIDIA GPU proxy), which '%s' (%s) does not have: "
	    "install a newer gVisor, or use --runtime crun or runc",
	    runsc, out.buf);
}

json_t *cdi_probe(const json_t *reg, json_t *gpus)
{
	json_t *all = json_array();
	const char *kind;
	const json_t *k, *v;
	size_t i;

	json_object_foreach ((json_t *)json_object_get(reg, "kinds"), kind, k) {
		_cleanup_free_ const char **units = NULL;
		size_t n;

		json_array_foreach (json_object_get(k, "order"), i, v)
			json_array_append_new(
			    all,
			    json_sprintf("%s=%s", kind, json_string_value(v)));
		if (!class_is_gpu(kind))
			continue;
		units = kind_units(k, &n);
		for (i = 0; i < n; i++) {
			json_t *g = json_array_get(gpus, i);
			json_t *q = json_sprintf("%s=%s", kind, units[i]);
			if (g && !json_object_get(g, "cdi"))
				json_object_set_new(g, "cdi", q);
			else
				json_array_append_new(
				    gpus,
				    json_pack("{s:s,s:i,s:o}", "model", kind,
					      "memory_bytes", 0, "cdi", q));
		}
	}
	return all;
}
