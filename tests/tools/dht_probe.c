/* dht_probe — the DHT core (engine/policy/bt_dht) on a real UDP socket, to
 * test the codec and the node against real DHTs (libtorrent, aria2c) on
 * loopback before the engine carries it. Test code: it may use sockets.
 *
 *   dht_probe --bind IP:PORT [--bootstrap IP:PORT]...
 *             [--find HEX=IP:PORT]...   look HEX up until IP:PORT is a peer
 *             [--announce HEX:PORT]...  announce HEX with PORT (and keep a
 *                                       TCP listener on IP:PORT)
 *             [--expect-tcp-from IP]... wait for a TCP connection from IP
 *                                       to an announced port (a client
 *                                       that found us through the DHT)
 *             [--min-nodes N]           wait until N good nodes
 *             [--timeout SECS] [--linger SECS] [--dump DIR] [--seed N]
 *             [--state FILE]            load the node's state, save it at exit
 *
 * Prints one line per event ("peer HEX IP:PORT", "announced HEX to N
 * nodes", "tcp from IP:PORT", "nodes G/T") and "probe: ok" once every
 * expectation holds (then stays --linger seconds to answer others), or
 * "probe: timeout: ..." and exits 1. --dump writes every datagram received
 * to DIR/<n>-<ip>-<port>.bin (real messages for the fuzz corpus). Only the
 * addresses given are contacted, and whatever the DHT learns from them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bt_dht.h"
#include "pfs_hash.h"

#define MAX_ITEMS 8

struct find {
	uint8_t ih[20];
	struct bt_addr want;
	bool found;
	uint64_t next;
	int running;
};

struct ann {
	uint8_t ih[20];
	uint16_t port;
	int lfd;
	unsigned announced;
};

static struct {
	int fd;
	struct find finds[MAX_ITEMS];
	int nfinds;
	struct ann anns[MAX_ITEMS];
	int nanns;
	struct bt_addr tcp_from[MAX_ITEMS];
	bool tcp_seen[MAX_ITEMS];
	int ntcp;
	const char *dump;
	unsigned ndump;
	struct bt_dht *d;
} P;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The 40 hex digits at the start of S. */
static int unhex40(const char *s, uint8_t out[20])
{
	char hex[41];
	memcpy(hex, s, 40);
	hex[40] = '\0';
	return pfs_unhex(hex, out, 20);
}

static void die(const char *msg)
{
	fprintf(stderr, "dht_probe: %s\n", msg);
	exit(2);
}

static void p_send(void *arg, const struct bt_addr *to, const uint8_t *buf,
		   size_t len)
{
	(void)arg;
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(to, &ss);
	if (sl && sendto(P.fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0) {
		char s[BT_ADDR_STRLEN];
		bt_addr_str(to, s, sizeof(s));
		fprintf(stderr, "dht_probe: sendto %s: %s\n", s,
			strerror(errno));
	}
}

static void p_peers(void *arg, const uint8_t ih[20], const struct bt_addr *p,
		    size_t n)
{
	(void)arg;
	char hex[41], s[BT_ADDR_STRLEN];
	pfs_hex(ih, 20, hex);
	for (size_t i = 0; i < n; i++) {
		bt_addr_str(&p[i], s, sizeof(s));
		printf("peer %s %s\n", hex, s);
		for (int k = 0; k < P.nfinds; k++)
			if (!memcmp(P.finds[k].ih, ih, 20) &&
			    bt_addr_equal(&P.finds[k].want, &p[i]) &&
			    !P.finds[k].found) {
				P.finds[k].found = true;
				printf("found %s at %s\n", hex, s);
			}
	}
	fflush(stdout);
}

static void p_done(void *arg, const struct bt_dht_search_result *r)
{
	(void)arg;
	char hex[41];
	pfs_hex(r->target, 20, hex);
	printf("lookup %s done: %zu nodes, %u queries, %u replies, %u hops, "
	       "%u peers, %llu ms%s\n",
	       hex, r->n_nodes, r->queries, r->replies, r->hops, r->peers,
	       (unsigned long long)r->ms, r->announce ? " (announce)" : "");
	for (int k = 0; k < P.nfinds; k++)
		if (P.finds[k].running == r->id)
			P.finds[k].running = 0;
	if (r->announce)
		for (int k = 0; k < P.nanns; k++)
			if (!memcmp(P.anns[k].ih, r->target, 20)) {
				P.anns[k].announced += r->announced;
				printf("announced %s to %u nodes\n", hex,
				       r->announced);
			}
	fflush(stdout);
}

static int tcp_listen(const struct bt_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(a, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 16))
		die("cannot listen on an announced port");
	return fd;
}

