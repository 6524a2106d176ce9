/* bt_engine — the process-wide engine: event thread, posts, the TCP
 * listener and its handshake sniffer, the UDP socket, rate limits, the
 * disk and reader threads, and the torrents; see bt_engine.h.
 *
 * Posts: a locked list of closures drained by one pre-created event that
 * bt_engine_post() fires with event_active(). The sniffer holds each
 * accepted connection (at most BT_MAX_SNIFFING at once, each for at most
 * BT_SNIFF_TIMEOUT_MS) until it has read the first 48 bytes of a
 * BitTorrent handshake, which name the torrent; the torrent's peer then
 * reads the rest. Stop: every torrent sends its "stopped" announces; the
 * loop ends when the last reply comes or after STOP_ANNOUNCE_MS. */
#include "bt_engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "bt_conn_mse.h"
#include "bt_conn_tcp.h"
#include "bt_engine_i.h"
#include "bt_lsd.h"
#include "pfs_env.h"
#include "bt_mse.h"
#include "pfs_hash.h"
#include "pfs_log.h"
#include "pfs_version.h"

#define STOP_ANNOUNCE_MS 2000
#define LSD_INTERVAL_MS (5 * 60 * 1000) /* BEP 14 announces, per torrent */
#define SNIFF_PREFIX 48 /* pstrlen, pstr, reserved, info-hash */

struct post_item {
	struct post_item *next;
	bt_engine_fn fn;
	void *arg;
};

/* An incoming connection whose first bytes are not read yet. */
struct bt_sniff {
	struct bt_sniff *next;
	struct bt_engine *e;
	struct bt_conn *conn;
	uint64_t since;
	bool mse; /* conn is an MSE handshake in progress */
	size_t n;
	uint8_t buf[BT_HANDSHAKE_LEN];
};

uint64_t bt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- torrents ---- */

struct bt_torrent *bt_engine_find(struct bt_engine *e, const uint8_t ih[20])
{
	for (struct bt_torrent *t = e->torrents; t; t = t->next)
		if (!t->removing && !memcmp(t->info_hash, ih, 20))
			return t;
	return NULL;
}

void bt_engine_link(struct bt_engine *e, struct bt_torrent *t)
{
	t->id = ++e->next_torrent_id;
	t->next = e->torrents;
	e->torrents = t;
}

void bt_engine_unlink(struct bt_engine *e, struct bt_torrent *t)
{
	struct bt_torrent **pp = &e->torrents;
	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp)
		*pp = t->next;
}

/* ---- posts ---- */

static void post_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_engine *e = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&e->post_lock);
	struct post_item *it = e->post_head;
	e->post_head = e->post_tail = NULL;
	pthread_mutex_unlock(&e->post_lock);
	while (it) {
		struct post_item *next = it->next;
		it->fn(e, it->arg);
		free(it);
		it = next;
	}
}

int bt_engine_post(struct bt_engine *e, bt_engine_fn fn, void *arg)
{
	struct post_item *it = malloc(sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->next = NULL;
	it->fn = fn;
	it->arg = arg;
	pthread_mutex_lock(&e->post_lock);
	if (e->post_closed) {
		pthread_mutex_unlock(&e->post_lock);
		free(it);
		return -ESHUTDOWN;
	}
	if (e->post_tail)
		e->post_tail->next = it;
	else
		e->post_head = it;
	e->post_tail = it;
	if (e->post_ev)
		event_active(e->post_ev, EV_READ, 0);
	pthread_mutex_unlock(&e->post_lock);
	return 0;
}

/* ---- incoming connections: what are they? ---- */

static void sniff_arm(struct bt_engine *e);

static void sniff_unlink(struct bt_sniff *s)
{
	struct bt_engine *e = s->e;
	struct bt_sniff **pp = &e->sniffing;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = s->next;
		e->nsniffing--;
	}
}

static void sniff_drop(struct bt_sniff *s, const char *why)
{
	char name[BT_ADDR_STRLEN];
	bt_addr_str(&s->conn->remote, name, sizeof(name));
	pfs_log(PFS_LOG_DEBUG, "engine", "closing '%s': %s", name, why);
	sniff_unlink(s);
	bt_conn_close(s->conn);
	free(s);
}

