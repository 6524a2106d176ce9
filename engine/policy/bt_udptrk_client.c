/* bt_udptrk_client — BEP 15 transactions, connection ids and
 * retransmissions over a caller's socket; see bt_udptrk_client.h.
 *
 * Two kinds of objects: a `trk` per tracker address (its cached connection
 * id and the one connect exchange in flight, shared by every request that
 * waits for an id), and a request per announce (waiting for the connect,
 * or announcing with its own transaction id). The announce datagram is
 * built once, with the connection id patched in at each send.
 *
 * Callbacks may start and cancel requests, so nothing iterates over a list
 * across a callback: requests to be finished are first marked, then taken
 * one at a time from the head; and `trk` entries, which a dispatch may
 * hold a pointer to, are only reclaimed outside a dispatch. */
#include "bt_udptrk_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_udptrk.h"
#include "pfs_log.h"

struct trk {
	struct trk *next;
	struct bt_addr addr;
	bool have_cid;
	uint64_t cid, cid_at;
	bool connecting;
	uint32_t ctid;
	unsigned csends; /* connect datagrams sent in this exchange */
	uint64_t cdeadline;
	size_t nreq; /* requests that use this entry */
};

enum req_state {
	REQ_CONNECT,  /* waiting for the trk's connection id */
	REQ_ANNOUNCE, /* announce sent, waiting for its reply */
};

struct bt_udptrk_req {
	struct bt_udptrk_req *prev, *next;
	struct trk *t;
	enum req_state st;
	bool marked; /* to be finished by the running dispatch */
	uint32_t tid;
	unsigned sends;	   /* announce datagrams sent, over reconnects too */
	uint64_t deadline; /* REQ_ANNOUNCE: retransmit or fail */
	uint64_t hard_deadline; /* the request's own timeout, or UINT64_MAX */
	bt_udptrk_cb cb;
	void *arg;
	size_t len;
	uint8_t pkt[]; /* the announce, connection id patched at send */
};

struct bt_udptrk_client {
	struct bt_udptrk_client_cfg cfg;
	uint64_t rng;
	struct trk *trackers;
	size_t ntrackers;
	struct bt_udptrk_req *reqs;
	size_t nreqs;
	unsigned dispatch; /* > 0 while callbacks may run */
	struct bt_udptrk_client_stats st;
};

void bt_udptrk_client_defaults(struct bt_udptrk_client_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->base_timeout_ms = BT_UDPTRK_BASE_TIMEOUT_MS;
	cfg->retries = BT_UDPTRK_RETRIES;
	cfg->conn_ttl_ms = BT_UDPTRK_CONN_TTL_MS;
	cfg->max_requests = BT_UDPTRK_MAX_REQUESTS;
}

struct bt_udptrk_client *
bt_udptrk_client_new(const struct bt_udptrk_client_cfg *cfg, int *err)
{
	int e = -EINVAL;
	struct bt_udptrk_client *c = NULL;
	if (!cfg || !cfg->send_fn || cfg->retries > BT_UDPTRK_RETRIES_MAX ||
	    cfg->base_timeout_ms == 0)
		goto out;
	e = -ENOMEM;
	if (!(c = calloc(1, sizeof(*c))))
		goto out;
	c->cfg = *cfg;
	if (!c->cfg.max_requests)
		c->cfg.max_requests = BT_UDPTRK_MAX_REQUESTS;
	c->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ull;
	e = 0;
out:
	if (err)
		*err = e;
	return c;
}

void bt_udptrk_client_free(struct bt_udptrk_client *c)
{
	if (!c)
		return;
	while (c->reqs) {
		struct bt_udptrk_req *r = c->reqs;
		c->reqs = r->next;
		free(r);
	}
	while (c->trackers) {
		struct trk *t = c->trackers;
		c->trackers = t->next;
		free(t);
	}
	free(c);
}

/* ---- helpers ---- */

static uint32_t rand32(struct bt_udptrk_client *c)
{
	if (c->cfg.random_fn) {
		uint8_t b[4];
		c->cfg.random_fn(c->cfg.random_arg, b, sizeof(b));
		return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		       (uint32_t)b[2] << 8 | b[3];
	}
	/* xorshift64* */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return (uint32_t)((c->rng * 0x2545f4914f6cdd1dull) >> 32);
}

