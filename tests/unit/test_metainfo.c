/* Unit tests for bt_metainfo: torrents made by mktorrent (info-hash and
 * piece hashes checked against independently generated data), every file in
 * tests/data/bad/ (must be -EINVAL with a reason) and tests/data/good/ (must
 * parse, with the sanitised names asserted), path sanitising, duplicate
 * suffixes, trackers, limits, and the piece/file byte mapping.
 * Run from the repository root (make unit does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_bencode.h"
#include "bt_metainfo.h"
#include "pfs_hash.h"

#define BAD_DIR	 "tests/data/bad"
#define GOOD_DIR "tests/data/good"

/* Expected info-hashes, computed by tests/data/make-bad.py with python's
 * hashlib over the raw `info` bytes when the files were made. */
#define MKT_MULTI_HASH	"6f1a783bb760a226b77ef95995d9af0ea43e3087"
#define MKT_SINGLE_HASH "256e3941ff83ad9b6d7a3358308cf03f51062ecd"

/* ---- helpers ----------------------------------------------------------- */

static struct bt_metainfo *load_good(const char *name)
{
	char path[256], err[256] = "";
	struct bt_metainfo *mi = NULL;
	snprintf(path, sizeof(path), "%s/%s", GOOD_DIR, name);
	int rc = bt_metainfo_load(path, &mi, err, sizeof(err));
	if (rc)
		fail_msg("%s: rc %d: %s", path, rc, err);
	assert_non_null(mi);
	return mi;
}

/* tests/data/make-bad.py's pattern(): the content mktorrent hashed. */
static void pattern(uint8_t *out, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)((i * 7 + seed * 13 + (i >> 8)) % 251);
}

/* Checks every piece hash against DATA (the torrent's whole content). */
static void check_pieces(const struct bt_metainfo *mi, const uint8_t *data)
{
	uint64_t off = 0;
	for (uint32_t i = 0; i < mi->npieces; i++) {
		uint32_t sz = bt_metainfo_piece_size(mi, i);
		uint8_t h[20];
		assert_int_equal(pfs_sha1(data + off, sz, h), 0);
		assert_memory_equal(h, mi->piece_hashes + 20 * (size_t)i, 20);
		off += sz;
	}
	assert_true(off == mi->total_length);
}

/* A torrent built in the test. Paths separate components with '|'. */
struct tf {
	const char *path;
	int64_t length;
	const char *attr;
};

struct spec {
	const char *name;
	int64_t piece_length;
	int64_t length; /* single-file when files is NULL */
	const struct tf *files;
	size_t nfiles;
	bool has_nhashes; /* else exactly as many hashes as needed */
	long nhashes;
	bool has_private;
	int64_t private_val;
};

static void put_path(struct bt_benc *b, const char *path)
{
	bt_benc_list_begin(b);
	for (const char *p = path;;) {
		const char *bar = strchr(p, '|');
		bt_benc_str(b, p, bar ? (size_t)(bar - p) : strlen(p));
		if (!bar)
			break;
		p = bar + 1;
	}
	bt_benc_end(b);
}

static void put_info(struct bt_benc *b, const struct spec *s)
{
	uint64_t total = 0;
	bt_benc_dict_begin(b);
	if (s->files) {
		bt_benc_cstr(b, "files");
		bt_benc_list_begin(b);
		for (size_t i = 0; i < s->nfiles; i++) {
			bt_benc_dict_begin(b);
			if (s->files[i].attr) {
				bt_benc_cstr(b, "attr");
				bt_benc_cstr(b, s->files[i].attr);
			}
			bt_benc_cstr(b, "length");
			bt_benc_int(b, s->files[i].length);
			bt_benc_cstr(b, "path");
			put_path(b, s->files[i].path);
			bt_benc_end(b);
			total += (uint64_t)s->files[i].length;
		}
		bt_benc_end(b);
	} else {
		bt_benc_cstr(b, "length");
		bt_benc_int(b, s->length);
		total = (uint64_t)s->length;
	}
	bt_benc_cstr(b, "name");
	bt_benc_cstr(b, s->name ? s->name : "t");
	bt_benc_cstr(b, "piece length");
	bt_benc_int(b, s->piece_length);
	size_t n =
		s->has_nhashes ? (size_t)s->nhashes
		: total && s->piece_length > 0
			? (size_t)((total - 1) / (uint64_t)s->piece_length + 1)
			: 0;
	uint8_t *h = calloc(n ? n : 1, 20);
	for (size_t i = 0; i < 20 * n; i++)
		h[i] = (uint8_t)(i * 31);
	bt_benc_cstr(b, "pieces");
	bt_benc_str(b, h, 20 * n);
	free(h);
	if (s->has_private) {
		bt_benc_cstr(b, "private");
		bt_benc_int(b, s->private_val);
	}
	bt_benc_end(b);
}

