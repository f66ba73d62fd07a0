/* proc.c - run a helper program to completion (see proc.h). */
#include "util/proc.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int proc_spawn_fds(const char *const *argv, const char *const *env, int in,
		   int out, int errfd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, empty;
	int r;

	posix_spawn_file_actions_init(&fa);
	if (in < 0)
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
						 0);
	else
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (errfd >= 0)
		posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	posix_spawnattr_init(&at);
	sigfillset(&all);
	sigemptyset(&empty);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &empty);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETSIGMASK);
	r = posix_spawnp(pid, argv[0], &fa, &at, (char *const *)argv,
			 env ? (char *const *)env : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return r;
}

int proc_run(const char *const *argv, const struct proc_opts *o,
	     struct strbuf *out, struct strbuf *errout, int *status,
	     struct ec_err *err)
{
	static const struct proc_opts none;
	int in[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
	size_t max, sent = 0;
	long long deadline;
	pid_t pid;
	int r, wst;

	if (!o)
		o = &none;
	max = o->max_output ? o->max_output : 16u << 20;
	deadline = o->timeout_ms ? mono_ms() + o->timeout_ms : 0;
	*status = -1;
	if (pipe2(in, O_CLOEXEC) < 0 ||
	    (!o->pass_stdout && pipe2(po, O_CLOEXEC) < 0) ||
	    (!o->pass_stderr && pipe2(pe, O_CLOEXEC) < 0)) {
		r = ec_err_errno(err, EC_FAIL, errno, "create pipe");
		goto close_all;
	}
	r = proc_spawn_fds(argv, o->env, in[0], o->pass_stdout ? -1 : po[1],
			   o->pass_stderr ? -1 : pe[1], &pid);
	if (r != 0) {
		r = ec_err_errno(err, r == ENOENT ? EC_NOTFOUND : EC_FAIL, r,
				 "run '%s'", argv[0]);
		goto close_all;
	}
	close(in[0]);
	in[0] = -1;
	if (po[1] >= 0) {
		close(po[1]);
		po[1] = -1;
	}
	if (pe[1] >= 0) {
		close(pe[1]);
		pe[1] = -1;
	}
	if (!o->input || !o->input_len) {
		close(in[1]);
		in[1] = -1;
	} else {
		set_nonblock(in[1]);
	}
	r = 0;
	while (po[0] >= 0 || pe[0] >= 0 || in[1] >= 0) {
		struct pollfd p[3];
		int n = 0, i, wait_ms = -1;
		char buf[16384];

		if (in[1] >= 0)
			p[n++] = (struct pollfd){in[1], POLLOUT, 0};
		if (po[0] >= 0)
			p[n++] = (struct pollfd){po[0], POLLIN, 0};
		if (pe[0] >= 0)
			p[n++] = (struct pollfd){pe[0], POLLIN, 0};
		if (deadline) {
			long long left = deadline - mono_ms();
			if (left <= 0) {
				kill(pid, SIGKILL);
				r = ec_err_set(err, EC_REMOTE,
					       "'%s' did not finish within "
					       "%d s",
					       argv[0], o->timeout_ms / 1000);
				break;
			}
			wait_ms = (int)left;
		}
		if (poll(p, (nfds_t)n, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n; i++) {
			ssize_t k;
			if (!p[i].revents)
				continue;
			if (p[i].fd == in[1]) {
				k = write(in[1], o->input + sent,
					  o->input_len - sent);
				if (k > 0)
					sent += (size_t)k;
				if ((k < 0 && errno != EAGAIN) ||
				    sent == o->input_len) {
					close(in[1]);
					in[1] = -1;
				}
				continue;
			}
			k = read(p[i].fd, buf, sizeof(buf));
			if (k <= 0) {
				if (k < 0 &&
				    (errno == EINTR || errno == EAGAIN))
					continue;
				close(p[i].fd);
				if (p[i].fd == po[0])
					po[0] = -1;
				else
					pe[0] = -1;
				continue;
			}
			{
				struct strbuf *sb =
				    p[i].fd == po[0] ? out : errout;
				if (sb && sb->len < max)
					sb_add(sb, buf,
					       sb->len + (size_t)k > max
						   ? max - sb->len
						   : (size_t)k);
			}
		}
	}
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
close_all:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return r;
}
