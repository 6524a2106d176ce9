/* Unit tests for bt_udptrk, the BEP 15 codec: udp:// URL splitting, the
 * exact bytes of connect, announce (with BEP 41 URL data) and scrape
 * requests, and the parsers of every reply kind against well-formed,
 * short, long, inconsistent and hostile datagrams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_udptrk.h"

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- URLs ---- */

static void expect_url(const char *url, const char *host, uint16_t port,
		       const char *data)
{
	char h[64];
	uint16_t p = 0;
	const char *d = NULL;
	size_t dl = 99;
	assert_int_equal(bt_udptrk_url_parse(url, h, sizeof(h), &p, &d, &dl),
			 0);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
	assert_int_equal(dl, strlen(data));
	assert_memory_equal(d, data, dl);
}

static void test_url(void **state)
{
	(void)state;
	expect_url("udp://tracker.example.org:6969", "tracker.example.org",
		   6969, "");
	expect_url("UDP://127.0.0.1:80/announce", "127.0.0.1", 80,
		   "/announce");
	/* the BEP 41 example */
	expect_url("udp://tracker.example.com:80/dir?a=b&c=d",
		   "tracker.example.com", 80, "/dir?a=b&c=d");
	expect_url("udp://[::1]:1337/x?y#frag", "::1", 1337, "/x?y");
	expect_url("udp://[2001:db8::1]:65535?key=1", "2001:db8::1", 65535,
		   "?key=1");
	expect_url("udp://h:1#only-a-fragment", "h", 1, "");

	char h[64];
	uint16_t p;
	const char *d;
	size_t dl;
	static const char *const bad[] = {
		"http://tracker:80/announce", "udp://", "udp://:80",
		"udp://host", "udp://host:", "udp://host:0",
		"udp://host:65536", "udp://host:99999999999999999999",
		"udp://host:80x", "udp://ho st:80", "udp://host:80/a b",
		"udp://[::1:80", "udp://[]:80", "udp://user@host:80",
		"udp://host:80/\x01", "udp://h\xc3\xa9:80", "udp:/host:80",
		NULL};
	for (size_t i = 0; bad[i]; i++) {
		int e = bt_udptrk_url_parse(bad[i], h, sizeof(h), &p, &d, &dl);
		if (e != -EINVAL)
			fail_msg("'%s' gave %d", bad[i], e);
	}
	assert_int_equal(bt_udptrk_url_parse(NULL, h, sizeof(h), &p, &d, &dl),
			 -EINVAL);
	/* host too long for the buffer */
	assert_int_equal(bt_udptrk_url_parse("udp://abcdefgh:1", h, 8, &p, &d,
					     &dl),
			 -ENAMETOOLONG);
	assert_int_equal(bt_udptrk_url_parse("udp://abcdefg:1", h, 8, &p, &d,
					     &dl),
			 0);
	/* URL data up to the limit */
	char *url = malloc(64 + BT_UDPTRK_URLDATA_MAX + 2);
	int n = sprintf(url, "udp://h:1/");
	memset(url + n, 'a', BT_UDPTRK_URLDATA_MAX - 1);
	url[n + BT_UDPTRK_URLDATA_MAX - 1] = '\0';
	assert_int_equal(bt_udptrk_url_parse(url, h, sizeof(h), &p, &d, &dl), 0);
	assert_int_equal(dl, BT_UDPTRK_URLDATA_MAX);
	strcat(url, "a");
	assert_int_equal(bt_udptrk_url_parse(url, h, sizeof(h), &p, &d, &dl),
			 -EINVAL);
	free(url);
}

/* ---- requests ---- */

static void fill(struct bt_announce *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < 20; i++) {
		a->info_hash[i] = (uint8_t)(0xa0 + i);
		a->peer_id[i] = (uint8_t)('A' + i);
	}
	a->downloaded = 0x0102030405060708ull;
	a->left = 0x1112131415161718ull;
	a->uploaded = 0x2122232425262728ull;
	a->event = BT_EVENT_STARTED;
	a->key = 0xcafef00d;
	a->numwant = 50;
	a->port = 0x1ae1;
}

