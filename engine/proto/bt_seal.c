/* bt_seal — the sealed-share format: layout, header build and open, the
 * synthetic metainfo, key and link text; see bt_seal.h and
 * man/p2pfs-seal.5.
 *
 * Header (all integers big-endian):
 *   0   16  salt S
 *   16  16  key check C = HKDF(K, S, "p2pfs-seal-v1 check")
 *   32  40  preamble, AES-256-GCM(Kh, nonce 0..01, aad = bytes 0..31):
 *           "P2PFSEAL" | u32 version | u32 flags (0) | u64 table_len |
 *           u64 data_off | u64 blob_len
 *   72  16  its tag
 *   88  T   file table, AES-256-GCM(Kh, nonce 0..02, aad = bytes 0..87)
 *   88+T 16 its tag
 * with Kh = HKDF(K, S, "p2pfs-seal-v1 header") and the keystream key and
 * counter block Kd | IVd = HKDF(K, S, "p2pfs-seal-v1 data", 48 bytes). */
#include "bt_seal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_bencode.h"
#include "pfs_cipher.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define INFO_CHECK "p2pfs-seal-v1 check"
#define INFO_HEADER "p2pfs-seal-v1 header"
#define INFO_DATA "p2pfs-seal-v1 data"
/* kind, reserved, u16 root length, u32 file count */
#define TABLE_HEAD 8u
/* offset, length, slot, mtime, nsec, mode, u16 path length */
#define ENTRY_FIXED (8u + 8u + 8u + 8u + 4u + 4u + 2u)

uint64_t bt_seal_padme(uint64_t len)
{
	if (len < 2)
		return len;
	unsigned e = 63u - (unsigned)__builtin_clzll(len);   /* floor(log2 L) */
	unsigned s = 64u - (unsigned)__builtin_clzll(e);     /* bits of E */
	uint64_t mask = (1ull << (e - s)) - 1;
	if (len > UINT64_MAX - mask)
		return UINT64_MAX;
	return (len + mask) & ~mask;
}

/* ---- byte order ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- names ---- */

/* One clean path component: 1..255 bytes, no '/' or NUL, not "." or "..". */
static bool component_ok(const char *p, size_t n)
{
	if (n == 0 || n > 255 || (n == 1 && p[0] == '.') ||
	    (n == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '/' || p[i] == '\0')
			return false;
	return true;
}

static bool path_ok(const char *p, size_t n)
{
	if (n == 0 || n > BT_SEAL_MAX_PATH)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] == '\0')
			return false;
		if (i == n || p[i] == '/') {
			if (!component_ok(p + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* ---- building ---- */

struct bt_seal *bt_seal_new(const char *root, bool single)
{
	if (!root || !component_ok(root, strlen(root)))
		return NULL;
	struct bt_seal *s = calloc(1, sizeof(*s));
	if (!s || !(s->root = strdup(root))) {
		free(s);
		return NULL;
	}
	s->single = single;
	return s;
}

void bt_seal_free(struct bt_seal *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i].path);
	free(s->files);
	free(s->root);
	free(s->header);
	pfs_wipe(s, sizeof(*s));
	free(s);
}

static int push_file(struct bt_seal *s, char *path, uint64_t length,
		     int64_t mtime, uint32_t nsec, uint32_t mode)
{
	if (s->nfiles == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct bt_seal_file *f = realloc(s->files, ncap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		s->files = f;
		s->cap = ncap;
	}
	s->files[s->nfiles++] = (struct bt_seal_file){
		.path = path, .length = length, .mtime = mtime,
		.mtime_nsec = nsec, .mode = mode};
	return 0;
}

int bt_seal_add(struct bt_seal *s, const char *path, uint64_t length,
		int64_t mtime, uint32_t mtime_nsec, uint32_t mode)
{
	if (!path || !path_ok(path, strlen(path)) ||
	    (s->single && (s->nfiles || strcmp(path, s->root))) ||
	    mtime_nsec >= 1000000000u || (mode & ~BT_SEAL_MODE_EXEC) ||
	    length > (1ull << 62))
		return -EINVAL;
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int rc = push_file(s, copy, length, mtime, mtime_nsec, mode);
	if (rc < 0)
		free(copy);
	return rc;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct bt_seal_file *)a)->path,
		      ((const struct bt_seal_file *)b)->path);
}

