/* Unit tests for bt_tracker: announce URL building and percent-encoding,
 * reply parsing (compact, dictionary and peers6 peers, failure reason,
 * interval clamping, hostile replies), and the evhttp announce against an
 * in-process evhttp server on 127.0.0.1 (success, HTTP errors, oversized
 * body, timeout, refused, reset, DNS through evdns, cancel). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "bt_bencode.h"
#include "bt_tracker_io.h"

/* ---- helpers ---- */

static void fill_announce(struct bt_announce *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < 20; i++) {
		a->info_hash[i] = (uint8_t)(i * 13); /* 0x00, 0x0d, ... */
		a->peer_id[i] = (uint8_t)("-PF0100-abc.~_ XY/%?"[i]);
	}
	a->port = 6881;
	a->uploaded = 1;
	a->downloaded = 12345678901ull;
	a->left = UINT64_MAX;
	a->event = BT_EVENT_STARTED;
	a->numwant = 80;
	a->key = 0xdeadbeef;
}

static void assert_v4(const struct bt_tracker_reply *r, size_t i,
		      const char *ip, uint16_t port)
{
	assert_true(i < r->npeers);
	assert_int_equal(r->peers[i].family, BT_ADDR_V4);
	char buf[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, r->peers[i].ip, buf, sizeof(buf));
	assert_string_equal(buf, ip);
	assert_int_equal(r->peers[i].port, port);
}

static void assert_v6(const struct bt_tracker_reply *r, size_t i,
		      const char *ip, uint16_t port)
{
	assert_true(i < r->npeers);
	assert_int_equal(r->peers[i].family, BT_ADDR_V6);
	char buf[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, r->peers[i].ip, buf, sizeof(buf));
	assert_string_equal(buf, ip);
	assert_int_equal(r->peers[i].port, port);
}

static int parse_str(const char *s, struct bt_tracker_reply *r, char *err,
		     size_t errlen)
{
	return bt_tracker_parse((const uint8_t *)s, strlen(s), r, err, errlen);
}

/* Expect -EINVAL with a reason, and the reply left released. */
static void expect_bad(const void *body, size_t len)
{
	struct bt_tracker_reply r;
	char err[128] = "";
	assert_int_equal(bt_tracker_parse(body, len, &r, err, sizeof(err)),
			 -EINVAL);
	assert_true(err[0] != '\0');
	assert_null(r.peers);
	assert_int_equal(r.npeers, 0);
	assert_null(r.failure);
	bt_tracker_reply_release(&r); /* harmless twice */
}

static void expect_bad_str(const char *s)
{
	expect_bad(s, strlen(s));
}

static void compact4(uint8_t *p, uint8_t a, uint8_t b, uint8_t c, uint8_t d,
		     uint16_t port)
{
	p[0] = a;
	p[1] = b;
	p[2] = c;
	p[3] = d;
	p[4] = (uint8_t)(port >> 8);
	p[5] = (uint8_t)port;
}

/* ---- URL ---- */

static void test_url_basic(void **state)
{
	(void)state;
	struct bt_announce a;
	char url[1024];
	fill_announce(&a);
	assert_int_equal(bt_tracker_url(url, sizeof(url),
					 "http://t.example:6969/announce", &a),
			 0);
	assert_string_equal(
		url, "http://t.example:6969/announce"
		     "?info_hash=%00%0D%1A%274AN%5Bhu%82%8F%9C%A9%B6%C3%D0%DD%EA%F7"
		     "&peer_id=-PF0100-abc.~_%20XY%2F%25%3F"
		     "&port=6881&uploaded=1&downloaded=12345678901"
		     "&left=18446744073709551615&compact=1&numwant=80"
		     "&key=DEADBEEF&event=started");

	/* base with a query: '&' */
	a.event = BT_EVENT_STOPPED;
	assert_int_equal(bt_tracker_url(url, sizeof(url),
					"https://t.example/a?passkey=x%2Fy", &a),
			 0);
	assert_non_null(strstr(url, "https://t.example/a?passkey=x%2Fy&info_hash=%00"));
	assert_non_null(strstr(url, "&event=stopped"));
	/* base ending in '?' or '&': no extra separator */
	a.event = BT_EVENT_COMPLETED;
	assert_int_equal(bt_tracker_url(url, sizeof(url), "http://t/a?", &a), 0);
	assert_non_null(strstr(url, "http://t/a?info_hash="));
	assert_non_null(strstr(url, "&event=completed"));
	assert_int_equal(bt_tracker_url(url, sizeof(url), "http://t/a?k=1&", &a),
			 0);
	assert_non_null(strstr(url, "http://t/a?k=1&info_hash="));
	/* no event, no numwant, tracker id */
	a.event = BT_EVENT_NONE;
	a.numwant = -1;
	a.tracker_id = "id 1/";
	assert_int_equal(bt_tracker_url(url, sizeof(url), "HTTP://t/a", &a), 0);
	assert_null(strstr(url, "event="));
	assert_null(strstr(url, "numwant="));
	assert_non_null(strstr(url, "&trackerid=id%201%2F"));
	a.numwant = 0;
	assert_int_equal(bt_tracker_url(url, sizeof(url), "http://t/a", &a), 0);
	assert_non_null(strstr(url, "&numwant=0&"));
}

