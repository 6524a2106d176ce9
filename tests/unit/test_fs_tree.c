/* Unit tests for fs/: the inode tree (stable breadth-first inodes, sorted
 * children, pad files hidden, lookups and paths), the byte-range and
 * read-ahead arithmetic, the command-line parsers, size formatting and the
 * mount-table reader. No FUSE, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_cli.h"
#include "fs_tree.h"
#include "pfs_log.h"

#define MIB (1024u * 1024)

/* A hand-made multi-file metainfo; paths as given, lengths 1000 * (i+1). */
struct mi_fixture {
	struct bt_metainfo mi;
	struct bt_file files[64];
};

static void make_mi(struct mi_fixture *f, const char *name, bool multi,
		    const char *const *paths, const bool *pads, size_t n)
{
	memset(f, 0, sizeof(*f));
	f->mi.name = (char *)name;
	f->mi.multi_file = multi;
	f->mi.piece_length = 16384;
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		f->files[i].path = (char *)paths[i];
		f->files[i].length = 1000 * (i + 1);
		f->files[i].offset = off;
		f->files[i].pad = pads ? pads[i] : false;
		off += f->files[i].length;
	}
	f->mi.files = f->files;
	f->mi.nfiles = n;
	f->mi.total_length = off;
	f->mi.npieces = (uint32_t)((off + 16383) / 16384);
}

static uint64_t ino_of(const struct fs_tree *t, const char *path)
{
	const struct fs_node *n = fs_tree_resolve(t, path);
	return n ? fs_tree_ino(t, n) : 0;
}

static void test_single_file(void **state)
{
	(void)state;
	struct mi_fixture f;
	const char *paths[] = {"film.mkv"};
	make_mi(&f, "film.mkv", false, paths, NULL, 1);
	int err = 0;
	struct fs_tree *t = fs_tree_new(&f.mi, &err);
	assert_non_null(t);
	assert_int_equal(fs_tree_count(t), 2);
	const struct fs_node *root = fs_tree_get(t, FS_ROOT_INO);
	assert_true(root->dir);
	assert_int_equal(root->nchildren, 1);
	assert_int_equal(root->first, 2);
	assert_int_equal(root->nsubdirs, 0);
	const struct fs_node *n = fs_tree_lookup(t, FS_ROOT_INO, "film.mkv");
	assert_non_null(n);
	assert_false(n->dir);
	assert_int_equal(fs_tree_ino(t, n), 2);
	assert_int_equal(n->size, 1000);
	assert_int_equal(n->offset, 0);
	assert_int_equal(n->parent, FS_ROOT_INO);
	assert_null(fs_tree_lookup(t, FS_ROOT_INO, "film.mk"));
	assert_null(fs_tree_lookup(t, 2, "x"));   /* not a folder */
	assert_null(fs_tree_get(t, 0));
	assert_null(fs_tree_get(t, 3));
	assert_int_equal(ino_of(t, "/film.mkv"), 2);
	assert_int_equal(ino_of(t, ""), 1);
	assert_int_equal(ino_of(t, "/"), 1);
	fs_tree_free(t);
}

/* A single-file torrent whose one real file sits between pad files (a
 * sealed share's view of a one-file share): the root shows that file. */
static void test_single_file_padded(void **state)
{
	(void)state;
	struct mi_fixture f;
	const char *paths[] = {".pad/0", "film.mkv", ".pad/2"};
	const bool pads[] = {true, false, true};
	make_mi(&f, "film.mkv", false, paths, pads, 3);
	int err = 0;
	struct fs_tree *t = fs_tree_new(&f.mi, &err);
	assert_non_null(t);
	assert_int_equal(fs_tree_count(t), 2);
	const struct fs_node *n = fs_tree_lookup(t, FS_ROOT_INO, "film.mkv");
	assert_non_null(n);
	assert_int_equal(n->size, 2000);
	assert_int_equal(n->offset, 1000);
	assert_int_equal(n->file_index, 1);
	fs_tree_free(t);
}

