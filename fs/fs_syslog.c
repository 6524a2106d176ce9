/* fs_syslog — pfs_log messages to the system log over a Unix datagram
 * socket; see fs_syslog.h. */
#include "fs_syslog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "pfs_log.h"

struct fs_syslog {
	int fd;
	struct sockaddr_un sa;
	socklen_t salen;
};

const char *fs_syslog_path(void)
{
	const char *p = getenv(FS_SYSLOG_ENV);
	return p && *p ? p : FS_SYSLOG_DEFAULT;
}

static int syslog_connect(struct fs_syslog *sl)
{
	if (sl->fd >= 0)
		close(sl->fd);
	sl->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sl->fd < 0)
		return -errno;
	if (connect(sl->fd, (struct sockaddr *)&sl->sa, sl->salen) < 0) {
		int e = -errno;
		close(sl->fd);
		sl->fd = -1;
		return e;
	}
	return 0;
}

struct fs_syslog *fs_syslog_new(const char *path, int *err)
{
	struct fs_syslog *sl = calloc(1, sizeof(*sl));
	int e = -ENOMEM;
	if (!sl)
		goto out;
	sl->fd = -1;
	if (!path)
		path = fs_syslog_path();
	if (strlen(path) >= sizeof(sl->sa.sun_path)) {
		e = -ENAMETOOLONG;
		goto out;
	}
	sl->sa.sun_family = AF_UNIX;
	memcpy(sl->sa.sun_path, path, strlen(path) + 1);
	sl->salen = (socklen_t)sizeof(sl->sa);
	if ((e = syslog_connect(sl)) < 0)
		goto out;
	return sl;
out:
	fs_syslog_free(sl);
	if (err)
		*err = e;
	return NULL;
}

void fs_syslog_free(struct fs_syslog *sl)
{
	if (!sl)
		return;
	if (sl->fd >= 0)
		close(sl->fd);
	free(sl);
}

static int priority(int level)
{
	switch (level) {
	case PFS_LOG_ERROR: return LOG_ERR;
	case PFS_LOG_WARN: return LOG_WARNING;
	case PFS_LOG_INFO: return LOG_INFO;
	default: return LOG_DEBUG;
	}
}

size_t fs_syslog_format(char *out, size_t len, int level, const struct tm *tm,
			long pid, const char *module, const char *msg)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec"};
	if (!len)
		return 0;
	int mon = tm->tm_mon >= 0 && tm->tm_mon < 12 ? tm->tm_mon : 0;
	int n = snprintf(out, len, "<%d>%s %2d %02d:%02d:%02d p2pfs[%ld]: %s %s: %s",
			 LOG_DAEMON | priority(level), months[mon], tm->tm_mday,
			 tm->tm_hour, tm->tm_min, tm->tm_sec, pid,
			 pfs_log_level_name(level), module, msg);
	if (n < 0) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)n < len ? (size_t)n : len - 1;
}

void fs_syslog_sink(void *arg, int level, const char *module, const char *msg)
{
	struct fs_syslog *sl = arg;
	char buf[1200];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	size_t n = fs_syslog_format(buf, sizeof(buf), level, &tm, (long)getpid(),
				    module, msg);
	/* the log daemon may have restarted: reconnect once */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (sl->fd >= 0 && send(sl->fd, buf, n, MSG_NOSIGNAL) >= 0)
			return;
		if (sl->fd >= 0 && errno != ECONNREFUSED && errno != ENOTCONN)
			return; /* e.g. EAGAIN: dropped rather than block */
		if (syslog_connect(sl) < 0)
			return;
	}
}
