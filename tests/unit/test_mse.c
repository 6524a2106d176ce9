/* Unit tests for bt_mse: both roles against known-answer streams made by an
 * independent Python implementation (mse_vector.py -> mse_vector.h), each
 * split of those streams into two pieces and into pieces of every size,
 * our two roles against each other with every pad length, the policies
 * (what each pair selects, and which pairs fail), a wrong SKEY, and hostile
 * input: a wrong VC, oversize PadC/PadD, a crypto_select that was not
 * offered, DH keys out of range, no synchronisation within the window, a
 * handshake past its deadline, and garbage. Plus the first-bytes
 * classifier and the output queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_mse.h"
#include "pfs_hash.h"
#include "mse_vector.h"

/* ---- helpers ---------------------------------------------------------- */

/* A scripted random source: hands out BUF in order; -EIO past its end
 * (the core must not draw more than bt_mse.h says). After the script it
 * can fall back to a xorshift stream when LOOSE is set. */
struct script {
	const uint8_t *buf;
	size_t len, pos;
	int loose;
	uint64_t x;
};

static int script_rand(void *ctx, void *out, size_t n)
{
	struct script *s = ctx;
	uint8_t *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s->pos < s->len) {
			o[i] = s->buf[s->pos++];
		} else if (s->loose) {
			s->x ^= s->x << 13;
			s->x ^= s->x >> 7;
			s->x ^= s->x << 17;
			o[i] = (uint8_t)(s->x >> 24);
		} else {
			return -EIO;
		}
	}
	return 0;
}

/* A host of NHOSTED torrents; find() compares req2 against each. */
struct host {
	uint8_t skeys[4][20];
	uint8_t req2[4][20];
	int n;
	int calls;
};

static int host_find(void *ctx, const uint8_t req2[20], uint8_t skey[20])
{
	struct host *h = ctx;
	h->calls++;
	for (int i = 0; i < h->n; i++) {
		if (memcmp(h->req2[i], req2, 20) == 0) {
			memcpy(skey, h->skeys[i], 20);
			return 0;
		}
	}
	return -ENOENT;
}

static void host_add(struct host *h, const uint8_t skey[20])
{
	memcpy(h->skeys[h->n], skey, 20);
	assert_int_equal(bt_mse_req2(skey, h->req2[h->n]), 0);
	h->n++;
}

static enum bt_mse_policy pol(const char *s)
{
	enum bt_mse_policy p;
	assert_int_equal(bt_mse_policy_parse(s, &p), 0);
	return p;
}

static struct bt_mse *new_initiator(enum bt_mse_policy p, const uint8_t *skey,
				    const uint8_t *ia, size_t ia_len,
				    struct script *rs, uint64_t now)
{
	struct bt_mse_config cfg = {
	    .role = BT_MSE_INITIATOR,
	    .policy = p,
	    .now = now,
	    .skey = skey,
	    .ia = ia,
	    .ia_len = ia_len,
	    .rand = rs ? script_rand : NULL,
	    .rand_ctx = rs,
	};
	int err = 1;
	struct bt_mse *m = bt_mse_new(&cfg, &err);
	assert_non_null(m);
	assert_int_equal(err, 0);
	return m;
}

static struct bt_mse *new_responder(enum bt_mse_policy p, struct host *h,
				    struct script *rs, uint64_t now)
{
	struct bt_mse_config cfg = {
	    .role = BT_MSE_RESPONDER,
	    .policy = p,
	    .now = now,
	    .find = host_find,
	    .find_ctx = h,
	    .rand = rs ? script_rand : NULL,
	    .rand_ctx = rs,
	};
	int err = 1;
	struct bt_mse *m = bt_mse_new(&cfg, &err);
	assert_non_null(m);
	assert_int_equal(err, 0);
	return m;
}

/* Take all pending output of M into OUT (appending at *N). */
static void drain(struct bt_mse *m, uint8_t *out, size_t *n, size_t cap)
{
	const uint8_t *p;
	size_t k = bt_mse_output(m, &p);
	assert_true(*n + k <= cap);
	memcpy(out + *n, p, k);
	*n += k;
	bt_mse_output_done(m, k);
	assert_int_equal(bt_mse_output(m, &p), 0);
}

/* Feed IN to M in pieces given by CUTS (ascending offsets; 0-terminated
 * list, or chunk size CHUNK when CUTS is NULL). Returns the total
 * consumed; stops at DONE or error. */
static ssize_t feed(struct bt_mse *m, const uint8_t *in, size_t len,
		    const size_t *cuts, size_t chunk, uint64_t now)
{
	size_t off = 0, ci = 0;
	while (off < len && bt_mse_state(m) == BT_MSE_HANDSHAKE) {
		size_t end;
		if (cuts)
			end = cuts[ci] && cuts[ci] < len ? cuts[ci++] : len;
		else
			end = off + chunk < len ? off + chunk : len;
		if (end <= off)
			end = len;
		size_t piece = end - off;
		ssize_t r = bt_mse_input(m, in + off, piece, now);
		if (r < 0)
			return r;
		assert_true((size_t)r <= piece);
		off += (size_t)r;
		if ((size_t)r < piece) {
			/* it stopped early: only at the end of the handshake */
			assert_int_equal(bt_mse_state(m), BT_MSE_DONE);
			break;
		}
	}
	return (ssize_t)off;
}

