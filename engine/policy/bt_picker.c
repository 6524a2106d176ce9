/* bt_picker — block selection by deadline, then rarest-first; see
 * bt_picker.h.
 *
 * Per piece it keeps one byte of state, a wanted flag, a 16-bit
 * availability count and an index into the table of pieces in progress
 * (8 bytes a piece). Wanted pieces live in a small array sorted by deadline;
 * it holds what readers asked for (the pieces under pending reads and their
 * read-ahead), so it stays short and linear scans of it are cheap. */
#include "bt_picker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bt_wire.h"
#include "pfs_log.h"

enum { PS_NONE = 0, PS_ACTIVE, PS_COMPLETE, PS_HAVE };

/* Most outstanding requests of one block (the original plus a duplicate). */
#define MAX_REQ_PER_BLOCK 2

struct active {
	uint32_t piece;
	uint32_t nblocks;
	uint32_t nreceived;
	uint32_t hint;  /* no block below it is free (unrequested, not got) */
	uint8_t *req;   /* outstanding requests per block */
	uint8_t *got;   /* block received */
	uint32_t *from; /* peer id that sent the block */
	uint64_t *sent; /* when the block was last requested (ms) */
	uint64_t *sig;  /* signature of the block received */
	bool exclusive; /* one peer at a time (see bt_picker_set_exclusive) */
	uint32_t owner; /* the peer fetching it, when exclusive (0: none) */
};

struct want {
	uint32_t piece;
	uint64_t deadline;
};

struct bt_picker {
	uint32_t npieces, piece_length;
	uint64_t total;
	uint8_t *state;
	uint8_t *wanted;   /* in `wants` */
	uint8_t *hard;     /* wanted by a read: stays until verified */
	uint8_t *soft;     /* read-ahead holders (saturating count) */
	uint16_t *avail;
	uint32_t *act_of; /* index + 1 into act, or 0 */
	uint8_t *have_bf; /* bitfield of PS_HAVE */
	uint32_t have_count;
	struct want *wants; /* sorted by deadline, ascending */
	size_t nwants, cap_wants;
	struct active **act;
	size_t nact, cap_act;
	bool fetch_all;
	uint32_t late_ms;  /* a request older than this may be duplicated */
	uint32_t due_share; /* per mille of a due piece one pick may take */
	uint32_t rotate; /* spreads ties in rarest-first */
	uint32_t cur_peer; /* whom the picks are for (bt_picker_set_peer) */
};

struct bt_picker *bt_picker_new(uint32_t npieces, uint32_t piece_length,
				uint64_t total_length)
{
	if (!npieces || !piece_length)
		return NULL;
	struct bt_picker *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->npieces = npieces;
	p->piece_length = piece_length;
	p->total = total_length;
	p->late_ms = BT_PICKER_LATE_MS;
	p->due_share = 1000;
	p->state = calloc(npieces, 1);
	p->wanted = calloc(npieces, 1);
	p->hard = calloc(npieces, 1);
	p->soft = calloc(npieces, 1);
	p->avail = calloc(npieces, sizeof(*p->avail));
	p->act_of = calloc(npieces, sizeof(*p->act_of));
	p->have_bf = calloc((npieces + 7) / 8, 1);
	if (!p->state || !p->wanted || !p->hard || !p->soft || !p->avail ||
	    !p->act_of || !p->have_bf) {
		bt_picker_free(p);
		return NULL;
	}
	return p;
}

static void active_free(struct active *a)
{
	if (!a)
		return;
	free(a->req);
	free(a->got);
	free(a->from);
	free(a->sent);
	free(a->sig);
	free(a);
}

void bt_picker_free(struct bt_picker *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nact; i++)
		active_free(p->act[i]);
	free(p->act);
	free(p->wants);
	free(p->state);
	free(p->wanted);
	free(p->hard);
	free(p->soft);
	free(p->avail);
	free(p->act_of);
	free(p->have_bf);
	free(p);
}

void bt_picker_set_fetch_all(struct bt_picker *p, bool on)
{
	p->fetch_all = on;
}

void bt_picker_set_late_ms(struct bt_picker *p, uint32_t ms)
{
	p->late_ms = ms;
}

