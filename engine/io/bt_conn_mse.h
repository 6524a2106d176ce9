/* bt_conn_mse — Message Stream Encryption as a transport: a bt_conn layered
 * on another bt_conn (TCP), so the peer protocol above it does not change.
 *
 * It runs the bt_mse handshake (bt_mse.h) over the connection below, then
 * every payload byte through RC4 both ways (or unchanged, when both sides
 * chose plaintext after the handshake):
 * - outgoing (initiator; we know the info-hash): made at once around a
 *   connecting TCP connection; its user sees `connected` only once the
 *   MSE handshake is done (then it sends its BitTorrent handshake through
 *   it), or `closed` when the TCP connect or the handshake failed;
 * - incoming (responder): made around an accepted connection whose first
 *   bytes were no plain BitTorrent handshake; the torrent is found by the
 *   peer's SKEY through the find callback (bt_mse_find_fn). The `ready`
 *   callback says how it went: err 0, and the connection is the callee's
 *   (its decrypted stream starts with the initiator's IA), or err < 0 and
 *   the layer frees it after the callback returns.
 *
 * Bounded: the handshake reads 4 KiB at a time, at most one such read of
 * payload is held back for the user (bytes that came with the handshake's
 * last), the core buffers at most BT_MSE_SCAN_MAX, and a handshake not done
 * within its timeout fails. Garbage fails the handshake (closed).
 *
 * Writes: by copy (encrypted through a stack buffer into the connection
 * below) or by reference (encrypted in place, as bt_conn.h allows, then
 * passed down). Writing before the handshake is done fails (-ENOTCONN).
 * Engine thread only, like every bt_conn. */
#ifndef BT_CONN_MSE_H
#define BT_CONN_MSE_H

#include <stdbool.h>
#include <stdint.h>

#include "bt_conn.h"
#include "bt_mse.h"

struct event_base;

/* Responder: the handshake ended; see above. */
typedef void (*bt_conn_mse_ready_fn)(void *arg, struct bt_conn *c, int err);

struct bt_conn_mse_opts {
	enum bt_mse_policy policy; /* PREFER or REQUIRE */
	uint32_t timeout_ms;	   /* 0: BT_MSE_TIMEOUT_MS */
	/* outgoing */
	const uint8_t *skey; /* the info-hash (copied) */
	/* incoming */
	bt_mse_find_fn find;
	void *find_ctx;
	bt_conn_mse_ready_fn ready;
	void *ready_arg;
};

/* Wrap INNER (taken over, also on failure): outgoing when INNER->outgoing,
 * else incoming with its first N bytes FIRST already read (at most 68).
 * NULL with *ERR = -errno (-EINVAL: bad options, -ENOMEM, or the
 * handshake failed on FIRST already). */
struct bt_conn *bt_conn_mse_new(struct event_base *base, struct bt_conn *inner,
				const struct bt_conn_mse_opts *o,
				const uint8_t *first, size_t n, int *err);

/* What a user may ask of a connection that may be an MSE one. */
bool bt_conn_is_mse(const struct bt_conn *c);
/* The TCP connection below came up (outgoing; true for incoming). */
bool bt_conn_mse_tcp_up(const struct bt_conn *c);
/* The handshake completed. */
bool bt_conn_mse_done(const struct bt_conn *c);
/* Done, with RC4 on the payload (false: plaintext was selected). */
bool bt_conn_mse_rc4(const struct bt_conn *c);
/* Why it failed, in words ("" while it has not). */
const char *bt_conn_mse_reason(const struct bt_conn *c);

#endif
