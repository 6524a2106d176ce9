/* Unit tests for bt_wire: handshake, a build/parse round trip of every
 * message type, each validation rule with bad input (sizes, indexes, block
 * ranges with 32-bit overflow, bitfield spare bits, max_msg_len), partial
 * buffers, a stream of back-to-back messages, and the max_msg_len bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_wire.h"

/* 10 pieces of 64 KiB, the last one 1000 bytes */
#define PL (64u * 1024)
#define NP 10u
#define TOTAL (9ull * PL + 1000)

static struct bt_wire_limits lim_default(void)
{
	struct bt_wire_limits lim = {
		.npieces = NP,
		.piece_length = PL,
		.total_length = TOTAL,
		.max_msg_len = bt_wire_max_msg_len(NP),
	};
	return lim;
}

static size_t put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

/* Frame a message: length prefix, id, payload. */
static size_t frame(uint8_t *out, uint8_t id, const void *payload, size_t n)
{
	put_be32(out, (uint32_t)(n + 1));
	out[4] = id;
	if (n)
		memcpy(out + 5, payload, n);
	return n + 5;
}

/* Frame a message with three 32-bit fields (request/cancel/reject). */
static size_t frame3(uint8_t *out, uint8_t id, uint32_t a, uint32_t b,
		     uint32_t c)
{
	uint8_t p[12];
	put_be32(p, a);
	put_be32(p + 4, b);
	put_be32(p + 8, c);
	return frame(out, id, p, sizeof(p));
}

static ssize_t parse_all(const uint8_t *buf, size_t len, struct bt_msg *m)
{
	struct bt_wire_limits lim = lim_default();
	return bt_wire_parse(buf, len, &lim, m);
}

/* Build MSG, check every shorter prefix parses to 0, parse it back. */
static void roundtrip(const struct bt_msg *in, struct bt_msg *out,
		      size_t expect_len)
{
	static uint8_t buf[300 * 1024];
	struct bt_wire_limits lim = lim_default();
	size_t n = bt_wire_build(buf, sizeof(buf), in);
	assert_int_equal(n, expect_len);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bt_wire_parse(buf, i, &lim, out), 0);
	assert_int_equal(bt_wire_parse(buf, n, &lim, out), (ssize_t)n);
	assert_int_equal(out->type, in->type);
	/* too small a buffer for build */
	assert_int_equal(bt_wire_build(buf, n - 1, in), 0);
}

static void test_handshake(void **state)
{
	(void)state;
	uint8_t hs[BT_HANDSHAKE_LEN], res[8], ih[20], pid[20];
	uint8_t r_in[8] = {0, 0, 0, 0, 0, 0x10, 0, 0x05};
	uint8_t ih_in[20], pid_in[20];
	for (int i = 0; i < 20; i++) {
		ih_in[i] = (uint8_t)i;
		pid_in[i] = (uint8_t)(0xa0 + i);
	}
	bt_wire_handshake(hs, r_in, ih_in, pid_in);
	assert_int_equal(hs[0], 19);
	assert_memory_equal(hs + 1, "BitTorrent protocol", 19);
	assert_int_equal(bt_wire_handshake_parse(hs, res, ih, pid), 0);
	assert_memory_equal(res, r_in, 8);
	assert_memory_equal(ih, ih_in, 20);
	assert_memory_equal(pid, pid_in, 20);

	hs[0] = 18;
	assert_int_equal(bt_wire_handshake_parse(hs, res, ih, pid), -EPROTO);
	hs[0] = 19;
	hs[5] = 't';
	assert_int_equal(bt_wire_handshake_parse(hs, res, ih, pid), -EPROTO);
}

static void test_roundtrip_simple(void **state)
{
	(void)state;
	static const int types[] = {BT_MSG_CHOKE,	  BT_MSG_UNCHOKE,
				    BT_MSG_INTERESTED,	  BT_MSG_NOT_INTERESTED,
				    BT_MSG_HAVE_ALL,	  BT_MSG_HAVE_NONE};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct bt_msg in = {.type = types[i]}, out;
		roundtrip(&in, &out, 5);
		assert_null(out.data);
		assert_int_equal(out.data_len, 0);
	}
}

