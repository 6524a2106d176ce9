/* bt_bencode — strict bencode decoder and writer; see bt_bencode.h.
 *
 * The decoder is a recursive descent whose depth is checked before every
 * descent (so the stack is bounded by BT_BENCODE_MAX_DEPTH frames). Strings
 * point into the caller's buffer. It runs twice over the input: a first
 * pass validates everything and counts the list and dictionary items; the
 * second builds the tree into one allocation of exactly that size (the
 * root, then every list's items, then every dictionary's), so a tree costs
 * one malloc and one free however many containers it holds (they were one
 * malloc and a few reallocs each: the cost of a decode, under ASan above
 * all). While the second pass runs, the items of the open containers wait
 * on a stack (a second allocation of the same counts, freed at the end)
 * and move into place when their container closes. The lax decoder (for
 * other clients' datagrams) skips the key-order check and sorts each
 * dictionary once its items are in place, still refusing duplicates. The
 * writer is a growable buffer with a sticky error. */
#include "bt_bencode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dec {
	const uint8_t *start; /* first byte of the input, for offsets */
	const uint8_t *p;     /* next byte to read */
	const uint8_t *end;
	size_t nodes;
	char *err;
	size_t errlen;
	/* the counting pass: items of every list and of every dictionary */
	size_t nlist, ndict;
	/* the build pass (NULL while counting): the pending items of the open
	 * containers, and the next free slots of the tree's block */
	struct bt_bval *vstack;
	struct bt_bkv *kstack;
	size_t nv, nk;
	struct bt_bval *vout;
	struct bt_bkv *kout;
	bool lax; /* dictionary keys in any order (sorted after decoding) */
};

