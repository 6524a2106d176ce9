/* Unit tests for bt_dht: one node driven by hand-made datagrams (the
 * answers to each query, the tokens and their rotation, the peer store's
 * bounds and expiry, the routing table's rules: k per bucket, splitting,
 * the replacement cache, bad nodes replaced, one node per IP, liars'
 * replies refused), the rate limits and the ignore list, lookups (bounded
 * against a node that names only dead ends; converging and announcing in a
 * small simulated network), the saved state and IPv6 (BEP 32). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_dht.h"
#include "bt_krpc.h"
#include "dht_sim.h"

#define T0 1000000ull /* a `now` far from 0 */

/* ---- a node and what it sends ------------------------------------------ */

struct pkt {
	struct bt_addr to;
	size_t len;
	uint8_t buf[4096];
};

struct harness {
	struct bt_dht *d;
	struct pkt *pk;
	size_t n, cap;
	struct bt_dht_search_result done[16];
	size_t ndone;
	struct bt_addr peers[512];
	size_t npeers;
	struct bt_krpc_msg m; /* scratch */
};

static void h_send(void *arg, const struct bt_addr *to, const uint8_t *buf,
		   size_t len)
{
	struct harness *h = arg;
	assert_true(len <= sizeof(h->pk[0].buf));
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->pk = realloc(h->pk, h->cap * sizeof(*h->pk));
		assert_non_null(h->pk);
	}
	h->pk[h->n].to = *to;
	h->pk[h->n].len = len;
	memcpy(h->pk[h->n].buf, buf, len);
	h->n++;
}

static void h_done(void *arg, const struct bt_dht_search_result *r)
{
	struct harness *h = arg;
	if (h->ndone < 16)
		h->done[h->ndone++] = *r;
}

static void h_peers(void *arg, const uint8_t ih[20], const struct bt_addr *p,
		    size_t n)
{
	struct harness *h = arg;
	(void)ih;
	for (size_t i = 0; i < n && h->npeers < 512; i++)
		h->peers[h->npeers++] = p[i];
}

static const uint8_t OWN_ID[20] = {0x80};

static struct harness *h_new(struct bt_dht_opts *o)
{
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	struct bt_dht_opts def = {0};
	if (!o)
		o = &def;
	o->seed = o->seed ? o->seed : 42;
	if (!o->has_id && !o->state) {
		o->has_id = true;
		memcpy(o->id, OWN_ID, 20);
	}
	o->send = h_send;
	o->on_done = h_done;
	o->on_peers = h_peers;
	o->arg = h;
	int err = 0;
	h->d = bt_dht_new(o, &err);
	assert_non_null(h->d);
	return h;
}

static void h_free(struct harness *h)
{
	bt_dht_free(h->d);
	free(h->pk);
	free(h);
}

static struct bt_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
			    uint16_t port)
{
	struct bt_addr x;
	uint8_t ip[4] = {a, b, c, d};
	bt_addr_set(&x, ip, 4, port);
	return x;
}

/* Parses sent packet I into H->m. */
static struct bt_krpc_msg *sent(struct harness *h, size_t i)
{
	assert_true(i < h->n);
	assert_int_equal(bt_krpc_parse(h->pk[i].buf, h->pk[i].len, &h->m), 0);
	return &h->m;
}

static struct bt_krpc_msg *last(struct harness *h)
{
	assert_true(h->n > 0);
	return sent(h, h->n - 1);
}

/* Encodes M and feeds it from FROM; returns bt_dht_input's result. */
static int feed(struct harness *h, const struct bt_krpc_msg *m,
		const struct bt_addr *from, uint64_t now)
{
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_krpc_encode(m, &b), 0);
	int rc = bt_dht_input(h->d, b.buf, b.len, from, now);
	bt_benc_release(&b);
	return rc;
}

static void query(struct bt_krpc_msg *q, enum bt_krpc_method method,
		  const uint8_t *id)
{
	memset(q, 0, sizeof(*q));
	q->type = BT_KRPC_QUERY;
	q->method = method;
	q->tid_len = 2;
	q->tid[0] = 'q';
	q->tid[1] = (uint8_t)method;
	memcpy(q->id, id, 20);
	q->has_id = true;
}

/* Answers the query in sent packet I as node ID, with NODES. */
static int answer(struct harness *h, size_t i, const uint8_t *id,
		  const struct bt_krpc_node *nodes, size_t nn, uint64_t now)
{
	struct bt_krpc_msg *q = sent(h, i);
	assert_int_equal(q->type, BT_KRPC_QUERY);
	struct bt_krpc_msg *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->type = BT_KRPC_RESPONSE;
	memcpy(r->tid, q->tid, q->tid_len);
	r->tid_len = q->tid_len;
	memcpy(r->id, id, 20);
	r->has_id = true;
	if (q->method == BT_KRPC_GET_PEERS) {
		r->token_len = 3;
		memcpy(r->token, "tok", 3);
	}
	for (size_t k = 0; k < nn && k < BT_KRPC_MAX_NODES; k++)
		r->nodes[r->n_nodes++] = nodes[k];
	struct bt_addr to = h->pk[i].to;
	int rc = feed(h, r, &to, now);
	free(r);
	return rc;
}

