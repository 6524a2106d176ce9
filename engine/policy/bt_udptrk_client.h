/* bt_udptrk_client — the BEP 15 UDP tracker client, I/O-free: announces to
 * any number of UDP trackers at once over one datagram socket that its
 * caller owns (the engine's one UDP socket, shared with the DHT and uTP).
 *
 * The caller gives the tracker as an address (resolving the udp:// URL's
 * host is its job: bt_udptrk_url_parse() splits the URL), feeds every
 * datagram that looks like a BEP 15 reply to bt_udptrk_client_input(),
 * calls bt_udptrk_client_periodic() at the deadline it returns, and sends
 * what the client asks through the send function of its configuration.
 * Results come back through a callback, the same shape as an HTTP
 * announce's (bt_tracker_io.h): a struct bt_tracker_reply.
 *
 * Per request: a connect exchange, unless a connection id for that
 * tracker address is cached (one is used for BT_UDPTRK_CONN_TTL_MS after it
 * arrived, as BEP 15 allows; announces to the same tracker share one
 * connect exchange), then the announce.
 * Transaction ids are random (from the injected random source), unique
 * among live transactions, and a reply is taken only with a live id, from
 * the very address the request went to, and of the action expected; any
 * other datagram is ignored (a stray) and counted. Each step is
 * retransmitted when no reply came within base · 2^n (BEP 15: 15 s · 2^n, n
 * counting the retransmissions of that step and reset by any reply) and
 * fails after `retries` retransmissions with -ETIMEDOUT: with the defaults
 * (base 15 s, 1 retransmission) a silent tracker is declared failed 45 s
 * after the last reply, so the announcer can fall to the next BEP 12 tier
 * well within a reader's patience while a single lost datagram per step
 * still costs nothing but time. BEP 15's full schedule (n up to 8, about
 * two hours) is `retries = 8`.
 *
 * A struct bt_udptrk_client belongs to one thread (the engine thread);
 * nothing here locks. Callbacks run only inside bt_udptrk_client_input(),
 * _periodic() and _unreachable(), never inside _announce(); a callback may
 * start or cancel requests, but must not free the client. */
#ifndef BT_UDPTRK_CLIENT_H
#define BT_UDPTRK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"
#include "bt_tracker.h"

#define BT_UDPTRK_BASE_TIMEOUT_MS 15000 /* BEP 15: 15 · 2^n seconds */
#define BT_UDPTRK_RETRIES	  1	/* retransmissions per step */
#define BT_UDPTRK_RETRIES_MAX	  8	/* BEP 15: n up to 8 */
#define BT_UDPTRK_CONN_TTL_MS	  60000 /* BEP 15: one minute */
#define BT_UDPTRK_MAX_REQUESTS	  4096	/* live requests */
#define BT_UDPTRK_MAX_TRACKERS	  1024	/* tracker addresses remembered */

/* Sends LEN bytes of BUF to TO; returns 0 or -errno. -EAGAIN, -ENOBUFS,
 * -EINTR and -ENOMEM count as a lost datagram (the timer retransmits); any
 * other error fails the request(s) at once with it. */
typedef int (*bt_udptrk_send_fn)(void *arg, const struct bt_addr *to,
				 const uint8_t *buf, size_t len);
/* Fills BUF with LEN unpredictable bytes (transaction ids must not be
 * guessable by an off-path spoofer). */
typedef void (*bt_udptrk_random_fn)(void *arg, uint8_t *buf, size_t len);

struct bt_udptrk_client_cfg {
	bt_udptrk_send_fn send_fn; /* required */
	void *send_arg;
	/* NULL: a xorshift generator seeded with SEED (deterministic, for
	 * tests and simulations; not for real networks) */
	bt_udptrk_random_fn random_fn;
	void *random_arg;
	uint64_t seed;
	uint64_t base_timeout_ms; /* first wait; doubles per retransmission */
	unsigned retries;	  /* retransmissions per step, <= 8 */
	uint64_t conn_ttl_ms;	  /* how long a connection id is used */
	size_t max_peers;	  /* per reply; 0 = BT_TRACKER_MAX_PEERS */
	size_t max_requests;	  /* live requests at once */
};

/* The defaults above; start from them and change what is needed. */
void bt_udptrk_client_defaults(struct bt_udptrk_client_cfg *cfg);

