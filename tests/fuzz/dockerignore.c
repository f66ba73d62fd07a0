/* dockerignore.c - fuzz target: di_parse(), then every input line and a
 * few fixed paths through di_match() and di_dir_may_contain_included(). */
#include "build/dockerignore.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed[] = {
		"a", "a/b", "a/b/c.go", ".", "", "/", "../x", "docs/README.md",
		"node_modules/x/y.js", "dir/sub/file.txt",
	};
	struct di_rules *r;
	struct ec_err err;
	char *text, *line, *save = NULL;
	size_t i;

	if (di_parse((const char *)data, size, &r, &err) < 0)
		return 0;
	for (i = 0; i < ARRAY_SIZE(fixed); i++) {
		di_match(r, fixed[i]);
		di_dir_may_contain_included(r, fixed[i]);
	}
	if (size <= 65536) {
		text = xstrndup((const char *)data, size);
		for (line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			di_match(r, line);
			di_dir_may_contain_included(r, line);
		}
		free(text);
	}
	di_rules_free(r);
	return 0;
}

#include "replay.inc"