/* Sorted, unique, and no file is a folder of another ("a" and "a/b"):
 * returns the index of an offending file, or SIZE_MAX. */
static size_t bad_names(const struct bt_seal *s)
{
	for (size_t i = 0; i < s->nfiles; i++) {
		const char *p = s->files[i].path;
		if (i && strcmp(s->files[i - 1].path, p) >= 0)
			return i;
		/* the first path >= "p/" starts with "p/" if any does */
		size_t n = strlen(p), lo = i + 1, hi = s->nfiles;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const char *q = s->files[mid].path;
			int c = strncmp(q, p, n);
			if (c < 0 || (c == 0 && (unsigned char)q[n] < '/'))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < s->nfiles && !strncmp(s->files[lo].path, p, n) &&
		    s->files[lo].path[n] == '/')
			return i;
	}
	return SIZE_MAX;
}

struct keys {
	uint8_t check[BT_SEAL_CHECK_LEN];
	uint8_t hdr[32];
	uint8_t data[48];
};

static int derive(const uint8_t *key, const uint8_t *salt, struct keys *k)
{
	int rc;
	if ((rc = pfs_hkdf_sha256(key, BT_SEAL_KEY_LEN, salt,
				  BT_SEAL_SALT_LEN, INFO_CHECK,
				  strlen(INFO_CHECK), k->check,
				  sizeof(k->check))) < 0 ||
	    (rc = pfs_hkdf_sha256(key, BT_SEAL_KEY_LEN, salt,
				  BT_SEAL_SALT_LEN, INFO_HEADER,
				  strlen(INFO_HEADER), k->hdr,
				  sizeof(k->hdr))) < 0 ||
	    (rc = pfs_hkdf_sha256(key, BT_SEAL_KEY_LEN, salt,
				  BT_SEAL_SALT_LEN, INFO_DATA,
				  strlen(INFO_DATA), k->data,
				  sizeof(k->data))) < 0)
		return rc;
	return 0;
}

static void nonce_of(uint8_t n[PFS_GCM_NONCE_LEN], uint8_t which)
{
	memset(n, 0, PFS_GCM_NONCE_LEN);
	n[PFS_GCM_NONCE_LEN - 1] = which;
}

/* The table's plaintext size. */
static uint64_t table_size(const struct bt_seal *s)
{
	uint64_t n = TABLE_HEAD + strlen(s->root);
	for (size_t i = 0; i < s->nfiles; i++)
		n += ENTRY_FIXED + strlen(s->files[i].path);
	return n;
}

static void table_write(const struct bt_seal *s, uint8_t *p)
{
	size_t rl = strlen(s->root);
	p[0] = s->single ? 1 : 0;
	p[1] = 0;
	put16(p + 2, (uint16_t)rl);
	put32(p + 4, (uint32_t)s->nfiles);
	p += TABLE_HEAD;
	memcpy(p, s->root, rl);
	p += rl;
	for (size_t i = 0; i < s->nfiles; i++) {
		const struct bt_seal_file *f = &s->files[i];
		size_t pl = strlen(f->path);
		put64(p, f->offset);
		put64(p + 8, f->length);
		put64(p + 16, f->slot);
		put64(p + 24, (uint64_t)f->mtime);
		put32(p + 32, f->mtime_nsec);
		put32(p + 36, f->mode);
		put16(p + 40, (uint16_t)pl);
		memcpy(p + ENTRY_FIXED, f->path, pl);
		p += ENTRY_FIXED + pl;
	}
}

