/* fs_status — `p2pfs status [--watch] [TARGET]`: what a mount or a seed is
 * doing.
 *
 * TARGET (default ".") inside a p2pfs mount — its root or any folder or
 * file under it — is read from the mount's own xattrs (user.p2pfs.stats,
 * .peers, .sources and .reading on its root, user.p2pfs.progress on each
 * file; see fs_xattr.h); the files listed are those under TARGET. Anything
 * else (a pid, a .torrent file, the data a seed serves) is looked up among
 * the running processes (fs_ps_find) and asked the same texts over its
 * control channel (fs_ctl.h). Walking the tree is metadata only: it never
 * waits for the network.
 *
 * --watch draws a frame every --interval (1 s): in place on a terminal,
 * one after the other otherwise; the files being read get a rate (from the
 * bytes they gained since the last frame) and an ETA. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fs_cli.h"
#include "fs_cmd.h"
#include "fs_ctl.h"
#include "fs_xattr.h"

#define EXIT_USAGE 2
#define MAX_FILES  200 /* files listed; the rest are counted */
#define BAR_WIDTH  20
#define MAX_READING 64 /* files being read whose rate is followed */

const char fs_cmd_status_usage[] =
    "  p2pfs status [-w|--watch] [-n SECS] [--count N]\n"
    "               [MNT|PATH|PID|FILE.torrent]\n"
    "      Show what a mount or a seed does: its sources (each tracker and\n"
    "      --peer with its state and last error), the files being read\n"
    "      (rate and ETA with --watch), every file's progress, the peers\n"
    "      with their rates, and the totals. A path inside a mount (the\n"
    "      default: the current folder) shows that mount, listing the files\n"
    "      under it; a pid, a .torrent or the data of a running seed shows\n"
    "      that process. --watch redraws every SECS (-n, default 1;\n"
    "      in place on a terminal), --count N stops after N frames. The\n"
    "      figures of a mount are also the xattrs user.p2pfs.stats,\n"
    "      .peers, .sources and .reading of its root and\n"
    "      user.p2pfs.progress of each file.\n";

/* ---- where the figures come from ---- */

struct target {
	bool mount;
	char root[PATH_MAX];   /* the mount's root */
	char sub[PATH_MAX];    /* what was asked about, under the root */
	char sock[4096];       /* else the process's control socket */
	struct fs_ctl_info info;
};

/* The value of xattr NAME of PATH, malloc'd and NUL-terminated into *OUT.
 * Returns its length or -errno. Values may grow between the size query
 * and the read (peers come and go): retried a few times. */
static ssize_t xattr_get(const char *path, const char *name, char **out)
{
	*out = NULL;
	for (int attempt = 0; attempt < 5; attempt++) {
		ssize_t n = getxattr(path, name, NULL, 0);
		if (n < 0)
			return -errno;
		char *buf = malloc((size_t)n + 4096 + 1);
		if (!buf)
			return -ENOMEM;
		ssize_t got = getxattr(path, name, buf, (size_t)n + 4096);
		if (got >= 0) {
			buf[got] = '\0';
			*out = buf;
			return got;
		}
		int e = errno;
		free(buf);
		if (e != ERANGE)
			return -e;
	}
	return -ERANGE;
}

/* One text of the target: an xattr of the mount, or a channel reply. */
static ssize_t fetch(const struct target *t, enum fs_ctl_verb v, char **out,
		     char *err, size_t errlen)
{
	static const char *const names[] = {
		[FS_CTL_STATS] = "user.p2pfs.stats",
		[FS_CTL_PEERS] = "user.p2pfs.peers",
		[FS_CTL_SOURCES] = "user.p2pfs.sources",
		[FS_CTL_READING] = "user.p2pfs.reading",
	};
	if (t->mount) {
		ssize_t n = xattr_get(t->root, names[v], out);
		if (n == -ENODATA && v != FS_CTL_STATS) {
			/* an older daemon without it: nothing to show */
			*out = calloc(1, 1);
			return *out ? 0 : -ENOMEM;
		}
		if (n < 0)
			snprintf(err, errlen, "%.300s: %s", t->root,
				 strerror((int)-n));
		return n;
	}
	size_t len;
	int rc = fs_ctl_call(t->sock, v, out, &len, err, errlen);
	return rc < 0 ? rc : (ssize_t)len;
}

/* Find what TARGET names. Returns 0, or the exit status with the error
 * printed. */
