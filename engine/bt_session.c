/* bt_session — the engine thread of one torrent: peers, trackers, picker.
 *
 * bt_session_new() binds the listening socket (so a busy port is reported
 * before mounting); bt_session_start() makes the event base and starts the
 * engine and hasher threads. Other threads reach the engine only through
 * bt_post(): a locked list of closures drained by one pre-created event
 * that bt_post() fires with event_active(). A one-second tick drives
 * timeouts, rates, re-announces, new connections and the choker (which
 * also runs whenever a peer's interest changes or an unchoked peer leaves).
 * With --max-up/--max-down all peer sockets share one libevent rate-limit
 * group. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "bt_session_i.h"
#include "pfs_hash.h"
#include "pfs_log.h"
#include "pfs_version.h"

#define TICK_MS 1000
#define STOP_ANNOUNCE_MS 2000
#define RETRY_MIN_MS 5000
#define RETRY_MAX_MS 300000
#define MAX_KNOWN 2000
#define RATE_TICK_MS 100 /* token bucket refill: smooth at 10 Hz */

struct post_item {
	struct post_item *next;
	bt_post_fn fn;
	void *arg;
};

uint64_t bt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- known peers and connections ---- */

struct bt_known *bt_session_find_known(struct bt_session *s,
				       const struct bt_addr *a)
{
	for (size_t i = 0; i < s->nknown; i++)
		if (bt_addr_equal(&s->known[i].addr, a))
			return &s->known[i];
	return NULL;
}

void bt_session_add_known(struct bt_session *s, const struct bt_addr *a,
			  bool manual)
{
	struct bt_known *k = bt_session_find_known(s, a);
	if (k) {
		k->manual |= manual;
		return;
	}
	if (s->nknown >= MAX_KNOWN)
		return;
	if (s->nknown == s->cap_known) {
		size_t cap = s->cap_known ? s->cap_known * 2 : 32;
		struct bt_known *n = realloc(s->known, cap * sizeof(*n));
		if (!n)
			return;
		s->known = n;
		s->cap_known = cap;
	}
	k = &s->known[s->nknown++];
	memset(k, 0, sizeof(*k));
	k->addr = *a;
	k->manual = manual;
}

/* Outgoing connections stop a fifth short of the cap, so peers that find
 * us (the ones that want our pieces) still get in; at most BT_MAX_HALF_OPEN
 * connects are in progress at once. */
static bool seeding(struct bt_session *s)
{
	return bt_picker_have_count(s->picker) == s->mi->npieces;
}

static void connect_more(struct bt_session *s, uint64_t now)
{
	if (s->stopping || !s->base)
		return;
	bool seed = seeding(s);
	int limit = s->max_peers - s->max_peers / 5;
	int half_open = 0;
	for (struct bt_peer *p = s->peers; p; p = p->next)
		half_open += p->outgoing && !p->tcp_up;
	for (size_t i = 0; i < s->nknown && (int)s->npeers < limit &&
			   half_open < BT_MAX_HALF_OPEN;
	     i++) {
		struct bt_known *k = &s->known[i];
		if (k->connected || k->banned || k->next_try > now ||
		    (seed && k->seed))
			continue;
		half_open++;
		k->connected = true;
		k->last_try = (int64_t)time(NULL);
		if (!bt_peer_connect(s, &k->addr)) {
			k->connected = false;
			k->fails++;
			k->next_try = now + RETRY_MIN_MS;
		}
	}
}

void bt_session_peer_gone(struct bt_session *s, struct bt_peer *p,
			  const char *why)
{
	struct bt_peer **pp = &s->peers;
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	s->npeers--;
	struct bt_known *k = bt_session_find_known(s, &p->addr);
	if (!k)
		return;
	k->connected = false;
	k->last_errno = p->sock_errno;
	snprintf(k->why, sizeof(k->why), "%s", why ? why : "");
	uint64_t now = bt_now_ms();
	k->seed = p->seed;
	if (p->handshaken && (now - p->connected_at > 60000 ||
			      (p->seed && seeding(s)))) {
		k->fails = 0; /* it worked for a while: reconnect soon */
		k->next_try = now + RETRY_MIN_MS;
		return;
	}
	k->fails++;
	uint64_t wait = (uint64_t)RETRY_MIN_MS << (k->fails < 7 ? k->fails - 1 : 6);
	k->next_try = now + (wait > RETRY_MAX_MS ? RETRY_MAX_MS : wait);
	if (!k->manual && k->fails >= 8)
		k->banned = true; /* give up on it */
}

/* Run the choker over the handshaken peers and apply its decisions. Its
 * rotations (10 s, 30 s) are due at the deadline it returns; the tick runs
 * it every second, so they happen within a second of it. */
