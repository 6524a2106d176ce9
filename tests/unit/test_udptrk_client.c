/* Unit tests for bt_udptrk_client, the I/O-free BEP 15 client, against a
 * fake tracker in the test: the client's datagrams land in a list, the
 * test reads them as a tracker would and answers through
 * bt_udptrk_client_input(), with a clock of its own. Covers connect then
 * announce, connection-id caching and expiry, shared connects, several
 * trackers at once, the BEP's retransmission schedule, and hostile
 * trackers: garbage, wrong transaction ids or source, error packets,
 * huge peer lists, intervals of 0 and -1, silence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_udptrk.h"
#include "bt_udptrk_client.h"

/* ---- the fake network ---- */

#define MAXQ 64

struct dgram {
	struct bt_addr to;
	uint8_t buf[BT_UDPTRK_REQ_MAX];
	size_t len;
};

struct net {
	struct dgram q[MAXQ];
	size_t n;
	int send_ret; /* what the send function returns */
};

static int net_send(void *arg, const struct bt_addr *to, const uint8_t *buf,
		    size_t len)
{
	struct net *n = arg;
	assert_true(n->n < MAXQ);
	assert_true(len <= BT_UDPTRK_REQ_MAX);
	n->q[n->n].to = *to;
	memcpy(n->q[n->n].buf, buf, len);
	n->q[n->n].len = len;
	n->n++;
	return n->send_ret;
}

/* A result of one request. */
struct res {
	int calls;
	int err;
	char why[160];
	char failure[128];
	bool has_failure;
	size_t npeers;
	struct bt_addr peers[4];
	uint32_t interval;
	int64_t complete, incomplete;
	/* optional actions from inside the callback */
	struct bt_udptrk_client *c;
	struct bt_udptrk_req *cancel;
	struct res *cancel_res;
	bool announce_again;
	uint64_t now; /* of that announce */
	struct bt_udptrk_req *again;
};

static const struct bt_announce *the_announce(void);

