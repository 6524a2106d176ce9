/* Unit tests for bt_session: two engines in one process over loopback
 * (wants, read-ahead claims given back, fetch-all), and hostile peers (a
 * liar sending bad blocks, a peer sending garbage) that must be dropped
 * without a wrong byte ever being marked verified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bt_session.h"
#include "bt_wire.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define PIECE_LEN (64u * 1024)
#define NPIECES 37
#define TOTAL ((uint64_t)(NPIECES - 1) * PIECE_LEN + 5000)

struct fixture {
	char dir[64];
	uint8_t *data;
	struct bt_metainfo mi;
	struct bt_file file;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t verified;
};

static void make_metainfo(struct fixture *f)
{
	struct bt_metainfo *mi = &f->mi;
	memset(mi, 0, sizeof(*mi));
	f->data = malloc(TOTAL);
	assert_int_equal(pfs_random(f->data, TOTAL), 0);
	mi->piece_length = PIECE_LEN;
	mi->npieces = NPIECES;
	mi->total_length = TOTAL;
	mi->piece_hashes = malloc(20 * NPIECES);
	for (uint32_t i = 0; i < NPIECES; i++) {
		uint64_t off = (uint64_t)i * PIECE_LEN;
		uint64_t len = TOTAL - off < PIECE_LEN ? TOTAL - off : PIECE_LEN;
		pfs_sha1(f->data + off, len, mi->piece_hashes + 20 * i);
	}
	pfs_sha1("p2pfs session test", 18, mi->info_hash);
	pfs_hex(mi->info_hash, 20, mi->info_hash_hex);
	mi->name = "test.bin";
	f->file.path = "test.bin";
	f->file.length = TOTAL;
	mi->files = &f->file;
	mi->nfiles = 1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/p2pfs-test-session-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	make_metainfo(f);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->data);
	free(f->mi.piece_hashes);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
	return 0;
}

static struct cache *open_cache(struct fixture *f, const char *sub)
{
	char root[128];
	int err = 0;
	snprintf(root, sizeof(root), "%s/%s", f->dir, sub);
	struct cache *c = cache_open(root, f->mi.info_hash_hex, NPIECES,
				     PIECE_LEN, TOTAL, &err);
	assert_non_null(c);
	return c;
}

static struct cache *full_cache(struct fixture *f, const char *sub)
{
	struct cache *c = open_cache(f, sub);
	for (uint32_t i = 0; i < NPIECES; i++) {
		uint64_t off = (uint64_t)i * PIECE_LEN;
		uint64_t len = TOTAL - off < PIECE_LEN ? TOTAL - off : PIECE_LEN;
		assert_int_equal(cache_write(c, i, 0, f->data + off, len), 0);
		assert_int_equal(cache_verify(c, i, f->mi.piece_hashes + 20 * i), 0);
	}
	return c;
}

static void on_piece(void *arg, uint32_t piece)
{
	struct fixture *f = arg;
	(void)piece;
	pthread_mutex_lock(&f->lock);
	f->verified++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Wait until N pieces verified or SECS pass; returns the count. */
static uint32_t wait_verified(struct fixture *f, uint32_t n, int secs)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += secs;
	pthread_mutex_lock(&f->lock);
	while (f->verified < n &&
	       pthread_cond_timedwait(&f->cond, &f->lock, &until) == 0)
		;
	uint32_t v = f->verified;
	pthread_mutex_unlock(&f->lock);
	return v;
}

static void check_cache_bytes(struct fixture *f, struct cache *c)
{
	uint8_t *buf = malloc(PIECE_LEN);
	for (uint32_t i = 0; i < NPIECES; i++) {
		uint64_t off = (uint64_t)i * PIECE_LEN;
		uint64_t len = TOTAL - off < PIECE_LEN ? TOTAL - off : PIECE_LEN;
		assert_int_equal(cache_read(c, i, 0, buf, len), 0);
		assert_memory_equal(buf, f->data + off, len);
	}
	free(buf);
}

