/* init.c - PID 1 of an edgectl microVM (`run --runtime qemu`).
 *
 * Built static (no libc NSS, no shared libraries) into the initramfs that
 * src/vm/initramfs.c writes. It
 *   1. mounts /proc, /sys, /dev and loads the kernel modules found in /m
 *      (in name order: the host wrote them dependencies first), passing
 *      virtio_mmio the virtio_mmio.* parameters of the kernel command line
 *      (QEMU's microvm puts its devices there; modprobe would do the same);
 *   2. opens the virtio-serial port named VM_PORT_NAME and reads the config
 *      frame (src/vm/proto.h): argv, env, cwd, user, hostname;
 *   3. mounts the image (erofs on /dev/vda, read-only) under a tmpfs
 *      overlay, moves it to / with /proc, /sys, /dev, /dev/pts, /dev/shm;
 *   4. runs the entrypoint as the image's user with its output in pipes,
 *      forwards it as frames, forwards signals from the host, reaps
 *      orphans, and reports the exit status (128+N when killed by N);
 *   5. waits for the host's ack (at most 2 s) and resets the machine,
 *      which QEMU (-no-reboot) turns into its own exit.
 * With "edgectl.probe" on the command line it reports exit status 0 as soon
 * as the port is open (the host's check that an accelerator boots us).
 * Any failure before the entrypoint runs is an 'F' frame when the port is
 * open, and a line on the console (ttyS0) in every case. */
#include "vm/proto.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ITEMS 4096
#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int port = -1;
static int debug; /* "edgectl.debug" on the command line: progress lines */

#define MAX_VIPS   64
#define MAX_MOUNTS 32

struct config {
	char *args[MAX_ITEMS + 1];
	char *env[MAX_ITEMS + 3];
	size_t nargs, nenv;
	const char *cwd, *user, *hostname;
	int readonly;
	const char *mac, *addr, *gw, *mtu;
	const char *vips[MAX_VIPS];
	size_t nvips;
	const char *mounts[MAX_MOUNTS];
	size_t nmounts;
	const char *seed;
	const char *memory; /* the entrypoint's limit in bytes, decimal */
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("edgectl-init: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(int type, const void *data, size_t len)
{
	uint8_t h[VM_FRAME_HDR];

	if (port < 0)
		return -1;
	vm_frame_hdr(h, type, (uint32_t)len);
	if (write_all(port, h, sizeof(h)) < 0)
		return -1;
	return len ? write_all(port, data, len) : 0;
}

static void power_off(void)
{
	sync();
	reboot(RB_AUTOBOOT); /* QEMU runs with -no-reboot: it exits */
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

/* Wait up to ms for the host's ack of the exit frame (any bytes will do:
 * the host sends nothing else after it has the exit frame). */
static void wait_ack(int ms)
{
	struct pollfd p = {.fd = port, .events = POLLIN};
	char buf[256];

	if (port >= 0 && poll(&p, 1, ms) > 0)
		(void)!read(port, buf, sizeof(buf));
}

/* Fatal before the entrypoint ran: tell the console and the host. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("%s", msg);
	if (send_frame(VM_F_FAILED, msg, strlen(msg)) == 0)
		wait_ack(2000);
	power_off();
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void mount_or_fail(const char *src, const char *dst, const char *type,
			  unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0)
		fail("mount %s on '%s': %s", type, dst, strerror(errno));
}

/* --- modules -------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "virtio_mmio.device=X virtio_mmio.foo=Y" of the command line as
 * "device=X foo=Y" for module `mod`. */
static void module_params(const char *cmdline, const char *mod, char *out,
			  size_t outlen)
{
	size_t ml = strlen(mod), o = 0;
	const char *p = cmdline;

	out[0] = '\0';
	while (*p) {
		size_t n;

		while (*p == ' ' || *p == '\n')
			p++;
		n = strcspn(p, " \n");
		if (n > ml + 1 && !strncmp(p, mod, ml) && p[ml] == '.' &&
		    o + n - ml + 1 < outlen) {
			o += (size_t)snprintf(out + o, outlen - o, "%s%.*s",
					      o ? " " : "", (int)(n - ml - 1),
					      p + ml + 1);
		}
		p += n;
	}
}

static char cmdline[4096];

static void read_cmdline(void)
{
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t r = read(fd, cmdline, sizeof(cmdline) - 1);
		cmdline[r > 0 ? r : 0] = '\0';
		close(fd);
	}
	debug = strstr(cmdline, "edgectl.debug") != NULL;
}

/* Load the modules (*.ko*) in dir, in name order. */
static void load_modules(const char *dir)
{
	char *names[64], params[2048];
	size_t n = 0, i;
	struct dirent *de;
	DIR *d;
	int fd;

	if (!(d = opendir(dir)))
		return; /* everything built in */
	while ((de = readdir(d)) && n < 64)
		if (de->d_name[0] != '.' && strstr(de->d_name, ".ko"))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		char path[512], mod[256], *dot;
		const char *base = strchr(names[i], '-');
		int flags = 0;

		snprintf(mod, sizeof(mod), "%s", base ? base + 1 : names[i]);
		if ((dot = strstr(mod, ".ko")))
			*dot = '\0';
		if (dot && dot[3])
			flags =
			    4; /* MODULE_INIT_COMPRESSED_FILE: .ko.xz/.zst */
		module_params(cmdline, mod, params, sizeof(params));
		if (debug)
			say("load %s (%s)", mod, params);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 ||
		    (syscall(SYS_finit_module, fd, params, flags) < 0 &&
		     errno != EEXIST))
			fail("load module '%s': %s", mod, strerror(errno));
		close(fd);
		free(names[i]);
	}
}

