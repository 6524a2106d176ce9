/* bt_seal — the sealed-share format: a folder (or one file) encrypted into
 * one opaque blob that an ordinary v1 torrent of a single file carries.
 *
 * I/O-free. The full format is man/p2pfs-seal.5; in short, with K the
 * share's 256-bit key and S a random 16-byte salt:
 *
 *   blob = S | C | GCM(preamble) | GCM(file table) | padding | file slots
 *
 * C is a key check (HKDF of K and S), so a wrong key is told apart from a
 * damaged header. The preamble (magic, version, table length, where the
 * data starts, the blob length) and the file table (root name, and per
 * file: path, size, blob offset, slot size, mtime, mode) are AES-256-GCM
 * under a key derived from K and S. Everything after the table is the
 * plaintext stream (each file's bytes at its offset, zeros elsewhere) xor
 * one AES-256-CTR keystream indexed by blob offset, so any byte range is
 * encrypted or decrypted on its own, and the same key, salt and files give
 * the same blob on every machine. Each file's slot is its size rounded up
 * by the Padmé rule (bt_seal_padme), the header region too (at least
 * BT_SEAL_MIN_DATA_OFF bytes), and the blob as a whole.
 *
 * A bt_seal is a plain data struct owned by whoever made it (build or
 * open); any thread may read it. bt_seal_view() maps the files onto the
 * blob as a synthetic multi-file bt_metainfo (files at their blob offsets,
 * the padding as BEP 47 pad files), so fs_tree and the piece arithmetic
 * work on sealed shares unchanged.
 *
 * Parsers of outside input (bt_seal_open, bt_seal_table_parse,
 * bt_seal_key_text, bt_seal_torrent_header) return -EINVAL/-EBADMSG/...
 * with a one-line reason and never abort. No function logs key material. */
#ifndef BT_SEAL_H
#define BT_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_metainfo.h"

#define BT_SEAL_KEY_LEN 32
#define BT_SEAL_SALT_LEN 16
#define BT_SEAL_CHECK_LEN 16
#define BT_SEAL_VERSION 1u
#define BT_SEAL_MAGIC "P2PFSEAL"
/* salt, key check, preamble (40 bytes) and its tag */
#define BT_SEAL_PREAMBLE_LEN 40u
#define BT_SEAL_FIXED_LEN (16u + 16u + BT_SEAL_PREAMBLE_LEN + 16u)
/* The table's ciphertext starts here and is followed by its 16-byte tag. */
#define BT_SEAL_TABLE_OFF BT_SEAL_FIXED_LEN
#define BT_SEAL_MAX_TABLE (64u << 20)
#define BT_SEAL_MIN_DATA_OFF 4096u
#define BT_SEAL_MAX_PATH 4095u
/* file mode bits kept in the table */
#define BT_SEAL_MODE_EXEC 1u
/* The torrent's `name`: this prefix and 16 hex digits of the salt. */
#define BT_SEAL_NAME_PREFIX "p2pfs-sealed-"
/* The .torrent's top-level key (outside `info`) that carries a copy of the
 * header region, so `seed` and `mount` need not fetch it. */
#define BT_SEAL_TORRENT_KEY "p2pfs sealed header"
/* The key parameter of a share link. */
#define BT_SEAL_LINK_PARAM "x.p2pfs.key"

struct bt_seal_file {
	char *path;          /* relative to the root, '/'-separated (a single
			      * file: its name, == root) */
	uint64_t length;
	uint64_t offset;     /* blob offset of its first byte */
	uint64_t slot;       /* bytes it takes in the blob (>= length) */
	int64_t mtime;       /* seconds since the epoch */
	uint32_t mtime_nsec;
	uint32_t mode;       /* BT_SEAL_MODE_* */
};

struct bt_seal {
	char *root;          /* the shared folder's (or single file's) name */
	bool single;
	struct bt_seal_file *files; /* sorted by strcmp of path, unique */
	size_t nfiles, cap;
	uint64_t header_len; /* salt .. table tag */
	uint64_t data_off;   /* the header region, padding included */
	uint64_t total_length; /* the blob */
	uint8_t salt[BT_SEAL_SALT_LEN];
	uint8_t data_key[32]; /* the keystream of everything after the table */
	uint8_t data_iv[16];
	uint8_t *header;     /* header_len bytes, as in the blob */
};

/* Padmé (Nikitin et al., PETS 2019): L rounded up so that only its top
 * floor(log2(floor(log2 L))) + 1 bits may be non-zero; leaks O(log log L)
 * bits of L for at most 11.7 % more bytes (the worst case, L = 129), under
 * 3.2 % from 1 GiB on.
 * L < 2 is kept. */
uint64_t bt_seal_padme(uint64_t len);

/* ---- building (p2pfs create --seal) ---- */

