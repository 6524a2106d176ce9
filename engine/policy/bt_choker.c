/* bt_choker — the choking algorithm and request admission; see bt_choker.h.
 *
 * Built as two passes over the caller's peer list: the regular slots
 * (re-decided from scratch on a rotation, only filled in between), then the
 * optimistic slot (a weighted random draw). Its only state is the two
 * rotation times, the PRNG and a scratch array reused across runs. */
#include "bt_choker.h"

#include <stdlib.h>
#include <string.h>

struct bt_choker {
	unsigned slots;
	enum bt_choker_seed_mode seed_mode;
	uint64_t rng;
	bool started;
	uint64_t next_rechoke, next_optimistic; /* ms */
	struct cand *cand;			/* scratch, cap_cand entries */
	size_t cap_cand;
};

struct cand {
	struct bt_choker_peer *p;
	double key;   /* higher first */
	bool was;     /* held a regular slot before this run: wins ties */
	size_t order; /* position in the caller's list: the last tie-break */
};

struct bt_choker *bt_choker_new(const struct bt_choker_opts *o)
{
	struct bt_choker *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->slots = o && o->slots ? o->slots : BT_CHOKER_SLOTS;
	c->seed_mode = o ? o->seed_mode : BT_CHOKER_ROUND_ROBIN;
	c->rng = (o ? o->seed : 0) ^ 0x9e3779b97f4a7c15ull;
	return c;
}

void bt_choker_free(struct bt_choker *c)
{
	if (!c)
		return;
	free(c->cand);
	free(c);
}

/* splitmix64: plenty for picking a peer, and reproducible in tests */
static uint64_t rng_next(struct bt_choker *c)
{
	uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rank_key(const struct bt_choker *c,
		       const struct bt_choker_peer *p, bool seeding,
		       bool regular, uint64_t now)
{
	if (!seeding)
		return p->we_interested ? p->down_rate : p->up_rate;
	if (c->seed_mode == BT_CHOKER_FASTEST_UPLOAD)
		return p->up_rate;
	/* round robin: a waiting peer ranks by how long it has waited, above
	 * every peer being served; those rank by how recently they got their
	 * slot, so the one served longest makes room first */
	if (regular)
		return -(double)(now - p->since);
	return (double)(now - p->since) + 1;
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	if (x->was != y->was)
		return x->was ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void set_unchoked(struct bt_choker_peer *p, bool on, uint64_t now)
{
	if (on != p->unchoked)
		p->since = now;
	if (!on)
		p->optimistic = false;
	p->unchoked = on;
}

uint64_t bt_choker_run(struct bt_choker *c, struct bt_choker_peer *const *peers,
		       size_t n, bool seeding, uint64_t now)
{
	if (!c->started) {
		c->started = true;
		c->next_rechoke = c->next_optimistic = now;
	}
	bool full = now >= c->next_rechoke;
	if (n > c->cap_cand) {
		struct cand *nc = realloc(c->cand, n * sizeof(*nc));
		if (!nc)
			return now + 1000; /* keep the standing decisions */
		c->cand = nc;
		c->cap_cand = n;
	}

	/* regular slots */
	size_t ncand = 0;
	unsigned kept = 0;
	for (size_t i = 0; i < n; i++) {
		struct bt_choker_peer *p = peers[i];
		bool regular = p->unchoked && !p->optimistic;
		if (!p->interested) {
			set_unchoked(p, false, now);
			continue;
		}
		if (p->snubbed) {
			if (regular)
				set_unchoked(p, false, now);
			continue;
		}
		if (regular && !full) {
			kept++;
			continue;
		}
		c->cand[ncand++] = (struct cand){
		    .p = p,
		    .key = rank_key(c, p, seeding, p->unchoked, now),
		    .was = regular,
		    .order = i,
		};
	}
	if (ncand > 1)
		qsort(c->cand, ncand, sizeof(*c->cand), cand_cmp);
	for (size_t i = 0; i < ncand; i++) {
		struct bt_choker_peer *p = c->cand[i].p;
		if (kept < c->slots) {
			kept++;
			p->optimistic = false; /* promoted, or a plain slot */
			set_unchoked(p, true, now);
		} else if (!p->optimistic) {
			set_unchoked(p, false, now);
		}
	}
	if (full)
		c->next_rechoke = now + BT_CHOKER_RECHOKE_MS;

	/* the optimistic slot */
	struct bt_choker_peer *cur = NULL;
	for (size_t i = 0; i < n && !cur; i++)
		if (peers[i]->optimistic)
			cur = peers[i];
	if (!cur || now >= c->next_optimistic) {
		uint64_t total = 0;
		for (size_t i = 0; i < n; i++) {
			struct bt_choker_peer *p = peers[i];
			if (p->interested && !p->unchoked)
				total +=
				    now - p->connected_at < BT_CHOKER_NEW_MS
					? 3
					: 1;
		}
		if (total) {
			uint64_t r = rng_next(c) % total;
			for (size_t i = 0; i < n; i++) {
				struct bt_choker_peer *p = peers[i];
				if (!p->interested || p->unchoked)
					continue;
				uint64_t w =
				    now - p->connected_at < BT_CHOKER_NEW_MS
					? 3
					: 1;
				if (r < w) {
					if (cur)
						set_unchoked(cur, false, now);
					set_unchoked(p, true, now);
					p->optimistic = true;
					break;
				}
				r -= w;
			}
			c->next_optimistic = now + BT_CHOKER_OPTIMISTIC_MS;
		} else if (now >= c->next_optimistic) {
			/* nobody else to try: the holder keeps it */
			c->next_optimistic = now + BT_CHOKER_OPTIMISTIC_MS;
		}
	}

	return c->next_rechoke < c->next_optimistic ? c->next_rechoke
						    : c->next_optimistic;
}

enum bt_choker_verdict bt_choker_check_request(const struct bt_wire_limits *lim,
					       const struct bt_choker_req *r)
{
	if (r->piece >= lim->npieces || r->length == 0 ||
	    r->length > BT_MAX_BLOCK_SIZE)
		return BT_CHOKER_CLOSE;
	uint64_t start = (uint64_t)r->piece * lim->piece_length;
	uint64_t size =
	    start < lim->total_length ? lim->total_length - start : 0;
	if (size > lim->piece_length)
		size = lim->piece_length;
	if ((uint64_t)r->begin + r->length > size)
		return BT_CHOKER_CLOSE;
	if (r->choked)
		return r->fast ? BT_CHOKER_REJECT : BT_CHOKER_IGNORE;
	if (!r->have || r->queued >= BT_CHOKER_MAX_QUEUE)
		return r->fast ? BT_CHOKER_REJECT : BT_CHOKER_RESET;
	if (r->duplicate)
		return BT_CHOKER_IGNORE;
	return BT_CHOKER_SERVE;
}