void bt_session_rechoke(struct bt_session *s)
{
	if (s->stopping || !s->choker)
		return;
	if (s->cap_choke_list < s->npeers) {
		size_t cap = s->npeers + 16;
		struct bt_choker_peer **l =
			realloc(s->choke_list, cap * sizeof(*l));
		if (!l)
			return;
		s->choke_list = l;
		s->cap_choke_list = cap;
	}
	uint64_t now = bt_now_ms();
	size_t n = 0;
	for (struct bt_peer *p = s->peers; p; p = p->next) {
		if (!p->handshaken)
			continue;
		p->ch.down_rate = p->down_rate;
		p->ch.up_rate = p->up_rate;
		p->ch.interested = p->peer_interested;
		p->ch.we_interested = p->am_interested;
		p->ch.snubbed = now < p->snubbed_until;
		s->choke_list[n++] = &p->ch;
	}
	bt_choker_run(s->choker, s->choke_list, n, seeding(s), now);
	for (struct bt_peer *p = s->peers; p; p = p->next)
		if (p->handshaken && p->ch.unchoked == p->am_choking)
			bt_peer_set_choke(p, !p->ch.unchoked);
}

/* While we have every piece, a peer that has them all too is no use either
 * way: close it (its address is not retried while we stay a seed), so the
 * connection slot goes to a peer that wants something. */
static void close_redundant(struct bt_session *s)
{
	if (!seeding(s))
		return;
	for (struct bt_peer *p = s->peers, *next; p; p = next) {
		next = p->next;
		if (p->handshaken && p->seed)
			bt_peer_close(p, "we are both seeds");
	}
}

static void fill_all(struct bt_session *s)
{
	for (struct bt_peer *p = s->peers; p; p = p->next)
		bt_peer_fill(p);
}

/* ---- pieces the cache evicted (cache_set_limit) ----
 * The picker must not keep them as had: it would never fetch them again,
 * and with every piece "had" we would tell the peers we are not interested
 * and be choked until their next choke round. */

static void interest_changed(struct bt_session *s)
{
	for (struct bt_peer *p = s->peers; p; p = p->next)
		if (p->handshaken)
			bt_peer_update_interest(p);
}

/* Forget the evicted pieces among FIRST..LAST (a reader wants them). */
static void forget_evicted(struct bt_session *s, uint32_t first, uint32_t last)
{
	bool any = false;
	for (uint32_t i = first; i <= last && i < s->mi->npieces; i++) {
		if (bt_picker_have(s->picker, i) && !cache_has(s->cache, i)) {
			bt_picker_clear_have(s->picker, i);
			any = true;
		}
	}
	if (any)
		interest_changed(s);
}

/* Forget every evicted piece, once per batch of evictions. */
static void sync_evicted(struct bt_session *s)
{
	struct cache_usage u;
	cache_usage(s->cache, &u);
	if (u.evictions == s->evictions_seen)
		return;
	size_t len = (s->mi->npieces + 7) / 8;
	uint8_t *bf = malloc(len);
	if (!bf)
		return; /* next time */
	s->evictions_seen = u.evictions;
	cache_bitfield(s->cache, bf);
	bool any = false;
	for (uint32_t i = 0; i < s->mi->npieces; i++) {
		if (bt_picker_have(s->picker, i) && !bt_bit_get(bf, i)) {
			bt_picker_clear_have(s->picker, i);
			any = true;
		}
	}
	free(bf);
	if (any)
		interest_changed(s);
}

/* ---- data path ---- */

void bt_session_block(struct bt_session *s, struct bt_peer *p, uint32_t piece,
		      uint32_t begin, uint8_t *mem, const uint8_t *data,
		      uint32_t len)
{
	if (begin % BT_BLOCK_SIZE ||
	    len != bt_picker_block_len(s->picker, piece,
				       begin / BT_BLOCK_SIZE)) {
		free(mem); /* not a block we ask for */
		return;
	}
	int r = bt_picker_received(s->picker, piece, begin, p->id);
	if (r < 0) {
		free(mem); /* not needed (a duplicate that lost the race) */
		return;
	}
	bt_hasher_write(s, piece, begin, mem, data, len);
	s->downloaded += len;
	s->down_sec += len;
	/* a duplicate request of this block is out with another peer: the
	 * loser is cancelled (the picker counts the requests, so the common
	 * case of no duplicate costs no scan of the peers) */
	if (bt_picker_requests(s->picker, piece, begin) > 0)
		for (struct bt_peer *q = s->peers; q; q = q->next)
			if (q != p && q->nout)
				bt_peer_cancel(q, piece, begin);
	if (r == 1) {
		pfs_log(PFS_LOG_DEBUG, "session", "piece %u complete", piece);
		bt_hasher_verify(s, piece);
	}
}

