/* Unit tests for bt_metafetch: a fetch spread over peers within the
 * per-peer limit; time-outs re-asked elsewhere (a late answer still
 * taken); rejects backing a peer off; protocol errors (unrequested data, a
 * wrong total_size); liars caught by evidence whichever order they come in
 * and honest peers never blamed; peers announcing other sizes; the bounds;
 * and a seeded simulation of many swarms of honest, lying, silent and
 * rejecting peers with random latencies: every swarm with an honest peer
 * completes with the right bytes, only peers that sent a wrong piece are
 * ever reported, and liars are caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_metafetch.h"
#include "pfs_hash.h"

#define PL BT_UTMETA_PIECE_LEN

static uint8_t *make_info(size_t len, uint32_t seed, uint8_t ih[20])
{
	uint8_t *b = malloc(len);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
	assert_int_equal(pfs_sha1(b, len, ih), 0);
	return b;
}

static struct bt_metafetch *mf_new(const uint8_t ih[20], uint32_t inflight)
{
	struct bt_metafetch_cfg c;
	bt_metafetch_cfg_default(&c);
	if (inflight)
		c.per_peer_inflight = inflight;
	int err = 0;
	struct bt_metafetch *mf = bt_metafetch_new(ih, &c, &err);
	assert_non_null(mf);
	return mf;
}

/* Send PEER's answer for PIECE: the right bytes, or bytes with one flipped
 * when LIE. Returns on_msg's result. */
static int answer(struct bt_metafetch *mf, uint64_t peer, const uint8_t *info,
		  uint32_t size, uint32_t piece, bool lie, uint64_t now)
{
	static uint8_t buf[PL];
	uint32_t n = bt_utmeta_piece_len(size, piece);
	memcpy(buf, info + (size_t)piece * PL, n);
	if (lie)
		buf[n / 2] ^= 0x5a;
	struct bt_utmeta_msg m = {.type = BT_UTMETA_DATA,
				  .piece = piece,
				  .total_size = size,
				  .data = buf,
				  .data_len = n};
	char err[200];
	return bt_metafetch_on_msg(mf, peer, &m, now, err, sizeof(err));
}

static size_t poll_all(struct bt_metafetch *mf, uint64_t now,
		       struct bt_metafetch_action *a, size_t cap)
{
	size_t n = bt_metafetch_poll(mf, now, a, cap);
	assert_true(n <= cap);
	return n;
}

static void test_spread_and_done(void **state)
{
	(void)state;
	uint8_t ih[20];
	uint32_t size = 5 * PL + 123;
	uint8_t *info = make_info(size, 1, ih);
	struct bt_metafetch *mf = mf_new(ih, 1);
	struct bt_metafetch_action a[16];
	uint32_t have, total;

	bt_metafetch_progress(mf, &have, &total);
	assert_int_equal(total, 0);
	assert_int_equal(poll_all(mf, 0, a, 16), 0);
	assert_int_equal(bt_metafetch_deadline(mf), UINT64_MAX);
	for (uint64_t p = 1; p <= 3; p++)
		assert_int_equal(bt_metafetch_add_peer(mf, p, size, 0), 0);
	/* one request per peer (inflight 1), to three different peers */
	size_t n = poll_all(mf, 0, a, 16);
	assert_int_equal(n, 3);
	bool seen[4] = {0};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].kind, BT_METAFETCH_REQUEST);
		assert_false(seen[a[i].peer]);
		seen[a[i].peer] = true;
		assert_int_equal(a[i].piece, i);
	}
	assert_int_equal(bt_metafetch_deadline(mf), 5000);
	/* answer as they come; six pieces in all */
	uint64_t now = 10;
	unsigned asked = 3;
	while (!bt_metafetch_done(mf)) {
		for (size_t i = 0; i < n; i++)
			assert_int_equal(answer(mf, a[i].peer, info, size,
						a[i].piece, false, now),
					 0);
		n = poll_all(mf, now, a, 16);
		for (size_t i = 0; i < n; i++)
			if (a[i].kind == BT_METAFETCH_REQUEST)
				asked++;
		now += 10;
		assert_true(now < 1000);
	}
	assert_int_equal(asked, 6);
	/* DONE came once, as the last action */
	assert_int_equal(a[n - 1].kind, BT_METAFETCH_DONE);
	assert_int_equal(poll_all(mf, now, a, 16), 0);
	size_t len;
	const uint8_t *got = bt_metafetch_info(mf, &len);
	assert_int_equal(len, size);
	assert_memory_equal(got, info, size);
	bt_metafetch_progress(mf, &have, &total);
	assert_int_equal(have, 6);
	assert_int_equal(total, 6);
	assert_int_equal(bt_metafetch_deadline(mf), UINT64_MAX);
	/* late input after the end is harmless */
	assert_int_equal(bt_metafetch_add_peer(mf, 9, size, now), 0);
	assert_int_equal(answer(mf, 9, info, size, 0, false, now), 0);
	bt_metafetch_free(mf);
	free(info);
}

