/* rangejournal.c - journal of a ranged download (see rangejournal.h). */
#include "store/rangejournal.h"
#include "util/io.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rjournal {
	char *path; /* NULL: bitmap only */
	char *etag;
	uint64_t size, part_size;
	unsigned nparts, resumed;
	uint64_t bytes_resumed;
	unsigned char *done;
	pthread_mutex_t mu;
	unsigned front; /* parts [0, front) are done */
	void (*on_front)(void *ctx, uint64_t bytes);
	void *on_front_ctx;
};

uint64_t rjournal_part_len(const struct rjournal *j, unsigned i)
{
	uint64_t off = (uint64_t)i * j->part_size;

	return j->size - off < j->part_size ? j->size - off : j->part_size;
}

static void load(struct rjournal *j)
{
	_cleanup_json_ json_t *doc = ec_json_load_file(j->path, NULL);
	json_t *v, *sz, *ps;
	size_t k;

	if (!doc)
		return;
	sz = json_object_get(doc, "size");
	ps = json_object_get(doc, "part_size");
	if (strcmp(ec_json_str(doc, "etag") ?: "", j->etag) ||
	    !json_is_integer(sz) || !json_is_integer(ps) ||
	    (uint64_t)json_integer_value(sz) != j->size ||
	    (uint64_t)json_integer_value(ps) != j->part_size)
		return;
	json_array_foreach (json_object_get(doc, "done"), k, v) {
		json_int_t i = json_integer_value(v);

		if (!json_is_integer(v) || i < 0 || (uint64_t)i >= j->nparts ||
		    j->done[i])
			continue;
		j->done[i] = 1;
		j->resumed++;
		j->bytes_resumed += rjournal_part_len(j, (unsigned)i);
	}
}

struct rjournal *rjournal_open(const char *path, const char *etag,
			       uint64_t size, uint64_t part_size)
{
	struct rjournal *j = xcalloc(1, sizeof(*j));

	if (!part_size)
		BUG("rjournal_open: part_size 0");
	j->path = path ? xstrdup(path) : NULL;
	j->etag = xstrdup(etag ? etag : "");
	j->size = size;
	j->part_size = part_size;
	j->nparts = (unsigned)((size + part_size - 1) / part_size);
	j->done = xcalloc(j->nparts ? j->nparts : 1, 1);
	pthread_mutex_init(&j->mu, NULL);
	if (j->path)
		load(j);
	return j;
}

unsigned rjournal_parts(const struct rjournal *j)
{
	return j->nparts;
}

int rjournal_is_done(const struct rjournal *j, unsigned i)
{
	return i < j->nparts && j->done[i];
}

unsigned rjournal_parts_resumed(const struct rjournal *j)
{
	return j->resumed;
}

uint64_t rjournal_bytes_resumed(const struct rjournal *j)
{
	return j->bytes_resumed;
}

/* mu held */
static void save(struct rjournal *j)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *s = NULL, *tmp = NULL;
	json_t *done;
	unsigned i;
	int fd;

	doc = json_pack("{s:s,s:I,s:I,s:[]}", "etag", j->etag, "size",
			(json_int_t)j->size, "part_size",
			(json_int_t)j->part_size, "done");
	done = json_object_get(doc, "done");
	for (i = 0; i < j->nparts; i++)
		if (j->done[i])
			json_array_append_new(done, json_integer(i));
	s = ec_json_dump(doc);
	/* One temp name per journal, not a random one beside it: a save cut
	 * short by kill -9 (it fsyncs) leaves a file the next save replaces
	 * and rjournal_finish removes, instead of a stray .tmp-* in the blob
	 * dir until the hour-old sweep. Saves are serialised by mu. */
	tmp = xasprintf("%s.tmp", j->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return;
	if (io_write_all(fd, s, strlen(s), -1, "journal", NULL) == 0 &&
	    fsync(fd) == 0 && close(fd) == 0) {
		if (rename(tmp, j->path) < 0)
			unlink(tmp);
		return;
	}
	close(fd);
	unlink(tmp);
}

/* mu held: move the front over done parts, telling the watcher. */
static void advance(struct rjournal *j)
{
	unsigned f = j->front;

	while (f < j->nparts && j->done[f])
		f++;
	if (f == j->front && f)
		return;
	j->front = f;
	if (j->on_front)
		j->on_front(j->on_front_ctx, f == j->nparts
						 ? j->size
						 : (uint64_t)f * j->part_size);
}

void rjournal_on_front(struct rjournal *j, void (*fn)(void *ctx, uint64_t),
		       void *ctx)
{
	pthread_mutex_lock(&j->mu);
	j->on_front = fn;
	j->on_front_ctx = ctx;
	j->front = 0;
	advance(j);
	pthread_mutex_unlock(&j->mu);
}

void rjournal_mark(struct rjournal *j, unsigned i)
{
	if (i >= j->nparts)
		BUG("rjournal_mark: part %u of %u", i, j->nparts);
	pthread_mutex_lock(&j->mu);
	j->done[i] = 1;
	if (j->path)
		save(j);
	advance(j);
	pthread_mutex_unlock(&j->mu);
}

void rjournal_finish(struct rjournal *j)
{
	_cleanup_free_ char *tmp = NULL;

	if (!j->path)
		return;
	unlink(j->path);
	tmp = xasprintf("%s.tmp", j->path);
	unlink(tmp);
}

void rjournal_free(struct rjournal *j)
{
	if (!j)
		return;
	pthread_mutex_destroy(&j->mu);
	free(j->path);
	free(j->etag);
	free(j->done);
	free(j);
}
