/* fs_seed — `p2pfs seed FILE.torrent PATH`: verify data already on disk
 * against a torrent and serve it to the swarm, read-only, straight from
 * PATH (nothing is copied into the cache, nothing is written under PATH).
 *
 * How it is built:
 * - PATH is the file of a single-file torrent, or the top folder of a
 *   multi-file one (mktorrent's convention: `seed trip.torrent ~/Trip`).
 *   The parent is accepted too: a folder that holds the single file under
 *   the torrent's name, or whose entry named like the torrent holds more of
 *   its files than PATH itself does.
 * - cache_open_files() maps the torrent's byte stream onto those files;
 *   cache_files_verify() hashes every piece on one thread per CPU, with a
 *   progress line on stderr when it is a terminal. The verified map stays
 *   in memory, and is saved under the cache root (ROOT/seed/, see
 *   state_save) with a fingerprint of the files, so a restart over
 *   unchanged files hashes nothing again. Nothing is written under PATH.
 * - Any mismatch (missing file, wrong size, not a regular file, pieces
 *   failing their hash) is listed file by file; then seed refuses (exit
 *   status 2) unless --partial, which seeds the pieces that verified. A
 *   piece that fails is blamed on the files under it that are missing or of
 *   the wrong size, or, when they all look right, on all of them.
 * - Then bt_session_new() binds the port (errors still on the terminal),
 *   the process daemonises unless -f (the parent exits once the child's
 *   engine and control channel run, with its status, printing the child's
 *   pid), the engine starts with the stop signals blocked, and the main
 *   thread sigwait()s for SIGINT/SIGTERM/SIGHUP/SIGQUIT (`p2pfs stop`
 *   sends SIGTERM through the control channel); bt_session_stop() then
 *   announces "stopped". In the background the log goes to syslog unless
 *   --log.
 * - The engine never downloads here: the picker only fetches pieces that
 *   readers want (fetch-all is off), and nothing reads.
 * - A sealed share (bt_seal.h) with --key-file: the header copy in the
 *   torrent is opened with the key, and its file table (the view) takes
 *   the place of the torrent's file list for everything above; the store
 *   is a segments one (the header bytes, then each plaintext file and its
 *   padding, encrypted on the fly), so verifying encrypts and hashes and
 *   the swarm gets the very ciphertext `create --seal` hashed. Without a
 *   key the blob itself (a full download of it) seeds as any torrent. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bt_metainfo.h"
#include "bt_session.h"
#include "cache.h"
#include "fs_cli.h"
#include "fs_cmd.h"
#include "fs_ctl.h"
#include "fs_daemon.h"
#include "fs_seal.h"
#include "fs_syslog.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define EXIT_USAGE 2

const char fs_cmd_seed_usage[] =
	"  p2pfs seed [-f] [--port N] [--bind IP] [--peer HOST:PORT]...\n"
	"             [--no-trackers] [--no-lsd] [--max-peers N] [--max-up RATE]\n"
	"             [--max-down RATE] [--encryption prefer|require|off]\n"
	"             [--partial] [--recheck]\n"
	"             [--threads N] [--cache DIR] [--key-file F] [-v|-vv]\n"
	"             [--log FILE] [--no-dht] [--dht-bootstrap HOST:PORT]...\n"
	"             FILE.torrent PATH\n"
	"      Check the data at PATH against the torrent, then seed it from\n"
	"      PATH itself (read-only, nothing is copied or written there);\n"
	"      goes to the background once the data is checked and the port\n"
	"      is bound, printing its pid ('p2pfs ls' lists it, 'p2pfs stop'\n"
	"      stops it; it logs to syslog unless --log).\n"
	"      PATH is the file of a single-file torrent or the top folder of\n"
	"      a multi-file one (its parent folder works too). Stops on\n"
	"      SIGINT/SIGTERM. If any file is missing, of the wrong size or\n"
	"      has bad pieces, they are listed and nothing is seeded (status 2).\n"
	"      Verified pieces are remembered in the cache folder and not\n"
	"      hashed again while the files stay unchanged.\n"
	"      -f, --foreground   stay in the foreground\n"
	FS_CLI_ENGINE_USAGE
	"      --partial          seed the pieces that verify even when some\n"
	"                         files do not match\n"
	"      --recheck          hash everything, even files unchanged since\n"
	"                         they were last verified\n"
	"      --threads N        hashing threads (default: one per CPU)\n"
	"      --cache DIR        cache root, where verified pieces are\n"
	"                         remembered (default as for mount)\n"
	"      --key-file F       a sealed share: seed it from its plaintext\n"
	"                         folder PATH, encrypting on the fly; F holds\n"
	"                         the share link or the key (without it, PATH\n"
	"                         must be the sealed blob itself)\n"
	"      -v, --verbose      log more (-v info, -vv debug)\n"
	"      --log FILE         append the log to FILE (instead of stderr in\n"
	"                         the foreground, syslog in the background)\n";

#define SEED_LIST_MAX 100 /* bad files listed, unless -v */

