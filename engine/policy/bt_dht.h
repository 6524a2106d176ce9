/* bt_dht — one node of the mainline DHT (BEP 5, IPv6 per BEP 32), as an
 * I/O-free core.
 *
 * The caller owns the socket and the clock. It feeds every KRPC datagram
 * (the UDP packets that start with 'd') to bt_dht_input() with the sender's
 * address and `now` (ms, monotonic), calls bt_dht_periodic() when the time
 * returned by bt_dht_deadline() comes, and sends what the node asks through
 * the send callback. Results come back through callbacks. No process-wide
 * state; all randomness comes from opts.seed, so a simulation of a thousand
 * nodes in one process is deterministic.
 *
 * What the node does:
 *  - a routing table per address family: k-buckets (k = 8) split along our
 *    own id, good / questionable / bad nodes per BEP 5 (a node is bad after
 *    BT_DHT_BAD_FAILS unanswered queries in a row), a replacement cache per
 *    bucket; only a node that answered one of our queries from its own
 *    address is trusted as good, nodes merely named in replies are never
 *    inserted (they are only queried); one entry per IP unless
 *    opts.allow_same_ip; questionable nodes are pinged, idle buckets
 *    refreshed every 15 minutes;
 *  - answers ping, find_node, get_peers and announce_peer; tokens are a
 *    hash of a secret and the querier's IP, the secret rotated every 5
 *    minutes and the previous one still accepted; announced peers go to a
 *    bounded store (info-hashes, peers per info-hash, 30-minute expiry);
 *  - iterative lookups (find_node / get_peers) with at most `alpha` queries
 *    in flight, a retry per silent node, bounded in queries and time; a
 *    get_peers lookup of an announced info-hash then sends announce_peer to
 *    the k closest nodes that gave a token;
 *  - bootstraps only from what the caller gives it (bt_dht_add_bootstrap(),
 *    saved state, bt_dht_ping()): it knows no public router;
 *  - bounds everything a remote node controls: incoming queries are rate-
 *    limited per IP and overall, an IP that sends garbage or floods is
 *    ignored for BT_DHT_IGNORE_MS, replies are accepted only from the
 *    address a query went to and with its transaction id, replies with more
 *    nodes or peers than the codec's caps are truncated, a lookup delivers
 *    at most BT_DHT_SEARCH_PEERS distinct peers.
 *
 * Threads: a struct bt_dht belongs to the thread that made it (the engine
 * thread); nothing locks. Callbacks run inside bt_dht_input(),
 * bt_dht_periodic() or the call that started the work; they may call any
 * bt_dht function except bt_dht_free(), bt_dht_input() and
 * bt_dht_periodic(). */
#ifndef BT_DHT_H
#define BT_DHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"
#include "bt_bencode.h"
#include "bt_krpc.h"

#define BT_DHT_K		   8
#define BT_DHT_ALPHA		   4	 /* lookup queries in flight */
#define BT_DHT_BAD_FAILS	   2	 /* unanswered queries in a row: bad */
#define BT_DHT_SOFT_TIMEOUT_MS	   1000	 /* a lookup moves on (and retries): */
#define BT_DHT_MIN_SOFT_TIMEOUT_MS 250	 /* adaptive between these two */
#define BT_DHT_TX_TIMEOUT_MS	   5000	 /* a late reply is accepted until */
#define BT_DHT_SEARCH_MAX_QUERIES  96	 /* per lookup (default) */
#define BT_DHT_SEARCH_MAX_MS	   20000 /* per lookup (default) */
#define BT_DHT_SEARCH_PEERS	   256 /* distinct peers one lookup delivers */
#define BT_DHT_REANNOUNCE_MS	   (15 * 60 * 1000)
#define BT_DHT_IGNORE_MS	   (5 * 60 * 1000)
#define BT_DHT_STATE_MAX_NODES	   128 /* per family in the saved state */

/* Families (bits of opts.families). */
#define BT_DHT_V4 1
#define BT_DHT_V6 2

/* bt_dht_announce() flags */
#define BT_DHT_ANNOUNCE_SEARCH_ONLY  1 /* get_peers only, no announce_peer */
#define BT_DHT_ANNOUNCE_IMPLIED_PORT 2

enum bt_dht_search_kind {
	BT_DHT_FIND_NODE = 1,
	BT_DHT_GET_PEERS,
};

