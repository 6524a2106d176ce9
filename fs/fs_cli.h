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
	const char **peers;     /* --peer, repeatable (array owned); after
				 * fs_cli_resolve_peers() numeric IP:PORT */
	size_t npeers;
	char **resolved;        /* the strings fs_cli_resolve_peers() made */
	size_t nresolved;
	uint16_t port;          /* --port, 0 = ephemeral */
	int max_peers;          /* --max-peers, 0 = engine default */
	uint64_t max_up;        /* --max-up, bytes/s, 0 = unlimited */
	uint64_t max_down;      /* --max-down, bytes/s, 0 = unlimited */
	int encryption;         /* --encryption: enum bt_mse_policy, 0 =
				 * prefer */
	int verbose;            /* number of -v */
	bool no_trackers;       /* --no-trackers */
	bool no_dht;            /* --no-dht */
	const char **dht_bootstrap; /* --dht-bootstrap, repeatable (array
				 * owned); numeric after fs_cli_resolve_peers() */
	size_t ndht_bootstrap;
	int lsd;                /* --lsd 1, --no-lsd -1, default 0 */
};

/* The --help lines of the options in struct fs_cli_engine that reach the
 * engine (mount and seed print the same text). */
#define FS_CLI_ENGINE_USAGE \
	"      --port N           listening port (default 0: any free port)\n" \
	"      --bind IP          listen and connect from this address (IPv6\n" \
	"                         bare or [ADDR]; the DHT then on its family)\n" \
	"      --peer HOST:PORT   also connect to this peer (repeatable; a name\n" \
	"                         is resolved at start-up; IPv6 as [ADDR]:PORT)\n" \
	"      --no-trackers      ignore the torrent's trackers\n" \
	"      --no-dht           no DHT (on by default, never for a private\n" \
	"                         torrent; its port is the listening port, UDP)\n" \
	"      --dht-bootstrap HOST:PORT\n" \
	"                         join the DHT through this node (repeatable;\n" \
	"                         default: the nodes saved under the cache root,\n" \
	"                         else the public routers, which\n" \
	"                         P2PFS_LOOPBACK_ONLY=1 never uses)\n" \
	"      --no-lsd           no local peer discovery (BEP 14 multicast on\n" \
	"                         the LAN; never used for private torrents)\n" \
	"      --lsd              local peer discovery even when\n" \
	"                         P2PFS_LOOPBACK_ONLY is set\n" \
	"      --max-peers N      connection limit (default 50)\n" \
	"      --max-up RATE      upload limit in bytes/s for all peers together,\n" \
	"                         e.g. 500K or 10M (K, M, G = 1024, 1024^2,\n" \
	"                         1024^3); default 0: no limit\n" \
	"      --max-down RATE    download limit in bytes/s, likewise\n" \
	"      --encryption MODE  prefer (default): connect encrypted (MSE/PE,\n" \
	"                         RC4), else plain; accept both. require: only\n" \
	"                         encrypted connections. off: only plain ones.\n" \
	"                         It hides traffic from the network in between,\n" \
	"                         not from peers: anyone with the info-hash can\n" \
	"                         still join (see create --seal)\n"

/* How long a read may wait for its data by default (seconds). */
#define FS_CLI_READ_TIMEOUT 120

/* The -o options `mount` takes: p2pfs's own, then the FUSE ones passed on
 * to libfuse (anything else is refused by name). */
#define FS_CLI_MOUNT_OPTS_USAGE \
	"      -o OPTS            mount options, comma separated (repeatable):\n" \
	"                         timeout=SECS  same as --read-timeout\n" \
	"                         uid=N, gid=N  owner of every file (a number or\n" \
	"                                       a name; default: who mounts)\n" \
	"                         umask=OOO     modes: 0666 (files) and 0777\n" \
	"                                       (folders) minus this (default:\n" \
	"                                       the umask of p2pfs mount)\n" \
	"                         nonempty      mount over a folder that is not\n" \
	"                                       empty (refused otherwise)\n" \
	"                         and for FUSE: allow_other, allow_root,\n" \
	"                         default_permissions, auto_unmount, fsname=NAME,\n" \
	"                         subtype=NAME, max_read=N, max_readahead=N,\n" \
	"                         max_background=N, congestion_threshold=N,\n" \
	"                         async_read, sync_read, [no_]splice_read,\n" \
	"                         [no_]splice_move, [no_]splice_write,\n" \
	"                         [no_]async_dio, noatime, nodev, nosuid, noexec,\n" \
	"                         ro, debug\n"