static void test_keepalive(void **state)
{
	(void)state;
	uint8_t buf[8];
	struct bt_msg in = {.type = BT_MSG_KEEPALIVE}, out;
	assert_int_equal(bt_wire_build(buf, 3, &in), 0);
	assert_int_equal(bt_wire_build(buf, sizeof(buf), &in), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_int_equal(parse_all(buf, 3, &out), 0);
	assert_int_equal(parse_all(buf, 4, &out), 4);
	assert_int_equal(out.type, BT_MSG_KEEPALIVE);
}

static void test_roundtrip_index(void **state)
{
	(void)state;
	static const int types[] = {BT_MSG_HAVE, BT_MSG_SUGGEST,
				    BT_MSG_ALLOWED_FAST};
	for (size_t i = 0; i < 3; i++) {
		struct bt_msg in = {.type = types[i], .index = NP - 1}, out;
		roundtrip(&in, &out, 9);
		assert_int_equal(out.index, NP - 1);

		uint8_t buf[16];
		in.index = NP; /* out of range */
		assert_int_equal(bt_wire_build(buf, sizeof(buf), &in), 9);
		assert_int_equal(parse_all(buf, 9, &out), -EPROTO);
		in.index = UINT32_MAX;
		bt_wire_build(buf, sizeof(buf), &in);
		assert_int_equal(parse_all(buf, 9, &out), -EPROTO);
	}
}

static void test_roundtrip_block_msgs(void **state)
{
	(void)state;
	static const int types[] = {BT_MSG_REQUEST, BT_MSG_CANCEL,
				    BT_MSG_REJECT};
	for (size_t i = 0; i < 3; i++) {
		struct bt_msg in = {.type = types[i],
				    .index = 3,
				    .begin = 2 * BT_BLOCK_SIZE,
				    .length = BT_BLOCK_SIZE},
			      out;
		roundtrip(&in, &out, 17);
		assert_int_equal(out.index, 3);
		assert_int_equal(out.begin, 2 * BT_BLOCK_SIZE);
		assert_int_equal(out.length, BT_BLOCK_SIZE);

		/* the whole short last piece */
		in.index = NP - 1;
		in.begin = 0;
		in.length = 1000;
		roundtrip(&in, &out, 17);
		assert_int_equal(out.length, 1000);
		/* a maximal block (piece is 64 KiB) */
		in.index = 0;
		in.length = PL;
		roundtrip(&in, &out, 17);
	}
}

static void test_block_validation(void **state)
{
	(void)state;
	static const uint8_t ids[] = {BT_MSG_REQUEST, BT_MSG_CANCEL,
				      BT_MSG_REJECT};
	uint8_t buf[64];
	struct bt_msg m;
	for (size_t i = 0; i < 3; i++) {
		uint8_t id = ids[i];
		/* zero length */
		size_t n = frame3(buf, id, 0, 0, 0);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		/* index out of range */
		n = frame3(buf, id, NP, 0, BT_BLOCK_SIZE);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		/* crosses the end of a full piece */
		n = frame3(buf, id, 0, PL - BT_BLOCK_SIZE + 1, BT_BLOCK_SIZE);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		/* exactly at the end is fine */
		n = frame3(buf, id, 0, PL - BT_BLOCK_SIZE, BT_BLOCK_SIZE);
		assert_int_equal(parse_all(buf, n, &m), (ssize_t)n);
		/* crosses the end of the short last piece */
		n = frame3(buf, id, NP - 1, 0, 1001);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		n = frame3(buf, id, NP - 1, 999, 2);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		n = frame3(buf, id, NP - 1, 999, 1);
		assert_int_equal(parse_all(buf, n, &m), (ssize_t)n);
		/* begin + length wraps in 32 bits */
		n = frame3(buf, id, 0, UINT32_MAX - 10, 100);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		n = frame3(buf, id, 0, UINT32_MAX, 1);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		/* longer than BT_MAX_BLOCK_SIZE (also wraps) */
		n = frame3(buf, id, 0, 0, UINT32_MAX);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		/* wrong payload sizes */
		uint8_t p[13] = {0};
		p[11] = 1;
		n = frame(buf, id, p, 11);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		n = frame(buf, id, p, 13);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
	}
}

static void test_max_block(void **state)
{
	(void)state;
	/* a torrent with 1 MiB pieces: requests up to BT_MAX_BLOCK_SIZE */
	struct bt_wire_limits lim = {.npieces = 4,
				     .piece_length = 1u << 20,
				     .total_length = 4ull << 20,
				     .max_msg_len = bt_wire_max_msg_len(4)};
	uint8_t buf[32];
	struct bt_msg m;
	size_t n = frame3(buf, BT_MSG_REQUEST, 1, 0, BT_MAX_BLOCK_SIZE);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), (ssize_t)n);
	assert_int_equal(m.length, BT_MAX_BLOCK_SIZE);
	n = frame3(buf, BT_MSG_REQUEST, 1, 0, BT_MAX_BLOCK_SIZE + 1);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), -EPROTO);
}

