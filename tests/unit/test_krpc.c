/* Unit tests for bt_krpc: the BEP 5 examples, BEP 32/42/43 fields, the
 * strictness rules (what is refused, what is tolerated), the caps on nodes
 * and values, and encode/parse round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_krpc.h"

static int parse_s(const char *s, struct bt_krpc_msg *m)
{
	return bt_krpc_parse((const uint8_t *)s, strlen(s), m);
}

static struct bt_krpc_msg *msg_new(void)
{
	struct bt_krpc_msg *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	return m;
}

/* The examples of BEP 5, byte for byte. */
static void test_bep5_examples(void **state)
{
	(void)state;
	struct bt_krpc_msg *m = msg_new();

	assert_int_equal(parse_s("d1:ad2:id20:abcdefghij0123456789e1:q4:ping"
				 "1:t2:aa1:y1:qe",
				 m),
			 0);
	assert_int_equal(m->type, BT_KRPC_QUERY);
	assert_int_equal(m->method, BT_KRPC_PING);
	assert_int_equal(m->tid_len, 2);
	assert_memory_equal(m->tid, "aa", 2);
	assert_true(m->has_id);
	assert_memory_equal(m->id, "abcdefghij0123456789", 20);

	assert_int_equal(
	    parse_s("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re", m), 0);
	assert_int_equal(m->type, BT_KRPC_RESPONSE);
	assert_memory_equal(m->id, "mnopqrstuvwxyz123456", 20);
	assert_int_equal(m->n_nodes, 0);
	assert_false(m->has_values);

	assert_int_equal(parse_s("d1:ad2:id20:abcdefghij01234567896:target20:"
				 "mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:"
				 "y1:qe",
				 m),
			 0);
	assert_int_equal(m->method, BT_KRPC_FIND_NODE);
	assert_memory_equal(m->target, "mnopqrstuvwxyz123456", 20);
	assert_int_equal(m->want, 0);

	assert_int_equal(
	    parse_s("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
		    "mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:"
		    "y1:qe",
		    m),
	    0);
	assert_int_equal(m->method, BT_KRPC_GET_PEERS);
	assert_memory_equal(m->target, "mnopqrstuvwxyz123456", 20);

	/* get_peers response with values */
	assert_int_equal(parse_s("d1:rd2:id20:abcdefghij01234567895:token8:"
				 "aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:"
				 "y1:re",
				 m),
			 0);
	assert_int_equal(m->token_len, 8);
	assert_memory_equal(m->token, "aoeusnth", 8);
	assert_true(m->has_values);
	assert_int_equal(m->n_values, 2);
	assert_int_equal(m->values[0].family, BT_ADDR_V4);
	assert_memory_equal(m->values[0].ip, "axje", 4);
	assert_int_equal(m->values[0].port, ('.' << 8) | 'u');
	assert_memory_equal(m->values[1].ip, "idht", 4);

	assert_int_equal(parse_s("d1:ad2:id20:abcdefghij012345678912:implied_"
				 "porti1e9:info_hash20:mnopqrstuvwxyz1234564:"
				 "porti6881e5:token8:aoeusnthe1:q13:announce_"
				 "peer1:t2:aa1:y1:qe",
				 m),
			 0);
	assert_int_equal(m->method, BT_KRPC_ANNOUNCE_PEER);
	assert_true(m->implied_port);
	assert_int_equal(m->port, 6881);
	assert_int_equal(m->token_len, 8);

	assert_int_equal(parse_s("d1:eli201e23:A Generic Error Ocurrede1:t2:aa"
				 "1:y1:ee",
				 m),
			 0);
	assert_int_equal(m->type, BT_KRPC_ERROR);
	assert_int_equal(m->error_code, 201);
	assert_string_equal(m->error_msg, "A Generic Error Ocurred");
	free(m);
}