/* An empty share named ROOT (a single file when SINGLE). NULL on -ENOMEM
 * or a ROOT that is not one clean path component. */
struct bt_seal *bt_seal_new(const char *root, bool single);
void bt_seal_free(struct bt_seal *s);
/* Append a file (PATH copied). -EINVAL for a path that is not clean and
 * relative, a second file of a single share, or one past BT_SEAL_MAX_PATH;
 * -ENOMEM. */
int bt_seal_add(struct bt_seal *s, const char *path, uint64_t length,
		int64_t mtime, uint32_t mtime_nsec, uint32_t mode);
/* Sort the files, lay them out and write the header with KEY and SALT.
 * Returns 0, -ENOMEM, or -EINVAL with a reason (duplicate paths, a file
 * that is also a folder, a table or blob too large). */
int bt_seal_build(struct bt_seal *s, const uint8_t key[BT_SEAL_KEY_LEN],
		  const uint8_t salt[BT_SEAL_SALT_LEN], char *err,
		  size_t errlen);
/* The header region as in the blob, data_off bytes into OUT: the header,
 * then the keystream over zeros. Returns 0 or -EIO/-ENOMEM. */
int bt_seal_header_region(const struct bt_seal *s, uint8_t *out);
/* The torrent `name` of S (BT_SEAL_NAME_PREFIX + 16 hex digits) into OUT
 * of at least 30 bytes. */
void bt_seal_torrent_name(const struct bt_seal *s, char *out, size_t len);

/* ---- opening (mount, seed) ---- */

/* Open the header at the front of the blob: BUF holds its first LEN bytes
 * and BLOB_LEN is the torrent's total length. Returns
 *   0            *OUT is the share;
 *   -EAGAIN      more bytes are needed: *NEED (at least LEN + 1);
 *   -EKEYREJECTED  KEY is not this share's key;
 *   -EBADMSG     the header is damaged or was tampered with (the key
 *                check matches but a tag or a field does not);
 *   -EPROTONOSUPPORT  a newer format version;
 *   -ENOMEM.
 * ERR gets a one-line reason in every failing case but -EAGAIN. */
int bt_seal_open(const uint8_t key[BT_SEAL_KEY_LEN], const uint8_t *buf,
		 size_t len, uint64_t blob_len, struct bt_seal **out,
		 uint64_t *need, char *err, size_t errlen);
/* The plaintext file table parser (what bt_seal_open runs after the tag
 * checked), exposed for the fuzzer and the tests: fills S's root, single
 * and files from BUF and checks them against DATA_OFF and BLOB_LEN.
 * Returns 0, -EBADMSG with a reason, or -ENOMEM. */
int bt_seal_table_parse(struct bt_seal *s, const uint8_t *buf, size_t len,
			uint64_t data_off, uint64_t blob_len, char *err,
			size_t errlen);
/* The synthetic metainfo of an opened share over its torrent MI (which
 * must be MI's blob: single file, the same length): the info-hash and
 * pieces of MI, the share's root as `name`, its files at their blob
 * offsets and pad files for the rest. Free with bt_metainfo_free().
 * Returns 0, -EINVAL with a reason, or -ENOMEM. */
int bt_seal_view(const struct bt_metainfo *mi, const struct bt_seal *s,
		 struct bt_metainfo **out, char *err, size_t errlen);
/* True when MI looks like a sealed share: one file named
 * BT_SEAL_NAME_PREFIX and 16 hex digits. */
bool bt_seal_is_sealed(const struct bt_metainfo *mi);

/* ---- text: keys, links, the torrent's header copy ---- */

/* The key in TEXT (a key file's content or an argument): 64 hex digits, or
 * a magnet link with BT_SEAL_LINK_PARAM=<64 hex>; surrounding white space
 * is ignored. When the link names an info-hash (xt=urn:btih:<40 hex>), it
 * goes to IH and *HAS_IH is set. Returns 0 or -EINVAL with a reason that
 * never quotes TEXT. */
int bt_seal_key_text(const char *text, size_t len,
		     uint8_t key[BT_SEAL_KEY_LEN], uint8_t ih[20],
		     bool *has_ih, char *err, size_t errlen);
/* The share link: magnet:?xt=urn:btih:<IH>&dn=<NAME>&tr=<T>...&
 * x.p2pfs.key=<KEY hex>, malloc'd (NULL on -ENOMEM). */
char *bt_seal_link(const uint8_t ih[20], const char *name,
		   const char *const *trackers, size_t ntrackers,
		   const uint8_t key[BT_SEAL_KEY_LEN]);
/* The header copy in a whole .torrent BUF: *HDR points into BUF. Returns
 * 0, -ENOENT when the torrent has none, -EINVAL (not a torrent). */
int bt_seal_torrent_header(const uint8_t *buf, size_t len,
			   const uint8_t **hdr, size_t *hdr_len);

#endif