static void res_cb(int err, const char *why, const struct bt_tracker_reply *r,
		   void *arg)
{
	struct res *s = arg;
	s->calls++;
	s->err = err;
	snprintf(s->why, sizeof(s->why), "%s", why ? why : "");
	if (err == 0) {
		assert_non_null(r);
		assert_null(why);
		s->npeers = r->npeers;
		for (size_t i = 0; i < r->npeers && i < 4; i++)
			s->peers[i] = r->peers[i];
		s->interval = r->interval;
		s->complete = r->complete;
		s->incomplete = r->incomplete;
		s->has_failure = r->failure != NULL;
		snprintf(s->failure, sizeof(s->failure), "%s",
			 r->failure ? r->failure : "");
	} else {
		assert_null(r);
		assert_non_null(why);
		assert_true(why[0] != '\0');
	}
	if (s->cancel) {
		bt_udptrk_client_cancel(s->c, s->cancel);
		s->cancel = NULL;
	}
	if (s->announce_again) {
		s->announce_again = false;
		struct bt_addr a;
		bt_addr_parse("127.0.0.1:7777", &a);
		int e;
		s->again = bt_udptrk_client_announce(s->c, &a, NULL, 0,
						     the_announce(), 0, s->now,
						     res_cb, s->cancel_res, &e);
		assert_non_null(s->again);
	}
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static struct bt_announce g_announce;

static const struct bt_announce *the_announce(void)
{
	memset(&g_announce, 0, sizeof(g_announce));
	memset(g_announce.info_hash, 0xab, 20);
	memcpy(g_announce.peer_id, "-PF0100-123456789012", 20);
	g_announce.port = 6881;
	g_announce.left = 1000;
	g_announce.event = BT_EVENT_STARTED;
	g_announce.numwant = 50;
	g_announce.key = 0x01020304;
	return &g_announce;
}

static struct bt_addr addr(const char *s)
{
	struct bt_addr a;
	assert_int_equal(bt_addr_parse(s, &a), 0);
	return a;
}

/* The tid of the connect request Q (checking its shape). */
static uint32_t connect_tid(const struct dgram *q)
{
	assert_int_equal(q->len, 16);
	assert_true(get64(q->buf) == BT_UDPTRK_PROTOCOL_ID);
	assert_int_equal(get32(q->buf + 8), 0);
	return get32(q->buf + 12);
}

/* The tid of the announce request Q, checking its connection id. */
static uint32_t announce_tid(const struct dgram *q, uint64_t cid)
{
	assert_true(q->len >= 98);
	assert_true(get64(q->buf) == cid);
	assert_int_equal(get32(q->buf + 8), 1);
	return get32(q->buf + 12);
}

static int send_connect_reply(struct bt_udptrk_client *c, uint32_t tid,
			      uint64_t cid, const char *from, uint64_t now)
{
	uint8_t p[16];
	put32(p, 0);
	put32(p + 4, tid);
	put64(p + 8, cid);
	struct bt_addr f = addr(from);
	return bt_udptrk_client_input(c, p, sizeof(p), &f, now);
}

/* An announce reply with NPEERS IPv4 peers 10.0.x.y:6881. */
static int send_announce_reply(struct bt_udptrk_client *c, uint32_t tid,
			       uint32_t interval, size_t npeers,
			       const char *from, uint64_t now)
{
	size_t len = 20 + 6 * npeers;
	uint8_t *p = malloc(len);
	put32(p, 1);
	put32(p + 4, tid);
	put32(p + 8, interval);
	put32(p + 12, 5);
	put32(p + 16, 6);
	for (size_t i = 0; i < npeers; i++) {
		uint8_t *q = p + 20 + 6 * i;
		q[0] = 10;
		q[1] = 0;
		q[2] = (uint8_t)(i >> 8);
		q[3] = (uint8_t)(i + 1);
		q[4] = 0x1a;
		q[5] = 0xe1;
	}
	struct bt_addr f = addr(from);
	int e = bt_udptrk_client_input(c, p, len, &f, now);
	free(p);
	return e;
}

static int send_error_reply(struct bt_udptrk_client *c, uint32_t tid,
			    const char *msg, const char *from, uint64_t now)
{
	uint8_t p[256];
	put32(p, 3);
	put32(p + 4, tid);
	memcpy(p + 8, msg, strlen(msg));
	struct bt_addr f = addr(from);
	return bt_udptrk_client_input(c, p, 8 + strlen(msg), &f, now);
}

static struct bt_udptrk_client *client(struct net *n, uint64_t base,
				       unsigned retries)
{
	struct bt_udptrk_client_cfg cfg;
	bt_udptrk_client_defaults(&cfg);
	cfg.send_fn = net_send;
	cfg.send_arg = n;
	cfg.seed = 12345;
	if (base)
		cfg.base_timeout_ms = base;
	cfg.retries = retries;
	int e;
	struct bt_udptrk_client *c = bt_udptrk_client_new(&cfg, &e);
	assert_non_null(c);
	assert_int_equal(e, 0);
	return c;
}

static struct bt_udptrk_req *announce(struct bt_udptrk_client *c,
				      const char *to, const char *data,
				      uint64_t now, struct res *r)
{
	struct bt_addr a = addr(to);
	int e = 1;
	struct bt_udptrk_req *req = bt_udptrk_client_announce(
		c, &a, data, data ? strlen(data) : 0, the_announce(), 0, now,
		res_cb, r, &e);
	assert_non_null(req);
	assert_int_equal(e, 0);
	return req;
}

#define TRK "127.0.0.1:6969"

/* ---- tests ---- */

static void test_connect_then_announce(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r = {0};
	announce(c, TRK, "/announce?k=1", 1000, &r);
	assert_int_equal(n.n, 1); /* sent at once */
	assert_int_equal(r.calls, 0);
	struct bt_addr trk = addr(TRK);
	assert_true(bt_addr_equal(&n.q[0].to, &trk));
	uint32_t ct = connect_tid(&n.q[0]);
	assert_true(bt_udptrk_client_deadline(c) == 1000 + 15000);

	assert_int_equal(send_connect_reply(c, ct, 0x1122334455667788ull, TRK,
					    1010),
			 0);
	assert_int_equal(n.n, 2);
	uint32_t at = announce_tid(&n.q[1], 0x1122334455667788ull);
	assert_true(at != ct);
	/* the announce carries the torrent and BEP 41 URL data */
	assert_memory_equal(n.q[1].buf + 16, the_announce()->info_hash, 20);
	assert_int_equal(get32(n.q[1].buf + 80), 2);
	assert_int_equal(n.q[1].len, 98 + 2 + 13 + 1);
	assert_memory_equal(n.q[1].buf + 100, "/announce?k=1", 13);
	assert_true(bt_udptrk_client_deadline(c) == 1010 + 15000);

	assert_int_equal(send_announce_reply(c, at, 1800, 2, TRK, 1020), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, 0);
	assert_false(r.has_failure);
	assert_int_equal(r.npeers, 2);
	assert_int_equal(r.interval, 1800);
	assert_int_equal(r.complete, 6);
	assert_int_equal(r.incomplete, 5);
	char s[BT_ADDR_STRLEN];
	bt_addr_str(&r.peers[1], s, sizeof(s));
	assert_string_equal(s, "10.0.0.2:6881");
	assert_true(bt_udptrk_client_deadline(c) == UINT64_MAX);
	assert_true(bt_udptrk_client_periodic(c, 100000) == UINT64_MAX);
	/* the same reply again is a stray now */
	assert_int_equal(send_announce_reply(c, at, 1800, 2, TRK, 1030),
			 -ENOENT);
	assert_int_equal(r.calls, 1);
	struct bt_udptrk_client_stats st;
	bt_udptrk_client_stats(c, &st);
	assert_int_equal(st.connects_sent, 1);
	assert_int_equal(st.announces_sent, 1);
	assert_int_equal(st.retransmits, 0);
	assert_int_equal(st.replies, 2);
	assert_int_equal(st.strays, 1);
	assert_int_equal(st.live, 0);
	bt_udptrk_client_free(c);
}

static void test_conn_id_cache(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r1 = {0}, r2 = {0}, r3 = {0};
	announce(c, TRK, NULL, 0, &r1);
	send_connect_reply(c, connect_tid(&n.q[0]), 77, TRK, 100);
	send_announce_reply(c, announce_tid(&n.q[1], 77), 60, 0, TRK, 200);
	assert_int_equal(r1.calls, 1);
	/* within a minute of the connect reply: no new connect */
	announce(c, TRK, NULL, 100 + 59999, &r2);
	assert_int_equal(n.n, 3);
	send_announce_reply(c, announce_tid(&n.q[2], 77), 60, 1, TRK, 60200);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.npeers, 1);
	/* a minute after it: connect again */
	announce(c, TRK, NULL, 100 + 60000, &r3);
	assert_int_equal(n.n, 4);
	send_connect_reply(c, connect_tid(&n.q[3]), 78, TRK, 60200);
	send_announce_reply(c, announce_tid(&n.q[4], 78), 60, 0, TRK, 60300);
	assert_int_equal(r3.calls, 1);
	assert_int_equal(r3.err, 0);
	/* another tracker address (another port) has its own id */
	struct res r4 = {0};
	announce(c, "127.0.0.1:6970", NULL, 60400, &r4);
	connect_tid(&n.q[5]);
	bt_udptrk_client_free(c); /* with a live request: no callback */
	assert_int_equal(r4.calls, 0);
}

