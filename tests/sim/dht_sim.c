/* dht_sim — a simulated DHT network in one process; see dht_sim.h. */
#include "dht_sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_krpc.h"

enum ev_type { EV_DELIVER, EV_TIMER, EV_JOIN, EV_HOSTILE };

struct sim_ev {
	uint64_t t, seq;
	uint8_t type;
	unsigned node; /* the receiver */
	struct bt_addr from;
	uint8_t *buf;
	size_t len;
};

uint64_t sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rand_bytes(struct sim *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)sim_rand(s);
}

static bool ev_less(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void ev_push(struct sim *s, struct sim_ev e)
{
	if (s->nev == s->capev) {
		s->capev = s->capev ? s->capev * 2 : 1024;
		s->ev = realloc(s->ev, s->capev * sizeof(*s->ev));
		if (!s->ev)
			abort();
	}
	e.seq = s->seq++;
	size_t i = s->nev++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!ev_less(&e, &s->ev[p]))
			break;
		s->ev[i] = s->ev[p];
		i = p;
	}
	s->ev[i] = e;
}

static struct sim_ev ev_pop(struct sim *s)
{
	struct sim_ev top = s->ev[0], last = s->ev[--s->nev];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nev)
			break;
		if (c + 1 < s->nev && ev_less(&s->ev[c + 1], &s->ev[c]))
			c++;
		if (!ev_less(&s->ev[c], &last))
			break;
		s->ev[i] = s->ev[c];
		i = c;
	}
	if (s->nev)
		s->ev[i] = last;
	return top;
}