void bt_picker_set_due_share(struct bt_picker *p, uint32_t permille)
{
	p->due_share = permille < 1 ? 1 : permille > 1000 ? 1000 : permille;
}

uint32_t bt_picker_nblocks(const struct bt_picker *p, uint32_t piece)
{
	uint64_t start = (uint64_t)piece * p->piece_length;
	uint64_t size = p->total - start;
	if (size > p->piece_length)
		size = p->piece_length;
	return (uint32_t)((size + BT_BLOCK_SIZE - 1) / BT_BLOCK_SIZE);
}

uint32_t bt_picker_block_len(const struct bt_picker *p, uint32_t piece,
			     uint32_t block)
{
	uint64_t start = (uint64_t)piece * p->piece_length;
	uint64_t size = p->total - start;
	if (size > p->piece_length)
		size = p->piece_length;
	uint64_t off = (uint64_t)block * BT_BLOCK_SIZE;
	uint64_t len = size - off;
	return (uint32_t)(len > BT_BLOCK_SIZE ? BT_BLOCK_SIZE : len);
}

static struct active *active_get(const struct bt_picker *p, uint32_t piece)
{
	uint32_t i = p->act_of[piece];
	return i ? p->act[i - 1] : NULL;
}

static struct active *active_create(struct bt_picker *p, uint32_t piece)
{
	struct active *a = active_get(p, piece);
	if (a)
		return a;
	if (p->nact == p->cap_act) {
		size_t cap = p->cap_act ? p->cap_act * 2 : 16;
		struct active **n = realloc(p->act, cap * sizeof(*n));
		if (!n)
			return NULL;
		p->act = n;
		p->cap_act = cap;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->piece = piece;
	a->nblocks = bt_picker_nblocks(p, piece);
	a->req = calloc(a->nblocks, 1);
	a->got = calloc(a->nblocks, 1);
	a->from = calloc(a->nblocks, sizeof(*a->from));
	a->sent = calloc(a->nblocks, sizeof(*a->sent));
	a->sig = calloc(a->nblocks, sizeof(*a->sig));
	if (!a->req || !a->got || !a->from || !a->sent || !a->sig) {
		active_free(a);
		return NULL;
	}
	p->act[p->nact++] = a;
	p->act_of[piece] = (uint32_t)p->nact;
	p->state[piece] = PS_ACTIVE;
	return a;
}

static void active_remove(struct bt_picker *p, uint32_t piece)
{
	uint32_t i = p->act_of[piece];
	if (!i)
		return;
	struct active *a = p->act[i - 1];
	struct active *last = p->act[p->nact - 1];
	p->act[i - 1] = last;
	p->act_of[last->piece] = i;
	p->nact--;
	p->act_of[piece] = 0;
	active_free(a);
}

static void want_remove(struct bt_picker *p, uint32_t piece)
{
	if (!p->wanted[piece])
		return;
	for (size_t i = 0; i < p->nwants; i++) {
		if (p->wants[i].piece == piece) {
			memmove(&p->wants[i], &p->wants[i + 1],
				(p->nwants - i - 1) * sizeof(*p->wants));
			p->nwants--;
			break;
		}
	}
	p->wanted[piece] = 0;
	p->hard[piece] = 0;
	p->soft[piece] = 0;
}

void bt_picker_set_have(struct bt_picker *p, uint32_t piece)
{
	if (piece >= p->npieces || p->state[piece] == PS_HAVE)
		return;
	want_remove(p, piece);
	active_remove(p, piece);
	p->state[piece] = PS_HAVE;
	bt_bit_set(p->have_bf, piece);
	p->have_count++;
}

bool bt_picker_have(const struct bt_picker *p, uint32_t piece)
{
	return piece < p->npieces && p->state[piece] == PS_HAVE;
}

uint32_t bt_picker_have_count(const struct bt_picker *p)
{
	return p->have_count;
}

void bt_picker_avail_add(struct bt_picker *p, const uint8_t *bf)
{
	for (uint32_t i = 0; i < p->npieces; i++)
		if (bt_bit_get(bf, i) && p->avail[i] < UINT16_MAX)
			p->avail[i]++;
}

void bt_picker_avail_remove(struct bt_picker *p, const uint8_t *bf)
{
	for (uint32_t i = 0; i < p->npieces; i++)
		if (bt_bit_get(bf, i) && p->avail[i] > 0)
			p->avail[i]--;
}

void bt_picker_avail_inc(struct bt_picker *p, uint32_t piece)
{
	if (piece < p->npieces && p->avail[piece] < UINT16_MAX)
		p->avail[piece]++;
}

uint32_t bt_picker_avail(const struct bt_picker *p, uint32_t piece)
{
	return piece < p->npieces ? p->avail[piece] : 0;
}

/* Put PIECE in `wants` by DEADLINE (or move it earlier); its holders
 * (hard, soft) are the callers' business. */
static void want_insert(struct bt_picker *p, uint32_t piece, uint64_t deadline)
{
	if (p->wanted[piece]) {
		size_t i;
		for (i = 0; i < p->nwants; i++)
			if (p->wants[i].piece == piece)
				break;
		if (i < p->nwants && p->wants[i].deadline <= deadline)
			return;
		if (i < p->nwants) {
			memmove(&p->wants[i], &p->wants[i + 1],
				(p->nwants - i - 1) * sizeof(*p->wants));
			p->nwants--;
		}
		p->wanted[piece] = 0;
	}
	if (p->nwants == p->cap_wants) {
		size_t cap = p->cap_wants ? p->cap_wants * 2 : 64;
		struct want *n = realloc(p->wants, cap * sizeof(*n));
		if (!n) {
			pfs_log(PFS_LOG_ERROR, "picker", "out of memory");
			return;
		}
		p->wants = n;
		p->cap_wants = cap;
	}
	/* keep sorted: after every entry with deadline <= ours (FIFO ties) */
	size_t lo = 0, hi = p->nwants;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p->wants[mid].deadline <= deadline)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&p->wants[lo + 1], &p->wants[lo],
		(p->nwants - lo) * sizeof(*p->wants));
	p->wants[lo].piece = piece;
	p->wants[lo].deadline = deadline;
	p->nwants++;
	p->wanted[piece] = 1;
}