static void test_piece(void **state)
{
	(void)state;
	static uint8_t data[BT_BLOCK_SIZE];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	struct bt_msg in = {.type = BT_MSG_PIECE,
			    .index = 2,
			    .begin = BT_BLOCK_SIZE,
			    .data = data,
			    .data_len = sizeof(data)},
		      out;
	roundtrip(&in, &out, 13 + sizeof(data));
	assert_int_equal(out.index, 2);
	assert_int_equal(out.begin, BT_BLOCK_SIZE);
	assert_int_equal(out.data_len, sizeof(data));
	assert_memory_equal(out.data, data, sizeof(data));

	/* header only when data is NULL; the caller appends the block */
	static uint8_t buf[13 + BT_BLOCK_SIZE];
	in.data = NULL;
	assert_int_equal(bt_wire_build(buf, 13, &in), 13);
	memcpy(buf + 13, data, sizeof(data));
	assert_int_equal(parse_all(buf, sizeof(buf), &out), (ssize_t)sizeof(buf));
	assert_memory_equal(out.data, data, sizeof(data));

	/* last piece, last byte */
	uint8_t small[32];
	uint8_t b = 0x42;
	struct bt_msg last = {.type = BT_MSG_PIECE,
			      .index = NP - 1,
			      .begin = 999,
			      .data = &b,
			      .data_len = 1};
	roundtrip(&last, &out, 14);
	assert_int_equal(out.data[0], 0x42);

	/* empty block */
	struct bt_msg empty = {.type = BT_MSG_PIECE, .index = 1, .begin = 0};
	size_t n = bt_wire_build(small, sizeof(small), &empty);
	assert_int_equal(n, 13);
	assert_int_equal(parse_all(small, n, &out), -EPROTO);
	/* shorter than index + begin */
	uint8_t p[7] = {0};
	n = frame(small, BT_MSG_PIECE, p, 7);
	assert_int_equal(parse_all(small, n, &out), -EPROTO);
	/* past the short last piece */
	last.begin = 1000;
	n = bt_wire_build(small, sizeof(small), &last);
	assert_int_equal(parse_all(small, n, &out), -EPROTO);
	/* index out of range */
	last.index = NP;
	last.begin = 0;
	n = bt_wire_build(small, sizeof(small), &last);
	assert_int_equal(parse_all(small, n, &out), -EPROTO);
	/* begin wraps */
	last.index = 0;
	last.begin = UINT32_MAX;
	n = bt_wire_build(small, sizeof(small), &last);
	assert_int_equal(parse_all(small, n, &out), -EPROTO);
	/* block crossing the end of a full piece */
	in.index = 0;
	in.begin = PL - BT_BLOCK_SIZE + 1;
	in.data = data;
	n = bt_wire_build(buf, sizeof(buf), &in);
	assert_int_equal(n, sizeof(buf));
	assert_int_equal(parse_all(buf, n, &out), -EPROTO);
}

