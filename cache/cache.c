/* cache — the sparse piece store of one torrent and its verified map; see
 * cache.h for the contract.
 *
 * How it is built:
 * - The data file is created and sized with ftruncate, so unfetched ranges
 *   are holes; blocks are written with pwrite at their torrent offset.
 * - The map lives in memory as a BEP 3 bitmap under `lock`. Writers and
 *   readers copy what they need under it and do their I/O outside it.
 * - cache_verify hashes without any lock. To make sure that the bytes it
 *   marks verified are the bytes it hashed, every cache_write holds `io_lock`
 *   shared for its pwrite and sets the piece's `touched` bit afterwards;
 *   cache_verify clears that bit before hashing and, holding `io_lock`
 *   exclusively (so no write is half done), marks the piece only if the bit
 *   is still clear. One verify per piece runs at a time (`verifying` bits,
 *   `verify_cond`), so two verifies cannot clear each other's evidence.
 * - cache_flush, serialised by `flush_lock`, copies the bitmap under `lock`,
 *   then fdatasyncs the data, writes the map into verified.spare, fsyncs
 *   it, renames it over verified and fsyncs the folder. The map therefore
 *   never names a piece whose bytes were not already durable. A failed
 *   fdatasync is sticky (its dirty pages may be gone), so no later map can
 *   vouch for them.
 * - The map's room on disk is kept reserved, so that a full disk (the data
 *   writes failing with ENOSPC) cannot also keep the map of the pieces that
 *   did verify from being written: verified.spare always exists at the
 *   map's full size, written (not sparse), and a map is written into it in
 *   place, which needs no free block on an overwrite-in-place file system
 *   (ext4, xfs, tmpfs; a copy-on-write one gives no such promise). The old
 *   map's blocks become the next spare: it is hard-linked to
 *   verified.old.tmp before the rename replaces it, and that name is then
 *   renamed to verified.spare. None of these steps allocates data blocks,
 *   and every one leaves verified a complete map. A store without a map yet
 *   gets both blocks at open (verified.spare and verified.old.tmp).
 * - On open a map is trusted only if it decodes (size, magic, version,
 *   geometry, SHA-256, spare bits) and the data file already had the right
 *   size; a rejected map is unlinked before the data file is resized, so a
 *   later open cannot resurrect it against a file that no longer matches.
 * - An exclusive flock on the data file keeps a second user off the store.
 * - Files mode (cache_open_files, at the end of this file) shares the map
 *   and its lock but has no data file, no map file and no flock: reads are
 *   mapped onto the torrent's own files by a binary search over their
 *   offsets, and cache_files_verify hashes batches of consecutive pieces on
 *   a few threads, each with its own buffer and SHA-1 context. */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bt_bitfield.h"
#include "pfs_cipher.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define CACHE_HASH_CHUNK (256u * 1024)
#define MAP_NAME "verified"
#define MAP_SPARE_NAME "verified.spare" /* the next map is written here */
#define MAP_OLD_NAME "verified.old.tmp" /* the last map, becoming the spare */
#define MAP_TMP_NAME "verified.tmp"     /* older versions' temporary map */
#define DATA_NAME "data"

struct cache {
	/* immutable after cache_open */
	uint32_t npieces;
	uint32_t piece_length;
	uint64_t total_length;
	size_t bm_len;
	int fd;     /* data file, flock'd */
	int dir_fd; /* the store's folder, for openat/renameat/fsync */
	char *dir;
	struct cache_files *files; /* files mode (cache_open_files), or NULL */

	pthread_mutex_t lock; /* guards the fields below, up to io_lock */
	pthread_cond_t verify_cond;
	uint8_t *map;       /* verified pieces */
	uint8_t *touched;   /* written since its verify began */
	uint8_t *verifying; /* a cache_verify is hashing it */
	uint32_t count;
	bool dirty; /* map differs from the one on disk */
	/* kept between verifies so the hasher thread does not allocate (and
	 * fault in) a fresh chunk per piece; taken by one verify at a time */
	uint8_t *hash_buf;
	struct pfs_sha1_ctx *hash_ctx;

	pthread_rwlock_t io_lock; /* writes shared, verify's mark exclusive */

	/* size limit and eviction (cache_set_limit), under `lock` */
	uint8_t *alloc;    /* bytes on disk: verified or written since */
	uint8_t *evicting; /* off the map, its hole not punched yet */
	uint32_t *pins;    /* readers about to be answered from it */
	uint64_t *stamp;   /* last use, on `clock` */
	uint64_t clock;
	uint64_t used;     /* sum of the sizes of `alloc` pieces */
	uint64_t limit;    /* 0 = none */
	uint64_t evictions;
	bool full_warned;
	bool punch_warned;
	pthread_mutex_t evict_lock; /* one eviction at a time */

	pthread_mutex_t flush_lock; /* guards the fields below */
	uint8_t *snap;    /* bitmap copy being flushed */
	uint8_t *disk_map; /* the map as last made durable */
	uint8_t *map_buf; /* encoded map, cache_map_size(npieces) bytes */
	bool sync_failed;
};

static void files_free(struct cache_files *f);
static int reserve_map_space(struct cache *c);
static int files_pread(struct cache *c, uint64_t off, void *buf, size_t len);
static int files_check(struct cache *c);

static uint32_t popcount(const uint8_t *bm, size_t len)
{
	uint32_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += (uint32_t)__builtin_popcount(bm[i]);
	return n;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- the map format (pure) ----------------------------------------------- */

size_t cache_map_size(uint32_t npieces)
{
	return CACHE_MAP_HEADER_LEN + bt_bitfield_len(npieces) + PFS_SHA256_LEN;
}

int cache_map_encode(const uint8_t *bitmap, uint32_t npieces,
		     uint32_t piece_length, uint64_t total_length,
		     uint8_t *out, size_t len)
{
	size_t bl = bt_bitfield_len(npieces);
	if (len < cache_map_size(npieces))
		return -EINVAL;
	if (bl && (bitmap[bl - 1] & bt_bitfield_spare_mask(npieces)))
		return -EINVAL;
	memcpy(out, CACHE_MAP_MAGIC, 8);
	put32(out + 8, CACHE_MAP_VERSION);
	put32(out + 12, npieces);
	put32(out + 16, piece_length);
	put64(out + 20, total_length);
	if (bl)
		memcpy(out + CACHE_MAP_HEADER_LEN, bitmap, bl);
	return pfs_sha256(out, CACHE_MAP_HEADER_LEN + bl,
			  out + CACHE_MAP_HEADER_LEN + bl) < 0
		       ? -EIO
		       : 0;
}

int cache_map_decode(const uint8_t *buf, size_t len, uint32_t npieces,
		     uint32_t piece_length, uint64_t total_length,
		     uint8_t *bitmap_out)
{
	size_t bl = bt_bitfield_len(npieces);
	uint8_t sum[PFS_SHA256_LEN];
	if (!buf || len != cache_map_size(npieces))
		return -EINVAL;
	if (memcmp(buf, CACHE_MAP_MAGIC, 8) != 0 ||
	    get32(buf + 8) != CACHE_MAP_VERSION || get32(buf + 12) != npieces ||
	    get32(buf + 16) != piece_length ||
	    get64(buf + 20) != total_length)
		return -EINVAL;
	if (pfs_sha256(buf, CACHE_MAP_HEADER_LEN + bl, sum) < 0 ||
	    memcmp(sum, buf + CACHE_MAP_HEADER_LEN + bl, sizeof(sum)) != 0)
		return -EINVAL;
	if (bl && (buf[CACHE_MAP_HEADER_LEN + bl - 1] & bt_bitfield_spare_mask(npieces)))
		return -EINVAL;
	if (bl)
		memcpy(bitmap_out, buf + CACHE_MAP_HEADER_LEN, bl);
	return 0;
}

/* ---- small I/O helpers --------------------------------------------------- */

/* Read up to LEN bytes at OFF; *GOT is short only at end of file. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off,
		      size_t *got)
{
	size_t done = 0;
	int err = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return err;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* no progress, no reason: do not spin */
		done += (size_t)n;
	}
	return 0;
}

