/* net.c - named network namespaces and CNI plugin invocation (net.h). */
#include "net/net.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/parse.h"
#include "util/proc.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CNI_VERSION    "1.0.0"
#define CNI_TIMEOUT_MS 30000

/* /run/netns as a shared bind mount of itself (what `ip netns` does), so
 * namespace mounts propagate to every mount namespace. */
static int netns_dir(struct ec_err *err)
{
	struct stat st;

	if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST)
		return ec_err_errno(err, errno == EACCES ? EC_PERM : EC_FAIL,
				    errno, "create %s", NETNS_DIR);
	if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return ec_err_errno(err, errno == EPERM ? EC_PERM : EC_FAIL,
				    errno, "make %s shared", NETNS_DIR);
	/* not a mount point yet */
	if (mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
	    mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "mount %s", NETNS_DIR);
	(void)st;
	return 0;
}

/* `ip link set lo up` in the current network namespace. */
static int lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return r;
}

int netns_hold(int *nsfd, struct ec_err *err)
{
	const char *why = NULL;
	int self, e = 0;

	*nsfd = -1;
	/* this thread enters a new network namespace, keeps a descriptor of
	 * it, brings lo up (what the CNI loopback plugin did) and comes back:
	 * no process of its own on the start path */
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open own namespace");
	if (unshare(CLONE_NEWNET) < 0)
		why = "unshare failed", e = errno;
	else if ((*nsfd = open("/proc/thread-self/ns/net",
			       O_RDONLY | O_CLOEXEC)) < 0)
		why = "open failed", e = errno;
	else if (lo_up() < 0)
		why = "lo up failed", e = errno;
	if (!why || strcmp(why, "unshare failed"))
		if (setns(self, CLONE_NEWNET) < 0)
			BUG("cannot return to this process's network "
			    "namespace");
	close(self);
	if (why) {
		if (*nsfd >= 0)
			close(*nsfd);
		*nsfd = -1;
		return ec_err_errno(err, e == EPERM ? EC_PERM : EC_FAIL, e,
				    "cannot create a network namespace (%s; "
				    "needs root)",
				    why);
	}
	return 0;
}