/* Builds "d1:rd2:id20:<id>5:nodes<n*26 bytes>e1:t2:aa1:y1:re" etc. */
static size_t build_nodes_reply(uint8_t *buf, size_t cap, const char *key,
				size_t entry, size_t n, size_t extra)
{
	size_t len = (size_t)snprintf(
	    (char *)buf, cap,
	    "d1:rd2:id20:abcdefghij0123456789%zu:%s%zu:", strlen(key), key,
	    n * entry + extra);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = buf + len + i * entry;
		memset(p, (int)(i & 0xff), 20);
		if (entry == BT_KRPC_NODE4_LEN) {
			p[20] = 10;
			p[21] = 0;
			p[22] = (uint8_t)(i >> 8);
			p[23] = (uint8_t)i;
		} else {
			memset(p + 20, 0, 16);
			p[20] = 0x20;
			p[21] = 0x01;
			p[34] = (uint8_t)(i >> 8);
			p[35] = (uint8_t)i;
		}
		p[entry - 2] = 0x1a;
		p[entry - 1] = 0xe1;
	}
	len += n * entry;
	memset(buf + len, 'x', extra);
	len += extra;
	len +=
	    (size_t)snprintf((char *)buf + len, cap - len, "e1:t2:aa1:y1:re");
	return len;
}

static void test_nodes(void **state)
{
	(void)state;
	struct bt_krpc_msg *m = msg_new();
	uint8_t *buf = malloc(1 << 16);

	size_t len = build_nodes_reply(buf, 1 << 16, "nodes", 26, 8, 0);
	assert_int_equal(bt_krpc_parse(buf, len, m), 0);
	assert_int_equal(m->n_nodes, 8);
	assert_int_equal(m->nodes_dropped, 0);
	assert_int_equal(m->nodes[3].addr.family, BT_ADDR_V4);
	assert_int_equal(m->nodes[3].addr.port, 0x1ae1);
	assert_int_equal(m->nodes[3].addr.ip[3], 3);
	assert_int_equal(m->nodes[3].id[0], 3);

	/* a tail that is no whole entry is dropped, the entries kept */
	len = build_nodes_reply(buf, 1 << 16, "nodes", 26, 3, 7);
	assert_int_equal(bt_krpc_parse(buf, len, m), 0);
	assert_int_equal(m->n_nodes, 3);
	assert_int_equal(m->nodes_dropped, 1);

	/* a flood of nodes is truncated to the cap */
	len = build_nodes_reply(buf, 1 << 16, "nodes", 26, 1000, 0);
	assert_int_equal(bt_krpc_parse(buf, len, m), 0);
	assert_int_equal(m->n_nodes, BT_KRPC_MAX_NODES);
	assert_int_equal(m->nodes_dropped, 1000 - BT_KRPC_MAX_NODES);

	len = build_nodes_reply(buf, 1 << 16, "nodes6", 38, 8, 0);
	assert_int_equal(bt_krpc_parse(buf, len, m), 0);
	assert_int_equal(m->n_nodes, 0);
	assert_int_equal(m->n_nodes6, 8);
	assert_int_equal(m->nodes6[5].addr.family, BT_ADDR_V6);
	assert_int_equal(m->nodes6[5].addr.ip[15], 5);
	free(buf);
	free(m);
}

/* A node answering thousands of (fake) peers is truncated to the cap, and
 * items that are no compact address are skipped. */
static void test_values_flood(void **state)
{
	(void)state;
	struct bt_krpc_msg *m = msg_new();
	size_t cap = 1 << 17, len;
	char *buf = malloc(cap);
	len = (size_t)snprintf(buf, cap,
			       "d1:rd2:id20:abcdefghij01234567895:"
			       "token4:abcd6:valuesl");
	for (int i = 0; i < 5000; i++) {
		memcpy(buf + len, "6:", 2);
		buf[len + 2] = 10;
		buf[len + 3] = (char)(i >> 16);
		buf[len + 4] = (char)(i >> 8);
		buf[len + 5] = (char)i;
		buf[len + 6] = 0x1a;
		buf[len + 7] = (char)0xe1;
		len += 8;
	}
	len += (size_t)snprintf(buf + len, cap - len, "ee1:t2:aa1:y1:re");
	assert_int_equal(bt_krpc_parse((uint8_t *)buf, len, m), 0);
	assert_int_equal(m->n_values, BT_KRPC_MAX_VALUES);
	assert_int_equal(m->values_dropped, 5000 - BT_KRPC_MAX_VALUES);

	assert_int_equal(parse_s("d1:rd2:id20:abcdefghij01234567896:valuesl"
				 "5:abcde6:abcdefi3eli1ee18:0123456789abcdefxy"
				 "ee1:t2:aa1:y1:re",
				 m),
			 0);
	assert_int_equal(m->n_values, 2);
	assert_int_equal(m->values_dropped, 3);
	assert_int_equal(m->values[0].family, BT_ADDR_V4);
	assert_int_equal(m->values[1].family, BT_ADDR_V6);
	free(buf);
	free(m);
}

