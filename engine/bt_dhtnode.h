/* bt_dhtnode — the engine's DHT node (BEP 5): the I/O-free core
 * (policy/bt_dht.h) on the engine's shared UDP socket and event base.
 *
 * What it adds to the core:
 *  - I/O: KRPC datagrams from the UDP demultiplexer (BT_UDP_DHT) go to
 *    bt_dht_input(), what the core sends goes out on the same socket, and
 *    one timer is re-armed from bt_dht_deadline();
 *  - bootstrap: the saved nodes (STATE_DIR/dht.dat), every --dht-bootstrap
 *    HOST:PORT (names resolved on the engine's resolver), and, with neither
 *    (or when nothing answered for BT_DHTNODE_ROUTER_AFTER_MS), the
 *    well-known public routers; never those with LOOPBACK_ONLY;
 *  - LOOPBACK_ONLY (P2PFS_LOOPBACK_ONLY=1 in the environment, or the
 *    option): the node only ever talks to loopback addresses: nodes,
 *    bootstrap contacts and peers elsewhere are dropped, and the send path
 *    refuses anything else, so it holds for every datagram;
 *  - the torrents: every torrent of the engine that is not private (its
 *    info dict's private=1; a torrent still without metadata is looked up
 *    too) is announced with the listening port (a get_peers lookup, then
 *    announce_peer, again every 15 minutes), with extra lookups while it
 *    has few peers; peers found go to bt_torrent_add_peer(BT_SRC_DHT);
 *  - the node id and the good nodes are saved (atomically) at stop and
 *    every BT_DHTNODE_SAVE_MS; a process that finds the saved identity in
 *    use by another (a lock file) uses its nodes only, under a fresh id,
 *    and saves nothing.
 *
 * Threads: bt_dhtnode_new/free on the owning thread with the engine not
 * running; everything else on the engine thread. */
#ifndef BT_DHTNODE_H
#define BT_DHTNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"

struct bt_engine;
struct bt_torrent;
struct bt_source_info;

#define BT_DHTNODE_SAVE_MS	   (5 * 60 * 1000)
#define BT_DHTNODE_ROUTER_AFTER_MS 30000 /* no node answered: the routers */
#define BT_DHTNODE_FEW_PEERS	   5	 /* below this, lookups come sooner */
#define BT_DHTNODE_MAX_BOOTSTRAP   16	 /* --dht-bootstrap names kept */
#define BT_DHTNODE_STATE_FILE	   "dht.dat"

struct bt_dhtnode_opts {
	const char *const *bootstrap; /* "HOST:PORT", "[IPv6]:PORT" */
	size_t nbootstrap;
	const char *state_dir; /* where dht.dat is kept; NULL = not kept */
	bool loopback_only;    /* see above */
};

struct bt_dhtnode;

/* A node for E (not running yet). NULL with *ERR (-ENOMEM). */
struct bt_dhtnode *bt_dhtnode_new(struct bt_engine *e,
				  const struct bt_dhtnode_opts *o, int *err);
/* Engine thread: read the saved state, start the core, take the UDP
 * socket's KRPC datagrams, bootstrap. Returns 0 or -errno (the engine runs
 * on without a DHT then). */
int bt_dhtnode_start(struct bt_dhtnode *n);
/* Engine thread: save the state, stop every lookup and timer, give the
 * KRPC datagrams back. The node can only be freed afterwards. */
void bt_dhtnode_stop(struct bt_dhtnode *n);
void bt_dhtnode_free(struct bt_dhtnode *n);
bool bt_dhtnode_running(const struct bt_dhtnode *n);

/* Engine thread: the engine's torrents changed (one started, got its
 * metadata, went away): announce the new ones, forget the gone or private
 * ones. N may be NULL (no DHT): a no-op. */
void bt_dhtnode_sync(struct bt_dhtnode *n);
/* Engine thread: a peer's PORT message (BEP 5): ping A, which enters the
 * table if it answers. */
void bt_dhtnode_port(struct bt_dhtnode *n, const struct bt_addr *a);
/* Whether the node may talk to A (LOOPBACK_ONLY). */
bool bt_dhtnode_allowed(const struct bt_dhtnode *n, const struct bt_addr *a);

/* Engine thread: the DHT as a source of IH's peers, for `p2pfs status`:
 * kind BT_SOURCE_DHT, name "DHT", its node counts, the lookups done and
 * the peers it gave for IH. Returns false when N has nothing to say. */
bool bt_dhtnode_source(struct bt_dhtnode *n, const uint8_t ih[20],
		       struct bt_source_info *o);

struct bt_dhtnode_stats {
	unsigned good, total; /* table nodes */
	uint64_t sent, sent_bytes, received, received_bytes;
	uint64_t blocked;	 /* sends refused by LOOPBACK_ONLY */
	uint64_t lookups, peers; /* get_peers lookups done, peers given */
	bool state_loaded;
};
void bt_dhtnode_stats(const struct bt_dhtnode *n, struct bt_dhtnode_stats *s);

#endif
