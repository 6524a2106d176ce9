/* Unit tests for https:// announces in bt_tracker_io: an in-process TLS
 * tracker (libevent's evhttp over bufferevent_openssl) on 127.0.0.1 whose
 * certificates the test makes with OpenSSL (a CA of its own, server
 * certificates for a name, for 127.0.0.1, for the wrong name, self-signed
 * and expired ones). A valid certificate works, through a CA file and
 * through the default verify paths (SSL_CERT_FILE); the host name goes out
 * as SNI; a wrong name or address, an untrusted, self-signed or expired
 * certificate, and a server that does not speak TLS are refused with a
 * clear reason, never a hang. Names resolve through an evdns base that
 * only knows a hosts file of the test's: nothing leaves the machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bt_tracker_io.h"

/* ---- certificates ---- */

struct cert {
	EVP_PKEY *key;
	X509 *x;
};

static long g_serial = 1;

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for CN with subjectAltName SAN (or none), valid from
 * FROM_S to TO_S seconds from now, signed by ISSUER (NULL: self-signed);
 * CA makes it a CA. */
static struct cert make_cert(const char *cn, const char *san,
			     const struct cert *issuer, bool ca, long from_s,
			     long to_s)
{
	struct cert c;
	c.key = EVP_EC_gen("P-256");
	assert_non_null(c.key);
	c.x = X509_new();
	assert_non_null(c.x);
	X509_set_version(c.x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c.x), g_serial++);
	X509_gmtime_adj(X509_getm_notBefore(c.x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(c.x), to_s);
	X509_set_pubkey(c.x, c.key);
	X509_NAME *name = X509_get_subject_name(c.x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c.x, issuer ? X509_get_subject_name(issuer->x)
					 : name);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer->x : c.x, c.x, NULL, NULL, 0);
	add_ext(c.x, &v3, NID_basic_constraints,
		ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(c.x, &v3, NID_key_usage,
		ca ? "critical,keyCertSign,cRLSign"
		   : "critical,digitalSignature");
	if (!ca)
		add_ext(c.x, &v3, NID_ext_key_usage, "serverAuth");
	add_ext(c.x, &v3, NID_subject_key_identifier, "hash");
	if (san)
		add_ext(c.x, &v3, NID_subject_alt_name, san);
	assert_true(X509_sign(c.x, issuer ? issuer->key : c.key,
			      EVP_sha256()) > 0);
	return c;
}

static void cert_free(struct cert *c)
{
	X509_free(c->x);
	EVP_PKEY_free(c->key);
}

static void write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
}

/* ---- the TLS tracker ---- */

struct srv {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ctx; /* NULL: plain HTTP */
	uint16_t port;
	int hits;
	char sni[128];
	bool sni_seen;
};

static int sni_cb(SSL *ssl, int *ad, void *arg)
{
	(void)ad;
	struct srv *s = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name) {
		s->sni_seen = true;
		snprintf(s->sni, sizeof(s->sni), "%s", name);
	}
	return SSL_TLSEXT_ERR_OK;
}

static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
	struct srv *s = arg;
	SSL *ssl = SSL_new(s->ctx);
	assert_non_null(ssl);
	return bufferevent_openssl_socket_new(base, -1, ssl,
					      BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static void req_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	s->hits++;
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_printf(out, "d8:intervali900e5:peers12:");
	evbuffer_add(out, "\x0a\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x00\x50",
		     12);
	evbuffer_add_printf(out, "e");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* Serve on 127.0.0.1 with certificate CERT (NULL: plain HTTP). */
static void srv_start(struct srv *s, struct event_base *base,
		      const struct cert *cert)
{
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->http = evhttp_new(base);
	assert_non_null(s->http);
	if (cert) {
		s->ctx = SSL_CTX_new(TLS_server_method());
		assert_non_null(s->ctx);
		assert_int_equal(SSL_CTX_use_certificate(s->ctx, cert->x), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, cert->key), 1);
		SSL_CTX_set_tlsext_servername_callback(s->ctx, sni_cb);
		SSL_CTX_set_tlsext_servername_arg(s->ctx, s);
		evhttp_set_bevcb(s->http, bev_cb, s);
	}
	evhttp_set_gencb(s->http, req_cb, s);
	struct evhttp_bound_socket *bs =
		evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	assert_non_null(bs);
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&sin, &sl),
			 0);
	s->port = ntohs(sin.sin_port);
}

