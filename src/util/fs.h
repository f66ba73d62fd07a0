/* fs.h - small filesystem helpers. */
#ifndef EC_FS_H
#define EC_FS_H

#include "util/err.h"

/* mkdir -p (absolute or relative to the cwd), mode 0755. */
int fs_mkdir_p(const char *path, struct ec_err *err);
/* Remove path (file or tree) beneath dirfd without following symlinks;
 * missing is fine. */
int fs_rm_rf_at(int dirfd, const char *path, struct ec_err *err);
int fs_rm_rf(const char *path, struct ec_err *err);
/* A new directory "<parent>/<prefix>XXXXXX" (allocated path). */
char *fs_mkdtemp(const char *parent, const char *prefix, struct ec_err *err);
/* Read a whole small file (at most max bytes) into a NUL-terminated buffer. */
int fs_read_file(const char *path, size_t max, char **data, size_t *len,
		 struct ec_err *err);

#endif
