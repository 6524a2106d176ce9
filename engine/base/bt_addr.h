/* bt_addr — the one peer/node address type of the engine (IPv4 or IPv6 plus
 * a port), with the compact 6/18-byte codec that trackers (BEP 23/7), the
 * DHT (BEP 5/32) and PEX (BEP 11) all use.
 *
 * A struct bt_addr is a small plain value (20 bytes): copy it, compare it
 * with bt_addr_equal(), hash it with bt_addr_hash(). Unused bytes are always
 * zero, so two equal addresses are equal byte for byte. IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) are stored as IPv4, so a peer compares equal
 * whichever way it was reported. Pure functions, any thread. */
#ifndef BT_ADDR_H
#define BT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BT_ADDR_V4 4
#define BT_ADDR_V6 6
#define BT_COMPACT4_LEN 6  /* 4-byte address, 2-byte port, big-endian */
#define BT_COMPACT6_LEN 18 /* 16-byte address, 2-byte port */
#define BT_ADDR_STRLEN 64  /* enough for "[v6 address]:65535" */

struct bt_addr {
	uint8_t family; /* BT_ADDR_V4 or BT_ADDR_V6; 0 = none */
	uint8_t zero;   /* always 0 */
	uint16_t port;  /* host byte order */
	uint8_t ip[16]; /* network order; IPv4 in the first 4 bytes */
};

/* From a sockaddr (AF_INET or AF_INET6, v4-mapped made IPv4). Returns 0 or
 * -EAFNOSUPPORT / -EINVAL (LEN too short). */
int bt_addr_from_sockaddr(struct bt_addr *a, const struct sockaddr *sa,
			  socklen_t len);
/* Into a sockaddr; returns its length (0 for a bad family). */
socklen_t bt_addr_to_sockaddr(const struct bt_addr *a,
			      struct sockaddr_storage *ss);
/* From a raw address: LEN 4 (IPv4) or 16 (IPv6, v4-mapped made IPv4), the
 * port in host order. Returns 0 or -EINVAL. */
int bt_addr_set(struct bt_addr *a, const uint8_t *ip, size_t len,
		uint16_t port);

bool bt_addr_equal(const struct bt_addr *a, const struct bt_addr *b);
/* The same host (address), whatever the port. */
bool bt_addr_same_ip(const struct bt_addr *a, const struct bt_addr *b);
/* A keyed hash (SipHash-like mixing of the 20 bytes with KEY), for hash
 * tables that a remote party must not be able to flood one bucket of. */
uint32_t bt_addr_hash(const struct bt_addr *a, uint64_t key);

/* "1.2.3.4:6881" or "[::1]:6881" into OUT (BT_ADDR_STRLEN bytes is
 * enough); "?" for a bad family. */
void bt_addr_str(const struct bt_addr *a, char *out, size_t len);
/* Parse "1.2.3.4:6881" or "[::1]:6881" (literal addresses, port 1..65535).
 * Returns 0 or -EINVAL. */
int bt_addr_parse(const char *s, struct bt_addr *a);
/* Split "HOST:PORT" or "[HOST]:PORT" (a name or a literal) into HOST
 * (NUL-terminated, no brackets, at most HLEN - 1 bytes) and PORT
 * (1..65535, decimal digits only). Returns 0 or -EINVAL. */
int bt_addr_split_host(const char *s, char *host, size_t hlen,
		       uint16_t *port);

/* Usable as a peer: a port, and not unspecified, multicast or broadcast
 * (loopback and private addresses are usable: tests and LANs use them). */
bool bt_addr_usable(const struct bt_addr *a);
bool bt_addr_is_loopback(const struct bt_addr *a);
/* A private address: IPv4 10/8, 172.16/12, 192.168/16, IPv6 unique local
 * fc00::/7. */
bool bt_addr_is_private(const struct bt_addr *a);

/* A network prefix: "fd50::/64", "[fd50::]/64", "10.9.0.0/16" (host bits
 * must be zero; /0 is refused). NET gets the address (port 0), *BITS the
 * length. Returns 0 or -EINVAL. */
int bt_addr_parse_prefix(const char *s, struct bt_addr *net, unsigned *bits);
/* A (same family) lies in NET/BITS. */
bool bt_addr_in_prefix(const struct bt_addr *a, const struct bt_addr *net,
		       unsigned bits);

/* Compact form: BT_COMPACT4_LEN bytes for IPv4, BT_COMPACT6_LEN for IPv6.
 * Writes into OUT (room for 18) and returns the length, or 0 for a bad
 * family. */
size_t bt_addr_compact(const struct bt_addr *a, uint8_t *out);
/* Decode one compact address of LEN 6 or 18 bytes. Returns 0 or -EINVAL. */
int bt_addr_from_compact(struct bt_addr *a, const uint8_t *in, size_t len);

#endif
