/* bt_peer — one peer connection on the engine thread.
 *
 * A bufferevent carries the BEP 3 wire protocol (plus the BEP 6 fast
 * extension's have_all/have_none/reject) out; the socket is read by an
 * event of our own in big readv(2)s into the bufferevent's input (libevent
 * 2.1 reads 4 KiB a call). bt_wire decodes and validates
 * every message against the torrent before it gets here. Outgoing requests
 * come from the picker and are pipelined (the depth follows the peer's
 * measured rate); incoming requests are admitted by bt_choker (bounds,
 * pieces we hold, choke state, a queue cap), queued, and read from the
 * cache's verified pieces on the reader thread (bt_reader.c) while the
 * socket's output stays under a watermark, so a slow downloader cannot make
 * us buffer much. With --max-up/--max-down every peer's socket is in the
 * session's libevent rate-limit group. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bt_session_i.h"
#include "pfs_log.h"

#define OUTPUT_HIGH (512u * 1024) /* stop serving blocks above this */
#define OUTPUT_LOW (128u * 1024)  /* write_cb fires below this */
#define HANDSHAKE_TIMEOUT_MS 10000
#define IDLE_TIMEOUT_MS 180000
#define KEEPALIVE_MS 90000
#define SNUB_MS 15000
/* Bytes one read(2) may take from a peer's socket. The socket is read here,
 * not by the bufferevent (which only writes): libevent 2.1 reads at most
 * 4 KiB a call, a syscall and a callback per 4 KiB at swarm speed. */
#define READ_MAX (256 * 1024)
/* Pipeline depth = rate x PIPELINE_MS (bandwidth x delay), at least
 * PIPELINE_MIN blocks: enough to keep a fast link busy, short enough that
 * a due-now piece does not queue behind seconds of read-ahead. */
#define PIPELINE_MS 100
#define PIPELINE_MIN 16
/* A peer SLOW_RATIO times slower than the fastest gets no block that is
 * due already (it may still serve read-ahead; a block of it that comes due
 * while it sits there is re-requested from a fast peer once late). */
#define SLOW_RATIO 8
/* Most requests one due piece may displace on a peer at a time. */
#define PREEMPT_MAX 32

static void peer_send(struct bt_peer *p, const struct bt_msg *m)
{
	uint8_t hdr[32];
	size_t n = bt_wire_build(hdr, sizeof(hdr), m);
	PFS_ASSERT(n > 0);
	bufferevent_write(p->bev, hdr, n);
	p->last_send = bt_now_ms();
}

static void peer_send_simple(struct bt_peer *p, int type)
{
	struct bt_msg m = {.type = type};
	peer_send(p, &m);
}

static void peer_send_block_msg(struct bt_peer *p, int type, uint32_t piece,
				uint32_t begin, uint32_t length)
{
	struct bt_msg m = {
		.type = type, .index = piece, .begin = begin, .length = length};
	peer_send(p, &m);
}

static void send_handshake(struct bt_peer *p)
{
	uint8_t hs[BT_HANDSHAKE_LEN];
	uint8_t reserved[8] = {0};
	reserved[7] |= 0x04; /* BEP 6 fast extension */
	bt_wire_handshake(hs, reserved, p->s->mi->info_hash, p->s->peer_id);
	bufferevent_write(p->bev, hs, sizeof(hs));
	p->last_send = bt_now_ms();
}

static void send_have_state(struct bt_peer *p)
{
	struct bt_session *s = p->s;
	uint32_t have = bt_picker_have_count(s->picker);
	if (p->fast && have == s->mi->npieces) {
		peer_send_simple(p, BT_MSG_HAVE_ALL);
		return;
	}
	if (have == 0) {
		if (p->fast)
			peer_send_simple(p, BT_MSG_HAVE_NONE);
		return;
	}
	size_t len = (s->mi->npieces + 7) / 8;
	uint8_t *bf = calloc(1, len);
	if (!bf)
		return;
	cache_bitfield(s->cache, bf);
	struct bt_msg m = {.type = BT_MSG_BITFIELD, .data_len = len};
	peer_send(p, &m);
	bufferevent_write(p->bev, bf, len);
	free(bf);
}

/* ---- requests we send ---- */

