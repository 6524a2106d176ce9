/* bt_magnet — magnet links (BEP 9 "magnet URI format"): parse one into its
 * info-hash and hints, and build one for `p2pfs create` / `p2pfs info`.
 *
 * Parsed: `xt=urn:btih:` with 40 hex digits or 32 base32 characters (either
 * case); `xt=urn:btmh:` (a v2 multihash) is recognised, and a link that has
 * only that is refused ("v2-only magnet links are not supported"); a hybrid
 * link with both uses the btih. `dn` (display name), `tr` (trackers,
 * repeatable; http, https and udp kept, others ignored), `x.pe` (peers,
 * repeatable: IPv4:PORT, [IPv6]:PORT, or HOST:PORT kept as a name for the
 * caller to resolve), `ws` (web seeds, http/https), `xl` (exact length),
 * `so` (select-only) tolerated and ignored, `x.p2pfs.key` (64 hex digits:
 * the key of a sealed share). Keys may carry a ".N" suffix (`xt.1`, `tr.2`),
 * as some generators write them. Unknown keys are ignored.
 *
 * The sealed-share key is kept in its own field only so that the caller
 * can open a sealed torrent locally: p2pfs never sends it anywhere (not to
 * peers, trackers or DHT nodes, not in logs, `status` or xattrs). A link
 * built with bt_magnet_format() carries it only when the caller asks.
 *
 * Values are percent-decoded ('+' is a space); a decoded value may not hold
 * NUL. Everything is bounded: the link (BT_MAGNET_MAX_LEN), each value
 * (BT_MAGNET_MAX_VALUE) and the number of each repeatable key; the errors
 * are one line naming the problem ("'x.pe' peer 'a:b': bad port").
 *
 * I/O-free, no DNS. A bt_magnet is a plain heap object owned by its
 * caller; any thread. */
#ifndef BT_MAGNET_H
#define BT_MAGNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"

#define BT_MAGNET_MAX_LEN	16384 /* whole link, bytes */
#define BT_MAGNET_MAX_VALUE	2048  /* one decoded value, bytes */
#define BT_MAGNET_MAX_PARAMS	512   /* key=value pairs of any kind */
#define BT_MAGNET_MAX_TRACKERS	100
#define BT_MAGNET_MAX_PEERS	200
#define BT_MAGNET_MAX_WEB_SEEDS 32
#define BT_MAGNET_MAX_HOST	253 /* a DNS name */
#define BT_MAGNET_KEY_LEN	32  /* x.p2pfs.key: 256 bits */

struct bt_magnet_peer {
	struct bt_addr addr; /* a literal address (family != 0), or */
	char *host;	     /* a host name to resolve (then addr.family 0) */
	uint16_t port;	     /* in both cases */
};

struct bt_magnet {
	uint8_t info_hash[20];
	char info_hash_hex[41];
	char *name;	 /* dn, printable (pfs_text_clean), or NULL */
	char **trackers; /* tr, in link order, duplicates removed */
	size_t ntrackers;
	struct bt_magnet_peer *peers; /* x.pe, duplicates removed */
	size_t npeers;
	char **web_seeds; /* ws */
	size_t nweb_seeds;
	uint64_t length; /* xl, 0 when absent */
	bool has_key;
	uint8_t key[BT_MAGNET_KEY_LEN]; /* x.p2pfs.key: never sent anywhere */
	size_t nignored; /* tr/ws of another scheme, unknown keys */
};

/* True when S looks like a magnet link (starts "magnet:", any case), so a
 * command line can tell a link from a file name. */
bool bt_magnet_is_link(const char *s);

/* Parse URI. Returns 0 with *OUT to free with bt_magnet_free(), -EINVAL
 * with a one-line reason in ERR, or -ENOMEM. Never aborts on any input. */
int bt_magnet_parse(const char *uri, struct bt_magnet **out, char *err,
		    size_t errlen);
void bt_magnet_free(struct bt_magnet *m);

/* Build a link from M's info_hash, name, trackers, web seeds, peers
 * (addresses and host names) and length, in that order; the key only when
 * WITH_KEY and M->has_key, and then last, so that it is easy to see and to cut
 * off. Values are percent-encoded (RFC 3986 unreserved characters, plus ':' and
 * '/' in URLs, are kept), so bt_magnet_parse() of the result gives back the
 * same fields. Returns 0 with *OUT (malloc'd) or -ENOMEM. */
int bt_magnet_format(const struct bt_magnet *m, bool with_key, char **out);

#endif
