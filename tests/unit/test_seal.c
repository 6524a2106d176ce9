/* Unit tests for bt_seal (and the seed's segments of fs_seal): Padmé; a
 * header read back by an independent decoder written from the format as
 * man/p2pfs-seal.5 states it (key derivation labels, nonces, AAD, field
 * order); build/open round trips; the bytes needed (-EAGAIN) at each step;
 * a wrong key and every single-byte change of the header refused; the
 * plaintext table parser's refusals; determinism; the synthetic metainfo;
 * and, end to end over files on disk, the blob served by the segments
 * decrypted at every range boundary (inside and at pieces, files and
 * padding) to the plaintext, with no plaintext in the ciphertext; key text
 * and share links; the torrent's header copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt_bencode.h"
#include "bt_seal.h"
#include "cache.h"
#include "fs_cli.h"
#include "fs_seal.h"
#include "pfs_cipher.h"
#include "pfs_hash.h"

static uint8_t KEY[32], KEY2[32], SALT[16];

static int setup_keys(void **state)
{
	(void)state;
	for (int i = 0; i < 32; i++) {
		KEY[i] = (uint8_t)(i + 1);
		KEY2[i] = (uint8_t)(0xa0 ^ i);
	}
	for (int i = 0; i < 16; i++)
		SALT[i] = (uint8_t)(0x50 + i);
	return 0;
}

static struct bt_seal *sample(void)
{
	struct bt_seal *s = bt_seal_new("Trip", false);
	assert_non_null(s);
	/* out of order on purpose: build sorts */
	assert_int_equal(bt_seal_add(s, "day2/beach.mkv", 70000, 1700000000, 5,
				     0), 0);
	assert_int_equal(bt_seal_add(s, "a.txt", 1, 1, 0, 0), 0);
	assert_int_equal(bt_seal_add(s, "empty", 0, 2, 0, 0), 0);
	assert_int_equal(bt_seal_add(s, "day1/run.sh", 1234, 3, 999999999,
				     BT_SEAL_MODE_EXEC), 0);
	assert_int_equal(bt_seal_add(s, "day1/photo.jpg", 16384, 4, 0, 0), 0);
	return s;
}

static void test_padme(void **state)
{
	(void)state;
	assert_int_equal(bt_seal_padme(0), 0);
	assert_int_equal(bt_seal_padme(1), 1);
	assert_int_equal(bt_seal_padme(2), 2);
	assert_int_equal(bt_seal_padme(3), 3);
	assert_int_equal(bt_seal_padme(9), 10);     /* E 3, S 2: 2 bits */
	assert_int_equal(bt_seal_padme(1000), 1024); /* E 9, S 4: 5 bits */
	assert_int_equal(bt_seal_padme((1ull << 30) + 1),
			 (1ull << 30) + (1ull << 25));
	uint64_t x = 12345;
	for (int i = 0; i < 20000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t l = (x >> 20) >> (x % 40);
		uint64_t p = bt_seal_padme(l);
		assert_true(p >= l);
		assert_int_equal(bt_seal_padme(p), p); /* a fixed point */
		if (l >= 2)
			assert_true((double)(p - l) <= 0.1163 * (double)l);
		if (l >= (1ull << 30))
			assert_true((double)(p - l) <= 0.0313 * (double)l);
		assert_true(bt_seal_padme(l + 1) >= p); /* monotone */
	}
}

/* ---- an independent reader of the format (man/p2pfs-seal.5) ---- */

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void kdf(const uint8_t *key, const uint8_t *salt, const char *label,
		uint8_t *out, size_t n)
{
	assert_int_equal(pfs_hkdf_sha256(key, 32, salt, 16, label,
					 strlen(label), out, n), 0);
}

