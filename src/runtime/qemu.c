/* qemu.c - run an image as a QEMU microvm (qemu.h).
 *
 * rt_qemu_run(): kernel, initramfs and the image's erofs (src/vm, cached
 * under spec->vm_dir), a socketpair for the channel (QEMU gets one end as
 * `-chardev socket,fd=3`), QEMU spawned in its own process group with
 * PDEATHSIG, the config frame, then one poll loop: frames from the guest
 * (ready, output, exit, failed), signals from rt_qemu_kill() on ctl.sock
 * and from `cancel`, QEMU's exit, the boot deadline. Every path ends with
 * QEMU reaped (SIGKILL when it outlives the guest's reset by 3 s) and
 * /run/edgectl/qemu/<id> and the logs in state_dir removed.
 *
 * Notes:
 * - The entrypoint is not PID 1 in the guest (our init is), so a SIGTERM
 *   kills a program without a handler (143) where a container's PID 1
 *   would ignore it until the SIGKILL (137).
 * - --memory is the entrypoint's limit: the guest init puts it in a
 *   memory cgroup of that size (memory.max; it sees it as its
 *   /sys/fs/cgroup), the guest's RAM (-m) is that plus MEM_OVERHEAD_MB
 *   and a tenth for the kernel and the init; a kill by that cgroup's OOM
 *   killer is exit 137 with a line on stderr (without --memory:
 *   DEFAULT_MEM_MB of RAM, no limit);
 *   --cpus is rounded up to whole vCPUs (-smp); --pids-limit is not
 *   applied (the guest kernel is the boundary).
 * - Network: the instance's namespace is attached by CNI as a container's;
 *   a tap in it is wired to eth0 with tc and handed to QEMU's virtio-net
 *   (src/vm/net.c); the guest takes eth0's MAC, address and gateway, so
 *   -p (portmap) and --vip (the guest's lo) work unchanged. --network host
 *   is refused: a VM has its own kernel.
 * - Volumes: -v of a host directory is a virtio-9p share (9p2000.L,
 *   security_model=none: files keep the owners the guest gives them),
 *   --tmpfs a tmpfs in the guest; a single file cannot be shared (9p
 *   exports directories): refused with EC_USAGE.
 * - Snapshots (rt_qemu_snapshot): the VM booted to the init's 'W' frame
 *   (modules loaded, port open, waiting for the config) is migrated to a
 *   file over QMP (exec:cat); a run whose VM matches it (snap_path's key)
 *   starts QEMU with -incoming fd:5 instead of booting, then sends its
 *   config as usual. The restored guest's RNG is reseeded from a seed in
 *   the config. Not with 9p shares (the device set must match the
 *   snapshot's, which has none); such a run boots cold. */
#include "runtime/qemu.h"
#include "crypto/digest.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/xalloc.h"
#include "vm/proto.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BOOT_MS	 60000
#define DEFAULT_GRACE_MS 10000
#define DEFAULT_MEM_MB	 512
#define MIN_MEM_MB	 64
#define MEM_OVERHEAD_MB	 96 /* guest RAM beyond --memory: kernel, init */
#define EXIT_WAIT_MS	 3000
#define TAIL_MAX	 600
#define PROBE_MS	 10000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *state_path(const char *id, const char *file)
{
	return xasprintf("%s/%s%s%s", RT_QEMU_STATE_ROOT, id, file ? "/" : "",
			 file ? file : "");
}

/* The last lines of a log (at most TAIL_MAX bytes, from a line start,
 * newlines as "; "), or NULL when it is empty. A kernel panic line is
 * preferred when there is one. Allocated. */
static char *log_tail(const char *path)
{
	_cleanup_free_ char *data = NULL;
	char *p, *start, *q;
	size_t len;

	if (fs_read_file(path, 1u << 20, &data, &len, NULL) < 0 || !len)
		return NULL;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	if (!len)
		return NULL;
	if ((p = strstr(data, "Kernel panic"))) {
		start = p; /* from the start of its line */
		while (start > data && start[-1] != '\n')
			start--;
	} else {
		start = len > TAIL_MAX ? data + len - TAIL_MAX : data;
		if (start != data && start[-1] != '\n' &&
		    (p = strchr(start, '\n')))
			start = p + 1;
	}
	start = xstrndup(start, TAIL_MAX);
	for (q = start; *q; q++)
		if (*q == '\n')
			*q = ';';
		else if (*q == '\r')
			*q = ' ';
	return start;
}

/* --- signals ----------------------------------------------------------------
 */

static int signal_number(const char *s)
{
	static const struct {
		const char *name;
		int num;
	} t[] = {{"HUP", SIGHUP},   {"INT", SIGINT},	{"QUIT", SIGQUIT},
		 {"KILL", SIGKILL}, {"USR1", SIGUSR1},	{"USR2", SIGUSR2},
		 {"TERM", SIGTERM}, {"ALRM", SIGALRM},	{"CONT", SIGCONT},
		 {"STOP", SIGSTOP}, {"WINCH", SIGWINCH}};
	char *end;
	long n;
	size_t i;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].name))
			return t[i].num;
	n = strtol(s, &end, 10);
	return *s && !*end && n > 0 && n < 65 ? (int)n : -1;
}

/* --- the channel ------------------------------------------------------------
 */

struct chan {
	int fd;
	uint8_t *buf;
	size_t len, cap;
};

