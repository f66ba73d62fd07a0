/* gc.c - image users and mark & sweep of the local root (gc.h). */
#include "oci/gc.h"
#include "vm/vm.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/tmpfile.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

static int walk(struct oci_layout *l, const char *digest, json_t *blobs,
		json_t *diffs, unsigned *missing, int depth, struct ec_err *err)
{
	_cleanup_json_ json_t *man = NULL, *cfg = NULL;
	const char *cd;
	json_t *v;
	size_t i;

	if (oci_digest_check(digest, NULL) < 0)
		return 0;
	json_object_set_new(blobs, digest, json_true());
	if (!oci_blob_exists(l, digest)) {
		if (missing)
			(*missing)++;
		return 0;
	}
	if (!(man = oci_blob_json(l, digest, err)))
		return -1;
	if (json_is_array(json_object_get(man, "manifests"))) {
		if (depth > 3)
			return ec_err_set(err, EC_FAIL,
					  "image %s: indexes nested too deep",
					  digest);
		json_array_foreach (json_object_get(man, "manifests"), i, v)
			if (walk(l, ec_json_str(v, "digest") ?: "", blobs,
				 diffs, missing, depth + 1, err) < 0)
				return -1;
		return 0;
	}
	json_array_foreach (json_object_get(man, "layers"), i, v) {
		const char *d = ec_json_str(v, "digest");
		if (d && oci_digest_check(d, NULL) == 0) {
			json_object_set_new(blobs, d, json_true());
			if (!oci_blob_exists(l, d) && missing)
				(*missing)++;
		}
	}
	cd = ec_json_str(json_object_get(man, "config"), "digest");
	if (!cd || oci_digest_check(cd, NULL) < 0)
		return 0;
	json_object_set_new(blobs, cd, json_true());
	if (!oci_blob_exists(l, cd)) {
		if (missing)
			(*missing)++;
		return 0;
	}
	if (!diffs)
		return 0;
	if (!(cfg = oci_blob_json(l, cd, err)))
		return -1;
	json_array_foreach (
	    json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"), i, v) {
		const char *d = json_string_value(v);
		if (d && !strncmp(d, "sha256:", 7))
			json_object_set_new(diffs, d + 7, json_true());
	}
	return 0;
}

int oci_image_blobs(struct oci_layout *l, const char *digest, json_t *blobs,
		    json_t *diffs, unsigned *missing, struct ec_err *err)
{
	return walk(l, digest, blobs, diffs, missing, 0, err);
}

