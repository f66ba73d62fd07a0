#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void ec_err_clear(struct ec_err *err)
{
	if (!err)
		return;
	err->cat = EC_OK;
	err->errnum = 0;
	err->http_status = 0;
	err->msg[0] = '\0';
}

static void err_vset(struct ec_err *err, enum ec_cat cat, const char *fmt,
		     va_list ap)
{
	err->cat = cat;
	err->errnum = 0;
	err->http_status = 0;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int ec_err_set(struct ec_err *err, enum ec_cat cat, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	err_vset(err, cat, fmt, ap);
	va_end(ap);
	return -1;
}

int ec_err_errno(struct ec_err *err, enum ec_cat cat, int errnum,
		 const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err)
		return -1;
	if (cat == EC_FAIL) {
		if (errnum == EACCES || errnum == EPERM || errnum == EROFS)
			cat = EC_PERM;
		else if (errnum == ENOENT)
			cat = EC_NOTFOUND;
		else if (errnum == EINTR)
			cat = EC_INTR;
	}
	va_start(ap, fmt);
	err_vset(err, cat, fmt, ap);
	va_end(ap);
	err->errnum = errnum;
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return -1;
}

int ec_err_prefix(struct ec_err *err, const char *fmt, ...)
{
	char head[EC_ERR_MSG_MAX];
	size_t hl, ml;
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head) - 2, fmt, ap);
	va_end(ap);
	hl = strlen(head);
	head[hl++] = ':';
	head[hl++] = ' ';
	ml = strnlen(err->msg, sizeof(err->msg) - 1);
	if (hl + ml > sizeof(err->msg) - 1)
		ml = sizeof(err->msg) - 1 - hl;
	memmove(err->msg + hl, err->msg, ml);
	memcpy(err->msg, head, hl);
	err->msg[hl + ml] = '\0';
	return -1;
}

int ec_cat_exit(enum ec_cat cat)
{
	return (int)cat;
}

const char *ec_cat_name(enum ec_cat cat)
{
	switch (cat) {
	case EC_OK:
		return "ok";
	case EC_FAIL:
		return "failed";
	case EC_USAGE:
		return "usage";
	case EC_NOTFOUND:
		return "not_found";
	case EC_REMOTE:
		return "remote";
	case EC_PERM:
		return "permission";
	case EC_CONFLICT:
		return "conflict";
	case EC_INTR:
		return "interrupted";
	}
	return "failed";
}

_Noreturn void ec_bug(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "edgectl: BUG at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
