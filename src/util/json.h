/* json.h - jansson helpers: bounded, strict parsing and small accessors. */
#ifndef EC_JSON_H
#define EC_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Largest JSON document edgectl parses (state objects, manifests). */
#define EC_JSON_MAX (16u << 20)

/* Parse `len` bytes as one JSON value: duplicate keys rejected, size capped
 * at EC_JSON_MAX. `what` names the document in errors (EC_USAGE for
 * malformed input). Returns a new reference or NULL. */
json_t *ec_json_parse(const char *data, size_t len, const char *what,
		      struct ec_err *err);

/* Read and parse a file (same rules). */
json_t *ec_json_load_file(const char *path, struct ec_err *err);

/* Serialize compactly with sorted keys (deterministic); caller frees. */
char *ec_json_dump(const json_t *v);

/* String member or NULL when missing or not a string. */
const char *ec_json_str(const json_t *obj, const char *key);
/* Integer member `key` of obj, 0 when obj or the member is missing. */
int64_t ec_json_int(const json_t *obj, const char *key);

void ec_json_decrefp(json_t **p);

#endif
