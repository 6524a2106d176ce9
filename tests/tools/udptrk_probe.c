/* udptrk_probe — test code: runs the I/O-free BEP 15 client
 * (bt_udptrk_client) and, with --tiers, the announce policy (bt_announcer)
 * over a real UDP socket, to check them against a real UDP tracker
 * (opentracker) before the engine uses them. Loopback or literal addresses
 * only: it never resolves a name.
 *
 *   udptrk_probe [options] udp://IP:PORT[/path?query]...
 *     --bind IP            local address (default 127.0.0.1)
 *     --hash HEX           info-hash (40 hex digits)
 *     --port N             port announced (default 6881)
 *     --left N             bytes left (default 1000; 0 = a seed)
 *     --event E            started|completed|stopped|none (default started)
 *     --count N            announces in a row to each URL (default 1)
 *     --base-ms N          retransmission base (default 15000, BEP 15)
 *     --retries N          retransmissions per step (default 1)
 *     --scrape             also scrape each URL (the codec alone)
 *     --tiers              URLs are TIER:URL; run the announcer: one
 *                          round, then stop (sending `stopped`)
 *     --dump DIR           write each datagram received to DIR/N.bin
 *     --timeout S          give up after S seconds (default 30)
 *
 * Prints one line per result ("reply URL err=E peers=N interval=I
 * seeders=S leechers=L failure=TEXT", "peer IP:PORT", "scrape ...",
 * "answered URL after MS ms", "stats ..."), exits 0 when the run
 * finished (whatever the trackers said), 1 on a usage or socket error or
 * when the overall timeout hit. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bt_announcer.h"
#include "bt_udptrk.h"
#include "bt_udptrk_client.h"

#define MAX_URLS 16

struct probe {
	int fd;
	struct bt_udptrk_client *c;
	const char *dump;
	unsigned ndump;
	int pending;
	struct bt_announcer *an;
	uint64_t t0;
	const char *answered; /* --tiers: the first tracker that answered */
};

