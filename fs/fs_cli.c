/* fs_cli — option parsing of the p2pfs subcommands, size formatting and the
 * mount-table reader; see fs_cli.h. Kept apart from fs/main.c so the unit
 * test can drive the parsers without running anything. */
#include "fs_cli.h"

#include "bt_addr.h"
#include "bt_magnet.h"
#include "bt_metainfo.h"
#include "bt_mse.h"
#include "bt_session.h"
#include "pfs_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
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
	OPT_METADATA_TIMEOUT,
	OPT_NO_WAIT,
	OPT_READ_TIMEOUT,
	OPT_COUNT,
	OPT_LSD,
	OPT_NO_LSD,
	OPT_NO_DHT,
	OPT_DHT_BOOTSTRAP,
	OPT_ENCRYPTION,
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
	{"lsd", no_argument, NULL, OPT_LSD},                                   \
	{"no-lsd", no_argument, NULL, OPT_NO_LSD},                             \
	{"no-dht", no_argument, NULL, OPT_NO_DHT},                             \
	{"dht-bootstrap", required_argument, NULL, OPT_DHT_BOOTSTRAP},         \
	{"max-peers", required_argument, NULL, OPT_MAX_PEERS},                 \
	{"max-up", required_argument, NULL, OPT_MAX_UP},                       \
	{"max-down", required_argument, NULL, OPT_MAX_DOWN},                   \
	{"encryption", required_argument, NULL, OPT_ENCRYPTION},               \
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
	case OPT_BIND: {
		/* an IPv6 address may come bracketed, as in [ADDR]:PORT */
		size_t l = strlen(arg);
		if (l >= 2 && arg[0] == '[' && arg[l - 1] == ']') {
			arg[l - 1] = '\0';
			arg++;
		}
		e->bind_ip = arg;
		return 1;
	}
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
	case OPT_LSD:
	case OPT_NO_LSD:
		e->lsd = c == OPT_LSD ? 1 : -1;
		return 1;
	case OPT_NO_DHT:
		e->no_dht = true;
		return 1;
	case OPT_DHT_BOOTSTRAP: {
		const char **p = realloc(e->dht_bootstrap,
					 (e->ndht_bootstrap + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		e->dht_bootstrap = p;
		e->dht_bootstrap[e->ndht_bootstrap++] = arg;
		return 1;
	}
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
	case OPT_ENCRYPTION: {
		enum bt_mse_policy pol;
		if (bt_mse_policy_parse(arg, &pol) < 0) {
			snprintf(err, errlen, "bad --encryption '%s' (want "
				 "prefer, require or off)", arg);
			return -EINVAL;
		}
		e->encryption = (int)pol;
		return 1;
	}
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
	so->lsd = e->lsd > 0 ? BT_ENGINE_LSD_ON
		  : e->lsd < 0 ? BT_ENGINE_LSD_OFF : BT_ENGINE_LSD_AUTO;
	so->max_peers = e->max_peers;
	so->max_up = e->max_up;
	so->max_down = e->max_down;
	so->dht = !e->no_dht;
	so->dht_bootstrap = e->dht_bootstrap;
	so->ndht_bootstrap = e->ndht_bootstrap;
	so->encryption = e->encryption;
}

int fs_cli_session_error(const struct fs_cli_engine *e, int err)
{
	unsigned char buf[sizeof(struct in6_addr)];
	const char *b = e->bind_ip;
	bool numeric = b && (inet_pton(AF_INET, b, buf) == 1 ||
			     inet_pton(AF_INET6, b, buf) == 1);
	switch (err) {
	case -EINVAL:
		if (b && !numeric) {
			fs_cli_error("--bind '%s': not an IP address", b);
		} else {
			fs_cli_error("bad --peer address (want IP:PORT or "
				     "HOST:PORT, IPv6 as [ADDR]:PORT)");
		}
		return 2;
	case -EADDRNOTAVAIL:
		fs_cli_error("--bind %s: not an address of this machine (see "
			     "'ip address')", b ? b : "?");
		return 2;
	case -EADDRINUSE:
		fs_cli_error("port %u%s%s is already in use: choose another "
			     "with --port, or --port 0 for any free port",
			     e->port, b ? " on " : "", b ? b : "");
		return 1;
	case -EACCES:
		fs_cli_error("port %u: permission denied (ports below 1024 "
			     "need root)", e->port);
		return 1;
	}
	fs_cli_error("cannot listen on port %u: %s", e->port, strerror(-err));
	return 1;
}

void fs_cli_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "p2pfs: %s\n", msg);
	if (!pfs_log_to_stderr())
		pfs_log(PFS_LOG_ERROR, "main", "%s", msg);
}

