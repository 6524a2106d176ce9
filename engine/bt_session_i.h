/* bt_session_i.h — engine-internal structures shared by bt_session.c,
 * bt_peer.c and bt_hasher.c. Everything here belongs to the engine thread
 * unless a field says otherwise. Not for use outside engine/. */
#ifndef BT_SESSION_I_H
#define BT_SESSION_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bt_choker.h"
#include "bt_picker.h"
#include "bt_session.h"
#include "bt_tracker_io.h"
#include "bt_wire.h"

struct event_base;
struct event;
struct evdns_base;
struct evconnlistener;
struct bufferevent;
struct bufferevent_rate_limit_group;
struct ev_token_bucket_cfg;

#define BT_DEFAULT_MAX_PEERS 50
#define BT_MAX_HALF_OPEN 8     /* outgoing connects in progress at once */
#define BT_MAX_OUT_REQS 256    /* our requests outstanding to one peer */
#define BT_MAX_IN_REQS BT_CHOKER_MAX_QUEUE /* a peer's requests queued with us */
#define BT_MAX_READING 64      /* a peer's blocks being read for it */
#define BT_HASHER_MAX_BYTES (16u << 20) /* blocks queued for the disk */

/* A known peer address: from a tracker, --peer, or an incoming peer. */
struct bt_known {
	struct bt_addr addr;
	uint64_t next_try;  /* ms */
	uint32_t fails;
	bool connected;
	bool banned;
	bool manual;        /* --peer: retried forever */
	bool seed;          /* it had every piece: no use to us while we do */
	/* for bt_session_sources(): the last connection attempt */
	int64_t last_try;   /* wall clock, s; 0 = never */
	int last_errno;     /* why the last connection ended, 0 = not an errno */
	char why[64];       /* and in words; "" = none yet */
};

struct bt_tracker_state {
	struct bt_session *s;
	const char *url;
	struct bt_tracker_req *req;
	uint64_t next_announce; /* ms */
	uint32_t interval;      /* s */
	uint32_t fails;
	bool started;           /* "started" was accepted */
	char *tracker_id;       /* "tracker id" of its last reply, or NULL */
	/* for bt_session_sources() */
	int64_t last_wall;      /* wall clock of the last announce sent, s */
	uint32_t last_peers;    /* peers in its last good reply */
	int last_errno;         /* of the last failure, 0 = none or not an errno */
	char last_err[128];     /* the last failure in words, "" = none */
};

struct bt_out_req {
	uint32_t piece, begin, length;
	uint64_t sent; /* ms */
};

struct bt_peer {
	struct bt_session *s;
	struct bt_peer *next;
	struct bufferevent *bev;
	struct bt_addr addr;
	char name[64];
	uint32_t id;
	bool outgoing;
	bool handshaken;
	bool fast;         /* both sides support BEP 6 */
	bool am_choking, am_interested, peer_choking, peer_interested;
	bool seed;
	uint8_t peer_id[20];
	uint8_t *have;     /* peer's bitfield */
	uint32_t have_count;
	bool bitfield_seen;
	struct bt_out_req *out;
	size_t nout;
	bool slow;         /* far slower than the best peer: no due blocks */
	struct event *read_ev;  /* the socket's reads (see bt_peer.c) */
	struct bt_block *in; /* requests queued from the peer */
	size_t nin_head, nin;
	/* blocks on the reader thread for it, in order; an answer that is no
	 * longer here (cancelled, choked) is dropped */
	struct bt_block reading[BT_MAX_READING];
	size_t nreading;
	size_t reading_bytes;
	struct bt_choker_peer ch; /* the choker's view and decision */
	bool tcp_up;              /* outgoing: the connect completed */
	int sock_errno;           /* the socket error that closes it, or 0 */
	uint64_t connected_at, last_recv, last_send, last_block, snubbed_until;
	uint32_t strikes;  /* bad pieces it contributed to */
	uint64_t recv_bytes, sent_bytes;     /* payload, this second */
	double down_rate, up_rate;           /* bytes/s, smoothed */
	uint64_t total_down, total_up;
};

struct bt_job;
struct bt_read;
struct post_item;

struct bt_session {
	const struct bt_metainfo *mi;
	struct cache *cache;
	char *bind_ip;
	uint16_t port;
	int listen_fd;
	int max_peers;
	bool no_trackers;

	struct event_base *base;
	struct evdns_base *dns;
	struct evconnlistener *listener;
	struct event *post_ev, *tick_ev, *exit_ev;
	pthread_t thread;
	bool started, stopped;

	pthread_mutex_t post_lock; /* guards post_* (any thread) */
	struct post_item *post_head, *post_tail;
	bool post_closed;

	uint8_t peer_id[20];
	uint32_t key;
	struct bt_picker *picker;
	struct bt_wire_limits lim;
	struct bt_peer *peers;
	uint32_t npeers; /* including connecting */
	uint32_t next_peer_id;
	struct bt_known *known;
	size_t nknown, cap_known;
	struct bt_tracker_state *trackers;
	size_t ntrackers;
	bool stopping;
	uint32_t unchoked;
	struct bt_choker *choker;
	struct bt_choker_peer **choke_list; /* scratch for bt_choker_run */
	size_t cap_choke_list;
	uint64_t max_up, max_down;  /* bytes/s, 0 = unlimited */
	struct ev_token_bucket_cfg *rl_cfg;
	struct bufferevent_rate_limit_group *rl_group; /* all peers' sockets */

