/* bt_mkinfo_io — the disk half of torrent creation: the folder walk and the
 * threaded piece hasher; see bt_mkinfo.h.
 *
 * The walk uses full paths (opendir, read all names, closedir, then
 * recurse), so it holds no descriptor across levels; its depth is bounded.
 *
 * The hasher is a pipeline: the calling thread reads the torrent's bytes
 * front to back (file after file, as one stream) with large preads into
 * chunks that start on a piece boundary and hold whole pieces, and hands
 * each full chunk to a small pool of worker threads that hash its pieces
 * with their own SHA-1 context. A fixed set of chunk buffers circulates
 * between a free list and a work queue (one mutex, two condition
 * variables), so memory is bounded and reading overlaps hashing. Each
 * piece's digest goes straight to its slot in mk->pieces, so the order in
 * which workers finish does not matter. */
#include "bt_mkinfo_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pfs_hash.h"
#include "pfs_log.h"

#define WALK_MAX_DEPTH 256
/* Reads are this large (or one piece, when pieces are larger). */
#define CHUNK_BYTES (4u * 1024 * 1024)
/* Chunk buffers take at most this much, but there are always at least
 * nthreads + 1 of them. */
#define CHUNK_MEMORY (256u * 1024 * 1024)
#define PROGRESS_NS 100000000LL

/* ---- the walk ---- */

struct walk {
	struct bt_mkinfo *mk;
	unsigned flags;
	bt_mkinfo_warn_fn warn;
	void *warn_arg;
	char *err;
	size_t errlen;
	const char *shown;    /* PATH as the user gave it, for messages */
	char full[PATH_MAX];  /* root_real/rel */
	size_t root_len;      /* strlen(root_real) */
	struct {
		dev_t dev;
		ino_t ino;
	} stack[WALK_MAX_DEPTH]; /* folders from the top down to here */
	size_t depth;
};

/* The path relative to the top, for messages and the file list. */
static const char *rel(const struct walk *w)
{
	return w->full[w->root_len] ? w->full + w->root_len + 1 : ".";
}

static int walk_fail(struct walk *w, int e, const char *why)
{
	pfs_errf(w->err, w->errlen, "'%s/%s': %s", w->shown, rel(w),
		why ? why : strerror(-e));
	return e;
}

/* REAL (a resolved path) is the top folder or inside it: w->full starts
 * with the top's real path. */
static bool under_root(const struct walk *w, const char *real)
{
	return !strncmp(real, w->full, w->root_len) &&
	       (real[w->root_len] == '/' || real[w->root_len] == '\0');
}

static int walk_dir(struct walk *w);

