/* fs_seal — key files, the sealed header from the torrent, the cache or
 * the swarm, the remembered key, the seed's segments; see fs_seal.h.
 *
 * Fetching the header: the mount needs the file table before it can list
 * anything, and the engine's threads must start after the daemonising
 * fork, so a session of its own fetches the pieces at the front of the
 * blob into the cache (wanted now, like any read), waits for them with a
 * bound, and is stopped before the real mount starts; those pieces are
 * then in the cache, verified, for the mount's own session to serve. */
#include "fs_seal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bt_session.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define KEY_FILE_MAX (64u << 10)
#define TORRENT_MAX (64u << 20)
#define EXIT_USAGE 2

void fs_seal_release(struct fs_seal_ctx *x)
{
	bt_seal_free(x->seal);
	bt_metainfo_free(x->view);
	pfs_ctr_free(x->ctr);
	pfs_wipe(x, sizeof(*x));
}

/* All of FD, at most MAX bytes (-EFBIG beyond). */
static int read_all(int fd, size_t max, uint8_t **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				pfs_wipe(buf, n);
				free(buf);
				return -EFBIG;
			}
			uint8_t *nb = malloc(cap * 2);
			if (!nb) {
				pfs_wipe(buf, n);
				free(buf);
				return -ENOMEM;
			}
			memcpy(nb, buf, n);
			pfs_wipe(buf, n); /* a key file's bytes stay nowhere */
			free(buf);
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			pfs_wipe(buf, n);
			free(buf);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = buf;
	*len = n;
	return 0;
}

int fs_seal_read_key(const char *file, const struct bt_metainfo *mi,
		     const char *who, uint8_t key[BT_SEAL_KEY_LEN])
{
	uint8_t *buf = NULL, ih[20];
	size_t len = 0;
	char err[256];
	bool has_ih = false;
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_USAGE;
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & 077))
		fprintf(stderr, "p2pfs: warning: key file '%s' may be read by "
			"others (chmod 600 it)\n", file);
	rc = read_all(fd, KEY_FILE_MAX, &buf, &len);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", file,
			rc == -EFBIG ? "too large for a key file"
				     : strerror(-rc));
		return EXIT_USAGE;
	}
	rc = bt_seal_key_text((const char *)buf, len, key, ih, &has_ih, err,
			      sizeof(err));
	pfs_wipe(buf, len);
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "p2pfs: %s: %s\n", file, err);
		return EXIT_USAGE;
	}
	if (has_ih && mi && memcmp(ih, mi->info_hash, 20)) {
		char hex[41];
		pfs_hex(ih, 20, hex);
		pfs_wipe(key, BT_SEAL_KEY_LEN);
		fprintf(stderr, "p2pfs: %s: the key file '%s' is the link of "
			"another share (info-hash %s)\n", who, file, hex);
		return EXIT_USAGE;
	}
	return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int fs_seal_write_key(const char *file, const char *text, bool force)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		    (force ? O_TRUNC : O_EXCL);
	int fd = open(file, flags, 0600), e;
	if (fd < 0)
		return -errno;
	if ((e = fchmod(fd, 0600) < 0 ? -errno : 0) == 0 &&
	    (e = write_full(fd, text, strlen(text))) == 0 &&
	    (e = write_full(fd, "\n", 1)) == 0)
		e = fsync(fd) < 0 ? -errno : 0;
	if (close(fd) < 0 && !e)
		e = -errno;
	return e;
}

int fs_seal_torrent_copy(const char *path, uint8_t **out, size_t *len)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	const uint8_t *h;
	size_t hl;
	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	if (fd < 0)
		return -errno;
	rc = read_all(fd, TORRENT_MAX, &buf, &n);
	close(fd);
	if (rc < 0)
		return rc;
	if ((rc = bt_seal_torrent_header(buf, n, &h, &hl)) == 0) {
		if (!(*out = malloc(hl ? hl : 1))) {
			rc = -ENOMEM;
		} else {
			memcpy(*out, h, hl);
			*len = hl;
		}
	} else if (rc != -ENOENT) {
		rc = -EINVAL;
	}
	free(buf);
	return rc;
}

bool fs_seal_is_sealed(const struct bt_metainfo *mi, const char *path)
{
	if (bt_seal_is_sealed(mi))
		return true;
	uint8_t *h = NULL;
	size_t n = 0;
	bool yes = !mi->multi_file && fs_seal_torrent_copy(path, &h, &n) == 0;
	free(h);
	return yes;
}

/* The first LEN bytes of the blob from CACHE's verified pieces into BUF;
 * false when some are not verified. */
