/* bt_udp — the engine's one UDP socket (on the TCP listening port) and its
 * demultiplexer: every datagram goes to the handler of its kind, told
 * apart by its shape (bt_udp_classify):
 *   - it starts with 'd': a bencoded KRPC message, for the DHT (BEP 5);
 *   - 8 bytes or more, a big-endian action 0..3 (connect, announce,
 *     scrape, error) and a transaction id the UDP-tracker client
 *     registered with bt_udp_tracker_expect(): a BEP 15 reply;
 *   - anything else: uTP (BEP 29), whose first byte is type << 4 | 1.
 * A kind with no handler registered is dropped and counted.
 *
 * Handlers run on the engine thread, with the datagram (valid during the
 * call), its sender and `now`; they answer with bt_udp_send(). Everything
 * here is for the engine thread. */
#ifndef BT_UDP_H
#define BT_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"

struct bt_udp;
struct event_base;

enum bt_udp_kind {
	BT_UDP_DHT,
	BT_UDP_TRACKER,
	BT_UDP_UTP,
	BT_UDP_NKINDS
};

typedef void (*bt_udp_handler)(void *arg, const uint8_t *pkt, size_t len,
			       const struct bt_addr *from, uint64_t now);

/* Bind a UDP socket to BIND_IP (NULL: any, dual-stack where the host has
 * IPv6) and PORT. NULL with *ERR = -errno. The socket is read once
 * bt_udp_start() gives it an event base. */
struct bt_udp *bt_udp_new(const char *bind_ip, uint16_t port, int *err);
int bt_udp_start(struct bt_udp *u, struct event_base *base);
void bt_udp_free(struct bt_udp *u);
uint16_t bt_udp_port(const struct bt_udp *u);

/* Register (or, with FN NULL, remove) the handler of KIND. */
void bt_udp_set_handler(struct bt_udp *u, enum bt_udp_kind kind,
			bt_udp_handler fn, void *arg);
/* An ICMP error (port or host unreachable) came back for a datagram we
 * sent to TO; ERR is its -errno (-ECONNREFUSED, -EHOSTUNREACH...). The
 * socket has IP_RECVERR on, so such errors are not lost. */
typedef void (*bt_udp_error_handler)(void *arg, const struct bt_addr *to,
				     int err, uint64_t now);
void bt_udp_set_error_handler(struct bt_udp *u, bt_udp_error_handler fn,
			      void *arg);

/* The UDP-tracker client expects a reply with transaction id TID (until
 * bt_udp_tracker_done). Returns 0 or -ENOSPC (BT_UDP_MAX_TIDS are out). */
#define BT_UDP_MAX_TIDS 256
int bt_udp_tracker_expect(struct bt_udp *u, uint32_t tid);
void bt_udp_tracker_done(struct bt_udp *u, uint32_t tid);

/* Send one datagram. Returns 0, -EAGAIN (the socket buffer is full: the
 * datagram is dropped, as UDP may) or another -errno. */
int bt_udp_send(struct bt_udp *u, const struct bt_addr *to, const void *pkt,
		size_t len);

/* Which handler a datagram goes to (pure). */
enum bt_udp_kind bt_udp_classify(const struct bt_udp *u, const uint8_t *pkt,
				 size_t len);

struct bt_udp_stats {
	uint64_t received[BT_UDP_NKINDS]; /* handed to a handler */
	uint64_t dropped[BT_UDP_NKINDS];  /* no handler for its kind */
	uint64_t sent, send_errors;
	uint64_t icmp_errors; /* ICMP errors read from the error queue */
};
void bt_udp_stats(const struct bt_udp *u, struct bt_udp_stats *st);

#endif
