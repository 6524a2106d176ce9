/* bt_metainfo — .torrent (v1, BEP 3/12/27) parsing, validation and the
 * piece/file byte mapping.
 *
 * Built on bt_bencode; I/O-free except bt_metainfo_load(). A bt_metainfo is
 * immutable after parsing and may be read from any thread without locks (it
 * is a plain data struct on purpose: every module reads its fields).
 *
 * Paths are made safe here, once (never escape the mount or the cache):
 * names prefer `name.utf-8`/`path.utf-8`; in each component invalid UTF-8
 * bytes, NUL and '/' become '_', "" becomes "_", "." becomes "_.", ".."
 * becomes "_..", and one longer than 255 bytes is cut (keeping a short
 * extension); absolute paths cannot occur; colliding names (same path twice,
 * or a file that is also a folder of another path) get a "~N" suffix before
 * the extension ("a.txt" -> "a~1.txt", N counting up, real files before pad
 * files, in file order, so the result is deterministic). */
#ifndef BT_METAINFO_H
#define BT_METAINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BT_MAX_PIECE_LENGTH (64u * 1024 * 1024)
#define BT_MAX_PIECES (1u << 22) /* 4 Mi pieces */
#define BT_MAX_FILES 1000000

struct bt_file {
	char *path;      /* relative, '/'-separated, sanitized; for a single-file
			  * torrent it is the file name (== name), for a
			  * multi-file one it is relative to the top folder
			  * `name` and does not include it */
	uint64_t length;
	uint64_t offset; /* byte offset of the file in the torrent's data */
	bool pad;        /* BEP 47 padding file (attr contains 'p'): hidden */
};

struct bt_metainfo {
	uint8_t info_hash[20];
	char info_hash_hex[41];
	char *name;            /* sanitized top-level name */
	bool multi_file;       /* info had `files` */
	uint32_t piece_length;
	uint32_t npieces;
	uint64_t total_length; /* sum of file lengths */
	uint8_t *piece_hashes; /* 20 * npieces bytes */
	struct bt_file *files;
	size_t nfiles;
	/* Trackers in announce-list order (tiers flattened, duplicates removed),
	 * or just `announce`; only http(s):// and udp:// URLs are kept.
	 * tracker_tiers[i] is the BEP 12 tier of trackers[i]: 0, 1, ...
	 * counting only tiers that kept a tracker, so it never decreases (a
	 * bare string in announce-list, seen in the wild, is a tier of its
	 * own; `announce` alone is tier 0). */
	char **trackers;
	unsigned *tracker_tiers;
	size_t ntrackers;
	bool private_flag;
	char *comment;         /* may be NULL */
	char *created_by;      /* may be NULL */
	int64_t creation_date; /* 0 if absent */
	uint8_t *info_raw;     /* copy of the bencoded info dict */
	size_t info_len;
};

/* Parse a whole .torrent. Returns 0, -EINVAL (ERR gets a one-line reason such
 * as "'info' 'pieces' length 41 is not a multiple of 20") or -ENOMEM. Keys
 * in `info` (with `private`) are strict: missing or wrong-typed is -EINVAL,
 * except that an unusable `name.utf-8`/`path.utf-8` falls back to
 * `name`/`path`; wrong-typed descriptive keys outside `info` are ignored. */
int bt_metainfo_parse(const uint8_t *buf, size_t len, struct bt_metainfo **out,
		      char *err, size_t errlen);
/* Read and parse a file (at most 64 MiB, else -EFBIG). Adds -errno of the
 * open/read; ERR always gets a reason on failure. */
int bt_metainfo_load(const char *path, struct bt_metainfo **out, char *err,
		     size_t errlen);
/* Parse a bare info dictionary (as fetched by ut_metadata) whose SHA-1 must
 * equal INFO_HASH. */
int bt_metainfo_from_info(const uint8_t *info, size_t len,
			  const uint8_t info_hash[20], struct bt_metainfo **out,
			  char *err, size_t errlen);
void bt_metainfo_free(struct bt_metainfo *mi);

/* Size in bytes of piece INDEX (the last one may be shorter); 0 when INDEX
 * is not below npieces. */
uint32_t bt_metainfo_piece_size(const struct bt_metainfo *mi, uint32_t index);
/* Pieces covering [OFF, OFF+LEN) of the torrent's data; LEN > 0 and the
 * range inside total_length. A range running past the end is clipped to it;
 * an empty one (LEN 0 or OFF >= total_length) gives *FIRST > *LAST. Uses only
 * piece_length, npieces and total_length. */
void bt_metainfo_range_pieces(const struct bt_metainfo *mi, uint64_t off,
			      uint64_t len, uint32_t *first, uint32_t *last);

#endif
