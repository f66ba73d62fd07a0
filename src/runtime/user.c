/* user.c - resolve a container user ("name[:group]", "uid[:gid]") against
 * the container's own /etc/passwd and /etc/group, like docker does. */
#include "runtime/rt_impl.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* /etc/passwd and /etc/group larger than this are refused. */
#define DB_MAX	   (4u << 20)
#define MAX_GROUPS 64
#define ID_MAX	   4294967294ull /* (uid_t)-1 is "no change" in the kernel */

/* One parsed /etc/passwd or /etc/group line: fields point into the line. */
struct db_ent {
	char *f[7];
	int n;
};

/* Read etc/<name> below rootfd without leaving the rootfs. *data = NULL
 * when the file does not exist. */
static int db_read(int rootfd, const char *path, char **data,
		   struct ec_err *err)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	_cleanup_close_ int fd = -1;
	struct strbuf sb = STRBUF_INIT;
	char buf[8192];
	ssize_t n;

	*data = NULL;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return ec_err_errno(err, EC_FAIL, errno,
				    "open the container's '/%s'", path);
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || sb.len + (size_t)n > DB_MAX) {
			sb_release(&sb);
			if (n < 0)
				return ec_err_errno(
				    err, EC_FAIL, errno,
				    "read the container's '/%s'", path);
			return ec_err_set(
			    err, EC_USAGE,
			    "the container's '/%s' is larger than %u bytes",
			    path, DB_MAX);
		}
		sb_add(&sb, buf, (size_t)n);
	}
	*data = sb_detach(&sb, NULL);
	return 0;
}

/* Split the next line at *pos into ':'-separated fields. Returns 0 at the
 * end of the data. Comments and blank lines yield n == 0. */
static int db_next(char **pos, struct db_ent *e)
{
	char *line = *pos, *nl, *s;

	if (!line || !*line)
		return 0;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*pos = nl + 1;
	} else {
		*pos = line + strlen(line);
	}
	e->n = 0;
	if (*line == '#' || !*line)
		return 1;
	for (s = line; e->n < (int)ARRAY_SIZE(e->f);) {
		e->f[e->n++] = s;
		s = strchr(s, ':');
		if (!s)
			break;
		*s++ = '\0';
	}
	return 1;
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Parse a numeric id field of a database line; -1 when malformed. */
static int64_t db_id(const char *s)
{
	uint64_t v;

	if (!all_digits(s) || parse_u64(s, ID_MAX, &v, "id", NULL) < 0)
		return -1;
	return (int64_t)v;
}

/* Find a passwd entry by name (when `name`) or by uid. Fills uid, gid and
 * home; returns 1 when found. `data` is modified. */
static int pw_find(char *data, const char *name, uid_t uid, struct rt_user *u,
		   char **found_name)
{
	struct db_ent e;
	char *pos = data;

	while (db_next(&pos, &e)) {
		int64_t id, gid;

		if (e.n < 4)
			continue;
		id = db_id(e.f[2]);
		gid = db_id(e.f[3]);
		if (id < 0 || gid < 0)
			continue;
		if (name ? strcmp(e.f[0], name) != 0 : (uid_t)id != uid)
			continue;
		u->uid = (uid_t)id;
		u->gid = (gid_t)gid;
		if (e.n >= 6 && *e.f[5])
			u->home = xstrdup(e.f[5]);
		*found_name = xstrdup(e.f[0]);
		return 1;
	}
	return 0;
}

/* Find a group by name; returns its gid or -1. `data` is modified. */
static int64_t gr_find(char *data, const char *name)
{
	struct db_ent e;
	char *pos = data;

	while (db_next(&pos, &e))
		if (e.n >= 3 && !strcmp(e.f[0], name) && db_id(e.f[2]) >= 0)
			return db_id(e.f[2]);
	return -1;
}

/* Supplementary groups: every group listing `name` as a member. */
static void gr_members(char *data, const char *name, struct rt_user *u)
{
	size_t cap = 0;
	struct db_ent e;
	char *pos = data;

	while (db_next(&pos, &e)) {
		int64_t gid;
		char *m, *save = NULL;

		if (e.n < 4 || (gid = db_id(e.f[2])) < 0)
			continue;
		for (m = strtok_r(e.f[3], ",", &save); m;
		     m = strtok_r(NULL, ",", &save)) {
			if (strcmp(m, name) || u->ngids >= MAX_GROUPS)
				continue;
			u->gids = xgrow(u->gids, &cap, u->ngids + 1,
					sizeof(*u->gids));
			u->gids[u->ngids++] = (gid_t)gid;
			break;
		}
	}
}

/* The user part: numeric (optionally in passwd) or a name (must be). */
static int resolve_uid(int rootfd, const char *user, struct rt_user *u,
		       char **name, struct ec_err *err)
{
	_cleanup_free_ char *pw = NULL;
	int numeric = all_digits(user);
	uint64_t v = 0;

	if (numeric && parse_u64(user, ID_MAX, &v, "user id", err) < 0)
		return -1;
	if (db_read(rootfd, "etc/passwd", &pw, err) < 0)
		return -1;
	if (numeric) {
		u->uid = (uid_t)v;
		if (pw)
			pw_find(pw, NULL, u->uid, u, name);
		return 0;
	}
	if (!pw)
		return ec_err_set(err, EC_USAGE,
				  "user '%s': the container has no /etc/passwd "
				  "(use a numeric uid)",
				  user);
	if (!pw_find(pw, user, 0, u, name))
		return ec_err_set(
		    err, EC_USAGE,
		    "user '%s' not found in the container's /etc/passwd", user);
	return 0;
}

/* The group part (explicit) or the supplementary groups (implicit). */
static int resolve_groups(int rootfd, const char *group, const char *name,
			  struct rt_user *u, struct ec_err *err)
{
	_cleanup_free_ char *gr = NULL;
	int64_t gid;
	uint64_t v;

	if (group && all_digits(group)) {
		if (parse_u64(group, ID_MAX, &v, "group id", err) < 0)
			return -1;
		u->gid = (gid_t)v;
		return 0;
	}
	if (db_read(rootfd, "etc/group", &gr, err) < 0)
		return -1;
	if (!group) {
		if (gr && name)
			gr_members(gr, name, u);
		return 0;
	}
	if (!gr)
		return ec_err_set(err, EC_USAGE,
				  "group '%s': the container has no /etc/group "
				  "(use a numeric gid)",
				  group);
	gid = gr_find(gr, group);
	if (gid < 0)
		return ec_err_set(
		    err, EC_USAGE,
		    "group '%s' not found in the container's /etc/group",
		    group);
	u->gid = (gid_t)gid;
	return 0;
}

int rt_user_resolve(int rootfd, const char *user, struct rt_user *u,
		    struct ec_err *err)
{
	_cleanup_free_ char *copy = xstrdup(user && *user ? user : "0");
	_cleanup_free_ char *name = NULL;
	char *group = strchr(copy, ':');

	memset(u, 0, sizeof(*u));
	if (group)
		*group++ = '\0';
	if (!*copy || (group && !*group))
		return ec_err_set(
		    err, EC_USAGE,
		    "user '%s': expected name[:group] or uid[:gid]", user);
	if (resolve_uid(rootfd, copy, u, &name, err) < 0 ||
	    resolve_groups(rootfd, group, name, u, err) < 0) {
		rt_user_release(u);
		return -1;
	}
	return 0;
}

void rt_user_release(struct rt_user *u)
{
	free(u->gids);
	free(u->home);
	u->gids = NULL;
	u->home = NULL;
	u->ngids = 0;
}
