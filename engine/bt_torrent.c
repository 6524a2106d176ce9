/* bt_torrent — one torrent of the engine: how it reacts to its peers'
 * events, its data path, trackers, choking and connections; see
 * bt_torrent.h.
 *
 * Each subsystem has its own timer, re-armed from the deadline its core
 * returns: the choker's rotations (bt_choker_run), the trackers' next
 * announce, the peers' timeouts, keepalives and snubs (bt_peer_tick,
 * bt_requester_snub_deadline), new connections (bt_addrbook_next_time),
 * and once a second the rates (with what follows from them: the ranking
 * of peers, due blocks stolen from slow ones, the published stats). */
#include "bt_torrent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "bt_conn_mse.h"
#include "bt_conn_tcp.h"
#include "bt_engine_i.h"
#include "pfs_hash.h"
#include "pfs_log.h"
#include "pfs_nh.h"

#define RATE_MS 1000
#define OUTPUT_HIGH (512u * 1024) /* stop serving blocks above this */
#define TRACKER_TIMEOUT_MS 15000     /* an http(s) announce */
#define TRACKER_STOP_TIMEOUT_MS 2000 /* a `stopped` at shutdown */

static void rechoke(struct bt_torrent *t);
static void fill(struct bt_tpeer *tp);
static void fill_all(struct bt_torrent *t);
static void rank(struct bt_torrent *t);
static void connect_soon(struct bt_torrent *t);
static void remember_plain(struct bt_torrent *t, const struct bt_addr *a);
static bool connect_to(struct bt_torrent *t, const struct bt_addr *a,
		       unsigned src, uint64_t now);
static void peer_timer_at(struct bt_torrent *t, uint64_t at);
static void serve(struct bt_tpeer *tp);
static void set_choke(struct bt_tpeer *tp, bool choke);
static void publish_sources(struct bt_torrent *t, uint64_t now);
static void tracker_run(struct bt_torrent *t, uint64_t now);

static bool data_phase(const struct bt_torrent *t)
{
	return t->phase == BT_PHASE_DATA;
}

static bool seeding(const struct bt_torrent *t)
{
	return data_phase(t) &&
	       bt_picker_have_count(t->picker) == t->mi->npieces;
}

static void arm(struct event *ev, uint64_t at, uint64_t now)
{
	if (!ev)
		return;
	uint64_t ms = at > now ? at - now : 0;
	if (ms > 86400000)
		ms = 86400000;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

static void close_peer(struct bt_tpeer *tp, const char *why)
{
	bt_peer_close(tp->w, why);
}

/* ---- interest and availability ---- */

static struct bt_manual_peer *manual_of(struct bt_torrent *t,
				       const struct bt_addr *a)
{
	for (size_t i = 0; i < t->nmanual; i++)
		if (bt_addr_equal(&t->manual[i].addr, a))
			return &t->manual[i];
	return NULL;
}

static void update_interest(struct bt_tpeer *tp)
{
	struct bt_peer *p = tp->w;
	if (!data_phase(tp->t) || !p->handshaken)
		return;
	bool want = bt_picker_interesting(tp->t->picker, p->have);
	if (want != p->am_interested)
		bt_peer_send_interested(p, want);
}

static void interest_changed(struct bt_torrent *t)
{
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		update_interest(tp);
}

/* Our pieces, as the first message after the handshake. */
static void send_have_state(struct bt_tpeer *tp)
{
	struct bt_torrent *t = tp->t;
	struct bt_peer *p = tp->w;
	if (!data_phase(t)) {
		if (p->fast)
			bt_peer_send_have_none(p);
		return;
	}
	uint32_t have = bt_picker_have_count(t->picker);
	if (p->fast && have == t->mi->npieces) {
		bt_peer_send_have_all(p);
		return;
	}
	if (have == 0) {
		if (p->fast)
			bt_peer_send_have_none(p);
		return;
	}
	size_t len = bt_bitfield_len(t->mi->npieces);
	uint8_t *bf = calloc(1, len);
	if (!bf)
		return;
	cache_bitfield(t->cache, bf);
	bt_peer_send_bitfield(p, bf, len);
	free(bf);
}

/* ---- pieces the cache evicted (cache_set_limit) ----
 * The picker must not keep them as had: it would never fetch them again,
 * and with every piece "had" we would tell the peers we are not interested
 * and be choked until their next choke round. */

static void forget_evicted(struct bt_torrent *t, uint32_t first, uint32_t last)
{
	bool any = false;
	for (uint32_t i = first; i <= last && i < t->mi->npieces; i++) {
		if (bt_picker_have(t->picker, i) && !cache_has(t->cache, i)) {
			bt_picker_clear_have(t->picker, i);
			any = true;
		}
	}
	if (any)
		interest_changed(t);
}

static void sync_evicted(struct bt_torrent *t)
{
	struct cache_usage u;
	cache_usage(t->cache, &u);
	if (u.evictions == t->evictions_seen)
		return;
	size_t len = bt_bitfield_len(t->mi->npieces);
	uint8_t *bf = malloc(len);
	if (!bf)
		return; /* next time */
	t->evictions_seen = u.evictions;
	cache_bitfield(t->cache, bf);
	bool any = false;
	for (uint32_t i = 0; i < t->mi->npieces; i++) {
		if (bt_picker_have(t->picker, i) && !bt_bit_get(bf, i)) {
			bt_picker_clear_have(t->picker, i);
			any = true;
		}
	}
	free(bf);
	if (any)
		interest_changed(t);
}

/* ---- requests we send ---- */

static void apply(struct bt_tpeer *tp, const struct bt_rq_action *act, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (act[i].type == BT_RQ_REQUEST)
			bt_peer_send_request(tp->w, &act[i].b);
		else
			bt_peer_send_cancel(tp->w, &act[i].b);
	}
}

static void sync_rq(struct bt_tpeer *tp)
{
	tp->rq.ready = data_phase(tp->t) && tp->w->handshaken;
	tp->rq.choked = tp->w->peer_choking;
	tp->rq.have = tp->w->have;
}

static void rank(struct bt_torrent *t)
{
	if (!data_phase(t))
		return;
	if (t->cap_rank_list < t->npeers) {
		size_t cap = t->npeers + 16;
		struct bt_rq_peer **l = realloc(t->rank_list, cap * sizeof(*l));
		if (!l)
			return; /* keep the last ranking */
		t->rank_list = l;
		t->cap_rank_list = cap;
	}
	size_t n = 0;
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next) {
		sync_rq(tp);
		tp->rq.down_rate = tp->down_rate;
		t->rank_list[n++] = &tp->rq;
	}
	bt_requester_rank(t->rq, t->rank_list, n);
}

static void steal_due(struct bt_torrent *t, uint64_t now)
{
	struct bt_rq_action act[BT_RQ_MAX_ACTIONS];
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		apply(tp, act, bt_requester_steal_due(t->rq, &tp->rq, now, act));
}

/* TP will not deliver the exclusive piece it was fetching (it rejected a
 * block of it, choked us, went quiet): the piece goes to another peer,
 * whole, so an attempt stays one peer's. */
static void give_up_exclusive(struct bt_tpeer *tp, uint32_t piece)
{
	struct bt_torrent *t = tp->t;
	struct bt_rq_action act[BT_RQ_MAX_ACTIONS];
	if (piece != UINT32_MAX)
		apply(tp, act,
		      bt_requester_cancel_piece(t->rq, &tp->rq, piece, act));
	bt_picker_peer_gone(t->picker, tp->id);
}

static void fill(struct bt_tpeer *tp)
{
	struct bt_torrent *t = tp->t;
	if (!data_phase(t) || !tp->w->handshaken || t->stopping ||
	    t->disk_error)
		return;
	if (bt_hasher_queued_bytes(t->e) > BT_HASHER_MAX_BYTES)
		return;
	struct bt_rq_action act[BT_RQ_MAX_ACTIONS];
	sync_rq(tp);
	uint64_t now = bt_now_ms();
	bool idle = tp->rq.nout == 0;
	apply(tp, act, bt_requester_fill(t->rq, &tp->rq, now, act));
	if (idle && tp->rq.nout) /* a snub deadline starts */
		peer_timer_at(t, bt_requester_snub_deadline(t->rq, &tp->rq));
}

static void fill_all(struct bt_torrent *t)
{
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		fill(tp);
}

/* ---- requests we serve ---- */

static void reject(struct bt_tpeer *tp, const struct bt_block *b)
{
	if (tp->w->fast)
		bt_peer_send_reject(tp->w, b);
}

/* Remove the block from the peer's reads in flight; false if not there. */
static bool reading_take(struct bt_tpeer *tp, const struct bt_block *b)
{
	for (size_t i = 0; i < tp->nreading; i++) {
		struct bt_block *r = &tp->reading[i];
		if (r->piece == b->piece && r->begin == b->begin &&
		    r->length == b->length) {
			tp->reading_bytes -= b->length;
			memmove(r, r + 1, (tp->nreading - i - 1) * sizeof(*r));
			tp->nreading--;
			return true;
		}
	}
	return false;
}

/* A peer without the fast extension had requests we could not queue:
 * once the queued ones went out, a choke and an unchoke tell it that the
 * rest will not come (BEP 3: a choke voids every request), so it asks
 * again. Done when the queue is empty so a deep pipeline is served a full
 * queue at a time, not a few blocks between resets. */
static void maybe_reset(struct bt_tpeer *tp)
{
	if (!tp->reset_pending || tp->nin || tp->nreading)
		return;
	tp->reset_pending = false;
	if (tp->w->am_choking)
		return; /* a choke went out already */
	set_choke(tp, true);
	set_choke(tp, false);
}

