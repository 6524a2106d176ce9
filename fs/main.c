/* main — the p2pfs command line: `mount`, `umount`, `info`, `help` and
 * `--version` (the other commands are in fs_*.c, see fs_cmd.h).
 *
 * Exit status: 0 ok, 1 runtime error, 2 usage or a bad input file. Errors
 * are one line on stderr, "p2pfs: SUBJECT: reason", once (fs_cli_error).
 * `mount` checks the torrent before it touches the mount point; then the
 * mount point (a dead mount left by a crashed p2pfs is removed, a live one
 * or a folder that is not empty refused), /dev/fuse and -o allow_other;
 * resolves --peer names, opens the cache and binds the listening port
 * before mounting (so those errors show before going to the background),
 * then hands over to fs_run(). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <fuse_log.h>

#include "bt_metainfo.h"
#include "bt_session.h"
#include "cache.h"
#include "cache_store.h"
#include "fs.h"
#include "fs_cli.h"
#include "fs_cmd.h"
#include "fs_ctl.h"
#include "fs_magnet.h"
#include "fs_seal.h"
#include "fs_syslog.h"
#include "fs_tree.h"
#include "pfs_log.h"

#define EXIT_USAGE 2
#define UMOUNT_WAIT_MS 5000

static const char usage_mount[] =
	"  p2pfs mount [-f] [-d] [-o OPTS] [--cache DIR] [--port N] [--bind IP]\n"
	"              [--peer HOST:PORT]... [--no-trackers] [--no-lsd]\n"
	"              [--max-peers N] [--max-up RATE] [--max-down RATE]\n"
	"              [--cache-size SIZE] [--encryption prefer|require|off]\n"
	"              [--read-timeout SECS] [--fetch-all] [--seed-after]\n"
	"              [-v|-vv] [--log FILE] [--key-file F] [--remember-key]\n"
	"              [--header-timeout SECS] [--metadata-timeout SECS]\n"
	"              [--no-wait] [--no-dht] [--dht-bootstrap HOST:PORT]...\n"
	"              FILE.torrent|MAGNET MNT\n"
	"      Mount the torrent read-only on the folder MNT (empty, unless\n"
	"      -o nonempty) and stream its files on demand; goes to the\n"
	"      background once the mount is live, logging to syslog. A\n"
	"      magnet link (quote it) gets its metadata from the peers its\n"
	"      tr= trackers, its x.pe= addresses, --peer, the DHT, PEX and\n"
	"      local peer discovery give, or from the cache folder of an\n"
	"      earlier mount (then offline too).\n"
	"      -f, --foreground   stay in the foreground (log to stderr)\n"
	"      -d, --debug        FUSE debug output (implies -f and -vv)\n"
	FS_CLI_MOUNT_OPTS_USAGE
	"      --read-timeout SECS\n"
	"                         a read that gets no data for SECS fails with\n"
	"                         ETIMEDOUT (default 120; 0 = wait forever)\n"
	"      --cache DIR        cache root (default $XDG_CACHE_HOME/p2pfs,\n"
	"                         else ~/.cache/p2pfs)\n"
	"      --cache-size SIZE  keep at most SIZE bytes of this torrent on\n"
	"                         disk (e.g. 500M, 2G; at least 2 pieces):\n"
	"                         least recently read pieces are dropped\n"
	FS_CLI_ENGINE_USAGE
	"      --seed-after       once unmounted, keep seeding the pieces\n"
	"                         fetched until SIGINT/SIGTERM\n"
	"      --fetch-all        also fetch the rest of the torrent in the\n"
	"                         background (default: only what is read,\n"
	"                         plus read-ahead)\n"
	"      -v, --verbose      log more (-v info, -vv debug)\n"
	"      --log FILE         append the log to FILE (instead of stderr in\n"
	"                         the foreground, syslog in the background)\n"
	"      --key-file F       a sealed share's key: F holds the share link\n"
	"                         or the 64 hex digits of the key\n"
	"      --remember-key     keep the key in the torrent's cache folder\n"
	"                         (a 0600 file), so later mounts need no\n"
	"                         --key-file\n"
	"      --header-timeout SECS  how long a sealed share may take to\n"
	"                         fetch its file table from the swarm when\n"
	"                         neither the torrent nor the cache has it\n"
	"                         (default 60)\n"
	"      --metadata-timeout SECS  how long a magnet link's metadata\n"
	"                         may take to arrive (default 120)\n"
	"      --no-wait          a magnet link's mount is live at once:\n"
	"                         listing its root waits for the metadata\n"
	"                         (interruptibly, --metadata-timeout at most)\n";
static const char usage_umount[] =
	"  p2pfs umount MNT\n"
	"      Unmount a p2pfs mount (lazily, even with files open) and wait\n"
	"      up to 5 seconds for its daemon to exit (not for one started\n"
	"      with --seed-after: it keeps seeding until SIGTERM).\n";
static const char usage_info[] =
	"  p2pfs info [-o OUT.torrent] [--metadata-timeout SECS]\n"
	"             [--peer HOST:PORT]... [--port N] [--bind IP] [--cache DIR]\n"
	"             [--no-dht] [--dht-bootstrap HOST:PORT]... FILE.torrent|MAGNET\n"
	"      Show the torrent's name, info-hash, pieces, files, trackers and\n"
	"      magnet link. A magnet link's metadata comes from the cache (an\n"
	"      earlier mount) or from its peers (tr=, x.pe=, --peer, the DHT:\n"
	"      --dht-bootstrap and --no-dht as for mount), within\n"
	"      --metadata-timeout (default 120 s).\n"
	"      -o OUT.torrent     also write it as a .torrent (the info dict\n"
	"                         and the link's trackers)\n";

static void usage(FILE *out)
{
	fprintf(out, "usage:\n%s%s%s%s%s%s%s%s"
		"  p2pfs help | --help | -h\n"
		"  p2pfs --version\n"
		"\nExit status: 0 ok, 1 runtime error, 2 usage or bad input.\n"
		"See p2pfs(1).\n",
		usage_mount, usage_umount, usage_info, fs_cmd_create_usage,
		fs_cmd_seed_usage, fs_cmd_status_usage, fs_cmd_ps_usage,
		fs_cmd_cache_usage);
}

static int usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "p2pfs: %s%s%s\n", cmd ? cmd : "", cmd ? ": " : "", msg);
	fprintf(stderr, "try 'p2pfs %s%s--help'\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

/* libfuse's messages, into pfs_log. libfuse sometimes writes one line in
 * several calls ("unknown option(s): `" "-o " "x'\n"), so pieces are
 * joined per thread until the newline; like the hook itself (libfuse's
 * fuse_set_log_func() is process-wide) this state is not per object.
 * While a mount is being made its errors are held back (the first is kept)
 * so that the one message `mount` prints says it: each error once. */
