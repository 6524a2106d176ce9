/* fs_create — `p2pfs create`: make a v1 .torrent of a file or folder.
 *
 * The command line around bt_mkinfo: parse the options, walk PATH
 * (bt_mkinfo_scan), choose the piece size, hash (bt_mkinfo_hash: this
 * thread reads, a pool of workers hashes) with a progress bar on stderr
 * when stderr is a terminal, then write the .torrent atomically: a
 * temporary file in the output's folder, fsync, then a rename that does
 * not replace an existing file unless --force. Refusals of bad input are
 * one line on stderr and exit status 2; a failed read or write is 1.
 *
 * With --seal the torrent is of one opaque blob (bt_seal.h): a fresh
 * random key and salt, the file table and layout from the walk, and the
 * blob's pieces hashed from a cache segments store that encrypts the
 * plaintext on the fly (nothing is written but the .torrent and, with
 * --key-file, the key file, mode 0600). The share link, which carries the
 * key, goes to stdout only. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bt_mkinfo_io.h"
#include "bt_metainfo.h"
#include "bt_seal.h"
#include "cache.h"
#include "fs_cli.h"
#include "fs_cmd.h"
#include "fs_seal.h"
#include "pfs_cipher.h"
#include "pfs_hash.h"

#define EXIT_USAGE 2
#define MAX_URLS   256

const char fs_cmd_create_usage[] =
	"  p2pfs create [-o FILE.torrent] [-t URL[,URL]...]... [--piece-size N]\n"
	"               [--private] [--comment TEXT] [--web-seed URL]...\n"
	"               [--no-date] [--follow-symlinks] [--threads N] [--force]\n"
	"               [--seal [--key-file F]] PATH\n"
	"      Make a v1 torrent of the file or folder PATH. Its info-hash is\n"
	"      mktorrent's for the same data and piece size: every regular\n"
	"      file under PATH, hidden and empty ones too, in byte order of\n"
	"      their whole relative path. Shows a progress bar on a terminal,\n"
	"      then the name, info-hash, pieces and the magnet link.\n"
	"      -o, --output FILE  write FILE (default NAME.torrent here;\n"
	"                         '-' for stdout); never replaces a file\n"
	"      -f, --force        replace FILE (and the key file) if it exists\n"
	"      -t, --tracker URL  announce URL (-a too, as in mktorrent); each\n"
	"                         -t is a tier of its own, URLs joined with\n"
	"                         ',' share one tier\n"
	"      --piece-size N     piece size in bytes, or with K or M (256K,\n"
	"                         4M): a power of two from 16K to 64M. The\n"
	"                         default is the smallest power of two from\n"
	"                         16 KiB to 16 MiB giving at most 2000 pieces\n"
	"      --private          set the private flag (BEP 27)\n"
	"      -c, --comment TEXT add a comment\n"
	"      -w, --web-seed URL add a web seed (BEP 19; repeatable, ','\n"
	"                         separates several)\n"
	"      -d, --no-date      leave out the creation date, so the same\n"
	"                         input always gives the same file\n"
	"      --follow-symlinks  also follow symlinks that lead out of PATH\n"
	"                         (by default they are refused; symlinks to\n"
	"                         files or folders inside PATH are followed)\n"
	"      -j, --threads N    hashing threads (default: one per CPU)\n"
	"      --seal             a sealed share: the torrent carries one\n"
	"                         encrypted blob with a neutral name, and only\n"
	"                         the share link printed here (it holds a new\n"
	"                         random key) opens it; see p2pfs-seal(5)\n"
	"      --key-file F       with --seal: also write the link to F (mode\n"
	"                         0600; --force replaces it)\n";

struct create_opts {
	const char *path;
	const char *output;
	const char *trackers[MAX_URLS];
	size_t ntrackers;
	const char *web_seeds[MAX_URLS];
	size_t nweb_seeds;
	const char *comment;
	uint32_t piece_length; /* 0: automatic */
	unsigned threads;      /* 0: one per CPU */
	const char *key_file;  /* --key-file */
	bool private_flag, no_date, force, follow, help, seal;
};

