/* fs_magnet — magnet links on the command line (`p2pfs mount MAGNET`,
 * `p2pfs info MAGNET`): turn a parsed link into a metainfo, from the copy
 * kept in the torrent's cache folder when there is one (instant, offline),
 * else from the swarm (BEP 9 ut_metadata through a short-lived engine that
 * uses the link's tr= trackers and x.pe= peers, and LSD as the session
 * options say), and write it as a .torrent
 * (the info dict plus the link's trackers).
 *
 * The key of a sealed share link (x.p2pfs.key) is never used here: not in
 * a .torrent written, not sent to anyone. Runs on the caller's thread
 * (never the engine's); nothing here is shared between threads. */
#ifndef FS_MAGNET_H
#define FS_MAGNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_bencode.h"
#include "bt_magnet.h"
#include "bt_metainfo.h"
#include "bt_session.h"

/* The default --metadata-timeout, in seconds. */
#define FS_MAGNET_TIMEOUT 120

/* A .torrent of the info dict INFO (LEN bytes) with TRACKERS (each its own
 * BEP 12 tier; the first also as `announce`) into B. 0 or -ENOMEM. */
int fs_magnet_torrent(const uint8_t *info, size_t len,
		      const char *const *trackers, size_t ntrackers,
		      struct bt_benc *b);

/* The metainfo for M: ROOT/<hex>/torrent (the copy a previous mount kept)
 * when it holds M's info dict, else fetched from the swarm within
 * TIMEOUT_S seconds with SO's engine options, SO's peers and M's trackers
 * (unless SO->no_trackers). PROGRESS: a line on stderr, rewritten, saying
 * what happens (peers, metadata pieces). On success *MI is parsed from the
 * .torrent in *TORRENT (*TLEN bytes, malloc'd): the info dict with M's
 * trackers and those of the kept copy, which the caller may keep in the
 * cache folder; *FROM_CACHE says where it came from. Returns 0, or
 * -ETIMEDOUT / -EINVAL / -errno with a one-line reason in ERR. ROOT may be
 * NULL (no cache to look in). */
int fs_magnet_metainfo(const struct bt_magnet *m, const char *root,
		       const struct bt_session_opts *so, unsigned timeout_s,
		       bool progress, struct bt_metainfo **mi,
		       uint8_t **torrent, size_t *tlen, bool *from_cache,
		       char *err, size_t errlen);

/* The same, giving up (-ECANCELED) soon after *CANCEL (read atomically,
 * from another thread) turns true; CANCEL may be NULL. */
int fs_magnet_metainfo_cancel(const struct bt_magnet *m, const char *root,
			      const struct bt_session_opts *so,
			      unsigned timeout_s, bool progress,
			      const bool *cancel, struct bt_metainfo **mi,
			      uint8_t **torrent, size_t *tlen,
			      bool *from_cache, char *err, size_t errlen);

/* M's x.pe peers as "IP:PORT" / "HOST:PORT" strings appended to *PEERS
 * (a malloc'd array of *NPEERS, grown); the strings are malloc'd and also
 * listed in *OWNED (*NOWNED), for the caller to free. 0 or -ENOMEM. */
int fs_magnet_add_peers(const struct bt_magnet *m, const char ***peers,
			size_t *npeers, char ***owned, size_t *nowned);

#endif
