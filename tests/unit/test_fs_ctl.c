/* Unit tests for fs_ctl, the control channel: the request and reply
 * codecs (bounds, versions, unknown verbs), the `info` record both ways, a
 * real server and client in this process over a socket in a private
 * temporary folder (answers, errors, a malformed request, stop), that a
 * folder open to others is refused, and that fs_ctl_each() reports the
 * live processes and removes the sockets a killed one left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs_ctl.h"

static void test_request(void **state)
{
	(void)state;
	char buf[FS_CTL_MAX_REQ];
	enum fs_ctl_verb v;
	for (int i = FS_CTL_INFO; i <= FS_CTL_STOP; i++) {
		size_t n = fs_ctl_request_format((enum fs_ctl_verb)i, buf,
						 sizeof(buf));
		assert_true(n > 0 && buf[n - 1] == '\n');
		assert_int_equal(fs_ctl_request_parse(buf, n, &v), 0);
		assert_int_equal(v, i);
	}
	assert_string_equal(fs_ctl_verb_name(FS_CTL_SOURCES), "sources");
	struct {
		const char *s;
		int rc;
	} cases[] = {
		{"p2pfs1 stats\n", 0},
		{"p2pfs1 stats", -EINVAL},       /* no newline */
		{"p2pfs1 stats\n\n", -EINVAL},   /* two lines */
		{"p2pfs1  stats\n", -EINVAL},
		{"p2pfs1\n", -EINVAL},
		{"p2pfs1 \n", -EINVAL},
		{"p2pfs2 stats\n", -EPROTO},     /* another version */
		{"p2pfs stats\n", -EPROTO},
		{"http stats\n", -EINVAL},
		{"p2pfs1 frobnicate\n", -ENOSYS}, /* a newer verb */
		{"p2pfs1 Stats\n", -EINVAL},
		{"p2pfs1 st\x01ts\n", -EINVAL},
		{"", -EINVAL},
		{"\n", -EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(fs_ctl_request_parse(cases[i].s,
						      strlen(cases[i].s), &v),
				 cases[i].rc);
	char nul[] = "p2pfs1 st\0ts\n";
	assert_int_equal(fs_ctl_request_parse(nul, sizeof(nul) - 1, &v), -EINVAL);
	char big[FS_CTL_MAX_REQ + 2];
	memset(big, 'a', sizeof(big));
	memcpy(big, "p2pfs1 ", 7);
	big[sizeof(big) - 1] = '\n';
	assert_int_equal(fs_ctl_request_parse(big, sizeof(big), &v), -EINVAL);
}

static void test_reply(void **state)
{
	(void)state;
	const char *body;
	size_t len;
	char msg[32];
	const char ok[] = "ok\nline 1\nline 2";
	assert_int_equal(fs_ctl_reply_parse(ok, sizeof(ok) - 1, &body, &len, msg,
					    sizeof(msg)), 0);
	assert_int_equal(len, 13);
	assert_memory_equal(body, "line 1\nline 2", 13);
	assert_int_equal(fs_ctl_reply_parse("ok\n", 3, &body, &len, msg,
					    sizeof(msg)), 0);
	assert_int_equal(len, 0);
	const char er[] = "error No such thing\x01 here, and more than fits\n";
	assert_int_equal(fs_ctl_reply_parse(er, sizeof(er) - 1, &body, &len, msg,
					    sizeof(msg)), -EREMOTEIO);
	assert_string_equal(msg, "No such thing? here, and more t");
	const char *bad[] = {"", "ok", "OK\n", "okay\n", "error\n", "hello\n",
			     "errorx\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fs_ctl_reply_parse(bad[i], strlen(bad[i]), &body,
						    &len, msg, sizeof(msg)),
				 -EPROTO);
}