/* An empty reply with an HTTP reply's defaults, to carry a failure text. */
static void failure_reply(struct bt_tracker_reply *reply, char *msg)
{
	memset(reply, 0, sizeof(*reply));
	reply->interval = 1800;
	reply->complete = -1;
	reply->incomplete = -1;
	reply->failure = msg;
}

static bool tid_live(const struct bt_udptrk_client *c, uint32_t tid)
{
	for (const struct trk *t = c->trackers; t; t = t->next)
		if (t->connecting && t->ctid == tid)
			return true;
	for (const struct bt_udptrk_req *r = c->reqs; r; r = r->next)
		if (r->st == REQ_ANNOUNCE && r->tid == tid)
			return true;
	return false;
}

static uint32_t new_tid(struct bt_udptrk_client *c)
{
	uint32_t tid = rand32(c);
	/* a collision among a few thousand live ids is rare; a bounded
	 * number of redraws, then take it (its replies would be checked
	 * against the address and the action anyway) */
	for (int i = 0; i < 16 && tid_live(c, tid); i++)
		tid = rand32(c);
	return tid;
}

static uint64_t wait_ms(const struct bt_udptrk_client *c, unsigned n)
{
	return c->cfg.base_timeout_ms << (n < 16 ? n : 16);
}

static bool transient(int e)
{
	return e == -EAGAIN || e == -EWOULDBLOCK || e == -ENOBUFS ||
	       e == -EINTR || e == -ENOMEM;
}

/* 0, or the send function's permanent error. */
static int send_dgram(struct bt_udptrk_client *c, const struct bt_addr *to,
		      const uint8_t *buf, size_t len)
{
	int e = c->cfg.send_fn(c->cfg.send_arg, to, buf, len);
	if (e < 0 && !transient(e))
		return e;
	return 0;
}

static bool cid_valid(const struct bt_udptrk_client *c, const struct trk *t,
		      uint64_t now)
{
	return t->have_cid && now - t->cid_at < c->cfg.conn_ttl_ms &&
	       now >= t->cid_at;
}

static struct trk *trk_find(struct bt_udptrk_client *c, const struct bt_addr *a)
{
	for (struct trk *t = c->trackers; t; t = t->next)
		if (bt_addr_equal(&t->addr, a))
			return t;
	return NULL;
}

/* Drop entries nobody uses that hold nothing worth keeping. Never during a
 * dispatch: the dispatch may hold one of them. */
static void trk_gc(struct bt_udptrk_client *c, uint64_t now)
{
	if (c->dispatch)
		return;
	for (struct trk **pp = &c->trackers; *pp;) {
		struct trk *t = *pp;
		if (t->nreq == 0 && !t->connecting && !cid_valid(c, t, now)) {
			*pp = t->next;
			free(t);
			c->ntrackers--;
		} else {
			pp = &t->next;
		}
	}
}

static void req_unlink(struct bt_udptrk_client *c, struct bt_udptrk_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	c->nreqs--;
	struct trk *t = r->t;
	if (--t->nreq == 0)
		t->connecting = false; /* nobody waits for it any more */
}

/* Unlink R, free it, then call its callback. */
static void req_finish(struct bt_udptrk_client *c, struct bt_udptrk_req *r,
		       int err, const char *why,
		       const struct bt_tracker_reply *reply)
{
	bt_udptrk_cb cb = r->cb;
	void *arg = r->arg;
	req_unlink(c, r);
	free(r);
	if (err < 0)
		c->st.failed++;
	c->dispatch++;
	cb(err, why, reply, arg);
	c->dispatch--;
}

/* Finish every marked request with the same outcome, one at a time from
 * the head (callbacks may add or cancel requests). */
static void finish_marked(struct bt_udptrk_client *c, int err, const char *why,
			  const struct bt_tracker_reply *reply)
{
	for (;;) {
		struct bt_udptrk_req *r = c->reqs;
		while (r && !r->marked)
			r = r->next;
		if (!r)
			return;
		req_finish(c, r, err, why, reply);
	}
}

static void mark_waiting(struct bt_udptrk_client *c, const struct trk *t)
{
	for (struct bt_udptrk_req *r = c->reqs; r; r = r->next)
		if (r->t == t && r->st == REQ_CONNECT)
			r->marked = true;
}

/* (Re)send T's connect; a new exchange when FRESH. 0 or a permanent send
 * error. */
