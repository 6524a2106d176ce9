/* bt_conn_mse — the MSE transport; see bt_conn_mse.h.
 *
 * The inner connection's callbacks come here. During the handshake they
 * drive the bt_mse core (read, feed, flush what it queues); after it,
 * readable/writable are passed up and reads are decrypted in the user's
 * own buffer. Every call out (the user's callbacks, `ready`) counts in
 * the outer connection's depth, so a close requested inside one is
 * deferred until it returns (bt_conn.h); after a call out that reports the
 * connection gone, nothing here touches it again. */
#include "bt_conn_mse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "pfs_log.h"

#define HS_READ 4096	/* a read during the handshake */
#define ENC_CHUNK 16384 /* copy writes are encrypted through this */
#define PEER_CLOSED "the peer closed the connection during the handshake"

struct mse_conn {
	struct bt_conn c;
	struct bt_conn *in; /* the transport below */
	struct bt_mse *m;
	struct event *timer; /* the handshake deadline */
	struct event *kick;  /* held-back payload waits for the user */
	bool tcp_up, done, failed;
	bool ready_due; /* responder: `ready` not yet called */
	uint8_t *pend;	/* decrypted payload read with the handshake */
	size_t npend, pend_off;
	bt_conn_mse_ready_fn ready;
	void *ready_arg;
	char reason[96];
};

static const struct bt_conn_ops mse_ops;

