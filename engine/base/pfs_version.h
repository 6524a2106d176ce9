/* pfs_version — how p2pfs names itself to the rest of the swarm: the
 * Azureus-style prefix of its peer id ("-PF0100-" for 0.1.0) and the client
 * name of HTTP User-Agents and the BEP 10 handshake ("p2pfs/0.1.0"), both
 * derived from PFS_VERSION (set by the Makefile) so that they follow a
 * release without being edited by hand. Pure functions, any thread. */
#ifndef PFS_VERSION_H
#define PFS_VERSION_H

#include <stdint.h>

#ifndef PFS_VERSION
#define PFS_VERSION "0.0.0"
#endif

#define PFS_VERSION_CLIENT "p2pfs/" PFS_VERSION
#define PFS_PEER_ID_PREFIX_LEN 8

/* The 8-byte peer id prefix "-PF" + four version characters + "-" of
 * VERSION ("MAJOR.MINOR.PATCH[.BUILD]" with anything after the digits of a
 * component ignored, e.g. "1.2.3-rc1"). Each component is one character:
 * 0-9 as digits, 10-35 as 'A'-'Z', 36-61 as 'a'-'z' (libtorrent's
 * convention); a missing component is '0', a larger one 'z'. Not
 * NUL-terminated. */
void pfs_version_peer_id(const char *version,
			 uint8_t out[PFS_PEER_ID_PREFIX_LEN]);

#endif
