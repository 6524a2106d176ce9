/* Unit tests for bt_peer, the wire protocol, without sockets: the peer
 * runs on the in-memory pipe transport (conn_pipe.h), the test plays the
 * remote side byte by byte and owns the clock. Covers both handshakes (an
 * incoming one whose first bytes a sniffer already read), every message
 * turned into its event (a bitfield replaced, a duplicate have dropped, a
 * piece handed over in the owner's memory, an extended message with its
 * id), what the send functions put on the wire (a reference write freed
 * once sent), protocol errors (an oversized length before its body, fast
 * messages without the fast bit, spare bits), the timeouts and keepalives
 * driven by `now`, and a close from inside an event handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "bt_peer.h"
#include "conn_pipe.h"
#include "pfs_log.h"

#define NPIECES 20
#define PIECE_LEN 32768u

struct rec {
	enum bt_peer_ev_type type;
	uint32_t index;
	struct bt_block block;
	uint8_t ext_id;
	size_t len;
	uint8_t data[64];
	char reason[64];
};

struct world {
	uint64_t now;
	struct bt_wire_limits lim;
	struct pipe_end *us, *them; /* the peer's end, the remote's */
	int destroyed;		   /* the peer's end freed */
	struct bt_peer *p;
	struct rec ev[64];
	size_t nev;
	bool close_on_request;
	int blocks_freed;
	uint8_t ih[20], our_id[20], their_id[20];
};

static uint64_t w_now(void *arg)
{
	return ((struct world *)arg)->now;
}

static void w_event(void *arg, struct bt_peer *p, const struct bt_peer_event *e)
{
	struct world *w = arg;
	assert_ptr_equal(p, w->p);
	assert_true(w->nev < 64);
	struct rec *r = &w->ev[w->nev++];
	memset(r, 0, sizeof(*r));
	r->type = e->type;
	r->index = e->index;
	r->block = e->block;
	r->ext_id = e->ext_id;
	if (e->type == BT_PEV_PIECE) {
		r->len = e->block.length;
		memcpy(r->data, e->data, r->len < 64 ? r->len : 64);
		free(e->mem);
		w->blocks_freed++;
	}
	if (e->type == BT_PEV_EXTENDED) {
		r->len = e->len;
		memcpy(r->data, e->data, e->len < 64 ? e->len : 64);
	}
	if (e->type == BT_PEV_CLOSED) {
		snprintf(r->reason, sizeof(r->reason), "%s", e->reason);
		w->p = NULL;
	}
	if (e->type == BT_PEV_REQUEST && w->close_on_request) {
		bt_peer_close(p, "told to");
		/* still valid inside the handler: freed after it returns */
		assert_true(p->closed);
	}
}

static uint8_t *w_alloc(void *arg, size_t len, void **mem)
{
	(void)arg;
	*mem = malloc(len);
	return *mem;
}

static void w_free(void *arg, void *mem)
{
	(void)arg;
	free(mem);
}

static const struct bt_peer_owner owner = {
	.now = w_now,
	.event = w_event,
	.block_alloc = w_alloc,
	.block_free = w_free,
};

static struct world *world_new(bool outgoing, const uint8_t *prefix,
			       size_t nprefix)
{
	struct world *w = calloc(1, sizeof(*w));
	w->now = 1000;
	w->lim.npieces = NPIECES;
	w->lim.piece_length = PIECE_LEN;
	w->lim.total_length = (uint64_t)NPIECES * PIECE_LEN - 100;
	w->lim.max_msg_len = bt_wire_max_msg_len(NPIECES);
	memset(w->ih, 0x11, 20);
	memset(w->our_id, 'U', 20);
	memset(w->their_id, 'T', 20);
	struct bt_addr a;
	assert_int_equal(bt_addr_parse("10.0.0.1:6881", &a), 0);
	pipe_new(&w->us, &w->them, &a);
	w->us->c.outgoing = outgoing;
	w->us->destroy_count = &w->destroyed;
	struct bt_peer_opts o = {.info_hash = w->ih,
				 .peer_id = w->our_id,
				 .lim = &w->lim,
				 .prefix = prefix,
				 .nprefix = nprefix};
	o.reserved[BT_RESERVED_FAST_BYTE] |= BT_RESERVED_FAST_BIT;
	int err = 0;
	w->p = bt_peer_new(&w->us->c, &owner, w, &o, &err);
	assert_non_null(w->p);
	assert_string_equal(w->p->name, "10.0.0.1:6881");
	return w;
}

