/* pfs_nh — a fast keyed hash of data blocks (NH, the inner hash of UMAC):
 * a 64-bit signature of up to PFS_NH_MAX bytes such that two different
 * blocks of the same length collide with probability at most 2^-32 over
 * the random key, whatever their content — so a peer that does not know
 * the key cannot make a bad block sign like the good one.
 *
 * Used to tell, once a piece that failed its hash check verifies, which
 * of the blocks sent before differed from the good ones (and so who lied).
 * It costs one 32x32->64 bit multiply per 8 bytes, a small fraction of
 * copying the block. A key is a plain value: make it with pfs_nh_init()
 * (random) and share it read-only between threads. */
#ifndef PFS_NH_H
#define PFS_NH_H

#include <stddef.h>
#include <stdint.h>

#define PFS_NH_MAX (128u * 1024) /* the largest block (BT_MAX_BLOCK_SIZE) */

struct pfs_nh {
	uint32_t k[PFS_NH_MAX / 4];
};

/* A random key. Returns 0 or -EIO. */
int pfs_nh_init(struct pfs_nh *nh);
/* The signature of LEN bytes at DATA (LEN <= PFS_NH_MAX; longer input is
 * signed on its first PFS_NH_MAX bytes and its length). */
uint64_t pfs_nh(const struct pfs_nh *nh, const void *data, size_t len);

#endif
