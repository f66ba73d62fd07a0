/* route_probe.c - health probes (src/route/probe.c) against real sockets
 * on loopback: a listener thread that answers one connection with a
 * canned reply (or never), so TCP, HTTP status, garbage, refusal and the
 * timeout are all exercised without mocks. */
#include "route/control.h"
#include "store/store.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct server {
	int fd;		   /* listening */
	uint16_t port;	   /* host order */
	const char *reply; /* NULL: accept, read, never answer */
	int hold_ms;	   /* with reply NULL: how long to stay silent */
	char req[512];	   /* what the client sent (last) */
	int conns;	   /* connections to answer (0: 1) */
	pthread_t th;
};

static void *serve(void *p)
{
	struct server *s = p;
	int k;

	for (k = 0; k < (s->conns ? s->conns : 1); k++) {
		int c = accept(s->fd, NULL, NULL);
		ssize_t n;

		if (c < 0)
			return NULL;
		n = recv(c, s->req, sizeof(s->req) - 1, 0);
		s->req[n > 0 ? n : 0] = '\0';
		if (s->reply)
			(void)!send(c, s->reply, strlen(s->reply),
				    MSG_NOSIGNAL);
		else
			usleep((useconds_t)s->hold_ms * 1000);
		close(c);
	}
	return NULL;
}

static void server_start_n(struct server *s, const char *reply, int hold_ms,
			   int conns)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->conns = conns;
	s->reply = reply;
	s->hold_ms = hold_ms;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->fd, 4) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al) < 0) {
		perror("listener");
		exit(1);
	}
	s->port = ntohs(a.sin_port);
	pthread_create(&s->th, NULL, serve, s);
}

static void server_start(struct server *s, const char *reply, int hold_ms)
{
	server_start_n(s, reply, hold_ms, 1);
}

static void server_stop(struct server *s)
{
	pthread_join(s->th, NULL);
	close(s->fd);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A port nothing listens on: bound, then closed. */
static uint16_t dead_port(void)
{
	struct server s;

	server_start(&s, "", 0);
	close(s.fd);
	pthread_cancel(s.th);
	pthread_join(s.th, NULL);
	return s.port;
}

static int probe(struct server *s, const char *type, const char *path,
		 int timeout_ms, double *rtt, char *why)
{
	*rtt = -1;
	why[0] = '\0';
	return route_probe("127.0.0.1", s->port, type, path, "198.18.250.1",
			   timeout_ms, rtt, why, 128);
}

static void test_probes(void)
{
	struct server s;
	char why[128];
	double rtt, t0;

	server_start(&s, "", 0);
	ok(probe(&s, "tcp", "/", 1000, &rtt, why) == 0 && rtt >= 0,
	   "tcp: a connection is enough (rtt %.3f ms)", rtt);
	close(s.fd); /* the server thread may wait for a request: unblock */
	pthread_cancel(s.th);
	pthread_join(s.th, NULL);

	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
	ok(probe(&s, "http", "/healthz", 1000, &rtt, why) == 0,
	   "http: 200 is healthy");
	server_stop(&s);
	ok(!strncmp(s.req, "GET /healthz HTTP/1.0\r\n", 23) &&
	       strstr(s.req, "\r\nHost: 198.18.250.1\r\n") &&
	       strstr(s.req, "\r\n\r\n"),
	   "the request: GET of the path, Host is the VIP");

	server_start(&s, "HTTP/1.0 302 Found\r\n\r\n", 0);
	ok(probe(&s, "http", "/", 1000, &rtt, why) == 0, "http: 3xx is ok");
	server_stop(&s);

	server_start(&s, "HTTP/1.0 404 Not Found\r\n\r\n", 0);
	ok(probe(&s, "http", "/missing", 1000, &rtt, why) < 0 &&
	       !strcmp(why, "HTTP 404"),
	   "http: 404 fails (%s)", why);
	server_stop(&s);

	server_start(&s, "HTTP/1.0 503 Busy\r\n\r\n", 0);
	ok(probe(&s, "http", "/", 1000, &rtt, why) < 0 &&
	       !strcmp(why, "HTTP 503"),
	   "http: 503 fails");
	server_stop(&s);

	server_start(&s, "SSH-2.0-OpenSSH\r\n", 0);
	ok(probe(&s, "http", "/", 1000, &rtt, why) < 0 &&
	       !strcmp(why, "no HTTP status line"),
	   "http: something else answering fails (%s)", why);
	server_stop(&s);

	server_start(&s, NULL, 600);
	t0 = now_ms();
	ok(probe(&s, "http", "/", 300, &rtt, why) < 0 &&
	       !strcmp(why, "no HTTP status line"),
	   "http: silence fails");
	ok(now_ms() - t0 < 1000, "within the timeout (%.0f ms for 300)",
	   now_ms() - t0);
	server_stop(&s);

	s.port = dead_port();
	ok(probe(&s, "tcp", "/", 1000, &rtt, why) < 0 &&
	       !strncmp(why, "connect: ", 9),
	   "refused: fails (%s)", why);
	ok(route_probe("nonsense", 80, "tcp", "/", "v", 100, &rtt, why,
		       sizeof(why)) < 0,
	   "not an address: fails");
}

static void test_probe_route(void)
{
	struct server s;
	json_t *r, *out, *a, *b;

	server_start(&s, "HTTP/1.0 200 OK\r\n\r\n", 0);
	r = json_pack("{s:s,s:i,s:{s:s,s:s},s:[{s:s,s:s,s:s},{s:s,s:s,s:s},"
		      "{s:s,s:s,s:s}]}",
		      "vip", "198.18.250.1", "port", (int)s.port, "check",
		      "type", "http", "path", "/", "backends", "instance", "a",
		      "ip", "127.0.0.1", "host", "h1", "instance", "b", "ip",
		      "127.0.0.2", "host", "h1", "instance", "c", "ip",
		      "127.0.0.1", "host", "h2");
	/* only h1's backends: a answers (the one-shot server), b is refused */
	out = route_probe_route(r, "h1", 500);
	server_stop(&s);
	a = json_object_get(out, "a");
	b = json_object_get(out, "b");
	ok(json_object_size(out) == 2 && !json_object_get(out, "c"),
	   "host filter: h1's backends only");
	ok(json_is_true(json_object_get(a, "ok")) &&
	       json_is_real(json_object_get(a, "rtt_ms")) &&
	       !json_object_get(a, "error"),
	   "a: ok with rtt_ms");
	ok(json_is_false(json_object_get(b, "ok")) &&
	       json_is_null(json_object_get(b, "rtt_ms")) &&
	       ec_json_str(b, "error"),
	   "b: failed, rtt_ms null, an error (%s)", ec_json_str(b, "error"));
	json_decref(out);
	json_decref(r);
}

/* The load endpoint: the number its body starts with, CRLF or bare LF
 * headers; anything else is an error. */
static void test_probe_number(void)
{
	static const struct {
		const char *reply;
		int ok;
		double v;
	} c[] = {
	    {"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n17\n", 1, 17},
	    {"HTTP/1.1 200 OK\nContent-Type: text/plain\n\n4.5", 1, 4.5},
	    {"HTTP/1.0 404 Not Found\r\n\r\n3", 0, 0},
	    {"HTTP/1.0 200 OK\r\n\r\nbusy", 0, 0},
	    {"HTTP/1.0 200 OK\r\n\r\n-2", 0, 0},
	    {"garbage", 0, 0},
	};
	struct server s;
	char why[128];
	double v;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int rc;
		server_start(&s, c[i].reply, 0);
		v = -1;
		why[0] = '\0';
		rc = route_probe_number("127.0.0.1", s.port, "/load",
					"198.18.250.1", 500, &v, why,
					sizeof(why));
		server_stop(&s);
		if (c[i].ok)
			ok(rc == 0 && v == c[i].v &&
			       strstr(s.req, "GET /load "),
			   "load %zu: %g", i, v);
		else
			ok(rc < 0 && why[0], "load %zu: refused (%s)", i, why);
	}
	/* with a load path, route_probe_route reads it from healthy ones */
	{
		json_t *r, *out;
		/* two connections: the check, then the load */
		server_start_n(&s, "HTTP/1.0 200 OK\r\n\r\n9", 0, 2);
		r = json_pack("{s:s,s:i,s:{s:s},s:{s:s},s:[{s:s,s:s}]}", "vip",
			      "198.18.250.1", "port", (int)s.port, "check",
			      "type", "tcp", "load", "path", "/load",
			      "backends", "instance", "a", "ip", "127.0.0.1");
		out = route_probe_route(r, NULL, 500);
		server_stop(&s);
		ok(json_number_value(
		       json_object_get(json_object_get(out, "a"), "load")) == 9,
		   "probe_route: a healthy backend's load");
		json_decref(out);
		json_decref(r);
	}
}