static void srv_stop(struct srv *s)
{
	evhttp_free(s->http);
	SSL_CTX_free(s->ctx);
}

/* ---- the client side ---- */

struct ctx {
	struct event_base *base;
	struct evdns_base *dns;
	char dir[64];
	char ca_pem[96], hosts[96];
	struct cert ca;
	int calls;
	int err;
	char why[256];
	size_t npeers;
};

static void done_cb(int err, const char *why, const struct bt_tracker_reply *r,
		    void *arg)
{
	struct ctx *c = arg;
	c->calls++;
	c->err = err;
	snprintf(c->why, sizeof(c->why), "%s", why ? why : "");
	c->npeers = r ? r->npeers : 0;
	if (err == 0)
		assert_null(why);
	else
		assert_non_null(why);
	event_base_loopexit(c->base, NULL);
}

static void legacy_cb(int err, const struct bt_tracker_reply *r, void *arg)
{
	done_cb(err, err ? "" : NULL, r, arg);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->base = event_base_new();
	/* no resolv.conf, no nameserver: only the hosts file below */
	c->dns = evdns_base_new(c->base, 0);
	snprintf(c->dir, sizeof(c->dir), "/tmp/p2pfs-tls.XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->hosts, sizeof(c->hosts), "%s/hosts", c->dir);
	FILE *f = fopen(c->hosts, "w");
	fprintf(f, "127.0.0.1 tracker.test other.test a.trk.test b.a.trk.test\n");
	fclose(f);
	assert_int_equal(evdns_base_load_hosts(c->dns, c->hosts), 0);
	c->ca = make_cert("p2pfs test CA", NULL, NULL, true, -3600,
			  7 * 86400);
	snprintf(c->ca_pem, sizeof(c->ca_pem), "%s/ca.pem", c->dir);
	write_pem(c->ca_pem, c->ca.x);
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	evdns_base_free(c->dns, 1);
	event_base_free(c->base);
	cert_free(&c->ca);
	unlink(c->hosts);
	unlink(c->ca_pem);
	rmdir(c->dir);
	free(c);
	return 0;
}

static void fill(struct bt_announce *a)
{
	memset(a, 0, sizeof(*a));
	memset(a->info_hash, 0x11, 20);
	memcpy(a->peer_id, "-PF0100-tlstlstlstls", 20);
	a->port = 6881;
	a->numwant = 10;
}

/* Announce to URL (host HOST, the server's port) with TLS, run the loop
 * (at most 10 s) and return the error. */
static int run(struct ctx *c, struct bt_tracker_tls *tls, const char *host,
	       uint16_t port)
{
	char url[128];
	snprintf(url, sizeof(url), "https://%s:%u/announce", host, port);
	struct bt_announce a;
	fill(&a);
	c->calls = 0;
	c->err = 1;
	c->why[0] = '\0';
	assert_non_null(bt_tracker_announce_tls(c->base, c->dns, tls, url, &a,
						5, done_cb, c));
	struct timeval tv = {.tv_sec = 10};
	event_base_loopexit(c->base, &tv);
	event_base_dispatch(c->base);
	assert_int_equal(c->calls, 1);
	return c->err;
}

static struct bt_tracker_tls *tls_of(const char *ca_file)
{
	char err[256] = "";
	struct bt_tracker_tls *tls = bt_tracker_tls_new(ca_file, err,
							sizeof(err));
	if (!tls)
		fail_msg("tls context: %s", err);
	return tls;
}

static void test_valid_name_and_sni(void **state)
{
	struct ctx *c = *state;
	struct cert srvc = make_cert("tracker.test", "DNS:tracker.test",
				     &c->ca, false, -60, 86400);
	struct srv s;
	srv_start(&s, c->base, &srvc);
	struct bt_tracker_tls *tls = tls_of(c->ca_pem);
	assert_int_equal(run(c, tls, "tracker.test", s.port), 0);
	assert_int_equal(c->npeers, 2);
	assert_int_equal(s.hits, 1);
	assert_true(s.sni_seen);
	assert_string_equal(s.sni, "tracker.test");
	/* the context serves any number of requests */
	assert_int_equal(run(c, tls, "tracker.test", s.port), 0);
	assert_int_equal(s.hits, 2);
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);
}

