/* bt_metafetch — the info dict from peers, with liars found by evidence;
 * see bt_metafetch.h. */
#include "bt_metafetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pfs_hash.h"
#include "pfs_log.h"

enum piece_state { P_MISSING = 0, P_ASKED, P_HAVE };

/* Liars remembered (so that they are reported once and not taken back). */
#define MAX_REPORTED 4096

struct mf_piece {
	uint8_t state;
	uint64_t owner; /* P_ASKED: the peer asked; P_HAVE: who sent it */
};

struct mf_req {
	uint32_t piece;
	uint64_t at;
};

struct mf_peer {
	bool used;
	uint64_t id;
	uint32_t size;	/* the metadata_size it announced */
	uint64_t seq;	/* order of arrival: ties go to the oldest */
	uint8_t *asked; /* a bit per piece of SIZE: ever asked of it */
	struct mf_req out[BT_METAFETCH_MAX_INFLIGHT];
	uint32_t nout;
	uint32_t timeouts, rejects;
	uint64_t backoff_until;
	bool dead;	   /* unhelpful: not asked again */
	bool tried_single; /* it had its single-source round (and passed
			    * it, or it would be gone) */
};

/* Peers reported as liars (never twice), or waiting to be. */
struct idlist {
	uint64_t *v;
	const char **why;
	size_t n, cap;
};

struct bt_metafetch {
	uint8_t info_hash[20];
	struct bt_metafetch_cfg cfg;
	struct mf_peer *peers; /* cfg.max_peers slots */
	uint64_t seq;

	uint32_t size; /* target size, 0 = none chosen */
	uint32_t npieces, nhave;
	uint8_t *buf; /* size bytes being assembled */
	struct mf_piece *pieces;

	/* single-source rounds after a failed mixed copy */
	bool single_mode;
	bool single_active;	/* a peer is doing its round */
	uint64_t single;	/* ... this one */
	uint8_t *evidence;	/* the failed mixed copy, or NULL */
	uint64_t *evidence_src; /* who sent each of its pieces */

	bool done, done_reported;
	struct idlist pending, reported;
	uint64_t last_now; /* of the last poll */
};

static const char why_single[] = "its info dict does not match the info-hash";
static const char why_evidence[] =
    "sent metadata pieces that differ from the verified info dict";
static const char why_size[] =
    "announced a metadata_size other than the verified info dict's";

void bt_metafetch_cfg_default(struct bt_metafetch_cfg *cfg)
{
	cfg->max_peers = 64;
	cfg->per_peer_inflight = 4;
	cfg->timeout_ms = 5000;
	cfg->max_timeouts = 3;
	cfg->max_rejects = 4;
	cfg->reject_backoff_ms = 5000;
	cfg->max_size = BT_EXT_MAX_METADATA_SIZE;
}

struct bt_metafetch *bt_metafetch_new(const uint8_t info_hash[20],
				      const struct bt_metafetch_cfg *cfg,
				      int *err)
{
	struct bt_metafetch *mf = calloc(1, sizeof(*mf));
	if (!mf) {
		*err = -ENOMEM;
		return NULL;
	}
	if (cfg)
		mf->cfg = *cfg;
	else
		bt_metafetch_cfg_default(&mf->cfg);
	const struct bt_metafetch_cfg *c = &mf->cfg;
	if (c->max_peers == 0 || c->max_peers > 4096 ||
	    c->per_peer_inflight == 0 ||
	    c->per_peer_inflight > BT_METAFETCH_MAX_INFLIGHT ||
	    c->timeout_ms == 0 || c->max_size == 0 ||
	    c->max_size > BT_EXT_MAX_METADATA_SIZE) {
		free(mf);
		*err = -EINVAL;
		return NULL;
	}
	memcpy(mf->info_hash, info_hash, 20);
	if (!(mf->peers = calloc(c->max_peers, sizeof(*mf->peers)))) {
		free(mf);
		*err = -ENOMEM;
		return NULL;
	}
	return mf;
}

