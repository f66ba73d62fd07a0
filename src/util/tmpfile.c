/* tmpfile.c - exclusive temp files beside a path (tmpfile.h). */
#include "util/tmpfile.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int tmpfile_beside(const char *path, const char *tag, mode_t mode, char **tmp,
		   struct ec_err *err)
{
	int tries, fd = -1, e = EEXIST;

	*tmp = NULL;
	for (tries = 0; tries < 100 && fd < 0 && e == EEXIST; tries++) {
		uint8_t r[6];
		char *p;

		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			BUG("getrandom failed");
		p = xasprintf("%s%s%02x%02x%02x%02x%02x%02x", path, tag, r[0],
			      r[1], r[2], r[3], r[4], r[5]);
		fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  mode);
		e = errno;
		if (fd >= 0)
			*tmp = p;
		else
			free(p);
	}
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, e,
				    "create a temp file beside '%s'", path);
	return fd;
}

int tmpfile_sweep_at(int dfd, const char *name, time_t now, time_t max_age)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now - st.st_mtime < max_age)
		return 0;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		fd = openat(dfd, name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			return 0; /* in flight */
	}
	return fs_rm_rf_at(dfd, name, NULL) == 0;
}
