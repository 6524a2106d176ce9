/* fs_cachecmd — `p2pfs cache ls|rm|gc`: the stores under a cache root (see
 * cache/cache_store.h), named by the copy of the torrent that `mount`
 * leaves in each. Also fs_cache_remember(), that leaves it.
 *
 * gc's choice: without --max it removes only what is certainly dead
 * (temporary files, stores holding no verified piece); with --max SIZE it
 * also removes whole stores not in use, least recently used first, until
 * all stores together take at most SIZE bytes on disk. Stores in use are
 * never touched (their flock is taken before anything is removed). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bt_metainfo.h"
#include "cache.h"
#include "cache_store.h"
#include "fs_cli.h"
#include "fs_cmd.h"
#include "pfs_log.h"

#define EXIT_USAGE 2

const char fs_cmd_cache_usage[] =
    "  p2pfs cache ls [--cache DIR]\n"
    "  p2pfs cache rm [--cache DIR] INFOHASH|NAME\n"
    "  p2pfs cache gc [--cache DIR] [--max SIZE]\n"
    "      Manage the cache (default $XDG_CACHE_HOME/p2pfs, else\n"
    "      ~/.cache/p2pfs). ls lists the cached torrents: info-hash,\n"
    "      pieces verified, bytes on disk, last use, whether a mount uses\n"
    "      it, name. rm removes one torrent's cache (INFOHASH may be a\n"
    "      unique prefix of 6 or more digits); refused while mounted.\n"
    "      gc removes temporary files and caches holding no verified\n"
    "      piece; with --max SIZE (e.g. 10G) also the least recently used\n"
    "      caches not in use, until all of them take at most SIZE.\n";

void fs_cache_remember(const char *dir, const char *torrent_path)
{
	FILE *f = fopen(torrent_path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int err = 0;
	if (!f) {
		err = -errno;
		goto out;
	}
	for (;;) {
		if (cap - len < 65536) {
			if (cap >= (64u << 20)) { /* no .torrent is this big */
				err = -EFBIG;
				goto out;
			}
			char *nb = realloc(buf, cap ? cap * 2 : 65536);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		err = -EIO;
	else
		err = cache_store_save(dir, CACHE_STORE_TORRENT, buf, len);
out:
	if (err < 0)
		pfs_log(PFS_LOG_WARN, "cache",
			"cannot keep a copy of '%s' in "
			"'%s': %s",
			torrent_path, dir, strerror(-err));
	if (f)
		fclose(f);
	free(buf);
}

struct store {
	struct cache_store_info info;
	char *name;    /* from the torrent copy, or NULL */
	uint64_t size; /* total length, from the torrent or the map */
};

static char *store_name(const char *root, const char *hex, uint64_t *size)
{
	char path[PATH_MAX], err[256];
	struct bt_metainfo *mi = NULL;
	char *name = NULL;
	if (snprintf(path, sizeof(path), "%s/%s/%s", root, hex,
		     CACHE_STORE_TORRENT) >= (int)sizeof(path))
		return NULL;
	if (access(path, R_OK) == 0 &&
	    bt_metainfo_load(path, &mi, err, sizeof(err)) == 0 &&
	    !strcmp(mi->info_hash_hex, hex)) {
		name = strdup(mi->name);
		*size = mi->total_length;
	}
	bt_metainfo_free(mi);
	return name;
}

static void stores_free(struct store *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* Every store under ROOT, inspected. Prints its own error. */
static int load_stores(const char *root, struct store **out, size_t *n)
{
	char(*hex)[CACHE_STORE_HEX_MAX] = NULL;
	size_t nh = 0;
	int err = cache_store_list(root, &hex, &nh);
	*out = NULL;
	*n = 0;
	if (err < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", root, strerror(-err));
		return err;
	}
	struct store *v = calloc(nh ? nh : 1, sizeof(*v));
	if (!v) {
		free(hex);
		fprintf(stderr, "p2pfs: %s\n", strerror(ENOMEM));
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < nh; i++) {
		if (cache_store_inspect(root, hex[i], &v[k].info) < 0)
			continue; /* gone meanwhile, or not a folder */
		v[k].size = v[k].info.total_length;
		v[k].name = store_name(root, hex[i], &v[k].size);
		k++;
	}
	free(hex);
	*out = v;
	*n = k;
	return 0;
}

static void when(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!t || !localtime_r(&tt, &tm) ||
	    !strftime(out, len, "%Y-%m-%d %H:%M", &tm))
		snprintf(out, len, "-");
}