static void dump(const uint8_t *buf, size_t len, const struct bt_addr *from)
{
	if (!P.dump)
		return;
	char path[4096], s[BT_ADDR_STRLEN];
	bt_addr_str(from, s, sizeof(s));
	for (char *c = s; *c; c++)
		if (*c == ':' || *c == '[' || *c == ']')
			*c = '-';
	snprintf(path, sizeof(path), "%s/%04u-%s.bin", P.dump, P.ndump++, s);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(buf, 1, len, f);
		fclose(f);
	}
}

static bool all_done(unsigned min_nodes, uint64_t now)
{
	unsigned good, total;
	bt_dht_node_count(P.d, &good, &total, now);
	if (good < min_nodes)
		return false;
	for (int k = 0; k < P.nfinds; k++)
		if (!P.finds[k].found)
			return false;
	for (int k = 0; k < P.nanns; k++)
		if (!P.anns[k].announced)
			return false;
	for (int k = 0; k < P.ntcp; k++)
		if (!P.tcp_seen[k])
			return false;
	return true;
}

static void report_missing(unsigned min_nodes, uint64_t now)
{
	unsigned good, total;
	bt_dht_node_count(P.d, &good, &total, now);
	printf("probe: timeout:");
	if (good < min_nodes)
		printf(" %u of %u good nodes;", good, min_nodes);
	for (int k = 0; k < P.nfinds; k++)
		if (!P.finds[k].found) {
			char hex[41], s[BT_ADDR_STRLEN];
			pfs_hex(P.finds[k].ih, 20, hex);
			bt_addr_str(&P.finds[k].want, s, sizeof(s));
			printf(" %s not found at %s;", hex, s);
		}
	for (int k = 0; k < P.nanns; k++)
		if (!P.anns[k].announced)
			printf(" announce %d reached no node;", k);
	for (int k = 0; k < P.ntcp; k++)
		if (!P.tcp_seen[k]) {
			char s[BT_ADDR_STRLEN];
			bt_addr_str(&P.tcp_from[k], s, sizeof(s));
			printf(" no tcp connection from %s;", s);
		}
	printf("\n");
}