static void test_inflight_limit(void **state)
{
	(void)state;
	uint8_t ih[20];
	uint32_t size = 20 * PL;
	uint8_t *info = make_info(size, 2, ih);
	struct bt_metafetch *mf = mf_new(ih, 4);
	struct bt_metafetch_action a[32];
	assert_int_equal(bt_metafetch_add_peer(mf, 7, size, 0), 0);
	assert_int_equal(poll_all(mf, 0, a, 32), 4);
	assert_int_equal(poll_all(mf, 1, a + 4, 28), 0);
	/* a small CAP: the rest on the next call */
	assert_int_equal(bt_metafetch_add_peer(mf, 8, size, 0), 0);
	assert_int_equal(poll_all(mf, 2, a + 4, 3), 3);
	assert_int_equal(poll_all(mf, 2, a + 7, 32), 1);
	/* the eight requests are for eight different pieces */
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < i; j++)
			assert_int_not_equal(a[i].piece, a[j].piece);
	bt_metafetch_free(mf);
	free(info);
}

static void test_timeout(void **state)
{
	(void)state;
	uint8_t ih[20];
	uint32_t size = 2 * PL;
	uint8_t *info = make_info(size, 3, ih);
	struct bt_metafetch *mf = mf_new(ih, 4);
	struct bt_metafetch_action a[8];
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size, 0), 0);
	assert_int_equal(poll_all(mf, 0, a, 8), 2); /* both to peer 1 */
	assert_int_equal(bt_metafetch_add_peer(mf, 2, size, 100), 0);
	assert_int_equal(poll_all(mf, 100, a, 8), 0); /* nothing missing */
	assert_int_equal(bt_metafetch_deadline(mf), 5000);
	/* peer 1 is silent: at 5000 both pieces go to peer 2 */
	size_t n = poll_all(mf, 5000, a, 8);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].peer, 2);
	assert_int_equal(a[1].peer, 2);
	/* peer 1's late answer for piece 0 is still taken */
	assert_int_equal(answer(mf, 1, info, size, 0, false, 5100), 0);
	/* peer 2's answer for piece 0 is a harmless duplicate */
	assert_int_equal(answer(mf, 2, info, size, 0, false, 5101), 0);
	assert_int_equal(answer(mf, 2, info, size, 1, false, 5102), 0);
	n = poll_all(mf, 5200, a, 8);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].kind, BT_METAFETCH_DONE);
	bt_metafetch_free(mf);
	free(info);

	/* a peer that times out max_timeouts times is asked no more */
	info = make_info(size = 10 * PL, 4, ih);
	mf = mf_new(ih, 1);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size, 0), 0);
	uint64_t now = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(poll_all(mf, now, a, 8), 1);
		now += 5000;
	}
	assert_int_equal(poll_all(mf, now, a, 8), 0);
	assert_int_equal(bt_metafetch_deadline(mf), UINT64_MAX);
	/* not blamed: no LIAR action ever came */
	bt_metafetch_free(mf);
	free(info);
}

