/* fs_status — `p2pfs status`: placeholder until the command lands. */
#include <stdio.h>

#include "fs_cmd.h"

const char fs_cmd_status_usage[] = "";

int fs_cmd_status(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "p2pfs: status: not in this build yet\n");
	return 1;
}
