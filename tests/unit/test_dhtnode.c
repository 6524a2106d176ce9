/* Unit tests for bt_dhtnode, the engine's DHT node, with three engines on
 * loopback in one process: A and B bootstrap from C, both hold a torrent
 * of the same info-hash (in the METADATA phase: only the info-hash), and
 * find each other through the DHT (the peer's source is BT_SRC_DHT, the
 * torrent's sources gain a DHT entry); a private torrent of A's is never
 * announced; the node id and nodes saved at the stop are read back by the
 * next engine on the same state folder, which gets back in with no
 * bootstrap; a bad state file is ignored; with loopback_only a bootstrap
 * off loopback is refused and nothing is sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bt_addrbook.h"
#include "bt_dhtnode.h"
#include "bt_engine.h"
#include "bt_torrent.h"
#include "cache.h"
#include "pfs_hash.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/test_dhtnode.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static struct bt_engine *engine(const char *ip, const char *boot,
				const char *state, bool lo)
{
	const char *b[1] = {boot};
	struct bt_engine_opts o = {
	    .bind_ip = ip,
	    .dht = true,
	    .dht_bootstrap = boot ? b : NULL,
	    .ndht_bootstrap = boot ? 1 : 0,
	    .dht_state_dir = state,
	    .loopback_only = lo,
	    .lsd = BT_ENGINE_LSD_OFF, /* no multicast from a unit test */
	};
	int err = 0;
	struct bt_engine *e = bt_engine_new(&o, &err);
	assert_non_null(e);
	return e;
}