/* Node ID X gets into the table by answering a ping. */
static void insert_node(struct harness *h, const uint8_t *id,
			const struct bt_addr *a, uint64_t now)
{
	assert_int_equal(bt_dht_ping(h->d, a, now), 0);
	assert_int_equal(answer(h, h->n - 1, id, NULL, 0, now), 0);
}

static bool in_table(struct harness *h, const uint8_t *id)
{
	struct bt_krpc_node nodes[512];
	size_t n = bt_dht_table_nodes(h->d, BT_DHT_V4, nodes, 512);
	for (size_t i = 0; i < n && i < 512; i++)
		if (!memcmp(nodes[i].id, id, 20))
			return true;
	return false;
}

static struct bt_dht_stats stats(struct harness *h, uint64_t now)
{
	struct bt_dht_stats st;
	bt_dht_stats(h->d, &st, now);
	return st;
}

/* ---- queries we answer -------------------------------------------------- */

static void test_answers(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	struct bt_krpc_msg q;
	uint8_t them[20] = {0x01, 0x02};
	struct bt_addr a = addr4(127, 0, 20, 2, 6881);

	query(&q, BT_KRPC_PING, them);
	assert_int_equal(feed(h, &q, &a, T0), 0);
	struct bt_krpc_msg *r = last(h);
	assert_int_equal(r->type, BT_KRPC_RESPONSE);
	assert_memory_equal(r->tid, "q\x01", 2);
	assert_memory_equal(r->id, OWN_ID, 20);
	assert_true(r->has_ip); /* BEP 42 */
	assert_true(bt_addr_equal(&r->ip, &a));
	assert_true(bt_addr_equal(&h->pk[h->n - 1].to, &a));

	/* find_node: our confirmed nodes closest to the target */
	uint8_t n1[20] = {0x10}, n2[20] = {0x11}, n3[20] = {0xf0};
	struct bt_addr a1 = addr4(10, 0, 0, 1, 1), a2 = addr4(10, 0, 0, 2, 2),
		       a3 = addr4(10, 0, 0, 3, 3);
	insert_node(h, n1, &a1, T0);
	insert_node(h, n2, &a2, T0);
	insert_node(h, n3, &a3, T0);
	query(&q, BT_KRPC_FIND_NODE, them);
	memset(q.target, 0, 20);
	q.target[0] = 0x11;
	assert_int_equal(feed(h, &q, &a, T0), 0);
	r = last(h);
	assert_int_equal(r->n_nodes, 3);
	assert_memory_equal(r->nodes[0].id, n2, 20);
	assert_memory_equal(r->nodes[1].id, n1, 20);
	assert_memory_equal(r->nodes[2].id, n3, 20);
	assert_true(bt_addr_equal(&r->nodes[0].addr, &a2));
	/* a node that only queried us is not handed out */
	for (int i = 0; i < 3; i++)
		assert_memory_not_equal(r->nodes[i].id, them, 20);
	assert_int_equal(r->n_nodes6, 0); /* no IPv6 here */

	/* unknown method: 204; invalid query: 203 */
	static const char unk[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:fooo"
				  "1:t2:xy1:y1:qe";
	assert_int_equal(
	    bt_dht_input(h->d, (const uint8_t *)unk, sizeof(unk) - 1, &a, T0),
	    0);
	r = last(h);
	assert_int_equal(r->type, BT_KRPC_ERROR);
	assert_int_equal(r->error_code, BT_KRPC_ERR_METHOD);
	assert_memory_equal(r->tid, "xy", 2);
	static const char bad[] = "d1:ad2:id3:abce1:q4:ping1:t2:xz1:y1:qe";
	assert_int_equal(
	    bt_dht_input(h->d, (const uint8_t *)bad, sizeof(bad) - 1, &a, T0),
	    -EPROTO);
	r = last(h);
	assert_int_equal(r->type, BT_KRPC_ERROR);
	assert_int_equal(r->error_code, BT_KRPC_ERR_PROTOCOL);
	/* garbage gets no answer */
	size_t before = h->n;
	assert_int_equal(bt_dht_input(h->d, (const uint8_t *)"d1:x", 4, &a, T0),
			 -EINVAL);
	assert_int_equal(h->n, before);
	/* a query claiming our own id is dropped */
	query(&q, BT_KRPC_PING, OWN_ID);
	assert_int_equal(feed(h, &q, &a, T0), -EPROTO);
	assert_int_equal(h->n, before);
	h_free(h);
}

/* ---- tokens and the peer store ----------------------------------------- */

static void get_token(struct harness *h, const struct bt_addr *from,
		      const uint8_t *ih, uint8_t *tok, uint8_t *len,
		      uint64_t now)
{
	struct bt_krpc_msg q;
	uint8_t id[20] = {0x33};
	query(&q, BT_KRPC_GET_PEERS, id);
	memcpy(q.target, ih, 20);
	assert_int_equal(feed(h, &q, from, now), 0);
	struct bt_krpc_msg *r = last(h);
	assert_int_equal(r->type, BT_KRPC_RESPONSE);
	assert_true(r->token_len > 0);
	memcpy(tok, r->token, r->token_len);
	*len = r->token_len;
}

static int announce(struct harness *h, const struct bt_addr *from,
		    const uint8_t *ih, const uint8_t *tok, uint8_t len,
		    uint16_t port, bool implied, uint64_t now)
{
	struct bt_krpc_msg q;
	uint8_t id[20] = {0x33};
	query(&q, BT_KRPC_ANNOUNCE_PEER, id);
	memcpy(q.target, ih, 20);
	memcpy(q.token, tok, len);
	q.token_len = len;
	q.port = port;
	q.implied_port = implied;
	assert_int_equal(feed(h, &q, from, now), 0);
	struct bt_krpc_msg *r = last(h);
	return r->type == BT_KRPC_RESPONSE ? 0 : r->error_code;
}

static size_t values_for(struct harness *h, const uint8_t *ih,
			 struct bt_addr *out, uint64_t now)
{
	struct bt_krpc_msg q;
	uint8_t id[20] = {0x44};
	struct bt_addr b = addr4(127, 0, 20, 9, 9999);
	query(&q, BT_KRPC_GET_PEERS, id);
	memcpy(q.target, ih, 20);
	assert_int_equal(feed(h, &q, &b, now), 0);
	struct bt_krpc_msg *r = last(h);
	for (size_t i = 0; i < r->n_values; i++)
		out[i] = r->values[i];
	return r->n_values;
}

static void test_tokens(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint8_t ih[20] = {0xaa, 0xbb};
	uint8_t tok[64], tl;
	struct bt_addr a = addr4(127, 0, 20, 2, 6881),
		       c = addr4(127, 0, 20, 3, 6881);
	struct bt_addr vals[64];
	bt_dht_periodic(h->d, T0);

	get_token(h, &a, ih, tok, &tl, T0);
	/* the token is A's: C cannot use it */
	assert_int_equal(announce(h, &c, ih, tok, tl, 7000, false, T0),
			 BT_KRPC_ERR_PROTOCOL);
	assert_int_equal(stats(h, T0).bad_tokens, 1);
	assert_int_equal(values_for(h, ih, vals, T0), 0);
	/* A can, from any port: the token is for its IP */
	struct bt_addr a2 = a;
	a2.port = 1234;
	assert_int_equal(announce(h, &a2, ih, tok, tl, 7000, false, T0), 0);
	assert_int_equal(values_for(h, ih, vals, T0), 1);
	assert_true(bt_addr_same_ip(&vals[0], &a));
	assert_int_equal(vals[0].port, 7000);
	/* implied_port: the datagram's port */
	assert_int_equal(announce(h, &a2, ih, tok, tl, 7000, true, T0), 0);
	assert_int_equal(values_for(h, ih, vals, T0), 2);
	/* a wrong token (one byte off) */
	tok[0] ^= 1;
	assert_int_equal(announce(h, &a, ih, tok, tl, 7001, false, T0),
			 BT_KRPC_ERR_PROTOCOL);
	tok[0] ^= 1;

	/* the secret rotates every 5 minutes; the previous one is still
	 * good, the one before that no longer */
	uint64_t t = T0 + 5 * 60 * 1000;
	bt_dht_periodic(h->d, t);
	assert_int_equal(announce(h, &a, ih, tok, tl, 7002, false, t), 0);
	t += 5 * 60 * 1000;
	bt_dht_periodic(h->d, t);
	assert_int_equal(announce(h, &a, ih, tok, tl, 7003, false, t),
			 BT_KRPC_ERR_PROTOCOL);
	/* a fresh one works */
	get_token(h, &a, ih, tok, &tl, t);
	assert_int_equal(announce(h, &a, ih, tok, tl, 7003, false, t), 0);
	assert_int_equal(values_for(h, ih, vals, t), 4);

	/* peers expire after 30 minutes */
	t += 31 * 60 * 1000;
	bt_dht_periodic(h->d, t);
	assert_int_equal(values_for(h, ih, vals, t), 0);
	assert_int_equal(stats(h, t).store_hashes, 0);
	h_free(h);
}

static void test_store_bounds(void **state)
{
	(void)state;
	struct bt_dht_opts o = {.store_hashes = 8,
				.store_peers = 4,
				.rate_per_ip = 1000,
				.rate = 100000};
	struct harness *h = h_new(&o);
	uint8_t tok[64], tl;
	struct bt_addr vals[64];
	bt_dht_periodic(h->d, T0);

	/* an info-hash with 3 peers */
	uint8_t popular[20] = {0x55};
	for (int p = 0; p < 3; p++) {
		struct bt_addr a = addr4(10, 1, 0, (uint8_t)p, 6881);
		get_token(h, &a, popular, tok, &tl, T0);
		assert_int_equal(
		    announce(h, &a, popular, tok, tl, 6881, false, T0), 0);
	}
	/* a flood of 50 info-hashes of one peer each */
	struct bt_addr f = addr4(10, 2, 0, 1, 6881);
	for (int i = 0; i < 50; i++) {
		uint8_t ih[20] = {0x66, (uint8_t)i};
		get_token(h, &f, ih, tok, &tl, T0);
		assert_int_equal(announce(h, &f, ih, tok, tl, 6881, false, T0),
				 0);
	}
	struct bt_dht_stats st = stats(h, T0);
	assert_int_equal(st.store_hashes, 8);
	/* the popular one survived */
	assert_int_equal(values_for(h, popular, vals, T0), 3);

	/* peers per info-hash: at most 4 */
	for (int p = 0; p < 20; p++) {
		struct bt_addr a = addr4(10, 3, 0, (uint8_t)p, 6881);
		get_token(h, &a, popular, tok, &tl, T0 + (uint64_t)p);
		assert_int_equal(announce(h, &a, popular, tok, tl, 6881, false,
					  T0 + (uint64_t)p),
				 0);
	}
	assert_int_equal(values_for(h, popular, vals, T0 + 100), 4);
	st = stats(h, T0 + 100);
	assert_true(st.store_peers <= 8 * 4);
	h_free(h);
}

/* ---- the routing table -------------------------------------------------- */

/* An id sharing exactly PREFIX bits with OWN_ID, then N. */
static void id_at(uint8_t *id, unsigned prefix, uint16_t n)
{
	memcpy(id, OWN_ID, 20);
	unsigned byte = prefix / 8, bit = prefix % 8;
	id[byte] ^= (uint8_t)(0x80 >> bit);
	id[18] = (uint8_t)(n >> 8);
	id[19] = (uint8_t)n;
	if (prefix >= 144)
		fail_msg("prefix too long for the test ids");
}

static void test_buckets(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint64_t now = T0;
	/* 20 nodes in the far half (bucket 0): 8 in the table, 8 in the
	 * replacement cache, the rest dropped */
	for (uint16_t i = 0; i < 20; i++) {
		uint8_t id[20];
		id_at(id, 0, i);
		struct bt_addr a = addr4(10, 0, 1, (uint8_t)i, 6881);
		insert_node(h, id, &a, now);
	}
	struct bt_dht_stats st = stats(h, now);
	assert_int_equal(st.good[0], 8);
	assert_int_equal(st.replacements[0], 8);
	assert_int_equal(st.buckets[0], 2); /* split once, then full */

	/* nodes ever closer to us split the last bucket again and again */
	for (unsigned p = 1; p < 12; p++)
		for (uint16_t i = 0; i < 3; i++) {
			uint8_t id[20];
			id_at(id, p, i);
			struct bt_addr a =
			    addr4(10, 0, (uint8_t)(10 + p), (uint8_t)i, 6881);
			insert_node(h, id, &a, now);
		}
	st = stats(h, now);
	assert_int_equal(st.good[0], 8 + 11 * 3);
	assert_true(st.buckets[0] >= 11);
	assert_true(st.buckets[0] <= 13);

	/* one node per IP: another port and id at a known IP stays out */
	uint8_t dup[20];
	id_at(dup, 3, 99);
	struct bt_addr same = addr4(10, 0, 13, 0, 7777);
	insert_node(h, dup, &same, now);
	assert_false(in_table(h, dup));

	/* a node that only queried us is dubious, not good */
	uint8_t qid[20];
	id_at(qid, 20, 1);
	struct bt_krpc_msg q;
	query(&q, BT_KRPC_PING, qid);
	struct bt_addr qa = addr4(10, 0, 99, 1, 6881);
	assert_int_equal(feed(h, &q, &qa, now), 0);
	assert_true(in_table(h, qid));
	st = stats(h, now);
	assert_int_equal(st.dubious[0], 1);
	/* BEP 43: a read-only node is not added */
	uint8_t roid[20];
	id_at(roid, 21, 1);
	query(&q, BT_KRPC_PING, roid);
	q.read_only = true;
	struct bt_addr ra = addr4(10, 0, 99, 2, 6881);
	assert_int_equal(feed(h, &q, &ra, now), 0);
	assert_false(in_table(h, roid));
	h_free(h);
}

static void test_bad_replaced(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint64_t now = T0;
	uint8_t ids[16][20];
	for (uint16_t i = 0; i < 16; i++) {
		id_at(ids[i], 0, i);
		struct bt_addr a = addr4(10, 0, 1, (uint8_t)i, 6881);
		insert_node(h, ids[i], &a, now);
	}
	for (int i = 0; i < 8; i++)
		assert_true(in_table(h, ids[i]));
	for (int i = 8; i < 16; i++)
		assert_false(in_table(h, ids[i]));
	/* 15 minutes later all are questionable: pinged; nobody answers */
	now += 16 * 60 * 1000;
	size_t before = h->n;
	bt_dht_periodic(h->d, now);
	size_t pings = 0;
	for (size_t i = before; i < h->n; i++) {
		struct bt_krpc_msg *m = sent(h, i);
		if (m->type == BT_KRPC_QUERY && m->method == BT_KRPC_PING)
			pings++;
	}
	assert_int_equal(pings, 8);
	assert_int_equal(stats(h, now).dubious[0], 8);
	/* unanswered twice in a row: bad, and replaced by the cache */
	for (int round = 0; round < 2; round++) {
		now += BT_DHT_TX_TIMEOUT_MS;
		bt_dht_periodic(h->d, now);
		now += 60 * 1000;
		bt_dht_periodic(h->d, now);
	}
	for (int i = 0; i < 8; i++)
		assert_false(in_table(h, ids[i]));
	for (int i = 8; i < 16; i++)
		assert_true(in_table(h, ids[i]));
	assert_int_equal(stats(h, now).replacements[0], 0);
	h_free(h);
}

/* Replies that do not answer one of our queries from its address are not
 * taken. */
static void test_liars_refused(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint64_t now = T0;
	struct bt_addr a = addr4(10, 0, 0, 1, 6881),
		       b = addr4(10, 0, 0, 2, 6881);
	uint8_t id[20] = {0x12};
	assert_int_equal(bt_dht_ping(h->d, &a, now), 0);
	struct bt_krpc_msg *q = sent(h, h->n - 1);
	struct bt_krpc_msg r = {.type = BT_KRPC_RESPONSE, .has_id = true};
	memcpy(r.id, id, 20);
	memcpy(r.tid, q->tid, q->tid_len);
	r.tid_len = q->tid_len;
	/* from another address */
	assert_int_equal(feed(h, &r, &b, now), 0);
	assert_false(in_table(h, id));
	/* with a wrong transaction id */
	r.tid[3] ^= 0x55;
	assert_int_equal(feed(h, &r, &a, now), 0);
	assert_false(in_table(h, id));
	assert_int_equal(stats(h, now).unsolicited, 2);
	/* the real one */
	r.tid[3] ^= 0x55;
	assert_int_equal(feed(h, &r, &a, now), 0);
	assert_true(in_table(h, id));
	/* and not twice */
	assert_int_equal(feed(h, &r, &a, now), 0);
	assert_int_equal(stats(h, now).unsolicited, 3);
	h_free(h);
}

/* ---- rate limits and the ignore list ----------------------------------- */

static size_t replies_since(struct harness *h, size_t from)
{
	size_t n = 0;
	for (size_t i = from; i < h->n; i++)
		n += sent(h, i)->type == BT_KRPC_RESPONSE;
	return n;
}

static void test_rate_limits(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint64_t now = T0;
	struct bt_krpc_msg q;
	uint8_t id[20] = {0x21};
	struct bt_addr a = addr4(10, 0, 0, 1, 6881);
	query(&q, BT_KRPC_PING, id);
	/* a burst of 1000 pings from one IP in one millisecond: a few are
	 * answered (the per-IP burst), then the IP is ignored */
	size_t before = h->n;
	for (int i = 0; i < 1000; i++)
		feed(h, &q, &a, now);
	size_t answered = replies_since(h, before);
	assert_true(answered >= 8 && answered <= 40);
	struct bt_dht_stats st = stats(h, now);
	assert_true(st.dropped_rate > 0);
	assert_true(st.dropped_ignored > 0);
	assert_int_equal(st.ignored, 1);
	/* others are still answered */
	struct bt_addr b = addr4(10, 0, 0, 2, 6881);
	before = h->n;
	feed(h, &q, &b, now);
	assert_int_equal(replies_since(h, before), 1);
	/* still ignored a minute later, not after BT_DHT_IGNORE_MS */
	before = h->n;
	feed(h, &q, &a, now + 60000);
	assert_int_equal(replies_since(h, before), 0);
	now += BT_DHT_IGNORE_MS + 1;
	feed(h, &q, &a, now);
	assert_int_equal(replies_since(h, before), 1);
	assert_int_equal(stats(h, now).ignored, 0);

	/* a sustained rate within the limit is always answered */
	before = h->n;
	for (int i = 0; i < 100; i++)
		feed(h, &q, &b, now + 1000 + (uint64_t)i * 200); /* 5/s */
	assert_int_equal(replies_since(h, before), 100);

	/* overall: a thousand IPs at once get at most the global burst */
	now += 10000;
	before = h->n;
	for (int i = 0; i < 1000; i++) {
		struct bt_addr x =
		    addr4(10, 9, (uint8_t)(i >> 8), (uint8_t)i, 6881);
		feed(h, &q, &x, now);
	}
	answered = replies_since(h, before);
	assert_true(answered >= 300 && answered <= 400);
	h_free(h);
}

static void test_garbage_ignored(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint64_t now = T0;
	struct bt_addr a = addr4(10, 0, 0, 1, 6881);
	static const uint8_t junk[] = "d5:helloi3";
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		    bt_dht_input(h->d, junk, sizeof(junk) - 1, &a, now),
		    -EINVAL);
	assert_int_equal(stats(h, now).ignored, 1);
	/* even a good query from it is dropped now */
	struct bt_krpc_msg q;
	uint8_t id[20] = {0x21};
	query(&q, BT_KRPC_PING, id);
	size_t before = h->n;
	assert_int_equal(feed(h, &q, &a, now), 0);
	assert_int_equal(h->n, before);
	assert_true(stats(h, now).dropped_ignored >= 1);
	/* one stray bad datagram does not get an IP ignored */
	struct bt_addr b = addr4(10, 0, 0, 2, 6881);
	bt_dht_input(h->d, junk, sizeof(junk) - 1, &b, now);
	assert_int_equal(feed(h, &q, &b, now), 0);
	assert_int_equal(h->n, before + 1);
	h_free(h);
}

