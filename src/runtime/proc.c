/* proc.c - starting the runtime binaries: `run` with its output streamed
 * through pipes and cancel handled, and short subcommands (kill, delete,
 * state). Children are fork+exec'd (not posix_spawn) because crun may need
 * a private mount namespace first; between fork and exec the child makes
 * only async-signal-safe system calls. */
#include "runtime/rt_impl.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Short subcommands (kill, delete, state) get this long. */
#define CMD_TIMEOUT_MS 30000
#define CMD_OUTPUT_MAX 8192
/* Read the pipes this long after the runtime exited (stragglers). */
#define DRAIN_MS 2000
/* Cancel is polled this often; `kill` retried this often. */
#define TICK_MS	 100
#define RETRY_MS 500
/* This long after SIGKILL to the container, SIGKILL the runtime itself. */
#define HARD_KILL_MS 5000
#define LOG_TAIL     65536

static char *const child_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    NULL,
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A cgroup v1/v2 hybrid host whose cgroup2 mount has controllers: crun
 * refuses those ("cgroups in hybrid mode not supported"). */
static int hybrid_with_v2_controllers(void)
{
	char buf[256];
	struct statfs a, b;
	ssize_t n, i;
	int fd;

	if (statfs("/sys/fs/cgroup", &a) < 0 || a.f_type != TMPFS_MAGIC)
		return 0;
	if (statfs("/sys/fs/cgroup/unified", &b) < 0 ||
	    b.f_type != CGROUP2_SUPER_MAGIC)
		return 0;
	fd = open("/sys/fs/cgroup/unified/cgroup.controllers",
		  O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	for (i = 0; i < n; i++)
		if (buf[i] != '\n' && buf[i] != ' ')
			return 1;
	return 0;
}

static const char *const known[] = {"crun", "runc", "runsc"};

int rt_tool_init(struct rt_tool *t, const char *name, enum rt_network net,
		 struct ec_err *err)
{
	const char *const *avail = rt_available();
	struct strbuf list = STRBUF_INIT;
	size_t i;

	memset(t, 0, sizeof(*t));
	if (!name && !avail[0])
		return ec_err_set(err, EC_USAGE,
				  "no OCI runtime is installed here (install "
				  "crun, runc or runsc)");
	if (!name)
		name = avail[0];
	for (i = 0; i < ARRAY_SIZE(known); i++)
		if (!strcmp(name, known[i]))
			break;
	if (i == ARRAY_SIZE(known))
		return ec_err_set(
		    err, EC_USAGE,
		    "unknown runtime '%s' (known: crun, runc, runsc)", name);
	t->kind = (enum rt_kind)i;
	t->name = known[i];
	t->path = rt_path(name);
	t->network = net;
	if (!t->path) {
		for (i = 0; avail[i]; i++)
			sb_addf(&list, "%s%s", i ? ", " : "", avail[i]);
		ec_err_set(err, EC_USAGE,
			   "runtime '%s' is not installed here (available: %s)",
			   name, list.len ? list.buf : "none");
		sb_release(&list);
		return -1;
	}
	t->hide_unified = t->kind == RT_CRUN && hybrid_with_v2_controllers();
	return 0;
}

/* What a child reports through its error pipe when it cannot exec. */
struct child_fail {
	int step; /* 0 dup, 1 unshare, 2 mount, 3 umount, 4 exec */
	int errnum;
};

static const char *const step_names[] = {
    "set up its standard descriptors",
    "create a mount namespace",
    "make mounts private",
    "hide /sys/fs/cgroup/unified",
    "execute",
};

static _Noreturn void child_fail(int ep, int step)
{
	struct child_fail f = {step, errno};
	ssize_t n = write(ep, &f, sizeof(f));

	(void)n;
	_exit(127);
}

/* In the child: reset signals, install fds[0..2] as 0..2, enter the mount
 * namespace crun needs, exec. Never returns. */
static _Noreturn void child_exec(const struct rt_tool *t, char *const *argv,
				 const int fds[3], int ep)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	int hi[3], i;
	sigset_t none;

	for (i = 1; i < NSIG; i++)
		sigaction(i, &dfl, NULL);
	/* glibc's sigaction refuses its internal signals (32, 33) but they can
	 * arrive ignored (make 4.3 ignores 32), and an ignored disposition
	 * survives exec into the container: reset them with the raw call. */
	for (i = 32; i < SIGRTMIN; i++) {
		struct {
			void *handler;
			unsigned long flags;
			void *restorer;
			unsigned long mask;
		} k = {SIG_DFL, 0, NULL, 0};
		syscall(SYS_rt_sigaction, i, &k, NULL, sizeof(k.mask));
	}
	for (i = 0; i < 3; i++)
		if ((hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0)
			child_fail(ep, 0);
	for (i = 0; i < 3; i++)
		if (dup2(hi[i], i) < 0)
			child_fail(ep, 0);
	/* nothing else leaks into the runtime (and on into the container) */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	if (t->enter_netns) {
		int nfd = open(t->enter_netns, O_RDONLY | O_CLOEXEC);
		if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0)
			child_fail(ep, 1);
		close(nfd);
	}
	if (t->hide_unified) {
		if (unshare(CLONE_NEWNS) < 0)
			child_fail(ep, 1);
		if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
			child_fail(ep, 2);
		if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0)
			child_fail(ep, 3);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(t->path, argv, child_env);
	child_fail(ep, 4);
}

