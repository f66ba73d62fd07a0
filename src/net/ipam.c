/* ipam.c - host-local IPAM without a plugin process (net.h): the same
 * lease files as the CNI host-local plugin (containernetworking-plugins
 * 1.x, disk backend), so leases made by either are seen by the other:
 *
 *   DIR/NETWORK/<ip>                "<container id>\r\n<ifname>"
 *   DIR/NETWORK/last_reserved_ip.0  the address given last
 *   DIR/NETWORK/lock                flock(2) held while choosing
 *
 * A range is the subnet without its network address, broadcast address
 * and gateway (the first address), searched from the one after the last
 * given, wrapping around (host-local's order). */
#include "net/net.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define LEASE_MAX 512

int ipam_subnet_parse(const char *cidr, struct ipam_range *r,
		      struct ec_err *err)
{
	char buf[INET_ADDRSTRLEN + 4], *slash, *end;
	struct in_addr a;
	long len;
	uint32_t mask;

	snprintf(buf, sizeof(buf), "%s", cidr);
	slash = strchr(buf, '/');
	if (!slash)
		goto bad;
	*slash++ = '\0';
	errno = 0;
	len = strtol(slash, &end, 10);
	if (errno || *end || end == slash || len < 8 || len > 30 ||
	    inet_pton(AF_INET, buf, &a) != 1)
		goto bad;
	mask = len ? ~0u << (32 - len) : 0;
	r->net = ntohl(a.s_addr) & mask;
	r->prefix = (int)len;
	r->gw = r->net + 1;
	r->first = r->net + 2;
	r->last = (r->net | ~mask) - 1;
	return 0;
bad:
	return ec_err_set(err, EC_USAGE,
			  "subnet '%s': use an IPv4 CIDR A.B.C.D/N with N "
			  "from 8 to 30",
			  cidr);
}

void ipam_addr_str(uint32_t a, char out[INET_ADDRSTRLEN])
{
	struct in_addr in = {.s_addr = htonl(a)};

	inet_ntop(AF_INET, &in, out, INET_ADDRSTRLEN);
}

/* DIR/NETWORK, created, and its lock held (fd returned). */
static int lock_dir(const char *dir, char **netdir, struct ec_err *err)
{
	_cleanup_free_ char *lock = NULL;
	int fd;

	*netdir = xasprintf("%s/%s", dir, IPAM_NETWORK);
	if (fs_mkdir_p(*netdir, err) < 0)
		return -1;
	lock = xasprintf("%s/lock", *netdir);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0750);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		if (fd >= 0)
			close(fd);
		return ec_err_errno(err, EC_FAIL, errno, "lock '%s'", lock);
	}
	return fd;
}

int ipam_alloc(const char *dir, const char *subnet, const char *id,
	       const char *ifname, struct ipam_lease *out, struct ec_err *err)
{
	_cleanup_free_ char *nd = NULL, *last = NULL;
	struct ipam_range r;
	char ip[INET_ADDRSTRLEN], buf[64];
	uint32_t a, start, n, i;
	struct in_addr in;
	int lk, dfd = -1, fd, rc = -1;
	ssize_t got;

	if (ipam_subnet_parse(subnet, &r, err) < 0)
		return -1;
	if ((lk = lock_dir(dir, &nd, err)) < 0)
		return -1;
	dfd = open(nd, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "open '%s'", nd);
		goto out;
	}
	/* start after the last address given, as host-local does */
	start = r.first;
	fd = openat(dfd, "last_reserved_ip.0", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (got > 0) {
			buf[got] = '\0';
			buf[strcspn(buf, "\r\n ")] = '\0';
			if (inet_pton(AF_INET, buf, &in) == 1) {
				a = ntohl(in.s_addr);
				if (a >= r.first && a < r.last)
					start = a + 1;
			}
		}
	}
	n = r.last - r.first + 1;
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *lease = NULL;
		a = r.first + (start - r.first + i) % n;
		ipam_addr_str(a, ip);
		fd = openat(
		    dfd, ip,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			ec_err_errno(err, EC_FAIL, errno, "lease '%s/%s'", nd,
				     ip);
			goto out;
		}
		lease = xasprintf("%s\r\n%s", id, ifname);
		if (write(fd, lease, strlen(lease)) != (ssize_t)strlen(lease)) {
			ec_err_errno(err, EC_FAIL, errno, "lease '%s/%s'", nd,
				     ip);
			close(fd);
			unlinkat(dfd, ip, 0);
			goto out;
		}
		close(fd);
		fd = openat(dfd, "last_reserved_ip.0",
			    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				O_CLOEXEC,
			    0644);
		if (fd >= 0) {
			if (write(fd, ip, strlen(ip)) < 0) {
				/* only a hint for the next search */
			}
			close(fd);
		}
		out->addr = a;
		out->range = r;
		rc = 0;
		goto out;
	}
	ec_err_set(err, EC_FAIL,
		   "no free address in %s (%u leases in %s; stale ones go "
		   "with 'edgectl rm' of their instances)",
		   subnet, n, nd);
out:
	if (dfd >= 0)
		close(dfd);
	close(lk);
	return rc;
}

int ipam_release(const char *dir, const char *id, const char *ifname,
		 struct ec_err *err)
{
	_cleanup_free_ char *nd = NULL, *want = NULL;
	struct dirent *de;
	DIR *d;
	int lk, dfd;

	if ((lk = lock_dir(dir, &nd, err)) < 0)
		return -1;
	want = xasprintf("%s\r\n%s", id, ifname);
	d = opendir(nd);
	if (!d) {
		close(lk);
		return ec_err_errno(err, EC_FAIL, errno, "read '%s'", nd);
	}
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		struct in_addr in;
		char buf[LEASE_MAX];
		ssize_t got;
		int fd;
		if (inet_pton(AF_INET, de->d_name, &in) != 1)
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (got <= 0)
			continue;
		buf[got] = '\0';
		/* host-local 1.x: "id\r\nifname"; 0.x: "id" alone */
		if (!strcmp(buf, want) || !strcmp(buf, id))
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
	close(lk);
	return 0;
}