static pthread_mutex_t fuse_hold_lock = PTHREAD_MUTEX_INITIALIZER;
static bool fuse_holding;
static char fuse_held[1024];

static void fuse_hold(bool on)
{
	pthread_mutex_lock(&fuse_hold_lock);
	fuse_holding = on;
	pthread_mutex_unlock(&fuse_hold_lock);
}

static void fuse_mounted(void)
{
	fuse_hold(false);
}

static void fuse_log_cb(enum fuse_log_level level, const char *fmt,
			va_list ap)
{
	static _Thread_local char line[1024];
	static _Thread_local size_t used;
	int n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	if (n < 0)
		return;
	used += (size_t)n;
	if (used >= sizeof(line))
		used = sizeof(line) - 1;
	if (used && line[used - 1] != '\n' && used < sizeof(line) - 1)
		return; /* wait for the rest of the line */
	while (used && (line[used - 1] == '\n' || line[used - 1] == '\r'))
		line[--used] = '\0';
	const char *msg = line;
	if (!strncmp(msg, "fuse: ", 6))
		msg += 6;
	int l = level <= FUSE_LOG_ERR	   ? PFS_LOG_ERROR
		: level == FUSE_LOG_WARNING ? PFS_LOG_WARN
		: level <= FUSE_LOG_INFO    ? PFS_LOG_INFO
					    : PFS_LOG_DEBUG;
	bool held = false;
	if (*msg && l == PFS_LOG_ERROR) {
		pthread_mutex_lock(&fuse_hold_lock);
		if (fuse_holding) {
			held = true;
			if (!fuse_held[0])
				snprintf(fuse_held, sizeof(fuse_held), "%.1000s", msg);
		}
		pthread_mutex_unlock(&fuse_hold_lock);
	}
	if (*msg && !held)
		pfs_log(l, "fuse", "%s", msg);
	used = 0;
}

/* PATH made absolute without resolving it (the cache root may not exist
 * yet). Returns a malloc'd string or NULL. */
static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	char *out;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/* The absolute path of mount point MNT, resolving its parent but not MNT
 * itself (stat of a dead FUSE mount fails with ENOTCONN). */
static char *mount_path(const char *mnt)
{
	char *copy = strdup(mnt), *out = NULL;
	if (!copy)
		return NULL;
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	if (!strcmp(base, ".") || !strcmp(base, "..") || !*base) {
		out = realpath(copy, NULL);
		goto out;
	}
	const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
	if (slash)
		*slash = '\0';
	char *rdir = realpath(dir, NULL);
	if (!rdir)
		goto out;
	if (asprintf(&out, "%s%s%s", rdir, strcmp(rdir, "/") ? "/" : "", base) < 0)
		out = NULL;
	free(rdir);
out:
	free(copy);
	return out;
}

/* ---- mount ---- */

/* A sealed share: the key (--key-file, read already, or remembered in the
 * cache folder), then its header from the torrent's copy, the cache or
 * the swarm; fills X. Returns 0 or the exit status, with one line said. */
static int open_sealed(const struct fs_cli_mount *m,
		       const struct bt_metainfo *mi, const char *torrent,
		       struct cache *cache, const struct bt_session_opts *so,
		       struct fs_seal_ctx *x)
{
	struct bt_seal *seal = NULL;
	uint8_t *copy = NULL;
	size_t clen = 0;
	uint64_t need;
	char err[512] = "";
	int e;

	if (!x->have_key) {
		if ((e = fs_seal_recall(cache_dir(cache), x->key)) < 0) {
			fprintf(stderr, "p2pfs: %s: a sealed share: its files "
				"open only with its key: give --key-file F (F "
				"holds the share link or the key)\n",
				torrent);
			return EXIT_USAGE;
		}
		x->have_key = true;
		pfs_log(PFS_LOG_INFO, "seal", "using the key remembered in '%s'",
			cache_dir(cache));
	}
	if ((e = fs_seal_torrent_copy(torrent, &copy, &clen)) < 0 &&
	    e != -ENOENT)
		pfs_log(PFS_LOG_WARN, "seal", "'%s': %s", torrent,
			strerror(-e));
	e = fs_seal_open_local(mi, copy, clen, cache, x->key, &seal, &need, err,
			       sizeof(err));
	free(copy);
	if (e == -EAGAIN) {
		unsigned secs = m->header_timeout ? m->header_timeout
						  : FS_SEAL_FETCH_SECS;
		pfs_log(PFS_LOG_INFO, "seal", "the sealed file table is neither "
			"in the torrent nor in the cache: fetching it (at most "
			"%u s)", secs);
		e = fs_seal_fetch(mi, cache, so, x->key, secs, &seal, err,
				  sizeof(err));
	}
	if (e == 0)
		e = fs_seal_ctx_set(x, mi, seal, err, sizeof(err));
	else
		bt_seal_free(seal);
	if (e < 0)
		return fs_seal_report(torrent, e, err);
	if (m->remember_key) {
		if ((e = fs_seal_remember(cache_dir(cache), x->key)) < 0) {
			fprintf(stderr, "p2pfs: %s: cannot remember the key in "
				"'%s': %s\n", torrent, cache_dir(cache),
				strerror(-e));
			return 1;
		}
		pfs_log(PFS_LOG_INFO, "seal", "key remembered in '%s'",
			cache_dir(cache));
	}
	pfs_log(PFS_LOG_INFO, "seal", "sealed share '%s': %zu files",
		x->view->name, x->seal->nfiles);
	return 0;
}

static int run_fusermount(const char *mnt);

/* The sealed-share checks of a mount of MI (from TORRENT): --key-file and
 * --remember-key only for a sealed share; the key read. Sets *SEALED.
 * Returns 0 or the exit status, with one line said. */
