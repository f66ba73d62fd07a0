/* unpack.c - layers of a local image into directories: one directory per
 * layer in overlayfs form (ROOT/layers/<diffid>, the lowerdirs of `run`),
 * or one flat rootfs.
 *
 * Each layer is a pipeline of two threads joined by a pipe: the producer
 * decompresses the blob (a seekable zstd blob frame-parallel, other zstd
 * and gzip as a stream) and hashes the tar stream for the diff_id; the
 * consumer is tar_unpack (safe extraction). A layer directory appears by
 * rename only after its diff_id matched. */
#include "image/image_impl.h"
#include "archive/tar.h"
#include "compress/compress.h"
#include "crypto/digest.h"
#include "util/fs.h"
#include "util/io.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Image configs bigger than this are refused. */
#define CONFIG_MAX (4u << 20)
/* Decompressed layers bigger than this are refused (a bomb). */
#define LAYER_MAX_OUT (256ull << 30)

int img_layers(struct oci_layout *l, const char *manifest_digest,
	       struct img_layer **out, size_t *n, struct ec_err *err)
{
	_cleanup_json_ json_t *man = oci_blob_json(l, manifest_digest, err);
	_cleanup_json_ json_t *cfg = NULL;
	_cleanup_free_ char *data = NULL;
	struct oci_desc cd;
	json_t *layers, *diffs, *v;
	size_t i, len;

	*out = NULL;
	*n = 0;
	if (!man)
		return -1;
	if (oci_desc_from_json(json_object_get(man, "config"), &cd, err) < 0 ||
	    oci_blob_get(l, cd.digest, CONFIG_MAX, &data, &len, err) < 0)
		return ec_err_prefix(err, "image %s: config", manifest_digest);
	if (len != cd.size)
		return ec_err_set(err, EC_FAIL,
				  "image %s: config %s is %zu bytes but the "
				  "manifest says %" PRIu64 " (corrupt image)",
				  manifest_digest, cd.digest, len, cd.size);
	if (!(cfg = ec_json_parse(data, len, cd.digest, err)))
		return ec_err_prefix(err, "image %s: config", manifest_digest);
	layers = json_object_get(man, "layers");
	diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	if (json_array_size(layers) != json_array_size(diffs))
		return ec_err_set(err, EC_FAIL,
				  "image %s: %zu layers but %zu diff_ids in "
				  "its config",
				  manifest_digest, json_array_size(layers),
				  json_array_size(diffs));
	*out = xcalloc(json_array_size(layers) + 1, sizeof(**out));
	json_array_foreach (layers, i, v) {
		const char *d = json_string_value(json_array_get(diffs, i));
		if (oci_desc_from_json(v, &(*out)[i].blob, err) < 0 || !d ||
		    oci_digest_check(d, err) < 0) {
			free(*out);
			*out = NULL;
			return ec_err_prefix(err, "image %s: layer %zu",
					     manifest_digest, i);
		}
		snprintf((*out)[i].diff_id, sizeof((*out)[i].diff_id), "%s", d);
	}
	*n = json_array_size(layers);
	return 0;
}

/* --- one layer: decompress | tar_unpack -------------------------------- */

struct producer {
	int blob_fd;
	uint64_t size;
	enum comp_kind kind;
	int seekable;
	int pipe_w;
	struct sha256_ctx *sha;
	int r;
	struct ec_err err;
	struct img_stream *st; /* the blob is still downloading */
	const char *digest;    /* with st: what the blob must hash to */
};

/* A download followed by an unpack (see image_impl.h). */
struct img_stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t ready; /* bytes [0, ready) of the blob are in fd */
	int end;	/* 1: the download succeeded; -1: it failed */
	struct oci_desc d;
	int fd;
	char *dir, *tmp;
	int dfd;
	pthread_t th;
	int started; /* th runs */
	int r;
	struct ec_err err;
	char hex[SHA256_HEX_LEN + 1]; /* sha256 of the tar unpacked */
};

