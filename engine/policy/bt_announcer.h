/* bt_announcer — the announce policy of one torrent over its trackers:
 * which tracker to announce to, with which event, and when (BEP 3 events,
 * BEP 12 tiers). I/O-free: it hands out actions ("announce to URL with
 * event E"), its caller does the I/O (bt_tracker_io for http:// and
 * https://, bt_udptrk_client for udp://, told apart by the action's kind)
 * and reports each result back; the announcer keeps every tracker's state
 * for `p2pfs status`.
 *
 * BEP 12, as its text says: the trackers are grouped in tiers; each tier is
 * shuffled once ("shuffled when first read", here at the first start; a
 * tracker added later goes to a random place in its tier); an announce
 * tries the trackers of the first tier in order, then those of the next
 * tier, until one answers; the one that answered moves to the front of its
 * tier, so the next announce starts with it ("on the next announce, repeat
 * in the same order"). One announce is in flight at a time. A tracker that
 * answers with a failure reason (or a BEP 15 error) counts as one that did
 * not answer: the next one is tried.
 *
 * Events (BEP 3), kept per tracker since any tracker of the list may be
 * the one that answers: `started` to a tracker until it acknowledged one;
 * `completed` once, to a tracker that had acknowledged `started` while we
 * were still downloading, as soon as the download completes (never when
 * the torrent was complete at start); `stopped` at stop to every tracker
 * that got (or may have got) a `started`, all at once, with a short
 * timeout and no retry. Regular announces come `interval` after the last
 * success, never sooner than its `min interval`; an early one for more
 * peers (bt_announcer_want_peers) waits for the min interval (or
 * BT_ANNOUNCER_MIN_REANNOUNCE_MS when the tracker gave none). When every
 * tracker of every tier failed, the next attempt comes after a back-off:
 * retry_base · 2^(k−1) for the k-th failed round in a row, capped at
 * retry_max. Intervals are clamped to [30 s, 1 day] whatever the reply
 * says (a hostile 0 or −1 cannot make us hammer the tracker).
 *
 * Private torrents (BEP 27) announce the same way; what changes for them is
 * elsewhere: the engine never uses the DHT, PEX or LSD for them, so their
 * trackers are the only peer source.
 *
 * A struct bt_announcer belongs to its caller's thread (the engine
 * thread); nothing here locks. */
#ifndef BT_ANNOUNCER_H
#define BT_ANNOUNCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_tracker.h"

#define BT_ANNOUNCER_NUMWANT	       80
#define BT_ANNOUNCER_RETRY_BASE_MS     15000
#define BT_ANNOUNCER_RETRY_MAX_MS      (10 * 60 * 1000)
#define BT_ANNOUNCER_MIN_REANNOUNCE_MS 60000
#define BT_ANNOUNCER_TIMEOUT_MS	       30000 /* an http(s) announce */
#define BT_ANNOUNCER_STOP_TIMEOUT_MS   5000  /* a `stopped` at shutdown */
#define BT_ANNOUNCER_MAX_TRACKERS      1000
#define BT_ANNOUNCER_INTERVAL_MIN_S    30
#define BT_ANNOUNCER_INTERVAL_MAX_S    86400

enum bt_announcer_kind {
	BT_ANNOUNCER_HTTP,  /* http:// */
	BT_ANNOUNCER_HTTPS, /* https:// */
	BT_ANNOUNCER_UDP,   /* udp:// (BEP 15) */
};

struct bt_announcer_cfg {
	int numwant;		    /* peers asked for (0 with `stopped`) */
	uint64_t retry_base_ms;	    /* back-off after a failed round */
	uint64_t retry_max_ms;	    /* its cap */
	uint64_t min_reannounce_ms; /* want_peers when no min interval */
	uint64_t timeout_ms;	    /* suggested timeout of an announce */
	uint64_t stop_timeout_ms;   /* ... and of a `stopped` */
	uint64_t seed;		    /* of the tier shuffle */
};

/* The defaults above. */
void bt_announcer_defaults(struct bt_announcer_cfg *cfg);

/* What to announce where. Strings belong to the announcer and stay valid
 * until the tracker's next result or bt_announcer_free(). */
