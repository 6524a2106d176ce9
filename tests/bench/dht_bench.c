/* dht_bench — the DHT row of `make bench`: lookups in a simulated network
 * of 1,000 nodes (tests/sim/dht_sim.h), a clean one and a hostile one.
 * Prints one line per network: round trips (the longest chain of replies
 * that led to the result; target <= 8), queries and replies per lookup,
 * the lookup's time in simulated ms, how many of the true 8 closest were
 * found, and the CPU time the simulation took. No network is used.
 *   dht_bench [NODES [LOOKUPS]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dht_sim.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, unsigned p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t i = (n * p + 99) / 100;
	return v[i ? i - 1 : 0];
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *name, const struct sim_cfg *cfg, unsigned lookups)
{
	double c0 = cpu_s();
	struct sim *s = sim_new(cfg);
	sim_run_until(s, (uint64_t)cfg->n * cfg->join_ms + 120000);
	uint64_t *hops = calloc(lookups, sizeof(*hops));
	uint64_t *ms = calloc(lookups, sizeof(*ms));
	uint64_t queries = 0, replies = 0, hit = 0, wanted = 0;
	unsigned done = 0;
	if (!hops || !ms)
		return 1;
	for (unsigned i = 0; i < lookups; i++) {
		uint8_t target[20];
		for (int k = 0; k < 20; k++)
			target[k] = (uint8_t)sim_rand(s);
		unsigned who = sim_random_honest(s);
		int id = bt_dht_search(s->nodes[who].dht, target,
				       BT_DHT_FIND_NODE, BT_DHT_V4, s->now);
		if (id <= 0)
			continue;
		sim_arm(s, who);
		const struct sim_lookup *l =
		    sim_wait_lookup(s, who, id, s->now + 60000);
		if (!l)
			continue;
		unsigned h, w;
		sim_score(s, &l->r, &h, &w);
		hit += h;
		wanted += w;
		hops[done] = l->r.hops;
		ms[done] = l->r.ms;
		queries += l->r.queries;
		replies += l->r.replies;
		done++;
	}
	double cpu = cpu_s() - c0;
	if (!done) {
		printf("dht %s: no lookup finished\n", name);
		return 1;
	}
	uint64_t h50 = pct(hops, done, 50), h90 = pct(hops, done, 90),
		 hmax = pct(hops, done, 100);
	uint64_t m50 = pct(ms, done, 50), m90 = pct(ms, done, 90);
	printf("dht lookup, %s, %u nodes: round trips %llu median / %llu p90 / "
	       "%llu max (target <= 8); %.1f queries + %.1f replies a lookup; "
	       "%llu ms median / %llu ms p90 (simulated); %.1f%% of the true "
	       "%d closest found; %u lookups, %.1f s CPU\n",
	       name, cfg->n, (unsigned long long)h50, (unsigned long long)h90,
	       (unsigned long long)hmax, (double)queries / done,
	       (double)replies / done, (unsigned long long)m50,
	       (unsigned long long)m90, 100.0 * (double)hit / (double)wanted,
	       BT_DHT_K, done, cpu);
	free(hops);
	free(ms);
	sim_free(s);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	unsigned lookups = argc > 2 ? (unsigned)atoi(argv[2]) : 100;
	struct sim_cfg cfg;
	if (n < 20 || lookups < 1) {
		fprintf(stderr, "usage: dht_bench [NODES>=20 [LOOKUPS]]\n");
		return 2;
	}
	sim_clean_cfg(&cfg, n, 11);
	int rc = run("1% loss, 10-100 ms links", &cfg, lookups);
	sim_hostile_cfg(&cfg, n, 12);
	rc |= run("hostile (5% loss, 10% silent, 6% liars, floods)", &cfg,
		  lookups);
	return rc;
}