static bool queued_fn(void *arg, uint32_t piece, uint32_t begin)
{
	struct bt_peer *p = arg;
	for (size_t i = 0; i < p->nout; i++)
		if (p->out[i].piece == piece && p->out[i].begin == begin)
			return true;
	return false;
}

static size_t target_depth(const struct bt_peer *p)
{
	size_t d = PIPELINE_MIN + (size_t)(p->down_rate * PIPELINE_MS / 1000.0 /
					   BT_BLOCK_SIZE);
	return d > BT_MAX_OUT_REQS ? BT_MAX_OUT_REQS : d;
}

static void send_requests(struct bt_peer *p, const struct bt_block *blocks,
			  size_t n, uint64_t now)
{
	for (size_t i = 0; i < n; i++) {
		struct bt_out_req *r = &p->out[p->nout++];
		r->piece = blocks[i].piece;
		r->begin = blocks[i].begin;
		r->length = blocks[i].length;
		r->sent = now;
		peer_send_block_msg(p, BT_MSG_REQUEST, r->piece, r->begin,
				    r->length);
	}
}

void bt_peer_rank(struct bt_session *s)
{
	double best = 0;
	for (struct bt_peer *q = s->peers; q; q = q->next)
		if (q->handshaken && !q->peer_choking && q->down_rate > best)
			best = q->down_rate;
	for (struct bt_peer *q = s->peers; q; q = q->next)
		q->slow = q->down_rate * SLOW_RATIO < best;
}

void bt_peer_steal_due(struct bt_session *s, uint64_t now)
{
	for (struct bt_peer *q = s->peers; q; q = q->next) {
		if (!q->slow)
			continue;
		for (size_t i = q->nout; i-- > 0;) {
			struct bt_out_req r = q->out[i];
			int64_t d = bt_picker_deadline(s->picker, r.piece);
			if (d >= 0 && (uint64_t)d <= now)
				bt_peer_cancel(q, r.piece, r.begin);
		}
	}
}

/* This peer's share of the swarm's rate, in per mille, for spreading the
 * blocks of a due piece (an even share while rates are unknown). */
static uint32_t due_share(const struct bt_peer *p)
{
	double sum = 0;
	uint32_t n = 0;
	for (const struct bt_peer *q = p->s->peers; q; q = q->next) {
		if (!q->handshaken || q->peer_choking || q->slow)
			continue;
		sum += q->down_rate;
		n++;
	}
	if (n <= 1)
		return 1000;
	/* half by measured rate, half even: a peer's rate follows what it
	 * was given, so a pure rate split would starve a peer for good */
	double share = 0.5 / n + (sum > 0 ? 0.5 * p->down_rate / sum : 0.5 / n);
	/* a little over its share: the last blocks go to whoever is free */
	return (uint32_t)(share * 1250);
}

/* The pipeline is full but blocks are due now: cancel the newest requests
 * of later pieces (the peer answers in order, so they sit behind what is
 * due) and ask for the due blocks in their place. */
static void preempt(struct bt_peer *p, uint64_t now)
{
	struct bt_session *s = p->s;
	struct bt_block blocks[PREEMPT_MAX];
	size_t room = BT_MAX_OUT_REQS - p->nout;
	if (room > PREEMPT_MAX)
		room = PREEMPT_MAX;
	/* usually nothing due is left unrequested: then this is all */
	size_t n = bt_picker_pick_due(s->picker, p->have, queued_fn, p, now,
				      blocks, room);
	if (!n)
		return;
	size_t cancelled = 0;
	for (size_t i = p->nout; i-- > 0 && cancelled < n;) {
		struct bt_out_req r = p->out[i];
		int64_t d = bt_picker_deadline(s->picker, r.piece);
		if (d >= 0 && (uint64_t)d <= now)
			continue;
		peer_send_block_msg(p, BT_MSG_CANCEL, r.piece, r.begin,
				    r.length);
		bt_picker_abort(s->picker, r.piece, r.begin);
		memmove(&p->out[i], &p->out[i + 1],
			(p->nout - i - 1) * sizeof(*p->out));
		p->nout--;
		cancelled++;
	}
	send_requests(p, blocks, n, now);
}

