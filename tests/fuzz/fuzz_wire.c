/* libFuzzer target for bt_wire_parse: the first 16 bytes choose the limits
 * (a consistent torrent geometry, or raw values to reach inconsistent
 * limits), the rest is parsed as a stream of messages the way a peer
 * connection consumes it. Every accepted message must be in range for the
 * limits, must re-encode with bt_wire_build to exactly the bytes it was
 * parsed from, and every proper prefix of it must parse as "incomplete". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_wire.h"

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static uint64_t piece_size(const struct bt_wire_limits *lim, uint32_t i)
{
	uint64_t start = (uint64_t)i * lim->piece_length;
	if (start >= lim->total_length)
		return 0;
	uint64_t rest = lim->total_length - start;
	return rest < lim->piece_length ? rest : lim->piece_length;
}

static void check_msg(const struct bt_wire_limits *lim, const uint8_t *buf,
		      size_t used, const struct bt_msg *m)
{
	CHECK(used >= 4 && used - 4 <= lim->max_msg_len);
	switch (m->type) {
	case BT_MSG_HAVE:
	case BT_MSG_SUGGEST:
	case BT_MSG_ALLOWED_FAST:
		CHECK(lim->metadata_pending || m->index < lim->npieces);
		break;
	case BT_MSG_REQUEST:
	case BT_MSG_CANCEL:
	case BT_MSG_REJECT:
		CHECK(!lim->metadata_pending);
		CHECK(m->index < lim->npieces);
		CHECK(m->length >= 1 && m->length <= BT_MAX_BLOCK_SIZE);
		CHECK((uint64_t)m->begin + m->length <=
		      piece_size(lim, m->index));
		break;
	case BT_MSG_PIECE:
		CHECK(!lim->metadata_pending);
		CHECK(m->index < lim->npieces && m->data_len > 0);
		CHECK((uint64_t)m->begin + m->data_len <=
		      piece_size(lim, m->index));
		break;
	case BT_MSG_BITFIELD:
		if (lim->metadata_pending) {
			CHECK(m->data_len > 0);
			break;
		}
		CHECK(m->data_len == ((uint64_t)lim->npieces + 7) / 8);
		for (uint64_t i = lim->npieces; i < (uint64_t)m->data_len * 8;
		     i++)
			CHECK(!bt_bit_get(m->data, (uint32_t)i));
		break;
	default:
		break;
	}
	if (m->data)
		CHECK(m->data >= buf && m->data + m->data_len <= buf + used);

	/* re-encode: identical bytes */
	uint8_t *out = malloc(used);
	CHECK(out);
	CHECK(bt_wire_build(out, used, m) == used);
	CHECK(memcmp(out, buf, used) == 0);
	free(out);

	/* every proper prefix is incomplete */
	struct bt_msg tmp;
	CHECK(bt_wire_parse(buf, used - 1, lim, &tmp) == 0);
	CHECK(bt_wire_parse(buf, used / 2, lim, &tmp) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 16)
		return 0;
	struct bt_wire_limits lim;
	uint8_t mode = data[0];
	if (mode & 1) {
		/* raw, possibly inconsistent limits */
		lim.npieces = rd32(data + 1) >> (data[5] & 31);
		lim.piece_length = rd32(data + 6) >> (data[10] & 31);
		lim.total_length = (uint64_t)rd32(data + 11) << (data[15] & 31);
	} else {
		/* a real torrent: 1..65536 pieces of 2^k bytes (16 B..16 MiB),
		 * last piece 1..piece_length bytes */
		lim.npieces = 1 + ((uint32_t)data[1] << 8 | data[2]);
		lim.piece_length = 16u << (data[3] % 21);
		uint32_t last = 1 + rd32(data + 4) % lim.piece_length;
		lim.total_length =
			(uint64_t)(lim.npieces - 1) * lim.piece_length + last;
	}
	if (mode & 2)
		lim.max_msg_len = rd32(data + 8) >> (data[12] & 31);
	else
		lim.max_msg_len = bt_wire_max_msg_len(lim.npieces);
	/* before the metadata: the geometry is not known */
	lim.metadata_pending = (mode & 4) != 0;

	const uint8_t *p = data + 16;
	size_t left = size - 16;
	for (;;) {
		struct bt_msg m;
		ssize_t r = bt_wire_parse(p, left, &lim, &m);
		CHECK(r <= (ssize_t)left);
		if (r <= 0)
			break;
		check_msg(&lim, p, (size_t)r, &m);
		p += r;
		left -= (size_t)r;
	}
	return 0;
}
