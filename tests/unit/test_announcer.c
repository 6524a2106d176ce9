/* Unit tests for bt_announcer, the per-torrent announce policy, against
 * the wording of BEP 12 (tiers: shuffled once, tried in order, the one that
 * answered moved to the front, the next tier only after the whole tier
 * failed; its three examples) and BEP 3 (started / completed / stopped,
 * interval), plus min interval, back-off, hostile intervals, numwant,
 * schemes, and the per-tracker state behind `p2pfs status`. The clock is
 * the test's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_announcer.h"

static struct bt_announcer *make(uint64_t seed)
{
	struct bt_announcer_cfg cfg;
	bt_announcer_defaults(&cfg);
	cfg.seed = seed;
	struct bt_announcer *an = bt_announcer_new(&cfg);
	assert_non_null(an);
	return an;
}

/* The one action due at NOW (fails if none, or more than one). */
static struct bt_announcer_action next1(struct bt_announcer *an, uint64_t now)
{
	struct bt_announcer_action a;
	assert_true(bt_announcer_next(an, now, &a));
	struct bt_announcer_action b;
	assert_false(bt_announcer_next(an, now, &b));
	return a;
}

static void none_due(struct bt_announcer *an, uint64_t now)
{
	struct bt_announcer_action a;
	assert_false(bt_announcer_next(an, now, &a));
}

static void ok(struct bt_announcer *an, const struct bt_announcer_action *a,
	       uint32_t interval, size_t npeers, uint64_t now)
{
	struct bt_tracker_reply r;
	memset(&r, 0, sizeof(r));
	r.interval = interval;
	r.complete = 3;
	r.incomplete = 4;
	r.npeers = npeers;
	assert_int_equal(bt_announcer_result(an, a->id, 0, NULL, &r, now), 0);
}

static void fail_with(struct bt_announcer *an,
		      const struct bt_announcer_action *a, int err,
		      const char *why, uint64_t now)
{
	assert_int_equal(bt_announcer_result(an, a->id, err, why, NULL, now),
			 0);
}

static void refused(struct bt_announcer *an,
		    const struct bt_announcer_action *a, const char *reason,
		    uint64_t now)
{
	struct bt_tracker_reply r;
	memset(&r, 0, sizeof(r));
	r.interval = 1800;
	r.failure = (char *)reason;
	assert_int_equal(bt_announcer_result(an, a->id, 0, NULL, &r, now), 0);
}

/* BEP 12: "d['announce-list'] = [ [tracker1], [backup1], [backup2] ]. On
 * each announce, first try tracker1, then if that cannot be reached, try
 * backup1 and backup2 respectively. On the next announce, repeat in the
 * same order." */
static void test_bep12_example1(void **state)
{
	(void)state;
	struct bt_announcer *an = make(1);
	assert_int_equal(bt_announcer_add(an, "http://tracker1/a", 0), 0);
	assert_int_equal(bt_announcer_add(an, "http://backup1/a", 1), 1);
	assert_int_equal(bt_announcer_add(an, "udp://backup2:80", 2), 2);
	none_due(an, 0); /* nothing before start */
	assert_int_equal(bt_announcer_start(an, false, 1000), 0);
	assert_int_equal(bt_announcer_start(an, false, 1000), -EALREADY);
	assert_true(bt_announcer_deadline(an) == 1000);

	uint64_t t = 1000;
	for (int round = 0; round < 2; round++) {
		struct bt_announcer_action a = next1(an, t);
		assert_string_equal(a.url, "http://tracker1/a");
		assert_int_equal(a.kind, BT_ANNOUNCER_HTTP);
		/* one at a time: nothing more while it is in flight */
		assert_true(bt_announcer_deadline(an) == UINT64_MAX);
		fail_with(an, &a, -ECONNREFUSED, NULL, t + 1);
		a = next1(an, t + 1);
		assert_string_equal(a.url, "http://backup1/a");
		fail_with(an, &a, -ETIMEDOUT, "timed out", t + 2);
		a = next1(an, t + 2);
		assert_string_equal(a.url, "udp://backup2:80");
		assert_int_equal(a.kind, BT_ANNOUNCER_UDP);
		/* every tracker gets `started` until it acknowledged one */
		assert_int_equal(a.event, round == 0 ? BT_EVENT_STARTED
						     : BT_EVENT_NONE);
		ok(an, &a, 1800, 5, t + 3);
		assert_true(bt_announcer_deadline(an) == t + 3 + 1800000);
		none_due(an, t + 3 + 1799999);
		t += 3 + 1800000;
	}
	/* the third announce starts with tracker1 again */
	struct bt_announcer_action a = next1(an, t);
	assert_string_equal(a.url, "http://tracker1/a");
	assert_int_equal(a.event, BT_EVENT_STARTED);
	bt_announcer_free(an);
}

