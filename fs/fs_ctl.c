/* fs_ctl — the control channel: protocol, server thread and client; see
 * fs_ctl.h. */
#include "fs_ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bt_session.h"
#include "cache.h"
#include "pfs_log.h"

static const char *const verbs[] = {
	[FS_CTL_INFO] = "info",       [FS_CTL_STATS] = "stats",
	[FS_CTL_PEERS] = "peers",     [FS_CTL_SOURCES] = "sources",
	[FS_CTL_READING] = "reading", [FS_CTL_STOP] = "stop",
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

const char *fs_ctl_verb_name(enum fs_ctl_verb v)
{
	return (size_t)v < NVERBS ? verbs[v] : "?";
}

size_t fs_ctl_request_format(enum fs_ctl_verb v, char *out, size_t len)
{
	int n = snprintf(out, len, "%s %s\n", FS_CTL_MAGIC, fs_ctl_verb_name(v));
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

int fs_ctl_request_parse(const char *buf, size_t len, enum fs_ctl_verb *v)
{
	if (!len || len > FS_CTL_MAX_REQ || buf[len - 1] != '\n')
		return -EINVAL;
	len--;
	if (memchr(buf, '\n', len) || memchr(buf, '\0', len))
		return -EINVAL;
	const char *sp = memchr(buf, ' ', len);
	if (!sp)
		return -EINVAL;
	size_t ml = (size_t)(sp - buf), rest = len - ml - 1;
	if (ml < 5 || memcmp(buf, "p2pfs", 5))
		return -EINVAL;
	if (ml != strlen(FS_CTL_MAGIC) || memcmp(buf, FS_CTL_MAGIC, ml))
		return -EPROTO;
	for (size_t i = 0; i < NVERBS; i++) {
		if (strlen(verbs[i]) == rest && !memcmp(sp + 1, verbs[i], rest)) {
			*v = (enum fs_ctl_verb)i;
			return 0;
		}
	}
	for (size_t i = 0; i < rest; i++)
		if (sp[1 + i] < 'a' || sp[1 + i] > 'z')
			return -EINVAL;
	return rest ? -ENOSYS : -EINVAL;
}

int fs_ctl_reply_parse(const char *buf, size_t len, const char **body,
		       size_t *bodylen, char *msg, size_t msglen)
{
	if (msg && msglen)
		msg[0] = '\0';
	const char *nl = memchr(buf, '\n', len);
	if (!nl)
		return -EPROTO;
	size_t hl = (size_t)(nl - buf);
	if (hl == 2 && !memcmp(buf, "ok", 2)) {
		*body = nl + 1;
		*bodylen = len - hl - 1;
		return 0;
	}
	if (hl >= 6 && !memcmp(buf, "error ", 6)) {
		size_t ml = hl - 6, o = 0;
		for (size_t i = 0; i < ml && msg && o + 1 < msglen; i++) {
			char c = buf[6 + i];
			msg[o++] = c >= ' ' && c <= '~' ? c : '?';
		}
		if (msg && msglen)
			msg[o] = '\0';
		return -EREMOTEIO;
	}
	return -EPROTO;
}

size_t fs_ctl_info_format(const struct fs_ctl_info *in, char *out, size_t len)
{
	struct fs_rec_out o;
	fs_rec_out_init(&o, out, len);
	fs_rec_begin(&o, "process");
	fs_rec_str(&o, "kind", in->kind);
	fs_rec_i64(&o, "pid", in->pid);
	fs_rec_u64(&o, "port", in->port);
	fs_rec_str(&o, "infohash", in->infohash);
	fs_rec_str(&o, "name", in->name);
	fs_rec_str(&o, "path", in->path);
	fs_rec_str(&o, "torrent", in->torrent);
	fs_rec_u64(&o, "mounted", in->mounted);
	fs_rec_end(&o);
	return o.len;
}

static bool copy_field(const struct fs_rec *r, const char *key, char *out,
		       size_t len)
{
	const char *v = fs_rec_get(r, key);
	if (!v || strlen(v) >= len)
		return false;
	memcpy(out, v, strlen(v) + 1);
	return true;
}

int fs_ctl_info_parse(const char *buf, size_t len, struct fs_ctl_info *in)
{
	struct fs_rec *r = malloc(sizeof(*r));
	int rc = -EINVAL;
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < len;) {
		const char *line = buf + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;
		i += ll + 1;
		if (fs_rec_parse(line, ll, r) < 0 || strcmp(r->kind, "process"))
			continue;
		int64_t pid;
		uint64_t port, mounted = 0;
		memset(in, 0, sizeof(*in));
		if (!copy_field(r, "kind", in->kind, sizeof(in->kind)) ||
		    fs_rec_get_i64(r, "pid", &pid) < 0 || pid <= 0 ||
		    pid > INT32_MAX || fs_rec_get_u64(r, "port", &port) < 0 ||
		    port > 65535 ||
		    !copy_field(r, "infohash", in->infohash,
				sizeof(in->infohash)) ||
		    !copy_field(r, "name", in->name, sizeof(in->name)) ||
		    !copy_field(r, "path", in->path, sizeof(in->path)) ||
		    !copy_field(r, "torrent", in->torrent,
				sizeof(in->torrent)))
			break;
		fs_rec_get_u64(r, "mounted", &mounted);
		in->pid = (long)pid;
		in->port = (uint32_t)port;
		in->mounted = mounted != 0;
		rc = 0;
		break;
	}
	free(r);
	return rc;
}

/* ---- where ---- */

int fs_ctl_dir(char *out, size_t len)
{
	const char *x = getenv("XDG_RUNTIME_DIR");
	int n;
	if (x && x[0] == '/') {
		n = snprintf(out, len, "%s/p2pfs", x);
	} else {
		char root[PATH_MAX];
		int rc = cache_default_root(root, sizeof(root));
		if (rc < 0)
			return rc;
		n = snprintf(out, len, "%s/run", root);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* mkdir -p DIR (mode 0700 for what is made), then DIR must be ours and
 * closed to others. */
static int private_dir(const char *dir)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (!c)
			break;
	}
	struct stat st;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077))
		return -EPERM;
	return 0;
}

