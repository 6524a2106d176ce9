/* libFuzzer target for bt_krpc: any datagram parses or fails with -EINVAL /
 * -EPROTO, never crashes; what parses stays within the caps, and its
 * encoding is canonical bencode that parses back to a message encoding to
 * the same bytes (parse, encode, parse, encode is a fixed point). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_krpc.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static struct bt_krpc_msg m1, m2;

static void check_bounds(const struct bt_krpc_msg *m)
{
	CHECK(m->tid_len <= BT_KRPC_TID_MAX);
	CHECK(m->version_len <= BT_KRPC_VERSION_MAX);
	CHECK(m->token_len <= BT_KRPC_TOKEN_MAX);
	CHECK(m->n_nodes <= BT_KRPC_MAX_NODES);
	CHECK(m->n_nodes6 <= BT_KRPC_MAX_NODES);
	CHECK(m->n_values <= BT_KRPC_MAX_VALUES);
	CHECK(memchr(m->error_msg, 0, sizeof(m->error_msg)));
	for (int i = 0; i < m->n_nodes; i++)
		CHECK(m->nodes[i].addr.family == BT_ADDR_V4);
	for (int i = 0; i < m->n_nodes6; i++)
		CHECK(m->nodes6[i].addr.family == BT_ADDR_V6);
	for (int i = 0; i < m->n_values; i++)
		CHECK(m->values[i].family == BT_ADDR_V4 ||
		      m->values[i].family == BT_ADDR_V6);
	CHECK(m->type >= BT_KRPC_QUERY && m->type <= BT_KRPC_ERROR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc = bt_krpc_parse(data, size, &m1);
	CHECK(rc == 0 || rc == -EINVAL || rc == -EPROTO);
	if (rc == -EPROTO)
		CHECK(m1.type != 0); /* the transaction is known */
	if (rc)
		return 0;
	check_bounds(&m1);
	struct bt_benc b1, b2;
	bt_benc_init(&b1);
	bt_benc_init(&b2);
	int erc = bt_krpc_encode(&m1, &b1);
	if (m1.type == BT_KRPC_QUERY && m1.method == BT_KRPC_UNKNOWN) {
		CHECK(erc == -EINVAL);
		goto out;
	}
	CHECK(erc == 0);
	/* canonical bencode: the strict decoder takes it */
	struct bt_bval *v = NULL;
	CHECK(bt_bdecode(b1.buf, b1.len, &v, NULL, 0) == 0);
	bt_bval_free(v);
	CHECK(bt_krpc_parse(b1.buf, b1.len, &m2) == 0);
	check_bounds(&m2);
	CHECK(m2.type == m1.type && m2.tid_len == m1.tid_len &&
	      !memcmp(m2.tid, m1.tid, m1.tid_len));
	if (m1.type != BT_KRPC_ERROR)
		CHECK(!memcmp(m2.id, m1.id, 20));
	if (m1.type == BT_KRPC_QUERY)
		CHECK(m2.method == m1.method);
	if (m1.type == BT_KRPC_RESPONSE)
		CHECK(m2.n_nodes == m1.n_nodes && m2.n_nodes6 == m1.n_nodes6 &&
		      m2.n_values == m1.n_values);
	CHECK(bt_krpc_encode(&m2, &b2) == 0);
	CHECK(b2.len == b1.len && !memcmp(b2.buf, b1.buf, b1.len));
out:
	bt_benc_release(&b1);
	bt_benc_release(&b2);
	return 0;
}
