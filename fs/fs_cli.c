/* fs_cli — option parsing of the p2pfs subcommands, size formatting and the
 * mount-table reader; see fs_cli.h. Kept apart from fs/main.c so the unit
 * test can drive the parsers without running anything. */
#include "fs_cli.h"

#include "bt_magnet.h"
#include "bt_session.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_CACHE = 256,
	OPT_PORT,
	OPT_BIND,
	OPT_PEER,
	OPT_NO_TRACKERS,
	OPT_LOG,
	OPT_MAX_PEERS,
	OPT_MAX_UP,
	OPT_MAX_DOWN,
	OPT_SEED_AFTER,
	OPT_PARTIAL,
	OPT_THREADS,
	OPT_RECHECK,
	OPT_CACHE_SIZE,
	OPT_FETCH_ALL,
	OPT_KEY_FILE,
	OPT_REMEMBER_KEY,
	OPT_HEADER_TIMEOUT,
};

/* Strict unsigned decimal in [MIN, MAX]. */
static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int fs_cli_parse_rate(const char *s, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;
	if (!s || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > (1ull << 40))
			return -EINVAL;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++)
			if (scale < 1000000000) { /* further digits: noise */
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	unsigned shift = 0;
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	}
	if (*p || whole > (1ull << 40) >> shift)
		return -EINVAL;
	uint64_t v = (whole << shift) + ((frac << shift) + scale / 2) / scale;
	if (v > (1ull << 40))
		return -EINVAL;
	*out = v;
	return 0;
}

/* The message for getopt's '?' or ':' (opterr is off: ours are one line). */
static void bad_option(int c, char **argv, char *err, size_t errlen)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	if (c == ':')
		snprintf(err, errlen, "option '%s' needs an argument", arg);
	else if (optopt)
		snprintf(err, errlen, "unknown option '-%c'", optopt);
	else
		snprintf(err, errlen, "unknown option '%s'", arg);
}

static int append_opts(char **dst, const char *add)
{
	if (!*add)
		return 0;
	size_t old = *dst ? strlen(*dst) : 0;
	char *s = realloc(*dst, old + strlen(add) + 2);
	if (!s)
		return -ENOMEM;
	if (old)
		s[old++] = ',';
	strcpy(s + old, add);
	*dst = s;
	return 0;
}

/* The long options of struct fs_cli_engine, in both parsers' tables. */
#define ENGINE_LONGOPTS                                                        \
	{"cache", required_argument, NULL, OPT_CACHE},                         \
	{"port", required_argument, NULL, OPT_PORT},                           \
	{"bind", required_argument, NULL, OPT_BIND},                           \
	{"peer", required_argument, NULL, OPT_PEER},                           \
	{"no-trackers", no_argument, NULL, OPT_NO_TRACKERS},                   \
	{"max-peers", required_argument, NULL, OPT_MAX_PEERS},                 \
	{"max-up", required_argument, NULL, OPT_MAX_UP},                       \
	{"max-down", required_argument, NULL, OPT_MAX_DOWN},                   \
	{"verbose", no_argument, NULL, 'v'},                                   \
	{"log", required_argument, NULL, OPT_LOG}

/* Option C (with ARG) if it is one of struct fs_cli_engine's: returns 1
 * when taken, 0 when it is not an engine option, -EINVAL with ERR or
 * -ENOMEM. */