static void world_free(struct world *w)
{
	if (w->p)
		bt_peer_close(w->p, "test over");
	bt_conn_close(&w->them->c);
	free(w);
}

/* Remote -> peer: write, deliver. */
static void say(struct world *w, const void *buf, size_t len)
{
	assert_int_equal(bt_conn_write(&w->them->c, buf, len), 0);
	pipe_pump_end(w->them);
}

static void say_msg(struct world *w, const struct bt_msg *m)
{
	uint8_t b[256];
	size_t n = bt_wire_build(b, sizeof(b), m);
	assert_true(n > 0);
	say(w, b, n);
}

/* Peer -> remote: deliver what the peer queued; returns the bytes now
 * waiting at the remote (read them with hear()). */
static size_t flush_us(struct world *w)
{
	if (w->destroyed == 0)
		pipe_pump_end(w->us);
	return w->them->nin;
}

static size_t hear(struct world *w, uint8_t *buf, size_t cap)
{
	flush_us(w);
	ssize_t n = bt_conn_read(&w->them->c, buf, cap);
	return n > 0 ? (size_t)n : 0;
}

/* The next message the peer sent, parsed. */
static void hear_msg(struct world *w, struct bt_msg *m, uint8_t *buf)
{
	flush_us(w);
	assert_true(w->them->nin >= 4);
	uint32_t len = (uint32_t)w->them->in[0] << 24 |
		       (uint32_t)w->them->in[1] << 16 |
		       (uint32_t)w->them->in[2] << 8 | w->them->in[3];
	assert_int_equal(hear(w, buf, 4 + len), 4 + len);
	assert_int_equal(bt_wire_parse(buf, 4 + len, &w->lim, m), 4 + len);
}

static const struct rec *last(struct world *w)
{
	assert_true(w->nev > 0);
	return &w->ev[w->nev - 1];
}

static void their_handshake(struct world *w, uint8_t *hs, bool fast)
{
	uint8_t reserved[8] = {0};
	if (fast)
		reserved[BT_RESERVED_FAST_BYTE] |= BT_RESERVED_FAST_BIT;
	reserved[BT_RESERVED_EXT_BYTE] |= BT_RESERVED_EXT_BIT;
	bt_wire_handshake(hs, reserved, w->ih, w->their_id);
}

/* An outgoing peer, connected and handshaken (fast both ways). */
static struct world *connected(bool fast)
{
	struct world *w = world_new(true, NULL, 0);
	assert_true(bt_conn_fire_connected(&w->us->c));
	assert_int_equal(last(w)->type, BT_PEV_CONNECTED);
	uint8_t hs[BT_HANDSHAKE_LEN];
	assert_int_equal(hear(w, hs, sizeof(hs)), BT_HANDSHAKE_LEN);
	uint8_t res[8], ih[20], id[20];
	assert_int_equal(bt_wire_handshake_parse(hs, res, ih, id), 0);
	assert_memory_equal(ih, w->ih, 20);
	assert_memory_equal(id, w->our_id, 20);
	assert_true(res[BT_RESERVED_FAST_BYTE] & BT_RESERVED_FAST_BIT);
	their_handshake(w, hs, fast);
	say(w, hs, sizeof(hs));
	assert_int_equal(last(w)->type, BT_PEV_HANDSHAKE);
	assert_true(w->p->handshaken);
	assert_int_equal(w->p->fast, fast);
	assert_false(w->p->ext); /* we do not set the BEP 10 bit (yet) */
	assert_memory_equal(w->p->peer_id, w->their_id, 20);
	return w;
}

static int ref_freed;
static void free_ref(const void *buf, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)buf);
	ref_freed++;
}

