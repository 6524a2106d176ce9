/* bt_conn — the transport interface's common half: callbacks delivered
 * with the deferred-close rule, and the shared rate limits; see bt_conn.h.
 */
#include "bt_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bt_conn_tcp.h"

void bt_conn_init(struct bt_conn *c, const struct bt_conn_ops *ops,
		  const struct bt_addr *remote, bool outgoing)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	if (remote)
		c->remote = *remote;
	c->outgoing = outgoing;
}

void bt_conn_set_cbs(struct bt_conn *c, const struct bt_conn_cbs *cbs,
		     void *arg)
{
	c->cbs = cbs;
	c->arg = arg;
}

void bt_conn_close(struct bt_conn *c)
{
	if (!c)
		return;
	c->cbs = NULL; /* not one more callback */
	if (c->depth) {
		c->closing = true;
		return;
	}
	c->ops->destroy(c);
}

/* After a callback: false when C is gone (or going). */
static bool leave(struct bt_conn *c)
{
	if (--c->depth || !c->closing)
		return !c->closing;
	c->ops->destroy(c);
	return false;
}

bool bt_conn_fire_readable(struct bt_conn *c)
{
	if (c->closing)
		return false;
	if (!c->cbs || !c->cbs->readable || c->ended)
		return true;
	c->depth++;
	c->cbs->readable(c, c->arg);
	return leave(c);
}

bool bt_conn_fire_writable(struct bt_conn *c)
{
	if (c->closing)
		return false;
	if (!c->cbs || !c->cbs->writable || c->ended)
		return true;
	c->depth++;
	c->cbs->writable(c, c->arg);
	return leave(c);
}

bool bt_conn_fire_connected(struct bt_conn *c)
{
	if (c->closing)
		return false;
	if (!c->cbs || !c->cbs->connected || c->ended)
		return true;
	c->depth++;
	c->cbs->connected(c, c->arg);
	return leave(c);
}

bool bt_conn_fire_closed(struct bt_conn *c, int err)
{
	if (c->closing)
		return false;
	if (c->ended)
		return true;
	c->ended = true;
	if (!c->cbs || !c->cbs->closed)
		return true;
	c->depth++;
	c->cbs->closed(c, c->arg, err);
	return leave(c);
}

/* ---- shared rate limits ---- */

#define RATE_TICK_MS 100 /* token bucket refill: smooth at 10 Hz */

struct bt_ratelimit {
	struct ev_token_bucket_cfg *cfg;
	struct bufferevent_rate_limit_group *group;
	uint64_t up, down;
};

/* Bytes per RATE_TICK_MS tick for RATE bytes/s; EV_RATE_LIMIT_MAX for 0. */
static size_t per_tick(uint64_t rate)
{
	if (!rate)
		return EV_RATE_LIMIT_MAX;
	uint64_t t = rate * RATE_TICK_MS / 1000;
	if (t < 1)
		t = 1;
	return t > EV_RATE_LIMIT_MAX ? EV_RATE_LIMIT_MAX : (size_t)t;
}

/* libevent divides each tick's budget among the sockets that want it;
 * each tick's refill is also its burst, so the rate holds over every tenth
 * of a second, not just on average. */
struct bt_ratelimit *bt_ratelimit_new(struct event_base *base, uint64_t up,
				      uint64_t down, int *err)
{
	struct bt_ratelimit *rl = calloc(1, sizeof(*rl));
	struct timeval tick = {0, RATE_TICK_MS * 1000};
	if (!rl)
		goto fail;
	rl->up = up;
	rl->down = down;
	size_t d = per_tick(down), u = per_tick(up);
	if (!(rl->cfg = ev_token_bucket_cfg_new(d, d, u, u, &tick)))
		goto fail;
	if (!(rl->group = bufferevent_rate_limit_group_new(base, rl->cfg)))
		goto fail;
	return rl;
fail:
	bt_ratelimit_free(rl);
	if (err)
		*err = -ENOMEM;
	return NULL;
}

void bt_ratelimit_free(struct bt_ratelimit *rl)
{
	if (!rl)
		return;
	if (rl->group)
		bufferevent_rate_limit_group_free(rl->group);
	if (rl->cfg)
		ev_token_bucket_cfg_free(rl->cfg);
	free(rl);
}

bool bt_ratelimit_limits_down(const struct bt_ratelimit *rl)
{
	return rl && rl->down;
}

struct bufferevent_rate_limit_group *
bt_ratelimit_bev_group(struct bt_ratelimit *rl)
{
	return rl ? rl->group : NULL;
}
