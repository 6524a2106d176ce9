/* Unit tests for bt_engine and its torrents over loopback: one engine
 * hosting two torrents serves both to another engine in the same process
 * (every incoming connection routed by the info-hash of its handshake);
 * the handshake sniffer closes what is no BitTorrent (logging it once per
 * address) or hands it to a registered handler; incoming MSE under each
 * --encryption policy (the torrent found by SKEY, the handshake answered
 * inside; plain refused with require, MSE with off); and the shared UDP socket
 * sends each datagram to the handler of its shape (KRPC, BEP 15 replies
 * with a registered transaction id, the rest counted for uTP). */
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

#include "bt_conn.h"
#include "bt_mse.h"
#include "bt_torrent.h"
#include "bt_udp.h"
#include "bt_wire.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define PIECE_LEN (32u * 1024)
#define NPIECES 23

struct tdata {
	uint8_t *data;
	uint64_t total;
	struct bt_metainfo mi;
	struct bt_file file;
	char name[16];
};

struct fixture {
	char dir[64];
	struct tdata td[2];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t verified[2];
};

static void make_torrent(struct tdata *td, int k)
{
	struct bt_metainfo *mi = &td->mi;
	memset(mi, 0, sizeof(*mi));
	td->total = (uint64_t)(NPIECES - 1) * PIECE_LEN + 777 + (uint64_t)k;
	td->data = malloc(td->total);
	assert_int_equal(pfs_random(td->data, td->total), 0);
	mi->piece_length = PIECE_LEN;
	mi->npieces = NPIECES;
	mi->total_length = td->total;
	mi->piece_hashes = malloc(20 * NPIECES);
	for (uint32_t i = 0; i < NPIECES; i++) {
		uint64_t off = (uint64_t)i * PIECE_LEN;
		uint64_t len = td->total - off < PIECE_LEN ? td->total - off
							   : PIECE_LEN;
		pfs_sha1(td->data + off, len, mi->piece_hashes + 20 * i);
	}
	snprintf(td->name, sizeof(td->name), "t%d.bin", k);
	pfs_sha1(td->name, strlen(td->name), mi->info_hash);
	pfs_hex(mi->info_hash, 20, mi->info_hash_hex);
	mi->name = td->name;
	td->file.path = td->name;
	td->file.length = td->total;
	mi->files = &td->file;
	mi->nfiles = 1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/p2pfs-test-engine-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	make_torrent(&f->td[0], 0);
	make_torrent(&f->td[1], 1);
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
	for (int k = 0; k < 2; k++) {
		free(f->td[k].data);
		free(f->td[k].mi.piece_hashes);
	}
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
	return 0;
}

static struct cache *open_cache(struct fixture *f, const char *sub, int k,
				bool full)
{
	char root[128];
	int err = 0;
	struct tdata *td = &f->td[k];
	snprintf(root, sizeof(root), "%s/%s", f->dir, sub);
	struct cache *c = cache_open(root, td->mi.info_hash_hex, NPIECES,
				     PIECE_LEN, td->total, &err);
	assert_non_null(c);
	for (uint32_t i = 0; full && i < NPIECES; i++) {
		uint64_t off = (uint64_t)i * PIECE_LEN;
		uint64_t len = td->total - off < PIECE_LEN ? td->total - off
							   : PIECE_LEN;
		assert_int_equal(cache_write(c, i, 0, td->data + off, len), 0);
		assert_int_equal(
			cache_verify(c, i, td->mi.piece_hashes + 20 * i), 0);
	}
	return c;
}

struct counter {
	struct fixture *f;
	int k;
};

static void on_piece(void *arg, uint32_t piece)
{
	struct counter *c = arg;
	(void)piece;
	pthread_mutex_lock(&c->f->lock);
	c->f->verified[c->k]++;
	pthread_cond_broadcast(&c->f->cond);
	pthread_mutex_unlock(&c->f->lock);
}

