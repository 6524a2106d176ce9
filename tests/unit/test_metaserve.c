/* Unit tests for bt_metaserve: answers from the info dict (every piece,
 * the short last one), rejects without a dict and out of range, the
 * per-peer token bucket (burst, refill by `now`, rejects over it) and the
 * flood verdict after BT_METASERVE_MAX_OVER rejects in a row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_metaserve.h"

static uint8_t out[BT_METASERVE_OUT_MAX];

static struct bt_utmeta_msg ask(struct bt_metaserve *s, const uint8_t *info,
				size_t len, uint32_t piece, uint64_t now)
{
	struct bt_utmeta_msg req = {.type = BT_UTMETA_REQUEST, .piece = piece};
	struct bt_utmeta_msg a;
	ssize_t n =
	    bt_metaserve_answer(s, info, len, &req, now, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(bt_utmeta_parse(out, (size_t)n, &a, NULL, 0), 0);
	assert_int_equal(a.piece, piece);
	return a;
}

static void test_answers(void **state)
{
	(void)state;
	size_t len = 2 * BT_UTMETA_PIECE_LEN + 100;
	uint8_t *info = malloc(len);
	assert_non_null(info);
	for (size_t i = 0; i < len; i++)
		info[i] = (uint8_t)(i % 251);
	struct bt_metaserve s;
	bt_metaserve_init(&s, 1000);
	for (uint32_t p = 0; p < 3; p++) {
		struct bt_utmeta_msg a = ask(&s, info, len, p, 1000);
		assert_int_equal(a.type, BT_UTMETA_DATA);
		assert_int_equal(a.total_size, len);
		assert_int_equal(a.data_len, p < 2 ? BT_UTMETA_PIECE_LEN : 100);
		assert_memory_equal(a.data, info + p * BT_UTMETA_PIECE_LEN,
				    a.data_len);
	}
	assert_int_equal(ask(&s, info, len, 3, 1000).type, BT_UTMETA_REJECT);
	assert_int_equal(ask(&s, NULL, 0, 0, 1000).type, BT_UTMETA_REJECT);
	assert_int_equal(s.served, 3);
	assert_int_equal(s.rejected, 2);

	/* not a request, or no room */
	struct bt_utmeta_msg d = {.type = BT_UTMETA_DATA};
	assert_int_equal(
	    bt_metaserve_answer(&s, info, len, &d, 1000, out, sizeof(out)),
	    -EINVAL);
	d.type = BT_UTMETA_REQUEST;
	assert_int_equal(bt_metaserve_answer(&s, info, len, &d, 1000, out,
					     BT_METASERVE_OUT_MAX - 1),
			 -EINVAL);
	free(info);
}

static void test_rate(void **state)
{
	(void)state;
	uint8_t info[100] = {1};
	struct bt_metaserve s;
	bt_metaserve_init(&s, 0);
	/* the burst, then rejects */
	for (unsigned i = 0; i < BT_METASERVE_BURST; i++)
		assert_int_equal(ask(&s, info, 100, 0, 0).type, BT_UTMETA_DATA);
	assert_int_equal(ask(&s, info, 100, 0, 0).type, BT_UTMETA_REJECT);
	/* one second refills BT_METASERVE_RATE */
	unsigned got = 0;
	for (unsigned i = 0; i < 2 * BT_METASERVE_RATE; i++)
		got += ask(&s, info, 100, 0, 1000).type == BT_UTMETA_DATA;
	assert_int_equal(got, BT_METASERVE_RATE);
	/* a flood: rejects in a row until the verdict */
	struct bt_utmeta_msg req = {.type = BT_UTMETA_REQUEST};
	ssize_t n = 0;
	unsigned i;
	for (i = 0; i < 10 * BT_METASERVE_MAX_OVER; i++) {
		n = bt_metaserve_answer(&s, info, 100, &req, 1000, out,
					sizeof(out));
		if (n < 0)
			break;
	}
	assert_int_equal(n, -EPROTO);
	assert_true(i < BT_METASERVE_MAX_OVER);
	/* a long pause refills at most the burst, and clears the count */
	bt_metaserve_init(&s, 0);
	for (i = 0; i < BT_METASERVE_BURST + 10; i++)
		(void)bt_metaserve_answer(&s, info, 100, &req, 0, out,
					  sizeof(out));
	got = 0;
	for (i = 0; i < 3 * BT_METASERVE_BURST; i++)
		got +=
		    ask(&s, info, 100, 0, 3600 * 1000).type == BT_UTMETA_DATA;
	assert_int_equal(got, BT_METASERVE_BURST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answers),
	    cmocka_unit_test(test_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