static void test_outgoing_messages(void **state)
{
	(void)state;
	struct world *w = connected(true);
	uint8_t buf[256];

	/* a bitfield: set whole, counted */
	uint8_t bf[3] = {0xff, 0x00, 0xf0}; /* pieces 0-7, 16-19 */
	say_msg(w, &(struct bt_msg){.type = BT_MSG_BITFIELD, .data = bf,
				    .data_len = 3});
	assert_int_equal(last(w)->type, BT_PEV_BITFIELD);
	assert_int_equal(w->p->have_count, 12);
	assert_false(w->p->seed);
	/* a new have, then the same again (no event) */
	size_t n0 = w->nev;
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE, .index = 9});
	assert_int_equal(last(w)->type, BT_PEV_HAVE);
	assert_int_equal(last(w)->index, 9);
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE, .index = 9});
	assert_int_equal(w->nev, n0 + 1);
	assert_int_equal(w->p->have_count, 13);
	/* a second bitfield-like message replaces it (after an UNHAVE) */
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE_ALL});
	assert_int_equal(w->ev[w->nev - 2].type, BT_PEV_UNHAVE);
	assert_int_equal(last(w)->type, BT_PEV_BITFIELD);
	assert_true(w->p->seed);
	assert_int_equal(w->p->have_count, NPIECES);

	say_msg(w, &(struct bt_msg){.type = BT_MSG_UNCHOKE});
	assert_int_equal(last(w)->type, BT_PEV_UNCHOKE);
	assert_false(w->p->peer_choking);
	say_msg(w, &(struct bt_msg){.type = BT_MSG_INTERESTED});
	assert_int_equal(last(w)->type, BT_PEV_INTERESTED);
	assert_true(w->p->peer_interested);
	n0 = w->nev;
	say_msg(w, &(struct bt_msg){.type = BT_MSG_KEEPALIVE});
	assert_int_equal(w->nev, n0);

	/* requests and rejects carry their block */
	say_msg(w, &(struct bt_msg){.type = BT_MSG_REQUEST, .index = 3,
				    .begin = 16384, .length = 16384});
	assert_int_equal(last(w)->type, BT_PEV_REQUEST);
	assert_int_equal(last(w)->block.piece, 3);
	assert_int_equal(last(w)->block.begin, 16384);
	say_msg(w, &(struct bt_msg){.type = BT_MSG_REJECT, .index = 4,
				    .begin = 0, .length = 100});
	assert_int_equal(last(w)->type, BT_PEV_REJECT);

	/* a piece, split over two deliveries, comes whole in our memory */
	uint8_t piece[9 + 40 + 4];
	struct bt_msg pm = {.type = BT_MSG_PIECE, .index = 5, .begin = 100,
			    .data_len = 40};
	size_t h = bt_wire_build(piece, sizeof(piece), &pm);
	for (int i = 0; i < 40; i++)
		piece[h + (size_t)i] = (uint8_t)i;
	n0 = w->nev;
	say(w, piece, 20);
	assert_int_equal(w->nev, n0);
	say(w, piece + 20, h + 40 - 20);
	assert_int_equal(last(w)->type, BT_PEV_PIECE);
	assert_int_equal(last(w)->block.piece, 5);
	assert_int_equal(last(w)->block.begin, 100);
	assert_int_equal(last(w)->len, 40);
	assert_memory_equal(last(w)->data, piece + h, 40);
	assert_int_equal(w->blocks_freed, 1);

	/* extended: the id and the payload, for the extension code */
	say_msg(w, &(struct bt_msg){.type = BT_MSG_EXTENDED, .ext_id = 3,
				    .data = (const uint8_t *)"d1:xi1ee",
				    .data_len = 8});
	assert_int_equal(last(w)->type, BT_PEV_EXTENDED);
	assert_int_equal(last(w)->ext_id, 3);
	assert_int_equal(last(w)->len, 8);
	assert_memory_equal(last(w)->data, "d1:xi1ee", 8);
	say_msg(w, &(struct bt_msg){.type = BT_MSG_PORT, .port = 6881});
	assert_int_equal(last(w)->type, BT_PEV_PORT);
	/* an unknown id is ignored */
	n0 = w->nev;
	say(w, "\0\0\0\x02\x63\x01", 6);
	assert_int_equal(w->nev, n0);

	/* what we send, as the remote sees it */
	struct bt_msg m;
	bt_peer_send_interested(w->p, true);
	assert_true(w->p->am_interested);
	hear_msg(w, &m, buf);
	assert_int_equal(m.type, BT_MSG_INTERESTED);
	struct bt_block b = {7, 32768 - 100, 100};
	bt_peer_send_request(w->p, &b);
	hear_msg(w, &m, buf);
	assert_int_equal(m.type, BT_MSG_REQUEST);
	assert_int_equal(m.index, 7);
	assert_int_equal(m.length, 100);
	bt_peer_send_choke(w->p, false);
	hear_msg(w, &m, buf);
	assert_int_equal(m.type, BT_MSG_UNCHOKE);
	bt_peer_send_have(w->p, 11);
	hear_msg(w, &m, buf);
	assert_int_equal(m.type, BT_MSG_HAVE);
	assert_int_equal(m.index, 11);
	bt_peer_send_extended(w->p, 1, "abc", 3);
	hear_msg(w, &m, buf);
	assert_int_equal(m.type, BT_MSG_EXTENDED);
	assert_int_equal(m.ext_id, 1);
	assert_memory_equal(m.data, "abc", 3);

	/* a block by reference: freed once the transport sent it */
	uint8_t *ref = malloc(BT_PEER_PIECE_HEADROOM + 50);
	memset(ref + BT_PEER_PIECE_HEADROOM, 0x5a, 50);
	ref_freed = 0;
	struct bt_block rb = {2, 0, 50};
	bt_peer_send_piece_ref(w->p, &rb, ref, free_ref, NULL);
	assert_int_equal(bt_peer_queued(w->p), BT_PEER_PIECE_HEADROOM + 50);
	assert_int_equal(ref_freed, 0);
	hear_msg(w, &m, buf);
	assert_int_equal(ref_freed, 1);
	assert_int_equal(m.type, BT_MSG_PIECE);
	assert_int_equal(m.index, 2);
	assert_int_equal(m.data_len, 50);
	assert_int_equal(m.data[49], 0x5a);
	world_free(w);
}