/* BEP 12: "d['announce-list'] = [[ tracker1, tracker2 ]]. On each
 * announce, try them in a random order. [...] if tracker2 is successful,
 * [[tracker2, tracker1]]. From then on, this is the order the client tries
 * them." (And the tier is shuffled once, when first read.) */
static void test_bep12_example2(void **state)
{
	(void)state;
	int first_is_1 = 0, first_is_2 = 0;
	for (uint64_t seed = 1; seed <= 64; seed++) {
		struct bt_announcer *an = make(seed);
		bt_announcer_add(an, "http://tracker1/", 0);
		bt_announcer_add(an, "http://tracker2/", 0);
		bt_announcer_start(an, false, 0);
		struct bt_announcer_action a = next1(an, 0);
		if (!strcmp(a.url, "http://tracker1/"))
			first_is_1++;
		else
			first_is_2++;
		bt_announcer_free(an);
	}
	/* a random order: both happen, roughly evenly */
	assert_true(first_is_1 >= 16 && first_is_2 >= 16);

	/* find a seed that puts tracker1 first, then let tracker2 answer */
	struct bt_announcer *an = NULL;
	for (uint64_t seed = 1;; seed++) {
		an = make(seed);
		bt_announcer_add(an, "http://tracker1/", 0);
		bt_announcer_add(an, "http://tracker2/", 0);
		bt_announcer_start(an, false, 0);
		struct bt_announcer_action a;
		assert_true(bt_announcer_next(an, 0, &a));
		if (!strcmp(a.url, "http://tracker1/")) {
			fail_with(an, &a, -ECONNREFUSED, NULL, 1);
			break;
		}
		bt_announcer_free(an);
	}
	struct bt_announcer_info i1, i2;
	bt_announcer_info(an, 0, &i1);
	bt_announcer_info(an, 1, &i2);
	assert_int_equal(i1.position, 0);
	assert_int_equal(i2.position, 1);
	struct bt_announcer_action a = next1(an, 1);
	assert_string_equal(a.url, "http://tracker2/");
	ok(an, &a, 60, 1, 2);
	bt_announcer_info(an, 0, &i1);
	bt_announcer_info(an, 1, &i2);
	assert_int_equal(i2.position, 0); /* moved to the front */
	assert_int_equal(i1.position, 1);
	/* from then on tracker2 first, round after round */
	uint64_t t = 2;
	for (int round = 0; round < 5; round++) {
		t += 60000;
		a = next1(an, t);
		assert_string_equal(a.url, "http://tracker2/");
		ok(an, &a, 60, 1, t);
	}
	/* tracker2 fails once: tracker1 answers and takes the front */
	t += 60000;
	a = next1(an, t);
	fail_with(an, &a, -ETIMEDOUT, NULL, t);
	a = next1(an, t);
	assert_string_equal(a.url, "http://tracker1/");
	ok(an, &a, 60, 1, t);
	t += 60000;
	a = next1(an, t);
	assert_string_equal(a.url, "http://tracker1/");
	bt_announcer_free(an);
}

/* BEP 12: "d['announce-list'] = [ [ tracker1, tracker2 ], [backup1] ].
 * The first tier [...] is shuffled. Both trackers 1 and 2 will be tried
 * before trying backup1." */