/* Call fn on each instance spec: 0, or -1 with err. */
static int each_spec(struct oci_layout *l,
		     int (*fn)(const char *id, json_t *spec, void *c), void *c,
		     struct ec_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/instances", oci_layout_dir(l));
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0
				       : ec_err_errno(err, EC_FAIL, errno,
						      "open '%s'", dir);
	while (r == 0 && (e = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		_cleanup_json_ json_t *spec = NULL;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		free(p);
		p = xasprintf("%s/%s/spec.json", dir, e->d_name);
		if (access(p, F_OK) < 0 && errno == ENOENT)
			continue; /* being created or removed: no spec yet */
		if (!(spec = ec_json_load_file(p, err))) {
			r = -1;
			break;
		}
		r = fn(e->d_name, spec, c);
	}
	closedir(d);
	return r;
}

static int add_user(const char *id, json_t *spec, void *c)
{
	json_t *users = c, *a;
	const char *d = ec_json_str(spec, "digest");

	if (!d)
		return 0;
	if (!(a = json_object_get(users, d))) {
		a = json_array();
		json_object_set_new(users, d, a);
	}
	json_array_append_new(a, json_string(id));
	return 0;
}

json_t *oci_image_users(struct oci_layout *l, struct ec_err *err)
{
	json_t *users = json_object();

	if (each_spec(l, add_user, users, err) < 0) {
		json_decref(users);
		return NULL;
	}
	return users;
}

struct marks {
	struct oci_layout *l;
	json_t *blobs, *diffs;
	struct ec_err *err;
};

static int mark_instance(const char *id, json_t *spec, void *c)
{
	struct marks *m = c;
	const char *d = ec_json_str(spec, "digest");
	json_t *v;
	size_t i;

	(void)id;
	if (d && oci_image_blobs(m->l, d, m->blobs, m->diffs, NULL, m->err) < 0)
		return -1;
	json_array_foreach (json_object_get(spec, "lowerdirs"), i, v) {
		const char *p = json_string_value(v), *b;
		if (!p)
			continue;
		b = strrchr(p, '/');
		json_object_set_new(m->diffs, b ? b + 1 : p, json_true());
	}
	return 0;
}

/* Remove the entries of dir that are 64 hex digits and not in live. */
static int sweep(const char *dir, json_t *live, int blobs,
		 struct oci_gc_stats *st, struct ec_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0
				       : ec_err_errno(err, EC_FAIL, errno,
						      "open '%s'", dir);
	while (r == 0 && (e = readdir(d))) {
		_cleanup_free_ char *key = NULL, *p = NULL;
		struct stat sb;

		if (!is_hex64(e->d_name))
			continue;
		key = blobs ? xasprintf("sha256:%s", e->d_name)
			    : xstrdup(e->d_name);
		if (json_object_get(live, key))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (blobs) {
			if (lstat(p, &sb) == 0 && unlink(p) == 0) {
				st->blobs++;
				st->bytes += (uint64_t)sb.st_size;
			} else if (errno != ENOENT) {
				r = ec_err_errno(err, EC_FAIL, errno,
						 "remove '%s'", p);
			}
		} else if ((r = fs_rm_rf(p, err)) == 0) {
			st->layers++;
		}
	}
	closedir(d);
	return r;
}

int oci_gc(struct oci_layout *l, struct oci_gc_stats *st, struct ec_err *err)
{
	struct marks m = {l, json_object(), json_object(), err};
	_cleanup_json_ json_t *refs = NULL;
	_cleanup_free_ char *bd = NULL, *ld = NULL;
	_cleanup_close_ int lk = -1, gk = -1;
	json_t *r;
	size_t i;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	if ((gk = oci_layout_gc_lock(l, 1, err)) < 0 ||
	    (lk = oci_layout_lock(l, err)) < 0 ||
	    !(refs = oci_ref_list(l, err)))
		goto out;
	json_array_foreach (refs, i, r)
		if (oci_image_blobs(l, ec_json_str(r, "digest") ?: "", m.blobs,
				    m.diffs, NULL, err) < 0)
			goto out;
	if (each_spec(l, mark_instance, &m, err) < 0)
		goto out;
	bd = xasprintf("%s/blobs/sha256", oci_layout_dir(l));
	ld = xasprintf("%s/layers", oci_layout_dir(l));
	if (sweep(bd, m.blobs, 1, st, err) < 0 ||
	    sweep(ld, m.diffs, 0, st, err) < 0)
		goto out;
	{
		_cleanup_free_ char *vd = xasprintf("%s/vm", oci_layout_dir(l));
		vm_gc_disks(vd, m.blobs, &st->vm_disks, &st->bytes);
	}
	oci_sweep_temps(l, time(NULL), &st->temps);
	rc = 0;
out:
	json_decref(m.blobs);
	json_decref(m.diffs);
	return rc;
}

/* --- temps of killed transfers ------------------------------------------ */

static unsigned sweep_dir(const char *dir, time_t now)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		const char *nm = e->d_name;
		size_t len = strlen(nm);

		if (!strncmp(nm, ".tmp-", 5)) {
			n += (unsigned)tmpfile_sweep_at(dirfd(d), nm, now,
							OCI_TEMP_AGE);
		} else if (!strncmp(nm, ".partial-", 9) &&
			   (len < 5 || strcmp(nm + len - 5, ".json"))) {
			_cleanup_free_ char *j = xasprintf("%s.json", nm);
			if (tmpfile_sweep_at(dirfd(d), nm, now,
					     OCI_PARTIAL_AGE)) {
				unlinkat(dirfd(d), j, 0);
				n++;
			}
		}
	}
	closedir(d);
	return n;
}

void oci_sweep_temps(struct oci_layout *l, time_t now, unsigned *removed)
{
	_cleanup_free_ char *bd =
	    xasprintf("%s/blobs/sha256", oci_layout_dir(l));
	_cleanup_free_ char *ld = xasprintf("%s/layers", oci_layout_dir(l));
	unsigned n = sweep_dir(bd, now) + sweep_dir(ld, now);

	if (removed)
		*removed = n;
}
