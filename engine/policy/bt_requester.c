/* bt_requester — per-peer request pipelines over the picker; see
 * bt_requester.h. */
#include "bt_requester.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bt_wire.h"

struct bt_requester {
	struct bt_picker *pk;
	uint32_t max_out, pipeline_ms, pipeline_min, slow_ratio, preempt_max,
		snub_ms;
	/* from the last rank: the usable (ready, unchoked, not slow) peers */
	double rate_sum;
	uint32_t nusable;
};

struct bt_requester *bt_requester_new(struct bt_picker *pk,
				      const struct bt_requester_opts *o)
{
	struct bt_requester *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return NULL;
	rq->pk = pk;
	rq->max_out = o && o->max_out && o->max_out < BT_RQ_MAX_OUT
			      ? o->max_out
			      : BT_RQ_MAX_OUT;
	rq->pipeline_ms = o && o->pipeline_ms ? o->pipeline_ms
					      : BT_RQ_PIPELINE_MS;
	rq->pipeline_min = o && o->pipeline_min ? o->pipeline_min
						: BT_RQ_PIPELINE_MIN;
	rq->slow_ratio = o && o->slow_ratio ? o->slow_ratio : BT_RQ_SLOW_RATIO;
	rq->preempt_max = o && o->preempt_max && o->preempt_max < BT_RQ_PREEMPT_MAX
				  ? o->preempt_max
				  : BT_RQ_PREEMPT_MAX;
	rq->snub_ms = o && o->snub_ms ? o->snub_ms : BT_RQ_SNUB_MS;
	return rq;
}

void bt_requester_free(struct bt_requester *rq)
{
	free(rq);
}

int bt_rq_peer_init(struct bt_requester *rq, struct bt_rq_peer *p,
		    uint32_t id, uint64_t now)
{
	p->out = calloc(rq->max_out, sizeof(*p->out));
	p->recent = calloc(BT_RQ_RECENT, sizeof(*p->recent));
	if (!p->out || !p->recent) {
		free(p->out);
		free(p->recent);
		p->out = NULL;
		p->recent = NULL;
		return -ENOMEM;
	}
	p->nout = p->nrecent = p->recent_at = 0;
	p->id = id;
	p->last_block = now;
	return 0;
}

/* R was taken back from P: a block of it may still be on its way. */
static void remember(struct bt_rq_peer *p, const struct bt_rq_out *r)
{
	if (!p->recent)
		return;
	p->recent[p->recent_at] = (struct bt_block){r->piece, r->begin,
						    r->length};
	p->recent_at = (p->recent_at + 1) % BT_RQ_RECENT;
	if (p->nrecent < BT_RQ_RECENT)
		p->nrecent++;
}

static bool forget_recent(struct bt_rq_peer *p, uint32_t piece,
			  uint32_t begin, uint32_t length)
{
	for (size_t i = 0; i < p->nrecent; i++) {
		struct bt_block *b = &p->recent[i];
		if (b->piece == piece && b->begin == begin &&
		    b->length == length) {
			b->length = 0; /* once */
			return true;
		}
	}
	return false;
}

static void abort_all(struct bt_requester *rq, struct bt_rq_peer *p)
{
	for (size_t i = 0; i < p->nout; i++) {
		bt_picker_abort(rq->pk, p->out[i].piece, p->out[i].begin);
		remember(p, &p->out[i]);
	}
	p->nout = 0;
}

void bt_rq_peer_release(struct bt_requester *rq, struct bt_rq_peer *p)
{
	if (p->out)
		abort_all(rq, p);
	free(p->out);
	free(p->recent);
	p->out = NULL;
	p->recent = NULL;
}

bool bt_requester_queued(const struct bt_rq_peer *p, uint32_t piece,
			 uint32_t begin)
{
	for (size_t i = 0; i < p->nout; i++)
		if (p->out[i].piece == piece && p->out[i].begin == begin)
			return true;
	return false;
}

static bool queued_fn(void *arg, uint32_t piece, uint32_t begin)
{
	return bt_requester_queued(arg, piece, begin);
}

/* The most requests P may have out: ours, or less if it queues less. */
static size_t peer_max(const struct bt_requester *rq,
		       const struct bt_rq_peer *p)
{
	return p->limit && p->limit < rq->max_out ? p->limit : rq->max_out;
}