static int check_sealed(const struct fs_cli_mount *m,
			const struct bt_metainfo *mi, const char *torrent,
			struct fs_seal_ctx *x, bool *sealed)
{
	*sealed = fs_seal_is_sealed(mi, torrent);
	if ((m->key_file || m->remember_key || x->have_key) && !*sealed) {
		fprintf(stderr, "p2pfs: %s: not a sealed share: --key-file, "
			"--remember-key and a link's key are for sealed "
			"shares\n", m->torrent);
		return EXIT_USAGE;
	}
	if (m->key_file) {
		int status = fs_seal_read_key(m->key_file, mi, m->torrent,
					      x->key);
		if (status != 0)
			return status;
		x->have_key = true;
	}
	return 0;
}

/* The folder MNT must be: a folder, not a live mount of p2pfs, empty unless
 * NONEMPTY. A dead mount there (a crashed FUSE daemon: ENOTCONN) is lazily
 * unmounted first when it is p2pfs's; never stacked on. Sets *OUT to the
 * absolute path. Returns 0 or the exit status, with the error printed. */
static int check_mountpoint(const char *arg, bool nonempty, char **out)
{
	char dev[64], type[64], *table = NULL, *mnt = mount_path(arg);
	int status = EXIT_USAGE, fd = -1;
	struct stat st;
	*out = NULL;
	if (!mnt) {
		fs_cli_error("%s: %s", arg, strerror(errno));
		return EXIT_USAGE;
	}
	fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		table = fs_mountinfo_read(fd);
	bool mounted = table && fs_mountinfo_find(table, mnt, dev, sizeof(dev),
						  type, sizeof(type)) == 0;
	/* stat() may be answered from the kernel's cache; statfs() always
	 * asks the daemon, so it tells a dead FUSE mount (ECONNABORTED: the
	 * connection was being torn down as we asked) */
	struct statvfs sv;
	bool dead = (stat(mnt, &st) < 0 &&
		     (errno == ENOTCONN || errno == ECONNABORTED)) ||
		    (mounted && !strncmp(type, "fuse", 4) &&
		     statvfs(mnt, &sv) < 0 &&
		     (errno == ENOTCONN || errno == ECONNABORTED));
	if (dead) {
		if (!mounted || strcmp(type, "fuse.p2pfs")) {
			fs_cli_error("%s: a dead FUSE mount (%s) is in the way: "
				     "'fusermount3 -u -z %s' removes it", arg,
				     mounted ? type : "?", mnt);
			goto out;
		}
		/* the leftover of a p2pfs that was killed: remove it */
		pfs_log(PFS_LOG_WARN, "main", "'%s': removing the dead mount of "
			"a p2pfs that is gone", mnt);
		if (run_fusermount(mnt) < 0 ||
		    (statvfs(mnt, &sv) < 0 && errno == ENOTCONN)) {
			fs_cli_error("%s: a dead p2pfs mount is in the way and "
				     "could not be removed: run 'fusermount3 -u "
				     "-z %s'", arg, mnt);
			goto out;
		}
		fprintf(stderr, "p2pfs: %s: removed the dead mount of a p2pfs "
			"that was killed\n", arg);
		free(table);
		table = fd >= 0 ? fs_mountinfo_read(fd) : NULL;
		mounted = table && fs_mountinfo_find(table, mnt, dev, sizeof(dev),
						     type, sizeof(type)) == 0;
	}
	if (stat(mnt, &st) < 0) {
		fs_cli_error("%s: %s", arg, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		fs_cli_error("%s: %s", arg, strerror(ENOTDIR));
		goto out;
	}
	if (mounted && !strcmp(type, "fuse.p2pfs")) {
		char pid[32] = "?";
		ssize_t n = getxattr(mnt, "user.p2pfs.pid", pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 1] = '\0';
		fs_cli_error("%s: already a p2pfs mount (pid %s): 'p2pfs umount "
			     "%s' first", arg, pid, arg);
		goto out;
	}
	if (!nonempty) {
		DIR *d = opendir(mnt);
		struct dirent *e;
		bool empty = true;
		while (d && empty && (e = readdir(d)))
			empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
		if (d)
			closedir(d);
		if (!empty) {
			fs_cli_error("%s: not empty (-o nonempty mounts over "
				     "what it holds)", arg);
			goto out;
		}
	}
	*out = mnt;
	mnt = NULL;
	status = 0;
out:
	if (fd >= 0)
		close(fd);
	free(table);
	free(mnt);
	return status;
}

/* A set-uid root fusermount3 mounts for a user who cannot open /dev/fuse. */
static bool have_fusermount(void)
{
	static const char *const dirs[] = {"/usr/bin", "/bin", "/usr/local/bin",
					   "/usr/sbin", "/sbin"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char p[64];
		struct stat st;
		snprintf(p, sizeof(p), "%s/fusermount3", dirs[i]);
		if (stat(p, &st) == 0 && (st.st_mode & S_ISUID) &&
		    st.st_uid == 0 && access(p, X_OK) == 0)
			return true;
	}
	return false;
}

/* 'user_allow_other' on a line of its own in /etc/fuse.conf, or the file
 * cannot be read (then let fusermount3 judge). */
static bool fuse_conf_allows_other(void)
{
	FILE *f = fopen("/etc/fuse.conf", "r");
	char line[256];
	bool yes = false;
	if (!f)
		return true;
	while (!yes && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		yes = !strncmp(p, "user_allow_other", 16) &&
		      strspn(p + 16, " \t\r\n") == strlen(p + 16);
	}
	fclose(f);
	return yes;
}

static bool has_opt(const char *opts, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = opts; p && *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l == n && !memcmp(p, name, n))
			return true;
		p = c ? c + 1 : p + l;
	}
	return false;
}

/* Can this process mount at all? Names what is missing, and how to fix it,
 * before libfuse fails with a bare "Input/output error". */