void bt_picker_want(struct bt_picker *p, uint32_t piece, uint64_t deadline)
{
	if (piece >= p->npieces || p->state[piece] == PS_HAVE)
		return;
	want_insert(p, piece, deadline);
	if (p->wanted[piece])
		p->hard[piece] = 1;
}

void bt_picker_prefetch(struct bt_picker *p, uint32_t piece,
			uint64_t deadline)
{
	if (piece >= p->npieces || p->state[piece] == PS_HAVE)
		return;
	want_insert(p, piece, deadline);
	if (p->wanted[piece] && p->soft[piece] < UINT8_MAX)
		p->soft[piece]++;
}

void bt_picker_unprefetch(struct bt_picker *p, uint32_t piece)
{
	if (piece >= p->npieces || !p->wanted[piece])
		return;
	if (p->soft[piece] && p->soft[piece] < UINT8_MAX)
		p->soft[piece]--; /* a saturated count is never dropped */
	if (!p->soft[piece] && !p->hard[piece])
		want_remove(p, piece);
}

int64_t bt_picker_deadline(const struct bt_picker *p, uint32_t piece)
{
	if (piece >= p->npieces || !p->wanted[piece])
		return -1;
	for (size_t i = 0; i < p->nwants; i++)
		if (p->wants[i].piece == piece)
			return (int64_t)p->wants[i].deadline;
	return -1;
}

bool bt_picker_wanted(const struct bt_picker *p, uint32_t piece)
{
	return piece < p->npieces && p->wanted[piece];
}

size_t bt_picker_want_count(const struct bt_picker *p)
{
	return p->nwants;
}

uint64_t bt_picker_next_deadline(const struct bt_picker *p)
{
	for (size_t i = 0; i < p->nwants; i++)
		if (p->state[p->wants[i].piece] != PS_COMPLETE)
			return p->wants[i].deadline;
	return UINT64_MAX;
}

bool bt_picker_interesting(const struct bt_picker *p, const uint8_t *peer_bf)
{
	size_t n = (p->npieces + 7) / 8;
	for (size_t i = 0; i < n; i++)
		if (peer_bf[i] & ~p->have_bf[i])
			return true;
	return false;
}

/* Take the free blocks of A (and, if DUP, blocks requested once elsewhere
 * more than late_ms ago that this peer does not have queued). Returns the
 * new count. */