/* Hand queued requests to the reader thread while what sits in the
 * transport plus what is being read stays under OUTPUT_HIGH: a slow (or
 * rate limited) downloader cannot make us buffer much. */
static void serve(struct bt_tpeer *tp)
{
	struct bt_torrent *t = tp->t;
	struct bt_peer *p = tp->w;
	while (tp->nin && !p->am_choking && tp->nreading < BT_MAX_READING &&
	       bt_peer_queued(p) + tp->reading_bytes < OUTPUT_HIGH) {
		struct bt_block b = tp->in[tp->nin_head];
		tp->nin_head++;
		tp->nin--;
		if (!tp->nin)
			tp->nin_head = 0;
		if (bt_reader_read(t->e, t, tp->id, b.piece, b.begin, b.length) <
		    0) {
			reject(tp, &b);
			continue;
		}
		tp->reading[tp->nreading++] = b;
		tp->reading_bytes += b.length;
	}
	maybe_reset(tp);
}

static void free_read_ref(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	bt_read_free(arg);
}

void bt_torrent_read_done(struct bt_torrent *t, struct bt_read *r)
{
	struct bt_tpeer *tp = t->peers;
	while (tp && tp->id != r->peer_id)
		tp = tp->next;
	struct bt_block b = {.piece = r->piece, .begin = r->begin,
			     .length = r->len};
	/* gone, or the request was cancelled or choked meanwhile */
	if (!tp || !reading_take(tp, &b)) {
		bt_read_free(r);
		return;
	}
	if (r->err < 0) {
		/* ENODATA: the piece was evicted since the request was
		 * queued, which a cache limit makes routine */
		pfs_log(r->err == -ENODATA ? PFS_LOG_DEBUG : PFS_LOG_WARN,
			"peer", "cannot serve piece %u to '%s': %s", r->piece,
			tp->w->name, strerror(-r->err));
		bt_read_free(r);
		reject(tp, &b);
		serve(tp);
		return;
	}
	bt_peer_send_piece_ref(tp->w, &b, r->buf, free_read_ref, r);
	tp->sent_bytes += b.length;
	tp->total_up += b.length;
	t->uploaded += b.length;
	t->up_sec += b.length;
	serve(tp);
}

static void reject_all_incoming(struct bt_tpeer *tp)
{
	for (size_t i = 0; i < tp->nin; i++)
		reject(tp, &tp->in[tp->nin_head + i]);
	tp->nin = tp->nin_head = 0;
	/* their reads are dropped when they come back */
	for (size_t i = 0; i < tp->nreading; i++)
		reject(tp, &tp->reading[i]);
	tp->nreading = 0;
	tp->reading_bytes = 0;
}

static void set_choke(struct bt_tpeer *tp, bool choke)
{
	if (tp->w->am_choking == choke)
		return;
	bt_peer_send_choke(tp->w, choke);
	if (choke) {
		tp->reset_pending = false; /* this choke is the reset */
		reject_all_incoming(tp);
		tp->t->unchoked--;
	} else {
		tp->t->unchoked++;
	}
}

static bool request_queued(const struct bt_tpeer *tp, const struct bt_block *b)
{
	for (size_t i = 0; i < tp->nin; i++) {
		const struct bt_block *q = &tp->in[tp->nin_head + i];
		if (q->piece == b->piece && q->begin == b->begin &&
		    q->length == b->length)
			return true;
	}
	for (size_t i = 0; i < tp->nreading; i++) {
		const struct bt_block *q = &tp->reading[i];
		if (q->piece == b->piece && q->begin == b->begin &&
		    q->length == b->length)
			return true;
	}
	return false;
}

static void on_request(struct bt_tpeer *tp, const struct bt_block *b)
{
	struct bt_torrent *t = tp->t;
	if (!data_phase(t)) {
		close_peer(tp, "request before the metadata");
		return;
	}
	/* a reset is coming, which voids this one too */
	if (tp->reset_pending && !tp->w->am_choking)
		return;
	struct bt_choker_req r = {
		.piece = b->piece,
		.begin = b->begin,
		.length = b->length,
		.have = cache_has(t->cache, b->piece),
		.choked = tp->w->am_choking,
		.fast = tp->w->fast,
		.duplicate = request_queued(tp, b),
		.queued = tp->nin + tp->nreading,
	};
	switch (bt_choker_check_request(&t->lim, &r)) {
	case BT_CHOKER_CLOSE:
		close_peer(tp, "invalid request");
		return;
	case BT_CHOKER_REJECT:
		reject(tp, b);
		return;
	case BT_CHOKER_RESET:
		/* not served: once what is queued went out, a choke and an
		 * unchoke void its queue and it asks again for the rest */
		if (!tp->reset_pending)
			pfs_log(PFS_LOG_DEBUG, "peer", "'%s': %zu requests "
				"queued, or one for a piece we lack: choke and "
				"unchoke once they are served", tp->w->name,
				tp->nin + tp->nreading);
		tp->reset_pending = true;
		maybe_reset(tp);
		return;
	case BT_CHOKER_IGNORE:
		return;
	case BT_CHOKER_SERVE:
		break;
	}
	if (tp->nin_head + tp->nin >= BT_MAX_IN_REQS) {
		memmove(tp->in, tp->in + tp->nin_head, tp->nin * sizeof(*tp->in));
		tp->nin_head = 0;
	}
	tp->in[tp->nin_head + tp->nin++] = *b;
	serve(tp);
}

static void on_cancel(struct bt_tpeer *tp, const struct bt_block *c)
{
	for (size_t i = 0; i < tp->nin; i++) {
		struct bt_block *b = &tp->in[tp->nin_head + i];
		if (b->piece == c->piece && b->begin == c->begin &&
		    b->length == c->length) {
			memmove(b, b + 1, (tp->nin - i - 1) * sizeof(*b));
			tp->nin--;
			reject(tp, c);
			maybe_reset(tp);
			return;
		}
	}
	/* being read: its answer is dropped when it comes back */
	if (reading_take(tp, c)) {
		reject(tp, c);
		serve(tp);
	}
}

/* ---- data path ---- */

/* A block arrived: J holds it (taken over: queued for the disk, or freed
 * when not needed). */
static void on_block(struct bt_tpeer *tp, const struct bt_block *b,
		     struct bt_job *j, const uint8_t *data)
{
	struct bt_torrent *t = tp->t;
	if (b->begin % BT_BLOCK_SIZE ||
	    b->length != bt_picker_block_len(t->picker, b->piece,
					     b->begin / BT_BLOCK_SIZE)) {
		free(j); /* not a block we ask for */
		return;
	}
	int r = bt_picker_received(t->picker, b->piece, b->begin, tp->id);
	if (r < 0) {
		free(j); /* not needed (a duplicate that lost the race) */
		return;
	}
	/* signed, so that a failed piece's good version tells who lied */
	bt_picker_set_sig(t->picker, b->piece, b->begin,
			  pfs_nh(t->e->nh, data, b->length));
	j->t = t;
	j->piece = b->piece;
	j->begin = b->begin;
	j->len = b->length;
	j->data = data;
	j->verify = r == 1;
	bt_hasher_write(t->e, j);
	t->downloaded += b->length;
	t->down_sec += b->length;
	/* a duplicate request of this block is out with another peer: the
	 * loser is cancelled (the picker counts the requests, so the common
	 * case of no duplicate costs no scan of the peers) */
	if (bt_picker_requests(t->picker, b->piece, b->begin) > 0) {
		struct bt_rq_action act;
		for (struct bt_tpeer *q = t->peers; q; q = q->next)
			if (q != tp && q->rq.nout &&
			    bt_requester_cancel(t->rq, &q->rq, b->piece,
						b->begin, &act))
				apply(q, &act, 1);
	}
	if (r == 1)
		pfs_log(PFS_LOG_DEBUG, "torrent", "piece %u complete", b->piece);
}

static void ban(struct bt_torrent *t, struct bt_tpeer *tp, const char *why)
{
	bt_addrbook_ban(t->book, &tp->w->addr);
	close_peer(tp, why);
}

/* The evidence says S lied: its IP may not come back this session (nor
 * connect to us), and it goes if it is still here. */
static void ban_liar(struct bt_torrent *t, const struct bt_blame_sender *s,
		     const char *why)
{
	char name[BT_ADDR_STRLEN];
	if (s->addr.family) {
		bt_addr_str(&s->addr, name, sizeof(name));
		if (!bt_addrbook_banned(t->book, &s->addr))
			pfs_log(PFS_LOG_WARN, "torrent", "banning '%s': %s",
				name, why);
		bt_addrbook_ban(t->book, &s->addr);
		bt_addrbook_ban_ip(t->book, &s->addr);
	}
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		if (tp->id == s->peer_id) {
			close_peer(tp, why);
			break;
		}
}

/* The address of peer ID: connected, or closed not long ago. */
static bool addr_of(struct bt_torrent *t, uint32_t id, struct bt_addr *a)
{
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		if (tp->id == id) {
			*a = tp->w->addr;
			return true;
		}
	for (size_t i = 0; i < BT_GONE_MAX; i++)
		if (t->gone[i].id == id) {
			*a = t->gone[i].addr;
			return true;
		}
	return false;
}

/* Who sent each block of PIECE (in progress), into *OUT (the caller
 * frees it); returns the number of blocks, 0 when unknown. */
