/* dockerfile.c - fuzz target: df_parse(), then df_instr_str() and the
 * expanders over every argument, and the raw input as one word. */
#include "build/dockerfile.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *ctx, const char *name)
{
	(void)ctx;
	if (!strcmp(name, "a"))
		return "x  y";
	if (!strcmp(name, "empty"))
		return "";
	if (!strcmp(name, "path"))
		return "a/b/c.tar.gz";
	return NULL;
}

/* The pure checks a build applies to expanded words. */
static void check_word(const char *w)
{
	struct ec_err err;
	char **ports, *wd;
	size_t n;

	(void)df_check_signal(w, &err);
	if (df_expose_ports(w, &ports, &n, &err) == 0)
		df_words_free(ports);
	wd = df_workdir("/a/b", w);
	free(wd);
}

/* Every line of the input as an ONBUILD trigger of a base image. */
static void triggers(const char *text)
{
	char *copy = xstrdup(text), *save = NULL, *line;
	const char *v[64];
	struct df_file *f;
	struct ec_err err;
	size_t n = 0;

	for (line = strtok_r(copy, "\n", &save); line && n < 64;
	     line = strtok_r(NULL, "\n", &save))
		v[n++] = line;
	if (df_parse_triggers(v, n, '\\', "Dockerfile", 1, &f, &err) == 0)
		df_file_free(f);
	free(copy);
}

static void expand_all(const char *word, char esc)
{
	struct ec_err err;
	char *out, **words;

	if (df_expand_esc(word, esc, lookup, NULL, &out, &err) == 0)
		free(out);
	if (df_expand_words_esc(word, esc, lookup, NULL, &words, NULL, &err) ==
	    0)
		df_words_free(words);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct df_file *f;
	struct ec_err err;
	char *s, *word;
	size_t i, j;

	if (df_parse((const char *)data, size, "Dockerfile", &f, &err) == 0) {
		for (i = 0; i < f->ninstrs; i++) {
			const struct df_instr *in = &f->instrs[i];

			s = df_instr_str(in);
			free(s);
			for (j = 0; j < in->argc; j++) {
				expand_all(in->argv[j], f->escape);
				check_word(in->argv[j]);
			}
			for (j = 0; j < in->nkv; j++) {
				expand_all(in->kv[j].key, f->escape);
				if (in->kv[j].value)
					expand_all(in->kv[j].value, f->escape);
			}
			for (j = 0; j < in->nflags; j++)
				expand_all(in->flags[j].value, f->escape);
		}
		df_file_free(f);
	}
	if (size <= 4096) {
		word = xstrndup((const char *)data, size);
		expand_all(word, '\\');
		expand_all(word, '`');
		triggers(word);
		free(word);
	}
	return 0;
}

#include "replay.inc"
