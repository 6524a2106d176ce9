/* bt_udptrk_io — udp:// tracker announces (BEP 15) on the engine's one UDP
 * socket: the I/O half of engine/policy/bt_udptrk_client.h. It owns the
 * client, its retransmission timer, the socket's BT_UDP_TRACKER handler
 * (and its ICMP error handler: a refused port fails the announce at once)
 * and the registration of transaction ids with the demultiplexer; it
 * resolves the URL's host name through the engine's evdns (never a
 * blocking lookup).
 *
 * The callback has the shape of an HTTP announce's (bt_tracker_why_cb):
 * called exactly once per request unless cancelled first, always from the
 * event loop, never inside bt_udptrk_io_announce(). Everything here is for
 * the engine thread. Cancel every request before freeing the io object,
 * and free it before the event base, the evdns base and the UDP socket. */
#ifndef BT_UDPTRK_IO_H
#define BT_UDPTRK_IO_H

#include <stdint.h>

#include "bt_tracker.h"
#include "bt_tracker_io.h"

struct event_base;
struct evdns_base;
struct bt_udp;
struct bt_udptrk_io;
struct bt_udptrk_ioreq;

/* Takes over BT_UDP_TRACKER datagrams and ICMP errors of U. NULL with
 * *ERR. */
struct bt_udptrk_io *bt_udptrk_io_new(struct event_base *base,
				      struct evdns_base *dns, struct bt_udp *u,
				      int *err);
/* Cancels what is left (no callbacks) and gives the socket's handlers
 * back. NULL is a no-op. */
void bt_udptrk_io_free(struct bt_udptrk_io *io);

/* Announce A to URL (udp://HOST:PORT[/path?query]); TIMEOUT_MS bounds the
 * whole request (name lookup included; 0: BEP 15's retransmissions
 * alone). Errors come back through CB like an HTTP announce's, with a
 * reason: "cannot resolve 'HOST'", "connection refused (ICMP port
 * unreachable)", "no reply (2 tries)", "bad reply: ...", and a tracker's
 * error packet as reply->failure. Returns the request, or NULL when URL is
 * not a usable udp:// URL (a reason in the log). */
struct bt_udptrk_ioreq *bt_udptrk_io_announce(struct bt_udptrk_io *io,
					      const char *url,
					      const struct bt_announce *a,
					      uint64_t timeout_ms,
					      bt_tracker_why_cb cb, void *arg);
/* Forget a request; its callback is not called. NULL is a no-op. */
void bt_udptrk_io_cancel(struct bt_udptrk_ioreq *r);

#endif
