/* bt_ext — the BEP 10 extension protocol: the reserved bit, and the
 * extension handshake (extended message id 0) built and parsed.
 *
 * An extended message on the wire is BT_MSG_EXTENDED (20), one ext-id byte,
 * then the payload; bt_wire frames it (struct bt_msg ext_id, data). This
 * module handles the payload of ext-id 0, the handshake:
 *   m              name -> the id the SENDER wants to receive it under
 *                  (0 = disabled); we know ut_metadata (BEP 9) and ut_pex
 *                  (BEP 11) and ignore other names
 *   metadata_size  size of the info dict (BEP 9), capped at
 *                  BT_EXT_MAX_METADATA_SIZE
 *   p              the sender's listening port
 *   v              the sender's client name and version
 *   yourip         our address as the sender sees it (4 or 16 bytes)
 *   ipv4, ipv6     the sender's own addresses
 *   reqq           how many outstanding requests the sender queues
 *   upload_only    the sender is a seed or does not download (BEP 21)
 * A handshake may be sent again later; BEP 10 says it then updates only the
 * fields it carries: bt_ext_hs_merge() applies one onto the state kept.
 *
 * Parsing is tolerant of what real clients do (unknown keys, wrong-typed
 * optional fields are ignored) and strict only on what it must be: a
 * bencoded dictionary, nothing after it. Every value kept is range-checked
 * and bounded. Stateless, any thread. */
#ifndef BT_EXT_H
#define BT_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_addr.h"
#include "bt_bencode.h"

/* The reserved bit of the BitTorrent handshake: byte 5, 0x10. */
#define BT_EXT_RESERVED_BYTE 5
#define BT_EXT_RESERVED_MASK 0x10

/* Extended message id 0 is the handshake. */
#define BT_EXT_ID_HANDSHAKE 0

/* The ids WE assign to our extensions, i.e. the ext-id byte peers put on
 * the messages they send us (BEP 10 leaves the choice to each side; these
 * are what libtorrent uses too, which makes captures easy to read). */
#define BT_EXT_OUR_UT_PEX      1
#define BT_EXT_OUR_UT_METADATA 2

/* Largest info dict we accept or announce: 16 MiB is 1,024 ut_metadata
 * pieces and over 800,000 piece hashes (a 3 TiB torrent of 4 MiB pieces),
 * and bounds what one metadata fetch may hold in memory. */
#define BT_EXT_MAX_METADATA_SIZE (16u * 1024 * 1024)
/* A handshake is a few hundred bytes; refuse to parse more than this. */
#define BT_EXT_MAX_HANDSHAKE_LEN (64u * 1024)
/* Longest `v` kept (bytes, after making it printable). */
#define BT_EXT_MAX_CLIENT 63
/* `reqq` values above this are taken as this. */
#define BT_EXT_MAX_REQQ 10000

/* Our `v`, built from the version the Makefile passes. */
#ifdef PFS_VERSION
#define BT_EXT_CLIENT "p2pfs/" PFS_VERSION
#endif

/* The extensions we know, as indexes into struct bt_ext_hs ids[]. */
enum bt_ext_kind { BT_EXT_UT_METADATA = 0, BT_EXT_UT_PEX = 1, BT_EXT_NKINDS };

/* A handshake: what was in it. "Absent" markers let a later handshake
 * update only what it carries. */
struct bt_ext_hs {
	int16_t ids[BT_EXT_NKINDS];    /* -1 absent, 0 disabled, 1..255 */
	int64_t metadata_size;	       /* -1 absent (or 0 sent), else 1..MAX */
	int64_t metadata_size_refused; /* a size announced but not kept
					* (negative or over the cap), else 0 */
	int32_t port;		       /* p: -1 absent, else 1..65535 */
	char client[BT_EXT_MAX_CLIENT + 1]; /* v: printable, "" absent */
	struct bt_addr yourip;		    /* family 0 absent; port 0 */
	struct bt_addr ipv4;		    /* family 0 absent; port 0 */
	struct bt_addr ipv6;		    /* family 0 absent; port 0 */
	int32_t reqq;	    /* -1 absent, else 1..BT_EXT_MAX_REQQ */
	int8_t upload_only; /* -1 absent, 0 or 1 */
};

/* Set the extension-protocol bit in the 8 reserved handshake bytes. */
void bt_ext_set_reserved(uint8_t reserved[8]);
/* True when the peer's reserved bytes say it speaks BEP 10. */
bool bt_ext_supported(const uint8_t reserved[8]);

/* Every field absent. */
void bt_ext_hs_init(struct bt_ext_hs *hs);

/* Parse the payload of an ext-id-0 message. Returns 0 and fills *HS,
 * -EPROTO (with a one-line reason in ERR) when it is not a bencoded
 * dictionary, has trailing bytes, or is over BT_EXT_MAX_HANDSHAKE_LEN, or
 * -ENOMEM. Never aborts. In `m`, names we do not know, and ids that are
 * not integers 0..255, are ignored. */
int bt_ext_hs_parse(const uint8_t *p, size_t len, struct bt_ext_hs *hs,
		    char *err, size_t errlen);

/* Apply handshake UPD onto the state ST kept for a peer: every field
 * present in UPD replaces ST's. */
void bt_ext_hs_merge(struct bt_ext_hs *st, const struct bt_ext_hs *upd);

/* Encode HS as a handshake payload into B (fields that are absent are not
 * written; ids[] 0 are written as 0, i.e. "disabled"). Returns 0 or the
 * buffer's error (-ENOMEM). */
int bt_ext_hs_build(const struct bt_ext_hs *hs, struct bt_benc *b);

/* Our handshake: ut_metadata and ut_pex under our ids (ut_pex left out
 * when PEX is off, e.g. for a private torrent: BEP 27), our `v`, PORT (0:
 * not sent), METADATA_SIZE (0 while we have no info dict), REQQ, the
 * peer's address as we see it (family 0: not sent) and UPLOAD_ONLY. */
void bt_ext_hs_ours(struct bt_ext_hs *hs, bool pex, uint16_t port,
		    uint32_t metadata_size, uint32_t reqq,
		    const struct bt_addr *peer, bool upload_only);

#endif
