/* xfer.c - an image as a tar stream of an OCI layout (xfer.h). */
#include "oci/xfer.h"
#include "oci/gc.h"
#include "util/io.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLK	    512
#define BLOB_MAX    (256ull << 30) /* a blob bigger than this is refused */
#define INDEX_MAX   (4u << 20)
#define XFER_BUF    (256u << 10)
#define LAYOUT_FILE "{\"imageLayoutVersion\":\"1.0.0\"}"

/* ---- writing ---- */

static void put_octal(char *f, size_t w, uint64_t v)
{
	snprintf(f, w, "%0*llo", (int)w - 1, (unsigned long long)v);
}

static int put_header(int fd, const char *name, char type, uint64_t size,
		      struct ec_err *err)
{
	unsigned char h[BLK];
	unsigned sum = 0;
	size_t i;

	memset(h, 0, sizeof(h));
	snprintf((char *)h, 100, "%s", name);
	put_octal((char *)h + 100, 8, type == '5' ? 0755 : 0644);
	put_octal((char *)h + 108, 8, 0);
	put_octal((char *)h + 116, 8, 0);
	if (size < (1ull << 33)) {
		put_octal((char *)h + 124, 12, size);
	} else { /* GNU base-256 */
		h[124] = 0x80;
		for (i = 0; i < 8; i++)
			h[135 - i] = (unsigned char)(size >> (8 * i));
	}
	put_octal((char *)h + 136, 12, (uint64_t)time(NULL));
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < BLK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return io_write_all(fd, h, BLK, -1, "the stream", err);
}

static int put_pad(int fd, uint64_t size, struct ec_err *err)
{
	static const char zero[BLK];
	size_t n = (size_t)((BLK - size % BLK) % BLK);

	return n ? io_write_all(fd, zero, n, -1, "the stream", err) : 0;
}

static int put_mem(int fd, const char *name, const void *data, size_t len,
		   struct ec_err *err)
{
	if (put_header(fd, name, '0', len, err) < 0 ||
	    io_write_all(fd, data, len, -1, "the stream", err) < 0)
		return -1;
	return put_pad(fd, len, err);
}

