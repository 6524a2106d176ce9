/* pfs_log — leveled logging to stderr or a file; see pfs_log.h. */
#include "pfs_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>


static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_level = PFS_LOG_WARN;
static FILE *log_file;
static pfs_log_sink_fn log_sink;
static void *log_sink_arg;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void pfs_log_set_level(int level)
{
	if (level < PFS_LOG_ERROR)
		level = PFS_LOG_ERROR;
	if (level > PFS_LOG_DEBUG)
		level = PFS_LOG_DEBUG;
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int pfs_log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int pfs_log_open(const char *path)
{
	FILE *f = fopen(path, "a");
	if (!f)
		return -errno;
	setvbuf(f, NULL, _IOLBF, 0);
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = f;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void pfs_log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	pthread_mutex_unlock(&log_lock);
}

void pfs_log_set_sink(pfs_log_sink_fn fn, void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn;
	log_sink_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

bool pfs_log_to_stderr(void)
{
	pthread_mutex_lock(&log_lock);
	bool r = !log_file && !log_sink;
	pthread_mutex_unlock(&log_lock);
	return r;
}

const char *pfs_log_level_name(int level)
{
	if (level < PFS_LOG_ERROR)
		level = PFS_LOG_ERROR;
	if (level > PFS_LOG_DEBUG)
		level = PFS_LOG_DEBUG;
	return level_names[level];
}

void pfs_log(int level, const char *module, const char *fmt, ...)
{
	if (level > pfs_log_get_level())
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	if (level < 0)
		level = 0;
	if (level > PFS_LOG_DEBUG)
		level = PFS_LOG_DEBUG;

	pthread_mutex_lock(&log_lock);
	if (log_sink) {
		log_sink(log_sink_arg, level, module, msg);
	} else {
		FILE *out = log_file ? log_file : stderr;
		fprintf(out, "%04d-%02d-%02d %02d:%02d:%02d.%03ld p2pfs %s %s: %s\n",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			level_names[level], module, msg);
	}
	pthread_mutex_unlock(&log_lock);
}

void pfs_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void pfs_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pfs_verrf(err, errlen, fmt, ap);
	va_end(ap);
}
