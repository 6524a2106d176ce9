/* ext_probe — proves the extension codecs (bt_ext, bt_utmeta, bt_pex) and
 * the metadata fetcher (bt_metafetch) against real BitTorrent clients, for
 * tests/integration/test_ext_interop.sh. Not part of p2pfs.
 *
 *   ext_probe --info-hash HEX --peer IP:PORT... [--from IP...]
 *             [--listen-port N] [--timeout SECS] [--pex-wait SECS]
 *             [--out FILE] [--dump DIR] [--wait-all] [--corrupt N]
 *
 * Opens one connection to every --peer from every --from address (default
 * 127.0.0.1), does the BitTorrent handshake with the extension-protocol
 * and fast bits, sends our extension handshake (ut_metadata, ut_pex, `p`
 * = --listen-port), and fetches the info dict with bt_metafetch over all
 * connections at once. It checks the SHA-1 (bt_metafetch does) and writes
 * the dict to --out. With --pex-wait it then keeps the connections open
 * until every connection got a ut_pex message (or the wait ends), parses
 * them with bt_pex and prints their peers. --dump writes every extension
 * payload received to DIR (for the fuzz corpora and the unit tests).
 *
 *   ext_probe --lsd --info-hash HEX --listen-port N [--timeout SECS]
 *             [--expect-port N] [--dump DIR]
 *
 * LSD mode (BEP 14), only inside a network namespace that has nothing but
 * `lo` (it refuses otherwise: multicast must not leave the test): joins
 * 239.192.152.143:6771 on 127.0.0.1, announces the info-hash with
 * bt_lsd_build() once a second and parses what others announce with
 * bt_lsd_parse() ("lsd announce port=N hashes=... cookie=..."); it also
 * listens on 127.0.0.1:N and reports clients that connect because of our
 * announce ("lsd peer connected peer_id=..."). It exits 0 once it has both
 * parsed a foreign announce of the info-hash (from port --expect-port, if
 * given) and had a connection for it.
 *
 * Prints one line per event ("peer 0 ext-handshake v=... m.ut_metadata=2
 * metadata_size=N reqq=N yourip=... p=N upload_only=N", "peer 0 pex
 * added=IP:PORT/flags ...", "metadata N bytes from K peers ok") and exits
 * 0 when the dict verified (and, with --pex-wait, every connection got a
 * ut_pex message), 1 otherwise. Every wait is bounded by --timeout. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bt_addr.h"
#include "bt_ext.h"
#include "bt_lsd.h"
#include "bt_metafetch.h"
#include "bt_metaserve.h"
#include "bt_pex.h"
#include "bt_utmeta.h"
#include "bt_wire.h"
#include "pfs_hash.h"

#define MAXC 16
#define RBUF (256 * 1024)

struct conn {
	int fd;
	int idx;
	char name[BT_ADDR_STRLEN + 32];
	bool connected, hs_done, ext_done, closed;
	struct bt_ext_hs ext;
	uint8_t rbuf[RBUF];
	size_t rlen;
	int npex, nmeta;
	struct bt_metaserve serve;
};

static struct conn conns[MAXC];
static int nconns;
static uint8_t info_hash[20];
static const char *dump_dir;
static uint16_t listen_port = 6881;
static struct bt_metafetch *mf;
static bool wait_all;
static int corrupt = -1;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void dump(struct conn *c, const char *kind, int n, const uint8_t *p,
		 size_t len)
{
	if (!dump_dir)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s/c%d-%s-%d.bin", dump_dir, c->idx, kind,
		 n);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len)
		fprintf(stderr, "ext_probe: cannot write %s\n", path);
	if (f)
		fclose(f);
}

static void close_conn(struct conn *c, const char *why)
{
	if (c->closed)
		return;
	printf("peer %d closed: %s\n", c->idx, why);
	close(c->fd);
	c->closed = true;
	if (mf)
		bt_metafetch_remove_peer(mf, (uint64_t)c->idx);
}

/* Blocking-enough write: the messages are small and the socket buffer
 * empty; a short write closes the connection (the probe is simple). */
static void send_all(struct conn *c, const void *p, size_t n)
{
	if (c->closed)
		return;
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
			if (poll(&pf, 1, 2000) <= 0) {
				close_conn(c, "write stalled");
				return;
			}
			continue;
		}
		if (w <= 0) {
			close_conn(c, "write failed");
			return;
		}
		b += w;
		n -= (size_t)w;
	}
}