static int check_fuse(const char *fuse_opts)
{
	struct stat st;
	if (stat("/dev/fuse", &st) < 0) {
		fs_cli_error("no /dev/fuse: load the FUSE module ('modprobe "
			     "fuse' as root) or, in a container, pass the "
			     "device in (docker run --device /dev/fuse "
			     "--cap-add SYS_ADMIN)");
		return 1;
	}
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	int e = errno;
	if (fd >= 0)
		close(fd);
	else if (geteuid() == 0 || !have_fusermount()) {
		struct passwd *pw = getpwuid(st.st_uid);
		fs_cli_error("no access to /dev/fuse (mode %03o, owner %s): %s; "
			     "%s", (unsigned)(st.st_mode & 0777),
			     pw ? pw->pw_name : "?", strerror(e),
			     geteuid() == 0
			     ? "in a container, pass the device in (--device "
			       "/dev/fuse)"
			     : "install fuse3 (its set-uid fusermount3 mounts "
			       "for users), or have root make /dev/fuse mode "
			       "0666 as usual");
		return 1;
	}
	if (geteuid() != 0 && has_opt(fuse_opts, "allow_other") &&
	    !fuse_conf_allows_other()) {
		fs_cli_error("-o allow_other: fusermount3 allows it only when "
			     "/etc/fuse.conf has the line 'user_allow_other' "
			     "(as root: echo user_allow_other >> "
			     "/etc/fuse.conf)");
		return EXIT_USAGE;
	}
	return 0;
}

/* The cache is locked: say who holds it (found on the control channels). */
struct holder {
	const char *hex;
	struct fs_ctl_info info;
	bool found;
};

static int find_holder(void *arg, const char *path, long pid)
{
	struct holder *h = arg;
	char *body = NULL, err[256];
	size_t len;
	(void)pid;
	if (fs_ctl_call(path, FS_CTL_INFO, &body, &len, err, sizeof(err)) == 0 &&
	    fs_ctl_info_parse(body, len, &h->info) == 0 &&
	    !strcmp(h->info.infohash, h->hex) && !strcmp(h->info.kind, "mount"))
		h->found = true;
	free(body);
	return h->found;
}

static void busy_error(const struct bt_metainfo *mi, const char *root)
{
	char dir[PATH_MAX];
	struct holder h = {.hex = mi->info_hash_hex};
	if (fs_ctl_dir(dir, sizeof(dir)) == 0)
		fs_ctl_each(dir, find_holder, &h);
	if (h.found && h.info.mounted)
		fs_cli_error("'%s' is already mounted on '%s' (pid %ld); to "
			     "mount it twice, give this mount a cache of its "
			     "own: --cache DIR", mi->name, h.info.path,
			     h.info.pid);
	else if (h.found)
		fs_cli_error("'%s' is still seeding from its cache after an "
			     "unmount (pid %ld: 'p2pfs stop %ld'); or give "
			     "this mount a cache of its own: --cache DIR",
			     mi->name, h.info.pid, h.info.pid);
	else
		fs_cli_error("%s: the cache of '%s' is in use by another p2pfs "
			     "process; give this mount a cache of its own: "
			     "--cache DIR", root, mi->name);
}

/* --no-wait: what the mount's resolver thread (fs_opts.resolve) gets the
 * torrent with, and what it made (freed by cmd_mount). */
struct late {
	const struct fs_cli_mount *m;
	const struct bt_magnet *mag;
	const char *root;
	struct bt_session_opts so;
	unsigned timeout;
	struct bt_metainfo *mi;
	struct cache *cache;
	struct bt_session *session;
};

static int late_resolve(void *arg, const bool *cancel,
			const struct bt_metainfo **mi, struct cache **cache,
			struct bt_session **session)
{
	struct late *l = arg;
	const char *who = l->mag->name ? l->mag->name : l->mag->info_hash_hex;
	uint8_t *tb = NULL;
	size_t tl = 0;
	bool cached;
	char err[1024];
	int e = fs_magnet_metainfo_cancel(l->mag, l->root, &l->so, l->timeout,
					  false, cancel, &l->mi, &tb, &tl,
					  &cached, err, sizeof(err));
	if (e < 0) {
		if (e != -ECANCELED)
			pfs_log(PFS_LOG_ERROR, "magnet", "%s: %s", who, err);
		return e;
	}
	if (bt_seal_is_sealed(l->mi)) {
		pfs_log(PFS_LOG_ERROR, "magnet", "%s: a sealed share: mount it "
			"without --no-wait", who);
		free(tb);
		return -EOPNOTSUPP;
	}
	l->cache = cache_open(l->root, l->mi->info_hash_hex, l->mi->npieces,
			      l->mi->piece_length, l->mi->total_length, &e);
	if (!l->cache) {
		pfs_log(PFS_LOG_ERROR, "magnet", "%s: cannot open the cache: %s",
			l->root, strerror(-e));
		free(tb);
		return e;
	}
	if ((e = cache_store_save(cache_dir(l->cache), CACHE_STORE_TORRENT, tb,
				  tl)) < 0)
		pfs_log(PFS_LOG_WARN, "cache", "cannot keep the metadata in "
			"'%s': %s", cache_dir(l->cache), strerror(-e));
	free(tb);
	if (l->m->cache_size) {
		uint64_t min = 2ull * l->mi->piece_length;
		if ((e = cache_set_limit(l->cache, l->m->cache_size < min
							? min
							: l->m->cache_size)) < 0)
			pfs_log(PFS_LOG_WARN, "cache", "cannot shrink the cache "
				"to --cache-size: %s", strerror(-e));
	}
	if (!(l->session = bt_session_new(l->mi, l->cache, &l->so, &e))) {
		pfs_log(PFS_LOG_ERROR, "magnet", "%s: cannot start the engine: "
			"%s", who, strerror(-e));
		return e;
	}
	*mi = l->mi;
	*cache = l->cache;
	*session = l->session;
	return 0;
}

