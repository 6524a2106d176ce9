/* libFuzzer target for bt_mse, the MSE handshake (the parser of whatever a
 * peer sends before the BitTorrent handshake). The first byte picks a mode:
 *
 *   0  responder fed the input: [chunking][our 20-byte private key][the
 *      20-byte SKEY it hosts][bytes from the "initiator"...]
 *   1  initiator fed the input: [chunking][private key][SKEY][len(IA)]
 *      [bytes from the "responder"...]
 *   2  our two roles against each other: [policy A][policy B][PadA 2]
 *      [PadB 2][len(IA)][chunk A][chunk B][then 4-byte mutations: direction,
 *      offset (2 bytes), xor] applied to the bytes on the wire
 *   3  the first-bytes classifier
 *
 * With the private key and SKEY in the input, the seeds (from the Python
 * vectors, tests/fuzz/mse_seeds.py) start as complete valid handshakes and
 * mutations reach every later state. Checked everywhere: consumption never
 * exceeds what was fed, a handshake stops consuming only once DONE, the
 * output queue stays bounded, FAILED is sticky; in mode 2 without
 * mutations two compatible policies must complete and carry payload both
 * ways, incompatible ones must fail. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_mse.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

#define OUT_BOUND (96 + 512 + 56 + BT_MSE_MAX_IA)

struct src {
	const uint8_t *fixed; /* the private key, then the pad length */
	size_t fixed_len, pos;
	uint64_t x;
};

static int src_rand(void *ctx, void *buf, size_t n)
{
	struct src *s = ctx;
	uint8_t *o = buf;
	for (size_t i = 0; i < n; i++) {
		if (s->pos < s->fixed_len) {
			o[i] = s->fixed[s->pos++];
			continue;
		}
		s->x ^= s->x << 13;
		s->x ^= s->x >> 7;
		s->x ^= s->x << 17;
		o[i] = (uint8_t)(s->x >> 29);
	}
	return 0;
}

struct host {
	uint8_t skey[20], req2[20];
};

static int host_find(void *ctx, const uint8_t req2[20], uint8_t skey[20])
{
	struct host *h = ctx;
	if (memcmp(req2, h->req2, 20) != 0)
		return -ENOENT;
	memcpy(skey, h->skey, 20);
	return 0;
}

static void check_out(const struct bt_mse *m)
{
	const uint8_t *p;
	CHECK(bt_mse_output(m, &p) <= OUT_BOUND);
}

/* Feed DATA in chunks whose sizes come from CHUNKING; check the
 * contract. */
static void feed(struct bt_mse *m, const uint8_t *data, size_t len,
		 uint8_t chunking)
{
	size_t off = 0;
	uint64_t now = 1;
	uint32_t x = chunking | 1u;
	while (off < len) {
		size_t c =
		    chunking == 0 ? len - off : 1 + (x % (2u * chunking));
		x = x * 1103515245u + 12345u;
		if (c > len - off)
			c = len - off;
		enum bt_mse_state before = bt_mse_state(m);
		ssize_t r = bt_mse_input(m, data + off, c, now);
		check_out(m);
		if (r < 0) {
			CHECK(bt_mse_state(m) == BT_MSE_FAILED);
			CHECK(bt_mse_error(m) == (int)r);
			CHECK(bt_mse_reason(m)[0] != '\0');
			CHECK(bt_mse_deadline(m) == UINT64_MAX);
			/* sticky */
			CHECK(bt_mse_input(m, data, len, now) == r);
			return;
		}
		CHECK(before == BT_MSE_HANDSHAKE);
		CHECK((size_t)r <= c);
		off += (size_t)r;
		if ((size_t)r < c || bt_mse_state(m) == BT_MSE_DONE) {
			CHECK(bt_mse_state(m) == BT_MSE_DONE);
			uint32_t sel = bt_mse_selected(m);
			CHECK(sel == BT_MSE_CRYPTO_RC4 ||
			      sel == BT_MSE_CRYPTO_PLAIN);
			CHECK(bt_mse_input(m, data + off, len - off, now) == 0);
			/* the rest is payload */
			uint8_t tmp[256];
			size_t n =
			    len - off < sizeof(tmp) ? len - off : sizeof(tmp);
			bt_mse_decrypt(m, data + off, tmp, n);
			bt_mse_encrypt(m, tmp, tmp, n);
			return;
		}
		now += 10;
	}
	CHECK(bt_mse_state(m) == BT_MSE_HANDSHAKE);
	CHECK(bt_mse_timer(m, UINT64_MAX - 1) == -ETIMEDOUT);
}