struct bt_udptrk_client;
struct bt_udptrk_req;

/* ERR is 0 with REPLY filled (reply->failure set when the tracker sent an
 * error packet: its text, like an HTTP "failure reason"), or negative with
 * REPLY NULL and WHY a one-line reason: -ETIMEDOUT (no reply after the
 * retransmissions, or past the request's own timeout), -EPROTO (the
 * tracker's reply, with the right transaction id, was malformed), another
 * -errno from the send function or from bt_udptrk_client_unreachable().
 * REPLY and WHY are valid during the call only. */
typedef void (*bt_udptrk_cb)(int err, const char *why,
			     const struct bt_tracker_reply *reply, void *arg);

/* Returns NULL with *ERR (-EINVAL: no send function, retries over 8;
 * -ENOMEM). */
struct bt_udptrk_client *
bt_udptrk_client_new(const struct bt_udptrk_client_cfg *cfg, int *err);
/* Frees the client and every live request without calling them back. */
void bt_udptrk_client_free(struct bt_udptrk_client *c);

/* Start an announce of A to TRACKER (the tracker's address as the socket
 * sees it: its family decides the peer format of the reply), with the
 * BEP 41 URL data URL_DATA/URL_LEN (the path and query of the udp:// URL;
 * NULL or 0 for none). TIMEOUT_MS, when not 0, fails the request with
 * -ETIMEDOUT at NOW + TIMEOUT_MS even if retransmissions are left (a
 * `stopped` announce at shutdown). The first datagram is sent before this
 * returns. Returns the request (valid until its callback ran or it was
 * cancelled) or NULL with *ERR: -EINVAL (bad address, URL data too long),
 * -ENOBUFS (too many live requests or trackers), -ENOMEM, or the send
 * function's permanent error. */
struct bt_udptrk_req *bt_udptrk_client_announce(
    struct bt_udptrk_client *c, const struct bt_addr *tracker,
    const char *url_data, size_t url_len, const struct bt_announce *a,
    uint64_t timeout_ms, uint64_t now, bt_udptrk_cb cb, void *arg, int *err);
/* Forget a request; its callback is not called. NULL is a no-op. */
void bt_udptrk_client_cancel(struct bt_udptrk_client *c,
			     struct bt_udptrk_req *req);

/* A datagram that arrived from FROM. Returns 0 when it carried the id of
 * one of our live transactions and came from that transaction's tracker
 * address (it was acted upon, callbacks included: a reply of the wrong
 * action or length fails the request with -EPROTO), -ENOENT when it was
 * not ours (not BEP 15's shape, no live transaction with that id, or
 * another source address): the caller may offer it to someone else. */
int bt_udptrk_client_input(struct bt_udptrk_client *c, const uint8_t *buf,
			   size_t len, const struct bt_addr *from,
			   uint64_t now);

/* Retransmit and fail what is due at NOW. Returns the next deadline (ms),
 * UINT64_MAX when nothing is pending. */
uint64_t bt_udptrk_client_periodic(struct bt_udptrk_client *c, uint64_t now);
/* The next deadline without doing anything (UINT64_MAX: none). */
uint64_t bt_udptrk_client_deadline(const struct bt_udptrk_client *c);

/* The socket reported TO unreachable (ICMP through IP_RECVERR, say): fail
 * every request to that address now with ERR (negative) instead of waiting
 * for the retransmissions, and forget its connection id. */
void bt_udptrk_client_unreachable(struct bt_udptrk_client *c,
				  const struct bt_addr *to, int err,
				  uint64_t now);

struct bt_udptrk_client_stats {
	uint64_t connects_sent;	 /* connect datagrams, retransmissions too */
	uint64_t announces_sent; /* announce datagrams, retransmissions too */
	uint64_t retransmits;
	uint64_t replies;   /* datagrams taken as replies */
	uint64_t strays;    /* datagrams ignored (not ours) */
	uint64_t malformed; /* replies with our id that did not parse */
	uint64_t failed;    /* requests that ended with an error */
	size_t live;	    /* live requests */
};
void bt_udptrk_client_stats(const struct bt_udptrk_client *c,
			    struct bt_udptrk_client_stats *st);

#endif
