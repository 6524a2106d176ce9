/* Unit tests for bt_extn, a torrent's BEP 10 extensions, with scripted
 * remote peers on loopback sockets (the engine's own thread runs the
 * torrent):
 * - our handshake sets the extension bit and sends ut_metadata, ut_pex,
 *   reqq, p and v;
 * - a magnet torrent fetches a two-piece info dict from an honest remote
 *   and a liar (right size, one bit flipped): the owner gets the verified
 *   dict, the liar is closed;
 * - a DATA-phase torrent serves its info dict over ut_metadata (the short
 *   last piece, a reject for a piece out of range) and announces its
 *   metadata_size;
 * - a ut_pex message's peer is connected to; a private torrent offers no
 *   ut_pex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bt_ext.h"
#include "bt_pex.h"
#include "bt_torrent.h"
#include "bt_utmeta.h"
#include "bt_wire.h"
#include "pfs_hash.h"

#define NHASHES 1000 /* an info dict of ~20 KB: two ut_metadata pieces */

struct fixture {
	uint8_t *info;
	size_t info_len;
	uint8_t ih[20];
	pthread_mutex_t lock;
	struct bt_metainfo *got; /* from the owner's callback */
};

static void build_info(struct fixture *f, bool private_flag)
{
	struct bt_benc b;
	uint8_t *hashes = malloc(20 * NHASHES);
	assert_int_equal(pfs_random(hashes, 20 * NHASHES), 0);
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "length");
	bt_benc_int(&b, (int64_t)NHASHES * 16384);
	bt_benc_cstr(&b, "name");
	bt_benc_cstr(&b, "extn.bin");
	bt_benc_cstr(&b, "piece length");
	bt_benc_int(&b, 16384);
	bt_benc_cstr(&b, "pieces");
	bt_benc_str(&b, hashes, 20 * NHASHES);
	if (private_flag) {
		bt_benc_cstr(&b, "private");
		bt_benc_int(&b, 1);
	}
	bt_benc_end(&b);
	assert_int_equal(b.err, 0);
	free(hashes);
	f->info = b.buf;
	f->info_len = b.len;
	pfs_sha1(f->info, f->info_len, f->ih);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	build_info(f, false);
	assert_true(f->info_len > BT_UTMETA_PIECE_LEN &&
		    f->info_len < 2 * BT_UTMETA_PIECE_LEN);
	pthread_mutex_init(&f->lock, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->info);
	bt_metainfo_free(f->got);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* ---- a scripted remote ---- */

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

static void send_ext(int fd, uint8_t id, const void *p, size_t len)
{
	uint8_t h[32];
	struct bt_msg m = {.type = BT_MSG_EXTENDED, .ext_id = id,
			   .data_len = len};
	size_t n = bt_wire_build(h, sizeof(h), &m);
	assert_true(n > 0);
	assert_int_equal(write(fd, h, n), (ssize_t)n);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
}

/* A remote connected and handshaken (extension bit set); sets *RES to our
 * reserved bytes. */
static int remote(uint16_t port, const uint8_t *ih, char id, uint8_t res[8])
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t hs[BT_HANDSHAKE_LEN], r[8] = {0}, pid[20];
	memset(pid, id, 20);
	bt_ext_set_reserved(r);
	r[7] |= 0x04;
	bt_wire_handshake(hs, r, ih, pid);
	assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
	assert_int_equal(read_full(fd, hs, sizeof(hs)), 0);
	assert_memory_equal(hs + 28, ih, 20);
	memcpy(res, hs + 20, 8);
	return fd;
}

/* The next extended message (*EXT_ID, payload in BUF): its length, or -1
 * at the end of the stream. Other messages are skipped. */
static ssize_t next_ext(int fd, uint8_t *buf, size_t cap, uint8_t *ext_id)
{
	uint8_t lenb[4];
	for (;;) {
		if (read_full(fd, lenb, 4) < 0)
			return -1;
		uint32_t len = be32(lenb);
		if (!len)
			continue;
		uint8_t *m = malloc(len);
		if (read_full(fd, m, len) < 0) {
			free(m);
			return -1;
		}
		if (m[0] != BT_MSG_EXTENDED || len < 2) {
			free(m);
			continue;
		}
		assert_true(len - 2 <= cap);
		*ext_id = m[1];
		memcpy(buf, m + 2, len - 2);
		free(m);
		return (ssize_t)(len - 2);
	}
}