static void test_incoming_with_prefix(void **state)
{
	(void)state;
	uint8_t hs[BT_HANDSHAKE_LEN];
	struct world tmp;
	memset(tmp.ih, 0x11, 20);
	memset(tmp.their_id, 'T', 20);
	their_handshake(&tmp, hs, false);
	/* the sniffer read 48 bytes; the peer gets them and the rest */
	struct world *w = world_new(false, hs, 48);
	assert_int_equal(w->nev, 0);
	assert_int_equal(flush_us(w), 0); /* we answer only a whole one */
	say(w, hs + 48, BT_HANDSHAKE_LEN - 48);
	assert_int_equal(last(w)->type, BT_PEV_HANDSHAKE);
	assert_false(w->p->fast);
	uint8_t got[BT_HANDSHAKE_LEN];
	assert_int_equal(hear(w, got, sizeof(got)), BT_HANDSHAKE_LEN);
	assert_memory_equal(got + 48, w->our_id, 20);
	/* without the fast extension its messages are errors */
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE_NONE});
	assert_int_equal(last(w)->type, BT_PEV_CLOSED);
	assert_string_equal(last(w)->reason,
			    "fast-extension message without support");
	assert_int_equal(w->destroyed, 1);
	world_free(w);
}

static void test_protocol_errors(void **state)
{
	(void)state;
	/* a length prefix over the limit closes before the body comes */
	struct world *w = connected(true);
	say(w, "\x80\0\0\0", 4);
	assert_int_equal(last(w)->type, BT_PEV_CLOSED);
	assert_string_equal(last(w)->reason, "message too long");
	assert_int_equal(w->destroyed, 1);
	world_free(w);
	w = connected(true);
	say(w, "\xff\xff\xff\xff", 4);
	assert_string_equal(last(w)->reason, "message too long");
	world_free(w);

	/* spare bits set in a bitfield */
	w = connected(true);
	uint8_t bf[3] = {0, 0, 0x01};
	say_msg(w, &(struct bt_msg){.type = BT_MSG_BITFIELD, .data = bf,
				    .data_len = 3});
	assert_string_equal(last(w)->reason, "protocol error");
	world_free(w);

	/* a have out of range */
	w = connected(true);
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE, .index = NPIECES});
	assert_string_equal(last(w)->reason, "protocol error");
	world_free(w);

	/* a reject from a peer without the fast extension */
	w = connected(false);
	say_msg(w, &(struct bt_msg){.type = BT_MSG_REJECT, .index = 1,
				    .begin = 0, .length = 10});
	assert_string_equal(last(w)->reason, "reject without fast extension");
	world_free(w);

	/* a handshake for another torrent */
	w = world_new(true, NULL, 0);
	bt_conn_fire_connected(&w->us->c);
	uint8_t hs[BT_HANDSHAKE_LEN], other[20];
	memset(other, 0x22, 20);
	bt_wire_handshake(hs, (uint8_t[8]){0}, other, w->their_id);
	say(w, hs, sizeof(hs));
	assert_string_equal(last(w)->reason, "handshake for another torrent");
	world_free(w);

	/* not a handshake at all */
	w = world_new(true, NULL, 0);
	bt_conn_fire_connected(&w->us->c);
	memset(hs, 'x', sizeof(hs));
	say(w, hs, sizeof(hs));
	assert_string_equal(last(w)->reason, "not a bittorrent handshake");
	world_free(w);
}

