/* bt_blame — who lied about a piece: blame by evidence, never by company.
 *
 * When a piece fails its hash check, who sent which block is on record
 * (the picker's senders and each block's keyed signature, pfs_nh). If one
 * peer sent every block, it lied: that peer is guilty. If several did,
 * nobody is blamed yet: the attempt is kept and the piece is fetched again
 * from one peer alone (bt_picker_set_exclusive) — which either fails (that
 * one peer is guilty) or verifies; then every earlier block whose
 * signature differs from the good block's convicts its sender, and those
 * that match clear theirs. So an honest peer is never banned for a block
 * another peer sent, however often it shared a piece with a liar (the
 * libtorrent "smart ban" idea, with signatures taken as blocks arrive
 * instead of hashes of data read back from disk).
 *
 * Bounded: at most BT_BLAME_PIECES pieces on record, each with its last
 * BT_BLAME_ATTEMPTS failed attempts; the oldest record goes first (its
 * suspects then go free). I/O-free; one thread. */
#ifndef BT_BLAME_H
#define BT_BLAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"

#define BT_BLAME_PIECES 32
#define BT_BLAME_ATTEMPTS 2

/* Who sent one block, as the caller knows it. */
struct bt_blame_sender {
	uint32_t peer_id; /* 0: nobody (not received) */
	struct bt_addr addr;
	uint64_t sig;
};

struct bt_blame;

struct bt_blame *bt_blame_new(void);
void bt_blame_free(struct bt_blame *bl);

/* PIECE of NBLOCKS blocks failed; BLOCKS[i] says who sent block i. When
 * one peer sent them all, it is guilty: *GUILTY is set and true returned.
 * Otherwise the attempt is kept (the caller should fetch the piece again
 * from one peer) and false returned. -ENOMEM keeps nothing: also false. */
bool bt_blame_failed(struct bt_blame *bl, uint32_t piece, uint32_t nblocks,
		     const struct bt_blame_sender *blocks,
		     struct bt_blame_sender *guilty);
/* PIECE verified with the block signatures GOOD (NBLOCKS of them): the
 * senders of earlier attempts whose blocks differ are written to OUT (at
 * most MAX, each peer once) and counted in the return; the record goes. */
size_t bt_blame_passed(struct bt_blame *bl, uint32_t piece, uint32_t nblocks,
		       const uint64_t *good, struct bt_blame_sender *out,
		       size_t max);
/* Is PIECE on record (fetched from one peer until it verifies)? */
bool bt_blame_pending(const struct bt_blame *bl, uint32_t piece);

#endif