static uint32_t senders(struct bt_torrent *t, uint32_t piece,
			struct bt_blame_sender **out)
{
	uint32_t nb = bt_picker_nblocks(t->picker, piece);
	uint32_t *ids = calloc(nb, sizeof(*ids));
	uint64_t *sigs = calloc(nb, sizeof(*sigs));
	struct bt_blame_sender *s = calloc(nb, sizeof(*s));
	if (!ids || !sigs || !s ||
	    bt_picker_senders(t->picker, piece, ids, sigs, nb) != nb) {
		free(ids);
		free(sigs);
		free(s);
		*out = NULL;
		return 0;
	}
	for (uint32_t b = 0; b < nb; b++) {
		s[b].peer_id = ids[b];
		s[b].sig = sigs[b];
		if (ids[b])
			addr_of(t, ids[b], &s[b].addr); /* or left unknown */
	}
	free(ids);
	free(sigs);
	*out = s;
	return nb;
}

/* PIECE (on record as failed before) verified: its blocks now tell who
 * sent bad ones before. */
static void convict(struct bt_torrent *t, uint32_t piece)
{
	struct bt_blame_sender *snd = NULL, guilty[16];
	uint32_t nb = senders(t, piece, &snd);
	if (!nb)
		return;
	uint64_t *good = malloc(nb * sizeof(*good));
	if (good) {
		for (uint32_t b = 0; b < nb; b++)
			good[b] = snd[b].sig;
		size_t n = bt_blame_passed(t->blame, piece, nb, good, guilty,
					   16);
		for (size_t i = 0; i < n; i++)
			ban_liar(t, &guilty[i], "sent bad blocks");
		free(good);
	}
	free(snd);
}

void bt_torrent_piece_done(struct bt_torrent *t, struct bt_job *j)
{
	uint32_t piece = j->piece;
	int err = j->err;
	free(j);
	if (t->stopping || !data_phase(t))
		return;
	if (err == 0) {
		pfs_log(PFS_LOG_DEBUG, "torrent", "piece %u verified", piece);
		if (bt_blame_pending(t->blame, piece))
			convict(t, piece);
		bt_picker_set_have(t->picker, piece);
		sync_evicted(t);
		if (!cache_has(t->cache, piece)) /* evicted since it verified */
			bt_picker_clear_have(t->picker, piece);
		for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next) {
			if (!tp->w->handshaken)
				continue;
			if (!bt_bit_get(tp->w->have, piece))
				bt_peer_send_have(tp->w, piece);
			update_interest(tp);
		}
		/* the totals move with the cache, not a tick behind it */
		pthread_mutex_lock(&t->stats_lock);
		t->stats.downloaded = t->downloaded;
		t->stats.uploaded = t->uploaded;
		t->stats.have = bt_picker_have_count(t->picker);
		pthread_mutex_unlock(&t->stats_lock);
		if (t->piece_cb)
			t->piece_cb(t->piece_arg, piece);
		if (t->an && seeding(t)) {
			/* `completed` (the announcer sends it once) */
			bt_announcer_completed(t->an, bt_now_ms());
			tracker_run(t, bt_now_ms());
		}
		fill_all(t);
		return;
	}
	if (err != -EBADMSG) {
		bt_picker_piece_failed(t->picker, piece, NULL, 0);
		if (!t->disk_error)
			pfs_log(PFS_LOG_ERROR, "torrent",
				"cache write failed (%s): fetching paused",
				strerror(-err));
		t->disk_error = true;
		if (t->piece_cb)
			t->piece_cb(t->piece_arg, BT_PIECE_ERROR);
		return;
	}
	t->hash_fails++;
	pfs_log(PFS_LOG_WARN, "torrent", "piece %u failed its hash check", piece);
	struct bt_blame_sender *snd = NULL;
	uint32_t nb = senders(t, piece, &snd);
	struct bt_blame_sender guilty;
	if (nb && bt_blame_failed(t->blame, piece, nb, snd, &guilty)) {
		ban_liar(t, &guilty, "sent a bad piece");
	} else if (nb) {
		/* several sent it: nobody is blamed for company; the next
		 * attempt comes from one peer alone, and tells */
		pfs_log(PFS_LOG_INFO, "torrent", "piece %u: fetched again "
			"from one peer, to tell who sent the bad blocks", piece);
		bt_picker_set_exclusive(t->picker, piece, true);
	}
	free(snd);
	bt_picker_piece_failed(t->picker, piece, NULL, 0);
	fill_all(t);
}

/* ---- the peers' events ---- */

static void on_handshake(struct bt_tpeer *tp)
{
	struct bt_torrent *t = tp->t;
	struct bt_peer *p = tp->w;
	if (!memcmp(p->peer_id, t->e->peer_id, 20)) {
		ban(t, tp, "connected to ourselves");
		return;
	}
	for (struct bt_tpeer *q = t->peers; q; q = q->next) {
		if (q != tp && q->w->handshaken &&
		    !memcmp(q->w->peer_id, p->peer_id, 20)) {
			/* both sides connected at once (PEX tells each of
			 * the other): both keep the connection opened by the
			 * side of the lower peer id, so one survives */
			bool keep_ours = memcmp(t->e->peer_id, p->peer_id,
						20) < 0;
			if (q->w->outgoing != p->outgoing &&
			    q->w->outgoing != keep_ours) {
				close_peer(q, "already connected to this peer");
				break;
			}
			close_peer(tp, "already connected to this peer");
			return;
		}
	}
	pfs_log(PFS_LOG_INFO, "peer", "connected to '%s'%s%s", p->name,
		p->fast ? " (fast)" : "",
		bt_conn_mse_rc4(p->conn)    ? " (encrypted)"
		: bt_conn_mse_done(p->conn) ? " (mse, plaintext payload)"
					    : "");
	rank(t);
	bt_extn_greet(tp); /* BEP 10: the extension handshake goes first */
	send_have_state(tp);
	if (p->dht && bt_dhtnode_running(t->e->dht)) /* both set the bit */
		bt_peer_send_port(p, bt_engine_port(t->e));
	peer_timer_at(t, bt_peer_tick(p, bt_now_ms()));
}

static void on_gone(struct bt_tpeer *tp, const struct bt_peer_event *ev)
{
	struct bt_torrent *t = tp->t;
	struct bt_peer *p = tp->w;
	uint64_t now = bt_now_ms();
	struct bt_manual_peer *m = manual_of(t, &p->addr);
	/* our MSE handshake failed once TCP was up: with prefer, once more
	 * in plain (and plain from now on); with require, that is the end */
	bool mse_failed = p->outgoing && bt_conn_is_mse(p->conn) &&
			  bt_conn_mse_tcp_up(p->conn) &&
			  !bt_conn_mse_done(p->conn);
	bool retry_plain = mse_failed &&
			   t->e->encryption == BT_MSE_PREFER && !t->stopping &&
			   !t->e->stopping && t->connect_ev;
	if (mse_failed)
		pfs_log(PFS_LOG_INFO, "peer", "'%s': encrypted handshake "
			"failed (%s)%s", p->name, bt_conn_mse_reason(p->conn),
			retry_plain ? ": trying plaintext"
				    : ": no plaintext (--encryption require)");
	if (retry_plain)
		remember_plain(t, &p->addr);
	if (m) {
		m->last_errno = ev->err;
		if (mse_failed)
			snprintf(m->why, sizeof(m->why),
				 "encrypted handshake failed%s: %s",
				 retry_plain ? "" : " (--encryption require)",
				 bt_conn_mse_reason(p->conn));
		else
			snprintf(m->why, sizeof(m->why), "%s",
				 ev->reason ? ev->reason : "");
	}
	bt_extn_peer_gone(tp);
	bt_rq_peer_release(t->rq, &tp->rq);
	if (data_phase(t))
		bt_picker_peer_gone(t->picker, tp->id);
	t->gone[t->gone_at].id = tp->id;
	t->gone[t->gone_at].addr = p->addr;
	t->gone_at = (t->gone_at + 1) % BT_GONE_MAX;
	if (tp->counted && p->have_count)
		bt_picker_avail_remove(t->picker, p->have);
	bool was_unchoked = !p->am_choking;
	if (was_unchoked)
		t->unchoked--;
	struct bt_tpeer **pp = &t->peers;
	while (*pp && *pp != tp)
		pp = &(*pp)->next;
	if (*pp)
		*pp = tp->next;
	t->npeers--;
	/* it worked for a while, or it is a seed we no longer need:
	 * reconnect soon */
	bool worked = p->handshaken &&
		      (now - p->connected_at > BT_ADDRBOOK_GOOD_MS ||
		       (p->seed && seeding(t)));
	struct bt_addr addr = p->addr;
	uint8_t src = tp->src;
	free(tp->in);
	free(tp);
	/* the address book still has it connecting: the plain retry is
	 * the same attempt */
	if (!retry_plain || !connect_to(t, &addr, src, now))
		bt_addrbook_closed(t->book, &addr, BT_AB_CLOSED, worked,
				   p->seed, now);
	rank(t);
	if (was_unchoked)
		rechoke(t); /* its slot goes to another peer now */
	connect_soon(t);
}

static uint64_t own_now(void *arg)
{
	(void)arg;
	return bt_now_ms();
}

static uint8_t *own_block_alloc(void *arg, size_t len, void **mem)
{
	(void)arg;
	struct bt_job *j = bt_job_new(len);
	*mem = j;
	return j ? j->buf : NULL;
}

static void own_block_free(void *arg, void *mem)
{
	(void)arg;
	free(mem);
}

