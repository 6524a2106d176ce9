/* bt_bitfield — piece bitmaps; see bt_bitfield.h. */
#include "bt_bitfield.h"

#include <string.h>

uint32_t bt_bitfield_count(const uint8_t *bf, uint32_t n)
{
	size_t len = bt_bitfield_len(n);
	uint32_t c = 0;
	for (size_t i = 0; i < len; i++)
		c += (uint32_t)__builtin_popcount(bf[i]);
	if (len)
		c -= (uint32_t)__builtin_popcount(bf[len - 1] &
						  bt_bitfield_spare_mask(n));
	return c;
}

bool bt_bitfield_spare_clear(const uint8_t *bf, uint32_t n)
{
	size_t len = bt_bitfield_len(n);
	return !len || !(bf[len - 1] & bt_bitfield_spare_mask(n));
}

void bt_bitfield_fill(uint8_t *bf, uint32_t n)
{
	size_t len = bt_bitfield_len(n);
	if (!len)
		return;
	memset(bf, 0xff, len);
	bf[len - 1] &= (uint8_t)~bt_bitfield_spare_mask(n);
}
