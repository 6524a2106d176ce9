/* bt_tracker — HTTP(S) tracker announces (BEP 3, compact peers BEP 23,
 * IPv6 peers6 BEP 7).
 *
 * I/O-free: builds announce URLs and parses replies (bt_tracker_url,
 * bt_tracker_parse: hostile input gives -EINVAL, never a crash; peer counts
 * are capped). The announce itself is engine/io/bt_tracker_io.h. */
#ifndef BT_TRACKER_H
#define BT_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"

#define BT_TRACKER_MAX_PEERS 2000
#define BT_TRACKER_MAX_BODY (1024 * 1024)

enum bt_tracker_event {
	BT_EVENT_NONE = 0,
	BT_EVENT_STARTED,
	BT_EVENT_STOPPED,
	BT_EVENT_COMPLETED,
};

struct bt_announce {
	uint8_t info_hash[20];
	uint8_t peer_id[20];
	uint16_t port;
	uint64_t uploaded, downloaded, left;
	enum bt_tracker_event event;
	int numwant;  /* omitted from the URL when negative */
	uint32_t key; /* random per session; sent as 8 hex digits */
	const char *tracker_id; /* "tracker id" from an earlier reply, sent
				 * back as trackerid=; NULL or "" for none */
	const char *local_ip; /* connect from this address (not part of the
			       * URL); NULL = any */
};

struct bt_tracker_reply {
	char *failure;       /* "failure reason", or NULL */
	char *warning;       /* "warning message", or NULL */
	uint32_t interval;   /* seconds; defaulted to 1800 when absent, clamped
			      * to [30, 86400] */
	uint32_t min_interval;
	int64_t complete, incomplete; /* -1 when absent */
	struct bt_addr *peers;
	size_t npeers;
	char *tracker_id; /* "tracker id", or NULL; pass it back in
			   * bt_announce.tracker_id on later announces */
};

/* Build the GET URL for announce URL BASE (which may already carry a query):
 * BASE?info_hash=..&peer_id=..&port=&uploaded=&downloaded=&left=&compact=1
 * &numwant=&key=&event=started|stopped|completed (event only when not
 * BT_EVENT_NONE), '&' instead of '?' when BASE has a query. Every byte
 * outside [A-Za-z0-9.-_~] is percent-encoded. Returns 0, or -ENAMETOOLONG
 * when CAP is too small, -EINVAL for a BASE that is not http(s)://host...,
 * has a fragment, or contains spaces, control or non-ASCII bytes. */
int bt_tracker_url(char *out, size_t cap, const char *base,
		   const struct bt_announce *a);
/* Parse a tracker reply body (bencoded dict; compact or dictionary peers;
 * peers6). Peers with port 0 are skipped. Returns 0, -EINVAL with ERR, or
 * -ENOMEM. A reply with "failure reason" parses successfully with
 * reply->failure set (other fields left at their defaults).
 * Details: whitespace after the dict is tolerated; a wrong type for
 * "failure reason", "interval", "peers" or "peers6", a compact "peers"
 * length that is not a multiple of 6 or "peers6" not a multiple of 18 is
 * -EINVAL; informational fields of the wrong type ("warning message",
 * "min interval", "complete", "incomplete", "tracker id") are ignored.
 * Dictionary peers need "ip" as a literal IPv4/IPv6 address (hostnames are
 * skipped) and "port" in 1..65535; malformed entries are skipped.
 * Unspecified, multicast and broadcast addresses are skipped; v4-mapped
 * IPv6 addresses become AF_INET. At most BT_TRACKER_MAX_PEERS peers are
 * kept. Text fields are truncated to 1 KiB, control characters replaced
 * by '?'. On error REPLY is left released (safe to release again). */
int bt_tracker_parse(const uint8_t *body, size_t len,
		     struct bt_tracker_reply *reply, char *err, size_t errlen);
void bt_tracker_reply_release(struct bt_tracker_reply *reply);

#endif
