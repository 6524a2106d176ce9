/* Unit tests for bt_mkinfo: the automatic piece size, piece-size parsing,
 * the file order (mktorrent's), path checks, the folder walk (symlinks in
 * and out of the folder, loops, dangling links, FIFOs, empty folders), the
 * threaded hasher (any thread count gives the same pieces; a file that
 * changes size is an error), trackers and web seeds, and whole torrents:
 * the same data as tests/data/good/mktorrent-*.torrent gives those files
 * byte for byte, and every torrent made round-trips through bt_metainfo
 * with the right info-hash and piece hashes. Run from the repository root
 * (make unit does); scratch files go to a temporary folder under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt_bencode.h"
#include "bt_metainfo.h"
#include "bt_mkinfo_io.h"
#include "pfs_hash.h"

/* pinned in tests/unit/test_metainfo.c too (made by mktorrent -d -l 18) */
#define MKT_MULTI_HASH	"6f1a783bb760a226b77ef95995d9af0ea43e3087"
#define MKT_SINGLE_HASH "256e3941ff83ad9b6d7a3358308cf03f51062ecd"
#define MKT_ANNOUNCE	"http://127.0.0.1:6969/announce"

/* ---- helpers ----------------------------------------------------------- */

static char tmpdir[64];

static int rm_one(const char *p, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static int setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_mkinfo.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir/REL, in a static buffer per call site (two at once at most) */
static const char *tp(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, rel);
	return buf[k];
}

static void mkdirs(const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	for (char *s = p + strlen(tmpdir) + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	}
	mkdir(p, 0755);
}

static void put(const char *rel, const void *data, size_t n)
{
	FILE *f = fopen(tp(rel), "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* tests/data/make-bad.py's pattern(): the content mktorrent hashed */
static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 7 + seed * 13 + (i >> 8)) % 251);
	return p;
}

