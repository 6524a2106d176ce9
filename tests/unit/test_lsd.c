/* Unit tests for bt_lsd: the exact announce we build (IPv4 and IPv6
 * groups, with and without a cookie), several info-hashes split to stay
 * under BT_LSD_MAX_SEND, parsing what libtorrent sends and lenient
 * variants (LF only, any header case, spaces, unknown headers), our own
 * cookie recognised, and malformed datagrams refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_lsd.h"
#include "pfs_hash.h"

static struct bt_lsd_msg m;

static int parse(const char *s)
{
	char err[200] = "x";
	int rc =
	    bt_lsd_parse((const uint8_t *)s, strlen(s), &m, err, sizeof(err));
	if (rc)
		assert_true(err[0] != 'x' && !strchr(err, '\n'));
	return rc;
}

static void test_build(void **state)
{
	(void)state;
	uint8_t h[2][20];
	memset(h[0], 0xab, 20);
	memset(h[1], 0x01, 20);
	char out[BT_LSD_MAX_SEND + 1];
	size_t len;
	assert_int_equal(bt_lsd_build(out, sizeof(out), &len, false, 6881, h, 1,
				      "p2pfs-1a2b"),
			 1);
	const char want[] =
	    "BT-SEARCH * HTTP/1.1\r\n"
	    "Host: 239.192.152.143:6771\r\n"
	    "Port: 6881\r\n"
	    "Infohash: abababababababababababababababababababab\r\n"
	    "cookie: p2pfs-1a2b\r\n"
	    "\r\n"
	    "\r\n";
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(parse(out), 0);
	assert_int_equal(m.port, 6881);
	assert_int_equal(m.nhashes, 1);
	assert_memory_equal(m.hashes[0], h[0], 20);
	assert_true(bt_lsd_is_own(&m, "p2pfs-1a2b"));
	assert_false(bt_lsd_is_own(&m, "other"));
	assert_false(bt_lsd_is_own(&m, NULL));

	assert_int_equal(
	    bt_lsd_build(out, sizeof(out), &len, true, 1, h, 2, NULL), 2);
	assert_non_null(strstr(out, "Host: [ff15::efc0:988f]:6771\r\n"));
	assert_null(strstr(out, "cookie"));
	assert_int_equal(parse(out), 0);
	assert_int_equal(m.nhashes, 2);
	assert_false(m.has_cookie);
	assert_false(bt_lsd_is_own(&m, "p2pfs-1a2b"));

	/* bad arguments */
	assert_int_equal(
	    bt_lsd_build(out, sizeof(out), &len, false, 1, h, 0, NULL),
	    -EINVAL);
	assert_int_equal(
	    bt_lsd_build(out, sizeof(out), &len, false, 0, h, 1, NULL),
	    -EINVAL);
	assert_int_equal(
	    bt_lsd_build(out, sizeof(out), &len, false, 1, h, 1, "a b"),
	    -EINVAL);
	assert_int_equal(bt_lsd_build(out, 60, &len, false, 1, h, 1, NULL),
			 -EINVAL);
}

static void test_split(void **state)
{
	(void)state;
	uint8_t h[100][20];
	for (int i = 0; i < 100; i++)
		memset(h[i], i, 20);
	char out[4096];
	size_t len, done = 0;
	int msgs = 0;
	while (done < 100) {
		int k = bt_lsd_build(out, sizeof(out), &len, false, 6881,
				     h + done, 100 - done, "c00kie");
		assert_true(k > 0);
		assert_true(len <= BT_LSD_MAX_SEND);
		assert_int_equal(strlen(out), len);
		assert_int_equal(parse(out), 0);
		assert_int_equal(m.nhashes, (size_t)k);
		assert_memory_equal(m.hashes[0], h[done], 20);
		done += (size_t)k;
		msgs++;
	}
	/* 1400 bytes hold 25 hashes with this header and cookie */
	assert_int_equal(msgs, 4);
}

/* What python3-libtorrent 2.0.8 and aria2 1.36.0 multicast inside a test
 * namespace (tests/fuzz/corpus/lsd/ holds the same bytes). */