static int pipe_sink(void *ctx, const void *data, size_t len,
		     struct ec_err *err)
{
	struct producer *p = ctx;

	sha256_update(p->sha, data, len);
	return io_write_all(p->pipe_w, data, len, -1, "layer pipe", err);
}

/* Wait until the download has bytes past off (at least `want` of them
 * when it can); how many there are from off, 0 when it failed. */
static uint64_t stream_wait(struct img_stream *s, uint64_t off, uint64_t want)
{
	uint64_t have;

	pthread_mutex_lock(&s->mu);
	while (!s->end && s->ready < off + want)
		pthread_cond_wait(&s->cv, &s->mu);
	have = s->end > 0 ? s->d.size : s->end < 0 ? 0 : s->ready;
	pthread_mutex_unlock(&s->mu);
	return have > off ? have - off : 0;
}

/* The producer of a blob still downloading: decode in order what is in
 * place (one stream: a seek table is at the end, not there yet), and hash
 * the compressed bytes read, which must be the blob. */
static int produce_stream(struct producer *p)
{
	enum { CHUNK = 1 << 20 };
	_cleanup_free_ unsigned char *buf = xmalloc(CHUNK);
	struct sha256_ctx *bsha = sha256_new();
	struct comp_reader *cr = NULL;
	uint8_t md[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	uint64_t off = 0;
	int r = 0;

	while (r == 0 && off < p->size) {
		/* the first read sees enough to tell the compression */
		uint64_t want = cr ? 1 : (p->size < 16 ? p->size : 16);
		uint64_t n = stream_wait(p->st, off, want);

		if (!n) {
			r = ec_err_set(&p->err, EC_FAIL,
				       "the download of the blob failed");
			break;
		}
		if (n > CHUNK)
			n = CHUNK;
		if (io_pread_exact(p->blob_fd, buf, (size_t)n, off, "blob",
				   &p->err) < 0) {
			r = -1;
			break;
		}
		sha256_update(bsha, buf, (size_t)n);
		if (!cr) {
			p->kind = comp_detect(buf, (size_t)n);
			cr = comp_reader_new(p->kind, LAYER_MAX_OUT, pipe_sink,
					     p);
		}
		off += n;
		r = comp_reader_feed(cr, buf, (size_t)n, &p->err);
	}
	if (r == 0 && cr)
		r = comp_reader_finish(cr, &p->err);
	comp_reader_free(cr);
	sha256_final(bsha, md);
	sha256_free(bsha);
	hex_encode(md, sizeof(md), hex);
	if (r == 0 && strcmp(hex, p->digest + 7))
		r = ec_err_set(&p->err, EC_FAIL,
			       "digest mismatch: the blob is sha256:%s "
			       "(corrupt or tampered data, nothing was "
			       "unpacked)",
			       hex);
	return r;
}

static void *produce(void *arg)
{
	struct producer *p = arg;

	ec_err_clear(&p->err);
	if (p->st) {
		p->r = produce_stream(p);
	} else if (p->kind == COMP_ZSTD) {
		/* frame-parallel with a seek table, else one stream */
		p->r =
		    zseek_decompress_fd(p->blob_fd, p->size, 0, LAYER_MAX_OUT,
					pipe_sink, p, &p->err);
	} else {
		struct comp_reader *cr =
		    comp_reader_new(p->kind, LAYER_MAX_OUT, pipe_sink, p);
		_cleanup_free_ char *buf = xmalloc(1 << 20);
		uint64_t off = 0;
		ssize_t n = 0;

		p->r = 0;
		/* a failed read is no end of the blob (EIO: a bad disk) */
		while (p->r == 0 &&
		       (n = io_pread(p->blob_fd, buf, 1 << 20, off)) > 0) {
			off += (uint64_t)n;
			p->r = comp_reader_feed(cr, buf, (size_t)n, &p->err);
		}
		if (p->r == 0 && n < 0)
			p->r = ec_err_errno(&p->err, EC_FAIL, errno,
					    "read blob %s at byte %" PRIu64,
					    p->digest, off);
		if (p->r == 0)
			p->r = comp_reader_finish(cr, &p->err);
		comp_reader_free(cr);
	}
	close(p->pipe_w);
	p->pipe_w = -1;
	return NULL;
}

/* The tar side of the pipe. At the end of the stream it adds what a
 * well-formed archive would still have: the padding of the last member to
 * 512 bytes and the two zero blocks that end an archive. umoci 0.4.7
 * writes layers without them; the diff_id is computed on the bytes as
 * they are, this only lets libarchive see the end cleanly. */
struct pipe_src {
	int fd;
	uint64_t total;
	size_t trailer; /* zero bytes still to give after EOF; -1 = unset */
	int eof;
};

static long pipe_source(void *ctx, void *buf, size_t len, struct ec_err *err)
{
	struct pipe_src *p = ctx;
	ssize_t n;

	if (!p->eof) {
		do
			n = read(p->fd, buf, len);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return ec_err_errno(err, EC_FAIL, errno,
					    "read layer pipe");
		if (n > 0) {
			p->total += (uint64_t)n;
			return (long)n;
		}
		p->eof = 1;
		p->trailer = (512 - p->total % 512) % 512 + 1024;
	}
	if (len > p->trailer)
		len = p->trailer;
	memset(buf, 0, len);
	p->trailer -= len;
	return (long)len;
}

static enum comp_kind blob_kind(const struct oci_desc *d, int fd)
{
	unsigned char head[8];
	ssize_t n = pread(fd, head, sizeof(head), 0);

	if (n >= 4)
		return comp_detect(head, (size_t)n);
	(void)d;
	return COMP_NONE;
}

/* Unpack the layer blob in fd (size bytes; st: still downloading) into
 * dirfd (whiteouts mode per tar_unpack_opts) and check the tar stream
 * against ly->diff_id, or say in got_hex what it was. */
static int unpack_fd(int fd, uint64_t size, struct img_stream *st,
		     const struct img_layer *ly, int dirfd, int whiteouts,
		     char *got_hex, struct ec_err *err)
{
	struct producer p = {.blob_fd = fd,
			     .size = size,
			     .pipe_w = -1,
			     .st = st,
			     .digest = ly->blob.digest};
	/* no device nodes: in a layer dir they would be usable by anyone who
	 * reaches the root, and the runtime gives containers their /dev */
	struct tar_unpack_opts uo = {.whiteouts = whiteouts,
				     .keep_owner = geteuid() == 0,
				     .allow_devices = 0};
	int pfd[2] = {-1, -1}, r;
	struct pipe_src ps = {.fd = -1};
	uint8_t md[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	pthread_t th;
	char drain[65536];

	if (!st)
		p.kind = blob_kind(&ly->blob, fd);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "pipe");
	fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
	p.pipe_w = pfd[1];
	p.sha = sha256_new();
	if (pthread_create(&th, NULL, produce, &p) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		sha256_free(p.sha);
		return ec_err_set(err, EC_FAIL, "cannot start a thread");
	}
	ps.fd = pfd[0];
	r = tar_unpack(pipe_source, &ps, dirfd, &uo, NULL, err);
	/* hash what follows the end-of-archive blocks too */
	if (r == 0 && !ps.eof)
		while (read(pfd[0], drain, sizeof(drain)) > 0)
			;
	close(pfd[0]);
	pthread_join(th, NULL);
	if (r == 0 && p.r < 0) {
		*err = p.err;
		r = -1;
	} else if (r < 0 && p.r < 0 &&
		   (p.err.cat != EC_FAIL ||
		    (p.err.errnum && p.err.errnum != EPIPE))) {
		/* the cause (bomb, corrupt, a failed read: EIO), not EPIPE */
		*err = p.err;
	} else if (r < 0 && p.r < 0 && st) {
		*err = p.err; /* a failed download or digest: the cause */
	}
	if (r == 0) {
		sha256_final(p.sha, md);
		hex_encode(md, sizeof(md), hex);
		if (got_hex) /* no diff_id to check: say what it was */
			memcpy(got_hex, hex, sizeof(hex));
		else if (strcmp(hex, ly->diff_id + 7))
			r = ec_err_set(err, EC_FAIL,
				       "diff_id mismatch: the config says "
				       "%s, the layer is sha256:%s (corrupt "
				       "image)",
				       ly->diff_id, hex);
	}
	sha256_free(p.sha);
	return r;
}

/* Unpack one layer blob of the layout into dirfd (see unpack_fd). */
static int unpack_one(struct oci_layout *l, const struct img_layer *ly,
		      int dirfd, int whiteouts, char *got_hex,
		      struct ec_err *err)
{
	_cleanup_free_ char *path = oci_blob_path(l, ly->blob.digest);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		r = ec_err_errno(err, EC_NOTFOUND, errno, "layer blob %s",
				 ly->blob.digest);
	else if ((uint64_t)st.st_size != ly->blob.size)
		r = ec_err_set(err, EC_FAIL,
			       "the blob is %" PRIu64 " bytes but the manifest "
			       "says %" PRIu64 " (corrupt image)",
			       (uint64_t)st.st_size, ly->blob.size);
	else
		r = unpack_fd(fd, ly->blob.size, NULL, ly, dirfd, whiteouts,
			      got_hex, err);
	if (r < 0)
		return ec_err_prefix(err, "layer %s", ly->blob.digest);
	return 0;
}

/* --- layer directories ---------------------------------------------------- */

/* Unpack a layer into a new temp dir in overlay form beneath dir (locked
 * while in flight: oci_sweep_temps keeps it); its path, or NULL with err
 * set and nothing left. got_hex: as unpack_one. */
static char *unpack_temp(struct oci_layout *l, const struct img_layer *ly,
			 const char *dir, char *got_hex, struct ec_err *err)
{
	char *tmp = fs_mkdtemp(dir, ".tmp-", err);
	_cleanup_close_ int dfd = -1;
	int r;

	if (!tmp)
		return NULL;
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = ec_err_errno(err, EC_FAIL, errno, "open '%s'", tmp);
	} else {
		flock(dfd, LOCK_EX);
		r = unpack_one(l, ly, dfd, 1, got_hex, err);
		/* layers are shared read-only lowerdirs: root owns the top */
		if (r == 0)
			fchmod(dfd, 0755);
	}
	if (r < 0) {
		fs_rm_rf(tmp, NULL);
		free(tmp);
		return NULL;
	}
	return tmp;
}