static void test_bitfield(void **state)
{
	(void)state;
	/* 10 pieces: 2 bytes, 6 spare bits */
	uint8_t bf[2] = {0};
	bt_bit_set(bf, 0);
	bt_bit_set(bf, 9);
	assert_int_equal(bf[0], 0x80);
	assert_int_equal(bf[1], 0x40);
	assert_true(bt_bit_get(bf, 9));
	assert_false(bt_bit_get(bf, 8));
	struct bt_msg in = {.type = BT_MSG_BITFIELD, .data = bf, .data_len = 2},
		      out;
	roundtrip(&in, &out, 7);
	assert_int_equal(out.data_len, 2);
	assert_memory_equal(out.data, bf, 2);

	uint8_t buf[32];
	size_t n;
	/* each spare bit set */
	for (int bit = 0; bit < 6; bit++) {
		uint8_t bad[2] = {0xff, (uint8_t)(0xc0 | (1u << bit))};
		n = frame(buf, BT_MSG_BITFIELD, bad, 2);
		assert_int_equal(parse_all(buf, n, &out), -EPROTO);
	}
	/* all valid bits set */
	uint8_t full[2] = {0xff, 0xc0};
	n = frame(buf, BT_MSG_BITFIELD, full, 2);
	assert_int_equal(parse_all(buf, n, &out), (ssize_t)n);
	/* wrong sizes */
	uint8_t three[3] = {0};
	n = frame(buf, BT_MSG_BITFIELD, three, 1);
	assert_int_equal(parse_all(buf, n, &out), -EPROTO);
	n = frame(buf, BT_MSG_BITFIELD, three, 3);
	assert_int_equal(parse_all(buf, n, &out), -EPROTO);
	n = frame(buf, BT_MSG_BITFIELD, NULL, 0);
	assert_int_equal(parse_all(buf, n, &out), -EPROTO);

	/* a multiple of 8 pieces has no spare bits */
	struct bt_wire_limits lim = {.npieces = 16,
				     .piece_length = PL,
				     .total_length = 16ull * PL,
				     .max_msg_len = bt_wire_max_msg_len(16)};
	uint8_t ff[2] = {0xff, 0xff};
	n = frame(buf, BT_MSG_BITFIELD, ff, 2);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &out), (ssize_t)n);
	bt_bit_clear(ff, 15);
	assert_int_equal(ff[1], 0xfe);
}

static void test_port(void **state)
{
	(void)state;
	struct bt_msg in = {.type = BT_MSG_PORT, .port = 0xc8d5}, out;
	roundtrip(&in, &out, 7);
	assert_int_equal(out.port, 0xc8d5);
	uint8_t buf[16], p[3] = {1, 2, 3};
	size_t n = frame(buf, BT_MSG_PORT, p, 3);
	assert_int_equal(parse_all(buf, n, &out), -EPROTO);
	n = frame(buf, BT_MSG_PORT, p, 1);
	assert_int_equal(parse_all(buf, n, &out), -EPROTO);
}

