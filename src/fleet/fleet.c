/* fleet.c - inventory objects in the store (CAS) and SSH (fleet.h). */
#include "fleet/fleet.h"
#include "fleet/listing.h"
#include "fleet/remote.h"
#include "fleet/summary.h"
#include "cdi/cdi.h"
#include "store/cas.h"
#include "crypto/digest.h"
#include "runtime/runtime.h"
#include "util/json.h"
#include "util/proc.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define HOST_MAX (1u << 20)

int fleet_name_check(const char *what, const char *name, struct ec_err *err)
{
	size_t n = strlen(name), i;

	if (!n || n > 63)
		goto bad;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (c == '-' && i)))
			goto bad;
	}
	return 0;
bad:
	return ec_err_set(err, EC_USAGE,
			  "%s name '%s': 1 to 63 of a-z, 0-9 and '-', "
			  "starting with a letter or digit",
			  what, name);
}

char *fleet_location_key(const char *loc)
{
	return xasprintf("fleet/%s/location.json", loc);
}

char *fleet_host_key(const char *loc, const char *host)
{
	return xasprintf("fleet/%s/hosts/%s.json", loc, host);
}

/* --- listing -------------------------------------------------------------- */

struct collect {
	struct store *s;
	const char *suffix; /* "/location.json" or a "/hosts/" filter */
	const char *want;   /* host name to find, or NULL for all */
	json_t *out;
	char etag[STORE_ETAG_MAX];
	int hosts;
};

static int collect_one(void *ctx, const struct store_entry *e,
		       struct ec_err *err)
{
	struct collect *c = ctx;
	const char *k = e->key, *h;
	char *data = NULL;
	size_t len;
	json_t *j;

	if (e->is_prefix || strncmp(k, "fleet/", 6))
		return 0;
	if (c->hosts) {
		_cleanup_free_ char *name = NULL;
		h = strstr(k + 6, "/hosts/");
		if (!h || strchr(h + 7, '/') || strlen(h + 7) < 6 ||
		    strcmp(k + strlen(k) - 5, ".json"))
			return 0;
		name = xstrndup(h + 7, strlen(h + 7) - 5);
		if (c->want && strcmp(name, c->want))
			return 0;
	} else {
		const char *sl = strchr(k + 6, '/');
		if (!sl || strcmp(sl, "/location.json"))
			return 0;
	}
	if (store_get_buf(c->s, k, HOST_MAX, &data, &len, NULL, err) < 0) {
		if (err->cat == EC_NOTFOUND) { /* deleted meanwhile */
			ec_err_clear(err);
			return 0;
		}
		return -1;
	}
	j = ec_json_parse(data, len, k, err);
	free(data);
	if (!j)
		return -1;
	json_array_append_new(c->out, j);
	if (c->want) {
		snprintf(c->etag, sizeof(c->etag), "%s",
			 e->etag ? e->etag : "");
		return 1;
	}
	return 0;
}

/* fleet/<loc>/hosts/<name>.json */
static int keep_host(const char *k, void *ctx)
{
	const char *h = strstr(k + 6, "/hosts/");

	(void)ctx;
	return !strncmp(k, "fleet/", 6) && h && !strchr(h + 7, '/') &&
	       strlen(h + 7) >= 6 && !strcmp(k + strlen(k) - 5, ".json");
}

/* fleet/<loc>/location.json */
static int keep_location(const char *k, void *ctx)
{
	const char *sl = strchr(k + 6, '/');

	(void)ctx;
	return !strncmp(k, "fleet/", 6) && sl && !strcmp(sl, "/location.json");
}

/* Both read through the one parallel listing path (listing.h). */
json_t *fleet_hosts(struct store *s, const char *loc, struct ec_err *err)
{
	return fleet_hosts_par(s, loc, 0, err);
}

json_t *fleet_hosts_par(struct store *s, const char *loc, int par,
			struct ec_err *err)
{
	_cleanup_free_ char *prefix =
	    loc ? xasprintf("fleet/%s/hosts/", loc) : xstrdup("fleet/");

	return fleet_list_get(s, prefix, keep_host, NULL, par, HOST_MAX, NULL,
			      err);
}