static void test_extensions(void **state)
{
	(void)state;
	struct bt_krpc_msg *m = msg_new();
	/* keys out of order (some clients), `v`, `ro`, `want` */
	static const char q[] = "d1:y1:q1:t4:\x01\x02\x03\x04"
				"1:v4:LT\x02\x00"
				"2:roi1e1:q9:find_node1:ad4:wantl2:n62:n42:n5e"
				"6:target20:mnopqrstuvwxyz1234562:id20:"
				"abcdefghij0123456789ee";
	assert_int_equal(bt_krpc_parse((const uint8_t *)q, sizeof(q) - 1, m),
			 0);
	assert_int_equal(m->method, BT_KRPC_FIND_NODE);
	assert_int_equal(m->tid_len, 4);
	assert_int_equal(m->version_len, 4);
	assert_memory_equal(m->version, "LT\x02\x00", 4);
	assert_true(m->read_only);
	assert_int_equal(m->want, BT_KRPC_WANT_N4 | BT_KRPC_WANT_N6);

	/* BEP 42 `ip` in a reply */
	static const char r[] =
	    "d2:ip6:\x7f\x00\x00\x05\x1a\xe1"
	    "1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
	assert_int_equal(bt_krpc_parse((const uint8_t *)r, sizeof(r) - 1, m),
			 0);
	assert_true(m->has_ip);
	assert_int_equal(m->ip.ip[0], 127);
	assert_int_equal(m->ip.ip[3], 5);
	assert_int_equal(m->ip.port, 0x1ae1);

	/* unknown methods parse (the DHT answers 204), keeping their target */
	assert_int_equal(parse_s("d1:ad2:id20:abcdefghij01234567896:target20:"
				 "mnopqrstuvwxyz123456e1:q17:sample_infohashes"
				 "1:t2:aa1:y1:qe",
				 m),
			 0);
	assert_int_equal(m->method, BT_KRPC_UNKNOWN);
	assert_true(m->has_id);
	assert_memory_equal(m->target, "mnopqrstuvwxyz123456", 20);
	/* an error without a proper `e` is still an error */
	assert_int_equal(parse_s("d1:t2:aa1:y1:ee", m), 0);
	assert_int_equal(m->type, BT_KRPC_ERROR);
	assert_int_equal(m->error_code, 0);
	/* a control byte in the error text is not passed to the logs */
	assert_int_equal(parse_s("d1:eli202e3:a\nbe1:t2:aa1:y1:ee", m), 0);
	assert_string_equal(m->error_msg, "a?b");
	free(m);
}

static void test_refused(void **state)
{
	(void)state;
	struct bt_krpc_msg *m = msg_new();
	static const char *inval[] = {
	    "",
	    "d",
	    "de",
	    "i1e",
	    "l1:ae",
	    "d1:t2:aa1:y1:xe", /* no such type */
	    "d1:t2:aa1:y2:qqe",
	    "d1:y1:qe",				/* no t */
	    "d1:t17:01234567890123456e1:y1:qe", /* t too long */
	    "d1:t2:aa1:y1:re1:t2:aa",		/* trailing */
	    "d1:t2:aa1:t2:bb1:y1:qe",		/* dup key */
	    "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q", /* cut */
	};
	for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++) {
		int rc = parse_s(inval[i], m);
		if (rc != -EINVAL)
			fail_msg("'%s' gave %d", inval[i], rc);
	}
	static const char *proto[] = {
	    "d1:t2:aa1:y1:qe", /* no q */
	    "d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe", /* id */
	    "d1:ade1:q4:ping1:t2:aa1:y1:qe",
	    "d1:q4:ping1:t2:aa1:y1:qe",
	    "d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe",
	    "d1:ad2:id20:abcdefghij0123456789e1:q9:get_peers1:t2:aa1:y1:qe",
	    /* announce: no token, a bad port, a port of 0 */
	    "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456"
	    "4:porti6881ee1:q13:announce_peer1:t2:aa1:y1:qe",
	    "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456"
	    "4:porti65536e5:token2:xxe1:q13:announce_peer1:t2:aa1:y1:qe",
	    "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456"
	    "4:porti0e5:token2:xxe1:q13:announce_peer1:t2:aa1:y1:qe",
	    "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456"
	    "4:port4:68815:token2:xxe1:q13:announce_peer1:t2:aa1:y1:qe",
	    /* responses: no r, no id */
	    "d1:t2:aa1:y1:re",
	    "d1:rde1:t2:aa1:y1:re",
	};
	for (size_t i = 0; i < sizeof(proto) / sizeof(proto[0]); i++) {
		int rc = parse_s(proto[i], m);
		if (rc != -EPROTO)
			fail_msg("'%s' gave %d", proto[i], rc);
		/* the transaction is known: a query can be answered 203 */
		assert_int_equal(m->tid_len, 2);
		assert_memory_equal(m->tid, "aa", 2);
	}
	/* implied_port without a port is fine */
	assert_int_equal(parse_s("d1:ad2:id20:abcdefghij012345678912:implied_"
				 "porti1e9:info_hash20:mnopqrstuvwxyz1234565:"
				 "token2:xxe1:q13:announce_peer1:t2:aa1:y1:qe",
				 m),
			 0);
	assert_true(m->implied_port);
	assert_int_equal(m->port, 0);
	/* an empty tid is echoable, hence accepted */
	assert_int_equal(parse_s("d1:ad2:id20:abcdefghij0123456789e1:q4:ping"
				 "1:t0:1:y1:qe",
				 m),
			 0);
	assert_int_equal(m->tid_len, 0);
	/* an oversized token in a reply is dropped, not the reply */
	char big[256];
	snprintf(
	    big, sizeof(big),
	    "d1:rd2:id20:abcdefghij01234567895:token%d:%0*de1:t2:aa1:y1:re",
	    BT_KRPC_TOKEN_MAX + 1, BT_KRPC_TOKEN_MAX + 1, 7);
	assert_int_equal(parse_s(big, m), 0);
	assert_int_equal(m->token_len, 0);
	free(m);
}