static void send_ext(struct conn *c, uint8_t ext_id, const void *p, size_t n)
{
	uint8_t h[32];
	struct bt_msg m = {
	    .type = BT_MSG_EXTENDED, .ext_id = ext_id, .data_len = n};
	size_t hl = bt_wire_build(h, sizeof(h), &m);
	send_all(c, h, hl);
	send_all(c, p, n);
}

static void on_connected(struct conn *c)
{
	uint8_t reserved[8] = {0}, hs[BT_HANDSHAKE_LEN], pid[20];
	reserved[7] |= 0x04; /* fast */
	bt_ext_set_reserved(reserved);
	memcpy(pid, "-PF0010-", 8);
	pfs_random(pid + 8, 12);
	bt_wire_handshake(hs, reserved, info_hash, pid);
	send_all(c, hs, sizeof(hs));
}

static void do_actions(void)
{
	struct bt_metafetch_action a[64];
	size_t n;
	do {
		n = bt_metafetch_poll(mf, now_ms(), a, 64);
		for (size_t i = 0; i < n; i++) {
			struct conn *c = &conns[a[i].peer];
			if (a[i].kind == BT_METAFETCH_REQUEST) {
				uint8_t b[BT_UTMETA_MAX_HEADER];
				struct bt_utmeta_msg r = {.type =
							      BT_UTMETA_REQUEST,
							  .piece = a[i].piece};
				size_t bl = bt_utmeta_build(b, sizeof(b), &r);
				send_ext(
				    c, (uint8_t)c->ext.ids[BT_EXT_UT_METADATA],
				    b, bl);
			} else if (a[i].kind == BT_METAFETCH_LIAR) {
				printf("peer %d liar: %s\n", c->idx, a[i].why);
				close_conn(c, "liar");
			} else {
				size_t len;
				bt_metafetch_info(mf, &len);
				printf("metadata %zu bytes verified\n", len);
			}
		}
	} while (n == 64);
}

static void offer(struct conn *c);

static void on_ext_handshake(struct conn *c, const uint8_t *p, size_t n)
{
	char err[256], ya[BT_ADDR_STRLEN] = "-";
	struct bt_ext_hs hs;
	dump(c, "ext-handshake", c->ext_done, p, n);
	if (bt_ext_hs_parse(p, n, &hs, err, sizeof(err)) < 0) {
		printf("peer %d bad ext handshake: %s\n", c->idx, err);
		close_conn(c, "bad ext handshake");
		return;
	}
	if (!c->ext_done)
		c->ext = hs;
	else
		bt_ext_hs_merge(&c->ext, &hs);
	c->ext_done = true;
	if (hs.yourip.family) {
		struct bt_addr y = hs.yourip;
		y.port = 1;
		bt_addr_str(&y, ya, sizeof(ya));
		ya[strlen(ya) - 2] = '\0'; /* drop the ":1" */
	}
	printf("peer %d ext-handshake v='%s' m.ut_metadata=%d m.ut_pex=%d "
	       "metadata_size=%lld reqq=%d yourip=%s p=%d upload_only=%d "
	       "bytes=%zu\n",
	       c->idx, hs.client, hs.ids[BT_EXT_UT_METADATA],
	       hs.ids[BT_EXT_UT_PEX], (long long)hs.metadata_size, hs.reqq, ya,
	       hs.port, hs.upload_only, n);
	if (!wait_all)
		offer(c);
}

/* C's ut_metadata offer goes to the fetcher. */
static void offer(struct conn *c)
{
	if (c->ext.ids[BT_EXT_UT_METADATA] > 0 && c->ext.metadata_size > 0) {
		int rc = bt_metafetch_add_peer(mf, (uint64_t)c->idx,
					       (uint32_t)c->ext.metadata_size,
					       now_ms());
		if (rc < 0)
			printf("peer %d not used for metadata: %s\n", c->idx,
			       strerror(-rc));
	}
}

