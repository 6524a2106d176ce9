/* Unit tests for bt_magnet: hex and base32 info-hashes in either case, the
 * v2 refusal and hybrid links, every field (dn, tr, x.pe literals and host
 * names, ws, xl, so, the sealed-share key), percent-decoding and '+',
 * duplicates, the bounds on length and counts with their one-line errors,
 * and format -> parse round trips (with and without the key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bt_magnet.h"

#define HEX "c9e15763f722f23e98a29decdfae341b98d53056"
/* the same 20 bytes in RFC 4648 base32 */
#define B32 "ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW"

static struct bt_magnet *ok(const char *uri)
{
	struct bt_magnet *m = NULL;
	char err[256];
	int rc = bt_magnet_parse(uri, &m, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "unexpected error for %s: %s\n", uri, err);
	assert_int_equal(rc, 0);
	assert_non_null(m);
	return m;
}

/* Parsing URI fails with -EINVAL and an error containing WANT. */
static void bad(const char *uri, const char *want)
{
	struct bt_magnet *m = (void *)1;
	char err[256];
	int rc = bt_magnet_parse(uri, &m, err, sizeof(err));
	if (rc != -EINVAL)
		fprintf(stderr, "no error for %s\n", uri);
	assert_int_equal(rc, -EINVAL);
	assert_null(m);
	if (!strstr(err, want))
		fprintf(stderr, "error '%s' lacks '%s'\n", err, want);
	assert_non_null(strstr(err, want));
	assert_null(strchr(err, '\n'));
}

static void test_info_hash(void **state)
{
	(void)state;
	struct bt_magnet *m = ok("magnet:?xt=urn:btih:" HEX);
	assert_string_equal(m->info_hash_hex, HEX);
	assert_int_equal(m->info_hash[0], 0xc9);
	assert_null(m->name);
	assert_int_equal(m->ntrackers, 0);
	assert_false(m->has_key);
	bt_magnet_free(m);

	/* upper-case hex, base32 in both cases, scheme and urn in any case */
	const char *same[] = {
	    "magnet:?xt=urn:btih:C9E15763F722F23E98A29DECDFAE341B98D53056",
	    "magnet:?xt=urn:btih:" B32,
	    "magnet:?xt=urn:btih:zhqvoy7xelzd5gfctxwn7lrudomnkmcw",
	    "MAGNET:?xt=URN:BTIH:" HEX,
	    "magnet:?dn=x&xt.1=urn:btih:" HEX,
	    /* the same hash twice is fine, other urns are ignored */
	    "magnet:?xt=urn:btih:" HEX "&xt=urn:btih:" B32
	    "&xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C",
	    /* hybrid v1+v2 link: the btih is used */
	    "magnet:?xt=urn:btih:" HEX "&xt=urn:btmh:1220"
	    "d0b5f2c6a0e0e2e8d48e1cbb1f8a2f3f3b0cfc8a9c86b9f5d1f0e4b9d1f2e3c4",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		m = ok(same[i]);
		assert_string_equal(m->info_hash_hex, HEX);
		bt_magnet_free(m);
	}
	assert_true(bt_magnet_is_link("Magnet:?xt"));
	assert_false(bt_magnet_is_link("film.torrent"));
	assert_false(bt_magnet_is_link(NULL));
}

static void test_bad_hash(void **state)
{
	(void)state;
	bad("magnet:?xt=urn:btih:" HEX "0", "not 40 hex digits or 32 base32");
	bad("magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d5305g",
	    "not 40 hex");
	bad("magnet:?xt=urn:btih:ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMC1", "base32");
	bad("magnet:?xt=urn:btih:", "not 40 hex");
	bad("magnet:?xt=urn:btih:" HEX
	    "&xt=urn:btih:0000000000000000000000000000000000000000",
	    "two different 'xt' info-hashes");
	bad("magnet:?dn=film", "no 'xt=urn:btih:' info-hash");
	bad("magnet:?xt=urn:btmh:1220d0b5f2c6a0e0e2e8d48e1cbb1f8a2f3f3b0cfc8a9"
	    "c86b9f5d1f0e4b9d1f2e3c4",
	    "v2-only magnet links ('xt=urn:btmh:') are not supported");
	bad("magnet:", "no '?' after 'magnet:'");
	bad("http://example.org/x.torrent", "not a magnet link");
	bad("", "not a magnet link");
	struct bt_magnet *m = (void *)1;
	char err[64];
	assert_int_equal(bt_magnet_parse(NULL, &m, err, sizeof(err)), -EINVAL);
	assert_null(m);
}

