/* bt_engine_i.h — engine-internal structures shared by bt_engine.c,
 * bt_torrent.c, bt_hasher.c and bt_reader.c. Everything here belongs to the
 * engine thread unless a field says otherwise. Not for use outside
 * engine/. */
#ifndef BT_ENGINE_I_H
#define BT_ENGINE_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bt_addrbook.h"
#include "bt_announcer.h"
#include "bt_blame.h"
#include "bt_choker.h"
#include "bt_conn.h"
#include "bt_dhtnode.h"
#include "bt_lsd_io.h"
#include "bt_engine.h"
#include "bt_peer.h"
#include "bt_picker.h"
#include "bt_requester.h"
#include "bt_torrent.h"
#include "bt_tracker_io.h"
#include "bt_udp.h"
#include "bt_udptrk_io.h"
#include "bt_wire.h"
#include "pfs_nh.h"

struct event;
struct evconnlistener;

#define BT_MAX_HALF_OPEN 8  /* outgoing connects in progress at once */
#define BT_MAX_IN_REQS BT_CHOKER_MAX_QUEUE /* a peer's requests queued */
#define BT_MAX_READING 64   /* a peer's blocks being read for it */
#define BT_HASHER_MAX_BYTES (16u << 20) /* blocks queued for the disk */
#define BT_HASHER_MAX_DIRTY 16 /* torrents whose maps wait for a flush */
#define BT_MAX_SNIFFING 64  /* incoming connections not yet identified */
#define BT_MIN_IDLE_INBOUND 4 /* idle incoming peers: max_peers / 5, at
			       * least this many */
#define BT_SNIFF_TIMEOUT_MS 10000
#define BT_LOGGED_MAX 4096  /* addresses "no handshake" was logged for */
#define BT_MAX_UNASKED 8    /* blocks a peer may send unasked, then it goes */
#define BT_GONE_MAX 64      /* peers closed lately, remembered for blame */
#define BT_PLAIN_MAX 256    /* --encryption prefer: addresses that failed
			     * MSE, remembered to connect to in plain */
#define BT_MSE_OUT_TIMEOUT_MS 5000 /* our outgoing MSE handshake */

/* ---- the disk thread (bt_hasher.c) ---- */

/* A block on its way to the disk. The peer's piece message is received
 * straight into buf, so queueing it allocates nothing; the job that
 * completes a piece also carries its verify and comes back (on the done
 * list) as the verdict, so a verdict cannot be lost to a failed
 * allocation either. */
struct bt_job {
	struct bt_job *next;
	struct bt_torrent *t;
	uint32_t piece, begin, len;
	const uint8_t *data; /* inside buf */
	bool verify;	     /* after the write: hash the piece */
	int err;	     /* the verdict: 0, -EBADMSG or -errno */
	uint8_t buf[];	     /* the piece message as received */
};
/* A job with room for a message of LEN bytes; NULL on ENOMEM. */
struct bt_job *bt_job_new(size_t len);
int bt_hasher_start(struct bt_engine *e);
void bt_hasher_stop(struct bt_engine *e);
/* Queue J (taken over) for T: write J->data (LEN at PIECE/BEGIN), then,
 * with J->verify, hash the piece. Never fails. */
void bt_hasher_write(struct bt_engine *e, struct bt_job *j);
size_t bt_hasher_queued_bytes(struct bt_engine *e);
/* Drop T's queued jobs and verdicts; returns once the thread is not
 * working on one of T's. */
void bt_hasher_forget(struct bt_engine *e, struct bt_torrent *t);

/* ---- the reader thread (bt_reader.c) ---- */

/* A block read for a peer's request; answered on the engine thread with
 * bt_torrent_read_done(), in the order they were queued. */
struct bt_read {
	struct bt_read *next;
	struct bt_torrent *t;
	uint32_t peer_id, piece, begin, len;
	int err;      /* 0 or -errno of cache_read */
	uint8_t *buf; /* BT_PEER_PIECE_HEADROOM + len bytes, block at the end */
};
int bt_reader_start(struct bt_engine *e);
void bt_reader_stop(struct bt_engine *e);
/* Queue a read of a verified block of T for peer PEER_ID. 0 or -ENOMEM. */
int bt_reader_read(struct bt_engine *e, struct bt_torrent *t,
		   uint32_t peer_id, uint32_t piece, uint32_t begin,
		   uint32_t len);
void bt_read_free(struct bt_read *r);
void bt_reader_forget(struct bt_engine *e, struct bt_torrent *t);

/* ---- the engine ---- */

struct post_item;
struct bt_sniff;

struct bt_engine {
	char *bind_ip;
	uint16_t port;
	int listen_fd;
	struct evconnlistener *listener;
	struct bt_udp *udp;
	struct bt_dhtnode *dht; /* NULL: no DHT */
	bool loopback_only;
	struct bt_udptrk_io *udptrk; /* udp:// announces on udp (made when
				      * first needed: it takes the socket's
				      * BT_UDP_TRACKER handler) */
	struct bt_tracker_tls *tls;  /* https:// announces (made when first
				      * needed) */
	bool tls_failed;	     /* ... and it could not be made */
	bool lsd_on;		     /* LSD wanted (opts and environment) */
	struct bt_lsd_io *lsd;	     /* its socket, once started */
	struct event *lsd_ev;	     /* the periodic announce */
	uint8_t peer_id[20];
	uint32_t key; /* the tracker "key" */
	struct pfs_nh *nh; /* the key blocks are signed with (read-only) */

