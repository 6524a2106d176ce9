/* fs_tree — the inode table of a mounted torrent, and the pure byte-range
 * and read-ahead arithmetic of fs.c.
 *
 * Folder-private to fs/ (and its unit test). I/O-free: built from a
 * bt_metainfo alone, so `ls -lR` and `stat` need no network. The mount root
 * (inode 1) holds one entry, the torrent's `name`: a folder for a multi-file
 * torrent, the file for a single-file one. Pad files (BEP 47) are left out.
 *
 * Inodes are stable: they are assigned breadth-first with every folder's
 * entries in byte order of their names, so the children of a folder are
 * consecutive inodes (readdir is an index, lookup a binary search) and the
 * same torrent always gets the same numbers. A tree is immutable after
 * fs_tree_new() and may be read from any thread without locks. */
#ifndef FS_TREE_H
#define FS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_metainfo.h"

#define FS_ROOT_INO 1 /* == FUSE_ROOT_ID */

struct fs_node {
	const char *name;   /* "" for the mount root */
	uint64_t parent;    /* inode of the parent (the root is its own) */
	bool dir;
	/* folders */
	uint64_t first;     /* inode of the first child (children consecutive) */
	uint32_t nchildren;
	uint32_t nsubdirs;  /* for st_nlink = 2 + nsubdirs */
	/* files */
	uint64_t size;
	uint64_t offset;    /* byte offset of the file in the torrent's data */
	size_t file_index;  /* index in mi->files */
};

struct fs_tree;

/* Build the tree of MI. Files whose path is not a clean relative path (empty
 * components, leading or trailing '/') are left out rather than trusted.
 * Returns NULL with *ERR = -ENOMEM (or -EINVAL if nothing is left). */
struct fs_tree *fs_tree_new(const struct bt_metainfo *mi, int *err);
void fs_tree_free(struct fs_tree *t);

/* Number of inodes (the highest inode number). */
uint64_t fs_tree_count(const struct fs_tree *t);
/* The node of INO, or NULL when INO is not an inode of the tree. */
const struct fs_node *fs_tree_get(const struct fs_tree *t, uint64_t ino);
/* The inode of NODE (which must come from this tree). */
uint64_t fs_tree_ino(const struct fs_tree *t, const struct fs_node *node);
/* The entry NAME of folder PARENT, or NULL ("." and ".." are not entries). */
const struct fs_node *fs_tree_lookup(const struct fs_tree *t, uint64_t parent,
				     const char *name);
/* Walk a '/'-separated PATH from the root ("" or "/" is the root). */
const struct fs_node *fs_tree_resolve(const struct fs_tree *t,
				      const char *path);
/* Write NODE's path from the mount root ("Trip/day1.mkv") into OUT.
 * Returns 0 or -ENAMETOOLONG (OUT then holds a truncated path). */
int fs_tree_path(const struct fs_tree *t, const struct fs_node *node,
		 char *out, size_t len);

/* ---- byte-range arithmetic (pure) ---- */

/* Clip a read of SIZE bytes at OFF of a file of FILE_SIZE bytes: the number
 * of bytes to return (0 at or past the end of the file). */
uint64_t fs_read_clip(uint64_t file_size, uint64_t off, uint64_t size);
/* Pieces covering LEN > 0 bytes at torrent offset OFF. */
void fs_range_pieces(uint32_t piece_length, uint64_t off, uint64_t len,
		     uint32_t *first, uint32_t *last);

/* ---- read-ahead window of one open file (pure) ----
 *
 * The window starts at max(FS_RA_MIN_PIECES pieces, FS_RA_MIN_BYTES), grows
 * by twice the size of every sequential read (so the prefetch frontier runs
 * ahead of the reader) up to max(start, FS_RA_MAX_BYTES), and goes back to
 * the start on a seek; the first read after a seek (or the first read of
 * all) fetches nothing ahead: read-ahead starts with the second read of a
 * sequential run. A read counts as sequential when it begins within
 * FS_RA_SLACK bytes of the cursor (the kernel sends read-ahead requests in
 * parallel, so they arrive a little out of order). Pieces are handed out
 * once per sequential run; the pieces handed out in a run are "held" and
 * are given back (to be dropped by the engine unless a read or another
 * handle still wants them) when the run ends: on a seek, or on release. */
