/* fs_ps — `p2pfs ls` (every running p2pfs of this user: mounts and seeds)
 * and `p2pfs stop TARGET`, both over the control channels of fs_ctl.h: each
 * process is asked for its `info` and `stats`; stop sends `stop` and waits
 * for the process to exit (it announces "stopped" to its trackers
 * first). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bt_metainfo.h"
#include "fs_cli.h"
#include "fs_cmd.h"
#include "fs_ctl.h"
#include "fs_xattr.h"

#define EXIT_USAGE 2
#define STOP_WAIT_MS 15000 /* a stopped announce takes up to 2 s */

const char fs_cmd_ps_usage[] =
	"  p2pfs ls\n"
	"      List every running p2pfs of yours, mounts and seeds: pid,\n"
	"      kind, port, peers, rates, torrent name and path.\n"
	"  p2pfs stop PID|FILE.torrent|PATH\n"
	"      Stop a running seed (or mount) cleanly: it announces\n"
	"      \"stopped\" to its trackers, then exits. PATH is a mount point,\n"
	"      the data a seed serves, or the torrent it was started with.\n";

/* ---- finding processes ---- */

struct find {
	const char *target;
	long pid;          /* target is a pid, else 0 */
	char hex[72];      /* target is a torrent, else "" */
	char *real;        /* realpath of the target, or NULL */
	struct fs_ctl_info *info;
	char (*sock)[4096];
	size_t max, n;
};

/* A path of the target vs a path a process reports. */
static bool same_path(const struct find *f, const char *p)
{
	if (!*p)
		return false;
	if (!strcmp(p, f->target))
		return true;
	return f->real && !strcmp(p, f->real);
}

static int find_cb(void *arg, const char *path, long pid)
{
	struct find *f = arg;
	struct fs_ctl_info in;
	char *body = NULL, err[256];
	size_t len;
	if (f->pid && pid != f->pid)
		return 0;
	if (fs_ctl_call(path, FS_CTL_INFO, &body, &len, err, sizeof(err)) < 0 ||
	    fs_ctl_info_parse(body, len, &in) < 0) {
		free(body);
		return 0;
	}
	free(body);
	bool hit = f->pid ? in.pid == f->pid
		   : f->hex[0] ? !strcmp(in.infohash, f->hex)
		   : same_path(f, in.path) || same_path(f, in.torrent);
	if (!hit)
		return 0;
	if (f->n < f->max) {
		f->info[f->n] = in;
		snprintf(f->sock[f->n], sizeof(f->sock[0]), "%s", path);
	}
	f->n++;
	return 0;
}

int fs_ps_find(const char *target, struct fs_ctl_info *info, char (*sock)[4096],
	       size_t max)
{
	char dir[PATH_MAX];
	struct find f = {.target = target, .info = info, .sock = sock,
			 .max = max};
	int rc = fs_ctl_dir(dir, sizeof(dir));
	if (rc < 0)
		return rc;
	if (strspn(target, "0123456789") == strlen(target) && *target) {
		f.pid = strtol(target, NULL, 10);
	} else {
		struct stat st;
		struct bt_metainfo *mi = NULL;
		char e[256];
		f.real = realpath(target, NULL);
		/* a .torrent file names its info-hash (not a folder) */
		if (f.real && stat(f.real, &st) == 0 && S_ISREG(st.st_mode) &&
		    bt_metainfo_load(f.real, &mi, e, sizeof(e)) == 0)
			snprintf(f.hex, sizeof(f.hex), "%s", mi->info_hash_hex);
		bt_metainfo_free(mi);
	}
	rc = fs_ctl_each(dir, find_cb, &f);
	free(f.real);
	if (rc == -ENOENT)
		return 0; /* no p2pfs has run here yet */
	return rc < 0 ? rc : (int)f.n;
}

/* ---- ls ---- */

static void rate(uint64_t bps, char *out, size_t len)
{
	char h[24];
	fs_cli_human_size(bps, h, sizeof(h));
	snprintf(out, len, "%s/s", h);
}

struct ls {
	size_t n;
};