/* Node i lives at 10.(i>>16).(i>>8).(i) port 6881; 10.250.x.y is nowhere. */
static void addr_of(unsigned i, struct bt_addr *a)
{
	uint8_t ip[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
	bt_addr_set(a, ip, 4, 6881);
}

static int node_at(const struct sim *s, const struct bt_addr *a)
{
	if (a->family != BT_ADDR_V4 || a->ip[0] != 10 || a->port != 6881)
		return -1;
	unsigned i =
	    (unsigned)a->ip[1] << 16 | (unsigned)a->ip[2] << 8 | a->ip[3];
	return i < s->n ? (int)i : -1;
}

static void arm(struct sim_node *n)
{
	if (!n->dht || n->dead)
		return;
	uint64_t t = bt_dht_deadline(n->dht);
	if (t < n->sim->now)
		t = n->sim->now;
	if (t < n->timer) {
		n->timer = t;
		ev_push(n->sim, (struct sim_ev){
				    .t = t, .type = EV_TIMER, .node = n->idx});
	}
}

static void net_send(struct sim *s, const struct sim_node *from,
		     const struct bt_addr *to, const uint8_t *buf, size_t len)
{
	s->sent++;
	s->bytes += len;
	if ((double)(sim_rand(s) % 1000000) < s->cfg.loss * 1000000.0) {
		s->lost++;
		return;
	}
	int dst = node_at(s, to);
	if (dst < 0) {
		s->to_nowhere++;
		return;
	}
	struct sim_ev e = {.type = EV_DELIVER,
			   .node = (unsigned)dst,
			   .from = from->addr,
			   .len = len};
	e.t = s->now + from->lat + s->nodes[dst].lat +
	      (s->cfg.jitter ? sim_rand(s) % (s->cfg.jitter + 1) : 0);
	e.buf = malloc(len ? len : 1);
	if (!e.buf)
		abort();
	memcpy(e.buf, buf, len);
	ev_push(s, e);
}

/* ---- honest nodes: the callbacks of their bt_dht ------------------------ */

static void cb_send(void *arg, const struct bt_addr *to, const uint8_t *buf,
		    size_t len)
{
	struct sim_node *n = arg;
	net_send(n->sim, n, to, buf, len);
}

static void cb_peers(void *arg, const uint8_t ih[20],
		     const struct bt_addr *peers, size_t np)
{
	struct sim_node *n = arg;
	struct sim *s = n->sim;
	for (size_t i = 0; i < np; i++) {
		if (s->npeers >= 200000) {
			s->peers_dropped++;
			continue;
		}
		if (s->npeers == s->cappeers) {
			s->cappeers = s->cappeers ? s->cappeers * 2 : 256;
			s->peers =
			    realloc(s->peers, s->cappeers * sizeof(*s->peers));
			if (!s->peers)
				abort();
		}
		struct sim_peer_seen *p = &s->peers[s->npeers++];
		p->node = n->idx;
		memcpy(p->ih, ih, 20);
		p->peer = peers[i];
	}
}

static void cb_done(void *arg, const struct bt_dht_search_result *r)
{
	struct sim_node *n = arg;
	struct sim *s = n->sim;
	if (s->nlookups == s->caplookups) {
		s->caplookups = s->caplookups ? s->caplookups * 2 : 64;
		s->lookups =
		    realloc(s->lookups, s->caplookups * sizeof(*s->lookups));
		if (!s->lookups)
			abort();
	}
	s->lookups[s->nlookups].node = n->idx;
	s->lookups[s->nlookups].r = *r;
	s->nlookups++;
}

/* ---- hostile nodes ------------------------------------------------------ */

static void hostile_send(struct sim *s, struct sim_node *n,
			 const struct bt_addr *to, const struct bt_krpc_msg *m)
{
	struct bt_benc b;
	bt_benc_init(&b);
	if (bt_krpc_encode(m, &b) == 0)
		net_send(s, n, to, b.buf, b.len);
	bt_benc_release(&b);
}

/* Fake nodes that look closer to TARGET than anyone real. */
static void fake_close_nodes(struct sim *s, struct sim_node *n,
			     const uint8_t *target, struct bt_krpc_msg *r)
{
	r->n_nodes = BT_DHT_K;
	for (int i = 0; i < BT_DHT_K; i++) {
		struct bt_krpc_node *x = &r->nodes[i];
		memcpy(x->id, target, 20);
		rand_bytes(s, x->id + 12, 8); /* 96 bits in common */
		if (n->kind == SIM_LIAR_REDIRECT) {
			addr_of((unsigned)(sim_rand(s) % s->n), &x->addr);
		} else {
			uint8_t ip[4] = {10, 250, (uint8_t)sim_rand(s),
					 (uint8_t)sim_rand(s)};
			bt_addr_set(&x->addr, ip, 4,
				    (uint16_t)(1024 + sim_rand(s) % 60000));
		}
	}
}

static void hostile_reply(struct sim *s, struct sim_node *n, const uint8_t *buf,
			  size_t len, const struct bt_addr *from)
{
	struct bt_krpc_msg *q = calloc(1, sizeof(*q));
	struct bt_krpc_msg *r = calloc(1, sizeof(*r));
	if (!q || !r)
		abort();
	if (bt_krpc_parse(buf, len, q) != 0 || q->type != BT_KRPC_QUERY)
		goto out;
	if (n->kind == SIM_GARBAGE) {
		uint8_t junk[64];
		rand_bytes(s, junk, sizeof(junk));
		junk[0] = 'd';
		net_send(s, n, from, junk, 1 + sim_rand(s) % sizeof(junk));
		goto out;
	}
	if (n->kind == SIM_FLOODER)
		goto out; /* it only talks */
	r->type = BT_KRPC_RESPONSE;
	memcpy(r->tid, q->tid, q->tid_len);
	r->tid_len = q->tid_len;
	memcpy(r->id, n->id, 20);
	r->has_id = true;
	if (q->method == BT_KRPC_FIND_NODE || q->method == BT_KRPC_GET_PEERS) {
		if (n->kind == SIM_PEER_FLOODER) {
			/* real-looking nodes: its own neighbours */
			r->n_nodes = 0;
		} else {
			fake_close_nodes(s, n, q->target, r);
		}
	}
	if (q->method == BT_KRPC_GET_PEERS) {
		r->token_len = 4;
		rand_bytes(s, r->token, 4);
		r->has_values = true;
		if (n->kind == SIM_PEER_FLOODER) {
			/* thousands of fake peers: encoded by hand, since the
			 * codec's own struct is capped */
			struct bt_benc b;
			bt_benc_init(&b);
			bt_benc_dict_begin(&b);
			bt_benc_cstr(&b, "r");
			bt_benc_dict_begin(&b);
			bt_benc_cstr(&b, "id");
			bt_benc_str(&b, n->id, 20);
			bt_benc_cstr(&b, "token");
			bt_benc_str(&b, "abcd", 4);
			bt_benc_cstr(&b, "values");
			bt_benc_list_begin(&b);
			for (int i = 0; i < 3000; i++) {
				uint8_t c[6] = {
				    10,		251,  (uint8_t)(i >> 8),
				    (uint8_t)i, 0x1a, 0xe1};
				bt_benc_str(&b, c, 6);
			}
			bt_benc_end(&b);
			bt_benc_end(&b);
			bt_benc_cstr(&b, "t");
			bt_benc_str(&b, q->tid, q->tid_len);
			bt_benc_cstr(&b, "y");
			bt_benc_cstr(&b, "r");
			bt_benc_end(&b);
			if (!b.err)
				net_send(s, n, from, b.buf, b.len);
			bt_benc_release(&b);
			goto out;
		}
		/* and fake peers */
		r->n_values = 20;
		for (int i = 0; i < 20; i++) {
			uint8_t ip[4] = {10, 252, (uint8_t)sim_rand(s),
					 (uint8_t)sim_rand(s)};
			bt_addr_set(&r->values[i], ip, 4, 6881);
		}
	}
	hostile_send(s, n, from, r);
out:
	free(q);
	free(r);
}

/* A flooder's or garbage node's burst, every 10 ms. */
static void hostile_act(struct sim *s, struct sim_node *n)
{
	if (n->kind == SIM_FLOODER) {
		struct bt_krpc_msg *q = calloc(1, sizeof(*q));
		if (!q)
			abort();
		for (unsigned k = 0; k < s->cfg.flood_per_ms; k++) {
			unsigned v =
			    (unsigned)(sim_rand(s) % (s->cfg.flood_victims
							  ? s->cfg.flood_victims
							  : 1));
			struct bt_addr to;
			addr_of(v, &to);
			memset(q, 0, sizeof(*q));
			q->type = BT_KRPC_QUERY;
			q->tid_len = 2;
			rand_bytes(s, q->tid, 2);
			memcpy(q->id, n->id, 20);
			q->has_id = true;
			rand_bytes(s, q->target, 20);
			switch (sim_rand(s) % 3) {
			case 0:
				q->method = BT_KRPC_GET_PEERS;
				break;
			case 1:
				q->method = BT_KRPC_FIND_NODE;
				break;
			default:
				/* a wrong token */
				q->method = BT_KRPC_ANNOUNCE_PEER;
				q->port = 6881;
				q->token_len = 8;
				rand_bytes(s, q->token, 8);
				break;
			}
			hostile_send(s, n, &to, q);
		}
		free(q);
	} else if (n->kind == SIM_GARBAGE) {
		uint8_t junk[200];
		struct bt_addr to;
		addr_of((unsigned)(sim_rand(s) % s->n), &to);
		size_t len = 1 + sim_rand(s) % sizeof(junk);
		rand_bytes(s, junk, len);
		junk[0] = 'd';
		net_send(s, n, &to, junk, len);
	}
	ev_push(s, (struct sim_ev){
		       .t = s->now + 10, .type = EV_HOSTILE, .node = n->idx});
}

/* ---- the simulation ----------------------------------------------------- */

static void join(struct sim *s, struct sim_node *n)
{
	n->joined = true;
	/* bootstrap: three nodes that joined before (node 0 has none) */
	unsigned contacts[3], nc = 0;
	for (int k = 0; k < 3 && n->idx > 0; k++)
		contacts[nc++] = (unsigned)(sim_rand(s) % n->idx);
	if (n->kind == SIM_HONEST || n->kind == SIM_SILENT) {
		struct bt_dht_opts o = {
		    .seed = sim_rand(s),
		    .has_id = true,
		    .send = cb_send,
		    .on_peers = cb_peers,
		    .on_done = cb_done,
		    .arg = n,
		    .version = {'S', 'M', 0, 1},
		};
		memcpy(o.id, n->id, 20);
		int err = 0;
		n->dht = bt_dht_new(&o, &err);
		if (!n->dht)
			abort();
		for (unsigned k = 0; k < nc; k++) {
			struct bt_addr a;
			addr_of(contacts[k], &a);
			bt_dht_add_bootstrap(n->dht, &a, s->now);
		}
		bt_dht_periodic(n->dht, s->now);
		arm(n);
		return;
	}
	/* hostile nodes make themselves known with a find_node */
	struct bt_krpc_msg *q = calloc(1, sizeof(*q));
	if (!q)
		abort();
	q->type = BT_KRPC_QUERY;
	q->method = BT_KRPC_FIND_NODE;
	q->tid_len = 2;
	memcpy(q->id, n->id, 20);
	q->has_id = true;
	memcpy(q->target, n->id, 20);
	for (unsigned k = 0; k < nc; k++) {
		struct bt_addr a;
		addr_of(contacts[k], &a);
		hostile_send(s, n, &a, q);
	}
	free(q);
	if (n->kind == SIM_FLOODER || n->kind == SIM_GARBAGE)
		ev_push(s, (struct sim_ev){.t = s->now + 10,
					   .type = EV_HOSTILE,
					   .node = n->idx});
}

struct sim *sim_new(const struct sim_cfg *cfg)
{
	struct sim *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->cfg = *cfg;
	s->rng = cfg->seed ^ 0x2545f4914f6cdd1dull;
	s->n = cfg->n;
	s->nodes = calloc(s->n, sizeof(*s->nodes));
	if (!s->nodes)
		abort();
	/* hostile kinds spread over the indices (never node 0, the first
	 * bootstrap) */
	for (unsigned i = 0; i < s->n; i++) {
		struct sim_node *n = &s->nodes[i];
		n->sim = s;
		n->idx = i;
		n->timer = UINT64_MAX;
		addr_of(i, &n->addr);
		rand_bytes(s, n->id, 20);
		unsigned span = cfg->lat_max > cfg->lat_min
				    ? cfg->lat_max - cfg->lat_min
				    : 0;
		n->lat = cfg->lat_min +
			 (span ? (unsigned)(sim_rand(s) % (span + 1)) : 0);
	}
	for (int k = 1; k < SIM_KINDS; k++)
		for (unsigned c = 0; c < cfg->count[k]; c++) {
			for (int tries = 0; tries < 1000; tries++) {
				unsigned i =
				    1 + (unsigned)(sim_rand(s) % (s->n - 1));
				/* keep the flood victims honest */
				if (i < cfg->flood_victims + 1 ||
				    s->nodes[i].kind != SIM_HONEST)
					continue;
				s->nodes[i].kind = k;
				break;
			}
		}
	for (unsigned i = 0; i < s->n; i++)
		ev_push(s, (struct sim_ev){.t = (uint64_t)i * cfg->join_ms,
					   .type = EV_JOIN,
					   .node = i});
	return s;
}

void sim_free(struct sim *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++)
		bt_dht_free(s->nodes[i].dht);
	for (size_t i = 0; i < s->nev; i++)
		free(s->ev[i].buf);
	free(s->ev);
	free(s->nodes);
	free(s->lookups);
	free(s->peers);
	free(s);
}