static void test_reject(void **state)
{
	(void)state;
	uint8_t ih[20];
	uint32_t size = 3 * PL;
	uint8_t *info = make_info(size, 5, ih);
	struct bt_metafetch *mf = mf_new(ih, 1);
	struct bt_metafetch_action a[8];
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size, 0), 0);
	assert_int_equal(poll_all(mf, 0, a, 8), 1);
	struct bt_utmeta_msg rej = {.type = BT_UTMETA_REJECT,
				    .piece = a[0].piece};
	assert_int_equal(bt_metafetch_on_msg(mf, 1, &rej, 10, NULL, 0), 0);
	/* backed off: nothing until 10 + 5000 */
	assert_int_equal(poll_all(mf, 20, a, 8), 0);
	assert_int_equal(bt_metafetch_deadline(mf), 5010);
	assert_int_equal(poll_all(mf, 5010, a, 8), 1);
	/* a reject for something never asked is ignored */
	rej.piece = 2;
	assert_int_equal(bt_metafetch_on_msg(mf, 1, &rej, 5011, NULL, 0), 0);
	assert_int_equal(bt_metafetch_on_msg(mf, 99, &rej, 5011, NULL, 0), 0);
	/* max_rejects rejects: the peer is asked no more */
	uint64_t now = 5011;
	for (int i = 1; i < 4; i++) {
		rej.piece = a[0].piece;
		assert_int_equal(bt_metafetch_on_msg(mf, 1, &rej, now, NULL, 0),
				 0);
		now += 5000;
		assert_int_equal(poll_all(mf, now, a, 8), i < 3 ? 1 : 0);
	}
	/* another peer finishes it */
	assert_int_equal(bt_metafetch_add_peer(mf, 2, size, now), 0);
	size_t n = poll_all(mf, now, a, 8);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].peer, 2);
	bt_metafetch_free(mf);
	free(info);
}

static void test_protocol_errors(void **state)
{
	(void)state;
	uint8_t ih[20];
	uint32_t size = 3 * PL;
	uint8_t *info = make_info(size, 6, ih);
	struct bt_metafetch *mf = mf_new(ih, 1);
	struct bt_metafetch_action a[8];
	char err[200];
	/* data from a peer that announced nothing */
	assert_int_equal(answer(mf, 5, info, size, 0, false, 0), -EPROTO);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size, 0), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 2, size, 0), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 3, size, 0), 0);
	assert_int_equal(poll_all(mf, 0, a, 8), 3);
	/* peer 1 was asked piece 0: piece 2 was not asked of it */
	assert_int_equal(answer(mf, 1, info, size, 2, false, 1), -EPROTO);
	/* peer 2 states another total_size than it announced */
	struct bt_utmeta_msg m = {.type = BT_UTMETA_DATA,
				  .piece = 0,
				  .total_size = size + 1,
				  .data = info,
				  .data_len = PL};
	assert_int_equal(bt_metafetch_on_msg(mf, 2, &m, 1, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "total_size"));
	/* both are gone: their pieces go to peer 3, one at a time */
	assert_int_equal(answer(mf, 3, info, size, a[2].piece, false, 2), 0);
	size_t n = poll_all(mf, 2, a, 8);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].peer, 3);
	/* requests and unknown types are not this module's */
	m.type = BT_UTMETA_REQUEST;
	assert_int_equal(bt_metafetch_on_msg(mf, 3, &m, 3, NULL, 0), 0);
	m.type = 9;
	assert_int_equal(bt_metafetch_on_msg(mf, 3, &m, 3, NULL, 0), 0);
	/* gone peers are not asked and the removal of unknown ones is
	 * harmless */
	bt_metafetch_remove_peer(mf, 3);
	bt_metafetch_remove_peer(mf, 3);
	assert_int_equal(poll_all(mf, 4, a, 8), 0);
	bt_metafetch_free(mf);
	free(info);
}

/* Drive a fetch where each peer in LIE lies on every piece it sends; peers
 * answer at once, in order. Returns after DONE or MAX_ROUNDS; records the
 * liars reported in REPORTED (indexed by peer id). */
