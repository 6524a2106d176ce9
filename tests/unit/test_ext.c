/* Unit tests for bt_ext: the reserved bit; our handshake built and parsed
 * back; handshakes as libtorrent 2.0 and aria2 1.36 really sent them on
 * loopback (captured by tests/integration/test_ext_interop.sh); tolerance
 * of unknown keys and wrong-typed fields; the metadata_size cap; the
 * client name made printable and bounded; merging a later handshake;
 * malformed input refused with -EPROTO. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_ext.h"

static void parse_ok(const void *p, size_t len, struct bt_ext_hs *hs)
{
	char err[256];
	int rc = bt_ext_hs_parse(p, len, hs, err, sizeof(err));
	if (rc)
		fprintf(stderr, "parse: %s\n", err);
	assert_int_equal(rc, 0);
}

#define PARSE_OK(lit, hs) parse_ok(lit, sizeof(lit) - 1, hs)

static void test_reserved(void **state)
{
	(void)state;
	uint8_t r[8] = {0};
	assert_false(bt_ext_supported(r));
	r[7] = 0x04; /* fast */
	bt_ext_set_reserved(r);
	assert_true(bt_ext_supported(r));
	assert_int_equal(r[5], 0x10);
	assert_int_equal(r[7], 0x04);
}

static void test_ours_roundtrip(void **state)
{
	(void)state;
	struct bt_ext_hs hs, back;
	struct bt_addr peer;
	assert_int_equal(bt_addr_parse("127.0.30.7:51000", &peer), 0);
	bt_ext_hs_ours(&hs, true, 6881, 12345, 500, &peer, false);
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_ext_hs_build(&hs, &b), 0);
	/* the exact bytes: keys sorted, yourip without the port */
	const char want[] = "d1:md11:ut_metadatai2e6:ut_pexi1ee"
			    "13:metadata_sizei12345e1:pi6881e4:reqqi500e"
			    "11:upload_onlyi0e1:v11:p2pfs/" PFS_VERSION
			    "6:yourip4:\x7f\x00\x1e\x07"
			    "e";
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.buf, want, b.len);
	parse_ok(b.buf, b.len, &back);
	assert_int_equal(back.ids[BT_EXT_UT_METADATA], BT_EXT_OUR_UT_METADATA);
	assert_int_equal(back.ids[BT_EXT_UT_PEX], BT_EXT_OUR_UT_PEX);
	assert_int_equal(back.metadata_size, 12345);
	assert_int_equal(back.port, 6881);
	assert_int_equal(back.reqq, 500);
	assert_int_equal(back.upload_only, 0);
	assert_string_equal(back.client, "p2pfs/" PFS_VERSION);
	char a[BT_ADDR_STRLEN];
	back.yourip.port = 1;
	bt_addr_str(&back.yourip, a, sizeof(a));
	assert_string_equal(a, "127.0.30.7:1");
	bt_benc_release(&b);

	/* no PEX (private torrent), no dict yet, an IPv6 peer */
	assert_int_equal(bt_addr_parse("[2001:db8::1]:1", &peer), 0);
	bt_ext_hs_ours(&hs, false, 0, 0, 0, &peer, true);
	bt_benc_init(&b);
	assert_int_equal(bt_ext_hs_build(&hs, &b), 0);
	parse_ok(b.buf, b.len, &back);
	assert_int_equal(back.ids[BT_EXT_UT_PEX], -1);
	assert_int_equal(back.metadata_size, -1);
	assert_int_equal(back.port, -1);
	assert_int_equal(back.reqq, -1);
	assert_int_equal(back.upload_only, 1);
	assert_int_equal(back.yourip.family, BT_ADDR_V6);
	bt_benc_release(&b);
}

/* What python3-libtorrent 2.0.8 and aria2 1.36.0 sent to ext_probe on
 * loopback (tests/fuzz/corpus/ext/ holds the same bytes). */