void bt_session_piece_done(struct bt_session *s, uint32_t piece, int err)
{
	if (s->stopping)
		return;
	if (err == 0) {
		pfs_log(PFS_LOG_DEBUG, "session", "piece %u verified", piece);
		bt_picker_set_have(s->picker, piece);
		sync_evicted(s);
		if (!cache_has(s->cache, piece)) /* evicted since it verified */
			bt_picker_clear_have(s->picker, piece);
		for (struct bt_peer *p = s->peers; p; p = p->next) {
			bt_peer_send_have(p, piece);
			if (p->handshaken)
				bt_peer_update_interest(p);
		}
		/* the totals move with the cache, not a tick behind it */
		pthread_mutex_lock(&s->stats_lock);
		s->stats.downloaded = s->downloaded;
		s->stats.uploaded = s->uploaded;
		s->stats.have = bt_picker_have_count(s->picker);
		pthread_mutex_unlock(&s->stats_lock);
		if (s->piece_cb)
			s->piece_cb(s->piece_arg, piece);
		fill_all(s);
		return;
	}
	if (err != -EBADMSG) {
		bt_picker_piece_failed(s->picker, piece, NULL, 0);
		if (!s->disk_error)
			pfs_log(PFS_LOG_ERROR, "session",
				"cache write failed (%s): fetching paused",
				strerror(-err));
		s->disk_error = true;
		if (s->piece_cb)
			s->piece_cb(s->piece_arg, BT_PIECE_ERROR);
		return;
	}
	uint32_t ids[64];
	size_t n = bt_picker_piece_failed(s->picker, piece, ids, 64);
	s->hash_fails++;
	pfs_log(PFS_LOG_WARN, "session", "piece %u failed its hash check", piece);
	for (size_t i = 0; i < n; i++) {
		for (struct bt_peer *p = s->peers; p; p = p->next) {
			if (p->id != ids[i])
				continue;
			p->strikes++;
			if (n == 1 || p->strikes >= 2) {
				struct bt_known *k =
					bt_session_find_known(s, &p->addr);
				if (k)
					k->banned = true;
				bt_peer_close(p, "sent a bad piece");
			}
			break;
		}
	}
	fill_all(s);
}

/* ---- trackers ---- */

static void fill_announce(struct bt_session *s,
			  const struct bt_tracker_state *t,
			  struct bt_announce *a, enum bt_tracker_event ev)
{
	memset(a, 0, sizeof(*a));
	memcpy(a->info_hash, s->mi->info_hash, 20);
	memcpy(a->peer_id, s->peer_id, 20);
	a->port = s->port;
	a->uploaded = s->uploaded;
	a->downloaded = s->downloaded;
	a->left = s->mi->total_length - cache_bytes_verified(s->cache);
	a->event = ev;
	a->numwant = ev == BT_EVENT_STOPPED ? 0 : 80;
	a->key = s->key;
	a->tracker_id = t->tracker_id;
	a->local_ip = s->bind_ip;
}

static void publish_sources(struct bt_session *s, uint64_t now);

static void tracker_cb(int err, const struct bt_tracker_reply *r, void *arg)
{
	struct bt_tracker_state *t = arg;
	struct bt_session *s = t->s;
	uint64_t now = bt_now_ms();
	t->req = NULL;
	if (err < 0 || r->failure) {
		t->fails++;
		uint64_t wait = 15000ull << (t->fails < 6 ? t->fails - 1 : 5);
		t->next_announce = now + wait;
		t->last_errno = err < 0 ? -err : 0;
		snprintf(t->last_err, sizeof(t->last_err), "%s%s",
			 err < 0 ? "" : "tracker says: ",
			 err < 0 ? strerror(-err) : r->failure);
		/* once, not at every retry: the state stays in status */
		pfs_log(t->fails == 1 ? PFS_LOG_WARN : PFS_LOG_DEBUG, "tracker",
			"announce to '%s' failed: %s", t->url, t->last_err);
		publish_sources(s, now);
		return;
	}
	if (t->fails)
		pfs_log(PFS_LOG_INFO, "tracker", "'%s' answers again", t->url);
	t->fails = 0;
	t->last_errno = 0;
	t->last_err[0] = '\0';
	t->last_peers = (uint32_t)r->npeers;
	t->started = true;
	t->interval = r->interval;
	if (r->min_interval > t->interval)
		t->interval = r->min_interval < 86400 ? r->min_interval : 86400;
	t->next_announce = now + (uint64_t)t->interval * 1000;
	if (r->tracker_id && *r->tracker_id) {
		char *id = strdup(r->tracker_id);
		if (id) {
			free(t->tracker_id);
			t->tracker_id = id;
		}
	}
	pfs_log(PFS_LOG_INFO, "tracker", "'%s' gave %zu peers", t->url,
		r->npeers);
	for (size_t i = 0; i < r->npeers; i++)
		bt_session_add_known(s, &r->peers[i], false);
	connect_more(s, now);
	publish_sources(s, now); /* status shows the answer at once */
}

