/* Unit tests for bt_blame: a sole sender of a bad piece is guilty; with
 * several, nobody is until the piece verifies, and then exactly those whose
 * blocks differ from the good ones are (an honest peer that shared the
 * piece with a liar is not, however often); records are bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bt_blame.h"

#define NB 8

static struct bt_blame_sender who(uint32_t id, uint64_t sig)
{
	struct bt_blame_sender s = {.peer_id = id, .sig = sig};
	bt_addr_set(&s.addr, (const uint8_t[]){10, 0, 0, (uint8_t)id}, 4,
		    6881);
	return s;
}

static void test_sole_sender(void **state)
{
	(void)state;
	struct bt_blame *bl = bt_blame_new();
	struct bt_blame_sender b[NB], g;
	for (int i = 0; i < NB; i++)
		b[i] = who(7, (uint64_t)i);
	assert_true(bt_blame_failed(bl, 3, NB, b, &g));
	assert_int_equal(g.peer_id, 7);
	assert_false(bt_blame_pending(bl, 3)); /* nothing left to tell */
	bt_blame_free(bl);
}

static void test_evidence(void **state)
{
	(void)state;
	struct bt_blame *bl = bt_blame_new();
	uint64_t good[NB];
	for (int i = 0; i < NB; i++)
		good[i] = 1000 + (uint64_t)i;
	/* honest 1 and liar 2 share the piece: nobody guilty yet */
	struct bt_blame_sender b[NB], g;
	for (int i = 0; i < NB; i++)
		b[i] = i % 2 ? who(2, 66) : who(1, good[i]);
	assert_false(bt_blame_failed(bl, 5, NB, b, &g));
	assert_true(bt_blame_pending(bl, 5));
	/* again, with honest 3 too */
	for (int i = 0; i < NB; i++)
		b[i] = i == 0 ? who(2, 77) : who(i % 2 ? 3 : 1, good[i]);
	assert_false(bt_blame_failed(bl, 5, NB, b, &g));
	/* it verifies (from one peer): only 2 sent bad blocks */
	struct bt_blame_sender out[4];
	assert_int_equal(bt_blame_passed(bl, 5, NB, good, out, 4), 1);
	assert_int_equal(out[0].peer_id, 2);
	assert_int_equal(out[0].addr.ip[3], 2);
	assert_false(bt_blame_pending(bl, 5));
	assert_int_equal(bt_blame_passed(bl, 5, NB, good, out, 4), 0);
	/* a wrongly suspected peer: the failure was another's, so none of
	 * its blocks differ and it walks free */
	for (int i = 0; i < NB; i++)
		b[i] = who(i < NB - 1 ? 1 : 4, i < NB - 1 ? good[i] : 5);
	assert_false(bt_blame_failed(bl, 9, NB, b, &g));
	assert_int_equal(bt_blame_passed(bl, 9, NB, good, out, 4), 1);
	assert_int_equal(out[0].peer_id, 4);
	bt_blame_free(bl);
}

static void test_bounded(void **state)
{
	(void)state;
	struct bt_blame *bl = bt_blame_new();
	struct bt_blame_sender b[NB], g;
	for (int i = 0; i < NB; i++)
		b[i] = who((uint32_t)(1 + i % 2), 1);
	for (uint32_t piece = 0; piece < 3 * BT_BLAME_PIECES; piece++)
		for (int k = 0; k < 3 * BT_BLAME_ATTEMPTS; k++)
			assert_false(bt_blame_failed(bl, piece, NB, b, &g));
	/* the oldest records went */
	assert_false(bt_blame_pending(bl, 0));
	assert_true(bt_blame_pending(bl, 3 * BT_BLAME_PIECES - 1));
	size_t on = 0;
	for (uint32_t piece = 0; piece < 3 * BT_BLAME_PIECES; piece++)
		on += bt_blame_pending(bl, piece);
	assert_int_equal(on, BT_BLAME_PIECES);
	/* a record of another block count is not compared */
	uint64_t good[4] = {0};
	struct bt_blame_sender out[4];
	assert_int_equal(bt_blame_passed(bl, 3 * BT_BLAME_PIECES - 1, 4, good,
					 out, 4),
			 0);
	bt_blame_free(bl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sole_sender),
		cmocka_unit_test(test_evidence),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests_name("blame", tests, NULL, NULL);
}