	struct event_base *base;
	struct evdns_base *dns;
	struct event *post_ev, *exit_ev, *sniff_ev;
	struct event *hash_done_ev, *read_done_ev; /* active from the threads */
	pthread_t thread;
	bool started, stopped;
	bool stopping; /* the stop has begun: no new peers */

	pthread_mutex_t post_lock; /* guards post_* (any thread) */
	struct post_item *post_head, *post_tail;
	bool post_closed;

	uint64_t max_up, max_down;
	int encryption; /* enum bt_mse_policy */
	struct bt_ratelimit *rl; /* every peer's transport, when limited */

	struct bt_torrent *torrents;
	uint32_t next_torrent_id;
	uint32_t pending_stops; /* "stopped" announces still out */

	struct bt_sniff *sniffing; /* incoming, first bytes not yet seen */
	uint32_t nsniffing;
	bt_engine_unknown_fn unknown_fn;
	void *unknown_arg;
	struct bt_addr *logged; /* IPs told "no handshake" (port 0) */
	size_t nlogged;

	/* the disk thread: guarded by job_lock */
	pthread_t hasher;
	bool hasher_started;
	pthread_mutex_t job_lock;
	pthread_cond_t job_cond;
	struct bt_job *job_head, *job_tail;
	struct bt_job *verdict_head, *verdict_tail; /* for the engine */
	struct bt_torrent *job_busy; /* whose job runs (for forget) */
	struct bt_torrent *dirty[BT_HASHER_MAX_DIRTY]; /* maps to flush */
	size_t ndirty;
	bool flush_now, flushing;
	bool job_stop;
	size_t job_bytes;

	/* the reader thread: guarded by read_lock */
	pthread_t reader;
	bool reader_started;
	pthread_mutex_t read_lock;
	pthread_cond_t read_cond;
	struct bt_read *read_head, *read_tail; /* to read */
	struct bt_read *done_head, *done_tail; /* read, for the engine */
	struct bt_torrent *read_busy;
	bool read_stop;
};

/* ---- torrents ---- */

/* One tracker of a torrent, beside its bt_announcer state (same index). */
struct bt_tcall;
struct bt_tracker_state {
	struct bt_tcall *call; /* its announce in flight, or NULL */
	bool failed;	       /* its last announce failed (for the log) */
	/* for bt_torrent_sources() */
	int64_t last_wall; /* wall clock of the last announce sent, s */
	int last_errno;	   /* of the last failure, 0 = none or not one */
};

/* An address given with --peer, as bt_torrent_sources() reports it. */
struct bt_manual_peer {
	struct bt_addr addr;
	int64_t last_try; /* wall clock, s; 0 = never */
	int last_errno;	  /* why the last connection ended, 0 = not one */
	char why[128];	  /* and in words; "" = none yet */
};

/* A torrent's view of one of its peers (the wire protocol is bt_peer's). */
struct bt_tpeer {
	struct bt_torrent *t;
	struct bt_tpeer *next;
	struct bt_peer *w; /* the wire protocol */
	uint32_t id;
	uint8_t src;	   /* where its address came from */
	bool counted;	   /* its `have` is in the picker's availability */
	struct bt_rq_peer rq;	  /* our requests to it */
	struct bt_choker_peer ch; /* the choker's view and decision */
	/* its requests queued with us, then being read for it, in order; an
	 * answer no longer in `reading` (cancelled, choked) is dropped */
	struct bt_block *in;
	size_t nin_head, nin;
	struct bt_block reading[BT_MAX_READING];
	size_t nreading, reading_bytes;
	bool reset_pending;		 /* a choke-unchoke voids its queue
					  * once the queued ones are out */
	uint32_t unasked;		 /* blocks it sent unasked */
	uint64_t recv_bytes, sent_bytes; /* payload, this second */
	double down_rate, up_rate;	 /* bytes/s, smoothed */
	uint64_t total_down, total_up;
	struct bt_extn_peer *x; /* its BEP 10 extensions (bt_extn.c) */
};

struct bt_torrent {
	struct bt_engine *e;
	struct bt_torrent *next;
	uint32_t id;
	uint8_t info_hash[20];
	char name[64]; /* for the log */
	bool named;    /* by the owner (else the metainfo's name, or hex) */
	enum bt_phase phase;
	bool stopping;
	bool removing;

	/* options */
	int max_peers;
	bool fetch_all, no_trackers;
	char **extra_trackers;
	size_t nextra;

