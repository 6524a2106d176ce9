/* bt_mse — Message Stream Encryption (MSE/PE, "protocol encryption"): the
 * handshake of both roles and the payload stream ciphers after it, plus the
 * classifier of an incoming connection's first bytes.
 *
 * I/O-free: the caller feeds received bytes and `now` (ms, monotonic), takes
 * the bytes to send, arms a timer from bt_mse_deadline(), and after the
 * handshake runs every payload byte through bt_mse_encrypt/bt_mse_decrypt.
 * Randomness (the DH private key, padding) comes from an injected source,
 * so tests are deterministic.
 *
 * The handshake (A = initiator, B = responder; S = the DH secret; SKEY = the
 * info-hash; HASH = SHA-1; VC = 8 zero bytes; len() = 16-bit big-endian):
 *   A->B  Ya, PadA
 *   B->A  Yb, PadB
 *   A->B  HASH("req1",S), HASH("req2",SKEY) xor HASH("req3",S),
 *         E_A(VC, crypto_provide, len(PadC), PadC, len(IA)), E_A(IA)
 *   B->A  E_B(VC, crypto_select, len(PadD), PadD), then B's payload
 *   A->B  A's payload
 * E_A/E_B are RC4 keyed with HASH("keyA"|"keyB", S, SKEY), the first 1024
 * keystream bytes discarded. Payload after the handshake is RC4 (continuing
 * those streams) or plaintext, as crypto_select says. PadA/PadB are 0..512
 * random bytes; we send PadC and PadD empty and accept up to 512 bytes of
 * either. B finds the torrent by HASH("req2", SKEY) through a lookup
 * callback; A may carry its BitTorrent handshake in IA.
 *
 * Every input is bounded: the handshake buffers at most BT_MSE_SCAN_MAX
 * bytes, IA is not buffered at all (it is the start of the payload, see
 * bt_mse_input), and a handshake not done by the deadline fails.
 *
 * A bt_mse belongs to the thread that drives its connection (the engine
 * thread); there is no shared state. */
#ifndef BT_MSE_H
#define BT_MSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* crypto_provide / crypto_select bits */
#define BT_MSE_CRYPTO_PLAIN 0x01u
#define BT_MSE_CRYPTO_RC4   0x02u

#define BT_MSE_KEY_LEN 96   /* a DH public key on the wire */
#define BT_MSE_PAD_MAX 512  /* PadA..PadD */
#define BT_MSE_MAX_IA  1024 /* what our initiator may put in IA */
/* the longest run the handshake ever buffers: a synchronisation window
 * (pad + the 20-byte req1 hash) */
#define BT_MSE_SCAN_MAX	  (BT_MSE_PAD_MAX + 20)
#define BT_MSE_TIMEOUT_MS 10000u /* default handshake deadline */

enum bt_mse_role {
	BT_MSE_INITIATOR, /* we opened the connection (A) */
	BT_MSE_RESPONDER, /* we accepted it (B) */
};

/* --encryption. What each allows, as crypto_provide (initiator) or the
 * methods the responder may select:
 *   PREFER   RC4 or plaintext, RC4 chosen when the peer offers it;
 *   REQUIRE  RC4 only (never a plaintext payload);
 *   OFF      plaintext only. The engine does not initiate MSE with OFF; a
 *            responder with OFF still completes an MSE handshake whose
 *            initiator offers plaintext (its payload is then unencrypted),
 *            or the engine may refuse MSE outright. */
enum bt_mse_policy {
	BT_MSE_PREFER,
	BT_MSE_REQUIRE,
	BT_MSE_OFF,
};

enum bt_mse_state {
	BT_MSE_HANDSHAKE, /* in progress */
	BT_MSE_DONE,	  /* payload flows through encrypt/decrypt */
	BT_MSE_FAILED,	  /* see bt_mse_error(); close the connection */
};

/* Fill BUF with N random bytes; 0 or -errno. */
typedef int (*bt_mse_rand_fn)(void *ctx, void *buf, size_t n);
/* Responder: which hosted torrent has HASH("req2", SKEY) == REQ2? Fill
 * SKEY (its info-hash) and return 0, or return -ENOENT. Called once per
 * handshake, on the engine thread; bt_mse_req2() makes the table. */
typedef int (*bt_mse_find_fn)(void *ctx, const uint8_t req2[20],
			      uint8_t skey[20]);

struct bt_mse_config {
	enum bt_mse_role role;
	enum bt_mse_policy policy;
	uint64_t now;	     /* the deadline counts from here */
	uint32_t timeout_ms; /* 0: BT_MSE_TIMEOUT_MS */
	/* initiator */
	const uint8_t *skey; /* the torrent's 20-byte info-hash (copied) */
	const uint8_t *ia;   /* initial payload, e.g. our BitTorrent */
	size_t ia_len;	     /* handshake (copied); 0..BT_MSE_MAX_IA */
	/* responder */
	bt_mse_find_fn find;
	void *find_ctx;
	/* randomness: NULL uses pfs_random(). Draws, in this order (tests
	 * rely on it): the 20-byte private key, 2 bytes whose big-endian
	 * value mod 513 is the length of PadA/PadB, then that many pad
	 * bytes. The responder draws when the peer's key has arrived. */
	bt_mse_rand_fn rand;
	void *rand_ctx;
};