static void own_event(void *arg, struct bt_peer *p,
		      const struct bt_peer_event *ev)
{
	struct bt_tpeer *tp = arg;
	struct bt_torrent *t = tp->t;
	(void)p;
	switch (ev->type) {
	case BT_PEV_CONNECTED:
		connect_soon(t); /* a half-open slot is free */
		break;
	case BT_PEV_HANDSHAKE:
		on_handshake(tp);
		break;
	case BT_PEV_CHOKE:
		/* also for fast peers: anything still sent is accepted if
		 * needed, and a reject for a dropped request is ignored */
		if (data_phase(t)) {
			bt_requester_choked(t->rq, &tp->rq);
			give_up_exclusive(tp, UINT32_MAX);
		}
		rank(t);
		break;
	case BT_PEV_UNCHOKE:
		rank(t); /* the due blocks' shares change */
		fill(tp);
		break;
	case BT_PEV_INTERESTED:
	case BT_PEV_NOT_INTERESTED:
		rechoke(t);
		break;
	case BT_PEV_HAVE:
		if (!data_phase(t))
			break;
		bt_picker_avail_inc(t->picker, ev->index);
		update_interest(tp);
		fill(tp);
		break;
	case BT_PEV_UNHAVE:
		if (data_phase(t))
			bt_picker_avail_remove(t->picker, tp->w->have);
		break;
	case BT_PEV_BITFIELD:
		if (!data_phase(t))
			break;
		bt_picker_avail_add(t->picker, tp->w->have);
		update_interest(tp);
		fill(tp);
		break;
	case BT_PEV_REQUEST:
		on_request(tp, &ev->block);
		break;
	case BT_PEV_CANCEL:
		on_cancel(tp, &ev->block);
		break;
	case BT_PEV_REJECT:
		if (!data_phase(t))
			break;
		bt_requester_rejected(t->rq, &tp->rq, ev->block.piece,
				      ev->block.begin, ev->block.length);
		if (bt_picker_exclusive(t->picker, ev->block.piece))
			give_up_exclusive(tp, ev->block.piece);
		/* no fill here: it would ask it for the same block again at
		 * once; its next block, or the next second, refills it */
		break;
	case BT_PEV_PIECE:
		if (!data_phase(t)) {
			free(ev->mem);
			close_peer(tp, "piece before the metadata");
			break;
		}
		tp->recv_bytes += ev->block.length;
		tp->total_down += ev->block.length;
		if (bt_requester_got(t->rq, &tp->rq, ev->block.piece,
				     ev->block.begin, ev->block.length,
				     bt_now_ms()) == BT_RQ_UNASKED) {
			/* a block nobody asked it for never reaches a piece:
			 * held against it, and it goes soon */
			free(ev->mem);
			if (++tp->unasked >= BT_MAX_UNASKED) {
				struct bt_blame_sender s = {
					.peer_id = tp->id, .addr = tp->w->addr};
				ban_liar(t, &s, "sent blocks it was not asked for");
			}
			break;
		}
		on_block(tp, &ev->block, ev->mem, ev->data);
		fill(tp);
		break;
	case BT_PEV_EXTENDED:
		bt_extn_on_msg(tp, ev->ext_id, ev->data, ev->len);
		if (t->ext_fn && !tp->w->closed)
			t->ext_fn(t->ext_arg, t, tp->w, ev->ext_id, ev->data,
				  ev->len);
		break;
	case BT_PEV_WRITABLE:
		serve(tp);
		break;
	case BT_PEV_PORT:
		if (tp->w->dht && ev->port) {
			struct bt_addr a = tp->w->addr;
			a.port = ev->port;
			bt_dhtnode_port(t->e->dht, &a); /* BEP 5: ping it */
		}
		break;
	case BT_PEV_SUGGEST:
	case BT_PEV_ALLOWED_FAST:
		break; /* not used (yet) */
	case BT_PEV_CLOSED:
		on_gone(tp, ev);
		break;
	}
}

static const struct bt_peer_owner owner = {
	.now = own_now,
	.event = own_event,
	.block_alloc = own_block_alloc,
	.block_free = own_block_free,
};

/* A peer on C for T (C is taken over). NULL when it could not be made. */
static struct bt_tpeer *peer_add(struct bt_torrent *t, struct bt_conn *c,
				 unsigned src, const uint8_t *first, size_t n)
{
	struct bt_tpeer *tp = calloc(1, sizeof(*tp));
	if (!tp || !(tp->in = calloc(BT_MAX_IN_REQS, sizeof(*tp->in))) ||
	    (data_phase(t) &&
	     bt_rq_peer_init(t->rq, &tp->rq, t->next_peer_id + 1, bt_now_ms()) <
		     0)) {
		if (tp) {
			free(tp->rq.out);
			free(tp->in);
		}
		free(tp);
		bt_conn_close(c);
		return NULL;
	}
	struct bt_peer_opts po = {
		.info_hash = t->info_hash,
		.peer_id = t->e->peer_id,
		.lim = &t->lim,
		.prefix = first,
		.nprefix = n,
	};
	po.reserved[BT_RESERVED_FAST_BYTE] |= BT_RESERVED_FAST_BIT;
	po.reserved[BT_RESERVED_EXT_BYTE] |= BT_RESERVED_EXT_BIT;
	if (bt_dhtnode_running(t->e->dht) && !bt_torrent_private(t))
		po.reserved[BT_RESERVED_DHT_BYTE] |= BT_RESERVED_DHT_BIT;
	tp->t = t;
	tp->id = ++t->next_peer_id;
	tp->src = (uint8_t)src;
	tp->ch.connected_at = bt_now_ms();
	if (t->e->rl && bt_conn_set_ratelimit(c, t->e->rl) < 0) {
		char name[BT_ADDR_STRLEN];
		bt_addr_str(&c->remote, name, sizeof(name));
		pfs_log(PFS_LOG_WARN, "peer", "'%s' is not rate limited", name);
	}
	int err = 0;
	tp->w = bt_peer_new(c, &owner, tp, &po, &err);
	if (!tp->w) {
		free(tp->rq.out);
		free(tp->in);
		free(tp);
		return NULL;
	}
	tp->rq.have = tp->w->have;
	tp->counted = data_phase(t); /* its haves go to the picker as they come */
	tp->next = t->peers;
	t->peers = tp;
	t->npeers++;
	peer_timer_at(t, tp->w->connected_at + BT_PEER_HANDSHAKE_TIMEOUT_MS + 1);
	return tp;
}

/* An incoming peer that has not said anything useful yet (in its grace,
 * see BT_PEER_GRACE_MS). */
static bool idle_inbound(const struct bt_tpeer *tp)
{
	return !tp->w->outgoing && !tp->w->useful;
}

/* Room for one more incoming peer: idle incoming peers are few (their own
 * cap), and when every slot is taken the oldest idle one goes, so silent
 * connections never keep real peers out. */
static void make_inbound_room(struct bt_torrent *t)
{
	uint32_t idle = 0;
	struct bt_tpeer *oldest = NULL;
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next) {
		if (!idle_inbound(tp))
			continue;
		idle++;
		if (!oldest || tp->w->connected_at < oldest->w->connected_at)
			oldest = tp;
	}
	uint32_t cap = (uint32_t)t->max_peers / 5;
	if (cap < BT_MIN_IDLE_INBOUND)
		cap = BT_MIN_IDLE_INBOUND;
	if (oldest && (idle >= cap || (int)t->npeers >= t->max_peers))
		close_peer(oldest, "idle incoming peers over their cap");
}

void bt_torrent_accept(struct bt_torrent *t, struct bt_conn *c,
		       const uint8_t *first, size_t n)
{
	char name[BT_ADDR_STRLEN];
	bt_addr_str(&c->remote, name, sizeof(name));
	if (!t->stopping)
		make_inbound_room(t);
	if (t->stopping || (int)t->npeers >= t->max_peers) {
		pfs_log(PFS_LOG_DEBUG, "torrent",
			"refusing '%s': %u peers", name, t->npeers);
		bt_conn_close(c);
		return;
	}
	if (!bt_addrbook_connected(t->book, &c->remote, BT_SRC_INCOMING,
				   bt_now_ms())) {
		pfs_log(PFS_LOG_DEBUG, "torrent", "refusing '%s': banned", name);
		bt_conn_close(c);
		return;
	}
	const struct bt_abentry *ab = bt_addrbook_find(t->book, &c->remote);
	struct bt_tpeer *tp = peer_add(t, c, ab ? ab->src : BT_SRC_INCOMING,
				       first, n);
	if (!tp) {
		bt_addrbook_closed(t->book, &c->remote, BT_AB_CLOSED, false,
				   false, bt_now_ms());
		return;
	}
	/* the handshake may be whole already */
	if (tp->w->nin >= BT_HANDSHAKE_LEN)
		bt_conn_fire_readable(tp->w->conn);
}

/* ---- connections ---- */

static bool plain_only(const struct bt_torrent *t, const struct bt_addr *a)
{
	for (size_t i = 0; i < t->nplain; i++)
		if (bt_addr_equal(&t->plain_only[i], a))
			return true;
	return false;
}

static void remember_plain(struct bt_torrent *t, const struct bt_addr *a)
{
	if (plain_only(t, a))
		return;
	if (!t->plain_only &&
	    !(t->plain_only = calloc(BT_PLAIN_MAX, sizeof(*t->plain_only))))
		return;
	t->plain_only[t->plain_at] = *a;
	t->plain_at = (t->plain_at + 1) % BT_PLAIN_MAX;
	if (t->nplain < BT_PLAIN_MAX)
		t->nplain++;
}

/* A connection to A as --encryption says: MSE over TCP (prefer, unless A
 * failed MSE before; require), or TCP. NULL with *ERR. */
