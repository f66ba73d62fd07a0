/* relay.c - one host's edgectl piped into another's (relay.h). */
#include "fleet/relay.h"
#include "util/proc.h"
#include "fleet/remote.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* what is kept of a side's stdout (JSON) or stderr (its error) */
#define RELAY_KEEP_MAX (1u << 20)

/* argv with stdin from `in` (or /dev/null), stdout to out, stderr to
 * errfd, signals at their defaults; -1 when it cannot be started. */
static pid_t spawn_fds(char **argv, int in, int out, int errfd)
{
	pid_t pid;

	return proc_spawn_fds((const char *const *)argv, NULL, in, out, errfd,
			      &pid)
		   ? -1
		   : pid;
}

/* The exit status of pid (128+N when killed by signal N). */
static int reap(pid_t pid)
{
	int st = 0;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* What a memfd holds, from the start, up to RELAY_KEEP_MAX. */
static void slurp(int fd, struct strbuf *sb)
{
	char buf[4096];
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while (sb->len < RELAY_KEEP_MAX && (n = read(fd, buf, sizeof(buf))) > 0)
		sb_add(sb, buf, (size_t)n);
}

/* A side that exited with status: err as fleet_remote_json() words it. */
static int side_error(const json_t *host, int status, int errfd,
		      struct ec_err *err)
{
	_cleanup_strbuf_ struct strbuf e = STRBUF_INIT;

	slurp(errfd, &e);
	if (fleet_ssh_failed(host, status, e.buf, e.len, err) < 0)
		return -1;
	return fleet_remote_error(ec_json_str(host, "name") ?: "?", status,
				  e.buf, e.len, err);
}

/* "--json" then args: a new array (the strings borrowed). */
static const char **with_json(const char *const *args)
{
	size_t n = 0;
	const char **v;

	while (args[n])
		n++;
	v = xcalloc(n + 2, sizeof(*v));
	v[0] = "--json";
	memcpy(v + 1, args, n * sizeof(*v));
	return v;
}

/* The two processes: src's stdout into dst's stdin through a pipe; dst's
 * stdout and both stderrs into memfds. Statuses into st[2]. */
static int relay_run(char **sv, char **dv, const int fds[3], int st[2],
		     struct ec_err *err)
{
	int p[2];
	pid_t a, b;

	if (pipe2(p, O_CLOEXEC) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "relay: pipe");
	a = spawn_fds(sv, -1, p[1], fds[0]);
	b = a < 0 ? -1 : spawn_fds(dv, p[0], fds[2], fds[1]);
	close(p[0]);
	close(p[1]);
	if (a < 0 || b < 0) {
		if (a > 0) {
			kill(a, SIGTERM);
			reap(a);
		}
		return ec_err_set(err, EC_FAIL, "relay: cannot run '%s'",
				  a < 0 ? sv[0] : dv[0]);
	}
	st[0] = reap(a);
	st[1] = reap(b);
	return 0;
}

json_t *fleet_relay_json(const struct ssh_opts *o, const json_t *src,
			 const char *const *sargs, const json_t *dst,
			 const char *const *dargs, struct ec_err *err)
{
	_cleanup_free_ const char **sa = with_json(sargs);
	_cleanup_free_ const char **da = with_json(dargs);
	char **sv = fleet_ssh_argv(o, src, sa, err);
	char **dv = sv ? fleet_ssh_argv(o, dst, da, err) : NULL;
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	/* src's stderr, dst's stderr, dst's stdout */
	int fds[3] = {memfd_create("relay-src-err", MFD_CLOEXEC),
		      memfd_create("relay-dst-err", MFD_CLOEXEC),
		      memfd_create("relay-dst-out", MFD_CLOEXEC)};
	int st[2] = {0, 0}, i;
	json_t *r = NULL;

	if (!sv || !dv)
		goto out;
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0) {
		ec_err_errno(err, EC_FAIL, errno, "relay: memfd");
		goto out;
	}
	if (relay_run(sv, dv, fds, st, err) < 0)
		goto out;
	/* the source's failure first (it cut the destination's input),
	 * unless the source only lost its reader */
	if (st[0] != 0 && !(st[1] != 0 && st[0] == 128 + SIGPIPE)) {
		side_error(src, st[0], fds[0], err);
		goto out;
	}
	if (st[1] != 0) {
		side_error(dst, st[1], fds[1], err);
		goto out;
	}
	slurp(fds[2], &out);
	if (!out.len) {
		r = json_null();
		goto out;
	}
	if (!(r = ec_json_parse(out.buf, out.len, "answer", err))) {
		err->cat = EC_REMOTE;
		ec_err_prefix(err, "host %s", ec_json_str(dst, "name") ?: "?");
	}
out:
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	fleet_argv_free(sv);
	fleet_argv_free(dv);
	return r;
}