static void put_pattern(const char *rel, size_t n, unsigned seed)
{
	uint8_t *p = pattern(n, seed);
	put(rel, p, n);
	free(p);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static struct bt_mkinfo *scan_ok(const char *path, unsigned flags)
{
	struct bt_mkinfo *mk = NULL;
	char err[512] = "";
	int rc = bt_mkinfo_scan(path, flags, NULL, NULL, &mk, err, sizeof(err));
	if (rc)
		fail_msg("scan '%s': %d: %s", path, rc, err);
	return mk;
}

static int scan_err(const char *path, unsigned flags, char *err, size_t n)
{
	struct bt_mkinfo *mk = (struct bt_mkinfo *)1;
	err[0] = '\0';
	int rc = bt_mkinfo_scan(path, flags, NULL, NULL, &mk, err, n);
	assert_true(rc < 0);
	assert_null(mk);
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	return rc;
}

static void hash_ok(struct bt_mkinfo *mk, uint32_t pl, unsigned threads)
{
	char err[512] = "";
	int rc = bt_mkinfo_set_piece_length(mk, pl, err, sizeof(err));
	if (rc)
		fail_msg("set_piece_length: %d: %s", rc, err);
	rc = bt_mkinfo_hash(mk, threads, NULL, NULL, err, sizeof(err));
	if (rc)
		fail_msg("hash: %d: %s", rc, err);
}

/* Torrent of MK with O, parsed back; checks the info-hash matches. */
static struct bt_metainfo *roundtrip(const struct bt_mkinfo *mk,
				     const struct bt_mkinfo_opts *o,
				     uint8_t **bufp, size_t *lenp)
{
	uint8_t *buf = NULL, ih[20];
	size_t len = 0;
	char err[256] = "";
	int rc = bt_mkinfo_torrent(mk, o, &buf, &len, ih, err, sizeof(err));
	if (rc)
		fail_msg("torrent: %d: %s", rc, err);
	struct bt_metainfo *mi = NULL;
	rc = bt_metainfo_parse(buf, len, &mi, err, sizeof(err));
	if (rc)
		fail_msg("parse: %d: %s", rc, err);
	assert_memory_equal(mi->info_hash, ih, 20);
	if (bufp) {
		*bufp = buf;
		*lenp = len;
	} else {
		free(buf);
	}
	return mi;
}

/* The whole content of MK's files, concatenated, from disk. */
static uint8_t *content(const struct bt_mkinfo *mk)
{
	uint8_t *all = malloc(mk->total_length + 1);
	assert_non_null(all);
	uint64_t off = 0;
	for (size_t i = 0; i < mk->nfiles; i++) {
		char p[PATH_MAX];
		if (mk->single)
			snprintf(p, sizeof(p), "%s", mk->root);
		else
			snprintf(p, sizeof(p), "%s/%s", mk->root,
				 mk->files[i].path);
		size_t n;
		uint8_t *b = read_all(p, &n);
		assert_int_equal(n, mk->files[i].length);
		memcpy(all + off, b, n);
		off += n;
		free(b);
	}
	return all;
}

/* Every piece hash of MI against the data on disk. */
static void check_pieces(const struct bt_mkinfo *mk,
			 const struct bt_metainfo *mi)
{
	uint8_t *all = content(mk);
	uint64_t off = 0;
	assert_int_equal(mi->npieces, mk->npieces);
	for (uint32_t i = 0; i < mi->npieces; i++) {
		uint32_t sz = bt_metainfo_piece_size(mi, i);
		uint8_t h[20];
		assert_int_equal(pfs_sha1(all + off, sz, h), 0);
		assert_memory_equal(h, mi->piece_hashes + 20 * (size_t)i, 20);
		off += sz;
	}
	assert_int_equal(off, mk->total_length);
	free(all);
}

/* ---- piece size -------------------------------------------------------- */

static void test_auto_piece_length(void **state)
{
	(void)state;
	assert_int_equal(bt_mkinfo_auto_piece_length(1), 16384);
	assert_int_equal(bt_mkinfo_auto_piece_length(2000ull * 16384), 16384);
	assert_int_equal(bt_mkinfo_auto_piece_length(2000ull * 16384 + 1),
			 32768);
	assert_int_equal(bt_mkinfo_auto_piece_length(1ull << 30), 1 << 20);
	assert_int_equal(bt_mkinfo_auto_piece_length(700ull << 20), 512 << 10);
	assert_int_equal(bt_mkinfo_auto_piece_length(1ull << 50),
			 16u << 20); /* clamped */
	/* every size: a power of two in range, 1001..2000 pieces unless
	 * clamped */
	for (uint64_t t = 1; t < (1ull << 48); t = t * 3 + 7) {
		uint32_t p = bt_mkinfo_auto_piece_length(t);
		uint64_t n = (t + p - 1) / p;
		assert_true(p >= BT_MKINFO_AUTO_MIN && p <= BT_MKINFO_AUTO_MAX);
		assert_int_equal(p & (p - 1), 0);
		if (p < BT_MKINFO_AUTO_MAX)
			assert_true(n <= BT_MKINFO_AUTO_PIECES);
		if (p > BT_MKINFO_AUTO_MIN)
			assert_true(n > BT_MKINFO_AUTO_PIECES / 2);
	}
}

static void test_parse_piece_size(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint32_t v;
	} good[] = {
		{"16K", 16384},		{"16k", 16384},	     {"16KiB", 16384},
		{"256K", 262144},	{"262144", 262144},  {"4M", 4u << 20},
		{"4m", 4u << 20},	{"4MiB", 4u << 20},  {"64M", 64u << 20},
		{"16384", 16384},	{"1024K", 1u << 20}, {"32KB", 32768},
	};
	static const char *const bad[] = {
		"",	"K",	"8K",	 "16383", "100K", "96K",  "128M",
		"4G",	"-16K", "+16K",	 " 16K",  "16K ", "16Q",  "1e6",
		"0",	"0x4000", "16KiBs", "99999999999999999999999",
	};
	char err[128];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t v = 0;
		if (bt_mkinfo_parse_piece_size(good[i].s, &v, err, sizeof(err)))
			fail_msg("'%s' refused: %s", good[i].s, err);
		assert_int_equal(v, good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t v = 7;
		err[0] = '\0';
		assert_int_equal(bt_mkinfo_parse_piece_size(bad[i], &v, err,
							    sizeof(err)),
				 -EINVAL);
		assert_int_equal(v, 7);
		assert_true(err[0] != '\0');
	}
	bt_mkinfo_parse_piece_size("96K", &(uint32_t){0}, err, sizeof(err));
	assert_non_null(strstr(err, "power of two"));
	bt_mkinfo_parse_piece_size("8K", &(uint32_t){0}, err, sizeof(err));
	assert_non_null(strstr(err, "below 16 KiB"));
	bt_mkinfo_parse_piece_size("128M", &(uint32_t){0}, err, sizeof(err));
	assert_non_null(strstr(err, "above 64 MiB"));
}