static void test_url_every_byte(void **state)
{
	(void)state;
	/* every byte value is escaped or kept according to RFC 3986 */
	struct bt_announce a;
	fill_announce(&a);
	char url[1024];
	for (int b = 0; b < 256; b++) {
		memset(a.info_hash, b, 20);
		assert_int_equal(bt_tracker_url(url, sizeof(url), "http://t/", &a),
				 0);
		const char *ih = strstr(url, "info_hash=") + 10;
		char expect[8];
		bool keep = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
			    (b >= '0' && b <= '9') || b == '.' || b == '-' ||
			    b == '_' || b == '~';
		if (keep)
			snprintf(expect, sizeof(expect), "%c", b);
		else
			snprintf(expect, sizeof(expect), "%%%02X", b);
		size_t el = strlen(expect);
		for (int i = 0; i < 20; i++)
			assert_memory_equal(ih + i * el, expect, el);
		assert_int_equal(ih[20 * el], '&');
	}
}

static void test_url_errors(void **state)
{
	(void)state;
	struct bt_announce a;
	char url[1024];
	fill_announce(&a);
	static const char *const bad[] = {
		"udp://t.example:6969/announce",
		"ftp://t/",
		"http:/t/",
		"http://",
		"http:///announce",
		"http://?x",
		"t.example/announce",
		"",
		"http://t/a#frag",
		"http://t/a b",
		"http://t/a\n",
		"http://t/\x80",
		"wss://t/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bt_tracker_url(url, sizeof(url), bad[i], &a),
				 -EINVAL);
	assert_int_equal(bt_tracker_url(url, sizeof(url), NULL, &a), -EINVAL);

	/* every capacity short of the full length */
	char full[1024];
	assert_int_equal(bt_tracker_url(full, sizeof(full), "http://t/a", &a), 0);
	size_t need = strlen(full) + 1;
	for (size_t cap = 0; cap < need; cap++) {
		char *small = malloc(cap ? cap : 1);
		assert_int_equal(bt_tracker_url(small, cap, "http://t/a", &a),
				 -ENAMETOOLONG);
		if (cap)
			assert_int_equal(small[0], '\0');
		free(small);
	}
	char *exact = malloc(need);
	assert_int_equal(bt_tracker_url(exact, need, "http://t/a", &a), 0);
	assert_string_equal(exact, full);
	free(exact);
}

/* ---- parsing ---- */

static void test_parse_compact(void **state)
{
	(void)state;
	uint8_t peers[6 * 4];
	compact4(peers, 10, 0, 0, 1, 6881);
	compact4(peers + 6, 192, 168, 1, 2, 65535);
	compact4(peers + 12, 1, 2, 3, 4, 0); /* port 0: skipped */
	compact4(peers + 18, 127, 0, 0, 1, 1);
	struct bt_benc b;
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "complete");
	bt_benc_int(&b, 5);
	bt_benc_cstr(&b, "incomplete");
	bt_benc_int(&b, 7);
	bt_benc_cstr(&b, "interval");
	bt_benc_int(&b, 900);
	bt_benc_cstr(&b, "min interval");
	bt_benc_int(&b, 60);
	bt_benc_cstr(&b, "peers");
	bt_benc_str(&b, peers, sizeof(peers));
	bt_benc_cstr(&b, "tracker id");
	bt_benc_cstr(&b, "abc");
	bt_benc_cstr(&b, "warning message");
	bt_benc_cstr(&b, "be\x1b[31mware");
	bt_benc_end(&b);
	assert_int_equal(b.err, 0);

	struct bt_tracker_reply r;
	char err[128];
	assert_int_equal(bt_tracker_parse(b.buf, b.len, &r, err, sizeof(err)), 0);
	assert_null(r.failure);
	assert_string_equal(r.warning, "be?[31mware");
	assert_string_equal(r.tracker_id, "abc");
	assert_int_equal(r.interval, 900);
	assert_int_equal(r.min_interval, 60);
	assert_int_equal(r.complete, 5);
	assert_int_equal(r.incomplete, 7);
	assert_int_equal(r.npeers, 3);
	assert_v4(&r, 0, "10.0.0.1", 6881);
	assert_v4(&r, 1, "192.168.1.2", 65535);
	assert_v4(&r, 2, "127.0.0.1", 1);
	bt_tracker_reply_release(&r);
	assert_null(r.peers);
	bt_benc_release(&b);

	/* trailing whitespace tolerated, junk not */
	assert_int_equal(parse_str("d8:intervali60ee\r\n", &r, err, sizeof(err)),
			 0);
	assert_int_equal(r.interval, 60);
	bt_tracker_reply_release(&r);
	expect_bad_str("d8:intervali60eex");
	expect_bad_str("d8:intervali60eede");
}

static void test_parse_defaults(void **state)
{
	(void)state;
	struct bt_tracker_reply r;
	char err[128];
	/* a reply with no peers at all (e.g. to event=stopped) */
	assert_int_equal(parse_str("de", &r, err, sizeof(err)), 0);
	assert_int_equal(r.interval, 1800);
	assert_int_equal(r.min_interval, 0);
	assert_int_equal(r.complete, -1);
	assert_int_equal(r.incomplete, -1);
	assert_int_equal(r.npeers, 0);
	assert_null(r.peers);
	assert_null(r.failure);
	assert_null(r.warning);
	assert_null(r.tracker_id);
	bt_tracker_reply_release(&r);
	/* empty compact string */
	assert_int_equal(parse_str("d5:peers0:e", &r, err, sizeof(err)), 0);
	assert_int_equal(r.npeers, 0);
	assert_null(r.peers);
	bt_tracker_reply_release(&r);
	/* NULL err buffer is allowed */
	assert_int_equal(parse_str("d5:peers1:xe", &r, NULL, 0), -EINVAL);
}

