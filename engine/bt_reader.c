/* bt_reader — the engine's thread that reads the blocks we upload.
 *
 * Serving a request means reading a block of a verified piece from the
 * cache. Doing that on the engine thread would stall every peer, timer and
 * FUSE wakeup behind a cold disk read (or, with a files-backed store, an
 * open and a read of someone's file), so the engine queues reads here and
 * gets them back in batches: the thread appends finished reads to a done
 * list and fires one pre-made event when that list was empty (no
 * allocation, so no answer is lost). Reads have their own thread rather
 * than a place in the disk thread's queue so an upload never waits behind
 * a backlog of writes or the hashing of a large piece. The torrents bound
 * what they queue per peer (BT_MAX_READING blocks, a byte watermark with
 * what sits in the socket buffer), so this queue is bounded too. Reads
 * carry their torrent; one leaving the engine drops them first
 * (bt_reader_forget). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bt_engine_i.h"
#include "pfs_log.h"

void bt_read_free(struct bt_read *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_engine *e = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&e->read_lock);
	struct bt_read *r = e->done_head;
	e->done_head = e->done_tail = NULL;
	pthread_mutex_unlock(&e->read_lock);
	while (r) {
		struct bt_read *next = r->next;
		r->next = NULL;
		bt_torrent_read_done(r->t, r);
		r = next;
	}
}

static void *reader_main(void *arg)
{
	struct bt_engine *e = arg;
	pthread_mutex_lock(&e->read_lock);
	for (;;) {
		while (!e->read_head && !e->read_stop)
			pthread_cond_wait(&e->read_cond, &e->read_lock);
		if (e->read_stop)
			break;
		struct bt_read *r = e->read_head;
		e->read_head = r->next;
		if (!e->read_head)
			e->read_tail = NULL;
		r->next = NULL;
		e->read_busy = r->t;
		pthread_mutex_unlock(&e->read_lock);

		r->err = cache_read(r->t->cache, r->piece, r->begin,
				    r->buf + BT_PEER_PIECE_HEADROOM, r->len);

		pthread_mutex_lock(&e->read_lock);
		e->read_busy = NULL;
		bool was_empty = !e->done_head;
		if (e->done_tail)
			e->done_tail->next = r;
		else
			e->done_head = r;
		e->done_tail = r;
		if (was_empty)
			event_active(e->read_done_ev, EV_READ, 0);
		pthread_cond_broadcast(&e->read_cond); /* for forget */
	}
	pthread_mutex_unlock(&e->read_lock);
	return NULL;
}

int bt_reader_start(struct bt_engine *e)
{
	e->read_stop = false;
	if (!e->read_done_ev &&
	    !(e->read_done_ev = event_new(e->base, -1, 0, done_cb, e)))
		return -ENOMEM;
	int err = pthread_create(&e->reader, NULL, reader_main, e);
	if (err)
		return -err;
	e->reader_started = true;
	return 0;
}

static void free_list(struct bt_read *r)
{
	while (r) {
		struct bt_read *next = r->next;
		bt_read_free(r);
		r = next;
	}
}

void bt_reader_stop(struct bt_engine *e)
{
	if (e->reader_started) {
		pthread_mutex_lock(&e->read_lock);
		e->read_stop = true;
		pthread_cond_broadcast(&e->read_cond);
		pthread_mutex_unlock(&e->read_lock);
		pthread_join(e->reader, NULL);
		e->reader_started = false;
	}
	/* nobody is left to answer: drop what is queued or done */
	free_list(e->read_head);
	free_list(e->done_head);
	e->read_head = e->read_tail = e->done_head = e->done_tail = NULL;
	if (e->read_done_ev) {
		event_free(e->read_done_ev);
		e->read_done_ev = NULL;
	}
}

int bt_reader_read(struct bt_engine *e, struct bt_torrent *t,
		   uint32_t peer_id, uint32_t piece, uint32_t begin,
		   uint32_t len)
{
	struct bt_read *r = calloc(1, sizeof(*r));
	if (!r || !(r->buf = malloc(BT_PEER_PIECE_HEADROOM + (size_t)len))) {
		free(r);
		return -ENOMEM;
	}
	r->t = t;
	r->peer_id = peer_id;
	r->piece = piece;
	r->begin = begin;
	r->len = len;
	pthread_mutex_lock(&e->read_lock);
	if (e->read_tail)
		e->read_tail->next = r;
	else
		e->read_head = r;
	e->read_tail = r;
	pthread_cond_broadcast(&e->read_cond);
	pthread_mutex_unlock(&e->read_lock);
	return 0;
}

static struct bt_read *drop_of(struct bt_read *r, struct bt_read **tail,
			       struct bt_torrent *t)
{
	struct bt_read *head = NULL;
	*tail = NULL;
	while (r) {
		struct bt_read *next = r->next;
		if (r->t == t) {
			bt_read_free(r);
		} else {
			r->next = NULL;
			if (*tail)
				(*tail)->next = r;
			else
				head = r;
			*tail = r;
		}
		r = next;
	}
	return head;
}

void bt_reader_forget(struct bt_engine *e, struct bt_torrent *t)
{
	pthread_mutex_lock(&e->read_lock);
	e->read_head = drop_of(e->read_head, &e->read_tail, t);
	while (e->reader_started && e->read_busy == t)
		pthread_cond_wait(&e->read_cond, &e->read_lock);
	e->done_head = drop_of(e->done_head, &e->done_tail, t);
	pthread_mutex_unlock(&e->read_lock);
}
