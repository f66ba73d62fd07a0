/* digest.h - SHA-256, HMAC-SHA-256, MD5 and hex, over OpenSSL (the only
 * module that includes OpenSSL headers). */
#ifndef EC_DIGEST_H
#define EC_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN     32
#define SHA256_HEX_LEN 64

struct sha256_ctx; /* opaque */

/* Streaming SHA-256. _new never fails (aborts on OOM). */
struct sha256_ctx *sha256_new(void);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Finish into out[32]; the context can be reused after sha256_reset. */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
void sha256_reset(struct sha256_ctx *c);
void sha256_free(struct sha256_ctx *c);

/* One-shot helpers. hex output is lower case and NUL-terminated. */
void sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN]);
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);
void hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
		 uint8_t out[SHA256_LEN]);
/* MD5 as base64 (Content-MD5) into b64[25]. */
void md5_base64(const void *data, size_t len, char b64[25]);
/* Streaming MD5 (the ETag of a single-part S3 object), as lower-case hex
 * into hex[33]; the context is the sha256 one run with MD5. */
struct sha256_ctx *md5_new(void);
void md5_final_hex(struct sha256_ctx *c, char hex[33]);

void hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);

/* Fill buf with cryptographically random bytes. */
void random_bytes(void *buf, size_t len);

#endif
