/* bt_conn — the transport below the peer protocol: one byte stream to one
 * peer. TCP today (bt_conn_tcp.h); an encrypting transport (MSE) wraps any
 * bt_conn, and uTP is another implementation of the same interface.
 *
 * An implementation embeds struct bt_conn first and fills `ops` (a vtable,
 * as redis's connection type does for TCP and TLS). Its user (a peer, the
 * engine's handshake sniffer, an MSE layer above) sets callbacks with
 * bt_conn_set_cbs() and then:
 * - reads in a pull model: the `readable` callback says bytes wait, and the
 *   user reads them into its own buffer with bt_conn_read() (once or until
 *   it returns 0, as it likes: what is left fires `readable` again);
 * - writes by copy (bt_conn_write) or by reference (bt_conn_write_ref: the
 *   transport owns the buffer until it calls the free callback, exactly
 *   once, also when the connection closes first; a transport may rewrite
 *   the buffer in place, e.g. to encrypt it, so it must not be shared);
 * - watches bt_conn_queued(), the bytes accepted but not yet sent; the
 *   `writable` callback fires when they fall to the low watermark;
 * - learns of an outgoing connect's success (`connected`) and of the end
 *   of the stream (`closed`, with 0 for an orderly end or -errno; after it
 *   no callback comes, and the user still calls bt_conn_close()).
 * bt_conn_close() frees the connection (and closes its socket). Called
 * inside one of the connection's own callbacks, the free is deferred until
 * that callback returns: handlers nest (an MSE layer inside a transport
 * callback, an extension handler inside a peer's message), and none of them
 * may find its connection freed under it. No callback is made after
 * bt_conn_close(), not even one already due.
 *
 * Rate limits: bt_ratelimit is one pair of token buckets (up, down) that
 * every connection placed in it shares (the engine's --max-up/--max-down);
 * a transport spends from it for its payload.
 *
 * Everything here runs on the engine thread (the event base's). */
#ifndef BT_CONN_H
#define BT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bt_addr.h"

struct bt_conn;
struct bt_ratelimit;
struct event_base;

/* Frees (or recycles) BUF of LEN bytes given to bt_conn_write_ref(). (The
 * signature is libevent's evbuffer cleanup function's, so a transport on
 * an evbuffer passes it on as it is.) */
typedef void (*bt_conn_free_fn)(const void *buf, size_t len, void *arg);

struct bt_conn_cbs {
	void (*readable)(struct bt_conn *c, void *arg);
	void (*writable)(struct bt_conn *c, void *arg);
	void (*connected)(struct bt_conn *c, void *arg);
	void (*closed)(struct bt_conn *c, void *arg, int err);
};

struct bt_conn_ops {
	const char *name; /* "tcp", "pipe", "mse", "utp" */
	/* Up to CAP bytes into BUF: the count, 0 when nothing waits now, or
	 * -errno once the stream is over (-ENOTCONN for an orderly end). */
	ssize_t (*read)(struct bt_conn *c, void *buf, size_t cap);
	/* Queue LEN bytes (copied). 0 or -errno. */
	int (*write)(struct bt_conn *c, const void *buf, size_t len);
	/* Queue BUF by reference; FN(BUF, LEN, ARG) once done with it (also
	 * when this fails: the buffer is then freed before it returns). */
	int (*write_ref)(struct bt_conn *c, void *buf, size_t len,
			 bt_conn_free_fn fn, void *arg);
	size_t (*queued)(const struct bt_conn *c);
	void (*set_low_watermark)(struct bt_conn *c, size_t low);
	/* Share the buckets of RL (NULL: no limit). 0 or -errno. */
	int (*set_ratelimit)(struct bt_conn *c, struct bt_ratelimit *rl);
	/* Free everything; no callback may follow. */
	void (*destroy)(struct bt_conn *c);
};

struct bt_conn {
	const struct bt_conn_ops *ops;
	const struct bt_conn_cbs *cbs; /* NULL: nobody listens (yet) */
	void *arg;
	struct bt_addr remote;
	bool outgoing;
	unsigned depth;	 /* callbacks of this connection running */
	bool closing;	 /* bt_conn_close() came inside one of them */
	bool ended;	 /* `closed` was delivered */
};

/* For implementations: set up the common header. */
void bt_conn_init(struct bt_conn *c, const struct bt_conn_ops *ops,
		  const struct bt_addr *remote, bool outgoing);

void bt_conn_set_cbs(struct bt_conn *c, const struct bt_conn_cbs *cbs,
		     void *arg);

static inline ssize_t bt_conn_read(struct bt_conn *c, void *buf, size_t cap)
{
	return c->ops->read(c, buf, cap);
}
static inline int bt_conn_write(struct bt_conn *c, const void *buf,
				size_t len)
{
	return c->ops->write(c, buf, len);
}
static inline int bt_conn_write_ref(struct bt_conn *c, void *buf, size_t len,
				    bt_conn_free_fn fn, void *arg)
{
	return c->ops->write_ref(c, buf, len, fn, arg);
}
static inline size_t bt_conn_queued(const struct bt_conn *c)
{
	return c->ops->queued(c);
}
static inline void bt_conn_set_low_watermark(struct bt_conn *c, size_t low)
{
	c->ops->set_low_watermark(c, low);
}
static inline int bt_conn_set_ratelimit(struct bt_conn *c,
					struct bt_ratelimit *rl)
{
	return c->ops->set_ratelimit(c, rl);
}

/* Free C now, or once the callback running on it returns. */
void bt_conn_close(struct bt_conn *c);

/* For implementations: deliver one callback. Each returns false when the
 * connection was freed meanwhile (closed inside the callback): the caller
 * must then not touch C again. `closed` is delivered at most once. */
bool bt_conn_fire_readable(struct bt_conn *c);
bool bt_conn_fire_writable(struct bt_conn *c);
bool bt_conn_fire_connected(struct bt_conn *c);
bool bt_conn_fire_closed(struct bt_conn *c, int err);

/* ---- shared rate limits ---- */

/* Buckets of UP and DOWN bytes/s (0: that direction is not limited) on
 * BASE. NULL with *ERR = -errno. */
struct bt_ratelimit *bt_ratelimit_new(struct event_base *base, uint64_t up,
				      uint64_t down, int *err);
void bt_ratelimit_free(struct bt_ratelimit *rl);
bool bt_ratelimit_limits_down(const struct bt_ratelimit *rl);

#endif
