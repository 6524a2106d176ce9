/* bt_udptrk — the BEP 15 UDP tracker codec: connect, announce and scrape
 * requests, the four kinds of replies (connect, announce with IPv4 or IPv6
 * peers, scrape, error), the BEP 41 URL-data option, and the split of a
 * udp:// URL into host, port and the path/query it carries.
 *
 * I/O-free and stateless: request builders write into the caller's buffer,
 * reply parsers read a datagram as untrusted input and return -EPROTO (with
 * a reason) on anything short, oversized or inconsistent; they never abort.
 * Every count is bounded by the datagram's length and by a cap the caller
 * gives or BT_TRACKER_MAX_PEERS. The state (transactions, connection ids,
 * retransmissions) is engine/policy/bt_udptrk_client.h. Pure functions, any
 * thread. */
#ifndef BT_UDPTRK_H
#define BT_UDPTRK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"
#include "bt_tracker.h"

#define BT_UDPTRK_PROTOCOL_ID 0x41727101980ull /* connect's magic */

enum bt_udptrk_action {
	BT_UDPTRK_CONNECT = 0,
	BT_UDPTRK_ANNOUNCE = 1,
	BT_UDPTRK_SCRAPE = 2,
	BT_UDPTRK_ERROR = 3,
};

#define BT_UDPTRK_CONNECT_LEN  16   /* request and reply */
#define BT_UDPTRK_ANNOUNCE_LEN 98   /* request without options */
#define BT_UDPTRK_ANNOUNCE_HDR 20   /* reply before its peers */
#define BT_UDPTRK_SCRAPE_HDR   16   /* request before its hashes */
#define BT_UDPTRK_HEADER_LEN   8    /* action + transaction id */
#define BT_UDPTRK_SCRAPE_MAX   74   /* hashes per scrape (BEP 15) */
#define BT_UDPTRK_URLDATA_MAX  1024 /* longest BEP 41 path?query sent */
/* An announce request with the longest URL data: 98 + one 2-byte header
 * per 255 bytes of data + the end-of-options byte. */
#define BT_UDPTRK_REQ_MAX                                                      \
	(BT_UDPTRK_ANNOUNCE_LEN + BT_UDPTRK_URLDATA_MAX +                      \
	 2 * ((BT_UDPTRK_URLDATA_MAX + 254) / 255) + 1)
#define BT_UDPTRK_ERROR_MAX 1024 /* longest error text kept */

/* BEP 41 option types */
#define BT_UDPTRK_OPT_END     0
#define BT_UDPTRK_OPT_NOP     1
#define BT_UDPTRK_OPT_URLDATA 2

struct bt_udptrk_scrape_entry {
	uint32_t seeders, completed, leechers;
};

/* ---- URLs ---- */

/* Split "udp://HOST:PORT[/path][?query]" (scheme case-insensitive, HOST a
 * name, an IPv4 literal or a bracketed IPv6 literal) into HOST (without
 * brackets, NUL-terminated, HOSTCAP bytes), PORT (1..65535: BEP 15 has no
 * default port, so it is required) and *URL_DATA, which points into URL at
 * the path/query to send as BEP 41 URL data ("" when there is none; a
 * fragment is not part of it). Returns 0, -EINVAL (not a udp:// URL, no
 * host or port, bad port, spaces, control or non-ASCII bytes, URL data
 * longer than BT_UDPTRK_URLDATA_MAX) or -ENAMETOOLONG (HOST too long for
 * HOSTCAP). */
int bt_udptrk_url_parse(const char *url, char *host, size_t hostcap,
			uint16_t *port, const char **url_data, size_t *url_len);

/* ---- requests (client to tracker) ---- */

/* The 16-byte connect request into OUT. */
void bt_udptrk_connect_req(uint8_t out[BT_UDPTRK_CONNECT_LEN], uint32_t tid);
/* An announce request for A (info_hash, peer_id, downloaded, left,
 * uploaded, event, key, numwant (negative = -1, the tracker's default),
 * port; the IP field is 0: "use the sender's address") into OUT of CAP
 * bytes, followed, when URL_DATA is not empty, by the BEP 41 options
 * carrying it (URLData options of at most 255 bytes each, then
 * EndOfOptions). URL_DATA may be NULL. Returns the length written,
 * -ENOBUFS when CAP is too small (BT_UDPTRK_REQ_MAX always suffices) or
 * -EINVAL when URL_LEN exceeds BT_UDPTRK_URLDATA_MAX. */
