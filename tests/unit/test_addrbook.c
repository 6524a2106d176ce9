/* Unit tests for bt_addrbook: sources merged per address, the order of
 * candidates, back-off and giving up, seeds skipped while seeding, bans
 * (per address and per IP), and the bound: a flood of 100k addresses stays
 * within it, fast, and never evicts a manual or connected entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bt_addrbook.h"

static struct bt_addr A(const char *s)
{
	struct bt_addr a;
	assert_int_equal(bt_addr_parse(s, &a), 0);
	return a;
}

static struct bt_addr nth(uint32_t i)
{
	uint8_t ip[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
	struct bt_addr a;
	assert_int_equal(bt_addr_set(&a, ip, 4, (uint16_t)(1000 + i % 50000)),
			 0);
	return a;
}

static void test_add_find_merge(void **state)
{
	(void)state;
	struct bt_addrbook *ab = bt_addrbook_new(NULL);
	struct bt_addr a = A("1.2.3.4:6881"), b = A("[::1]:7000");
	const struct bt_abentry *e = bt_addrbook_add(ab, &a, BT_SRC_TRACKER, 0);
	assert_non_null(e);
	assert_int_equal(e->src, BT_SRC_TRACKER);
	e = bt_addrbook_add(ab, &a, BT_SRC_DHT, 0);
	assert_int_equal(e->src, BT_SRC_TRACKER | BT_SRC_DHT);
	assert_int_equal(bt_addrbook_count(ab), 1);
	assert_non_null(bt_addrbook_add(ab, &b, BT_SRC_PEX, 0));
	assert_int_equal(bt_addrbook_count(ab), 2);
	assert_true(bt_addr_equal(&bt_addrbook_find(ab, &b)->addr, &b));
	struct bt_addr c = A("1.2.3.4:6882");
	assert_null(bt_addrbook_find(ab, &c));
	/* not usable as a peer */
	struct bt_addr z = A("0.0.0.0:1");
	assert_null(bt_addrbook_add(ab, &z, BT_SRC_PEX, 0));
	assert_int_equal(bt_addrbook_check(ab), 0);
	bt_addrbook_free(ab);
}

