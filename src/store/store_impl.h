/* store_impl.h - what a store backend implements (not for callers). */
#ifndef EC_STORE_IMPL_H
#define EC_STORE_IMPL_H

#include "store/store.h"

struct store_ops {
	int (*get)(struct store *s, const char *key,
		   const struct store_get_opts *o, store_sink_fn sink,
		   void *ctx, struct store_info *info, struct ec_err *err);
	int (*head)(struct store *s, const char *key, struct store_info *info,
		    struct ec_err *err);
	int (*put)(struct store *s, const char *key,
		   const struct store_src *src, const struct store_put_opts *o,
		   struct store_info *info, struct ec_err *err);
	int (*del)(struct store *s, const char *key, struct ec_err *err);
	int (*list)(struct store *s, const struct store_list_opts *o,
		    store_list_fn fn, void *ctx, struct ec_err *err);
	int (*mpu_create)(struct store *s, const char *key,
			  const struct store_put_opts *o, char **upload_id,
			  struct ec_err *err);
	int (*mpu_part)(struct store *s, const char *key, const char *upload_id,
			int part_no, const struct store_src *src,
			char etag[STORE_ETAG_MAX], struct ec_err *err);
	int (*mpu_list_parts)(struct store *s, const char *key,
			      const char *upload_id, struct store_part **parts,
			      size_t *n, struct ec_err *err);
	int (*mpu_complete)(struct store *s, const char *key,
			    const char *upload_id,
			    const struct store_part *parts, size_t n,
			    struct store_info *info, struct ec_err *err);
	int (*mpu_abort)(struct store *s, const char *key,
			 const char *upload_id, struct ec_err *err);
	void (*free)(struct store *s);
	/* the store's clock (store_now); NULL: this machine's */
	int64_t (*now)(struct store *s);
	/* a local file system: one put of a file is a copy_file_range and a
	 * rename, cheaper than any multipart upload */
	int local;
};

/* Every backend's handle starts with this. */
struct store {
	const struct store_ops *ops;
	char *url;
};

/* Backend constructors; `rest` is the URL after the scheme ("//..."),
 * `query` the parsed query string (may be NULL). */
struct store_query {
	const char *key;
	const char *value;
};
int store_file_open(const char *dir, struct store **out, struct ec_err *err);
int store_s3_open(const char *bucket, const char *prefix,
		  const struct store_query *q, size_t nq,
		  const struct store_opts *opts, struct store **out,
		  struct ec_err *err);

/* Read a src into buf (helper for backends): pread for files. */
int store_src_read(const struct store_src *src, uint64_t at, void *buf,
		   size_t len, struct ec_err *err);

#endif
