/* bt_announcer — the per-torrent announce policy over BEP 12 tiers; see
 * bt_announcer.h.
 *
 * Trackers live in an array in the order added (their index is stable, for
 * status and actions); `order` lists them in the order of tries, grouped by
 * tier, tiers ascending. A round walks `order` from the start until a
 * tracker answers; `pos` is the one asked now. */
#include "bt_announcer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct trk {
	char *url;
	enum bt_announcer_kind kind;
	unsigned tier;
	char *tracker_id;
	bool started_ok;    /* acknowledged a `started` */
	bool completed_ok;  /* knows we completed (or never needed to) */
	bool maybe_started; /* a `started` to it is or was in flight */
	bool stop_pending;  /* a `stopped` is to be handed out */
	uint64_t stop_id;   /* a `stopped` in flight */
	bool working;
	uint64_t last_announce_ms, last_ok_ms;
	size_t last_peers;
	uint64_t total_peers;
	int64_t seeders, leechers;
	uint32_t interval_s, min_interval_s;
	unsigned fails;
	char last_error[192];
	char warning[192];
};

struct bt_announcer {
	struct bt_announcer_cfg cfg;
	uint64_t rng;
	struct trk *t;
	size_t n, cap;
	size_t *order;

	bool started, shuffled, complete_at_start, completed, stopping;
	/* the round */
	bool round_active;
	size_t pos;	      /* index into order of the tracker asked */
	uint64_t inflight_id; /* 0: the action is still to hand out */
	enum bt_tracker_event inflight_event;
	bool inflight_complete; /* we were complete when it was sent */
	uint64_t next_round_ms; /* UINT64_MAX: none planned */
	unsigned round_fails;	/* failed rounds in a row */
	uint64_t last_ok_ms;	/* the last successful announce */
	uint64_t min_gap_ms;	/* its min interval, for want_peers */
	uint64_t next_id;
};

void bt_announcer_defaults(struct bt_announcer_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->numwant = BT_ANNOUNCER_NUMWANT;
	cfg->retry_base_ms = BT_ANNOUNCER_RETRY_BASE_MS;
	cfg->retry_max_ms = BT_ANNOUNCER_RETRY_MAX_MS;
	cfg->min_reannounce_ms = BT_ANNOUNCER_MIN_REANNOUNCE_MS;
	cfg->timeout_ms = BT_ANNOUNCER_TIMEOUT_MS;
	cfg->stop_timeout_ms = BT_ANNOUNCER_STOP_TIMEOUT_MS;
}

struct bt_announcer *bt_announcer_new(const struct bt_announcer_cfg *cfg)
{
	struct bt_announcer *an = calloc(1, sizeof(*an));
	if (!an)
		return NULL;
	if (cfg)
		an->cfg = *cfg;
	else
		bt_announcer_defaults(&an->cfg);
	if (!an->cfg.retry_base_ms)
		an->cfg.retry_base_ms = BT_ANNOUNCER_RETRY_BASE_MS;
	if (an->cfg.retry_max_ms < an->cfg.retry_base_ms)
		an->cfg.retry_max_ms = an->cfg.retry_base_ms;
	an->rng = an->cfg.seed ^ 0x9e3779b97f4a7c15ull;
	an->next_round_ms = UINT64_MAX;
	an->next_id = 1;
	return an;
}

void bt_announcer_free(struct bt_announcer *an)
{
	if (!an)
		return;
	for (size_t i = 0; i < an->n; i++) {
		free(an->t[i].url);
		free(an->t[i].tracker_id);
	}
	free(an->t);
	free(an->order);
	free(an);
}

