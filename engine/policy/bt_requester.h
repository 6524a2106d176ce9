/* bt_requester — which requests we keep outstanding with each peer: the
 * pipeline of a torrent's downloads.
 *
 * I/O-free and clock-driven: the caller (the torrent, on the engine
 * thread) keeps one struct bt_rq_peer inside each of its peers, fills its
 * inputs, and calls in when something happens (a block arrived, a reject,
 * a choke, a second passed); the requester answers with actions for that
 * peer (send a request, send a cancel) written into an array of at most
 * BT_RQ_MAX_ACTIONS, which the caller carries out in order. The blocks come
 * from the bt_picker it was given, which it keeps informed (a block picked
 * counts as requested until it arrives or bt_picker_abort()).
 *
 * Policy:
 * - depth: a peer's pipeline holds rate x pipeline_ms of blocks (bandwidth
 *   times delay), at least pipeline_min, at most max_out;
 * - fill: from the picker (due pieces first, see bt_picker.h); a slow peer
 *   (slow_ratio times slower than the fastest unchoked one, see
 *   bt_requester_rank) gets no block that is due already, only later ones;
 * - due pieces: while a piece is due now and the pipeline is full, the
 *   newest requests of later pieces are cancelled (at most preempt_max at
 *   a time) and the due blocks asked for in their place; a due piece's
 *   blocks are spread over the peers by their share of the rate;
 * - stealing: the requests of due pieces held by slow peers are cancelled
 *   (bt_requester_steal_due) so fast peers fetch them now; a late block of
 *   a due piece is requested again from a second peer by the picker;
 * - snubbing: a peer that sent no block for snub_ms while requests were
 *   outstanding is snubbed for snub_ms: its requests go back to the
 *   picker (no cancel is sent) and it gets no new ones meanwhile.
 *
 * Owned by one thread; nothing locks. */
#ifndef BT_REQUESTER_H
#define BT_REQUESTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_picker.h"

#define BT_RQ_MAX_OUT 256     /* requests outstanding to one peer */
#define BT_RQ_PIPELINE_MS 100 /* depth = rate x this */
#define BT_RQ_PIPELINE_MIN 16
#define BT_RQ_SLOW_RATIO 8
#define BT_RQ_PREEMPT_MAX 32  /* requests one due piece displaces at once */
#define BT_RQ_SNUB_MS 15000
#define BT_RQ_RECENT BT_RQ_MAX_OUT /* requests taken back, remembered */
/* Most actions one call returns: a full pipeline plus a preemption. */
#define BT_RQ_MAX_ACTIONS (BT_RQ_MAX_OUT + 2 * BT_RQ_PREEMPT_MAX)

struct bt_requester_opts {
	uint32_t max_out;      /* 0 = BT_RQ_MAX_OUT (at most that) */
	uint32_t pipeline_ms;  /* 0 = BT_RQ_PIPELINE_MS */
	uint32_t pipeline_min; /* 0 = BT_RQ_PIPELINE_MIN */
	uint32_t slow_ratio;   /* 0 = BT_RQ_SLOW_RATIO */
	uint32_t preempt_max;  /* 0 = BT_RQ_PREEMPT_MAX */
	uint32_t snub_ms;      /* 0 = BT_RQ_SNUB_MS */
};

struct bt_rq_out {
	uint32_t piece, begin, length;
	uint64_t sent; /* ms */
};

/* One peer as the requester sees it; zero it, then bt_rq_peer_init(). */
struct bt_rq_peer {
	/* inputs, kept current by the caller */
	const uint8_t *have; /* its pieces (the picker's npieces bits) */
	bool ready;	     /* handshaken, pieces known: may be asked */
	bool choked;	     /* it chokes us */
	double down_rate;    /* payload bytes/s it sends us, smoothed */
	uint32_t id;	     /* for the picker (who sent a block) */
	uint32_t limit;	     /* the most it queues (its BEP 10 reqq), 0 =
			      * none: caps its pipeline below max_out */
	/* the requester's */
	struct bt_rq_out *out; /* outstanding, oldest first but for removals */
	size_t nout;
	/* the last BT_RQ_RECENT requests taken back (cancelled, choked,
	 * rejected, snubbed): a block of one of them may still come */
	struct bt_block *recent;
	size_t nrecent, recent_at;
	uint64_t last_block;	/* ms: the last requested block it sent */
	uint64_t snubbed_until; /* ms */
	bool slow;
};