static void announce(struct bt_session *s, struct bt_tracker_state *t,
		     enum bt_tracker_event ev, bt_tracker_cb cb, void *arg)
{
	struct bt_announce a;
	fill_announce(s, t, &a, ev);
	t->last_wall = (int64_t)time(NULL);
	t->req = bt_tracker_announce(s->base, s->dns, t->url, &a,
				     ev == BT_EVENT_STOPPED ? 2 : 15, cb, arg);
	if (!t->req) {
		t->fails++;
		t->next_announce = bt_now_ms() + RETRY_MAX_MS;
		t->last_errno = 0;
		snprintf(t->last_err, sizeof(t->last_err),
			 "this build cannot announce to such a URL");
	}
}

static void tracker_tick(struct bt_session *s, uint64_t now)
{
	for (size_t i = 0; i < s->ntrackers; i++) {
		struct bt_tracker_state *t = &s->trackers[i];
		if (t->req || now < t->next_announce)
			continue;
		announce(s, t, t->started ? BT_EVENT_NONE : BT_EVENT_STARTED,
			 tracker_cb, t);
	}
}

/* ---- engine thread plumbing ---- */

/* The per-peer snapshot behind bt_session_peers(): built here, swapped in
 * under stats_lock. N is the number of handshaken peers. */
static void publish_peers(struct bt_session *s, uint32_t n)
{
	struct bt_peer_info *v = n ? calloc(n, sizeof(*v)) : NULL;
	size_t k = 0;
	if (n && !v)
		return; /* keep the last snapshot */
	for (struct bt_peer *p = s->peers; p && k < n; p = p->next) {
		if (!p->handshaken)
			continue;
		struct bt_peer_info *i = &v[k++];
		snprintf(i->addr, sizeof(i->addr), "%s", p->name);
		memcpy(i->peer_id, p->peer_id, sizeof(i->peer_id));
		i->down_rate = p->down_rate;
		i->up_rate = p->up_rate;
		i->downloaded = p->total_down;
		i->uploaded = p->total_up;
		i->have = p->have_count;
		i->incoming = !p->outgoing;
		i->seed = p->seed;
		i->fast = p->fast;
		i->am_choking = p->am_choking;
		i->am_interested = p->am_interested;
		i->peer_choking = p->peer_choking;
		i->peer_interested = p->peer_interested;
	}
	pthread_mutex_lock(&s->stats_lock);
	struct bt_peer_info *old = s->peer_snap;
	s->peer_snap = v;
	s->npeer_snap = k;
	pthread_mutex_unlock(&s->stats_lock);
	free(old);
}

/* Wall clock (s) of the monotonic deadline AT (ms); 0 for none. */
static int64_t wall_of(uint64_t at, uint64_t now)
{
	if (!at || at == UINT64_MAX)
		return 0;
	int64_t t = (int64_t)time(NULL);
	return at > now ? t + (int64_t)((at - now + 999) / 1000) : t;
}

static bool addr_handshaken(struct bt_session *s, const struct bt_addr *a)
{
	for (struct bt_peer *p = s->peers; p; p = p->next)
		if (p->handshaken && bt_addr_equal(&p->addr, a))
			return true;
	return false;
}

/* The snapshot behind bt_session_sources(): the trackers, then the
 * addresses given by hand. */
static void publish_sources(struct bt_session *s, uint64_t now)
{
	size_t n = s->ntrackers;
	for (size_t i = 0; i < s->nknown; i++)
		n += s->known[i].manual;
	struct bt_source_info *v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return; /* keep the last snapshot */
	size_t k = 0;
	for (size_t i = 0; i < s->ntrackers; i++) {
		const struct bt_tracker_state *t = &s->trackers[i];
		struct bt_source_info *o = &v[k++];
		o->kind = BT_SOURCE_TRACKER;
		snprintf(o->name, sizeof(o->name), "%s", t->url);
		snprintf(o->error, sizeof(o->error), "%s", t->last_err);
		o->err = t->last_errno;
		o->state = t->req ? BT_SOURCE_BUSY
			   : t->last_err[0] ? BT_SOURCE_FAILED
			   : t->started ? BT_SOURCE_OK : BT_SOURCE_IDLE;
		o->last = t->last_wall;
		o->next = t->req ? 0 : wall_of(t->next_announce, now);
		o->peers = t->last_peers;
		o->fails = t->fails;
	}
	for (size_t i = 0; i < s->nknown; i++) {
		const struct bt_known *kn = &s->known[i];
		if (!kn->manual)
			continue;
		struct bt_source_info *o = &v[k++];
		o->kind = BT_SOURCE_PEER;
		bt_addr_str(&kn->addr, o->name, sizeof(o->name));
		bool up = kn->connected && addr_handshaken(s, &kn->addr);
		o->state = up ? BT_SOURCE_OK
			   : kn->connected ? BT_SOURCE_BUSY
			   : kn->fails ? BT_SOURCE_FAILED : BT_SOURCE_IDLE;
		if (!up && kn->why[0]) {
			snprintf(o->error, sizeof(o->error), "%s", kn->why);
			o->err = kn->last_errno;
		}
		o->last = kn->last_try;
		o->next = kn->connected ? 0 : wall_of(kn->next_try, now);
		o->fails = kn->fails;
	}
	pthread_mutex_lock(&s->stats_lock);
	struct bt_source_info *old = s->source_snap;
	s->source_snap = v;
	s->nsource_snap = k;
	pthread_mutex_unlock(&s->stats_lock);
	free(old);
}