static struct bt_conn *open_conn(struct bt_torrent *t, const struct bt_addr *a,
				 int *err)
{
	struct bt_conn *c =
		bt_conn_tcp_connect(t->e->base, a, t->e->bind_ip, err);
	int pol = t->e->encryption;
	if (!c || pol == BT_MSE_OFF || (pol == BT_MSE_PREFER && plain_only(t, a)))
		return c;
	struct bt_conn_mse_opts mo = {
		.policy = pol == BT_MSE_REQUIRE ? BT_MSE_REQUIRE : BT_MSE_PREFER,
		.timeout_ms = BT_MSE_OUT_TIMEOUT_MS,
		.skey = t->info_hash,
	};
	return bt_conn_mse_new(t->e->base, c, &mo, NULL, 0, err);
}

/* Connect to A now (the plain retry). False when that failed. */
static bool connect_to(struct bt_torrent *t, const struct bt_addr *a,
		       unsigned src, uint64_t now)
{
	(void)now;
	int err = 0;
	struct bt_conn *c = open_conn(t, a, &err);
	if (!c || !peer_add(t, c, src, NULL, 0))
		return false;
	char name[BT_ADDR_STRLEN];
	bt_addr_str(a, name, sizeof(name));
	pfs_log(PFS_LOG_DEBUG, "peer", "connecting to '%s' (plaintext)", name);
	return true;
}

/* Outgoing connections stop a fifth short of the cap, so peers that find
 * us (the ones that want our pieces) still get in; at most
 * BT_MAX_HALF_OPEN connects are in progress at once. */
static void connect_more(struct bt_torrent *t, uint64_t now)
{
	if (t->stopping || !t->e->base || t->e->stopping)
		return;
	bool seed = seeding(t);
	int limit = t->max_peers - t->max_peers / 5;
	int half_open = 0;
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		half_open += tp->w->outgoing && !tp->w->connected;
	struct bt_addr a;
	while ((int)t->npeers < limit && half_open < BT_MAX_HALF_OPEN &&
	       bt_addrbook_next(t->book, now, seed, &a)) {
		int err = 0;
		struct bt_manual_peer *m = manual_of(t, &a);
		if (m)
			m->last_try = (int64_t)time(NULL);
		struct bt_conn *c = open_conn(t, &a, &err);
		const struct bt_abentry *ab = bt_addrbook_find(t->book, &a);
		if (!c || !peer_add(t, c, ab ? ab->src : 0, NULL, 0)) {
			if (m) {
				m->last_errno = c ? 0 : -err;
				snprintf(m->why, sizeof(m->why), "%s",
					 c || !err ? "connect failed"
						   : strerror(-err));
			}
			bt_addrbook_closed(t->book, &a, BT_AB_CONNECT_FAILED,
					   false, false, now);
			continue;
		}
		half_open++;
		char name[BT_ADDR_STRLEN];
		bt_addr_str(&a, name, sizeof(name));
		pfs_log(PFS_LOG_DEBUG, "peer", "connecting to '%s'", name);
	}
	/* come back when the next address may be tried, if there is room */
	if ((int)t->npeers < limit && half_open < BT_MAX_HALF_OPEN) {
		uint64_t at = bt_addrbook_next_time(t->book, now, seed);
		if (at != UINT64_MAX) {
			t->connect_at = at;
			arm(t->connect_ev, at, now);
		}
	}
}

static void connect_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bt_torrent *t = arg;
	t->connect_at = UINT64_MAX;
	connect_more(t, bt_now_ms());
}

/* Connect as soon as the loop comes round (new addresses, a free slot). */
static void connect_soon(struct bt_torrent *t)
{
	uint64_t now = bt_now_ms();
	if (!t->connect_ev || t->stopping || t->connect_at <= now)
		return;
	t->connect_at = now;
	arm(t->connect_ev, now, now);
}

/* ---- timeouts, keepalives, snubs ---- */

static void peer_timer_at(struct bt_torrent *t, uint64_t at)
{
	if (!t->peer_ev || at >= t->peer_at)
		return;
	t->peer_at = at;
	arm(t->peer_ev, at, bt_now_ms());
}

static void peer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bt_torrent *t = arg;
	uint64_t now = bt_now_ms(), next = UINT64_MAX;
	bool snubbed = false;
	t->peer_at = UINT64_MAX;
	for (struct bt_tpeer *tp = t->peers, *nx; tp; tp = nx) {
		nx = tp->next;
		uint64_t d = bt_peer_tick(tp->w, now);
		if (!d)
			continue; /* closed */
		if (d < next)
			next = d;
		if (!data_phase(t))
			continue;
		size_t nout = tp->rq.nout;
		if (bt_requester_check_snub(t->rq, &tp->rq, now)) {
			give_up_exclusive(tp, UINT32_MAX);
			pfs_log(PFS_LOG_INFO, "peer",
				"'%s' sent nothing for %u s: its %zu requests "
				"go to other peers",
				tp->w->name, BT_RQ_SNUB_MS / 1000, nout);
			snubbed = true;
		}
		d = bt_requester_snub_deadline(t->rq, &tp->rq);
		if (d < next)
			next = d;
		if (tp->rq.snubbed_until > now && tp->rq.snubbed_until < next)
			next = tp->rq.snubbed_until; /* fill it again then */
	}
	if (snubbed)
		rechoke(t);
	if (data_phase(t))
		fill_all(t);
	if (next != UINT64_MAX)
		peer_timer_at(t, next);
}

/* ---- choking ---- */

/* Run the choker over the handshaken peers and apply its decisions; its
 * rotations (10 s, 30 s) come back on the choke timer. */
static void rechoke(struct bt_torrent *t)
{
	if (t->stopping || !t->choker)
		return;
	if (t->cap_choke_list < t->npeers) {
		size_t cap = t->npeers + 16;
		struct bt_choker_peer **l =
			realloc(t->choke_list, cap * sizeof(*l));
		if (!l)
			return;
		t->choke_list = l;
		t->cap_choke_list = cap;
	}
	uint64_t now = bt_now_ms();
	size_t n = 0;
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next) {
		if (!tp->w->handshaken)
			continue;
		tp->ch.down_rate = tp->down_rate;
		tp->ch.up_rate = tp->up_rate;
		tp->ch.interested = tp->w->peer_interested;
		tp->ch.we_interested = tp->w->am_interested;
		tp->ch.snubbed = now < tp->rq.snubbed_until;
		t->choke_list[n++] = &tp->ch;
	}
	uint64_t next = bt_choker_run(t->choker, t->choke_list, n, seeding(t),
				      now);
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		if (tp->w->handshaken && tp->ch.unchoked == tp->w->am_choking)
			set_choke(tp, !tp->ch.unchoked);
	arm(t->choke_ev, next, now);
}

static void choke_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rechoke(arg);
}

/* ---- trackers ----
 * The announce policy is bt_announcer's (BEP 12 tiers, events, intervals,
 * back-off); here each action it hands out becomes an HTTP(S) announce
 * (bt_tracker_io, through the engine's one TLS context) or a UDP one
 * (bt_udptrk_io, on the engine's UDP socket), and each result goes back to
 * it. One struct bt_tcall per request in flight, so that a result finds its
 * torrent and action whatever happened to the arrays meanwhile. */

struct bt_tcall {
	struct bt_torrent *t;
	size_t idx;  /* the announcer's tracker index */
	uint64_t id; /* the announcer's action id */
	bool stop;   /* a `stopped` at shutdown, counted in pending_stops */
	bool udp;
	struct bt_tracker_req *req;
	struct bt_udptrk_ioreq *ureq;
};

static void tcall_cancel(struct bt_tcall *c)
{
	if (!c)
		return;
	if (c->req)
		bt_tracker_cancel(c->req);
	if (c->ureq)
		bt_udptrk_io_cancel(c->ureq);
	c->t->trackers[c->idx].call = NULL;
	if (c->stop)
		bt_engine_stop_done(c->t->e);
	free(c);
}

static void fill_announce(struct bt_torrent *t,
			  const struct bt_announcer_action *act,
			  struct bt_announce *a)
{
	memset(a, 0, sizeof(*a));
	memcpy(a->info_hash, t->info_hash, 20);
	memcpy(a->peer_id, t->e->peer_id, 20);
	a->port = t->e->port;
	a->uploaded = t->uploaded;
	a->downloaded = t->downloaded;
	/* unknown before the metadata: say "a lot", as other clients do */
	a->left = data_phase(t) ? t->mi->total_length -
					  cache_bytes_verified(t->cache)
				: (uint64_t)1 << 40;
	a->event = act->event;
	a->numwant = act->numwant;
	a->key = t->e->key;
	a->tracker_id = act->tracker_id;
	a->local_ip = t->e->bind_ip;
}

static void tracker_cb(int err, const char *why,
		       const struct bt_tracker_reply *r, void *arg)
{
	struct bt_tcall *c = arg;
	struct bt_torrent *t = c->t;
	struct bt_tracker_state *ts = &t->trackers[c->idx];
	uint64_t now = bt_now_ms();
	ts->call = NULL;
	bool stop = c->stop;
	uint64_t id = c->id;
	size_t idx = c->idx;
	free(c);
	bool ok = err == 0 && r && !r->failure;
	ts->last_errno = err < 0 ? -err : 0;
	bt_announcer_result(t->an, id, err, why, r, now);
	if (stop) {
		bt_engine_stop_done(t->e);
		return;
	}
	struct bt_announcer_info in;
	bt_announcer_info(t->an, idx, &in);
	if (!ok) {
		/* once, not at every retry: the state stays in status */
		pfs_log(in.fails == 1 ? PFS_LOG_WARN : PFS_LOG_DEBUG, "tracker",
			"announce to '%s' failed: %s", in.url, in.last_error);
	} else {
		if (ts->failed)
			pfs_log(PFS_LOG_INFO, "tracker", "'%s' answers again",
				in.url);
		pfs_log(PFS_LOG_INFO, "tracker", "'%s' gave %zu peers", in.url,
			r->npeers);
		for (size_t i = 0; i < r->npeers; i++)
			bt_addrbook_add(t->book, &r->peers[i], BT_SRC_TRACKER,
					now);
	}
	ts->failed = !ok;
	tracker_run(t, now);
	if (ok)
		connect_more(t, now);
	publish_sources(t, now); /* status shows the answer at once */
}