/* ---- lookups ------------------------------------------------------------ */

/* A bootstrap node that names 8 ever closer nodes that never answer: the
 * lookup ends within its bounds. */
static void test_lookup_bounded(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint64_t now = T0;
	struct bt_addr boot = addr4(10, 0, 0, 1, 6881);
	assert_int_equal(bt_dht_add_bootstrap(h->d, &boot, now), 0);
	uint8_t target[20] = {0x42};
	int id = bt_dht_search(h->d, target, BT_DHT_FIND_NODE, BT_DHT_V4, now);
	assert_true(id > 0);
	uint8_t liar[20] = {0x99};
	unsigned fake = 0;
	size_t seen = 0;
	while (h->ndone == 0 && now < T0 + 120000) {
		for (; seen < h->n; seen++) {
			struct bt_krpc_msg *m = sent(h, seen);
			if (m->type != BT_KRPC_QUERY ||
			    !bt_addr_equal(&h->pk[seen].to, &boot) ||
			    m->method == BT_KRPC_PING)
				continue;
			struct bt_krpc_node nodes[8];
			for (int k = 0; k < 8; k++, fake++) {
				memcpy(nodes[k].id, m->target, 20);
				nodes[k].id[19] ^= (uint8_t)(1 + k);
				nodes[k].id[18] ^= (uint8_t)fake;
				nodes[k].addr =
				    addr4(10, 200, (uint8_t)(fake >> 8),
					  (uint8_t)fake, 6881);
			}
			answer(h, seen, liar, nodes, 8, now);
		}
		now += 50;
		if (now >= bt_dht_deadline(h->d))
			bt_dht_periodic(h->d, now);
	}
	assert_true(h->ndone >= 1);
	const struct bt_dht_search_result *r = NULL;
	for (size_t i = 0; i < h->ndone; i++)
		if (h->done[i].id == id)
			r = &h->done[i];
	assert_non_null(r);
	assert_true(r->queries <= BT_DHT_SEARCH_MAX_QUERIES);
	assert_true(r->ms <= BT_DHT_SEARCH_MAX_MS);
	/* the liar's dead ends were given up after a few */
	assert_true(r->queries <= 16);
	assert_int_equal(r->n_nodes, 1); /* only the liar itself answered */
	h_free(h);
}

