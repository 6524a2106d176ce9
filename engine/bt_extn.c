/* bt_extn — a torrent's BEP 10 extensions on its peers (glue, engine
 * thread): our extension handshake to every peer that sets the bit, theirs
 * kept per peer (their reqq caps our pipeline to them, their ids are what
 * we send under); ut_metadata (BEP 9) served from the info dict in the DATA
 * phase (bt_metaserve, rate-limited and bounded by the peer's send queue)
 * and fetched in the METADATA phase from every peer that offers it
 * (bt_metafetch: proven liars are banned, the dict is SHA-1 checked), then
 * handed to bt_torrent_metadata_found(); ut_pex (BEP 11) both ways through
 * bt_pexstate, never for a private torrent (BEP 27).
 *
 * Work that can close peers or change the phase (a liar found, the dict
 * complete) runs from this module's own timer, never nested inside a
 * peer's callback. */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "bt_engine_i.h"
#include "bt_ext.h"
#include "bt_metafetch.h"
#include "bt_metaserve.h"
#include "bt_pex.h"
#include "bt_pexstate.h"
#include "bt_utmeta.h"
#include "pfs_log.h"

/* A peer's send queue above this gets rejects for metadata requests, so a
 * peer that asks and never reads holds at most this much of ours. */
#define EXTN_MAX_QUEUED (1u << 20)
/* The PEX list we build from: at most this many live peers. */
#define EXTN_PEX_LIVE 200

struct bt_extn_peer {
	bool sent_hs;		 /* ours went out */
	bool got_hs;		 /* theirs came */
	struct bt_ext_hs hs;	 /* theirs, merged */
	struct bt_metaserve serve;
	struct bt_pexstate pex;
	bool pex_ok;		 /* pex initialised */
	bool in_fetch;		 /* offered to the metafetch */
};

struct bt_extn {
	struct bt_metafetch *mf;
	struct event *ev;
	uint64_t at; /* when ev fires, UINT64_MAX = not armed */
	bool found;  /* the dict was handed on (or failed to be) */
	struct bt_addr yourip; /* our address as the last peer saw it */
	uint32_t meta_have, meta_total; /* progress, engine thread */
};

static bool pex_allowed(const struct bt_torrent *t)
{
	return !bt_torrent_private(t); /* BEP 27 */
}

static struct bt_extn *extn_of(struct bt_torrent *t)
{
	if (!t->x)
		t->x = calloc(1, sizeof(*t->x));
	if (t->x && !t->x->at)
		t->x->at = UINT64_MAX;
	return t->x;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

static void arm_at(struct bt_torrent *t, uint64_t at)
{
	struct bt_extn *x = extn_of(t);
	if (!x || !t->e->base || t->stopping)
		return;
	if (!x->ev && !(x->ev = evtimer_new(t->e->base, timer_cb, t)))
		return;
	if (at >= x->at)
		return;
	uint64_t now = bt_now_ms();
	uint64_t d = at > now ? at - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(d / 1000),
			     .tv_usec = (suseconds_t)(d % 1000) * 1000};
	x->at = at;
	evtimer_add(x->ev, &tv);
}

static struct bt_tpeer *peer_by_id(struct bt_torrent *t, uint64_t id)
{
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next)
		if (tp->id == id && !tp->w->closed)
			return tp;
	return NULL;
}

static uint32_t our_metadata_size(const struct bt_torrent *t)
{
	if (t->phase != BT_PHASE_DATA || !t->mi || !t->mi->info_raw ||
	    t->mi->info_len > BT_EXT_MAX_METADATA_SIZE)
		return 0;
	return (uint32_t)t->mi->info_len;
}

static bool upload_only(const struct bt_torrent *t)
{
	return t->phase == BT_PHASE_DATA && t->picker &&
	       bt_picker_have_count(t->picker) == t->mi->npieces;
}