static void test_extended(void **state)
{
	(void)state;
	const char *hs = "d1:md11:ut_metadatai3eee";
	struct bt_msg in = {.type = BT_MSG_EXTENDED,
			    .ext_id = 0,
			    .data = (const uint8_t *)hs,
			    .data_len = strlen(hs)},
		      out;
	roundtrip(&in, &out, 6 + strlen(hs));
	assert_int_equal(out.ext_id, 0);
	assert_int_equal(out.data_len, strlen(hs));
	assert_memory_equal(out.data, hs, strlen(hs));

	/* ext id with empty data */
	struct bt_msg e = {.type = BT_MSG_EXTENDED, .ext_id = 3};
	roundtrip(&e, &out, 6);
	assert_int_equal(out.ext_id, 3);
	assert_int_equal(out.data_len, 0);

	/* the largest extended message fits max_msg_len */
	static uint8_t big[BT_WIRE_MAX_EXT_LEN];
	memset(big, 'x', sizeof(big));
	struct bt_msg b = {.type = BT_MSG_EXTENDED,
			   .ext_id = 2,
			   .data = big,
			   .data_len = sizeof(big)};
	roundtrip(&b, &out, 6 + sizeof(big));
	assert_int_equal(out.ext_id, 2);
	assert_int_equal(out.data_len, sizeof(big));

	/* no ext id byte */
	uint8_t buf[8];
	size_t n = frame(buf, BT_MSG_EXTENDED, NULL, 0);
	assert_int_equal(parse_all(buf, n, &out), -EPROTO);
}

static void test_fixed_sizes(void **state)
{
	(void)state;
	uint8_t buf[32], p[8] = {0};
	struct bt_msg m;
	static const uint8_t zero[] = {BT_MSG_CHOKE,	      BT_MSG_UNCHOKE,
				       BT_MSG_INTERESTED,     BT_MSG_NOT_INTERESTED,
				       BT_MSG_HAVE_ALL,	      BT_MSG_HAVE_NONE};
	for (size_t i = 0; i < sizeof(zero); i++) {
		size_t n = frame(buf, zero[i], p, 1);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
	}
	static const uint8_t four[] = {BT_MSG_HAVE, BT_MSG_SUGGEST,
				       BT_MSG_ALLOWED_FAST};
	for (size_t i = 0; i < sizeof(four); i++) {
		size_t n = frame(buf, four[i], p, 3);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		n = frame(buf, four[i], p, 5);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		n = frame(buf, four[i], p, 0);
		assert_int_equal(parse_all(buf, n, &m), -EPROTO);
		n = frame(buf, four[i], p, 4);
		assert_int_equal(parse_all(buf, n, &m), (ssize_t)n);
	}
}

static void test_unknown(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct bt_msg m;
	size_t n = frame(buf, 0x42, "abc", 3);
	assert_int_equal(parse_all(buf, n, &m), (ssize_t)n);
	assert_int_equal(m.type, 0x42);
	assert_int_equal(m.data_len, 3);
	assert_memory_equal(m.data, "abc", 3);
	/* an unknown id builds as id + data */
	struct bt_msg in = {.type = 0x42,
			    .data = (const uint8_t *)"abc",
			    .data_len = 3},
		      out;
	roundtrip(&in, &out, 8);
	assert_memory_equal(out.data, "abc", 3);
	/* unencodable types */
	struct bt_msg bad = {.type = 256};
	assert_int_equal(bt_wire_build(buf, sizeof(buf), &bad), 0);
	bad.type = -2;
	assert_int_equal(bt_wire_build(buf, sizeof(buf), &bad), 0);
}

static void test_build_overflow(void **state)
{
	(void)state;
	uint8_t buf[32];
	/* data_len that does not fit the 32-bit length prefix */
	struct bt_msg m = {.type = BT_MSG_PIECE, .data_len = UINT32_MAX - 8};
	assert_int_equal(bt_wire_build(buf, sizeof(buf), &m), 0);
	m.data_len = UINT32_MAX - 9; /* 9 + len == UINT32_MAX */
	assert_int_equal(bt_wire_build(buf, sizeof(buf), &m), 13);
	m.type = BT_MSG_BITFIELD;
	m.data_len = UINT32_MAX;
	assert_int_equal(bt_wire_build(buf, sizeof(buf), &m), 0);
	m.type = BT_MSG_EXTENDED;
	m.data_len = (size_t)UINT32_MAX - 1;
	assert_int_equal(bt_wire_build(buf, sizeof(buf), &m), 0);
	/* headers used by the engine fit 17 bytes */
	struct bt_msg r = {.type = BT_MSG_REQUEST, .length = 1};
	assert_int_equal(bt_wire_build(buf, 17, &r), 17);
}