/* Start argv with fds[0..2] as its standard descriptors. */
static int spawn(const struct rt_tool *t, char *const *argv, const int fds[3],
		 pid_t *pid, struct ec_err *err)
{
	struct child_fail f;
	sigset_t all, old;
	int ep[2], e;
	ssize_t n;
	pid_t p;

	if (pipe2(ep, O_CLOEXEC) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create pipe");
	/* no parent signal handler may run in the child before exec */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p = fork();
	if (p == 0)
		child_exec(t, argv, fds, ep[1]);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(ep[1]);
	if (p < 0) {
		close(ep[0]);
		return ec_err_errno(err, EC_FAIL, e, "start %s", t->name);
	}
	do
		n = read(ep[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(f)) {
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		return ec_err_errno(err, EC_FAIL, f.errnum, "%s: cannot %s",
				    t->path, step_names[f.step]);
	}
	*pid = p;
	return 0;
}

static int wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

int rt_proc_cmd(const struct rt_tool *t, const char *const *args,
		struct strbuf *output, struct ec_err *err)
{
	const char *argv[16];
	int p[2], fds[3], nul, r;
	int64_t deadline = now_ms() + CMD_TIMEOUT_MS;
	size_t n = 0;
	char buf[4096];
	pid_t pid;

	argv[n++] = t->path;
	while (*args && n < ARRAY_SIZE(argv) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open /dev/null");
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(nul);
		return ec_err_errno(err, EC_FAIL, errno, "create pipe");
	}
	fds[0] = nul;
	fds[1] = fds[2] = p[1];
	r = spawn(t, (char *const *)argv, fds, &pid, err);
	close(nul);
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		return -1;
	}
	for (;;) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t got;

		if (left <= 0) {
			kill(pid, SIGKILL);
			wait_status(pid);
			close(p[0]);
			return ec_err_set(err, EC_FAIL, "%s %s: timed out",
					  t->name, argv[1]);
		}
		if (poll(&pf, 1, (int)left) <= 0)
			continue;
		got = read(p[0], buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (output && output->len < CMD_OUTPUT_MAX)
			sb_add(output, buf, (size_t)got);
	}
	close(p[0]);
	return wait_status(pid);
}

/* State of a running `run`: its pipes and how far cancel has gone. */
struct run {
	const struct rt_tool *t;
	const char *id;
	pid_t pid;
	int fd[2]; /* stdout, stderr read ends; -1 when closed */
	int pidfd;
	rt_output_fn out;
	void *ctx;
	unsigned grace_ms;
	int64_t cancel_at, last_term, last_kill, exited_at;
	int term_sent, kill_sent, hard_killed;
};

static void signal_container(struct run *r, const char *sig)
{
	const char *args[] = {"kill", r->id, sig, NULL};
	struct ec_err ignored;

	if (rt_proc_cmd(r->t, args, NULL, &ignored) == 0) {
		if (!strcmp(sig, "TERM"))
			r->term_sent = 1;
		else
			r->kill_sent = 1;
	}
}

/* One cancel tick: TERM (retried until the container exists), KILL after
 * the grace period, and as a last resort SIGKILL to the runtime itself
 * (`delete --force` afterwards removes what it leaves). */
static void cancel_tick(struct run *r)
{
	int64_t now = now_ms();

	if (!r->cancel_at)
		r->cancel_at = now;
	if (!r->term_sent && now - r->last_term >= RETRY_MS) {
		r->last_term = now;
		signal_container(r, "TERM");
	}
	if (now - r->cancel_at < (int64_t)r->grace_ms)
		return;
	if (!r->kill_sent && now - r->last_kill >= RETRY_MS) {
		r->last_kill = now;
		signal_container(r, "KILL");
	}
	if (!r->hard_killed &&
	    now - r->cancel_at >= (int64_t)r->grace_ms + HARD_KILL_MS) {
		kill(r->pid, SIGKILL);
		r->hard_killed = 1;
	}
}

/* Read what is there on pipe i and forward it; closes it at EOF. */
static void pump(struct run *r, int i)
{
	char buf[65536];
	ssize_t n = read(r->fd[i], buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(r->fd[i]);
		r->fd[i] = -1;
		return;
	}
	if (r->out)
		r->out(r->ctx, i + 1, buf, (size_t)n);
}

static int poll_timeout(const struct run *r, const volatile int *cancel)
{
	int64_t left;

	if (r->exited_at) {
		left = r->exited_at + DRAIN_MS - now_ms();
		return left < 0 ? 0 : (int)left;
	}
	return cancel ? TICK_MS : -1;
}

/* Forward output until both pipes close (or DRAIN_MS after the runtime
 * exited, should a straggler keep them open). */
static void run_loop(struct run *r, const volatile int *cancel)
{
	while (r->fd[0] >= 0 || r->fd[1] >= 0) {
		struct pollfd pf[3] = {
		    {.fd = r->fd[0], .events = POLLIN},
		    {.fd = r->fd[1], .events = POLLIN},
		    {.fd = r->exited_at ? -1 : r->pidfd, .events = POLLIN},
		};
		int i, n = poll(pf, 3, poll_timeout(r, cancel));

		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; n > 0 && i < 2; i++)
			if (pf[i].revents)
				pump(r, i);
		if (n > 0 && pf[2].revents)
			r->exited_at = now_ms();
		if (r->exited_at && now_ms() - r->exited_at >= DRAIN_MS)
			break;
		if (cancel && *cancel && !r->exited_at)
			cancel_tick(r);
	}
}

