/* bt_torrent — one torrent in an engine: its peers, trackers, address
 * book, and, once its metadata is known, its picker, hasher jobs and cache.
 *
 * Phases: a torrent starts in the METADATA phase knowing only its info-hash
 * (a magnet link): peers connect and handshake, trackers and the address
 * book run, and what peers say they have is kept (bounded) until the piece
 * count is known; requests and pieces are a protocol error then. It enters
 * the DATA phase when it is given its metadata (bt_torrent_set_metadata: a
 * parsed info dict and its opened cache), at once for a .torrent file, or
 * once the metadata has been fetched and its SHA-1 matched
 * (bt_torrent_metadata_found, which asks the owner to open the cache). A
 * peer whose kept bitfield then turns out wrong (length, spare bits, a have
 * past the end) is dropped.
 *
 * Thread rules: bt_torrent_want/prefetch/unprefetch/stats/peers are
 * thread-safe; bt_torrent_new, set_metadata and the setters may also be
 * called before the engine starts; everything else runs on the engine
 * thread. A torrent borrows its metainfo and cache: both must outlive it
 * (bt_torrent_remove() or bt_engine_free()). */
#ifndef BT_TORRENT_H
#define BT_TORRENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"
#include "bt_engine.h"
#include "bt_metainfo.h"
#include "cache.h"

struct bt_torrent;
struct bt_peer;

enum bt_phase {
	BT_PHASE_METADATA, /* only the info-hash is known */
	BT_PHASE_DATA,	   /* metadata, picker, cache */
};

struct bt_torrent_opts {
	const char *const *peers; /* "IP:PORT" / "[IPv6]:PORT" added by hand */
	size_t npeers;
	const char *const *trackers; /* announce URLs besides the metainfo's
				      * (a magnet's tr=) */
	size_t ntrackers;
	bool no_trackers; /* ignore every tracker */
	int max_peers;	  /* connection cap; 0 = BT_DEFAULT_MAX_PEERS */
	bool fetch_all;	  /* idle bandwidth fetches the rest, rarest
			   * first (default: only what is wanted) */
	const char *name; /* for the log; NULL = the info-hash in hex */
};
#define BT_DEFAULT_MAX_PEERS 50

/* A torrent in E for INFO_HASH, in the METADATA phase. NULL with *ERR =
 * -errno (-EINVAL for a bad --peer, -EEXIST when E has it already). */
struct bt_torrent *bt_torrent_new(struct bt_engine *e,
				  const uint8_t info_hash[20],
				  const struct bt_torrent_opts *o, int *err);
/* Leave the engine: peers closed (no "stopped" announce), its queued disk
 * and upload jobs dropped, then freed. Engine thread, or once the engine
 * is stopped or not started. */
void bt_torrent_remove(struct bt_torrent *t);

/* Enter the DATA phase with MI (whose info-hash must be this torrent's)
 * and its CACHE, both borrowed. Returns 0, -EINVAL (another info-hash or
 * already in the DATA phase) or -ENOMEM (the torrent stays as it was). */
int bt_torrent_set_metadata(struct bt_torrent *t, const struct bt_metainfo *mi,
			    struct cache *cache);
/* The owner's part of a metadata found on the network: open the cache for
 * MI and keep MI (and the cache) alive for the torrent's life. Returns 0
 * and *CACHE, or -errno. Engine thread. */
typedef int (*bt_torrent_open_cache_fn)(void *arg, struct bt_torrent *t,
					const struct bt_metainfo *mi,
					struct cache **cache);
void bt_torrent_on_metadata(struct bt_torrent *t, bt_torrent_open_cache_fn fn,
			    void *arg);
/* The info dict of a METADATA-phase torrent arrived and matched its
 * info-hash: the owner's callback opens its cache (it takes MI, also when
 * it fails), then bt_torrent_set_metadata(). Returns its result, or
 * -ENOSYS without a callback (MI is then still the caller's). A callback
 * that only wanted the metadata (p2pfs info MAGNET) returns -ECANCELED:
 * the torrent stays in the METADATA phase. The torrent calls this itself
 * once its peers' ut_metadata (BEP 9) gave a verified dict. */
int bt_torrent_metadata_found(struct bt_torrent *t,
			      const struct bt_metainfo *mi);
enum bt_phase bt_torrent_phase(const struct bt_torrent *t);
/* Its info dict says private=1 (BEP 27: no DHT, PEX or LSD); false
 * before the metadata is known. */
bool bt_torrent_private(const struct bt_torrent *t);
const uint8_t *bt_torrent_info_hash(const struct bt_torrent *t);

/* Called on the engine thread each time a piece verifies (after it is
 * marked in the cache), or with PIECE == BT_PIECE_ERROR when writing to the
 * cache failed (a full disk): readers waiting for pieces should then get
 * EIO. Set before the engine starts. */
#define BT_PIECE_ERROR UINT32_MAX
typedef void (*bt_piece_cb)(void *arg, uint32_t piece);
void bt_torrent_on_piece(struct bt_torrent *t, bt_piece_cb cb, void *arg);

