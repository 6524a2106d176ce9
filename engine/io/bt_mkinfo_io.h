/* bt_mkinfo_io — the I/O half of bt_mkinfo: walking a folder into a
 * bt_mkinfo and hashing its pieces on a pool of threads (the pure half is
 * bt_mkinfo.h). */
#ifndef BT_MKINFO_IO_H
#define BT_MKINFO_IO_H

#include "bt_mkinfo.h"

/* Symlinks that lead out of the folder are followed instead of refused. */
#define BT_MKINFO_FOLLOW_SYMLINKS 1u

/* Called for each entry skipped (not a regular file or folder: a FIFO, a
 * socket, a device), with its relative path and the reason. */
typedef void (*bt_mkinfo_warn_fn)(void *arg, const char *path,
				  const char *why);

/* Walk PATH (a regular file or a folder; a symlink given as PATH is
 * followed) into a new, sorted *OUT named after PATH's last component.
 * Symlinks inside the folder are followed, as mktorrent does, when their
 * target is inside the folder too (or with BT_MKINFO_FOLLOW_SYMLINKS);
 * a symlink that leads out of the folder, a dangling one, a loop, or an
 * unreadable file or folder is an error. Returns 0 or -errno (-ENOENT,
 * -EACCES, -ELOOP, -EXDEV for a link out of the folder, -EINVAL for a
 * folder with no files or an unusable name, -ENOMEM) with a one-line
 * reason, naming the path, in ERR. */
int bt_mkinfo_scan(const char *path, unsigned flags, bt_mkinfo_warn_fn warn,
		   void *warn_arg, struct bt_mkinfo **out, char *err,
		   size_t errlen);

/* Progress of bt_mkinfo_hash: bytes hashed so far of TOTAL. Called on the
 * calling thread, at most about ten times a second, and once at the end. */
typedef void (*bt_mkinfo_progress_fn)(void *arg, uint64_t done,
				      uint64_t total);

/* Hash every piece of MK (after bt_mkinfo_set_piece_length) with NTHREADS
 * hashing threads (0: the number of online CPUs; capped at
 * BT_MKINFO_MAX_THREADS) while the calling thread reads. Returns 0, or
 * -errno of a failed open/read, or -EIO when a file's size changed since
 * the scan, with a reason in ERR. */
int bt_mkinfo_hash(struct bt_mkinfo *mk, unsigned nthreads,
		   bt_mkinfo_progress_fn progress, void *progress_arg,
		   char *err, size_t errlen);

/* Where bt_mkinfo_hash_stream reads the torrent's bytes: LEN bytes at
 * offset OFF of its stream into BUF. Returns 0 or -errno. Called on the
 * calling thread only, front to back. */
typedef int (*bt_mkinfo_read_fn)(void *arg, uint64_t off, void *buf,
				 size_t len);
/* bt_mkinfo_hash() over a stream READ gives instead of MK's files (a
 * sealed share: the blob is made on the fly from the plaintext). */
int bt_mkinfo_hash_stream(struct bt_mkinfo *mk, bt_mkinfo_read_fn read,
			  void *read_arg, unsigned nthreads,
			  bt_mkinfo_progress_fn progress, void *progress_arg,
			  char *err, size_t errlen);

#endif
