/* The DHT in a simulated network of 1,000 nodes in one process (see
 * tests/sim/dht_sim.h): lookups converge to the true closest nodes within
 * a few round trips, an announce is found by get_peers from another node,
 * and the same holds with packet loss, silent nodes, liars, garbage,
 * floods and a node answering thousands of fake peers, with every node's
 * memory bounded. Prints the figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_dht.h"
#include "dht_sim.h"

/* Under a sanitizer everything is ~10x slower: a smaller network, the same
 * checks. */
#if defined(__SANITIZE_ADDRESS__)
#define SIM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_SANITIZED 1
#endif
#endif
#ifdef SIM_SANITIZED
#define NODES 300
#else
#define NODES 1000
#endif
#define LOOKUPS	  60
#define ANNOUNCES 12

struct figures {
	unsigned lookups, exact, found, wanted;
	double hops, queries, replies, ms;
	unsigned max_hops;
	uint64_t max_ms;
};

/* How many of the true closest honest nodes a lookup found (see
 * sim_score). */
static void add_lookup(struct figures *f, const struct sim *s,
		       const struct sim_lookup *l)
{
	unsigned hit, nt;
	sim_score(s, &l->r, &hit, &nt);
	if (getenv("DHT_SIM_VERBOSE"))
		printf("  lookup %u: %u of %u, %llu ms, %u queries, %u "
		       "hops\n",
		       f->lookups, hit, nt, (unsigned long long)l->r.ms,
		       l->r.queries, l->r.hops);
	f->lookups++;
	f->found += hit;
	f->wanted += nt;
	f->exact += hit == nt;
	f->hops += l->r.hops;
	f->queries += l->r.queries;
	f->replies += l->r.replies;
	f->ms += (double)l->r.ms;
	if (l->r.hops > f->max_hops)
		f->max_hops = l->r.hops;
	if (l->r.ms > f->max_ms)
		f->max_ms = l->r.ms;
}

static void print_figures(const char *name, const struct figures *f)
{
	printf("dht-sim %s: %u lookups, %.1f%% of the true %d closest found "
	       "(%u exact), round trips %.2f avg / %u max, %.1f queries and "
	       "%.1f replies per lookup, %.0f ms avg / %llu ms max "
	       "(simulated)\n",
	       name, f->lookups, 100.0 * f->found / (f->wanted ? f->wanted : 1),
	       BT_DHT_K, f->exact, f->hops / f->lookups, f->max_hops,
	       f->queries / f->lookups, f->replies / f->lookups,
	       f->ms / f->lookups, (unsigned long long)f->max_ms);
}

/* Runs LOOKUPS find_node lookups from random honest nodes, a few at a time;
 * targets near NEAR (when not NULL) for every other one. */
static void run_lookups(struct sim *s, struct figures *f, unsigned n,
			const uint8_t (*near)[20], size_t nnear)
{
	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < n; i++) {
		uint8_t target[20];
		for (int k = 0; k < 20; k++)
			target[k] = (uint8_t)sim_rand(s);
		if (near && nnear && i % 2) {
			memcpy(target, near[(i / 2) % nnear], 20);
			target[19] ^= 1;
		}
		unsigned who = sim_random_honest(s);
		int id = bt_dht_search(s->nodes[who].dht, target,
				       BT_DHT_FIND_NODE, BT_DHT_V4, s->now);
		assert_true(id > 0);
		sim_arm(s, who);
		const struct sim_lookup *l =
		    sim_wait_lookup(s, who, id, s->now + 60000);
		assert_non_null(l);
		add_lookup(f, s, l);
	}
}

/* ANNOUNCES info-hashes, each announced by one node and looked up by
 * another; returns how many were found. */
