/* Unit tests for pfs_rc4: the published vectors (the three classic short
 * ones, and RFC 6229's keystream at offsets 0..4096 for a 40-bit and a
 * 128-bit key), in-place and split calls equal one call, skip equals
 * crypting zeros, and every tail length around the 8-byte batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pfs_hash.h"
#include "pfs_rc4.h"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	assert_int_equal(pfs_unhex(hex, out, n), 0);
}

static void one(const char *key, const char *pt, const char *ct_hex)
{
	size_t n = strlen(pt);
	uint8_t ct[64], want[64];
	struct pfs_rc4 r;
	unhex(ct_hex, want, n);
	pfs_rc4_init(&r, (const uint8_t *)key, strlen(key));
	pfs_rc4_crypt(&r, (const uint8_t *)pt, ct, n);
	assert_memory_equal(ct, want, n);
	/* and back */
	pfs_rc4_init(&r, (const uint8_t *)key, strlen(key));
	pfs_rc4_crypt(&r, ct, ct, n);
	assert_memory_equal(ct, pt, n);
	pfs_rc4_release(&r);
}

static void test_classic(void **state)
{
	(void)state;
	one("Key", "Plaintext", "bbf316e8d940af0ad3");
	one("Wiki", "pedia", "1021bf0420");
	one("Secret", "Attack at dawn", "45a01f645fc35b383552544b9bf5");
}

/* RFC 6229 keystream rows (16 bytes at the given offsets; the same bytes
 * as OpenSSL's legacy RC4 gives for these keys) */
struct rfc_row {
	size_t off;
	const char *hex;
};

static void rfc6229(const char *key_hex, size_t keylen,
		    const struct rfc_row *rows, size_t nrows)
{
	uint8_t key[32], zero[4112] = {0}, ks[4112], want[16];
	unhex(key_hex, key, keylen);
	struct pfs_rc4 r;
	pfs_rc4_init(&r, key, keylen);
	pfs_rc4_crypt(&r, zero, ks, sizeof(ks));
	for (size_t i = 0; i < nrows; i++) {
		unhex(rows[i].hex, want, 16);
		assert_memory_equal(ks + rows[i].off, want, 16);
	}
	/* the same through skip: skip(off) then 16 bytes */
	for (size_t i = 0; i < nrows; i++) {
		uint8_t got[16];
		pfs_rc4_init(&r, key, keylen);
		pfs_rc4_skip(&r, rows[i].off);
		pfs_rc4_crypt(&r, zero, got, 16);
		unhex(rows[i].hex, want, 16);
		assert_memory_equal(got, want, 16);
	}
}

static void test_rfc6229_40bit(void **state)
{
	(void)state;
	static const struct rfc_row rows[] = {
	    {0, "b2396305f03dc027ccc3524a0a1118a8"},
	    {16, "6982944f18fc82d589c403a47a0d0919"},
	    {240, "28cb1132c96ce286421dcaadb8b69eae"},
	    {256, "1cfcf62b03eddb641d77dfcf7f8d8c93"},
	    {4096, "ff25b58995996707e51fbdf08b34d875"},
	};
	rfc6229("0102030405", 5, rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_rfc6229_128bit(void **state)
{
	(void)state;
	static const struct rfc_row rows[] = {
	    {0, "9ac7cc9a609d1ef7b2932899cde41b97"},
	    {16, "5248c4959014126a6e8a84f11d1a9e1c"},
	    {1520, "b40110c4190b5622a96116b0017ed297"},
	    {3072, "c05d88abd50357f935a63c59ee537623"},
	    {4096, "a36a4c301ae8ac13610ccbc12256cacc"},
	};
	rfc6229("0102030405060708090a0b0c0d0e0f10", 16, rows,
		sizeof(rows) / sizeof(rows[0]));
}

/* A reference byte loop, the textbook algorithm, to check the batched
 * loop's every length and alignment against. */
static void ref_crypt(const uint8_t *key, size_t kl, const uint8_t *in,
		      uint8_t *out, size_t n, size_t skip)
{
	uint8_t s[256];
	for (int i = 0; i < 256; i++)
		s[i] = (uint8_t)i;
	for (int i = 0, j = 0; i < 256; i++) {
		j = (j + s[i] + key[(size_t)i % kl]) & 255;
		uint8_t t = s[i];
		s[i] = s[j];
		s[j] = t;
	}
	int i = 0, j = 0;
	for (size_t k = 0; k < skip + n; k++) {
		i = (i + 1) & 255;
		j = (j + s[i]) & 255;
		uint8_t t = s[i];
		s[i] = s[j];
		s[j] = t;
		if (k >= skip)
			out[k - skip] = in[k - skip] ^ s[(s[i] + s[j]) & 255];
	}
}

static void test_splits(void **state)
{
	(void)state;
	const uint8_t key[20] = "an mse-sized key....";
	uint8_t in[700], want[700], got[700];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 131 + 7);
	ref_crypt(key, 20, in, want, sizeof(in), 1024);
	/* every first-chunk length, the rest in one call; in place too */
	for (size_t a = 0; a <= 40; a++) {
		struct pfs_rc4 r;
		pfs_rc4_init(&r, key, 20);
		pfs_rc4_skip(&r, 1024);
		pfs_rc4_crypt(&r, in, got, a);
		memcpy(got + a, in + a, sizeof(in) - a);
		pfs_rc4_crypt(&r, got + a, got + a, sizeof(in) - a);
		assert_memory_equal(got, want, sizeof(in));
	}
	/* chunks of every size 1..17 */
	for (size_t c = 1; c <= 17; c++) {
		struct pfs_rc4 r;
		pfs_rc4_init(&r, key, 20);
		pfs_rc4_skip(&r, 1000);
		pfs_rc4_skip(&r, 24);
		for (size_t o = 0; o < sizeof(in); o += c) {
			size_t n = sizeof(in) - o < c ? sizeof(in) - o : c;
			pfs_rc4_crypt(&r, in + o, got + o, n);
		}
		assert_memory_equal(got, want, sizeof(in));
	}
	/* a one-byte key and a 256-byte key */
	uint8_t k256[256];
	for (int i = 0; i < 256; i++)
		k256[i] = (uint8_t)(255 - i);
	for (size_t kl = 1; kl <= 256; kl += 255) {
		struct pfs_rc4 r;
		ref_crypt(k256, kl, in, want, 333, 0);
		pfs_rc4_init(&r, k256, kl);
		pfs_rc4_crypt(&r, in, got, 333);
		assert_memory_equal(got, want, 333);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classic),
	    cmocka_unit_test(test_rfc6229_40bit),
	    cmocka_unit_test(test_rfc6229_128bit),
	    cmocka_unit_test(test_splits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