static void test_set_piece_length(void **state)
{
	(void)state;
	char err[256];
	struct bt_mkinfo *mk = bt_mkinfo_new("/nonexistent", "x", false);
	assert_non_null(mk);
	/* no files */
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 0, err, sizeof(err)),
			 -EINVAL);
	/* only empty files */
	assert_int_equal(bt_mkinfo_add_file(mk, "e", 0), 0);
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 0, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "total size is 0"));
	assert_int_equal(bt_mkinfo_add_file(mk, "f", 100000), 0);
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 0, err, sizeof(err)),
			 0);
	assert_int_equal(mk->piece_length, 16384);
	assert_int_equal(mk->npieces, 7);
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 65536, err,
						    sizeof(err)),
			 0);
	assert_int_equal(mk->npieces, 2);
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 65535, err,
						    sizeof(err)),
			 -EINVAL);
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 8192, err,
						    sizeof(err)),
			 -EINVAL);
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 128u << 20, err,
						    sizeof(err)),
			 -EINVAL);
	assert_int_equal(mk->piece_length, 65536); /* unchanged */
	/* too many pieces: 1 TiB in 16 KiB pieces is 64 Mi pieces */
	assert_int_equal(bt_mkinfo_add_file(mk, "huge", 1ull << 40), 0);
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 16384, err,
						    sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "larger piece size"));
	/* the automatic size is capped at 16 MiB: 64 Ki pieces, fine */
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 0, err, sizeof(err)),
			 0);
	assert_int_equal(mk->piece_length, 16u << 20);
	/* a total that would overflow */
	assert_int_equal(bt_mkinfo_add_file(mk, "over", UINT64_MAX), -EINVAL);
	bt_mkinfo_free(mk);
}

/* ---- file list --------------------------------------------------------- */

static void test_sort_order(void **state)
{
	(void)state;
	/* mktorrent's order (found with mktorrent 1.1): strcmp of the whole
	 * relative path, so "a/x" sorts between "a.x" and "a0", upper case
	 * before lower case, UTF-8 after ASCII */
	static const char *const want[] = {
		".hdir/f", ".hidden", "A",   "Z/z",   "a-dir/f", "a-x",
		"a.x",	   "a/x",     "a0",  "b",     "b/c/d",	 "b0",
		"empty",   "sub/deep/f",   "\xc3\xa9",
	};
	size_t n = sizeof(want) / sizeof(want[0]);
	/* "b" and "b/c/d" cannot both be on disk; the list does not care */
	struct bt_mkinfo *mk = bt_mkinfo_new("/x", "t", false);
	assert_non_null(mk);
	for (size_t i = 0; i < n; i++) /* a fixed shuffle */
		assert_int_equal(bt_mkinfo_add_file(mk, want[(i * 7) % n],
						    i),
				 0);
	bt_mkinfo_sort(mk);
	assert_int_equal(mk->nfiles, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(mk->files[i].path, want[i]);
	bt_mkinfo_free(mk);
}

static void test_add_file_checks(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "/abs", "a//b", "a/./b", "./a", "../x", "a/..", "a/", ".",
	};
	struct bt_mkinfo *mk = bt_mkinfo_new("/x", "t", false);
	assert_non_null(mk);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bt_mkinfo_add_file(mk, bad[i], 1), -EINVAL);
	assert_int_equal(bt_mkinfo_add_file(mk, "..a/.b/c..", 1), 0);
	bt_mkinfo_free(mk);

	mk = bt_mkinfo_new("/x/f", "f", true);
	assert_non_null(mk);
	assert_int_equal(bt_mkinfo_add_file(mk, "a/b", 1), -EINVAL);
	assert_int_equal(bt_mkinfo_add_file(mk, "f", 1), 0);
	assert_int_equal(bt_mkinfo_add_file(mk, "g", 1), -EINVAL);
	bt_mkinfo_free(mk);
	assert_null(bt_mkinfo_new("/x", "", false));
}

/* ---- the walk ---------------------------------------------------------- */

