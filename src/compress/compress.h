/* compress.h - layer compression: zstd in independent frames with a seek
 * table (the zstd "seekable format"), gzip, and decompression of both.
 * The only module that includes zstd.h and zlib.h. */
#ifndef EC_COMPRESS_H
#define EC_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum comp_kind { COMP_NONE = 0, COMP_GZIP, COMP_ZSTD };

/* Receives output bytes, in order. Return 0, or -1 with err set. */
typedef int (*comp_sink_fn)(void *ctx, const void *data, size_t len,
			    struct ec_err *err);

struct comp_opts {
	enum comp_kind kind;
	int level;	     /* 0 = default (zstd 3, gzip 6) */
	uint64_t frame_size; /* zstd: input bytes per frame; 0 = 8 MiB */
	unsigned threads; /* zstd: frames compressed at once; 0 = online CPUs */
	/* zstd: called with each frame's input, in stream order, on the
	 * worker that compresses it, before compressing (so hashing the
	 * uncompressed stream overlaps with the caller producing it). NULL =
	 * none. Every input byte is passed once, in order. */
	void (*frame_in)(void *ctx, const void *data, size_t len);
	void *frame_in_ctx;
	/* zstd: the workers pass compressed frames to the sink themselves,
	 * still strictly in order (one at a time, each after the one
	 * before), so writing and hashing the output overlaps with the
	 * caller producing input. The sink must not need the caller's
	 * thread; its error is returned by a later comp_write or
	 * comp_finish. The seek table still goes from comp_finish. */
	int sink_on_workers;
};

struct comp_writer;

/* A compressing stream: bytes written are compressed and passed to sink in
 * order. zstd output is a sequence of independent frames, each holding
 * frame_size input bytes (the last may be shorter), compressed by `threads`
 * workers at once, followed by a seek table in a skippable frame; the
 * result is a plain valid zstd stream for every decoder. Output is a pure
 * function of (input, kind, level, frame_size, libzstd version): never of
 * thread count or timing (reproducible digests). gzip output has no name
 * and mtime 0. Memory is bounded by about (threads + 2) * 2 * frame_size
 * (frames in flight and the one filling, each with input and output). */
struct comp_writer *comp_writer_new(const struct comp_opts *o,
				    comp_sink_fn sink, void *ctx);
int comp_write(struct comp_writer *w, const void *data, size_t len,
	       struct ec_err *err);
/* Flush the last frame and the seek table. */
int comp_finish(struct comp_writer *w, struct ec_err *err);
/* Frames written (zstd), for reports and tests. */
unsigned comp_frames(const struct comp_writer *w);
void comp_writer_free(struct comp_writer *w);

/* Guess the compression from the first bytes (>= 4). */
enum comp_kind comp_detect(const void *head, size_t len);

/* A decompressing stream for gzip, zstd (any frames) or none. Output beyond
 * max_out bytes fails (a decompression bomb) with EC_USAGE; the zstd window
 * is capped at 32 MiB (compress_impl.h says why). */
struct comp_reader;
struct comp_reader *comp_reader_new(enum comp_kind kind, uint64_t max_out,
				    comp_sink_fn sink, void *ctx);
int comp_reader_feed(struct comp_reader *r, const void *data, size_t len,
		     struct ec_err *err);
/* Fails if the input ended inside a frame/member (truncated). */
int comp_reader_finish(struct comp_reader *r, struct ec_err *err);
void comp_reader_free(struct comp_reader *r);

/* One frame of a seekable zstd blob. */
struct zseek_frame {
	uint64_t c_off, c_size; /* compressed offset and size */
	uint64_t d_off, d_size; /* decompressed offset and size */
	uint32_t xsum;		/* low 32 bits of XXH64 of the frame's
				   content, when has_xsum */
	int has_xsum;		/* the table carries checksums */
};

/* Parse the seek table at the end of a zstd blob. `tail` is the last
 * `len` bytes of a blob of `blob_size` bytes (pass at least the whole
 * table: the skippable frame holding it is 17 + 8 * frames bytes, or
 * 17 + 12 * frames with checksums as edgectl writes it; see
 * zseek_table_size(); or pass the whole blob). Returns 0 with the
 * frames (allocated, free() them), 1 when the blob has no seek table, -1
 * on a corrupt table (or a tail too short to hold it). The table is
 * checked against blob_size: frames plus table must fill the blob. */
int zseek_parse(const void *tail, size_t len, uint64_t blob_size,
		struct zseek_frame **frames, size_t *n, struct ec_err *err);

/* Size in bytes of the whole seek table (its skippable frame) announced by
 * the footer in the last `len` (>= 9) bytes of a blob: how much tail
 * zseek_parse() needs. 0 when those bytes hold no seekable footer. The
 * result is not validated: it may exceed the blob. */
uint64_t zseek_table_size(const void *tail, size_t len);

/* Decompress a seekable zstd blob read from fd (pread; size bytes) with
 * up to `threads` decoders (0 = online CPUs, at most 4), passing the output
 * to sink in order, on the caller's thread. Frames are stream-decoded in
 * 1 MiB chunks, never held whole: memory does not depend on the frame size.
 * Frames decoded ahead share one process-wide budget of 16 MiB with every
 * other decode running at once; each decode's oldest frame has 2 MiB of
 * its own (so concurrent decodes never wait on each other for ever); add a
 * zstd window per decoder (2 MiB at level 3, at most 32 MiB). The table
 * must match the blob and every frame its entry (else -1: corrupt); output
 * beyond max_out fails with EC_USAGE before any is decoded. A blob without
 * a seek table is decompressed as one stream. */
int zseek_decompress_fd(int fd, uint64_t size, unsigned threads,
			uint64_t max_out, comp_sink_fn sink, void *ctx,
			struct ec_err *err);

#endif
