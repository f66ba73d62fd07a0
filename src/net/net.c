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
#include <net/if.h>
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

int netns_create(const char *name, char **path, struct ec_err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", NETNS_DIR, name);
	int fd, st;
	pid_t pid;

	*path = NULL;
	if (netns_dir(err) < 0)
		return -1;
	fd = open(p, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "create %s", p);
	close(fd);
	/* a child enters a new network namespace and bind-mounts it on p; the
	 * mount is visible to us (same mount namespace) */
	pid = fork();
	if (pid < 0) {
		unlink(p);
		return ec_err_errno(err, EC_FAIL, errno, "fork");
	}
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (mount("/proc/self/ns/net", p, "none", MS_BIND, NULL) < 0)
			_exit(2);
		/* lo up here: what the CNI loopback plugin did, without a
		 * process of its own on the start path */
		_exit(lo_up() < 0 ? 3 : 0);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
			umount2(p, MNT_DETACH);
		unlink(p);
		return ec_err_set(err, EC_PERM,
				  "cannot create network namespace %s (%s; "
				  "needs root)",
				  name,
				  !WIFEXITED(st) || WEXITSTATUS(st) == 2
				      ? "bind mount failed"
				  : WEXITSTATUS(st) == 1 ? "unshare failed"
							 : "lo up failed");
	}
	*path = p;
	p = NULL;
	return 0;
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
		json_object_set_new(c, "ipam",
				    json_pack("{s:s,s:[[{s:s}]],s:[{s:s}],s:s}",
					      "type", "host-local", "ranges",
					      "subnet", o->subnet, "routes",
					      "dst", "0.0.0.0/0", "dataDir",
					      o->ipam_dir));
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

int cni_add(const struct cni_opts *o, const char *id, const char *netns,
	    json_t **result, char **ip, struct ec_err *err)
{
	json_t *br = NULL, *pm = NULL;
	const char *addr;
	char *slash;

	*result = NULL;
	*ip = NULL;
	if (fs_mkdir_p(o->ipam_dir, err) < 0)
		return -1;
	/* lo is up already: netns_create brings it up (the loopback
	 * plugin's whole ADD), a process less on the start path */
	if (plugin_call(o, P_BRIDGE, "ADD", id, netns, "eth0", NULL, &br, err) <
	    0)
		goto undo;
	if (o->nports && plugin_call(o, P_PORTMAP, "ADD", id, netns, "eth0", br,
				     &pm, err) < 0)
		goto undo;
	json_decref(pm);
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
	struct ec_err e;
	int r = 0;

	/* every step runs; the first failure is reported */
	ec_err_clear(&e);
	if (o->nports &&
	    plugin_call(o, P_PORTMAP, "DEL", id, netns, "eth0", result, NULL,
			&e) < 0 &&
	    !r)
		r = -1, (err ? (void)(*err = e) : (void)0);
	if (plugin_call(o, P_BRIDGE, "DEL", id, netns, "eth0", result, NULL,
			&e) < 0 &&
	    !r)
		r = -1, (err ? (void)(*err = e) : (void)0);
	/* no loopback DEL: lo goes with the namespace */
	return r;
}