struct warned {
	int n;
	char last[256];
};

static void on_warn(void *arg, const char *path, const char *why)
{
	struct warned *w = arg;
	w->n++;
	snprintf(w->last, sizeof(w->last), "%s: %s", path, why);
}

static void test_scan_tree(void **state)
{
	(void)state;
	mkdirs("t/a");
	mkdirs("t/sub/deep");
	mkdirs("t/.hdir");
	mkdirs("t/emptydir");
	put("t/a/x", "1", 1);
	put("t/a-x", "12", 2);
	put("t/a.x", "123", 3);
	put("t/a0", "1234", 4);
	put("t/.hidden", "hid", 3);
	put("t/.hdir/f", "hd", 2);
	put("t/empty", "", 0);
	put("t/sub/deep/f", "deep", 4);
	assert_int_equal(symlink("a0", tp("t/link_in")), 0);
	assert_int_equal(symlink("sub", tp("t/link_dir")), 0);
	assert_int_equal(mkfifo(tp("t/fifo"), 0644), 0);

	struct warned w = {0};
	struct bt_mkinfo *mk = NULL;
	char err[512] = "";
	/* a trailing slash does not change the name */
	assert_int_equal(bt_mkinfo_scan(tp("t/"), 0, on_warn, &w, &mk, err,
					sizeof(err)),
			 0);
	assert_false(mk->single);
	assert_string_equal(mk->name, "t");
	static const char *const want[] = {
		".hdir/f", ".hidden", "a-x",   "a.x",	      "a/x",
		"a0",	   "empty",   "link_dir/deep/f", "link_in", "sub/deep/f",
	};
	assert_int_equal(mk->nfiles, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < mk->nfiles; i++)
		assert_string_equal(mk->files[i].path, want[i]);
	assert_int_equal(mk->files[8].length, 4); /* link_in -> a0 */
	assert_int_equal(mk->total_length, 1 + 2 + 3 + 4 + 3 + 2 + 4 + 4 + 4);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.last, "fifo: not a regular file or folder");

	hash_ok(mk, 16384, 2);
	struct bt_metainfo *mi = roundtrip(mk, NULL, NULL, NULL);
	assert_true(mi->multi_file);
	assert_int_equal(mi->nfiles, mk->nfiles);
	for (size_t i = 0; i < mi->nfiles; i++) {
		assert_string_equal(mi->files[i].path, want[i]);
		assert_int_equal(mi->files[i].length, mk->files[i].length);
	}
	check_pieces(mk, mi);
	bt_metainfo_free(mi);
	bt_mkinfo_free(mk);

	/* "." is named after the real folder */
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tp("t/sub")), 0);
	mk = scan_ok(".", 0);
	assert_string_equal(mk->name, "sub");
	bt_mkinfo_free(mk);
	mk = scan_ok("deep/..", 0);
	assert_string_equal(mk->name, "sub");
	bt_mkinfo_free(mk);
	assert_int_equal(chdir(cwd), 0);

	/* a single file, also through a symlink (named after the link) */
	mk = scan_ok(tp("t/a0"), 0);
	assert_true(mk->single);
	assert_string_equal(mk->name, "a0");
	assert_int_equal(mk->total_length, 4);
	bt_mkinfo_free(mk);
	mk = scan_ok(tp("t/link_in"), 0);
	assert_true(mk->single);
	assert_string_equal(mk->name, "link_in");
	bt_mkinfo_free(mk);
}