static int build(const struct spec *s, struct bt_metainfo **mi, char *err,
		 size_t errlen)
{
	struct bt_benc b;
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "announce");
	bt_benc_cstr(&b, "http://127.0.0.1:1/announce");
	bt_benc_cstr(&b, "info");
	put_info(&b, s);
	bt_benc_end(&b);
	assert_int_equal(b.err, 0);
	int rc = bt_metainfo_parse(b.buf, b.len, mi, err, errlen);
	bt_benc_release(&b);
	return rc;
}

static struct bt_metainfo *build_ok(const struct spec *s)
{
	char err[256] = "";
	struct bt_metainfo *mi = NULL;
	int rc = build(s, &mi, err, sizeof(err));
	if (rc)
		fail_msg("rc %d: %s", rc, err);
	return mi;
}

static void build_bad(const struct spec *s, const char *why)
{
	char err[256] = "";
	struct bt_metainfo *mi = NULL;
	int rc = build(s, &mi, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("accepted, rc %d (wanted error '%s')", rc, why);
	assert_null(mi);
	if (!strstr(err, why))
		fail_msg("error '%s' lacks '%s'", err, why);
}

#define SPEC(...) (&(struct spec){__VA_ARGS__})
#define F(p, l)                                                                \
	{                                                                      \
		.path = (p), .length = (l)                                     \
	}
#define FILES(...)                                                             \
	.files = (const struct tf[]){__VA_ARGS__},                             \
	.nfiles = sizeof((const struct tf[]){__VA_ARGS__}) / sizeof(struct tf)

static void assert_paths(const struct bt_metainfo *mi, const char *const *want,
			 size_t n)
{
	assert_int_equal(mi->nfiles, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(mi->files[i].path, want[i]);
}

/* Every path must be safe: relative, no empty/"."/".." component, no
 * component over 255 bytes, unique, and no file is a folder of another. */
static void assert_safe_paths(const struct bt_metainfo *mi)
{
	for (size_t i = 0; i < mi->nfiles; i++) {
		const char *p = mi->files[i].path;
		assert_true(p[0] != '\0' && p[0] != '/');
		for (const char *c = p;;) {
			size_t n = strcspn(c, "/");
			assert_true(n > 0 && n <= 255);
			assert_false(n == 1 && c[0] == '.');
			assert_false(n == 2 && c[0] == '.' && c[1] == '.');
			if (!c[n])
				break;
			c += n + 1;
		}
		size_t len = strlen(p);
		for (size_t k = 0; k < mi->nfiles; k++) {
			const char *q = mi->files[k].path;
			if (k != i)
				assert_string_not_equal(p, q);
			if (strncmp(q, p, len) == 0)
				assert_true(q[len] != '/');
		}
	}
}

/* ---- torrents made by mktorrent --------------------------------------- */

static void test_mktorrent_multi(void **state)
{
	(void)state;
	struct bt_metainfo *mi = load_good("mktorrent-multi.torrent");
	assert_string_equal(mi->info_hash_hex, MKT_MULTI_HASH);
	uint8_t h[20];
	assert_int_equal(pfs_sha1(mi->info_raw, mi->info_len, h), 0);
	assert_memory_equal(h, mi->info_hash, 20);
	assert_string_equal(mi->name, "mkt-multi");
	assert_true(mi->multi_file);
	assert_int_equal(mi->piece_length, 262144);
	static const char *const want[] = {"a.bin", "sub/b.txt",
					   "sub/deeper/c.dat"};
	assert_paths(mi, want, 3);
	assert_int_equal(mi->files[0].length, 300000);
	assert_int_equal(mi->files[1].offset, 300000);
	assert_int_equal(mi->files[1].length, 1200);
	assert_int_equal(mi->files[2].offset, 301200);
	assert_int_equal(mi->files[2].length, 70000);
	assert_int_equal(mi->total_length, 371200);
	assert_int_equal(mi->npieces, 2);
	assert_int_equal(bt_metainfo_piece_size(mi, 1), 371200 - 262144);
	assert_int_equal(mi->ntrackers, 1);
	assert_string_equal(mi->trackers[0], "http://127.0.0.1:6969/announce");
	assert_string_equal(mi->created_by, "mktorrent 1.1");
	assert_int_equal(mi->creation_date, 0);
	assert_null(mi->comment);
	assert_false(mi->private_flag);
	for (size_t i = 0; i < mi->nfiles; i++)
		assert_false(mi->files[i].pad);

	uint8_t *data = malloc(mi->total_length);
	pattern(data, 300000, 1);
	for (size_t i = 0; i < 200; i++)
		memcpy(data + 300000 + 6 * i, "hello\n", 6);
	pattern(data + 301200, 70000, 2);
	check_pieces(mi, data);
	free(data);
	bt_metainfo_free(mi);
}

static void test_mktorrent_single(void **state)
{
	(void)state;
	struct bt_metainfo *mi = load_good("mktorrent-single.torrent");
	assert_string_equal(mi->info_hash_hex, MKT_SINGLE_HASH);
	assert_string_equal(mi->name, "mkt-single.bin");
	assert_false(mi->multi_file);
	assert_int_equal(mi->nfiles, 1);
	assert_string_equal(mi->files[0].path, "mkt-single.bin");
	assert_int_equal(mi->files[0].offset, 0);
	assert_int_equal(mi->total_length, 600000);
	assert_int_equal(mi->npieces, 3);
	assert_int_equal(bt_metainfo_piece_size(mi, 2), 600000 - 2 * 262144);
	uint8_t *data = malloc(mi->total_length);
	pattern(data, 600000, 3);
	check_pieces(mi, data);
	free(data);

	/* the same info dict alone, as ut_metadata would fetch it */
	struct bt_metainfo *m2 = NULL;
	char err[256];
	assert_int_equal(bt_metainfo_from_info(mi->info_raw, mi->info_len,
					       mi->info_hash, &m2, err,
					       sizeof(err)),
			 0);
	assert_string_equal(m2->info_hash_hex, MKT_SINGLE_HASH);
	assert_string_equal(m2->files[0].path, "mkt-single.bin");
	assert_int_equal(m2->npieces, 3);
	assert_memory_equal(m2->piece_hashes, mi->piece_hashes, 60);
	assert_int_equal(m2->ntrackers, 0);
	bt_metainfo_free(m2);
	bt_metainfo_free(mi);
}

/* ---- the data sets ------------------------------------------------------ */

static const struct {
	const char *file, *why;
} bad_reasons[] = {
	{"pieces-not-multiple-of-20.torrent",
	 "'info' 'pieces' length 41 is not a multiple of 20"},
	{"pieces-count-mismatch.torrent", "'info' 'pieces' has 2 hashes"},
	{"empty.torrent", "empty input"},
	{"truncated.torrent", "truncated"},
	{"truncated-one-byte.torrent", "truncated"},
	{"bad-string-length.torrent", "exceeds"},
	{"string-length-leading-zero.torrent", "leading zero"},
	{"string-length-overflow.torrent", "overflows"},
	{"int-leading-zero.torrent", "leading zero"},
	{"int-negative-zero.torrent", "negative zero"},
	{"int-overflow.torrent", "64 bits"},
	{"int-empty.torrent", "without digits"},
	{"deep-nesting.torrent", "nesting deeper than 64"},
	{"deep-nesting-65.torrent", "nesting deeper than 64"},
	{"trailing-garbage.torrent", "trailing garbage"},
	{"unsorted-keys.torrent", "out of order"},
	{"unsorted-info-keys.torrent", "out of order"},
	{"duplicate-keys.torrent", "duplicate"},
	{"key-not-string.torrent", "not a string"},
	{"huge-piece-count.torrent", "pieces (at most 4194304)"},
	{"huge-piece-count-max-pl.torrent", "pieces (at most 4194304)"},
	{"negative-length.torrent", "'info' 'length' is negative (-1)"},
	{"negative-file-length.torrent",
	 "'info' 'files'[1] 'length' is negative (-5)"},
	{"zero-total-length.torrent", "total length is 0"},
	{"total-overflow.torrent", "2^63-1"},
	{"file-length-int64-max.torrent", "2^63-1"},
	{"missing-info.torrent", "missing 'info'"},
	{"info-not-dict.torrent", "'info' is not a dictionary"},
	{"missing-name.torrent", "missing 'info' 'name'"},
	{"missing-pieces.torrent", "missing 'info' 'pieces'"},
	{"missing-piece-length.torrent", "missing 'info' 'piece length'"},
	{"missing-length-and-files.torrent", "neither"},
	{"both-length-and-files.torrent", "both"},
	{"name-not-string.torrent", "'info' 'name' is not a string"},
	{"piece-length-zero.torrent", "out of range"},
	{"piece-length-too-big.torrent", "out of range"},
	{"path-empty.torrent", "'info' 'files'[0] 'path' is empty"},
	{"path-item-not-string.torrent", "'path'[1] is not a string"},
	{"private-not-int.torrent", "'info' 'private' is not an integer"},
	{"v2-only.torrent", "v2-only"},
};

static void test_bad_dir(void **state)
{
	(void)state;
	DIR *d = opendir(BAD_DIR);
	if (!d)
		fail_msg("cannot open %s (run from the repository root)",
			 BAD_DIR);
	size_t n = 0, checked = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[512], err[256] = "";
		struct bt_metainfo *mi = NULL;
		snprintf(path, sizeof(path), "%s/%s", BAD_DIR, e->d_name);
		int rc = bt_metainfo_load(path, &mi, err, sizeof(err));
		if (rc != -EINVAL)
			fail_msg("%s: rc %d, wanted -EINVAL", path, rc);
		assert_null(mi);
		if (!err[0] || strchr(err, '\n'))
			fail_msg("%s: bad reason '%s'", path, err);
		for (size_t i = 0;
		     i < sizeof(bad_reasons) / sizeof(bad_reasons[0]); i++) {
			if (strcmp(bad_reasons[i].file, e->d_name))
				continue;
			if (!strstr(err, bad_reasons[i].why))
				fail_msg("%s: '%s' lacks '%s'", path, err,
					 bad_reasons[i].why);
			checked++;
		}
		n++;
	}
	closedir(d);
	assert_true(n >= 50);
	assert_int_equal(checked, sizeof(bad_reasons) / sizeof(bad_reasons[0]));
}

static void test_good_dir(void **state)
{
	(void)state;
	DIR *d = opendir(GOOD_DIR);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, ".torrent"))
			continue;
		struct bt_metainfo *mi = load_good(e->d_name);
		assert_safe_paths(mi);
		bt_metainfo_free(mi);
		n++;
	}
	closedir(d);
	assert_true(n >= 8);
}