static void test_two_engines(void **state)
{
	struct fixture *f = *state;
	struct cache *seed_cache = full_cache(f, "seed");
	struct cache *leech_cache = open_cache(f, "leech");
	int err = 0;
	struct bt_session_opts so = {.bind_ip = "127.0.0.1", .no_trackers = true};
	struct bt_session *seed = bt_session_new(&f->mi, seed_cache, &so, &err);
	assert_non_null(seed);
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", bt_session_port(seed));
	const char *peers[] = {peer};
	struct bt_session_opts lo = {.bind_ip = "127.0.0.1",
				     .no_trackers = true,
				     .peers = peers,
				     .npeers = 1};
	struct bt_session *leech = bt_session_new(&f->mi, leech_cache, &lo, &err);
	assert_non_null(leech);
	bt_session_on_piece(leech, on_piece, f);
	assert_int_equal(bt_session_start(seed), 0);
	assert_int_equal(bt_session_start(leech), 0);

	/* only what is wanted is fetched */
	bt_session_want(leech, 3, 4, 0);
	assert_int_equal(wait_verified(f, 2, 10), 2);
	assert_true(cache_has(leech_cache, 3) && cache_has(leech_cache, 4));
	assert_int_equal(cache_count(leech_cache), 2);

	bt_session_want(leech, 0, NPIECES - 1, 0);
	assert_int_equal(wait_verified(f, NPIECES, 20), NPIECES);
	check_cache_bytes(f, leech_cache);
	assert_int_equal(cache_check(leech_cache), 0);

	struct bt_stats st;
	bt_session_stats(leech, &st);
	bt_session_stop(leech);
	bt_session_stop(seed);
	bt_session_free(leech);
	bt_session_free(seed);
	cache_close(seed_cache);
	cache_close(leech_cache);
}

/* Read-ahead claims given back before any peer could serve them are not
 * fetched; a read's want is; with fetch_all the rest comes on its own. */
static void test_prefetch_and_fetch_all(void **state)
{
	struct fixture *f = *state;
	struct cache *seed_cache = full_cache(f, "seed");
	struct cache *leech_cache = open_cache(f, "leech");
	struct cache *all_cache = open_cache(f, "all");
	int err = 0;
	struct bt_session_opts so = {.bind_ip = "127.0.0.1", .no_trackers = true};
	struct bt_session *seed = bt_session_new(&f->mi, seed_cache, &so, &err);
	assert_non_null(seed);
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", bt_session_port(seed));
	const char *peers[] = {peer};
	struct bt_session_opts lo = {.bind_ip = "127.0.0.1",
				     .no_trackers = true,
				     .peers = peers,
				     .npeers = 1};
	struct bt_session *leech = bt_session_new(&f->mi, leech_cache, &lo, &err);
	assert_non_null(leech);
	bt_session_on_piece(leech, on_piece, f);
	/* posted before the start: run in order before any peer connects */
	bt_session_prefetch(leech, 10, 20, 0, 5);
	bt_session_prefetch(leech, 15, 16, 0, 0); /* a second holder */
	bt_session_unprefetch(leech, 10, 20);
	bt_session_want(leech, 2, 2, 0);
	assert_int_equal(bt_session_start(seed), 0);
	assert_int_equal(bt_session_start(leech), 0);
	/* 2 (read) and 15..16 (still held) come; 10..14, 17..20 do not */
	assert_int_equal(wait_verified(f, 3, 10), 3);
	assert_int_equal(wait_verified(f, 4, 1), 3);
	assert_true(cache_has(leech_cache, 2));
	assert_true(cache_has(leech_cache, 15) && cache_has(leech_cache, 16));
	assert_int_equal(cache_count(leech_cache), 3);
	bt_session_stop(leech);
	bt_session_free(leech);

	/* fetch_all: no want at all, everything arrives */
	f->verified = 0;
	lo.fetch_all = true;
	struct bt_session *all = bt_session_new(&f->mi, all_cache, &lo, &err);
	assert_non_null(all);
	bt_session_on_piece(all, on_piece, f);
	assert_int_equal(bt_session_start(all), 0);
	assert_int_equal(wait_verified(f, NPIECES, 20), NPIECES);
	check_cache_bytes(f, all_cache);
	bt_session_stop(all);
	bt_session_free(all);
	bt_session_stop(seed);
	bt_session_free(seed);
	cache_close(seed_cache);
	cache_close(leech_cache);
	cache_close(all_cache);
}

/* ---- a lying seeder on a raw socket ---- */

