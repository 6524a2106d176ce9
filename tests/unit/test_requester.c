/* Unit tests for bt_requester, driven by hand-picked `now` values: pipeline
 * depth from the rate, no requests to a choking, unready or snubbed peer,
 * a peer's own queue limit (reqq) respected, blocks recognised as ours or
 * not, rejects and chokes giving requests back,
 * preemption for a due piece, slow peers kept off due blocks (and robbed of
 * them), due blocks spread over peers, late blocks asked of a second peer
 * and the loser cancelled, and snub detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bt_bitfield.h"
#include "bt_requester.h"
#include "bt_wire.h"

#define NPIECES 64
#define PIECE_LEN (256u * 1024) /* 16 blocks */
#define NBLK (PIECE_LEN / BT_BLOCK_SIZE)

struct world {
	struct bt_picker *pk;
	struct bt_requester *rq;
	uint8_t all[(NPIECES + 7) / 8];
	struct bt_rq_peer p[3];
	struct bt_rq_action act[BT_RQ_MAX_ACTIONS];
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	w->pk = bt_picker_new(NPIECES, PIECE_LEN, (uint64_t)NPIECES * PIECE_LEN);
	w->rq = bt_requester_new(w->pk, NULL);
	bt_bitfield_fill(w->all, NPIECES);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bt_rq_peer_init(w->rq, &w->p[i], (uint32_t)i + 1, 0),
				 0);
		w->p[i].have = w->all;
		w->p[i].ready = true;
		bt_picker_avail_add(w->pk, w->all);
	}
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	for (int i = 0; i < 3; i++)
		bt_rq_peer_release(w->rq, &w->p[i]);
	assert_int_equal(bt_picker_check(w->pk), 0);
	bt_requester_free(w->rq);
	bt_picker_free(w->pk);
	free(w);
	return 0;
}

static void rank(struct world *w, size_t n)
{
	struct bt_rq_peer *v[3] = {&w->p[0], &w->p[1], &w->p[2]};
	bt_requester_rank(w->rq, v, n);
}

static size_t count(const struct bt_rq_action *a, size_t n, int type)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += a[i].type == (enum bt_rq_act_type)type;
	return c;
}

static void want_all(struct world *w, uint64_t deadline)
{
	for (uint32_t i = 0; i < NPIECES; i++)
		bt_picker_want(w->pk, i, deadline + i);
}

static void test_depth_and_gates(void **state)
{
	struct world *w = *state;
	struct bt_rq_peer *p = &w->p[0];
	want_all(w, 100000); /* due later: nothing is preempted */
	rank(w, 1);
	/* not ready or choked: nothing */
	p->choked = true;
	assert_int_equal(bt_requester_fill(w->rq, p, 0, w->act), 0);
	p->choked = false;
	p->ready = false;
	assert_int_equal(bt_requester_fill(w->rq, p, 0, w->act), 0);
	p->ready = true;
	/* rate unknown: the minimum depth */
	size_t n = bt_requester_fill(w->rq, p, 0, w->act);
	assert_int_equal(n, BT_RQ_PIPELINE_MIN);
	assert_int_equal(count(w->act, n, BT_RQ_REQUEST), n);
	assert_int_equal(p->nout, n);
	assert_int_equal(w->act[0].b.piece, 0); /* earliest deadline first */
	assert_int_equal(bt_requester_fill(w->rq, p, 0, w->act), 0); /* full */
	/* 10 MB/s: 16 + 10e6 * 0.1 / 16384 = 77 blocks */
	p->down_rate = 10e6;
	n = bt_requester_fill(w->rq, p, 0, w->act);
	assert_int_equal(p->nout, 77);
	/* capped at BT_RQ_MAX_OUT */
	p->down_rate = 1e9;
	bt_requester_fill(w->rq, p, 0, w->act);
	assert_int_equal(p->nout, BT_RQ_MAX_OUT);
	assert_int_equal(bt_picker_check(w->pk), 0);
}

/* A peer that queues fewer requests than we would send (its BEP 10 reqq)
 * is never asked for more, not even for a due piece. */
static void test_peer_limit(void **state)
{
	struct world *w = *state;
	struct bt_rq_peer *p = &w->p[0];
	want_all(w, 100000);
	rank(w, 1);
	p->limit = 40;
	p->down_rate = 1e9;
	bt_requester_fill(w->rq, p, 0, w->act);
	assert_int_equal(p->nout, 40);
	assert_int_equal(bt_requester_fill(w->rq, p, 0, w->act), 0);
	/* a piece due now: no preemption past the limit either */
	bt_picker_want(w->pk, NPIECES - 1, 0);
	bt_requester_fill(w->rq, p, 1, w->act);
	assert_true(p->nout <= 40);
	/* a limit above ours changes nothing */
	p->limit = 100000;
	bt_requester_fill(w->rq, p, 1, w->act);
	assert_int_equal(p->nout, BT_RQ_MAX_OUT);
	assert_int_equal(bt_picker_check(w->pk), 0);
}

