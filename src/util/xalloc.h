/* xalloc.h - allocation that aborts on failure (STYLE: out of memory is not
 * an error callers handle), and the closed set of cleanup macros. */
#ifndef EC_XALLOC_H
#define EC_XALLOC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formatted allocation; never returns NULL. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
/* Grow an array to hold at least `need` elements of `elem` bytes. */
void *xgrow(void *p, size_t *cap, size_t need, size_t elem);

/* Cleanup attributes for locals; hand off ownership with EC_STEAL(). */
void ec_freep(void *p);
void ec_closep(int *fd);
void ec_fclosep(FILE **f);
#define _cleanup_free_	 __attribute__((cleanup(ec_freep)))
#define _cleanup_close_	 __attribute__((cleanup(ec_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(ec_fclosep)))
#define _cleanup_json_	 __attribute__((cleanup(ec_json_decrefp)))
/* Take a pointer out of a cleanup variable (ownership moves to the caller). */
#define EC_STEAL(p)                                                            \
	({                                                                     \
		__typeof__(p) _s = (p);                                        \
		(p) = NULL;                                                    \
		_s;                                                            \
	})
#define EC_STEAL_FD(fd)                                                        \
	({                                                                     \
		int _f = (fd);                                                 \
		(fd) = -1;                                                     \
		_f;                                                            \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
