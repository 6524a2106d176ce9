/* bt_lsd — BEP 14 local service discovery announces: build and parse.
 *
 * An announce is an HTTP-style datagram sent to a multicast group:
 *
 *   BT-SEARCH * HTTP/1.1\r\n
 *   Host: 239.192.152.143:6771\r\n      (or [ff15::efc0:988f]:6771)
 *   Port: <the sender's listening port>\r\n
 *   Infohash: <40 hex digits>\r\n       (one or more)
 *   cookie: <opaque>\r\n                (optional: to spot our own)
 *   \r\n
 *   \r\n
 *
 * Parsing is lenient where senders differ (header names in any case, LF
 * without CR, headers in any order, unknown headers ignored) and bounded:
 * at most BT_LSD_MAX_MSG bytes, BT_LSD_MAX_HASHES info-hashes kept (more
 * are counted), cookies up to BT_LSD_MAX_COOKIE bytes. Building keeps an
 * announce under BT_LSD_MAX_SEND bytes (BEP 14: avoid fragmentation).
 *
 * Only the codec: the socket, the groups' membership, the schedule
 * (an announce per torrent every few minutes) and the rate limit on what
 * is received belong to the io layer. Stateless, any thread. */
#ifndef BT_LSD_H
#define BT_LSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BT_LSD_PORT	  6771
#define BT_LSD_GROUP4	  "239.192.152.143"
#define BT_LSD_GROUP6	  "ff15::efc0:988f"
#define BT_LSD_MAX_MSG	  1500 /* longest datagram parsed */
#define BT_LSD_MAX_SEND	  1400 /* longest datagram built */
#define BT_LSD_MAX_HASHES 28   /* 25 fit in BT_LSD_MAX_SEND */
#define BT_LSD_MAX_COOKIE 64

struct bt_lsd_msg {
	uint16_t port;
	uint8_t hashes[BT_LSD_MAX_HASHES][20];
	size_t nhashes;
	size_t nskipped; /* info-hashes not kept: malformed or over the cap */
	bool has_cookie;
	char cookie[BT_LSD_MAX_COOKIE + 1];
};

/* Parse one datagram. Returns 0, or -EINVAL with a one-line reason: too
 * long, no "BT-SEARCH * HTTP/1.1" request line, no valid Port, no valid
 * Infohash. Never aborts. */
int bt_lsd_parse(const uint8_t *buf, size_t len, struct bt_lsd_msg *m,
		 char *err, size_t errlen);

/* True when M carries COOKIE (our own announce, looped back). */
bool bt_lsd_is_own(const struct bt_lsd_msg *m, const char *cookie);

/* Build an announce for the IPv4 group (V6 false) or the IPv6 one, of as
 * many of the N HASHES as fit in BT_LSD_MAX_SEND bytes (and CAP), into
 * OUT. COOKIE (printable, no spaces, at most BT_LSD_MAX_COOKIE bytes) may
 * be NULL. Returns the number of hashes written (call again with the rest)
 * and the length in *LEN, or -EINVAL (no hash, a bad cookie, CAP too
 * small for one). */
int bt_lsd_build(char *out, size_t cap, size_t *len, bool v6, uint16_t port,
		 const uint8_t (*hashes)[20], size_t n, const char *cookie);

#endif