static int connect_send(struct bt_udptrk_client *c, struct trk *t, bool fresh,
			uint64_t now)
{
	if (fresh) {
		t->connecting = true;
		t->csends = 0;
		t->ctid = new_tid(c);
	}
	uint8_t pkt[BT_UDPTRK_CONNECT_LEN];
	bt_udptrk_connect_req(pkt, t->ctid);
	if (t->csends > 0)
		c->st.retransmits++;
	t->cdeadline = now + wait_ms(c, t->csends);
	t->csends++;
	c->st.connects_sent++;
	int e = send_dgram(c, &t->addr, pkt, sizeof(pkt));
	if (e < 0)
		t->connecting = false; /* nothing is on its way */
	return e;
}

/* (Re)send R's announce with T's current connection id. 0 or a permanent
 * send error. */
static int announce_send(struct bt_udptrk_client *c, struct bt_udptrk_req *r,
			 uint64_t now)
{
	uint64_t cid = r->t->cid;
	for (int i = 0; i < 8; i++)
		r->pkt[i] = (uint8_t)(cid >> (56 - 8 * i));
	if (r->st != REQ_ANNOUNCE) {
		r->st = REQ_ANNOUNCE;
		r->tid = new_tid(c);
	}
	for (int i = 0; i < 4; i++)
		r->pkt[12 + i] = (uint8_t)(r->tid >> (24 - 8 * i));
	if (r->sends > 0)
		c->st.retransmits++;
	r->deadline = now + wait_ms(c, r->sends);
	r->sends++;
	c->st.announces_sent++;
	return send_dgram(c, &r->t->addr, r->pkt, r->len);
}

/* R needs a connection id: use the cached one, join the exchange in
 * flight, or start one. 0 or a permanent send error (R still linked). */
static int req_start(struct bt_udptrk_client *c, struct bt_udptrk_req *r,
		     uint64_t now)
{
	struct trk *t = r->t;
	if (cid_valid(c, t, now))
		return announce_send(c, r, now);
	r->st = REQ_CONNECT;
	if (t->connecting)
		return 0;
	return connect_send(c, t, true, now);
}

/* ---- the API ---- */

struct bt_udptrk_req *bt_udptrk_client_announce(
    struct bt_udptrk_client *c, const struct bt_addr *tracker,
    const char *url_data, size_t url_len, const struct bt_announce *a,
    uint64_t timeout_ms, uint64_t now, bt_udptrk_cb cb, void *arg, int *err)
{
	int e = -EINVAL;
	struct bt_udptrk_req *r = NULL;
	if (!c || !tracker || !a || !cb ||
	    (tracker->family != BT_ADDR_V4 && tracker->family != BT_ADDR_V6) ||
	    tracker->port == 0 || (url_data == NULL && url_len) ||
	    url_len > BT_UDPTRK_URLDATA_MAX)
		goto fail;
	e = -ENOBUFS;
	if (c->nreqs >= c->cfg.max_requests)
		goto fail;
	struct trk *t = trk_find(c, tracker);
	if (!t) {
		if (c->ntrackers >= BT_UDPTRK_MAX_TRACKERS)
			trk_gc(c, now);
		if (c->ntrackers >= BT_UDPTRK_MAX_TRACKERS)
			goto fail;
		e = -ENOMEM;
		if (!(t = calloc(1, sizeof(*t))))
			goto fail;
		t->addr = *tracker;
		t->next = c->trackers;
		c->trackers = t;
		c->ntrackers++;
	}
	e = -ENOMEM;
	if (!(r = calloc(1, sizeof(*r) + BT_UDPTRK_REQ_MAX)))
		goto fail;
	int n = bt_udptrk_announce_req(r->pkt, BT_UDPTRK_REQ_MAX, 0, 0, a,
				       url_data, url_len);
	if (n < 0) {
		e = n;
		goto fail;
	}
	r->len = (size_t)n;
	r->t = t;
	r->cb = cb;
	r->arg = arg;
	r->hard_deadline = timeout_ms ? now + timeout_ms : UINT64_MAX;
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->nreqs++;
	t->nreq++;
	e = req_start(c, r, now);
	if (e < 0) {
		req_unlink(c, r);
		goto fail;
	}
	if (err)
		*err = 0;
	return r;
fail:
	free(r); /* an entry made for it is reclaimed by the next gc */
	if (err)
		*err = e;
	return NULL;
}

