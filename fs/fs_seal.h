/* fs_seal — the command line's side of sealed shares: key files, finding
 * and opening the sealed header (the torrent's copy, the cache, else the
 * swarm), the key remembered in a cache folder (--remember-key), and the
 * segments a seed serves from the plaintext.
 *
 * Folder-private to fs/ (main.c, fs_create.c, fs_seed.c and the unit
 * test). Main thread only; fs_seal_fetch runs a short-lived engine session
 * of its own and returns only after it stopped. The key is never logged
 * or printed by anything here. */
#ifndef FS_SEAL_H
#define FS_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_metainfo.h"
#include "bt_seal.h"
#include "cache.h"
#include "pfs_cipher.h"

/* Where a remembered key lives in a torrent's cache folder (0600). */
#define FS_SEAL_KEY_NAME "seal-key"
/* The default bound on fetching the header from the swarm. */
#define FS_SEAL_FETCH_SECS 60u

struct bt_session_opts;

/* What a sealed share needs at mount and seed time. All NULL for a plain
 * torrent. Owned by the caller: fs_seal_release(). */
struct fs_seal_ctx {
	uint8_t key[BT_SEAL_KEY_LEN];
	bool have_key;
	struct bt_seal *seal;
	struct bt_metainfo *view; /* bt_seal_view() of the torrent */
	struct pfs_ctr *ctr;      /* the blob's keystream */
};

void fs_seal_release(struct fs_seal_ctx *x);

/* Read the key from FILE (a share link or 64 hex digits; at most 64 KiB).
 * Warns on stderr when others may read FILE. When the link names an
 * info-hash and MI is not NULL, it must be MI's. Returns 0 or prints one
 * line "p2pfs: WHO: ..." and returns the exit status (2). */
int fs_seal_read_key(const char *file, const struct bt_metainfo *mi,
		     const char *who, uint8_t key[BT_SEAL_KEY_LEN]);
/* Write TEXT and a newline to FILE, created with mode 0600 (replacing it
 * only with FORCE; then its mode is set to 0600 too). Returns 0 or -errno
 * (-EEXIST without FORCE). */
int fs_seal_write_key(const char *file, const char *text, bool force);

/* The torrent file PATH's copy of the sealed header, malloc'd into *OUT.
 * Returns 0, -ENOENT (none), or -errno of the read. */
int fs_seal_torrent_copy(const char *path, uint8_t **out, size_t *len);

/* Whether MI (loaded from PATH) is a sealed share: its name says so, or
 * the file carries a header copy. */
bool fs_seal_is_sealed(const struct bt_metainfo *mi, const char *path);

/* Open the share from bytes at hand: the verified pieces at the front of
 * CACHE (may be NULL), else the header copy HDR (may be NULL). Returns 0,
 * -EAGAIN when neither has enough (then *NEED bytes are wanted), or an
 * error of bt_seal_open() with ERR. */
int fs_seal_open_local(const struct bt_metainfo *mi, const uint8_t *hdr,
		       size_t hdr_len, struct cache *cache,
		       const uint8_t key[BT_SEAL_KEY_LEN], struct bt_seal **out,
		       uint64_t *need, char *err, size_t errlen);
/* Fetch the front of the blob into CACHE with a session of its own (SO)
 * until the header opens, at most SECS seconds. Returns 0, -ETIMEDOUT, an
 * error of bt_seal_open(), or -errno of the session, with ERR. */
int fs_seal_fetch(const struct bt_metainfo *mi, struct cache *cache,
		  const struct bt_session_opts *so,
		  const uint8_t key[BT_SEAL_KEY_LEN], unsigned secs,
		  struct bt_seal **out, char *err, size_t errlen);

/* Fill X from an opened SEAL over MI: the view and the keystream. Takes
 * SEAL. Returns 0 or -EINVAL/-ENOMEM with ERR. */
int fs_seal_ctx_set(struct fs_seal_ctx *x, const struct bt_metainfo *mi,
		    struct bt_seal *seal, char *err, size_t errlen);

/* The key remembered in the store folder DIR. Returns 0 or -errno
 * (-ENOENT: none). */
int fs_seal_recall(const char *dir, uint8_t key[BT_SEAL_KEY_LEN]);
/* Remember KEY in the store folder DIR (mode 0600, atomically). */
int fs_seal_remember(const char *dir, const uint8_t key[BT_SEAL_KEY_LEN]);

/* The segments that make the sealed blob from the plaintext: the header
 * bytes, then each file (PATHS[i] relative to the folder the cache reads
 * from, or the share's own path when PATHS is NULL) and the padding,
 * encrypted. *OUT is malloc'd; its paths and bytes point into PATHS and S.
 * Returns 0 or -ENOMEM. */
int fs_seal_segments(const struct bt_seal *s, const char *const *paths,
		     struct cache_segment **out, size_t *n);

/* One line for a failed open of the header: wrong key, damaged, newer. */
int fs_seal_report(const char *who, int err, const char *reason);

#endif
