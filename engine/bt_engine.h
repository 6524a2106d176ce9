/* bt_engine — the process-wide BitTorrent engine: one event thread that
 * hosts any number of torrents (bt_torrent.h).
 *
 * An engine owns what the whole process shares: the event base and its
 * thread (every peer, torrent, tracker and timer object lives on it, without
 * locks), the queue other threads post work through (bt_engine_post), one
 * TCP listener and ONE UDP socket bound to the same port (the UDP socket is
 * demultiplexed by packet shape, see bt_udp.h), the DNS resolver, the
 * rate-limit buckets of --max-up/--max-down (engine-wide), the disk thread
 * (writes and hashes blocks; bt_hasher.c) and the reader thread (reads the
 * blocks we upload; bt_reader.c), and our peer id.
 *
 * An incoming TCP connection is held by the engine until its first bytes
 * say what it is: a BitTorrent handshake goes to the torrent whose
 * info-hash it names (unless --encryption require); anything else is an
 * MSE handshake (bt_conn_mse.h) whose SKEY must name a hosted torrent,
 * whose decrypted stream is then routed the same way — or, with
 * --encryption off, goes to the handler set with
 * bt_engine_set_unknown_handler(), or is closed, logged once per address at
 * info level as "peer sent no BitTorrent handshake (encrypted?)".
 *
 * Thread rules: bt_engine_post(), bt_engine_port() and bt_engine_peer_id()
 * may be called from any thread; bt_engine_new/start/stop/free from the
 * owning thread (never the engine's); everything else on the engine thread
 * (or before bt_engine_start()). Several engines may live in one process.
 * The process must ignore SIGPIPE (p2pfs's main() does). */
#ifndef BT_ENGINE_H
#define BT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bt_engine;
struct bt_conn;
struct bt_udp;
struct event_base;
struct evdns_base;

/* Local service discovery (BEP 14 multicast on the LAN). */
enum bt_engine_lsd {
	BT_ENGINE_LSD_AUTO, /* on, unless P2PFS_LOOPBACK_ONLY is set (pfs_env.h) */
	BT_ENGINE_LSD_OFF,  /* --no-lsd */
	BT_ENGINE_LSD_ON,   /* --lsd: on even with P2PFS_LOOPBACK_ONLY */
};

struct bt_engine_opts {
	const char *bind_ip; /* listen/outgoing address; NULL = any */
	uint16_t port;	     /* TCP and UDP port; 0 = an ephemeral one */
	uint64_t max_up;     /* bytes/s over every torrent; 0 = no limit */
	uint64_t max_down;
	/* the DHT node (bt_dhtnode.h), on the UDP socket; off unless DHT */
	bool dht;
	const char *const *dht_bootstrap; /* HOST:PORT, repeatable */
	size_t ndht_bootstrap;
	const char *dht_state_dir; /* where its state is saved (cache root) */
	/* the DHT talks to loopback addresses only; also on with
	 * P2PFS_LOOPBACK_ONLY=1 in the environment (pfs_env.h) */
	bool loopback_only;
	int lsd;	     /* enum bt_engine_lsd; never for private torrents */
	/* --encryption (enum bt_mse_policy; 0 = BT_MSE_PREFER): PREFER
	 * accepts MSE and plain incoming connections; REQUIRE closes plain
	 * ones; OFF closes MSE ones (the unknown handler's, below) */
	int encryption;
};

/* Binds the listening TCP socket and the UDP socket (so a busy port is
 * reported before anything else happens). NULL with *ERR = -errno
 * (-EADDRINUSE, -EINVAL for a bad bind_ip, -ENOMEM). */
struct bt_engine *bt_engine_new(const struct bt_engine_opts *o, int *err);
/* Make the event base and start the engine, disk and reader threads;
 * call it after any fork (daemonising). Returns 0 or -errno. */
int bt_engine_start(struct bt_engine *e);
/* Every torrent announces "stopped" (a bounded wait) and closes its peers;
 * the threads are joined and the caches' verified maps flushed. */
void bt_engine_stop(struct bt_engine *e);
/* Stops if needed, then frees every torrent still in it and the engine. */
void bt_engine_free(struct bt_engine *e);

/* Thread-safe: run FN(E, ARG) on the engine thread soon (before the start:
 * once it starts). Returns 0 or -ENOMEM / -ESHUTDOWN; on error FN will not
 * run and ARG is still the caller's. */
typedef void (*bt_engine_fn)(struct bt_engine *e, void *arg);
int bt_engine_post(struct bt_engine *e, bt_engine_fn fn, void *arg);

uint16_t bt_engine_port(const struct bt_engine *e);
const uint8_t *bt_engine_peer_id(const struct bt_engine *e);

/* Engine thread: the event base and resolver (for io modules: the DHT, the
 * UDP trackers); NULL before bt_engine_start(). */
struct event_base *bt_engine_base(struct bt_engine *e);
struct evdns_base *bt_engine_dns(struct bt_engine *e);
/* The --encryption policy (enum bt_mse_policy). */
int bt_engine_encryption(const struct bt_engine *e);
/* Responder's lookup (a bt_mse_find_fn, ARG = the engine): the hosted
 * torrent whose HASH("req2", info-hash) is REQ2; its info-hash in SKEY.
 * 0 or -ENOENT. */
int bt_engine_find_req2(void *arg, const uint8_t req2[20], uint8_t skey[20]);
/* The shared UDP socket and its demultiplexer (see bt_udp.h). */
struct bt_udp *bt_engine_udp(struct bt_engine *e);
/* The engine's DHT node (bt_dhtnode.h), or NULL (--no-dht). */
struct bt_dhtnode *bt_engine_dht(struct bt_engine *e);
/* opts.loopback_only, or P2PFS_LOOPBACK_ONLY in the environment
 * (pfs_loopback_only()). */
bool bt_engine_loopback_only(const struct bt_engine *e);
/* Monotonic milliseconds (the engine's clock). */
uint64_t bt_now_ms(void);

/* Engine thread: connections whose first bytes are no BitTorrent
 * handshake go to FN, with the bytes read so far; FN returns true when it
 * took C over (it may later hand a decrypted stream back with
 * bt_engine_accept_conn()), false to have it closed. */
typedef bool (*bt_engine_unknown_fn)(void *arg, struct bt_conn *c,
				     const uint8_t *first, size_t n);
void bt_engine_set_unknown_handler(struct bt_engine *e, bt_engine_unknown_fn fn,
				   void *arg);
/* Engine thread: an incoming stream (a transport of any kind, e.g. one
 * that decrypts) whose first N bytes FIRST were already read from it: sniff
 * and route it as an accepted TCP connection is. The engine owns C. */
void bt_engine_accept_conn(struct bt_engine *e, struct bt_conn *c,
			   const uint8_t *first, size_t n);

#endif