static void drop_target(struct bt_metafetch *mf)
{
	free(mf->buf);
	free(mf->pieces);
	free(mf->evidence);
	free(mf->evidence_src);
	mf->buf = NULL;
	mf->pieces = NULL;
	mf->evidence = NULL;
	mf->evidence_src = NULL;
	mf->size = mf->npieces = mf->nhave = 0;
	mf->single_mode = mf->single_active = false;
}

void bt_metafetch_free(struct bt_metafetch *mf)
{
	if (!mf)
		return;
	for (uint32_t i = 0; i < mf->cfg.max_peers; i++)
		free(mf->peers[i].asked);
	free(mf->peers);
	drop_target(mf);
	free(mf->pending.v);
	free(mf->pending.why);
	free(mf->reported.v);
	free(mf->reported.why);
	free(mf);
}

static struct mf_peer *find(const struct bt_metafetch *mf, uint64_t id)
{
	for (uint32_t i = 0; i < mf->cfg.max_peers; i++)
		if (mf->peers[i].used && mf->peers[i].id == id)
			return &mf->peers[i];
	return NULL;
}

static bool bit(const uint8_t *b, uint32_t i)
{
	return (b[i >> 3] >> (i & 7)) & 1;
}

static bool idlist_has(const struct idlist *l, uint64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == id)
			return true;
	return false;
}

static int idlist_add(struct idlist *l, uint64_t id, const char *why)
{
	if (idlist_has(l, id))
		return 0;
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 8;
		uint64_t *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		const char **nw = realloc(l->why, nc * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		l->why = nw;
		l->cap = nc;
	}
	l->v[l->n] = id;
	l->why[l->n++] = why;
	return 0;
}

/* Release peer P's slot: its outstanding pieces go back to missing. */
static void release_peer(struct bt_metafetch *mf, struct mf_peer *p)
{
	if (mf->pieces && p->size == mf->size) {
		for (uint32_t i = 0; i < p->nout; i++) {
			struct mf_piece *pc = &mf->pieces[p->out[i].piece];
			if (pc->state == P_ASKED && pc->owner == p->id)
				pc->state = P_MISSING;
		}
	}
	if (mf->single_active && mf->single == p->id) {
		/* its round is void: start the next one from scratch */
		mf->single_active = false;
		for (uint32_t i = 0; mf->pieces && i < mf->npieces; i++)
			mf->pieces[i].state = P_MISSING;
		mf->nhave = 0;
	}
	free(p->asked);
	memset(p, 0, sizeof(*p));
}

/* Queue a liar report (once per peer) and forget the peer. The report
 * lists hold peers that contributed pieces or were tracked: at most the
 * pieces of the dict plus the peers ever added. */
static void liar(struct bt_metafetch *mf, uint64_t id, const char *why)
{
	struct mf_peer *p = find(mf, id);
	if (p)
		release_peer(mf, p);
	if (idlist_has(&mf->reported, id))
		return;
	/* out of memory: not reported, but the peer is gone anyway */
	(void)idlist_add(&mf->pending, id, why);
}

/* ---- input --------------------------------------------------------------- */