static bool wait_both(struct fixture *f, uint32_t n, int secs)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += secs;
	pthread_mutex_lock(&f->lock);
	while ((f->verified[0] < n || f->verified[1] < n) &&
	       pthread_cond_timedwait(&f->cond, &f->lock, &until) == 0)
		;
	bool ok = f->verified[0] >= n && f->verified[1] >= n;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

static void check_bytes(struct tdata *td, struct cache *c)
{
	uint8_t *buf = malloc(PIECE_LEN);
	for (uint32_t i = 0; i < NPIECES; i++) {
		uint64_t off = (uint64_t)i * PIECE_LEN;
		uint64_t len = td->total - off < PIECE_LEN ? td->total - off
							   : PIECE_LEN;
		assert_int_equal(cache_read(c, i, 0, buf, len), 0);
		assert_memory_equal(buf, td->data + off, len);
	}
	free(buf);
}

static void test_two_torrents(void **state)
{
	struct fixture *f = *state;
	int err = 0;
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1",
				    .lsd = BT_ENGINE_LSD_OFF};
	struct bt_engine *seed = bt_engine_new(&eo, &err);
	struct bt_engine *leech = bt_engine_new(&eo, &err);
	assert_non_null(seed);
	assert_non_null(leech);
	assert_int_not_equal(bt_engine_port(seed), bt_engine_port(leech));
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", bt_engine_port(seed));
	const char *peers[] = {peer};
	struct bt_torrent_opts so = {.no_trackers = true};
	struct bt_torrent_opts lo = {.no_trackers = true, .peers = peers,
				     .npeers = 1};
	struct cache *sc[2], *lc[2];
	struct counter cnt[2] = {{f, 0}, {f, 1}};
	for (int k = 0; k < 2; k++) {
		const struct bt_metainfo *mi = &f->td[k].mi;
		sc[k] = open_cache(f, "seed", k, true);
		lc[k] = open_cache(f, "leech", k, false);
		struct bt_torrent *st = bt_torrent_new(seed, mi->info_hash, &so,
						       &err);
		assert_non_null(st);
		assert_int_equal(bt_torrent_phase(st), BT_PHASE_METADATA);
		assert_int_equal(bt_torrent_set_metadata(st, mi, sc[k]), 0);
		assert_int_equal(bt_torrent_phase(st), BT_PHASE_DATA);
		assert_int_equal(bt_torrent_set_metadata(st, mi, sc[k]),
				 -EINVAL);
		struct bt_torrent *lt = bt_torrent_new(leech, mi->info_hash, &lo,
						       &err);
		assert_non_null(lt);
		assert_int_equal(bt_torrent_set_metadata(lt, mi, lc[k]), 0);
		bt_torrent_on_piece(lt, on_piece, &cnt[k]);
		assert_int_equal(bt_torrent_want(lt, 0, NPIECES - 1, 0), 0);
		/* one torrent per info-hash in an engine */
		assert_null(bt_torrent_new(leech, mi->info_hash, &lo, &err));
		assert_int_equal(err, -EEXIST);
	}
	assert_int_equal(bt_engine_start(seed), 0);
	assert_int_equal(bt_engine_start(leech), 0);
	assert_true(wait_both(f, NPIECES, 30));
	for (int k = 0; k < 2; k++) {
		check_bytes(&f->td[k], lc[k]);
		assert_int_equal(cache_check(lc[k]), 0);
	}
	bt_engine_stop(leech);
	bt_engine_stop(seed);
	bt_engine_free(leech);
	bt_engine_free(seed);
	for (int k = 0; k < 2; k++) {
		cache_close(sc[k]);
		cache_close(lc[k]);
	}
}

/* ---- the handshake sniffer ---- */