static void test_fields(void **state)
{
	(void)state;
	struct bt_magnet *m = ok(
	    "magnet:?xt=urn:btih:" HEX "&dn=My+Trip%20%C3%A9t%C3%A9"
	    "&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce"
	    "&tr=udp://127.0.0.1:6969"
	    "&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce" /* duplicate */
	    "&tr=wss://tracker.example/ws"		   /* not ours */
	    "&tr.1=https://t.example/a?k=1%26b=2"
	    "&x.pe=127.0.0.5:6881&x.pe=%5B::1%5D:6882&x.pe=[2001:db8::7]:1"
	    "&x.pe=seed.example.org:51413&x.pe=127.0.0.5:6881"
	    "&ws=http://127.0.0.1:8080/files/&ws=ftp://nope"
	    "&xl=123456789&so=0,2,4-6&kt=a+b&&x.p2pfs.key="
	    "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF");
	assert_string_equal(m->name, "My Trip \xc3\xa9t\xc3\xa9");
	assert_int_equal(m->ntrackers, 3);
	assert_string_equal(m->trackers[0], "http://127.0.0.1:6969/announce");
	assert_string_equal(m->trackers[1], "udp://127.0.0.1:6969");
	assert_string_equal(m->trackers[2], "https://t.example/a?k=1&b=2");
	assert_int_equal(m->npeers, 4);
	char a[BT_ADDR_STRLEN];
	bt_addr_str(&m->peers[0].addr, a, sizeof(a));
	assert_string_equal(a, "127.0.0.5:6881");
	assert_null(m->peers[0].host);
	bt_addr_str(&m->peers[1].addr, a, sizeof(a));
	assert_string_equal(a, "[::1]:6882");
	bt_addr_str(&m->peers[2].addr, a, sizeof(a));
	assert_string_equal(a, "[2001:db8::7]:1");
	assert_string_equal(m->peers[3].host, "seed.example.org");
	assert_int_equal(m->peers[3].port, 51413);
	assert_int_equal(m->peers[3].addr.family, 0);
	assert_int_equal(m->nweb_seeds, 1);
	assert_string_equal(m->web_seeds[0], "http://127.0.0.1:8080/files/");
	assert_int_equal(m->length, 123456789);
	assert_true(m->has_key);
	assert_int_equal(m->key[0], 0x00);
	assert_int_equal(m->key[1], 0x11);
	assert_int_equal(m->key[31], 0xff);
	/* wss tracker, ftp web seed, so, kt */
	assert_int_equal(m->nignored, 4);
	bt_magnet_free(m);

	/* a name with control characters and bad UTF-8 is made printable */
	m = ok("magnet:?xt=urn:btih:" HEX "&dn=a%1B%5B2Jb%FFc%C2%9Bd");
	assert_string_equal(m->name, "a?[2Jb?c?d");
	bt_magnet_free(m);
	/* the last dn wins; an empty one is an empty name */
	m = ok("magnet:?xt=urn:btih:" HEX "&dn=one&dn=");
	assert_string_equal(m->name, "");
	bt_magnet_free(m);
}