int bt_metafetch_add_peer(struct bt_metafetch *mf, uint64_t peer,
			  uint32_t metadata_size, uint64_t now)
{
	(void)now;
	if (mf->done)
		return 0;
	if (metadata_size == 0 || metadata_size > mf->cfg.max_size)
		return -EINVAL;
	struct mf_peer *p = find(mf, peer);
	if (p && p->size == metadata_size)
		return 0;
	if (p)
		release_peer(mf, p);
	else if (idlist_has(&mf->reported, peer) ||
		 idlist_has(&mf->pending, peer))
		return -EINVAL; /* a liar stays out */
	for (uint32_t i = 0; !p && i < mf->cfg.max_peers; i++)
		if (!mf->peers[i].used)
			p = &mf->peers[i];
	/* full: a peer that is asked no more and owes nothing makes room */
	for (uint32_t i = 0; !p && i < mf->cfg.max_peers; i++) {
		if (mf->peers[i].dead && !mf->peers[i].nout) {
			release_peer(mf, &mf->peers[i]);
			p = &mf->peers[i];
		}
	}
	if (!p)
		return -ENOSPC;
	uint32_t np = bt_utmeta_npieces(metadata_size);
	uint8_t *asked = calloc((np + 7) / 8, 1);
	if (!asked)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->used = true;
	p->id = peer;
	p->size = metadata_size;
	p->seq = ++mf->seq;
	p->asked = asked;
	return 0;
}

void bt_metafetch_remove_peer(struct bt_metafetch *mf, uint64_t peer)
{
	struct mf_peer *p = find(mf, peer);
	if (p)
		release_peer(mf, p);
}

static int take_out(struct mf_peer *p, uint32_t piece)
{
	for (uint32_t i = 0; i < p->nout; i++) {
		if (p->out[i].piece == piece) {
			p->out[i] = p->out[--p->nout];
			return 1;
		}
	}
	return 0;
}

int bt_metafetch_on_msg(struct bt_metafetch *mf, uint64_t peer,
			const struct bt_utmeta_msg *m, uint64_t now, char *err,
			size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (m->type != BT_UTMETA_DATA && m->type != BT_UTMETA_REJECT)
		return 0;
	struct mf_peer *p = find(mf, peer);
	if (m->type == BT_UTMETA_REJECT) {
		if (!p || !take_out(p, m->piece))
			return 0; /* nothing asked: harmless */
		p->rejects++;
		p->backoff_until = now + mf->cfg.reject_backoff_ms;
		if (p->rejects >= mf->cfg.max_rejects)
			p->dead = true;
		if (mf->pieces && p->size == mf->size) {
			struct mf_piece *pc = &mf->pieces[m->piece];
			if (pc->state == P_ASKED && pc->owner == peer)
				pc->state = P_MISSING;
		}
		return 0;
	}
	if (mf->done && !p)
		return 0; /* answers to requests of before the end */
	if (!p) {
		pfs_errf(err, errlen,
			 "ut_metadata data from a peer that "
			 "offered none");
		return -EPROTO;
	}
	if (m->total_size != p->size) {
		pfs_errf(err, errlen,
			 "ut_metadata total_size %u, but it "
			 "announced %u",
			 m->total_size, p->size);
		release_peer(mf, p);
		return -EPROTO;
	}
	if (m->piece >= bt_utmeta_npieces(p->size) ||
	    !bit(p->asked, m->piece)) {
		pfs_errf(err, errlen,
			 "ut_metadata piece %u that was not "
			 "asked of it",
			 m->piece);
		release_peer(mf, p);
		return -EPROTO;
	}
	take_out(p, m->piece);
	if (mf->done || p->size != mf->size || !mf->pieces)
		return 0;
	if (m->data_len != bt_utmeta_piece_len(mf->size, m->piece)) {
		/* bt_utmeta_parse() checks this; a caller that did not */
		pfs_errf(err, errlen,
			 "ut_metadata piece %u of the wrong "
			 "length",
			 m->piece);
		release_peer(mf, p);
		return -EPROTO;
	}
	struct mf_piece *pc = &mf->pieces[m->piece];
	if (pc->state == P_HAVE)
		return 0; /* a late answer: someone else's came first */
	if (mf->single_mode && (!mf->single_active || mf->single != peer))
		return 0; /* not mixed into a single-source round */
	memcpy(mf->buf + (size_t)m->piece * BT_UTMETA_PIECE_LEN, m->data,
	       m->data_len);
	pc->state = P_HAVE;
	pc->owner = peer;
	mf->nhave++;
	return 0;
}

/* ---- planning --------------------------------------------------------------
 */