static void test_connect_req(void **state)
{
	(void)state;
	uint8_t p[16];
	bt_udptrk_connect_req(p, 0xdeadbeef);
	static const uint8_t want[16] = {0x00, 0x00, 0x04, 0x17, 0x27, 0x10,
					 0x19, 0x80, 0,	   0,	 0,    0,
					 0xde, 0xad, 0xbe, 0xef};
	assert_memory_equal(p, want, 16);
}

static void test_announce_req(void **state)
{
	(void)state;
	struct bt_announce a;
	fill(&a);
	uint8_t p[BT_UDPTRK_REQ_MAX];
	int n = bt_udptrk_announce_req(p, sizeof(p), 0x8877665544332211ull,
				       0x01020304, &a, NULL, 0);
	assert_int_equal(n, 98);
	assert_true(get64(p) == 0x8877665544332211ull);
	assert_int_equal(get32(p + 8), 1);
	assert_int_equal(get32(p + 12), 0x01020304);
	assert_memory_equal(p + 16, a.info_hash, 20);
	assert_memory_equal(p + 36, a.peer_id, 20);
	assert_true(get64(p + 56) == a.downloaded);
	assert_true(get64(p + 64) == a.left);
	assert_true(get64(p + 72) == a.uploaded);
	assert_int_equal(get32(p + 80), 2); /* started */
	assert_int_equal(get32(p + 84), 0); /* IP: the sender's */
	assert_int_equal(get32(p + 88), 0xcafef00d);
	assert_int_equal(get32(p + 92), 50);
	assert_int_equal(p[96], 0x1a);
	assert_int_equal(p[97], 0xe1);

	/* events by BEP 15's numbers; numwant < 0 is -1 */
	static const struct {
		enum bt_tracker_event e;
		uint32_t v;
	} ev[] = {{BT_EVENT_NONE, 0},
		  {BT_EVENT_COMPLETED, 1},
		  {BT_EVENT_STARTED, 2},
		  {BT_EVENT_STOPPED, 3}};
	for (size_t i = 0; i < 4; i++) {
		a.event = ev[i].e;
		a.numwant = -5;
		assert_int_equal(bt_udptrk_announce_req(p, sizeof(p), 1, 2, &a,
							"", 0),
				 98);
		assert_int_equal(get32(p + 80), ev[i].v);
		assert_int_equal(get32(p + 92), 0xffffffffu);
	}

	/* BEP 41: URLData option(s), then EndOfOptions */
	const char *d = "/dir?a=b&c=d";
	n = bt_udptrk_announce_req(p, sizeof(p), 1, 2, &a, d, strlen(d));
	assert_int_equal(n, 98 + 2 + 12 + 1);
	assert_int_equal(p[98], BT_UDPTRK_OPT_URLDATA);
	assert_int_equal(p[99], 12);
	assert_memory_equal(p + 100, d, 12);
	assert_int_equal(p[112], BT_UDPTRK_OPT_END);

	/* longer than one option holds: 255 + 45 */
	char big[300];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	n = bt_udptrk_announce_req(p, sizeof(p), 1, 2, &a, big, sizeof(big));
	assert_int_equal(n, 98 + 2 + 255 + 2 + 45 + 1);
	assert_int_equal(p[98], 2);
	assert_int_equal(p[99], 255);
	assert_memory_equal(p + 100, big, 255);
	assert_int_equal(p[355], 2);
	assert_int_equal(p[356], 45);
	assert_memory_equal(p + 357, big + 255, 45);
	assert_int_equal(p[402], 0);
	/* exactly 255 bytes: one option */
	n = bt_udptrk_announce_req(p, sizeof(p), 1, 2, &a, big, 255);
	assert_int_equal(n, 98 + 2 + 255 + 1);

	/* the longest URL data fits BT_UDPTRK_REQ_MAX; buffers too small */
	char *huge = malloc(BT_UDPTRK_URLDATA_MAX + 1);
	memset(huge, 'x', BT_UDPTRK_URLDATA_MAX + 1);
	assert_true(bt_udptrk_announce_req(p, sizeof(p), 1, 2, &a, huge,
					   BT_UDPTRK_URLDATA_MAX) > 0);
	assert_int_equal(bt_udptrk_announce_req(p, sizeof(p), 1, 2, &a, huge,
						BT_UDPTRK_URLDATA_MAX + 1),
			 -EINVAL);
	free(huge);
	assert_int_equal(bt_udptrk_announce_req(p, 97, 1, 2, &a, NULL, 0),
			 -ENOBUFS);
	assert_int_equal(bt_udptrk_announce_req(p, 98 + 14, 1, 2, &a, d,
						strlen(d)),
			 -ENOBUFS);
}

