/* bt_mse — the Message Stream Encryption handshake and stream ciphers; see
 * bt_mse.h for the protocol and the contract. */
#include "bt_mse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pfs_dh.h"
#include "pfs_hash.h"
#include "pfs_rc4.h"

/* What the handshake waits for next. */
enum phase {
	P_I_YB,	    /* initiator: Yb (96 bytes) */
	P_I_VC,	    /* initiator: scan for E_B(VC) after PadB */
	P_I_SELECT, /* initiator: E_B(crypto_select, len(PadD)) */
	P_I_PADD,   /* initiator: skip E_B(PadD) */
	P_R_YA,	    /* responder: Ya (96 bytes) */
	P_R_REQ1,   /* responder: scan for HASH("req1", S) after PadA */
	P_R_REQ2,   /* responder: HASH("req2", SKEY) xor HASH("req3", S) */
	P_R_HDR,    /* responder: E_A(VC, crypto_provide, len(PadC)) */
	P_R_PADC,   /* responder: skip E_A(PadC) */
	P_R_IALEN,  /* responder: E_A(len(IA)) */
	P_DONE,
	P_FAILED,
};

#define VC_LEN	8
#define DISCARD 1024
/* everything we ever queue: Ya/Yb and its pad, then step 3 (two hashes,
 * VC, crypto_provide, len(PadC), len(IA), IA) or step 4 (VC, select,
 * len(PadD)) */
#define OUT_MAX                                                                \
	(BT_MSE_KEY_LEN + BT_MSE_PAD_MAX + 20 + 20 + VC_LEN + 4 + 2 + 2 +      \
	 BT_MSE_MAX_IA)

struct bt_mse {
	enum bt_mse_role role;
	enum bt_mse_policy policy;
	enum phase phase;
	int err;
	const char *reason;
	uint64_t deadline;
	bt_mse_find_fn find;
	void *find_ctx;
	bt_mse_rand_fn rand;
	void *rand_ctx;

	uint8_t skey[20];
	uint8_t priv[PFS_DH_PRIV_LEN];
	uint8_t secret[PFS_DH_LEN];
	uint8_t req3[20];   /* responder: HASH("req3", S) */
	struct pfs_rc4 enc; /* our outgoing stream */
	struct pfs_rc4 dec; /* the peer's stream */
	uint32_t provide;   /* what the initiator offers */
	uint32_t selected;

	/* input: a fixed-size unit being gathered, or a scan window */
	uint8_t buf[BT_MSE_SCAN_MAX];
	size_t buf_len;
	uint8_t pattern[20]; /* what a scan looks for */
	size_t pat_len;
	size_t window;	  /* the scan fails past this many bytes */
	size_t skip_left; /* PadC / PadD bytes still to skip */
	size_t ia_left;	  /* responder: payload bytes that are
			   * still RC4 although plaintext was
			   * selected (the IA) */

	/* output */
	uint8_t out[OUT_MAX];
	size_t out_off, out_len;
	uint8_t ia[BT_MSE_MAX_IA]; /* initiator: sent with step 3 */
	size_t ia_len;
};

