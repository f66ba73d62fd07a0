/* dockerignore.c - unit tests of .dockerignore parsing and matching, from
 * Docker's documented examples and moby/patternmatcher's cases. */
#include "tap.h"
#include "build/dockerignore.h"

#include <stdlib.h>

static struct di_rules *parse(const char *text)
{
	struct di_rules *r = NULL;
	struct ec_err err;

	if (di_parse(text, strlen(text), &r, &err) < 0)
		printf("# parse failed: %s\n", err.msg);
	return r;
}

/* The rules on one line for test names: newlines shown as '|'. */
static const char *flat(const char *rules)
{
	static char buf[256];
	size_t i;

	for (i = 0; rules[i] && i < sizeof(buf) - 1; i++)
		buf[i] = rules[i] == '\n' ? '|' : rules[i] == '\r' ? '~' : rules[i];
	buf[i] = '\0';
	return buf;
}

/* Check one path against rules given as text. */
static void check(const char *rules, const char *path, int want)
{
	struct di_rules *r = parse(rules);

	ok(r && di_match(r, path) == want, "%s '%s' with [%s]",
	   want ? "excludes" : "keeps", path, flat(rules));
	di_rules_free(r);
}

static void bad(const char *rules, const char *want_msg)
{
	struct di_rules *r = (struct di_rules *)1;
	struct ec_err err;
	int rc = di_parse(rules, strlen(rules), &r, &err);

	ok(rc < 0 && !r && err.cat == EC_USAGE, "rejects [%s]", flat(rules));
	is_str(rc < 0 ? err.msg : "", want_msg, "message for [%s]", flat(rules));
}