struct one {
	struct probe *p;
	const char *url;
	uint64_t act_id; /* --tiers */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_fn(void *arg, const struct bt_addr *to, const uint8_t *buf,
		   size_t len)
{
	struct probe *p = arg;
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(to, &ss);
	if (sendto(p->fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	return 0;
}

static void random_fn(void *arg, uint8_t *buf, size_t len)
{
	(void)arg;
	while (len) {
		ssize_t n = getrandom(buf, len, 0);
		if (n <= 0)
			abort();
		buf += n;
		len -= (size_t)n;
	}
}

/* The tracker address of a udp:// URL with a literal host, and its BEP 41
 * data. */
static int resolve(const char *url, struct bt_addr *a, const char **data,
		   size_t *dlen)
{
	char host[64];
	uint16_t port;
	int e = bt_udptrk_url_parse(url, host, sizeof(host), &port, data, dlen);
	if (e < 0)
		return e;
	uint8_t ip[16];
	if (inet_pton(AF_INET, host, ip) == 1)
		return bt_addr_set(a, ip, 4, port);
	if (inet_pton(AF_INET6, host, ip) == 1)
		return bt_addr_set(a, ip, 16, port);
	return -EINVAL; /* names are not resolved here */
}

static const char *event_name(enum bt_tracker_event e)
{
	switch (e) {
	case BT_EVENT_STARTED:
		return "started";
	case BT_EVENT_STOPPED:
		return "stopped";
	case BT_EVENT_COMPLETED:
		return "completed";
	default:
		return "none";
	}
}

static void print_reply(const char *url, int err, const char *why,
			const struct bt_tracker_reply *r)
{
	if (err < 0) {
		printf("reply %s err=%d (%s)\n", url, err, why);
		return;
	}
	printf("reply %s err=0 peers=%zu interval=%" PRIu32 " seeders=%" PRId64
	       " leechers=%" PRId64 " failure=%s\n",
	       url, r->npeers, r->interval, r->complete, r->incomplete,
	       r->failure ? r->failure : "");
	for (size_t i = 0; i < r->npeers; i++) {
		char s[BT_ADDR_STRLEN];
		bt_addr_str(&r->peers[i], s, sizeof(s));
		printf("peer %s\n", s);
	}
}

static void done_cb(int err, const char *why, const struct bt_tracker_reply *r,
		    void *arg)
{
	struct one *o = arg;
	struct probe *p = o->p;
	print_reply(o->url, err, why, r);
	if (p->an) {
		if (err == 0 && !r->failure && !p->answered) {
			p->answered = o->url;
			printf("answered %s after %" PRIu64 " ms\n", o->url,
			       now_ms() - p->t0);
		}
		bt_announcer_result(p->an, o->act_id, err, why, r, now_ms());
	}
	p->pending--;
	free(o);
}

static void dump(struct probe *p, const uint8_t *buf, size_t len)
{
	if (!p->dump)
		return;
	char path[512];
	snprintf(path, sizeof(path), "%s/%02u.bin", p->dump, p->ndump++);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(buf, 1, len, f);
		fclose(f);
	}
}

/* Receive and dispatch until nothing is pending, or DEADLINE. */
static int pump(struct probe *p, uint64_t deadline)
{
	uint8_t buf[65536];
	for (;;) {
		if (p->pending == 0)
			return 0;
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t next = bt_udptrk_client_periodic(p->c, now);
		if (p->pending == 0)
			continue;
		uint64_t until = next < deadline ? next : deadline;
		int wait = until > now ? (int)(until - now) : 0;
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		int n = poll(&pfd, 1, wait);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t len = recvfrom(p->fd, buf, sizeof(buf), 0,
				       (struct sockaddr *)&ss, &sl);
		if (len < 0)
			continue;
		struct bt_addr from;
		if (bt_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl) <
		    0)
			continue;
		dump(p, buf, (size_t)len);
		if (bt_udptrk_client_input(p->c, buf, (size_t)len, &from,
					   now_ms()) < 0)
			printf("stray datagram of %zd bytes\n", len);
	}
}

struct opts {
	const char *bind;
	uint8_t hash[20];
	uint16_t port;
	uint64_t left;
	enum bt_tracker_event event;
	int count;
	uint64_t base_ms;
	unsigned retries;
	bool scrape, tiers;
	int timeout_s;
};

static struct bt_announce announce_of(const struct opts *o, uint32_t key)
{
	struct bt_announce a;
	memset(&a, 0, sizeof(a));
	memcpy(a.info_hash, o->hash, 20);
	memcpy(a.peer_id, "-PF0100-", 8);
	random_fn(NULL, a.peer_id + 8, 12);
	a.port = o->port;
	a.left = o->left;
	a.event = o->event;
	a.numwant = 50;
	a.key = key;
	return a;
}

static int start_one(struct probe *p, const char *url,
		     const struct bt_announce *a, uint64_t timeout_ms,
		     uint64_t act_id)
{
	struct bt_addr to;
	const char *data;
	size_t dlen;
	int e = resolve(url, &to, &data, &dlen);
	if (e < 0) {
		fprintf(stderr, "udptrk_probe: bad url '%s'\n", url);
		return e;
	}
	struct one *o = calloc(1, sizeof(*o));
	o->p = p;
	o->url = url;
	o->act_id = act_id;
	if (!bt_udptrk_client_announce(p->c, &to, data, dlen, a, timeout_ms,
				       now_ms(), done_cb, o, &e)) {
		free(o);
		printf("reply %s err=%d (cannot start: %s)\n", url, e,
		       strerror(-e));
		return e;
	}
	p->pending++;
	return 0;
}

/* A raw scrape through the codec, with its own transaction. */
static int scrape(struct probe *p, const char *url, const struct opts *o,
		  uint64_t deadline)
{
	struct bt_addr to;
	const char *data;
	size_t dlen;
	if (resolve(url, &to, &data, &dlen) < 0)
		return -EINVAL;
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&to, &ss);
	uint8_t buf[2048];
	uint32_t tid;
	uint64_t cid = 0;
	for (int step = 0; step < 2; step++) {
		random_fn(NULL, (uint8_t *)&tid, sizeof(tid));
		int n;
		if (step == 0) {
			bt_udptrk_connect_req(buf, tid);
			n = BT_UDPTRK_CONNECT_LEN;
		} else {
			n = bt_udptrk_scrape_req(buf, sizeof(buf), cid, tid,
						 o->hash, 1);
		}
		if (sendto(p->fd, buf, (size_t)n, 0, (struct sockaddr *)&ss,
			   sl) < 0)
			return -errno;
		for (;;) {
			uint64_t now = now_ms();
			if (now >= deadline)
				return -ETIMEDOUT;
			struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
			if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
				continue;
			ssize_t len = recv(p->fd, buf, sizeof(buf), 0);
			uint32_t action, rtid;
			if (len < 0 ||
			    bt_udptrk_header(buf, (size_t)len, &action, &rtid) <
				0 ||
			    rtid != tid)
				continue;
			dump(p, buf, (size_t)len);
			char err[128];
			if (action == BT_UDPTRK_ERROR) {
				char *msg;
				bt_udptrk_parse_error(buf, (size_t)len, &msg,
						      err, sizeof(err));
				printf("scrape %s error=%s\n", url,
				       msg ? msg : "?");
				free(msg);
				return 0;
			}
			if (step == 0) {
				if (bt_udptrk_parse_connect(buf, (size_t)len,
							    &cid, err,
							    sizeof(err)) < 0)
					return -EPROTO;
			} else {
				struct bt_udptrk_scrape_entry e;
				int k = bt_udptrk_parse_scrape(
				    buf, (size_t)len, &e, 1, err, sizeof(err));
				if (k != 1) {
					printf("scrape %s bad: %s\n", url, err);
					return -EPROTO;
				}
				printf("scrape %s seeders=%" PRIu32
				       " completed=%" PRIu32
				       " leechers=%" PRIu32 "\n",
				       url, e.seeders, e.completed, e.leechers);
			}
			break;
		}
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: udptrk_probe [--bind IP] [--hash HEX] "
			"[--port N] [--left N] [--event E] [--count N] "
			"[--base-ms N] [--retries N] [--scrape] [--tiers] "
			"[--dump DIR] [--timeout S] URL...\n");
	return 1;
}