json_t *fleet_locations(struct store *s, struct ec_err *err)
{
	return fleet_list_get(s, "fleet/", keep_location, NULL, 0, HOST_MAX,
			      NULL, err);
}

json_t *fleet_host_get(struct store *s, const char *name, char *etag,
		       struct ec_err *err)
{
	struct collect c = {
	    .s = s, .hosts = 1, .want = name, .out = json_array()};
	struct store_list_opts lo = {.prefix = "fleet/"};
	json_t *h;

	if (store_list(s, &lo, collect_one, &c, err) < 0) {
		json_decref(c.out);
		return NULL;
	}
	h = json_incref(json_array_get(c.out, 0));
	json_decref(c.out);
	if (!h) {
		ec_err_set(err, EC_NOTFOUND,
			   "no host '%s' in the fleet ('edgectl host ls' "
			   "lists them; 'edgectl host add' adds one)",
			   name);
		return NULL;
	}
	if (etag)
		memcpy(etag, c.etag, STORE_ETAG_MAX);
	return h;
}

struct host_update {
	int (*fn)(json_t *host, void *ctx);
	void *ctx;
	json_t *written; /* the object as the last try wrote it */
};

static int host_update_fn(json_t *host, void *ctx)
{
	struct host_update *u = ctx;

	if (u->fn(host, u->ctx) < 0)
		return -1;
	json_decref(u->written);
	u->written = json_deep_copy(host);
	/* store_json_update bumps the generation after fn */
	json_object_set_new(
	    u->written, "generation",
	    json_integer(
		json_integer_value(json_object_get(host, "generation")) + 1));
	return 0;
}

/* {LOC: [host objects as written]} while this thread defers its summary
 * updates (fleet_summary_defer_begin), else NULL */
static __thread json_t *deferred;

void fleet_summary_defer_begin(void)
{
	if (!deferred)
		deferred = json_object();
}

struct defer_end {
	struct store *s;
	json_t *d;
	const char **locs;
	struct ec_err *errs;
};

static void defer_one(size_t i, void *arg)
{
	struct defer_end *x = arg;

	ec_err_clear(&x->errs[i]);
	fleet_summary_note_hosts(
	    x->s, x->locs[i], json_object_get(x->d, x->locs[i]), &x->errs[i]);
}

int fleet_summary_defer_end(struct store *s, struct ec_err *err)
{
	struct defer_end x = {s, deferred, NULL, NULL};
	size_t n = json_object_size(deferred), i = 0;
	const char *loc;
	json_t *hosts;
	int rc = 0;

	deferred = NULL;
	x.locs = xcalloc(n + 1, sizeof(*x.locs));
	x.errs = xcalloc(n + 1, sizeof(*x.errs));
	json_object_foreach (x.d, loc, hosts)
		x.locs[i++] = loc;
	/* the locations' summaries at once: one round trip, not n */
	fleet_fanout(n, 16, defer_one, &x);
	for (i = 0; i < n && !rc; i++)
		if (x.errs[i].cat != EC_OK) {
			*err = x.errs[i];
			rc = -1;
		}
	free(x.locs);
	free(x.errs);
	json_decref(x.d);
	return rc;
}

int fleet_host_update(struct store *s, const char *loc, const char *host,
		      int create, int (*fn)(json_t *host, void *ctx), void *ctx,
		      struct ec_err *err)
{
	_cleanup_free_ char *key = fleet_host_key(loc, host);
	_cleanup_free_ char *what =
	    xasprintf("host '%s' in location '%s'", host, loc);
	struct host_update u = {fn, ctx, NULL};
	struct ec_err e;
	int rc;

	rc = store_json_update(s, key, HOST_MAX, create, what, host_update_fn,
			       &u, err);
	/* then the location's summary, best-effort: a stale summary only
	 * misleads the global step; the host object stays the truth */
	if (rc == 0 && u.written && deferred) {
		json_t *a = json_object_get(deferred, loc);
		if (!a)
			json_object_set_new(deferred, loc, a = json_array());
		json_array_append(a, u.written);
	} else if (rc == 0 && u.written) {
		fleet_summary_note_host(s, loc, u.written, &e);
	}
	json_decref(u.written);
	return rc;
}

