/* bt_addrbook — the address book of a torrent; see bt_addrbook.h.
 *
 * Entries live in a dense array (a removal moves the last entry into the
 * hole); an open-addressing table of indexes (linear probing, at most half
 * full, backward-shift deletion) finds them by address. Eviction samples
 * EVICT_SAMPLES entries with a splitmix64 PRNG and drops the least useful
 * evictable one, falling back to a scan only when the sample held none. */
#include "bt_addrbook.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EVICT_SAMPLES 8

struct bt_addrbook {
	struct bt_abentry *e;
	size_t n, max;
	uint32_t *slot; /* index + 1 into e, or 0 */
	size_t nslots;	/* a power of two >= 2 * max */
	uint64_t key, rng, next_order;
	size_t nipbans; /* whole-IP bans made (lookups only when some are) */
	uint32_t retry_min, retry_max, give_up;
};

struct bt_addrbook *bt_addrbook_new(const struct bt_addrbook_opts *o)
{
	struct bt_addrbook *ab = calloc(1, sizeof(*ab));
	if (!ab)
		return NULL;
	ab->max = o && o->max_entries ? o->max_entries : BT_ADDRBOOK_MAX;
	ab->key = o ? o->key : 0;
	ab->rng = (o ? o->seed : 0) ^ 0x2545f4914f6cdd1dull;
	ab->retry_min = o && o->retry_min_ms ? o->retry_min_ms
					     : BT_ADDRBOOK_RETRY_MIN_MS;
	ab->retry_max = o && o->retry_max_ms ? o->retry_max_ms
					     : BT_ADDRBOOK_RETRY_MAX_MS;
	ab->give_up = o && o->give_up_fails ? o->give_up_fails
					    : BT_ADDRBOOK_GIVE_UP;
	ab->nslots = 16;
	while (ab->nslots < 2 * ab->max)
		ab->nslots *= 2;
	ab->e = calloc(ab->max, sizeof(*ab->e));
	ab->slot = calloc(ab->nslots, sizeof(*ab->slot));
	if (!ab->e || !ab->slot) {
		bt_addrbook_free(ab);
		return NULL;
	}
	return ab;
}

void bt_addrbook_free(struct bt_addrbook *ab)
{
	if (!ab)
		return;
	free(ab->e);
	free(ab->slot);
	free(ab);
}

