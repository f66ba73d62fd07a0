/* transfer.h - large transfers over the store interface: parallel multipart
 * uploads that resume from a journal, and parallel ranged downloads. */
#ifndef EC_TRANSFER_H
#define EC_TRANSFER_H

#include <stdint.h>

#include "store/store.h"

#define XFER_PART_DEFAULT (16ull << 20)
#define XFER_JOBS_DEFAULT 4
#define XFER_JOBS_MAX	  64

struct store_xfer_opts {
	unsigned jobs; /* parallel requests; 0 = XFER_JOBS_DEFAULT */
	uint64_t
	    part_size; /* 0 = XFER_PART_DEFAULT, grown to fit 10000 parts */
	/* Directory for upload journals (resume after a crash); NULL = none.
	 * The journal is named after the store URL and key. */
	const char *journal_dir;
	const struct store_put_opts *put; /* conditions (single put only) */
	/* Called (from any thread, serialised) with bytes done so far. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
	const volatile int *cancel; /* set non-zero to stop early (EC_INTR) */
	/* Downloads: a journal of the ranges already in the output file (a
	 * file that outlives a failed run); a re-run for the same object
	 * version (ETag, size, part size) fetches only the other ranges.
	 * Removed when the download completes. NULL = none. */
	const char *resume_journal;
	/* Downloads into a file: called (serialised, from a download thread;
	 * keep it quick) whenever the bytes [0, n) known to be in the output
	 * for good grow, so a reader can follow the download in order. A
	 * single GET reports after every write, ranges as the run of done
	 * ranges from the start grows. NULL = none. */
	void (*ready)(void *ctx, uint64_t n);
	void *ready_ctx;
};

struct store_xfer_result {
	uint64_t size;		/* object size */
	uint64_t bytes_resumed; /* downloads: bytes a journal let us skip */
	uint64_t bytes_sent;	/* bytes that crossed the wire this run */
	unsigned parts;		/* 0 for a single request */
	unsigned parts_resumed; /* parts a journal let us skip */
};

/* Upload everything readable from fd as `key`. A regular file is sent with
 * pread in parallel parts (no buffering); a pipe is read into at most `jobs`
 * part buffers. Objects up to part_size go in one PUT (honouring o->put);
 * larger ones as a multipart upload. With a journal_dir, an interrupted
 * upload of the same unchanged file resumes: only parts the server does not
 * have are sent. info gets the final object's ETag and size. */
int store_upload_fd(struct store *s, const char *key, int fd,
		    const struct store_xfer_opts *o, struct store_info *info,
		    struct store_xfer_result *res, struct ec_err *err);

/* Download `key` into fd. When fd is a regular file and the object is larger
 * than part_size, `jobs` ranges are fetched in parallel (pinned to one ETag
 * with If-Match, so a concurrent overwrite is an error, not a mix). */
int store_download_fd(struct store *s, const char *key, int fd,
		      const struct store_xfer_opts *o, struct store_info *info,
		      struct store_xfer_result *res, struct ec_err *err);

#endif