static int cache_ls(const char *root)
{
	struct store *v;
	size_t n;
	if (load_stores(root, &v, &n) < 0)
		return 1;
	if (!n) {
		printf("no cached torrents in %s\n", root);
		stores_free(v, n);
		return 0;
	}
	uint64_t total = 0;
	printf("%-40s  %-15s  %10s  %-16s  %-6s  %s\n", "INFO-HASH", "PIECES",
	       "ON DISK", "LAST USED", "IN USE", "NAME");
	for (size_t i = 0; i < n; i++) {
		const struct cache_store_info *s = &v[i].info;
		char pieces[32], disk[32], used[32];
		if (s->has_map)
			snprintf(pieces, sizeof(pieces), "%" PRIu32 "/%" PRIu32,
				 s->nverified, s->npieces);
		else
			snprintf(pieces, sizeof(pieces), "-");
		fs_cli_human_size(s->disk_bytes, disk, sizeof(disk));
		when(s->last_used, used, sizeof(used));
		/* a 64-digit (v2) info-hash widens its own row */
		printf("%-40s  %-15s  %10s  %-16s  %-6s  %s\n", s->hex, pieces,
		       disk, used, s->in_use ? "yes" : "no",
		       v[i].name ? v[i].name : "?");
		total += s->disk_bytes;
	}
	char t[32];
	fs_cli_human_size(total, t, sizeof(t));
	printf("%zu cached torrent%s, %s on disk in %s\n", n, n == 1 ? "" : "s",
	       t, root);
	stores_free(v, n);
	return 0;
}

static bool all_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

static int cache_rm(const char *root, const char *what)
{
	struct store *v;
	size_t n, hits = 0, at = 0;
	if (load_stores(root, &v, &n) < 0)
		return 1;
	size_t wl = strlen(what);
	bool by_hex = all_hex(what) && wl >= 6 && wl <= 64;
	/* an info-hash (prefix) first; a name that only looks like one too */
	for (int pass = by_hex ? 0 : 1; pass < 2 && !hits; pass++) {
		for (size_t i = 0; i < n; i++) {
			bool hit = pass == 0
				       ? !strncasecmp(v[i].info.hex, what, wl)
				       : v[i].name && !strcmp(v[i].name, what);
			if (hit) {
				hits++;
				at = i;
			}
		}
	}
	int status = 1;
	if (!hits && all_hex(what) && wl < 6) {
		fprintf(stderr, "p2pfs: cache: '%s' is too short for an "
			"info-hash: give at least 6 of its digits (or the "
			"torrent's name)\n", what);
		status = EXIT_USAGE;
		goto out;
	}
	if (!hits) {
		fprintf(stderr, "p2pfs: cache: no cached torrent '%s' in %s\n",
			what, root);
		goto out;
	}
	if (hits > 1) {
		fprintf(stderr,
			"p2pfs: cache: '%s' matches %zu cached torrents; "
			"give the info-hash\n",
			what, hits);
		goto out;
	}
	const char *hex = v[at].info.hex;
	int err = cache_store_remove(root, hex);
	if (err == -EBUSY) {
		fprintf(stderr,
			"p2pfs: cache: %s is in use by a mount; "
			"unmount it first\n",
			hex);
		goto out;
	}
	if (err < 0) {
		fprintf(stderr, "p2pfs: cache: cannot remove %s/%s: %s\n", root,
			hex, strerror(-err));
		goto out;
	}
	char d[32];
	fs_cli_human_size(v[at].info.disk_bytes, d, sizeof(d));
	printf("removed %s (%s, %s)\n", hex, v[at].name ? v[at].name : "?", d);
	status = 0;
out:
	stores_free(v, n);
	return status;
}

static int by_age(const void *a, const void *b)
{
	const struct store *x = a, *y = b;
	if (x->info.last_used != y->info.last_used)
		return x->info.last_used < y->info.last_used ? -1 : 1;
	return strcmp(x->info.hex, y->info.hex);
}