static int send_frame(int fd, int type, const void *data, size_t len)
{
	uint8_t h[VM_FRAME_HDR];

	vm_frame_hdr(h, type, (uint32_t)len);
	if (io_write_all(fd, h, sizeof(h), -1, "channel", NULL) < 0)
		return -1;
	return len ? io_write_all(fd, data, len, -1, "channel", NULL) : 0;
}

static int send_signal(int fd, int sig)
{
	uint8_t b = (uint8_t)sig;

	return send_frame(fd, VM_F_SIGNAL, &b, 1);
}

/* What the run loop has learnt from the guest. */
struct guest {
	int waiting, ready, exited, status;
	int oom; /* the guest's memory cgroup OOM killer killed something */
	char *failed; /* the init's message, allocated */
};

/* Read what is there and handle each whole frame. -1 at EOF or on a
 * protocol error. */
static int chan_read(struct chan *c, struct guest *g, rt_output_fn out,
		     void *ctx)
{
	size_t off = 0;
	ssize_t n;

	c->buf = xgrow(c->buf, &c->cap, c->len + 65536, 1);
	n = read(c->fd, c->buf + c->len, 65536);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	while (c->len - off >= VM_FRAME_HDR) {
		const uint8_t *h = c->buf + off;
		uint32_t len = vm_frame_len(h);
		const char *p = (const char *)h + VM_FRAME_HDR;

		if (len > VM_FRAME_MAX)
			return -1;
		if (c->len - off < VM_FRAME_HDR + len)
			break;
		switch (h[0]) {
		case VM_F_WAITING:
			g->waiting = 1;
			break;
		case VM_F_READY:
			g->ready = 1;
			break;
		case VM_F_STDOUT:
		case VM_F_STDERR:
			if (out && len)
				out(ctx, h[0] == VM_F_STDOUT ? 1 : 2, p, len);
			break;
		case VM_F_FAILED:
			free(g->failed);
			g->failed = xstrndup(p, len);
			send_frame(c->fd, VM_F_ACK, NULL, 0);
			break;
		case VM_F_EXIT: {
			_cleanup_free_ char *s = xstrndup(p, len);
			g->exited = 1;
			g->status = atoi(s);
			g->oom = strstr(s, " oom") != NULL;
			send_frame(c->fd, VM_F_ACK, NULL, 0);
			break;
		}
		}
		off += VM_FRAME_HDR + len;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return 0;
}

/* --- ctl.sock
 * ----------------------------------------------------------------- */

static int ctl_listen(const char *path, struct ec_err *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return ec_err_set(err, EC_FAIL, "socket path '%s' too long",
				  path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 8) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "listen on '%s'", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A client of ctl.sock wrote a signal name: forward it. */
static void ctl_accept(int lfd, int chan)
{
	char buf[32];
	ssize_t n;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), sig;
	struct pollfd p;

	if (fd < 0)
		return;
	p.fd = fd;
	p.events = POLLIN;
	if (poll(&p, 1, 1000) > 0 && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		sig = signal_number(buf);
		if (sig > 0 && send_signal(chan, sig) == 0)
			(void)!write(fd, "ok\n", 3);
	}
	close(fd);
}

/* --- spawning
 * ------------------------------------------------------------------ */

/* fork + exec QEMU: stdin /dev/null, stdout and stderr to `log`, the
 * channel end as fd 3, the tap (when tapfd >= 0) as fd 4, its own process
 * group, killed when we die. */
static pid_t spawn_qemu(char **argv, int chanfd, int tapfd, int infd,
			const char *log, struct ec_err *err)
{
	int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t parent = getpid(), pid;

	if (logfd < 0 || nullfd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "open '%s'", log);
		pid = -1;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		ec_err_errno(err, EC_FAIL, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		/* above 4 first, so dup2 onto 3 and 4 clobbers neither */
		chanfd = fcntl(chanfd, F_DUPFD_CLOEXEC, 10);
		if (tapfd >= 0)
			tapfd = fcntl(tapfd, F_DUPFD_CLOEXEC, 10);
		if (infd >= 0)
			infd = fcntl(infd, F_DUPFD_CLOEXEC, 10);
		if (chanfd < 0 || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
		    dup2(logfd, 2) < 0 || dup2(chanfd, 3) < 0 ||
		    (tapfd >= 0 && dup2(tapfd, 4) < 0) ||
		    (infd >= 0 && dup2(infd, 5) < 0))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
out:
	if (logfd >= 0)
		close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	return pid;
}

/* --- the run
 * ------------------------------------------------------------------- */

static int check(const struct rt_spec *s, struct ec_err *err)
{
	size_t i;

	if (!s || !s->args || !s->args[0] || !*s->args[0])
		return ec_err_set(err, EC_USAGE, "no command to run");
	for (i = 0;
	     s->mounts && (!s->nmounts || i < s->nmounts) && s->mounts[i].src;
	     i++) {
		const struct rt_mount *m = &s->mounts[i];
		struct stat st;

		if (!m->dst || m->dst[0] != '/')
			return ec_err_set(err, EC_USAGE,
					  "volume target '%s' must be absolute",
					  m->dst ? m->dst : "");
		if (i >= VM_SHARES_MAX)
			return ec_err_set(err, EC_USAGE,
					  "the qemu runtime takes at most %d "
					  "volumes (-v, --tmpfs)",
					  VM_SHARES_MAX);
		if (m->tmpfs)
			continue;
		if (stat(m->src, &st) < 0)
			return ec_err_errno(err, EC_USAGE, errno,
					    "volume source '%s'", m->src);
		if (!S_ISDIR(st.st_mode))
			return ec_err_set(
			    err, EC_USAGE,
			    "volume '%s': the qemu runtime shares directories "
			    "only (virtio-9p cannot export a single file); "
			    "mount the directory that holds it",
			    m->src);
	}
	if (s->network == RT_NET_HOST)
		return ec_err_set(err, EC_USAGE,
				  "the qemu runtime cannot use --network host "
				  "(the VM has its own kernel): use bridge "
				  "(the default) or none");
	if (s->network == RT_NET_PATH && (!s->netns || !*s->netns))
		return ec_err_set(err, EC_USAGE, "no network namespace given");
	if (s->memory_bytes && s->memory_bytes < (uint64_t)MIN_MEM_MB << 20)
		return ec_err_set(err, EC_USAGE,
				  "the qemu runtime needs --memory of at least "
				  "%dM",
				  MIN_MEM_MB);
	if (s->cwd && *s->cwd && s->cwd[0] != '/')
		return ec_err_set(err, EC_USAGE,
				  "working directory '%s' must be absolute",
				  s->cwd);
	return 0;
}

/* The rootfs image's cache key: the manifest digest, else a digest of
 * the layer list (every layer dir is named by its diff id). */
static char *rootfs_key(const struct rt_spec *s)
{
	struct strbuf sb = STRBUF_INIT;
	char hex[SHA256_HEX_LEN + 1];
	const char *const *l;

	if (s->image_digest && *s->image_digest)
		return xstrdup(s->image_digest);
	for (l = s->lowerdirs; l && *l; l++)
		sb_addf(&sb, "%s\n", *l);
	sha256_hex(sb.buf, sb.len, hex);
	sb_release(&sb);
	return xasprintf("layers:%s", hex);
}

struct vmrun {
	const char *id;
	char *rdir, *ctl, *pidfile, *qlog, *clog;
	pid_t pid;
	int chan, ctlfd;
	int kvm;
	int tapfd;    /* the tap in the instance's namespace, or -1 */
	int snapfd;   /* the snapshot restored from, or -1 */
	int restored; /* booted from a snapshot */
	char *snap;   /* its path */
	struct vm_net net;
};

static void write_pidfile(struct vmrun *v)
{
	char buf[32];
	int fd =
	    open(v->pidfile,
		 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return;
	snprintf(buf, sizeof(buf), "%d\n", (int)v->pid);
	(void)!write(fd, buf, strlen(buf));
	close(fd);
}

/* Reap QEMU: wait up to ms, then SIGKILL and wait. Returns its status. */
static int reap(pid_t pid, int ms)
{
	int64_t end = now_ms() + ms;
	int ws = 0;

	while (waitpid(pid, &ws, WNOHANG) == 0) {
		if (now_ms() >= end) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
				;
			break;
		}
		io_sleep_ms(10);
	}
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Spawn QEMU for `qo` on a new socketpair: v->chan, v->pid. */
static int spawn(struct vmrun *v, struct vm_qemu_opts *qo, struct ec_err *err)
{
	char **argv;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "socketpair");
	v->chan = sv[0];
	qo->io_fd = 3;
	qo->console_log = v->clog;
	argv = vm_qemu_argv(qo);
	v->pid = spawn_qemu(argv, sv[1], qo->net_fd > 0 ? v->tapfd : -1,
			    qo->incoming_fd > 0 ? v->snapfd : -1, v->qlog, err);
	vm_strv_free(argv);
	close(sv[1]);
	return v->pid < 0 ? -1 : 0;
}

/* Does a guest boot with KVM here? /dev/kvm can open and still be of no
 * use (nested virtualization that never gets a kernel past its first
 * instructions), so: boot our init with "edgectl.probe", which reports
 * as soon as its channel is up, within PROBE_MS. The answer is kept in
 * vm_dir/accel for this host boot and kernel. */
static int probe_kvm(struct vmrun *v, struct vm_qemu_opts base,
		     const char *vmdir)
{
	_cleanup_free_ char *cache = xasprintf("%s/accel", vmdir);
	_cleanup_free_ char *bootid = NULL, *old = NULL, *key = NULL;
	struct vmrun p = {.id = v->id,
			  .pid = -1,
			  .chan = -1,
			  .ctlfd = -1,
			  .tapfd = -1,
			  .snapfd = -1};
	struct vm_qemu_opts qo = base;
	struct guest g = {0};
	struct chan c;
	int64_t end;
	size_t len;

	if (!vm_kvm_usable())
		return 0;
	{
		char b[64] = "";
		int fd = open("/proc/sys/kernel/random/boot_id",
			      O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, b, sizeof(b) - 1);
			b[n > 0 ? n : 0] = '\0';
			close(fd);
		}
		bootid = xstrdup(*b ? b : "?");
	}
	key = xasprintf("%s %s %s", strtok(bootid, "\n") ?: "?", base.kernel,
			base.initrd);
	if (fs_read_file(cache, 4096, &old, &len, NULL) == 0) {
		char *nl = strchr(old, '\n');
		if (nl && !strncmp(old, key, (size_t)(nl - old)) &&
		    strlen(key) == (size_t)(nl - old))
			return !strcmp(nl + 1, "kvm\n");
	}
	qo.kvm = 1;
	qo.rootfs = NULL;
	qo.net_fd = -1;
	qo.nshares = 0;
	qo.nic = 0;
	qo.incoming_fd = 0;
	qo.qmp = NULL;
	qo.cmdline_extra = "edgectl.probe";
	p.qlog = v->qlog;
	p.clog = v->clog;
	if (spawn(&p, &qo, NULL) == 0) {
		c = (struct chan){.fd = p.chan};
		end = now_ms() + PROBE_MS;
		while (!g.exited && now_ms() < end) {
			struct pollfd pf = {.fd = p.chan, .events = POLLIN};
			if (poll(&pf, 1, 100) > 0 &&
			    chan_read(&c, &g, NULL, NULL) < 0)
				break;
		}
		free(c.buf);
		free(g.failed);
		reap(p.pid, g.exited ? EXIT_WAIT_MS : 0);
	}
	if (p.chan >= 0)
		close(p.chan);
	{
		_cleanup_free_ char *rec =
		    xasprintf("%s\n%s\n", key, g.exited ? "kvm" : "tcg");
		_cleanup_free_ char *tmp =
		    xasprintf("%s.tmp-%d", cache, (int)getpid());
		int fd =
		    open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			(void)!write(fd, rec, strlen(rec));
			close(fd);
			if (rename(tmp, cache) < 0)
				unlink(tmp);
		}
	}
	return g.exited;
}

