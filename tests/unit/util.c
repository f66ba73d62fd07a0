/* util.c - unit tests of the error, parsing, strbuf and JSON helpers. */
#include "tap.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/tmpfile.h"

#include <unistd.h>

#include <stdint.h>

/* tmpfile_beside: a fresh random name each time, never a planted one */
static void test_tmpfile(void)
{
	char dir[] = "/tmp/tmpfile-XXXXXX", path[64];
	char *a = NULL, *b = NULL;
	struct ec_err err;
	int fa, fb;

	if (!mkdtemp(dir))
		BUG("mkdtemp");
	snprintf(path, sizeof(path), "%s/f", dir);
	fa = tmpfile_beside(path, ".part-", 0600, &a, &err);
	fb = tmpfile_beside(path, ".part-", 0600, &b, &err);
	ok(fa >= 0 && fb >= 0 && strlen(a) == strlen(path) + 6 + 12 &&
	       !strncmp(a, path, strlen(path)) && strcmp(a, b),
	   "tmpfile_beside: FILE.part-<12 hex>, a new name each call");
	close(fa);
	close(fb);
	unlink(b);
	unlink(a);
	rmdir(dir);
	free(a);
	free(b);
}

int main(void)
{
	struct ec_err err;
	struct strbuf sb = STRBUF_INIT;
	uint64_t u;
	int64_t i;
	json_t *j;

	ec_err_clear(&err);
	ok(ec_err_set(&err, EC_NOTFOUND, "object '%s' not found", "k") == -1,
	   "ec_err_set returns -1");
	ec_err_prefix(&err, "pull '%s'", "web:1");
	is_str(err.msg, "pull 'web:1': object 'k' not found", "context is prepended");
	is_int(err.cat, EC_NOTFOUND, "category kept through prefix");
	is_int(ec_cat_exit(EC_CONFLICT), 6, "conflict exits 6");
	is_int(ec_cat_exit(EC_REMOTE), 4, "remote exits 4");
	is_str(ec_cat_name(EC_NOTFOUND), "not_found", "category names are snake_case");
	ec_err_errno(&err, EC_FAIL, 2, "open '%s'", "x");
	is_int(err.cat, EC_NOTFOUND, "ENOENT maps to not found");
	ec_err_errno(&err, EC_FAIL, 13, "open '%s'", "x");
	is_int(err.cat, EC_PERM, "EACCES maps to permission");
	{
		char big[2000];
		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		ec_err_set(&err, EC_FAIL, "%s", big);
		ec_err_prefix(&err, "ctx");
		ok(strlen(err.msg) == EC_ERR_MSG_MAX - 1 && !strncmp(err.msg, "ctx: a", 6),
		   "long messages are truncated, context kept");
	}

	ok(parse_size("64M", UINT64_MAX, &u, "s", &err) == 0 && u == 64ull << 20, "64M");
	ok(parse_size("1.5GiB", UINT64_MAX, &u, "s", &err) == 0 && u == 3ull << 29, "1.5GiB");
	ok(parse_size("4096", UINT64_MAX, &u, "s", &err) == 0 && u == 4096, "plain bytes");
	ok(parse_size("10Q", UINT64_MAX, &u, "s", &err) < 0 && err.cat == EC_USAGE, "bad unit rejected");
	ok(parse_size("-1", UINT64_MAX, &u, "s", &err) < 0, "negative size rejected");
	ok(parse_size("2G", 1ull << 30, &u, "--x", &err) < 0 && strstr(err.msg, "--x"),
	   "over max rejected, names the option");
	ok(parse_u64("12x", 100, &u, "n", &err) < 0, "trailing junk rejected");
	ok(parse_u64("101", 100, &u, "n", &err) < 0, "over max rejected");
	ok(parse_i64("-5", -10, 10, &i, "n", &err) == 0 && i == -5, "negative i64");
	ok(parse_i64(" 5", -10, 10, &i, "n", &err) < 0, "leading space rejected");

	sb_addf(&sb, "%d-%s", 42, "x");
	sb_adds(&sb, "yz");
	is_str(sb.buf, "42-xyz", "strbuf formats and appends");
	sb_release(&sb);
	is_str(sb.buf, "", "released strbuf is empty");

	j = ec_json_parse("{\"a\":1,\"a\":2}", 13, "doc", &err);
	ok(!j && err.cat == EC_USAGE, "duplicate keys rejected");
	j = ec_json_parse("{\"a\":\"b\"}", 9, "doc", &err);
	is_str(ec_json_str(j, "a"), "b", "string member read");
	json_decref(j);
	ok(!ec_json_parse("{", 1, "doc", &err) && strstr(err.msg, "doc:"),
	   "malformed JSON names the document");

	ok(store_key_check("blobs/sha256/ab", &err) == 0, "normal key accepted");
	ok(store_key_check("a//b", &err) < 0, "empty component rejected");
	ok(store_key_check("/a", &err) < 0, "leading slash rejected");
	ok(store_key_check("a/../b", &err) < 0, "dot-dot rejected");
	ok(store_key_check("a\nb", &err) < 0, "control character rejected");
	ok(store_key_check("", &err) < 0, "empty key rejected");
	{
		char k[2 + 256 + 1];

		memset(k, 'a', sizeof(k) - 1);
		k[1] = '/';
		k[sizeof(k) - 1] = '\0';
		ok(store_key_check(k, &err) < 0 && err.cat == EC_USAGE &&
		       strstr(err.msg, "256 bytes"),
		   "a 256-byte component rejected (usage), naming its length");
		k[sizeof(k) - 2] = '\0';
		ok(store_key_check(k, &err) == 0, "a 255-byte component accepted");
	}
	test_tmpfile();
	return done_testing();
}