int main(int argc, char **argv)
{
	struct opts o = {.bind = "127.0.0.1",
			 .port = 6881,
			 .left = 1000,
			 .event = BT_EVENT_STARTED,
			 .count = 1,
			 .base_ms = BT_UDPTRK_BASE_TIMEOUT_MS,
			 .retries = BT_UDPTRK_RETRIES,
			 .timeout_s = 30};
	struct probe p = {.fd = -1};
	const char *urls[MAX_URLS];
	unsigned tiers[MAX_URLS];
	int nurls = 0;
	memset(o.hash, 0xab, 20);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--scrape")) {
			o.scrape = true;
		} else if (!strcmp(a, "--tiers")) {
			o.tiers = true;
		} else if (!strncmp(a, "--", 2)) {
			if (!v)
				return usage();
			i++;
			if (!strcmp(a, "--bind"))
				o.bind = v;
			else if (!strcmp(a, "--hash")) {
				if (strlen(v) != 40)
					return usage();
				for (int k = 0; k < 20; k++) {
					int h = hexval(v[2 * k]),
					    l = hexval(v[2 * k + 1]);
					if (h < 0 || l < 0)
						return usage();
					o.hash[k] = (uint8_t)(h << 4 | l);
				}
			} else if (!strcmp(a, "--port"))
				o.port = (uint16_t)atoi(v);
			else if (!strcmp(a, "--left"))
				o.left = strtoull(v, NULL, 10);
			else if (!strcmp(a, "--event"))
				o.event =
				    !strcmp(v, "completed") ? BT_EVENT_COMPLETED
				    : !strcmp(v, "stopped") ? BT_EVENT_STOPPED
				    : !strcmp(v, "none")    ? BT_EVENT_NONE
							    : BT_EVENT_STARTED;
			else if (!strcmp(a, "--count"))
				o.count = atoi(v);
			else if (!strcmp(a, "--base-ms"))
				o.base_ms = strtoull(v, NULL, 10);
			else if (!strcmp(a, "--retries"))
				o.retries = (unsigned)atoi(v);
			else if (!strcmp(a, "--dump"))
				p.dump = v;
			else if (!strcmp(a, "--timeout"))
				o.timeout_s = atoi(v);
			else
				return usage();
		} else {
			if (nurls == MAX_URLS)
				return usage();
			tiers[nurls] = 0;
			if (o.tiers) {
				const char *colon = strchr(a, ':');
				if (!colon)
					return usage();
				tiers[nurls] = (unsigned)atoi(a);
				a = colon + 1;
			}
			urls[nurls++] = a;
		}
	}
	if (nurls == 0)
		return usage();

	struct sockaddr_storage ss;
	struct bt_addr local;
	char lb[80];
	snprintf(lb, sizeof(lb), strchr(o.bind, ':') ? "[%s]:1" : "%s:1",
		 o.bind);
	if (bt_addr_parse(lb, &local) < 0)
		return usage();
	local.port = 0;
	socklen_t sl = bt_addr_to_sockaddr(&local, &ss);
	p.fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p.fd < 0 || bind(p.fd, (struct sockaddr *)&ss, sl) < 0) {
		perror("udptrk_probe: socket");
		return 1;
	}

	struct bt_udptrk_client_cfg cfg;
	bt_udptrk_client_defaults(&cfg);
	cfg.send_fn = send_fn;
	cfg.send_arg = &p;
	cfg.random_fn = random_fn;
	cfg.base_timeout_ms = o.base_ms;
	cfg.retries = o.retries;
	int e;
	p.c = bt_udptrk_client_new(&cfg, &e);
	if (!p.c) {
		fprintf(stderr, "udptrk_probe: client: %s\n", strerror(-e));
		return 1;
	}
	p.t0 = now_ms();
	uint64_t deadline = p.t0 + (uint64_t)o.timeout_s * 1000;
	uint32_t key;
	random_fn(NULL, (uint8_t *)&key, sizeof(key));
	int rc = 0;

	if (!o.tiers) {
		for (int round = 0; round < o.count && rc == 0; round++) {
			struct bt_announce a = announce_of(&o, key);
			for (int i = 0; i < nurls; i++)
				start_one(&p, urls[i], &a, 0, 0);
			rc = pump(&p, deadline);
		}
		for (int i = 0; o.scrape && i < nurls && rc == 0; i++)
			rc = scrape(&p, urls[i], &o, deadline);
	} else {
		struct bt_announcer_cfg acfg;
		bt_announcer_defaults(&acfg);
		random_fn(NULL, (uint8_t *)&acfg.seed, sizeof(acfg.seed));
		p.an = bt_announcer_new(&acfg);
		for (int i = 0; i < nurls; i++)
			if (bt_announcer_add(p.an, urls[i], tiers[i]) < 0)
				return usage();
		bt_announcer_start(p.an, o.left == 0, now_ms());
		/* one round: until a tracker answered or all failed */
		struct bt_announcer_action act;
		for (;;) {
			while (bt_announcer_next(p.an, now_ms(), &act)) {
				struct bt_announce a = announce_of(&o, key);
				a.event = act.event;
				a.numwant = act.numwant;
				printf("announce %s event=%s\n", act.url,
				       event_name(act.event));
				if (act.kind != BT_ANNOUNCER_UDP ||
				    start_one(&p, act.url, &a, 0, act.id) < 0)
					bt_announcer_result(
					    p.an, act.id, -EINVAL,
					    "not usable here", NULL, now_ms());
			}
			if (p.answered || p.pending == 0)
				break;
			if ((rc = pump(&p, deadline)) < 0)
				break;
			if (p.answered)
				break;
			/* all failed: the announcer backs off; one round
			 * is enough for the probe */
			if (bt_announcer_deadline(p.an) > now_ms() &&
			    p.pending == 0) {
				printf("round failed\n");
				break;
			}
		}
		/* stop: `stopped` to every tracker that got `started` */
		bt_announcer_stop(p.an, now_ms());
		while (bt_announcer_next(p.an, now_ms(), &act)) {
			struct bt_announce a = announce_of(&o, key);
			a.event = act.event;
			a.numwant = act.numwant;
			printf("announce %s event=%s\n", act.url,
			       event_name(act.event));
			start_one(&p, act.url, &a, act.timeout_ms, act.id);
		}
		if (rc == 0)
			rc = pump(&p, deadline);
		printf("done=%d\n", bt_announcer_done(p.an));
		for (size_t i = 0; i < bt_announcer_count(p.an); i++) {
			struct bt_announcer_info inf;
			bt_announcer_info(p.an, i, &inf);
			printf("status %s tier=%u working=%d peers=%zu "
			       "fails=%u error=%s\n",
			       inf.url, inf.tier, inf.working, inf.total_peers,
			       inf.fails, inf.last_error);
		}
		bt_announcer_free(p.an);
	}

	struct bt_udptrk_client_stats st;
	bt_udptrk_client_stats(p.c, &st);
	printf("stats connects=%" PRIu64 " announces=%" PRIu64
	       " retransmits=%" PRIu64 " replies=%" PRIu64 " strays=%" PRIu64
	       " malformed=%" PRIu64 " failed=%" PRIu64 "\n",
	       st.connects_sent, st.announces_sent, st.retransmits, st.replies,
	       st.strays, st.malformed, st.failed);
	bt_udptrk_client_free(p.c);
	close(p.fd);
	if (rc < 0) {
		fprintf(stderr, "udptrk_probe: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
