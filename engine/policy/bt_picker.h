/* bt_picker — which block to request next, from which peer.
 *
 * I/O-free and clock-driven (the caller passes `now` in ms), owned by the
 * engine thread. It knows which pieces we have, how many peers have each
 * piece, which pieces readers want and by when (deadlines), and the state of
 * every block of the pieces in progress.
 *
 * Order of picking for a peer: wanted pieces by earliest deadline (pieces
 * already in progress first among equals); then, when fetch-all is on,
 * pieces in progress and then rarest-first. A block is normally requested
 * from one peer at a time; once a wanted piece's deadline has passed, its
 * missing blocks may be requested from a second peer too (the first to
 * arrive wins; the caller cancels the other), but only once the first
 * request is late (older than the late time). */
#ifndef BT_PICKER_H
#define BT_PICKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bt_picker;

struct bt_block {
	uint32_t piece;
	uint32_t begin;
	uint32_t length;
};

/* Returns true when the peer asking already has BLOCK in its queue (so a
 * duplicate request would be pointless). */
typedef bool (*bt_picker_queued_fn)(void *arg, uint32_t piece, uint32_t begin);

struct bt_picker *bt_picker_new(uint32_t npieces, uint32_t piece_length,
				uint64_t total_length);
void bt_picker_free(struct bt_picker *p);

void bt_picker_set_fetch_all(struct bt_picker *p, bool on);
/* A block of a piece past its deadline may be requested from a second peer
 * once its request is this old (default BT_PICKER_LATE_MS). */
#define BT_PICKER_LATE_MS 150
void bt_picker_set_late_ms(struct bt_picker *p, uint32_t ms);
/* The following picks take at most PERMILLE / 1000 of the blocks (at least
 * 2) of any one piece past its deadline, so that the blocks of a due piece
 * are spread over the peers by their share of the rate (1000 = no cap). */
void bt_picker_set_due_share(struct bt_picker *p, uint32_t permille);
/* Mark PIECE verified: it is never picked again and stops being wanted. */
void bt_picker_set_have(struct bt_picker *p, uint32_t piece);
bool bt_picker_have(const struct bt_picker *p, uint32_t piece);
/* PIECE is no longer verified (the cache evicted it): it can be wanted and
 * picked again like any missing piece. */
void bt_picker_clear_have(struct bt_picker *p, uint32_t piece);
uint32_t bt_picker_have_count(const struct bt_picker *p);

/* Availability: a peer's whole bitfield arrived or left, or one `have`. */
void bt_picker_avail_add(struct bt_picker *p, const uint8_t *bitfield);
void bt_picker_avail_remove(struct bt_picker *p, const uint8_t *bitfield);
void bt_picker_avail_inc(struct bt_picker *p, uint32_t piece);
uint32_t bt_picker_avail(const struct bt_picker *p, uint32_t piece);

/* Want PIECE by absolute time DEADLINE (ms); an earlier deadline replaces a
 * later one. Pieces we have are ignored. A want of a read stays until the
 * piece verifies. */
void bt_picker_want(struct bt_picker *p, uint32_t piece, uint64_t deadline);
/* Want PIECE for read-ahead: the same, but counted per holder, and
 * bt_picker_unprefetch() gives one holder's claim back: once no holder and
 * no read is left, the piece stops being wanted (blocks already requested
 * still complete it; fetch-all may fetch it later, rarest-first). */
void bt_picker_prefetch(struct bt_picker *p, uint32_t piece, uint64_t deadline);
void bt_picker_unprefetch(struct bt_picker *p, uint32_t piece);
/* The deadline of wanted PIECE, or -1. */
int64_t bt_picker_deadline(const struct bt_picker *p, uint32_t piece);
bool bt_picker_wanted(const struct bt_picker *p, uint32_t piece);
size_t bt_picker_want_count(const struct bt_picker *p);
/* Is there anything we would request from a peer with PEER_BF? */
bool bt_picker_interesting(const struct bt_picker *p, const uint8_t *peer_bf);

