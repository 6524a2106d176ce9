/* Unit tests for bt_conn_mse, the MSE transport, over the in-memory pipe
 * transport (conn_pipe.h) with an event base for its timer and its
 * held-back payload: both roles complete the handshake (RC4 or plaintext
 * as the policies allow), payload crosses both ways by copy and by
 * reference (bigger than one read, the first bytes arriving with the
 * handshake's last), the wire never carries the payload in the clear with
 * RC4; an unknown SKEY, garbage, a peer that hangs up and a silent peer
 * (timeout) each end the handshake with a reason; a
 * close inside the user's callbacks is deferred. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include "bt_conn_mse.h"
#include "conn_pipe.h"

static const uint8_t SKEY[20] = "0123456789abcdefghij";

/* what one side's user sees */
struct user {
	struct bt_conn *c;
	uint8_t *got;
	size_t ngot, cap;
	int connected, closed, close_err, ready, ready_err;
	bool close_in_readable;
	const char *hello; /* written once connected (as a peer does) */
};

static void u_readable(struct bt_conn *c, void *arg)
{
	struct user *u = arg;
	for (;;) {
		if (u->ngot == u->cap) {
			u->cap = u->cap ? u->cap * 2 : 4096;
			u->got = realloc(u->got, u->cap);
		}
		/* small reads: the held-back bytes come in several */
		size_t room = u->cap - u->ngot;
		ssize_t n = bt_conn_read(c, u->got + u->ngot, room > 700 ? 700 : room);
		if (n <= 0)
			break;
		u->ngot += (size_t)n;
	}
	if (u->close_in_readable) {
		bt_conn_close(c);
		u->c = NULL;
	}
}

static void u_connected(struct bt_conn *c, void *arg)
{
	struct user *u = arg;
	u->connected++;
	if (u->hello)
		assert_int_equal(bt_conn_write(c, u->hello, strlen(u->hello)), 0);
}

static void u_closed(struct bt_conn *c, void *arg, int err)
{
	(void)c;
	struct user *u = arg;
	u->closed++;
	u->close_err = err;
}

static const struct bt_conn_cbs u_cbs = {
	.readable = u_readable,
	.connected = u_connected,
	.closed = u_closed,
};

static void on_ready(void *arg, struct bt_conn *c, int err)
{
	struct user *u = arg;
	u->ready++;
	u->ready_err = err;
	if (err == 0) {
		u->c = c;
		bt_conn_set_cbs(c, &u_cbs, u);
		/* at once: it goes out right behind the handshake's last bytes,
		 * so the initiator reads both at once */
		if (u->hello)
			assert_int_equal(
				bt_conn_write(c, u->hello, strlen(u->hello)), 0);
	}
}

static int find_skey(void *arg, const uint8_t req2[20], uint8_t skey[20])
{
	(void)arg;
	uint8_t h[20];
	assert_int_equal(bt_mse_req2(SKEY, h), 0);
	if (memcmp(h, req2, 20))
		return -ENOENT;
	memcpy(skey, SKEY, 20);
	return 0;
}

static int find_none(void *arg, const uint8_t req2[20], uint8_t skey[20])
{
	(void)arg;
	(void)req2;
	(void)skey;
	return -ENOENT;
}

struct rig {
	struct event_base *base;
	struct pipe_end *a, *b;
	struct user ua, ub;
	int destroyed;
};

static void rig_new(struct rig *r, enum bt_mse_policy pa, enum bt_mse_policy pb,
		    bt_mse_find_fn find, uint32_t timeout_ms)
{
	memset(r, 0, sizeof(*r));
	assert_non_null(r->base = event_base_new());
	struct bt_addr remote = {0};
	pipe_new(&r->a, &r->b, &remote);
	r->a->destroy_count = r->b->destroy_count = &r->destroyed;
	struct bt_conn_mse_opts oa = {.policy = pa, .skey = SKEY,
				      .timeout_ms = timeout_ms};
	struct bt_conn_mse_opts ob = {.policy = pb, .find = find,
				      .ready = on_ready, .ready_arg = &r->ub,
				      .timeout_ms = timeout_ms};
	int err = 0;
	r->ua.c = bt_conn_mse_new(r->base, &r->a->c, &oa, NULL, 0, &err);
	assert_non_null(r->ua.c);
	bt_conn_set_cbs(r->ua.c, &u_cbs, &r->ua);
	struct bt_conn *b = bt_conn_mse_new(r->base, &r->b->c, &ob, NULL, 0, &err);
	assert_non_null(b);
	assert_true(bt_conn_is_mse(b) && bt_conn_mse_tcp_up(b));
	assert_false(bt_conn_mse_tcp_up(r->ua.c));
	/* the TCP connect below completes */
	bt_conn_fire_connected(&r->a->c);
	assert_true(bt_conn_mse_tcp_up(r->ua.c));
}