int bt_seal_build(struct bt_seal *s, const uint8_t key[BT_SEAL_KEY_LEN],
		  const uint8_t salt[BT_SEAL_SALT_LEN], char *err,
		  size_t errlen)
{
	struct keys k;
	uint8_t *table = NULL, nonce[PFS_GCM_NONCE_LEN];
	int rc;

	if (s->single && s->nfiles != 1) {
		pfs_errf(err, errlen, "a single-file share needs one file");
		return -EINVAL;
	}
	if (s->nfiles > BT_MAX_FILES) {
		pfs_errf(err, errlen, "%zu files: more than %u", s->nfiles,
			 BT_MAX_FILES);
		return -EINVAL;
	}
	if (s->nfiles > 1)
		qsort(s->files, s->nfiles, sizeof(*s->files), cmp_file);
	size_t bad = bad_names(s);
	if (bad != SIZE_MAX) {
		pfs_errf(err, errlen, "'%s' is twice in the share, or also a "
			 "folder", s->files[bad].path);
		return -EINVAL;
	}
	uint64_t tlen = table_size(s);
	if (tlen > BT_SEAL_MAX_TABLE) {
		pfs_errf(err, errlen, "the file table would take %llu bytes: "
			 "more than %u", (unsigned long long)tlen,
			 BT_SEAL_MAX_TABLE);
		return -EINVAL;
	}
	s->header_len = BT_SEAL_TABLE_OFF + tlen + PFS_GCM_TAG_LEN;
	s->data_off = bt_seal_padme(s->header_len);
	if (s->data_off < BT_SEAL_MIN_DATA_OFF)
		s->data_off = BT_SEAL_MIN_DATA_OFF;
	uint64_t end = s->data_off;
	for (size_t i = 0; i < s->nfiles; i++) {
		struct bt_seal_file *f = &s->files[i];
		f->offset = end;
		f->slot = bt_seal_padme(f->length);
		if (f->slot > (1ull << 62) - end) {
			pfs_errf(err, errlen, "the share is too large");
			return -EINVAL;
		}
		end += f->slot;
	}
	s->total_length = bt_seal_padme(end);
	memcpy(s->salt, salt, BT_SEAL_SALT_LEN);

	free(s->header);
	if (!(s->header = malloc(s->header_len)) ||
	    !(table = malloc(tlen))) {
		rc = -ENOMEM;
		pfs_errf(err, errlen, "out of memory");
		goto out;
	}
	if ((rc = derive(key, salt, &k)) < 0)
		goto crypto;
	uint8_t *h = s->header;
	memcpy(h, salt, BT_SEAL_SALT_LEN);
	memcpy(h + 16, k.check, BT_SEAL_CHECK_LEN);
	uint8_t pre[BT_SEAL_PREAMBLE_LEN];
	memcpy(pre, BT_SEAL_MAGIC, 8);
	put32(pre + 8, BT_SEAL_VERSION);
	put32(pre + 12, 0);
	put64(pre + 16, tlen);
	put64(pre + 24, s->data_off);
	put64(pre + 32, s->total_length);
	nonce_of(nonce, 1);
	if ((rc = pfs_gcm_seal(k.hdr, nonce, h, 32, pre, sizeof(pre), h + 32,
			       h + 32 + BT_SEAL_PREAMBLE_LEN)) < 0)
		goto crypto;
	table_write(s, table);
	nonce_of(nonce, 2);
	if ((rc = pfs_gcm_seal(k.hdr, nonce, h, BT_SEAL_TABLE_OFF, table, tlen,
			       h + BT_SEAL_TABLE_OFF,
			       h + BT_SEAL_TABLE_OFF + tlen)) < 0)
		goto crypto;
	memcpy(s->data_key, k.data, 32);
	memcpy(s->data_iv, k.data + 32, 16);
	rc = 0;
	goto out;
crypto:
	pfs_errf(err, errlen, "encrypting the header failed");
out:
	if (table)
		pfs_wipe(table, tlen);
	free(table);
	pfs_wipe(&k, sizeof(k));
	return rc;
}

int bt_seal_header_region(const struct bt_seal *s, uint8_t *out)
{
	uint64_t pad = s->data_off - s->header_len;
	memcpy(out, s->header, s->header_len);
	memset(out + s->header_len, 0, pad);
	struct pfs_ctr *c = pfs_ctr_new(s->data_key, s->data_iv);
	if (!c)
		return -ENOMEM;
	int rc = pfs_ctr_xor(c, s->header_len, out + s->header_len,
			     out + s->header_len, pad);
	pfs_ctr_free(c);
	return rc;
}