static void on_utmeta(struct conn *c, const uint8_t *p, size_t n)
{
	char err[256];
	struct bt_utmeta_msg m;
	if (c->nmeta < 3)
		dump(c, "ut_metadata", c->nmeta, p, n);
	c->nmeta++;
	if (bt_utmeta_parse(p, n, &m, err, sizeof(err)) < 0) {
		printf("peer %d bad ut_metadata: %s\n", c->idx, err);
		close_conn(c, "bad ut_metadata");
		return;
	}
	if (m.type == BT_UTMETA_REQUEST) {
		size_t il = 0;
		const uint8_t *info = bt_metafetch_info(mf, &il);
		static uint8_t out[BT_METASERVE_OUT_MAX];
		ssize_t k = bt_metaserve_answer(&c->serve, info, il, &m,
						now_ms(), out, sizeof(out));
		printf("peer %d asked metadata piece %u: %s\n", c->idx, m.piece,
		       k > 0 && info ? "answered" : "rejected");
		if (k > 0 && c->ext.ids[BT_EXT_UT_METADATA] > 0)
			send_ext(c, (uint8_t)c->ext.ids[BT_EXT_UT_METADATA],
				 out, (size_t)k);
		return;
	}
	printf("peer %d ut_metadata type=%lld piece=%u total_size=%u "
	       "bytes=%zu\n",
	       c->idx, (long long)m.type, m.piece, m.total_size, m.data_len);
	static uint8_t bad[BT_UTMETA_PIECE_LEN];
	if (c->idx == corrupt && m.type == BT_UTMETA_DATA) {
		memcpy(bad, m.data, m.data_len);
		bad[m.data_len / 2] ^= 0x01;
		m.data = bad;
	}
	if (bt_metafetch_on_msg(mf, (uint64_t)c->idx, &m, now_ms(), err,
				sizeof(err)) < 0) {
		printf("peer %d protocol error: %s\n", c->idx, err);
		close_conn(c, "ut_metadata protocol error");
	}
}

static void on_pex(struct conn *c, const uint8_t *p, size_t n)
{
	static struct bt_pex_msg m;
	char err[256];
	dump(c, "ut_pex", c->npex, p, n);
	if (bt_pex_parse(p, n, &m, err, sizeof(err)) < 0) {
		printf("peer %d bad ut_pex: %s\n", c->idx, err);
		close_conn(c, "bad ut_pex");
		return;
	}
	c->npex++;
	printf("peer %d pex added=%zu dropped=%zu skipped=%zu", c->idx,
	       m.nadded, m.ndropped, m.nskipped);
	for (size_t i = 0; i < m.nadded; i++) {
		char a[BT_ADDR_STRLEN];
		bt_addr_str(&m.added[i].addr, a, sizeof(a));
		printf(" %s/0x%02x", a, m.added[i].flags);
	}
	printf("\n");
}

static void on_message(struct conn *c, uint8_t id, const uint8_t *p, size_t n)
{
	if (id != BT_MSG_EXTENDED) {
		if (id == BT_MSG_BITFIELD || id == BT_MSG_HAVE_ALL ||
		    id == BT_MSG_HAVE_NONE)
			printf("peer %d sent %s (%zu bytes)\n", c->idx,
			       id == BT_MSG_BITFIELD   ? "bitfield"
			       : id == BT_MSG_HAVE_ALL ? "have_all"
						       : "have_none",
			       n);
		return;
	}
	if (n < 1) {
		close_conn(c, "empty extended message");
		return;
	}
	uint8_t ext = p[0];
	if (ext == BT_EXT_ID_HANDSHAKE)
		on_ext_handshake(c, p + 1, n - 1);
	else if (ext == BT_EXT_OUR_UT_METADATA)
		on_utmeta(c, p + 1, n - 1);
	else if (ext == BT_EXT_OUR_UT_PEX)
		on_pex(c, p + 1, n - 1);
	else
		printf("peer %d extended message id %u (%zu bytes) ignored\n",
		       c->idx, ext, n - 1);
}

