/* fs_cmd — the p2pfs subcommands that live outside fs/main.c, one file
 * each (fs_create.c, fs_seed.c, fs_status.c, fs_ps.c, fs_cachecmd.c).
 *
 * Each takes ARGV with ARGV[0] the subcommand name and returns the process
 * exit status (0 ok, 1 runtime error, 2 usage or bad input). Each usage
 * string is the command's block of `p2pfs --help`, two-space indented, and
 * ends with a newline. Main thread only (they use getopt). */
#ifndef FS_CMD_H
#define FS_CMD_H

extern const char fs_cmd_create_usage[];
int fs_cmd_create(int argc, char **argv);

extern const char fs_cmd_seed_usage[];
int fs_cmd_seed(int argc, char **argv);

extern const char fs_cmd_status_usage[];
int fs_cmd_status(int argc, char **argv);

/* fs_ps.c: `p2pfs ls` and `p2pfs stop TARGET` */
extern const char fs_cmd_ps_usage[];
int fs_cmd_ls(int argc, char **argv);
int fs_cmd_stop(int argc, char **argv);

struct fs_ctl_info;
/* The running p2pfs processes TARGET names: a pid, a .torrent file (its
 * info-hash), or a path (a mount point, the data a seed serves, or the
 * .torrent file a process was started with). Fills up to MAX entries of
 * INFO and SOCK (their control sockets, PATH_MAX bytes each) and returns
 * how many match (may exceed MAX); -errno when the processes cannot be
 * listed. */
int fs_ps_find(const char *target, struct fs_ctl_info *info, char (*sock)[4096],
	       size_t max);

extern const char fs_cmd_cache_usage[];
int fs_cmd_cache(int argc, char **argv);
/* For `mount`: keep a copy of TORRENT_PATH in the store folder DIR (what
 * `cache ls` names it by). Failures are logged, never fatal. */
void fs_cache_remember(const char *dir, const char *torrent_path);

#endif
