/* pfs_env — the switches p2pfs takes from its environment, read in one
 * place.
 *
 * P2PFS_LOOPBACK_ONLY=1 (any value but "" and "0"): the process must not
 * talk to anything but loopback unless a flag asks for it explicitly: no
 * LSD multicast (--lsd turns it on), no public DHT bootstrap routers, no
 * port mapping. Tests, the demo and the benchmarks set it. Read once, on
 * the first call; any thread. */
#ifndef PFS_ENV_H
#define PFS_ENV_H

#include <stdbool.h>

bool pfs_loopback_only(void);

#endif
