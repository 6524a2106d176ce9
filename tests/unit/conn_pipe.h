/* conn_pipe.h — a test-only bt_conn: two ends joined in memory, driven by
 * the test with no event loop and no socket.
 *
 * Whatever one end writes waits in its outbox until the test calls
 * pipe_pump(), which moves it to the other end's inbox (firing `readable`
 * there, and `writable` on the sender once its outbox is at the low
 * watermark). A reference write is copied at once and its free callback
 * called when the bytes are pumped (or when the end is destroyed), as a
 * real transport would. pipe_end_close() makes the other end see an
 * orderly end of stream. Header-only: include it in one test file. */
#ifndef CONN_PIPE_H
#define CONN_PIPE_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bt_conn.h"

struct pipe_ref {
	struct pipe_ref *next;
	bt_conn_free_fn fn;
	void *buf, *arg;
	size_t len, at; /* freed once this many outbox bytes are pumped */
};

struct pipe_end {
	struct bt_conn c;
	struct pipe_end *other;
	uint8_t *in, *out;
	size_t nin, capin, nout, capout;
	size_t pumped;	 /* outbox bytes pumped so far */
	size_t written;	 /* outbox bytes written so far */
	size_t low;
	struct pipe_ref *refs;
	bool eof_in;	 /* the other end closed: after nin bytes, EOF */
	int *destroy_count;
};

static inline int pipe_append(uint8_t **buf, size_t *n, size_t *cap, const void *d,
		       size_t len)
{
	if (*n + len > *cap) {
		size_t c = *cap ? *cap : 1024;
		while (c < *n + len)
			c *= 2;
		uint8_t *nb = realloc(*buf, c);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = c;
	}
	memcpy(*buf + *n, d, len);
	*n += len;
	return 0;
}

static inline ssize_t pipe_read(struct bt_conn *c, void *buf, size_t cap)
{
	struct pipe_end *e = (struct pipe_end *)c;
	if (!e->nin)
		return e->eof_in ? -ENOTCONN : 0;
	size_t n = e->nin < cap ? e->nin : cap;
	memcpy(buf, e->in, n);
	memmove(e->in, e->in + n, e->nin - n);
	e->nin -= n;
	return (ssize_t)n;
}

static inline int pipe_write(struct bt_conn *c, const void *buf, size_t len)
{
	struct pipe_end *e = (struct pipe_end *)c;
	if (!e->other)
		return -EPIPE;
	e->written += len;
	return pipe_append(&e->out, &e->nout, &e->capout, buf, len);
}

static inline int pipe_write_ref(struct bt_conn *c, void *buf, size_t len,
			  bt_conn_free_fn fn, void *arg)
{
	struct pipe_end *e = (struct pipe_end *)c;
	struct pipe_ref *r = calloc(1, sizeof(*r));
	if (!r || pipe_write(c, buf, len) < 0) {
		free(r);
		fn(buf, len, arg);
		return -ENOMEM;
	}
	r->fn = fn;
	r->buf = buf;
	r->arg = arg;
	r->len = len;
	r->at = e->written;
	struct pipe_ref **pp = &e->refs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = r;
	return 0;
}

static inline size_t pipe_queued(const struct bt_conn *c)
{
	return ((const struct pipe_end *)c)->nout;
}

static inline void pipe_set_low(struct bt_conn *c, size_t low)
{
	((struct pipe_end *)c)->low = low;
}

static inline int pipe_set_rl(struct bt_conn *c, struct bt_ratelimit *rl)
{
	(void)c;
	(void)rl;
	return 0;
}

static inline void pipe_free_refs(struct pipe_end *e, size_t upto)
{
	while (e->refs && e->refs->at <= upto) {
		struct pipe_ref *r = e->refs;
		e->refs = r->next;
		r->fn(r->buf, r->len, r->arg);
		free(r);
	}
}

static inline void pipe_destroy(struct bt_conn *c)
{
	struct pipe_end *e = (struct pipe_end *)c;
	pipe_free_refs(e, SIZE_MAX);
	if (e->other) {
		e->other->eof_in = true;
		e->other->other = NULL;
	}
	if (e->destroy_count)
		(*e->destroy_count)++;
	free(e->in);
	free(e->out);
	free(e);
}

static const struct bt_conn_ops pipe_ops = {
	.name = "pipe",
	.read = pipe_read,
	.write = pipe_write,
	.write_ref = pipe_write_ref,
	.queued = pipe_queued,
	.set_low_watermark = pipe_set_low,
	.set_ratelimit = pipe_set_rl,
	.destroy = pipe_destroy,
};

/* Two joined ends; A is "outgoing" (it connected to REMOTE_OF_A). */
static inline void pipe_new(struct pipe_end **a, struct pipe_end **b,
		     const struct bt_addr *remote_of_a)
{
	*a = calloc(1, sizeof(**a));
	*b = calloc(1, sizeof(**b));
	bt_conn_init(&(*a)->c, &pipe_ops, remote_of_a, true);
	bt_conn_init(&(*b)->c, &pipe_ops, NULL, false);
	(*a)->other = *b;
	(*b)->other = *a;
}

/* Move E's outbox to the other end; fire the callbacks. Returns the bytes
 * moved. E may be freed by a callback: do not use it after this when the
 * test closes it from one. */
static inline size_t pipe_pump_end(struct pipe_end *e)
{
	size_t n = e->nout;
	struct pipe_end *o = e->other;
	if (!n)
		return 0;
	if (o)
		pipe_append(&o->in, &o->nin, &o->capin, e->out, n);
	e->nout = 0;
	e->pumped += n;
	pipe_free_refs(e, e->pumped);
	/* E's outbox is empty: below any low watermark (E may go here) */
	bt_conn_fire_writable(&e->c);
	if (o)
		bt_conn_fire_readable(&o->c);
	return n;
}

/* Pump both ways until quiet (bounded). */
static inline void pipe_pump(struct pipe_end *a, struct pipe_end *b)
{
	for (int i = 0; i < 1000; i++) {
		size_t n = 0;
		n += pipe_pump_end(a);
		n += pipe_pump_end(b);
		if (!n)
			return;
	}
}

/* The end closes: the other side's readable fires and reads then end. */
static inline void pipe_hangup(struct pipe_end *e)
{
	struct pipe_end *o = e->other;
	if (!o)
		return;
	o->eof_in = true;
	bt_conn_fire_readable(&o->c);
}

#endif
