/* Unit tests for bt_choker, driven by a fake clock: rate ordering, the 10 s
 * rotation, the 30 s optimistic unchoke, interest, snubbing, seeding (round
 * robin and fastest upload), the bias towards new peers, and the verdicts
 * on incoming requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bt_choker.h"

#define T0   1000000ull /* the fake clock starts here (ms) */
#define MAXP 16

struct swarm {
	struct bt_choker *c;
	struct bt_choker_peer peer[MAXP];
	struct bt_choker_peer *list[MAXP];
	size_t n;
};

/* N interested peers we want pieces from, connected long ago, with
 * download rates 100, 200, ... (peer i uploads (i + 1) * 100 B/s to us). */
static void swarm_init(struct swarm *w, size_t n, uint64_t seed)
{
	struct bt_choker_opts o = {.seed = seed};
	memset(w, 0, sizeof(*w));
	w->c = bt_choker_new(&o);
	assert_non_null(w->c);
	w->n = n;
	for (size_t i = 0; i < n; i++) {
		w->list[i] = &w->peer[i];
		w->peer[i].interested = true;
		w->peer[i].we_interested = true;
		w->peer[i].down_rate = (double)(i + 1) * 100;
		w->peer[i].connected_at = T0 - 600000;
	}
}

static uint64_t run(struct swarm *w, bool seeding, uint64_t now)
{
	return bt_choker_run(w->c, w->list, w->n, seeding, now);
}

static unsigned count(const struct swarm *w, bool optimistic)
{
	unsigned k = 0;
	for (size_t i = 0; i < w->n; i++)
		k += w->list[i]->unchoked &&
		     w->list[i]->optimistic == optimistic;
	return k;
}

static int optimistic_of(const struct swarm *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->list[i]->optimistic) {
			assert_true(w->list[i]->unchoked);
			return (int)(w->list[i] - w->peer);
		}
	return -1;
}

static void test_rate_order(void **state)
{
	(void)state;
	struct swarm w;
	swarm_init(&w, 8, 1);
	uint64_t next = run(&w, false, T0);
	assert_int_equal(next, T0 + BT_CHOKER_RECHOKE_MS);
	/* the four fastest uploaders to us hold the regular slots */
	for (size_t i = 4; i < 8; i++)
		assert_true(w.peer[i].unchoked && !w.peer[i].optimistic);
	assert_int_equal(count(&w, false), 4);
	/* plus one optimistic among the others */
	assert_int_equal(count(&w, true), 1);
	int o = optimistic_of(&w);
	assert_true(o >= 0 && o < 4);
	bt_choker_free(w.c);
}

static void test_rotation_every_10s(void **state)
{
	(void)state;
	struct swarm w;
	swarm_init(&w, 8, 2);
	run(&w, false, T0);
	int o = optimistic_of(&w);
	/* peer 0 becomes the fastest: nothing moves before the rotation */
	w.peer[0].down_rate = 10000;
	if (o == 0) /* keep the test about the regular slots */
		w.peer[1].down_rate = 20000;
	int fast = o == 0 ? 1 : 0;
	run(&w, false, T0 + 5000);
	assert_false(w.peer[fast].unchoked);
	assert_true(w.peer[4].unchoked);
	uint64_t next = run(&w, false, T0 + BT_CHOKER_RECHOKE_MS - 1);
	assert_int_equal(next, T0 + BT_CHOKER_RECHOKE_MS);
	assert_false(w.peer[fast].unchoked);
	/* at 10 s it takes the slot of the slowest regular peer */
	next = run(&w, false, T0 + BT_CHOKER_RECHOKE_MS);
	assert_int_equal(next, T0 + 2 * BT_CHOKER_RECHOKE_MS);
	assert_true(w.peer[fast].unchoked && !w.peer[fast].optimistic);
	assert_false(w.peer[4].unchoked && !w.peer[4].optimistic);
	assert_int_equal(count(&w, false), 4);
	assert_int_equal(count(&w, true), 1);
	bt_choker_free(w.c);
}

