#include "crypto/digest.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

struct sha256_ctx {
	EVP_MD_CTX *md;
};

struct sha256_ctx *sha256_new(void)
{
	struct sha256_ctx *c = malloc(sizeof(*c));

	if (!c || !(c->md = EVP_MD_CTX_new()))
		BUG("out of memory");
	sha256_reset(c);
	return c;
}

void sha256_reset(struct sha256_ctx *c)
{
	if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
		BUG("EVP_DigestInit_ex(sha256) failed");
}

struct sha256_ctx *md5_new(void)
{
	struct sha256_ctx *c = malloc(sizeof(*c));

	if (!c || !(c->md = EVP_MD_CTX_new()) ||
	    EVP_DigestInit_ex(c->md, EVP_md5(), NULL) != 1)
		BUG("md5 context");
	return c;
}

void md5_final_hex(struct sha256_ctx *c, char hex[33])
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(c->md, d, &n) != 1 || n != 16)
		BUG("EVP_DigestFinal_ex(md5) failed");
	hex_encode(d, 16, hex);
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(c->md, data, len) != 1)
		BUG("EVP_DigestUpdate failed");
}

void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(c->md, out, &n) != 1 || n != SHA256_LEN)
		BUG("EVP_DigestFinal_ex failed");
}

void sha256_free(struct sha256_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

void sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		BUG("EVP_Digest failed");
}

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	uint8_t d[SHA256_LEN];

	sha256_buf(data, len, d);
	hex_encode(d, sizeof(d), hex);
}

void hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
		 uint8_t out[SHA256_LEN])
{
	unsigned int n = 0;

	if (!HMAC(EVP_sha256(), key, (int)klen, data, len, out, &n))
		BUG("HMAC failed");
}

void md5_base64(const void *data, size_t len, char b64[25])
{
	unsigned char d[16];
	unsigned int n = 0;

	if (EVP_Digest(data, len, d, &n, EVP_md5(), NULL) != 1)
		BUG("EVP_Digest(md5) failed");
	EVP_EncodeBlock((unsigned char *)b64, d, 16);
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char h[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = h[in[i] >> 4];
		out[2 * i + 1] = h[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void random_bytes(void *buf, size_t len)
{
	if (RAND_bytes(buf, (int)len) != 1)
		BUG("RAND_bytes failed");
}