/* A lookup with nothing to ask ends at once, with nothing. */
static void test_lookup_empty(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint8_t target[20] = {1};
	int id = bt_dht_search(h->d, target, BT_DHT_GET_PEERS, BT_DHT_V4, T0);
	assert_true(id > 0);
	assert_int_equal(
	    bt_dht_search(h->d, target, BT_DHT_GET_PEERS, BT_DHT_V6, T0),
	    -EAFNOSUPPORT);
	assert_int_equal(bt_dht_search(h->d, target, 7, BT_DHT_V4, T0),
			 -EINVAL);
	bt_dht_periodic(h->d, T0 + 1);
	assert_int_equal(h->ndone, 1);
	assert_int_equal(h->done[0].id, id);
	assert_int_equal(h->done[0].n_nodes, 0);
	assert_int_equal(h->done[0].queries, 0);
	h_free(h);
}

/* In a small simulated network (no loss): lookups find the true closest,
 * an announce is found by another node, announces repeat, unannounce
 * stops them. */
static void test_lookup_network(void **state)
{
	(void)state;
	struct sim_cfg cfg = {
	    .n = 120, .seed = 7, .lat_min = 2, .lat_max = 20, .join_ms = 50};
	struct sim *s = sim_new(&cfg);
	sim_run_until(s, 120 * 50 + 60000);
	for (int i = 0; i < 10; i++) {
		uint8_t target[20];
		for (int k = 0; k < 20; k++)
			target[k] = (uint8_t)sim_rand(s);
		unsigned who = sim_random_honest(s);
		int id = bt_dht_search(s->nodes[who].dht, target,
				       BT_DHT_FIND_NODE, BT_DHT_V4, s->now);
		sim_arm(s, who);
		const struct sim_lookup *l =
		    sim_wait_lookup(s, who, id, s->now + 30000);
		assert_non_null(l);
		uint8_t truth[BT_DHT_K][20];
		size_t nt = sim_true_closest(s, target, truth, BT_DHT_K);
		assert_int_equal(l->r.n_nodes, nt);
		for (size_t k = 0; k < nt; k++)
			assert_memory_equal(l->r.nodes[k].id, truth[k], 20);
		assert_true(l->r.queries <= 3 * BT_DHT_K);
	}
	/* announce: repeated every BT_DHT_REANNOUNCE_MS */
	uint8_t ih[20] = {0xde, 0xad};
	unsigned a = sim_random_honest(s);
	assert_int_equal(bt_dht_announce(s->nodes[a].dht, ih, 5555, 0, s->now),
			 0);
	sim_arm(s, a);
	sim_run_until(s, s->now + 5000);
	unsigned lookups = 0, announced = 0;
	for (size_t k = 0; k < s->nlookups; k++)
		if (s->lookups[k].node == a && s->lookups[k].r.announce) {
			lookups++;
			announced += s->lookups[k].r.announced;
		}
	assert_int_equal(lookups, 1);
	assert_int_equal(announced, BT_DHT_K);
	sim_run_until(s, s->now + BT_DHT_REANNOUNCE_MS + 5000);
	lookups = 0;
	for (size_t k = 0; k < s->nlookups; k++)
		lookups += s->lookups[k].node == a && s->lookups[k].r.announce;
	assert_int_equal(lookups, 2);
	/* another node finds it */
	unsigned b;
	do
		b = sim_random_honest(s);
	while (b == a);
	size_t before = s->npeers;
	int id = bt_dht_search(s->nodes[b].dht, ih, BT_DHT_GET_PEERS, BT_DHT_V4,
			       s->now);
	sim_arm(s, b);
	assert_non_null(sim_wait_lookup(s, b, id, s->now + 30000));
	bool hit = false;
	for (size_t k = before; k < s->npeers; k++)
		hit |= s->peers[k].node == b &&
		       bt_addr_same_ip(&s->peers[k].peer, &s->nodes[a].addr) &&
		       s->peers[k].peer.port == 5555;
	assert_true(hit);
	/* unannounce: no more lookups */
	assert_int_equal(bt_dht_unannounce(s->nodes[a].dht, ih), 0);
	assert_int_equal(bt_dht_unannounce(s->nodes[a].dht, ih), -ENOENT);
	sim_run_until(s, s->now + BT_DHT_REANNOUNCE_MS + 5000);
	unsigned after = 0;
	for (size_t k = 0; k < s->nlookups; k++)
		after += s->lookups[k].node == a && s->lookups[k].r.announce;
	assert_int_equal(after, 2);
	sim_free(s);
}

