/* bt_pexstate — per-peer PEX bookkeeping; see bt_pexstate.h. */
#include "bt_pexstate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct bt_addr));
}

static bool has(const struct bt_addr *v, size_t n, const struct bt_addr *a)
{
	return n && bsearch(a, v, n, sizeof(*v), addr_cmp) != NULL;
}

int bt_pexstate_init(struct bt_pexstate *ps, uint64_t now)
{
	memset(ps, 0, sizeof(*ps));
	ps->told = calloc(BT_PEXSTATE_MAX_TOLD, sizeof(*ps->told));
	if (!ps->told)
		return -ENOMEM;
	ps->next_send = now;
	return 0;
}

void bt_pexstate_release(struct bt_pexstate *ps)
{
	free(ps->told);
	ps->told = NULL;
	ps->ntold = 0;
}

uint64_t bt_pexstate_deadline(const struct bt_pexstate *ps)
{
	return ps->next_send;
}

int bt_pexstate_build(struct bt_pexstate *ps, const struct bt_pex_peer *live,
		      size_t nlive, const struct bt_addr *exclude, uint64_t now,
		      struct bt_benc *b)
{
	if (now < ps->next_send)
		return 0;
	ps->next_send = now + BT_PEXSTATE_INTERVAL_MS;

	/* the live addresses, sorted, to find who was dropped */
	struct bt_addr *sorted = NULL;
	if (nlive) {
		sorted = malloc(nlive * sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
		for (size_t i = 0; i < nlive; i++)
			sorted[i] = live[i].addr;
		qsort(sorted, nlive, sizeof(*sorted), addr_cmp);
	}

	struct bt_pex_peer added[BT_PEX_MAX_PER_MSG];
	struct bt_addr dropped[BT_PEX_MAX_PER_MSG];
	size_t na = 0, nd = 0;
	for (size_t i = 0; i < ps->ntold && nd < BT_PEX_MAX_PER_MSG; i++)
		if (!has(sorted, nlive, &ps->told[i]))
			dropped[nd++] = ps->told[i];
	/* room in what we remember: the dropped leave it */
	size_t room = BT_PEXSTATE_MAX_TOLD - ps->ntold + nd;
	for (size_t i = 0; i < nlive && na < BT_PEX_MAX_PER_MSG && na < room;
	     i++) {
		const struct bt_addr *a = &live[i].addr;
		if ((a->family != BT_ADDR_V4 && a->family != BT_ADDR_V6) ||
		    (exclude && bt_addr_equal(a, exclude)) ||
		    has(ps->told, ps->ntold, a))
			continue;
		bool dup = false;
		for (size_t k = 0; k < na && !dup; k++)
			dup = bt_addr_equal(&added[k].addr, a);
		if (!dup)
			added[na++] = live[i];
	}
	free(sorted);
	if (!na && !nd)
		return 0;

	int rc = bt_pex_build(added, na, dropped, nd, b);
	if (rc < 0)
		return rc;
	/* what the peer knows now: told - dropped + added, kept sorted */
	size_t w = 0;
	for (size_t i = 0; i < ps->ntold; i++) {
		bool gone = false;
		for (size_t k = 0; k < nd && !gone; k++)
			gone = bt_addr_equal(&ps->told[i], &dropped[k]);
		if (!gone)
			ps->told[w++] = ps->told[i];
	}
	for (size_t k = 0; k < na; k++)
		ps->told[w++] = added[k].addr;
	ps->ntold = w;
	qsort(ps->told, ps->ntold, sizeof(*ps->told), addr_cmp);
	return 1;
}

int bt_pexstate_on_msg(struct bt_pexstate *ps, const uint8_t *p, size_t len,
		       uint64_t now, struct bt_pex_msg *m, char *err,
		       size_t errlen)
{
	int rc = bt_pex_parse(p, len, m, err, errlen);
	if (rc == -EPROTO)
		ps->malformed = true;
	if (rc < 0)
		return rc;
	bool first = !ps->got_in;
	if (!first && now - ps->last_in < BT_PEXSTATE_MIN_GAP_MS) {
		ps->violations++;
		m->nadded = m->ndropped = 0;
		return 1;
	}
	ps->got_in = true;
	ps->last_in = now;
	if (m->total_added > BT_PEXSTATE_FLOOD_ADDED)
		ps->violations++;
	size_t keep = first ? BT_PEX_MAX_PARSE : BT_PEX_MAX_PER_MSG;
	if (keep > BT_PEXSTATE_MAX_LEARN - ps->learned)
		keep = BT_PEXSTATE_MAX_LEARN - ps->learned;
	if (m->nadded > keep) {
		m->nskipped += m->nadded - keep;
		m->nadded = keep;
	}
	if (m->ndropped > BT_PEX_MAX_PER_MSG)
		m->ndropped = BT_PEX_MAX_PER_MSG;
	ps->learned += (uint32_t)m->nadded;
	if (!m->nadded && !m->ndropped && m->total_added)
		return 1; /* budget spent */
	return 0;
}

bool bt_pexstate_misbehaving(const struct bt_pexstate *ps)
{
	return ps->malformed || ps->violations >= BT_PEXSTATE_MAX_VIOLATIONS;
}
