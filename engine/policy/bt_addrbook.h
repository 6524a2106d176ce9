/* bt_addrbook — every peer address a torrent knows, whatever told us of it
 * (--peer, a tracker, the DHT, PEX, LSD, an incoming connection), and which
 * of them to connect to next.
 *
 * One entry per address (IP and port; bt_addr), with the sources that gave
 * it (a bitmask), its connection state, its back-off, and whether it is a
 * seed or banned. Lookup is a hash table keyed with bt_addr_hash() and a
 * random key, so a remote party cannot pile addresses into one bucket. The
 * book is bounded (BT_ADDRBOOK_MAX entries by default): a new address when
 * it is full evicts the least useful of a few entries sampled at random
 * (O(1)); a manual, connected or banned entry is never evicted, so a flood
 * of fake addresses (100k from a PEX or DHT liar) only churns among
 * themselves.
 *
 * Whole-IP bans (bt_addrbook_ban_ip) are entries with port 0: an incoming
 * connection from a banned IP is refused whatever its port.
 *
 * Order of candidates (bt_addrbook_next): among the entries that may be
 * tried now (not connected, not banned, not given up, their back-off over,
 * not known to be a seed while we seed, and not only known as an incoming
 * peer, whose port is ephemeral), manual ones first, then the ones with the
 * fewest failed attempts, then the oldest in the book (first come, first
 * tried).
 *
 * Back-off: a failed connect retries after retry_min_ms; a connection that
 * ended early (before it had worked for BT_ADDRBOOK_GOOD_MS) backs off
 * exponentially from retry_min_ms to retry_max_ms; after give_up_fails
 * such failures a non-manual address is given up (kept, so it is not
 * re-added from the next tracker reply). A connection that worked for a
 * while resets the back-off.
 *
 * I/O-free; owned by one thread (the engine thread); nothing locks. */
#ifndef BT_ADDRBOOK_H
#define BT_ADDRBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"

#define BT_ADDRBOOK_MAX 2000
#define BT_ADDRBOOK_RETRY_MIN_MS 5000
#define BT_ADDRBOOK_RETRY_MAX_MS 300000
#define BT_ADDRBOOK_GIVE_UP 8
#define BT_ADDRBOOK_GOOD_MS 60000 /* a connection this long "worked" */

/* Where an address came from (bits of bt_abentry.src). */
enum bt_addr_src {
	BT_SRC_MANUAL = 1 << 0,	  /* --peer, x.pe=: retried forever */
	BT_SRC_TRACKER = 1 << 1,
	BT_SRC_DHT = 1 << 2,
	BT_SRC_PEX = 1 << 3,
	BT_SRC_LSD = 1 << 4,
	BT_SRC_INCOMING = 1 << 5, /* it connected to us */
};

struct bt_addrbook_opts {
	size_t max_entries;	/* 0 = BT_ADDRBOOK_MAX */
	uint64_t key;		/* of bt_addr_hash(): random per book */
	uint64_t seed;		/* of the eviction sampling */
	uint32_t retry_min_ms;	/* 0 = BT_ADDRBOOK_RETRY_MIN_MS */
	uint32_t retry_max_ms;	/* 0 = BT_ADDRBOOK_RETRY_MAX_MS */
	uint32_t give_up_fails; /* 0 = BT_ADDRBOOK_GIVE_UP */
};

/* One address; read-only outside bt_addrbook.c. A pointer stays valid
 * only until the next call that adds to the book. */
struct bt_abentry {
	struct bt_addr addr;
	uint64_t next_try; /* ms: not tried before this */
	uint64_t order;	   /* when it entered the book (a counter) */
	uint32_t fails;	   /* failures since it last worked */
	uint8_t src;	   /* enum bt_addr_src bits */
	bool connected;	   /* a connection (or an attempt) is up */
	bool banned;	   /* it lied (or it is us): never again */
	bool given_up;	   /* too many failures: not tried again */
	bool seed;	   /* it had every piece when last connected */
};

struct bt_addrbook;

/* O may be NULL (defaults, key and seed 0). NULL on allocation failure. */
struct bt_addrbook *bt_addrbook_new(const struct bt_addrbook_opts *o);
void bt_addrbook_free(struct bt_addrbook *ab);

/* Add A from source SRC (bits are or-ed into an existing entry). Returns
 * the entry, or NULL when A is not usable (bt_addr_usable) or the book is
 * full of entries that may not be evicted. NOW orders nothing but is kept
 * for symmetry with the other calls. */
const struct bt_abentry *bt_addrbook_add(struct bt_addrbook *ab,
					 const struct bt_addr *a, unsigned src,
					 uint64_t now);
const struct bt_abentry *bt_addrbook_find(const struct bt_addrbook *ab,
					  const struct bt_addr *a);
size_t bt_addrbook_count(const struct bt_addrbook *ab);

/* The next address to connect to now (see the order above), marked
 * connected. Returns false when none may be tried now. SEEDING skips
 * addresses known to be seeds. */
bool bt_addrbook_next(struct bt_addrbook *ab, uint64_t now, bool seeding,
		      struct bt_addr *out);
/* The earliest time bt_addrbook_next() may return an address (NOW when
 * one is ready, UINT64_MAX when none will be without a change). */
uint64_t bt_addrbook_next_time(const struct bt_addrbook *ab, uint64_t now,
			       bool seeding);

/* A connection with A is up (an incoming one, or an outgoing attempt made
 * outside bt_addrbook_next): the entry is created (SRC) and marked
 * connected. Returns false when A is banned (or its IP is). */
bool bt_addrbook_connected(struct bt_addrbook *ab, const struct bt_addr *a,
			   unsigned src, uint64_t now);

enum bt_ab_outcome {
	BT_AB_CONNECT_FAILED, /* the connect itself failed */
	BT_AB_CLOSED,	      /* a connection ended */
};
/* The connection (or attempt) with A ended. WORKED: it had been useful
 * (connected long enough, or a seed we no longer need), which resets the
 * back-off; otherwise the back-off grows. SEED: it had every piece. */
void bt_addrbook_closed(struct bt_addrbook *ab, const struct bt_addr *a,
			enum bt_ab_outcome how, bool worked, bool seed,
			uint64_t now);

/* Never connect to A again (nor accept it). */
void bt_addrbook_ban(struct bt_addrbook *ab, const struct bt_addr *a);
/* The same for every port of A's IP. */
void bt_addrbook_ban_ip(struct bt_addrbook *ab, const struct bt_addr *a);
/* A or its IP is banned. */
bool bt_addrbook_banned(const struct bt_addrbook *ab, const struct bt_addr *a);

/* Invariant checker for tests: 0 when consistent. */
int bt_addrbook_check(const struct bt_addrbook *ab);

#endif