static int connect_to(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* True once the other side closed FD (EOF or reset within 5 s). */
static bool closed_by_peer(int fd)
{
	uint8_t buf[256];
	for (int i = 0; i < 1000; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
	return false;
}

struct taken {
	pthread_mutex_t lock;
	uint8_t first[8];
	size_t n;
	int calls;
};

static bool take_unknown(void *arg, struct bt_conn *c, const uint8_t *first,
			 size_t n)
{
	struct taken *tk = arg;
	pthread_mutex_lock(&tk->lock);
	tk->calls++;
	tk->n = n;
	memcpy(tk->first, first, n < 8 ? n : 8);
	pthread_mutex_unlock(&tk->lock);
	bt_conn_close(c); /* deferred: we are inside its callback */
	return true;
}

static int count_in_file(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "r");
	char line[512];
	int n = 0;
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

struct unknown_arg {
	struct bt_engine *e;
	struct taken *tk;
};

static void set_unknown(struct bt_engine *e, void *arg)
{
	bt_engine_set_unknown_handler(e, take_unknown, arg);
}

static void test_sniffer(void **state)
{
	struct fixture *f = *state;
	int err = 0;
	char logpath[128];
	snprintf(logpath, sizeof(logpath), "%s/log", f->dir);
	assert_int_equal(pfs_log_open(logpath), 0);
	int level = pfs_log_get_level();
	pfs_log_set_level(PFS_LOG_INFO);
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1", .encryption = BT_MSE_OFF};
	struct bt_engine *e = bt_engine_new(&eo, &err);
	assert_non_null(e);
	struct bt_torrent_opts o = {.no_trackers = true};
	struct cache *c = open_cache(f, "seed", 0, true);
	struct bt_torrent *t = bt_torrent_new(e, f->td[0].mi.info_hash, &o, &err);
	assert_int_equal(bt_torrent_set_metadata(t, &f->td[0].mi, c), 0);
	assert_int_equal(bt_engine_start(e), 0);
	uint16_t port = bt_engine_port(e);

	/* bytes that are no handshake: closed, said once for the address */
	for (int i = 0; i < 3; i++) {
		int fd = connect_to(port);
		uint8_t junk[96];
		memset(junk, 0x5c + i, sizeof(junk));
		assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
		assert_true(closed_by_peer(fd));
		close(fd);
	}
	/* a real handshake for a torrent it does not have: closed too */
	int fd = connect_to(port);
	uint8_t hs[BT_HANDSHAKE_LEN], ih[20], id[20];
	memset(ih, 0x77, 20);
	memset(id, 'Z', 20);
	bt_wire_handshake(hs, (uint8_t[8]){0}, ih, id);
	assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
	assert_true(closed_by_peer(fd));
	close(fd);
	/* its own torrent's handshake is answered */
	fd = connect_to(port);
	bt_wire_handshake(hs, (uint8_t[8]){0}, f->td[0].mi.info_hash, id);
	assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
	uint8_t got[BT_HANDSHAKE_LEN];
	size_t have = 0;
	while (have < sizeof(got)) {
		ssize_t n = read(fd, got + have, sizeof(got) - have);
		assert_true(n > 0);
		have += (size_t)n;
	}
	assert_memory_equal(got + 28, f->td[0].mi.info_hash, 20);
	close(fd);

	/* with a handler (the encryption layer, later), it gets them */
	struct taken tk = {.lock = PTHREAD_MUTEX_INITIALIZER};
	assert_int_equal(bt_engine_post(e, set_unknown, &tk), 0);
	for (int i = 0; i < 100; i++) { /* the post runs soon */
		fd = connect_to(port);
		assert_int_equal(write(fd, "\x01\x02\x03", 3), 3);
		bool gone = closed_by_peer(fd);
		close(fd);
		assert_true(gone);
		pthread_mutex_lock(&tk.lock);
		int calls = tk.calls;
		pthread_mutex_unlock(&tk.lock);
		if (calls)
			break;
	}
	assert_int_equal(tk.calls, 1);
	assert_true(tk.n >= 1 && tk.n <= 3);
	assert_int_equal(tk.first[0], 1);

	bt_engine_stop(e);
	bt_engine_free(e);
	cache_close(c);
	pfs_log_close();
	pfs_log_set_level(level);
	assert_int_equal(count_in_file(logpath, "peer sent no BitTorrent "
					       "handshake (encrypted?)"),
			 1);
}

/* ---- incoming MSE (--encryption) ---- */

/* An MSE initiator on the blocking socket FD for IH; 0 once done (then
 * *M is ready for payload), -1 when the engine closed or failed it. */
static int mse_client(int fd, const uint8_t ih[20], enum bt_mse_policy pol,
		      struct bt_mse **m)
{
	struct bt_mse_config cfg = {.role = BT_MSE_INITIATOR, .policy = pol,
				    .now = bt_now_ms(), .skey = ih};
	int err = 0;
	assert_non_null(*m = bt_mse_new(&cfg, &err));
	uint8_t buf[4096];
	for (;;) {
		const uint8_t *out;
		size_t n = bt_mse_output(*m, &out);
		if (n) {
			assert_int_equal(write(fd, out, n), (ssize_t)n);
			bt_mse_output_done(*m, n);
		}
		if (bt_mse_state(*m) == BT_MSE_DONE)
			return 0;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			return -1;
		ssize_t used = bt_mse_input(*m, buf, (size_t)r, bt_now_ms());
		if (used < 0)
			return -1;
		/* the engine sends nothing after its part before our
		 * handshake, so nothing is left over */
		if (bt_mse_state(*m) == BT_MSE_DONE)
			assert_int_equal(used, r);
	}
}

/* Our BitTorrent handshake through M; true when the engine answered with
 * its own for IH (decrypted). */
static bool mse_bt_handshake(int fd, struct bt_mse *m, const uint8_t ih[20])
{
	uint8_t hs[BT_HANDSHAKE_LEN], id[20];
	memset(id, 'M', 20);
	bt_wire_handshake(hs, (uint8_t[8]){0}, ih, id);
	bt_mse_encrypt(m, hs, hs, sizeof(hs));
	assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
	uint8_t got[BT_HANDSHAKE_LEN];
	size_t have = 0;
	while (have < sizeof(got)) {
		ssize_t n = read(fd, got + have, sizeof(got) - have);
		if (n <= 0)
			return false;
		have += (size_t)n;
	}
	bt_mse_decrypt(m, got, got, sizeof(got));
	return !memcmp(got, "\x13" "BitTorrent protocol", 20) &&
	       !memcmp(got + 28, ih, 20);
}

static void test_mse_incoming(void **state)
{
	struct fixture *f = *state;
	const enum bt_mse_policy pols[] = {BT_MSE_PREFER, BT_MSE_REQUIRE,
					   BT_MSE_OFF};
	for (size_t k = 0; k < 3; k++) {
		int err = 0;
		struct bt_engine_opts eo = {.bind_ip = "127.0.0.1",
					    .encryption = (int)pols[k]};
		struct bt_engine *e = bt_engine_new(&eo, &err);
		assert_non_null(e);
		struct bt_torrent_opts o = {.no_trackers = true};
		char name[16];
		snprintf(name, sizeof(name), "mse%zu", k);
		struct cache *c = open_cache(f, name, 0, true);
		const uint8_t *ih = f->td[0].mi.info_hash;
		struct bt_torrent *t = bt_torrent_new(e, ih, &o, &err);
		assert_int_equal(bt_torrent_set_metadata(t, &f->td[0].mi, c), 0);
		assert_int_equal(bt_engine_start(e), 0);
		uint16_t port = bt_engine_port(e);

		/* a plain handshake: answered unless require */
		int fd = connect_to(port);
		uint8_t hs[BT_HANDSHAKE_LEN], id[20], got[BT_HANDSHAKE_LEN];
		memset(id, 'P', 20);
		bt_wire_handshake(hs, (uint8_t[8]){0}, ih, id);
		assert_int_equal(write(fd, hs, sizeof(hs)), sizeof(hs));
		if (pols[k] == BT_MSE_REQUIRE) {
			assert_true(closed_by_peer(fd));
		} else {
			size_t have = 0;
			while (have < sizeof(got)) {
				ssize_t n = read(fd, got + have,
						 sizeof(got) - have);
				assert_true(n > 0);
				have += (size_t)n;
			}
			assert_memory_equal(got + 28, ih, 20);
		}
		close(fd);

		/* MSE: the torrent found by its SKEY, our handshake answered
		 * inside; refused with off */
		for (int p = 0; p < 2; p++) {
			struct bt_mse *m = NULL;
			fd = connect_to(port);
			int rc = mse_client(fd, ih, p ? BT_MSE_REQUIRE
						      : BT_MSE_PREFER, &m);
			if (pols[k] == BT_MSE_OFF) {
				assert_int_equal(rc, -1);
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(bt_mse_selected(m),
						 BT_MSE_CRYPTO_RC4);
				assert_true(mse_bt_handshake(fd, m, ih));
			}
			bt_mse_free(m);
			close(fd);
		}
		/* MSE for a torrent the engine does not host: closed */
		if (pols[k] != BT_MSE_OFF) {
			uint8_t other[20];
			memset(other, 0x42, 20);
			struct bt_mse *m = NULL;
			fd = connect_to(port);
			assert_int_equal(mse_client(fd, other, BT_MSE_PREFER,
						    &m),
					 -1);
			bt_mse_free(m);
			close(fd);
		}
		bt_engine_stop(e);
		bt_engine_free(e);
		cache_close(c);
	}
}

/* ---- the shared UDP socket ---- */

struct udp_seen {
	pthread_mutex_t lock;
	int dht, tracker;
	struct bt_udp *u;
	uint8_t last[64];
	size_t nlast;
	int send_rc;
};

static void on_dht(void *arg, const uint8_t *pkt, size_t len,
		   const struct bt_addr *from, uint64_t now)
{
	struct udp_seen *s = arg;
	(void)now;
	pthread_mutex_lock(&s->lock);
	s->dht++;
	s->nlast = len < 64 ? len : 64;
	memcpy(s->last, pkt, s->nlast);
	pthread_mutex_unlock(&s->lock);
	/* answer on the same socket */
	s->send_rc = bt_udp_send(s->u, from, "d1:y1:re", 8);
}

static void on_tracker(void *arg, const uint8_t *pkt, size_t len,
		       const struct bt_addr *from, uint64_t now)
{
	struct udp_seen *s = arg;
	(void)pkt;
	(void)len;
	(void)from;
	(void)now;
	pthread_mutex_lock(&s->lock);
	s->tracker++;
	pthread_mutex_unlock(&s->lock);
}

static void test_udp_demux(void **state)
{
	(void)state;
	int err = 0;
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1"};
	struct bt_engine *e = bt_engine_new(&eo, &err);
	assert_non_null(e);
	struct bt_udp *u = bt_engine_udp(e);
	assert_int_equal(bt_udp_port(u), bt_engine_port(e));
	struct udp_seen s = {.lock = PTHREAD_MUTEX_INITIALIZER, .u = u};
	/* before the start: registered on the owning thread */
	bt_udp_set_handler(u, BT_UDP_DHT, on_dht, &s);
	bt_udp_set_handler(u, BT_UDP_TRACKER, on_tracker, &s);
	assert_int_equal(bt_udp_tracker_expect(u, 0x12345678), 0);
	/* the classifier alone */
	const uint8_t conn_reply[16] = {0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
	const uint8_t stranger[16] = {0, 0, 0, 1, 0x99, 0x34, 0x56, 0x78};
	const uint8_t utp[20] = {0x41, 0};
	assert_int_equal(bt_udp_classify(u, (const uint8_t *)"d1:ad", 5),
			 BT_UDP_DHT);
	assert_int_equal(bt_udp_classify(u, conn_reply, 16), BT_UDP_TRACKER);
	assert_int_equal(bt_udp_classify(u, stranger, 16), BT_UDP_UTP);
	assert_int_equal(bt_udp_classify(u, utp, 20), BT_UDP_UTP);
	assert_int_equal(bt_udp_classify(u, conn_reply, 7), BT_UDP_UTP);
	assert_int_equal(bt_engine_start(e), 0);

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(bt_engine_port(e))};
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	const char *krpc = "d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe";
	sendto(fd, krpc, strlen(krpc), 0, (struct sockaddr *)&to, sizeof(to));
	sendto(fd, conn_reply, 16, 0, (struct sockaddr *)&to, sizeof(to));
	sendto(fd, stranger, 16, 0, (struct sockaddr *)&to, sizeof(to));
	sendto(fd, utp, 20, 0, (struct sockaddr *)&to, sizeof(to));
	/* the DHT handler's answer comes back from the engine's port */
	char reply[32];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, reply, sizeof(reply), 0,
			     (struct sockaddr *)&from, &fl);
	assert_int_equal(n, 8);
	assert_memory_equal(reply, "d1:y1:re", 8);
	assert_int_equal(ntohs(from.sin_port), bt_engine_port(e));
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&s.lock);
		bool done = s.dht == 1 && s.tracker == 1;
		pthread_mutex_unlock(&s.lock);
		if (done)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	bt_engine_stop(e);
	struct bt_udp_stats st;
	bt_udp_stats(u, &st);
	assert_int_equal(s.dht, 1);
	assert_int_equal(s.tracker, 1);
	assert_int_equal(s.nlast, strlen(krpc) < 64 ? strlen(krpc) : 64);
	assert_int_equal(st.received[BT_UDP_DHT], 1);
	assert_int_equal(st.received[BT_UDP_TRACKER], 1);
	assert_int_equal(st.dropped[BT_UDP_UTP], 2); /* no uTP handler yet */
	assert_int_equal(st.sent, 1);
	assert_int_equal(s.send_rc, 0);
	close(fd);
	bt_engine_free(e);
}

