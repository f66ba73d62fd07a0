/* proc.h - run a helper program to completion: CNI plugins, ssh, probes.
 * stdin from a buffer, stdout and stderr captured (bounded), a timeout,
 * signals reset to defaults in the child, no fds leaked into it. */
#ifndef EC_PROC_H
#define EC_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"
#include "util/strbuf.h"

struct proc_opts {
	const char *const *env; /* full environment; NULL = inherit */
	const char *input;	/* stdin bytes (NULL = /dev/null) */
	size_t input_len;
	int timeout_ms;	   /* 0 = no limit; then SIGKILL, EC_REMOTE */
	size_t max_output; /* per stream; 0 = 16 MiB (more is cut) */
	int pass_stderr;   /* 1: child's stderr is ours, not captured */
	int pass_stdout;   /* 1: child's stdout is ours, not captured */
};

/* Run argv[0] (an absolute path, or searched in PATH) with argv. *status
 * gets the exit status (128+N when killed by signal N). out/errout may be
 * NULL (discarded). Fails only when the program could not be run at all
 * (EC_NOTFOUND when it does not exist) or timed out. */
int proc_run(const char *const *argv, const struct proc_opts *o,
	     struct strbuf *out, struct strbuf *errout, int *status,
	     struct ec_err *err);

/* Start argv[0] (searched in PATH) with stdin from `in` (-1: /dev/null),
 * stdout to `out` and stderr to `errfd` (-1: inherited), every signal at
 * its default and none blocked, environment env (NULL: ours). 0 with *pid,
 * or the posix_spawn error number. The caller waits for it. */
int proc_spawn_fds(const char *const *argv, const char *const *env, int in,
		   int out, int errfd, pid_t *pid);

#endif