/* ---- mount's -o options ---- */

/* FUSE options passed on: flags, then those taking "=VALUE". */
static const char *const fuse_flags[] = {
	"allow_other", "allow_root", "default_permissions", "auto_unmount",
	"async_read", "sync_read", "splice_read", "no_splice_read",
	"splice_move", "no_splice_move", "splice_write", "no_splice_write",
	"async_dio", "no_async_dio", "noatime", "atime", "relatime",
	"nodev", "dev", "nosuid", "suid", "noexec", "exec", "ro", "debug",
};
static const char *const fuse_values[] = {
	"fsname", "subtype", "max_read", "max_readahead", "max_background",
	"congestion_threshold",
};

static bool in_list(const char *const *list, size_t n, const char *name,
		    size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && !memcmp(list[i], name, len))
			return true;
	return false;
}

static int parse_id(const char *v, bool user, uint32_t *out)
{
	unsigned long n;
	if (*v >= '0' && *v <= '9') {
		char *end;
		errno = 0;
		n = strtoul(v, &end, 10);
		if (errno || *end || n >= UINT32_MAX)
			return -EINVAL;
		*out = (uint32_t)n;
		return 0;
	}
	if (user) {
		struct passwd *pw = getpwnam(v);
		if (!pw)
			return -ENOENT;
		*out = (uint32_t)pw->pw_uid;
	} else {
		struct group *gr = getgrnam(v);
		if (!gr)
			return -ENOENT;
		*out = (uint32_t)gr->gr_gid;
	}
	return 0;
}

/* One option TOK of LEN bytes (escapes still in it). */
static int mount_opt(struct fs_cli_mount *m, const char *tok, size_t len,
		     char *err, size_t errlen)
{
	char opt[512];
	if (len >= sizeof(opt)) {
		snprintf(err, errlen, "mount option too long");
		return -EINVAL;
	}
	memcpy(opt, tok, len);
	opt[len] = '\0';
	char *eq = strchr(opt, '=');
	size_t nl = eq ? (size_t)(eq - opt) : len;
	const char *val = eq ? eq + 1 : NULL;
	unsigned long v;
#define IS(name) (nl == strlen(name) && !memcmp(opt, name, nl))
	if (IS("timeout")) {
		if (!val || parse_uint(val, 0, 604800, &v) < 0) {
			snprintf(err, errlen, "bad -o timeout '%s' (want "
				 "seconds, 0 = wait forever)", val ? val : "");
			return -EINVAL;
		}
		m->read_timeout = (unsigned)v;
		return 0;
	}
	if (IS("uid") || IS("gid")) {
		bool user = IS("uid");
		int rc = val && *val ? parse_id(val, user, user ? &m->uid : &m->gid)
				     : -EINVAL;
		if (rc < 0) {
			snprintf(err, errlen, "-o %s=%s: %s", user ? "uid" : "gid",
				 val ? val : "", rc == -ENOENT
				 ? (user ? "no such user" : "no such group")
				 : "want a number or a name");
			return -EINVAL;
		}
		if (user)
			m->set_uid = true;
		else
			m->set_gid = true;
		return 0;
	}
	if (IS("umask")) {
		char *end;
		errno = 0;
		v = val && *val >= '0' && *val <= '7' ? strtoul(val, &end, 8) : 01000;
		if (!val || errno || v > 0777 || *end) {
			snprintf(err, errlen, "bad -o umask '%s' (want octal, "
				 "e.g. 022)", val ? val : "");
			return -EINVAL;
		}
		m->umask = (uint32_t)v;
		m->set_umask = true;
		return 0;
	}
	if (IS("nonempty") && !val) {
		m->nonempty = true;
		return 0;
	}
	if (IS("rw")) {
		snprintf(err, errlen, "-o rw: a p2pfs mount is read-only");
		return -EINVAL;
	}
#undef IS
	bool ok = val ? in_list(fuse_values, sizeof(fuse_values) /
				sizeof(fuse_values[0]), opt, nl) && *val
		      : in_list(fuse_flags, sizeof(fuse_flags) /
				sizeof(fuse_flags[0]), opt, nl);
	if (!ok) {
		snprintf(err, errlen, "unknown mount option '%s' (see 'p2pfs "
			 "mount --help')", opt);
		return -EINVAL;
	}
	char *keep = strndup(tok, len);
	if (!keep)
		return -ENOMEM;
	int rc = append_opts(&m->fuse_opts, keep);
	free(keep);
	return rc;
}