/* store_now, the clock route demand readings are stamped and read with:
 * an S3 server whose Date is 3 h ahead of this machine gives its time
 * (one HEAD asks for it), not ours; a file store gives ours. */
static void test_store_now(void)
{
	struct server srv;
	struct store *st = NULL;
	struct ec_err err;
	char reply[256], date[64], url[128], dir[] = "/tmp/ec-clock.XXXXXX";
	time_t ahead = time(NULL) + 3 * 3600;
	struct tm tm;
	int64_t t;
	struct store_opts o = {.access_key = "AKIDEXAMPLE",
			       .secret_key = "secret",
			       .path_style = 1,
			       .quote_if_match = -1,
			       .max_retries = 1};

	gmtime_r(&ahead, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(reply, sizeof(reply),
		 "HTTP/1.1 404 Not Found\r\nDate: %s\r\n"
		 "Content-Length: 0\r\nConnection: close\r\n\r\n",
		 date);
	server_start(&srv, reply, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", srv.port);
	o.endpoint = url;
	ec_err_clear(&err);
	ok(store_open("s3://b/p", &o, &st, &err) == 0, "s3 store: %s", err.msg);
	t = st ? store_now(st) : 0;
	if (!srv.req[0]) { /* nothing asked: let the listener finish */
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons(srv.port)};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		(void)!connect(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
	}
	server_stop(&srv);
	ok(llabs(t - (int64_t)ahead) <= 2,
	   "store_now: the S3 server's clock (3 h ahead), off by %lld s",
	   (long long)(t - (int64_t)ahead));
	ok(strstr(srv.req, "HEAD ") == srv.req, "store_now: asked by a HEAD");
	/* asked once: later calls use the offset of the latest response */
	t = st ? store_now(st) : 0;
	ok(llabs(t - (int64_t)ahead) <= 2, "store_now: remembered");
	store_free(st);
	ec_err_clear(&err);
	if (!mkdtemp(dir))
		abort();
	snprintf(url, sizeof(url), "file://%s", dir);
	ok(store_open(url, NULL, &st, &err) == 0 &&
	       llabs(store_now(st) - (int64_t)time(NULL)) <= 1,
	   "store_now: a file store's is this machine's");
	store_free(st);
	rmdir(dir);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_probes();
	test_probe_route();
	test_probe_number();
	test_store_now();
	return done_testing();
}
