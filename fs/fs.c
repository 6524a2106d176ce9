/* fs — the FUSE low-level frontend: a read-only view of one torrent; see
 * fs.h.
 *
 * Threads and who touches what:
 *  - FUSE worker threads run the fuse_lowlevel_ops below. Metadata comes
 *    from the immutable fs_tree. A read whose pieces are verified is
 *    answered at once with an fd-backed fuse_bufvec (the kernel splices
 *    from the cache file); otherwise the request is parked as a waiter and
 *    the engine is asked for the pieces. No FUSE thread ever waits.
 *  - The engine thread calls on_piece() when a piece verifies; it moves the
 *    waiters whose whole range is now verified to the reply queue.
 *  - The reply worker answers the reply queue (data, EINTR, ETIMEDOUT or
 *    EIO).
 *  - The mount watcher poll()s /proc/self/mountinfo (the kernel flags every
 *    mount-table change with POLLPRI|POLLERR) and, when our mount is gone
 *    (`fusermount3 -u -z` while a reader holds a file open), fails every
 *    waiter with EIO and ends the session loop. Its poll() also wakes at
 *    the deadline of the oldest waiter (the read timeout: it then fails
 *    with ETIMEDOUT) and, while the torrent is incomplete, once a second to
 *    see whether any source can give us data (fs_nosource_step: a warning
 *    once an outage lasts).
 *  - The control channel's thread (fs_ctl.h) answers `p2pfs ls/status/stop`
 *    with the same texts as the xattrs.
 *
 * Every open handle is in a list under fs->lock, so that the handles the
 * kernel never released (the mount went away with files open) are freed
 * at teardown.
 *
 * With a cache limit (cache_set_limit) pieces can be evicted, so a read
 * pins its pieces (cache_pin_range) before it looks whether they are
 * verified and unpins them only after the reply, which the kernel splices
 * from the cache file; a parked read's pin is its waiter's until the reply
 * worker has answered it. Each open handle also pins its read-ahead window
 * (cursor piece to window end), and the readers' windows together are
 * capped to half the limit so that what they ask for fits.
 *
 * A waiter is in exactly one of two lists, both under fs->lock: `waiting`
 * or the reply queue. Only the reply worker answers queued waiters, and it
 * takes each off the queue before answering, so a request is answered
 * exactly once and never touched afterwards. The interrupt callback gets
 * the fs (not the waiter) and looks the request up by pointer, so a late
 * interrupt for a request already answered finds nothing.
 *
 * A sealed share (fs_opts.decrypt): the tree is the share's view, whose
 * offsets are blob offsets, so all the piece arithmetic is unchanged; the
 * cache holds ciphertext, so a reply is a pread into a buffer decrypted
 * with the blob's keystream at that offset (no splice). A read that reaches
 * the end of a file, and the tail prefetch at open, also fetch the file's
 * padding, so the peers serving it see the slot end, not the size. */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fs_cli.h"
#include "fs_ctl.h"
#include "fs_daemon.h"
#include "fs_syslog.h"
#include "fs_tree.h"
#include "fs_xattr.h"
#include "pfs_log.h"

#define FS_TTL 3600.0          /* the tree never changes */
#define FS_ATTR_TTL 1.0        /* a file's st_blocks follows the cache */
#define FS_CHECK_MS 1000       /* the source check while incomplete */
/* After a read timed out, the kernel tries the same page again at once
 * (its read-ahead failed, now the page itself): a read of those pieces
 * that comes this soon fails at once too, rather than wait again. */
#define FS_RETRY_FAST_MS 2000
#define FS_TIMEOUT_LOG_MS 60000 /* read timeouts: a warning a minute */
/* mtime of every node when the torrent has no creation date: fixed, so
 * that rsync and make see the same times on every mount (2000-01-01) */
#define FS_MTIME_DEFAULT 946684800
/* --no-wait: lookups wait this much past the resolve timeout, so that its
 * own error (not ours) is what they get */
#define FS_RESOLVE_SLACK_MS 3000
#define FS_BLKSIZE (128 * 1024) /* st_blksize: the size of a FUSE read */
#define FS_HEAD_BYTES (1u << 20)
#define FS_TAIL_BYTES (1u << 20)
#define FS_TAIL_DEADLINE_MS 2000
/* Read-ahead piece k pieces past the cursor's is due FS_RA_DEADLINE_MS +
 * k * (piece length / FS_RA_PACE bytes a ms): the windows of several
 * readers interleave by distance, and all of them come after every piece
 * a read waits for (due now). */
#define FS_RA_DEADLINE_MS 1000
#define FS_RA_PACE (64u << 10) /* 64 MiB/s */
#define FS_WAKE_SIGNAL SIGUSR1 /* interrupts the session loop's sem_wait */

#define XATTR_HASH "user.p2pfs.infohash"
#define XATTR_PID "user.p2pfs.pid"
#define XATTR_PROGRESS "user.p2pfs.progress"
#define XATTR_SEED_AFTER "user.p2pfs.seed_after" /* root, with --seed-after */
#define XATTR_STATS "user.p2pfs.stats"
#define XATTR_PEERS "user.p2pfs.peers"
#define XATTR_SOURCES "user.p2pfs.sources"
#define XATTR_READING "user.p2pfs.reading"

struct fs_waiter {
	struct fs_waiter *next, *prev;
	fuse_req_t req;
	uint64_t off;        /* torrent byte range */
	size_t len;
	uint32_t first, last;
	int err;             /* in the reply queue: 0 = data, else -errno */
	struct timespec since;
	uint64_t since_ms;   /* monotonic, for the read timeout */
};

/* One open file. */
struct fs_handle {
	struct fs_handle *next, *prev; /* fs->handles, under fs->lock */
	const struct fs_node *node;
	uint64_t cursor;      /* ra.cursor, for user.p2pfs.reading (atomic) */
	pthread_mutex_t lock; /* guards ra (reads of one file run in parallel)
			       * and orders this handle's prefetch posts */
	struct fs_ra ra;
	/* with a cache limit: the pieces pinned for this reader's window */
	uint32_t pin_first, pin_last;
	bool pinned;
	/* head and tail pieces prefetched at open, given back at release */
	uint32_t head_first, head_last, tail_first, tail_last;
	bool head, tail;
};

struct fs {
	const struct bt_metainfo *mi;
	struct cache *cache;
	struct bt_session *session;
	struct fs_tree *tree;
	char *mountpoint;
	char *fuse_opts;
	bool foreground, debug;
	bool seed_after;
	uid_t uid;
	gid_t gid;
	mode_t umask;
	uint64_t read_timeout_ms; /* 0 = reads wait forever */
	char *torrent_path;
	struct fs_syslog *syslog;
	bool want_ctl;
	struct fs_ctl *ctl;
	void (*mounted_cb)(void);
	struct timespec mtime;
	struct fuse_session *se;
	struct fuse_conn_info_opts *conn_opts; /* -o async_dio, max_readahead... */
	uint64_t ra_share;     /* cache limit: all readers' read-ahead, 0 = none */
	/* a sealed share: the keystream, and the table entry of each of the
	 * view's files (NULL for pads); immutable */
	const struct pfs_ctr *decrypt;
	const struct bt_seal_file **seal_files;

	pthread_mutex_t lock;  /* guards everything below */
	pthread_cond_t cond;   /* the reply worker's */
	struct fs_waiter waiting; /* circular list sentinel */
	size_t nwaiting;
	struct fs_waiter *rq_head, *rq_tail; /* reply queue */
	uint32_t nreaders;     /* handles with a pinned window */
	bool closing;          /* new misses fail with EIO */
	bool worker_stop;
	bool in_loop;          /* main thread is in fuse_session_loop_mt */
	bool gone;             /* the watcher saw our mount leave */
	bool watch_stop;       /* the watcher is to end */
	struct fs_handle handles; /* circular list sentinel */
	uint64_t read_timeouts;
	uint64_t timed_out_at; /* ms of the last read timeout */
	uint64_t timeout_logged_at; /* ms of the last warning about them */
	uint32_t timed_out_first, timed_out_last; /* its pieces */
	uint64_t no_source_ms; /* when the current outage began, 0 = none */
	pthread_t main_thread;

