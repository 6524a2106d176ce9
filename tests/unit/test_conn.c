/* Unit tests for bt_conn and its TCP transport (bt_conn_tcp) on loopback,
 * driven by an event loop in the test thread: connect and accept, reads in
 * the pull model, copy and reference writes (the free callback runs once
 * the bytes are gone, and for what is still queued at close), the queued
 * count and the low-watermark callback, an orderly end of stream and a
 * refused connect, reads under a download limit (through the rate-limit
 * group), and a close requested inside a callback, which is deferred until
 * the callback returns (the pipe transport of the tests shows that no
 * callback follows and the free happens once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bt_conn_tcp.h"
#include "conn_pipe.h"

struct side {
	struct bt_conn *c;
	uint8_t *got;
	size_t ngot, cap;
	int readable, writable, connected, closed, close_err;
	bool close_in_readable;
	bool read_all; /* read until 0 in readable */
};

static void on_readable(struct bt_conn *c, void *arg)
{
	struct side *s = arg;
	s->readable++;
	for (;;) {
		if (s->ngot == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 4096;
			s->got = realloc(s->got, s->cap);
		}
		ssize_t n = bt_conn_read(c, s->got + s->ngot, s->cap - s->ngot);
		if (n < 0) {
			s->closed++;
			s->close_err = (int)n;
			break;
		}
		s->ngot += (size_t)n;
		if (n == 0 || !s->read_all)
			break;
	}
	if (s->close_in_readable) {
		bt_conn_close(c);
		/* still safe to look at inside the callback */
		assert_true(c->closing);
		s->c = NULL;
	}
}

static void on_writable(struct bt_conn *c, void *arg)
{
	(void)c;
	((struct side *)arg)->writable++;
}

static void on_connected(struct bt_conn *c, void *arg)
{
	(void)c;
	((struct side *)arg)->connected++;
}

static void on_closed(struct bt_conn *c, void *arg, int err)
{
	(void)c;
	struct side *s = arg;
	s->closed++;
	s->close_err = err;
}

static const struct bt_conn_cbs cbs = {
	.readable = on_readable,
	.writable = on_writable,
	.connected = on_connected,
	.closed = on_closed,
};

static int listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	getsockname(fd, (struct sockaddr *)&a, &alen);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Run the loop until COND or 5 s. */
#define LOOP_UNTIL(base, cond)                                                \
	do {                                                                  \
		struct timespec t0_, t1_;                                     \
		clock_gettime(CLOCK_MONOTONIC, &t0_);                         \
		for (;;) {                                                    \
			if (cond)                                             \
				break;                                        \
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK); \
			clock_gettime(CLOCK_MONOTONIC, &t1_);                 \
			assert_true(t1_.tv_sec - t0_.tv_sec < 5);             \
			struct timespec d_ = {0, 1000000};                    \
			nanosleep(&d_, NULL);                                 \
		}                                                             \
	} while (0)

struct pair {
	struct event_base *base;
	int lfd;
	struct side out, in;
};

static void pair_up(struct pair *p)
{
	memset(p, 0, sizeof(*p));
	p->base = event_base_new();
	uint16_t port;
	p->lfd = listener(&port);
	struct bt_addr to;
	char s[32];
	snprintf(s, sizeof(s), "127.0.0.1:%u", port);
	assert_int_equal(bt_addr_parse(s, &to), 0);
	int err = 0;
	p->out.c = bt_conn_tcp_connect(p->base, &to, "127.0.0.1", &err);
	assert_non_null(p->out.c);
	assert_true(p->out.c->outgoing);
	bt_conn_set_cbs(p->out.c, &cbs, &p->out);
	LOOP_UNTIL(p->base, p->out.connected == 1);
	int fd = accept(p->lfd, NULL, NULL);
	assert_true(fd >= 0);
	p->in.c = bt_conn_tcp_accept(p->base, fd, NULL, &err);
	assert_non_null(p->in.c);
	bt_conn_set_cbs(p->in.c, &cbs, &p->in);
}

static void pair_down(struct pair *p)
{
	bt_conn_close(p->out.c);
	bt_conn_close(p->in.c);
	close(p->lfd);
	event_base_free(p->base);
	free(p->out.got);
	free(p->in.got);
}

static int freed;
static void free_ref(const void *buf, size_t len, void *arg)
{
	(void)len;
	assert_ptr_equal(arg, &freed);
	free((void *)buf);
	freed++;
}

