/* fs_cachecmd — `p2pfs cache`: placeholder until the command lands. */
#include <stdio.h>

#include "fs_cmd.h"

const char fs_cmd_cache_usage[] = "";

int fs_cmd_cache(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "p2pfs: cache: not in this build yet\n");
	return 1;
}
