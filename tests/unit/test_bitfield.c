/* Unit tests for bt_bitfield: BEP 3 bit order, lengths, counting with and
 * without spare bits, the spare-bit check and fill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bt_bitfield.h"

static void test_order(void **state)
{
	(void)state;
	uint8_t bf[2] = {0};
	bt_bit_set(bf, 0);
	bt_bit_set(bf, 9);
	assert_int_equal(bf[0], 0x80);
	assert_int_equal(bf[1], 0x40);
	assert_true(bt_bit_get(bf, 0));
	assert_false(bt_bit_get(bf, 1));
	assert_true(bt_bit_get(bf, 9));
	bt_bit_clear(bf, 0);
	assert_int_equal(bf[0], 0);
}

static void test_len_count_spare(void **state)
{
	(void)state;
	assert_int_equal(bt_bitfield_len(0), 0);
	assert_int_equal(bt_bitfield_len(1), 1);
	assert_int_equal(bt_bitfield_len(8), 1);
	assert_int_equal(bt_bitfield_len(9), 2);
	assert_int_equal(bt_bitfield_spare_mask(8), 0);
	assert_int_equal(bt_bitfield_spare_mask(9), 0x7f);
	assert_int_equal(bt_bitfield_spare_mask(15), 0x01);
	uint8_t bf[2];
	for (uint32_t n = 1; n <= 16; n++) {
		bt_bitfield_fill(bf, n);
		assert_int_equal(bt_bitfield_count(bf, n), n);
		assert_true(bt_bitfield_spare_clear(bf, n));
		if (n % 8) {
			bf[bt_bitfield_len(n) - 1] |= 1; /* a spare bit */
			assert_false(bt_bitfield_spare_clear(bf, n));
			/* spare bits are not counted */
			assert_int_equal(bt_bitfield_count(bf, n), n);
		}
	}
	memset(bf, 0, sizeof(bf));
	assert_int_equal(bt_bitfield_count(bf, 16), 0);
	assert_true(bt_bitfield_spare_clear(bf, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_len_count_spare),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
