/* pfs_env — environment switches, read once; see pfs_env.h. */
#include "pfs_env.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static bool loopback_only;

static void read_env(void)
{
	const char *v = getenv("P2PFS_LOOPBACK_ONLY");
	loopback_only = v && *v && strcmp(v, "0") != 0;
}

bool pfs_loopback_only(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, read_env);
	return loopback_only;
}