int main(int argc, char **argv)
{
	struct bt_addr bind_addr = {0}, boot[MAX_ITEMS];
	int nboot = 0;
	double timeout = 30, linger = 0;
	unsigned min_nodes = 0;
	uint64_t seed = 0;
	const char *state_path = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			die("missing option value");
		i++;
		if (!strcmp(a, "--bind")) {
			if (bt_addr_parse(v, &bind_addr))
				die("bad --bind");
		} else if (!strcmp(a, "--bootstrap")) {
			if (nboot == MAX_ITEMS ||
			    bt_addr_parse(v, &boot[nboot++]))
				die("bad --bootstrap");
		} else if (!strcmp(a, "--find")) {
			struct find *f = &P.finds[P.nfinds];
			if (P.nfinds == MAX_ITEMS || strlen(v) < 42 ||
			    v[40] != '=' || unhex40(v, f->ih) ||
			    bt_addr_parse(v + 41, &f->want))
				die("bad --find HEX=IP:PORT");
			P.nfinds++;
		} else if (!strcmp(a, "--announce")) {
			struct ann *n = &P.anns[P.nanns];
			if (P.nanns == MAX_ITEMS || strlen(v) < 42 ||
			    v[40] != ':' || unhex40(v, n->ih))
				die("bad --announce HEX:PORT");
			n->port = (uint16_t)atoi(v + 41);
			if (!n->port)
				die("bad --announce port");
			P.nanns++;
		} else if (!strcmp(a, "--expect-tcp-from")) {
			if (P.ntcp == MAX_ITEMS)
				die("too many --expect-tcp-from");
			char tmp[80];
			snprintf(tmp, sizeof(tmp), "%s:1", v);
			if (bt_addr_parse(tmp, &P.tcp_from[P.ntcp++]))
				die("bad --expect-tcp-from IP");
		} else if (!strcmp(a, "--min-nodes")) {
			min_nodes = (unsigned)atoi(v);
		} else if (!strcmp(a, "--timeout")) {
			timeout = atof(v);
		} else if (!strcmp(a, "--linger")) {
			linger = atof(v);
		} else if (!strcmp(a, "--dump")) {
			P.dump = v;
		} else if (!strcmp(a, "--seed")) {
			seed = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--state")) {
			state_path = v;
		} else {
			die("unknown option (see the comment at the top)");
		}
	}
	if (!bind_addr.family)
		die("--bind is required");
	if (!seed && pfs_random(&seed, sizeof(seed)))
		die("no randomness");

	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&bind_addr, &ss);
	P.fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (P.fd < 0 || bind(P.fd, (struct sockaddr *)&ss, sl))
		die("cannot bind the UDP socket");

	static uint8_t state[1 << 16];
	size_t state_len = 0;
	if (state_path) {
		FILE *f = fopen(state_path, "rb");
		if (f) {
			state_len = fread(state, 1, sizeof(state), f);
			fclose(f);
		}
	}
	struct bt_dht_opts o = {
	    .seed = seed,
	    .families = bind_addr.family == BT_ADDR_V6 ? BT_DHT_V6 : BT_DHT_V4,
	    .send = p_send,
	    .on_peers = p_peers,
	    .on_done = p_done,
	    .version = {'P', '2', 0, 1},
	    .state = state_len ? state : NULL,
	    .state_len = state_len,
	};
	int err = 0;
	P.d = bt_dht_new(&o, &err);
	if (!P.d)
		die("bt_dht_new failed");
	uint64_t t0 = now_ms(), now = t0;
	for (int i = 0; i < nboot; i++)
		if (bt_dht_add_bootstrap(P.d, &boot[i], now))
			die("bad bootstrap address");
	for (int k = 0; k < P.nanns; k++) {
		struct bt_addr la = bind_addr;
		la.port = P.anns[k].port;
		P.anns[k].lfd = tcp_listen(&la);
		if (bt_dht_announce(P.d, P.anns[k].ih, P.anns[k].port, 0, now))
			die("bt_dht_announce failed");
	}
	printf("probe: bound, %d bootstrap node(s)\n", nboot);
	fflush(stdout);

	uint64_t end = t0 + (uint64_t)(timeout * 1000), ok_at = 0,
		 last_count = 0;
	int rc = 1;
	for (;;) {
		now = now_ms();
		if (now >= bt_dht_deadline(P.d))
			bt_dht_periodic(P.d, now);
		/* (re)start the lookups of what is not found yet, every 2 s,
		 * once there is a node to ask */
		unsigned good, total;
		bt_dht_node_count(P.d, &good, &total, now);
		for (int k = 0; k < P.nfinds; k++) {
			struct find *f = &P.finds[k];
			if (f->found || f->running || now < f->next || !total)
				continue;
			int id = bt_dht_search(P.d, f->ih, BT_DHT_GET_PEERS,
					       o.families, now);
			if (id > 0)
				f->running = id;
			f->next = now + 2000;
		}
		if (now >= last_count + 1000) {
			printf("nodes %u/%u\n", good, total);
			fflush(stdout);
			last_count = now;
		}
		if (!ok_at && all_done(min_nodes, now)) {
			printf("probe: ok after %llu ms\n",
			       (unsigned long long)(now - t0));
			fflush(stdout);
			ok_at = now;
			rc = 0;
		}
		if (ok_at && now >= ok_at + (uint64_t)(linger * 1000))
			break;
		if (!ok_at && now >= end) {
			report_missing(min_nodes, now);
			break;
		}

		struct pollfd pf[1 + MAX_ITEMS];
		int npf = 0;
		pf[npf++] = (struct pollfd){.fd = P.fd, .events = POLLIN};
		for (int k = 0; k < P.nanns; k++)
			pf[npf++] = (struct pollfd){.fd = P.anns[k].lfd,
						    .events = POLLIN};
		uint64_t dl = bt_dht_deadline(P.d);
		int wait = dl > now ? (int)(dl - now) : 0;
		if (wait > 200)
			wait = 200;
		if (poll(pf, (nfds_t)npf, wait) < 0 && errno != EINTR)
			die("poll");
		for (;;) {
			uint8_t buf[65536];
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(P.fd, buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &fl);
			if (n < 0)
				break;
			struct bt_addr fa;
			if (bt_addr_from_sockaddr(&fa, (struct sockaddr *)&from,
						  fl))
				continue;
			dump(buf, (size_t)n, &fa);
			if (n > 0 && buf[0] == 'd') {
				int r = bt_dht_input(P.d, buf, (size_t)n, &fa,
						     now_ms());
				/* (our own query, looped back by a node that
				 * named us under a stale id, is no client's) */
				if (r && !bt_addr_equal(&fa, &bind_addr)) {
					char s[BT_ADDR_STRLEN];
					bt_addr_str(&fa, s, sizeof(s));
					printf("refused a datagram from %s "
					       "(%d): %.*s\n",
					       s, r, (int)(n < 120 ? n : 120),
					       buf);
				}
			}
		}
		for (int k = 0; k < P.nanns; k++) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			int c = accept(P.anns[k].lfd, (struct sockaddr *)&from,
				       &fl);
			if (c < 0)
				continue;
			struct bt_addr fa;
			char s[BT_ADDR_STRLEN];
			if (!bt_addr_from_sockaddr(
				&fa, (struct sockaddr *)&from, fl)) {
				bt_addr_str(&fa, s, sizeof(s));
				printf("tcp from %s\n", s);
				for (int t = 0; t < P.ntcp; t++)
					if (bt_addr_same_ip(&P.tcp_from[t],
							    &fa))
						P.tcp_seen[t] = true;
			}
			close(c);
		}
	}
	struct bt_dht_stats st;
	bt_dht_stats(P.d, &st, now_ms());
	printf("stats: good %u dubious %u, sent %llu received %llu, answered "
	       "%llu, bad %llu, unsolicited %llu, store %u/%u\n",
	       st.good[0] + st.good[1], st.dubious[0] + st.dubious[1],
	       (unsigned long long)st.sent, (unsigned long long)st.received,
	       (unsigned long long)st.queries_in,
	       (unsigned long long)st.dropped_bad,
	       (unsigned long long)st.unsolicited, st.store_hashes,
	       st.store_peers);
	if (state_path) {
		struct bt_benc b;
		bt_benc_init(&b);
		FILE *f = fopen(state_path, "wb");
		if (!bt_dht_save(P.d, &b, now_ms()) && f)
			fwrite(b.buf, 1, b.len, f);
		if (f)
			fclose(f);
		bt_benc_release(&b);
	}
	bt_dht_free(P.d);
	for (int k = 0; k < P.nanns; k++)
		close(P.anns[k].lfd);
	close(P.fd);
	return rc;
}