/* ---- names -------------------------------------------------------------- */

static void test_dotdot_paths(void **state)
{
	(void)state;
	struct bt_metainfo *mi = load_good("dotdot-paths.torrent");
	assert_string_equal(mi->name, "_..");
	static const char *const want[] = {
		"_../_../etc/passwd",
		"_etc_passwd",
		"_/etc/shadow",
		"_./y",
		"a_b",
		"caf\xc3\xa9/__.txt",
		".../ok",
	};
	assert_paths(mi, want, 7);
	bt_metainfo_free(mi);

	mi = load_good("absolute-name.torrent");
	assert_string_equal(mi->name, "_etc_passwd");
	assert_string_equal(mi->files[0].path, "_etc_passwd");
	bt_metainfo_free(mi);
}

static void test_utf8_names(void **state)
{
	(void)state;
	struct bt_metainfo *mi = load_good("utf8-names.torrent");
	assert_string_equal(mi->name, "n\xc3\xa4me");
	static const char *const want[] = {"\xc3\xbcn\xc3\xaf"
					   "code.txt",
					   "plain.txt"};
	assert_paths(mi, want, 2);
	bt_metainfo_free(mi);

	/* overlong, surrogate, too-high and truncated sequences are bytes to
	 * replace; valid 2/3/4-byte characters stay */
	mi = build_ok(SPEC(.piece_length = 4,
			   FILES(F("\xc0\xaf|x", 1), F("\xed\xa0\x80|x", 1),
				 F("\xf4\x90\x80\x80|x", 1), F("ab\xe2\x82", 1),
				 F("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 1),
				 F("\x80|\x7f", 1))));
	static const char *const want2[] = {
		"__/x",
		"___/x",
		"____/x",
		"ab__",
		"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
		"_/\x7f",
	};
	assert_paths(mi, want2, 6);
	bt_metainfo_free(mi);
}

static void test_duplicates(void **state)
{
	(void)state;
	struct bt_metainfo *mi = load_good("duplicates.torrent");
	static const char *const want[] = {
		".pad/0",  "a~3.txt",	"a.txt", "a~1.txt",
		"a~2.txt", "a~1~1.txt", "d~1",	 "d/x",
		".hidden", ".hidden~1", "_../z", "_../z~1",
	};
	assert_paths(mi, want, 12);
	assert_true(mi->files[0].pad && mi->files[1].pad);
	assert_false(mi->files[2].pad);
	bt_metainfo_free(mi);

	/* a file that is a folder deeper down, and an existing suffix */
	mi = build_ok(SPEC(.piece_length = 16,
			   FILES(F("x|y", 1), F("x|y|z", 1), F("a~1.txt", 1),
				 F("a.txt", 1), F("a.txt", 1), F("x|y~1", 1),
				 F("noext", 1), F("noext", 1), F("t.tar.gz", 1),
				 F("t.tar.gz", 1))));
	static const char *const want2[] = {
		"x/y~1",   "x/y/z", "a~1.txt", "a.txt",	   "a~2.txt",
		"x/y~1~1", "noext", "noext~1", "t.tar.gz", "t.tar~1.gz",
	};
	assert_paths(mi, want2, 10);
	assert_safe_paths(mi);
	bt_metainfo_free(mi);

	/* many copies of one name: linear, and all distinct */
	enum { N = 3000 };
	struct tf *files = calloc(N, sizeof(*files));
	for (size_t i = 0; i < N; i++)
		files[i] = (struct tf){"same.bin", 1, NULL};
	mi = build_ok(SPEC(.piece_length = 1024, .files = files, .nfiles = N));
	assert_string_equal(mi->files[0].path, "same.bin");
	assert_string_equal(mi->files[N - 1].path, "same~2999.bin");
	assert_safe_paths(mi);
	bt_metainfo_free(mi);
	free(files);
}

static void test_long_names(void **state)
{
	(void)state;
	/* 200 two-byte characters (400 bytes) plus ".mkv" */
	char name[512] = "";
	for (int i = 0; i < 200; i++)
		strcat(name, "\xc3\xa9");
	strcat(name, ".mkv");
	char path[1100];
	snprintf(path, sizeof(path), "dir|%s", name);
	struct tf files[] = {{path, 1, NULL}, {path, 1, NULL}};
	struct bt_metainfo *mi = build_ok(SPEC(.name = name, .piece_length = 2,
					       .files = files, .nfiles = 2));
	assert_true(strlen(mi->name) <= 255);
	assert_true(strlen(mi->name) >= 250);
	assert_string_equal(mi->name + strlen(mi->name) - 4, ".mkv");
	/* cut at a character boundary: 2-byte chars + ".mkv" */
	assert_int_equal((strlen(mi->name) - 4) % 2, 0);
	assert_int_equal(strncmp(mi->files[0].path, "dir/", 4), 0);
	assert_string_equal(mi->files[0].path + 4, mi->name);
	const char *second = mi->files[1].path + 4;
	assert_true(strlen(second) <= 255);
	assert_non_null(strstr(second, "~1.mkv"));
	assert_int_equal((strlen(second) - 6) % 2, 0);
	assert_safe_paths(mi);
	bt_metainfo_free(mi);

	/* no extension: a long tail after the last '.' is not one */
	char plain[400];
	memset(plain, 'x', sizeof(plain) - 1);
	plain[sizeof(plain) - 1] = '\0';
	plain[10] = '.';
	mi = build_ok(SPEC(.name = plain, .piece_length = 1, .length = 1));
	assert_int_equal(strlen(mi->name), 255);
	assert_int_equal(strncmp(mi->name, plain, 255), 0);
	bt_metainfo_free(mi);
}

static void test_sanitize_single(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"", "_"},	  {".", "_."},
		{"..", "_.."},	  {"...", "..."},
		{"/", "_"},	  {"a/b", "a_b"},
		{"/abs", "_abs"}, {".hidden", ".hidden"},
		{"\xff", "_"},	  {"ok name", "ok name"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bt_metainfo *mi =
			build_ok(SPEC(.name = cases[i].in, .piece_length = 1,
				      .length = 1));
		assert_string_equal(mi->name, cases[i].out);
		assert_string_equal(mi->files[0].path, cases[i].out);
		assert_false(mi->multi_file);
		bt_metainfo_free(mi);
	}
}