static void test_valid_ip(void **state)
{
	struct ctx *c = *state;
	struct cert srvc = make_cert("127.0.0.1", "IP:127.0.0.1", &c->ca,
				     false, -60, 86400);
	struct srv s;
	srv_start(&s, c->base, &srvc);
	struct bt_tracker_tls *tls = tls_of(c->ca_pem);
	assert_int_equal(run(c, tls, "127.0.0.1", s.port), 0);
	assert_int_equal(c->npeers, 2);
	assert_false(s.sni_seen); /* RFC 6066: no IP literals in SNI */
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);
}

static void test_wrong_name(void **state)
{
	struct ctx *c = *state;
	/* a certificate of the CA we trust, but for another name (its CN
	 * is ours, which does not count when it has a DNS name) */
	struct cert srvc = make_cert("tracker.test", "DNS:other.test", &c->ca,
				     false, -60, 86400);
	struct srv s;
	srv_start(&s, c->base, &srvc);
	struct bt_tracker_tls *tls = tls_of(c->ca_pem);
	assert_int_equal(run(c, tls, "tracker.test", s.port), -EKEYREJECTED);
	assert_non_null(strstr(c->why, "certificate verify failed"));
	assert_non_null(strstr(c->why, "hostname mismatch"));
	assert_int_equal(s.hits, 0); /* nothing was sent to it */
	/* the right name on the same server works */
	assert_int_equal(run(c, tls, "other.test", s.port), 0);
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);

	/* an address that is not the certificate's */
	srvc = make_cert("127.0.0.1", "IP:127.0.0.2", &c->ca, false, -60,
			 86400);
	srv_start(&s, c->base, &srvc);
	tls = tls_of(c->ca_pem);
	assert_int_equal(run(c, tls, "127.0.0.1", s.port), -EKEYREJECTED);
	assert_non_null(strstr(c->why, "IP address mismatch"));
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);

	/* a wildcard matches one label, not two */
	srvc = make_cert("x", "DNS:*.trk.test", &c->ca, false, -60, 86400);
	srv_start(&s, c->base, &srvc);
	tls = tls_of(c->ca_pem);
	assert_int_equal(run(c, tls, "a.trk.test", s.port), 0);
	assert_int_equal(run(c, tls, "b.a.trk.test", s.port), -EKEYREJECTED);
	assert_non_null(strstr(c->why, "hostname mismatch"));
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);
}

static void test_untrusted(void **state)
{
	struct ctx *c = *state;
	struct cert srvc = make_cert("tracker.test", "DNS:tracker.test",
				     &c->ca, false, -60, 86400);
	struct srv s;
	srv_start(&s, c->base, &srvc);
	/* the system's store does not know our CA */
	struct bt_tracker_tls *tls = tls_of(NULL);
	assert_int_equal(run(c, tls, "tracker.test", s.port), -EKEYREJECTED);
	assert_non_null(strstr(c->why, "certificate verify failed"));
	assert_non_null(strstr(c->why, "local issuer"));
	assert_int_equal(s.hits, 0);
	/* so does the default of bt_tracker_announce() */
	char url[128];
	snprintf(url, sizeof(url), "https://tracker.test:%u/a", s.port);
	struct bt_announce a;
	fill(&a);
	c->calls = 0;
	assert_non_null(bt_tracker_announce(c->base, c->dns, url, &a, 5,
					    legacy_cb, c));
	event_base_dispatch(c->base);
	assert_int_equal(c->calls, 1);
	assert_int_equal(c->err, -EKEYREJECTED);
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);

	/* self-signed */
	srvc = make_cert("tracker.test", "DNS:tracker.test", NULL, false, -60,
			 86400);
	srv_start(&s, c->base, &srvc);
	tls = tls_of(c->ca_pem);
	assert_int_equal(run(c, tls, "tracker.test", s.port), -EKEYREJECTED);
	assert_non_null(strstr(c->why, "self-signed"));
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);

	/* expired */
	srvc = make_cert("tracker.test", "DNS:tracker.test", &c->ca, false,
			 -7200, -3600);
	srv_start(&s, c->base, &srvc);
	tls = tls_of(c->ca_pem);
	assert_int_equal(run(c, tls, "tracker.test", s.port), -EKEYREJECTED);
	assert_non_null(strstr(c->why, "expired"));
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);
}