static void test_bep12_example3(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 16; seed++) {
		struct bt_announcer *an = make(seed);
		bt_announcer_add(an, "udp://backup1:1", 1); /* added first */
		bt_announcer_add(an, "http://tracker1/", 0);
		bt_announcer_add(an, "http://tracker2/", 0);
		bt_announcer_start(an, false, 0);
		struct bt_announcer_action a = next1(an, 0);
		assert_true(strncmp(a.url, "http://tracker", 14) == 0);
		/* the other of tier 0 is next, then backup1 */
		struct bt_announcer_info inf;
		bt_announcer_info(an, 0, &inf);
		assert_true(inf.standby);
		assert_int_equal(inf.next_try_ms, 0);
		refused(an, &a, "not registered", 1);
		struct bt_announcer_action b = next1(an, 1);
		assert_true(strncmp(b.url, "http://tracker", 14) == 0);
		assert_string_not_equal(a.url, b.url);
		fail_with(an, &b, -EHOSTUNREACH, NULL, 2);
		b = next1(an, 2);
		assert_string_equal(b.url, "udp://backup1:1");
		ok(an, &b, 100, 1, 3);
		/* backup1 moves to the front of its own tier only: the next
		 * announce still starts with tier 0 */
		b = next1(an, 3 + 100000);
		assert_true(strncmp(b.url, "http://tracker", 14) == 0);
		bt_announcer_free(an);
	}
}

static void test_shuffled_once(void **state)
{
	(void)state;
	/* one tier of 8: the order of the first round's tries repeats in
	 * later rounds (nobody answers, so no one moves) */
	struct bt_announcer *an = make(99);
	char url[32];
	for (int i = 0; i < 8; i++) {
		snprintf(url, sizeof(url), "http://t%d/", i);
		bt_announcer_add(an, url, 0);
	}
	bt_announcer_start(an, false, 0);
	char order[2][8][32];
	uint64_t t = 0;
	bool identity = true;
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 8; i++) {
			struct bt_announcer_action a = next1(an, t);
			snprintf(order[round][i], 32, "%s", a.url);
			snprintf(url, sizeof(url), "http://t%d/", i);
			if (strcmp(a.url, url))
				identity = false;
			fail_with(an, &a, -ECONNREFUSED, NULL, t);
		}
		t = bt_announcer_deadline(an);
	}
	for (int i = 0; i < 8; i++)
		assert_string_equal(order[0][i], order[1][i]);
	assert_false(identity); /* shuffled (1 chance in 40320 otherwise) */
	bt_announcer_free(an);
}

static void test_events(void **state)
{
	(void)state;
	struct bt_announcer *an = make(5);
	bt_announcer_add(an, "http://a/", 0);
	bt_announcer_add(an, "http://b/", 1);
	bt_announcer_start(an, false, 0);
	struct bt_announcer_action a = next1(an, 0);
	assert_string_equal(a.url, "http://a/");
	assert_int_equal(a.event, BT_EVENT_STARTED);
	assert_int_equal(a.numwant, BT_ANNOUNCER_NUMWANT);
	assert_true(a.timeout_ms == BT_ANNOUNCER_TIMEOUT_MS);
	ok(an, &a, 1800, 2, 10);
	/* regular announce: no event */
	a = next1(an, 10 + 1800000);
	assert_int_equal(a.event, BT_EVENT_NONE);
	ok(an, &a, 1800, 2, 20 + 1800000);
	/* the download completes: `completed` at once */
	uint64_t t = 1900000;
	bt_announcer_completed(an, t);
	assert_true(bt_announcer_deadline(an) == t);
	a = next1(an, t);
	assert_int_equal(a.event, BT_EVENT_COMPLETED);
	ok(an, &a, 1800, 0, t);
	bt_announcer_completed(an, t + 1); /* once */
	assert_true(bt_announcer_deadline(an) == t + 1800000);
	/* a fails later: b has never seen us, so it gets `started` (the
	 * left=0 it carries says we are complete: no `completed` for b) */
	t += 1800000;
	a = next1(an, t);
	assert_int_equal(a.event, BT_EVENT_NONE);
	fail_with(an, &a, -ECONNREFUSED, NULL, t);
	a = next1(an, t);
	assert_string_equal(a.url, "http://b/");
	assert_int_equal(a.event, BT_EVENT_STARTED);
	ok(an, &a, 1800, 1, t);
	t += 1800000;
	a = next1(an, t); /* a again, first of the list */
	assert_string_equal(a.url, "http://a/");
	fail_with(an, &a, -ECONNREFUSED, NULL, t);
	a = next1(an, t);
	assert_string_equal(a.url, "http://b/");
	assert_int_equal(a.event, BT_EVENT_NONE);
	ok(an, &a, 1800, 1, t);
	/* stop: `stopped` to both, which both got a `started` */
	assert_int_equal(bt_announcer_stop(an, t + 5), 0);
	assert_false(bt_announcer_done(an));
	assert_true(bt_announcer_deadline(an) == 0);
	struct bt_announcer_action s1, s2, s3;
	assert_true(bt_announcer_next(an, t + 5, &s1));
	assert_true(bt_announcer_next(an, t + 5, &s2));
	assert_false(bt_announcer_next(an, t + 5, &s3));
	assert_int_equal(s1.event, BT_EVENT_STOPPED);
	assert_int_equal(s2.event, BT_EVENT_STOPPED);
	assert_int_equal(s1.numwant, 0);
	assert_true(s1.timeout_ms == BT_ANNOUNCER_STOP_TIMEOUT_MS);
	assert_string_not_equal(s1.url, s2.url);
	assert_true(bt_announcer_deadline(an) == UINT64_MAX);
	assert_false(bt_announcer_done(an));
	assert_int_equal(bt_announcer_result(an, s1.id, -ETIMEDOUT, NULL, NULL,
					     t + 6),
			 0);
	assert_false(bt_announcer_done(an));
	ok(an, &s2, 1800, 0, t + 7);
	assert_true(bt_announcer_done(an));
	/* nothing after stop */
	none_due(an, t + 100000000);
	bt_announcer_completed(an, t + 8);
	none_due(an, t + 100000000);
	bt_announcer_free(an);
}

