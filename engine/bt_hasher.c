/* bt_hasher — the engine's disk and hash thread.
 *
 * The engine thread never touches the disk for incoming data: it queues
 * each received block here (bt_hasher_write), the block that completes a
 * piece marked to verify it once written. This thread writes blocks into
 * their torrent's cache, hashes finished pieces with SHA-1 (cache_verify
 * marks them verified), hands each verdict back to the engine thread on a
 * list it drains on one pre-made event (no allocation, so no verdict is
 * ever lost), and flushes the caches' verified maps at most once a second
 * while pieces verify, so a map on disk trails by at most a second.
 *
 * Jobs carry their torrent; a torrent that leaves the engine first drops
 * its jobs (bt_hasher_forget). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "bt_engine_i.h"
#include "pfs_log.h"

#define HASHER_WAKE_BYTES (256u << 10)

struct bt_job *bt_job_new(size_t len)
{
	struct bt_job *j = malloc(sizeof(*j) + len);
	if (j)
		memset(j, 0, sizeof(*j));
	return j;
}

static int write_job(struct bt_torrent *t, struct bt_job *j)
{
	int err = cache_write(t->cache, j->piece, j->begin, j->data, j->len);
	/* a late duplicate block of a piece verified meanwhile */
	if (err == -EINVAL && cache_has(t->cache, j->piece))
		return 0;
	if (err < 0) {
		if (!bt_bit_get(t->write_failed, j->piece))
			pfs_log(PFS_LOG_ERROR, "hasher",
				"cache write of piece %u of '%s' failed: %s",
				j->piece, t->name, strerror(-err));
		/* reported by the piece's verdict, not blamed on the peers
		 * that sent it */
		bt_bit_set(t->write_failed, j->piece);
		t->write_errno = err;
	}
	return 0;
}

/* The verdict on J's piece; true when it verified (the map is dirty). */
static bool verify_job(struct bt_torrent *t, struct bt_job *j)
{
	if (bt_bit_get(t->write_failed, j->piece)) {
		bt_bit_clear(t->write_failed, j->piece);
		j->err = t->write_errno;
		return false;
	}
	j->err = cache_verify(t->cache, j->piece,
			      t->mi->piece_hashes + 20 * (size_t)j->piece);
	return j->err == 0;
}

/* Under job_lock: note T's map as in need of a flush. */
static void mark_dirty(struct bt_engine *e, struct bt_torrent *t)
{
	for (size_t i = 0; i < e->ndirty; i++)
		if (e->dirty[i] == t)
			return;
	if (e->ndirty < BT_HASHER_MAX_DIRTY)
		e->dirty[e->ndirty++] = t;
	else
		e->flush_now = true; /* full: flush before more */
}

/* Under job_lock, which it drops while writing: flush the dirty maps. */
static void flush_dirty(struct bt_engine *e)
{
	struct cache *c[BT_HASHER_MAX_DIRTY];
	size_t n = e->ndirty;
	for (size_t i = 0; i < n; i++)
		c[i] = e->dirty[i]->cache;
	e->ndirty = 0;
	e->flush_now = false;
	e->flushing = true;
	pthread_mutex_unlock(&e->job_lock);
	for (size_t i = 0; i < n; i++) {
		int err = cache_flush(c[i]);
		if (err < 0)
			pfs_log(PFS_LOG_ERROR, "hasher",
				"writing the verified map failed: %s",
				strerror(-err));
	}
	pthread_mutex_lock(&e->job_lock);
	e->flushing = false;
	pthread_cond_broadcast(&e->job_cond);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *hasher_main(void *arg)
{
	struct bt_engine *e = arg;
	uint64_t last_flush = mono_ms();

	pthread_mutex_lock(&e->job_lock);
	for (;;) {
		while (!e->job_head && !e->job_stop) {
			if (!e->ndirty) {
				pthread_cond_wait(&e->job_cond, &e->job_lock);
				continue;
			}
			/* something verified: flush the map within a second */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			if (pthread_cond_timedwait(&e->job_cond, &e->job_lock,
						   &until) == ETIMEDOUT)
				break;
		}
		if (e->job_stop)
			break;
		struct bt_job *j = e->job_head;
		if (j) {
			e->job_head = j->next;
			if (!e->job_head)
				e->job_tail = NULL;
			e->job_bytes -= j->len;
			e->job_busy = j->t;
		}
		pthread_mutex_unlock(&e->job_lock);

		bool verified = false;
		if (j) {
			write_job(j->t, j);
			if (j->verify)
				verified = verify_job(j->t, j);
		}
		pthread_mutex_lock(&e->job_lock);
		e->job_busy = NULL;
		if (j && j->verify) {
			if (verified)
				mark_dirty(e, j->t);
			bool was_empty = !e->verdict_head;
			j->next = NULL;
			if (e->verdict_tail)
				e->verdict_tail->next = j;
			else
				e->verdict_head = j;
			e->verdict_tail = j;
			if (was_empty)
				event_active(e->hash_done_ev, EV_READ, 0);
		} else if (j) {
			free(j);
		}
		pthread_cond_broadcast(&e->job_cond); /* for forget */
		uint64_t now = mono_ms();
		if (e->ndirty && (e->flush_now || now - last_flush >= 1000)) {
			flush_dirty(e);
			last_flush = now;
		}
	}
	/* drop what is left: unverified blocks are simply fetched again */
	while (e->job_head) {
		struct bt_job *j = e->job_head;
		e->job_head = j->next;
		free(j);
	}
	e->job_tail = NULL;
	e->job_bytes = 0;
	if (e->ndirty)
		flush_dirty(e);
	pthread_mutex_unlock(&e->job_lock);
	return NULL;
}

/* Engine thread: the verdicts that came back. */
static void verdicts_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_engine *e = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&e->job_lock);
	struct bt_job *j = e->verdict_head;
	e->verdict_head = e->verdict_tail = NULL;
	pthread_mutex_unlock(&e->job_lock);
	while (j) {
		struct bt_job *next = j->next;
		bt_torrent_piece_done(j->t, j);
		j = next;
	}
}