static int cmd_mount(int argc, char **argv)
{
	struct fs_cli_mount m;
	struct bt_metainfo *mi = NULL;
	struct cache *cache = NULL;
	struct bt_session *session = NULL;
	struct fs *fs = NULL;
	struct fs_seal_ctx sx = {0};
	struct fs_syslog *sl = NULL;
	struct bt_magnet *mag = NULL;
	struct late late = {0};
	uint8_t *tbytes = NULL; /* a magnet's .torrent, for the cache */
	size_t tlen = 0;
	bool sealed = false;
	char *mnt = NULL, *root = NULL, *tpath = NULL, *kept = NULL;
	char err[1024];
	int e, status = 1;

	if (fs_cli_parse_mount(argc, argv, &m, err, sizeof(err)) < 0) {
		status = usage_error("mount", err[0] ? err : "out of memory");
		goto out;
	}
	if (m.help) {
		printf("usage:\n%s", usage_mount);
		status = 0;
		goto out;
	}
	pfs_log_set_level(m.debug ? PFS_LOG_DEBUG
			  : m.eng.verbose >= 2 ? PFS_LOG_DEBUG
			  : m.eng.verbose == 1 ? PFS_LOG_INFO
					   : PFS_LOG_WARN);
	if (m.eng.log_file && (e = pfs_log_open(m.eng.log_file)) < 0) {
		fs_cli_error("%s: %s", m.eng.log_file, strerror(-e));
		goto out;
	}
	fuse_set_log_func(fuse_log_cb);

	/* The torrent first: a bad one is refused before anything else (a
	 * magnet link is parsed now, resolved once the cache is known). */
	if (bt_magnet_is_link(m.torrent)) {
		if ((e = bt_magnet_parse(m.torrent, &mag, err, sizeof(err))) <
		    0) {
			fs_cli_error("%s: %s", m.torrent, err);
			status = e == -ENOMEM ? 1 : EXIT_USAGE;
			goto out;
		}
		if (fs_magnet_add_peers(mag, &m.eng.peers, &m.eng.npeers,
					&m.eng.resolved, &m.eng.nresolved) <
		    0) {
			fs_cli_error("%s", strerror(ENOMEM));
			goto out;
		}
	} else {
		if ((e = fs_cli_load_torrent(m.torrent, &mi, err,
					     sizeof(err))) < 0) {
			fs_cli_error("%s", err);
			status = e == -ENOMEM ? 1 : EXIT_USAGE;
			goto out;
		}
		if ((status = check_sealed(&m, mi, m.torrent, &sx, &sealed)) !=
		    0)
			goto out;
		status = 1;
		tpath = realpath(m.torrent, NULL);
	}
	if ((status = check_mountpoint(m.mountpoint, m.nonempty, &mnt)) != 0)
		goto out;
	status = 1;
	if ((e = check_fuse(m.fuse_opts)) != 0) {
		status = e;
		goto out;
	}
	if (fs_cli_resolve_peers(&m.eng, err, sizeof(err)) < 0) {
		fs_cli_error("%s", err);
		status = EXIT_USAGE;
		goto out;
	}

	/* the daemon changes to "/": keep every path absolute */
	if (m.eng.cache_dir) {
		root = absolute(m.eng.cache_dir);
	} else {
		char buf[PATH_MAX];
		if ((e = cache_default_root(buf, sizeof(buf))) < 0) {
			fs_cli_error("no cache folder: set XDG_CACHE_HOME or "
				     "HOME, or use --cache");
			goto out;
		}
		root = absolute(buf);
	}
	if (!root) {
		fs_cli_error("%s", strerror(errno));
		goto out;
	}
	struct bt_session_opts so;
	fs_cli_session_opts(&m.eng, &so);
	so.fetch_all = m.fetch_all;
	so.dht_state_dir = root;
	char kpath[PATH_MAX];
	if (mag && m.no_wait && mag->has_key) {
		fs_cli_error("%s: --no-wait is not for a sealed share's link",
			     m.torrent);
		status = EXIT_USAGE;
		goto out;
	}
	if (mag && m.no_wait &&
	    (snprintf(kpath, sizeof(kpath), "%s/%s/%s", root,
		      mag->info_hash_hex, CACHE_STORE_TORRENT) >=
		     (int)sizeof(kpath) ||
	     access(kpath, R_OK) < 0)) {
		/* not known yet: the mount goes live now, the metadata
		 * comes in the background */
		late.m = &m;
		late.mag = mag;
		late.root = root;
		late.so = so;
		late.timeout = m.metadata_timeout ? m.metadata_timeout
						  : FS_MAGNET_TIMEOUT;
		tpath = strdup(kpath);
		goto mount;
	}
	if (mag) {
		bool cached = false;
		e = fs_magnet_metainfo(mag, root, &so,
				       m.metadata_timeout ? m.metadata_timeout
							  : FS_MAGNET_TIMEOUT,
				       isatty(STDERR_FILENO), &mi, &tbytes,
				       &tlen, &cached, err, sizeof(err));
		if (e < 0) {
			fs_cli_error("%s: %s", mag->name ? mag->name
						       : mag->info_hash_hex,
				     err);
			status = e == -EINVAL ? EXIT_USAGE : 1;
			goto out;
		}
		if (asprintf(&kept, "%s/%s/%s", root, mi->info_hash_hex,
			     CACHE_STORE_TORRENT) < 0) {
			kept = NULL;
			goto out;
		}
		if (mag->has_key) { /* a sealed share link: the key is ours */
			memcpy(sx.key, mag->key, sizeof(sx.key));
			sx.have_key = true;
		}
		if ((status = check_sealed(&m, mi, kept, &sx, &sealed)) != 0)
			goto out;
		status = 1;
		tpath = strdup(kept);
	}
	cache = cache_open(root, mi->info_hash_hex, mi->npieces,
			   mi->piece_length, mi->total_length, &e);
	if (!cache) {
		if (e == -EBUSY)
			busy_error(mi, root);
		else
			fs_cli_error("%s: cannot open the cache: %s", root,
				     strerror(-e));
		goto out;
	}
	if (m.cache_size) {
		if (m.cache_size < 2ull * mi->piece_length) {
			char h[32];
			fs_cli_human_size(2ull * mi->piece_length, h, sizeof(h));
			fs_cli_error("--cache-size: at least 2 pieces (%s) for "
				     "this torrent", h);
			status = EXIT_USAGE;
			goto out;
		}
		if ((e = cache_set_limit(cache, m.cache_size)) < 0)
			fs_cli_error("%s: cannot shrink the cache to "
				     "--cache-size: %s", cache_dir(cache),
				     strerror(-e));
	}
	/* for `p2pfs cache ls` (its name) and later runs (a magnet's next
	 * mount, offline too); not vital */
	if (!mag)
		fs_cache_remember(cache_dir(cache), m.torrent);
	else if ((e = cache_store_save(cache_dir(cache), CACHE_STORE_TORRENT,
				       tbytes, tlen)) < 0)
		pfs_log(PFS_LOG_WARN, "cache", "cannot keep the metadata in "
			"'%s': %s", cache_dir(cache), strerror(-e));
	pfs_log(PFS_LOG_INFO, "main", "cache of '%s' in '%s': %u of %u pieces",
		mi->name, cache_dir(cache), cache_count(cache), mi->npieces);

	if (sealed && (status = open_sealed(&m, mi, kept ? kept : m.torrent,
					    cache, &so, &sx)) != 0)
		goto out;
	status = 1;
	if (!(session = bt_session_new(mi, cache, &so, &e))) {
		status = fs_cli_session_error(&m.eng, e);
		goto out;
	}
mount:
	/* In the background the log goes to syslog, unless --log: connected
	 * now, so a missing syslog is said while there is a terminal. */
	if (!m.foreground && !m.eng.log_file &&
	    !(sl = fs_syslog_new(NULL, &e)))
		fprintf(stderr, "p2pfs: warning: no system log at %s (%s): the "
			"daemon's messages are lost; --log FILE keeps them\n",
			fs_syslog_path(), strerror(-e));

	mode_t um = umask(022);
	umask(um);
	struct fs_opts fo = {
		.mountpoint = mnt,
		.fuse_opts = m.fuse_opts,
		.torrent_path = tpath ? tpath : m.torrent,
		.foreground = m.foreground,
		.debug = m.debug,
		.seed_after = m.seed_after,
		.seal = sx.seal,
		.decrypt = sx.ctr,
		.read_timeout = m.read_timeout,
		.uid = m.set_uid ? m.uid : (uint32_t)getuid(),
		.gid = m.set_gid ? m.gid : (uint32_t)getgid(),
		.umask = m.set_umask ? m.umask : (uint32_t)um,
		.syslog = sl,
		.ctl = true,
		.mounted = fuse_mounted,
		.resolve = late.mag ? late_resolve : NULL,
		.resolve_arg = &late,
		.resolve_timeout = late.timeout,
		.resolve_name = late.mag ? (late.mag->name ? late.mag->name
						: late.mag->info_hash_hex)
					 : NULL,
	};
	if (!(fs = fs_new(sx.view ? sx.view : mi, cache, session, &fo))) {
		fs_cli_error("%s: cannot set up the file system", m.torrent);
		goto out;
	}
	fuse_hold(true);
	e = fs_run(fs);
	fuse_hold(false);
	if (e == -EINVAL) {
		fs_cli_error("bad FUSE options '%s'%s%s",
			     m.fuse_opts ? m.fuse_opts : "",
			     fuse_held[0] ? ": " : "", fuse_held);
		status = EXIT_USAGE;
	} else if (e < 0) {
		fs_cli_error("%s: cannot mount: %s", mnt,
			     fuse_held[0] ? fuse_held : strerror(-e));
	} else {
		status = 0;
	}
out:
	fs_free(fs);
	bt_session_free(session);
	if (cache)
		cache_close(cache);
	bt_session_free(late.session);
	if (late.cache)
		cache_close(late.cache);
	bt_metainfo_free(late.mi);
	fs_seal_release(&sx);
	bt_metainfo_free(mi);
	bt_magnet_free(mag);
	free(tbytes);
	free(kept);
	free(mnt);
	free(root);
	free(tpath);
	fs_cli_mount_release(&m);
	pfs_log_set_sink(NULL, NULL);
	fs_syslog_free(sl);
	pfs_log_close();
	return status;
}