int rt_qemu_vmm_unsupported(const char *want, struct ec_err *err)
{
	static const char *const vmms[] = {"firecracker", "cloud-hypervisor"};
	size_t i;

	for (i = 0; i < sizeof(vmms) / sizeof(vmms[0]); i++)
		if (!strcmp(want, vmms[i]))
			return ec_err_set(
			    err, EC_NOTFOUND,
			    "runtime '%s' is not supported on this host: "
			    "edgectl has no %s adapter (the VMM is not "
			    "packaged in Debian 12, so none could be "
			    "tested); microVMs run with --runtime qemu%s",
			    want, i == 0 ? "Firecracker" : "cloud-hypervisor",
			    rt_path("qemu") ? ""
					    : ", which needs qemu-system-x86 "
					      "and linux-image-amd64");
	return 0;
}

const char *rt_qemu_accel(const char *vm_dir)
{
	_cleanup_free_ char *cache = xasprintf("%s/accel", vm_dir);
	_cleanup_free_ char *data = NULL;
	char *nl;
	size_t len;

	if (fs_read_file(cache, 4096, &data, &len, NULL) == 0 &&
	    (nl = strchr(data, '\n')))
		return !strcmp(nl + 1, "kvm\n") ? "kvm" : "tcg";
	return vm_kvm_usable() ? "kvm" : "tcg";
}

