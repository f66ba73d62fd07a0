/* opool.h - an ordered worker pool, private to src/compress: jobs are run
 * by worker threads in any interleaving but collected strictly in the
 * order they were submitted, with at most `window` jobs outstanding (this
 * bounds memory: each job owns its buffers). */
#ifndef EC_COMPRESS_OPOOL_H
#define EC_COMPRESS_OPOOL_H

/* Runs one job on worker number `worker` (0 <= worker < opool_workers()),
 * so callers can keep one codec context per worker. The job records its
 * own result. */
typedef void (*opool_run_fn)(void *arg, unsigned worker, void *job);

struct opool;

/* Start up to `workers` threads (fewer if the system refuses threads;
 * none means jobs run inline in opool_submit). window >= 1. */
struct opool *opool_new(unsigned workers, unsigned window, opool_run_fn run,
			void *arg);
/* Worker slots in use: contexts indexed by worker number need this many
 * (at least 1). */
unsigned opool_workers(const struct opool *p);
/* Jobs submitted and not yet collected. */
unsigned opool_pending(const struct opool *p);
/* Queue a job (borrowed until collected). BUG when the window is full:
 * collect first. */
void opool_submit(struct opool *p, void *job);
/* Remove and return the oldest job once it has run; with wait == 0 return
 * NULL instead of blocking when it has not finished yet (or none is
 * pending). */
void *opool_collect(struct opool *p, int wait);
/* Stop the workers: jobs not yet started are skipped, running ones are
 * finished, and every uncollected job is handed to drop (may be NULL).
 * NULL is a no-op. */
void opool_free(struct opool *p, void (*drop)(void *job));

#endif
