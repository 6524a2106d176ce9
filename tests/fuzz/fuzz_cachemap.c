/* libFuzzer target for cache_map_decode, the parser of the verified-piece
 * map read back from disk (and cache_map_encode, its inverse).
 *
 * Input: one flags byte, a 14-byte geometry (u16 npieces, u32 piece_length,
 * u64 total_length, big-endian), then the map bytes.
 *   flag 1: re-sign: replace the trailing SHA-256 with the right one, so
 *           mutations reach the checks behind the checksum.
 *   flag 2: take the geometry from the map's own header instead, so any
 *           size, including absurd piece counts, is tried.
 *   flag 4: also treat the map bytes as a bitmap and round-trip it through
 *           cache_map_encode.
 * Checked: no crash or out-of-bounds access; a failed decode leaves its
 * output untouched; a successful one has clear spare bits and re-encodes to
 * exactly the input (the format is canonical). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "pfs_hash.h"

#define PREFIX 15
#define CANARY 0xa5

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static size_t bitmap_len(uint32_t n)
{
	return (size_t)n / 8 + (n % 8 != 0);
}

static void roundtrip(const uint8_t *bits, size_t len, uint32_t npieces,
		      uint32_t pl, uint64_t total)
{
	size_t bl = bitmap_len(npieces), n = cache_map_size(npieces);
	if (len < bl)
		return;
	uint8_t *enc = malloc(n), *back = malloc(bl ? bl : 1);
	if (!enc || !back)
		goto out;
	uint8_t spare = npieces % 8 ? (uint8_t)(0xffu >> (npieces % 8)) : 0;
	int e = cache_map_encode(bits, npieces, pl, total, enc, n);
	if (bl && (bits[bl - 1] & spare)) {
		if (e != -EINVAL)
			abort();
		goto out;
	}
	if (e != 0 || cache_map_decode(enc, n, npieces, pl, total, back) != 0 ||
	    memcmp(back, bits, bl) != 0)
		abort();
	if (cache_map_encode(bits, npieces, pl, total, enc, n - 1) != -EINVAL)
		abort();
out:
	free(enc);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < PREFIX)
		return 0;
	uint8_t flags = data[0];
	uint32_t npieces = (uint32_t)data[1] << 8 | data[2];
	uint32_t pl = rd32(data + 3);
	uint64_t total = rd64(data + 7);
	size_t len = size - PREFIX;
	/* a copy of exactly LEN bytes, so reads past the end are caught */
	uint8_t *map = malloc(len ? len : 1);
	uint8_t *out = NULL;
	if (!map)
		return 0;
	memcpy(map, data + PREFIX, len);

	if ((flags & 2) && len >= CACHE_MAP_HEADER_LEN) {
		npieces = rd32(map + 12);
		pl = rd32(map + 16);
		total = rd64(map + 20);
	}
	if ((flags & 1) && len >= CACHE_MAP_HEADER_LEN + PFS_SHA256_LEN)
		pfs_sha256(map, len - PFS_SHA256_LEN,
			   map + len - PFS_SHA256_LEN);

	/* the output is as large as the geometry asks, unless that is more
	 * than the input could describe: then decode must fail before
	 * writing, and a 1-byte buffer proves it */
	size_t bl = bitmap_len(npieces);
	size_t olen = bl && bl <= len ? bl : 1;
	if (!(out = malloc(olen)))
		goto out;
	memset(out, CANARY, olen);
	int e = cache_map_decode(map, len, npieces, pl, total, out);
	if (e == 0) {
		uint8_t spare = npieces % 8 ? (uint8_t)(0xffu >> (npieces % 8))
					    : 0;
		if (len != cache_map_size(npieces) ||
		    (bl && (out[bl - 1] & spare)))
			abort();
		uint8_t *enc = malloc(len);
		if (enc) {
			if (cache_map_encode(out, npieces, pl, total, enc,
					     len) != 0 ||
			    memcmp(enc, map, len) != 0)
				abort();
			free(enc);
		}
	} else {
		if (e != -EINVAL)
			abort();
		for (size_t i = 0; i < olen; i++)
			if (out[i] != CANARY)
				abort();
	}
	if (flags & 4)
		roundtrip(map, len, npieces, pl, total);
out:
	free(out);
	free(map);
	return 0;
}
