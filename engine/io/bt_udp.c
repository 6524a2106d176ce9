/* bt_udp — the shared UDP socket and its demultiplexer; see bt_udp.h.
 *
 * One persistent read event; each wakeup reads at most MAX_PER_WAKE
 * datagrams so a flood cannot starve the rest of the engine (what is left
 * wakes it again). */
#include "bt_udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "pfs_log.h"

#define MAX_PER_WAKE 64
#define MAX_DGRAM 65536

struct bt_udp {
	int fd;
	int family;
	uint16_t port;
	struct event *ev;
	bt_udp_handler fn[BT_UDP_NKINDS];
	void *arg[BT_UDP_NKINDS];
	bt_udp_error_handler err_fn;
	void *err_arg;
	uint32_t tids[BT_UDP_MAX_TIDS];
	size_t ntids;
	struct bt_udp_stats st;
	uint8_t *buf; /* MAX_DGRAM bytes */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct bt_udp *bt_udp_new(const char *bind_ip, uint16_t port, int *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int family = AF_INET6, e = -ENOMEM;
	struct bt_udp *u = calloc(1, sizeof(*u));
	if (!u || !(u->buf = malloc(MAX_DGRAM)))
		goto fail;
	u->fd = -1;
	memset(&ss, 0, sizeof(ss));
	if (bind_ip && inet_pton(AF_INET, bind_ip, &in4->sin_addr) == 1) {
		family = AF_INET;
	} else if (bind_ip && inet_pton(AF_INET6, bind_ip, &in6->sin6_addr) != 1) {
		e = -EINVAL;
		goto fail;
	}
	u->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0 && family == AF_INET6 && !bind_ip) {
		family = AF_INET; /* no IPv6 on this host */
		u->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       0);
	}
	if (u->fd < 0) {
		e = -errno;
		goto fail;
	}
	/* ICMP errors (port unreachable: a UDP tracker that is not there)
	 * are queued for read_errors() instead of being lost */
	int one = 1;
	setsockopt(u->fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
	if (family == AF_INET6) {
		int zero = 0;
		setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(u->fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		len = sizeof(*in6);
	} else {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		len = sizeof(*in4);
	}
	if (bind(u->fd, (struct sockaddr *)&ss, len) < 0) {
		e = -errno;
		goto fail;
	}
	len = sizeof(ss);
	getsockname(u->fd, (struct sockaddr *)&ss, &len);
	u->port = ntohs(family == AF_INET6 ? in6->sin6_port : in4->sin_port);
	u->family = family;
	return u;
fail:
	bt_udp_free(u);
	if (err)
		*err = e;
	return NULL;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

enum bt_udp_kind bt_udp_classify(const struct bt_udp *u, const uint8_t *pkt,
				 size_t len)
{
	if (len >= 1 && pkt[0] == 'd')
		return BT_UDP_DHT;
	if (len >= 8 && be32(pkt) <= 3) {
		uint32_t tid = be32(pkt + 4);
		for (size_t i = 0; i < u->ntids; i++)
			if (u->tids[i] == tid)
				return BT_UDP_TRACKER;
	}
	return BT_UDP_UTP;
}

/* Drain the socket's error queue (IP_RECVERR): each ICMP error names the
 * destination of the datagram that caused it, for the error handler. */
static void read_errors(struct bt_udp *u)
{
	for (int i = 0; i < MAX_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		uint8_t data[64];
		union {
			struct cmsghdr h;
			uint8_t b[512];
		} ctl;
		struct iovec iov = {data, sizeof(data)};
		struct msghdr m = {
			.msg_name = &ss,
			.msg_namelen = sizeof(ss),
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.b,
			.msg_controllen = sizeof(ctl.b),
		};
		if (recvmsg(u->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		struct bt_addr to;
		if (bt_addr_from_sockaddr(&to, (struct sockaddr *)&ss,
					  m.msg_namelen) < 0)
			continue;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c;
		     c = CMSG_NXTHDR(&m, c)) {
			bool v4 = c->cmsg_level == IPPROTO_IP &&
				  c->cmsg_type == IP_RECVERR;
			bool v6 = c->cmsg_level == IPPROTO_IPV6 &&
				  c->cmsg_type == IPV6_RECVERR;
			if (!v4 && !v6)
				continue;
			struct sock_extended_err ee;
			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			if (ee.ee_origin != SO_EE_ORIGIN_ICMP &&
			    ee.ee_origin != SO_EE_ORIGIN_ICMP6)
				continue;
			u->st.icmp_errors++;
			if (u->err_fn && ee.ee_errno)
				u->err_fn(u->err_arg, &to, -(int)ee.ee_errno,
					  now_ms());
		}
	}
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_udp *u = arg;
	(void)what;
	for (int i = 0; i < MAX_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(fd, u->buf, MAX_DGRAM, 0,
				     (struct sockaddr *)&ss, &sl);
		if (n < 0) {
			bool again = errno == EAGAIN || errno == EWOULDBLOCK ||
				     errno == EINTR;
			/* an ICMP error: its details are in the error queue,
			 * which must be drained even when a send already
			 * took the socket's error (the queue alone keeps
			 * the socket readable) */
			read_errors(u);
			if (again)
				return;
			continue; /* datagrams may follow */
		}
		struct bt_addr from;
		if (bt_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl) < 0)
			continue;
		enum bt_udp_kind k = bt_udp_classify(u, u->buf, (size_t)n);
		if (!u->fn[k]) {
			u->st.dropped[k]++;
			continue;
		}
		u->st.received[k]++;
		u->fn[k](u->arg[k], u->buf, (size_t)n, &from, now_ms());
	}
}

int bt_udp_start(struct bt_udp *u, struct event_base *base)
{
	if (u->ev)
		return 0;
	u->ev = event_new(base, u->fd, EV_READ | EV_PERSIST, read_cb, u);
	if (!u->ev || event_add(u->ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

void bt_udp_free(struct bt_udp *u)
{
	if (!u)
		return;
	if (u->ev)
		event_free(u->ev);
	if (u->fd >= 0)
		close(u->fd);
	free(u->buf);
	free(u);
}

uint16_t bt_udp_port(const struct bt_udp *u)
{
	return u->port;
}

void bt_udp_set_handler(struct bt_udp *u, enum bt_udp_kind kind,
			bt_udp_handler fn, void *arg)
{
	if (kind >= BT_UDP_NKINDS)
		return;
	u->fn[kind] = fn;
	u->arg[kind] = fn ? arg : NULL;
}

void bt_udp_set_error_handler(struct bt_udp *u, bt_udp_error_handler fn,
			      void *arg)
{
	u->err_fn = fn;
	u->err_arg = fn ? arg : NULL;
}

int bt_udp_tracker_expect(struct bt_udp *u, uint32_t tid)
{
	for (size_t i = 0; i < u->ntids; i++)
		if (u->tids[i] == tid)
			return 0;
	if (u->ntids == BT_UDP_MAX_TIDS)
		return -ENOSPC;
	u->tids[u->ntids++] = tid;
	return 0;
}

void bt_udp_tracker_done(struct bt_udp *u, uint32_t tid)
{
	for (size_t i = 0; i < u->ntids; i++)
		if (u->tids[i] == tid) {
			u->tids[i] = u->tids[--u->ntids];
			return;
		}
}

static bool icmp_errno(int e)
{
	return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH ||
	       e == EHOSTDOWN || e == ENETDOWN || e == EPROTO || e == EMSGSIZE ||
	       e == ETIMEDOUT || e == ENOPROTOOPT;
}

int bt_udp_send(struct bt_udp *u, const struct bt_addr *to, const void *pkt,
		size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(to, &ss);
	if (!sl)
		return -EAFNOSUPPORT;
	if (u->family == AF_INET6 && to->family == BT_ADDR_V4) {
		/* a dual-stack socket sends to IPv4 as v4-mapped IPv6 */
		struct sockaddr_in6 *m = (struct sockaddr_in6 *)&ss;
		uint8_t ip[4];
		memcpy(ip, to->ip, 4);
		memset(m, 0, sizeof(*m));
		m->sin6_family = AF_INET6;
		m->sin6_port = htons(to->port);
		m->sin6_addr.s6_addr[10] = 0xff;
		m->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&m->sin6_addr.s6_addr[12], ip, 4);
		sl = sizeof(*m);
	} else if (u->family == AF_INET && to->family == BT_ADDR_V6) {
		u->st.send_errors++;
		return -EAFNOSUPPORT;
	}
	ssize_t n = sendto(u->fd, pkt, len, 0, (struct sockaddr *)&ss, sl);
	if (n < 0 && icmp_errno(errno)) {
		/* with IP_RECVERR the ICMP error of an earlier datagram (to
		 * anyone) is also the socket's pending error, which the next
		 * send reports and clears: that is not this datagram's fate
		 * (the error queue tells whose it was), so send again */
		n = sendto(u->fd, pkt, len, 0, (struct sockaddr *)&ss, sl);
	}
	if (n < 0) {
		int e = errno == EWOULDBLOCK ? EAGAIN : errno;
		u->st.send_errors++;
		return -e;
	}
	u->st.sent++;
	return 0;
}

void bt_udp_stats(const struct bt_udp *u, struct bt_udp_stats *st)
{
	*st = u->st;
}