static void test_shared_connect_and_routing(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res ra = {0}, rb = {0}, rc = {0};
	/* two torrents to one tracker, a third to another, at once */
	announce(c, TRK, NULL, 0, &ra);
	announce(c, TRK, NULL, 0, &rb);
	announce(c, "127.0.0.2:6969", NULL, 0, &rc);
	assert_int_equal(n.n, 2); /* one connect per tracker */
	uint32_t c1 = connect_tid(&n.q[0]), c2 = connect_tid(&n.q[1]);
	assert_true(c1 != c2);
	/* tracker 2's connect answered by tracker 1's address: not taken */
	assert_int_equal(send_connect_reply(c, c2, 5, TRK, 10), -ENOENT);
	assert_int_equal(send_connect_reply(c, c1, 5, TRK, 10), 0);
	assert_int_equal(n.n, 4); /* both announces go out */
	uint32_t t1 = announce_tid(&n.q[2], 5), t2 = announce_tid(&n.q[3], 5);
	assert_true(t1 != t2 && t1 != c1 && t2 != c1);
	/* answers in reverse order reach the right requests */
	send_announce_reply(c, t1, 100, 1, TRK, 20);
	send_announce_reply(c, t2, 200, 2, TRK, 20);
	/* the newest request is the list head: the announces went out in
	 * list order, so find which got which by its interval */
	assert_int_equal(ra.calls, 1);
	assert_int_equal(rb.calls, 1);
	assert_true((ra.interval == 100 && ra.npeers == 1 &&
		     rb.interval == 200 && rb.npeers == 2) ||
		    (ra.interval == 200 && ra.npeers == 2 &&
		     rb.interval == 100 && rb.npeers == 1));
	assert_int_equal(rc.calls, 0);
	send_connect_reply(c, c2, 9, "127.0.0.2:6969", 30);
	send_announce_reply(c, announce_tid(&n.q[4], 9), 300, 3,
			    "127.0.0.2:6969", 40);
	assert_int_equal(rc.calls, 1);
	assert_int_equal(rc.npeers, 3);
	bt_udptrk_client_free(c);
}