/* --- the channel ---------------------------------------------------------- */

/* The /dev node of the virtio-serial port named VM_PORT_NAME, waiting for
 * it (ports appear after the host answers the driver's control messages). */
static int open_port(void)
{
	int tries;

	for (tries = 0; tries < 500; tries++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char path[512], name[128] = "";
			ssize_t r;
			int fd;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path),
				 "/sys/class/virtio-ports/%s/name", de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			r = read(fd, name, sizeof(name) - 1);
			close(fd);
			name[r > 0 ? r : 0] = '\0';
			name[strcspn(name, "\n")] = '\0';
			if (strcmp(name, VM_PORT_NAME))
				continue;
			snprintf(path, sizeof(path), "/dev/%s", de->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd >= 0) {
				closedir(d);
				return fd;
			}
		}
		if (d)
			closedir(d);
		sleep_ms(10);
	}
	fail("no virtio-serial port named '%s'", VM_PORT_NAME);
	return -1;
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read frames until the config frame; decode it into c. */
static void read_config(struct config *c)
{
	uint8_t h[VM_FRAME_HDR];
	uint32_t len;
	char *buf, *p, *end;

	for (;;) {
		if (read_full(port, h, sizeof(h)) < 0)
			fail("read config: %s", strerror(errno));
		len = vm_frame_len(h);
		if (len > VM_FRAME_MAX)
			fail("config frame of %u bytes", len);
		buf = malloc(len + 1);
		if (!buf || read_full(port, buf, len) < 0)
			fail("read config: %s", strerror(errno));
		buf[len] = '\0';
		if (h[0] == VM_F_CONFIG)
			break;
		free(buf);
	}
	/* (key NUL value NUL)...; buf stays allocated: c points into it */
	for (p = buf, end = buf + len; p < end;) {
		char key = *p;
		char *v;

		if (p[1] != '\0' || p + 2 > end)
			fail("config: bad record at offset %zu",
			     (size_t)(p - buf));
		v = p + 2;
		p = v + strlen(v) + 1;
		if (p > end + 1)
			fail("config: value runs past the frame");
		if (key == VM_K_ARG && c->nargs < MAX_ITEMS)
			c->args[c->nargs++] = v;
		else if (key == VM_K_ENV && c->nenv < MAX_ITEMS)
			c->env[c->nenv++] = v;
		else if (key == VM_K_CWD)
			c->cwd = v;
		else if (key == VM_K_USER)
			c->user = v;
		else if (key == VM_K_HOSTNAME)
			c->hostname = v;
		else if (key == VM_K_READONLY)
			c->readonly = !strcmp(v, "1");
		else if (key == VM_K_MAC)
			c->mac = v;
		else if (key == VM_K_ADDR)
			c->addr = v;
		else if (key == VM_K_GW)
			c->gw = v;
		else if (key == VM_K_MTU)
			c->mtu = v;
		else if (key == VM_K_VIP && c->nvips < MAX_VIPS)
			c->vips[c->nvips++] = v;
		else if (key == VM_K_MOUNT && c->nmounts < MAX_MOUNTS)
			c->mounts[c->nmounts++] = v;
		else if (key == VM_K_SEED)
			c->seed = v;
		else if (key == VM_K_MEMORY)
			c->memory = v;
	}
	if (!c->nargs)
		fail("config: no command to run");
}

