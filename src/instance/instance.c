/* instance.c - containers of `edgectl run` on this host (instance.h).
 *
 * spec.json fields: id, name, app, image, digest, runtime, args[], env[],
 * cwd, user, hostname, network ("bridge", "none", "host"), ports[]
 * ("HOST:CONTAINER/proto"), subnet and bridge (of the bridge network),
 * lowerdirs[] (top first),
 * mounts[] {src, dst, ro}, memory, cpus, pids, read_only, rm,
 * stop_grace_ms, vips[] (addresses put on the container's loopback), host
 * (the configured name of this host, for its records); for VM runtimes
 * vm_kernel, vm_cmdline, vm_boot_timeout_ms, vm_accel (from the config's
 * "vm" object). */
#include "instance/instance.h"
#include "crypto/digest.h"
#include "net/net.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/proc.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void inst_new_id(char id[13])
{
	uint8_t r[6];

	random_bytes(r, sizeof(r));
	hex_encode(r, sizeof(r), id);
}

char *inst_dir(const char *root, const char *id)
{
	return xasprintf("%s/instances/%s", root, id);
}

static char *inst_file(const char *root, const char *id, const char *name)
{
	return xasprintf("%s/instances/%s/%s", root, id, name);
}

static int write_json(const char *path, const json_t *j, struct ec_err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp%d", path, (int)getpid());
	_cleanup_free_ char *s = ec_json_dump(j);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "write '%s'", path);
	if (io_write_all(fd, s, strlen(s), -1, path, err) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return ec_err_errno(err, EC_FAIL, errno, "write '%s'", path);
	}
	return 0;
}

static json_t *read_json(const char *root, const char *id, const char *name,
			 struct ec_err *err)
{
	_cleanup_free_ char *p = inst_file(root, id, name);
	json_t *j = ec_json_load_file(p, err);

	if (!j && err && err->cat == EC_NOTFOUND)
		ec_err_set(err, EC_NOTFOUND,
			   "no instance '%s' on this host ('edgectl ps -a' "
			   "lists them)",
			   id);
	return j;
}

json_t *inst_spec(const char *root, const char *id, struct ec_err *err)
{
	return read_json(root, id, "spec.json", err);
}

json_t *inst_state(const char *root, const char *id, struct ec_err *err)
{
	return read_json(root, id, "state.json", err);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void inst_trace(json_t *trace, const char *name)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_set_new(
	    trace, name,
	    json_real((double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6));
}

int inst_state_update(const char *root, const char *id, json_t *fields,
		      struct ec_err *err)
{
	_cleanup_free_ char *lock = inst_file(root, id, "lock");
	_cleanup_free_ char *path = inst_file(root, id, "state.json");
	_cleanup_json_ json_t *st = NULL;
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644), r;

	if (fd < 0) {
		json_decref(fields);
		return ec_err_errno(err, EC_FAIL, errno, "lock '%s'", lock);
	}
	flock(fd, LOCK_EX);
	st = ec_json_load_file(path, NULL);
	if (!st)
		st = json_object();
	json_object_update(st, fields);
	json_decref(fields);
	r = write_json(path, st, err);
	close(fd);
	return r;
}

int inst_create(const char *root, const char *id, json_t *spec,
		struct ec_err *err)
{
	_cleanup_free_ char *dir = inst_dir(root, id);
	_cleanup_free_ char *sp = inst_file(root, id, "spec.json");

	if (fs_mkdir_p(dir, err) < 0)
		return -1;
	if (write_json(sp, spec, err) < 0)
		return -1;
	return inst_state_update(
	    root, id,
	    json_pack("{s:s,s:O,s:O*,s:O,s:O,s:s,s:I}", "id", id, "name",
		      json_object_get(spec, "name"), "app",
		      json_object_get(spec, "app"), "image",
		      json_object_get(spec, "image"), "runtime",
		      json_object_get(spec, "runtime"), "status", "created",
		      "created_ms", (json_int_t)now_ms()),
	    err);
}

/* /proc/PID/stat's state letter (*state) and start time (field 22), 0 when
 * the process is not there. */