static void test_scan_refusals(void **state)
{
	(void)state;
	char err[512];
	mkdirs("r/out");
	put("r/out/o", "o", 1);
	mkdirs("r/in/d");
	put("r/in/d/f", "f", 1);

	assert_int_equal(scan_err(tp("r/nope"), 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "r/nope"));

	mkdirs("r/empty/sub");
	assert_int_equal(scan_err(tp("r/empty"), 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no files"));

	/* out of the folder: refused, unless asked for */
	assert_int_equal(symlink(tp("r/out"), tp("r/in/d/outlink")), 0);
	assert_int_equal(scan_err(tp("r/in"), 0, err, sizeof(err)), -EXDEV);
	assert_non_null(strstr(err, "d/outlink"));
	assert_non_null(strstr(err, "out of the folder"));
	struct bt_mkinfo *mk = scan_ok(tp("r/in"), BT_MKINFO_FOLLOW_SYMLINKS);
	assert_int_equal(mk->nfiles, 2);
	assert_string_equal(mk->files[0].path, "d/f");
	assert_string_equal(mk->files[1].path, "d/outlink/o");
	bt_mkinfo_free(mk);
	/* a relative link that climbs out is just as much out */
	unlink(tp("r/in/d/outlink"));
	assert_int_equal(symlink("../../out/o", tp("r/in/d/rel")), 0);
	assert_int_equal(scan_err(tp("r/in"), 0, err, sizeof(err)), -EXDEV);
	unlink(tp("r/in/d/rel"));
	/* a link to the folder's own name from inside is inside */
	assert_int_equal(symlink("../d/f", tp("r/in/d/g")), 0);
	mk = scan_ok(tp("r/in"), 0);
	assert_int_equal(mk->nfiles, 2);
	bt_mkinfo_free(mk);
	unlink(tp("r/in/d/g"));

	/* dangling */
	assert_int_equal(symlink("nowhere", tp("r/in/dang")), 0);
	assert_int_equal(scan_err(tp("r/in"), BT_MKINFO_FOLLOW_SYMLINKS, err,
				  sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "dangling"));
	unlink(tp("r/in/dang"));

	/* a loop: a folder inside itself */
	assert_int_equal(symlink("..", tp("r/in/d/up")), 0);
	assert_int_equal(scan_err(tp("r/in"), 0, err, sizeof(err)), -ELOOP);
	assert_int_equal(scan_err(tp("r/in"), BT_MKINFO_FOLLOW_SYMLINKS, err,
				  sizeof(err)),
			 -ELOOP);
	assert_non_null(strstr(err, "loop"));
	unlink(tp("r/in/d/up"));
	/* a link to itself */
	assert_int_equal(symlink("self", tp("r/in/self")), 0);
	assert_int_equal(scan_err(tp("r/in"), 0, err, sizeof(err)), -ELOOP);
	unlink(tp("r/in/self"));

	/* not a file or folder */
	assert_int_equal(mkfifo(tp("r/fifo"), 0644), 0);
	assert_int_equal(scan_err(tp("r/fifo"), 0, err, sizeof(err)), -EINVAL);
}

/* ---- hashing and whole torrents ----------------------------------------- */

static void test_threads_agree(void **state)
{
	(void)state;
	/* odd sizes across piece and chunk boundaries, empty files between */
	mkdirs("h/x/y");
	put_pattern("h/a", 5u << 20, 11);
	put_pattern("h/b", 0, 0);
	put_pattern("h/x/c", 16383, 12);
	put_pattern("h/x/y/d", 3 * 65536 + 1, 13);
	put_pattern("h/x/y/e", 0, 0);
	put_pattern("h/z", 1, 14);
	static const uint32_t sizes[] = {16384, 65536, 4u << 20, 8u << 20,
					 64u << 20};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint8_t *first = NULL;
		for (unsigned t = 1; t <= 5; t += 2) {
			struct bt_mkinfo *mk = scan_ok(tp("h"), 0);
			hash_ok(mk, sizes[s], t);
			if (!first) {
				struct bt_metainfo *mi =
					roundtrip(mk, NULL, NULL, NULL);
				check_pieces(mk, mi);
				bt_metainfo_free(mi);
				first = malloc((size_t)mk->npieces * 20);
				assert_non_null(first);
				memcpy(first, mk->pieces,
				       (size_t)mk->npieces * 20);
			} else {
				assert_memory_equal(first, mk->pieces,
						    (size_t)mk->npieces * 20);
			}
			bt_mkinfo_free(mk);
		}
		free(first);
	}
}

struct prog {
	int calls;
	uint64_t last, total;
};

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct prog *p = arg;
	assert_true(done >= p->last);
	assert_true(done <= total);
	p->calls++;
	p->last = done;
	p->total = total;
}

