/* strbuf.h - a growable, always NUL-terminated byte buffer (git's strbuf). */
#ifndef EC_STRBUF_H
#define EC_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf; /* never NULL after init */
	size_t len;
	size_t alloc;
};

#define STRBUF_INIT                                                            \
	{                                                                      \
		.buf = (char *)strbuf_empty, .len = 0, .alloc = 0              \
	}
extern const char strbuf_empty[1];

void sb_init(struct strbuf *sb);
void sb_release(struct strbuf *sb);
/* Hand the buffer to the caller (free() it); sb is reset. */
char *sb_detach(struct strbuf *sb, size_t *len);
void sb_reset(struct strbuf *sb);
void sb_grow(struct strbuf *sb, size_t extra);
void sb_add(struct strbuf *sb, const void *data, size_t len);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define _cleanup_strbuf_ __attribute__((cleanup(sb_release)))

#endif