static size_t take_blocks(struct bt_picker *p, struct active *a, bool dup,
			  uint64_t now, bt_picker_queued_fn queued, void *arg,
			  struct bt_block *out, size_t n, size_t max)
{
	if (a->exclusive) {
		if (a->owner && a->owner != p->cur_peer)
			return n; /* another peer fetches it alone */
		dup = false;
	}
	/* without duplicates only free blocks count, and none lies below the
	 * hint: a piece whose blocks are all out costs nothing to skip */
	uint32_t b = dup ? 0 : a->hint;
	bool all_out = true; /* every block before b requested or received */
	for (; b < a->nblocks && n < max; b++) {
		if (a->got[b])
			continue;
		uint32_t begin = b * BT_BLOCK_SIZE;
		if (a->req[b] == 0 ||
		    (dup && a->req[b] < MAX_REQ_PER_BLOCK &&
		     now >= a->sent[b] + p->late_ms &&
		     !(queued && queued(arg, a->piece, begin)))) {
			out[n].piece = a->piece;
			out[n].begin = begin;
			out[n].length = bt_picker_block_len(p, a->piece, b);
			a->req[b]++;
			a->sent[b] = now;
			n++;
			if (a->exclusive)
				a->owner = p->cur_peer;
		}
		if (!a->req[b])
			all_out = false;
	}
	if (all_out && b > a->hint)
		a->hint = b;
	return n;
}

/* Blocks of wanted pieces due in [FROM, TO], earliest first; duplicates
 * of late requests of pieces past their deadline when DUP. */
static size_t pick_wants(struct bt_picker *p, const uint8_t *peer_bf,
			 bt_picker_queued_fn queued, void *arg, uint64_t now,
			 uint64_t from, uint64_t to, bool dup,
			 struct bt_block *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nwants && n < max; i++) {
		uint32_t piece = p->wants[i].piece;
		uint64_t d = p->wants[i].deadline;
		if (d > to)
			break; /* sorted: the rest is later */
		if (d < from || p->state[piece] == PS_COMPLETE ||
		    !bt_bit_get(peer_bf, piece))
			continue;
		struct active *a = active_create(p, piece);
		if (!a)
			return n;
		size_t lim = max;
		if (d <= now && p->due_share < 1000) {
			/* a due piece is spread over the peers by rate */
			size_t cap =
				((size_t)a->nblocks * p->due_share + 999) / 1000;
			if (cap < 2)
				cap = 2;
			if (n + cap < lim)
				lim = n + cap;
		}
		n = take_blocks(p, a, dup && d <= now, now, queued, arg, out, n,
				lim);
	}
	return n;
}

/* Fetch-all: pieces in progress, then rarest first. */
static size_t pick_background(struct bt_picker *p, const uint8_t *peer_bf,
			      uint64_t now, struct bt_block *out, size_t n,
			      size_t max)
{
	/* finish pieces already in progress before starting new ones */
	for (size_t i = 0; i < p->nact && n < max; i++) {
		struct active *a = p->act[i];
		if (p->state[a->piece] == PS_ACTIVE && bt_bit_get(peer_bf, a->piece))
			n = take_blocks(p, a, false, now, NULL, NULL, out, n,
					max);
	}
	while (n < max) {
		uint32_t best = UINT32_MAX, best_avail = UINT32_MAX;
		uint32_t start = p->rotate++ % p->npieces;
		for (uint32_t k = 0; k < p->npieces; k++) {
			uint32_t i = start + k;
			if (i >= p->npieces)
				i -= p->npieces;
			if (p->state[i] != PS_NONE || !bt_bit_get(peer_bf, i))
				continue;
			if (p->avail[i] < best_avail) {
				best = i;
				best_avail = p->avail[i];
				if (best_avail <= 1)
					break;
			}
		}
		if (best == UINT32_MAX)
			break;
		struct active *a = active_create(p, best);
		if (!a)
			break;
		n = take_blocks(p, a, false, now, NULL, NULL, out, n, max);
	}
	return n;
}

