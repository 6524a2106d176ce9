/* bt_dhtnode — the DHT core on the engine's UDP socket and event base, the
 * bootstrap, the saved state, and the lookups of the engine's torrents;
 * see bt_dhtnode.h.
 *
 * Timers: EV follows the core's deadline; TICK runs the torrents' lookup
 * schedule, the router fallback and the periodic save, re-armed from the
 * earliest of those. */
#include "bt_dhtnode.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "bt_dht.h"
#include "bt_engine_i.h"
#include "pfs_env.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define STATE_MAX	(64 * 1024) /* a saved state is a few KiB */
#define LOOKUP_FIRST_MS 5000	    /* the first extra lookup while few peers */
#define LOOKUP_MAX_MS	(5 * 60 * 1000) /* extra lookups back off to this */
#define MAX_RESOLVING	8
#define MAX_LOCAL	16 /* this machine's addresses kept for is_us() */

static const char *const routers[] = {
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
};

/* One torrent the node announces. */
struct dtor {
	uint8_t ih[20];
	char name[64];
	uint64_t added;	      /* ms */
	uint64_t next_lookup; /* the next extra lookup, ms */
	uint64_t backoff;
	uint32_t lookups, peers;
	bool first_peer_logged;
};

struct resolving {
	struct bt_dhtnode *n; /* NULL once detached (the node stops) */
	struct evdns_getaddrinfo_request *req;
	bool done;
	uint16_t port;
	char name[256];
};

struct bt_dhtnode {
	struct bt_engine *e;
	struct bt_dht *d;
	struct event *ev, *tick_ev;
	bool running, loopback_only, routers_added;
	bool lo_net; /* P2PFS_LOOPBACK_NET: LO_NET/LO_BITS count as loopback */
	struct bt_addr lo_netaddr;
	unsigned lo_bits;
	char **boot;
	size_t nboot;
	char *state_dir;
	char state_path[4096];
	int lock_fd;
	bool own_state; /* we hold the lock: we save */
	unsigned families;
	uint64_t started, next_save;
	/* unbound: this machine's addresses (at start), where our announce
	 * comes back from */
	struct bt_addr local[MAX_LOCAL];
	size_t nlocal;

	struct dtor *tors;
	size_t ntors;

	struct resolving *res[MAX_RESOLVING];

	struct bt_dhtnode_stats st;
};