static void test_hash_progress_and_changes(void **state)
{
	(void)state;
	char err[512];
	mkdirs("c");
	put_pattern("c/one", 300000, 1);
	put_pattern("c/two", 200000, 2);
	struct bt_mkinfo *mk = scan_ok(tp("c"), 0);
	assert_int_equal(bt_mkinfo_set_piece_length(mk, 16384, err,
						    sizeof(err)),
			 0);
	struct prog p = {0};
	assert_int_equal(bt_mkinfo_hash(mk, 2, on_progress, &p, err,
					sizeof(err)),
			 0);
	assert_true(p.calls >= 1);
	assert_int_equal(p.last, 500000);
	assert_int_equal(p.total, 500000);

	/* a file that grew or shrank since the scan */
	put_pattern("c/two", 200001, 2);
	assert_int_equal(bt_mkinfo_hash(mk, 2, NULL, NULL, err, sizeof(err)),
			 -EIO);
	assert_non_null(strstr(err, "c/two"));
	assert_non_null(strstr(err, "size changed"));
	put_pattern("c/two", 10, 2);
	assert_int_equal(bt_mkinfo_hash(mk, 1, NULL, NULL, err, sizeof(err)),
			 -EIO);
	/* one that went away */
	unlink(tp("c/two"));
	assert_int_equal(bt_mkinfo_hash(mk, 1, NULL, NULL, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "c/two"));
	bt_mkinfo_free(mk);

	/* hashing before a piece size is refused */
	mk = scan_ok(tp("c/one"), 0);
	assert_int_equal(bt_mkinfo_hash(mk, 1, NULL, NULL, err, sizeof(err)),
			 -EINVAL);
	bt_mkinfo_free(mk);
}

/* The same data as tests/data/make-bad.py gave mktorrent: the same bytes. */
static void test_equals_mktorrent(void **state)
{
	(void)state;
	mkdirs("m/mkt-multi/sub/deeper");
	put_pattern("m/mkt-multi/a.bin", 300000, 1);
	char hello[6 * 200 + 1] = "";
	for (int i = 0; i < 200; i++)
		strcat(hello, "hello\n");
	put("m/mkt-multi/sub/b.txt", hello, 1200);
	put_pattern("m/mkt-multi/sub/deeper/c.dat", 70000, 2);
	put_pattern("m/mkt-single.bin", 600000, 3);

	static const struct {
		const char *src, *file, *hash;
	} cases[] = {
		{"m/mkt-multi", "tests/data/good/mktorrent-multi.torrent",
		 MKT_MULTI_HASH},
		{"m/mkt-single.bin", "tests/data/good/mktorrent-single.torrent",
		 MKT_SINGLE_HASH},
	};
	const char *trk[] = {MKT_ANNOUNCE};
	struct bt_mkinfo_opts o = {
		.trackers = trk,
		.ntrackers = 1,
		.created_by = "mktorrent 1.1",
	};
	for (size_t i = 0; i < 2; i++) {
		struct bt_mkinfo *mk = scan_ok(tp(cases[i].src), 0);
		hash_ok(mk, 1u << 18, 0);
		uint8_t *buf;
		size_t len, mlen;
		struct bt_metainfo *mi = roundtrip(mk, &o, &buf, &len);
		assert_string_equal(mi->info_hash_hex, cases[i].hash);
		uint8_t *m = read_all(cases[i].file, &mlen);
		assert_int_equal(len, mlen);
		assert_memory_equal(buf, m, len);
		free(m);
		free(buf);
		bt_metainfo_free(mi);
		bt_mkinfo_free(mk);
	}
}