/* --- ssh ------------------------------------------------------------------ */

static void sq(struct strbuf *sb, const char *s)
{
	sb_addc(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sb_adds(sb, "'\\''");
		else
			sb_addc(sb, *s);
	}
	sb_addc(sb, '\'');
}

static int user_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int fleet_ssh_target_parse(const char *target, struct ssh_target *t,
			   struct ec_err *err)
{
	const char *at, *h, *end, *p;
	size_t ulen = 0, hlen;
	int v6 = 0;

	memset(t, 0, sizeof(*t));
	if (!target || !*target)
		return ec_err_set(err, EC_USAGE, "empty ssh target");
	if (strlen(target) > 255)
		return ec_err_set(err, EC_USAGE, "ssh target is too long");
	at = strchr(target, '@');
	if (at) {
		ulen = (size_t)(at - target);
		if (!ulen || target[0] == '-')
			goto bad;
		for (p = target; p < at; p++)
			if (!user_char((unsigned char)*p))
				goto bad;
		h = at + 1;
	} else {
		h = target;
	}
	if (*h == '[') {
		/* [v6addr] or [v6addr]:port */
		end = strchr(h, ']');
		if (!end || end == h + 1)
			goto bad;
		for (p = h + 1; p < end; p++)
			if (!strchr("0123456789abcdefABCDEF:.%", *p))
				goto bad;
		hlen = (size_t)(end - h - 1);
		h++;
		p = end + 1;
		v6 = 1;
	} else if (strchr(h, ':') != strrchr(h, ':')) {
		/* two or more colons: a bare IPv6 address, no port */
		for (p = h; *p; p++)
			if (!strchr("0123456789abcdefABCDEF:.%", *p))
				goto bad;
		hlen = strlen(h);
		p = h + hlen;
		v6 = 1;
	} else {
		end = strchr(h, ':');
		hlen = end ? (size_t)(end - h) : strlen(h);
		p = h + hlen;
		if (!hlen || h[0] == '-' || h[0] == '.')
			goto bad;
		for (size_t i = 0; i < hlen; i++)
			if (!user_char((unsigned char)h[i]))
				goto bad;
	}
	if (*p == ':') {
		char *e;
		long port;

		if (!p[1] || p[1] < '0' || p[1] > '9')
			goto bad;
		errno = 0;
		port = strtol(p + 1, &e, 10);
		if (*e || errno || port < 1 || port > 65535)
			goto bad;
		t->port = (int)port;
	} else if (*p) {
		goto bad;
	}
	if (hlen >= sizeof(t->host) || ulen >= sizeof(t->user))
		goto bad;
	memcpy(t->user, target, ulen);
	memcpy(t->host, h, hlen);
	(void)v6;
	return 0;
bad:
	return ec_err_set(
	    err, EC_USAGE,
	    "ssh target '%s' is not [USER@]HOST[:PORT] (user and "
	    "host of letters, digits, '.', '_', '-', not starting "
	    "with '-'; IPv6 as [ADDR]:PORT)",
	    target);
}

