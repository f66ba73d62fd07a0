/* tmpfile.h - temp files beside a path the user named (FILE of `store
 * get`, index.json of an OCI directory): created exclusively under a
 * random name, so nothing planted at a predictable name is opened,
 * truncated or written through. */
#ifndef EC_UTIL_TMPFILE_H
#define EC_UTIL_TMPFILE_H

#include <sys/types.h>
#include <time.h>

#include "util/err.h"

/* Create "<path><tag><12 random hex>" with O_RDWR | O_CREAT | O_EXCL |
 * O_NOFOLLOW | O_CLOEXEC and `mode` (umask applies). Returns the fd and
 * sets *tmp (allocated); -1 with err (EC_FAIL naming the directory) when
 * no name could be created. */
int tmpfile_beside(const char *path, const char *tag, mode_t mode, char **tmp,
		   struct ec_err *err);

/* Remove `name` beneath dfd (a file, or a directory tree) when its mtime
 * is at least max_age seconds before `now` and nobody holds an flock on
 * it: writers of temps keep them locked while in flight, and a temp
 * younger than max_age may not be locked yet. Symlinks and other types
 * are removed by age alone. 1 when removed, else 0 (best effort, no
 * error). */
int tmpfile_sweep_at(int dfd, const char *name, time_t now, time_t max_age);

#endif