static void test_info(void **state)
{
	(void)state;
	struct fs_ctl_info a = {.pid = 4242, .port = 6881, .mounted = true}, b;
	snprintf(a.kind, sizeof(a.kind), "mount");
	snprintf(a.infohash, sizeof(a.infohash), "%040d", 7);
	snprintf(a.name, sizeof(a.name), "My Film (2024)");
	snprintf(a.path, sizeof(a.path), "/mnt/my film");
	snprintf(a.torrent, sizeof(a.torrent), "/home/u/My Film.torrent");
	char buf[2048];
	size_t n = fs_ctl_info_format(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(fs_ctl_info_parse(buf, n, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	/* other records around it are skipped */
	char more[4096];
	int m = snprintf(more, sizeof(more), "junk line\ndht nodes=3\n%.*s",
			 (int)n, buf);
	assert_int_equal(fs_ctl_info_parse(more, (size_t)m, &b), 0);
	assert_int_equal(b.pid, 4242);
	const char *bad[] = {
		"",
		"process kind=mount\n",
		"process kind=mount pid=0 port=1 infohash=a name=n path=p "
		"torrent=t\n",
		"process kind=mount pid=5 port=65536 infohash=a name=n path=p "
		"torrent=t\n",
		"process kind=mount pid=-5 port=1 infohash=a name=n path=p "
		"torrent=t\n",
		"process kind=aaaaaaaaaaaaaaaaaaaa pid=5 port=1 infohash=a name=n "
		"path=p torrent=t\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fs_ctl_info_parse(bad[i], strlen(bad[i]), &b),
				 -EINVAL);
	const char *min = "process kind=seed pid=5 port=1 infohash=a name=n "
			  "path=p torrent=";
	assert_int_equal(fs_ctl_info_parse(min, strlen(min), &b), 0);
	assert_false(b.mounted);
	assert_string_equal(b.torrent, "");
}

struct srv {
	int stops;
	int calls;
};

static int handler(void *arg, enum fs_ctl_verb verb, char *out, size_t cap)
{
	struct srv *s = arg;
	s->calls++;
	switch (verb) {
	case FS_CTL_STATS:
		return snprintf(out, cap, "peers 3\n");
	case FS_CTL_STOP:
		s->stops++;
		return 0;
	case FS_CTL_PEERS: /* a full body */
		memset(out, 'p', cap);
		return (int)cap;
	default:
		return -EIO;
	}
}

static int raw(const char *path, const char *req, char *out, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	size_t got = 0;
	ssize_t r;
	while (got + 1 < len && (r = read(fd, out + got, len - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(fd);
	return (int)got;
}

static int each(void *arg, const char *path, long pid)
{
	struct {
		int n;
		long pid;
	} *seen = arg;
	(void)path;
	seen->n++;
	seen->pid = pid;
	return 0;
}

static void test_server(void **state)
{
	(void)state;
	char dir[] = "/tmp/p2pfs-ctl-XXXXXX", run[64], err[256];
	assert_non_null(mkdtemp(dir));
	snprintf(run, sizeof(run), "%s/a/run", dir);
	struct srv s = {0};
	int e = 0;
	struct fs_ctl *c = fs_ctl_new(run, handler, &s, &e);
	assert_non_null(c);
	char sock[128];
	snprintf(sock, sizeof(sock), "%s", fs_ctl_sock_path(c));
	struct stat st;
	assert_int_equal(stat(run, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	char *body = NULL;
	size_t len = 0;
	assert_int_equal(fs_ctl_call(sock, FS_CTL_STATS, &body, &len, err,
				     sizeof(err)), 0);
	assert_string_equal(body, "peers 3\n");
	assert_int_equal(len, 8);
	free(body);
	assert_int_equal(fs_ctl_call(sock, FS_CTL_PEERS, &body, &len, err,
				     sizeof(err)), 0);
	assert_int_equal(len, FS_CTL_MAX_BODY);
	free(body);
	assert_int_equal(fs_ctl_call(sock, FS_CTL_INFO, &body, &len, err,
				     sizeof(err)), -EREMOTEIO);
	assert_null(body);
	assert_string_equal(err, "Input/output error");
	assert_int_equal(fs_ctl_call(sock, FS_CTL_STOP, &body, &len, err,
				     sizeof(err)), 0);
	free(body);
	assert_int_equal(s.stops, 1);

	char out[256];
	raw(sock, "GET / HTTP/1.0\n", out, sizeof(out));
	assert_string_equal(out, "error malformed request\n");
	raw(sock, "p2pfs9 stats\n", out, sizeof(out));
	assert_string_equal(out, "error unsupported protocol version\n");
	raw(sock, "p2pfs1 later\n", out, sizeof(out));
	assert_string_equal(out, "error unknown request\n");
	assert_int_equal(s.calls, 4); /* the bad requests reach no handler */

	/* fs_ctl_each: the live one; a killed process's socket is removed */
	char stale[128];
	snprintf(stale, sizeof(stale), "%s/999999999.sock", run);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", stale);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd); /* nobody listens there */
	char junk[128];
	snprintf(junk, sizeof(junk), "%s/notes.txt", run);
	FILE *f = fopen(junk, "w");
	fclose(f);
	struct seen {
		int n;
		long pid;
	} seen = {0};
	assert_int_equal(fs_ctl_each(run, each, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.pid, (long)getpid());
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(access(junk, F_OK), 0); /* not ours: left alone */
	unlink(junk);

	fs_ctl_free(c);
	assert_int_equal(access(sock, F_OK), -1); /* removed */
	assert_int_equal(fs_ctl_call(sock, FS_CTL_STATS, &body, &len, err,
				     sizeof(err)), -ENOENT);

	/* a folder others may write to is refused */
	assert_int_equal(chmod(run, 0755), 0);
	assert_null(fs_ctl_new(run, handler, &s, &e));
	assert_int_equal(e, -EPERM);
	rmdir(run);
	snprintf(junk, sizeof(junk), "%s/a", dir);
	rmdir(junk);
	rmdir(dir);
}

static void test_dir(void **state)
{
	(void)state;
	char out[PATH_MAX];
	const char *old = getenv("XDG_RUNTIME_DIR");
	char *saved = old ? strdup(old) : NULL;
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(fs_ctl_dir(out, sizeof(out)), 0);
	assert_string_equal(out, "/run/user/1000/p2pfs");
	setenv("XDG_RUNTIME_DIR", "relative", 1); /* ignored */
	setenv("XDG_CACHE_HOME", "/c", 1);
	assert_int_equal(fs_ctl_dir(out, sizeof(out)), 0);
	assert_string_equal(out, "/c/p2pfs/run");
	assert_int_equal(fs_ctl_dir(out, 8), -ENAMETOOLONG);
	if (saved)
		setenv("XDG_RUNTIME_DIR", saved, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