int fs_cli_mount_opts(struct fs_cli_mount *m, const char *opts, char *err,
		      size_t errlen)
{
	const char *p = opts, *start = opts;
	for (;; p++) {
		if (*p == '\\' && p[1]) {
			p++; /* an escaped character stays in the option */
			continue;
		}
		if (*p != ',' && *p != '\0')
			continue;
		if (p > start) {
			int rc = mount_opt(m, start, (size_t)(p - start), err,
					   errlen);
			if (rc < 0)
				return rc;
		}
		if (!*p)
			return 0;
		start = p + 1;
	}
}

/* ---- peers by name ---- */

static int add_resolved(struct fs_cli_engine *e, const char **out, size_t *n,
			const char *s)
{
	char **r = realloc(e->resolved, (e->nresolved + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	e->resolved = r;
	if (!(r[e->nresolved] = strdup(s)))
		return -ENOMEM;
	out[(*n)++] = r[e->nresolved++];
	return 0;
}

#define RESOLVE_MAX 8 /* addresses taken from one name */

/* Resolve the HOST:PORT names of *LIST (option OPT) into numeric strings. */
static int resolve_list(struct fs_cli_engine *e, const char ***list,
			size_t *nlist, const char *opt, char *err,
			size_t errlen)
{
	if (!*nlist)
		return 0;
	size_t cap = *nlist * RESOLVE_MAX, n = 0;
	const char **out = calloc(cap, sizeof(*out));
	int rc = -ENOMEM;
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < *nlist; i++) {
		const char *arg = (*list)[i];
		struct bt_addr a;
		if (bt_addr_parse(arg, &a) == 0) {
			out[n++] = arg;
			continue;
		}
		char host[256];
		uint16_t port;
		if (bt_addr_split_host(arg, host, sizeof(host), &port) < 0) {
			snprintf(err, errlen, "%s '%s': want HOST:PORT (a "
				 "port of 1..65535; IPv6 as [ADDR]:PORT)", opt,
				 arg);
			rc = -EINVAL;
			goto out;
		}
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
		int g = getaddrinfo(host, NULL, &hints, &res);
		if (g != 0) {
			snprintf(err, errlen, "%s '%s': cannot resolve '%s': "
				 "%s", opt, arg, host, g == EAI_SYSTEM
				 ? strerror(errno) : gai_strerror(g));
			rc = -EINVAL;
			goto out;
		}
		size_t got = 0;
		for (struct addrinfo *ai = res; ai && got < RESOLVE_MAX;
		     ai = ai->ai_next) {
			struct bt_addr ra;
			char s[BT_ADDR_STRLEN];
			if (bt_addr_from_sockaddr(&ra, ai->ai_addr,
						  ai->ai_addrlen) < 0)
				continue;
			ra.port = port;
			bt_addr_str(&ra, s, sizeof(s));
			bool dup = false;
			for (size_t k = 0; k < n; k++)
				dup |= !strcmp(out[k], s);
			if (dup)
				continue;
			if ((rc = add_resolved(e, out, &n, s)) < 0) {
				freeaddrinfo(res);
				goto out;
			}
			got++;
		}
		freeaddrinfo(res);
		if (!got) {
			snprintf(err, errlen, "%s '%s': '%s' has no usable "
				 "address", opt, arg, host);
			rc = -EINVAL;
			goto out;
		}
		pfs_log(PFS_LOG_INFO, "main", "%s '%s' is %s%s", opt + 2, arg,
			out[n - got], got > 1 ? " (and more)" : "");
	}
	free(*list);
	*list = out;
	*nlist = n;
	return 0;
out:
	free(out);
	return rc;
}

int fs_cli_resolve_peers(struct fs_cli_engine *e, char *err, size_t errlen)
{
	int rc = resolve_list(e, &e->peers, &e->npeers, "--peer", err, errlen);
	if (rc == 0)
		rc = resolve_list(e, &e->dht_bootstrap, &e->ndht_bootstrap,
				  "--dht-bootstrap", err, errlen);
	return rc;
}

static void engine_release(struct fs_cli_engine *e)
{
	free(e->peers);
	free(e->dht_bootstrap);
	e->dht_bootstrap = NULL;
	e->ndht_bootstrap = 0;
	for (size_t i = 0; i < e->nresolved; i++)
		free(e->resolved[i]);
	free(e->resolved);
	e->peers = NULL;
	e->npeers = 0;
	e->resolved = NULL;
	e->nresolved = 0;
}

/* ---- torrent operands ---- */

enum fs_cli_source fs_cli_source_kind(const char *arg)
{
	if (!strncasecmp(arg, "magnet:", 7))
		return FS_CLI_SOURCE_MAGNET;
	/* SCHEME:// with a scheme of letters, digits, + - . */
	const char *p = arg;
	if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' ||
		       *p == '.')
			p++;
		if (!strncmp(p, "://", 3))
			return FS_CLI_SOURCE_URL;
	}
	return FS_CLI_SOURCE_FILE;
}