struct bt_announcer_action {
	uint64_t id;	 /* give it back to bt_announcer_result() */
	size_t tracker;	 /* index, as for bt_announcer_info() */
	const char *url; /* the announce URL as added */
	enum bt_announcer_kind kind;
	enum bt_tracker_event event;
	int numwant;
	const char *tracker_id; /* HTTP "tracker id" to send back, or NULL */
	uint64_t timeout_ms;	/* suggested; a UDP client may use less */
};

/* One tracker's state, for `p2pfs status`. Times are the caller's clock
 * (ms); 0 = never. */
struct bt_announcer_info {
	const char *url;
	enum bt_announcer_kind kind;
	unsigned tier;
	unsigned position;	   /* in the order of tries, 0 = asked first */
	bool updating;		   /* an announce to it is in flight */
	bool working;		   /* its last announce succeeded */
	uint64_t last_announce_ms; /* when the last announce to it started */
	uint64_t last_ok_ms;	   /* when one last succeeded */
	size_t last_peers;	   /* peers in its last reply */
	uint64_t total_peers;	   /* peers it gave in all */
	int64_t seeders, leechers; /* from its last reply; -1 unknown */
	uint32_t interval_s, min_interval_s; /* from its last reply; 0 none */
	unsigned fails;			     /* failures in a row */
	char last_error[192]; /* "" when its last announce succeeded */
	char warning[192];    /* its last warning message, or "" */
	/* when the next announce round starts (UINT64_MAX: none planned);
	 * with STANDBY this tracker is asked in it only if every tracker
	 * before it fails */
	uint64_t next_try_ms;
	bool standby;
};

struct bt_announcer;

/* Returns NULL on allocation failure. CFG may be NULL (defaults). */
struct bt_announcer *bt_announcer_new(const struct bt_announcer_cfg *cfg);
void bt_announcer_free(struct bt_announcer *an);

/* Add announce URL URL (http://, https:// or udp://, case-insensitive) in
 * TIER (0 first; BEP 12's list index; trackers of one tier in the order
 * added, shuffled at start). Returns its index, or -EPROTONOSUPPORT
 * (another scheme), -EEXIST (already there), -ENOBUFS (more than
 * BT_ANNOUNCER_MAX_TRACKERS), -ENOMEM. */
int bt_announcer_add(struct bt_announcer *an, const char *url, unsigned tier);

/* Start announcing (`started` now). COMPLETE: the torrent is complete
 * already (a seed), so `completed` is never sent. Returns 0, or -EALREADY
 * if started before (a stopped announcer is not restarted). */
int bt_announcer_start(struct bt_announcer *an, bool complete, uint64_t now);
/* The download completed: `completed` as soon as possible. */
void bt_announcer_completed(struct bt_announcer *an, uint64_t now);
/* We want more peers: announce early, when the min interval allows. No
 * effect while backing off after failures. */
void bt_announcer_want_peers(struct bt_announcer *an, uint64_t now);
/* Stop: no more regular announces; `stopped` actions follow from
 * bt_announcer_next(). Returns the id of an announce in flight that is now
 * of no interest (the caller may cancel it; its result is ignored), or 0. */
uint64_t bt_announcer_stop(struct bt_announcer *an, uint64_t now);
/* After bt_announcer_stop(): every `stopped` was handed out and got its
 * result (the caller may stop waiting earlier). */
bool bt_announcer_done(const struct bt_announcer *an);

/* The next action due at NOW into *ACT; returns true if there was one.
 * Call until it returns false. */
bool bt_announcer_next(struct bt_announcer *an, uint64_t now,
		       struct bt_announcer_action *act);
/* The result of action ID: ERR 0 with REPLY (a failure when
 * reply->failure is set), or negative with WHY (may be NULL: then
 * strerror). Returns 0, or -ENOENT for an id that is not in flight (a late
 * result after stop, say: ignored). */
int bt_announcer_result(struct bt_announcer *an, uint64_t id, int err,
			const char *why, const struct bt_tracker_reply *reply,
			uint64_t now);
/* When bt_announcer_next() next has something (NOW or earlier: at once;
 * UINT64_MAX: nothing planned, e.g. before start, or while waiting for a
 * result). */
uint64_t bt_announcer_deadline(const struct bt_announcer *an);

size_t bt_announcer_count(const struct bt_announcer *an);
/* Tracker I's state (I < count). Returns 0 or -ENOENT. */
int bt_announcer_info(const struct bt_announcer *an, size_t i,
		      struct bt_announcer_info *out);

#endif
