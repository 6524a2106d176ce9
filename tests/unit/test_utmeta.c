/* Unit tests for bt_utmeta: piece arithmetic at the 16 KiB boundaries,
 * build/parse round trips of request, data and reject, the messages
 * libtorrent and aria2 really sent (captured on loopback by
 * tests/integration/test_ext_interop.sh), and every malformed case:
 * missing or out-of-range fields, a data message whose bytes are not its
 * piece, trailing bytes after a request, unknown types passed through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_utmeta.h"

static void test_pieces(void **state)
{
	(void)state;
	assert_int_equal(bt_utmeta_npieces(0), 0);
	assert_int_equal(bt_utmeta_npieces(1), 1);
	assert_int_equal(bt_utmeta_npieces(16384), 1);
	assert_int_equal(bt_utmeta_npieces(16385), 2);
	assert_int_equal(bt_utmeta_npieces(BT_EXT_MAX_METADATA_SIZE),
			 BT_UTMETA_MAX_PIECES);
	assert_int_equal(bt_utmeta_piece_len(16385, 0), 16384);
	assert_int_equal(bt_utmeta_piece_len(16385, 1), 1);
	assert_int_equal(bt_utmeta_piece_len(16385, 2), 0);
	assert_int_equal(bt_utmeta_piece_len(32768, 1), 16384);
	assert_int_equal(bt_utmeta_piece_len(100, 0), 100);
	assert_int_equal(bt_utmeta_piece_len(0, 0), 0);
	assert_int_equal(bt_utmeta_piece_len(UINT32_MAX, UINT32_MAX), 0);
}

static void roundtrip(const struct bt_utmeta_msg *in, const char *want_head)
{
	static uint8_t buf[BT_UTMETA_MAX_HEADER + BT_UTMETA_PIECE_LEN];
	struct bt_utmeta_msg out;
	char err[200];
	size_t n = bt_utmeta_build(buf, sizeof(buf), in);
	assert_int_equal(n, strlen(want_head) + (in->data ? in->data_len : 0));
	assert_memory_equal(buf, want_head, strlen(want_head));
	assert_int_equal(bt_utmeta_parse(buf, n, &out, err, sizeof(err)), 0);
	assert_int_equal(out.type, in->type);
	assert_int_equal(out.piece, in->piece);
	assert_int_equal(out.total_size, in->total_size);
	assert_int_equal(out.data_len, in->data_len);
	if (in->data)
		assert_memory_equal(out.data, in->data, in->data_len);
	/* too small a buffer: nothing */
	assert_int_equal(bt_utmeta_build(buf, n - 1, in), 0);
}

static void test_roundtrip(void **state)
{
	(void)state;
	static uint8_t piece[BT_UTMETA_PIECE_LEN];
	for (size_t i = 0; i < sizeof(piece); i++)
		piece[i] = (uint8_t)(i * 7);
	roundtrip(
	    &(struct bt_utmeta_msg){.type = BT_UTMETA_REQUEST, .piece = 3},
	    "d8:msg_typei0e5:piecei3ee");
	roundtrip(
	    &(struct bt_utmeta_msg){.type = BT_UTMETA_REJECT, .piece = 1023},
	    "d8:msg_typei2e5:piecei1023ee");
	roundtrip(&(struct bt_utmeta_msg){.type = BT_UTMETA_DATA,
					  .piece = 1,
					  .total_size = 16384 + 5,
					  .data = piece,
					  .data_len = 5},
		  "d8:msg_typei1e5:piecei1e10:total_sizei16389ee");
	roundtrip(&(struct bt_utmeta_msg){.type = BT_UTMETA_DATA,
					  .piece = 0,
					  .total_size = 40000,
					  .data = piece,
					  .data_len = 16384},
		  "d8:msg_typei1e5:piecei0e10:total_sizei40000ee");
	/* a data header alone (the caller appends the bytes) */
	uint8_t buf[64];
	struct bt_utmeta_msg h = {.type = BT_UTMETA_DATA,
				  .piece = 0,
				  .total_size = 10,
				  .data_len = 10};
	assert_int_equal(bt_utmeta_build(buf, sizeof(buf), &h),
			 strlen("d8:msg_typei1e5:piecei0e10:total_sizei10ee"));
	/* unknown types are not encodable */
	h.type = 3;
	assert_int_equal(bt_utmeta_build(buf, sizeof(buf), &h), 0);
}