enum file_state {
	FILE_OK,
	FILE_MISSING,
	FILE_NOT_REG,
	FILE_SIZE,
	FILE_UNREADABLE
};

/* The layout of the data: BASE is the folder the torrent's files are
 * relative to; REL[i] is file i's path under it (pad files: NULL). */
struct layout {
	char *base;
	char **rel;
	size_t n;
	bool parent; /* PATH was the parent of the data */
};

static void layout_release(struct layout *l)
{
	for (size_t i = 0; l->rel && i < l->n; i++)
		free(l->rel[i]);
	free(l->rel);
	free(l->base);
	memset(l, 0, sizeof(*l));
}

/* How many of the torrent's non-empty files exist under DIR. */
static size_t count_present(const struct bt_metainfo *mi, const char *dir)
{
	size_t n = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (size_t i = 0; i < mi->nfiles; i++) {
		struct stat st;
		if (!mi->files[i].pad && mi->files[i].length &&
		    fstatat(fd, mi->files[i].path, &st, 0) == 0)
			n++;
	}
	close(fd);
	return n;
}

/* PATH made absolute without resolving it (it may not exist yet). */
static char *absolute_path(const char *path)
{
	char *cwd, *out;
	if (path[0] == '/')
		return strdup(path);
	if (!(cwd = getcwd(NULL, 0)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		out = NULL;
	free(cwd);
	return out;
}

static char *join(const char *a, const char *b)
{
	char *out;
	if (asprintf(&out, "%s%s%s", a, strcmp(a, "/") ? "/" : "", b) < 0)
		return NULL;
	return out;
}

/* Work out where the files are. Returns 0, or -errno with a message
 * printed (stat errors, a file where a folder is needed). */
static int layout_resolve(const struct bt_metainfo *mi, const char *path,
			  struct layout *l)
{
	struct stat st;
	char *abs = realpath(path, NULL);
	int e = 0;
	memset(l, 0, sizeof(*l));
	if (!abs || stat(abs, &st) < 0) {
		e = -errno;
		fprintf(stderr, "p2pfs: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!(l->rel = calloc(mi->nfiles, sizeof(*l->rel)))) {
		e = -ENOMEM;
		goto out;
	}
	l->n = mi->nfiles;
	if (!mi->multi_file) {
		/* the one real file (a sealed share's view pads around it) */
		size_t one = 0;
		while (one + 1 < mi->nfiles && mi->files[one].pad)
			one++;
		if (S_ISDIR(st.st_mode)) {
			/* the folder that holds the file under its name */
			l->base = abs;
			abs = NULL;
			l->rel[one] = strdup(mi->files[one].path);
			l->parent = true;
		} else {
			/* the file itself, whatever it is called now */
			char *slash = strrchr(abs, '/');
			l->rel[one] = strdup(slash + 1);
			*slash = '\0';
			l->base = strdup(slash == abs ? "/" : abs);
		}
		if (!l->rel[one] || !l->base)
			e = -ENOMEM;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		e = -ENOTDIR;
		fprintf(stderr,
			"p2pfs: %s: the torrent has several files: "
			"give the folder that holds them\n",
			path);
		goto out;
	}
	/* ~/Trip itself, or ~ holding Trip/ */
	char *sub = join(abs, mi->name);
	if (!sub) {
		e = -ENOMEM;
		goto out;
	}
	const char *slash = strrchr(abs, '/');
	if (strcmp(slash + 1, mi->name) != 0 && stat(sub, &st) == 0 &&
	    S_ISDIR(st.st_mode) &&
	    count_present(mi, sub) > count_present(mi, abs)) {
		l->base = sub;
		l->parent = true;
	} else {
		free(sub);
		l->base = abs;
		abs = NULL;
	}
	for (size_t i = 0; i < mi->nfiles; i++)
		if (!mi->files[i].pad &&
		    !(l->rel[i] = strdup(mi->files[i].path))) {
			e = -ENOMEM;
			goto out;
		}
out:
	free(abs);
	if (e < 0)
		layout_release(l);
	return e;
}

/* ---- progress ---- */

struct progress {
	struct timespec t0;
	bool tty;
	bool shown;
};

static double secs_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	       (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress_cb(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	if (!p->tty)
		return;
	char a[32], b[32];
	double s = secs_since(&p->t0);
	fs_cli_human_size(done, a, sizeof(a));
	fs_cli_human_size(total, b, sizeof(b));
	fprintf(stderr, "\rverifying: %5.1f%%  %s of %s  %.0f MB/s   ",
		total ? (double)done * 100.0 / (double)total : 100.0, a, b,
		s > 0 ? (double)done / s / 1e6 : 0.0);
	p->shown = true;
}

/* ---- the verdict ---- */

/* Check every file's presence and size; hash; list what does not match.
 * Returns the number of files that do not match, or -errno. */
static int verify(const struct bt_metainfo *mi, const struct layout *l,
		  struct cache *c, unsigned threads, bool list_all)
{
	enum file_state *state = calloc(mi->nfiles, sizeof(*state));
	uint64_t *size = calloc(mi->nfiles, sizeof(*size));
	uint32_t *blame = calloc(mi->nfiles, sizeof(*blame));
	int bad = 0, e;
	int dfd = open(l->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!state || !size || !blame || dfd < 0) {
		bad = dfd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < mi->nfiles; i++) {
		struct stat st;
		if (mi->files[i].pad || !mi->files[i].length)
			continue; /* zeros, or nothing to serve */
		if (fstatat(dfd, l->rel[i], &st, 0) < 0)
			state[i] = errno == ENOENT || errno == ENOTDIR
				       ? FILE_MISSING
				       : FILE_UNREADABLE;
		else if (!S_ISREG(st.st_mode))
			state[i] = FILE_NOT_REG;
		else if ((uint64_t)st.st_size != mi->files[i].length)
			state[i] = FILE_SIZE;
		size[i] = (uint64_t)st.st_size;
	}

	uint64_t todo = mi->total_length - cache_bytes_verified(c);
	struct progress pr = {.tty = isatty(STDERR_FILENO)};
	clock_gettime(CLOCK_MONOTONIC, &pr.t0);
	if ((e = cache_files_verify(c, mi->piece_hashes, threads, progress_cb,
				    &pr, 100)) < 0) {
		bad = e;
		goto out;
	}
	double secs = secs_since(&pr.t0);
	if (pr.shown)
		fputc('\n', stderr);
	pfs_log(PFS_LOG_INFO, "seed",
		"hashed %" PRIu64 " bytes in %.2f s "
		"(%.0f MB/s): %u of %u pieces verified",
		todo, secs, secs > 0 ? (double)todo / secs / 1e6 : 0.0,
		cache_count(c), mi->npieces);

	/* blame each failed piece on the files under it */
	size_t f = 0;
	for (uint32_t p = 0; p < mi->npieces; p++) {
		if (cache_has(c, p))
			continue;
		uint64_t a = (uint64_t)p * mi->piece_length;
		uint64_t b = a + bt_metainfo_piece_size(mi, p);
		while (f < mi->nfiles &&
		       mi->files[f].offset + mi->files[f].length <= a)
			f++;
		bool explained = false;
		size_t g;
		for (g = f; g < mi->nfiles && mi->files[g].offset < b; g++)
			explained |= state[g] != FILE_OK;
		for (size_t k = f; k < g; k++)
			if (!mi->files[k].pad && mi->files[k].length &&
			    (!explained || state[k] != FILE_OK))
				blame[k]++;
	}
	for (size_t i = 0; i < mi->nfiles; i++) {
		if (state[i] == FILE_OK && !blame[i])
			continue;
		if (!bad++)
			fprintf(stderr,
				"p2pfs: seed: '%s' does not match the "
				"torrent:\n",
				l->base);
		if (bad > SEED_LIST_MAX && !list_all)
			continue; /* counted, and summed up below */
		const char *r = l->rel[i];
		switch (state[i]) {
		case FILE_MISSING:
			fprintf(stderr, "  missing:      %s\n", r);
			break;
		case FILE_NOT_REG:
			fprintf(stderr, "  not a file:   %s\n", r);
			break;
		case FILE_UNREADABLE:
			fprintf(stderr, "  unreadable:   %s\n", r);
			break;
		case FILE_SIZE:
			fprintf(stderr,
				"  wrong size:   %s (%" PRIu64 " bytes, "
				"the torrent says %" PRIu64 ")\n",
				r, size[i], mi->files[i].length);
			break;
		case FILE_OK: {
			uint32_t first, last;
			bt_metainfo_range_pieces(mi, mi->files[i].offset,
						 mi->files[i].length, &first,
						 &last);
			fprintf(stderr,
				"  bad data:     %s (%u of %u pieces "
				"fail)\n",
				r, blame[i], last - first + 1);
			break;
		}
		}
	}
	if (bad > SEED_LIST_MAX && !list_all)
		fprintf(stderr, "  ... and %d more (-v lists them all)\n",
			bad - SEED_LIST_MAX);
out:
	if (dfd >= 0)
		close(dfd);
	free(state);
	free(size);
	free(blame);
	return bad;
}

/* ---- the saved verified map ----
 *
 * ROOT/seed/<info-hash>-<16 hex digits of SHA-256(base)>: the SHA-256
 * fingerprint of the files as they were when hashed (path, device, inode,
 * size, mtime and ctime of each), then the map in the cache's format. It is
 * trusted only while the files' fingerprint is the same: any write, even
 * one that puts the mtime back, changes a file's ctime. */

static int fingerprint(const struct bt_metainfo *mi, const struct layout *l,
		       uint8_t out[PFS_SHA256_LEN])
{
	size_t cap = 64 + strlen(l->base), len = 0;
	for (size_t i = 0; i < mi->nfiles; i++)
		cap += (l->rel[i] ? strlen(l->rel[i]) : 0) + 1 + 7 * 8;
	uint8_t *buf = malloc(cap);
	int dfd = open(l->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;
	if (!buf || dfd < 0) {
		e = dfd < 0 ? -errno : -ENOMEM;
		goto out;
	}
#define PUT(p, n) (memcpy(buf + len, (p), (n)), len += (n))
	PUT(mi->info_hash, 20);
	PUT(l->base, strlen(l->base) + 1);
	for (size_t i = 0; i < mi->nfiles; i++) {
		struct stat st;
		uint64_t v[7] = {0};
		if (!l->rel[i])
			continue;
		if (fstatat(dfd, l->rel[i], &st, 0) == 0)
			v[0] = st.st_dev, v[1] = st.st_ino,
			v[2] = (uint64_t)st.st_size,
			v[3] = (uint64_t)st.st_mtim.tv_sec,
			v[4] = (uint64_t)st.st_mtim.tv_nsec,
			v[5] = (uint64_t)st.st_ctim.tv_sec,
			v[6] = (uint64_t)st.st_ctim.tv_nsec;
		PUT(l->rel[i], strlen(l->rel[i]) + 1);
		PUT(v, sizeof(v));
	}
#undef PUT
	e = pfs_sha256(buf, len, out) < 0 ? -EIO : 0;
out:
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return e;
}

/* ROOT/seed/<info-hash>-<hash of BASE>, malloc'd, or NULL. */
static char *state_path(const char *root, const struct bt_metainfo *mi,
			const char *base)
{
	uint8_t h[PFS_SHA256_LEN];
	char hex[2 * PFS_SHA256_LEN + 1], *out;
	if (pfs_sha256(base, strlen(base), h) < 0)
		return NULL;
	pfs_hex(h, 8, hex);
	if (asprintf(&out, "%s/seed/%s-%s", root, mi->info_hash_hex, hex) < 0)
		return NULL;
	return out;
}

/* Trust the map saved at PATH if it was saved for fingerprint FP. Returns
 * the number of pieces taken from it (0 when none). */
static uint32_t state_load(const char *path, const uint8_t *fp,
			   const struct bt_metainfo *mi, struct cache *c,
			   time_t *when)
{
	size_t want = PFS_SHA256_LEN + cache_map_size(mi->npieces), got = 0;
	uint8_t *buf = malloc(want + 1);
	uint8_t *bm = calloc(1, (mi->npieces + 7) / 8);
	uint32_t n = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !buf || !bm || fstat(fd, &st) < 0)
		goto out;
	for (ssize_t r; got <= want; got += (size_t)r)
		if ((r = read(fd, buf + got, want + 1 - got)) <= 0)
			break;
	if (got != want || memcmp(buf, fp, PFS_SHA256_LEN) != 0 ||
	    cache_map_decode(buf + PFS_SHA256_LEN, want - PFS_SHA256_LEN,
			     mi->npieces, mi->piece_length, mi->total_length,
			     bm) < 0 ||
	    cache_files_trust(c, bm) < 0)
		goto out;
	n = cache_count(c);
	*when = st.st_mtime;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(bm);
	return n;
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		int e = mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
		*p = saved;
		if (e < 0)
			return e;
		if (!saved)
			return 0;
	}
}

/* Save C's map for fingerprint FP at PATH (written aside, then renamed:
 * a torn file is never read as a map). Returns 0 or -errno. */
static int state_save(const char *path, const uint8_t *fp,
		      const struct bt_metainfo *mi, struct cache *c)
{
	size_t len = PFS_SHA256_LEN + cache_map_size(mi->npieces);
	uint8_t *buf = malloc(len), *bm = calloc(1, (mi->npieces + 7) / 8);
	char *dir = strdup(path), *tmp = NULL;
	int e = -ENOMEM, fd = -1;
	if (!buf || !bm || !dir || asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		goto out;
	}
	*strrchr(dir, '/') = '\0';
	if ((e = mkdir_p(dir)) < 0)
		goto out;
	memcpy(buf, fp, PFS_SHA256_LEN);
	cache_bitfield(c, bm);
	if ((e = cache_map_encode(bm, mi->npieces, mi->piece_length,
				  mi->total_length, buf + PFS_SHA256_LEN,
				  len - PFS_SHA256_LEN)) < 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = -errno;
		goto out;
	}
	ssize_t w = write(fd, buf, len);
	e = w < 0 ? -errno : (size_t)w != len ? -EIO : 0;
	if (close(fd) < 0 && e == 0)
		e = -errno;
	fd = -1;
	if (e == 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0)
		unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(bm);
	free(dir);
	free(tmp);
	return e;
}

/* ---- the control channel ---- */

struct seed_ctl {
	const struct bt_metainfo *mi;
	struct bt_session *session;
	struct cache *cache;
	const char *path;    /* the data, as given, resolved */
	const char *torrent; /* the .torrent, resolved */
};

static int seed_ctl_handler(void *arg, enum fs_ctl_verb verb, char *out,
			    size_t cap)
{
	struct seed_ctl *sc = arg;
	if (verb == FS_CTL_INFO) {
		struct fs_ctl_info in = {.pid = (long)getpid()};
		snprintf(in.kind, sizeof(in.kind), "seed");
		in.port = bt_session_port(sc->session);
		snprintf(in.infohash, sizeof(in.infohash), "%s",
			 sc->mi->info_hash_hex);
		snprintf(in.name, sizeof(in.name), "%s", sc->mi->name);
		snprintf(in.path, sizeof(in.path), "%s", sc->path);
		snprintf(in.torrent, sizeof(in.torrent), "%s", sc->torrent);
		return (int)fs_ctl_info_format(&in, out, cap);
	}
	if (verb == FS_CTL_STOP) {
		pfs_log(PFS_LOG_INFO, "seed", "stopping: asked on the control "
			"channel");
		kill(getpid(), SIGTERM); /* the main thread's sigwait() */
		return 0;
	}
	return fs_ctl_session_text(sc->session, sc->cache, verb, out, cap);
}

int fs_cmd_seed(int argc, char **argv)
{
	struct fs_cli_seed m;
	struct bt_metainfo *torrent = NULL;
	const struct bt_metainfo *mi = NULL; /* its files, or a share's view */
	struct fs_seal_ctx sx = {0};
	struct cache_segment *segs = NULL;
	const char **paths = NULL;
	struct cache *c = NULL;
	struct cache_file *files = NULL;
	struct bt_session *session = NULL;
	struct layout l = {0};
	struct fs_syslog *sl = NULL;
	struct fs_ctl *ctl = NULL;
	char err[1024], *state = NULL, *dht_root = NULL, *rpath = NULL,
	     *rtorrent = NULL;
	int e, status = 1, notify = -1;

	if (fs_cli_parse_seed(argc, argv, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "p2pfs: seed: %s\n",
			err[0] ? err : strerror(ENOMEM));
		fprintf(stderr, "try 'p2pfs seed --help'\n");
		status = EXIT_USAGE;
		goto out;
	}
	if (m.help) {
		printf("usage:\n%s", fs_cmd_seed_usage);
		status = 0;
		goto out;
	}
	pfs_log_set_level(m.eng.verbose >= 2   ? PFS_LOG_DEBUG
			  : m.eng.verbose == 1 ? PFS_LOG_INFO
					   : PFS_LOG_WARN);
	if (m.eng.log_file && (e = pfs_log_open(m.eng.log_file)) < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", m.eng.log_file, strerror(-e));
		goto out;
	}

	if ((e = fs_cli_load_torrent(m.torrent, &torrent, err, sizeof(err))) < 0) {
		fs_cli_error("%s", err);
		status = e == -ENOMEM ? 1 : EXIT_USAGE;
		goto out;
	}
	mi = torrent;
	bool sealed = fs_seal_is_sealed(torrent, m.torrent);
	if (m.key_file && !sealed) {
		fprintf(stderr, "p2pfs: seed: %s is not a sealed share: "
			"--key-file is for sealed shares\n", m.torrent);
		status = EXIT_USAGE;
		goto out;
	}
	if (m.key_file) {
		uint8_t *copy = NULL;
		size_t clen = 0;
		uint64_t need;
		struct bt_seal *seal = NULL;
		if ((status = fs_seal_read_key(m.key_file, torrent, "seed",
					       sx.key)) != 0)
			goto out;
		status = 1;
		if ((e = fs_seal_torrent_copy(m.torrent, &copy, &clen)) < 0) {
			fprintf(stderr, "p2pfs: seed: %s carries no copy of its "
				"sealed header, so its plaintext cannot be "
				"served: seed the sealed blob itself (without "
				"--key-file)\n", m.torrent);
			status = EXIT_USAGE;
			goto out;
		}
		e = fs_seal_open_local(torrent, copy, clen, NULL, sx.key, &seal,
				       &need, err, sizeof(err));
		free(copy);
		if (e == -EAGAIN) {
			e = -EBADMSG;
			snprintf(err, sizeof(err), "the torrent's copy of the "
				 "sealed header is truncated");
		}
		if (e < 0) {
			status = fs_seal_report("seed", e, err);
			goto out;
		}
		if ((e = fs_seal_ctx_set(&sx, torrent, seal, err,
					 sizeof(err))) < 0) {
			status = fs_seal_report("seed", e, err);
			goto out;
		}
		mi = sx.view;
		pfs_log(PFS_LOG_INFO, "seed", "sealed share '%s': %zu files",
			mi->name, sx.seal->nfiles);
	}
	if (fs_cli_resolve_peers(&m.eng, err, sizeof(err)) < 0) {
		fs_cli_error("%s", err);
		status = EXIT_USAGE;
		goto out;
	}
	rtorrent = realpath(m.torrent, NULL);
	rpath = realpath(m.path, NULL);
	if ((e = layout_resolve(mi, m.path, &l)) < 0) {
		status = e == -ENOMEM ? 1 : EXIT_USAGE;
		if (e == -ENOMEM)
			fprintf(stderr, "p2pfs: %s\n", strerror(ENOMEM));
		goto out;
	}
	if (l.parent)
		pfs_log(PFS_LOG_INFO, "seed", "the data of '%s' is in '%s'",
			mi->name, l.base);
	if (!(files = calloc(mi->nfiles, sizeof(*files)))) {
		fprintf(stderr, "p2pfs: %s\n", strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < mi->nfiles; i++) {
		files[i].path = l.rel[i];
		files[i].length = mi->files[i].length;
		files[i].pad = mi->files[i].pad;
	}
	if (sx.seal) {
		/* the share's files are the view's real files, in order */
		size_t nsegs = 0, k = 0;
		if (!(paths = calloc(sx.seal->nfiles + 1, sizeof(*paths)))) {
			fprintf(stderr, "p2pfs: %s\n", strerror(ENOMEM));
			goto out;
		}
		for (size_t i = 0; i < mi->nfiles; i++)
			if (!mi->files[i].pad && k < sx.seal->nfiles)
				paths[k++] = l.rel[i];
		if ((e = fs_seal_segments(sx.seal, paths, &segs, &nsegs)) < 0) {
			fprintf(stderr, "p2pfs: %s\n", strerror(-e));
			goto out;
		}
		c = cache_open_segments(l.base, segs, nsegs, mi->npieces,
					mi->piece_length, mi->total_length,
					sx.seal->data_key, sx.seal->data_iv,
					&e);
	} else {
		c = cache_open_files(l.base, files, mi->nfiles, mi->npieces,
				     mi->piece_length, mi->total_length, &e);
	}
	if (!c) {
		fprintf(stderr, "p2pfs: %s: %s\n", l.base, strerror(-e));
		goto out;
	}

	/* a map saved by an earlier run, while the files are unchanged */
	uint8_t fp0[PFS_SHA256_LEN], fp1[PFS_SHA256_LEN];
	uint32_t reused = 0;
	bool fp_ok = fingerprint(mi, &l, fp0) == 0;
	if (m.eng.cache_dir) {
		state = absolute_path(m.eng.cache_dir);
	} else if (cache_default_root(err, sizeof(err)) == 0) {
		state = strdup(err);
	}
	if (state) {
		char *sp = state_path(state, mi, l.base);
		dht_root = state; /* the DHT's state is kept there too */
		state = sp;
	}
	if (state && fp_ok && !m.recheck) {
		time_t when = 0;
		if ((reused = state_load(state, fp0, mi, c, &when)) > 0) {
			char date[64] = "?";
			struct tm tm;
			if (localtime_r(&when, &tm))
				strftime(date, sizeof(date), "%Y-%m-%d %H:%M",
					 &tm);
			fprintf(stderr, "p2pfs: seed: %u pieces verified on %s "
				"and unchanged since (--recheck hashes them "
				"again)\n", reused, date);
		}
	}

	int bad = verify(mi, &l, c, m.threads, m.eng.verbose > 0);
	if (bad < 0) {
		fprintf(stderr, "p2pfs: seed: verifying '%s': %s\n", l.base,
			strerror(-bad));
		goto out;
	}
	uint32_t have = cache_count(c);
	if (state && have > reused && fp_ok && fingerprint(mi, &l, fp1) == 0 &&
	    !memcmp(fp0, fp1, sizeof(fp0)) &&
	    (e = state_save(state, fp0, mi, c)) < 0)
		pfs_log(PFS_LOG_WARN, "seed", "cannot save the verified map "
			"in '%s': %s", state, strerror(-e));
	if (bad == 0 && have < mi->npieces) {
		/* only pieces of no file failed: a sealed share's header or
		 * padding (the torrent's header copy is not the blob's) */
		fprintf(stderr, "p2pfs: seed: %u of %u pieces verify: those "
			"of the %s do not\n", have, mi->npieces,
			sx.seal ? "sealed header or padding (the torrent's copy "
				  "of the header is not its blob's)"
				: "padding");
	} else if (bad > 0) {
		fprintf(stderr,
			"p2pfs: seed: %d file%s do%s not match; %u of "
			"%u pieces verify\n",
			bad, bad == 1 ? "" : "s", bad == 1 ? "es" : "", have,
			mi->npieces);
	}
	if (bad > 0 || have < mi->npieces) {
		if (sealed && !sx.seal)
			fprintf(stderr,
				"p2pfs: seed: %s is a sealed share: to seed "
				"it from its plaintext folder, give its key "
				"with --key-file F\n",
				m.torrent);
		if (!have || !m.partial) {
			if (!have)
				fprintf(stderr,
					"p2pfs: seed: nothing to seed\n");
			else
				fprintf(stderr,
					"p2pfs: seed: not seeding: fix "
					"the files, or use --partial to seed "
					"the pieces that verify\n");
			status = EXIT_USAGE;
			goto out;
		}
	}

	struct bt_session_opts so;
	fs_cli_session_opts(&m.eng, &so);
	so.dht_state_dir = dht_root;
	if (!(session = bt_session_new(torrent, c, &so, &e))) {
		status = fs_cli_session_error(&m.eng, e);
		goto out;
	}
	char hs[32];
	fs_cli_human_size(cache_bytes_verified(c), hs, sizeof(hs));
	fprintf(stderr, "p2pfs: seeding '%s' (%s%s%s) from '%s' on port %u\n",
		mi->name, hs, have == mi->npieces ? "" : ", partial",
		sx.seal ? ", sealed" : "", l.base, bt_session_port(session));
	if (!m.foreground && !m.eng.log_file &&
	    !(sl = fs_syslog_new(NULL, &e)))
		fprintf(stderr, "p2pfs: warning: no system log at %s (%s): the "
			"daemon's messages are lost; --log FILE keeps them\n",
			fs_syslog_path(), strerror(-e));

	if (!m.foreground && (notify = fs_daemon_fork(true)) < 0) {
		fs_cli_error("seed: cannot go to the background: %s",
			     strerror(-notify));
		goto out;
	}
	/* in the background the log is syslog's from now on (what fails
	 * before the parent is told is also printed on the terminal) */
	if (notify >= 0 && sl)
		pfs_log_set_sink(fs_syslog_sink, sl);
	/* the stop signals wait for sigwait() below; the engine's threads
	 * inherit the mask. A peer closing on us must not kill us. */
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	if ((e = bt_session_start(session)) < 0) {
		fs_cli_error("seed: cannot start: %s", strerror(-e));
		if (notify >= 0)
			fs_daemon_ready(notify, 1);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		goto out;
	}
	struct seed_ctl sc = {
		.mi = mi,
		.session = session,
		.cache = c,
		.path = rpath ? rpath : l.base,
		.torrent = rtorrent ? rtorrent : m.torrent,
	};
	if (!(ctl = fs_ctl_new(NULL, seed_ctl_handler, &sc, &e)))
		pfs_log(PFS_LOG_WARN, "seed", "no control channel ('p2pfs ls' "
			"and 'p2pfs stop' will not see this seed): %s",
			strerror(-e));
	if (notify >= 0)
		fs_daemon_ready(notify, 0);
	pfs_log(PFS_LOG_INFO, "seed", "seeding '%s' on port %u (pid %ld)",
		mi->name, bt_session_port(session), (long)getpid());
	int sig = 0;
	while ((e = sigwait(&stop, &sig)) == EINTR)
		;
	fs_ctl_free(ctl);
	ctl = NULL;
	bt_session_stop(session);
	/* after the stop: the final totals (a tick could lag a second) */
	struct bt_stats st;
	bt_session_stats(session, &st);
	fs_cli_human_size(st.uploaded, hs, sizeof(hs));
	pfs_log(PFS_LOG_INFO, "seed", "stopping on signal %d: %s uploaded", sig,
		hs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	status = 0;
out:
	fs_ctl_free(ctl);
	bt_session_free(session);
	cache_close(c);
	free(files);
	free(segs);
	free(paths);
	layout_release(&l);
	free(state);
	free(dht_root);
	fs_seal_release(&sx);
	bt_metainfo_free(torrent);
	free(rpath);
	free(rtorrent);
	fs_cli_seed_release(&m);
	pfs_log_set_sink(NULL, NULL);
	fs_syslog_free(sl);
	pfs_log_close();
	return status;
}