struct unpacker {
	struct oci_layout *l;
	const char *dir;
	struct img_layer *layers;
	size_t n, next;
	unsigned done;
	pthread_mutex_t mu;
	int failed;
	struct ec_err err;
};

static int unpack_layer_dir(struct unpacker *u, const struct img_layer *ly,
			    int *did, struct ec_err *err)
{
	_cleanup_free_ char *final =
	    xasprintf("%s/%s", u->dir, ly->diff_id + 7);
	_cleanup_free_ char *tmp = NULL;
	int e;

	*did = 0;
	if (access(final, F_OK) == 0)
		return 0;
	if (!(tmp = unpack_temp(u->l, ly, u->dir, NULL, err)))
		return -1;
	*did = 1;
	if (rename(tmp, final) == 0)
		return 0;
	e = errno;
	fs_rm_rf(tmp, NULL);
	if (e == ENOTEMPTY || e == EEXIST)
		return 0; /* another process unpacked it first */
	*did = 0;
	return ec_err_errno(err, EC_FAIL, e, "rename to '%s'", final);
}

static void *unpack_worker(void *arg)
{
	struct unpacker *u = arg;

	for (;;) {
		struct ec_err e;
		size_t i;
		int did;

		pthread_mutex_lock(&u->mu);
		if (u->failed || u->next >= u->n) {
			pthread_mutex_unlock(&u->mu);
			break;
		}
		i = u->next++;
		pthread_mutex_unlock(&u->mu);
		ec_err_clear(&e);
		if (unpack_layer_dir(u, &u->layers[i], &did, &e) < 0) {
			pthread_mutex_lock(&u->mu);
			if (!u->failed) {
				u->failed = 1;
				u->err = e;
			}
			pthread_mutex_unlock(&u->mu);
			break;
		}
		pthread_mutex_lock(&u->mu);
		u->done += (unsigned)did;
		pthread_mutex_unlock(&u->mu);
	}
	return NULL;
}