static void test_announce_api(void **state)
{
	(void)state;
	struct bt_dht_opts o = {.max_announces = 2};
	struct harness *h = h_new(&o);
	uint8_t ih[20] = {1}, ih2[20] = {2}, ih3[20] = {3};
	assert_int_equal(bt_dht_announce(h->d, ih, 0, 0, T0), -EINVAL);
	assert_int_equal(
	    bt_dht_announce(h->d, ih, 0, BT_DHT_ANNOUNCE_IMPLIED_PORT, T0), 0);
	assert_int_equal(
	    bt_dht_announce(h->d, ih2, 0, BT_DHT_ANNOUNCE_SEARCH_ONLY, T0), 0);
	assert_int_equal(bt_dht_announce(h->d, ih3, 80, 0, T0), -ENOSPC);
	assert_int_equal(bt_dht_announce(h->d, ih, 80, 0, T0), 0); /* update */
	struct bt_dht_stats st = stats(h, T0);
	assert_int_equal(st.announces, 2);
	/* no node yet: nothing is sent, the deadline stays near */
	size_t before = h->n;
	uint64_t next = bt_dht_periodic(h->d, T0);
	assert_int_equal(h->n, before);
	assert_true(next <= T0 + 2000);
	h_free(h);
}

/* ---- state and IPv6 ----------------------------------------------------- */