static size_t target_depth(const struct bt_requester *rq,
			   const struct bt_rq_peer *p)
{
	size_t d = rq->pipeline_min +
		   (size_t)(p->down_rate * rq->pipeline_ms / 1000.0 /
			    BT_BLOCK_SIZE);
	size_t m = peer_max(rq, p);
	return d > m ? m : d;
}

void bt_requester_rank(struct bt_requester *rq, struct bt_rq_peer *const *peers,
		       size_t n)
{
	double best = 0;
	for (size_t i = 0; i < n; i++)
		if (peers[i]->ready && !peers[i]->choked &&
		    peers[i]->down_rate > best)
			best = peers[i]->down_rate;
	rq->rate_sum = 0;
	rq->nusable = 0;
	for (size_t i = 0; i < n; i++) {
		struct bt_rq_peer *p = peers[i];
		p->slow = p->down_rate * rq->slow_ratio < best;
		if (!p->ready || p->choked || p->slow)
			continue;
		rq->rate_sum += p->down_rate;
		rq->nusable++;
	}
}

/* P's share of the swarm's rate, in per mille, for spreading the blocks of
 * a due piece (an even share while rates are unknown). */
static uint32_t due_share(const struct bt_requester *rq,
			  const struct bt_rq_peer *p)
{
	uint32_t n = rq->nusable;
	double sum = rq->rate_sum;
	if (n <= 1)
		return 1000;
	/* half by measured rate, half even: a peer's rate follows what it
	 * was given, so a pure rate split would starve a peer for good */
	double share = 0.5 / n + (sum > 0 ? 0.5 * p->down_rate / sum : 0.5 / n);
	/* a little over its share: the last blocks go to whoever is free */
	return (uint32_t)(share * 1250);
}

static size_t add_requests(struct bt_rq_peer *p, const struct bt_block *b,
			   size_t n, uint64_t now, struct bt_rq_action *act,
			   size_t na)
{
	for (size_t i = 0; i < n; i++) {
		struct bt_rq_out *r = &p->out[p->nout++];
		r->piece = b[i].piece;
		r->begin = b[i].begin;
		r->length = b[i].length;
		r->sent = now;
		act[na].type = BT_RQ_REQUEST;
		act[na].b = b[i];
		na++;
	}
	return na;
}

static size_t cancel_at(struct bt_requester *rq, struct bt_rq_peer *p,
			size_t i, bool keep_order, struct bt_rq_action *act,
			size_t na)
{
	struct bt_rq_out r = p->out[i];
	act[na].type = BT_RQ_CANCEL;
	act[na].b = (struct bt_block){r.piece, r.begin, r.length};
	bt_picker_abort(rq->pk, r.piece, r.begin);
	remember(p, &r);
	if (keep_order)
		memmove(&p->out[i], &p->out[i + 1],
			(p->nout - i - 1) * sizeof(*p->out));
	else
		p->out[i] = p->out[p->nout - 1];
	p->nout--;
	return na + 1;
}

/* The pipeline is full but blocks are due now: cancel the newest requests
 * of later pieces (the peer answers in order, so they sit behind what is
 * due) and ask for the due blocks in their place. */
static size_t preempt(struct bt_requester *rq, struct bt_rq_peer *p,
		      uint64_t now, struct bt_rq_action *act, size_t na)
{
	struct bt_block blocks[BT_RQ_PREEMPT_MAX];
	size_t cap = peer_max(rq, p);
	size_t room = p->nout < cap ? cap - p->nout : 0;
	if (room > rq->preempt_max)
		room = rq->preempt_max;
	/* usually nothing due is left unrequested: then this is all */
	size_t n = bt_picker_pick_due(rq->pk, p->have, queued_fn, p, now,
				      blocks, room);
	if (!n)
		return na;
	size_t cancelled = 0;
	for (size_t i = p->nout; i-- > 0 && cancelled < n;) {
		int64_t d = bt_picker_deadline(rq->pk, p->out[i].piece);
		if (d >= 0 && (uint64_t)d <= now)
			continue;
		na = cancel_at(rq, p, i, true, act, na);
		cancelled++;
	}
	return add_requests(p, blocks, n, now, act, na);
}

