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

/* The options `mount` and `seed` share: where the cache is, the engine's
 * network settings and the log. */
struct fs_cli_engine {
	const char *cache_dir;  /* --cache, NULL = cache_default_root() */
	const char *bind_ip;    /* --bind */
	const char *log_file;   /* --log */
	const char **peers;     /* --peer, repeatable (array owned) */
	size_t npeers;
	uint16_t port;          /* --port, 0 = ephemeral */
	int max_peers;          /* --max-peers, 0 = engine default */
	uint64_t max_up;        /* --max-up, bytes/s, 0 = unlimited */
	uint64_t max_down;      /* --max-down, bytes/s, 0 = unlimited */
	int verbose;            /* number of -v */
	bool no_trackers;       /* --no-trackers */
};

/* The --help lines of the options in struct fs_cli_engine that reach the
 * engine (mount and seed print the same text). */
#define FS_CLI_ENGINE_USAGE \
	"      --port N           listening port (default 0: any free port)\n" \
	"      --bind IP          listen and connect from this address\n" \
	"      --peer IP:PORT     also connect to this peer (repeatable;\n" \
	"                         IPv6 as [ADDR]:PORT)\n" \
	"      --no-trackers      ignore the torrent's trackers\n" \
	"      --max-peers N      connection limit (default 50)\n" \
	"      --max-up RATE      upload limit in bytes/s for all peers together,\n" \
	"                         e.g. 500K or 10M (K, M, G = 1024, 1024^2,\n" \
	"                         1024^3); default 0: no limit\n" \
	"      --max-down RATE    download limit in bytes/s, likewise\n"

/* `p2pfs mount [options] FILE.torrent MNT` */
struct fs_cli_mount {
	const char *torrent;
	const char *mountpoint;
	struct fs_cli_engine eng;
	char *fuse_opts;        /* every -o joined with ',', or NULL (owned) */
	uint64_t cache_size;    /* --cache-size in bytes, 0 = no limit */
	bool foreground;        /* -f, also set by -d */
	bool debug;             /* -d */
	bool seed_after;        /* --seed-after: keep seeding once unmounted */
	bool fetch_all;         /* --fetch-all */
	bool help;              /* -h/--help: print usage, nothing else */
	/* sealed shares */
	const char *key_file;   /* --key-file: the share link or the key */
	bool remember_key;      /* --remember-key: keep it in the cache */
	unsigned header_timeout; /* --header-timeout secs, 0 = default */
};

/* Parse ARGV[1..] (ARGV[0] is "mount"). Returns 0, or -EINVAL with a
 * one-line reason in ERR, or -ENOMEM. The struct points into ARGV; release
 * it with fs_cli_mount_release() in every case. */
int fs_cli_parse_mount(int argc, char **argv, struct fs_cli_mount *m,
		       char *err, size_t errlen);
void fs_cli_mount_release(struct fs_cli_mount *m);

/* A rate in bytes/s, for --max-up/--max-down (of mount, seed, ...): a
 * decimal number, possibly with a fraction, and an optional suffix K, M or G
 * (case-insensitive, powers of 1024 as in aria2c's limits), e.g. "500K",
 * "10M", "1.5m", "65536"; "0" means no limit. At most 1024G. Returns 0 with
 * *OUT set, or -EINVAL. */
int fs_cli_parse_rate(const char *s, uint64_t *out);
/* `p2pfs seed [options] FILE.torrent PATH` */
struct fs_cli_seed {
	const char *torrent;
	const char *path;       /* the file, or the torrent's top folder */
	struct fs_cli_engine eng; /* cache_dir: where the verified map is kept */
	unsigned threads;       /* --threads, 0 = one per CPU */
	bool foreground;        /* -f */
	bool partial;           /* --partial: seed the pieces that verify */
	bool recheck;           /* --recheck: ignore the saved verified map */
	bool help;
	const char *key_file;   /* --key-file: a sealed share's key */
};

/* Parse ARGV[1..] (ARGV[0] is "seed"). Same contract as
 * fs_cli_parse_mount(); release with fs_cli_seed_release(). */
int fs_cli_parse_seed(int argc, char **argv, struct fs_cli_seed *m,
		      char *err, size_t errlen);
void fs_cli_seed_release(struct fs_cli_seed *m);

struct bt_session_opts;
/* The engine settings of E into *SO (zeroed first; it points into E). */
void fs_cli_session_opts(const struct fs_cli_engine *e,
			 struct bt_session_opts *so);
/* Report a bt_session_new() failure ERR for E on stderr, one line; returns
 * the exit status (2 for a bad address, else 1). */
int fs_cli_session_error(const struct fs_cli_engine *e, int err);

/* Parse `umount MNT` / `info FILE`: exactly one operand and -h/--help.
 * Returns 0 (*OPERAND set), 1 for help, or -EINVAL with ERR. */
int fs_cli_parse_one(int argc, char **argv, const char **operand, char *err,
		     size_t errlen);

/* A size: a decimal number (a fraction allowed with a suffix) with an
 * optional suffix K, M, G or T (powers of 1024; "KiB", "MB", "k" are taken
 * too): "500M", "2G", "1.5G", "4096". Returns 0, or -EINVAL for anything
 * else, zero, or more than 2^62 bytes. */
int fs_cli_parse_size(const char *s, uint64_t *out);

/* "0 B", "1023 B", "1.5 KiB", "700.0 MiB", "1.2 GiB" into OUT. */
void fs_cli_human_size(uint64_t n, char *out, size_t len);

/* The magnet link of a torrent (info-hash, name, trackers: pass those of
 * its bt_metainfo, so that `create` and `info` print the same link).
 * Returns a malloc'd string, or NULL when out of memory. */
char *fs_cli_magnet(const uint8_t info_hash[20], const char *name,
		    const char *const *trackers, size_t ntrackers);

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