/* The layers dir is private (0700): layers hold whatever setuid files and
 * modes images have; only root (the runtimes, overlayfs) reads them. */
static int mkdir_layers(const char *dir, struct ec_err *err)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return ec_err_errno(err, EC_FAIL, errno, "create '%s'", dir);
	if (fs_mkdir_p(dir, err) < 0)
		return -1;
	if (chmod(dir, 0700) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "chmod '%s'", dir);
	return 0;
}

int img_unpack_blob(struct oci_layout *l, const struct oci_desc *d,
		    const char *layers_dir, char **made, struct ec_err *err)
{
	struct img_layer ly = {.blob = *d};
	_cleanup_free_ char *tmp = NULL, *final = NULL;
	char hex[SHA256_HEX_LEN + 1];

	*made = NULL;
	if (mkdir_layers(layers_dir, err) < 0 ||
	    !(tmp = unpack_temp(l, &ly, layers_dir, hex, err)))
		return -1;
	final = xasprintf("%s/%s", layers_dir, hex);
	if (rename(tmp, final) < 0) {
		int e = errno;

		fs_rm_rf(tmp, NULL);
		if (e == ENOTEMPTY || e == EEXIST)
			return 0; /* there already */
		return ec_err_errno(err, EC_FAIL, e, "rename to '%s'", final);
	}
	*made = EC_STEAL(final);
	return 1;
}