/* Work posted to an engine that never starts is still run (when it is
 * freed), so nothing posted is lost (ASan sees any leak); once stopped,
 * a post is refused and the caller told. */
static void test_posts_never_lost(void **state)
{
	struct fixture *f = *state;
	int err = 0;
	struct bt_engine_opts eo = {.bind_ip = "127.0.0.1"};
	struct bt_engine *e = bt_engine_new(&eo, &err);
	struct cache *c = open_cache(f, "unstarted", 0, false);
	struct bt_torrent_opts o = {.no_trackers = true};
	struct bt_torrent *t = bt_torrent_new(e, f->td[0].mi.info_hash, &o, &err);
	assert_int_equal(bt_torrent_set_metadata(t, &f->td[0].mi, c), 0);
	assert_int_equal(bt_torrent_want(t, 0, 3, 0), 0);
	assert_int_equal(bt_torrent_prefetch(t, 4, 5, 100, 10), 0);
	assert_int_equal(bt_torrent_want(t, NPIECES, NPIECES + 1, 0), -EINVAL);
	bt_engine_free(e);

	e = bt_engine_new(&eo, &err);
	t = bt_torrent_new(e, f->td[0].mi.info_hash, &o, &err);
	assert_int_equal(bt_torrent_set_metadata(t, &f->td[0].mi, c), 0);
	assert_int_equal(bt_engine_start(e), 0);
	assert_int_equal(bt_torrent_want(t, 0, 3, 0), 0);
	bt_engine_stop(e);
	assert_int_equal(bt_torrent_want(t, 0, 3, 0), -ESHUTDOWN);
	bt_engine_free(e);
	cache_close(c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	pfs_log_set_level(getenv("P2PFS_TEST_DEBUG") ? PFS_LOG_DEBUG
						     : PFS_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_torrents, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sniffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mse_incoming, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_udp_demux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posts_never_lost, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