static int resolve(const char *target, struct target *t)
{
	char *real = realpath(target, NULL), type[64], *table = NULL;
	int status = 1, real_errno = errno;
	memset(t, 0, sizeof(*t));
	int fd = real ? open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0 && (table = fs_mountinfo_read(fd)) &&
	    fs_mountinfo_containing(table, real, t->root, sizeof(t->root), type,
				    sizeof(type)) == 0 &&
	    !strcmp(type, "fuse.p2pfs")) {
		t->mount = true;
		snprintf(t->sub, sizeof(t->sub), "%s", real);
		status = 0;
		goto out;
	}
	/* not in a mount: a running process? */
	int n = fs_ps_find(target, &t->info, (char(*)[4096])t->sock, 1);
	if (n == 1) {
		status = 0;
		goto out;
	}
	if (n > 1) {
		fprintf(stderr, "p2pfs: status: '%s' names %d processes; give "
			"a pid ('p2pfs ls' lists them)\n", target, n);
		goto out;
	}
	if (!real && (real_errno == ENOENT || real_errno == ENOTDIR) &&
	    strspn(target, "0123456789") != strlen(target)) {
		fprintf(stderr, "p2pfs: %s: %s\n", target, strerror(real_errno));
		status = EXIT_USAGE;
		goto out;
	}
	fprintf(stderr, "p2pfs: %s: not a p2pfs mount, and no running p2pfs "
		"of it ('p2pfs ls' lists them)\n", target);
out:
	if (fd >= 0)
		close(fd);
	free(table);
	free(real);
	return status;
}

/* ---- the files ---- */

struct walk {
	size_t root_len;
	size_t nfiles, shown;
};

static void show_file(struct walk *w, const char *path, uint64_t size)
{
	char val[32], bar[BAR_WIDTH + 1], hs[32];
	w->nfiles++;
	if (w->shown >= MAX_FILES)
		return;
	ssize_t n = getxattr(path, "user.p2pfs.progress", val, sizeof(val) - 1);
	double pct = 0;
	if (n > 0) {
		val[n] = '\0';
		pct = strtod(val, NULL);
	}
	fs_xattr_bar(pct, bar, BAR_WIDTH);
	fs_cli_human_size(size, hs, sizeof(hs));
	const char *rel = path + w->root_len;
	while (*rel == '/')
		rel++;
	if (n > 0)
		printf("  [%s] %5.1f%%  %10s  %s\n", bar, pct, hs, rel);
	else
		printf("  [%s]     ?   %10s  %s\n", bar, hs, rel);
	w->shown++;
}

/* Depth-first over the folder PATH (LEN bytes used of its PATH_MAX
 * buffer), files in readdir order (p2pfs lists names sorted). Metadata
 * only: never waits for the network. Returns 0 or -errno. */
static int walk_dir(struct walk *w, char *path, size_t len, int depth)
{
	if (depth > 64)
		return -ELOOP;
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int err = 0;
	struct dirent *e;
	while (err == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t nl = strlen(e->d_name);
		if (len + 1 + nl >= PATH_MAX) {
			err = -ENAMETOOLONG;
			break;
		}
		path[len] = '/';
		memcpy(path + len + 1, e->d_name, nl + 1);
		struct stat st;
		if (lstat(path, &st) < 0)
			err = -errno;
		else if (S_ISDIR(st.st_mode))
			err = walk_dir(w, path, len + 1 + nl, depth + 1);
		else if (S_ISREG(st.st_mode))
			show_file(w, path, (uint64_t)st.st_size);
		path[len] = '\0';
	}
	closedir(d);
	return err;
}

static int show_files(const struct target *t)
{
	struct walk w = {.root_len = strlen(t->root)};
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s", t->sub);
	printf("files%s%s:\n", strcmp(t->sub, t->root) ? " under " : "",
	       strcmp(t->sub, t->root) ? t->sub + strlen(t->root) + 1 : "");
	if (stat(path, &st) < 0)
		return -errno;
	int err = 0;
	if (S_ISDIR(st.st_mode))
		err = walk_dir(&w, path, strlen(path), 0);
	else
		show_file(&w, path, (uint64_t)st.st_size);
	if (err < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", path, strerror(-err));
		return err;
	}
	if (w.nfiles > w.shown)
		printf("  ... and %zu more files\n", w.nfiles - w.shown);
	return 0;
}

/* ---- a frame ---- */

static void rate(uint64_t bps, char *out, size_t len)
{
	char h[24];
	fs_cli_human_size(bps, h, sizeof(h));
	snprintf(out, len, "%s/s", h);
}