/* --- a layer unpacked while its blob downloads --------------------------- */

static void *stream_main(void *arg)
{
	struct img_stream *s = arg;
	struct img_layer ly = {.blob = s->d};

	ec_err_clear(&s->err);
	s->r = unpack_fd(s->fd, s->d.size, s, &ly, s->dfd, 1, s->hex, &s->err);
	/* layers are shared read-only lowerdirs: root owns the top */
	if (s->r == 0)
		fchmod(s->dfd, 0755);
	return NULL;
}

struct img_stream *img_unpack_stream_start(const struct oci_desc *d, int fd,
					   const char *layers_dir,
					   struct ec_err *err)
{
	struct img_stream *s;
	char *tmp;
	int dfd;

	if (mkdir_layers(layers_dir, err) < 0 ||
	    !(tmp = fs_mkdtemp(layers_dir, ".tmp-", err)))
		return NULL;
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ec_err_errno(err, EC_FAIL, errno, "open '%s'", tmp);
		fs_rm_rf(tmp, NULL);
		free(tmp);
		return NULL;
	}
	flock(dfd, LOCK_EX); /* in flight: oci_sweep_temps keeps it */
	s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->d = *d;
	s->fd = fd;
	s->dir = xstrdup(layers_dir);
	s->tmp = tmp;
	s->dfd = dfd;
	if (pthread_create(&s->th, NULL, stream_main, s) != 0) {
		ec_err_set(err, EC_FAIL, "cannot start a thread");
		img_unpack_stream_finish(s, 0, NULL, NULL);
		return NULL;
	}
	s->started = 1;
	return s;
}

