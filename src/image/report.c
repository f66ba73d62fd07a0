/* report.c - a copy's result as JSON and as a line (report.h). */
#include "image/report.h"

#include <string.h>

json_t *img_copy_report_json(int push, const char *src, const char *dst,
			     const struct img_copy_result *r, double secs,
			     unsigned layers)
{
	json_t *j = json_pack(
	    "{s:s,s:s,s:s,s:s,s:I,s:i,s:i,s:I,s:I,s:I}", "source", src,
	    "destination", dst, "digest", r->top.digest, "media_type",
	    r->top.media_type, "size_bytes", (json_int_t)r->top.size, "blobs",
	    r->blobs, "blobs_copied", r->blobs_copied, "bytes_copied",
	    (json_int_t)r->bytes, "total_bytes", (json_int_t)r->total_bytes,
	    "duration_ms", (json_int_t)(secs * 1000));

	if (strcmp(r->image.digest, r->top.digest))
		json_object_set_new(j, "image_digest",
				    json_string(r->image.digest));
	if (push) {
		json_object_set_new(j, "parts_resumed",
				    json_integer(r->parts_resumed));
		json_object_set_new(j, "blobs_mounted",
				    json_integer(r->blobs_mounted));
	} else {
		json_object_set_new(j, "bytes_resumed",
				    json_integer((json_int_t)r->bytes_resumed));
		json_object_set_new(j, "layers_unpacked", json_integer(layers));
	}
	return j;
}

void img_copy_report_line(FILE *f, int push, const char *src, const char *dst,
			  const struct img_copy_result *r, double secs)
{
	fprintf(f,
		"%s %s -> %s: %u of %u blobs%s, %.1f MB in %.2f s "
		"(%.0f MB/s)\n",
		push ? "pushed" : "pulled", src, dst, r->blobs_copied, r->blobs,
		r->blobs_mounted ? " (others mounted)" : "",
		(double)r->bytes / 1e6, secs,
		secs > 0 ? (double)r->bytes / 1e6 / secs : 0.0);
}
