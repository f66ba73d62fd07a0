/* rangejournal.h - the journal of a ranged download: which fixed-size
 * parts of one object version are already in a partial output file, so a
 * re-run fetches only the others. One format for every ranged download
 * (store objects, registry blobs):
 *   {"etag": VERSION, "size": N, "part_size": P, "done": [part numbers]}
 * VERSION is whatever names the bytes (an S3 ETag, a blob digest). A
 * journal only counts for the same version, size and part size. */
#ifndef EC_RANGEJOURNAL_H
#define EC_RANGEJOURNAL_H

#include <stdint.h>

struct rjournal;

/* The parts of a download of `size` bytes in `part_size` parts (> 0).
 * With a path, a journal there for the same (etag, size, part_size) is
 * loaded: its parts count as done (entries out of range or repeated are
 * ignored; an unreadable or foreign journal counts for nothing). */
struct rjournal *rjournal_open(const char *path, const char *etag,
			       uint64_t size, uint64_t part_size);
unsigned rjournal_parts(const struct rjournal *j);
uint64_t rjournal_part_len(const struct rjournal *j, unsigned i);
int rjournal_is_done(const struct rjournal *j, unsigned i);
/* What the loaded journal let the download skip. */
unsigned rjournal_parts_resumed(const struct rjournal *j);
uint64_t rjournal_bytes_resumed(const struct rjournal *j);
/* Part i is in the file (the caller synced its bytes first): record it
 * and rewrite the journal atomically (temp file beside it, fsync,
 * rename). Thread-safe. A failed write only costs resumability. */
void rjournal_mark(struct rjournal *j, unsigned i);
/* Call fn(ctx, bytes) whenever the run of done parts from the start of
 * the file grows (now, if parts are done already): bytes [0, bytes) are
 * in the file for good. Called with the journal's lock held, from the
 * thread that marked the part: fn must be quick and must not call back
 * into the journal. Set it before the download's workers start. */
void rjournal_on_front(struct rjournal *j, void (*fn)(void *ctx, uint64_t),
		       void *ctx);
/* The download is complete: remove the journal file. */
void rjournal_finish(struct rjournal *j);
void rjournal_free(struct rjournal *j);

#endif