static void test_parse_interval(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		uint32_t interval, min_interval;
	} cases[] = {
		{"d8:intervali0ee", 30, 0},
		{"d8:intervali-5ee", 30, 0},
		{"d8:intervali29ee", 30, 0},
		{"d8:intervali30ee", 30, 0},
		{"d8:intervali86400ee", 86400, 0},
		{"d8:intervali86401ee", 86400, 0},
		{"d8:intervali9223372036854775807ee", 86400, 0},
		{"d8:intervali-9223372036854775808ee", 30, 0},
		{"d8:intervali4294967326ee", 86400, 0}, /* 2^32 + 30 */
		{"d12:min intervali-1ee", 1800, 0},
		{"d12:min intervali9999999999ee", 1800, 86400},
		{"d12:min interval3:abce", 1800, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bt_tracker_reply r;
		char err[128];
		assert_int_equal(parse_str(cases[i].body, &r, err, sizeof(err)),
				 0);
		assert_int_equal(r.interval, cases[i].interval);
		assert_int_equal(r.min_interval, cases[i].min_interval);
		bt_tracker_reply_release(&r);
	}
	/* huge counters, negative counters */
	struct bt_tracker_reply r;
	assert_int_equal(parse_str("d8:completei9223372036854775807e"
				   "10:incompletei-3ee",
				   &r, NULL, 0),
			 0);
	assert_int_equal(r.complete, INT64_MAX);
	assert_int_equal(r.incomplete, -1);
	bt_tracker_reply_release(&r);
	/* an integer beyond int64 is malformed bencode */
	expect_bad_str("d8:intervali9223372036854775808ee");
	expect_bad_str("d8:intervali99999999999999999999999999ee");
}

static void test_parse_failure(void **state)
{
	(void)state;
	struct bt_tracker_reply r;
	char err[128];
	/* failure wins; other fields (even malformed peers) are ignored */
	assert_int_equal(parse_str("d14:failure reason12:unregistered"
				   "8:intervali60e5:peers1:xe",
				   &r, err, sizeof(err)),
			 0);
	assert_string_equal(r.failure, "unregistered");
	assert_int_equal(r.npeers, 0);
	assert_null(r.peers);
	bt_tracker_reply_release(&r);
	assert_null(r.failure);

	/* control characters and NULs replaced */
	static const char body[] = "d14:failure reason5:a\0\n\x7f" "be";
	assert_int_equal(bt_tracker_parse((const uint8_t *)body,
					  sizeof(body) - 1, &r, err,
					  sizeof(err)),
			 0);
	assert_string_equal(r.failure, "a???b");
	bt_tracker_reply_release(&r);

	/* a long failure text is truncated */
	size_t n = 100000;
	char *big = malloc(n + 64);
	int h = sprintf(big, "d14:failure reason%zu:", n);
	memset(big + h, 'x', n);
	big[h + n] = 'e';
	assert_int_equal(bt_tracker_parse((const uint8_t *)big, h + n + 1, &r,
					  err, sizeof(err)),
			 0);
	assert_int_equal(strlen(r.failure), 1024);
	bt_tracker_reply_release(&r);
	free(big);

	/* empty reason is still a failure */
	assert_int_equal(parse_str("d14:failure reason0:e", &r, err,
				   sizeof(err)),
			 0);
	assert_string_equal(r.failure, "");
	bt_tracker_reply_release(&r);

	expect_bad_str("d14:failure reasoni1ee");
	expect_bad_str("d14:failure reasonlee");
}

