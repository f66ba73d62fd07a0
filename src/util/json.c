#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

json_t *ec_json_parse(const char *data, size_t len, const char *what,
		      struct ec_err *err)
{
	json_error_t je;
	json_t *v;

	if (len > EC_JSON_MAX) {
		ec_err_set(
		    err, EC_USAGE,
		    "%s: JSON document of %zu bytes is over the %u byte limit",
		    what, len, EC_JSON_MAX);
		return NULL;
	}
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!v)
		ec_err_set(err, EC_USAGE,
			   "%s: invalid JSON at line %d column %d: %s", what,
			   je.line, je.column, je.text);
	return v;
}

json_t *ec_json_load_file(const char *path, struct ec_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	char buf[65536];
	ssize_t n;

	if (fd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "open '%s'", path);
		return NULL;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ec_err_errno(err, EC_FAIL, errno, "read '%s'", path);
			return NULL;
		}
		if (sb.len + (size_t)n > EC_JSON_MAX) {
			ec_err_set(err, EC_USAGE,
				   "'%s' is larger than %u bytes", path,
				   EC_JSON_MAX);
			return NULL;
		}
		sb_add(&sb, buf, (size_t)n);
	}
	return ec_json_parse(sb.buf, sb.len, path, err);
}

char *ec_json_dump(const json_t *v)
{
	char *s =
	    json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (!s)
		abort();
	return s;
}

const char *ec_json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

void ec_json_decrefp(json_t **p)
{
	if (*p)
		json_decref(*p);
}

int64_t ec_json_int(const json_t *obj, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(obj, key));
}