static void publish_stats(struct bt_session *s)
{
	uint32_t n = 0, seeds = 0;
	for (struct bt_peer *p = s->peers; p; p = p->next) {
		if (!p->handshaken)
			continue;
		n++;
		seeds += p->seed;
	}
	pthread_mutex_lock(&s->stats_lock);
	s->stats.downloaded = s->downloaded;
	s->stats.uploaded = s->uploaded;
	s->stats.npeers = n;
	s->stats.nseeds = seeds;
	s->stats.have = bt_picker_have_count(s->picker);
	s->stats.hash_fails = s->hash_fails;
	s->stats.down_rate = s->down_rate;
	s->stats.up_rate = s->up_rate;
	pthread_mutex_unlock(&s->stats_lock);
	publish_peers(s, n);
	publish_sources(s, bt_now_ms());
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_session *s = arg;
	(void)fd;
	(void)what;
	uint64_t now = bt_now_ms();
	s->down_rate = s->down_rate * 0.5 + (double)s->down_sec * 0.5;
	s->up_rate = s->up_rate * 0.5 + (double)s->up_sec * 0.5;
	s->down_sec = s->up_sec = 0;
	for (struct bt_peer *p = s->peers, *next; p; p = next) {
		next = p->next;
		bt_peer_tick(p, now);
	}
	bt_peer_rank(s);
	if (bt_picker_next_deadline(s->picker) <= now)
		bt_peer_steal_due(s, now);
	if (s->disk_error && bt_hasher_queued_bytes(s) == 0)
		s->disk_error = false; /* try again: space may have been freed */
	close_redundant(s);
	sync_evicted(s);
	tracker_tick(s, now);
	connect_more(s, now);
	bt_session_rechoke(s);
	fill_all(s);
	publish_stats(s);
}

static void post_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_session *s = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&s->post_lock);
	struct post_item *it = s->post_head;
	s->post_head = s->post_tail = NULL;
	pthread_mutex_unlock(&s->post_lock);
	while (it) {
		struct post_item *next = it->next;
		it->fn(s, it->arg);
		free(it);
		it = next;
	}
}

