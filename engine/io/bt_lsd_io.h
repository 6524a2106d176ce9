/* bt_lsd_io — local service discovery (BEP 14) on the IPv4 group
 * 239.192.152.143:6771: the socket, its group membership, sending our
 * announces and hearing the LAN's (the codec is engine/proto/bt_lsd.h).
 *
 * The socket is bound to port 6771 on every address (SO_REUSEADDR and
 * SO_REUSEPORT: other clients on the host listen there too) and joins the
 * group on the interface of BIND_IP (any when NULL); announces leave
 * through that interface with TTL 1 and loop back to the host (so that two
 * clients on one machine find each other). Our own announces, recognised
 * by a random cookie, are ignored. What is heard is bounded: datagrams
 * over BT_LSD_MAX_MSG are dropped, at most LSD_RATE per second are parsed
 * (a flood costs nothing but the read), and each info-hash of a valid
 * announce goes to the handler with the sender's address and the port it
 * announced. Which torrents to announce, and when, is the caller's (the
 * engine's) business: private torrents never are.
 *
 * Engine thread only. Only ever used where multicast is allowed: the
 * engine does not make one when P2PFS_LOOPBACK_ONLY is set, unless --lsd
 * asks for it. */
#ifndef BT_LSD_IO_H
#define BT_LSD_IO_H

#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"

struct event_base;
struct bt_lsd_io;

/* A peer PEER announced INFO_HASH. */
typedef void (*bt_lsd_peer_fn)(void *arg, const uint8_t info_hash[20],
			       const struct bt_addr *peer);

/* Open and join; NULL with *ERR = -errno (-EADDRINUSE, -ENODEV when the
 * group cannot be joined: no multicast route, say). PORT is the TCP port
 * we announce. */
struct bt_lsd_io *bt_lsd_io_new(struct event_base *base, const char *bind_ip,
				uint16_t port, bt_lsd_peer_fn fn, void *arg,
				int *err);
void bt_lsd_io_free(struct bt_lsd_io *l);

/* Announce the N info-hashes of HASHES (as many datagrams as they need).
 * Returns 0 or the -errno of the first failed send. */
int bt_lsd_io_announce(struct bt_lsd_io *l, const uint8_t (*hashes)[20],
		       size_t n);

struct bt_lsd_io_stats {
	uint64_t sent, received, own, bad, rate_dropped, peers;
};
void bt_lsd_io_stats(const struct bt_lsd_io *l, struct bt_lsd_io_stats *st);

#endif