static unsigned run_announces(struct sim *s, unsigned *max_peers)
{
	unsigned found = 0;
	*max_peers = 0;
	for (unsigned i = 0; i < ANNOUNCES; i++) {
		uint8_t ih[20];
		for (int k = 0; k < 20; k++)
			ih[k] = (uint8_t)sim_rand(s);
		unsigned a = sim_random_honest(s), b;
		do
			b = sim_random_honest(s);
		while (b == a);
		uint16_t port = (uint16_t)(20000 + i);
		assert_int_equal(
		    bt_dht_announce(s->nodes[a].dht, ih, port, 0, s->now), 0);
		sim_arm(s, a);
		/* the announce's lookup, then its announce_peer queries */
		uint64_t end = s->now + 60000;
		bool done = false;
		while (!done && s->now < end) {
			sim_run_until(s, s->now + 100);
			for (size_t k = 0; k < s->nlookups && !done; k++)
				done = s->lookups[k].node == a &&
				       s->lookups[k].r.announce &&
				       !memcmp(s->lookups[k].r.target, ih, 20);
		}
		if (!done) {
			struct bt_dht_stats st;
			bt_dht_stats(s->nodes[a].dht, &st, s->now);
			printf("announce %u by %u not done: good %u dubious %u "
			       "searches %u pending %u ann %u\n",
			       i, a, st.good[0], st.dubious[0], st.searches,
			       st.pending, st.announces);
		}
		assert_true(done);
		sim_run_until(s, s->now + 2000);
		size_t before = s->npeers;
		int id = bt_dht_search(s->nodes[b].dht, ih, BT_DHT_GET_PEERS,
				       BT_DHT_V4, s->now);
		assert_true(id > 0);
		sim_arm(s, b);
		const struct sim_lookup *l =
		    sim_wait_lookup(s, b, id, s->now + 60000);
		assert_non_null(l);
		if (l->r.peers > *max_peers)
			*max_peers = l->r.peers;
		bool hit = false;
		for (size_t k = before; k < s->npeers; k++) {
			const struct sim_peer_seen *p = &s->peers[k];
			if (p->node == b && !memcmp(p->ih, ih, 20) &&
			    bt_addr_same_ip(&p->peer, &s->nodes[a].addr) &&
			    p->peer.port == port)
				hit = true;
		}
		found += hit;
		bt_dht_unannounce(s->nodes[a].dht, ih);
	}
	return found;
}

/* Every honest node's state is within its bounds. */
static void check_bounds(struct sim *s, uint64_t *pending_max)
{
	*pending_max = 0;
	for (unsigned i = 0; i < s->n; i++) {
		struct sim_node *n = &s->nodes[i];
		if (!n->dht || n->dead)
			continue;
		struct bt_dht_stats st;
		bt_dht_stats(n->dht, &st, s->now);
		assert_true(st.buckets[0] <= 160);
		assert_true(st.good[0] + st.dubious[0] + st.bad[0] <=
			    st.buckets[0] * BT_DHT_K);
		assert_true(st.replacements[0] <= st.buckets[0] * BT_DHT_K);
		assert_true(st.store_hashes <= 1024);
		assert_true(st.pending <= 256);
		assert_true(st.searches <= 32);
		if (st.pending > *pending_max)
			*pending_max = st.pending;
	}
}

/* glibc's heap in use (0 under a sanitizer, which has its own heap). */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* The whole simulation (nodes, queued datagrams, what they reported) stays
 * within 256 KB a node, floods or not (not measurable under a sanitizer). */
static void check_heap(size_t heap0, unsigned n)
{
	size_t now = heap_used();
	if (now > heap0)
		assert_true((now - heap0) / n < 256 * 1024);
}

static struct sim *settle(const struct sim_cfg *cfg)
{
	struct sim *s = sim_new(cfg);
	sim_run_until(s, (uint64_t)cfg->n * cfg->join_ms + 120000);
	return s;
}

static void test_clean_network(void **state)
{
	(void)state;
	struct sim_cfg cfg;
	sim_clean_cfg(&cfg, NODES, 1);
	size_t heap0 = heap_used();
	struct sim *s = settle(&cfg);
	struct figures f;
	run_lookups(s, &f, LOOKUPS, NULL, 0);
	print_figures("clean", &f);
	/* converged: (nearly) all of the true closest, in few round trips */
	assert_true(f.found * 100 >= f.wanted * 95);
	assert_true(f.hops / f.lookups <= 8.0);
	unsigned maxp;
	unsigned found = run_announces(s, &maxp);
	printf("dht-sim clean: %u of %d announces found by get_peers from "
	       "another node\n",
	       found, ANNOUNCES);
	assert_int_equal(found, ANNOUNCES);
	uint64_t pmax;
	check_bounds(s, &pmax);
	printf("dht-sim clean: %u nodes, %llu datagrams (%llu lost), "
	       "%.1f MB of heap in all (%.1f KB a node), simulated %llu s\n",
	       s->n, (unsigned long long)s->sent, (unsigned long long)s->lost,
	       (double)(heap_used() - heap0) / 1e6,
	       (double)(heap_used() - heap0) / 1e3 / s->n,
	       (unsigned long long)(s->now / 1000));
	check_heap(heap0, s->n);
	sim_free(s);
}

