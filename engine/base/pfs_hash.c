/* pfs_hash — SHA-1/SHA-256 via OpenSSL EVP; see pfs_hash.h. */
#include "pfs_hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>

struct pfs_sha1_ctx {
	EVP_MD_CTX *md;
};

static int digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
	unsigned int n = 0;
	return EVP_Digest(data, len, out, &n, md, NULL) == 1 ? 0 : -EIO;
}

int pfs_sha1(const void *data, size_t len, uint8_t out[PFS_SHA1_LEN])
{
	return digest(EVP_sha1(), data, len, out);
}

int pfs_sha256(const void *data, size_t len, uint8_t out[PFS_SHA256_LEN])
{
	return digest(EVP_sha256(), data, len, out);
}

struct pfs_sha1_ctx *pfs_sha1_new(void)
{
	struct pfs_sha1_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->md = EVP_MD_CTX_new();
	if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha1(), NULL) != 1) {
		pfs_sha1_free(c);
		return NULL;
	}
	return c;
}

int pfs_sha1_update(struct pfs_sha1_ctx *c, const void *data, size_t len)
{
	return EVP_DigestUpdate(c->md, data, len) == 1 ? 0 : -EIO;
}

int pfs_sha1_final(struct pfs_sha1_ctx *c, uint8_t out[PFS_SHA1_LEN])
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(c->md, out, &n) != 1)
		return -EIO;
	/* ready for reuse */
	return EVP_DigestInit_ex(c->md, EVP_sha1(), NULL) == 1 ? 0 : -EIO;
}

void pfs_sha1_free(struct pfs_sha1_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

void pfs_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pfs_unhex(const char *in, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]);
		int lo = hi < 0 ? -1 : hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return in[2 * n] == '\0' ? 0 : -EINVAL;
}

int pfs_random(void *out, size_t n)
{
	return RAND_bytes(out, (int)n) == 1 ? 0 : -EIO;
}