/* `p2pfs mount [options] FILE.torrent MNT` */
struct fs_cli_mount {
	const char *torrent;
	const char *mountpoint;
	struct fs_cli_engine eng;
	char *fuse_opts;        /* the -o options for FUSE joined with ',', or
				 * NULL (owned); p2pfs's own are below */
	unsigned read_timeout;  /* --read-timeout, -o timeout=: seconds a read
				 * may wait for data, 0 = forever */
	bool set_uid, set_gid, set_umask; /* -o uid=, gid=, umask= given */
	uint32_t uid, gid, umask;
	bool nonempty;          /* -o nonempty */
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
	unsigned metadata_timeout; /* --metadata-timeout secs (a magnet
				    * link), 0 = FS_MAGNET_TIMEOUT */
	bool no_wait;           /* --no-wait: a magnet link's mount is live
				 * before its metadata */
};

/* Parse ARGV[1..] (ARGV[0] is "mount"). Returns 0, or -EINVAL with a
 * one-line reason in ERR, or -ENOMEM. The struct points into ARGV; release
 * it with fs_cli_mount_release() in every case. uid=/gid= names are looked
 * up in the passwd/group databases. */
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

/* Split one -o argument OPTS (commas separate options; "\\," is a comma
 * inside one) into M's own options and M->fuse_opts (appended). Returns 0,
 * -EINVAL with ERR (an unknown option, a bad value, "rw"), or -ENOMEM. */
int fs_cli_mount_opts(struct fs_cli_mount *m, const char *opts, char *err,
		      size_t errlen);

/* Resolve every --peer and --dht-bootstrap of E that is HOST:PORT rather
 * than a numeric address (getaddrinfo: /etc/hosts or DNS; call it at
 * start-up, before daemonising, never on the engine thread). Afterwards
 * E->peers and E->dht_bootstrap hold numeric "IP:PORT" strings only (each address of a name, at most 8 a name). Returns 0, or
 * -EINVAL with a one-line reason in ERR (bad syntax, a name that does not
 * resolve), or -ENOMEM. */
int fs_cli_resolve_peers(struct fs_cli_engine *e, char *err, size_t errlen);

/* What a torrent operand is: a file name, a magnet link or a URL. */
enum fs_cli_source { FS_CLI_SOURCE_FILE, FS_CLI_SOURCE_MAGNET,
		     FS_CLI_SOURCE_URL };
enum fs_cli_source fs_cli_source_kind(const char *arg);
/* True for an announce URL of a scheme p2pfs announces to: http://,
 * https://, udp:// (case-insensitive). */
bool fs_cli_announce_url_ok(const char *url);

struct bt_metainfo;
/* Load the torrent the operand ARG names. Returns 0 with *MI, or -errno
 * with the whole one-line message (without "p2pfs: ") in ERR: "not a
 * .torrent file" for a file that is no bencoded dictionary, what to do for
 * a magnet link or a URL (this build takes neither), else the reason of
 * bt_metainfo_load(). The exit status for it: 1 for -ENOMEM, else 2. */
int fs_cli_load_torrent(const char *arg, struct bt_metainfo **mi, char *err,
			size_t errlen);

struct bt_session_opts;
/* The engine settings of E into *SO (zeroed first; it points into E). */
void fs_cli_session_opts(const struct fs_cli_engine *e,
			 struct bt_session_opts *so);
/* Report a bt_session_new() failure ERR for E on stderr, one line naming
 * the problem (an address that is not this machine's, a port in use...);
 * returns the exit status (2 for a bad address, else 1). */
int fs_cli_session_error(const struct fs_cli_engine *e, int err);

/* Print "p2pfs: MESSAGE" on stderr and, when the log goes elsewhere (a
 * file, syslog), log it as an error there too: each error once a place. */
void fs_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* `p2pfs status [--watch] [--interval SECS] [--count N] [TARGET]` */
struct fs_cli_status {
	const char *target;     /* NULL = "." */
	bool watch;             /* -w, --watch */
	unsigned interval_ms;   /* -n, --interval (default 1000) */
	unsigned count;         /* --count: frames, 0 = until interrupted */
	bool help;
};
/* Parse ARGV[1..] (ARGV[0] is "status"). Same contract as
 * fs_cli_parse_one(): 0, 1 for help, -EINVAL with ERR. */
int fs_cli_parse_status(int argc, char **argv, struct fs_cli_status *st,
			char *err, size_t errlen);

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
/* The mount PATH (absolute, resolved) lies in: the line of BUF whose mount
 * point is the longest prefix of PATH at a '/' boundary (the last such line
 * when several mounts are stacked). Copies its mount point into MP and its
 * type into TYPE. Returns 0 or -ENOENT. */
int fs_mountinfo_containing(const char *buf, const char *path, char *mp,
			    size_t mplen, char *type, size_t typelen);
/* True when some line of BUF mounts device DEV ("major:minor"). */
bool fs_mountinfo_has_dev(const char *buf, const char *dev);

#endif