static bool drive(struct bt_metafetch *mf, const uint8_t *info, uint32_t size,
		  const bool *lie, bool *reported, uint64_t *now)
{
	struct bt_metafetch_action a[64];
	for (int round = 0; round < 200; round++) {
		size_t n = poll_all(mf, *now, a, 64);
		bool done = false;
		for (size_t i = 0; i < n; i++) {
			if (a[i].kind == BT_METAFETCH_LIAR) {
				assert_false(reported[a[i].peer]);
				reported[a[i].peer] = true;
				assert_non_null(a[i].why);
			} else if (a[i].kind == BT_METAFETCH_DONE) {
				done = true;
			}
		}
		for (size_t i = 0; i < n; i++)
			if (a[i].kind == BT_METAFETCH_REQUEST)
				assert_int_equal(answer(mf, a[i].peer, info,
							size, a[i].piece,
							lie[a[i].peer], *now),
						 0);
		*now += 10;
		if (done)
			return true;
	}
	return false;
}

static void test_liars(void **state)
{
	(void)state;
	uint8_t ih[20];
	uint32_t size = 6 * PL + 1;
	uint8_t *info = make_info(size, 7, ih);
	/* the liar at each position among three peers: only it is reported,
	 * and the dict completes right */
	for (uint64_t liar = 1; liar <= 3; liar++) {
		struct bt_metafetch *mf = mf_new(ih, 1);
		bool lie[4] = {0}, rep[4] = {0};
		lie[liar] = true;
		uint64_t now = 0;
		for (uint64_t p = 1; p <= 3; p++)
			assert_int_equal(bt_metafetch_add_peer(mf, p, size, 0),
					 0);
		assert_true(drive(mf, info, size, lie, rep, &now));
		for (uint64_t p = 1; p <= 3; p++)
			assert_int_equal(rep[p], p == liar);
		size_t len;
		const uint8_t *got = bt_metafetch_info(mf, &len);
		assert_int_equal(len, size);
		assert_memory_equal(got, info, size);
		bt_metafetch_free(mf);
	}
	/* two liars of three */
	struct bt_metafetch *mf = mf_new(ih, 1);
	bool lie[4] = {false, true, false, true}, rep[4] = {0};
	uint64_t now = 0;
	for (uint64_t p = 1; p <= 3; p++)
		assert_int_equal(bt_metafetch_add_peer(mf, p, size, 0), 0);
	assert_true(drive(mf, info, size, lie, rep, &now));
	assert_true(rep[1] && !rep[2] && rep[3]);
	bt_metafetch_free(mf);

	/* a lone liar is caught, then an honest peer completes it */
	mf = mf_new(ih, 1);
	bool lie1[3] = {false, true, false}, rep1[3] = {0};
	now = 0;
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size, 0), 0);
	assert_false(drive(mf, info, size, lie1, rep1, &now));
	assert_true(rep1[1]);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size, now), -EINVAL);
	assert_int_equal(bt_metafetch_add_peer(mf, 2, size, now), 0);
	assert_true(drive(mf, info, size, lie1, rep1, &now));
	assert_false(rep1[2]);
	bt_metafetch_free(mf);
	free(info);
}

