/* dockerignore.h - .dockerignore rules, matched the way Docker matches them.
 *
 * Pure: the caller reads the file and walks the context; this module only
 * parses text and answers questions about '/'-separated paths relative to
 * the context root. Semantics follow moby/patternmatcher (the matcher Docker
 * and BuildKit use) and BuildKit's context walker:
 *   - each line is trimmed; a line starting with '#' in column 1 is a
 *     comment; blank lines are skipped; a UTF-8 BOM is dropped;
 *   - '!' makes an exception (re-include); the last matching line decides;
 *   - patterns are cleaned like Go's filepath.Clean and a leading '/' is
 *     dropped, so "/foo", "./foo" and "foo/" all mean "foo";
 *   - '*' and '?' never match '/'; "[...]" is a class ('^' negates, '\'
 *     escapes); '\' escapes the next character; "**" matches any number of
 *     directories, including none;
 *   - a pattern that matches a directory excludes everything beneath it
 *     (a path is excluded when a pattern matches it or any of its parents).
 */
#ifndef EC_BUILD_DOCKERIGNORE_H
#define EC_BUILD_DOCKERIGNORE_H

#include <stddef.h>

#include "util/err.h"

/* Largest .dockerignore accepted, and most patterns in one. */
#define DI_MAX_BYTES (1u << 20)
#define DI_MAX_RULES 65536u

struct di_rules;

/* Parse the text of a .dockerignore (`len` bytes, need not be
 * NUL-terminated). On success *out is a new rule set the caller frees with
 * di_rules_free(); an empty file gives an empty set that excludes nothing.
 * Fails with EC_USAGE naming the line (".dockerignore:3: ...") for a
 * malformed pattern (unterminated '[', a trailing '\', a backwards range,
 * a lone '!') or input over the caps; *out is then NULL. */
int di_parse(const char *text, size_t len, struct di_rules **out,
	     struct ec_err *err);

/* Free a rule set; NULL is a no-op. */
void di_rules_free(struct di_rules *r);

/* 1 if `path` (relative to the context root, '/'-separated) is excluded,
 * 0 if it is included. The path is cleaned first ("./a//b/" is "a/b"); the
 * context root itself (".", "" or "/") is never excluded. `r` may be NULL
 * (nothing is excluded). Never fails. */
int di_match(const struct di_rules *r, const char *path);

/* For a directory that di_match() excluded: 1 if a walker must still
 * descend into it because an exception ('!' line) could re-include
 * something beneath it, 0 if the whole subtree can be skipped. Mirrors
 * BuildKit: with no exceptions, 0; with an exception containing a wildcard
 * (other than a trailing "/" + "*" or "/" + "**"), always 1; otherwise 1 only
 * when an exception names a path inside `dir`. */
int di_dir_may_contain_included(const struct di_rules *r, const char *dir);

/* Number of patterns kept (comments and blank lines dropped). */
size_t di_rules_count(const struct di_rules *r);

/* 1 if any pattern is an exception ('!'). */
int di_has_exceptions(const struct di_rules *r);

/* Go's path.Clean of s[0..n): one slash between elements, no "."
 * elements, ".." resolved lexically ("/.." is "/"); "" is ".". Returns an
 * allocated string. */
char *di_path_clean(const char *s, size_t n);

#endif