int bt_hasher_start(struct bt_engine *e)
{
	e->job_stop = false;
	if (!e->hash_done_ev &&
	    !(e->hash_done_ev = event_new(e->base, -1, 0, verdicts_cb, e)))
		return -ENOMEM;
	int err = pthread_create(&e->hasher, NULL, hasher_main, e);
	if (err)
		return -err;
	e->hasher_started = true;
	return 0;
}

void bt_hasher_stop(struct bt_engine *e)
{
	if (e->hasher_started) {
		pthread_mutex_lock(&e->job_lock);
		e->job_stop = true;
		pthread_cond_broadcast(&e->job_cond);
		pthread_mutex_unlock(&e->job_lock);
		pthread_join(e->hasher, NULL);
		e->hasher_started = false;
	}
	/* verdicts nobody will read: the pieces are fetched again */
	while (e->verdict_head) {
		struct bt_job *j = e->verdict_head;
		e->verdict_head = j->next;
		free(j);
	}
	e->verdict_tail = NULL;
	while (e->job_head) { /* never started */
		struct bt_job *j = e->job_head;
		e->job_head = j->next;
		free(j);
	}
	e->job_tail = NULL;
	e->job_bytes = 0;
	if (e->hash_done_ev) {
		event_free(e->hash_done_ev);
		e->hash_done_ev = NULL;
	}
}

void bt_hasher_write(struct bt_engine *e, struct bt_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&e->job_lock);
	/* Writes are batched: the thread is woken for a verify (a whole
	 * piece, written first) or once HASHER_WAKE_BYTES wait, not for
	 * every block. */
	bool wake = j->verify || e->job_bytes + j->len >= HASHER_WAKE_BYTES;
	if (e->job_tail)
		e->job_tail->next = j;
	else
		e->job_head = j;
	e->job_tail = j;
	e->job_bytes += j->len;
	if (wake)
		pthread_cond_broadcast(&e->job_cond);
	pthread_mutex_unlock(&e->job_lock);
}

size_t bt_hasher_queued_bytes(struct bt_engine *e)
{
	pthread_mutex_lock(&e->job_lock);
	size_t n = e->job_bytes;
	pthread_mutex_unlock(&e->job_lock);
	return n;
}

static void drop_of(struct bt_job **head, struct bt_job **tail,
		    struct bt_torrent *t, size_t *bytes)
{
	struct bt_job **pp = head;
	*tail = NULL;
	while (*pp) {
		struct bt_job *j = *pp;
		if (j->t == t) {
			*pp = j->next;
			if (bytes)
				*bytes -= j->len;
			free(j);
			continue;
		}
		*tail = j;
		pp = &j->next;
	}
}

void bt_hasher_forget(struct bt_engine *e, struct bt_torrent *t)
{
	pthread_mutex_lock(&e->job_lock);
	drop_of(&e->job_head, &e->job_tail, t, &e->job_bytes);
	while (e->hasher_started && (e->job_busy == t || e->flushing))
		pthread_cond_wait(&e->job_cond, &e->job_lock);
	drop_of(&e->verdict_head, &e->verdict_tail, t, NULL);
	for (size_t i = 0; i < e->ndirty; i++)
		if (e->dirty[i] == t) {
			e->dirty[i] = e->dirty[--e->ndirty];
			break;
		}
	pthread_mutex_unlock(&e->job_lock);
}
