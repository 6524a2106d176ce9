/* dht_sim — a simulated network of DHT nodes in one process, for the
 * DHT's tests (tests/unit/test_dht_sim.c) and `make bench`.
 *
 * Every honest node is a real struct bt_dht; the network is an event queue
 * in simulated milliseconds with a latency per node (a link costs the sum
 * of both ends' plus jitter) and a loss rate per datagram. Hostile nodes are
 * scripted here: silent (joined, then dead), liars that answer every lookup
 * with fake closer nodes (pointing nowhere, or at other real nodes under a
 * false id), garbage senders, query flooders with wrong tokens, and nodes
 * that answer get_peers with thousands of fake peers. Deterministic for a
 * seed. Single-threaded; the struct is the test's. */
#ifndef DHT_SIM_H
#define DHT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_dht.h"

enum sim_kind {
	SIM_HONEST = 0,
	SIM_SILENT,	   /* honest until cfg.silent_at, then dead */
	SIM_LIAR_HOLE,	   /* answers with fake close nodes at dead ends */
	SIM_LIAR_REDIRECT, /* fake close ids at real nodes' addresses */
	SIM_GARBAGE,	   /* answers and sends garbage */
	SIM_FLOODER,	   /* floods victims with queries, wrong tokens */
	SIM_PEER_FLOODER,  /* get_peers answered with thousands of peers */
	SIM_KINDS
};

struct sim_cfg {
	unsigned n; /* nodes in all (hostile ones included) */
	uint64_t seed;
	double loss;	  /* per datagram */
	unsigned lat_min; /* one end's share of a link's latency, ms */
	unsigned lat_max;
	unsigned jitter; /* ms added per datagram, uniform 0..jitter */
	unsigned count[SIM_KINDS]; /* hostile nodes of each kind */
	unsigned join_ms;	   /* between two joins */
	uint64_t silent_at;	   /* when the SIM_SILENT nodes die (sim ms) */
	unsigned flood_victims;	   /* how many nodes the flooders pick on */
	unsigned flood_per_ms;	   /* queries per flooder per 10 ms */
};

struct sim_lookup {
	unsigned node; /* who looked up */
	struct bt_dht_search_result r;
};

struct sim_peer_seen {
	unsigned node;
	uint8_t ih[20];
	struct bt_addr peer;
};

struct sim_node {
	int kind;
	struct bt_dht *dht; /* honest and silent ones, once joined */
	struct sim *sim;
	unsigned idx;
	struct bt_addr addr;
	uint8_t id[20];
	unsigned lat;
	bool joined, dead;
	uint64_t timer; /* the periodic run queued for this node */
};

struct sim {
	struct sim_cfg cfg;
	uint64_t now;
	uint64_t rng;
	struct sim_node *nodes;
	unsigned n;
	struct sim_ev *ev; /* a binary heap */
	size_t nev, capev;
	uint64_t seq;
	/* traffic */
	uint64_t sent, delivered, lost, to_nowhere, bytes;
	/* what the honest nodes reported */
	struct sim_lookup *lookups;
	size_t nlookups, caplookups;
	struct sim_peer_seen *peers;
	size_t npeers, cappeers;
	size_t peers_dropped;
};

struct sim *sim_new(const struct sim_cfg *cfg);
void sim_free(struct sim *s);
/* Process every event up to simulated time T. */
void sim_run_until(struct sim *s, uint64_t t);
/* Run until on_done has reported lookup ID of node NODE or T passes;
 * returns the lookup or NULL. */
const struct sim_lookup *sim_wait_lookup(struct sim *s, unsigned node, int id,
					 uint64_t t);
/* After a test called into node NODE's bt_dht: queue its next periodic
 * run (the deadline may have come closer). */
void sim_arm(struct sim *s, unsigned node);
/* A node that is honest, joined and alive, drawn at random. */
unsigned sim_random_honest(struct sim *s);
/* The K ids closest to TARGET among the honest nodes alive into OUT;
 * returns how many. */
size_t sim_true_closest(const struct sim *s, const uint8_t *target,
			uint8_t out[][20], size_t k);
uint64_t sim_rand(struct sim *s);
/* How many of the true closest honest nodes lookup R found (*HIT) out of
 * how many it should have (*WANTED): liars that answered for their own id
 * are real nodes and may stand in R before honest ones, so each of them in
 * R lowers *WANTED by one. */
void sim_score(const struct sim *s, const struct bt_dht_search_result *r,
	       unsigned *hit, unsigned *wanted);
/* The two networks of the test and the bench: CLEAN (1% loss, one-way
 * latency 10-100 ms a link) and HOSTILE (5% loss, 10% of the nodes go
 * silent, 6% liars, 1% garbage senders, 0.5% flooders, 1% peer
 * flooders). */
void sim_clean_cfg(struct sim_cfg *c, unsigned n, uint64_t seed);
void sim_hostile_cfg(struct sim_cfg *c, unsigned n, uint64_t seed);

#endif