static void test_order_and_backoff(void **state)
{
	(void)state;
	struct bt_addrbook *ab = bt_addrbook_new(NULL);
	struct bt_addr t1 = A("1.0.0.1:1"), t2 = A("1.0.0.2:1"),
		       m = A("1.0.0.3:1"), in = A("1.0.0.4:50000");
	bt_addrbook_add(ab, &t1, BT_SRC_TRACKER, 0);
	bt_addrbook_add(ab, &t2, BT_SRC_TRACKER, 0);
	bt_addrbook_add(ab, &m, BT_SRC_MANUAL, 0);
	/* an incoming peer's port is ephemeral: never a candidate */
	assert_true(bt_addrbook_connected(ab, &in, BT_SRC_INCOMING, 0));
	bt_addrbook_closed(ab, &in, BT_AB_CLOSED, true, false, 0);

	struct bt_addr got;
	uint64_t now = 1000;
	assert_true(bt_addrbook_next(ab, now, false, &got));
	assert_true(bt_addr_equal(&got, &m)); /* manual first */
	assert_true(bt_addrbook_next(ab, now, false, &got));
	assert_true(bt_addr_equal(&got, &t1)); /* then first come */
	/* t1's connect fails: retried after the minimum wait, behind t2 */
	bt_addrbook_closed(ab, &t1, BT_AB_CONNECT_FAILED, false, false, now);
	assert_true(bt_addrbook_next(ab, now, false, &got));
	assert_true(bt_addr_equal(&got, &t2));
	assert_false(bt_addrbook_next(ab, now, false, &got));
	assert_int_equal(bt_addrbook_next_time(ab, now, false),
			 now + BT_ADDRBOOK_RETRY_MIN_MS);
	now += BT_ADDRBOOK_RETRY_MIN_MS;
	assert_true(bt_addrbook_next(ab, now, false, &got));
	assert_true(bt_addr_equal(&got, &t1));

	/* connections that end early back off exponentially, then give up */
	uint64_t wait = BT_ADDRBOOK_RETRY_MIN_MS;
	bt_addrbook_closed(ab, &t1, BT_AB_CLOSED, false, false, now);
	const struct bt_abentry *e = bt_addrbook_find(ab, &t1);
	assert_int_equal(e->fails, 2);
	assert_int_equal(e->next_try, now + 2 * wait);
	for (int i = 0; i < 10; i++) {
		now = e->next_try;
		assert_true(bt_addrbook_next(ab, now, false, &got));
		if (bt_addr_equal(&got, &m) || bt_addr_equal(&got, &t2)) {
			bt_addrbook_closed(ab, &got, BT_AB_CLOSED, true, false,
					   now);
			i--;
			continue;
		}
		assert_true(bt_addr_equal(&got, &t1));
		bt_addrbook_closed(ab, &t1, BT_AB_CLOSED, false, false, now);
		e = bt_addrbook_find(ab, &t1);
		assert_true(e->next_try - now <= BT_ADDRBOOK_RETRY_MAX_MS);
		if (e->given_up)
			break;
	}
	assert_true(e->given_up);
	assert_int_equal(e->fails, BT_ADDRBOOK_GIVE_UP);
	/* a manual address is never given up */
	for (int i = 0; i < 20; i++)
		bt_addrbook_closed(ab, &m, BT_AB_CLOSED, false, false, now);
	assert_false(bt_addrbook_find(ab, &m)->given_up);
	/* a connection that worked resets the back-off */
	bt_addrbook_closed(ab, &m, BT_AB_CLOSED, true, false, now);
	assert_int_equal(bt_addrbook_find(ab, &m)->fails, 0);
	assert_int_equal(bt_addrbook_check(ab), 0);
	bt_addrbook_free(ab);
}

static void test_seeds_and_bans(void **state)
{
	(void)state;
	struct bt_addrbook *ab = bt_addrbook_new(NULL);
	struct bt_addr s = A("2.0.0.1:1"), l = A("2.0.0.2:1"),
		       liar = A("2.0.0.3:1");
	bt_addrbook_add(ab, &s, BT_SRC_TRACKER, 0);
	bt_addrbook_add(ab, &l, BT_SRC_TRACKER, 0);
	struct bt_addr got;
	assert_true(bt_addrbook_next(ab, 0, false, &got));
	bt_addrbook_closed(ab, &got, BT_AB_CLOSED, true, true, 0); /* a seed */
	assert_true(bt_addrbook_next(ab, 0, false, &got));
	bt_addrbook_closed(ab, &got, BT_AB_CLOSED, true, false, 0);
	/* while we seed, only the leecher is worth a connection */
	uint64_t now = BT_ADDRBOOK_RETRY_MIN_MS;
	assert_true(bt_addrbook_next(ab, now, true, &got));
	assert_true(bt_addr_equal(&got, &l));
	assert_false(bt_addrbook_next(ab, now, true, &got));
	assert_true(bt_addrbook_next(ab, now, false, &got));
	assert_true(bt_addr_equal(&got, &s));

	bt_addrbook_add(ab, &liar, BT_SRC_PEX, 0);
	bt_addrbook_ban(ab, &liar);
	assert_true(bt_addrbook_banned(ab, &liar));
	assert_false(bt_addrbook_connected(ab, &liar, BT_SRC_INCOMING, now));
	assert_false(bt_addrbook_next(ab, now, false, &got));
	/* the same IP on another port is not banned by that, but by an IP
	 * ban, which also stops an incoming connection from any port */
	struct bt_addr other = A("2.0.0.3:2");
	assert_false(bt_addrbook_banned(ab, &other));
	bt_addrbook_ban_ip(ab, &liar);
	assert_true(bt_addrbook_banned(ab, &other));
	assert_false(bt_addrbook_connected(ab, &other, BT_SRC_INCOMING, now));
	assert_int_equal(bt_addrbook_check(ab), 0);
	bt_addrbook_free(ab);
}

