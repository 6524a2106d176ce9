/* pfs_dh — Diffie-Hellman key agreement over the 768-bit prime of Message
 * Stream Encryption (BitTorrent protocol encryption), generator 2, done by
 * OpenSSL's BIGNUM.
 *
 * Keys are byte strings: a private key is PFS_DH_PRIV_LEN (160-bit) random
 * bytes the caller draws (so tests can fix them); public keys and the
 * shared secret are always PFS_DH_LEN bytes, big-endian, left-padded with
 * zeros. Stateless and thread-safe; each call costs one modular
 * exponentiation (constant-time in the private key). */
#ifndef PFS_DH_H
#define PFS_DH_H

#include <stdint.h>

#define PFS_DH_LEN	96 /* bytes of the prime, of a public key, of S */
#define PFS_DH_PRIV_LEN 20 /* 160-bit private keys, as MSE specifies */

/* PUB = 2^PRIV mod P. Returns 0, -EINVAL for an all-zero private key, or
 * -ENOMEM/-EIO from OpenSSL. */
int pfs_dh_public(const uint8_t priv[PFS_DH_PRIV_LEN], uint8_t pub[PFS_DH_LEN]);
/* SECRET = PEER^PRIV mod P. PEER comes from the network: anything outside
 * 2..P-2 (0, 1, P-1 and values >= P give a secret an observer can guess)
 * is -EPROTO. Else 0, -EINVAL (zero private key) or -ENOMEM/-EIO. */
int pfs_dh_secret(const uint8_t priv[PFS_DH_PRIV_LEN],
		  const uint8_t peer[PFS_DH_LEN], uint8_t secret[PFS_DH_LEN]);

#endif
