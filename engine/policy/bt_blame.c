/* bt_blame — records of failed attempts at pieces, compared with the good
 * blocks once a piece verifies; see bt_blame.h. A small array of records,
 * oldest first. */
#include "bt_blame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct attempt {
	struct bt_blame_sender *blk; /* nblocks */
};

struct record {
	uint32_t piece, nblocks;
	struct attempt at[BT_BLAME_ATTEMPTS];
	size_t nat;
	uint64_t order; /* for the oldest */
};

struct bt_blame {
	struct record rec[BT_BLAME_PIECES];
	size_t nrec;
	uint64_t next_order;
};

struct bt_blame *bt_blame_new(void)
{
	return calloc(1, sizeof(struct bt_blame));
}

static void record_free(struct record *r)
{
	for (size_t i = 0; i < r->nat; i++)
		free(r->at[i].blk);
	r->nat = 0;
}

void bt_blame_free(struct bt_blame *bl)
{
	if (!bl)
		return;
	for (size_t i = 0; i < bl->nrec; i++)
		record_free(&bl->rec[i]);
	free(bl);
}

static struct record *find(const struct bt_blame *bl, uint32_t piece)
{
	for (size_t i = 0; i < bl->nrec; i++)
		if (bl->rec[i].piece == piece)
			return (struct record *)&bl->rec[i];
	return NULL;
}

static void drop(struct bt_blame *bl, struct record *r)
{
	record_free(r);
	*r = bl->rec[--bl->nrec];
}

bool bt_blame_pending(const struct bt_blame *bl, uint32_t piece)
{
	return find(bl, piece) != NULL;
}

bool bt_blame_failed(struct bt_blame *bl, uint32_t piece, uint32_t nblocks,
		     const struct bt_blame_sender *blocks,
		     struct bt_blame_sender *guilty)
{
	const struct bt_blame_sender *one = NULL;
	bool single = true;
	for (uint32_t i = 0; i < nblocks; i++) {
		if (!blocks[i].peer_id)
			continue;
		if (!one)
			one = &blocks[i];
		else if (blocks[i].peer_id != one->peer_id)
			single = false;
	}
	if (one && single) {
		*guilty = *one;
		return true; /* it alone sent this piece */
	}
	if (!one)
		return false;
	struct record *r = find(bl, piece);
	if (r && r->nblocks != nblocks) {
		drop(bl, r);
		r = NULL;
	}
	if (!r) {
		if (bl->nrec == BT_BLAME_PIECES) {
			struct record *old = &bl->rec[0];
			for (size_t i = 1; i < bl->nrec; i++)
				if (bl->rec[i].order < old->order)
					old = &bl->rec[i];
			drop(bl, old);
		}
		r = &bl->rec[bl->nrec++];
		memset(r, 0, sizeof(*r));
		r->piece = piece;
		r->nblocks = nblocks;
		r->order = bl->next_order++;
	}
	struct bt_blame_sender *copy = malloc(nblocks * sizeof(*copy));
	if (!copy) {
		if (!r->nat)
			drop(bl, r);
		return false;
	}
	memcpy(copy, blocks, nblocks * sizeof(*copy));
	if (r->nat == BT_BLAME_ATTEMPTS) { /* the oldest attempt goes */
		free(r->at[0].blk);
		memmove(&r->at[0], &r->at[1],
			(BT_BLAME_ATTEMPTS - 1) * sizeof(r->at[0]));
		r->nat--;
	}
	r->at[r->nat++].blk = copy;
	return false;
}

size_t bt_blame_passed(struct bt_blame *bl, uint32_t piece, uint32_t nblocks,
		       const uint64_t *good, struct bt_blame_sender *out,
		       size_t max)
{
	struct record *r = find(bl, piece);
	size_t n = 0;
	if (!r)
		return 0;
	if (r->nblocks == nblocks) {
		for (size_t a = 0; a < r->nat; a++) {
			for (uint32_t i = 0; i < nblocks; i++) {
				const struct bt_blame_sender *s =
					&r->at[a].blk[i];
				if (!s->peer_id || s->sig == good[i])
					continue;
				size_t k;
				for (k = 0; k < n; k++)
					if (out[k].peer_id == s->peer_id)
						break;
				if (k == n && n < max)
					out[n++] = *s;
			}
		}
	}
	drop(bl, r);
	return n;
}