/* Say "no BitTorrent handshake" once per IP (a bounded set). */
static void log_unknown(struct bt_engine *e, const struct bt_addr *a)
{
	struct bt_addr ip = *a;
	char name[BT_ADDR_STRLEN];
	ip.port = 0;
	for (size_t i = 0; i < e->nlogged; i++)
		if (bt_addr_equal(&e->logged[i], &ip))
			return;
	bt_addr_str(a, name, sizeof(name));
	if (e->nlogged == BT_LOGGED_MAX) {
		pfs_log(PFS_LOG_DEBUG, "engine",
			"'%s': peer sent no BitTorrent handshake (encrypted?)",
			name);
		return;
	}
	if (!e->logged &&
	    !(e->logged = calloc(BT_LOGGED_MAX, sizeof(*e->logged))))
		return;
	e->logged[e->nlogged++] = ip;
	pfs_log(PFS_LOG_INFO, "engine",
		"'%s': peer sent no BitTorrent handshake (encrypted?)", name);
}

static const char bt_pstr[20] = "\x13"
				"BitTorrent protocol";

/* ---- incoming MSE ---- */

int bt_engine_find_req2(void *arg, const uint8_t req2[20], uint8_t skey[20])
{
	struct bt_engine *e = arg;
	uint8_t h[20];
	for (struct bt_torrent *t = e->torrents; t; t = t->next) {
		if (t->removing || bt_mse_req2(t->info_hash, h) < 0)
			continue;
		if (!memcmp(h, req2, 20)) {
			memcpy(skey, t->info_hash, 20);
			return 0;
		}
	}
	return -ENOENT;
}

/* The MSE handshake of S ended: its decrypted stream is sniffed as a
 * plain connection is (S->mse), or the layer frees it. */
static void mse_ready(void *arg, struct bt_conn *c, int err)
{
	struct bt_sniff *s = arg;
	struct bt_engine *e = s->e;
	char name[BT_ADDR_STRLEN];
	bt_addr_str(&c->remote, name, sizeof(name));
	sniff_unlink(s);
	free(s);
	if (err < 0) {
		pfs_log(PFS_LOG_DEBUG, "engine", "closing '%s': %s", name,
			bt_conn_mse_reason(c));
		return;
	}
	bt_engine_accept_conn(e, c, NULL, 0);
	/* mark the new sniff: its plain handshake is inside MSE */
	for (struct bt_sniff *q = e->sniffing; q; q = q->next)
		if (q->conn == c)
			q->mse = true;
}

/* S's first bytes are no plain handshake: answer with MSE. Returns false
 * (S's bytes are taken; S stays listed, as the MSE handshake, until it
 * ends or times out). */
static bool mse_accept(struct bt_sniff *s)
{
	struct bt_engine *e = s->e;
	if (s->mse) {
		/* a second MSE layer inside the first: no */
		sniff_drop(s, "no BitTorrent handshake inside MSE");
		return false;
	}
	struct bt_conn_mse_opts mo = {
		.policy = e->encryption == BT_MSE_REQUIRE ? BT_MSE_REQUIRE
							  : BT_MSE_PREFER,
		.find = bt_engine_find_req2,
		.find_ctx = e,
		.ready = mse_ready,
		.ready_arg = s,
	};
	int err = 0;
	struct bt_conn *inner = s->conn;
	bt_conn_set_cbs(inner, NULL, NULL);
	s->mse = true;
	s->conn = bt_conn_mse_new(e->base, inner, &mo, s->buf, s->n, &err);
	if (!s->conn) {
		char name[BT_ADDR_STRLEN];
		bt_addr_str(&inner->remote, name, sizeof(name));
		pfs_log(PFS_LOG_DEBUG, "engine", "closing '%s': %s", name,
			strerror(-err));
		sniff_unlink(s);
		free(s);
		return false;
	}
	s->n = 0;
	return false;
}