static void send_hs(struct bt_tpeer *tp)
{
	struct bt_torrent *t = tp->t;
	struct bt_ext_hs hs;
	struct bt_benc b;
	bt_ext_hs_ours(&hs, pex_allowed(t), bt_engine_port(t->e),
		       our_metadata_size(t), bt_torrent_reqq(t), &tp->w->addr,
		       upload_only(t));
	if (!pex_allowed(t) && tp->x->sent_hs)
		hs.ids[BT_EXT_UT_PEX] = 0; /* switched off: say so */
	bt_benc_init(&b);
	if (bt_ext_hs_build(&hs, &b) == 0)
		bt_peer_send_extended(tp->w, BT_EXT_ID_HANDSHAKE, b.buf, b.len);
	else
		pfs_log(PFS_LOG_WARN, "peer", "'%s': no extension handshake "
			"(out of memory)", tp->w->name);
	bt_benc_release(&b);
	tp->x->sent_hs = true;
}

void bt_extn_greet(struct bt_tpeer *tp)
{
	if (!tp->w->ext || tp->w->closed)
		return;
	if (!tp->x) {
		if (!(tp->x = calloc(1, sizeof(*tp->x)))) {
			bt_peer_close(tp->w, "out of memory");
			return;
		}
		uint64_t now = bt_now_ms();
		bt_metaserve_init(&tp->x->serve, now);
		tp->x->pex_ok = bt_pexstate_init(&tp->x->pex, now) == 0;
	}
	send_hs(tp);
}

/* ---- the metadata fetch ---- */

static void fetch_offer(struct bt_tpeer *tp)
{
	struct bt_torrent *t = tp->t;
	struct bt_extn_peer *xp = tp->x;
	if (t->phase != BT_PHASE_METADATA)
		return;
	struct bt_extn *x = extn_of(t);
	if (!x || x->found)
		return;
	if (xp->hs.ids[BT_EXT_UT_METADATA] <= 0 || xp->hs.metadata_size <= 0) {
		if (xp->in_fetch && x->mf)
			bt_metafetch_remove_peer(x->mf, tp->id);
		xp->in_fetch = false;
		return;
	}
	if (!x->mf) {
		int err = 0;
		if (!(x->mf = bt_metafetch_new(t->info_hash, NULL, &err))) {
			pfs_log(PFS_LOG_WARN, "torrent", "'%s': cannot fetch "
				"the metadata: %s", t->name, strerror(-err));
			return;
		}
	}
	int rc = bt_metafetch_add_peer(x->mf, tp->id,
				       (uint32_t)xp->hs.metadata_size,
				       bt_now_ms());
	if (rc == 0) {
		xp->in_fetch = true;
		arm_at(t, bt_now_ms());
	} else {
		pfs_log(PFS_LOG_DEBUG, "peer", "'%s' not asked for the "
			"metadata: %s", tp->w->name, strerror(-rc));
	}
}

/* Carry out what the fetcher says. Closing peers here is safe: it runs
 * from the timer (or for peers other than the one whose callback runs,
 * which bt_peer defers anyway). */
static void fetch_run(struct bt_torrent *t, uint64_t now)
{
	struct bt_extn *x = t->x;
	if (!x || !x->mf)
		return;
	struct bt_metafetch_action a[32];
	size_t n;
	do {
		n = bt_metafetch_poll(x->mf, now, a, 32);
		for (size_t i = 0; i < n; i++) {
			struct bt_tpeer *tp = peer_by_id(t, a[i].peer);
			if (a[i].kind == BT_METAFETCH_DONE) {
				arm_at(t, now); /* handed on from the timer */
				continue;
			}
			if (!tp)
				continue;
			if (a[i].kind == BT_METAFETCH_REQUEST) {
				uint8_t b[BT_UTMETA_MAX_HEADER];
				struct bt_utmeta_msg r = {
					.type = BT_UTMETA_REQUEST,
					.piece = a[i].piece};
				size_t bl = bt_utmeta_build(b, sizeof(b), &r);
				if (bl && tp->x &&
				    tp->x->hs.ids[BT_EXT_UT_METADATA] > 0)
					bt_peer_send_extended(
					    tp->w,
					    (uint8_t)tp->x->hs
						.ids[BT_EXT_UT_METADATA],
					    b, bl);
			} else { /* LIAR */
				pfs_log(PFS_LOG_WARN, "torrent",
					"banning '%s': %s", tp->w->name,
					a[i].why ? a[i].why
						 : "false metadata");
				bt_addrbook_ban(t->book, &tp->w->addr);
				bt_peer_close(tp->w, "sent false metadata");
			}
		}
	} while (n == 32);
	bt_metafetch_progress(x->mf, &x->meta_have, &x->meta_total);
	uint64_t d = bt_metafetch_deadline(x->mf);
	if (d != UINT64_MAX)
		arm_at(t, d);
}

