/* bt_choker — the upload policy of one session: which peers get our upload
 * slots (the BEP 3 choking algorithm) and which of a peer's requests we
 * queue.
 *
 * I/O-free: the engine keeps one struct bt_choker_peer inside each of its
 * peers, fills the inputs, calls bt_choker_run() with the list and `now`
 * (ms, any monotonic clock) and applies the decisions (sends choke/unchoke
 * where `unchoked` changed); bt_choker_run() returns when it next wants to
 * run. It may also be run at any time in between (a peer became interested,
 * one left): such a run keeps the standing decisions and only fills or
 * frees slots.
 *
 * The algorithm: every BT_CHOKER_RECHOKE_MS the regular slots (default 4)
 * go to the interested, not snubbed peers ranked by rate: while we leech,
 * by the rate a peer uploads to us (reciprocation) — or, for a peer whose
 * pieces we do not want, by the rate we upload to it; while we seed, either
 * round robin (default: the peers waiting longest go first, so every
 * leecher gets served) or by the rate we upload to them. Every
 * BT_CHOKER_OPTIMISTIC_MS one more interested peer, drawn at random among
 * the others (snubbed ones included), gets the optimistic slot; peers
 * connected less than BT_CHOKER_NEW_MS ago are three times as likely to be
 * drawn, since they have nothing to reciprocate with yet. Peers that are
 * not interested are choked.
 *
 * A struct bt_choker belongs to its caller's thread (the engine thread);
 * nothing here locks. */
#ifndef BT_CHOKER_H
#define BT_CHOKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_wire.h"

#define BT_CHOKER_SLOTS		4 /* regular upload slots */
#define BT_CHOKER_RECHOKE_MS	10000
#define BT_CHOKER_OPTIMISTIC_MS 30000
#define BT_CHOKER_NEW_MS	60000 /* "new" for the optimistic draw */
/* A peer's requests queued with us (what our BEP 10 handshake advertises
 * as `reqq`): real clients pipeline hundreds (Transmission advertises and
 * keeps 512, libtorrent queues up to 2000 from a peer and may keep 1500
 * out, rtorrent and aria2c a few hundred); 2048 lets each of them keep
 * its pipeline full with us. A queued request costs 12 bytes, and what is
 * actually read for a peer is bounded apart (a byte watermark). */
#define BT_CHOKER_MAX_QUEUE	2048

enum bt_choker_seed_mode {
	BT_CHOKER_ROUND_ROBIN,	 /* while seeding: rotate the slots */
	BT_CHOKER_FASTEST_UPLOAD /* while seeding: by our upload rate to them */
};

struct bt_choker_opts {
	unsigned slots; /* regular slots; 0 = BT_CHOKER_SLOTS */
	enum bt_choker_seed_mode seed_mode;
	uint64_t seed; /* of the optimistic draw's PRNG */
};

/* One peer as the choker sees it; embedded in the engine's peer and
 * zero-initialised when the peer connects. */
struct bt_choker_peer {
	/* inputs, filled by the engine before each run */
	uint64_t connected_at; /* ms */
	double down_rate;      /* payload bytes/s the peer sends us */
	double up_rate;	       /* payload bytes/s we send the peer */
	bool interested;       /* the peer wants our pieces */
	bool we_interested;    /* we want its pieces */
	bool snubbed;	       /* it let our requests starve */
	/* the choker's state and decision */
	bool unchoked;	 /* upload to it */
	bool optimistic; /* it holds the optimistic slot */
	uint64_t since;	 /* ms: when `unchoked` last changed (0: never
			  * unchoked): round robin's measure of waiting */
};

struct bt_choker;

/* Returns NULL on allocation failure. O may be NULL (defaults). */
struct bt_choker *bt_choker_new(const struct bt_choker_opts *o);
void bt_choker_free(struct bt_choker *c);

/* Decide for the N peers of PEERS (the handshaken peers; a peer that left is
 * simply not in the list) whether each is unchoked; SEEDING is true when we
 * hold every piece. Returns the time (ms) of the next rotation, at which the
 * caller should run it again. */
uint64_t bt_choker_run(struct bt_choker *c, struct bt_choker_peer *const *peers,
		       size_t n, bool seeding, uint64_t now);

/* ---- requests a peer sends us ---- */

enum bt_choker_verdict {
	BT_CHOKER_SERVE,  /* queue it and send the block */
	BT_CHOKER_REJECT, /* send a BEP 6 reject-request */
	BT_CHOKER_RESET,  /* (no fast extension) choke and unchoke at once:
			   * BEP 3's choke voids every request it has with
			   * us, so it asks again, never left waiting */
	BT_CHOKER_IGNORE, /* drop it: the peer knows why (see below) */
	BT_CHOKER_CLOSE,  /* a protocol violation: drop the peer */
};

struct bt_choker_req {
	uint32_t piece, begin, length;
	bool have;	/* PIECE is verified in our cache */
	bool choked;	/* we are choking the peer */
	bool fast;	/* BEP 6 was negotiated with the peer */
	bool duplicate; /* the same block is already queued */
	size_t queued; /* the peer's requests queued with us (and being read) */
};

/* The verdict on a request against the torrent geometry LIM:
 * - out of bounds (piece >= npieces, begin + length past the piece's end),
 *   length 0 or over BT_MAX_BLOCK_SIZE (128 KiB; BEP 3 clients close on
 *   anything over 16 KiB, we accept up to 128 KiB for old clients):
 *   CLOSE;
 * - while choked: REJECT with the fast extension, else IGNORE (a plain
 *   BEP 3 peer may have sent it before our choke arrived; it drops its
 *   requests itself when choked);
 * - for a piece we do not have (any more: a cache limit evicts), or with
 *   BT_CHOKER_MAX_QUEUE already queued: REJECT with the fast extension,
 *   else RESET (a plain peer has no other way to learn that a request
 *   will not be answered);
 * - a duplicate of a queued request: IGNORE (the block is sent once);
 * - otherwise SERVE.
 * Pure; any thread. */
enum bt_choker_verdict bt_choker_check_request(const struct bt_wire_limits *lim,
					       const struct bt_choker_req *r);

#endif