static void cleanup(struct vmrun *v);
static int boot_error(struct vmrun *v, const char *what, struct ec_err *err);

/* What a VM of spec s boots: kernel, initramfs, rootfs disk (built when
 * missing), memory, vCPUs, the accelerator (v->kvm). Paths in *paths
 * (kernel image, initrd, rootfs; free with free_paths). */
struct paths {
	char *img, *initrd, *rootfs, *vmdir;
};

static void free_paths(struct paths *p)
{
	free(p->img);
	free(p->initrd);
	free(p->rootfs);
	free(p->vmdir);
}

static int prepare(struct vmrun *v, const char *qemu, const char *state_dir,
		   const struct rt_spec *s, struct vm_qemu_opts *qo,
		   struct paths *p, struct ec_err *err)
{
	_cleanup_free_ char *kernel = NULL, *release = NULL;
	_cleanup_free_ char *key = rootfs_key(s);

	memset(p, 0, sizeof(*p));
	p->vmdir =
	    s->vm_dir ? xstrdup(s->vm_dir) : xasprintf("%s/vm", state_dir);
	if (vm_kernel_find(s->vm_kernel, &kernel, &release, err) < 0 ||
	    vm_kernel_boot_image(p->vmdir, kernel, &p->img, err) < 0 ||
	    vm_initramfs_ensure(p->vmdir, release, &p->initrd, err) < 0 ||
	    vm_rootfs_ensure(p->vmdir, key, s->lowerdirs, &p->rootfs, NULL,
			     err) < 0)
		return -1;
	memset(qo, 0, sizeof(*qo));
	qo->qemu = qemu;
	/* --memory limits the entrypoint (a cgroup in the guest); the
	 * guest's RAM adds room for the kernel and the init, and 1/10 for
	 * what grows with the RAM (memory map, reserves): measured on
	 * Debian 12's kernel, the guest's MemAvailable is then above the
	 * limit (64M: 130 MiB of RAM left 49 MB available, 1G + 96 MiB left
	 * 965 MB), so the cgroup's limit is met before the guest's */
	if (s->memory_bytes) {
		uint64_t mb = (s->memory_bytes + (1u << 20) - 1) >> 20;
		qo->memory_mb = mb + MEM_OVERHEAD_MB + mb / 10;
	} else {
		qo->memory_mb = DEFAULT_MEM_MB;
	}
	qo->cpus = s->cpus > 0 ? (unsigned)s->cpus : 1;
	if (s->cpus > qo->cpus)
		qo->cpus++;
	qo->kernel = p->img;
	qo->initrd = p->initrd;
	qo->tsc_khz = vm_host_tsc_khz();
	if (s->vm_accel && !strcmp(s->vm_accel, "tcg"))
		v->kvm = 0;
	else if (s->vm_accel && !strcmp(s->vm_accel, "kvm"))
		v->kvm = 1; /* as told, even where the probe would say no */
	else if (s->vm_accel && *s->vm_accel && strcmp(s->vm_accel, "auto"))
		return ec_err_set(err, EC_USAGE,
				  "vm accel '%s': kvm, tcg or auto",
				  s->vm_accel);
	else
		v->kvm = probe_kvm(v, *qo, p->vmdir);
	qo->kvm = v->kvm;
	qo->rootfs = p->rootfs;
	qo->cmdline_extra = s->vm_cmdline;
	qo->net_fd = -1;
	return 0;
}

