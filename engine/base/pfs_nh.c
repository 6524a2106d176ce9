/* pfs_nh — NH over 32-bit words: sum of (m[2i] + k[2i]) * (m[2i+1] +
 * k[2i+1]) mod 2^64, additions mod 2^32 (Black et al., UMAC); see
 * pfs_nh.h. A tail of fewer than 8 bytes is zero-padded, and the length is
 * mixed into the result so that blocks of different lengths differ. */
#include "pfs_nh.h"

#include <string.h>

#include "pfs_hash.h"

int pfs_nh_init(struct pfs_nh *nh)
{
	return pfs_random(nh->k, sizeof(nh->k));
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v; /* host order: only compared within one process */
}

uint64_t pfs_nh(const struct pfs_nh *nh, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t n = len > PFS_NH_MAX ? PFS_NH_MAX : len;
	size_t words = n / 8 * 2;
	uint64_t sum = 0;
	const uint32_t *k = nh->k;
	for (size_t i = 0; i < words; i += 2) {
		uint32_t a = le32(p + 4 * i) + k[i];
		uint32_t b = le32(p + 4 * i + 4) + k[i + 1];
		sum += (uint64_t)a * b;
	}
	if (n % 8) {
		uint8_t tail[8] = {0};
		memcpy(tail, p + words * 4, n % 8);
		uint32_t a = le32(tail) + k[words];
		uint32_t b = le32(tail + 4) + k[words + 1];
		sum += (uint64_t)a * b;
	}
	/* the length, so a block and its zero-padded prefix differ */
	return sum ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
}