static void test_real_clients(void **state)
{
	(void)state;
	uint8_t ih[20];
	assert_int_equal(
	    pfs_unhex("4efe830e0e8b7aa3ec5607ba19c01a9d86eb17fb", ih, 20), 0);
	assert_int_equal(
	    parse("BT-SEARCH * HTTP/1.1\r\n"
		  "Host: 239.192.152.143:6771\r\n"
		  "Port: 6881\r\n"
		  "Infohash: 4efe830e0e8b7aa3ec5607ba19c01a9d86eb17fb\r\n"
		  "cookie: 4fa110e7\r\n"
		  "\r\n\r\n"),
	    0);
	assert_int_equal(m.port, 6881);
	assert_int_equal(m.nhashes, 1);
	assert_memory_equal(m.hashes[0], ih, 20);
	assert_string_equal(m.cookie, "4fa110e7");
	assert_int_equal(
	    parse("BT-SEARCH * HTTP/1.1\r\n"
		  "Host: 239.192.152.143:6771\r\n"
		  "Port: 6902\r\n"
		  "Infohash: 4efe830e0e8b7aa3ec5607ba19c01a9d86eb17fb\r\n"
		  "\r\n\r\n"),
	    0);
	assert_int_equal(m.port, 6902);
	assert_memory_equal(m.hashes[0], ih, 20);
	assert_false(m.has_cookie);
}

static void test_parse_variants(void **state)
{
	(void)state;
	/* LF only, header names in other cases, spaces, unknown headers,
	 * upper-case hex, a bad hash skipped, one repeated */
	assert_int_equal(
	    parse("BT-SEARCH * HTTP/1.1\n"
		  "HOST: 239.192.152.143:6771\n"
		  "X-Other: 1\n"
		  "infohash:   ABABABABABABABABABABABABABABABABABABABAB  \n"
		  "Infohash: zz\n"
		  "INFOHASH: abababababababababababababababababababab\n"
		  "port:\t51413\n"
		  "Cookie: 12345678\n"
		  "\n"),
	    0);
	assert_int_equal(m.port, 51413);
	assert_int_equal(m.nhashes, 1);
	assert_int_equal(m.nskipped, 1);
	assert_string_equal(m.cookie, "12345678");
	/* what follows the blank line is not read */
	assert_int_equal(
	    parse("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n"
		  "Infohash: abababababababababababababababababababab"
		  "\r\n"),
	    -EINVAL);
	/* more hashes than the cap (in the shortest form that fits in a
	 * datagram): the excess is counted */
	char big[BT_LSD_MAX_MSG + 1];
	int o = snprintf(big, sizeof(big), "BT-SEARCH * HTTP/1.1\nport:9\n");
	for (int i = 0; i < BT_LSD_MAX_HASHES + 1; i++) {
		assert_true((size_t)o + 51 < sizeof(big));
		o += snprintf(big + o, sizeof(big) - (size_t)o,
			      "infohash:%040x\n", i);
	}
	assert_int_equal(parse(big), 0);
	assert_int_equal(m.nhashes, BT_LSD_MAX_HASHES);
	assert_int_equal(m.nskipped, 1);
}

static void test_malformed(void **state)
{
	(void)state;
	const char ih[] =
	    "Infohash: abababababababababababababababababababab\r\n";
	char b[512];
	assert_int_equal(parse(""), -EINVAL);
	assert_int_equal(parse("M-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n"),
			 -EINVAL);
	assert_int_equal(parse("BT-SEARCH * HTTP/1.0\r\nPort: 1\r\n\r\n"),
			 -EINVAL);
	snprintf(b, sizeof(b), "BT-SEARCH * HTTP/1.1\r\n%s\r\n", ih);
	assert_int_equal(parse(b), -EINVAL); /* no port */
	const char *ports[] = {"0", "65536", "-1", "12a", "", "123456"};
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		snprintf(b, sizeof(b),
			 "BT-SEARCH * HTTP/1.1\r\nPort: %s\r\n%s\r\n", ports[i],
			 ih);
		assert_int_equal(parse(b), -EINVAL);
	}
	assert_int_equal(parse("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n"),
			 -EINVAL); /* no hash */
	/* NUL inside, and over the size cap */
	uint8_t nul[] = "BT-SEARCH * HTTP/1.1\r\nPort: 1\0\r\n";
	assert_int_equal(bt_lsd_parse(nul, sizeof(nul) - 1, &m, NULL, 0),
			 -EINVAL);
	static uint8_t huge[BT_LSD_MAX_MSG + 1];
	assert_int_equal(bt_lsd_parse(huge, sizeof(huge), &m, NULL, 0),
			 -EINVAL);
	/* a cookie over the cap is not kept */
	snprintf(b, sizeof(b),
		 "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n%scookie: "
		 "%070d\r\n\r\n",
		 ih, 1);
	assert_int_equal(parse(b), 0);
	assert_false(m.has_cookie);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build),
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_real_clients),
	    cmocka_unit_test(test_parse_variants),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