static void test_wrong_tid_and_source(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r = {0};
	announce(c, TRK, NULL, 0, &r);
	uint32_t ct = connect_tid(&n.q[0]);
	/* a spoofer that guesses wrong, and the right id from the wrong
	 * port or host */
	assert_int_equal(send_connect_reply(c, ct + 1, 1, TRK, 1), -ENOENT);
	assert_int_equal(send_connect_reply(c, ct, 1, "127.0.0.1:6970", 1),
			 -ENOENT);
	assert_int_equal(send_connect_reply(c, ct, 1, "127.0.0.9:6969", 1),
			 -ENOENT);
	assert_int_equal(n.n, 1);
	assert_int_equal(send_connect_reply(c, ct, 2, TRK, 2), 0);
	uint32_t at = announce_tid(&n.q[1], 2);
	assert_int_equal(send_announce_reply(c, at ^ 0x80000000u, 60, 3, TRK, 3),
			 -ENOENT);
	assert_int_equal(send_announce_reply(c, ct, 60, 3, TRK, 3), -ENOENT);
	assert_int_equal(r.calls, 0);
	/* garbage that is not BEP 15's shape */
	struct bt_addr f = addr(TRK);
	assert_int_equal(bt_udptrk_client_input(c, (const uint8_t *)"d1:y1:re",
						8, &f, 4),
			 -ENOENT);
	assert_int_equal(bt_udptrk_client_input(c, (const uint8_t *)"", 0, &f,
						4),
			 -ENOENT);
	assert_int_equal(send_announce_reply(c, at, 60, 3, TRK, 5), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.npeers, 3);
	struct bt_udptrk_client_stats st;
	bt_udptrk_client_stats(c, &st);
	assert_int_equal(st.strays, 7);
	bt_udptrk_client_free(c);
}

static void test_bep_schedule(void **state)
{
	(void)state;
	/* the defaults: 15 s, then 30 s, then "failed" 45 s after the send */
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r = {0};
	announce(c, TRK, NULL, 0, &r);
	uint32_t ct = connect_tid(&n.q[0]);
	assert_true(bt_udptrk_client_periodic(c, 14999) == 15000);
	assert_int_equal(n.n, 1);
	assert_true(bt_udptrk_client_periodic(c, 15000) == 45000);
	assert_int_equal(n.n, 2);
	assert_int_equal(connect_tid(&n.q[1]), ct); /* the same exchange */
	assert_true(bt_udptrk_client_periodic(c, 44999) == 45000);
	assert_int_equal(r.calls, 0);
	assert_true(bt_udptrk_client_periodic(c, 45000) == UINT64_MAX);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_non_null(strstr(r.why, "connect"));
	assert_int_equal(n.n, 2);
	/* a late reply is a stray */
	assert_int_equal(send_connect_reply(c, ct, 1, TRK, 46000), -ENOENT);
	bt_udptrk_client_free(c);

	/* BEP 15's full schedule: n up to 8, 15 · (2^9 − 1) s in all */
	memset(&n, 0, sizeof(n));
	c = client(&n, 0, BT_UDPTRK_RETRIES_MAX);
	memset(&r, 0, sizeof(r));
	announce(c, TRK, NULL, 0, &r);
	uint64_t t = 0, next;
	while ((next = bt_udptrk_client_periodic(c, t)) != UINT64_MAX)
		t = next;
	assert_int_equal(n.n, 9);
	assert_true(t == 15000ull * 511);
	assert_int_equal(r.err, -ETIMEDOUT);
	bt_udptrk_client_free(c);

	/* no retransmission at all */
	memset(&n, 0, sizeof(n));
	c = client(&n, 100, 0);
	memset(&r, 0, sizeof(r));
	announce(c, TRK, NULL, 0, &r);
	assert_true(bt_udptrk_client_periodic(c, 100) == UINT64_MAX);
	assert_int_equal(n.n, 1);
	assert_int_equal(r.err, -ETIMEDOUT);
	bt_udptrk_client_free(c);

	/* retries over 8 are refused */
	struct bt_udptrk_client_cfg cfg;
	bt_udptrk_client_defaults(&cfg);
	cfg.send_fn = net_send;
	cfg.retries = 9;
	int e;
	assert_null(bt_udptrk_client_new(&cfg, &e));
	assert_int_equal(e, -EINVAL);
	cfg.retries = 1;
	cfg.send_fn = NULL;
	assert_null(bt_udptrk_client_new(&cfg, &e));
	assert_int_equal(e, -EINVAL);
}

static void test_silent_announce(void **state)
{
	(void)state;
	/* connect answered, announce never: retransmitted with the same id,
	 * then failed */
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 100, 2);
	struct res r = {0};
	announce(c, TRK, NULL, 0, &r);
	send_connect_reply(c, connect_tid(&n.q[0]), 3, TRK, 50);
	uint32_t at = announce_tid(&n.q[1], 3);
	assert_true(bt_udptrk_client_periodic(c, 150) == 350);
	assert_int_equal(announce_tid(&n.q[2], 3), at);
	assert_true(bt_udptrk_client_periodic(c, 350) == 750);
	assert_int_equal(announce_tid(&n.q[3], 3), at);
	/* a reply to the first send, arriving late, is still taken */
	assert_int_equal(send_announce_reply(c, at, 60, 1, TRK, 700), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, 0);

	struct res r2 = {0};
	announce(c, TRK, NULL, 800, &r2); /* id still cached */
	assert_int_equal(n.n, 5);
	uint64_t t = 800, next;
	while ((next = bt_udptrk_client_periodic(c, t)) != UINT64_MAX)
		t = next;
	assert_true(t == 800 + 700);
	assert_int_equal(n.n, 7);
	assert_int_equal(r2.err, -ETIMEDOUT);
	assert_non_null(strstr(r2.why, "announce after 3 tries"));
	struct bt_udptrk_client_stats st;
	bt_udptrk_client_stats(c, &st);
	assert_int_equal(st.retransmits, 4);
	assert_int_equal(st.failed, 1);
	bt_udptrk_client_free(c);
}

