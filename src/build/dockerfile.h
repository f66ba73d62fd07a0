/* dockerfile.h - Dockerfile parsing and variable expansion, Docker semantics.
 *
 * Pure: the caller reads the file and passes its text. The parser follows
 * BuildKit's (frontend/dockerfile/parser + instructions): parser directives
 * at the very top ("# escape=`", "# syntax=..."), comments are lines whose
 * first non-blank character is '#', the escape character at the end of a
 * line (trailing blanks allowed) continues it, comment lines and blank lines
 * inside a continuation are dropped, instructions are case-insensitive.
 * Arguments are kept as written (quotes and $VARs intact); a builder expands
 * them with df_expand() when it runs the instruction, because expansion
 * depends on the ARG/ENV state at that point.
 */
#ifndef EC_BUILD_DOCKERFILE_H
#define EC_BUILD_DOCKERFILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Largest Dockerfile accepted, most lines, and most bytes one expansion
 * may produce. */
#define DF_MAX_BYTES  (1u << 20)
#define DF_MAX_LINES  100000u
#define DF_EXPAND_MAX (4u << 20)

enum df_kind {
	DF_FROM,
	DF_ARG,
	DF_ENV,
	DF_LABEL,
	DF_WORKDIR,
	DF_USER,
	DF_EXPOSE,
	DF_ENTRYPOINT,
	DF_CMD,
	DF_COPY,
	DF_ADD,
	DF_RUN,
	DF_HEALTHCHECK,
	DF_STOPSIGNAL,
	DF_VOLUME,
	DF_SHELL,
	DF_MAINTAINER, /* accepted, with a deprecation warning */
	DF_ONBUILD,    /* argv[0]: the trigger as written (after ONBUILD) */
};

/* A "--name=value" given before the arguments. Only the flags Docker knows
 * for the instruction are accepted (COPY --from/--chown/--chmod/--link/
 * --exclude/--parents, ADD --chown/--chmod/--link/--keep-git-dir/
 * --checksum/--unpack/--exclude, RUN --mount/--network/--security/
 * --device, FROM --platform, HEALTHCHECK --interval/--timeout/
 * --start-period/--start-interval/--retries); boolean flags are stored as
 * "true" or "false" ("--link" alone is "true"). */
struct df_flag {
	char *name;  /* without the leading "--" */
	char *value; /* never NULL; unexpanded */
};

/* One ENV/LABEL/ARG assignment, as written: quotes, escapes and $VARs are
 * still there. The builder runs both key and value through df_expand()
 * (that is also what removes the quotes, as in Docker). */
struct df_kv {
	char *key;
	char *value; /* NULL for "ARG name" without a default */
};

struct df_instr {
	enum df_kind kind;
	const char *keyword; /* upper case, static: "FROM", "RUN"... */
	int line;	     /* 1-based line the instruction starts on */
	int end_line;	     /* last line (continuations) */
	struct df_flag *flags;
	size_t nflags;
	/* 1 when the arguments were a JSON array (exec form) */
	int json;
	/* The arguments, NULL-terminated. Exec form: the decoded strings.
	 * Shell form, as Docker splits them: RUN/CMD/ENTRYPOINT/WORKDIR/USER/
	 * STOPSIGNAL/MAINTAINER: one element, the raw text; FROM/COPY/ADD/
	 * EXPOSE/VOLUME: split at blanks; ARG/ENV/LABEL: the words (quotes
	 * kept); HEALTHCHECK: the type (CMD or NONE), then the command as
	 * for CMD. */
	char **argv;
	size_t argc;
	/* The text after the keyword and flags, continuations joined (escape
	 * and newline removed), leading and trailing blanks trimmed. */
	char *raw;
	struct df_kv *kv; /* ENV, LABEL, ARG */
	size_t nkv;
	char *image;	/* FROM: the image as written (may hold $VARs) */
	char *stage;	/* FROM ... AS name: the name, lower-cased; else NULL */
	char *original; /* the whole instruction, continuations joined */
};

struct df_file {
	struct df_instr *instrs;
	size_t ninstrs;
	char escape;  /* '\\' or '`' (the escape directive) */
	char *syntax; /* "# syntax=" value, NULL when absent (ignored) */
	char *check;  /* "# check=" value, NULL when absent (ignored) */
	/* Messages the caller may show ("Dockerfile:1: ..."): the ignored
	 * syntax directive, MAINTAINER, empty continuation lines. */
	char **warnings;
	size_t nwarnings;
};

/* Parse `len` bytes of Dockerfile text (need not be NUL-terminated).
 * `filename` names the file in messages (NULL: "Dockerfile"). On success
 * *out is a new df_file the caller frees with df_file_free(). Fails with
 * EC_USAGE and a message starting "FILE:LINE: " for: an unknown
 * instruction (with "did you mean X?" when one is close), an ONBUILD
 * trigger that is ONBUILD, FROM or MAINTAINER or would not parse, heredocs (not
 * supported yet), missing or extra arguments, an unknown, duplicate or
 * valueless flag, a JSON array holding something other than strings, SHELL not
 * in JSON form, a bad stage name, a bad or repeated parser directive, anything
 * but ARG before the first FROM, no FROM at all, a NUL byte, or input over
 * DF_MAX_BYTES/DF_MAX_LINES; *out is then NULL. A '[' that is not valid JSON is
 * shell form, as in Docker. */
int df_parse(const char *text, size_t len, const char *filename,
	     struct df_file **out, struct ec_err *err);

