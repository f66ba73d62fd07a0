/* tar_common.c - path resolution beneath a directory, the xattr policy and
 * the locale guard shared by the tar writer and unpacker. */
#include "archive/tar_impl.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int tar_test_no_openat2;

/* The fallback walk: every component opened without following symlinks. */
static int walk_open(int dirfd, const char *path, int flags)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char *comp = copy, *slash;
	int cur = -1, fd, e;

	for (;;) {
		int base = cur >= 0 ? cur : dirfd;

		slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		if (!strcmp(comp, "..")) {
			fd = -1;
			errno = EXDEV;
		} else if (!*comp || !strcmp(comp, ".")) {
			fd = openat(base, ".",
				    slash ? O_PATH | O_DIRECTORY | O_CLOEXEC
					  : flags | O_CLOEXEC);
		} else if (slash) {
			fd = openat(base, comp,
				    O_PATH | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
		} else {
			fd = openat(base, comp, flags | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0 && errno == ENOTDIR) {
			struct stat st;

			if (!fstatat(base, comp, &st, AT_SYMLINK_NOFOLLOW) &&
			    S_ISLNK(st.st_mode))
				errno = ELOOP;
		}
		e = errno;
		if (cur >= 0)
			close(cur);
		if (fd < 0) {
			errno = e;
			return -1;
		}
		if (!slash)
			return fd;
		cur = fd;
		comp = slash + 1;
	}
}

int tar_open_beneath(int dirfd, const char *path, int flags,
		     enum tar_resolve how)
{
	struct open_how oh = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int i, fd = -1;

	if (how == TAR_RESOLVE_NO_SYMLINKS)
		oh.resolve |= RESOLVE_NO_SYMLINKS;
	if (!tar_test_no_openat2) {
		/* EAGAIN: a concurrent rename somewhere in the tree */
		for (i = 0; i < 8; i++) {
			fd = (int)syscall(SYS_openat2, dirfd, path, &oh,
					  sizeof(oh));
			if (fd >= 0 || errno != EAGAIN)
				break;
		}
		if (fd >= 0 || errno != ENOSYS)
			return fd;
	}
	return walk_open(dirfd, path, flags);
}

int tar_xattr_kept(const char *name)
{
	if (!strncmp(name, "user.", 5))
		return strncmp(name, "user.overlay.", 13) != 0;
	return !strcmp(name, "security.capability");
}

void tar_locale_push(struct tar_locale *l, const char *name)
{
	l->cur = newlocale(LC_CTYPE_MASK, name, (locale_t)0);
	if (l->cur == (locale_t)0)
		l->cur = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
	l->old = l->cur != (locale_t)0 ? uselocale(l->cur) : (locale_t)0;
}

void tar_locale_pop(struct tar_locale *l)
{
	if (l->cur == (locale_t)0)
		return;
	uselocale(l->old);
	freelocale(l->cur);
	l->cur = (locale_t)0;
}