/* Route S once its first bytes tell; returns false when S is gone. */
static bool sniff_route(struct bt_sniff *s)
{
	struct bt_engine *e = s->e;
	size_t cmp = s->n < sizeof(bt_pstr) ? s->n : sizeof(bt_pstr);
	if (memcmp(s->buf, bt_pstr, cmp) != 0 && e->encryption != BT_MSE_OFF)
		return mse_accept(s);
	if (memcmp(s->buf, bt_pstr, cmp) != 0) {
		struct bt_conn *c = s->conn;
		struct bt_addr from = c->remote;
		sniff_unlink(s);
		bt_engine_unknown_fn fn = e->unknown_fn;
		uint8_t first[BT_HANDSHAKE_LEN];
		size_t n = s->n;
		memcpy(first, s->buf, n);
		free(s);
		bt_conn_set_cbs(c, NULL, NULL);
		if (fn && fn(e->unknown_arg, c, first, n))
			return false;
		log_unknown(e, &from);
		bt_conn_close(c);
		return false;
	}
	if (e->encryption == BT_MSE_REQUIRE && !s->mse &&
	    s->n >= sizeof(bt_pstr)) {
		sniff_drop(s, "plaintext connection refused "
			      "(--encryption require)");
		return false;
	}
	if (s->n < SNIFF_PREFIX)
		return true;
	struct bt_torrent *t = bt_engine_find(e, s->buf + 28);
	if (!t || e->stopping) {
		sniff_drop(s, t ? "shutting down" : "handshake for an unknown torrent");
		return false;
	}
	struct bt_conn *c = s->conn;
	uint8_t first[BT_HANDSHAKE_LEN];
	size_t n = s->n;
	memcpy(first, s->buf, n);
	sniff_unlink(s);
	free(s);
	bt_conn_set_cbs(c, NULL, NULL);
	bt_torrent_accept(t, c, first, n);
	return false;
}

static void sniff_readable(struct bt_conn *c, void *arg)
{
	struct bt_sniff *s = arg;
	ssize_t r = bt_conn_read(c, s->buf + s->n, SNIFF_PREFIX - s->n);
	if (r < 0) {
		sniff_drop(s, r == -ENOTCONN ? "connection closed"
					     : strerror((int)-r));
		return;
	}
	if (r == 0)
		return;
	s->n += (size_t)r;
	sniff_route(s);
}

static void sniff_closed(struct bt_conn *c, void *arg, int err)
{
	(void)c;
	sniff_drop(arg, err ? strerror(-err) : "connection closed");
}

static const struct bt_conn_cbs sniff_cbs = {
	.readable = sniff_readable,
	.closed = sniff_closed,
};

static void sniff_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_engine *e = arg;
	(void)fd;
	(void)what;
	uint64_t now = bt_now_ms();
	for (struct bt_sniff *s = e->sniffing, *next; s; s = next) {
		next = s->next;
		if (now - s->since >= BT_SNIFF_TIMEOUT_MS)
			sniff_drop(s, "handshake timeout");
	}
	sniff_arm(e);
}

static void sniff_arm(struct bt_engine *e)
{
	uint64_t first = UINT64_MAX;
	for (struct bt_sniff *s = e->sniffing; s; s = s->next)
		if (s->since < first)
			first = s->since;
	if (first == UINT64_MAX || !e->sniff_ev)
		return;
	uint64_t now = bt_now_ms(), at = first + BT_SNIFF_TIMEOUT_MS;
	uint64_t ms = at > now ? at - now : 0;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(e->sniff_ev, &tv);
}

void bt_engine_accept_conn(struct bt_engine *e, struct bt_conn *c,
			   const uint8_t *first, size_t n)
{
	if (e->stopping) {
		bt_conn_close(c);
		return;
	}
	if (e->nsniffing >= BT_MAX_SNIFFING) {
		/* the oldest goes: a flood of silent connections cannot keep
		 * real peers from being heard */
		struct bt_sniff *old = e->sniffing;
		for (struct bt_sniff *s = e->sniffing; s; s = s->next)
			if (s->since < old->since)
				old = s;
		sniff_drop(old, "too many connections not yet identified");
	}
	struct bt_sniff *s = calloc(1, sizeof(*s));
	if (!s) {
		bt_conn_close(c);
		return;
	}
	s->e = e;
	s->conn = c;
	s->since = bt_now_ms();
	if (n > sizeof(s->buf))
		n = sizeof(s->buf);
	if (n)
		memcpy(s->buf, first, n);
	s->n = n;
	s->next = e->sniffing;
	e->sniffing = s;
	e->nsniffing++;
	if (n && !sniff_route(s))
		return;
	bt_conn_set_cbs(c, &sniff_cbs, s);
	if (e->nsniffing == 1)
		sniff_arm(e);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct bt_engine *e = arg;
	(void)l;
	struct bt_addr addr;
	if (salen <= 0 ||
	    bt_addr_from_sockaddr(&addr, sa, (socklen_t)salen) < 0) {
		close(fd);
		return;
	}
	int err = 0;
	struct bt_conn *c = bt_conn_tcp_accept(e->base, fd, &addr, &err);
	if (!c)
		return;
	char name[BT_ADDR_STRLEN];
	bt_addr_str(&addr, name, sizeof(name));
	pfs_log(PFS_LOG_DEBUG, "engine", "incoming connection from '%s'", name);
	bt_engine_accept_conn(e, c, NULL, 0);
}