static void test_multi_file_bfs(void **state)
{
	(void)state;
	struct mi_fixture f;
	const char *paths[] = {"b.txt", "a/z.bin", "a/b/c.txt", "a.txt",
			       ".pad/0", "a/b/a.txt", "c/d/e/f", "a/.pad"};
	const bool pads[] = {false, false, false, false, true, false, false,
			     true};
	make_mi(&f, "Trip", true, paths, pads, 8);
	int err = 0;
	struct fs_tree *t = fs_tree_new(&f.mi, &err);
	assert_non_null(t);
	/* 1 root, 2 Trip, 3 a/, 4 a.txt, 5 b.txt, 6 c/, 7 a/b/, 8 a/z.bin,
	 * 9 c/d/, 10 a/b/a.txt, 11 a/b/c.txt, 12 c/d/e/, 13 c/d/e/f */
	assert_int_equal(fs_tree_count(t), 13);
	assert_int_equal(ino_of(t, "Trip"), 2);
	assert_int_equal(ino_of(t, "Trip/a"), 3);
	assert_int_equal(ino_of(t, "Trip/a.txt"), 4);
	assert_int_equal(ino_of(t, "Trip/b.txt"), 5);
	assert_int_equal(ino_of(t, "Trip/c"), 6);
	assert_int_equal(ino_of(t, "Trip/a/b"), 7);
	assert_int_equal(ino_of(t, "Trip/a/z.bin"), 8);
	assert_int_equal(ino_of(t, "Trip/c/d"), 9);
	assert_int_equal(ino_of(t, "Trip/a/b/a.txt"), 10);
	assert_int_equal(ino_of(t, "Trip/a/b/c.txt"), 11);
	assert_int_equal(ino_of(t, "Trip/c/d/e"), 12);
	assert_int_equal(ino_of(t, "Trip/c/d/e/f"), 13);
	/* pad files are hidden, and so is a folder holding only pads */
	assert_int_equal(ino_of(t, "Trip/.pad"), 0);
	assert_int_equal(ino_of(t, "Trip/.pad/0"), 0);
	assert_int_equal(ino_of(t, "Trip/a/.pad"), 0);

	const struct fs_node *trip = fs_tree_get(t, 2);
	assert_true(trip->dir);
	assert_int_equal(trip->first, 3);
	assert_int_equal(trip->nchildren, 4);
	assert_int_equal(trip->nsubdirs, 2);
	assert_int_equal(fs_tree_get(t, 1)->nsubdirs, 1);
	const struct fs_node *a = fs_tree_get(t, 3);
	assert_int_equal(a->nchildren, 2);
	assert_int_equal(a->nsubdirs, 1);
	assert_int_equal(a->parent, 2);

	/* files map back to their metainfo entry */
	const struct fs_node *c = fs_tree_get(t, 11);
	assert_false(c->dir);
	assert_int_equal(c->file_index, 2);
	assert_int_equal(c->size, 3000);
	assert_int_equal(c->offset, f.files[2].offset);
	assert_int_equal(c->parent, 7);
	const struct fs_node *ff = fs_tree_get(t, 13);
	assert_int_equal(ff->file_index, 6);
	assert_string_equal(ff->name, "f");

	char buf[64];
	assert_int_equal(fs_tree_path(t, c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Trip/a/b/c.txt");
	assert_int_equal(fs_tree_path(t, fs_tree_get(t, 1), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(fs_tree_path(t, c, buf, 8), -ENAMETOOLONG);
	assert_string_equal(buf, "Trip/a/");
	fs_tree_free(t);
}

/* The inodes depend on the paths only, not on the order of `files`. */
static void test_stable(void **state)
{
	(void)state;
	struct mi_fixture f1, f2;
	const char *p1[] = {"x/1", "y", "x/2", "a b/c", "x/0/9", "Z"};
	const char *p2[] = {"Z", "x/0/9", "a b/c", "x/2", "y", "x/1"};
	make_mi(&f1, "T", true, p1, NULL, 6);
	make_mi(&f2, "T", true, p2, NULL, 6);
	struct fs_tree *t1 = fs_tree_new(&f1.mi, NULL);
	struct fs_tree *t2 = fs_tree_new(&f2.mi, NULL);
	assert_non_null(t1);
	assert_non_null(t2);
	assert_int_equal(fs_tree_count(t1), fs_tree_count(t2));
	char path[128];
	for (uint64_t i = 1; i <= fs_tree_count(t1); i++) {
		assert_int_equal(fs_tree_path(t1, fs_tree_get(t1, i), path,
					      sizeof(path)), 0);
		assert_int_equal(ino_of(t2, path), i);
	}
	/* byte order: "Z" < "a b" < "x" < "y" */
	assert_int_equal(ino_of(t1, "T/Z"), 3);
	assert_int_equal(ino_of(t1, "T/a b"), 4);
	fs_tree_free(t1);
	fs_tree_free(t2);
}

/* '/' sorts before every byte: "a/x" groups before "a.b", "a-c" (0x2d,
 * 0x2e < 0x2f) and children still come out in strcmp order. */
static void test_separator_order(void **state)
{
	(void)state;
	struct mi_fixture f;
	const char *paths[] = {"a.b", "a-c", "a/x", "a0", "a"};
	/* "a" as a file and "a/" as a folder cannot both come from the
	 * metainfo parser (it renames one); here: no "a" */
	make_mi(&f, "T", true, paths, NULL, 4);
	struct fs_tree *t = fs_tree_new(&f.mi, NULL);
	assert_non_null(t);
	const struct fs_node *d = fs_tree_get(t, 2);
	assert_int_equal(d->nchildren, 4);
	for (uint32_t i = 1; i < d->nchildren; i++)
		assert_true(strcmp(fs_tree_get(t, d->first + i - 1)->name,
				   fs_tree_get(t, d->first + i)->name) < 0);
	assert_true(fs_tree_resolve(t, "T/a")->dir);
	assert_non_null(fs_tree_resolve(t, "T/a/x"));
	assert_non_null(fs_tree_resolve(t, "T/a-c"));
	assert_non_null(fs_tree_resolve(t, "T/a.b"));
	assert_non_null(fs_tree_resolve(t, "T/a0"));
	fs_tree_free(t);
}

static void test_bad_paths(void **state)
{
	(void)state;
	struct mi_fixture f;
	const char *paths[] = {"", "/abs", "a//b", "trail/", "ok"};
	make_mi(&f, "T", true, paths, NULL, 5);
	struct fs_tree *t = fs_tree_new(&f.mi, NULL);
	assert_non_null(t);
	assert_int_equal(fs_tree_count(t), 3);
	assert_int_equal(ino_of(t, "T/ok"), 3);
	fs_tree_free(t);

	/* an empty multi-file torrent (only pads) is an empty folder */
	const bool pads[] = {true};
	make_mi(&f, "T", true, paths + 4, pads, 1);
	t = fs_tree_new(&f.mi, NULL);
	assert_non_null(t);
	assert_int_equal(fs_tree_count(t), 2);
	assert_int_equal(fs_tree_get(t, 2)->nchildren, 0);
	assert_null(fs_tree_lookup(t, 2, "ok"));
	fs_tree_free(t);

	/* a top name with '/' is refused */
	int err = 0;
	make_mi(&f, "a/b", true, paths + 4, NULL, 1);
	assert_null(fs_tree_new(&f.mi, &err));
	assert_int_equal(err, -EINVAL);
}

static void test_many_files(void **state)
{
	(void)state;
	enum { N = 5000 };
	struct bt_metainfo mi;
	memset(&mi, 0, sizeof(mi));
	struct bt_file *files = calloc(N, sizeof(*files));
	char (*names)[32] = calloc(N, 32);
	assert_non_null(files);
	assert_non_null(names);
	uint64_t off = 0;
	for (int i = 0; i < N; i++) {
		/* deterministic shuffle of dirs d0..d49 / sub0..9 / fNNN */
		int k = (i * 7919) % N;
		snprintf(names[i], 32, "d%d/sub%d/f%d", k % 50, (k / 50) % 10, k);
		files[i].path = names[i];
		files[i].length = (uint64_t)k + 1;
		files[i].offset = off;
		off += files[i].length;
	}
	mi.name = "big";
	mi.multi_file = true;
	mi.piece_length = 16384;
	mi.files = files;
	mi.nfiles = N;
	struct fs_tree *t = fs_tree_new(&mi, NULL);
	assert_non_null(t);
	/* 1 root + 1 top + 50 dirs + 500 subdirs + N files */
	assert_int_equal(fs_tree_count(t), 2 + 50 + 500 + N);
	char path[128];
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "big/%s", names[i]);
		const struct fs_node *n = fs_tree_resolve(t, path);
		assert_non_null(n);
		assert_int_equal(n->file_index, i);
		assert_int_equal(n->offset, files[i].offset);
	}
	for (uint64_t i = 1; i <= fs_tree_count(t); i++) {
		const struct fs_node *d = fs_tree_get(t, i);
		if (!d->dir)
			continue;
		for (uint32_t c = 0; c < d->nchildren; c++) {
			const struct fs_node *ch = fs_tree_get(t, d->first + c);
			assert_int_equal(ch->parent, i);
			if (c)
				assert_true(strcmp(fs_tree_get(t, d->first + c - 1)->name,
						   ch->name) < 0);
		}
	}
	fs_tree_free(t);
	free(files);
	free(names);
}

static void test_read_clip(void **state)
{
	(void)state;
	assert_int_equal(fs_read_clip(1000, 0, 4096), 1000);
	assert_int_equal(fs_read_clip(1000, 999, 4096), 1);
	assert_int_equal(fs_read_clip(1000, 1000, 4096), 0);
	assert_int_equal(fs_read_clip(1000, 5000, 4096), 0);
	assert_int_equal(fs_read_clip(0, 0, 4096), 0);
	assert_int_equal(fs_read_clip(1 << 20, 4096, 4096), 4096);
	uint32_t a, b;
	fs_range_pieces(16384, 0, 1, &a, &b);
	assert_int_equal(a, 0);
	assert_int_equal(b, 0);
	fs_range_pieces(16384, 16383, 2, &a, &b);
	assert_int_equal(a, 0);
	assert_int_equal(b, 1);
	fs_range_pieces(16384, 16384, 16384, &a, &b);
	assert_int_equal(a, 1);
	assert_int_equal(b, 1);
	fs_range_pieces(16384, 5ull << 32, 16384 * 3, &a, &b);
	assert_int_equal(a, (5ull << 32) / 16384);
	assert_int_equal(b, a + 2);
}

static void test_readahead(void **state)
{
	(void)state;
	const uint32_t pl = 256 * 1024; /* 2 MiB = 8 pieces > 2 pieces */
	const uint64_t foff = 10ull * pl + 1000; /* file starts mid-piece */
	const uint64_t fsize = 1000ull * MIB;
	struct fs_ra ra;
	struct fs_ra_step st;
	uint32_t f, l;
	fs_ra_init(&ra, pl);
	assert_int_equal(ra.start, 2 * MIB);
	assert_int_equal(ra.max, 64 * MIB);
	assert_false(fs_ra_release(&ra, &f, &l)); /* nothing held yet */

	/* the first read fetches nothing ahead: it may be a lone read */
	fs_ra_update(&ra, pl, foff, fsize, 0, 128 * 1024, &st);
	assert_false(st.fetch);
	assert_false(st.drop);
	/* the second, sequential one starts the window after the cursor */
	fs_ra_update(&ra, pl, foff, fsize, 128 * 1024, 128 * 1024, &st);
	assert_true(st.fetch);
	assert_false(st.drop);
	assert_int_equal(ra.window, 2 * MIB + 256 * 1024);
	assert_int_equal(st.first, (foff + 256 * 1024 - 1) / pl + 1);
	assert_int_equal(st.last, (foff + 256 * 1024 + ra.window - 1) / pl);
	assert_int_equal(st.dist, 1);
	uint32_t held = st.first, until = st.last;
	/* a read a little behind the cursor (parallel read-ahead) is no seek */
	uint64_t w0 = ra.window;
	fs_ra_update(&ra, pl, foff, fsize, 64 * 1024, 64 * 1024, &st);
	assert_false(st.drop);
	assert_int_equal(ra.cursor, 256 * 1024);
	assert_true(ra.window > w0);
	if (st.fetch) {
		assert_int_equal(st.first, until + 1);
		until = st.last;
	}
	/* many sequential reads: the window stops at max, pieces never twice,
	 * the frontier runs ahead of the cursor */
	uint64_t off = 256 * 1024;
	for (int i = 0; i < 2000; i++, off += 128 * 1024) {
		fs_ra_update(&ra, pl, foff, fsize, off, 128 * 1024, &st);
		assert_false(st.drop);
		if (st.fetch) {
			assert_int_equal(st.first, until + 1);
			assert_true(st.last >= st.first);
			assert_true(st.dist >= 1);
			until = st.last;
		}
	}
	assert_int_equal(ra.window, 64 * MIB);
	assert_int_equal(until, (foff + off + 64 * MIB - 1) / pl);

	/* a seek gives back the whole run and fetches nothing yet */
	fs_ra_update(&ra, pl, foff, fsize, 500 * MIB, 4096, &st);
	assert_true(st.drop);
	assert_int_equal(st.drop_first, held);
	assert_int_equal(st.drop_last, until);
	assert_false(st.fetch);
	assert_int_equal(ra.window, 2 * MIB);
	/* going on from there starts a new window */
	fs_ra_update(&ra, pl, foff, fsize, 500 * MIB + 4096, 4096, &st);
	assert_true(st.fetch);
	assert_false(st.drop);
	assert_int_equal(st.first, (foff + 500 * MIB + 8192 - 1) / pl + 1);
	held = st.first;
	until = st.last;
	/* release gives back what the handle holds, once */
	assert_true(fs_ra_release(&ra, &f, &l));
	assert_int_equal(f, held);
	assert_int_equal(l, until);
	assert_false(fs_ra_release(&ra, &f, &l));

	/* a seek backwards too; clipped to the file's last piece */
	fs_ra_update(&ra, pl, foff, fsize, 0, 4096, &st);
	assert_false(st.drop); /* released above */
	fs_ra_update(&ra, pl, foff, fsize, fsize - 1 * MIB, 4096, &st);
	fs_ra_update(&ra, pl, foff, fsize, fsize - 1 * MIB + 4096, 4096, &st);
	assert_true(st.fetch);
	assert_int_equal(st.last, (foff + fsize - 1) / pl);
	/* nothing past the end */
	fs_ra_update(&ra, pl, foff, fsize, fsize - 4096, 4096, &st);
	fs_ra_update(&ra, pl, foff, fsize, fsize - 4096, 4096, &st);
	assert_false(st.fetch);
	fs_ra_update(&ra, pl, foff, fsize, fsize, 4096, &st);
	assert_false(st.fetch);
	assert_false(st.drop);

	/* big pieces: the window is 2 pieces */
	fs_ra_init(&ra, 16 * MIB);
	assert_int_equal(ra.start, 32 * MIB);
	assert_int_equal(ra.max, 64 * MIB);
	fs_ra_update(&ra, 16 * MIB, 0, fsize, 0, 4096, &st);
	fs_ra_update(&ra, 16 * MIB, 0, fsize, 4096, 4096, &st);
	assert_true(st.fetch);
	assert_int_equal(st.first, 1);
	assert_int_equal(st.last, 2);
	/* a small file inside one piece: nothing beyond its piece */
	fs_ra_init(&ra, pl);
	fs_ra_update(&ra, pl, 100, 5000, 0, 4096, &st);
	fs_ra_update(&ra, pl, 100, 5000, 4096, 904, &st);
	assert_false(st.fetch);
}

static int parse_mount(struct fs_cli_mount *m, char *err, size_t len, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, len);
	argv[argc++] = "mount";
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return fs_cli_parse_mount(argc, argv, m, err, len);
}

static void test_cli_mount(void **state)
{
	(void)state;
	struct fs_cli_mount m;
	char err[128];
	assert_int_equal(parse_mount(&m, err, sizeof(err), "-f", "-o",
				     "allow_other", "--cache", "/c", "--port",
				     "6881", "--bind", "127.0.0.1", "--peer",
				     "127.0.0.2:6902", "--peer=[::1]:7", "-vv",
				     "--no-trackers", "--log", "/l", "-o", "ro",
				     "--max-peers", "9", "x.torrent", "/mnt",
				     NULL), 0);
	assert_true(m.foreground);
	assert_false(m.debug);
	assert_string_equal(m.fuse_opts, "allow_other,ro");
	assert_string_equal(m.eng.cache_dir, "/c");
	assert_int_equal(m.eng.port, 6881);
	assert_string_equal(m.eng.bind_ip, "127.0.0.1");
	assert_int_equal(m.eng.npeers, 2);
	assert_string_equal(m.eng.peers[0], "127.0.0.2:6902");
	assert_string_equal(m.eng.peers[1], "[::1]:7");
	assert_int_equal(m.eng.verbose, 2);
	assert_true(m.eng.no_trackers);
	assert_string_equal(m.eng.log_file, "/l");
	assert_int_equal(m.eng.max_peers, 9);
	assert_string_equal(m.torrent, "x.torrent");
	assert_string_equal(m.mountpoint, "/mnt");
	fs_cli_mount_release(&m);

	/* options after the operands; -d implies -f; defaults */
	assert_int_equal(parse_mount(&m, err, sizeof(err), "x.torrent", "/mnt",
				     "-d", NULL), 0);
	assert_true(m.debug);
	assert_true(m.foreground);
	assert_null(m.fuse_opts);
	assert_null(m.eng.cache_dir);
	assert_int_equal(m.eng.port, 0);
	assert_int_equal(m.eng.npeers, 0);
	assert_int_equal(m.eng.verbose, 0);
	fs_cli_mount_release(&m);

	assert_int_equal(parse_mount(&m, err, sizeof(err), "--help", NULL), 0);
	assert_true(m.help);
	fs_cli_mount_release(&m);

	struct {
		const char *a, *b, *c;
		const char *msg;
	} bad[] = {
		{"x.torrent", NULL, NULL, "need a torrent file and a mount point"},
		{"a", "b", "c", "too many arguments"},
		{"--port", "65536", "x", "bad port '65536' (want 0..65535)"},
		{"--port", "-1", "x", "bad port '-1' (want 0..65535)"},
		{"--port", "12ab", "x", "bad port '12ab' (want 0..65535)"},
		{"--max-peers", "0", "x", "bad peer limit '0' (want 1..10000)"},
		{"--frob", "a", "b", "unknown option '--frob'"},
		{"-x", "a", "b", "unknown option '-x'"},
		{"a", "b", "--cache", "option '--cache' needs an argument"},
		{"a", "b", "-o", "option '-o' needs an argument"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_mount(&m, err, sizeof(err), bad[i].a,
					     bad[i].b, bad[i].c, NULL), -EINVAL);
		assert_string_equal(err, bad[i].msg);
		fs_cli_mount_release(&m);
	}
}

static void test_cli_rate(void **state)
{
	(void)state;
	struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{"0", 0},
		{"1", 1},
		{"65536", 65536},
		{"500K", 500 * 1024},
		{"500k", 500 * 1024},
		{"10M", 10u << 20},
		{"1.5m", 3u << 19},
		{"0.5K", 512},
		{"2G", 2ull << 30},
		{"1024G", 1ull << 40},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 12345;
		assert_int_equal(fs_cli_parse_rate(good[i].s, &v), 0);
		assert_int_equal(v, good[i].v);
	}
	const char *bad[] = {"", "K", "-1", "+1", " 1", "1 ", "1.", ".5",
			     "1KB", "1T", "1e6", "0x10", "nan", "1025G",
			     "99999999999999999999", "18446744073709551616K"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 7;
		assert_int_equal(fs_cli_parse_rate(bad[i], &v), -EINVAL);
		assert_int_equal(v, 7);
	}
	struct fs_cli_mount m;
	char err[128];
	assert_int_equal(parse_mount(&m, err, sizeof(err), "--max-up", "1M",
				     "--max-down=300K", "x", "/m", NULL), 0);
	assert_int_equal(m.eng.max_up, 1u << 20);
	assert_int_equal(m.eng.max_down, 300 * 1024);
	fs_cli_mount_release(&m);
	assert_int_equal(parse_mount(&m, err, sizeof(err), "--max-up", "fast",
				     "x", "/m", NULL), -EINVAL);
	assert_string_equal(err, "bad rate 'fast' (want bytes/s, e.g. 500K or "
				 "10M; 0 = no limit)");
	fs_cli_mount_release(&m);
}