static void test_got_reject_choke(void **state)
{
	struct world *w = *state;
	struct bt_rq_peer *p = &w->p[0];
	want_all(w, 100000);
	rank(w, 1);
	size_t n = bt_requester_fill(w->rq, p, 0, w->act);
	struct bt_block b0 = w->act[0].b, b1 = w->act[1].b;
	/* ours: taken off the list; the same again, or another length, not */
	assert_int_equal(bt_requester_got(w->rq, p, b0.piece, b0.begin,
					  b0.length, 5),
			 BT_RQ_ASKED);
	assert_int_equal(p->last_block, 5);
	bt_picker_received(w->pk, b0.piece, b0.begin, p->id);
	assert_int_equal(bt_requester_got(w->rq, p, b0.piece, b0.begin,
					  b0.length, 6),
			 BT_RQ_UNASKED);
	assert_int_equal(bt_requester_got(w->rq, p, b1.piece, b1.begin, 1, 6),
			 BT_RQ_UNASKED);
	assert_int_equal(bt_requester_got(w->rq, p, 60, 0, BT_BLOCK_SIZE, 6),
			 BT_RQ_UNASKED);
	assert_int_equal(p->nout, n - 1);
	/* a reject gives the block back to the picker */
	assert_int_equal(bt_picker_requests(w->pk, b1.piece, b1.begin), 1);
	bt_requester_rejected(w->rq, p, b1.piece, b1.begin, b1.length);
	assert_int_equal(bt_picker_requests(w->pk, b1.piece, b1.begin), 0);
	assert_int_equal(p->nout, n - 2);
	/* a choke gives everything back */
	struct bt_rq_out still = p->out[0];
	bt_requester_choked(w->rq, p);
	assert_int_equal(p->nout, 0);
	/* a block that crossed the choke is as good as asked, once */
	assert_int_equal(bt_requester_got(w->rq, p, still.piece, still.begin,
					  still.length, 7),
			 BT_RQ_LATE);
	assert_int_equal(bt_requester_got(w->rq, p, still.piece, still.begin,
					  still.length, 7),
			 BT_RQ_UNASKED);
	/* so is the rejected one (a reject may cross the block) */
	assert_int_equal(bt_requester_got(w->rq, p, b1.piece, b1.begin,
					  b1.length, 7),
			 BT_RQ_LATE);
	for (uint32_t b = 0; b < NBLK; b++)
		assert_int_equal(bt_picker_requests(w->pk, 0, b * BT_BLOCK_SIZE),
				 0);
	assert_int_equal(bt_picker_check(w->pk), 0);
}

static void test_preempt_for_due(void **state)
{
	struct world *w = *state;
	struct bt_rq_peer *p = &w->p[0];
	/* read-ahead of pieces 0..9, due in 10 s: the pipeline fills */
	for (uint32_t i = 0; i < 10; i++)
		bt_picker_prefetch(w->pk, i, 10000);
	rank(w, 1);
	assert_int_equal(bt_requester_fill(w->rq, p, 0, w->act),
			 BT_RQ_PIPELINE_MIN);
	/* a read wants piece 40 now: the newest read-ahead requests make
	 * room for its blocks */
	bt_picker_want(w->pk, 40, 50);
	size_t n = bt_requester_fill(w->rq, p, 100, w->act);
	assert_int_equal(count(w->act, n, BT_RQ_CANCEL), NBLK);
	assert_int_equal(count(w->act, n, BT_RQ_REQUEST), NBLK);
	for (size_t i = 0; i < n; i++)
		if (w->act[i].type == BT_RQ_REQUEST)
			assert_int_equal(w->act[i].b.piece, 40);
		else
			assert_int_equal(w->act[i].b.piece, 0); /* the newest */
	assert_int_equal(p->nout, BT_RQ_PIPELINE_MIN);
	/* nothing more is due: no churn */
	assert_int_equal(bt_requester_fill(w->rq, p, 200, w->act), 0);
	assert_int_equal(bt_picker_check(w->pk), 0);
}

static void test_slow_peer(void **state)
{
	struct world *w = *state;
	struct bt_rq_peer *fast = &w->p[0], *slow = &w->p[1];
	fast->down_rate = 8e6;
	slow->down_rate = 1e5; /* 80 times slower */
	rank(w, 2);
	assert_true(slow->slow);
	assert_false(fast->slow);
	/* due now: the slow peer gets none of it, only later pieces */
	bt_picker_want(w->pk, 3, 0);
	bt_picker_want(w->pk, 9, 100000);
	size_t n = bt_requester_fill(w->rq, slow, 10, w->act);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(w->act[i].b.piece, 9);
	/* the slow peer's blocks of a piece that became due are stolen */
	bt_picker_want(w->pk, 9, 20); /* earlier: due at 20 */
	n = bt_requester_steal_due(w->rq, slow, 30, w->act);
	assert_true(n > 0);
	assert_int_equal(count(w->act, n, BT_RQ_CANCEL), n);
	assert_int_equal(slow->nout, 0);
	/* a fast peer is never robbed */
	bt_requester_fill(w->rq, fast, 30, w->act);
	assert_int_equal(bt_requester_steal_due(w->rq, fast, 30, w->act), 0);
	assert_int_equal(bt_picker_check(w->pk), 0);
}