static void test_parse_dict_peers(void **state)
{
	(void)state;
	struct bt_tracker_reply r;
	char err[128];
	const char *body =
		"d5:peers"
		"l"
		"d2:ip7:1.2.3.47:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881ee"
		"d2:ip3:::14:porti51413ee"
		"d2:ip15:tracker.example4:porti1ee"	 /* hostname: skipped */
		"d2:ip7:5.6.7.84:porti0ee"		 /* port 0 */
		"d2:ip7:5.6.7.84:porti65536ee"		 /* port too big */
		"d2:ip7:5.6.7.84:porti-1ee"		 /* negative */
		"d2:ip7:5.6.7.84:port4:6881e"		 /* port not int */
		"d4:porti80ee"				 /* no ip */
		"d2:ip7:5.6.7.8e"			 /* no port */
		"d2:ipi5e4:porti80ee"			 /* ip not a string */
		"d2:ip9:1.2.3.4\0x4:porti80ee"		 /* embedded NUL */
		"d2:ip0:4:porti80ee"			 /* empty ip */
		"d2:ip60:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"4:porti80ee"				 /* long ip */
		"d2:ip7:0.0.0.04:porti80ee"		 /* unspecified */
		"d2:ip9:224.0.0.14:porti80ee"		 /* multicast */
		"d2:ip15:255.255.255.2554:porti80ee"	 /* broadcast */
		"d2:ip2:::4:porti80ee"			 /* :: */
		"d2:ip7:ff02::14:porti80ee"		 /* v6 multicast */
		"d2:ip14:::ffff:9.8.7.64:porti99ee"	 /* v4-mapped */
		"d2:ip12:fe80::1%eth04:porti80ee"	 /* zone: skipped */
		"i5e"					 /* junk items */
		"3:abc"
		"llleee"
		"ldee"
		"d2:ip11:2001:db8::54:porti443ee"
		"e"
		"e";
	/* the embedded NUL means strlen cannot be used */
	size_t len = 0;
	while (memcmp(body + len, "llleee", 6))
		len++;
	len += strlen(body + len);
	assert_int_equal(bt_tracker_parse((const uint8_t *)body, len, &r, err,
					  sizeof(err)),
			 0);
	assert_int_equal(r.npeers, 4);
	assert_v4(&r, 0, "1.2.3.4", 6881);
	assert_v6(&r, 1, "::1", 51413);
	assert_v4(&r, 2, "9.8.7.6", 99);
	assert_v6(&r, 3, "2001:db8::5", 443);
	bt_tracker_reply_release(&r);

	/* a list of only junk is a valid reply with no peers */
	assert_int_equal(parse_str("d5:peersli1eleldeeee", &r, err, sizeof(err)),
			 0);
	assert_int_equal(r.npeers, 0);
	assert_null(r.peers);
	bt_tracker_reply_release(&r);
}

static void test_parse_peers6(void **state)
{
	(void)state;
	uint8_t p6[18 * 4] = {0};
	/* 2001:db8::1 port 6881 */
	p6[0] = 0x20;
	p6[1] = 0x01;
	p6[2] = 0x0d;
	p6[3] = 0xb8;
	p6[15] = 1;
	p6[16] = 6881 >> 8;
	p6[17] = 6881 & 0xff;
	/* ::1 port 0: skipped */
	p6[18 + 15] = 1;
	/* ::ffff:10.1.2.3 port 80: becomes IPv4 */
	p6[36 + 10] = 0xff;
	p6[36 + 11] = 0xff;
	p6[36 + 12] = 10;
	p6[36 + 13] = 1;
	p6[36 + 14] = 2;
	p6[36 + 15] = 3;
	p6[36 + 17] = 80;
	/* ::1 port 2 */
	p6[54 + 15] = 1;
	p6[54 + 17] = 2;
	uint8_t p4[6];
	compact4(p4, 8, 8, 4, 4, 53);

	struct bt_benc b;
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "peers");
	bt_benc_str(&b, p4, sizeof(p4));
	bt_benc_cstr(&b, "peers6");
	bt_benc_str(&b, p6, sizeof(p6));
	bt_benc_end(&b);
	struct bt_tracker_reply r;
	char err[128];
	assert_int_equal(bt_tracker_parse(b.buf, b.len, &r, err, sizeof(err)), 0);
	assert_int_equal(r.npeers, 4);
	assert_v4(&r, 0, "8.8.4.4", 53);
	assert_v6(&r, 1, "2001:db8::1", 6881);
	assert_v4(&r, 2, "10.1.2.3", 80);
	assert_v6(&r, 3, "::1", 2);
	bt_tracker_reply_release(&r);
	bt_benc_release(&b);

	/* peers6 alone */
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "peers6");
	bt_benc_str(&b, p6, 18);
	bt_benc_end(&b);
	assert_int_equal(bt_tracker_parse(b.buf, b.len, &r, err, sizeof(err)), 0);
	assert_int_equal(r.npeers, 1);
	bt_tracker_reply_release(&r);
	bt_benc_release(&b);
}

static void test_parse_cap(void **state)
{
	(void)state;
	/* 100000 compact peers + 100000 peers6: capped */
	size_t n = 100000;
	uint8_t *p4 = malloc(6 * n), *p6 = calloc(n, 18);
	for (size_t i = 0; i < n; i++) {
		compact4(p4 + 6 * i, 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
			 (uint8_t)i, (uint16_t)(1 + i % 60000));
		p6[18 * i] = 0x20;
		p6[18 * i + 17] = 1;
	}
	struct bt_benc b;
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "peers");
	bt_benc_str(&b, p4, 6 * n);
	bt_benc_cstr(&b, "peers6");
	bt_benc_str(&b, p6, 18 * n);
	bt_benc_end(&b);
	struct bt_tracker_reply r;
	char err[128];
	assert_int_equal(bt_tracker_parse(b.buf, b.len, &r, err, sizeof(err)), 0);
	assert_int_equal(r.npeers, BT_TRACKER_MAX_PEERS);
	assert_v4(&r, BT_TRACKER_MAX_PEERS - 1, "10.0.7.207", 2000);
	bt_tracker_reply_release(&r);
	bt_benc_release(&b);

	/* a dictionary list over the cap */
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "peers");
	bt_benc_list_begin(&b);
	for (size_t i = 0; i < 3000; i++) {
		bt_benc_dict_begin(&b);
		bt_benc_cstr(&b, "ip");
		bt_benc_cstr(&b, "10.9.8.7");
		bt_benc_cstr(&b, "port");
		bt_benc_int(&b, (int64_t)(i + 1));
		bt_benc_end(&b);
	}
	bt_benc_end(&b);
	bt_benc_end(&b);
	assert_int_equal(bt_tracker_parse(b.buf, b.len, &r, err, sizeof(err)), 0);
	assert_int_equal(r.npeers, BT_TRACKER_MAX_PEERS);
	assert_v4(&r, 0, "10.9.8.7", 1);
	bt_tracker_reply_release(&r);
	bt_benc_release(&b);
	free(p4);
	free(p6);
}

