/* yaml.h - one YAML document as a jansson tree (libyaml's event parser),
 * for formats that allow YAML beside JSON (CDI specs), so one validator
 * serves both.
 *
 * Mappings become objects, sequences arrays. Scalars follow the YAML 1.2
 * core schema, plain (unquoted) ones only: null, ~ and nothing -> null;
 * true/false (any case form the schema lists) -> booleans; decimal, 0o
 * octal and 0x hex integers -> integers; everything else, every quoted
 * scalar and every float -> a string. YAML 1.1's yes/no/on/off stay
 * strings. The core tags (!!str, !!int, !!bool, !!null, !!float, !!map,
 * !!seq, and the non-specific "!") are honoured.
 *
 * Refused (EC_USAGE, naming `what`, the line and the column): malformed
 * YAML, anchors and aliases (an alias bomb expands exponentially), more or
 * fewer than one document, other tags, keys that are not strings (a
 * mapping, a sequence, a plain number, boolean or null: quote it), the
 * merge key <<, duplicate keys, nesting deeper than EC_YAML_DEPTH_MAX, a
 * leading-zero integer such as 0644 (octal in YAML 1.1, decimal in 1.2:
 * write 0o644 or 420), an integer outside int64, a document larger than
 * EC_JSON_MAX. */
#ifndef EC_YAML_H
#define EC_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* Deepest nesting of mappings and sequences accepted. */
#define EC_YAML_DEPTH_MAX 64

/* Parse `len` bytes of YAML; `what` names the document in errors. A new
 * reference, or NULL with EC_USAGE for what is refused (see above). */
json_t *ec_yaml_parse(const char *data, size_t len, const char *what,
		      struct ec_err *err);

#endif