static void test_complete_at_start(void **state)
{
	(void)state;
	/* a seed: `started`, never `completed` */
	struct bt_announcer *an = make(5);
	bt_announcer_add(an, "http://a/", 0);
	bt_announcer_start(an, true, 0);
	struct bt_announcer_action a = next1(an, 0);
	assert_int_equal(a.event, BT_EVENT_STARTED);
	ok(an, &a, 1800, 2, 0);
	bt_announcer_completed(an, 1);
	assert_true(bt_announcer_deadline(an) == 1800000);
	a = next1(an, 1800000);
	assert_int_equal(a.event, BT_EVENT_NONE);
	bt_announcer_free(an);
}

static void test_completed_while_in_flight(void **state)
{
	(void)state;
	/* the download completes while `started` is on its way: `completed`
	 * right after the answer, not an interval later */
	struct bt_announcer *an = make(5);
	bt_announcer_add(an, "udp://a:1", 0);
	bt_announcer_start(an, false, 0);
	struct bt_announcer_action a = next1(an, 0);
	bt_announcer_completed(an, 5);
	none_due(an, 5);
	ok(an, &a, 1800, 2, 10);
	assert_true(bt_announcer_deadline(an) == 10);
	a = next1(an, 10);
	assert_int_equal(a.event, BT_EVENT_COMPLETED);
	/* and if that one fails, `completed` is still owed next round */
	fail_with(an, &a, -ETIMEDOUT, NULL, 20);
	uint64_t t = bt_announcer_deadline(an);
	assert_true(t == 20 + BT_ANNOUNCER_RETRY_BASE_MS);
	a = next1(an, t);
	assert_int_equal(a.event, BT_EVENT_COMPLETED);
	bt_announcer_free(an);
}

static void test_stop_in_flight(void **state)
{
	(void)state;
	struct bt_announcer *an = make(5);
	bt_announcer_add(an, "http://a/", 0);
	bt_announcer_add(an, "http://never/", 1);
	bt_announcer_start(an, false, 0);
	struct bt_announcer_action a = next1(an, 0);
	/* stopped while the `started` is in flight: the tracker may have
	 * registered us, so it gets a `stopped`; the late result is
	 * ignored; a tracker never asked gets nothing */
	assert_true(bt_announcer_stop(an, 1) == a.id);
	assert_int_equal(bt_announcer_stop(an, 1), 0);
	struct bt_announcer_action s = next1(an, 1);
	assert_string_equal(s.url, "http://a/");
	assert_int_equal(s.event, BT_EVENT_STOPPED);
	assert_int_equal(bt_announcer_result(an, a.id, 0, NULL, NULL, 2),
			 -ENOENT);
	fail_with(an, &s, -ECONNREFUSED, NULL, 3);
	assert_true(bt_announcer_done(an));
	bt_announcer_free(an);

	/* stopped before any tracker was asked: done at once */
	an = make(5);
	bt_announcer_add(an, "http://a/", 0);
	bt_announcer_start(an, false, 0);
	assert_int_equal(bt_announcer_stop(an, 0), 0);
	none_due(an, 0);
	assert_true(bt_announcer_done(an));
	bt_announcer_free(an);

	/* no trackers */
	an = make(5);
	bt_announcer_start(an, false, 0);
	none_due(an, 0);
	assert_true(bt_announcer_deadline(an) == UINT64_MAX);
	bt_announcer_stop(an, 0);
	assert_true(bt_announcer_done(an));
	bt_announcer_free(an);
}

