/* pfs_dh — MSE Diffie-Hellman with OpenSSL BIGNUM; see pfs_dh.h. */
#include "pfs_dh.h"

#include <errno.h>
#include <openssl/bn.h>
#include <stdbool.h>

/* The MSE prime P (a 768-bit safe prime; the spec gives it in hex). */
static const uint8_t mse_prime[PFS_DH_LEN] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2,
    0x21, 0x68, 0xC2, 0x34, 0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1,
    0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74, 0x02, 0x0B, 0xBE, 0xA6,
    0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D,
    0xF2, 0x5F, 0x14, 0x37, 0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45,
    0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6, 0xF4, 0x4C, 0x42, 0xE9,
    0xA6, 0x3A, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
};

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* OUT = BASE^PRIV mod P; BASE NULL means the generator 2. PEER-supplied
 * bases are range-checked first. */
static int modexp(const uint8_t priv[PFS_DH_PRIV_LEN], const uint8_t *base,
		  uint8_t out[PFS_DH_LEN])
{
	if (all_zero(priv, PFS_DH_PRIV_LEN))
		return -EINVAL;
	int rc = -ENOMEM;
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = BN_bin2bn(mse_prime, PFS_DH_LEN, NULL);
	BIGNUM *x = BN_secure_new();
	BIGNUM *b = BN_new();
	BIGNUM *r = BN_secure_new();
	BIGNUM *pm1 = BN_new();
	if (!ctx || !p || !x || !b || !r || !pm1)
		goto out;
	if (!BN_bin2bn(priv, PFS_DH_PRIV_LEN, x))
		goto out;
	BN_set_flags(x, BN_FLG_CONSTTIME);
	if (base) {
		rc = -EPROTO;
		if (!BN_bin2bn(base, PFS_DH_LEN, b) || !BN_copy(pm1, p) ||
		    !BN_sub_word(pm1, 1))
			goto out;
		/* 2 <= base <= P-2 */
		if (BN_cmp(b, BN_value_one()) <= 0 || BN_cmp(b, pm1) >= 0)
			goto out;
	} else if (!BN_set_word(b, 2)) {
		goto out;
	}
	rc = -EIO;
	if (!BN_mod_exp(r, b, x, p, ctx) ||
	    BN_bn2binpad(r, out, PFS_DH_LEN) != PFS_DH_LEN)
		goto out;
	rc = 0;
out:
	BN_clear_free(x);
	BN_clear_free(r);
	BN_free(b);
	BN_free(p);
	BN_free(pm1);
	BN_CTX_free(ctx);
	return rc;
}

int pfs_dh_public(const uint8_t priv[PFS_DH_PRIV_LEN], uint8_t pub[PFS_DH_LEN])
{
	return modexp(priv, NULL, pub);
}

int pfs_dh_secret(const uint8_t priv[PFS_DH_PRIV_LEN],
		  const uint8_t peer[PFS_DH_LEN], uint8_t secret[PFS_DH_LEN])
{
	return modexp(priv, peer, secret);
}