/* The snapshot of the VM qo describes (with a NIC, no 9p): under
 * vmdir/snap/, named by a digest of everything that must be the same
 * when it is restored (QEMU binary, kernel image, initramfs (our init),
 * rootfs disk, memory, vCPUs, accelerator, extra command line), after
 * the disk's name (the image digest's hex).
 * Allocated; NULL when QEMU cannot be stat'ed. */
static char *snap_path(const char *vmdir, const struct vm_qemu_opts *qo)
{
	char hex[SHA256_HEX_LEN + 1];
	const char *b = strrchr(qo->rootfs, '/');
	struct stat st;
	char *key;
	size_t bl;

	b = b ? b + 1 : qo->rootfs;
	bl = strcspn(b, ".");
	if (stat(qo->qemu, &st) < 0)
		return NULL;
	key = xasprintf("%s %lld %lld\n%s\n%s\n%s\n%llu %u %d\n%s\n", qo->qemu,
			(long long)st.st_size, (long long)st.st_mtime,
			qo->kernel, qo->initrd, qo->rootfs,
			(unsigned long long)qo->memory_mb, qo->cpus, qo->kvm,
			qo->cmdline_extra ? qo->cmdline_extra : "");
	sha256_hex(key, strlen(key), hex);
	free(key);
	/* <rootfs disk name>-<key>: collected with the disk (vm_gc_disks) */
	return xasprintf("%s/snap/%.*s-%.32s.vmstate", vmdir, (int)bl, b, hex);
}

/* Spawn QEMU (restoring the snapshot when there is one for this VM and
 * no 9p share is asked for), send the config. */
static int boot(struct vmrun *v, const char *qemu, const char *state_dir,
		const struct rt_spec *s, struct ec_err *err)
{
	struct strbuf cfg = STRBUF_INIT;
	struct vm_guest_cfg gc = {0};
	struct vm_qemu_opts qo;
	struct vm_share shares[VM_SHARES_MAX];
	_cleanup_free_ char *snap = NULL;
	size_t nshares = 0, i;
	struct paths p;
	int has9p = 0, r = -1;
	char seed[65];

	if (prepare(v, qemu, state_dir, s, &qo, &p, err) < 0)
		goto out;
	for (i = 0; s->mounts && (!s->nmounts || i < s->nmounts) &&
		    s->mounts[i].src && nshares < VM_SHARES_MAX;
	     i++) {
		shares[nshares++] = (struct vm_share){
		    .host = s->mounts[i].tmpfs ? NULL : s->mounts[i].src,
		    .guest = s->mounts[i].dst,
		    .readonly = s->mounts[i].readonly};
		has9p |= !s->mounts[i].tmpfs;
	}
	qo.shares = shares;
	qo.nshares = nshares;
	if (!has9p && !s->vm_no_snapshot && (snap = snap_path(p.vmdir, &qo)) &&
	    (v->snapfd = open(snap, O_RDONLY | O_CLOEXEC)) >= 0) {
		qo.nic = 1;
		qo.incoming_fd = 5;
		v->restored = 1;
		v->snap = xstrdup(snap);
	}
	if (s->network == RT_NET_PATH) {
		/* CNI attached the namespace as for a container (eth0) */
		if (vm_net_attach(s->netns, "eth0", "ectap0", &v->net,
				  &v->tapfd, err) < 0) {
			ec_err_prefix(err, "VM network");
			goto out;
		}
		qo.net_fd = 4;
		qo.mac = v->net.mac;
	}
	if (spawn(v, &qo, err) < 0)
		goto out;
	write_pidfile(v);
	gc.args = s->args;
	gc.env = s->env;
	gc.cwd = s->cwd && *s->cwd ? s->cwd : NULL;
	gc.user = s->user && *s->user ? s->user : NULL;
	gc.hostname = s->hostname;
	gc.readonly = s->readonly_rootfs;
	gc.net = v->tapfd >= 0 ? &v->net : NULL;
	gc.vips = s->vips;
	gc.shares = shares;
	gc.nshares = nshares;
	gc.memory_max = s->memory_bytes;
	{
		/* a restored guest's RNG is the snapshot's: reseed it */
		unsigned char rnd[32];
		static const char hx[] = "0123456789abcdef";
		if (getrandom(rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd)) {
			for (i = 0; i < sizeof(rnd); i++) {
				seed[2 * i] = hx[rnd[i] >> 4];
				seed[2 * i + 1] = hx[rnd[i] & 15];
			}
			seed[64] = '\0';
			gc.seed = seed;
		}
	}
	vm_config_encode(&gc, &cfg);
	/* the socket buffers it until the guest reads it */
	if (send_frame(v->chan, VM_F_CONFIG, cfg.buf, cfg.len) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "send the VM config");
		goto out;
	}
	r = 0;
out:
	sb_release(&cfg);
	free_paths(&p);
	return r;
}

/* --- snapshots -------------------------------------------------------------
 */