void img_unpack_stream_ready(void *stream, uint64_t n)
{
	struct img_stream *s = stream;

	pthread_mutex_lock(&s->mu);
	if (n > s->ready) {
		s->ready = n;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

int img_unpack_stream_finish(struct img_stream *s, int fetched, char **made,
			     struct ec_err *err)
{
	_cleanup_free_ char *final = NULL;
	int r = -1;

	if (made)
		*made = NULL;
	pthread_mutex_lock(&s->mu);
	s->end = fetched ? 1 : -1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->th, NULL);
	else
		s->r = -1;
	close(s->dfd);
	if (s->started && s->r < 0 && err)
		*err = s->err;
	if (s->r == 0 && fetched) {
		final = xasprintf("%s/%s", s->dir, s->hex);
		if (rename(s->tmp, final) == 0) {
			if (made)
				*made = EC_STEAL(final);
			r = 1;
		} else if (errno == ENOTEMPTY || errno == EEXIST) {
			r = 0; /* there already */
		} else {
			ec_err_errno(err, EC_FAIL, errno, "rename to '%s'",
				     final);
		}
	} else if (s->r == 0 && err) {
		ec_err_set(err, EC_FAIL, "the download of blob %s failed",
			   s->d.digest);
	}
	if (r <= 0)
		fs_rm_rf(s->tmp, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->tmp);
	free(s->dir);
	free(s);
	return r;
}

int img_unpack_layers(struct oci_layout *l, const char *manifest_digest,
		      const char *layers_dir, unsigned jobs, unsigned *unpacked,
		      struct ec_err *err)
{
	struct unpacker u = {.l = l, .dir = layers_dir};
	pthread_t th[16];
	unsigned i, started = 0;

	if (unpacked)
		*unpacked = 0;
	if (img_layers(l, manifest_digest, &u.layers, &u.n, err) < 0)
		return -1;
	if (mkdir_layers(layers_dir, err) < 0) {
		free(u.layers);
		return -1;
	}
	if (!jobs)
		jobs = 4;
	if (jobs > 16)
		jobs = 16;
	if (jobs > u.n)
		jobs = (unsigned)u.n;
	pthread_mutex_init(&u.mu, NULL);
	for (i = 1; i < jobs; i++)
		if (pthread_create(&th[started], NULL, unpack_worker, &u) == 0)
			started++;
	unpack_worker(&u);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&u.mu);
	free(u.layers);
	if (u.failed) {
		*err = u.err;
		return -1;
	}
	if (unpacked)
		*unpacked = u.done;
	return 0;
}

int img_unpack_layer(struct oci_layout *l, const struct img_layer *ly,
		     const char *layers_dir, struct ec_err *err)
{
	struct unpacker u = {.l = l, .dir = layers_dir};
	int did;

	if (mkdir_layers(layers_dir, err) < 0)
		return -1;
	return unpack_layer_dir(&u, ly, &did, err);
}

/* Create dir (unless check_only), or open it when it exists and is
 * empty: the first layer's whiteouts would otherwise delete what was
 * there. check_only: 0 when dir is absent or empty (nothing created). */
