/* bt_utmeta — BEP 9 ut_metadata messages: the payload of an extended
 * message sent under the peer's ut_metadata id.
 *
 * A message is a bencoded dictionary {msg_type, piece[, total_size]}; a
 * data message (msg_type 1) is followed by the raw bytes of that piece of
 * the info dict. The info dict is cut into 16 KiB pieces, the last one
 * shorter. Parsing checks every field: piece in range, total_size within
 * BT_EXT_MAX_METADATA_SIZE, and a data message carrying exactly the bytes
 * of its piece (for the total_size it states: the caller still checks that
 * this is the size it is assembling).
 *
 * Stateless, any thread. Parsed data points into the caller's buffer. */
#ifndef BT_UTMETA_H
#define BT_UTMETA_H

#include <stddef.h>
#include <stdint.h>

#include "bt_ext.h"

#define BT_UTMETA_PIECE_LEN 16384u
#define BT_UTMETA_MAX_PIECES                                                   \
	((BT_EXT_MAX_METADATA_SIZE + BT_UTMETA_PIECE_LEN - 1) /                \
	 BT_UTMETA_PIECE_LEN)
/* Longest dictionary bt_utmeta_build() writes (before the piece bytes). */
#define BT_UTMETA_MAX_HEADER 64

enum bt_utmeta_type {
	BT_UTMETA_REQUEST = 0,
	BT_UTMETA_DATA = 1,
	BT_UTMETA_REJECT = 2,
};

struct bt_utmeta_msg {
	int64_t type; /* enum bt_utmeta_type, or another value: BEP 9
		       * says unknown types are ignored */
	uint32_t piece;
	uint32_t total_size; /* data only (0 otherwise) */
	const uint8_t *data; /* data only: the piece bytes */
	size_t data_len;
};

/* Pieces of an info dict of TOTAL bytes (0 for 0). */
uint32_t bt_utmeta_npieces(uint32_t total);
/* Bytes of piece PIECE of an info dict of TOTAL bytes; 0 when out of
 * range. */
uint32_t bt_utmeta_piece_len(uint32_t total, uint32_t piece);

/* Parse one payload. Returns 0 with *M filled, -EPROTO with a one-line
 * reason (not a dictionary, msg_type or piece missing or out of range,
 * trailing bytes after a request or reject, a data message whose
 * total_size is missing or over the cap, or whose bytes are not exactly
 * its piece), or -ENOMEM. A type other than 0..2 is returned as is, with
 * only msg_type checked. Never aborts. */
int bt_utmeta_parse(const uint8_t *p, size_t len, struct bt_utmeta_msg *m,
		    char *err, size_t errlen);

/* Encode M into OUT (CAP bytes): the dictionary, and for a data message
 * the piece bytes too when M->data is not NULL (else the caller appends
 * M->data_len bytes itself). Only types 0..2 are encodable. Returns the
 * bytes written, or 0 when CAP is too small or M is not encodable. */
size_t bt_utmeta_build(uint8_t *out, size_t cap, const struct bt_utmeta_msg *m);

#endif