static int cache_gc(const char *root, bool has_max, uint64_t max)
{
	struct store *v;
	size_t n;
	int status = 0;
	if (load_stores(root, &v, &n) < 0)
		return 1;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += v[i].info.disk_bytes;
	qsort(v, n, sizeof(*v), by_age);
	size_t removed = 0;
	for (size_t i = 0; i < n; i++) {
		struct store *s = &v[i];
		if (s->info.in_use)
			continue;
		bool dead = !s->info.has_map || !s->info.nverified;
		bool over = has_max && total > max;
		if (!dead && !over) {
			if (s->info.has_temp &&
			    cache_store_tidy(root, s->info.hex) == 0)
				printf("tidied %s\n", s->info.hex);
			continue;
		}
		int err = cache_store_remove(root, s->info.hex);
		if (err == -EBUSY)
			continue; /* mounted just now */
		if (err < 0) {
			fprintf(stderr,
				"p2pfs: cache: cannot remove %s/%s: %s\n", root,
				s->info.hex, strerror(-err));
			status = 1;
			continue;
		}
		char d[32];
		fs_cli_human_size(s->info.disk_bytes, d, sizeof(d));
		printf("removed %s (%s, %s%s)\n", s->info.hex,
		       s->name ? s->name : "?", d,
		       dead ? ", nothing verified" : "");
		total -= s->info.disk_bytes;
		removed++;
	}
	char t[32];
	fs_cli_human_size(total, t, sizeof(t));
	printf("%zu removed, %s on disk in %s\n", removed, t, root);
	if (has_max && total > max) {
		char m[32];
		fs_cli_human_size(max, m, sizeof(m));
		fprintf(stderr,
			"p2pfs: cache: still over %s: the rest is in use\n", m);
		status = 1;
	}
	stores_free(v, n);
	return status;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "p2pfs: cache: %s\ntry 'p2pfs cache --help'\n", msg);
	return EXIT_USAGE;
}

int fs_cmd_cache(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"cache", required_argument, NULL, 'c'},
	    {"max", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	char root[PATH_MAX], msg[300];
	uint64_t max = 0;
	bool has_max = false;
	int c;
	if (argc >= 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage:\n%s", fs_cmd_cache_usage);
		return 0;
	}
	if (argc < 2)
		return usage_error("missing subcommand (ls, rm or gc)");
	const char *sub = argv[1];
	if (strcmp(sub, "ls") && strcmp(sub, "rm") && strcmp(sub, "gc")) {
		snprintf(msg, sizeof(msg), "unknown subcommand '%.200s'", sub);
		return usage_error(msg);
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, ":h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'm':
			if (strcmp(sub, "gc"))
				return usage_error("--max is for gc only");
			if (fs_cli_parse_size(optarg, &max) < 0) {
				snprintf(msg, sizeof(msg),
					 "bad size '%.200s' (e.g. 500M, 10G)",
					 optarg);
				return usage_error(msg);
			}
			has_max = true;
			break;
		case 'h':
			printf("usage:\n%s", fs_cmd_cache_usage);
			return 0;
		case ':':
			snprintf(msg, sizeof(msg),
				 "option '%.200s' needs an argument",
				 argv[optind]); /* argv + 1 shifted by one */
			return usage_error(msg);
		default:
			snprintf(msg, sizeof(msg), "unknown option '%.200s'",
				 argv[optind]); /* argv + 1 shifted by one */
			return usage_error(msg);
		}
	}
	int nops = argc - 1 - optind;
	const char *op = nops > 0 ? argv[1 + optind] : NULL;
	if (!strcmp(sub, "rm") ? nops != 1 : nops != 0)
		return usage_error(!strcmp(sub, "rm") && nops < 1
				       ? "rm needs an info-hash or a name"
				       : "too many arguments");
	if (dir) {
		snprintf(root, sizeof(root), "%s", dir);
	} else if (cache_default_root(root, sizeof(root)) < 0) {
		fprintf(stderr, "p2pfs: no cache folder: set XDG_CACHE_HOME or "
				"HOME, or use --cache\n");
		return 1;
	}
	if (!strcmp(sub, "ls"))
		return cache_ls(root);
	if (!strcmp(sub, "rm"))
		return cache_rm(root, op);
	return cache_gc(root, has_max, max);
}
