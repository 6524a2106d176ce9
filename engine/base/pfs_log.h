/* pfs_log — leveled logging shared by every module.
 *
 * Messages are lowercase, the subject in quotes: pfs_log(PFS_LOG_WARN, "peer",
 * "dropping '%s': bad piece %u", addr, idx). Output goes to stderr or, after
 * pfs_log_open(), to a file, one line a message:
 *   2026-11-25 14:03:02.123 p2pfs warn peer: dropping '1.2.3.4:6881': ...
 * (local date and time); or, after pfs_log_set_sink(), to a sink of the
 * caller's (fs/ sends it to syslog: this layer does no socket I/O). The
 * level and the destination are the one piece of process-wide state in
 * p2pfs (like libevent's own log callback); every function here is
 * thread-safe. */
#ifndef PFS_LOG_H
#define PFS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

enum pfs_log_level {
	PFS_LOG_ERROR = 0,
	PFS_LOG_WARN = 1,
	PFS_LOG_INFO = 2,
	PFS_LOG_DEBUG = 3,
};

void pfs_log_set_level(int level);
int pfs_log_get_level(void);
/* Append to PATH instead of stderr. Returns 0 or -errno. */
int pfs_log_open(const char *path);
void pfs_log_close(void);
/* Send every message to FN instead of stderr or the file (NULL: back to
 * them). FN gets the level, the module and the formatted message (no date:
 * a sink such as syslog stamps its own), one call at a time, under the
 * log's lock: it must not log itself. ARG stays the caller's. */
typedef void (*pfs_log_sink_fn)(void *arg, int level, const char *module,
				const char *msg);
void pfs_log_set_sink(pfs_log_sink_fn fn, void *arg);
/* True while messages go to stderr (no file, no sink): a caller that prints
 * an error on stderr itself need not log it too (each error once). */
bool pfs_log_to_stderr(void);
/* The name of LEVEL ("error", "warn", "info", "debug"). */
const char *pfs_log_level_name(int level);
void pfs_log(int level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Format a one-line error reason into ERR of ERRLEN bytes (nothing when
 * ERR is NULL or ERRLEN 0): the "err, errlen" out-parameter of parsers. */
void pfs_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pfs_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* For programmer errors only, never for input. */
#define PFS_ASSERT(x)                                                          \
	do {                                                                   \
		if (!(x)) {                                                    \
			pfs_log(PFS_LOG_ERROR, "assert", "%s:%d: '%s'",        \
				__FILE__, __LINE__, #x);                       \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