size_t bt_picker_pick(struct bt_picker *p, const uint8_t *peer_bf,
		      bt_picker_queued_fn queued, void *arg, uint64_t now,
		      struct bt_block *out, size_t max)
{
	size_t n = pick_wants(p, peer_bf, queued, arg, now, 0, UINT64_MAX, true,
			      out, max);
	if (!p->fetch_all || n >= max)
		return n;
	return pick_background(p, peer_bf, now, out, n, max);
}

size_t bt_picker_pick_due(struct bt_picker *p, const uint8_t *peer_bf,
			  bt_picker_queued_fn queued, void *arg, uint64_t now,
			  struct bt_block *out, size_t max)
{
	return pick_wants(p, peer_bf, queued, arg, now, 0, now, true, out, max);
}

size_t bt_picker_pick_after(struct bt_picker *p, const uint8_t *peer_bf,
			    uint64_t after, uint64_t now, struct bt_block *out,
			    size_t max)
{
	size_t n = after == UINT64_MAX
			   ? 0
			   : pick_wants(p, peer_bf, NULL, NULL, now, after + 1,
					UINT64_MAX, false, out, max);
	if (!p->fetch_all || n >= max)
		return n;
	return pick_background(p, peer_bf, now, out, n, max);
}

int bt_picker_received(struct bt_picker *p, uint32_t piece, uint32_t begin,
		       uint32_t peer_id)
{
	if (piece >= p->npieces || p->state[piece] != PS_ACTIVE ||
	    begin % BT_BLOCK_SIZE)
		return -1;
	struct active *a = active_get(p, piece);
	uint32_t b = begin / BT_BLOCK_SIZE;
	if (!a || b >= a->nblocks || a->got[b])
		return -1;
	a->got[b] = 1;
	a->from[b] = peer_id;
	if (a->req[b])
		a->req[b]--;
	if (++a->nreceived < a->nblocks)
		return 0;
	p->state[piece] = PS_COMPLETE;
	return 1;
}

void bt_picker_abort(struct bt_picker *p, uint32_t piece, uint32_t begin)
{
	if (piece >= p->npieces || begin % BT_BLOCK_SIZE)
		return;
	struct active *a = active_get(p, piece);
	uint32_t b = begin / BT_BLOCK_SIZE;
	if (a && b < a->nblocks && a->req[b]) {
		a->req[b]--;
		if (!a->req[b] && !a->got[b] && b < a->hint)
			a->hint = b;
		if (a->exclusive && a->owner && !a->nreceived) {
			bool out = false;
			for (uint32_t i = 0; i < a->nblocks && !out; i++)
				out = a->req[i] != 0;
			if (!out)
				a->owner = 0; /* nothing of it fetched yet */
		}
	}
}

uint32_t bt_picker_requests(const struct bt_picker *p, uint32_t piece,
			    uint32_t begin)
{
	if (piece >= p->npieces || begin % BT_BLOCK_SIZE)
		return 0;
	const struct active *a = active_get(p, piece);
	uint32_t b = begin / BT_BLOCK_SIZE;
	return a && b < a->nblocks ? a->req[b] : 0;
}

size_t bt_picker_piece_failed(struct bt_picker *p, uint32_t piece,
			      uint32_t *ids, size_t max)
{
	struct active *a = piece < p->npieces ? active_get(p, piece) : NULL;
	size_t n = 0;
	if (!a)
		return 0;
	for (uint32_t b = 0; b < a->nblocks; b++) {
		if (!a->got[b])
			continue;
		size_t k;
		for (k = 0; k < n; k++)
			if (ids[k] == a->from[b])
				break;
		if (k == n && n < max)
			ids[n++] = a->from[b];
	}
	memset(a->got, 0, a->nblocks);
	memset(a->from, 0, a->nblocks * sizeof(*a->from));
	memset(a->sig, 0, a->nblocks * sizeof(*a->sig));
	a->nreceived = 0;
	a->hint = 0;
	a->owner = 0;
	p->state[piece] = PS_ACTIVE;
	return n;
}

void bt_picker_set_peer(struct bt_picker *p, uint32_t peer_id)
{
	p->cur_peer = peer_id;
}

void bt_picker_set_exclusive(struct bt_picker *p, uint32_t piece, bool on)
{
	if (piece >= p->npieces || p->state[piece] == PS_HAVE)
		return;
	struct active *a = on ? active_create(p, piece) : active_get(p, piece);
	if (!a)
		return;
	a->exclusive = on;
	if (!on)
		a->owner = 0;
}