static void on_readable(struct conn *c)
{
	ssize_t r =
	    recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
	if (r == 0) {
		close_conn(c, "eof");
		return;
	}
	if (r < 0) {
		if (errno != EAGAIN)
			close_conn(c, strerror(errno));
		return;
	}
	c->rlen += (size_t)r;
	size_t off = 0;
	if (!c->hs_done) {
		if (c->rlen < BT_HANDSHAKE_LEN)
			return;
		uint8_t res[8], ih[20], pid[20];
		if (bt_wire_handshake_parse(c->rbuf, res, ih, pid) < 0 ||
		    memcmp(ih, info_hash, 20)) {
			close_conn(c, "bad handshake");
			return;
		}
		printf("peer %d handshake ext=%d fast=%d peer_id=%.8s\n",
		       c->idx, bt_ext_supported(res), (res[7] & 4) != 0, pid);
		if (!bt_ext_supported(res)) {
			close_conn(c, "no extension protocol");
			return;
		}
		c->hs_done = true;
		off = BT_HANDSHAKE_LEN;
		/* our extension handshake, then "nothing yet" */
		struct bt_ext_hs hs;
		struct bt_benc b;
		bt_ext_hs_ours(&hs, true, listen_port, 0, 250, NULL, false);
		bt_benc_init(&b);
		if (bt_ext_hs_build(&hs, &b) == 0)
			send_ext(c, BT_EXT_ID_HANDSHAKE, b.buf, b.len);
		bt_benc_release(&b);
		if (res[7] & 4) {
			uint8_t hn[5] = {0, 0, 0, 1, BT_MSG_HAVE_NONE};
			send_all(c, hn, sizeof(hn));
		}
	}
	while (!c->closed && c->rlen - off >= 4) {
		const uint8_t *p = c->rbuf + off;
		uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			       (uint32_t)p[2] << 8 | p[3];
		if (len > RBUF - 4) {
			close_conn(c, "message too long");
			return;
		}
		if (c->rlen - off - 4 < len)
			break;
		if (len)
			on_message(c, p[4], p + 5, len - 1);
		off += 4 + len;
	}
	if (!c->closed) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

static int open_conn(const char *from, const char *peer)
{
	struct bt_addr local, remote;
	char lp[80];
	snprintf(lp, sizeof(lp), "%s:1", from);
	if (bt_addr_parse(lp, &local) < 0 || bt_addr_parse(peer, &remote) < 0) {
		fprintf(stderr, "ext_probe: bad address %s or %s\n", from,
			peer);
		return -1;
	}
	local.port = 0;
	struct sockaddr_storage ls, rs;
	socklen_t ll = bt_addr_to_sockaddr(&local, &ls);
	socklen_t rl = bt_addr_to_sockaddr(&remote, &rs);
	int fd =
	    socket(rs.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ls, ll) < 0) {
		perror("ext_probe: socket/bind");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&rs, rl) < 0 &&
	    errno != EINPROGRESS) {
		perror("ext_probe: connect");
		close(fd);
		return -1;
	}
	struct conn *c = &conns[nconns];
	c->fd = fd;
	c->idx = nconns++;
	snprintf(c->name, sizeof(c->name), "%s from %s", peer, from);
	bt_metaserve_init(&c->serve, now_ms());
	printf("peer %d is %s\n", c->idx, c->name);
	return 0;
}

/* True when the only network interface of this namespace is lo (asked
 * of the kernel: /sys may show another namespace's). */
static bool only_lo(void)
{
	struct if_nameindex *ifs = if_nameindex();
	bool ok = ifs != NULL;
	for (struct if_nameindex *i = ifs; ok && i->if_index; i++)
		if (strcmp(i->if_name, "lo"))
			ok = false;
	if (ifs)
		if_freenameindex(ifs);
	return ok;
}

