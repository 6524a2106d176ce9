/* Unit tests for the parts of fs_cli that issue 10 added: mount's own -o
 * options (timeout, uid, gid, umask, nonempty) and the FUSE ones it lets
 * through, --read-timeout, --peer and --dht-bootstrap HOST:PORT resolution
 * (numeric and /etc/hosts names only: no DNS), --no-dht in the session
 * options, what a torrent operand is and the
 * message for one that cannot be loaded, the announce schemes create
 * warns about, `status` options, and the mount a path lies in. The older
 * parsers are tested in test_fs_tree.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt_metainfo.h"
#include "bt_mse.h"
#include "bt_session.h"
#include "fs_cli.h"

static int parse(struct fs_cli_mount *m, char *err, size_t len, ...)
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

/* A magnet link's options: --metadata-timeout (1..86400), --no-wait. */
static void test_magnet_opts(void **state)
{
	(void)state;
	struct fs_cli_mount m;
	char err[256];
	assert_int_equal(parse(&m, err, sizeof(err), "magnet:?xt=urn:btih:ab",
			       "/mnt", NULL), 0);
	assert_int_equal(m.metadata_timeout, 0);
	assert_false(m.no_wait);
	fs_cli_mount_release(&m);
	assert_int_equal(parse(&m, err, sizeof(err), "--metadata-timeout", "7",
			       "--no-wait", "magnet:?x", "/mnt", NULL), 0);
	assert_int_equal(m.metadata_timeout, 7);
	assert_true(m.no_wait);
	fs_cli_mount_release(&m);
	assert_int_equal(parse(&m, err, sizeof(err), "--metadata-timeout", "0",
			       "magnet:?x", "/mnt", NULL), -EINVAL);
	assert_non_null(strstr(err, "bad metadata timeout '0'"));
	fs_cli_mount_release(&m);
}