static uint64_t rng_next(struct bt_addrbook *ab)
{
	uint64_t z = (ab->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t home_of(const struct bt_addrbook *ab, const struct bt_addr *a)
{
	return bt_addr_hash(a, ab->key) & (ab->nslots - 1);
}

/* The slot holding A, or the empty slot where it would go. */
static size_t slot_of(const struct bt_addrbook *ab, const struct bt_addr *a)
{
	size_t mask = ab->nslots - 1;
	for (size_t s = home_of(ab, a);; s = (s + 1) & mask) {
		uint32_t i = ab->slot[s];
		if (!i || bt_addr_equal(&ab->e[i - 1].addr, a))
			return s;
	}
}

static struct bt_abentry *find(const struct bt_addrbook *ab,
			       const struct bt_addr *a)
{
	uint32_t i = ab->slot[slot_of(ab, a)];
	return i ? &ab->e[i - 1] : NULL;
}

/* Empty slot S, shifting later members of its probe run back. */
static void slot_delete(struct bt_addrbook *ab, size_t s)
{
	size_t mask = ab->nslots - 1;
	size_t hole = s;
	ab->slot[hole] = 0;
	for (size_t j = (hole + 1) & mask; ab->slot[j]; j = (j + 1) & mask) {
		size_t h = home_of(ab, &ab->e[ab->slot[j] - 1].addr);
		/* it may move into the hole unless its home lies in
		 * (hole, j] cyclically */
		bool stays = hole <= j ? (h > hole && h <= j)
				       : (h > hole || h <= j);
		if (stays)
			continue;
		ab->slot[hole] = ab->slot[j];
		ab->slot[j] = 0;
		hole = j;
	}
}

static void remove_at(struct bt_addrbook *ab, size_t i)
{
	slot_delete(ab, slot_of(ab, &ab->e[i].addr));
	size_t last = ab->n - 1;
	if (i != last) {
		size_t s = slot_of(ab, &ab->e[last].addr);
		ab->e[i] = ab->e[last];
		ab->slot[s] = (uint32_t)i + 1;
	}
	ab->n--;
}

static bool evictable(const struct bt_abentry *e)
{
	return !(e->src & BT_SRC_MANUAL) && !e->connected && !e->banned;
}

/* Lower is less useful: given up, then only known as incoming, then by
 * failures; the oldest goes first among equals. */
static uint64_t value(const struct bt_abentry *e)
{
	uint64_t v;
	if (e->given_up)
		v = 0;
	else if (e->src == BT_SRC_INCOMING)
		v = 1;
	else
		v = 2 + (e->fails < 64 ? 63 - e->fails : 0);
	return v;
}

static bool evict_one(struct bt_addrbook *ab)
{
	size_t best = SIZE_MAX;
	for (int k = 0; k < EVICT_SAMPLES; k++) {
		size_t i = (size_t)(rng_next(ab) % ab->n);
		if (!evictable(&ab->e[i]))
			continue;
		if (best == SIZE_MAX || value(&ab->e[i]) < value(&ab->e[best]) ||
		    (value(&ab->e[i]) == value(&ab->e[best]) &&
		     ab->e[i].order < ab->e[best].order))
			best = i;
	}
	for (size_t i = 0; best == SIZE_MAX && i < ab->n; i++)
		if (evictable(&ab->e[i]))
			best = i;
	if (best == SIZE_MAX)
		return false;
	remove_at(ab, best);
	return true;
}

static struct bt_abentry *add(struct bt_addrbook *ab, const struct bt_addr *a,
			      unsigned src)
{
	size_t s = slot_of(ab, a);
	if (ab->slot[s]) {
		struct bt_abentry *e = &ab->e[ab->slot[s] - 1];
		e->src |= (uint8_t)src;
		return e;
	}
	if (ab->n == ab->max) {
		if (!evict_one(ab))
			return NULL;
		s = slot_of(ab, a); /* the table changed */
	}
	struct bt_abentry *e = &ab->e[ab->n];
	memset(e, 0, sizeof(*e));
	e->addr = *a;
	e->src = (uint8_t)src;
	e->order = ab->next_order++;
	ab->slot[s] = (uint32_t)++ab->n;
	return e;
}

const struct bt_abentry *bt_addrbook_add(struct bt_addrbook *ab,
					 const struct bt_addr *a, unsigned src,
					 uint64_t now)
{
	(void)now;
	if (!bt_addr_usable(a))
		return NULL;
	return add(ab, a, src);
}

const struct bt_abentry *bt_addrbook_find(const struct bt_addrbook *ab,
					  const struct bt_addr *a)
{
	return find(ab, a);
}

size_t bt_addrbook_count(const struct bt_addrbook *ab)
{
	return ab->n;
}

static struct bt_addr ip_key(const struct bt_addr *a)
{
	struct bt_addr k = *a;
	k.port = 0;
	return k;
}

bool bt_addrbook_banned(const struct bt_addrbook *ab, const struct bt_addr *a)
{
	const struct bt_abentry *e = find(ab, a);
	if (e && e->banned)
		return true;
	struct bt_addr k = ip_key(a);
	e = find(ab, &k);
	return e && e->banned;
}

static bool candidate(const struct bt_addrbook *ab, const struct bt_abentry *e,
		      uint64_t now, bool seeding, bool ignore_time)
{
	if (e->connected || e->banned || e->given_up || !e->addr.port ||
	    e->src == BT_SRC_INCOMING || (seeding && e->seed))
		return false;
	if (!ignore_time && e->next_try > now)
		return false;
	return ab->nipbans == 0 || !bt_addrbook_banned(ab, &e->addr);
}

/* A before B in the order of bt_addrbook_next? */
static bool before(const struct bt_abentry *a, const struct bt_abentry *b)
{
	bool ma = a->src & BT_SRC_MANUAL, mb = b->src & BT_SRC_MANUAL;
	if (ma != mb)
		return ma;
	if (a->fails != b->fails)
		return a->fails < b->fails;
	return a->order < b->order;
}

bool bt_addrbook_next(struct bt_addrbook *ab, uint64_t now, bool seeding,
		      struct bt_addr *out)
{
	struct bt_abentry *best = NULL;
	for (size_t i = 0; i < ab->n; i++) {
		struct bt_abentry *e = &ab->e[i];
		if (candidate(ab, e, now, seeding, false) &&
		    (!best || before(e, best)))
			best = e;
	}
	if (!best)
		return false;
	best->connected = true;
	*out = best->addr;
	return true;
}

uint64_t bt_addrbook_next_time(const struct bt_addrbook *ab, uint64_t now,
			       bool seeding)
{
	uint64_t t = UINT64_MAX;
	for (size_t i = 0; i < ab->n; i++) {
		const struct bt_abentry *e = &ab->e[i];
		if (!candidate(ab, e, now, seeding, true))
			continue;
		if (e->next_try <= now)
			return now;
		if (e->next_try < t)
			t = e->next_try;
	}
	return t;
}

bool bt_addrbook_connected(struct bt_addrbook *ab, const struct bt_addr *a,
			   unsigned src, uint64_t now)
{
	(void)now;
	if (bt_addrbook_banned(ab, a))
		return false;
	struct bt_abentry *e = add(ab, a, src);
	if (e)
		e->connected = true;
	/* a full book of unevictable entries still lets the peer in: the
	 * book only forgets it */
	return true;
}

void bt_addrbook_closed(struct bt_addrbook *ab, const struct bt_addr *a,
			enum bt_ab_outcome how, bool worked, bool seed,
			uint64_t now)
{
	struct bt_abentry *e = find(ab, a);
	if (!e)
		return;
	e->connected = false;
	if (how == BT_AB_CONNECT_FAILED) {
		e->fails++;
		e->next_try = now + ab->retry_min;
		return;
	}
	e->seed = seed;
	if (worked) {
		e->fails = 0;
		e->next_try = now + ab->retry_min;
		return;
	}
	e->fails++;
	uint64_t wait = (uint64_t)ab->retry_min
			<< (e->fails < 7 ? e->fails - 1 : 6);
	e->next_try = now + (wait > ab->retry_max ? ab->retry_max : wait);
	if (!(e->src & BT_SRC_MANUAL) && e->fails >= ab->give_up)
		e->given_up = true;
}

void bt_addrbook_ban(struct bt_addrbook *ab, const struct bt_addr *a)
{
	struct bt_abentry *e = add(ab, a, 0);
	if (e)
		e->banned = true;
}

void bt_addrbook_ban_ip(struct bt_addrbook *ab, const struct bt_addr *a)
{
	struct bt_addr k = ip_key(a);
	struct bt_abentry *e = add(ab, &k, 0);
	if (e && !e->banned) {
		e->banned = true;
		ab->nipbans++;
	}
}

int bt_addrbook_check(const struct bt_addrbook *ab)
{
	size_t used = 0;
	if (ab->n > ab->max)
		return -EINVAL;
	for (size_t s = 0; s < ab->nslots; s++) {
		uint32_t i = ab->slot[s];
		if (!i)
			continue;
		used++;
		if (i > ab->n || slot_of(ab, &ab->e[i - 1].addr) != s)
			return -EINVAL;
	}
	return used == ab->n ? 0 : -EINVAL;
}