/* Start the announce of ACT; false when it could not even start (its
 * result is then given to the announcer at once). */
static bool tracker_send(struct bt_torrent *t,
			 const struct bt_announcer_action *act, bool stop,
			 uint64_t now)
{
	struct bt_tracker_state *ts = &t->trackers[act->tracker];
	struct bt_announce a;
	struct bt_tcall *c = calloc(1, sizeof(*c));
	const char *why = "out of memory";
	int err = -ENOMEM;
	fill_announce(t, act, &a);
	ts->last_wall = (int64_t)time(NULL);
	if (!c)
		goto fail;
	c->t = t;
	c->idx = act->tracker;
	c->id = act->id;
	c->stop = stop;
	if (act->kind == BT_ANNOUNCER_UDP) {
		c->udp = true;
		struct bt_udptrk_io *uio = bt_engine_udptrk(t->e);
		why = "no udp:// client (see the log)";
		err = -ENOTCONN;
		if (uio)
			c->ureq = bt_udptrk_io_announce(
			    uio, act->url, &a, stop ? act->timeout_ms : 0,
			    tracker_cb, c);
		if (!c->ureq && uio) {
			why = "not a usable udp:// URL (want udp://HOST:PORT)";
			err = -EINVAL;
		}
		if (!c->ureq)
			goto fail;
	} else {
		struct bt_tracker_tls *tls = NULL;
		if (act->kind == BT_ANNOUNCER_HTTPS &&
		    !(tls = bt_engine_tls(t->e))) {
			why = "no TLS context (see the log)";
			err = -EPROTO;
			goto fail;
		}
		int secs = (int)((act->timeout_ms + 999) / 1000);
		c->req = bt_tracker_announce_tls(t->e->base, t->e->dns, tls,
						 act->url, &a, secs,
						 tracker_cb, c);
		if (!c->req) {
			why = "this build cannot announce to such a URL";
			err = -EINVAL;
			goto fail;
		}
	}
	ts->call = c;
	static const char *const ev_name[] = {"", " (started)", " (stopped)",
					      " (completed)"};
	pfs_log(PFS_LOG_DEBUG, "tracker", "announcing to '%s'%s", act->url,
		(unsigned)act->event < 4 ? ev_name[act->event] : "");
	return true;
fail:
	free(c);
	ts->last_errno = 0;
	bt_announcer_result(t->an, act->id, err, why, NULL, now);
	return false;
}

/* Hand out what the announcer has due and re-arm its timer. */
static void tracker_run(struct bt_torrent *t, uint64_t now)
{
	if (!t->an || t->stopping || !t->e->base)
		return;
	struct bt_announcer_action act;
	while (bt_announcer_next(t->an, now, &act))
		tracker_send(t, &act, false, now);
	uint64_t next = bt_announcer_deadline(t->an);
	if (next != UINT64_MAX)
		arm(t->tracker_ev, next, now);
}

static void tracker_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tracker_run(arg, bt_now_ms());
}

/* The trackers of T into its announcer: the extra ones (a magnet's tr=)
 * in tier 0, then the metainfo's in their BEP 12 tiers (DATA phase); a
 * URL already there is kept as it is. */
static int set_trackers(struct bt_torrent *t)
{
	if (t->no_trackers)
		return 0;
	size_t nmi = t->mi ? t->mi->ntrackers : 0;
	if (!nmi && !t->nextra)
		return 0;
	if (!t->an) {
		struct bt_announcer_cfg cfg;
		bt_announcer_defaults(&cfg);
		cfg.timeout_ms = TRACKER_TIMEOUT_MS;
		cfg.stop_timeout_ms = TRACKER_STOP_TIMEOUT_MS;
		if (pfs_random(&cfg.seed, sizeof(cfg.seed)) < 0)
			cfg.seed = bt_now_ms();
		if (!(t->an = bt_announcer_new(&cfg)))
			return -ENOMEM;
	}
	size_t want = bt_announcer_count(t->an) + nmi + t->nextra;
	if (want > t->cap_trackers) {
		struct bt_tracker_state *v =
		    realloc(t->trackers, want * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + t->cap_trackers, 0,
		       (want - t->cap_trackers) * sizeof(*v));
		/* the calls in flight point back at their state by index */
		t->trackers = v;
		t->cap_trackers = want;
	}
	for (size_t i = 0; i < t->nextra + nmi; i++) {
		const char *url = i < t->nextra ? t->extra_trackers[i]
						: t->mi->trackers[i - t->nextra];
		unsigned tier = i < t->nextra ? 0
			       : t->mi->tracker_tiers[i - t->nextra];
		int r = bt_announcer_add(t->an, url, tier);
		if (r == -EPROTONOSUPPORT)
			pfs_log(PFS_LOG_INFO, "tracker",
				"'%s': not an http://, https:// or udp:// "
				"tracker, skipped", url);
		else if (r == -ENOMEM)
			return r;
	}
	t->ntrackers = bt_announcer_count(t->an);
	return 0;
}

/* ---- rates and what follows from them ---- */

/* The per-peer snapshot behind bt_torrent_peers(). N is the number of
 * handshaken peers. */
static void publish_peers(struct bt_torrent *t, uint32_t n)
{
	struct bt_peer_info *v = n ? calloc(n, sizeof(*v)) : NULL;
	size_t k = 0;
	if (n && !v)
		return; /* keep the last snapshot */
	for (struct bt_tpeer *tp = t->peers; tp && k < n; tp = tp->next) {
		struct bt_peer *p = tp->w;
		if (!p->handshaken)
			continue;
		struct bt_peer_info *i = &v[k++];
		snprintf(i->addr, sizeof(i->addr), "%s", p->name);
		memcpy(i->peer_id, p->peer_id, sizeof(i->peer_id));
		i->down_rate = tp->down_rate;
		i->up_rate = tp->up_rate;
		i->downloaded = tp->total_down;
		i->uploaded = tp->total_up;
		i->have = p->have_count;
		i->src = tp->src;
		i->incoming = !p->outgoing;
		i->seed = p->seed;
		i->fast = p->fast;
		i->mse = bt_conn_mse_done(p->conn);
		i->encrypted = bt_conn_mse_rc4(p->conn);
		i->am_choking = p->am_choking;
		i->am_interested = p->am_interested;
		i->peer_choking = p->peer_choking;
		i->peer_interested = p->peer_interested;
	}
	pthread_mutex_lock(&t->stats_lock);
	struct bt_peer_info *old = t->peer_snap;
	t->peer_snap = v;
	t->npeer_snap = k;
	pthread_mutex_unlock(&t->stats_lock);
	free(old);
}

/* Wall-clock seconds of the monotonic time AT (ms), seen at NOW. */
static int64_t wall_of(uint64_t at, uint64_t now)
{
	if (at == UINT64_MAX)
		return 0;
	int64_t w = (int64_t)time(NULL);
	return at > now ? w + (int64_t)((at - now + 999) / 1000) : w;
}

static bool addr_handshaken(const struct bt_torrent *t,
			    const struct bt_addr *a)
{
	for (const struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		if (tp->w->handshaken && bt_addr_equal(&tp->w->addr, a))
			return true;
	return false;
}

/* The snapshot behind bt_torrent_sources(): every tracker, then every
 * --peer address, with its state and last error, then the DHT. */
static void publish_sources(struct bt_torrent *t, uint64_t now)
{
	size_t n = t->ntrackers + t->nmanual + 1, k = 0; /* + the DHT */
	struct bt_source_info *v = calloc(n, sizeof(*v));
	if (!v)
		return; /* keep the last one */
	for (size_t i = 0; i < t->ntrackers; i++) {
		const struct bt_tracker_state *ts = &t->trackers[i];
		struct bt_announcer_info in;
		if (bt_announcer_info(t->an, i, &in) < 0)
			continue;
		struct bt_source_info *o = &v[k++];
		o->kind = BT_SOURCE_TRACKER;
		snprintf(o->name, sizeof(o->name), "%s", in.url);
		snprintf(o->error, sizeof(o->error), "%.127s", in.last_error);
		o->err = in.last_error[0] ? ts->last_errno : 0;
		o->state = in.updating ? BT_SOURCE_BUSY
			   : in.last_error[0] ? BT_SOURCE_FAILED
			   : in.working ? BT_SOURCE_OK : BT_SOURCE_IDLE;
		o->last = in.last_announce_ms ? ts->last_wall : 0;
		o->next = in.updating || !in.next_try_ms
				  ? 0
				  : wall_of(in.next_try_ms, now);
		o->peers = (uint32_t)in.last_peers;
		o->fails = in.fails;
	}
	struct bt_source_info dht;
	bool has_dht = bt_dhtnode_source(t->e->dht, t->info_hash, &dht);
	for (size_t i = 0; i < t->nmanual; i++) {
		const struct bt_manual_peer *m = &t->manual[i];
		const struct bt_abentry *ab = bt_addrbook_find(t->book, &m->addr);
		struct bt_source_info *o = &v[k++];
		o->kind = BT_SOURCE_PEER;
		bt_addr_str(&m->addr, o->name, sizeof(o->name));
		bool connected = ab && ab->connected;
		bool up = connected && addr_handshaken(t, &m->addr);
		uint32_t fails = ab ? ab->fails : 0;
		o->state = up ? BT_SOURCE_OK
			   : connected ? BT_SOURCE_BUSY
			   : fails ? BT_SOURCE_FAILED : BT_SOURCE_IDLE;
		if (!up && m->why[0]) {
			snprintf(o->error, sizeof(o->error), "%s", m->why);
			o->err = m->last_errno;
		}
		o->last = m->last_try;
		o->next = connected || !ab ? 0 : wall_of(ab->next_try, now);
		o->fails = fails;
	}
	if (has_dht)
		v[k++] = dht;
	pthread_mutex_lock(&t->stats_lock);
	struct bt_source_info *old = t->source_snap;
	t->source_snap = v;
	t->nsource_snap = k;
	pthread_mutex_unlock(&t->stats_lock);
	free(old);
}

static void publish_stats(struct bt_torrent *t)
{
	uint32_t n = 0, seeds = 0;
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next) {
		if (!tp->w->handshaken)
			continue;
		n++;
		seeds += tp->w->seed;
	}
	pthread_mutex_lock(&t->stats_lock);
	t->stats.downloaded = t->downloaded;
	t->stats.uploaded = t->uploaded;
	t->stats.npeers = n;
	t->stats.nseeds = seeds;
	t->stats.have = data_phase(t) ? bt_picker_have_count(t->picker) : 0;
	t->stats.hash_fails = t->hash_fails;
	bt_extn_progress(t, &t->stats.meta_have, &t->stats.meta_total);
	t->stats.down_rate = t->down_rate;
	t->stats.up_rate = t->up_rate;
	pthread_mutex_unlock(&t->stats_lock);
	publish_peers(t, n);
	publish_sources(t, bt_now_ms());
}