struct bt_dht;

/* Send LEN bytes of BUF to TO (a datagram on the caller's UDP socket). The
 * buffer is the node's and only valid during the call. */
typedef void (*bt_dht_send_fn)(void *arg, const struct bt_addr *to,
			       const uint8_t *buf, size_t len);
/* Peers found for INFO_HASH by a get_peers lookup, as they arrive (each
 * distinct peer once per lookup). */
typedef void (*bt_dht_peers_fn)(void *arg, const uint8_t info_hash[20],
				const struct bt_addr *peers, size_t n);

/* The outcome of one lookup. */
struct bt_dht_search_result {
	int id;	       /* what bt_dht_search() returned (announces: > 0 too) */
	int kind;      /* enum bt_dht_search_kind */
	int family;    /* BT_DHT_V4 or BT_DHT_V6 */
	bool announce; /* a lookup of bt_dht_announce() */
	uint8_t target[20];
	/* the closest nodes that answered, closest first */
	size_t n_nodes;
	struct bt_krpc_node nodes[BT_DHT_K];
	unsigned queries;   /* queries sent (retries included) */
	unsigned replies;   /* replies received */
	unsigned hops;	    /* longest chain of replies that led to nodes[] */
	unsigned announced; /* announce_peer queries sent */
	unsigned peers;	    /* distinct peers delivered */
	uint64_t ms;	    /* from start to end */
};
typedef void (*bt_dht_done_fn)(void *arg, const struct bt_dht_search_result *r);

struct bt_dht_opts {
	/* of every random choice (node id, token secrets, transaction ids):
	 * a test gives a constant, the engine 8 bytes of pfs_random(), since
	 * a guessable seed lets others forge tokens and replies */
	uint64_t seed;
	bool has_id; /* use ID (else one from the seed or the state) */
	uint8_t id[20];
	/* a buffer from bt_dht_save(): its id (over ID) and its nodes are
	 * reused; a bad buffer is ignored (see bt_dht_stats.state_loaded) */
	const uint8_t *state;
	size_t state_len;
	unsigned families; /* BT_DHT_V4 | BT_DHT_V6; 0 = V4 */
	bt_dht_send_fn send;
	bt_dht_peers_fn on_peers; /* may be NULL */
	bt_dht_done_fn on_done;	  /* may be NULL */
	void *arg;		  /* of every callback */
	char version[4];	  /* our `v`; all zero = none */
	/* limits; 0 = the default */
	unsigned alpha;		     /* BT_DHT_ALPHA */
	unsigned search_max_queries; /* BT_DHT_SEARCH_MAX_QUERIES */
	uint64_t search_max_ms;	     /* BT_DHT_SEARCH_MAX_MS */
	unsigned max_searches;	     /* concurrent lookups: 32 */
	unsigned max_announces;	     /* registered info-hashes: 1024 */
	unsigned rate;		     /* incoming queries/s answered: 400 */
	unsigned rate_per_ip;  /* incoming queries/s per IP: 8 (burst 4x) */
	unsigned store_hashes; /* info-hashes stored: 1024 */
	unsigned store_peers;  /* peers per info-hash and family: 128 */
	bool allow_same_ip;    /* several nodes per IP (tests on one IP) */
	/* which addresses the node may talk to (e.g. loopback only): a
	 * contact it says no to is never queried, answered, inserted or
	 * saved; NULL = any usable address */
	bool (*allow)(void *arg, const struct bt_addr *a);
	/* use only the nodes of opts.state, not its id (another process
	 * holds the saved identity) */
	bool state_nodes_only;
};

struct bt_dht_stats {
	/* per family: [0] IPv4, [1] IPv6 */
	unsigned good[2];	  /* answered within 15 min, not failing */
	unsigned dubious[2];	  /* in the table, not good, not bad */
	unsigned bad[2];	  /* in the table, failing (to be replaced) */
	unsigned replacements[2]; /* in the replacement caches */
	unsigned buckets[2];
	unsigned store_hashes, store_peers;
	unsigned searches;  /* lookups running */
	unsigned announces; /* info-hashes registered */
	unsigned pending;   /* our queries awaiting a reply */
	unsigned ignored;   /* IPs ignored for garbage or floods now */
	uint64_t sent, received;
	uint64_t queries_in;	  /* answered */
	uint64_t dropped_rate;	  /* queries over the rate limits */
	uint64_t dropped_bad;	  /* undecodable or invalid datagrams */
	uint64_t dropped_ignored; /* from ignored IPs */
	uint64_t unsolicited;	  /* replies to no query of ours (or late) */
	uint64_t bad_tokens;	  /* announce_peer with a wrong token */
	bool state_loaded;	  /* opts.state was used */
	uint8_t id[20];
};

