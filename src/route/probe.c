/* probe.c - health probes of route backends (control.h): TCP connect or an
 * HTTP GET, bounded by one deadline. */
#include "route/control.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int wait_fd(int fd, short ev, double deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int left = (int)(deadline - mono_ms());

	if (left <= 0)
		return 0;
	return poll(&p, 1, left) > 0 && (p.revents & (ev | POLLERR | POLLHUP));
}

/* GET path and check the status line; 0 ok, -1 with why. */
static int http_status(int fd, const char *path, const char *vip,
		       double deadline, char *why, size_t wn)
{
	char buf[256];
	size_t got = 0;
	int code = 0;

	snprintf(buf, sizeof(buf),
		 "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: edgectl-route\r\n"
		 "\r\n",
		 path, vip);
	if (send(fd, buf, strlen(buf), MSG_NOSIGNAL) < (ssize_t)strlen(buf)) {
		snprintf(why, wn, "send: %s", strerror(errno));
		return -1;
	}
	while (got < 12 && wait_fd(fd, POLLIN, deadline)) {
		ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1) {
		snprintf(why, wn, "no HTTP status line");
		return -1;
	}
	if (code < 200 || code > 399) {
		snprintf(why, wn, "HTTP %d", code);
		return -1;
	}
	return 0;
}

/* A connected socket to ip:port (-1 with why). */
static int connect_to(const char *ip, uint16_t port, double deadline, char *why,
		      size_t wn)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, e = 0;
	socklen_t el = sizeof(e);

	if (!ip || inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		snprintf(why, wn, "no IPv4 address");
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	     errno != EINPROGRESS) ||
	    !wait_fd(fd, POLLOUT, deadline) ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
		snprintf(why, wn, "connect: %s", e ? strerror(e) : "timed out");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int route_probe_number(const char *ip, uint16_t port, const char *path,
		       const char *vip, int timeout_ms, double *v, char *why,
		       size_t wn)
{
	double deadline = mono_ms() + timeout_ms;
	_cleanup_close_ int fd = connect_to(ip, port, deadline, why, wn);
	char buf[1024], *body, *end;
	size_t got = 0;
	int code = 0;

	if (fd < 0)
		return -1;
	snprintf(buf, sizeof(buf),
		 "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: edgectl-route\r\n"
		 "\r\n",
		 path, vip);
	if (send(fd, buf, strlen(buf), MSG_NOSIGNAL) < (ssize_t)strlen(buf)) {
		snprintf(why, wn, "send: %s", strerror(errno));
		return -1;
	}
	while (got < sizeof(buf) - 1 && wait_fd(fd, POLLIN, deadline)) {
		ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1 || code != 200 ||
	    !((body = strstr(buf, "\r\n\r\n")) ? (body += 4)
	      : (body = strstr(buf, "\n\n"))   ? (body += 2)
					       : NULL)) {
		snprintf(why, wn, "load %s: no HTTP 200 answer", path);
		return -1;
	}
	*v = strtod(body, &end);
	if (end == body || !isfinite(*v) || *v < 0) {
		snprintf(why, wn, "load %s: not a number", path);
		return -1;
	}
	return 0;
}

int route_probe(const char *ip, uint16_t port, const char *type,
		const char *path, const char *vip, int timeout_ms, double *rtt,
		char *why, size_t wn)
{
	double t0 = mono_ms(), deadline = t0 + timeout_ms;
	_cleanup_close_ int fd = connect_to(ip, port, deadline, why, wn);

	if (fd < 0)
		return -1;
	*rtt = mono_ms() - t0;
	if (strcmp(type, "http"))
		return 0;
	return http_status(fd, path, vip, deadline, why, wn);
}

json_t *route_probe_route(const json_t *r, const char *host, int timeout_ms)
{
	const json_t *chk = json_object_get(r, "check"), *b;
	const char *lp = ec_json_str(json_object_get(r, "load"), "path");
	const char *rp = ec_json_str(chk, "ready");
	json_t *out = json_object();
	size_t i;

	json_array_foreach (json_object_get(r, "backends"), i, b) {
		char why[128] = "";
		double rtt = 0, load;
		json_t *res;
		int ok;

		if (host && strcmp(ec_json_str(b, "host") ?: "", host))
			continue;
		ok = route_probe(ec_json_str(b, "ip"),
				 (uint16_t)ec_json_int(r, "port"),
				 ec_json_str(chk, "type") ?: "http",
				 ec_json_str(chk, "path") ?: "/",
				 ec_json_str(r, "vip") ?: "", timeout_ms, &rtt,
				 why, sizeof(why)) == 0;
		res = ok ? json_pack("{s:b,s:f}", "ok", 1, "rtt_ms",
				     (double)(long)(rtt * 1000) / 1000)
			 : json_pack("{s:b,s:n,s:s}", "ok", 0, "rtt_ms",
				     "error", why);
		if (ok && rp) {
			double r2;
			char w2[128];
			json_object_set_new(
			    res, "ready",
			    json_boolean(
				route_probe(
				    ec_json_str(b, "ip"),
				    (uint16_t)ec_json_int(r, "port"), "http",
				    rp, ec_json_str(r, "vip") ?: "", timeout_ms,
				    &r2, w2, sizeof(w2)) == 0));
		}
		if (ok && lp &&
		    route_probe_number(ec_json_str(b, "ip"),
				       (uint16_t)ec_json_int(r, "port"), lp,
				       ec_json_str(r, "vip") ?: "", timeout_ms,
				       &load, why, sizeof(why)) == 0)
			json_object_set_new(res, "load", json_real(load));
		else if (ok && lp)
			json_object_set_new(res, "load_error",
					    json_string(why));
		json_object_set_new(out, ec_json_str(b, "instance"), res);
	}
	return out;
}