static bool front_from_cache(struct cache *c, const struct bt_metainfo *mi,
			     uint64_t len, uint8_t *buf)
{
	if (len > mi->total_length || !cache_has_range(c, 0, len))
		return false;
	for (uint64_t off = 0; off < len;) {
		uint32_t piece = (uint32_t)(off / mi->piece_length);
		uint64_t in = off - (uint64_t)piece * mi->piece_length;
		uint64_t n = mi->piece_length - in;
		if (n > len - off)
			n = len - off;
		if (cache_read(c, piece, (uint32_t)in, buf + off, (size_t)n) < 0)
			return false;
		off += n;
	}
	return true;
}

int fs_seal_open_local(const struct bt_metainfo *mi, const uint8_t *hdr,
		       size_t hdr_len, struct cache *cache,
		       const uint8_t key[BT_SEAL_KEY_LEN], struct bt_seal **out,
		       uint64_t *need, char *err, size_t errlen)
{
	int rc = -EAGAIN;
	/* the cache first: its pieces verified against the torrent's hashes,
	 * while the copy is only as good as whoever made the torrent */
	*need = BT_SEAL_FIXED_LEN;
	for (int round = 0; cache && round < 3; round++) {
		uint8_t *buf = malloc(*need);
		if (!buf)
			return -ENOMEM;
		if (!front_from_cache(cache, mi, *need, buf)) {
			free(buf);
			break;
		}
		uint64_t n = *need;
		rc = bt_seal_open(key, buf, n, mi->total_length, out, need, err,
				  errlen);
		free(buf);
		if (rc != -EAGAIN)
			return rc;
	}
	if (!hdr)
		return -EAGAIN;
	uint64_t cneed = *need;
	rc = bt_seal_open(key, hdr, hdr_len, mi->total_length, out, need, err,
			  errlen);
	if (rc == -EAGAIN) {
		pfs_log(PFS_LOG_WARN, "seal", "the torrent's copy of the sealed "
			"header is short: not using it");
		*need = cneed;
	}
	return rc;
}

/* ---- fetching from the swarm ---- */

struct fetch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool failed; /* the cache could not be written */
};