static void test_parse_hostile(void **state)
{
	(void)state;
	/* not bencode, or not a dict */
	expect_bad("", 0);
	expect_bad_str("<html>404</html>");
	expect_bad_str("le");
	expect_bad_str("i1e");
	expect_bad_str("4:spam");
	expect_bad_str("d");
	expect_bad_str("d5:peers");
	expect_bad_str("d5:peers6:abce");
	/* unsorted or duplicate keys (strict decoder) */
	expect_bad_str("d8:intervali60e8:completei1ee");
	expect_bad_str("d8:intervali60e8:intervali60ee");
	/* wrong types for essential keys */
	expect_bad_str("d8:interval2:60e");
	expect_bad_str("d8:intervalleee");
	expect_bad_str("d5:peersi5ee");
	expect_bad_str("d5:peersdee");
	expect_bad_str("d6:peers6leee");
	expect_bad_str("d6:peers6i1ee");
	/* odd compact lengths */
	expect_bad_str("d5:peers1:xe");
	expect_bad_str("d5:peers5:abcdee");
	expect_bad_str("d5:peers7:abcdefge");
	expect_bad_str("d6:peers66:abcdefe");
	expect_bad_str("d6:peers617:aaaaaaaaaaaaaaaaae");
	expect_bad_str("d6:peers619:aaaaaaaaaaaaaaaaaaae");
	/* string length far beyond the body */
	expect_bad_str("d5:peers99999999999:abc");
	expect_bad_str("d5:peers18446744073709551615:ab");
	/* deep nesting */
	size_t depth = 100000;
	char *deep = malloc(2 * depth + 16);
	size_t n = 0;
	n += (size_t)sprintf(deep, "d5:peers");
	for (size_t i = 0; i < depth; i++)
		deep[n++] = 'l';
	for (size_t i = 0; i < depth; i++)
		deep[n++] = 'e';
	deep[n++] = 'e';
	expect_bad(deep, n);
	free(deep);
	/* nested junk at the allowed depth: a valid reply with no peers */
	struct bt_tracker_reply r;
	assert_int_equal(parse_str("d3:aaald1:xllleeeee5:peersld2:ipld2:ip"
				   "7:1.2.3.4ee4:portdeee5:zzzzzi1ee",
				   &r, NULL, 0),
			 0);
	assert_int_equal(r.npeers, 0);
	bt_tracker_reply_release(&r);
	/* a hostile byte soup never crashes */
	uint8_t soup[512];
	uint32_t x = 12345;
	for (int round = 0; round < 2000; round++) {
		for (size_t i = 0; i < sizeof(soup); i++) {
			x = x * 1103515245 + 12345;
			soup[i] = (uint8_t)"dlie0123456789:-x"[(x >> 16) % 17];
		}
		char err[64];
		if (bt_tracker_parse(soup, sizeof(soup), &r, err, sizeof(err)) ==
		    0)
			bt_tracker_reply_release(&r);
	}
}

/* ---- I/O against an in-process evhttp server ---- */

enum srv_mode {
	SRV_COMPACT,
	SRV_FAILURE,
	SRV_404,
	SRV_GARBAGE,
	SRV_HUGE,
	SRV_BIG_VALID,
};

struct io_ctx {
	struct event_base *base;
	struct evhttp *http;
	uint16_t port;
	enum srv_mode mode;
	int hits;
	char last_uri[1024];
	char last_host[128];
	/* client side */
	int calls;
	int err;
	size_t npeers;
	struct bt_addr peers[4];
	char failure[64];
	struct bt_tracker_req *other; /* cancelled from the callback */
	int other_calls;
};

static void srv_cb(struct evhttp_request *req, void *arg)
{
	struct io_ctx *c = arg;
	struct evbuffer *out = evbuffer_new();
	c->hits++;
	snprintf(c->last_uri, sizeof(c->last_uri), "%s",
		 evhttp_request_get_uri(req));
	const char *host =
		evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	snprintf(c->last_host, sizeof(c->last_host), "%s", host ? host : "");
	switch (c->mode) {
	case SRV_COMPACT:
		evbuffer_add_printf(out, "d8:intervali900e5:peers12:");
		evbuffer_add(out, "\x0a\x00\x00\x01\x1a\xe1", 6);
		evbuffer_add(out, "\x7f\x00\x00\x02\x00\x50", 6);
		evbuffer_add_printf(out, "e");
		evhttp_send_reply(req, 200, "OK", out);
		break;
	case SRV_FAILURE:
		evbuffer_add_printf(out, "d14:failure reason7:go awaye");
		evhttp_send_reply(req, 200, "OK", out);
		break;
	case SRV_404:
		evbuffer_add_printf(out, "not here");
		evhttp_send_reply(req, 404, "Not Found", out);
		break;
	case SRV_GARBAGE:
		evbuffer_add_printf(out, "<html>hello</html>");
		evhttp_send_reply(req, 200, "OK", out);
		break;
	case SRV_HUGE: {
		size_t n = BT_TRACKER_MAX_BODY + 1;
		char *junk = malloc(n);
		memset(junk, 'x', n);
		evbuffer_add(out, junk, n);
		free(junk);
		evhttp_send_reply(req, 200, "OK", out);
		break;
	}
	case SRV_BIG_VALID: {
		/* a body of exactly BT_TRACKER_MAX_BODY bytes */
		size_t total = BT_TRACKER_MAX_BODY;
		size_t plen = total - 32;
		plen -= plen % 6;
		int h = evbuffer_add_printf(out, "d5:peers%zu:", plen);
		uint8_t *p = malloc(plen);
		for (size_t i = 0; i < plen; i += 6)
			compact4(p + i, 10, 1, 1, 1, 7);
		evbuffer_add(out, p, plen);
		free(p);
		size_t pad = total - (size_t)h - plen - 1;
		evbuffer_add(out, "e", 1);
		while (pad--)
			evbuffer_add(out, "\n", 1);
		assert_int_equal(evbuffer_get_length(out), total);
		evhttp_send_reply(req, 200, "OK", out);
		break;
	}
	}
	evbuffer_free(out);
}

