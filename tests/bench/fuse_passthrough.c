/* fuse_passthrough — the FUSE reference of `make bench`: a minimal
 * read-only passthrough of one folder, so the bench can put p2pfs's warm
 * re-read beside the best FUSE itself gives on this machine for the same
 * bytes. libfuse's passthrough_ll example is not packaged in Debian; this
 * is written for the bench and reads the way p2pfs answers a cache hit:
 * low-level API, multi-threaded session loop, splice write/move wanted,
 * each read answered with an fd-backed fuse_bufvec (the kernel splices from
 * the open file, no copy through user space). No keep_cache: every read of
 * a fresh mount goes through the daemon.
 *
 *   fuse_passthrough SRCDIR MNT      (stays in the foreground; ends on
 *                                     unmount or SIGTERM/SIGINT)
 *
 * Inodes are a table of paths, never shrunk (forget is a no-op): fine for
 * the few files a bench run touches. Built by `make bench` only. */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pt_node {
	char *path;
	dev_t dev;
	ino_t ino;
};

struct pt {
	pthread_mutex_t lock;
	struct pt_node *nodes; /* fuse ino N is nodes[N - 1]; 1 = SRCDIR */
	size_t n, cap;
};

static const double PT_TTL = 1.0;

/* The path of INO (a copy, caller frees), NULL if unknown. */
static char *pt_path(struct pt *pt, fuse_ino_t ino)
{
	char *p = NULL;
	pthread_mutex_lock(&pt->lock);
	if (ino >= 1 && ino <= pt->n)
		p = strdup(pt->nodes[ino - 1].path);
	pthread_mutex_unlock(&pt->lock);
	return p;
}

/* The inode number of PATH (stat ST), added to the table if new; 0 on
 * allocation failure. Takes PATH. */
static fuse_ino_t pt_intern(struct pt *pt, char *path, const struct stat *st)
{
	fuse_ino_t ino = 0;
	pthread_mutex_lock(&pt->lock);
	for (size_t i = 0; i < pt->n; i++) {
		if (pt->nodes[i].dev == st->st_dev && pt->nodes[i].ino == st->st_ino) {
			ino = i + 1;
			free(path);
			goto out;
		}
	}
	if (pt->n == pt->cap) {
		size_t cap = pt->cap ? pt->cap * 2 : 64;
		struct pt_node *nn = realloc(pt->nodes, cap * sizeof(*nn));
		if (!nn) {
			free(path);
			goto out;
		}
		pt->nodes = nn;
		pt->cap = cap;
	}
	pt->nodes[pt->n] = (struct pt_node){ path, st->st_dev, st->st_ino };
	ino = ++pt->n;
out:
	pthread_mutex_unlock(&pt->lock);
	return ino;
}

static void pt_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pt *pt = fuse_req_userdata(req);
	struct fuse_entry_param e;
	char *dir = pt_path(pt, parent), *path = NULL;
	if (!dir) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	if (asprintf(&path, "%s/%s", dir, name) < 0) {
		free(dir);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	free(dir);
	if (lstat(path, &e.attr) != 0) {
		int err = errno;
		free(path);
		fuse_reply_err(req, err);
		return;
	}
	e.ino = pt_intern(pt, path, &e.attr);
	if (!e.ino) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	e.attr.st_ino = e.ino;
	e.generation = 1;
	e.attr_timeout = e.entry_timeout = PT_TTL;
	fuse_reply_entry(req, &e);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	char *path = pt_path(fuse_req_userdata(req), ino);
	(void)fi;
	if (!path) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	int rc = lstat(path, &st) == 0 ? 0 : errno;
	free(path);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	st.st_ino = ino;
	fuse_reply_attr(req, &st, PT_TTL);
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char *path = pt_path(fuse_req_userdata(req), ino);
	if (!path) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		free(path);
		fuse_reply_err(req, EROFS);
		return;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = errno;
	free(path);
	if (fd < 0) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	if (fuse_reply_open(req, fi) != 0)
		close(fd);
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	(void)ino;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = (int)fi->fh;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

/* One reply per call from offset OFF (an index into the listing, which is
 * read again each time: the bench lists small folders only). */
static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char *path = pt_path(fuse_req_userdata(req), ino);
	char *buf = NULL;
	size_t used = 0;
	DIR *d = NULL;
	struct dirent *de;
	off_t i = 0;
	int err = 0;
	(void)fi;
	if (!path) {
		err = ENOENT;
		goto out;
	}
	if (!(d = opendir(path)) || !(buf = malloc(size))) {
		err = d ? ENOMEM : errno;
		goto out;
	}
	while ((de = readdir(d))) {
		if (i++ < off)
			continue;
		struct stat st = { .st_ino = de->d_ino, .st_mode = (mode_t)DTTOIF(de->d_type) };
		size_t n = fuse_add_direntry(req, buf + used, size - used,
					     de->d_name, &st, i);
		if (n > size - used)
			break;
		used += n;
	}
out:
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	if (d)
		closedir(d);
	free(buf);
	free(path);
}

static const struct fuse_lowlevel_ops pt_ops = {
	.init = pt_init,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.getattr = pt_getattr,
	.open = pt_open,
	.read = pt_read,
	.release = pt_release,
	.readdir = pt_readdir,
};

int main(int argc, char **argv)
{
	struct pt pt = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *cfg = NULL;
	char src[PATH_MAX];
	struct stat st;
	int rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: fuse_passthrough SRCDIR MNT\n");
		return 2;
	}
	if (!realpath(argv[1], src) || stat(src, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "fuse_passthrough: '%s' is not a folder\n", argv[1]);
		return 2;
	}
	char *root = strdup(src);
	if (!root || pt_intern(&pt, root, &st) != 1)
		return 1;
	if (fuse_opt_add_arg(&args, argv[0]) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "ro,fsname=bench-passthrough,subtype=passthrough"))
		goto out;
	if (!(se = fuse_session_new(&args, &pt_ops, sizeof(pt_ops), &pt)))
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, argv[2]) != 0)
		goto out_handlers;
	if ((cfg = fuse_loop_cfg_create())) {
		rc = fuse_session_loop_mt(se, cfg) < 0;
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	for (size_t i = 0; i < pt.n; i++)
		free(pt.nodes[i].path);
	free(pt.nodes);
	return rc;
}
