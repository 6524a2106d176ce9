/* pfs_cipher — AES-256-CTR at an offset, AES-256-GCM, HKDF/HMAC-SHA256
 * through OpenSSL EVP; see pfs_cipher.h.
 *
 * CTR at an offset: the counter block of byte N is IV + N / 16 (128-bit
 * add); a fresh EVP context starts at that block and throws away the first
 * N % 16 keystream bytes, so no state is shared between calls. */
#include "pfs_cipher.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

struct pfs_ctr {
	EVP_CIPHER *cipher; /* fetched once: no implicit fetch per call */
	uint8_t key[PFS_KEY_LEN];
	uint8_t iv[PFS_CTR_IV_LEN];
};

/* One EVP call takes an int length. */
#define EVP_STEP (1u << 30)

struct pfs_ctr *pfs_ctr_new(const uint8_t key[PFS_KEY_LEN],
			    const uint8_t iv[PFS_CTR_IV_LEN])
{
	struct pfs_ctr *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
	if (!c->cipher) {
		free(c);
		return NULL;
	}
	memcpy(c->key, key, PFS_KEY_LEN);
	memcpy(c->iv, iv, PFS_CTR_IV_LEN);
	return c;
}

void pfs_ctr_free(struct pfs_ctr *c)
{
	if (!c)
		return;
	EVP_CIPHER_free(c->cipher);
	pfs_wipe(c, sizeof(*c));
	free(c);
}