/* The entry at w->full (already appended). */
static int walk_entry(struct walk *w)
{
	struct stat st;
	if (lstat(w->full, &st) < 0)
		return walk_fail(w, -errno, NULL);
	if (S_ISLNK(st.st_mode)) {
		char *real = realpath(w->full, NULL);
		if (!real) {
			int e = -errno;
			return walk_fail(w, e == -ENOENT ? -ENOENT : e,
					 e == -ENOENT ? "dangling symlink"
					 : e == -ELOOP ? "symlink loop"
						       : NULL);
		}
		bool inside = under_root(w, real);
		free(real);
		if (!inside && !(w->flags & BT_MKINFO_FOLLOW_SYMLINKS))
			return walk_fail(w, -EXDEV,
					 "symlink leads out of the folder "
					 "(--follow-symlinks includes it)");
		if (stat(w->full, &st) < 0)
			return walk_fail(w, -errno, NULL);
	}
	if (S_ISDIR(st.st_mode)) {
		for (size_t i = 0; i < w->depth; i++)
			if (w->stack[i].dev == st.st_dev &&
			    w->stack[i].ino == st.st_ino)
				return walk_fail(w, -ELOOP,
						 "symlink loop (a folder "
						 "inside itself)");
		if (w->depth == WALK_MAX_DEPTH)
			return walk_fail(w, -ELOOP, "folders nested too deep");
		w->stack[w->depth].dev = st.st_dev;
		w->stack[w->depth].ino = st.st_ino;
		w->depth++;
		int rc = walk_dir(w);
		w->depth--;
		return rc;
	}
	if (S_ISREG(st.st_mode)) {
		if (access(w->full, R_OK) < 0)
			return walk_fail(w, -errno, NULL);
		int rc = bt_mkinfo_add_file(w->mk, rel(w), (uint64_t)st.st_size);
		if (rc < 0)
			return walk_fail(w, rc, NULL);
		return 0;
	}
	if (w->warn)
		w->warn(w->warn_arg, rel(w), "not a regular file or folder");
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder at w->full: read its names, then visit each. */
static int walk_dir(struct walk *w)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	DIR *d = opendir(w->full);
	if (!d)
		return walk_fail(w, -errno, NULL);
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				rc = walk_fail(w, -errno, NULL);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **p = realloc(names, ncap * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			names = p;
			cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == -ENOMEM)
		pfs_errf(w->err, w->errlen, "out of memory");
	if (rc < 0)
		goto out;
	/* only for a stable walk (warnings in order); the list is sorted
	 * again as a whole */
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_name);
	size_t len = strlen(w->full);
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);
		if (len + 1 + nl >= sizeof(w->full)) {
			rc = walk_fail(w, -ENAMETOOLONG, NULL);
			break;
		}
		w->full[len] = '/';
		memcpy(w->full + len + 1, names[i], nl + 1);
		rc = walk_entry(w);
		w->full[len] = '\0';
		if (rc < 0)
			break;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* The torrent's name: PATH's last component, or the real path's when that
 * is "." or "..". */
static char *name_of(const char *path, const char *real)
{
	const char *src = path;
	size_t n = strlen(src);
	for (int pass = 0; pass < 2; pass++) {
		while (n > 1 && src[n - 1] == '/')
			n--;
		size_t s = n;
		while (s > 0 && src[s - 1] != '/')
			s--;
		size_t len = n - s;
		bool bad = len == 0 || (len == 1 && src[s] == '.') ||
			   (len == 2 && src[s] == '.' && src[s + 1] == '.') ||
			   (len == 1 && src[s] == '/');
		if (!bad)
			return strndup(src + s, len);
		src = real;
		n = strlen(src);
	}
	errno = EINVAL;
	return NULL;
}