static void kill_silent(struct sim *s)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->nodes[i].kind == SIM_SILENT)
			s->nodes[i].dead = true;
}

void sim_run_until(struct sim *s, uint64_t t)
{
	while (s->nev && s->ev[0].t <= t) {
		struct sim_ev e = ev_pop(s);
		if (s->cfg.silent_at && s->now < s->cfg.silent_at &&
		    e.t >= s->cfg.silent_at)
			kill_silent(s);
		s->now = e.t;
		struct sim_node *n = &s->nodes[e.node];
		switch (e.type) {
		case EV_JOIN:
			join(s, n);
			break;
		case EV_TIMER:
			if (n->dead || !n->dht || e.t != n->timer)
				break;
			n->timer = UINT64_MAX;
			bt_dht_periodic(n->dht, s->now);
			arm(n);
			break;
		case EV_DELIVER:
			if (!n->joined || n->dead)
				break;
			s->delivered++;
			if (n->dht) {
				bt_dht_input(n->dht, e.buf, e.len, &e.from,
					     s->now);
				arm(n);
			} else if (n->kind != SIM_SILENT) {
				hostile_reply(s, n, e.buf, e.len, &e.from);
			}
			break;
		case EV_HOSTILE:
			hostile_act(s, n);
			break;
		}
		free(e.buf);
	}
	if (s->now < t) {
		if (s->cfg.silent_at && s->now < s->cfg.silent_at &&
		    t >= s->cfg.silent_at)
			kill_silent(s);
		s->now = t;
	}
}