static int sock_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

static void set_timeouts(int fd, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- the server ---- */

struct fs_ctl {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd, wake;
	fs_ctl_fn fn;
	void *arg;
	pthread_t thread;
	bool started;
	char *body; /* FS_CTL_MAX_BODY bytes, the thread's */
};

static void serve_one(struct fs_ctl *c, int fd)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != geteuid() && cred.uid != 0)) {
		pfs_log(PFS_LOG_WARN, "ctl", "refusing a client of uid %ld",
			(long)cred.uid);
		return;
	}
	set_timeouts(fd, FS_CTL_TIMEOUT_MS);
	char req[FS_CTL_MAX_REQ];
	size_t got = 0;
	while (got < sizeof(req) && (!got || req[got - 1] != '\n')) {
		ssize_t r = recv(fd, req + got, sizeof(req) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return; /* closed, or too slow */
		got += (size_t)r;
	}
	enum fs_ctl_verb v;
	int rc = fs_ctl_request_parse(req, got, &v);
	char head[160];
	if (rc < 0) {
		snprintf(head, sizeof(head), "error %s\n",
			 rc == -EPROTO ? "unsupported protocol version"
			 : rc == -ENOSYS ? "unknown request"
					 : "malformed request");
		write_all(fd, head, strlen(head));
		return;
	}
	rc = c->fn(c->arg, v, c->body, FS_CTL_MAX_BODY);
	if (rc < 0) {
		snprintf(head, sizeof(head), "error %s\n", strerror(-rc));
		write_all(fd, head, strlen(head));
		return;
	}
	if (write_all(fd, "ok\n", 3) == 0)
		write_all(fd, c->body, (size_t)rc < FS_CTL_MAX_BODY
					      ? (size_t)rc : FS_CTL_MAX_BODY);
}

static void *ctl_main(void *arg)
{
	struct fs_ctl *c = arg;
	struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
			      {.fd = c->wake, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(c, fd);
		close(fd);
	}
	return NULL;
}

struct fs_ctl *fs_ctl_new(const char *dir, fs_ctl_fn fn, void *arg, int *err)
{
	char d[PATH_MAX];
	struct sockaddr_un sa;
	int e = -ENOMEM;
	struct fs_ctl *c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	c->fd = c->wake = -1;
	c->fn = fn;
	c->arg = arg;
	if (!(c->body = malloc(FS_CTL_MAX_BODY)))
		goto out;
	if (!dir) {
		if ((e = fs_ctl_dir(d, sizeof(d))) < 0)
			goto out;
		dir = d;
	}
	if ((e = private_dir(dir)) < 0)
		goto out;
	if (snprintf(c->path, sizeof(c->path), "%s/%ld.sock", dir,
		     (long)getpid()) >= (int)sizeof(c->path)) {
		e = -ENAMETOOLONG;
		goto out;
	}
	if ((e = sock_addr(c->path, &sa)) < 0)
		goto out;
	unlink(c->path); /* a process of the same pid that was killed */
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = -errno;
		c->path[0] = '\0'; /* nothing of ours to remove */
		goto out;
	}
	if (chmod(c->path, 0600) < 0 || listen(c->fd, 8) < 0) {
		e = -errno;
		goto out;
	}
	if ((c->wake = eventfd(0, EFD_CLOEXEC)) < 0) {
		e = -errno;
		goto out;
	}
	if ((e = -pthread_create(&c->thread, NULL, ctl_main, c)) < 0)
		goto out;
	c->started = true;
	return c;
out:
	fs_ctl_free(c);
	if (err)
		*err = e;
	return NULL;
}

void fs_ctl_free(struct fs_ctl *c)
{
	if (!c)
		return;
	if (c->started) {
		uint64_t one = 1;
		if (write(c->wake, &one, sizeof(one)) < 0)
			pfs_log(PFS_LOG_WARN, "ctl", "waking the channel: %s",
				strerror(errno));
		pthread_join(c->thread, NULL);
	}
	if (c->path[0] && c->fd >= 0)
		unlink(c->path);
	if (c->fd >= 0)
		close(c->fd);
	if (c->wake >= 0)
		close(c->wake);
	free(c->body);
	free(c);
}