static void roundtrip(const struct bt_krpc_msg *in)
{
	struct bt_benc b;
	struct bt_krpc_msg *out = msg_new();
	bt_benc_init(&b);
	assert_int_equal(bt_krpc_encode(in, &b), 0);
	/* the encoding is canonical bencode */
	struct bt_bval *v = NULL;
	assert_int_equal(bt_bdecode(b.buf, b.len, &v, NULL, 0), 0);
	bt_bval_free(v);
	assert_int_equal(bt_krpc_parse(b.buf, b.len, out), 0);
	assert_int_equal(out->type, in->type);
	assert_int_equal(out->tid_len, in->tid_len);
	assert_memory_equal(out->tid, in->tid, in->tid_len);
	assert_int_equal(out->version_len, in->version_len);
	assert_memory_equal(out->version, in->version, in->version_len);
	if (in->type != BT_KRPC_ERROR)
		assert_memory_equal(out->id, in->id, 20);
	if (in->type == BT_KRPC_QUERY) {
		assert_int_equal(out->method, in->method);
		assert_int_equal(out->read_only, in->read_only);
		if (in->method != BT_KRPC_PING)
			assert_memory_equal(out->target, in->target, 20);
		if (in->method == BT_KRPC_ANNOUNCE_PEER) {
			assert_int_equal(out->port, in->port);
			assert_int_equal(out->implied_port, in->implied_port);
		} else {
			assert_int_equal(out->want, in->method == BT_KRPC_PING
							? 0
							: in->want);
		}
	}
	if (in->type == BT_KRPC_RESPONSE) {
		assert_int_equal(out->n_nodes, in->n_nodes);
		assert_int_equal(out->n_nodes6, in->n_nodes6);
		assert_memory_equal(out->nodes, in->nodes,
				    in->n_nodes * sizeof(in->nodes[0]));
		assert_memory_equal(out->nodes6, in->nodes6,
				    in->n_nodes6 * sizeof(in->nodes6[0]));
		assert_int_equal(out->n_values, in->n_values);
		assert_memory_equal(out->values, in->values,
				    in->n_values * sizeof(in->values[0]));
		assert_int_equal(out->has_ip, in->has_ip);
		if (in->has_ip)
			assert_true(bt_addr_equal(&out->ip, &in->ip));
	}
	if (in->type == BT_KRPC_ERROR) {
		assert_int_equal(out->error_code, in->error_code);
		assert_string_equal(out->error_msg, in->error_msg);
	}
	if (in->type == BT_KRPC_RESPONSE ||
	    in->method == BT_KRPC_ANNOUNCE_PEER) {
		assert_int_equal(out->token_len, in->token_len);
		assert_memory_equal(out->token, in->token, in->token_len);
	}
	bt_benc_release(&b);
	free(out);
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct bt_krpc_msg *m = msg_new();
	m->type = BT_KRPC_QUERY;
	m->tid_len = 2;
	m->tid[0] = 0;
	m->tid[1] = 0xff;
	memcpy(m->version, "P2\x00\x01", 4);
	m->version_len = 4;
	memset(m->id, 0xab, 20);
	memset(m->target, 0x01, 20);
	m->want = BT_KRPC_WANT_N6;
	for (int q = BT_KRPC_PING; q <= BT_KRPC_ANNOUNCE_PEER; q++) {
		m->method = (enum bt_krpc_method)q;
		m->read_only = q == BT_KRPC_GET_PEERS;
		m->port = 6881;
		m->implied_port = q == BT_KRPC_ANNOUNCE_PEER;
		m->token_len = 3;
		memcpy(m->token, "tok", 3);
		roundtrip(m);
	}
	m->method = BT_KRPC_UNKNOWN;
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_krpc_encode(m, &b), -EINVAL);
	bt_benc_release(&b);

	memset(m, 0, sizeof(*m));
	m->type = BT_KRPC_RESPONSE;
	m->tid_len = 1;
	m->tid[0] = 'x';
	memset(m->id, 0x77, 20);
	m->n_nodes = 8;
	for (int i = 0; i < 8; i++) {
		memset(m->nodes[i].id, i, 20);
		uint8_t ip[4] = {10, 0, 0, (uint8_t)i};
		bt_addr_set(&m->nodes[i].addr, ip, 4, (uint16_t)(1000 + i));
	}
	m->n_nodes6 = 2;
	for (int i = 0; i < 2; i++) {
		memset(m->nodes6[i].id, 0x80 + i, 20);
		uint8_t ip[16] = {0x20, 0x01, [15] = (uint8_t)i};
		bt_addr_set(&m->nodes6[i].addr, ip, 16, (uint16_t)(2000 + i));
	}
	m->token_len = 8;
	memcpy(m->token, "12345678", 8);
	m->has_values = true;
	m->n_values = 3;
	for (int i = 0; i < 3; i++) {
		uint8_t ip[4] = {192, 168, 1, (uint8_t)i};
		bt_addr_set(&m->values[i], ip, 4, 51413);
	}
	m->has_ip = true;
	bt_addr_parse("127.0.0.9:6881", &m->ip);
	roundtrip(m);

	memset(m, 0, sizeof(*m));
	m->type = BT_KRPC_ERROR;
	m->error_code = BT_KRPC_ERR_PROTOCOL;
	snprintf(m->error_msg, sizeof(m->error_msg), "bad token");
	roundtrip(m);
	free(m);
}

