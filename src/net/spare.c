/* spare.c - spare network namespaces, made ahead by keeper processes and
 * claimed by the next instance's start (net.h).
 *
 * DIR holds one record per spare, named by its state (every change of
 * state but the keeper's own is a rename, so one process wins it):
 *   <sid>.prep  the keeper holds the namespace, cni_add under way
 *   <sid>.json  ready: claimed by rename to the instance's net.json
 *   <sid>.gone  the keeper took it back (idle) and releases it
 *   <sid>.dead  a collector took a dead keeper's record
 *   <sid>.new   a record being written (only under DIR/lock)
 * A record: {sid, pid, fd, ino, dev, bridge, subnet[, ip, result]}: the
 * keeper's pid and the descriptor holding the namespace, whose nsfs inode
 * is (dev, ino). /proc/PID/fd/FD opening that inode means the keeper (or
 * at least its namespace) lives; a claimer opens it before the rename, so
 * the namespace cannot go between claim and bind mount. Records are
 * written and collected under DIR/lock; claims take no lock. */
#include "crypto/digest.h"
#include "net/net.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEEPER_TICK_MS 500 /* a keeper looks for its claimed record */

static char *rec_path(const char *dir, const char *sid, const char *state)
{
	return xasprintf("%s/%s.%s", dir, sid, state);
}

/* "s" + 12 lower-case hex digits; *state gets the suffix. */
static int rec_name(const char *name, char sid[16], const char **state)
{
	const char *dot = strchr(name, '.');
	size_t i;

	if (!dot || dot - name != 13 || name[0] != 's')
		return 0;
	for (i = 1; i < 13; i++)
		if (!strchr("0123456789abcdef", name[i]))
			return 0;
	memcpy(sid, name, 13);
	sid[13] = '\0';
	*state = dot + 1;
	return 1;
}

/* The namespace the record's keeper holds, opened (O_CLOEXEC), or -1 when
 * that descriptor no longer is it (the keeper is gone). */