/* While we have every piece, a peer that has them all too is no use either
 * way: close it (its address is not retried while we stay a seed), so the
 * connection slot goes to a peer that wants something. */
static void close_redundant(struct bt_torrent *t)
{
	if (!seeding(t))
		return;
	for (struct bt_tpeer *tp = t->peers, *next; tp; tp = next) {
		next = tp->next;
		if (tp->w->handshaken && tp->w->seed)
			close_peer(tp, "we are both seeds");
	}
}

static void rate_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bt_torrent *t = arg;
	uint64_t now = bt_now_ms();
	t->down_rate = t->down_rate * 0.5 + (double)t->down_sec * 0.5;
	t->up_rate = t->up_rate * 0.5 + (double)t->up_sec * 0.5;
	t->down_sec = t->up_sec = 0;
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next) {
		tp->down_rate = tp->down_rate * 0.5 + (double)tp->recv_bytes * 0.5;
		tp->up_rate = tp->up_rate * 0.5 + (double)tp->sent_bytes * 0.5;
		tp->recv_bytes = tp->sent_bytes = 0;
		bt_peer_trim(tp->w);
	}
	if (data_phase(t)) {
		rank(t);
		if (bt_picker_next_deadline(t->picker) <= now)
			steal_due(t, now);
		if (t->disk_error && bt_hasher_queued_bytes(t->e) == 0)
			t->disk_error = false; /* try again: space may be free */
		close_redundant(t);
		sync_evicted(t);
		fill_all(t);
	}
	publish_stats(t);
	arm(t->rate_ev, now + RATE_MS, now);
}

/* ---- wants from other threads ---- */

enum { WANT_READ, WANT_AHEAD, WANT_DROP };

struct want_msg {
	struct bt_torrent *t;
	int kind;
	uint32_t first, last;
	uint64_t deadline;
	uint32_t step_ms;
};

static void want_cb(struct bt_engine *e, void *arg)
{
	struct want_msg *w = arg;
	struct bt_torrent *t = w->t;
	(void)e;
	if (w->kind != WANT_DROP)
		forget_evicted(t, w->first, w->last);
	uint64_t d = w->deadline;
	for (uint32_t i = w->first; i <= w->last && i < t->mi->npieces; i++) {
		if (w->kind == WANT_READ)
			bt_picker_want(t->picker, i, d);
		else if (w->kind == WANT_AHEAD)
			bt_picker_prefetch(t->picker, i, d);
		else
			bt_picker_unprefetch(t->picker, i);
		d += w->step_ms;
	}
	if (w->kind == WANT_DROP && !bt_picker_want_count(t->picker))
		pfs_log(PFS_LOG_DEBUG, "torrent", "nothing wanted any more");
	int kind = w->kind;
	free(w);
	if (kind == WANT_READ)
		steal_due(t, bt_now_ms());
	if (kind != WANT_DROP)
		fill_all(t);
}

static int post_want(struct bt_torrent *t, int kind, uint32_t first,
		     uint32_t last, uint32_t deadline_ms, uint32_t step_ms)
{
	/* the phase only ever moves to DATA, and mi is set before it does */
	if (!__atomic_load_n(&t->phase, __ATOMIC_ACQUIRE) ||
	    first > last || first >= t->mi->npieces)
		return -EINVAL;
	struct want_msg *w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->t = t;
	w->kind = kind;
	w->first = first;
	w->last = last;
	w->deadline = bt_now_ms() + deadline_ms;
	w->step_ms = step_ms;
	int err = bt_engine_post(t->e, want_cb, w);
	if (err < 0)
		free(w);
	return err;
}

int bt_torrent_want(struct bt_torrent *t, uint32_t first, uint32_t last,
		    uint32_t deadline_ms)
{
	return post_want(t, WANT_READ, first, last, deadline_ms, 0);
}

int bt_torrent_prefetch(struct bt_torrent *t, uint32_t first, uint32_t last,
			uint32_t deadline_ms, uint32_t step_ms)
{
	return post_want(t, WANT_AHEAD, first, last, deadline_ms, step_ms);
}

int bt_torrent_unprefetch(struct bt_torrent *t, uint32_t first, uint32_t last)
{
	return post_want(t, WANT_DROP, first, last, 0, 0);
}

/* ---- lifetime ---- */

struct bt_torrent *bt_torrent_new(struct bt_engine *e,
				  const uint8_t info_hash[20],
				  const struct bt_torrent_opts *o, int *err)
{
	int e_ = -ENOMEM;
	if (bt_engine_find(e, info_hash)) {
		if (err)
			*err = -EEXIST;
		return NULL;
	}
	struct bt_torrent *t = calloc(1, sizeof(*t));
	if (!t)
		goto out;
	t->e = e;
	memcpy(t->info_hash, info_hash, 20);
	pthread_mutex_init(&t->stats_lock, NULL);
	t->phase = BT_PHASE_METADATA;
	t->peer_at = t->connect_at = UINT64_MAX;
	t->max_peers = o->max_peers > 0 ? o->max_peers : BT_DEFAULT_MAX_PEERS;
	t->fetch_all = o->fetch_all;
	t->no_trackers = o->no_trackers;
	char hex[41];
	pfs_hex(info_hash, 20, hex);
	snprintf(t->name, sizeof(t->name), "%s", o->name ? o->name : hex);
	t->named = o->name != NULL;
	/* before the metadata only what needs no piece count is accepted:
	 * bitfields up to BT_WIRE_MAX_EXT_LEN bytes (a million pieces) */
	t->lim.max_msg_len = bt_wire_max_msg_len(0);
	t->lim.metadata_pending = true;
	struct bt_addrbook_opts bo = {0};
	if ((e_ = pfs_random(&bo.key, sizeof(bo.key))) < 0 ||
	    (e_ = pfs_random(&bo.seed, sizeof(bo.seed))) < 0)
		goto out;
	e_ = -ENOMEM;
	if (!(t->book = bt_addrbook_new(&bo)))
		goto out;
	uint64_t seed;
	if ((e_ = pfs_random(&seed, sizeof(seed))) < 0)
		goto out;
	struct bt_choker_opts co = {.seed = seed};
	e_ = -ENOMEM;
	if (!(t->choker = bt_choker_new(&co)))
		goto out;
	for (size_t i = 0; i < o->npeers; i++) {
		struct bt_addr a;
		if (bt_addr_parse(o->peers[i], &a) < 0) {
			/* the caller reports it (fs_cli_session_error) */
			pfs_log(PFS_LOG_DEBUG, "torrent",
				"bad peer address '%s' (want IP:PORT)",
				o->peers[i]);
			e_ = -EINVAL;
			goto out;
		}
		bt_addrbook_add(t->book, &a, BT_SRC_MANUAL, 0);
		if (!t->manual &&
		    !(t->manual = calloc(o->npeers, sizeof(*t->manual)))) {
			e_ = -ENOMEM;
			goto out;
		}
		t->manual[t->nmanual++].addr = a;
	}
	if (o->ntrackers && !o->no_trackers) {
		if (!(t->extra_trackers = calloc(o->ntrackers, sizeof(char *))))
			goto out;
		for (size_t i = 0; i < o->ntrackers; i++)
			if (!(t->extra_trackers[t->nextra++] =
				      strdup(o->trackers[i])))
				goto out;
	}
	if ((e_ = set_trackers(t)) < 0)
		goto out;
	bt_engine_link(e, t);
	if (e->base && (e_ = bt_torrent_start(t)) < 0) {
		bt_torrent_remove(t);
		t = NULL;
		goto fail;
	}
	return t;
out:
	bt_torrent_free(t);
fail:
	if (err)
		*err = e_ < 0 ? e_ : -ENOMEM;
	return NULL;
}