static void test_bad_fields(void **state)
{
	(void)state;
	bad("magnet:?xt=urn:btih:" HEX "&dn=%4",
	    "'dn' value has a bad %-escape");
	bad("magnet:?xt=urn:btih:" HEX "&dn=%zz", "bad %-escape");
	bad("magnet:?xt=urn:btih:" HEX "&dn=a%00b", "or a NUL");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=1.2.3.4", "is not IP:PORT");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=1.2.3.4:0", "bad port");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=1.2.3.4:65536", "bad port");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=host:-1", "bad port");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=[::1:6881", "is not IP:PORT");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=::1:6881", "is not IP:PORT");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=bad_host:1", "bad host name");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=[::g]:1", "bad IPv6 address");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=[::1]x:1", "is not IP:PORT");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=1.2.3.4:+1", "bad port");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=1.2.3.4:%201", "bad port");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=0.0.0.0:6881",
	    "not a usable address");
	bad("magnet:?xt=urn:btih:" HEX "&x.pe=224.0.0.1:6881",
	    "not a usable address");
	bad("magnet:?xt=urn:btih:" HEX "&xl=12a", "'xl' length '12a' is not");
	bad("magnet:?xt=urn:btih:" HEX "&xl=99999999999999999999", "'xl'");
	bad("magnet:?xt=urn:btih:" HEX "&x.p2pfs.key=0011",
	    "'x.p2pfs.key' is not 64 hex digits");
	bad("magnet:?xt=urn:btih:" HEX "&x.p2pfs.key="
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
	    "'x.p2pfs.key' is not 64 hex digits");
	bad("magnet:?xt=urn:btih:" HEX "&x.p2pfs.key="
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	    "&x.p2pfs.key="
	    "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	    "two different 'x.p2pfs.key' keys");
	/* the key's digits never appear in an error */
	struct bt_magnet *m = NULL;
	char err[256];
	assert_int_equal(bt_magnet_parse("magnet:?xt=urn:btih:" HEX
					 "&x.p2pfs.key=deadbeefcafe",
					 &m, err, sizeof(err)),
			 -EINVAL);
	assert_null(strstr(err, "deadbeef"));
	/* a long hostile value is shortened in the message */
	char uri[600];
	snprintf(uri, sizeof(uri), "magnet:?xt=urn:btih:" HEX "&x.pe=%0300d",
		 7);
	assert_int_equal(bt_magnet_parse(uri, &m, err, sizeof(err)), -EINVAL);
	assert_true(strlen(err) < 140);
}

static void test_bounds(void **state)
{
	(void)state;
	size_t cap = BT_MAGNET_MAX_LEN + 64;
	char *uri = malloc(cap);
	assert_non_null(uri);

	/* one value over BT_MAGNET_MAX_VALUE */
	int o = snprintf(uri, cap, "magnet:?xt=urn:btih:" HEX "&dn=");
	memset(uri + o, 'a', BT_MAGNET_MAX_VALUE + 1);
	uri[o + BT_MAGNET_MAX_VALUE + 1] = '\0';
	bad(uri, "'dn' value longer than 2048 bytes");
	/* exactly the cap is fine */
	uri[o + BT_MAGNET_MAX_VALUE] = '\0';
	struct bt_magnet *m = ok(uri);
	assert_int_equal(strlen(m->name), BT_MAGNET_MAX_VALUE);
	bt_magnet_free(m);

	/* the whole link over BT_MAGNET_MAX_LEN */
	o = snprintf(uri, cap, "magnet:?xt=urn:btih:" HEX);
	while ((size_t)o < BT_MAGNET_MAX_LEN + 1)
		uri[o++] = '&';
	uri[o] = '\0';
	bad(uri, "magnet link longer than 16384 bytes");

	/* counts: trackers, peers, web seeds, parameters */
	o = snprintf(uri, cap, "magnet:?xt=urn:btih:" HEX);
	for (int i = 0; i <= BT_MAGNET_MAX_TRACKERS; i++)
		o += snprintf(uri + o, cap - o, "&tr=http://t%d/a", i);
	bad(uri, "more than 100 'tr' trackers");
	o = snprintf(uri, cap, "magnet:?xt=urn:btih:" HEX);
	for (int i = 0; i <= BT_MAGNET_MAX_PEERS; i++)
		o += snprintf(uri + o, cap - o, "&x.pe=10.0.%d.%d:1", i / 200,
			      i % 200 + 1);
	bad(uri, "more than 200 'x.pe' peers");
	o = snprintf(uri, cap, "magnet:?xt=urn:btih:" HEX);
	for (int i = 0; i <= BT_MAGNET_MAX_WEB_SEEDS; i++)
		o += snprintf(uri + o, cap - o, "&ws=http://w%d/", i);
	bad(uri, "more than 32 'ws' web seeds");
	o = snprintf(uri, cap, "magnet:?xt=urn:btih:" HEX);
	for (int i = 0; i < BT_MAGNET_MAX_PARAMS; i++)
		o += snprintf(uri + o, cap - o, "&a=%d", i);
	bad(uri, "more than 512 parameters");
	/* empty parameters ("&&") do not count */
	o = snprintf(uri, cap, "magnet:?xt=urn:btih:" HEX);
	for (int i = 0; i < 2000; i++)
		o += snprintf(uri + o, cap - o, "&");
	m = ok(uri);
	bt_magnet_free(m);
	free(uri);
}