const struct sim_lookup *sim_wait_lookup(struct sim *s, unsigned node, int id,
					 uint64_t t)
{
	for (;;) {
		for (size_t i = s->nlookups; i-- > 0;)
			if (s->lookups[i].node == node &&
			    s->lookups[i].r.id == id)
				return &s->lookups[i];
		if (s->now >= t || !s->nev)
			return NULL;
		uint64_t next = s->ev[0].t;
		sim_run_until(s, next < t ? next : t);
	}
}

void sim_arm(struct sim *s, unsigned node)
{
	arm(&s->nodes[node]);
}

unsigned sim_random_honest(struct sim *s)
{
	for (;;) {
		unsigned i = (unsigned)(sim_rand(s) % s->n);
		const struct sim_node *n = &s->nodes[i];
		if (n->kind == SIM_HONEST && n->joined && n->dht && !n->dead)
			return i;
	}
}

static int cmp_dist(const uint8_t *t, const uint8_t *a, const uint8_t *b)
{
	for (int i = 0; i < 20; i++) {
		uint8_t x = a[i] ^ t[i], y = b[i] ^ t[i];
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

size_t sim_true_closest(const struct sim *s, const uint8_t *target,
			uint8_t out[][20], size_t k)
{
	size_t n = 0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct sim_node *x = &s->nodes[i];
		if (!x->joined || x->dead || x->kind != SIM_HONEST)
			continue;
		size_t pos = n;
		while (pos > 0 && cmp_dist(target, x->id, out[pos - 1]) < 0)
			pos--;
		if (pos >= k)
			continue;
		size_t last = n < k ? n : k - 1;
		memmove(&out[pos + 1], &out[pos], (last - pos) * 20);
		memcpy(out[pos], x->id, 20);
		if (n < k)
			n++;
	}
	return n;
}

static bool honest_id(const struct sim *s, const uint8_t *id)
{
	for (unsigned k = 0; k < s->n; k++)
		if (!memcmp(s->nodes[k].id, id, 20))
			return s->nodes[k].kind == SIM_HONEST ||
			       s->nodes[k].kind == SIM_SILENT;
	return false;
}

void sim_score(const struct sim *s, const struct bt_dht_search_result *r,
	       unsigned *hit, unsigned *wanted)
{
	uint8_t truth[BT_DHT_K][20];
	size_t nt = sim_true_closest(s, r->target, truth, BT_DHT_K);
	size_t others = 0;
	for (size_t j = 0; j < r->n_nodes; j++)
		others += !honest_id(s, r->nodes[j].id);
	nt = nt > others ? nt - others : 0;
	*hit = 0;
	for (size_t i = 0; i < nt; i++)
		for (size_t j = 0; j < r->n_nodes; j++)
			if (!memcmp(truth[i], r->nodes[j].id, 20)) {
				(*hit)++;
				break;
			}
	*wanted = (unsigned)nt;
}

void sim_hostile_cfg(struct sim_cfg *c, unsigned n, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->seed = seed;
	c->loss = 0.05;
	c->lat_min = 5;
	c->lat_max = 80;
	c->jitter = 10;
	c->join_ms = 20;
	c->flood_victims = 5;
	c->flood_per_ms = 5;
	c->count[SIM_SILENT] = n / 10;
	c->count[SIM_LIAR_HOLE] = n / 33;
	c->count[SIM_LIAR_REDIRECT] = n / 33;
	c->count[SIM_GARBAGE] = n / 100;
	c->count[SIM_FLOODER] = n / 200;
	c->count[SIM_PEER_FLOODER] = n / 100;
	c->silent_at = (uint64_t)n * c->join_ms + 60000;
}

void sim_clean_cfg(struct sim_cfg *c, unsigned n, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->seed = seed;
	c->loss = 0.01;
	c->lat_min = 5;
	c->lat_max = 50;
	c->jitter = 5;
	c->join_ms = 20;
}