static void test_scrape_req(void **state)
{
	(void)state;
	uint8_t hashes[BT_UDPTRK_SCRAPE_MAX + 1][20];
	for (size_t i = 0; i <= BT_UDPTRK_SCRAPE_MAX; i++)
		memset(hashes[i], (int)i, 20);
	uint8_t p[16 + 20 * (BT_UDPTRK_SCRAPE_MAX + 1)];
	int n = bt_udptrk_scrape_req(p, sizeof(p), 7, 9, &hashes[0][0], 2);
	assert_int_equal(n, 56);
	assert_true(get64(p) == 7);
	assert_int_equal(get32(p + 8), 2);
	assert_int_equal(get32(p + 12), 9);
	assert_memory_equal(p + 16, hashes, 40);
	assert_int_equal(bt_udptrk_scrape_req(p, sizeof(p), 7, 9,
					      &hashes[0][0],
					      BT_UDPTRK_SCRAPE_MAX),
			 16 + 20 * BT_UDPTRK_SCRAPE_MAX);
	assert_int_equal(bt_udptrk_scrape_req(p, sizeof(p), 7, 9,
					      &hashes[0][0],
					      BT_UDPTRK_SCRAPE_MAX + 1),
			 -EINVAL);
	assert_int_equal(bt_udptrk_scrape_req(p, sizeof(p), 7, 9,
					      &hashes[0][0], 0),
			 -EINVAL);
	assert_int_equal(bt_udptrk_scrape_req(p, 55, 7, 9, &hashes[0][0], 2),
			 -ENOBUFS);
}

/* ---- replies ---- */

static size_t hdr(uint8_t *p, uint32_t action, uint32_t tid)
{
	put32(p, action);
	put32(p + 4, tid);
	return 8;
}

static void test_header(void **state)
{
	(void)state;
	uint8_t p[16] = {0};
	uint32_t a, t;
	hdr(p, 3, 0x55667788);
	assert_true(bt_udptrk_is_reply(p, 8));
	assert_int_equal(bt_udptrk_header(p, 8, &a, &t), 0);
	assert_int_equal(a, 3);
	assert_int_equal(t, 0x55667788);
	assert_false(bt_udptrk_is_reply(p, 7));
	assert_int_equal(bt_udptrk_header(p, 7, &a, &t), -EPROTO);
	put32(p, 4);
	assert_false(bt_udptrk_is_reply(p, 8));
	assert_int_equal(bt_udptrk_header(p, 8, &a, &t), -EPROTO);
	put32(p, 0x100);
	assert_false(bt_udptrk_is_reply(p, 8));
	/* what else shares the socket never looks like a reply */
	assert_false(bt_udptrk_is_reply((const uint8_t *)"d1:ad2:id20:", 12));
	static const uint8_t utp[20] = {0x41, 0, 0x12, 0x34};
	assert_false(bt_udptrk_is_reply(utp, sizeof(utp)));
}

static void test_parse_connect(void **state)
{
	(void)state;
	uint8_t p[32] = {0};
	char err[128];
	uint64_t cid = 0;
	hdr(p, 0, 1);
	put32(p + 8, 0x11223344);
	put32(p + 12, 0x55667788);
	assert_int_equal(bt_udptrk_parse_connect(p, 16, &cid, err, sizeof(err)),
			 0);
	assert_true(cid == 0x1122334455667788ull);
	/* longer is accepted (BEP 15: do not expect exact sizes) */
	assert_int_equal(bt_udptrk_parse_connect(p, 32, &cid, err, sizeof(err)),
			 0);
	/* short */
	for (size_t n = 0; n < 16; n++)
		assert_int_equal(bt_udptrk_parse_connect(p, n, &cid, err,
							 sizeof(err)),
				 -EPROTO);
	assert_non_null(strstr(err, "connect"));
	/* another action */
	put32(p, 1);
	assert_int_equal(bt_udptrk_parse_connect(p, 16, &cid, err, sizeof(err)),
			 -EPROTO);
}

/* An announce reply: header, interval, leechers, seeders, then N entries
 * of ENTRY bytes each from PEERS. */
