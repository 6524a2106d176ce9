/* bt_lsd_io — the BEP 14 multicast socket; see bt_lsd_io.h.
 *
 * The rate limit is a window of one second holding at most LSD_RATE parsed
 * datagrams; the read event drains at most LSD_PER_WAKE per wake-up. */
#include "bt_lsd_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bt_lsd.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define LSD_RATE     50
#define LSD_PER_WAKE 64

struct bt_lsd_io {
	int fd;
	struct event *ev;
	uint16_t port;
	bt_lsd_peer_fn fn;
	void *arg;
	char cookie[17];
	struct sockaddr_in group;
	uint64_t window_start;
	unsigned window_n;
	struct bt_lsd_io_stats st;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_lsd_io *l = arg;
	(void)what;
	uint8_t buf[BT_LSD_MAX_MSG + 1];
	for (int i = 0; i < LSD_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC,
				     (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return;
		l->st.received++;
		uint64_t now = now_ms();
		if (now - l->window_start >= 1000) {
			l->window_start = now;
			l->window_n = 0;
		}
		if (++l->window_n > LSD_RATE) {
			l->st.rate_dropped++;
			continue;
		}
		struct bt_addr from;
		if ((size_t)n > BT_LSD_MAX_MSG ||
		    bt_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl) <
			0) {
			l->st.bad++;
			continue;
		}
		struct bt_lsd_msg m;
		char why[128];
		if (bt_lsd_parse(buf, (size_t)n, &m, why, sizeof(why)) < 0) {
			l->st.bad++;
			continue;
		}
		if (bt_lsd_is_own(&m, l->cookie)) {
			l->st.own++;
			continue;
		}
		from.port = m.port;
		if (!bt_addr_usable(&from)) {
			l->st.bad++;
			continue;
		}
		for (size_t k = 0; k < m.nhashes; k++) {
			l->st.peers++;
			l->fn(l->arg, m.hashes[k], &from);
		}
	}
}

struct bt_lsd_io *bt_lsd_io_new(struct event_base *base, const char *bind_ip,
				uint16_t port, bt_lsd_peer_fn fn, void *arg,
				int *err)
{
	int e = -ENOMEM;
	struct bt_lsd_io *l = calloc(1, sizeof(*l));
	if (!l)
		goto fail;
	l->fd = -1;
	l->port = port;
	l->fn = fn;
	l->arg = arg;
	uint8_t rnd[8];
	if ((e = pfs_random(rnd, sizeof(rnd))) < 0)
		goto fail;
	pfs_hex(rnd, sizeof(rnd), l->cookie);
	struct in_addr ifaddr = {htonl(INADDR_ANY)};
	if (bind_ip && inet_pton(AF_INET, bind_ip, &ifaddr) != 1) {
		e = -EAFNOSUPPORT; /* an IPv6 --bind: no IPv4 LSD */
		goto fail;
	}
	l->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		e = -errno;
		goto fail;
	}
	int one = 1, ttl = 1;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(BT_LSD_PORT),
				 .sin_addr = {htonl(INADDR_ANY)}};
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = -errno;
		goto fail;
	}
	l->group.sin_family = AF_INET;
	l->group.sin_port = htons(BT_LSD_PORT);
	inet_pton(AF_INET, BT_LSD_GROUP4, &l->group.sin_addr);
	struct ip_mreq mr = {.imr_multiaddr = l->group.sin_addr,
			     .imr_interface = ifaddr};
	if (setsockopt(l->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) <
	    0) {
		e = -errno;
		goto fail;
	}
	setsockopt(l->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
	setsockopt(l->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one));
	if (bind_ip)
		setsockopt(l->fd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr,
			   sizeof(ifaddr));
	l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, read_cb, l);
	if (!l->ev || event_add(l->ev, NULL) < 0) {
		e = -ENOMEM;
		goto fail;
	}
	return l;
fail:
	bt_lsd_io_free(l);
	if (err)
		*err = e;
	return NULL;
}

void bt_lsd_io_free(struct bt_lsd_io *l)
{
	if (!l)
		return;
	if (l->ev)
		event_free(l->ev);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}

int bt_lsd_io_announce(struct bt_lsd_io *l, const uint8_t (*hashes)[20],
		       size_t n)
{
	char buf[BT_LSD_MAX_SEND];
	while (n) {
		size_t len;
		int k = bt_lsd_build(buf, sizeof(buf), &len, false, l->port,
				     hashes, n, l->cookie);
		if (k <= 0)
			return k < 0 ? k : -EINVAL;
		if (sendto(l->fd, buf, len, 0, (struct sockaddr *)&l->group,
			   sizeof(l->group)) < 0)
			return -errno;
		l->st.sent++;
		hashes += k;
		n -= (size_t)k;
	}
	return 0;
}

void bt_lsd_io_stats(const struct bt_lsd_io *l, struct bt_lsd_io_stats *st)
{
	*st = l->st;
}