/* pump and run the loop until quiet; once an end is gone (freed inside
 * a callback), no more pumping */
static void spin(struct rig *r)
{
	for (int i = 0; i < 200; i++) {
		if (!r->destroyed)
			pipe_pump_end(r->a);
		if (!r->destroyed)
			pipe_pump_end(r->b);
		event_base_loop(r->base, EVLOOP_NONBLOCK);
	}
}

static void rig_free(struct rig *r)
{
	if (r->ua.c)
		bt_conn_close(r->ua.c);
	if (r->ub.c)
		bt_conn_close(r->ub.c);
	assert_int_equal(r->destroyed, 2);
	free(r->ua.got);
	free(r->ub.got);
	event_base_free(r->base);
}

static void free_fn(const void *buf, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)buf);
}

static void payload_both_ways(struct rig *r, bool rc4)
{
	/* A's first bytes go out at once: they reach B with the handshake's
	 * last, and come to B's user through the held-back buffer */
	static uint8_t big[300000], ref1[100000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	r->ua.hello = "hello, b";
	r->ub.hello = "hello, a";
	spin(r);
	assert_int_equal(r->ub.ready, 1);
	assert_int_equal(r->ub.ready_err, 0);
	assert_int_equal(r->ua.connected, 1);
	assert_true(bt_conn_mse_done(r->ua.c) && bt_conn_mse_done(r->ub.c));
	assert_int_equal(bt_conn_mse_rc4(r->ua.c), rc4);
	assert_int_equal(bt_conn_mse_rc4(r->ub.c), rc4);
	assert_int_equal(r->ub.ngot, 8);
	assert_memory_equal(r->ub.got, "hello, b", 8);
	assert_int_equal(r->ua.ngot, 8);
	assert_memory_equal(r->ua.got, "hello, a", 8);
	/* by copy, bigger than a chunk; by reference, encrypted in place */
	assert_int_equal(bt_conn_write(r->ub.c, big, sizeof(big)), 0);
	uint8_t *ref = malloc(sizeof(ref1));
	for (size_t i = 0; i < sizeof(ref1); i++)
		ref1[i] = ref[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(bt_conn_write_ref(r->ua.c, ref, sizeof(ref1), free_fn,
					   NULL),
			 0);
	/* with RC4 nothing of it is in the clear in A's outbox */
	if (rc4)
		assert_true(r->a->nout >= sizeof(ref1) &&
			    memcmp(r->a->out + r->a->nout - sizeof(ref1), ref1,
				   64) != 0);
	spin(r);
	assert_int_equal(r->ua.ngot, 8 + sizeof(big));
	assert_memory_equal(r->ua.got + 8, big, sizeof(big));
	assert_int_equal(r->ub.ngot, 8 + sizeof(ref1));
	assert_memory_equal(r->ub.got + 8, ref1, sizeof(ref1));
}

static void test_rc4_both_ways(void **state)
{
	(void)state;
	struct rig r;
	rig_new(&r, BT_MSE_REQUIRE, BT_MSE_PREFER, find_skey, 0);
	payload_both_ways(&r, true);
	rig_free(&r);
	rig_new(&r, BT_MSE_PREFER, BT_MSE_REQUIRE, find_skey, 0);
	payload_both_ways(&r, true);
	rig_free(&r);
}

static void test_prefer_prefer(void **state)
{
	(void)state;
	struct rig r;
	/* our responder picks RC4 when offered */
	rig_new(&r, BT_MSE_PREFER, BT_MSE_PREFER, find_skey, 0);
	payload_both_ways(&r, true);
	rig_free(&r);
}

static void test_unknown_skey(void **state)
{
	(void)state;
	struct rig r;
	rig_new(&r, BT_MSE_PREFER, BT_MSE_PREFER, find_none, 0);
	spin(&r);
	/* B gave up (and freed itself); A saw the end during its handshake */
	assert_int_equal(r.ub.ready, 1);
	assert_true(r.ub.ready_err < 0);
	assert_int_equal(r.destroyed, 1);
	bt_conn_fire_readable(&r.a->c); /* its end of stream */
	assert_int_equal(r.ua.connected, 0);
	assert_int_equal(r.ua.closed, 1);
	assert_true(bt_conn_mse_tcp_up(r.ua.c) && !bt_conn_mse_done(r.ua.c));
	assert_string_not_equal(bt_conn_mse_reason(r.ua.c), "");
	assert_int_equal(bt_conn_write(r.ua.c, "x", 1), -ENOTCONN);
	rig_free(&r);
}

static void test_garbage(void **state)
{
	(void)state;
	struct rig r;
	memset(&r, 0, sizeof(r));
	assert_non_null(r.base = event_base_new());
	struct bt_addr remote = {0};
	pipe_new(&r.a, &r.b, &remote);
	r.a->destroy_count = r.b->destroy_count = &r.destroyed;
	struct bt_conn_mse_opts ob = {.policy = BT_MSE_PREFER, .find = find_skey,
				      .ready = on_ready, .ready_arg = &r.ub};
	uint8_t junk[1200];
	memset(junk, 0x42, sizeof(junk));
	int err = 0;
	/* the sniffer's first bytes, then the rest */
	struct bt_conn *b = bt_conn_mse_new(r.base, &r.b->c, &ob, junk, 48, &err);
	assert_non_null(b);
	assert_int_equal(bt_conn_write(&r.a->c, junk, sizeof(junk)), 0);
	spin(&r);
	(void)b;
	assert_int_equal(r.ub.ready, 1);
	assert_int_equal(r.ub.ready_err, -EPROTO);
	assert_int_equal(r.destroyed, 1); /* B freed itself */
	bt_conn_close(&r.a->c);
	assert_int_equal(r.destroyed, 2);
	event_base_free(r.base);
}

static void test_plain_peer_hangs_up(void **state)
{
	(void)state;
	struct rig r;
	memset(&r, 0, sizeof(r));
	assert_non_null(r.base = event_base_new());
	struct bt_addr remote = {0};
	pipe_new(&r.a, &r.b, &remote);
	r.a->destroy_count = r.b->destroy_count = &r.destroyed;
	struct bt_conn_mse_opts oa = {.policy = BT_MSE_PREFER, .skey = SKEY};
	int err = 0;
	r.ua.c = bt_conn_mse_new(r.base, &r.a->c, &oa, NULL, 0, &err);
	bt_conn_set_cbs(r.ua.c, &u_cbs, &r.ua);
	bt_conn_fire_connected(&r.a->c);
	pipe_pump(r.a, r.b);
	/* a plain-only client reads our key, sees no handshake, hangs up */
	assert_true(r.b->nin >= 96);
	pipe_hangup(r.b);
	assert_int_equal(r.ua.closed, 1);
	assert_int_equal(r.ua.close_err, -ECONNRESET);
	assert_true(bt_conn_mse_tcp_up(r.ua.c) && !bt_conn_mse_done(r.ua.c));
	bt_conn_close(r.ua.c);
	bt_conn_close(&r.b->c);
	assert_int_equal(r.destroyed, 2);
	event_base_free(r.base);
}

/* A responder that says nothing: the initiator's handshake times out (its
 * own timer). Policy mismatches are the core's (test_mse.c). */
static void test_silent_peer_times_out(void **state)
{
	(void)state;
	struct rig r;
	memset(&r, 0, sizeof(r));
	assert_non_null(r.base = event_base_new());
	struct bt_addr remote = {0};
	pipe_new(&r.a, &r.b, &remote);
	r.a->destroy_count = r.b->destroy_count = &r.destroyed;
	struct bt_conn_mse_opts oa = {.policy = BT_MSE_REQUIRE, .skey = SKEY,
				      .timeout_ms = 50};
	int err = 0;
	r.ua.c = bt_conn_mse_new(r.base, &r.a->c, &oa, NULL, 0, &err);
	bt_conn_set_cbs(r.ua.c, &u_cbs, &r.ua);
	bt_conn_fire_connected(&r.a->c);
	struct timeval tv = {0, 200 * 1000};
	event_base_loopexit(r.base, &tv);
	event_base_dispatch(r.base);
	assert_int_equal(r.ua.closed, 1);
	assert_int_equal(r.ua.close_err, -ETIMEDOUT);
	assert_string_equal(bt_conn_mse_reason(r.ua.c),
			    "encryption handshake timeout");
	bt_conn_close(r.ua.c);
	bt_conn_close(&r.b->c);
	assert_int_equal(r.destroyed, 2);
	event_base_free(r.base);
}

static void test_close_inside_readable(void **state)
{
	(void)state;
	struct rig r;
	rig_new(&r, BT_MSE_PREFER, BT_MSE_PREFER, find_skey, 0);
	r.ub.close_in_readable = true;
	r.ua.hello = "first bytes";
	spin(&r);
	assert_int_equal(r.ub.ready, 1);
	assert_null(r.ub.c); /* closed in its readable: freed after it */
	assert_int_equal(r.destroyed, 1);
	bt_conn_close(r.ua.c);
	assert_int_equal(r.destroyed, 2);
	free(r.ua.got);
	free(r.ub.got);
	event_base_free(r.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rc4_both_ways),
		cmocka_unit_test(test_prefer_prefer),
		cmocka_unit_test(test_unknown_skey),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_plain_peer_hangs_up),
		cmocka_unit_test(test_silent_peer_times_out),
		cmocka_unit_test(test_close_inside_readable),
	};
	return cmocka_run_group_tests_name("conn_mse", tests, NULL, NULL);
}