/* The dict is whole and verified: into the DATA phase. */
static void fetch_found(struct bt_torrent *t)
{
	struct bt_extn *x = t->x;
	size_t len = 0;
	const uint8_t *info = bt_metafetch_info(x->mf, &len);
	struct bt_metainfo *mi = NULL;
	char err[256] = "";
	x->found = true;
	int rc = bt_metainfo_from_info(info, len, t->info_hash, &mi, err,
				       sizeof(err));
	if (rc < 0) {
		pfs_log(PFS_LOG_ERROR, "torrent", "'%s': the metadata fetched "
			"is no valid torrent: %s", t->name,
			err[0] ? err : strerror(-rc));
		return;
	}
	pfs_log(PFS_LOG_INFO, "torrent", "'%s': metadata of %zu bytes "
		"fetched and verified", t->name, len);
	/* the owner takes MI whatever comes of it */
	rc = bt_torrent_metadata_found(t, mi);
	if (rc == -ENOSYS)
		bt_metainfo_free(mi);
	if (rc < 0 && rc != -ECANCELED)
		pfs_log(PFS_LOG_ERROR, "torrent", "'%s': cannot use the metadata:"
			" %s", t->name, strerror(-rc));
}

/* ---- PEX ---- */

/* The address to tell others for TP: one we connected to, or its own
 * listening port; false when there is none. */
static bool pex_addr(const struct bt_tpeer *tp, struct bt_addr *a)
{
	if (!tp->w->handshaken || tp->w->closed)
		return false;
	*a = tp->w->addr;
	if (!tp->w->outgoing) {
		if (!tp->x || !tp->x->got_hs || tp->x->hs.port <= 0)
			return false;
		a->port = (uint16_t)tp->x->hs.port;
	}
	return bt_addr_usable(a);
}

static void pex_send(struct bt_torrent *t, uint64_t now, uint64_t *next)
{
	struct bt_pex_peer live[EXTN_PEX_LIVE];
	size_t nlive = 0;
	bool built = false;
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next) {
		struct bt_extn_peer *xp = tp->x;
		if (!xp || !xp->pex_ok || !xp->got_hs ||
		    xp->hs.ids[BT_EXT_UT_PEX] <= 0 || tp->w->closed)
			continue;
		uint64_t d = bt_pexstate_deadline(&xp->pex);
		if (d > now) {
			if (d < *next)
				*next = d;
			continue;
		}
		if (!built) {
			for (struct bt_tpeer *q = t->peers;
			     q && nlive < EXTN_PEX_LIVE; q = q->next) {
				struct bt_pex_peer pp = {0};
				if (!pex_addr(q, &pp.addr))
					continue;
				if (q->w->seed)
					pp.flags |= BT_PEX_F_SEED;
				if (q->w->outgoing)
					pp.flags |= BT_PEX_F_REACHABLE;
				live[nlive++] = pp;
			}
			built = true;
		}
		struct bt_benc b;
		bt_benc_init(&b);
		struct bt_addr self;
		bool has_self = pex_addr(tp, &self);
		int rc = bt_pexstate_build(&xp->pex, live, nlive,
					   has_self ? &self : &tp->w->addr, now,
					   &b);
		if (rc == 1)
			bt_peer_send_extended(tp->w,
					      (uint8_t)xp->hs.ids[BT_EXT_UT_PEX],
					      b.buf, b.len);
		bt_benc_release(&b);
		d = bt_pexstate_deadline(&xp->pex);
		if (d < *next)
			*next = d;
	}
}

/* A is our own listening address (PEX lists us back to ourselves): our
 * port on the address we are bound to, on the address peers see us at, or
 * (bound to every address) on loopback. */