static void check_same(const struct bt_magnet *a, const struct bt_magnet *b,
		       bool key)
{
	assert_memory_equal(a->info_hash, b->info_hash, 20);
	if (a->name)
		assert_string_equal(a->name, b->name);
	else
		assert_null(b->name);
	assert_int_equal(a->ntrackers, b->ntrackers);
	for (size_t i = 0; i < a->ntrackers; i++)
		assert_string_equal(a->trackers[i], b->trackers[i]);
	assert_int_equal(a->nweb_seeds, b->nweb_seeds);
	for (size_t i = 0; i < a->nweb_seeds; i++)
		assert_string_equal(a->web_seeds[i], b->web_seeds[i]);
	assert_int_equal(a->npeers, b->npeers);
	for (size_t i = 0; i < a->npeers; i++) {
		assert_int_equal(a->peers[i].port, b->peers[i].port);
		assert_true(
		    bt_addr_equal(&a->peers[i].addr, &b->peers[i].addr));
		if (a->peers[i].host)
			assert_string_equal(a->peers[i].host, b->peers[i].host);
	}
	assert_int_equal(a->length, b->length);
	assert_int_equal(b->has_key, key && a->has_key);
	if (b->has_key)
		assert_memory_equal(a->key, b->key, BT_MAGNET_KEY_LEN);
}

static void test_format_roundtrip(void **state)
{
	(void)state;
	struct bt_magnet *m = ok(
	    "magnet:?xt=urn:btih:" B32 "&dn=a%26b%3Dc%20d%2B%C3%A9%25"
	    "&tr=http://127.0.0.1:6969/announce?passkey=a%26b"
	    "&tr=udp://[::1]:6969&ws=https://w.example/x%20y/"
	    "&x.pe=127.0.0.2:6881&x.pe=[::1]:1&x.pe=h.example:9&xl=77"
	    "&x.p2pfs.key="
	    "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0");
	char *s = NULL;
	assert_int_equal(bt_magnet_format(m, false, &s), 0);
	assert_null(strstr(s, "x.p2pfs.key"));
	assert_non_null(strstr(s, "magnet:?xt=urn:btih:" HEX "&dn="));
	/* nothing a shell or a link-finder would split on is left raw */
	assert_null(strchr(s + 8, ' '));
	struct bt_magnet *b = ok(s);
	check_same(m, b, false);
	bt_magnet_free(b);
	free(s);

	assert_int_equal(bt_magnet_format(m, true, &s), 0);
	const char *k = strstr(s, "&x.p2pfs.key=");
	assert_non_null(k);
	/* the key is the last parameter */
	assert_int_equal(strlen(k), strlen("&x.p2pfs.key=") + 64);
	b = ok(s);
	check_same(m, b, true);
	bt_magnet_free(b);
	free(s);
	bt_magnet_free(m);

	/* the minimal link */
	struct bt_magnet z = {0};
	assert_int_equal(bt_magnet_format(&z, true, &s), 0);
	assert_string_equal(s, "magnet:?xt=urn:btih:"
			       "0000000000000000000000000000000000000000");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_info_hash),
	    cmocka_unit_test(test_bad_hash),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_bad_fields),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_format_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
