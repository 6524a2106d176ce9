/* bt_tracker — HTTP(S) tracker announces (BEP 3, compact peers BEP 23,
 * IPv6 peers6 BEP 7).
 *
 * Two layers. The I/O-free core builds announce URLs and parses replies
 * (bt_tracker_url, bt_tracker_parse: hostile input gives -EINVAL, never a
 * crash; peer counts are capped). The I/O part (bt_tracker_io.c) sends one
 * announce with libevent's evhttp on the engine thread: a body-size cap,
 * a timeout, and the callback always called exactly once (also on error),
 * unless bt_tracker_cancel() was called first. Only the engine thread may
 * call the I/O functions. */
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
	int numwant;
	uint32_t key; /* random per session */
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
};

/* Build the GET URL for announce URL BASE (which may already carry a query).
 * Returns 0, or -ENAMETOOLONG when CAP is too small, -EINVAL for a BASE that
 * is not http(s). */
int bt_tracker_url(char *out, size_t cap, const char *base,
		   const struct bt_announce *a);
/* Parse a tracker reply body (bencoded dict; compact or dictionary peers;
 * peers6). Peers with port 0 are skipped. Returns 0, -EINVAL with ERR, or
 * -ENOMEM. A reply with "failure reason" parses successfully with
 * reply->failure set. */
int bt_tracker_parse(const uint8_t *body, size_t len,
		     struct bt_tracker_reply *reply, char *err, size_t errlen);
void bt_tracker_reply_release(struct bt_tracker_reply *reply);

/* ---- I/O (engine thread only) ---- */
struct event_base;
struct evdns_base;
struct bt_tracker_req;

/* Called once per request on the engine thread. ERR is 0 with REPLY filled
 * (possibly with reply->failure), or -errno / -EINVAL / -ETIMEDOUT with
 * REPLY NULL. REPLY is released after the callback returns. */
typedef void (*bt_tracker_cb)(int err, const struct bt_tracker_reply *reply,
			      void *arg);

/* Start one announce of A to URL. Returns a handle (valid until the callback
 * runs or bt_tracker_cancel) or NULL if the URL is unusable. */
struct bt_tracker_req *bt_tracker_announce(struct event_base *base,
					   struct evdns_base *dns,
					   const char *url,
					   const struct bt_announce *a,
					   int timeout_sec, bt_tracker_cb cb,
					   void *arg);
/* Abort a request; its callback will not be called. */
void bt_tracker_cancel(struct bt_tracker_req *req);

#endif