bool fs_cli_announce_url_ok(const char *url)
{
	return !strncasecmp(url, "http://", 7) ||
	       !strncasecmp(url, "https://", 8) ||
	       !strncasecmp(url, "udp://", 6);
}

int fs_cli_load_torrent(const char *arg, struct bt_metainfo **mi, char *err,
			size_t errlen)
{
	char why[512];
	*mi = NULL;
	switch (fs_cli_source_kind(arg)) {
	case FS_CLI_SOURCE_MAGNET:
		/* mount and info take magnet links before calling this */
		snprintf(err, errlen, "'%.60s%s': a magnet link; this command "
			 "takes .torrent files only (p2pfs mount and p2pfs info "
			 "take magnet links)", arg, strlen(arg) > 60 ? "..." : "");
		return -EPROTONOSUPPORT;
	case FS_CLI_SOURCE_URL:
		if (access(arg, F_OK) == 0)
			break; /* a file that happens to be named so */
		snprintf(err, errlen, "'%s': a URL; p2pfs does not download "
			 ".torrent files: fetch it first (e.g. curl -o "
			 "FILE.torrent URL) and give the file", arg);
		return -EPROTONOSUPPORT;
	case FS_CLI_SOURCE_FILE:
		break;
	}
	int rc = bt_metainfo_load(arg, mi, why, sizeof(why));
	if (rc == 0)
		return 0;
	if (rc == -ENOMEM) {
		snprintf(err, errlen, "%s: %s", arg, strerror(ENOMEM));
		return rc;
	}
	if (rc != -EINVAL || !why[0]) { /* could not be read at all */
		snprintf(err, errlen, "%s: %s", arg,
			 rc == -EFBIG && why[0] ? why : strerror(-rc));
		return rc;
	}
	/* a malformed torrent starts as one: a bencoded dictionary */
	unsigned char first = 0;
	int fd = open(arg, O_RDONLY | O_CLOEXEC);
	bool looks = fd >= 0 && read(fd, &first, 1) == 1 && first == 'd';
	if (fd >= 0)
		close(fd);
	if (!looks)
		snprintf(err, errlen, "%s: not a .torrent file", arg);
	else
		snprintf(err, errlen, "%s: a malformed .torrent file: %s", arg,
			 why);
	return rc;
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
		{"metadata-timeout", required_argument, NULL,
		 OPT_METADATA_TIMEOUT},
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{"read-timeout", required_argument, NULL, OPT_READ_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int rc = -EINVAL, c;
	unsigned long v;
	memset(m, 0, sizeof(*m));
	m->read_timeout = FS_CLI_READ_TIMEOUT;
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
			if ((rc = fs_cli_mount_opts(m, optarg, err, errlen)) < 0)
				goto out;
			rc = -EINVAL;
			break;
		case OPT_READ_TIMEOUT:
			if (parse_uint(optarg, 0, 604800, &v) < 0) {
				snprintf(err, errlen, "bad read timeout '%s' "
					 "(want seconds, 0 = wait forever)",
					 optarg);
				goto out;
			}
			m->read_timeout = (unsigned)v;
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
		case OPT_METADATA_TIMEOUT:
			if (parse_uint(optarg, 1, 86400, &v) < 0) {
				snprintf(err, errlen, "bad metadata timeout "
					 "'%s' (want 1..86400 seconds)", optarg);
				goto out;
			}
			m->metadata_timeout = (unsigned)v;
			break;
		case OPT_NO_WAIT:
			m->no_wait = true;
			break;
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
	m->fuse_opts = NULL;
	engine_release(&m->eng);
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
	engine_release(&m->eng);
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

int fs_cli_parse_status(int argc, char **argv, struct fs_cli_status *st,
			char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{"watch", no_argument, NULL, 'w'},
		{"interval", required_argument, NULL, 'n'},
		{"count", required_argument, NULL, OPT_COUNT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	unsigned long v;
	memset(st, 0, sizeof(*st));
	st->interval_ms = 1000;
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":wn:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			st->watch = true;
			break;
		case 'n': {
			/* seconds, a decimal fraction allowed */
			const char *q = optarg;
			size_t digits = strspn(q, "0123456789");
			if (digits && q[digits] == '.')
				digits += 1 + strspn(q + digits + 1, "0123456789");
			double secs = digits && !q[digits] ? strtod(q, NULL) : -1;
			if (!(secs >= 0.1 && secs <= 3600)) {
				snprintf(err, errlen, "bad interval '%s' (want "
					 "0.1 to 3600 seconds)", optarg);
				return -EINVAL;
			}
			st->interval_ms = (unsigned)(secs * 1000 + 0.5);
			st->watch = true;
			break;
		}
		case OPT_COUNT:
			if (parse_uint(optarg, 1, 1000000, &v) < 0) {
				snprintf(err, errlen, "bad count '%s' (want "
					 "1..1000000)", optarg);
				return -EINVAL;
			}
			st->count = (unsigned)v;
			break;
		case 'h':
			st->help = true;
			break;
		default:
			bad_option(c, argv, err, errlen);
			return -EINVAL;
		}
	}
	if (st->help)
		return 1;
	if (argc - optind > 1) {
		snprintf(err, errlen, "too many arguments");
		return -EINVAL;
	}
	st->target = argc - optind == 1 ? argv[optind] : NULL;
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

int fs_mountinfo_containing(const char *buf, const char *path, char *mp,
			    size_t mplen, char *type, size_t typelen)
{
	char m[4096], ty[64];
	size_t best = 0;
	int rc = -ENOENT;
	for (const char *line = buf; *line;) {
		const char *eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		if (field(line, eol, 4, m, sizeof(m)) &&
		    fstype(line, eol, ty, sizeof(ty))) {
			size_t ml = strlen(m);
			bool under = !strcmp(m, "/") ||
				     (!strncmp(path, m, ml) &&
				      (path[ml] == '/' || path[ml] == '\0'));
			if (!strcmp(m, "/"))
				ml = 1;
			if (under && ml >= best) {
				best = ml;
				snprintf(mp, mplen, "%s", m);
				snprintf(type, typelen, "%s", ty);
				rc = 0;
			}
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