#define FS_RA_MIN_PIECES 2
#define FS_RA_MIN_BYTES (2u << 20)
#define FS_RA_MAX_BYTES (64u << 20)
#define FS_RA_SLACK (2u << 20)

struct fs_ra {
	uint64_t cursor;  /* file offset just after the furthest read */
	uint64_t window;  /* bytes ahead of the cursor to prefetch */
	uint64_t start;   /* initial window */
	uint64_t max;     /* largest window */
	uint32_t held;    /* first piece handed out in this run (when asked) */
	uint32_t until;   /* last piece already handed out (when asked) */
	bool asked;
	bool started;     /* a read was seen */
};

/* What to tell the engine after a read. */
struct fs_ra_step {
	bool drop;          /* give back DROP_FIRST..DROP_LAST (a seek) */
	uint32_t drop_first, drop_last;
	bool fetch;         /* prefetch FIRST..LAST */
	uint32_t first, last;
	uint32_t dist;      /* pieces from the cursor's piece to FIRST */
};

void fs_ra_init(struct fs_ra *ra, uint32_t piece_length);
/* Account a read of LEN bytes at file offset OFF of a file that starts at
 * torrent offset FILE_OFF and has FILE_SIZE bytes; fill *ST. Pieces to
 * prefetch follow the pieces of the read itself and end at the file's last
 * piece. When both are set, drop before fetching. */
void fs_ra_update(struct fs_ra *ra, uint32_t piece_length, uint64_t file_off,
		  uint64_t file_size, uint64_t off, uint64_t len,
		  struct fs_ra_step *st);
/* The handle goes away: returns true with the held pieces in *FIRST..*LAST
 * (to give back), and forgets them. */
bool fs_ra_release(struct fs_ra *ra, uint32_t *first, uint32_t *last);

/* With a cache limit: the window's start and largest size become those of
 * fs_ra_init() capped to MAX_BYTES (0 = no cap), so what a reader asks for
 * ahead fits in the cache; a window already larger shrinks. May be called
 * again as the cap changes (it grows back up to fs_ra_init()'s sizes). */
void fs_ra_limit(struct fs_ra *ra, uint32_t piece_length, uint64_t max_bytes);
/* The pieces a reader still needs kept in the cache: from the piece under
 * the cursor to the end of the read-ahead window, at most BUDGET bytes past
 * the cursor (0 = no cap) and not past the file's end. False before the
 * first read. */
bool fs_ra_pin_window(const struct fs_ra *ra, uint32_t piece_length,
		      uint64_t file_off, uint64_t file_size, uint64_t budget,
		      uint32_t *first, uint32_t *last);

/* ---- "no usable source" (pure) ----
 *
 * A mount warns once when, for a while, no source could give it data: no
 * connected peer has a piece it lacks (a peer we are interested in). "A
 * while" is FS_NOSOURCE_MS, or the read timeout when that is shorter (by
 * then a read has failed for it). The warning is re-armed once a usable
 * source shows up again. A torrent that is complete needs none. */
#define FS_NOSOURCE_MS 30000

struct fs_nosource {
	uint64_t since;   /* ms: no usable source since then; 0 = one now */
	bool warned;      /* the warning of this outage was given */
};
enum fs_nosource_event { FS_NOSOURCE_QUIET, FS_NOSOURCE_WARN,
			 FS_NOSOURCE_BACK };
/* How long without a usable source before the warning. */
uint64_t fs_nosource_after(uint64_t read_timeout_ms);
/* One look at NOW (ms, monotonic, > 0): USABLE a usable source exists;
 * COMPLETE every piece is here. Returns what to log: WARN once an outage
 * has lasted AFTER ms, BACK when a source returns after a WARN. */
enum fs_nosource_event fs_nosource_step(struct fs_nosource *ns, uint64_t now,
					bool usable, bool complete,
					uint64_t after);

#endif