static int keeper_ns(const json_t *r)
{
	char p[64];
	struct stat st;
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/fd/%d",
		 (int)json_integer_value(json_object_get(r, "pid")),
		 (int)json_integer_value(json_object_get(r, "fd")));
	if (json_integer_value(json_object_get(r, "pid")) <= 0 ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) < 0 ||
	    (json_int_t)st.st_ino !=
		json_integer_value(json_object_get(r, "ino")) ||
	    (json_int_t)st.st_dev !=
		json_integer_value(json_object_get(r, "dev"))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int keeper_alive(const json_t *r)
{
	int fd = keeper_ns(r);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int same_net(const json_t *r, const struct cni_opts *o)
{
	const char *b = ec_json_str(r, "bridge"), *s = ec_json_str(r, "subnet");

	return b && s && !strcmp(b, o->bridge ? o->bridge : "ec0") &&
	       !strcmp(s, o->subnet);
}

static int lock_dir(const char *dir)
{
	_cleanup_free_ char *p = xasprintf("%s/lock", dir);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Write record r as DIR/<sid>.STATE (under the lock: via .new). */
static int rec_write(const char *dir, const char *sid, const char *state,
		     const json_t *r)
{
	_cleanup_free_ char *tmp = rec_path(dir, sid, "new");
	_cleanup_free_ char *dst = rec_path(dir, sid, state);
	_cleanup_free_ char *s = ec_json_dump(r);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	if (io_write_all(fd, s, strlen(s), -1, tmp, NULL) < 0 ||
	    rename(tmp, dst) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return 0;
}

/* Under the lock: collect dead keepers' records (when ipam_dir) and count
 * the live spares of o (made or being made). */
static int scan(const char *dir, const struct cni_opts *o, const char *ipam_dir,
		int *collected)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *dead = NULL;
		_cleanup_json_ json_t *r = NULL;
		const char *state;
		char sid[16];

		if (!rec_name(de->d_name, sid, &state))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (!strcmp(state, "new")) { /* its writer died */
			unlink(p);
			continue;
		}
		if (strcmp(state, "prep") && strcmp(state, "json") &&
		    strcmp(state, "gone") && strcmp(state, "dead"))
			continue;
		r = ec_json_load_file(p, NULL);
		if (r && keeper_alive(r)) {
			if (o && same_net(r, o) &&
			    (!strcmp(state, "prep") || !strcmp(state, "json")))
				n++;
			continue;
		}
		if (!ipam_dir)
			continue;
		/* a ready one is taken by rename (a claimer may be first) */
		dead = rec_path(dir, sid, "dead");
		if (!strcmp(state, "json") && rename(p, dead) < 0)
			continue;
		ipam_release(ipam_dir, sid, "eth0", NULL);
		unlink(strcmp(state, "json") ? p : dead);
		if (collected)
			(*collected)++;
	}
	closedir(d);
	return n;
}

int net_spare_collect(const char *dir, const char *ipam_dir)
{
	int lk, n = 0;

	if (access(dir, F_OK) < 0 || (lk = lock_dir(dir)) < 0)
		return 0;
	scan(dir, NULL, ipam_dir, &n);
	close(lk);
	return n;
}

/* Take the record's spare: its namespace opened, then the record renamed
 * to `record`, then bound at ns_name. 1 claimed, 0 not (gone or taken). */
static int claim_one(const struct cni_opts *o, const char *dir,
		     const char *name, const char *sid, const char *record,
		     const char *ns_name, struct net_spare *sp)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	_cleanup_json_ json_t *r = ec_json_load_file(p, NULL);
	_cleanup_free_ char *path = NULL;
	const char *ip;
	json_t *res;
	int nsfd;

	if (!r || !same_net(r, o))
		return 0;
	ip = ec_json_str(r, "ip");
	res = json_object_get(r, "result");
	if (!ip || !json_is_object(res) || (nsfd = keeper_ns(r)) < 0)
		return 0; /* not ready, or its keeper is gone: collect's */
	if (rename(p, record) < 0) {
		close(nsfd); /* another claimer was first */
		return 0;
	}
	if (netns_attach(nsfd, ns_name, &path, NULL) < 0) {
		close(nsfd);
		ipam_release(o->ipam_dir, sid, "eth0", NULL);
		unlink(record);
		return 0;
	}
	/* the name holds it now; the keeper sees its record gone and exits */
	close(nsfd);
	snprintf(sp->sid, sizeof(sp->sid), "%s", sid);
	sp->ip = xstrdup(ip);
	sp->result = json_incref(res);
	return 1;
}

int net_spare_claim(const struct cni_opts *o, const char *dir,
		    const char *record, const char *ns_name,
		    struct net_spare *sp, struct ec_err *err)
{
	struct dirent *de;
	DIR *d;
	int got = 0;

	(void)err;
	memset(sp, 0, sizeof(*sp));
	if (!(d = opendir(dir)))
		return 0;
	while (!got && (de = readdir(d))) {
		const char *state;
		char sid[16];

		if (rec_name(de->d_name, sid, &state) && !strcmp(state, "json"))
			got = claim_one(o, dir, de->d_name, sid, record,
					ns_name, sp);
	}
	closedir(d);
	return got;
}

void net_spare_release(struct net_spare *sp)
{
	free(sp->ip);
	json_decref(sp->result);
	memset(sp, 0, sizeof(*sp));
}

char *net_spare_record_sid(const char *record)
{
	_cleanup_json_ json_t *r = ec_json_load_file(record, NULL);
	const char *sid = ec_json_str(r, "sid");
	char s[16];
	const char *state;
	_cleanup_free_ char *name = sid ? xasprintf("%s.json", sid) : NULL;

	return name && rec_name(name, s, &state) ? xstrdup(sid) : NULL;
}

/* The keeper (a process of its own): make the spare, wait to be claimed,
 * take it back when idle. */