static struct mse_conn *mc_of(struct bt_conn *c)
{
	return (struct mse_conn *)c;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- calls out, with the deferred close ---- */

static void out_enter(struct mse_conn *mc)
{
	mc->c.depth++;
}

/* false when MC is gone */
static bool out_leave(struct mse_conn *mc)
{
	if (--mc->c.depth || !mc->c.closing)
		return !mc->c.closing;
	mc->c.ops->destroy(&mc->c);
	return false;
}

/* ---- the handshake ---- */

static void arm_timer(struct mse_conn *mc)
{
	uint64_t at = bt_mse_deadline(mc->m);
	if (at == UINT64_MAX) {
		evtimer_del(mc->timer);
		return;
	}
	uint64_t now = now_ms(), ms = at > now ? at - now : 0;
	struct timeval tv = {(time_t)(ms / 1000),
			     (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(mc->timer, &tv);
}

/* The handshake failed: tell the user (outgoing) or `ready` (incoming).
 * False when MC is gone. */
static bool fail(struct mse_conn *mc, int err, const char *why)
{
	if (mc->failed)
		return true;
	mc->failed = true;
	snprintf(mc->reason, sizeof(mc->reason), "%s", why);
	evtimer_del(mc->timer);
	char name[BT_ADDR_STRLEN];
	bt_addr_str(&mc->c.remote, name, sizeof(name));
	pfs_log(PFS_LOG_DEBUG, "mse", "'%s': encryption handshake failed: %s",
		name, why);
	if (mc->c.outgoing)
		return bt_conn_fire_closed(&mc->c, err);
	if (!mc->ready_due)
		return true;
	mc->ready_due = false;
	out_enter(mc);
	mc->ready(mc->ready_arg, &mc->c, err);
	/* the layer frees a failed incoming connection itself */
	bt_conn_close(&mc->c);
	return out_leave(mc);
}

/* Send what the core queued. False when MC is gone. */
static bool flush(struct mse_conn *mc)
{
	const uint8_t *p;
	size_t n = bt_mse_output(mc->m, &p);
	if (!n)
		return true;
	if (bt_conn_write(mc->in, p, n) < 0)
		return fail(mc, -ENOMEM, "out of memory");
	bt_mse_output_done(mc->m, n);
	return true;
}

static void kick(struct mse_conn *mc)
{
	event_active(mc->kick, EV_READ, 0);
}

/* The handshake is done; LEFT bytes after it (payload) in IN. */
static bool finish(struct mse_conn *mc, const uint8_t *in, size_t left)
{
	mc->done = true;
	evtimer_del(mc->timer);
	if (left) {
		if (!(mc->pend = malloc(left)))
			return fail(mc, -ENOMEM, "out of memory");
		bt_mse_decrypt(mc->m, in, mc->pend, left);
		mc->npend = left;
	}
	char name[BT_ADDR_STRLEN];
	bt_addr_str(&mc->c.remote, name, sizeof(name));
	pfs_log(PFS_LOG_DEBUG, "mse", "'%s': encrypted connection (%s)", name,
		bt_mse_selected(mc->m) == BT_MSE_CRYPTO_RC4 ? "rc4"
							   : "plaintext");
	if (mc->c.outgoing) {
		if (!bt_conn_fire_connected(&mc->c))
			return false;
	} else {
		mc->ready_due = false;
		out_enter(mc);
		mc->ready(mc->ready_arg, &mc->c, 0);
		if (!out_leave(mc))
			return false;
	}
	if (mc->npend)
		kick(mc);
	return true;
}

/* Feed LEN handshake bytes. False when MC is gone. */
static bool feed(struct mse_conn *mc, const uint8_t *in, size_t len)
{
	ssize_t r = bt_mse_input(mc->m, in, len, now_ms());
	if (r < 0)
		return fail(mc, r == -ETIMEDOUT ? -ETIMEDOUT : -EPROTO,
			    bt_mse_reason(mc->m));
	if (!flush(mc))
		return false;
	if (bt_mse_state(mc->m) == BT_MSE_DONE)
		return finish(mc, in + r, len - (size_t)r);
	return true;
}

static void hs_readable(struct mse_conn *mc)
{
	uint8_t buf[HS_READ];
	while (!mc->done && !mc->failed) {
		ssize_t r = bt_conn_read(mc->in, buf, sizeof(buf));
		if (r == 0)
			return;
		if (r < 0) {
			fail(mc, -ECONNRESET, PEER_CLOSED);
			return;
		}
		if (!feed(mc, buf, (size_t)r))
			return;
	}
}

/* ---- the connection below ---- */

static void in_readable(struct bt_conn *c, void *arg)
{
	struct mse_conn *mc = arg;
	(void)c;
	if (mc->failed)
		return;
	if (!mc->done) {
		hs_readable(mc);
		return;
	}
	bt_conn_fire_readable(&mc->c);
}

static void in_writable(struct bt_conn *c, void *arg)
{
	struct mse_conn *mc = arg;
	(void)c;
	if (mc->done && !mc->failed)
		bt_conn_fire_writable(&mc->c);
}

static void in_connected(struct bt_conn *c, void *arg)
{
	struct mse_conn *mc = arg;
	(void)c;
	mc->tcp_up = true;
	flush(mc);
}

static void in_closed(struct bt_conn *c, void *arg, int err)
{
	struct mse_conn *mc = arg;
	(void)c;
	if (mc->failed)
		return;
	if (mc->done) {
		bt_conn_fire_closed(&mc->c, err);
		return;
	}
	if (!mc->tcp_up) {
		/* the connect itself failed */
		fail(mc, err ? err : -ECONNREFUSED,
		     err ? strerror(-err) : "connection closed");
		return;
	}
	fail(mc, -ECONNRESET, PEER_CLOSED);
}

static const struct bt_conn_cbs in_cbs = {
	.readable = in_readable,
	.writable = in_writable,
	.connected = in_connected,
	.closed = in_closed,
};

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mse_conn *mc = arg;
	(void)fd;
	(void)what;
	if (mc->done || mc->failed)
		return;
	if (bt_mse_timer(mc->m, now_ms()) < 0) {
		fail(mc, -ETIMEDOUT, "encryption handshake timeout");
		return;
	}
	arm_timer(mc);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mse_conn *mc = arg;
	(void)fd;
	(void)what;
	if (mc->npend > mc->pend_off)
		bt_conn_fire_readable(&mc->c);
}

/* ---- the bt_conn we are ---- */

static ssize_t mse_read(struct bt_conn *c, void *buf, size_t cap)
{
	struct mse_conn *mc = mc_of(c);
	if (!mc->done || mc->failed)
		return mc->failed ? -EPROTO : 0;
	if (mc->pend_off < mc->npend) {
		size_t n = mc->npend - mc->pend_off;
		if (n > cap)
			n = cap;
		memcpy(buf, mc->pend + mc->pend_off, n);
		mc->pend_off += n;
		if (mc->pend_off == mc->npend) {
			free(mc->pend);
			mc->pend = NULL;
			mc->npend = mc->pend_off = 0;
		} else {
			kick(mc); /* the rest, when the user comes back */
		}
		return (ssize_t)n;
	}
	ssize_t r = bt_conn_read(mc->in, buf, cap);
	if (r > 0)
		bt_mse_decrypt(mc->m, buf, buf, (size_t)r);
	return r;
}

static int mse_write(struct bt_conn *c, const void *buf, size_t len)
{
	struct mse_conn *mc = mc_of(c);
	if (!mc->done || mc->failed)
		return -ENOTCONN;
	if (bt_mse_plain_out(mc->m))
		return bt_conn_write(mc->in, buf, len);
	uint8_t tmp[ENC_CHUNK];
	const uint8_t *p = buf;
	while (len) {
		size_t k = len < sizeof(tmp) ? len : sizeof(tmp);
		bt_mse_encrypt(mc->m, p, tmp, k);
		int rc = bt_conn_write(mc->in, tmp, k);
		if (rc < 0) {
			/* the stream is out of step now: nothing more */
			mc->failed = true;
			return rc;
		}
		p += k;
		len -= k;
	}
	return 0;
}

static int mse_write_ref(struct bt_conn *c, void *buf, size_t len,
			 bt_conn_free_fn fn, void *arg)
{
	struct mse_conn *mc = mc_of(c);
	if (!mc->done || mc->failed) {
		fn(buf, len, arg);
		return -ENOTCONN;
	}
	if (!bt_mse_plain_out(mc->m))
		bt_mse_encrypt(mc->m, buf, buf, len);
	int rc = bt_conn_write_ref(mc->in, buf, len, fn, arg);
	if (rc < 0)
		mc->failed = true;
	return rc;
}

static size_t mse_queued(const struct bt_conn *c)
{
	const struct mse_conn *mc = (const struct mse_conn *)c;
	return bt_conn_queued(mc->in);
}

static void mse_set_low_watermark(struct bt_conn *c, size_t low)
{
	bt_conn_set_low_watermark(mc_of(c)->in, low);
}

static int mse_set_ratelimit(struct bt_conn *c, struct bt_ratelimit *rl)
{
	return bt_conn_set_ratelimit(mc_of(c)->in, rl);
}

static void mse_destroy(struct bt_conn *c)
{
	struct mse_conn *mc = mc_of(c);
	if (mc->timer)
		event_free(mc->timer);
	if (mc->kick)
		event_free(mc->kick);
	bt_conn_close(mc->in);
	bt_mse_free(mc->m);
	free(mc->pend);
	free(mc);
}

static const struct bt_conn_ops mse_ops = {
	.name = "mse",
	.read = mse_read,
	.write = mse_write,
	.write_ref = mse_write_ref,
	.queued = mse_queued,
	.set_low_watermark = mse_set_low_watermark,
	.set_ratelimit = mse_set_ratelimit,
	.destroy = mse_destroy,
};

struct bt_conn *bt_conn_mse_new(struct event_base *base, struct bt_conn *inner,
				const struct bt_conn_mse_opts *o,
				const uint8_t *first, size_t n, int *err)
{
	int e = -EINVAL;
	struct mse_conn *mc = NULL;
	bool out = inner->outgoing;
	if ((o->policy != BT_MSE_PREFER && o->policy != BT_MSE_REQUIRE) ||
	    (out && (!o->skey || n)) || (!out && (!o->find || !o->ready)))
		goto fail;
	e = -ENOMEM;
	if (!(mc = calloc(1, sizeof(*mc))))
		goto fail;
	bt_conn_init(&mc->c, &mse_ops, &inner->remote, out);
	mc->in = inner;
	mc->tcp_up = !out;
	mc->ready = o->ready;
	mc->ready_arg = o->ready_arg;
	mc->ready_due = !out;
	mc->timer = evtimer_new(base, timer_cb, mc);
	mc->kick = event_new(base, -1, 0, kick_cb, mc);
	if (!mc->timer || !mc->kick)
		goto fail;
	struct bt_mse_config cfg = {
		.role = out ? BT_MSE_INITIATOR : BT_MSE_RESPONDER,
		.policy = o->policy,
		.now = now_ms(),
		.timeout_ms = o->timeout_ms,
		.skey = o->skey,
		.find = o->find,
		.find_ctx = o->find_ctx,
	};
	if (!(mc->m = bt_mse_new(&cfg, &e)))
		goto fail;
	bt_conn_set_cbs(inner, &in_cbs, mc);
	arm_timer(mc);
	if (n) {
		/* at most a sniffer's bytes: never enough to finish */
		ssize_t r = bt_mse_input(mc->m, first, n, now_ms());
		if (r < 0 || bt_mse_state(mc->m) != BT_MSE_HANDSHAKE) {
			e = r < 0 ? (int)r : -EPROTO;
			goto fail;
		}
		const uint8_t *p;
		size_t k = bt_mse_output(mc->m, &p);
		if (k) {
			if (bt_conn_write(inner, p, k) < 0) {
				e = -ENOMEM;
				goto fail;
			}
			bt_mse_output_done(mc->m, k);
		}
	}
	return &mc->c;
fail:
	if (mc) {
		mc->ready_due = false;
		mse_destroy(&mc->c);
	} else {
		bt_conn_close(inner);
	}
	if (err)
		*err = e;
	return NULL;
}

bool bt_conn_is_mse(const struct bt_conn *c)
{
	return c && c->ops == &mse_ops;
}

bool bt_conn_mse_tcp_up(const struct bt_conn *c)
{
	return bt_conn_is_mse(c) && ((const struct mse_conn *)c)->tcp_up;
}

bool bt_conn_mse_done(const struct bt_conn *c)
{
	return bt_conn_is_mse(c) && ((const struct mse_conn *)c)->done;
}

bool bt_conn_mse_rc4(const struct bt_conn *c)
{
	const struct mse_conn *mc = (const struct mse_conn *)c;
	return bt_conn_mse_done(c) &&
	       bt_mse_selected(mc->m) == BT_MSE_CRYPTO_RC4;
}

const char *bt_conn_mse_reason(const struct bt_conn *c)
{
	return bt_conn_is_mse(c) ? ((const struct mse_conn *)c)->reason : "";
}
