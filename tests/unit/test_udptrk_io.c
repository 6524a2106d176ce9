/* test_udptrk_io — the udp:// announce glue (engine/io/bt_udptrk_io.c) on a
 * real loopback UDP socket (bt_udp) against a tracker faked in the same
 * event loop: a whole announce with its peers, a host name through evdns
 * (a hosts file of the test's own, and a name server on a closed loopback
 * port: nothing leaves the machine), a refused port failing at once by its ICMP
 * error, a cancel, a bad URL, and a tracker that answers another transaction
 * id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "bt_udp.h"
#include "bt_udptrk_io.h"

struct fake {
	int fd;
	uint16_t port;
	struct event *ev;
	int wrong_tid; /* answer with tid ^ 1 */
	int got;       /* datagrams received */
};

struct world {
	struct event_base *base;
	struct evdns_base *dns;
	struct bt_udp *udp;
	struct bt_udptrk_io *io;
	struct fake trk;
	int calls, err;
	size_t npeers;
	char why[256];
	struct event *stop;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void fake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	(void)what;
	uint8_t b[2048], out[64];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&ss, &sl);
	if (n < 16)
		return;
	f->got++;
	uint32_t action = get32(b + 8),
		 tid = get32(b + 12) ^ (uint32_t)f->wrong_tid;
	size_t len;
	memset(out, 0, sizeof(out));
	put32(out, action);
	put32(out + 4, tid);
	if (action == 0) {
		memcpy(out + 8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
		len = 16;
	} else {
		put32(out + 8, 1800);
		put32(out + 12, 0);
		put32(out + 16, 2);
		memcpy(out + 20,
		       "\x7f\x00\x00\x09\x1a\xe1\x7f\x00\x00\x0a\x1a\xe2", 12);
		len = 32;
	}
	sendto(fd, out, len, 0, (struct sockaddr *)&ss, sl);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->base = event_base_new();
	/* the only name server: a closed loopback port (nothing leaves the
	 * machine), asked once, briefly */
	w->dns = evdns_base_new(w->base, 0);
	assert_non_null(w->dns);
	assert_int_equal(evdns_base_nameserver_ip_add(w->dns, "127.0.0.1:9"),
			 0);
	evdns_base_set_option(w->dns, "timeout:", "0.3");
	evdns_base_set_option(w->dns, "attempts:", "1");
	char hosts[] = "/tmp/test_udptrk_io.XXXXXX";
	int hfd = mkstemp(hosts);
	assert_true(hfd >= 0);
	assert_true(write(hfd, "127.0.0.1 trk.test\n", 19) == 19);
	close(hfd);
	assert_int_equal(evdns_base_load_hosts(w->dns, hosts), 0);
	unlink(hosts);
	int err = 0;
	w->udp = bt_udp_new("127.0.0.1", 0, &err);
	assert_non_null(w->udp);
	assert_int_equal(bt_udp_start(w->udp, w->base), 0);
	w->io = bt_udptrk_io_new(w->base, w->dns, w->udp, &err);
	assert_non_null(w->io);
	w->trk.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(w->trk.fd, (struct sockaddr *)&sa, sizeof(sa)),
			 0);
	socklen_t sl = sizeof(sa);
	getsockname(w->trk.fd, (struct sockaddr *)&sa, &sl);
	w->trk.port = ntohs(sa.sin_port);
	w->trk.ev = event_new(w->base, w->trk.fd, EV_READ | EV_PERSIST, fake_cb,
			      &w->trk);
	event_add(w->trk.ev, NULL);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	bt_udptrk_io_free(w->io);
	bt_udp_free(w->udp);
	event_free(w->trk.ev);
	close(w->trk.fd);
	if (w->stop)
		event_free(w->stop);
	evdns_base_free(w->dns, 1);
	event_base_free(w->base);
	free(w);
	return 0;
}

static void done_cb(int err, const char *why, const struct bt_tracker_reply *r,
		    void *arg)
{
	struct world *w = arg;
	w->calls++;
	w->err = err;
	w->npeers = r ? r->npeers : 0;
	snprintf(w->why, sizeof(w->why), "%s", why ? why : "");
	event_base_loopbreak(w->base);
}

static void give_up(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop until a callback or MS milliseconds. */
static void run(struct world *w, int ms)
{
	if (!w->stop)
		w->stop = evtimer_new(w->base, give_up, w->base);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(w->stop, &tv);
	event_base_dispatch(w->base);
	evtimer_del(w->stop);
}

static void announce_of(struct bt_announce *a)
{
	memset(a, 0, sizeof(*a));
	memset(a->info_hash, 0xab, 20);
	memset(a->peer_id, 'p', 20);
	a->port = 6881;
	a->left = 100;
	a->event = BT_EVENT_STARTED;
	a->numwant = 50;
}

static void test_announce(void **state)
{
	struct world *w = *state;
	struct bt_announce a;
	announce_of(&a);
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u/announce", w->trk.port);
	assert_non_null(bt_udptrk_io_announce(w->io, url, &a, 0, done_cb, w));
	assert_int_equal(w->calls, 0); /* never inside the call */
	run(w, 3000);
	assert_int_equal(w->calls, 1);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->npeers, 2);
	assert_int_equal(w->trk.got, 2); /* connect, announce */
	/* the connection id is kept: one datagram the second time */
	assert_non_null(bt_udptrk_io_announce(w->io, url, &a, 0, done_cb, w));
	run(w, 3000);
	assert_int_equal(w->calls, 2);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->trk.got, 3);
}