static void test_tcp_stream(void **state)
{
	(void)state;
	struct pair p;
	pair_up(&p);
	/* copy writes and a reference write, in order */
	assert_int_equal(bt_conn_write(p.out.c, "hello ", 6), 0);
	char *ref = strdup("world");
	freed = 0;
	assert_int_equal(bt_conn_write_ref(p.out.c, ref, 5, free_ref, &freed), 0);
	LOOP_UNTIL(p.base, p.in.ngot == 11);
	assert_memory_equal(p.in.got, "hello world", 11);
	LOOP_UNTIL(p.base, freed == 1);
	assert_int_equal(bt_conn_queued(p.out.c), 0);

	/* a big write is queued, the low watermark fires once it drains */
	size_t big = 4u << 20;
	uint8_t *buf = malloc(big);
	for (size_t i = 0; i < big; i++)
		buf[i] = (uint8_t)(i * 7);
	bt_conn_set_low_watermark(p.out.c, 64 * 1024);
	int w0 = p.out.writable;
	assert_int_equal(bt_conn_write(p.out.c, buf, big), 0);
	assert_true(bt_conn_queued(p.out.c) > 0);
	p.in.ngot = 0;
	p.in.read_all = true;
	LOOP_UNTIL(p.base, p.in.ngot == big);
	assert_memory_equal(p.in.got, buf, big);
	LOOP_UNTIL(p.base, p.out.writable > w0);
	free(buf);

	/* an orderly end: the reader sees -ENOTCONN */
	bt_conn_close(p.out.c);
	p.out.c = NULL;
	LOOP_UNTIL(p.base, p.in.closed == 1);
	assert_int_equal(p.in.close_err, -ENOTCONN);
	pair_down(&p);
}

static void test_tcp_refused_and_queued_refs(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	uint16_t port;
	int lfd = listener(&port);
	close(lfd); /* nobody listens there now */
	struct bt_addr to;
	char s[32];
	snprintf(s, sizeof(s), "127.0.0.1:%u", port);
	assert_int_equal(bt_addr_parse(s, &to), 0);
	struct side side = {0};
	int err = 0;
	side.c = bt_conn_tcp_connect(base, &to, NULL, &err);
	assert_non_null(side.c);
	bt_conn_set_cbs(side.c, &cbs, &side);
	LOOP_UNTIL(base, side.closed == 1);
	assert_int_equal(side.connected, 0);
	assert_int_equal(side.close_err, -ECONNREFUSED);
	/* a reference still queued is freed with the connection */
	freed = 0;
	bt_conn_write_ref(side.c, strdup("x"), 1, free_ref, &freed);
	bt_conn_close(side.c);
	/* (libevent finalizes a freed bufferevent in its next loop) */
	LOOP_UNTIL(base, freed == 1);
	event_base_free(base);
}

static void test_tcp_rate_limited_reads(void **state)
{
	(void)state;
	struct pair p;
	pair_up(&p);
	int err = 0;
	struct bt_ratelimit *rl = bt_ratelimit_new(p.base, 0, 1u << 20, &err);
	assert_non_null(rl);
	assert_true(bt_ratelimit_limits_down(rl));
	assert_int_equal(bt_conn_set_ratelimit(p.in.c, rl), 0);
	size_t n = 512 * 1024;
	uint8_t *buf = calloc(1, n);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(bt_conn_write(p.out.c, buf, n), 0);
	p.in.read_all = true;
	LOOP_UNTIL(p.base, p.in.ngot == n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* 512 KiB at 1 MiB/s: about half a second (the first tick's burst
	 * of 100 KiB comes at once) */
	assert_true(dt > 0.25);
	/* and back to our own reads without a limit */
	assert_int_equal(bt_conn_set_ratelimit(p.in.c, NULL), 0);
	p.in.ngot = 0;
	assert_int_equal(bt_conn_write(p.out.c, buf, n), 0);
	LOOP_UNTIL(p.base, p.in.ngot == n);
	free(buf);
	bt_conn_set_ratelimit(p.in.c, NULL);
	pair_down(&p);
	bt_ratelimit_free(rl);
}

static void test_close_inside_callback(void **state)
{
	(void)state;
	/* TCP: closing in readable frees the connection after it returns */
	struct pair p;
	pair_up(&p);
	p.in.close_in_readable = true;
	struct bt_conn *in = p.in.c;
	(void)in;
	assert_int_equal(bt_conn_write(p.out.c, "abc", 3), 0);
	LOOP_UNTIL(p.base, p.in.c == NULL);
	assert_int_equal(p.in.readable, 1);
	/* the other side sees the end */
	LOOP_UNTIL(p.base, p.out.closed == 1);
	pair_down(&p);

	/* the pipe: no callback after the close, one free, after return */
	struct pipe_end *a, *b;
	int destroyed = 0;
	pipe_new(&a, &b, NULL);
	b->destroy_count = &destroyed;
	struct side sb = {.c = &b->c, .close_in_readable = true};
	bt_conn_set_cbs(&b->c, &cbs, &sb);
	bt_conn_write(&a->c, "x", 1);
	pipe_pump_end(a);
	assert_int_equal(destroyed, 1);
	assert_int_equal(sb.readable, 1);
	assert_int_equal(sb.writable, 0);
	/* a's reads now end */
	uint8_t tmp[4];
	assert_int_equal(bt_conn_read(&a->c, tmp, sizeof(tmp)), -ENOTCONN);
	bt_conn_close(&a->c);
	free(sb.got);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_stream),
		cmocka_unit_test(test_tcp_refused_and_queued_refs),
		cmocka_unit_test(test_tcp_rate_limited_reads),
		cmocka_unit_test(test_close_inside_callback),
	};
	return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