/* ---- the known-answer vectors ------------------------------------------- */

/* Our initiator against vector V's B stream, split as CUTS/CHUNK. */
static void vec_initiator(const struct mse_vec *v, const size_t *cuts,
			  size_t chunk)
{
	struct script rs = {v->rand_a, v->rand_a_len, 0, 0, 0};
	struct bt_mse *m = new_initiator(pol(v->init_policy), v->skey, v->ia,
					 v->ia_len, &rs, 1000);
	static uint8_t out[4096];
	size_t n = 0;
	drain(m, out, &n, sizeof(out));
	size_t step1 = v->rand_a_len - 20 - 2 + 96; /* Ya + PadA */
	assert_int_equal(n, step1);
	assert_memory_equal(out, v->a2b, step1);

	ssize_t r = feed(m, v->b2a, v->b2a_len, cuts, chunk, 2000);
	assert_int_equal(r, (ssize_t)v->b2a_hs);
	assert_int_equal(bt_mse_state(m), BT_MSE_DONE);
	assert_int_equal(bt_mse_selected(m), v->select);
	assert_int_equal(bt_mse_deadline(m), UINT64_MAX);
	assert_memory_equal(bt_mse_skey(m), v->skey, 20);
	assert_int_equal(bt_mse_plain_out(m), v->select == BT_MSE_CRYPTO_PLAIN);
	drain(m, out, &n, sizeof(out));
	if (v->a_ours) {
		assert_int_equal(n, v->a2b_hs);
		assert_memory_equal(out, v->a2b, n);
	}
	/* B's payload decrypts; ours encrypts to what B expects */
	uint8_t *pay = malloc(v->b2a_len - v->b2a_hs + 1);
	assert_non_null(pay);
	bt_mse_decrypt(m, v->b2a + v->b2a_hs, pay, v->b2a_len - v->b2a_hs);
	assert_int_equal(v->b2a_len - v->b2a_hs, v->pay_b_len);
	assert_memory_equal(pay, v->pay_b, v->pay_b_len);
	free(pay);
	if (v->a_ours) {
		uint8_t *enc = malloc(v->pay_a_len);
		assert_non_null(enc);
		memcpy(enc, v->pay_a, v->pay_a_len);
		bt_mse_encrypt(m, enc, enc, v->pay_a_len); /* in place */
		assert_memory_equal(enc, v->a2b + v->a2b_hs, v->pay_a_len);
		free(enc);
	}
	/* no random bytes drawn beyond the script */
	assert_int_equal(rs.pos, rs.len);
	bt_mse_free(m);
}

/* Our responder against vector V's A stream. */
static void vec_responder(const struct mse_vec *v, const size_t *cuts,
			  size_t chunk)
{
	struct script rs = {v->rand_b, v->rand_b_len, 0, 0, 0};
	struct host h = {.n = 0};
	uint8_t other[20];
	memset(other, 0x5a, 20);
	host_add(&h, other); /* a second hosted torrent, not the one asked */
	host_add(&h, v->skey);
	struct bt_mse *m = new_responder(pol(v->resp_policy), &h, &rs, 1000);
	static uint8_t out[4096];
	size_t n = 0;
	drain(m, out, &n, sizeof(out));
	assert_int_equal(n, 0); /* B speaks only after Ya */

	ssize_t r = feed(m, v->a2b, v->a2b_len, cuts, chunk, 2000);
	/* the IA is not part of the handshake: it is the payload's start */
	assert_int_equal(r, (ssize_t)(v->a2b_hs - v->ia_len));
	assert_int_equal(bt_mse_state(m), BT_MSE_DONE);
	assert_int_equal(bt_mse_selected(m), v->select);
	assert_memory_equal(bt_mse_skey(m), v->skey, 20);
	assert_int_equal(h.calls, 1);
	drain(m, out, &n, sizeof(out));
	size_t step2 = v->rand_b_len - 20 - 2 + 96;
	assert_memory_equal(out, v->b2a, step2);
	if (v->b_ours) {
		assert_int_equal(n, v->b2a_hs);
		assert_memory_equal(out, v->b2a, n);
	}
	/* what follows decrypts to IA + A's payload, in two calls */
	size_t rest = v->a2b_len - (size_t)r;
	assert_int_equal(rest, v->ia_len + v->pay_a_len);
	uint8_t *pay = malloc(rest);
	assert_non_null(pay);
	size_t half = rest / 3;
	bt_mse_decrypt(m, v->a2b + r, pay, half);
	bt_mse_decrypt(m, v->a2b + r + half, pay + half, rest - half);
	assert_memory_equal(pay, v->ia, v->ia_len);
	assert_memory_equal(pay + v->ia_len, v->pay_a, v->pay_a_len);
	free(pay);
	if (v->b_ours) {
		uint8_t *enc = malloc(v->pay_b_len);
		assert_non_null(enc);
		bt_mse_encrypt(m, v->pay_b, enc, v->pay_b_len);
		assert_memory_equal(enc, v->b2a + v->b2a_hs, v->pay_b_len);
		free(enc);
	}
	assert_int_equal(rs.pos, rs.len);
	bt_mse_free(m);
}