static int64_t proc_stat(pid_t pid, char *state)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, i;

	*state = '\0';
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* fields counted after the ")" that ends comm: 3 (state), 22
	 * (starttime) */
	if ((p = strrchr(buf, ')')) && p[1] == ' ')
		*state = p[2];
	for (i = 0; p && i < 20; i++)
		p = strchr(p + 1, ' ');
	return p ? strtoll(p + 1, NULL, 10) : 0;
}

int64_t inst_proc_start_ticks(pid_t pid)
{
	char state;

	return proc_stat(pid, &state);
}

int inst_monitor_alive(const json_t *state)
{
	pid_t pid =
	    (pid_t)json_integer_value(json_object_get(state, "monitor_pid"));
	int64_t start =
	    json_integer_value(json_object_get(state, "monitor_start_ticks"));
	int64_t ticks;
	char st;

	if (pid <= 0 || kill(pid, 0) < 0)
		return 0;
	/* a killed monitor not reaped yet (a zombie: kill(2) still finds
	 * it) is dead; and the same process, not a reused pid */
	ticks = proc_stat(pid, &st);
	if (st == 'Z' || st == 'X')
		return 0;
	return !start || ticks == start;
}

int inst_running(const json_t *state)
{
	return inst_status_active(ec_json_str(state, "status")) &&
	       inst_monitor_alive(state);
}

json_t *inst_list(const char *root, struct ec_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/instances", root);
	json_t *out = json_array();
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		if (errno == ENOENT)
			return out;
		json_decref(out);
		ec_err_errno(err, EC_FAIL, errno, "read '%s'", dir);
		return NULL;
	}
	while ((de = readdir(d))) {
		json_t *st;
		if (de->d_name[0] == '.')
			continue;
		st = inst_state(root, de->d_name, NULL);
		if (!st)
			continue;
		/* a "running" instance whose monitor is gone died with it */
		if (!strcmp(ec_json_str(st, "status") ?: "", "running") &&
		    json_object_get(st, "monitor_pid") &&
		    !inst_monitor_alive(st))
			json_object_set_new(st, "status", json_string("lost"));
		json_array_append_new(out, st);
	}
	closedir(d);
	return out;
}

int inst_find(const char *root, const char *what, char **id, struct ec_err *err)
{
	_cleanup_json_ json_t *all = inst_list(root, err);
	const json_t *st, *hit = NULL;
	size_t i, n = 0;

	*id = NULL;
	if (!all)
		return -1;
	json_array_foreach (all, i, st) {
		const char *sid = ec_json_str(st, "id");
		const char *name = ec_json_str(st, "name");
		if (!sid)
			continue;
		if (!strcmp(sid, what) || (name && !strcmp(name, what))) {
			hit = st;
			n = 1;
			break;
		}
		if (!strncmp(sid, what, strlen(what))) {
			hit = st;
			n++;
		}
	}
	if (n == 0)
		return ec_err_set(err, EC_NOTFOUND,
				  "no instance '%s' on this host ('edgectl "
				  "ps -a' lists them)",
				  what);
	if (n > 1)
		return ec_err_set(err, EC_USAGE,
				  "'%s' matches %zu instances; give more of "
				  "the id",
				  what, n);
	*id = xstrdup(ec_json_str(hit, "id"));
	return 0;
}

int inst_remove(const char *root, const char *id, struct ec_err *err)
{
	_cleanup_json_ json_t *st = inst_state(root, id, err);
	_cleanup_free_ char *dir = inst_dir(root, id);
	_cleanup_free_ char *spares = xasprintf("%s/cni/spares", root);
	_cleanup_free_ char *leases = xasprintf("%s/cni/networks", root);

	if (!st)
		return -1;
	if (inst_running(st))
		return ec_err_set(err, EC_CONFLICT,
				  "instance %s is running (stop it first, or "
				  "rm -f)",
				  id);
	if (inst_reap(root, id, st, err) < 0)
		return -1;
	/* and what killed spare keepers left (records, leases) */
	net_spare_collect(spares, leases);
	return fs_rm_rf(dir, err);
}

/* --- running ------------------------------------------------------------- */