/* One QMP command (a JSON line) and its answer: 0 when it returned. */
static int qmp_cmd(int fd, const char *cmd, struct strbuf *reply, int ms)
{
	int64_t end = now_ms() + ms;
	char buf[4096];

	sb_reset(reply);
	if (cmd && io_write_all(fd, cmd, strlen(cmd), -1, "qmp", NULL) < 0)
		return -1;
	while (now_ms() < end) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		ssize_t n;
		char *nl;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return -1;
		sb_add(reply, buf, (size_t)n);
		/* events may come first: wait for a line with the answer */
		while ((nl = memchr(reply->buf, '\n', reply->len))) {
			size_t ll = (size_t)(nl - reply->buf) + 1;
			int ans =
			    !cmd ? strstr(reply->buf, "\"QMP\"") != NULL
				 : (memmem(reply->buf, ll, "\"return\"", 8) ||
				    memmem(reply->buf, ll, "\"error\"", 7));
			if (ans) {
				reply->buf[ll - 1] = '\0';
				return memmem(reply->buf, ll, "\"error\"", 7)
					   ? -1
					   : 0;
			}
			memmove(reply->buf, nl + 1, reply->len - ll);
			reply->len -= ll;
			reply->buf[reply->len] = '\0';
		}
	}
	return -1;
}

static int qmp_connect(const char *path, int ms)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int64_t end = now_ms() + ms;

	if (strlen(path) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	while (now_ms() < end) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		io_sleep_ms(20);
	}
	return -1;
}

/* Migrate the running VM to `file` through QMP and wait until it is
 * complete. */
static int qmp_save(const char *sock, const char *file, struct ec_err *err)
{
	struct strbuf rep = STRBUF_INIT;
	_cleanup_free_ char *cmd = NULL;
	int fd = qmp_connect(sock, 10000), r = -1;
	int64_t end = now_ms() + 120000;

	if (fd < 0)
		return ec_err_set(err, EC_FAIL, "QMP socket '%s'", sock);
	if (qmp_cmd(fd, NULL, &rep, 10000) < 0 ||
	    qmp_cmd(fd, "{\"execute\":\"qmp_capabilities\"}\n", &rep, 10000) <
		0) {
		ec_err_set(err, EC_FAIL, "QMP handshake: %s", rep.buf ?: "");
		goto out;
	}
	/* the path is ours (vm_dir): refused when a shell would see more */
	if (strpbrk(file, "'\"\\\n")) {
		ec_err_set(err, EC_USAGE, "snapshot path '%s'", file);
		goto out;
	}
	cmd = xasprintf("{\"execute\":\"migrate\",\"arguments\":{\"uri\":"
			"\"exec:cat > '%s'\"}}\n",
			file);
	if (qmp_cmd(fd, cmd, &rep, 10000) < 0) {
		ec_err_set(err, EC_FAIL, "QMP migrate: %s", rep.buf ?: "");
		goto out;
	}
	while (now_ms() < end) {
		if (qmp_cmd(fd, "{\"execute\":\"query-migrate\"}\n", &rep,
			    10000) < 0)
			break;
		if (strstr(rep.buf, "\"completed\"")) {
			r = 0;
			goto out;
		}
		if (strstr(rep.buf, "\"failed\"") ||
		    strstr(rep.buf, "\"cancelled\""))
			break;
		io_sleep_ms(20);
	}
	ec_err_set(err, EC_FAIL, "saving the VM state: %s",
		   rep.buf ? rep.buf : "no answer");
out:
	sb_release(&rep);
	close(fd);
	return r;
}

int rt_qemu_snapshot(const char *qemu, const char *state_dir,
		     const struct rt_spec *s, char **path, int *built,
		     struct ec_err *err)
{
	_cleanup_free_ char *id = xasprintf("snap-%d", (int)getpid());
	_cleanup_free_ char *tmp = NULL, *qmp = NULL;
	struct vmrun v = {.id = id,
			  .pid = -1,
			  .chan = -1,
			  .ctlfd = -1,
			  .tapfd = -1,
			  .snapfd = -1};
	struct vm_qemu_opts qo;
	struct guest g = {0};
	struct paths p = {0};
	struct chan c = {0};
	int r = -1;

	*path = NULL;
	if (built)
		*built = 0;
	if (!qemu)
		return ec_err_set(err, EC_NOTFOUND,
				  "qemu-system-x86_64 is not installed here "
				  "(install qemu-system-x86)");
	if (geteuid() != 0)
		return ec_err_set(err, EC_PERM, "VM snapshots need root");
	v.rdir = state_path(id, NULL);
	v.ctl = state_path(id, "ctl.sock");
	v.pidfile = state_path(id, "pid");
	v.qlog = xasprintf("%s/qemu.log", state_dir);
	v.clog = xasprintf("%s/console.log", state_dir);
	qmp = state_path(id, "qmp.sock");
	if (fs_mkdir_p(state_dir, err) < 0 || fs_mkdir_p(v.rdir, err) < 0 ||
	    prepare(&v, qemu, state_dir, s, &qo, &p, err) < 0)
		goto out;
	if (!(*path = snap_path(p.vmdir, &qo))) {
		ec_err_errno(err, EC_NOTFOUND, errno, "'%s'", qemu);
		goto out;
	}
	if (access(*path, R_OK) == 0) {
		r = 0;
		goto out;
	}
	{
		_cleanup_free_ char *sd = xasprintf("%s/snap", p.vmdir);
		if (fs_mkdir_p(sd, err) < 0)
			goto out;
	}
	tmp = xasprintf("%s.tmp-%d", *path, (int)getpid());
	qo.nic = 1;
	qo.qmp = qmp;
	if (spawn(&v, &qo, err) < 0)
		goto out;
	/* boot to the init's wait for its config */
	c.fd = v.chan;
	{
		int64_t end =
		    now_ms() + (s->vm_boot_timeout_ms ? s->vm_boot_timeout_ms
						      : DEFAULT_BOOT_MS);
		while (!g.waiting && !g.failed && now_ms() < end) {
			struct pollfd pf = {.fd = v.chan, .events = POLLIN};
			if (poll(&pf, 1, 100) > 0 &&
			    chan_read(&c, &g, NULL, NULL) < 0)
				break;
		}
	}
	if (!g.waiting) {
		boot_error(&v, "the guest did not come up for its snapshot",
			   err);
		goto out;
	}
	if (qmp_save(qmp, tmp, err) < 0)
		goto out;
	if (rename(tmp, *path) < 0) {
		ec_err_errno(err, EC_FAIL, errno, "rename '%s'", tmp);
		goto out;
	}
	if (built)
		*built = 1;
	r = 0;
out:
	if (tmp)
		unlink(tmp);
	free(c.buf);
	free(g.failed);
	if (r < 0) {
		free(*path);
		*path = NULL;
	}
	unlink(qmp);
	cleanup(&v);
	rmdir(state_dir);
	free_paths(&p);
	return r;
}

