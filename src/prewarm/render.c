/* render.c - prewarm's report as JSON and as text (render.h). */
#include "prewarm/render.h"
#include "util/json.h"

#include <string.h>

/* v when cond (a new reference), else NULL: a key json_pack's "o*" skips */
static json_t *when(int cond, json_t *v)
{
	if (cond)
		return v;
	json_decref(v);
	return NULL;
}

static json_t *host_json(const struct pw_host *h, const struct pw_opts *o)
{
	int w = o->image != NULL, p = w && o->peer, e = o->evict;

	if (!h->ok)
		return json_pack("{s:s?,s:b,s:s}", "host",
				 ec_json_str(h->host, "name"), "ok", 0, "error",
				 h->err.msg);
	return json_pack(
	    "{s:s?,s:b,s:o*,s:o*,s:o*,s:o*,s:o*,s:o*,s:o*,s:o*,s:o*,s:o*}",
	    "host", ec_json_str(h->host, "name"), "ok", 1, "bytes_fetched",
	    when(w, json_integer(h->bytes + h->peer_bytes)), "seconds",
	    when(w, json_real((double)h->duration_ms / 1000)), "already_warm",
	    when(w, json_boolean(h->warm)), "bytes_from_store",
	    when(p, json_integer(h->bytes)), "bytes_from_peer",
	    when(p, json_integer(h->peer_bytes)), "peer",
	    when(p, h->peer ? json_string(ec_json_str(h->peer, "name"))
			    : json_null()),
	    "peer_error",
	    when(p && h->peer_err.msg[0], json_string(h->peer_err.msg)),
	    "evicted", when(e, json_incref(h->evicted)), "bytes_freed",
	    when(e, json_integer(h->freed)), "vm_disk",
	    when(w && h->vm_disk,
		 json_string(h->vm_disk == 2 ? "built" : "present")));
}

size_t pw_ok_count(const struct pw_host *hv, size_t n)
{
	size_t i, ok = 0;

	for (i = 0; i < n; i++)
		ok += (size_t)hv[i].ok;
	return ok;
}

json_t *pw_report_json(const struct pw_host *hv, size_t n,
		       const struct pw_opts *o)
{
	json_t *rep = json_array();
	json_int_t store = 0, peers = 0, freed = 0, gone = 0;
	size_t i, ok = pw_ok_count(hv, n);

	for (i = 0; i < n; i++) {
		store += hv[i].bytes;
		peers += hv[i].peer_bytes;
		freed += hv[i].freed;
		gone += (json_int_t)json_array_size(hv[i].evicted);
		json_array_append_new(rep, host_json(&hv[i], o));
	}
	return json_pack("{s:o,s:I,s:i,s:i,s:s*,s:s*,s:o*,s:o*,s:o*,s:o*}",
			 "hosts", rep, "bytes_fetched", store + peers, "warm",
			 o->image ? (int)ok : 0, "failed", (int)(n - ok),
			 "image", o->image ? o->name : NULL, "digest",
			 o->digest, "bytes_from_store",
			 when(o->peer, json_integer(store)), "bytes_from_peers",
			 when(o->peer, json_integer(peers)), "evicted",
			 when(o->evict, json_integer(gone)), "bytes_freed",
			 when(o->evict, json_integer(freed)));
}

static void host_line(FILE *f, FILE *errf, const struct pw_host *h,
		      const struct pw_opts *o)
{
	const char *hn = ec_json_str(h->host, "name") ?: "?";
	size_t l = strlen(hn);

	if (!h->ok) {
		/* errors from the host already name it ("host h1: ...") */
		if (!strncmp(h->err.msg, "host ", 5) &&
		    !strncmp(h->err.msg + 5, hn, l) && h->err.msg[5 + l] == ':')
			fprintf(errf, "edgectl: error: %s\n", h->err.msg);
		else
			fprintf(errf, "edgectl: error: %s: %s\n", hn,
				h->err.msg);
		return;
	}
	if (o->image) {
		fprintf(f, "%-16s  %s  %10.1f MB  %6.2f s", hn,
			h->warm ? "already warm" : "warmed      ",
			(double)(h->bytes + h->peer_bytes) / 1e6,
			(double)h->duration_ms / 1000);
		if (h->peer_bytes)
			fprintf(f, "  (%.1f MB from %s)",
				(double)h->peer_bytes / 1e6,
				ec_json_str(h->peer, "name"));
		fprintf(f, "\n");
	}
	if (h->peer_err.msg[0])
		fprintf(errf, "edgectl: warning: %s: from the store: %s\n", hn,
			h->peer_err.msg);
	if (o->evict)
		fprintf(f, "%-16s  evicted %zu image(s), freed %.1f MB\n", hn,
			json_array_size(h->evicted), (double)h->freed / 1e6);
}

void pw_render(FILE *f, FILE *errf, const struct pw_host *hv, size_t n,
	       const struct pw_opts *o)
{
	json_int_t store = 0, peers = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		store += hv[i].bytes;
		peers += hv[i].peer_bytes;
		host_line(f, errf, &hv[i], o);
	}
	if (o->peer)
		fprintf(f, "%.1f MB from the store, %.1f MB from peers\n",
			(double)store / 1e6, (double)peers / 1e6);
}