static void test_max_msg_len(void **state)
{
	(void)state;
	/* small torrents: the block message dominates */
	assert_true(bt_wire_max_msg_len(0) >= 9 + BT_MAX_BLOCK_SIZE);
	assert_true(bt_wire_max_msg_len(10) >= 2 + BT_WIRE_MAX_EXT_LEN);
	assert_int_equal(bt_wire_max_msg_len(10), bt_wire_max_msg_len(1));
	/* a huge bitfield dominates */
	uint32_t np = 8u * 1024 * 1024 + 3;
	assert_int_equal(bt_wire_max_msg_len(np), 1 + (np + 7) / 8);
	assert_int_equal(bt_wire_max_msg_len(UINT32_MAX),
			 1 + ((uint64_t)UINT32_MAX + 7) / 8);

	/* a length prefix over the limit fails as soon as it is read */
	struct bt_wire_limits lim = lim_default();
	uint8_t buf[8];
	struct bt_msg m;
	put_be32(buf, lim.max_msg_len + 1);
	buf[4] = BT_MSG_PIECE;
	assert_int_equal(bt_wire_parse(buf, 4, &lim, &m), -EPROTO);
	assert_int_equal(bt_wire_parse(buf, 3, &lim, &m), 0);
	put_be32(buf, UINT32_MAX);
	assert_int_equal(bt_wire_parse(buf, 5, &lim, &m), -EPROTO);
	/* exactly the limit is only incomplete */
	put_be32(buf, lim.max_msg_len);
	assert_int_equal(bt_wire_parse(buf, 8, &lim, &m), 0);
	/* a custom small limit */
	lim.max_msg_len = 4;
	uint8_t have[9];
	frame(have, BT_MSG_HAVE, "\0\0\0\1", 4);
	assert_int_equal(bt_wire_parse(have, 9, &lim, &m), -EPROTO);
	lim.max_msg_len = 5;
	assert_int_equal(bt_wire_parse(have, 9, &lim, &m), 9);
}

static void test_inconsistent_limits(void **state)
{
	(void)state;
	/* limits with total < npieces * piece_length: blocks in pieces past
	 * the end are rejected, never accepted */
	struct bt_wire_limits lim = {.npieces = 4,
				     .piece_length = PL,
				     .total_length = PL,
				     .max_msg_len = bt_wire_max_msg_len(4)};
	uint8_t buf[32];
	struct bt_msg m;
	size_t n = frame3(buf, BT_MSG_REQUEST, 2, 0, 1);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), -EPROTO);
	n = frame3(buf, BT_MSG_REQUEST, 0, 0, 1);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), (ssize_t)n);
	/* zero pieces: every index is out of range */
	struct bt_wire_limits none = {.max_msg_len = bt_wire_max_msg_len(0)};
	n = frame(buf, BT_MSG_HAVE, "\0\0\0\0", 4);
	assert_int_equal(bt_wire_parse(buf, n, &none, &m), -EPROTO);
	n = frame3(buf, BT_MSG_REQUEST, 0, 0, 1);
	assert_int_equal(bt_wire_parse(buf, n, &none, &m), -EPROTO);
}

/* Before the metadata: bitfields of any size and haves of any index pass
 * (the caller checks them later); messages about blocks do not. */