static int put_blob(struct oci_layout *l, int fd, const char *digest,
		    uint64_t *bytes, struct ec_err *err)
{
	_cleanup_free_ char *p = oci_blob_path(l, digest);
	_cleanup_free_ char *name = xasprintf("blobs/sha256/%s", digest + 7);
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int in = open(p, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint64_t left;

	if (in < 0)
		return ec_err_errno(err,
				    errno == ENOENT ? EC_NOTFOUND : EC_FAIL,
				    errno, "blob %s", digest);
	if (fstat(in, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "stat '%s'", p);
	left = (uint64_t)st.st_size;
	if (put_header(fd, name, '0', left, err) < 0)
		return -1;
	buf = xmalloc(XFER_BUF);
	while (left) {
		ssize_t n =
		    io_read_full(in, buf, left < XFER_BUF ? left : XFER_BUF);
		if (n <= 0)
			return ec_err_errno(err, EC_FAIL, n < 0 ? errno : EIO,
					    "read '%s'", p);
		if (io_write_all(fd, buf, (size_t)n, -1, "the stream", err) < 0)
			return -1;
		left -= (uint64_t)n;
	}
	*bytes += (uint64_t)st.st_size;
	return put_pad(fd, (uint64_t)st.st_size, err);
}

int oci_xfer_export(struct oci_layout *l, const char *name, int fd,
		    uint64_t *bytes, struct ec_err *err)
{
	_cleanup_json_ json_t *blobs = json_object(), *idx = NULL, *m = NULL;
	_cleanup_free_ char *s = NULL;
	static const char zero[2 * BLK];
	struct oci_desc d;
	unsigned missing = 0;
	uint64_t sent = 0;
	const char *k;
	json_t *v;

	if (oci_ref_get(l, name, &d, err) < 0 ||
	    oci_image_blobs(l, d.digest, blobs, NULL, &missing, err) < 0)
		return -1;
	if (missing)
		return ec_err_set(err, EC_NOTFOUND,
				  "image '%s': %u blobs missing from the "
				  "local root (pull it again)",
				  name, missing);
	if (put_mem(fd, "oci-layout", LAYOUT_FILE, strlen(LAYOUT_FILE), err) <
		0 ||
	    put_header(fd, "blobs/", '5', 0, err) < 0 ||
	    put_header(fd, "blobs/sha256/", '5', 0, err) < 0)
		return -1;
	json_object_foreach (blobs, k, v)
		if (put_blob(l, fd, k, &sent, err) < 0)
			return -1;
	m = oci_desc_json(&d);
	json_object_set_new(m, "annotations",
			    json_pack("{s:s}", ANNOT_REF_NAME, name));
	idx = json_pack("{s:i,s:s,s:[O]}", "schemaVersion", 2, "mediaType",
			MT_OCI_INDEX, "manifests", m);
	s = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
	if (put_mem(fd, "index.json", s, strlen(s), err) < 0 ||
	    io_write_all(fd, zero, sizeof(zero), -1, "the stream", err) < 0)
		return -1;
	if (bytes)
		*bytes = sent;
	return 0;
}

/* ---- reading ---- */

static int get_block(int fd, unsigned char *b, struct ec_err *err)
{
	ssize_t n = io_read_full(fd, b, BLK);

	if (n < 0)
		return ec_err_errno(err, EC_FAIL, errno, "read the stream");
	if (n != BLK)
		return ec_err_set(err, EC_FAIL,
				  "the stream ends in the middle of a tar "
				  "block (the sender failed?)");
	return 0;
}

static int parse_size(const unsigned char *f, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (f[0] & 0x80) {
		for (i = 1; i < 12; i++) {
			if (v >> 56)
				return -1;
			v = v << 8 | f[i];
		}
	} else {
		for (i = 0; i < 12 && f[i] == ' '; i++)
			;
		for (; i < 12 && f[i] >= '0' && f[i] <= '7'; i++) {
			if (v >> 60)
				return -1;
			v = v << 3 | (uint64_t)(f[i] - '0');
		}
	}
	*out = v;
	return 0;
}

static int header_ok(const unsigned char *h)
{
	unsigned sum = 0, want = 0;
	size_t i;

	for (i = 0; i < BLK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	for (i = 148; i < 156 && h[i] == ' '; i++)
		;
	for (; i < 156 && h[i] >= '0' && h[i] <= '7'; i++)
		want = want << 3 | (unsigned)(h[i] - '0');
	return sum == want;
}

/* Read size bytes (+ padding) of the current entry into sink (NULL =
 * drop): a blob writer, or a buffer of at most cap. */
struct body {
	struct oci_blob_writer *w;
	char *buf;
	size_t cap, len;
};

static int get_body(int fd, uint64_t size, struct body *b, char *tmp,
		    struct ec_err *err)
{
	uint64_t left = size + (BLK - size % BLK) % BLK, data = size;

	if (size > BLOB_MAX)
		BUG("get_body: size %" PRIu64 " not checked", size);

	while (left) {
		size_t want = left < XFER_BUF ? (size_t)left : XFER_BUF;
		ssize_t n = io_read_full(fd, tmp, want);
		size_t use;
		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "read the stream");
		if ((size_t)n != want)
			return ec_err_set(err, EC_FAIL,
					  "the stream ends in the middle of a "
					  "file (the sender failed?)");
		use = data < (uint64_t)n ? (size_t)data : (size_t)n;
		if (b && b->w && use && oci_blob_write(b->w, tmp, use, err) < 0)
			return -1;
		if (b && b->buf && use) {
			if (b->len + use > b->cap)
				return ec_err_set(err, EC_FAIL,
						  "index.json of the stream "
						  "is too big");
			memcpy(b->buf + b->len, tmp, use);
			b->len += use;
		}
		data -= use;
		left -= (uint64_t)n;
	}
	return 0;
}

/* The sizes the manifest (or index) gives its blobs must be theirs. */
static int desc_size_ok(struct oci_layout *l, const struct oci_desc *d,
			struct ec_err *err)
{
	_cleanup_free_ char *p = oci_blob_path(l, d->digest);
	struct stat st;

	if (stat(p, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "blob %s", d->digest);
	if ((uint64_t)st.st_size != d->size)
		return ec_err_set(err, EC_FAIL,
				  "blob %s is %" PRIu64 " bytes but its "
				  "descriptor says %" PRIu64 " (corrupt image)",
				  d->digest, (uint64_t)st.st_size, d->size);
	return 0;
}

static int check_sizes(struct oci_layout *l, const struct oci_desc *top,
		       struct ec_err *err)
{
	_cleanup_json_ json_t *man = NULL;
	struct oci_desc d;
	const json_t *v;
	size_t i;

	if (desc_size_ok(l, top, err) < 0 ||
	    !(man = oci_blob_json(l, top->digest, err)))
		return -1;
	json_array_foreach (json_object_get(man, "manifests"), i, v)
		if (oci_desc_from_json(v, &d, err) < 0 ||
		    check_sizes(l, &d, err) < 0)
			return -1;
	if (json_object_get(man, "config") &&
	    (oci_desc_from_json(json_object_get(man, "config"), &d, err) < 0 ||
	     desc_size_ok(l, &d, err) < 0))
		return -1;
	json_array_foreach (json_object_get(man, "layers"), i, v)
		if (oci_desc_from_json(v, &d, err) < 0 ||
		    desc_size_ok(l, &d, err) < 0)
			return -1;
	return 0;
}

static int set_refs(struct oci_layout *l, const char *buf, size_t len,
		    json_t *names, struct ec_err *err)
{
	_cleanup_json_ json_t *idx =
	    ec_json_parse(buf, len, "index.json of the stream", err);
	json_t *m;
	size_t i;

	if (!idx)
		return -1;
	json_array_foreach (json_object_get(idx, "manifests"), i, m) {
		_cleanup_json_ json_t *blobs = json_object();
		const char *name = ec_json_str(
		    json_object_get(m, "annotations"), ANNOT_REF_NAME);
		struct oci_desc d;
		unsigned missing = 0;

		if (!name)
			continue;
		if (oci_desc_from_json(m, &d, err) < 0 ||
		    oci_image_blobs(l, d.digest, blobs, NULL, &missing, err) <
			0)
			return -1;
		if (missing)
			return ec_err_set(err, EC_FAIL,
					  "image '%s': %u blobs are neither "
					  "in the stream nor here",
					  name, missing);
		if (check_sizes(l, &d, err) < 0)
			return ec_err_prefix(err, "image '%s'", name);
		if (oci_ref_set(l, name, &d, err) < 0)
			return -1;
		json_array_append_new(names, json_string(name));
	}
	return 0;
}

static int import_entry(struct oci_layout *l, int fd, const char *name,
			uint64_t size, struct body *index,
			struct oci_xfer_stats *st, char *tmp,
			struct ec_err *err)
{
	struct body b = {0};
	_cleanup_free_ char *digest = NULL;
	struct oci_desc d;
	int r;

	if (!strncmp(name, "./", 2))
		name += 2;
	if (!strcmp(name, "index.json"))
		return get_body(fd, size, index, tmp, err);
	if (strncmp(name, "blobs/sha256/", 13))
		return get_body(fd, size, NULL, tmp, err);
	digest = xasprintf("sha256:%s", name + 13);
	if (oci_digest_check(digest, NULL) < 0)
		return ec_err_set(err, EC_FAIL,
				  "the stream has a blob named '%s'", name);
	if (size > BLOB_MAX)
		return ec_err_set(err, EC_FAIL, "blob %s: too big", digest);
	st->received += size;
	if (oci_blob_exists(l, digest))
		return get_body(fd, size, NULL, tmp, err);
	if (!(b.w = oci_blob_writer_new(l, err)))
		return -1;
	r = get_body(fd, size, &b, tmp, err);
	if (r == 0)
		r = oci_blob_commit(b.w, digest, &d, err);
	oci_blob_writer_free(b.w);
	if (r < 0)
		return -1;
	st->stored += size;
	st->blobs++;
	return 0;
}

int oci_xfer_import(struct oci_layout *l, int fd, json_t **refs,
		    struct oci_xfer_stats *st, struct ec_err *err)
{
	_cleanup_free_ char *tmp = xmalloc(XFER_BUF);
	_cleanup_free_ char *ib = xmalloc(INDEX_MAX);
	struct body index = {.buf = ib, .cap = INDEX_MAX};
	json_t *names = json_array();
	unsigned char h[BLK];
	int zeros = 0;

	memset(st, 0, sizeof(*st));
	for (;;) {
		char name[256 + 2];
		uint64_t size;
		size_t i;

		if (get_block(fd, h, err) < 0)
			goto fail;
		for (i = 0; i < BLK && !h[i]; i++)
			;
		if (i == BLK) {
			if (++zeros == 2)
				break;
			continue;
		}
		zeros = 0;
		if (!header_ok(h) || parse_size(h + 124, &size) < 0) {
			ec_err_set(err, EC_FAIL,
				   "the stream is not a tar archive");
			goto fail;
		}
		if (h[345] && !memcmp(h + 257, "ustar", 5))
			snprintf(name, sizeof(name), "%.155s/%.100s",
				 (char *)h + 345, (char *)h);
		else
			snprintf(name, sizeof(name), "%.100s", (char *)h);
		/* before any arithmetic on it (size + padding would wrap) */
		if (size > BLOB_MAX) {
			ec_err_set(
			    err, EC_FAIL,
			    "the stream's entry '%s' has a size of %" PRIu64
			    " bytes (more than %llu: damaged or hostile)",
			    name, size, BLOB_MAX);
			goto fail;
		}
		if (h[156] == '0' || h[156] == '\0') {
			if (import_entry(l, fd, name, size, &index, st, tmp,
					 err) < 0)
				goto fail;
		} else if (get_body(fd, size, NULL, tmp, err) < 0) {
			goto fail; /* dirs, pax headers: nothing to keep */
		}
	}
	if (index.len && set_refs(l, index.buf, index.len, names, err) < 0)
		goto fail;
	if (refs)
		*refs = names;
	else
		json_decref(names);
	return 0;
fail:
	json_decref(names);
	return -1;
}
