/* bt_krpc — the KRPC codec of the mainline DHT: the bencoded queries,
 * responses and errors of BEP 5, with BEP 32's nodes6 and want, BEP 42's
 * `ip` and BEP 43's read-only flag.
 *
 * I/O-free. bt_krpc_parse() decodes one datagram into a struct bt_krpc_msg,
 * a fixed-size value with caps on everything a remote node controls (a reply
 * with thousands of nodes or peers is truncated, and the excess counted);
 * bt_krpc_encode() writes one from the same struct, keys in canonical order.
 *
 * How strict, and why. Other clients are read with Postel's rule where it
 * costs nothing and strictly where a field matters:
 *  - dictionary keys in any order (libtorrent and aria2 read them so, and
 *    unsorted encoders exist); duplicate keys, malformed bencode and
 *    trailing bytes are refused;
 *  - unknown keys are ignored (extensions: `v`, `ro`, `ip`, `samples`,
 *    `noseed`, `scrape`, `seed`, `name`, ...);
 *  - `t` may be 0..BT_KRPC_TID_MAX bytes (libtorrent and aria2 send 2, jech's
 *    dht 4), `y` must be "q", "r" or "e", every node id, target and info-hash
 *    exactly 20 bytes;
 *  - `nodes`/`nodes6` whose length is not a multiple of 26/38 give their
 *    whole entries (a trailing part is dropped and counted, as libtorrent
 *    does); `values` items of a length other than 6 or 18 are skipped;
 *  - an oversized `token` (> BT_KRPC_TOKEN_MAX) in a reply is dropped (no
 *    announce to that node), in an announce_peer it makes the query invalid;
 *  - an error without a well-formed `e` list is still an error (code 0):
 *    only its transaction id matters to the caller;
 *  - `implied_port` is true for any nonzero integer; a port outside 1..65535
 *    without it makes the announce invalid.
 * Who owns what: the struct is the caller's (plain value, may live on the
 * stack: about 4 KiB). Pure functions, any thread. */
#ifndef BT_KRPC_H
#define BT_KRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"
#include "bt_bencode.h"

#define BT_KRPC_ID_LEN	    20
#define BT_KRPC_TID_MAX	    16
#define BT_KRPC_TOKEN_MAX   40
#define BT_KRPC_VERSION_MAX 16	/* `v` is kept up to this many bytes */
#define BT_KRPC_ERRMSG_MAX  96	/* an error's text is kept up to this */
#define BT_KRPC_MAX_NODES   16	/* per family per message (a reply has 8) */
#define BT_KRPC_MAX_VALUES  128 /* peers per reply (libtorrent sends <=100) */
#define BT_KRPC_NODE4_LEN   26	/* compact node info: id + compact address */
#define BT_KRPC_NODE6_LEN   38

/* Error codes of BEP 5. */
#define BT_KRPC_ERR_GENERIC  201
#define BT_KRPC_ERR_SERVER   202
#define BT_KRPC_ERR_PROTOCOL 203
#define BT_KRPC_ERR_METHOD   204

/* `want` (BEP 32): which families of nodes the querier wants back. */
#define BT_KRPC_WANT_N4 1
#define BT_KRPC_WANT_N6 2

enum bt_krpc_type {
	BT_KRPC_QUERY = 1,
	BT_KRPC_RESPONSE,
	BT_KRPC_ERROR,
};

enum bt_krpc_method {
	BT_KRPC_UNKNOWN = 0, /* a query of a method we do not know (204) */
	BT_KRPC_PING,
	BT_KRPC_FIND_NODE,
	BT_KRPC_GET_PEERS,
	BT_KRPC_ANNOUNCE_PEER,
};

struct bt_krpc_node {
	uint8_t id[BT_KRPC_ID_LEN];
	struct bt_addr addr;
};

struct bt_krpc_msg {
	enum bt_krpc_type type;
	uint8_t tid[BT_KRPC_TID_MAX];
	uint8_t tid_len;
	uint8_t version_len; /* 0: no `v` */
	char version[BT_KRPC_VERSION_MAX];
	bool read_only; /* `ro` = 1 (BEP 43): do not add the sender */
	bool has_ip;	/* `ip` (BEP 42): our address as the sender sees it */
	struct bt_addr ip;

	/* queries and responses: the sender's node id */
	bool has_id;
	uint8_t id[BT_KRPC_ID_LEN];

	/* queries */
	enum bt_krpc_method method;
	uint8_t target[BT_KRPC_ID_LEN]; /* find_node `target`, or `info_hash`
					   of get_peers / announce_peer */
	uint8_t want;			/* BT_KRPC_WANT_* bits; 0 = absent */
	bool implied_port;		/* announce: use the datagram's port */
	uint16_t port;			/* announce */

	/* get_peers responses and announce_peer queries */
	uint8_t token_len; /* 0: none */
	uint8_t token[BT_KRPC_TOKEN_MAX];

	/* responses: nodes (IPv4) and nodes6, then peers (`values`) */
	uint8_t n_nodes, n_nodes6;
	struct bt_krpc_node nodes[BT_KRPC_MAX_NODES];
	struct bt_krpc_node nodes6[BT_KRPC_MAX_NODES];
	uint16_t n_values;
	bool has_values; /* a `values` list was present (maybe empty) */
	struct bt_addr values[BT_KRPC_MAX_VALUES];
	/* what parsing left out: nodes/values past the caps or malformed */
	uint32_t nodes_dropped, values_dropped;

	/* errors */
	int error_code;
	char error_msg[BT_KRPC_ERRMSG_MAX]; /* NUL-terminated, may be "" */
};

/* Decode one datagram. Returns
 *   0        a message (for a query of an unknown method: method
 *            BT_KRPC_UNKNOWN, and id/target/want filled when present);
 *   -EINVAL  not a KRPC message (not bencode, not a dict, no `t` or a `t`
 *            too long, no or a bad `y`): nothing can be answered;
 *   -EPROTO  a query or response whose `t` and type were read (they are
 *            filled in M) but whose body is invalid (no 20-byte id, a missing
 *            or bad target/info_hash/token/port): a query gets error 203.
 * M is fully reset first. Never aborts on any input. */
int bt_krpc_parse(const uint8_t *buf, size_t len, struct bt_krpc_msg *m);

/* Append the encoding of M to B (keys sorted, as BEP 3 wants). Which
 * fields are written follows M->type and, for queries, M->method: a ping
 * carries id only; find_node id, target, want; get_peers id, info_hash,
 * want; announce_peer id, implied_port, info_hash, port, token. A response
 * carries id, nodes/nodes6 when there are any, token when set and values
 * when has_values; `ip`, `v` and `ro` when set. Returns 0, -EINVAL (no type,
 * or an unknown method in a query) or B's -ENOMEM. */
int bt_krpc_encode(const struct bt_krpc_msg *m, struct bt_benc *b);

/* The method's wire name ("ping", ...), "?" for BT_KRPC_UNKNOWN. */
const char *bt_krpc_method_name(enum bt_krpc_method method);

#endif