void bt_seal_torrent_name(const struct bt_seal *s, char *out, size_t len)
{
	char hex[17];
	pfs_hex(s->salt, 8, hex);
	snprintf(out, len, "%s%s", BT_SEAL_NAME_PREFIX, hex);
}

/* ---- opening ---- */

/* A bounded reader over the table. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static bool take(struct rd *r, size_t n, const uint8_t **out)
{
	if (r->left < n)
		return false;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

int bt_seal_table_parse(struct bt_seal *s, const uint8_t *buf, size_t len,
			uint64_t data_off, uint64_t blob_len, char *err,
			size_t errlen)
{
	struct rd r = {buf, len};
	const uint8_t *p;
	if (!take(&r, TABLE_HEAD, &p)) {
		pfs_errf(err, errlen, "the file table is truncated");
		return -EBADMSG;
	}
	if (p[0] > 1 || p[1] != 0) {
		pfs_errf(err, errlen, "the file table has an unknown kind");
		return -EBADMSG;
	}
	bool single = p[0] == 1;
	uint16_t rl = get16(p + 2);
	uint32_t n = get32(p + 4);
	if (n > BT_MAX_FILES || (single && n != 1) ||
	    (uint64_t)n * ENTRY_FIXED > r.left) {
		pfs_errf(err, errlen, "the file table has a bad file count");
		return -EBADMSG;
	}
	if (!take(&r, rl, &p) || !component_ok((const char *)p, rl)) {
		pfs_errf(err, errlen, "the file table has a bad root name");
		return -EBADMSG;
	}
	free(s->root);
	if (!(s->root = strndup((const char *)p, rl)))
		return -ENOMEM;
	s->single = single;
	if (!(s->files = calloc(n ? n : 1, sizeof(*s->files))))
		return -ENOMEM;
	s->cap = n ? n : 1;
	uint64_t end = data_off;
	for (uint32_t i = 0; i < n; i++) {
		struct bt_seal_file *f = &s->files[i];
		if (!take(&r, ENTRY_FIXED, &p))
			goto truncated;
		f->offset = get64(p);
		f->length = get64(p + 8);
		f->slot = get64(p + 16);
		f->mtime = (int64_t)get64(p + 24);
		f->mtime_nsec = get32(p + 32);
		f->mode = get32(p + 36);
		uint16_t pl = get16(p + 40);
		if (!take(&r, pl, &p))
			goto truncated;
		if (!path_ok((const char *)p, pl)) {
			pfs_errf(err, errlen, "file %u of the table has a bad "
				 "path", i);
			return -EBADMSG;
		}
		if (!(f->path = strndup((const char *)p, pl)))
			return -ENOMEM;
		s->nfiles++;
		if (f->mtime_nsec >= 1000000000u ||
		    (f->mode & ~BT_SEAL_MODE_EXEC) || f->slot < f->length ||
		    f->offset < end || f->offset > blob_len ||
		    f->slot > blob_len - f->offset) {
			pfs_errf(err, errlen, "file %u of the table lies outside "
				 "the blob or over another", i);
			return -EBADMSG;
		}
		end = f->offset + f->slot;
	}
	if (r.left) {
		pfs_errf(err, errlen, "the file table has %zu bytes too many",
			 r.left);
		return -EBADMSG;
	}
	if (single && strcmp(s->files[0].path, s->root)) {
		pfs_errf(err, errlen, "a single-file table names another file");
		return -EBADMSG;
	}
	size_t bad = bad_names(s);
	if (bad != SIZE_MAX) {
		pfs_errf(err, errlen, "file %zu of the table is out of order, "
			 "twice, or also a folder", bad);
		return -EBADMSG;
	}
	return 0;
truncated:
	pfs_errf(err, errlen, "the file table is truncated");
	return -EBADMSG;
}

int bt_seal_open(const uint8_t key[BT_SEAL_KEY_LEN], const uint8_t *buf,
		 size_t len, uint64_t blob_len, struct bt_seal **out,
		 uint64_t *need, char *err, size_t errlen)
{
	struct keys k;
	struct bt_seal *s = NULL;
	uint8_t pre[BT_SEAL_PREAMBLE_LEN], nonce[PFS_GCM_NONCE_LEN];
	uint8_t *table = NULL;
	uint64_t tlen = 0;
	int rc;

	*out = NULL;
	if (len < BT_SEAL_FIXED_LEN) {
		*need = BT_SEAL_FIXED_LEN;
		return -EAGAIN;
	}
	if ((rc = derive(key, buf, &k)) < 0) {
		pfs_errf(err, errlen, "deriving the keys failed");
		goto out;
	}
	if (!pfs_ct_equal(k.check, buf + 16, BT_SEAL_CHECK_LEN)) {
		rc = -EKEYREJECTED;
		pfs_errf(err, errlen, "wrong key for this sealed share");
		goto out;
	}
	nonce_of(nonce, 1);
	if ((rc = pfs_gcm_open(k.hdr, nonce, buf, 32, buf + 32,
			       BT_SEAL_PREAMBLE_LEN,
			       buf + 32 + BT_SEAL_PREAMBLE_LEN, pre)) < 0) {
		if (rc == -EBADMSG)
			pfs_errf(err, errlen, "the sealed header is damaged or "
				 "was tampered with (its preamble does not "
				 "authenticate)");
		else
			pfs_errf(err, errlen, "decrypting the header failed");
		goto out;
	}
	rc = -EBADMSG;
	if (memcmp(pre, BT_SEAL_MAGIC, 8)) {
		pfs_errf(err, errlen, "the sealed header has no magic");
		goto out;
	}
	if (get32(pre + 8) != BT_SEAL_VERSION || get32(pre + 12) != 0) {
		rc = -EPROTONOSUPPORT;
		pfs_errf(err, errlen, "the share uses sealed format version "
			 "%u (this p2pfs reads version %u)", get32(pre + 8),
			 BT_SEAL_VERSION);
		goto out;
	}
	tlen = get64(pre + 16);
	uint64_t data_off = get64(pre + 24), blen = get64(pre + 32);
	if (tlen < TABLE_HEAD || tlen > BT_SEAL_MAX_TABLE ||
	    data_off < BT_SEAL_TABLE_OFF + tlen + PFS_GCM_TAG_LEN ||
	    data_off > blen) {
		pfs_errf(err, errlen, "the sealed header has a bad layout");
		goto out;
	}
	if (blen != blob_len) {
		pfs_errf(err, errlen, "the sealed header is for a blob of %llu "
			 "bytes, the torrent has %llu",
			 (unsigned long long)blen, (unsigned long long)blob_len);
		goto out;
	}
	uint64_t hlen = BT_SEAL_TABLE_OFF + tlen + PFS_GCM_TAG_LEN;
	if (len < hlen) {
		*need = hlen;
		rc = -EAGAIN;
		goto out;
	}
	rc = -ENOMEM;
	if (!(s = calloc(1, sizeof(*s))) || !(table = malloc(tlen)) ||
	    !(s->header = malloc(hlen))) {
		pfs_errf(err, errlen, "out of memory");
		goto out;
	}
	nonce_of(nonce, 2);
	if ((rc = pfs_gcm_open(k.hdr, nonce, buf, BT_SEAL_TABLE_OFF,
			       buf + BT_SEAL_TABLE_OFF, tlen,
			       buf + BT_SEAL_TABLE_OFF + tlen, table)) < 0) {
		if (rc == -EBADMSG)
			pfs_errf(err, errlen, "the sealed header is damaged or "
				 "was tampered with (its file table does not "
				 "authenticate)");
		else
			pfs_errf(err, errlen, "decrypting the header failed");
		goto out;
	}
	if ((rc = bt_seal_table_parse(s, table, tlen, data_off, blen, err,
				      errlen)) < 0)
		goto out;
	memcpy(s->header, buf, hlen);
	memcpy(s->salt, buf, BT_SEAL_SALT_LEN);
	s->header_len = hlen;
	s->data_off = data_off;
	s->total_length = blen;
	memcpy(s->data_key, k.data, 32);
	memcpy(s->data_iv, k.data + 32, 16);
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (table)
		pfs_wipe(table, tlen);
	free(table);
	bt_seal_free(s);
	pfs_wipe(&k, sizeof(k));
	pfs_wipe(pre, sizeof(pre));
	return rc;
}

/* ---- the synthetic metainfo ---- */

