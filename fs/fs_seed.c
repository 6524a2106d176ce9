/* fs_seed — `p2pfs seed`: placeholder until the command lands. */
#include <stdio.h>

#include "fs_cmd.h"

const char fs_cmd_seed_usage[] = "";

int fs_cmd_seed(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "p2pfs: seed: not in this build yet\n");
	return 1;
}