static int engine_opt(int c, char *arg, struct fs_cli_engine *e, char *err,
		      size_t errlen)
{
	unsigned long v;
	switch (c) {
	case 'v':
		e->verbose++;
		return 1;
	case OPT_CACHE:
		e->cache_dir = arg;
		return 1;
	case OPT_PORT:
		if (parse_uint(arg, 0, 65535, &v) < 0) {
			snprintf(err, errlen, "bad port '%s' (want 0..65535)",
				 arg);
			return -EINVAL;
		}
		e->port = (uint16_t)v;
		return 1;
	case OPT_BIND:
		e->bind_ip = arg;
		return 1;
	case OPT_PEER: {
		const char **p = realloc(e->peers, (e->npeers + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		e->peers = p;
		e->peers[e->npeers++] = arg;
		return 1;
	}
	case OPT_NO_TRACKERS:
		e->no_trackers = true;
		return 1;
	case OPT_MAX_PEERS:
		if (parse_uint(arg, 1, 10000, &v) < 0) {
			snprintf(err, errlen,
				 "bad peer limit '%s' (want 1..10000)", arg);
			return -EINVAL;
		}
		e->max_peers = (int)v;
		return 1;
	case OPT_MAX_UP:
	case OPT_MAX_DOWN:
		if (fs_cli_parse_rate(arg, c == OPT_MAX_UP ? &e->max_up
							   : &e->max_down) < 0) {
			snprintf(err, errlen, "bad rate '%s' (want bytes/s, e.g. "
				 "500K or 10M; 0 = no limit)", arg);
			return -EINVAL;
		}
		return 1;
	case OPT_LOG:
		e->log_file = arg;
		return 1;
	}
	return 0;
}

void fs_cli_session_opts(const struct fs_cli_engine *e,
			 struct bt_session_opts *so)
{
	memset(so, 0, sizeof(*so));
	so->bind_ip = e->bind_ip;
	so->port = e->port;
	so->peers = e->peers;
	so->npeers = e->npeers;
	so->no_trackers = e->no_trackers;
	so->max_peers = e->max_peers;
	so->max_up = e->max_up;
	so->max_down = e->max_down;
}

int fs_cli_session_error(const struct fs_cli_engine *e, int err)
{
	if (err == -EINVAL) {
		fprintf(stderr, "p2pfs: bad --peer or --bind address\n");
		return 2;
	}
	fprintf(stderr, "p2pfs: cannot listen on port %u: %s\n", e->port,
		strerror(-err));
	return 1;
}

int fs_cli_parse_mount(int argc, char **argv, struct fs_cli_mount *m,
		       char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"debug", no_argument, NULL, 'd'},
		{"options", required_argument, NULL, 'o'},
		ENGINE_LONGOPTS,
		{"cache-size", required_argument, NULL, OPT_CACHE_SIZE},
		{"fetch-all", no_argument, NULL, OPT_FETCH_ALL},
		{"seed-after", no_argument, NULL, OPT_SEED_AFTER},
		{"key-file", required_argument, NULL, OPT_KEY_FILE},
		{"remember-key", no_argument, NULL, OPT_REMEMBER_KEY},
		{"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int rc = -EINVAL, c;
	memset(m, 0, sizeof(*m));
	err[0] = '\0';
	optind = 0; /* GNU: full re-initialisation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fdo:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			m->foreground = true;
			break;
		case 'd':
			m->debug = m->foreground = true;
			break;
		case 'o':
			if ((rc = append_opts(&m->fuse_opts, optarg)) < 0)
				goto out;
			rc = -EINVAL;
			break;
		case 'h':
			m->help = true;
			break;
		case OPT_SEED_AFTER:
			m->seed_after = true;
			break;
		case OPT_CACHE_SIZE:
			if (fs_cli_parse_size(optarg, &m->cache_size) < 0) {
				snprintf(err, errlen,
					 "bad cache size '%s' (e.g. 500M, 2G)",
					 optarg);
				goto out;
			}
			break;
		case OPT_FETCH_ALL:
			m->fetch_all = true;
			break;
		case OPT_KEY_FILE:
			m->key_file = optarg;
			break;
		case OPT_REMEMBER_KEY:
			m->remember_key = true;
			break;
		case OPT_HEADER_TIMEOUT: {
			unsigned long v;
			if (parse_uint(optarg, 1, 86400, &v) < 0) {
				snprintf(err, errlen, "bad header timeout '%s' "
					 "(want 1..86400 seconds)", optarg);
				goto out;
			}
			m->header_timeout = (unsigned)v;
			break;
		}
		default:
			if ((rc = engine_opt(c, optarg, &m->eng, err, errlen)) < 0)
				goto out;
			if (!rc) {
				bad_option(c, argv, err, errlen);
				rc = -EINVAL;
				goto out;
			}
			rc = -EINVAL;
		}
	}
	if (m->help)
		return 0;
	if (argc - optind != 2) {
		snprintf(err, errlen, "%s", argc - optind < 2
			 ? "need a torrent file and a mount point"
			 : "too many arguments");
		goto out;
	}
	m->torrent = argv[optind];
	m->mountpoint = argv[optind + 1];
	rc = 0;
out:
	return rc;
}

void fs_cli_mount_release(struct fs_cli_mount *m)
{
	free(m->fuse_opts);
	free(m->eng.peers);
	m->fuse_opts = NULL;
	m->eng.peers = NULL;
	m->eng.npeers = 0;
}

int fs_cli_parse_seed(int argc, char **argv, struct fs_cli_seed *m,
		      char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{"foreground", no_argument, NULL, 'f'},
		ENGINE_LONGOPTS,
		{"partial", no_argument, NULL, OPT_PARTIAL},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"recheck", no_argument, NULL, OPT_RECHECK},
		{"key-file", required_argument, NULL, OPT_KEY_FILE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc;
	unsigned long v;
	memset(m, 0, sizeof(*m));
	err[0] = '\0';
	optind = 0; /* GNU: full re-initialisation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			m->foreground = true;
			break;
		case 'h':
			m->help = true;
			break;
		case OPT_PARTIAL:
			m->partial = true;
			break;
		case OPT_RECHECK:
			m->recheck = true;
			break;
		case OPT_KEY_FILE:
			m->key_file = optarg;
			break;
		case OPT_THREADS:
			if (parse_uint(optarg, 1, 64, &v) < 0) {
				snprintf(err, errlen,
					 "bad thread count '%s' (want 1..64)", optarg);
				return -EINVAL;
			}
			m->threads = (unsigned)v;
			break;
		default:
			if ((rc = engine_opt(c, optarg, &m->eng, err, errlen)) < 0)
				return rc;
			if (!rc) {
				bad_option(c, argv, err, errlen);
				return -EINVAL;
			}
		}
	}
	if (m->help)
		return 0;
	if (argc - optind != 2) {
		snprintf(err, errlen, "%s", argc - optind < 2
			 ? "need a torrent file and the path of its data"
			 : "too many arguments");
		return -EINVAL;
	}
	m->torrent = argv[optind];
	m->path = argv[optind + 1];
	return 0;
}

void fs_cli_seed_release(struct fs_cli_seed *m)
{
	free(m->eng.peers);
	m->eng.peers = NULL;
	m->eng.npeers = 0;
}

int fs_cli_parse_one(int argc, char **argv, const char **operand, char *err,
		     size_t errlen)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	bool help = false;
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			help = true;
			continue;
		}
		bad_option(c, argv, err, errlen);
		return -EINVAL;
	}
	if (help)
		return 1;
	if (argc - optind != 1) {
		snprintf(err, errlen, "%s", argc - optind < 1
			 ? "missing operand" : "too many arguments");
		return -EINVAL;
	}
	*operand = argv[optind];
	return 0;
}

int fs_cli_parse_size(const char *s, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;
	if (!s || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	bool dot = *p == '.';
	if (dot) {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (int n = 0; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 6) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	int shift = 0;
	switch (*p) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (shift) {
		p++;
		if (*p == 'i')
			p++;
		if (*p == 'B')
			p++;
	} else if (dot) {
		return -EINVAL; /* "1.5" bytes */
	}
	if (*p)
		return -EINVAL;
	const uint64_t max = 1ull << 62;
	if (whole > (max >> shift))
		return -EINVAL;
	uint64_t v = (whole << shift) + ((frac << shift) / scale);
	if (v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

char *fs_cli_magnet(const uint8_t info_hash[20], const char *name,
		    const char *const *trackers, size_t ntrackers)
{
	/* bt_magnet_format() only reads the fields it is given */
	struct bt_magnet m = {
		.name = (char *)name,
		.trackers = (char **)trackers,
		.ntrackers = ntrackers,
	};
	char *out = NULL;
	memcpy(m.info_hash, info_hash, 20);
	int rc = bt_magnet_format(&m, false, &out);
	return rc == 0 ? out : NULL;
}

void fs_cli_human_size(uint64_t n, char *out, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB",
					    "EiB"};
	if (n < 1024) {
		snprintf(out, len, "%" PRIu64 " B", n);
		return;
	}
	double v = (double)n / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	/* 1023.96 would print as "1024.0": step up a unit instead */
	if (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, "%.1f %s", v, units[u]);
}

/* ---- mountinfo ---- */

char *fs_mountinfo_read(int fd)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = pread(fd, buf + len, cap - len - 1, (off_t)len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	return buf;
}

/* Copy field number IDX (0-based, space-separated) of LINE (up to EOL) into
 * OUT, undoing the octal escapes (\040) of mountinfo. False if absent or too
 * long. */
static bool field(const char *line, const char *eol, int idx, char *out,
		  size_t len)
{
	const char *p = line;
	for (int i = 0; i < idx; i++) {
		while (p < eol && *p != ' ')
			p++;
		if (p >= eol)
			return false;
		p++;
	}
	size_t o = 0;
	while (p < eol && *p != ' ') {
		char ch = *p++;
		if (ch == '\\' && eol - p >= 3 && p[0] >= '0' && p[0] <= '3' &&
		    p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7') {
			ch = (char)((p[0] - '0') * 64 + (p[1] - '0') * 8 +
				    (p[2] - '0'));
			p += 3;
		}
		if (o + 1 >= len)
			return false;
		out[o++] = ch;
	}
	out[o] = '\0';
	return true;
}

/* The file system type: the field after the " - " separator. */
static bool fstype(const char *line, const char *eol, char *out, size_t len)
{
	const char *p = line;
	while (p + 3 <= eol && memcmp(p, " - ", 3))
		p++;
	if (p + 3 > eol)
		return false;
	return field(p + 3, eol, 0, out, len);
}

int fs_mountinfo_find(const char *buf, const char *mnt, char *dev,
		      size_t devlen, char *type, size_t typelen)
{
	char mp[4096], d[64], ty[64];
	int rc = -ENOENT;
	for (const char *line = buf; *line;) {
		const char *eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		if (field(line, eol, 4, mp, sizeof(mp)) && !strcmp(mp, mnt) &&
		    field(line, eol, 2, d, sizeof(d)) &&
		    fstype(line, eol, ty, sizeof(ty))) {
			snprintf(dev, devlen, "%s", d);
			snprintf(type, typelen, "%s", ty);
			rc = 0;
		}
		line = *eol ? eol + 1 : eol;
	}
	return rc;
}

bool fs_mountinfo_has_dev(const char *buf, const char *dev)
{
	char d[64];
	for (const char *line = buf; *line;) {
		const char *eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		if (field(line, eol, 2, d, sizeof(d)) && !strcmp(d, dev))
			return true;
		line = *eol ? eol + 1 : eol;
	}
	return false;
}