static void srv_start(struct io_ctx *c)
{
	c->http = evhttp_new(c->base);
	assert_non_null(c->http);
	evhttp_set_gencb(c->http, srv_cb, c);
	struct evhttp_bound_socket *bs =
		evhttp_bind_socket_with_handle(c->http, "127.0.0.1", 0);
	assert_non_null(bs);
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&sin, &sl),
			 0);
	c->port = ntohs(sin.sin_port);
}

static void io_setup(struct io_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->base = event_base_new();
	assert_non_null(c->base);
	c->err = 1;
}

static void io_teardown(struct io_ctx *c)
{
	if (c->http)
		evhttp_free(c->http);
	event_base_free(c->base);
}

static void client_cb(int err, const struct bt_tracker_reply *r, void *arg)
{
	struct io_ctx *c = arg;
	c->calls++;
	c->err = err;
	if (err == 0) {
		assert_non_null(r);
		c->npeers = r->npeers;
		for (size_t i = 0; i < r->npeers && i < 4; i++)
			c->peers[i] = r->peers[i];
		if (r->failure)
			snprintf(c->failure, sizeof(c->failure), "%s",
				 r->failure);
	} else {
		assert_null(r);
	}
	if (c->other) {
		bt_tracker_cancel(c->other);
		c->other = NULL;
	}
	event_base_loopexit(c->base, NULL);
}

static void other_cb(int err, const struct bt_tracker_reply *r, void *arg)
{
	struct io_ctx *c = arg;
	(void)err;
	(void)r;
	c->other_calls++;
	c->other = NULL;
}

/* Run the loop until a callback ends it or MS milliseconds pass. */
static void run_loop(struct io_ctx *c, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	event_base_loopexit(c->base, &tv);
	event_base_dispatch(c->base);
}

static struct bt_tracker_req *announce_to(struct io_ctx *c, const char *host,
					  uint16_t port, int timeout,
					  struct evdns_base *dns)
{
	char url[256];
	struct bt_announce a;
	fill_announce(&a);
	snprintf(url, sizeof(url), "http://%s:%u/announce?pk=1", host, port);
	return bt_tracker_announce(c->base, dns, url, &a, timeout, client_cb,
				   c);
}

static void test_io_compact(void **state)
{
	(void)state;
	struct io_ctx c;
	io_setup(&c);
	srv_start(&c);
	struct bt_tracker_req *req = announce_to(&c, "127.0.0.1", c.port, 5, NULL);
	assert_non_null(req);
	assert_int_equal(c.calls, 0); /* never called synchronously */
	run_loop(&c, 10000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.hits, 1);
	assert_int_equal(c.npeers, 2);
	char name[BT_ADDR_STRLEN];
	bt_addr_str(&c.peers[0], name, sizeof(name));
	assert_string_equal(name, "10.0.0.1:6881");
	bt_addr_str(&c.peers[1], name, sizeof(name));
	assert_string_equal(name, "127.0.0.2:80");
	/* the request the server saw */
	assert_true(strncmp(c.last_uri, "/announce?pk=1&info_hash=%00%0D", 31) ==
		    0);
	assert_non_null(strstr(c.last_uri, "&compact=1"));
	assert_non_null(strstr(c.last_uri, "&event=started"));
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%u", c.port);
	assert_string_equal(c.last_host, host);
	/* nothing else fires afterwards */
	run_loop(&c, 200);
	assert_int_equal(c.calls, 1);
	io_teardown(&c);
}