static void test_conn_id_expires_mid_retry(void **state)
{
	(void)state;
	/* base 30 s, 3 retries: the id of t=0 is stale at the retransmission
	 * of t=90 s, so a new connect goes first; the announce count goes on
	 * (a tracker answering connects only cannot keep us forever) */
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 30000, 3);
	struct res r = {0};
	announce(c, TRK, NULL, 0, &r);
	send_connect_reply(c, connect_tid(&n.q[0]), 1, TRK, 0);
	uint32_t a1 = announce_tid(&n.q[1], 1);
	bt_udptrk_client_periodic(c, 30000);
	assert_int_equal(announce_tid(&n.q[2], 1), a1);
	bt_udptrk_client_periodic(c, 90000);
	assert_int_equal(n.n, 4);
	uint32_t ct = connect_tid(&n.q[3]);
	/* the old transaction is gone */
	assert_int_equal(send_announce_reply(c, a1, 60, 1, TRK, 90001),
			 -ENOENT);
	send_connect_reply(c, ct, 2, TRK, 90010);
	uint32_t a2 = announce_tid(&n.q[4], 2);
	assert_true(a2 != a1);
	/* three announces sent so far: one more, then failure */
	uint64_t t = 90010, next;
	while ((next = bt_udptrk_client_periodic(c, t)) != UINT64_MAX) {
		t = next;
		/* answer every connect, never an announce */
		const struct dgram *q = &n.q[n.n - 1];
		if (q->len == 16)
			send_connect_reply(c, connect_tid(q), 3, TRK, t);
	}
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_non_null(strstr(r.why, "4 tries"));
	bt_udptrk_client_free(c);
}

static void test_error_packets(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r1 = {0}, r2 = {0};
	/* an error to the connect reaches every request waiting for it */
	announce(c, TRK, NULL, 0, &r1);
	announce(c, TRK, NULL, 0, &r2);
	assert_int_equal(send_error_reply(c, connect_tid(&n.q[0]),
					  "go away\n", TRK, 1),
			 0);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.err, 0);
	assert_true(r1.has_failure);
	assert_string_equal(r1.failure, "go away?");
	assert_int_equal(r2.calls, 1);
	assert_string_equal(r2.failure, "go away?");
	assert_int_equal(r2.npeers, 0);
	assert_true(bt_udptrk_client_deadline(c) == UINT64_MAX);

	/* an error to the announce (opentracker's whitelist) */
	struct res r3 = {0}, r4 = {0};
	announce(c, TRK, NULL, 10, &r3);
	send_connect_reply(c, connect_tid(&n.q[1]), 4, TRK, 11);
	send_error_reply(c, announce_tid(&n.q[2], 4),
			 "Requested download is not authorized for use with "
			 "this tracker.",
			 TRK, 12);
	assert_int_equal(r3.calls, 1);
	assert_int_equal(r3.err, 0);
	assert_non_null(strstr(r3.failure, "not authorized"));
	/* and the id is not trusted afterwards */
	announce(c, TRK, NULL, 13, &r4);
	connect_tid(&n.q[3]);
	bt_udptrk_client_free(c);
}

static void test_malformed_replies(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r = {0};
	struct bt_addr f = addr(TRK);
	/* a short connect reply with the right id */
	announce(c, TRK, NULL, 0, &r);
	uint8_t p[64] = {0};
	put32(p + 4, connect_tid(&n.q[0]));
	assert_int_equal(bt_udptrk_client_input(c, p, 12, &f, 1), 0);
	assert_int_equal(r.err, -EPROTO);
	assert_non_null(strstr(r.why, "connect reply of 12 bytes"));

	/* an announce reply with a torn peer list */
	memset(&r, 0, sizeof(r));
	announce(c, TRK, NULL, 2, &r);
	send_connect_reply(c, connect_tid(&n.q[1]), 8, TRK, 3);
	uint32_t at = announce_tid(&n.q[2], 8);
	put32(p, 1);
	put32(p + 4, at);
	assert_int_equal(bt_udptrk_client_input(c, p, 20 + 7, &f, 4), 0);
	assert_int_equal(r.err, -EPROTO);
	assert_non_null(strstr(r.why, "multiple of 6"));

	/* the connect's id answered with an announce reply */
	memset(&r, 0, sizeof(r));
	announce(c, "127.0.0.1:1", NULL, 5, &r);
	struct bt_addr f1 = addr("127.0.0.1:1");
	put32(p, 1);
	put32(p + 4, connect_tid(&n.q[3]));
	assert_int_equal(bt_udptrk_client_input(c, p, 20, &f1, 6), 0);
	assert_int_equal(r.err, -EPROTO);
	assert_non_null(strstr(r.why, "action 1 to a connect"));
	struct bt_udptrk_client_stats st;
	bt_udptrk_client_stats(c, &st);
	assert_int_equal(st.malformed, 3);
	assert_int_equal(st.failed, 3);
	bt_udptrk_client_free(c);
}

