/* err.h - the one error type of edgectl.
 *
 * Functions that can fail take `struct ec_err *err` as their last parameter,
 * return 0/-1 (or a pointer/NULL) and fill it. Callers add context on the way
 * up with ec_err_prefix(); only cmd/ ever prints an error, once. */
#ifndef EC_ERR_H
#define EC_ERR_H

#include <stdarg.h>
#include <stdlib.h>

/* Error categories. Each maps to one process exit status (edgectl(1)). */
enum ec_cat {
	EC_OK = 0,
	EC_FAIL = 1,	 /* anything else */
	EC_USAGE = 2,	 /* bad arguments or input the user can fix */
	EC_NOTFOUND = 3, /* object, image, host... does not exist */
	EC_REMOTE = 4,	 /* network or server trouble; a retry may help */
	EC_PERM = 5,	 /* permission, credentials or a missing capability */
	EC_CONFLICT = 6, /* lost a compare-and-swap (after retries) */
	EC_INTR = 130,	 /* interrupted by a signal */
};

#define EC_ERR_MSG_MAX 1024

struct ec_err {
	enum ec_cat cat;
	int errnum;	 /* errno when one applies, else 0 */
	int http_status; /* HTTP status when one applies, else 0 */
	char msg[EC_ERR_MSG_MAX];
};

/* Reset to "no error". */
void ec_err_clear(struct ec_err *err);

/* Set category and message (printf format). Returns -1 so callers can
 * `return ec_err_set(...)`. `err` may be NULL (the error is dropped). */
int ec_err_set(struct ec_err *err, enum ec_cat cat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ec_err_set() and appends ": strerror(errnum)"; records errnum and
 * picks EC_PERM for EACCES/EPERM, EC_NOTFOUND for ENOENT unless `cat` is
 * not EC_FAIL. */
int ec_err_errno(struct ec_err *err, enum ec_cat cat, int errnum,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prepend "context: " to the message, keeping category. Returns -1. */
int ec_err_prefix(struct ec_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Process exit status for a category. */
int ec_cat_exit(enum ec_cat cat);

/* Stable snake_case name of a category, for JSON ("not_found"...). */
const char *ec_cat_name(enum ec_cat cat);

/* Abort with a message: for programmer bugs only. */
#define BUG(...) ec_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void ec_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
