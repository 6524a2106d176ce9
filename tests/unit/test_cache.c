/* Unit tests for cache: persistence across reopen, unverified data never
 * readable, hash mismatches, bounds, the short last piece, cache_has_range
 * edges, damaged maps, crash-safe map writes, default root, write errors
 * (EFBIG through RLIMIT_FSIZE), a full disk (a small tmpfs: root only),
 * and several threads writing, verifying,
 * querying and flushing at once. Each test works in its own mkdtemp folder
 * under /tmp, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "pfs_cipher.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define PL 16384u
#define NP 10u
#define TOTAL (9ull * PL + 1000) /* last piece 1000 bytes */
#define HEX "0123456789abcdef0123456789abcdef01234567"

struct fx {
	char root[64];
	char path[512];
};

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	strcpy(f->root, "/tmp/p2pfs-cache-XXXXXX");
	if (!mkdtemp(f->root)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	chmod(f->root, 0700);
	nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static uint64_t psize(uint32_t piece, uint32_t pl, uint64_t total)
{
	uint64_t left = total - (uint64_t)piece * pl;
	return left < pl ? left : pl;
}

/* Deterministic contents of a piece, different per piece and SEED. */
static void fill(uint8_t *buf, size_t len, uint32_t piece, uint32_t seed)
{
	uint32_t x = piece * 2654435761u + seed * 40503u + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

static void hash_of(uint32_t piece, uint32_t pl, uint64_t total,
		    uint8_t out[20])
{
	size_t n = (size_t)psize(piece, pl, total);
	uint8_t *b = malloc(n);
	assert_non_null(b);
	fill(b, n, piece, 0);
	assert_int_equal(pfs_sha1(b, n, out), 0);
	free(b);
}

static struct cache *open_geo(struct fx *f, uint32_t np, uint32_t pl,
			      uint64_t total)
{
	int err = 1;
	struct cache *c = cache_open(f->root, HEX, np, pl, total, &err);
	assert_non_null(c);
	assert_int_equal(err, 0);
	assert_int_equal(cache_check(c), 0);
	return c;
}

static struct cache *open_std(struct fx *f)
{
	return open_geo(f, NP, PL, TOTAL);
}

/* Write piece PIECE in uneven blocks, then verify it. */
static void put_piece(struct cache *c, uint32_t piece, uint32_t pl,
		      uint64_t total)
{
	size_t n = (size_t)psize(piece, pl, total);
	uint8_t *b = malloc(n);
	uint8_t h[20];
	assert_non_null(b);
	fill(b, n, piece, 0);
	for (size_t off = 0; off < n;) {
		size_t len = n - off < 5000 ? n - off : 5000;
		assert_int_equal(cache_write(c, piece, (uint32_t)off, b + off,
					     len),
				 0);
		off += len;
	}
	hash_of(piece, pl, total, h);
	assert_int_equal(cache_verify(c, piece, h), 0);
	free(b);
}

static void check_piece(struct cache *c, uint32_t piece, uint32_t pl,
			uint64_t total)
{
	size_t n = (size_t)psize(piece, pl, total);
	uint8_t *want = malloc(n), *got = malloc(n);
	assert_non_null(want);
	assert_non_null(got);
	fill(want, n, piece, 0);
	assert_int_equal(cache_read(c, piece, 0, got, n), 0);
	assert_memory_equal(want, got, n);
	free(want);
	free(got);
}

static const char *store_file(struct fx *f, struct cache *c, const char *name)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", cache_dir(c), name);
	return f->path;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---- the map codec ------------------------------------------------------- */

static void test_map_codec(void **state)
{
	(void)state;
	uint8_t bm[2] = {0xa5, 0x80}, out[2] = {0x11, 0x22};
	size_t n = cache_map_size(9);
	assert_int_equal(n, CACHE_MAP_HEADER_LEN + 2 + 32);
	uint8_t *buf = malloc(n);
	assert_non_null(buf);
	assert_int_equal(cache_map_encode(bm, 9, PL, 8ull * PL + 1, buf, n), 0);
	assert_memory_equal(buf, CACHE_MAP_MAGIC, 8);
	assert_int_equal(cache_map_decode(buf, n, 9, PL, 8ull * PL + 1, out),
			 0);
	assert_memory_equal(out, bm, 2);

	/* too small an output, spare bits in the input */
	assert_int_equal(cache_map_encode(bm, 9, PL, 8ull * PL + 1, buf, n - 1),
			 -EINVAL);
	bm[1] = 0xc0;
	assert_int_equal(cache_map_encode(bm, 9, PL, 8ull * PL + 1, buf, n),
			 -EINVAL);

	/* any other geometry, any flipped bit, any other length: rejected
	 * and OUT untouched */
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(cache_map_decode(buf, n, 10, PL, 8ull * PL + 1, out),
			 -EINVAL);
	assert_int_equal(cache_map_decode(buf, n, 9, PL * 2, 8ull * PL + 1,
					  out),
			 -EINVAL);
	assert_int_equal(cache_map_decode(buf, n, 9, PL, 8ull * PL + 2, out),
			 -EINVAL);
	assert_int_equal(cache_map_decode(buf, n - 1, 9, PL, 8ull * PL + 1,
					  out),
			 -EINVAL);
	assert_int_equal(cache_map_decode(NULL, 0, 9, PL, 8ull * PL + 1, out),
			 -EINVAL);
	for (size_t i = 0; i < n; i++) {
		for (int b = 0; b < 8; b++) {
			buf[i] ^= (uint8_t)(1u << b);
			assert_int_equal(cache_map_decode(buf, n, 9, PL,
							  8ull * PL + 1, out),
					 -EINVAL);
			buf[i] ^= (uint8_t)(1u << b);
		}
	}
	assert_int_equal(out[0], 0x5a);
	assert_int_equal(out[1], 0x5a);

	/* a spare bit with a valid checksum is still refused */
	buf[CACHE_MAP_HEADER_LEN + 1] |= 0x01;
	assert_int_equal(pfs_sha256(buf, CACHE_MAP_HEADER_LEN + 2,
				    buf + CACHE_MAP_HEADER_LEN + 2),
			 0);
	assert_int_equal(cache_map_decode(buf, n, 9, PL, 8ull * PL + 1, out),
			 -EINVAL);
	free(buf);

	/* a multiple of 8 pieces has no spare bits */
	uint8_t full[1] = {0xff}, back[1] = {0};
	uint8_t b8[CACHE_MAP_HEADER_LEN + 1 + 32];
	assert_int_equal(cache_map_size(8), sizeof(b8));
	assert_int_equal(cache_map_encode(full, 8, 1, 8, b8, sizeof(b8)), 0);
	assert_int_equal(cache_map_decode(b8, sizeof(b8), 8, 1, 8, back), 0);
	assert_int_equal(back[0], 0xff);
}

/* ---- open / close -------------------------------------------------------- */

static void test_open_args(void **state)
{
	struct fx *f = *state;
	int err = 0;
	/* bad geometry or names */
	assert_null(cache_open(f->root, HEX, 0, PL, 0, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open(f->root, HEX, NP, 0, TOTAL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open(f->root, HEX, NP, PL, 9ull * PL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open(f->root, HEX, NP, PL, 10ull * PL + 1, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open(f->root, "0123", NP, PL, TOTAL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open(f->root, "../../../../../../../../../etc/x",
			       NP, PL, TOTAL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open(f->root,
			       "0123456789abcdef0123456789abcdef0123456g", NP,
			       PL, TOTAL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open(NULL, HEX, NP, PL, TOTAL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open("", HEX, NP, PL, TOTAL, &err));
	assert_int_equal(err, -EINVAL);
	cache_close(NULL);

	/* root created with parents, 0700, hex lowercased */
	char root[256], want[512];
	snprintf(root, sizeof(root), "%s/a/b/c/", f->root);
	struct cache *c = cache_open(
		root, "0123456789ABCDEF0123456789abcdef01234567", NP, PL, TOTAL,
		&err);
	assert_non_null(c);
	snprintf(want, sizeof(want), "%s/a/b/c/%s", f->root, HEX);
	assert_string_equal(cache_dir(c), want);
	struct stat st;
	snprintf(want, sizeof(want), "%s/a/b", f->root);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(cache_dir(c), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(fstat(cache_fd(c), &st), 0);
	assert_int_equal(st.st_size, TOTAL);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_blocks * 512 < (blkcnt_t)TOTAL); /* sparse */
	int fl = fcntl(cache_fd(c), F_GETFD);
	assert_true(fl & FD_CLOEXEC);
	assert_int_equal(fcntl(cache_fd(c), F_GETFL) & O_ACCMODE, O_RDWR);

	/* one user at a time */
	int level = pfs_log_get_level();
	pfs_log_set_level(PFS_LOG_ERROR);
	assert_null(cache_open(root, HEX, NP, PL, TOTAL, &err));
	assert_int_equal(err, -EBUSY);
	pfs_log_set_level(level);
	cache_close(c);
	c = cache_open(root, HEX, NP, PL, TOTAL, &err);
	assert_non_null(c);
	assert_int_equal(cache_count(c), 0);
	cache_close(c);

	/* a root that is a file */
	snprintf(root, sizeof(root), "%s/file", f->root);
	int fd = open(root, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(cache_open(root, HEX, NP, PL, TOTAL, &err));
	assert_int_equal(err, -ENOTDIR);
	snprintf(root, sizeof(root), "%s/file/sub", f->root);
	assert_null(cache_open(root, HEX, NP, PL, TOTAL, &err));
	assert_int_equal(err, -ENOTDIR);
}

static void test_persistence(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	put_piece(c, 0, PL, TOTAL);
	put_piece(c, 3, PL, TOTAL);
	put_piece(c, NP - 1, PL, TOTAL);
	assert_int_equal(cache_count(c), 3);
	assert_int_equal(cache_bytes_verified(c), 2ull * PL + 1000);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);

	c = open_std(f);
	assert_int_equal(cache_count(c), 3);
	assert_true(cache_has(c, 0) && cache_has(c, 3) && cache_has(c, NP - 1));
	assert_false(cache_has(c, 1));
	assert_false(cache_has(c, NP));
	uint8_t bf[2];
	cache_bitfield(c, bf);
	assert_int_equal(bf[0], 0x90);
	assert_int_equal(bf[1], 0x40);
	check_piece(c, 0, PL, TOTAL);
	check_piece(c, 3, PL, TOTAL);
	check_piece(c, NP - 1, PL, TOTAL);
	assert_int_equal(cache_bytes_verified(c), 2ull * PL + 1000);

	/* a verified piece is never written again */
	uint8_t x = 0;
	assert_int_equal(cache_write(c, 3, 0, &x, 1), -EINVAL);
	check_piece(c, 3, PL, TOTAL);
	assert_int_equal(cache_check(c), 0);
	/* nothing changed: close does not rewrite the map */
	struct stat a, b;
	assert_int_equal(stat(store_file(f, c, "verified"), &a), 0);
	cache_close(c);
	c = open_std(f);
	assert_int_equal(stat(store_file(f, c, "verified"), &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(cache_count(c), 3);
	cache_close(c);
}

static void test_unverified_unreadable(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	uint8_t buf[PL];
	fill(buf, PL, 2, 0);
	assert_int_equal(cache_write(c, 2, 0, buf, PL), 0);
	assert_false(cache_has(c, 2));
	assert_false(cache_has_range(c, 2ull * PL, 1));
	assert_int_equal(cache_read(c, 2, 0, buf, 1), -ENODATA);
	assert_int_equal(cache_read(c, 2, 0, buf, PL), -ENODATA);
	assert_int_equal(cache_read(c, 5, 0, buf, 0), -ENODATA);
	assert_int_equal(cache_count(c), 0);
	assert_int_equal(cache_bytes_verified(c), 0);
	cache_close(c);
	/* nor after a reopen */
	c = open_std(f);
	assert_int_equal(cache_read(c, 2, 0, buf, PL), -ENODATA);
	cache_close(c);
}

static void test_verify_mismatch(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	uint8_t buf[PL], h[20], bad[20];
	fill(buf, PL, 4, 0);
	hash_of(4, PL, TOTAL, h);
	memcpy(bad, h, 20);
	bad[19] ^= 1;

	/* nothing written yet: the hole hashes as zeros */
	assert_int_equal(cache_verify(c, 4, h), -EBADMSG);
	assert_int_equal(cache_write(c, 4, 0, buf, PL - 1), 0);
	assert_int_equal(cache_verify(c, 4, h), -EBADMSG);
	assert_int_equal(cache_write(c, 4, PL - 1, buf + PL - 1, 1), 0);
	assert_int_equal(cache_verify(c, 4, bad), -EBADMSG);
	assert_false(cache_has(c, 4));
	assert_int_equal(cache_count(c), 0);
	assert_int_equal(cache_read(c, 4, 0, buf, 1), -ENODATA);
	assert_int_equal(cache_verify(c, 4, h), 0);
	assert_true(cache_has(c, 4));
	/* again: still fine, counted once */
	assert_int_equal(cache_verify(c, 4, h), 0);
	assert_int_equal(cache_count(c), 1);
	/* a wrong hash for a verified piece does not unverify it */
	assert_int_equal(cache_verify(c, 4, bad), -EBADMSG);
	assert_true(cache_has(c, 4));
	assert_int_equal(cache_verify(c, NP, h), -EINVAL);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

static void test_bounds(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	uint8_t buf[PL + 1];
	memset(buf, 7, sizeof(buf));
	assert_int_equal(cache_write(c, NP, 0, buf, 1), -EINVAL);
	assert_int_equal(cache_write(c, UINT32_MAX, 0, buf, 1), -EINVAL);
	assert_int_equal(cache_write(c, 0, 0, buf, PL + 1), -EINVAL);
	assert_int_equal(cache_write(c, 0, PL, buf, 1), -EINVAL);
	assert_int_equal(cache_write(c, 0, PL + 1, buf, 0), -EINVAL);
	assert_int_equal(cache_write(c, 0, 1, buf, PL), -EINVAL);
	assert_int_equal(cache_write(c, 0, UINT32_MAX, buf, 2), -EINVAL);
	assert_int_equal(cache_write(c, 0, 1, buf, SIZE_MAX), -EINVAL);
	assert_int_equal(cache_write(c, 0, 0, NULL, 1), -EINVAL);
	/* empty writes in bounds are fine */
	assert_int_equal(cache_write(c, 0, PL, buf, 0), 0);
	assert_int_equal(cache_write(c, 0, 0, NULL, 0), 0);
	/* the last piece is 1000 bytes */
	assert_int_equal(cache_write(c, NP - 1, 0, buf, 1001), -EINVAL);
	assert_int_equal(cache_write(c, NP - 1, 999, buf, 2), -EINVAL);
	assert_int_equal(cache_write(c, NP - 1, 1000, buf, 1), -EINVAL);
	assert_int_equal(cache_write(c, NP - 1, 999, buf, 1), 0);

	assert_int_equal(cache_read(c, NP, 0, buf, 1), -EINVAL);
	assert_int_equal(cache_read(c, 0, PL, buf, 1), -EINVAL);
	assert_int_equal(cache_read(c, 0, 1, buf, SIZE_MAX), -EINVAL);
	assert_int_equal(cache_read(c, NP - 1, 0, buf, 1001), -EINVAL);
	assert_int_equal(cache_read(c, 0, 0, NULL, 1), -EINVAL);

	/* nothing outside the torrent was written */
	struct stat st;
	assert_int_equal(fstat(cache_fd(c), &st), 0);
	assert_int_equal(st.st_size, TOTAL);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

static void test_last_short_piece(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	uint8_t buf[1000];
	put_piece(c, NP - 1, PL, TOTAL);
	assert_int_equal(cache_bytes_verified(c), 1000);
	assert_true(cache_has_range(c, TOTAL - 1000, 1000));
	assert_true(cache_has_range(c, TOTAL - 1, 1));
	assert_false(cache_has_range(c, TOTAL - 1, 2));
	assert_false(cache_has_range(c, TOTAL - 1001, 2));
	assert_int_equal(cache_read(c, NP - 1, 500, buf, 500), 0);
	uint8_t want[1000];
	fill(want, 1000, NP - 1, 0);
	assert_memory_equal(buf, want + 500, 500);
	cache_close(c);

	/* a torrent of one piece shorter than the piece length, and one whose
	 * last piece is full */
	c = open_geo(f, 1, PL, 1);
	put_piece(c, 0, PL, 1);
	assert_int_equal(cache_bytes_verified(c), 1);
	assert_true(cache_has_range(c, 0, 1));
	cache_close(c);
	char hex2[] = "1123456789abcdef0123456789abcdef01234567";
	int err;
	c = cache_open(f->root, hex2, 8, 4096, 8 * 4096, &err);
	assert_non_null(c);
	for (uint32_t i = 0; i < 8; i++)
		put_piece(c, i, 4096, 8 * 4096);
	assert_int_equal(cache_bytes_verified(c), 8 * 4096);
	assert_true(cache_has_range(c, 0, 8 * 4096));
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
	c = cache_open(f->root, hex2, 8, 4096, 8 * 4096, &err);
	assert_non_null(c);
	assert_int_equal(cache_count(c), 8);
	uint8_t bf[1];
	cache_bitfield(c, bf);
	assert_int_equal(bf[0], 0xff);
	cache_close(c);
}

static void test_has_range(void **state)
{
	struct fx *f = *state;
	/* 40 pieces of 1000 bytes, the last 1 byte */
	const uint32_t np = 40, pl = 1000;
	const uint64_t total = 39ull * pl + 1;
	struct cache *c = open_geo(f, np, pl, total);
	assert_true(cache_has_range(c, 0, 0));
	assert_true(cache_has_range(c, total, 0));
	assert_true(cache_has_range(c, UINT64_MAX, 0));
	assert_false(cache_has_range(c, 0, 1));
	for (uint32_t i = 0; i < np; i++)
		if (i != 21)
			put_piece(c, i, pl, total);
	assert_true(cache_has_range(c, 0, 21ull * pl));
	assert_false(cache_has_range(c, 0, 21ull * pl + 1));
	assert_true(cache_has_range(c, 22ull * pl, total - 22ull * pl));
	assert_false(cache_has_range(c, 21ull * pl - 1, pl + 2));
	assert_false(cache_has_range(c, 21ull * pl + 999, 1));
	assert_false(cache_has_range(c, 0, total)); /* byte fast path */
	assert_false(cache_has_range(c, 8ull * pl, 16ull * pl));
	assert_true(cache_has_range(c, 0, 16ull * pl));
	assert_true(cache_has_range(c, pl - 1, 2)); /* straddles 0 and 1 */
	/* beyond the end, or wrapping */
	assert_false(cache_has_range(c, total, 1));
	assert_false(cache_has_range(c, total - 1, 2));
	assert_false(cache_has_range(c, 1, UINT64_MAX));
	assert_false(cache_has_range(c, UINT64_MAX, 1));
	assert_false(cache_has_range(c, UINT64_MAX - 1, 5));
	put_piece(c, 21, pl, total);
	assert_true(cache_has_range(c, 0, total));
	assert_true(cache_has_range(c, total - 1, 1));
	assert_false(cache_has_range(c, 0, total + 1));
	assert_int_equal(cache_count(c), np);
	assert_int_equal(cache_bytes_verified(c), total);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

/* ---- damaged maps -------------------------------------------------------- */

enum damage {
	D_TRUNCATE,
	D_EMPTY,
	D_LONGER,
	D_FLIP_BITMAP,
	D_FLIP_SUM,
	D_FLIP_HEADER,
	D_MAGIC,
	D_VERSION,
	D_SPARE,
	D_GARBAGE,
	D_NDAMAGE
};

/* Rewrite the map file at PATH, re-signing where the damage needs a valid
 * checksum to reach the check under test. */
static void damage_map(const char *path, enum damage d)
{
	size_t n = cache_map_size(NP), bl = (NP + 7) / 8;
	uint8_t buf[256];
	assert_true(n <= sizeof(buf));
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, n), (ssize_t)n);
	close(fd);
	bool resign = false;
	switch (d) {
	case D_TRUNCATE:
		n -= 1;
		break;
	case D_EMPTY:
		n = 0;
		break;
	case D_LONGER:
		buf[n++] = 0;
		break;
	case D_FLIP_BITMAP:
		buf[CACHE_MAP_HEADER_LEN] ^= 0x40;
		break;
	case D_FLIP_SUM:
		buf[n - 1] ^= 0x01;
		break;
	case D_FLIP_HEADER:
		buf[15] ^= 0x01; /* npieces */
		break;
	case D_MAGIC:
		buf[0] = 'X';
		resign = true;
		break;
	case D_VERSION:
		buf[11] = 2;
		resign = true;
		break;
	case D_SPARE:
		buf[CACHE_MAP_HEADER_LEN + bl - 1] |= 0x01;
		resign = true;
		break;
	case D_GARBAGE:
		memset(buf, 0xff, n);
		break;
	case D_NDAMAGE:
		break;
	}
	if (resign)
		assert_int_equal(pfs_sha256(buf, CACHE_MAP_HEADER_LEN + bl,
					    buf + CACHE_MAP_HEADER_LEN + bl),
				 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static void test_corrupt_maps(void **state)
{
	struct fx *f = *state;
	int quiet = pfs_log_get_level();
	pfs_log_set_level(PFS_LOG_ERROR); /* the warnings are expected */
	for (int d = 0; d < D_NDAMAGE; d++) {
		struct cache *c = open_std(f);
		put_piece(c, 0, PL, TOTAL);
		put_piece(c, 1, PL, TOTAL);
		cache_close(c);
		/* the map as written is valid */
		c = open_std(f);
		assert_int_equal(cache_count(c), 2);
		const char *map = store_file(f, c, "verified");
		char path[512];
		snprintf(path, sizeof(path), "%s", map);
		cache_close(c);

		damage_map(path, (enum damage)d);
		c = open_std(f);
		assert_int_equal(cache_count(c), 0);
		assert_false(cache_has(c, 0));
		assert_int_equal(cache_check(c), 0);
		uint8_t b;
		assert_int_equal(cache_read(c, 0, 0, &b, 1), -ENODATA);
		/* the damaged map is gone, writes resume */
		assert_false(exists(path));
		uint8_t x = 1;
		assert_int_equal(cache_write(c, 0, 0, &x, 1), 0);
		cache_close(c);
	}

	/* a map that is a folder cannot be replaced: a clear error */
	struct cache *c = open_std(f);
	char path[512];
	snprintf(path, sizeof(path), "%s", store_file(f, c, "verified"));
	cache_close(c);
	assert_int_equal(mkdir(path, 0700), 0);
	int err = 0;
	assert_null(cache_open(f->root, HEX, NP, PL, TOTAL, &err));
	assert_int_equal(err, -EISDIR);
	assert_int_equal(rmdir(path), 0);

	/* the right checksum for another geometry of the same length */
	c = open_geo(f, NP, PL, TOTAL);
	put_piece(c, 0, PL, TOTAL);
	cache_close(c);
	c = open_geo(f, (uint32_t)((TOTAL + 999) / 1000), 1000, TOTAL);
	assert_int_equal(cache_count(c), 0);
	cache_close(c);

	/* the data file was replaced: a map claiming pieces is dropped, and
	 * it stays dropped even though the size is now right again */
	c = open_std(f);
	put_piece(c, 2, PL, TOTAL);
	char data[512];
	snprintf(data, sizeof(data), "%s", store_file(f, c, "data"));
	cache_close(c);
	assert_int_equal(truncate(data, 0), 0);
	c = open_std(f);
	assert_int_equal(cache_count(c), 0);
	cache_close(c);
	c = open_std(f);
	assert_int_equal(cache_count(c), 0);
	cache_close(c);
	c = open_std(f);
	put_piece(c, 2, PL, TOTAL);
	cache_close(c);
	assert_int_equal(unlink(data), 0);
	c = open_std(f);
	assert_int_equal(cache_count(c), 0);
	cache_close(c);
	pfs_log_set_level(quiet);
}

/* ---- crash safety -------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT |
						       O_TRUNC, 0600);
	assert_true(in >= 0 && out >= 0);
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/* True when PATH is a regular file of LEN bytes, every one allocated. */
static bool reserved(const char *path, size_t len)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       (size_t)st.st_size == len && (size_t)st.st_blocks * 512 >= len;
}

static void test_crash_safety(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	char spare[512], old[512], map[512], tmp[512];
	size_t n = cache_map_size(NP);
	snprintf(spare, sizeof(spare), "%s", store_file(f, c, "verified.spare"));
	snprintf(old, sizeof(old), "%s", store_file(f, c, "verified.old.tmp"));
	snprintf(tmp, sizeof(tmp), "%s", store_file(f, c, "verified.tmp"));
	snprintf(map, sizeof(map), "%s", store_file(f, c, "verified"));

	/* no map until something verifies and is flushed, but the room of
	 * the first two map writes is taken at open */
	assert_int_equal(cache_flush(c), 0);
	assert_false(exists(map));
	assert_true(reserved(spare, n));
	assert_true(reserved(old, n));
	put_piece(c, 5, PL, TOTAL);
	assert_false(exists(map));
	assert_int_equal(cache_flush(c), 0);
	assert_true(exists(map));
	/* the reserved blocks moved on: one spare, allocated, is left */
	assert_true(reserved(spare, n));
	assert_false(exists(old));
	struct stat a, b, sp;
	assert_int_equal(stat(map, &a), 0);
	assert_int_equal(a.st_mode & 0777, 0600);
	/* clean: nothing rewritten */
	assert_int_equal(cache_flush(c), 0);
	assert_int_equal(stat(map, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);

	/* a piece verified after the last flush: a crash now (the files
	 * copied as they are, while the cache stays open) loses only it */
	put_piece(c, 6, PL, TOTAL);
	char crash[256], cdir[512], to[600];
	snprintf(crash, sizeof(crash), "%s/crash", f->root);
	snprintf(cdir, sizeof(cdir), "%s/%s", crash, HEX);
	assert_int_equal(mkdir(crash, 0700), 0);
	assert_int_equal(mkdir(cdir, 0700), 0);
	snprintf(to, sizeof(to), "%s/verified", cdir);
	copy_file(map, to);
	snprintf(to, sizeof(to), "%s/data", cdir);
	copy_file(store_file(f, c, "data"), to);
	int err;
	struct cache *cc = cache_open(crash, HEX, NP, PL, TOTAL, &err);
	assert_non_null(cc);
	assert_int_equal(cache_count(cc), 1);
	assert_true(cache_has(cc, 5));
	assert_false(cache_has(cc, 6));
	check_piece(cc, 5, PL, TOTAL);
	cache_close(cc);

	/* the map is only ever replaced by rename: a new inode each time,
	 * and the old map's inode is the next spare */
	assert_int_equal(stat(spare, &sp), 0);
	assert_int_equal(cache_flush(c), 0);
	assert_int_equal(stat(map, &b), 0);
	assert_true(a.st_ino != b.st_ino);
	assert_int_equal(b.st_ino, sp.st_ino);
	assert_int_equal(stat(spare, &sp), 0);
	assert_int_equal(sp.st_ino, a.st_ino);
	assert_true(reserved(spare, n));

	/* a flush that cannot write the spare fails cleanly, keeps the old
	 * map, and is retried by the next flush */
	put_piece(c, 7, PL, TOTAL);
	assert_int_equal(unlink(spare), 0);
	assert_int_equal(mkdir(spare, 0700), 0);
	assert_int_equal(cache_flush(c), -EISDIR);
	assert_int_equal(stat(map, &a), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(rmdir(spare), 0);
	assert_int_equal(cache_flush(c), 0);
	assert_true(reserved(spare, n));
	cache_close(c);

	/* neither a stale spare, nor the old map left by a crash between the
	 * link and its rename, nor an older version's verified.tmp is ever
	 * trusted, even when it is a perfectly valid map claiming more */
	uint8_t all[2] = {0xff, 0xc0}, enc[128];
	assert_int_equal(cache_map_encode(all, NP, PL, TOTAL, enc, n), 0);
	const char *stale[] = {spare, old, tmp};
	for (size_t k = 0; k < 3; k++) {
		int fd = open(stale[k], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, enc, n), (ssize_t)n);
		close(fd);
	}
	c = open_std(f);
	assert_int_equal(cache_count(c), 3);
	assert_false(cache_has(c, 0));
	assert_false(exists(tmp));
	assert_false(exists(old));
	assert_true(reserved(spare, n));
	check_piece(c, 7, PL, TOTAL);
	cache_close(c);

	/* a crash after the link and the rename of the spare: the old map
	 * under its aside name becomes the spare at the next open */
	assert_int_equal(rename(spare, old), 0);
	c = open_std(f);
	assert_int_equal(cache_count(c), 3);
	assert_false(exists(old));
	assert_true(reserved(spare, n));
	cache_close(c);
}

/* ---- default root -------------------------------------------------------- */

static void test_default_root(void **state)
{
	(void)state;
	char out[512], *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *sx = xdg ? strdup(xdg) : NULL, *sh = home ? strdup(home) : NULL;

	setenv("XDG_CACHE_HOME", "/x/y", 1);
	setenv("HOME", "/h", 1);
	assert_int_equal(cache_default_root(out, sizeof(out)), 0);
	assert_string_equal(out, "/x/y/p2pfs");
	assert_int_equal(cache_default_root(out, 11), 0);
	assert_int_equal(cache_default_root(out, 10), -ENAMETOOLONG);
	assert_int_equal(cache_default_root(out, 0), -ENAMETOOLONG);
	/* relative or empty XDG_CACHE_HOME is ignored (XDG spec) */
	setenv("XDG_CACHE_HOME", "rel/dir", 1);
	assert_int_equal(cache_default_root(out, sizeof(out)), 0);
	assert_string_equal(out, "/h/.cache/p2pfs");
	setenv("XDG_CACHE_HOME", "", 1);
	assert_int_equal(cache_default_root(out, sizeof(out)), 0);
	assert_string_equal(out, "/h/.cache/p2pfs");
	unsetenv("XDG_CACHE_HOME");
	assert_int_equal(cache_default_root(out, sizeof(out)), 0);
	assert_string_equal(out, "/h/.cache/p2pfs");
	/* no HOME: the passwd entry */
	unsetenv("HOME");
	struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/') {
		char want[512];
		snprintf(want, sizeof(want), "%s/.cache/p2pfs", pw->pw_dir);
		assert_int_equal(cache_default_root(out, sizeof(out)), 0);
		assert_string_equal(out, want);
	} else {
		assert_int_equal(cache_default_root(out, sizeof(out)),
				 -ENOENT);
	}

	if (sx)
		setenv("XDG_CACHE_HOME", sx, 1);
	if (sh)
		setenv("HOME", sh, 1);
	free(sx);
	free(sh);
}

/* ---- write errors -------------------------------------------------------- */

static void test_write_errors(void **state)
{
	struct fx *f = *state;
	struct rlimit old, lim;
	struct sigaction ign = {.sa_handler = SIG_IGN}, oldsa;
	uint8_t buf[PL];
	fill(buf, PL, 0, 0);
	struct cache *c = open_std(f);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(sigaction(SIGXFSZ, &ign, &oldsa), 0);
	lim = old;
	lim.rlim_cur = 3 * PL + 100; /* inside piece 3 */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	int beyond = cache_write(c, 5, 0, buf, PL);
	int straddle = cache_write(c, 3, 0, buf, PL); /* short, then EFBIG */
	int within = cache_write(c, 1, 0, buf, PL);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(sigaction(SIGXFSZ, &oldsa, NULL), 0);

	assert_int_equal(beyond, -EFBIG);
	assert_int_equal(straddle, -EFBIG);
	assert_int_equal(within, 0);
	/* the piece is simply not there: writing again works */
	uint8_t h[20];
	hash_of(3, PL, TOTAL, h);
	assert_int_equal(cache_verify(c, 3, h), -EBADMSG);
	put_piece(c, 3, PL, TOTAL);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

/* ---- a full disk ---------------------------------------------------------- */

#define FNP 96u
#define FPL 16384u
#define FTOTAL ((uint64_t)FNP * FPL)

/* A full disk must not cost the map: the pieces that verified before the
 * data writes began to fail with ENOSPC are all known to the next open.
 * The disk is a 512 KiB tmpfs mounted for the test (root only: skipped
 * otherwise) holding a 1.5 MiB torrent's store; the map is written once
 * early (so a map exists) and then only after the disk is full. */
static void test_full_disk(void **state)
{
	struct fx *f = *state;
	char root[128];
	snprintf(root, sizeof(root), "%s/tmpfs", f->root);
	assert_int_equal(mkdir(root, 0700), 0);
	if (geteuid() != 0 ||
	    mount("p2pfs-test", root, "tmpfs", 0, "size=512k,mode=0700") < 0) {
		print_message("(no tmpfs to fill: needs root)\n");
		skip();
	}
	int err = 1;
	struct cache *c = cache_open(root, HEX, FNP, FPL, FTOTAL, &err);
	assert_non_null(c);
	uint8_t buf[FPL], h[20];
	uint32_t ok = 0;
	int werr = 0;
	for (uint32_t i = 0; i < FNP; i++) {
		fill(buf, FPL, i, 0);
		if ((werr = cache_write(c, i, 0, buf, FPL)) < 0)
			break;
		hash_of(i, FPL, FTOTAL, h);
		assert_int_equal(cache_verify(c, i, h), 0);
		ok++;
		if (ok == 2)
			assert_int_equal(cache_flush(c), 0);
	}
	assert_int_equal(werr, -ENOSPC);
	assert_true(ok > 2 && ok < FNP);
	assert_int_equal(cache_count(c), ok);
	/* the disk is full (not a byte more of a new piece fits), and yet */
	assert_int_equal(cache_write(c, ok + 1, 0, buf, 1), -ENOSPC);
	assert_int_equal(cache_flush(c), 0);
	cache_close(c);
	c = cache_open(root, HEX, FNP, FPL, FTOTAL, &err);
	assert_non_null(c);
	assert_int_equal(cache_count(c), ok);
	for (uint32_t i = 0; i < ok; i++)
		assert_true(cache_has(c, i));
	/* and it goes on: a later flush on the still full disk works too */
	assert_int_equal(cache_flush(c), 0);
	cache_close(c);
	print_message("(%u pieces verified before the disk was full, all kept)\n",
		      ok);
}

/* teardown of test_full_disk: its tmpfs goes first (also after a failure) */
static int teardown_tmpfs(void **state)
{
	struct fx *f = *state;
	char root[128];
	snprintf(root, sizeof(root), "%s/tmpfs", f->root);
	umount2(root, MNT_DETACH);
	return teardown(state);
}

/* ---- threads ------------------------------------------------------------- */

#define TNP 64u
#define TPL 8192u
#define TTOTAL (63ull * TPL + 17)

struct tctx {
	struct cache *c;
	uint32_t first, step;
	volatile int stop;
	int failures;
};

static void *verifier(void *arg)
{
	struct tctx *t = arg;
	uint8_t buf[TPL], h[20];
	for (uint32_t i = t->first; i < TNP; i += t->step) {
		size_t n = (size_t)psize(i, TPL, TTOTAL);
		fill(buf, n, i, 0);
		pfs_sha1(buf, n, h);
		for (size_t off = 0; off < n; off += 1000) {
			size_t len = n - off < 1000 ? n - off : 1000;
			if (cache_write(t->c, i, (uint32_t)off, buf + off, len))
				t->failures++;
		}
		if (cache_verify(t->c, i, h) != 0)
			t->failures++;
		if (i % 8 == 0 && cache_flush(t->c) != 0)
			t->failures++;
	}
	return NULL;
}

static void *watcher(void *arg)
{
	struct tctx *t = arg;
	uint8_t bf[TNP / 8], buf[64];
	uint32_t last = 0;
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		uint32_t n = cache_count(t->c);
		if (n < last)
			t->failures++;
		last = n;
		cache_bitfield(t->c, bf);
		uint32_t bits = 0;
		for (size_t i = 0; i < sizeof(bf); i++)
			bits += (uint32_t)__builtin_popcount(bf[i]);
		if (bits < n)
			t->failures++;
		for (uint32_t p = 0; p < TNP; p++) {
			/* verified pieces stay verified */
			bool has = cache_has(t->c, p);
			if (has && !cache_has_range(t->c, (uint64_t)p * TPL, 1))
				t->failures++;
			if (has && cache_read(t->c, p, 0, buf, 16) != 0)
				t->failures++;
		}
		if (cache_has_range(t->c, 0, TTOTAL) &&
		    cache_count(t->c) != TNP)
			t->failures++;
		if (cache_check(t->c) != 0)
			t->failures++;
		if (cache_flush(t->c) != 0)
			t->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_geo(f, TNP, TPL, TTOTAL);
	struct tctx v1 = {.c = c, .first = 0, .step = 2};
	struct tctx v2 = {.c = c, .first = 1, .step = 2};
	struct tctx w = {.c = c};
	pthread_t t1, t2, tw;
	assert_int_equal(pthread_create(&tw, NULL, watcher, &w), 0);
	assert_int_equal(pthread_create(&t1, NULL, verifier, &v1), 0);
	assert_int_equal(pthread_create(&t2, NULL, verifier, &v2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(tw, NULL);
	assert_int_equal(v1.failures + v2.failures + w.failures, 0);
	assert_int_equal(cache_count(c), TNP);
	assert_true(cache_has_range(c, 0, TTOTAL));
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
	c = open_geo(f, TNP, TPL, TTOTAL);
	assert_int_equal(cache_count(c), TNP);
	for (uint32_t i = 0; i < TNP; i++)
		check_piece(c, i, TPL, TTOTAL);
	cache_close(c);
}

/* One thread keeps scribbling on a piece and restoring it, pausing in
 * between, while another verifies it: whatever interleaving happens, a piece
 * that ends up verified holds exactly the bytes that were hashed. */
struct race {
	struct cache *c;
	uint32_t piece;
	volatile int go;
	volatile int running; /* set once it has scribbled */
};

static void spin(uint32_t *x, uint32_t max)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	for (volatile uint32_t i = 0, n = *x % max; i < n; i++)
		;
}

static void *scribbler(void *arg)
{
	struct race *r = arg;
	uint8_t good[TPL], bad = 0xee;
	uint32_t x = r->piece + 1;
	fill(good, TPL, r->piece, 0);
	while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
		;
	for (int i = 0; i < 100000; i++) {
		if (cache_write(r->c, r->piece, 100, &bad, 1) != 0)
			break;
		spin(&x, 5000);
		if (cache_write(r->c, r->piece, 100, good + 100, 1) != 0)
			break;
		spin(&x, 20000);
		__atomic_store_n(&r->running, 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&r->running, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_write_verify_race(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_geo(f, TNP, TPL, TTOTAL);
	uint8_t good[TPL], h[20], got[TPL];
	for (uint32_t p = 0; p < TNP - 1; p++) {
		fill(good, TPL, p, 0);
		assert_int_equal(pfs_sha1(good, TPL, h), 0);
		assert_int_equal(cache_write(c, p, 0, good, TPL), 0);
		struct race r = {.c = c, .piece = p};
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, scribbler, &r), 0);
		__atomic_store_n(&r.go, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&r.running, __ATOMIC_ACQUIRE))
			;
		int ret;
		while ((ret = cache_verify(c, p, h)) != 0)
			assert_int_equal(ret, -EBADMSG);
		pthread_join(t, NULL);
		assert_int_equal(cache_read(c, p, 0, got, TPL), 0);
		assert_memory_equal(got, good, TPL);
	}
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

/* Two verifies of one piece at once, racing a scribbler: still exact. */
struct dv {
	struct cache *c;
	uint32_t piece;
	const uint8_t *h;
	int ret;
};

static void *dverify(void *arg)
{
	struct dv *d = arg;
	/* a mismatch is expected while the scribbler is at work; stop once
	 * either thread got the piece verified */
	while ((d->ret = cache_verify(d->c, d->piece, d->h)) == -EBADMSG &&
	       !cache_has(d->c, d->piece))
		;
	return NULL;
}

static void test_double_verify(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_geo(f, TNP, TPL, TTOTAL);
	uint8_t good[TPL], h[20], got[TPL];
	for (uint32_t p = 0; p < TNP - 1; p++) {
		fill(good, TPL, p, 0);
		assert_int_equal(pfs_sha1(good, TPL, h), 0);
		assert_int_equal(cache_write(c, p, 0, good, TPL), 0);
		struct race r = {.c = c, .piece = p};
		struct dv a = {.c = c, .piece = p, .h = h};
		struct dv b = {.c = c, .piece = p, .h = h};
		pthread_t ts, ta, tb;
		assert_int_equal(pthread_create(&ts, NULL, scribbler, &r), 0);
		__atomic_store_n(&r.go, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&r.running, __ATOMIC_ACQUIRE))
			;
		assert_int_equal(pthread_create(&ta, NULL, dverify, &a), 0);
		assert_int_equal(pthread_create(&tb, NULL, dverify, &b), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		pthread_join(ts, NULL);
		assert_true(a.ret == 0 || b.ret == 0);
		assert_true(a.ret == 0 || a.ret == -EBADMSG);
		assert_true(b.ret == 0 || b.ret == -EBADMSG);
		assert_int_equal(cache_count(c), p + 1);
		assert_int_equal(cache_read(c, p, 0, got, TPL), 0);
		assert_memory_equal(got, good, TPL);
	}
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

/* ---- files mode ---------------------------------------------------------- */

/* A torrent laid over real files: STREAM is its byte stream (pad ranges are
 * zeros), HASHES its piece hashes, BASE the folder of the files. */
struct ftor {
	char base[600];
	uint32_t pl, np;
	uint64_t total;
	size_t n;
	struct cache_file files[400];
	char names[400][32];
	uint8_t *stream;
	uint8_t *hashes;
};

static void mkdirs_for(const char *base, const char *rel)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	for (char *s = p + strlen(base) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
}

static void write_whole(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Add file NAME of LEN bytes (a pad file when PAD). */
static void ft_add(struct ftor *t, const char *name, uint64_t len, bool pad)
{
	assert_true(t->n < 400);
	snprintf(t->names[t->n], sizeof(t->names[0]), "%s", name);
	t->files[t->n].path = t->names[t->n];
	t->files[t->n].length = len;
	t->files[t->n].pad = pad;
	t->n++;
	t->total += len;
}

/* Make the stream, the hashes and the files on disk (pad files are not
 * written, as clients do not create them). */
static void ft_make(struct fx *f, struct ftor *t, uint32_t pl)
{
	snprintf(t->base, sizeof(t->base), "%s/data", f->root);
	assert_int_equal(mkdir(t->base, 0755), 0);
	t->pl = pl;
	t->np = (uint32_t)((t->total + pl - 1) / pl);
	t->stream = malloc(t->total);
	t->hashes = malloc(20 * (size_t)t->np);
	assert_non_null(t->stream);
	assert_non_null(t->hashes);
	fill(t->stream, t->total, 7, 3);
	uint64_t off = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->files[i].pad) {
			memset(t->stream + off, 0, t->files[i].length);
		} else {
			char p[1024];
			mkdirs_for(t->base, t->files[i].path);
			snprintf(p, sizeof(p), "%s/%s", t->base, t->files[i].path);
			write_whole(p, t->stream + off, t->files[i].length);
		}
		off += t->files[i].length;
	}
	for (uint32_t i = 0; i < t->np; i++)
		assert_int_equal(pfs_sha1(t->stream + (uint64_t)i * pl,
					  psize(i, pl, t->total),
					  t->hashes + 20 * (size_t)i),
				 0);
}

static void ft_free(struct ftor *t)
{
	free(t->stream);
	free(t->hashes);
}

static struct cache *ft_open(struct ftor *t)
{
	int err = 1;
	struct cache *c = cache_open_files(t->base, t->files, t->n, t->np,
					   t->pl, t->total, &err);
	assert_non_null(c);
	assert_int_equal(err, 0);
	assert_true(cache_is_files(c));
	assert_int_equal(cache_fd(c), -1);
	assert_string_equal(cache_dir(c), t->base);
	assert_int_equal(cache_check(c), 0);
	return c;
}

struct prog {
	uint64_t last, total;
	unsigned calls;
};

static void prog_cb(void *arg, uint64_t done, uint64_t total)
{
	struct prog *p = arg;
	assert_true(done >= p->last);
	assert_true(done <= total);
	p->last = done;
	p->total = total;
	p->calls++;
}

/* Every byte range of PIECE that the cache may read equals the stream. */
static void ft_check_piece(struct cache *c, struct ftor *t, uint32_t piece)
{
	size_t n = (size_t)psize(piece, t->pl, t->total);
	uint8_t *got = malloc(n);
	assert_non_null(got);
	memset(got, 0xee, n);
	assert_int_equal(cache_read(c, piece, 0, got, n), 0);
	assert_memory_equal(got, t->stream + (uint64_t)piece * t->pl, n);
	/* odd sub-ranges, so reads start and end inside files */
	for (size_t b = 0; b < n; b += 3001) {
		size_t len = n - b < 7777 ? n - b : 7777;
		assert_int_equal(cache_read(c, piece, (uint32_t)b, got, len), 0);
		assert_memory_equal(got, t->stream + (uint64_t)piece * t->pl + b,
				    len);
	}
	free(got);
}

static void test_files_mapping(void **state)
{
	struct fx *f = *state;
	struct ftor t = {0};
	/* files that start and end inside pieces, one spanning several, an
	 * empty one between two others, nested folders */
	ft_add(&t, "a.bin", 100, false);
	ft_add(&t, "d/b.bin", 2 * PL + 7, false);
	ft_add(&t, "empty", 0, false);
	ft_add(&t, "d/e/c.bin", 5000, false);
	ft_add(&t, "d/e/tiny", 1, false);
	ft_add(&t, "z.bin", 3 * PL + 123, false);
	ft_make(f, &t, PL);
	struct cache *c = ft_open(&t);
	assert_int_equal(cache_count(c), 0);
	for (uint32_t i = 0; i < t.np; i++)
		assert_int_equal(cache_read(c, i, 0, t.stream, 1), -ENODATA);

	struct prog pr = {0};
	assert_int_equal(cache_files_verify(c, t.hashes, 2, prog_cb, &pr, 1), 0);
	assert_true(pr.calls >= 1);
	assert_true(pr.last == t.total && pr.total == t.total);
	assert_int_equal(cache_count(c), t.np);
	assert_true(cache_bytes_verified(c) == t.total);
	assert_true(cache_has_range(c, 0, t.total));
	uint8_t bf[8] = {0};
	cache_bitfield(c, bf);
	for (uint32_t i = 0; i < t.np; i++)
		assert_true(bf[i / 8] & (0x80u >> (i % 8)));
	for (uint32_t i = 0; i < t.np; i++)
		ft_check_piece(c, &t, i);
	/* out of bounds is still refused */
	uint8_t b[16];
	assert_int_equal(cache_read(c, t.np, 0, b, 1), -EINVAL);
	assert_int_equal(cache_read(c, t.np - 1,
				    (uint32_t)psize(t.np - 1, PL, t.total), b, 1),
			 -EINVAL);
	/* a second run has nothing left to hash */
	assert_int_equal(cache_files_verify(c, t.hashes, 0, NULL, NULL, 0), 0);
	assert_int_equal(cache_count(c), t.np);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
	ft_free(&t);
}

/* Segments: bytes given in memory, zeros and files, some xored with a
 * CTR keystream at their stream offset (what a sealed seed serves). The
 * store's pieces verify against hashes of the expected stream, and every
 * read (cache_read of verified pieces, cache_files_pread of any range,
 * starting and ending inside and at the segment boundaries) gives exactly
 * the expected bytes. */
static void test_segments(void **state)
{
	struct fx *f = *state;
	const uint64_t lens[] = {1000, 3000, PL + 1, 0, 2 * PL - 5, 77, 1,
				 PL + 333};
	const enum cache_seg_kind kinds[] = {
		CACHE_SEG_BYTES, CACHE_SEG_ZERO, CACHE_SEG_FILE, CACHE_SEG_FILE,
		CACHE_SEG_FILE,	 CACHE_SEG_ZERO, CACHE_SEG_FILE, CACHE_SEG_ZERO};
	const bool enc[] = {false, true, true, true, false, true, true, true};
	enum { N = 8 };
	struct cache_segment seg[N];
	char names[N][32], base[600], path[700];
	uint8_t key[32], iv[16];
	uint64_t total = 0, at[N + 1];
	for (size_t i = 0; i < N; i++)
		total += lens[i];
	uint8_t *plain = malloc(total), *want = malloc(total),
		*got = malloc(total);
	assert_non_null(plain);
	assert_non_null(want);
	assert_non_null(got);
	fill(plain, total, 3, 9);
	memset(key, 0x42, sizeof(key));
	memset(iv, 0x17, sizeof(iv));
	struct pfs_ctr *ks = pfs_ctr_new(key, iv);
	assert_non_null(ks);
	snprintf(base, sizeof(base), "%s/seg", f->root);
	assert_int_equal(mkdir(base, 0755), 0);
	uint64_t off = 0;
	for (size_t i = 0; i < N; i++) {
		at[i] = off;
		snprintf(names[i], sizeof(names[i]), "d%zu/f%zu", i % 2, i);
		seg[i] = (struct cache_segment){.kind = kinds[i],
						.length = lens[i],
						.encrypt = enc[i]};
		if (kinds[i] == CACHE_SEG_ZERO)
			memset(plain + off, 0, lens[i]);
		if (kinds[i] == CACHE_SEG_BYTES)
			seg[i].bytes = plain + off;
		if (kinds[i] == CACHE_SEG_FILE) {
			seg[i].path = names[i];
			mkdirs_for(base, names[i]);
			snprintf(path, sizeof(path), "%s/%s", base, names[i]);
			write_whole(path, plain + off, lens[i]);
		}
		memcpy(want + off, plain + off, lens[i]);
		if (enc[i])
			assert_int_equal(pfs_ctr_xor(ks, off, want + off,
						     want + off, lens[i]), 0);
		off += lens[i];
	}
	at[N] = total;
	uint32_t np = (uint32_t)((total + PL - 1) / PL);
	uint8_t *hashes = malloc(20 * (size_t)np);
	assert_non_null(hashes);
	for (uint32_t i = 0; i < np; i++)
		assert_int_equal(pfs_sha1(want + (uint64_t)i * PL,
					  psize(i, PL, total), hashes + 20 * i),
				 0);
	int err = 1;
	/* an encrypted segment needs a key */
	assert_null(cache_open_segments(base, seg, N, np, PL, total, NULL,
					NULL, &err));
	assert_int_equal(err, -EINVAL);
	struct cache *c = cache_open_segments(base, seg, N, np, PL, total, key,
					      iv, &err);
	assert_non_null(c);
	assert_int_equal(err, 0);
	/* the caller's copy of the bytes segment may go away */
	uint8_t saved = plain[0];
	plain[0] ^= 0xff;
	assert_int_equal(cache_files_verify(c, hashes, 2, NULL, NULL, 0), 0);
	assert_int_equal(cache_count(c), np);
	plain[0] = saved;
	for (uint32_t i = 0; i < np; i++) {
		size_t n = (size_t)psize(i, PL, total);
		assert_int_equal(cache_read(c, i, 0, got, n), 0);
		assert_memory_equal(got, want + (uint64_t)i * PL, n);
	}
	/* ranges from and to every boundary, +-1 */
	for (size_t a = 0; a <= N; a++)
		for (int da = -1; da <= 1; da++)
			for (size_t b = a; b <= N; b++)
				for (int db = -1; db <= 1; db++) {
					int64_t x = (int64_t)at[a] + da;
					int64_t y = (int64_t)at[b] + db;
					if (x < 0 || y <= x || y > (int64_t)total)
						continue;
					size_t n = (size_t)(y - x);
					assert_int_equal(cache_files_pread(
								 c, (uint64_t)x,
								 got, n), 0);
					assert_memory_equal(got, want + x, n);
				}
	assert_int_equal(cache_files_pread(c, total - 1, got, 2), -EINVAL);
	cache_close(c);
	pfs_ctr_free(ks);
	free(hashes);
	free(plain);
	free(want);
	free(got);
}

static void test_files_pad(void **state)
{
	struct fx *f = *state;
	struct ftor t = {0};
	/* BEP 47: each pad file fills up to the next piece boundary */
	ft_add(&t, "a.bin", PL + 10, false);
	ft_add(&t, ".pad/16374", PL - 10, true);
	ft_add(&t, "b.bin", 2 * PL, false);
	ft_add(&t, "c.bin", 300, false);
	ft_add(&t, ".pad/16084", PL - 300, true);
	ft_add(&t, "d.bin", 5, false);
	ft_make(f, &t, PL);
	/* garbage in a pad file on disk is never read: pads are zeros */
	char p[1024];
	snprintf(p, sizeof(p), "%s/.pad", t.base);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/.pad/16374", t.base);
	uint8_t junk[PL];
	memset(junk, 0x5a, sizeof(junk));
	write_whole(p, junk, PL - 10);
	struct cache *c = ft_open(&t);
	assert_int_equal(cache_files_verify(c, t.hashes, 3, NULL, NULL, 0), 0);
	assert_int_equal(cache_count(c), t.np);
	for (uint32_t i = 0; i < t.np; i++)
		ft_check_piece(c, &t, i);
	uint8_t z[PL];
	assert_int_equal(cache_read(c, 1, 10, z, PL - 10), 0);
	for (size_t i = 0; i < PL - 10; i++)
		assert_int_equal(z[i], 0);
	cache_close(c);
	ft_free(&t);
}

static void test_files_missing_short(void **state)
{
	struct fx *f = *state;
	struct ftor t = {0};
	ft_add(&t, "a.bin", PL, false);     /* piece 0 */
	ft_add(&t, "b.bin", PL, false);     /* piece 1: will be missing */
	ft_add(&t, "c.bin", PL + 100, false); /* pieces 2, 3: cut short */
	ft_add(&t, "d.bin", PL - 100, false); /* piece 3 */
	ft_add(&t, "e.bin", PL, false);     /* piece 4: longer on disk */
	ft_add(&t, "f/g.bin", PL, false);   /* piece 5: a folder in its way */
	ft_add(&t, "h.bin", 10, false);     /* piece 6 */
	ft_make(f, &t, PL);
	char p[1024];
	snprintf(p, sizeof(p), "%s/b.bin", t.base);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/c.bin", t.base);
	assert_int_equal(truncate(p, PL + 50), 0);
	snprintf(p, sizeof(p), "%s/e.bin", t.base);
	assert_int_equal(truncate(p, 3 * PL), 0);
	snprintf(p, sizeof(p), "%s/f/g.bin", t.base);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	struct cache *c = ft_open(&t);
	assert_int_equal(cache_files_verify(c, t.hashes, 2, NULL, NULL, 0), 0);
	bool want[] = {true, false, true, false, true, false, true};
	for (uint32_t i = 0; i < t.np; i++)
		assert_int_equal(cache_has(c, i), want[i]);
	assert_int_equal(cache_count(c), 4);
	uint8_t b[PL];
	assert_int_equal(cache_read(c, 1, 0, b, 1), -ENODATA);
	assert_int_equal(cache_read(c, 3, 0, b, 1), -ENODATA);
	ft_check_piece(c, &t, 0);
	ft_check_piece(c, &t, 2);
	ft_check_piece(c, &t, 4);
	ft_check_piece(c, &t, 6);
	/* cut short after it verified: the read fails rather than lie */
	snprintf(p, sizeof(p), "%s/a.bin", t.base);
	assert_int_equal(truncate(p, 100), 0);
	assert_int_equal(cache_read(c, 0, 0, b, 100), 0);
	assert_int_equal(cache_read(c, 0, 0, b, PL), -EIO);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
	ft_free(&t);
}

/* The names and mtimes of everything under DIR, as one string. */
static void snapshot(const char *dir, char *out, size_t len)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd),
		 "find '%s' -printf '%%P %%s %%T@ %%A@\\n' | LC_ALL=C sort", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	pclose(p);
}

static void test_files_readonly(void **state)
{
	struct fx *f = *state;
	struct ftor t = {0};
	ft_add(&t, "a.bin", PL + 3, false);
	ft_add(&t, "b/c.bin", PL, false);
	ft_make(f, &t, PL);
	char p[1024];
	static char before[8192], after[8192];
	/* twice: the first find itself updates the folders' atime */
	snapshot(t.base, before, sizeof(before));
	snapshot(t.base, before, sizeof(before));
	struct cache *c = ft_open(&t);
	uint8_t b[PL];
	memset(b, 1, sizeof(b));
	assert_int_equal(cache_write(c, 0, 0, b, 10), -EROFS);
	assert_int_equal(cache_verify(c, 0, t.hashes), -EROFS);
	assert_int_equal(cache_count(c), 0);
	assert_int_equal(cache_files_verify(c, t.hashes, 1, NULL, NULL, 0), 0);
	assert_int_equal(cache_count(c), t.np);
	assert_int_equal(cache_write(c, 1, 0, b, 10), -EROFS);
	assert_int_equal(cache_flush(c), 0);
	ft_check_piece(c, &t, 1);
	cache_close(c);
	/* nothing created, changed or even marked as read (O_NOATIME) */
	snapshot(t.base, after, sizeof(after));
	assert_string_equal(before, after);

	/* bad arguments */
	int err = 0;
	struct cache_file bad[2] = {{"a.bin", PL + 3, false},
				    {"/etc/passwd", PL, false}};
	assert_null(cache_open_files(t.base, bad, 2, t.np, PL, t.total, &err));
	assert_int_equal(err, -EINVAL);
	bad[1].path = "b/c.bin";
	bad[1].length = PL - 1; /* does not add up */
	assert_null(cache_open_files(t.base, bad, 2, t.np, PL, t.total, &err));
	assert_int_equal(err, -EINVAL);
	bad[1].length = PL;
	assert_null(cache_open_files(t.base, bad, 0, t.np, PL, t.total, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(cache_open_files(t.base, bad, 2, t.np + 1, PL, t.total, &err));
	assert_int_equal(err, -EINVAL);
	snprintf(p, sizeof(p), "%s/nope", t.base);
	assert_null(cache_open_files(p, bad, 2, t.np, PL, t.total, &err));
	assert_int_equal(err, -ENOENT);
	snprintf(p, sizeof(p), "%s/a.bin", t.base);
	assert_null(cache_open_files(p, bad, 2, t.np, PL, t.total, &err));
	assert_int_equal(err, -ENOTDIR);
	/* files_verify wants files mode */
	c = open_std(f);
	assert_false(cache_is_files(c));
	assert_int_equal(cache_files_verify(c, t.hashes, 1, NULL, NULL, 0),
			 -EINVAL);
	cache_close(c);
	ft_free(&t);
}

static void test_files_many(void **state)
{
	struct fx *f = *state;
	struct ftor *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	/* more files than stay open, many per piece */
	for (int i = 0; i < 390; i++) {
		char name[32];
		snprintf(name, sizeof(name), "d%d/f%03d", i % 7, i);
		ft_add(t, name, 97 + (uint64_t)(i % 13) * 11, false);
	}
	ft_make(f, t, 4096);
	struct cache *c = ft_open(t);
	struct prog pr = {0};
	assert_int_equal(cache_files_verify(c, t->hashes, 4, prog_cb, &pr, 1),
			 0);
	assert_int_equal(cache_count(c), t->np);
	assert_true(pr.last == t->total);
	for (uint32_t i = 0; i < t->np; i++) {
		uint8_t b[4096];
		size_t n = (size_t)psize(i, 4096, t->total);
		assert_int_equal(cache_read(c, i, 0, b, n), 0);
		assert_memory_equal(b, t->stream + (uint64_t)i * 4096, n);
	}
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
	ft_free(t);
	free(t);
}

static void test_files_trust(void **state)
{
	struct fx *f = *state;
	struct ftor t = {0};
	ft_add(&t, "a.bin", 3 * PL, false);
	ft_add(&t, "b.bin", PL + 9, false);
	ft_make(f, &t, PL); /* 5 pieces */
	/* piece 0 no longer matches on disk: trusting it is the caller's
	 * call, and verify does not hash a trusted piece again */
	char p[1024];
	snprintf(p, sizeof(p), "%s/a.bin", t.base);
	int fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "junk", 4, 0), 4);
	close(fd);
	struct cache *c = ft_open(&t);
	uint8_t bm[1] = {0xa0}; /* pieces 0 and 2 */
	assert_int_equal(cache_files_trust(c, bm), 0);
	assert_int_equal(cache_count(c), 2);
	assert_true(cache_has(c, 0) && !cache_has(c, 1) && cache_has(c, 2));
	ft_check_piece(c, &t, 2);
	assert_int_equal(cache_files_verify(c, t.hashes, 2, NULL, NULL, 0), 0);
	assert_int_equal(cache_count(c), t.np);
	cache_close(c);
	/* without trust, piece 0 fails */
	c = ft_open(&t);
	assert_int_equal(cache_files_verify(c, t.hashes, 2, NULL, NULL, 0), 0);
	assert_int_equal(cache_count(c), t.np - 1);
	assert_false(cache_has(c, 0));
	bm[0] = 0x01; /* a spare bit: 5 pieces use the top 5 bits */
	assert_int_equal(cache_files_trust(c, bm), -EINVAL);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
	c = open_std(f);
	bm[0] = 0x80;
	assert_int_equal(cache_files_trust(c, bm), -EINVAL);
	assert_int_equal(cache_count(c), 0);
	cache_close(c);
	ft_free(&t);
}

/* ---- eviction ------------------------------------------------------------ */

static void bits(uint8_t *bm, const char *pattern)
{
	for (size_t i = 0; pattern[i]; i++)
		if (pattern[i] == '1')
			bm[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
}

static void test_evict_pick(void **state)
{
	(void)state;
	uint8_t have[2] = {0}, needed[2] = {0};
	uint64_t stamp[10] = {50, 10, 30, 30, 20, 0, 0, 0, 0, 40};
	uint32_t v[10];
	bits(have, "1111100001"); /* pieces 0-4 and 9 */
	bits(needed, "0100000000"); /* 1 is the oldest but pinned */
	struct cache_evict_in in = {
		.npieces = 10, .piece_length = 100, .total_length = 910,
		.have = have, .needed = needed, .stamp = stamp,
		.used = 610, .limit = 0,
	};
	/* no limit, or under it: nothing */
	assert_int_equal(cache_evict_pick(&in, v), 0);
	in.limit = 610;
	assert_int_equal(cache_evict_pick(&in, v), 0);
	/* one byte over: the least recently used unpinned piece, 4 */
	in.limit = 609;
	assert_int_equal(cache_evict_pick(&in, v), 1);
	assert_int_equal(v[0], 4);
	/* 2 and 3 tie on their stamp: the lower piece goes first */
	in.limit = 400;
	assert_int_equal(cache_evict_pick(&in, v), 3);
	assert_int_equal(v[0], 4);
	assert_int_equal(v[1], 2);
	assert_int_equal(v[2], 3);
	/* the short last piece (10 bytes) frees only its own size */
	stamp[9] = 1;
	in.limit = 600;
	assert_int_equal(cache_evict_pick(&in, v), 1);
	assert_int_equal(v[0], 9);
	in.limit = 595;
	assert_int_equal(cache_evict_pick(&in, v), 2);
	assert_int_equal(v[1], 4);
	/* not enough candidates: all of them, pinned 1 never */
	in.limit = 0;
	in.limit = 1;
	assert_int_equal(cache_evict_pick(&in, v), 5);
	for (int i = 0; i < 5; i++)
		assert_int_not_equal(v[i], 1);
	/* nothing verified: nothing */
	memset(have, 0, sizeof(have));
	assert_int_equal(cache_evict_pick(&in, v), 0);
}

static uint64_t disk_bytes(struct fx *f, struct cache *c)
{
	struct stat st;
	assert_int_equal(stat(store_file(f, c, "data"), &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static bool raw_zero(struct cache *c, uint32_t piece)
{
	uint8_t b[PL];
	ssize_t n = pread(cache_fd(c), b, PL, (off_t)piece * PL);
	assert_true(n > 0);
	for (ssize_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The verified map as it is on disk. */
static void disk_map(struct fx *f, struct cache *c, uint8_t *bm)
{
	uint8_t buf[256];
	int fd = open(store_file(f, c, "verified"), O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)cache_map_size(NP));
	assert_int_equal(cache_map_decode(buf, (size_t)n, NP, PL, TOTAL, bm),
			 0);
}

static void test_evict_lru(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	struct cache_usage u;
	uint8_t bm[2];
	assert_int_equal(cache_set_limit(c, 4 * PL), 0);
	for (uint32_t i = 0; i < 4; i++)
		put_piece(c, i, PL, TOTAL);
	assert_int_equal(cache_flush(c), 0);
	disk_map(f, c, bm);
	assert_int_equal(bm[0], 0xf0);
	cache_usage(c, &u);
	assert_int_equal(u.used, 4 * PL);
	assert_int_equal(u.evictions, 0);

	/* the first block of piece 4 makes room: piece 0 goes, durably and
	 * before its bytes; the map on disk only loses piece 0 (piece 4 waits
	 * for a flush, which syncs its data first) */
	put_piece(c, 4, PL, TOTAL);
	assert_false(cache_has(c, 0));
	for (uint32_t i = 1; i <= 4; i++)
		assert_true(cache_has(c, i));
	assert_true(raw_zero(c, 0));
	disk_map(f, c, bm);
	assert_int_equal(bm[0], 0x70);
	assert_int_equal(cache_flush(c), 0);
	disk_map(f, c, bm);
	assert_int_equal(bm[0], 0x78);
	assert_int_equal(cache_read(c, 0, 0, bm, 1), -ENODATA);
	cache_usage(c, &u);
	assert_int_equal(u.used, 4 * PL);
	assert_int_equal(u.evictions, 1);
	assert_int_equal(u.verified, 4);
	assert_true(disk_bytes(f, c) <= 4 * PL);
	assert_int_equal(cache_check(c), 0);

	/* a read is a use: piece 1 is now the most recent, 2 goes next */
	check_piece(c, 1, PL, TOTAL);
	put_piece(c, 5, PL, TOTAL);
	assert_true(cache_has(c, 1));
	assert_false(cache_has(c, 2));

	/* pinned pieces stay, even the oldest */
	cache_pin(c, 3, 3);
	put_piece(c, 6, PL, TOTAL);
	assert_true(cache_has(c, 3));
	assert_false(cache_has(c, 4));
	cache_unpin(c, 3, 3);

	/* an evicted piece comes back like any missing one */
	put_piece(c, 0, PL, TOTAL);
	check_piece(c, 0, PL, TOTAL);
	assert_int_equal(cache_count(c), 4);
	assert_true(disk_bytes(f, c) <= 4 * PL);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);

	/* what the map says after a reopen is what was there */
	c = open_std(f);
	assert_int_equal(cache_count(c), 4);
	for (uint32_t i = 0; i < NP; i++)
		if (cache_has(c, i))
			check_piece(c, i, PL, TOTAL);
	cache_close(c);
}

static void test_evict_pinned_and_in_flight(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	struct cache_usage u;
	uint8_t blk[100];
	memset(blk, 7, sizeof(blk));
	assert_int_equal(cache_set_limit(c, 2 * PL), 0);
	put_piece(c, 0, PL, TOTAL);
	put_piece(c, 1, PL, TOTAL);
	/* both pinned by a byte range: a third piece cannot make room and
	 * the store goes over its limit rather than drop a piece in use */
	cache_pin_range(c, PL - 1, 2);
	put_piece(c, 2, PL, TOTAL);
	assert_true(cache_has(c, 0) && cache_has(c, 1) && cache_has(c, 2));
	cache_usage(c, &u);
	assert_int_equal(u.used, 3 * PL);
	cache_unpin_range(c, PL - 1, 2);

	/* unverified pieces being written count, and are never evicted */
	assert_int_equal(cache_write(c, 3, 0, blk, sizeof(blk)), 0);
	cache_usage(c, &u);
	assert_int_equal(u.used, 2 * PL);
	/* unpinning is a use: 2 (verified last, but not used since) and 0
	 * went */
	assert_false(cache_has(c, 2));
	assert_false(cache_has(c, 0));
	assert_true(cache_has(c, 1));
	assert_int_equal(cache_write(c, 4, 0, blk, sizeof(blk)), 0);
	assert_int_equal(cache_write(c, 5, 0, blk, sizeof(blk)), 0);
	cache_usage(c, &u);
	assert_int_equal(u.verified, 0);
	assert_int_equal(u.used, 3 * PL);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

static void test_limit_on_open(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	uint8_t blk[4096];
	memset(blk, 9, sizeof(blk));
	for (uint32_t i = 0; i < 8; i++)
		put_piece(c, i, PL, TOTAL);
	/* a piece written but never verified (a crash, a lost peer) */
	assert_int_equal(cache_write(c, 8, 0, blk, sizeof(blk)), 0);
	cache_close(c);

	c = open_std(f);
	assert_true(disk_bytes(f, c) >= 8 * PL + sizeof(blk));
	assert_int_equal(cache_set_limit(c, 3 * PL + 100), 0);
	assert_int_equal(cache_count(c), 3);
	assert_true(raw_zero(c, 8));
	assert_true(disk_bytes(f, c) <= 3 * PL + 100);
	for (uint32_t i = 0; i < NP; i++)
		if (cache_has(c, i))
			check_piece(c, i, PL, TOTAL);
	assert_int_equal(cache_check(c), 0);
	/* no limit: nothing more goes */
	assert_int_equal(cache_set_limit(c, 0), 0);
	put_piece(c, 9, PL, TOTAL);
	assert_int_equal(cache_count(c), 4);
	cache_close(c);
}

struct evict_race {
	struct cache *c;
	volatile int stop;
	int bad, hits;
};

/* Pin, look, read, compare, unpin: like fs answering a read. */
static void *pin_reader(void *arg)
{
	struct evict_race *r = arg;
	uint8_t want[PL], got[PL];
	for (uint32_t k = 0; !r->stop && k < 200000; k++) {
		uint32_t piece = k % (NP - 1);
		cache_pin(r->c, piece, piece);
		if (cache_has(r->c, piece)) {
			if (pread(cache_fd(r->c), got, PL,
				  (off_t)piece * PL) != (ssize_t)PL)
				r->bad++;
			fill(want, PL, piece, 0);
			if (memcmp(want, got, PL))
				r->bad++;
			r->hits++;
		}
		cache_unpin(r->c, piece, piece);
	}
	return NULL;
}

static void test_evict_race(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	struct evict_race r = {.c = c};
	pthread_t t;
	assert_int_equal(cache_set_limit(c, 3 * PL), 0);
	assert_int_equal(pthread_create(&t, NULL, pin_reader, &r), 0);
	for (uint32_t round = 0; round < 30; round++)
		for (uint32_t i = 0; i < NP - 1; i++)
			if (!cache_has(c, i))
				put_piece(c, i, PL, TOTAL);
	r.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(r.bad, 0);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

/* When the map without the victims cannot be written, nothing is punched:
 * the victims stay verified and intact, and the store goes over its limit
 * until a later eviction succeeds. */
static void test_evict_map_write_fails(void **state)
{
	struct fx *f = *state;
	struct cache *c = open_std(f);
	struct cache_usage u;
	assert_int_equal(cache_set_limit(c, 2 * PL), 0);
	put_piece(c, 0, PL, TOTAL);
	put_piece(c, 1, PL, TOTAL);
	assert_int_equal(cache_flush(c), 0); /* the map on disk claims both */
	/* a folder where the next map goes: its open fails */
	assert_int_equal(unlink(store_file(f, c, "verified.spare")), 0);
	assert_int_equal(mkdir(store_file(f, c, "verified.spare"), 0700), 0);
	put_piece(c, 2, PL, TOTAL);
	assert_true(cache_has(c, 0) && cache_has(c, 1) && cache_has(c, 2));
	check_piece(c, 0, PL, TOTAL);
	check_piece(c, 1, PL, TOTAL);
	cache_usage(c, &u);
	assert_int_equal(u.used, 3 * PL);
	assert_int_equal(u.evictions, 0);
	assert_int_equal(cache_check(c), 0);

	assert_int_equal(rmdir(store_file(f, c, "verified.spare")), 0);
	put_piece(c, 3, PL, TOTAL);
	cache_usage(c, &u);
	assert_true(u.used <= 2 * PL);
	assert_int_equal(u.evictions, 2);
	/* 2 was used least recently (0 and 1 were just read) */
	assert_false(cache_has(c, 2) || cache_has(c, 0));
	assert_true(raw_zero(c, 2) && raw_zero(c, 0));
	check_piece(c, 1, PL, TOTAL);
	check_piece(c, 3, PL, TOTAL);
	assert_int_equal(cache_check(c), 0);
	cache_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_codec),
		cmocka_unit_test_setup_teardown(test_open_args, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unverified_unreadable,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_mismatch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_short_piece, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_has_range, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_maps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_crash_safety, setup,
						teardown),
		cmocka_unit_test(test_default_root),
		cmocka_unit_test_setup_teardown(test_write_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_disk, setup,
						teardown_tmpfs),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_verify_race, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_double_verify, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_files_mapping, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_pad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_missing_short, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_files_readonly, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_files_many, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_files_trust, setup,
						teardown),
		cmocka_unit_test(test_evict_pick),
		cmocka_unit_test_setup_teardown(test_evict_lru, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_pinned_and_in_flight,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_on_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_evict_race, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_evict_map_write_fails, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
