/* bt_wire — the BitTorrent peer wire protocol codec (BEP 3, plus the message
 * ids of BEP 6 fast extension and BEP 10 extension protocol).
 *
 * I/O-free: it turns bytes into bt_msg values and back. It validates framing
 * and field ranges against the torrent's piece count and sizes, so the
 * caller (engine/bt_peer*.c) never sees an out-of-range index. Stateless;
 * callable from any thread. */
#ifndef BT_WIRE_H
#define BT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bt_bitfield.h"

#define BT_HANDSHAKE_LEN 68
#define BT_BLOCK_SIZE 16384u
#define BT_MAX_BLOCK_SIZE (128u * 1024) /* largest request we serve */
/* Largest BEP 10 extended payload (after the ext_id byte) that
 * bt_wire_max_msg_len() makes room for: a ut_metadata data message is a
 * small dict plus a 16 KiB metadata piece, PEX and extension handshakes are
 * a few KiB, so 128 KiB leaves ample headroom without letting a peer make us
 * buffer megabytes. */
#define BT_WIRE_MAX_EXT_LEN (128u * 1024)

enum bt_msg_type {
	BT_MSG_KEEPALIVE = -1,
	BT_MSG_CHOKE = 0,
	BT_MSG_UNCHOKE = 1,
	BT_MSG_INTERESTED = 2,
	BT_MSG_NOT_INTERESTED = 3,
	BT_MSG_HAVE = 4,
	BT_MSG_BITFIELD = 5,
	BT_MSG_REQUEST = 6,
	BT_MSG_PIECE = 7,
	BT_MSG_CANCEL = 8,
	BT_MSG_PORT = 9,
	BT_MSG_SUGGEST = 0x0d,
	BT_MSG_HAVE_ALL = 0x0e,
	BT_MSG_HAVE_NONE = 0x0f,
	BT_MSG_REJECT = 0x10,
	BT_MSG_ALLOWED_FAST = 0x11,
	BT_MSG_EXTENDED = 20,
};

struct bt_msg {
	int type;          /* enum bt_msg_type, or another id (to be ignored) */
	uint32_t index;    /* have, request, piece, cancel, reject, suggest,
			    * allowed_fast */
	uint32_t begin;    /* request, piece, cancel, reject */
	uint32_t length;   /* request, cancel, reject */
	uint16_t port;     /* port */
	uint8_t ext_id;    /* extended */
	const uint8_t *data; /* bitfield bytes, piece block, extended payload;
			      * points into the parsed buffer */
	size_t data_len;
};

/* Limits used when parsing: messages longer than max_msg_len are a protocol
 * error (a peer may not make us buffer more than this). max_msg_len bounds
 * the value of the 4-byte length prefix (id byte + payload), so a whole
 * framed message is at most max_msg_len + 4 bytes. */
struct bt_wire_limits {
	uint32_t npieces;
	uint32_t piece_length;
	uint64_t total_length;
	uint32_t max_msg_len; /* e.g. BT_MAX_BLOCK_SIZE + 13, or more for a
			       * huge bitfield: see bt_wire_max_msg_len() */
	/* The torrent's geometry is not known yet (before its metadata, as
	 * for a magnet link): the piece fields above are unused; a bitfield
	 * of any non-zero length (spare bits unchecked) and a have, suggest
	 * or allowed_fast of any index are accepted, for the caller to check
	 * once it knows; request, cancel, reject and piece are -EPROTO. */
	bool metadata_pending;
};

/* Smallest safe max_msg_len for a torrent: the largest of a piece message
 * with a BT_MAX_BLOCK_SIZE block (9 + 128 KiB), a full bitfield
 * (1 + ceil(npieces / 8)) and an extended message carrying
 * BT_WIRE_MAX_EXT_LEN bytes (2 + 128 KiB). */
uint32_t bt_wire_max_msg_len(uint32_t npieces);

/* Handshake: "\x13BitTorrent protocol", 8 reserved bytes, info-hash,
 * peer id. */
void bt_wire_handshake(uint8_t out[BT_HANDSHAKE_LEN], const uint8_t reserved[8],
		       const uint8_t info_hash[20], const uint8_t peer_id[20]);
/* Returns 0 or -EPROTO (wrong protocol string). Fills the three fields. */
int bt_wire_handshake_parse(const uint8_t in[BT_HANDSHAKE_LEN],
			    uint8_t reserved[8], uint8_t info_hash[20],
			    uint8_t peer_id[20]);

/* Parse one message from the front of BUF. Returns the number of bytes it
 * used (> 0) and fills *MSG; 0 when BUF does not yet hold a whole message;
 * -EPROTO when the message is malformed or out of range for LIM (a bitfield
 * of the wrong size or with spare bits set, an index >= npieces, a block
 * that crosses the end of its piece, a request longer than
 * BT_MAX_BLOCK_SIZE, a length prefix over max_msg_len). Unknown message ids
 * are returned with their type and payload, not rejected. Fixed-size
 * messages must have exactly their size; request, cancel and reject need
 * 1 <= length <= BT_MAX_BLOCK_SIZE; a piece block must be non-empty; the
 * size of piece i is min(piece_length, total_length - i * piece_length).
 * The length prefix is checked against max_msg_len as soon as its 4 bytes
 * are present (-EPROTO before the body arrives). */
ssize_t bt_wire_parse(const uint8_t *buf, size_t len,
		      const struct bt_wire_limits *lim, struct bt_msg *msg);

/* Encode MSG's header (length prefix, id and fixed fields) into OUT. For
 * BT_MSG_PIECE, BT_MSG_BITFIELD and BT_MSG_EXTENDED the length prefix counts
 * msg->data_len and the data bytes are copied too when msg->data is not
 * NULL (when it is NULL the caller appends data_len bytes itself). Other
 * ids 0..255 not listed in enum bt_msg_type are encoded as id + data.
 * Returns bytes written (header only when msg->data is NULL), or 0 if CAP is
 * too small, the type is not encodable or the length does not fit 32 bits.
 * Headers are at most 17 bytes. */
size_t bt_wire_build(uint8_t *out, size_t cap, const struct bt_msg *msg);

#endif