#define NVECS (sizeof(mse_vecs) / sizeof(mse_vecs[0]))

static void test_vectors_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVECS; i++) {
		vec_initiator(&mse_vecs[i], NULL, SIZE_MAX);
		vec_responder(&mse_vecs[i], NULL, SIZE_MAX);
	}
}

/* Every two-piece split of each stream (the cut anywhere: inside a key,
 * a pad, a hash, the VC, a length), for the first two vectors. */
static void test_vectors_every_cut(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		const struct mse_vec *v = &mse_vecs[i];
		for (size_t c = 1; c < v->b2a_hs + 8; c++) {
			size_t cuts[2] = {c, 0};
			vec_initiator(v, cuts, 0);
		}
		for (size_t c = 1; c < v->a2b_hs + 8; c++) {
			size_t cuts[2] = {c, 0};
			vec_responder(v, cuts, 0);
		}
	}
}

/* Pieces of every size 1..64, and a few larger, for every vector. */
static void test_vectors_chunks(void **state)
{
	(void)state;
	static const size_t big[] = {95, 96, 97, 127, 500, 531, 532, 533};
	for (size_t i = 0; i < NVECS; i++) {
		for (size_t c = 1; c <= 64; c++) {
			vec_initiator(&mse_vecs[i], NULL, c);
			vec_responder(&mse_vecs[i], NULL, c);
		}
		for (size_t k = 0; k < sizeof(big) / sizeof(big[0]); k++) {
			vec_initiator(&mse_vecs[i], NULL, big[k]);
			vec_responder(&mse_vecs[i], NULL, big[k]);
		}
	}
}

/* ---- our two roles against each other --------------------------------- */

struct pair_result {
	int a_err, b_err;
	uint32_t a_sel, b_sel;
};

/* Random bytes for one side: a fixed private key, the pad length PAD, the
 * pad from xorshift. */
static void side_script(struct script *s, uint8_t *buf, uint8_t seed,
			size_t pad)
{
	for (int i = 0; i < 20; i++)
		buf[i] = (uint8_t)(seed * 31 + i + 1);
	buf[20] = (uint8_t)(pad >> 8);
	buf[21] = (uint8_t)pad;
	s->buf = buf;
	s->len = 22;
	s->pos = 0;
	s->loose = 1; /* the pad bytes themselves */
	s->x = 0x9e3779b97f4a7c15ull ^ seed;
}

/* Run A and B against each other, moving up to CHUNK bytes per step each
 * way; then check payload both ways. */
static struct pair_result run_pair(enum bt_mse_policy pa, enum bt_mse_policy pb,
				   size_t pad_a, size_t pad_b, size_t chunk,
				   const uint8_t *ia, size_t ia_len)
{
	uint8_t skey[20], ra[22], rb[22];
	for (int i = 0; i < 20; i++)
		skey[i] = (uint8_t)(0xa0 + i);
	struct script sa, sb;
	side_script(&sa, ra, 1, pad_a);
	side_script(&sb, rb, 2, pad_b);
	struct host h = {.n = 0};
	host_add(&h, skey);
	struct bt_mse *a = new_initiator(pa, skey, ia, ia_len, &sa, 0);
	struct bt_mse *b = new_responder(pb, &h, &sb, 0);
	/* the wires, with what each side has not consumed yet */
	static uint8_t ab[8192], ba[8192];
	size_t ab_len = 0, ab_off = 0, ba_len = 0, ba_off = 0;
	struct pair_result res = {0, 0, 0, 0};
	for (int round = 0; round < 10000; round++) {
		drain(a, ab, &ab_len, sizeof(ab));
		drain(b, ba, &ba_len, sizeof(ba));
		int moved = 0;
		if (bt_mse_state(b) == BT_MSE_HANDSHAKE && ab_off < ab_len) {
			size_t n =
			    ab_len - ab_off < chunk ? ab_len - ab_off : chunk;
			ssize_t r = bt_mse_input(b, ab + ab_off, n, 1);
			if (r < 0) {
				res.b_err = (int)r;
				break;
			}
			ab_off += (size_t)r;
			moved = 1;
		}
		if (bt_mse_state(a) == BT_MSE_HANDSHAKE && ba_off < ba_len) {
			size_t n =
			    ba_len - ba_off < chunk ? ba_len - ba_off : chunk;
			ssize_t r = bt_mse_input(a, ba + ba_off, n, 1);
			if (r < 0) {
				res.a_err = (int)r;
				break;
			}
			ba_off += (size_t)r;
			moved = 1;
		}
		if (!moved)
			break;
	}
	drain(a, ab, &ab_len, sizeof(ab));
	drain(b, ba, &ba_len, sizeof(ba));
	if (res.a_err || res.b_err)
		goto out;
	assert_int_equal(bt_mse_state(a), BT_MSE_DONE);
	assert_int_equal(bt_mse_state(b), BT_MSE_DONE);
	res.a_sel = bt_mse_selected(a);
	res.b_sel = bt_mse_selected(b);
	/* B has IA (unconsumed on the wire) plus payload from A */
	uint8_t msg_a[300], msg_b[300], got[2048];
	for (size_t i = 0; i < sizeof(msg_a); i++) {
		msg_a[i] = (uint8_t)(i * 7);
		msg_b[i] = (uint8_t)(i * 11 + 3);
	}
	assert_true(ab_len + sizeof(msg_a) <= sizeof(ab));
	bt_mse_encrypt(a, msg_a, ab + ab_len, sizeof(msg_a));
	ab_len += sizeof(msg_a);
	size_t in_b = ab_len - ab_off;
	assert_int_equal(in_b, ia_len + sizeof(msg_a));
	bt_mse_decrypt(b, ab + ab_off, got, in_b);
	if (ia_len)
		assert_memory_equal(got, ia, ia_len);
	assert_memory_equal(got + ia_len, msg_a, sizeof(msg_a));
	/* if plaintext was chosen the payload is on the wire in the clear */
	if (res.a_sel == BT_MSE_CRYPTO_PLAIN)
		assert_memory_equal(ab + ab_len - sizeof(msg_a), msg_a,
				    sizeof(msg_a));
	else
		assert_memory_not_equal(ab + ab_len - sizeof(msg_a), msg_a,
					sizeof(msg_a));
	assert_true(ba_len + sizeof(msg_b) <= sizeof(ba));
	bt_mse_encrypt(b, msg_b, ba + ba_len, sizeof(msg_b));
	ba_len += sizeof(msg_b);
	assert_int_equal(ba_len - ba_off, sizeof(msg_b));
	bt_mse_decrypt(a, ba + ba_off, got, sizeof(msg_b));
	assert_memory_equal(got, msg_b, sizeof(msg_b));
out:
	if (res.a_err)
		assert_int_equal(bt_mse_state(a), BT_MSE_FAILED);
	if (res.b_err)
		assert_int_equal(bt_mse_state(b), BT_MSE_FAILED);
	bt_mse_free(a);
	bt_mse_free(b);
	return res;
}