void bt_udptrk_client_cancel(struct bt_udptrk_client *c,
			     struct bt_udptrk_req *req)
{
	if (!c || !req)
		return;
	req_unlink(c, req);
	free(req);
}

static struct bt_udptrk_req *req_by_tid(struct bt_udptrk_client *c,
					uint32_t tid)
{
	for (struct bt_udptrk_req *r = c->reqs; r; r = r->next)
		if (r->st == REQ_ANNOUNCE && r->tid == tid)
			return r;
	return NULL;
}

static struct trk *trk_by_ctid(struct bt_udptrk_client *c, uint32_t tid)
{
	for (struct trk *t = c->trackers; t; t = t->next)
		if (t->connecting && t->ctid == tid)
			return t;
	return NULL;
}

/* A reply to T's connect exchange. */
static void on_connect_reply(struct bt_udptrk_client *c, struct trk *t,
			     uint32_t action, const uint8_t *buf, size_t len,
			     uint64_t now)
{
	char why[160];
	t->connecting = false;
	if (action == BT_UDPTRK_ERROR) {
		struct bt_tracker_reply reply;
		char *msg;
		int e = bt_udptrk_parse_error(buf, len, &msg, why, sizeof(why));
		mark_waiting(c, t);
		if (e < 0) {
			finish_marked(c, e, "out of memory", NULL);
			return;
		}
		failure_reply(&reply, msg);
		finish_marked(c, 0, NULL, &reply);
		free(msg);
		return;
	}
	uint64_t cid = 0;
	int e = -EPROTO;
	if (action == BT_UDPTRK_CONNECT)
		e = bt_udptrk_parse_connect(buf, len, &cid, why, sizeof(why));
	else
		snprintf(why, sizeof(why),
			 "reply of action %" PRIu32 " to a connect", action);
	if (e < 0) {
		c->st.malformed++;
		mark_waiting(c, t);
		finish_marked(c, e, why, NULL);
		return;
	}
	t->have_cid = true;
	t->cid = cid;
	t->cid_at = now;
	/* every waiting request announces now; those whose send fails for
	 * good are finished (marked) afterwards */
	for (struct bt_udptrk_req *r = c->reqs; r; r = r->next) {
		if (r->t != t || r->st != REQ_CONNECT)
			continue;
		if (announce_send(c, r, now) < 0)
			r->marked = true;
	}
	finish_marked(c, -EIO, "cannot send the announce", NULL);
}

/* A reply to R's announce. */
static void on_announce_reply(struct bt_udptrk_client *c,
			      struct bt_udptrk_req *r, uint32_t action,
			      const uint8_t *buf, size_t len,
			      const struct bt_addr *from)
{
	char why[160] = "";
	struct bt_tracker_reply reply;
	int e;
	if (action == BT_UDPTRK_ANNOUNCE) {
		e = bt_udptrk_parse_announce(buf, len, from->family,
					     c->cfg.max_peers, &reply, why,
					     sizeof(why));
	} else if (action == BT_UDPTRK_ERROR) {
		char *msg;
		e = bt_udptrk_parse_error(buf, len, &msg, why, sizeof(why));
		if (e == 0)
			failure_reply(&reply, msg);
		/* a tracker that refuses may have forgotten our connection
		 * id: the next announce asks for a new one */
		r->t->have_cid = false;
	} else {
		snprintf(why, sizeof(why),
			 "reply of action %" PRIu32 " to an announce", action);
		e = -EPROTO;
	}
	if (e == -EPROTO)
		c->st.malformed++;
	if (e < 0) {
		req_finish(c, r, e, e == -ENOMEM ? "out of memory" : why, NULL);
		return;
	}
	req_finish(c, r, 0, NULL, &reply);
	bt_tracker_reply_release(&reply);
}

int bt_udptrk_client_input(struct bt_udptrk_client *c, const uint8_t *buf,
			   size_t len, const struct bt_addr *from, uint64_t now)
{
	uint32_t action, tid;
	if (!c || !buf || !from ||
	    bt_udptrk_header(buf, len, &action, &tid) < 0)
		goto stray;
	struct trk *t = trk_by_ctid(c, tid);
	if (t && bt_addr_equal(&t->addr, from)) {
		c->st.replies++;
		c->dispatch++;
		on_connect_reply(c, t, action, buf, len, now);
		c->dispatch--;
		return 0;
	}
	struct bt_udptrk_req *r = req_by_tid(c, tid);
	if (r && bt_addr_equal(&r->t->addr, from)) {
		c->st.replies++;
		c->dispatch++;
		on_announce_reply(c, r, action, buf, len, from);
		c->dispatch--;
		return 0;
	}
stray:
	if (c)
		c->st.strays++;
	return -ENOENT;
}