static void mount_volumes(const struct config *c);

/* --- rootfs --------------------------------------------------------------- */

static void mount_root(const struct config *c)
{
	if (c->readonly) {
		mount_or_fail("/dev/vda", "/newroot", "erofs", MS_RDONLY, NULL);
	} else {
		mount_or_fail("/dev/vda", "/lower", "erofs", MS_RDONLY, NULL);
		mount_or_fail("tmpfs", "/rw", "tmpfs", 0, "mode=0755");
		mkdir("/rw/upper", 0755);
		mkdir("/rw/work", 0755);
		mount_or_fail("overlay", "/newroot", "overlay", 0,
			      "lowerdir=/lower,upperdir=/rw/upper,"
			      "workdir=/rw/work,redirect_dir=off,"
			      "metacopy=off,index=off");
	}
	mount_volumes(c);
	/* the API filesystems; on a read-only root without the directory
	 * they are left out, as a container runtime would fail less kindly */
	if (mkdir("/newroot/proc", 0555) == 0 || errno == EEXIST)
		mount("proc", "/newroot/proc", "proc",
		      MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (mkdir("/newroot/sys", 0555) == 0 || errno == EEXIST)
		mount("sysfs", "/newroot/sys", "sysfs",
		      MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
	if (mkdir("/newroot/dev", 0755) == 0 || errno == EEXIST) {
		mount("devtmpfs", "/newroot/dev", "devtmpfs", MS_NOSUID,
		      "mode=0755");
		mkdir("/newroot/dev/pts", 0755);
		mount("devpts", "/newroot/dev/pts", "devpts",
		      MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666");
		mkdir("/newroot/dev/shm", 01777);
		mount("shm", "/newroot/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
		      "mode=1777");
	}
	if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0)
		fail("switch to the image's root: %s", strerror(errno));
}

/* --- network -------------------------------------------------------------- */

static void nl_attr(struct nlmsghdr *h, int type, const void *data,
		    size_t len)
{
	struct rtattr *rta =
	    (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	rta->rta_type = (unsigned short)type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Send one rtnetlink request, wait for its ack. -1 with errno. */
static int nl_do(struct nlmsghdr *h)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	char buf[4096];
	ssize_t n;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int e = 0;

	if (fd < 0)
		return -1;
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = 1;
	if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0) {
		e = errno;
	} else if ((n = recv(fd, buf, sizeof(buf), 0)) <
		   (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		e = n < 0 ? errno : EPROTO;
	} else {
		struct nlmsghdr *r = (struct nlmsghdr *)buf;
		if (r->nlmsg_type == NLMSG_ERROR)
			e = -((struct nlmsgerr *)NLMSG_DATA(r))->error;
	}
	close(fd);
	errno = e;
	return e ? -1 : 0;
}

static void add_addr(const char *dev, const char *ip, int prefix)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg a;
		char attrs[64];
	} req;
	struct in_addr a;

	memset(&req, 0, sizeof(req));
	if (inet_pton(AF_INET, ip, &a) != 1 || prefix < 0 || prefix > 32)
		fail("address '%s/%d' is not IPv4", ip, prefix);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.a));
	req.h.nlmsg_type = RTM_NEWADDR;
	req.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	req.a.ifa_family = AF_INET;
	req.a.ifa_prefixlen = (unsigned char)prefix;
	req.a.ifa_index = if_nametoindex(dev);
	nl_attr(&req.h, IFA_LOCAL, &a, sizeof(a));
	nl_attr(&req.h, IFA_ADDRESS, &a, sizeof(a));
	if (!req.a.ifa_index || nl_do(&req.h) < 0)
		fail("add %s/%d to %s: %s", ip, prefix, dev, strerror(errno));
}