/* The files being read at the last frame, for their rates. */
struct sample {
	char path[FS_REC_VAL_MAX];
	uint64_t have;
};
struct history {
	struct sample s[MAX_READING];
	size_t n;
	uint64_t at; /* ms, monotonic; 0 = no frame yet */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Each line of TEXT as a record, to FN. */
static void each_record(const char *text, void (*fn)(void *, const struct fs_rec *),
			void *arg)
{
	struct fs_rec *r = malloc(sizeof(*r));
	if (!r)
		return;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		if (fs_rec_parse(line, ll, r) == 0)
			fn(arg, r);
		line += ll + (nl != NULL);
	}
	free(r);
}

static void print_source(void *arg, const struct fs_rec *r)
{
	char line[1024];
	fs_xattr_source_line(r, (int64_t)time(NULL), line, sizeof(line));
	printf("  %s\n", line);
	(*(size_t *)arg)++;
}

struct reading {
	const struct history *prev;
	struct history next;
	uint64_t now;
	size_t n;
};

static void print_reading(void *arg, const struct fs_rec *r)
{
	struct reading *rd = arg;
	const char *path = fs_rec_get(r, "path");
	uint64_t size = 0, have = 0, handles = 0;
	if (!path || fs_rec_get_u64(r, "size", &size) < 0 ||
	    fs_rec_get_u64(r, "have", &have) < 0)
		return;
	fs_rec_get_u64(r, "handles", &handles);
	if (have > size)
		have = size;
	char hs[32], rt[32] = "-", eta[32] = "-";
	fs_cli_human_size(size, hs, sizeof(hs));
	double bps = -1;
	if (rd->prev && rd->prev->at && rd->now > rd->prev->at) {
		for (size_t i = 0; i < rd->prev->n; i++) {
			if (strcmp(rd->prev->s[i].path, path))
				continue;
			uint64_t before = rd->prev->s[i].have;
			bps = have > before ? (double)(have - before) * 1000.0 /
						      (double)(rd->now - rd->prev->at)
					    : 0;
		}
	}
	if (bps >= 0)
		rate((uint64_t)bps, rt, sizeof(rt));
	if (bps >= 0 || have == size)
		fs_xattr_eta(size - have, bps, eta, sizeof(eta));
	printf("  %5.1f%%  %10s  %12s  ETA %-12s %s%s\n",
	       size ? (double)have * 100.0 / (double)size : 100.0, hs, rt, eta,
	       path, handles > 1 ? " (several readers)" : "");
	if (rd->next.n < MAX_READING) {
		struct sample *s = &rd->next.s[rd->next.n++];
		snprintf(s->path, sizeof(s->path), "%s", path);
		s->have = have;
	}
	rd->n++;
}

/* Print one frame. HIST carries the reading samples between frames (NULL:
 * a single look). Returns 0 or 1 (an error printed). */
