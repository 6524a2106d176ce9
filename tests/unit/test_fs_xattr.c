/* Unit tests for fs_xattr (the values of the p2pfs xattrs: stats
 * round-trip, peer lines, client names, flags, progress bars, the records
 * of user.p2pfs.sources/.reading, the lines of `p2pfs status`), and for the
 * pure helpers the cache limit added elsewhere in fs/: fs_cli_parse_size,
 * mount's --cache-size, fs_ra_limit and fs_ra_pin_window. No FUSE, no
 * network. */
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
#include "fs_xattr.h"
#include "bt_addrbook.h"

#define MIB (1024ull * 1024)

static void test_stats_roundtrip(void **state)
{
	(void)state;
	struct fs_xattr_stats st =
				  {
				      .down_rate = 1234567,
				      .up_rate = 89,
				      .downloaded = 1ull << 40,
				      .uploaded = 7,
				      .peers = 3,
				      .seeds = 2,
				      .have = 12,
				      .npieces = 40,
				      .hash_fails = 1,
				      .cache_used = 8 * MIB,
				      .cache_limit = 8 * MIB,
				      .evictions = UINT64_MAX,
				  },
			      back;
	char buf[1024];
	int n = fs_xattr_stats_format(&st, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_non_null(strstr(buf, "down_rate 1234567\n"));
	assert_non_null(strstr(buf, "pieces_have 12\npieces_total 40\n"));
	assert_non_null(strstr(buf, "evictions 18446744073709551615\n"));
	assert_int_equal(fs_xattr_stats_parse(buf, (size_t)n, &back), 0);
	assert_memory_equal(&st, &back, sizeof(st));

	/* too small: -ERANGE, never a cut value */
	assert_int_equal(fs_xattr_stats_format(&st, buf, 20), -ERANGE);
	assert_int_equal(fs_xattr_stats_format(&st, buf, 0), -ERANGE);
	assert_int_equal(fs_xattr_stats_format(&st, buf, (size_t)n), -ERANGE);
	assert_int_equal(fs_xattr_stats_format(&st, buf, (size_t)n + 1), n);

	/* unknown keys and any order are fine; missing or bad values not */
	const char *ok =
	    "new_key 5\nevictions 1\ncache_limit 0\ncache_used 9\n"
	    "hash_fails 0\npieces_total 4\npieces_have 4\nseeds 0\n"
	    "peers 0\nuploaded 0\ndownloaded 0\nup_rate 0\n"
	    "down_rate 0";
	assert_int_equal(fs_xattr_stats_parse(ok, strlen(ok), &back), 0);
	assert_int_equal(back.npieces, 4);
	assert_int_equal(back.cache_used, 9);
	const char *bad[] = {
	    "",
	    "down_rate 1\n",
	    "peers x\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    fs_xattr_stats_parse(bad[i], strlen(bad[i]), &back),
		    -EINVAL);
	char mod[1024];
	memcpy(mod, buf, (size_t)n);
	char *p = strstr(mod, "peers 3");
	p[6] = '-'; /* "peers -" */
	assert_int_equal(fs_xattr_stats_parse(mod, (size_t)n, &back), -EINVAL);
	memcpy(mod, buf, (size_t)n);
	p = strstr(mod, "seeds 2\n");
	memcpy(p, "seeds 99999999999", 17); /* overflows a u32, eats a line */
	assert_int_equal(fs_xattr_stats_parse(mod, (size_t)n, &back), -EINVAL);
	/* a value is only read within its length */
	size_t cut = (size_t)(strstr(buf, "evictions ") - buf) + 10;
	assert_int_equal(fs_xattr_stats_parse(buf, cut, &back), -EINVAL);
	/* the keys added later are optional (an older daemon), but when
	 * present they must be numbers */
	assert_int_equal(fs_xattr_stats_parse(ok, strlen(ok), &back), 0);
	assert_int_equal(back.reads_waiting, 0);
	assert_int_equal(back.no_source_secs, 0);
	st.reads_waiting = 3;
	st.read_timeouts = 4;
	st.no_source_secs = 31;
	n = fs_xattr_stats_format(&st, buf, sizeof(buf));
	assert_non_null(strstr(buf, "reads_waiting 3\nread_timeouts 4\n"
				    "no_source_secs 31\n"));
	assert_int_equal(fs_xattr_stats_parse(buf, (size_t)n, &back), 0);
	assert_memory_equal(&st, &back, sizeof(st));
	memcpy(mod, buf, (size_t)n);
	p = strstr(mod, "no_source_secs 31");
	p[15] = 'x';
	assert_int_equal(fs_xattr_stats_parse(mod, (size_t)n, &back), -EINVAL);
}

static void id(uint8_t out[20], const char *s)
{
	memset(out, 0xee, 20);
	memcpy(out, s, strlen(s));
}

static void test_client(void **state)
{
	(void)state;
	uint8_t pid[20];
	char out[32];
	struct {
		const char *id, *want;
	} cases[] = {
	    {"-TR3000-", "Transmission/3000"},
	    {"-qB4630-", "qBittorrent/4630"},
	    {"-PF0100-", "p2pfs/0100"},
	    {"-ZZ12\x01"
	     "4-",
	     "ZZ/12?4"},
	    {"A2-1-36-0-", "aria2/1.36.0"},
	    {"A2-1-37-12-", "aria2/1.37.12"},
	    {"A2-x", "aria2/?"},
	    {"M7-2-0--", "M7-2-0--"},
	    {"\x01\x02", "unknown"},
	    {"ab cd", "ab"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		id(pid, cases[i].id);
		fs_xattr_client(pid, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
		assert_null(strchr(out, ' '));
	}
	id(pid, "-TR3000-");
	fs_xattr_client(pid, out, 6);
	assert_string_equal(out, "Trans");
}

static void test_peers(void **state)
{
	(void)state;
	struct bt_peer_info p[3];
	char flags[8], buf[256];
	memset(p, 0, sizeof(p));
	fs_xattr_flags(&p[0], flags);
	assert_string_equal(flags, "-");
	p[0].am_interested = true;
	p[0].peer_choking = true;
	p[0].peer_interested = true;
	p[0].am_choking = true;
	fs_xattr_flags(&p[0], flags);
	assert_string_equal(flags, "du");
	p[0].peer_choking = p[0].am_choking = false;
	p[0].incoming = p[0].seed = p[0].fast = true;
	fs_xattr_flags(&p[0], flags);
	assert_string_equal(flags, "DUISF");
	/* encrypted: E for RC4, e for an MSE handshake with plaintext after */
	p[0].mse = p[0].encrypted = true;
	fs_xattr_flags(&p[0], flags);
	assert_string_equal(flags, "DUISFE");
	p[0].encrypted = false;
	fs_xattr_flags(&p[0], flags);
	assert_string_equal(flags, "DUISFe");
	p[0].mse = false;

	snprintf(p[0].addr, sizeof(p[0].addr), "127.0.0.2:6881");
	id(p[0].peer_id, "A2-1-36-0-");
	p[0].down_rate = 1500.7;
	p[0].up_rate = 3;
	p[0].src = BT_SRC_TRACKER | BT_SRC_DHT;
	snprintf(p[1].addr, sizeof(p[1].addr), "[::1]:7 x\n"); /* odd text */
	id(p[1].peer_id, "-TR3000-");
	size_t n = fs_xattr_peers_format(p, 2, buf, sizeof(buf));
	assert_int_equal(
	    n, strlen("127.0.0.2:6881 aria2/1.36.0 1500 3 DUISF tracker+dht\n"
		      "[::1]:7?x? Transmission/3000 0 0 - -\n"));
	assert_memory_equal(
	    buf,
	    "127.0.0.2:6881 aria2/1.36.0 1500 3 DUISF tracker+dht\n"
	    "[::1]:7?x? Transmission/3000 0 0 - -\n",
	    n);

	/* whole lines only */
	size_t one = fs_xattr_peers_format(p, 2, buf, 57);
	assert_int_equal(
	    one, strlen("127.0.0.2:6881 aria2/1.36.0 1500 3 DUISF tracker+dht\n"));
	assert_int_equal(fs_xattr_peers_format(p, 2, buf, 10), 0);
	assert_int_equal(fs_xattr_peers_format(p, 0, buf, sizeof(buf)), 0);

	/* and back */
	struct fs_xattr_peer q;
	const char *l = "127.0.0.2:6881 aria2/1.36.0 1500 3 DUISF";
	assert_int_equal(fs_xattr_peer_parse(l, strlen(l), &q), 0);
	assert_string_equal(q.addr, "127.0.0.2:6881");
	assert_string_equal(q.client, "aria2/1.36.0");
	assert_int_equal(q.down_rate, 1500);
	assert_int_equal(q.up_rate, 3);
	assert_string_equal(q.flags, "DUISF");
	assert_string_equal(q.source, ""); /* an older daemon's line */
	const char *l6 = "127.0.0.2:6881 aria2/1.36.0 1500 3 DUISF pex+incoming";
	assert_int_equal(fs_xattr_peer_parse(l6, strlen(l6), &q), 0);
	assert_string_equal(q.flags, "DUISF");
	assert_string_equal(q.source, "pex+incoming");
	char src[48];
	fs_xattr_source(0, src, sizeof(src));
	assert_string_equal(src, "-");
	fs_xattr_source(BT_SRC_MANUAL | BT_SRC_TRACKER | BT_SRC_DHT |
			    BT_SRC_PEX | BT_SRC_LSD | BT_SRC_INCOMING,
			src, sizeof(src));
	assert_string_equal(src, "manual+tracker+dht+pex+lsd+incoming");
	fs_xattr_source(BT_SRC_LSD, src, sizeof(src));
	assert_string_equal(src, "lsd");
	const char *bad[] = {
	    "",
	    "a b c d",
	    "a b 1 2 F src extra",
	    "a b x 2 F",
	    "a b 1 -2 F",
	    "a b 1 99999999999999999999999 F",
	    "a b 1 2 FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    fs_xattr_peer_parse(bad[i], strlen(bad[i]), &q), -EINVAL);
	/* only LEN bytes count */
	assert_int_equal(fs_xattr_peer_parse(l, 20, &q), -EINVAL);
}

static void test_bar(void **state)
{
	(void)state;
	char b[11];
	fs_xattr_bar(0, b, 10);
	assert_string_equal(b, "..........");
	fs_xattr_bar(37.5, b, 10);
	assert_string_equal(b, "###.......");
	fs_xattr_bar(99.99, b, 10);
	assert_string_equal(b, "#########.");
	fs_xattr_bar(100, b, 10);
	assert_string_equal(b, "##########");
	fs_xattr_bar(250, b, 10);
	assert_string_equal(b, "##########");
	fs_xattr_bar(-3, b, 10);
	assert_string_equal(b, "..........");
	fs_xattr_bar(0.0 / 0.0, b, 10);
	assert_string_equal(b, "..........");
	fs_xattr_bar(50, b, 0);
	assert_string_equal(b, "");
}

static void test_parse_size(void **state)
{
	(void)state;
	struct {
		const char *s;
		uint64_t v;
	} ok[] = {
	    {"1", 1},
	    {"4096", 4096},
	    {"500M", 500 * MIB},
	    {"2G", 2048 * MIB},
	    {"1.5G", 1536 * MIB},
	    {"8m", 8 * MIB},
	    {"64KiB", 65536},
	    {"3MB", 3 * MIB},
	    {"1T", 1024 * 1024 * MIB},
	    {"0.5K", 512},
	    {"4194304T", 1ull << 62},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 0;
		assert_int_equal(fs_cli_parse_size(ok[i].s, &v), 0);
		assert_int_equal(v, ok[i].v);
	}
	const char *bad[] = {"",	 "0",
			     "0M",	 "-1M",
			     "M",	 "1.5",
			     "1.G",	 ".5G",
			     "1X",	 "1GG",
			     "1 G",	 " 1G",
			     "4194305T", "99999999999999999999",
			     "1Gi B",	 "0.0001K"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 77;
		assert_int_equal(fs_cli_parse_size(bad[i], &v), -EINVAL);
		assert_int_equal(v, 77);
	}
	assert_int_equal(fs_cli_parse_size(NULL, NULL), -EINVAL);

	struct fs_cli_mount m;
	char err[128];
	char *a[] = {"mount", "--cache-size", "8M", "x.torrent", "/mnt", NULL};
	assert_int_equal(fs_cli_parse_mount(5, a, &m, err, sizeof(err)), 0);
	assert_int_equal(m.cache_size, 8 * MIB);
	fs_cli_mount_release(&m);
	char *b[] = {"mount", "x.torrent", "/mnt", NULL};
	assert_int_equal(fs_cli_parse_mount(3, b, &m, err, sizeof(err)), 0);
	assert_int_equal(m.cache_size, 0);
	fs_cli_mount_release(&m);
	char *c[] = {"mount", "--cache-size=lots", "x.torrent", "/mnt", NULL};
	assert_int_equal(fs_cli_parse_mount(4, c, &m, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "bad cache size 'lots' (e.g. 500M, 2G)");
	fs_cli_mount_release(&m);
}

static void test_ra_limit(void **state)
{
	(void)state;
	const uint32_t pl = 1u << 20;
	struct fs_ra ra;
	uint32_t f, l;
	fs_ra_init(&ra, pl);
	struct fs_ra d = ra;
	fs_ra_limit(&ra, pl, 4 * MIB);
	assert_int_equal(ra.start, d.start); /* 2 MiB: under the cap */
	assert_int_equal(ra.max, 4 * MIB);
	assert_int_equal(ra.window, d.start);

	/* nothing before the first read */
	assert_false(fs_ra_pin_window(&ra, pl, 0, 40 * MIB, 0, &f, &l));
	/* a file at torrent offset 3 MiB + 10: read its first 256 KiB in
	 * two reads (read-ahead starts with the second) */
	struct fs_ra_step st;
	uint64_t off = 3 * MIB + 10;
	fs_ra_update(&ra, pl, off, 40 * MIB, 0, 128 * 1024, &st);
	assert_false(st.fetch);
	fs_ra_update(&ra, pl, off, 40 * MIB, 128 * 1024, 128 * 1024, &st);
	assert_true(st.fetch);
	assert_true(st.last - st.first + 1 <= 5); /* at most 4 MiB + 1 */
	assert_true(fs_ra_pin_window(&ra, pl, off, 40 * MIB, 0, &f, &l));
	assert_int_equal(f, 3);
	assert_true(ra.window <= 4 * MIB);
	assert_int_equal(l, (uint32_t)((off + 256 * 1024 + ra.window - 1) / pl));
	/* a budget caps it further */
	assert_true(fs_ra_pin_window(&ra, pl, off, 40 * MIB, MIB, &f, &l));
	assert_int_equal(f, 3);
	assert_int_equal(l, (uint32_t)((off + 256 * 1024 + MIB - 1) / pl));
	/* sequential reads never grow it past the clamp */
	for (uint64_t o = 256 * 1024; o < 20 * MIB; o += 128 * 1024)
		fs_ra_update(&ra, pl, off, 40 * MIB, o, 128 * 1024, &st);
	assert_int_equal(ra.window, 4 * MIB);
	assert_true(fs_ra_pin_window(&ra, pl, off, 40 * MIB, 0, &f, &l));
	assert_int_equal(f, (uint32_t)((off + 20 * MIB - 1) / pl));
	assert_int_equal(l, (uint32_t)((off + 24 * MIB - 1) / pl));
	/* near the end (a seek there) it stops at the file's last piece */
	fs_ra_update(&ra, pl, off, 40 * MIB, 40 * MIB - 100, 100, &st);
	assert_true(fs_ra_pin_window(&ra, pl, off, 40 * MIB, 0, &f, &l));
	assert_int_equal(f, (uint32_t)((off + 40 * MIB - 1) / pl));
	assert_int_equal(l, f);
	/* a smaller cap shrinks the window at once; no cap restores the
	 * defaults, and the window then grows again with sequential reads */
	fs_ra_limit(&ra, pl, 2 * MIB);
	assert_int_equal(ra.window, 2 * MIB);
	assert_int_equal(ra.max, 2 * MIB);
	fs_ra_limit(&ra, pl, 0);
	assert_int_equal(ra.start, d.start);
	assert_int_equal(ra.max, d.max);
	assert_int_equal(ra.window, 2 * MIB);
	fs_ra_limit(&ra, pl, 1ull << 40);
	assert_int_equal(ra.max, d.max);
}

static void test_records(void **state)
{
	(void)state;
	char buf[512];
	struct fs_rec_out o;
	struct fs_rec r;
	fs_rec_out_init(&o, buf, sizeof(buf));
	fs_rec_begin(&o, "tracker");
	fs_rec_str(&o, "url", "http://t.example/a?x=1&y=2");
	fs_rec_str(&o, "error", "Connection refused\n100% sure\x01\xc3\xa9");
	fs_rec_u64(&o, "peers", 18446744073709551615ull);
	fs_rec_i64(&o, "next", -5);
	fs_rec_str(&o, "empty", "");
	assert_true(fs_rec_end(&o));
	buf[o.len] = '\0';
	assert_string_equal(buf, "tracker url=http://t.example/a?x=1&y=2 "
			    "error=Connection%20refused%0A100%25%20sure%01%C3%A9 "
			    "peers=18446744073709551615 next=-5 empty=\n");
	assert_int_equal(fs_rec_parse(buf, o.len - 1, &r), 0);
	assert_string_equal(r.kind, "tracker");
	assert_int_equal(r.n, 5);
	assert_string_equal(fs_rec_get(&r, "url"), "http://t.example/a?x=1&y=2");
	assert_string_equal(fs_rec_get(&r, "error"),
			    "Connection refused\n100% sure\x01\xc3\xa9");
	assert_string_equal(fs_rec_get(&r, "empty"), "");
	assert_null(fs_rec_get(&r, "nope"));
	uint64_t u = 7;
	int64_t i = 7;
	assert_int_equal(fs_rec_get_u64(&r, "peers", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(fs_rec_get_i64(&r, "next", &i), 0);
	assert_int_equal(i, -5);
	assert_int_equal(fs_rec_get_u64(&r, "next", &u), -EINVAL);
	assert_int_equal(fs_rec_get_u64(&r, "empty", &u), -EINVAL);
	assert_int_equal(fs_rec_get_i64(&r, "peers", &i), -EINVAL); /* > max */
	assert_int_equal(fs_rec_get_u64(&r, "nope", &u), -EINVAL);
	assert_true(u == UINT64_MAX);

	/* a line that does not fit is left out whole; the next one fits */
	char small[40];
	fs_rec_out_init(&o, small, sizeof(small));
	fs_rec_begin(&o, "a");
	fs_rec_str(&o, "k", "v");
	assert_true(fs_rec_end(&o));
	fs_rec_begin(&o, "b");
	fs_rec_str(&o, "k", "a value far too long for what is left");
	assert_false(fs_rec_end(&o));
	fs_rec_begin(&o, "c");
	assert_true(fs_rec_end(&o));
	assert_int_equal(o.len, 8);
	assert_memory_equal(small, "a k=v\nc\n", 8);

	/* values are cut at what every reader holds */
	static char big[2000], line[8000];
	memset(big, 'x', sizeof(big) - 1);
	fs_rec_out_init(&o, line, sizeof(line));
	fs_rec_begin(&o, "file");
	fs_rec_str(&o, "path", big);
	assert_true(fs_rec_end(&o));
	assert_int_equal(fs_rec_parse(line, o.len - 1, &r), 0);
	assert_int_equal(strlen(fs_rec_get(&r, "path")), FS_REC_VAL_MAX - 1);

	/* more fields than kept: checked, then skipped */
	char many[1024] = "dht";
	for (int k = 0; k < FS_REC_MAX_FIELDS + 5; k++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 " k%d=%d", k, k);
	assert_int_equal(fs_rec_parse(many, strlen(many), &r), 0);
	assert_int_equal(r.n, FS_REC_MAX_FIELDS);
	strcat(many, " bad");
	assert_int_equal(fs_rec_parse(many, strlen(many), &r), -EINVAL);

	const char *bad[] = {"", " x=1", "Kind x=1", "k x", "k =1", "k x=1 ",
			     "k  x=1", "k x=%", "k x=%4", "k x=%zz", "k x=a\tb",
			     "k X=1", "k x=\x7f", "k x=\xc3\xa9"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		assert_int_equal(fs_rec_parse(bad[k], strlen(bad[k]), &r),
				 -EINVAL);
	const char *good[] = {"k", "k x=", "k x==", "dht nodes=12 a_b=%41"};
	for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++)
		assert_int_equal(fs_rec_parse(good[k], strlen(good[k]), &r), 0);
	assert_string_equal(fs_rec_get(&r, "a_b"), "A");
}

static void test_sources(void **state)
{
	(void)state;
	struct bt_source_info s[3];
	memset(s, 0, sizeof(s));
	s[0].kind = BT_SOURCE_TRACKER;
	s[0].state = BT_SOURCE_FAILED;
	snprintf(s[0].name, sizeof(s[0].name), "http://127.0.0.1:1/announce");
	snprintf(s[0].error, sizeof(s[0].error), "Connection refused");
	s[0].err = ECONNREFUSED;
	s[0].last = 1000;
	s[0].next = 1030;
	s[0].fails = 2;
	s[1].kind = BT_SOURCE_PEER;
	s[1].state = BT_SOURCE_FAILED;
	snprintf(s[1].name, sizeof(s[1].name), "127.0.0.2:7001");
	snprintf(s[1].error, sizeof(s[1].error), "Connection refused");
	s[1].err = ECONNREFUSED;
	s[1].last = 990;
	s[1].next = 1005;
	s[2].kind = BT_SOURCE_PEER;
	s[2].state = BT_SOURCE_OK;
	snprintf(s[2].name, sizeof(s[2].name), "[::1]:7");
	char out[1024];
	size_t n = fs_xattr_sources_format(s, 3, out, sizeof(out));
	out[n] = '\0';
	assert_string_equal(out,
		"tracker url=http://127.0.0.1:1/announce state=error last=1000 "
		"next=1030 peers=0 fails=2 error=Connection%20refused\n"
		"peer addr=127.0.0.2:7001 state=refused last=990 next=1005 "
		"fails=0 error=Connection%20refused\n"
		"peer addr=[::1]:7 state=connected last=0 next=0 fails=0\n");
	/* whole lines only */
	size_t m = fs_xattr_sources_format(s, 3, out, 130);
	assert_int_equal(m, strchr(out, '\n') + 1 - out);

	/* the states a peer can be in */
	struct bt_source_info p = {.kind = BT_SOURCE_PEER};
	const char *want[] = {"idle", "connecting", "connected", "failed"};
	for (int st = BT_SOURCE_IDLE; st <= BT_SOURCE_FAILED; st++) {
		p.state = st;
		assert_string_equal(fs_xattr_source_state(&p), want[st]);
	}
	p.kind = BT_SOURCE_TRACKER;
	const char *twant[] = {"idle", "announcing", "ok", "error"};
	for (int st = BT_SOURCE_IDLE; st <= BT_SOURCE_FAILED; st++) {
		p.state = st;
		assert_string_equal(fs_xattr_source_state(&p), twant[st]);
	}

	/* and how status prints them */
	struct fs_rec r;
	char line[512];
	char *l1 = out, *nl = strchr(l1, '\n');
	n = fs_xattr_sources_format(s, 3, out, sizeof(out));
	nl = strchr(l1, '\n');
	assert_int_equal(fs_rec_parse(l1, (size_t)(nl - l1), &r), 0);
	fs_xattr_source_line(&r, 1010, line, sizeof(line));
	assert_string_equal(line, "tracker  http://127.0.0.1:1/announce  error: "
			    "Connection refused, last 10 s ago, next in 20 s");
	char *l2 = nl + 1;
	nl = strchr(l2, '\n');
	assert_int_equal(fs_rec_parse(l2, (size_t)(nl - l2), &r), 0);
	fs_xattr_source_line(&r, 1010, line, sizeof(line));
	assert_string_equal(line, "peer     127.0.0.2:7001  refused: Connection "
			    "refused, last 20 s ago, next in 0 s");
	const char *ok = "tracker url=u state=ok last=900 next=2000 peers=3";
	assert_int_equal(fs_rec_parse(ok, strlen(ok), &r), 0);
	fs_xattr_source_line(&r, 1000, line, sizeof(line));
	assert_string_equal(line, "tracker  u  ok, 3 peers, last 1 min 40 s "
			    "ago, next in 16 min 40 s");
	const char *dht = "dht nodes=35 state=ok";
	assert_int_equal(fs_rec_parse(dht, strlen(dht), &r), 0);
	fs_xattr_source_line(&r, 1000, line, sizeof(line));
	assert_string_equal(line, "dht      nodes=35 state=ok");
	fs_xattr_source_line(&r, 1000, line, 5); /* cut, NUL-terminated */
	assert_string_equal(line, "dht ");

	/* the DHT's own record, as the engine gives it, and its line */
	struct bt_source_info d = {.kind = BT_SOURCE_DHT,
				   .state = BT_SOURCE_OK,
				   .nodes = 12,
				   .nodes_total = 14,
				   .lookups = 1,
				   .peers = 3};
	n = fs_xattr_sources_format(&d, 1, out, sizeof(out));
	out[n] = '\0';
	assert_string_equal(out, "dht state=ok nodes=12 table=14 lookups=1 "
				 "peers=3\n");
	assert_int_equal(fs_rec_parse(out, n - 1, &r), 0);
	fs_xattr_source_line(&r, 1000, line, sizeof(line));
	assert_string_equal(line, "dht      12 good nodes (14 in the table), "
				  "1 lookup, 3 peers  ok");
	d.state = BT_SOURCE_BUSY;
	assert_string_equal(fs_xattr_source_state(&d), "bootstrapping");
	d.state = BT_SOURCE_IDLE;
	assert_string_equal(fs_xattr_source_state(&d), "no-nodes");
}

static void test_durations(void **state)
{
	(void)state;
	char b[32];
	fs_xattr_duration(0, b, sizeof(b));
	assert_string_equal(b, "0 s");
	fs_xattr_duration(59, b, sizeof(b));
	assert_string_equal(b, "59 s");
	fs_xattr_duration(61, b, sizeof(b));
	assert_string_equal(b, "1 min 01 s");
	fs_xattr_duration(3 * 3600 + 5 * 60 + 9, b, sizeof(b));
	assert_string_equal(b, "3 h 05 min");
	fs_xattr_duration(2 * 86400 + 7200, b, sizeof(b));
	assert_string_equal(b, "2 d 2 h");
	fs_xattr_eta(0, 0, b, sizeof(b));
	assert_string_equal(b, "done");
	fs_xattr_eta(100, 0, b, sizeof(b));
	assert_string_equal(b, "-");
	fs_xattr_eta(100, -1, b, sizeof(b));
	assert_string_equal(b, "-");
	fs_xattr_eta(10 * MIB, MIB, b, sizeof(b));
	assert_string_equal(b, "10 s");
	fs_xattr_eta(UINT64_MAX, 1, b, sizeof(b)); /* bounded */
	assert_string_equal(b, "11574 d 1 h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records),
	    cmocka_unit_test(test_sources),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_stats_roundtrip),
	    cmocka_unit_test(test_client),
	    cmocka_unit_test(test_peers),
	    cmocka_unit_test(test_bar),
	    cmocka_unit_test(test_parse_size),
	    cmocka_unit_test(test_ra_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