static int parse_seed(struct fs_cli_seed *m, char *err, size_t len, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, len);
	argv[argc++] = "seed";
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return fs_cli_parse_seed(argc, argv, m, err, len);
}

static void test_cli_seed(void **state)
{
	(void)state;
	struct fs_cli_seed m;
	char err[128];
	assert_int_equal(parse_seed(&m, err, sizeof(err), "-f", "--port",
				    "6881", "--bind", "127.0.0.1", "--peer",
				    "127.0.0.2:6902", "--peer=[::1]:7", "-v",
				    "--no-trackers", "--log", "/l", "--partial",
				    "--threads", "3", "--max-peers", "9",
				    "x.torrent", "/data/Trip", NULL),
			 0);
	assert_true(m.foreground);
	assert_int_equal(m.eng.port, 6881);
	assert_string_equal(m.eng.bind_ip, "127.0.0.1");
	assert_int_equal(m.eng.npeers, 2);
	assert_string_equal(m.eng.peers[1], "[::1]:7");
	assert_int_equal(m.eng.verbose, 1);
	assert_true(m.eng.no_trackers);
	assert_true(m.partial);
	assert_int_equal(m.threads, 3);
	assert_int_equal(m.eng.max_peers, 9);
	assert_string_equal(m.eng.log_file, "/l");
	assert_string_equal(m.torrent, "x.torrent");
	assert_string_equal(m.path, "/data/Trip");
	fs_cli_seed_release(&m);

	assert_int_equal(parse_seed(&m, err, sizeof(err), "x.torrent", "p",
				    NULL),
			 0);
	assert_false(m.foreground || m.partial || m.eng.no_trackers);
	assert_int_equal(m.eng.port, 0);
	assert_int_equal(m.threads, 0);
	fs_cli_seed_release(&m);
	assert_int_equal(parse_seed(&m, err, sizeof(err), "--help", NULL), 0);
	assert_true(m.help);
	fs_cli_seed_release(&m);

	assert_int_equal(parse_seed(&m, err, sizeof(err), "x.torrent", NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "need a torrent"));
	fs_cli_seed_release(&m);
	assert_int_equal(parse_seed(&m, err, sizeof(err), "a", "b", "c", NULL),
			 -EINVAL);
	fs_cli_seed_release(&m);
	assert_int_equal(parse_seed(&m, err, sizeof(err), "--threads", "0",
				    "a", "b", NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "thread"));
	fs_cli_seed_release(&m);
	assert_int_equal(parse_seed(&m, err, sizeof(err), "--port", "70000",
				    "a", "b", NULL),
			 -EINVAL);
	fs_cli_seed_release(&m);
	assert_int_equal(parse_seed(&m, err, sizeof(err), "--cache", "/c",
				    "--recheck", "a", "b", NULL),
			 0);
	assert_string_equal(m.eng.cache_dir, "/c");
	assert_true(m.recheck);
	fs_cli_seed_release(&m);
	/* mount's options are not seed's */
	assert_int_equal(parse_seed(&m, err, sizeof(err), "-o", "ro", "a", "b",
				    NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "-o"));
	fs_cli_seed_release(&m);

	struct fs_cli_mount mm;
	assert_int_equal(parse_mount(&mm, err, sizeof(err), "--seed-after",
				     "x.torrent", "/mnt", NULL),
			 0);
	assert_true(mm.seed_after);
	fs_cli_mount_release(&mm);
	assert_int_equal(parse_mount(&mm, err, sizeof(err), "x.torrent", "/mnt",
				     NULL),
			 0);
	assert_false(mm.seed_after);
	fs_cli_mount_release(&mm);
}

