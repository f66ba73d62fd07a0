/* dockerfile.c - unit tests of the Dockerfile parser and the variable
 * expander, with cases from Docker's documentation and BuildKit's tests. */
#include "tap.h"
#include "build/dockerfile.h"
#include "build/dockerignore.h"

#include <stdlib.h>
#include <string.h>

static struct df_file *parse(const char *text)
{
	struct df_file *f = NULL;
	struct ec_err err;

	if (df_parse(text, strlen(text), NULL, &f, &err) < 0)
		printf("# parse failed: %s\n", err.msg);
	return f;
}

/* Expect a parse error with exactly this message. */
static void bad(const char *text, const char *want)
{
	struct df_file *f = (struct df_file *)1;
	struct ec_err err;
	int rc = df_parse(text, strlen(text), NULL, &f, &err);

	ok(rc < 0 && !f && err.cat == EC_USAGE, "rejected: %s", want);
	is_str(rc < 0 ? err.msg : "(parsed)", want, "message");
}

/* Variables for expansion: "K=V" strings, NULL-terminated. */
static const char *lookup(void *ctx, const char *name)
{
	const char *const *kv = ctx;
	size_t n = strlen(name);

	for (; *kv; kv++)
		if (!strncmp(*kv, name, n) && (*kv)[n] == '=')
			return *kv + n + 1;
	return NULL;
}

static const char *const env[] = {
	"PWD=/home", "SHELL=bash", "NULL=", "FOO=/bar", "abc=hello",
	"space=abc  def", "plat=linux/amd64", "path=a/b/c.tar.gz", NULL,
};

static void ex(const char *word, const char *want)
{
	struct ec_err err;
	char *out = NULL;

	if (df_expand(word, lookup, (void *)env, &out, &err) < 0)
		printf("# expand failed: %s\n", err.msg);
	is_str(out, want, "expand %s", word);
	free(out);
}

static void ex_fail(const char *word, const char *want)
{
	struct ec_err err;
	char *out = NULL;
	int rc = df_expand(word, lookup, (void *)env, &out, &err);

	ok(rc < 0 && !out && err.cat == EC_USAGE, "expand %s fails", word);
	is_str(rc < 0 ? err.msg : "", want, "message");
	free(out);
}

static void ex_words(const char *word, const char *want)
{
	struct ec_err err;
	char **w = NULL;
	char buf[256] = "";
	size_t n, i;

	if (df_expand_words(word, lookup, (void *)env, &w, &n, &err) < 0) {
		ok(0, "words %s: %s", word, err.msg);
		return;
	}
	for (i = 0; i < n; i++) {
		if (i)
			strcat(buf, ",");
		strcat(buf, w[i]);
	}
	is_str(buf, want, "words %s", word);
	df_words_free(w);
}

static void str_is(const struct df_instr *in, const char *want)
{
	char *s = df_instr_str(in);

	is_str(s, want, "normalised form of line %d", in->line);
	free(s);
}

