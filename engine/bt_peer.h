/* bt_peer — the peer wire protocol over one transport (bt_conn): the BEP 3
 * handshake and messages, the BEP 6 fast extension, and BEP 10 extended
 * messages handed up whole (with their extension id) for the extension
 * code to handle.
 *
 * A peer parses what its connection delivers (into its own buffer, in the
 * pull model of bt_conn), keeps the state the messages set (choke and
 * interest both ways, what the remote says it has), and tells its owner —
 * the torrent — what happened through one event callback (struct
 * bt_peer_event); the owner reacts (picks blocks, queues uploads, bans)
 * and sends with the bt_peer_send_*() functions. Nothing here knows about
 * pieces beyond their count, the picker, the cache or other peers.
 *
 * Limits come from the owner's struct bt_wire_limits (BT_WIRE_MAX... and
 * the torrent's geometry), which the owner may update in place; a message
 * that breaks them closes the peer.
 *
 * Closing: bt_peer_close() delivers the CLOSED event (exactly once; the
 * owner forgets the peer there) and frees the peer — at once, or, when
 * called inside one of the peer's own callbacks (an event handler, a
 * transport callback), once that returns. The owner must not touch the
 * peer after its CLOSED event.
 *
 * Time comes from the owner's clock (now()), so tests drive it.
 * Everything here runs on the engine thread. */
#ifndef BT_PEER_H
#define BT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_conn.h"
#include "bt_picker.h"
#include "bt_wire.h"

#define BT_PEER_HANDSHAKE_TIMEOUT_MS 10000
#define BT_PEER_IDLE_TIMEOUT_MS 180000
#define BT_PEER_KEEPALIVE_MS 90000
/* An incoming peer must say something useful (a bitfield, have, have_all,
 * have_none, interested, or a BEP 10 message) this soon after its
 * handshake, or it is closed: a silent connection only holds a slot. */
#define BT_PEER_GRACE_MS 10000
/* Bytes one read of the transport may take (a partial message more may
 * wait in the buffer): at swarm speed fewer, bigger reads. */
#define BT_PEER_READ_MAX (256 * 1024)

/* Reserved-byte bits of the handshake. */
#define BT_RESERVED_EXT_BYTE 5 /* BEP 10 extension protocol */
#define BT_RESERVED_EXT_BIT 0x10
#define BT_RESERVED_FAST_BYTE 7 /* BEP 6 fast extension */
#define BT_RESERVED_FAST_BIT 0x04
#define BT_RESERVED_DHT_BYTE 7 /* BEP 5 DHT (PORT message) */
#define BT_RESERVED_DHT_BIT 0x01

enum bt_peer_ev_type {
	BT_PEV_CONNECTED,     /* outgoing: the transport is up, handshake sent */
	BT_PEV_HANDSHAKE,     /* theirs arrived (peer_id, reserved set; ours
			       * is sent): the owner may close, or greet */
	BT_PEV_CHOKE,
	BT_PEV_UNCHOKE,
	BT_PEV_INTERESTED,
	BT_PEV_NOT_INTERESTED,
	BT_PEV_HAVE,	      /* .index, new to `have` */
	BT_PEV_UNHAVE,	      /* `have` is about to be replaced whole (a
			       * second bitfield-like message): the owner
			       * forgets what it counted of the old one */
	BT_PEV_BITFIELD,      /* `have` was set whole (bitfield, have_all,
			       * have_none) */
	BT_PEV_REQUEST,	      /* .block */
	BT_PEV_CANCEL,	      /* .block */
	BT_PEV_REJECT,	      /* .block (fast peers only) */
	BT_PEV_PIECE,	      /* .block, .data; .mem is the owner's now */
	BT_PEV_EXTENDED,      /* .ext_id, .data, .len (BEP 10) */
	BT_PEV_PORT,	      /* .port (its DHT port) */
	BT_PEV_SUGGEST,	      /* .index */
	BT_PEV_ALLOWED_FAST,  /* .index */
	BT_PEV_WRITABLE,      /* the transport's queue fell to the low mark */
	BT_PEV_CLOSED,	      /* .reason; the last event */
};

struct bt_peer_event {
	enum bt_peer_ev_type type;
	uint32_t index;
	struct bt_block block;
	void *mem;	     /* PIECE: the allocation holding .data */
	const uint8_t *data; /* PIECE block, EXTENDED payload (valid in the
			      * callback only, but for PIECE's .mem) */
	size_t len;	     /* EXTENDED payload length */
	uint8_t ext_id;
	uint16_t port;
	const char *reason;  /* CLOSED: why, in words */
	int err;	     /* CLOSED: the transport's errno, 0 = not one */
};

struct bt_peer;

/* The owner's side; ARG is the one given to bt_peer_new(). */
struct bt_peer_owner {
	uint64_t (*now)(void *arg); /* ms, monotonic */
	void (*event)(void *arg, struct bt_peer *p,
		      const struct bt_peer_event *ev);
	/* Memory for a piece message of LEN bytes (length prefix included):
	 * returns where to copy it and sets *MEM to what the PIECE event
	 * hands back. NULL when out of memory. */
	uint8_t *(*block_alloc)(void *arg, size_t len, void **mem);
	/* Frees a *MEM of block_alloc that no event handed over. */
	void (*block_free)(void *arg, void *mem);
};

