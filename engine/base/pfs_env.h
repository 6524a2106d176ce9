/* pfs_env — the switches p2pfs takes from its environment, read in one
 * place.
 *
 * P2PFS_LOOPBACK_ONLY=1 (any value but "" and "0"): the process must not
 * talk to anything but loopback unless a flag asks for it explicitly: no
 * LSD multicast (--lsd turns it on), no public DHT bootstrap routers, no
 * port mapping. Tests, the demo and the benchmarks set it.
 *
 * P2PFS_LOOPBACK_NET=PREFIX (e.g. fd50::/64), only together with
 * P2PFS_LOOPBACK_ONLY: the addresses in PREFIX count as loopback too. For
 * a test that runs in a network namespace of its own, where the addresses
 * it gave itself (IPv6 has one loopback address only) are not loopback.
 * PREFIX must lie in private space (10/8, 172.16/12, 192.168/16,
 * fc00::/7): anything else is ignored, with a warning. It widens a
 * loopback-only rule (the environment's or an option's) and nothing else:
 * without one it means nothing.
 *
 * Both read once, on the first call; any thread. */
#ifndef PFS_ENV_H
#define PFS_ENV_H

#include <stdbool.h>

#include "bt_addr.h"

bool pfs_loopback_only(void);
/* P2PFS_LOOPBACK_NET, when given and valid: into *NET, *BITS, true. */
bool pfs_loopback_net(struct bt_addr *net, unsigned *bits);

#endif
