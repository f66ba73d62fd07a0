/* build.h - Dockerfile -> OCI image in the local root's layout. */
#ifndef EC_BUILD_H
#define EC_BUILD_H

#include <jansson.h>
#include <stdint.h>

#include "compress/compress.h"
#include "store/store.h"
#include "util/err.h"

struct build_opts {
	const char *root;    /* local root (layout at ROOT, layers/, cache/) */
	const char *context; /* context directory */
	const char *dockerfile;	 /* path; NULL = CONTEXT/Dockerfile, else
				    Containerfile */
	const char *const *tags; /* refs to set ("web:1"), NULL-terminated */
	const char *const *build_args; /* "K=V", NULL-terminated */
	const char *target;	       /* stage to build; NULL = last */
	enum comp_kind comp;	       /* COMP_ZSTD default */
	int level;
	uint64_t frame_size;
	unsigned threads;
	int no_cache;
	int network_host;    /* RUN with the host network (default none) */
	const char *runtime; /* NULL = first available */
	int64_t source_date_epoch; /* -1 = now (not reproducible) */
	const volatile int *cancel;
	/* FROM an image not in the local root: pulled from the store (opened
	 * on demand by open_store), a registry or an OCI directory. */
	struct store *(*open_store)(void *ctx, struct ec_err *err);
	int insecure;	   /* registries: --tls-verify=false */
	const char *creds; /* registries: USER:PASSWORD */
	/* registries reached over plain http ("HOST[:PORT]", the config's
	 * insecure_registries) */
	const char *const *insecure_registries;
	size_t ninsecure;
	/* callbacks (may be NULL) */
	void (*step)(void *ctx, int n, int total, const char *instr,
		     int cached);
	void (*output)(void *ctx, int stream, const char *data, size_t len);
	void (*warn)(void *ctx, const char *msg);
	void (*bytes)(void *ctx, uint64_t tar_bytes);
	void *cb_ctx;
};

struct build_result {
	char manifest_digest[80];
	char config_digest[80];
	uint64_t manifest_size;
	json_t *steps; /* [{instruction, cached, layer?, duration_ms}] */
	unsigned layers;
};

/* Build; on failure nothing is tagged and temporary directories, mounts
 * and containers are gone. A failing RUN fails with its exit status in the
 * message (EC_FAIL). */
int build_run(const struct build_opts *o, struct build_result *res,
	      struct ec_err *err);
void build_result_release(struct build_result *res);

#endif
