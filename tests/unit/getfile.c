/* getfile.c - unit tests of `store get` into a file (src/store/getfile.c)
 * on a file:// store: --range parsing and its errors, a whole object and a
 * range written atomically (no temporary left), if-none-match leaving the
 * file untouched, a missing object leaving no file. */
#include "tap.h"
#include "store/getfile.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = xcalloc(1, 4096);

	if (f) {
		if (fread(buf, 1, 4095, f) == 0)
			buf[0] = '\0';
		fclose(f);
	}
	return buf;
}

/* How many entries of dir start with ".edgectl-part-". */
static int temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, ".edgectl-part-", 14);
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/ec-getfile-XXXXXX";
	struct store_get_opts g = {0};
	struct store_xfer_opts xo = {0};
	struct store_info info;
	struct store *s = NULL;
	struct ec_err err;
	char *url, *out, *text;

	ec_err_clear(&err);
	ok(store_range_parse("2-5", &g, &err) == 0 && g.off == 2 && g.len == 4,
	   "2-5: offset 2, 4 bytes");
	g = (struct store_get_opts){0};
	ok(store_range_parse("3-", &g, &err) == 0 && g.off == 3 && g.len == 0,
	   "3-: to the end");
	ok(store_range_parse("5-2", &g, &err) < 0 && err.cat == EC_USAGE &&
	       strstr(err.msg, "end is before start"),
	   "5-2 refused: %s", err.msg);
	ok(store_range_parse("7", &g, &err) < 0 &&
	       strstr(err.msg, "expected START-END"),
	   "7 refused: %s", err.msg);
	ok(store_range_parse("a-b", &g, &err) < 0, "a-b refused");

	if (!mkdtemp(dir))
		BUG("mkdtemp");
	url = xasprintf("file://%s/store", dir);
	out = xasprintf("%s/out", dir);
	ok(store_open(url, NULL, &s, &err) == 0, "store: %s", err.msg);
	ok(store_put_buf(s, "k", "0123456789", 10, NULL, &info, &err) == 0,
	   "put k");

	g = (struct store_get_opts){0};
	is_int(store_get_file(s, "k", out, &g, &xo, &info, &err), 0,
	       "whole object");
	text = slurp(out);
	is_str(text, "0123456789", "file has the object");
	free(text);
	is_int(temps(dir), 0, "no temporary left");

	store_range_parse("2-5", &g, &err);
	is_int(store_get_file(s, "k", out, &g, &xo, &info, &err), 0, "a range");
	text = slurp(out);
	is_str(text, "2345", "file has the range");
	free(text);

	g = (struct store_get_opts){.if_none_match = info.etag};
	is_int(store_get_file(s, "k", out, &g, &xo, &info, &err),
	       STORE_NOT_MODIFIED, "if-none-match with the ETag");
	text = slurp(out);
	is_str(text, "2345", "the file is untouched");
	free(text);
	is_int(temps(dir), 0, "no temporary left");

	g = (struct store_get_opts){0};
	unlink(out);
	ok(store_get_file(s, "missing", out, &g, &xo, &info, &err) < 0 &&
	       err.cat == EC_NOTFOUND,
	   "a missing object: not found");
	ok(access(out, F_OK) < 0 && temps(dir) == 0, "and no file at all");

	store_free(s);
	free(url);
	text = xasprintf("rm -rf '%s'", dir);
	ok(system(text) == 0, "cleanup");
	free(text);
	free(out);
	return done_testing();
}