void bt_peer_fill(struct bt_peer *p)
{
	struct bt_session *s = p->s;
	if (!p->handshaken || p->peer_choking || s->stopping || s->disk_error)
		return;
	uint64_t now = bt_now_ms();
	if (now < p->snubbed_until)
		return;
	if (bt_hasher_queued_bytes(s) > BT_HASHER_MAX_BYTES)
		return;
	size_t depth = target_depth(p);
	bool slow = p->slow;
	bt_picker_set_due_share(s->picker, due_share(p));
	if (p->nout >= depth) {
		if (!slow && bt_picker_next_deadline(s->picker) <= now)
			preempt(p, now);
		return;
	}
	struct bt_block blocks[BT_MAX_OUT_REQS];
	size_t n;
	if (slow) /* due blocks go to the fast peers */
		n = bt_picker_pick_after(s->picker, p->have, now, now, blocks,
					 depth - p->nout);
	else
		n = bt_picker_pick(s->picker, p->have, queued_fn, p, now,
				   blocks, depth - p->nout);
	send_requests(p, blocks, n, now);
	/* a due piece gets this peer's share even past the depth */
	if (!slow && p->nout >= depth &&
	    bt_picker_next_deadline(s->picker) <= now)
		preempt(p, now);
}

static void abort_all_requests(struct bt_peer *p)
{
	for (size_t i = 0; i < p->nout; i++)
		bt_picker_abort(p->s->picker, p->out[i].piece, p->out[i].begin);
	p->nout = 0;
}

static bool take_out_req(struct bt_peer *p, uint32_t piece, uint32_t begin,
			 uint32_t length)
{
	for (size_t i = 0; i < p->nout; i++) {
		struct bt_out_req *r = &p->out[i];
		if (r->piece == piece && r->begin == begin &&
		    r->length == length) {
			*r = p->out[--p->nout];
			return true;
		}
	}
	return false;
}

void bt_peer_cancel(struct bt_peer *p, uint32_t piece, uint32_t begin)
{
	for (size_t i = 0; i < p->nout; i++) {
		struct bt_out_req *r = &p->out[i];
		if (r->piece == piece && r->begin == begin) {
			peer_send_block_msg(p, BT_MSG_CANCEL, piece, begin,
					    r->length);
			bt_picker_abort(p->s->picker, piece, begin);
			*r = p->out[--p->nout];
			return;
		}
	}
}

/* ---- requests we serve ---- */

static void reject(struct bt_peer *p, const struct bt_block *b)
{
	if (p->fast)
		peer_send_block_msg(p, BT_MSG_REJECT, b->piece, b->begin,
				    b->length);
}

/* Remove the block from the peer's reads in flight; false if not there. */
static bool reading_take(struct bt_peer *p, uint32_t piece, uint32_t begin,
			 uint32_t length)
{
	for (size_t i = 0; i < p->nreading; i++) {
		struct bt_block *b = &p->reading[i];
		if (b->piece == piece && b->begin == begin &&
		    b->length == length) {
			p->reading_bytes -= length;
			memmove(b, b + 1, (p->nreading - i - 1) * sizeof(*b));
			p->nreading--;
			return true;
		}
	}
	return false;
}

/* Hand queued requests to the reader thread while what sits in the socket
 * buffer plus what is being read stays under OUTPUT_HIGH: a slow (or rate
 * limited) downloader cannot make us buffer much. */
static void serve(struct bt_peer *p)
{
	struct bt_session *s = p->s;
	struct evbuffer *out = bufferevent_get_output(p->bev);
	while (p->nin && !p->am_choking && p->nreading < BT_MAX_READING &&
	       evbuffer_get_length(out) + p->reading_bytes < OUTPUT_HIGH) {
		struct bt_block b = p->in[p->nin_head];
		p->nin_head++;
		p->nin--;
		if (!p->nin)
			p->nin_head = 0;
		if (bt_reader_read(s, p->id, b.piece, b.begin, b.length) < 0) {
			reject(p, &b);
			continue;
		}
		p->reading[p->nreading++] = b;
		p->reading_bytes += b.length;
	}
}

static void free_read_ref(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	bt_read_free(arg);
}