static void test_host_name(void **state)
{
	struct world *w = *state;
	struct bt_announce a;
	announce_of(&a);
	char url[64];
	snprintf(url, sizeof(url), "udp://trk.test:%u", w->trk.port);
	assert_non_null(
	    bt_udptrk_io_announce(w->io, url, &a, 5000, done_cb, w));
	run(w, 3000);
	assert_int_equal(w->calls, 1);
	assert_int_equal(w->err, 0);
	assert_int_equal(w->npeers, 2);
	/* a name nobody knows: a clear error, not a hang */
	assert_non_null(bt_udptrk_io_announce(w->io, "udp://nowhere.test:1", &a,
					      5000, done_cb, w));
	run(w, 6000);
	assert_int_equal(w->calls, 2);
	assert_true(w->err < 0);
	assert_non_null(strstr(w->why, "cannot resolve 'nowhere.test'"));
	assert_int_equal(w->err, -EHOSTUNREACH);
}

static void test_refused(void **state)
{
	struct world *w = *state;
	struct bt_announce a;
	announce_of(&a);
	/* a port nothing listens on: the tracker's own, closed */
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", w->trk.port);
	event_del(w->trk.ev);
	close(w->trk.fd);
	w->trk.fd = socket(AF_INET, SOCK_DGRAM, 0); /* for teardown */
	assert_non_null(bt_udptrk_io_announce(w->io, url, &a, 0, done_cb, w));
	run(w, 3000); /* not BEP 15's 45 s: the ICMP error says it */
	assert_int_equal(w->calls, 1);
	assert_int_equal(w->err, -ECONNREFUSED);
	assert_non_null(strstr(w->why, "refused"));
}

/* The same on a dual-stack socket (no --bind): IPv4 goes out v4-mapped and
 * its ICMP error comes back through the IPv6 socket's error queue. */
static void test_refused_dual_stack(void **state)
{
	struct world *w = *state;
	int err = 0;
	bt_udptrk_io_free(w->io);
	bt_udp_free(w->udp);
	w->udp = bt_udp_new(NULL, 0, &err);
	assert_non_null(w->udp);
	assert_int_equal(bt_udp_start(w->udp, w->base), 0);
	w->io = bt_udptrk_io_new(w->base, w->dns, w->udp, &err);
	assert_non_null(w->io);
	test_refused(state);
}

struct two {
	int calls, ok, refused;
	struct event_base *base;
};

static void two_cb(int err, const char *why, const struct bt_tracker_reply *r,
		   void *arg)
{
	struct two *t = arg;
	(void)why;
	(void)r;
	t->calls++;
	t->ok += err == 0;
	t->refused += err == -ECONNREFUSED;
	if (t->calls == 2)
		event_base_loopbreak(t->base);
}

/* A refusal (ICMP) is also the socket's pending error, which the next
 * send to anyone would report: an announce to a live tracker right after
 * one to a dead port must still go out. */
static void test_refusal_not_taken_by_next_send(void **state)
{
	struct world *w = *state;
	struct bt_announce a;
	announce_of(&a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd); /* a port nothing listens on */
	char dead[64], live[64];
	snprintf(dead, sizeof(dead), "udp://127.0.0.1:%u", ntohs(sa.sin_port));
	snprintf(live, sizeof(live), "udp://127.0.0.1:%u", w->trk.port);
	struct two t = {.base = w->base};
	assert_non_null(bt_udptrk_io_announce(w->io, dead, &a, 0, two_cb, &t));
	usleep(20000); /* the ICMP error is back */
	assert_non_null(bt_udptrk_io_announce(w->io, live, &a, 0, two_cb, &t));
	run(w, 3000);
	assert_int_equal(t.calls, 2);
	assert_int_equal(t.refused, 1);
	assert_int_equal(t.ok, 1);
}

static void test_cancel_and_bad_url(void **state)
{
	struct world *w = *state;
	struct bt_announce a;
	announce_of(&a);
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", w->trk.port);
	struct bt_udptrk_ioreq *r =
	    bt_udptrk_io_announce(w->io, url, &a, 0, done_cb, w);
	assert_non_null(r);
	bt_udptrk_io_cancel(r);
	run(w, 300);
	assert_int_equal(w->calls, 0);
	assert_null(
	    bt_udptrk_io_announce(w->io, "udp://127.0.0.1", &a, 0, done_cb, w));
	assert_null(bt_udptrk_io_announce(w->io, "http://127.0.0.1:1/a", &a, 0,
					  done_cb, w));
	/* a request left pending is freed with the io object (teardown) */
	assert_non_null(bt_udptrk_io_announce(w->io, "udp://trk.test:9", &a, 0,
					      done_cb, w));
}

static void test_wrong_tid(void **state)
{
	struct world *w = *state;
	struct bt_announce a;
	announce_of(&a);
	w->trk.wrong_tid = 1;
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", w->trk.port);
	/* ignored replies: the request's own timeout ends it */
	assert_non_null(
	    bt_udptrk_io_announce(w->io, url, &a, 1500, done_cb, w));
	run(w, 4000);
	assert_int_equal(w->calls, 1);
	assert_int_equal(w->err, -ETIMEDOUT);
	assert_int_equal(w->trk.got, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_announce, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_dual_stack, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refusal_not_taken_by_next_send,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_and_bad_url, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_tid, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