/* Thread-safe: ask for pieces FIRST..LAST, due DEADLINE_MS milliseconds
 * from now (0 = now). A piece stays wanted until it verifies; an earlier
 * deadline replaces a later one. Returns 0, or -ENOMEM / -ESHUTDOWN when
 * the want could not reach the engine (the caller must not wait for it),
 * -EINVAL for a range outside the torrent or before its metadata. */
int bt_torrent_want(struct bt_torrent *t, uint32_t first, uint32_t last,
		    uint32_t deadline_ms);
/* Thread-safe: read-ahead of FIRST..LAST, piece FIRST + k due DEADLINE_MS +
 * k * STEP_MS from now; a claim that bt_torrent_unprefetch() of the same
 * pieces gives back. Errors as bt_torrent_want() (then no claim is held). */
int bt_torrent_prefetch(struct bt_torrent *t, uint32_t first, uint32_t last,
			uint32_t deadline_ms, uint32_t step_ms);
int bt_torrent_unprefetch(struct bt_torrent *t, uint32_t first, uint32_t last);

struct bt_stats {
	uint64_t downloaded; /* payload bytes received */
	uint64_t uploaded;   /* payload bytes sent */
	uint32_t npeers;     /* connected, handshaken */
	uint32_t nseeds;
	uint32_t have;	     /* verified pieces */
	uint32_t hash_fails;
	double down_rate;    /* bytes/s over the last few seconds */
	double up_rate;
	uint32_t meta_have;  /* METADATA phase: ut_metadata pieces fetched */
	uint32_t meta_total; /* and their count (0: no peer offered yet) */
};
/* Thread-safe snapshot (published about once a second). */
void bt_torrent_stats(struct bt_torrent *t, struct bt_stats *st);

/* One connected peer, as bt_torrent_peers() reports it. */
struct bt_peer_info {
	char addr[64];	     /* "1.2.3.4:6881" or "[::1]:6881" */
	uint8_t peer_id[20]; /* from its handshake (names the client) */
	double down_rate;    /* bytes/s from it, smoothed */
	double up_rate;	     /* bytes/s to it */
	uint64_t downloaded; /* payload bytes from it, this connection */
	uint64_t uploaded;
	uint32_t have;	     /* pieces it has */
	uint8_t src;	     /* where its address came from (BT_SRC_ bits) */
	bool incoming, seed, fast;
	bool mse;	     /* the connection is MSE (encryption handshake) */
	bool encrypted;	     /* and its payload is RC4 (not plaintext) */
	bool am_choking, am_interested, peer_choking, peer_interested;
};
/* Thread-safe, never blocks on the engine: copy up to MAX handshaken peers
 * of the last published snapshot into OUT; returns how many it holds. */
size_t bt_torrent_peers(struct bt_torrent *t, struct bt_peer_info *out,
			size_t max);

/* Engine thread: an address from a peer source (DHT, PEX, LSD: SRC is a
 * BT_SRC_ bit of bt_addrbook.h). Returns 0, -EINVAL (unusable) or -ENOSPC
 * (the address book is full of entries it keeps). */
int bt_torrent_add_peer(struct bt_torrent *t, const struct bt_addr *a,
			unsigned src);

/* Engine thread: BEP 10 extended messages (id 20) of this torrent's peers
 * go to FN with the extension id and payload (valid during the call); the
 * handler may send with bt_peer_send_extended() and may close the peer.
 * Without a handler they are ignored. */
typedef void (*bt_torrent_ext_fn)(void *arg, struct bt_torrent *t,
				  struct bt_peer *p, uint8_t ext_id,
				  const uint8_t *payload, size_t len);
void bt_torrent_set_ext_handler(struct bt_torrent *t, bt_torrent_ext_fn fn,
				void *arg);

/* Our request queue depth for a peer: how many of its requests we queue
 * before refusing more (what the BEP 10 handshake advertises as `reqq`). */
uint32_t bt_torrent_reqq(const struct bt_torrent *t);

/* One source of peers: a tracker of the torrent, an address given with
 * --peer (BT_SOURCE_PEER), the DHT (BT_SOURCE_DHT, one entry). Other kinds
 * (PEX) are added at the end of the enum; readers skip kinds they do not
 * know. */
enum bt_source_kind { BT_SOURCE_TRACKER, BT_SOURCE_PEER, BT_SOURCE_DHT };
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
	uint32_t peers;        /* tracker: peers its last good reply gave;
				* DHT: peers its lookups gave */
	uint32_t fails;        /* failures in a row */
	uint32_t nodes, nodes_total; /* DHT: good nodes, nodes in the table */
	uint32_t lookups;      /* DHT: get_peers lookups done */
};
/* Thread-safe, never blocks on the engine: copy up to MAX sources of the
 * snapshot the engine publishes every second and after each tracker answer
 * (trackers in the torrent's order, then the --peer addresses) into OUT.
 * Returns how many the snapshot holds (may exceed MAX). */
size_t bt_torrent_sources(struct bt_torrent *t, struct bt_source_info *out,
			  size_t max);

#endif
