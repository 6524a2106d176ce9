/* bt_udptrk_io — udp:// tracker announces on the engine's UDP socket; see
 * bt_udptrk_io.h.
 *
 * A request resolves its host (a literal at once, a name through evdns),
 * then hands the announce to the I/O-free client, whose datagrams go out
 * through bt_udp_send(). The transaction id of every datagram sent (bytes
 * 12..15 of a connect or an announce request) is registered with the
 * demultiplexer, so the replies come back here; ids are given back when
 * their reply came, and otherwise age out of a bounded ring (a timed-out
 * transaction's id would be ignored by the client anyway). Failures found
 * before the client has the request (a name that does not resolve, an
 * unusable address) are reported from a zero-delay event, never inside
 * bt_udptrk_io_announce(). */
#include "bt_udptrk_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "bt_udp.h"
#include "bt_udptrk.h"
#include "bt_udptrk_client.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define TID_RING   BT_UDP_MAX_TIDS
#define TID_TTL_MS (10 * 60 * 1000)

struct bt_udptrk_io {
	struct event_base *base;
	struct evdns_base *dns;
	struct bt_udp *udp;
	struct bt_udptrk_client *c;
	struct event *timer;
	struct bt_udptrk_ioreq *reqs;
	struct {
		uint32_t tid;
		uint64_t at;
	} ring[TID_RING];
	size_t ring_head, ring_n;
};

