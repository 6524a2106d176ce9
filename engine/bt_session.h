/* bt_session — what a mount or a seed runs: one engine (bt_engine.h) with
 * one torrent (bt_torrent.h) whose metainfo and cache exist from the
 * start.
 *
 * A thin convenience over the two: options in one struct, one object to
 * start, stop and free. The session borrows MI and CACHE: both must outlive
 * it. The process must ignore SIGPIPE (p2pfs's main() does). Thread rules
 * are those of bt_engine.h and bt_torrent.h: want/prefetch/unprefetch/
 * stats/peers/port from any thread, the rest from the owning thread. */
#ifndef BT_SESSION_H
#define BT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_engine.h"
#include "bt_metainfo.h"
#include "bt_torrent.h"
#include "cache.h"

struct bt_session;

struct bt_session_opts {
	const char *bind_ip;  /* listen/outgoing address; NULL = any */
	uint16_t port;        /* listen port (TCP and UDP); 0 = ephemeral */
	const char *const *peers; /* "IP:PORT" / "[IPv6]:PORT" added by hand */
	size_t npeers;
	bool no_trackers;     /* ignore the torrent's trackers */
	int lsd;              /* enum bt_engine_lsd: BEP 14 on the LAN */
	int max_peers;        /* connection cap; 0 = default (50) */
	uint64_t max_up;      /* upload limit, bytes/s (all peers); 0 = none */
	uint64_t max_down;    /* download limit, bytes/s; 0 = none */
	bool fetch_all;       /* idle bandwidth fetches the rest, rarest
			       * first (default: only what is wanted) */
	bool dht;             /* run the DHT node (see bt_engine_opts) */
	const char *const *dht_bootstrap;
	size_t ndht_bootstrap;
	const char *dht_state_dir;
	bool loopback_only;
	int encryption;       /* --encryption: enum bt_mse_policy (0 =
			       * prefer); see bt_engine_opts */
};

/* Returns NULL with *ERR = -errno (e.g. -EADDRINUSE for the port, -EINVAL
 * for a bad --peer). The sockets are bound here, so errors show up before
 * the mount. */
struct bt_session *bt_session_new(const struct bt_metainfo *mi,
				  struct cache *cache,
				  const struct bt_session_opts *o, int *err);
/* Start the engine's threads; call it after any fork (daemonising).
 * Returns 0 or -errno. */
int bt_session_start(struct bt_session *s);
/* Announce "stopped" (bounded wait), close peers, join the threads, flush
 * the cache map. Safe to call once from any thread but the engine's. */
void bt_session_stop(struct bt_session *s);
void bt_session_free(struct bt_session *s);

struct bt_engine *bt_session_engine(struct bt_session *s);
struct bt_torrent *bt_session_torrent(struct bt_session *s);

/* Thread-safe; see bt_torrent_want() and friends: a negative return means
 * the request did not reach the engine. */
int bt_session_want(struct bt_session *s, uint32_t first, uint32_t last,
		    uint32_t deadline_ms);
int bt_session_prefetch(struct bt_session *s, uint32_t first, uint32_t last,
			uint32_t deadline_ms, uint32_t step_ms);
int bt_session_unprefetch(struct bt_session *s, uint32_t first,
			  uint32_t last);

/* See bt_torrent_on_piece(); set before bt_session_start(). */
void bt_session_on_piece(struct bt_session *s, bt_piece_cb cb, void *arg);

/* Thread-safe snapshots; see bt_torrent_stats() and bt_torrent_peers(). */
void bt_session_stats(struct bt_session *s, struct bt_stats *st);
size_t bt_session_peers(struct bt_session *s, struct bt_peer_info *out,
			size_t max);
/* See bt_torrent_sources(). */
size_t bt_session_sources(struct bt_session *s, struct bt_source_info *out,
			  size_t max);
/* The bound listening port. */
uint16_t bt_session_port(const struct bt_session *s);

#endif
