/* registry.h - a client of the OCI distribution spec (registries: Debian's
 * docker-registry, Docker Hub, GHCR, ECR, Harbor, zot...), used by push and
 * pull. One client talks to one repository of one registry and is safe to
 * use from many threads at once (a shared token under a mutex, connections
 * pooled by the http module).
 *
 * Auth: anonymous bearer token flow (WWW-Authenticate: Bearer realm=...,
 * service=..., scope=repository:REPO:pull[,push]), Basic (from options or
 * credentials), credentials from the docker config file (`auths` with
 * `auth` = base64 user:password, or username/password). A 401 in the
 * middle of work refreshes the token once and repeats the request. The
 * Authorization header is sent only to the registry host itself: never to
 * a host a redirect points at (blob storage behind the registry).
 *
 * Transport: https; with opts.insecure the TLS peer is not verified and,
 * when https cannot connect (no TLS there), plain http is used instead
 * (what `--tls-verify=false` means for skopeo). That probe gives https
 * REG_TLS_PROBE_MS for the first answer (not the 5 s connect timeout: a
 * plain-http server may hold a TLS hello forever), and the scheme that
 * answered is remembered in opts.state_file for the next run.
 * opts.plain_http (the `insecure_registries` list) goes to http directly.
 * HTTPS_PROXY/NO_PROXY are honoured (libcurl reads them). */
#ifndef EC_REGISTRY_H
#define EC_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "util/err.h"

struct reg_opts {
	int insecure;	      /* see above */
	const char *username; /* Basic credentials; NULL = config file */
	const char *password;
	const char *auth_file; /* NULL = $REGISTRY_AUTH_FILE, else
				  $DOCKER_CONFIG/config.json, else
				  ~/.docker/config.json */
	int push;	       /* ask for push scope too */
	uint64_t chunk_size;   /* PATCH chunk size wanted; 0 = 64 MiB */
	unsigned retries;      /* per request on 5xx/transport; 0 = 3 */
	int plain_http;	       /* http only, never TLS (listed insecure) */
	/* What to remember between runs (scheme, where blobs were seen),
	 * e.g. ROOT/cache/registries.json; NULL = nothing. */
	const char *state_file;
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
};

struct reg_client;

/* Open a client of repository `repo` on `registry` (host[:port]).
 * Contacts the registry (GET /v2/) to find its scheme and auth scheme.
 * EC_REMOTE when unreachable (naming the host), EC_PERM on rejected
 * credentials. */
int reg_open(const char *registry, const char *repo, const struct reg_opts *o,
	     struct reg_client **out, struct ec_err *err);
void reg_close(struct reg_client *c);

/* Accept header of manifest GETs: OCI and Docker manifests and indexes. */
#define REG_MANIFEST_ACCEPT                                                    \
	"application/vnd.oci.image.index.v1+json, "                            \
	"application/vnd.oci.image.manifest.v1+json, "                         \
	"application/vnd.docker.distribution.manifest.list.v2+json, "          \
	"application/vnd.docker.distribution.manifest.v2+json"

/* GET a manifest or index by tag or digest (at most 4 MiB). *data is
 * allocated (NUL-terminated), media_type from the body's mediaType or the
 * Content-Type header, digest = sha256 of the body. When `ref` is a digest
 * the body must hash to it (EC_FAIL "digest mismatch" otherwise).
 * EC_NOTFOUND when there is no such manifest. */
int reg_manifest_get(struct reg_client *c, const char *ref, char **data,
		     size_t *len, char media_type[128], char digest[80],
		     struct ec_err *err);
/* PUT a manifest under `ref` (a tag, or its own digest). */
int reg_manifest_put(struct reg_client *c, const char *ref, const void *data,
		     size_t len, const char *media_type, struct ec_err *err);

/* Time the https probe of a --tls-verify=false registry gets. */
#define REG_TLS_PROBE_MS 1000

/* HEAD a blob (following redirects, without Authorization to other
 * hosts): 1 and *size when it exists, 0 when not, -1 on error.
 * *ranges (optional): 1 when the answer had Accept-Ranges: bytes or an
 * earlier GET of this client got a 206, 0 when Accept-Ranges: none or a
 * 200 answered a ranged GET, -1 when unknown (no request is made to find
 * out: the first ranged GET tells, see reg_blob_fetch). */