static void test_due_share_and_late(void **state)
{
	struct world *w = *state;
	struct bt_rq_peer *a = &w->p[0], *b = &w->p[1];
	a->down_rate = b->down_rate = 4e6;
	rank(w, 2);
	/* one due piece of 16 blocks, two equal peers: each takes a little
	 * over half (0.5 x 1.25 = 62.5 %: 10 blocks), not all */
	bt_picker_want(w->pk, 7, 0);
	size_t n = bt_requester_fill(w->rq, a, 10, w->act);
	size_t on7 = 0;
	for (size_t i = 0; i < n; i++)
		on7 += w->act[i].b.piece == 7;
	assert_int_equal(on7, 10);
	n = bt_requester_fill(w->rq, b, 10, w->act);
	on7 = 0;
	for (size_t i = 0; i < n; i++)
		on7 += w->act[i].b.piece == 7;
	assert_int_equal(on7, NBLK - 10);
	/* a's first block is late: b asks for it too once it is older than
	 * the picker's late time */
	struct bt_rq_action first = {0};
	for (size_t i = 0; i < a->nout; i++)
		if (a->out[i].piece == 7 && a->out[i].begin == 0)
			first.b = (struct bt_block){7, 0, a->out[i].length};
	assert_int_equal(first.b.length, BT_BLOCK_SIZE);
	for (size_t i = b->nout; i-- > 0;) /* b answered all its own */
		bt_requester_got(w->rq, b, b->out[i].piece, b->out[i].begin,
				 b->out[i].length, 20);
	n = bt_requester_fill(w->rq, b, 10 + BT_PICKER_LATE_MS, w->act);
	assert_true(bt_requester_queued(b, 7, 0));
	assert_int_equal(bt_picker_requests(w->pk, 7, 0), 2);
	/* a delivers it: b's duplicate is cancelled */
	assert_int_equal(bt_requester_got(w->rq, a, 7, 0, BT_BLOCK_SIZE, 200),
			 BT_RQ_ASKED);
	bt_picker_received(w->pk, 7, 0, a->id);
	struct bt_rq_action c;
	assert_true(bt_requester_cancel(w->rq, b, 7, 0, &c));
	assert_int_equal(c.type, BT_RQ_CANCEL);
	assert_int_equal(c.b.piece, 7);
	assert_false(bt_requester_queued(b, 7, 0));
	assert_false(bt_requester_cancel(w->rq, b, 7, 0, &c));
	assert_int_equal(bt_picker_check(w->pk), 0);
}

static void test_snub(void **state)
{
	struct world *w = *state;
	struct bt_rq_peer *p = &w->p[0];
	want_all(w, 100000);
	rank(w, 1);
	assert_int_equal(bt_requester_snub_deadline(w->rq, p), UINT64_MAX);
	size_t n = bt_requester_fill(w->rq, p, 1000, w->act);
	uint64_t d = bt_requester_snub_deadline(w->rq, p);
	assert_int_equal(d, 1000 + BT_RQ_SNUB_MS + 1);
	assert_false(bt_requester_check_snub(w->rq, p, d - 1));
	/* a block pushes the deadline back */
	struct bt_block b = w->act[0].b;
	assert_int_equal(bt_requester_got(w->rq, p, b.piece, b.begin, b.length,
					  5000),
			 BT_RQ_ASKED);
	assert_int_equal(bt_requester_snub_deadline(w->rq, p),
			 5000 + BT_RQ_SNUB_MS + 1);
	assert_false(bt_requester_check_snub(w->rq, p, d));
	uint64_t now = 5000 + BT_RQ_SNUB_MS + 1;
	assert_true(bt_requester_check_snub(w->rq, p, now));
	assert_int_equal(p->nout, 0);
	assert_int_equal(bt_picker_requests(w->pk, w->act[1].b.piece,
					    w->act[1].b.begin),
			 0);
	/* no requests while snubbed; then again */
	assert_int_equal(bt_requester_fill(w->rq, p, now + 1, w->act), 0);
	n = bt_requester_fill(w->rq, p, now + BT_RQ_SNUB_MS, w->act);
	assert_true(n > 0);
	assert_int_equal(bt_picker_check(w->pk), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_depth_and_gates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peer_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_got_reject_choke, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_preempt_for_due, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_slow_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_share_and_late, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snub, setup, teardown),
	};
	return cmocka_run_group_tests_name("requester", tests, NULL, NULL);
}