static bool usable(const struct bt_metafetch *mf, const struct mf_peer *p)
{
	(void)mf;
	return p->used && !p->dead;
}

/* Choose the size most usable peers announced (ties: the size of the
 * oldest peer). Returns 0, or -ENOMEM. */
static int choose_target(struct bt_metafetch *mf)
{
	uint32_t best = 0, best_n = 0;
	uint64_t best_seq = 0;
	for (uint32_t i = 0; i < mf->cfg.max_peers; i++) {
		const struct mf_peer *a = &mf->peers[i];
		if (!usable(mf, a))
			continue;
		uint32_t n = 0;
		uint64_t oldest = a->seq;
		for (uint32_t j = 0; j < mf->cfg.max_peers; j++) {
			const struct mf_peer *b = &mf->peers[j];
			if (usable(mf, b) && b->size == a->size) {
				n++;
				if (b->seq < oldest)
					oldest = b->seq;
			}
		}
		if (n > best_n || (n == best_n && oldest < best_seq)) {
			best = a->size;
			best_n = n;
			best_seq = oldest;
		}
	}
	if (best == mf->size || !best)
		return 0; /* nobody usable: keep what we have for when peers
			   * come back */
	/* switch only while nothing has arrived for the current size, or
	 * when no usable peer of it is left */
	bool cur_usable = false;
	for (uint32_t i = 0; mf->size && i < mf->cfg.max_peers; i++)
		if (usable(mf, &mf->peers[i]) && mf->peers[i].size == mf->size)
			cur_usable = true;
	if (cur_usable && (mf->nhave || mf->single_mode || mf->evidence))
		return 0;
	drop_target(mf);
	uint32_t np = bt_utmeta_npieces(best);
	mf->buf = malloc(best);
	mf->pieces = calloc(np, sizeof(*mf->pieces));
	if (!mf->buf || !mf->pieces) {
		drop_target(mf);
		return -ENOMEM;
	}
	mf->size = best;
	mf->npieces = np;
	return 0;
}

static void expire(struct bt_metafetch *mf, uint64_t now)
{
	for (uint32_t i = 0; i < mf->cfg.max_peers; i++) {
		struct mf_peer *p = &mf->peers[i];
		if (!p->used)
			continue;
		for (uint32_t k = 0; k < p->nout;) {
			if (now - p->out[k].at < mf->cfg.timeout_ms) {
				k++;
				continue;
			}
			uint32_t piece = p->out[k].piece;
			p->out[k] = p->out[--p->nout];
			struct mf_piece *pc = mf->pieces && p->size == mf->size
						  ? &mf->pieces[piece]
						  : NULL;
			if (pc && pc->state == P_HAVE)
				continue; /* answered by another: no blame */
			if (pc && pc->state == P_ASKED && pc->owner == p->id)
				pc->state = P_MISSING;
			if (++p->timeouts >= mf->cfg.max_timeouts)
				p->dead = true;
		}
		if (p->dead && mf->single_active && mf->single == p->id) {
			/* a silent single-source peer: next one */
			mf->single_active = false;
			p->tried_single = true;
			for (uint32_t j = 0; j < mf->npieces; j++)
				mf->pieces[j].state = P_MISSING;
			mf->nhave = 0;
		}
	}
}

/* The whole dict is here: check it, and act on the verdict. Returns 0 or
 * -ENOMEM. */
