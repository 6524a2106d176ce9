/* bt_session — the swarm engine of one torrent.
 *
 * A session owns one libevent thread (the engine thread) on which every
 * peer, tracker and picker object lives, without locks. Other threads talk
 * to it only through the thread-safe functions marked below, which post
 * work with bt_post(): a mutex-protected queue drained by one pre-created
 * event fired with event_active(). Completed pieces are hashed and written
 * to the cache by a hasher thread (engine/bt_hasher.c); the engine thread
 * never hashes.
 *
 * The session borrows MI and CACHE: both must outlive it. The process must
 * ignore SIGPIPE (p2pfs's main() does): libevent writes to peer and tracker
 * sockets with writev(), and a peer that closes its end would otherwise
 * kill the process. */
#ifndef BT_SESSION_H
#define BT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_metainfo.h"
#include "cache.h"

struct bt_session;

struct bt_session_opts {
	const char *bind_ip;  /* listen/outgoing address; NULL = any */
	uint16_t port;        /* listen port; 0 = an ephemeral port */
	const char *const *peers; /* "IP:PORT" / "[IPv6]:PORT" added by hand */
	size_t npeers;
	bool no_trackers;     /* ignore the torrent's trackers */
	int max_peers;        /* connection cap; 0 = default (50) */
	uint64_t max_up;      /* upload limit, bytes/s (all peers); 0 = none */
	uint64_t max_down;    /* download limit, bytes/s; 0 = none */
	bool fetch_all;       /* idle bandwidth fetches the rest, rarest
			       * first (default: only what is wanted) */
};

/* Returns NULL with *ERR = -errno (e.g. -EADDRINUSE for the port, -EINVAL
 * for a bad --peer). The listening socket is bound here, so errors show up
 * before the mount. */
struct bt_session *bt_session_new(const struct bt_metainfo *mi,
				  struct cache *cache,
				  const struct bt_session_opts *o, int *err);
/* Create the event base and start the engine and hasher threads; call it
 * after any fork (daemonising). Returns 0 or -errno. */
int bt_session_start(struct bt_session *s);
/* Announce "stopped" (bounded wait), close peers, join the threads, flush
 * the cache map. Safe to call once from any thread but the engine's. */
void bt_session_stop(struct bt_session *s);
void bt_session_free(struct bt_session *s);

/* Thread-safe: run FN(S, ARG) on the engine thread soon. Returns 0 or
 * -ENOMEM / -ESHUTDOWN (ARG is then still the caller's). */
typedef void (*bt_post_fn)(struct bt_session *s, void *arg);
int bt_post(struct bt_session *s, bt_post_fn fn, void *arg);

/* Thread-safe: ask for pieces FIRST..LAST, due DEADLINE_MS milliseconds
 * from now (0 = now). A piece stays wanted until it verifies; an earlier
 * deadline replaces a later one. */
void bt_session_want(struct bt_session *s, uint32_t first, uint32_t last,
		     uint32_t deadline_ms);

/* Thread-safe: read-ahead of pieces FIRST..LAST: piece FIRST + k is due
 * DEADLINE_MS + k * STEP_MS from now (so the windows of several readers
 * interleave by distance from their cursors). Unlike bt_session_want(),
 * each call holds a claim that bt_session_unprefetch() of the same pieces
 * gives back: a piece nobody holds or reads any more stops being wanted
 * (a seek away from a window, a closed file). */
void bt_session_prefetch(struct bt_session *s, uint32_t first, uint32_t last,
			 uint32_t deadline_ms, uint32_t step_ms);
void bt_session_unprefetch(struct bt_session *s, uint32_t first,
			   uint32_t last);

/* Called on the engine thread each time a piece verifies (after it is
 * marked in the cache), or with PIECE == BT_PIECE_ERROR when writing to the
 * cache failed (a full disk): readers waiting for pieces should then get
 * EIO. Set before bt_session_start(). */
#define BT_PIECE_ERROR UINT32_MAX
typedef void (*bt_piece_cb)(void *arg, uint32_t piece);
void bt_session_on_piece(struct bt_session *s, bt_piece_cb cb, void *arg);

struct bt_stats {
	uint64_t downloaded;    /* payload bytes received */
	uint64_t uploaded;      /* payload bytes sent */
	uint32_t npeers;        /* connected, handshaken */
	uint32_t nseeds;
	uint32_t have;          /* verified pieces */
	uint32_t hash_fails;
	double down_rate;       /* bytes/s over the last few seconds */
	double up_rate;
};
/* Thread-safe snapshot. */
void bt_session_stats(struct bt_session *s, struct bt_stats *st);
/* One connected peer, as bt_session_peers() reports it. */
struct bt_peer_info {
	char addr[64];          /* "1.2.3.4:6881" or "[::1]:6881" */
	uint8_t peer_id[20];    /* from its handshake (names the client) */
	double down_rate;       /* bytes/s from it, smoothed */
	double up_rate;         /* bytes/s to it */
	uint64_t downloaded;    /* payload bytes from it, this connection */
	uint64_t uploaded;
	uint32_t have;          /* pieces it has */
	bool incoming, seed, fast;
	bool am_choking, am_interested, peer_choking, peer_interested;
};
/* Thread-safe, never blocks on the engine: copy up to MAX handshaken peers
 * of the snapshot the engine thread publishes every second into OUT.
 * Returns how many peers the snapshot holds (may exceed MAX). */
size_t bt_session_peers(struct bt_session *s, struct bt_peer_info *out,
			size_t max);
/* One source of peers: a tracker of the torrent, or an address given with
 * --peer (BT_SOURCE_PEER). Other kinds (the DHT, PEX) are added at the end
 * of the enum; readers skip kinds they do not know. */
enum bt_source_kind { BT_SOURCE_TRACKER, BT_SOURCE_PEER };
enum bt_source_state {
	BT_SOURCE_IDLE,   /* not tried yet */
	BT_SOURCE_BUSY,   /* tracker: an announce is out; peer: connecting */
	BT_SOURCE_OK,     /* tracker: its last announce was answered;
			   * peer: connected (handshake done) */
	BT_SOURCE_FAILED, /* the last try failed: ERROR says why */
};
struct bt_source_info {
	int kind;              /* enum bt_source_kind */
	int state;             /* enum bt_source_state */
	char name[256];        /* announce URL, or "IP:PORT" (truncated) */
	char error[128];       /* the last failure, "" = none */
	int err;               /* its errno (ECONNREFUSED...), 0 = not one */
	int64_t last;          /* wall clock (s) of the last announce or
				* connection attempt, 0 = never */
	int64_t next;          /* wall clock (s) of the next one, 0 = none */
	uint32_t peers;        /* tracker: peers its last good reply gave */
	uint32_t fails;        /* failures in a row */
};
/* Thread-safe, never blocks on the engine: copy up to MAX sources of the
 * snapshot the engine publishes every second (trackers in the torrent's
 * order, then the --peer addresses) into OUT. Returns how many the snapshot
 * holds (may exceed MAX). */
size_t bt_session_sources(struct bt_session *s, struct bt_source_info *out,
			  size_t max);
/* The bound listening port. */
uint16_t bt_session_port(const struct bt_session *s);

#endif
