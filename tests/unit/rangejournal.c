/* rangejournal.c - unit tests of the ranged-download journal shared by
 * store downloads (store/transfer.c) and registry pulls (image/endpoint.c):
 * what is saved is loaded back for the same version only, partial last
 * part, hostile or damaged journals count for nothing. */
#include "tap.h"
#include "store/rangejournal.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1ull << 20)

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static void front_seen(void *ctx, uint64_t bytes)
{
	*(uint64_t *)ctx = bytes;
}

/* The front: what a streaming reader of the file may read (issue 17). */
static void test_front(void)
{
	struct rjournal *j = rjournal_open(NULL, "x", 100 * MiB, 32 * MiB);
	uint64_t front = 1;

	rjournal_on_front(j, front_seen, &front);
	is_int(front, 0, "front: nothing done yet");
	rjournal_mark(j, 1);
	is_int(front, 0, "part 1 done before part 0: front stays at 0");
	rjournal_mark(j, 0);
	is_int(front, 64 * MiB, "part 0 done: front jumps over part 1");
	rjournal_mark(j, 3);
	is_int(front, 64 * MiB, "a hole at part 2 holds it");
	rjournal_mark(j, 2);
	is_int(front, 100 * MiB, "all done: the whole size, last part short");
	rjournal_free(j);
}

int main(void)
{
	char dir[] = "/tmp/rjournal.t.XXXXXX", path[128];
	struct rjournal *j;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/j.json", dir);

	/* no file: nothing resumed; 100 MiB in 32 MiB parts, last one 4 */
	j = rjournal_open(path, "sha256:aa", 100 * MiB, 32 * MiB);
	is_int(rjournal_parts(j), 4, "4 parts");
	is_int(rjournal_part_len(j, 0), 32 * MiB, "first part full");
	is_int(rjournal_part_len(j, 3), 4 * MiB, "last part the rest");
	is_int(rjournal_bytes_resumed(j), 0, "no journal: nothing resumed");
	rjournal_mark(j, 1);
	rjournal_mark(j, 3);
	ok(access(path, F_OK) == 0, "marking writes the journal");
	rjournal_free(j);

	/* same version: parts 1 and 3 are done */
	j = rjournal_open(path, "sha256:aa", 100 * MiB, 32 * MiB);
	ok(!rjournal_is_done(j, 0) && rjournal_is_done(j, 1) &&
	       !rjournal_is_done(j, 2) && rjournal_is_done(j, 3),
	   "same version: the marked parts are done");
	is_int(rjournal_parts_resumed(j), 2, "2 parts resumed");
	is_int(rjournal_bytes_resumed(j), 36 * MiB, "36 MiB resumed");
	ok(!rjournal_is_done(j, 99), "out of range is not done");
	rjournal_free(j);

	/* another version, size or part size: nothing */
	j = rjournal_open(path, "sha256:bb", 100 * MiB, 32 * MiB);
	is_int(rjournal_bytes_resumed(j), 0, "other etag: nothing resumed");
	rjournal_free(j);
	j = rjournal_open(path, "sha256:aa", 101 * MiB, 32 * MiB);
	is_int(rjournal_bytes_resumed(j), 0, "other size: nothing resumed");
	rjournal_free(j);
	j = rjournal_open(path, "sha256:aa", 100 * MiB, 16 * MiB);
	is_int(rjournal_bytes_resumed(j), 0, "other part size: nothing");
	rjournal_free(j);

	/* the format both downloaders wrote before this module */
	put(path, "{\"etag\": \"\\\"e1\\\"\", \"size\": 67108864, "
		  "\"part_size\": 16777216, \"done\": [0, 2]}");
	j = rjournal_open(path, "\"e1\"", 64 * MiB, 16 * MiB);
	ok(rjournal_is_done(j, 0) && !rjournal_is_done(j, 1) &&
	       rjournal_is_done(j, 2),
	   "an existing journal file is read");
	{
		/* a save cut short by kill -9 left its temp: the next save
		 * replaces it, finish removes it; no other file is made */
		char *tmp = xasprintf("%s.tmp", path);

		put(tmp, "{\"etag\": \"\\\"e1\\\"\", \"si");
		rjournal_mark(j, 1);
		ok(access(tmp, F_OK) < 0, "a save replaces a stale temp");
		put(tmp, "{");
		rjournal_finish(j);
		ok(access(path, F_OK) < 0, "finish removes the journal");
		ok(access(tmp, F_OK) < 0, "and its temp");
		free(tmp);
	}
	rjournal_free(j);

	/* hostile entries: negative, out of range, repeated, not integers */
	put(path, "{\"etag\": \"x\", \"size\": 67108864, \"part_size\": "
		  "16777216, \"done\": [-1, 4, 99999999999, 1, 1, \"2\", 2.0, "
		  "null]}");
	j = rjournal_open(path, "x", 64 * MiB, 16 * MiB);
	is_int(rjournal_parts_resumed(j), 1, "only the valid entry counts");
	ok(rjournal_is_done(j, 1), "part 1 done");
	is_int(rjournal_bytes_resumed(j), 16 * MiB, "counted once");
	rjournal_free(j);

	/* damaged or wrongly typed: nothing */
	put(path, "{\"etag\": \"x\", \"size\": 6710");
	j = rjournal_open(path, "x", 64 * MiB, 16 * MiB);
	is_int(rjournal_bytes_resumed(j), 0, "truncated journal: nothing");
	rjournal_free(j);
	put(path, "{\"etag\": \"x\", \"size\": \"67108864\", \"part_size\": "
		  "16777216, \"done\": [0]}");
	j = rjournal_open(path, "x", 64 * MiB, 16 * MiB);
	is_int(rjournal_bytes_resumed(j), 0, "size as a string: nothing");
	rjournal_free(j);

	/* no path: a bitmap only, nothing written */
	unlink(path);
	j = rjournal_open(NULL, "x", 64 * MiB, 16 * MiB);
	rjournal_mark(j, 0);
	ok(rjournal_is_done(j, 0) && access(path, F_OK) < 0,
	   "without a path: marks kept in memory only");
	rjournal_finish(j);
	rjournal_free(j);

	/* an empty object has no parts */
	j = rjournal_open(NULL, "x", 0, 16 * MiB);
	is_int(rjournal_parts(j), 0, "empty object: 0 parts");
	rjournal_free(j);

	rmdir(dir);
	test_front();
	return done_testing();
}