int netns_attach(int nsfd, const char *name, char **path, struct ec_err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", NETNS_DIR, name);
	char src[64];
	int fd, e;

	*path = NULL;
	if (netns_dir(err) < 0)
		return -1;
	fd = open(p, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create %s", p);
	close(fd);
	snprintf(src, sizeof(src), "/proc/self/fd/%d", nsfd);
	if (mount(src, p, "none", MS_BIND, NULL) < 0) {
		e = errno;
		unlink(p);
		return ec_err_errno(err, e == EPERM ? EC_PERM : EC_FAIL, e,
				    "bind network namespace %s", p);
	}
	*path = p;
	p = NULL;
	return 0;
}

int netns_create(const char *name, char **path, struct ec_err *err)
{
	int nsfd, r;

	*path = NULL;
	if (netns_hold(&nsfd, err) < 0)
		return ec_err_prefix(err, "network namespace %s", name);
	r = netns_attach(nsfd, name, path, err);
	close(nsfd);
	return r;
}

int netns_delete(const char *name, struct ec_err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", NETNS_DIR, name);

	if (umount2(p, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return ec_err_errno(err, EC_FAIL, errno, "unmount %s", p);
	if (unlink(p) < 0 && errno != ENOENT)
		return ec_err_errno(err, EC_FAIL, errno, "remove %s", p);
	return 0;
}

int net_port_parse(const char *s, struct net_port *p, struct ec_err *err)
{
	_cleanup_free_ char *c = xstrdup(s);
	char *proto = strchr(c, '/'), *colon;
	uint64_t h, k;

	memset(p, 0, sizeof(*p));
	snprintf(p->proto, sizeof(p->proto), "tcp");
	if (proto) {
		*proto++ = '\0';
		if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
			return ec_err_set(err, EC_USAGE,
					  "port '%s': protocol must be tcp or "
					  "udp",
					  s);
		snprintf(p->proto, sizeof(p->proto), "%s", proto);
	}
	colon = strchr(c, ':');
	if (colon)
		*colon++ = '\0';
	if (parse_u64(c, 65535, &h, "host port", err) < 0 || !h ||
	    parse_u64(colon ? colon : c, 65535, &k, "container port", err) <
		0 ||
	    !k)
		return ec_err_set(err, EC_USAGE,
				  "port '%s': use HOSTPORT:CONTAINERPORT[/tcp|"
				  "udp], ports 1-65535",
				  s);
	p->host_port = (uint16_t)h;
	p->container_port = (uint16_t)k;
	return 0;
}

/* --- CNI ---------------------------------------------------------------- */

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

enum { P_LOOPBACK, P_BRIDGE, P_PORTMAP, P_N };
static const char *const plugin_names[P_N] = {"loopback", "bridge", "portmap"};

static json_t *plugin_conf(const struct cni_opts *o, int which,
			   const json_t *prev)
{
	json_t *c = json_pack("{s:s,s:s,s:s}", "cniVersion", CNI_VERSION,
			      "name", "edgectl", "type", plugin_names[which]);
	size_t i;

	if (which == P_BRIDGE) {
		json_object_set_new(c, "bridge",
				    json_string(o->bridge ? o->bridge : "ec0"));
		json_object_set_new(c, "isGateway", json_true());
		json_object_set_new(c, "ipMasq", json_false());
		json_object_set_new(c, "hairpinMode", json_true());
		if (o->ipam_plugin)
			json_object_set_new(
			    c, "ipam",
			    json_pack("{s:s,s:[[{s:s}]],s:[{s:s}],s:s}", "type",
				      "host-local", "ranges", "subnet",
				      o->subnet, "routes", "dst", "0.0.0.0/0",
				      "dataDir", o->ipam_dir));
	} else if (which == P_PORTMAP) {
		json_t *pm = json_array();
		for (i = 0; i < o->nports; i++)
			json_array_append_new(
			    pm,
			    json_pack("{s:i,s:i,s:s}", "hostPort",
				      o->ports[i].host_port, "containerPort",
				      o->ports[i].container_port, "protocol",
				      o->ports[i].proto));
		json_object_set_new(c, "capabilities",
				    json_pack("{s:b}", "portMappings", 1));
		json_object_set_new(c, "runtimeConfig",
				    json_pack("{s:o}", "portMappings", pm));
		json_object_set_new(c, "snat", json_true());
	}
	if (prev)
		json_object_set(c, "prevResult", (json_t *)prev);
	return c;
}

/* Run one plugin; on ADD *result gets its output. */
static int plugin_call(const struct cni_opts *o, int which, const char *cmd,
		       const char *id, const char *netns, const char *ifname,
		       const json_t *prev, json_t **result, struct ec_err *err)
{
	const char *dir = o->plugin_dir ? o->plugin_dir : "/usr/lib/cni";
	_cleanup_free_ char *bin = xasprintf("%s/%s", dir, plugin_names[which]);
	_cleanup_free_ char *e_cmd = xasprintf("CNI_COMMAND=%s", cmd);
	_cleanup_free_ char *e_id = xasprintf("CNI_CONTAINERID=%s", id);
	_cleanup_free_ char *e_ns = xasprintf("CNI_NETNS=%s", netns);
	_cleanup_free_ char *e_if = xasprintf("CNI_IFNAME=%s", ifname);
	_cleanup_free_ char *e_path = xasprintf("CNI_PATH=%s", dir);
	const char *env[] = {e_cmd,
			     e_id,
			     e_ns,
			     e_if,
			     e_path,
			     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/"
			     "usr/bin:/sbin:/bin",
			     NULL};
	const char *argv[] = {bin, NULL};
	_cleanup_json_ json_t *conf = plugin_conf(o, which, prev);
	_cleanup_free_ char *in = ec_json_dump(conf);
	struct strbuf out = STRBUF_INIT, eo = STRBUF_INIT;
	struct proc_opts po = {.env = env,
			       .input = in,
			       .input_len = strlen(in),
			       .timeout_ms = CNI_TIMEOUT_MS};
	double t0;
	int st, r;

	if (access(bin, X_OK) < 0) {
		r = ec_err_set(err, EC_NOTFOUND,
			       "CNI plugin '%s' is not installed (Debian: "
			       "apt-get install containernetworking-plugins)",
			       bin);
		goto out;
	}
	t0 = mono_ms();
	r = proc_run(argv, &po, &out, &eo, &st, err);
	if (o->timings) {
		_cleanup_free_ char *k =
		    xasprintf("cni_%s_%s_ms", plugin_names[which], cmd);
		json_object_set_new(o->timings, k, json_real(mono_ms() - t0));
	}
	if (r == 0 && st != 0) {
		/* errors come as {"code":N,"msg":"...","details":"..."} */
		json_error_t je;
		json_t *j = json_loadb(out.buf, out.len, 0, &je);
		const char *msg = j ? ec_json_str(j, "msg") : NULL;
		const char *det = j ? ec_json_str(j, "details") : NULL;
		r = ec_err_set(err, EC_FAIL, "CNI %s %s: %s%s%s",
			       plugin_names[which], cmd,
			       msg	? msg
			       : eo.len ? eo.buf
					: out.buf,
			       det && *det ? ": " : "", det ? det : "");
		json_decref(j);
	} else if (r == 0 && result) {
		json_error_t je;
		*result = json_loadb(out.buf, out.len, 0, &je);
		if (!*result)
			r = ec_err_set(err, EC_FAIL,
				       "CNI %s %s: bad result: %s",
				       plugin_names[which], cmd, je.text);
	}
out:
	sb_release(&out);
	sb_release(&eo);
	return r;
}

/* IFNAME gets ADDR/PREFIX, up, and the default route via GW, in the
 * current network namespace (what host-local's result makes the bridge
 * plugin do). A step number on failure, 0 when done. */
static int addr_here(const char *ifname, const struct ipam_lease *l)
{
	struct ifreq ifr = {0};
	struct rtentry rt = {0};
	struct sockaddr_in *sa;
	uint32_t mask = ~0u << (32 - l->range.prefix);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), step = 0;

	if (fd < 0)
		return 1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	sa = (struct sockaddr_in *)&ifr.ifr_addr;
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(l->addr);
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0) {
		step = 2;
		goto out;
	}
	sa->sin_addr.s_addr = htonl(mask);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0) {
		step = 3;
		goto out;
	}
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		step = 4;
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		step = 4;
		goto out;
	}
	sa = (struct sockaddr_in *)&rt.rt_dst;
	sa->sin_family = AF_INET;
	sa = (struct sockaddr_in *)&rt.rt_genmask;
	sa->sin_family = AF_INET;
	sa = (struct sockaddr_in *)&rt.rt_gateway;
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(l->range.gw);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	if (ioctl(fd, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		step = 5;
out:
	close(fd);
	return step;
}

/* addr_here() in the namespace at `netns`: this thread enters it and
 * comes back (no process of its own). */
static int container_addr(const char *netns, const char *ifname,
			  const struct ipam_lease *l, struct ec_err *err)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int nfd = open(netns, O_RDONLY | O_CLOEXEC), step, e;

	if (self < 0 || nfd < 0 || setns(nfd, CLONE_NEWNET) < 0) {
		e = errno;
		if (self >= 0)
			close(self);
		if (nfd >= 0)
			close(nfd);
		return ec_err_errno(err, EC_FAIL, e, "enter '%s'", netns);
	}
	close(nfd);
	step = addr_here(ifname, l);
	e = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		BUG("cannot return to this process's network namespace");
	close(self);
	if (step)
		return ec_err_errno(err, EC_FAIL, e,
				    "configure %s in %s (step %d)", ifname,
				    netns, step);
	return 0;
}