static void test_intervals(void **state)
{
	(void)state;
	struct bt_announcer *an = make(5);
	bt_announcer_add(an, "http://a/", 0);
	bt_announcer_start(an, false, 0);
	/* hostile intervals: 0 and "−1" (a huge unsigned) are clamped */
	struct bt_announcer_action a = next1(an, 0);
	ok(an, &a, 0, 0, 0);
	assert_true(bt_announcer_deadline(an) == 30000);
	a = next1(an, 30000);
	ok(an, &a, 0xffffffffu, 0, 30000);
	assert_true(bt_announcer_deadline(an) == 30000 + 86400000ull);
	/* min interval above interval wins */
	a = next1(an, 30000 + 86400000ull);
	struct bt_tracker_reply r;
	memset(&r, 0, sizeof(r));
	r.interval = 60;
	r.min_interval = 300;
	uint64_t t = 100000000;
	assert_int_equal(bt_announcer_result(an, a.id, 0, NULL, &r, t), 0);
	assert_true(bt_announcer_deadline(an) == t + 300000);
	bt_announcer_free(an);
}

static void test_want_peers(void **state)
{
	(void)state;
	struct bt_announcer *an = make(5);
	bt_announcer_add(an, "http://a/", 0);
	bt_announcer_want_peers(an, 0); /* before start: nothing */
	bt_announcer_start(an, false, 0);
	struct bt_announcer_action a = next1(an, 0);
	bt_announcer_want_peers(an, 1); /* in flight: nothing */
	struct bt_tracker_reply r;
	memset(&r, 0, sizeof(r));
	r.interval = 1800;
	r.min_interval = 120;
	bt_announcer_result(an, a.id, 0, NULL, &r, 1000);
	assert_true(bt_announcer_deadline(an) == 1000 + 1800000);
	/* early, but not before the min interval */
	bt_announcer_want_peers(an, 2000);
	assert_true(bt_announcer_deadline(an) == 1000 + 120000);
	none_due(an, 1000 + 119999);
	a = next1(an, 1000 + 120000);
	assert_int_equal(a.event, BT_EVENT_NONE);
	/* no min interval given: BT_ANNOUNCER_MIN_REANNOUNCE_MS */
	ok(an, &a, 1800, 1, 200000);
	bt_announcer_want_peers(an, 500000);
	assert_true(bt_announcer_deadline(an) == 500000);
	bt_announcer_want_peers(an, 200001);
	a = next1(an, 500000);
	ok(an, &a, 1800, 1, 500000);
	bt_announcer_want_peers(an, 500001);
	assert_true(bt_announcer_deadline(an) ==
		    500000 + BT_ANNOUNCER_MIN_REANNOUNCE_MS);
	bt_announcer_free(an);
}

static void test_backoff(void **state)
{
	(void)state;
	struct bt_announcer *an = make(5);
	bt_announcer_add(an, "udp://a:1", 0);
	bt_announcer_add(an, "http://b/", 1);
	bt_announcer_start(an, false, 0);
	uint64_t t = 0, expect = BT_ANNOUNCER_RETRY_BASE_MS;
	for (int round = 0; round < 10; round++) {
		struct bt_announcer_action a = next1(an, t);
		fail_with(an, &a, -ETIMEDOUT, NULL, t);
		a = next1(an, t);
		fail_with(an, &a, -ECONNREFUSED, NULL, t);
		uint64_t d = bt_announcer_deadline(an) - t;
		assert_true(d == expect);
		/* want_peers does not cut the back-off short */
		bt_announcer_want_peers(an, t);
		assert_true(bt_announcer_deadline(an) - t == expect);
		t += d;
		expect *= 2;
		if (expect > BT_ANNOUNCER_RETRY_MAX_MS)
			expect = BT_ANNOUNCER_RETRY_MAX_MS;
	}
	/* one success resets it */
	struct bt_announcer_action a = next1(an, t);
	ok(an, &a, 60, 0, t);
	t += 60000;
	a = next1(an, t);
	fail_with(an, &a, -ETIMEDOUT, NULL, t);
	a = next1(an, t);
	fail_with(an, &a, -ETIMEDOUT, NULL, t);
	assert_true(bt_announcer_deadline(an) == t + BT_ANNOUNCER_RETRY_BASE_MS);
	bt_announcer_free(an);
}