struct bt_mse;

/* A new handshake. The initiator's first bytes (Ya, PadA) are ready in
 * bt_mse_output() at once. Returns NULL with *ERR = -EINVAL (bad config:
 * no skey/find for the role, IA too long, OFF for an initiator), -ENOMEM,
 * or the error of the random source or the DH maths. */
struct bt_mse *bt_mse_new(const struct bt_mse_config *cfg, int *err);
/* Wipes the keys. NULL is fine. */
void bt_mse_free(struct bt_mse *m);

/* Feed LEN bytes received from the peer during the handshake. Returns how
 * many it consumed (0..LEN), or a negative error (then the state is FAILED
 * and stays so). Once the state turns DONE it stops consuming: the
 * LEN - returned bytes left over are payload, to be passed to
 * bt_mse_decrypt() (for a responder they start with the initiator's IA).
 * In state DONE it consumes nothing and returns 0.
 * Errors: -ETIMEDOUT (NOW is past the deadline), -EPROTO (a bad DH key, no
 * synchronisation pattern within its window, a non-zero VC, a pad longer
 * than 512, a crypto_select we did not offer), -ENOENT (responder: no
 * hosted torrent matches the peer's SKEY), -EPROTONOSUPPORT (no method
 * both sides allow), -EIO (hashing failed), or that of the random source
 * or DH maths. */
ssize_t bt_mse_input(struct bt_mse *m, const uint8_t *in, size_t len,
		     uint64_t now);

/* The handshake bytes waiting to be sent (*OUT points into M, valid until
 * the next call on M); 0 when none. They must reach the wire before any
 * payload that bt_mse_encrypt() makes. */
size_t bt_mse_output(const struct bt_mse *m, const uint8_t **out);
/* N bytes of bt_mse_output() were sent. */
void bt_mse_output_done(struct bt_mse *m, size_t n);

enum bt_mse_state bt_mse_state(const struct bt_mse *m);
/* The error that failed the handshake (0 while not FAILED), and a short
 * lowercase reason for the log ("" while not FAILED). */
int bt_mse_error(const struct bt_mse *m);
const char *bt_mse_reason(const struct bt_mse *m);
/* When to call bt_mse_timer() next: the handshake deadline, or UINT64_MAX
 * once the state is DONE or FAILED. */
uint64_t bt_mse_deadline(const struct bt_mse *m);
/* Fail the handshake if NOW is past its deadline. 0, or -ETIMEDOUT (and
 * the state is FAILED), or the earlier error if already FAILED. */
int bt_mse_timer(struct bt_mse *m, uint64_t now);

/* After DONE: the method chosen (BT_MSE_CRYPTO_RC4 or _PLAIN), and the
 * torrent's info-hash (for a responder, the one find() gave). */
uint32_t bt_mse_selected(const struct bt_mse *m);
const uint8_t *bt_mse_skey(const struct bt_mse *m);

/* After DONE: OUT = the next N payload bytes to send / that were received,
 * encrypted / decrypted. IN == OUT is allowed (in place); IN must not
 * otherwise overlap OUT. With plaintext selected these copy (nothing to do
 * in place), except that a responder's decrypt still runs the first len(IA)
 * bytes through RC4. Calling them before DONE is a bug (they abort). */
void bt_mse_encrypt(struct bt_mse *m, const uint8_t *in, uint8_t *out,
		    size_t n);
void bt_mse_decrypt(struct bt_mse *m, const uint8_t *in, uint8_t *out,
		    size_t n);
/* After DONE: true when outgoing payload goes out unchanged (plaintext
 * selected), so a transport may send an engine-owned buffer without a
 * copy; false when every byte must go through bt_mse_encrypt(). */
bool bt_mse_plain_out(const struct bt_mse *m);

/* HASH("req2", SKEY), what a responder's find() compares against. 0, or
 * -EIO if OpenSSL cannot hash. */
int bt_mse_req2(const uint8_t skey[20], uint8_t out[20]);

/* The first bytes of an incoming connection. */
enum bt_mse_first {
	BT_MSE_FIRST_MORE,  /* too few bytes to tell (all so far match the
			     * start of a plain handshake) */
	BT_MSE_FIRST_PLAIN, /* "\x13BitTorrent protocol": a plain handshake */
	BT_MSE_FIRST_MSE,   /* anything else: an MSE key (or garbage, which
			     * the MSE handshake then rejects) */
};
/* Looks at no more than the first 20 bytes; decides as soon as one byte
 * differs from the plain handshake's start. */
enum bt_mse_first bt_mse_classify(const uint8_t *buf, size_t len);

/* Parse "prefer", "require", "off". 0 or -EINVAL. */
int bt_mse_policy_parse(const char *s, enum bt_mse_policy *out);
const char *bt_mse_policy_name(enum bt_mse_policy p);

#endif
