/* libFuzzer target for bt_utmeta_parse: an accepted message of a known
 * type has its fields in range (a data message carries exactly its
 * piece's bytes, inside the input), and builds back to a message that
 * parses to the same fields. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_utmeta.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static uint8_t out[BT_UTMETA_MAX_HEADER + BT_UTMETA_PIECE_LEN];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_utmeta_msg m, back;
	char err[256];
	int rc = bt_utmeta_parse(data, size, &m, err, sizeof(err));
	CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc < 0) {
		CHECK(strlen(err) > 0 && !strchr(err, '\n'));
		return 0;
	}
	CHECK(m.type >= 0);
	if (m.data)
		CHECK(m.data >= data && m.data + m.data_len <= data + size);
	if (m.type > BT_UTMETA_REJECT)
		return 0;
	CHECK(m.piece < BT_UTMETA_MAX_PIECES);
	if (m.type == BT_UTMETA_DATA) {
		CHECK(m.total_size > 0 &&
		      m.total_size <= BT_EXT_MAX_METADATA_SIZE);
		CHECK(m.data_len == bt_utmeta_piece_len(m.total_size, m.piece));
		CHECK(m.data_len > 0 && m.data + m.data_len == data + size);
	} else {
		CHECK(m.data == NULL && m.total_size == 0);
	}
	size_t n = bt_utmeta_build(out, sizeof(out), &m);
	CHECK(n > 0);
	CHECK(bt_utmeta_parse(out, n, &back, NULL, 0) == 0);
	CHECK(back.type == m.type && back.piece == m.piece &&
	      back.total_size == m.total_size && back.data_len == m.data_len);
	if (m.data_len)
		CHECK(!memcmp(back.data, m.data, m.data_len));
	return 0;
}