static void keeper(const struct cni_opts *o, const char *dir)
{
	_cleanup_free_ char *prep = NULL, *ready = NULL, *gone = NULL;
	_cleanup_free_ char *nspath = NULL, *ip = NULL;
	_cleanup_json_ json_t *r = NULL, *res = NULL;
	struct cni_opts co = *o;
	struct stat st;
	uint8_t rnd[6];
	const char *unlink_me;
	char sid[16];
	int nsfd, lk, waited;

	if (netns_hold(&nsfd, NULL) < 0 || fstat(nsfd, &st) < 0)
		return;
	random_bytes(rnd, sizeof(rnd));
	sid[0] = 's';
	hex_encode(rnd, sizeof(rnd), sid + 1);
	prep = rec_path(dir, sid, "prep");
	ready = rec_path(dir, sid, "json");
	gone = rec_path(dir, sid, "gone");
	unlink_me = prep;
	r = json_pack("{s:s,s:i,s:i,s:I,s:I,s:s,s:s}", "sid", sid, "pid",
		      (int)getpid(), "fd", nsfd, "ino", (json_int_t)st.st_ino,
		      "dev", (json_int_t)st.st_dev, "bridge",
		      o->bridge ? o->bridge : "ec0", "subnet", o->subnet);
	if ((lk = lock_dir(dir)) < 0)
		return;
	if (scan(dir, o, o->ipam_dir, NULL) >= NET_SPARES ||
	    rec_write(dir, sid, "prep", r) < 0) {
		close(lk);
		return;
	}
	close(lk);
	nspath = xasprintf("/proc/%d/fd/%d", (int)getpid(), nsfd);
	co.ports = NULL;
	co.nports = 0;
	co.timings = NULL;
	co.l2_id = NULL;
	if (cni_add(&co, sid, nspath, &res, &ip, NULL) < 0) {
		unlink(prep);
		return;
	}
	json_object_set_new(r, "ip", json_string(ip));
	json_object_set(r, "result", res);
	if ((lk = lock_dir(dir)) < 0)
		goto release;
	if (rec_write(dir, sid, "prep", r) < 0 || rename(prep, ready) < 0) {
		close(lk);
		goto release;
	}
	close(lk);
	/* claimed: the record went to the instance (or the root went) */
	for (waited = 0; waited < NET_SPARE_IDLE_MS; waited += KEEPER_TICK_MS) {
		io_sleep_ms(KEEPER_TICK_MS);
		if (access(ready, F_OK) < 0 && errno == ENOENT)
			return;
	}
	/* idle: take it back unless a claimer was first */
	if (rename(ready, gone) < 0)
		return;
	unlink_me = gone;
release:
	/* the namespace (and its veth) goes with the descriptor; then the
	 * lease (no bridge DEL: the veth is gone with the namespace) */
	close(nsfd);
	ipam_release(o->ipam_dir, sid, "eth0", NULL);
	unlink(unlink_me);
}

/* Quick look without the lock: are there NET_SPARES of o already? */
static int enough(const char *dir, const struct cni_opts *o)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return 0;
	while (n < NET_SPARES && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		_cleanup_json_ json_t *r = NULL;
		const char *state;
		char sid[16];

		if (!rec_name(de->d_name, sid, &state) ||
		    (strcmp(state, "json") && strcmp(state, "prep")))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		r = ec_json_load_file(p, NULL);
		if (r && same_net(r, o) && keeper_alive(r))
			n++;
	}
	closedir(d);
	return n >= NET_SPARES;
}

void net_spare_fill(const struct cni_opts *o, const char *dir)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	pid_t pid;
	int fd, i;

	if (!o->subnet || !o->ipam_dir || fs_mkdir_p(dir, NULL) < 0 ||
	    enough(dir, o))
		return;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return;
	if (pid > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return;
	}
	/* the first child: a new session, then the keeper in a second one
	 * (reparented to init: nobody waits for it) */
	setsid();
	if (fork() != 0)
		_exit(0);
	for (i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			sigaction(i, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(1);
	/* nothing of the caller's (its store connection, a terminal, the
	 * pipes of whoever waits for its output) */
	syscall(SYS_close_range, 3U, ~0U, 0U);
	prctl(PR_SET_NAME, "edgectl-spare"); /* its name in top, ps -o comm */
	/* off the start path of whatever runs now: CPU only when idle */
	if (setpriority(PRIO_PROCESS, 0, 19) < 0) {
		/* still a spare, at normal priority */
	}
	keeper(o, dir);
	_exit(0);
}