static void test_optimistic_every_30s(void **state)
{
	(void)state;
	struct swarm w;
	swarm_init(&w, 8, 3);
	run(&w, false, T0);
	int o = optimistic_of(&w);
	assert_true(o >= 0);
	/* it holds through the 10 s rotations */
	for (uint64_t t = 1000; t < BT_CHOKER_OPTIMISTIC_MS; t += 1000) {
		uint64_t next = run(&w, false, T0 + t);
		assert_true(next <= T0 + BT_CHOKER_OPTIMISTIC_MS);
		assert_int_equal(optimistic_of(&w), o);
	}
	/* and moves to another peer at 30 s */
	uint64_t next = run(&w, false, T0 + BT_CHOKER_OPTIMISTIC_MS);
	int o2 = optimistic_of(&w);
	assert_true(o2 >= 0 && o2 != o);
	assert_false(w.peer[o].unchoked);
	assert_int_equal(next,
			 T0 + BT_CHOKER_OPTIMISTIC_MS + BT_CHOKER_RECHOKE_MS);
	/* over many rotations every slow peer gets its turn */
	bool seen[8] = {false};
	for (int k = 2; k < 60; k++) {
		run(&w, false, T0 + (uint64_t)k * BT_CHOKER_OPTIMISTIC_MS);
		seen[optimistic_of(&w)] = true;
	}
	for (int i = 0; i < 4; i++)
		assert_true(seen[i]);
	/* an optimistic peer that leaves is replaced at once */
	o = optimistic_of(&w);
	w.list[o] = w.list[w.n - 1];
	w.n--;
	run(&w, false, T0 + 60 * BT_CHOKER_OPTIMISTIC_MS + 1);
	assert_int_equal(count(&w, true), 1);
	bt_choker_free(w.c);
}

static void test_interest(void **state)
{
	(void)state;
	struct swarm w;
	swarm_init(&w, 3, 4);
	w.peer[2].interested = false; /* the fastest does not want anything */
	run(&w, false, T0);
	assert_false(w.peer[2].unchoked);
	assert_true(w.peer[0].unchoked && w.peer[1].unchoked);
	/* it becomes interested: a slot is free, so it gets one at once */
	w.peer[2].interested = true;
	run(&w, false, T0 + 1);
	assert_true(w.peer[2].unchoked && !w.peer[2].optimistic);
	/* losing interest chokes at once, between rotations too */
	w.peer[1].interested = false;
	run(&w, false, T0 + 2);
	assert_false(w.peer[1].unchoked);
	/* nobody interested: nobody unchoked */
	for (size_t i = 0; i < 3; i++)
		w.peer[i].interested = false;
	run(&w, false, T0 + BT_CHOKER_OPTIMISTIC_MS);
	assert_int_equal(count(&w, false) + count(&w, true), 0);
	bt_choker_free(w.c);
}

static void test_freed_slot_filled(void **state)
{
	(void)state;
	struct swarm w;
	swarm_init(&w, 8, 5);
	run(&w, false, T0);
	/* the fastest leaves between rotations: the next best fills in */
	w.n = 7;
	run(&w, false, T0 + 3000);
	assert_int_equal(count(&w, false), 4);
	int o = optimistic_of(&w);
	int expect = o == 3 ? 2 : 3;
	assert_true(w.peer[expect].unchoked);
	bt_choker_free(w.c);
}

static void test_snubbed(void **state)
{
	(void)state;
	struct swarm w;
	swarm_init(&w, 6, 6);
	w.peer[5].snubbed = true; /* "fast" by its old average, but snubbing */
	run(&w, false, T0);
	assert_false(w.peer[5].unchoked && !w.peer[5].optimistic);
	for (size_t i = 1; i < 5; i++)
		assert_true(w.peer[i].unchoked);
	/* a regular peer that starts snubbing loses its slot right away */
	w.peer[4].snubbed = true;
	run(&w, false, T0 + 1000);
	assert_false(w.peer[4].unchoked && !w.peer[4].optimistic);
	assert_int_equal(count(&w, false), 4 - (optimistic_of(&w) == 0));
	bt_choker_free(w.c);
	/* a snubbed peer may still get the optimistic slot */
	swarm_init(&w, 5, 7);
	w.peer[0].snubbed = true;
	run(&w, false, T0);
	assert_int_equal(optimistic_of(&w), 0);
	bt_choker_free(w.c);
}

