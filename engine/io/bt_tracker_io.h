/* bt_tracker_io — one HTTP or HTTPS tracker announce over libevent's evhttp,
 * on the engine thread (the I/O half of bt_tracker; the codec is
 * bt_tracker.h). A body-size cap, a timeout, and the callback always
 * called exactly once (also on error), unless bt_tracker_cancel() was
 * called first. Only the engine thread may call these functions. Cancel
 * every request before freeing the event_base or evdns_base, and free the
 * evdns_base with fail_requests = 1: libevent 2.1 keeps a cancelled
 * request's hostname lookup (and its bufferevent) alive until the lookup
 * ends, and evdns_base_free(dns, 0) would leak it.
 *
 * https:// goes through OpenSSL (libevent's bufferevent_openssl): TLS 1.2
 * or later, the tracker's certificate verified against the trust store of
 * a struct bt_tracker_tls (the system's: OpenSSL's default verify paths,
 * which honour SSL_CERT_FILE and SSL_CERT_DIR; or one CA file, for tests),
 * the host name of the URL checked against the certificate (an IP literal
 * against its IP addresses) and sent as SNI (names only, as RFC 6066
 * says). A certificate that does not verify fails the announce with
 * -EKEYREJECTED and a reason naming the problem ("certificate verify
 * failed: hostname mismatch", "... unable to get local issuer
 * certificate"), logged as a warning.
 *
 * A hostname is only resolved through the evdns_base given, never with a
 * blocking getaddrinfo() on the engine thread. */
#ifndef BT_TRACKER_IO_H
#define BT_TRACKER_IO_H

#include "bt_tracker.h"

struct event_base;
struct evdns_base;
struct bt_tracker_req;
struct bt_tracker_tls;

/* Called once per request on the engine thread, never from inside
 * bt_tracker_announce() itself. ERR is 0 with REPLY filled (possibly with
 * reply->failure), or negative with REPLY NULL: -ETIMEDOUT (no complete
 * answer within the timeout), -ECONNREFUSED or another connect errno,
 * -EHOSTUNREACH (name did not resolve), -ECONNRESET (closed before a full
 * reply), -EPROTO (HTTP status other than 200, a malformed HTTP response,
 * or a TLS handshake that failed for a reason other than the
 * certificate), -EKEYREJECTED (the certificate did not verify), -EMSGSIZE
 * (body over BT_TRACKER_MAX_BODY), -EINVAL (body not a valid tracker
 * reply). REPLY is released after the callback returns. The callback may
 * start new announces or cancel other requests. */
typedef void (*bt_tracker_cb)(int err, const struct bt_tracker_reply *reply,
			      void *arg);
/* The same, with WHY: NULL when ERR is 0, else a one-line reason for
 * `p2pfs status` ("http 404 'Not Found'", "certificate verify failed:
 * hostname mismatch", ...), valid during the call. */
typedef void (*bt_tracker_why_cb)(int err, const char *why,
				  const struct bt_tracker_reply *reply,
				  void *arg);

/* A TLS client context for https:// announces, shared by any number of
 * requests. CA_FILE NULL: the system's trust store (default verify paths);
 * else only the certificates of that PEM file are trusted (tests). Returns
 * NULL with ERR on failure. It may be freed while requests that used it
 * are pending (each holds its own reference). */
struct bt_tracker_tls *bt_tracker_tls_new(const char *ca_file, char *err,
					  size_t errlen);
void bt_tracker_tls_free(struct bt_tracker_tls *tls);

/* Start one announce of A to URL (an http:// or https:// announce URL; the
 * query is built here with bt_tracker_url). TLS is used for https:// (NULL:
 * a context of the system's trust store made for this request alone).
 * TIMEOUT_SEC bounds the whole request (resolve, connect, TLS handshake,
 * send, receive); values < 1 mean 1. DNS may be NULL when the URL's host
 * is a numeric IPv4/IPv6 address. Returns a handle (valid until the
 * callback runs or bt_tracker_cancel) or NULL if the URL is unusable: not
 * http(s), a hostname with no DNS base, no TLS context could be made, or
 * out of memory. Every pending request must be cancelled before BASE (or
 * DNS) is freed. */
struct bt_tracker_req *bt_tracker_announce_tls(
	struct event_base *base, struct evdns_base *dns,
	struct bt_tracker_tls *tls, const char *url,
	const struct bt_announce *a, int timeout_sec, bt_tracker_why_cb cb,
	void *arg);
/* The same with the system's trust store and no reason text. */
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