static void test_system_store_env(void **state)
{
	struct ctx *c = *state;
	/* the default verify paths honour SSL_CERT_FILE: pointing it at our
	 * CA makes the "system" store trust it (how an integration test can
	 * run an https tracker of its own) */
	struct cert srvc = make_cert("tracker.test", "DNS:tracker.test",
				     &c->ca, false, -60, 86400);
	struct srv s;
	srv_start(&s, c->base, &srvc);
	setenv("SSL_CERT_FILE", c->ca_pem, 1);
	struct bt_tracker_tls *tls = tls_of(NULL);
	assert_int_equal(run(c, tls, "tracker.test", s.port), 0);
	assert_int_equal(c->npeers, 2);
	/* and the per-request context of bt_tracker_announce() too */
	char url[128];
	snprintf(url, sizeof(url), "https://tracker.test:%u/a", s.port);
	struct bt_announce a;
	fill(&a);
	c->calls = 0;
	assert_non_null(bt_tracker_announce(c->base, c->dns, url, &a, 5,
					    legacy_cb, c));
	event_base_dispatch(c->base);
	assert_int_equal(c->calls, 1);
	assert_int_equal(c->err, 0);
	assert_int_equal(c->npeers, 2);
	unsetenv("SSL_CERT_FILE");
	bt_tracker_tls_free(tls);
	srv_stop(&s);
	cert_free(&srvc);
}

static void test_not_tls(void **state)
{
	struct ctx *c = *state;
	/* https:// to a plain HTTP server: a TLS error, quickly */
	struct srv s;
	srv_start(&s, c->base, NULL);
	struct bt_tracker_tls *tls = tls_of(c->ca_pem);
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	int err = run(c, tls, "127.0.0.1", s.port);
	gettimeofday(&t1, NULL);
	assert_true(err == -EPROTO || err == -ECONNRESET);
	assert_true(c->why[0] != '\0');
	double dt = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_usec - t0.tv_usec) / 1e6;
	assert_true(dt < 4.0); /* not the 5 s timeout */
	bt_tracker_tls_free(tls);
	srv_stop(&s);

	/* a missing CA file is a clear error at creation */
	char err2[256];
	assert_null(bt_tracker_tls_new("/nonexistent/ca.pem", err2,
				       sizeof(err2)));
	assert_non_null(strstr(err2, "/nonexistent/ca.pem"));
}

static void test_cancel_mid_handshake(void **state)
{
	struct ctx *c = *state;
	struct cert srvc = make_cert("tracker.test", "DNS:tracker.test",
				     &c->ca, false, -60, 86400);
	struct srv s;
	srv_start(&s, c->base, &srvc);
	struct bt_tracker_tls *tls = tls_of(c->ca_pem);
	char url[128];
	snprintf(url, sizeof(url), "https://tracker.test:%u/a", s.port);
	struct bt_announce a;
	fill(&a);
	for (int usec = 0; usec <= 3000; usec += 500) {
		c->calls = 0;
		struct bt_tracker_req *r = bt_tracker_announce_tls(
			c->base, c->dns, tls, url, &a, 5, done_cb, c);
		assert_non_null(r);
		/* the context may go while requests still use it */
		if (usec == 3000) {
			bt_tracker_tls_free(tls);
			tls = NULL;
		}
		struct timeval tv = {.tv_usec = usec};
		event_base_loopexit(c->base, &tv);
		event_base_dispatch(c->base);
		if (c->calls == 0)
			bt_tracker_cancel(r);
	}
	struct timeval tv = {.tv_usec = 200000};
	event_base_loopexit(c->base, &tv);
	event_base_dispatch(c->base);
	srv_stop(&s);
	cert_free(&srvc);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as p2pfs does */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_name_and_sni, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_valid_ip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_untrusted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_system_store_env, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_mid_handshake,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