struct liar {
	int lfd;
	uint16_t port;
	const struct bt_metainfo *mi;
	int mode; /* 0: bad blocks, 1: garbage after handshake */
	pthread_t thread;
	int requests;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static void *liar_main(void *arg)
{
	struct liar *l = arg;
	int fd = accept(l->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t hs[BT_HANDSHAKE_LEN], reserved[8] = {0}, pid[20];
	memset(pid, 'L', 20);
	if (read_full(fd, hs, sizeof(hs)) < 0)
		goto out;
	bt_wire_handshake(hs, reserved, l->mi->info_hash, pid);
	if (write(fd, hs, sizeof(hs)) != sizeof(hs))
		goto out;
	if (l->mode == 1) {
		static const uint8_t junk[] = {0, 0, 0, 3, 99, 1, 2,
					       0xff, 0xff, 0xff, 0xff};
		if (write(fd, junk, sizeof(junk)) < 0)
			goto out;
	}
	uint8_t bf[(NPIECES + 7) / 8] = {0};
	for (uint32_t i = 0; i < NPIECES; i++)
		bt_bit_set(bf, i);
	uint8_t msg[64];
	struct bt_msg m = {.type = BT_MSG_BITFIELD, .data = bf,
			   .data_len = sizeof(bf)};
	size_t n = bt_wire_build(msg, sizeof(msg), &m);
	m = (struct bt_msg){.type = BT_MSG_UNCHOKE};
	n += bt_wire_build(msg + n, sizeof(msg) - n, &m);
	if (write(fd, msg, n) != (ssize_t)n)
		goto out;
	for (;;) {
		uint8_t lenb[4];
		if (read_full(fd, lenb, 4) < 0)
			break;
		uint32_t len = be32(lenb);
		if (len > 1024)
			break;
		uint8_t body[1024];
		if (read_full(fd, body, len) < 0)
			break;
		if (len != 13 || body[0] != BT_MSG_REQUEST)
			continue;
		l->requests++;
		uint32_t index = be32(body + 1);
		uint32_t begin = be32(body + 5);
		uint32_t blen = be32(body + 9);
		uint8_t *out = calloc(1, 13 + blen);
		m = (struct bt_msg){.type = BT_MSG_PIECE, .index = index,
				    .begin = begin, .data_len = blen};
		size_t h = bt_wire_build(out, 13, &m);
		memset(out + h, 0xAB, blen); /* wrong bytes */
		ssize_t w = write(fd, out, h + blen);
		free(out);
		if (w < 0)
			break;
	}
out:
	close(fd);
	return NULL;
}

static void liar_start(struct liar *l, const struct bt_metainfo *mi, int mode)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->mi = mi;
	l->mode = mode;
	l->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l->lfd >= 0);
	assert_int_equal(bind(l->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l->lfd, 4), 0);
	getsockname(l->lfd, (struct sockaddr *)&a, &alen);
	l->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&l->thread, NULL, liar_main, l), 0);
}

static void run_with_liar(struct fixture *f, int mode)
{
	struct liar l = {0};
	liar_start(&l, &f->mi, mode);
	struct cache *c = open_cache(f, mode ? "garbage" : "liar");
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", l.port);
	const char *peers[] = {peer};
	struct bt_session_opts o = {.bind_ip = "127.0.0.1",
				    .no_trackers = true,
				    .peers = peers,
				    .npeers = 1};
	int err = 0;
	struct bt_session *s = bt_session_new(&f->mi, c, &o, &err);
	assert_non_null(s);
	bt_session_on_piece(s, on_piece, f);
	assert_int_equal(bt_session_start(s), 0);
	bt_session_want(s, 0, 1, 0);
	/* the liar's connection ends: it was dropped (or never trusted) */
	pthread_join(l.thread, NULL);
	struct bt_stats st;
	for (int i = 0; i < 30; i++) {
		bt_session_stats(s, &st);
		if (st.npeers == 0 && (mode || st.hash_fails > 0))
			break;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(cache_count(c), 0);
	assert_int_equal(f->verified, 0);
	if (mode == 0) {
		assert_true(l.requests > 0);
		assert_true(st.hash_fails >= 1);
	}
	bt_session_stop(s);
	bt_session_free(s);
	close(l.lfd);
	cache_close(c);
}

static void test_liar_dropped(void **state)
{
	run_with_liar(*state, 0);
}

static void test_garbage_dropped(void **state)
{
	run_with_liar(*state, 1);
}

static void test_bad_options(void **state)
{
	struct fixture *f = *state;
	struct cache *c = open_cache(f, "opts");
	const char *bad[] = {"127.0.0.1"};
	struct bt_session_opts o = {.no_trackers = true, .peers = bad,
				    .npeers = 1};
	int err = 0;
	assert_null(bt_session_new(&f->mi, c, &o, &err));
	assert_int_equal(err, -EINVAL);
	const char *bad2[] = {"[::1]:99999"};
	o.peers = bad2;
	assert_null(bt_session_new(&f->mi, c, &o, &err));
	/* a busy port is reported before anything starts */
	struct bt_session_opts a = {.bind_ip = "127.0.0.1", .no_trackers = true};
	struct bt_session *s1 = bt_session_new(&f->mi, c, &a, &err);
	assert_non_null(s1);
	a.port = bt_session_port(s1);
	assert_null(bt_session_new(&f->mi, c, &a, &err));
	assert_int_equal(err, -EADDRINUSE);
	bt_session_free(s1);
	cache_close(c);
}

int main(void)
{
	pfs_log_set_level(getenv("P2PFS_TEST_DEBUG") ? PFS_LOG_DEBUG : PFS_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_engines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefetch_and_fetch_all,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_liar_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
	};
	return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