static void add_default_route(const char *gw)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg r;
		char attrs[64];
	} req;
	struct in_addr a;

	memset(&req, 0, sizeof(req));
	if (inet_pton(AF_INET, gw, &a) != 1)
		fail("gateway '%s' is not IPv4", gw);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.r));
	req.h.nlmsg_type = RTM_NEWROUTE;
	req.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	req.r.rtm_family = AF_INET;
	req.r.rtm_table = RT_TABLE_MAIN;
	req.r.rtm_protocol = RTPROT_BOOT;
	req.r.rtm_scope = RT_SCOPE_UNIVERSE;
	req.r.rtm_type = RTN_UNICAST;
	nl_attr(&req.h, RTA_GATEWAY, &a, sizeof(a));
	if (nl_do(&req.h) < 0)
		fail("default route via %s: %s", gw, strerror(errno));
}

static void link_up(int s, const char *dev)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail("interface %s: %s", dev, strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail("set %s up: %s", dev, strerror(errno));
}

/* lo up with the VIPs; eth0 with the CNI interface's MAC, MTU, address
 * and default route (the host moved its traffic to us: src/vm/net.c). */
static void net_setup(const struct config *c)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	size_t i;

	if (s < 0)
		fail("socket: %s", strerror(errno));
	link_up(s, "lo");
	for (i = 0; i < c->nvips; i++)
		add_addr("lo", c->vips[i], 32);
	if (c->addr) {
		struct ifreq ifr;
		unsigned m[6];
		char ip[64], *slash;

		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
		if (c->mac &&
		    sscanf(c->mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2],
			   &m[3], &m[4], &m[5]) == 6) {
			ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
			for (i = 0; i < 6; i++)
				ifr.ifr_hwaddr.sa_data[i] = (char)m[i];
			if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
				fail("MAC of eth0: %s", strerror(errno));
		}
		if (c->mtu) {
			ifr.ifr_mtu = atoi(c->mtu);
			if (ifr.ifr_mtu >= 68 && ioctl(s, SIOCSIFMTU, &ifr) < 0)
				fail("MTU of eth0: %s", strerror(errno));
		}
		link_up(s, "eth0");
		snprintf(ip, sizeof(ip), "%s", c->addr);
		slash = strchr(ip, '/');
		if (slash)
			*slash++ = '\0';
		add_addr("eth0", ip, slash ? atoi(slash) : 32);
		if (c->gw && *c->gw)
			add_default_route(c->gw);
	}
	close(s);
}

/* The host's randomness into the RNG, credited, and the CRNG reseeded
 * from it: a VM restored from a snapshot must not replay the snapshot's
 * random stream. */
static void reseed(const char *hex)
{
	struct {
		int entropy_count, buf_size;
		unsigned char buf[32];
	} e;
	size_t i;
	int fd;

	if (!hex || strlen(hex) != 64)
		return;
	for (i = 0; i < 32; i++) {
		unsigned b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return;
		e.buf[i] = (unsigned char)b;
	}
	e.entropy_count = 256;
	e.buf_size = 32;
	fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open /dev/urandom: %s", strerror(errno));
	if (ioctl(fd, RNDADDENTROPY, &e) < 0 ||
	    ioctl(fd, RNDRESEEDCRNG, 0) < 0)
		fail("reseed the RNG: %s", strerror(errno));
	close(fd);
}

/* --- volumes -------------------------------------------------------------- */

