/* fs_ctl — the control channel of a p2pfs process: one owner-only Unix
 * socket per running mount or seed, through which `p2pfs ls`, `p2pfs
 * status` and `p2pfs stop` find and ask it.
 *
 * Where: DIR/PID.sock with DIR = $XDG_RUNTIME_DIR/p2pfs when that is set
 * (an absolute path), else the default cache root's run/ folder
 * (~/.cache/p2pfs/run). DIR is created mode 0700 and refused when it is not
 * the caller's own or is open to others; the socket is mode 0600, and the
 * server also checks each client's uid (SO_PEERCRED: the same user, or
 * root).
 *
 * Protocol, version 1: one request a connection, all text.
 *   client: "p2pfs1 VERB\n", at most FS_CTL_MAX_REQ bytes in all
 *   server: "ok\n" then the body, or "error MESSAGE\n"; then it closes.
 * VERB is one of:
 *   info     a record (fs_xattr.h) about the process:
 *              process kind=mount|seed pid=N port=N infohash=HEX
 *                      name=NAME path=PATH torrent=FILE mounted=0|1
 *            (path: the mount point, or the data a seed serves)
 *   stats    the text of user.p2pfs.stats
 *   peers    the text of user.p2pfs.peers
 *   sources  the text of user.p2pfs.sources
 *   reading  the text of user.p2pfs.reading (empty for a seed)
 *   stop     stop cleanly (announce "stopped"); the reply comes first
 * A body is at most FS_CTL_MAX_BODY bytes. Both sides bound every read in
 * size and time (FS_CTL_TIMEOUT_MS): a client that sends nothing holds the
 * server for that long at most, one client at a time.
 *
 * The server runs one thread of its own (signals blocked: create it with
 * them blocked); the handler runs on that thread. */
#ifndef FS_CTL_H
#define FS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs_xattr.h"

#define FS_CTL_MAGIC "p2pfs1"
#define FS_CTL_MAX_REQ 64
#define FS_CTL_MAX_BODY FS_XATTR_MAX
#define FS_CTL_TIMEOUT_MS 3000

enum fs_ctl_verb {
	FS_CTL_INFO,
	FS_CTL_STATS,
	FS_CTL_PEERS,
	FS_CTL_SOURCES,
	FS_CTL_READING,
	FS_CTL_STOP,
};

/* ---- the protocol (pure, any thread) ---- */

const char *fs_ctl_verb_name(enum fs_ctl_verb v);
/* The request line of V into OUT (FS_CTL_MAX_REQ bytes is enough); its
 * length. */
size_t fs_ctl_request_format(enum fs_ctl_verb v, char *out, size_t len);
/* Parse the untrusted request BUF of LEN bytes (up to and including its
 * newline). Returns 0 with *V, -EINVAL for a malformed line, -EPROTO for
 * another protocol version, -ENOSYS for a verb this build does not know. */
int fs_ctl_request_parse(const char *buf, size_t len, enum fs_ctl_verb *v);
/* Parse the untrusted reply BUF of LEN bytes. Returns 0 with *BODY and
 * *BODYLEN (pointing into BUF), -EREMOTEIO with the server's message in
 * MSG, or -EPROTO for anything else. */
int fs_ctl_reply_parse(const char *buf, size_t len, const char **body,
		       size_t *bodylen, char *msg, size_t msglen);

/* The "process" record of `info`. */
struct fs_ctl_info {
	char kind[16];      /* "mount" or "seed" */
	long pid;
	uint32_t port;
	char infohash[72];
	char name[FS_REC_VAL_MAX];
	char path[FS_REC_VAL_MAX];
	char torrent[FS_REC_VAL_MAX];
	bool mounted;
};
size_t fs_ctl_info_format(const struct fs_ctl_info *in, char *out,
			  size_t len);
/* Parse the untrusted body of an `info` reply: its first "process" record.
 * Returns 0 or -EINVAL (no such record, a field missing or bad). */
int fs_ctl_info_parse(const char *buf, size_t len, struct fs_ctl_info *in);

/* ---- where ---- */

/* The channel folder (see above) into OUT. Returns 0, or -ENOENT (no
 * XDG_RUNTIME_DIR and no home) or -ENAMETOOLONG. Creates nothing. */
int fs_ctl_dir(char *out, size_t len);

/* ---- the server ---- */

/* Answers VERB: writes the body into OUT of CAP bytes and returns its
 * length, or -errno (the client gets "error" and strerror). Runs on the
 * channel's thread. */
typedef int (*fs_ctl_fn)(void *arg, enum fs_ctl_verb verb, char *out,
			 size_t cap);
struct fs_ctl;
/* Listen at DIR/PID.sock (DIR NULL: fs_ctl_dir()), creating DIR, and start
 * the thread. Returns NULL with *ERR = -errno (-EPERM: DIR is not private
 * to us). */
struct fs_ctl *fs_ctl_new(const char *dir, fs_ctl_fn fn, void *arg, int *err);
/* Stop the thread (an answer in progress finishes first), remove the
 * socket. NULL is a no-op. */
void fs_ctl_free(struct fs_ctl *c);
const char *fs_ctl_sock_path(const struct fs_ctl *c);

/* ---- the status texts of a session (mount and seed share them) ---- */

struct bt_session;
struct cache;
/* The engine's and the cache's figures into *ST (the optional keys 0). */
void fs_ctl_session_stats(struct bt_session *s, struct cache *c,
			  struct fs_xattr_stats *st);
/* The text of STATS, PEERS, SOURCES (READING: none, 0) for session S into
 * OUT of CAP bytes; its length, or -ENOMEM, -ERANGE, -EINVAL (another
 * verb). Any thread: only the session's published snapshots are read. */
int fs_ctl_session_text(struct bt_session *s, struct cache *c,
			enum fs_ctl_verb v, char *out, size_t cap);

/* ---- the client ---- */

/* Ask the process at socket PATH for VERB. Returns 0 with a malloc'd
 * NUL-terminated *BODY of *LEN bytes (free it), or -errno with a reason in
 * ERR (-ECONNREFUSED: nobody listens there any more). */
int fs_ctl_call(const char *path, enum fs_ctl_verb verb, char **body,
		size_t *len, char *err, size_t errlen);

/* Every p2pfs process of this user: calls FN(ARG, PATH, PID) for each
 * socket in DIR that answers, removing those of processes that are gone
 * (nobody listens and PID is not running). Stops early when FN returns
 * non-zero and returns that; else 0, or -errno reading DIR (-ENOENT: no
 * process ever ran). */
typedef int (*fs_ctl_each_fn)(void *arg, const char *path, long pid);
int fs_ctl_each(const char *dir, fs_ctl_each_fn fn, void *arg);

#endif