static void on_piece(void *arg, uint32_t piece)
{
	struct fetch *f = arg;
	pthread_mutex_lock(&f->mu);
	if (piece == BT_PIECE_ERROR)
		f->failed = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int fs_seal_fetch(const struct bt_metainfo *mi, struct cache *cache,
		  const struct bt_session_opts *so,
		  const uint8_t key[BT_SEAL_KEY_LEN], unsigned secs,
		  struct bt_seal **out, char *err, size_t errlen)
{
	struct fetch f = {.failed = false};
	pthread_condattr_t ca;
	struct bt_session *s = NULL;
	uint64_t need = BT_SEAL_FIXED_LEN;
	int rc, e;

	pthread_mutex_init(&f.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f.cv, &ca);
	pthread_condattr_destroy(&ca);
	/* only the header: never the rest (--fetch-all is the mount's) */
	struct bt_session_opts o = *so;
	o.fetch_all = false;
	if (!(s = bt_session_new(mi, cache, &o, &e))) {
		rc = e;
		pfs_errf(err, errlen, "cannot start the engine: %s",
			 strerror(-e));
		goto out;
	}
	bt_session_on_piece(s, on_piece, &f);
	if ((rc = bt_session_start(s)) < 0) {
		pfs_errf(err, errlen, "cannot start the engine: %s",
			 strerror(-rc));
		goto out;
	}
	int64_t t0 = mono_ms(), deadline = t0 + (int64_t)secs * 1000;
	for (;;) {
		rc = fs_seal_open_local(mi, NULL, 0, cache, key, out, &need,
					err, errlen);
		if (rc != -EAGAIN)
			break;
		if (need > mi->total_length) {
			rc = -EBADMSG;
			pfs_errf(err, errlen, "the sealed header claims more "
				 "bytes than the blob has");
			break;
		}
		uint32_t last = (uint32_t)((need - 1) / mi->piece_length);
		pfs_log(PFS_LOG_INFO, "seal", "fetching pieces 0..%u for the "
			"sealed file table (%llu bytes)", last,
			(unsigned long long)need);
		bt_session_want(s, 0, last, 0);
		pthread_mutex_lock(&f.mu);
		while (!f.failed && !cache_has_range(cache, 0, need) &&
		       mono_ms() < deadline) {
			int64_t left = deadline - mono_ms();
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			/* wake at least every 200 ms: a piece may verify
			 * between the look and the wait */
			int64_t step = left < 200 ? left : 200;
			until.tv_sec += step / 1000;
			until.tv_nsec += (long)(step % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&f.cv, &f.mu, &until);
		}
		bool failed = f.failed;
		pthread_mutex_unlock(&f.mu);
		if (failed) {
			rc = -EIO;
			pfs_errf(err, errlen, "the cache cannot be written");
			break;
		}
		if (!cache_has_range(cache, 0, need)) {
			struct bt_stats st;
			bt_session_stats(s, &st);
			rc = -ETIMEDOUT;
			pfs_errf(err, errlen, "no peer sent the sealed file table "
				 "(pieces 0..%u) within %u s (%u peer%s "
				 "connected)", last, secs, st.npeers,
				 st.npeers == 1 ? "" : "s");
			break;
		}
	}
	if (rc == 0)
		pfs_log(PFS_LOG_INFO, "seal", "the sealed file table arrived "
			"after %lld ms", (long long)(mono_ms() - t0));
out:
	if (s) {
		bt_session_stop(s);
		bt_session_free(s);
	}
	pthread_cond_destroy(&f.cv);
	pthread_mutex_destroy(&f.mu);
	return rc;
}

int fs_seal_ctx_set(struct fs_seal_ctx *x, const struct bt_metainfo *mi,
		    struct bt_seal *seal, char *err, size_t errlen)
{
	x->seal = seal;
	int rc = bt_seal_view(mi, seal, &x->view, err, errlen);
	if (rc < 0)
		return rc;
	if (!(x->ctr = pfs_ctr_new(seal->data_key, seal->data_iv))) {
		pfs_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* ---- the remembered key ---- */

int fs_seal_recall(const char *dir, uint8_t key[BT_SEAL_KEY_LEN])
{
	char path[4096], err[128];
	uint8_t *buf = NULL, ih[20];
	size_t len = 0;
	bool has_ih;
	if (snprintf(path, sizeof(path), "%s/%s", dir, FS_SEAL_KEY_NAME) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc;
	if (fd < 0)
		return -errno;
	rc = read_all(fd, KEY_FILE_MAX, &buf, &len);
	close(fd);
	if (rc < 0)
		return rc;
	rc = bt_seal_key_text((const char *)buf, len, key, ih, &has_ih, err,
			      sizeof(err));
	pfs_wipe(buf, len);
	free(buf);
	return rc;
}

int fs_seal_remember(const char *dir, const uint8_t key[BT_SEAL_KEY_LEN])
{
	char path[4096], tmp[4200], hex[2 * BT_SEAL_KEY_LEN + 1];
	if (snprintf(path, sizeof(path), "%s/%s", dir, FS_SEAL_KEY_NAME) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	pfs_hex(key, BT_SEAL_KEY_LEN, hex);
	int e = fs_seal_write_key(tmp, hex, false);
	pfs_wipe(hex, sizeof(hex));
	if (e == 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0)
		unlink(tmp);
	return e;
}

/* ---- the seed's segments ---- */

int fs_seal_segments(const struct bt_seal *s, const char *const *paths,
		     struct cache_segment **out, size_t *n)
{
	/* the header, the rest of its region, then each file, its padding
	 * and any gap before the next, and the padding of the blob */
	struct cache_segment *g = calloc(2 * s->nfiles + 3, sizeof(*g));
	size_t k = 0;
	if (!g)
		return -ENOMEM;
	g[k++] = (struct cache_segment){.kind = CACHE_SEG_BYTES,
					.bytes = s->header,
					.length = s->header_len};
	uint64_t at = s->header_len;
	for (size_t i = 0; i <= s->nfiles; i++) {
		uint64_t next = i < s->nfiles ? s->files[i].offset
					      : s->total_length;
		if (next > at)
			g[k++] = (struct cache_segment){.kind = CACHE_SEG_ZERO,
							.length = next - at,
							.encrypt = true};
		if (i == s->nfiles)
			break;
		const struct bt_seal_file *f = &s->files[i];
		g[k++] = (struct cache_segment){
			.kind = CACHE_SEG_FILE,
			.path = paths ? paths[i] : f->path,
			.length = f->length,
			.encrypt = true};
		at = f->offset + f->length;
	}
	*out = g;
	*n = k;
	return 0;
}

int fs_seal_report(const char *who, int err, const char *reason)
{
	switch (err) {
	case -EKEYREJECTED:
		fprintf(stderr, "p2pfs: %s: wrong key: this key does not open "
			"this sealed share\n", who);
		return EXIT_USAGE;
	case -EBADMSG:
	case -EPROTONOSUPPORT:
	case -EINVAL:
		fprintf(stderr, "p2pfs: %s: %s\n", who, reason);
		return EXIT_USAGE;
	default:
		fprintf(stderr, "p2pfs: %s: %s\n", who,
			reason && *reason ? reason : strerror(-err));
		return 1;
	}
}