void bt_engine_set_unknown_handler(struct bt_engine *e, bt_engine_unknown_fn fn,
				   void *arg)
{
	e->unknown_fn = fn;
	e->unknown_arg = arg;
}

/* ---- stop ---- */

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_engine *e = arg;
	(void)fd;
	(void)what;
	event_base_loopexit(e->base, NULL);
}

struct bt_udptrk_io *bt_engine_udptrk(struct bt_engine *e)
{
	if (!e->udptrk && e->base) {
		int err = 0;
		if (!(e->udptrk = bt_udptrk_io_new(e->base, e->dns, e->udp,
						   &err)))
			pfs_log(PFS_LOG_WARN, "tracker",
				"no udp:// announces: %s", strerror(-err));
	}
	return e->udptrk;
}

struct bt_tracker_tls *bt_engine_tls(struct bt_engine *e)
{
	if (!e->tls && !e->tls_failed) {
		char why[256];
		if (!(e->tls = bt_tracker_tls_new(NULL, why, sizeof(why)))) {
			e->tls_failed = true;
			pfs_log(PFS_LOG_WARN, "tracker",
				"no https:// announces: %s", why);
		}
	}
	return e->tls;
}

/* ---- local service discovery ---- */

static bool lsd_wants(const struct bt_torrent *t)
{
	return !t->removing && !t->stopping && !bt_torrent_private(t);
}

void bt_engine_lsd_announce(struct bt_engine *e, struct bt_torrent *t)
{
	if (!e->lsd || !lsd_wants(t))
		return;
	int err = bt_lsd_io_announce(e->lsd, (const uint8_t(*)[20])t->info_hash,
				     1);
	if (err < 0)
		pfs_log(PFS_LOG_DEBUG, "lsd", "announce of '%s': %s", t->name,
			strerror(-err));
	else
		pfs_log(PFS_LOG_DEBUG, "lsd", "announced '%s'", t->name);
}

static void lsd_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_engine *e = arg;
	(void)fd;
	(void)what;
	size_t n = 0, k = 0;
	for (struct bt_torrent *t = e->torrents; t; t = t->next)
		n += lsd_wants(t);
	uint8_t(*v)[20] = n ? calloc(n, 20) : NULL;
	for (struct bt_torrent *t = e->torrents; v && t; t = t->next)
		if (lsd_wants(t) && k < n)
			memcpy(v[k++], t->info_hash, 20);
	if (k) {
		int err = bt_lsd_io_announce(e->lsd, (const uint8_t(*)[20])v, k);
		if (err < 0)
			pfs_log(PFS_LOG_DEBUG, "lsd", "announce: %s",
				strerror(-err));
	}
	free(v);
	struct timeval tv = {LSD_INTERVAL_MS / 1000, 0};
	evtimer_add(e->lsd_ev, &tv);
}

static void lsd_peer_cb(void *arg, const uint8_t ih[20],
			const struct bt_addr *peer)
{
	struct bt_engine *e = arg;
	struct bt_torrent *t = bt_engine_find(e, ih);
	if (!t || !lsd_wants(t) || e->stopping)
		return;
	char name[BT_ADDR_STRLEN];
	bt_addr_str(peer, name, sizeof(name));
	if (bt_torrent_add_peer(t, peer, BT_SRC_LSD) == 0)
		pfs_log(PFS_LOG_DEBUG, "lsd", "'%s' has '%s'", name, t->name);
}