static void test_huge_and_hostile_intervals(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	static const uint32_t iv[] = {0, 0xffffffffu, 5000};
	for (size_t i = 0; i < 3; i++) {
		struct res r = {0};
		announce(c, TRK, NULL, i, &r);
		if (i == 0)
			send_connect_reply(c, connect_tid(&n.q[0]), 6, TRK, 0);
		/* 10,000 peers: the largest datagram holds about 10,914 */
		assert_int_equal(send_announce_reply(
					 c, announce_tid(&n.q[n.n - 1], 6),
					 iv[i], 10000, TRK, i),
				 0);
		assert_int_equal(r.err, 0);
		assert_int_equal(r.npeers, BT_TRACKER_MAX_PEERS);
		assert_int_equal(r.interval, i < 2 ? 30 : 5000);
	}
	bt_udptrk_client_free(c);

	/* a smaller cap from the configuration */
	struct bt_udptrk_client_cfg cfg;
	bt_udptrk_client_defaults(&cfg);
	cfg.send_fn = net_send;
	cfg.send_arg = &n;
	cfg.max_peers = 3;
	memset(&n, 0, sizeof(n));
	c = bt_udptrk_client_new(&cfg, NULL);
	struct res r = {0};
	announce(c, TRK, NULL, 0, &r);
	send_connect_reply(c, connect_tid(&n.q[0]), 6, TRK, 0);
	send_announce_reply(c, announce_tid(&n.q[1], 6), 60, 100, TRK, 0);
	assert_int_equal(r.npeers, 3);
	bt_udptrk_client_free(c);
}

static void test_ipv6_tracker(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r = {0};
	announce(c, "[::1]:6969", NULL, 0, &r);
	send_connect_reply(c, connect_tid(&n.q[0]), 6, "[::1]:6969", 0);
	uint32_t at = announce_tid(&n.q[1], 6);
	uint8_t p[20 + 36] = {0};
	put32(p, 1);
	put32(p + 4, at);
	put32(p + 8, 600);
	p[20] = 0x20;
	p[21] = 0x01;
	p[20 + 15] = 1;
	p[20 + 17] = 99;
	p[38 + 15] = 2;
	p[38 + 17] = 98;
	struct bt_addr f = addr("[::1]:6969");
	assert_int_equal(bt_udptrk_client_input(c, p, sizeof(p), &f, 1), 0);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.npeers, 2);
	char s[BT_ADDR_STRLEN];
	bt_addr_str(&r.peers[0], s, sizeof(s));
	assert_string_equal(s, "[2001::1]:99");
	bt_addr_str(&r.peers[1], s, sizeof(s));
	assert_string_equal(s, "[::2]:98");
	bt_udptrk_client_free(c);
}

static void test_cancel(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 100, 1);
	struct res r1 = {0}, r2 = {0};
	struct bt_udptrk_req *q1 = announce(c, TRK, NULL, 0, &r1);
	uint32_t ct = connect_tid(&n.q[0]);
	bt_udptrk_client_cancel(c, q1);
	bt_udptrk_client_cancel(c, NULL);
	/* nobody waits: the connect stops, its late reply is a stray */
	assert_true(bt_udptrk_client_deadline(c) == UINT64_MAX);
	assert_int_equal(send_connect_reply(c, ct, 1, TRK, 10), -ENOENT);
	assert_true(bt_udptrk_client_periodic(c, 1000) == UINT64_MAX);
	assert_int_equal(r1.calls, 0);

	/* cancelled while announcing */
	struct bt_udptrk_req *q2 = announce(c, TRK, NULL, 2000, &r2);
	send_connect_reply(c, connect_tid(&n.q[1]), 1, TRK, 2001);
	uint32_t at = announce_tid(&n.q[2], 1);
	bt_udptrk_client_cancel(c, q2);
	assert_int_equal(send_announce_reply(c, at, 60, 1, TRK, 2002), -ENOENT);
	assert_int_equal(r2.calls, 0);
	assert_int_equal(n.n, 3);
	bt_udptrk_client_free(c);
}

