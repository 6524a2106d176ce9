/* fs_create — `p2pfs create`: placeholder until the command lands. */
#include <stdio.h>

#include "fs_cmd.h"

const char fs_cmd_create_usage[] = "";

int fs_cmd_create(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "p2pfs: create: not in this build yet\n");
	return 1;
}
