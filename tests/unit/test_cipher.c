/* Unit tests for pfs_cipher: AES-256-CTR against NIST SP 800-38A F.5.5
 * (CTR-AES256.Encrypt), at every offset and length inside the vector and
 * across the 128-bit counter wrap; AES-256-GCM against the GCM spec's test
 * cases 13 and 14 (McGrew and Viega), round trips with AAD, and every
 * single-bit change of ciphertext, tag or AAD rejected with the output
 * wiped; HKDF-SHA256 against RFC 5869 test cases 1 and 3; HMAC-SHA256
 * against RFC 4231 test case 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pfs_cipher.h"
#include "pfs_hash.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(h), 2 * n);
	assert_int_equal(pfs_unhex(h, out, n), 0);
}

/* ---- CTR ---- */

static const char *NIST_KEY =
	"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
static const char *NIST_IV = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
static const char *NIST_PT =
	"6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
	"30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
static const char *NIST_CT =
	"601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
	"2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6";

static void test_ctr_nist(void **state)
{
	(void)state;
	uint8_t key[32], iv[16], pt[64], ct[64], out[64];
	unhex(NIST_KEY, key, 32);
	unhex(NIST_IV, iv, 16);
	unhex(NIST_PT, pt, 64);
	unhex(NIST_CT, ct, 64);
	struct pfs_ctr *c = pfs_ctr_new(key, iv);
	assert_non_null(c);
	assert_int_equal(pfs_ctr_xor(c, 0, pt, out, 64), 0);
	assert_memory_equal(out, ct, 64);
	/* any sub-range at its own offset gives the same bytes */
	for (size_t off = 0; off < 64; off++)
		for (size_t len = 0; off + len <= 64; len++) {
			memset(out, 0xaa, sizeof(out));
			assert_int_equal(pfs_ctr_xor(c, off, pt + off, out, len),
					 0);
			assert_memory_equal(out, ct + off, len);
		}
	/* in place, and decryption is the same operation */
	memcpy(out, ct, 64);
	assert_int_equal(pfs_ctr_xor(c, 0, out, out, 64), 0);
	assert_memory_equal(out, pt, 64);
	pfs_ctr_free(c);
}

/* The counter is 128 bits wide: a block past ff..ff wraps to 00..00, and
 * an offset far into the stream equals the same stream started there. */
static void test_ctr_wrap_and_far(void **state)
{
	(void)state;
	uint8_t key[32], iv[16], blk[16], a[48], b[48], zero[48] = {0};
	memset(key, 7, sizeof(key));
	memset(iv, 0xff, sizeof(iv));
	iv[15] = 0xfe; /* two blocks before the wrap */
	struct pfs_ctr *c = pfs_ctr_new(key, iv);
	assert_int_equal(pfs_ctr_xor(c, 0, zero, a, 48), 0);
	memset(blk, 0, sizeof(blk)); /* the wrapped counter block */
	struct pfs_ctr *w = pfs_ctr_new(key, blk);
	assert_int_equal(pfs_ctr_xor(w, 0, zero, b, 16), 0);
	assert_memory_equal(a + 32, b, 16);
	pfs_ctr_free(w);
	pfs_ctr_free(c);

	/* 2^40 + 5 bytes in: the counter IV + 2^36 (carry into byte 11) */
	memset(iv, 0, sizeof(iv));
	iv[11] = 0xff;
	iv[15] = 0x01;
	c = pfs_ctr_new(key, iv);
	uint64_t far = (1ull << 40) + 5;
	assert_int_equal(pfs_ctr_xor(c, far, zero, a, 40), 0);
	memset(blk, 0, sizeof(blk));
	/* 0xff * 2^32 + 1 + 2^36 = 0x10f * 2^32 + 1 */
	blk[10] = 0x01;
	blk[11] = 0x0f;
	blk[15] = 0x01;
	w = pfs_ctr_new(key, blk);
	assert_int_equal(pfs_ctr_xor(w, 5, zero, b, 40), 0);
	assert_memory_equal(a, b, 40);
	assert_int_equal(pfs_ctr_xor(c, UINT64_MAX - 3, zero, a, 8),
			 -EOVERFLOW);
	pfs_ctr_free(w);
	pfs_ctr_free(c);
}

/* ---- GCM ---- */

