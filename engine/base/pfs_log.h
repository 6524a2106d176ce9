/* pfs_log — leveled logging shared by every module.
 *
 * Messages are lowercase, the subject in quotes: pfs_log(PFS_LOG_WARN, "peer",
 * "dropping '%s': bad piece %u", addr, idx). Output goes to stderr or, after
 * pfs_log_open(), to a file. The level and sink are the one piece of
 * process-wide state in p2pfs (like libevent's own log callback); every
 * function here is thread-safe. */
#ifndef PFS_LOG_H
#define PFS_LOG_H

#include <stdarg.h>
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
