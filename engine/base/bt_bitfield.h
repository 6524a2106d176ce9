/* bt_bitfield — piece bitmaps in BEP 3 bit order (piece 0 is the high bit of
 * byte 0), shared by the wire codec, the picker, the peers and the cache.
 *
 * Plain functions over caller-owned byte arrays of bt_bitfield_len(N)
 * bytes; the spare bits past N are always kept zero. Pure, any thread. */
#ifndef BT_BITFIELD_H
#define BT_BITFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a bitmap of N bits. */
static inline size_t bt_bitfield_len(uint32_t n)
{
	return ((size_t)n + 7) / 8;
}

static inline bool bt_bit_get(const uint8_t *bf, uint32_t i)
{
	return (bf[i >> 3] >> (7 - (i & 7))) & 1;
}
static inline void bt_bit_set(uint8_t *bf, uint32_t i)
{
	bf[i >> 3] |= (uint8_t)(0x80 >> (i & 7));
}
static inline void bt_bit_clear(uint8_t *bf, uint32_t i)
{
	bf[i >> 3] &= (uint8_t) ~(0x80 >> (i & 7));
}

/* The mask of the spare (unused) bits of the last byte of a bitmap of N
 * bits: 0 when N is a multiple of 8. */
static inline uint8_t bt_bitfield_spare_mask(uint32_t n)
{
	unsigned spare = (unsigned)(bt_bitfield_len(n) * 8 - n);
	return (uint8_t)((1u << spare) - 1);
}

/* Bits set among the first N of BF. */
uint32_t bt_bitfield_count(const uint8_t *bf, uint32_t n);
/* True when no spare bit past N is set. */
bool bt_bitfield_spare_clear(const uint8_t *bf, uint32_t n);
/* Set the first N bits (all pieces), spare bits clear. */
void bt_bitfield_fill(uint8_t *bf, uint32_t n);

#endif
