/* pfs_hash — SHA-1/SHA-256 through OpenSSL EVP, and hex helpers.
 *
 * OpenSSL is used only in engine/base: here (digests, randomness),
 * pfs_cipher (the sealed shares' ciphers) and pfs_dh (the MSE
 * Diffie-Hellman); pfs_rc4 is our own. Every function is thread-safe; a
 * pfs_sha1_ctx belongs to the thread that made it. */
#ifndef PFS_HASH_H
#define PFS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define PFS_SHA1_LEN 20
#define PFS_SHA256_LEN 32

struct pfs_sha1_ctx;

/* One-shot digests. Return 0 or -ENOMEM/-EIO. */
int pfs_sha1(const void *data, size_t len, uint8_t out[PFS_SHA1_LEN]);
int pfs_sha256(const void *data, size_t len, uint8_t out[PFS_SHA256_LEN]);

/* Incremental SHA-1. */
struct pfs_sha1_ctx *pfs_sha1_new(void);
int pfs_sha1_update(struct pfs_sha1_ctx *c, const void *data, size_t len);
int pfs_sha1_final(struct pfs_sha1_ctx *c, uint8_t out[PFS_SHA1_LEN]);
void pfs_sha1_free(struct pfs_sha1_ctx *c);

/* Lowercase hex of N bytes into OUT (2N+1 bytes). */
void pfs_hex(const uint8_t *in, size_t n, char *out);
/* Parse 2N hex digits into N bytes. Returns 0 or -EINVAL. */
int pfs_unhex(const char *in, uint8_t *out, size_t n);
/* Fill OUT with N cryptographically random bytes. Returns 0 or -EIO. */
int pfs_random(void *out, size_t n);

#endif