static void test_reentrant_callbacks(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 100, 0);
	/* three requests wait for one connect that times out; the first
	 * called back cancels another and starts a new request */
	struct res r[3];
	struct bt_udptrk_req *q[3];
	struct res rnew = {0};
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 3; i++) {
		q[i] = announce(c, TRK, NULL, 0, &r[i]);
		r[i].c = c;
	}
	assert_int_equal(n.n, 1);
	/* the newest request is the head of the list, so r[2] is first */
	r[2].cancel = q[1];
	r[2].announce_again = true;
	r[2].cancel_res = &rnew;
	r[2].now = 100;
	rnew.c = c;
	uint64_t next = bt_udptrk_client_periodic(c, 100);
	assert_int_equal(r[2].calls, 1);
	assert_int_equal(r[1].calls, 0);
	assert_int_equal(r[0].calls, 1);
	assert_int_equal(r[0].err, -ETIMEDOUT);
	/* the new request started a new connect from inside the callback */
	assert_int_equal(rnew.calls, 0);
	assert_true(next == 200);
	assert_int_equal(n.n, 2);
	assert_int_equal(send_connect_reply(c, connect_tid(&n.q[1]), 4,
					    "127.0.0.1:7777", 150),
			 0);
	send_announce_reply(c, announce_tid(&n.q[2], 4), 60, 1,
			    "127.0.0.1:7777", 160);
	assert_int_equal(rnew.calls, 1);
	assert_int_equal(rnew.err, 0);

	/* a connect error delivered to a callback that cancels the other
	 * waiter */
	struct res e1 = {0}, e2 = {0};
	e1.c = e2.c = c;
	struct bt_addr other = addr("127.0.0.3:1");
	int err;
	struct bt_udptrk_req *w1 = bt_udptrk_client_announce(
		c, &other, NULL, 0, the_announce(), 0, 200, res_cb, &e1, &err);
	struct bt_udptrk_req *w2 = bt_udptrk_client_announce(
		c, &other, NULL, 0, the_announce(), 0, 200, res_cb, &e2, &err);
	assert_non_null(w1);
	assert_non_null(w2);
	e2.cancel = w1; /* w2 is the head: called first */
	send_error_reply(c, connect_tid(&n.q[n.n - 1]), "no", "127.0.0.3:1",
			 201);
	assert_int_equal(e2.calls, 1);
	assert_int_equal(e1.calls, 0);
	bt_udptrk_client_free(c);
}

static void test_request_timeout(void **state)
{
	(void)state;
	/* a `stopped` at shutdown: 2 s whatever the schedule says */
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r = {0};
	struct bt_addr a = addr(TRK);
	int e;
	assert_non_null(bt_udptrk_client_announce(c, &a, NULL, 0,
						  the_announce(), 2000, 500,
						  res_cb, &r, &e));
	assert_true(bt_udptrk_client_deadline(c) == 2500);
	assert_true(bt_udptrk_client_periodic(c, 2500) == UINT64_MAX);
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_non_null(strstr(r.why, "timeout"));
	bt_udptrk_client_free(c);
}

static void test_send_errors(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 100, 1);
	struct res r = {0};
	struct bt_addr a = addr(TRK);
	int e = 0;
	/* permanent: refused at once, nothing left behind */
	n.send_ret = -EAFNOSUPPORT;
	assert_null(bt_udptrk_client_announce(c, &a, NULL, 0, the_announce(),
					      0, 0, res_cb, &r, &e));
	assert_int_equal(e, -EAFNOSUPPORT);
	assert_true(bt_udptrk_client_deadline(c) == UINT64_MAX);
	/* transient: a lost datagram, retransmitted */
	n.send_ret = -EAGAIN;
	assert_non_null(bt_udptrk_client_announce(c, &a, NULL, 0,
						  the_announce(), 0, 0, res_cb,
						  &r, &e));
	n.send_ret = 0;
	bt_udptrk_client_periodic(c, 100);
	assert_int_equal(n.n, 3);
	send_connect_reply(c, connect_tid(&n.q[2]), 1, TRK, 110);
	/* permanent failure of a retransmission */
	n.send_ret = -ENETUNREACH;
	bt_udptrk_client_periodic(c, 210);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, -ENETUNREACH);
	n.send_ret = 0;

	bt_udptrk_client_free(c);

	/* a connect that could not be sent is not waited for: a request
	 * that needs a new connection id later sends one at once */
	memset(&n, 0, sizeof(n));
	c = client(&n, 100000, 1);
	struct res ra = {0}, rb = {0};
	announce(c, TRK, NULL, 0, &ra);
	send_connect_reply(c, connect_tid(&n.q[0]), 5, TRK, 0);
	announce_tid(&n.q[1], 5);
	n.send_ret = -EPERM; /* a firewall, say */
	assert_null(bt_udptrk_client_announce(c, &a, NULL, 0, the_announce(),
					      0, 61000, res_cb, &rb, &e));
	assert_int_equal(e, -EPERM);
	n.send_ret = 0;
	size_t before = n.n;
	bt_udptrk_client_periodic(c, 100000); /* A's retransmission */
	assert_int_equal(n.n, before + 1);
	connect_tid(&n.q[n.n - 1]);
	assert_int_equal(ra.calls, 0);

	/* bad arguments */
	struct bt_addr none = {0};
	assert_null(bt_udptrk_client_announce(c, &none, NULL, 0,
					      the_announce(), 0, 0, res_cb, &r,
					      &e));
	assert_int_equal(e, -EINVAL);
	struct bt_addr p0 = addr(TRK);
	p0.port = 0;
	assert_null(bt_udptrk_client_announce(c, &p0, NULL, 0, the_announce(),
					      0, 0, res_cb, &r, &e));
	assert_int_equal(e, -EINVAL);
	assert_null(bt_udptrk_client_announce(c, &a, "x",
					      BT_UDPTRK_URLDATA_MAX + 1,
					      the_announce(), 0, 0, res_cb, &r,
					      &e));
	assert_int_equal(e, -EINVAL);
	bt_udptrk_client_free(c);
}