/* mkdir -p of path (absolute) under /newroot. */
static void mkdir_under_root(const char *path, char *out, size_t len)
{
	char *p;

	snprintf(out, len, "/newroot%s", path);
	for (p = out + strlen("/newroot") + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(out, 0755);
			*p = '/';
		}
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		fail("volume mount point '%s': %s", path, strerror(errno));
}

/* "v<N> <ro> <path>": the virtio-9p share tagged v<N>; "- <ro> <path>" a
 * tmpfs. On the new root before it becomes / (its tmpfs overlay holds
 * the mount points). */
static void mount_volumes(const struct config *c)
{
	size_t i;

	for (i = 0; i < c->nmounts; i++) {
		char tag[16], target[4096];
		const char *path;
		int ro, n = 0;

		if (sscanf(c->mounts[i], "%15s %d %n", tag, &ro, &n) != 2 ||
		    !n || c->mounts[i][n] != '/')
			fail("config: bad volume '%s'", c->mounts[i]);
		path = c->mounts[i] + n;
		mkdir_under_root(path, target, sizeof(target));
		if (!strcmp(tag, "-")) {
			if (mount("tmpfs", target, "tmpfs",
				  MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0),
				  "mode=1777") < 0)
				fail("tmpfs on '%s': %s", path,
				     strerror(errno));
		} else if (mount(tag, target, "9p", ro ? MS_RDONLY : 0,
				 "trans=virtio,version=9p2000.L,"
				 "msize=512000,access=client") < 0) {
			fail("volume '%s' (9p %s): %s", path, tag,
			     strerror(errno));
		}
	}
}

/* --- user ----------------------------------------------------------------- */

struct user {
	uid_t uid;
	gid_t gid;
	gid_t gids[64];
	int ngids;
	char name[256], home[512];
};

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Field i (0-based) of a ':'-separated line, copied into out. */
static void field(const char *line, int i, char *out, size_t len)
{
	const char *p = line;
	size_t n;

	while (i-- > 0 && (p = strchr(p, ':')))
		p++;
	if (!p) {
		out[0] = '\0';
		return;
	}
	n = strcspn(p, ":\n");
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
}

/* The line of /etc/passwd or /etc/group whose name (key_field 0) or id
 * (key_field 2) is `key`. */
