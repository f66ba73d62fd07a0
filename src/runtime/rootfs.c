/* rootfs.c - the container root filesystem: overlayfs over layer
 * directories, or a bind mount, and its removal.
 *
 * mount(2) copies at most one page of options, and overlayfs splits
 * lowerdir on ':' and options on ','. The new mount API does not help on
 * Debian 12's 6.1 kernel: fsconfig(FSCONFIG_SET_STRING) takes values of at
 * most 255 bytes (lowerdir included) and "lowerdir+" (one layer per call)
 * needs 6.7. So: absolute paths when every path is plain and the options
 * fit in a page (readable in /proc/self/mountinfo), otherwise every layer
 * is opened with O_PATH and named "/proc/self/fd/N" (about 18 bytes a
 * layer: ~200 layers per page, no escaping). */
#include "runtime/rt_impl.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* Extra options when there is an upper dir: keep it a self-contained diff
 * (no redirect xattrs pointing into lowers, no metadata-only copy-ups), and
 * no inode index tying the upper to these exact lowers (as docker does). */
#define OVL_DIFF_OPTS ",redirect_dir=off,metacopy=off,index=off"

static size_t count(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* A path overlayfs takes verbatim in its options. */
static int plain_path(const char *p)
{
	return p[0] == '/' && !strpbrk(p, ",:\\\n");
}

/* Options naming layers by absolute path; NULL when they do not fit. */
static char *opts_by_path(const struct rt_spec *s, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < n; i++)
		if (!plain_path(s->lowerdirs[i]))
			return NULL;
	if (s->upper && (!plain_path(s->upper) || !plain_path(s->work)))
		return NULL;
	sb_adds(&sb, "lowerdir=");
	for (i = 0; i < n; i++)
		sb_addf(&sb, "%s%s", i ? ":" : "", s->lowerdirs[i]);
	if (s->upper)
		sb_addf(&sb, ",upperdir=%s,workdir=%s" OVL_DIFF_OPTS, s->upper,
			s->work);
	if (sb.len >= (size_t)getpagesize()) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb, NULL);
}

static int open_layer(const char *path, int *fds, size_t *nfds,
		      struct strbuf *sb, struct ec_err *err)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return ec_err_errno(err, EC_FAIL, errno, "open layer '%s'",
				    path);
	fds[(*nfds)++] = fd;
	sb_addf(sb, "/proc/self/fd/%d", fd);
	return 0;
}

/* Options naming layers by O_PATH descriptors (stored in fds). */
static int opts_by_fd(const struct rt_spec *s, size_t n, int *fds, size_t *nfds,
		      char **opts, struct ec_err *err)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	int r = 0;

	sb_adds(&sb, "lowerdir=");
	for (i = 0; r == 0 && i < n; i++) {
		if (i)
			sb_addc(&sb, ':');
		r = open_layer(s->lowerdirs[i], fds, nfds, &sb, err);
	}
	if (r == 0 && s->upper) {
		sb_adds(&sb, ",upperdir=");
		r = open_layer(s->upper, fds, nfds, &sb, err);
	}
	if (r == 0 && s->upper) {
		sb_adds(&sb, ",workdir=");
		r = open_layer(s->work, fds, nfds, &sb, err);
		sb_adds(&sb, OVL_DIFF_OPTS);
	}
	if (r == 0 && sb.len >= (size_t)getpagesize())
		r = ec_err_set(err, EC_USAGE,
			       "too many layers (%zu) for one overlay mount",
			       n);
	if (r < 0) {
		sb_release(&sb);
		return -1;
	}
	*opts = sb_detach(&sb, NULL);
	return 0;
}

static int mount_overlay(const struct rt_spec *s, size_t n, const char *target,
			 struct ec_err *err)
{
	_cleanup_free_ char *opts = opts_by_path(s, n);
	_cleanup_free_ int *fds = xcalloc(n + 2, sizeof(int));
	size_t nfds = 0, i;
	int r = 0;

	if (!opts)
		r = opts_by_fd(s, n, fds, &nfds, &opts, err);
	if (r == 0 && mount("overlay", target, "overlay", 0, opts) < 0) {
		if (errno == EINVAL)
			r = ec_err_set(
			    err, EC_FAIL,
			    "mount overlay of %zu layers on '%s': invalid "
			    "argument (upper and work must be directories on "
			    "one filesystem, outside the layers)",
			    n, target);
		else
			r = ec_err_errno(err, EC_FAIL, errno,
					 "mount overlay of %zu layers on '%s'",
					 n, target);
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return r;
}

static int mount_bind(const char *src, const char *target, int ro,
		      struct ec_err *err)
{
	if (mount(src, target, NULL, MS_BIND, NULL) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "bind '%s' on '%s'",
				    src, target);
	if (ro && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY,
			NULL) < 0) {
		int e = errno;

		umount2(target, MNT_DETACH);
		return ec_err_errno(err, EC_FAIL, e, "make '%s' read-only",
				    target);
	}
	return 0;
}

int rt_rootfs_mount(const struct rt_spec *spec, const char *target,
		    int *readonly, struct ec_err *err)
{
	size_t n = count(spec->lowerdirs);

	*readonly = spec->readonly_rootfs || !spec->upper;
	if (spec->upper && n && !spec->work)
		return ec_err_set(err, EC_USAGE,
				  "an overlay rootfs needs a work directory "
				  "next to upper '%s'",
				  spec->upper);
	if (!n && !spec->upper)
		return ec_err_set(
		    err, EC_USAGE,
		    "no rootfs: give lower directories or an upper directory");
	if (!n)
		return mount_bind(spec->upper, target, 0, err);
	/* overlayfs wants two lowers when there is no upper */
	if (n == 1 && !spec->upper)
		return mount_bind(spec->lowerdirs[0], target, 1, err);
	return mount_overlay(spec, n, target, err);
}

/* 1 when path is the root of a mount, 0 when not, -1 on error. */
static int is_mount_root(const char *path)
{
	struct statx stx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
		  &stx) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return !!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	errno = ENOSYS;
	return -1;
}

int rt_rootfs_umount(const char *target, struct ec_err *err)
{
	int i, m;

	for (i = 0; i < 16; i++) {
		m = is_mount_root(target);
		if (m < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "check mounts on '%s'", target);
		if (!m)
			return 0;
		if (umount2(target, UMOUNT_NOFOLLOW) < 0 &&
		    umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 &&
		    errno != EINVAL)
			return ec_err_errno(err, EC_FAIL, errno, "unmount '%s'",
					    target);
	}
	return ec_err_set(err, EC_FAIL, "'%s' is still mounted", target);
}

int rt_bundle_remove(const char *bundle, struct ec_err *err)
{
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);

	if (rt_rootfs_umount(rootfs, err) < 0)
		return ec_err_prefix(err, "keeping bundle '%s'", bundle);
	return fs_rm_rf(bundle, err);
}