static const char **str_array(const json_t *a)
{
	const char **v = xcalloc(json_array_size(a) + 1, sizeof(*v));
	const json_t *e;
	size_t i, n = 0;

	json_array_foreach (a, i, e)
		if (json_is_string(e))
			v[n++] = json_string_value(e);
	return v;
}

struct netstate {
	int up;
	char *ns_name, *ns_path;
	struct cni_opts cni;
	struct net_port *ports;
	char *ipam_dir, *spare_dir;
	char *l2_id; /* a claimed spare's id (bridge ADD, lease) */
	json_t *result;
};

/* The namespace name, IPAM dir, subnet, bridge and ports of the
 * instance's CNI network, from its spec (net_up, reap_net). */
static int net_config(const char *root, const char *id, const json_t *spec,
		      struct netstate *n, struct ec_err *err)
{
	const json_t *p;
	size_t i;

	n->ns_name = xasprintf("ec-%s", id);
	n->ipam_dir = xasprintf("%s/cni/networks", root);
	n->spare_dir = xasprintf("%s/cni/spares", root);
	n->cni.subnet = ec_json_str(spec, "subnet");
	n->cni.ipam_dir = n->ipam_dir;
	n->cni.bridge = ec_json_str(spec, "bridge");
	if (!n->cni.subnet)
		return ec_err_set(err, EC_USAGE,
				  "no container subnet for the bridge network");
	n->ports = xcalloc(json_array_size(json_object_get(spec, "ports")) + 1,
			   sizeof(*n->ports));
	json_array_foreach (json_object_get(spec, "ports"), i, p) {
		if (net_port_parse(json_string_value(p), &n->ports[i], err) < 0)
			return -1;
		n->cni.nports++;
	}
	n->cni.ports = n->ports;
	return 0;
}

static int net_up(const char *root, const char *id, const json_t *spec,
		  struct netstate *n, char **ip, json_t *trace,
		  struct ec_err *err)
{
	const json_t *p;
	size_t i;

	_cleanup_free_ char *record = inst_file(root, id, "net.json");
	struct net_spare sp;

	*ip = NULL;
	if (net_config(root, id, spec, n, err) < 0)
		return -1;
	/* a spare made ahead (net_spare_fill): namespace, veth and address
	 * ready; only the ports are this instance's */
	if (net_spare_claim(&n->cni, n->spare_dir, record, n->ns_name, &sp,
			    NULL) == 1) {
		n->ns_path = xasprintf("%s/%s", NETNS_DIR, n->ns_name);
		n->l2_id = xstrdup(sp.sid);
		n->cni.l2_id = n->l2_id;
		n->result = json_incref(sp.result);
		*ip = xstrdup(sp.ip);
		net_spare_release(&sp);
		n->up = 1;
		inst_trace(trace, "netns");
		json_object_set_new(trace, "spare", json_true());
		if (cni_add_ports(&n->cni, id, n->ns_path, n->result, err) < 0)
			return -1; /* net_down undoes the rest */
		goto vips;
	}
	if (netns_create(n->ns_name, &n->ns_path, err) < 0)
		return -1;
	inst_trace(trace, "netns");
	n->cni.timings = trace;
	if (cni_add(&n->cni, id, n->ns_path, &n->result, ip, err) < 0) {
		netns_delete(n->ns_name, NULL);
		free(n->ns_path);
		n->ns_path = NULL;
		return -1;
	}
	n->up = 1;
vips:
	/* VIPs the instance serves, on its loopback (direct server return:
	 * the router delivers packets addressed to the VIP unchanged) */
	json_array_foreach (json_object_get(spec, "vips"), i, p) {
		_cleanup_free_ char *a =
		    xasprintf("%s/32", json_string_value(p));
		const char *argv[] = {"ip", "-n",  n->ns_name, "addr", "add",
				      a,    "dev", "lo",       NULL};
		struct strbuf eo = STRBUF_INIT;
		int st;
		if (proc_run(argv, NULL, NULL, &eo, &st, err) < 0 || st != 0) {
			if (st > 0)
				ec_err_set(err, EC_USAGE, "VIP %s: %s",
					   json_string_value(p), eo.buf);
			sb_release(&eo);
			return -1;
		}
		sb_release(&eo);
	}
	return 0;
}