static void test_io_replies(void **state)
{
	(void)state;
	static const struct {
		enum srv_mode mode;
		int err;
	} cases[] = {
		{SRV_FAILURE, 0},	  {SRV_404, -EPROTO},
		{SRV_GARBAGE, -EINVAL},	  {SRV_HUGE, -EMSGSIZE},
		{SRV_BIG_VALID, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct io_ctx c;
		io_setup(&c);
		srv_start(&c);
		c.mode = cases[i].mode;
		assert_non_null(announce_to(&c, "127.0.0.1", c.port, 5, NULL));
		run_loop(&c, 10000);
		assert_int_equal(c.calls, 1);
		assert_int_equal(c.err, cases[i].err);
		if (c.mode == SRV_FAILURE)
			assert_string_equal(c.failure, "go away");
		if (c.mode == SRV_BIG_VALID)
			assert_int_equal(c.npeers, BT_TRACKER_MAX_PEERS);
		io_teardown(&c);
	}
}

/* A listening socket that never accepts: the kernel completes the connect,
 * nobody ever answers. */
static int silent_listener(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	socklen_t sl = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void test_io_timeout(void **state)
{
	(void)state;
	struct io_ctx c;
	io_setup(&c);
	uint16_t port;
	int fd = silent_listener(&port);
	assert_non_null(announce_to(&c, "127.0.0.1", port, 1, NULL));
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	run_loop(&c, 10000);
	gettimeofday(&t1, NULL);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, -ETIMEDOUT);
	double dt = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_usec - t0.tv_usec) / 1e6;
	assert_true(dt >= 0.9 && dt < 3.0);
	run_loop(&c, 200);
	assert_int_equal(c.calls, 1);
	close(fd);
	io_teardown(&c);
}

static void test_io_refused(void **state)
{
	(void)state;
	struct io_ctx c;
	io_setup(&c);
	/* a port that was just free */
	uint16_t port;
	int fd = silent_listener(&port);
	close(fd);
	assert_non_null(announce_to(&c, "127.0.0.1", port, 5, NULL));
	run_loop(&c, 10000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, -ECONNREFUSED);
	io_teardown(&c);
}

/* Accepts and closes at once: the connection ends before any reply. */
static void close_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
			    struct sockaddr *sa, int socklen, void *arg)
{
	(void)l;
	(void)sa;
	(void)socklen;
	(void)arg;
	evutil_closesocket(fd);
}

static void test_io_reset(void **state)
{
	(void)state;
	struct io_ctx c;
	io_setup(&c);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct evconnlistener *l = evconnlistener_new_bind(
		c.base, close_accept_cb, NULL,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
		(struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(l);
	socklen_t sl = sizeof(sin);
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &sl);
	assert_non_null(
		announce_to(&c, "127.0.0.1", ntohs(sin.sin_port), 5, NULL));
	run_loop(&c, 10000);
	assert_int_equal(c.calls, 1);
	assert_true(c.err < 0);
	assert_true(c.err != -ETIMEDOUT);
	evconnlistener_free(l);
	io_teardown(&c);
}

static void test_io_cancel(void **state)
{
	(void)state;
	struct io_ctx c;
	io_setup(&c);
	uint16_t port;
	int fd = silent_listener(&port);
	/* cancel right away */
	struct bt_tracker_req *req = announce_to(&c, "127.0.0.1", port, 1, NULL);
	assert_non_null(req);
	bt_tracker_cancel(req);
	/* cancel once connected and waiting */
	req = announce_to(&c, "127.0.0.1", port, 1, NULL);
	assert_non_null(req);
	struct timeval tv = {.tv_usec = 200000};
	event_base_loopexit(c.base, &tv);
	event_base_dispatch(c.base);
	bt_tracker_cancel(req);
	run_loop(&c, 1300); /* past both timeouts */
	assert_int_equal(c.calls, 0);
	bt_tracker_cancel(NULL);
	close(fd);

	/* cancel a second request from the first one's callback, both to a
	 * server that answers at once: the second may already be finished
	 * and waiting for its deferred callback */
	srv_start(&c);
	for (int round = 0; round < 5; round++) {
		char url[128];
		struct bt_announce a;
		fill_announce(&a);
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/a", c.port);
		c.calls = 0;
		c.other_calls = 0;
		assert_non_null(bt_tracker_announce(c.base, NULL, url, &a, 5,
						    client_cb, &c));
		c.other = bt_tracker_announce(c.base, NULL, url, &a, 5,
					      other_cb, &c);
		assert_non_null(c.other);
		run_loop(&c, 10000);
		assert_int_equal(c.calls, 1);
		run_loop(&c, 200);
		assert_int_equal(c.calls, 1);
		assert_null(c.other);
		/* 0 when cancelled, 1 when it happened to finish first */
		assert_true(c.other_calls <= 1);
	}
	io_teardown(&c);
}

static void test_io_unusable(void **state)
{
	(void)state;
	struct io_ctx c;
	io_setup(&c);
	struct bt_announce a;
	fill_announce(&a);
	static const char *const bad[] = {
		"https://tracker.example/announce", /* hostname, no dns base */
		"udp://127.0.0.1:1/announce",
		"http://tracker.example/announce", /* hostname, no dns base */
		"http://[::1/announce",
		"http://127.0.0.1:99999/announce",
		"not a url",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(bt_tracker_announce(c.base, NULL, bad[i], &a, 5,
						client_cb, &c));
	assert_null(bt_tracker_announce(c.base, NULL, NULL, &a, 5, client_cb,
					&c));
	assert_null(bt_tracker_announce(c.base, NULL, "http://127.0.0.1/", &a,
					5, NULL, &c));
	run_loop(&c, 0);
	assert_int_equal(c.calls, 0);
	io_teardown(&c);
}

static void test_io_ipv6(void **state)
{
	(void)state;
	struct io_ctx c;
	io_setup(&c);
	c.http = evhttp_new(c.base);
	evhttp_set_gencb(c.http, srv_cb, &c);
	struct evhttp_bound_socket *bs =
		evhttp_bind_socket_with_handle(c.http, "::1", 0);
	if (!bs) {
		io_teardown(&c);
		skip();
	}
	struct sockaddr_in6 sin6;
	socklen_t sl = sizeof(sin6);
	getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin6,
		    &sl);
	c.port = ntohs(sin6.sin6_port);
	assert_non_null(announce_to(&c, "[::1]", c.port, 5, NULL));
	run_loop(&c, 10000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.npeers, 2);
	char host[64];
	snprintf(host, sizeof(host), "[::1]:%u", c.port);
	assert_string_equal(c.last_host, host);
	io_teardown(&c);
}

/* A loopback nameserver. NXDOMAIN answers every query with "no such
 * name" (the query echoed with QR, RA and rcode 3); otherwise it stays
 * silent. */
struct fake_ns {
	int fd;
	struct event *ev;
	bool nxdomain;
	int queries;
};

static void fake_ns_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_ns *ns = arg;
	uint8_t buf[512];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	(void)what;
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			     &fl);
	if (n < 12)
		return;
	ns->queries++;
	if (!ns->nxdomain)
		return;
	buf[2] |= 0x80;
	buf[3] = 0x83;
	sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
}

