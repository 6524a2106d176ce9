/* Unit tests for bt_picker: deadline order, block bookkeeping, duplicates
 * after a deadline, hash failures, rarest-first with fetch-all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bt_picker.h"
#include "bt_wire.h"

#define PL (64u * 1024) /* 4 blocks a piece */

static void all_bits(uint8_t *bf, uint32_t n)
{
	memset(bf, 0, (n + 7) / 8);
	for (uint32_t i = 0; i < n; i++)
		bt_bit_set(bf, i);
}

static void test_geometry(void **state)
{
	(void)state;
	/* 10 pieces, last one 1000 bytes */
	struct bt_picker *p = bt_picker_new(10, PL, 9ull * PL + 1000);
	assert_non_null(p);
	assert_int_equal(bt_picker_nblocks(p, 0), 4);
	assert_int_equal(bt_picker_nblocks(p, 9), 1);
	assert_int_equal(bt_picker_block_len(p, 9, 0), 1000);
	assert_int_equal(bt_picker_block_len(p, 3, 3), BT_BLOCK_SIZE);
	bt_picker_free(p);
	assert_null(bt_picker_new(0, PL, 0));
}

static void test_nothing_unwanted(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	/* without wants and without fetch-all nothing is requested */
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 0);
	assert_true(bt_picker_interesting(p, bf));
	bt_picker_free(p);
}

static void test_deadline_order(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_want(p, 7, 500);
	bt_picker_want(p, 2, 100);
	bt_picker_want(p, 5, 300);
	bt_picker_want(p, 7, 50); /* earlier deadline replaces */
	assert_int_equal(bt_picker_want_count(p), 3);
	assert_int_equal(bt_picker_next_deadline(p), 50);
	size_t n = bt_picker_pick(p, bf, NULL, NULL, 0, out, 16);
	assert_int_equal(n, 12);
	assert_int_equal(out[0].piece, 7);
	assert_int_equal(out[4].piece, 2);
	assert_int_equal(out[8].piece, 5);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(out[i].begin, i * BT_BLOCK_SIZE);
	/* everything requested: a second peer gets nothing before deadline */
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 0);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_free(p);
}

static void test_peer_lacks_piece(void **state)
{
	(void)state;
	uint8_t bf[2] = {0};
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	bt_bit_set(bf, 3);
	bt_picker_want(p, 2, 0);
	bt_picker_want(p, 3, 10);
	size_t n = bt_picker_pick(p, bf, NULL, NULL, 0, out, 16);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i].piece, 3);
	bt_picker_free(p);
}

static void test_receive_complete_have(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_want(p, 4, 0);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 4);
	assert_int_equal(bt_picker_received(p, 4, 0, 1), 0);
	assert_int_equal(bt_picker_received(p, 4, 0, 1), -1); /* duplicate */
	assert_int_equal(bt_picker_received(p, 4, 100, 1), -1); /* unaligned */
	assert_int_equal(bt_picker_received(p, 5, 0, 1), -1); /* not active */
	assert_int_equal(bt_picker_received(p, 4, BT_BLOCK_SIZE, 1), 0);
	assert_int_equal(bt_picker_received(p, 4, 2 * BT_BLOCK_SIZE, 2), 0);
	assert_int_equal(bt_picker_received(p, 4, 3 * BT_BLOCK_SIZE, 2), 1);
	assert_int_equal(bt_picker_check(p), 0);
	/* complete pieces are not picked while hashing */
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 0);
	bt_picker_set_have(p, 4);
	assert_true(bt_picker_have(p, 4));
	assert_false(bt_picker_wanted(p, 4));
	assert_int_equal(bt_picker_have_count(p), 1);
	bt_picker_want(p, 4, 0); /* have: ignored */
	assert_int_equal(bt_picker_want_count(p), 0);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_free(p);
}

static void test_abort_and_refetch(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_want(p, 1, 1000);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 2), 2);
	bt_picker_abort(p, 1, 0);
	size_t n = bt_picker_pick(p, bf, NULL, NULL, 0, out, 16);
	assert_int_equal(n, 3); /* block 0 again, blocks 2 and 3 */
	assert_int_equal(out[0].begin, 0);
	bt_picker_free(p);
}