/* One due item at NOW, handled; returns true when it may have run a
 * callback (the caller then rescans from the start). */
static bool periodic_one(struct bt_udptrk_client *c, uint64_t now, bool *done)
{
	char why[128];
	*done = false;
	for (struct bt_udptrk_req *r = c->reqs; r; r = r->next) {
		if (r->hard_deadline <= now) {
			req_finish(c, r, -ETIMEDOUT,
				   "no reply within the request's timeout",
				   NULL);
			return true;
		}
		if (r->st != REQ_ANNOUNCE || r->deadline > now)
			continue;
		if (r->sends > c->cfg.retries) {
			snprintf(why, sizeof(why),
				 "no reply to the announce after %u tries",
				 r->sends);
			req_finish(c, r, -ETIMEDOUT, why, NULL);
			return true;
		}
		/* retransmit; with an expired connection id, get a new one
		 * first (BEP 15), keeping the count of announces sent */
		int e;
		if (cid_valid(c, r->t, now)) {
			e = announce_send(c, r, now);
		} else {
			r->st = REQ_CONNECT;
			r->t->have_cid = false;
			e = r->t->connecting ? 0
					     : connect_send(c, r->t, true, now);
		}
		if (e < 0) {
			snprintf(why, sizeof(why), "cannot send: %s",
				 strerror(-e));
			req_finish(c, r, e, why, NULL);
			return true;
		}
	}
	for (struct trk *t = c->trackers; t; t = t->next) {
		if (!t->connecting || t->cdeadline > now)
			continue;
		int e = 0;
		if (t->csends > c->cfg.retries) {
			snprintf(why, sizeof(why),
				 "no reply to the connect after %u tries",
				 t->csends);
			e = -ETIMEDOUT;
		} else if ((e = connect_send(c, t, false, now)) < 0) {
			snprintf(why, sizeof(why), "cannot send: %s",
				 strerror(-e));
		}
		if (e < 0) {
			t->connecting = false;
			mark_waiting(c, t);
			c->dispatch++;
			finish_marked(c, e, why, NULL);
			c->dispatch--;
			return true;
		}
	}
	*done = true;
	return false;
}

uint64_t bt_udptrk_client_periodic(struct bt_udptrk_client *c, uint64_t now)
{
	if (!c)
		return UINT64_MAX;
	bool done = false;
	/* each pass either finishes a request or ends; retransmissions move
	 * deadlines past NOW, so this terminates */
	while (!done)
		periodic_one(c, now, &done);
	trk_gc(c, now);
	return bt_udptrk_client_deadline(c);
}

uint64_t bt_udptrk_client_deadline(const struct bt_udptrk_client *c)
{
	uint64_t next = UINT64_MAX;
	if (!c)
		return next;
	for (const struct bt_udptrk_req *r = c->reqs; r; r = r->next) {
		if (r->hard_deadline < next)
			next = r->hard_deadline;
		if (r->st == REQ_ANNOUNCE && r->deadline < next)
			next = r->deadline;
	}
	for (const struct trk *t = c->trackers; t; t = t->next)
		if (t->connecting && t->cdeadline < next)
			next = t->cdeadline;
	return next;
}

void bt_udptrk_client_unreachable(struct bt_udptrk_client *c,
				  const struct bt_addr *to, int err,
				  uint64_t now)
{
	(void)now;
	if (!c || !to)
		return;
	struct trk *t = trk_find(c, to);
	if (!t)
		return;
	t->have_cid = false;
	t->connecting = false;
	for (struct bt_udptrk_req *r = c->reqs; r; r = r->next)
		if (r->t == t)
			r->marked = true;
	char why[128];
	snprintf(why, sizeof(why), "tracker unreachable: %s",
		 strerror(err < 0 ? -err : EHOSTUNREACH));
	c->dispatch++;
	finish_marked(c, err < 0 ? err : -EHOSTUNREACH, why, NULL);
	c->dispatch--;
}

void bt_udptrk_client_stats(const struct bt_udptrk_client *c,
			    struct bt_udptrk_client_stats *st)
{
	*st = c->st;
	st->live = c->nreqs;
}