static int ls_cb(void *arg, const char *path, long pid)
{
	struct ls *l = arg;
	struct fs_ctl_info in;
	struct fs_xattr_stats st;
	char *body = NULL, err[256], down[32] = "?", up[32] = "?",
	     peers[16] = "?";
	size_t len;
	if (fs_ctl_call(path, FS_CTL_INFO, &body, &len, err, sizeof(err)) < 0 ||
	    fs_ctl_info_parse(body, len, &in) < 0) {
		fprintf(stderr, "p2pfs: ls: process %ld: %s\n", pid,
			body ? "a bad answer" : err);
		free(body);
		return 0;
	}
	free(body);
	body = NULL;
	if (fs_ctl_call(path, FS_CTL_STATS, &body, &len, err, sizeof(err)) == 0 &&
	    fs_xattr_stats_parse(body, len, &st) == 0) {
		rate(st.down_rate, down, sizeof(down));
		rate(st.up_rate, up, sizeof(up));
		snprintf(peers, sizeof(peers), "%" PRIu32, st.peers);
	}
	free(body);
	if (!l->n++)
		printf("%-8s %-7s %-6s %-5s %-12s %-12s %-24s %s\n", "PID",
		       "KIND", "PORT", "PEERS", "DOWN", "UP", "NAME", "PATH");
	const char *kind = !strcmp(in.kind, "mount") && !in.mounted
				   ? "seeding" : in.kind;
	printf("%-8ld %-7s %-6" PRIu32 " %-5s %-12s %-12s %-24s %s\n", in.pid,
	       kind, in.port, peers, down, up, in.name, in.path);
	return 0;
}

int fs_cmd_ls(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage:\n%s", fs_cmd_ps_usage);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "p2pfs: ls: too many arguments\ntry 'p2pfs ls "
			"--help'\n");
		return EXIT_USAGE;
	}
	char dir[PATH_MAX];
	int rc = fs_ctl_dir(dir, sizeof(dir));
	struct ls l = {0};
	if (rc == 0)
		rc = fs_ctl_each(dir, ls_cb, &l);
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "p2pfs: ls: %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	if (!l.n)
		printf("no p2pfs running\n");
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- stop ---- */

static bool wait_gone(long pid, int ms)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd >= 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r;
		while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
			;
		close(fd);
		return r > 0;
	}
	if (errno == ESRCH)
		return true;
#endif
	for (int t = 0; t < ms; t += 20) {
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			return true;
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

#define STOP_MAX 16

int fs_cmd_stop(int argc, char **argv)
{
	const char *target = NULL;
	char err[256];
	int rc = fs_cli_parse_one(argc, argv, &target, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "p2pfs: stop: %s\ntry 'p2pfs stop --help'\n", err);
		return EXIT_USAGE;
	}
	if (rc == 1) {
		printf("usage:\n%s", fs_cmd_ps_usage);
		return 0;
	}
	struct fs_ctl_info *info = calloc(STOP_MAX, sizeof(*info));
	char(*sock)[4096] = calloc(STOP_MAX, sizeof(*sock));
	int status = 1;
	if (!info || !sock) {
		fprintf(stderr, "p2pfs: %s\n", strerror(ENOMEM));
		goto out;
	}
	int n = fs_ps_find(target, info, sock, STOP_MAX);
	if (n < 0) {
		fprintf(stderr, "p2pfs: stop: %s\n", strerror(-n));
		goto out;
	}
	if (n == 0) {
		fprintf(stderr, "p2pfs: stop: no running p2pfs for '%s' "
			"('p2pfs ls' lists them)\n", target);
		goto out;
	}
	if (n > STOP_MAX) {
		fprintf(stderr, "p2pfs: stop: '%s' names %d processes; give "
			"a pid\n", target, n);
		goto out;
	}
	status = 0;
	for (int i = 0; i < n; i++) {
		char *body = NULL;
		size_t len;
		const struct fs_ctl_info *in = &info[i];
		if (fs_ctl_call(sock[i], FS_CTL_STOP, &body, &len, err,
				sizeof(err)) < 0) {
			fprintf(stderr, "p2pfs: stop: pid %ld: %s\n", in->pid, err);
			status = 1;
			continue;
		}
		free(body);
		if (!wait_gone(in->pid, STOP_WAIT_MS)) {
			fprintf(stderr, "p2pfs: stop: pid %ld has not exited "
				"after %d s\n", in->pid, STOP_WAIT_MS / 1000);
			status = 1;
			continue;
		}
		printf("stopped pid %ld (%s of '%s', %s)\n", in->pid, in->kind,
		       in->name, in->path);
	}
out:
	free(info);
	free(sock);
	return status;
}
