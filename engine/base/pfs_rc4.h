/* pfs_rc4 — a small RC4 stream cipher for Message Stream Encryption.
 *
 * MSE (BitTorrent protocol encryption) needs RC4, which OpenSSL 3 keeps in
 * its legacy provider; it is short enough to carry here. RC4 is weak as a
 * cipher: MSE uses it to hide traffic from the network in between, nothing
 * more. The state is a plain struct so a connection can embed it; its
 * fields are private to pfs_rc4.c. One state belongs to one thread (the
 * one that drives the connection); the functions are pure otherwise. */
#ifndef PFS_RC4_H
#define PFS_RC4_H

#include <stddef.h>
#include <stdint.h>

struct pfs_rc4 {
	uint32_t s[256]; /* the permutation; 32-bit cells: see pfs_rc4.c */
	uint32_t i, j;
};

/* Key schedule. KEYLEN is 1..256 bytes (MSE uses 20-byte SHA-1 keys). */
void pfs_rc4_init(struct pfs_rc4 *r, const uint8_t *key, size_t keylen);
/* Discard the next N bytes of keystream (MSE drops the first 1024). */
void pfs_rc4_skip(struct pfs_rc4 *r, size_t n);
/* OUT = IN xor the next N keystream bytes. IN == OUT (in place) is allowed;
 * any other overlap is not. */
void pfs_rc4_crypt(struct pfs_rc4 *r, const uint8_t *in, uint8_t *out,
		   size_t n);
/* Wipe the state (it lets anyone decrypt the rest of the stream). */
void pfs_rc4_release(struct pfs_rc4 *r);

#endif
