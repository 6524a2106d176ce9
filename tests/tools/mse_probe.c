/* mse_probe — test tool: drives the bt_mse core over real sockets against
 * independent BitTorrent clients, before the engine has an MSE transport.
 *
 *   mse_probe connect IP:PORT TORRENT [--policy prefer|require] [--plain]
 *             [--no-ia] [--bind IP] [--timeout SECS]
 *       Connect to a seeder, do the MSE handshake as initiator (the
 *       BitTorrent handshake inside IA unless --no-ia; --plain skips MSE),
 *       then the BitTorrent handshake, and fetch every piece, each checked
 *       against its SHA-1 from TORRENT.
 *   mse_probe serve IP:PORT TORRENT FILE [--policy prefer|require|off]
 *             [--conns N] [--timeout SECS]
 *       Listen; for each connection classify the first bytes, refuse a
 *       plain handshake, do the MSE handshake as responder (SKEY found by
 *       req2 among the torrents we host: this one), then serve FILE (a
 *       single-file torrent's data) to the leecher. Exits 0 after N
 *       encrypted connections that each were served at least one block.
 *   mse_probe bench
 *       RC4 MB/s, DH and whole-handshake costs on this machine.
 *
 * Every connection result is one line on stdout ("result: ..."), which the
 * integration test parses. All waits are bounded (--timeout, default 30 s).
 * Blocking sockets with poll(); one connection at a time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bt_metainfo.h"
#include "bt_mse.h"
#include "bt_wire.h"
#include "pfs_dh.h"
#include "pfs_hash.h"
#include "pfs_rc4.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *a)
{
	fprintf(stderr, "mse_probe: ");
	fprintf(stderr, fmt, a);
	fprintf(stderr, "\n");
	exit(1);
}

/* ---- a connection: socket, optional MSE, decrypted receive buffer ------ */

struct conn {
	int fd;
	struct bt_mse *mse; /* NULL: plain */
	uint64_t deadline;  /* for every wait */
	uint8_t *rbuf;	    /* decrypted bytes not yet parsed */
	size_t rlen, rcap;
	/* the raw wire, checked for the plaintext handshake string */
	uint8_t tail[19];
	size_t tail_len;
	bool wire_plain;
	uint64_t raw_in, raw_out;
	const char *why; /* why it ended */
};

static const char hs_string[20] = "\x13"
				  "BitTorrent protocol";

static void watch_wire(struct conn *c, const uint8_t *p, size_t n)
{
	/* the last 19 bytes of the previous read + this one */
	uint8_t tmp[19 + 65536];
	size_t k = c->tail_len;
	memcpy(tmp, c->tail, k);
	size_t m = n < 65536 ? n : 65536;
	memcpy(tmp + k, p + (n - m), m);
	k += m;
	for (size_t i = 0; i + 20 <= k; i++)
		if (memcmp(tmp + i, hs_string, 20) == 0)
			c->wire_plain = true;
	c->tail_len = k < 19 ? k : 19;
	memcpy(c->tail, tmp + k - c->tail_len, c->tail_len);
}

static int wait_fd(struct conn *c, short ev)
{
	uint64_t t = now_ms();
	if (t >= c->deadline) {
		c->why = "timeout";
		return -ETIMEDOUT;
	}
	struct pollfd pfd = {.fd = c->fd, .events = ev};
	int r = poll(&pfd, 1, (int)(c->deadline - t));
	if (r == 0) {
		c->why = "timeout";
		return -ETIMEDOUT;
	}
	return r < 0 ? -errno : 0;
}