void bt_peer_read_done(struct bt_session *s, struct bt_read *r)
{
	struct bt_peer *p = s->peers;
	while (p && p->id != r->peer_id)
		p = p->next;
	/* gone, or the request was cancelled or choked meanwhile */
	if (!p || !reading_take(p, r->piece, r->begin, r->len)) {
		bt_read_free(r);
		return;
	}
	struct bt_block b = {.piece = r->piece, .begin = r->begin,
			     .length = r->len};
	struct evbuffer *out = bufferevent_get_output(p->bev);
	struct bt_msg m = {.type = BT_MSG_PIECE,
			   .index = r->piece,
			   .begin = r->begin,
			   .data_len = r->len};
	if (r->err < 0 ||
	    bt_wire_build(r->buf, BT_READ_HEADROOM, &m) != BT_READ_HEADROOM ||
	    evbuffer_add_reference(out, r->buf, BT_READ_HEADROOM + r->len,
				   free_read_ref, r) < 0) {
		/* ENODATA: the piece was evicted since the request was
		 * queued, which a cache limit makes routine */
		pfs_log(r->err == -ENODATA ? PFS_LOG_DEBUG : PFS_LOG_WARN,
			"peer", "cannot serve piece %u to '%s': %s", r->piece,
			p->name, strerror(r->err < 0 ? -r->err : ENOMEM));
		bt_read_free(r);
		reject(p, &b);
		serve(p);
		return;
	}
	p->last_send = bt_now_ms();
	p->sent_bytes += b.length;
	p->total_up += b.length;
	s->uploaded += b.length;
	s->up_sec += b.length;
	serve(p);
}

static void reject_all_incoming(struct bt_peer *p)
{
	for (size_t i = 0; i < p->nin; i++)
		reject(p, &p->in[p->nin_head + i]);
	p->nin = p->nin_head = 0;
	/* their reads are dropped when they come back */
	for (size_t i = 0; i < p->nreading; i++)
		reject(p, &p->reading[i]);
	p->nreading = 0;
	p->reading_bytes = 0;
}

void bt_peer_set_choke(struct bt_peer *p, bool choke)
{
	if (p->am_choking == choke)
		return;
	p->am_choking = choke;
	peer_send_simple(p, choke ? BT_MSG_CHOKE : BT_MSG_UNCHOKE);
	if (choke) {
		reject_all_incoming(p);
		p->s->unchoked--;
	} else {
		p->s->unchoked++;
	}
}

static bool request_queued(const struct bt_peer *p, const struct bt_msg *m)
{
	for (size_t i = 0; i < p->nin; i++) {
		const struct bt_block *b = &p->in[p->nin_head + i];
		if (b->piece == m->index && b->begin == m->begin &&
		    b->length == m->length)
			return true;
	}
	for (size_t i = 0; i < p->nreading; i++) {
		const struct bt_block *b = &p->reading[i];
		if (b->piece == m->index && b->begin == m->begin &&
		    b->length == m->length)
			return true;
	}
	return false;
}

static int on_request(struct bt_peer *p, const struct bt_msg *m)
{
	struct bt_choker_req r = {
		.piece = m->index,
		.begin = m->begin,
		.length = m->length,
		.have = cache_has(p->s->cache, m->index),
		.choked = p->am_choking,
		.fast = p->fast,
		.duplicate = request_queued(p, m),
		.queued = p->nin + p->nreading,
	};
	struct bt_block b = {.piece = m->index, .begin = m->begin,
			     .length = m->length};
	switch (bt_choker_check_request(&p->s->lim, &r)) {
	case BT_CHOKER_CLOSE:
		bt_peer_close(p, "invalid request");
		return -1;
	case BT_CHOKER_REJECT:
		reject(p, &b);
		return 0;
	case BT_CHOKER_IGNORE:
		return 0;
	case BT_CHOKER_SERVE:
		break;
	}
	if (p->nin_head + p->nin >= BT_MAX_IN_REQS) {
		memmove(p->in, p->in + p->nin_head, p->nin * sizeof(*p->in));
		p->nin_head = 0;
	}
	p->in[p->nin_head + p->nin++] = b;
	serve(p);
	return 0;
}