static void net_down(const char *id, struct netstate *n)
{
	if (n->up) {
		cni_del(&n->cni, id, n->ns_path, n->result, NULL);
		netns_delete(n->ns_name, NULL);
	}
	json_decref(n->result);
	free(n->ns_name);
	free(n->ns_path);
	free(n->ports);
	free(n->ipam_dir);
	free(n->spare_dir);
	free(n->l2_id);
}

/* rt_spec.started of an instance on the bridge network: the keeper of
 * the next start's spare namespace, started while the runtime makes this
 * container (the caller waits for the runtime then, not for CPU). */
static void spare_fill(void *ctx)
{
	struct netstate *n = ctx;

	net_spare_fill(&n->cni, n->spare_dir);
}

/* The network of a dead monitor's instance: CNI DEL without the result
 * it kept in memory (the plugins find theirs by container id), then the
 * namespace, as net_down does for a monitor that lives. */
static int reap_net(const char *root, const char *id, const json_t *spec,
		    struct ec_err *err)
{
	struct netstate n = {0};
	int r = 0;

	/* no subnet: never set up (the start failed before the network) */
	if (ec_json_str(spec, "subnet"))
		r = net_config(root, id, spec, &n, err);
	if (r == 0 && n.ns_name) {
		_cleanup_free_ char *record = inst_file(root, id, "net.json");
		n.ns_path = xasprintf("%s/%s", NETNS_DIR, n.ns_name);
		n.up =
		    access(n.ns_path, F_OK) == 0; /* else torn down already */
		/* a claimed spare's lease is under its own id (also when
		 * the monitor died before the namespace got its name) */
		if ((n.l2_id = net_spare_record_sid(record))) {
			n.cni.l2_id = n.l2_id;
			if (!n.up)
				ipam_release(n.ipam_dir, n.l2_id, "eth0", NULL);
		}
	}
	net_down(id, &n);
	return r;
}

int inst_reap(const char *root, const char *id, const json_t *st,
	      struct ec_err *err)
{
	_cleanup_json_ json_t *spec = NULL;
	_cleanup_free_ char *rtdir = inst_file(root, id, "rt");
	const char *net;

	/* only what a monitor that died left behind: its status still says
	 * it runs (or the runtime's state dir is still there) */
	if (!inst_status_active(ec_json_str(st, "status")) &&
	    access(rtdir, F_OK) < 0)
		return 0;
	if (!(spec = inst_spec(root, id, NULL)))
		return 0; /* created and never started */
	if (rt_reap(ec_json_str(spec, "runtime"), id, rtdir, err) < 0)
		return -1;
	net = ec_json_str(spec, "network");
	if ((!net || !strcmp(net, "bridge")) &&
	    reap_net(root, id, spec, err) < 0)
		return ec_err_prefix(err, "instance %s", id);
	inst_state_update(root, id,
			  json_pack("{s:s,s:s,s:I}", "status", "lost", "error",
				    "its monitor died; what it left was "
				    "cleaned up",
				    "finished_ms", (json_int_t)now_ms()),
			  NULL);
	return 0;
}

