/* bt_wire — BitTorrent peer wire codec (BEP 3, BEP 6 ids, BEP 10 id 20).
 *
 * Pure functions over byte buffers: bt_wire_parse() validates one framed
 * message against the torrent geometry in struct bt_wire_limits and
 * bt_wire_build() encodes one. All range checks are done in 64-bit
 * arithmetic so hostile 32-bit fields (begin + length) cannot wrap. No
 * allocation, no state, no I/O; see bt_wire.h for the contract. */
#include "bt_wire.h"

#include <errno.h>
#include <string.h>

static const char bt_proto[] = "BitTorrent protocol";
#define BT_PROTO_LEN 19

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

uint32_t bt_wire_max_msg_len(uint32_t npieces)
{
	/* Length-prefix values (id byte + payload) of the largest messages we
	 * accept: a piece message carrying a BT_MAX_BLOCK_SIZE block, a full
	 * bitfield, an extended message with BT_WIRE_MAX_EXT_LEN data. */
	uint64_t block = 9ull + BT_MAX_BLOCK_SIZE;
	uint64_t bitfield = 1ull + ((uint64_t)npieces + 7) / 8;
	uint64_t ext = 2ull + BT_WIRE_MAX_EXT_LEN;
	uint64_t m = block;
	if (bitfield > m)
		m = bitfield;
	if (ext > m)
		m = ext;
	/* npieces <= UINT32_MAX keeps the bitfield under 2^29 + 1 */
	return (uint32_t)m;
}

void bt_wire_handshake(uint8_t out[BT_HANDSHAKE_LEN], const uint8_t reserved[8],
		       const uint8_t info_hash[20], const uint8_t peer_id[20])
{
	out[0] = BT_PROTO_LEN;
	memcpy(out + 1, bt_proto, BT_PROTO_LEN);
	memcpy(out + 20, reserved, 8);
	memcpy(out + 28, info_hash, 20);
	memcpy(out + 48, peer_id, 20);
}

int bt_wire_handshake_parse(const uint8_t in[BT_HANDSHAKE_LEN],
			    uint8_t reserved[8], uint8_t info_hash[20],
			    uint8_t peer_id[20])
{
	if (in[0] != BT_PROTO_LEN || memcmp(in + 1, bt_proto, BT_PROTO_LEN))
		return -EPROTO;
	memcpy(reserved, in + 20, 8);
	memcpy(info_hash, in + 28, 20);
	memcpy(peer_id, in + 48, 20);
	return 0;
}

/* Size of piece INDEX (the last one may be short); 0 when the limits are
 * inconsistent, which makes every block in it out of range. */
static uint64_t piece_size(const struct bt_wire_limits *lim, uint32_t index)
{
	uint64_t start = (uint64_t)index * lim->piece_length;
	if (start >= lim->total_length)
		return 0;
	uint64_t rest = lim->total_length - start;
	return rest < lim->piece_length ? rest : lim->piece_length;
}

/* begin + len (both < 2^32, summed in 64 bits) must lie inside the piece. */
static bool block_ok(const struct bt_wire_limits *lim, uint32_t index,
		     uint32_t begin, uint64_t len)
{
	return !lim->metadata_pending && index < lim->npieces && len > 0 &&
	       (uint64_t)begin + len <= piece_size(lim, index);
}

static bool bitfield_ok(const struct bt_wire_limits *lim, const uint8_t *bf,
			size_t len)
{
	if (lim->metadata_pending)
		return len > 0;
	return len == bt_bitfield_len(lim->npieces) &&
	       bt_bitfield_spare_clear(bf, lim->npieces);
}