char **fleet_ssh_argv(const struct ssh_opts *o, const json_t *host,
		      const char *const *args, struct ec_err *err)
{
	const char *target = ec_json_str(host, "ssh");
	const char *root = ec_json_str(host, "root");
	const char *bin = ec_json_str(host, "edgectl");
	struct strbuf cmd = STRBUF_INIT;
	struct ssh_target t;
	size_t n = 0, i, na = 0, nopt = 0;
	char **v;

	while (args[na])
		na++;
	while (o->options && o->options[nopt])
		nopt++;
	if (json_object_get(host, "ssh") && !target) {
		ec_err_set(err, EC_USAGE, "host '%s': \"ssh\" is not a string",
			   ec_json_str(host, "name") ?: "?");
		return NULL;
	}
	if (!target) {
		/* a host without SSH is this machine: run ourselves */
		v = xcalloc(na + 4, sizeof(*v));
		v[n++] = xstrdup("/proc/self/exe");
		if (root) {
			v[n++] = xstrdup("--root");
			v[n++] = xstrdup(root);
		}
		for (i = 0; i < na; i++)
			v[n++] = xstrdup(args[i]);
		return v;
	}
	if (fleet_ssh_target_parse(target, &t, err) < 0) {
		ec_err_prefix(err, "host '%s'",
			      ec_json_str(host, "name") ?: "?");
		return NULL;
	}
	v = xcalloc(nopt + 20, sizeof(*v));
	v[n++] = xstrdup("ssh");
	if (o->config) {
		v[n++] = xstrdup("-F");
		v[n++] = xstrdup(o->config);
	}
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("BatchMode=yes");
	if (o->control_dir) {
		v[n++] = xstrdup("-o");
		v[n++] = xstrdup("ControlMaster=auto");
		v[n++] = xstrdup("-o");
		v[n++] = xasprintf("ControlPath=%s/%%C", o->control_dir);
		v[n++] = xstrdup("-o");
		v[n++] = xstrdup("ControlPersist=60");
	}
	for (i = 0; i < nopt; i++)
		v[n++] = xstrdup(o->options[i]);
	if (t.port) {
		v[n++] = xstrdup("-p");
		v[n++] = xasprintf("%d", t.port);
	}
	if (t.user[0]) {
		v[n++] = xstrdup("-l");
		v[n++] = xstrdup(t.user);
	}
	/* the destination after "--": never an option, whatever it holds */
	v[n++] = xstrdup("--");
	v[n++] = xstrdup(t.host);
	sq(&cmd, bin ? bin : "edgectl");
	if (root) {
		sb_adds(&cmd, " --root ");
		sq(&cmd, root);
	}
	for (i = 0; i < na; i++) {
		sb_addc(&cmd, ' ');
		sq(&cmd, args[i]);
	}
	v[n++] = sb_detach(&cmd, NULL);
	return v;
}

