#!/usr/bin/python3
# eiofs.py - a FUSE pass-through of a directory whose reads fail with EIO
# for chosen files: a disk with bad sectors under one blob, for
# tests/cli/710-faults-local.bats.
#
#   usage: eiofs.py SRC MNT LIST
#
# Mounts SRC at MNT (foreground; stop it with umount MNT, or SIGTERM to its
# PID). Everything passes through (create, write, rename, unlink, fsync...)
# except read(2) of a file whose name (the last path component) is a line
# of the file LIST at the time of the read: that fails with EIO. LIST is
# read at every read, so a test turns the fault on and off by rewriting
# it. direct_io: every read reaches this process, none is served from the
# page cache.
# Needs python3-fusepy (Debian 12; tests/lib/deps.sh) and /dev/fuse.
import errno
import os
import sys

from fusepy import FUSE, FuseOSError, Operations


class EioFS(Operations):
    def __init__(self, src, lst):
        self.src = os.path.realpath(src)
        self.lst = lst

    def _p(self, path):
        return self.src + path

    def _bad(self, path):
        try:
            with open(self.lst) as f:
                names = {line.strip() for line in f}
        except OSError:
            return False
        return os.path.basename(path) in names

    def __call__(self, op, *args):
        try:
            return super().__call__(op, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO)

    def access(self, path, mode):
        if not os.access(self._p(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        os.chmod(self._p(path), mode)

    def chown(self, path, uid, gid):
        os.lchown(self._p(path), uid, gid)

    def create(self, path, mode, fi=None):
        return os.open(self._p(path), os.O_RDWR | os.O_CREAT, mode)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        os.fsync(fh)
        return 0

    def getattr(self, path, fh=None):
        st = os.lstat(self._p(path))
        return {k: getattr(st, k) for k in (
            'st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime',
            'st_nlink', 'st_size', 'st_uid', 'st_ino', 'st_blocks')}

    def link(self, target, source):
        os.link(self._p(source), self._p(target))

    def mkdir(self, path, mode):
        os.mkdir(self._p(path), mode)

    def open(self, path, flags):
        return os.open(self._p(path), flags & ~(os.O_CREAT | os.O_EXCL))

    def read(self, path, size, offset, fh):
        if self._bad(path):
            raise FuseOSError(errno.EIO)
        return os.pread(fh, size, offset)

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._p(path))

    def readlink(self, path):
        return os.readlink(self._p(path))

    def release(self, path, fh):
        os.close(fh)
        return 0

    def rename(self, old, new):
        os.rename(self._p(old), self._p(new))

    def rmdir(self, path):
        os.rmdir(self._p(path))

    def statfs(self, path):
        sv = os.statvfs(self._p(path))
        return {k: getattr(sv, k) for k in (
            'f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail',
            'f_ffree', 'f_files', 'f_flag', 'f_frsize', 'f_namemax')}

    def symlink(self, target, source):
        os.symlink(source, self._p(target))

    def truncate(self, path, length, fh=None):
        if fh is not None:
            os.ftruncate(fh, length)
        else:
            os.truncate(self._p(path), length)

    def unlink(self, path):
        os.unlink(self._p(path))

    def utimens(self, path, times=None):
        os.utime(self._p(path), times, follow_symlinks=False)

    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)


def main():
    if len(sys.argv) != 4:
        sys.exit('usage: eiofs.py SRC MNT LIST')
    FUSE(EioFS(sys.argv[1], sys.argv[3]), sys.argv[2], foreground=True,
         nothreads=True, allow_other=True, direct_io=True, use_ino=True,
         fsname='edgectl-eiofs')


if __name__ == '__main__':
    main()
