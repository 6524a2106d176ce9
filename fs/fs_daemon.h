/* fs_daemon — going to the background, for `mount` and `seed` alike: fork,
 * and the parent waits until the child says it runs (the mount is live,
 * the engine started, the control channel listens) and exits with the
 * child's status, so errors found until then still reach the terminal and
 * the exit status. Main thread only, before any other thread exists. */
#ifndef FS_DAEMON_H
#define FS_DAEMON_H

#include <stdbool.h>

/* Fork. In the parent: wait for the child's verdict and _exit() with it;
 * with PRINT_PID, on success, first print the child's pid on stdout
 * ("p2pfs: running in the background as pid N"). In the child: returns
 * the fd to pass to fs_daemon_ready(), after setsid() and chdir("/"); or
 * -errno if the fork failed (in the caller, still in the foreground). */
int fs_daemon_fork(bool print_pid);
/* In the child: STATUS 0 detaches stdin, stdout and stderr (to /dev/null)
 * and lets the parent exit 0; else the parent exits with STATUS. Closes
 * FD. */
void fs_daemon_ready(int fd, unsigned char status);

#endif
