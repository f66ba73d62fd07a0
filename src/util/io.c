#include "util/io.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>
#include <unistd.h>

int io_write_all(int fd, const void *buf, size_t len, int64_t off,
		 const char *what, struct ec_err *err)
{
	const char *p = buf;

	while (len) {
		ssize_t n = off >= 0 ? pwrite(fd, p, len, (off_t)off)
				     : write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ec_err_errno(err, EC_FAIL, errno, "write %s",
					    what);
		}
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

ssize_t io_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t io_pread(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n;
}

int io_pread_exact(int fd, void *buf, size_t len, uint64_t off,
		   const char *what, struct ec_err *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n =
		    io_pread(fd, (char *)buf + got, len - got, off + got);

		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "read %s at offset %" PRIu64, what,
					    off + got);
		if (n == 0)
			return ec_err_set(err, EC_FAIL,
					  "read %s: unexpected end of file at "
					  "offset %" PRIu64,
					  what, off + got);
		got += (size_t)n;
	}
	return 0;
}

void io_sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0)
		;
}