	bt_piece_cb piece_cb;
	void *piece_arg;

	/* hasher thread: guarded by job_lock */
	pthread_t hasher;
	bool hasher_started;
	pthread_mutex_t job_lock;
	pthread_cond_t job_cond;
	struct bt_job *job_head, *job_tail;
	bool job_stop;
	size_t job_bytes;
	uint8_t *write_failed; /* hasher thread: pieces whose write failed */
	int write_errno;       /* hasher thread */
	bool disk_error; /* engine thread: a cache write failed */

	/* reader thread (serves peers' requests from the cache): guarded by
	 * read_lock */
	pthread_t reader;
	bool reader_started;
	pthread_mutex_t read_lock;
	pthread_cond_t read_cond;
	struct bt_read *read_head, *read_tail; /* to read */
	struct bt_read *done_head, *done_tail; /* read, for the engine */
	bool read_stop;

	/* counters (engine thread), published to stats under stats_lock */
	uint64_t downloaded, uploaded, down_sec, up_sec;
	double down_rate, up_rate;
	uint32_t hash_fails;
	pthread_mutex_t stats_lock;
	struct bt_stats stats;
	uint64_t evictions_seen; /* cache evictions the picker knows of */
	struct bt_peer_info *peer_snap; /* under stats_lock */
	size_t npeer_snap, cap_peer_snap;
	struct bt_source_info *source_snap; /* under stats_lock */
	size_t nsource_snap;
};

uint64_t bt_now_ms(void);

/* bt_peer.c */
struct bt_peer *bt_peer_connect(struct bt_session *s,
				const struct bt_addr *addr);
struct bt_peer *bt_peer_accept(struct bt_session *s, int fd,
			       const struct sockaddr *sa, int salen);
void bt_peer_close(struct bt_peer *p, const char *why);
void bt_peer_fill(struct bt_peer *p);
void bt_peer_send_have(struct bt_peer *p, uint32_t piece);
void bt_peer_update_interest(struct bt_peer *p);
void bt_peer_set_choke(struct bt_peer *p, bool choke);
void bt_peer_cancel(struct bt_peer *p, uint32_t piece, uint32_t begin);
void bt_peer_tick(struct bt_peer *p, uint64_t now);
/* Rank the peers by rate (after their ticks): mark the slow ones. */
void bt_peer_rank(struct bt_session *s);
/* Cancel the requests of due pieces held by slow peers, so that fast peers
 * fetch those blocks now. */
void bt_peer_steal_due(struct bt_session *s, uint64_t now);

/* bt_session.c, called by peers */
/* P is closing for reason WHY (p->sock_errno says which errno, if any). */
void bt_session_peer_gone(struct bt_session *s, struct bt_peer *p,
			  const char *why);
/* A block arrived: LEN bytes at DATA inside the allocation MEM, which the
 * session takes over (queued for the disk, or freed when not needed). */
void bt_session_block(struct bt_session *s, struct bt_peer *p, uint32_t piece,
		      uint32_t begin, uint8_t *mem, const uint8_t *data,
		      uint32_t len);
void bt_session_add_known(struct bt_session *s, const struct bt_addr *a,
			  bool manual);
struct bt_known *bt_session_find_known(struct bt_session *s,
				       const struct bt_addr *a);
void bt_session_rechoke(struct bt_session *s);

/* bt_reader.c: reads blocks of verified pieces for peers off the engine
 * thread. A read is answered on the engine thread with
 * bt_peer_read_done(), in the order they were queued. */
struct bt_read {
	struct bt_read *next;
	uint32_t peer_id, piece, begin, len;
	int err;       /* 0 or -errno of cache_read */
	uint8_t *buf;  /* BT_READ_HEADROOM + len bytes; the block at the end */
};
#define BT_READ_HEADROOM 13 /* a piece message's header */
int bt_reader_start(struct bt_session *s);
void bt_reader_stop(struct bt_session *s);
/* Engine thread: queue a read of a verified block for peer PEER_ID.
 * Returns 0 or -ENOMEM. */
int bt_reader_read(struct bt_session *s, uint32_t peer_id, uint32_t piece,
		   uint32_t begin, uint32_t len);
void bt_read_free(struct bt_read *r);
/* bt_peer.c: the answer to a read (takes ownership of R). */
void bt_peer_read_done(struct bt_session *s, struct bt_read *r);

/* bt_hasher.c */
int bt_hasher_start(struct bt_session *s);
void bt_hasher_stop(struct bt_session *s);
/* Queue a block write of LEN bytes at DATA, which lies inside the
 * allocation MEM; takes ownership of MEM (freed once written). */
int bt_hasher_write(struct bt_session *s, uint32_t piece, uint32_t begin,
		    uint8_t *mem, const uint8_t *data, uint32_t len);
/* Queue a verify of PIECE after the writes queued before it; the result is
 * posted to the engine thread as bt_session_piece_done(). */
int bt_hasher_verify(struct bt_session *s, uint32_t piece);
size_t bt_hasher_queued_bytes(struct bt_session *s);
/* Engine thread: the verdict on a piece: 0, -EBADMSG or -errno. */
void bt_session_piece_done(struct bt_session *s, uint32_t piece, int err);

#endif