static int lsd_mode(double timeout, int expect_port)
{
	if (!only_lo()) {
		fprintf(stderr, "ext_probe: --lsd runs only in a network "
				"namespace with nothing but lo\n");
		return 2;
	}
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in ga = {.sin_family = AF_INET,
				 .sin_port = htons(BT_LSD_PORT)};
	inet_pton(AF_INET, BT_LSD_GROUP4, &ga.sin_addr);
	struct ip_mreq mr;
	inet_pton(AF_INET, BT_LSD_GROUP4, &mr.imr_multiaddr);
	inet_pton(AF_INET, "127.0.0.1", &mr.imr_interface);
	if (u < 0 ||
	    setsockopt(u, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(u, (struct sockaddr *)&ga, sizeof(ga)) < 0 ||
	    setsockopt(u, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
	    setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &mr.imr_interface,
		       sizeof(mr.imr_interface)) < 0) {
		perror("ext_probe: lsd socket");
		return 1;
	}
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in la = {.sin_family = AF_INET,
				 .sin_port = htons(listen_port)};
	inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
	if (l < 0 ||
	    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&la, sizeof(la)) < 0 ||
	    listen(l, 8) < 0) {
		perror("ext_probe: lsd listen");
		return 1;
	}
	char cookie[32], ann[BT_LSD_MAX_SEND + 1];
	uint8_t rnd[4];
	pfs_random(rnd, sizeof(rnd));
	snprintf(cookie, sizeof(cookie), "p2pfs-%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3]);
	size_t alen;
	const uint8_t(*hs)[20] = (const uint8_t(*)[20])info_hash;
	if (bt_lsd_build(ann, sizeof(ann), &alen, false, listen_port, hs, 1,
			 cookie) != 1)
		return 1;
	uint64_t t0 = now_ms(), end = t0 + (uint64_t)(timeout * 1000);
	uint64_t next = 0;
	bool heard = false, called = false;
	int nann = 0, nown = 0;
	while (now_ms() < end && !(heard && called)) {
		if (now_ms() >= next) {
			sendto(u, ann, alen, 0, (struct sockaddr *)&ga,
			       sizeof(ga));
			next = now_ms() + 1000;
		}
		struct pollfd pf[2] = {{.fd = u, .events = POLLIN},
				       {.fd = l, .events = POLLIN}};
		if (poll(pf, 2, 200) <= 0)
			continue;
		if (pf[0].revents & POLLIN) {
			uint8_t d[BT_LSD_MAX_MSG + 1];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(u, d, sizeof(d), 0,
					     (struct sockaddr *)&from, &fl);
			struct bt_lsd_msg m;
			char err[200];
			if (n < 0)
				continue;
			if (bt_lsd_parse(d, (size_t)n, &m, err, sizeof(err)) <
			    0) {
				printf("lsd bad datagram: %s\n", err);
				continue;
			}
			if (bt_lsd_is_own(&m, cookie)) {
				nown++;
				continue;
			}
			struct conn dc = {.idx = 99};
			dump(&dc, "lsd", nann++, d, (size_t)n);
			char hex[41];
			pfs_hex(m.hashes[0], 20, hex);
			printf("lsd announce port=%u hashes=%zu first=%s "
			       "cookie=%s\n",
			       m.port, m.nhashes, hex,
			       m.has_cookie ? m.cookie : "-");
			for (size_t i = 0; i < m.nhashes; i++)
				heard |=
				    !memcmp(m.hashes[i], info_hash, 20) &&
				    (!expect_port || m.port == expect_port);
		}
		if (pf[1].revents & POLLIN) {
			int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			uint8_t hb[BT_HANDSHAKE_LEN], res[8], ih[20], pid[20];
			size_t got = 0;
			while (got < sizeof(hb)) {
				struct pollfd cp = {.fd = c, .events = POLLIN};
				if (poll(&cp, 1, 3000) <= 0)
					break;
				ssize_t r =
				    recv(c, hb + got, sizeof(hb) - got, 0);
				if (r <= 0)
					break;
				got += (size_t)r;
			}
			if (got == sizeof(hb) &&
			    bt_wire_handshake_parse(hb, res, ih, pid) == 0 &&
			    !memcmp(ih, info_hash, 20)) {
				printf("lsd peer connected peer_id=%.8s\n",
				       pid);
				called = true;
			} else {
				printf(
				    "lsd connection without our handshake\n");
			}
			close(c);
		}
	}
	printf("lsd: heard %s, called %s, own announces looped back %d, "
	       "%llu ms\n",
	       heard ? "yes" : "no", called ? "yes" : "no", nown,
	       (unsigned long long)(now_ms() - t0));
	close(u);
	close(l);
	return heard && called ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *peers[MAXC], *froms[MAXC], *out = NULL, *ih = NULL;
	int npeers = 0, nfroms = 0;
	double timeout = 20, pex_wait = 0;
	bool lsd = false;
	int expect_port = 0;
	static const struct option opts[] = {
	    {"info-hash", required_argument, NULL, 'i'},
	    {"peer", required_argument, NULL, 'p'},
	    {"from", required_argument, NULL, 'f'},
	    {"listen-port", required_argument, NULL, 'l'},
	    {"timeout", required_argument, NULL, 't'},
	    {"pex-wait", required_argument, NULL, 'x'},
	    {"out", required_argument, NULL, 'o'},
	    {"dump", required_argument, NULL, 'd'},
	    {"wait-all", no_argument, NULL, 'w'},
	    {"corrupt", required_argument, NULL, 'c'},
	    {"lsd", no_argument, NULL, 's'},
	    {"expect-port", required_argument, NULL, 'e'},
	    {0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			ih = optarg;
			break;
		case 'p':
			if (npeers < MAXC)
				peers[npeers++] = optarg;
			break;
		case 'f':
			if (nfroms < MAXC)
				froms[nfroms++] = optarg;
			break;
		case 'l':
			listen_port = (uint16_t)atoi(optarg);
			break;
		case 't':
			timeout = atof(optarg);
			break;
		case 'x':
			pex_wait = atof(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		case 'd':
			dump_dir = optarg;
			break;
		case 'w':
			wait_all = true;
			break;
		case 'c':
			corrupt = atoi(optarg);
			break;
		case 's':
			lsd = true;
			break;
		case 'e':
			expect_port = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (lsd && ih && strlen(ih) == 40 && pfs_unhex(ih, info_hash, 20) == 0)
		return lsd_mode(timeout, expect_port);
	if (!ih || strlen(ih) != 40 || pfs_unhex(ih, info_hash, 20) < 0 ||
	    !npeers) {
		fprintf(stderr, "usage: ext_probe --info-hash HEX --peer "
				"IP:PORT... [--from IP]...\n");
		return 2;
	}
	if (!nfroms)
		froms[nfroms++] = "127.0.0.1";
	setvbuf(stdout, NULL, _IOLBF, 0);
	int err;
	if (!(mf = bt_metafetch_new(info_hash, NULL, &err)))
		return 1;
	for (int f = 0; f < nfroms; f++)
		for (int p = 0; p < npeers && nconns < MAXC; p++)
			if (open_conn(froms[f], peers[p]) < 0)
				return 1;

	uint64_t t0 = now_ms(), deadline = t0 + (uint64_t)(timeout * 1000);
	uint64_t pex_until = 0;
	bool ok = false;
	while (now_ms() < deadline) {
		struct pollfd pf[MAXC];
		int live = 0;
		for (int i = 0; i < nconns; i++) {
			pf[i] = (struct pollfd){
			    .fd = conns[i].closed ? -1 : conns[i].fd,
			    .events = POLLIN};
			if (!conns[i].connected)
				pf[i].events |= POLLOUT;
			live += !conns[i].closed;
		}
		if (!live)
			break;
		uint64_t now = now_ms(), wake = bt_metafetch_deadline(mf);
		int ms = 200;
		if (wake > now && wake - now < (uint64_t)ms)
			ms = (int)(wake - now);
		if (poll(pf, (nfds_t)nconns, ms) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < nconns; i++) {
			struct conn *c = &conns[i];
			if (c->closed || !pf[i].revents)
				continue;
			if (!c->connected &&
			    (pf[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
				int e = 0;
				socklen_t el = sizeof(e);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e,
					   &el);
				if (e) {
					close_conn(c, strerror(e));
					continue;
				}
				c->connected = true;
				on_connected(c);
			}
			if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
				on_readable(c);
		}
		if (wait_all) {
			bool all = true;
			for (int i = 0; i < nconns; i++)
				all &= conns[i].ext_done || conns[i].closed;
			if (all) {
				wait_all = false;
				for (int i = 0; i < nconns; i++)
					if (!conns[i].closed)
						offer(&conns[i]);
			}
		}
		do_actions();
		if (bt_metafetch_done(mf)) {
			if (!pex_until)
				pex_until =
				    now_ms() + (uint64_t)(pex_wait * 1000);
			bool all_pex = true;
			for (int i = 0; i < nconns; i++)
				all_pex &= conns[i].npex > 0;
			if (all_pex || now_ms() >= pex_until) {
				ok = pex_wait <= 0 || all_pex;
				break;
			}
		}
	}
	size_t len = 0;
	const uint8_t *info = bt_metafetch_info(mf, &len);
	if (!info) {
		printf("metadata not complete after %.1f s\n", timeout);
		ok = false;
	} else if (out) {
		FILE *f = fopen(out, "wb");
		if (!f || fwrite(info, 1, len, f) != len || fclose(f)) {
			perror(out);
			ok = false;
		}
	}
	if (info && pex_wait > 0 && !ok)
		printf("not every connection got a ut_pex message within %.1f "
		       "s\n",
		       pex_wait);
	printf("done in %llu ms: %s\n", (unsigned long long)(now_ms() - t0),
	       ok ? "ok" : "FAILED");
	for (int i = 0; i < nconns; i++)
		if (!conns[i].closed)
			close(conns[i].fd);
	bt_metafetch_free(mf);
	return ok ? 0 : 1;
}
