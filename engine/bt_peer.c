/* bt_peer — the peer wire protocol over a bt_conn; see bt_peer.h.
 *
 * Reads go into the peer's own buffer, which grows while reads fill it (up
 * to a read of BT_PEER_READ_MAX plus one whole message) and is freed again
 * by bt_peer_trim() once the peer goes quiet. A piece message is copied
 * once, from that buffer straight into the memory the owner gives for it
 * (the disk write takes that memory over); every other message is parsed
 * in place. bt_wire validates each message against the owner's limits
 * before any event is delivered. */
#include "bt_peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pfs_log.h"

#define IN_MIN (32u * 1024) /* the read buffer's first size */
#define TRIM_BELOW (64u * 1024) /* bt_peer_trim: bytes a second */

static uint64_t now_of(const struct bt_peer *p)
{
	return p->own->now(p->arg);
}

static void emit(struct bt_peer *p, struct bt_peer_event *ev)
{
	p->depth++;
	p->own->event(p->arg, p, ev);
	p->depth--;
}

static void peer_free(struct bt_peer *p)
{
	bt_conn_close(p->conn);
	free(p->early.bits);
	free(p->have);
	free(p->in);
	free(p);
}

/* After a callback of ours: free P if it was closed meanwhile. Returns
 * false when P is gone or closed. */
static bool leave(struct bt_peer *p)
{
	if (--p->depth || !p->closed)
		return !p->closed;
	peer_free(p);
	return false;
}

void bt_peer_close(struct bt_peer *p, const char *why)
{
	if (p->closed)
		return;
	p->closed = true;
	pfs_log(p->handshaken ? PFS_LOG_INFO : PFS_LOG_DEBUG, "peer",
		"closing '%s': %s", p->name, why);
	struct bt_peer_event ev = {
		.type = BT_PEV_CLOSED, .reason = why, .err = p->sock_errno};
	emit(p, &ev);
	if (!p->depth)
		peer_free(p);
}

/* ---- sending ---- */

static void queue(struct bt_peer *p, const void *buf, size_t len)
{
	if (p->closed || p->write_failed)
		return;
	if (bt_conn_write(p->conn, buf, len) < 0) {
		p->write_failed = true; /* closed by the next tick */
		return;
	}
	p->last_send = now_of(p);
}

static void send_msg(struct bt_peer *p, const struct bt_msg *m)
{
	uint8_t hdr[32];
	size_t n = bt_wire_build(hdr, sizeof(hdr), m);
	PFS_ASSERT(n > 0);
	queue(p, hdr, n);
}

static void send_simple(struct bt_peer *p, int type)
{
	struct bt_msg m = {.type = type};
	send_msg(p, &m);
}

static void send_block_msg(struct bt_peer *p, int type,
			   const struct bt_block *b)
{
	if (!p->handshaken)
		return;
	struct bt_msg m = {.type = type,
			   .index = b->piece,
			   .begin = b->begin,
			   .length = b->length};
	send_msg(p, &m);
}

static void send_handshake(struct bt_peer *p)
{
	uint8_t hs[BT_HANDSHAKE_LEN];
	bt_wire_handshake(hs, p->our_reserved, p->info_hash, p->our_id);
	queue(p, hs, sizeof(hs));
	p->sent_handshake = true;
}

void bt_peer_send_choke(struct bt_peer *p, bool choke)
{
	p->am_choking = choke;
	send_simple(p, choke ? BT_MSG_CHOKE : BT_MSG_UNCHOKE);
}

void bt_peer_send_interested(struct bt_peer *p, bool interested)
{
	p->am_interested = interested;
	send_simple(p, interested ? BT_MSG_INTERESTED : BT_MSG_NOT_INTERESTED);
}

void bt_peer_send_have(struct bt_peer *p, uint32_t piece)
{
	struct bt_msg m = {.type = BT_MSG_HAVE, .index = piece};
	send_msg(p, &m);
}

void bt_peer_send_bitfield(struct bt_peer *p, const uint8_t *bf, size_t len)
{
	struct bt_msg m = {.type = BT_MSG_BITFIELD, .data_len = len};
	send_msg(p, &m);
	queue(p, bf, len);
}