static double secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_flood_bounded(void **state)
{
	(void)state;
	struct bt_addrbook_opts o = {.key = 0x1234, .seed = 42};
	struct bt_addrbook *ab = bt_addrbook_new(&o);
	struct bt_addr man = A("3.0.0.1:1"), conn = A("3.0.0.2:1");
	bt_addrbook_add(ab, &man, BT_SRC_MANUAL, 0);
	assert_true(bt_addrbook_connected(ab, &conn, BT_SRC_TRACKER, 0));
	double t0 = secs();
	for (uint32_t i = 0; i < 100000; i++) {
		struct bt_addr a = nth(i);
		assert_non_null(bt_addrbook_add(ab, &a, BT_SRC_PEX, 0));
		assert_true(bt_addrbook_count(ab) <= BT_ADDRBOOK_MAX);
	}
	double dt = secs() - t0;
	if (getenv("P2PFS_TEST_DEBUG"))
		fprintf(stderr, "100k adds in %.3f s\n", dt);
	assert_true(dt < 2.0); /* O(1) each: ~10 ms on this machine */
	assert_int_equal(bt_addrbook_count(ab), BT_ADDRBOOK_MAX);
	assert_non_null(bt_addrbook_find(ab, &man));
	assert_non_null(bt_addrbook_find(ab, &conn));
	assert_int_equal(bt_addrbook_check(ab), 0);
	/* the newest address is in (the book churns among the flood) */
	struct bt_addr last = nth(99999);
	assert_non_null(bt_addrbook_find(ab, &last));
	/* a candidate is still found at once */
	struct bt_addr got;
	assert_true(bt_addrbook_next(ab, 0, false, &got));
	assert_true(bt_addr_equal(&got, &man));

	/* a book full of unevictable entries refuses new ones */
	struct bt_addrbook_opts small = {.max_entries = 4};
	struct bt_addrbook *sb = bt_addrbook_new(&small);
	for (uint32_t i = 0; i < 4; i++) {
		struct bt_addr a = nth(i);
		assert_true(bt_addrbook_connected(sb, &a, BT_SRC_TRACKER, 0));
	}
	struct bt_addr x = nth(10);
	assert_null(bt_addrbook_add(sb, &x, BT_SRC_PEX, 0));
	/* one closes: now evictable, so the new one takes its place */
	struct bt_addr a1 = nth(1);
	bt_addrbook_closed(sb, &a1, BT_AB_CLOSED, false, false, 0);
	assert_non_null(bt_addrbook_add(sb, &x, BT_SRC_PEX, 0));
	assert_null(bt_addrbook_find(sb, &a1));
	assert_int_equal(bt_addrbook_check(sb), 0);
	bt_addrbook_free(sb);
	bt_addrbook_free(ab);
}

/* Removals keep the probe runs intact (backward-shift deletion): a small
 * table churned hard stays consistent and finds everything it holds. */
static void test_churn(void **state)
{
	(void)state;
	struct bt_addrbook_opts o = {.max_entries = 37, .seed = 7};
	struct bt_addrbook *ab = bt_addrbook_new(&o);
	for (uint32_t i = 0; i < 5000; i++) {
		struct bt_addr a = nth(i * 7919u);
		assert_non_null(bt_addrbook_add(ab, &a, BT_SRC_DHT, 0));
		assert_non_null(bt_addrbook_find(ab, &a));
		if (i % 97 == 0)
			assert_int_equal(bt_addrbook_check(ab), 0);
	}
	assert_int_equal(bt_addrbook_check(ab), 0);
	bt_addrbook_free(ab);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_merge),
		cmocka_unit_test(test_order_and_backoff),
		cmocka_unit_test(test_seeds_and_bans),
		cmocka_unit_test(test_flood_bounded),
		cmocka_unit_test(test_churn),
	};
	return cmocka_run_group_tests_name("addrbook", tests, NULL, NULL);
}
