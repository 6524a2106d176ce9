/* Unit tests for bt_addr: parsing and printing, v4-mapped addresses made
 * IPv4, the compact codec both ways (and its bad lengths), sockaddr round
 * trips, usability rules and the keyed hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "bt_addr.h"

static void roundtrip(const char *in, const char *out)
{
	struct bt_addr a;
	char buf[BT_ADDR_STRLEN];
	assert_int_equal(bt_addr_parse(in, &a), 0);
	bt_addr_str(&a, buf, sizeof(buf));
	assert_string_equal(buf, out);
}

static void test_parse_print(void **state)
{
	(void)state;
	roundtrip("1.2.3.4:6881", "1.2.3.4:6881");
	roundtrip("[::1]:1", "[::1]:1");
	roundtrip("[2001:db8::7]:65535", "[2001:db8::7]:65535");
	roundtrip("[::ffff:10.0.0.1]:80", "10.0.0.1:80"); /* v4-mapped */
	struct bt_addr a;
	const char *bad[] = {"1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536",
			     "1.2.3.4:x", "host.example:80", "[::1:80",
			     "[::1]80", "", ":80", "1.2.3.4:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bt_addr_parse(bad[i], &a), -EINVAL);
}

static void test_compact(void **state)
{
	(void)state;
	const uint8_t c4[6] = {127, 0, 0, 2, 0x1a, 0xe1};
	struct bt_addr a, b;
	uint8_t out[18];
	char buf[BT_ADDR_STRLEN];
	assert_int_equal(bt_addr_from_compact(&a, c4, 6), 0);
	bt_addr_str(&a, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.2:6881");
	assert_int_equal(bt_addr_compact(&a, out), 6);
	assert_memory_equal(out, c4, 6);

	uint8_t c6[18] = {0x20, 0x01, 0x0d, 0xb8, [15] = 9, [16] = 0, [17] = 80};
	assert_int_equal(bt_addr_from_compact(&b, c6, 18), 0);
	assert_int_equal(b.family, BT_ADDR_V6);
	bt_addr_str(&b, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::9]:80");
	assert_int_equal(bt_addr_compact(&b, out), 18);
	assert_memory_equal(out, c6, 18);

	/* a v4-mapped compact6 is the same peer as its compact4 */
	uint8_t m6[18] = {[10] = 0xff, [11] = 0xff, 127, 0, 0, 2, 0x1a, 0xe1};
	assert_int_equal(bt_addr_from_compact(&b, m6, 18), 0);
	assert_true(bt_addr_equal(&a, &b));
	assert_int_equal(bt_addr_hash(&a, 42), bt_addr_hash(&b, 42));

	for (size_t n = 0; n < 20; n++)
		if (n != 6 && n != 18)
			assert_int_equal(bt_addr_from_compact(&a, c6, n), -EINVAL);
	struct bt_addr none = {0};
	assert_int_equal(bt_addr_compact(&none, out), 0);
}

static void test_sockaddr(void **state)
{
	(void)state;
	struct bt_addr a, b;
	struct sockaddr_storage ss;
	assert_int_equal(bt_addr_parse("[2001:db8::1]:443", &a), 0);
	socklen_t len = bt_addr_to_sockaddr(&a, &ss);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(bt_addr_from_sockaddr(&b, (struct sockaddr *)&ss, len), 0);
	assert_true(bt_addr_equal(&a, &b));
	assert_int_equal(bt_addr_from_sockaddr(&b, (struct sockaddr *)&ss, 8),
			 -EINVAL);

	/* an incoming IPv4 peer on a dual-stack socket */
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6,
				   .sin6_port = htons(7)};
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &in6.sin6_addr);
	assert_int_equal(bt_addr_from_sockaddr(&b, (struct sockaddr *)&in6,
					       sizeof(in6)), 0);
	assert_int_equal(b.family, BT_ADDR_V4);
	assert_int_equal(bt_addr_to_sockaddr(&b, &ss), sizeof(struct sockaddr_in));
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_port, htons(7));

	struct sockaddr un = {.sa_family = AF_UNIX};
	assert_int_equal(bt_addr_from_sockaddr(&b, &un, sizeof(un)),
			 -EAFNOSUPPORT);
}

static void test_usable(void **state)
{
	(void)state;
	struct bt_addr a;
	const char *ok[] = {"127.0.0.1:1", "10.1.2.3:80", "[::1]:5",
			    "[2001:db8::1]:9"};
	const char *no[] = {"0.0.0.0:80", "255.255.255.255:80", "224.0.0.1:80",
			    "239.192.152.143:6771", "[::]:80", "[ff02::1]:80"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(bt_addr_parse(ok[i], &a), 0);
		assert_true(bt_addr_usable(&a));
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(bt_addr_parse(no[i], &a), 0);
		assert_false(bt_addr_usable(&a));
	}
	const uint8_t zero_port[6] = {10, 0, 0, 1, 0, 0};
	assert_int_equal(bt_addr_from_compact(&a, zero_port, 6), 0);
	assert_false(bt_addr_usable(&a));
	assert_int_equal(bt_addr_parse("127.9.9.9:1", &a), 0);
	assert_true(bt_addr_is_loopback(&a));
	assert_int_equal(bt_addr_parse("[::1]:1", &a), 0);
	assert_true(bt_addr_is_loopback(&a));
	assert_int_equal(bt_addr_parse("10.0.0.1:1", &a), 0);
	assert_false(bt_addr_is_loopback(&a));
}