static void test_format_by_hand(void **state)
{
	(void)state;
	struct bt_seal *s = sample();
	char err[256];
	assert_int_equal(bt_seal_build(s, KEY, SALT, err, sizeof(err)), 0);
	const uint8_t *h = s->header;
	uint8_t check[16], kh[32], kd[48], nonce[12] = {0}, pre[40];
	assert_memory_equal(h, SALT, 16);
	kdf(KEY, SALT, "p2pfs-seal-v1 check", check, 16);
	assert_memory_equal(h + 16, check, 16);
	kdf(KEY, SALT, "p2pfs-seal-v1 header", kh, 32);
	nonce[11] = 1;
	assert_int_equal(pfs_gcm_open(kh, nonce, h, 32, h + 32, 40, h + 72,
				      pre), 0);
	assert_memory_equal(pre, "P2PFSEAL", 8);
	assert_int_equal(be64(pre + 8) >> 32, 1); /* version */
	uint64_t tlen = be64(pre + 16), data_off = be64(pre + 24);
	assert_int_equal(be64(pre + 32), s->total_length);
	assert_int_equal(data_off, s->data_off);
	assert_int_equal(88 + tlen + 16, s->header_len);
	uint8_t *t = malloc(tlen);
	nonce[11] = 2;
	assert_int_equal(pfs_gcm_open(kh, nonce, h, 88, h + 88, tlen,
				      h + 88 + tlen, t), 0);
	assert_int_equal(t[0], 0); /* a folder */
	assert_int_equal(t[2] << 8 | t[3], 4);
	assert_int_equal(be64(t) & 0xffffffff, 5); /* u32 file count */
	assert_memory_equal(t + 8, "Trip", 4);
	/* the first entry is the first path in byte order: "a.txt" */
	const uint8_t *e = t + 12;
	assert_int_equal(be64(e), data_off); /* offset */
	assert_int_equal(be64(e + 8), 1);    /* length */
	assert_int_equal(be64(e + 16), 1);   /* slot */
	assert_int_equal(be64(e + 24), 1);   /* mtime */
	assert_int_equal(e[40] << 8 | e[41], 5);
	assert_memory_equal(e + 42, "a.txt", 5);
	free(t);
	/* the data keystream */
	kdf(KEY, SALT, "p2pfs-seal-v1 data", kd, 48);
	assert_memory_equal(s->data_key, kd, 32);
	assert_memory_equal(s->data_iv, kd + 32, 16);
	bt_seal_free(s);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct bt_seal *s = sample(), *o = NULL;
	char err[256];
	uint64_t need = 0;
	assert_int_equal(bt_seal_build(s, KEY, SALT, err, sizeof(err)), 0);
	/* layout: sorted, contiguous Padmé slots from data_off */
	const char *order[] = {"a.txt", "day1/photo.jpg", "day1/run.sh",
			       "day2/beach.mkv", "empty"};
	uint64_t at = s->data_off;
	assert_true(s->data_off >= BT_SEAL_MIN_DATA_OFF);
	assert_true(s->data_off >= s->header_len);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(s->files[i].path, order[i]);
		assert_int_equal(s->files[i].offset, at);
		assert_int_equal(s->files[i].slot,
				 bt_seal_padme(s->files[i].length));
		at += s->files[i].slot;
	}
	assert_int_equal(s->total_length, bt_seal_padme(at));

	/* the bytes needed, step by step */
	assert_int_equal(bt_seal_open(KEY, s->header, 10, s->total_length, &o,
				      &need, err, sizeof(err)), -EAGAIN);
	assert_int_equal(need, BT_SEAL_FIXED_LEN);
	assert_int_equal(bt_seal_open(KEY, s->header, BT_SEAL_FIXED_LEN,
				      s->total_length, &o, &need, err,
				      sizeof(err)), -EAGAIN);
	assert_int_equal(need, s->header_len);
	assert_int_equal(bt_seal_open(KEY, s->header, s->header_len - 1,
				      s->total_length, &o, &need, err,
				      sizeof(err)), -EAGAIN);
	assert_int_equal(need, s->header_len);
	assert_null(o);
	/* the whole region opens too (the padding is ignored) */
	uint8_t *region = malloc(s->data_off);
	assert_int_equal(bt_seal_header_region(s, region), 0);
	assert_memory_equal(region, s->header, s->header_len);
	assert_int_equal(bt_seal_open(KEY, region, s->data_off,
				      s->total_length, &o, &need, err,
				      sizeof(err)), 0);
	assert_string_equal(o->root, "Trip");
	assert_false(o->single);
	assert_int_equal(o->nfiles, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(o->files[i].path, s->files[i].path);
		assert_int_equal(o->files[i].offset, s->files[i].offset);
		assert_int_equal(o->files[i].length, s->files[i].length);
		assert_int_equal(o->files[i].slot, s->files[i].slot);
		assert_int_equal(o->files[i].mtime, s->files[i].mtime);
		assert_int_equal(o->files[i].mtime_nsec, s->files[i].mtime_nsec);
		assert_int_equal(o->files[i].mode, s->files[i].mode);
	}
	assert_int_equal(o->files[2].mode, BT_SEAL_MODE_EXEC);
	assert_memory_equal(o->data_key, s->data_key, 32);
	assert_memory_equal(o->data_iv, s->data_iv, 16);
	assert_memory_equal(o->salt, SALT, 16);
	assert_int_equal(o->header_len, s->header_len);
	bt_seal_free(o);
	/* the torrent's length must be the blob's */
	assert_int_equal(bt_seal_open(KEY, region, s->data_off,
				      s->total_length + 1, &o, &need, err,
				      sizeof(err)), -EBADMSG);
	free(region);
	bt_seal_free(s);
}

