/* Unit tests for bt_pexstate: the first message at once, then at most one
 * a minute; diffs (added = live - told, dropped = told - live) capped at
 * 50 each and the rest sent in later minutes; the peer itself never sent
 * back; no message when nothing changed; the told set bounded; incoming
 * messages too soon ignored, floods capped per message and per
 * connection, malformed or repeatedly early peers judged misbehaving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_pexstate.h"

#define MIN 60000u

static struct bt_pex_peer peer(int i)
{
	struct bt_pex_peer p = {.flags = BT_PEX_F_REACHABLE};
	uint8_t ip[4] = {10, (uint8_t)(i >> 8), (uint8_t)i, 1};
	assert_int_equal(bt_addr_set(&p.addr, ip, 4, (uint16_t)(1000 + i)), 0);
	return p;
}

static struct bt_pex_msg got;

/* Build at NOW; returns 1 and decodes into GOT when a message came. */
static int build(struct bt_pexstate *ps, const struct bt_pex_peer *live,
		 size_t n, const struct bt_addr *ex, uint64_t now)
{
	struct bt_benc b;
	bt_benc_init(&b);
	int rc = bt_pexstate_build(ps, live, n, ex, now, &b);
	assert_true(rc >= 0);
	if (rc == 1)
		assert_int_equal(bt_pex_parse(b.buf, b.len, &got, NULL, 0), 0);
	else
		assert_int_equal(b.len, 0);
	bt_benc_release(&b);
	return rc;
}

static void test_send(void **state)
{
	(void)state;
	struct bt_pexstate ps;
	assert_int_equal(bt_pexstate_init(&ps, 1000), 0);
	assert_int_equal(bt_pexstate_deadline(&ps), 1000);
	struct bt_pex_peer live[120];
	for (int i = 0; i < 120; i++)
		live[i] = peer(i);
	struct bt_addr self = live[0].addr;

	/* not yet due */
	assert_int_equal(build(&ps, live, 120, &self, 999), 0);
	/* first: 50 added, the peer itself left out */
	assert_int_equal(build(&ps, live, 120, &self, 1000), 1);
	assert_int_equal(got.nadded, 50);
	assert_int_equal(got.ndropped, 0);
	assert_true(bt_addr_equal(&got.added[0].addr, &live[1].addr));
	assert_int_equal(got.added[0].flags, BT_PEX_F_REACHABLE);
	assert_int_equal(bt_pexstate_deadline(&ps), 1000 + MIN);
	/* within the minute: nothing, whatever changes */
	assert_int_equal(build(&ps, live, 120, &self, 1000 + MIN - 1), 0);
	/* next minutes: the next 50, then the last 19 */
	assert_int_equal(build(&ps, live, 120, &self, 1000 + MIN), 1);
	assert_int_equal(got.nadded, 50);
	assert_true(bt_addr_equal(&got.added[0].addr, &live[51].addr));
	assert_int_equal(build(&ps, live, 120, &self, 1000 + 2 * MIN), 1);
	assert_int_equal(got.nadded, 19);
	/* no change: no message */
	assert_int_equal(build(&ps, live, 120, &self, 1000 + 3 * MIN), 0);
	/* 59 of the 119 told leave and 3 come: 50 dropped this minute, 9
	 * the next */
	struct bt_pex_peer live2[63];
	memcpy(live2, live + 60, 60 * sizeof(live2[0]));
	for (int i = 0; i < 3; i++)
		live2[60 + i] = peer(500 + i);
	assert_int_equal(build(&ps, live2, 63, &self, 1000 + 4 * MIN), 1);
	assert_int_equal(got.ndropped, 50);
	assert_int_equal(got.nadded, 3);
	assert_int_equal(build(&ps, live2, 63, &self, 1000 + 5 * MIN), 1);
	assert_int_equal(got.ndropped, 9); /* peer 0 was never told */
	assert_int_equal(got.nadded, 0);
	assert_int_equal(build(&ps, live2, 63, &self, 1000 + 6 * MIN), 0);
	/* everyone gone */
	assert_int_equal(build(&ps, NULL, 0, NULL, 1000 + 7 * MIN), 1);
	assert_int_equal(got.ndropped, 50);
	assert_int_equal(build(&ps, NULL, 0, NULL, 1000 + 8 * MIN), 1);
	assert_int_equal(got.ndropped, 13);
	assert_int_equal(ps.ntold, 0);
	bt_pexstate_release(&ps);
}