int reg_blob_stat(struct reg_client *c, const char *digest, uint64_t *size,
		  int *ranges, struct ec_err *err);

/* Does the blob answer a HEAD with exactly this size (and digest, when
 * the registry names one)? 1 yes, 0 no or missing, -1 on error. For
 * trusting a mount. */
int reg_blob_verify(struct reg_client *c, const char *digest, uint64_t size,
		    struct ec_err *err);

struct reg_get {
	uint64_t off, len; /* bytes [off, off+len); len 0 = to the end */
	/* Take a 200 (the whole blob) to a ranged request: the sink then
	 * gets everything from `off` to the end of the blob (len ignored;
	 * the bytes before `off` are dropped), .whole is set, and the
	 * client remembers that the registry ignores Range. Otherwise such
	 * an answer is EC_REMOTE. */
	int whole_ok;
	int whole; /* out */
};

/* GET a blob or a range of it into sink, following redirects (without
 * Authorization to other hosts), resuming a cut transfer with a ranged
 * GET. The caller verifies the digest. */
int reg_blob_fetch(struct reg_client *c, const char *digest, struct reg_get *g,
		   http_sink_fn sink, void *ctx, struct ec_err *err);
/* reg_blob_fetch of [off, off+len) without whole_ok. */
int reg_blob_get(struct reg_client *c, const char *digest, uint64_t off,
		 uint64_t len, http_sink_fn sink, void *ctx,
		 struct ec_err *err);
/* What this client learnt of range support (see reg_blob_stat). */
int reg_ranges(const struct reg_client *c);

/* Try a cross-repository mount of digest from repository `from` (same
 * registry): 1 when mounted (201), 0 when the registry started an upload
 * instead (that upload is cancelled), -1 on error. */
int reg_blob_mount(struct reg_client *c, const char *digest, const char *from,
		   struct ec_err *err);

/* Progress of an upload: bytes the registry has confirmed so far. Called
 * from the pushing thread; it goes back when a failed chunk makes the
 * upload resume earlier (to 0 when the registry dropped the upload and it
 * starts over). */
typedef void (*reg_progress_fn)(void *ctx, uint64_t done);

/* Upload a blob of `size` bytes read from fd (pread from offset 0) with
 * digest `digest`, hashing it as it goes: a file that does not hash to
 * `digest` is never committed (EC_FAIL "local blob ... is corrupt", the
 * upload cancelled). POST, PATCH chunks with Content-Range, each of
 * reg_chunk_size() bytes except the last, then PUT ?digest=. A failed chunk
 * (transport error, 5xx, 416) asks the upload URL for its offset (GET,
 * Range header) and continues from there. A registry that accepts the
 * whole blob in the POST+PUT (monolithic) is used that way when the blob
 * fits one chunk. */
int reg_blob_push(struct reg_client *c, const char *digest, uint64_t size,
		  int fd, reg_progress_fn progress, void *pctx,
		  struct ec_err *err);

/* Chunk size for an upload: `want` (0 = 64 MiB) clamped to the registry's
 * OCI-Chunk-Max-Length (0 = none) and raised to OCI-Chunk-Min-Length (0 =
 * none); when min > max the registry is inconsistent: min wins. Pure. */
uint64_t reg_chunk_size(uint64_t want, uint64_t min, uint64_t max);

/* Remember (in the state file, at close) that digest is in this
 * repository; and list other repositories of this registry known to hold
 * it, newest first (*repos allocated: free each and the array). */
void reg_blob_seen(struct reg_client *c, const char *digest);
size_t reg_blob_sources(struct reg_client *c, const char *digest,
			char ***repos);

/* Is `registry` (host[:port]) in a list of insecure registries? An
 * entry matches exactly, or is a host without a port matching it on any
 * port. Pure. */
int reg_host_listed(const char *const *list, size_t n, const char *registry);

/* A message to the client's log callback (opts.log), if any. */
void reg_log(struct reg_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The registry and repository, for messages. */
const char *reg_name(const struct reg_client *c);

#endif