static int frame(const struct target *t, struct history *hist)
{
	char *stats = NULL, *peers = NULL, *sources = NULL, *reading = NULL,
	     *hash = NULL, err[512];
	struct fs_xattr_stats st;
	int status = 1;
	ssize_t n;
	if (t->mount) {
		n = xattr_get(t->root, "user.p2pfs.infohash", &hash);
		if (n < 0) {
			fprintf(stderr, "p2pfs: %s: %s\n", t->root,
				n == -ENODATA || n == -ENOTSUP ? "not a p2pfs mount"
							       : strerror((int)-n));
			goto out;
		}
	}
	if ((n = fetch(t, FS_CTL_STATS, &stats, err, sizeof(err))) < 0) {
		fprintf(stderr, "p2pfs: %s\n", err);
		goto out;
	}
	if (fs_xattr_stats_parse(stats, (size_t)n, &st) < 0) {
		fprintf(stderr, "p2pfs: %s: cannot read its stats\n",
			t->mount ? t->root : t->sock);
		goto out;
	}
	if (fetch(t, FS_CTL_SOURCES, &sources, err, sizeof(err)) < 0 ||
	    fetch(t, FS_CTL_READING, &reading, err, sizeof(err)) < 0 ||
	    fetch(t, FS_CTL_PEERS, &peers, err, sizeof(err)) < 0) {
		fprintf(stderr, "p2pfs: %s\n", err);
		goto out;
	}
	char a[40], b[40], c[40];
	if (t->mount) {
		printf("mount      %s\n", t->root);
		printf("info-hash  %s\n", hash);
	} else {
		printf("%-10s %s (pid %ld, port %" PRIu32 ")\n",
		       !strcmp(t->info.kind, "mount") && !t->info.mounted
			       ? "seeding" : t->info.kind,
		       t->info.path, t->info.pid, t->info.port);
		printf("torrent    %s\n", t->info.name);
		printf("info-hash  %s\n", t->info.infohash);
	}
	printf("pieces     %" PRIu32 " of %" PRIu32 " (%.1f%%)", st.have,
	       st.npieces, st.npieces ? 100.0 * st.have / st.npieces : 0.0);
	if (st.hash_fails)
		printf(", %" PRIu32 " failed their hash check", st.hash_fails);
	printf("\n");
	fs_cli_human_size(st.cache_used, a, sizeof(a));
	if (st.cache_limit) {
		fs_cli_human_size(st.cache_limit, b, sizeof(b));
		printf("cache      %s of %s, %" PRIu64 " pieces evicted\n", a,
		       b, st.evictions);
	} else {
		printf("cache      %s, no limit\n", a);
	}
	rate(st.down_rate, a, sizeof(a));
	fs_cli_human_size(st.downloaded, b, sizeof(b));
	printf("down       %s, %s in all\n", a, b);
	rate(st.up_rate, a, sizeof(a));
	fs_cli_human_size(st.uploaded, b, sizeof(b));
	printf("up         %s, %s in all\n", a, b);
	printf("peers      %" PRIu32 " connected, %" PRIu32 " seeds\n",
	       st.peers, st.seeds);
	if (st.reads_waiting || st.read_timeouts)
		printf("reads      %" PRIu32 " waiting for data, %" PRIu64
		       " timed out\n", st.reads_waiting, st.read_timeouts);
	if (st.no_source_secs) {
		fs_xattr_duration(st.no_source_secs, a, sizeof(a));
		printf("warning    no source has any piece that is missing "
		       "here, for %s\n", a);
	}

	size_t ns = 0;
	printf("sources:\n");
	each_record(sources, print_source, &ns);
	if (!ns)
		printf("  (none: no tracker, no --peer)\n");

	if (*reading) {
		struct reading rd = {.prev = hist, .now = mono_ms()};
		printf("reading:\n");
		each_record(reading, print_reading, &rd);
		if (hist) {
			rd.next.at = rd.now;
			*hist = rd.next;
		}
	} else if (hist) {
		hist->n = 0;
		hist->at = mono_ms();
	}

	if (t->mount && show_files(t) < 0)
		goto out;

	printf("peers:\n");
	if (*peers)
		printf("  %-24s %-20s %12s %12s  %-6s %s\n", "ADDRESS",
		       "CLIENT", "DOWN", "UP", "FLAGS", "FROM");
	for (char *line = peers; *line;) {
		char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		struct fs_xattr_peer p;
		if (fs_xattr_peer_parse(line, ll, &p) == 0) {
			rate(p.down_rate, a, sizeof(a));
			rate(p.up_rate, c, sizeof(c));
			printf("  %-24s %-20s %12s %12s  %-6s %s\n", p.addr,
			       p.client, a, c, p.flags,
			       p.source[0] ? p.source : "?");
		}
		line += ll + (nl != NULL);
	}
	if (!*peers)
		printf("  (none)\n");
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	free(hash);
	free(stats);
	free(peers);
	free(sources);
	free(reading);
	return status;
}

int fs_cmd_status(int argc, char **argv)
{
	struct fs_cli_status o;
	char err[256];
	int rc = fs_cli_parse_status(argc, argv, &o, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr,
			"p2pfs: status: %s\ntry 'p2pfs status --help'\n", err);
		return EXIT_USAGE;
	}
	if (rc == 1) {
		printf("usage:\n%s", fs_cmd_status_usage);
		return 0;
	}
	struct target *t = malloc(sizeof(*t));
	struct history *h = calloc(1, sizeof(*h));
	int status = 1;
	if (!t || !h) {
		fprintf(stderr, "p2pfs: %s\n", strerror(ENOMEM));
		goto out;
	}
	if ((status = resolve(o.target ? o.target : ".", t)) != 0)
		goto out;
	if (!o.watch && !o.count) {
		status = frame(t, NULL);
		goto out;
	}
	bool tty = isatty(STDOUT_FILENO);
	for (unsigned i = 0; !o.count || i < o.count; i++) {
		char when[64];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		if (tty)
			printf("\033[H\033[2J"); /* home, clear: in place */
		else if (i)
			printf("\n");
		printf("p2pfs status at %s (every %.1f s)\n", when,
		       o.interval_ms / 1000.0);
		if ((status = frame(t, h)) != 0)
			break;
		if (o.count && i + 1 == o.count)
			break;
		struct timespec ts = {o.interval_ms / 1000,
				      (long)(o.interval_ms % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
out:
	free(t);
	free(h);
	return status;
}
