/* s3_xml.c - fuzz target: the bounded XML scanner and every S3 document
 * parser built on it (listings, errors, part lists, multipart results). */
#include "store/s3_xml.h"
#include "util/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int leaf(void *ctx, const char *const *path, int depth,
		const char *text, size_t len, struct ec_err *err)
{
	int i;

	(void)ctx;
	(void)err;
	if (depth < 1 || depth > S3_XML_DEPTH || text[len] != '\0' ||
	    len > S3_XML_TEXT_MAX + 16)
		abort();
	for (i = 0; i < depth; i++)
		if (!path[i][0] || strlen(path[i]) >= S3_XML_NAME_MAX)
			abort();
	return 0;
}

static int close_fn(void *ctx, const char *const *path, int depth,
		    struct ec_err *err)
{
	(void)ctx;
	(void)err;
	if (depth < 1 || depth > S3_XML_DEPTH || !path[depth - 1][0])
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	char etag[STORE_ETAG_MAX], *id = NULL;
	struct s3_list l;
	struct s3_parts p;
	struct s3_error e;
	struct ec_err err;
	size_t i;

	s3_xml_scan(xml, size, leaf, close_fn, NULL, &err);
	if (s3_xml_list(xml, size, &l, &err) == 0) {
		for (i = 0; i < l.nobjs; i++)
			if (!l.objs[i].key || !l.objs[i].key[0])
				abort();
		for (i = 0; i < l.nprefixes; i++)
			if (!l.prefixes[i])
				abort();
	}
	s3_list_release(&l);
	if (s3_xml_parts(xml, size, &p, &err) == 0)
		for (i = 0; i < p.n; i++)
			if (p.v[i].no < 1 || p.v[i].no > STORE_PARTS_MAX)
				abort();
	free(p.v);
	s3_xml_error(xml, size, &e);
	s3_xml_complete(xml, size, etag, &e, &err);
	if (s3_xml_upload_id(xml, size, &id, &err) == 0 && (!id || !id[0]))
		abort();
	free(id);
	return 0;
}

#include "replay.inc"
