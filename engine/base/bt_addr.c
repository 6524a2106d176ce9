/* bt_addr — peer/node addresses and the compact codec; see bt_addr.h. */
#include "bt_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int bt_addr_set(struct bt_addr *a, const uint8_t *ip, size_t len,
		uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (len == 16 && !memcmp(ip, v4_mapped, 12)) {
		ip += 12;
		len = 4;
	}
	if (len == 4) {
		a->family = BT_ADDR_V4;
		memcpy(a->ip, ip, 4);
	} else if (len == 16) {
		a->family = BT_ADDR_V6;
		memcpy(a->ip, ip, 16);
	} else {
		return -EINVAL;
	}
	a->port = port;
	return 0;
}

int bt_addr_from_sockaddr(struct bt_addr *a, const struct sockaddr *sa,
			  socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		if (len < (socklen_t)sizeof(struct sockaddr_in))
			return -EINVAL;
		const struct sockaddr_in *in = (const void *)sa;
		return bt_addr_set(a, (const uint8_t *)&in->sin_addr, 4,
				   ntohs(in->sin_port));
	}
	if (sa->sa_family == AF_INET6) {
		if (len < (socklen_t)sizeof(struct sockaddr_in6))
			return -EINVAL;
		const struct sockaddr_in6 *in = (const void *)sa;
		return bt_addr_set(a, (const uint8_t *)&in->sin6_addr, 16,
				   ntohs(in->sin6_port));
	}
	return -EAFNOSUPPORT;
}

socklen_t bt_addr_to_sockaddr(const struct bt_addr *a,
			      struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == BT_ADDR_V4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->ip, 4);
		return sizeof(*in);
	}
	if (a->family == BT_ADDR_V6) {
		struct sockaddr_in6 *in = (struct sockaddr_in6 *)ss;
		in->sin6_family = AF_INET6;
		in->sin6_port = htons(a->port);
		memcpy(&in->sin6_addr, a->ip, 16);
		return sizeof(*in);
	}
	return 0;
}

bool bt_addr_equal(const struct bt_addr *a, const struct bt_addr *b)
{
	return !memcmp(a, b, sizeof(*a));
}

bool bt_addr_same_ip(const struct bt_addr *a, const struct bt_addr *b)
{
	return a->family == b->family && !memcmp(a->ip, b->ip, sizeof(a->ip));
}

/* SipHash-2-4 of the address's 20 bytes under a 64-bit key (the second key
 * word derived from the first). */
