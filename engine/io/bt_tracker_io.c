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
 * evhttp frees the evhttp_request itself after its callback.
 *
 * For https:// the connection is built on a bufferevent_openssl whose SSL
 * object carries the host check and SNI; when the exchange fails, the SSL
 * object is asked first (verify result, then the OpenSSL error the
 * bufferevent saw), since evhttp reports a failed handshake as a plain
 * EOF. */
#include "bt_tracker_io.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pfs_log.h"

#ifndef PFS_VERSION
#define PFS_VERSION "dev"
#endif

#define TRACKER_MAX_HEADERS (64 * 1024)

struct bt_tracker_tls {
	SSL_CTX *ctx;
};

struct bt_tracker_req {
	struct evhttp_connection *conn;
	struct event *ev; /* deadline, then "finished" */
	bt_tracker_cb cb;	/* one of the two */
	bt_tracker_why_cb wcb;
	void *arg;
	bool tls;
	char why[192]; /* the reason of a failure, when known */
	char *url; /* announce URL without our query, for logs */
	bool done; /* evhttp has called back; err and body are final */
	int err;
	int http_err; /* enum evhttp_request_error seen, or -1 */
	int sock_err; /* socket errno saved with it */
	uint8_t *body;
	size_t body_len;
};

/* ---- TLS ---- */