static void test_pair_every_pad(void **state)
{
	(void)state;
	const uint8_t ia[68] = "\x13"
			       "BitTorrent protocol";
	/* each pad length of each side (the other side's pad across its
	 * range too), the bytes moved in pieces of 1..13 and 4096 */
	for (size_t p = 0; p <= BT_MSE_PAD_MAX; p++) {
		size_t chunk = p % 14 ? p % 14 : 4096;
		struct pair_result r =
		    run_pair(BT_MSE_PREFER, BT_MSE_PREFER, p,
			     BT_MSE_PAD_MAX - p, chunk, ia, p % 3 ? 68 : 0);
		assert_int_equal(r.a_err, 0);
		assert_int_equal(r.b_err, 0);
		assert_int_equal(r.a_sel, BT_MSE_CRYPTO_RC4);
		assert_int_equal(r.b_sel, BT_MSE_CRYPTO_RC4);
	}
}

static void test_policies(void **state)
{
	(void)state;
	static const struct {
		enum bt_mse_policy a, b;
		uint32_t sel; /* 0: fails */
	} cases[] = {
	    {BT_MSE_PREFER, BT_MSE_PREFER, BT_MSE_CRYPTO_RC4},
	    {BT_MSE_PREFER, BT_MSE_REQUIRE, BT_MSE_CRYPTO_RC4},
	    {BT_MSE_PREFER, BT_MSE_OFF, BT_MSE_CRYPTO_PLAIN},
	    {BT_MSE_REQUIRE, BT_MSE_PREFER, BT_MSE_CRYPTO_RC4},
	    {BT_MSE_REQUIRE, BT_MSE_REQUIRE, BT_MSE_CRYPTO_RC4},
	    {BT_MSE_REQUIRE, BT_MSE_OFF, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint8_t ia[5] = "hello";
		struct pair_result r =
		    run_pair(cases[i].a, cases[i].b, 17, 23, 100, ia, 5);
		if (cases[i].sel) {
			assert_int_equal(r.a_err, 0);
			assert_int_equal(r.b_err, 0);
			assert_int_equal(r.a_sel, cases[i].sel);
			assert_int_equal(r.b_sel, cases[i].sel);
		} else {
			assert_int_equal(r.b_err, -EPROTONOSUPPORT);
		}
	}
	/* an initiator with "off" makes no MSE connection at all */
	uint8_t skey[20] = {1};
	struct bt_mse_config cfg = {
	    .role = BT_MSE_INITIATOR, .policy = BT_MSE_OFF, .skey = skey};
	int err = 0;
	assert_null(bt_mse_new(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	/* a foreign responder that selects plaintext though we required
	 * RC4: vector "plain" (select 1) against a "require" initiator */
	const struct mse_vec *v = &mse_vecs[1];
	assert_int_equal(v->select, BT_MSE_CRYPTO_PLAIN);
	struct script rs = {v->rand_a, v->rand_a_len, 0, 0, 0};
	struct bt_mse *m =
	    new_initiator(BT_MSE_REQUIRE, v->skey, v->ia, v->ia_len, &rs, 0);
	assert_int_equal(bt_mse_input(m, v->b2a, v->b2a_len, 1), -EPROTO);
	assert_int_equal(bt_mse_state(m), BT_MSE_FAILED);
	assert_int_equal(bt_mse_error(m), -EPROTO);
	assert_string_equal(bt_mse_reason(m),
			    "peer selected a method we did not offer");
	bt_mse_free(m);
	/* a foreign initiator that offers plaintext only, to a "require"
	 * responder: vector "plain-noia" */
	v = &mse_vecs[3];
	struct host h = {.n = 0};
	host_add(&h, v->skey);
	struct script rb = {v->rand_b, v->rand_b_len, 0, 0, 0};
	m = new_responder(BT_MSE_REQUIRE, &h, &rb, 0);
	assert_int_equal(bt_mse_input(m, v->a2b, v->a2b_len, 1),
			 -EPROTONOSUPPORT);
	bt_mse_free(m);
	/* bad configurations */
	struct bt_mse_config bad[] = {
	    {.role = BT_MSE_INITIATOR, .policy = BT_MSE_PREFER},
	    {.role = BT_MSE_RESPONDER, .policy = BT_MSE_PREFER},
	    {.role = BT_MSE_INITIATOR,
	     .policy = BT_MSE_PREFER,
	     .skey = skey,
	     .ia = skey,
	     .ia_len = BT_MSE_MAX_IA + 1},
	    {.role = BT_MSE_INITIATOR, .policy = 7, .skey = skey},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = 0;
		assert_null(bt_mse_new(&bad[i], &err));
		assert_int_equal(err, -EINVAL);
	}
}

/* ---- wrong SKEY, hostile input ----------------------------------------- */

static void test_wrong_skey(void **state)
{
	(void)state;
	const struct mse_vec *v = &mse_vecs[0];
	struct host h = {.n = 0};
	uint8_t other[20];
	memcpy(other, v->skey, 20);
	other[19] ^= 1; /* one bit off */
	host_add(&h, other);
	struct script rs = {v->rand_b, v->rand_b_len, 0, 0, 0};
	struct bt_mse *m = new_responder(BT_MSE_PREFER, &h, &rs, 0);
	assert_int_equal(bt_mse_input(m, v->a2b, v->a2b_len, 1), -ENOENT);
	assert_int_equal(bt_mse_state(m), BT_MSE_FAILED);
	assert_int_equal(h.calls, 1);
	/* and it stays failed */
	assert_int_equal(bt_mse_input(m, v->a2b, 1, 1), -ENOENT);
	assert_int_equal(bt_mse_timer(m, UINT64_MAX - 1), -ENOENT);
	bt_mse_free(m);

	/* an initiator with the wrong SKEY: the responder's req2 lookup
	 * fails, so the responder refuses (nothing decrypts) */
	struct host h2 = {.n = 0};
	host_add(&h2, v->skey);
	uint8_t ra[22], rb[22];
	struct script sa, sb;
	side_script(&sa, ra, 3, 9);
	side_script(&sb, rb, 4, 9);
	struct bt_mse *a = new_initiator(BT_MSE_PREFER, other, NULL, 0, &sa, 0);
	struct bt_mse *b = new_responder(BT_MSE_PREFER, &h2, &sb, 0);
	uint8_t ab[2048], ba[2048];
	size_t nab = 0, nba = 0;
	drain(a, ab, &nab, sizeof(ab));
	assert_int_equal(bt_mse_input(b, ab, nab, 1), (ssize_t)nab);
	drain(b, ba, &nba, sizeof(ba));
	assert_int_equal(bt_mse_input(a, ba, nba, 1), (ssize_t)nba);
	size_t mark = nab;
	drain(a, ab, &nab, sizeof(ab));
	assert_int_equal(bt_mse_input(b, ab + mark, nab - mark, 1), -ENOENT);
	bt_mse_free(a);
	bt_mse_free(b);
}

/* Copy of vector V's A stream with DELTA xored in at OFF; fed whole to a
 * fresh responder: returns its result. */
static ssize_t responder_tampered(const struct mse_vec *v, size_t off,
				  const uint8_t *delta, size_t n)
{
	/* the stream, then 600 more bytes, so that a scan that misses runs
	 * past its window */
	static uint8_t buf[4096];
	memcpy(buf, v->a2b, v->a2b_len);
	memset(buf + v->a2b_len, 0x77, 600);
	for (size_t i = 0; i < n; i++)
		buf[off + i] ^= delta[i];
	struct host h = {.n = 0};
	host_add(&h, v->skey);
	struct script rs = {v->rand_b, v->rand_b_len, 0, 0, 0};
	struct bt_mse *m = new_responder(pol(v->resp_policy), &h, &rs, 0);
	ssize_t r = bt_mse_input(m, buf, v->a2b_len + 600, 1);
	if (r < 0)
		assert_int_equal(bt_mse_state(m), BT_MSE_FAILED);
	bt_mse_free(m);
	return r;
}

static ssize_t initiator_tampered(const struct mse_vec *v, size_t off,
				  const uint8_t *delta, size_t n)
{
	/* the stream, then 600 more bytes, so that a scan that misses runs
	 * past its window */
	static uint8_t buf[4096];
	memcpy(buf, v->b2a, v->b2a_len);
	memset(buf + v->b2a_len, 0x77, 600);
	for (size_t i = 0; i < n; i++)
		buf[off + i] ^= delta[i];
	struct script rs = {v->rand_a, v->rand_a_len, 0, 0, 0};
	struct bt_mse *m = new_initiator(pol(v->init_policy), v->skey, v->ia,
					 v->ia_len, &rs, 0);
	ssize_t r = bt_mse_input(m, buf, v->b2a_len + 600, 1);
	if (r < 0)
		assert_int_equal(bt_mse_state(m), BT_MSE_FAILED);
	bt_mse_free(m);
	return r;
}

static void test_tampered(void **state)
{
	(void)state;
	const struct mse_vec *v = &mse_vecs[0]; /* PadA 37, PadB 200 */
	size_t pad_a = v->rand_a_len - 22, pad_b = v->rand_b_len - 22;
	size_t enc_a = 96 + pad_a + 40; /* start of E(VC, ...) from A */
	size_t enc_b = 96 + pad_b;	/* start of E(VC, ...) from B */
	uint8_t d1[1] = {0x01};
	/* the untouched streams pass */
	assert_true(responder_tampered(v, 0, d1, 0) > 0);
	assert_true(initiator_tampered(v, 0, d1, 0) > 0);
	/* a wrong VC from A */
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(responder_tampered(v, enc_a + i, d1, 1),
				 -EPROTO);
	/* len(PadC) 0 -> 513 (ciphertext xor = plaintext xor) */
	uint8_t d513[2] = {0x02, 0x01};
	assert_int_equal(responder_tampered(v, enc_a + 12, d513, 2), -EPROTO);
	/* crypto_provide 3 -> 0: nothing in common */
	uint8_t d3[1] = {0x03};
	assert_int_equal(responder_tampered(v, enc_a + 11, d3, 1),
			 -EPROTONOSUPPORT);
	/* the req2^req3 hash changed: no torrent */
	assert_int_equal(responder_tampered(v, 96 + pad_a + 20, d1, 1),
			 -ENOENT);
	/* the req1 hash changed: no sync within the window */
	assert_int_equal(responder_tampered(v, 96 + pad_a + 5, d1, 1), -EPROTO);
	/* Ya changed: another S, so again no req1 found */
	assert_int_equal(responder_tampered(v, 50, d1, 1), -EPROTO);

	/* from B: a wrong VC (the initiator cannot find it), a select of 3
	 * (two bits), of 0, of 4, and len(PadD) 513 */
	assert_int_equal(initiator_tampered(v, enc_b + 3, d1, 1), -EPROTO);
	uint8_t d_sel3[1] = {0x01}; /* 2 -> 3 */
	uint8_t d_sel0[1] = {0x02}; /* 2 -> 0 */
	uint8_t d_sel4[1] = {0x06}; /* 2 -> 4 */
	assert_int_equal(initiator_tampered(v, enc_b + 11, d_sel3, 1), -EPROTO);
	assert_int_equal(initiator_tampered(v, enc_b + 11, d_sel0, 1), -EPROTO);
	assert_int_equal(initiator_tampered(v, enc_b + 11, d_sel4, 1), -EPROTO);
	assert_int_equal(initiator_tampered(v, enc_b + 12, d513, 2), -EPROTO);
	/* a len(PadD) of exactly 512 is fine: it waits for the pad */
	uint8_t d512[2] = {0x02, 0x00};
	assert_true(initiator_tampered(v, enc_b + 12, d512, 2) > 0);
}

static void test_bad_keys(void **state)
{
	(void)state;
	/* 0, 1, P-1, P, and all ones (>= P) */
	uint8_t keys[5][96];
	memset(keys, 0, sizeof(keys));
	keys[1][95] = 1;
	const char *prime =
	    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
	    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
	    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563";
	assert_int_equal(pfs_unhex(prime, keys[2], 96), 0);
	keys[2][95]--;
	assert_int_equal(pfs_unhex(prime, keys[3], 96), 0);
	memset(keys[4], 0xff, 96);
	for (int k = 0; k < 5; k++) {
		struct host h = {.n = 0};
		uint8_t s[20] = {9};
		host_add(&h, s);
		struct bt_mse *b = new_responder(BT_MSE_PREFER, &h, NULL, 0);
		ssize_t r = bt_mse_input(b, keys[k], 96, 1);
		assert_int_equal(r, -EPROTO);
		assert_string_equal(bt_mse_reason(b),
				    "peer's dh key is out of range");
		const uint8_t *out;
		assert_int_equal(bt_mse_output(b, &out), 0); /* sent nothing */
		bt_mse_free(b);
		struct bt_mse *a =
		    new_initiator(BT_MSE_PREFER, s, NULL, 0, NULL, 0);
		assert_int_equal(bt_mse_input(a, keys[k], 96, 1), -EPROTO);
		bt_mse_free(a);
	}
}

/* No synchronisation pattern: the responder gives up exactly when the
 * window (PadA max + 20) is past, not before; the same for the initiator
 * (PadB max + 8). */
static void test_sync_window(void **state)
{
	(void)state;
	const struct mse_vec *v = &mse_vecs[0];
	static uint8_t junk[96 + 600];
	memcpy(junk, v->a2b, 96); /* a valid Ya */
	for (size_t i = 96; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 13);
	struct host h = {.n = 0};
	host_add(&h, v->skey);
	struct script rs = {v->rand_b, v->rand_b_len, 0, 0, 0};
	struct bt_mse *b = new_responder(BT_MSE_PREFER, &h, &rs, 0);
	assert_int_equal(bt_mse_input(b, junk, 96 + 531, 1), 96 + 531);
	assert_int_equal(bt_mse_state(b), BT_MSE_HANDSHAKE);
	assert_int_equal(bt_mse_input(b, junk + 96 + 531, 1, 1), -EPROTO);
	assert_string_equal(bt_mse_reason(b),
			    "no req1 hash after 512 bytes of pad");
	bt_mse_free(b);

	memcpy(junk, v->b2a, 96); /* a valid Yb */
	struct script ra = {v->rand_a, v->rand_a_len, 0, 0, 0};
	struct bt_mse *a =
	    new_initiator(BT_MSE_PREFER, v->skey, v->ia, v->ia_len, &ra, 0);
	assert_int_equal(bt_mse_input(a, junk, 96 + 519, 1), 96 + 519);
	assert_int_equal(bt_mse_input(a, junk + 96 + 519, 100, 1), -EPROTO);
	bt_mse_free(a);
}

static void test_deadline(void **state)
{
	(void)state;
	struct host h = {.n = 0};
	uint8_t s[20] = {7};
	host_add(&h, s);
	struct bt_mse_config cfg = {.role = BT_MSE_RESPONDER,
				    .policy = BT_MSE_PREFER,
				    .now = 5000,
				    .timeout_ms = 3000,
				    .find = host_find,
				    .find_ctx = &h};
	int err;
	struct bt_mse *m = bt_mse_new(&cfg, &err);
	assert_non_null(m);
	assert_int_equal(bt_mse_deadline(m), 8000);
	uint8_t b[10] = {0};
	assert_int_equal(bt_mse_timer(m, 7999), 0);
	assert_int_equal(bt_mse_input(m, b, 10, 7999), 10);
	assert_int_equal(bt_mse_timer(m, 8000), -ETIMEDOUT);
	assert_int_equal(bt_mse_state(m), BT_MSE_FAILED);
	assert_int_equal(bt_mse_deadline(m), UINT64_MAX);
	assert_int_equal(bt_mse_input(m, b, 10, 8001), -ETIMEDOUT);
	bt_mse_free(m);
	/* input that arrives after the deadline fails even without a timer */
	cfg.timeout_ms = 0; /* the default */
	m = bt_mse_new(&cfg, &err);
	assert_int_equal(bt_mse_deadline(m), 5000 + BT_MSE_TIMEOUT_MS);
	assert_int_equal(bt_mse_input(m, b, 10, 5000 + BT_MSE_TIMEOUT_MS),
			 -ETIMEDOUT);
	assert_string_equal(bt_mse_reason(m), "handshake not done in time");
	bt_mse_free(m);
	/* a peer trickling one byte every 100 ms does not move the deadline:
	 * it counts from the start */
	const struct mse_vec *v = &mse_vecs[0];
	struct host hv = {.n = 0};
	host_add(&hv, v->skey);
	struct script rs = {v->rand_b, v->rand_b_len, 0, 0, 0};
	m = new_responder(BT_MSE_PREFER, &hv, &rs, 0);
	uint64_t t = 0;
	ssize_t r = 0;
	for (size_t i = 0; r >= 0 && i < v->a2b_len; i++) {
		r = bt_mse_input(m, v->a2b + i, 1, t);
		t += 100;
	}
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(t - 100, BT_MSE_TIMEOUT_MS);
	bt_mse_free(m);
}

/* Garbage of many lengths, whole and byte by byte: each ends FAILED or
 * still in the handshake having consumed what it was given, never more
 * than the most a handshake can hold before it must have failed. */
static void test_garbage(void **state)
{
	(void)state;
	uint64_t x = 88172645463325252ull;
	static uint8_t g[4096];
	for (int round = 0; round < 60; round++) {
		for (size_t i = 0; i < sizeof(g); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			g[i] = (uint8_t)x;
		}
		size_t len = (size_t)(x % sizeof(g)) + 1;
		for (int role = 0; role < 2; role++) {
			struct host h = {.n = 0};
			uint8_t s[20] = {3};
			host_add(&h, s);
			struct bt_mse *m =
			    role ? new_responder(BT_MSE_PREFER, &h, NULL, 0)
				 : new_initiator(BT_MSE_PREFER, s, NULL, 0,
						 NULL, 0);
			ssize_t r = (round & 1) ? feed(m, g, len, NULL, 1, 1)
						: bt_mse_input(m, g, len, 1);
			if (r >= 0) {
				assert_int_equal(bt_mse_state(m),
						 BT_MSE_HANDSHAKE);
				assert_int_equal(r, (ssize_t)len);
				assert_true(len < 96 + BT_MSE_SCAN_MAX);
			} else {
				assert_int_equal(r, -EPROTO);
				assert_int_equal(bt_mse_state(m),
						 BT_MSE_FAILED);
			}
			const uint8_t *out;
			assert_true(bt_mse_output(m, &out) <=
				    96 + 512 + 56 + BT_MSE_MAX_IA);
			bt_mse_free(m);
		}
	}
}

/* ---- classifier, output queue, policy names ---------------------------- */

static void test_classify(void **state)
{
	(void)state;
	const uint8_t hs[] = "\x13"
			     "BitTorrent protocol\0\0\0\0\0\0\0\0";
	for (size_t n = 0; n < 20; n++)
		assert_int_equal(bt_mse_classify(hs, n), BT_MSE_FIRST_MORE);
	assert_int_equal(bt_mse_classify(hs, 20), BT_MSE_FIRST_PLAIN);
	assert_int_equal(bt_mse_classify(hs, 28), BT_MSE_FIRST_PLAIN);
	uint8_t b[28];
	for (size_t i = 0; i < 20; i++) {
		memcpy(b, hs, sizeof(b));
		b[i] ^= 0x20;
		/* undecided until the differing byte is there, then MSE */
		for (size_t n = 0; n <= i; n++)
			assert_int_equal(bt_mse_classify(b, n),
					 BT_MSE_FIRST_MORE);
		assert_int_equal(bt_mse_classify(b, i + 1), BT_MSE_FIRST_MSE);
		assert_int_equal(bt_mse_classify(b, 28), BT_MSE_FIRST_MSE);
	}
	/* a real Ya from the vectors */
	assert_int_equal(bt_mse_classify(mse_vecs[0].a2b, 96),
			 BT_MSE_FIRST_MSE);
}

static void test_output_queue(void **state)
{
	(void)state;
	const struct mse_vec *v = &mse_vecs[0];
	struct script rs = {v->rand_a, v->rand_a_len, 0, 0, 0};
	struct bt_mse *m =
	    new_initiator(BT_MSE_PREFER, v->skey, v->ia, v->ia_len, &rs, 0);
	/* send step 1 in dribs: 1, 2, 3, ... bytes; step 3 queues behind
	 * what is left */
	uint8_t wire[4096];
	size_t n = 0, k = 1;
	const uint8_t *p;
	size_t step1 = bt_mse_output(m, &p);
	while (n < 50) {
		size_t avail = bt_mse_output(m, &p);
		size_t t = k < avail ? k : avail;
		memcpy(wire + n, p, t);
		n += t;
		bt_mse_output_done(m, t);
		k++;
	}
	assert_int_equal(bt_mse_input(m, v->b2a, v->b2a_len, 1),
			 (ssize_t)v->b2a_hs);
	size_t avail = bt_mse_output(m, &p);
	assert_int_equal(n + avail, v->a2b_hs);
	assert_true(avail > step1 - n);
	bt_mse_output_done(m, 7);
	bt_mse_output_done(m, 0);
	memcpy(wire + n, p, 7);
	n += 7;
	avail = bt_mse_output(m, &p);
	memcpy(wire + n, p, avail);
	n += avail;
	bt_mse_output_done(m, avail + 100); /* more than pending: clamped */
	assert_int_equal(bt_mse_output(m, &p), 0);
	assert_int_equal(n, v->a2b_hs);
	assert_memory_equal(wire, v->a2b, n);
	bt_mse_free(m);
}

static void test_policy_names(void **state)
{
	(void)state;
	enum bt_mse_policy p;
	const char *names[] = {"prefer", "require", "off"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bt_mse_policy_parse(names[i], &p), 0);
		assert_string_equal(bt_mse_policy_name(p), names[i]);
	}
	assert_int_equal(bt_mse_policy_parse("on", &p), -EINVAL);
	assert_int_equal(bt_mse_policy_parse("", &p), -EINVAL);
	assert_int_equal(bt_mse_policy_parse("Prefer", &p), -EINVAL);
}

/* The default random source: two handshakes never share keys or pads. */
static void test_default_random(void **state)
{
	(void)state;
	uint8_t s[20] = {1};
	struct bt_mse *a = new_initiator(BT_MSE_PREFER, s, NULL, 0, NULL, 0);
	struct bt_mse *b = new_initiator(BT_MSE_PREFER, s, NULL, 0, NULL, 0);
	const uint8_t *pa, *pb;
	size_t na = bt_mse_output(a, &pa), nb = bt_mse_output(b, &pb);
	assert_true(na >= 96 && na <= 96 + 512);
	assert_true(nb >= 96 && nb <= 96 + 512);
	assert_memory_not_equal(pa, pb, 96);
	bt_mse_free(a);
	bt_mse_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors_whole),
	    cmocka_unit_test(test_vectors_every_cut),
	    cmocka_unit_test(test_vectors_chunks),
	    cmocka_unit_test(test_pair_every_pad),
	    cmocka_unit_test(test_policies),
	    cmocka_unit_test(test_wrong_skey),
	    cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_bad_keys),
	    cmocka_unit_test(test_sync_window),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_output_queue),
	    cmocka_unit_test(test_policy_names),
	    cmocka_unit_test(test_default_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