/* A node. OPTS->send is required. Returns NULL with *ERR (-EINVAL,
 * -ENOMEM). */
struct bt_dht *bt_dht_new(const struct bt_dht_opts *opts, int *err);
void bt_dht_free(struct bt_dht *d);

/* One datagram from FROM. Returns 0 when it was a KRPC message (answered,
 * matched or deliberately dropped), -EINVAL/-EPROTO when it was garbage
 * (counted against FROM), -EAFNOSUPPORT for a family not enabled. */
int bt_dht_input(struct bt_dht *d, const uint8_t *buf, size_t len,
		 const struct bt_addr *from, uint64_t now);
/* Timeouts, retries, maintenance, re-announces. Returns the next deadline
 * (absolute ms), as bt_dht_deadline() does afterwards. */
uint64_t bt_dht_periodic(struct bt_dht *d, uint64_t now);
/* When bt_dht_periodic() wants to run next (absolute ms): any call above
 * may bring it closer, so read it after each. */
uint64_t bt_dht_deadline(const struct bt_dht *d);

/* A bootstrap contact (saved node, --dht-bootstrap, a known router): kept
 * (up to 32) and queried whenever the table of its family is short of good
 * nodes, with back-off. Returns 0, -EINVAL (unusable address),
 * -EAFNOSUPPORT or -ENOSPC. */
int bt_dht_add_bootstrap(struct bt_dht *d, const struct bt_addr *a,
			 uint64_t now);
/* Ping A once (a peer's PORT message, BEP 5): it enters the table if it
 * answers. Returns 0, -EINVAL, -EAFNOSUPPORT or -EBUSY. */
int bt_dht_ping(struct bt_dht *d, const struct bt_addr *a, uint64_t now);

/* Announce INFO_HASH (a torrent being mounted or seeded) in every enabled
 * family: a get_peers lookup (peers through on_peers) then announce_peer
 * with PORT to the k closest nodes, repeated every BT_DHT_REANNOUNCE_MS.
 * Calling it again for a registered info-hash updates PORT/FLAGS and, if
 * no lookup for it ran in the last minute, runs one now (to ask for more
 * peers). Returns 0, -ENOSPC (max_announces) or -EINVAL. */
int bt_dht_announce(struct bt_dht *d, const uint8_t info_hash[20],
		    uint16_t port, unsigned flags, uint64_t now);
/* Stop announcing INFO_HASH (its running lookups are cancelled, without
 * on_done). Returns 0 or -ENOENT. */
int bt_dht_unannounce(struct bt_dht *d, const uint8_t info_hash[20]);

/* One lookup of TARGET in FAMILY (BT_DHT_V4/V6). Returns its id (> 0,
 * given back in on_done) or -EBUSY (max_searches), -EAFNOSUPPORT,
 * -EINVAL, -ENOMEM. */
int bt_dht_search(struct bt_dht *d, const uint8_t target[20],
		  enum bt_dht_search_kind kind, int family, uint64_t now);

void bt_dht_stats(const struct bt_dht *d, struct bt_dht_stats *s, uint64_t now);
/* Node counts for `p2pfs status`: good and total table nodes, both
 * families. */
void bt_dht_node_count(const struct bt_dht *d, unsigned *good, unsigned *total,
		       uint64_t now);

/* Append our id and the good nodes (up to BT_DHT_STATE_MAX_NODES per
 * family) to B, bencoded; the caller writes it to a file and gives it back
 * in opts.state on the next start. Returns 0 or -ENOMEM. */
int bt_dht_save(const struct bt_dht *d, struct bt_benc *b, uint64_t now);

/* For tests and the simulator: the node's view, read-only. Copies up to
 * MAX nodes of FAMILY's table (good, dubious and bad) into OUT; returns how
 * many there are in all. */
size_t bt_dht_table_nodes(const struct bt_dht *d, int family,
			  struct bt_krpc_node *out, size_t max);

#endif