/* Why the guest ended without an exit status, from QEMU's own log and the
 * console. */
static int boot_error(struct vmrun *v, const char *what, struct ec_err *err)
{
	_cleanup_free_ char *q = log_tail(v->qlog), *c = log_tail(v->clog);
	int gone = 0;

	/* a snapshot that does not come up is a broken cache entry: it goes,
	 * so the next run boots cold instead of failing the same way */
	if (v->restored && v->snap)
		gone = unlink(v->snap) == 0;
	return ec_err_set(err, EC_FAIL, "VM '%s' (%s%s): %s%s%s%s%s%s", v->id,
			  v->kvm ? "kvm" : "tcg",
			  v->restored ? ", restored from a snapshot" : "", what,
			  q ? "; qemu: " : "", q ? q : "",
			  c ? "; console: " : "", c ? c : "",
			  gone ? "; the snapshot was removed (the next run "
				 "boots cold)"
			       : "");
}

/* The poll loop; see the head comment. */
static int drive(struct vmrun *v, const struct rt_spec *s, rt_output_fn out,
		 void *ctx, const volatile int *cancel, int *exit_status,
		 struct ec_err *err)
{
	unsigned boot_ms =
	    s->vm_boot_timeout_ms ? s->vm_boot_timeout_ms : DEFAULT_BOOT_MS;
	unsigned grace = s->kill_grace_ms ? s->kill_grace_ms : DEFAULT_GRACE_MS;
	int64_t start = now_ms(), cancel_at = 0;
	struct chan c = {.fd = v->chan};
	struct guest g = {0};
	int eof = 0, qstatus = -1, killed = 0, r;

	while (!g.exited && !g.failed && !eof) {
		struct pollfd p[2] = {{.fd = v->chan, .events = POLLIN},
				      {.fd = v->ctlfd, .events = POLLIN}};
		int64_t now;

		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if (p[0].revents && chan_read(&c, &g, out, ctx) < 0)
			eof = 1;
		if (p[1].revents & POLLIN)
			ctl_accept(v->ctlfd, v->chan);
		now = now_ms();
		if (cancel && *cancel && !cancel_at) {
			cancel_at = now;
			send_signal(v->chan, SIGTERM);
		}
		if (cancel_at && !killed && now - cancel_at > grace) {
			killed = 1;
			send_signal(v->chan, SIGKILL);
		}
		if (cancel_at && now - cancel_at > (int64_t)grace + 5000)
			break; /* the guest does not react: QEMU is killed */
		if (!g.ready && now - start > boot_ms) {
			kill(v->pid, SIGKILL);
			reap(v->pid, 0);
			v->pid = -1;
			free(c.buf);
			return boot_error(v,
					  cancel_at
					      ? "stopped before it booted"
					      : "the guest did not start its "
						"entrypoint in time",
					  err);
		}
		if (!eof && waitpid(v->pid, NULL, WNOHANG) == v->pid) {
			/* its output may still be in the socket */
			while (chan_read(&c, &g, out, ctx) == 0 && !g.exited &&
			       !g.failed)
				;
			v->pid = -1;
			break;
		}
	}
	free(c.buf);
	if (v->pid > 0) {
		qstatus = reap(v->pid, g.exited || g.failed ? EXIT_WAIT_MS : 0);
		v->pid = -1;
	}
	if (g.failed) {
		r = ec_err_set(err, EC_FAIL, "start in VM '%s': %s", v->id,
			       g.failed);
		free(g.failed);
		return r;
	}
	if (g.exited) {
		*exit_status = g.status;
		if (g.oom && out) {
			/* what a container's user learns from the 137 and
			 * the cgroup, said where the output goes (logs) */
			static const char m[] =
			    "edgectl: killed in the VM: out of memory "
			    "(over its --memory limit)\n";
			out(ctx, 2, m, sizeof(m) - 1);
		}
		if (cancel_at)
			return ec_err_set(err, EC_INTR,
					  "container '%s' was stopped", v->id);
		return 0;
	}
	(void)qstatus;
	if (cancel_at)
		return ec_err_set(err, EC_INTR, "container '%s' was stopped",
				  v->id);
	return boot_error(v,
			  g.ready ? "the VM ended without an exit status"
				  : "the guest ended before its entrypoint ran",
			  err);
}

