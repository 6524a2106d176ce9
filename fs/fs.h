/* fs — the FUSE low-level frontend: a read-only view of one torrent.
 *
 * Directory listing and stat come from the metainfo alone. A read whose
 * pieces are all verified is answered from the cache fd (fd-backed
 * fuse_bufvec, so the kernel splices); otherwise the request is parked as a
 * waiter, the engine is asked for the pieces, and the reply worker answers
 * it when the last of them verifies. No FUSE thread ever blocks on the
 * network. */
#ifndef FS_H
#define FS_H

#include <stdbool.h>
#include <stdint.h>

#include "bt_metainfo.h"
#include "bt_seal.h"
#include "bt_session.h"
#include "cache.h"
#include "pfs_cipher.h"

struct fs;
struct fs_syslog;

struct fs_opts {
	const char *mountpoint;
	const char *fuse_opts;  /* FUSE -o string, may be NULL */
	const char *torrent_path; /* absolute, for `p2pfs ls` */
	bool foreground;        /* do not daemonise */
	bool debug;             /* FUSE debug output */
	bool seed_after;        /* once unmounted, seed until a signal */
	/* A sealed share: MI is its view (bt_seal_view), the cache holds the
	 * ciphertext, and reads are decrypted with DECRYPT into the reply
	 * (no splice). Both borrowed, NULL for a plain torrent. */
	const struct bt_seal *seal;
	const struct pfs_ctr *decrypt;
	unsigned read_timeout;  /* s a read may wait for data; 0 = forever */
	uint32_t uid, gid;      /* the owner of every file and folder */
	uint32_t umask;         /* modes: 0666 files, 0777 folders, minus it */
	struct fs_syslog *syslog; /* in the background, log there (borrowed;
				   * NULL: keep the log where it is) */
	bool ctl;               /* open a control channel (fs_ctl.h) */
	void (*mounted)(void);  /* called once the kernel mount is made, or
				 * NULL (main stops holding libfuse's
				 * errors back then) */
	/* --no-wait (a magnet link): the mount is live before the torrent is
	 * known. fs_new() then takes MI, CACHE and SESSION NULL; once the
	 * mount is made (and in the background), RESOLVE runs on a thread of
	 * its own and returns them (borrowed, as fs_new's), or -errno; it
	 * should give up soon after *CANCEL turns true (the mount is going).
	 * Until it returns, listing the root and looking names up wait for
	 * it, interruptibly and for at most RESOLVE_TIMEOUT seconds. */
	int (*resolve)(void *arg, const bool *cancel,
		       const struct bt_metainfo **mi, struct cache **cache,
		       struct bt_session **session);
	void *resolve_arg;
	unsigned resolve_timeout;
	const char *resolve_name; /* the mount's source meanwhile, or NULL */
};

struct fs *fs_new(const struct bt_metainfo *mi, struct cache *cache,
		  struct bt_session *session, const struct fs_opts *o);
/* Mount, daemonise unless foreground, then bt_session_start() (threads do
 * not survive fork, so the engine starts after daemonising), serve until
 * unmounted or signalled (or told to stop on the control channel), then
 * bt_session_stop(). With seed_after, an unmount (not a signal) leaves the
 * engine running, seeding what it has, until SIGINT/SIGTERM/SIGHUP/SIGQUIT.
 * Returns 0 or -errno: -EINVAL for FUSE options libfuse refuses, -EIO when
 * the mount itself failed (libfuse said why). */
int fs_run(struct fs *fs);
void fs_free(struct fs *fs);

#endif