static void test_wrong_key_and_tamper(void **state)
{
	(void)state;
	struct bt_seal *s = sample(), *o = NULL;
	char err[256];
	uint64_t need;
	assert_int_equal(bt_seal_build(s, KEY, SALT, err, sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(bt_seal_open(KEY2, s->header, s->header_len,
				      s->total_length, &o, &need, err,
				      sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "wrong key"));
	assert_null(o);
	/* every byte, flipped: an error, never a share */
	uint8_t *h = malloc(s->header_len);
	for (size_t i = 0; i < s->header_len; i++) {
		memcpy(h, s->header, s->header_len);
		h[i] ^= (uint8_t)(1u << (i % 8));
		err[0] = '\0';
		int rc = bt_seal_open(KEY, h, s->header_len, s->total_length,
				      &o, &need, err, sizeof(err));
		assert_null(o);
		if (i < 32) /* salt and check: the key does not match */
			assert_int_equal(rc, -EKEYREJECTED);
		else
			assert_int_equal(rc, -EBADMSG);
		assert_true(err[0]);
		if (i >= 32)
			assert_non_null(strstr(err, "tampered"));
	}
	free(h);
	bt_seal_free(s);
}

static void test_deterministic(void **state)
{
	(void)state;
	struct bt_seal *a = sample(), *b = sample(), *c = sample();
	char err[256];
	uint8_t salt2[16];
	memcpy(salt2, SALT, 16);
	salt2[15] ^= 1;
	assert_int_equal(bt_seal_build(a, KEY, SALT, err, sizeof(err)), 0);
	assert_int_equal(bt_seal_build(b, KEY, SALT, err, sizeof(err)), 0);
	assert_int_equal(bt_seal_build(c, KEY, salt2, err, sizeof(err)), 0);
	assert_int_equal(a->header_len, b->header_len);
	assert_memory_equal(a->header, b->header, a->header_len);
	uint8_t *ra = malloc(a->data_off), *rb = malloc(b->data_off);
	assert_int_equal(bt_seal_header_region(a, ra), 0);
	assert_int_equal(bt_seal_header_region(b, rb), 0);
	assert_memory_equal(ra, rb, a->data_off);
	/* another salt: other keys, other bytes everywhere past the salt */
	assert_memory_not_equal(a->data_key, c->data_key, 32);
	size_t same = 0;
	for (size_t i = 16; i < a->header_len; i++)
		same += a->header[i] == c->header[i];
	assert_true(same < a->header_len / 16);
	char n1[40], n2[40];
	bt_seal_torrent_name(a, n1, sizeof(n1));
	bt_seal_torrent_name(c, n2, sizeof(n2));
	assert_string_equal(n1, "p2pfs-sealed-5051525354555657");
	free(ra);
	free(rb);
	bt_seal_free(a);
	bt_seal_free(b);
	bt_seal_free(c);
}

static void test_build_refusals(void **state)
{
	(void)state;
	char err[256];
	assert_null(bt_seal_new("a/b", false));
	assert_null(bt_seal_new("..", false));
	assert_null(bt_seal_new("", false));
	struct bt_seal *s = bt_seal_new("r", false);
	assert_int_equal(bt_seal_add(s, "/abs", 1, 0, 0, 0), -EINVAL);
	assert_int_equal(bt_seal_add(s, "a//b", 1, 0, 0, 0), -EINVAL);
	assert_int_equal(bt_seal_add(s, "a/../b", 1, 0, 0, 0), -EINVAL);
	assert_int_equal(bt_seal_add(s, "a", 1, 0, 1000000000, 0), -EINVAL);
	assert_int_equal(bt_seal_add(s, "a", 1, 0, 0, 2), -EINVAL);
	assert_int_equal(bt_seal_add(s, "a", 1, 0, 0, 0), 0);
	assert_int_equal(bt_seal_add(s, "a-x", 1, 0, 0, 0), 0);
	assert_int_equal(bt_seal_add(s, "a/b", 1, 0, 0, 0), 0); /* a is a file */
	assert_int_equal(bt_seal_build(s, KEY, SALT, err, sizeof(err)),
			 -EINVAL);
	bt_seal_free(s);
	s = bt_seal_new("r", false);
	assert_int_equal(bt_seal_add(s, "x", 1, 0, 0, 0), 0);
	assert_int_equal(bt_seal_add(s, "x", 2, 0, 0, 0), 0);
	assert_int_equal(bt_seal_build(s, KEY, SALT, err, sizeof(err)),
			 -EINVAL);
	bt_seal_free(s);
	s = bt_seal_new("f.mkv", true);
	assert_int_equal(bt_seal_add(s, "g.mkv", 1, 0, 0, 0), -EINVAL);
	assert_int_equal(bt_seal_add(s, "f.mkv", 1, 0, 0, 0), 0);
	assert_int_equal(bt_seal_add(s, "f.mkv", 1, 0, 0, 0), -EINVAL);
	assert_int_equal(bt_seal_build(s, KEY, SALT, err, sizeof(err)), 0);
	bt_seal_free(s);
}

/* ---- the plaintext table parser ---- */

struct tb {
	uint8_t b[4096];
	size_t n;
};

static void tb_put(struct tb *t, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		t->b[t->n++] = (uint8_t)(v >> (8 * i));
}

static void tb_str(struct tb *t, const char *s)
{
	tb_put(t, strlen(s), 2);
	memcpy(t->b + t->n, s, strlen(s));
	t->n += strlen(s);
}

static void tb_head(struct tb *t, int kind, const char *root, uint32_t n)
{
	t->n = 0;
	tb_put(t, (uint64_t)kind, 1);
	tb_put(t, 0, 1);
	tb_put(t, strlen(root), 2);
	tb_put(t, n, 4);
	memcpy(t->b + t->n, root, strlen(root));
	t->n += strlen(root);
}

static void tb_file(struct tb *t, uint64_t off, uint64_t len, uint64_t slot,
		    uint32_t mode, const char *path)
{
	tb_put(t, off, 8);
	tb_put(t, len, 8);
	tb_put(t, slot, 8);
	tb_put(t, 7, 8);
	tb_put(t, 0, 4);
	tb_put(t, mode, 4);
	tb_str(t, path);
}

static int parse(struct tb *t)
{
	struct bt_seal *s = calloc(1, sizeof(*s));
	char err[256] = "";
	int rc = bt_seal_table_parse(s, t->b, t->n, 4096, 100000, err,
				     sizeof(err));
	if (rc < 0)
		assert_true(err[0] && !strchr(err, '\n'));
	bt_seal_free(s);
	return rc;
}

static void test_table_parser(void **state)
{
	(void)state;
	struct tb t;
	tb_head(&t, 0, "r", 2);
	tb_file(&t, 4096, 10, 10, 0, "a");
	tb_file(&t, 4106, 5, 8, 1, "b/c");
	assert_int_equal(parse(&t), 0);
	/* trailing byte, and every truncation */
	t.b[t.n++] = 0;
	assert_int_equal(parse(&t), -EBADMSG);
	t.n--;
	size_t full = t.n;
	for (size_t n = 0; n < full; n++) {
		t.n = n;
		assert_int_equal(parse(&t), -EBADMSG);
	}
	struct {
		uint64_t o1, l1, s1, o2, l2, s2;
		uint32_t m2;
		const char *p1, *p2;
	} bad[] = {
		{4096, 10, 10, 4100, 5, 8, 0, "a", "b"},   /* overlap */
		{4000, 10, 10, 4106, 5, 8, 0, "a", "b"},   /* in the header */
		{4096, 10, 9, 4106, 5, 8, 0, "a", "b"},    /* slot < length */
		{4096, 10, 10, 99999, 5, 8, 0, "a", "b"},  /* past the blob */
		{4096, 10, 10, 4106, 5, 8, 0, "b", "a"},   /* unsorted */
		{4096, 10, 10, 4106, 5, 8, 0, "a", "a"},   /* twice */
		{4096, 10, 10, 4106, 5, 8, 0, "a", "a/b"}, /* file and folder */
		{4096, 10, 10, 4106, 5, 8, 0, "a", "b/.."},
		{4096, 10, 10, 4106, 5, 8, 0, "a", "b//c"},
		{4096, 10, 10, 4106, 5, 8, 4, "a", "b"},   /* unknown mode */
		{4096, 10, 10, UINT64_MAX - 2, 5, 8, 0, "a", "b"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tb_head(&t, 0, "r", 2);
		tb_file(&t, bad[i].o1, bad[i].l1, bad[i].s1, 0, bad[i].p1);
		tb_file(&t, bad[i].o2, bad[i].l2, bad[i].s2, bad[i].m2,
			bad[i].p2);
		assert_int_equal(parse(&t), -EBADMSG);
	}
	/* single: one file named like the root */
	tb_head(&t, 1, "f", 1);
	tb_file(&t, 4096, 1, 1, 0, "f");
	assert_int_equal(parse(&t), 0);
	tb_head(&t, 1, "f", 1);
	tb_file(&t, 4096, 1, 1, 0, "g");
	assert_int_equal(parse(&t), -EBADMSG);
	tb_head(&t, 2, "f", 0);
	assert_int_equal(parse(&t), -EBADMSG);
	tb_head(&t, 0, "..", 0);
	assert_int_equal(parse(&t), -EBADMSG);
	tb_head(&t, 0, "r", 5000000);
	assert_int_equal(parse(&t), -EBADMSG);
}

/* ---- the view, and the blob end to end ---- */

static void test_view(void **state)
{
	(void)state;
	struct bt_seal *s = sample();
	char err[256];
	assert_int_equal(bt_seal_build(s, KEY, SALT, err, sizeof(err)), 0);
	struct bt_metainfo mi = {0};
	mi.multi_file = false;
	mi.name = "p2pfs-sealed-5051525354555657";
	mi.total_length = s->total_length;
	mi.piece_length = 16384;
	mi.npieces = (uint32_t)((s->total_length + 16383) / 16384);
	mi.piece_hashes = calloc(mi.npieces, 20);
	struct bt_file one = {.path = mi.name, .length = s->total_length};
	mi.files = &one;
	mi.nfiles = 1;
	assert_true(bt_seal_is_sealed(&mi));
	struct bt_metainfo *v = NULL;
	assert_int_equal(bt_seal_view(&mi, s, &v, err, sizeof(err)), 0);
	assert_string_equal(v->name, "Trip");
	assert_true(v->multi_file);
	uint64_t at = 0;
	size_t real = 0;
	for (size_t i = 0; i < v->nfiles; i++) {
		assert_int_equal(v->files[i].offset, at);
		at += v->files[i].length;
		if (!v->files[i].pad)
			assert_string_equal(v->files[i].path,
					    s->files[real++].path);
	}
	assert_int_equal(real, 5);
	assert_int_equal(at, v->total_length);
	assert_true(v->files[0].pad);
	assert_int_equal(v->files[0].length, s->data_off);
	bt_metainfo_free(v);
	mi.total_length++;
	assert_int_equal(bt_seal_view(&mi, s, &v, err, sizeof(err)), -EINVAL);
	one.path = "film.mkv";
	mi.name = "film.mkv";
	assert_false(bt_seal_is_sealed(&mi));
	free(mi.piece_hashes);
	bt_seal_free(s);
}

static char tmpdir[64];

static int rm_one(const char *p, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static void put_file(const char *rel, const uint8_t *data, size_t len)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	for (char *c = p + strlen(tmpdir) + 1; *c; c++)
		if (*c == '/') {
			*c = '\0';
			mkdir(p, 0755);
			*c = '/';
		}
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* The blob a seed serves (fs_seal_segments over cache_open_segments), read
 * as a mount reads it (ciphertext of a blob range, xored with the
 * keystream), gives each file's bytes for every range whose ends are at or
 * next to a piece, file or padding boundary; the padding decrypts to zeros;
 * the ciphertext holds no 16-byte run of any file. */
static void test_blob_ranges(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_seal.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	const char *paths[] = {"a.bin", "d/b.bin", "d/c.bin", "d/e/empty",
			       "z.bin"};
	const size_t lens[] = {20000, 16384, 70001, 0, 3};
	uint8_t *data[5];
	struct bt_seal *s = bt_seal_new("Trip", false);
	uint64_t x = 99;
	for (int i = 0; i < 5; i++) {
		data[i] = malloc(lens[i] + 1);
		for (size_t k = 0; k < lens[i]; k++) {
			x = x * 6364136223846793005ull + 1;
			data[i][k] = (uint8_t)(x >> 56);
		}
		put_file(paths[i], data[i], lens[i]);
		assert_int_equal(bt_seal_add(s, paths[i], lens[i], 0, 0, 0), 0);
	}
	char err[256];
	assert_int_equal(bt_seal_build(s, KEY, SALT, err, sizeof(err)), 0);
	const uint32_t pl = 16384;
	uint32_t np = (uint32_t)((s->total_length + pl - 1) / pl);
	struct bt_metainfo mi = {0};
	struct bt_file one = {.path = "blob", .length = s->total_length};
	mi.name = "blob";
	mi.files = &one;
	mi.nfiles = 1;
	mi.total_length = s->total_length;
	mi.piece_length = pl;
	mi.npieces = np;
	mi.piece_hashes = calloc(np, 20);
	struct bt_metainfo *v = NULL;
	assert_int_equal(bt_seal_view(&mi, s, &v, err, sizeof(err)), 0);
	struct cache_segment *seg;
	size_t nseg;
	assert_int_equal(fs_seal_segments(s, NULL, &seg, &nseg), 0);
	int e;
	struct cache *c = cache_open_segments(tmpdir, seg, nseg, np, pl,
					      s->total_length, s->data_key,
					      s->data_iv, &e);
	assert_non_null(c);
	uint8_t *blob = malloc(s->total_length);
	assert_int_equal(cache_files_pread(c, 0, blob, s->total_length), 0);
	/* the front of the blob is the header, and opens */
	struct bt_seal *o = NULL;
	uint64_t need;
	assert_int_equal(bt_seal_open(KEY, blob, s->data_off, s->total_length,
				      &o, &need, err, sizeof(err)), 0);
	bt_seal_free(o);
	/* the pieces hash and verify like any torrent's */
	for (uint32_t p = 0; p < np; p++) {
		uint64_t n = s->total_length - (uint64_t)p * pl;
		assert_int_equal(pfs_sha1(blob + (uint64_t)p * pl,
					  n < pl ? n : pl, mi.piece_hashes + 20 * p),
				 0);
	}
	assert_int_equal(cache_files_verify(c, mi.piece_hashes, 2, NULL, NULL,
					    0), 0);
	assert_int_equal(cache_count(c), np);
	/* no run of a file's bytes in the ciphertext */
	for (int i = 0; i < 5; i++)
		for (size_t k = 0; k + 16 <= lens[i]; k += 1) {
			assert_null(memmem(blob, s->total_length, data[i] + k,
					   16));
			if (lens[i] > 4096)
				k += 997; /* sampled: the test stays fast */
		}
	/* boundaries: pieces, and each file's start, end and slot end */
	uint64_t cuts[64];
	size_t ncut = 0;
	for (uint64_t b = 0; b <= s->total_length; b += pl)
		cuts[ncut++] = b;
	for (size_t i = 0; i < s->nfiles; i++) {
		cuts[ncut++] = s->files[i].offset;
		cuts[ncut++] = s->files[i].offset + s->files[i].length;
		cuts[ncut++] = s->files[i].offset + s->files[i].slot;
	}
	cuts[ncut++] = s->data_off;
	cuts[ncut++] = s->total_length;
	assert_true(ncut <= 64);
	struct pfs_ctr *ks = pfs_ctr_new(s->data_key, s->data_iv);
	uint8_t *got = malloc(s->total_length);
	size_t checked = 0;
	for (size_t i = 0; i < s->nfiles; i++) {
		const struct bt_seal_file *f = &s->files[i];
		const uint8_t *want = data[i];
		for (size_t ca = 0; ca < ncut; ca++)
			for (int da = -1; da <= 1; da++)
				for (size_t cb = 0; cb < ncut; cb++)
					for (int db = -1; db <= 1; db++) {
		int64_t a = (int64_t)cuts[ca] + da, b = (int64_t)cuts[cb] + db;
		int64_t fa = (int64_t)f->offset;
		int64_t fb = fa + (int64_t)f->slot;
		if (a < fa || b <= a || b > fb)
			continue;
		size_t n = (size_t)(b - a);
		assert_int_equal(cache_files_pread(c, (uint64_t)a, got, n), 0);
		assert_memory_equal(got, blob + a, n);
		assert_int_equal(pfs_ctr_xor(ks, (uint64_t)a, got, got, n), 0);
		for (size_t k = 0; k < n; k++) {
			uint64_t in = (uint64_t)(a - fa) + k;
			uint8_t w = in < f->length ? want[in] : 0;
			assert_int_equal(got[k], w);
		}
		checked++;
					}
	}
	assert_true(checked > 100);
	/* the header's padding decrypts to zeros too */
	assert_int_equal(pfs_ctr_xor(ks, s->header_len, blob + s->header_len,
				     got, s->data_off - s->header_len), 0);
	for (uint64_t k = 0; k < s->data_off - s->header_len; k++)
		assert_int_equal(got[k], 0);
	pfs_ctr_free(ks);
	cache_close(c);
	free(seg);
	free(got);
	free(blob);
	free(mi.piece_hashes);
	bt_metainfo_free(v);
	bt_seal_free(s);
	for (int i = 0; i < 5; i++)
		free(data[i]);
	assert_int_equal(nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ---- text ---- */

static void test_key_text(void **state)
{
	(void)state;
	uint8_t k[32], ih[20], want_ih[20];
	bool has;
	char err[256], hex[65];
	pfs_hex(KEY, 32, hex);
	assert_int_equal(bt_seal_key_text(hex, 64, k, ih, &has, err,
					  sizeof(err)), 0);
	assert_memory_equal(k, KEY, 32);
	assert_false(has);
	char buf[512];
	snprintf(buf, sizeof(buf), "  %s\n\n", hex);
	for (char *p = buf; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(bt_seal_key_text(buf, strlen(buf), k, ih, &has, err,
					  sizeof(err)), 0);
	assert_memory_equal(k, KEY, 32);
	for (int i = 0; i < 20; i++)
		want_ih[i] = (uint8_t)(0x10 + i);
	const char *trk[] = {"http://127.0.0.1:6969/announce", "udp://x:1"};
	char *link = bt_seal_link(want_ih, "p2pfs-sealed-0011223344556677",
				  trk, 2, KEY);
	assert_non_null(link);
	assert_non_null(strstr(link, "tr=http%3A%2F%2F127.0.0.1%3A6969%2F"
				     "announce&tr=udp%3A%2F%2Fx%3A1&"));
	assert_true(!strncmp(link, "magnet:?xt=urn:btih:101112", 26));
	snprintf(buf, sizeof(buf), "%s\n", link);
	memset(k, 0, 32);
	assert_int_equal(bt_seal_key_text(buf, strlen(buf), k, ih, &has, err,
					  sizeof(err)), 0);
	assert_memory_equal(k, KEY, 32);
	assert_true(has);
	assert_memory_equal(ih, want_ih, 20);
	free(link);
	const char *bad[] = {
		"", "abc", "magnet:?xt=urn:btih:1011121314151617181920212223242526272829",
		"magnet:?x.p2pfs.key=00", "magnet:?x.p2pfs.key=" /* short */,
		"magnet:?a=b& x.p2pfs.key=0000000000000000000000000000000000000000000000000000000000000000",
		"magnet:?x.p2pfs.key=000000000000000000000000000000000000000000000000000000000000000g",
		"magnet:?x.p2pfs.key=0000000000000000000000000000000000000000000000000000000000000000&x.p2pfs.key=0000000000000000000000000000000000000000000000000000000000000000",
		"0000000000000000000000000000000000000000000000000000000000000000 0",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(bt_seal_key_text(bad[i], strlen(bad[i]), k, ih,
						  &has, err, sizeof(err)),
				 -EINVAL);
		assert_true(err[0]);
	}
}

static void test_torrent_copy(void **state)
{
	(void)state;
	struct bt_benc b;
	const uint8_t *h;
	size_t n;
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "info");
	bt_benc_dict_begin(&b);
	bt_benc_end(&b);
	bt_benc_cstr(&b, BT_SEAL_TORRENT_KEY);
	bt_benc_str(&b, "\x01\x02\x03", 3);
	bt_benc_end(&b);
	assert_int_equal(bt_seal_torrent_header(b.buf, b.len, &h, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(h, "\x01\x02\x03", 3);
	bt_benc_release(&b);
	assert_int_equal(bt_seal_torrent_header((const uint8_t *)"de", 2, &h,
						&n), -ENOENT);
	assert_int_equal(bt_seal_torrent_header((const uint8_t *)"d", 1, &h,
						&n), -EINVAL);
	assert_int_equal(bt_seal_torrent_header((const uint8_t *)"le", 2, &h,
						&n), -EINVAL);
}

/* The sealed-share options of mount and seed. */
static void test_cli_options(void **state)
{
	(void)state;
	struct fs_cli_mount m;
	struct fs_cli_seed sd;
	char err[128];
	char *a[] = {"mount", "--key-file", "k", "--remember-key",
		     "--header-timeout", "5", "x.torrent", "/mnt", NULL};
	assert_int_equal(fs_cli_parse_mount(8, a, &m, err, sizeof(err)), 0);
	assert_string_equal(m.key_file, "k");
	assert_true(m.remember_key);
	assert_int_equal(m.header_timeout, 5);
	fs_cli_mount_release(&m);
	char *b[] = {"mount", "--header-timeout", "0", "x.torrent", "/mnt",
		     NULL};
	assert_int_equal(fs_cli_parse_mount(5, b, &m, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "header timeout"));
	fs_cli_mount_release(&m);
	char *c[] = {"mount", "x.torrent", "/mnt", NULL};
	assert_int_equal(fs_cli_parse_mount(3, c, &m, err, sizeof(err)), 0);
	assert_null(m.key_file);
	assert_false(m.remember_key);
	assert_int_equal(m.header_timeout, 0);
	fs_cli_mount_release(&m);
	char *d[] = {"seed", "--key-file", "k", "x.torrent", "dir", NULL};
	assert_int_equal(fs_cli_parse_seed(5, d, &sd, err, sizeof(err)), 0);
	assert_string_equal(sd.key_file, "k");
	fs_cli_seed_release(&sd);
}

/* Key files: written 0600 and never replaced unless asked; read back as a
 * link or a bare key; a link for another share is refused. */
static void test_key_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_seal_key.XXXXXX", path[128], hex[65];
	uint8_t k[32];
	struct stat st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	pfs_hex(KEY, 32, hex);
	assert_int_equal(fs_seal_write_key(path, hex, false), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fs_seal_write_key(path, hex, false), -EEXIST);
	assert_int_equal(fs_seal_read_key(path, NULL, "t", k), 0);
	assert_memory_equal(k, KEY, 32);
	uint8_t ih[20] = {1};
	char *link = bt_seal_link(ih, "n", NULL, 0, KEY2);
	assert_int_equal(fs_seal_write_key(path, link, true), 0);
	free(link);
	assert_int_equal(fs_seal_read_key(path, NULL, "t", k), 0);
	assert_memory_equal(k, KEY2, 32);
	struct bt_metainfo mi = {0};
	mi.info_hash[0] = 2; /* another share */
	assert_int_equal(fs_seal_read_key(path, &mi, "t", k), 2);
	mi.info_hash[0] = 1;
	assert_int_equal(fs_seal_read_key(path, &mi, "t", k), 0);
	/* remembered keys */
	assert_int_equal(fs_seal_recall(dir, k), -ENOENT);
	assert_int_equal(fs_seal_remember(dir, KEY), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, FS_SEAL_KEY_NAME);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	memset(k, 0, 32);
	assert_int_equal(fs_seal_recall(dir, k), 0);
	assert_memory_equal(k, KEY, 32);
	unlink(path);
	snprintf(path, sizeof(path), "%s/k", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_padme),
		cmocka_unit_test(test_format_by_hand),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_key_and_tamper),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_build_refusals),
		cmocka_unit_test(test_table_parser),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_blob_ranges),
		cmocka_unit_test(test_key_text),
		cmocka_unit_test(test_torrent_copy),
		cmocka_unit_test(test_cli_options),
		cmocka_unit_test(test_key_files),
	};
	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
