/* Unit tests for bt_picker: deadline order, block bookkeeping, duplicates
 * of late requests after a deadline, hash failures, rarest-first with
 * fetch-all, read-ahead claims that are dropped, due pieces spread over
 * peers, picks by due time. All driven by a fake clock (the NOW argument). */
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

/* After a failure with several senders: one peer at a time fetches the
 * piece, without duplicates; it is freed when that peer gives it back or
 * goes; the senders and signatures of its blocks are on record. */
static void test_exclusive_and_senders(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	uint32_t ids[8];
	uint64_t sigs[8];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_want(p, 4, 0);
	bt_picker_set_peer(p, 7);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 2), 2);
	bt_picker_set_peer(p, 8);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 0, out, 16), 2);
	for (uint32_t b = 0; b < 4; b++) {
		bt_picker_received(p, 4, b * BT_BLOCK_SIZE, b < 2 ? 7 : 8);
		bt_picker_set_sig(p, 4, b * BT_BLOCK_SIZE, 100 + b);
	}
	assert_int_equal(bt_picker_senders(p, 4, ids, sigs, 8), 4);
	assert_int_equal(ids[0], 7);
	assert_int_equal(ids[3], 8);
	assert_int_equal(sigs[2], 102);
	bt_picker_set_exclusive(p, 4, true);
	bt_picker_piece_failed(p, 4, NULL, 0);
	assert_true(bt_picker_exclusive(p, 4));
	/* peer 8 takes it: peer 7 gets none, even long past the deadline */
	bt_picker_set_peer(p, 8);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 1000, out, 2), 2);
	bt_picker_set_peer(p, 7);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 5000, out, 16), 0);
	/* 8 gives its requests back before any block came: free again */
	bt_picker_abort(p, 4, 0);
	bt_picker_abort(p, 4, BT_BLOCK_SIZE);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 5000, out, 16), 4);
	/* 7 sends one block, then goes: its block is fetched again, by
	 * whoever comes next, all of it */
	bt_picker_received(p, 4, 0, 7);
	for (uint32_t b = 1; b < 4; b++)
		bt_picker_abort(p, 4, b * BT_BLOCK_SIZE);
	bt_picker_peer_gone(p, 7);
	assert_int_equal(bt_picker_senders(p, 4, ids, sigs, 8), 4);
	assert_int_equal(ids[0], 0);
	bt_picker_set_peer(p, 9);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 6000, out, 16), 4);
	assert_int_equal(bt_picker_check(p), 0);
	/* verified: no longer exclusive (nor in progress) */
	bt_picker_set_have(p, 4);
	assert_false(bt_picker_exclusive(p, 4));
	assert_int_equal(bt_picker_senders(p, 4, ids, sigs, 8), 0);
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

static void test_late_duplicates(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_want(p, 3, 1000);
	/* requested at t=1000, due at 1000: a second peer gets duplicates
	 * only once the requests are late */
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 1000, out, 16), 4);
	uint64_t late = 1000 + BT_PICKER_LATE_MS;
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, late - 1, out, 16), 0);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, late, out, 16), 4);
	assert_int_equal(bt_picker_requests(p, 3, 0), 2);
	/* the first copy to arrive wins; the other one is still counted, so
	 * the caller knows to cancel it */
	assert_int_equal(bt_picker_received(p, 3, 0, 1), 0);
	assert_int_equal(bt_picker_requests(p, 3, 0), 1);
	assert_int_equal(bt_picker_received(p, 3, 0, 2), -1);
	bt_picker_abort(p, 3, 0);
	assert_int_equal(bt_picker_requests(p, 3, 0), 0);
	/* a shorter late time */
	bt_picker_set_late_ms(p, 10);
	bt_picker_want(p, 4, 0);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 2000, out, 16), 4);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 2009, out, 16), 0);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 2010, out, 16), 4);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_free(p);
}