void bt_peer_send_have_all(struct bt_peer *p)
{
	send_simple(p, BT_MSG_HAVE_ALL);
}

void bt_peer_send_have_none(struct bt_peer *p)
{
	send_simple(p, BT_MSG_HAVE_NONE);
}

void bt_peer_send_request(struct bt_peer *p, const struct bt_block *b)
{
	send_block_msg(p, BT_MSG_REQUEST, b);
}

void bt_peer_send_cancel(struct bt_peer *p, const struct bt_block *b)
{
	send_block_msg(p, BT_MSG_CANCEL, b);
}

void bt_peer_send_reject(struct bt_peer *p, const struct bt_block *b)
{
	send_block_msg(p, BT_MSG_REJECT, b);
}

void bt_peer_send_piece_ref(struct bt_peer *p, const struct bt_block *b,
			    uint8_t *buf, bt_conn_free_fn fn, void *arg)
{
	size_t total = BT_PEER_PIECE_HEADROOM + (size_t)b->length;
	struct bt_msg m = {.type = BT_MSG_PIECE,
			   .index = b->piece,
			   .begin = b->begin,
			   .data_len = b->length};
	if (p->closed || p->write_failed ||
	    bt_wire_build(buf, BT_PEER_PIECE_HEADROOM, &m) !=
		    BT_PEER_PIECE_HEADROOM) {
		fn(buf, total, arg);
		return;
	}
	if (bt_conn_write_ref(p->conn, buf, total, fn, arg) < 0) {
		p->write_failed = true;
		return;
	}
	p->last_send = now_of(p);
}

void bt_peer_send_extended(struct bt_peer *p, uint8_t ext_id,
			   const void *payload, size_t len)
{
	struct bt_msg m = {.type = BT_MSG_EXTENDED, .ext_id = ext_id,
			   .data_len = len};
	send_msg(p, &m);
	queue(p, payload, len);
}

void bt_peer_send_port(struct bt_peer *p, uint16_t port)
{
	struct bt_msg m = {.type = BT_MSG_PORT, .port = port};
	send_msg(p, &m);
}

void bt_peer_send_keepalive(struct bt_peer *p)
{
	send_simple(p, BT_MSG_KEEPALIVE);
}

size_t bt_peer_queued(const struct bt_peer *p)
{
	return p->closed ? 0 : bt_conn_queued(p->conn);
}

/* ---- receiving ---- */

static int on_handshake(struct bt_peer *p, const uint8_t *hs)
{
	uint8_t ih[20];
	if (bt_wire_handshake_parse(hs, p->reserved, ih, p->peer_id) < 0) {
		bt_peer_close(p, "not a bittorrent handshake");
		return -1;
	}
	if (memcmp(ih, p->info_hash, 20) != 0) {
		bt_peer_close(p, "handshake for another torrent");
		return -1;
	}
	p->fast = (p->reserved[BT_RESERVED_FAST_BYTE] & BT_RESERVED_FAST_BIT) &&
		  (p->our_reserved[BT_RESERVED_FAST_BYTE] & BT_RESERVED_FAST_BIT);
	p->ext = (p->reserved[BT_RESERVED_EXT_BYTE] & BT_RESERVED_EXT_BIT) &&
		 (p->our_reserved[BT_RESERVED_EXT_BYTE] & BT_RESERVED_EXT_BIT);
	p->dht = (p->reserved[BT_RESERVED_DHT_BYTE] & BT_RESERVED_DHT_BIT) &&
		 (p->our_reserved[BT_RESERVED_DHT_BYTE] & BT_RESERVED_DHT_BIT);
	if (!p->sent_handshake)
		send_handshake(p);
	p->handshaken = true;
	p->handshake_at = now_of(p);
	struct bt_peer_event ev = {.type = BT_PEV_HANDSHAKE};
	emit(p, &ev);
	return p->closed ? -1 : 0;
}

static void set_have_all(struct bt_peer *p, bool all)
{
	uint32_t n = p->lim->npieces;
	if (all)
		bt_bitfield_fill(p->have, n);
	else
		memset(p->have, 0, bt_bitfield_len(n));
	p->have_count = all ? n : 0;
}