static int open_empty_dir(const char *dir, int check_only, struct ec_err *err)
{
	_cleanup_close_ int dfd = -1;
	int created, fd, full = 0;
	struct dirent *de;
	DIR *d;

	if (check_only) {
		if (access(dir, F_OK) < 0 && errno == ENOENT)
			return 0;
		created = 0;
	} else {
		created = mkdir(dir, 0755) == 0;
		if (!created && errno != EEXIST)
			return ec_err_errno(err, EC_FAIL, errno, "create '%s'",
					    dir);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOTDIR
			   ? ec_err_set(err, EC_USAGE,
					"'%s' is not a directory: unpack "
					"needs a new or empty directory",
					dir)
			   : ec_err_errno(err, EC_FAIL, errno, "open '%s'",
					  dir);
	if (created)
		return EC_STEAL_FD(dfd);
	fd = dup(dfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return ec_err_errno(err, EC_FAIL, errno, "read '%s'", dir);
	}
	while (!full && (de = readdir(d)))
		full = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	if (full)
		return ec_err_set(err, EC_USAGE,
				  "'%s' is not empty: unpack needs a new or "
				  "empty directory (the image's whiteouts "
				  "would delete what is there)",
				  dir);
	return check_only ? 0 : EC_STEAL_FD(dfd);
}

int img_unpack_dir_check(const char *dir, struct ec_err *err)
{
	return open_empty_dir(dir, 1, err) < 0 ? -1 : 0;
}

/* --- a flat rootfs from the layer directories ---------------------------- */

struct dir_writer {
	int dirfd;
	int pipe_w;
	int r;
	struct ec_err err;
};

static int dir_pipe_sink(void *ctx, const void *data, size_t len,
			 struct ec_err *err)
{
	struct dir_writer *w = ctx;

	return io_write_all(w->pipe_w, data, len, -1, "layer pipe", err);
}

static void *write_dir(void *arg)
{
	struct dir_writer *w = arg;
	/* 0/0 devices back to ".wh.NAME", the opaque xattr to ".wh..wh..opq":
	 * the layer as its tar had it, minus compression and hashing */
	struct tar_write_opts wo = {
	    .mtime_max = -1, .uid = -1, .gid = -1, .overlay_upper = 1};

	ec_err_clear(&w->err);
	w->r = tar_write_dir(w->dirfd, &wo, dir_pipe_sink, w, NULL, &w->err);
	close(w->pipe_w);
	w->pipe_w = -1;
	return NULL;
}

/* Apply the unpacked layer directory ldir on top of dirfd: the layer dir
 * is written back as a tar stream (tar_write_dir, overlay form to OCI
 * whiteouts) and unpacked by tar_unpack with whiteouts applied, so the
 * flat tree gets exactly the checks and rules of an unpack from the blob
 * while nothing is decompressed or hashed a second time. */
static int flatten_one(int ldir, int dirfd, struct ec_err *err)
{
	struct dir_writer w = {.dirfd = ldir, .pipe_w = -1};
	struct tar_unpack_opts uo = {
	    .whiteouts = 2, .keep_owner = geteuid() == 0, .allow_devices = 0};
	struct pipe_src ps = {.fd = -1};
	int pfd[2], r;
	pthread_t th;
	char drain[65536];

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ec_err_errno(err, EC_FAIL, errno, "pipe");
	fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
	w.pipe_w = pfd[1];
	if (pthread_create(&th, NULL, write_dir, &w) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		return ec_err_set(err, EC_FAIL, "cannot start a thread");
	}
	ps.fd = pfd[0];
	r = tar_unpack(pipe_source, &ps, dirfd, &uo, NULL, err);
	if (r == 0 && !ps.eof)
		while (read(pfd[0], drain, sizeof(drain)) > 0)
			;
	close(pfd[0]);
	pthread_join(th, NULL);
	if (w.r < 0 && (r == 0 || w.err.cat != EC_FAIL ||
			strstr(w.err.msg, "layer pipe") == NULL)) {
		*err = w.err; /* the cause, not the broken pipe it made */
		r = -1;
	}
	return r;
}

int img_unpack_flat(struct oci_layout *l, const char *manifest_digest,
		    const char *layers_dir, const char *dir, struct ec_err *err)
{
	struct img_layer *layers = NULL;
	_cleanup_close_ int dfd = -1;
	size_t n, i;
	int r = 0;

	if (img_layers(l, manifest_digest, &layers, &n, err) < 0)
		return -1;
	if ((dfd = open_empty_dir(dir, 0, err)) < 0) {
		free(layers);
		return -1;
	}
	for (i = 0; i < n && r == 0; i++) {
		_cleanup_free_ char *ld =
		    layers_dir
			? xasprintf("%s/%s", layers_dir, layers[i].diff_id + 7)
			: NULL;
		int lfd = ld ? open(ld, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC)
			     : -1;

		if (lfd < 0) {
			r = unpack_one(l, &layers[i], dfd, 2, NULL, err);
			continue;
		}
		r = flatten_one(lfd, dfd, err);
		close(lfd);
		if (r < 0)
			ec_err_prefix(err, "layer %s (from %s)",
				      layers[i].blob.digest, ld);
	}
	free(layers);
	return r;
}