static uint8_t *announce_reply(uint32_t interval, uint32_t leechers,
			       uint32_t seeders, const uint8_t *peers,
			       size_t plen, size_t *len)
{
	uint8_t *p = malloc(20 + plen);
	hdr(p, 1, 42);
	put32(p + 8, interval);
	put32(p + 12, leechers);
	put32(p + 16, seeders);
	if (plen)
		memcpy(p + 20, peers, plen);
	*len = 20 + plen;
	return p;
}

static void test_parse_announce_v4(void **state)
{
	(void)state;
	static const uint8_t peers[] = {
		10,  0, 0, 1,	0x1a, 0xe1, /* 10.0.0.1:6881 */
		127, 0, 0, 2,	0,    80,   /* 127.0.0.2:80 */
		1,   2, 3, 4,	0,    0,    /* port 0: skipped */
		0,   0, 0, 0,	0,    1,    /* unspecified: skipped */
		224, 0, 0, 1,	0,    1,    /* multicast: skipped */
		255, 255, 255, 255, 0, 1,   /* broadcast: skipped */
		9,   9, 9, 9,	0,    0,    /* port 0: skipped */
	};
	size_t len;
	uint8_t *p = announce_reply(1800, 7, 3, peers, sizeof(peers), &len);
	struct bt_tracker_reply r;
	char err[128];
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V4, 0, &r,
						  err, sizeof(err)),
			 0);
	assert_int_equal(r.interval, 1800);
	assert_int_equal(r.min_interval, 0);
	assert_int_equal(r.incomplete, 7);
	assert_int_equal(r.complete, 3);
	assert_null(r.failure);
	assert_int_equal(r.npeers, 2);
	char s[BT_ADDR_STRLEN];
	bt_addr_str(&r.peers[0], s, sizeof(s));
	assert_string_equal(s, "10.0.0.1:6881");
	bt_addr_str(&r.peers[1], s, sizeof(s));
	assert_string_equal(s, "127.0.0.2:80");
	bt_tracker_reply_release(&r);
	/* 42 bytes are not whole IPv6 entries */
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V6, 0, &r,
						  err, sizeof(err)),
			 -EPROTO);
	assert_null(r.peers);
	/* a torn last entry */
	assert_int_equal(bt_udptrk_parse_announce(p, len - 1, BT_ADDR_V4, 0,
						  &r, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "multiple of 6"));
	/* a cap on the peers kept */
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V4, 1, &r,
						  err, sizeof(err)),
			 0);
	assert_int_equal(r.npeers, 1);
	bt_tracker_reply_release(&r);
	/* no family given */
	assert_int_equal(bt_udptrk_parse_announce(p, len, 0, 0, &r, err,
						  sizeof(err)),
			 -EPROTO);
	free(p);

	/* no peers at all, shorter than the header, wrong action */
	p = announce_reply(60, 0, 0, NULL, 0, &len);
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V4, 0, &r,
						  err, sizeof(err)),
			 0);
	assert_int_equal(r.npeers, 0);
	assert_null(r.peers);
	bt_tracker_reply_release(&r);
	for (size_t n = 0; n < 20; n++)
		assert_int_equal(bt_udptrk_parse_announce(p, n, BT_ADDR_V4, 0,
							  &r, err, sizeof(err)),
				 -EPROTO);
	/* the bare header: how opentracker refuses a torrent it does not
	 * serve over UDP (seen in the interop test) */
	assert_int_equal(bt_udptrk_parse_announce(p, 8, BT_ADDR_V4, 0, &r, err,
						  sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "does not serve"));
	put32(p, 0);
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V4, 0, &r,
						  err, sizeof(err)),
			 -EPROTO);
	free(p);
}

static void test_parse_announce_intervals(void **state)
{
	(void)state;
	/* hostile intervals and counts: 0 and -1 become the 30 s floor, a
	 * huge one the 1-day ceiling; negative counts are "absent" */
	static const struct {
		uint32_t raw, want;
	} cases[] = {{0, 30},
		     {0xffffffffu, 30},
		     {0x80000000u, 30},
		     {29, 30},
		     {30, 30},
		     {86400, 86400},
		     {86401, 86400},
		     {0x7fffffffu, 86400}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		uint8_t *p = announce_reply(cases[i].raw, 0xffffffffu,
					    0x80000000u, NULL, 0, &len);
		struct bt_tracker_reply r;
		assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V4,
							  0, &r, NULL, 0),
				 0);
		assert_int_equal(r.interval, cases[i].want);
		assert_int_equal(r.complete, -1);
		assert_int_equal(r.incomplete, -1);
		bt_tracker_reply_release(&r);
		free(p);
	}
}

