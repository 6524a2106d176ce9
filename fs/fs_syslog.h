/* fs_syslog — the daemon's log to the system log: a pfs_log sink that sends
 * each message as one RFC 3164 datagram ("<PRI>Mmm dd hh:mm:ss
 * p2pfs[PID]: LEVEL MODULE: message", facility LOG_DAEMON, the priority from
 * the level) to the local syslog socket, as syslog(3) does, but to a socket
 * the caller may choose: $P2PFS_SYSLOG_SOCKET when set (tests bind their own
 * datagram socket there), else /dev/log (journald or rsyslog).
 *
 * Owned by the command that runs a daemon (mount, seed); install it with
 * pfs_log_set_sink(fs_syslog_sink, sl) once in the background and remove it
 * before fs_syslog_free(). The sink runs under pfs_log's lock, so one
 * message at a time; it never logs itself and never blocks (a full socket
 * buffer drops the message). */
#ifndef FS_SYSLOG_H
#define FS_SYSLOG_H

#include <stddef.h>
#include <time.h>

#define FS_SYSLOG_DEFAULT "/dev/log"
#define FS_SYSLOG_ENV "P2PFS_SYSLOG_SOCKET"

struct fs_syslog;

/* The socket path: $P2PFS_SYSLOG_SOCKET, else /dev/log. */
const char *fs_syslog_path(void);
/* Connect to the socket at PATH (NULL: fs_syslog_path()). Returns NULL with
 * *ERR = -errno (-ENOENT: no syslog daemon here). */
struct fs_syslog *fs_syslog_new(const char *path, int *err);
void fs_syslog_free(struct fs_syslog *sl);
/* The pfs_log sink (ARG is the struct fs_syslog). */
void fs_syslog_sink(void *arg, int level, const char *module, const char *msg);

/* One datagram into OUT of LEN bytes (pure): the text sent for a message of
 * pfs_log LEVEL from MODULE at local time TM, from process PID. Returns its
 * length (truncated to LEN - 1, NUL-terminated). */
size_t fs_syslog_format(char *out, size_t len, int level, const struct tm *tm,
			long pid, const char *module, const char *msg);

#endif