	pthread_t worker, watcher;
	bool worker_started, watcher_started;
	/* --no-wait: the torrent comes later (fs_opts.resolve); pending and
	 * resolve_err under lock, ready_cond signalled when it came */
	bool pending;
	int resolve_err;
	bool resolve_cancel; /* atomic */
	uint64_t resolve_deadline; /* ms, monotonic */
	pthread_cond_t ready_cond;
	int (*resolve)(void *, const bool *, const struct bt_metainfo **,
		       struct cache **, struct bt_session **);
	void *resolve_arg;
	unsigned resolve_timeout;
	char *resolve_name; /* the source findmnt shows meanwhile */
	pthread_t resolver;
	bool resolver_started;
	int watch_wake;        /* eventfd: the watcher re-reads its state */
	int mountinfo_fd;
	char dev[64];          /* "major:minor" of our mount */
};

static uint64_t mono_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

/* --no-wait: wait (interruptibly, until the resolve deadline) for the
 * torrent. True when it is there; else REQ got its answer (EINTR,
 * ETIMEDOUT, or EIO when it could not be had). */
static bool ready_or_reply(struct fs *fs, fuse_req_t req)
{
	int err = 0;
	pthread_mutex_lock(&fs->lock);
	while (fs->pending && !fs->closing) {
		if (fuse_req_interrupted(req)) {
			err = EINTR;
			break;
		}
		if (fs->gone || (fs->se && fuse_session_exited(fs->se))) {
			err = EIO; /* unmounted: let the loop end */
			break;
		}
		uint64_t now = mono_ms();
		if (now >= fs->resolve_deadline) {
			err = ETIMEDOUT;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&fs->ready_cond, &fs->lock, &ts);
	}
	if (!err && (fs->pending || fs->resolve_err))
		err = fs->resolve_err ? fs->resolve_err : EIO;
	pthread_mutex_unlock(&fs->lock);
	if (err)
		fuse_reply_err(req, err);
	return err == 0;
}

/* Without waiting: the torrent is there. */
static bool is_ready(struct fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	bool r = !fs->pending && !fs->resolve_err;
	pthread_mutex_unlock(&fs->lock);
	return r;
}

static double ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

/* ---- attributes ---- */

/* Bytes of file N that are verified in the cache. */
static uint64_t file_cached(struct fs *fs, const struct fs_node *n)
{
	if (!n->size)
		return 0;
	uint64_t pl = fs->mi->piece_length, have = 0;
	uint64_t a = n->offset, b = n->offset + n->size;
	uint32_t first, last;
	fs_range_pieces(fs->mi->piece_length, a, n->size, &first, &last);
	for (uint32_t p = first; p <= last; p++) {
		if (!cache_has(fs->cache, p))
			continue;
		uint64_t ps = (uint64_t)p * pl, pe = ps + pl;
		have += (pe < b ? pe : b) - (ps > a ? ps : a);
	}
	return have;
}

/* The modes are 0666/0777 minus the umask: the FS is read-only anyway (the
 * mount is "ro", writes fail with EROFS), but a copy made with cp -r keeps
 * the modes, and it should be the user's to change and remove. st_blocks
 * counts the bytes that are here, so du shows what is cached (folders
 * count nothing). */
static void fill_attr(struct fs *fs, const struct fs_node *n, uint64_t ino,
		      struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (n->dir) {
		st->st_mode = S_IFDIR | (0777 & ~fs->umask);
		st->st_nlink = 2 + n->nsubdirs;
		st->st_size = 4096;
		st->st_blocks = 0;
	} else {
		st->st_mode = S_IFREG | (0666 & ~fs->umask);
		st->st_nlink = 1;
		st->st_size = (off_t)n->size;
		st->st_blocks = (blkcnt_t)((file_cached(fs, n) + 511) / 512);
	}
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = FS_BLKSIZE;
	st->st_atim = st->st_mtim = st->st_ctim = fs->mtime;
	if (fs->seal_files && !n->dir && fs->seal_files[n->file_index]) {
		/* a sealed share keeps each file's time and x bit */
		const struct bt_seal_file *f = fs->seal_files[n->file_index];
		st->st_mtim.tv_sec = (time_t)f->mtime;
		st->st_mtim.tv_nsec = (long)f->mtime_nsec;
		if (f->mode & BT_SEAL_MODE_EXEC)
			st->st_mode |= 0111 & ~fs->umask;
	}
}

static void fill_entry(struct fs *fs, const struct fs_node *n,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = fs_tree_ino(fs->tree, n);
	e->generation = 1;
	e->attr_timeout = n->dir ? FS_TTL : FS_ATTR_TTL;
	e->entry_timeout = FS_TTL;
	fill_attr(fs, n, e->ino, &e->attr);
}

/* ---- replies ---- */

/* Answer REQ with LEN verified bytes at torrent offset OFF, spliced by the
 * kernel from the cache file. */
static void reply_data(struct fs *fs, fuse_req_t req, uint64_t off, size_t len)
{
	if (fs->decrypt) {
		/* sealed: the cache holds ciphertext */
		uint8_t *buf = malloc(len ? len : 1);
		int e = buf ? 0 : -ENOMEM;
		for (size_t got = 0; !e && got < len;) {
			ssize_t r = pread(cache_fd(fs->cache), buf + got,
					  len - got, (off_t)(off + got));
			if (r < 0 && errno == EINTR)
				continue;
			e = r < 0 ? -errno : r == 0 ? -EIO : 0;
			got += r > 0 ? (size_t)r : 0;
		}
		if (!e)
			e = pfs_ctr_xor(fs->decrypt, off, buf, buf, len);
		int rc = e ? fuse_reply_err(req, -e)
			   : fuse_reply_buf(req, (char *)buf, len);
		if (e)
			pfs_log(PFS_LOG_ERROR, "fs", "reading %zu bytes at %" PRIu64
				" of the sealed cache: %s", len, off, strerror(-e));
		else if (rc < 0 && rc != -ENOENT)
			pfs_log(PFS_LOG_DEBUG, "fs", "replying to a read failed: %s",
				strerror(-rc));
		free(buf);
		return;
	}
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = cache_fd(fs->cache);
	bv.buf[0].pos = (off_t)off;
	int rc = fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
	if (rc < 0 && rc != -ENOENT) /* ENOENT: the reader went away */
		pfs_log(PFS_LOG_DEBUG, "fs", "replying to a read failed: %s",
			strerror(-rc));
}

/* Locked: wake the watcher to look at its deadlines again. */
static void watch_poke(struct fs *fs)
{
	uint64_t one = 1;
	if (fs->watch_wake >= 0 && write(fs->watch_wake, &one, sizeof(one)) < 0)
		pfs_log(PFS_LOG_DEBUG, "fs", "waking the watcher: %s",
			strerror(errno));
}

/* Locked: W joins the tail of `waiting` (so the list is oldest first). */
static void waiting_add(struct fs *fs, struct fs_waiter *w)
{
	w->next = &fs->waiting;
	w->prev = fs->waiting.prev;
	fs->waiting.prev->next = w;
	fs->waiting.prev = w;
	if (!fs->nwaiting++ && fs->read_timeout_ms)
		watch_poke(fs); /* its first deadline */
}

/* Locked: take W off `waiting` and queue its answer ERR for the worker. */
static void queue_reply(struct fs *fs, struct fs_waiter *w, int err)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	fs->nwaiting--;
	w->err = err;
	w->next = w->prev = NULL;
	if (fs->rq_tail)
		fs->rq_tail->next = w;
	else
		fs->rq_head = w;
	fs->rq_tail = w;
}

/* Locked: fail every waiter with ERR. */
static void fail_all(struct fs *fs, int err)
{
	if (!fs->nwaiting)
		return;
	pfs_log(PFS_LOG_INFO, "fs", "failing %zu waiting reads: %s",
		fs->nwaiting, strerror(-err));
	while (fs->waiting.next != &fs->waiting)
		queue_reply(fs, fs->waiting.next, err);
	pthread_cond_signal(&fs->cond);
}

