/* bt_conn_tcp — the TCP transport (a bt_conn, see bt_conn.h).
 *
 * Built for speed at swarm rates: the socket is read by an event of its
 * own straight into the user's buffer, up to BT_CONN_TCP_READ_MAX bytes a
 * call (libevent 2.1's bufferevent reads 4 KiB a call: a syscall and a
 * callback per 4 KiB), with TCP_QUICKACK after each read (a peer that
 * sends with Nagle on holds a piece's last segment back until our ACK
 * comes, up to 40 ms later); TCP_NODELAY is on; writes go through a
 * bufferevent (references for zero-copy blocks). Under a download limit
 * (a bt_ratelimit that limits down) the bufferevent reads instead, so the
 * shared buckets apply to what we read; writes are always in the group.
 *
 * The process must ignore SIGPIPE (p2pfs's main() does). Engine thread
 * only. */
#ifndef BT_CONN_TCP_H
#define BT_CONN_TCP_H

#include "bt_conn.h"

struct event_base;
struct bufferevent_rate_limit_group;

#define BT_CONN_TCP_READ_MAX (256 * 1024)

/* Wrap an accepted, connected socket FD from REMOTE (the connection owns
 * FD, also on failure). NULL with *ERR = -errno. */
struct bt_conn *bt_conn_tcp_accept(struct event_base *base, int fd,
				   const struct bt_addr *remote, int *err);
/* Start a connect to TO, from BIND_IP when it is an address of TO's family
 * (NULL: any). `connected` or `closed` tells how it went. NULL with *ERR =
 * -errno when it could not even start. */
struct bt_conn *bt_conn_tcp_connect(struct event_base *base,
				    const struct bt_addr *to,
				    const char *bind_ip, int *err);

/* For TCP itself: the libevent group behind RL (NULL for NULL). */
struct bufferevent_rate_limit_group *
bt_ratelimit_bev_group(struct bt_ratelimit *rl);

#endif