struct bt_peer_opts {
	const uint8_t *info_hash;	   /* 20 bytes: expected, and sent */
	const uint8_t *peer_id;		   /* 20 bytes: ours */
	uint8_t reserved[8];		   /* our reserved bits */
	const struct bt_wire_limits *lim;  /* the owner's, read live */
	const uint8_t *prefix;		   /* bytes already read from the
					    * transport (the sniffer's) */
	size_t nprefix;
};

/* Read-only outside bt_peer.c. */
struct bt_peer {
	struct bt_conn *conn;
	const struct bt_peer_owner *own;
	void *arg;
	char name[BT_ADDR_STRLEN]; /* the remote address, for logs */
	struct bt_addr addr;
	bool outgoing;
	bool connected;		 /* outgoing: the transport is up */
	bool handshaken;	 /* theirs arrived, ours is sent */
	bool closed;		 /* bt_peer_close() ran */
	bool fast, ext, dht;	 /* negotiated: both sides set the bit */
	uint8_t info_hash[20], our_id[20], our_reserved[8];
	uint8_t peer_id[20], reserved[8]; /* theirs */
	bool am_choking, am_interested, peer_choking, peer_interested;
	/* what it has (the limits' npieces bits; before the metadata, see
	 * `early`) */
	uint8_t *have;
	uint32_t have_count;
	bool have_set; /* a bitfield, have_all or have_none came */
	bool seed;
	/* before the metadata (lim->metadata_pending): what it said, kept
	 * until the piece count is known (bt_peer_set_npieces) */
	struct {
		uint8_t *bits;	/* its bitfield and haves, bounded by the
				 * largest bitfield the limits allow */
		size_t len;	/* bytes of bits */
		size_t bf_len;	/* the length of its bitfield, 0: none */
		bool all;	/* have_all */
	} early;
	uint64_t connected_at, last_recv, last_send; /* ms */
	uint64_t handshake_at; /* ms: theirs arrived */
	bool useful;	       /* it said something of use (see GRACE) */
	/* internal */
	const struct bt_wire_limits *lim;
	uint8_t *in;
	size_t nin, cap;
	size_t read_tick;  /* bytes read since the last bt_peer_trim() */
	bool read_full;	   /* the last read filled the room it had */
	unsigned depth;	   /* our callbacks running */
	bool write_failed; /* a send could not be queued: closed by tick */
	bool sent_handshake;
	int sock_errno;	   /* the transport error that closes it, or 0 */
};

/* A peer on C (the peer owns C from now on, also on failure). Outgoing
 * when C->outgoing (its handshake goes out once C connects); incoming
 * otherwise (theirs comes first, starting with O->prefix). NULL with
 * *ERR = -ENOMEM. */
struct bt_peer *bt_peer_new(struct bt_conn *c, const struct bt_peer_owner *own,
			    void *arg, const struct bt_peer_opts *o, int *err);
void bt_peer_close(struct bt_peer *p, const char *why);

/* The owner's limits now know the piece count (the metadata arrived):
 * check what P said before against it (a bitfield of the wrong length or
 * with spare bits set, a have past the end) and turn it into `have`.
 * Returns 0, -EPROTO (P should be dropped) or -ENOMEM. */
int bt_peer_set_npieces(struct bt_peer *p);

/* Timeouts and keepalives: closes P on a handshake or idle timeout, an
 * incoming peer silent past its grace, or a failed send; sends a keepalive
 * when due. Returns when to call it again
 * (P may be gone when it returns 0). */
uint64_t bt_peer_tick(struct bt_peer *p, uint64_t now);
/* Free the read buffer of a peer that reads little (call it once a
 * second). */
void bt_peer_trim(struct bt_peer *p);

/* Sending. A send that cannot be queued marks P to be closed by its next
 * tick. Choke and interest also set the state above; a request, cancel or
 * reject before the handshake is dropped. */
void bt_peer_send_choke(struct bt_peer *p, bool choke);
void bt_peer_send_interested(struct bt_peer *p, bool interested);
void bt_peer_send_have(struct bt_peer *p, uint32_t piece);
void bt_peer_send_bitfield(struct bt_peer *p, const uint8_t *bf, size_t len);
void bt_peer_send_have_all(struct bt_peer *p);
void bt_peer_send_have_none(struct bt_peer *p);
void bt_peer_send_request(struct bt_peer *p, const struct bt_block *b);
void bt_peer_send_cancel(struct bt_peer *p, const struct bt_block *b);
void bt_peer_send_reject(struct bt_peer *p, const struct bt_block *b);
/* A piece message by reference: BUF holds BT_PEER_PIECE_HEADROOM bytes
 * (the header is written there) and then the block's LEN bytes; FN frees
 * it once sent (also on failure). */
#define BT_PEER_PIECE_HEADROOM 13
void bt_peer_send_piece_ref(struct bt_peer *p, const struct bt_block *b,
			    uint8_t *buf, bt_conn_free_fn fn, void *arg);
void bt_peer_send_extended(struct bt_peer *p, uint8_t ext_id,
			   const void *payload, size_t len);
void bt_peer_send_port(struct bt_peer *p, uint16_t port);
void bt_peer_send_keepalive(struct bt_peer *p);
/* Bytes queued in the transport. */
size_t bt_peer_queued(const struct bt_peer *p);

#endif
