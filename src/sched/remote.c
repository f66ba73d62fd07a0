/* remote.c - the remote `edgectl run -d` command line and the real hooks
 * of a scheduling session over src/fleet/remote.h (session.h). */
#include "fleet/remote.h"
#include "sched/session.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

const char **sc_run_argv(const char *store_url, const struct sc_spec *spec,
			 const char *instance, const char *subnet,
			 const char *image, const int *gpus, int ngpus,
			 char gpubuf[SC_GPUS_ARG_MAX])
{
	size_t cap = 21 + 2 * (spec->nenv + spec->nports + spec->nmounts) +
		     spec->ncommand;
	const char **v = xcalloc(cap + 1, sizeof(*v));
	size_t n = 0, i;

	v[n++] = "--store";
	v[n++] = store_url;
	v[n++] = "run";
	v[n++] = "-d";
	v[n++] = "--name";
	v[n++] = instance;
	v[n++] = "--app";
	v[n++] = spec->name;
	if (subnet) {
		v[n++] = "--subnet";
		v[n++] = subnet;
	}
	if (spec->runtime) {
		v[n++] = "--runtime";
		v[n++] = spec->runtime;
	}
	for (i = 0; i < spec->nenv; i++) {
		v[n++] = "-e";
		v[n++] = spec->env[i];
	}
	for (i = 0; i < spec->nports; i++) {
		v[n++] = "-p";
		v[n++] = spec->ports[i];
	}
	for (i = 0; i < spec->nmounts; i++) {
		v[n++] = "--mount";
		v[n++] = spec->mounts[i];
	}
	if (spec->mount_sync)
		v[n++] = "--mount-sync";
	if (spec->vip) {
		v[n++] = "--vip";
		v[n++] = spec->vip_addr;
	}
	if (ngpus > 0) {
		size_t off =
		    (size_t)snprintf(gpubuf, SC_GPUS_ARG_MAX, "device=");
		for (i = 0; i < (size_t)ngpus && i < SC_MAX_GPUS; i++)
			off += (size_t)snprintf(gpubuf + off,
						SC_GPUS_ARG_MAX - off, "%s%d",
						i ? "," : "", gpus[i]);
		v[n++] = "--gpus";
		v[n++] = gpubuf;
	}
	v[n++] = image;
	if (spec->ncommand) {
		v[n++] = "--";
		for (i = 0; i < spec->ncommand; i++)
			v[n++] = spec->command[i];
	}
	if (n > cap)
		BUG("sc_run_argv: %zu arguments for %zu places", n, cap);
	v[n] = NULL;
	return v;
}

/* Run args on host; *notfound says the remote (not the host lookup)
 * answered EC_NOTFOUND. */
static json_t *remote(struct sc_remote *r, const char *host,
		      const char *const *args, int timeout_ms, int *notfound,
		      struct ec_err *err)
{
	_cleanup_json_ json_t *h = fleet_host_get(r->store, host, NULL, err);
	struct ssh_opts o = *r->ssh;
	json_t *out;

	*notfound = 0;
	if (!h)
		return NULL;
	o.timeout_ms = timeout_ms;
	out = fleet_remote_json(&o, h, args, err);
	*notfound = !out && err->cat == EC_NOTFOUND;
	return out;
}

static int remote_start(void *arg, const struct sc_spec *spec,
			const char *image, const struct sc_placed *p,
			char id[64], struct ec_err *err)
{
	struct sc_remote *r = arg;
	_cleanup_json_ json_t *h = fleet_host_get(r->store, p->host, NULL, err);
	_cleanup_json_ json_t *out = NULL;
	_cleanup_free_ const char **argv = NULL;
	struct ssh_opts o = *r->ssh;
	char gpubuf[SC_GPUS_ARG_MAX];

	if (!h)
		return -1;
	argv = sc_run_argv(r->store_url, spec, p->instance,
			   ec_json_str(h, "subnet"), image, p->gpus, p->ngpus,
			   gpubuf);
	o.timeout_ms = 300000;
	if (!(out = fleet_remote_json(&o, h, argv, err)))
		return -1;
	snprintf(id, 64, "%s", ec_json_str(out, "id") ?: "");
	return 0;
}

static int remote_stop(void *arg, const char *host, const char *instance,
		       struct ec_err *err)
{
	const char *args[] = {"rm", "-f", instance, NULL};
	int nf;
	json_t *out = remote(arg, host, args, 60000, &nf, err);

	if (nf) {
		ec_err_clear(err); /* not there: stopped already */
		return 0;
	}
	json_decref(out);
	return out ? 0 : -1;
}

static json_t *remote_list(void *arg, const char *host, struct ec_err *err)
{
	const char *args[] = {"ps", "-a", NULL};
	int nf;
	json_t *out = remote(arg, host, args, 60000, &nf, err);

	if (out && !json_is_array(out)) {
		json_decref(out);
		ec_err_set(err, EC_REMOTE, "host %s: ps -a: not a JSON array",
			   host);
		return NULL;
	}
	return out;
}

void sc_remote_hooks(struct sc_hooks *h, struct sc_remote *r)
{
	h->start = remote_start;
	h->stop = remote_stop;
	h->list = remote_list;
	h->arg = r;
}