static bool is_self(struct bt_torrent *t, const struct bt_addr *a)
{
	if (a->port != bt_engine_port(t->e))
		return false;
	struct bt_addr y = t->x->yourip;
	y.port = a->port;
	if (y.family && bt_addr_equal(&y, a))
		return true;
	const char *b = t->e->bind_ip;
	if (!b)
		return bt_addr_is_loopback(a);
	char s[BT_ADDR_STRLEN + 4];
	struct bt_addr ba;
	snprintf(s, sizeof(s), strchr(b, ':') ? "[%s]:%u" : "%s:%u", b,
		 a->port);
	return bt_addr_parse(s, &ba) == 0 && bt_addr_equal(&ba, a);
}

static void on_pex(struct bt_tpeer *tp, const uint8_t *p, size_t len)
{
	struct bt_torrent *t = tp->t;
	struct bt_extn_peer *xp = tp->x;
	if (!pex_allowed(t) || !xp->pex_ok)
		return; /* BEP 27: nothing from PEX for a private torrent */
	struct bt_pex_msg *m = malloc(sizeof(*m));
	char err[128] = "";
	if (!m)
		return;
	int rc = bt_pexstate_on_msg(&xp->pex, p, len, bt_now_ms(), m, err,
				    sizeof(err));
	if (rc == 0) {
		size_t took = 0;
		for (size_t i = 0; i < m->nadded; i++)
			if (!is_self(t, &m->added[i].addr) &&
			    bt_torrent_add_peer(t, &m->added[i].addr,
						BT_SRC_PEX) == 0)
				took++;
		pfs_log(PFS_LOG_DEBUG, "peer", "'%s': pex gave %zu peers",
			tp->w->name, took);
	}
	free(m);
	if (rc == -EPROTO || bt_pexstate_misbehaving(&xp->pex))
		bt_peer_close(tp->w, rc == -EPROTO ? "malformed ut_pex"
						   : "ut_pex flood");
}

/* ---- messages ---- */

static void on_hs(struct bt_tpeer *tp, const uint8_t *p, size_t len)
{
	struct bt_extn_peer *xp = tp->x;
	struct bt_ext_hs hs;
	char err[128] = "";
	if (bt_ext_hs_parse(p, len, &hs, err, sizeof(err)) < 0) {
		bt_peer_close(tp->w, "bad extension handshake");
		return;
	}
	if (!xp->got_hs)
		xp->hs = hs;
	else
		bt_ext_hs_merge(&xp->hs, &hs);
	xp->got_hs = true;
	if (hs.yourip.family && tp->t->x)
		tp->t->x->yourip = hs.yourip;
	if (xp->hs.reqq > 0)
		tp->rq.limit = (uint32_t)xp->hs.reqq;
	pfs_log(PFS_LOG_DEBUG, "peer", "'%s' extensions: v='%s' ut_metadata=%d "
		"ut_pex=%d metadata_size=%lld reqq=%d", tp->w->name,
		xp->hs.client, xp->hs.ids[BT_EXT_UT_METADATA],
		xp->hs.ids[BT_EXT_UT_PEX], (long long)xp->hs.metadata_size,
		xp->hs.reqq);
	if (tp->t->phase == BT_PHASE_METADATA && hs.metadata_size_refused &&
	    hs.ids[BT_EXT_UT_METADATA] != 0) {
		bt_peer_close(tp->w, "announced an impossible metadata size");
		return;
	}
	fetch_offer(tp);
	arm_at(tp->t, bt_now_ms()); /* PEX may be due */
}

