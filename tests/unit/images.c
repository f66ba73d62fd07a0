/* images.c - unit tests of the local root's image list and removal
 * (src/oci/images.c) on a temporary layout: sizes (manifest + config +
 * layers), the users count, the local name of a reference, removal
 * refused while an instance uses the image (and allowed with force, its
 * blobs kept), a missing name (EC_NOTFOUND, the others still removed), the
 * collection of what nothing uses, and inspect. And img_fd_matches
 * (src/image/copy.c), which hashes a local blob before a push: a read that
 * fails (EIO on a bad disk; here EISDIR) is an error of its own, not a
 * "corrupt" blob of the bytes before it. */
#include "tap.h"
#include "image/image_impl.h"
#include "oci/images.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fd_matches(const char *dir)
{
	/* sha256("abc") */
	struct oci_desc d = {.size = 3,
			     .digest = "sha256:ba7816bf8f01cfea414140de5dae2223"
				       "b00361a396177a9cb410ff61f20015ad"};
	_cleanup_free_ char *p = xasprintf("%s/abc", dir);
	char hex[65];
	uint64_t got = 9;
	int fd;

	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ok(fd >= 0 && write(fd, "abc", 3) == 3, "blob written");
	is_int(img_fd_matches(fd, &d, hex, &got), 1, "a good blob matches");
	is_int((int)got, 3, "its length");
	d.size = 4;
	is_int(img_fd_matches(fd, &d, hex, &got), 0, "another size: no match");
	close(fd);
	/* a read that fails: -1 with errno, never "no match" */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	errno = 0;
	is_int(img_fd_matches(fd, &d, hex, &got), -1, "a failed read is -1");
	is_int(errno, EISDIR, "errno says why");
	is_int((int)got, 0, "nothing read");
	close(fd);
}

/* An image "name" with one config blob (created "when") and one layer of
 * `layer` bytes; its manifest digest into digest. */
static void image(struct oci_layout *l, const char *name, const char *when,
		  size_t layer, char *digest)
{
	struct oci_desc c, y, m;
	char *cfg = xasprintf("{\"created\":\"%s\",\"rootfs\":{}}", when);
	char *data = xcalloc(1, layer);
	json_t *man;
	char *s;

	data[0] = name[0];
	ok(oci_blob_put(l, cfg, strlen(cfg),
			"application/vnd.oci.image.config.v1+json", &c,
			NULL) == 0 &&
	       oci_blob_put(l, data, layer,
			    "application/vnd.oci.image.layer.v1.tar", &y,
			    NULL) == 0,
	   "blobs of %s", name);
	man = json_pack("{s:i,s:s,s:o,s:[o]}", "schemaVersion", 2, "mediaType",
			"application/vnd.oci.image.manifest.v1+json", "config",
			oci_desc_json(&c), "layers", oci_desc_json(&y));
	s = json_dumps(man, JSON_COMPACT);
	ok(oci_blob_put(l, s, strlen(s),
			"application/vnd.oci.image.manifest.v1+json", &m,
			NULL) == 0 &&
	       oci_ref_set(l, name, &m, NULL) == 0,
	   "manifest and ref of %s", name);
	snprintf(digest, 80, "%s", m.digest);
	is_int((int)(m.size + c.size + y.size) > 0, 1, "sizes known");
	free(s);
	free(cfg);
	free(data);
	json_decref(man);
}

/* The element of list whose "ref" is ref. */
static const json_t *row(const json_t *list, const char *ref)
{
	const json_t *r;
	size_t i;

	json_array_foreach (list, i, r)
		if (!strcmp(ec_json_str(r, "ref"), ref))
			return r;
	return NULL;
}

int main(void)
{
	char dir[] = "/tmp/ec-images-XXXXXX", web[80], db[80];
	struct oci_layout *l = NULL;
	struct oci_rm_result r;
	struct ec_err err;
	json_t *list, *j;
	char *p, *name;
	char *names[] = {"web:1", "nope:1", "db:2"};

	if (!mkdtemp(dir))
		BUG("mkdtemp");
	ec_err_clear(&err);
	ok(oci_layout_open(dir, 1, &l, &err) == 0, "layout: %s", err.msg);
	image(l, "web:1", "2024-01-02T03:04:05Z", 1000, web);
	image(l, "db:2", "2024-02-03T00:00:00Z", 5000, db);

	/* an instance uses web:1 */
	p = xasprintf("%s/instances/i1", dir);
	fs_mkdir_p(p, NULL);
	free(p);
	p = xasprintf("%s/instances/i1/spec.json", dir);
	j = json_pack("{s:s,s:[]}", "digest", web, "lowerdirs");
	json_dump_file(j, p, 0);
	json_decref(j);
	free(p);

	list = oci_images_list(l, &err);
	is_int(json_array_size(list), 2, "two images listed");
	is_int(ec_json_int(row(list, "web:1"), "instances"), 1,
	       "web:1 has one user");
	is_int(ec_json_int(row(list, "db:2"), "instances"), 0, "db:2 has none");
	ok(ec_json_int(row(list, "db:2"), "size_bytes") > 5000 &&
	       ec_json_int(row(list, "db:2"), "size_bytes") -
		       ec_json_int(row(list, "web:1"), "size_bytes") ==
		   4000,
	   "size: manifest + config + layers");
	is_str(ec_json_str(row(list, "web:1"), "created"),
	       "2024-01-02T03:04:05Z", "created from the config");
	json_decref(list);

	name = oci_local_name(l, "web:1");
	is_str(name, "web:1", "a local name");
	free(name);
	name = oci_local_name(l, "db");
	is_str(name, "db:latest", "a name without tag gets latest");
	free(name);

	j = oci_image_inspect(l, "db:2", &err);
	ok(j && !strcmp(ec_json_str(j, "digest"), db) &&
	       json_is_object(json_object_get(j, "config")),
	   "inspect: digest, manifest and config");
	json_decref(j);
	ok(!oci_image_inspect(l, "nope:1", &err) && err.cat == EC_NOTFOUND,
	   "inspect of a missing image: not found");

	ec_err_clear(&err);
	ok(oci_images_rm(l, names, 3, 0, &r, &err) == 0, "rm: %s", err.msg);
	is_int(json_array_size(r.removed), 1, "one removed");
	is_str(json_string_value(json_array_get(r.removed, 0)), "db:2",
	       "db:2 removed");
	is_int(json_array_size(r.failed), 2, "two failed");
	ok(strstr(ec_json_str(json_array_get(r.failed, 0), "error"),
		  "used by instance 'i1'") != NULL,
	   "web:1 is refused while i1 uses it");
	is_int(r.first.cat, EC_FAIL, "the first failure's category");
	ok(strstr(ec_json_str(json_array_get(r.failed, 1), "error"),
		  "no image 'nope:1'") != NULL,
	   "a missing image is named");
	is_int(r.gc.blobs, 3, "db's three blobs collected");
	oci_rm_result_release(&r);

	ok(oci_images_rm(l, names, 1, 1, &r, &err) == 0 &&
	       json_array_size(r.removed) == 1 && r.gc.blobs == 0,
	   "force untags web:1; its blobs stay while i1 uses it");
	oci_rm_result_release(&r);
	list = oci_images_list(l, &err);
	is_int(json_array_size(list), 0, "no image left");
	json_decref(list);

	oci_layout_free(l);
	fd_matches(dir);
	p = xasprintf("rm -rf '%s'", dir);
	ok(system(p) == 0, "cleanup");
	free(p);
	return done_testing();
}