/* ---- other fields ------------------------------------------------------- */

static void test_padded(void **state)
{
	(void)state;
	struct bt_metainfo *mi = load_good("padded.torrent");
	assert_true(mi->private_flag);
	assert_int_equal(mi->nfiles, 4);
	assert_false(mi->files[0].pad);
	assert_true(mi->files[1].pad);
	assert_false(mi->files[2].pad);
	assert_false(mi->files[3].pad); /* attr "x" */
	assert_int_equal(mi->files[1].offset, 10000);
	assert_int_equal(mi->files[2].offset, 16384);
	assert_int_equal(mi->files[2].length, 0);
	assert_int_equal(mi->files[3].offset, 16384);
	assert_int_equal(mi->total_length, 36384);
	assert_int_equal(mi->npieces, 3);
	assert_int_equal(bt_metainfo_piece_size(mi, 2), 36384 - 32768);
	bt_metainfo_free(mi);
}

static void test_trackers(void **state)
{
	(void)state;
	struct bt_metainfo *mi = load_good("trackers.torrent");
	static const char *const want[] = {
		"udp://t1.example:80/announce",
		"http://t2.example/a",
		"HTTPS://t4.example/a",
		"http://flat.example/a",
	};
	/* tiers: [t1, t2], [wss (dropped), t4, t1 (duplicate)], a bare
	 * string, then a tier with nothing usable */
	static const unsigned want_tier[] = {0, 0, 1, 2};
	assert_int_equal(mi->ntrackers, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(mi->trackers[i], want[i]);
		assert_int_equal(mi->tracker_tiers[i], want_tier[i]);
	}
	assert_string_equal(mi->comment, "hello _");
	assert_string_equal(mi->created_by, "make-bad.py");
	assert_int_equal(mi->creation_date, 1700000000);
	bt_metainfo_free(mi);

	/* announce-list with nothing usable: fall back to announce; a
	 * wrong-typed comment is ignored */
	mi = load_good("announce-only.torrent");
	assert_int_equal(mi->ntrackers, 1);
	assert_int_equal(mi->tracker_tiers[0], 0);
	assert_string_equal(mi->trackers[0], "http://127.0.0.1:6969/announce");
	assert_null(mi->comment);
	bt_metainfo_free(mi);

	/* built one: announce alone, no other keys */
	mi = build_ok(SPEC(.piece_length = 1, .length = 1));
	assert_int_equal(mi->ntrackers, 1);
	assert_string_equal(mi->trackers[0], "http://127.0.0.1:1/announce");
	assert_null(mi->created_by);
	bt_metainfo_free(mi);
}