static int lookup(const char *file, int key_field, const char *key, char *line,
		  size_t len)
{
	FILE *f = fopen(file, "re");
	char k[256];

	if (!f)
		return -1;
	while (fgets(line, (int)len, f)) {
		field(line, key_field, k, sizeof(k));
		if (!strcmp(k, key)) {
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

static void resolve_user(const char *spec, struct user *u)
{
	char ubuf[256] = "", gbuf[256] = "", line[2048], f[512];
	const char *colon;
	FILE *gf;

	memset(u, 0, sizeof(*u));
	snprintf(u->home, sizeof(u->home), "/");
	if (!spec || !*spec)
		spec = "0";
	colon = strchr(spec, ':');
	snprintf(ubuf, sizeof(ubuf), "%.*s",
		 (int)(colon ? (size_t)(colon - spec) : strlen(spec)), spec);
	if (colon)
		snprintf(gbuf, sizeof(gbuf), "%s", colon + 1);
	if (all_digits(ubuf)) {
		u->uid = (uid_t)strtoul(ubuf, NULL, 10);
		if (lookup("/etc/passwd", 2, ubuf, line, sizeof(line)) == 0) {
			field(line, 0, u->name, sizeof(u->name));
			field(line, 3, f, sizeof(f));
			u->gid = (gid_t)strtoul(f, NULL, 10);
			field(line, 5, u->home, sizeof(u->home));
		}
	} else if (lookup("/etc/passwd", 0, ubuf, line, sizeof(line)) == 0) {
		snprintf(u->name, sizeof(u->name), "%s", ubuf);
		field(line, 2, f, sizeof(f));
		u->uid = (uid_t)strtoul(f, NULL, 10);
		field(line, 3, f, sizeof(f));
		u->gid = (gid_t)strtoul(f, NULL, 10);
		field(line, 5, u->home, sizeof(u->home));
	} else {
		fail("user '%s' is not in the image's /etc/passwd", ubuf);
	}
	if (all_digits(gbuf)) {
		u->gid = (gid_t)strtoul(gbuf, NULL, 10);
	} else if (*gbuf) {
		if (lookup("/etc/group", 0, gbuf, line, sizeof(line)) < 0)
			fail("group '%s' is not in the image's /etc/group",
			     gbuf);
		field(line, 2, f, sizeof(f));
		u->gid = (gid_t)strtoul(f, NULL, 10);
	}
	u->gids[u->ngids++] = u->gid;
	/* supplementary groups: the user named in a group's member list */
	if (*u->name && !*gbuf && (gf = fopen("/etc/group", "re"))) {
		while (fgets(line, sizeof(line), gf) && u->ngids < 64) {
			char members[1536], *m, *save = NULL;
			field(line, 3, members, sizeof(members));
			for (m = strtok_r(members, ",", &save); m;
			     m = strtok_r(NULL, ",", &save))
				if (!strcmp(m, u->name)) {
					field(line, 2, f, sizeof(f));
					u->gids[u->ngids++] =
					    (gid_t)strtoul(f, NULL, 10);
					break;
				}
		}
		fclose(gf);
	}
	if (!*u->home)
		snprintf(u->home, sizeof(u->home), "/");
}

/* --- the entrypoint ------------------------------------------------------- */

static const char *env_get(char **env, const char *key)
{
	size_t kl = strlen(key);

	for (; *env; env++)
		if (!strncmp(*env, key, kl) && (*env)[kl] == '=')
			return *env + kl + 1;
	return NULL;
}

/* --- the entrypoint's memory cgroup --------------------------------------
 * cgroup2 on /cg (in the initramfs: hidden by the image's root later, the
 * fd stays), the memory controller on, the entrypoint in /cg/w with
 * memory.max = the config's limit. The guest's RAM is that limit plus room
 * for the kernel and this init (the host adds it), so it is the workload
 * that its OOM killer meets, as in a container, and memory.events tells
 * that it did. */
static int cg_dir = -1;

static int cg_write(int dir, const char *file, const char *val)
{
	int fd = openat(dir, file, O_WRONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		n = write(fd, val, strlen(val));
		close(fd);
	}
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

static void cgroup_setup(const struct config *c)
{
	int root;

	if (mkdir("/cg", 0755) < 0 && errno != EEXIST)
		fail("mkdir /cg: %s", strerror(errno));
	mount_or_fail("cgroup2", "/cg", "cgroup2",
		      MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	root = open("/cg", O_DIRECTORY | O_CLOEXEC);
	if (root < 0 || cg_write(root, "cgroup.subtree_control", "+memory") ||
	    (mkdirat(root, "w", 0755) < 0 && errno != EEXIST) ||
	    (cg_dir = openat(root, "w", O_DIRECTORY | O_CLOEXEC)) < 0)
		fail("memory cgroup: %s", strerror(errno));
	close(root);
	if (c->memory && cg_write(cg_dir, "memory.max", c->memory) < 0)
		fail("memory.max %s: %s", c->memory, strerror(errno));
	/* no swap in the guest; where the kernel has the file, say so */
	(void)cg_write(cg_dir, "memory.swap.max", "0");
}

/* A counter of memory.events ("oom", "oom_kill"), 0 when unknown. */
static long cg_event(const char *key)
{
	char buf[512], *p;
	size_t kl = strlen(key);
	ssize_t n;
	int fd;

	if (cg_dir < 0 ||
	    (fd = openat(cg_dir, "memory.events", O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (p = buf; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
		if (!strncmp(p, key, kl) && p[kl] == ' ')
			return strtol(p + kl + 1, NULL, 10);
	return 0;
}

/* In the child: report why it failed on `st` (CLOEXEC), exit 127. */
static void child_fail(int st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void child_fail(int st, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)!write(st, msg, strlen(msg));
	_exit(127);
}

static void exec_child(struct config *c, const struct user *u, int out, int err,
		       int st)
{
	const char *path = env_get(c->env, "PATH");
	char buf[4096];
	int devnull = open("/dev/null", O_RDWR);
	int saved = ENOENT;

	setsid();
	/* into the memory cgroup, in a cgroup namespace of its own with
	 * /sys/fs/cgroup read-only showing it as the root, as a container
	 * sees its limit (runtimes that size heaps from memory.max) */
	if (cg_dir >= 0) {
		if (cg_write(cg_dir, "cgroup.procs", "0") < 0)
			child_fail(st, "join the memory cgroup: %s",
				   strerror(errno));
		if (unshare(CLONE_NEWCGROUP) == 0)
			mount("cgroup2", "/sys/fs/cgroup", "cgroup2",
			      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			      NULL);
	}
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(err, 2) < 0)
		child_fail(st, "set up stdio: %s", strerror(errno));
	if (setgroups((size_t)u->ngids, u->gids) < 0 || setgid(u->gid) < 0 ||
	    setuid(u->uid) < 0)
		child_fail(st, "switch to uid %u gid %u: %s", (unsigned)u->uid,
			   (unsigned)u->gid, strerror(errno));
	if (chdir(c->cwd && *c->cwd ? c->cwd : "/") < 0)
		child_fail(st, "working directory '%s': %s", c->cwd,
			   strerror(errno));
	if (strchr(c->args[0], '/')) {
		execve(c->args[0], c->args, c->env);
		child_fail(st, "exec '%s': %s", c->args[0], strerror(errno));
	}
	for (const char *p = path ? path : DEFAULT_PATH; *p;) {
		size_t n = strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, c->args[0]);
		execve(buf, c->args, c->env);
		if (errno != ENOENT && errno != ENOTDIR)
			saved = errno;
		p += n;
		if (*p == ':')
			p++;
	}
	child_fail(st, "exec '%s': %s", c->args[0],
		   saved == ENOENT ? "executable file not found in $PATH"
				   : strerror(saved));
}

static int forward(int fd, int type)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0)
		send_frame(type, buf, (size_t)n);
	return n > 0						? 1
	       : (n < 0 && (errno == EAGAIN || errno == EINTR)) ? 0
								: -1;
}

/* Host -> guest frames while the entrypoint runs: signals. */
static void host_input(pid_t child, uint8_t *buf, size_t *have)
{
	ssize_t n = read(port, buf + *have, 4096 - *have);
	size_t off = 0;

	if (n <= 0)
		return;
	*have += (size_t)n;
	while (*have - off >= VM_FRAME_HDR) {
		uint32_t len = vm_frame_len(buf + off);
		if (len > 64) { /* only short frames come now: resync */
			off = *have;
			break;
		}
		if (*have - off < VM_FRAME_HDR + len)
			break;
		if (buf[off] == VM_F_SIGNAL && len == 1 && buf[off + 5] > 0 &&
		    buf[off + 5] < 65)
			kill(child, buf[off + 5]);
		off += VM_FRAME_HDR + len;
	}
	memmove(buf, buf + off, *have - off);
	*have -= off;
}

static int run(struct config *c, const struct user *u)
{
	int outp[2], errp[2], stp[2], sfd, status = 0, done = 0;
	uint8_t in[4096];
	size_t have = 0;
	char msg[1024];
	sigset_t mask;
	ssize_t n;
	pid_t child;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(stp, O_CLOEXEC) < 0 || sfd < 0)
		fail("pipes: %s", strerror(errno));
	child = fork();
	if (child < 0)
		fail("fork: %s", strerror(errno));
	if (child == 0) {
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
		exec_child(c, u, outp[1], errp[1], stp[1]);
	}
	close(outp[1]);
	close(errp[1]);
	close(stp[1]);
	n = read(stp[0], msg, sizeof(msg) - 1);
	close(stp[0]);
	if (n > 0) {
		msg[n] = '\0';
		waitpid(child, NULL, 0);
		fail("%s", msg);
	}
	send_frame(VM_F_READY, NULL, 0);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	while (!done) {
		struct pollfd p[4] = {
		    {.fd = port, .events = POLLIN},
		    {.fd = sfd, .events = POLLIN},
		    {.fd = outp[0], .events = POLLIN},
		    {.fd = errp[0], .events = POLLIN},
		};
		struct signalfd_siginfo si;
		int ws;
		pid_t w;

		if (poll(p, 4, -1) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (p[0].revents & POLLIN)
			host_input(child, in, &have);
		if (p[2].revents && outp[0] >= 0 &&
		    forward(outp[0], VM_F_STDOUT) < 0) {
			close(outp[0]);
			outp[0] = -1;
		}
		if (p[3].revents && errp[0] >= 0 &&
		    forward(errp[0], VM_F_STDERR) < 0) {
			close(errp[0]);
			errp[0] = -1;
		}
		while (read(sfd, &si, sizeof(si)) > 0)
			;
		while ((w = waitpid(-1, &ws, WNOHANG)) > 0)
			if (w == child) {
				status = WIFEXITED(ws) ? WEXITSTATUS(ws)
						       : 128 + WTERMSIG(ws);
				done = 1;
			}
	}
	/* what the entrypoint wrote before it ended (orphans that keep the
	 * pipes open are not waited for) */
	while (outp[0] >= 0 && forward(outp[0], VM_F_STDOUT) > 0)
		;
	while (errp[0] >= 0 && forward(errp[0], VM_F_STDERR) > 0)
		;
	return status;
}

int main(void)
{
	static struct config c;
	struct user u;
	char st[16];
	int status;

	if (getpid() != 1) {
		say("not PID 1: this is the init of an edgectl microVM");
		return 2;
	}
	mount_or_fail("proc", "/proc", "proc", MS_NOSUID | MS_NODEV, NULL);
	mount_or_fail("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV, NULL);
	mount_or_fail("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	read_cmdline();
	load_modules("/m");
	port = open_port();
	if (debug)
		say("port open");
	if (strstr(cmdline, "edgectl.probe")) {
		/* the host checks that this accelerator boots us: done */
		send_frame(VM_F_EXIT, "0", 1);
		wait_ack(2000);
		power_off();
	}
	/* a snapshot taken now resumes here with the next run's config; the
	 * kernel makes its boot id on first read: fixed now, VMs restored
	 * from one snapshot share the boot they came from and show it */
	{
		char b[64];
		int fd = open("/proc/sys/kernel/random/boot_id",
			      O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void)!read(fd, b, sizeof(b));
			close(fd);
		}
	}
	send_frame(VM_F_WAITING, NULL, 0);
	read_config(&c);
	reseed(c.seed);
	if (c.addr)
		load_modules("/m/net");
	for (size_t i = 0; i < c.nmounts; i++)
		if (c.mounts[i][0] != '-') {
			load_modules("/m/9p");
			break;
		}
	net_setup(&c);
	cgroup_setup(&c); /* before the switch: /cg is the initramfs's */
	mount_root(&c);
	if (c.hostname && *c.hostname &&
	    sethostname(c.hostname, strlen(c.hostname)) < 0)
		fail("hostname '%s': %s", c.hostname, strerror(errno));
	resolve_user(c.user, &u);
	if (!env_get(c.env, "HOME")) {
		static char home[600];
		snprintf(home, sizeof(home), "HOME=%s", u.home);
		c.env[c.nenv++] = home;
	}
	if (!env_get(c.env, "PATH"))
		c.env[c.nenv++] = "PATH=" DEFAULT_PATH;
	c.env[c.nenv] = NULL;
	c.args[c.nargs] = NULL;
	status = run(&c, &u);
	/* " oom": its cgroup reached memory.max and the OOM killer killed
	 * in it (not a kill -9, not the whole guest out of memory) */
	snprintf(st, sizeof(st), "%d%s", status,
		 status == 128 + SIGKILL && cg_event("oom") > 0 &&
			 cg_event("oom_kill") > 0
		     ? " oom"
		     : "");
	send_frame(VM_F_EXIT, st, strlen(st));
	wait_ack(2000);
	power_off();
	return 0;
}
