/* bt_reader — the thread that reads the blocks we upload.
 *
 * Serving a request means reading a block of a verified piece from the
 * cache. Doing that on the engine thread would stall every peer, timer and
 * FUSE wakeup behind a cold disk read (or, with a files-backed store, an
 * open and a read of someone's file), so the engine queues reads here and
 * gets each block back through one bt_post() per batch: the thread appends
 * finished reads to a done list and posts only when that list was empty.
 * Reads have their own thread rather than a place in the hasher's queue so
 * an upload never waits behind a 32 MiB backlog of writes or the hashing of
 * a large piece. The engine bounds what it queues per peer (BT_MAX_READING
 * blocks, OUTPUT_HIGH bytes with what sits in the socket buffer), so this
 * queue is bounded too. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bt_session_i.h"
#include "pfs_log.h"

void bt_read_free(struct bt_read *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

static void done_cb(struct bt_session *s, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&s->read_lock);
	struct bt_read *r = s->done_head;
	s->done_head = s->done_tail = NULL;
	pthread_mutex_unlock(&s->read_lock);
	while (r) {
		struct bt_read *next = r->next;
		r->next = NULL;
		bt_peer_read_done(s, r);
		r = next;
	}
}

static void *reader_main(void *arg)
{
	struct bt_session *s = arg;
	pthread_mutex_lock(&s->read_lock);
	for (;;) {
		while (!s->read_head && !s->read_stop)
			pthread_cond_wait(&s->read_cond, &s->read_lock);
		if (s->read_stop)
			break;
		struct bt_read *r = s->read_head;
		s->read_head = r->next;
		if (!s->read_head)
			s->read_tail = NULL;
		r->next = NULL;
		pthread_mutex_unlock(&s->read_lock);

		r->err = cache_read(s->cache, r->piece, r->begin,
				    r->buf + BT_READ_HEADROOM, r->len);

		pthread_mutex_lock(&s->read_lock);
		bool was_empty = !s->done_head;
		if (s->done_tail)
			s->done_tail->next = r;
		else
			s->done_head = r;
		s->done_tail = r;
		if (was_empty) {
			/* bt_post takes post_lock: never under read_lock */
			pthread_mutex_unlock(&s->read_lock);
			bt_post(s, done_cb, NULL);
			pthread_mutex_lock(&s->read_lock);
		}
	}
	pthread_mutex_unlock(&s->read_lock);
	return NULL;
}

int bt_reader_start(struct bt_session *s)
{
	s->read_stop = false;
	int err = pthread_create(&s->reader, NULL, reader_main, s);
	if (err)
		return -err;
	s->reader_started = true;
	return 0;
}

void bt_reader_stop(struct bt_session *s)
{
	if (s->reader_started) {
		pthread_mutex_lock(&s->read_lock);
		s->read_stop = true;
		pthread_cond_signal(&s->read_cond);
		pthread_mutex_unlock(&s->read_lock);
		pthread_join(s->reader, NULL);
		s->reader_started = false;
	}
	/* nobody is left to answer: drop what is queued or done */
	struct bt_read *lists[2] = {s->read_head, s->done_head};
	for (int i = 0; i < 2; i++)
		while (lists[i]) {
			struct bt_read *next = lists[i]->next;
			bt_read_free(lists[i]);
			lists[i] = next;
		}
	s->read_head = s->read_tail = s->done_head = s->done_tail = NULL;
}

int bt_reader_read(struct bt_session *s, uint32_t peer_id, uint32_t piece,
		   uint32_t begin, uint32_t len)
{
	struct bt_read *r = calloc(1, sizeof(*r));
	if (!r || !(r->buf = malloc(BT_READ_HEADROOM + (size_t)len))) {
		free(r);
		return -ENOMEM;
	}
	r->peer_id = peer_id;
	r->piece = piece;
	r->begin = begin;
	r->len = len;
	pthread_mutex_lock(&s->read_lock);
	if (s->read_tail)
		s->read_tail->next = r;
	else
		s->read_head = r;
	s->read_tail = r;
	pthread_cond_signal(&s->read_cond);
	pthread_mutex_unlock(&s->read_lock);
	return 0;
}