static void test_mount_opts(void **state)
{
	(void)state;
	struct fs_cli_mount m;
	char err[256];
	assert_int_equal(parse(&m, err, sizeof(err), "x.torrent", "/mnt", NULL),
			 0);
	assert_int_equal(m.read_timeout, FS_CLI_READ_TIMEOUT);
	assert_false(m.set_uid || m.set_gid || m.set_umask || m.nonempty);
	assert_null(m.fuse_opts);
	fs_cli_mount_release(&m);

	assert_int_equal(parse(&m, err, sizeof(err), "-o",
			       "timeout=5,uid=0,gid=root,umask=027,nonempty",
			       "-o", "allow_other,fsname=a\\,b,max_read=4096",
			       "x.torrent", "/mnt", NULL), 0);
	assert_int_equal(m.read_timeout, 5);
	assert_true(m.set_uid && m.set_gid && m.set_umask && m.nonempty);
	assert_int_equal(m.uid, 0);
	assert_int_equal(m.gid, 0);
	assert_int_equal(m.umask, 027);
	assert_string_equal(m.fuse_opts, "allow_other,fsname=a\\,b,max_read=4096");
	fs_cli_mount_release(&m);

	/* --read-timeout and -o timeout=: the last one wins; 0 = forever */
	assert_int_equal(parse(&m, err, sizeof(err), "--read-timeout", "9",
			       "-o", "timeout=0", "x", "/m", NULL), 0);
	assert_int_equal(m.read_timeout, 0);
	fs_cli_mount_release(&m);
	assert_int_equal(parse(&m, err, sizeof(err), "-o", "timeout=0,",
			       "--read-timeout=30", "x", "/m", NULL), 0);
	assert_int_equal(m.read_timeout, 30);
	assert_null(m.fuse_opts);
	fs_cli_mount_release(&m);

	struct {
		const char *opt, *msg;
	} bad[] = {
		{"rw", "-o rw: a p2pfs mount is read-only"},
		{"frob", "unknown mount option 'frob' (see 'p2pfs mount --help')"},
		{"allow_other=1", "unknown mount option 'allow_other=1' (see "
				  "'p2pfs mount --help')"},
		{"fsname=", "unknown mount option 'fsname=' (see 'p2pfs mount "
			    "--help')"},
		{"timeout=x", "bad -o timeout 'x' (want seconds, 0 = wait "
			      "forever)"},
		{"timeout", "bad -o timeout '' (want seconds, 0 = wait forever)"},
		{"umask=999", "bad -o umask '999' (want octal, e.g. 022)"},
		{"umask=1000", "bad -o umask '1000' (want octal, e.g. 022)"},
		{"uid=", "-o uid=: want a number or a name"},
		{"uid=no_such_user_p2pfs", "-o uid=no_such_user_p2pfs: no such "
					   "user"},
		{"gid=no_such_group_p2pfs", "-o gid=no_such_group_p2pfs: no such "
					    "group"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&m, err, sizeof(err), "-o", bad[i].opt,
				       "x", "/m", NULL), -EINVAL);
		assert_string_equal(err, bad[i].msg);
		fs_cli_mount_release(&m);
	}
	assert_int_equal(parse(&m, err, sizeof(err), "--read-timeout", "-1",
			       "x", "/m", NULL), -EINVAL);
	assert_string_equal(err, "bad read timeout '-1' (want seconds, 0 = "
			    "wait forever)");
	fs_cli_mount_release(&m);

	/* --encryption: prefer by default; reaches the session options */
	assert_int_equal(parse(&m, err, sizeof(err), "x", "/m", NULL), 0);
	assert_int_equal(m.eng.encryption, BT_MSE_PREFER);
	fs_cli_mount_release(&m);
	assert_int_equal(parse(&m, err, sizeof(err), "--encryption", "require",
			       "x", "/m", NULL), 0);
	assert_int_equal(m.eng.encryption, BT_MSE_REQUIRE);
	struct bt_session_opts so;
	fs_cli_session_opts(&m.eng, &so);
	assert_int_equal(so.encryption, BT_MSE_REQUIRE);
	fs_cli_mount_release(&m);
	assert_int_equal(parse(&m, err, sizeof(err), "--encryption=off", "x",
			       "/m", NULL), 0);
	assert_int_equal(m.eng.encryption, BT_MSE_OFF);
	fs_cli_mount_release(&m);
	assert_int_equal(parse(&m, err, sizeof(err), "--encryption", "rc4",
			       "x", "/m", NULL), -EINVAL);
	assert_string_equal(err, "bad --encryption 'rc4' (want prefer, require "
			    "or off)");
	fs_cli_mount_release(&m);
}