static void test_parse_announce_v6(void **state)
{
	(void)state;
	uint8_t peers[3 * 18] = {0};
	/* 2001:db8::1 port 6881 */
	peers[0] = 0x20;
	peers[1] = 0x01;
	peers[2] = 0x0d;
	peers[3] = 0xb8;
	peers[15] = 1;
	peers[16] = 0x1a;
	peers[17] = 0xe1;
	/* ::ffff:10.1.2.3 port 80: becomes IPv4 */
	peers[18 + 10] = 0xff;
	peers[18 + 11] = 0xff;
	peers[18 + 12] = 10;
	peers[18 + 13] = 1;
	peers[18 + 14] = 2;
	peers[18 + 15] = 3;
	peers[18 + 17] = 80;
	/* ff02::1 (multicast): skipped */
	peers[36] = 0xff;
	peers[37] = 0x02;
	peers[36 + 15] = 1;
	peers[36 + 17] = 1;
	size_t len;
	uint8_t *p = announce_reply(900, 1, 2, peers, sizeof(peers), &len);
	struct bt_tracker_reply r;
	char err[128];
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V6, 0, &r,
						  err, sizeof(err)),
			 0);
	assert_int_equal(r.npeers, 2);
	char s[BT_ADDR_STRLEN];
	bt_addr_str(&r.peers[0], s, sizeof(s));
	assert_string_equal(s, "[2001:db8::1]:6881");
	bt_addr_str(&r.peers[1], s, sizeof(s));
	assert_string_equal(s, "10.1.2.3:80");
	bt_tracker_reply_release(&r);
	/* 54 bytes are 9 IPv4 entries too: the family decides */
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V4, 0, &r,
						  err, sizeof(err)),
			 0);
	bt_tracker_reply_release(&r);
	assert_int_equal(bt_udptrk_parse_announce(p, len - 6, BT_ADDR_V6, 0,
						  &r, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "multiple of 18"));
	free(p);
}

static void test_parse_announce_huge(void **state)
{
	(void)state;
	/* the largest UDP payload of peers: capped, one bounded allocation */
	size_t n = (65507 - 20) / 6;
	uint8_t *peers = malloc(n * 6);
	for (size_t i = 0; i < n; i++) {
		uint8_t *q = peers + 6 * i;
		q[0] = 10;
		q[1] = (uint8_t)(i >> 16);
		q[2] = (uint8_t)(i >> 8);
		q[3] = (uint8_t)i;
		q[4] = 0x1a;
		q[5] = 0xe1;
	}
	size_t len;
	uint8_t *p = announce_reply(1800, 0, 0, peers, n * 6, &len);
	struct bt_tracker_reply r;
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V4, 0, &r,
						  NULL, 0),
			 0);
	assert_int_equal(r.npeers, BT_TRACKER_MAX_PEERS);
	bt_tracker_reply_release(&r);
	assert_int_equal(bt_udptrk_parse_announce(p, len, BT_ADDR_V4, 100000,
						  &r, NULL, 0),
			 0);
	assert_int_equal(r.npeers, BT_TRACKER_MAX_PEERS);
	bt_tracker_reply_release(&r);
	free(p);
	free(peers);
}