static void one_side(const uint8_t *data, size_t size, int responder)
{
	if (size < 1 + 40 + 1)
		return;
	uint8_t chunking = data[0];
	uint8_t fixed[22];
	memcpy(fixed, data + 1, 20);
	fixed[20] = 0;
	fixed[21] = (uint8_t)(data[0] * 7); /* a pad length 0..255 */
	struct src s = {fixed, sizeof(fixed), 0, 0x243f6a8885a308d3ull};
	struct host h;
	memcpy(h.skey, data + 21, 20);
	CHECK(bt_mse_req2(h.skey, h.req2) == 0);
	static const uint8_t ia_bytes[BT_MSE_MAX_IA] = {0x13, 'B'};
	size_t hdr = 41;
	struct bt_mse_config cfg = {
	    .role = responder ? BT_MSE_RESPONDER : BT_MSE_INITIATOR,
	    .policy = BT_MSE_PREFER,
	    .now = 0,
	    .rand = src_rand,
	    .rand_ctx = &s,
	};
	if (responder) {
		cfg.find = host_find;
		cfg.find_ctx = &h;
	} else {
		cfg.skey = h.skey;
		cfg.ia = ia_bytes;
		cfg.ia_len = data[41];
		hdr = 42;
		if (size < hdr)
			return;
	}
	int err;
	struct bt_mse *m = bt_mse_new(&cfg, &err);
	if (!m) {
		/* only a zero private key (or no memory) refuses */
		CHECK(err == -EINVAL || err == -ENOMEM);
		return;
	}
	check_out(m);
	feed(m, data + hdr, size - hdr, chunking);
	bt_mse_free(m);
}

/* ---- mode 2: a pair ----------------------------------------------------- */

struct wire {
	uint8_t buf[8192];
	size_t len, off;
};

static void move_out(struct bt_mse *m, struct wire *w)
{
	const uint8_t *p;
	size_t n = bt_mse_output(m, &p);
	CHECK(n <= OUT_BOUND);
	CHECK(w->len + n <= sizeof(w->buf));
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	bt_mse_output_done(m, n);
}

/* Apply every mutation whose offset falls in [from, to) of wire DIR. */
static void mutate(struct wire *w, int dir, size_t from, const uint8_t *mut,
		   size_t nmut, int *hit)
{
	for (size_t i = 0; i < nmut; i++) {
		const uint8_t *u = mut + 4 * i;
		size_t pos = (size_t)u[1] << 8 | u[2];
		if ((u[0] & 1) == dir && pos >= from && pos < w->len && u[3]) {
			w->buf[pos] ^= u[3];
			*hit = 1;
		}
	}
}