/* mkdir -p with mode 0700 for what it creates. */
static int mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue; /* "//" or a trailing slash */
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = saved;
	}
	return 0;
}

static int fmt_path(char *out, size_t len, const char *a, const char *b)
{
	if (len == 0)
		return -ENAMETOOLONG;
	int n = snprintf(out, len, "%s%s", a, b);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cache_default_root(char *out, size_t len)
{
	const char *x = getenv("XDG_CACHE_HOME");
	if (x && x[0] == '/')
		return fmt_path(out, len, x, "/p2pfs");
	const char *h = getenv("HOME");
	if (h && h[0] == '/')
		return fmt_path(out, len, h, "/.cache/p2pfs");

	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t bsz = sz > 0 ? (size_t)sz : 16384;
	char *pwbuf = NULL;
	struct passwd pw, *res = NULL;
	int err;
	for (;;) {
		char *nb = realloc(pwbuf, bsz);
		if (!nb) {
			err = -ENOMEM;
			goto out;
		}
		pwbuf = nb;
		int e = getpwuid_r(getuid(), &pw, pwbuf, bsz, &res);
		if (e == ERANGE && bsz < (1u << 20)) {
			bsz *= 2;
			continue;
		}
		break;
	}
	if (!res || !res->pw_dir || res->pw_dir[0] != '/') {
		err = -ENOENT;
		goto out;
	}
	err = fmt_path(out, len, res->pw_dir, "/.cache/p2pfs");
out:
	free(pwbuf);
	return err;
}

/* ---- open / close -------------------------------------------------------- */

static bool valid_geometry(uint32_t npieces, uint32_t piece_length,
			   uint64_t total_length)
{
	if (npieces == 0 || piece_length == 0)
		return false;
	if (total_length > (uint64_t)INT64_MAX)
		return false;
	return total_length > (uint64_t)(npieces - 1) * piece_length &&
	       total_length <= (uint64_t)npieces * piece_length;
}

static uint64_t piece_size(const struct cache *c, uint32_t piece)
{
	uint64_t start = (uint64_t)piece * c->piece_length;
	uint64_t left = c->total_length - start;
	return left < c->piece_length ? left : c->piece_length;
}

/* Drop the on-disk map durably: it must not be trusted by a later open. */
static int drop_map(struct cache *c)
{
	if (unlinkat(c->dir_fd, MAP_NAME, 0) < 0 && errno != ENOENT)
		return -errno;
	return fsync(c->dir_fd) < 0 ? -errno : 0;
}

/* Load the map into c->map, or leave it empty. DATA_SIZE is the data file's
 * size before it was resized. Returns 0 or -errno when a rejected map could
 * not be removed. */
static int load_map(struct cache *c, uint64_t data_size)
{
	size_t want = cache_map_size(c->npieces);
	const char *why = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	int err = 0;
	int fd = openat(c->dir_fd, MAP_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		why = strerror(-err);
		goto reject;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != want) {
		why = "wrong size";
		goto reject;
	}
	if (!(buf = malloc(want))) {
		why = strerror(ENOMEM);
		goto reject;
	}
	size_t got = 0;
	if ((err = pread_full(fd, buf, want, 0, &got)) < 0 || got != want) {
		why = err < 0 ? strerror(-err) : "short read";
		goto reject;
	}
	if (cache_map_decode(buf, want, c->npieces, c->piece_length,
			     c->total_length, c->map) < 0) {
		why = "damaged or for another geometry";
		goto reject;
	}
	c->count = popcount(c->map, c->bm_len);
	if (c->count && data_size != c->total_length) {
		memset(c->map, 0, c->bm_len);
		c->count = 0;
		why = "the data file was replaced";
		goto reject;
	}
	err = 0;
	goto out;
reject:
	pfs_log(PFS_LOG_WARN, "cache", "ignoring the verified map in '%s': %s",
		c->dir, why);
	err = drop_map(c);
	if (err < 0)
		pfs_log(PFS_LOG_ERROR, "cache",
			"cannot remove the verified map in '%s': %s", c->dir,
			strerror(-err));
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

static bool valid_hex(const char *s)
{
	size_t n = strlen(s);
	if (n != 40 && n != 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return true;
}

static void cache_free(struct cache *c, int inited)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	if (inited >= 1)
		pthread_mutex_destroy(&c->lock);
	if (inited >= 2)
		pthread_cond_destroy(&c->verify_cond);
	if (inited >= 3)
		pthread_rwlock_destroy(&c->io_lock);
	if (inited >= 4)
		pthread_mutex_destroy(&c->flush_lock);
	if (inited >= 5)
		pthread_mutex_destroy(&c->evict_lock);
	free(c->alloc);
	free(c->evicting);
	free(c->pins);
	free(c->stamp);
	free(c->map);
	free(c->touched);
	free(c->verifying);
	free(c->snap);
	free(c->disk_map);
	free(c->map_buf);
	free(c->hash_buf);
	pfs_sha1_free(c->hash_ctx);
	files_free(c->files);
	free(c->dir);
	free(c);
}

static int init_locks(struct cache *c, int *inited)
{
	pthread_rwlockattr_t ra;
	int e;
	if ((e = pthread_mutex_init(&c->lock, NULL)) != 0)
		return -e;
	*inited = 1;
	if ((e = pthread_cond_init(&c->verify_cond, NULL)) != 0)
		return -e;
	*inited = 2;
	if ((e = pthread_rwlockattr_init(&ra)) != 0)
		return -e;
	/* a steady stream of block writes must not starve verify's mark */
	pthread_rwlockattr_setkind_np(
		&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	e = pthread_rwlock_init(&c->io_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (e != 0)
		return -e;
	*inited = 3;
	if ((e = pthread_mutex_init(&c->flush_lock, NULL)) != 0)
		return -e;
	*inited = 4;
	if ((e = pthread_mutex_init(&c->evict_lock, NULL)) != 0)
		return -e;
	*inited = 5;
	return 0;
}

/* A struct cache of this geometry with its locks and per-piece state, for
 * either mode (the eviction state is unused by files mode). On failure *CP
 * (possibly NULL) and *INITED are what cache_free() needs. */
static int cache_alloc(struct cache **cp, uint32_t npieces,
		       uint32_t piece_length, uint64_t total_length,
		       int *inited)
{
	struct cache *c = *cp = calloc(1, sizeof(*c));
	int e;
	if (!c)
		return -ENOMEM;
	c->fd = c->dir_fd = -1;
	c->npieces = npieces;
	c->piece_length = piece_length;
	c->total_length = total_length;
	c->bm_len = bt_bitfield_len(npieces);
	if ((e = init_locks(c, inited)) < 0)
		return e;
	if (!(c->map = calloc(1, c->bm_len)) ||
	    !(c->touched = calloc(1, c->bm_len)) ||
	    !(c->verifying = calloc(1, c->bm_len)) ||
	    !(c->snap = calloc(1, c->bm_len)) ||
	    !(c->disk_map = calloc(1, c->bm_len)) ||
	    !(c->alloc = calloc(1, c->bm_len)) ||
	    !(c->evicting = calloc(1, c->bm_len)) ||
	    !(c->pins = calloc(npieces, sizeof(*c->pins))) ||
	    !(c->stamp = calloc(npieces, sizeof(*c->stamp))) ||
	    !(c->map_buf = malloc(cache_map_size(npieces))))
		return -ENOMEM;
	return 0;
}

struct cache *cache_open(const char *root, const char *info_hash_hex,
			 uint32_t npieces, uint32_t piece_length,
			 uint64_t total_length, int *err)
{
	struct cache *c = NULL;
	int inited = 0, e = 0;
	char path[PATH_MAX];
	struct stat st;

	if (!root || !root[0] || !info_hash_hex || !valid_hex(info_hash_hex) ||
	    !valid_geometry(npieces, piece_length, total_length)) {
		e = -EINVAL;
		goto out;
	}
	if ((e = cache_alloc(&c, npieces, piece_length, total_length,
			     &inited)) < 0)
		goto out;

	if ((e = mkdir_parents(root)) < 0)
		goto out;
	size_t rl = strlen(root);
	while (rl > 0 && root[rl - 1] == '/')
		rl--; /* "/" itself becomes "" + "/hex" */
	int n = snprintf(path, sizeof(path), "%.*s/%s", (int)rl, root,
			 info_hash_hex);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		e = -ENAMETOOLONG;
		goto out;
	}
	for (char *p = path + rl + 1; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	if (!(c->dir = strdup(path))) {
		e = -ENOMEM;
		goto out;
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		e = -errno;
		goto out;
	}
	c->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0) {
		e = -errno;
		goto out;
	}
	c->fd = openat(c->dir_fd, DATA_NAME, O_RDWR | O_CREAT | O_CLOEXEC,
		       0600);
	if (c->fd < 0) {
		e = -errno;
		goto out;
	}
	if (flock(c->fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (e == -EBUSY) /* the caller says who has it */
			pfs_log(PFS_LOG_DEBUG, "cache",
				"'%s' is in use by another p2pfs", c->dir);
		goto out;
	}
	if (fstat(c->fd, &st) < 0) {
		e = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		e = -EINVAL;
		goto out;
	}
	/* an older version's temporary map, left by a crash: never used */
	if (unlinkat(c->dir_fd, MAP_TMP_NAME, 0) < 0 && errno != ENOENT) {
		e = -errno;
		goto out;
	}
	if ((e = load_map(c, (uint64_t)st.st_size)) < 0)
		goto out;
	if ((uint64_t)st.st_size != total_length &&
	    ftruncate(c->fd, (off_t)total_length) < 0) {
		e = -errno;
		goto out;
	}
	int re = reserve_map_space(c);
	if (re < 0)
		pfs_log(PFS_LOG_WARN, "cache",
			"cannot reserve room for the verified map in '%s': %s",
			c->dir, strerror(-re));
	memcpy(c->alloc, c->map, c->bm_len);
	memcpy(c->disk_map, c->map, c->bm_len);
	c->used = cache_bytes_verified(c);
	pfs_log(PFS_LOG_DEBUG, "cache", "opened '%s': %u of %u pieces verified",
		c->dir, c->count, npieces);
	e = 0;
out:
	if (e < 0 && c) {
		cache_free(c, inited);
		c = NULL;
	}
	if (err)
		*err = e;
	return c;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	int err = cache_flush(c);
	if (err < 0)
		pfs_log(PFS_LOG_ERROR, "cache",
			"closing '%s': the verified map was not saved: %s",
			c->dir, strerror(-err));
	cache_free(c, 5);
}

int cache_fd(const struct cache *c)
{
	return c->fd;
}

const char *cache_dir(const struct cache *c)
{
	return c->dir;
}

/* ---- queries ------------------------------------------------------------- */

bool cache_has(struct cache *c, uint32_t piece)
{
	if (piece >= c->npieces)
		return false;
	pthread_mutex_lock(&c->lock);
	bool v = bt_bit_get(c->map, piece);
	pthread_mutex_unlock(&c->lock);
	return v;
}

bool cache_has_range(struct cache *c, uint64_t off, uint64_t len)
{
	if (len == 0)
		return true;
	if (off >= c->total_length || len > c->total_length - off)
		return false;
	uint32_t p = (uint32_t)(off / c->piece_length);
	uint32_t last = (uint32_t)((off + len - 1) / c->piece_length);
	bool ok = true;
	pthread_mutex_lock(&c->lock);
	/* whole bytes at a time in the middle of long ranges */
	while (ok && p <= last) {
		if ((p & 7) == 0 && last - p >= 7) {
			ok = c->map[p >> 3] == 0xff;
			p += 8;
		} else {
			ok = bt_bit_get(c->map, p);
			p++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

uint32_t cache_count(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	uint32_t n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

uint64_t cache_bytes_verified(struct cache *c)
{
	uint32_t last = c->npieces - 1;
	pthread_mutex_lock(&c->lock);
	uint64_t n = (uint64_t)c->count * c->piece_length;
	if (bt_bit_get(c->map, last))
		n -= c->piece_length - piece_size(c, last);
	pthread_mutex_unlock(&c->lock);
	return n;
}

void cache_bitfield(struct cache *c, uint8_t *out)
{
	pthread_mutex_lock(&c->lock);
	memcpy(out, c->map, c->bm_len);
	pthread_mutex_unlock(&c->lock);
}

/* ---- data ---------------------------------------------------------------- */

static bool in_piece(const struct cache *c, uint32_t piece, uint32_t begin,
		     size_t len)
{
	if (piece >= c->npieces)
		return false;
	uint64_t size = piece_size(c, piece);
	return begin <= size && (uint64_t)len <= size - begin;
}

static void reserve(struct cache *c, uint32_t piece);

int cache_write(struct cache *c, uint32_t piece, uint32_t begin,
		const void *data, size_t len)
{
	int err = 0;
	if (c->files)
		return -EROFS;
	if (!in_piece(c, piece, begin, len) || (!data && len))
		return -EINVAL;
	reserve(c, piece);
	pthread_rwlock_rdlock(&c->io_lock);
	pthread_mutex_lock(&c->lock);
	bool verified = bt_bit_get(c->map, piece);
	pthread_mutex_unlock(&c->lock);
	if (verified) {
		err = -EINVAL;
		goto out;
	}
	if (len)
		err = pwrite_full(c->fd, data, len,
				  (uint64_t)piece * c->piece_length + begin);
	/* even a failed write may have changed some bytes */
	pthread_mutex_lock(&c->lock);
	bt_bit_set(c->touched, piece);
	pthread_mutex_unlock(&c->lock);
out:
	pthread_rwlock_unlock(&c->io_lock);
	return err;
}

int cache_read(struct cache *c, uint32_t piece, uint32_t begin, void *buf,
	       size_t len)
{
	if (!in_piece(c, piece, begin, len) || (!buf && len))
		return -EINVAL;
	/* pinned while read, so an eviction cannot punch it meanwhile */
	pthread_mutex_lock(&c->lock);
	bool verified = bt_bit_get(c->map, piece);
	if (verified)
		c->pins[piece]++;
	pthread_mutex_unlock(&c->lock);
	if (!verified)
		return -ENODATA;
	if (c->files)
		return files_pread(c, (uint64_t)piece * c->piece_length + begin,
				   buf, len);
	size_t got = 0;
	int err = pread_full(c->fd, buf, len,
			     (uint64_t)piece * c->piece_length + begin, &got);
	cache_unpin(c, piece, piece);
	if (err < 0)
		return err;
	/* the file was cut short behind our back */
	return got == len ? 0 : -EIO;
}

int cache_verify(struct cache *c, uint32_t piece, const uint8_t expected[20])
{
	if (c->files)
		return -EROFS;
	if (piece >= c->npieces || !expected)
		return -EINVAL;
	uint64_t size = piece_size(c, piece);
	uint64_t off = (uint64_t)piece * c->piece_length;
	uint8_t digest[PFS_SHA1_LEN];
	int err = 0;

	pthread_mutex_lock(&c->lock);
	uint8_t *buf = c->hash_buf;
	struct pfs_sha1_ctx *h = c->hash_ctx;
	c->hash_buf = NULL;
	c->hash_ctx = NULL;
	pthread_mutex_unlock(&c->lock);
	if (!buf)
		buf = malloc(CACHE_HASH_CHUNK);
	if (!h)
		h = pfs_sha1_new();
	if (!buf || !h) {
		err = -ENOMEM;
		goto out;
	}

	pthread_mutex_lock(&c->lock);
	while (bt_bit_get(c->verifying, piece) || bt_bit_get(c->evicting, piece))
		pthread_cond_wait(&c->verify_cond, &c->lock);
	bt_bit_set(c->verifying, piece);
	bt_bit_clear(c->touched, piece);
	pthread_mutex_unlock(&c->lock);

	for (uint64_t done = 0; done < size;) {
		size_t want = size - done < CACHE_HASH_CHUNK
				      ? (size_t)(size - done)
				      : CACHE_HASH_CHUNK;
		size_t got = 0;
		if ((err = pread_full(c->fd, buf, want, off + done, &got)) < 0)
			break;
		if ((err = pfs_sha1_update(h, buf, got)) < 0)
			break;
		if (got < want)
			break; /* cut short: hash what is there */
		done += got;
	}
	/* final also resets the context for the next piece */
	if (err == 0 && (err = pfs_sha1_final(h, digest)) == 0)
		err = memcmp(digest, expected, PFS_SHA1_LEN) ? -EBADMSG : 0;
	if (err < 0 && err != -EBADMSG) {
		/* possibly mid-digest: not fit for reuse */
		pfs_sha1_free(h);
		h = NULL;
	}

	/* exclusive: no write to any piece is between its pwrite and its
	 * touched bit, so a clear bit means the bytes are those hashed */
	pthread_rwlock_wrlock(&c->io_lock);
	pthread_mutex_lock(&c->lock);
	if (err == 0 && bt_bit_get(c->touched, piece)) {
		pfs_log(PFS_LOG_DEBUG, "cache",
			"piece %u was written while it was hashed", piece);
		err = -EBADMSG;
	}
	if (err == 0 && !bt_bit_get(c->map, piece)) {
		bt_bit_set(c->map, piece);
		c->count++;
		c->dirty = true;
		c->stamp[piece] = ++c->clock;
		if (!bt_bit_get(c->alloc, piece)) { /* it hashed right as a hole */
			bt_bit_set(c->alloc, piece);
			c->used += size;
		}
	}
	bt_bit_clear(c->verifying, piece);
	pthread_cond_broadcast(&c->verify_cond);
	pthread_mutex_unlock(&c->lock);
	pthread_rwlock_unlock(&c->io_lock);
out:
	pthread_mutex_lock(&c->lock);
	if (!c->hash_buf) {
		c->hash_buf = buf;
		buf = NULL;
	}
	if (!c->hash_ctx) {
		c->hash_ctx = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	free(buf);
	pfs_sha1_free(h);
	return err;
}

/* ---- flush --------------------------------------------------------------- */

/* Make NAME in the store a regular file of exactly LEN written bytes
 * (zeros), unless it is one already (its blocks allocated). Returns 0 or
 * -errno (-ENOSPC on a full disk). */
static int reserve_file(struct cache *c, const char *name, size_t len)
{
	struct stat st;
	int err = 0;
	int fd = openat(c->dir_fd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
	} else if ((uint64_t)st.st_size != len ||
		   (uint64_t)st.st_blocks * 512 < len) {
		uint8_t *z = calloc(1, len);
		if (!z)
			err = -ENOMEM;
		else if ((err = pwrite_full(fd, z, len, 0)) == 0 &&
			 ftruncate(fd, (off_t)len) < 0)
			err = -errno;
		free(z);
	}
	if (close(fd) < 0 && err == 0)
		err = -errno;
	return err;
}

static bool store_has(struct cache *c, const char *name)
{
	return faccessat(c->dir_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* At open: the room of the next map writes (see the top of this file).
 * Tidies what a crash in write_map_file may have left. Returns 0 or
 * -errno; a failure only means a full disk may later lose the map. */
static int reserve_map_space(struct cache *c)
{
	size_t len = cache_map_size(c->npieces);
	int err = 0;
	if (store_has(c, MAP_OLD_NAME)) {
		/* a crash after the link: the old map is the spare, or (with
		 * the spare still there) a second name of the live map */
		if (!store_has(c, MAP_SPARE_NAME) && store_has(c, MAP_NAME))
			renameat(c->dir_fd, MAP_OLD_NAME, c->dir_fd,
				 MAP_SPARE_NAME);
		else if (store_has(c, MAP_NAME))
			unlinkat(c->dir_fd, MAP_OLD_NAME, 0);
	}
	if ((err = reserve_file(c, MAP_SPARE_NAME, len)) < 0)
		return err;
	/* no map yet: the first write has no old one to keep the blocks of */
	if (!store_has(c, MAP_NAME))
		err = reserve_file(c, MAP_OLD_NAME, len);
	return err;
}

/* Write c->map_buf (LEN bytes) as the new map: into the spare, in place;
 * fsync; the old map linked aside; the spare renamed over it; the old one
 * renamed to be the next spare; the folder fsync'd. On failure the map on
 * disk is the old one (or none, if there was none). */
static int write_map_file(struct cache *c, size_t len)
{
	struct stat st;
	int err = 0;
	int fd = openat(c->dir_fd, MAP_SPARE_NAME,
			O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if ((err = pwrite_full(fd, c->map_buf, len, 0)) < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size > len && ftruncate(fd, (off_t)len) < 0) {
		err = -errno;
		goto out;
	}
	if (fsync(fd) < 0)
		err = -errno;
out:
	if (close(fd) < 0 && err == 0)
		err = -errno;
	if (err < 0)
		return err; /* the spare is never read: nothing to undo */

	bool kept;
	if (store_has(c, MAP_NAME)) {
		unlinkat(c->dir_fd, MAP_OLD_NAME, 0);
		kept = linkat(c->dir_fd, MAP_NAME, c->dir_fd, MAP_OLD_NAME,
			      0) == 0;
	} else {
		kept = store_has(c, MAP_OLD_NAME); /* reserved at open */
	}
	if (renameat(c->dir_fd, MAP_SPARE_NAME, c->dir_fd, MAP_NAME) < 0) {
		err = -errno;
		if (kept && store_has(c, MAP_NAME))
			unlinkat(c->dir_fd, MAP_OLD_NAME, 0);
		return err;
	}
	if (!kept ||
	    renameat(c->dir_fd, MAP_OLD_NAME, c->dir_fd, MAP_SPARE_NAME) < 0) {
		/* no blocks to take over (no hard links here?): new ones */
		int e = reserve_file(c, MAP_SPARE_NAME, len);
		if (e < 0)
			pfs_log(PFS_LOG_DEBUG, "cache",
				"no room reserved for the next map in '%s': %s",
				c->dir, strerror(-e));
	}
	/* make the renames themselves durable */
	return fsync(c->dir_fd) < 0 ? -errno : 0;
}

int cache_flush(struct cache *c)
{
	int err = 0;
	size_t len = cache_map_size(c->npieces);
	pthread_mutex_lock(&c->flush_lock);
	if (c->sync_failed) {
		err = -EIO;
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	bool dirty = c->dirty;
	if (dirty) {
		memcpy(c->snap, c->map, c->bm_len);
		c->dirty = false;
	}
	pthread_mutex_unlock(&c->lock);
	if (!dirty)
		goto out;

	/* the bytes of every piece in snap were written before it was marked,
	 * so this makes all of them durable before the map names them */
	if (fdatasync(c->fd) < 0) {
		err = -errno;
		c->sync_failed = true;
		pfs_log(PFS_LOG_ERROR, "cache",
			"syncing '%s/" DATA_NAME "' failed: %s; the verified "
			"map will not be updated again",
			c->dir, strerror(-err));
		goto fail;
	}
	if ((err = cache_map_encode(c->snap, c->npieces, c->piece_length,
				    c->total_length, c->map_buf, len)) < 0)
		goto fail;
	if ((err = write_map_file(c, len)) < 0)
		goto fail;
	memcpy(c->disk_map, c->snap, c->bm_len);
	goto out;
fail:
	pthread_mutex_lock(&c->lock);
	c->dirty = true;
	pthread_mutex_unlock(&c->lock);
out:
	pthread_mutex_unlock(&c->flush_lock);
	return err;
}

int cache_check(struct cache *c)
{
	struct stat st;
	int err = 0;
	uint8_t spare = bt_bitfield_spare_mask(c->npieces);
	if (c->files)
		return files_check(c);
	if (fstat(c->fd, &st) < 0)
		return -errno;
	pthread_mutex_lock(&c->lock);
	if (popcount(c->map, c->bm_len) != c->count || c->count > c->npieces)
		err = -EUCLEAN;
	if ((c->map[c->bm_len - 1] | c->touched[c->bm_len - 1] |
	     c->verifying[c->bm_len - 1]) &
	    spare)
		err = -EUCLEAN;
	/* eviction: verified implies counted as used, never both verified
	 * and being evicted, and `used` is the sum of the counted pieces */
	uint64_t used = 0;
	for (uint32_t i = 0; i < c->npieces; i++) {
		if (bt_bit_get(c->map, i) &&
		    (!bt_bit_get(c->alloc, i) || bt_bit_get(c->evicting, i)))
			err = -EUCLEAN;
		if (bt_bit_get(c->alloc, i))
			used += piece_size(c, i);
	}
	if (used != c->used)
		err = -EUCLEAN;
	pthread_mutex_unlock(&c->lock);
	if ((uint64_t)st.st_size != c->total_length)
		err = -EUCLEAN;
	return err;
}

/* ---- files mode ---------------------------------------------------------- */

#define FILES_CHUNK (1u << 20)      /* bytes read per pread while hashing */
#define FILES_BATCH (8u << 20)      /* consecutive bytes one worker takes */
#define FILES_MAX_THREADS 8

struct cache_fentry {
	enum cache_seg_kind kind;
	char *path;     /* CACHE_SEG_FILE */
	uint8_t *bytes; /* CACHE_SEG_BYTES */
	uint64_t off, len;
	int fd; /* kept open until close, or -1; under c->lock */
	bool encrypt;
};

struct cache_files {
	int base_fd;
	size_t n;
	struct cache_fentry *f;
	unsigned nopen; /* entries with fd >= 0; under c->lock */
	struct pfs_ctr *ctr; /* the keystream of encrypted segments, or NULL */
};

static void files_free(struct cache_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		if (f->f[i].fd >= 0)
			close(f->f[i].fd);
		free(f->f[i].path);
		free(f->f[i].bytes);
	}
	if (f->base_fd >= 0)
		close(f->base_fd);
	pfs_ctr_free(f->ctr);
	free(f->f);
	free(f);
}

bool cache_is_files(const struct cache *c)
{
	return c->files != NULL;
}

struct cache *cache_open_files(const char *base, const struct cache_file *files,
			       size_t nfiles, uint32_t npieces,
			       uint32_t piece_length, uint64_t total_length,
			       int *err)
{
	struct cache_segment *segs = NULL;
	struct cache *c = NULL;
	if (files && nfiles && !(segs = calloc(nfiles, sizeof(*segs)))) {
		if (err)
			*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; segs && i < nfiles; i++)
		segs[i] = (struct cache_segment){
			.kind = files[i].pad ? CACHE_SEG_ZERO : CACHE_SEG_FILE,
			.path = files[i].path,
			.length = files[i].length,
		};
	c = cache_open_segments(base, segs, segs ? nfiles : 0, npieces,
				piece_length, total_length, NULL, NULL, err);
	free(segs);
	return c;
}

struct cache *cache_open_segments(const char *base,
				  const struct cache_segment *segs,
				  size_t nsegs, uint32_t npieces,
				  uint32_t piece_length, uint64_t total_length,
				  const uint8_t *key, const uint8_t *iv,
				  int *err)
{
	struct cache *c = NULL;
	struct cache_files *cf = NULL;
	int inited = 0, e = 0;
	uint64_t sum = 0;
	bool enc = false;

	if (!base || !base[0] || !segs || nsegs == 0 ||
	    !valid_geometry(npieces, piece_length, total_length)) {
		e = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < nsegs; i++) {
		const struct cache_segment *g = &segs[i];
		if ((g->kind == CACHE_SEG_FILE &&
		     (!g->path || !g->path[0] || g->path[0] == '/')) ||
		    (g->kind == CACHE_SEG_BYTES && g->length && !g->bytes) ||
		    g->kind > CACHE_SEG_BYTES ||
		    g->length > total_length - sum) {
			e = -EINVAL;
			goto out;
		}
		sum += g->length;
		enc |= g->encrypt;
	}
	if (sum != total_length || (enc && (!key || !iv))) {
		e = -EINVAL;
		goto out;
	}
	if ((e = cache_alloc(&c, npieces, piece_length, total_length,
			     &inited)) < 0)
		goto out;
	if (!(c->dir = strdup(base)) || !(cf = calloc(1, sizeof(*cf)))) {
		e = -ENOMEM;
		goto out;
	}
	c->files = cf;
	cf->base_fd = -1;
	if (!(cf->f = calloc(nsegs, sizeof(*cf->f))) ||
	    (enc && !(cf->ctr = pfs_ctr_new(key, iv)))) {
		e = -ENOMEM;
		goto out;
	}
	sum = 0;
	for (size_t i = 0; i < nsegs; i++) {
		const struct cache_segment *g = &segs[i];
		struct cache_fentry *fe = &cf->f[cf->n++];
		fe->fd = -1;
		fe->off = sum;
		fe->len = g->length;
		fe->kind = g->kind;
		fe->encrypt = g->encrypt;
		sum += fe->len;
		if ((fe->kind == CACHE_SEG_FILE &&
		     !(fe->path = strdup(g->path))) ||
		    (fe->kind == CACHE_SEG_BYTES && fe->len &&
		     !(fe->bytes = malloc(fe->len)))) {
			e = -ENOMEM;
			goto out;
		}
		if (fe->bytes)
			memcpy(fe->bytes, g->bytes, fe->len);
	}
	cf->base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cf->base_fd < 0) {
		e = -errno;
		goto out;
	}
	pfs_log(PFS_LOG_DEBUG, "cache", "serving %zu segments from '%s'%s",
		nsegs, base, enc ? ", encrypted" : "");
out:
	if (e < 0 && c) {
		cache_free(c, inited);
		c = NULL;
	}
	if (err)
		*err = e;
	return c;
}

/* Open a file of the torrent read-only, without following it into a FIFO
 * or device (O_NONBLOCK keeps open(2) of a FIFO from blocking), and without
 * updating its access time when we may. Returns an fd or -errno. */
static int open_ro(int base_fd, const char *path)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = openat(base_fd, path, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership */
		fd = openat(base_fd, path, flags);
	if (fd < 0)
		return -errno;
	struct stat st;
	int e = fstat(fd, &st) < 0	 ? -errno
		: S_ISDIR(st.st_mode)	 ? -EISDIR
		: !S_ISREG(st.st_mode) ? -EINVAL
					 : 0;
	if (e < 0) {
		close(fd);
		return e;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return fd;
}

/* The fd of entry FE: the one kept open, or a new one that is kept when
 * there is room. *TEMP says the caller must close it. */
static int entry_fd(struct cache *c, struct cache_fentry *fe, bool *temp)
{
	struct cache_files *cf = c->files;
	*temp = false;
	pthread_mutex_lock(&c->lock);
	int fd = fe->fd;
	pthread_mutex_unlock(&c->lock);
	if (fd >= 0)
		return fd;
	if ((fd = open_ro(cf->base_fd, fe->path)) < 0)
		return fd;
	pthread_mutex_lock(&c->lock);
	if (fe->fd >= 0) { /* another thread was quicker */
		close(fd);
		fd = fe->fd;
	} else if (cf->nopen < CACHE_FILES_MAX_OPEN) {
		fe->fd = fd;
		cf->nopen++;
	} else {
		*temp = true;
	}
	pthread_mutex_unlock(&c->lock);
	return fd;
}

/* Read [OFF, OFF+LEN) of the torrent's byte stream from the files. A file
 * that is missing or too short is an error (-ENOENT, -EIO). */
static int files_pread(struct cache *c, uint64_t off, void *buf, size_t len)
{
	struct cache_files *cf = c->files;
	uint8_t *out = buf;
	if (len == 0)
		return 0;
	/* the first entry ending after OFF (zero-length ones never do) */
	size_t lo = 0, hi = cf->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cf->f[mid].off + cf->f[mid].len > off)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (size_t i = lo; len > 0; i++) {
		if (i >= cf->n)
			return -EINVAL;
		struct cache_fentry *fe = &cf->f[i];
		if (fe->len == 0)
			continue;
		uint64_t in = off - fe->off;
		size_t n = fe->len - in < len ? (size_t)(fe->len - in) : len;
		if (fe->kind == CACHE_SEG_ZERO) {
			memset(out, 0, n);
		} else if (fe->kind == CACHE_SEG_BYTES) {
			memcpy(out, fe->bytes + in, n);
		} else {
			bool temp;
			size_t got = 0;
			int fd = entry_fd(c, fe, &temp);
			if (fd < 0)
				return fd;
			int err = pread_full(fd, out, n, in, &got);
			if (temp)
				close(fd);
			if (err < 0)
				return err;
			if (got != n)
				return -EIO; /* shorter than the torrent says */
		}
		if (fe->encrypt) {
			int err = pfs_ctr_xor(cf->ctr, off, out, out, n);
			if (err < 0)
				return err;
		}
		out += n;
		off += n;
		len -= n;
	}
	return 0;
}

int cache_files_pread(struct cache *c, uint64_t off, void *buf, size_t len)
{
	if (!c->files || off > c->total_length ||
	    len > c->total_length - off)
		return -EINVAL;
	return files_pread(c, off, buf, len);
}

static int files_check(struct cache *c)
{
	int err = 0;
	pthread_mutex_lock(&c->lock);
	if (popcount(c->map, c->bm_len) != c->count || c->count > c->npieces ||
	    (c->map[c->bm_len - 1] & bt_bitfield_spare_mask(c->npieces)))
		err = -EUCLEAN;
	unsigned open = 0;
	for (size_t i = 0; i < c->files->n; i++)
		open += c->files->f[i].fd >= 0;
	if (open != c->files->nopen || open > CACHE_FILES_MAX_OPEN)
		err = -EUCLEAN;
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* The shared state of one cache_files_verify run. */
struct files_verify {
	struct cache *c;
	const uint8_t *hashes;
	uint32_t batch;         /* pieces per grab */
	pthread_mutex_t lock;   /* guards the fields below */
	pthread_cond_t cond;
	uint32_t next;          /* first piece not yet taken */
	uint64_t done;          /* bytes hashed or skipped */
	unsigned running;
};

/* Hash PIECE from the files with H and BUF; true when it matches. */
static bool files_hash_piece(struct cache *c, uint32_t piece,
			     const uint8_t expected[20], struct pfs_sha1_ctx *h,
			     uint8_t *buf)
{
	uint64_t size = piece_size(c, piece);
	uint64_t off = (uint64_t)piece * c->piece_length;
	uint8_t digest[PFS_SHA1_LEN];
	int err = 0;
	for (uint64_t done = 0; done < size && err == 0;) {
		size_t want = size - done < FILES_CHUNK ? (size_t)(size - done)
							: FILES_CHUNK;
		if ((err = files_pread(c, off + done, buf, want)) == 0)
			err = pfs_sha1_update(h, buf, want);
		done += want;
	}
	/* final also resets the context for the next piece */
	int ferr = pfs_sha1_final(h, digest);
	return err == 0 && ferr == 0 &&
	       memcmp(digest, expected, PFS_SHA1_LEN) == 0;
}

static void *files_verify_main(void *arg)
{
	struct files_verify *v = arg;
	struct cache *c = v->c;
	uint8_t *buf = malloc(FILES_CHUNK);
	struct pfs_sha1_ctx *h = pfs_sha1_new();
	pthread_mutex_lock(&v->lock);
	for (;;) {
		if (!buf || !h || v->next >= c->npieces)
			break;
		uint32_t first = v->next;
		uint32_t last = c->npieces - first > v->batch
					? first + v->batch - 1
					: c->npieces - 1;
		v->next = last + 1;
		pthread_mutex_unlock(&v->lock);
		for (uint32_t p = first; p <= last; p++) {
			if (!cache_has(c, p) &&
			    files_hash_piece(c, p, v->hashes + 20 * (size_t)p,
					     h, buf)) {
				pthread_mutex_lock(&c->lock);
				if (!bt_bit_get(c->map, p)) {
					bt_bit_set(c->map, p);
					c->count++;
				}
				pthread_mutex_unlock(&c->lock);
			}
			pthread_mutex_lock(&v->lock);
			v->done += piece_size(c, p);
			pthread_mutex_unlock(&v->lock);
		}
		pthread_mutex_lock(&v->lock);
	}
	v->running--;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	if (!buf || !h)
		pfs_log(PFS_LOG_ERROR, "cache", "verifying: %s",
			strerror(ENOMEM));
	free(buf);
	pfs_sha1_free(h);
	return NULL;
}

int cache_files_verify(struct cache *c, const uint8_t *hashes,
		       unsigned nthreads, cache_progress_fn progress,
		       void *arg, unsigned interval_ms)
{
	pthread_t tids[FILES_MAX_THREADS];
	struct files_verify v;
	unsigned started = 0;
	int err = 0;
	if (!c->files || !hashes)
		return -EINVAL;
	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 1;
	}
	if (nthreads > FILES_MAX_THREADS)
		nthreads = FILES_MAX_THREADS;
	if (interval_ms == 0)
		interval_ms = 100;
	memset(&v, 0, sizeof(v));
	v.c = c;
	v.hashes = hashes;
	v.batch = c->piece_length >= FILES_BATCH ? 1
						 : FILES_BATCH / c->piece_length;
	pthread_mutex_init(&v.lock, NULL);
	pthread_cond_init(&v.cond, NULL);

	pthread_mutex_lock(&v.lock);
	for (unsigned i = 0; i < nthreads; i++) {
		int e = pthread_create(&tids[i], NULL, files_verify_main, &v);
		if (e) {
			err = -e;
			break;
		}
		started++;
		v.running++;
	}
	if (started)
		err = 0; /* fewer threads is only slower */
	while (v.running) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += interval_ms / 1000;
		until.tv_nsec += (long)(interval_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&v.cond, &v.lock, &until);
		uint64_t done = v.done;
		if (progress && v.running) {
			pthread_mutex_unlock(&v.lock);
			progress(arg, done, c->total_length);
			pthread_mutex_lock(&v.lock);
		}
	}
	pthread_mutex_unlock(&v.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (progress && started)
		progress(arg, v.done, c->total_length);
	pthread_cond_destroy(&v.cond);
	pthread_mutex_destroy(&v.lock);
	return err;
}

int cache_files_trust(struct cache *c, const uint8_t *bitmap)
{
	if (!c->files || !bitmap ||
	    (bitmap[c->bm_len - 1] & bt_bitfield_spare_mask(c->npieces)))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->bm_len; i++)
		c->map[i] |= bitmap[i];
	c->count = popcount(c->map, c->bm_len);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ---- size limit and eviction --------------------------------------------- */

static int cmp_victim(const void *a, const void *b, void *arg)
{
	const uint64_t *stamp = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (stamp[x] != stamp[y])
		return stamp[x] < stamp[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

size_t cache_evict_pick(const struct cache_evict_in *in, uint32_t *victims)
{
	if (!in->limit || in->used <= in->limit || !in->npieces)
		return 0;
	size_t n = 0;
	for (uint32_t i = 0; i < in->npieces; i++)
		if (bt_bit_get(in->have, i) && !bt_bit_get(in->needed, i))
			victims[n++] = i;
	qsort_r(victims, n, sizeof(*victims), cmp_victim,
		(void *)(uintptr_t)in->stamp);
	uint64_t left = in->used;
	size_t k = 0;
	while (k < n && left > in->limit) {
		uint64_t start = (uint64_t)victims[k] * in->piece_length;
		uint64_t size = in->total_length - start;
		if (size > in->piece_length)
			size = in->piece_length;
		left = left > size ? left - size : 0;
		k++;
	}
	return k;
}

static int punch(struct cache *c, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (fallocate(c->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0)
		return -errno;
	return 0;
}

/* Make durable the map last written minus the pieces V[0..N): it only
 * withdraws claims, so unlike cache_flush it needs no sync of the data
 * (pieces verified since the last flush stay out of it until the next).
 * Nothing to write when none of them is in it. */
static int drop_from_disk_map(struct cache *c, const uint32_t *v, size_t n)
{
	size_t len = cache_map_size(c->npieces);
	bool any = false;
	int err = 0;
	pthread_mutex_lock(&c->flush_lock);
	memcpy(c->snap, c->disk_map, c->bm_len);
	for (size_t k = 0; k < n; k++) {
		any |= bt_bit_get(c->snap, v[k]);
		bt_bit_clear(c->snap, v[k]);
	}
	if (!any)
		goto out;
	if ((err = cache_map_encode(c->snap, c->npieces, c->piece_length,
				    c->total_length, c->map_buf, len)) < 0 ||
	    (err = write_map_file(c, len)) < 0)
		goto out;
	memcpy(c->disk_map, c->snap, c->bm_len);
out:
	pthread_mutex_unlock(&c->flush_lock);
	return err;
}

/* Evict least recently used pieces that no reader needs until NEED more
 * bytes fit under the limit. The map without them is made durable before
 * their holes are punched, so a crash in between leaves unclaimed bytes,
 * never a claimed hole. Returns the number evicted or -errno. */
static int evict_to(struct cache *c, uint64_t need)
{
	uint32_t *v = NULL;
	uint8_t *needed = NULL;
	size_t n = 0;
	int ret = 0;

	pthread_mutex_lock(&c->evict_lock);
	pthread_mutex_lock(&c->lock);
	if (!c->limit || c->used + need <= c->limit) {
		pthread_mutex_unlock(&c->lock);
		goto out;
	}
	v = malloc((size_t)c->npieces * sizeof(*v));
	needed = malloc(c->bm_len);
	if (!v || !needed) {
		pthread_mutex_unlock(&c->lock);
		ret = -ENOMEM;
		goto out;
	}
	/* each eviction may cost a map write (two fsyncs): free a little
	 * more than asked (an eighth of the limit, at most 4 pieces) so that
	 * a steady stream of new pieces writes it less often */
	uint64_t batch = c->limit / 8;
	if (batch > 4ull * c->piece_length)
		batch = 4ull * c->piece_length;
	batch = batch / c->piece_length * c->piece_length;
	for (size_t i = 0; i < c->bm_len; i++)
		needed[i] = c->verifying[i] | c->evicting[i];
	for (uint32_t i = 0; i < c->npieces; i++)
		if (c->pins[i])
			bt_bit_set(needed, i);
	struct cache_evict_in in = {
		.npieces = c->npieces,
		.piece_length = c->piece_length,
		.total_length = c->total_length,
		.have = c->map,
		.needed = needed,
		.stamp = c->stamp,
		.used = c->used + need,
		.limit = c->limit - batch,
	};
	n = cache_evict_pick(&in, v);
	uint64_t freed = 0;
	for (size_t k = 0; k < n; k++) {
		bt_bit_clear(c->map, v[k]);
		bt_bit_set(c->evicting, v[k]);
		c->count--;
		freed += piece_size(c, v[k]);
	}
	if (n)
		c->dirty = true;
	if (c->used + need - freed > c->limit && !c->full_warned) {
		c->full_warned = true;
		pfs_log(PFS_LOG_INFO, "cache",
			"'%s' stays over its limit for now: the rest is in use",
			c->dir);
	}
	pthread_mutex_unlock(&c->lock);
	if (!n)
		goto out;

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int err = drop_from_disk_map(c, v, n);
	if (err < 0) {
		/* not punched yet: their bytes are intact, take them back */
		pthread_mutex_lock(&c->lock);
		for (size_t k = 0; k < n; k++) {
			bt_bit_set(c->map, v[k]);
			bt_bit_clear(c->evicting, v[k]);
			c->count++;
		}
		c->dirty = true; /* a flush meanwhile may have written them out */
		pthread_cond_broadcast(&c->verify_cond);
		pthread_mutex_unlock(&c->lock);
		pfs_log(PFS_LOG_ERROR, "cache", "cannot evict from '%s': %s",
			c->dir, strerror(-err));
		ret = err;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		err = punch(c, (uint64_t)v[k] * c->piece_length,
			    piece_size(c, v[k]));
		if (err < 0 && !c->punch_warned) {
			/* e.g. a file system without hole punching: the map
			 * is right, only the limit does not hold on disk */
			c->punch_warned = true;
			pfs_log(PFS_LOG_WARN, "cache",
				"cannot free piece %u of '%s': %s", v[k],
				c->dir, strerror(-err));
		}
	}
	pthread_mutex_lock(&c->lock);
	for (size_t k = 0; k < n; k++) {
		bt_bit_clear(c->evicting, v[k]);
		bt_bit_clear(c->alloc, v[k]);
		c->used -= piece_size(c, v[k]);
	}
	c->evictions += n;
	pthread_cond_broadcast(&c->verify_cond);
	pthread_mutex_unlock(&c->lock);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pfs_log(PFS_LOG_DEBUG, "cache", "evicted %zu pieces from '%s' in %.1f ms",
		n, c->dir, (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				   (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	ret = (int)n;
out:
	pthread_mutex_unlock(&c->evict_lock);
	free(v);
	free(needed);
	return ret;
}

/* Before the first write to PIECE: wait out an eviction of it, make room
 * under the limit, and count its bytes as used. */
static void reserve(struct cache *c, uint32_t piece)
{
	pthread_mutex_lock(&c->lock);
	while (bt_bit_get(c->evicting, piece))
		pthread_cond_wait(&c->verify_cond, &c->lock);
	bool fresh = !bt_bit_get(c->alloc, piece);
	bool limited = c->limit != 0;
	pthread_mutex_unlock(&c->lock);
	if (!fresh)
		return;
	if (limited)
		evict_to(c, piece_size(c, piece)); /* logs its own errors */
	pthread_mutex_lock(&c->lock);
	if (!bt_bit_get(c->alloc, piece)) {
		bt_bit_set(c->alloc, piece);
		c->used += piece_size(c, piece);
	}
	pthread_mutex_unlock(&c->lock);
}

/* Punch every byte of the data file outside verified pieces: leftovers of
 * pieces written but never verified (an earlier run, a crash) would
 * otherwise hold space the limit does not see. Walks only the file's data
 * extents. Called with `lock` held, before any writer runs. */
static int trim_unverified(struct cache *c)
{
	uint64_t pos = 0;
	int err = 0;
	while (pos < c->total_length && err == 0) {
		off_t d = lseek(c->fd, (off_t)pos, SEEK_DATA);
		if (d < 0)
			return errno == ENXIO ? 0 : -errno;
		off_t h = lseek(c->fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		uint64_t a = (uint64_t)d, b = (uint64_t)h;
		if (b > c->total_length)
			b = c->total_length;
		for (uint32_t p = (uint32_t)(a / c->piece_length);
		     err == 0 && a < b; p++) {
			uint64_t pe = (uint64_t)(p + 1) * c->piece_length;
			uint64_t e = pe < b ? pe : b;
			if (!bt_bit_get(c->map, p) && !bt_bit_get(c->alloc, p))
				err = punch(c, a, e - a);
			a = e;
		}
		pos = b > (uint64_t)h ? b : (uint64_t)h;
	}
	return err;
}

int cache_set_limit(struct cache *c, uint64_t bytes)
{
	int err = 0;
	pthread_mutex_lock(&c->lock);
	c->limit = bytes;
	c->full_warned = false;
	if (bytes)
		err = trim_unverified(c);
	pthread_mutex_unlock(&c->lock);
	if (err < 0)
		pfs_log(PFS_LOG_WARN, "cache",
			"cannot free unverified bytes in '%s': %s", c->dir,
			strerror(-err));
	if (!bytes)
		return 0;
	int n = evict_to(c, 0);
	return n < 0 ? n : 0;
}

void cache_usage(struct cache *c, struct cache_usage *u)
{
	pthread_mutex_lock(&c->lock);
	u->used = c->used;
	u->limit = c->limit;
	u->evictions = c->evictions;
	u->verified = c->count;
	u->npieces = c->npieces;
	pthread_mutex_unlock(&c->lock);
}

void cache_pin(struct cache *c, uint32_t first, uint32_t last)
{
	if (first > last || first >= c->npieces)
		return;
	if (last >= c->npieces)
		last = c->npieces - 1;
	pthread_mutex_lock(&c->lock);
	for (uint32_t p = first; p <= last; p++) {
		c->pins[p]++;
		c->stamp[p] = ++c->clock;
	}
	pthread_mutex_unlock(&c->lock);
}

void cache_unpin(struct cache *c, uint32_t first, uint32_t last)
{
	if (first > last || first >= c->npieces)
		return;
	if (last >= c->npieces)
		last = c->npieces - 1;
	pthread_mutex_lock(&c->lock);
	for (uint32_t p = first; p <= last; p++) {
		PFS_ASSERT(c->pins[p] > 0);
		c->pins[p]--;
		c->stamp[p] = ++c->clock;
	}
	pthread_mutex_unlock(&c->lock);
}

/* Pieces overlapping [OFF, OFF+LEN), clipped to the torrent; false if none. */
static bool range_pieces(const struct cache *c, uint64_t off, uint64_t len,
			 uint32_t *first, uint32_t *last)
{
	if (!len || off >= c->total_length)
		return false;
	if (len > c->total_length - off)
		len = c->total_length - off;
	*first = (uint32_t)(off / c->piece_length);
	*last = (uint32_t)((off + len - 1) / c->piece_length);
	return true;
}

void cache_pin_range(struct cache *c, uint64_t off, uint64_t len)
{
	uint32_t a, b;
	if (range_pieces(c, off, len, &a, &b))
		cache_pin(c, a, b);
}

void cache_unpin_range(struct cache *c, uint64_t off, uint64_t len)
{
	uint32_t a, b;
	if (range_pieces(c, off, len, &a, &b))
		cache_unpin(c, a, b);
}