static void test_not_interesting_peer(void **state)
{
	(void)state;
	struct swarm w;
	swarm_init(&w, 6, 8);
	/* while leeching, a peer with nothing we want ranks by our upload
	 * to it */
	w.peer[0].we_interested = false;
	w.peer[0].up_rate = 5000;
	run(&w, false, T0);
	assert_true(w.peer[0].unchoked && !w.peer[0].optimistic);
	assert_false(w.peer[2].unchoked && !w.peer[2].optimistic);
	bt_choker_free(w.c);
}

static void test_seed_round_robin(void **state)
{
	(void)state;
	struct swarm w;
	swarm_init(&w, 10, 9);
	for (size_t i = 0; i < w.n; i++) {
		w.peer[i].we_interested = false;
		w.peer[i].down_rate = 0;
		w.peer[i].up_rate = (double)(i + 1) * 1000;
	}
	unsigned slots[10] = {0};
	for (int k = 0; k < 12; k++) {
		run(&w, true, T0 + (uint64_t)k * BT_CHOKER_RECHOKE_MS);
		assert_int_equal(count(&w, false), 4);
		for (size_t i = 0; i < w.n; i++)
			slots[i] += w.peer[i].unchoked && !w.peer[i].optimistic;
	}
	/* 12 rounds x 4 slots over 10 peers: everyone is served, and
	 * evenly, whatever its rate */
	for (size_t i = 0; i < w.n; i++)
		assert_true(slots[i] >= 3 && slots[i] <= 6);
	bt_choker_free(w.c);
}

static void test_seed_fastest_upload(void **state)
{
	(void)state;
	struct bt_choker_opts o = {.seed_mode = BT_CHOKER_FASTEST_UPLOAD,
				   .slots = 2};
	struct swarm w;
	swarm_init(&w, 5, 10);
	bt_choker_free(w.c);
	w.c = bt_choker_new(&o);
	for (size_t i = 0; i < w.n; i++) {
		w.peer[i].down_rate = 1e6 * (double)(5 - i); /* ignored */
		w.peer[i].up_rate = (double)i * 1000;
	}
	run(&w, true, T0);
	assert_int_equal(count(&w, false), 2);
	assert_true(w.peer[4].unchoked && !w.peer[4].optimistic);
	assert_true(w.peer[3].unchoked && !w.peer[3].optimistic);
	bt_choker_free(w.c);
}

static void test_new_peers_favoured(void **state)
{
	(void)state;
	/* one regular slot held by a fast peer, four candidates for the
	 * optimistic slot, one of them new: 3 / (3 + 1 + 1 + 1) = 1/2 */
	unsigned hits = 0, draws = 0;
	struct bt_choker_opts o = {.slots = 1, .seed = 11};
	struct swarm w;
	swarm_init(&w, 5, 11);
	bt_choker_free(w.c);
	w.c = bt_choker_new(&o);
	w.peer[4].down_rate = 1e6;
	for (int k = 0; k < 2000; k++) {
		uint64_t now = T0 + (uint64_t)k * BT_CHOKER_OPTIMISTIC_MS;
		w.peer[0].connected_at = now - 1000; /* always new */
		run(&w, false, now);
		int opt = optimistic_of(&w);
		assert_true(opt >= 0 && opt < 4);
		draws++;
		hits += opt == 0;
		/* hand the slot back so every draw is from all four */
		w.peer[opt].optimistic = false;
		w.peer[opt].unchoked = false;
	}
	assert_true(hits > draws * 2 / 5 && hits < draws * 3 / 5);
	bt_choker_free(w.c);
}

/* ---- request admission ---- */