/* One line, exit status 2. */
static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int refuse(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("p2pfs: create: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return EXIT_USAGE;
}

/* A tier "u1,u2": a warning for each URL p2pfs cannot announce to (the
 * torrent is still made: other clients may). */
static void warn_schemes(const char *tier)
{
	for (const char *p = tier; *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		char url[512];
		snprintf(url, sizeof(url), "%.*s", (int)n, p);
		if (!fs_cli_announce_url_ok(url))
			fprintf(stderr, "p2pfs: create: warning: '%s': p2pfs "
				"announces to http://, https:// and udp:// "
				"trackers only (other clients may use this "
				"one)\n", url);
		p = c ? c + 1 : p + n;
	}
}

/* "u1,u2": no empty URL */
static bool url_list_ok(const char *s)
{
	size_t n = strlen(s);
	return n && s[0] != ',' && s[n - 1] != ',' && !strstr(s, ",,");
}

static int parse(int argc, char **argv, struct create_opts *o)
{
	enum { OPT_PRIVATE = 256, OPT_FOLLOW, OPT_PIECE, OPT_SEAL, OPT_KEY_FILE };
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		{"tracker", required_argument, NULL, 't'},
		{"announce", required_argument, NULL, 't'},
		{"piece-size", required_argument, NULL, OPT_PIECE},
		{"private", no_argument, NULL, OPT_PRIVATE},
		{"comment", required_argument, NULL, 'c'},
		{"web-seed", required_argument, NULL, 'w'},
		{"no-date", no_argument, NULL, 'd'},
		{"follow-symlinks", no_argument, NULL, OPT_FOLLOW},
		{"threads", required_argument, NULL, 'j'},
		{"seal", no_argument, NULL, OPT_SEAL},
		{"key-file", required_argument, NULL, OPT_KEY_FILE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char err[256];
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0; /* GNU: full re-initialisation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:ft:a:c:w:dj:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'o':
			o->output = optarg;
			break;
		case 'f':
			o->force = true;
			break;
		case 't':
		case 'a':
			if (!url_list_ok(optarg))
				return refuse("bad tracker '%s': an empty URL",
					      optarg);
			if (o->ntrackers == MAX_URLS)
				return refuse("more than %d trackers", MAX_URLS);
			o->trackers[o->ntrackers++] = optarg;
			warn_schemes(optarg);
			break;
		case OPT_PIECE:
			if (bt_mkinfo_parse_piece_size(optarg, &o->piece_length,
						       err, sizeof(err)) < 0)
				return refuse("%s", err);
			break;
		case OPT_PRIVATE:
			o->private_flag = true;
			break;
		case 'c':
			o->comment = optarg;
			break;
		case 'w':
			if (!url_list_ok(optarg))
				return refuse("bad web seed '%s': an empty URL",
					      optarg);
			if (o->nweb_seeds == MAX_URLS)
				return refuse("more than %d web seeds",
					      MAX_URLS);
			o->web_seeds[o->nweb_seeds++] = optarg;
			break;
		case 'd':
			o->no_date = true;
			break;
		case OPT_FOLLOW:
			o->follow = true;
			break;
		case OPT_SEAL:
			o->seal = true;
			break;
		case OPT_KEY_FILE:
			o->key_file = optarg;
			break;
		case 'j': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 1 ||
			    v > BT_MKINFO_MAX_THREADS)
				return refuse("bad --threads '%s' (1 to %u)",
					      optarg, BT_MKINFO_MAX_THREADS);
			o->threads = (unsigned)v;
			break;
		}
		case 'h':
			o->help = true;
			break;
		case ':':
			return refuse("option '%s' needs an argument (try "
				      "'p2pfs create --help')",
				      argv[optind - 1]);
		default:
			if (optopt)
				return refuse("unknown option '-%c' (try "
					      "'p2pfs create --help')",
					      optopt);
			return refuse("unknown option '%s' (try 'p2pfs "
				      "create --help')",
				      argv[optind - 1]);
		}
	}
	if (o->help)
		return 0;
	if (o->key_file && !o->seal)
		return refuse("--key-file goes with --seal");
	if (o->seal && o->output && !strcmp(o->output, "-") && !o->key_file)
		return refuse("--seal -o - needs --key-file: the link cannot "
			      "go to stdout with the torrent");
	if (argc - optind != 1)
		return refuse("%s (try 'p2pfs create --help')",
			      argc - optind < 1 ? "missing PATH"
						: "more than one PATH");
	o->path = argv[optind];
	return 0;
}

/* ---- progress bar (stderr, only on a terminal) ---- */

struct bar {
	struct timespec t0;
	bool drawn;
};

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void bar_draw(void *arg, uint64_t done, uint64_t total)
{
	struct bar *b = arg;
	char d[32], t[32], line[128];
	int width = 24, fill = total ? (int)(done * width / total) : width;
	double secs = since(&b->t0);
	fs_cli_human_size(done, d, sizeof(d));
	fs_cli_human_size(total, t, sizeof(t));
	snprintf(line, sizeof(line), "hashing [%.*s%*s] %3d%%  %s of %s  %.0f MiB/s",
		 fill, "########################", width - fill, "",
		 total ? (int)(done * 100 / total) : 100, d, t,
		 secs > 0 ? (double)done / 1048576.0 / secs : 0.0);
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	b->drawn = true;
}

static void bar_end(struct bar *b, uint64_t total, bool ok)
{
	if (!b->drawn)
		return;
	double secs = since(&b->t0);
	char t[32];
	fs_cli_human_size(total, t, sizeof(t));
	if (ok)
		fprintf(stderr, "\rhashed %s in %.2f s (%.0f MiB/s)\033[K\n", t,
			secs, secs > 0 ? (double)total / 1048576.0 / secs : 0.0);
	else
		fprintf(stderr, "\r\033[K");
}

static void warn_skip(void *arg, const char *path, const char *why)
{
	(void)arg;
	fprintf(stderr, "p2pfs: create: skipping '%s': %s\n", path, why);
}

/* ---- output ---- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The folder part of PATH ("." when none), malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Write BUF to OUT through a temporary file in the same folder and a
 * rename. Returns the exit status. */
static int write_atomic(const char *out, const uint8_t *buf, size_t len,
			bool force)
{
	char *dir = dir_of(out), *tmp = NULL;
	const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
	int fd = -1, status = 1, e;

	if (!dir || asprintf(&tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
		tmp = NULL;
		fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		fprintf(stderr, "p2pfs: create: %s: %s\n", dir, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0 || (e = write_all(fd, buf, len)) < 0 ||
	    fsync(fd) < 0) {
		fprintf(stderr, "p2pfs: create: %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		fprintf(stderr, "p2pfs: create: %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (force) {
		if (rename(tmp, out) < 0) {
			fprintf(stderr, "p2pfs: create: %s: %s\n", out,
				strerror(errno));
			goto out;
		}
	} else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out,
			     RENAME_NOREPLACE) < 0) {
		e = errno;
		/* a file system without RENAME_NOREPLACE: link() does not
		 * replace either */
		if ((e == EINVAL || e == ENOSYS) && link(tmp, out) == 0) {
			unlink(tmp);
		} else {
			if (e == EINVAL || e == ENOSYS)
				e = errno;
			if (e == EEXIST) {
				status = refuse("'%s' exists (--force "
						"replaces it)", out);
			} else {
				fprintf(stderr, "p2pfs: create: %s: %s\n", out,
					strerror(e));
			}
			goto out;
		}
	}
	free(tmp);
	tmp = NULL;
	/* the rename itself is durable once the folder is synced */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	status = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	return status;
}

/* The summary, with the magnet link made from the torrent as written
 * (MI: its trackers flattened and filtered as `info` shows them). */
static int print_summary(const struct bt_mkinfo *mk, const char *out,
			 const uint8_t ih[20], const struct bt_metainfo *mi)
{
	char hex[41], h[32];
	pfs_hex(ih, 20, hex);
	printf("%-14s %s\n", "torrent:", out);
	printf("%-14s %s\n", "name:", mk->name);
	printf("%-14s %s\n", "info-hash:", hex);
	fs_cli_human_size(mk->piece_length, h, sizeof(h));
	printf("%-14s %s (%" PRIu32 " bytes)\n", "piece size:", h,
	       mk->piece_length);
	printf("%-14s %" PRIu32 "\n", "pieces:", mk->npieces);
	fs_cli_human_size(mk->total_length, h, sizeof(h));
	printf("%-14s %s (%" PRIu64 " bytes)\n", "total size:", h,
	       mk->total_length);
	printf("%-14s %zu\n", "files:", mk->nfiles);
	char *magnet = fs_cli_magnet(ih, mi->name,
				     (const char *const *)mi->trackers,
				     mi->ntrackers);
	if (!magnet)
		return -ENOMEM;
	printf("%-14s %s\n", "magnet:", magnet);
	free(magnet);
	return 0;
}

/* ---- --seal ---- */

/* The folder holding the output file must be writable: found now, not
 * after an hour of hashing. Returns 0 or the exit status. */
static int check_out_dir(const char *out)
{
	char *dir = dir_of(out);
	if (!dir) {
		fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
		return 1;
	}
	int st = 0;
	if (access(dir, W_OK | X_OK) < 0)
		st = refuse("'%s': %s", dir, strerror(errno));
	free(dir);
	return st;
}

static int stream_read(void *arg, uint64_t off, void *buf, size_t len)
{
	return cache_files_pread(arg, off, buf, len);
}

/* Every URL of the -t arguments (commas split them), for the link. */
static size_t tracker_urls(const struct create_opts *o, char **urls,
			   size_t max)
{
	size_t n = 0;
	for (size_t t = 0; t < o->ntrackers; t++)
		for (const char *p = o->trackers[t]; *p && n < max;) {
			size_t l = strcspn(p, ",");
			if (!(urls[n] = strndup(p, l)))
				return n;
			n++;
			p += l;
			if (*p)
				p++;
		}
	return n;
}

static int seal_create(struct create_opts *o, struct bt_mkinfo *mk,
		       bool to_stdout)
{
	struct bt_seal *seal = NULL;
	struct bt_mkinfo *blob = NULL;
	struct cache *c = NULL;
	struct cache_segment *segs = NULL;
	const char **paths = NULL;
	uint8_t key[BT_SEAL_KEY_LEN], salt[BT_SEAL_SALT_LEN], ih[20];
	uint8_t *region = NULL, *buf = NULL;
	char err[PATH_MAX + 256], name[64], *out_default = NULL;
	char *base = NULL, *link = NULL, *urls[MAX_URLS];
	size_t nsegs = 0, len = 0, nurls = 0;
	bool key_written = false;
	int status = 1, rc;
	struct stat st;

	if (!o->output) {
		if (asprintf(&out_default, "%s.torrent", mk->name) < 0) {
			out_default = NULL;
			fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
			goto out;
		}
		o->output = out_default;
		if (!o->force && lstat(o->output, &st) == 0) {
			status = refuse("'%s' exists (--force replaces it)",
					o->output);
			goto out;
		}
	}
	if ((!to_stdout && (status = check_out_dir(o->output)) != 0) ||
	    (o->key_file && (status = check_out_dir(o->key_file)) != 0))
		goto out;
	status = 1;
	if (o->key_file && !o->force && lstat(o->key_file, &st) == 0) {
		status = refuse("key file '%s' exists (--force replaces it)",
				o->key_file);
		goto out;
	}

	/* the share: the walk's files with their times and modes */
	if (!(seal = bt_seal_new(mk->name, mk->single))) {
		status = refuse("'%s': no name for the share", o->path);
		goto out;
	}
	if (mk->single) {
		base = dir_of(mk->root);
	} else {
		base = strdup(mk->root);
	}
	if (!base || !(paths = calloc(mk->nfiles, sizeof(*paths)))) {
		fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < mk->nfiles; i++) {
		char full[PATH_MAX];
		const char *rel = mk->single ? strrchr(mk->root, '/') + 1
					     : mk->files[i].path;
		snprintf(full, sizeof(full), "%s/%s", base, rel);
		if (stat(full, &st) < 0) {
			fprintf(stderr, "p2pfs: create: '%s': %s\n", full,
				strerror(errno));
			goto out;
		}
		if ((uint64_t)st.st_size != mk->files[i].length) {
			fprintf(stderr, "p2pfs: create: '%s': its size changed "
				"while creating the torrent\n", full);
			goto out;
		}
		if ((rc = bt_seal_add(seal, mk->files[i].path,
				      mk->files[i].length,
				      (int64_t)st.st_mtim.tv_sec,
				      (uint32_t)st.st_mtim.tv_nsec,
				      (st.st_mode & 0111) ? BT_SEAL_MODE_EXEC
							  : 0)) < 0) {
			status = refuse("'%s': cannot be sealed: %s", full,
					strerror(-rc));
			goto out;
		}
	}
	if (pfs_random(key, sizeof(key)) < 0 ||
	    pfs_random(salt, sizeof(salt)) < 0) {
		fprintf(stderr, "p2pfs: create: no random bytes\n");
		goto out;
	}
	if ((rc = bt_seal_build(seal, key, salt, err, sizeof(err))) < 0) {
		if (rc == -ENOMEM)
			fprintf(stderr, "p2pfs: create: %s\n", err);
		else
			status = refuse("%s", err);
		goto out;
	}
	/* bt_seal_build sorted the files as bt_mkinfo did: same order */
	for (size_t i = 0; i < seal->nfiles; i++)
		paths[i] = mk->single ? strrchr(mk->root, '/') + 1
				      : seal->files[i].path;

	/* the torrent of the blob */
	bt_seal_torrent_name(seal, name, sizeof(name));
	if (!(blob = bt_mkinfo_new(base, name, true)) ||
	    bt_mkinfo_add_file(blob, name, seal->total_length) < 0) {
		fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
		goto out;
	}
	if ((rc = bt_mkinfo_set_piece_length(blob, o->piece_length, err,
					     sizeof(err))) < 0) {
		if (rc == -ENOMEM)
			fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
		else
			status = refuse("'%s': %s", o->path, err);
		goto out;
	}
	if ((rc = fs_seal_segments(seal, paths, &segs, &nsegs)) < 0) {
		fprintf(stderr, "p2pfs: create: %s\n", strerror(-rc));
		goto out;
	}
	c = cache_open_segments(base, segs, nsegs, blob->npieces,
				blob->piece_length, seal->total_length,
				seal->data_key, seal->data_iv, &rc);
	if (!c) {
		fprintf(stderr, "p2pfs: create: '%s': %s\n", base,
			strerror(-rc));
		goto out;
	}
	struct bar bar = {.drawn = false};
	clock_gettime(CLOCK_MONOTONIC, &bar.t0);
	rc = bt_mkinfo_hash_stream(blob, stream_read, c, o->threads,
				   isatty(STDERR_FILENO) ? bar_draw : NULL,
				   &bar, err, sizeof(err));
	bar_end(&bar, blob->total_length, rc == 0);
	if (rc < 0) {
		fprintf(stderr, "p2pfs: create: %s\n", err);
		goto out;
	}
	if (!(region = malloc(seal->data_off)) ||
	    bt_seal_header_region(seal, region) < 0) {
		fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
		goto out;
	}
	char by[64];
	snprintf(by, sizeof(by), "p2pfs %s", PFS_VERSION);
	struct bt_mkinfo_opts mo = {
		.trackers = o->trackers,
		.ntrackers = o->ntrackers,
		.web_seeds = o->web_seeds,
		.nweb_seeds = o->nweb_seeds,
		.comment = o->comment,
		.created_by = by,
		.creation_date = o->no_date ? 0 : (int64_t)time(NULL),
		.private_flag = o->private_flag,
		.seal_header = region,
		.seal_header_len = seal->data_off,
	};
	if ((rc = bt_mkinfo_torrent(blob, &mo, &buf, &len, ih, err,
				    sizeof(err))) < 0) {
		if (rc == -ENOMEM)
			fprintf(stderr, "p2pfs: create: %s\n", err);
		else
			status = refuse("%s", err);
		goto out;
	}
	nurls = tracker_urls(o, urls, MAX_URLS);
	if (!(link = bt_seal_link(ih, name, (const char *const *)urls, nurls,
				  key))) {
		fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
		goto out;
	}
	/* the key file first: a torrent without its key would be useless */
	if (o->key_file) {
		if ((rc = fs_seal_write_key(o->key_file, link, o->force)) < 0) {
			fprintf(stderr, "p2pfs: create: key file '%s': %s\n",
				o->key_file, strerror(-rc));
			goto out;
		}
		key_written = true;
	}
	if (to_stdout) {
		if ((rc = write_all(STDOUT_FILENO, buf, len)) < 0) {
			fprintf(stderr, "p2pfs: create: stdout: %s\n",
				strerror(-rc));
			goto out;
		}
		status = 0;
		goto out;
	}
	if ((status = write_atomic(o->output, buf, len, o->force)) != 0)
		goto out;
	char h[32], hp[32], hex[41];
	pfs_hex(ih, 20, hex);
	printf("%-14s %s\n", "torrent:", o->output);
	printf("%-14s %s (sealed)\n", "name:", name);
	printf("%-14s %s\n", "info-hash:", hex);
	fs_cli_human_size(blob->piece_length, h, sizeof(h));
	printf("%-14s %s (%" PRIu32 " bytes)\n", "piece size:", h,
	       blob->piece_length);
	printf("%-14s %" PRIu32 "\n", "pieces:", blob->npieces);
	fs_cli_human_size(mk->total_length, h, sizeof(h));
	fs_cli_human_size(seal->total_length, hp, sizeof(hp));
	printf("%-14s %zu file%s, %s, sealed in a blob of %s\n", "shared:",
	       mk->nfiles, mk->nfiles == 1 ? "" : "s", h, hp);
	if (o->key_file)
		printf("%-14s %s (mode 0600)\n", "key file:", o->key_file);
	printf("%-14s %s\n", "link:", link);
	printf("Give the link (or the key file) only to those who may open the "
	       "share: it holds its key.\n");
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	if (status != 0 && key_written)
		unlink(o->key_file);
	if (link) {
		pfs_wipe(link, strlen(link));
		free(link);
	}
	for (size_t i = 0; i < nurls; i++)
		free(urls[i]);
	pfs_wipe(key, sizeof(key));
	cache_close(c);
	free(segs);
	free(paths);
	free(region);
	free(buf);
	free(base);
	free(out_default);
	bt_mkinfo_free(blob);
	bt_seal_free(seal);
	return status;
}

int fs_cmd_create(int argc, char **argv)
{
	struct create_opts o;
	struct bt_mkinfo *mk = NULL;
	struct bt_metainfo *mi = NULL;
	uint8_t *buf = NULL, ih[20];
	size_t len = 0;
	char err[PATH_MAX + 256], *out_default = NULL;
	int status = 1, rc;

	if ((status = parse(argc, argv, &o)) != 0)
		return status;
	if (o.help) {
		printf("usage:\n%s", fs_cmd_create_usage);
		return 0;
	}
	status = 1;
	bool to_stdout = o.output && !strcmp(o.output, "-");

	/* the output first when it is given: refuse before a long walk */
	struct stat st;
	if (to_stdout && isatty(STDOUT_FILENO)) {
		status = refuse("not writing a .torrent to a terminal");
		goto out;
	}
	if (o.output && !to_stdout && !o.force && lstat(o.output, &st) == 0) {
		status = refuse("'%s' exists (--force replaces it)", o.output);
		goto out;
	}

	rc = bt_mkinfo_scan(o.path, o.follow ? BT_MKINFO_FOLLOW_SYMLINKS : 0,
			    warn_skip, NULL, &mk, err, sizeof(err));
	if (rc < 0) {
		if (rc == -ENOMEM)
			fprintf(stderr, "p2pfs: create: %s\n", err);
		else
			status = refuse("%s", err);
		goto out;
	}
	if (o.seal) {
		status = seal_create(&o, mk, to_stdout);
		goto out;
	}
	if ((rc = bt_mkinfo_set_piece_length(mk, o.piece_length, err,
					     sizeof(err))) < 0) {
		if (rc == -ENOMEM)
			fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
		else
			status = refuse("'%s': %s", o.path, err);
		goto out;
	}
	if (!o.output) {
		if (asprintf(&out_default, "%s.torrent", mk->name) < 0) {
			out_default = NULL;
			fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
			goto out;
		}
		o.output = out_default;
		if (!o.force && lstat(o.output, &st) == 0) {
			status = refuse("'%s' exists (--force replaces it)",
					o.output);
			goto out;
		}
	}
	if (!to_stdout) {
		/* a folder we cannot write to is found now, not after an
		 * hour of hashing */
		char *dir = dir_of(o.output);
		bool ok = dir && access(dir, W_OK | X_OK) == 0;
		int e = errno;
		if (!ok && dir) {
			status = refuse("'%s': %s", dir, strerror(e));
			free(dir);
			goto out;
		}
		free(dir);
		if (!ok) {
			fprintf(stderr, "p2pfs: create: %s\n", strerror(ENOMEM));
			goto out;
		}
	}

	struct bar bar = {.drawn = false};
	clock_gettime(CLOCK_MONOTONIC, &bar.t0);
	bool tty = isatty(STDERR_FILENO);
	rc = bt_mkinfo_hash(mk, o.threads, tty ? bar_draw : NULL, &bar, err,
			    sizeof(err));
	bar_end(&bar, mk->total_length, rc == 0);
	if (rc < 0) {
		fprintf(stderr, "p2pfs: create: %s\n", err);
		goto out;
	}

	char by[64];
	snprintf(by, sizeof(by), "p2pfs %s", PFS_VERSION);
	struct bt_mkinfo_opts mo = {
		.trackers = o.trackers,
		.ntrackers = o.ntrackers,
		.web_seeds = o.web_seeds,
		.nweb_seeds = o.nweb_seeds,
		.comment = o.comment,
		.created_by = by,
		.creation_date = o.no_date ? 0 : (int64_t)time(NULL),
		.private_flag = o.private_flag,
	};
	if ((rc = bt_mkinfo_torrent(mk, &mo, &buf, &len, ih, err,
				    sizeof(err))) < 0) {
		if (rc == -ENOMEM)
			fprintf(stderr, "p2pfs: create: %s\n", err);
		else
			status = refuse("%s", err);
		goto out;
	}
	if (to_stdout) {
		if ((rc = write_all(STDOUT_FILENO, buf, len)) < 0) {
			fprintf(stderr, "p2pfs: create: stdout: %s\n",
				strerror(-rc));
			goto out;
		}
		status = 0;
		goto out;
	}
	if ((status = write_atomic(o.output, buf, len, o.force)) != 0)
		goto out;
	if ((rc = bt_metainfo_parse(buf, len, &mi, err, sizeof(err))) < 0 ||
	    print_summary(mk, o.output, ih, mi) < 0) {
		fprintf(stderr, "p2pfs: create: %s\n",
			rc < 0 && rc != -ENOMEM ? err : strerror(ENOMEM));
		goto out;
	}
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	free(buf);
	free(out_default);
	bt_metainfo_free(mi);
	bt_mkinfo_free(mk);
	return status;
}