int bt_mkinfo_scan(const char *path, unsigned flags, bt_mkinfo_warn_fn warn,
		   void *warn_arg, struct bt_mkinfo **out, char *err,
		   size_t errlen)
{
	struct walk *w = NULL;
	struct bt_mkinfo *mk = NULL;
	char *real = NULL, *name = NULL;
	struct stat st;
	int rc;

	*out = NULL;
	if (stat(path, &st) < 0 || !(real = realpath(path, NULL))) {
		rc = -errno;
		pfs_errf(err, errlen, "'%s': %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		pfs_errf(err, errlen, "'%s': not a regular file or folder", path);
		goto out;
	}
	if (!(name = name_of(path, real))) {
		rc = errno == ENOMEM ? -ENOMEM : -EINVAL;
		pfs_errf(err, errlen, "'%s': no name for the torrent", path);
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		if (access(path, R_OK) < 0) {
			rc = -errno;
			pfs_errf(err, errlen, "'%s': %s", path, strerror(-rc));
			goto out;
		}
		rc = -ENOMEM;
		if (!(mk = bt_mkinfo_new(real, name, true)))
			goto oom;
		if ((rc = bt_mkinfo_add_file(mk, name, (uint64_t)st.st_size)) < 0)
			goto oom;
		rc = 0;
		goto out;
	}

	rc = -ENOMEM;
	if (!(mk = bt_mkinfo_new(real, name, false)) ||
	    !(w = calloc(1, sizeof(*w))))
		goto oom;
	w->mk = mk;
	w->flags = flags;
	w->warn = warn;
	w->warn_arg = warn_arg;
	w->err = err;
	w->errlen = errlen;
	w->shown = path;
	w->root_len = strlen(real);
	if (w->root_len >= sizeof(w->full)) {
		rc = -ENAMETOOLONG;
		pfs_errf(err, errlen, "'%s': %s", path, strerror(-rc));
		goto out;
	}
	if (!strcmp(real, "/")) {
		rc = -EINVAL;
		pfs_errf(err, errlen, "'%s': is the whole file system", path);
		goto out;
	}
	memcpy(w->full, real, w->root_len + 1);
	w->stack[0].dev = st.st_dev;
	w->stack[0].ino = st.st_ino;
	w->depth = 1;
	if ((rc = walk_dir(w)) < 0)
		goto out;
	if (!mk->nfiles) {
		rc = -EINVAL;
		pfs_errf(err, errlen, "'%s': no files in the folder", path);
		goto out;
	}
	bt_mkinfo_sort(mk);
	rc = 0;
	goto out;
oom:
	if (rc == -ENOMEM)
		pfs_errf(err, errlen, "out of memory");
	else
		pfs_errf(err, errlen, "'%s': %s", path, strerror(-rc));
out:
	if (rc < 0) {
		bt_mkinfo_free(mk);
		mk = NULL;
	}
	*out = mk;
	free(w);
	free(real);
	free(name);
	return rc;
}

/* ---- the hasher ---- */

struct chunk {
	struct chunk *next;
	uint8_t *buf;
	size_t len;
	uint32_t first; /* index of its first piece */
};

struct hasher {
	struct bt_mkinfo *mk;
	pthread_mutex_t mu;
	pthread_cond_t work_cv, free_cv;
	struct chunk *work, *work_tail, *free_list;
	bool eof;  /* the reader queued its last chunk */
	int err;   /* first error: everyone stops */
	uint64_t hashed;
	char *errbuf;
	size_t errlen;
};

static void *worker(void *arg)
{
	struct hasher *h = arg;
	struct pfs_sha1_ctx *ctx = pfs_sha1_new();
	uint32_t pl = h->mk->piece_length;

	pthread_mutex_lock(&h->mu);
	if (!ctx && !h->err)
		h->err = -ENOMEM;
	for (;;) {
		while (!h->work && !h->eof && !h->err)
			pthread_cond_wait(&h->work_cv, &h->mu);
		if (h->err || !h->work)
			break;
		struct chunk *c = h->work;
		h->work = c->next;
		if (!h->work)
			h->work_tail = NULL;
		pthread_mutex_unlock(&h->mu);

		int rc = 0;
		for (size_t off = 0; off < c->len && !rc; off += pl) {
			size_t n = c->len - off < pl ? c->len - off : pl;
			uint8_t *dst = h->mk->pieces +
				       (size_t)(c->first + off / pl) *
					       PFS_SHA1_LEN;
			rc = pfs_sha1_update(ctx, c->buf + off, n);
			if (!rc)
				rc = pfs_sha1_final(ctx, dst);
		}

		pthread_mutex_lock(&h->mu);
		if (rc && !h->err)
			h->err = rc;
		h->hashed += c->len;
		c->next = h->free_list;
		h->free_list = c;
		pthread_cond_signal(&h->free_cv);
	}
	/* wake the others (and the reader) on an error */
	pthread_cond_broadcast(&h->work_cv);
	pthread_cond_broadcast(&h->free_cv);
	pthread_mutex_unlock(&h->mu);
	pfs_sha1_free(ctx);
	return NULL;
}

/* Where the reader is in the stream of files. */
struct reader {
	struct bt_mkinfo *mk;
	size_t fi;     /* current file */
	uint64_t foff; /* offset in it */
	int fd;        /* open on files[fi], or -1 */
	char path[PATH_MAX];
};

static int reader_open(struct reader *r, char *err, size_t errlen)
{
	struct bt_mkinfo_file *f = &r->mk->files[r->fi];
	int n = r->mk->single
			? snprintf(r->path, sizeof(r->path), "%s", r->mk->root)
			: snprintf(r->path, sizeof(r->path), "%s/%s",
				   r->mk->root, f->path);
	if (n < 0 || (size_t)n >= sizeof(r->path)) {
		pfs_errf(err, errlen, "'%s': %s", f->path,
			strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	if ((r->fd = open(r->path, O_RDONLY | O_CLOEXEC)) < 0) {
		int e = -errno;
		pfs_errf(err, errlen, "'%s': %s", r->path, strerror(-e));
		return e;
	}
	struct stat st;
	if (fstat(r->fd, &st) < 0 || (uint64_t)st.st_size != f->length) {
		pfs_errf(err, errlen, "'%s': its size changed while creating "
			"the torrent", r->path);
		return -EIO;
	}
	(void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r->foff = 0;
	return 0;
}

/* Fill BUF with the next LEN bytes of the stream. */
static int reader_fill(struct reader *r, uint8_t *buf, size_t len, char *err,
		       size_t errlen)
{
	size_t got = 0;
	while (got < len) {
		if (r->fd < 0) {
			while (r->fi < r->mk->nfiles &&
			       !r->mk->files[r->fi].length)
				r->fi++;
			if (r->fi >= r->mk->nfiles) {
				pfs_errf(err, errlen, "the files are shorter "
					"than their sizes");
				return -EIO;
			}
			int rc = reader_open(r, err, errlen);
			if (rc < 0)
				return rc;
		}
		uint64_t flen = r->mk->files[r->fi].length;
		size_t want = len - got;
		if (flen - r->foff < want)
			want = (size_t)(flen - r->foff);
		/* ask for the next two reads now: the disk works on them
		 * while this one is copied and hashed */
		uint64_t ahead = r->foff + want;
		if (ahead < flen)
			(void)posix_fadvise(r->fd, (off_t)ahead,
					    (off_t)(flen - ahead < 2 * (uint64_t)len
							    ? flen - ahead
							    : 2 * (uint64_t)len),
					    POSIX_FADV_WILLNEED);
		ssize_t n = pread(r->fd, buf + got, want, (off_t)r->foff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			pfs_errf(err, errlen, "'%s': %s", r->path, strerror(-e));
			return e;
		}
		if (n == 0) {
			pfs_errf(err, errlen, "'%s': it shrank while creating "
				"the torrent", r->path);
			return -EIO;
		}
		got += (size_t)n;
		r->foff += (uint64_t)n;
		if (r->foff == flen) {
			close(r->fd);
			r->fd = -1;
			r->fi++;
		}
	}
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int bt_mkinfo_hash(struct bt_mkinfo *mk, unsigned nthreads,
		   bt_mkinfo_progress_fn progress, void *progress_arg,
		   char *err, size_t errlen)
{
	return bt_mkinfo_hash_stream(mk, NULL, NULL, nthreads, progress,
				     progress_arg, err, errlen);
}

int bt_mkinfo_hash_stream(struct bt_mkinfo *mk, bt_mkinfo_read_fn read,
			  void *read_arg, unsigned nthreads,
			  bt_mkinfo_progress_fn progress, void *progress_arg,
			  char *err, size_t errlen)
{
	struct hasher h = {.mk = mk, .errbuf = err, .errlen = errlen};
	struct reader r = {.mk = mk, .fd = -1};
	struct chunk *chunks = NULL;
	pthread_t *tids = NULL;
	unsigned started = 0, nchunks;
	int rc = 0;

	if (!mk->piece_length || !mk->pieces) {
		pfs_errf(err, errlen, "no piece size set");
		return -EINVAL;
	}
	if (!nthreads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 1;
	}
	if (nthreads > BT_MKINFO_MAX_THREADS)
		nthreads = BT_MKINFO_MAX_THREADS;

	size_t pl = mk->piece_length;
	size_t csize = pl >= CHUNK_BYTES ? pl : CHUNK_BYTES / pl * pl;
	if (csize > mk->total_length) /* a small torrent: one short chunk */
		csize = (size_t)mk->total_length;
	nchunks = 2 * nthreads + 2;
	while (nchunks > nthreads + 1 && (uint64_t)nchunks * csize > CHUNK_MEMORY)
		nchunks--;
	if (nchunks > (mk->total_length + csize - 1) / csize)
		nchunks = (unsigned)((mk->total_length + csize - 1) / csize);

	if (!(chunks = calloc(nchunks, sizeof(*chunks))) ||
	    !(tids = calloc(nthreads, sizeof(*tids)))) {
		free(chunks);
		pfs_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nchunks; i++) {
		if (!(chunks[i].buf = malloc(csize))) {
			rc = -ENOMEM;
			pfs_errf(err, errlen, "out of memory");
			goto free_chunks;
		}
		chunks[i].next = h.free_list;
		h.free_list = &chunks[i];
	}
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.work_cv, NULL);
	pthread_cond_init(&h.free_cv, NULL);
	for (; started < nthreads; started++) {
		if ((rc = -pthread_create(&tids[started], NULL, worker, &h)))
			break;
	}
	if (!started) {
		pfs_errf(err, errlen, "cannot start a thread: %s", strerror(-rc));
		goto join;
	}
	rc = 0;

	int64_t last = now_ns();
	uint64_t off = 0;
	while (off < mk->total_length) {
		pthread_mutex_lock(&h.mu);
		while (!h.free_list && !h.err)
			pthread_cond_wait(&h.free_cv, &h.mu);
		struct chunk *c = h.err ? NULL : h.free_list;
		if (c)
			h.free_list = c->next;
		uint64_t done = h.hashed;
		pthread_mutex_unlock(&h.mu);
		if (!c)
			break;

		if (progress && now_ns() - last >= PROGRESS_NS) {
			last = now_ns();
			progress(progress_arg, done, mk->total_length);
		}
		c->len = mk->total_length - off < csize
				 ? (size_t)(mk->total_length - off)
				 : csize;
		c->first = (uint32_t)(off / pl);
		c->next = NULL;
		if (!read) {
			rc = reader_fill(&r, c->buf, c->len, err, errlen);
		} else if ((rc = read(read_arg, off, c->buf, c->len)) < 0) {
			pfs_errf(err, errlen, "reading the data: %s",
				 strerror(-rc));
		}

		pthread_mutex_lock(&h.mu);
		if (rc) {
			if (!h.err)
				h.err = rc;
			c->next = h.free_list;
			h.free_list = c;
		} else {
			if (h.work_tail)
				h.work_tail->next = c;
			else
				h.work = c;
			h.work_tail = c;
			pthread_cond_signal(&h.work_cv);
		}
		pthread_mutex_unlock(&h.mu);
		if (rc)
			break;
		off += c->len;
	}

join:
	pthread_mutex_lock(&h.mu);
	h.eof = true;
	pthread_cond_broadcast(&h.work_cv);
	pthread_mutex_unlock(&h.mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (!rc && h.err) {
		rc = h.err;
		pfs_errf(err, errlen, "hashing failed: %s", strerror(-rc));
	} else if (!rc) {
		if (progress)
			progress(progress_arg, mk->total_length,
				 mk->total_length);
	}
	pthread_cond_destroy(&h.free_cv);
	pthread_cond_destroy(&h.work_cv);
	pthread_mutex_destroy(&h.mu);
free_chunks:
	if (r.fd >= 0)
		close(r.fd);
	for (unsigned i = 0; i < nchunks; i++)
		free(chunks[i].buf);
	free(chunks);
	free(tids);
	return rc;
}