static int verify(struct bt_metafetch *mf)
{
	uint8_t h[20];
	if (pfs_sha1(mf->buf, mf->size, h) < 0)
		return -ENOMEM;
	bool ok = memcmp(h, mf->info_hash, 20) == 0;
	uint64_t first = mf->pieces[0].owner;
	bool one_source = true;
	for (uint32_t i = 1; i < mf->npieces; i++)
		if (mf->pieces[i].owner != first)
			one_source = false;

	if (ok) {
		mf->done = true;
		if (mf->evidence) {
			for (uint32_t i = 0; i < mf->npieces; i++) {
				size_t off = (size_t)i * BT_UTMETA_PIECE_LEN;
				if (memcmp(mf->evidence + off, mf->buf + off,
					   bt_utmeta_piece_len(mf->size, i)))
					liar(mf, mf->evidence_src[i],
					     why_evidence);
			}
		}
		for (uint32_t i = 0; i < mf->cfg.max_peers; i++) {
			struct mf_peer *p = &mf->peers[i];
			if (p->used && p->size != mf->size)
				liar(mf, p->id, why_size);
		}
		free(mf->evidence);
		free(mf->evidence_src);
		mf->evidence = NULL;
		mf->evidence_src = NULL;
		return 0;
	}
	if (one_source) {
		/* a complete copy from one peer that fails: it lied (in a
		 * single-source round, or by chance in a mixed one) */
		if (mf->single_active)
			mf->single_active = false;
		liar(mf, first, why_single);
	} else if (!mf->evidence) {
		mf->evidence = malloc(mf->size);
		mf->evidence_src = malloc(mf->npieces * sizeof(uint64_t));
		if (!mf->evidence || !mf->evidence_src) {
			free(mf->evidence);
			free(mf->evidence_src);
			mf->evidence = NULL;
			mf->evidence_src = NULL;
			/* without room for evidence, still go single-source:
			 * a failing single copy proves its sender */
		} else {
			memcpy(mf->evidence, mf->buf, mf->size);
			for (uint32_t i = 0; i < mf->npieces; i++)
				mf->evidence_src[i] = mf->pieces[i].owner;
		}
		mf->single_mode = true;
	} else {
		mf->single_mode = true;
	}
	for (uint32_t i = 0; i < mf->npieces; i++)
		mf->pieces[i].state = P_MISSING;
	mf->nhave = 0;
	/* if the liar was the last peer of this size, another size gets its
	 * chance: drop the target when nobody of this size is left */
	bool any = false;
	for (uint32_t i = 0; i < mf->cfg.max_peers; i++)
		if (mf->peers[i].used && mf->peers[i].size == mf->size)
			any = true;
	if (!any)
		drop_target(mf);
	return 0;
}

/* The peer that should get a request now, or NULL. */
static struct mf_peer *pick(struct bt_metafetch *mf, uint64_t now)
{
	struct mf_peer *best = NULL;
	for (uint32_t i = 0; i < mf->cfg.max_peers; i++) {
		struct mf_peer *p = &mf->peers[i];
		if (!usable(mf, p) || p->size != mf->size ||
		    p->nout >= mf->cfg.per_peer_inflight ||
		    p->backoff_until > now)
			continue;
		if (mf->single_mode && p->id != mf->single)
			continue;
		/* peers that failed us least, then the least loaded */
		uint32_t pen = p->timeouts + p->rejects;
		uint32_t bpen = best ? best->timeouts + best->rejects : 0;
		if (!best || pen < bpen ||
		    (pen == bpen && p->nout < best->nout) ||
		    (pen == bpen && p->nout == best->nout &&
		     p->seq < best->seq))
			best = p;
	}
	return best;
}

static void start_single_round(struct bt_metafetch *mf)
{
	if (mf->single_active)
		return;
	struct mf_peer *best = NULL;
	for (uint32_t i = 0; i < mf->cfg.max_peers; i++) {
		struct mf_peer *p = &mf->peers[i];
		if (!usable(mf, p) || p->size != mf->size || p->tried_single)
			continue;
		if (!best || p->seq < best->seq)
			best = p;
	}
	if (!best)
		return; /* wait for a new peer of this size */
	best->tried_single = true;
	mf->single_active = true;
	mf->single = best->id;
	for (uint32_t i = 0; i < mf->npieces; i++)
		mf->pieces[i].state = P_MISSING;
	mf->nhave = 0;
}