static void test_prefetch_dropped(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	/* two handles hold piece 5, one holds 6; a read wants 7 */
	bt_picker_prefetch(p, 5, 500);
	bt_picker_prefetch(p, 5, 400);
	bt_picker_prefetch(p, 6, 600);
	bt_picker_prefetch(p, 7, 700);
	bt_picker_want(p, 7, 0);
	assert_int_equal(bt_picker_want_count(p), 3);
	assert_int_equal(bt_picker_deadline(p, 5), 400);
	assert_int_equal(bt_picker_deadline(p, 7), 0);
	assert_int_equal(bt_picker_deadline(p, 1), -1);
	assert_int_equal(bt_picker_check(p), 0);
	/* one handle seeks away: 5 stays (the other holds it), 6 goes */
	bt_picker_unprefetch(p, 5);
	bt_picker_unprefetch(p, 6);
	assert_true(bt_picker_wanted(p, 5));
	assert_false(bt_picker_wanted(p, 6));
	/* a read's want outlives the read-ahead claims */
	bt_picker_unprefetch(p, 7);
	assert_true(bt_picker_wanted(p, 7));
	/* blocks of a dropped piece already asked for still complete it */
	bt_picker_prefetch(p, 6, 600);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 10, out, 16), 12);
	bt_picker_unprefetch(p, 5);
	bt_picker_unprefetch(p, 6);
	assert_int_equal(bt_picker_want_count(p), 1);
	for (uint32_t b = 0; b < 3; b++)
		assert_int_equal(bt_picker_received(p, 6, b * BT_BLOCK_SIZE, 1),
				 0);
	assert_int_equal(bt_picker_received(p, 6, 3 * BT_BLOCK_SIZE, 1), 1);
	/* without fetch-all nothing but piece 7's rest is picked now */
	bt_picker_abort(p, 5, 0);
	assert_int_equal(bt_picker_pick(p, bf, NULL, NULL, 20, out, 16), 0);
	/* unprefetch of what is not wanted, or of a piece we have: no-op */
	bt_picker_unprefetch(p, 2);
	bt_picker_set_have(p, 7);
	bt_picker_unprefetch(p, 7);
	assert_int_equal(bt_picker_want_count(p), 0);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_free(p);
}

static void test_due_share(void **state)
{
	(void)state;
	uint8_t bf[8];
	struct bt_block out[64];
	/* 16-block pieces */
	struct bt_picker *p = bt_picker_new(40, 16 * BT_BLOCK_SIZE,
					    40ull * 16 * BT_BLOCK_SIZE);
	all_bits(bf, 40);
	bt_picker_want(p, 10, 0);        /* due now */
	bt_picker_prefetch(p, 11, 5000); /* read-ahead */
	/* a peer with a quarter of the rate takes a quarter of the due
	 * piece, then goes on with the read-ahead */
	bt_picker_set_due_share(p, 250);
	size_t n = bt_picker_pick(p, bf, NULL, NULL, 100, out, 8);
	assert_int_equal(n, 8);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(out[i].piece, 10);
	for (size_t i = 4; i < 8; i++)
		assert_int_equal(out[i].piece, 11);
	/* the next peers take the rest of the due piece first */
	n = bt_picker_pick(p, bf, NULL, NULL, 100, out, 4);
	assert_int_equal(n, 4);
	assert_int_equal(out[0].piece, 10);
	assert_int_equal(out[0].begin, 4 * BT_BLOCK_SIZE);
	/* a tiny share still takes two blocks */
	bt_picker_set_due_share(p, 1);
	n = bt_picker_pick(p, bf, NULL, NULL, 100, out, 3);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].piece, 10);
	assert_int_equal(out[1].piece, 10);
	assert_int_equal(out[2].piece, 11);
	/* no cap: one peer may take the whole piece */
	bt_picker_set_due_share(p, 1000);
	bt_picker_want(p, 20, 0);
	n = bt_picker_pick(p, bf, NULL, NULL, 100, out, 64);
	size_t of20 = 0;
	for (size_t i = 0; i < n; i++)
		of20 += out[i].piece == 20;
	assert_int_equal(of20, 16);
	assert_int_equal(bt_picker_check(p), 0);
	bt_picker_free(p);
}

static void test_pick_by_due_time(void **state)
{
	(void)state;
	uint8_t bf[2];
	struct bt_block out[16];
	struct bt_picker *p = bt_picker_new(10, PL, 10ull * PL);
	all_bits(bf, 10);
	bt_picker_want(p, 1, 100);
	bt_picker_prefetch(p, 2, 900);
	bt_picker_set_fetch_all(p, true);
	/* due by 500: piece 1 only, never background pieces */
	size_t n = bt_picker_pick_due(p, bf, NULL, NULL, 500, out, 16);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i].piece, 1);
	/* a slow peer: what is due after 500, then background */
	n = bt_picker_pick_after(p, bf, 500, 500, out, 6);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(out[i].piece, 2);
	assert_true(out[4].piece != 1 && out[4].piece != 2);
	/* the slow peer never gets duplicates of late blocks */
	n = bt_picker_pick_after(p, bf, 0, 5000, out, 16);
	for (size_t i = 0; i < n; i++)
		assert_true(out[i].piece != 1 && out[i].piece != 2);
	assert_int_equal(bt_picker_check(p), 0);
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
		cmocka_unit_test(test_exclusive_and_senders),
		cmocka_unit_test(test_fetch_all_rarest),
		cmocka_unit_test(test_interesting),
		cmocka_unit_test(test_late_duplicates),
		cmocka_unit_test(test_prefetch_dropped),
		cmocka_unit_test(test_due_share),
		cmocka_unit_test(test_pick_by_due_time),
		cmocka_unit_test(test_clear_have),
	};
	return cmocka_run_group_tests_name("picker", tests, NULL, NULL);
}