/* ---- umount ---- */

/* Wait up to MS milliseconds for process PID to exit. */
static bool wait_exit(pid_t pid, int ms)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r;
		while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
			;
		close(fd);
		return r > 0;
	}
	if (errno == ESRCH)
		return true;
#endif
	/* no pidfd: look every 20 ms */
	for (int t = 0; t < ms; t += 20) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static int run_fusermount(const char *mnt)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *const args[] = {"fusermount3", "-u", "-z", "--",
				      (char *)mnt, NULL};
		execvp(args[0], args);
		fprintf(stderr, "p2pfs: cannot run fusermount3: %s\n",
			strerror(errno));
		_exit(127);
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : -EIO;
}

static int cmd_umount(int argc, char **argv)
{
	const char *arg = NULL;
	char err[256], dev[64], type[64];
	int rc = fs_cli_parse_one(argc, argv, &arg, err, sizeof(err));
	if (rc < 0)
		return usage_error("umount", err);
	if (rc == 1) {
		printf("usage:\n%s", usage_umount);
		return 0;
	}
	int status = 1;
	char *mnt = mount_path(arg), *table = NULL;
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (!mnt || fd < 0 || !(table = fs_mountinfo_read(fd))) {
		fprintf(stderr, "p2pfs: %s: %s\n", arg, strerror(errno));
		goto out;
	}
	if (fs_mountinfo_find(table, mnt, dev, sizeof(dev), type,
			      sizeof(type)) < 0 ||
	    strcmp(type, "fuse.p2pfs")) {
		fprintf(stderr, "p2pfs: %s: not a p2pfs mount\n", arg);
		goto out;
	}

	/* The daemon's pid, from the root's xattr; a dead daemon has none
	 * (ENOTCONN) and there is nothing to wait for. */
	pid_t pid = 0;
	char val[32];
	ssize_t n = getxattr(mnt, "user.p2pfs.pid", val, sizeof(val) - 1);
	if (n > 0) {
		val[n] = '\0';
		pid = (pid_t)strtol(val, NULL, 10);
	}
	/* a --seed-after daemon outlives its mount: do not wait for it */
	bool seeds = getxattr(mnt, "user.p2pfs.seed_after", val,
			      sizeof(val) - 1) > 0;
	if ((rc = run_fusermount(mnt)) < 0) {
		fprintf(stderr, "p2pfs: %s: fusermount3 -u -z failed\n", arg);
		goto out;
	}
	if (seeds && pid > 0) {
		fprintf(stderr, "p2pfs: %s: unmounted; process %ld keeps seeding "
			"until it gets SIGTERM\n", arg, (long)pid);
		status = 0;
		goto out;
	}
	if (pid > 0 && !wait_exit(pid, UMOUNT_WAIT_MS)) {
		fprintf(stderr, "p2pfs: %s: unmounted, but daemon %ld has not "
			"exited after %d s\n", arg, (long)pid, UMOUNT_WAIT_MS / 1000);
		goto out;
	}
	status = 0;
out:
	if (fd >= 0)
		close(fd);
	free(table);
	free(mnt);
	return status;
}

