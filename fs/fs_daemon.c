/* fs_daemon — fork into the background with the parent waiting for the
 * child's verdict; see fs_daemon.h. */
#include "fs_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pfs_log.h"

int fs_daemon_fork(bool print_pid)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid > 0) {
		unsigned char st = 1;
		close(p[1]);
		while (read(p[0], &st, 1) < 0 && errno == EINTR)
			;
		if (st == 0 && print_pid) {
			printf("p2pfs: running in the background as pid %ld "
			       "('p2pfs stop %ld' stops it)\n", (long)pid,
			       (long)pid);
			fflush(stdout);
		}
		_exit(st);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") < 0)
		pfs_log(PFS_LOG_WARN, "main", "detaching: %s", strerror(errno));
	return p[1];
}

void fs_daemon_ready(int fd, unsigned char status)
{
	if (status == 0) {
		fflush(stdout);
		fflush(stderr);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(nul, STDOUT_FILENO);
			dup2(nul, STDERR_FILENO);
			if (nul > STDERR_FILENO)
				close(nul);
		}
	}
	if (write(fd, &status, 1) < 0)
		pfs_log(PFS_LOG_WARN, "main", "telling the parent: %s",
			strerror(errno));
	close(fd);
}
