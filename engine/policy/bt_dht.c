/* bt_dht — one DHT node (BEP 5/32) as an I/O-free core; see bt_dht.h.
 *
 * Layout of this file: helpers (PRNG, XOR metric), the routing table, the
 * transactions of our queries, the per-IP rate limiter and ignore list, the
 * tokens, the peer store, sending, lookups, announces and bootstrap,
 * input, periodic, and the saved state.
 *
 * The routing table of a family is an array of buckets indexed by the
 * length of the prefix a node id shares with ours: bucket i < nb-1 holds
 * the ids that share exactly i bits, the last one every id that shares at
 * least nb-1; only the last one (which holds our own id's range) splits,
 * as in libtorrent. Lookups keep their candidates sorted by distance. */
#include "bt_dht.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pfs_hash.h"
#include "pfs_log.h"

#define ID_LEN		20
#define MAX_BUCKETS	160
#define GOOD_MS		(15 * 60 * 1000) /* BEP 5: good if heard within */
#define REFRESH_MS	(15 * 60 * 1000) /* idle bucket refresh */
#define PING_MS		(60 * 1000)	 /* a questionable node pinged every */
#define PING_BAD_MS	(5 * 60 * 1000)	 /* a bad one kept (no replacement) */
#define PINGS_PER_RUN	16
#define TOKEN_ROTATE_MS (5 * 60 * 1000)
#define TOKEN_LEN	8
#define STORE_EXPIRY_MS (30 * 60 * 1000)
#define STORE_SWEEP_MS	(60 * 1000)
/* peers per get_peers reply: with 8 nodes and 8 nodes6 a reply stays under
 * 1,400 bytes (no fragmentation on a 1,500-byte path, v4 or v6) */
#define VALUES_PER_REPLY4 50
#define VALUES_PER_REPLY6 32
#define MAX_TX		  256
#define SEARCH_CANDS	  48
#define SEARCH_TRIES	  2    /* queries per candidate */
#define SEARCH_SEEDS	  16   /* table nodes a lookup starts from */
#define SEARCH_REFS	  64   /* responders tracked per lookup */
#define REF_DISTRUST	  3    /* nodes named by a responder that all failed */
#define BOOT_USER_MAX	  32   /* bootstrap contacts of the caller */
#define BOOT_SEED_MAX	  128  /* saved or learned nodes, per family */
#define BOOT_MIN_MS	  2000 /* bootstrap back-off, doubling up to */
#define BOOT_MAX_MS	  (5 * 60 * 1000)
#define RESEARCH_MIN_MS	  (60 * 1000)
#define ANN_RETRY_MS                                                           \
	30000 /* an announce that reached fewer than k nodes                   \
		is repeated after this, doubling up to                         \
		BT_DHT_REANNOUNCE_MS */
#define IDLE_MS	       (60 * 1000) /* periodic runs at least this often */
#define RL_SETS	       128	   /* rate limiter: sets x ways entries */
#define RL_WAYS	       4
#define STRIKE_MAX     16 /* strikes within STRIKE_MS: ignored */
#define STRIKE_MS      (60 * 1000)
#define STRIKE_GARBAGE 4
#define STRIKE_INVALID 2
#define STRIKE_RATE    1
#define STRIKE_TOKEN   2

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_bytes(uint64_t *s, uint8_t *out, size_t n)
{
	while (n) {
		uint64_t r = rng_next(s);
		size_t k = n < 8 ? n : 8;
		memcpy(out, &r, k);
		out += k;
		n -= k;
	}
}

static uint64_t age(uint64_t now, uint64_t t)
{
	return now > t ? now - t : 0;
}