int main(void)
{
	struct di_rules *r;

	/* the documented example with its three patterns */
	r = parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
	ok(r && di_rules_count(r) == 3, "comment dropped, 3 patterns");
	ok(di_match(r, "somedir/temporary.txt"), "*/temp* excludes somedir/temporary.txt");
	ok(di_match(r, "somedir/temp"), "*/temp* excludes the directory somedir/temp");
	ok(di_match(r, "somedir/temp/inner/file"), "... and everything inside it");
	ok(di_match(r, "somedir/subdir/temporary.txt"), "*/*/temp* excludes two levels down");
	ok(di_match(r, "tempa") && di_match(r, "tempb"), "temp? excludes tempa, tempb");
	ok(!di_match(r, "temp"), "temp? needs one character");
	ok(!di_match(r, "temporary.txt"), "*/temp* does not match at the root");
	ok(!di_match(r, "a/b/c/temporary.txt"), "*/*/temp* does not match three levels down");
	ok(!di_match(r, "# comment"), "the comment is not a pattern");
	di_rules_free(r);

	/* double star matches any number of directories, including none */
	check("**/*.go", "main.go", 1);
	check("**/*.go", "cmd/x/main.go", 1);
	check("**/*.go", "main.c", 0);
	check("**", "anything/at/all", 1);
	check("**/dir", "dir/file", 1);
	check("dir/**", "dir", 0);
	check("dir/**", "dir/sub/file", 1);
	check("**file", "dir/dir/file", 1);
	check("a**/*.txt", "a/dir/dir/file.txt", 1);

	/* exceptions: the last matching line decides */
	r = parse("*.md\n!README.md\n");
	ok(di_match(r, "CHANGES.md") && !di_match(r, "README.md"),
	   "*.md then !README.md keeps only README.md");
	ok(di_has_exceptions(r), "exceptions noticed");
	di_rules_free(r);
	r = parse("*.md\n!README*.md\nREADME-secret.md\n");
	ok(di_match(r, "README-secret.md"), "a later pattern re-excludes README-secret.md");
	ok(!di_match(r, "README.md") && di_match(r, "notes.md"),
	   "other READMEs kept, other markdown excluded");
	di_rules_free(r);
	r = parse("*.md\nREADME-secret.md\n!README*.md\n");
	ok(!di_match(r, "README-secret.md") && !di_match(r, "README.md"),
	   "!README*.md last: all READMEs kept");
	di_rules_free(r);

	/* directory exclusion with a re-include inside */
	r = parse("docs\n!docs/README.md\n");
	ok(di_match(r, "docs") && di_match(r, "docs/other.md"), "docs excluded");
	ok(!di_match(r, "docs/README.md"), "docs/README.md re-included");
	ok(di_dir_may_contain_included(r, "docs"), "walker must descend into docs");
	ok(!di_dir_may_contain_included(r, "other"), "but not into other dirs");
	di_rules_free(r);
	r = parse("node_modules\n");
	ok(di_match(r, "node_modules/a/b/c.js"), "a directory pattern excludes its subtree");
	ok(!di_dir_may_contain_included(r, "node_modules"), "no exceptions: skip the subtree");
	di_rules_free(r);
	r = parse("*\n!src/**/*.c\n");
	ok(di_dir_may_contain_included(r, "src"), "a wildcard exception forces descent");
	ok(!di_match(r, "src/a/b.c") && di_match(r, "src/a/b.h"), "!src/**/*.c re-includes C files");
	di_rules_free(r);
	r = parse("build\n!build/keep/**\n");
	ok(di_dir_may_contain_included(r, "build"), "trailing /** exceptions are prefixes");
	ok(!di_dir_may_contain_included(r, "build/other"), "... but only along their path");
	ok(!di_match(r, "build/keep/x") && di_match(r, "build/other/x"), "build/keep kept");
	di_rules_free(r);

	/* cleaning: leading '/', './', trailing '/', '..' */
	check("/foo/bar", "foo/bar", 1);
	check("./foo", "foo/x", 1);
	check("foo/", "foo", 1);
	check("a/../b", "b", 1);
	check("foo", "./foo/", 1);
	check("foo", "/foo", 1);
	check("foo/bar", "bar", 0);
	check("*", ".", 0);

	/* whitespace, comments, BOM */
	check("  spaced  \n", "spaced", 1);
	check("  # not a comment\n", "# not a comment", 1);
	check("\xef\xbb\xbf" "bom\n", "bom", 1);
	check("win\r\n", "win", 1);
	check("kept\n  !  kept\n", "kept", 0);
	check("**file", "xfile", 1); /* Docker's suffix fast path */

	/* Go filepath.Match syntax */
	check("a[b-d]e", "ace", 1);
	check("a[b-d]e", "aae", 0);
	check("a[^b-d]e", "aze", 1);
	check("[\\]a]", "]", 1);
	check("a\\*b", "a*b", 1);
	check("a\\*b", "axb", 0);
	check("a?b", "a/b", 0);
	check("a*b", "a/b", 0);
	check("a?b", "a\xe2\x98\xba" "b", 1);
	check(".*", ".foo", 1);
	check("abc.def", "abcZdef", 0);
	check("a(b)c/def", "a(b)c/def", 1);
	check("*", "anything.txt", 1);
	check("a*", "ab/c", 1);

	/* found by comparing with moby/patternmatcher on random input */
	check("**[a-b]", "ab", 0);   /* the optional group is skipped whole */
	check("**[a-b]", "x/a", 1);
	check("^*", "ba", 1);	     /* '^' anchors a glob: a no-op up front */
	check("a^*", "a^b", 0);	     /* ... and never matches inside */
	check("a^b", "a^b", 1);	     /* but is literal in exact patterns */
	check("/ *", "anything", 1); /* "/ *" is "*" once trimmed again */

	/* errors name the line */
	bad("ok\n[abc\n", ".dockerignore:2: bad pattern '[abc': malformed character "
			  "class (unterminated '[', or a bare '-' or ']' inside it)");
	bad("x\\", ".dockerignore:1: bad pattern 'x\\': trailing '\\'");
	bad("\n\n!\n", ".dockerignore:3: a lone '!' is not a pattern; write '!PATH' to "
		       "re-include PATH");
	bad("[z-a]\n", ".dockerignore:1: bad pattern '[z-a]': character range is out of order");
	bad("x\n! /\n", ".dockerignore:2: a lone '!' is not a pattern; write '!PATH' to "
			"re-include PATH");
	bad("[]a]\n", ".dockerignore:1: bad pattern '[]a]': malformed character class "
		      "(unterminated '[', or a bare '-' or ']' inside it)");

	r = parse("");
	ok(r && di_rules_count(r) == 0 && !di_match(r, "x"), "empty file excludes nothing");
	di_rules_free(r);
	ok(!di_match(NULL, "x"), "NULL rules exclude nothing");
	di_rules_free(NULL);
	return done_testing();
}
