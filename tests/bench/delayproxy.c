/* delayproxy.c - a delay-only TCP proxy for benchmarks: what a client
 * `D` ms of round trip away from its object store sees (issue 13: R2 or S3
 * over the internet, 20-80 ms a request). No netem in this kernel.
 *
 *   delayproxy LISTEN_PORT|0 UPSTREAM_HOST UPSTREAM_PORT DELAY_MS
 *
 * Prints the port it listens on (127.0.0.1) on stdout, then serves until
 * killed. Every chunk the client sends is held DELAY_MS after it arrived
 * before it goes upstream (order kept; chunks behind it are not delayed
 * again), so each request/response exchange costs one round trip of
 * DELAY_MS more; the first chunk of a connection is held 2 x DELAY_MS (the
 * TCP handshake's round trip, which a new connection to a remote store
 * costs; TLS's is not modelled). Responses pass at once. Three threads per
 * connection: client->queue, queue->upstream (at release time),
 * upstream->client. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long delay_ns;
static struct sockaddr_in up;

struct chunk {
	struct chunk *next;
	struct timespec at; /* release time */
	size_t len;
	char data[];
};

struct conn {
	int c, u;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk *head, **tail;
	int eof;
};

static void add_ns(struct timespec *t, long ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
}

static void *reader(void *arg) /* client -> queue */
{
	struct conn *k = arg;
	char buf[65536];
	int first = 1;

	for (;;) {
		ssize_t n = read(k->c, buf, sizeof(buf));
		struct chunk *ch;

		if (n <= 0)
			break;
		ch = malloc(sizeof(*ch) + (size_t)n);
		if (!ch)
			abort();
		ch->next = NULL;
		ch->len = (size_t)n;
		memcpy(ch->data, buf, (size_t)n);
		clock_gettime(CLOCK_MONOTONIC, &ch->at);
		add_ns(&ch->at, first ? 2 * delay_ns : delay_ns);
		first = 0;
		pthread_mutex_lock(&k->mu);
		*k->tail = ch;
		k->tail = &ch->next;
		pthread_cond_signal(&k->cv);
		pthread_mutex_unlock(&k->mu);
	}
	pthread_mutex_lock(&k->mu);
	k->eof = 1;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *writer(void *arg) /* queue -> upstream, at release time */
{
	struct conn *k = arg;

	for (;;) {
		struct chunk *ch;

		pthread_mutex_lock(&k->mu);
		while (!k->head && !k->eof)
			pthread_cond_wait(&k->cv, &k->mu);
		ch = k->head;
		if (ch) {
			k->head = ch->next;
			if (!k->head)
				k->tail = &k->head;
		}
		pthread_mutex_unlock(&k->mu);
		if (!ch)
			break;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ch->at,
				       NULL) == EINTR)
			;
		if (write_all(k->u, ch->data, ch->len) < 0) {
			free(ch);
			break;
		}
		free(ch);
	}
	shutdown(k->u, SHUT_WR);
	return NULL;
}

static void *conn_main(void *arg)
{
	struct conn *k = arg;
	pthread_t r, w;
	char buf[65536];
	int one = 1;

	k->u = socket(AF_INET, SOCK_STREAM, 0);
	if (k->u < 0 || connect(k->u, (struct sockaddr *)&up, sizeof(up)) < 0) {
		close(k->c);
		free(k);
		return NULL;
	}
	setsockopt(k->u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(k->c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_create(&r, NULL, reader, k);
	pthread_create(&w, NULL, writer, k);
	for (;;) { /* upstream -> client, at once */
		ssize_t n = read(k->u, buf, sizeof(buf));
		if (n <= 0 || write_all(k->c, buf, (size_t)n) < 0)
			break;
	}
	shutdown(k->c, SHUT_RDWR); /* ends the reader */
	pthread_join(r, NULL);
	pthread_join(w, NULL);
	while (k->head) {
		struct chunk *ch = k->head;
		k->head = ch->next;
		free(ch);
	}
	close(k->c);
	close(k->u);
	free(k);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int l, one = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: delayproxy LISTEN_PORT|0 UPSTREAM_HOST "
				"UPSTREAM_PORT DELAY_MS\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	delay_ns = atol(argv[4]) * 1000000L;
	up.sin_family = AF_INET;
	up.sin_port = htons((unsigned short)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &up.sin_addr) != 1) {
		fprintf(stderr, "delayproxy: %s: not an IPv4 address\n",
			argv[2]);
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 512) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0) {
		perror("delayproxy: listen");
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		int c = accept(l, NULL, NULL);
		struct conn *k;
		pthread_t t;
		pthread_attr_t at;

		if (c < 0)
			continue;
		k = calloc(1, sizeof(*k));
		if (!k)
			abort();
		k->c = c;
		k->tail = &k->head;
		pthread_mutex_init(&k->mu, NULL);
		pthread_cond_init(&k->cv, NULL);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256 << 10);
		if (pthread_create(&t, &at, conn_main, k) != 0) {
			close(c);
			free(k);
		}
		pthread_attr_destroy(&at);
	}
}