static void on_cancel(struct bt_peer *p, const struct bt_msg *m)
{
	struct bt_block c = {.piece = m->index, .begin = m->begin,
			     .length = m->length};
	for (size_t i = 0; i < p->nin; i++) {
		struct bt_block *b = &p->in[p->nin_head + i];
		if (b->piece == m->index && b->begin == m->begin &&
		    b->length == m->length) {
			memmove(b, b + 1, (p->nin - i - 1) * sizeof(*b));
			p->nin--;
			reject(p, &c);
			return;
		}
	}
	/* being read: its answer is dropped when it comes back */
	if (reading_take(p, m->index, m->begin, m->length)) {
		reject(p, &c);
		serve(p);
	}
}

/* ---- availability and interest ---- */

void bt_peer_update_interest(struct bt_peer *p)
{
	bool want = bt_picker_interesting(p->s->picker, p->have);
	if (want == p->am_interested)
		return;
	p->am_interested = want;
	peer_send_simple(p, want ? BT_MSG_INTERESTED : BT_MSG_NOT_INTERESTED);
}

static void set_bitfield(struct bt_peer *p, const uint8_t *bf)
{
	struct bt_session *s = p->s;
	size_t len = (s->mi->npieces + 7) / 8;
	if (p->have_count)
		bt_picker_avail_remove(s->picker, p->have);
	memcpy(p->have, bf, len);
	p->have_count = 0;
	for (uint32_t i = 0; i < s->mi->npieces; i++)
		p->have_count += bt_bit_get(p->have, i);
	bt_picker_avail_add(s->picker, p->have);
	p->seed = p->have_count == s->mi->npieces;
	p->bitfield_seen = true;
}

static void set_all(struct bt_peer *p, bool all)
{
	size_t len = (p->s->mi->npieces + 7) / 8;
	uint8_t *bf = calloc(1, len);
	if (!bf)
		return;
	if (all)
		for (uint32_t i = 0; i < p->s->mi->npieces; i++)
			bt_bit_set(bf, i);
	set_bitfield(p, bf);
	free(bf);
}

void bt_peer_send_have(struct bt_peer *p, uint32_t piece)
{
	if (!p->handshaken || bt_bit_get(p->have, piece))
		return;
	struct bt_msg m = {.type = BT_MSG_HAVE, .index = piece};
	peer_send(p, &m);
}

/* ---- incoming messages ---- */

/* Returns -1 when P was closed. */
static int on_msg(struct bt_peer *p, const struct bt_msg *m)
{
	struct bt_session *s = p->s;
	switch (m->type) {
	case BT_MSG_KEEPALIVE:
		break;
	case BT_MSG_CHOKE:
		p->peer_choking = true;
		/* also for fast peers: anything still sent is accepted if
		 * needed, and a reject for a dropped request is ignored */
		abort_all_requests(p);
		break;
	case BT_MSG_UNCHOKE:
		p->peer_choking = false;
		bt_peer_fill(p);
		break;
	case BT_MSG_INTERESTED:
		p->peer_interested = true;
		bt_session_rechoke(s);
		break;
	case BT_MSG_NOT_INTERESTED:
		p->peer_interested = false;
		bt_session_rechoke(s);
		break;
	case BT_MSG_HAVE:
		if (!bt_bit_get(p->have, m->index)) {
			bt_bit_set(p->have, m->index);
			p->have_count++;
			p->seed = p->have_count == s->mi->npieces;
			bt_picker_avail_inc(s->picker, m->index);
			bt_peer_update_interest(p);
			bt_peer_fill(p);
		}
		break;
	case BT_MSG_BITFIELD:
		set_bitfield(p, m->data);
		bt_peer_update_interest(p);
		bt_peer_fill(p);
		break;
	case BT_MSG_HAVE_ALL:
	case BT_MSG_HAVE_NONE:
		if (!p->fast) {
			bt_peer_close(p, "fast-extension message without support");
			return -1;
		}
		set_all(p, m->type == BT_MSG_HAVE_ALL);
		bt_peer_update_interest(p);
		bt_peer_fill(p);
		break;
	case BT_MSG_REQUEST:
		return on_request(p, m);
	case BT_MSG_CANCEL:
		on_cancel(p, m);
		break;
	case BT_MSG_PIECE:
		/* read_cb hands pieces to on_piece() */
		break;
	case BT_MSG_REJECT:
		if (!p->fast) {
			bt_peer_close(p, "reject without fast extension");
			return -1;
		}
		if (take_out_req(p, m->index, m->begin, m->length))
			bt_picker_abort(s->picker, m->index, m->begin);
		break;
	default:
		/* port, suggest, allowed_fast, extended, unknown: ignored */
		break;
	}
	return 0;
}

