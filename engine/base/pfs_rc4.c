/* pfs_rc4 — RC4 (key schedule, keystream); see pfs_rc4.h.
 *
 * Speed matters: every payload byte of an encrypted connection goes through
 * pfs_rc4_crypt. The loop keeps i, j and the state pointer in registers,
 * holds the permutation in 32-bit cells (measured ~1.5x faster than byte
 * cells on x86-64: no partial-register merges), loads the next s[i] a step
 * ahead, and makes eight keystream bytes for one 64-bit xor with the data
 * (~10 % over a plain byte loop), the word built in registers where the
 * byte order allows (~10 % more). */
#include "pfs_rc4.h"

#include <string.h>

void pfs_rc4_init(struct pfs_rc4 *r, const uint8_t *key, size_t keylen)
{
	uint32_t *s = r->s;
	for (uint32_t k = 0; k < 256; k++)
		s[k] = k;
	uint32_t j = 0;
	size_t ki = 0;
	for (uint32_t k = 0; k < 256; k++) {
		uint32_t t = s[k];
		j = (j + t + key[ki]) & 255;
		s[k] = s[j];
		s[j] = t;
		if (++ki == keylen)
			ki = 0;
	}
	r->i = 0;
	r->j = 0;
}

/* One keystream byte into OUT. SI already holds s[i] for the i of this
 * step: the load of the next s[i] is issued before this step's output
 * load, so the CPU overlaps them (i does not depend on the data). */
#define RC4_STEP(s, i, j, si, out)                                             \
	do {                                                                   \
		uint32_t sj_ = s[j = (j + si) & 255];                          \
		s[j] = si;                                                     \
		s[i] = sj_;                                                    \
		uint32_t ni_ = (i + 1) & 255;                                  \
		uint32_t nsi_ = s[ni_];                                        \
		out = s[(si + sj_) & 255];                                     \
		i = ni_;                                                       \
		si = nsi_;                                                     \
	} while (0)

void pfs_rc4_skip(struct pfs_rc4 *r, size_t n)
{
	/* through the batched loop (a byte loop of its own would be no
	 * faster, and is ~8x slower under the fuzzers' instrumentation) */
	uint8_t zero[256] = {0}, sink[256];
	while (n) {
		size_t k = n < sizeof(zero) ? n : sizeof(zero);
		pfs_rc4_crypt(r, zero, sink, k);
		n -= k;
	}
	explicit_bzero(sink, sizeof(sink));
}

void pfs_rc4_crypt(struct pfs_rc4 *r, const uint8_t *in, uint8_t *out, size_t n)
{
	uint32_t *s = r->s, i = (r->i + 1) & 255, j = r->j, si = s[i];
	while (n >= 8) {
		uint32_t k0, k1, k2, k3, k4, k5, k6, k7;
		RC4_STEP(s, i, j, si, k0);
		RC4_STEP(s, i, j, si, k1);
		RC4_STEP(s, i, j, si, k2);
		RC4_STEP(s, i, j, si, k3);
		RC4_STEP(s, i, j, si, k4);
		RC4_STEP(s, i, j, si, k5);
		RC4_STEP(s, i, j, si, k6);
		RC4_STEP(s, i, j, si, k7);
		uint64_t a, b;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* the word in registers (~10 % over a trip through memory) */
		b = (uint64_t)k0 | (uint64_t)k1 << 8 | (uint64_t)k2 << 16 |
		    (uint64_t)k3 << 24 | (uint64_t)k4 << 32 |
		    (uint64_t)k5 << 40 | (uint64_t)k6 << 48 |
		    (uint64_t)k7 << 56;
#else
		/* keystream bytes in memory order, whatever the byte order */
		uint8_t ks[8] = {(uint8_t)k0, (uint8_t)k1, (uint8_t)k2,
				 (uint8_t)k3, (uint8_t)k4, (uint8_t)k5,
				 (uint8_t)k6, (uint8_t)k7};
		memcpy(&b, ks, 8);
#endif
		memcpy(&a, in, 8);
		a ^= b;
		memcpy(out, &a, 8);
		in += 8;
		out += 8;
		n -= 8;
	}
	while (n--) {
		uint32_t k;
		RC4_STEP(s, i, j, si, k);
		*out++ = (uint8_t)(*in++ ^ k);
	}
	r->i = (i - 1) & 255;
	r->j = j;
}

void pfs_rc4_release(struct pfs_rc4 *r)
{
	explicit_bzero(r, sizeof(*r));
}