static void test_trackers_and_keys(void **state)
{
	(void)state;
	mkdirs("k");
	put_pattern("k/f", 40000, 5);
	struct bt_mkinfo *mk = scan_ok(tp("k/f"), 0);
	hash_ok(mk, 16384, 1);

	/* no options: only `info` */
	uint8_t *buf;
	size_t len;
	struct bt_metainfo *mi = roundtrip(mk, NULL, &buf, &len);
	assert_int_equal(mi->ntrackers, 0);
	assert_false(mi->private_flag);
	struct bt_bval *v;
	assert_int_equal(bt_bdecode(buf, len, &v, NULL, 0), 0);
	assert_int_equal(v->dict.n, 1);
	const struct bt_bval *info = bt_bdict_get_dict(v, "info");
	/* exactly mktorrent's keys */
	assert_int_equal(info->dict.n, 4);
	assert_non_null(bt_bdict_get(info, "length"));
	assert_non_null(bt_bdict_get(info, "name"));
	assert_non_null(bt_bdict_get(info, "piece length"));
	assert_non_null(bt_bdict_get(info, "pieces"));
	bt_bval_free(v);
	free(buf);
	bt_metainfo_free(mi);

	/* mktorrent's -a: each argument a tier, commas within a tier */
	const char *trk[] = {"http://t1/a,http://t1/b", "udp://t2:80"};
	const char *ws[] = {"http://w/1,http://w/2", "http://w/3"};
	struct bt_mkinfo_opts o = {
		.trackers = trk,
		.ntrackers = 2,
		.web_seeds = ws,
		.nweb_seeds = 2,
		.comment = "a comment",
		.created_by = "p2pfs test",
		.creation_date = 1700000000,
		.private_flag = true,
	};
	mi = roundtrip(mk, &o, &buf, &len);
	assert_true(mi->private_flag);
	assert_string_equal(mi->comment, "a comment");
	assert_string_equal(mi->created_by, "p2pfs test");
	assert_int_equal(mi->creation_date, 1700000000);
	assert_int_equal(mi->ntrackers, 3);
	assert_string_equal(mi->trackers[0], "http://t1/a");
	assert_string_equal(mi->trackers[1], "http://t1/b");
	assert_string_equal(mi->trackers[2], "udp://t2:80");
	assert_int_equal(bt_bdecode(buf, len, &v, NULL, 0), 0);
	const struct bt_bval *a = bt_bdict_get_str(v, "announce");
	assert_non_null(a);
	assert_int_equal(a->s.len, 11);
	assert_memory_equal(a->s.p, "http://t1/a", 11);
	const struct bt_bval *al = bt_bdict_get_list(v, "announce-list");
	assert_non_null(al);
	assert_int_equal(al->list.n, 2);
	assert_int_equal(al->list.items[0].list.n, 2);
	assert_int_equal(al->list.items[1].list.n, 1);
	const struct bt_bval *ul = bt_bdict_get_list(v, "url-list");
	assert_non_null(ul);
	assert_int_equal(ul->list.n, 3);
	info = bt_bdict_get_dict(v, "info");
	int64_t priv = 0;
	assert_int_equal(bt_bdict_get_int(info, "private", &priv), 0);
	assert_int_equal(priv, 1);
	bt_bval_free(v);
	free(buf);
	bt_metainfo_free(mi);

	/* one URL: `announce` only; one web seed: a string (as mktorrent) */
	o = (struct bt_mkinfo_opts){
		.trackers = trk + 1, .ntrackers = 1,
		.web_seeds = ws + 1, .nweb_seeds = 1};
	mi = roundtrip(mk, &o, &buf, &len);
	assert_int_equal(bt_bdecode(buf, len, &v, NULL, 0), 0);
	assert_null(bt_bdict_get(v, "announce-list"));
	assert_non_null(bt_bdict_get_str(v, "announce"));
	assert_non_null(bt_bdict_get_str(v, "url-list"));
	bt_bval_free(v);
	free(buf);
	bt_metainfo_free(mi);

	/* empty URLs are refused */
	static const char *const empties[] = {"", ",", "a,", ",a", "a,,b"};
	char err[128];
	for (size_t i = 0; i < 5; i++) {
		uint8_t ih[20];
		o = (struct bt_mkinfo_opts){.trackers = &empties[i],
					    .ntrackers = 1};
		buf = (uint8_t *)1;
		assert_int_equal(bt_mkinfo_torrent(mk, &o, &buf, &len, ih, err,
						   sizeof(err)),
				 -EINVAL);
		assert_null(buf);
		o = (struct bt_mkinfo_opts){.web_seeds = &empties[i],
					    .nweb_seeds = 1};
		assert_int_equal(bt_mkinfo_torrent(mk, &o, &buf, &len, ih, err,
						   sizeof(err)),
				 -EINVAL);
	}
	bt_mkinfo_free(mk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_piece_length),
		cmocka_unit_test(test_parse_piece_size),
		cmocka_unit_test(test_set_piece_length),
		cmocka_unit_test(test_sort_order),
		cmocka_unit_test(test_add_file_checks),
		cmocka_unit_test(test_scan_tree),
		cmocka_unit_test(test_scan_refusals),
		cmocka_unit_test(test_threads_agree),
		cmocka_unit_test(test_hash_progress_and_changes),
		cmocka_unit_test(test_equals_mktorrent),
		cmocka_unit_test(test_trackers_and_keys),
	};
	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
