/* bt_conn_tcp — TCP as a bt_conn; see bt_conn_tcp.h.
 *
 * Two ways of reading, switched by the rate limit: our own persistent read
 * event and read(2) into the user's buffer (the fast path), or, under a
 * download limit, the bufferevent's rate-limited reads into its input
 * buffer, from which bt_conn_read() copies. */
#include "bt_conn_tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "pfs_log.h"

struct tcp_conn {
	struct bt_conn c;
	struct bufferevent *bev;
	struct event *read_ev; /* our own reads (no download limit) */
	int fd;
	bool bev_reads;	       /* the bufferevent reads (download limit) */
	bool in_group;
};

static struct tcp_conn *tcp(struct bt_conn *c)
{
	return (struct tcp_conn *)c;
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static ssize_t tcp_read(struct bt_conn *c, void *buf, size_t cap)
{
	struct tcp_conn *t = tcp(c);
	if (cap > BT_CONN_TCP_READ_MAX)
		cap = BT_CONN_TCP_READ_MAX;
	if (t->bev_reads) {
		int n = evbuffer_remove(bufferevent_get_input(t->bev), buf, cap);
		return n > 0 ? n : 0;
	}
	ssize_t r = read(t->fd, buf, cap);
	if (r > 0) {
		/* ACK at once (Linux falls back to delayed ACKs by itself) */
		int one = 1;
		setsockopt(t->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		return r;
	}
	if (r == 0)
		return -ENOTCONN;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -errno;
}

static int tcp_write(struct bt_conn *c, const void *buf, size_t len)
{
	return bufferevent_write(tcp(c)->bev, buf, len) < 0 ? -ENOMEM : 0;
}

static int tcp_write_ref(struct bt_conn *c, void *buf, size_t len,
			 bt_conn_free_fn fn, void *arg)
{
	struct evbuffer *out = bufferevent_get_output(tcp(c)->bev);
	if (evbuffer_add_reference(out, buf, len, fn, arg) < 0) {
		fn(buf, len, arg);
		return -ENOMEM;
	}
	return 0;
}

static size_t tcp_queued(const struct bt_conn *c)
{
	const struct tcp_conn *t = (const struct tcp_conn *)c;
	return evbuffer_get_length(bufferevent_get_output(t->bev));
}

static void tcp_set_low_watermark(struct bt_conn *c, size_t low)
{
	bufferevent_setwatermark(tcp(c)->bev, EV_WRITE, low, 0);
}

static void bev_read_cb(struct bufferevent *bev, void *arg);
static void bev_write_cb(struct bufferevent *bev, void *arg);
static void bev_event_cb(struct bufferevent *bev, short what, void *arg);

static int tcp_set_ratelimit(struct bt_conn *c, struct bt_ratelimit *rl)
{
	struct tcp_conn *t = tcp(c);
	struct bufferevent_rate_limit_group *g = bt_ratelimit_bev_group(rl);
	if (t->in_group) {
		bufferevent_remove_from_rate_limit_group(t->bev);
		t->in_group = false;
	}
	if (g) {
		if (bufferevent_add_to_rate_limit_group(t->bev, g) < 0)
			return -ENOMEM;
		t->in_group = true;
	}
	bool bev_reads = bt_ratelimit_limits_down(rl);
	if (bev_reads == t->bev_reads)
		return 0;
	/* under a download limit the bufferevent reads, rate limited by the
	 * group; our own big reads are for speed, which the limit caps
	 * anyway */
	t->bev_reads = bev_reads;
	if (bev_reads) {
		event_del(t->read_ev);
		bufferevent_setcb(t->bev, bev_read_cb, bev_write_cb, bev_event_cb,
				  t);
		bufferevent_enable(t->bev, EV_READ);
	} else {
		bufferevent_disable(t->bev, EV_READ);
		bufferevent_setcb(t->bev, NULL, bev_write_cb, bev_event_cb, t);
		event_add(t->read_ev, NULL);
	}
	return 0;
}

static void tcp_destroy(struct bt_conn *c)
{
	struct tcp_conn *t = tcp(c);
	if (t->read_ev)
		event_free(t->read_ev);
	if (t->bev)
		bufferevent_free(t->bev); /* closes the socket */
	else if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static const struct bt_conn_ops tcp_ops = {
	.name = "tcp",
	.read = tcp_read,
	.write = tcp_write,
	.write_ref = tcp_write_ref,
	.queued = tcp_queued,
	.set_low_watermark = tcp_set_low_watermark,
	.set_ratelimit = tcp_set_ratelimit,
	.destroy = tcp_destroy,
};

static void sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bt_conn_fire_readable(arg);
}

/* The bufferevent read into its input: hand it over while the user takes
 * some (its readable callback fires only when more arrives). */
static void bev_read_cb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *t = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t left;
	while ((left = evbuffer_get_length(in)) > 0) {
		if (!bt_conn_fire_readable(&t->c))
			return;
		if (evbuffer_get_length(in) == left)
			break; /* the user wants no more for now */
	}
}

static void bev_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	bt_conn_fire_writable(arg);
}

