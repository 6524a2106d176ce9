/* pfs_cipher — the symmetric crypto of sealed shares, through OpenSSL EVP:
 * AES-256-CTR at any byte offset (seekable: a read of any range needs only
 * the keystream of that range), AES-256-GCM for authenticated blocks, and
 * HKDF-SHA256 / HMAC-SHA256 for key derivation.
 *
 * A pfs_ctr holds a key and an initial counter block; it is immutable after
 * pfs_ctr_new(), so any number of threads may call pfs_ctr_xor() on it at
 * once (each call uses its own short-lived EVP context). Whoever made it
 * frees it; pfs_ctr_free() wipes the key. The one-shot functions are
 * thread-safe. Key material passed in is never logged. */
#ifndef PFS_CIPHER_H
#define PFS_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFS_KEY_LEN 32       /* AES-256 */
#define PFS_CTR_IV_LEN 16    /* the counter block of byte 0 */
#define PFS_GCM_NONCE_LEN 12
#define PFS_GCM_TAG_LEN 16
#define PFS_HMAC_LEN 32

struct pfs_ctr;

/* A keystream: byte N of it is byte N % 16 of AES-256(KEY, IV + N / 16),
 * the counter block a 128-bit big-endian integer (wrapping), which is what
 * OpenSSL's and NIST SP 800-38A's CTR mode produce from IV. NULL on
 * -ENOMEM or a cipher OpenSSL cannot provide. */
struct pfs_ctr *pfs_ctr_new(const uint8_t key[PFS_KEY_LEN],
			    const uint8_t iv[PFS_CTR_IV_LEN]);
void pfs_ctr_free(struct pfs_ctr *c);
/* OUT = IN xor keystream[OFFSET, OFFSET + LEN). IN may equal OUT.
 * Returns 0 or -EIO / -ENOMEM / -EOVERFLOW (OFFSET + LEN past 2^64). */
int pfs_ctr_xor(const struct pfs_ctr *c, uint64_t offset, const void *in,
		void *out, size_t len);

/* AES-256-GCM with a 12-byte nonce and a 16-byte tag. Seal: OUT gets LEN
 * bytes of ciphertext, TAG the tag. Open: OUT gets the plaintext only when
 * the tag checks; returns 0, -EBADMSG (wrong key, or the bytes, the AAD or
 * the tag changed: OUT is then wiped) or -EIO/-ENOMEM. IN may equal OUT. */
int pfs_gcm_seal(const uint8_t key[PFS_KEY_LEN],
		 const uint8_t nonce[PFS_GCM_NONCE_LEN], const void *aad,
		 size_t aad_len, const void *in, size_t len, void *out,
		 uint8_t tag[PFS_GCM_TAG_LEN]);
int pfs_gcm_open(const uint8_t key[PFS_KEY_LEN],
		 const uint8_t nonce[PFS_GCM_NONCE_LEN], const void *aad,
		 size_t aad_len, const void *in, size_t len,
		 const uint8_t tag[PFS_GCM_TAG_LEN], void *out);

/* HKDF-SHA256 (RFC 5869, extract then expand) into OUT of OUT_LEN bytes
 * (at most 255 * 32). Returns 0 or -EINVAL / -EIO. */
int pfs_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt,
		    size_t salt_len, const void *info, size_t info_len,
		    void *out, size_t out_len);
/* HMAC-SHA256 (RFC 2104). Returns 0 or -EIO. */
int pfs_hmac_sha256(const void *key, size_t key_len, const void *data,
		    size_t len, uint8_t out[PFS_HMAC_LEN]);

/* Constant-time comparison: true when the N bytes are equal. */
bool pfs_ct_equal(const void *a, const void *b, size_t n);
/* Wipe N bytes in a way the compiler cannot drop. */
void pfs_wipe(void *p, size_t n);

#endif