/* The dictionary libtorrent 2.0.8 and aria2 1.36.0 both put before the
 * short last piece of a 41,138-byte info dict (tests/fuzz/corpus/utmeta/
 * holds whole messages). */
static void test_real_clients(void **state)
{
	(void)state;
	static uint8_t buf[64 + 8370];
	const char h[] = "d8:msg_typei1e5:piecei2e10:total_sizei41138ee";
	memcpy(buf, h, sizeof(h) - 1);
	memset(buf + sizeof(h) - 1, 0x7c, 8370);
	struct bt_utmeta_msg m;
	assert_int_equal(
	    bt_utmeta_parse(buf, sizeof(h) - 1 + 8370, &m, NULL, 0), 0);
	assert_int_equal(m.type, BT_UTMETA_DATA);
	assert_int_equal(m.piece, 2);
	assert_int_equal(m.total_size, 41138);
	assert_int_equal(m.data_len, 8370);
	assert_ptr_equal(m.data, buf + sizeof(h) - 1);
	/* and our own build of it is the same dictionary */
	uint8_t out[64];
	m.data = NULL;
	assert_int_equal(bt_utmeta_build(out, sizeof(out), &m), sizeof(h) - 1);
	assert_memory_equal(out, h, sizeof(h) - 1);
}

static int parse(const char *s, size_t len, struct bt_utmeta_msg *m)
{
	char err[200];
	err[0] = 'x';
	int rc = bt_utmeta_parse((const uint8_t *)s, len, m, err, sizeof(err));
	if (rc)
		assert_true(err[0] && err[0] != 'x' && !strchr(err, '\n'));
	return rc;
}
#define P(lit, m) parse(lit, sizeof(lit) - 1, m)

static void test_malformed(void **state)
{
	(void)state;
	struct bt_utmeta_msg m;
	assert_int_equal(P("", &m), -EPROTO);
	assert_int_equal(P("le", &m), -EPROTO);
	assert_int_equal(P("d5:piecei0ee", &m), -EPROTO); /* type */
	assert_int_equal(P("d8:msg_typei-1e5:piecei0ee", &m), -EPROTO);
	assert_int_equal(P("d8:msg_type1:05:piecei0ee", &m), -EPROTO);
	assert_int_equal(P("d8:msg_typei0ee", &m), -EPROTO); /* piece */
	assert_int_equal(P("d8:msg_typei0e5:piecei-1ee", &m), -EPROTO);
	assert_int_equal(P("d8:msg_typei0e5:piecei1024ee", &m), -EPROTO);
	assert_int_equal(P("d8:msg_typei0e5:piecei1023ee", &m), 0);
	assert_int_equal(P("d8:msg_typei0e5:piecei0eeX", &m), -EPROTO);
	assert_int_equal(P("d8:msg_typei2e5:piecei0eeX", &m), -EPROTO);
	/* data: total_size missing, 0, over the cap */
	assert_int_equal(P("d8:msg_typei1e5:piecei0eeX", &m), -EPROTO);
	assert_int_equal(P("d8:msg_typei1e5:piecei0e10:total_sizei0eeX", &m),
			 -EPROTO);
	assert_int_equal(P("d8:msg_typei1e5:piecei0e10:total_sizei16777217ee"
			   "X",
			   &m),
			 -EPROTO);
	/* data: piece past the end, too few or too many bytes */
	assert_int_equal(P("d8:msg_typei1e5:piecei1e10:total_sizei3eeabc", &m),
			 -EPROTO);
	assert_int_equal(P("d8:msg_typei1e5:piecei0e10:total_sizei3eeab", &m),
			 -EPROTO);
	assert_int_equal(P("d8:msg_typei1e5:piecei0e10:total_sizei3eeabcd", &m),
			 -EPROTO);
	assert_int_equal(P("d8:msg_typei1e5:piecei0e10:total_sizei3eeabc", &m),
			 0);
	assert_int_equal(m.data_len, 3);
	assert_memory_equal(m.data, "abc", 3);
	/* extra keys are fine; an unknown type passes through */
	assert_int_equal(P("d3:fooi1e8:msg_typei1e5:piecei0e10:total_sizei1ee"
			   "z",
			   &m),
			 0);
	assert_int_equal(P("d8:msg_typei7e3:zzz1:xeTAIL", &m), 0);
	assert_int_equal(m.type, 7);
	assert_int_equal(m.data_len, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pieces),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_real_clients),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