size_t bt_metafetch_poll(struct bt_metafetch *mf, uint64_t now,
			 struct bt_metafetch_action *out, size_t cap)
{
	size_t n = 0;

	mf->last_now = now;
	if (!mf->done) {
		expire(mf, now);
		if (mf->size && mf->nhave == mf->npieces && verify(mf) < 0)
			return 0; /* no memory to hash: try at the next poll */
	}
	/* reports first: they are owed */
	size_t k = 0;
	while (n < cap && k < mf->pending.n) {
		uint64_t id = mf->pending.v[k];
		const char *why = mf->pending.why[k++];
		/* the memory of reported liars is bounded: the oldest go */
		if (mf->reported.n >= MAX_REPORTED) {
			memmove(mf->reported.v, mf->reported.v + 1,
				(mf->reported.n - 1) * sizeof(uint64_t));
			memmove(mf->reported.why, mf->reported.why + 1,
				(mf->reported.n - 1) * sizeof(const char *));
			mf->reported.n--;
		}
		(void)idlist_add(&mf->reported, id, why);
		out[n++] = (struct bt_metafetch_action){
		    .kind = BT_METAFETCH_LIAR, .peer = id, .why = why};
	}
	if (k) {
		memmove(mf->pending.v, mf->pending.v + k,
			(mf->pending.n - k) * sizeof(uint64_t));
		memmove(mf->pending.why, mf->pending.why + k,
			(mf->pending.n - k) * sizeof(const char *));
		mf->pending.n -= k;
	}
	if (n == cap)
		return n;
	if (mf->done) {
		if (!mf->done_reported) {
			mf->done_reported = true;
			out[n++] = (struct bt_metafetch_action){
			    .kind = BT_METAFETCH_DONE};
		}
		return n;
	}
	if (choose_target(mf) < 0 || !mf->size)
		return n;
	if (mf->single_mode)
		start_single_round(mf);
	for (uint32_t i = 0; i < mf->npieces && n < cap; i++) {
		struct mf_piece *pc = &mf->pieces[i];
		if (pc->state != P_MISSING)
			continue;
		struct mf_peer *p = pick(mf, now);
		if (!p)
			break;
		p->asked[i >> 3] |= (uint8_t)(1u << (i & 7));
		p->out[p->nout++] = (struct mf_req){.piece = i, .at = now};
		pc->state = P_ASKED;
		pc->owner = p->id;
		out[n++] = (struct bt_metafetch_action){
		    .kind = BT_METAFETCH_REQUEST, .peer = p->id, .piece = i};
	}
	return n;
}

uint64_t bt_metafetch_deadline(const struct bt_metafetch *mf)
{
	if (mf->pending.n || (mf->done && !mf->done_reported))
		return mf->last_now;
	if (mf->done)
		return UINT64_MAX;
	uint64_t d = UINT64_MAX;
	for (uint32_t i = 0; i < mf->cfg.max_peers; i++) {
		const struct mf_peer *p = &mf->peers[i];
		if (!p->used)
			continue;
		for (uint32_t k = 0; k < p->nout; k++)
			if (p->out[k].at + mf->cfg.timeout_ms < d)
				d = p->out[k].at + mf->cfg.timeout_ms;
		if (!p->dead && p->backoff_until > mf->last_now &&
		    p->backoff_until < d)
			d = p->backoff_until;
	}
	return d;
}

void bt_metafetch_progress(const struct bt_metafetch *mf, uint32_t *have,
			   uint32_t *total)
{
	*have = mf->done ? mf->npieces : mf->nhave;
	*total = mf->npieces;
}

bool bt_metafetch_done(const struct bt_metafetch *mf)
{
	return mf->done;
}

const uint8_t *bt_metafetch_info(const struct bt_metafetch *mf, size_t *len)
{
	if (!mf->done) {
		*len = 0;
		return NULL;
	}
	*len = mf->size;
	return mf->buf;
}
