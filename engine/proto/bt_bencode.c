/* bt_bencode — strict bencode decoder and writer; see bt_bencode.h.
 *
 * The decoder is a recursive descent whose depth is checked before every
 * descent (so the stack is bounded by BT_BENCODE_MAX_DEPTH frames). Strings
 * point into the caller's buffer; container arrays are allocated as items
 * arrive, grown geometrically but never past what the remaining input could
 * still hold, and trimmed to size when the container closes. The writer is a
 * growable buffer with a sticky error. */
#include "bt_bencode.h"

#include <errno.h>
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
	bool lax; /* dictionary keys in any order (sorted after decoding) */
	char *err;
	size_t errlen;
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

/* Makes room for item N of an array of ELSIZE-byte items. Growth doubles but
 * stops at what the rest of the input could fill (every item costs at least
 * two bytes), so "l" followed by a few bytes cannot reserve much. */
static int dec_grow(struct dec *d, void **items, size_t *cap, size_t n,
		    size_t elsize)
{
	if (n < *cap)
		return 0;
	size_t most = n + dec_left(d) / 2 + 1;
	size_t ncap = *cap ? *cap * 2 : 1;
	if (ncap > most)
		ncap = most;
	if (ncap <= n)
		ncap = n + 1;
	if (ncap > SIZE_MAX / elsize)
		return -ENOMEM;
	void *p = realloc(*items, ncap * elsize);
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = ncap;
	return 0;
}

/* Gives back the growth slack of a closed container; failure is harmless. */
static void dec_trim(void **items, size_t cap, size_t n, size_t elsize)
{
	if (n == 0 || n == cap)
		return;
	void *p = realloc(*items, n * elsize);
	if (p)
		*items = p;
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
 * rejects duplicate keys (which would make a lookup ambiguous). */
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
	size_t cap = 0;
	int rc;

	v->type = BT_BLIST;
	d->p++; /* 'l' */
	for (;;) {
		if (d->p >= d->end)
			return dec_fail(d, d->p, "truncated list");
		if (*d->p == 'e')
			break;
		void *items = v->list.items;
		rc = dec_grow(d, &items, &cap, v->list.n,
			      sizeof(struct bt_bval));
		v->list.items = items;
		if (rc)
			return rc;
		struct bt_bval *item = &v->list.items[v->list.n];
		memset(item, 0, sizeof(*item));
		v->list.n++; /* counted first so a failure frees it */
		rc = dec_value(d, item, depth + 1);
		if (rc)
			return rc;
	}
	d->p++;
	void *items = v->list.items;
	dec_trim(&items, cap, v->list.n, sizeof(struct bt_bval));
	v->list.items = items;
	return 0;
}

static int dec_dict(struct dec *d, struct bt_bval *v, unsigned depth)
{
	size_t cap = 0;
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
		const uint8_t *key;
		size_t key_len;
		rc = dec_str(d, &key, &key_len);
		if (rc)
			return rc;
		if (v->dict.n && !d->lax) {
			const struct bt_bkv *prev =
				&v->dict.items[v->dict.n - 1];
			int c = key_cmp(prev->key, prev->key_len, key, key_len);
			if (c == 0)
				return dec_fail(d, kat,
						"duplicate dictionary key");
			if (c > 0)
				return dec_fail(d, kat,
						"dictionary keys out of order");
		}
		if (d->p >= d->end)
			return dec_fail(d, kat,
					"dictionary key without a value");
		void *items = v->dict.items;
		rc = dec_grow(d, &items, &cap, v->dict.n,
			      sizeof(struct bt_bkv));
		v->dict.items = items;
		if (rc)
			return rc;
		struct bt_bkv *kv = &v->dict.items[v->dict.n];
		memset(kv, 0, sizeof(*kv));
		kv->key = key;
		kv->key_len = key_len;
		v->dict.n++;
		rc = dec_value(d, &kv->val, depth + 1);
		if (rc)
			return rc;
	}
	d->p++;
	void *items = v->dict.items;
	dec_trim(&items, cap, v->dict.n, sizeof(struct bt_bkv));
	v->dict.items = items;
	if (d->lax)
		return dict_sort(d, v);
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

static void bval_release(struct bt_bval *v)
{
	if (v->type == BT_BLIST) {
		for (size_t i = 0; i < v->list.n; i++)
			bval_release(&v->list.items[i]);
		free(v->list.items);
	} else if (v->type == BT_BDICT) {
		for (size_t i = 0; i < v->dict.n; i++)
			bval_release(&v->dict.items[i].val);
		free(v->dict.items);
	}
}

void bt_bval_free(struct bt_bval *v)
{
	if (!v)
		return;
	bval_release(v);
	free(v);
}

static int decode_prefix(const uint8_t *buf, size_t len, struct bt_bval **out,
			 size_t *used, bool lax, char *err, size_t errlen)
{
	struct dec d = {.err = err, .errlen = errlen, .lax = lax};
	struct bt_bval *v = NULL;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!buf || len == 0) {
		/* BUF may be NULL: point offsets at a real empty string */
		d.start = d.p = d.end = (const uint8_t *)"";
		rc = dec_fail(&d, d.p, "empty input");
		goto out;
	}
	d.start = d.p = buf;
	d.end = buf + len;
	v = calloc(1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	rc = dec_value(&d, v, 0);
	if (rc)
		goto out;
	if (used)
		*used = (size_t)(d.p - buf);
	*out = v;
	v = NULL;
out:
	if (rc == -ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "bencode: out of memory");
	bt_bval_free(v);
	return rc;
}

int bt_bdecode_prefix(const uint8_t *buf, size_t len, struct bt_bval **out,
		      size_t *used, char *err, size_t errlen)
{
	return decode_prefix(buf, len, out, used, false, err, errlen);
}

static int decode_all(const uint8_t *buf, size_t len, struct bt_bval **out,
		      bool lax, char *err, size_t errlen)
{
	struct bt_bval *v = NULL;
	size_t used = 0;
	int rc = decode_prefix(buf, len, &v, &used, lax, err, errlen);
	*out = NULL;
	if (rc)
		return rc;
	if (used != len) {
		bt_bval_free(v);
		if (err && errlen)
			snprintf(err, errlen,
				 "bencode: %zu bytes of trailing garbage at "
				 "offset %zu",
				 len - used, used);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int bt_bdecode(const uint8_t *buf, size_t len, struct bt_bval **out, char *err,
	       size_t errlen)
{
	return decode_all(buf, len, out, false, err, errlen);
}

int bt_bdecode_lax(const uint8_t *buf, size_t len, struct bt_bval **out,
		   char *err, size_t errlen)
{
	return decode_all(buf, len, out, true, err, errlen);
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
