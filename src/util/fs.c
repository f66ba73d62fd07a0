#include "util/fs.h"
#include <stdint.h>
#include "util/io.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdir_p(const char *path, struct ec_err *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	char *s;

	for (s = p + 1;; s++) {
		if (*s == '/' || !*s) {
			char c = *s;
			*s = '\0';
			if (*p && mkdir(p, 0755) < 0 && errno != EEXIST)
				return ec_err_errno(err, EC_FAIL, errno,
						    "create directory '%s'", p);
			*s = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static int rm_children(int fd, struct ec_err *err)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(fd);
		return ec_err_errno(err, EC_FAIL, errno, "read directory");
	}
	while (r == 0 && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			r = fs_rm_rf_at(dirfd(d), de->d_name, err);
	closedir(d);
	return r;
}

int fs_rm_rf_at(int dirfd, const char *path, struct ec_err *err)
{
	struct stat st;
	int fd;

	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0
				       : ec_err_errno(err, EC_FAIL, errno,
						      "stat '%s'", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, path, 0) < 0 && errno != ENOENT)
			return ec_err_errno(err, EC_FAIL, errno, "remove '%s'",
					    path);
		return 0;
	}
	fd = openat(dirfd, path,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", path);
	if (rm_children(fd, err) < 0)
		return -1;
	if (unlinkat(dirfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ec_err_errno(err, EC_FAIL, errno, "remove '%s'", path);
	return 0;
}

int fs_rm_rf(const char *path, struct ec_err *err)
{
	return fs_rm_rf_at(AT_FDCWD, path, err);
}

char *fs_mkdtemp(const char *parent, const char *prefix, struct ec_err *err)
{
	char *p;

	if (fs_mkdir_p(parent, err) < 0)
		return NULL;
	p = xasprintf("%s/%sXXXXXX", parent, prefix);
	if (!mkdtemp(p)) {
		ec_err_errno(err, EC_FAIL, errno,
			     "create temp directory in '%s'", parent);
		free(p);
		return NULL;
	}
	return p;
}

int fs_read_file(const char *path, size_t max, char **data, size_t *len,
		 struct ec_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open '%s'", path);
	if ((uint64_t)st.st_size > max)
		return ec_err_set(err, EC_USAGE,
				  "'%s' is larger than %zu bytes", path, max);
	buf = xmalloc((size_t)st.st_size + 1);
	n = io_read_full(fd, buf, (size_t)st.st_size);
	if (n < 0)
		return ec_err_errno(err, EC_FAIL, errno, "read '%s'", path);
	buf[n] = '\0';
	*data = EC_STEAL(buf);
	if (len)
		*len = (size_t)n;
	return 0;
}