static void test_sizes(void **state)
{
	(void)state;
	uint8_t ih[20];
	uint32_t size = 3 * PL + 7;
	uint8_t *info = make_info(size, 8, ih);
	struct bt_metafetch_action a[16];

	/* two honest peers outvote one announcing another size; once the
	 * dict verifies, that one is reported */
	struct bt_metafetch *mf = mf_new(ih, 2);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size + 100, 0), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 2, size, 0), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 3, size, 0), 0);
	bool lie[4] = {0}, rep[4] = {0};
	uint64_t now = 0;
	assert_true(drive(mf, info, size, lie, rep, &now));
	assert_true(rep[1] && !rep[2] && !rep[3]);
	bt_metafetch_free(mf);

	/* a lone peer with a wrong size goes first; its dict cannot verify;
	 * the honest size is fetched next */
	mf = mf_new(ih, 2);
	uint32_t bad = size + 5;
	uint8_t *junk = calloc(1, bad);
	assert_non_null(junk);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, bad, 0), 0);
	size_t n = poll_all(mf, 0, a, 16);
	assert_int_equal(n, 2);
	assert_int_equal(bt_metafetch_add_peer(mf, 2, size, 1), 0);
	/* peer 2 waits: the first size has a peer and data under way */
	for (int round = 0; round < 10 && n; round++) {
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(a[i].peer, 1);
			assert_int_equal(
			    answer(mf, 1, junk, bad, a[i].piece, false, now),
			    0);
		}
		n = poll_all(mf, ++now, a, 16);
		if (n && a[0].kind == BT_METAFETCH_LIAR)
			break;
	}
	assert_true(n >= 1);
	assert_int_equal(a[0].kind, BT_METAFETCH_LIAR);
	assert_int_equal(a[0].peer, 1);
	/* the same poll already asks peer 2 */
	assert_true(n >= 2);
	assert_int_equal(a[1].kind, BT_METAFETCH_REQUEST);
	assert_int_equal(a[1].peer, 2);
	bt_metafetch_free(mf);
	free(junk);

	/* a size announced again: the peer starts afresh */
	mf = mf_new(ih, 2);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size, 0), 0);
	assert_int_equal(poll_all(mf, 0, a, 16), 2);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size, 0), 0); /* same */
	assert_int_equal(poll_all(mf, 0, a, 16), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, size * 2, 0), 0);
	/* its earlier request is void: data for it is refused */
	assert_int_equal(answer(mf, 1, info, size, 0, false, 1), -EPROTO);
	bt_metafetch_free(mf);
	free(info);
}

static void test_bounds(void **state)
{
	(void)state;
	uint8_t ih[20] = {0};
	struct bt_metafetch_cfg c;
	int err = 0;
	bt_metafetch_cfg_default(&c);
	c.per_peer_inflight = BT_METAFETCH_MAX_INFLIGHT + 1;
	assert_null(bt_metafetch_new(ih, &c, &err));
	assert_int_equal(err, -EINVAL);
	bt_metafetch_cfg_default(&c);
	c.max_size = BT_EXT_MAX_METADATA_SIZE + 1;
	assert_null(bt_metafetch_new(ih, &c, &err));
	bt_metafetch_cfg_default(&c);
	c.max_peers = 2;
	c.max_size = 1000;
	struct bt_metafetch *mf = bt_metafetch_new(ih, &c, &err);
	assert_non_null(mf);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, 0, 0), -EINVAL);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, 1001, 0), -EINVAL);
	assert_int_equal(bt_metafetch_add_peer(mf, 1, 1000, 0), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 2, 999, 0), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 3, 999, 0), -ENOSPC);
	bt_metafetch_remove_peer(mf, 1);
	assert_int_equal(bt_metafetch_add_peer(mf, 3, 999, 0), 0);
	/* a peer that rejected max_rejects times makes room once it owes
	 * nothing */
	struct bt_metafetch_action a[4];
	uint64_t now = 0;
	for (int i = 0; i < 4; i++, now += 10000) {
		size_t n = bt_metafetch_poll(mf, now, a, 4);
		assert_int_equal(n, 1);
		struct bt_utmeta_msg r = {.type = BT_UTMETA_REJECT,
					  .piece = a[0].piece};
		assert_int_equal(
		    bt_metafetch_on_msg(mf, a[0].peer, &r, now, NULL, 0), 0);
		/* one peer at a time: take the other one out of the game */
		if (i == 0)
			bt_metafetch_remove_peer(mf, a[0].peer == 2 ? 3 : 2);
	}
	assert_int_equal(bt_metafetch_poll(mf, now, a, 4), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 4, 999, now), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 5, 999, now), 0);
	assert_int_equal(bt_metafetch_add_peer(mf, 6, 999, now), -ENOSPC);
	bt_metafetch_free(mf);
	/* the default, NULL cfg */
	mf = bt_metafetch_new(ih, NULL, &err);
	assert_non_null(mf);
	assert_int_equal(
	    bt_metafetch_add_peer(mf, 1, BT_EXT_MAX_METADATA_SIZE, 0), 0);
	assert_int_equal(
	    bt_metafetch_add_peer(mf, 2, BT_EXT_MAX_METADATA_SIZE + 1, 0),
	    -EINVAL);
	bt_metafetch_free(mf);
}