int inst_exec(const char *root, const char *id, rt_output_fn out, void *ctx,
	      const volatile int *cancel, int *exit_status, struct ec_err *err)
{
	_cleanup_json_ json_t *spec = inst_spec(root, id, err);
	_cleanup_free_ char *upper = inst_file(root, id, "upper");
	_cleanup_free_ char *work = inst_file(root, id, "work");
	_cleanup_free_ char *rtdir = inst_file(root, id, "rt");
	_cleanup_free_ char *vmdir = xasprintf("%s/vm", root);
	_cleanup_free_ const char **args = NULL, **env = NULL, **lowers = NULL;
	_cleanup_free_ const char **vips = NULL;
	_cleanup_free_ struct rt_mount *mounts = NULL;
	_cleanup_free_ char *ip = NULL;
	_cleanup_json_ json_t *trace = json_object();
	struct netstate n = {0};
	struct rt_spec s = {0};
	const char *net;
	const json_t *m;
	size_t i;
	int r = -1;

	*exit_status = -1;
	inst_trace(trace, "monitor");
	if (!spec)
		return -1;
	args = str_array(json_object_get(spec, "args"));
	env = str_array(json_object_get(spec, "env"));
	lowers = str_array(json_object_get(spec, "lowerdirs"));
	if (!args[0]) {
		ec_err_set(err, EC_USAGE,
			   "nothing to run: the image has no entrypoint or "
			   "command (give one after --)");
		goto record;
	}
	if (fs_mkdir_p(upper, err) < 0 || fs_mkdir_p(work, err) < 0)
		goto record;
	s.args = args;
	s.env = env;
	s.cwd = ec_json_str(spec, "cwd");
	s.user = ec_json_str(spec, "user");
	s.hostname = ec_json_str(spec, "hostname");
	s.lowerdirs = lowers[0] ? lowers : NULL;
	s.upper = upper;
	s.work = work;
	s.readonly_rootfs = json_is_true(json_object_get(spec, "read_only"));
	s.memory_bytes =
	    (uint64_t)json_integer_value(json_object_get(spec, "memory"));
	s.pids_limit =
	    (uint64_t)json_integer_value(json_object_get(spec, "pids"));
	s.cpus = json_number_value(json_object_get(spec, "cpus"));
	s.kill_grace_ms = (unsigned)json_integer_value(
	    json_object_get(spec, "stop_grace_ms"));
	/* VM runtimes: the rootfs disk cache and the guest kernel */
	s.image_digest = ec_json_str(spec, "digest");
	s.vm_dir = vmdir;
	s.vm_kernel = ec_json_str(spec, "vm_kernel");
	s.vm_cmdline = ec_json_str(spec, "vm_cmdline");
	s.vm_accel = ec_json_str(spec, "vm_accel");
	s.vm_boot_timeout_ms = (unsigned)json_integer_value(
	    json_object_get(spec, "vm_boot_timeout_ms"));
	vips = str_array(json_object_get(spec, "vips"));
	s.vips = vips;
	s.vm_no_snapshot = json_is_false(json_object_get(spec, "vm_snapshot"));
	mounts = xcalloc(json_array_size(json_object_get(spec, "mounts")) + 1,
			 sizeof(*mounts));
	json_array_foreach (json_object_get(spec, "mounts"), i, m) {
		mounts[i].src = ec_json_str(m, "src");
		mounts[i].dst = ec_json_str(m, "dst");
		mounts[i].readonly = json_is_true(json_object_get(m, "ro"));
		mounts[i].tmpfs = json_is_true(json_object_get(m, "tmpfs"));
	}
	s.mounts = mounts;
	s.devices = json_object_get(spec, "cdi");
	s.nvproxy = json_is_true(json_object_get(s.devices, "nvproxy"));
	net = ec_json_str(spec, "network");
	if (!net || !strcmp(net, "bridge")) {
		if (net_up(root, id, spec, &n, &ip, trace, err) < 0)
			goto record;
		inst_trace(trace, "net");
		n.cni.timings = NULL;
		s.network = RT_NET_PATH;
		s.netns = n.ns_path;
		if (!json_is_false(json_object_get(spec, "spares"))) {
			s.started = spare_fill;
			s.started_ctx = &n;
		}
	} else {
		s.network = !strcmp(net, "host") ? RT_NET_HOST : RT_NET_NONE;
	}
	inst_state_update(root, id,
			  json_pack("{s:s,s:I,s:s?,s:O}", "status", "running",
				    "started_ms", (json_int_t)now_ms(), "ip",
				    ip, "start_trace", trace),
			  NULL);
	r = rt_run(ec_json_str(spec, "runtime"), id, rtdir, &s, out, ctx,
		   cancel, exit_status, err);
	net_down(id, &n);
record:
	if (r < 0 && *exit_status < 0)
		inst_state_update(root, id,
				  json_pack("{s:s,s:s,s:I}", "status", "failed",
					    "error", err->msg, "finished_ms",
					    (json_int_t)now_ms()),
				  NULL);
	else
		inst_state_update(root, id,
				  json_pack("{s:s,s:i,s:I}", "status", "exited",
					    "exit_status", *exit_status,
					    "finished_ms",
					    (json_int_t)now_ms()),
				  NULL);
	/* --rm and --mount-sync: inst_finish */
	return r;
}
