/* bt_tracker_io — one HTTP tracker announce over libevent's evhttp, on the
 * engine thread (the I/O half of bt_tracker; the codec is bt_tracker.h).
 * A body-size cap, a timeout, and the callback always called exactly once
 * (also on error), unless bt_tracker_cancel() was called first. Only the
 * engine thread may call these functions. Cancel every request before
 * freeing the event_base or evdns_base, and free the evdns_base with
 * fail_requests = 1: libevent 2.1 keeps a cancelled request's hostname
 * lookup (and its bufferevent) alive until the lookup ends, and
 * evdns_base_free(dns, 0) would leak it.
 *
 * Limitations: https:// announces are refused by bt_tracker_announce (NULL
 * and a warning) because the build does not link libevent_openssl; a
 * hostname is only resolved through the evdns_base given, never with a
 * blocking getaddrinfo() on the engine thread. */
#ifndef BT_TRACKER_IO_H
#define BT_TRACKER_IO_H

#include "bt_tracker.h"

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