/* ---- what it has, before the metadata ---- */

/* Room for bit INDEX in early.bits, bounded by the largest bitfield the
 * limits let through. */
static int early_grow(struct bt_peer *p, size_t len)
{
	size_t max = p->lim->max_msg_len > 1 ? p->lim->max_msg_len - 1 : 0;
	if (len > max)
		return -EPROTO;
	if (len <= p->early.len)
		return 0;
	size_t n = p->early.len ? p->early.len : 64;
	while (n < len)
		n *= 2;
	if (n > max)
		n = max;
	uint8_t *b = realloc(p->early.bits, n);
	if (!b)
		return -ENOMEM;
	memset(b + p->early.len, 0, n - p->early.len);
	p->early.bits = b;
	p->early.len = n;
	return 0;
}

static int early_msg(struct bt_peer *p, const struct bt_msg *m,
		     struct bt_peer_event *ev)
{
	int err = 0;
	if (m->type == BT_MSG_HAVE) {
		size_t byte = m->index / 8;
		if (p->early.all || (p->early.bits && byte < p->early.len &&
				     bt_bit_get(p->early.bits, m->index)))
			return 1; /* nothing new */
		if ((err = early_grow(p, byte + 1)) < 0)
			return err;
		bt_bit_set(p->early.bits, m->index);
		p->have_count++;
		ev->type = BT_PEV_HAVE;
		ev->index = m->index;
		return 0;
	}
	/* bitfield, have_all, have_none: replaces what came before */
	free(p->early.bits);
	p->early.bits = NULL;
	p->early.len = p->early.bf_len = 0;
	p->early.all = m->type == BT_MSG_HAVE_ALL;
	p->have_count = 0;
	if (m->type == BT_MSG_BITFIELD) {
		if ((err = early_grow(p, m->data_len)) < 0)
			return err;
		memcpy(p->early.bits, m->data, m->data_len);
		p->early.bf_len = m->data_len;
		p->have_count =
			bt_bitfield_count(p->early.bits, (uint32_t)m->data_len * 8);
	}
	p->have_set = true;
	p->seed = p->early.all;
	ev->type = BT_PEV_BITFIELD;
	return 0;
}

int bt_peer_set_npieces(struct bt_peer *p)
{
	uint32_t n = p->lim->npieces;
	size_t len = bt_bitfield_len(n);
	if (p->early.bf_len && (p->early.bf_len != len ||
				!bt_bitfield_spare_clear(p->early.bits, n)))
		return -EPROTO;
	/* a have past the end */
	for (size_t i = len; i < p->early.len; i++)
		if (p->early.bits[i])
			return -EPROTO;
	if (len && p->early.len >= len &&
	    !bt_bitfield_spare_clear(p->early.bits, n))
		return -EPROTO;
	uint8_t *have = calloc(len ? len : 1, 1);
	if (!have)
		return -ENOMEM;
	if (p->early.all)
		bt_bitfield_fill(have, n);
	else if (p->early.bits)
		memcpy(have, p->early.bits, p->early.len < len ? p->early.len : len);
	free(p->have);
	p->have = have;
	p->have_count = bt_bitfield_count(have, n);
	p->seed = p->have_count == n;
	free(p->early.bits);
	memset(&p->early, 0, sizeof(p->early));
	return 0;
}