/* A piece message parsed from MEM (which this takes over). */
static void on_piece(struct bt_peer *p, const struct bt_msg *m, uint8_t *mem)
{
	if (take_out_req(p, m->index, m->begin, (uint32_t)m->data_len))
		p->last_block = bt_now_ms();
	p->recv_bytes += m->data_len;
	p->total_down += m->data_len;
	bt_session_block(p->s, p, m->index, m->begin, mem, m->data,
			 (uint32_t)m->data_len);
	bt_peer_fill(p);
}

static int on_handshake(struct bt_peer *p, const uint8_t *hs)
{
	struct bt_session *s = p->s;
	uint8_t reserved[8], ih[20], pid[20];
	if (bt_wire_handshake_parse(hs, reserved, ih, pid) < 0) {
		bt_peer_close(p, "not a bittorrent handshake");
		return -1;
	}
	if (memcmp(ih, s->mi->info_hash, 20) != 0) {
		bt_peer_close(p, "handshake for another torrent");
		return -1;
	}
	if (memcmp(pid, s->peer_id, 20) == 0) {
		struct bt_known *k = bt_session_find_known(s, &p->addr);
		if (k)
			k->banned = true; /* it is us */
		bt_peer_close(p, "connected to ourselves");
		return -1;
	}
	for (struct bt_peer *q = s->peers; q; q = q->next) {
		if (q != p && q->handshaken && !memcmp(q->peer_id, pid, 20)) {
			bt_peer_close(p, "already connected to this peer");
			return -1;
		}
	}
	memcpy(p->peer_id, pid, 20);
	p->fast = (reserved[7] & 0x04) != 0;
	if (!p->outgoing)
		send_handshake(p);
	p->handshaken = true;
	send_have_state(p);
	pfs_log(PFS_LOG_INFO, "peer", "connected to '%s'%s", p->name,
		p->fast ? " (fast)" : "");
	return 0;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct bt_peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	p->last_recv = bt_now_ms();
	if (!p->handshaken) {
		if (evbuffer_get_length(in) < BT_HANDSHAKE_LEN)
			return;
		if (on_handshake(p, evbuffer_pullup(in, BT_HANDSHAKE_LEN)) < 0)
			return;
		evbuffer_drain(in, BT_HANDSHAKE_LEN);
	}
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		uint8_t lenb[5];
		if (avail < 4)
			break;
		evbuffer_copyout(in, lenb, avail < 5 ? 4 : 5);
		uint32_t len = (uint32_t)lenb[0] << 24 | (uint32_t)lenb[1] << 16 |
			       (uint32_t)lenb[2] << 8 | lenb[3];
		if (len > p->s->lim.max_msg_len) {
			bt_peer_close(p, "message too long");
			return;
		}
		if (avail < 4 + (size_t)len)
			break;
		if (len > 1 && lenb[4] == BT_MSG_PIECE) {
			/* one copy, straight into the buffer the disk write
			 * takes over (no pullup, no second copy) */
			uint8_t *mem = malloc(4 + (size_t)len);
			struct bt_msg m;
			if (!mem) {
				bt_peer_close(p, "out of memory");
				return;
			}
			evbuffer_remove(in, mem, 4 + (size_t)len);
			if (bt_wire_parse(mem, 4 + (size_t)len, &p->s->lim,
					  &m) <= 0) {
				free(mem);
				bt_peer_close(p, "protocol error");
				return;
			}
			on_piece(p, &m, mem);
			continue;
		}
		const uint8_t *buf = evbuffer_pullup(in, 4 + (ssize_t)len);
		struct bt_msg m;
		ssize_t used = bt_wire_parse(buf, 4 + (size_t)len, &p->s->lim, &m);
		if (used <= 0) {
			bt_peer_close(p, "protocol error");
			return;
		}
		if (on_msg(p, &m) < 0)
			return;
		evbuffer_drain(in, (size_t)used);
	}
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	serve(arg);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct bt_peer *p = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		setsockopt(bufferevent_getfd(p->bev), IPPROTO_TCP, TCP_NODELAY,
			   &one, sizeof(one));
		p->tcp_up = true;
		send_handshake(p);
		return;
	}
	if (what & BEV_EVENT_EOF)
		bt_peer_close(p, "connection closed");
	else if (what & BEV_EVENT_ERROR) {
		p->sock_errno = EVUTIL_SOCKET_ERROR();
		bt_peer_close(p, strerror(p->sock_errno));
	}
	else
		bt_peer_close(p, "timeout");
}

