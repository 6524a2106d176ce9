/* Unit tests for fs_syslog: the datagram text (RFC 3164 as syslog(3)
 * writes it: <PRI>, the date, p2pfs[PID]) for each level, and the sink
 * sending through pfs_log to a datagram socket bound here (as the
 * integration test's log server does), reconnecting when the server comes
 * back; no /dev/log needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "fs_syslog.h"
#include "pfs_log.h"

static void test_format(void **state)
{
	(void)state;
	struct tm tm = {.tm_year = 126, .tm_mon = 10, .tm_mday = 5,
			.tm_hour = 9, .tm_min = 3, .tm_sec = 7};
	char b[256];
	size_t n = fs_syslog_format(b, sizeof(b), PFS_LOG_WARN, &tm, 42,
				    "tracker", "announce failed");
	assert_string_equal(b, "<28>Nov  5 09:03:07 p2pfs[42]: warn tracker: "
			    "announce failed");
	assert_int_equal(n, strlen(b));
	fs_syslog_format(b, sizeof(b), PFS_LOG_ERROR, &tm, 1, "m", "x");
	assert_int_equal(strncmp(b, "<27>", 4), 0); /* daemon.err */
	fs_syslog_format(b, sizeof(b), PFS_LOG_INFO, &tm, 1, "m", "x");
	assert_int_equal(strncmp(b, "<30>", 4), 0);
	fs_syslog_format(b, sizeof(b), PFS_LOG_DEBUG, &tm, 1, "m", "x");
	assert_int_equal(strncmp(b, "<31>", 4), 0);
	n = fs_syslog_format(b, 10, PFS_LOG_DEBUG, &tm, 1, "m", "x");
	assert_int_equal(n, 9);
	assert_int_equal(strlen(b), 9);
	assert_int_equal(fs_syslog_format(b, 0, PFS_LOG_DEBUG, &tm, 1, "m", "x"),
			 0);
}

static int bind_dgram(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void test_sink(void **state)
{
	(void)state;
	char dir[] = "/tmp/p2pfs-syslog-XXXXXX", path[64], got[1200];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log", dir);
	int e = 0;
	assert_null(fs_syslog_new(path, &e)); /* nobody listens yet */
	assert_int_equal(e, -ENOENT);
	int srv = bind_dgram(path);
	setenv(FS_SYSLOG_ENV, path, 1);
	assert_string_equal(fs_syslog_path(), path);
	struct fs_syslog *sl = fs_syslog_new(NULL, &e);
	assert_non_null(sl);
	int old = pfs_log_get_level();
	pfs_log_set_level(PFS_LOG_INFO);
	pfs_log_set_sink(fs_syslog_sink, sl);
	assert_false(pfs_log_to_stderr());
	pfs_log(PFS_LOG_WARN, "fs", "no source for '%s'", "x");
	ssize_t n = recv(srv, got, sizeof(got) - 1, 0);
	assert_true(n > 0);
	got[n] = '\0';
	char want[64];
	snprintf(want, sizeof(want), " p2pfs[%ld]: warn fs: no source for 'x'",
		 (long)getpid());
	assert_int_equal(strncmp(got, "<28>", 4), 0);
	assert_non_null(strstr(got, want));
	pfs_log(PFS_LOG_DEBUG, "fs", "below the level: not sent");
	/* the log server restarts: the next message reconnects */
	close(srv);
	srv = bind_dgram(path);
	pfs_log(PFS_LOG_ERROR, "seed", "after the restart");
	n = recv(srv, got, sizeof(got) - 1, 0);
	assert_true(n > 0);
	got[n] = '\0';
	assert_int_equal(strncmp(got, "<27>", 4), 0);
	assert_non_null(strstr(got, "error seed: after the restart"));
	pfs_log_set_sink(NULL, NULL);
	assert_true(pfs_log_to_stderr());
	pfs_log_set_level(old);
	fs_syslog_free(sl);
	close(srv);
	unlink(path);
	rmdir(dir);
	unsetenv(FS_SYSLOG_ENV);
	assert_string_equal(fs_syslog_path(), "/dev/log");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_sink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