/* Returns -1 when P was closed. */
static int on_msg(struct bt_peer *p, const struct bt_msg *m)
{
	struct bt_peer_event ev = {0};
	switch (m->type) {
	case BT_MSG_BITFIELD:
	case BT_MSG_HAVE:
	case BT_MSG_HAVE_ALL:
	case BT_MSG_HAVE_NONE:
	case BT_MSG_INTERESTED:
	case BT_MSG_EXTENDED:
		p->useful = true;
		break;
	default:
		break;
	}
	if (p->lim->metadata_pending &&
	    (m->type == BT_MSG_HAVE || m->type == BT_MSG_BITFIELD ||
	     m->type == BT_MSG_HAVE_ALL || m->type == BT_MSG_HAVE_NONE)) {
		if (m->type != BT_MSG_BITFIELD && m->type != BT_MSG_HAVE &&
		    !p->fast) {
			bt_peer_close(p, "fast-extension message without support");
			return -1;
		}
		int r = early_msg(p, m, &ev);
		if (r < 0) {
			bt_peer_close(p, r == -ENOMEM ? "out of memory"
						      : "have past any torrent's end");
			return -1;
		}
		if (r > 0)
			return 0;
		emit(p, &ev);
		return p->closed ? -1 : 0;
	}
	switch (m->type) {
	case BT_MSG_KEEPALIVE:
		return 0;
	case BT_MSG_CHOKE:
		p->peer_choking = true;
		ev.type = BT_PEV_CHOKE;
		break;
	case BT_MSG_UNCHOKE:
		p->peer_choking = false;
		ev.type = BT_PEV_UNCHOKE;
		break;
	case BT_MSG_INTERESTED:
		p->peer_interested = true;
		ev.type = BT_PEV_INTERESTED;
		break;
	case BT_MSG_NOT_INTERESTED:
		p->peer_interested = false;
		ev.type = BT_PEV_NOT_INTERESTED;
		break;
	case BT_MSG_HAVE:
		if (bt_bit_get(p->have, m->index))
			return 0;
		bt_bit_set(p->have, m->index);
		p->have_count++;
		p->seed = p->have_count == p->lim->npieces;
		ev.type = BT_PEV_HAVE;
		ev.index = m->index;
		break;
	case BT_MSG_BITFIELD:
	case BT_MSG_HAVE_ALL:
	case BT_MSG_HAVE_NONE:
		if (m->type != BT_MSG_BITFIELD && !p->fast) {
			bt_peer_close(p, "fast-extension message without support");
			return -1;
		}
		if (p->have_count) {
			/* BEP 3 and 6 want it first, but clients send one
			 * after haves: the new one replaces what we knew */
			struct bt_peer_event un = {.type = BT_PEV_UNHAVE};
			emit(p, &un);
			if (p->closed)
				return -1;
		}
		if (m->type == BT_MSG_BITFIELD) {
			memcpy(p->have, m->data, m->data_len);
			p->have_count = bt_bitfield_count(p->have, p->lim->npieces);
		} else {
			set_have_all(p, m->type == BT_MSG_HAVE_ALL);
		}
		p->have_set = true;
		p->seed = p->have_count == p->lim->npieces;
		ev.type = BT_PEV_BITFIELD;
		break;
	case BT_MSG_REQUEST:
	case BT_MSG_CANCEL:
	case BT_MSG_REJECT:
		if (m->type == BT_MSG_REJECT && !p->fast) {
			bt_peer_close(p, "reject without fast extension");
			return -1;
		}
		ev.type = m->type == BT_MSG_REQUEST  ? BT_PEV_REQUEST
			  : m->type == BT_MSG_CANCEL ? BT_PEV_CANCEL
						     : BT_PEV_REJECT;
		ev.block = (struct bt_block){m->index, m->begin, m->length};
		break;
	case BT_MSG_EXTENDED:
		ev.type = BT_PEV_EXTENDED;
		ev.ext_id = m->ext_id;
		ev.data = m->data;
		ev.len = m->data_len;
		break;
	case BT_MSG_PORT:
		ev.type = BT_PEV_PORT;
		ev.port = m->port;
		break;
	case BT_MSG_SUGGEST:
		ev.type = BT_PEV_SUGGEST;
		ev.index = m->index;
		break;
	case BT_MSG_ALLOWED_FAST:
		ev.type = BT_PEV_ALLOWED_FAST;
		ev.index = m->index;
		break;
	default:
		return 0; /* an id we do not know: ignored */
	}
	emit(p, &ev);
	return p->closed ? -1 : 0;
}

/* A piece message of TOTAL bytes at BUF: copied once into the owner's
 * memory, which the event hands over. */