enum bt_rq_act_type { BT_RQ_REQUEST, BT_RQ_CANCEL };
struct bt_rq_action {
	enum bt_rq_act_type type;
	struct bt_block b;
};

struct bt_requester;

/* PK is borrowed and must outlive the requester. NULL on allocation
 * failure; O may be NULL. */
struct bt_requester *bt_requester_new(struct bt_picker *pk,
				      const struct bt_requester_opts *o);
void bt_requester_free(struct bt_requester *rq);

/* Allocate P's request list. Returns 0 or -ENOMEM. */
int bt_rq_peer_init(struct bt_requester *rq, struct bt_rq_peer *p,
		    uint32_t id, uint64_t now);
/* Give P's requests back to the picker and free its list. */
void bt_rq_peer_release(struct bt_requester *rq, struct bt_rq_peer *p);

/* Mark the slow peers among the N of PEERS and note the rates the blocks
 * of due pieces are spread by. Call it when rates or the set of usable
 * peers (ready, unchoked) change. */
void bt_requester_rank(struct bt_requester *rq, struct bt_rq_peer *const *peers,
		       size_t n);

/* Top up P's pipeline (see the policy above). Returns the number of
 * actions written to ACT (room for BT_RQ_MAX_ACTIONS). */
size_t bt_requester_fill(struct bt_requester *rq, struct bt_rq_peer *p,
			 uint64_t now, struct bt_rq_action *act);

enum bt_rq_got {
	BT_RQ_ASKED,   /* outstanding with P: taken off its list */
	BT_RQ_LATE,    /* asked of P, then taken back (a cancel or a choke
			* crossed it): as good as asked */
	BT_RQ_UNASKED, /* never asked of P: drop it, and hold it against P */
};
/* A block (PIECE, BEGIN, LENGTH) arrived from P: was it asked for? The
 * caller passes an asked block on to the picker itself. */
enum bt_rq_got bt_requester_got(struct bt_requester *rq, struct bt_rq_peer *p,
				uint32_t piece, uint32_t begin, uint32_t length,
				uint64_t now);
/* P rejected that request (BEP 6): back to the picker. */
void bt_requester_rejected(struct bt_requester *rq, struct bt_rq_peer *p,
			   uint32_t piece, uint32_t begin, uint32_t length);
/* P choked us: all its requests go back to the picker (no cancels). */
void bt_requester_choked(struct bt_requester *rq, struct bt_rq_peer *p);
/* Cancel P's request of the block at BEGIN of PIECE, if it has one
 * (another peer sent the block): writes the cancel to *ACT, returns true. */
bool bt_requester_cancel(struct bt_requester *rq, struct bt_rq_peer *p,
			 uint32_t piece, uint32_t begin,
			 struct bt_rq_action *act);
/* Cancel every request P has of PIECE. Returns the number of cancels
 * written to ACT. */
size_t bt_requester_cancel_piece(struct bt_requester *rq, struct bt_rq_peer *p,
				 uint32_t piece, struct bt_rq_action *act);
/* For a slow P: cancel its requests of pieces due by NOW. Returns the
 * number of cancels written to ACT. */
size_t bt_requester_steal_due(struct bt_requester *rq, struct bt_rq_peer *p,
			      uint64_t now, struct bt_rq_action *act);
/* Snub check: true when P has just been snubbed (its requests went back to
 * the picker). */
bool bt_requester_check_snub(struct bt_requester *rq, struct bt_rq_peer *p,
			     uint64_t now);
/* When bt_requester_check_snub() should next look at P (UINT64_MAX: no
 * request outstanding). */
uint64_t bt_requester_snub_deadline(const struct bt_requester *rq,
				    const struct bt_rq_peer *p);
/* P's request list holds the block at BEGIN of PIECE. */
bool bt_requester_queued(const struct bt_rq_peer *p, uint32_t piece,
			 uint32_t begin);

#endif