static void lsd_start(struct bt_engine *e)
{
	if (!e->lsd_on)
		return;
	int err = 0;
	e->lsd = bt_lsd_io_new(e->base, e->bind_ip, e->port, lsd_peer_cb, e,
			       &err);
	if (!e->lsd) {
		pfs_log(PFS_LOG_WARN, "lsd",
			"no local peer discovery: cannot join %s:%d: %s",
			BT_LSD_GROUP4, BT_LSD_PORT, strerror(-err));
		return;
	}
	if ((e->lsd_ev = evtimer_new(e->base, lsd_timer_cb, e))) {
		struct timeval tv = {LSD_INTERVAL_MS / 1000, 0};
		evtimer_add(e->lsd_ev, &tv);
	}
	pfs_log(PFS_LOG_INFO, "lsd", "local peer discovery on %s:%d",
		BT_LSD_GROUP4, BT_LSD_PORT);
}

void bt_engine_stop_done(struct bt_engine *e)
{
	if (e->pending_stops && --e->pending_stops == 0 && e->stopping)
		event_base_loopexit(e->base, NULL);
}

static void stop_cb(struct bt_engine *e, void *arg)
{
	(void)arg;
	e->stopping = true;
	if (e->listener) {
		evconnlistener_free(e->listener);
		e->listener = NULL;
		e->listen_fd = -1;
	}
	while (e->sniffing)
		sniff_drop(e->sniffing, "shutting down");
	for (struct bt_torrent *t = e->torrents; t; t = t->next)
		bt_torrent_shutdown(t);
	bt_dhtnode_stop(e->dht); /* saves its state */
	if (!e->pending_stops) {
		event_base_loopexit(e->base, NULL);
		return;
	}
	struct timeval tv = {STOP_ANNOUNCE_MS / 1000,
			     (STOP_ANNOUNCE_MS % 1000) * 1000};
	e->exit_ev = evtimer_new(e->base, exit_cb, e);
	if (!e->exit_ev || evtimer_add(e->exit_ev, &tv) < 0)
		event_base_loopexit(e->base, NULL);
}

static void start_cb(struct bt_engine *e, void *arg)
{
	(void)arg;
	if (e->dht && bt_dhtnode_start(e->dht) < 0) {
		bt_dhtnode_free(e->dht); /* said why; the rest runs without */
		e->dht = NULL;
	}
	for (struct bt_torrent *t = e->torrents; t; t = t->next)
		bt_torrent_start(t);
}