/* Engine thread: PIECE verified (or a cache write failed). */
static void on_piece(void *arg, uint32_t piece)
{
	struct fs *fs = arg;
	bool moved = false;
	pthread_mutex_lock(&fs->lock);
	if (piece == BT_PIECE_ERROR) {
		pfs_log(PFS_LOG_ERROR, "fs", "the cache cannot be written: "
			"failing waiting reads");
		fail_all(fs, -EIO);
	} else {
		struct fs_waiter *w = fs->waiting.next;
		while (w != &fs->waiting) {
			struct fs_waiter *next = w->next;
			if (w->first <= piece && piece <= w->last &&
			    cache_has_range(fs->cache, w->off, w->len)) {
				queue_reply(fs, w, 0);
				moved = true;
			}
			w = next;
		}
	}
	if (moved)
		pthread_cond_signal(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

/* Called by libfuse, with the request's own lock held, when the reader is
 * interrupted; maybe synchronously from fuse_req_interrupt_func(), maybe
 * after the request was answered (then it is not found here). */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct fs *fs = data;
	pthread_mutex_lock(&fs->lock);
	for (struct fs_waiter *w = fs->waiting.next; w != &fs->waiting;
	     w = w->next) {
		if (w->req == req) {
			queue_reply(fs, w, -EINTR);
			pthread_cond_signal(&fs->cond);
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

static void *reply_worker(void *arg)
{
	struct fs *fs = arg;
	pthread_mutex_lock(&fs->lock);
	for (;;) {
		while (!fs->rq_head && !fs->worker_stop)
			pthread_cond_wait(&fs->cond, &fs->lock);
		struct fs_waiter *w = fs->rq_head;
		if (!w)
			break;
		fs->rq_head = w->next;
		if (!fs->rq_head)
			fs->rq_tail = NULL;
		pthread_mutex_unlock(&fs->lock);

		if (w->err) {
			pfs_log(PFS_LOG_DEBUG, "fs", "read of %zu bytes at %" PRIu64
				" ends with '%s' after %.0f ms", w->len, w->off,
				strerror(-w->err), ms_since(&w->since));
			fuse_reply_err(w->req, -w->err);
		} else {
			pfs_log(PFS_LOG_DEBUG, "fs", "read of %zu bytes at %" PRIu64
				" answered after %.0f ms", w->len, w->off,
				ms_since(&w->since));
			reply_data(fs, w->req, w->off, w->len);
		}
		cache_unpin_range(fs->cache, w->off, w->len); /* park's pin */
		free(w);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* ---- the mount watcher ---- */

static void wake_handler(int sig)
{
	(void)sig; /* only there to interrupt sem_wait() */
}

/* Our mount left the table: unblock the readers and end the loop. */
static void mount_gone(struct fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	pfs_log(PFS_LOG_INFO, "fs", "'%s' was unmounted", fs->mountpoint);
	fs->gone = true;
	fs->closing = true;
	fail_all(fs, -EIO);
	pthread_cond_broadcast(&fs->ready_cond); /* --no-wait's waiters */
	if (fs->in_loop) {
		fuse_session_exit(fs->se);
		pthread_kill(fs->main_thread, FS_WAKE_SIGNAL);
	}
	pthread_mutex_unlock(&fs->lock);
}

/* Locked: fail the reads that have waited the read timeout; returns the
 * deadline of the oldest one left (UINT64_MAX for none). */
static uint64_t expire_reads(struct fs *fs, uint64_t now)
{
	size_t n = 0;
	uint64_t next = UINT64_MAX;
	if (!fs->read_timeout_ms)
		return next;
	while (fs->waiting.next != &fs->waiting) {
		struct fs_waiter *w = fs->waiting.next;
		/* NOW was read before the lock was taken: a read parked since
		 * then is younger than NOW (and NOW - since_ms would wrap) */
		if (w->since_ms >= now ||
		    now - w->since_ms < fs->read_timeout_ms) {
			next = w->since_ms + fs->read_timeout_ms;
			break;
		}
		fs->timed_out_at = now;
		fs->timed_out_first = w->first;
		fs->timed_out_last = w->last;
		queue_reply(fs, w, -ETIMEDOUT);
		n++;
	}
	if (n) {
		fs->read_timeouts += n;
		pthread_cond_signal(&fs->cond);
		/* a player retrying must not flood the log: a warning a minute,
		 * the count is in user.p2pfs.stats */
		bool loud = !fs->timeout_logged_at ||
			    now - fs->timeout_logged_at >= FS_TIMEOUT_LOG_MS;
		if (loud)
			fs->timeout_logged_at = now;
		pfs_log(loud ? PFS_LOG_WARN : PFS_LOG_DEBUG, "fs",
			"%zu read%s of '%s' got no data in "
			"%" PRIu64 " s: failed with ETIMEDOUT (-o timeout=SECS "
			"waits longer, 0 forever)", n, n == 1 ? "" : "s",
			fs->mi->name, fs->read_timeout_ms / 1000);
	}
	return next;
}

/* One line about every source, for the "no usable source" warning. */
static void sources_summary(struct fs *fs, char *out, size_t len)
{
	struct bt_source_info src[8];
	size_t n = bt_session_sources(fs->session, src, 8), pos = 0;
	struct bt_stats bs;
	bt_session_stats(fs->session, &bs);
	pos += (size_t)snprintf(out, len, "%u peer%s connected", bs.npeers,
				bs.npeers == 1 ? "" : "s");
	if (!n && pos < len)
		pos += (size_t)snprintf(out + pos, len - pos, "; no tracker "
					"and no --peer to ask");
	for (size_t i = 0; i < n && i < 8 && pos < len; i++) {
		bool tracker = src[i].kind == BT_SOURCE_TRACKER;
		bool dht = src[i].kind == BT_SOURCE_DHT;
		pos += (size_t)snprintf(out + pos, len - pos, "; %s '%s': %s%s%s",
					tracker ? "tracker" : dht ? "source" : "peer",
					src[i].name,
					fs_xattr_source_state(&src[i]),
					src[i].error[0] ? ", " : "",
					src[i].error);
	}
	if (n > 8 && pos < len)
		snprintf(out + pos, len - pos, "; and %zu more", n - 8);
}

/* Any connected peer that has a piece we lack? */
static bool usable_source(struct fs *fs)
{
	struct bt_peer_info one;
	size_t n = bt_session_peers(fs->session, &one, 1);
	if (!n)
		return false;
	struct bt_peer_info *p = calloc(n, sizeof(*p));
	if (!p)
		return true; /* cannot tell: do not cry wolf */
	n = bt_session_peers(fs->session, p, n);
	bool any = false;
	for (size_t i = 0; i < n && !any; i++)
		any = p[i].am_interested;
	free(p);
	return any;
}

/* The source check: returns when to look again (UINT64_MAX: not while the
 * torrent is complete). */
static uint64_t check_sources(struct fs *fs, struct fs_nosource *ns,
			      uint64_t now)
{
	bool complete = cache_count(fs->cache) == fs->mi->npieces;
	bool usable = !complete && usable_source(fs);
	enum fs_nosource_event ev =
		fs_nosource_step(ns, now, usable, complete,
				 fs_nosource_after(fs->read_timeout_ms));
	pthread_mutex_lock(&fs->lock);
	fs->no_source_ms = ns->since;
	pthread_mutex_unlock(&fs->lock);
	if (ev == FS_NOSOURCE_WARN) {
		char why[1024];
		sources_summary(fs, why, sizeof(why));
		pfs_log(PFS_LOG_WARN, "fs", "no source for the data of '%s' for "
			"%" PRIu64 " s: %s", fs->mi->name,
			(now - ns->since) / 1000, why);
	} else if (ev == FS_NOSOURCE_BACK) {
		pfs_log(PFS_LOG_INFO, "fs", "'%s' has a source of data again",
			fs->mi->name);
	}
	return complete ? UINT64_MAX : now + FS_CHECK_MS;
}

static void *mount_watcher(void *arg)
{
	struct fs *fs = arg;
	struct pollfd p[2] = {
		{.fd = fs->mountinfo_fd, .events = POLLPRI},
		{.fd = fs->watch_wake, .events = POLLIN},
	};
	struct fs_nosource ns = {0};
	uint64_t check_at = 0; /* now */
	for (;;) {
		uint64_t now = mono_ms();
		if (now >= check_at)
			check_at = fs->resolve && !is_ready(fs)
					   ? now + 1000 /* no torrent yet */
					   : check_sources(fs, &ns, now);
		pthread_mutex_lock(&fs->lock);
		bool stop = fs->watch_stop;
		uint64_t next = stop ? 0 : expire_reads(fs, now);
		pthread_mutex_unlock(&fs->lock);
		if (stop)
			break;
		if (check_at < next)
			next = check_at;
		int timeout = next == UINT64_MAX ? -1
			      : next <= now ? 0
			      : next - now > INT32_MAX ? INT32_MAX
						       : (int)(next - now);
		if (poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			pfs_log(PFS_LOG_ERROR, "fs", "watching the mount table: %s",
				strerror(errno));
			break;
		}
		if (p[1].revents) {
			uint64_t v;
			if (read(fs->watch_wake, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				break;
			continue; /* new deadlines, or stop: look again */
		}
		if (p[0].revents & POLLNVAL)
			break;
		if (!(p[0].revents & (POLLPRI | POLLERR)))
			continue;
		char *buf = fs_mountinfo_read(fs->mountinfo_fd);
		if (!buf) {
			pfs_log(PFS_LOG_WARN, "fs", "reading the mount table: %s",
				strerror(errno));
			continue;
		}
		bool here = fs_mountinfo_has_dev(buf, fs->dev);
		free(buf);
		if (!here) {
			mount_gone(fs);
			break;
		}
	}
	return NULL;
}

/* After the mount: learn our device number and open the mount table. */
static int watch_setup(struct fs *fs)
{
	char type[64];
	fs->mountinfo_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fs->mountinfo_fd < 0)
		return -errno;
	char *buf = fs_mountinfo_read(fs->mountinfo_fd);
	if (!buf)
		return -errno;
	int rc = fs_mountinfo_find(buf, fs->mountpoint, fs->dev,
				   sizeof(fs->dev), type, sizeof(type));
	free(buf);
	if (rc < 0)
		return rc;
	fs->watch_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fs->watch_wake < 0)
		return -errno;
	pfs_log(PFS_LOG_DEBUG, "fs", "mounted as device %s (%s)", fs->dev, type);
	return 0;
}

/* ---- operations ---- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	/* the user's -o tuning options have the last word */
	if (fs->conn_opts)
		fuse_apply_conn_info_opts(fs->conn_opts, conn);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	if (fs->resolve && !ready_or_reply(fs, req))
		return;
	const struct fs_node *d = fs_tree_get(fs->tree, parent);
	if (!d) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!d->dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	const struct fs_node *n;
	if (!strcmp(name, "."))
		n = d;
	else if (!strcmp(name, ".."))
		n = fs_tree_get(fs->tree, d->parent);
	else
		n = fs_tree_lookup(fs->tree, parent, name);
	struct fuse_entry_param e;
	if (!n) {
		/* a negative entry: the kernel remembers the name is absent */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = FS_TTL;
		fuse_reply_entry(req, &e);
		return;
	}
	fill_entry(fs, n, &e);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)fi;
	struct fs *fs = fuse_req_userdata(req);
	if (fs->resolve && ino == FUSE_ROOT_ID && !is_ready(fs)) {
		/* the root before the torrent: an empty folder, not cached */
		struct stat st;
		memset(&st, 0, sizeof(st));
		st.st_ino = FUSE_ROOT_ID;
		st.st_mode = S_IFDIR | (0777 & ~fs->umask);
		st.st_nlink = 2;
		st.st_uid = fs->uid;
		st.st_gid = fs->gid;
		st.st_mtim = st.st_ctim = st.st_atim = fs->mtime;
		fuse_reply_attr(req, &st, 0);
		return;
	}
	if (fs->resolve && !ready_or_reply(fs, req))
		return;
	const struct fs_node *n = fs_tree_get(fs->tree, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct stat st;
	fill_attr(fs, n, ino, &st);
	fuse_reply_attr(req, &st, n->dir ? FS_TTL : FS_ATTR_TTL);
}

static void read_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	if (fs->resolve && !ready_or_reply(fs, req))
		return;
	const struct fs_node *d = fs_tree_get(fs->tree, ino);
	if (!d) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!d->dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t pos = 0;
	/* offsets: 0 ".", 1 "..", 2.. the children; an entry's `off` is the
	 * offset of the next one */
	for (uint64_t i = off < 0 ? 0 : (uint64_t)off; i < 2 + (uint64_t)d->nchildren;
	     i++) {
		const struct fs_node *n;
		const char *name;
		if (i == 0) {
			n = d;
			name = ".";
		} else if (i == 1) {
			n = fs_tree_get(fs->tree, d->parent);
			name = "..";
		} else {
			n = fs_tree_get(fs->tree, d->first + i - 2);
			name = n->name;
		}
		size_t ent;
		if (plus) {
			struct fuse_entry_param e;
			fill_entry(fs, n, &e);
			ent = fuse_add_direntry_plus(req, buf + pos, size - pos,
						     name, &e, (off_t)(i + 1));
		} else {
			struct stat st;
			fill_attr(fs, n, fs_tree_ino(fs->tree, n), &st);
			ent = fuse_add_direntry(req, buf + pos, size - pos, name,
						&st, (off_t)(i + 1));
		}
		if (ent > size - pos)
			break;
		pos += ent;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	read_dir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	read_dir(req, ino, size, off, true);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	if (fs->resolve && ino == FUSE_ROOT_ID && !is_ready(fs)) {
		fuse_reply_open(req, fi); /* its listing waits */
		return;
	}
	if (fs->resolve && !ready_or_reply(fs, req))
		return;
	const struct fs_node *n = fs_tree_get(fs->tree, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!n->dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* One reader's read-ahead with a cache limit: the readers share half of
 * the limit (whole pieces, at least one each). EXTRA counts a reader not
 * yet counted in nreaders. */
static uint64_t reader_budget(struct fs *fs, uint32_t extra)
{
	uint64_t pl = fs->mi->piece_length;
	pthread_mutex_lock(&fs->lock);
	uint64_t n = (uint64_t)fs->nreaders + extra;
	pthread_mutex_unlock(&fs->lock);
	uint64_t b = fs->ra_share / (n ? n : 1) / pl * pl;
	return b > pl ? b : pl;
}

/* Keep the pieces of H's read-ahead window (cursor piece to window end,
 * at most BUDGET bytes) pinned against eviction; with h->lock held. */
static void pin_window(struct fs *fs, struct fs_handle *h, uint64_t budget)
{
	uint32_t a, b;
	if (!fs_ra_pin_window(&h->ra, fs->mi->piece_length, h->node->offset,
			      h->node->size, budget, &a, &b))
		return;
	if (h->pinned && a == h->pin_first && b == h->pin_last)
		return;
	cache_pin(fs->cache, a, b); /* the new one first: no gap */
	if (h->pinned) {
		cache_unpin(fs->cache, h->pin_first, h->pin_last);
	} else {
		pthread_mutex_lock(&fs->lock);
		fs->nreaders++;
		pthread_mutex_unlock(&fs->lock);
	}
	h->pin_first = a;
	h->pin_last = b;
	h->pinned = true;
}

/* Prefetch LEN bytes at torrent offset OFF (unless verified) for a handle:
 * sets *FIRST..*LAST to the pieces it holds and returns true. */
static bool prefetch_range(struct fs *fs, uint64_t off, uint64_t len,
			   uint32_t deadline_ms, uint32_t *first,
			   uint32_t *last)
{
	if (!len || cache_has_range(fs->cache, off, len))
		return false;
	fs_range_pieces(fs->mi->piece_length, off, len, first, last);
	/* not posted: no claim to give back later */
	return bt_session_prefetch(fs->session, *first, *last, deadline_ms,
				   0) == 0;
}

/* True when pieces FIRST..LAST are all verified: a re-read of a cached
 * file then posts nothing to the engine (giving such pieces back later is
 * a no-op there). */
static bool pieces_verified(struct fs *fs, uint32_t first, uint32_t last)
{
	uint64_t pl = fs->mi->piece_length, off = (uint64_t)first * pl;
	uint64_t end = ((uint64_t)last + 1) * pl;
	if (end > fs->mi->total_length)
		end = fs->mi->total_length;
	return off < end && cache_has_range(fs->cache, off, end - off);
}

static uint32_t ra_step_ms(const struct fs *fs)
{
	uint32_t ms = fs->mi->piece_length / FS_RA_PACE;
	return ms ? ms : 1;
}

/* A sealed share's padding after file N (what its slot adds); 0 for a
 * plain torrent. */
static uint64_t slot_pad(const struct fs *fs, const struct fs_node *n)
{
	size_t next = n->file_index + 1;
	if (!fs->decrypt || next >= fs->mi->nfiles || !fs->mi->files[next].pad)
		return 0;
	return fs->mi->files[next].length;
}

static void handle_link(struct fs *fs, struct fs_handle *h)
{
	pthread_mutex_lock(&fs->lock);
	h->next = &fs->handles;
	h->prev = fs->handles.prev;
	fs->handles.prev->next = h;
	fs->handles.prev = h;
	pthread_mutex_unlock(&fs->lock);
}

/* Give back what H holds (the engine's claims, the cache's pins), take it
 * off the list, free it: at release, or at teardown for the handles the
 * kernel never released. */
static void handle_free(struct fs *fs, struct fs_handle *h)
{
	/* what only this handle wanted is no longer needed */
	uint32_t first, last;
	pthread_mutex_lock(&h->lock);
	if (fs_ra_release(&h->ra, &first, &last))
		bt_session_unprefetch(fs->session, first, last);
	pthread_mutex_unlock(&h->lock);
	if (h->head)
		bt_session_unprefetch(fs->session, h->head_first, h->head_last);
	if (h->tail)
		bt_session_unprefetch(fs->session, h->tail_first, h->tail_last);
	if (h->pinned)
		cache_unpin(fs->cache, h->pin_first, h->pin_last);
	pthread_mutex_lock(&fs->lock);
	if (h->pinned)
		fs->nreaders--;
	if (h->next) {
		h->prev->next = h->next;
		h->next->prev = h->prev;
	}
	pthread_mutex_unlock(&fs->lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	const struct fs_node *n = fs_tree_get(fs->tree, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (n->dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct fs_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->node = n;
	pthread_mutex_init(&h->lock, NULL);
	fs_ra_init(&h->ra, fs->mi->piece_length);
	if (fs->ra_share)
		fs_ra_limit(&h->ra, fs->mi->piece_length, reader_budget(fs, 1));
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1; /* verified bytes never change */
	fi->noflush = 1;

	/* Container indexes live at the head and the tail (MP4 moov, MKV
	 * cues): fetch both before the player asks. */
	uint64_t pl = fs->mi->piece_length;
	uint64_t head = pl > FS_HEAD_BYTES ? pl : FS_HEAD_BYTES;
	uint64_t tail = pl > FS_TAIL_BYTES ? pl : FS_TAIL_BYTES;
	if (head > n->size)
		head = n->size;
	if (tail > n->size - head)
		tail = n->size - head;
	/* sealed: the tail runs to the end of the file's slot */
	uint64_t pad = slot_pad(fs, n);
	/* held before the reply, so a release racing with it finds them */
	h->head = prefetch_range(fs, n->offset, head + (tail ? 0 : pad), 0,
				 &h->head_first, &h->head_last);
	h->tail = prefetch_range(fs, n->offset + n->size - tail,
				 tail ? tail + pad : 0, FS_TAIL_DEADLINE_MS,
				 &h->tail_first, &h->tail_last);
	handle_link(fs, h);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* the open was interrupted: no release will come */
		handle_free(fs, h);
		return;
	}
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	if (h)
		handle_free(fs, h);
	fuse_reply_err(req, 0);
}

/* Park REQ until [OFF, OFF+LEN) is verified. The caller asked the engine
 * for those pieces and pinned the range; the pin is the waiter's until it
 * is answered. */
static void park(struct fs *fs, fuse_req_t req, uint64_t off, size_t len)
{
	struct fs_waiter *w = calloc(1, sizeof(*w));
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		cache_unpin_range(fs->cache, off, len);
		return;
	}
	w->req = req;
	w->off = off;
	w->len = len;
	fs_range_pieces(fs->mi->piece_length, off, len, &w->first, &w->last);
	clock_gettime(CLOCK_MONOTONIC, &w->since);
	w->since_ms = mono_ms();
	uint32_t first = w->first, last = w->last;

	/* Registered before the waiter is visible, and outside fs->lock: it
	 * may call on_interrupt() right here, which then finds nothing; the
	 * fuse_req_interrupted() check below catches that case. */
	fuse_req_interrupt_func(req, on_interrupt, fs);
	int err = 0;
	bool hit = false;
	pthread_mutex_lock(&fs->lock);
	if (fs->closing)
		err = EIO;
	else if (fuse_req_interrupted(req))
		err = EINTR;
	else if (cache_has_range(fs->cache, off, len))
		hit = true; /* verified since the first look */
	else if (fs->timed_out_at && w->since_ms - fs->timed_out_at <
					     FS_RETRY_FAST_MS &&
		 w->first <= fs->timed_out_last &&
		 fs->timed_out_first <= w->last)
		err = ETIMEDOUT; /* the kernel's retry of a read that timed out */
	else
		waiting_add(fs, w);
	pthread_mutex_unlock(&fs->lock);
	if (err || hit) {
		free(w);
		if (err)
			fuse_reply_err(req, err);
		else
			reply_data(fs, req, off, len);
		cache_unpin_range(fs->cache, off, len);
		return;
	}
	pfs_log(PFS_LOG_DEBUG, "fs", "read of %zu bytes at %" PRIu64
		" waits for pieces %u..%u", len, off, first, last);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	const struct fs_node *n = h->node;
	uint64_t len = off < 0 ? 0 : fs_read_clip(n->size, (uint64_t)off, size);
	if (!len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	uint64_t toff = n->offset + (uint64_t)off;

	/* The handle may be released as soon as the read is answered: use it
	 * before answering. Posted under the handle's lock, so the engine
	 * sees this handle's drops and prefetches in order. */
	struct fs_ra_step st;
	uint64_t budget = fs->ra_share ? reader_budget(fs, 0) : 0;
	/* pinned from before the look until after the reply (the kernel
	 * splices from the cache file), or by the waiter park() makes */
	cache_pin_range(fs->cache, toff, len);
	bool hit = cache_has_range(fs->cache, toff, len);
	pthread_mutex_lock(&h->lock);
	if (budget) /* shares change as readers come and go */
		fs_ra_limit(&h->ra, fs->mi->piece_length,
			    h->pinned ? budget : reader_budget(fs, 1));
	fs_ra_update(&h->ra, fs->mi->piece_length, n->offset, n->size,
		     (uint64_t)off, len, &st);
	__atomic_store_n(&h->cursor, h->ra.cursor, __ATOMIC_RELAXED);
	if (budget)
		pin_window(fs, h, h->ra.max);
	if (st.drop) /* a seek: the old window is not needed any more */
		bt_session_unprefetch(fs->session, st.drop_first,
				      st.drop_last);
	int want_err = 0;
	if (!hit) { /* what the read waits for goes before its read-ahead */
		uint32_t first, last;
		fs_range_pieces(fs->mi->piece_length, toff, len, &first, &last);
		want_err = bt_session_want(fs->session, first, last, 0);
	}
	uint64_t pad = (uint64_t)off + len == n->size ? slot_pad(fs, n) : 0;
	if (pad && !cache_has_range(fs->cache, toff + len, pad)) {
		uint32_t first, last;
		fs_range_pieces(fs->mi->piece_length, toff + len, pad, &first,
				&last);
		bt_session_want(fs->session, first, last, FS_TAIL_DEADLINE_MS);
	}
	if (st.fetch && !pieces_verified(fs, st.first, st.last)) {
		uint32_t step = ra_step_ms(fs);
		if (bt_session_prefetch(fs->session, st.first, st.last,
					FS_RA_DEADLINE_MS + st.dist * step,
					step) < 0)
			pfs_log(PFS_LOG_DEBUG, "fs", "read-ahead of pieces "
				"%u..%u not posted", st.first, st.last);
	}
	pthread_mutex_unlock(&h->lock);

	if (!hit && want_err < 0 && cache_has_range(fs->cache, toff, len))
		hit = true; /* verified meanwhile after all */
	if (hit) {
		reply_data(fs, req, toff, (size_t)len);
		cache_unpin_range(fs->cache, toff, len);
	} else if (want_err < 0) {
		/* the engine never heard of it: waiting would be forever */
		pfs_log(PFS_LOG_ERROR, "fs", "read of %" PRIu64 " bytes at %"
			PRIu64 " failed: the engine was not told (%s)", len,
			toff, strerror(-want_err));
		fuse_reply_err(req, want_err == -ENOMEM ? ENOMEM : EIO);
		cache_unpin_range(fs->cache, toff, len);
	} else {
		park(fs, req, toff, (size_t)len);
	}
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct fs *fs = fuse_req_userdata(req);
	struct statvfs st;
	memset(&st, 0, sizeof(st));
	if (fs->resolve && !is_ready(fs)) { /* nothing known yet */
		st.f_bsize = FS_BLKSIZE;
		st.f_frsize = 4096;
		st.f_namemax = 255;
		st.f_flag = ST_RDONLY;
		fuse_reply_statfs(req, &st);
		return;
	}
	/* size: the torrent; used: what is verified in the cache; free and
	 * available: the rest, what reads may still fetch */
	uint64_t blocks = (fs->mi->total_length + 4095) / 4096;
	uint64_t used = (cache_bytes_verified(fs->cache) + 4095) / 4096;
	if (used > blocks)
		used = blocks;
	st.f_bsize = FS_BLKSIZE;
	st.f_frsize = 4096;
	st.f_blocks = (fsblkcnt_t)blocks;
	st.f_bfree = st.f_bavail = (fsblkcnt_t)(blocks - used);
	st.f_files = (fsfilcnt_t)fs_tree_count(fs->tree);
	st.f_namemax = 255;
	st.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &st);
}

/* "37.5": verified bytes of file N over its size. */
static void file_progress(struct fs *fs, const struct fs_node *n, char *out,
			  size_t len)
{
	if (!n->size) {
		snprintf(out, len, "100.0");
		return;
	}
	uint64_t have = file_cached(fs, n);
	double pct = (double)have * 100.0 / (double)n->size;
	if (have < n->size && pct > 99.9)
		pct = 99.9;
	snprintf(out, len, "%.1f", pct);
}

/* user.p2pfs.stats: the engine's and the cache's figures. */
static int stats_value(struct fs *fs, char *out, size_t len)
{
	struct fs_xattr_stats st;
	fs_ctl_session_stats(fs->session, fs->cache, &st);
	uint64_t now = mono_ms();
	pthread_mutex_lock(&fs->lock);
	st.reads_waiting = (uint32_t)fs->nwaiting;
	st.read_timeouts = fs->read_timeouts;
	st.no_source_secs = fs->no_source_ms && now > fs->no_source_ms
				    ? (now - fs->no_source_ms) / 1000 : 0;
	pthread_mutex_unlock(&fs->lock);
	return fs_xattr_stats_format(&st, out, len);
}

/* user.p2pfs.reading: a record a file with open handles. */
static int reading_value(struct fs *fs, char *out, size_t len)
{
	struct item {
		const struct fs_node *node;
		uint64_t cursor;
		uint32_t handles;
	} *v = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&fs->lock);
	for (struct fs_handle *h = fs->handles.next; h != &fs->handles;
	     h = h->next) {
		uint64_t cur = __atomic_load_n(&h->cursor, __ATOMIC_RELAXED);
		size_t i;
		for (i = 0; i < n && v[i].node != h->node; i++)
			;
		if (i == n) {
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 16;
				struct item *nv = realloc(v, nc * sizeof(*nv));
				if (!nv)
					break;
				v = nv;
				cap = nc;
			}
			v[n++] = (struct item){h->node, 0, 0};
		}
		v[i].handles++;
		if (cur > v[i].cursor)
			v[i].cursor = cur;
	}
	pthread_mutex_unlock(&fs->lock);
	struct fs_rec_out o;
	fs_rec_out_init(&o, out, len);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		fs_tree_path(fs->tree, v[i].node, path, sizeof(path));
		fs_rec_begin(&o, "file");
		fs_rec_str(&o, "path", path);
		fs_rec_u64(&o, "size", v[i].node->size);
		fs_rec_u64(&o, "have", file_cached(fs, v[i].node));
		fs_rec_u64(&o, "handles", v[i].handles);
		fs_rec_u64(&o, "cursor", v[i].cursor);
		if (!fs_rec_end(&o))
			break;
	}
	free(v);
	return (int)o.len;
}

/* The body of a control-channel request (the same texts as the xattrs). */
static int ctl_handler(void *arg, enum fs_ctl_verb verb, char *out,
		       size_t cap)
{
	struct fs *fs = arg;
	if (fs->resolve && !is_ready(fs) && verb != FS_CTL_STOP) {
		if (verb != FS_CTL_INFO)
			return snprintf(out, cap, "waiting for the metadata\n");
		struct fs_ctl_info in = {.pid = (long)getpid()};
		snprintf(in.kind, sizeof(in.kind), "mount");
		snprintf(in.name, sizeof(in.name), "(waiting for the metadata)");
		snprintf(in.path, sizeof(in.path), "%s", fs->mountpoint);
		snprintf(in.torrent, sizeof(in.torrent), "%s",
			 fs->torrent_path ? fs->torrent_path : "");
		in.mounted = true;
		return (int)fs_ctl_info_format(&in, out, cap);
	}
	switch (verb) {
	case FS_CTL_INFO: {
		struct fs_ctl_info in = {.pid = (long)getpid()};
		snprintf(in.kind, sizeof(in.kind), "mount");
		in.port = bt_session_port(fs->session);
		snprintf(in.infohash, sizeof(in.infohash), "%s",
			 fs->mi->info_hash_hex);
		snprintf(in.name, sizeof(in.name), "%s", fs->mi->name);
		snprintf(in.path, sizeof(in.path), "%s", fs->mountpoint);
		snprintf(in.torrent, sizeof(in.torrent), "%s",
			 fs->torrent_path ? fs->torrent_path : "");
		pthread_mutex_lock(&fs->lock);
		in.mounted = !fs->gone && !fs->closing;
		pthread_mutex_unlock(&fs->lock);
		return (int)fs_ctl_info_format(&in, out, cap);
	}
	case FS_CTL_STATS:
		return stats_value(fs, out, cap);
	case FS_CTL_READING:
		return reading_value(fs, out, cap);
	case FS_CTL_STOP:
		pfs_log(PFS_LOG_INFO, "fs", "stopping: asked on the control "
			"channel");
		kill(getpid(), SIGTERM); /* the main thread's, as a user's */
		return 0;
	default:
		return fs_ctl_session_text(fs->session, fs->cache, verb, out,
					   cap);
	}
}

/* The value of xattr NAME of node N into OUT; its length, or -ENODATA. */
static int xattr_value(struct fs *fs, fuse_ino_t ino, const struct fs_node *n,
		       const char *name, char *out, size_t len)
{
	if (!strcmp(name, XATTR_STATS) && ino == FUSE_ROOT_ID)
		return stats_value(fs, out, len);
	if (!strcmp(name, XATTR_PEERS) && ino == FUSE_ROOT_ID)
		return fs_ctl_session_text(fs->session, fs->cache,
					   FS_CTL_PEERS, out, len);
	if (!strcmp(name, XATTR_SOURCES) && ino == FUSE_ROOT_ID)
		return fs_ctl_session_text(fs->session, fs->cache,
					   FS_CTL_SOURCES, out, len);
	if (!strcmp(name, XATTR_READING) && ino == FUSE_ROOT_ID)
		return reading_value(fs, out, len);
	if (!strcmp(name, XATTR_HASH))
		return snprintf(out, len, "%s", fs->mi->info_hash_hex);
	if (!strcmp(name, XATTR_PID) && ino == FUSE_ROOT_ID)
		return snprintf(out, len, "%ld", (long)getpid());
	if (!strcmp(name, XATTR_SEED_AFTER) && ino == FUSE_ROOT_ID &&
	    fs->seed_after)
		return snprintf(out, len, "1");
	if (!strcmp(name, XATTR_PROGRESS) && !n->dir) {
		file_progress(fs, n, out, len);
		return (int)strlen(out);
	}
	return -ENODATA;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	if (fs->resolve && !ready_or_reply(fs, req))
		return;
	const struct fs_node *n = fs_tree_get(fs->tree, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (strncmp(name, "user.p2pfs.", 11)) { /* e.g. security.* on ls -l */
		fuse_reply_err(req, ENODATA);
		return;
	}
	char *val = malloc(FS_XATTR_MAX);
	if (!val) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int len = xattr_value(fs, ino, n, name, val, FS_XATTR_MAX);
	if (len > FS_XATTR_MAX) /* snprintf's would-be length */
		len = -E2BIG;
	if (len < 0)
		fuse_reply_err(req, -len);
	else if (!size)
		fuse_reply_xattr(req, (size_t)len);
	else if (size < (size_t)len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, (size_t)len);
	free(val);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	if (fs->resolve && !ready_or_reply(fs, req))
		return;
	const struct fs_node *n = fs_tree_get(fs->tree, ino);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	char list[512];
	size_t len = 0;
	bool root = ino == FUSE_ROOT_ID;
	const char *names[8] = {XATTR_HASH, root ? XATTR_PID : NULL,
				n->dir ? NULL : XATTR_PROGRESS,
				root ? XATTR_STATS : NULL,
				root ? XATTR_PEERS : NULL,
				root ? XATTR_SOURCES : NULL,
				root ? XATTR_READING : NULL,
				root && fs->seed_after ? XATTR_SEED_AFTER : NULL};
	for (int i = 0; i < 8; i++) {
		if (!names[i])
			continue;
		size_t l = strlen(names[i]) + 1;
		memcpy(list + len, names[i], l);
		len += l;
	}
	if (!size)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, len);
}

/* A sealed share's file that was executable when sealed. */
static bool seal_exec(const struct fs *fs, const struct fs_node *n)
{
	return fs->seal_files && fs->seal_files[n->file_index] &&
	       (fs->seal_files[n->file_index]->mode & BT_SEAL_MODE_EXEC);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fs *fs = fuse_req_userdata(req);
	if (fs->resolve && ino == FUSE_ROOT_ID && !is_ready(fs)) {
		fuse_reply_err(req, mask & W_OK ? EROFS : 0);
		return;
	}
	if (fs->resolve && !ready_or_reply(fs, req))
		return;
	const struct fs_node *n = fs_tree_get(fs->tree, ino);
	if (!n)
		fuse_reply_err(req, ENOENT);
	else if (mask & W_OK)
		fuse_reply_err(req, EROFS);
	else if ((mask & X_OK) && !n->dir && !seal_exec(fs, n))
		fuse_reply_err(req, EACCES);
	else
		fuse_reply_err(req, 0);
}

/* Everything that would change the tree or a file. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			 off_t len, struct fuse_file_info *fi)
{
	(void)ino, (void)mode, (void)off, (void)len, (void)fi;
	fuse_reply_err(req, EROFS);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.create = op_create,
	.fallocate = op_fallocate,
};

/* ---- lifetime ---- */

static int attach(struct fs *fs, const struct bt_metainfo *mi,
		  struct cache *cache, struct bt_session *session,
		  const struct bt_seal *seal);

struct fs *fs_new(const struct bt_metainfo *mi, struct cache *cache,
		  struct bt_session *session, const struct fs_opts *o)
{
	int err = -ENOMEM;
	struct fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		goto out;
	fs->mi = mi;
	fs->cache = cache;
	fs->session = session;
	fs->foreground = o->foreground;
	fs->debug = o->debug;
	fs->seed_after = o->seed_after;
	fs->decrypt = o->decrypt;
	fs->uid = (uid_t)o->uid;
	fs->gid = (gid_t)o->gid;
	fs->umask = (mode_t)(o->umask & 0777);
	fs->read_timeout_ms = (uint64_t)o->read_timeout * 1000;
	fs->syslog = o->syslog;
	fs->want_ctl = o->ctl;
	fs->mounted_cb = o->mounted;
	fs->watch_wake = -1;
	fs->mountinfo_fd = -1;
	fs->waiting.next = fs->waiting.prev = &fs->waiting;
	fs->handles.next = fs->handles.prev = &fs->handles;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	pthread_cond_init(&fs->ready_cond, NULL);
	fs->mtime.tv_sec = FS_MTIME_DEFAULT;
	if (!(fs->mountpoint = strdup(o->mountpoint)))
		goto out;
	if (o->torrent_path && !(fs->torrent_path = strdup(o->torrent_path)))
		goto out;
	if (o->fuse_opts && !(fs->fuse_opts = strdup(o->fuse_opts)))
		goto out;
	if (o->resolve) {
		fs->resolve = o->resolve;
		fs->resolve_arg = o->resolve_arg;
		fs->resolve_timeout = o->resolve_timeout;
		fs->pending = true;
		if (o->resolve_name &&
		    !(fs->resolve_name = strdup(o->resolve_name)))
			goto out;
		return fs;
	}
	if ((err = attach(fs, mi, cache, session, o->seal)) < 0)
		goto out;
	return fs;
out:
	fs_free(fs);
	return NULL;
}

/* The torrent's part of the set-up (at once, or once resolved). */
static int attach(struct fs *fs, const struct bt_metainfo *mi,
		  struct cache *cache, struct bt_session *session,
		  const struct bt_seal *seal)
{
	int err = -ENOMEM;
	fs->mi = mi;
	fs->cache = cache;
	fs->session = session;
	/* stable for an info-hash: its creation date, else a fixed one */
	fs->mtime.tv_sec = mi->creation_date > 0 &&
				   mi->creation_date < (int64_t)1 << 40
			   ? (time_t)mi->creation_date : FS_MTIME_DEFAULT;
	if (!(fs->tree = fs_tree_new(mi, &err))) {
		pfs_log(PFS_LOG_ERROR, "fs", "cannot build the tree of '%s': %s",
			mi->name, strerror(-err));
		return err;
	}
	/* With a cache limit, the readers' read-ahead together may take half
	 * of it, so readers never ask for more than the cache can keep while
	 * they read (see reader_budget()). */
	struct cache_usage cu;
	cache_usage(cache, &cu);
	fs->ra_share = cu.limit / 2;
	if (seal) {
		if (!(fs->seal_files = calloc(mi->nfiles ? mi->nfiles : 1,
					      sizeof(*fs->seal_files))))
			return -ENOMEM;
		for (size_t i = 0, k = 0; i < mi->nfiles; i++)
			if (!mi->files[i].pad && k < seal->nfiles)
				fs->seal_files[i] = &seal->files[k++];
	}
	bt_session_on_piece(session, on_piece, fs);
	return 0;
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	return -pthread_create(t, NULL, fn, arg);
}

/* --no-wait: get the torrent, set it up, start the engine, then let the
 * waiting lookups and listings go. */
static void *resolver_main(void *arg)
{
	struct fs *fs = arg;
	const struct bt_metainfo *mi = NULL;
	struct cache *c = NULL;
	struct bt_session *se = NULL;
	int rc = fs->resolve(fs->resolve_arg, &fs->resolve_cancel, &mi, &c,
			     &se);
	if (rc == 0)
		rc = attach(fs, mi, c, se, NULL);
	if (rc == 0)
		rc = bt_session_start(se);
	if (rc == 0) {
		pfs_log(PFS_LOG_INFO, "fs", "'%s' is live on '%s' (%" PRIu64
			" inodes)", mi->name, fs->mountpoint,
			fs_tree_count(fs->tree));
	} else if (rc != -ECANCELED) {
		pfs_log(PFS_LOG_ERROR, "fs", "'%s': no torrent to show: %s",
			fs->mountpoint, strerror(-rc));
	}
	pthread_mutex_lock(&fs->lock);
	fs->resolve_err = rc < 0 ? -rc : 0;
	fs->pending = false;
	pthread_cond_broadcast(&fs->ready_cond);
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* After the loop (or a failed start): answer everything, stop our threads. */
static void stop_threads(struct fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	fs->in_loop = false;
	fs->closing = true;
	fail_all(fs, -EIO);
	fs->worker_stop = true;
	pthread_cond_signal(&fs->cond);
	pthread_cond_broadcast(&fs->ready_cond);
	pthread_mutex_unlock(&fs->lock);
	if (fs->resolver_started) {
		__atomic_store_n(&fs->resolve_cancel, true, __ATOMIC_RELEASE);
		pthread_join(fs->resolver, NULL);
		fs->resolver_started = false;
	}
	if (fs->watcher_started) {
		pthread_mutex_lock(&fs->lock);
		fs->watch_stop = true;
		watch_poke(fs);
		pthread_mutex_unlock(&fs->lock);
		pthread_join(fs->watcher, NULL);
		fs->watcher_started = false;
	}
	if (fs->worker_started) {
		pthread_join(fs->worker, NULL); /* drains the reply queue */
		fs->worker_started = false;
	}
}

/* The signals that end a --seed-after run. */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
}

/* --seed-after: the mount is gone but the engine still serves the pieces
 * it has, until a stop signal. The signals were blocked right after the
 * session loop returned (libfuse's handlers are still installed, and a
 * blocked signal stays pending for sigwait). */
static void seed_until_signal(struct fs *fs, const sigset_t *stop)
{
	int sig = 0;
	pfs_log(PFS_LOG_INFO, "fs", "'%s' is unmounted; still seeding '%s' "
		"(pid %ld) until SIGTERM or SIGINT", fs->mountpoint,
		fs->mi->name, (long)getpid());
	while (sigwait(stop, &sig) == EINTR)
		;
	pfs_log(PFS_LOG_INFO, "fs", "stopping seeding on signal %d", sig);
}

/* "ro,fsname=NAME,subtype=p2pfs" with the torrent's name as the source
 * findmnt and df show (printable, at most FS_FSNAME_MAX bytes, cut on a
 * UTF-8 boundary; commas and backslashes escaped for libfuse). */
#define FS_FSNAME_MAX 200
static char *mount_opts(const struct fs *fs)
{
	char name[FS_FSNAME_MAX + 8] = "fsname=";
	size_t o = strlen(name), i = 0;
	const char *nm = fs->mi ? fs->mi->name
			 : fs->resolve_name ? fs->resolve_name : "p2pfs";
	const unsigned char *n = (const unsigned char *)nm;
	size_t nl = strlen(nm);
	if (nl > FS_FSNAME_MAX) {
		nl = FS_FSNAME_MAX;
		while (nl && (n[nl] & 0xc0) == 0x80)
			nl--; /* not inside a UTF-8 sequence */
	}
	for (; i < nl; i++)
		name[o++] = n[i] < ' ' || n[i] == 0x7f ? '?' : (char)n[i];
	name[o] = '\0';
	char *opts = NULL;
	if (fuse_opt_add_opt(&opts, "ro") ||
	    fuse_opt_add_opt_escaped(&opts, name) ||
	    fuse_opt_add_opt(&opts, "subtype=p2pfs")) {
		free(opts);
		return NULL;
	}
	return opts;
}

int fs_run(struct fs *fs)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg = NULL;
	bool handlers = false, mounted = false, seeding = false;
	sigset_t block, old, stop;
	int rc = -ENOMEM, notify = -1;
	char *own = mount_opts(fs);

	if (!own || fuse_opt_add_arg(&args, "p2pfs") ||
	    fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, own) ||
	    (fs->fuse_opts && (fuse_opt_add_arg(&args, "-o") ||
			       fuse_opt_add_arg(&args, fs->fuse_opts))) ||
	    (fs->debug && fuse_opt_add_arg(&args, "-d")))
		goto out;
	/* Takes the connection options (async_dio, max_readahead, ...) out
	 * of ARGS; fuse_session_new() gets the mount options. */
	if (!(fs->conn_opts = fuse_parse_conn_info_opts(&args))) {
		rc = -EINVAL;
		goto out;
	}
	fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->se) {
		rc = -EINVAL; /* libfuse said why */
		goto out;
	}
	if (fuse_set_signal_handlers(fs->se) != 0) {
		rc = -EIO;
		goto out;
	}
	handlers = true;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_handler; /* no SA_RESTART: sem_wait returns */
	sigemptyset(&sa.sa_mask);
	sigaction(FS_WAKE_SIGNAL, &sa, NULL);

	if (fuse_session_mount(fs->se, fs->mountpoint) != 0) {
		rc = -EIO;
		goto out;
	}
	mounted = true;
	if (fs->mounted_cb)
		fs->mounted_cb();
	/* In the background the parent waits for the child's word, so what
	 * fails until the engine runs still reaches the terminal. */
	if (!fs->foreground && (notify = fs_daemon_fork(false)) < 0) {
		rc = notify;
		pfs_log(PFS_LOG_ERROR, "fs", "cannot go to the background: %s",
			strerror(-rc));
		goto out;
	}
	/* in the background the log is syslog's from now on (what fails
	 * before the parent is told is also printed on the terminal) */
	if (notify >= 0 && fs->syslog)
		pfs_log_set_sink(fs_syslog_sink, fs->syslog);
	if (fs->resolve)
		pfs_log(PFS_LOG_INFO, "fs", "mounted on '%s', waiting for the "
			"metadata", fs->mountpoint);
	else
		pfs_log(PFS_LOG_INFO, "fs", "mounted '%s' on '%s' (%" PRIu64
			" inodes)", fs->mi->name, fs->mountpoint,
			fs_tree_count(fs->tree));

	/* Signals go to this thread only: libfuse's handlers end the loop by
	 * interrupting its sem_wait() here. Threads inherit the mask. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, FS_WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (fs->resolve) {
		fs->resolve_deadline = mono_ms() +
				       (uint64_t)fs->resolve_timeout * 1000 +
				       FS_RESOLVE_SLACK_MS;
		rc = start_thread(&fs->resolver, resolver_main, fs);
		if (rc == 0)
			fs->resolver_started = true;
	} else {
		rc = bt_session_start(fs->session);
	}
	if (rc == 0 && (rc = start_thread(&fs->worker, reply_worker, fs)) == 0)
		fs->worker_started = true;
	if (rc == 0) {
		int wrc = watch_setup(fs);
		if (wrc == 0 &&
		    (wrc = start_thread(&fs->watcher, mount_watcher, fs)) == 0)
			fs->watcher_started = true;
		if (wrc < 0)
			pfs_log(PFS_LOG_WARN, "fs", "not watching the mount of '%s' "
				"(no read timeout either): %s", fs->mountpoint,
				strerror(-wrc));
	}
	if (rc == 0 && fs->want_ctl) {
		int crc;
		if (!(fs->ctl = fs_ctl_new(NULL, ctl_handler, fs, &crc)))
			pfs_log(PFS_LOG_WARN, "fs", "no control channel (p2pfs ls "
				"and stop will not see this mount): %s",
				strerror(-crc));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		pfs_log(PFS_LOG_ERROR, "fs", "cannot start: %s", strerror(-rc));
		goto out;
	}
	if (notify >= 0) {
		fs_daemon_ready(notify, 0);
		notify = -1;
	}

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		rc = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&fs->lock);
	fs->main_thread = pthread_self();
	fs->in_loop = !fs->gone;
	pthread_mutex_unlock(&fs->lock);
	int r = fs->in_loop ? fuse_session_loop_mt(fs->se, cfg) : 0;
	if (fs->seed_after && r == 0 && (!fs->resolve || is_ready(fs))) {
		/* unmounted, not signalled: from now on a stop signal waits
		 * for seed_until_signal() */
		stop_signals(&stop);
		pthread_sigmask(SIG_BLOCK, &stop, NULL);
		seeding = true;
	}
	if (r < 0) {
		pfs_log(PFS_LOG_ERROR, "fs", "session loop: %s", strerror(-r));
		rc = r;
	} else {
		if (r > 0)
			pfs_log(PFS_LOG_INFO, "fs", "exiting on signal %d", r);
		rc = 0;
	}
out:
	stop_threads(fs);
	/* Also when the watcher saw the mount go, to free libfuse's state:
	 * libfuse skips the umount once the connection is aborted, which the
	 * kernel does a moment after the mount leaves the table (not until
	 * the last open file closes after a lazy unmount), so give it up to
	 * 200 ms rather than have libfuse try a second umount. */
	if (mounted) {
		int quiet = -1;
		pfs_log(PFS_LOG_DEBUG, "fs", "unmounting '%s'", fs->mountpoint);
		if (fs->gone) {
			struct pollfd p = {.fd = fuse_session_fd(fs->se)};
			for (int i = 0; i < 20 && poll(&p, 1, 10) == 0; i++)
				;
			/* A lazy unmount with a file still open keeps the
			 * connection up, so libfuse tries to unmount what is
			 * no longer mounted and prints (on stderr, not through
			 * its log) "failed to unmount ... Invalid argument":
			 * only noise, since the watcher saw the mount go. */
			if (!(p.revents & POLLERR)) {
				int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
				fflush(stderr);
				quiet = nul >= 0 ? dup(STDERR_FILENO) : -1;
				if (quiet >= 0)
					dup2(nul, STDERR_FILENO);
				if (nul >= 0)
					close(nul);
			}
		}
		fuse_session_unmount(fs->se);
		if (quiet >= 0) {
			dup2(quiet, STDERR_FILENO);
			close(quiet);
		}
	}
	if (seeding) {
		seed_until_signal(fs, &stop);
		pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
	}
	fs_ctl_free(fs->ctl);
	fs->ctl = NULL;
	pfs_log(PFS_LOG_DEBUG, "fs", "stopping the engine");
	if (fs->session)
		bt_session_stop(fs->session);
	pfs_log(PFS_LOG_DEBUG, "fs", "engine stopped");
	if (handlers)
		fuse_remove_signal_handlers(fs->se);
	if (fs->se) {
		fuse_session_destroy(fs->se);
		fs->se = NULL;
	}
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	fuse_opt_free_args(&args);
	free(own);
	/* a failure in the background: NOTIFY stays open until the process
	 * exits, after it printed why; the parent then exits 1 */
	return rc;
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	/* fs_run() answered every waiter; nothing is left to free there. The
	 * handles of files still open when the mount went away never got
	 * their release: no FUSE thread runs any more, so free them here. */
	size_t left = 0;
	while (fs->handles.next && fs->handles.next != &fs->handles) {
		handle_free(fs, fs->handles.next);
		left++;
	}
	if (left)
		pfs_log(PFS_LOG_DEBUG, "fs", "freed %zu handles of files left "
			"open", left);
	fs_ctl_free(fs->ctl);
	fs_tree_free(fs->tree);
	free(fs->seal_files);
	free(fs->torrent_path);
	free(fs->resolve_name);
	free(fs->mountpoint);
	free(fs->fuse_opts);
	if (fs->watch_wake >= 0)
		close(fs->watch_wake);
	if (fs->mountinfo_fd >= 0)
		close(fs->mountinfo_fd);
	free(fs->conn_opts);
	pthread_mutex_destroy(&fs->lock);
	pthread_cond_destroy(&fs->cond);
	pthread_cond_destroy(&fs->ready_cond);
	free(fs);
}