/* The torrent's DHT source in its published snapshot, or false. */
static bool dht_source(struct bt_torrent *t, struct bt_source_info *out)
{
	struct bt_source_info s[8];
	size_t n = bt_torrent_sources(t, s, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (s[i].kind == BT_SOURCE_DHT) {
			*out = s[i];
			return true;
		}
	return false;
}

static bool has_dht_peer(struct bt_torrent *t)
{
	struct bt_peer_info p[8];
	size_t n = bt_torrent_peers(t, p, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (p[i].src & BT_SRC_DHT)
			return true;
	return false;
}

static void test_find_and_save(void **state)
{
	(void)state;
	char sa[128], sb[128], sc[128], boot[64];
	snprintf(sa, sizeof(sa), "%s/a", dir);
	snprintf(sb, sizeof(sb), "%s/b", dir);
	snprintf(sc, sizeof(sc), "%s/c", dir);
	struct bt_engine *c = engine("127.0.0.91", NULL, sc, true);
	snprintf(boot, sizeof(boot), "127.0.0.91:%u", bt_engine_port(c));
	struct bt_engine *a = engine("127.0.0.92", boot, sa, true);
	struct bt_engine *b = engine("127.0.0.93", boot, sb, true);

	uint8_t ih[20], ihp[20];
	pfs_sha1("dhtnode test", 12, ih);
	struct bt_torrent_opts to = {.no_trackers = true};
	struct bt_torrent *ta = bt_torrent_new(a, ih, &to, NULL);
	struct bt_torrent *tb = bt_torrent_new(b, ih, &to, NULL);
	assert_non_null(ta);
	assert_non_null(tb);

	/* a private torrent of A's, in the DATA phase */
	static uint8_t hashes[20];
	struct bt_file file = {.path = "p.bin", .length = 100};
	struct bt_metainfo mi = {
	    .piece_length = 16384,
	    .npieces = 1,
	    .total_length = 100,
	    .piece_hashes = hashes,
	    .name = "p.bin",
	    .files = &file,
	    .nfiles = 1,
	    .private_flag = true,
	};
	pfs_sha1("private", 7, ihp);
	memcpy(mi.info_hash, ihp, 20);
	pfs_hex(ihp, 20, mi.info_hash_hex);
	int err = 0;
	struct cache *cp =
	    cache_open(sa, mi.info_hash_hex, 1, 16384, 100, &err);
	assert_non_null(cp);
	struct bt_torrent *tp = bt_torrent_new(a, ihp, &to, NULL);
	assert_non_null(tp);
	assert_int_equal(bt_torrent_set_metadata(tp, &mi, cp), 0);
	assert_true(bt_torrent_private(tp));
	assert_false(bt_torrent_private(ta));

	assert_int_equal(bt_engine_start(c), 0);
	assert_int_equal(bt_engine_start(a), 0);
	assert_int_equal(bt_engine_start(b), 0);
	/* one connects to the other (whose peer may then be an incoming
	 * one): one of the two has a peer from the DHT */
	bool found = false;
	struct bt_source_info si = {0}, sa_ = {0};
	for (int i = 0; i < 150 && !found; i++) {
		sleep_ms(100);
		bool da = dht_source(ta, &sa_), db = dht_source(tb, &si);
		if (da && (!db || sa_.peers > si.peers))
			si = sa_;
		found = (has_dht_peer(ta) || has_dht_peer(tb)) && si.peers >= 1;
	}
	if (!found)
		fprintf(stderr,
			"dht source: state %d nodes %u/%u lookups %u "
			"peers %u\n",
			si.state, si.nodes, si.nodes_total, si.lookups,
			si.peers);
	assert_true(found);
	assert_int_equal(si.state, BT_SOURCE_OK);
	assert_true(si.nodes >= 1);
	assert_true(si.lookups >= 1);
	assert_false(dht_source(tp, &si)); /* private: no DHT */

	bt_engine_stop(a);
	bt_engine_stop(b);
	struct bt_dhtnode_stats st;
	bt_dhtnode_stats(bt_engine_dht(a), &st);
	assert_true(st.sent > 0);
	assert_int_equal(st.blocked, 0);
	assert_false(st.state_loaded);
	bt_engine_free(a);
	bt_engine_free(b);
	cache_close(cp);

	/* A again, no bootstrap: its saved state leads it back to C */
	char path[192];
	snprintf(path, sizeof(path), "%s/dht.dat", sa);
	struct stat sbuf;
	assert_int_equal(stat(path, &sbuf), 0);
	assert_true(sbuf.st_size > 20);
	a = engine("127.0.0.92", NULL, sa, true);
	assert_int_equal(bt_engine_start(a), 0);
	sleep_ms(1000);
	bt_engine_stop(a);
	bt_dhtnode_stats(bt_engine_dht(a), &st);
	assert_true(st.state_loaded);
	assert_true(st.received > 0); /* C answered */
	bt_engine_free(a);

	/* a bad state file: ignored, the node runs with a new id */
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs("d2:id3:abce", f);
	fclose(f);
	a = engine("127.0.0.92", NULL, sa, true);
	assert_int_equal(bt_engine_start(a), 0);
	sleep_ms(100);
	bt_engine_stop(a);
	bt_dhtnode_stats(bt_engine_dht(a), &st);
	assert_false(st.state_loaded);
	assert_int_equal(st.sent, 0); /* nothing to bootstrap from */
	bt_engine_free(a);

	bt_engine_stop(c);
	bt_engine_free(c);
}

static void test_loopback_only(void **state)
{
	(void)state;
	char s[128];
	snprintf(s, sizeof(s), "%s/lo", dir);
	/* TEST-NET-1: refused before anything is sent */
	struct bt_engine *e = engine("127.0.0.94", "192.0.2.1:6881", s, true);
	uint8_t ih[20];
	pfs_sha1("lo", 2, ih);
	struct bt_torrent_opts to = {.no_trackers = true};
	assert_non_null(bt_torrent_new(e, ih, &to, NULL));
	assert_int_equal(bt_engine_start(e), 0);
	sleep_ms(300);
	bt_engine_stop(e);
	struct bt_dhtnode_stats st;
	bt_dhtnode_stats(bt_engine_dht(e), &st);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.blocked, 0); /* the core never even tried */
	bt_engine_free(e);

	/* the node's own check, what the send path asks */
	e = engine("127.0.0.94", NULL, NULL, true);
	struct bt_addr a;
	assert_int_equal(bt_addr_parse("192.0.2.1:6881", &a), 0);
	assert_false(bt_dhtnode_allowed(bt_engine_dht(e), &a));
	assert_int_equal(bt_addr_parse("127.0.0.9:6881", &a), 0);
	assert_true(bt_dhtnode_allowed(bt_engine_dht(e), &a));
	assert_int_equal(bt_addr_parse("[::1]:6881", &a), 0);
	assert_true(bt_dhtnode_allowed(bt_engine_dht(e), &a));
	bt_engine_free(e);

	/* P2PFS_LOOPBACK_NET (fd50::/64, set in main) counts as loopback,
	 * nothing around it does */
	e = engine("127.0.0.94", NULL, NULL, true);
	assert_int_equal(bt_addr_parse("[fd50::9]:6881", &a), 0);
	assert_true(bt_dhtnode_allowed(bt_engine_dht(e), &a));
	assert_int_equal(bt_addr_parse("[fd50:0:0:1::9]:6881", &a), 0);
	assert_false(bt_dhtnode_allowed(bt_engine_dht(e), &a));
	assert_int_equal(bt_addr_parse("[2001:db8::1]:6881", &a), 0);
	assert_false(bt_dhtnode_allowed(bt_engine_dht(e), &a));
	bt_engine_free(e);

	/* without loopback_only (nothing is started: nothing sent) */
	e = engine("127.0.0.94", NULL, NULL, false);
	assert_int_equal(bt_addr_parse("192.0.2.1:6881", &a), 0);
	assert_true(bt_dhtnode_allowed(bt_engine_dht(e), &a));
	bt_engine_free(e);
}

int main(void)
{
	/* the environment must not decide for the tests above */
	unsetenv("P2PFS_LOOPBACK_ONLY");
	setenv("P2PFS_LOOPBACK_NET", "fd50::/64", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_find_and_save, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_loopback_only, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