/* ---- info ---- */

static void print_size(const char *label, uint64_t n)
{
	char h[32];
	fs_cli_human_size(n, h, sizeof(h));
	printf("%-14s %s (%" PRIu64 " bytes)\n", label, h, n);
}

/* The tree depth-first, two spaces a level, folders with a '/'. */
static int print_tree(const struct fs_tree *t)
{
	struct frame {
		const struct fs_node *d;
		uint32_t next;
	} *stack = NULL;
	size_t depth = 0, cap = 0;
	int rc = 0;
	const struct fs_node *node = fs_tree_get(t, FS_ROOT_INO + 1);
	for (;;) {
		if (node) {
			char h[32];
			printf("  %*s%s", (int)(2 * depth), "", node->name);
			if (node->dir) {
				printf("/\n");
				if (depth == cap) {
					cap = cap ? 2 * cap : 16;
					struct frame *s = realloc(stack, cap * sizeof(*s));
					if (!s) {
						rc = -ENOMEM;
						break;
					}
					stack = s;
				}
				stack[depth++] = (struct frame){node, 0};
			} else {
				fs_cli_human_size(node->size, h, sizeof(h));
				printf("  %s (%" PRIu64 " bytes)\n", h, node->size);
			}
		}
		node = NULL;
		while (depth && stack[depth - 1].next == stack[depth - 1].d->nchildren)
			depth--;
		if (!depth)
			break;
		struct frame *f = &stack[depth - 1];
		node = fs_tree_get(t, f->d->first + f->next++);
	}
	free(stack);
	return rc;
}