int bt_udptrk_announce_req(uint8_t *out, size_t cap, uint64_t conn_id,
			   uint32_t tid, const struct bt_announce *a,
			   const char *url_data, size_t url_len);
/* A scrape request for the N (1..BT_UDPTRK_SCRAPE_MAX) info-hashes of
 * HASHES (20 bytes each, back to back). Returns the length, -ENOBUFS or
 * -EINVAL. */
int bt_udptrk_scrape_req(uint8_t *out, size_t cap, uint64_t conn_id,
			 uint32_t tid, const uint8_t *hashes, size_t n);

/* ---- replies (tracker to client) ---- */

/* The shape of a BEP 15 reply, for a socket shared with the DHT and uTP:
 * at least 8 bytes and a big-endian action 0..3 (the first three bytes are
 * zero, which neither a bencoded KRPC message, 'd', nor a uTP header,
 * version 1 in the low nibble, can start with). */
bool bt_udptrk_is_reply(const uint8_t *p, size_t len);
/* The action and transaction id of a reply. Returns 0, or -EPROTO when P
 * is shorter than 8 bytes or the action is not 0..3. */
int bt_udptrk_header(const uint8_t *p, size_t len, uint32_t *action,
		     uint32_t *tid);
/* A connect reply: action 0 and at least 16 bytes (BEP 15: "do not expect
 * packets to be exactly of a certain size", so a longer one is accepted;
 * a shorter one is -EPROTO). The caller checks the transaction id. */
int bt_udptrk_parse_connect(const uint8_t *p, size_t len, uint64_t *conn_id,
			    char *err, size_t errlen);
/* An announce reply into REPLY (the HTTP tracker's reply type): interval
 * clamped to [30, 86400] s like an HTTP reply's (0 and negative values
 * become 30), min_interval 0 (BEP 15 has none), complete = seeders and
 * incomplete = leechers (-1 when the tracker sent a negative count). The
 * peers are 6-byte IPv4 entries when FAMILY is BT_ADDR_V4 and 18-byte IPv6
 * entries when BT_ADDR_V6 (BEP 15: the format follows the address family
 * of the datagram, i.e. of the tracker's address as the socket saw it);
 * the peer part must be a whole number of entries. At most MAX_PEERS
 * peers are kept (0 = BT_TRACKER_MAX_PEERS); unusable ones (port 0,
 * unspecified, multicast, broadcast) are skipped; v4-mapped IPv6 peers
 * become IPv4. Returns 0, -EPROTO with ERR, or -ENOMEM; on error REPLY is
 * left released. (A bare 8-byte header is -EPROTO too, with a reason
 * saying what it means: opentracker's refusal of a torrent it does not
 * serve.) */
int bt_udptrk_parse_announce(const uint8_t *p, size_t len, int family,
			     size_t max_peers, struct bt_tracker_reply *reply,
			     char *err, size_t errlen);
/* A scrape reply: the entries for the hashes asked, in order, into OUT
 * (room for MAX). The reply must hold a whole number of 12-byte entries,
 * at least one and at most MAX (a tracker may answer fewer than asked, never
 * more). Returns the number of entries, or -EPROTO with ERR. */
int bt_udptrk_parse_scrape(const uint8_t *p, size_t len,
			   struct bt_udptrk_scrape_entry *out, size_t max,
			   char *err, size_t errlen);
/* An error reply: its message (possibly empty, cut at BT_UDPTRK_ERROR_MAX
 * bytes, a trailing NUL dropped, control characters replaced by '?') as a
 * new string in *MSG. Returns 0, -EPROTO or -ENOMEM. */
int bt_udptrk_parse_error(const uint8_t *p, size_t len, char **msg, char *err,
			  size_t errlen);

/* The BEP 15 event number of E (none 0, completed 1, started 2,
 * stopped 3). */
uint32_t bt_udptrk_event(enum bt_tracker_event e);

#endif