/* Our extension handshake, read and parsed. */
static void their_hs(int fd, struct bt_ext_hs *hs)
{
	uint8_t buf[4096], id = 0xff;
	ssize_t n = next_ext(fd, buf, sizeof(buf), &id);
	assert_true(n > 0);
	assert_int_equal(id, 0);
	char err[128];
	assert_int_equal(bt_ext_hs_parse(buf, (size_t)n, hs, err, sizeof(err)),
			 0);
}

static void send_hs(int fd, int ut_metadata, int ut_pex, int64_t size)
{
	struct bt_ext_hs hs;
	struct bt_benc b;
	bt_ext_hs_init(&hs);
	hs.ids[BT_EXT_UT_METADATA] = (int16_t)ut_metadata;
	hs.ids[BT_EXT_UT_PEX] = (int16_t)ut_pex;
	hs.metadata_size = size;
	hs.reqq = 77;
	bt_benc_init(&b);
	assert_int_equal(bt_ext_hs_build(&hs, &b), 0);
	send_ext(fd, 0, b.buf, b.len);
	bt_benc_release(&b);
}

static bool closed_by_peer(int fd)
{
	uint8_t buf[BT_UTMETA_PIECE_LEN + 128], id;
	for (int i = 0; i < 1000; i++)
		if (next_ext(fd, buf, sizeof(buf), &id) < 0)
			return true;
	return false;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- the owner ---- */

static int got_cb(void *arg, struct bt_torrent *t,
		  const struct bt_metainfo *mi, struct cache **cache)
{
	struct fixture *f = arg;
	(void)t;
	(void)cache;
	pthread_mutex_lock(&f->lock);
	bt_metainfo_free(f->got);
	f->got = (struct bt_metainfo *)mi;
	pthread_mutex_unlock(&f->lock);
	return -ECANCELED;
}

/* ---- the tests ---- */

static void test_fetch_with_liar(void **state)
{
	struct fixture *f = *state;
	int err = 0;
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1"};
	struct bt_engine *e = bt_engine_new(&eo, &err);
	assert_non_null(e);
	struct bt_torrent_opts o = {.no_trackers = true};
	struct bt_torrent *t = bt_torrent_new(e, f->ih, &o, &err);
	assert_non_null(t);
	bt_torrent_on_metadata(t, got_cb, f);
	assert_int_equal(bt_engine_start(e), 0);
	uint16_t port = bt_engine_port(e);

	uint8_t res[8];
	int liar = remote(port, f->ih, 'l', res);
	assert_true(bt_ext_supported(res));
	struct bt_ext_hs hs;
	their_hs(liar, &hs);
	assert_int_equal(hs.ids[BT_EXT_UT_METADATA], BT_EXT_OUR_UT_METADATA);
	assert_int_equal(hs.ids[BT_EXT_UT_PEX], BT_EXT_OUR_UT_PEX);
	assert_int_equal(hs.reqq, (int32_t)bt_torrent_reqq(t));
	assert_int_equal(hs.port, port);
	assert_int_equal(hs.metadata_size, -1); /* none yet */
	assert_true(!strncmp(hs.client, "p2pfs/", 6));
	int honest = remote(port, f->ih, 'h', res);
	their_hs(honest, &hs);
	send_hs(liar, 3, 0, (int64_t)f->info_len);
	send_hs(honest, 3, 0, (int64_t)f->info_len);

	/* answer every request: the liar with one bit flipped */
	int fds[2] = {liar, honest};
	bool liar_closed = false;
	struct timespec t0, tn;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pthread_mutex_lock(&f->lock);
		bool done = f->got != NULL;
		pthread_mutex_unlock(&f->lock);
		if (done && liar_closed)
			break;
		clock_gettime(CLOCK_MONOTONIC, &tn);
		if (tn.tv_sec - t0.tv_sec > 20)
			break; /* bounded: the asserts below fail */
		struct pollfd pf[2] = {{liar_closed ? -1 : liar, POLLIN, 0},
				       {honest, POLLIN, 0}};
		if (poll(pf, 2, 50) <= 0)
			continue;
		for (int k = 0; k < 2; k++) {
			if (!(pf[k].revents & (POLLIN | POLLHUP)))
				continue;
			if (k == 0 && liar_closed)
				continue;
			uint8_t buf[256], id;
			ssize_t n = next_ext(fds[k], buf, sizeof(buf), &id);
			if (n < 0) {
				assert_int_equal(k, 0); /* only the liar goes */
				liar_closed = true;
				continue;
			}
			assert_int_equal(id, 3);
			struct bt_utmeta_msg m;
			char why[128];
			assert_int_equal(bt_utmeta_parse(buf, (size_t)n, &m,
							 why, sizeof(why)),
					 0);
			assert_int_equal(m.type, BT_UTMETA_REQUEST);
			uint32_t pl = bt_utmeta_piece_len((uint32_t)f->info_len,
							  m.piece);
			assert_true(pl > 0);
			uint8_t out[BT_UTMETA_MAX_HEADER + BT_UTMETA_PIECE_LEN];
			struct bt_utmeta_msg d = {
			    .type = BT_UTMETA_DATA, .piece = m.piece,
			    .total_size = (uint32_t)f->info_len,
			    .data = f->info + (size_t)m.piece *
						  BT_UTMETA_PIECE_LEN,
			    .data_len = pl};
			size_t ol = bt_utmeta_build(out, sizeof(out), &d);
			assert_true(ol > pl);
			if (k == 0)
				out[ol - pl / 2] ^= 1;
			send_ext(fds[k], 2, out, ol);
		}
	}
	pthread_mutex_lock(&f->lock);
	assert_non_null(f->got);
	assert_memory_equal(f->got->info_hash, f->ih, 20);
	assert_int_equal(f->got->info_len, f->info_len);
	pthread_mutex_unlock(&f->lock);
	assert_true(liar_closed || closed_by_peer(liar));
	/* the callback kept the torrent in its METADATA phase */
	assert_int_equal(bt_torrent_phase(t), BT_PHASE_METADATA);
	close(liar);
	close(honest);
	bt_engine_stop(e);
	bt_engine_free(e);
}

