/* bt_pexstate — per-peer PEX (BEP 11) state: what we told the peer, when
 * we may tell it more, and how much we take from it.
 *
 * I/O-free, driven by `now` (ms). Embedded in a peer (_init/_release),
 * owned by the thread that owns the peer.
 *
 * Outgoing: at most one message a minute (BT_PEXSTATE_INTERVAL_MS, the
 * first as soon as the extension handshake is done), holding the
 * difference between the torrent's live peers and what this peer was
 * already told: at most 50 added and 50 dropped (BEP 11). What it was
 * told is remembered, at most BT_PEXSTATE_MAX_TOLD addresses.
 *
 * Incoming: a message less than BT_PEXSTATE_MIN_GAP_MS after the last one
 * taken is ignored and counted as a violation, as is one listing more
 * than BT_PEXSTATE_FLOOD_ADDED peers; of the rest, at most 50 added peers
 * a message are kept (BT_PEX_MAX_PARSE from the first one, which clients
 * use for their full list), and at most BT_PEXSTATE_MAX_LEARN over the
 * connection's life: a peer cannot flood the address book with fake
 * addresses. A peer with BT_PEXSTATE_MAX_VIOLATIONS violations, or a
 * malformed message, is misbehaving: the caller drops it. */
#ifndef BT_PEXSTATE_H
#define BT_PEXSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_pex.h"

#define BT_PEXSTATE_INTERVAL_MS	   60000u
#define BT_PEXSTATE_MIN_GAP_MS	   40000u /* some tolerance below a minute */
#define BT_PEXSTATE_MAX_TOLD	   200u
#define BT_PEXSTATE_MAX_LEARN	   1000u
#define BT_PEXSTATE_FLOOD_ADDED	   200u
#define BT_PEXSTATE_MAX_VIOLATIONS 3u

struct bt_pexstate {
	struct bt_addr *told; /* sorted (memcmp), at most MAX_TOLD */
	size_t ntold;
	uint64_t next_send;
	uint64_t last_in;
	bool got_in;
	uint32_t violations;
	uint32_t learned;
	bool malformed;
};

/* Returns 0 or -ENOMEM. The first message may go at NOW. */
int bt_pexstate_init(struct bt_pexstate *ps, uint64_t now);
void bt_pexstate_release(struct bt_pexstate *ps);

/* When the next outgoing message is due. */
uint64_t bt_pexstate_deadline(const struct bt_pexstate *ps);

/* If a message is due at NOW: the difference between LIVE (the torrent's
 * connected peers that may be shared, in order of preference; EXCLUDE, the
 * peer itself, is skipped if given) and what the peer was told, encoded
 * into B. Returns 1 when a message was written, 0 when none is due or
 * nothing changed (the next check is a minute later), or -ENOMEM. */
int bt_pexstate_build(struct bt_pexstate *ps, const struct bt_pex_peer *live,
		      size_t nlive, const struct bt_addr *exclude, uint64_t now,
		      struct bt_benc *b);

/* An incoming ut_pex payload. Returns 0 with the peers to use in *M
 * (already capped), 1 when the message is ignored (*M empty: too soon, or
 * the peer's budget is spent), -EPROTO when malformed (reason in ERR), or
 * -ENOMEM. After any of these, check bt_pexstate_misbehaving(). */
int bt_pexstate_on_msg(struct bt_pexstate *ps, const uint8_t *p, size_t len,
		       uint64_t now, struct bt_pex_msg *m, char *err,
		       size_t errlen);

bool bt_pexstate_misbehaving(const struct bt_pexstate *ps);

#endif