int fleet_ssh_control_dir(const char *runtime_dir, unsigned uid, char *buf,
			  size_t size)
{
	struct stat st;

	/* /tmp/edgectl-ssh-UID: short (a unix socket path has 108 bytes),
	 * but anyone can create it first: use it only when it is a real
	 * directory of ours, mode 0700 */
	snprintf(buf, size, "/tmp/edgectl-ssh-%u", uid);
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		goto other;
	if (lstat(buf, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
	    (st.st_mode & 07777) == 0700)
		return 0;
other:
	if (runtime_dir && runtime_dir[0] == '/' && strlen(runtime_dir) < 60) {
		snprintf(buf, size, "%s/edgectl-ssh", runtime_dir);
		if ((mkdir(buf, 0700) == 0 || errno == EEXIST) &&
		    lstat(buf, &st) == 0 && S_ISDIR(st.st_mode) &&
		    st.st_uid == uid && (st.st_mode & 07777) == 0700)
			return 0;
	}
	buf[0] = '\0';
	return -1;
}

void fleet_argv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int fleet_ssh_failed(const json_t *host, int status, const char *errbuf,
		     size_t len, struct ec_err *err)
{
	const char *target = ec_json_str(host, "ssh");
	const char *name = ec_json_str(host, "name") ?: "?";
	const char *bin = ec_json_str(host, "edgectl");
	const char *quiet = "ssh exited 255 with no message (the connection "
			    "was dropped or refused)";

	if (!target)
		return 0;
	while (len && errbuf[len - 1] == '\n')
		len--;
	/* ssh's own failure (the remote command's 255 looks the same;
	 * edgectl never exits 255) */
	if (status == 255)
		return ec_err_set(err, EC_REMOTE,
				  "host %s (%s): ssh failed: %.*s", name,
				  target, len ? (int)len : (int)strlen(quiet),
				  len ? errbuf : quiet);
	if (status == 127)
		return ec_err_set(
		    err, EC_REMOTE,
		    "host %s (%s): edgectl is not installed there "
		    "(or not at '%s'; see host add --edgectl)",
		    name, target, bin ? bin : "edgectl");
	return 0;
}

int fleet_ssh(const struct ssh_opts *o, const json_t *host,
	      const char *const *args, int interactive, struct strbuf *out,
	      struct strbuf *errout, int *status, struct ec_err *err)
{
	const char *target = ec_json_str(host, "ssh");
	const char *name = ec_json_str(host, "name");
	char **argv = fleet_ssh_argv(o, host, args, err);
	_cleanup_strbuf_ struct strbuf eb = STRBUF_INIT;
	/* interactive: the remote's output streams through */
	struct proc_opts po = {.timeout_ms = o->timeout_ms,
			       .pass_stderr = interactive,
			       .pass_stdout = interactive};
	int r;

	if (!argv)
		return -1;
	r = proc_run((const char *const *)argv, &po, interactive ? NULL : out,
		     interactive ? NULL : &eb, status, err);
	fleet_argv_free(argv);
	if (r < 0 && target)
		ec_err_prefix(err, "host %s (%s)", name ? name : "?", target);
	else if (r == 0)
		r = fleet_ssh_failed(host, *status, eb.buf, eb.len, err);
	if (errout && eb.len)
		sb_add(errout, eb.buf, eb.len);
	return r;
}

/* --- probe ---------------------------------------------------------------- */

static long long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long long v = 0;
	size_t kl = strlen(key);

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtoll(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static json_t *probe_gpus(void)
{
	const char *argv[] = {"nvidia-smi", "--query-gpu=name,memory.total",
			      "--format=csv,noheader,nounits", NULL};
	struct strbuf out = STRBUF_INIT;
	struct proc_opts po = {.timeout_ms = 10000};
	json_t *a = json_array();
	char *line, *save = NULL;
	int st;

	if (proc_run(argv, &po, &out, NULL, &st, NULL) == 0 && st == 0 &&
	    out.len) {
		for (line = strtok_r(out.buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *comma = strrchr(line, ',');
			if (!comma)
				continue;
			*comma = '\0';
			json_array_append_new(
			    a, json_pack(
				   "{s:s,s:I}", "model", line, "memory_bytes",
				   (json_int_t)strtoll(comma + 1, NULL, 10) *
				       1048576));
		}
	}
	sb_release(&out);
	return a;
}

/* GPUs and devices from the CDI specs in `dirs`: "cdi" names on the
 * GPUs nvidia-smi found (by index), GPUs only CDI knows, "cdi_devices",
 * and "cdi_error" when a spec is malformed (the probe still succeeds). */
static void probe_cdi(json_t *p, const char *const *dirs)
{
	struct ec_err err;
	json_t *reg;

	ec_err_clear(&err);
	if (!(reg = cdi_load(dirs, &err))) {
		json_object_set_new(p, "cdi_error", json_string(err.msg));
		return;
	}
	json_object_set_new(p, "cdi_devices",
			    cdi_probe(reg, json_object_get(p, "gpus")));
	json_decref(reg);
}

json_t *fleet_probe(const char *root)
{
	return fleet_probe_cdi(root, NULL);
}

json_t *fleet_probe_cdi(const char *root, const char *const *cdi_dirs)
{
	json_t *p;
	struct statvfs sv;
	struct utsname u;
	json_t *rts = json_array();
	const char *const *r;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	json_int_t disk = 0, disk_free = 0;

	for (r = rt_available(); *r; r++)
		json_array_append_new(rts, json_string(*r));
	if (rt_path("qemu")) /* microVMs: QEMU and a guest kernel */
		json_array_append_new(rts, json_string("qemu"));
	if (statvfs(root, &sv) == 0) {
		disk = (json_int_t)sv.f_blocks * (json_int_t)sv.f_frsize;
		disk_free = (json_int_t)sv.f_bavail * (json_int_t)sv.f_frsize;
	}
	uname(&u);
	p = json_pack("{s:i,s:I,s:I,s:I,s:o,s:o,s:b,s:b,s:s,s:s}", "cpus",
		      (int)cpus, "memory_bytes",
		      (json_int_t)meminfo_kb("MemTotal") * 1024, "disk_bytes",
		      disk, "disk_free_bytes", disk_free, "gpus", probe_gpus(),
		      "runtimes", rts, "cni",
		      access("/usr/lib/cni/bridge", X_OK) == 0, "xdp",
		      access("/sys/fs/bpf", F_OK) == 0, "kernel", u.release,
		      "arch", u.machine);
	probe_cdi(p, cdi_dirs);
	return p;
}