static void test_resolve(void **state)
{
	(void)state;
	struct fs_cli_engine e = {0};
	char err[256];
	const char *in[] = {"127.0.0.2:7001", "[::1]:7", "localhost:6881",
			    "127.0.0.2:7001"};
	e.peers = malloc(sizeof(in));
	memcpy(e.peers, in, sizeof(in));
	e.npeers = 4;
	assert_int_equal(fs_cli_resolve_peers(&e, err, sizeof(err)), 0);
	/* numeric ones kept as they are; localhost from /etc/hosts */
	assert_true(e.npeers >= 4);
	assert_string_equal(e.peers[0], "127.0.0.2:7001");
	assert_string_equal(e.peers[1], "[::1]:7");
	bool v4 = false;
	for (size_t i = 2; i < e.npeers - 1; i++) {
		v4 |= !strcmp(e.peers[i], "127.0.0.1:6881");
		assert_true(!strcmp(e.peers[i], "127.0.0.1:6881") ||
			    !strcmp(e.peers[i], "[::1]:6881"));
	}
	assert_true(v4);
	assert_string_equal(e.peers[e.npeers - 1], "127.0.0.2:7001");
	struct fs_cli_mount m = {.eng = e};
	fs_cli_mount_release(&m); /* frees the resolved strings too */

	struct {
		const char *arg, *msg;
	} bad[] = {
		{"host", "--peer 'host': want HOST:PORT (a port of 1..65535; "
			 "IPv6 as [ADDR]:PORT)"},
		{"localhost:0", "--peer 'localhost:0': want HOST:PORT (a port of "
				"1..65535; IPv6 as [ADDR]:PORT)"},
		{"localhost:65536", "--peer 'localhost:65536': want HOST:PORT (a "
				    "port of 1..65535; IPv6 as [ADDR]:PORT)"},
		{":80", "--peer ':80': want HOST:PORT (a port of 1..65535; IPv6 "
			"as [ADDR]:PORT)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fs_cli_engine b = {0};
		b.peers = malloc(sizeof(char *));
		b.peers[0] = bad[i].arg;
		b.npeers = 1;
		assert_int_equal(fs_cli_resolve_peers(&b, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, bad[i].msg);
		assert_int_equal(b.npeers, 1); /* untouched */
		struct fs_cli_mount mb = {.eng = b};
		fs_cli_mount_release(&mb);
	}
}

/* --no-dht and --dht-bootstrap (repeatable), resolved like --peer, and
 * what reaches the session's options. */
static void test_dht_opts(void **state)
{
	(void)state;
	struct fs_cli_mount m;
	char err[256];
	memset(&m, 0, sizeof(m));
	assert_int_equal(parse(&m, err, sizeof(err), "--dht-bootstrap",
			       "127.0.0.5:6881", "--dht-bootstrap",
			       "localhost:7000", "x.torrent", "/mnt", NULL),
			 0);
	assert_false(m.eng.no_dht);
	assert_int_equal(m.eng.ndht_bootstrap, 2);
	assert_int_equal(fs_cli_resolve_peers(&m.eng, err, sizeof(err)), 0);
	assert_true(m.eng.ndht_bootstrap >= 2);
	assert_string_equal(m.eng.dht_bootstrap[0], "127.0.0.5:6881");
	for (size_t i = 1; i < m.eng.ndht_bootstrap; i++)
		assert_true(!strcmp(m.eng.dht_bootstrap[i], "127.0.0.1:7000") ||
			    !strcmp(m.eng.dht_bootstrap[i], "[::1]:7000"));
	struct bt_session_opts so;
	fs_cli_session_opts(&m.eng, &so);
	assert_true(so.dht);
	assert_int_equal(so.ndht_bootstrap, m.eng.ndht_bootstrap);
	fs_cli_mount_release(&m);

	/* --bind takes an IPv6 address bare or bracketed */
	char b6[] = "[fd50::4]";
	memset(&m, 0, sizeof(m));
	assert_int_equal(parse(&m, err, sizeof(err), "--bind", b6,
			       "--dht-bootstrap", "[fd50::1]:7000", "x.torrent",
			       "/mnt", NULL),
			 0);
	assert_string_equal(m.eng.bind_ip, "fd50::4");
	assert_int_equal(fs_cli_resolve_peers(&m.eng, err, sizeof(err)), 0);
	assert_int_equal(m.eng.ndht_bootstrap, 1);
	assert_string_equal(m.eng.dht_bootstrap[0], "[fd50::1]:7000");
	fs_cli_mount_release(&m);
	memset(&m, 0, sizeof(m));
	assert_int_equal(parse(&m, err, sizeof(err), "--bind", "fd50::4",
			       "x.torrent", "/mnt", NULL),
			 0);
	assert_string_equal(m.eng.bind_ip, "fd50::4");
	fs_cli_mount_release(&m);

	memset(&m, 0, sizeof(m));
	assert_int_equal(parse(&m, err, sizeof(err), "--no-dht", "x.torrent",
			       "/mnt", NULL),
			 0);
	assert_true(m.eng.no_dht);
	fs_cli_session_opts(&m.eng, &so);
	assert_false(so.dht);
	fs_cli_mount_release(&m);

	memset(&m, 0, sizeof(m));
	assert_int_equal(parse(&m, err, sizeof(err), "--dht-bootstrap", "host",
			       "x.torrent", "/mnt", NULL),
			 0);
	assert_int_equal(fs_cli_resolve_peers(&m.eng, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--dht-bootstrap 'host': want HOST:PORT (a "
				 "port of 1..65535; IPv6 as [ADDR]:PORT)");
	fs_cli_mount_release(&m);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_torrent_operand(void **state)
{
	(void)state;
	assert_int_equal(fs_cli_source_kind("film.torrent"), FS_CLI_SOURCE_FILE);
	assert_int_equal(fs_cli_source_kind("./magnet.torrent"),
			 FS_CLI_SOURCE_FILE);
	assert_int_equal(fs_cli_source_kind("magnet:?xt=urn:btih:ab"),
			 FS_CLI_SOURCE_MAGNET);
	assert_int_equal(fs_cli_source_kind("MAGNET:?xt"), FS_CLI_SOURCE_MAGNET);
	assert_int_equal(fs_cli_source_kind("https://x/y.torrent"),
			 FS_CLI_SOURCE_URL);
	assert_int_equal(fs_cli_source_kind("http://x"), FS_CLI_SOURCE_URL);
	assert_int_equal(fs_cli_source_kind("ftp+x://x"), FS_CLI_SOURCE_URL);
	assert_int_equal(fs_cli_source_kind("a/b://c"), FS_CLI_SOURCE_FILE);
	assert_int_equal(fs_cli_source_kind("1http://x"), FS_CLI_SOURCE_FILE);

	char dir[] = "/tmp/p2pfs-cli-XXXXXX", p[256], err[512];
	assert_non_null(mkdtemp(dir));
	struct bt_metainfo *mi = (struct bt_metainfo *)1;

	snprintf(p, sizeof(p), "%s/zero.torrent", dir);
	char zeros[100] = {0};
	write_file(p, zeros, sizeof(zeros));
	assert_int_equal(fs_cli_load_torrent(p, &mi, err, sizeof(err)), -EINVAL);
	assert_null(mi);
	assert_non_null(strstr(err, "zero.torrent: not a .torrent file"));
	assert_null(strstr(err, "bencode"));
	unlink(p);

	snprintf(p, sizeof(p), "%s/bad.torrent", dir);
	write_file(p, "d4:infoi3ee", 11);
	assert_int_equal(fs_cli_load_torrent(p, &mi, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad.torrent: a malformed .torrent file: "));
	unlink(p);

	snprintf(p, sizeof(p), "%s/missing.torrent", dir);
	assert_int_equal(fs_cli_load_torrent(p, &mi, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing.torrent: No such file or "
				    "directory"));
	assert_int_equal(fs_cli_load_torrent(dir, &mi, err, sizeof(err)),
			 -EISDIR);
	assert_non_null(strstr(err, ": Is a directory"));

	assert_int_equal(fs_cli_load_torrent("magnet:?xt=urn:btih:0123", &mi,
					     err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_string_equal(err, "'magnet:?xt=urn:btih:0123': a magnet link; "
			    "this command takes .torrent files only (p2pfs "
			    "mount and p2pfs info take magnet links)");
	assert_int_equal(fs_cli_load_torrent("https://t.example/x.torrent", &mi,
					     err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_string_equal(err, "'https://t.example/x.torrent': a URL; p2pfs "
			    "does not download .torrent files: fetch it first "
			    "(e.g. curl -o FILE.torrent URL) and give the file");

	/* a good one */
	static const char good[] =
		"d8:announce12:http://t/a/b4:infod6:lengthi5e4:name5:x.bin"
		"12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
	snprintf(p, sizeof(p), "%s/good.torrent", dir);
	write_file(p, good, sizeof(good) - 1);
	assert_int_equal(fs_cli_load_torrent(p, &mi, err, sizeof(err)), 0);
	assert_non_null(mi);
	assert_string_equal(mi->name, "x.bin");
	bt_metainfo_free(mi);
	unlink(p);
	rmdir(dir);

	assert_true(fs_cli_announce_url_ok("http://t/a"));
	assert_true(fs_cli_announce_url_ok("HTTPS://t/a"));
	assert_true(fs_cli_announce_url_ok("udp://t:80"));
	assert_false(fs_cli_announce_url_ok("wss://t/a"));
	assert_false(fs_cli_announce_url_ok("udp:/t"));
	assert_false(fs_cli_announce_url_ok("t/a"));
	assert_false(fs_cli_announce_url_ok(""));
}

static int parse_status(struct fs_cli_status *st, char *err, size_t len, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;
	va_start(ap, len);
	argv[argc++] = "status";
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return fs_cli_parse_status(argc, argv, st, err, len);
}

static void test_status_opts(void **state)
{
	(void)state;
	struct fs_cli_status st;
	char err[128];
	assert_int_equal(parse_status(&st, err, sizeof(err), NULL), 0);
	assert_null(st.target);
	assert_false(st.watch);
	assert_int_equal(st.interval_ms, 1000);
	assert_int_equal(st.count, 0);
	assert_int_equal(parse_status(&st, err, sizeof(err), "--watch", "/mnt",
				      "--count", "3", NULL), 0);
	assert_string_equal(st.target, "/mnt");
	assert_true(st.watch);
	assert_int_equal(st.count, 3);
	assert_int_equal(parse_status(&st, err, sizeof(err), "-n", "0.5", NULL),
			 0);
	assert_true(st.watch); /* an interval means watching */
	assert_int_equal(st.interval_ms, 500);
	assert_int_equal(parse_status(&st, err, sizeof(err), "-n", "2", "x",
				      NULL), 0);
	assert_int_equal(st.interval_ms, 2000);
	assert_int_equal(parse_status(&st, err, sizeof(err), "-h", NULL), 1);
	const char *bad[][2] = {{"-n", "0"},   {"-n", "0.05"}, {"-n", "1e3"},
				{"-n", ".5"},  {"-n", "3601"}, {"-n", "1.5s"},
				{"--count", "0"}, {"--count", "x"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_status(&st, err, sizeof(err), bad[i][0],
					      bad[i][1], NULL), -EINVAL);
	assert_int_equal(parse_status(&st, err, sizeof(err), "a", "b", NULL),
			 -EINVAL);
	assert_string_equal(err, "too many arguments");
	assert_int_equal(parse_status(&st, err, sizeof(err), "--frob", NULL),
			 -EINVAL);
	assert_string_equal(err, "unknown option '--frob'");
}

static const char mountinfo[] =
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	"40 22 0:44 / /mnt/film rw,nosuid,nodev,relatime shared:20 - "
	"fuse.sshfs host: rw,user_id=0\n"
	"41 40 0:45 / /mnt/film rw,nosuid,nodev,relatime shared:21 - "
	"fuse.p2pfs film ro,user_id=0,group_id=0\n"
	"42 22 0:46 / /mnt/my\\040film rw,nosuid shared:22 - fuse.p2pfs a ro\n"
	"43 41 0:47 / /mnt/film/Trip/in rw - tmpfs tmpfs rw";

static void test_mount_containing(void **state)
{
	(void)state;
	char mp[256], type[64];
	struct {
		const char *path, *mp, *type;
	} cases[] = {
		{"/mnt/film", "/mnt/film", "fuse.p2pfs"},
		{"/mnt/film/Trip/day1.mkv", "/mnt/film", "fuse.p2pfs"},
		{"/mnt/filmx", "/", "ext4"},
		{"/mnt/film/Trip/in/x", "/mnt/film/Trip/in", "tmpfs"},
		{"/mnt/film/Trip/inx", "/mnt/film", "fuse.p2pfs"},
		{"/mnt/my film/a", "/mnt/my film", "fuse.p2pfs"},
		{"/", "/", "ext4"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fs_mountinfo_containing(mountinfo, cases[i].path,
							 mp, sizeof(mp), type,
							 sizeof(type)), 0);
		assert_string_equal(mp, cases[i].mp);
		assert_string_equal(type, cases[i].type);
	}
	assert_int_equal(fs_mountinfo_containing("", "/x", mp, sizeof(mp), type,
						 sizeof(type)), -ENOENT);
	assert_int_equal(fs_mountinfo_containing("garbage\n\n 1 2", "/x", mp,
						 sizeof(mp), type,
						 sizeof(type)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mount_opts),
		cmocka_unit_test(test_magnet_opts),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_dht_opts),
		cmocka_unit_test(test_torrent_operand),
		cmocka_unit_test(test_status_opts),
		cmocka_unit_test(test_mount_containing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