static void test_schemes_and_limits(void **state)
{
	(void)state;
	struct bt_announcer *an = make(5);
	assert_int_equal(bt_announcer_add(an, "HTTPS://secure/a", 0), 0);
	assert_int_equal(bt_announcer_add(an, "wss://x/", 0),
			 -EPROTONOSUPPORT);
	assert_int_equal(bt_announcer_add(an, "dht://x", 0), -EPROTONOSUPPORT);
	assert_int_equal(bt_announcer_add(an, "", 0), -EPROTONOSUPPORT);
	assert_int_equal(bt_announcer_add(an, NULL, 0), -EPROTONOSUPPORT);
	assert_int_equal(bt_announcer_add(an, "HTTPS://secure/a", 3), -EEXIST);
	struct bt_announcer_info inf;
	assert_int_equal(bt_announcer_info(an, 0, &inf), 0);
	assert_int_equal(inf.kind, BT_ANNOUNCER_HTTPS);
	assert_int_equal(bt_announcer_info(an, 1, &inf), -ENOENT);
	char url[64];
	for (int i = 1; i < BT_ANNOUNCER_MAX_TRACKERS; i++) {
		snprintf(url, sizeof(url), "udp://t%d:1", i);
		assert_int_equal(bt_announcer_add(an, url, (unsigned)i % 7), i);
	}
	assert_int_equal(bt_announcer_add(an, "udp://one-too-many:1", 0),
			 -ENOBUFS);
	assert_int_equal(bt_announcer_count(an), BT_ANNOUNCER_MAX_TRACKERS);
	/* the order groups tiers, ascending */
	bt_announcer_start(an, false, 0);
	unsigned last_tier = 0;
	for (int i = 0; i < BT_ANNOUNCER_MAX_TRACKERS; i++) {
		struct bt_announcer_action a = next1(an, 0);
		bt_announcer_info(an, a.tracker, &inf);
		assert_true(inf.tier >= last_tier);
		last_tier = inf.tier;
		fail_with(an, &a, -ETIMEDOUT, NULL, 0);
	}
	bt_announcer_free(an);
}

static void test_added_after_start(void **state)
{
	(void)state;
	/* trackers added later (from a magnet's metadata, say) join their
	 * tier; one added before the tracker being asked is not asked in
	 * this round */
	struct bt_announcer *an = make(3);
	bt_announcer_add(an, "http://a/", 1);
	bt_announcer_start(an, false, 0);
	struct bt_announcer_action a = next1(an, 0);
	assert_string_equal(a.url, "http://a/");
	assert_int_equal(bt_announcer_add(an, "http://zero/", 0), 1);
	assert_int_equal(bt_announcer_add(an, "http://two/", 2), 2);
	fail_with(an, &a, -ETIMEDOUT, NULL, 1);
	a = next1(an, 1);
	assert_string_equal(a.url, "http://two/");
	ok(an, &a, 60, 1, 2);
	a = next1(an, 60002);
	assert_string_equal(a.url, "http://zero/");
	bt_announcer_free(an);
}

