/* Unit tests for bt_torrent's phases, with scripted remote peers on
 * loopback sockets: a torrent that knows only its info-hash (a magnet)
 * lets peers in and keeps what they say they have; a request or a piece
 * then is a protocol error; once the metadata is found (through the
 * owner's open-cache callback) every kept bitfield is checked — a wrong
 * length, or a have past the end, drops that peer — and the pieces are
 * fetched from a peer that said have_all before the piece count was
 * known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bt_mse.h"
#include "bt_torrent.h"
#include "bt_wire.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define PIECE_LEN (32u * 1024)
#define NPIECES 23
#define TOTAL ((uint64_t)(NPIECES - 1) * PIECE_LEN + 1234)

struct fixture {
	char dir[64];
	uint8_t *data;
	struct bt_metainfo mi;
	struct bt_file file;
	struct cache *cache;
	int opened;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t verified;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/p2pfs-test-torrent-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	struct bt_metainfo *mi = &f->mi;
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
	pfs_sha1("p2pfs torrent test", 18, mi->info_hash);
	pfs_hex(mi->info_hash, 20, mi->info_hash_hex);
	mi->name = "magnet.bin";
	f->file.path = "magnet.bin";
	f->file.length = TOTAL;
	mi->files = &f->file;
	mi->nfiles = 1;
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

static void on_piece(void *arg, uint32_t piece)
{
	struct fixture *f = arg;
	(void)piece;
	pthread_mutex_lock(&f->lock);
	f->verified++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* The owner's part: open the cache the metadata now allows. */
static int open_cache_cb(void *arg, struct bt_torrent *t,
			 const struct bt_metainfo *mi, struct cache **out)
{
	struct fixture *f = arg;
	char root[128];
	int err = 0;
	(void)t;
	snprintf(root, sizeof(root), "%s/cache", f->dir);
	f->cache = cache_open(root, mi->info_hash_hex, mi->npieces,
			      mi->piece_length, mi->total_length, &err);
	f->opened++;
	if (!f->cache)
		return err;
	*out = f->cache;
	return 0;
}

/* ---- scripted remotes ---- */

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

static void send_msg(int fd, const struct bt_msg *m)
{
	uint8_t out[256];
	size_t n = bt_wire_build(out, sizeof(out), m);
	assert_true(n > 0);
	assert_int_equal(write(fd, out, n), (ssize_t)n);
}

/* A remote that connected and handshook; our answer is read. */
static int remote(uint16_t port, const uint8_t *ih, char id, bool fast)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t hs[BT_HANDSHAKE_LEN], res[8] = {0}, pid[20];
	memset(pid, id, 20);
	if (fast)
		res[7] |= 0x04;
	bt_wire_handshake(hs, res, ih, pid);
	assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
	assert_int_equal(read_full(fd, hs, sizeof(hs)), 0);
	assert_memory_equal(hs + 28, ih, 20);
	return fd;
}

/* Next message: its id (-1 keepalive), -2 at the end of the stream. */
static int next_msg(int fd, uint8_t *buf, size_t cap, uint32_t *len)
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

static bool closed_by_peer(int fd)
{
	uint8_t buf[512];
	uint32_t len;
	for (int i = 0; i < 1000; i++)
		if (next_msg(fd, buf, sizeof(buf), &len) == -2)
			return true;
	return false;
}

struct peers_want {
	size_t n;
	uint32_t have[8];
	bool seed[8];
};

