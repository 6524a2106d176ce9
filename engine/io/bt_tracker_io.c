/* bt_tracker_io — one HTTP tracker announce over libevent's evhttp, on the
 * engine thread.
 *
 * Each request owns its evhttp_connection and one event. The event is the
 * overall deadline timer; when evhttp finishes (answer or failure) its
 * callback only records the outcome and makes the same event active at
 * once. The event's callback then frees the connection (freeing it inside
 * evhttp's own callback is unsafe in libevent 2.1), parses the body and
 * calls the user's callback exactly once. bt_tracker_cancel() frees the
 * connection, which drops the pending evhttp request without calling it
 * back, and the event, so nothing fires afterwards. The user callback thus
 * never runs inside libevent's HTTP code nor inside bt_tracker_announce().
 * evhttp frees the evhttp_request itself after its callback. */
#include "bt_tracker_io.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "pfs_log.h"

#ifndef PFS_VERSION
#define PFS_VERSION "dev"
#endif

#define TRACKER_MAX_HEADERS (64 * 1024)

struct bt_tracker_req {
	struct evhttp_connection *conn;
	struct event *ev; /* deadline, then "finished" */
	bt_tracker_cb cb;
	void *arg;
	char *url; /* announce URL without our query, for logs */
	bool done; /* evhttp has called back; err and body are final */
	int err;
	int http_err; /* enum evhttp_request_error seen, or -1 */
	int sock_err; /* socket errno saved with it */
	uint8_t *body;
	size_t body_len;
};

static void req_free(struct bt_tracker_req *req)
{
	if (req->conn)
		evhttp_connection_free(req->conn);
	if (req->ev)
		event_free(req->ev);
	free(req->body);
	free(req->url);
	free(req);
}

/* A socket errno that describes a failed connection, or 0. */
static int connect_errno(int e)
{
	switch (e) {
	case ECONNREFUSED:
	case ECONNRESET:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case ETIMEDOUT:
	case EADDRNOTAVAIL:
	case EPIPE:
		return e;
	default:
		return 0;
	}
}

static bool dns_failed(struct bt_tracker_req *req)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(req->conn);
	return bev && bufferevent_socket_get_dns_error(bev) != 0;
}

static int http_err_to_errno(struct bt_tracker_req *req)
{
	if (req->http_err == EVREQ_HTTP_EOF && dns_failed(req))
		return -EHOSTUNREACH;
	switch (req->http_err) {
	case EVREQ_HTTP_TIMEOUT:
		return -ETIMEDOUT;
	case EVREQ_HTTP_INVALID_HEADER:
		return -EPROTO;
	case EVREQ_HTTP_DATA_TOO_LONG:
		return -EMSGSIZE;
	case EVREQ_HTTP_BUFFER_ERROR:
		return -EIO;
	case EVREQ_HTTP_REQUEST_CANCEL:
		return -ECANCELED;
	case EVREQ_HTTP_EOF:
	default:
		/* evhttp reports connect errors other than "refused" and a
		 * peer closing mid-reply both as EOF; the saved errno tells
		 * them apart */
		if (connect_errno(req->sock_err))
			return -req->sock_err;
		return -ECONNRESET;
	}
}

/* Connection failed before any response (evhttp calls back with a request
 * carrying status 0): refused, connect timeout or a failed lookup. */
static int connect_failure(struct bt_tracker_req *req, int saved_errno)
{
	if (dns_failed(req))
		return -EHOSTUNREACH;
	if (connect_errno(saved_errno))
		return -saved_errno;
	return -ECONNREFUSED;
}

/* Copy the server's text SRC for a log line: bounded, control characters
 * replaced. */
static void log_text(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[i] = '\0';
}

static void error_cb(enum evhttp_request_error e, void *arg)
{
	struct bt_tracker_req *req = arg;
	req->sock_err = EVUTIL_SOCKET_ERROR();
	req->http_err = (int)e;
}