static int dec_fail(struct dec *d, const uint8_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error only: inner failures are the precise ones. */
static int dec_fail(struct dec *d, const uint8_t *at, const char *fmt, ...)
{
	if (d->err && d->errlen && !d->err[0]) {
		char msg[160];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(d->err, d->errlen, "bencode: %s at offset %zu", msg,
			 (size_t)(at - d->start));
	}
	return -EINVAL;
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static size_t dec_left(const struct dec *d)
{
	return (size_t)(d->end - d->p);
}

static int dec_int(struct dec *d, int64_t *out)
{
	const uint8_t *at = d->p;
	bool neg = false;
	uint64_t mag = 0;

	d->p++; /* 'i' */
	if (d->p < d->end && *d->p == '-') {
		neg = true;
		d->p++;
	}
	if (d->p >= d->end)
		return dec_fail(d, at, "truncated integer");
	if (!is_digit(*d->p))
		return dec_fail(d, at, "integer without digits");
	if (*d->p == '0' && d->p + 1 < d->end && is_digit(d->p[1]))
		return dec_fail(d, at, "integer with a leading zero");
	if (*d->p == '0' && neg)
		return dec_fail(d, at, "negative zero integer");

	/* the magnitude of INT64_MIN is one more than INT64_MAX */
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	while (d->p < d->end && is_digit(*d->p)) {
		unsigned digit = (unsigned)(*d->p - '0');
		if (mag > (limit - digit) / 10)
			return dec_fail(d, at,
					"integer does not fit in 64 bits");
		mag = mag * 10 + digit;
		d->p++;
	}
	if (d->p >= d->end)
		return dec_fail(d, at, "truncated integer");
	if (*d->p != 'e')
		return dec_fail(d, d->p, "unexpected byte 0x%02x in integer",
				*d->p);
	d->p++;
	if (!neg)
		*out = (int64_t)mag;
	else if (mag == (uint64_t)INT64_MAX + 1)
		*out = INT64_MIN;
	else
		*out = -(int64_t)mag;
	return 0;
}

static int dec_str(struct dec *d, const uint8_t **s, size_t *len)
{
	const uint8_t *at = d->p;
	size_t n = 0;

	if (*d->p == '0' && d->p + 1 < d->end && is_digit(d->p[1]))
		return dec_fail(d, at, "string length with a leading zero");
	while (d->p < d->end && is_digit(*d->p)) {
		unsigned digit = (unsigned)(*d->p - '0');
		if (n > (SIZE_MAX - digit) / 10)
			return dec_fail(d, at, "string length overflows");
		n = n * 10 + digit;
		d->p++;
	}
	if (d->p >= d->end)
		return dec_fail(d, at, "truncated string length");
	if (*d->p != ':')
		return dec_fail(d, d->p,
				"unexpected byte 0x%02x in string length",
				*d->p);
	d->p++;
	if (n > dec_left(d))
		return dec_fail(d, at,
				"truncated string: length %zu exceeds the %zu "
				"bytes left",
				n, dec_left(d));
	*s = d->p;
	*len = n;
	d->p += n;
	return 0;
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int dec_value(struct dec *d, struct bt_bval *v, unsigned depth);

static int kv_cmp(const void *a, const void *b)
{
	const struct bt_bkv *x = a, *y = b;
	return key_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* Lax mode: sorts a closed dictionary so lookups can bisect it, and still
 * rejects duplicate keys (which would make a lookup ambiguous). Runs in
 * the build pass, once the items are in place. */
static int dict_sort(struct dec *d, struct bt_bval *v)
{
	struct bt_bkv *it = v->dict.items;
	bool sorted = true;
	for (size_t i = 1; i < v->dict.n && sorted; i++)
		sorted = kv_cmp(&it[i - 1], &it[i]) < 0;
	if (sorted)
		return 0;
	qsort(it, v->dict.n, sizeof(*it), kv_cmp);
	for (size_t i = 1; i < v->dict.n; i++)
		if (kv_cmp(&it[i - 1], &it[i]) == 0)
			return dec_fail(d, it[i].key, "duplicate dictionary key");
	return 0;
}

static int dec_list(struct dec *d, struct bt_bval *v, unsigned depth)
{
	size_t base = d->nv;
	int rc;

	v->type = BT_BLIST;
	d->p++; /* 'l' */
	for (;;) {
		if (d->p >= d->end)
			return dec_fail(d, d->p, "truncated list");
		if (*d->p == 'e')
			break;
		struct bt_bval item;
		memset(&item, 0, sizeof(item));
		rc = dec_value(d, &item, depth + 1);
		if (rc)
			return rc;
		if (d->vstack)
			d->vstack[d->nv++] = item;
		else
			d->nlist++;
		v->list.n++;
	}
	d->p++;
	if (d->vstack && v->list.n) {
		/* every item of this list is done: into place, off the stack */
		memcpy(d->vout, d->vstack + base, v->list.n * sizeof(*d->vout));
		v->list.items = d->vout;
		d->vout += v->list.n;
		d->nv = base;
	}
	return 0;
}

static int dec_dict(struct dec *d, struct bt_bval *v, unsigned depth)
{
	size_t base = d->nk;
	const uint8_t *prev = NULL;
	size_t prev_len = 0;
	int rc;

	v->type = BT_BDICT;
	d->p++; /* 'd' */
	for (;;) {
		if (d->p >= d->end)
			return dec_fail(d, d->p, "truncated dictionary");
		if (*d->p == 'e')
			break;
		const uint8_t *kat = d->p;
		if (!is_digit(*d->p))
			return dec_fail(d, kat,
					"dictionary key is not a string");
		struct bt_bkv kv;
		memset(&kv, 0, sizeof(kv));
		rc = dec_str(d, &kv.key, &kv.key_len);
		if (rc)
			return rc;
		if (prev && !d->lax) {
			int c = key_cmp(prev, prev_len, kv.key, kv.key_len);
			if (c == 0)
				return dec_fail(d, kat,
						"duplicate dictionary key");
			if (c > 0)
				return dec_fail(d, kat,
						"dictionary keys out of order");
		}
		prev = kv.key;
		prev_len = kv.key_len;
		if (d->p >= d->end)
			return dec_fail(d, kat,
					"dictionary key without a value");
		rc = dec_value(d, &kv.val, depth + 1);
		if (rc)
			return rc;
		if (d->kstack)
			d->kstack[d->nk++] = kv;
		else
			d->ndict++;
		v->dict.n++;
	}
	d->p++;
	if (d->kstack && v->dict.n) {
		memcpy(d->kout, d->kstack + base, v->dict.n * sizeof(*d->kout));
		v->dict.items = d->kout;
		d->kout += v->dict.n;
		d->nk = base;
		if (d->lax)
			return dict_sort(d, v);
	}
	return 0;
}

/* DEPTH is the number of containers around V. */
static int dec_value(struct dec *d, struct bt_bval *v, unsigned depth)
{
	int rc;

	if (d->p >= d->end)
		return dec_fail(d, d->p, "truncated input");
	if (++d->nodes > BT_BENCODE_MAX_NODES)
		return dec_fail(d, d->p, "more than %u values",
				BT_BENCODE_MAX_NODES);
	v->raw = d->p;
	switch (*d->p) {
	case 'i':
		v->type = BT_BINT;
		rc = dec_int(d, &v->i);
		break;
	case 'l':
	case 'd':
		if (depth + 1 > BT_BENCODE_MAX_DEPTH)
			return dec_fail(d, d->p,
					"nesting deeper than %d levels",
					BT_BENCODE_MAX_DEPTH);
		rc = *d->p == 'l' ? dec_list(d, v, depth)
				  : dec_dict(d, v, depth);
		break;
	default:
		if (!is_digit(*d->p))
			return dec_fail(d, d->p, "unexpected byte 0x%02x",
					*d->p);
		v->type = BT_BSTR;
		rc = dec_str(d, &v->s.p, &v->s.len);
		break;
	}
	if (rc)
		return rc;
	v->raw_len = (size_t)(d->p - v->raw);
	return 0;
}

/* The tree is one block: the root, the lists' items, the dictionaries'. */
void bt_bval_free(struct bt_bval *v)
{
	free(v);
}

/* Both passes over BUF. WHOLE: trailing bytes are an error (checked
 * between them, so such input builds nothing). */
static int decode(const uint8_t *buf, size_t len, bool whole, bool lax,
		  struct bt_bval **out, size_t *used, char *err, size_t errlen)
{
	struct dec d = {.err = err, .errlen = errlen, .lax = lax};
	struct bt_bval root;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!buf || len == 0) {
		/* BUF may be NULL: point offsets at a real empty string */
		d.start = d.p = d.end = (const uint8_t *)"";
		return dec_fail(&d, d.p, "empty input");
	}
	d.start = d.p = buf;
	d.end = buf + len;
	memset(&root, 0, sizeof(root));
	if ((rc = dec_value(&d, &root, 0)))
		return rc;
	size_t n = (size_t)(d.p - buf);
	if (whole && n != len) {
		if (err && errlen)
			snprintf(err, errlen,
				 "bencode: %zu bytes of trailing garbage at "
				 "offset %zu",
				 len - n, n);
		return -EINVAL;
	}

	/* the build pass: the counts are exact, and bounded by the node cap */
	size_t vbytes = (1 + d.nlist) * sizeof(struct bt_bval);
	size_t kbytes = d.ndict * sizeof(struct bt_bkv);
	uint8_t *block = malloc(vbytes + kbytes);
	uint8_t *stack = malloc(vbytes + kbytes);
	if (!block || !stack) {
		free(block);
		free(stack);
		if (err && errlen)
			snprintf(err, errlen, "bencode: out of memory");
		return -ENOMEM;
	}
	/* the dictionaries' items go after the values: keep them aligned */
	_Static_assert(sizeof(struct bt_bval) % _Alignof(struct bt_bkv) == 0,
		       "bt_bkv items after bt_bval items stay aligned");
	struct bt_bval *v = (struct bt_bval *)block;
	memset(v, 0, sizeof(*v));
	d.vout = v + 1;
	d.kout = (struct bt_bkv *)(block + vbytes);
	d.vstack = (struct bt_bval *)stack;
	d.kstack = (struct bt_bkv *)(stack + vbytes);
	d.p = buf;
	d.nodes = 0;
	rc = dec_value(&d, v, 0);
	free(stack);
	if (rc) { /* only lax mode's duplicate keys (found once sorted) */
		free(block);
		return rc;
	}
	if (used)
		*used = n;
	*out = v;
	return 0;
}

int bt_bdecode_prefix(const uint8_t *buf, size_t len, struct bt_bval **out,
		      size_t *used, char *err, size_t errlen)
{
	return decode(buf, len, false, false, out, used, err, errlen);
}

int bt_bdecode(const uint8_t *buf, size_t len, struct bt_bval **out, char *err,
	       size_t errlen)
{
	return decode(buf, len, true, false, out, NULL, err, errlen);
}

int bt_bdecode_lax(const uint8_t *buf, size_t len, struct bt_bval **out,
		   char *err, size_t errlen)
{
	return decode(buf, len, true, true, out, NULL, err, errlen);
}

const struct bt_bval *bt_bdict_get(const struct bt_bval *d, const char *key)
{
	if (!d || d->type != BT_BDICT || !key)
		return NULL;
	size_t klen = strlen(key);
	size_t lo = 0, hi = d->dict.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bt_bkv *kv = &d->dict.items[mid];
		int c = key_cmp(kv->key, kv->key_len, (const uint8_t *)key,
				klen);
		if (c == 0)
			return &kv->val;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct bt_bval *dict_get_type(const struct bt_bval *d,
					   const char *key, enum bt_btype t)
{
	const struct bt_bval *v = bt_bdict_get(d, key);
	return v && v->type == t ? v : NULL;
}

const struct bt_bval *bt_bdict_get_str(const struct bt_bval *d, const char *key)
{
	return dict_get_type(d, key, BT_BSTR);
}

const struct bt_bval *bt_bdict_get_list(const struct bt_bval *d,
					const char *key)
{
	return dict_get_type(d, key, BT_BLIST);
}

const struct bt_bval *bt_bdict_get_dict(const struct bt_bval *d,
					const char *key)
{
	return dict_get_type(d, key, BT_BDICT);
}

int bt_bdict_get_int(const struct bt_bval *d, const char *key, int64_t *out)
{
	const struct bt_bval *v = bt_bdict_get(d, key);
	if (!v)
		return -ENOENT;
	if (v->type != BT_BINT)
		return -EINVAL;
	*out = v->i;
	return 0;
}

/* ---- writer ------------------------------------------------------------ */

void bt_benc_init(struct bt_benc *b)
{
	memset(b, 0, sizeof(*b));
}

void bt_benc_release(struct bt_benc *b)
{
	free(b->buf);
	bt_benc_init(b);
}

static int benc_reserve(struct bt_benc *b, size_t n)
{
	if (b->err)
		return b->err;
	if (n > SIZE_MAX - b->len) {
		b->err = -ENOMEM;
		return b->err;
	}
	size_t need = b->len + n;
	if (need <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	uint8_t *p = realloc(b->buf, ncap);
	if (!p) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->buf = p;
	b->cap = ncap;
	return 0;
}

int bt_benc_raw(struct bt_benc *b, const void *p, size_t len)
{
	int rc = benc_reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->buf + b->len, p, len);
	b->len += len;
	return 0;
}

/* Decimal digits of V ending at END (exclusive); returns where they start.
 * (snprintf was most of the cost of encoding small DHT messages.) */
static char *fmt_u64(uint64_t v, char *end)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

int bt_benc_int(struct bt_benc *b, int64_t v)
{
	char tmp[32], *end = tmp + sizeof(tmp);
	*--end = 'e';
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char *p = fmt_u64(mag, end);
	if (v < 0)
		*--p = '-';
	*--p = 'i';
	return bt_benc_raw(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int bt_benc_str(struct bt_benc *b, const void *s, size_t len)
{
	char tmp[32], *end = tmp + sizeof(tmp);
	*--end = ':';
	char *p = fmt_u64(len, end);
	size_t n = (size_t)(tmp + sizeof(tmp) - p);
	int rc = benc_reserve(b, n + len);
	if (rc)
		return rc;
	bt_benc_raw(b, p, n);
	return bt_benc_raw(b, s, len);
}

int bt_benc_cstr(struct bt_benc *b, const char *s)
{
	return bt_benc_str(b, s, strlen(s));
}

int bt_benc_list_begin(struct bt_benc *b)
{
	return bt_benc_raw(b, "l", 1);
}

int bt_benc_dict_begin(struct bt_benc *b)
{
	return bt_benc_raw(b, "d", 1);
}

int bt_benc_end(struct bt_benc *b)
{
	return bt_benc_raw(b, "e", 1);
}

static int benc_bval(struct bt_benc *b, const struct bt_bval *v, unsigned depth)
{
	switch (v->type) {
	case BT_BINT:
		return bt_benc_int(b, v->i);
	case BT_BSTR:
		return bt_benc_str(b, v->s.p, v->s.len);
	case BT_BLIST:
	case BT_BDICT:
		break;
	default:
		if (!b->err)
			b->err = -EINVAL;
		return b->err;
	}
	if (depth + 1 > BT_BENCODE_MAX_DEPTH) {
		if (!b->err)
			b->err = -EINVAL;
		return b->err;
	}
	if (v->type == BT_BLIST) {
		bt_benc_list_begin(b);
		for (size_t i = 0; i < v->list.n && !b->err; i++)
			benc_bval(b, &v->list.items[i], depth + 1);
	} else {
		bt_benc_dict_begin(b);
		for (size_t i = 0; i < v->dict.n && !b->err; i++) {
			const struct bt_bkv *kv = &v->dict.items[i];
			bt_benc_str(b, kv->key, kv->key_len);
			benc_bval(b, &kv->val, depth + 1);
		}
	}
	return bt_benc_end(b);
}

int bt_benc_bval(struct bt_benc *b, const struct bt_bval *v)
{
	if (b->err)
		return b->err;
	return benc_bval(b, v, 0);
}
