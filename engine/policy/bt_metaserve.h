/* bt_metaserve — the serving side of BEP 9: answer a peer's ut_metadata
 * requests from the info dict we have, rate-limited per peer.
 *
 * I/O-free, driven by `now` (ms). A struct bt_metaserve is the small state
 * kept per peer (embedded in the peer, _init, no release needed). Without
 * an info dict (a torrent still in its metadata phase) every request gets
 * a reject, as BEP 9 asks. Requests are paid from a token bucket
 * (BT_METASERVE_BURST requests, refilled at BT_METASERVE_RATE a second:
 * a whole 1 MiB dict is 64 requests); over it they get rejects, and a peer
 * that keeps asking through BT_METASERVE_MAX_OVER rejects in a row is
 * flooding. Owned by the thread that owns the peer. */
#ifndef BT_METASERVE_H
#define BT_METASERVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bt_utmeta.h"

#define BT_METASERVE_BURST    128u
#define BT_METASERVE_RATE     32u /* requests per second */
#define BT_METASERVE_MAX_OVER 1024u
/* Room an answer needs. */
#define BT_METASERVE_OUT_MAX (BT_UTMETA_MAX_HEADER + BT_UTMETA_PIECE_LEN)

struct bt_metaserve {
	uint64_t tokens; /* in thousandths of a request */
	uint64_t last;	 /* ms of the last refill */
	uint32_t over;	 /* rate-limited requests in a row */
	uint64_t served, rejected;
};

void bt_metaserve_init(struct bt_metaserve *s, uint64_t now);

/* Answer REQ (a parsed request). INFO/INFO_LEN: our info dict, or NULL.
 * Writes the data message, or a reject (no dict, piece out of range, over
 * the rate), into OUT (CAP >= BT_METASERVE_OUT_MAX) and returns its
 * length; -EPROTO when the peer floods (drop it); -EINVAL when REQ is not
 * a request or CAP is too small. */
ssize_t bt_metaserve_answer(struct bt_metaserve *s, const uint8_t *info,
			    size_t info_len, const struct bt_utmeta_msg *req,
			    uint64_t now, uint8_t *out, size_t cap);

#endif