static void test_serve_and_pex(void **state)
{
	struct fixture *f = *state;
	int err = 0;
	char why[128];
	struct bt_metainfo *mi = NULL;
	assert_int_equal(bt_metainfo_from_info(f->info, f->info_len, f->ih, &mi,
					       why, sizeof(why)),
			 0);
	char dir[] = "/tmp/p2pfs-test-extn-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct cache *c = cache_open(dir, mi->info_hash_hex, mi->npieces,
				     mi->piece_length, mi->total_length, &err);
	assert_non_null(c);
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1"};
	struct bt_engine *e = bt_engine_new(&eo, &err);
	assert_non_null(e);
	struct bt_torrent_opts o = {.no_trackers = true};
	struct bt_torrent *t = bt_torrent_new(e, f->ih, &o, &err);
	assert_non_null(t);
	assert_int_equal(bt_torrent_set_metadata(t, mi, c), 0);
	assert_int_equal(bt_engine_start(e), 0);
	uint16_t port = bt_engine_port(e);

	/* a listener the PEX message names */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = {.sin_family = AF_INET};
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&la, sizeof(la)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	socklen_t sl = sizeof(la);
	getsockname(lfd, (struct sockaddr *)&la, &sl);

	uint8_t res[8];
	int r = remote(port, f->ih, 'r', res);
	struct bt_ext_hs hs;
	their_hs(r, &hs);
	assert_int_equal(hs.metadata_size, (int64_t)f->info_len);
	assert_int_equal(hs.ids[BT_EXT_UT_PEX], BT_EXT_OUR_UT_PEX);
	send_hs(r, 3, 4, -1);
	/* ask for both pieces and one past the end */
	for (uint32_t p = 0; p < 3; p++) {
		uint8_t q[BT_UTMETA_MAX_HEADER];
		struct bt_utmeta_msg m = {.type = BT_UTMETA_REQUEST, .piece = p};
		size_t ql = bt_utmeta_build(q, sizeof(q), &m);
		send_ext(r, BT_EXT_OUR_UT_METADATA, q, ql);
	}
	/* PEX: one peer, the listener */
	struct bt_pex_peer pp = {0};
	char as[64];
	snprintf(as, sizeof(as), "127.0.0.1:%u", ntohs(la.sin_port));
	assert_int_equal(bt_addr_parse(as, &pp.addr), 0);
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_pex_build(&pp, 1, NULL, 0, &b), 0);
	send_ext(r, BT_EXT_OUR_UT_PEX, b.buf, b.len);
	bt_benc_release(&b);

	uint8_t *got = calloc(1, 2 * BT_UTMETA_PIECE_LEN);
	int data = 0, rejects = 0;
	while (data + rejects < 3) {
		uint8_t buf[BT_UTMETA_MAX_HEADER + BT_UTMETA_PIECE_LEN], id;
		ssize_t n = next_ext(r, buf, sizeof(buf), &id);
		assert_true(n > 0);
		if (id != 3)
			continue; /* its PEX to us (ut_pex id 4) */
		struct bt_utmeta_msg m;
		assert_int_equal(bt_utmeta_parse(buf, (size_t)n, &m, why,
						 sizeof(why)),
				 0);
		if (m.type == BT_UTMETA_REJECT) {
			assert_int_equal(m.piece, 2);
			rejects++;
			continue;
		}
		assert_int_equal(m.type, BT_UTMETA_DATA);
		assert_int_equal(m.total_size, f->info_len);
		memcpy(got + (size_t)m.piece * BT_UTMETA_PIECE_LEN, m.data,
		       m.data_len);
		data++;
	}
	assert_int_equal(data, 2);
	assert_memory_equal(got, f->info, f->info_len);
	free(got);

	/* the PEX peer is connected to */
	struct pollfd pf = {lfd, POLLIN, 0};
	assert_int_equal(poll(&pf, 1, 5000), 1);
	int a = accept(lfd, NULL, NULL);
	assert_true(a >= 0);
	close(a);
	close(lfd);
	close(r);
	bt_engine_stop(e);
	bt_engine_free(e);
	cache_close(c);
	bt_metainfo_free(mi);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_private_no_pex(void **state)
{
	struct fixture *f = *state;
	free(f->info);
	build_info(f, true);
	int err = 0;
	char why[128];
	struct bt_metainfo *mi = NULL;
	assert_int_equal(bt_metainfo_from_info(f->info, f->info_len, f->ih, &mi,
					       why, sizeof(why)),
			 0);
	assert_true(mi->private_flag);
	char dir[] = "/tmp/p2pfs-test-extn-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct cache *c = cache_open(dir, mi->info_hash_hex, mi->npieces,
				     mi->piece_length, mi->total_length, &err);
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1"};
	struct bt_engine *e = bt_engine_new(&eo, &err);
	struct bt_torrent_opts o = {.no_trackers = true};
	struct bt_torrent *t = bt_torrent_new(e, f->ih, &o, &err);
	assert_int_equal(bt_torrent_set_metadata(t, mi, c), 0);
	assert_int_equal(bt_engine_start(e), 0);
	uint8_t res[8];
	int r = remote(bt_engine_port(e), f->ih, 'p', res);
	struct bt_ext_hs hs;
	their_hs(r, &hs);
	assert_int_equal(hs.ids[BT_EXT_UT_PEX], -1);
	assert_int_equal(hs.ids[BT_EXT_UT_METADATA], BT_EXT_OUR_UT_METADATA);
	send_hs(r, 3, 4, -1);
	/* no ut_pex comes within a second */
	struct timeval tv = {1, 0};
	setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t buf[4096], id;
	for (int i = 0; i < 4; i++) {
		ssize_t n = next_ext(r, buf, sizeof(buf), &id);
		if (n < 0)
			break;
		assert_int_not_equal(id, 4);
	}
	sleep_ms(10);
	close(r);
	bt_engine_stop(e);
	bt_engine_free(e);
	cache_close(c);
	bt_metainfo_free(mi);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fetch_with_liar, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_serve_and_pex, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_private_no_pex, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