/* <0 when A is closer to T than B, >0 when farther, 0 when equal. */
static int dist_cmp(const uint8_t *t, const uint8_t *a, const uint8_t *b)
{
	for (int i = 0; i < ID_LEN; i++) {
		uint8_t x = a[i] ^ t[i], y = b[i] ^ t[i];
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* Bits of common prefix (160 when equal). */
static unsigned cpl(const uint8_t *a, const uint8_t *b)
{
	for (int i = 0; i < ID_LEN; i++) {
		uint8_t x = a[i] ^ b[i];
		if (x) {
			unsigned n = (unsigned)i * 8;
			while (!(x & 0x80)) {
				x <<= 1;
				n++;
			}
			return n;
		}
	}
	return ID_LEN * 8;
}

static int fam_index(const struct bt_addr *a)
{
	return a->family == BT_ADDR_V6 ? 1 : 0;
}

static unsigned fam_bit(int fi)
{
	return fi ? BT_DHT_V6 : BT_DHT_V4;
}

static struct bt_addr ip_only(const struct bt_addr *a)
{
	struct bt_addr r = *a;
	r.port = 0;
	return r;
}

/* ---- state -------------------------------------------------------------- */

struct node {
	uint8_t id[ID_LEN];
	struct bt_addr addr;
	uint64_t last_reply; /* it answered a query of ours (0: never) */
	uint64_t last_query; /* it queried us */
	uint64_t last_ping;  /* our last maintenance ping */
	uint8_t fails;	     /* our queries unanswered in a row */
};

struct bucket {
	struct node n[BT_DHT_K];
	struct node r[BT_DHT_K]; /* replacement cache, most recent last */
	uint8_t nn, nr;
	uint64_t changed; /* a node of it answered, or one was added */
};

struct boot {
	struct bt_addr addr;
	bool has_id;
	uint8_t id[ID_LEN];
};

struct table {
	struct bucket *b;
	unsigned nb;
	/* bootstrap: the caller's contacts and seeds (saved or learned) */
	struct boot seeds[BOOT_SEED_MAX];
	unsigned nseeds;
	uint64_t boot_next;
	uint64_t boot_backoff;
	int boot_search; /* id of the running bootstrap lookup, 0: none */
};

enum tx_kind { TX_PING = 1, TX_SEARCH, TX_ANNOUNCE };

struct tx {
	bool used;
	uint8_t kind;
	bool has_id;
	uint16_t check;
	int search; /* id of the lookup (TX_SEARCH) */
	struct bt_addr to;
	uint8_t id[ID_LEN]; /* the id we expect to answer */
	uint64_t sent;
};

enum cand_state { C_NEW, C_SENT, C_REPLIED, C_FAILED };

struct cand {
	uint8_t id[ID_LEN];
	bool has_id; /* a bootstrap contact has none until it answers */
	uint8_t state, tries, hop, token_len;
	uint8_t ref; /* who named it: refs[ref - 1]; 0: a seed */
	struct bt_addr addr;
	uint64_t sent;
	uint8_t token[BT_KRPC_TOKEN_MAX];
};

struct search {
	int id;
	uint8_t kind; /* enum bt_dht_search_kind */
	uint8_t fi;
	bool internal;	    /* bootstrap or refresh: no on_done */
	bool announce;	    /* of the announce list */
	bool send_announce; /* announce_peer at the end */
	bool implied_port;
	bool finish_due; /* finish at the next run */
	uint16_t port;
	uint8_t target[ID_LEN];
	uint64_t started;
	unsigned queries, replies;
	unsigned n;
	struct cand c[SEARCH_CANDS];
	/* the responders whose nodes we query: one whose first few named
	 * nodes all fail (dead ends, or another id at the address) is a
	 * liar, and the rest of what it named is dropped */
	struct ref {
		struct bt_addr addr;
		uint8_t failed, ok;
		bool distrusted;
	} refs[SEARCH_REFS];
	unsigned nrefs;
	unsigned npeers;
	struct bt_addr *peers; /* BT_DHT_SEARCH_PEERS, get_peers only */
};

struct ann {
	uint8_t ih[ID_LEN];
	uint16_t port;
	unsigned flags;
	uint64_t next[2];
	uint64_t last_start[2];
	uint64_t retry[2]; /* after a short announce, 0: none */
	int running[2];	   /* search id, 0: none */
};

struct speer {
	struct bt_addr addr;
	uint64_t expires;
};

struct sih {
	uint8_t ih[ID_LEN];
	uint16_t n[2], cap[2], rot[2];
	struct speer *p[2];
};

struct rl {
	bool used;
	struct bt_addr ip; /* port 0 */
	uint64_t t;	   /* last query (token refill) */
	uint64_t credit;   /* in thousandths of a query */
	uint64_t strike_t;
	uint64_t ignored_until;
	uint16_t strikes;
};

struct bt_dht {
	uint8_t id[ID_LEN];
	uint64_t rng;
	unsigned families;
	bt_dht_send_fn send;
	bt_dht_peers_fn on_peers;
	bt_dht_done_fn on_done;
	void *arg;
	char version[4];
	unsigned alpha, max_queries, max_searches, max_ann, rate, rate_ip;
	unsigned store_hashes, store_peers;
	uint64_t max_ms;
	bool allow_same_ip;
	bool state_loaded, state_nodes_only;
	bool (*allow)(void *arg, const struct bt_addr *a);

	uint64_t srtt, rttvar; /* of our queries' replies, ms (RFC 6298) */
	uint64_t next;	       /* deadline */
	uint64_t now;	       /* of the latest call */

	struct table tab[2];
	struct boot user[BOOT_USER_MAX];
	unsigned nuser;

	struct tx tx[MAX_TX];
	unsigned tx_cursor, pending;

	struct search **searches; /* max_searches slots */
	int next_search_id;

	struct ann *ann;
	unsigned nann;

	struct sih *store; /* sorted by info-hash */
	unsigned nstore;
	uint64_t store_sweep;

	uint8_t secret[2][16]; /* [0] current, [1] previous */
	uint64_t secret_t;

	struct rl rl[RL_SETS][RL_WAYS];
	uint64_t rl_key;
	uint64_t credit; /* global query budget, thousandths */
	uint64_t credit_t;

	/* our own addresses, as learnt from queries of ours that came back
	 * (another node named us under a stale id): never contacted */
	struct bt_addr self[4];
	unsigned nself;

	struct bt_benc out;
	struct bt_krpc_msg msg, reply; /* scratch: 4 KiB each */

	struct bt_dht_stats st;
};

/* The caller lets us talk to A (opts.allow). */
static bool allowed(const struct bt_dht *d, const struct bt_addr *a)
{
	return !d->allow || d->allow(d->arg, a);
}

static bool is_self(const struct bt_dht *d, const struct bt_addr *a)
{
	for (unsigned i = 0; i < d->nself; i++)
		if (bt_addr_equal(&d->self[i], a))
			return true;
	return false;
}

static void sched(struct bt_dht *d, uint64_t t)
{
	if (t < d->next)
		d->next = t;
}

/* When a lookup stops waiting for a query (and retries or moves on): as
 * TCP's retransmission timeout, from the round trips of our replies, within
 * BT_DHT_MIN_SOFT_TIMEOUT_MS..BT_DHT_SOFT_TIMEOUT_MS. A reply after it is
 * still taken, until BT_DHT_TX_TIMEOUT_MS. */
static uint64_t soft_timeout(const struct bt_dht *d)
{
	if (!d->srtt)
		return BT_DHT_SOFT_TIMEOUT_MS;
	uint64_t t = d->srtt + 4 * d->rttvar;
	if (t < BT_DHT_MIN_SOFT_TIMEOUT_MS)
		return BT_DHT_MIN_SOFT_TIMEOUT_MS;
	return t > BT_DHT_SOFT_TIMEOUT_MS ? BT_DHT_SOFT_TIMEOUT_MS : t;
}

static void rtt_sample(struct bt_dht *d, uint64_t rtt)
{
	if (!d->srtt) {
		d->srtt = rtt ? rtt : 1;
		d->rttvar = rtt / 2;
		return;
	}
	uint64_t diff = rtt > d->srtt ? rtt - d->srtt : d->srtt - rtt;
	d->rttvar = (3 * d->rttvar + diff) / 4;
	d->srtt = (7 * d->srtt + rtt) / 8;
	if (!d->srtt)
		d->srtt = 1;
}

/* ---- routing table ------------------------------------------------------ */

static bool node_bad(const struct node *n)
{
	return n->fails >= BT_DHT_BAD_FAILS;
}

static bool node_good(const struct node *n, uint64_t now)
{
	return !node_bad(n) && n->last_reply &&
	       (age(now, n->last_reply) < GOOD_MS ||
		(n->last_query && age(now, n->last_query) < GOOD_MS));
}

static unsigned bucket_of(const struct bt_dht *d, const struct table *t,
			  const uint8_t *id)
{
	unsigned c = cpl(d->id, id);
	return c < t->nb - 1 ? c : t->nb - 1;
}

static int table_init(struct table *t, uint64_t now)
{
	t->b = calloc(1, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->nb = 1;
	t->b[0].changed = now;
	t->boot_backoff = BOOT_MIN_MS;
	return 0;
}

/* Splits the last bucket (t->nb < MAX_BUCKETS). */
static int table_split(struct bt_dht *d, struct table *t, uint64_t now)
{
	struct bucket *nb = realloc(t->b, (t->nb + 1) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	t->b = nb;
	struct bucket *old = &t->b[t->nb - 1], *new = &t->b[t->nb];
	memset(new, 0, sizeof(*new));
	new->changed = now;
	unsigned depth = t->nb; /* the new last bucket: cpl >= depth */
	t->nb++;
	uint8_t keep = 0;
	for (uint8_t i = 0; i < old->nn; i++) {
		if (cpl(d->id, old->n[i].id) >= depth)
			new->n[new->nn++] = old->n[i];
		else
			old->n[keep++] = old->n[i];
	}
	old->nn = keep;
	keep = 0;
	for (uint8_t i = 0; i < old->nr; i++) {
		if (cpl(d->id, old->r[i].id) >= depth)
			new->r[new->nr++] = old->r[i];
		else
			old->r[keep++] = old->r[i];
	}
	old->nr = keep;
	return 0;
}

/* A table entry with address A (or only the same IP, when SAME_IP). */
static struct node *table_find_addr(struct table *t, const struct bt_addr *a,
				    bool same_ip, struct bucket **bp,
				    bool *in_repl)
{
	for (unsigned bi = 0; bi < t->nb; bi++) {
		struct bucket *b = &t->b[bi];
		for (uint8_t i = 0; i < b->nn + b->nr; i++) {
			struct node *n =
			    i < b->nn ? &b->n[i] : &b->r[i - b->nn];
			if (same_ip ? bt_addr_same_ip(&n->addr, a)
				    : bt_addr_equal(&n->addr, a)) {
				*bp = b;
				*in_repl = i >= b->nn;
				return n;
			}
		}
	}
	return NULL;
}

static void bucket_remove(struct bucket *b, struct node *n, bool in_repl)
{
	if (in_repl) {
		size_t i = (size_t)(n - b->r);
		memmove(&b->r[i], &b->r[i + 1], (b->nr - i - 1) * sizeof(*n));
		b->nr--;
	} else {
		size_t i = (size_t)(n - b->n);
		b->n[i] = b->n[--b->nn];
	}
}

/* Moves the best replacement (the latest that answered us, else the
 * latest) into slot N of B's nodes. Returns false when the cache is
 * empty. */
static bool bucket_promote(struct bucket *b, struct node *n)
{
	if (!b->nr)
		return false;
	int pick = b->nr - 1;
	for (int i = b->nr - 1; i >= 0; i--)
		if (b->r[i].last_reply && !node_bad(&b->r[i])) {
			pick = i;
			break;
		}
	*n = b->r[pick];
	bucket_remove(b, &b->r[pick], true);
	return true;
}

static void send_ping(struct bt_dht *d, const struct bt_addr *a,
		      const uint8_t *id, uint64_t now);

/* We heard from ID at A: it answered a query of ours (REPLIED) or queried
 * us. Inserts or refreshes it as BEP 5 says. */
static void table_heard(struct bt_dht *d, int fi, const uint8_t *id,
			const struct bt_addr *a, bool replied, uint64_t now)
{
	struct table *t = &d->tab[fi];
	if (!memcmp(id, d->id, ID_LEN) || !bt_addr_usable(a) || is_self(d, a))
		return;
	for (;;) {
		unsigned bi = bucket_of(d, t, id);
		struct bucket *b = &t->b[bi];
		for (uint8_t i = 0; i < b->nn + b->nr; i++) {
			struct node *n =
			    i < b->nn ? &b->n[i] : &b->r[i - b->nn];
			if (memcmp(n->id, id, ID_LEN))
				continue;
			if (!bt_addr_equal(&n->addr, a)) {
				/* only the node itself, answering at its new
				 * address, moves a good entry */
				if (!replied && node_good(n, now))
					return;
				struct bucket *ob;
				bool orep;
				struct node *o =
				    table_find_addr(t, a, false, &ob, &orep);
				if (o)
					return; /* that address is taken */
				n->addr = *a;
			}
			if (replied) {
				n->last_reply = now;
				n->fails = 0;
				b->changed = now;
			} else {
				n->last_query = now;
			}
			if (i >= b->nn && b->nn < BT_DHT_K) {
				/* room again (an entry left): promote it */
				struct node keep = *n;
				bucket_remove(b, n, true);
				b->n[b->nn++] = keep;
			}
			return;
		}
		/* another entry at this address (or IP): a restarted node
		 * with a new id replaces a failing one, never a good one */
		struct bucket *ob;
		bool orep;
		struct node *o =
		    table_find_addr(t, a, !d->allow_same_ip, &ob, &orep);
		if (o) {
			if (!replied || node_good(o, now))
				return;
			bucket_remove(ob, o, orep);
			continue; /* the bucket may have changed */
		}
		struct node nn = {.addr = *a};
		memcpy(nn.id, id, ID_LEN);
		if (replied)
			nn.last_reply = now;
		else
			nn.last_query = now;
		if (b->nn < BT_DHT_K) {
			b->n[b->nn++] = nn;
			if (replied)
				b->changed = now;
			return;
		}
		for (uint8_t i = 0; i < b->nn; i++)
			if (node_bad(&b->n[i])) {
				b->n[i] = nn;
				if (replied)
					b->changed = now;
				return;
			}
		if (bi == t->nb - 1 && t->nb < MAX_BUCKETS) {
			if (table_split(d, t, now))
				return;
			continue;
		}
		/* full of good or questionable nodes: keep it in reserve and
		 * find out whether the stalest one is still there */
		if (b->nr == BT_DHT_K) {
			/* drop the oldest, preferring one that never answered
			 */
			uint8_t drop = 0;
			for (uint8_t i = 0; i < b->nr; i++)
				if (!b->r[i].last_reply) {
					drop = i;
					break;
				}
			bucket_remove(b, &b->r[drop], true);
		}
		b->r[b->nr++] = nn;
		struct node *stale = NULL;
		for (uint8_t i = 0; i < b->nn; i++) {
			struct node *n = &b->n[i];
			if (node_good(n, now) ||
			    age(now, n->last_ping) < PING_MS)
				continue;
			if (!stale || n->last_reply < stale->last_reply)
				stale = n;
		}
		if (stale) {
			stale->last_ping = now;
			send_ping(d, &stale->addr, stale->id, now);
		}
		return;
	}
}

/* A query of ours to A (expected to be ID when HAS_ID) went unanswered. */
static void table_failed(struct bt_dht *d, const struct bt_addr *a, bool has_id,
			 const uint8_t *id)
{
	struct table *t = &d->tab[fam_index(a)];
	struct bucket *b;
	bool in_repl;
	struct node *n = table_find_addr(t, a, false, &b, &in_repl);
	if (!n || (has_id && memcmp(n->id, id, ID_LEN)))
		return;
	if (n->fails < 255)
		n->fails++;
	if (!node_bad(n))
		return;
	if (in_repl)
		bucket_remove(b, n, true);
	else
		bucket_promote(b, n);
}

/* The entry ID at A lied about who it is (another id answered there). */
static void table_forget(struct bt_dht *d, const struct bt_addr *a,
			 const uint8_t *id)
{
	struct table *t = &d->tab[fam_index(a)];
	struct bucket *b;
	bool in_repl;
	struct node *n = table_find_addr(t, a, false, &b, &in_repl);
	if (!n || memcmp(n->id, id, ID_LEN))
		return;
	if (in_repl || !bucket_promote(b, n))
		bucket_remove(b, n, in_repl);
}

/* Up to MAX nodes of table FI closest to TARGET into OUT (closest first):
 * CONFIRMED: only nodes that answered us and are not failing (what we tell
 * others); else every node that is not bad (where a lookup starts). */
static size_t table_closest(const struct bt_dht *d, int fi,
			    const uint8_t *target, bool confirmed,
			    struct bt_krpc_node *out, size_t max)
{
	const struct table *t = &d->tab[fi];
	size_t n = 0;
	for (unsigned bi = 0; bi < t->nb; bi++) {
		const struct bucket *b = &t->b[bi];
		for (uint8_t i = 0; i < b->nn; i++) {
			const struct node *x = &b->n[i];
			if (node_bad(x) || (confirmed && !x->last_reply))
				continue;
			size_t pos = n;
			while (pos > 0 &&
			       dist_cmp(target, x->id, out[pos - 1].id) < 0)
				pos--;
			if (pos >= max)
				continue;
			size_t last = n < max ? n : max - 1;
			memmove(&out[pos + 1], &out[pos],
				(last - pos) * sizeof(*out));
			memcpy(out[pos].id, x->id, ID_LEN);
			out[pos].addr = x->addr;
			if (n < max)
				n++;
		}
	}
	return n;
}

static void table_counts(const struct table *t, uint64_t now, unsigned *good,
			 unsigned *dubious, unsigned *bad, unsigned *repl)
{
	*good = *dubious = *bad = *repl = 0;
	for (unsigned bi = 0; bi < t->nb; bi++) {
		const struct bucket *b = &t->b[bi];
		for (uint8_t i = 0; i < b->nn; i++) {
			if (node_good(&b->n[i], now))
				(*good)++;
			else if (node_bad(&b->n[i]))
				(*bad)++;
			else
				(*dubious)++;
		}
		*repl += b->nr;
	}
}

static unsigned table_good(const struct table *t, uint64_t now)
{
	unsigned g, du, ba, r;
	table_counts(t, now, &g, &du, &ba, &r);
	return g;
}

static unsigned table_size(const struct table *t)
{
	unsigned n = 0;
	for (unsigned bi = 0; bi < t->nb; bi++)
		n += t->b[bi].nn;
	return n;
}

/* A random id that falls into bucket BI. */
static void random_id_in(struct bt_dht *d, const struct table *t, unsigned bi,
			 uint8_t *out)
{
	rng_bytes(&d->rng, out, ID_LEN);
	unsigned keep = bi; /* bits equal to ours */
	for (unsigned bit = 0; bit < keep && bit < 160; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));
		out[bit / 8] =
		    (uint8_t)((out[bit / 8] & ~m) | (d->id[bit / 8] & m));
	}
	if (bi < t->nb - 1) {
		/* then the first differing bit */
		uint8_t m = (uint8_t)(0x80 >> (bi % 8));
		out[bi / 8] =
		    (uint8_t)((out[bi / 8] & ~m) | (~d->id[bi / 8] & m));
	}
}

/* ---- transactions ------------------------------------------------------- */

static struct tx *tx_new(struct bt_dht *d, uint8_t *tid)
{
	for (unsigned k = 0; k < MAX_TX; k++) {
		unsigned i = (d->tx_cursor + k) % MAX_TX;
		struct tx *t = &d->tx[i];
		if (t->used)
			continue;
		d->tx_cursor = (i + 1) % MAX_TX;
		memset(t, 0, sizeof(*t));
		t->used = true;
		t->check = (uint16_t)rng_next(&d->rng);
		tid[0] = (uint8_t)(i >> 8);
		tid[1] = (uint8_t)i;
		tid[2] = (uint8_t)(t->check >> 8);
		tid[3] = (uint8_t)t->check;
		d->pending++;
		return t;
	}
	return NULL;
}

static void tx_free(struct bt_dht *d, struct tx *t)
{
	t->used = false;
	d->pending--;
}

static struct tx *tx_match(struct bt_dht *d, const struct bt_krpc_msg *m,
			   const struct bt_addr *from)
{
	if (m->tid_len != 4)
		return NULL;
	unsigned i = (unsigned)m->tid[0] << 8 | m->tid[1];
	uint16_t check = (uint16_t)(m->tid[2] << 8 | m->tid[3]);
	if (i >= MAX_TX)
		return NULL;
	struct tx *t = &d->tx[i];
	if (!t->used || t->check != check || !bt_addr_equal(&t->to, from))
		return NULL;
	return t;
}

/* ---- rate limits and the ignore list ----------------------------------- */

static struct rl *rl_get(struct bt_dht *d, const struct bt_addr *a,
			 uint64_t now, bool create)
{
	struct bt_addr ip = ip_only(a);
	struct rl *set = d->rl[bt_addr_hash(&ip, d->rl_key) % RL_SETS];
	struct rl *old = NULL;
	for (int i = 0; i < RL_WAYS; i++) {
		if (set[i].used && bt_addr_equal(&set[i].ip, &ip))
			return &set[i];
		/* evict the least recently active entry that is not ignored */
		if (!set[i].used) {
			if (!old || old->used)
				old = &set[i];
		} else if (set[i].ignored_until <= now &&
			   (!old || (old->used && set[i].t < old->t))) {
			old = &set[i];
		}
	}
	if (!create || !old)
		return NULL;
	memset(old, 0, sizeof(*old));
	old->used = true;
	old->ip = ip;
	old->t = now;
	old->credit = (uint64_t)d->rate_ip * 4 * 1000; /* burst */
	return old;
}

static bool ignored(struct bt_dht *d, const struct bt_addr *a, uint64_t now)
{
	struct rl *r = rl_get(d, a, now, false);
	return r && r->ignored_until > now;
}

static void strike(struct bt_dht *d, const struct bt_addr *a, unsigned w,
		   uint64_t now)
{
	struct rl *r = rl_get(d, a, now, true);
	if (!r)
		return;
	if (age(now, r->strike_t) > STRIKE_MS)
		r->strikes = 0;
	r->strike_t = now;
	r->strikes = (uint16_t)(r->strikes + w);
	if (r->strikes >= STRIKE_MAX && r->ignored_until <= now) {
		char s[BT_ADDR_STRLEN];
		bt_addr_str(a, s, sizeof(s));
		pfs_log(PFS_LOG_DEBUG, "dht",
			"ignoring '%s' for %u s: garbage or flood", s,
			BT_DHT_IGNORE_MS / 1000);
		r->ignored_until = now + BT_DHT_IGNORE_MS;
		r->strikes = 0;
	}
}

/* Takes one query from the budgets; false when over a limit. */
static bool rate_ok(struct bt_dht *d, const struct bt_addr *a, uint64_t now)
{
	uint64_t cap = (uint64_t)d->rate * 1000; /* one second of burst */
	d->credit += age(now, d->credit_t) * d->rate;
	d->credit_t = now;
	if (d->credit > cap)
		d->credit = cap;
	struct rl *r = rl_get(d, a, now, true);
	if (r) {
		uint64_t rcap = (uint64_t)d->rate_ip * 4 * 1000;
		r->credit += age(now, r->t) * d->rate_ip;
		r->t = now;
		if (r->credit > rcap)
			r->credit = rcap;
		if (r->credit < 1000)
			return false;
	}
	if (d->credit < 1000)
		return false;
	d->credit -= 1000;
	if (r)
		r->credit -= 1000;
	return true;
}

/* ---- tokens ------------------------------------------------------------- */

static int make_token(const struct bt_dht *d, int which,
		      const struct bt_addr *a, uint8_t out[TOKEN_LEN])
{
	uint8_t buf[16 + 1 + 16], h[PFS_SHA1_LEN];
	size_t iplen = a->family == BT_ADDR_V6 ? 16 : 4;
	memcpy(buf, d->secret[which], 16);
	buf[16] = a->family;
	memcpy(buf + 17, a->ip, iplen);
	if (pfs_sha1(buf, 17 + iplen, h))
		return -EIO;
	memcpy(out, h, TOKEN_LEN);
	return 0;
}

static bool token_ok(const struct bt_dht *d, const struct bt_addr *a,
		     const uint8_t *tok, size_t len)
{
	uint8_t t[TOKEN_LEN];
	if (len != TOKEN_LEN)
		return false;
	for (int w = 0; w < 2; w++)
		if (!make_token(d, w, a, t) && !memcmp(t, tok, TOKEN_LEN))
			return true;
	return false;
}

static void rotate_secret(struct bt_dht *d, uint64_t now)
{
	memcpy(d->secret[1], d->secret[0], 16);
	rng_bytes(&d->rng, d->secret[0], 16);
	d->secret_t = now;
}

/* ---- peer store --------------------------------------------------------- */

static unsigned store_find(const struct bt_dht *d, const uint8_t *ih,
			   bool *found)
{
	unsigned lo = 0, hi = d->nstore;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = memcmp(d->store[mid].ih, ih, ID_LEN);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static void store_remove_at(struct bt_dht *d, unsigned i)
{
	free(d->store[i].p[0]);
	free(d->store[i].p[1]);
	memmove(&d->store[i], &d->store[i + 1],
		(d->nstore - i - 1) * sizeof(*d->store));
	d->nstore--;
}

static void store_sweep(struct bt_dht *d, uint64_t now)
{
	for (unsigned i = d->nstore; i-- > 0;) {
		struct sih *s = &d->store[i];
		for (int f = 0; f < 2; f++) {
			uint16_t keep = 0;
			for (uint16_t j = 0; j < s->n[f]; j++)
				if (s->p[f][j].expires > now)
					s->p[f][keep++] = s->p[f][j];
			s->n[f] = keep;
		}
		if (!s->n[0] && !s->n[1])
			store_remove_at(d, i);
	}
	d->store_sweep = now + STORE_SWEEP_MS;
}

static void store_add(struct bt_dht *d, const uint8_t *ih,
		      const struct bt_addr *peer, uint64_t now)
{
	bool found;
	unsigned i = store_find(d, ih, &found);
	if (!found) {
		if (d->nstore >= d->store_hashes) {
			/* full: make room only at the cost of an info-hash
			 * with a single peer, so a flood of fake announces
			 * cannot push out the ones that several peers use */
			if (d->store_sweep + 1000 <= now + STORE_SWEEP_MS)
				store_sweep(d, now);
			unsigned victim = d->nstore;
			for (unsigned k = 0; k < d->nstore; k++) {
				struct sih *s = &d->store[k];
				if (s->n[0] + s->n[1] <= 1) {
					victim = k;
					break;
				}
			}
			if (d->nstore >= d->store_hashes) {
				if (victim == d->nstore)
					return;
				store_remove_at(d, victim);
			}
			i = store_find(d, ih, &found);
		}
		struct sih *ns =
		    realloc(d->store, (d->nstore + 1) * sizeof(*ns));
		if (!ns)
			return;
		d->store = ns;
		memmove(&d->store[i + 1], &d->store[i],
			(d->nstore - i) * sizeof(*ns));
		memset(&d->store[i], 0, sizeof(*ns));
		memcpy(d->store[i].ih, ih, ID_LEN);
		d->nstore++;
	}
	struct sih *s = &d->store[i];
	int f = fam_index(peer);
	for (uint16_t j = 0; j < s->n[f]; j++)
		if (bt_addr_equal(&s->p[f][j].addr, peer)) {
			s->p[f][j].expires = now + STORE_EXPIRY_MS;
			return;
		}
	if (s->n[f] >= d->store_peers) {
		/* replace the one that expires first */
		uint16_t old = 0;
		for (uint16_t j = 1; j < s->n[f]; j++)
			if (s->p[f][j].expires < s->p[f][old].expires)
				old = j;
		s->p[f][old].addr = *peer;
		s->p[f][old].expires = now + STORE_EXPIRY_MS;
		return;
	}
	if (s->n[f] == s->cap[f]) {
		unsigned ncap = s->cap[f] ? s->cap[f] * 2u : 4u;
		if (ncap > d->store_peers)
			ncap = d->store_peers;
		struct speer *np = realloc(s->p[f], ncap * sizeof(*np));
		if (!np)
			return;
		s->p[f] = np;
		s->cap[f] = (uint16_t)ncap;
	}
	s->p[f][s->n[f]].addr = *peer;
	s->p[f][s->n[f]].expires = now + STORE_EXPIRY_MS;
	s->n[f]++;
}

/* Up to VALUES_PER_REPLY4/6 live peers of family FI for IH into M. */
static void store_values(struct bt_dht *d, const uint8_t *ih, int fi,
			 struct bt_krpc_msg *m, uint64_t now)
{
	bool found;
	unsigned i = store_find(d, ih, &found);
	if (!found)
		return;
	struct sih *s = &d->store[i];
	uint16_t n = s->n[fi];
	if (!n)
		return;
	m->has_values = true;
	unsigned most = fi ? VALUES_PER_REPLY6 : VALUES_PER_REPLY4;
	/* rotate, so that every peer gets handed out */
	for (uint16_t k = 0; k < n && m->n_values < most; k++) {
		const struct speer *p = &s->p[fi][(s->rot[fi] + k) % n];
		if (p->expires > now)
			m->values[m->n_values++] = p->addr;
	}
	s->rot[fi] = (uint16_t)((s->rot[fi] + m->n_values) % n);
}

/* ---- sending ------------------------------------------------------------ */

static void send_msg(struct bt_dht *d, const struct bt_addr *to,
		     const struct bt_krpc_msg *m)
{
	d->out.len = 0;
	d->out.err = 0;
	if (!allowed(d, to) || bt_krpc_encode(m, &d->out))
		return;
	d->st.sent++;
	d->send(d->arg, to, d->out.buf, d->out.len);
}

static void query_init(struct bt_dht *d, struct bt_krpc_msg *q,
		       enum bt_krpc_method method)
{
	memset(q, 0, offsetof(struct bt_krpc_msg, nodes));
	q->n_nodes = q->n_nodes6 = 0;
	q->n_values = 0;
	q->has_values = false;
	q->type = BT_KRPC_QUERY;
	q->method = method;
	memcpy(q->id, d->id, ID_LEN);
	q->has_id = true;
	size_t vl = strnlen(d->version, sizeof(d->version));
	memcpy(q->version, d->version, vl);
	q->version_len = (uint8_t)vl;
}

/* Sends Q (tid filled here) as a new transaction. */
static struct tx *send_query(struct bt_dht *d, const struct bt_addr *to,
			     struct bt_krpc_msg *q, enum tx_kind kind,
			     const uint8_t *id, uint64_t now)
{
	struct tx *t = tx_new(d, q->tid);
	if (!t)
		return NULL;
	q->tid_len = 4;
	t->kind = (uint8_t)kind;
	t->to = *to;
	t->sent = now;
	if (id) {
		t->has_id = true;
		memcpy(t->id, id, ID_LEN);
	}
	sched(d, now + BT_DHT_TX_TIMEOUT_MS);
	send_msg(d, to, q);
	return t;
}

static void send_ping(struct bt_dht *d, const struct bt_addr *a,
		      const uint8_t *id, uint64_t now)
{
	struct bt_krpc_msg *q = &d->reply;
	query_init(d, q, BT_KRPC_PING);
	send_query(d, a, q, TX_PING, id, now);
}

static void reply_init(struct bt_dht *d, struct bt_krpc_msg *r,
		       const struct bt_krpc_msg *q, const struct bt_addr *to,
		       enum bt_krpc_type type)
{
	memset(r, 0, offsetof(struct bt_krpc_msg, nodes));
	r->n_nodes = r->n_nodes6 = 0;
	r->n_values = 0;
	r->has_values = false;
	r->type = type;
	memcpy(r->tid, q->tid, q->tid_len);
	r->tid_len = q->tid_len;
	memcpy(r->id, d->id, ID_LEN);
	r->has_id = true;
	r->has_ip = true; /* BEP 42: tell the querier its address */
	r->ip = *to;
	size_t vl = strnlen(d->version, sizeof(d->version));
	memcpy(r->version, d->version, vl);
	r->version_len = (uint8_t)vl;
}

static void send_error(struct bt_dht *d, const struct bt_krpc_msg *q,
		       const struct bt_addr *to, int code, const char *text)
{
	struct bt_krpc_msg *r = &d->reply;
	reply_init(d, r, q, to, BT_KRPC_ERROR);
	r->error_code = code;
	size_t n = strlen(text);
	if (n >= sizeof(r->error_msg))
		n = sizeof(r->error_msg) - 1;
	memcpy(r->error_msg, text, n);
	r->error_msg[n] = '\0';
	send_msg(d, to, r);
}

/* ---- lookups ------------------------------------------------------------ */

static struct search *search_by_id(const struct bt_dht *d, int id)
{
	if (id <= 0)
		return NULL;
	for (unsigned i = 0; i < d->max_searches; i++)
		if (d->searches[i] && d->searches[i]->id == id)
			return d->searches[i];
	return NULL;
}

static unsigned search_count(const struct bt_dht *d)
{
	unsigned n = 0;
	for (unsigned i = 0; i < d->max_searches; i++)
		n += d->searches[i] != NULL;
	return n;
}

/* Where candidate C goes in S's order: id-less bootstrap contacts first,
 * then by distance to the target. */
static unsigned cand_pos(const struct search *s, const struct cand *c)
{
	unsigned lo = 0, hi = s->n;
	if (!c->has_id) {
		while (lo < s->n && !s->c[lo].has_id)
			lo++;
		return lo;
	}
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct cand *m = &s->c[mid];
		if (!m->has_id || dist_cmp(s->target, m->id, c->id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct cand *cand_find_addr(struct search *s, const struct bt_addr *a)
{
	for (unsigned i = 0; i < s->n; i++)
		if (bt_addr_equal(&s->c[i].addr, a))
			return &s->c[i];
	return NULL;
}

/* Adds C to S unless it is there already (by address, id or, unless
 * allowed, IP) or farther than all of a full list. Returns its slot or
 * NULL. */
static struct cand *cand_add(struct bt_dht *d, struct search *s,
			     const struct cand *c)
{
	if ((c->has_id && !memcmp(c->id, d->id, ID_LEN)) ||
	    !bt_addr_usable(&c->addr) || fam_index(&c->addr) != s->fi ||
	    is_self(d, &c->addr) || !allowed(d, &c->addr))
		return NULL;
	for (unsigned i = 0; i < s->n; i++) {
		const struct cand *x = &s->c[i];
		if (bt_addr_equal(&x->addr, &c->addr) ||
		    (c->has_id && x->has_id && !memcmp(x->id, c->id, ID_LEN)) ||
		    (!d->allow_same_ip && bt_addr_same_ip(&x->addr, &c->addr)))
			return NULL;
	}
	unsigned pos = cand_pos(s, c);
	if (s->n == SEARCH_CANDS) {
		/* evict the farthest that is not awaiting a reply */
		unsigned v = s->n;
		while (v-- > pos)
			if (s->c[v].state != C_SENT)
				break;
		if (v == (unsigned)-1 || v < pos || s->c[v].state == C_SENT)
			return NULL;
		memmove(&s->c[v], &s->c[v + 1], (s->n - v - 1) * sizeof(*c));
		s->n--;
	}
	memmove(&s->c[pos + 1], &s->c[pos], (s->n - pos) * sizeof(*c));
	s->c[pos] = *c;
	s->n++;
	return &s->c[pos];
}

/* Candidate C failed for good. */
static void cand_failed(struct search *s, struct cand *c)
{
	c->state = C_FAILED;
	if (!c->ref)
		return;
	struct ref *r = &s->refs[c->ref - 1];
	if (r->failed < 255)
		r->failed++;
	if (r->ok || r->failed < REF_DISTRUST || r->distrusted)
		return;
	r->distrusted = true;
	for (unsigned i = 0; i < s->n; i++)
		if (s->c[i].ref == c->ref && s->c[i].state == C_NEW)
			s->c[i].state = C_FAILED;
}

/* The ref number (index + 1) of responder A, made when new; 0 when the
 * table is full. */
static uint8_t ref_of(struct search *s, const struct bt_addr *a)
{
	for (unsigned i = 0; i < s->nrefs; i++)
		if (bt_addr_equal(&s->refs[i].addr, a))
			return (uint8_t)(i + 1);
	if (s->nrefs >= SEARCH_REFS)
		return 0;
	memset(&s->refs[s->nrefs], 0, sizeof(s->refs[0]));
	s->refs[s->nrefs].addr = *a;
	return (uint8_t)++s->nrefs;
}

static void search_send(struct bt_dht *d, struct search *s, struct cand *c,
			uint64_t now)
{
	struct bt_krpc_msg *q = &d->reply;
	query_init(d, q,
		   s->kind == BT_DHT_GET_PEERS ? BT_KRPC_GET_PEERS
					       : BT_KRPC_FIND_NODE);
	memcpy(q->target, s->target, ID_LEN);
	/* BEP 32: while the other family's table is short of nodes, ask
	 * for both (what comes back seeds that table's bootstrap) */
	int other = !s->fi;
	if ((d->families & fam_bit(other)) &&
	    table_good(&d->tab[other], now) < BT_DHT_K)
		q->want = BT_KRPC_WANT_N4 | BT_KRPC_WANT_N6;
	struct tx *t = send_query(d, &c->addr, q, TX_SEARCH,
				  c->has_id ? c->id : NULL, now);
	if (!t)
		return; /* no transaction slot: retried on the next run */
	t->search = s->id;
	c->state = C_SENT;
	c->tries++;
	c->sent = now;
	s->queries++;
	sched(d, now + soft_timeout(d));
}

static void search_finish(struct bt_dht *d, struct search *s, uint64_t now);

/* Advances S: soft timeouts, new queries to the closest unqueried nodes,
 * and the end when the k closest have answered (or the bounds are
 * reached). With MAY_FINISH false the end is left to the next run. */
static void search_step(struct bt_dht *d, struct search *s, uint64_t now,
			bool may_finish)
{
	unsigned inflight = 0;
	for (unsigned i = 0; i < s->n; i++) {
		struct cand *c = &s->c[i];
		if (c->state != C_SENT)
			continue;
		if (now < c->sent + soft_timeout(d))
			inflight++;
		else if (c->tries < SEARCH_TRIES)
			c->state = C_NEW;
		else
			cand_failed(s, c);
	}
	bool pending = false, blocked = false;
	unsigned seen = 0;
	for (unsigned i = 0; i < s->n && seen < BT_DHT_K; i++) {
		struct cand *c = &s->c[i];
		if (c->state == C_FAILED)
			continue;
		seen++;
		if (c->state == C_REPLIED)
			continue;
		pending = true;
		if (c->state == C_SENT)
			continue;
		if (inflight >= d->alpha || s->queries >= d->max_queries) {
			blocked = true;
			continue;
		}
		search_send(d, s, c, now);
		if (c->state == C_SENT)
			inflight++;
		else
			sched(d, now + 100); /* no transaction slot */
	}
	bool done = !pending || now >= s->started + d->max_ms ||
		    (blocked && !inflight && s->queries >= d->max_queries);
	if (done) {
		if (may_finish)
			search_finish(d, s, now);
		else {
			s->finish_due = true;
			sched(d, now);
		}
		return;
	}
	for (unsigned i = 0; i < s->n; i++)
		if (s->c[i].state == C_SENT)
			sched(d, s->c[i].sent + soft_timeout(d));
	sched(d, s->started + d->max_ms);
}

static void search_free(struct bt_dht *d, struct search *s)
{
	for (unsigned i = 0; i < d->max_searches; i++)
		if (d->searches[i] == s)
			d->searches[i] = NULL;
	free(s->peers);
	free(s);
}

static struct ann *ann_find(struct bt_dht *d, const uint8_t *ih)
{
	for (unsigned i = 0; i < d->nann; i++)
		if (!memcmp(d->ann[i].ih, ih, ID_LEN))
			return &d->ann[i];
	return NULL;
}

static void search_finish(struct bt_dht *d, struct search *s, uint64_t now)
{
	struct bt_dht_search_result r;
	memset(&r, 0, sizeof(r));
	r.id = s->id;
	r.kind = s->kind;
	r.family = (int)fam_bit(s->fi);
	r.announce = s->announce;
	memcpy(r.target, s->target, ID_LEN);
	for (unsigned i = 0; i < s->n && r.n_nodes < BT_DHT_K; i++) {
		struct cand *c = &s->c[i];
		if (c->state != C_REPLIED || !c->has_id)
			continue;
		memcpy(r.nodes[r.n_nodes].id, c->id, ID_LEN);
		r.nodes[r.n_nodes].addr = c->addr;
		r.n_nodes++;
		if (c->hop > r.hops)
			r.hops = c->hop;
		if (s->send_announce && c->token_len) {
			struct bt_krpc_msg *q = &d->reply;
			query_init(d, q, BT_KRPC_ANNOUNCE_PEER);
			memcpy(q->target, s->target, ID_LEN);
			q->port = s->port;
			q->implied_port = s->implied_port;
			memcpy(q->token, c->token, c->token_len);
			q->token_len = c->token_len;
			if (send_query(d, &c->addr, q, TX_ANNOUNCE, c->id, now))
				r.announced++;
		}
	}
	r.queries = s->queries;
	r.replies = s->replies;
	r.peers = s->npeers;
	r.ms = age(now, s->started);

	struct table *t = &d->tab[s->fi];
	if (t->boot_search == s->id) {
		t->boot_search = 0;
		if (table_good(t, now) >= BT_DHT_K)
			t->boot_backoff = BOOT_MIN_MS;
	}
	if (s->announce) {
		struct ann *a = ann_find(d, s->target);
		if (a && a->running[s->fi] == s->id) {
			int f = s->fi;
			a->running[f] = 0;
			/* a small or bootstrapping table: try again soon */
			if (r.n_nodes < BT_DHT_K) {
				a->retry[f] = a->retry[f] ? a->retry[f] * 2
							  : ANN_RETRY_MS;
				if (a->retry[f] > BT_DHT_REANNOUNCE_MS)
					a->retry[f] = BT_DHT_REANNOUNCE_MS;
				a->next[f] = now + a->retry[f];
				sched(d, a->next[f]);
			} else {
				a->retry[f] = 0;
			}
		}
	}
	bool report = !s->internal && d->on_done;
	search_free(d, s);
	if (report)
		d->on_done(d->arg, &r);
}

/* Seeds S from the table and, while the table is short of nodes, from the
 * bootstrap contacts and seeds. */
static void search_seed(struct bt_dht *d, struct search *s, bool boot)
{
	struct bt_krpc_node near[SEARCH_SEEDS];
	size_t n =
	    table_closest(d, s->fi, s->target, false, near, SEARCH_SEEDS);
	for (size_t i = 0; i < n; i++) {
		struct cand c = {
		    .has_id = true, .addr = near[i].addr, .hop = 1};
		memcpy(c.id, near[i].id, ID_LEN);
		cand_add(d, s, &c);
	}
	struct table *t = &d->tab[s->fi];
	if (!boot && table_good(t, d->now) >= BT_DHT_K)
		return;
	for (unsigned i = 0; i < d->nuser; i++) {
		if (fam_index(&d->user[i].addr) != s->fi)
			continue;
		struct cand c = {.addr = d->user[i].addr, .hop = 1};
		cand_add(d, s, &c);
	}
	for (unsigned i = 0; i < t->nseeds; i++) {
		struct cand c = {.has_id = t->seeds[i].has_id,
				 .addr = t->seeds[i].addr,
				 .hop = 1};
		memcpy(c.id, t->seeds[i].id, ID_LEN);
		cand_add(d, s, &c);
	}
	if (boot)
		t->nseeds = 0; /* each seed is tried once */
}

static struct search *search_start(struct bt_dht *d, const uint8_t *target,
				   int kind, int fi, bool internal, bool boot,
				   uint64_t now, int *err)
{
	unsigned slot = d->max_searches;
	for (unsigned i = 0; i < d->max_searches; i++)
		if (!d->searches[i]) {
			slot = i;
			break;
		}
	if (slot == d->max_searches) {
		*err = -EBUSY;
		return NULL;
	}
	struct search *s = calloc(1, sizeof(*s));
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	if (kind == BT_DHT_GET_PEERS) {
		s->peers = calloc(BT_DHT_SEARCH_PEERS, sizeof(*s->peers));
		if (!s->peers) {
			free(s);
			*err = -ENOMEM;
			return NULL;
		}
	}
	if (d->next_search_id == INT32_MAX)
		d->next_search_id = 0;
	s->id = ++d->next_search_id;
	s->kind = (uint8_t)kind;
	s->fi = (uint8_t)fi;
	s->internal = internal;
	s->started = now;
	memcpy(s->target, target, ID_LEN);
	d->searches[slot] = s;
	search_seed(d, s, boot);
	search_step(d, s, now, false);
	return s;
}

/* A reply to one of S's queries, from candidate C (or a node the lookup did
 * not know under that address). Peers found go to PEERS (up to MAXP; their
 * count in *NP), delivered by the caller once the lookup is left alone. */
static void search_reply(struct bt_dht *d, struct search *s, struct tx *t,
			 const struct bt_krpc_msg *m,
			 const struct bt_addr *from, struct bt_addr *peers,
			 size_t maxp, size_t *np)
{
	struct cand *c = cand_find_addr(s, from);
	if (!c)
		return;
	uint8_t hop = c->hop;
	if (t->has_id && memcmp(t->id, m->id, ID_LEN)) {
		/* another node answers at this address: the id we were
		 * given was a lie (or stale); take the node as it is */
		struct cand nc = {
		    .has_id = true, .addr = *from, .hop = hop, .state = C_SENT};
		memcpy(nc.id, m->id, ID_LEN);
		cand_failed(s, c); /* counts against who named it */
		/* the old slot holds that address: drop it first */
		unsigned i = (unsigned)(c - s->c);
		memmove(&s->c[i], &s->c[i + 1], (s->n - i - 1) * sizeof(*c));
		s->n--;
		c = cand_add(d, s, &nc);
		if (!c)
			return;
	} else if (!c->has_id) {
		/* a bootstrap contact: now we know its id; re-sort */
		struct cand nc = *c;
		unsigned i = (unsigned)(c - s->c);
		memmove(&s->c[i], &s->c[i + 1], (s->n - i - 1) * sizeof(*c));
		s->n--;
		nc.has_id = true;
		memcpy(nc.id, m->id, ID_LEN);
		c = cand_add(d, s, &nc);
		if (!c)
			return;
	}
	if (c->state == C_REPLIED)
		return; /* a retry's second answer */
	c->state = C_REPLIED;
	s->replies++;
	if (c->ref && s->refs[c->ref - 1].ok < 255)
		s->refs[c->ref - 1].ok++;
	uint8_t ref = ref_of(s, from);
	if (ref && s->refs[ref - 1].distrusted)
		return;
	c->token_len = m->token_len;
	memcpy(c->token, m->token, m->token_len);

	const struct bt_krpc_node *nodes = s->fi ? m->nodes6 : m->nodes;
	uint8_t nn = s->fi ? m->n_nodes6 : m->n_nodes;
	for (uint8_t i = 0; i < nn; i++) {
		struct cand x = {.has_id = true,
				 .addr = nodes[i].addr,
				 .ref = ref,
				 .hop = (uint8_t)(hop < 254 ? hop + 1 : 255)};
		memcpy(x.id, nodes[i].id, ID_LEN);
		cand_add(d, s, &x);
	}
	/* the other family's nodes seed its bootstrap */
	int other = !s->fi;
	const struct bt_krpc_node *on = other ? m->nodes6 : m->nodes;
	uint8_t onn = other ? m->n_nodes6 : m->n_nodes;
	struct table *ot = &d->tab[other];
	for (uint8_t i = 0; i < onn && (d->families & fam_bit(other)); i++) {
		if (ot->nseeds >= BOOT_SEED_MAX || !bt_addr_usable(&on[i].addr))
			break;
		struct boot *b = &ot->seeds[ot->nseeds++];
		b->addr = on[i].addr;
		b->has_id = true;
		memcpy(b->id, on[i].id, ID_LEN);
		sched(d, d->now);
	}
	if (s->kind != BT_DHT_GET_PEERS)
		return;
	for (uint16_t i = 0; i < m->n_values; i++) {
		const struct bt_addr *p = &m->values[i];
		if (!bt_addr_usable(p) || s->npeers >= BT_DHT_SEARCH_PEERS)
			continue;
		bool dup = false;
		for (unsigned k = 0; k < s->npeers && !dup; k++)
			dup = bt_addr_equal(&s->peers[k], p);
		if (dup)
			continue;
		s->peers[s->npeers++] = *p;
		if (*np < maxp)
			peers[(*np)++] = *p;
	}
}

/* ---- public: lifetime --------------------------------------------------- */

static void state_load(struct bt_dht *d, const uint8_t *buf, size_t len);

struct bt_dht *bt_dht_new(const struct bt_dht_opts *o, int *err)
{
	int rc = -EINVAL;
	struct bt_dht *d = NULL;
	if (!o || !o->send)
		goto fail;
	if (o->families & ~(unsigned)(BT_DHT_V4 | BT_DHT_V6))
		goto fail;
	rc = -ENOMEM;
	d = calloc(1, sizeof(*d));
	if (!d)
		goto fail;
	d->rng = o->seed ^ 0x5851f42d4c957f2dull;
	d->families = o->families ? o->families : BT_DHT_V4;
	d->send = o->send;
	d->on_peers = o->on_peers;
	d->on_done = o->on_done;
	d->arg = o->arg;
	memcpy(d->version, o->version, sizeof(d->version));
	d->alpha = o->alpha ? o->alpha : BT_DHT_ALPHA;
	d->max_queries = o->search_max_queries ? o->search_max_queries
					       : BT_DHT_SEARCH_MAX_QUERIES;
	d->max_ms = o->search_max_ms ? o->search_max_ms : BT_DHT_SEARCH_MAX_MS;
	d->max_searches = o->max_searches ? o->max_searches : 32;
	d->max_ann = o->max_announces ? o->max_announces : 1024;
	d->rate = o->rate ? o->rate : 400;
	d->rate_ip = o->rate_per_ip ? o->rate_per_ip : 8;
	d->store_hashes = o->store_hashes ? o->store_hashes : 1024;
	d->store_peers = o->store_peers ? o->store_peers : 128;
	if (d->store_peers > 65535)
		d->store_peers = 65535;
	d->allow_same_ip = o->allow_same_ip;
	d->allow = o->allow;
	d->state_nodes_only = o->state_nodes_only;
	d->next_search_id = 0;
	d->next = UINT64_MAX;
	d->searches = calloc(d->max_searches, sizeof(*d->searches));
	if (!d->searches)
		goto fail;
	if (o->has_id)
		memcpy(d->id, o->id, ID_LEN);
	else
		rng_bytes(&d->rng, d->id, ID_LEN);
	for (int f = 0; f < 2; f++)
		if (table_init(&d->tab[f], 0))
			goto fail;
	rng_bytes(&d->rng, d->secret[0], 16);
	rng_bytes(&d->rng, d->secret[1], 16);
	d->rl_key = rng_next(&d->rng);
	d->credit = (uint64_t)d->rate * 1000;
	bt_benc_init(&d->out);
	if (o->state && o->state_len)
		state_load(d, o->state, o->state_len);
	d->next = 0; /* the first run bootstraps */
	return d;
fail:
	bt_dht_free(d);
	if (err)
		*err = rc;
	return NULL;
}

void bt_dht_free(struct bt_dht *d)
{
	if (!d)
		return;
	if (d->searches) {
		for (unsigned i = 0; i < d->max_searches; i++)
			if (d->searches[i]) {
				free(d->searches[i]->peers);
				free(d->searches[i]);
			}
		free(d->searches);
	}
	for (int f = 0; f < 2; f++)
		free(d->tab[f].b);
	for (unsigned i = 0; i < d->nstore; i++) {
		free(d->store[i].p[0]);
		free(d->store[i].p[1]);
	}
	free(d->store);
	free(d->ann);
	bt_benc_release(&d->out);
	free(d);
}

/* ---- public: the caller's contacts -------------------------------------- */

int bt_dht_add_bootstrap(struct bt_dht *d, const struct bt_addr *a,
			 uint64_t now)
{
	if (!bt_addr_usable(a) || !allowed(d, a))
		return -EINVAL;
	if (!(d->families & fam_bit(fam_index(a))))
		return -EAFNOSUPPORT;
	d->now = now;
	for (unsigned i = 0; i < d->nuser; i++)
		if (bt_addr_equal(&d->user[i].addr, a))
			return 0;
	if (d->nuser >= BOOT_USER_MAX)
		return -ENOSPC;
	memset(&d->user[d->nuser], 0, sizeof(d->user[0]));
	d->user[d->nuser++].addr = *a;
	struct table *t = &d->tab[fam_index(a)];
	t->boot_next = now;
	t->boot_backoff = BOOT_MIN_MS;
	sched(d, now);
	return 0;
}

int bt_dht_ping(struct bt_dht *d, const struct bt_addr *a, uint64_t now)
{
	if (!bt_addr_usable(a) || !allowed(d, a))
		return -EINVAL;
	if (!(d->families & fam_bit(fam_index(a))))
		return -EAFNOSUPPORT;
	d->now = now;
	struct bt_krpc_msg *q = &d->reply;
	query_init(d, q, BT_KRPC_PING);
	return send_query(d, a, q, TX_PING, NULL, now) ? 0 : -EBUSY;
}

int bt_dht_search(struct bt_dht *d, const uint8_t target[20],
		  enum bt_dht_search_kind kind, int family, uint64_t now)
{
	int err = 0;
	if (kind != BT_DHT_FIND_NODE && kind != BT_DHT_GET_PEERS)
		return -EINVAL;
	if (family != BT_DHT_V4 && family != BT_DHT_V6)
		return -EINVAL;
	if (!(d->families & (unsigned)family))
		return -EAFNOSUPPORT;
	d->now = now;
	struct search *s = search_start(d, target, kind, family == BT_DHT_V6,
					false, false, now, &err);
	return s ? s->id : err;
}

int bt_dht_announce(struct bt_dht *d, const uint8_t info_hash[20],
		    uint16_t port, unsigned flags, uint64_t now)
{
	if (!(flags & BT_DHT_ANNOUNCE_SEARCH_ONLY) && !port &&
	    !(flags & BT_DHT_ANNOUNCE_IMPLIED_PORT))
		return -EINVAL;
	d->now = now;
	struct ann *a = ann_find(d, info_hash);
	if (!a) {
		if (d->nann >= d->max_ann)
			return -ENOSPC;
		struct ann *na = realloc(d->ann, (d->nann + 1) * sizeof(*na));
		if (!na)
			return -ENOMEM;
		d->ann = na;
		a = &d->ann[d->nann++];
		memset(a, 0, sizeof(*a));
		memcpy(a->ih, info_hash, ID_LEN);
	} else {
		for (int f = 0; f < 2; f++)
			if (!a->running[f] &&
			    age(now, a->last_start[f]) >= RESEARCH_MIN_MS)
				a->next[f] = now;
	}
	a->port = port;
	a->flags = flags;
	sched(d, now);
	return 0;
}

int bt_dht_unannounce(struct bt_dht *d, const uint8_t info_hash[20])
{
	struct ann *a = ann_find(d, info_hash);
	if (!a)
		return -ENOENT;
	for (int f = 0; f < 2; f++) {
		struct search *s = search_by_id(d, a->running[f]);
		if (s)
			search_free(d, s);
	}
	*a = d->ann[--d->nann];
	return 0;
}

/* ---- input -------------------------------------------------------------- */

static void nodes_for(struct bt_dht *d, const struct bt_krpc_msg *q, int fi,
		      struct bt_krpc_msg *r)
{
	uint8_t want = q->want;
	if (!want)
		want = fi ? BT_KRPC_WANT_N6 : BT_KRPC_WANT_N4;
	if ((want & BT_KRPC_WANT_N4) && (d->families & BT_DHT_V4))
		r->n_nodes = (uint8_t)table_closest(d, 0, q->target, true,
						    r->nodes, BT_DHT_K);
	if ((want & BT_KRPC_WANT_N6) && (d->families & BT_DHT_V6))
		r->n_nodes6 = (uint8_t)table_closest(d, 1, q->target, true,
						     r->nodes6, BT_DHT_K);
}

static void handle_query(struct bt_dht *d, const struct bt_krpc_msg *q,
			 const struct bt_addr *from, uint64_t now)
{
	int fi = fam_index(from);
	struct bt_krpc_msg *r = &d->reply;
	if (!rate_ok(d, from, now)) {
		d->st.dropped_rate++;
		strike(d, from, STRIKE_RATE, now);
		return;
	}
	if (q->method == BT_KRPC_UNKNOWN) {
		send_error(d, q, from, BT_KRPC_ERR_METHOD, "method unknown");
		return;
	}
	d->st.queries_in++;
	if (!q->read_only)
		table_heard(d, fi, q->id, from, false, now);
	reply_init(d, r, q, from, BT_KRPC_RESPONSE);
	switch (q->method) {
	case BT_KRPC_PING:
		break;
	case BT_KRPC_FIND_NODE:
		nodes_for(d, q, fi, r);
		break;
	case BT_KRPC_GET_PEERS:
		if (make_token(d, 0, from, r->token) == 0)
			r->token_len = TOKEN_LEN;
		store_values(d, q->target, fi, r, now);
		nodes_for(d, q, fi, r);
		break;
	case BT_KRPC_ANNOUNCE_PEER: {
		if (!token_ok(d, from, q->token, q->token_len)) {
			d->st.bad_tokens++;
			strike(d, from, STRIKE_TOKEN, now);
			send_error(d, q, from, BT_KRPC_ERR_PROTOCOL,
				   "bad token");
			return;
		}
		struct bt_addr peer = *from;
		if (!q->implied_port)
			peer.port = q->port;
		if (bt_addr_usable(&peer))
			store_add(d, q->target, &peer, now);
		break;
	}
	default:
		return;
	}
	send_msg(d, from, r);
}

static void deliver_peers(struct bt_dht *d, const uint8_t *ih,
			  const struct bt_addr *peers, size_t n)
{
	if (n && d->on_peers) {
		uint8_t copy[ID_LEN];
		memcpy(copy, ih, ID_LEN);
		d->on_peers(d->arg, copy, peers, n);
	}
}

static void handle_reply(struct bt_dht *d, struct bt_krpc_msg *m, int rc,
			 const struct bt_addr *from, uint64_t now)
{
	struct tx *t = tx_match(d, m, from);
	if (!t) {
		d->st.unsolicited++;
		return;
	}
	enum tx_kind kind = (enum tx_kind)t->kind;
	int sid = t->search;
	rtt_sample(d, age(now, t->sent));
	struct search *s = kind == TX_SEARCH ? search_by_id(d, sid) : NULL;
	bool ok = rc == 0 && m->type == BT_KRPC_RESPONSE &&
		  memcmp(m->id, d->id, ID_LEN) != 0;
	if (!ok) {
		/* an error, or a reply we cannot use: that query failed */
		if (rc)
			strike(d, from, STRIKE_INVALID, now);
		if (s) {
			struct cand *c = cand_find_addr(s, from);
			if (c && c->state != C_REPLIED)
				cand_failed(s, c);
			search_step(d, s, now, true);
		}
		tx_free(d, t);
		return;
	}
	int fi = fam_index(from);
	if (t->has_id && memcmp(t->id, m->id, ID_LEN))
		table_forget(d, from, t->id);
	table_heard(d, fi, m->id, from, true, now);
	struct bt_addr peers[BT_KRPC_MAX_VALUES];
	size_t np = 0;
	uint8_t ih[ID_LEN];
	if (s) {
		memcpy(ih, s->target, ID_LEN);
		search_reply(d, s, t, m, from, peers, BT_KRPC_MAX_VALUES, &np);
	}
	tx_free(d, t);
	if (!s)
		return;
	deliver_peers(d, ih, peers, np);
	/* the callback may have cancelled the lookup */
	s = search_by_id(d, sid);
	if (s)
		search_step(d, s, now, true);
}

int bt_dht_input(struct bt_dht *d, const uint8_t *buf, size_t len,
		 const struct bt_addr *from, uint64_t now)
{
	d->now = now;
	if (!from || !bt_addr_usable(from))
		return -EINVAL;
	if (!(d->families & fam_bit(fam_index(from))))
		return -EAFNOSUPPORT;
	d->st.received++;
	if (ignored(d, from, now) || !allowed(d, from)) {
		d->st.dropped_ignored++;
		return 0;
	}
	struct bt_krpc_msg *m = &d->msg;
	int rc = bt_krpc_parse(buf, len, m);
	if (rc == -EINVAL) {
		d->st.dropped_bad++;
		strike(d, from, STRIKE_GARBAGE, now);
		return rc;
	}
	if (m->type == BT_KRPC_QUERY && !rc && m->has_id &&
	    !memcmp(m->id, d->id, ID_LEN)) {
		/* our own query came back: FROM is us (someone named our
		 * address under another id); remember it, answer nothing */
		if (!is_self(d, from) && d->nself < 4)
			d->self[d->nself++] = *from;
		return -EPROTO;
	}
	if (m->type == BT_KRPC_QUERY) {
		if (rc) {
			d->st.dropped_bad++;
			strike(d, from, STRIKE_INVALID, now);
			if (rate_ok(d, from, now))
				send_error(d, m, from, BT_KRPC_ERR_PROTOCOL,
					   "invalid query");
			return rc;
		}
		handle_query(d, m, from, now);
		return 0;
	}
	if (rc)
		d->st.dropped_bad++;
	handle_reply(d, m, rc, from, now);
	return rc;
}

/* ---- periodic ----------------------------------------------------------- */

static void run_timeouts(struct bt_dht *d, uint64_t now)
{
	unsigned left = d->pending;
	for (unsigned i = 0; i < MAX_TX && left; i++) {
		struct tx *t = &d->tx[i];
		if (!t->used)
			continue;
		left--;
		if (now < t->sent + BT_DHT_TX_TIMEOUT_MS) {
			sched(d, t->sent + BT_DHT_TX_TIMEOUT_MS);
			continue;
		}
		struct bt_addr to = t->to;
		bool has_id = t->has_id;
		uint8_t id[ID_LEN];
		memcpy(id, t->id, ID_LEN);
		tx_free(d, t);
		table_failed(d, &to, has_id, id);
	}
}

static void run_searches(struct bt_dht *d, uint64_t now)
{
	for (unsigned i = 0; i < d->max_searches; i++) {
		struct search *s = d->searches[i];
		if (!s)
			continue;
		if (s->finish_due)
			search_finish(d, s, now);
		else
			search_step(d, s, now, true);
	}
}

static void run_table(struct bt_dht *d, int fi, uint64_t now)
{
	struct table *t = &d->tab[fi];
	int err;
	/* bootstrap while short of good nodes */
	unsigned good = table_good(t, now);
	bool have_contacts = t->nseeds > 0;
	for (unsigned i = 0; i < d->nuser && !have_contacts; i++)
		have_contacts = fam_index(&d->user[i].addr) == fi;
	if (good < BT_DHT_K && !t->boot_search &&
	    (have_contacts || table_size(t) > 0)) {
		if (now >= t->boot_next) {
			struct search *s =
			    search_start(d, d->id, BT_DHT_FIND_NODE, fi, true,
					 true, now, &err);
			if (s)
				t->boot_search = s->id;
			t->boot_next = now + t->boot_backoff;
			t->boot_backoff = t->boot_backoff * 2 > BOOT_MAX_MS
					      ? BOOT_MAX_MS
					      : t->boot_backoff * 2;
		}
		sched(d, t->boot_next);
	}
	/* refresh one idle bucket per run */
	if (table_size(t) > 0) {
		for (unsigned bi = 0; bi < t->nb; bi++) {
			struct bucket *b = &t->b[bi];
			if (now < b->changed + REFRESH_MS) {
				sched(d, b->changed + REFRESH_MS);
				continue;
			}
			uint8_t target[ID_LEN];
			random_id_in(d, t, bi, target);
			if (search_start(d, target, BT_DHT_FIND_NODE, fi, true,
					 false, now, &err))
				b->changed = now;
			sched(d, now + 1000); /* the next idle one soon */
			break;
		}
	}
	/* ping questionable nodes, and bad ones now and then */
	unsigned pings = 0;
	for (unsigned bi = 0; bi < t->nb && pings < PINGS_PER_RUN; bi++) {
		struct bucket *b = &t->b[bi];
		for (uint8_t i = 0; i < b->nn && pings < PINGS_PER_RUN; i++) {
			struct node *n = &b->n[i];
			if (node_good(n, now))
				continue;
			uint64_t every = node_bad(n) ? PING_BAD_MS : PING_MS;
			if (n->last_ping && age(now, n->last_ping) < every) {
				sched(d, n->last_ping + every);
				continue;
			}
			n->last_ping = now;
			send_ping(d, &n->addr, n->id, now);
			pings++;
		}
	}
	if (pings >= PINGS_PER_RUN)
		sched(d, now + 1000);
}

static void run_announces(struct bt_dht *d, uint64_t now)
{
	for (unsigned i = 0; i < d->nann; i++) {
		for (int f = 0; f < 2; f++) {
			struct ann *a = &d->ann[i];
			if (!(d->families & fam_bit(f)) || a->running[f])
				continue;
			if (now < a->next[f]) {
				sched(d, a->next[f]);
				continue;
			}
			if (!table_size(&d->tab[f]) || d->tab[f].boot_search) {
				/* wait for the bootstrap (its lookup fills the
				 * table), so the announce reaches the k
				 * closest and not just the first contacts */
				a->next[f] = now + 500;
				sched(d, a->next[f]);
				continue;
			}
			int err;
			uint8_t ih[ID_LEN];
			memcpy(ih, a->ih, ID_LEN);
			struct search *s =
			    search_start(d, ih, BT_DHT_GET_PEERS, f, false,
					 false, now, &err);
			a = &d->ann[i];
			if (!s) {
				a->next[f] = now + 1000;
				sched(d, a->next[f]);
				continue;
			}
			s->announce = true;
			s->send_announce =
			    !(a->flags & BT_DHT_ANNOUNCE_SEARCH_ONLY);
			s->implied_port =
			    (a->flags & BT_DHT_ANNOUNCE_IMPLIED_PORT) != 0;
			s->port = a->port;
			a->running[f] = s->id;
			a->last_start[f] = now;
			a->next[f] = now + BT_DHT_REANNOUNCE_MS;
		}
	}
}

uint64_t bt_dht_periodic(struct bt_dht *d, uint64_t now)
{
	d->now = now;
	d->next = now + IDLE_MS;
	if (age(now, d->secret_t) >= TOKEN_ROTATE_MS)
		rotate_secret(d, now);
	sched(d, d->secret_t + TOKEN_ROTATE_MS);
	if (now >= d->store_sweep)
		store_sweep(d, now);
	sched(d, d->store_sweep);
	run_timeouts(d, now);
	run_searches(d, now);
	for (int f = 0; f < 2; f++)
		if (d->families & fam_bit(f))
			run_table(d, f, now);
	run_announces(d, now);
	if (d->next <= now)
		d->next = now + 1;
	return d->next;
}

uint64_t bt_dht_deadline(const struct bt_dht *d)
{
	return d->next;
}

/* ---- stats and state ---------------------------------------------------- */

void bt_dht_stats(const struct bt_dht *d, struct bt_dht_stats *s, uint64_t now)
{
	*s = d->st;
	for (int f = 0; f < 2; f++) {
		table_counts(&d->tab[f], now, &s->good[f], &s->dubious[f],
			     &s->bad[f], &s->replacements[f]);
		s->buckets[f] = d->tab[f].nb;
	}
	s->store_hashes = d->nstore;
	s->store_peers = 0;
	for (unsigned i = 0; i < d->nstore; i++)
		s->store_peers += d->store[i].n[0] + d->store[i].n[1];
	s->searches = search_count(d);
	s->announces = d->nann;
	s->pending = d->pending;
	s->ignored = 0;
	for (int i = 0; i < RL_SETS; i++)
		for (int w = 0; w < RL_WAYS; w++)
			if (d->rl[i][w].used && d->rl[i][w].ignored_until > now)
				s->ignored++;
	s->state_loaded = d->state_loaded;
	memcpy(s->id, d->id, ID_LEN);
}

void bt_dht_node_count(const struct bt_dht *d, unsigned *good, unsigned *total,
		       uint64_t now)
{
	*good = *total = 0;
	for (int f = 0; f < 2; f++) {
		*good += table_good(&d->tab[f], now);
		*total += table_size(&d->tab[f]);
	}
}

size_t bt_dht_table_nodes(const struct bt_dht *d, int family,
			  struct bt_krpc_node *out, size_t max)
{
	const struct table *t = &d->tab[family == BT_DHT_V6];
	size_t n = 0;
	for (unsigned bi = 0; bi < t->nb; bi++)
		for (uint8_t i = 0; i < t->b[bi].nn; i++, n++)
			if (n < max) {
				memcpy(out[n].id, t->b[bi].n[i].id, ID_LEN);
				out[n].addr = t->b[bi].n[i].addr;
			}
	return n;
}

int bt_dht_save(const struct bt_dht *d, struct bt_benc *b, uint64_t now)
{
	static const char *keys[2] = {"nodes", "nodes6"};
	static const size_t entry[2] = {BT_KRPC_NODE4_LEN, BT_KRPC_NODE6_LEN};
	uint8_t buf[BT_DHT_STATE_MAX_NODES * BT_KRPC_NODE6_LEN];
	bt_benc_dict_begin(b);
	bt_benc_cstr(b, "id");
	bt_benc_str(b, d->id, ID_LEN);
	for (int f = 0; f < 2; f++) {
		const struct table *t = &d->tab[f];
		size_t len = 0, n = 0;
		/* the closest buckets first: they are the hardest to find */
		for (unsigned bi = t->nb;
		     bi-- > 0 && n < BT_DHT_STATE_MAX_NODES;) {
			const struct bucket *bk = &t->b[bi];
			for (uint8_t i = 0;
			     i < bk->nn && n < BT_DHT_STATE_MAX_NODES; i++) {
				const struct node *x = &bk->n[i];
				if (!node_good(x, now))
					continue;
				memcpy(buf + len, x->id, ID_LEN);
				bt_addr_compact(&x->addr, buf + len + ID_LEN);
				len += entry[f];
				n++;
			}
		}
		bt_benc_cstr(b, keys[f]);
		bt_benc_str(b, buf, len);
	}
	bt_benc_end(b);
	return b->err;
}

static void state_load(struct bt_dht *d, const uint8_t *buf, size_t len)
{
	static const char *keys[2] = {"nodes", "nodes6"};
	static const size_t entry[2] = {BT_KRPC_NODE4_LEN, BT_KRPC_NODE6_LEN};
	struct bt_bval *v = NULL;
	if (bt_bdecode(buf, len, &v, NULL, 0))
		return;
	const struct bt_bval *id = bt_bdict_get_str(v, "id");
	const struct bt_bval *ns[2] = {bt_bdict_get_str(v, keys[0]),
				       bt_bdict_get_str(v, keys[1])};
	if (!id || id->s.len != ID_LEN || !ns[0] || !ns[1] ||
	    ns[0]->s.len % entry[0] || ns[1]->s.len % entry[1])
		goto out;
	if (!d->state_nodes_only)
		memcpy(d->id, id->s.p, ID_LEN);
	for (int f = 0; f < 2; f++) {
		struct table *t = &d->tab[f];
		for (size_t off = 0;
		     off < ns[f]->s.len && t->nseeds < BOOT_SEED_MAX;
		     off += entry[f]) {
			struct boot *b = &t->seeds[t->nseeds];
			const uint8_t *p = ns[f]->s.p + off;
			if (bt_addr_from_compact(&b->addr, p + ID_LEN,
						 entry[f] - ID_LEN) ||
			    fam_index(&b->addr) != f ||
			    !bt_addr_usable(&b->addr) || !allowed(d, &b->addr) ||
			    !memcmp(p, d->id, ID_LEN))
				continue;
			memcpy(b->id, p, ID_LEN);
			b->has_id = true;
			t->nseeds++;
		}
	}
	d->state_loaded = true;
out:
	bt_bval_free(v);
}
