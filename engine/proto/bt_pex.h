/* bt_pex — BEP 11 peer exchange (ut_pex) messages: the payload of an
 * extended message sent under the peer's ut_pex id.
 *
 *   added, added6      compact addresses (6 / 18 bytes each) of peers the
 *                      sender connected to since its last message
 *   added.f, added6.f  one flag byte per added peer (BT_PEX_F_*)
 *   dropped, dropped6  peers it has disconnected from
 *
 * Parsing is bounded: at most BT_PEX_MAX_PARSE added and as many dropped
 * peers are kept from one message (BEP 11 allows 50 a message; the excess
 * is counted, not kept); unusable addresses (port 0, unspecified,
 * multicast) and duplicates are skipped and counted. A list whose length
 * is not a multiple of its entry size is malformed; flags whose length
 * does not match their list are ignored (flags 0).
 *
 * Stateless, any thread; what to send and when is bt_pexstate's. */
#ifndef BT_PEX_H
#define BT_PEX_H

#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"
#include "bt_bencode.h"

#define BT_PEX_MAX_PER_MSG 50  /* BEP 11: added, and dropped, per message */
#define BT_PEX_MAX_PARSE   100 /* kept from one incoming message, each list */
#define BT_PEX_MAX_MSG_LEN (16u * 1024) /* larger payloads are refused */

/* added.f bits (BEP 11) */
#define BT_PEX_F_ENCRYPTION 0x01 /* prefers encryption */
#define BT_PEX_F_SEED	    0x02 /* seed / upload only */
#define BT_PEX_F_UTP	    0x04 /* supports uTP */
#define BT_PEX_F_HOLEPUNCH  0x08 /* supports ut_holepunch */
#define BT_PEX_F_REACHABLE  0x10 /* outgoing connection: reachable */

struct bt_pex_peer {
	struct bt_addr addr;
	uint8_t flags;
};

struct bt_pex_msg {
	struct bt_pex_peer added[BT_PEX_MAX_PARSE]; /* v4 first, then v6 */
	size_t nadded;
	struct bt_addr dropped[BT_PEX_MAX_PARSE];
	size_t ndropped;
	size_t total_added; /* entries in the message, before any cap */
	size_t total_dropped;
	size_t nskipped; /* unusable or duplicate, or over the cap */
};

/* Parse a payload into *M. Returns 0, -EPROTO (with a one-line reason:
 * not a dictionary, a list of a bad length, over BT_PEX_MAX_MSG_LEN) or
 * -ENOMEM. Never aborts. */
int bt_pex_parse(const uint8_t *p, size_t len, struct bt_pex_msg *m, char *err,
		 size_t errlen);

/* Encode a message of ADDED (with flags) and DROPPED peers, either family,
 * into B. Callers keep to BT_PEX_MAX_PER_MSG of each; more is -EINVAL.
 * Empty lists are written as empty strings (as libtorrent does). Returns
 * 0, -EINVAL or the buffer's error. */
int bt_pex_build(const struct bt_pex_peer *added, size_t nadded,
		 const struct bt_addr *dropped, size_t ndropped,
		 struct bt_benc *b);

#endif