/* Parse the ONBUILD triggers of a base image (config OnBuild, one
 * instruction each, as Docker records them) into *out, as instructions of
 * a stage that has begun: `line` is the FROM's line, used for every
 * message. Fails with EC_USAGE as df_parse() does, and for a trigger that
 * is ONBUILD, FROM or MAINTAINER or spans several lines (a heredoc). */
int df_parse_triggers(const char *const *exprs, size_t n, char escape,
		      const char *filename, int line, struct df_file **out,
		      struct ec_err *err);

/* Check a STOPSIGNAL value (after expansion) as moby's signal.ParseSignal
 * does: a non-zero decimal number, or a Linux signal name in any case with
 * or without "SIG" (RTMIN+N and RTMAX-N too). Docker records the value as
 * written. Fails with EC_USAGE ("invalid signal 'X'"). */
int df_check_signal(const char *sig, struct ec_err *err);

/* The ports of one EXPOSE word (after expansion), as Docker's
 * nat.ParsePortSpecs records them: "80" -> "80/tcp", "53/UDP" ->
 * "53/udp", "8080-8081" -> "8080/tcp" "8081/tcp"; ports 0-65535,
 * protocols tcp, udp, sctp. On success *ports is a new NULL-terminated
 * array (df_words_free()) of *nports entries. Fails with EC_USAGE on a bad
 * port, range or protocol, or a host part ("1.2.3.4:80:80"). */
int df_expose_ports(const char *spec, char ***ports, size_t *nports,
		    struct ec_err *err);

/* The WORKDIR that `req` gives after `cur` (NULL or "" for none), as both
 * of Docker's builders compute it: an absolute `req` as written (Docker
 * records "/a/../b/" so), a relative one joined under "/" + cur and
 * cleaned ("/" + "x/y" is "/x/y", "/a/b" + "../c/./d" is "/a/c/d").
 * Returns an allocated string. */
char *df_workdir(const char *cur, const char *req);

/* Free a parsed file; NULL is a no-op. */
void df_file_free(struct df_file *f);

/* The last occurrence of flag `name` (without "--") on `in`, or NULL. */
const struct df_flag *df_instr_flag(const struct df_instr *in,
				    const char *name);

/* 1 if Docker expands variables in this instruction's arguments (FROM
 * with ARGs declared before the first FROM only; ARG, ENV, LABEL, WORKDIR,
 * USER, COPY, ADD, EXPOSE, STOPSIGNAL, VOLUME), else 0 (RUN, CMD,
 * ENTRYPOINT, SHELL, HEALTHCHECK and MAINTAINER are passed on as written). */
int df_kind_expands(enum df_kind kind);

/* Parse a Go duration ("30s", "1m30s", "1.5h", "250ms", "0"), the syntax
 * of HEALTHCHECK --interval/--timeout/--start-period/--start-interval, into
 * nanoseconds. Fails with EC_USAGE on bad syntax, an unknown unit or
 * overflow. */
int df_parse_duration(const char *s, int64_t *ns, struct ec_err *err);

/* A normalised one-line form for cache keys and history "created_by":
 * "KEYWORD [--flag=value...] ARGS" with exec form re-encoded as a compact
 * JSON array, ENV/LABEL as key=value pairs, FROM as "image [AS stage]".
 * Returns an allocated string the caller frees; never fails. */
char *df_instr_str(const struct df_instr *in);

/* The value of variable `name`, or NULL when it is not set (set-but-empty
 * is "" and differs for ${VAR-default} and ${VAR+alt}). */
typedef const char *(*df_lookup_fn)(void *ctx, const char *name);

/* Expand one word as Docker's shell lexer does for ENV/LABEL/ARG values,
 * WORKDIR, USER, COPY/ADD paths, STOPSIGNAL, VOLUME and FROM: $VAR,
 * ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt},
 * ${VAR:?msg}, ${VAR?msg}, ${VAR#glob}, ${VAR##glob}, ${VAR%glob},
 * ${VAR%%glob}, ${VAR/glob/repl}, ${VAR//glob/repl}; quotes are removed,
 * single quotes keep $ literal, the escape character escapes the next
 * character (in double quotes only '"', '$' and itself). Unset variables
 * expand to "". `lookup` may be NULL (nothing is set). On success *out is
 * an allocated string the caller frees. Fails with EC_USAGE ("cannot
 * expand '...': missing '}'") on bad syntax, an unterminated quote,
 * ${VAR?} of an unset variable, nesting deeper than 64 or a result over
 * DF_EXPAND_MAX; *out is then NULL. df_expand() uses '\' as the escape
 * character; pass df_file.escape to df_expand_esc(). */
int df_expand(const char *word, df_lookup_fn lookup, void *ctx, char **out,
	      struct ec_err *err);
int df_expand_esc(const char *word, char escape, df_lookup_fn lookup, void *ctx,
		  char **out, struct ec_err *err);

/* Expand like df_expand() and split the result into words at unquoted
 * blanks (blanks that come from a variable's value split too, as in a
 * shell), as Docker does for EXPOSE. On success *words is a new
 * NULL-terminated array (free with df_words_free()) and *nwords its length
 * (nwords may be NULL). Fails as df_expand(), *words then NULL. */
int df_expand_words(const char *word, df_lookup_fn lookup, void *ctx,
		    char ***words, size_t *nwords, struct ec_err *err);
int df_expand_words_esc(const char *word, char escape, df_lookup_fn lookup,
			void *ctx, char ***words, size_t *nwords,
			struct ec_err *err);

/* Free a NULL-terminated word array; NULL is a no-op. */
void df_words_free(char **words);

#endif
