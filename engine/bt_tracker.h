/* bt_tracker — HTTP(S) tracker announces (BEP 3, compact peers BEP 23,
 * IPv6 peers6 BEP 7).
 *
 * Two layers. The I/O-free core builds announce URLs and parses replies
 * (bt_tracker_url, bt_tracker_parse: hostile input gives -EINVAL, never a
 * crash; peer counts are capped). The I/O part (bt_tracker_io.c) sends one
 * announce with libevent's evhttp on the engine thread: a body-size cap,
 * a timeout, and the callback always called exactly once (also on error),
 * unless bt_tracker_cancel() was called first. Only the engine thread may
 * call the I/O functions. Cancel every request before freeing the
 * event_base or evdns_base, and free the evdns_base with fail_requests = 1:
 * libevent 2.1 keeps a cancelled request's hostname lookup (and its
 * bufferevent) alive until the lookup ends, and evdns_base_free(dns, 0)
 * would leak it.
 *
 * Limitations: https:// announces are refused by bt_tracker_announce (NULL
 * and a warning) because the build does not link libevent_openssl; a
 * hostname is only resolved through the evdns_base given, never with a
 * blocking getaddrinfo() on the engine thread. */
#ifndef BT_TRACKER_H
#define BT_TRACKER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

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

struct bt_peer_addr {
	struct sockaddr_storage ss; /* AF_INET or AF_INET6 */
	socklen_t len;
};

struct bt_tracker_reply {
	char *failure;       /* "failure reason", or NULL */
	char *warning;       /* "warning message", or NULL */
	uint32_t interval;   /* seconds; defaulted to 1800 when absent, clamped
			      * to [30, 86400] */
	uint32_t min_interval;
	int64_t complete, incomplete; /* -1 when absent */
	struct bt_peer_addr *peers;
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

/* ---- I/O (engine thread only) ---- */
struct event_base;
struct evdns_base;
struct bt_tracker_req;

/* Called once per request on the engine thread, never from inside
 * bt_tracker_announce() itself. ERR is 0 with REPLY filled (possibly with
 * reply->failure), or negative with REPLY NULL: -ETIMEDOUT (no complete
 * answer within the timeout), -ECONNREFUSED or another connect errno,
 * -EHOSTUNREACH (name did not resolve), -ECONNRESET (closed before a full
 * reply), -EPROTO (HTTP status other than 200, or a malformed HTTP
 * response), -EMSGSIZE (body over BT_TRACKER_MAX_BODY), -EINVAL (body not
 * a valid tracker reply). REPLY is released after the callback returns.
 * The callback may start new announces or cancel other requests. */
typedef void (*bt_tracker_cb)(int err, const struct bt_tracker_reply *reply,
			      void *arg);

/* Start one announce of A to URL (an http:// announce URL; the query is
 * built here with bt_tracker_url). TIMEOUT_SEC bounds the whole request
 * (resolve, connect, send, receive); values < 1 mean 1. DNS may be NULL when
 * the URL's host is a numeric IPv4/IPv6 address. Returns a handle (valid
 * until the callback runs or bt_tracker_cancel) or NULL if the URL is
 * unusable: not http, https (unsupported, see above), a hostname with no
 * DNS base, or out of memory. Every pending request must be cancelled
 * before BASE (or DNS) is freed. */
struct bt_tracker_req *bt_tracker_announce(struct event_base *base,
					   struct evdns_base *dns,
					   const char *url,
					   const struct bt_announce *a,
					   int timeout_sec, bt_tracker_cb cb,
					   void *arg);
/* Abort a request and free it; its callback will not be called. NULL is a
 * no-op. Must not be called after the callback has run. */
void bt_tracker_cancel(struct bt_tracker_req *req);

#endif
