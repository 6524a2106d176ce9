/* libFuzzer target for bt_metafetch, driven as a state machine: the input
 * picks the dict's size and the per-peer limit, then a sequence of events
 * from eight peers (announce the true or a wrong size, go away, answer an
 * outstanding request honestly or with a flipped byte, reject it, send
 * data nobody asked for or with a wrong total_size, let time pass).
 * Checked after every event: requests go only to peers that are present,
 * a peer reported as a liar did send a wrong byte or announce a wrong
 * size, and a completed dict is the true one. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_metafetch.h"
#include "pfs_hash.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

#define NP   8
#define MAXQ 64

static uint8_t info[5 * BT_UTMETA_PIECE_LEN];
static uint8_t piece[BT_UTMETA_PIECE_LEN];

struct fpeer {
	bool present, liar, wrong_size, lied;
	uint32_t size;
	uint32_t q[MAXQ]; /* requested pieces, oldest first */
	size_t nq;
};

static int send_data(struct bt_metafetch *mf, uint64_t id, uint32_t size,
		     uint32_t p, bool flip, uint64_t now)
{
	uint32_t n = bt_utmeta_piece_len(size, p);
	if (!n)
		return 0;
	/* the true bytes where they exist, zeros past the true end */
	memset(piece, 0, sizeof(piece));
	size_t off = (size_t)p * BT_UTMETA_PIECE_LEN;
	if (off < sizeof(info))
		memcpy(piece, info + off,
		       n < sizeof(info) - off ? n : sizeof(info) - off);
	if (flip)
		piece[n / 2] ^= 0x80;
	struct bt_utmeta_msg m = {.type = BT_UTMETA_DATA,
				  .piece = p,
				  .total_size = size,
				  .data = piece,
				  .data_len = n};
	return bt_metafetch_on_msg(mf, id, &m, now, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t dsize = 1 + ((uint32_t)data[0] << 8 | data[1]) * 5;
	if (dsize > sizeof(info))
		dsize = sizeof(info);
	/* the content never changes: filled once (a per-run loop over 80 KB
	 * would cost most of the run in coverage callbacks) */
	static bool filled;
	if (!filled) {
		for (size_t i = 0; i < sizeof(info); i++)
			info[i] = (uint8_t)(i * 131 + 7);
		filled = true;
	}
	uint8_t ih[20];
	if (pfs_sha1(info, dsize, ih) < 0)
		return 0;
	struct bt_metafetch_cfg cfg;
	bt_metafetch_cfg_default(&cfg);
	cfg.per_peer_inflight = 1 + data[2] % BT_METAFETCH_MAX_INFLIGHT;
	cfg.max_peers = 1 + data[3] % NP;
	int err;
	struct bt_metafetch *mf = bt_metafetch_new(ih, &cfg, &err);
	if (!mf)
		return 0;
	static struct fpeer peers[NP];
	memset(peers, 0, sizeof(peers));
	uint64_t now = 0;
	bool done = false;
	for (size_t i = 4; i + 1 < size; i += 2) {
		uint8_t op = data[i] & 7, who = (data[i] >> 3) & 7;
		uint8_t arg = data[i + 1];
		struct fpeer *p = &peers[who];
		int rc;
		switch (op) {
		case 0: /* announce */
			p->wrong_size |= arg & 1;
			p->liar |= (arg & 6) == 6;
			p->size = arg & 1 ? dsize + 1 + arg : dsize;
			rc = bt_metafetch_add_peer(mf, who, p->size, now);
			CHECK(rc == 0 || rc == -ENOSPC || rc == -EINVAL ||
			      rc == -ENOMEM);
			if (rc == 0) {
				p->present = true;
				p->nq = 0;
			}
			break;
		case 1: /* gone */
			bt_metafetch_remove_peer(mf, who);
			p->present = false;
			p->nq = 0;
			break;
		case 2: /* answer the oldest request */
		case 3: /* reject it */
			if (!p->present || !p->nq)
				break;
			uint32_t pc = p->q[0];
			memmove(p->q, p->q + 1, --p->nq * sizeof(p->q[0]));
			if (op == 3) {
				struct bt_utmeta_msg m = {
				    .type = BT_UTMETA_REJECT, .piece = pc};
				CHECK(bt_metafetch_on_msg(mf, who, &m, now,
							  NULL, 0) == 0);
				break;
			}
			bool flip = p->liar && (arg & 1);
			p->lied |= flip;
			rc = send_data(mf, who, p->size, pc, flip, now);
			CHECK(rc == 0 || rc == -EPROTO);
			if (rc < 0)
				p->present = false;
			break;
		case 4:
			now += (uint64_t)arg * 100;
			break;
		case 5: /* data nobody asked for, or a wrong total_size */
		case 6:
			if (!p->present)
				break;
			rc = send_data(mf, who, op == 6 ? p->size + 1 : p->size,
				       arg % bt_utmeta_npieces(p->size), false,
				       now);
			CHECK(rc == 0 || rc == -EPROTO);
			if (rc < 0)
				p->present = false;
			break;
		default:
			break;
		}
		struct bt_metafetch_action a[16];
		size_t n;
		do {
			n = bt_metafetch_poll(mf, now, a, 16);
			CHECK(n <= 16);
			for (size_t k = 0; k < n; k++) {
				CHECK(a[k].peer < NP);
				struct fpeer *q = &peers[a[k].peer];
				if (a[k].kind == BT_METAFETCH_REQUEST) {
					CHECK(q->present && !done);
					CHECK(a[k].piece <
					      bt_utmeta_npieces(q->size));
					if (q->nq < MAXQ)
						q->q[q->nq++] = a[k].piece;
				} else if (a[k].kind == BT_METAFETCH_LIAR) {
					CHECK(q->lied || q->wrong_size);
					CHECK(a[k].why != NULL);
					q->present = false;
				} else {
					CHECK(!done);
					done = true;
				}
			}
		} while (n == 16);
		uint64_t d = bt_metafetch_deadline(mf);
		CHECK(d == UINT64_MAX || d + 1 > 0);
	}
	if (done) {
		size_t len;
		const uint8_t *got = bt_metafetch_info(mf, &len);
		CHECK(got && len == dsize && !memcmp(got, info, dsize));
	} else {
		CHECK(!bt_metafetch_done(mf));
	}
	bt_metafetch_free(mf);
	return 0;
}