static int default_rand(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	return pfs_random(buf, n);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* HASH(tag, a, b): SHA-1 over a 4-byte tag and up to 116 more bytes.
 * 0 or -EIO (OpenSSL could not allocate): a failed hash must fail the
 * handshake, never key a stream with a guessable value. */
static int hash3(const char tag[4], const uint8_t *a, size_t alen,
		 const uint8_t *b, size_t blen, uint8_t out[20])
{
	uint8_t tmp[4 + PFS_DH_LEN + 20];
	memcpy(tmp, tag, 4);
	memcpy(tmp + 4, a, alen);
	if (blen)
		memcpy(tmp + 4 + alen, b, blen);
	int rc = pfs_sha1(tmp, 4 + alen + blen, out) == 0 ? 0 : -EIO;
	explicit_bzero(tmp, sizeof(tmp));
	return rc;
}

int bt_mse_req2(const uint8_t skey[20], uint8_t out[20])
{
	return hash3("req2", skey, 20, NULL, 0, out);
}

static ssize_t fail(struct bt_mse *m, int err, const char *why)
{
	m->phase = P_FAILED;
	m->err = err;
	m->reason = why;
	explicit_bzero(m->priv, sizeof(m->priv));
	explicit_bzero(m->secret, sizeof(m->secret));
	return err;
}

/* Append N bytes to the output queue (never more than OUT_MAX in all: the
 * handshake queues a bounded amount once per step). */
static uint8_t *out_reserve(struct bt_mse *m, size_t n)
{
	if (m->out_off && m->out_len + n > OUT_MAX) {
		memmove(m->out, m->out + m->out_off, m->out_len - m->out_off);
		m->out_len -= m->out_off;
		m->out_off = 0;
	}
	if (m->out_len + n > OUT_MAX)
		abort(); /* a sizing bug, not input */
	uint8_t *p = m->out + m->out_len;
	m->out_len += n;
	return p;
}

/* Draw the private key and the pad, queue our public key and the pad. */
static int send_key(struct bt_mse *m, const uint8_t *peer_key)
{
	uint8_t rl[2];
	int rc = m->rand(m->rand_ctx, m->priv, sizeof(m->priv));
	if (rc == 0)
		rc = m->rand(m->rand_ctx, rl, 2);
	if (rc != 0)
		return rc < 0 ? rc : -EIO;
	size_t pad = get16(rl) % (BT_MSE_PAD_MAX + 1);
	if (peer_key) {
		rc = pfs_dh_secret(m->priv, peer_key, m->secret);
		if (rc != 0)
			return rc;
	}
	uint8_t *p = out_reserve(m, BT_MSE_KEY_LEN + pad);
	rc = pfs_dh_public(m->priv, p);
	if (rc == 0 && pad)
		rc = m->rand(m->rand_ctx, p + BT_MSE_KEY_LEN, pad);
	if (rc != 0) {
		m->out_len -= BT_MSE_KEY_LEN + pad;
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

/* RC4 keyed with HASH(tag, S, SKEY), first 1024 bytes dropped */
static int stream_init(struct pfs_rc4 *r, const char tag[4],
		       const struct bt_mse *m)
{
	uint8_t key[20];
	if (hash3(tag, m->secret, PFS_DH_LEN, m->skey, 20, key) != 0)
		return -EIO;
	pfs_rc4_init(r, key, sizeof(key));
	pfs_rc4_skip(r, DISCARD);
	explicit_bzero(key, sizeof(key));
	return 0;
}

static void start_scan(struct bt_mse *m, enum phase ph, size_t pat_len,
		       size_t window)
{
	m->phase = ph;
	m->pat_len = pat_len;
	m->window = window;
	m->buf_len = 0;
}

struct bt_mse *bt_mse_new(const struct bt_mse_config *cfg, int *err)
{
	int rc = -EINVAL;
	struct bt_mse *m = NULL;
	if (cfg->policy != BT_MSE_PREFER && cfg->policy != BT_MSE_REQUIRE &&
	    cfg->policy != BT_MSE_OFF)
		goto out;
	if (cfg->role == BT_MSE_INITIATOR) {
		if (!cfg->skey || cfg->policy == BT_MSE_OFF ||
		    cfg->ia_len > BT_MSE_MAX_IA || (cfg->ia_len && !cfg->ia))
			goto out;
	} else if (cfg->role != BT_MSE_RESPONDER || !cfg->find) {
		goto out;
	}
	rc = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out;
	m->role = cfg->role;
	m->policy = cfg->policy;
	m->reason = "";
	m->deadline =
	    cfg->now + (cfg->timeout_ms ? cfg->timeout_ms : BT_MSE_TIMEOUT_MS);
	m->find = cfg->find;
	m->find_ctx = cfg->find_ctx;
	m->rand = cfg->rand ? cfg->rand : default_rand;
	m->rand_ctx = cfg->rand_ctx;
	m->provide = cfg->policy == BT_MSE_REQUIRE
			 ? BT_MSE_CRYPTO_RC4
			 : BT_MSE_CRYPTO_RC4 | BT_MSE_CRYPTO_PLAIN;
	if (cfg->role == BT_MSE_RESPONDER) {
		m->phase = P_R_YA;
		*err = 0;
		return m;
	}
	memcpy(m->skey, cfg->skey, 20);
	if (cfg->ia_len)
		memcpy(m->ia, cfg->ia, cfg->ia_len);
	m->ia_len = cfg->ia_len;
	m->phase = P_I_YB;
	rc = send_key(m, NULL);
	if (rc == 0) {
		*err = 0;
		return m;
	}
out:
	bt_mse_free(m);
	*err = rc;
	return NULL;
}

void bt_mse_free(struct bt_mse *m)
{
	if (!m)
		return;
	explicit_bzero(m, sizeof(*m));
	free(m);
}

/* Gather bytes into buf until it holds WANT; returns the bytes taken. */
static size_t gather(struct bt_mse *m, const uint8_t *in, size_t len,
		     size_t want)
{
	size_t take = want - m->buf_len;
	if (take > len)
		take = len;
	memcpy(m->buf + m->buf_len, in, take);
	m->buf_len += take;
	return take;
}

/* Scan for m->pattern in the bytes after the last fixed unit. Takes bytes
 * only up to the end of the match (what follows is the next unit's), so
 * a stream split anywhere synchronises the same way. *FOUND tells. */
static size_t scan(struct bt_mse *m, const uint8_t *in, size_t len, bool *found)
{
	size_t old = m->buf_len;
	size_t take = m->window - old;
	if (take > len)
		take = len;
	memcpy(m->buf + old, in, take);
	m->buf_len += take;
	size_t from = old >= m->pat_len ? old - m->pat_len + 1 : 0;
	for (size_t p = from; p + m->pat_len <= m->buf_len; p++) {
		if (memcmp(m->buf + p, m->pattern, m->pat_len) == 0) {
			*found = true;
			m->buf_len = 0;
			return p + m->pat_len - old;
		}
	}
	*found = false;
	return take;
}

/* the initiator got Yb: queue step 3 and look for B's VC */
static ssize_t initiator_got_key(struct bt_mse *m)
{
	int rc = pfs_dh_secret(m->priv, m->buf, m->secret);
	if (rc == -EPROTO)
		return fail(m, rc, "peer's dh key is out of range");
	if (rc != 0)
		return fail(m, rc, "dh computation failed");
	uint8_t req1[20], req2[20], req3[20], zero[VC_LEN] = {0};
	if (hash3("req1", m->secret, PFS_DH_LEN, NULL, 0, req1) != 0 ||
	    bt_mse_req2(m->skey, req2) != 0 ||
	    hash3("req3", m->secret, PFS_DH_LEN, NULL, 0, req3) != 0 ||
	    stream_init(&m->enc, "keyA", m) != 0 ||
	    stream_init(&m->dec, "keyB", m) != 0)
		return fail(m, -EIO, "hashing failed");
	size_t n = 20 + 20 + VC_LEN + 4 + 2 + 2 + m->ia_len;
	uint8_t *p = out_reserve(m, n);
	memcpy(p, req1, 20);
	for (int i = 0; i < 20; i++)
		p[20 + i] = req2[i] ^ req3[i];
	uint8_t *e = p + 40;
	memset(e, 0, VC_LEN);
	put32(e + VC_LEN, m->provide);
	put16(e + VC_LEN + 4, 0); /* len(PadC): we send none */
	put16(e + VC_LEN + 6, (uint32_t)m->ia_len);
	memcpy(e + VC_LEN + 8, m->ia, m->ia_len);
	pfs_rc4_crypt(&m->enc, e, e, n - 40);
	explicit_bzero(m->ia, m->ia_len);

	/* B's VC is the first 8 bytes of its keystream after the discard */
	pfs_rc4_crypt(&m->dec, zero, m->pattern, VC_LEN);
	start_scan(m, P_I_VC, VC_LEN, BT_MSE_PAD_MAX + VC_LEN);
	return 0;
}

static void finish(struct bt_mse *m)
{
	m->phase = P_DONE;
	explicit_bzero(m->priv, sizeof(m->priv));
	explicit_bzero(m->secret, sizeof(m->secret));
}

static ssize_t initiator_got_select(struct bt_mse *m)
{
	pfs_rc4_crypt(&m->dec, m->buf, m->buf, 6);
	uint32_t sel = get32(m->buf);
	size_t padd = get16(m->buf + 4);
	m->buf_len = 0;
	if ((sel != BT_MSE_CRYPTO_RC4 && sel != BT_MSE_CRYPTO_PLAIN) ||
	    !(sel & m->provide))
		return fail(m, -EPROTO,
			    "peer selected a method we did not offer");
	if (padd > BT_MSE_PAD_MAX)
		return fail(m, -EPROTO, "peer's PadD is longer than 512");
	m->selected = sel;
	m->skip_left = padd;
	if (padd)
		m->phase = P_I_PADD;
	else
		finish(m);
	return 0;
}

/* the responder got Ya: draw our key, queue Yb + PadB, look for req1 */
static ssize_t responder_got_key(struct bt_mse *m)
{
	uint8_t ya[BT_MSE_KEY_LEN];
	memcpy(ya, m->buf, sizeof(ya));
	int rc = send_key(m, ya);
	if (rc == -EPROTO)
		return fail(m, rc, "peer's dh key is out of range");
	if (rc != 0)
		return fail(m, rc, "dh computation or random source failed");
	if (hash3("req1", m->secret, PFS_DH_LEN, NULL, 0, m->pattern) != 0 ||
	    hash3("req3", m->secret, PFS_DH_LEN, NULL, 0, m->req3) != 0)
		return fail(m, -EIO, "hashing failed");
	start_scan(m, P_R_REQ1, 20, BT_MSE_PAD_MAX + 20);
	return 0;
}

static ssize_t responder_got_req2(struct bt_mse *m)
{
	uint8_t req2[20];
	for (int i = 0; i < 20; i++)
		req2[i] = m->buf[i] ^ m->req3[i];
	m->buf_len = 0;
	if (m->find(m->find_ctx, req2, m->skey) != 0)
		return fail(m, -ENOENT,
			    "peer asked for a torrent we do not have");
	if (stream_init(&m->dec, "keyA", m) != 0 ||
	    stream_init(&m->enc, "keyB", m) != 0)
		return fail(m, -EIO, "hashing failed");
	m->phase = P_R_HDR;
	return 0;
}

static ssize_t responder_got_hdr(struct bt_mse *m)
{
	static const uint8_t zero[VC_LEN];
	pfs_rc4_crypt(&m->dec, m->buf, m->buf, VC_LEN + 4 + 2);
	uint32_t provide = get32(m->buf + VC_LEN);
	size_t padc = get16(m->buf + VC_LEN + 4);
	bool vc_ok = memcmp(m->buf, zero, VC_LEN) == 0;
	m->buf_len = 0;
	if (!vc_ok)
		return fail(m, -EPROTO, "wrong verification constant");
	if (padc > BT_MSE_PAD_MAX)
		return fail(m, -EPROTO, "peer's PadC is longer than 512");
	uint32_t allow = m->policy == BT_MSE_REQUIRE ? BT_MSE_CRYPTO_RC4
			 : m->policy == BT_MSE_OFF
			     ? BT_MSE_CRYPTO_PLAIN
			     : BT_MSE_CRYPTO_RC4 | BT_MSE_CRYPTO_PLAIN;
	uint32_t both = provide & allow;
	if (both & BT_MSE_CRYPTO_RC4)
		m->selected = BT_MSE_CRYPTO_RC4;
	else if (both & BT_MSE_CRYPTO_PLAIN)
		m->selected = BT_MSE_CRYPTO_PLAIN;
	else
		return fail(m, -EPROTONOSUPPORT,
			    m->policy == BT_MSE_REQUIRE
				? "peer offers no rc4 and encryption is "
				  "required"
				: "peer offers no method we allow");
	m->skip_left = padc;
	m->phase = padc ? P_R_PADC : P_R_IALEN;
	return 0;
}

static ssize_t responder_got_ialen(struct bt_mse *m)
{
	pfs_rc4_crypt(&m->dec, m->buf, m->buf, 2);
	m->ia_left = get16(m->buf);
	m->buf_len = 0;
	uint8_t *p = out_reserve(m, VC_LEN + 4 + 2);
	memset(p, 0, VC_LEN);
	put32(p + VC_LEN, m->selected);
	put16(p + VC_LEN + 4, 0); /* len(PadD): we send none */
	pfs_rc4_crypt(&m->enc, p, p, VC_LEN + 4 + 2);
	if (m->selected == BT_MSE_CRYPTO_RC4)
		m->ia_left = 0; /* all of the payload is RC4 anyway */
	finish(m);
	return 0;
}

/* One step: consume some of IN, maybe change phase. Returns bytes used or
 * an error. */
static ssize_t step(struct bt_mse *m, const uint8_t *in, size_t len)
{
	size_t n;
	bool found;
	ssize_t rc = 0;
	switch (m->phase) {
	case P_I_YB:
	case P_R_YA:
		n = gather(m, in, len, BT_MSE_KEY_LEN);
		if (m->buf_len == BT_MSE_KEY_LEN) {
			m->buf_len = 0;
			rc = m->phase == P_I_YB ? initiator_got_key(m)
						: responder_got_key(m);
		}
		break;
	case P_I_VC:
	case P_R_REQ1:
		n = scan(m, in, len, &found);
		if (found)
			m->phase = m->phase == P_I_VC ? P_I_SELECT : P_R_REQ2;
		else if (m->buf_len == m->window)
			rc = fail(m, -EPROTO,
				  m->phase == P_I_VC
				      ? "no verification constant after "
					"512 bytes of pad"
				      : "no req1 hash after 512 bytes of "
					"pad");
		break;
	case P_I_SELECT:
		n = gather(m, in, len, 6);
		if (m->buf_len == 6)
			rc = initiator_got_select(m);
		break;
	case P_R_REQ2:
		n = gather(m, in, len, 20);
		if (m->buf_len == 20)
			rc = responder_got_req2(m);
		break;
	case P_R_HDR:
		n = gather(m, in, len, VC_LEN + 4 + 2);
		if (m->buf_len == VC_LEN + 4 + 2)
			rc = responder_got_hdr(m);
		break;
	case P_I_PADD:
	case P_R_PADC:
		n = m->skip_left < len ? m->skip_left : len;
		pfs_rc4_skip(&m->dec, n);
		m->skip_left -= n;
		if (m->skip_left == 0) {
			if (m->phase == P_I_PADD)
				finish(m);
			else
				m->phase = P_R_IALEN;
		}
		break;
	case P_R_IALEN:
		n = gather(m, in, len, 2);
		if (m->buf_len == 2)
			rc = responder_got_ialen(m);
		break;
	default:
		return 0;
	}
	return rc < 0 ? rc : (ssize_t)n;
}

ssize_t bt_mse_input(struct bt_mse *m, const uint8_t *in, size_t len,
		     uint64_t now)
{
	if (m->phase == P_FAILED)
		return m->err;
	if (m->phase == P_DONE)
		return 0;
	int rc = bt_mse_timer(m, now);
	if (rc != 0)
		return rc;
	size_t used = 0;
	while (used < len && m->phase != P_DONE) {
		ssize_t n = step(m, in + used, len - used);
		if (n < 0)
			return n;
		used += (size_t)n;
	}
	return (ssize_t)used;
}

size_t bt_mse_output(const struct bt_mse *m, const uint8_t **out)
{
	*out = m->out + m->out_off;
	return m->out_len - m->out_off;
}

void bt_mse_output_done(struct bt_mse *m, size_t n)
{
	size_t left = m->out_len - m->out_off;
	m->out_off += n < left ? n : left;
	if (m->out_off == m->out_len)
		m->out_off = m->out_len = 0;
}

enum bt_mse_state bt_mse_state(const struct bt_mse *m)
{
	return m->phase == P_DONE     ? BT_MSE_DONE
	       : m->phase == P_FAILED ? BT_MSE_FAILED
				      : BT_MSE_HANDSHAKE;
}

int bt_mse_error(const struct bt_mse *m)
{
	return m->phase == P_FAILED ? m->err : 0;
}

const char *bt_mse_reason(const struct bt_mse *m)
{
	return m->phase == P_FAILED ? m->reason : "";
}

uint64_t bt_mse_deadline(const struct bt_mse *m)
{
	return m->phase == P_DONE || m->phase == P_FAILED ? UINT64_MAX
							  : m->deadline;
}

int bt_mse_timer(struct bt_mse *m, uint64_t now)
{
	if (m->phase == P_FAILED)
		return m->err;
	if (m->phase == P_DONE || now < m->deadline)
		return 0;
	return (int)fail(m, -ETIMEDOUT, "handshake not done in time");
}

uint32_t bt_mse_selected(const struct bt_mse *m)
{
	return m->phase == P_DONE ? m->selected : 0;
}

const uint8_t *bt_mse_skey(const struct bt_mse *m)
{
	return m->skey;
}

bool bt_mse_plain_out(const struct bt_mse *m)
{
	return m->phase == P_DONE && m->selected == BT_MSE_CRYPTO_PLAIN;
}

void bt_mse_encrypt(struct bt_mse *m, const uint8_t *in, uint8_t *out, size_t n)
{
	if (m->phase != P_DONE)
		abort(); /* a caller bug: see bt_mse.h */
	if (m->selected == BT_MSE_CRYPTO_RC4)
		pfs_rc4_crypt(&m->enc, in, out, n);
	else if (in != out && n)
		memcpy(out, in, n);
}

void bt_mse_decrypt(struct bt_mse *m, const uint8_t *in, uint8_t *out, size_t n)
{
	if (m->phase != P_DONE)
		abort(); /* a caller bug: see bt_mse.h */
	if (m->selected == BT_MSE_CRYPTO_RC4) {
		pfs_rc4_crypt(&m->dec, in, out, n);
		return;
	}
	size_t ia = m->ia_left < n ? m->ia_left : n;
	if (ia) {
		pfs_rc4_crypt(&m->dec, in, out, ia);
		m->ia_left -= ia;
	}
	if (in != out && n > ia)
		memcpy(out + ia, in + ia, n - ia);
}

enum bt_mse_first bt_mse_classify(const uint8_t *buf, size_t len)
{
	static const char plain[] = "\x13"
				    "BitTorrent protocol";
	const size_t plen = sizeof(plain) - 1;
	size_t n = len < plen ? len : plen;
	if (memcmp(buf, plain, n) != 0)
		return BT_MSE_FIRST_MSE;
	return len >= plen ? BT_MSE_FIRST_PLAIN : BT_MSE_FIRST_MORE;
}

int bt_mse_policy_parse(const char *s, enum bt_mse_policy *out)
{
	if (strcmp(s, "prefer") == 0)
		*out = BT_MSE_PREFER;
	else if (strcmp(s, "require") == 0)
		*out = BT_MSE_REQUIRE;
	else if (strcmp(s, "off") == 0)
		*out = BT_MSE_OFF;
	else
		return -EINVAL;
	return 0;
}

const char *bt_mse_policy_name(enum bt_mse_policy p)
{
	switch (p) {
	case BT_MSE_PREFER:
		return "prefer";
	case BT_MSE_REQUIRE:
		return "require";
	case BT_MSE_OFF:
		return "off";
	}
	return "?";
}