/* A peer that connected before the metadata, now that it is known. */
static void peer_enter_data(struct bt_tpeer *tp)
{
	struct bt_torrent *t = tp->t;
	struct bt_peer *p = tp->w;
	int err = bt_peer_set_npieces(p);
	if (err < 0) {
		close_peer(tp, err == -EPROTO ? "its bitfield does not fit "
						"the metadata"
					      : "out of memory");
		return;
	}
	if (bt_rq_peer_init(t->rq, &tp->rq, tp->id, bt_now_ms()) < 0) {
		close_peer(tp, "out of memory");
		return;
	}
	sync_rq(tp);
	tp->counted = true;
	if (p->have_count)
		bt_picker_avail_add(t->picker, p->have);
	if (!p->handshaken)
		return;
	/* what we have (a cache from an earlier run): haves, since the
	 * first message after the handshake is long gone */
	for (uint32_t i = 0; i < t->mi->npieces; i++)
		if (bt_picker_have(t->picker, i))
			bt_peer_send_have(p, i);
	update_interest(tp);
}

int bt_torrent_set_metadata(struct bt_torrent *t, const struct bt_metainfo *mi,
			    struct cache *cache)
{
	if (data_phase(t) || memcmp(mi->info_hash, t->info_hash, 20))
		return -EINVAL;
	struct bt_picker *pk =
		bt_picker_new(mi->npieces, mi->piece_length, mi->total_length);
	struct bt_requester *rq = pk ? bt_requester_new(pk, NULL) : NULL;
	uint8_t *wf = calloc(bt_bitfield_len(mi->npieces), 1);
	struct bt_blame *bl = bt_blame_new();
	if (!pk || !rq || !wf || !bl) {
		bt_requester_free(rq);
		bt_picker_free(pk);
		free(wf);
		bt_blame_free(bl);
		return -ENOMEM;
	}
	t->blame = bl;
	t->mi = mi;
	t->cache = cache;
	t->picker = pk;
	t->rq = rq;
	t->write_failed = wf;
	bt_picker_set_fetch_all(pk, t->fetch_all);
	for (uint32_t i = 0; i < mi->npieces; i++)
		if (cache_has(cache, i))
			bt_picker_set_have(pk, i);
	t->lim.npieces = mi->npieces;
	t->lim.piece_length = mi->piece_length;
	t->lim.total_length = mi->total_length;
	t->lim.max_msg_len = bt_wire_max_msg_len(mi->npieces);
	t->lim.metadata_pending = false;
	if (!t->named && mi->name)
		snprintf(t->name, sizeof(t->name), "%s", mi->name);
	if (set_trackers(t) < 0)
		pfs_log(PFS_LOG_WARN, "torrent", "'%s': its trackers are not "
			"used (out of memory)", t->name);
	__atomic_store_n(&t->phase, BT_PHASE_DATA, __ATOMIC_RELEASE);
	pfs_log(PFS_LOG_INFO, "torrent", "'%s': %u pieces of %u bytes",
		t->name, mi->npieces, mi->piece_length);
	bt_extn_data_phase(t);
	/* the peers so far: what they said they have is checked now */
	for (struct bt_tpeer *tp = t->peers, *next; tp; tp = next) {
		next = tp->next;
		peer_enter_data(tp);
	}
	if (t->tracker_ev) {
		/* trackers may have come with the metadata */
		if (t->an)
			bt_announcer_start(t->an, seeding(t), bt_now_ms());
		arm(t->tracker_ev, bt_now_ms(), bt_now_ms());
	}
	if (t->rate_ev) /* started: a private one leaves the DHT */
		bt_dhtnode_sync(t->e->dht);
	rank(t);
	fill_all(t);
	return 0;
}

void bt_torrent_on_metadata(struct bt_torrent *t, bt_torrent_open_cache_fn fn,
			    void *arg)
{
	t->open_cache = fn;
	t->open_cache_arg = arg;
}

int bt_torrent_metadata_found(struct bt_torrent *t,
			      const struct bt_metainfo *mi)
{
	struct cache *c = NULL;
	if (!t->open_cache)
		return -ENOSYS;
	int err = t->open_cache(t->open_cache_arg, t, mi, &c);
	if (err < 0)
		return err;
	return bt_torrent_set_metadata(t, mi, c);
}

enum bt_phase bt_torrent_phase(const struct bt_torrent *t)
{
	return t->phase;
}

bool bt_torrent_private(const struct bt_torrent *t)
{
	return t->mi && t->mi->private_flag;
}

const uint8_t *bt_torrent_info_hash(const struct bt_torrent *t)
{
	return t->info_hash;
}

int bt_torrent_start(struct bt_torrent *t)
{
	struct event_base *base = t->e->base;
	if (t->rate_ev)
		return 0;
	t->choke_ev = evtimer_new(base, choke_cb, t);
	t->tracker_ev = evtimer_new(base, tracker_timer_cb, t);
	t->peer_ev = evtimer_new(base, peer_cb, t);
	t->connect_ev = evtimer_new(base, connect_cb, t);
	t->rate_ev = evtimer_new(base, rate_cb, t);
	if (!t->choke_ev || !t->tracker_ev || !t->peer_ev || !t->connect_ev ||
	    !t->rate_ev)
		return -ENOMEM;
	uint64_t now = bt_now_ms();
	/* announce and connect at once */
	if (t->an)
		bt_announcer_start(t->an, seeding(t), now);
	arm(t->tracker_ev, now, now);
	arm(t->rate_ev, now + RATE_MS, now);
	t->connect_at = now;
	arm(t->connect_ev, now, now);
	bt_engine_lsd_announce(t->e, t);
	rechoke(t);
	bt_dhtnode_sync(t->e->dht);
	publish_stats(t);
	return 0;
}

void bt_torrent_shutdown(struct bt_torrent *t)
{
	t->stopping = true;
	while (t->peers)
		close_peer(t->peers, "shutting down");
	/* the totals as they end, not as the last tick saw them: what a
	 * stop line reads after bt_engine_stop() */
	publish_stats(t);
	for (size_t i = 0; i < t->ntrackers; i++)
		tcall_cancel(t->trackers[i].call);
	if (!t->an)
		return;
	uint64_t now = bt_now_ms();
	bt_announcer_stop(t->an, now);
	struct bt_announcer_action act;
	while (bt_announcer_next(t->an, now, &act))
		if (tracker_send(t, &act, true, now))
			t->e->pending_stops++;
}

void bt_torrent_remove(struct bt_torrent *t)
{
	struct bt_engine *e = t->e;
	t->removing = true;
	t->stopping = true;
	while (t->peers)
		close_peer(t->peers, "removed");
	for (size_t i = 0; i < t->ntrackers; i++)
		tcall_cancel(t->trackers[i].call);
	bt_hasher_forget(e, t);
	bt_reader_forget(e, t);
	bt_engine_unlink(e, t);
	bt_dhtnode_sync(e->dht); /* no longer announced */
	bt_torrent_free(t);
}

void bt_torrent_free(struct bt_torrent *t)
{
	if (!t)
		return;
	while (t->peers)
		close_peer(t->peers, "freed");
	for (size_t i = 0; i < t->ntrackers; i++)
		tcall_cancel(t->trackers[i].call);
	free(t->trackers);
	bt_announcer_free(t->an);
	for (size_t i = 0; i < t->nextra; i++)
		free(t->extra_trackers[i]);
	free(t->extra_trackers);
	struct event *evs[] = {t->choke_ev, t->tracker_ev, t->peer_ev,
			       t->connect_ev, t->rate_ev};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	bt_extn_free(t);
	bt_choker_free(t->choker);
	free(t->choke_list);
	free(t->rank_list);
	bt_blame_free(t->blame);
	bt_requester_free(t->rq);
	bt_picker_free(t->picker);
	bt_addrbook_free(t->book);
	free(t->write_failed);
	pthread_mutex_destroy(&t->stats_lock);
	free(t->peer_snap);
	free(t->source_snap);
	free(t->manual);
	free(t->plain_only);
	free(t);
}

/* ---- small accessors ---- */

void bt_torrent_on_piece(struct bt_torrent *t, bt_piece_cb cb, void *arg)
{
	t->piece_cb = cb;
	t->piece_arg = arg;
}

void bt_torrent_set_ext_handler(struct bt_torrent *t, bt_torrent_ext_fn fn,
				void *arg)
{
	t->ext_fn = fn;
	t->ext_arg = arg;
}

int bt_torrent_add_peer(struct bt_torrent *t, const struct bt_addr *a,
			unsigned src)
{
	if (!bt_addr_usable(a))
		return -EINVAL;
	if (!bt_addrbook_add(t->book, a, src, bt_now_ms()))
		return -ENOSPC;
	connect_soon(t);
	return 0;
}

uint32_t bt_torrent_reqq(const struct bt_torrent *t)
{
	(void)t;
	return BT_MAX_IN_REQS;
}

void bt_torrent_stats(struct bt_torrent *t, struct bt_stats *st)
{
	pthread_mutex_lock(&t->stats_lock);
	*st = t->stats;
	pthread_mutex_unlock(&t->stats_lock);
}

size_t bt_torrent_peers(struct bt_torrent *t, struct bt_peer_info *out,
			size_t max)
{
	pthread_mutex_lock(&t->stats_lock);
	size_t n = t->npeer_snap;
	if (max && out && n)
		memcpy(out, t->peer_snap, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&t->stats_lock);
	return n;
}

size_t bt_torrent_sources(struct bt_torrent *t, struct bt_source_info *out,
			  size_t max)
{
	pthread_mutex_lock(&t->stats_lock);
	size_t n = t->nsource_snap;
	if (max && out && n)
		memcpy(out, t->source_snap,
		       (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&t->stats_lock);
	return n;
}