static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = rotl(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = rotl(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = rotl(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = rotl(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = rotl(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = rotl(v2, 32);                                             \
	} while (0)

uint32_t bt_addr_hash(const struct bt_addr *a, uint64_t key)
{
	uint64_t k0 = key, k1 = key * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	uint8_t in[24] = {0};
	memcpy(in, a, sizeof(*a));
	in[23] = sizeof(*a);
	for (size_t i = 0; i < sizeof(in); i += 8) {
		uint64_t m = 0;
		for (int j = 7; j >= 0; j--)
			m = m << 8 | in[i + (size_t)j];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	uint64_t h = v0 ^ v1 ^ v2 ^ v3;
	return (uint32_t)(h ^ (h >> 32));
}

void bt_addr_str(const struct bt_addr *a, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (a->family == BT_ADDR_V4) {
		inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, a->port);
	} else if (a->family == BT_ADDR_V6) {
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, a->port);
	} else {
		snprintf(out, len, "?");
	}
}

int bt_addr_split_host(const char *s, char *host, size_t hlen,
		       uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : 0;
	const char *h = s;
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (!colon || !hl || hl >= hlen || !colon[1])
		return -EINVAL;
	unsigned long v = 0;
	for (const char *c = colon + 1; *c; c++) {
		if (*c < '0' || *c > '9' || (v = v * 10 + (unsigned)(*c - '0')) > 65535)
			return -EINVAL;
	}
	if (!v)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return 0;
}

int bt_addr_parse(const char *str, struct bt_addr *a)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	memset(a, 0, sizeof(*a));
	if (str[0] == '[') {
		const char *end = strchr(str, ']');
		if (!end || end[1] != ':' || (size_t)(end - str - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, str + 1, (size_t)(end - str - 1));
		host[end - str - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(str, ':');
		if (!colon || (size_t)(colon - str) >= sizeof(host))
			return -EINVAL;
		memcpy(host, str, (size_t)(colon - str));
		host[colon - str] = '\0';
	}
	char *endp;
	long port = strtol(colon + 1, &endp, 10);
	if (!colon[1] || *endp || port < 1 || port > 65535)
		return -EINVAL;
	uint8_t ip[16];
	if (inet_pton(AF_INET, host, ip) == 1)
		return bt_addr_set(a, ip, 4, (uint16_t)port);
	if (inet_pton(AF_INET6, host, ip) == 1)
		return bt_addr_set(a, ip, 16, (uint16_t)port);
	return -EINVAL;
}

bool bt_addr_usable(const struct bt_addr *a)
{
	static const uint8_t any[16];
	if (a->port == 0)
		return false;
	if (a->family == BT_ADDR_V4) {
		uint32_t h = (uint32_t)a->ip[0] << 24 | (uint32_t)a->ip[1] << 16 |
			     (uint32_t)a->ip[2] << 8 | a->ip[3];
		return h != 0 && h != 0xffffffffu && (h >> 28) != 0xe;
	}
	if (a->family == BT_ADDR_V6)
		return memcmp(a->ip, any, 16) != 0 && a->ip[0] != 0xff;
	return false;
}

bool bt_addr_is_loopback(const struct bt_addr *a)
{
	static const uint8_t one[16] = {[15] = 1};
	if (a->family == BT_ADDR_V4)
		return a->ip[0] == 127;
	return a->family == BT_ADDR_V6 && !memcmp(a->ip, one, 16);
}

bool bt_addr_is_private(const struct bt_addr *a)
{
	const uint8_t *p = a->ip;
	if (a->family == BT_ADDR_V4)
		return p[0] == 10 || (p[0] == 172 && (p[1] & 0xf0) == 16) ||
		       (p[0] == 192 && p[1] == 168);
	return a->family == BT_ADDR_V6 && (p[0] & 0xfe) == 0xfc;
}

bool bt_addr_in_prefix(const struct bt_addr *a, const struct bt_addr *net,
		       unsigned bits)
{
	if (a->family != net->family ||
	    bits > (a->family == BT_ADDR_V4 ? 32u : 128u))
		return false;
	size_t whole = bits / 8;
	unsigned rest = bits % 8;
	if (memcmp(a->ip, net->ip, whole))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->ip[whole] & mask) == (net->ip[whole] & mask);
}

int bt_addr_parse_prefix(const char *s, struct bt_addr *net, unsigned *bits)
{
	char host[INET6_ADDRSTRLEN + 2];
	memset(net, 0, sizeof(*net));
	const char *slash = strchr(s, '/');
	if (!slash)
		return -EINVAL;
	size_t hl = (size_t)(slash - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (!hl || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	char *endp;
	long b = strtol(slash + 1, &endp, 10);
	uint8_t ip[16];
	size_t len;
	if (inet_pton(AF_INET, host, ip) == 1)
		len = 4;
	else if (inet_pton(AF_INET6, host, ip) == 1)
		len = 16;
	else
		return -EINVAL;
	if (!slash[1] || *endp || b < 1 || b > (long)(len * 8) ||
	    bt_addr_set(net, ip, len, 0) < 0)
		return -EINVAL;
	/* (a v4-mapped one was made IPv4: its length no longer fits) */
	if (net->family == BT_ADDR_V4 && len == 16)
		return -EINVAL;
	/* no host bits */
	for (unsigned i = (unsigned)b; i < len * 8; i++)
		if (net->ip[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	*bits = (unsigned)b;
	return 0;
}

size_t bt_addr_compact(const struct bt_addr *a, uint8_t *out)
{
	size_t n;
	if (a->family == BT_ADDR_V4)
		n = 4;
	else if (a->family == BT_ADDR_V6)
		n = 16;
	else
		return 0;
	memcpy(out, a->ip, n);
	out[n] = (uint8_t)(a->port >> 8);
	out[n + 1] = (uint8_t)a->port;
	return n + 2;
}

int bt_addr_from_compact(struct bt_addr *a, const uint8_t *in, size_t len)
{
	if (len != BT_COMPACT4_LEN && len != BT_COMPACT6_LEN) {
		memset(a, 0, sizeof(*a));
		return -EINVAL;
	}
	size_t n = len - 2;
	return bt_addr_set(a, in, n, (uint16_t)(in[n] << 8 | in[n + 1]));
}