static void test_prefix(void **state)
{
	(void)state;
	struct bt_addr net, a;
	unsigned bits = 0;
	assert_int_equal(bt_addr_parse_prefix("fd50::/64", &net, &bits), 0);
	assert_int_equal(bits, 64);
	assert_int_equal(net.family, BT_ADDR_V6);
	assert_int_equal(bt_addr_parse("[fd50::4]:7", &a), 0);
	assert_true(bt_addr_in_prefix(&a, &net, bits));
	assert_int_equal(bt_addr_parse("[fd50:0:0:1::4]:7", &a), 0);
	assert_false(bt_addr_in_prefix(&a, &net, bits));
	assert_int_equal(bt_addr_parse("10.0.0.1:7", &a), 0);
	assert_false(bt_addr_in_prefix(&a, &net, bits)); /* another family */
	assert_int_equal(bt_addr_parse_prefix("[fd50::]/63", &net, &bits), 0);
	assert_int_equal(bt_addr_parse("[fd50:0:0:1::4]:7", &a), 0);
	assert_true(bt_addr_in_prefix(&a, &net, bits));
	assert_int_equal(bt_addr_parse_prefix("10.9.0.0/17", &net, &bits), 0);
	assert_int_equal(bt_addr_parse("10.9.127.255:7", &a), 0);
	assert_true(bt_addr_in_prefix(&a, &net, bits));
	assert_int_equal(bt_addr_parse("10.9.128.0:7", &a), 0);
	assert_false(bt_addr_in_prefix(&a, &net, bits));
	const char *bad[] = {"fd50::", "fd50::/0", "fd50::/129", "fd50::1/64",
			     "10.9.0.0/33", "10.9.0.1/24", "/8", "x/8",
			     "10.0.0.0/8x", "10.0.0.0/", "::ffff:10.0.0.0/104",
			     "[fd50::/64"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bt_addr_parse_prefix(bad[i], &net, &bits),
				 -EINVAL);
	const char *priv[] = {"10.1.2.3:1", "172.16.0.1:1", "172.31.9.9:1",
			      "192.168.1.1:1", "[fd50::1]:1", "[fc00::1]:1"};
	const char *pub[] = {"172.32.0.1:1", "192.169.0.1:1", "127.0.0.1:1",
			     "[fe80::1]:1", "[2001:db8::1]:1", "[::1]:1"};
	for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
		assert_int_equal(bt_addr_parse(priv[i], &a), 0);
		assert_true(bt_addr_is_private(&a));
	}
	for (size_t i = 0; i < sizeof(pub) / sizeof(pub[0]); i++) {
		assert_int_equal(bt_addr_parse(pub[i], &a), 0);
		assert_false(bt_addr_is_private(&a));
	}
}

static void test_hash(void **state)
{
	(void)state;
	struct bt_addr a, b;
	assert_int_equal(bt_addr_parse("10.0.0.1:6881", &a), 0);
	assert_int_equal(bt_addr_parse("10.0.0.1:6882", &b), 0);
	assert_false(bt_addr_equal(&a, &b));
	assert_true(bt_addr_same_ip(&a, &b));
	assert_int_not_equal(bt_addr_hash(&a, 1), bt_addr_hash(&b, 1));
	assert_int_not_equal(bt_addr_hash(&a, 1), bt_addr_hash(&a, 2));
	/* 4096 ports of one host spread over 64 buckets: none gets more than
	 * a few times its share */
	unsigned bucket[64] = {0};
	for (unsigned p = 1; p <= 4096; p++) {
		b.port = (uint16_t)p;
		bucket[bt_addr_hash(&b, 12345) % 64]++;
	}
	for (int i = 0; i < 64; i++)
		assert_true(bucket[i] > 20 && bucket[i] < 130);
}

static void test_split_host(void **state)
{
	(void)state;
	char h[16];
	uint16_t port = 0;
	assert_int_equal(bt_addr_split_host("example.org:6881", h, sizeof(h), &port), 0);
	assert_string_equal(h, "example.org");
	assert_int_equal(port, 6881);
	assert_int_equal(bt_addr_split_host("[fd50::1]:7000", h, sizeof(h), &port), 0);
	assert_string_equal(h, "fd50::1");
	assert_int_equal(port, 7000);
	const char *bad[] = {"", "host", "host:", ":80", "host:0", "host:65536",
			     "host:8x", "host:-1", "a-name-far-too-long:1", "[]:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(bt_addr_split_host(bad[i], h, sizeof(h), &port), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_host),
	    cmocka_unit_test(test_parse_print),
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