static void cleanup(struct vmrun *v)
{
	if (v->pid > 0) {
		kill(v->pid, SIGKILL);
		reap(v->pid, 0);
	}
	if (v->chan >= 0)
		close(v->chan);
	if (v->ctlfd >= 0)
		close(v->ctlfd);
	if (v->tapfd >= 0)
		close(v->tapfd);
	if (v->snapfd >= 0)
		close(v->snapfd);
	unlink(v->ctl);
	unlink(v->pidfile);
	rmdir(v->rdir);
	unlink(v->qlog);
	unlink(v->clog);
	free(v->rdir);
	free(v->ctl);
	free(v->pidfile);
	free(v->qlog);
	free(v->clog);
	free(v->snap);
}

int rt_qemu_run(const char *qemu, const char *id, const char *state_dir,
		const struct rt_spec *spec, rt_output_fn out, void *ctx,
		const volatile int *cancel, int *exit_status,
		struct ec_err *err)
{
	struct vmrun v = {.id = id,
			  .pid = -1,
			  .chan = -1,
			  .ctlfd = -1,
			  .tapfd = -1,
			  .snapfd = -1};
	char *status = NULL;
	int r = -1;

	ec_err_clear(err);
	*exit_status = -1;
	if (!qemu)
		return ec_err_set(err, EC_NOTFOUND,
				  "qemu-system-x86_64 is not installed here "
				  "(install qemu-system-x86)");
	if (check(spec, err) < 0 || rt_check_id(id, err) < 0)
		return -1;
	if (geteuid() != 0)
		return ec_err_set(err, EC_PERM,
				  "running VMs needs root (the rootfs image is "
				  "built from mounted layers)");
	if (!state_dir || !*state_dir)
		return ec_err_set(err, EC_USAGE, "no state directory given");
	if (rt_qemu_state(id, &status, NULL, NULL) == 0 && status) {
		free(status);
		return ec_err_set(err, EC_CONFLICT, "VM '%s' is running", id);
	}
	v.kvm = vm_kvm_usable();
	v.rdir = state_path(id, NULL);
	v.ctl = state_path(id, "ctl.sock");
	v.pidfile = state_path(id, "pid");
	v.qlog = xasprintf("%s/qemu.log", state_dir);
	v.clog = xasprintf("%s/console.log", state_dir);
	if (fs_mkdir_p(state_dir, err) < 0 || fs_mkdir_p(v.rdir, err) < 0 ||
	    (v.ctlfd = ctl_listen(v.ctl, err)) < 0)
		goto out;
	if (cancel && *cancel) {
		ec_err_set(err, EC_INTR, "container '%s' was stopped", id);
		goto out;
	}
	if (boot(&v, qemu, state_dir, spec, err) < 0)
		goto out;
	r = drive(&v, spec, out, ctx, cancel, exit_status, err);
out:
	cleanup(&v);
	rmdir(state_dir);
	if (r < 0 && err && err->cat != EC_INTR)
		ec_err_prefix(err, "container '%s'", id);
	return r;
}

/* --- state, kill -------------------------------------------------------------
 */

static pid_t read_pid(const char *id)
{
	_cleanup_free_ char *path = state_path(id, "pid"), *data = NULL;
	char exe[64], link[256];
	size_t len;
	ssize_t n;
	long pid;

	if (rt_check_id(id, NULL) < 0 ||
	    fs_read_file(path, 64, &data, &len, NULL) < 0)
		return -1;
	pid = strtol(data, NULL, 10);
	if (pid <= 1)
		return -1;
	/* still QEMU, not a recycled pid */
	snprintf(exe, sizeof(exe), "/proc/%ld/exe", pid);
	n = readlink(exe, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = '\0';
	return strstr(link, "qemu-system") ? (pid_t)pid : -1;
}

int rt_qemu_state(const char *id, char **status, int *pid, struct ec_err *err)
{
	pid_t p = read_pid(id);

	(void)err;
	*status = p > 0 ? xstrdup("running") : NULL;
	if (pid)
		*pid = p > 0 ? (int)p : 0;
	return 0;
}

int rt_qemu_kill(const char *id, const char *sig, struct ec_err *err)
{
	_cleanup_free_ char *path = NULL;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct pollfd p;
	char buf[8];
	int fd, r = -1;

	if (rt_check_id(id, err) < 0)
		return -1;
	if (signal_number(sig) < 0)
		return ec_err_set(err, EC_USAGE, "signal '%s'", sig);
	path = state_path(id, "ctl.sock");
	if (strlen(path) >= sizeof(a.sun_path))
		return ec_err_set(err, EC_FAIL, "path '%s' too long", path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ec_err_errno(err, EC_NOTFOUND, errno, "VM '%s' is not running",
			     id);
		goto out;
	}
	if (io_write_all(fd, sig, strlen(sig), -1, "ctl.sock", err) < 0 ||
	    io_write_all(fd, "\n", 1, -1, "ctl.sock", err) < 0)
		goto out;
	p.fd = fd;
	p.events = POLLIN;
	if (poll(&p, 1, 5000) > 0 && read(fd, buf, sizeof(buf)) > 0)
		r = 0;
	else
		ec_err_set(err, EC_FAIL, "VM '%s' did not take signal %s", id,
			   sig);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int rt_qemu_delete_force(const char *id, struct ec_err *err)
{
	pid_t p = read_pid(id);

	(void)err;
	if (p > 0)
		kill(p, SIGKILL);
	return 0;
}