static void test_unreachable(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client *c = client(&n, 0, BT_UDPTRK_RETRIES);
	struct res r1 = {0}, r2 = {0}, r3 = {0};
	announce(c, TRK, NULL, 0, &r1);
	announce(c, TRK, NULL, 0, &r2);
	announce(c, "127.0.0.2:6969", NULL, 0, &r3);
	struct bt_addr a = addr(TRK);
	bt_udptrk_client_unreachable(c, &a, -ECONNREFUSED, 5);
	assert_int_equal(r1.err, -ECONNREFUSED);
	assert_int_equal(r2.err, -ECONNREFUSED);
	assert_non_null(strstr(r1.why, "unreachable"));
	assert_int_equal(r3.calls, 0);
	bt_udptrk_client_free(c);
}

static void test_limits_and_random(void **state)
{
	(void)state;
	struct net n = {0};
	struct bt_udptrk_client_cfg cfg;
	bt_udptrk_client_defaults(&cfg);
	cfg.send_fn = net_send;
	cfg.send_arg = &n;
	cfg.max_requests = 3;
	struct bt_udptrk_client *c = bt_udptrk_client_new(&cfg, NULL);
	struct res r = {0};
	for (int i = 0; i < 3; i++)
		announce(c, TRK, NULL, 0, &r);
	struct bt_addr a = addr(TRK);
	int e;
	assert_null(bt_udptrk_client_announce(c, &a, NULL, 0, the_announce(),
					      0, 0, res_cb, &r, &e));
	assert_int_equal(e, -ENOBUFS);
	/* the same seed gives the same ids; another seed others */
	uint32_t t0 = connect_tid(&n.q[0]);
	bt_udptrk_client_free(c);
	struct net n2 = {0};
	cfg.send_arg = &n2;
	c = bt_udptrk_client_new(&cfg, NULL);
	announce(c, TRK, NULL, 0, &r);
	assert_int_equal(connect_tid(&n2.q[0]), t0);
	bt_udptrk_client_free(c);
	memset(&n2, 0, sizeof(n2));
	cfg.seed = 777;
	c = bt_udptrk_client_new(&cfg, NULL);
	announce(c, TRK, NULL, 0, &r);
	assert_true(connect_tid(&n2.q[0]) != t0);
	bt_udptrk_client_free(c);
}

static void fixed_random(void *arg, uint8_t *buf, size_t len)
{
	int *calls = arg;
	(*calls)++;
	memset(buf, 0x5a, len);
}

static void test_injected_random(void **state)
{
	(void)state;
	struct net n = {0};
	int calls = 0;
	struct bt_udptrk_client_cfg cfg;
	bt_udptrk_client_defaults(&cfg);
	cfg.send_fn = net_send;
	cfg.send_arg = &n;
	cfg.random_fn = fixed_random;
	cfg.random_arg = &calls;
	struct bt_udptrk_client *c = bt_udptrk_client_new(&cfg, NULL);
	struct res r = {0};
	announce(c, TRK, NULL, 0, &r);
	assert_int_equal(connect_tid(&n.q[0]), 0x5a5a5a5a);
	assert_true(calls >= 1);
	bt_udptrk_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_then_announce),
		cmocka_unit_test(test_conn_id_cache),
		cmocka_unit_test(test_shared_connect_and_routing),
		cmocka_unit_test(test_wrong_tid_and_source),
		cmocka_unit_test(test_bep_schedule),
		cmocka_unit_test(test_silent_announce),
		cmocka_unit_test(test_conn_id_expires_mid_retry),
		cmocka_unit_test(test_error_packets),
		cmocka_unit_test(test_malformed_replies),
		cmocka_unit_test(test_huge_and_hostile_intervals),
		cmocka_unit_test(test_ipv6_tracker),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_reentrant_callbacks),
		cmocka_unit_test(test_request_timeout),
		cmocka_unit_test(test_send_errors),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_limits_and_random),
		cmocka_unit_test(test_injected_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