static void pair(const uint8_t *data, size_t size)
{
	if (size < 9)
		return;
	enum bt_mse_policy pa = data[0] % 2 ? BT_MSE_REQUIRE : BT_MSE_PREFER;
	enum bt_mse_policy pb = (enum bt_mse_policy)(data[1] % 3);
	size_t pad_a = ((size_t)data[2] << 8 | data[3]) % 513;
	size_t pad_b = ((size_t)data[4] << 8 | data[5]) % 513;
	size_t ia_len = data[6];
	size_t ca = 1 + data[7], cb = 1 + data[8];
	const uint8_t *mut = data + 9;
	size_t nmut = (size_t)(size - 9) / 4;
	if (nmut > 16)
		nmut = 16;

	uint8_t fa[22], fb[22];
	for (int i = 0; i < 20; i++) {
		fa[i] = (uint8_t)(0x11 * i + 1);
		fb[i] = (uint8_t)(0x29 * i + 3);
	}
	fa[20] = (uint8_t)(pad_a >> 8);
	fa[21] = (uint8_t)pad_a;
	fb[20] = (uint8_t)(pad_b >> 8);
	fb[21] = (uint8_t)pad_b;
	struct src sa = {fa, 22, 0, 0x9e3779b97f4a7c15ull};
	struct src sb = {fb, 22, 0, 0xc2b2ae3d27d4eb4full};
	struct host h;
	for (int i = 0; i < 20; i++)
		h.skey[i] = (uint8_t)(0xc0 + i);
	CHECK(bt_mse_req2(h.skey, h.req2) == 0);
	uint8_t ia[256];
	for (size_t i = 0; i < sizeof(ia); i++)
		ia[i] = (uint8_t)(i ^ 0x5c);
	struct bt_mse_config ca_cfg = {.role = BT_MSE_INITIATOR,
				       .policy = pa,
				       .skey = h.skey,
				       .ia = ia,
				       .ia_len = ia_len,
				       .rand = src_rand,
				       .rand_ctx = &sa};
	struct bt_mse_config cb_cfg = {.role = BT_MSE_RESPONDER,
				       .policy = pb,
				       .find = host_find,
				       .find_ctx = &h,
				       .rand = src_rand,
				       .rand_ctx = &sb};
	int err;
	struct bt_mse *a = bt_mse_new(&ca_cfg, &err);
	struct bt_mse *b = bt_mse_new(&cb_cfg, &err);
	CHECK(a && b);
	static struct wire ab, ba;
	ab.len = ab.off = ba.len = ba.off = 0;
	int hit = 0;
	for (int round = 0; round < 4000; round++) {
		size_t l0 = ab.len, l1 = ba.len;
		move_out(a, &ab);
		move_out(b, &ba);
		mutate(&ab, 0, l0, mut, nmut, &hit);
		mutate(&ba, 1, l1, mut, nmut, &hit);
		int moved = 0;
		if (bt_mse_state(b) == BT_MSE_HANDSHAKE && ab.off < ab.len) {
			size_t n = ab.len - ab.off < ca ? ab.len - ab.off : ca;
			ssize_t r = bt_mse_input(b, ab.buf + ab.off, n, 1);
			CHECK(r < 0 || (size_t)r <= n);
			if (r > 0)
				ab.off += (size_t)r;
			moved = r > 0;
		}
		if (bt_mse_state(a) == BT_MSE_HANDSHAKE && ba.off < ba.len) {
			size_t n = ba.len - ba.off < cb ? ba.len - ba.off : cb;
			ssize_t r = bt_mse_input(a, ba.buf + ba.off, n, 1);
			CHECK(r < 0 || (size_t)r <= n);
			if (r > 0)
				ba.off += (size_t)r;
			moved |= r > 0;
		}
		if (!moved)
			break;
	}
	move_out(a, &ab);
	move_out(b, &ba);
	check_out(a);
	check_out(b);
	int compatible = !(pa == BT_MSE_REQUIRE && pb == BT_MSE_OFF);
	if (!hit) {
		if (!compatible) {
			CHECK(bt_mse_state(b) == BT_MSE_FAILED);
			CHECK(bt_mse_error(b) == -EPROTONOSUPPORT);
		} else {
			CHECK(bt_mse_state(a) == BT_MSE_DONE);
			CHECK(bt_mse_state(b) == BT_MSE_DONE);
			uint32_t sel = bt_mse_selected(a);
			CHECK(sel == bt_mse_selected(b));
			CHECK(sel == (pb == BT_MSE_OFF ? BT_MSE_CRYPTO_PLAIN
						       : BT_MSE_CRYPTO_RC4));
			/* IA then payload reach B; payload reaches A */
			uint8_t msg[64], got[512];
			memset(msg, 0xa5, sizeof(msg));
			bt_mse_encrypt(a, msg, ab.buf + ab.len, sizeof(msg));
			ab.len += sizeof(msg);
			size_t n = ab.len - ab.off;
			CHECK(n == ia_len + sizeof(msg));
			bt_mse_decrypt(b, ab.buf + ab.off, got, n);
			CHECK(memcmp(got, ia, ia_len) == 0);
			CHECK(memcmp(got + ia_len, msg, sizeof(msg)) == 0);
			bt_mse_encrypt(b, msg, ba.buf + ba.len, sizeof(msg));
			ba.len += sizeof(msg);
			CHECK(ba.len - ba.off == sizeof(msg));
			bt_mse_decrypt(a, ba.buf + ba.off, got, sizeof(msg));
			CHECK(memcmp(got, msg, sizeof(msg)) == 0);
		}
	}
	bt_mse_free(a);
	bt_mse_free(b);
}

static void classify(const uint8_t *data, size_t size)
{
	static const char plain[] = "\x13"
				    "BitTorrent protocol";
	enum bt_mse_first f = bt_mse_classify(data, size);
	size_t n = size < 20 ? size : 20;
	int match = memcmp(data, plain, n) == 0;
	if (!match)
		CHECK(f == BT_MSE_FIRST_MSE);
	else
		CHECK(f ==
		      (size >= 20 ? BT_MSE_FIRST_PLAIN : BT_MSE_FIRST_MORE));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
		one_side(data + 1, size - 1, 1);
		break;
	case 1:
		one_side(data + 1, size - 1, 0);
		break;
	case 2:
		pair(data + 1, size - 1);
		break;
	default:
		classify(data + 1, size - 1);
		break;
	}
	return 0;
}