static void test_state(void **state)
{
	(void)state;
	struct harness *h = h_new(NULL);
	uint64_t now = T0;
	for (uint16_t i = 0; i < 5; i++) {
		uint8_t id[20];
		id_at(id, (unsigned)i, i);
		struct bt_addr a = addr4(10, 0, 3, (uint8_t)i, 6881);
		insert_node(h, id, &a, now);
	}
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_dht_save(h->d, &b, now), 0);
	h_free(h);

	/* a new node from that state: same id, and it asks the saved nodes */
	struct bt_dht_opts o = {.state = b.buf, .state_len = b.len, .seed = 9};
	h = h_new(&o);
	struct bt_dht_stats st = stats(h, now);
	assert_true(st.state_loaded);
	assert_memory_equal(st.id, OWN_ID, 20);
	bt_dht_periodic(h->d, now);
	size_t finds = 0;
	for (size_t i = 0; i < h->n; i++) {
		struct bt_krpc_msg *m = sent(h, i);
		if (m->type == BT_KRPC_QUERY &&
		    m->method == BT_KRPC_FIND_NODE && h->pk[i].to.ip[1] == 0 &&
		    h->pk[i].to.ip[2] == 3)
			finds++;
	}
	assert_int_equal(finds, 4); /* alpha of the 5 */
	h_free(h);

	/* a damaged state is ignored: a fresh id */
	b.buf[5] ^= 0x20;
	struct bt_dht_opts o2 = {.state = b.buf, .state_len = b.len, .seed = 9};
	h = h_new(&o2);
	st = stats(h, now);
	assert_false(st.state_loaded);
	h_free(h);
	bt_benc_release(&b);
}