bool bt_picker_exclusive(const struct bt_picker *p, uint32_t piece)
{
	const struct active *a = piece < p->npieces ? active_get(p, piece) : NULL;
	return a && a->exclusive;
}

void bt_picker_peer_gone(struct bt_picker *p, uint32_t peer_id)
{
	for (size_t i = 0; i < p->nact; i++) {
		struct active *a = p->act[i];
		if (!a->exclusive || a->owner != peer_id ||
		    p->state[a->piece] != PS_ACTIVE)
			continue;
		/* what it sent is fetched again, all from the next peer */
		for (uint32_t b = 0; b < a->nblocks; b++)
			if (a->got[b]) {
				a->got[b] = 0;
				a->from[b] = 0;
				a->sig[b] = 0;
			}
		a->nreceived = 0;
		a->hint = 0;
		bool out = false;
		for (uint32_t b = 0; b < a->nblocks && !out; b++)
			out = a->req[b] != 0;
		if (!out)
			a->owner = 0;
	}
}

void bt_picker_set_sig(struct bt_picker *p, uint32_t piece, uint32_t begin,
		       uint64_t sig)
{
	if (piece >= p->npieces || begin % BT_BLOCK_SIZE)
		return;
	struct active *a = active_get(p, piece);
	uint32_t b = begin / BT_BLOCK_SIZE;
	if (a && b < a->nblocks && a->got[b])
		a->sig[b] = sig;
}

size_t bt_picker_senders(const struct bt_picker *p, uint32_t piece,
			 uint32_t *ids, uint64_t *sigs, size_t max)
{
	const struct active *a = piece < p->npieces ? active_get(p, piece) : NULL;
	if (!a)
		return 0;
	size_t n = a->nblocks < max ? a->nblocks : max;
	for (size_t b = 0; b < n; b++) {
		ids[b] = a->got[b] ? a->from[b] : 0;
		sigs[b] = a->got[b] ? a->sig[b] : 0;
	}
	return n;
}

int bt_picker_check(const struct bt_picker *p)
{
	uint32_t have = 0;
	for (uint32_t i = 0; i < p->npieces; i++) {
		bool h = p->state[i] == PS_HAVE;
		if (h != bt_bit_get(p->have_bf, i))
			return -EINVAL;
		have += h;
		if (h && (p->wanted[i] || p->act_of[i]))
			return -EINVAL;
		if (p->wanted[i] != (p->hard[i] || p->soft[i]))
			return -EINVAL;
		if ((p->state[i] == PS_ACTIVE || p->state[i] == PS_COMPLETE) !=
		    (p->act_of[i] != 0))
			return -EINVAL;
	}
	if (have != p->have_count)
		return -EINVAL;
	size_t nw = 0;
	for (uint32_t i = 0; i < p->npieces; i++)
		nw += p->wanted[i];
	if (nw != p->nwants)
		return -EINVAL;
	for (size_t i = 0; i < p->nwants; i++) {
		if (!p->wanted[p->wants[i].piece])
			return -EINVAL;
		if (i && p->wants[i - 1].deadline > p->wants[i].deadline)
			return -EINVAL;
	}
	for (size_t i = 0; i < p->nact; i++) {
		const struct active *a = p->act[i];
		uint32_t got = 0;
		if (p->act_of[a->piece] != i + 1)
			return -EINVAL;
		for (uint32_t b = 0; b < a->nblocks; b++) {
			got += a->got[b];
			if (a->req[b] > MAX_REQ_PER_BLOCK)
				return -EINVAL;
			if (b < a->hint && !a->got[b] && !a->req[b])
				return -EINVAL;
		}
		if (got != a->nreceived)
			return -EINVAL;
		if ((got == a->nblocks) != (p->state[a->piece] == PS_COMPLETE))
			return -EINVAL;
	}
	return 0;
}

void bt_picker_clear_have(struct bt_picker *p, uint32_t piece)
{
	if (piece >= p->npieces || p->state[piece] != PS_HAVE)
		return;
	p->state[piece] = PS_NONE;
	bt_bit_clear(p->have_bf, piece);
	p->have_count--;
}