static void arm_at(struct event *ev, uint64_t at, uint64_t now)
{
	uint64_t ms = at > now ? at - now : 0;
	if (ms > 3600000)
		ms = 3600000;
	struct timeval tv = {(time_t)(ms / 1000),
			     (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

static void arm_core(struct bt_dhtnode *n, uint64_t now)
{
	if (n->running)
		arm_at(n->ev, bt_dht_deadline(n->d), now);
}

bool bt_dhtnode_allowed(const struct bt_dhtnode *n, const struct bt_addr *a)
{
	return bt_addr_usable(a) &&
	       (!n->loopback_only || bt_addr_is_loopback(a) ||
		(n->lo_net &&
		 bt_addr_in_prefix(a, &n->lo_netaddr, n->lo_bits)));
}

static bool allow_cb(void *arg, const struct bt_addr *a)
{
	return bt_dhtnode_allowed(arg, a);
}

/* Our own announce, come back: our port on our address (when the socket
 * is bound to none: on loopback or one of this machine's addresses, as
 * the other nodes saw our datagrams come from it). */
static bool is_us(const struct bt_dhtnode *n, const struct bt_addr *a)
{
	if (a->port != bt_engine_port(n->e))
		return false;
	struct bt_addr b;
	if (!n->e->bind_ip) {
		for (size_t i = 0; i < n->nlocal; i++)
			if (bt_addr_same_ip(a, &n->local[i]))
				return true;
		return bt_addr_is_loopback(a);
	}
	char s[BT_ADDR_STRLEN + 8];
	snprintf(s, sizeof(s), strchr(n->e->bind_ip, ':') ? "[%s]:%u" : "%s:%u",
		 n->e->bind_ip, a->port);
	return bt_addr_parse(s, &b) == 0 && bt_addr_same_ip(a, &b);
}

static struct dtor *tor_find(struct bt_dhtnode *n, const uint8_t ih[20])
{
	for (size_t i = 0; i < n->ntors; i++)
		if (!memcmp(n->tors[i].ih, ih, 20))
			return &n->tors[i];
	return NULL;
}

/* ---- the core's callbacks ---- */

static void send_cb(void *arg, const struct bt_addr *to, const uint8_t *buf,
		    size_t len)
{
	struct bt_dhtnode *n = arg;
	/* the one place every datagram passes: LOOPBACK_ONLY holds here */
	if (!bt_dhtnode_allowed(n, to)) {
		n->st.blocked++;
		return;
	}
	if (bt_udp_send(bt_engine_udp(n->e), to, buf, len) == 0) {
		n->st.sent++;
		n->st.sent_bytes += len;
	}
}

static void peers_cb(void *arg, const uint8_t ih[20], const struct bt_addr *p,
		     size_t np)
{
	struct bt_dhtnode *n = arg;
	struct bt_torrent *t = bt_engine_find(n->e, ih);
	struct dtor *dt = tor_find(n, ih);
	if (!t || !dt || t->stopping)
		return;
	uint32_t added = 0;
	size_t first = 0;
	for (size_t i = 0; i < np; i++) {
		if (!bt_dhtnode_allowed(n, &p[i]) || is_us(n, &p[i]))
			continue;
		/* counted once an address (lookups repeat themselves) */
		const struct bt_abentry *ab = bt_addrbook_find(t->book, &p[i]);
		bool known = ab && (ab->src & BT_SRC_DHT);
		if (bt_torrent_add_peer(t, &p[i], BT_SRC_DHT) == 0 && !known &&
		    !added++)
			first = i;
	}
	dt->peers += added;
	n->st.peers += added;
	if (added && !dt->first_peer_logged) {
		dt->first_peer_logged = true;
		char s[BT_ADDR_STRLEN];
		bt_addr_str(&p[first], s, sizeof(s));
		pfs_log(PFS_LOG_INFO, "dht",
			"'%s': first peer from the DHT ('%s') %llu ms after "
			"its announce began",
			dt->name, s,
			(unsigned long long)(bt_now_ms() - dt->added));
	}
}

static void done_cb(void *arg, const struct bt_dht_search_result *r)
{
	struct bt_dhtnode *n = arg;
	if (r->kind != BT_DHT_GET_PEERS)
		return;
	n->st.lookups++;
	struct dtor *dt = tor_find(n, r->target);
	if (!dt)
		return;
	dt->lookups++;
	pfs_log(PFS_LOG_DEBUG, "dht",
		"'%s': lookup done in %llu ms: %u queries, %u replies, %u "
		"peers%s, %u announces",
		dt->name, (unsigned long long)r->ms, r->queries, r->replies,
		r->peers, r->announce ? " (announce)" : "", r->announced);
}

/* ---- I/O ---- */

static void input_cb(void *arg, const uint8_t *pkt, size_t len,
		     const struct bt_addr *from, uint64_t now)
{
	struct bt_dhtnode *n = arg;
	if (!n->running)
		return;
	n->st.received++;
	n->st.received_bytes += len;
	if (bt_dhtnode_allowed(n, from))
		bt_dht_input(n->d, pkt, len, from, now);
	arm_core(n, now);
}

static void core_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_dhtnode *n = arg;
	(void)fd;
	(void)what;
	uint64_t now = bt_now_ms();
	bt_dht_periodic(n->d, now);
	arm_core(n, now);
}

/* ---- bootstrap ---- */

static void add_contact(struct bt_dhtnode *n, const struct bt_addr *a,
			const char *what)
{
	char s[BT_ADDR_STRLEN];
	bt_addr_str(a, s, sizeof(s));
	if (!bt_dhtnode_allowed(n, a)) {
		pfs_log(PFS_LOG_INFO, "dht",
			"bootstrap '%s' (%s) not used: "
			"not a loopback address (P2PFS_LOOPBACK_ONLY)",
			s, what);
		return;
	}
	int err = bt_dht_add_bootstrap(n->d, a, bt_now_ms());
	if (err < 0)
		pfs_log(PFS_LOG_DEBUG, "dht", "bootstrap '%s' not used: %s", s,
			strerror(-err));
	else
		pfs_log(PFS_LOG_DEBUG, "dht", "bootstrap '%s' (%s)", s, what);
	arm_core(n, bt_now_ms());
}

static void resolved_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct resolving *r = arg;
	struct bt_dhtnode *n = r->n;
	r->done = true;
	if (n && result == 0) {
		for (struct evutil_addrinfo *p = ai; p; p = p->ai_next) {
			struct bt_addr a;
			if (bt_addr_from_sockaddr(&a, p->ai_addr,
						  (socklen_t)p->ai_addrlen) < 0)
				continue;
			a.port = r->port;
			if (!(n->families &
			      (a.family == BT_ADDR_V6 ? BT_DHT_V6 : BT_DHT_V4)))
				continue;
			add_contact(n, &a, r->name);
		}
	} else if (n && result != EVUTIL_EAI_CANCEL) {
		pfs_log(PFS_LOG_INFO, "dht", "cannot resolve '%s': %s", r->name,
			evutil_gai_strerror(result));
	}
	if (ai)
		evutil_freeaddrinfo(ai);
	if (n)
		for (int i = 0; i < MAX_RESOLVING; i++)
			if (n->res[i] == r)
				n->res[i] = NULL;
	if (r->req || !n)
		free(r); /* else bootstrap() frees it when the call returns */
}

/* HOST:PORT or [HOST]:PORT, a numeric one at once, a name on the
 * engine's resolver. */
static void bootstrap(struct bt_dhtnode *n, const char *arg)
{
	struct bt_addr a;
	if (bt_addr_parse(arg, &a) == 0) {
		add_contact(n, &a, arg);
		return;
	}
	char host[256];
	uint16_t port = 0;
	int bad = bt_addr_split_host(arg, host, sizeof(host), &port);
	struct evdns_base *dns = bt_engine_dns(n->e);
	int slot = -1;
	for (int i = 0; i < MAX_RESOLVING && slot < 0; i++)
		if (!n->res[i])
			slot = i;
	if (bad || !dns || slot < 0) {
		pfs_log(PFS_LOG_INFO, "dht", "bootstrap '%s' not used", arg);
		return;
	}
	struct resolving *r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->n = n;
	r->port = port;
	snprintf(r->name, sizeof(r->name), "%s", host);
	n->res[slot] = r;
	struct evutil_addrinfo hints = {.ai_socktype = SOCK_DGRAM};
	struct evdns_getaddrinfo_request *req =
	    evdns_getaddrinfo(dns, r->name, NULL, &hints, resolved_cb, r);
	if (r->done) {
		free(r); /* answered within the call (resolved_cb kept it) */
		return;
	}
	r->req = req;
}

static void add_routers(struct bt_dhtnode *n, const char *why)
{
	if (n->routers_added)
		return;
	n->routers_added = true;
	if (n->loopback_only) {
		pfs_log(PFS_LOG_INFO, "dht", "%s; no public router used%s", why,
			n->loopback_only ? " (P2PFS_LOOPBACK_ONLY)" : "");
		return;
	}
	pfs_log(PFS_LOG_INFO, "dht",
		"%s: bootstrapping from the public "
		"routers",
		why);
	for (size_t i = 0; i < sizeof(routers) / sizeof(routers[0]); i++)
		bootstrap(n, routers[i]);
}

/* ---- the saved state ---- */

static void state_paths(struct bt_dhtnode *n, char *lock, size_t len)
{
	snprintf(n->state_path, sizeof(n->state_path), "%s/%s", n->state_dir,
		 BT_DHTNODE_STATE_FILE);
	snprintf(lock, len, "%s/dht.lock", n->state_dir);
}

/* Read the saved state into *BUF (malloc'd); 0 bytes when there is none. */
static size_t state_read(struct bt_dhtnode *n, uint8_t **buf)
{
	*buf = NULL;
	int fd = open(n->state_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint8_t *b = malloc(STATE_MAX);
	size_t len = 0;
	ssize_t r;
	while (b && len < STATE_MAX &&
	       (r = read(fd, b + len, STATE_MAX - len)) > 0)
		len += (size_t)r;
	close(fd);
	if (!b || !len || len == STATE_MAX) {
		if (b && len)
			pfs_log(PFS_LOG_WARN, "dht", "ignoring '%s': too big",
				n->state_path);
		free(b);
		return 0;
	}
	*buf = b;
	return len;
}

static void state_save(struct bt_dhtnode *n)
{
	if (!n->own_state || !n->d)
		return;
	struct bt_benc b;
	bt_benc_init(&b);
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", n->state_path, (long)getpid());
	int fd = -1, err = 0;
	if ((err = bt_dht_save(n->d, &b, bt_now_ms())) < 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	size_t off = 0;
	while (off < b.len) {
		ssize_t w = write(fd, b.buf + off, b.len - off);
		if (w < 0) {
			err = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		err = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, n->state_path) < 0)
		err = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (err < 0) {
		unlink(tmp);
		pfs_log(PFS_LOG_WARN, "dht",
			"cannot save the DHT state to "
			"'%s': %s",
			n->state_path, strerror(-err));
	}
	bt_benc_release(&b);
}

/* ---- the torrents ---- */

static bool wanted(const struct bt_torrent *t)
{
	return !t->removing && !t->stopping && !bt_torrent_private(t);
}

static void tor_drop(struct bt_dhtnode *n, size_t i)
{
	bt_dht_unannounce(n->d, n->tors[i].ih);
	pfs_log(PFS_LOG_DEBUG, "dht", "'%s': no longer announced",
		n->tors[i].name);
	n->tors[i] = n->tors[--n->ntors];
}

/* A get_peers lookup of IH in every family. */
static void lookup(struct bt_dhtnode *n, const uint8_t ih[20], uint64_t now)
{
	for (int f = BT_DHT_V4; f <= BT_DHT_V6; f <<= 1)
		if (n->families & (unsigned)f)
			bt_dht_search(n->d, ih, BT_DHT_GET_PEERS, f, now);
}

static void tick_arm(struct bt_dhtnode *n, uint64_t now)
{
	uint64_t at = n->next_save;
	for (size_t i = 0; i < n->ntors; i++)
		if (n->tors[i].next_lookup < at)
			at = n->tors[i].next_lookup;
	if (!n->routers_added && n->started + BT_DHTNODE_ROUTER_AFTER_MS < at)
		at = n->started + BT_DHTNODE_ROUTER_AFTER_MS;
	arm_at(n->tick_ev, at, now);
}

void bt_dhtnode_sync(struct bt_dhtnode *n)
{
	if (!n || !n->running)
		return;
	struct bt_engine *e = n->e;
	uint64_t now = bt_now_ms();
	for (size_t i = 0; i < n->ntors;) {
		struct bt_torrent *t = bt_engine_find(e, n->tors[i].ih);
		if (!t || !wanted(t))
			tor_drop(n, i);
		else
			i++;
	}
	for (struct bt_torrent *t = e->torrents; t; t = t->next) {
		if (!wanted(t) || tor_find(n, t->info_hash))
			continue;
		struct dtor *v = realloc(n->tors, (n->ntors + 1) * sizeof(*v));
		if (!v)
			return;
		n->tors = v;
		int err = bt_dht_announce(n->d, t->info_hash, bt_engine_port(e),
					  0, now);
		if (err < 0) {
			pfs_log(PFS_LOG_WARN, "dht",
				"'%s' is not announced: %s", t->name,
				strerror(-err));
			continue;
		}
		struct dtor *dt = &n->tors[n->ntors++];
		memset(dt, 0, sizeof(*dt));
		memcpy(dt->ih, t->info_hash, 20);
		snprintf(dt->name, sizeof(dt->name), "%s", t->name);
		dt->added = now;
		dt->backoff = LOOKUP_FIRST_MS;
		dt->next_lookup = now + dt->backoff;
		/* the announce waits for the bootstrap to fill the table; a
		 * lookup now (from the bootstrap contacts if need be) finds
		 * the first peers at once */
		lookup(n, dt->ih, now);
		pfs_log(PFS_LOG_DEBUG, "dht", "'%s': announced on port %u",
			dt->name, bt_engine_port(e));
	}
	arm_core(n, now);
	tick_arm(n, now);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_dhtnode *n = arg;
	(void)fd;
	(void)what;
	uint64_t now = bt_now_ms();
	if (!n->routers_added &&
	    now >= n->started + BT_DHTNODE_ROUTER_AFTER_MS) {
		unsigned good, total;
		bt_dht_node_count(n->d, &good, &total, now);
		if (!good)
			add_routers(n, "no DHT node answered yet");
		else
			n->routers_added = true; /* not needed */
	}
	for (size_t i = 0; i < n->ntors; i++) {
		struct dtor *dt = &n->tors[i];
		if (now < dt->next_lookup)
			continue;
		struct bt_torrent *t = bt_engine_find(n->e, dt->ih);
		struct bt_stats st = {0};
		if (t)
			bt_torrent_stats(t, &st);
		bool done = t && t->phase == BT_PHASE_DATA && t->mi &&
			    st.have == t->mi->npieces;
		if (t && !done && st.npeers < BT_DHTNODE_FEW_PEERS) {
			/* few peers: ask again, sooner than the re-announce */
			lookup(n, dt->ih, now);
			dt->backoff = dt->backoff * 2 > LOOKUP_MAX_MS
					  ? LOOKUP_MAX_MS
					  : dt->backoff * 2;
		} else {
			dt->backoff =
			    LOOKUP_MAX_MS; /* the 15-min announce does */
		}
		dt->next_lookup = now + dt->backoff;
	}
	if (now >= n->next_save) {
		state_save(n);
		n->next_save = now + BT_DHTNODE_SAVE_MS;
	}
	arm_core(n, now);
	tick_arm(n, now);
}

/* ---- lifetime ---- */

/* This machine's addresses, for is_us() on a socket bound to none. */
static void local_addrs(struct bt_dhtnode *n)
{
	struct ifaddrs *ifs;
	n->nlocal = 0;
	if (getifaddrs(&ifs) < 0)
		return;
	for (struct ifaddrs *i = ifs; i && n->nlocal < MAX_LOCAL;
	     i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		socklen_t len = i->ifa_addr->sa_family == AF_INET
				    ? sizeof(struct sockaddr_in)
				    : sizeof(struct sockaddr_in6);
		struct bt_addr a;
		if (bt_addr_from_sockaddr(&a, i->ifa_addr, len) == 0 &&
		    !bt_addr_is_loopback(&a))
			n->local[n->nlocal++] = a;
	}
	freeifaddrs(ifs);
}

struct bt_dhtnode *bt_dhtnode_new(struct bt_engine *e,
				  const struct bt_dhtnode_opts *o, int *err)
{
	struct bt_dhtnode *n = calloc(1, sizeof(*n));
	if (!n)
		goto fail;
	n->e = e;
	n->lock_fd = -1;
	n->loopback_only = o->loopback_only;
	n->lo_net = n->loopback_only &&
		    pfs_loopback_net(&n->lo_netaddr, &n->lo_bits);
	if (o->state_dir && !(n->state_dir = strdup(o->state_dir)))
		goto fail;
	size_t nb = o->nbootstrap < BT_DHTNODE_MAX_BOOTSTRAP
			? o->nbootstrap
			: BT_DHTNODE_MAX_BOOTSTRAP;
	if (nb && !(n->boot = calloc(nb, sizeof(*n->boot))))
		goto fail;
	for (size_t i = 0; i < nb; i++)
		if (!(n->boot[n->nboot++] = strdup(o->bootstrap[i])))
			goto fail;
	return n;
fail:
	bt_dhtnode_free(n);
	if (err)
		*err = -ENOMEM;
	return NULL;
}

int bt_dhtnode_start(struct bt_dhtnode *n)
{
	struct bt_engine *e = n->e;
	int err = -ENOMEM;
	if (n->running)
		return 0;
	uint8_t *state = NULL;
	size_t state_len = 0;
	char lock[4200];
	if (n->state_dir) {
		state_paths(n, lock, sizeof(lock));
		mkdir(n->state_dir, 0700); /* the cache root, if new */
		n->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		n->own_state = n->lock_fd >= 0 &&
			       flock(n->lock_fd, LOCK_EX | LOCK_NB) == 0;
		if (n->lock_fd < 0)
			pfs_log(PFS_LOG_WARN, "dht",
				"the DHT state is not kept in '%s': %s",
				n->state_dir, strerror(errno));
		else if (!n->own_state)
			pfs_log(PFS_LOG_INFO, "dht",
				"the DHT identity in '%s' "
				"is in use by another p2pfs: using its nodes "
				"under a new id",
				n->state_dir);
		state_len = state_read(n, &state);
	}
	/* one family where the socket is bound to one address, both on a
	 * dual-stack socket */
	if (!e->bind_ip)
		local_addrs(n);
	n->families = !e->bind_ip		? BT_DHT_V4 | BT_DHT_V6
		      : strchr(e->bind_ip, ':') ? BT_DHT_V6
						: BT_DHT_V4;
	struct bt_dht_opts o = {
	    .families = n->families,
	    .send = send_cb,
	    .on_peers = peers_cb,
	    .on_done = done_cb,
	    .arg = n,
	    .version = {'P', '2', 0, 1},
	    .state = state,
	    .state_len = state_len,
	    .allow = allow_cb,
	    .state_nodes_only = !n->own_state,
	};
	if ((err = pfs_random(&o.seed, sizeof(o.seed))) < 0)
		goto out;
	err = -ENOMEM;
	if (!(n->d = bt_dht_new(&o, &err)))
		goto out;
	n->ev = evtimer_new(bt_engine_base(e), core_cb, n);
	n->tick_ev = evtimer_new(bt_engine_base(e), tick_cb, n);
	if (!n->ev || !n->tick_ev)
		goto out;
	struct bt_dht_stats ds;
	uint64_t now = bt_now_ms();
	bt_dht_stats(n->d, &ds, now);
	n->st.state_loaded = ds.state_loaded;
	if (state_len && !ds.state_loaded)
		pfs_log(PFS_LOG_WARN, "dht",
			"ignoring '%s': not a DHT state "
			"file",
			n->state_path);
	bt_udp_set_handler(bt_engine_udp(e), BT_UDP_DHT, input_cb, n);
	n->running = true;
	n->started = now;
	n->next_save = now + BT_DHTNODE_SAVE_MS;
	char hex[41];
	pfs_hex(ds.id, 20, hex);
	char net[BT_ADDR_STRLEN + 16] = "";
	if (n->lo_net) {
		bt_addr_str(&n->lo_netaddr, net, sizeof(net));
		*strrchr(net, ':') = '\0'; /* no port */
		snprintf(net + strlen(net), sizeof(net) - strlen(net), "/%u",
			 n->lo_bits);
	}
	pfs_log(PFS_LOG_INFO, "dht",
		"node %s on UDP port %u: %s saved "
		"state, %zu bootstrap node%s%s%s%s",
		hex, bt_engine_port(e), ds.state_loaded ? "a" : "no", n->nboot,
		n->nboot == 1 ? "" : "s",
		n->loopback_only ? ", loopback only" : "",
		n->lo_net ? " and P2PFS_LOOPBACK_NET " : "", net);
	for (size_t i = 0; i < n->nboot; i++)
		bootstrap(n, n->boot[i]);
	if (!n->nboot && !ds.state_loaded)
		add_routers(n, "no saved DHT node and no --dht-bootstrap");
	arm_core(n, now);
	tick_arm(n, now);
	err = 0;
out:
	free(state);
	if (err < 0) {
		pfs_log(PFS_LOG_WARN, "dht", "no DHT: %s", strerror(-err));
		bt_dht_free(n->d);
		n->d = NULL;
	}
	return err;
}

void bt_dhtnode_stop(struct bt_dhtnode *n)
{
	if (!n || !n->running)
		return;
	state_save(n);
	bt_udp_set_handler(bt_engine_udp(n->e), BT_UDP_DHT, NULL, NULL);
	for (int i = 0; i < MAX_RESOLVING; i++) {
		struct resolving *r = n->res[i];
		if (!r)
			continue;
		n->res[i] = NULL;
		r->n = NULL; /* its callback frees it */
		if (r->req)
			evdns_getaddrinfo_cancel(r->req);
	}
	if (n->ev)
		event_del(n->ev);
	if (n->tick_ev)
		event_del(n->tick_ev);
	struct bt_dht_stats ds;
	bt_dht_stats(n->d, &ds, bt_now_ms());
	pfs_log(PFS_LOG_INFO, "dht",
		"stopped: %llu datagrams (%llu bytes) sent, %llu of them "
		"answers; %llu (%llu bytes) received; %llu lookups, %llu "
		"peers",
		(unsigned long long)n->st.sent,
		(unsigned long long)n->st.sent_bytes,
		(unsigned long long)ds.queries_in,
		(unsigned long long)n->st.received,
		(unsigned long long)n->st.received_bytes,
		(unsigned long long)n->st.lookups,
		(unsigned long long)n->st.peers);
	n->running = false;
}

void bt_dhtnode_free(struct bt_dhtnode *n)
{
	if (!n)
		return;
	if (n->ev)
		event_free(n->ev);
	if (n->tick_ev)
		event_free(n->tick_ev);
	bt_dht_free(n->d);
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	for (size_t i = 0; i < n->nboot; i++)
		free(n->boot[i]);
	free(n->boot);
	free(n->tors);
	free(n->state_dir);
	free(n);
}

bool bt_dhtnode_running(const struct bt_dhtnode *n)
{
	return n && n->running;
}

void bt_dhtnode_port(struct bt_dhtnode *n, const struct bt_addr *a)
{
	if (!n || !n->running || !bt_dhtnode_allowed(n, a))
		return;
	uint64_t now = bt_now_ms();
	char s[BT_ADDR_STRLEN];
	bt_addr_str(a, s, sizeof(s));
	int err = bt_dht_ping(n->d, a, now);
	pfs_log(PFS_LOG_DEBUG, "dht", "a peer's PORT message: pinging '%s'%s%s",
		s, err ? ": " : "", err ? strerror(-err) : "");
	arm_core(n, now);
}

void bt_dhtnode_stats(const struct bt_dhtnode *n, struct bt_dhtnode_stats *s)
{
	*s = n->st;
	if (n->d)
		bt_dht_node_count(n->d, &s->good, &s->total, bt_now_ms());
}

bool bt_dhtnode_source(struct bt_dhtnode *n, const uint8_t ih[20],
		       struct bt_source_info *o)
{
	if (!n || !n->running)
		return false;
	struct dtor *dt = tor_find(n, ih);
	if (!dt)
		return false;
	unsigned good = 0, total = 0;
	bt_dht_node_count(n->d, &good, &total, bt_now_ms());
	memset(o, 0, sizeof(*o));
	o->kind = BT_SOURCE_DHT;
	snprintf(o->name, sizeof(o->name), "DHT");
	o->state = good	   ? BT_SOURCE_OK
		   : total ? BT_SOURCE_BUSY
			   : BT_SOURCE_IDLE;
	o->peers = dt->peers;
	o->nodes = good;
	o->nodes_total = total;
	o->lookups = dt->lookups;
	return true;
}