static void test_metadata_pending(void **state)
{
	(void)state;
	struct bt_wire_limits lim = {.max_msg_len = bt_wire_max_msg_len(0),
				     .metadata_pending = true};
	uint8_t buf[64], bf[5] = {0xff, 0, 0, 0, 0x01};
	struct bt_msg m;
	size_t n = frame(buf, BT_MSG_BITFIELD, bf, sizeof(bf));
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), (ssize_t)n);
	assert_int_equal(m.data_len, 5);
	n = frame(buf, BT_MSG_BITFIELD, NULL, 0);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), -EPROTO);
	n = frame(buf, BT_MSG_HAVE, "\x7f\xff\xff\xff", 4);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), (ssize_t)n);
	assert_int_equal(m.index, 0x7fffffff);
	n = frame(buf, BT_MSG_ALLOWED_FAST, "\0\0\0\x09", 4);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), (ssize_t)n);
	n = frame(buf, BT_MSG_HAVE_ALL, NULL, 0);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), (ssize_t)n);
	uint8_t ext[3] = {0, 'd', 'e'};
	n = frame(buf, BT_MSG_EXTENDED, ext, 3);
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), (ssize_t)n);
	static const uint8_t ids[] = {BT_MSG_REQUEST, BT_MSG_CANCEL,
				      BT_MSG_REJECT};
	for (size_t i = 0; i < sizeof(ids); i++) {
		n = frame3(buf, ids[i], 0, 0, 16);
		assert_int_equal(bt_wire_parse(buf, n, &lim, &m), -EPROTO);
	}
	uint8_t piece[8 + 4] = {0};
	n = frame(buf, BT_MSG_PIECE, piece, sizeof(piece));
	assert_int_equal(bt_wire_parse(buf, n, &lim, &m), -EPROTO);
	/* the length bound holds as ever */
	put_be32(buf, lim.max_msg_len + 1);
	assert_int_equal(bt_wire_parse(buf, 4, &lim, &m), -EPROTO);
}

static void test_stream(void **state)
{
	(void)state;
	/* several messages back to back, consumed one at a time, with the
	 * stream cut at every byte */
	uint8_t stream[256];
	size_t len = 0;
	uint8_t bf[2] = {0xff, 0xc0};
	uint8_t blk[5] = {1, 2, 3, 4, 5};
	struct bt_msg msgs[] = {
		{.type = BT_MSG_BITFIELD, .data = bf, .data_len = 2},
		{.type = BT_MSG_KEEPALIVE},
		{.type = BT_MSG_UNCHOKE},
		{.type = BT_MSG_REQUEST, .index = 1, .begin = 0, .length = 5},
		{.type = BT_MSG_PIECE,
		 .index = 1,
		 .begin = 0,
		 .data = blk,
		 .data_len = 5},
		{.type = BT_MSG_HAVE, .index = 7},
		{.type = BT_MSG_EXTENDED,
		 .ext_id = 1,
		 .data = (const uint8_t *)"de",
		 .data_len = 2},
	};
	size_t nmsgs = sizeof(msgs) / sizeof(msgs[0]);
	for (size_t i = 0; i < nmsgs; i++) {
		size_t n = bt_wire_build(stream + len, sizeof(stream) - len,
					 &msgs[i]);
		assert_true(n > 0);
		len += n;
	}
	for (size_t cut = 0; cut <= len; cut++) {
		size_t off = 0, got = 0;
		struct bt_msg m;
		ssize_t r;
		while ((r = parse_all(stream + off, cut - off, &m)) > 0) {
			assert_int_equal(m.type, msgs[got].type);
			off += (size_t)r;
			got++;
		}
		assert_int_equal(r, 0);
		if (cut == len)
			assert_int_equal(got, nmsgs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_roundtrip_simple),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_roundtrip_index),
		cmocka_unit_test(test_roundtrip_block_msgs),
		cmocka_unit_test(test_block_validation),
		cmocka_unit_test(test_max_block),
		cmocka_unit_test(test_piece),
		cmocka_unit_test(test_bitfield),
		cmocka_unit_test(test_port),
		cmocka_unit_test(test_extended),
		cmocka_unit_test(test_fixed_sizes),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_build_overflow),
		cmocka_unit_test(test_max_msg_len),
		cmocka_unit_test(test_inconsistent_limits),
		cmocka_unit_test(test_metadata_pending),
		cmocka_unit_test(test_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
