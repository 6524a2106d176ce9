/* fs_cli — the pure parts of the p2pfs command line: option parsing of each
 * subcommand, size formatting, and reading the mount table.
 *
 * Folder-private to fs/ (fs/main.c, fs/fs.c and the unit test). The
 * parsers use getopt_long, so they touch libc's optind/opterr: call them
 * from one thread, one at a time (main() and tests do). */
#ifndef FS_CLI_H
#define FS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* `p2pfs mount [options] FILE.torrent MNT` */
struct fs_cli_mount {
	const char *torrent;
	const char *mountpoint;
	const char *cache_dir;  /* --cache, NULL = cache_default_root() */
	const char *bind_ip;    /* --bind */
	const char *log_file;   /* --log */
	char *fuse_opts;        /* every -o joined with ',', or NULL (owned) */
	const char **peers;     /* --peer, repeatable (array owned) */
	size_t npeers;
	uint16_t port;          /* --port, 0 = ephemeral */
	int max_peers;          /* --max-peers, 0 = engine default */
	int verbose;            /* number of -v */
	bool foreground;        /* -f, also set by -d */
	bool debug;             /* -d */
	bool no_trackers;       /* --no-trackers */
	bool fetch_all;         /* --fetch-all */
	bool help;              /* -h/--help: print usage, nothing else */
};

/* Parse ARGV[1..] (ARGV[0] is "mount"). Returns 0, or -EINVAL with a
 * one-line reason in ERR, or -ENOMEM. The struct points into ARGV; release
 * it with fs_cli_mount_release() in every case. */
int fs_cli_parse_mount(int argc, char **argv, struct fs_cli_mount *m,
		       char *err, size_t errlen);
void fs_cli_mount_release(struct fs_cli_mount *m);

/* Parse `umount MNT` / `info FILE`: exactly one operand and -h/--help.
 * Returns 0 (*OPERAND set), 1 for help, or -EINVAL with ERR. */
int fs_cli_parse_one(int argc, char **argv, const char **operand, char *err,
		     size_t errlen);

/* "0 B", "1023 B", "1.5 KiB", "700.0 MiB", "1.2 GiB" into OUT. */
void fs_cli_human_size(uint64_t n, char *out, size_t len);

/* ---- the mount table (/proc/self/mountinfo) ---- */

/* Read all of FD (a /proc/.../mountinfo, from offset 0) into a malloc'd
 * NUL-terminated string. Returns NULL with errno set. */
char *fs_mountinfo_read(int fd);
/* Find the last (topmost) line of mountinfo text BUF whose mount point is
 * MNT (absolute, unescaped). Copies its "major:minor" into DEV and its file
 * system type ("fuse.p2pfs") into TYPE. Returns 0 or -ENOENT. */
int fs_mountinfo_find(const char *buf, const char *mnt, char *dev,
		      size_t devlen, char *type, size_t typelen);
/* True when some line of BUF mounts device DEV ("major:minor"). */
bool fs_mountinfo_has_dev(const char *buf, const char *dev);

#endif