/* splitmix64 */
static uint64_t rnd(struct bt_announcer *an)
{
	uint64_t z = (an->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(struct bt_announcer *an, uint64_t n)
{
	return n ? rnd(an) % n : 0;
}

static int kind_of(const char *url, enum bt_announcer_kind *k)
{
	if (!strncasecmp(url, "http://", 7))
		*k = BT_ANNOUNCER_HTTP;
	else if (!strncasecmp(url, "https://", 8))
		*k = BT_ANNOUNCER_HTTPS;
	else if (!strncasecmp(url, "udp://", 6))
		*k = BT_ANNOUNCER_UDP;
	else
		return -EPROTONOSUPPORT;
	return 0;
}

/* [first, end) of TIER's trackers in order. */
static void tier_span(const struct bt_announcer *an, unsigned tier,
		      size_t *first, size_t *end)
{
	size_t i = 0;
	while (i < an->n && an->t[an->order[i]].tier < tier)
		i++;
	*first = i;
	while (i < an->n && an->t[an->order[i]].tier == tier)
		i++;
	*end = i;
}

/* Put tracker index IDX at order position AT, shifting the rest up (the
 * order array has room for n entries; IDX is not in it yet). */
static void order_insert(struct bt_announcer *an, size_t at, size_t idx)
{
	memmove(an->order + at + 1, an->order + at,
		(an->n - 1 - at) * sizeof(*an->order));
	an->order[at] = idx;
}

int bt_announcer_add(struct bt_announcer *an, const char *url, unsigned tier)
{
	enum bt_announcer_kind kind;
	if (!an || !url || kind_of(url, &kind) < 0)
		return -EPROTONOSUPPORT;
	for (size_t i = 0; i < an->n; i++)
		if (!strcmp(an->t[i].url, url))
			return -EEXIST;
	if (an->n >= BT_ANNOUNCER_MAX_TRACKERS)
		return -ENOBUFS;
	if (an->n == an->cap) {
		size_t ncap = an->cap ? 2 * an->cap : 4;
		struct trk *t = realloc(an->t, ncap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		an->t = t;
		size_t *o = realloc(an->order, ncap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		an->order = o;
		an->cap = ncap;
	}
	struct trk *t = &an->t[an->n];
	memset(t, 0, sizeof(*t));
	if (!(t->url = strdup(url)))
		return -ENOMEM;
	t->kind = kind;
	t->tier = tier;
	t->seeders = t->leechers = -1;
	size_t idx = an->n;
	size_t first, end;
	tier_span(an, tier, &first, &end);
	an->n++;
	/* the order of a tier is shuffled at start; a later addition takes
	 * a random place in it, but never before the tracker being asked */
	size_t at = end;
	if (an->shuffled) {
		size_t lo = first;
		if (an->round_active && an->pos >= first && an->pos < end)
			lo = an->pos + 1;
		at = lo + (size_t)below(an, end - lo + 1);
	}
	if (an->round_active && at <= an->pos)
		an->pos++;
	order_insert(an, at, idx);
	return (int)idx;
}

static void shuffle_tiers(struct bt_announcer *an)
{
	for (size_t first = 0; first < an->n;) {
		size_t f, end;
		tier_span(an, an->t[an->order[first]].tier, &f, &end);
		/* Fisher-Yates over [first, end) */
		for (size_t i = end - 1; i > first; i--) {
			size_t j = first + (size_t)below(an, i - first + 1);
			size_t tmp = an->order[i];
			an->order[i] = an->order[j];
			an->order[j] = tmp;
		}
		first = end;
	}
	an->shuffled = true;
}

int bt_announcer_start(struct bt_announcer *an, bool complete, uint64_t now)
{
	if (an->started)
		return -EALREADY;
	an->started = true;
	an->complete_at_start = complete;
	if (!an->shuffled)
		shuffle_tiers(an);
	an->next_round_ms = now;
	return 0;
}

void bt_announcer_completed(struct bt_announcer *an, uint64_t now)
{
	if (!an->started || an->stopping || an->complete_at_start ||
	    an->completed)
		return;
	an->completed = true;
	/* `completed` goes out at once, unless a round is on its way: its
	 * end decides (see round_ok) */
	if (!an->round_active)
		an->next_round_ms = now;
}

void bt_announcer_want_peers(struct bt_announcer *an, uint64_t now)
{
	if (!an->started || an->stopping || an->round_active ||
	    an->round_fails > 0 || an->last_ok_ms == 0)
		return;
	uint64_t gap =
	    an->min_gap_ms ? an->min_gap_ms : an->cfg.min_reannounce_ms;
	uint64_t when = an->last_ok_ms + gap;
	if (when < now)
		when = now;
	if (when < an->next_round_ms)
		an->next_round_ms = when;
}

uint64_t bt_announcer_stop(struct bt_announcer *an, uint64_t now)
{
	(void)now;
	if (an->stopping)
		return 0;
	an->stopping = true;
	uint64_t abandoned = 0;
	if (an->round_active && an->inflight_id)
		abandoned = an->inflight_id;
	an->round_active = false;
	an->inflight_id = 0;
	an->next_round_ms = UINT64_MAX;
	for (size_t i = 0; i < an->n; i++) {
		struct trk *t = &an->t[i];
		if (t->started_ok || t->maybe_started)
			t->stop_pending = true;
	}
	return abandoned;
}

bool bt_announcer_done(const struct bt_announcer *an)
{
	if (!an->stopping)
		return false;
	for (size_t i = 0; i < an->n; i++)
		if (an->t[i].stop_pending || an->t[i].stop_id)
			return false;
	return true;
}

static enum bt_tracker_event event_for(const struct bt_announcer *an,
				       const struct trk *t)
{
	if (!t->started_ok)
		return BT_EVENT_STARTED;
	if (an->completed && !t->completed_ok)
		return BT_EVENT_COMPLETED;
	return BT_EVENT_NONE;
}

static void fill_action(struct bt_announcer *an, size_t idx,
			enum bt_tracker_event ev, uint64_t id,
			struct bt_announcer_action *act)
{
	struct trk *t = &an->t[idx];
	memset(act, 0, sizeof(*act));
	act->id = id;
	act->tracker = idx;
	act->url = t->url;
	act->kind = t->kind;
	act->event = ev;
	act->numwant = ev == BT_EVENT_STOPPED ? 0 : an->cfg.numwant;
	act->tracker_id = t->tracker_id;
	act->timeout_ms = ev == BT_EVENT_STOPPED ? an->cfg.stop_timeout_ms
						 : an->cfg.timeout_ms;
}

bool bt_announcer_next(struct bt_announcer *an, uint64_t now,
		       struct bt_announcer_action *act)
{
	if (!an->started || an->n == 0)
		return false;
	if (an->stopping) {
		for (size_t i = 0; i < an->n; i++) {
			struct trk *t = &an->t[i];
			if (!t->stop_pending)
				continue;
			t->stop_pending = false;
			t->stop_id = an->next_id++;
			t->last_announce_ms = now;
			fill_action(an, i, BT_EVENT_STOPPED, t->stop_id, act);
			return true;
		}
		return false;
	}
	if (!an->round_active) {
		if (now < an->next_round_ms)
			return false;
		an->round_active = true;
		an->pos = 0;
		an->inflight_id = 0;
		an->next_round_ms = UINT64_MAX;
	}
	if (an->inflight_id)
		return false;
	size_t idx = an->order[an->pos];
	struct trk *t = &an->t[idx];
	enum bt_tracker_event ev = event_for(an, t);
	an->inflight_id = an->next_id++;
	an->inflight_event = ev;
	an->inflight_complete = an->complete_at_start || an->completed;
	if (ev == BT_EVENT_STARTED)
		t->maybe_started = true;
	t->last_announce_ms = now;
	fill_action(an, idx, ev, an->inflight_id, act);
	return true;
}

static uint64_t backoff(const struct bt_announcer *an)
{
	unsigned k = an->round_fails ? an->round_fails - 1 : 0;
	uint64_t d = an->cfg.retry_base_ms;
	for (unsigned i = 0; i < k && d < an->cfg.retry_max_ms; i++)
		d *= 2;
	return d < an->cfg.retry_max_ms ? d : an->cfg.retry_max_ms;
}

static uint32_t clamp_s(uint32_t s)
{
	if (s < BT_ANNOUNCER_INTERVAL_MIN_S)
		return BT_ANNOUNCER_INTERVAL_MIN_S;
	if (s > BT_ANNOUNCER_INTERVAL_MAX_S)
		return BT_ANNOUNCER_INTERVAL_MAX_S;
	return s;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[i] = '\0';
}

/* Record what REPLY/ERR says about T; returns true for a success. */
static bool record(struct trk *t, int err, const char *why,
		   const struct bt_tracker_reply *r, uint64_t now)
{
	if (err < 0 || !r) {
		t->working = false;
		t->fails++;
		copy_text(t->last_error, sizeof(t->last_error),
			  why ? why : strerror(err < 0 ? -err : EINVAL));
		return false;
	}
	if (r->warning)
		copy_text(t->warning, sizeof(t->warning), r->warning);
	if (r->failure) {
		t->working = false;
		t->fails++;
		snprintf(t->last_error, sizeof(t->last_error),
			 "tracker says: %.160s", r->failure);
		for (char *c = t->last_error; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		return false;
	}
	t->working = true;
	t->fails = 0;
	t->last_error[0] = '\0';
	t->last_ok_ms = now;
	t->last_peers = r->npeers;
	t->total_peers += r->npeers;
	t->seeders = r->complete;
	t->leechers = r->incomplete;
	t->interval_s = clamp_s(r->interval);
	t->min_interval_s = r->min_interval ? clamp_s(r->min_interval) : 0;
	if (r->tracker_id && *r->tracker_id) {
		char *id = strdup(r->tracker_id);
		if (id) {
			free(t->tracker_id);
			t->tracker_id = id;
		}
	}
	return true;
}

/* Move order position P to the front of its tier. */
static void to_front(struct bt_announcer *an, size_t p)
{
	size_t idx = an->order[p];
	size_t first, end;
	tier_span(an, an->t[idx].tier, &first, &end);
	memmove(an->order + first + 1, an->order + first,
		(p - first) * sizeof(*an->order));
	an->order[first] = idx;
}

static void round_ok(struct bt_announcer *an, struct trk *t, uint64_t now)
{
	if (an->inflight_event == BT_EVENT_STARTED) {
		t->started_ok = true;
		/* a `started` with left = 0 tells it all */
		if (an->inflight_complete)
			t->completed_ok = true;
	} else if (an->inflight_event == BT_EVENT_COMPLETED) {
		t->completed_ok = true;
	}
	to_front(an, an->pos);
	an->round_active = false;
	an->inflight_id = 0;
	an->round_fails = 0;
	an->last_ok_ms = now;
	uint64_t iv = (uint64_t)t->interval_s * 1000;
	uint64_t mi = (uint64_t)t->min_interval_s * 1000;
	an->min_gap_ms = mi;
	an->next_round_ms = now + (mi > iv ? mi : iv);
	/* the download completed while this was on its way: tell now */
	if (an->completed && !t->completed_ok)
		an->next_round_ms = now;
}

int bt_announcer_result(struct bt_announcer *an, uint64_t id, int err,
			const char *why, const struct bt_tracker_reply *reply,
			uint64_t now)
{
	if (!an || id == 0)
		return -ENOENT;
	if (an->stopping) {
		for (size_t i = 0; i < an->n; i++) {
			struct trk *t = &an->t[i];
			if (t->stop_id != id)
				continue;
			t->stop_id = 0;
			record(t, err, why, reply, now);
			t->started_ok = t->maybe_started = false;
			return 0;
		}
		return -ENOENT;
	}
	if (!an->round_active || an->inflight_id != id)
		return -ENOENT;
	struct trk *t = &an->t[an->order[an->pos]];
	if (an->inflight_event == BT_EVENT_STARTED)
		t->maybe_started = false;
	if (record(t, err, why, reply, now)) {
		round_ok(an, t, now);
		return 0;
	}
	/* BEP 12: the next tracker of this tier, then the next tier */
	an->inflight_id = 0;
	if (++an->pos < an->n)
		return 0;
	an->round_active = false;
	an->round_fails++;
	an->next_round_ms = now + backoff(an);
	return 0;
}

uint64_t bt_announcer_deadline(const struct bt_announcer *an)
{
	if (!an->started || an->n == 0)
		return UINT64_MAX;
	if (an->stopping) {
		for (size_t i = 0; i < an->n; i++)
			if (an->t[i].stop_pending)
				return 0;
		return UINT64_MAX;
	}
	if (an->round_active)
		return an->inflight_id ? UINT64_MAX : 0;
	return an->next_round_ms;
}

size_t bt_announcer_count(const struct bt_announcer *an)
{
	return an->n;
}

int bt_announcer_info(const struct bt_announcer *an, size_t i,
		      struct bt_announcer_info *out)
{
	if (i >= an->n)
		return -ENOENT;
	const struct trk *t = &an->t[i];
	memset(out, 0, sizeof(*out));
	out->url = t->url;
	out->kind = t->kind;
	out->tier = t->tier;
	for (size_t p = 0; p < an->n; p++)
		if (an->order[p] == i)
			out->position = (unsigned)p;
	out->updating =
	    t->stop_id != 0 ||
	    (an->round_active && an->inflight_id && an->order[an->pos] == i);
	out->working = t->working;
	out->last_announce_ms = t->last_announce_ms;
	out->last_ok_ms = t->last_ok_ms;
	out->last_peers = t->last_peers;
	out->total_peers = t->total_peers;
	out->seeders = t->seeders;
	out->leechers = t->leechers;
	out->interval_s = t->interval_s;
	out->min_interval_s = t->min_interval_s;
	out->fails = t->fails;
	memcpy(out->last_error, t->last_error, sizeof(out->last_error));
	memcpy(out->warning, t->warning, sizeof(out->warning));
	out->next_try_ms = UINT64_MAX;
	if (an->started && !an->stopping) {
		if (an->round_active) {
			/* asked in the running round if those before it fail */
			if (out->position > an->pos) {
				out->next_try_ms = 0;
				out->standby = true;
			} else if (out->position == an->pos) {
				/* being asked, or about to be */
				out->next_try_ms = 0;
			}
			/* before pos: failed in this round; the next round
			 * is not planned yet */
		} else {
			out->next_try_ms = an->next_round_ms;
			out->standby = out->position > 0;
		}
	}
	return 0;
}