int main(void)
{
	struct df_file *f;
	const struct df_instr *in;
	struct ec_err err;
	int64_t ns;
	char *s;

	/* each instruction, keywords in any case */
	f = parse("ARG BASE=alpine:3.19\n"
		  "from --platform=linux/amd64 $BASE as Build\n"
		  "ENV a=b c=\"d e\"\n"
		  "LABEL org.opencontainers.image.title=\"web app\" v=1\n"
		  "WORKDIR /src\n"
		  "USER 1000:1000\n"
		  "EXPOSE 8080 53/udp\n"
		  "COPY --from=build --chown=1:1 --chmod=755 a b /dst/\n"
		  "ADD --link https://example.com/x.tgz /x\n"
		  "RUN --network=none make -j4\n"
		  "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/\n"
		  "STOPSIGNAL SIGTERM\n"
		  "VOLUME [\"/data\", \"/logs\"]\n"
		  "SHELL [\"/bin/bash\", \"-c\"]\n"
		  "ENTRYPOINT [\"/app\"]\n"
		  "CMD -- --help\n"
		  "maintainer someone@example.com\n");
	ok(f && f->ninstrs == 17, "17 instructions");
	if (!f)
		return done_testing();
	in = &f->instrs[0];
	ok(in->kind == DF_ARG && in->nkv == 1 && !strcmp(in->kv[0].key, "BASE") &&
		   !strcmp(in->kv[0].value, "alpine:3.19"),
	   "ARG with default before FROM");
	in = &f->instrs[1];
	is_str(in->keyword, "FROM", "keyword upper-cased");
	is_int(in->line, 2, "FROM on line 2");
	is_str(in->image, "$BASE", "FROM image kept unexpanded");
	is_str(in->stage, "build", "'as' is case-insensitive, stage name lower-cased");
	is_str(df_instr_flag(in, "platform")->value, "linux/amd64", "FROM --platform");
	in = &f->instrs[2];
	ok(in->nkv == 2 && !strcmp(in->kv[0].key, "a") && !strcmp(in->kv[0].value, "b") &&
		   !strcmp(in->kv[1].key, "c") && !strcmp(in->kv[1].value, "\"d e\""),
	   "ENV a=b c=\"d e\": two pairs, quotes kept for the expander");
	in = &f->instrs[3];
	ok(in->kind == DF_LABEL && in->nkv == 2, "LABEL with two pairs");
	is_str(f->instrs[4].argv[0], "/src", "WORKDIR argument");
	is_str(f->instrs[5].raw, "1000:1000", "USER raw");
	in = &f->instrs[6];
	ok(in->argc == 2 && !strcmp(in->argv[1], "53/udp"), "EXPOSE splits at blanks");
	in = &f->instrs[7];
	ok(in->nflags == 3 && !strcmp(df_instr_flag(in, "from")->value, "build") &&
		   !strcmp(df_instr_flag(in, "chown")->value, "1:1") &&
		   !strcmp(df_instr_flag(in, "chmod")->value, "755"),
	   "COPY --from --chown --chmod");
	ok(in->argc == 3 && !in->json && !strcmp(in->argv[2], "/dst/"), "COPY sources and dest");
	is_str(df_instr_flag(&f->instrs[8], "link")->value, "true", "bare --link is true");
	in = &f->instrs[9];
	is_str(df_instr_flag(in, "network")->value, "none", "RUN --network=none");
	ok(!in->json && in->argc == 1 && !strcmp(in->argv[0], "make -j4"), "RUN shell form");
	in = &f->instrs[10];
	ok(in->argc == 2 && !strcmp(in->argv[0], "CMD") &&
		   !strcmp(in->argv[1], "curl -f http://localhost/"),
	   "HEALTHCHECK CMD shell form");
	is_str(df_instr_flag(in, "interval")->value, "30s", "HEALTHCHECK --interval");
	is_str(f->instrs[11].argv[0], "SIGTERM", "STOPSIGNAL");
	in = &f->instrs[12];
	ok(in->json && in->argc == 2 && !strcmp(in->argv[1], "/logs"), "VOLUME JSON form");
	ok(f->instrs[13].json && f->instrs[13].argc == 2, "SHELL JSON form");
	ok(f->instrs[14].json && !strcmp(f->instrs[14].argv[0], "/app"), "ENTRYPOINT exec form");
	in = &f->instrs[15];
	ok(!in->json && in->nflags == 0 && !strcmp(in->raw, "--help"),
	   "CMD: '--' ends the flags, '--help' is an argument");
	ok(f->instrs[16].kind == DF_MAINTAINER && f->nwarnings == 1 &&
		   strstr(f->warnings[0], "Dockerfile:17: MAINTAINER is deprecated"),
	   "MAINTAINER accepted with a deprecation warning");
	str_is(&f->instrs[1], "FROM --platform=linux/amd64 $BASE AS build");
	str_is(&f->instrs[7], "COPY --from=build --chown=1:1 --chmod=755 a b /dst/");
	str_is(&f->instrs[12], "VOLUME [\"/data\",\"/logs\"]");
	str_is(&f->instrs[2], "ENV a=b c=\"d e\"");
	df_file_free(f);

	/* exec form vs shell form */
	f = parse("FROM x\nCMD [\"echo\", \"a \\\"b\\\"\"]\nCMD [a]\nRUN ['a']\n"
		  "ENTRYPOINT []\nRUN [\"c:\\windows\\x.exe\"]\nCMD [ \"a\" ] trailing\n");
	ok(f && f->instrs[1].json && !strcmp(f->instrs[1].argv[1], "a \"b\""),
	   "JSON strings decoded");
	ok(f && !f->instrs[2].json && !strcmp(f->instrs[2].raw, "[a]"), "invalid JSON is shell form");
	ok(f && !f->instrs[3].json, "single quotes are not JSON: shell form");
	ok(f && f->instrs[4].json && f->instrs[4].argc == 0, "ENTRYPOINT [] clears");
	ok(f && !f->instrs[5].json, "bad JSON escapes: shell form (Docker's Windows gotcha)");
	ok(f && !f->instrs[6].json, "text after the array: shell form");
	str_is(&f->instrs[1], "CMD [\"echo\",\"a \\\"b\\\"\"]");
	df_file_free(f);
	bad("FROM x\nCMD [\"a\", 1]\n",
	    "Dockerfile:2: CMD: when using JSON array syntax, arrays must hold only strings");

	/* continuations, comments inside them, blanks after the escape */
	f = parse("FROM x\n"
		  "RUN apt-get update && \\\n"
		  "    apt-get install -y \\  \n"
		  "# a comment inside the continuation\n"
		  "      curl\n"
		  "  # an indented comment\n"
		  "RUN echo a\\\\\n"
		  "RUN foo \\\n"
		  "\n"
		  "bar\n");
	ok(f && f->ninstrs == 4, "continuations joined into 4 instructions");
	if (f) {
		is_str(f->instrs[1].raw, "apt-get update &&     apt-get install -y       curl",
		       "escape-newline removed, indentation kept, comment dropped");
		is_int(f->instrs[1].line, 2, "instruction line is where it starts");
		is_int(f->instrs[1].end_line, 5, "and it ends on line 5");
		is_str(f->instrs[2].raw, "echo a\\\\", "an escaped escape does not continue");
		is_str(f->instrs[3].raw, "foo bar", "empty continuation line skipped");
		ok(f->nwarnings == 1 && strstr(f->warnings[0], "Dockerfile:8: empty continuation"),
		   "... with a warning");
	}
	df_file_free(f);

	/* the escape directive (Windows style) */
	f = parse("# escape=`\n"
		  "\n"
		  "FROM mcr.microsoft.com/windows/nanoserver\n"
		  "COPY testfile.txt c:\\\n"
		  "RUN dir c:\\ `\n"
		  "  /w\n");
	ok(f && f->escape == '`' && f->ninstrs == 3, "escape=` directive");
	if (f) {
		is_str(f->instrs[1].argv[1], "c:\\", "a trailing backslash is just a character");
		is_str(f->instrs[2].raw, "dir c:\\   /w", "backtick continues the line");
	}
	df_file_free(f);
	f = parse("# a comment first\n# escape=`\nFROM x\nRUN a `\n");
	ok(f && f->escape == '\\' && f->ninstrs == 2 && !strcmp(f->instrs[1].raw, "a `"),
	   "a directive after a comment is only a comment");
	df_file_free(f);
	f = parse("#\tdIrEcTiVe=x\n# syntax = docker/dockerfile:1.7\nFROM x\n");
	ok(f && !f->syntax, "an unknown directive ends the directives");
	df_file_free(f);
	f = parse("# syntax = docker/dockerfile:1.7\n# check=skip=all\nFROM x\n");
	ok(f && f->syntax && !strcmp(f->syntax, "docker/dockerfile:1.7") && f->check,
	   "syntax and check directives recorded");
	ok(f && f->nwarnings == 1 && strstr(f->warnings[0], "Dockerfile:1: syntax directive"),
	   "... and the ignored syntax directive warned about");
	df_file_free(f);
	bad("# escape=\\\n# escape=`\nFROM x\n",
	    "Dockerfile:2: only one 'escape' parser directive can be used");
	bad("# escape=x\nFROM x\n", "Dockerfile:1: invalid escape character 'x' (use '\\' or '`')");

	/* ENV and ARG forms */
	f = parse("ARG NOVAL\nFROM x\nENV key value with  spaces\nENV a=b\\ c x='$y'\n"
		  "ARG v=1.0 w\nLABEL \"com.example.vendor\"=\"ACME Inc\"\n");
	if (f) {
		ok(f->instrs[0].nkv == 1 && !f->instrs[0].kv[0].value, "ARG without default");
		ok(f->instrs[2].nkv == 1 && !strcmp(f->instrs[2].kv[0].key, "key") &&
			   !strcmp(f->instrs[2].kv[0].value, "value with  spaces"),
		   "legacy ENV key value");
		ok(f->instrs[3].nkv == 2 && !strcmp(f->instrs[3].kv[0].value, "b\\ c") &&
			   !strcmp(f->instrs[3].kv[1].value, "'$y'"),
		   "ENV escapes and single quotes kept for the expander");
		ok(f->instrs[4].nkv == 2 && !strcmp(f->instrs[4].kv[0].value, "1.0") &&
			   !f->instrs[4].kv[1].value,
		   "ARG v=1.0 w");
		ok(f->instrs[5].nkv == 1 && !strcmp(f->instrs[5].kv[0].key, "\"com.example.vendor\""),
		   "LABEL with a quoted key");
		str_is(&f->instrs[4], "ARG v=1.0 w");
	} else {
		ok(0, "ENV/ARG file parsed");
	}
	df_file_free(f);
	bad("FROM x\nENV onlykey\n",
	    "Dockerfile:2: ENV 'onlykey' has no value (use ENV onlykey=VALUE)");
	bad("FROM x\nENV a=1 b\n", "Dockerfile:2: ENV: can't find '=' in 'b' (use name=value)");
	bad("FROM x\nARG =x\n", "Dockerfile:2: ARG names can not be blank");

	/* multi-stage */
	f = parse("FROM golang:1.22 AS build\nRUN go build\nFROM scratch As Final\n"
		  "COPY --from=build /out /app\n");
	ok(f && f->ninstrs == 4 && !strcmp(f->instrs[2].stage, "final"), "two stages");
	df_file_free(f);

	/* errors name file:line */
	bad("FROM x\nRUN a\nFRM y\n", "Dockerfile:3: unknown instruction 'FRM' (did you mean FROM?)");
	bad("FROM x\ncopyy a b\n", "Dockerfile:2: unknown instruction 'copyy' (did you mean COPY?)");
	bad("FROM x\nFOOBARBAZ a\n", "Dockerfile:2: unknown instruction 'FOOBARBAZ'");
	bad("FROM x\nc a\n", "Dockerfile:2: unknown instruction 'c'");
	bad("FROM x\nEVN a=b\n", "Dockerfile:2: unknown instruction 'EVN' (did you mean ENV?)");
	bad("FROM x\nCOPY onlyone\n",
	    "Dockerfile:2: COPY requires at least two arguments: one or more sources and a destination");
	bad("FROM\n", "Dockerfile:1: FROM requires either one or three arguments (FROM image [AS name])");
	bad("FROM x\nEXPOSE\n",
	    "Dockerfile:2: EXPOSE requires at least one argument (a port such as 8080 or 53/udp)");
	bad("RUN x\nFROM y\n",
	    "Dockerfile:1: 'RUN' comes before the first FROM; a Dockerfile must start with FROM "
	    "(only ARG may come before it)");
	/* ONBUILD: the trigger is kept as written, checked at once */
	f = parse("FROM x\nonbuild  run   echo  hi \\\n  there\nONBUILD COPY a /b/\n");
	ok(f && f->ninstrs == 3 && f->instrs[1].kind == DF_ONBUILD &&
		   !strcmp(f->instrs[1].argv[0], "run   echo  hi   there") &&
		   !strcmp(f->instrs[2].argv[0], "COPY a /b/"),
	   "ONBUILD keeps the trigger as Docker records it");
	df_file_free(f);
	bad("FROM x\nONBUILD ONBUILD RUN y\n",
	    "Dockerfile:2: chaining ONBUILD via 'ONBUILD ONBUILD' isn't allowed");
	bad("FROM x\nONBUILD from y\n", "Dockerfile:2: from isn't allowed as an ONBUILD trigger");
	bad("FROM x\nONBUILD MAINTAINER me\n",
	    "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger");
	bad("FROM x\nONBUILD COPY a\n",
	    "Dockerfile:2: COPY requires at least two arguments: one or more sources and a destination");
	bad("FROM x\nONBUILD\n", "Dockerfile:2: ONBUILD requires at least one argument");
	{
		const char *trig[] = {"RUN echo a", "ENV A=1 B=2", "copy --chown=1:2 a /b/"};
		const char *badtrig[] = {"RUN ok", "FROM x"};
		const char *nltrig[] = {"RUN a\nb"};

		ok(df_parse_triggers(trig, 3, '\\', "Dockerfile", 7, &f, &err) == 0 &&
			   f->ninstrs == 3 && f->instrs[2].kind == DF_COPY &&
			   f->instrs[2].line == 7 && f->instrs[1].nkv == 2,
		   "base image triggers parse as instructions of the stage");
		df_file_free(f);
		ok(df_parse_triggers(badtrig, 2, '\\', "Dockerfile", 3, &f, &err) < 0 && !f &&
			   !strcmp(err.msg, "Dockerfile:3: FROM isn't allowed as an ONBUILD trigger"),
		   "a FROM trigger from an image is refused");
		ok(df_parse_triggers(nltrig, 1, '\\', "Dockerfile", 3, &f, &err) < 0 &&
			   strstr(err.msg, "spans several lines"),
		   "a multi-line trigger is refused");
	}
	bad("FROM x\nRUN <<EOF\necho hi\nEOF\n",
	    "Dockerfile:2: heredocs are not supported yet (found '<<EOF'); put the text in a file "
	    "in the build context instead");
	bad("FROM x\nCOPY <<-\"EOT\" /a\nx\nEOT\n",
	    "Dockerfile:2: heredocs are not supported yet (found '<<-\"EOT\"'); put the text in a "
	    "file in the build context instead");
	bad("FROM x\nCOPY --form=a b c\n",
	    "Dockerfile:2: unknown flag '--form' for COPY (did you mean --from?)");
	bad("FROM x\nCMD --help\n", "Dockerfile:2: unknown flag '--help' for CMD");
	bad("FROM x\nCOPY --from a b\n",
	    "Dockerfile:2: missing a value on flag '--from' (use --from=VALUE)");
	bad("FROM x\nSHELL /bin/sh -c\n",
	    "Dockerfile:2: SHELL requires the arguments in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]");
	bad("FROM x AS 1st\n",
	    "Dockerfile:1: invalid stage name '1st': it must start with a letter and hold only "
	    "letters, digits, '-', '_' and '.'");
	bad("FROM x\nHEALTHCHECK --interval=5 CMD true\n",
	    "Dockerfile:2: HEALTHCHECK --interval: missing unit in duration '5' (use e.g. 30s, 1m30s, "
	    "500ms)");
	bad("FROM x\nRUN a\nSTOPSIGNAL NOPE\n",
	    "Dockerfile:3: STOPSIGNAL: invalid signal 'NOPE' (use a name such as SIGTERM or a number)");
	bad("FROM x\nEXPOSE 80 90-70/udp\n",
	    "Dockerfile:2: EXPOSE '90-70/udp': the range ends before it starts");
	f = parse("FROM x\nSTOPSIGNAL $S\nEXPOSE ${P}-81 \"80\"\n");
	ok(f && f->ninstrs == 3, "STOPSIGNAL and EXPOSE with variables or quotes wait for expansion");
	df_file_free(f);
	bad("# only a comment\n\n", "Dockerfile: no instructions");
	bad("ARG a\n", "Dockerfile: no FROM instruction (a build needs at least one stage)");
	ok(df_parse("FROM x\nRUN a\0b\n", 14, "Containerfile", &f, &err) < 0 &&
		   !strcmp(err.msg, "Containerfile:2: NUL byte in line"),
	   "NUL byte rejected, file name used");
	{
		size_t big = DF_MAX_BYTES + 1;
		char *text = malloc(big);

		memset(text, '\n', big);
		ok(df_parse(text, big, NULL, &f, &err) < 0 && strstr(err.msg, "larger than"),
		   "input over 1 MiB rejected");
		free(text);
	}

	/* expansion: Docker's documented examples */
	ex("${FOO}", "/bar");
	ex("$FOO", "/bar");
	ex("\\$FOO", "$FOO");
	ex("${foo:-bar}", "bar");
	ex("${FOO:-bar}", "/bar");
	ex("${FOO:+set}", "set");
	ex("${foo:+set}", "");
	ex("${NULL-default}", "");
	ex("${NULL:-default}", "default");
	ex("${NULL+alt}", "alt");
	ex("${NULL:+alt}", "");
	ex("he${XXX:-${PWD:-yyy}}xx", "he/homexx");
	ex("he${XXX:-\\$PWD:}xx", "he$PWD:xx");
	ex("'$PWD'", "$PWD");
	ex("\"$PWD\"", "/home");
	ex("\"he'$PWD'\"", "he'/home'");
	ex("he\\\\$PWD", "he\\/home");
	ex("abc\\tdef", "abctdef");
	ex("\"abc\\tdef\"", "abc\\tdef");
	ex("$.", "$.");
	ex("$1x", "x");
	ex("${aaa:-bbb}}", "bbb}");
	ex("${plat#*/}", "amd64");
	ex("${plat%/*}", "linux");
	ex("${path%%.*}", "a/b/c");
	ex("${path##*/}", "c.tar.gz");
	ex("${plat/amd64/arm64}", "linux/arm64");
	ex("${path//\\//_}", "a_b_c.tar.gz");
	ex("${abc}", "hello");
	ex_fail("${FOO", "cannot expand '${FOO': syntax error: missing '}'");
	ex_fail("'abc", "cannot expand ''abc': unexpected end of statement while looking for "
			"matching single-quote");
	ex_fail("${}", "cannot expand '${}': syntax error: bad substitution");
	ex_fail("${XXX:?}", "cannot expand '${XXX:?}': XXX: is not allowed to be unset");
	ex_fail("${NULL:?must be set}", "cannot expand '${NULL:?must be set}': NULL: must be set");
	ex_fail("${XXX:=x}", "cannot expand '${XXX:=x}': unsupported modifier (:=) in substitution");
	ex_words("hello${space}bye", "helloabc,defbye");
	ex_words("hello\"${space}\"bye", "helloabc  defbye");
	ex_words("8080 \"9090\"  ${NULL} 53/udp", "8080,9090,53/udp");
	ex_words("hello\\ there", "hello there");
	ok(df_expand_esc("`$FOO and \\$FOO", '`', lookup, (void *)env, &s, &err) == 0 &&
		   !strcmp(s, "$FOO and \\/bar"),
	   "backtick escape: ` escapes, \\ is literal");
	free(s);
	ok(df_expand("$x", NULL, NULL, &s, &err) == 0 && !strcmp(s, ""),
	   "unknown variables expand to \"\"");
	free(s);

	/* the ENV example from the Dockerfile reference: values of one ENV
	 * see the environment from before it */
	ok(df_expand("$abc", lookup, (void *)env, &s, &err) == 0 && !strcmp(s, "hello"),
	   "ENV abc=bye def=$abc gives def=hello");
	free(s);

	ok(df_parse_duration("1m30s", &ns, &err) == 0 && ns == 90000000000LL, "1m30s");
	ok(df_parse_duration("1.5h", &ns, &err) == 0 && ns == 5400000000000LL, "1.5h");
	ok(df_parse_duration("250ms", &ns, &err) == 0 && ns == 250000000LL, "250ms");
	ok(df_parse_duration("3x", &ns, &err) < 0, "unknown unit rejected");
	ok(df_kind_expands(DF_COPY) && !df_kind_expands(DF_RUN), "COPY expands, RUN does not");

	/* STOPSIGNAL: moby's signal.ParseSignal */
	{
		static const char *const good[] = {"SIGTERM", "term", "kill", "SigKill", "9",
						   "-3", "+5", "999", "RTMIN", "sigrtmin+3",
						   "SIGRTMAX-14", "WINCH", "SIGSTKFLT"};
		static const char *const nope[] = {"NOPE", "0", "", "SIG", "SIGRTMIN+16",
						   "RTMAX-15", "RTMIN+0", "9x", "SIGTERM ",
						   "99999999999999999999"};
		for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
			ok(df_check_signal(good[i], &err) == 0, "STOPSIGNAL '%s' accepted", good[i]);
		for (size_t i = 0; i < sizeof(nope) / sizeof(*nope); i++)
			ok(df_check_signal(nope[i], &err) < 0 && err.cat == EC_USAGE,
			   "STOPSIGNAL '%s' refused", nope[i]);
	}

	/* EXPOSE: nat.ParsePortSpecs */
	{
		static const struct {
			const char *spec, *want;
		} ports[] = {
			{"80", "80/tcp"},
			{"53/UDP", "53/udp"},
			{"8080-8081", "8080/tcp,8081/tcp"},
			{"9000-9001/udp", "9000/udp,9001/udp"},
			{"0", "0/tcp"},
			{"080/", "80/tcp"},
			{"7-7/sctp", "7/sctp"},
		};
		static const char *const nope[] = {"65536", "81-80", "80/icmp", "x", "1.2.3.4:80:80",
						   "-80", "80-", "+80", ""};
		for (size_t i = 0; i < sizeof(ports) / sizeof(*ports); i++) {
			char **v = NULL, buf[128] = "";
			size_t n = 0, len = 0;
			int rc = df_expose_ports(ports[i].spec, &v, &n, &err);

			for (size_t k = 0; rc == 0 && k < n; k++)
				len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
							k ? "," : "", v[k]);
			is_str(buf, ports[i].want, "EXPOSE %s", ports[i].spec);
			df_words_free(v);
		}
		for (size_t i = 0; i < sizeof(nope) / sizeof(*nope); i++) {
			char **v = NULL;
			size_t n;

			ok(df_expose_ports(nope[i], &v, &n, &err) < 0 && !v && err.cat == EC_USAGE,
			   "EXPOSE '%s' refused", nope[i]);
		}
	}

	/* WORKDIR: relative ones path.Join + path.Clean as both builders do */
	{
		static const char *const wd[][3] = {
			{NULL, "/a/../b/./c/", "/a/../b/./c/"}, {"/", "x/y", "/x/y"},
			{"/a", "b", "/a/b"},		{"/a/b", "../c/./d", "/a/c/d"},
			{"", "rel", "/rel"},		{"/a", "../../..", "/"},
			{"/a/../b/", "x//y/", "/b/x/y"},	{"/a", ".", "/a"},
		};
		static const char *const cl[][2] = {
			{"", "."}, {"a/../..", ".."}, {"../a/./b/", "../a/b"}, {"//", "/"},
			{"a//b", "a/b"}, {"/..", "/"}, {"./", "."}, {"a/b/../../c", "c"},
		};
		for (size_t i = 0; i < sizeof(wd) / sizeof(*wd); i++) {
			char *w = df_workdir(wd[i][0], wd[i][1]);
			is_str(w, wd[i][2], "WORKDIR %s then %s", wd[i][0] ? wd[i][0] : "(none)",
			       wd[i][1]);
			free(w);
		}
		for (size_t i = 0; i < sizeof(cl) / sizeof(*cl); i++) {
			char *c = di_path_clean(cl[i][0], strlen(cl[i][0]));
			is_str(c, cl[i][1], "clean '%s'", cl[i][0]);
			free(c);
		}
	}
	df_file_free(NULL);
	return done_testing();
}