struct bt_tracker_tls *bt_tracker_tls_new(const char *ca_file, char *err,
					  size_t errlen)
{
	struct bt_tracker_tls *tls = calloc(1, sizeof(*tls));
	if (!tls) {
		pfs_errf(err, errlen, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	tls->ctx = SSL_CTX_new(TLS_client_method());
	if (!tls->ctx) {
		pfs_errf(err, errlen, "cannot make a TLS context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
	int ok = ca_file ? SSL_CTX_load_verify_locations(tls->ctx, ca_file,
							 NULL)
			 : SSL_CTX_set_default_verify_paths(tls->ctx);
	if (ok != 1) {
		char e[120];
		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		pfs_errf(err, errlen, "cannot load the trust store%s%s: %s",
			 ca_file ? " " : "", ca_file ? ca_file : "", e);
		goto fail;
	}
	ERR_clear_error();
	return tls;
fail:
	ERR_clear_error();
	bt_tracker_tls_free(tls);
	return NULL;
}

void bt_tracker_tls_free(struct bt_tracker_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}

/* The SSL object of an https request: host check (name or IP literal) and
 * SNI (names only). NULL on failure. */
static SSL *tls_ssl(struct bt_tracker_tls *tls, const char *host,
		    bool numeric)
{
	SSL *ssl = SSL_new(tls->ctx);
	if (!ssl)
		return NULL;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param,
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	int ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
			 : SSL_set1_host(ssl, host) &&
				   SSL_set_tlsext_host_name(ssl, host);
	if (ok != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* After a failed exchange: did TLS fail? Sets err and why and returns
 * true if so. */
static bool tls_failure(struct bt_tracker_req *req)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(req->conn);
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (!ssl)
		return false;
	long v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK) {
		snprintf(req->why, sizeof(req->why),
			 "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
		req->err = -EKEYREJECTED;
		return true;
	}
	unsigned long e = bufferevent_get_openssl_error(bev);
	if (e) {
		char text[120];
		ERR_error_string_n(e, text, sizeof(text));
		snprintf(req->why, sizeof(req->why), "tls handshake failed: %s",
			 text);
		req->err = -EPROTO;
		while (bufferevent_get_openssl_error(bev))
			;
		return true;
	}
	/* no TLS verdict: the connection failed or closed, and the plain
	 * error says how */
	return false;
}

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

	int code = r && req->http_err < 0 ? evhttp_request_get_response_code(r)
					   : 0;
	if (code == 0 && req->tls && tls_failure(req)) {
		pfs_log(PFS_LOG_WARN, "tracker", "'%s': %s", req->url,
			req->why);
	} else if (!r) {
		req->err = http_err_to_errno(req);
	} else if (req->http_err >= 0) {
		req->err = http_err_to_errno(req);
	} else {
		if (code == 0) {
			req->err = connect_failure(req, saved_errno);
		} else if (code != 200) {
			char text[64];
			log_text(text, sizeof(text),
				 evhttp_request_get_response_code_line(r));
			pfs_log(PFS_LOG_WARN, "tracker",
				"'%s' answered http %d '%s'", req->url, code,
				text);
			snprintf(req->why, sizeof(req->why), "http %d '%s'",
				 code, text);
			req->err = -EPROTO;
		} else {
			struct evbuffer *in = evhttp_request_get_input_buffer(r);
			size_t n = evbuffer_get_length(in);
			if (n > BT_TRACKER_MAX_BODY) {
				snprintf(req->why, sizeof(req->why),
					 "reply body over %d bytes",
					 BT_TRACKER_MAX_BODY);
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
		struct bufferevent *bev =
			evhttp_connection_get_bufferevent(req->conn);
		SSL *ssl = req->tls && bev ? bufferevent_openssl_get_ssl(bev)
					   : NULL;
		snprintf(req->why, sizeof(req->why),
			 "no complete answer in time%s",
			 ssl && !SSL_is_init_finished(ssl)
				 ? " (the tls handshake did not finish)"
				 : "");
	} else if ((err = req->err) == 0) {
		char why[160];
		err = bt_tracker_parse(req->body, req->body_len, &reply, why,
				       sizeof(why));
		if (err < 0) {
			pfs_log(PFS_LOG_WARN, "tracker",
				"bad reply from '%s': %s", req->url,
				err == -ENOMEM ? "out of memory" : why);
			snprintf(req->why, sizeof(req->why), "bad reply: %s",
				 err == -ENOMEM ? "out of memory" : why);
		} else {
			have = true;
		}
	}
	if (err < 0) {
		if (!req->why[0])
			snprintf(req->why, sizeof(req->why), "%s",
				 strerror(-err));
		pfs_log(PFS_LOG_DEBUG, "tracker", "announce to '%s': %s",
			req->url, req->why);
	}

	bt_tracker_cb cb = req->cb;
	bt_tracker_why_cb wcb = req->wcb;
	void *cb_arg = req->arg;
	char why[sizeof(req->why)];
	memcpy(why, req->why, sizeof(why));
	req_free(req);
	if (wcb)
		wcb(err, err < 0 ? why : NULL, have ? &reply : NULL, cb_arg);
	else
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

static struct bt_tracker_req *announce(struct event_base *base,
				       struct evdns_base *dns,
				       struct bt_tracker_tls *tls,
				       const char *url,
				       const struct bt_announce *a,
				       int timeout_sec, bt_tracker_cb cb,
				       bt_tracker_why_cb wcb, void *arg)
{
	struct bt_tracker_req *req = NULL;
	struct evhttp_uri *uri = NULL;
	struct evhttp_request *hreq = NULL;
	struct bt_tracker_tls *own_tls = NULL;
	SSL *ssl = NULL;
	char *full = NULL, *target = NULL, *hosthdr = NULL, *host = NULL;
	bool ok = false;

	if (!base || !url || !a || (!cb && !wcb))
		return NULL;
	bool https = !strncasecmp(url, "https://", 8);
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
	int default_port = https ? 443 : 80;
	if (port == -1)
		port = default_port;
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
	int hn = port == default_port
			 ? asprintf(&hosthdr, v6 ? "[%s]" : "%s", host)
			 : asprintf(&hosthdr, v6 ? "[%s]:%d" : "%s:%d", host, port);
	if (hn < 0) {
		hosthdr = NULL;
		goto out;
	}

	if (!(req = calloc(1, sizeof(*req))))
		goto out;
	req->cb = cb;
	req->wcb = wcb;
	req->arg = arg;
	req->http_err = -1;
	req->tls = https;
	if (!(req->url = strdup(url)))
		goto out;
	if (!(req->ev = evtimer_new(base, finish_cb, req)))
		goto out;
	if (https) {
		if (!tls) {
			char why[200];
			if (!(tls = own_tls = bt_tracker_tls_new(NULL, why,
								 sizeof(why)))) {
				pfs_log(PFS_LOG_WARN, "tracker",
					"skipping '%s': %s", url, why);
				goto out;
			}
		}
		if (!(ssl = tls_ssl(tls, host, numeric)))
			goto out;
		/* from here the bufferevent owns ssl (and frees it) */
		struct bufferevent *bev = bufferevent_openssl_socket_new(
			base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
			BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (!bev)
			goto out;
		ssl = NULL;
		/* trackers close without a TLS close_notify; the HTTP
		 * framing tells a complete reply anyway */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		req->conn = evhttp_connection_base_bufferevent_new(
			base, numeric ? NULL : dns, bev, host,
			(unsigned short)port);
		if (!req->conn) {
			bufferevent_free(bev);
			goto out;
		}
	} else {
		req->conn = evhttp_connection_base_new(
			base, numeric ? NULL : dns, host, (unsigned short)port);
	}
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
	if (ssl)
		SSL_free(ssl);
	bt_tracker_tls_free(own_tls); /* the SSL object holds its own ref */
	if (uri)
		evhttp_uri_free(uri);
	free(full);
	free(target);
	free(hosthdr);
	free(host);
	return req;
}

struct bt_tracker_req *bt_tracker_announce_tls(
	struct event_base *base, struct evdns_base *dns,
	struct bt_tracker_tls *tls, const char *url,
	const struct bt_announce *a, int timeout_sec, bt_tracker_why_cb cb,
	void *arg)
{
	if (!cb)
		return NULL;
	return announce(base, dns, tls, url, a, timeout_sec, NULL, cb, arg);
}

struct bt_tracker_req *bt_tracker_announce(struct event_base *base,
					   struct evdns_base *dns,
					   const char *url,
					   const struct bt_announce *a,
					   int timeout_sec, bt_tracker_cb cb,
					   void *arg)
{
	if (!cb)
		return NULL;
	return announce(base, dns, NULL, url, a, timeout_sec, cb, NULL, arg);
}

void bt_tracker_cancel(struct bt_tracker_req *req)
{
	if (req)
		req_free(req);
}