/* Wait (bounded) until the published peer snapshot holds N peers. */
static size_t wait_peers(struct bt_torrent *t, size_t n,
			 struct bt_peer_info *pi, size_t max)
{
	size_t got = 0;
	for (int i = 0; i < 600; i++) {
		got = bt_torrent_peers(t, pi, max);
		if (got == n)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return got;
}

struct found {
	struct bt_torrent *t;
	const struct bt_metainfo *mi;
	int rc;
	bool done;
	pthread_mutex_t lock;
};

static void found_cb(struct bt_engine *e, void *arg)
{
	struct found *fd = arg;
	(void)e;
	int rc = bt_torrent_metadata_found(fd->t, fd->mi);
	pthread_mutex_lock(&fd->lock);
	fd->rc = rc;
	fd->done = true;
	pthread_mutex_unlock(&fd->lock);
}

static void test_metadata_phase(void **state)
{
	struct fixture *f = *state;
	int err = 0;
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1"};
	struct bt_engine *e = bt_engine_new(&eo, &err);
	assert_non_null(e);
	struct bt_torrent_opts o = {.no_trackers = true};
	struct bt_torrent *t = bt_torrent_new(e, f->mi.info_hash, &o, &err);
	assert_non_null(t);
	assert_int_equal(bt_torrent_phase(t), BT_PHASE_METADATA);
	bt_torrent_on_piece(t, on_piece, f);
	/* without metadata there is nothing to want yet */
	assert_int_equal(bt_torrent_want(t, 0, 1, 0), -EINVAL);
	assert_int_equal(bt_engine_start(e), 0);
	uint16_t port = bt_engine_port(e);
	uint8_t buf[64 + PIECE_LEN];
	uint32_t len;

	/* r1: fast, have_all before the piece count is known */
	int r1 = remote(port, f->mi.info_hash, 'a', true);
	assert_int_equal(next_msg(r1, buf, sizeof(buf), &len), BT_MSG_HAVE_NONE);
	send_msg(r1, &(struct bt_msg){.type = BT_MSG_HAVE_ALL});
	send_msg(r1, &(struct bt_msg){.type = BT_MSG_UNCHOKE});
	/* r2: a bitfield of 10 bytes (the torrent needs 3) */
	int r2 = remote(port, f->mi.info_hash, 'b', false);
	uint8_t bf[10] = {0x80};
	send_msg(r2, &(struct bt_msg){.type = BT_MSG_BITFIELD, .data = bf,
				      .data_len = sizeof(bf)});
	/* r3: a have past the end the torrent turns out to have */
	int r3 = remote(port, f->mi.info_hash, 'c', true);
	send_msg(r3, &(struct bt_msg){.type = BT_MSG_HAVE, .index = 5000});
	/* r4, r5: a request, a piece: protocol errors before the metadata */
	int r4 = remote(port, f->mi.info_hash, 'd', true);
	send_msg(r4, &(struct bt_msg){.type = BT_MSG_REQUEST, .index = 0,
				      .begin = 0, .length = 16384});
	assert_true(closed_by_peer(r4));
	int r5 = remote(port, f->mi.info_hash, 'e', true);
	uint8_t piece[13 + 16];
	struct bt_msg pm = {.type = BT_MSG_PIECE, .index = 0, .begin = 0,
			    .data_len = 16};
	size_t h = bt_wire_build(piece, sizeof(piece), &pm);
	memset(piece + h, 0, 16);
	assert_int_equal(write(r5, piece, h + 16), (ssize_t)(h + 16));
	assert_true(closed_by_peer(r5));
	/* r6: haves of every piece, one by one: a seed, as it turns out */
	int r6 = remote(port, f->mi.info_hash, 'f', false);
	for (uint32_t i = 0; i < NPIECES; i++)
		send_msg(r6, &(struct bt_msg){.type = BT_MSG_HAVE, .index = i});

	/* what they said is kept: four peers, their counts */
	struct bt_peer_info pi[8];
	assert_int_equal(wait_peers(t, 4, pi, 8), 4);
	for (int i = 0; i < 400; i++) { /* the counts come with the snapshot */
		size_t n = bt_torrent_peers(t, pi, 8);
		bool ok = n == 4;
		for (size_t k = 0; k < n && ok; k++)
			ok = pi[k].peer_id[0] == 'a' ? pi[k].seed
			     : pi[k].peer_id[0] == 'f' ? pi[k].have == NPIECES
						       : pi[k].have == 1;
		if (ok)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		assert_true(i < 399);
	}

	/* the metadata arrives: the owner opens the cache */
	bt_torrent_on_metadata(t, open_cache_cb, f); /* (before: harmless) */
	struct found fd = {.t = t, .mi = &f->mi,
			   .lock = PTHREAD_MUTEX_INITIALIZER};
	assert_int_equal(bt_engine_post(e, found_cb, &fd), 0);
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&fd.lock);
		bool done = fd.done;
		pthread_mutex_unlock(&fd.lock);
		if (done)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_true(fd.done);
	assert_int_equal(fd.rc, 0);
	assert_int_equal(f->opened, 1);
	assert_int_equal(bt_torrent_phase(t), BT_PHASE_DATA);
	/* the liars about the geometry are dropped */
	assert_true(closed_by_peer(r2));
	assert_true(closed_by_peer(r3));
	assert_int_equal(bt_torrent_want(t, 0, NPIECES - 1, 0), 0);