static void test_hostile_network(void **state)
{
	(void)state;
	struct sim_cfg cfg;
	sim_hostile_cfg(&cfg, NODES, 2);
	size_t heap0 = heap_used();
	struct sim *s = settle(&cfg);

	/* lookups, half of them aimed at the liars' neighbourhoods */
	uint8_t near[64][20];
	size_t nnear = 0;
	for (unsigned i = 0; i < s->n && nnear < 64; i++) {
		int k = s->nodes[i].kind;
		if (k == SIM_LIAR_HOLE || k == SIM_LIAR_REDIRECT ||
		    k == SIM_PEER_FLOODER)
			memcpy(near[nnear++], s->nodes[i].id, 20);
	}
	struct figures f;
	run_lookups(s, &f, LOOKUPS, (const uint8_t(*)[20])near, nnear);
	print_figures("hostile", &f);
	assert_true(f.found * 100 >= f.wanted * 85);
	assert_true(f.hops / f.lookups <= 8.0);

	unsigned maxp;
	unsigned found = run_announces(s, &maxp);
	printf("dht-sim hostile: %u of %d announces found by get_peers from "
	       "another node\n",
	       found, ANNOUNCES);
	assert_true(found >= ANNOUNCES - 1);

	/* get_peers next to the peer flooders: fake peers arrive, but at
	 * most BT_DHT_SEARCH_PEERS per lookup */
	unsigned flood_lookups = 0, most = 0;
	for (unsigned i = 0; i < s->n && flood_lookups < 4; i++) {
		if (s->nodes[i].kind != SIM_PEER_FLOODER)
			continue;
		uint8_t ih[20];
		memcpy(ih, s->nodes[i].id, 20);
		ih[19] ^= 1;
		unsigned who = sim_random_honest(s);
		int id = bt_dht_search(s->nodes[who].dht, ih, BT_DHT_GET_PEERS,
				       BT_DHT_V4, s->now);
		assert_true(id > 0);
		sim_arm(s, who);
		const struct sim_lookup *l =
		    sim_wait_lookup(s, who, id, s->now + 60000);
		assert_non_null(l);
		assert_true(l->r.peers <= BT_DHT_SEARCH_PEERS);
		if (l->r.peers > most)
			most = l->r.peers;
		flood_lookups++;
	}
	printf("dht-sim hostile: get_peers next to peer flooders delivered "
	       "at most %u peers (cap %d)\n",
	       most, BT_DHT_SEARCH_PEERS);
	assert_true(most >= BT_KRPC_MAX_VALUES); /* they were reached */

	/* the flood victims held: rate-limited, flooders ignored, no store
	 * entry from a wrong token */
	uint64_t dropped = 0, bad_tokens = 0;
	unsigned ignoring = 0, stored = 0;
	for (unsigned v = 0; v < cfg.flood_victims; v++) {
		struct bt_dht_stats st;
		bt_dht_stats(s->nodes[v].dht, &st, s->now);
		dropped += st.dropped_rate + st.dropped_ignored;
		bad_tokens += st.bad_tokens;
		ignoring += st.ignored;
		stored += st.store_hashes;
	}
	printf("dht-sim hostile: flood victims dropped %llu queries, saw %llu "
	       "wrong tokens, ignore %u IPs, stored %u info-hashes\n",
	       (unsigned long long)dropped, (unsigned long long)bad_tokens,
	       ignoring, stored);
	assert_true(dropped > 0);
	assert_true(ignoring >= cfg.flood_victims);
	/* garbage senders are ignored by the nodes they hit */
	unsigned ign_total = 0;
	for (unsigned i = 0; i < s->n; i++)
		if (s->nodes[i].dht && !s->nodes[i].dead) {
			struct bt_dht_stats st;
			bt_dht_stats(s->nodes[i].dht, &st, s->now);
			ign_total += st.ignored;
		}
	assert_true(ign_total > 0);

	uint64_t pmax;
	check_bounds(s, &pmax);
	printf("dht-sim hostile: %u nodes, %llu datagrams (%llu lost, %llu to "
	       "dead ends), %.1f MB of heap in all, at most %llu queries "
	       "pending on a node\n",
	       s->n, (unsigned long long)s->sent, (unsigned long long)s->lost,
	       (unsigned long long)s->to_nowhere,
	       (double)(heap_used() - heap0) / 1e6, (unsigned long long)pmax);
	check_heap(heap0, s->n);
	sim_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_network),
	    cmocka_unit_test(test_hostile_network),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