size_t bt_requester_fill(struct bt_requester *rq, struct bt_rq_peer *p,
			 uint64_t now, struct bt_rq_action *act)
{
	if (!p->ready || p->choked || !p->out || now < p->snubbed_until)
		return 0;
	size_t depth = target_depth(rq, p);
	bool slow = p->slow;
	bt_picker_set_due_share(rq->pk, due_share(rq, p));
	bt_picker_set_peer(rq->pk, p->id);
	if (p->nout >= depth) {
		if (!slow && bt_picker_next_deadline(rq->pk) <= now)
			return preempt(rq, p, now, act, 0);
		return 0;
	}
	struct bt_block blocks[BT_RQ_MAX_OUT];
	size_t n;
	if (slow) /* due blocks go to the fast peers */
		n = bt_picker_pick_after(rq->pk, p->have, now, now, blocks,
					 depth - p->nout);
	else
		n = bt_picker_pick(rq->pk, p->have, queued_fn, p, now, blocks,
				   depth - p->nout);
	size_t na = add_requests(p, blocks, n, now, act, 0);
	/* a due piece gets this peer's share even past the depth */
	if (!slow && p->nout >= depth &&
	    bt_picker_next_deadline(rq->pk) <= now)
		na = preempt(rq, p, now, act, na);
	return na;
}

static bool take(struct bt_rq_peer *p, uint32_t piece, uint32_t begin,
		 uint32_t length)
{
	for (size_t i = 0; i < p->nout; i++) {
		struct bt_rq_out *r = &p->out[i];
		if (r->piece == piece && r->begin == begin &&
		    r->length == length) {
			*r = p->out[--p->nout];
			return true;
		}
	}
	return false;
}

enum bt_rq_got bt_requester_got(struct bt_requester *rq, struct bt_rq_peer *p,
				uint32_t piece, uint32_t begin, uint32_t length,
				uint64_t now)
{
	(void)rq;
	if (take(p, piece, begin, length)) {
		p->last_block = now;
		return BT_RQ_ASKED;
	}
	return forget_recent(p, piece, begin, length) ? BT_RQ_LATE
						      : BT_RQ_UNASKED;
}

void bt_requester_rejected(struct bt_requester *rq, struct bt_rq_peer *p,
			   uint32_t piece, uint32_t begin, uint32_t length)
{
	if (take(p, piece, begin, length)) {
		bt_picker_abort(rq->pk, piece, begin);
		struct bt_rq_out r = {piece, begin, length, 0};
		remember(p, &r);
	}
}

void bt_requester_choked(struct bt_requester *rq, struct bt_rq_peer *p)
{
	abort_all(rq, p);
}

bool bt_requester_cancel(struct bt_requester *rq, struct bt_rq_peer *p,
			 uint32_t piece, uint32_t begin,
			 struct bt_rq_action *act)
{
	for (size_t i = 0; i < p->nout; i++)
		if (p->out[i].piece == piece && p->out[i].begin == begin) {
			cancel_at(rq, p, i, false, act, 0);
			return true;
		}
	return false;
}

size_t bt_requester_cancel_piece(struct bt_requester *rq, struct bt_rq_peer *p,
				 uint32_t piece, struct bt_rq_action *act)
{
	size_t na = 0;
	for (size_t i = p->nout; i-- > 0;)
		if (p->out[i].piece == piece)
			na = cancel_at(rq, p, i, false, act, na);
	return na;
}

size_t bt_requester_steal_due(struct bt_requester *rq, struct bt_rq_peer *p,
			      uint64_t now, struct bt_rq_action *act)
{
	size_t na = 0;
	if (!p->slow)
		return 0;
	for (size_t i = p->nout; i-- > 0;) {
		int64_t d = bt_picker_deadline(rq->pk, p->out[i].piece);
		if (d >= 0 && (uint64_t)d <= now)
			na = cancel_at(rq, p, i, false, act, na);
	}
	return na;
}

uint64_t bt_requester_snub_deadline(const struct bt_requester *rq,
				    const struct bt_rq_peer *p)
{
	if (!p->nout)
		return UINT64_MAX;
	uint64_t oldest = UINT64_MAX;
	for (size_t i = 0; i < p->nout; i++)
		if (p->out[i].sent < oldest)
			oldest = p->out[i].sent;
	uint64_t since = p->last_block > oldest ? p->last_block : oldest;
	return since + rq->snub_ms + 1;
}

bool bt_requester_check_snub(struct bt_requester *rq, struct bt_rq_peer *p,
			     uint64_t now)
{
	if (!p->nout || now < bt_requester_snub_deadline(rq, p))
		return false;
	abort_all(rq, p);
	p->snubbed_until = now + rq->snub_ms;
	return true;
}
