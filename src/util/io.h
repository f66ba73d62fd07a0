/* io.h - whole-buffer reads and writes that retry on EINTR and short I/O. */
#ifndef EC_IO_H
#define EC_IO_H

#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/* Write all of buf to fd (at offset `off` when off >= 0, with pwrite).
 * Fails with the errno named in err ("write <what>"). */
int io_write_all(int fd, const void *buf, size_t len, int64_t off,
		 const char *what, struct ec_err *err);

/* Read up to len bytes, short only at end of file; -1 with errno set. */
ssize_t io_read_full(int fd, void *buf, size_t len);
/* pread that retries EINTR: bytes read, 0 at end of file, -1 with errno
 * set (a failed read, EIO on a bad disk, is no end of file). */
ssize_t io_pread(int fd, void *buf, size_t len, uint64_t off);
/* Read exactly len bytes of fd at offset off (pread). Fails naming
 * `what` and the offset; a file that ends first is an error too. */
int io_pread_exact(int fd, void *buf, size_t len, uint64_t off,
		   const char *what, struct ec_err *err);
/* Sleep ms milliseconds, the whole time even when signals arrive (retry
 * back-offs). */
void io_sleep_ms(int64_t ms);

#endif