ssize_t bt_wire_parse(const uint8_t *buf, size_t len,
		      const struct bt_wire_limits *lim, struct bt_msg *msg)
{
	if (len < 4)
		return 0;
	uint32_t mlen = get32(buf);
	/* checked before waiting for the body: never buffer an oversized
	 * message */
	if (mlen > lim->max_msg_len)
		return -EPROTO;
	if (len - 4 < mlen)
		return 0;

	memset(msg, 0, sizeof(*msg));
	if (mlen == 0) {
		msg->type = BT_MSG_KEEPALIVE;
		return 4;
	}
	uint8_t id = buf[4];
	const uint8_t *p = buf + 5;
	size_t plen = mlen - 1;
	msg->type = id;

	switch (id) {
	case BT_MSG_CHOKE:
	case BT_MSG_UNCHOKE:
	case BT_MSG_INTERESTED:
	case BT_MSG_NOT_INTERESTED:
	case BT_MSG_HAVE_ALL:
	case BT_MSG_HAVE_NONE:
		if (plen != 0)
			return -EPROTO;
		break;
	case BT_MSG_HAVE:
	case BT_MSG_SUGGEST:
	case BT_MSG_ALLOWED_FAST:
		if (plen != 4)
			return -EPROTO;
		msg->index = get32(p);
		if (!lim->metadata_pending && msg->index >= lim->npieces)
			return -EPROTO;
		break;
	case BT_MSG_BITFIELD:
		if (!bitfield_ok(lim, p, plen))
			return -EPROTO;
		msg->data = p;
		msg->data_len = plen;
		break;
	case BT_MSG_REQUEST:
	case BT_MSG_CANCEL:
	case BT_MSG_REJECT:
		if (plen != 12)
			return -EPROTO;
		msg->index = get32(p);
		msg->begin = get32(p + 4);
		msg->length = get32(p + 8);
		if (msg->length > BT_MAX_BLOCK_SIZE ||
		    !block_ok(lim, msg->index, msg->begin, msg->length))
			return -EPROTO;
		break;
	case BT_MSG_PIECE:
		if (plen < 8)
			return -EPROTO;
		msg->index = get32(p);
		msg->begin = get32(p + 4);
		msg->data = p + 8;
		msg->data_len = plen - 8;
		if (!block_ok(lim, msg->index, msg->begin, msg->data_len))
			return -EPROTO;
		break;
	case BT_MSG_PORT:
		if (plen != 2)
			return -EPROTO;
		msg->port = (uint16_t)(p[0] << 8 | p[1]);
		break;
	case BT_MSG_EXTENDED:
		if (plen < 1)
			return -EPROTO;
		msg->ext_id = p[0];
		msg->data = p + 1;
		msg->data_len = plen - 1;
		break;
	default:
		/* unknown id: handed up with its payload, for the caller to
		 * ignore */
		msg->data = p;
		msg->data_len = plen;
		break;
	}
	return (ssize_t)(4 + (size_t)mlen);
}

size_t bt_wire_build(uint8_t *out, size_t cap, const struct bt_msg *msg)
{
	size_t fixed; /* payload bytes after the id, before the data */
	bool has_data = false;

	switch (msg->type) {
	case BT_MSG_KEEPALIVE:
		if (cap < 4)
			return 0;
		put32(out, 0);
		return 4;
	case BT_MSG_CHOKE:
	case BT_MSG_UNCHOKE:
	case BT_MSG_INTERESTED:
	case BT_MSG_NOT_INTERESTED:
	case BT_MSG_HAVE_ALL:
	case BT_MSG_HAVE_NONE:
		fixed = 0;
		break;
	case BT_MSG_HAVE:
	case BT_MSG_SUGGEST:
	case BT_MSG_ALLOWED_FAST:
		fixed = 4;
		break;
	case BT_MSG_REQUEST:
	case BT_MSG_CANCEL:
	case BT_MSG_REJECT:
		fixed = 12;
		break;
	case BT_MSG_PIECE:
		fixed = 8;
		has_data = true;
		break;
	case BT_MSG_PORT:
		fixed = 2;
		break;
	case BT_MSG_EXTENDED:
		fixed = 1;
		has_data = true;
		break;
	case BT_MSG_BITFIELD:
		fixed = 0;
		has_data = true;
		break;
	default:
		/* any other id 0..255: id plus opaque data */
		if (msg->type < 0 || msg->type > 255)
			return 0;
		fixed = 0;
		has_data = true;
		break;
	}

	size_t dlen = has_data ? msg->data_len : 0;
	if (dlen > UINT32_MAX - 1 - fixed)
		return 0;
	size_t hdr = 5 + fixed;
	size_t total = hdr + (has_data && msg->data ? dlen : 0);
	if (cap < total)
		return 0;

	uint8_t *p = put32(out, (uint32_t)(1 + fixed + dlen));
	*p++ = (uint8_t)msg->type;
	switch (msg->type) {
	case BT_MSG_HAVE:
	case BT_MSG_SUGGEST:
	case BT_MSG_ALLOWED_FAST:
		put32(p, msg->index);
		break;
	case BT_MSG_REQUEST:
	case BT_MSG_CANCEL:
	case BT_MSG_REJECT:
		p = put32(p, msg->index);
		p = put32(p, msg->begin);
		put32(p, msg->length);
		break;
	case BT_MSG_PIECE:
		p = put32(p, msg->index);
		put32(p, msg->begin);
		break;
	case BT_MSG_PORT:
		p[0] = (uint8_t)(msg->port >> 8);
		p[1] = (uint8_t)msg->port;
		break;
	case BT_MSG_EXTENDED:
		p[0] = msg->ext_id;
		break;
	default:
		break;
	}
	if (has_data && msg->data && dlen)
		memcpy(out + hdr, msg->data, dlen);
	return total;
}