static void test_parse_scrape(void **state)
{
	(void)state;
	uint8_t p[8 + 3 * 12];
	hdr(p, 2, 5);
	for (uint32_t i = 0; i < 9; i++)
		put32(p + 8 + 4 * i, 100 + i);
	struct bt_udptrk_scrape_entry e[3];
	char err[128];
	assert_int_equal(bt_udptrk_parse_scrape(p, sizeof(p), e, 3, err,
						sizeof(err)),
			 3);
	assert_int_equal(e[0].seeders, 100);
	assert_int_equal(e[0].completed, 101);
	assert_int_equal(e[0].leechers, 102);
	assert_int_equal(e[2].leechers, 108);
	/* fewer than asked is fine; more than asked is not */
	assert_int_equal(bt_udptrk_parse_scrape(p, 8 + 12, e, 3, err,
						sizeof(err)),
			 1);
	assert_int_equal(bt_udptrk_parse_scrape(p, sizeof(p), e, 2, err,
						sizeof(err)),
			 -EPROTO);
	/* none, or torn */
	assert_int_equal(bt_udptrk_parse_scrape(p, 8, e, 3, err, sizeof(err)),
			 -EPROTO);
	assert_int_equal(bt_udptrk_parse_scrape(p, 8 + 13, e, 3, err,
						sizeof(err)),
			 -EPROTO);
	put32(p, 1);
	assert_int_equal(bt_udptrk_parse_scrape(p, sizeof(p), e, 3, err,
						sizeof(err)),
			 -EPROTO);
}

static void test_parse_error(void **state)
{
	(void)state;
	uint8_t p[2048];
	char *msg;
	char err[128];
	size_t n = hdr(p, 3, 1);
	memcpy(p + n, "Requested download is not authorized", 36);
	assert_int_equal(bt_udptrk_parse_error(p, n + 36, &msg, err,
					       sizeof(err)),
			 0);
	assert_string_equal(msg, "Requested download is not authorized");
	free(msg);
	/* a C string: the NUL and what follows are not text */
	memcpy(p + n, "bad\0junk", 8);
	assert_int_equal(bt_udptrk_parse_error(p, n + 8, &msg, err,
					       sizeof(err)),
			 0);
	assert_string_equal(msg, "bad");
	free(msg);
	/* control characters replaced, length cut */
	memcpy(p + n, "a\nb\x1b[31m", 9);
	assert_int_equal(bt_udptrk_parse_error(p, n + 9, &msg, err,
					       sizeof(err)),
			 0);
	assert_string_equal(msg, "a?b?[31m");
	free(msg);
	memset(p + n, 'z', sizeof(p) - n);
	assert_int_equal(bt_udptrk_parse_error(p, sizeof(p), &msg, err,
					       sizeof(err)),
			 0);
	assert_int_equal(strlen(msg), BT_UDPTRK_ERROR_MAX);
	free(msg);
	/* empty message */
	assert_int_equal(bt_udptrk_parse_error(p, n, &msg, err, sizeof(err)),
			 0);
	assert_string_equal(msg, "");
	free(msg);
	/* short, wrong action */
	assert_int_equal(bt_udptrk_parse_error(p, 7, &msg, err, sizeof(err)),
			 -EPROTO);
	assert_null(msg);
	put32(p, 1);
	assert_int_equal(bt_udptrk_parse_error(p, 20, &msg, err, sizeof(err)),
			 -EPROTO);
	assert_null(msg);
}

static void test_soup(void **state)
{
	(void)state;
	/* random datagrams never crash a parser and respect the caps */
	uint8_t p[600];
	uint32_t x = 99;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(x % sizeof(p));
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245 + 12345;
			p[i] = (uint8_t)(x >> 16);
		}
		if (len >= 4) {
			p[0] = p[1] = p[2] = 0;
			p[3] &= 3;
		}
		struct bt_tracker_reply r;
		if (bt_udptrk_parse_announce(p, len, round & 1 ? BT_ADDR_V4
							       : BT_ADDR_V6,
					     0, &r, NULL, 0) == 0) {
			assert_true(r.npeers <= (len - 20) / 6);
			bt_tracker_reply_release(&r);
		}
		uint64_t cid;
		(void)bt_udptrk_parse_connect(p, len, &cid, NULL, 0);
		struct bt_udptrk_scrape_entry e[4];
		int n = bt_udptrk_parse_scrape(p, len, e, 4, NULL, 0);
		assert_true(n == -EPROTO || (n >= 1 && n <= 4));
		char *msg;
		if (bt_udptrk_parse_error(p, len, &msg, NULL, 0) == 0)
			free(msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_connect_req),
		cmocka_unit_test(test_announce_req),
		cmocka_unit_test(test_scrape_req),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_parse_connect),
		cmocka_unit_test(test_parse_announce_v4),
		cmocka_unit_test(test_parse_announce_intervals),
		cmocka_unit_test(test_parse_announce_v6),
		cmocka_unit_test(test_parse_announce_huge),
		cmocka_unit_test(test_parse_scrape),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_soup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