static void on_utmeta(struct bt_tpeer *tp, const uint8_t *p, size_t len)
{
	struct bt_torrent *t = tp->t;
	struct bt_extn_peer *xp = tp->x;
	struct bt_utmeta_msg m;
	char err[128] = "";
	uint64_t now = bt_now_ms();
	if (bt_utmeta_parse(p, len, &m, err, sizeof(err)) < 0) {
		bt_peer_close(tp->w, "bad ut_metadata message");
		return;
	}
	if (m.type == BT_UTMETA_REQUEST) {
		if (!xp->got_hs || xp->hs.ids[BT_EXT_UT_METADATA] <= 0)
			return; /* no id to answer under */
		uint8_t *out = malloc(BT_METASERVE_OUT_MAX);
		if (!out)
			return;
		const uint8_t *info = NULL;
		size_t ilen = our_metadata_size(t);
		if (ilen)
			info = t->mi->info_raw;
		if (bt_peer_queued(tp->w) > EXTN_MAX_QUEUED)
			info = NULL, ilen = 0; /* answered with a reject */
		ssize_t k = bt_metaserve_answer(&xp->serve, info, ilen, &m,
						now, out, BT_METASERVE_OUT_MAX);
		if (k > 0)
			bt_peer_send_extended(
			    tp->w, (uint8_t)xp->hs.ids[BT_EXT_UT_METADATA],
			    out, (size_t)k);
		free(out);
		if (k == -EPROTO)
			bt_peer_close(tp->w, "floods ut_metadata requests");
		return;
	}
	struct bt_extn *x = t->x;
	if (t->phase != BT_PHASE_METADATA || !x || !x->mf || x->found)
		return; /* late answers after the dict came */
	if (bt_metafetch_on_msg(x->mf, tp->id, &m, now, err, sizeof(err)) <
	    0) {
		pfs_log(PFS_LOG_INFO, "peer", "'%s': %s", tp->w->name, err);
		xp->in_fetch = false;
		bt_peer_close(tp->w, "ut_metadata protocol error");
		return;
	}
	fetch_run(t, now);
}

void bt_extn_on_msg(struct bt_tpeer *tp, uint8_t id, const uint8_t *p,
		    size_t len)
{
	if (!tp->x || tp->w->closed)
		return; /* no handshake of ours went: nothing is ours */
	if (id == BT_EXT_ID_HANDSHAKE)
		on_hs(tp, p, len);
	else if (id == BT_EXT_OUR_UT_METADATA)
		on_utmeta(tp, p, len);
	else if (id == BT_EXT_OUR_UT_PEX)
		on_pex(tp, p, len);
}

/* ---- lifetime ---- */

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bt_torrent *t = arg;
	struct bt_extn *x = t->x;
	uint64_t now = bt_now_ms(), next = UINT64_MAX;
	x->at = UINT64_MAX;
	if (t->stopping)
		return;
	if (t->phase == BT_PHASE_METADATA && x->mf && !x->found) {
		fetch_run(t, now);
		if (bt_metafetch_done(x->mf))
			fetch_found(t);
	}
	if (pex_allowed(t))
		pex_send(t, now, &next);
	if (next != UINT64_MAX)
		arm_at(t, next);
}

void bt_extn_peer_gone(struct bt_tpeer *tp)
{
	struct bt_extn_peer *xp = tp->x;
	if (!xp)
		return;
	struct bt_extn *x = tp->t->x;
	if (xp->in_fetch && x && x->mf && !x->found) {
		bt_metafetch_remove_peer(x->mf, tp->id);
		arm_at(tp->t, bt_now_ms()); /* its pieces go to others */
	}
	if (xp->pex_ok)
		bt_pexstate_release(&xp->pex);
	free(xp);
	tp->x = NULL;
}

void bt_extn_data_phase(struct bt_torrent *t)
{
	struct bt_extn *x = t->x;
	if (x && x->mf) {
		bt_metafetch_progress(x->mf, &x->meta_have, &x->meta_total);
		x->meta_have = x->meta_total;
	}
	if (x) {
		bt_metafetch_free(x->mf);
		x->mf = NULL;
		x->found = true;
	}
	/* tell the peers the size we now serve (and, for a private torrent,
	 * that PEX is off) */
	for (struct bt_tpeer *tp = t->peers; tp; tp = tp->next) {
		if (!tp->x || tp->w->closed)
			continue;
		tp->x->in_fetch = false;
		if (tp->x->sent_hs)
			send_hs(tp);
	}
}

void bt_extn_progress(struct bt_torrent *t, uint32_t *have, uint32_t *total)
{
	*have = t->x ? t->x->meta_have : 0;
	*total = t->x ? t->x->meta_total : 0;
}

void bt_extn_free(struct bt_torrent *t)
{
	struct bt_extn *x = t->x;
	if (!x)
		return;
	if (x->ev)
		event_free(x->ev);
	bt_metafetch_free(x->mf);
	free(x);
	t->x = NULL;
}
