/* Unit tests for bt_session: two engines in one process over loopback
 * (wants, read-ahead claims given back, fetch-all), and hostile peers (a
 * liar sending bad blocks, a peer sending garbage) that must be dropped
 * without a wrong byte ever being marked verified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
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

#include "bt_choker.h"
#include "bt_mse.h"
#include "bt_peer.h"
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

	/* both are seeds now: the connection is of no use and is closed */
	struct bt_stats st;
	for (int i = 0; i < 40; i++) {
		bt_session_stats(leech, &st);
		if (st.npeers == 0)
			break;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(st.npeers, 0);
	bt_session_stop(leech);
	bt_session_stop(seed);
	bt_session_free(leech);
	bt_session_free(seed);
	cache_close(seed_cache);
	cache_close(leech_cache);
}


static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --max-up on the seed holds the transfer to about the limit */
static void test_upload_limit(void **state)
{
	struct fixture *f = *state;
	struct cache *seed_cache = full_cache(f, "seed");
	struct cache *leech_cache = open_cache(f, "leech");
	int err = 0;
	uint64_t limit = 1u << 20;
	struct bt_session_opts so = {.bind_ip = "127.0.0.1", .no_trackers = true,
				     .max_up = limit};
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
	double t0 = now_s();
	bt_session_want(leech, 0, NPIECES - 1, 0);
	assert_int_equal(wait_verified(f, NPIECES, 30), NPIECES);
	double dt = now_s() - t0;
	if (getenv("P2PFS_TEST_DEBUG"))
		fprintf(stderr, "%llu bytes in %.2f s: %.0f B/s (limit %llu)\n",
			(unsigned long long)TOTAL, dt, (double)TOTAL / dt,
			(unsigned long long)limit);
	/* 2.3 MiB at 1 MiB/s: 2.3 s */
	assert_true(dt > 0.6 * (double)TOTAL / (double)limit);
	check_cache_bytes(f, leech_cache);
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

/* The liar waits at most this long for the engine to drop it. */
#define LIAR_DEADLINE_S 15

struct liar {
	int lfd;
	uint16_t port;
	const struct bt_metainfo *mi;
	int mode; /* 0: bad blocks, 1: garbage after handshake */
	pthread_t thread;
	int requests;
	bool handshaken; /* the engine's handshake came and ours went */
	bool dropped;	 /* the engine closed the connection in time */
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

/* Read LEN bytes before END (a now_s() time): 0, -1 when the other side
 * closed, -2 at the deadline. */
static int read_until(int fd, void *buf, size_t len, double end)
{
	size_t got = 0;
	while (got < len) {
		if (now_s() >= end)
			return -2;
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return -1;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return -2;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

static void *liar_main(void *arg)
{
	struct liar *l = arg;
	double end = now_s() + LIAR_DEADLINE_S;
	int fd = accept(l->lfd, NULL, NULL); /* bounded: SO_RCVTIMEO */
	if (fd < 0)
		return NULL;
	struct timeval tv = {0, 200 * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t hs[BT_HANDSHAKE_LEN], reserved[8] = {0}, pid[20];
	memset(pid, 'L', 20);
	if (read_until(fd, hs, sizeof(hs), end) < 0)
		goto out;
	bt_wire_handshake(hs, reserved, l->mi->info_hash, pid);
	if (write(fd, hs, sizeof(hs)) != sizeof(hs))
		goto out;
	l->handshaken = true;
	if (l->mode == 1) {
		/* an unknown message (ignored), then a length of 2^32 - 1,
		 * which must close the connection before any body comes */
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
	if (l->mode == 0 && write(fd, msg, n) != (ssize_t)n)
		goto out;
	for (;;) {
		uint8_t lenb[4];
		int r = read_until(fd, lenb, 4, end);
		if (r == -1)
			l->dropped = true;
		if (r < 0)
			break;
		uint32_t len = be32(lenb);
		if (len > 1024)
			break;
		uint8_t body[1024];
		r = read_until(fd, body, len, end);
		if (r == -1)
			l->dropped = true;
		if (r < 0)
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
		if (w < 0) {
			l->dropped = errno == ECONNRESET || errno == EPIPE;
			break;
		}
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
	struct timeval tv = {LIAR_DEADLINE_S, 0};
	setsockopt(l->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
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
	struct bt_session_opts o = {.bind_ip = "127.0.0.1", .encryption = BT_MSE_OFF,
				    .no_trackers = true,
				    .peers = peers,
				    .npeers = 1};
	int err = 0;
	struct bt_session *s = bt_session_new(&f->mi, c, &o, &err);
	assert_non_null(s);
	bt_session_on_piece(s, on_piece, f);
	assert_int_equal(bt_session_start(s), 0);
	assert_int_equal(bt_session_want(s, 0, 1, 0), 0);
	/* the liar's thread ends by its deadline: dropped in time, or not */
	pthread_join(l.thread, NULL);
	struct bt_stats st;
	bt_session_stats(s, &st);
	for (int i = 0; i < 30 && mode == 0 && st.hash_fails == 0; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		bt_session_stats(s, &st);
	}
	assert_true(l.handshaken); /* it did connect */
	assert_true(l.dropped);	   /* and was dropped, in time */
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

/* ---- liars beside an honest seed ---- */

enum { POISON, LIE };

/* A scripted peer on its own loopback address (bans are per IP). */
struct villain {
	const char *ip;
	int lfd;
	uint16_t port;
	const struct bt_metainfo *mi;
	int mode;
	pthread_t thread;
	int sent, requests;
	bool handshaken, dropped;
	uint16_t victim_port; /* POISON: connect back here once dropped */
	bool refused;	      /* ... and was refused at once */
};

static void *villain_main(void *arg)
{
	struct villain *v = arg;
	double end = now_s() + 20;
	int fd = accept(v->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = {0, 50 * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t hs[BT_HANDSHAKE_LEN], res[8] = {0}, pid[20];
	memset(pid, v->mode == POISON ? 'P' : 'V', 20);
	res[7] |= 0x04;
	if (read_until(fd, hs, sizeof(hs), end) < 0)
		goto out;
	bt_wire_handshake(hs, res, v->mi->info_hash, pid);
	if (write(fd, hs, sizeof(hs)) != sizeof(hs))
		goto out;
	v->handshaken = true;
	uint8_t *blk = malloc(13 + BT_BLOCK_SIZE);
	struct bt_msg m = {.type = v->mode == POISON ? BT_MSG_HAVE_NONE
						     : BT_MSG_HAVE_ALL};
	size_t n = bt_wire_build(blk, 13, &m);
	m = (struct bt_msg){.type = BT_MSG_UNCHOKE};
	n += bt_wire_build(blk + n, 13, &m);
	if (write(fd, blk, n) != (ssize_t)n)
		goto done;
	uint32_t next = 0;
	while (now_s() < end) {
		if (v->mode == POISON) {
			/* garbage for blocks nobody asked it for, ahead of
			 * the reader, as fast as the socket takes them */
			uint32_t piece = (next / (PIECE_LEN / BT_BLOCK_SIZE)) %
					 (NPIECES - 1);
			uint32_t begin = next % (PIECE_LEN / BT_BLOCK_SIZE) *
					 BT_BLOCK_SIZE;
			next++;
			m = (struct bt_msg){.type = BT_MSG_PIECE, .index = piece,
					    .begin = begin,
					    .data_len = BT_BLOCK_SIZE};
			size_t h = bt_wire_build(blk, 13, &m);
			memset(blk + h, 0xCD, BT_BLOCK_SIZE);
			if (write(fd, blk, h + BT_BLOCK_SIZE) < 0) {
				v->dropped = true;
				break;
			}
			v->sent++;
			uint8_t junk[256];
			ssize_t r = read(fd, junk, sizeof(junk));
			if (r == 0 || (r < 0 && errno == ECONNRESET)) {
				v->dropped = true;
				break;
			}
			continue;
		}
		uint8_t lenb[4], body[64];
		int r = read_until(fd, lenb, 4, end);
		if (r == -1)
			v->dropped = true;
		if (r < 0)
			break;
		uint32_t len = be32(lenb);
		if (len > sizeof(body) || read_until(fd, body, len, end) < 0)
			break;
		if (len != 13 || body[0] != BT_MSG_REQUEST)
			continue;
		v->requests++;
		m = (struct bt_msg){.type = BT_MSG_PIECE, .index = be32(body + 1),
				    .begin = be32(body + 5),
				    .data_len = be32(body + 9)};
		size_t h;
		if (m.begin != 0) {
			/* only the first block of a piece, so it never sends
			 * a whole piece alone: the rest is rejected */
			m.type = BT_MSG_REJECT;
			m.length = m.data_len;
			h = bt_wire_build(blk, 17, &m);
			m.data_len = 0;
		} else {
			h = bt_wire_build(blk, 13, &m);
			memset(blk + h, 0xEF, m.data_len); /* wrong bytes */
		}
		if (write(fd, blk, h + m.data_len) < 0) {
			v->dropped = true;
			break;
		}
	}
done:
	free(blk);
out:
	close(fd);
	if (v->mode == POISON && v->dropped && v->victim_port) {
		/* back under the same address: refused */
		int c = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET};
		inet_pton(AF_INET, v->ip, &a.sin_addr);
		bind(c, (struct sockaddr *)&a, sizeof(a));
		a.sin_port = htons(v->victim_port);
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		struct timeval t5 = {5, 0};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &t5, sizeof(t5));
		if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
			bt_wire_handshake(hs, res, v->mi->info_hash, pid);
			if (write(c, hs, sizeof(hs)) == sizeof(hs)) {
				uint8_t back[BT_HANDSHAKE_LEN];
				ssize_t r = read(c, back, sizeof(back));
				v->refused = r == 0 || (r < 0 && errno == ECONNRESET);
			}
		}
		close(c);
	}
	return NULL;
}

static void villain_start(struct villain *v, const char *ip,
			  const struct bt_metainfo *mi, int mode)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	v->ip = ip;
	v->mi = mi;
	v->mode = mode;
	v->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {20, 0};
	setsockopt(v->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(bind(v->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(v->lfd, 4), 0);
	getsockname(v->lfd, (struct sockaddr *)&a, &alen);
	v->port = ntohs(a.sin_port);
}

/* Is a peer at ADDR among the leecher's connected peers? */
static bool connected_to(struct bt_session *s, const char *addr)
{
	struct bt_peer_info pi[8];
	size_t n = bt_session_peers(s, pi, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (!strcmp(pi[i].addr, addr))
			return true;
	return false;
}

/* A poisoner that owns nothing pushes garbage blocks for the pieces a
 * reader wants, never asked for them; an honest seed beside it (slowed
 * down, so the garbage comes first). The garbage must never reach a piece
 * (no hash failure at all), the honest seed must stay, the poisoner must
 * go and not come back under its address. Before, a block nobody asked
 * for was taken, the pieces failed with two senders, both got strikes and
 * the honest seed was banned: the read stopped. */
static void test_poisoner(void **state)
{
	struct fixture *f = *state;
	struct cache *seed_cache = full_cache(f, "seed");
	struct cache *leech_cache = open_cache(f, "leech");
	int err = 0;
	struct bt_session_opts so = {.bind_ip = "127.0.0.1", .no_trackers = true,
				     .max_up = 1u << 20};
	struct bt_session *seed = bt_session_new(&f->mi, seed_cache, &so, &err);
	assert_non_null(seed);
	struct villain v = {0};
	villain_start(&v, "127.0.0.2", &f->mi, POISON);
	char honest[64], bad[64];
	snprintf(honest, sizeof(honest), "127.0.0.1:%u", bt_session_port(seed));
	snprintf(bad, sizeof(bad), "127.0.0.2:%u", v.port);
	const char *peers[] = {bad, honest};
	struct bt_session_opts lo = {.bind_ip = "127.0.0.1", .encryption = BT_MSE_OFF,
				     .no_trackers = true,
				     .peers = peers,
				     .npeers = 2};
	struct bt_session *leech = bt_session_new(&f->mi, leech_cache, &lo, &err);
	assert_non_null(leech);
	v.victim_port = bt_session_port(leech);
	assert_int_equal(pthread_create(&v.thread, NULL, villain_main, &v), 0);
	bt_session_on_piece(leech, on_piece, f);
	assert_int_equal(bt_session_start(seed), 0);
	assert_int_equal(bt_session_start(leech), 0);
	/* a reader: the first half, then it stays connected to the seed */
	uint32_t half = NPIECES / 2;
	assert_int_equal(bt_session_want(leech, 0, half - 1, 0), 0);
	assert_int_equal(wait_verified(f, half, 30), half);
	pthread_join(v.thread, NULL);
	struct bt_stats st;
	bt_session_stats(leech, &st);
	assert_true(v.handshaken && v.sent > 0);
	assert_true(v.dropped);
	assert_true(v.refused);		/* not back under its address */
	assert_int_equal(st.hash_fails, 0); /* no garbage reached a piece */
	for (int i = 0; i < 200 && !connected_to(leech, honest); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_true(connected_to(leech, honest));
	uint8_t *buf = malloc(PIECE_LEN);
	for (uint32_t i = 0; i < half; i++) {
		assert_int_equal(cache_read(leech_cache, i, 0, buf, PIECE_LEN), 0);
		assert_memory_equal(buf, f->data + (uint64_t)i * PIECE_LEN,
				    PIECE_LEN);
	}
	free(buf);
	close(v.lfd);
	bt_session_stop(leech);
	bt_session_stop(seed);
	bt_session_free(leech);
	bt_session_free(seed);
	cache_close(seed_cache);
	cache_close(leech_cache);
}

/* A liar that claims every piece and answers a request for the first
 * block of a piece with garbage (rejecting the others, so it never sends
 * a piece alone), beside an honest seed: a piece that fails with blocks
 * from both is fetched again from one peer alone and the liar is convicted
 * by its own blocks; the honest seed is never banned, so the read
 * completes. Before, two shared failures banned the honest seed too. */
static void test_liar_beside_honest(void **state)
{
	struct fixture *f = *state;
	struct cache *seed_cache = full_cache(f, "seed");
	struct cache *leech_cache = open_cache(f, "leech");
	int err = 0;
	struct bt_session_opts so = {.bind_ip = "127.0.0.1", .no_trackers = true};
	struct bt_session *seed = bt_session_new(&f->mi, seed_cache, &so, &err);
	assert_non_null(seed);
	struct villain v = {0};
	villain_start(&v, "127.0.0.3", &f->mi, LIE);
	assert_int_equal(pthread_create(&v.thread, NULL, villain_main, &v), 0);
	char honest[64], bad[64];
	snprintf(honest, sizeof(honest), "127.0.0.1:%u", bt_session_port(seed));
	snprintf(bad, sizeof(bad), "127.0.0.3:%u", v.port);
	const char *peers[] = {bad, honest};
	struct bt_session_opts lo = {.bind_ip = "127.0.0.1", .encryption = BT_MSE_OFF,
				     .no_trackers = true,
				     .peers = peers,
				     .npeers = 2};
	struct bt_session *leech = bt_session_new(&f->mi, leech_cache, &lo, &err);
	assert_non_null(leech);
	bt_session_on_piece(leech, on_piece, f);
	assert_int_equal(bt_session_start(seed), 0);
	assert_int_equal(bt_session_start(leech), 0);
	uint32_t part = NPIECES - 4; /* not all: it stays a leecher */
	assert_int_equal(bt_session_want(leech, 0, part - 1, 0), 0);
	assert_int_equal(wait_verified(f, part, 30), part);
	pthread_join(v.thread, NULL);
	struct bt_stats st;
	bt_session_stats(leech, &st);
	assert_true(v.requests > 0);
	assert_true(v.dropped);
	for (int i = 0; i < 200 && !connected_to(leech, honest); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_true(connected_to(leech, honest));
	assert_false(connected_to(leech, bad));
	if (getenv("P2PFS_TEST_DEBUG"))
		fprintf(stderr, "liar: %d requests, %u hash failures\n",
			v.requests, st.hash_fails);
	uint8_t *buf = malloc(PIECE_LEN);
	for (uint32_t i = 0; i < part; i++) {
		assert_int_equal(cache_read(leech_cache, i, 0, buf, PIECE_LEN), 0);
		assert_memory_equal(buf, f->data + (uint64_t)i * PIECE_LEN,
				    PIECE_LEN);
	}
	free(buf);
	close(v.lfd);
	bt_session_stop(leech);
	bt_session_stop(seed);
	bt_session_free(leech);
	bt_session_free(seed);
	cache_close(seed_cache);
	cache_close(leech_cache);
}

/* ---- a hostile downloader on a raw socket ---- */

static int raw_connect(uint16_t port, const struct bt_metainfo *mi, bool fast,
		       char id)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t hs[BT_HANDSHAKE_LEN], reserved[8] = {0}, pid[20];
	memset(pid, id, 20);
	if (fast)
		reserved[7] |= 0x04;
	bt_wire_handshake(hs, reserved, mi->info_hash, pid);
	assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
	return fd;
}

/* Read one message into BUF (CAP bytes); returns its id, -1 for a
 * keepalive, -2 when the connection ends or times out. */
static int raw_msg(int fd, uint8_t *buf, size_t cap, uint32_t *len)
{
	uint8_t lenb[4];
	for (;;) {
		if (read_full(fd, lenb, 4) < 0)
			return -2;
		*len = be32(lenb);
		if (*len == 0)
			continue;
		assert_true(*len <= cap);
		if (read_full(fd, buf, *len) < 0)
			return -2;
		return buf[0];
	}
}

static void raw_send(int fd, const struct bt_msg *m)
{
	uint8_t out[32];
	size_t n = bt_wire_build(out, sizeof(out), m);
	assert_true(n > 0);
	assert_int_equal(write(fd, out, n), (ssize_t)n);
}

/* True once FD is closed by the other side (EOF within 5 s). */
static bool raw_closed(int fd)
{
	uint8_t buf[256];
	for (int i = 0; i < 10000; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false; /* timed out */
	}
	return false;
}

static struct bt_session *seed_session(struct fixture *f, struct cache *c,
				       int max_peers)
{
	int err = 0;
	struct bt_session_opts so = {.bind_ip = "127.0.0.1", .no_trackers = true,
				     .max_peers = max_peers};
	struct bt_session *s = bt_session_new(&f->mi, c, &so, &err);
	assert_non_null(s);
	assert_int_equal(bt_session_start(s), 0);
	return s;
}

#define NREQ 600

static void test_hostile_requests(void **state)
{
	struct fixture *f = *state;
	struct cache *c = full_cache(f, "seed");
	struct bt_session *s = seed_session(f, c, 0);
	uint8_t buf[13 + BT_BLOCK_SIZE + 64];
	uint32_t len;
	int fd = raw_connect(bt_session_port(s), &f->mi, true, 'H');
	assert_int_equal(read_full(fd, buf, BT_HANDSHAKE_LEN), 0);
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_HAVE_ALL);

	/* a request while choked is rejected (fast extension) */
	struct bt_msg rq = {.type = BT_MSG_REQUEST, .index = 2, .begin = 0,
			    .length = BT_BLOCK_SIZE};
	raw_send(fd, &rq);
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_REJECT);
	assert_int_equal(be32(buf + 1), 2);
	assert_int_equal(be32(buf + 9), BT_BLOCK_SIZE);

	/* interested: a free slot, so unchoked at once */
	raw_send(fd, &(struct bt_msg){.type = BT_MSG_INTERESTED});
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_UNCHOKE);
	raw_send(fd, &rq);
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_PIECE);
	assert_int_equal(len, 9 + BT_BLOCK_SIZE);
	assert_memory_equal(buf + 9, f->data + 2 * PIECE_LEN, BT_BLOCK_SIZE);

	/* a request cancelled at once is rejected (BEP 6), never served */
	uint8_t two[3 * 17];
	struct bt_msg m5 = {.type = BT_MSG_REQUEST, .index = 5, .begin = 0,
			    .length = BT_BLOCK_SIZE};
	assert_int_equal(bt_wire_build(two, 17, &m5), 17);
	m5.type = BT_MSG_CANCEL;
	assert_int_equal(bt_wire_build(two + 17, 17, &m5), 17);
	struct bt_msg m6 = {.type = BT_MSG_REQUEST, .index = 6, .begin = 0,
			    .length = BT_BLOCK_SIZE};
	assert_int_equal(bt_wire_build(two + 34, 17, &m6), 17);
	assert_int_equal(write(fd, two, sizeof(two)), sizeof(two));
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_REJECT);
	assert_int_equal(be32(buf + 1), 5);
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_PIECE);
	assert_int_equal(be32(buf + 1), 6);

	/* a flood of requests in one go: every one is answered, by the
	 * right bytes or by a reject when BT_CHOKER_MAX_QUEUE are queued */
	uint8_t *flood = malloc(NREQ * 17);
	for (int i = 0; i < NREQ; i++) {
		struct bt_msg m = {.type = BT_MSG_REQUEST,
				   .index = (uint32_t)(i % (NPIECES - 1)),
				   .begin = (uint32_t)(i / (NPIECES - 1)) * 1024,
				   .length = 1024};
		assert_int_equal(bt_wire_build(flood + 17 * i, 17, &m), 17);
	}
	assert_int_equal(write(fd, flood, NREQ * 17), NREQ * 17);
	free(flood);
	int pieces = 0, rejects = 0;
	while (pieces + rejects < NREQ) {
		int id = raw_msg(fd, buf, sizeof(buf), &len);
		assert_true(id == BT_MSG_PIECE || id == BT_MSG_REJECT);
		uint32_t index = be32(buf + 1), begin = be32(buf + 5);
		if (id == BT_MSG_PIECE) {
			assert_int_equal(len, 9 + 1024);
			assert_memory_equal(buf + 9,
					    f->data + (uint64_t)index * PIECE_LEN +
						    begin,
					    1024);
			pieces++;
		} else {
			assert_int_equal(be32(buf + 9), 1024);
			rejects++;
		}
	}
	if (getenv("P2PFS_TEST_DEBUG"))
		fprintf(stderr, "flood: %d pieces, %d rejects\n", pieces,
			rejects);
	/* within our advertised queue depth nothing is rejected */
	assert_int_equal(rejects, 0);
	assert_int_equal(pieces, NREQ);

	/* a request past the end of a piece: dropped */
	rq.index = NPIECES - 1;
	rq.begin = 4096;
	rq.length = 1000; /* the last piece is 5000 bytes */
	raw_send(fd, &rq);
	assert_true(raw_closed(fd));
	close(fd);

	/* without the fast extension a request while choked is ignored */
	fd = raw_connect(bt_session_port(s), &f->mi, false, 'P');
	assert_int_equal(read_full(fd, buf, BT_HANDSHAKE_LEN), 0);
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_BITFIELD);
	rq = (struct bt_msg){.type = BT_MSG_REQUEST, .index = 1, .begin = 0,
			     .length = BT_BLOCK_SIZE};
	raw_send(fd, &rq);
	raw_send(fd, &(struct bt_msg){.type = BT_MSG_INTERESTED});
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_UNCHOKE);
	raw_send(fd, &(struct bt_msg){.type = BT_MSG_HAVE, .index = 0});
	rq.index = 3;
	raw_send(fd, &rq);
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_PIECE);
	assert_int_equal(be32(buf + 1), 3); /* not piece 1 */
	/* a request over 128 KiB: dropped */
	rq.length = BT_MAX_BLOCK_SIZE + 1;
	raw_send(fd, &rq);
	assert_true(raw_closed(fd));
	close(fd);

	bt_session_stop(s);
	bt_session_free(s);
	cache_close(c);
}

/* A leecher without the fast extension that pipelines more than our queue
 * cap (as rtorrent does) is never left waiting: the excess voids its
 * queue with a choke and an unchoke, it asks again, and every block comes.
 * Without that, the requests over the cap were dropped in silence and
 * their answers never came. */
static void test_deep_pipeline(void **state)
{
	struct fixture *f = *state;
	struct cache *c = full_cache(f, "seed");
	struct bt_session *s = seed_session(f, c, 0);
	uint8_t buf[13 + BT_BLOCK_SIZE + 64];
	uint32_t len;
	int fd = raw_connect(bt_session_port(s), &f->mi, false, 'R');
	assert_int_equal(read_full(fd, buf, BT_HANDSHAKE_LEN), 0);
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_BITFIELD);
	raw_send(fd, &(struct bt_msg){.type = BT_MSG_INTERESTED});
	assert_int_equal(raw_msg(fd, buf, sizeof(buf), &len), BT_MSG_UNCHOKE);
	/* small blocks, four times the cap in one go: far more than the
	 * output watermark lets us send before the peer reads, so the cap is
	 * hit whatever the timing */
	enum { BLK = 256, NBLK = 4 * BT_CHOKER_MAX_QUEUE, PER = PIECE_LEN / BLK };
	assert_true(NBLK <= (NPIECES - 1) * PER);
	uint8_t *got = calloc(NBLK, 1);
	uint8_t *req = malloc(17 * NBLK);
	size_t nreq = 0;
	for (int i = 0; i < NBLK; i++) {
		struct bt_msg m = {.type = BT_MSG_REQUEST,
				   .index = (uint32_t)(i / PER),
				   .begin = (uint32_t)(i % PER) * BLK,
				   .length = BLK};
		nreq += bt_wire_build(req + nreq, 17, &m);
	}
	assert_int_equal(write(fd, req, nreq), (ssize_t)nreq);
	int have = 0, resets = 0;
	bool choked = false;
	double end = now_s() + 30;
	while (have < NBLK) {
		assert_true(now_s() < end);
		int id = raw_msg(fd, buf, sizeof(buf), &len);
		assert_true(id != -2); /* a silent stall ends here */
		if (id == BT_MSG_CHOKE) {
			choked = true;
			continue;
		}
		if (id == BT_MSG_UNCHOKE && choked) {
			/* every request is void: ask again for the rest */
			choked = false;
			resets++;
			nreq = 0;
			for (int i = 0; i < NBLK; i++) {
				if (got[i])
					continue;
				struct bt_msg m = {
					.type = BT_MSG_REQUEST,
					.index = (uint32_t)(i / PER),
					.begin = (uint32_t)(i % PER) * BLK,
					.length = BLK};
				nreq += bt_wire_build(req + nreq, 17, &m);
			}
			assert_int_equal(write(fd, req, nreq), (ssize_t)nreq);
			continue;
		}
		if (id != BT_MSG_PIECE)
			continue;
		uint32_t index = be32(buf + 1), begin = be32(buf + 5);
		int i = (int)(index * PER + begin / BLK);
		assert_true(i >= 0 && i < NBLK);
		assert_memory_equal(buf + 9,
				    f->data + (uint64_t)index * PIECE_LEN + begin,
				    BLK);
		if (!got[i]) {
			got[i] = 1;
			have++;
		}
	}
	assert_true(resets >= 1); /* the cap was hit, and said so */
	free(got);
	free(req);
	close(fd);
	bt_session_stop(s);
	bt_session_free(s);
	cache_close(c);
}

/* Connections that handshake and then say nothing keep no slot from real
 * peers: idle incoming peers have a cap of their own (the oldest goes) and
 * each is closed once its grace is over. Without that, 30 of them took
 * every slot of a seed and a real leecher was refused. */
static void test_silent_inbound(void **state)
{
	struct fixture *f = *state;
	struct cache *seed_cache = full_cache(f, "seed");
	struct cache *leech_cache = open_cache(f, "leech");
	struct bt_session *seed = seed_session(f, seed_cache, 20);
	uint16_t port = bt_session_port(seed);
	enum { NSILENT = 30 };
	int silent[NSILENT];
	uint8_t buf[BT_HANDSHAKE_LEN];
	for (int i = 0; i < NSILENT; i++) {
		silent[i] = raw_connect(port, &f->mi, true, (char)('a' + i));
		/* each is let in (the oldest idle one makes room) */
		assert_int_equal(read_full(silent[i], buf, BT_HANDSHAKE_LEN), 0);
	}
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", port);
	const char *peers[] = {peer};
	struct bt_session_opts lo = {.bind_ip = "127.0.0.1",
				     .no_trackers = true,
				     .peers = peers,
				     .npeers = 1};
	int err = 0;
	struct bt_session *leech =
		bt_session_new(&f->mi, leech_cache, &lo, &err);
	assert_non_null(leech);
	bt_session_on_piece(leech, on_piece, f);
	assert_int_equal(bt_session_start(leech), 0);
	double t0 = now_s();
	assert_int_equal(bt_session_want(leech, 0, NPIECES - 1, 0), 0);
	assert_int_equal(wait_verified(f, NPIECES, 15), NPIECES);
	check_cache_bytes(f, leech_cache);
	/* and the last of the silent ones goes once its grace is over */
	struct timeval tv = {BT_PEER_GRACE_MS / 1000 + 5, 0};
	setsockopt(silent[NSILENT - 1], SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	assert_true(raw_closed(silent[NSILENT - 1]));
	assert_true(now_s() - t0 < BT_PEER_GRACE_MS / 1000.0 + 6);
	for (int i = 0; i < NSILENT; i++)
		close(silent[i]);
	bt_session_stop(leech);
	bt_session_free(leech);
	bt_session_stop(seed);
	bt_session_free(seed);
	cache_close(seed_cache);
	cache_close(leech_cache);
}

/* Six interested peers: four regular slots and one optimistic unchoke */
static void test_upload_slots(void **state)
{
	struct fixture *f = *state;
	struct cache *c = full_cache(f, "seed");
	struct bt_session *s = seed_session(f, c, 0);
	uint8_t buf[256];
	uint32_t len;
	int fds[6];
	for (int i = 0; i < 6; i++) {
		fds[i] = raw_connect(bt_session_port(s), &f->mi, true,
				     (char)('a' + i));
		assert_int_equal(read_full(fds[i], buf, BT_HANDSHAKE_LEN), 0);
		assert_int_equal(raw_msg(fds[i], buf, sizeof(buf), &len),
				 BT_MSG_HAVE_ALL);
		raw_send(fds[i], &(struct bt_msg){.type = BT_MSG_INTERESTED});
	}
	int unchoked = 0;
	for (int i = 0; i < 6; i++) {
		struct timeval tv = {1, 0};
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		int id = raw_msg(fds[i], buf, sizeof(buf), &len);
		assert_true(id == BT_MSG_UNCHOKE || id == -2);
		unchoked += id == BT_MSG_UNCHOKE;
	}
	assert_int_equal(unchoked, BT_CHOKER_SLOTS + 1);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	bt_session_stop(s);
	bt_session_free(s);
	cache_close(c);
}

static void test_connection_cap(void **state)
{
	struct fixture *f = *state;
	struct cache *c = full_cache(f, "seed");
	struct bt_session *s = seed_session(f, c, 3);
	uint16_t port = bt_session_port(s);
	uint8_t buf[BT_HANDSHAKE_LEN];

	/* the same peer id twice: the second connection is dropped */
	int a = raw_connect(port, &f->mi, true, 'A');
	assert_int_equal(read_full(a, buf, BT_HANDSHAKE_LEN), 0);
	int a2 = raw_connect(port, &f->mi, true, 'A');
	assert_true(raw_closed(a2));
	close(a2);

	/* up to the cap of 3 peers that want something, then refused */
	int b = raw_connect(port, &f->mi, true, 'B');
	assert_int_equal(read_full(b, buf, BT_HANDSHAKE_LEN), 0);
	int d = raw_connect(port, &f->mi, true, 'D');
	assert_int_equal(read_full(d, buf, BT_HANDSHAKE_LEN), 0);
	int fds[3] = {a, b, d};
	for (int i = 0; i < 3; i++) {
		uint8_t m[64];
		uint32_t len;
		int id;
		raw_send(fds[i], &(struct bt_msg){.type = BT_MSG_INTERESTED});
		while ((id = raw_msg(fds[i], m, sizeof(m), &len)) !=
		       BT_MSG_UNCHOKE)
			assert_int_equal(id, BT_MSG_HAVE_ALL);
	}
	int e = raw_connect(port, &f->mi, true, 'E');
	assert_true(raw_closed(e));
	close(e);
	/* a place frees up */
	close(d);
	int g = -1;
	for (int i = 0; i < 50 && g < 0; i++) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
		g = raw_connect(port, &f->mi, true, 'G');
		if (read_full(g, buf, BT_HANDSHAKE_LEN) < 0) {
			close(g);
			g = -1;
		}
	}
	assert_true(g >= 0);
	close(g);
	close(b);
	close(a);
	bt_session_stop(s);
	bt_session_free(s);
	cache_close(c);
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

/* ---- a leecher with a cache limit ---- */

/* Wait (bounded) until PIECE is in C; the engine's verdict comes first. */
static bool wait_has(struct cache *c, uint32_t piece, int secs)
{
	for (int i = 0; i < secs * 100; i++) {
		if (cache_has(c, piece))
			return true;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static void test_limit_refetch_and_peers(void **state)
{
	struct fixture *f = *state;
	struct cache *seed_cache = full_cache(f, "seed");
	struct cache *leech_cache = open_cache(f, "leech");
	int err = 0;
	assert_int_equal(cache_set_limit(leech_cache, 4ull * PIECE_LEN), 0);
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
	assert_int_equal(bt_session_start(seed), 0);
	assert_int_equal(bt_session_start(leech), 0);

	/* one piece at a time, like a reader: the oldest go */
	for (uint32_t i = 0; i < 10; i++) {
		bt_session_want(leech, i, i, 0);
		assert_true(wait_has(leech_cache, i, 10));
	}
	struct cache_usage u;
	cache_usage(leech_cache, &u);
	assert_true(u.used <= 4ull * PIECE_LEN);
	assert_true(u.evictions >= 6);
	assert_false(cache_has(leech_cache, 0));
	/* evicted, so wanted again: fetched again, not taken as had */
	bt_session_want(leech, 0, 0, 0);
	assert_true(wait_has(leech_cache, 0, 10));
	assert_int_equal(cache_check(leech_cache), 0);

	/* the peer snapshot names the seed within a couple of seconds */
	struct bt_peer_info pi[4];
	size_t n = 0;
	for (int i = 0; i < 300 && n == 0; i++) {
		n = bt_session_peers(leech, pi, 4);
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(n, 1);
	assert_string_equal(pi[0].addr, peer);
	assert_memory_equal(pi[0].peer_id, "-PF0100-", 8);
	assert_true(pi[0].seed);
	assert_false(pi[0].incoming);
	assert_true(pi[0].downloaded >= 10ull * PIECE_LEN);
	assert_int_equal(bt_session_peers(leech, NULL, 0), 1);

	bt_session_stop(leech);
	bt_session_stop(seed);
	bt_session_free(leech);
	bt_session_free(seed);
	cache_close(seed_cache);
	cache_close(leech_cache);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as p2pfs does: see bt_session.h */
	pfs_log_set_level(getenv("P2PFS_TEST_DEBUG") ? PFS_LOG_DEBUG : PFS_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_engines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upload_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefetch_and_fetch_all,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_liar_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poisoner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_liar_beside_honest, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_pipeline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_silent_inbound, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_upload_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_refetch_and_peers, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
