/* fs_status — `p2pfs status MNT`: what a mount is doing, read from the
 * mount's own xattrs (user.p2pfs.stats and user.p2pfs.peers on its root,
 * user.p2pfs.progress on each file; see fs_xattr.h), so no other channel
 * to the daemon is needed. Walking the tree is metadata only: it never
 * waits for the network. */
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs_cli.h"
#include "fs_cmd.h"
#include "fs_xattr.h"

#define EXIT_USAGE 2
#define MAX_FILES  200 /* files listed; the rest are counted */
#define BAR_WIDTH  20

const char fs_cmd_status_usage[] =
    "  p2pfs status MNT\n"
    "      Show a p2pfs mount's files with their progress, its peers\n"
    "      with their rates, and the totals. The same figures are the\n"
    "      xattrs user.p2pfs.stats and user.p2pfs.peers of MNT and\n"
    "      user.p2pfs.progress of each file.\n";

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

static void rate(uint64_t bps, char *out, size_t len)
{
	char h[24];
	fs_cli_human_size(bps, h, sizeof(h));
	snprintf(out, len, "%s/s", h);
}

static int show(const char *mnt)
{
	char *hash = NULL, *stats = NULL, *peers = NULL;
	struct fs_xattr_stats st;
	int status = 1;
	ssize_t n = xattr_get(mnt, "user.p2pfs.infohash", &hash);
	if (n == -ENODATA || n == -ENOTSUP) {
		fprintf(stderr, "p2pfs: %s: not a p2pfs mount\n", mnt);
		goto out;
	}
	if (n < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", mnt, strerror((int)-n));
		goto out;
	}
	if ((n = xattr_get(mnt, "user.p2pfs.stats", &stats)) < 0) {
		fprintf(stderr,
			"p2pfs: %s: not the root of a p2pfs mount, or "
			"an older p2pfs: %s\n",
			mnt, strerror((int)-n));
		goto out;
	}
	if (fs_xattr_stats_parse(stats, (size_t)n, &st) < 0) {
		fprintf(stderr, "p2pfs: %s: cannot read its user.p2pfs.stats\n",
			mnt);
		goto out;
	}
	char a[40], b[40], c[40];
	printf("mount      %s\n", mnt);
	printf("info-hash  %s\n", hash);
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

	printf("files:\n");
	struct walk w = {.root_len = strlen(mnt)};
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", mnt);
	int err = walk_dir(&w, path, strlen(path), 0);
	if (err < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", path, strerror(-err));
		goto out;
	}
	if (w.nfiles > w.shown)
		printf("  ... and %zu more files\n", w.nfiles - w.shown);

	if ((n = xattr_get(mnt, "user.p2pfs.peers", &peers)) < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", mnt, strerror((int)-n));
		goto out;
	}
	printf("peers:\n");
	if (n > 0)
		printf("  %-24s %-20s %12s %12s  %s\n", "ADDRESS", "CLIENT",
		       "DOWN", "UP", "FLAGS");
	for (char *line = peers; *line;) {
		char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		struct fs_xattr_peer p;
		if (fs_xattr_peer_parse(line, ll, &p) == 0) {
			rate(p.down_rate, a, sizeof(a));
			rate(p.up_rate, c, sizeof(c));
			printf("  %-24s %-20s %12s %12s  %s\n", p.addr,
			       p.client, a, c, p.flags);
		}
		line += ll + (nl != NULL);
	}
	if (n == 0)
		printf("  (none)\n");
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	free(hash);
	free(stats);
	free(peers);
	return status;
}

int fs_cmd_status(int argc, char **argv)
{
	const char *mnt = NULL;
	char err[256];
	int rc = fs_cli_parse_one(argc, argv, &mnt, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr,
			"p2pfs: status: %s\ntry 'p2pfs status --help'\n", err);
		return EXIT_USAGE;
	}
	if (rc == 1) {
		printf("usage:\n%s", fs_cmd_status_usage);
		return 0;
	}
	char *abs = realpath(mnt, NULL);
	if (!abs) {
		fprintf(stderr, "p2pfs: %s: %s\n", mnt, strerror(errno));
		return errno == ENOENT || errno == ENOTDIR ? EXIT_USAGE : 1;
	}
	int status = show(abs);
	free(abs);
	return status;
}