static int run_argv(const struct rt_tool *t, const char *id, const char *bundle,
		    const char *log, const char **argv, char **owned)
{
	int n = 0;

	argv[n++] = t->path;
	if (t->kind == RT_RUNSC)
		argv[n++] = t->network == RT_NET_HOST || t->enter_netns
				? "--network=host"
				: "--network=none";
	if (t->kind == RT_RUNSC && t->nvproxy)
		argv[n++] = "--nvproxy";
	argv[n++] = owned[0] = xasprintf("--log=%s", log);
	argv[n++] = "--log-format=json";
	argv[n++] = "run";
	/* rt_started() reads it: no `state` exec while a start is polled */
	argv[n++] = owned[1] = xasprintf("--pid-file=%s/pid", bundle);
	argv[n++] = "--bundle";
	argv[n++] = bundle;
	argv[n++] = id;
	argv[n] = NULL;
	return n;
}

int rt_proc_run(const struct rt_tool *t, const char *id, const char *bundle,
		const char *log, rt_output_fn out, void *ctx,
		const volatile int *cancel, unsigned grace_ms,
		void (*started)(void *), void *started_ctx, int *status,
		int *cancelled, struct ec_err *err)
{
	struct run r = {.t = t,
			.id = id,
			.out = out,
			.ctx = ctx,
			.grace_ms = grace_ms,
			.fd = {-1, -1},
			.pidfd = -1};
	int po[2], pe[2], fds[3], nul, rc, i;
	const char *argv[14];
	char *owned[2];

	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nul < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open /dev/null");
	if (pipe2(po, O_CLOEXEC) < 0) {
		close(nul);
		return ec_err_errno(err, EC_FAIL, errno, "create pipe");
	}
	if (pipe2(pe, O_CLOEXEC) < 0) {
		rc = errno;
		close(nul);
		close(po[0]);
		close(po[1]);
		return ec_err_errno(err, EC_FAIL, rc, "create pipe");
	}
	run_argv(t, id, bundle, log, argv, owned);
	fds[0] = nul;
	fds[1] = po[1];
	fds[2] = pe[1];
	rc = spawn(t, (char *const *)argv, fds, &r.pid, err);
	free(owned[0]);
	free(owned[1]);
	close(nul);
	close(po[1]);
	close(pe[1]);
	r.fd[0] = po[0];
	r.fd[1] = pe[0];
	if (rc == 0) {
		r.pidfd = (int)syscall(SYS_pidfd_open, r.pid, 0);
		if (started)
			started(started_ctx);
		run_loop(&r, cancel);
		*status = wait_status(r.pid);
		*cancelled = r.cancel_at != 0;
	}
	for (i = 0; i < 2; i++)
		if (r.fd[i] >= 0)
			close(r.fd[i]);
	if (r.pidfd >= 0)
		close(r.pidfd);
	return rc;
}

char *rt_log_last_error(const char *log)
{
	_cleanup_close_ int fd = open(log, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = xmalloc(LOG_TAIL + 1);
	char *line, *save = NULL, *last = NULL;
	struct stat st;
	off_t off;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	off = st.st_size > LOG_TAIL ? st.st_size - LOG_TAIL : 0;
	n = pread(fd, buf, LOG_TAIL, off);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		const char *lvl = ec_json_str(j, "level");
		const char *msg = ec_json_str(j, "msg");

		if (lvl && msg && !strcmp(lvl, "error")) {
			free(last);
			last = xstrdup(msg);
		}
		json_decref(j);
	}
	return last;
}