static struct evdns_base *fake_ns_start(struct io_ctx *c, struct fake_ns *ns,
					bool nxdomain)
{
	memset(ns, 0, sizeof(*ns));
	ns->nxdomain = nxdomain;
	ns->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(ns->fd >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ns->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t sl = sizeof(sin);
	getsockname(ns->fd, (struct sockaddr *)&sin, &sl);
	evutil_make_socket_nonblocking(ns->fd);
	ns->ev = event_new(c->base, ns->fd, EV_READ | EV_PERSIST, fake_ns_cb,
			   ns);
	event_add(ns->ev, NULL);
	struct evdns_base *dns = evdns_base_new(c->base, 0);
	assert_non_null(dns);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(evdns_base_nameserver_ip_add(dns, addr), 0);
	evdns_base_set_option(dns, "timeout:", "5");
	evdns_base_load_hosts(dns, NULL);
	return dns;
}

static void fake_ns_stop(struct fake_ns *ns, struct evdns_base *dns)
{
	/* fail_requests = 1: a lookup still pending for a cancelled
	 * announce (libevent 2.1 does not cancel it) is then freed */
	evdns_base_free(dns, 1);
	event_free(ns->ev);
	close(ns->fd);
}

static void test_io_dns(void **state)
{
	(void)state;
	struct io_ctx c;
	io_setup(&c);
	srv_start(&c);
	/* "localhost" comes from /etc/hosts, other names get NXDOMAIN */
	struct fake_ns ns;
	struct evdns_base *dns = fake_ns_start(&c, &ns, true);
	struct bt_announce a;
	fill_announce(&a);
	char url[128];
	snprintf(url, sizeof(url), "http://localhost:%u/announce", c.port);
	assert_non_null(
		bt_tracker_announce(c.base, dns, url, &a, 5, client_cb, &c));
	run_loop(&c, 10000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.npeers, 2);

	/* a name that does not resolve fails (not a timeout) */
	c.calls = 0;
	assert_non_null(announce_to(&c, "no-such-host.invalid", c.port, 5, dns));
	run_loop(&c, 10000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, -EHOSTUNREACH);
	assert_true(ns.queries > 0);
	fake_ns_stop(&ns, dns);
	io_teardown(&c);
}

static void test_io_dns_hang(void **state)
{
	(void)state;
	/* a nameserver that never answers: the overall deadline fires while
	 * the lookup is pending, and cancelling during a lookup is safe */
	struct io_ctx c;
	io_setup(&c);
	struct fake_ns ns;
	struct evdns_base *dns = fake_ns_start(&c, &ns, false);

	struct bt_tracker_req *req =
		announce_to(&c, "slow.example", 1, 5, dns);
	assert_non_null(req);
	struct timeval tv = {.tv_usec = 100000};
	event_base_loopexit(c.base, &tv);
	event_base_dispatch(c.base);
	bt_tracker_cancel(req);

	assert_non_null(announce_to(&c, "slow.example", 1, 1, dns));
	run_loop(&c, 10000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, -ETIMEDOUT);
	assert_true(ns.queries > 0);
	fake_ns_stop(&ns, dns);
	run_loop(&c, 0);
	io_teardown(&c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as p2pfs does: see bt_session.h */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_basic),
		cmocka_unit_test(test_url_every_byte),
		cmocka_unit_test(test_url_errors),
		cmocka_unit_test(test_parse_compact),
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_interval),
		cmocka_unit_test(test_parse_failure),
		cmocka_unit_test(test_parse_dict_peers),
		cmocka_unit_test(test_parse_peers6),
		cmocka_unit_test(test_parse_cap),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_io_compact),
		cmocka_unit_test(test_io_replies),
		cmocka_unit_test(test_io_timeout),
		cmocka_unit_test(test_io_refused),
		cmocka_unit_test(test_io_reset),
		cmocka_unit_test(test_io_cancel),
		cmocka_unit_test(test_io_unusable),
		cmocka_unit_test(test_io_ipv6),
		cmocka_unit_test(test_io_dns),
		cmocka_unit_test(test_io_dns_hang),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
