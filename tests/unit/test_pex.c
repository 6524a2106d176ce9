/* Unit tests for bt_pex: build/parse round trips of both families with
 * flags, the exact bytes of a message, flags of the wrong length ignored,
 * unusable and duplicate addresses skipped, the per-message cap, the
 * 50-entry send limit, and malformed messages refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_pex.h"

static struct bt_addr A(const char *s) {
	struct bt_addr a;
	assert_int_equal(bt_addr_parse(s, &a), 0);
	return a;
}

static struct bt_pex_msg msg;

static int parse(const void *p, size_t n)
{
	char err[200] = "x";
	int rc = bt_pex_parse(p, n, &msg, err, sizeof(err));
	if (rc)
		assert_true(err[0] != 'x' && !strchr(err, '\n'));
	return rc;
}
#define P(lit) parse(lit, sizeof(lit) - 1)

static void test_roundtrip(void **state)
{
	(void)state;
	struct bt_pex_peer added[] = {
	    {A("127.0.0.2:6881"), BT_PEX_F_SEED | BT_PEX_F_REACHABLE},
	    {A("[2001:db8::1]:6882"), BT_PEX_F_UTP},
	    {A("10.1.2.3:1"), 0},
	};
	struct bt_addr dropped[] = {A("192.168.1.1:51413"), A("[::1]:7")};
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_pex_build(added, 3, dropped, 2, &b), 0);
	const char want[] =
	    "d5:added12:\x7f\x00\x00\x02\x1a\xe1\x0a\x01\x02\x03\x00\x01"
	    "7:added.f2:\x12\x00"
	    "6:added618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x01\x1a\xe2"
	    "8:added6.f1:\x04"
	    "7:dropped6:\xc0\xa8\x01\x01\xc8\xd5"
	    "8:dropped618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x01\x00\x07"
	    "e";
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.buf, want, b.len);
	assert_int_equal(parse(b.buf, b.len), 0);
	assert_int_equal(msg.nadded, 3);
	/* v4 first, then v6 */
	assert_true(bt_addr_equal(&msg.added[0].addr, &added[0].addr));
	assert_int_equal(msg.added[0].flags, 0x12);
	assert_true(bt_addr_equal(&msg.added[1].addr, &added[2].addr));
	assert_true(bt_addr_equal(&msg.added[2].addr, &added[1].addr));
	assert_int_equal(msg.added[2].flags, BT_PEX_F_UTP);
	assert_int_equal(msg.ndropped, 2);
	assert_true(bt_addr_equal(&msg.dropped[1], &dropped[1]));
	assert_int_equal(msg.total_added, 3);
	assert_int_equal(msg.nskipped, 0);
	bt_benc_release(&b);

	/* empty */
	bt_benc_init(&b);
	assert_int_equal(bt_pex_build(NULL, 0, NULL, 0, &b), 0);
	assert_int_equal(parse(b.buf, b.len), 0);
	assert_int_equal(msg.nadded + msg.ndropped, 0);
	bt_benc_release(&b);
}

/* What python3-libtorrent 2.0.8 and aria2 1.36.0 sent to ext_probe's two
 * connections from 127.0.30.11/.12 (libtorrent) and .13/.14 (aria2), each
 * announcing p=23011 / 23013 (tests/fuzz/corpus/pex/ holds the same
 * bytes). libtorrent writes every key, empty or not, and lists the
 * receiver itself too; aria2 writes only what it has. */
static void test_real_clients(void **state)
{
	(void)state;
	char a[BT_ADDR_STRLEN];
	assert_int_equal(
	    P("d5:added12:\x7f\x00\x1e\x0cY\xe3\x7f\x00\x1e\x0bY\xe3"
	      "7:added.f2:\x00\x00"
	      "6:added60:"
	      "8:added6.f0:"
	      "7:dropped0:"
	      "8:dropped60:"
	      "e"),
	    0);
	assert_int_equal(msg.nadded, 2);
	bt_addr_str(&msg.added[0].addr, a, sizeof(a));
	assert_string_equal(a, "127.0.30.12:23011");
	bt_addr_str(&msg.added[1].addr, a, sizeof(a));
	assert_string_equal(a, "127.0.30.11:23011");
	assert_int_equal(msg.added[0].flags, 0);
	assert_int_equal(P("d5:added6:\x7f\x00\x1e\x0dY\xe5"
			   "7:added.f1:\x00"
			   "e"),
			 0);
	assert_int_equal(msg.nadded, 1);
	bt_addr_str(&msg.added[0].addr, a, sizeof(a));
	assert_string_equal(a, "127.0.30.13:23013");
	assert_int_equal(
	    P("d7:dropped12:\x7f\x00\x1e\x0eY\xe5\x7f\x00\x1e\x0dY\xe5"
	      "e"),
	    0);
	assert_int_equal(msg.ndropped, 2);
	assert_int_equal(P("de"), 0);
	assert_int_equal(msg.nadded + msg.ndropped, 0);
}

