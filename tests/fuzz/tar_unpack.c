/* tar_unpack.c - fuzz the layer unpacker: the input is the tar stream,
 * unpacked with each whiteout mode into a fresh directory under small caps.
 * Beyond "no crash", it checks the safety property: next to the target
 * sits a sentinel directory, and after every run the parent must hold
 * exactly the two and the sentinel its one untouched file. */
#include "archive/tar.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
	const uint8_t *data;
	size_t size, pos;
};

static long src_read(void *ctx, void *buf, size_t len, struct ec_err *err)
{
	struct src *s = ctx;
	size_t n = s->size - s->pos;

	(void)err;
	if (n > len)
		n = len;
	if (n > 700) /* uneven pieces: state must carry across reads */
		n = 700;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (long)n;
}

static int count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Entries may leave directories without search/write permission: open
 * them up so the cleanup can remove everything (no-op work as root). */
static void open_up(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		int cfd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cfd = openat(dirfd(d), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0 && fchmodat(dirfd(d), de->d_name, 0700, 0) == 0)
			cfd = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
		if (cfd >= 0) {
			fchmod(cfd, 0700);
			open_up(cfd);
		}
	}
	if (d)
		closedir(d);
	else
		close(dfd);
}

static void check_sentinel(const char *top)
{
	char path[4096], buf[16];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/sentinel/keep", top);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_nlink != 1 || n != 5 ||
	    memcmp(buf, "keep\n", 5))
		abort();
	close(fd);
	snprintf(path, sizeof(path), "%s/sentinel", top);
	if (count(top) != 2 || count(path) != 1)
		abort(); /* something was created or removed outside the target
			  */
}

static void run(const uint8_t *data, size_t size, int whiteouts)
{
	struct tar_unpack_opts o = {
	    .whiteouts = whiteouts,
	    .max_bytes = 1u << 20,
	    .max_entries = 256,
	};
	struct src s = {.data = data, .size = size};
	struct ec_err err;
	char path[4096];
	char *top = fs_mkdtemp("/tmp", "fuzz-tar-", &err);
	uint64_t n = 0;
	int fd;

	if (!top)
		abort();
	snprintf(path, sizeof(path), "%s/sentinel", top);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/sentinel/keep", top);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "keep\n", 5) != 5)
		abort();
	close(fd);
	snprintf(path, sizeof(path), "%s/t", top);
	mkdir(path, 0755);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		abort();
	if (tar_unpack(src_read, &s, fd, &o, &n, &err) < 0 && !err.msg[0])
		abort(); /* a failure always says why */
	if (n > o.max_entries + 1)
		abort();
	check_sentinel(top);
	fchmod(fd, 0700);
	open_up(fd); /* takes fd */
	fs_rm_rf(top, &err);
	free(top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int w;

	for (w = 0; w <= 2; w++)
		run(data, size, w);
	return 0;
}

#include "replay.inc"