/* The socket is readable: move what waits (up to READ_MAX) into the
 * bufferevent's input in one readv(2), then parse it. */
static void sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_peer *p = arg;
	(void)what;
	struct evbuffer *in = bufferevent_get_input(p->bev);
	int avail = 0;
	if (ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0)
		avail = 4096; /* EOF or an error: readv says which */
	if (avail > READ_MAX)
		avail = READ_MAX;
	struct evbuffer_iovec v[2];
	/* the bufferevent keeps its input's end frozen but while it reads
	 * itself: do as it does */
	evbuffer_unfreeze(in, 0);
	int nv = evbuffer_reserve_space(in, avail, v, 2);
	if (nv <= 0) {
		evbuffer_freeze(in, 0);
		bt_peer_close(p, "out of memory");
		return;
	}
	struct iovec iov[2];
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	ssize_t r = readv(fd, iov, nv);
	int err = errno;
	size_t left = r > 0 ? (size_t)r : 0;
	int used = 0;
	for (; used < nv && left; used++) {
		if (v[used].iov_len > left)
			v[used].iov_len = left;
		left -= v[used].iov_len;
	}
	evbuffer_commit_space(in, v, used);
	evbuffer_freeze(in, 0);
	if (r > 0) {
		/* ACK at once (Linux falls back to delayed ACKs by itself): a
		 * peer that sends with Nagle on holds a piece's last segment
		 * back until our ACK comes, up to 40 ms later */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
	if (r == 0) {
		bt_peer_close(p, "connection closed");
		return;
	}
	if (r < 0) {
		if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
			p->sock_errno = err;
			bt_peer_close(p, strerror(err));
		}
		return;
	}
	read_cb(p->bev, p);
}

/* ---- lifetime ---- */

static struct bt_peer *peer_new(struct bt_session *s, struct bufferevent *bev,
				const struct bt_addr *addr, bool outgoing)
{
	struct bt_peer *p = calloc(1, sizeof(*p));
	size_t bflen = (s->mi->npieces + 7) / 8;
	if (!p)
		return NULL;
	p->have = calloc(1, bflen);
	p->out = calloc(BT_MAX_OUT_REQS, sizeof(*p->out));
	p->in = calloc(BT_MAX_IN_REQS, sizeof(*p->in));
	p->read_ev = event_new(s->base, bufferevent_getfd(bev),
			       EV_READ | EV_PERSIST, sock_read_cb, p);
	if (!p->have || !p->out || !p->in || !p->read_ev) {
		if (p->read_ev)
			event_free(p->read_ev);
		free(p->have);
		free(p->out);
		free(p->in);
		free(p);
		return NULL;
	}
	p->s = s;
	p->bev = bev;
	p->addr = *addr;
	bt_addr_str(addr, p->name, sizeof(p->name));
	p->id = ++s->next_peer_id;
	p->outgoing = outgoing;
	p->am_choking = p->peer_choking = true;
	p->connected_at = p->last_recv = p->last_send = p->last_block =
		bt_now_ms();
	p->ch.connected_at = p->connected_at;
	p->next = s->peers;
	s->peers = p;
	s->npeers++;
	bufferevent_setwatermark(bev, EV_WRITE, OUTPUT_LOW, 0);
	if (s->rl_group && bufferevent_add_to_rate_limit_group(bev, s->rl_group))
		pfs_log(PFS_LOG_WARN, "peer", "'%s' is not rate limited",
			p->name);
	if (s->max_down) {
		/* under a download limit the bufferevent reads, rate limited by
		 * the group; our own big reads are for speed, which the limit
		 * caps anyway */
		bufferevent_setcb(bev, read_cb, write_cb, event_cb, p);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	} else {
		bufferevent_setcb(bev, NULL, write_cb, event_cb, p);
		bufferevent_enable(bev, EV_WRITE);
		event_add(p->read_ev, NULL);
	}
	return p;
}