static void test_status(void **state)
{
	(void)state;
	struct bt_announcer *an = make(5);
	bt_announcer_add(an, "http://a/announce", 0);
	bt_announcer_add(an, "udp://b:6969", 1);
	struct bt_announcer_info ia, ib;
	bt_announcer_info(an, 0, &ia);
	assert_string_equal(ia.url, "http://a/announce");
	assert_true(ia.next_try_ms == UINT64_MAX); /* not started */
	assert_int_equal(ia.last_announce_ms, 0);
	assert_int_equal(ia.seeders, -1);
	bt_announcer_start(an, false, 100);
	bt_announcer_info(an, 0, &ia);
	bt_announcer_info(an, 1, &ib);
	assert_true(ia.next_try_ms == 100);
	assert_false(ia.standby);
	assert_true(ib.next_try_ms == 100);
	assert_true(ib.standby);

	struct bt_announcer_action a = next1(an, 200);
	bt_announcer_info(an, 0, &ia);
	assert_true(ia.updating);
	assert_int_equal(ia.last_announce_ms, 200);
	struct bt_tracker_reply r;
	memset(&r, 0, sizeof(r));
	r.failure = "torrent not registered\n";
	r.warning = "be nice";
	bt_announcer_result(an, a.id, 0, NULL, &r, 300);
	bt_announcer_info(an, 0, &ia);
	assert_false(ia.updating);
	assert_false(ia.working);
	assert_int_equal(ia.fails, 1);
	assert_string_equal(ia.last_error,
			    "tracker says: torrent not registered?");
	assert_string_equal(ia.warning, "be nice");
	assert_true(ia.next_try_ms == UINT64_MAX); /* failed this round */

	a = next1(an, 300);
	fail_with(an, &a, -ETIMEDOUT,
		  "no reply to the connect after 2 tries", 400);
	bt_announcer_info(an, 1, &ib);
	assert_string_equal(ib.last_error,
			    "no reply to the connect after 2 tries");
	bt_announcer_info(an, 0, &ia);
	assert_true(ia.next_try_ms == 400 + BT_ANNOUNCER_RETRY_BASE_MS);

	uint64_t t = 400 + BT_ANNOUNCER_RETRY_BASE_MS;
	a = next1(an, t);
	fail_with(an, &a, -ECONNREFUSED, NULL, t);
	bt_announcer_info(an, 0, &ia);
	assert_string_equal(ia.last_error, strerror(ECONNREFUSED));
	assert_int_equal(ia.fails, 2);
	a = next1(an, t);
	memset(&r, 0, sizeof(r));
	r.interval = 900;
	r.complete = 7;
	r.incomplete = 2;
	r.npeers = 9;
	r.tracker_id = "abc";
	bt_announcer_result(an, a.id, 0, NULL, &r, t + 10);
	bt_announcer_info(an, 1, &ib);
	assert_true(ib.working);
	assert_int_equal(ib.fails, 0);
	assert_string_equal(ib.last_error, "");
	assert_int_equal(ib.last_peers, 9);
	assert_int_equal(ib.total_peers, 9);
	assert_int_equal(ib.seeders, 7);
	assert_int_equal(ib.leechers, 2);
	assert_int_equal(ib.interval_s, 900);
	assert_true(ib.last_ok_ms == t + 10);
	assert_true(ib.next_try_ms == t + 10 + 900000);
	assert_true(ib.standby); /* a is asked first next time */
	/* a's tracker id goes back to it... b's to b */
	a = next1(an, t + 10 + 900000);
	assert_string_equal(a.url, "http://a/announce");
	assert_null(a.tracker_id);
	fail_with(an, &a, -ECONNREFUSED, NULL, t + 10 + 900000);
	a = next1(an, t + 10 + 900000);
	assert_string_equal(a.tracker_id, "abc");
	ok(an, &a, 900, 3, t + 20 + 900000);
	bt_announcer_info(an, 1, &ib);
	assert_int_equal(ib.total_peers, 12);
	/* unknown ids */
	assert_int_equal(bt_announcer_result(an, 12345, 0, NULL, &r, 1),
			 -ENOENT);
	assert_int_equal(bt_announcer_result(an, 0, 0, NULL, &r, 1), -ENOENT);
	bt_announcer_free(an);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bep12_example1),
		cmocka_unit_test(test_bep12_example2),
		cmocka_unit_test(test_bep12_example3),
		cmocka_unit_test(test_shuffled_once),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_complete_at_start),
		cmocka_unit_test(test_completed_while_in_flight),
		cmocka_unit_test(test_stop_in_flight),
		cmocka_unit_test(test_intervals),
		cmocka_unit_test(test_want_peers),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_schemes_and_limits),
		cmocka_unit_test(test_added_after_start),
		cmocka_unit_test(test_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
