/* cache_store — the stores under a cache root as a whole: which there are,
 * what each holds, removing one, tidying one. Used by `p2pfs cache`
 * (fs/fs_cachecmd.c), and by `p2pfs mount` to leave a copy of the torrent
 * in its store (so `cache ls` can name it).
 *
 * A store is ROOT/<info-hash hex>/ as cache.h lays it out (data, verified,
 * verified.spare, now and then verified.old.tmp) plus CACHE_STORE_TORRENT. A store is in use while a struct
 * cache holds the flock on its data file; removing and tidying take that
 * lock themselves, so they never pull a store from under a mount (and a
 * mount starting at that very moment fails with -EBUSY instead).
 *
 * Every function does its own I/O on the caller's thread and keeps no
 * state; 0 or -errno. */
#ifndef CACHE_STORE_H
#define CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_STORE_TORRENT "torrent"
#define CACHE_STORE_HEX_MAX 65

struct cache_store_info {
	char hex[CACHE_STORE_HEX_MAX];
	bool has_map; /* a valid verified map (the fields below) */
	uint32_t npieces;
	uint32_t nverified;
	uint32_t piece_length;
	uint64_t total_length;
	uint64_t disk_bytes; /* allocated bytes of its files */
	int64_t last_used;   /* newest mtime of its files (s since 1970) */
	bool in_use;	     /* a mount holds it */
	bool has_temp;	     /* leftover temporary files */
};

/* The stores under ROOT: folder names of 40 or 64 lowercase hex digits,
 * sorted, into a malloc'd array *HEXES of *N entries (free() it). A
 * missing ROOT is an empty list. */
int cache_store_list(const char *root, char (**hexes)[CACHE_STORE_HEX_MAX],
		     size_t *n);
/* What store HEX under ROOT holds. -ENOENT if there is no such store. */
int cache_store_inspect(const char *root, const char *hex,
			struct cache_store_info *info);
/* Remove store HEX: -EBUSY while in use, -ENOTEMPTY if it holds something
 * that is not a regular file. */
int cache_store_remove(const char *root, const char *hex);
/* Remove the temporary files of store HEX; -EBUSY while in use. */
int cache_store_tidy(const char *root, const char *hex);
/* Write NAME in the store folder DIR atomically (NAME.tmp, then rename). */
int cache_store_save(const char *dir, const char *name, const void *buf,
		     size_t len);

#endif