static void done_cb(struct evhttp_request *r, void *arg)
{
	struct bt_tracker_req *req = arg;
	int saved_errno = EVUTIL_SOCKET_ERROR();
	if (req->done)
		return;
	req->done = true;

	if (!r) {
		req->err = http_err_to_errno(req);
	} else if (req->http_err >= 0) {
		req->err = http_err_to_errno(req);
	} else {
		int code = evhttp_request_get_response_code(r);
		if (code == 0) {
			req->err = connect_failure(req, saved_errno);
		} else if (code != 200) {
			char text[64];
			log_text(text, sizeof(text),
				 evhttp_request_get_response_code_line(r));
			pfs_log(PFS_LOG_WARN, "tracker",
				"'%s' answered http %d '%s'", req->url, code,
				text);
			req->err = -EPROTO;
		} else {
			struct evbuffer *in = evhttp_request_get_input_buffer(r);
			size_t n = evbuffer_get_length(in);
			if (n > BT_TRACKER_MAX_BODY) {
				req->err = -EMSGSIZE;
			} else if (!(req->body = malloc(n ? n : 1))) {
				req->err = -ENOMEM;
			} else {
				req->body_len = n;
				if (evbuffer_copyout(in, req->body, n) !=
				    (ev_ssize_t)n)
					req->err = -EIO;
			}
		}
	}
	/* finish from the event loop, outside evhttp's call stack */
	event_del(req->ev);
	event_active(req->ev, EV_TIMEOUT, 1);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bt_tracker_req *req = arg;
	struct bt_tracker_reply reply;
	bool have = false;
	int err;
	(void)fd;
	(void)what;

	if (!req->done) {
		err = -ETIMEDOUT;
	} else if ((err = req->err) == 0) {
		char why[160];
		err = bt_tracker_parse(req->body, req->body_len, &reply, why,
				       sizeof(why));
		if (err < 0)
			pfs_log(PFS_LOG_WARN, "tracker",
				"bad reply from '%s': %s", req->url,
				err == -ENOMEM ? "out of memory" : why);
		else
			have = true;
	}
	if (err < 0)
		pfs_log(PFS_LOG_DEBUG, "tracker", "announce to '%s': %s",
			req->url, strerror(-err));

	bt_tracker_cb cb = req->cb;
	void *cb_arg = req->arg;
	req_free(req);
	cb(err, have ? &reply : NULL, cb_arg);
	if (have)
		bt_tracker_reply_release(&reply);
}

static bool is_numeric_host(const char *host)
{
	uint8_t a[16];
	return evutil_inet_pton(AF_INET, host, a) == 1 ||
	       evutil_inet_pton(AF_INET6, host, a) == 1;
}