static void test_requests(void **state)
{
	(void)state;
	/* 3 pieces of 64 KiB, the last 1000 bytes */
	struct bt_wire_limits lim = {.npieces = 3,
				     .piece_length = 65536,
				     .total_length = 2 * 65536 + 1000};
	struct bt_choker_req ok = {
	    .piece = 1, .begin = 16384, .length = 16384, .have = true};
	struct bt_choker_req r = ok;
	assert_int_equal(bt_choker_check_request(&lim, &r), BT_CHOKER_SERVE);
	r.fast = true;
	assert_int_equal(bt_choker_check_request(&lim, &r), BT_CHOKER_SERVE);

	/* out of bounds or oversized: the peer is broken or hostile */
	struct {
		uint32_t piece, begin, length;
	} bad[] = {
	    {3, 0, 16384}, /* no such piece */
	    {UINT32_MAX, 0, 1},
	    {0, 65536, 1},     /* begins at the end */
	    {0, 49153, 16384}, /* crosses the end */
	    {2, 0, 1001},      /* past the short last piece */
	    {2, 1000, 1},
	    {0, UINT32_MAX, 16384}, /* begin + length overflows 32 bits */
	    {0, 0, 0},		    /* empty */
	    {0, 0, BT_MAX_BLOCK_SIZE + 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ok;
		r.piece = bad[i].piece;
		r.begin = bad[i].begin;
		r.length = bad[i].length;
		assert_int_equal(bt_choker_check_request(&lim, &r),
				 BT_CHOKER_CLOSE);
	}
	/* up to 128 KiB is served (piece length permitting) */
	struct bt_wire_limits big = {
	    .npieces = 2, .piece_length = 1u << 20, .total_length = 2u << 20};
	r = ok;
	r.length = BT_MAX_BLOCK_SIZE;
	assert_int_equal(bt_choker_check_request(&big, &r), BT_CHOKER_SERVE);
	r = ok;
	r.piece = 2;
	r.begin = 0;
	r.length = 1000; /* the whole short last piece */
	assert_int_equal(bt_choker_check_request(&lim, &r), BT_CHOKER_SERVE);

	/* refusals: rejected with the fast extension; without it, ignored
	 * while choked (the peer knows) and else answered by a choke and
	 * unchoke, never dropped in silence */
	for (int fast = 0; fast < 2; fast++) {
		enum bt_choker_verdict no =
		    fast ? BT_CHOKER_REJECT : BT_CHOKER_RESET;
		r = ok;
		r.fast = fast;
		r.choked = true;
		assert_int_equal(bt_choker_check_request(&lim, &r),
				 fast ? BT_CHOKER_REJECT : BT_CHOKER_IGNORE);
		r = ok;
		r.fast = fast;
		r.have = false;
		assert_int_equal(bt_choker_check_request(&lim, &r), no);
		r = ok;
		r.fast = fast;
		r.queued = BT_CHOKER_MAX_QUEUE - 1;
		assert_int_equal(bt_choker_check_request(&lim, &r),
				 BT_CHOKER_SERVE);
		r.queued = BT_CHOKER_MAX_QUEUE;
		assert_int_equal(bt_choker_check_request(&lim, &r), no);
		r = ok;
		r.fast = fast;
		r.duplicate = true;
		assert_int_equal(bt_choker_check_request(&lim, &r),
				 BT_CHOKER_IGNORE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rate_order),
	    cmocka_unit_test(test_rotation_every_10s),
	    cmocka_unit_test(test_optimistic_every_30s),
	    cmocka_unit_test(test_interest),
	    cmocka_unit_test(test_freed_slot_filled),
	    cmocka_unit_test(test_snubbed),
	    cmocka_unit_test(test_not_interesting_peer),
	    cmocka_unit_test(test_seed_round_robin),
	    cmocka_unit_test(test_seed_fastest_upload),
	    cmocka_unit_test(test_new_peers_favoured),
	    cmocka_unit_test(test_requests),
	};
	return cmocka_run_group_tests_name("choker", tests, NULL, NULL);
}