/* Write LEN bytes of BUF to PATH (PATH.tmp, then renamed). */
static int write_file(const char *path, const void *buf, size_t len)
{
	char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	FILE *f = fopen(tmp, "wb");
	int rc = 0;
	if (!f)
		rc = -errno;
	else if (fwrite(buf, 1, len, f) != len)
		rc = -EIO;
	if (f && fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

enum {
	INFO_TIMEOUT = 1000,
	INFO_PEER,
	INFO_PORT,
	INFO_BIND,
	INFO_CACHE,
	INFO_DHT_BOOT,
	INFO_NO_DHT,
};

/* `p2pfs info`'s command line into PATH, OUT, the engine options (for a
 * magnet link) and TIMEOUT. 1: --help. */
static int parse_info(int argc, char **argv, const char **path,
		      const char **out, struct fs_cli_engine *eng,
		      unsigned *timeout, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"metadata-timeout", required_argument, NULL, INFO_TIMEOUT},
		{"peer", required_argument, NULL, INFO_PEER},
		{"port", required_argument, NULL, INFO_PORT},
		{"bind", required_argument, NULL, INFO_BIND},
		{"cache", required_argument, NULL, INFO_CACHE},
		{"dht-bootstrap", required_argument, NULL, INFO_DHT_BOOT},
		{"no-dht", no_argument, NULL, INFO_NO_DHT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	bool help = false;
	char *end;
	unsigned long v;
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			help = true;
			break;
		case 'o':
			*out = optarg;
			break;
		case INFO_TIMEOUT:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 ||
			    v > 86400) {
				snprintf(err, errlen, "bad metadata timeout "
					 "'%s' (want 1..86400 seconds)", optarg);
				return -EINVAL;
			}
			*timeout = (unsigned)v;
			break;
		case INFO_PEER: {
			const char **np = realloc(
			    eng->peers, (eng->npeers + 1) * sizeof(*np));
			if (!np)
				return -ENOMEM;
			eng->peers = np;
			np[eng->npeers++] = optarg;
			break;
		}
		case INFO_PORT:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v > 65535) {
				snprintf(err, errlen, "bad port '%s'", optarg);
				return -EINVAL;
			}
			eng->port = (uint16_t)v;
			break;
		case INFO_BIND:
			eng->bind_ip = optarg;
			break;
		case INFO_CACHE:
			eng->cache_dir = optarg;
			break;
		case INFO_DHT_BOOT: { /* a bare link's metadata: the DHT */
			const char **np =
			    realloc(eng->dht_bootstrap,
				    (eng->ndht_bootstrap + 1) * sizeof(*np));
			if (!np)
				return -ENOMEM;
			eng->dht_bootstrap = np;
			np[eng->ndht_bootstrap++] = optarg;
			break;
		}
		case INFO_NO_DHT:
			eng->no_dht = true;
			break;
		case ':':
			snprintf(err, errlen, "option '%s' needs a value",
				 argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s'",
				 argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (help)
		return 1;
	if (argc - optind != 1) {
		snprintf(err, errlen, "%s", argc - optind < 1
			 ? "missing operand" : "too many arguments");
		return -EINVAL;
	}
	*path = argv[optind];
	return 0;
}

/* The metainfo of magnet link PATH (cache or swarm); *TORRENT its
 * .torrent. Returns 0 or the exit status, with one line said. */
static int info_magnet(const char *path, struct fs_cli_engine *eng,
		       unsigned timeout, struct bt_metainfo **mi,
		       uint8_t **torrent, size_t *tlen)
{
	struct bt_magnet *mag = NULL;
	char err[1024], buf[PATH_MAX];
	char *root = NULL;
	bool cached;
	int e, status = EXIT_USAGE;
	if ((e = bt_magnet_parse(path, &mag, err, sizeof(err))) < 0) {
		fs_cli_error("%s: %s", path, err);
		return e == -ENOMEM ? 1 : EXIT_USAGE;
	}
	snprintf(err, sizeof(err), "%s", strerror(ENOMEM));
	if (fs_magnet_add_peers(mag, &eng->peers, &eng->npeers,
				&eng->resolved, &eng->nresolved) < 0 ||
	    fs_cli_resolve_peers(eng, err, sizeof(err)) < 0) {
		fs_cli_error("%s", err);
		goto out;
	}
	if (eng->cache_dir)
		root = absolute(eng->cache_dir);
	else if (cache_default_root(buf, sizeof(buf)) == 0)
		root = absolute(buf);
	struct bt_session_opts so;
	fs_cli_session_opts(eng, &so);
	so.dht_state_dir = root;
	status = 1;
	e = fs_magnet_metainfo(mag, root, &so, timeout ? timeout
						       : FS_MAGNET_TIMEOUT,
			       isatty(STDERR_FILENO), mi, torrent, tlen,
			       &cached, err, sizeof(err));
	if (e < 0) {
		fs_cli_error("%s: %s", mag->name ? mag->name
						 : mag->info_hash_hex, err);
		status = e == -EINVAL ? EXIT_USAGE : 1;
		goto out;
	}
	status = 0;
out:
	free(root);
	bt_magnet_free(mag);
	return status;
}

static int cmd_info(int argc, char **argv)
{
	const char *path = NULL, *outp = NULL;
	char err[512];
	struct bt_metainfo *mi = NULL;
	struct fs_tree *t = NULL;
	struct fs_cli_mount eng = {0}; /* its eng only, for the release */
	uint8_t *tbytes = NULL;
	size_t tlen = 0;
	unsigned timeout = 0;
	int status = 1, e;
	int rc = parse_info(argc, argv, &path, &outp, &eng.eng, &timeout, err,
			    sizeof(err));
	if (rc < 0) {
		fs_cli_mount_release(&eng);
		return rc == -ENOMEM ? 1 : usage_error("info", err);
	}
	if (rc == 1) {
		fs_cli_mount_release(&eng);
		printf("usage:\n%s", usage_info);
		return 0;
	}
	if (bt_magnet_is_link(path)) {
		status = info_magnet(path, &eng.eng, timeout, &mi, &tbytes,
				     &tlen);
		fs_cli_mount_release(&eng);
		if (status != 0)
			return status;
		status = 1;
	} else {
		fs_cli_mount_release(&eng);
		if ((e = fs_cli_load_torrent(path, &mi, err, sizeof(err))) <
		    0) {
			fs_cli_error("%s", err);
			return e == -ENOMEM ? 1 : EXIT_USAGE;
		}
	}
	if (outp) {
		struct bt_benc b;
		bt_benc_init(&b);
		if (!tbytes &&
		    fs_magnet_torrent(mi->info_raw, mi->info_len,
				      (const char *const *)mi->trackers,
				      mi->ntrackers, &b) == 0) {
			tbytes = b.buf;
			tlen = b.len;
			b.buf = NULL;
		}
		bt_benc_release(&b);
		if (!tbytes || (e = write_file(outp, tbytes, tlen)) < 0) {
			fs_cli_error("%s: %s", outp,
				     strerror(tbytes ? -e : ENOMEM));
			goto out;
		}
	}
	if (!(t = fs_tree_new(mi, &e))) {
		fprintf(stderr, "p2pfs: %s: %s\n", path, strerror(-e));
		status = e == -ENOMEM ? 1 : EXIT_USAGE;
		goto out;
	}
	size_t nfiles = 0;
	for (size_t i = 0; i < mi->nfiles; i++)
		nfiles += !mi->files[i].pad;

	printf("%-14s %s\n", "name:", mi->name);
	printf("%-14s %s\n", "info-hash:", mi->info_hash_hex);
	print_size("piece size:", mi->piece_length);
	printf("%-14s %" PRIu32 "\n", "pieces:", mi->npieces);
	print_size("total size:", mi->total_length);
	printf("%-14s %zu\n", "files:", nfiles);
	printf("%-14s %s\n", "private:", mi->private_flag ? "yes" : "no");
	if (fs_seal_is_sealed(mi, path))
		printf("%-14s %s\n", "sealed:", "yes: its files open with its "
		       "key (mount or seed it with --key-file)");
	if (mi->created_by)
		printf("%-14s %s\n", "created by:", mi->created_by);
	if (mi->creation_date > 0) {
		time_t when = (time_t)mi->creation_date;
		struct tm tm;
		char buf[64];
		if (gmtime_r(&when, &tm) &&
		    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm))
			printf("%-14s %s\n", "created:", buf);
	}
	if (mi->comment)
		printf("%-14s %s\n", "comment:", mi->comment);
	if (!mi->ntrackers)
		printf("%-14s %s\n", "trackers:", "none");
	else
		printf("trackers:\n");
	for (size_t i = 0; i < mi->ntrackers; i++)
		printf("  %s\n", mi->trackers[i]);
	char *magnet = fs_cli_magnet(mi->info_hash, mi->name,
				     (const char *const *)mi->trackers,
				     mi->ntrackers);
	if (!magnet) {
		fprintf(stderr, "p2pfs: %s\n", strerror(ENOMEM));
		goto out;
	}
	printf("%-14s %s\n", "magnet:", magnet);
	free(magnet);
	printf("tree:\n");
	if (print_tree(t) < 0) {
		fprintf(stderr, "p2pfs: %s\n", strerror(ENOMEM));
		goto out;
	}
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	fs_tree_free(t);
	bt_metainfo_free(mi);
	free(tbytes);
	return status;
}

int main(int argc, char **argv)
{
	/* a peer or tracker that closes its end while we write must give
	 * EPIPE, not kill the process (libevent writes with writev) */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage_error(NULL, "missing command");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "mount"))
		return cmd_mount(argc - 1, argv + 1);
	if (!strcmp(cmd, "umount"))
		return cmd_umount(argc - 1, argv + 1);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(cmd, "create"))
		return fs_cmd_create(argc - 1, argv + 1);
	if (!strcmp(cmd, "seed"))
		return fs_cmd_seed(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return fs_cmd_status(argc - 1, argv + 1);
	if (!strcmp(cmd, "cache"))
		return fs_cmd_cache(argc - 1, argv + 1);
	if (!strcmp(cmd, "ls"))
		return fs_cmd_ls(argc - 1, argv + 1);
	if (!strcmp(cmd, "stop"))
		return fs_cmd_stop(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") ||
	    !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("p2pfs %s\n", PFS_VERSION);
		return 0;
	}
	char msg[300];
	snprintf(msg, sizeof(msg), "unknown command '%.200s'", cmd);
	return usage_error(NULL, msg);
}
