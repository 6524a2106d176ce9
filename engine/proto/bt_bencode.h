/* bt_bencode — strict bencode decoder and writer (BEP 3).
 *
 * I/O-free. The decoder builds a tree of bt_bval nodes that point into the
 * caller's buffer (strings are not copied, so the buffer must outlive the
 * tree); every node keeps the raw byte span it was decoded from, so the
 * info-hash is SHA-1 of exactly the bytes of `info`. Strict: no leading zeros
 * or "-0" in integers, integers must fit int64, dictionary keys must be
 * strings in strictly ascending byte order (no duplicates), nesting is bounded
 * by BT_BENCODE_MAX_DEPTH, and trailing bytes after the top value are an
 * error. Any function may be called from any thread on its own objects. */
#ifndef BT_BENCODE_H
#define BT_BENCODE_H

#include <stddef.h>
#include <stdint.h>

/* Containers may nest this deep (the top value is level 1); deeper input is
 * rejected before descending, so the recursive decoder's stack is bounded. */
#define BT_BENCODE_MAX_DEPTH 64
/* At most this many values per decoded tree. Every value costs at least two
 * input bytes and at most one node (40-56 bytes), so a tree is bounded by a
 * small multiple of its input; the cap (8 Mi nodes, under 500 MiB) bounds
 * huge inputs too. */
#define BT_BENCODE_MAX_NODES (1u << 23)

enum bt_btype { BT_BINT, BT_BSTR, BT_BLIST, BT_BDICT };

struct bt_bkv;

struct bt_bval {
	enum bt_btype type;
	const uint8_t *raw; /* span of the encoded value in the input */
	size_t raw_len;
	union {
		int64_t i;
		struct {
			const uint8_t *p;
			size_t len;
		} s;
		struct {
			struct bt_bval *items;
			size_t n;
		} list;
		struct {
			struct bt_bkv *items;
			size_t n;
		} dict;
	};
};

struct bt_bkv {
	const uint8_t *key;
	size_t key_len;
	struct bt_bval val;
};

/* Decode all LEN bytes of BUF. On success *OUT is a tree to free with
 * bt_bval_free(). Returns 0, -EINVAL (malformed, with a one-line reason and
 * the byte offset in ERR when ERR is not NULL) or -ENOMEM. Never aborts on
 * any input. Dictionary items keep their (strictly ascending) input order.
 * The tree is one allocation of exactly its nodes (a first pass over the
 * input counts them), capped at BT_BENCODE_MAX_NODES; malformed input
 * allocates nothing. */
int bt_bdecode(const uint8_t *buf, size_t len, struct bt_bval **out,
	       char *err, size_t errlen);
/* Decode one value from the front of BUF, allowing trailing bytes; the
 * number of bytes used is stored in *USED (for ut_metadata messages). */
int bt_bdecode_prefix(const uint8_t *buf, size_t len, struct bt_bval **out,
		      size_t *used, char *err, size_t errlen);
/* As bt_bdecode(), but dictionary keys may come in any order (duplicates
 * are still an error): for datagrams from other clients (KRPC), which
 * libtorrent and aria2 also accept unsorted. Each dictionary is sorted after
 * decoding, so lookups work; its items' raw spans then no longer follow the
 * input order, and re-encoding gives the canonical (sorted) form. */
int bt_bdecode_lax(const uint8_t *buf, size_t len, struct bt_bval **out,
		   char *err, size_t errlen);
/* Free a tree from bt_bdecode(), bt_bdecode_prefix() or bt_bdecode_lax()
 * (its root only: a subtree is part of the root's block). NULL is a no-op. */
void bt_bval_free(struct bt_bval *v);

/* Dictionary lookup by key (binary search: D must be sorted, as every
 * decoded dict is); NULL when D is NULL, not a dict or the key is absent. */
const struct bt_bval *bt_bdict_get(const struct bt_bval *d, const char *key);
/* Typed lookups: NULL when absent or of another type. */
const struct bt_bval *bt_bdict_get_str(const struct bt_bval *d, const char *key);
const struct bt_bval *bt_bdict_get_list(const struct bt_bval *d, const char *key);
const struct bt_bval *bt_bdict_get_dict(const struct bt_bval *d, const char *key);
/* Stores the integer in *OUT and returns 0, or -ENOENT / -EINVAL. */
int bt_bdict_get_int(const struct bt_bval *d, const char *key, int64_t *out);

/* Writer: a growable byte buffer. Append functions return 0 or -ENOMEM;
 * after a failure the buffer stays failed (err set) and later calls are
 * no-ops, so a caller may check once at the end. The caller writes
 * dictionary keys in sorted order. */
struct bt_benc {
	uint8_t *buf;
	size_t len, cap;
	int err;
};
void bt_benc_init(struct bt_benc *b);
void bt_benc_release(struct bt_benc *b);
int bt_benc_int(struct bt_benc *b, int64_t v);
int bt_benc_str(struct bt_benc *b, const void *s, size_t len);
int bt_benc_cstr(struct bt_benc *b, const char *s);
int bt_benc_list_begin(struct bt_benc *b);
int bt_benc_dict_begin(struct bt_benc *b);
int bt_benc_end(struct bt_benc *b);
/* Append already-encoded bytes (e.g. a raw `info` span). */
int bt_benc_raw(struct bt_benc *b, const void *p, size_t len);
/* Append the canonical encoding of tree V (items in their stored order). For
 * a tree from bt_bdecode() the output equals the decoded input byte for byte.
 * A tree deeper than BT_BENCODE_MAX_DEPTH fails the buffer with -EINVAL. */
int bt_benc_bval(struct bt_benc *b, const struct bt_bval *v);

#endif