static const char lt_hs[] =
    "d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e"
    "11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee"
    "13:metadata_sizei41138e4:reqqi2000e11:upload_onlyi1e"
    "1:v18:libtorrent/2.0.8.06:yourip4:\x7f\x00\x1e\x0b"
    "e";
static const char aria_hs[] = "d1:md11:ut_metadatai9e6:ut_pexi8ee"
			      "13:metadata_sizei41138e1:pi23003e"
			      "1:v12:aria2/1.36.0e";

static void test_real_clients(void **state)
{
	(void)state;
	struct bt_ext_hs hs;
	PARSE_OK(lt_hs, &hs);
	assert_int_equal(hs.ids[BT_EXT_UT_METADATA], 2);
	assert_int_equal(hs.ids[BT_EXT_UT_PEX], 1);
	assert_int_equal(hs.metadata_size, 41138);
	assert_int_equal(hs.reqq, 2000);
	assert_int_equal(hs.upload_only, 1);
	assert_int_equal(hs.port, -1); /* we had connected to it */
	assert_string_equal(hs.client, "libtorrent/2.0.8.0");
	char a[BT_ADDR_STRLEN];
	hs.yourip.port = 9;
	bt_addr_str(&hs.yourip, a, sizeof(a));
	assert_string_equal(a, "127.0.30.11:9");

	PARSE_OK(aria_hs, &hs);
	assert_int_equal(hs.ids[BT_EXT_UT_METADATA], 9);
	assert_int_equal(hs.ids[BT_EXT_UT_PEX], 8);
	assert_int_equal(hs.metadata_size, 41138);
	assert_int_equal(hs.port, 23003);
	assert_int_equal(hs.reqq, -1);
	assert_int_equal(hs.upload_only, -1);
	assert_int_equal(hs.yourip.family, 0);
	assert_string_equal(hs.client, "aria2/1.36.0");
}

static void test_fields_and_tolerance(void **state)
{
	(void)state;
	struct bt_ext_hs hs;
	/* unknown extensions and keys, ids out of range, wrong types */
	PARSE_OK("d1:ei1e4:ipv416:0123456789abcdef4:ipv64:abcd"
		 "1:md11:lt_donthavei7e11:ut_metadatai300e6:ut_pexi-1ee"
		 "13:metadata_size3:abc1:pi70000e4:reqqi0e1:vi5e"
		 "6:yourip5:abcdee",
		 &hs);
	assert_int_equal(hs.ids[BT_EXT_UT_METADATA], -1);
	assert_int_equal(hs.ids[BT_EXT_UT_PEX], -1);
	assert_int_equal(hs.metadata_size, -1);
	assert_int_equal(hs.port, -1);
	assert_int_equal(hs.reqq, -1);
	assert_string_equal(hs.client, "");
	assert_int_equal(hs.ipv4.family, 0);
	assert_int_equal(hs.ipv6.family, 0);
	assert_int_equal(hs.yourip.family, 0);

	/* disabled extension, the ip fields right */
	PARSE_OK("d4:ipv44:\x0a\x00\x00\x01"
		 "4:ipv616:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00"
		 "\x00\x00\x00\x09"
		 "1:md11:ut_metadatai0e6:ut_pexi255ee1:pi1e4:reqqi99999999ee",
		 &hs);
	assert_int_equal(hs.ids[BT_EXT_UT_METADATA], 0);
	assert_int_equal(hs.ids[BT_EXT_UT_PEX], 255);
	assert_int_equal(hs.port, 1);
	assert_int_equal(hs.reqq, BT_EXT_MAX_REQQ);
	assert_int_equal(hs.ipv4.family, BT_ADDR_V4);
	assert_int_equal(hs.ipv4.ip[0], 10);
	assert_int_equal(hs.ipv6.family, BT_ADDR_V6);
	assert_int_equal(hs.ipv6.ip[15], 9);

	/* metadata_size: 0 is "none", over the cap and negative refused */
	PARSE_OK("d13:metadata_sizei0ee", &hs);
	assert_int_equal(hs.metadata_size, -1);
	assert_int_equal(hs.metadata_size_refused, 0);
	PARSE_OK("d13:metadata_sizei16777217ee", &hs);
	assert_int_equal(hs.metadata_size, -1);
	assert_int_equal(hs.metadata_size_refused, 16777217);
	PARSE_OK("d13:metadata_sizei-5ee", &hs);
	assert_int_equal(hs.metadata_size_refused, -5);
	PARSE_OK("d13:metadata_sizei16777216ee", &hs);
	assert_int_equal(hs.metadata_size, BT_EXT_MAX_METADATA_SIZE);

	/* v: escapes and bad bytes become '?', long names are cut */
	PARSE_OK("d1:v12:ab\x1b[2J\xc2\x9b\xff\xc3\xa9xe", &hs);
	assert_string_equal(hs.client, "ab?[2J??\xc3\xa9x");
	char big[200];
	int o = snprintf(big, sizeof(big), "d1:v100:");
	memset(big + o, 'x', 100);
	big[o + 100] = 'e';
	parse_ok(big, (size_t)o + 101, &hs);
	assert_int_equal(strlen(hs.client), BT_EXT_MAX_CLIENT);
}

