/* pfs_env — environment switches, read once; see pfs_env.h. */
#include "pfs_env.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pfs_log.h"

static bool loopback_only;
static bool net_ok;
static struct bt_addr net;
static unsigned net_bits;

/* NET/BITS lies wholly in private space: its first and last addresses are
 * private (the private blocks are aligned prefixes, so a prefix holding
 * both ends of two different blocks would hold public space between). */
static bool net_private(void)
{
	struct bt_addr last = net;
	unsigned len = net.family == BT_ADDR_V4 ? 32 : 128;
	for (unsigned i = net_bits; i < len; i++)
		last.ip[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return bt_addr_is_private(&net) && bt_addr_is_private(&last);
}

static void read_env(void)
{
	const char *v = getenv("P2PFS_LOOPBACK_ONLY");
	loopback_only = v && *v && strcmp(v, "0") != 0;
	const char *n = getenv("P2PFS_LOOPBACK_NET");
	if (!n || !*n)
		return;
	net_ok = bt_addr_parse_prefix(n, &net, &net_bits) == 0 && net_private();
	if (!net_ok)
		pfs_log(PFS_LOG_WARN, "main",
			"P2PFS_LOOPBACK_NET='%s' ignored: not a prefix of "
			"private addresses (10/8, 172.16/12, 192.168/16, "
			"fc00::/7)",
			n);
}

static void once(void)
{
	static pthread_once_t o = PTHREAD_ONCE_INIT;
	pthread_once(&o, read_env);
}

bool pfs_loopback_only(void)
{
	once();
	return loopback_only;
}

bool pfs_loopback_net(struct bt_addr *n, unsigned *bits)
{
	once();
	if (net_ok) {
		*n = net;
		*bits = net_bits;
	}
	return net_ok;
}
