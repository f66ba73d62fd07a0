/* tar_impl.h - internals shared by tar_write.c and tar_unpack.c (not part
 * of the archive module's API; tests may use the hooks below). */
#ifndef EC_TAR_IMPL_H
#define EC_TAR_IMPL_H

#include <locale.h>
#include <stdint.h>

/* Largest path either side accepts (an entry name, a symlink target). */
#define TAR_PATH_MAX 4096

/* How tar_open_beneath() resolves `path` under its directory fd. */
enum tar_resolve {
	/* symlinks may be followed while they stay beneath (openat2
	 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) */
	TAR_RESOLVE_BENEATH,
	/* no symlink anywhere in the path (RESOLVE_NO_SYMLINKS as well) */
	TAR_RESOLVE_NO_SYMLINKS,
};

/* Open `path` (relative, no leading '/') beneath dirfd with openat2();
 * O_CLOEXEC is added. Escapes fail with EXDEV, symlinks refused by the mode
 * with ELOOP. Where the kernel lacks openat2 (ENOSYS) the path is walked one
 * component at a time with O_NOFOLLOW, so any symlink is refused (ELOOP).
 * Returns the fd or -1 with errno set. */
int tar_open_beneath(int dirfd, const char *path, int flags,
		     enum tar_resolve how);

/* Test hook: when set, tar_open_beneath() always takes the fallback walk. */
extern int tar_test_no_openat2;

/* Extended attributes kept in a layer (both directions): user.* except
 * user.overlay.* (overlayfs metadata on userxattr mounts) and
 * security.capability. trusted.*, security.selinux, ACLs are dropped. */
int tar_xattr_kept(const char *name);

/* libarchive converts names through the calling thread's LC_CTYPE. The
 * writer runs under C.UTF-8 (valid UTF-8 names go out as UTF-8, anything
 * else as hdrcharset=BINARY) and the reader under C (names come back as the
 * raw bytes, never normalised), whatever the program's locale. */
struct tar_locale {
	locale_t old, cur;
};
/* Switch the calling thread to LC_CTYPE `name` ("C" when unavailable);
 * never fails. */
void tar_locale_push(struct tar_locale *l, const char *name);
/* Restore the thread's previous locale and free the pushed one. */
void tar_locale_pop(struct tar_locale *l);

#endif