static void test_malformed(void **state)
{
	(void)state;
	struct bt_ext_hs hs;
	char err[256];
	const char *bad[] = {
	    "",
	    "i5e",
	    "l1:me",
	    "d1:md11:ut_metadatai1eeee", /* trailing byte */
	    "d1:md11:ut_metadatai1ee",	 /* truncated */
	    "d1:pi1e1:mdee",		 /* unsorted keys */
	    "d1:m",
	    "\x00\x01\x02",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(bt_ext_hs_parse((const uint8_t *)bad[i],
						 strlen(bad[i]), &hs, err,
						 sizeof(err)),
				 -EPROTO);
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
	/* the size cap comes before any decoding */
	static uint8_t huge[BT_EXT_MAX_HANDSHAKE_LEN + 1];
	assert_int_equal(
	    bt_ext_hs_parse(huge, sizeof(huge), &hs, err, sizeof(err)),
	    -EPROTO);
	assert_non_null(strstr(err, "over"));
	/* m of the wrong type is only ignored */
	PARSE_OK("d1:mi1e1:pi5ee", &hs);
	assert_int_equal(hs.port, 5);
}

static void test_merge(void **state)
{
	(void)state;
	struct bt_ext_hs st, upd;
	PARSE_OK("d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei100e"
		 "1:pi6881e4:reqqi250e1:v3:abce",
		 &st);
	/* a later handshake that only disables ut_pex and changes p */
	PARSE_OK("d1:md6:ut_pexi0ee1:pi7000ee", &upd);
	bt_ext_hs_merge(&st, &upd);
	assert_int_equal(st.ids[BT_EXT_UT_METADATA], 3);
	assert_int_equal(st.ids[BT_EXT_UT_PEX], 0);
	assert_int_equal(st.port, 7000);
	assert_int_equal(st.metadata_size, 100);
	assert_int_equal(st.reqq, 250);
	assert_string_equal(st.client, "abc");
	/* a refused size replaces a kept one */
	PARSE_OK("d13:metadata_sizei-1ee", &upd);
	bt_ext_hs_merge(&st, &upd);
	assert_int_equal(st.metadata_size, -1);
	assert_int_equal(st.metadata_size_refused, -1);
	PARSE_OK("d13:metadata_sizei200ee", &upd);
	bt_ext_hs_merge(&st, &upd);
	assert_int_equal(st.metadata_size, 200);
	assert_int_equal(st.metadata_size_refused, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reserved),
	    cmocka_unit_test(test_ours_roundtrip),
	    cmocka_unit_test(test_real_clients),
	    cmocka_unit_test(test_fields_and_tolerance),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