static void test_cli_one(void **state)
{
	(void)state;
	char err[128];
	const char *op = NULL;
	char *a1[] = {"umount", "/mnt", NULL};
	assert_int_equal(fs_cli_parse_one(2, a1, &op, err, sizeof(err)), 0);
	assert_string_equal(op, "/mnt");
	char *a2[] = {"info", "--help", NULL};
	assert_int_equal(fs_cli_parse_one(2, a2, &op, err, sizeof(err)), 1);
	char *a3[] = {"info", NULL};
	assert_int_equal(fs_cli_parse_one(1, a3, &op, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "missing operand");
	char *a4[] = {"info", "a", "b", NULL};
	assert_int_equal(fs_cli_parse_one(3, a4, &op, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "too many arguments");
	char *a5[] = {"info", "-q", "a", NULL};
	assert_int_equal(fs_cli_parse_one(3, a5, &op, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown option '-q'");
}

static void test_human_size(void **state)
{
	(void)state;
	char b[32];
	struct {
		uint64_t n;
		const char *s;
	} cases[] = {
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{262144, "256.0 KiB"},
		{1048575, "1.0 MiB"},
		{734003200, "700.0 MiB"},
		{1288490188, "1.2 GiB"},
		{UINT64_MAX, "16.0 EiB"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fs_cli_human_size(cases[i].n, b, sizeof(b));
		assert_string_equal(b, cases[i].s);
	}
}

static const char mountinfo[] =
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	"40 22 0:44 / /mnt/film rw,nosuid,nodev,relatime shared:20 - "
	"fuse.sshfs host: rw,user_id=0\n"
	"41 40 0:45 / /mnt/film rw,nosuid,nodev,relatime shared:21 - "
	"fuse.p2pfs p2pfs ro,user_id=0,group_id=0\n"
	"42 22 0:46 / /mnt/my\\040film rw,nosuid shared:22 - fuse.p2pfs p2pfs ro\n"
	"43 22 0:47 / /tmp/x rw - tmpfs tmpfs rw"; /* no final newline */

static void test_mountinfo(void **state)
{
	(void)state;
	char dev[64], type[64];
	assert_int_equal(fs_mountinfo_find(mountinfo, "/mnt/film", dev,
					   sizeof(dev), type, sizeof(type)), 0);
	assert_string_equal(dev, "0:45"); /* the topmost mount wins */
	assert_string_equal(type, "fuse.p2pfs");
	assert_int_equal(fs_mountinfo_find(mountinfo, "/mnt/my film", dev,
					   sizeof(dev), type, sizeof(type)), 0);
	assert_string_equal(dev, "0:46");
	assert_int_equal(fs_mountinfo_find(mountinfo, "/tmp/x", dev, sizeof(dev),
					   type, sizeof(type)), 0);
	assert_string_equal(type, "tmpfs");
	assert_int_equal(fs_mountinfo_find(mountinfo, "/mnt", dev, sizeof(dev),
					   type, sizeof(type)), -ENOENT);
	assert_int_equal(fs_mountinfo_find("", "/", dev, sizeof(dev), type,
					   sizeof(type)), -ENOENT);
	assert_true(fs_mountinfo_has_dev(mountinfo, "0:45"));
	assert_true(fs_mountinfo_has_dev(mountinfo, "0:47"));
	assert_false(fs_mountinfo_has_dev(mountinfo, "0:4"));
	assert_false(fs_mountinfo_has_dev(mountinfo, "0:48"));
	/* garbage does not crash */
	assert_false(fs_mountinfo_has_dev("x\n\n \\\\\\ 1 2\n", "1:2"));
	assert_int_equal(fs_mountinfo_find("1 2 3:4 / /a\\0\n", "/a", dev,
					   sizeof(dev), type, sizeof(type)),
			 -ENOENT);
}

static void test_nosource(void **state)
{
	(void)state;
	assert_int_equal(fs_nosource_after(0), FS_NOSOURCE_MS);
	assert_int_equal(fs_nosource_after(120000), FS_NOSOURCE_MS);
	assert_int_equal(fs_nosource_after(5000), 5000);
	struct fs_nosource ns = {0};
	const uint64_t A = 30000;
	/* no source from t=1000: quiet until A later, then one warning */
	assert_int_equal(fs_nosource_step(&ns, 1000, false, false, A),
			 FS_NOSOURCE_QUIET);
	assert_int_equal(ns.since, 1000);
	assert_int_equal(fs_nosource_step(&ns, 30999, false, false, A),
			 FS_NOSOURCE_QUIET);
	assert_int_equal(fs_nosource_step(&ns, 31000, false, false, A),
			 FS_NOSOURCE_WARN);
	for (uint64_t t = 32000; t < 100000; t += 1000)
		assert_int_equal(fs_nosource_step(&ns, t, false, false, A),
				 FS_NOSOURCE_QUIET); /* once */
	/* a source: said once, and the clock starts again */
	assert_int_equal(fs_nosource_step(&ns, 100000, true, false, A),
			 FS_NOSOURCE_BACK);
	assert_int_equal(ns.since, 0);
	assert_int_equal(fs_nosource_step(&ns, 101000, true, false, A),
			 FS_NOSOURCE_QUIET);
	/* a short outage says nothing, coming back from it neither */
	assert_int_equal(fs_nosource_step(&ns, 102000, false, false, A),
			 FS_NOSOURCE_QUIET);
	assert_int_equal(fs_nosource_step(&ns, 110000, true, false, A),
			 FS_NOSOURCE_QUIET);
	/* complete: nothing is needed, never a warning */
	for (uint64_t t = 120000; t < 200000; t += 5000)
		assert_int_equal(fs_nosource_step(&ns, t, false, true, A),
				 FS_NOSOURCE_QUIET);
	/* a warned outage that ends with the torrent complete is no "back" */
	ns = (struct fs_nosource){0};
	fs_nosource_step(&ns, 1000, false, false, A);
	assert_int_equal(fs_nosource_step(&ns, 40000, false, false, A),
			 FS_NOSOURCE_WARN);
	assert_int_equal(fs_nosource_step(&ns, 41000, false, true, A),
			 FS_NOSOURCE_QUIET);
	assert_false(ns.warned);
}

int main(void)
{
	pfs_log_set_level(PFS_LOG_ERROR); /* bad paths are warned about */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_file),
		cmocka_unit_test(test_single_file_padded),
		cmocka_unit_test(test_multi_file_bfs),
		cmocka_unit_test(test_stable),
		cmocka_unit_test(test_separator_order),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_many_files),
		cmocka_unit_test(test_read_clip),
		cmocka_unit_test(test_readahead),
		cmocka_unit_test(test_cli_mount),
		cmocka_unit_test(test_cli_rate),
		cmocka_unit_test(test_cli_seed),
		cmocka_unit_test(test_cli_one),
		cmocka_unit_test(test_human_size),
		cmocka_unit_test(test_mountinfo),
		cmocka_unit_test(test_nosource),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