const char *fs_ctl_sock_path(const struct fs_ctl *c)
{
	return c->path;
}

/* ---- the status texts ---- */

void fs_ctl_session_stats(struct bt_session *s, struct cache *c,
			  struct fs_xattr_stats *st)
{
	struct bt_stats bs;
	struct cache_usage cu;
	bt_session_stats(s, &bs);
	cache_usage(c, &cu);
	memset(st, 0, sizeof(*st));
	st->down_rate = (uint64_t)bs.down_rate;
	st->up_rate = (uint64_t)bs.up_rate;
	st->downloaded = bs.downloaded;
	st->uploaded = bs.uploaded;
	st->peers = bs.npeers;
	st->seeds = bs.nseeds;
	st->have = cu.verified;
	st->npieces = cu.npieces;
	st->hash_fails = bs.hash_fails;
	st->cache_used = cu.used;
	st->cache_limit = cu.limit;
	st->evictions = cu.evictions;
}

int fs_ctl_session_text(struct bt_session *s, struct cache *c,
			enum fs_ctl_verb v, char *out, size_t cap)
{
	switch (v) {
	case FS_CTL_STATS: {
		struct fs_xattr_stats st;
		fs_ctl_session_stats(s, c, &st);
		return fs_xattr_stats_format(&st, out, cap);
	}
	case FS_CTL_PEERS: {
		size_t max = cap / 40 + 1; /* a line is longer than 40 bytes */
		struct bt_peer_info *p = calloc(max, sizeof(*p));
		if (!p)
			return -ENOMEM;
		size_t n = bt_session_peers(s, p, max);
		size_t got = fs_xattr_peers_format(p, n < max ? n : max, out,
						   cap);
		free(p);
		return (int)got;
	}
	case FS_CTL_SOURCES: {
		size_t n = bt_session_sources(s, NULL, 0);
		struct bt_source_info *v2 = calloc(n ? n : 1, sizeof(*v2));
		if (!v2)
			return -ENOMEM;
		n = bt_session_sources(s, v2, n);
		size_t got = fs_xattr_sources_format(v2, n, out, cap);
		free(v2);
		return (int)got;
	}
	case FS_CTL_READING:
		return 0;
	default:
		return -EINVAL;
	}
}

/* ---- the client ---- */

static int dial(const char *path, int *fd)
{
	struct sockaddr_un sa;
	int rc = sock_addr(path, &sa);
	if (rc < 0)
		return rc;
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	set_timeouts(*fd, FS_CTL_TIMEOUT_MS);
	if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 0;
}

int fs_ctl_call(const char *path, enum fs_ctl_verb verb, char **body,
		size_t *len, char *err, size_t errlen)
{
	char req[FS_CTL_MAX_REQ], msg[160];
	size_t cap = FS_CTL_MAX_BODY + 256, got = 0;
	char *buf = NULL;
	int fd = -1, rc;
	*body = NULL;
	*len = 0;
	if ((rc = dial(path, &fd)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	size_t n = fs_ctl_request_format(verb, req, sizeof(req));
	if ((rc = write_all(fd, req, n)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	if (!(buf = malloc(cap + 1))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto out;
	}
	for (;;) {
		ssize_t r = recv(fd, buf + got, cap - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			snprintf(err, errlen, "%s: no answer: %s", path,
				 strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == cap) {
			rc = -EMSGSIZE;
			snprintf(err, errlen, "%s: answer too long", path);
			goto out;
		}
	}
	const char *b;
	size_t bl;
	rc = fs_ctl_reply_parse(buf, got, &b, &bl, msg, sizeof(msg));
	if (rc == -EREMOTEIO) {
		snprintf(err, errlen, "%s", msg);
		goto out;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: not a p2pfs answer", path);
		goto out;
	}
	memmove(buf, b, bl);
	buf[bl] = '\0';
	*body = buf;
	*len = bl;
	buf = NULL;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Running: not gone, and not a zombie nobody reaped (a daemon's parent
 * exits, and in a container the new parent may never reap). */
static bool pid_alive(long pid)
{
	if (kill((pid_t)pid, 0) < 0 && errno != EPERM)
		return false;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* cannot tell: keep its socket */
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* after "pid (comm)" */
	return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

int fs_ctl_each(const char *dir, fs_ctl_each_fn fn, void *arg)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		errno = 0;
		long pid = strtol(e->d_name, &end, 10);
		if (errno || pid <= 0 || strcmp(end, ".sock"))
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
		    (int)sizeof(path))
			continue;
		int fd;
		int c = dial(path, &fd);
		if (c == 0) {
			close(fd);
		} else {
			if ((c == -ECONNREFUSED || c == -ENOENT) &&
			    !pid_alive(pid))
				unlink(path); /* left by a killed process */
			continue;
		}
		if ((rc = fn(arg, path, pid)) != 0)
			break;
	}
	closedir(d);
	return rc;
}