static void test_told_bounded(void **state)
{
	(void)state;
	struct bt_pexstate ps;
	assert_int_equal(bt_pexstate_init(&ps, 0), 0);
	size_t n = 1000;
	struct bt_pex_peer *live = malloc(n * sizeof(*live));
	assert_non_null(live);
	for (size_t i = 0; i < n; i++)
		live[i] = peer((int)i);
	uint64_t now = 0;
	size_t total = 0;
	for (int k = 0; k < 10; k++, now += MIN)
		if (build(&ps, live, n, NULL, now))
			total += got.nadded;
	assert_int_equal(total, BT_PEXSTATE_MAX_TOLD);
	assert_int_equal(ps.ntold, BT_PEXSTATE_MAX_TOLD);
	/* duplicates and bad families in LIVE are not sent */
	bt_pexstate_release(&ps);
	assert_int_equal(bt_pexstate_init(&ps, 0), 0);
	live[1] = live[0];
	memset(&live[2].addr, 0, sizeof(live[2].addr));
	assert_int_equal(build(&ps, live, 4, NULL, 0), 1);
	assert_int_equal(got.nadded, 2);
	bt_pexstate_release(&ps);
	free(live);
}

/* An incoming message of N added peers starting at FIRST. */
static int in(struct bt_pexstate *ps, int first, int n, uint64_t now,
	      struct bt_pex_msg *m)
{
	uint8_t *c = malloc((size_t)n * 6 + 1);
	assert_non_null(c);
	for (int i = 0; i < n; i++) {
		struct bt_pex_peer p = peer(first + i);
		bt_addr_compact(&p.addr, c + 6 * i);
	}
	struct bt_benc b;
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "added");
	bt_benc_str(&b, c, (size_t)n * 6);
	bt_benc_end(&b);
	int rc = bt_pexstate_on_msg(ps, b.buf, b.len, now, m, NULL, 0);
	bt_benc_release(&b);
	free(c);
	return rc;
}

static void test_receive(void **state)
{
	(void)state;
	static struct bt_pex_msg m;
	struct bt_pexstate ps;
	assert_int_equal(bt_pexstate_init(&ps, 0), 0);
	/* the first message may be a full list: 100 kept */
	assert_int_equal(in(&ps, 0, 150, 0, &m), 0);
	assert_int_equal(m.nadded, BT_PEX_MAX_PARSE);
	/* too soon: ignored, a violation */
	assert_int_equal(in(&ps, 200, 10, BT_PEXSTATE_MIN_GAP_MS - 1, &m), 1);
	assert_int_equal(m.nadded, 0);
	assert_false(bt_pexstate_misbehaving(&ps));
	/* later ones: 50 kept */
	uint64_t now = BT_PEXSTATE_MIN_GAP_MS;
	assert_int_equal(in(&ps, 300, 80, now, &m), 0);
	assert_int_equal(m.nadded, BT_PEX_MAX_PER_MSG);
	/* over the connection's budget: what is left, then nothing */
	int learned = BT_PEX_MAX_PARSE + BT_PEX_MAX_PER_MSG, k = 0;
	while (learned < (int)BT_PEXSTATE_MAX_LEARN) {
		now += MIN;
		assert_int_equal(in(&ps, 1000 + 50 * k++, 50, now, &m), 0);
		learned += (int)m.nadded;
	}
	assert_int_equal(learned, BT_PEXSTATE_MAX_LEARN);
	now += MIN;
	assert_int_equal(in(&ps, 5000, 50, now, &m), 1);
	assert_int_equal(m.nadded, 0);
	assert_false(bt_pexstate_misbehaving(&ps));
	/* two more early messages: three violations, misbehaving */
	assert_int_equal(in(&ps, 0, 1, now + 1, &m), 1);
	assert_int_equal(in(&ps, 0, 1, now + 2, &m), 1);
	assert_true(bt_pexstate_misbehaving(&ps));
	bt_pexstate_release(&ps);

	/* a flood in one message is a violation too; malformed is at once */
	assert_int_equal(bt_pexstate_init(&ps, 0), 0);
	assert_int_equal(in(&ps, 0, BT_PEXSTATE_FLOOD_ADDED + 1, 0, &m), 0);
	assert_int_equal(ps.violations, 1);
	char err[100];
	assert_int_equal(bt_pexstate_on_msg(&ps,
					    (const uint8_t *)"d5:added1:xe", 12,
					    MIN, &m, err, sizeof(err)),
			 -EPROTO);
	assert_true(bt_pexstate_misbehaving(&ps));
	bt_pexstate_release(&ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_send),
	    cmocka_unit_test(test_told_bounded),
	    cmocka_unit_test(test_receive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