/* ---- a seeded simulation ---------------------------------------------------
 */

enum kind { HONEST, LIAR, SILENT, REJECTER, SOMETIMES };

struct simreq {
	uint64_t peer, at;
	uint32_t piece;
};

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static void test_simulation(void **state)
{
	(void)state;
	uint64_t seed = 42;
	unsigned completed = 0, liars_caught = 0;
	for (int swarm = 0; swarm < 300; swarm++) {
		uint8_t ih[20];
		uint32_t size = 1 + rnd(&seed) % (12 * PL);
		uint8_t *info = make_info(size, (uint32_t)swarm, ih);
		int npeers = 1 + (int)(rnd(&seed) % 8);
		enum kind kind[10];
		bool any_honest = false;
		for (int p = 1; p <= npeers; p++) {
			kind[p] = (enum kind)(rnd(&seed) % 5);
			any_honest |= kind[p] == HONEST;
		}
		struct bt_metafetch *mf = mf_new(ih, 1 + rnd(&seed) % 4);
		bool lied[10] = {0}, rep[10] = {0}, done = false;
		uint64_t join[10];
		for (int p = 1; p <= npeers; p++)
			join[p] = rnd(&seed) % 3000;
		struct simreq q[1024];
		size_t nq = 0;
		for (uint64_t now = 0; now < 120000 && !done; now += 5) {
			for (int p = 1; p <= npeers; p++)
				if (join[p] / 5 * 5 == now)
					assert_int_equal(
					    bt_metafetch_add_peer(
						mf, (uint64_t)p, size, now),
					    0);
			/* deliver what is due */
			for (size_t i = 0; i < nq;) {
				if (q[i].at > now) {
					i++;
					continue;
				}
				struct simreq r = q[i];
				q[i] = q[--nq];
				int p = (int)r.peer;
				if (rep[p])
					continue; /* dropped by the caller */
				bool lie =
				    kind[p] == LIAR ||
				    (kind[p] == SOMETIMES && rnd(&seed) % 2);
				if (kind[p] == REJECTER) {
					struct bt_utmeta_msg m = {
					    .type = BT_UTMETA_REJECT,
					    .piece = r.piece};
					assert_int_equal(
					    bt_metafetch_on_msg(mf, r.peer, &m,
								now, NULL, 0),
					    0);
					continue;
				}
				lied[p] |= lie;
				assert_int_equal(answer(mf, r.peer, info, size,
							r.piece, lie, now),
						 0);
			}
			struct bt_metafetch_action a[32];
			size_t n;
			do {
				n = bt_metafetch_poll(mf, now, a, 32);
				for (size_t i = 0; i < n; i++) {
					if (a[i].kind == BT_METAFETCH_DONE) {
						done = true;
					} else if (a[i].kind ==
						   BT_METAFETCH_LIAR) {
						rep[a[i].peer] = true;
					} else if (kind[a[i].peer] != SILENT) {
						assert_true(nq < 1024);
						q[nq++] = (struct simreq){
						    a[i].peer,
						    now + 1 + rnd(&seed) % 400,
						    a[i].piece};
					}
				}
			} while (n == 32);
		}
		if (any_honest) {
			assert_true(done);
			completed++;
		}
		if (done) {
			size_t len;
			const uint8_t *got = bt_metafetch_info(mf, &len);
			assert_int_equal(len, size);
			assert_memory_equal(got, info, size);
		}
		for (int p = 1; p <= npeers; p++) {
			/* never an honest peer; nor one that never lied */
			if (rep[p])
				assert_true(lied[p]);
			if (kind[p] == HONEST)
				assert_false(rep[p]);
			liars_caught += rep[p];
		}
		bt_metafetch_free(mf);
		free(info);
	}
	/* the simulation did exercise both sides */
	assert_true(completed > 150);
	assert_true(liars_caught > 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spread_and_done),
	    cmocka_unit_test(test_inflight_limit),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_reject),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_liars),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_simulation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
