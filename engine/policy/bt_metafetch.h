/* bt_metafetch — fetch a torrent's info dict from its peers (BEP 9), for a
 * torrent in its metadata phase (a magnet link: only the info-hash known).
 *
 * I/O-free and driven by `now` (ms, monotonic). The caller (the torrent)
 * tells it which peers offer ut_metadata and of what size, hands it the
 * ut_metadata data/reject messages those peers send, and calls
 * bt_metafetch_poll() after each input and at bt_metafetch_deadline():
 * poll returns the actions to carry out (send a request; drop a proven
 * liar; the info dict is done).
 *
 * How it fetches:
 * - The info dict is cut into 16 KiB pieces; each missing piece is asked of
 *   one peer at a time, spread over the peers (at most per_peer_inflight
 *   outstanding per peer). A request unanswered after timeout_ms is asked
 *   of another peer; an answer that comes late is still taken. A reject
 *   backs that peer off; a peer that times out or rejects too often is not
 *   asked again (it is not blamed: it may not have the metadata yet).
 * - Peers may announce different metadata_size values. The size announced
 *   by the most usable peers is fetched first; peers of other sizes wait.
 *   Once the info dict verifies, peers that announced another size are
 *   reported as liars (the info-hash fixes the size).
 * - The whole dict is checked against the info-hash. When it fails and all
 *   pieces came from one peer, that peer lied. When several peers
 *   contributed, the failed copy is kept as evidence and the dict is
 *   fetched again from one peer alone, peer after peer: a single-source
 *   copy that fails proves its peer a liar; one that verifies proves a
 *   liar every contributor whose pieces differ from it. So nobody is blamed
 *   for another peer's lie. When every peer of a size has lied, the next
 *   size is tried.
 * - Data nobody asked that peer for, a data message whose total_size is
 *   not the size the peer announced, are protocol errors
 *   (bt_metafetch_on_msg() returns -EPROTO: drop the peer).
 *
 * Memory is bounded: at most max_peers peers (64), at most two copies of
 * the info dict (the one being assembled and the evidence), each at most
 * max_size (BT_EXT_MAX_METADATA_SIZE, 16 MiB), a bit per piece per peer,
 * and the last 4,096 liars reported.
 *
 * Peers are named by an opaque uint64_t the caller chooses and never
 * reuses for another connection (a liar's id stays refused). One thread (the
 * engine's) owns a bt_metafetch; no locks. */
#ifndef BT_METAFETCH_H
#define BT_METAFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_utmeta.h"

#define BT_METAFETCH_MAX_INFLIGHT 16 /* cap of per_peer_inflight */

struct bt_metafetch_cfg {
	uint32_t max_peers;	    /* peers tracked at once (64) */
	uint32_t per_peer_inflight; /* outstanding requests per peer (4) */
	uint64_t timeout_ms;	    /* re-ask elsewhere after this (5000) */
	uint32_t max_timeouts;	    /* then the peer is not asked again (3) */
	uint32_t max_rejects;	    /* likewise for rejects (4) */
	uint64_t reject_backoff_ms; /* no request to a peer after its
				     * reject for this long (5000) */
	uint32_t max_size;	    /* largest info dict (BT_EXT_MAX_...) */
};

enum bt_metafetch_act {
	BT_METAFETCH_REQUEST, /* send a ut_metadata request for PIECE to PEER */
	BT_METAFETCH_LIAR,    /* PEER is proven to have sent false metadata:
			       * drop and ban it (it may be a peer already
			       * removed); WHY says how it was caught */
	BT_METAFETCH_DONE,    /* the info dict is complete and verified:
			       * bt_metafetch_info() */
};

struct bt_metafetch_action {
	enum bt_metafetch_act kind;
	uint64_t peer;
	uint32_t piece;
	const char *why; /* static text, LIAR only */
};

struct bt_metafetch;

/* The defaults above. */
void bt_metafetch_cfg_default(struct bt_metafetch_cfg *cfg);

/* A fetcher for the info dict of INFO_HASH; CFG NULL = defaults. NULL with
 * *ERR = -ENOMEM or -EINVAL (a bad CFG). */
struct bt_metafetch *bt_metafetch_new(const uint8_t info_hash[20],
				      const struct bt_metafetch_cfg *cfg,
				      int *err);
void bt_metafetch_free(struct bt_metafetch *mf);

/* PEER's extension handshake offers ut_metadata with METADATA_SIZE bytes.
 * Calling it again for the same peer with another size starts that peer
 * afresh. When max_peers are tracked, a peer that is asked no more (too
 * many time-outs or rejects) and owes no answer is forgotten to make room
 * (data it sends later is then a protocol error). Returns 0, -EINVAL
 * (size 0 or over max_size, or a reported liar), -ENOSPC (no room: try
 * again when a peer goes) or -ENOMEM. After DONE it is a no-op. */
int bt_metafetch_add_peer(struct bt_metafetch *mf, uint64_t peer,
			  uint32_t metadata_size, uint64_t now);
/* PEER is gone (closed, or it disabled ut_metadata): what it was asked is
 * asked of others. Unknown peers are ignored. */
void bt_metafetch_remove_peer(struct bt_metafetch *mf, uint64_t peer);

/* A parsed ut_metadata message from PEER (bt_utmeta_parse()). Data and
 * rejects are used; requests are not this module's (see bt_metaserve);
 * other types are ignored. Returns 0, or -EPROTO with a reason in ERR when
 * the peer broke the protocol (unrequested data, a total_size that is not
 * the size it announced): the caller drops it; it is removed here. */
int bt_metafetch_on_msg(struct bt_metafetch *mf, uint64_t peer,
			const struct bt_utmeta_msg *m, uint64_t now, char *err,
			size_t errlen);

/* Advance to NOW: expire requests, verify, plan requests. Writes up to CAP
 * actions into OUT and returns how many; when that is CAP, call again.
 * DONE comes once. */
size_t bt_metafetch_poll(struct bt_metafetch *mf, uint64_t now,
			 struct bt_metafetch_action *out, size_t cap);

/* When to call poll next without new input: the earliest request timeout
 * or reject back-off, UINT64_MAX when only new input can help. */
uint64_t bt_metafetch_deadline(const struct bt_metafetch *mf);

/* Pieces held and total for the size being fetched (0/0 before a size is
 * known), for progress output. */
void bt_metafetch_progress(const struct bt_metafetch *mf, uint32_t *have,
			   uint32_t *total);
bool bt_metafetch_done(const struct bt_metafetch *mf);
/* The verified info dict (owned by MF, valid until it is freed), or NULL
 * before DONE. */
const uint8_t *bt_metafetch_info(const struct bt_metafetch *mf, size_t *len);

#endif
