/* bt_session — one engine with one torrent in the DATA phase from the
 * start: what `p2pfs mount` and `p2pfs seed` run; see bt_session.h. */
#include "bt_session.h"

#include <errno.h>
#include <stdlib.h>

struct bt_session {
	struct bt_engine *e;
	struct bt_torrent *t;
};

struct bt_session *bt_session_new(const struct bt_metainfo *mi,
				  struct cache *cache,
				  const struct bt_session_opts *o, int *err)
{
	int e = -ENOMEM;
	struct bt_session *s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	struct bt_engine_opts eo = {
		.bind_ip = o->bind_ip,
		.port = o->port,
		.max_up = o->max_up,
		.max_down = o->max_down,
		.dht = o->dht,
		.dht_bootstrap = o->dht_bootstrap,
		.ndht_bootstrap = o->ndht_bootstrap,
		.dht_state_dir = o->dht_state_dir,
		.loopback_only = o->loopback_only,
		.lsd = o->lsd,
		.encryption = o->encryption,
	};
	if (!(s->e = bt_engine_new(&eo, &e)))
		goto out;
	struct bt_torrent_opts to = {
		.peers = o->peers,
		.npeers = o->npeers,
		.no_trackers = o->no_trackers,
		.max_peers = o->max_peers,
		.fetch_all = o->fetch_all,
	};
	if (!(s->t = bt_torrent_new(s->e, mi->info_hash, &to, &e)))
		goto out;
	if ((e = bt_torrent_set_metadata(s->t, mi, cache)) < 0)
		goto out;
	return s;
out:
	bt_session_free(s);
	if (err)
		*err = e < 0 ? e : -ENOMEM;
	return NULL;
}

int bt_session_start(struct bt_session *s)
{
	return bt_engine_start(s->e);
}

void bt_session_stop(struct bt_session *s)
{
	bt_engine_stop(s->e);
}

void bt_session_free(struct bt_session *s)
{
	if (!s)
		return;
	bt_engine_free(s->e); /* and its torrent */
	free(s);
}

struct bt_engine *bt_session_engine(struct bt_session *s)
{
	return s->e;
}

struct bt_torrent *bt_session_torrent(struct bt_session *s)
{
	return s->t;
}

int bt_session_want(struct bt_session *s, uint32_t first, uint32_t last,
		    uint32_t deadline_ms)
{
	return bt_torrent_want(s->t, first, last, deadline_ms);
}

int bt_session_prefetch(struct bt_session *s, uint32_t first, uint32_t last,
			uint32_t deadline_ms, uint32_t step_ms)
{
	return bt_torrent_prefetch(s->t, first, last, deadline_ms, step_ms);
}

int bt_session_unprefetch(struct bt_session *s, uint32_t first, uint32_t last)
{
	return bt_torrent_unprefetch(s->t, first, last);
}

void bt_session_on_piece(struct bt_session *s, bt_piece_cb cb, void *arg)
{
	bt_torrent_on_piece(s->t, cb, arg);
}

void bt_session_stats(struct bt_session *s, struct bt_stats *st)
{
	bt_torrent_stats(s->t, st);
}

size_t bt_session_peers(struct bt_session *s, struct bt_peer_info *out,
			size_t max)
{
	return bt_torrent_peers(s->t, out, max);
}

uint16_t bt_session_port(const struct bt_session *s)
{
	return bt_engine_port(s->e);
}

size_t bt_session_sources(struct bt_session *s, struct bt_source_info *out,
			  size_t max)
{
	return bt_torrent_sources(s->t, out, max);
}