static int bind_local(struct bt_session *s, int fd, int family)
{
	if (!s->bind_ip)
		return 0;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		if (inet_pton(AF_INET, s->bind_ip, &a->sin_addr) != 1)
			return 0; /* bound to an address of the other family */
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, s->bind_ip, &a->sin6_addr) != 1)
			return 0;
		len = sizeof(*a);
	}
	return bind(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
}

struct bt_peer *bt_peer_connect(struct bt_session *s,
				const struct bt_addr *addr)
{
	struct sockaddr_storage ss;
	socklen_t sslen = bt_addr_to_sockaddr(addr, &ss);
	int family = ss.ss_family;
	if (!sslen)
		return NULL;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (bind_local(s, fd, family) < 0) {
		close(fd);
		return NULL;
	}
	struct bufferevent *bev =
		bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return NULL;
	}
	struct bt_peer *p = peer_new(s, bev, addr, true);
	if (!p) {
		bufferevent_free(bev);
		return NULL;
	}
	pfs_log(PFS_LOG_DEBUG, "peer", "connecting to '%s'", p->name);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
				       (int)sslen) < 0) {
		bt_peer_close(p, "connect failed");
		return NULL;
	}
	return p;
}

struct bt_peer *bt_peer_accept(struct bt_session *s, int fd,
			       const struct sockaddr *sa, int salen)
{
	struct bt_addr addr;
	if (salen <= 0 || bt_addr_from_sockaddr(&addr, sa, (socklen_t)salen) < 0) {
		close(fd);
		return NULL;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct bufferevent *bev =
		bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return NULL;
	}
	struct bt_peer *p = peer_new(s, bev, &addr, false);
	if (!p)
		bufferevent_free(bev);
	return p;
}

void bt_peer_close(struct bt_peer *p, const char *why)
{
	struct bt_session *s = p->s;
	pfs_log(p->handshaken ? PFS_LOG_INFO : PFS_LOG_DEBUG, "peer",
		"closing '%s': %s", p->name, why);
	abort_all_requests(p);
	if (p->have_count)
		bt_picker_avail_remove(s->picker, p->have);
	bool was_unchoked = !p->am_choking;
	if (was_unchoked)
		s->unchoked--;
	bt_session_peer_gone(s, p, why);
	event_free(p->read_ev);
	bufferevent_free(p->bev);
	free(p->have);
	free(p->out);
	free(p->in);
	free(p);
	if (was_unchoked)
		bt_session_rechoke(s); /* its slot goes to another peer now */
}

void bt_peer_tick(struct bt_peer *p, uint64_t now)
{
	p->down_rate = p->down_rate * 0.5 + (double)p->recv_bytes * 0.5;
	p->up_rate = p->up_rate * 0.5 + (double)p->sent_bytes * 0.5;
	p->recv_bytes = p->sent_bytes = 0;
	if (!p->handshaken) {
		if (now - p->connected_at > HANDSHAKE_TIMEOUT_MS)
			bt_peer_close(p, "handshake timeout");
		return;
	}
	if (now - p->last_recv > IDLE_TIMEOUT_MS) {
		bt_peer_close(p, "idle");
		return;
	}
	if (now - p->last_send > KEEPALIVE_MS)
		peer_send_simple(p, BT_MSG_KEEPALIVE);
	if (p->nout) {
		uint64_t oldest = now;
		for (size_t i = 0; i < p->nout; i++)
			if (p->out[i].sent < oldest)
				oldest = p->out[i].sent;
		uint64_t since = p->last_block > oldest ? p->last_block : oldest;
		if (now - since > SNUB_MS) {
			pfs_log(PFS_LOG_INFO, "peer",
				"'%s' sent nothing for %u s: its %zu requests "
				"go to other peers",
				p->name, SNUB_MS / 1000, p->nout);
			abort_all_requests(p);
			p->snubbed_until = now + SNUB_MS;
		}
	}
}