	/* DATA phase */
	const struct bt_metainfo *mi;
	struct cache *cache;
	struct bt_picker *picker;
	struct bt_requester *rq;
	struct bt_blame *blame; /* who sent the bad blocks (policy) */
	struct {
		uint32_t id;
		struct bt_addr addr;
	} gone[BT_GONE_MAX]; /* peers closed lately, for blame */
	size_t gone_at;
	uint8_t *write_failed; /* disk thread: pieces whose write failed */
	int write_errno;       /* disk thread */
	bool disk_error;       /* a cache write failed: fetching paused */
	uint64_t evictions_seen; /* cache evictions the picker knows of */
	bt_torrent_open_cache_fn open_cache;
	void *open_cache_arg;

	struct bt_wire_limits lim; /* the peers read it live */
	struct bt_addrbook *book;
	struct bt_tpeer *peers;
	uint32_t npeers; /* including connecting */
	uint32_t next_peer_id;
	struct bt_announcer *an; /* BEP 12 tiers, events; NULL: no tracker */
	struct bt_tracker_state *trackers; /* by the announcer's index */
	size_t ntrackers, cap_trackers;
	uint32_t unchoked;
	struct bt_choker *choker;
	struct bt_choker_peer **choke_list; /* scratch for bt_choker_run */
	size_t cap_choke_list;
	struct bt_rq_peer **rank_list; /* scratch for bt_requester_rank */
	size_t cap_rank_list;

	/* timers, each re-armed from its own deadline */
	struct event *choke_ev, *tracker_ev, *peer_ev, *connect_ev, *rate_ev;
	uint64_t peer_at, connect_at; /* when peer_ev/connect_ev fire */

	bt_piece_cb piece_cb;
	void *piece_arg;
	bt_torrent_ext_fn ext_fn;
	void *ext_arg;
	struct bt_extn *x; /* BEP 10 extensions: metadata fetch, PEX */

	/* counters, published to stats under stats_lock */
	uint64_t downloaded, uploaded, down_sec, up_sec;
	double down_rate, up_rate;
	uint32_t hash_fails;
	pthread_mutex_t stats_lock;
	struct bt_stats stats;
	struct bt_peer_info *peer_snap; /* under stats_lock */
	size_t npeer_snap;
	struct bt_addr *plain_only; /* prefer: MSE failed with these (a ring
				     * of BT_PLAIN_MAX) */
	size_t nplain, plain_at;
	struct bt_manual_peer *manual; /* the --peer addresses */
	size_t nmanual;
	struct bt_source_info *source_snap; /* under stats_lock */
	size_t nsource_snap;
};

/* bt_torrent.c, for the engine */
/* Start its timers, trackers and connections (engine thread). */
int bt_torrent_start(struct bt_torrent *t);
/* Close the peers, cancel the trackers and announce "stopped" where one
 * was accepted (bt_engine_stop_done() when the last reply comes). */
void bt_torrent_shutdown(struct bt_torrent *t);
/* A sniffed incoming connection for T, its first N bytes in FIRST. */
void bt_torrent_accept(struct bt_torrent *t, struct bt_conn *c,
		       const uint8_t *first, size_t n);
/* The verdict on a piece (J back from the disk thread; taken over). */
void bt_torrent_piece_done(struct bt_torrent *t, struct bt_job *j);
/* An upload read came back (R taken over). */
void bt_torrent_read_done(struct bt_torrent *t, struct bt_read *r);
/* Free everything; the engine unlinked it and its jobs are gone. */
void bt_torrent_free(struct bt_torrent *t);

/* bt_extn.c: the BEP 10 extensions of a torrent's peers */
struct bt_extn;
struct bt_extn_peer;
/* TP's handshake is done: send ours when it speaks BEP 10. */
void bt_extn_greet(struct bt_tpeer *tp);
/* An extended message of TP (ID is the id we gave the extension). */
void bt_extn_on_msg(struct bt_tpeer *tp, uint8_t id, const uint8_t *p,
		    size_t len);
/* TP is closing: forget it. */
void bt_extn_peer_gone(struct bt_tpeer *tp);
/* T entered the DATA phase: stop fetching, tell peers the size we serve. */
void bt_extn_data_phase(struct bt_torrent *t);
/* The metadata pieces fetched and their count (0/0: none known yet). */
void bt_extn_progress(struct bt_torrent *t, uint32_t *have, uint32_t *total);
void bt_extn_free(struct bt_torrent *t);

/* bt_engine.c, for the torrents */
struct bt_torrent *bt_engine_find(struct bt_engine *e, const uint8_t ih[20]);
void bt_engine_link(struct bt_engine *e, struct bt_torrent *t);
void bt_engine_unlink(struct bt_engine *e, struct bt_torrent *t);
/* The UDP tracker client on the engine's socket, made at the first call;
 * NULL when it cannot be made. */
struct bt_udptrk_io *bt_engine_udptrk(struct bt_engine *e);
/* The one TLS context of the engine's https:// announces (the system's
 * trust store), made at the first call; NULL when it cannot be made. */
struct bt_tracker_tls *bt_engine_tls(struct bt_engine *e);
/* Announce T on the LAN now (BEP 14), unless LSD is off or T private. */
void bt_engine_lsd_announce(struct bt_engine *e, struct bt_torrent *t);
/* One "stopped" announce came back (or gave up). */
void bt_engine_stop_done(struct bt_engine *e);

#endif