static void test_ipv6(void **state)
{
	(void)state;
	struct bt_dht_opts o = {.families = BT_DHT_V4 | BT_DHT_V6};
	struct harness *h = h_new(&o);
	uint64_t now = T0;
	struct bt_addr a6, b6;
	assert_int_equal(bt_addr_parse("[2001:db8::1]:6881", &a6), 0);
	assert_int_equal(bt_addr_parse("[2001:db8::2]:6881", &b6), 0);
	uint8_t id6[20] = {0x07};
	insert_node(h, id6, &a6, now);
	struct bt_dht_stats st = stats(h, now);
	assert_int_equal(st.good[1], 1);
	assert_int_equal(st.good[0], 0);
	uint8_t id4[20] = {0x08};
	struct bt_addr a4 = addr4(10, 0, 0, 8, 6881);
	insert_node(h, id4, &a4, now);

	/* a v6 querier gets nodes6; with want n4+n6 both */
	struct bt_krpc_msg q;
	uint8_t them[20] = {0x09};
	query(&q, BT_KRPC_FIND_NODE, them);
	q.target[0] = 0x07;
	assert_int_equal(feed(h, &q, &b6, now), 0);
	struct bt_krpc_msg *r = last(h);
	assert_int_equal(r->n_nodes, 0);
	assert_int_equal(r->n_nodes6, 1);
	assert_true(bt_addr_equal(&r->nodes6[0].addr, &a6));
	q.want = BT_KRPC_WANT_N4 | BT_KRPC_WANT_N6;
	assert_int_equal(feed(h, &q, &b6, now), 0);
	r = last(h);
	assert_int_equal(r->n_nodes, 1);
	assert_int_equal(r->n_nodes6, 1);
	/* values in the querier's family */
	uint8_t ih[20] = {0x31};
	uint8_t tok[64], tl;
	get_token(h, &a6, ih, tok, &tl, now);
	assert_int_equal(announce(h, &a6, ih, tok, tl, 7000, false, now), 0);
	query(&q, BT_KRPC_GET_PEERS, them);
	memcpy(q.target, ih, 20);
	assert_int_equal(feed(h, &q, &b6, now), 0);
	r = last(h);
	assert_int_equal(r->n_values, 1);
	assert_int_equal(r->values[0].family, BT_ADDR_V6);
	assert_int_equal(feed(h, &q, &a4, now), 0);
	r = last(h);
	assert_int_equal(r->n_values, 0);
	h_free(h);

	/* a v4-only node refuses v6 */
	h = h_new(NULL);
	query(&q, BT_KRPC_PING, them);
	assert_int_equal(feed(h, &q, &a6, now), -EAFNOSUPPORT);
	assert_int_equal(bt_dht_add_bootstrap(h->d, &a6, now), -EAFNOSUPPORT);
	h_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answers),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_store_bounds),
	    cmocka_unit_test(test_buckets),
	    cmocka_unit_test(test_bad_replaced),
	    cmocka_unit_test(test_liars_refused),
	    cmocka_unit_test(test_rate_limits),
	    cmocka_unit_test(test_garbage_ignored),
	    cmocka_unit_test(test_lookup_bounded),
	    cmocka_unit_test(test_lookup_empty),
	    cmocka_unit_test(test_lookup_network),
	    cmocka_unit_test(test_announce_api),
	    cmocka_unit_test(test_state),
	    cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