/* What the encoder writes, byte for byte, for a ping (the BEP 5 form). */
static void test_encode_exact(void **state)
{
	(void)state;
	struct bt_krpc_msg *m = msg_new();
	m->type = BT_KRPC_QUERY;
	m->method = BT_KRPC_PING;
	m->tid_len = 2;
	memcpy(m->tid, "aa", 2);
	memcpy(m->id, "abcdefghij0123456789", 20);
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_krpc_encode(m, &b), 0);
	const char *want =
	    "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.buf, want, b.len);
	bt_benc_release(&b);
	assert_string_equal(bt_krpc_method_name(BT_KRPC_ANNOUNCE_PEER),
			    "announce_peer");
	assert_string_equal(bt_krpc_method_name((enum bt_krpc_method)99), "?");
	free(m);
}

/* Messages captured from python3-libtorrent 2.0.8 and aria2 1.36 on loopback
 * (tests/integration/test_dht_interop.sh): libtorrent sends 2-byte tids,
 * implied_port=1 with its port, a `seed` key, `ip` in every reply, an
 * empty `nodes`, and `p` (the port it saw) inside `r`; aria2 sends 4-byte
 * tids, 20-byte tokens, no `ip` and no implied_port. */
static void test_real_clients(void **state)
{
	(void)state;
	static const char lt_announce_peer[] =
	    "d1:ad2:id20:\xcc\x8d\xa9\xf7g)\x02\xb3\xcd\xb6H\xc8\x1b\x85"
	    "\xe3\xd9\xaf\xe8GF12:implied_porti1e9:info_hash20:\xfa\xdb"
	    "\x89UB\xc2k\xdc\x1f\xef\xba;\xa2\xe9"
	    "a \xb5\x1b\xecY4:port"
	    "i22002e4:seedi0e5:token8:i\x8a"
	    "d\xfe\xf1\xbd\x09\x11"
	    "e1:q13"
	    ":announce_peer1:t2:_\x0d"
	    "1:v4:LT\x02\x08"
	    "1:y1:qe";
	static const char lt_empty_nodes_reply[] =
	    "d2:ip6:\x7f\x00\x14\x0aU\xfa"
	    "1:rd2:id20:\xbc\xd5\x07W\xe3M"
	    "\xeb"
	    "a\xf1\xc5\xf9XA\x01\x84Y\xcf[\xb5\xef"
	    "5:nodes0:1:pi220"
	    "10ee1:t4:\x00\x00\x9f\x04"
	    "1:v4:LT\x02\x08"
	    "1:y1:re";
	static const char aria2_announce_peer[] =
	    "d1:ad2:id20:\xea\xc1\x0d\x04\xe6\xeeny\xc0\x0c&.u\xee\x8e"
	    "\xb4\xf4\x16\x95\xdb"
	    "9:info_hash20:\xbd\x81&3%\xd9\x81\xc0"
	    "\x81\xb7\xda\xe5"
	    "D\x80\xef\x8c\x9b\x5c=\xb7"
	    "4:porti22004e5:"
	    "token8:\xdf\x8eh\xc7\x06\x87\x86\x90"
	    "e1:q13:announce_peer1"
	    ":t4:\x99\xd0\xac\x7f"
	    "1:v4:A2\x00\x03"
	    "1:y1:qe";
	static const char aria2_token_reply[] =
	    "d1:rd2:id20:\xea\xc1\x0d\x04\xe6\xeeny\xc0\x0c&.u\xee\x8e"
	    "\xb4\xf4\x16\x95\xdb"
	    "5:nodes52:\xbc\xd5\x07W\xe3M\xeb"
	    "a\xf1"
	    "\xc5\xf9XA\x01\x84Y\xcf[\xb5\xef\x7f\x00\x14\x01U\xf1\xe9"
	    "\x9f\xc7J\xc0\xc6\xc8\xb7\x17\xfc\xc4\x16\x9e\xb6\xef\xa0"
	    "\x87"
	    "F\xab\x94\x7f\x00\x14\x0aU\xfa"
	    "5:token20:\xa1Tp\x04\xea"
	    "\x82\xeb\x0a|4\xda\xf9\x15!\xe3#\xb4\xec\xd2\xbd"
	    "e1:t4:\x00"
	    "\x02I\x82"
	    "1:v4:A2\x00\x03"
	    "1:y1:re";
	struct bt_krpc_msg *m = msg_new();

	assert_int_equal(bt_krpc_parse((const uint8_t *)lt_announce_peer,
				       sizeof(lt_announce_peer) - 1, m),
			 0);
	assert_int_equal(m->method, BT_KRPC_ANNOUNCE_PEER);
	assert_true(m->implied_port);
	assert_int_equal(m->port, 22002);
	assert_int_equal(m->token_len, 8);
	assert_int_equal(m->tid_len, 2);
	assert_memory_equal(m->version, "LT\x02\x08", 4);

	assert_int_equal(bt_krpc_parse((const uint8_t *)lt_empty_nodes_reply,
				       sizeof(lt_empty_nodes_reply) - 1, m),
			 0);
	assert_int_equal(m->type, BT_KRPC_RESPONSE);
	assert_int_equal(m->n_nodes, 0);
	assert_int_equal(m->nodes_dropped, 0);
	assert_true(m->has_ip);
	assert_int_equal(m->ip.port, 22010);

	assert_int_equal(bt_krpc_parse((const uint8_t *)aria2_announce_peer,
				       sizeof(aria2_announce_peer) - 1, m),
			 0);
	assert_false(m->implied_port);
	assert_int_equal(m->port, 22004);
	assert_int_equal(m->tid_len, 4);

	assert_int_equal(bt_krpc_parse((const uint8_t *)aria2_token_reply,
				       sizeof(aria2_token_reply) - 1, m),
			 0);
	assert_int_equal(m->token_len, 20);
	assert_int_equal(m->n_nodes, 2);
	assert_int_equal(m->nodes[0].addr.ip[3], 1);
	assert_int_equal(m->nodes[0].addr.port, 22001);
	assert_false(m->has_ip);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bep5_examples),
	    cmocka_unit_test(test_nodes),
	    cmocka_unit_test(test_values_flood),
	    cmocka_unit_test(test_extensions),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_encode_exact),
	    cmocka_unit_test(test_real_clients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
