/* Unit tests for pfs_nh: a signature is a function of the key and the
 * bytes; any change of a byte, of the length or of the key changes it;
 * the tails of short blocks count; and it is fast enough to sign every
 * block received (well over 1 GB/s). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pfs_hash.h"
#include "pfs_nh.h"

static void test_sign(void **state)
{
	(void)state;
	struct pfs_nh *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_int_equal(pfs_nh_init(a), 0);
	assert_int_equal(pfs_nh_init(b), 0);
	uint8_t *blk = malloc(16384);
	assert_int_equal(pfs_random(blk, 16384), 0);
	uint64_t s = pfs_nh(a, blk, 16384);
	assert_int_equal(pfs_nh(a, blk, 16384), s);
	assert_int_not_equal(pfs_nh(b, blk, 16384), s);
	/* every single-bit change shows (sampled positions) */
	for (size_t i = 0; i < 16384; i += 97) {
		for (int bit = 0; bit < 8; bit += 3) {
			blk[i] ^= (uint8_t)(1 << bit);
			assert_int_not_equal(pfs_nh(a, blk, 16384), s);
			blk[i] ^= (uint8_t)(1 << bit);
		}
	}
	/* the top bits of two words: a collision of NH mod 2^64 without the
	 * per-pair multiply would cancel out; here it does not */
	blk[3] ^= 0x80;
	blk[11] ^= 0x80;
	assert_int_not_equal(pfs_nh(a, blk, 16384), s);
	blk[3] ^= 0x80;
	blk[11] ^= 0x80;
	/* lengths and tails */
	assert_int_not_equal(pfs_nh(a, blk, 16383), s);
	uint64_t t5 = pfs_nh(a, blk, 5);
	blk[4] ^= 1;
	assert_int_not_equal(pfs_nh(a, blk, 5), t5);
	blk[4] ^= 1;
	blk[5] ^= 1; /* past the length: no effect */
	assert_int_equal(pfs_nh(a, blk, 5), t5);
	uint8_t zero[16] = {0};
	assert_int_not_equal(pfs_nh(a, zero, 8), pfs_nh(a, zero, 16));
	free(blk);
	free(a);
	free(b);
}

static void test_speed(void **state)
{
	(void)state;
	struct pfs_nh *nh = malloc(sizeof(*nh));
	assert_int_equal(pfs_nh_init(nh), 0);
	size_t n = 16384, rounds = 8192; /* 128 MiB */
	uint8_t *blk = malloc(n);
	memset(blk, 7, n);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t x = 0;
	for (size_t i = 0; i < rounds; i++) {
		blk[i % n] = (uint8_t)i;
		x ^= pfs_nh(nh, blk, n);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double rate = (double)(n * rounds) / dt;
	if (getenv("P2PFS_TEST_DEBUG"))
		fprintf(stderr, "nh: %.0f MB/s (%llx)\n", rate / 1e6,
			(unsigned long long)x);
	/* a loaded machine still does several GB/s; 1 GB/s is the bound
	 * (instrumented builds are far slower: only sanity there) */
#if defined(__SANITIZE_ADDRESS__) || defined(__has_feature)
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
	double min = 2e7;
#else
	double min = 1e9;
#endif
#else
	double min = 1e9;
#endif
	assert_true(rate > min);
	free(blk);
	free(nh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_speed),
	};
	return cmocka_run_group_tests_name("nh", tests, NULL, NULL);
}