/* Pick up to MAX blocks for a peer whose pieces are PEER_BF. QUEUED tells
 * which blocks that peer already has outstanding. The picked blocks count as
 * requested until bt_picker_received() or bt_picker_abort(). */
size_t bt_picker_pick(struct bt_picker *p, const uint8_t *peer_bf,
		      bt_picker_queued_fn queued, void *arg, uint64_t now,
		      struct bt_block *out, size_t max);

/* The same, from wanted pieces due by NOW only (nothing else): for the
 * blocks that may displace requests queued for later pieces. */
size_t bt_picker_pick_due(struct bt_picker *p, const uint8_t *peer_bf,
			  bt_picker_queued_fn queued, void *arg, uint64_t now,
			  struct bt_block *out, size_t max);

/* For a slow peer: only blocks of wanted pieces due after AFTER (and,
 * with fetch-all, background pieces); never duplicates. */
size_t bt_picker_pick_after(struct bt_picker *p, const uint8_t *peer_bf,
			    uint64_t after, uint64_t now, struct bt_block *out,
			    size_t max);

/* A block arrived from peer PEER_ID. Returns 1 when that completed the
 * piece (all blocks received: hash it now), 0 when not, -1 when the block
 * was not needed (duplicate, piece already complete or verified, or not a
 * block boundary). */
int bt_picker_received(struct bt_picker *p, uint32_t piece, uint32_t begin,
		       uint32_t peer_id);
/* Requests of the block at BEGIN of PIECE still outstanding (after a
 * bt_picker_received() of it: the duplicates to cancel). */
uint32_t bt_picker_requests(const struct bt_picker *p, uint32_t piece,
			    uint32_t begin);
/* A request was lost (choke, reject, cancel, peer gone). */
void bt_picker_abort(struct bt_picker *p, uint32_t piece, uint32_t begin);
/* The piece failed its hash check: forget its blocks, fetch it again.
 * Writes up to MAX distinct ids of the peers that sent its blocks to IDS and
 * returns how many. */
size_t bt_picker_piece_failed(struct bt_picker *p, uint32_t piece,
			      uint32_t *ids, size_t max);
/* Earliest deadline of any wanted piece, or UINT64_MAX. */
uint64_t bt_picker_next_deadline(const struct bt_picker *p);
/* Number of blocks in a piece, and a block's length. */
uint32_t bt_picker_nblocks(const struct bt_picker *p, uint32_t piece);
uint32_t bt_picker_block_len(const struct bt_picker *p, uint32_t piece,
			     uint32_t block);
/* ---- telling who lied ----
 * After a piece fails its hash check with blocks from several peers, its
 * next attempt goes to one peer alone (exclusive), and the signature of
 * every block received (bt_picker_set_sig: a keyed hash of its bytes)
 * lets the caller compare the blocks sent before with the good ones once
 * the piece verifies. */

/* The peer (its id as given to bt_picker_received) the picks that follow
 * are for: an exclusive piece is only picked for the peer that took it. */
void bt_picker_set_peer(struct bt_picker *p, uint32_t peer_id);
/* Fetch PIECE from one peer at a time, without duplicate requests, until
 * it verifies. */
void bt_picker_set_exclusive(struct bt_picker *p, uint32_t piece, bool on);
bool bt_picker_exclusive(const struct bt_picker *p, uint32_t piece);
/* PEER_ID is gone: the exclusive piece it was fetching (not complete) is
 * free for another peer, its blocks fetched again. */
void bt_picker_peer_gone(struct bt_picker *p, uint32_t peer_id);
/* The signature of a block received (after bt_picker_received). */
void bt_picker_set_sig(struct bt_picker *p, uint32_t piece, uint32_t begin,
		       uint64_t sig);
/* For every block of PIECE in progress, who sent it (0: nobody yet) into
 * IDS and its signature into SIGS (each of MAX entries). Returns the
 * number of blocks written, 0 when PIECE is not in progress. */
size_t bt_picker_senders(const struct bt_picker *p, uint32_t piece,
			 uint32_t *ids, uint64_t *sigs, size_t max);

/* Invariant checker for tests: 0 when consistent. */
int bt_picker_check(const struct bt_picker *p);

#endif