static int write_raw(struct conn *c, const uint8_t *p, size_t n)
{
	while (n) {
		int rc = wait_fd(c, POLLOUT);
		if (rc)
			return rc;
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			c->why = "send failed";
			return -errno;
		}
		c->raw_out += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Payload out: encrypted into a scratch buffer (the caller's stays
 * intact, as an engine-owned buffer would). */
static int send_payload(struct conn *c, const uint8_t *p, size_t n)
{
	if (!c->mse || bt_mse_plain_out(c->mse))
		return write_raw(c, p, n);
	uint8_t tmp[16384];
	while (n) {
		size_t k = n < sizeof(tmp) ? n : sizeof(tmp);
		bt_mse_encrypt(c->mse, p, tmp, k);
		int rc = write_raw(c, tmp, k);
		if (rc)
			return rc;
		p += k;
		n -= k;
	}
	return 0;
}

static void rbuf_append(struct conn *c, const uint8_t *p, size_t n)
{
	if (c->rlen + n > c->rcap) {
		size_t cap = c->rcap ? c->rcap : 65536;
		while (cap < c->rlen + n)
			cap *= 2;
		c->rbuf = realloc(c->rbuf, cap);
		if (!c->rbuf)
			die("%s", "out of memory");
		c->rcap = cap;
	}
	memcpy(c->rbuf + c->rlen, p, n);
	c->rlen += n;
}

/* Read what is there (waiting up to the deadline): raw bytes out in *BUF. */
static ssize_t read_raw(struct conn *c, uint8_t *buf, size_t cap)
{
	int rc = wait_fd(c, POLLIN);
	if (rc)
		return rc;
	ssize_t r = recv(c->fd, buf, cap, 0);
	if (r == 0) {
		c->why = "peer closed";
		return -ECONNRESET;
	}
	if (r < 0) {
		c->why = "recv failed";
		return -errno;
	}
	c->raw_in += (uint64_t)r;
	watch_wire(c, buf, (size_t)r);
	return r;
}

/* Flush the handshake bytes the core has queued. */
static int flush_mse(struct conn *c)
{
	const uint8_t *p;
	size_t n = bt_mse_output(c->mse, &p);
	if (!n)
		return 0;
	int rc = write_raw(c, p, n);
	if (rc == 0)
		bt_mse_output_done(c->mse, n);
	return rc;
}

/* Run the MSE handshake to DONE; PRE (already read, e.g. by the
 * classifier) goes in first. Leftover bytes become payload. */
static int mse_handshake(struct conn *c, const uint8_t *pre, size_t pre_len)
{
	uint8_t buf[4096];
	const uint8_t *in = pre;
	size_t len = pre_len;
	for (;;) {
		if (len) {
			ssize_t r = bt_mse_input(c->mse, in, len, now_ms());
			if (r < 0) {
				c->why = bt_mse_reason(c->mse);
				return (int)r;
			}
			in += r;
			len -= (size_t)r;
		}
		/* whatever the input made the core queue goes out before we
		 * wait for more */
		int rc = flush_mse(c);
		if (rc)
			return rc;
		if (bt_mse_state(c->mse) == BT_MSE_DONE) {
			if (len) {
				uint8_t tmp[4096];
				bt_mse_decrypt(c->mse, in, tmp, len);
				rbuf_append(c, tmp, len);
			}
			return 0;
		}
		if (len == 0) {
			/* bounded by the core's own deadline too */
			if (bt_mse_timer(c->mse, now_ms()) < 0) {
				c->why = bt_mse_reason(c->mse);
				return -ETIMEDOUT;
			}
			ssize_t r = read_raw(c, buf, sizeof(buf));
			if (r < 0)
				return (int)r;
			in = buf;
			len = (size_t)r;
		}
	}
}

/* Make sure N decrypted bytes are buffered. */
static int need(struct conn *c, size_t n)
{
	uint8_t buf[65536];
	while (c->rlen < n) {
		ssize_t r = read_raw(c, buf, sizeof(buf));
		if (r < 0)
			return (int)r;
		if (c->mse)
			bt_mse_decrypt(c->mse, buf, buf, (size_t)r);
		rbuf_append(c, buf, (size_t)r);
	}
	return 0;
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

/* Next whole wire message (waits); 0 or -errno. */
static int next_msg(struct conn *c, const struct bt_wire_limits *lim,
		    struct bt_msg *m, size_t *used)
{
	for (;;) {
		ssize_t r = bt_wire_parse(c->rbuf, c->rlen, lim, m);
		if (r < 0) {
			c->why = "bad wire message";
			return (int)r;
		}
		if (r > 0) {
			*used = (size_t)r;
			return 0;
		}
		int rc = need(c, c->rlen + 1);
		if (rc)
			return rc;
	}
}

static int send_msg(struct conn *c, const struct bt_msg *m)
{
	uint8_t buf[64];
	struct bt_msg h = *m;
	size_t n = bt_wire_build(buf, sizeof(buf), &h);
	if (n == 0)
		return -EINVAL;
	return send_payload(c, buf, n);
}

static int tcp_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static const char *sel_name(const struct conn *c)
{
	if (!c->mse || bt_mse_state(c->mse) != BT_MSE_DONE)
		return "none";
	return bt_mse_selected(c->mse) == BT_MSE_CRYPTO_RC4 ? "rc4" : "plain";
}

static void make_peer_id(uint8_t id[20])
{
	memcpy(id, "-PF0100-", 8);
	if (pfs_random(id + 8, 12) != 0)
		memset(id + 8, 'x', 12);
}

/* ---- connect: the initiator against a seeder --------------------------- */

struct opts {
	enum bt_mse_policy policy;
	bool plain, no_ia;
	const char *bind_ip;
	int timeout_s;
	int conns;
};

static int do_connect(const char *addr, const struct bt_metainfo *mi,
		      const struct opts *o)
{
	struct sockaddr_in sa, me;
	if (tcp_addr(addr, &sa) != 0)
		die("bad address %s", addr);
	struct conn c = {.fd = -1, .why = "ok"};
	c.deadline = now_ms() + (uint64_t)o->timeout_s * 1000;
	c.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c.fd < 0)
		die("%s", "socket failed");
	if (o->bind_ip) {
		memset(&me, 0, sizeof(me));
		me.sin_family = AF_INET;
		if (inet_pton(AF_INET, o->bind_ip, &me.sin_addr) != 1 ||
		    bind(c.fd, (struct sockaddr *)&me, sizeof(me)) != 0)
			die("cannot bind %s", o->bind_ip);
	}
	if (connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("cannot connect to %s", addr);

	uint8_t hs[BT_HANDSHAKE_LEN], reserved[8] = {0}, pid[20];
	make_peer_id(pid);
	bt_wire_handshake(hs, reserved, mi->info_hash, pid);
	uint64_t t0 = now_ms();
	double c0 = cpu_s();
	int rc = 0;
	uint64_t hs_ms = 0;
	if (!o->plain) {
		struct bt_mse_config cfg = {
		    .role = BT_MSE_INITIATOR,
		    .policy = o->policy,
		    .now = t0,
		    .skey = mi->info_hash,
		    .ia = o->no_ia ? NULL : hs,
		    .ia_len = o->no_ia ? 0 : sizeof(hs),
		};
		c.mse = bt_mse_new(&cfg, &rc);
		if (!c.mse)
			die("%s", "bt_mse_new failed");
		rc = mse_handshake(&c, NULL, 0);
		hs_ms = now_ms() - t0;
		if (rc == 0 && o->no_ia)
			rc = send_payload(&c, hs, sizeof(hs));
	} else {
		rc = write_raw(&c, hs, sizeof(hs));
	}
	uint32_t verified = 0, bad = 0;
	uint64_t bytes = 0;
	if (rc == 0)
		rc = need(&c, BT_HANDSHAKE_LEN);
	if (rc == 0) {
		uint8_t r_res[8], r_ih[20], r_pid[20];
		if (bt_wire_handshake_parse(c.rbuf, r_res, r_ih, r_pid) != 0 ||
		    memcmp(r_ih, mi->info_hash, 20) != 0) {
			c.why = "bad bittorrent handshake from peer";
			rc = -EPROTO;
		}
		consume(&c, BT_HANDSHAKE_LEN);
	}
	struct bt_wire_limits lim = {
	    .npieces = mi->npieces,
	    .piece_length = mi->piece_length,
	    .total_length = mi->total_length,
	    .max_msg_len = bt_wire_max_msg_len(mi->npieces),
	};
	struct bt_msg m = {.type = BT_MSG_INTERESTED};
	if (rc == 0)
		rc = send_msg(&c, &m);
	/* fetch every piece in order, 16 requests in flight */
	uint8_t *piece = malloc(mi->piece_length);
	bool unchoked = false;
	uint32_t cur = 0, next_req_off = 0, got_in_piece = 0;
	int inflight = 0;
	while (rc == 0 && cur < mi->npieces) {
		uint32_t psize = bt_metainfo_piece_size(mi, cur);
		while (unchoked && inflight < 16 && next_req_off < psize) {
			uint32_t len = psize - next_req_off < BT_BLOCK_SIZE
					   ? psize - next_req_off
					   : BT_BLOCK_SIZE;
			struct bt_msg rq = {.type = BT_MSG_REQUEST,
					    .index = cur,
					    .begin = next_req_off,
					    .length = len};
			rc = send_msg(&c, &rq);
			if (rc)
				break;
			next_req_off += len;
			inflight++;
		}
		if (rc)
			break;
		size_t used = 0;
		rc = next_msg(&c, &lim, &m, &used);
		if (rc)
			break;
		if (m.type == BT_MSG_UNCHOKE) {
			unchoked = true;
		} else if (m.type == BT_MSG_CHOKE) {
			/* requests are void: ask again from the piece start */
			unchoked = false;
			inflight = 0;
			next_req_off = 0;
			got_in_piece = 0;
		} else if (m.type == BT_MSG_PIECE && m.index == cur) {
			memcpy(piece + m.begin, m.data, m.data_len);
			got_in_piece += (uint32_t)m.data_len;
			bytes += m.data_len;
			inflight--;
			if (got_in_piece >= psize) {
				uint8_t h[20];
				pfs_sha1(piece, psize, h);
				if (memcmp(h, mi->piece_hashes + 20 * cur,
					   20) == 0)
					verified++;
				else
					bad++;
				cur++;
				next_req_off = 0;
				got_in_piece = 0;
				inflight = 0;
			}
		}
		consume(&c, used);
	}
	free(piece);
	double cpu = cpu_s() - c0;
	printf("result: connect %s mse=%s selected=%s handshake_ms=%llu "
	       "pieces=%u/%u bad=%u bytes=%llu raw_in=%llu wire_plain=%s "
	       "cpu_s=%.3f status=%s\n",
	       addr, o->plain ? "no" : "yes", sel_name(&c),
	       (unsigned long long)hs_ms, verified, mi->npieces, bad,
	       (unsigned long long)bytes, (unsigned long long)c.raw_in,
	       c.wire_plain ? "yes" : "no", cpu, rc == 0 ? "ok" : c.why);
	fflush(stdout);
	close(c.fd);
	bt_mse_free(c.mse);
	free(c.rbuf);
	return rc == 0 && verified == mi->npieces && bad == 0 ? 0 : 1;
}

/* ---- serve: the responder, feeding a leecher --------------------------- */

static int find_one(void *ctx, const uint8_t req2[20], uint8_t skey[20])
{
	const struct bt_metainfo *mi = ctx;
	uint8_t mine[20];
	if (bt_mse_req2(mi->info_hash, mine) != 0)
		return -ENOENT;
	if (memcmp(mine, req2, 20) != 0)
		return -ENOENT;
	memcpy(skey, mi->info_hash, 20);
	return 0;
}

static int serve_one(int cfd, const struct bt_metainfo *mi, int dfd,
		     const struct opts *o, const char *peer, int *blocks_out)
{
	struct conn c = {.fd = cfd, .why = "ok"};
	c.deadline = now_ms() + (uint64_t)o->timeout_s * 1000;
	uint8_t first[4096];
	size_t flen = 0;
	enum bt_mse_first kind = BT_MSE_FIRST_MORE;
	int rc = 0;
	while (kind == BT_MSE_FIRST_MORE) {
		ssize_t r = read_raw(&c, first + flen, sizeof(first) - flen);
		if (r < 0) {
			rc = (int)r;
			break;
		}
		flen += (size_t)r;
		kind = bt_mse_classify(first, flen);
	}
	uint64_t t0 = now_ms();
	uint64_t hs_ms = 0;
	if (rc == 0 && kind == BT_MSE_FIRST_PLAIN) {
		c.why = "plain handshake refused";
		rc = -EPROTO;
	}
	if (rc == 0) {
		struct bt_mse_config cfg = {
		    .role = BT_MSE_RESPONDER,
		    .policy = o->policy,
		    .now = t0,
		    .find = find_one,
		    .find_ctx = (void *)mi,
		};
		c.mse = bt_mse_new(&cfg, &rc);
		if (!c.mse)
			die("%s", "bt_mse_new failed");
		rc = mse_handshake(&c, first, flen);
		hs_ms = now_ms() - t0;
	}
	size_t ia = c.rlen; /* the initiator's IA (and any more) */
	uint8_t res[8], ih[20], pid[20];
	if (rc == 0)
		rc = need(&c, BT_HANDSHAKE_LEN);
	if (rc == 0) {
		if (bt_wire_handshake_parse(c.rbuf, res, ih, pid) != 0 ||
		    memcmp(ih, mi->info_hash, 20) != 0) {
			c.why = "bad bittorrent handshake from peer";
			rc = -EPROTO;
		}
		consume(&c, BT_HANDSHAKE_LEN);
	}
	if (rc == 0) {
		uint8_t hs[BT_HANDSHAKE_LEN], reserved[8] = {0}, me[20];
		make_peer_id(me);
		bt_wire_handshake(hs, reserved, mi->info_hash, me);
		rc = send_payload(&c, hs, sizeof(hs));
	}
	size_t bflen = ((size_t)mi->npieces + 7) / 8;
	uint8_t *bf = calloc(1, bflen);
	for (uint32_t i = 0; i < mi->npieces; i++)
		bf[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	if (rc == 0) {
		struct bt_msg m = {
		    .type = BT_MSG_BITFIELD, .data = bf, .data_len = bflen};
		uint8_t buf[16];
		struct bt_msg h = m;
		h.data = NULL;
		size_t n = bt_wire_build(buf, sizeof(buf), &h);
		rc = send_payload(&c, buf, n);
		if (rc == 0)
			rc = send_payload(&c, bf, bflen);
	}
	free(bf);
	struct bt_wire_limits lim = {
	    .npieces = mi->npieces,
	    .piece_length = mi->piece_length,
	    .total_length = mi->total_length,
	    .max_msg_len = bt_wire_max_msg_len(mi->npieces),
	};
	int blocks = 0;
	uint64_t bytes = 0;
	uint8_t *block = malloc(BT_MAX_BLOCK_SIZE + 13);
	while (rc == 0) {
		struct bt_msg m;
		size_t used = 0;
		rc = next_msg(&c, &lim, &m, &used);
		if (rc)
			break;
		if (m.type == BT_MSG_INTERESTED) {
			struct bt_msg u = {.type = BT_MSG_UNCHOKE};
			rc = send_msg(&c, &u);
		} else if (m.type == BT_MSG_REQUEST) {
			struct bt_msg p = {.type = BT_MSG_PIECE,
					   .index = m.index,
					   .begin = m.begin,
					   .data_len = m.length};
			size_t h = bt_wire_build(block, 13, &p);
			off_t off = (off_t)m.index * mi->piece_length + m.begin;
			if (pread(dfd, block + h, m.length, off) !=
			    (ssize_t)m.length) {
				c.why = "cannot read the data file";
				rc = -EIO;
				break;
			}
			rc = send_payload(&c, block, h + m.length);
			blocks++;
			bytes += m.length;
		}
		consume(&c, used);
	}
	free(block);
	/* the leecher closing once it has everything is the normal end */
	bool ok = c.mse && blocks > 0 &&
		  (rc == -ECONNRESET || rc == -EPIPE || rc == 0);
	printf("result: serve from=%s kind=%s selected=%s handshake_ms=%llu "
	       "ia=%zu blocks=%d bytes=%llu wire_plain=%s status=%s\n",
	       peer,
	       kind == BT_MSE_FIRST_PLAIN ? "plain"
	       : kind == BT_MSE_FIRST_MSE ? "mse"
					  : "none",
	       sel_name(&c), (unsigned long long)hs_ms, ia, blocks,
	       (unsigned long long)bytes, c.wire_plain ? "yes" : "no", c.why);
	fflush(stdout);
	bt_mse_free(c.mse);
	free(c.rbuf);
	*blocks_out = blocks;
	return ok ? 0 : -1;
}

static int do_serve(const char *addr, const struct bt_metainfo *mi,
		    const char *file, const struct opts *o)
{
	if (mi->multi_file)
		die("%s", "serve takes a single-file torrent");
	int dfd = open(file, O_RDONLY);
	if (dfd < 0)
		die("cannot open %s", file);
	struct sockaddr_in sa;
	if (tcp_addr(addr, &sa) != 0)
		die("bad address %s", addr);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 8) != 0)
		die("cannot listen on %s", addr);
	printf("listening %s\n", addr);
	fflush(stdout);
	uint64_t end = now_ms() + (uint64_t)o->timeout_s * 1000;
	int good = 0;
	while (good < o->conns) {
		uint64_t t = now_ms();
		if (t >= end)
			break;
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		if (poll(&pfd, 1, (int)(end - t)) <= 0)
			continue;
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		int cfd = accept(lfd, (struct sockaddr *)&from, &fl);
		if (cfd < 0)
			continue;
		char peer[64];
		snprintf(peer, sizeof(peer), "%s:%u", inet_ntoa(from.sin_addr),
			 ntohs(from.sin_port));
		int blocks = 0;
		if (serve_one(cfd, mi, dfd, o, peer, &blocks) == 0)
			good++;
		close(cfd);
	}
	close(lfd);
	close(dfd);
	printf("result: served %d/%d encrypted connection(s)\n", good,
	       o->conns);
	return good >= o->conns ? 0 : 1;
}

/* ---- bench --------------------------------------------------------------- */

static int bench_rand(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	return pfs_random(buf, n);
}

static int bench_find(void *ctx, const uint8_t req2[20], uint8_t skey[20])
{
	const uint8_t *k = ctx;
	uint8_t mine[20];
	if (bt_mse_req2(k, mine) != 0)
		return -ENOENT;
	if (memcmp(mine, req2, 20) != 0)
		return -ENOENT;
	memcpy(skey, k, 20);
	return 0;
}

static void bench_pair(const uint8_t skey[20])
{
	static const uint8_t ia[68] = {0x13};
	struct bt_mse_config ca = {.role = BT_MSE_INITIATOR,
				   .policy = BT_MSE_REQUIRE,
				   .skey = skey,
				   .ia = ia,
				   .ia_len = sizeof(ia),
				   .rand = bench_rand};
	struct bt_mse_config cb = {.role = BT_MSE_RESPONDER,
				   .policy = BT_MSE_REQUIRE,
				   .find = bench_find,
				   .find_ctx = (void *)skey,
				   .rand = bench_rand};
	int err;
	struct bt_mse *a = bt_mse_new(&ca, &err), *b = bt_mse_new(&cb, &err);
	if (!a || !b)
		die("%s", "bench: bt_mse_new failed");
	for (int round = 0; round < 10; round++) {
		const uint8_t *p;
		size_t n = bt_mse_output(a, &p);
		ssize_t r = n ? bt_mse_input(b, p, n, 0) : 0;
		if (r < 0)
			die("%s", "bench: responder failed");
		bt_mse_output_done(a, n);
		n = bt_mse_output(b, &p);
		r = n ? bt_mse_input(a, p, n, 0) : 0;
		if (r < 0)
			die("%s", "bench: initiator failed");
		bt_mse_output_done(b, n);
		if (bt_mse_state(a) == BT_MSE_DONE &&
		    bt_mse_state(b) == BT_MSE_DONE)
			break;
	}
	if (bt_mse_state(a) != BT_MSE_DONE || bt_mse_state(b) != BT_MSE_DONE)
		die("%s", "bench: handshake did not finish");
	bt_mse_free(a);
	bt_mse_free(b);
}

static int do_bench(void)
{
	enum { BUF = 16384 };
	static uint8_t buf[BUF];
	memset(buf, 0x5a, sizeof(buf));
	struct pfs_rc4 r;
	pfs_rc4_init(&r, (const uint8_t *)"0123456789abcdefghij", 20);
	/* RC4: best of 5 runs of 64 MiB each (CPU time, the machine is
	 * shared) */
	double best = 0, best_sha = 0;
	for (int run = 0; run < 5; run++) {
		double c0 = cpu_s();
		for (int i = 0; i < 4096; i++)
			pfs_rc4_crypt(&r, buf, buf, BUF);
		double mbs = 64.0 * 1048576 / (cpu_s() - c0) / 1e6;
		if (mbs > best)
			best = mbs;
		c0 = cpu_s();
		uint8_t h[20];
		for (int i = 0; i < 1024; i++)
			pfs_sha1(buf, BUF, h);
		mbs = 16.0 * 1048576 / (cpu_s() - c0) / 1e6;
		if (mbs > best_sha)
			best_sha = mbs;
	}
	printf("rc4: %.0f MB/s (one core, best of 5 x 64 MiB; sha1 %.0f MB/s "
	       "for scale)\n",
	       best, best_sha);
	/* DH: one public key and one secret */
	uint8_t priv[20], pub[96], sec[96];
	int n = 200;
	double c0 = cpu_s();
	for (int i = 0; i < n; i++) {
		pfs_random(priv, sizeof(priv));
		if (pfs_dh_public(priv, pub) != 0 ||
		    pfs_dh_secret(priv, pub, sec) != 0)
			die("%s", "bench: dh failed");
	}
	double per = (cpu_s() - c0) / n / 2 * 1e6;
	printf("dh: %.0f us per modular exponentiation (2 per side per "
	       "handshake)\n",
	       per);
	uint8_t skey[20] = {1, 2, 3};
	n = 100;
	c0 = cpu_s();
	for (int i = 0; i < n; i++)
		bench_pair(skey);
	printf("handshake: %.2f ms CPU for both sides together (4 "
	       "exponentiations, 4 RC4 key setups, hashing)\n",
	       (cpu_s() - c0) / n * 1e3);
	return 0;
}

/* ---- main -----------------------------------------------------------------
 */

static void usage(void)
{
	fprintf(stderr,
		"usage: mse_probe connect IP:PORT TORRENT [--policy P] "
		"[--plain] [--no-ia] [--bind IP] [--timeout S]\n"
		"       mse_probe serve IP:PORT TORRENT FILE [--policy P] "
		"[--conns N] [--timeout S]\n"
		"       mse_probe bench\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "bench") == 0)
		return do_bench();
	if (argc < 4)
		usage();
	const char *cmd = argv[1], *addr = argv[2], *torrent = argv[3];
	const char *file = NULL;
	int i = 4;
	if (strcmp(cmd, "serve") == 0) {
		if (argc < 5)
			usage();
		file = argv[4];
		i = 5;
	} else if (strcmp(cmd, "connect") != 0) {
		usage();
	}
	struct opts o = {.policy = BT_MSE_REQUIRE, .timeout_s = 30, .conns = 1};
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) {
			if (bt_mse_policy_parse(argv[++i], &o.policy) != 0)
				usage();
		} else if (strcmp(argv[i], "--plain") == 0) {
			o.plain = true;
		} else if (strcmp(argv[i], "--no-ia") == 0) {
			o.no_ia = true;
		} else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
			o.bind_ip = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			o.timeout_s = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc) {
			o.conns = atoi(argv[++i]);
		} else {
			usage();
		}
	}
	struct bt_metainfo *mi;
	char err[256];
	if (bt_metainfo_load(torrent, &mi, err, sizeof(err)) != 0)
		die("cannot load the torrent: %s", err);
	int rc = file ? do_serve(addr, mi, file, &o) : do_connect(addr, mi, &o);
	bt_metainfo_free(mi);
	return rc;
}