static void test_limits(void **state)
{
	(void)state;
	struct bt_pex_peer many[BT_PEX_MAX_PER_MSG + 1];
	struct bt_addr d[BT_PEX_MAX_PER_MSG + 1];
	for (int i = 0; i <= BT_PEX_MAX_PER_MSG; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.0.0.%d:%d", i + 1, 1000 + i);
		many[i] = (struct bt_pex_peer){A(s), 0};
		d[i] = many[i].addr;
	}
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(
	    bt_pex_build(many, BT_PEX_MAX_PER_MSG + 1, NULL, 0, &b), -EINVAL);
	assert_int_equal(bt_pex_build(NULL, 0, d, BT_PEX_MAX_PER_MSG + 1, &b),
			 -EINVAL);
	struct bt_pex_peer none = {{0}, 0};
	assert_int_equal(bt_pex_build(&none, 1, NULL, 0, &b), -EINVAL);
	bt_benc_release(&b);

	/* a flood of 1000 entries: 100 kept, the count reported */
	size_t n = 1000;
	uint8_t *c = malloc(n * 6);
	assert_non_null(c);
	for (size_t i = 0; i < n; i++) {
		uint8_t e[6] = {10,  (uint8_t)(i >> 8), (uint8_t)i, 1, 0x1a,
				0xe1};
		memcpy(c + 6 * i, e, 6);
	}
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "added");
	bt_benc_str(&b, c, n * 6);
	bt_benc_end(&b);
	assert_int_equal(parse(b.buf, b.len), 0);
	assert_int_equal(msg.nadded, BT_PEX_MAX_PARSE);
	assert_int_equal(msg.total_added, n);
	assert_int_equal(msg.nskipped, n - BT_PEX_MAX_PARSE);
	bt_benc_release(&b);
	free(c);

	/* over the byte cap */
	static uint8_t big[BT_PEX_MAX_MSG_LEN + 1];
	assert_int_equal(parse(big, sizeof(big)), -EPROTO);
}

static void test_tolerance(void **state)
{
	(void)state;
	/* flags of the wrong length: ignored; unusable and duplicate entries
	 * skipped; unknown keys fine */
	assert_int_equal(P("d5:added24:\x7f\x00\x00\x02\x1a\xe1"
			   "\x00\x00\x00\x00\x1a\xe1" /* 0.0.0.0 */
			   "\x7f\x00\x00\x03\x00\x00" /* port 0 */
			   "\x7f\x00\x00\x02\x1a\xe1" /* duplicate */
			   "7:added.f1:\x02"
			   "1:zi0ee"),
			 0);
	assert_int_equal(msg.nadded, 1);
	assert_int_equal(msg.added[0].flags, 0);
	assert_int_equal(msg.total_added, 4);
	assert_int_equal(msg.nskipped, 3);
	/* dropped only */
	assert_int_equal(P("d7:dropped6:\x7f\x00\x00\x02\x1a\xe1"
			   "e"),
			 0);
	assert_int_equal(msg.nadded, 0);
	assert_int_equal(msg.ndropped, 1);
	/* a v4-mapped address in added6 is stored as IPv4 */
	assert_int_equal(P("d6:added618:\x00\x00\x00\x00\x00\x00\x00\x00"
			   "\x00\x00\xff\xff\x7f\x00\x00\x09\x00\x50"
			   "e"),
			 0);
	assert_int_equal(msg.nadded, 1);
	assert_int_equal(msg.added[0].addr.family, BT_ADDR_V4);
}

static void test_malformed(void **state)
{
	(void)state;
	assert_int_equal(P(""), -EPROTO);
	assert_int_equal(P("le"), -EPROTO);
	assert_int_equal(P("d5:added5:abcdee"), -EPROTO);   /* not 6k */
	assert_int_equal(P("d6:added66:abcdefe"), -EPROTO); /* not 18k */
	assert_int_equal(P("d7:dropped1:xe"), -EPROTO);
	assert_int_equal(P("d8:dropped62:xxe"), -EPROTO);
	assert_int_equal(P("d5:addedi1ee"), -EPROTO); /* wrong type */
	assert_int_equal(P("d5:added0:"), -EPROTO);   /* truncated */
	assert_int_equal(P("d5:added0:e"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_real_clients),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_tolerance),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
