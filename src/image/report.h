/* report.h - what `edgectl push` and `pull` print of a copy: the JSON
 * object (--json) and the summary line, pure functions of the result. */
#ifndef EC_IMAGE_REPORT_H
#define EC_IMAGE_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "image/image.h"

/* {source, destination, digest, media_type, size_bytes, blobs,
 * blobs_copied, bytes_copied, total_bytes, duration_ms, image_digest
 * (an index copied whole), parts_resumed and blobs_mounted (push),
 * bytes_resumed and layers_unpacked (pull)}; push is 1 for push. New. */
json_t *img_copy_report_json(int push, const char *src, const char *dst,
			     const struct img_copy_result *r, double secs,
			     unsigned layers);
/* "pushed SRC -> DST: N of M blobs, X MB in S s (R MB/s)" on f. */
void img_copy_report_line(FILE *f, int push, const char *src, const char *dst,
			  const struct img_copy_result *r, double secs);

#endif
