/* compress_impl.h - helpers shared by the files of src/compress (not part
 * of the module's interface). */
#ifndef EC_COMPRESS_IMPL_H
#define EC_COMPRESS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* zstd window cap of every decoder: 2^25 = 32 MiB (libzstd's default is
 * 2^27 = 128 MiB). A frame can ask its decoder for a buffer of its window
 * size, and a pull runs several decoders at once (layers in parallel,
 * frames in parallel within one): at 128 MiB each a hostile image could
 * make one pull take gigabytes. What writers of layers use: edgectl 2 MiB
 * (level 3, 8 MiB frames; at most 8 MiB at any level with those frames;
 * only --level 21/22 with --frame-size over 32 MiB goes past the cap),
 * the zstd CLI at levels 1-19 at most 8 MiB and --ultra -20 32 MiB,
 * klauspost/compress (containerd, BuildKit, podman/skopeo, zstd:chunked)
 * 4-32 MiB by level (32 MiB for its "best", zstd levels >= 10 there); RFC
 * 8878 asks decoders for at least 8 MiB. 32 MiB takes all of those; what
 * is refused is zstd --ultra -21/-22 and --long (64-128 MiB windows). */
#define ZWINDOW_LOG_MAX 25

/* The zstd seekable format (contrib/seekable_format in the zstd tree). */
#define ZSEEK_SKIPPABLE_MAGIC 0x184D2A5Eu
#define ZSEEK_MAGIC	      0x8F92EAB1u
#define ZSEEK_FOOTER_SIZE     9u /* frames u32, descriptor u8, magic u32 */
#define ZSEEK_HEADER_SIZE     8u /* skippable magic u32, frame size u32 */
#define ZSEEK_DESC_CHECKSUM   0x80u
#define ZSEEK_DESC_RESERVED   0x7Cu
#define ZSEEK_ENTRY_SIZE(d)   (((d)&ZSEEK_DESC_CHECKSUM) ? 12u : 8u)

static inline uint32_t get_le32(const void *p)
{
	const unsigned char *b = p;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline void put_le32(void *p, uint32_t v)
{
	unsigned char *b = p;

	b[0] = (unsigned char)v;
	b[1] = (unsigned char)(v >> 8);
	b[2] = (unsigned char)(v >> 16);
	b[3] = (unsigned char)(v >> 24);
}

/* Most worker threads a writer or zseek_decompress_fd() starts. */
#define COMP_THREADS_MAX 256

/* Online CPUs, at least 1: the default number of threads. */
unsigned comp_online_cpus(void);

/* Allocate a frame-sized buffer (free() it). Large ones are aligned and
 * marked for transparent huge pages: frames are touched once and whole,
 * and 4 KiB page faults cost more than the decompression itself. Never
 * fails (aborts on out of memory). */
void *comp_big_alloc(size_t n);

/* Fill err for the libzstd error `code` met while decoding ("corrupt zstd
 * data: ...", "zstd frame needs a window over 32 MiB ..." ...). `first` says
 * the error came before any frame was decoded, so an unknown magic means
 * the input is not zstd at all. Returns -1. */
int zstd_decode_error(struct ec_err *err, size_t code, int first);

#endif