	/* r1 is asked for the pieces and serves them */
	bool interested = false;
	int served = 0;
	while (f->verified < NPIECES) {
		int id = next_msg(r1, buf, sizeof(buf), &len);
		assert_true(id != -2);
		if (id == BT_MSG_INTERESTED)
			interested = true;
		if (id != BT_MSG_REQUEST)
			continue;
		uint32_t index = be32(buf + 1), begin = be32(buf + 5),
			 blen = be32(buf + 9);
		assert_true(index < NPIECES);
		uint8_t *out = malloc(13 + blen);
		struct bt_msg m = {.type = BT_MSG_PIECE, .index = index,
				   .begin = begin, .data_len = blen};
		size_t hl = bt_wire_build(out, 13, &m);
		memcpy(out + hl, f->data + (uint64_t)index * PIECE_LEN + begin,
		       blen);
		assert_int_equal(write(r1, out, hl + blen), (ssize_t)(hl + blen));
		free(out);
		served++;
		if (served % 8 == 0) { /* let the verdicts come */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 20 * 1000 * 1000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_mutex_lock(&f->lock);
			pthread_cond_timedwait(&f->cond, &f->lock, &until);
			pthread_mutex_unlock(&f->lock);
		}
		assert_true(served < 10 * NPIECES * 2);
	}
	assert_true(interested);
	uint8_t *got = malloc(PIECE_LEN);
	for (uint32_t i = 0; i < NPIECES; i++) {
		uint64_t off = (uint64_t)i * PIECE_LEN;
		uint64_t l = TOTAL - off < PIECE_LEN ? TOTAL - off : PIECE_LEN;
		assert_int_equal(cache_read(f->cache, i, 0, got, l), 0);
		assert_memory_equal(got, f->data + off, l);
	}
	free(got);
	/* r6 turned out a seed: now that we are one too, it goes */
	assert_true(closed_by_peer(r6));

	close(r1);
	close(r2);
	close(r3);
	close(r4);
	close(r5);
	close(r6);
	bt_engine_stop(e);
	bt_engine_free(e);
	cache_close(f->cache);
}

/* An outgoing connection before the metadata: our handshake, then
 * have_none for a fast peer; the metadata itself refused when it is not
 * this torrent's. */
static void test_outgoing_before_metadata(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&a, &alen);
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", ntohs(a.sin_port));
	const char *peers[] = {peer};
	int err = 0;
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1", .encryption = BT_MSE_OFF};
	struct bt_engine *e = bt_engine_new(&eo, &err);
	struct bt_torrent_opts o = {.no_trackers = true, .peers = peers,
				    .npeers = 1};
	struct bt_torrent *t = bt_torrent_new(e, f->mi.info_hash, &o, &err);
	assert_non_null(t);
	struct bt_metainfo other = f->mi;
	other.info_hash[0] ^= 1;
	assert_int_equal(bt_torrent_set_metadata(t, &other, NULL), -EINVAL);
	assert_int_equal(bt_torrent_metadata_found(t, &f->mi), -ENOSYS);
	assert_int_equal(bt_engine_start(e), 0);
	int fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t hs[BT_HANDSHAKE_LEN], res[8] = {0}, pid[20];
	assert_int_equal(read_full(fd, hs, sizeof(hs)), 0);
	assert_memory_equal(hs + 28, f->mi.info_hash, 20);
	memset(pid, 'z', 20);
	res[7] |= 0x04;
	bt_wire_handshake(hs, res, f->mi.info_hash, pid);
	assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
	uint8_t buf[64];
	uint32_t len;
	assert_int_equal(next_msg(fd, buf, sizeof(buf), &len), BT_MSG_HAVE_NONE);
	/* an oversized bitfield (past the largest one we keep): dropped */
	uint8_t big[8] = {0};
	uint32_t huge = bt_wire_max_msg_len(0) + 1;
	big[0] = (uint8_t)(huge >> 24);
	big[1] = (uint8_t)(huge >> 16);
	big[2] = (uint8_t)(huge >> 8);
	big[3] = (uint8_t)huge;
	big[4] = BT_MSG_BITFIELD;
	assert_int_equal(write(fd, big, 5), 5);
	assert_true(closed_by_peer(fd));
	close(fd);
	close(lfd);
	bt_engine_stop(e);
	bt_engine_free(e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	pfs_log_set_level(getenv("P2PFS_TEST_DEBUG") ? PFS_LOG_DEBUG
						     : PFS_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metadata_phase, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_outgoing_before_metadata,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("torrent", tests, NULL, NULL);
}
