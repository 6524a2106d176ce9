/* bt_mkinfo — building a v1 .torrent from a file or folder on disk (what
 * `p2pfs create` runs).
 *
 * I/O-free: keeps the file list, sorts it, chooses and checks the piece
 * size, and writes the info dict and the whole .torrent with the bencode
 * writer. The I/O half (engine/io/bt_mkinfo_io.h) walks a folder into a
 * bt_mkinfo (bt_mkinfo_scan) and hashes the pieces (bt_mkinfo_hash): one
 * reader thread reads the files front to back with large preads into
 * piece-aligned chunks, a small pool of worker threads hashes those chunks
 * in parallel.
 *
 * The info-hash equals mktorrent's (1.1) for the same input and piece size:
 * the same files in the same order (every regular file, hidden ones and
 * empty ones too, sorted by the byte order of the whole relative path, as
 * strcmp does: "a-x" < "a.x" < "a/x" < "a0"), and the same `info` keys
 * (`files` or `length`, `name`, `piece length`, `pieces`, and `private`
 * only when set). Trackers follow mktorrent's -a: each tracker argument is
 * its own tier, commas separate URLs of one tier; `announce` is the first
 * URL and `announce-list` is written only when there is more than one URL.
 *
 * A bt_mkinfo is a plain data struct owned by its maker; any thread may use
 * its own. bt_mkinfo_hash() starts and joins its threads inside the call. */
#ifndef BT_MKINFO_H
#define BT_MKINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_bencode.h"

#define BT_MKINFO_MIN_PIECE (16u * 1024)
#define BT_MKINFO_MAX_PIECE (64u * 1024 * 1024)
/* The automatic piece size: the smallest power of two from AUTO_MIN to
 * AUTO_MAX that gives at most AUTO_PIECES pieces (so 1001..2000 pieces
 * unless clamped). */
#define BT_MKINFO_AUTO_MIN    (16u * 1024)
#define BT_MKINFO_AUTO_MAX    (16u * 1024 * 1024)
#define BT_MKINFO_AUTO_PIECES 2000u
#define BT_MKINFO_MAX_THREADS 64u

struct bt_mkinfo_file {
	char *path;      /* relative to the top folder, '/'-separated, raw
			  * bytes of the names on disk; for a single file, its
			  * name */
	uint64_t length;
};

struct bt_mkinfo {
	char *root;      /* where the files are read from: the folder, or the
			  * file itself for a single-file torrent */
	char *name;      /* the torrent's `name` */
	bool single;     /* one file: `length` in info instead of `files` */
	struct bt_mkinfo_file *files;
	size_t nfiles, cap;
	uint64_t total_length;
	uint32_t piece_length; /* 0 until bt_mkinfo_set_piece_length() */
	uint32_t npieces;
	uint8_t *pieces; /* 20 * npieces bytes, filled by bt_mkinfo_hash() */
};

/* What goes outside `info`. Every field may be NULL/0. */
struct bt_mkinfo_opts {
	const char *const *trackers; /* one tier each; "u1,u2" = two URLs
				      * of one tier */
	size_t ntrackers;
	const char *const *web_seeds; /* BEP 19 url-list; commas split too */
	size_t nweb_seeds;
	const char *comment;
	const char *created_by;
	int64_t creation_date; /* 0: no `creation date` */
	bool private_flag;     /* `private` 1 in info */
	/* a sealed share's header region, written outside `info` under
	 * BT_SEAL_TORRENT_KEY (bt_seal.h); NULL: none */
	const uint8_t *seal_header;
	size_t seal_header_len;
};

/* ---- the I/O-free core ---- */

/* An empty builder. ROOT is where bt_mkinfo_hash() reads from. NULL on
 * -ENOMEM or an empty NAME. */
struct bt_mkinfo *bt_mkinfo_new(const char *root, const char *name,
				bool single);
void bt_mkinfo_free(struct bt_mkinfo *mk);
/* Append a file (PATH is copied). Returns 0, -ENOMEM, or -EINVAL for a
 * path that is empty, absolute, has an empty, "." or ".." component, for a
 * second file of a single-file torrent, or when the total would overflow. */
int bt_mkinfo_add_file(struct bt_mkinfo *mk, const char *path,
		       uint64_t length);
/* Sort the files as mktorrent does (strcmp of the whole path). */
void bt_mkinfo_sort(struct bt_mkinfo *mk);

/* The automatic piece size for TOTAL bytes (see BT_MKINFO_AUTO_*). */
uint32_t bt_mkinfo_auto_piece_length(uint64_t total);
/* Parse a piece size: a number of bytes, or with a K or M suffix (KiB,
 * MiB; "256K", "4M", "262144"); it must be a power of two from 16 KiB to
 * 64 MiB. Returns 0 or -EINVAL with a one-line reason in ERR. */
int bt_mkinfo_parse_piece_size(const char *s, uint32_t *out, char *err,
			       size_t errlen);
/* Set the piece size (0: automatic), count the pieces and allocate the
 * hashes. Returns 0, -ENOMEM, or -EINVAL with a reason in ERR: no files,
 * total size 0, a bad piece size, more than BT_MAX_PIECES pieces or more
 * than BT_MAX_FILES files (what bt_metainfo would refuse to read). */
int bt_mkinfo_set_piece_length(struct bt_mkinfo *mk, uint32_t piece_length,
			       char *err, size_t errlen);

/* Append the bencoded info dict (after hashing) to OUT. */
int bt_mkinfo_info(const struct bt_mkinfo *mk, bool private_flag,
		   struct bt_benc *out);
/* The whole .torrent into *BUF (malloc'd, *LEN bytes) and its info-hash
 * into INFO_HASH. Returns 0, -ENOMEM, or -EINVAL (ERR says why) for an
 * empty tracker or web seed URL. */
int bt_mkinfo_torrent(const struct bt_mkinfo *mk,
		      const struct bt_mkinfo_opts *o, uint8_t **buf,
		      size_t *len, uint8_t info_hash[20], char *err,
		      size_t errlen);

#endif
