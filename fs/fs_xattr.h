/* fs_xattr — the values of the p2pfs extended attributes: formatted by the
 * mount (fs.c), parsed by `p2pfs status` (fs_status.c). Pure functions, no
 * I/O, any thread; folder-private to fs/ and its unit test.
 *
 * On the mount root:
 *   user.p2pfs.stats  one "key value" pair a line (keys below; readers skip
 *                     keys they do not know, so more can be added)
 *   user.p2pfs.peers  one line a peer: "ADDR CLIENT DOWN UP FLAGS", rates
 *                     in bytes/s, FLAGS from fs_xattr_flags(), at most
 *                     FS_XATTR_MAX bytes (whole lines; the rest is left out)
 * On every file: user.p2pfs.progress, "37.5" (percent verified). */
#ifndef FS_XATTR_H
#define FS_XATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_session.h"

#define FS_XATTR_MAX 65536 /* Linux's largest xattr value (XATTR_SIZE_MAX) */

struct fs_xattr_stats {
	uint64_t down_rate, up_rate; /* bytes/s */
	uint64_t downloaded, uploaded;
	uint32_t peers, seeds;
	uint32_t have, npieces;
	uint32_t hash_fails;
	uint64_t cache_used;  /* bytes the store holds (see cache_usage) */
	uint64_t cache_limit; /* 0 = none */
	uint64_t evictions;
};

/* Into OUT of LEN bytes, without a NUL. Returns the length, or -ERANGE when
 * it does not fit. */
int fs_xattr_stats_format(const struct fs_xattr_stats *st, char *out,
			  size_t len);
/* Parse the untrusted BUF of LEN bytes (no NUL needed). Every known key
 * must be present with a decimal value. Returns 0 or -EINVAL. */
int fs_xattr_stats_parse(const char *buf, size_t len,
			 struct fs_xattr_stats *st);

/* The client a BitTorrent peer id names: "Transmission/3000" for
 * "-TR3000-", "aria2/1.37.0" for "A2-1-37-0-", else its printable prefix;
 * never empty, no spaces. */
void fs_xattr_client(const uint8_t id[20], char *out, size_t len);
/* The flags of a peer, NUL-terminated into OUT (at least 8 bytes):
 *   D downloading from it (we are interested, it does not choke us)
 *   d we are interested but it chokes us
 *   U uploading to it (it is interested, we do not choke it)
 *   u it is interested but we choke it
 *   I it connected to us   S it is a seed   F fast extension
 * "-" when none applies. */
void fs_xattr_flags(const struct bt_peer_info *p, char *out);
/* The lines of N peers into OUT of LEN bytes, whole lines only, no NUL.
 * Returns the length. */
size_t fs_xattr_peers_format(const struct bt_peer_info *p, size_t n, char *out,
			     size_t len);

/* One line of user.p2pfs.peers, split. */
struct fs_xattr_peer {
	char addr[64];
	char client[32];
	uint64_t down_rate, up_rate;
	char flags[16];
};
/* Parse the line LINE of LEN bytes. Returns 0 or -EINVAL. */
int fs_xattr_peer_parse(const char *line, size_t len, struct fs_xattr_peer *p);

/* A progress bar of WIDTH cells for PCT (0..100): "#" done, "." not, NUL
 * terminated; OUT has WIDTH + 1 bytes. */
void fs_xattr_bar(double pct, char *out, size_t width);

#endif