struct bt_tracker_req *bt_tracker_announce(struct event_base *base,
					   struct evdns_base *dns,
					   const char *url,
					   const struct bt_announce *a,
					   int timeout_sec, bt_tracker_cb cb,
					   void *arg)
{
	struct bt_tracker_req *req = NULL;
	struct evhttp_uri *uri = NULL;
	struct evhttp_request *hreq = NULL;
	char *full = NULL, *target = NULL, *hosthdr = NULL, *host = NULL;
	bool ok = false;

	if (!base || !url || !a || !cb)
		return NULL;
	if (!strncasecmp(url, "https://", 8)) {
		pfs_log(PFS_LOG_WARN, "tracker",
			"skipping '%s': https trackers are not supported", url);
		return NULL;
	}
	size_t cap = strlen(url) + 512 +
		     (a->tracker_id ? 3 * strlen(a->tracker_id) : 0);
	if (!(full = malloc(cap)))
		goto out;
	int err = bt_tracker_url(full, cap, url, a);
	if (err < 0) {
		pfs_log(PFS_LOG_WARN, "tracker", "skipping '%s': %s", url,
			err == -EINVAL ? "not an http url" : strerror(-err));
		goto out;
	}
	uri = evhttp_uri_parse(full);
	const char *uhost = uri ? evhttp_uri_get_host(uri) : NULL;
	if (!uhost || !*uhost) {
		pfs_log(PFS_LOG_WARN, "tracker", "skipping '%s': bad url", url);
		goto out;
	}
	/* an IPv6 literal comes back as "[addr]"; connect to addr */
	size_t hl = strlen(uhost);
	bool v6 = uhost[0] == '[' && hl > 2 && uhost[hl - 1] == ']';
	if (!(host = v6 ? strndup(uhost + 1, hl - 2) : strdup(uhost)))
		goto out;
	bool numeric = is_numeric_host(host);
	if (!numeric && !dns) {
		pfs_log(PFS_LOG_WARN, "tracker",
			"skipping '%s': no resolver for '%s'", url, host);
		goto out;
	}
	int port = evhttp_uri_get_port(uri);
	if (port == -1)
		port = 80;
	if (port <= 0 || port > 65535) {
		pfs_log(PFS_LOG_WARN, "tracker", "skipping '%s': bad port",
			url);
		goto out;
	}
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	if (!path || !*path)
		path = "/";
	if (asprintf(&target, "%s%s%s", path, query ? "?" : "",
		     query ? query : "") < 0) {
		target = NULL;
		goto out;
	}
	int hn = port == 80
			 ? asprintf(&hosthdr, v6 ? "[%s]" : "%s", host)
			 : asprintf(&hosthdr, v6 ? "[%s]:%d" : "%s:%d", host, port);
	if (hn < 0) {
		hosthdr = NULL;
		goto out;
	}

	if (!(req = calloc(1, sizeof(*req))))
		goto out;
	req->cb = cb;
	req->arg = arg;
	req->http_err = -1;
	if (!(req->url = strdup(url)))
		goto out;
	if (!(req->ev = evtimer_new(base, finish_cb, req)))
		goto out;
	req->conn = evhttp_connection_base_new(base, numeric ? NULL : dns, host,
					       (unsigned short)port);
	if (!req->conn)
		goto out;
	if (timeout_sec < 1)
		timeout_sec = 1;
	if (a->local_ip && *a->local_ip)
		evhttp_connection_set_local_address(req->conn, a->local_ip);
	evhttp_connection_set_timeout(req->conn, timeout_sec);
	evhttp_connection_set_retries(req->conn, 0);
	evhttp_connection_set_max_body_size(req->conn, BT_TRACKER_MAX_BODY);
	evhttp_connection_set_max_headers_size(req->conn, TRACKER_MAX_HEADERS);

	if (!(hreq = evhttp_request_new(done_cb, req)))
		goto out;
	evhttp_request_set_error_cb(hreq, error_cb);
	struct evkeyvalq *h = evhttp_request_get_output_headers(hreq);
	if (evhttp_add_header(h, "Host", hosthdr) < 0 ||
	    evhttp_add_header(h, "User-Agent", "p2pfs/" PFS_VERSION) < 0 ||
	    evhttp_add_header(h, "Connection", "close") < 0)
		goto out;

	struct timeval tv = {.tv_sec = timeout_sec};
	if (evtimer_add(req->ev, &tv) < 0)
		goto out;
	/* From here libevent owns hreq, also when this fails. */
	struct evhttp_request *sent = hreq;
	hreq = NULL;
	if (evhttp_make_request(req->conn, sent, EVHTTP_REQ_GET, target) < 0)
		goto out;
	pfs_log(PFS_LOG_DEBUG, "tracker", "announce '%s'", full);
	ok = true;
out:
	if (!ok && req) {
		pfs_log(PFS_LOG_WARN, "tracker", "cannot announce to '%s'",
			url);
		if (hreq)
			evhttp_request_free(hreq);
		req_free(req);
		req = NULL;
	}
	if (uri)
		evhttp_uri_free(uri);
	free(full);
	free(target);
	free(hosthdr);
	free(host);
	return req;
}

void bt_tracker_cancel(struct bt_tracker_req *req)
{
	if (req)
		req_free(req);
}
