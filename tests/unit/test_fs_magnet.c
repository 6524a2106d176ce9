/* Unit tests for fs_magnet, without the network: the .torrent built from
 * an info dict and trackers parses back to the same info-hash and
 * trackers; a magnet whose info dict a previous mount kept in ROOT/<hex>/
 * torrent resolves from it at once, with the link's trackers first and the
 * kept copy's after them (no duplicates); a kept copy of another torrent
 * is not used (and with nobody to ask, the fetch times out with a clear
 * error); x.pe peers become --peer strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache_store.h"
#include "fs_magnet.h"
#include "pfs_hash.h"

static const char info[] =
	"d6:lengthi100000e4:name5:a.bin12:piece lengthi65536e6:pieces40:"
	"0123456789012345678901234567890123456789e";

static void test_torrent_roundtrip(void **state)
{
	(void)state;
	const char *trk[] = {"http://127.0.0.1:1/announce",
			     "udp://127.0.0.1:2"};
	struct bt_benc b;
	struct bt_metainfo *mi = NULL;
	char err[256];
	uint8_t ih[20];
	bt_benc_init(&b);
	assert_int_equal(fs_magnet_torrent((const uint8_t *)info,
					   sizeof(info) - 1, trk, 2, &b),
			 0);
	assert_int_equal(bt_metainfo_parse(b.buf, b.len, &mi, err, sizeof(err)),
			 0);
	pfs_sha1(info, sizeof(info) - 1, ih);
	assert_memory_equal(mi->info_hash, ih, 20);
	assert_int_equal(mi->ntrackers, 2);
	assert_string_equal(mi->trackers[0], trk[0]);
	assert_string_equal(mi->trackers[1], trk[1]);
	assert_int_equal(mi->tracker_tiers[1], 1);
	bt_metainfo_free(mi);
	bt_benc_release(&b);
	/* no trackers: just the info dict */
	bt_benc_init(&b);
	assert_int_equal(fs_magnet_torrent((const uint8_t *)info,
					   sizeof(info) - 1, NULL, 0, &b),
			 0);
	assert_int_equal(bt_metainfo_parse(b.buf, b.len, &mi, err, sizeof(err)),
			 0);
	assert_int_equal(mi->ntrackers, 0);
	bt_metainfo_free(mi);
	bt_benc_release(&b);
}

static void test_kept_copy(void **state)
{
	(void)state;
	char root[] = "/tmp/p2pfs-test-fs-magnet-XXXXXX", dir[128], err[256];
	char link[512], hex[41];
	uint8_t ih[20];
	assert_non_null(mkdtemp(root));
	pfs_sha1(info, sizeof(info) - 1, ih);
	pfs_hex(ih, 20, hex);
	snprintf(dir, sizeof(dir), "%s/%s", root, hex);
	assert_int_equal(mkdir(dir, 0700), 0);
	const char *kt[] = {"http://127.0.0.1:7/announce",
			    "http://127.0.0.1:8/announce"};
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(fs_magnet_torrent((const uint8_t *)info,
					   sizeof(info) - 1, kt, 2, &b),
			 0);
	assert_int_equal(cache_store_save(dir, CACHE_STORE_TORRENT, b.buf,
					  b.len),
			 0);
	bt_benc_release(&b);

	snprintf(link, sizeof(link), "magnet:?xt=urn:btih:%s&tr=http%%3A%%2F"
		 "%%2F127.0.0.1%%3A8%%2Fannounce&tr=http://127.0.0.1:9/announce"
		 "&x.pe=127.0.0.1:6881&x.pe=[::1]:6882&x.pe=example.invalid:7",
		 hex);
	struct bt_magnet *m = NULL;
	assert_int_equal(bt_magnet_parse(link, &m, err, sizeof(err)), 0);
	struct bt_session_opts so = {.bind_ip = "127.0.0.1"};
	struct bt_metainfo *mi = NULL;
	uint8_t *t = NULL;
	size_t tl = 0;
	bool cached = false;
	assert_int_equal(fs_magnet_metainfo(m, root, &so, 1, false, &mi, &t,
					    &tl, &cached, err, sizeof(err)),
			 0);
	assert_true(cached);
	assert_memory_equal(mi->info_hash, ih, 20);
	assert_int_equal(mi->ntrackers, 3);
	assert_string_equal(mi->trackers[0], "http://127.0.0.1:8/announce");
	assert_string_equal(mi->trackers[1], "http://127.0.0.1:9/announce");
	assert_string_equal(mi->trackers[2], "http://127.0.0.1:7/announce");
	assert_non_null(t);
	free(t);
	bt_metainfo_free(mi);

	/* peers */
	const char **peers = NULL;
	char **owned = NULL;
	size_t np = 0, no = 0;
	assert_int_equal(fs_magnet_add_peers(m, &peers, &np, &owned, &no), 0);
	assert_int_equal(np, 3);
	assert_string_equal(peers[0], "127.0.0.1:6881");
	assert_string_equal(peers[1], "[::1]:6882");
	assert_string_equal(peers[2], "example.invalid:7");
	for (size_t i = 0; i < no; i++)
		free(owned[i]);
	free(owned);
	free(peers);
	bt_magnet_free(m);

	/* a kept copy that is another torrent's is not used: nobody to ask
	 * (no trackers, no peers), so a clear time-out */
	snprintf(link, sizeof(link), "magnet:?xt=urn:btih:%040d", 0);
	assert_int_equal(bt_magnet_parse(link, &m, err, sizeof(err)), 0);
	char other[128];
	snprintf(other, sizeof(other), "%s/%s", root, m->info_hash_hex);
	assert_int_equal(mkdir(other, 0700), 0);
	bt_benc_init(&b);
	fs_magnet_torrent((const uint8_t *)info, sizeof(info) - 1, NULL, 0, &b);
	assert_int_equal(cache_store_save(other, CACHE_STORE_TORRENT, b.buf,
					  b.len),
			 0);
	bt_benc_release(&b);
	assert_int_equal(fs_magnet_metainfo(m, root, &so, 1, false, &mi, &t,
					    &tl, &cached, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_non_null(strstr(err, "no metadata after 1 s"));
	assert_null(mi);
	bt_magnet_free(m);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torrent_roundtrip),
		cmocka_unit_test(test_kept_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