struct bt_udptrk_ioreq {
	struct bt_udptrk_io *io;
	struct bt_udptrk_ioreq *next, **pprev;
	char *url;
	char host[256];
	uint16_t port;
	char *url_data;
	size_t url_len;
	struct bt_announce a;
	char *tracker_id, *local_ip; /* copies behind a */
	uint64_t deadline;	     /* 0: none */
	struct evdns_getaddrinfo_request *lookup;
	struct bt_udptrk_req *creq;
	struct event *fail_ev; /* deferred failure, or the lookup's deadline */
	int err;
	char why[192];
	bt_tracker_why_cb cb;
	void *arg;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void rearm(struct bt_udptrk_io *io)
{
	uint64_t at = bt_udptrk_client_deadline(io->c);
	if (at == UINT64_MAX) {
		event_del(io->timer);
		return;
	}
	uint64_t now = now_ms(), ms = at > now ? at - now : 0;
	struct timeval tv = {(time_t)(ms / 1000),
			     (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(io->timer, &tv);
}

/* ---- transaction ids for the demultiplexer ---- */

static void ring_drop_oldest(struct bt_udptrk_io *io)
{
	bt_udp_tracker_done(io->udp, io->ring[io->ring_head].tid);
	io->ring_head = (io->ring_head + 1) % TID_RING;
	io->ring_n--;
}

static void tid_expect(struct bt_udptrk_io *io, uint32_t tid, uint64_t now)
{
	while (io->ring_n && now - io->ring[io->ring_head].at > TID_TTL_MS)
		ring_drop_oldest(io);
	for (size_t k = 0; k < io->ring_n; k++) {
		size_t i = (io->ring_head + k) % TID_RING;
		if (io->ring[i].tid == tid) {
			io->ring[i].at = now; /* a retransmission */
			return;
		}
	}
	if (io->ring_n == TID_RING)
		ring_drop_oldest(io);
	while (bt_udp_tracker_expect(io->udp, tid) == -ENOSPC && io->ring_n)
		ring_drop_oldest(io);
	size_t i = (io->ring_head + io->ring_n) % TID_RING;
	io->ring[i].tid = tid;
	io->ring[i].at = now;
	io->ring_n++;
}

static void tid_done(struct bt_udptrk_io *io, uint32_t tid)
{
	for (size_t k = 0; k < io->ring_n; k++) {
		size_t i = (io->ring_head + k) % TID_RING;
		if (io->ring[i].tid != tid)
			continue;
		bt_udp_tracker_done(io->udp, tid);
		/* fill the hole with the oldest, then drop the oldest slot */
		io->ring[i] = io->ring[io->ring_head];
		io->ring_head = (io->ring_head + 1) % TID_RING;
		io->ring_n--;
		return;
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int send_fn(void *arg, const struct bt_addr *to, const uint8_t *buf,
		   size_t len)
{
	struct bt_udptrk_io *io = arg;
	if (len >= 16)
		tid_expect(io, be32(buf + 12), now_ms());
	return bt_udp_send(io->udp, to, buf, len);
}

static void random_fn(void *arg, uint8_t *buf, size_t len)
{
	(void)arg;
	if (pfs_random(buf, len) < 0) {
		/* never seen on Linux; still unpredictable enough */
		uint64_t x = now_ms() ^ (uint64_t)(uintptr_t)buf;
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
	}
}

/* ---- the socket's side ---- */

static void input_cb(void *arg, const uint8_t *pkt, size_t len,
		     const struct bt_addr *from, uint64_t now)
{
	struct bt_udptrk_io *io = arg;
	uint32_t tid = len >= 8 ? be32(pkt + 4) : 0;
	if (bt_udptrk_client_input(io->c, pkt, len, from, now) == 0)
		tid_done(io, tid);
	rearm(io);
}

static void icmp_cb(void *arg, const struct bt_addr *to, int err, uint64_t now)
{
	struct bt_udptrk_io *io = arg;
	bt_udptrk_client_unreachable(io->c, to, err, now);
	rearm(io);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_udptrk_io *io = arg;
	(void)fd;
	(void)what;
	bt_udptrk_client_periodic(io->c, now_ms());
	rearm(io);
}

struct bt_udptrk_io *bt_udptrk_io_new(struct event_base *base,
				      struct evdns_base *dns, struct bt_udp *u,
				      int *err)
{
	struct bt_udptrk_io *io = calloc(1, sizeof(*io));
	int e = -ENOMEM;
	if (!io)
		goto fail;
	io->base = base;
	io->dns = dns;
	io->udp = u;
	struct bt_udptrk_client_cfg cfg;
	bt_udptrk_client_defaults(&cfg);
	cfg.send_fn = send_fn;
	cfg.send_arg = io;
	cfg.random_fn = random_fn;
	if (!(io->c = bt_udptrk_client_new(&cfg, &e)))
		goto fail;
	e = -ENOMEM;
	if (!(io->timer = evtimer_new(base, timer_cb, io)))
		goto fail;
	bt_udp_set_handler(u, BT_UDP_TRACKER, input_cb, io);
	bt_udp_set_error_handler(u, icmp_cb, io);
	return io;
fail:
	if (io) {
		bt_udptrk_client_free(io->c);
		free(io);
	}
	if (err)
		*err = e;
	return NULL;
}

static void req_free(struct bt_udptrk_ioreq *r)
{
	if (r->next)
		r->next->pprev = r->pprev;
	if (r->pprev)
		*r->pprev = r->next;
	if (r->lookup) {
		struct evdns_getaddrinfo_request *l = r->lookup;
		r->lookup = NULL;
		evdns_getaddrinfo_cancel(l); /* its callback sees CANCEL */
	}
	if (r->creq)
		bt_udptrk_client_cancel(r->io->c, r->creq);
	if (r->fail_ev)
		event_free(r->fail_ev);
	free(r->url);
	free(r->url_data);
	free(r->tracker_id);
	free(r->local_ip);
	free(r);
}

void bt_udptrk_io_free(struct bt_udptrk_io *io)
{
	if (!io)
		return;
	while (io->reqs)
		req_free(io->reqs);
	bt_udp_set_handler(io->udp, BT_UDP_TRACKER, NULL, NULL);
	bt_udp_set_error_handler(io->udp, NULL, NULL);
	while (io->ring_n)
		ring_drop_oldest(io);
	bt_udptrk_client_free(io->c);
	event_free(io->timer);
	free(io);
}

/* ---- requests ---- */

static void finish(struct bt_udptrk_ioreq *r, int err, const char *why,
		   const struct bt_tracker_reply *reply)
{
	bt_tracker_why_cb cb = r->cb;
	void *arg = r->arg;
	char w[sizeof(r->why)];
	snprintf(w, sizeof(w), "%s", why ? why : strerror(-err));
	if (err < 0)
		pfs_log(PFS_LOG_DEBUG, "tracker", "announce to '%s': %s",
			r->url, w);
	r->creq = NULL; /* the client is done with it */
	req_free(r);
	cb(err, err < 0 ? w : NULL, err < 0 ? NULL : reply, arg);
}

static void client_cb(int err, const char *why,
		      const struct bt_tracker_reply *reply, void *arg)
{
	struct bt_udptrk_ioreq *r = arg;
	r->creq = NULL;
	finish(r, err, why, reply);
}

/* A failure to report from the event loop. */
static void fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_udptrk_ioreq *r = arg;
	(void)fd;
	(void)what;
	if (r->lookup) { /* the lookup's deadline */
		r->err = -ETIMEDOUT;
		snprintf(r->why, sizeof(r->why),
			 "no answer in time (looking up '%.100s')", r->host);
	}
	finish(r, r->err, r->why, NULL);
}

static void fail_later(struct bt_udptrk_ioreq *r, int err, const char *why)
{
	r->err = err;
	snprintf(r->why, sizeof(r->why), "%.180s", why);
	event_del(r->fail_ev);
	event_active(r->fail_ev, EV_TIMEOUT, 1);
}

static void start(struct bt_udptrk_ioreq *r, const struct bt_addr *to)
{
	struct bt_udptrk_io *io = r->io;
	uint64_t now = now_ms(), left = 0;
	if (r->deadline) {
		if (now >= r->deadline) {
			fail_later(r, -ETIMEDOUT, "no answer in time");
			return;
		}
		left = r->deadline - now;
	}
	event_del(r->fail_ev);
	int err = 0;
	r->creq =
	    bt_udptrk_client_announce(io->c, to, r->url_data, r->url_len, &r->a,
				      left, now, client_cb, r, &err);
	if (!r->creq) {
		char why[160];
		snprintf(why, sizeof(why), "cannot announce: %s",
			 err == -ENOBUFS ? "too many announces at once"
					 : strerror(-err));
		fail_later(r, err ? err : -EINVAL, why);
		return;
	}
	rearm(io);
}

static void lookup_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct bt_udptrk_ioreq *r = arg;
	if (result == EVUTIL_EAI_CANCEL) {
		if (res)
			evutil_freeaddrinfo(res);
		return; /* r is being freed */
	}
	r->lookup = NULL;
	struct bt_addr to = {0}, v6 = {0};
	for (struct evutil_addrinfo *ai = result == 0 ? res : NULL; ai;
	     ai = ai->ai_next) {
		struct bt_addr a;
		if (bt_addr_from_sockaddr(&a, ai->ai_addr,
					  (socklen_t)ai->ai_addrlen) < 0)
			continue;
		a.port = r->port;
		if (a.family == BT_ADDR_V4 && !to.family)
			to = a;
		else if (a.family == BT_ADDR_V6 && !v6.family)
			v6 = a;
	}
	if (res)
		evutil_freeaddrinfo(res);
	if (!to.family)
		to = v6; /* IPv4 first: the socket may be IPv4 only */
	if (!to.family) {
		char why[192];
		snprintf(why, sizeof(why), "cannot resolve '%.100s'%s%.60s",
			 r->host, result ? ": " : "",
			 result ? evutil_gai_strerror(result) : "");
		fail_later(r, -EHOSTUNREACH, why);
		return;
	}
	start(r, &to);
}

static char *dup_or_null(const char *s, bool *fail)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

struct bt_udptrk_ioreq *bt_udptrk_io_announce(struct bt_udptrk_io *io,
					      const char *url,
					      const struct bt_announce *a,
					      uint64_t timeout_ms,
					      bt_tracker_why_cb cb, void *arg)
{
	if (!io || !url || !a || !cb)
		return NULL;
	struct bt_udptrk_ioreq *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->io = io;
	r->cb = cb;
	r->arg = arg;
	const char *data;
	size_t dlen;
	int e = bt_udptrk_url_parse(url, r->host, sizeof(r->host), &r->port,
				    &data, &dlen);
	if (e < 0) {
		pfs_log(PFS_LOG_WARN, "tracker", "skipping '%s': %s", url,
			e == -ENAMETOOLONG ? "host name too long"
					   : "not a usable udp:// URL "
					     "(udp://HOST:PORT[/path])");
		free(r);
		return NULL;
	}
	bool fail = false;
	r->url = dup_or_null(url, &fail);
	if (dlen && (r->url_data = malloc(dlen)))
		memcpy(r->url_data, data, dlen);
	else if (dlen)
		fail = true;
	r->url_len = dlen;
	r->a = *a;
	r->a.tracker_id = r->tracker_id = dup_or_null(a->tracker_id, &fail);
	r->a.local_ip = r->local_ip = dup_or_null(a->local_ip, &fail);
	r->fail_ev = evtimer_new(io->base, fail_cb, r);
	if (fail || !r->fail_ev)
		goto fail;
	r->next = io->reqs;
	if (r->next)
		r->next->pprev = &r->next;
	r->pprev = &io->reqs;
	io->reqs = r;
	if (timeout_ms)
		r->deadline = now_ms() + timeout_ms;

	uint8_t ip[16];
	struct bt_addr to;
	if (inet_pton(AF_INET, r->host, ip) == 1 &&
	    bt_addr_set(&to, ip, 4, r->port) == 0) {
		start(r, &to);
		return r;
	}
	if (inet_pton(AF_INET6, r->host, ip) == 1 &&
	    bt_addr_set(&to, ip, 16, r->port) == 0) {
		start(r, &to);
		return r;
	}
	if (!io->dns) {
		fail_later(r, -EHOSTUNREACH, "no resolver for a host name");
		return r;
	}
	struct evutil_addrinfo hints = {0};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_protocol = IPPROTO_UDP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	if (r->deadline) {
		struct timeval tv = {(time_t)(timeout_ms / 1000),
				     (suseconds_t)(timeout_ms % 1000) * 1000};
		evtimer_add(r->fail_ev, &tv);
	}
	/* set before the call: the callback may run inside it */
	r->lookup = (void *)1;
	struct evdns_getaddrinfo_request *l =
	    evdns_getaddrinfo(io->dns, r->host, NULL, &hints, lookup_cb, r);
	if (r->lookup == (void *)1)
		r->lookup = l; /* still pending (NULL: it has answered) */
	return r;
fail:
	free(r->url);
	free(r->url_data);
	free(r->tracker_id);
	free(r->local_ip);
	if (r->fail_ev)
		event_free(r->fail_ev);
	free(r);
	return NULL;
}

void bt_udptrk_io_cancel(struct bt_udptrk_ioreq *r)
{
	if (r)
		req_free(r);
}
