/* remote.c - run edgectl on a host and parse its answer; fan-out
 * (remote.h). */
#include "fleet/remote.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

enum ec_cat fleet_status_cat(int status)
{
	switch (status) {
	case EC_USAGE:
	case EC_NOTFOUND:
	case EC_REMOTE:
	case EC_PERM:
	case EC_CONFLICT:
	case EC_INTR:
		return (enum ec_cat)status;
	default:
		return EC_FAIL;
	}
}

int fleet_remote_error(const char *name, int status, const char *buf,
		       size_t len, struct ec_err *err)
{
	struct ec_err perr;
	json_t *j;
	const char *m = NULL;
	size_t n = len;

	ec_err_clear(&perr);
	j = len ? ec_json_parse(buf, len, "remote error", &perr) : NULL;
	if (j)
		m = ec_json_str(json_object_get(j, "error"), "message");
	if (!m) {
		/* not edgectl's JSON error: its raw stderr, first line */
		const char *nl = buf ? memchr(buf, '\n', len) : NULL;
		if (nl)
			n = (size_t)(nl - buf);
	}
	if (m)
		ec_err_set(err, fleet_status_cat(status), "host %s: %s", name,
			   m);
	else if (n)
		ec_err_set(err, fleet_status_cat(status),
			   "host %s: exit status %d: %.*s", name, status,
			   (int)(n > 512 ? 512 : n), buf);
	else
		ec_err_set(err, fleet_status_cat(status),
			   "host %s: exit status %d", name, status);
	json_decref(j);
	return -1;
}

int fleet_remote_run(const struct ssh_opts *o, struct store *s,
		     const char *name, fleet_args_fn args_for, void *arg,
		     int *status, struct ec_err *err)
{
	_cleanup_json_ json_t *h = fleet_host_get(s, name, NULL, err);
	_cleanup_free_ const char **args = NULL;

	if (!h)
		return -1;
	args = args_for(h, arg);
	return fleet_ssh(o, h, args, 1, NULL, NULL, status, err);
}

json_t *fleet_remote_json(const struct ssh_opts *o, const json_t *host,
			  const char *const *args, struct ec_err *err)
{
	const char *name = ec_json_str(host, "name");
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	_cleanup_strbuf_ struct strbuf eo = STRBUF_INIT;
	const char **v;
	size_t n = 0, i;
	int st = 0;
	json_t *r;

	if (!name)
		name = "?";
	while (args[n])
		n++;
	v = xcalloc(n + 2, sizeof(*v));
	v[0] = "--json";
	for (i = 0; i < n; i++)
		v[i + 1] = args[i];
	if (fleet_ssh(o, host, v, 0, &out, &eo, &st, err) < 0) {
		free(v);
		return NULL;
	}
	free(v);
	if (st != 0) {
		fleet_remote_error(name, st, eo.buf, eo.len, err);
		return NULL;
	}
	if (!out.len)
		return json_null();
	r = ec_json_parse(out.buf, out.len, "answer", err);
	if (!r) {
		err->cat = EC_REMOTE;
		ec_err_prefix(err, "host %s", name);
	}
	return r;
}

/* --- fan-out -------------------------------------------------------------- */

struct fanout {
	size_t n;
	atomic_size_t next;
	void (*fn)(size_t, void *);
	void *arg;
};

static void *fanout_worker(void *p)
{
	struct fanout *f = p;
	size_t i;

	while ((i = atomic_fetch_add(&f->next, 1)) < f->n)
		f->fn(i, f->arg);
	return NULL;
}

void fleet_fanout(size_t n, int par, void (*fn)(size_t i, void *arg), void *arg)
{
	struct fanout f = {.n = n, .fn = fn, .arg = arg};
	pthread_t th[64];
	int k, started = 0;

	atomic_init(&f.next, 0);
	if (par < 1)
		par = 1;
	if (par > 64)
		par = 64;
	if ((size_t)par > n)
		par = (int)n;
	for (k = 0; k < par - 1; k++) {
		if (pthread_create(&th[k], NULL, fanout_worker, &f) != 0)
			break;
		started++;
	}
	fanout_worker(&f); /* this thread works too */
	for (k = 0; k < started; k++)
		pthread_join(th[k], NULL);
}