/* BLOCK = IV + ADD as 128-bit big-endian integers (mod 2^128). */
static void counter_at(const uint8_t iv[16], uint64_t add, uint8_t block[16])
{
	unsigned carry = 0;
	for (int i = 15; i >= 0; i--) {
		unsigned a = (unsigned)(add & 0xff);
		add >>= 8;
		unsigned s = iv[i] + a + carry;
		block[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

int pfs_ctr_xor(const struct pfs_ctr *c, uint64_t offset, const void *in,
		void *out, size_t len)
{
	if (!len)
		return 0;
	if ((uint64_t)len > UINT64_MAX - offset)
		return -EOVERFLOW;
	uint8_t block[16], skip[16] = {0};
	int n, rc = -EIO;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	if (!x)
		return -ENOMEM;
	counter_at(c->iv, offset / 16, block);
	if (EVP_EncryptInit_ex2(x, c->cipher, c->key, block, NULL) != 1)
		goto out;
	if (offset % 16 &&
	    EVP_EncryptUpdate(x, skip, &n, skip, (int)(offset % 16)) != 1)
		goto out;
	const uint8_t *src = in;
	uint8_t *dst = out;
	while (len) {
		size_t step = len < EVP_STEP ? len : EVP_STEP;
		if (EVP_EncryptUpdate(x, dst, &n, src, (int)step) != 1 ||
		    (size_t)n != step)
			goto out;
		src += step;
		dst += step;
		len -= step;
	}
	rc = 0;
out:
	pfs_wipe(skip, sizeof(skip));
	EVP_CIPHER_CTX_free(x);
	return rc;
}

/* ---- AES-256-GCM ---- */

static int gcm(bool enc, const uint8_t *key, const uint8_t *nonce,
	       const void *aad, size_t aad_len, const void *in, size_t len,
	       void *out, uint8_t *tag)
{
	int n, rc = -EIO;
	if (aad_len > INT_MAX || len > INT_MAX)
		return -EINVAL;
	EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	if (!cipher || !x) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_CipherInit_ex2(x, cipher, NULL, NULL, enc, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, PFS_GCM_NONCE_LEN,
				NULL) != 1 ||
	    EVP_CipherInit_ex2(x, NULL, key, nonce, enc, NULL) != 1)
		goto out;
	if (aad_len && EVP_CipherUpdate(x, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len && EVP_CipherUpdate(x, out, &n, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG,
					PFS_GCM_TAG_LEN, tag) != 1)
		goto out;
	uint8_t fin[16];
	if (EVP_CipherFinal_ex(x, fin, &n) != 1) {
		rc = enc ? -EIO : -EBADMSG;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG,
				       PFS_GCM_TAG_LEN, tag) != 1)
		goto out;
	rc = 0;
out:
	if (rc < 0 && !enc && out && len)
		pfs_wipe(out, len); /* no unauthenticated plaintext */
	EVP_CIPHER_CTX_free(x);
	EVP_CIPHER_free(cipher);
	return rc;
}

int pfs_gcm_seal(const uint8_t key[PFS_KEY_LEN],
		 const uint8_t nonce[PFS_GCM_NONCE_LEN], const void *aad,
		 size_t aad_len, const void *in, size_t len, void *out,
		 uint8_t tag[PFS_GCM_TAG_LEN])
{
	return gcm(true, key, nonce, aad, aad_len, in, len, out, tag);
}

int pfs_gcm_open(const uint8_t key[PFS_KEY_LEN],
		 const uint8_t nonce[PFS_GCM_NONCE_LEN], const void *aad,
		 size_t aad_len, const void *in, size_t len,
		 const uint8_t tag[PFS_GCM_TAG_LEN], void *out)
{
	uint8_t t[PFS_GCM_TAG_LEN];
	memcpy(t, tag, sizeof(t)); /* OpenSSL wants a writable tag */
	return gcm(false, key, nonce, aad, aad_len, in, len, out, t);
}

/* ---- HMAC, HKDF ---- */

int pfs_hmac_sha256(const void *key, size_t key_len, const void *data,
		    size_t len, uint8_t out[PFS_HMAC_LEN])
{
	unsigned int n = 0;
	if (key_len > INT_MAX)
		return -EINVAL;
	static const uint8_t empty[1];
	if (!HMAC(EVP_sha256(), key_len ? key : empty, (int)key_len,
		  len ? data : empty, len, out, &n) ||
	    n != PFS_HMAC_LEN)
		return -EIO;
	return 0;
}

int pfs_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt,
		    size_t salt_len, const void *info, size_t info_len,
		    void *out, size_t out_len)
{
	static const uint8_t zeros[PFS_HMAC_LEN];
	uint8_t prk[PFS_HMAC_LEN], t[PFS_HMAC_LEN];
	int rc;
	if (out_len > 255u * PFS_HMAC_LEN || info_len > 4096)
		return -EINVAL;
	/* extract: no salt = a block of zeros (RFC 5869 2.2) */
	if ((rc = pfs_hmac_sha256(salt_len ? salt : zeros,
				  salt_len ? salt_len : sizeof(zeros), ikm,
				  ikm_len, prk)) < 0)
		return rc;
	/* expand: T(i) = HMAC(PRK, T(i-1) | info | i) */
	uint8_t *buf = malloc(PFS_HMAC_LEN + info_len + 1);
	if (!buf) {
		pfs_wipe(prk, sizeof(prk));
		return -ENOMEM;
	}
	uint8_t *o = out;
	size_t done = 0, tlen = 0;
	for (unsigned i = 1; done < out_len; i++) {
		memcpy(buf, t, tlen);
		if (info_len)
			memcpy(buf + tlen, info, info_len);
		buf[tlen + info_len] = (uint8_t)i;
		if ((rc = pfs_hmac_sha256(prk, sizeof(prk), buf,
					  tlen + info_len + 1, t)) < 0)
			break;
		tlen = PFS_HMAC_LEN;
		size_t n = out_len - done < tlen ? out_len - done : tlen;
		memcpy(o + done, t, n);
		done += n;
	}
	pfs_wipe(buf, PFS_HMAC_LEN + info_len + 1);
	free(buf);
	pfs_wipe(prk, sizeof(prk));
	pfs_wipe(t, sizeof(t));
	return rc < 0 ? rc : 0;
}

bool pfs_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void pfs_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}