bool bt_seal_is_sealed(const struct bt_metainfo *mi)
{
	size_t pl = strlen(BT_SEAL_NAME_PREFIX);
	if (mi->multi_file || mi->nfiles != 1 || !mi->name ||
	    strncmp(mi->name, BT_SEAL_NAME_PREFIX, pl) ||
	    strlen(mi->name) != pl + 16)
		return false;
	for (const char *p = mi->name + pl; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int view_add(struct bt_metainfo *v, size_t *cap, const char *path,
		    uint64_t off, uint64_t len, bool pad)
{
	if (v->nfiles == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct bt_file *f = realloc(v->files, ncap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		v->files = f;
		*cap = ncap;
	}
	char *p;
	if (path)
		p = strdup(path);
	else if (asprintf(&p, ".pad/%zu", v->nfiles) < 0)
		p = NULL;
	if (!p)
		return -ENOMEM;
	v->files[v->nfiles++] =
		(struct bt_file){.path = p, .length = len, .offset = off,
				 .pad = pad};
	return 0;
}

int bt_seal_view(const struct bt_metainfo *mi, const struct bt_seal *s,
		 struct bt_metainfo **out, char *err, size_t errlen)
{
	*out = NULL;
	if (mi->multi_file || mi->total_length != s->total_length) {
		pfs_errf(err, errlen, "the sealed header does not match the "
			 "torrent (one file of %llu bytes)",
			 (unsigned long long)s->total_length);
		return -EINVAL;
	}
	struct bt_metainfo *v = calloc(1, sizeof(*v));
	size_t cap = 0;
	int rc = -ENOMEM;
	if (!v)
		goto out;
	memcpy(v->info_hash, mi->info_hash, sizeof(v->info_hash));
	memcpy(v->info_hash_hex, mi->info_hash_hex, sizeof(v->info_hash_hex));
	v->multi_file = !s->single;
	v->piece_length = mi->piece_length;
	v->npieces = mi->npieces;
	v->total_length = mi->total_length;
	v->private_flag = mi->private_flag;
	v->creation_date = mi->creation_date;
	if (!(v->name = strdup(s->root)) ||
	    !(v->piece_hashes = malloc((size_t)mi->npieces * 20)))
		goto out;
	memcpy(v->piece_hashes, mi->piece_hashes, (size_t)mi->npieces * 20);
	uint64_t at = 0;
	for (size_t i = 0; i < s->nfiles; i++) {
		const struct bt_seal_file *f = &s->files[i];
		if (f->offset > at &&
		    (rc = view_add(v, &cap, NULL, at, f->offset - at, true)) < 0)
			goto out;
		if ((rc = view_add(v, &cap, f->path, f->offset, f->length,
				   false)) < 0)
			goto out;
		at = f->offset + f->length;
	}
	if (at < v->total_length &&
	    (rc = view_add(v, &cap, NULL, at, v->total_length - at, true)) < 0)
		goto out;
	*out = v;
	v = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM)
		pfs_errf(err, errlen, "out of memory");
	bt_metainfo_free(v);
	return rc;
}

/* ---- text ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool all_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f') ||
		      (p[i] >= 'A' && p[i] <= 'F')))
			return false;
	return true;
}

static bool unhex_n(const char *p, size_t n, uint8_t *out)
{
	char buf[129];
	if (n >= sizeof(buf) || !all_hex(p, n))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	bool ok = pfs_unhex(buf, out, n / 2) == 0;
	pfs_wipe(buf, sizeof(buf));
	return ok;
}

int bt_seal_key_text(const char *text, size_t len,
		     uint8_t key[BT_SEAL_KEY_LEN], uint8_t ih[20],
		     bool *has_ih, char *err, size_t errlen)
{
	*has_ih = false;
	while (len && is_space(text[len - 1]))
		len--;
	while (len && is_space(*text))
		text++, len--;
	if (len == 2 * BT_SEAL_KEY_LEN && unhex_n(text, len, key))
		return 0;
	if (len < 8 || strncmp(text, "magnet:?", 8)) {
		pfs_errf(err, errlen, "not a key: want a p2pfs share link "
			 "(magnet:?...&%s=...) or 64 hex digits",
			 BT_SEAL_LINK_PARAM);
		return -EINVAL;
	}
	bool found = false;
	const char *p = text + 8, *end = text + len;
	const size_t kl = strlen(BT_SEAL_LINK_PARAM);
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		size_t n = (size_t)(e - p);
		for (size_t i = 0; i < n; i++)
			if (is_space(p[i])) {
				pfs_errf(err, errlen, "the link has white "
					 "space inside");
				return -EINVAL;
			}
		if (n > kl && !strncmp(p, BT_SEAL_LINK_PARAM, kl) &&
		    p[kl] == '=') {
			if (found || n - kl - 1 != 2 * BT_SEAL_KEY_LEN ||
			    !unhex_n(p + kl + 1, n - kl - 1, key)) {
				pfs_errf(err, errlen, "the link's %s is not "
					 "one key of 64 hex digits",
					 BT_SEAL_LINK_PARAM);
				return -EINVAL;
			}
			found = true;
		} else if (n == 12 + 40 && !strncmp(p, "xt=urn:btih:", 12) &&
			   unhex_n(p + 12, 40, ih)) {
			*has_ih = true;
		}
		p = e + (amp ? 1 : 0);
	}
	if (!found) {
		pfs_errf(err, errlen, "the link carries no key (%s): it is "
			 "not the share link of a sealed share",
			 BT_SEAL_LINK_PARAM);
		return -EINVAL;
	}
	return 0;
}

/* Append S percent-encoded (RFC 3986 unreserved bytes kept) to OUT. */
static void url_enc(struct bt_benc *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			bt_benc_raw(out, s, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			bt_benc_raw(out, e, 3);
		}
	}
}

char *bt_seal_link(const uint8_t ih[20], const char *name,
		   const char *const *trackers, size_t ntrackers,
		   const uint8_t key[BT_SEAL_KEY_LEN])
{
	struct bt_benc b; /* as a plain growable buffer */
	char hex[2 * BT_SEAL_KEY_LEN + 1];
	bt_benc_init(&b);
	pfs_hex(ih, 20, hex);
	bt_benc_raw(&b, "magnet:?xt=urn:btih:", 20);
	bt_benc_raw(&b, hex, 40);
	if (name) {
		bt_benc_raw(&b, "&dn=", 4);
		url_enc(&b, name);
	}
	for (size_t i = 0; i < ntrackers; i++) {
		bt_benc_raw(&b, "&tr=", 4);
		url_enc(&b, trackers[i]);
	}
	bt_benc_raw(&b, "&" BT_SEAL_LINK_PARAM "=",
		    strlen(BT_SEAL_LINK_PARAM) + 2);
	pfs_hex(key, BT_SEAL_KEY_LEN, hex);
	bt_benc_raw(&b, hex, 2 * BT_SEAL_KEY_LEN);
	pfs_wipe(hex, sizeof(hex));
	bt_benc_raw(&b, "", 1);
	if (b.err) {
		pfs_wipe(b.buf, b.len);
		bt_benc_release(&b);
		return NULL;
	}
	return (char *)b.buf;
}

int bt_seal_torrent_header(const uint8_t *buf, size_t len,
			   const uint8_t **hdr, size_t *hdr_len)
{
	struct bt_bval *top = NULL;
	int rc = bt_bdecode(buf, len, &top, NULL, 0);
	if (rc < 0)
		return rc;
	const struct bt_bval *v = bt_bdict_get_str(top, BT_SEAL_TORRENT_KEY);
	rc = -ENOENT;
	if (top->type != BT_BDICT)
		rc = -EINVAL;
	else if (v) {
		*hdr = v->s.p;
		*hdr_len = v->s.len;
		rc = 0;
	}
	bt_bval_free(top);
	return rc;
}