static void test_close_inside_handler(void **state)
{
	(void)state;
	struct world *w = connected(true);
	w->close_on_request = true;
	/* two messages in one delivery: the second is never seen */
	uint8_t two[34];
	struct bt_msg rq = {.type = BT_MSG_REQUEST, .index = 1, .begin = 0,
			    .length = 10};
	bt_wire_build(two, 17, &rq);
	rq.index = 2;
	bt_wire_build(two + 17, 17, &rq);
	size_t n0 = w->nev;
	say(w, two, sizeof(two));
	assert_int_equal(w->nev, n0 + 2); /* REQUEST, CLOSED */
	assert_int_equal(w->ev[n0].type, BT_PEV_REQUEST);
	assert_int_equal(w->ev[n0 + 1].type, BT_PEV_CLOSED);
	assert_string_equal(w->ev[n0 + 1].reason, "told to");
	assert_int_equal(w->destroyed, 1); /* once the callback returned */
	world_free(w);
}

/* Before the metadata: what the remote says is kept, bounded, and
 * checked against the piece count once it is known. */
static struct world *pending(void)
{
	struct world *w = connected(true);
	w->lim.npieces = 0;
	w->lim.max_msg_len = bt_wire_max_msg_len(0);
	w->lim.metadata_pending = true;
	return w;
}

static void know(struct world *w)
{
	w->lim.npieces = NPIECES;
	w->lim.max_msg_len = bt_wire_max_msg_len(NPIECES);
	w->lim.metadata_pending = false;
}

static void test_before_metadata(void **state)
{
	(void)state;
	/* haves of any index are kept, then checked */
	struct world *w = pending();
	for (uint32_t i = 0; i < NPIECES; i += 2)
		say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE, .index = i});
	assert_int_equal(last(w)->type, BT_PEV_HAVE);
	assert_int_equal(w->p->have_count, NPIECES / 2);
	know(w);
	assert_int_equal(bt_peer_set_npieces(w->p), 0);
	assert_int_equal(w->p->have_count, NPIECES / 2);
	assert_true(bt_bit_get(w->p->have, 18));
	assert_false(bt_bit_get(w->p->have, 19));
	world_free(w);

	w = pending();
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE, .index = 200});
	know(w);
	assert_int_equal(bt_peer_set_npieces(w->p), -EPROTO);
	world_free(w);

	/* a have past the largest bitfield we would keep: dropped at once */
	w = pending();
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE, .index = 0x7fffffff});
	assert_string_equal(last(w)->reason, "have past any torrent's end");
	world_free(w);

	/* a bitfield of the wrong length, or with spare bits set */
	w = pending();
	uint8_t bf[10] = {0xff};
	say_msg(w, &(struct bt_msg){.type = BT_MSG_BITFIELD, .data = bf,
				    .data_len = sizeof(bf)});
	assert_int_equal(last(w)->type, BT_PEV_BITFIELD);
	assert_int_equal(w->p->have_count, 8);
	know(w);
	assert_int_equal(bt_peer_set_npieces(w->p), -EPROTO);
	world_free(w);
	w = pending();
	uint8_t bf3[3] = {0xff, 0xff, 0xf1};
	say_msg(w, &(struct bt_msg){.type = BT_MSG_BITFIELD, .data = bf3,
				    .data_len = 3});
	know(w);
	assert_int_equal(bt_peer_set_npieces(w->p), -EPROTO);
	world_free(w);
	/* the right one, then a have on top */
	w = pending();
	bf3[2] = 0x00;
	say_msg(w, &(struct bt_msg){.type = BT_MSG_BITFIELD, .data = bf3,
				    .data_len = 3});
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE, .index = 19});
	know(w);
	assert_int_equal(bt_peer_set_npieces(w->p), 0);
	assert_int_equal(w->p->have_count, 17);
	world_free(w);

	/* have_all: a seed, whatever the count turns out to be */
	w = pending();
	say_msg(w, &(struct bt_msg){.type = BT_MSG_HAVE_ALL});
	assert_true(w->p->seed);
	know(w);
	assert_int_equal(bt_peer_set_npieces(w->p), 0);
	assert_int_equal(w->p->have_count, NPIECES);
	assert_true(w->p->seed);
	world_free(w);

	/* requests and pieces are errors then */
	w = pending();
	say_msg(w, &(struct bt_msg){.type = BT_MSG_REQUEST, .index = 0,
				    .begin = 0, .length = 10});
	assert_string_equal(last(w)->reason, "protocol error");
	world_free(w);
}