int bt_post(struct bt_session *s, bt_post_fn fn, void *arg)
{
	struct post_item *it = malloc(sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->next = NULL;
	it->fn = fn;
	it->arg = arg;
	pthread_mutex_lock(&s->post_lock);
	if (s->post_closed) {
		pthread_mutex_unlock(&s->post_lock);
		free(it);
		return -ESHUTDOWN;
	}
	if (s->post_tail)
		s->post_tail->next = it;
	else
		s->post_head = it;
	s->post_tail = it;
	if (s->post_ev)
		event_active(s->post_ev, EV_READ, 0);
	pthread_mutex_unlock(&s->post_lock);
	return 0;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct bt_session *s = arg;
	(void)l;
	if (s->stopping || (int)s->npeers >= s->max_peers) {
		pfs_log(PFS_LOG_DEBUG, "session",
			"refusing a connection: %u peers", s->npeers);
		close(fd);
		return;
	}
	struct bt_peer *p = bt_peer_accept(s, fd, sa, salen);
	if (p)
		pfs_log(PFS_LOG_DEBUG, "session", "incoming connection from '%s'",
			p->name);
}

enum { WANT_READ, WANT_AHEAD, WANT_DROP };

struct want_msg {
	int kind;
	uint32_t first, last;
	uint64_t deadline;
	uint32_t step_ms;
};

static void want_cb(struct bt_session *s, void *arg)
{
	struct want_msg *w = arg;
	if (w->kind != WANT_DROP)
		forget_evicted(s, w->first, w->last);
	uint64_t d = w->deadline;
	for (uint32_t i = w->first; i <= w->last && i < s->mi->npieces; i++) {
		if (w->kind == WANT_READ)
			bt_picker_want(s->picker, i, d);
		else if (w->kind == WANT_AHEAD)
			bt_picker_prefetch(s->picker, i, d);
		else
			bt_picker_unprefetch(s->picker, i);
		d += w->step_ms;
	}
	if (w->kind == WANT_DROP && !bt_picker_want_count(s->picker))
		pfs_log(PFS_LOG_DEBUG, "session", "nothing wanted any more");
	int kind = w->kind;
	free(w);
	if (kind == WANT_READ)
		bt_peer_steal_due(s, bt_now_ms());
	if (kind != WANT_DROP)
		fill_all(s);
}

static void post_want(struct bt_session *s, int kind, uint32_t first,
		      uint32_t last, uint32_t deadline_ms, uint32_t step_ms)
{
	if (first > last || first >= s->mi->npieces)
		return;
	struct want_msg *w = malloc(sizeof(*w));
	if (!w)
		return;
	w->kind = kind;
	w->first = first;
	w->last = last;
	w->deadline = bt_now_ms() + deadline_ms;
	w->step_ms = step_ms;
	if (bt_post(s, want_cb, w) < 0)
		free(w);
}

void bt_session_want(struct bt_session *s, uint32_t first, uint32_t last,
		     uint32_t deadline_ms)
{
	post_want(s, WANT_READ, first, last, deadline_ms, 0);
}

void bt_session_prefetch(struct bt_session *s, uint32_t first, uint32_t last,
			 uint32_t deadline_ms, uint32_t step_ms)
{
	post_want(s, WANT_AHEAD, first, last, deadline_ms, step_ms);
}

void bt_session_unprefetch(struct bt_session *s, uint32_t first,
			   uint32_t last)
{
	post_want(s, WANT_DROP, first, last, 0, 0);
}

static void stop_announce_cb(int err, const struct bt_tracker_reply *r,
			     void *arg)
{
	struct bt_tracker_state *t = arg;
	struct bt_session *s = t->s;
	(void)err;
	(void)r;
	t->req = NULL;
	for (size_t i = 0; i < s->ntrackers; i++)
		if (s->trackers[i].req)
			return;
	event_base_loopexit(s->base, NULL);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_session *s = arg;
	(void)fd;
	(void)what;
	event_base_loopexit(s->base, NULL);
}

static void stop_cb(struct bt_session *s, void *arg)
{
	(void)arg;
	s->stopping = true;
	if (s->listener) {
		evconnlistener_free(s->listener);
		s->listener = NULL;
		s->listen_fd = -1;
	}
	while (s->peers)
		bt_peer_close(s->peers, "shutting down");
	bool pending = false;
	for (size_t i = 0; i < s->ntrackers; i++) {
		struct bt_tracker_state *t = &s->trackers[i];
		if (t->req) {
			bt_tracker_cancel(t->req);
			t->req = NULL;
		}
		if (t->started) {
			announce(s, t, BT_EVENT_STOPPED, stop_announce_cb, t);
			pending |= t->req != NULL;
		}
	}
	if (!pending) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	struct timeval tv = {STOP_ANNOUNCE_MS / 1000,
			     (STOP_ANNOUNCE_MS % 1000) * 1000};
	s->exit_ev = evtimer_new(s->base, exit_cb, s);
	if (!s->exit_ev || evtimer_add(s->exit_ev, &tv) < 0)
		event_base_loopexit(s->base, NULL);
}

static void *engine_main(void *arg)
{
	struct bt_session *s = arg;
	tick_cb(-1, 0, s); /* announce and connect at once */
	event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* ---- lifetime ---- */

static int open_listener(struct bt_session *s)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family = AF_INET6;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (s->bind_ip && inet_pton(AF_INET, s->bind_ip, &in4->sin_addr) == 1) {
		family = AF_INET;
	} else if (s->bind_ip &&
		   inet_pton(AF_INET6, s->bind_ip, &in6->sin6_addr) != 1) {
		return -EINVAL;
	}
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && family == AF_INET6 && !s->bind_ip) {
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
		in6->sin6_port = htons(s->port);
		len = sizeof(*in6);
	} else {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(s->port);
		len = sizeof(*in4);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	s->port = ntohs(family == AF_INET6 ? in6->sin6_port : in4->sin_port);
	s->listen_fd = fd;
	return 0;
}

struct bt_session *bt_session_new(const struct bt_metainfo *mi,
				  struct cache *cache,
				  const struct bt_session_opts *o, int *err)
{
	int e = -ENOMEM;
	struct bt_session *s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->mi = mi;
	s->cache = cache;
	s->listen_fd = -1;
	s->port = o->port;
	s->max_peers = o->max_peers > 0 ? o->max_peers : BT_DEFAULT_MAX_PEERS;
	s->no_trackers = o->no_trackers;
	pthread_mutex_init(&s->post_lock, NULL);
	pthread_mutex_init(&s->job_lock, NULL);
	pthread_cond_init(&s->job_cond, NULL);
	pthread_mutex_init(&s->stats_lock, NULL);
	pthread_mutex_init(&s->read_lock, NULL);
	pthread_cond_init(&s->read_cond, NULL);
	s->max_up = o->max_up;
	s->max_down = o->max_down;
	if (o->bind_ip && !(s->bind_ip = strdup(o->bind_ip)))
		goto out;
	s->picker = bt_picker_new(mi->npieces, mi->piece_length, mi->total_length);
	if (!s->picker)
		goto out;
	uint64_t seed;
	if ((e = pfs_random(&seed, sizeof(seed))) < 0)
		goto out;
	struct bt_choker_opts co = {.seed = seed};
	if (!(s->choker = bt_choker_new(&co))) {
		e = -ENOMEM;
		goto out;
	}
	bt_picker_set_fetch_all(s->picker, o->fetch_all);
	for (uint32_t i = 0; i < mi->npieces; i++)
		if (cache_has(cache, i))
			bt_picker_set_have(s->picker, i);
	s->lim.npieces = mi->npieces;
	s->lim.piece_length = mi->piece_length;
	s->lim.total_length = mi->total_length;
	s->lim.max_msg_len = bt_wire_max_msg_len(mi->npieces);

	pfs_version_peer_id(PFS_VERSION, s->peer_id);
	if ((e = pfs_random(s->peer_id + 8, 12)) < 0 ||
	    (e = pfs_random(&s->key, sizeof(s->key))) < 0)
		goto out;
	for (size_t i = 0; i < o->npeers; i++) {
		struct bt_addr a;
		if (bt_addr_parse(o->peers[i], &a) < 0) {
			/* the caller reports it (fs_cli_session_error) */
			pfs_log(PFS_LOG_DEBUG, "session",
				"bad peer address '%s' (want IP:PORT)",
				o->peers[i]);
			e = -EINVAL;
			goto out;
		}
		bt_session_add_known(s, &a, true);
	}
	if (!s->no_trackers && mi->ntrackers) {
		s->trackers = calloc(mi->ntrackers, sizeof(*s->trackers));
		if (!s->trackers)
			goto out;
		for (size_t i = 0; i < mi->ntrackers; i++) {
			s->trackers[i].url = mi->trackers[i];
			s->trackers[i].s = s;
		}
		s->ntrackers = mi->ntrackers;
	}
	if ((e = open_listener(s)) < 0) {
		pfs_log(PFS_LOG_DEBUG, "session", "cannot listen on port %u: %s",
			o->port, strerror(-e));
		goto out;
	}
	return s;
out:
	bt_session_free(s);
	if (err)
		*err = e < 0 ? e : -ENOMEM; /* a failed allocation left e at 0 */
	return NULL;
}

/* Bytes per RATE_TICK_MS tick for RATE bytes/s; EV_RATE_LIMIT_MAX for 0. */
static size_t per_tick(uint64_t rate)
{
	if (!rate)
		return EV_RATE_LIMIT_MAX;
	uint64_t t = rate * RATE_TICK_MS / 1000;
	if (t < 1)
		t = 1;
	return t > EV_RATE_LIMIT_MAX ? EV_RATE_LIMIT_MAX : (size_t)t;
}

/* One token bucket per direction shared by every peer socket of the
 * session (libevent divides each tick's budget among the sockets that
 * want it). Each tick's refill is also its burst, so the rate holds over
 * every tenth of a second, not just on average. */
static int start_rate_limits(struct bt_session *s)
{
	if (!s->max_up && !s->max_down)
		return 0;
	struct timeval tick = {0, RATE_TICK_MS * 1000};
	size_t down = per_tick(s->max_down), up = per_tick(s->max_up);
	s->rl_cfg = ev_token_bucket_cfg_new(down, down, up, up, &tick);
	if (!s->rl_cfg)
		return -ENOMEM;
	s->rl_group = bufferevent_rate_limit_group_new(s->base, s->rl_cfg);
	if (!s->rl_group)
		return -ENOMEM;
	pfs_log(PFS_LOG_INFO, "session", "rate limits: up %llu B/s, down %llu B/s "
		"(0 = none)", (unsigned long long)s->max_up,
		(unsigned long long)s->max_down);
	return 0;
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

int bt_session_start(struct bt_session *s)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int err = -ENOMEM;
	pthread_once(&once, evthread_init_once);
	s->base = event_base_new();
	if (!s->base)
		return -ENOMEM;
	s->dns = evdns_base_new(s->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
						 EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	s->tick_ev = event_new(s->base, -1, EV_PERSIST, tick_cb, s);
	s->listener = evconnlistener_new(s->base, accept_cb, s,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
					 -1, s->listen_fd);
	if (!s->tick_ev || !s->listener)
		return -ENOMEM;
	struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
	evtimer_add(s->tick_ev, &tv);
	pthread_mutex_lock(&s->post_lock);
	s->post_ev = event_new(s->base, -1, 0, post_cb, s);
	if (s->post_ev && s->post_head)
		event_active(s->post_ev, EV_READ, 0);
	pthread_mutex_unlock(&s->post_lock);
	if (!s->post_ev)
		return -ENOMEM;
	if ((err = start_rate_limits(s)) < 0)
		return err;
	if ((err = bt_hasher_start(s)) < 0)
		return err;
	if ((err = bt_reader_start(s)) < 0) {
		bt_hasher_stop(s);
		return err;
	}
	if ((err = -pthread_create(&s->thread, NULL, engine_main, s)) < 0) {
		bt_reader_stop(s);
		bt_hasher_stop(s);
		return err;
	}
	s->started = true;
	return 0;
}

void bt_session_stop(struct bt_session *s)
{
	if (!s->started || s->stopped)
		return;
	s->stopped = true;
	if (bt_post(s, stop_cb, NULL) == 0)
		pthread_join(s->thread, NULL);
	pthread_mutex_lock(&s->post_lock);
	s->post_closed = true;
	struct post_item *it = s->post_head;
	s->post_head = s->post_tail = NULL;
	pthread_mutex_unlock(&s->post_lock);
	/* the engine thread is gone: run what is left here */
	while (it) {
		struct post_item *next = it->next;
		it->fn(s, it->arg);
		free(it);
		it = next;
	}
	bt_reader_stop(s);
	bt_hasher_stop(s);
	int err = cache_flush(s->cache);
	if (err < 0)
		pfs_log(PFS_LOG_ERROR, "session", "writing the verified map failed: %s",
			strerror(-err));
}

void bt_session_free(struct bt_session *s)
{
	if (!s)
		return;
	if (s->started && !s->stopped)
		bt_session_stop(s);
	while (s->peers)
		bt_peer_close(s->peers, "freed");
	for (size_t i = 0; i < s->ntrackers; i++)
		if (s->trackers[i].req)
			bt_tracker_cancel(s->trackers[i].req);
	for (size_t i = 0; i < s->ntrackers; i++)
		free(s->trackers[i].tracker_id);
	free(s->trackers);
	if (s->listener)
		evconnlistener_free(s->listener);
	else if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->rl_group)
		bufferevent_rate_limit_group_free(s->rl_group);
	if (s->rl_cfg)
		ev_token_bucket_cfg_free(s->rl_cfg);
	bt_reader_stop(s); /* not started: frees nothing */
	bt_choker_free(s->choker);
	free(s->choke_list);
	if (s->post_ev)
		event_free(s->post_ev);
	if (s->tick_ev)
		event_free(s->tick_ev);
	if (s->exit_ev)
		event_free(s->exit_ev);
	if (s->dns)
		evdns_base_free(s->dns, 1);
	if (s->base)
		event_base_free(s->base);
	bt_picker_free(s->picker);
	free(s->known);
	free(s->write_failed);
	free(s->bind_ip);
	pthread_mutex_destroy(&s->post_lock);
	pthread_mutex_destroy(&s->job_lock);
	pthread_cond_destroy(&s->job_cond);
	pthread_mutex_destroy(&s->stats_lock);
	pthread_mutex_destroy(&s->read_lock);
	pthread_cond_destroy(&s->read_cond);
	free(s->peer_snap);
	free(s->source_snap);
	free(s);
}

void bt_session_on_piece(struct bt_session *s, bt_piece_cb cb, void *arg)
{
	s->piece_cb = cb;
	s->piece_arg = arg;
}

void bt_session_stats(struct bt_session *s, struct bt_stats *st)
{
	pthread_mutex_lock(&s->stats_lock);
	*st = s->stats;
	pthread_mutex_unlock(&s->stats_lock);
}

uint16_t bt_session_port(const struct bt_session *s)
{
	return s->port;
}

size_t bt_session_peers(struct bt_session *s, struct bt_peer_info *out,
			size_t max)
{
	pthread_mutex_lock(&s->stats_lock);
	size_t n = s->npeer_snap;
	if (max && out && n)
		memcpy(out, s->peer_snap,
		       (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&s->stats_lock);
	return n;
}

size_t bt_session_sources(struct bt_session *s, struct bt_source_info *out,
			  size_t max)
{
	pthread_mutex_lock(&s->stats_lock);
	size_t n = s->nsource_snap;
	if (max && out && n)
		memcpy(out, s->source_snap,
		       (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&s->stats_lock);
	return n;
}
