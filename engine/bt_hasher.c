/* bt_hasher — the disk and hash thread of a session.
 *
 * The engine thread never touches the disk for incoming data: it queues
 * each received block here (bt_hasher_write) and, once the picker says a
 * piece is whole, a verify job behind those writes (bt_hasher_verify). This
 * thread writes blocks into the cache, hashes finished pieces with SHA-1
 * (cache_verify marks them verified), posts each verdict back to the engine
 * thread, and flushes the cache's verified map at most once a second while
 * pieces verify, so the map on disk trails by at most a second. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bt_session_i.h"
#include "pfs_log.h"

enum { JOB_WRITE, JOB_VERIFY };

#define HASHER_WAKE_BYTES (256u << 10)

struct bt_job {
	struct bt_job *next;
	int type;
	uint32_t piece, begin, len;
	uint8_t *mem;        /* owned allocation that holds data */
	const uint8_t *data;
};

struct done_msg {
	uint32_t piece;
	int err;
};

static void done_cb(struct bt_session *s, void *arg)
{
	struct done_msg *m = arg;
	bt_session_piece_done(s, m->piece, m->err);
	free(m);
}

static void post_done(struct bt_session *s, uint32_t piece, int err)
{
	struct done_msg *m = malloc(sizeof(*m));
	if (!m)
		return;
	m->piece = piece;
	m->err = err;
	if (bt_post(s, done_cb, m) < 0)
		free(m);
}

static int run_job(struct bt_session *s, struct bt_job *j)
{
	int err;
	if (j->type == JOB_WRITE) {
		err = cache_write(s->cache, j->piece, j->begin, j->data, j->len);
		/* a late duplicate block of a piece verified meanwhile */
		if (err == -EINVAL && cache_has(s->cache, j->piece))
			return 0;
		if (err < 0) {
			if (!bt_bit_get(s->write_failed, j->piece))
				pfs_log(PFS_LOG_ERROR, "hasher",
					"cache write of piece %u failed: %s",
					j->piece, strerror(-err));
			/* reported by the piece's verify job, not blamed on
			 * the peers that sent it */
			bt_bit_set(s->write_failed, j->piece);
			s->write_errno = err;
		}
		return 0;
	}
	if (bt_bit_get(s->write_failed, j->piece)) {
		bt_bit_clear(s->write_failed, j->piece);
		post_done(s, j->piece, s->write_errno);
		return 0;
	}
	err = cache_verify(s->cache, j->piece,
			   s->mi->piece_hashes + 20 * (size_t)j->piece);
	post_done(s, j->piece, err);
	return err == 0;
}

static void *hasher_main(void *arg)
{
	struct bt_session *s = arg;
	bool dirty = false;
	struct timespec last_flush;
	clock_gettime(CLOCK_MONOTONIC, &last_flush);

	pthread_mutex_lock(&s->job_lock);
	for (;;) {
		while (!s->job_head && !s->job_stop) {
			if (!dirty) {
				pthread_cond_wait(&s->job_cond, &s->job_lock);
				continue;
			}
			/* something verified: flush the map within a second */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			if (pthread_cond_timedwait(&s->job_cond, &s->job_lock,
						   &until) == ETIMEDOUT)
				break;
		}
		if (s->job_stop)
			break;
		struct bt_job *j = s->job_head;
		if (j) {
			s->job_head = j->next;
			if (!s->job_head)
				s->job_tail = NULL;
			if (j->type == JOB_WRITE)
				s->job_bytes -= j->len;
		}
		pthread_mutex_unlock(&s->job_lock);

		if (j) {
			dirty |= run_job(s, j);
			free(j->mem);
			free(j);
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (dirty && (now.tv_sec - last_flush.tv_sec) * 1000 +
					 (now.tv_nsec - last_flush.tv_nsec) / 1000000 >=
				 1000) {
			int err = cache_flush(s->cache);
			if (err < 0)
				pfs_log(PFS_LOG_ERROR, "hasher",
					"writing the verified map failed: %s",
					strerror(-err));
			dirty = false;
			last_flush = now;
		}
		pthread_mutex_lock(&s->job_lock);
	}
	/* drop what is left: unverified blocks are simply fetched again */
	while (s->job_head) {
		struct bt_job *j = s->job_head;
		s->job_head = j->next;
		free(j->mem);
		free(j);
	}
	s->job_tail = NULL;
	s->job_bytes = 0;
	pthread_mutex_unlock(&s->job_lock);
	return NULL;
}

int bt_hasher_start(struct bt_session *s)
{
	s->job_stop = false;
	if (!s->write_failed)
		s->write_failed = calloc((s->mi->npieces + 7) / 8, 1);
	if (!s->write_failed)
		return -ENOMEM;
	int err = pthread_create(&s->hasher, NULL, hasher_main, s);
	if (err)
		return -err;
	s->hasher_started = true;
	return 0;
}

void bt_hasher_stop(struct bt_session *s)
{
	if (!s->hasher_started)
		return;
	pthread_mutex_lock(&s->job_lock);
	s->job_stop = true;
	pthread_cond_signal(&s->job_cond);
	pthread_mutex_unlock(&s->job_lock);
	pthread_join(s->hasher, NULL);
	s->hasher_started = false;
}

static int enqueue(struct bt_session *s, int type, uint32_t piece,
		   uint32_t begin, uint8_t *mem, const uint8_t *data,
		   uint32_t len)
{
	struct bt_job *j = malloc(sizeof(*j));
	if (!j) {
		free(mem);
		return -ENOMEM;
	}
	j->next = NULL;
	j->type = type;
	j->piece = piece;
	j->begin = begin;
	j->mem = mem;
	j->data = data;
	j->len = len;
	pthread_mutex_lock(&s->job_lock);
	/* Writes are batched: the thread is woken for a verify job (a whole
	 * piece, written first) or once HASHER_WAKE_BYTES wait, not for
	 * every block; and only when it may sleep (on an empty queue or one
	 * it has not been woken for). */
	bool wake = type == JOB_VERIFY ||
		    s->job_bytes + len >= HASHER_WAKE_BYTES;
	if (s->job_tail)
		s->job_tail->next = j;
	else
		s->job_head = j;
	s->job_tail = j;
	if (type == JOB_WRITE)
		s->job_bytes += len;
	if (wake)
		pthread_cond_signal(&s->job_cond);
	pthread_mutex_unlock(&s->job_lock);
	return 0;
}

int bt_hasher_write(struct bt_session *s, uint32_t piece, uint32_t begin,
		    uint8_t *mem, const uint8_t *data, uint32_t len)
{
	return enqueue(s, JOB_WRITE, piece, begin, mem, data, len);
}

int bt_hasher_verify(struct bt_session *s, uint32_t piece)
{
	return enqueue(s, JOB_VERIFY, piece, 0, NULL, NULL, 0);
}

size_t bt_hasher_queued_bytes(struct bt_session *s)
{
	pthread_mutex_lock(&s->job_lock);
	size_t n = s->job_bytes;
	pthread_mutex_unlock(&s->job_lock);
	return n;
}