static void bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *t = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		set_nodelay(t->fd);
		bt_conn_fire_connected(&t->c);
		return;
	}
	int err = -ETIMEDOUT;
	if (what & BEV_EVENT_EOF)
		err = 0;
	else if (what & BEV_EVENT_ERROR)
		err = EVUTIL_SOCKET_ERROR() ? -EVUTIL_SOCKET_ERROR() : -EIO;
	bt_conn_fire_closed(&t->c, err);
}

static struct tcp_conn *tcp_new(struct event_base *base, int fd,
				const struct bt_addr *remote, bool outgoing,
				int *err)
{
	struct tcp_conn *t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	bt_conn_init(&t->c, &tcp_ops, remote, outgoing);
	t->fd = fd;
	t->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	t->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, sock_read_cb, t);
	if (!t->bev || !t->read_ev) {
		tcp_destroy(&t->c);
		*err = -ENOMEM;
		return NULL;
	}
	bufferevent_setcb(t->bev, NULL, bev_write_cb, bev_event_cb, t);
	bufferevent_enable(t->bev, EV_WRITE);
	event_add(t->read_ev, NULL);
	return t;
}

struct bt_conn *bt_conn_tcp_accept(struct event_base *base, int fd,
				   const struct bt_addr *remote, int *err)
{
	int e = 0;
	evutil_make_socket_nonblocking(fd);
	set_nodelay(fd);
	struct tcp_conn *t = tcp_new(base, fd, remote, false, &e);
	if (!t && err)
		*err = e;
	return t ? &t->c : NULL;
}

static int bind_local(const char *bind_ip, int fd, int family)
{
	if (!bind_ip)
		return 0;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		if (inet_pton(AF_INET, bind_ip, &a->sin_addr) != 1)
			return 0; /* bound to an address of the other family */
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, bind_ip, &a->sin6_addr) != 1)
			return 0;
		len = sizeof(*a);
	}
	return bind(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
}

struct bt_conn *bt_conn_tcp_connect(struct event_base *base,
				    const struct bt_addr *to,
				    const char *bind_ip, int *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen = bt_addr_to_sockaddr(to, &ss);
	int e = -EAFNOSUPPORT;
	if (!sslen)
		goto fail;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0) {
		e = -errno;
		goto fail;
	}
	if ((e = bind_local(bind_ip, fd, ss.ss_family)) < 0) {
		close(fd);
		goto fail;
	}
	struct tcp_conn *t = tcp_new(base, fd, to, true, &e);
	if (!t)
		goto fail;
	if (bufferevent_socket_connect(t->bev, (struct sockaddr *)&ss,
				       (int)sslen) < 0) {
		e = -ECONNREFUSED;
		tcp_destroy(&t->c);
		goto fail;
	}
	return &t->c;
fail:
	if (err)
		*err = e;
	return NULL;
}