/* The bridge holds the gateway address (the bridge plugin's isGateway),
 * and the host forwards. Once per bridge: later calls only look. */
static int bridge_gateway(const char *bridge, const struct ipam_lease *l,
			  struct ec_err *err)
{
	char gw[INET_ADDRSTRLEN];
	struct ifaddrs *ifs, *i;
	int have = 0, fd;
	char c = '0';

	if (getifaddrs(&ifs) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "list addresses");
	for (i = ifs; i && !have; i = i->ifa_next)
		have =
		    i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !strcmp(i->ifa_name, bridge) &&
		    ntohl(
			((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) ==
			l->range.gw;
	freeifaddrs(ifs);
	if (!have) {
		_cleanup_free_ char *a = NULL;
		struct strbuf eo = STRBUF_INIT;
		int st;
		ipam_addr_str(l->range.gw, gw);
		a = xasprintf("%s/%d", gw, l->range.prefix);
		{
			const char *argv[] = {"ip",  "addr", "add", a,
					      "dev", bridge, NULL};
			if (proc_run(argv, NULL, NULL, &eo, &st, err) < 0)
				return -1;
		}
		if (st != 0 && !strstr(eo.buf ? eo.buf : "", "File exists")) {
			ec_err_set(err, EC_FAIL, "gateway %s on %s: %s", a,
				   bridge, eo.buf ? eo.buf : "");
			sb_release(&eo);
			return -1;
		}
		sb_release(&eo);
	}
	fd = open("/proc/sys/net/ipv4/ip_forward", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &c, 1) == 1 && c != '1' &&
		    pwrite(fd, "1", 1, 0) != 1) {
			close(fd);
			return ec_err_errno(err, EC_FAIL, errno,
					    "enable IPv4 forwarding");
		}
		close(fd);
	}
	return 0;
}