/* An incoming peer that says nothing useful after its handshake is closed
 * once its grace is over; one that does is kept. */
static struct world *incoming_handshaken(void)
{
	uint8_t hs[BT_HANDSHAKE_LEN];
	struct world tmp;
	memset(tmp.ih, 0x11, 20);
	memset(tmp.their_id, 'T', 20);
	their_handshake(&tmp, hs, true);
	struct world *w = world_new(false, NULL, 0);
	say(w, hs, sizeof(hs));
	assert_int_equal(last(w)->type, BT_PEV_HANDSHAKE);
	return w;
}

static void test_grace(void **state)
{
	(void)state;
	struct world *w = incoming_handshaken();
	uint64_t d = bt_peer_tick(w->p, w->now);
	assert_int_equal(d, w->now + BT_PEER_GRACE_MS + 1);
	/* a keepalive or an unchoke is nothing useful */
	say_msg(w, &(struct bt_msg){.type = BT_MSG_KEEPALIVE});
	say_msg(w, &(struct bt_msg){.type = BT_MSG_UNCHOKE});
	w->now += BT_PEER_GRACE_MS;
	assert_true(bt_peer_tick(w->p, w->now) > 0);
	w->now += 1;
	assert_int_equal(bt_peer_tick(w->p, w->now), 0);
	assert_string_equal(last(w)->reason, "sent nothing useful");
	world_free(w);

	static const int useful[] = {BT_MSG_INTERESTED, BT_MSG_HAVE_NONE,
				     BT_MSG_HAVE, BT_MSG_EXTENDED};
	for (size_t i = 0; i < sizeof(useful) / sizeof(useful[0]); i++) {
		w = incoming_handshaken();
		struct bt_msg m = {.type = useful[i], .index = 1,
				   .data = (const uint8_t *)"de",
				   .data_len = 2};
		say_msg(w, &m);
		assert_true(w->p->useful);
		w->now += BT_PEER_GRACE_MS + 1;
		assert_true(bt_peer_tick(w->p, w->now) > w->now);
		world_free(w);
	}
}

static void test_timeouts(void **state)
{
	(void)state;
	/* no handshake within the timeout */
	struct world *w = world_new(false, NULL, 0);
	uint64_t d = bt_peer_tick(w->p, w->now);
	assert_int_equal(d, w->now + BT_PEER_HANDSHAKE_TIMEOUT_MS + 1);
	assert_true(bt_peer_tick(w->p, d - 1) > 0);
	assert_int_equal(bt_peer_tick(w->p, d), 0);
	assert_string_equal(last(w)->reason, "handshake timeout");
	world_free(w);

	/* keepalives when we said nothing for a while; idle closes */
	w = connected(true);
	uint8_t buf[64];
	while (hear(w, buf, sizeof(buf)))
		;
	w->now += BT_PEER_KEEPALIVE_MS + 1;
	d = bt_peer_tick(w->p, w->now);
	assert_true(d > w->now);
	assert_int_equal(hear(w, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	/* the remote says something: the idle clock restarts */
	say_msg(w, &(struct bt_msg){.type = BT_MSG_KEEPALIVE});
	assert_int_equal(w->p->last_recv, w->now);
	w->now += BT_PEER_IDLE_TIMEOUT_MS;
	assert_true(bt_peer_tick(w->p, w->now) > 0);
	w->now += 1;
	assert_int_equal(bt_peer_tick(w->p, w->now), 0);
	assert_string_equal(last(w)->reason, "idle");
	world_free(w);

	/* the transport ends */
	w = connected(true);
	pipe_hangup(w->them);
	assert_string_equal(last(w)->reason, "connection closed");
	world_free(w);
}

int main(void)
{
	pfs_log_set_level(getenv("P2PFS_TEST_DEBUG") ? PFS_LOG_DEBUG
						     : PFS_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outgoing_messages),
		cmocka_unit_test(test_incoming_with_prefix),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_close_inside_handler),
		cmocka_unit_test(test_before_metadata),
		cmocka_unit_test(test_grace),
		cmocka_unit_test(test_timeouts),
	};
	return cmocka_run_group_tests_name("peer", tests, NULL, NULL);
}