static bool queued_block0(void *arg, uint32_t piece, uint32_t begin)
{
	(void)arg;
	(void)piece;
	return begin == 0;
}

static void test_duplicates_after_deadline(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_want(p, 0, 100);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 4);
	/* before the deadline: no duplicates */
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 99, out, 16), 0);
	/* after it: the missing blocks may go to another peer, but not the
	 * blocks that peer already has queued */
	assert_int_equal(bt_picker_received(p, 0, BT_BLOCK_SIZE, 1), 0);
	size_t n = bt_picker_pick(p, bf, queued_block0, NULL, 200, out, 16);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].begin, 2 * BT_BLOCK_SIZE);
	/* at most two requests of one block */
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 300, out, 16), 1);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 300, out, 16), 0);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_free(p);
}

static void test_hash_fail(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	uint32_t ids[8];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_want(p, 9, 0);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 4);
	for (uint32_t b = 0; b < 4; b++)
		bt_picker_received(p, 9, b * BT_BLOCK_SIZE, b < 2 ? 7 : 8);
	size_t n = bt_picker_piece_failed(p, 9, ids, 8);
	assert_int_equal(n, 2);
	assert_true((ids[0] == 7 && ids[1] == 8) || (ids[0] == 8 && ids[1] == 7));
	assert_true(bt_picker_wanted(p, 9));
	assert_int_equal(bt_picker_check(p), 0);
	/* all four blocks can be asked for again */
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 4);
	bt_picker_free(p);
}

static void test_fetch_all_rarest(void **state)
{
	(void)state;
	uint8_t all[2], one[2] = {0};
	struct bt_block out[64];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(all, 10);
	bt_bit_set(one, 6);
	bt_picker_avail_add(p, all);
	bt_picker_avail_add(p, all);
	bt_picker_avail_remove(p, all);
	bt_picker_avail_add(p, all);
	bt_picker_avail_add(p, one); /* piece 6 is the most common */
	bt_picker_avail_inc(p, 2);   /* and piece 2 next */
	assert_int_equal(bt_picker_avail(p, 6), 3);
	bt_picker_set_fetch_all(p, true);
	bt_picker_set_have(p, 0);
	size_t n = bt_picker_pick(p, all, NULL, NULL, 0, out, 64);
	assert_int_equal(n, 9 * 4);
	/* the common pieces come last */
	assert_int_equal(out[n - 1].piece, 6);
	assert_int_equal(out[n - 5].piece, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(out[i].piece, 0);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_free(p);
}

static void test_interesting(void **state)
{
	(void)state;
	uint8_t bf[2] = {0};
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	bt_bit_set(bf, 9);
	assert_true(bt_picker_interesting(p, bf));
	bt_picker_set_have(p, 9);
	assert_false(bt_picker_interesting(p, bf));
	bt_picker_free(p);
}

static void test_clear_have(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_set_have(p, 4);
	bt_picker_want(p, 4, 0); /* had: ignored */
	assert_false(bt_picker_wanted(p, 4));
	/* the cache evicted it: wanted and picked again */
	bt_picker_clear_have(p, 4);
	assert_false(bt_picker_have(p, 4));
	assert_int_equal(bt_picker_have_count(p), 0);
	bt_picker_clear_have(p, 4); /* twice is harmless */
	bt_picker_clear_have(p, 99);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_want(p, 4, 0);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 4);
	assert_int_equal(out[0].piece, 4);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_nothing_unwanted),
		cmocka_unit_test(test_deadline_order),
		cmocka_unit_test(test_peer_lacks_piece),
		cmocka_unit_test(test_receive_complete_have),
		cmocka_unit_test(test_abort_and_refetch),
		cmocka_unit_test(test_duplicates_after_deadline),
		cmocka_unit_test(test_hash_fail),
		cmocka_unit_test(test_fetch_all_rarest),
		cmocka_unit_test(test_interesting),
		cmocka_unit_test(test_clear_have),
	};
	return cmocka_run_group_tests_name("picker", tests, NULL, NULL);
}