/* The bridge plugin's L2 result with the lease as its "ips" and the
 * default route, as the host-local IPAM result would have made it. */
static void result_add_lease(json_t *br, const struct ipam_lease *l)
{
	char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
	const json_t *itf;
	size_t i, idx = 0;

	ipam_addr_str(l->addr, ip);
	ipam_addr_str(l->range.gw, gw);
	json_array_foreach (json_object_get(br, "interfaces"), i, itf)
		if (ec_json_str(itf, "sandbox"))
			idx = i;
	json_object_set_new(
	    br, "ips",
	    json_pack("[{s:I,s:o,s:s}]", "interface", (json_int_t)idx,
		      "address", json_sprintf("%s/%d", ip, l->range.prefix),
		      "gateway", gw));
	json_object_set_new(
	    br, "routes",
	    json_pack("[{s:s,s:s}]", "dst", "0.0.0.0/0", "gw", gw));
}

int cni_add_ports(const struct cni_opts *o, const char *id, const char *netns,
		  const json_t *result, struct ec_err *err)
{
	json_t *pm = NULL;

	if (!o->nports)
		return 0;
	if (plugin_call(o, P_PORTMAP, "ADD", id, netns, "eth0", result, &pm,
			err) < 0)
		return -1;
	json_decref(pm);
	return 0;
}

int cni_add(const struct cni_opts *o, const char *id, const char *netns,
	    json_t **result, char **ip, struct ec_err *err)
{
	json_t *br = NULL;
	struct ipam_lease lease;
	int leased = 0;
	const char *addr;
	char *slash;

	*result = NULL;
	*ip = NULL;
	if (fs_mkdir_p(o->ipam_dir, err) < 0)
		return -1;
	/* in process: the address first, so a full range stops before any
	 * plugin runs */
	if (!o->ipam_plugin) {
		if (ipam_alloc(o->ipam_dir, o->subnet, id, "eth0", &lease,
			       err) < 0)
			return -1;
		leased = 1;
	}
	/* lo is up already: netns_create brings it up (the loopback
	 * plugin's whole ADD), a process less on the start path */
	if (plugin_call(o, P_BRIDGE, "ADD", id, netns, "eth0", NULL, &br, err) <
	    0)
		goto undo;
	if (leased) {
		double t0 = mono_ms();
		if (bridge_gateway(o->bridge ? o->bridge : "ec0", &lease, err) <
			0 ||
		    container_addr(netns, "eth0", &lease, err) < 0)
			goto undo;
		result_add_lease(br, &lease);
		if (o->timings)
			json_object_set_new(o->timings, "ipam_inproc_ms",
					    json_real(mono_ms() - t0));
	}
	if (cni_add_ports(o, id, netns, br, err) < 0)
		goto undo;
	addr = ec_json_str(json_array_get(json_object_get(br, "ips"), 0),
			   "address");
	if (!addr) {
		ec_err_set(err, EC_FAIL, "CNI bridge gave no address");
		goto undo;
	}
	*ip = xstrdup(addr);
	if ((slash = strchr(*ip, '/')))
		*slash = '\0';
	*result = br;
	return 0;
undo:
	cni_del(o, id, netns, br, NULL);
	json_decref(br);
	return -1;
}

int cni_del(const struct cni_opts *o, const char *id, const char *netns,
	    const json_t *result, struct ec_err *err)
{
	const char *l2 = o->l2_id ? o->l2_id : id;
	struct ec_err e;
	int r = 0;

	/* every step runs; the first failure is reported */
	ec_err_clear(&e);
	if (o->nports &&
	    plugin_call(o, P_PORTMAP, "DEL", id, netns, "eth0", result, NULL,
			&e) < 0 &&
	    !r)
		r = -1, (err ? (void)(*err = e) : (void)0);
	if (plugin_call(o, P_BRIDGE, "DEL", l2, netns, "eth0", result, NULL,
			&e) < 0 &&
	    !r)
		r = -1, (err ? (void)(*err = e) : (void)0);
	/* the in-process lease (host-local's files: also one it made) */
	if (!o->ipam_plugin && ipam_release(o->ipam_dir, l2, "eth0", &e) < 0 &&
	    !r)
		r = -1, (err ? (void)(*err = e) : (void)0);
	/* no loopback DEL: lo goes with the namespace */
	return r;
}