static void test_gcm_vectors(void **state)
{
	(void)state;
	uint8_t key[32] = {0}, nonce[12] = {0}, tag[16], want[16], pt[16] = {0};
	uint8_t ct[16], ctw[16];
	/* test case 13: empty plaintext */
	assert_int_equal(pfs_gcm_seal(key, nonce, NULL, 0, NULL, 0, NULL, tag),
			 0);
	unhex("530f8afbc74536b9a963b4f1c4cb738b", want, 16);
	assert_memory_equal(tag, want, 16);
	assert_int_equal(pfs_gcm_open(key, nonce, NULL, 0, NULL, 0, tag, NULL),
			 0);
	/* test case 14: 16 zero bytes */
	assert_int_equal(pfs_gcm_seal(key, nonce, NULL, 0, pt, 16, ct, tag), 0);
	unhex("cea7403d4d606b6e074ec5d3baf39d18", ctw, 16);
	unhex("d0d1c8a799996bf0265b98b5d48ab919", want, 16);
	assert_memory_equal(ct, ctw, 16);
	assert_memory_equal(tag, want, 16);
	uint8_t back[16];
	assert_int_equal(pfs_gcm_open(key, nonce, NULL, 0, ct, 16, tag, back),
			 0);
	assert_memory_equal(back, pt, 16);
}

static void test_gcm_tamper(void **state)
{
	(void)state;
	uint8_t key[32], nonce[12], aad[21], pt[100], ct[100], tag[16];
	uint8_t out[100];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	memset(nonce, 3, sizeof(nonce));
	memset(aad, 'a', sizeof(aad));
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)i;
	assert_int_equal(pfs_gcm_seal(key, nonce, aad, sizeof(aad), pt,
				      sizeof(pt), ct, tag), 0);
	assert_int_equal(pfs_gcm_open(key, nonce, aad, sizeof(aad), ct,
				      sizeof(ct), tag, out), 0);
	assert_memory_equal(out, pt, sizeof(pt));
	uint8_t *parts[] = {ct, tag, aad, key, nonce};
	size_t lens[] = {sizeof(ct), sizeof(tag), sizeof(aad), sizeof(key),
			 sizeof(nonce)};
	for (size_t k = 0; k < 5; k++)
		for (size_t i = 0; i < lens[k] * 8; i += 3) {
			parts[k][i / 8] ^= (uint8_t)(1u << (i % 8));
			memset(out, 0x55, sizeof(out));
			assert_int_equal(pfs_gcm_open(key, nonce, aad,
						      sizeof(aad), ct,
						      sizeof(ct), tag, out),
					 -EBADMSG);
			for (size_t j = 0; j < sizeof(out); j++)
				assert_int_equal(out[j], 0); /* wiped */
			parts[k][i / 8] ^= (uint8_t)(1u << (i % 8));
		}
}

/* ---- HKDF, HMAC ---- */

static void test_hkdf_rfc5869(void **state)
{
	(void)state;
	uint8_t ikm[80], salt[80], info[80], out[82], want[82];
	/* test case 1 */
	memset(ikm, 0x0b, 22);
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(pfs_hkdf_sha256(ikm, 22, salt, 13, info, 10, out, 42),
			 0);
	unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	      "34007208d5b887185865", want, 42);
	assert_memory_equal(out, want, 42);
	/* test case 3: no salt, no info */
	assert_int_equal(pfs_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, out, 42), 0);
	unhex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	      "9d201395faa4b61a96c8", want, 42);
	assert_memory_equal(out, want, 42);
	/* a shorter output is a prefix of a longer one */
	assert_int_equal(pfs_hkdf_sha256(ikm, 22, salt, 13, info, 10, want, 82),
			 0);
	assert_int_equal(pfs_hkdf_sha256(ikm, 22, salt, 13, info, 10, out, 33),
			 0);
	assert_memory_equal(out, want, 33);
	assert_int_equal(pfs_hkdf_sha256(ikm, 22, salt, 13, info, 10, out,
					 255 * 32 + 1), -EINVAL);
}

static void test_hmac_rfc4231(void **state)
{
	(void)state;
	uint8_t key[20], out[32], want[32];
	memset(key, 0x0b, sizeof(key));
	assert_int_equal(pfs_hmac_sha256(key, 20, "Hi There", 8, out), 0);
	unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	      want, 32);
	assert_memory_equal(out, want, 32);
	assert_true(pfs_ct_equal(out, want, 32));
	want[31] ^= 1;
	assert_false(pfs_ct_equal(out, want, 32));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctr_nist),
		cmocka_unit_test(test_ctr_wrap_and_far),
		cmocka_unit_test(test_gcm_vectors),
		cmocka_unit_test(test_gcm_tamper),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_hmac_rfc4231),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