static void test_limits(void **state)
{
	(void)state;
	struct bt_metainfo *mi;

	/* any piece length in 1..64 MiB, power of two or not */
	mi = build_ok(SPEC(.piece_length = 1, .length = 3));
	assert_int_equal(mi->npieces, 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(bt_metainfo_piece_size(mi, i), 1);
	bt_metainfo_free(mi);
	mi = build_ok(SPEC(.piece_length = 12345, .length = 30000));
	assert_int_equal(mi->npieces, 3);
	assert_int_equal(bt_metainfo_piece_size(mi, 2), 30000 - 2 * 12345);
	bt_metainfo_free(mi);
	mi = build_ok(SPEC(.piece_length = BT_MAX_PIECE_LENGTH,
			   .length = BT_MAX_PIECE_LENGTH));
	assert_int_equal(mi->npieces, 1);
	assert_int_equal(bt_metainfo_piece_size(mi, 0), BT_MAX_PIECE_LENGTH);
	bt_metainfo_free(mi);
	build_bad(SPEC(.piece_length = BT_MAX_PIECE_LENGTH + 1, .length = 1),
		  "'info' 'piece length' 67108865 is out of range");
	build_bad(SPEC(.piece_length = 0, .length = 1, .has_nhashes = true,
		       .nhashes = 1),
		  "'info' 'piece length' 0 is out of range");
	build_bad(SPEC(.piece_length = -5, .length = 1, .has_nhashes = true,
		       .nhashes = 1),
		  "out of range");

	/* piece count: one over the limit, and wrong counts either way */
	build_bad(SPEC(.piece_length = 1, .length = (int64_t)BT_MAX_PIECES + 1,
		       .has_nhashes = true, .nhashes = 1),
		  "torrent needs 4194305 pieces");
	build_bad(SPEC(.piece_length = 10, .length = 21, .has_nhashes = true,
		       .nhashes = 2),
		  "'info' 'pieces' has 2 hashes but 21 bytes in pieces of 10 "
		  "need 3");
	build_bad(SPEC(.piece_length = 10, .length = 21, .has_nhashes = true,
		       .nhashes = 4),
		  "has 4 hashes");
	build_bad(SPEC(.piece_length = 10, .length = 0, .has_nhashes = true,
		       .nhashes = 0),
		  "total length is 0");

	/* lengths: INT64_MAX is a valid length, the sum may not overflow */
	build_bad(SPEC(.piece_length = BT_MAX_PIECE_LENGTH, .length = INT64_MAX,
		       .has_nhashes = true, .nhashes = 1),
		  "pieces (at most");
	build_bad(SPEC(.piece_length = 1, .has_nhashes = true, .nhashes = 1,
		       FILES(F("a", INT64_MAX), F("b", 1))),
		  "2^63-1");
	build_bad(SPEC(.piece_length = 1, .has_nhashes = true, .nhashes = 1,
		       FILES(F("a", 1), F("b", -1))),
		  "'info' 'files'[1] 'length' is negative (-1)");

	/* 5 * 2^32 + 7 bytes: 64-bit offsets all the way */
	int64_t big = 5 * ((int64_t)1 << 32) + 7;
	mi = build_ok(SPEC(.piece_length = BT_MAX_PIECE_LENGTH, .length = big));
	assert_int_equal(mi->npieces, 321);
	assert_int_equal(bt_metainfo_piece_size(mi, 320), 7);
	uint32_t first, last;
	bt_metainfo_range_pieces(mi, (uint64_t)1 << 34, 1, &first, &last);
	assert_int_equal(first, 256);
	assert_int_equal(last, 256);
	bt_metainfo_range_pieces(mi, (uint64_t)big - 1, 1, &first, &last);
	assert_int_equal(first, 320);
	assert_int_equal(last, 320);
	bt_metainfo_free(mi);

	/* private: any non-zero integer */
	mi = build_ok(SPEC(.piece_length = 1, .length = 1, .has_private = true,
			   .private_val = 0));
	assert_false(mi->private_flag);
	bt_metainfo_free(mi);
	mi = build_ok(SPEC(.piece_length = 1, .length = 1, .has_private = true,
			   .private_val = 1));
	assert_true(mi->private_flag);
	bt_metainfo_free(mi);
}

/* ---- piece mapping ------------------------------------------------------ */

static void expect_range(const struct bt_metainfo *mi, uint64_t off,
			 uint64_t len, uint32_t want_first, uint32_t want_last)
{
	uint32_t first = 77, last = 77;
	bt_metainfo_range_pieces(mi, off, len, &first, &last);
	if (first != want_first || last != want_last)
		fail_msg("range [%llu,+%llu): got %u..%u, want %u..%u",
			 (unsigned long long)off, (unsigned long long)len,
			 first, last, want_first, want_last);
}

static void expect_empty(const struct bt_metainfo *mi, uint64_t off,
			 uint64_t len)
{
	uint32_t first = 0, last = 0;
	bt_metainfo_range_pieces(mi, off, len, &first, &last);
	assert_true(first > last);
}

static void test_piece_mapping(void **state)
{
	(void)state;
	/* 10 | 0 | 40000 (spans 3 pieces) | 0 | 5 bytes, pieces of 16 KiB */
	struct bt_metainfo *mi =
		build_ok(SPEC(.piece_length = 16384,
			      FILES(F("a", 10), F("empty", 0), F("b", 40000),
				    F("c", 0), F("d", 5))));
	assert_int_equal(mi->total_length, 40015);
	assert_int_equal(mi->npieces, 3);
	static const uint64_t offs[] = {0, 10, 10, 40010, 40010};
	for (size_t i = 0; i < 5; i++)
		assert_true(mi->files[i].offset == offs[i]);

	assert_int_equal(bt_metainfo_piece_size(mi, 0), 16384);
	assert_int_equal(bt_metainfo_piece_size(mi, 1), 16384);
	assert_int_equal(bt_metainfo_piece_size(mi, 2), 40015 - 32768);
	assert_int_equal(bt_metainfo_piece_size(mi, 3), 0);
	assert_int_equal(bt_metainfo_piece_size(mi, UINT32_MAX), 0);

	expect_range(mi, 0, 10, 0, 0);	   /* file a */
	expect_range(mi, 10, 40000, 0, 2); /* file b spans all */
	expect_range(mi, 40010, 5, 2, 2);  /* file d, in the short piece */
	expect_range(mi, 16383, 1, 0, 0);
	expect_range(mi, 16383, 2, 0, 1);
	expect_range(mi, 16384, 16384, 1, 1);
	expect_range(mi, 16384, 16385, 1, 2);
	expect_range(mi, 0, 40015, 0, 2);
	expect_range(mi, 40014, 1, 2, 2);
	/* running past the end is clipped; no overflow */
	expect_range(mi, 40000, 1000000, 2, 2);
	expect_range(mi, 0, UINT64_MAX, 0, 2);
	expect_range(mi, 16384, UINT64_MAX - 100, 1, 2);
	/* empty: zero length (a 0-byte file) or past the end */
	expect_empty(mi, 10, 0);
	expect_empty(mi, 40015, 1);
	expect_empty(mi, UINT64_MAX, UINT64_MAX);
	bt_metainfo_free(mi);

	/* exact multiple: the last piece is full */
	mi = build_ok(SPEC(.piece_length = 16384, .length = 32768));
	assert_int_equal(mi->npieces, 2);
	assert_int_equal(bt_metainfo_piece_size(mi, 1), 16384);
	expect_range(mi, 32767, 1, 1, 1);
	bt_metainfo_free(mi);

	/* a hand-built struct without pieces maps nothing */
	struct bt_metainfo empty;
	memset(&empty, 0, sizeof(empty));
	expect_empty(&empty, 0, 1);
	assert_int_equal(bt_metainfo_piece_size(&empty, 0), 0);
}

/* ---- entry points ------------------------------------------------------- */

static void test_from_info(void **state)
{
	(void)state;
	struct bt_metainfo *mi = load_good("padded.torrent");
	struct bt_metainfo *m2 = NULL;
	char err[256];

	assert_int_equal(bt_metainfo_from_info(mi->info_raw, mi->info_len,
					       mi->info_hash, &m2, err,
					       sizeof(err)),
			 0);
	assert_memory_equal(m2->info_hash, mi->info_hash, 20);
	assert_int_equal(m2->nfiles, 4);
	assert_true(m2->private_flag);
	assert_int_equal(m2->info_len, mi->info_len);
	assert_memory_equal(m2->info_raw, mi->info_raw, mi->info_len);
	bt_metainfo_free(m2);

	/* one flipped byte: the hash no longer matches */
	uint8_t *copy = malloc(mi->info_len);
	memcpy(copy, mi->info_raw, mi->info_len);
	copy[mi->info_len / 2] ^= 1;
	m2 = (struct bt_metainfo *)1;
	assert_int_equal(bt_metainfo_from_info(copy, mi->info_len,
					       mi->info_hash, &m2, err,
					       sizeof(err)),
			 -EINVAL);
	assert_null(m2);
	assert_non_null(strstr(err, "info hash mismatch"));
	assert_non_null(strstr(err, mi->info_hash_hex));
	free(copy);

	/* right hash, wrong content: still checked as an info dict */
	const uint8_t list[] = "li1ee";
	uint8_t h[20];
	pfs_sha1(list, 5, h);
	assert_int_equal(
		bt_metainfo_from_info(list, 5, h, &m2, err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, "'info' is not a dictionary");
	const uint8_t nopieces[] = "d4:name1:xe";
	pfs_sha1(nopieces, 11, h);
	assert_int_equal(
		bt_metainfo_from_info(nopieces, 11, h, &m2, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "missing 'info'"));
	bt_metainfo_free(mi);
}

static void test_load_errors(void **state)
{
	(void)state;
	struct bt_metainfo *mi = (struct bt_metainfo *)1;
	char err[256] = "";
	assert_int_equal(bt_metainfo_load("tests/data/no-such.torrent", &mi,
					  err, sizeof(err)),
			 -ENOENT);
	assert_null(mi);
	assert_non_null(strstr(err, "no-such.torrent"));
	err[0] = '\0';
	assert_int_equal(bt_metainfo_load(BAD_DIR, &mi, err, sizeof(err)),
			 -EISDIR);
	assert_true(err[0]);
	/* NULL err is allowed everywhere */
	assert_int_equal(
		bt_metainfo_load(BAD_DIR "/empty.torrent", &mi, NULL, 0),
		-EINVAL);
	assert_int_equal(
		bt_metainfo_parse((const uint8_t *)"de", 2, &mi, NULL, 0),
		-EINVAL);
	bt_metainfo_free(NULL);
}

static void test_deterministic(void **state)
{
	(void)state;
	struct bt_metainfo *a = load_good("duplicates.torrent");
	struct bt_metainfo *b = load_good("duplicates.torrent");
	assert_int_equal(a->nfiles, b->nfiles);
	for (size_t i = 0; i < a->nfiles; i++)
		assert_string_equal(a->files[i].path, b->files[i].path);
	assert_string_equal(a->info_hash_hex, b->info_hash_hex);
	bt_metainfo_free(a);
	bt_metainfo_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mktorrent_multi),
		cmocka_unit_test(test_mktorrent_single),
		cmocka_unit_test(test_bad_dir),
		cmocka_unit_test(test_good_dir),
		cmocka_unit_test(test_dotdot_paths),
		cmocka_unit_test(test_utf8_names),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_sanitize_single),
		cmocka_unit_test(test_padded),
		cmocka_unit_test(test_trackers),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_piece_mapping),
		cmocka_unit_test(test_from_info),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
