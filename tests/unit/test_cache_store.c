/* Unit tests for cache_store: listing the stores of a root, what inspect
 * reports (verified map, bytes on disk, temporary files, in use), remove
 * and tidy refusing a store a struct cache holds, and atomic saves. */
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

#include "cache.h"
#include "cache_store.h"
#include "pfs_hash.h"

#define PL    16384u
#define NP    6u
#define TOTAL (5ull * PL + 77)
#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "0123456789abcdef0123456789abcdef01234567"

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	char *root = malloc(64);
	strcpy(root, "/tmp/p2pfs-store-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	*state = root;
	return 0;
}

static int teardown(void **state)
{
	char *root = *state;
	nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
	return 0;
}

static void put(struct cache *c, uint32_t piece)
{
	uint8_t buf[PL], h[20];
	size_t n =
	    piece == NP - 1 ? (size_t)(TOTAL - (uint64_t)piece * PL) : PL;
	memset(buf, (int)piece + 1, n);
	assert_int_equal(cache_write(c, piece, 0, buf, n), 0);
	pfs_sha1(buf, n, h);
	assert_int_equal(cache_verify(c, piece, h), 0);
}

static void touch(const char *root, const char *hex, const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s/%s", root, hex, name);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static bool exists(const char *root, const char *hex, const char *name)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s%s%s", root, hex, name ? "/" : "",
		 name ? name : "");
	return stat(p, &st) == 0;
}

static void test_list_inspect(void **state)
{
	const char *root = *state;
	char(*hex)[CACHE_STORE_HEX_MAX];
	size_t n = 9;
	struct cache_store_info info;
	int err;

	/* a missing root is an empty list */
	assert_int_equal(cache_store_list("/nonexistent/p2pfs", &hex, &n), 0);
	assert_int_equal(n, 0);
	free(hex);

	struct cache *a = cache_open(root, HEX_A, NP, PL, TOTAL, &err);
	assert_non_null(a);
	struct cache *b = cache_open(root, HEX_B, NP, PL, TOTAL, &err);
	assert_non_null(b);
	put(a, 0);
	put(a, 5);
	assert_int_equal(cache_flush(a), 0);
	cache_close(b);
	char junk[128];
	snprintf(junk, sizeof(junk), "%s/not-a-store", root);
	mkdir(junk, 0700);
	snprintf(junk, sizeof(junk),
		 "%s/ABCDEF0123456789ABCDEF0123456789ABCDEF01", root);
	mkdir(junk, 0700); /* upper case: cache_open never makes this */

	assert_int_equal(cache_store_list(root, &hex, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(hex[0], HEX_B);
	assert_string_equal(hex[1], HEX_A);
	free(hex);

	assert_int_equal(cache_store_inspect(root, HEX_A, &info), 0);
	assert_string_equal(info.hex, HEX_A);
	assert_true(info.has_map);
	assert_int_equal(info.npieces, NP);
	assert_int_equal(info.nverified, 2);
	assert_int_equal(info.piece_length, PL);
	assert_int_equal(info.total_length, TOTAL);
	assert_true(info.disk_bytes >= PL + 77);
	assert_true(info.last_used > 0);
	assert_true(info.in_use);
	assert_false(info.has_temp);

	/* b: closed, no piece: no map written */
	touch(root, HEX_B, "verified.tmp");
	assert_int_equal(cache_store_inspect(root, HEX_B, &info), 0);
	assert_false(info.has_map);
	assert_int_equal(info.nverified, 0);
	assert_false(info.in_use);
	assert_true(info.has_temp);

	assert_int_equal(cache_store_inspect(root, "zz", &info), -EINVAL);
	assert_int_equal(cache_store_inspect(root, HEX_B "0", &info), -EINVAL);
	assert_int_equal(
	    cache_store_inspect(
		root, "1111111111111111111111111111111111111111", &info),
	    -ENOENT);

	/* a damaged map counts as none */
	cache_close(a);
	char p[256];
	snprintf(p, sizeof(p), "%s/%s/verified", root, HEX_A);
	int fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 40), 1);
	close(fd);
	assert_int_equal(cache_store_inspect(root, HEX_A, &info), 0);
	assert_false(info.has_map);
	assert_false(info.in_use);
}

static void test_remove_tidy(void **state)
{
	const char *root = *state;
	int err;
	struct cache *a = cache_open(root, HEX_A, NP, PL, TOTAL, &err);
	assert_non_null(a);
	put(a, 1);
	assert_int_equal(
	    cache_store_save(cache_dir(a), CACHE_STORE_TORRENT, "d4:infode", 9),
	    0);
	assert_true(exists(root, HEX_A, CACHE_STORE_TORRENT));
	assert_false(exists(root, HEX_A, CACHE_STORE_TORRENT ".tmp"));
	touch(root, HEX_A, "torrent.tmp");

	/* in use: nothing goes */
	assert_int_equal(cache_store_remove(root, HEX_A), -EBUSY);
	assert_int_equal(cache_store_tidy(root, HEX_A), -EBUSY);
	assert_true(exists(root, HEX_A, "data"));
	assert_true(exists(root, HEX_A, "torrent.tmp"));
	cache_close(a);

	assert_int_equal(cache_store_tidy(root, HEX_A), 0);
	assert_false(exists(root, HEX_A, "torrent.tmp"));
	assert_true(exists(root, HEX_A, "data"));
	assert_true(exists(root, HEX_A, CACHE_STORE_TORRENT));

	/* removed stores can be opened afresh, empty */
	assert_int_equal(cache_store_remove(root, HEX_A), 0);
	assert_false(exists(root, HEX_A, NULL));
	assert_int_equal(cache_store_remove(root, HEX_A), -ENOENT);
	a = cache_open(root, HEX_A, NP, PL, TOTAL, &err);
	assert_non_null(a);
	assert_int_equal(cache_count(a), 0);
	cache_close(a);

	/* something that is not a file stays, and so does the store */
	char p[256];
	snprintf(p, sizeof(p), "%s/%s/sub", root, HEX_A);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(cache_store_remove(root, HEX_A), -ENOTEMPTY);
	assert_true(exists(root, HEX_A, "sub"));
	assert_false(exists(root, HEX_A, "data"));
	assert_int_equal(cache_store_remove(root, "../x"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_list_inspect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_tidy, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