static void *engine_main(void *arg)
{
	struct bt_engine *e = arg;
	event_base_loop(e->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* ---- lifetime ---- */

static int open_listener(struct bt_engine *e, uint16_t port, int *fdp,
			 uint16_t *bound)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family = AF_INET6;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (e->bind_ip && inet_pton(AF_INET, e->bind_ip, &in4->sin_addr) == 1) {
		family = AF_INET;
	} else if (e->bind_ip &&
		   inet_pton(AF_INET6, e->bind_ip, &in6->sin6_addr) != 1) {
		return -EINVAL;
	}
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && family == AF_INET6 && !e->bind_ip) {
		family = AF_INET; /* no IPv6 on this host */
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		len = sizeof(*in6);
	} else {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		len = sizeof(*in4);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*bound = ntohs(family == AF_INET6 ? in6->sin6_port : in4->sin_port);
	*fdp = fd;
	return 0;
}

/* TCP and UDP on one port: with an ephemeral port, try again when the
 * UDP side of the port the kernel gave is taken. */
static int open_sockets(struct bt_engine *e, uint16_t port)
{
	int err = 0;
	for (int tries = 0; tries < 8; tries++) {
		int fd = -1;
		uint16_t bound = 0;
		if ((err = open_listener(e, port, &fd, &bound)) < 0)
			return err;
		e->udp = bt_udp_new(e->bind_ip, bound, &err);
		if (e->udp) {
			e->listen_fd = fd;
			e->port = bound;
			return 0;
		}
		close(fd);
		if (port || err != -EADDRINUSE)
			return err;
	}
	return err;
}

struct bt_engine *bt_engine_new(const struct bt_engine_opts *o, int *err)
{
	int e_ = -ENOMEM;
	struct bt_engine *e = calloc(1, sizeof(*e));
	if (!e)
		goto out;
	e->listen_fd = -1;
	pthread_mutex_init(&e->post_lock, NULL);
	pthread_mutex_init(&e->job_lock, NULL);
	pthread_cond_init(&e->job_cond, NULL);
	pthread_mutex_init(&e->read_lock, NULL);
	pthread_cond_init(&e->read_cond, NULL);
	e->max_up = o->max_up;
	e->max_down = o->max_down;
	e->lsd_on = o->lsd == BT_ENGINE_LSD_ON ||
		    (o->lsd == BT_ENGINE_LSD_AUTO && !pfs_loopback_only());
	e->encryption = o->encryption;
	if (o->bind_ip && !(e->bind_ip = strdup(o->bind_ip)))
		goto out;
	pfs_version_peer_id(PFS_VERSION, e->peer_id);
	if ((e_ = pfs_random(e->peer_id + 8, 12)) < 0 ||
	    (e_ = pfs_random(&e->key, sizeof(e->key))) < 0)
		goto out;
	e_ = -ENOMEM;
	if (!(e->nh = malloc(sizeof(*e->nh))) || (e_ = pfs_nh_init(e->nh)) < 0)
		goto out;
	e->loopback_only = o->loopback_only || pfs_loopback_only();
	if (o->dht) {
		struct bt_dhtnode_opts dno = {
			.bootstrap = o->dht_bootstrap,
			.nbootstrap = o->ndht_bootstrap,
			.state_dir = o->dht_state_dir,
			.loopback_only = e->loopback_only,
		};
		if (!(e->dht = bt_dhtnode_new(e, &dno, &e_)))
			goto out;
	}
	if ((e_ = open_sockets(e, o->port)) < 0) {
		/* the caller reports it (fs_cli_session_error) */
		pfs_log(PFS_LOG_DEBUG, "engine", "cannot listen on port %u: %s",
			o->port, strerror(-e_));
		goto out;
	}
	return e;
out:
	bt_engine_free(e);
	if (err)
		*err = e_ < 0 ? e_ : -ENOMEM;
	return NULL;
}

static void libevent_log_cb(int severity, const char *msg)
{
	int level = severity >= EVENT_LOG_ERR	 ? PFS_LOG_ERROR
		    : severity >= EVENT_LOG_WARN ? PFS_LOG_WARN
						 : PFS_LOG_DEBUG;
	pfs_log(level, "libevent", "%s", msg);
}

/* Process-wide libevent set-up (libevent's own state is global): locking
 * for the posts from other threads, and its log messages into pfs_log. */
static void evthread_init_once(void)
{
	evthread_use_pthreads();
	event_set_log_callback(libevent_log_cb);
}

int bt_engine_start(struct bt_engine *e)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int err = -ENOMEM;
	pthread_once(&once, evthread_init_once);
	if (e->started)
		return -EALREADY;
	e->base = event_base_new();
	if (!e->base)
		return -ENOMEM;
	e->dns = evdns_base_new(e->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
						 EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	e->listener = evconnlistener_new(e->base, accept_cb, e,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
					 -1, e->listen_fd);
	e->sniff_ev = evtimer_new(e->base, sniff_timer_cb, e);
	if (!e->listener || !e->sniff_ev)
		return -ENOMEM;
	if ((err = bt_udp_start(e->udp, e->base)) < 0)
		return err;
	lsd_start(e);
	if (e->max_up || e->max_down) {
		if (!(e->rl = bt_ratelimit_new(e->base, e->max_up, e->max_down,
					       &err)))
			return err;
		pfs_log(PFS_LOG_INFO, "engine",
			"rate limits: up %llu B/s, down %llu B/s (0 = none)",
			(unsigned long long)e->max_up,
			(unsigned long long)e->max_down);
	}
	/* the torrents start first thing on the engine thread */
	if ((err = bt_engine_post(e, start_cb, NULL)) < 0)
		return err;
	pthread_mutex_lock(&e->post_lock);
	e->post_ev = event_new(e->base, -1, 0, post_cb, e);
	if (e->post_ev && e->post_head)
		event_active(e->post_ev, EV_READ, 0);
	pthread_mutex_unlock(&e->post_lock);
	if (!e->post_ev)
		return -ENOMEM;
	if ((err = bt_hasher_start(e)) < 0)
		return err;
	if ((err = bt_reader_start(e)) < 0) {
		bt_hasher_stop(e);
		return err;
	}
	if ((err = -pthread_create(&e->thread, NULL, engine_main, e)) < 0) {
		bt_reader_stop(e);
		bt_hasher_stop(e);
		return err;
	}
	e->started = true;
	return 0;
}

void bt_engine_stop(struct bt_engine *e)
{
	if (!e->started || e->stopped)
		return;
	e->stopped = true;
	if (bt_engine_post(e, stop_cb, NULL) == 0)
		pthread_join(e->thread, NULL);
	pthread_mutex_lock(&e->post_lock);
	e->post_closed = true;
	struct post_item *it = e->post_head;
	e->post_head = e->post_tail = NULL;
	pthread_mutex_unlock(&e->post_lock);
	/* the engine thread is gone: run what is left here */
	while (it) {
		struct post_item *next = it->next;
		it->fn(e, it->arg);
		free(it);
		it = next;
	}
	bt_reader_stop(e);
	bt_hasher_stop(e);
	for (struct bt_torrent *t = e->torrents; t; t = t->next) {
		if (t->phase != BT_PHASE_DATA)
			continue;
		int err = cache_flush(t->cache);
		if (err < 0)
			pfs_log(PFS_LOG_ERROR, "engine",
				"writing the verified map of '%s' failed: %s",
				t->name, strerror(-err));
	}
}

void bt_engine_free(struct bt_engine *e)
{
	if (!e)
		return;
	if (e->started && !e->stopped)
		bt_engine_stop(e);
	/* posted, but the engine never started: run them here, as a stop
	 * does with what is left, so their arguments are not lost */
	pthread_mutex_lock(&e->post_lock);
	e->post_closed = true;
	struct post_item *it = e->post_head;
	e->post_head = e->post_tail = NULL;
	pthread_mutex_unlock(&e->post_lock);
	while (it) {
		struct post_item *next = it->next;
		it->fn(e, it->arg);
		free(it);
		it = next;
	}
	while (e->sniffing)
		sniff_drop(e->sniffing, "freed");
	bt_dhtnode_stop(e->dht); /* (stopped already if it ran) */
	bt_dhtnode_free(e->dht);
	e->dht = NULL;
	while (e->torrents)
		bt_torrent_remove(e->torrents);
	bt_udptrk_io_free(e->udptrk);
	bt_tracker_tls_free(e->tls);
	if (e->lsd_ev)
		event_free(e->lsd_ev);
	bt_lsd_io_free(e->lsd);
	if (e->listener)
		evconnlistener_free(e->listener);
	else if (e->listen_fd >= 0)
		close(e->listen_fd);
	bt_udp_free(e->udp);
	bt_reader_stop(e); /* not started: frees nothing */
	bt_hasher_stop(e);
	bt_ratelimit_free(e->rl);
	if (e->post_ev)
		event_free(e->post_ev);
	if (e->exit_ev)
		event_free(e->exit_ev);
	if (e->sniff_ev)
		event_free(e->sniff_ev);
	if (e->dns)
		evdns_base_free(e->dns, 1);
	if (e->base)
		event_base_free(e->base);
	free(e->logged);
	free(e->nh);
	free(e->bind_ip);
	pthread_mutex_destroy(&e->post_lock);
	pthread_mutex_destroy(&e->job_lock);
	pthread_cond_destroy(&e->job_cond);
	pthread_mutex_destroy(&e->read_lock);
	pthread_cond_destroy(&e->read_cond);
	free(e);
}

uint16_t bt_engine_port(const struct bt_engine *e)
{
	return e->port;
}

const uint8_t *bt_engine_peer_id(const struct bt_engine *e)
{
	return e->peer_id;
}

struct event_base *bt_engine_base(struct bt_engine *e)
{
	return e->base;
}

struct evdns_base *bt_engine_dns(struct bt_engine *e)
{
	return e->dns;
}

int bt_engine_encryption(const struct bt_engine *e)
{
	return e->encryption;
}

struct bt_udp *bt_engine_udp(struct bt_engine *e)
{
	return e->udp;
}

struct bt_dhtnode *bt_engine_dht(struct bt_engine *e)
{
	return e->dht;
}

bool bt_engine_loopback_only(const struct bt_engine *e)
{
	return e->loopback_only;
}