static int on_piece(struct bt_peer *p, const uint8_t *buf, size_t total)
{
	void *mem = NULL;
	uint8_t *dst = p->own->block_alloc(p->arg, total, &mem);
	if (!dst) {
		bt_peer_close(p, "out of memory");
		return -1;
	}
	memcpy(dst, buf, total);
	struct bt_msg m;
	if (bt_wire_parse(dst, total, p->lim, &m) <= 0) {
		p->own->block_free(p->arg, mem);
		bt_peer_close(p, "protocol error");
		return -1;
	}
	struct bt_peer_event ev = {
		.type = BT_PEV_PIECE,
		.block = {m.index, m.begin, (uint32_t)m.data_len},
		.mem = mem,
		.data = m.data,
	};
	emit(p, &ev);
	return p->closed ? -1 : 0;
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* Every whole message in the buffer; what is left of a partial one moves
 * to the front. Returns -1 when P was closed. */
static int parse(struct bt_peer *p)
{
	size_t off = 0;
	int rc = 0;
	if (!p->handshaken) {
		if (p->nin < BT_HANDSHAKE_LEN)
			return 0;
		if (on_handshake(p, p->in) < 0)
			return -1;
		off = BT_HANDSHAKE_LEN;
	}
	while (p->nin - off >= 4) {
		const uint8_t *b = p->in + off;
		uint32_t len = be32(b);
		if (len > p->lim->max_msg_len) {
			bt_peer_close(p, "message too long");
			return -1;
		}
		size_t total = 4 + (size_t)len;
		if (p->nin - off < total)
			break;
		if (len > 1 && b[4] == BT_MSG_PIECE) {
			rc = on_piece(p, b, total);
		} else {
			struct bt_msg m;
			if (bt_wire_parse(b, total, p->lim, &m) <= 0) {
				bt_peer_close(p, "protocol error");
				return -1;
			}
			rc = on_msg(p, &m);
		}
		if (rc < 0)
			return -1;
		off += total;
	}
	if (off) {
		memmove(p->in, p->in + off, p->nin - off);
		p->nin -= off;
	}
	return 0;
}

/* Room for the next read: the buffer grows while reads fill it, and
 * always holds the message being received whole. */
static int make_room(struct bt_peer *p)
{
	size_t want = p->cap ? p->cap : IN_MIN;
	if (p->read_full)
		want = p->cap * 2; /* the last read filled it */
	if (p->nin >= 4 && p->handshaken) {
		size_t total = 4 + (size_t)be32(p->in);
		if (want < total + IN_MIN / 2)
			want = total + IN_MIN / 2;
	}
	size_t max = BT_PEER_READ_MAX + 4 + (size_t)p->lim->max_msg_len;
	if (want > max)
		want = max;
	if (want <= p->cap)
		return 0;
	uint8_t *n = realloc(p->in, want);
	if (!n)
		return -ENOMEM;
	p->in = n;
	p->cap = want;
	return 0;
}

static void on_readable(struct bt_conn *c, void *arg)
{
	struct bt_peer *p = arg;
	(void)c;
	p->depth++;
	if (make_room(p) < 0) {
		bt_peer_close(p, "out of memory");
		goto out;
	}
	size_t room = p->cap - p->nin;
	if (room > BT_PEER_READ_MAX)
		room = BT_PEER_READ_MAX;
	ssize_t n = bt_conn_read(p->conn, p->in + p->nin, room);
	if (n < 0) {
		bt_peer_close(p, n == -ENOTCONN ? "connection closed"
						: strerror((int)-n));
		goto out;
	}
	p->read_full = (size_t)n == room;
	if (n > 0) {
		p->nin += (size_t)n;
		p->read_tick += (size_t)n;
		p->last_recv = now_of(p);
	}
	if (p->nin) /* also what came before (a sniffer's bytes) */
		parse(p);
out:
	leave(p);
}

static void on_writable(struct bt_conn *c, void *arg)
{
	struct bt_peer *p = arg;
	(void)c;
	p->depth++;
	if (p->handshaken) {
		struct bt_peer_event ev = {.type = BT_PEV_WRITABLE};
		emit(p, &ev);
	}
	leave(p);
}

static void on_connected(struct bt_conn *c, void *arg)
{
	struct bt_peer *p = arg;
	(void)c;
	p->depth++;
	p->connected = true;
	send_handshake(p);
	struct bt_peer_event ev = {.type = BT_PEV_CONNECTED};
	emit(p, &ev);
	leave(p);
}

static void on_closed(struct bt_conn *c, void *arg, int err)
{
	struct bt_peer *p = arg;
	(void)c;
	p->depth++;
	p->sock_errno = -err;
	bt_peer_close(p, err == 0 ? "connection closed" : strerror(-err));
	leave(p);
}

static const struct bt_conn_cbs conn_cbs = {
	.readable = on_readable,
	.writable = on_writable,
	.connected = on_connected,
	.closed = on_closed,
};

/* The read buffer's low mark for the transport: the owner serves more
 * blocks once the queue falls below it. */
#define OUTPUT_LOW (128u * 1024)

struct bt_peer *bt_peer_new(struct bt_conn *c, const struct bt_peer_owner *own,
			    void *arg, const struct bt_peer_opts *o, int *err)
{
	struct bt_peer *p = calloc(1, sizeof(*p));
	size_t bflen = bt_bitfield_len(o->lim->npieces);
	if (!p || !(p->have = calloc(1, bflen ? bflen : 1)) ||
	    (o->nprefix && !(p->in = malloc(o->nprefix > IN_MIN ? o->nprefix
								: IN_MIN)))) {
		if (p)
			free(p->have);
		free(p);
		bt_conn_close(c);
		if (err)
			*err = -ENOMEM;
		return NULL;
	}
	p->conn = c;
	p->own = own;
	p->arg = arg;
	p->lim = o->lim;
	p->addr = c->remote;
	bt_addr_str(&c->remote, p->name, sizeof(p->name));
	p->outgoing = c->outgoing;
	memcpy(p->info_hash, o->info_hash, 20);
	memcpy(p->our_id, o->peer_id, 20);
	memcpy(p->our_reserved, o->reserved, 8);
	p->am_choking = p->peer_choking = true;
	p->connected_at = p->last_recv = p->last_send = own->now(arg);
	if (o->nprefix) {
		p->cap = o->nprefix > IN_MIN ? o->nprefix : IN_MIN;
		memcpy(p->in, o->prefix, o->nprefix);
		p->nin = o->nprefix;
	}
	bt_conn_set_cbs(c, &conn_cbs, p);
	bt_conn_set_low_watermark(c, OUTPUT_LOW);
	return p;
}

uint64_t bt_peer_tick(struct bt_peer *p, uint64_t now)
{
	if (p->write_failed) {
		bt_peer_close(p, "out of memory");
		return 0;
	}
	if (!p->handshaken) {
		uint64_t d = p->connected_at + BT_PEER_HANDSHAKE_TIMEOUT_MS;
		if (now > d) {
			bt_peer_close(p, "handshake timeout");
			return 0;
		}
		return d + 1;
	}
	if (now - p->last_recv > BT_PEER_IDLE_TIMEOUT_MS) {
		bt_peer_close(p, "idle");
		return 0;
	}
	uint64_t grace = UINT64_MAX;
	if (!p->outgoing && !p->useful) {
		grace = p->handshake_at + BT_PEER_GRACE_MS + 1;
		if (now >= grace) {
			bt_peer_close(p, "sent nothing useful");
			return 0;
		}
	}
	if (now - p->last_send > BT_PEER_KEEPALIVE_MS)
		bt_peer_send_keepalive(p);
	uint64_t idle = p->last_recv + BT_PEER_IDLE_TIMEOUT_MS + 1;
	uint64_t ka = p->last_send + BT_PEER_KEEPALIVE_MS + 1;
	uint64_t d = idle < ka ? idle : ka;
	return grace < d ? grace : d;
}

void bt_peer_trim(struct bt_peer *p)
{
	if (!p->nin && p->cap && p->read_tick < TRIM_BELOW) {
		free(p->in);
		p->in = NULL;
		p->cap = 0;
		p->read_full = false;
	}
	p->read_tick = 0;
}
