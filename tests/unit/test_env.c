/* Unit tests for pfs_env's P2PFS_LOOPBACK_NET: a prefix outside private
 * space is refused (the environment is read once per process, so each
 * case runs in a child of its own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pfs_env.h"

/* In a child: does P2PFS_LOOPBACK_NET=V give a prefix? 1 yes, 0 no. */
static int accepted(const char *v)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("P2PFS_LOOPBACK_NET", v, 1);
		struct bt_addr net;
		unsigned bits;
		_exit(pfs_loopback_net(&net, &bits) ? 1 : 0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_loopback_net(void **state)
{
	(void)state;
	assert_int_equal(accepted("fd50::/64"), 1);
	assert_int_equal(accepted("fc00::/7"), 1);
	assert_int_equal(accepted("10.0.0.0/8"), 1);
	assert_int_equal(accepted("192.168.7.0/24"), 1);
	assert_int_equal(accepted("172.16.0.0/12"), 1);
	/* public space, or a prefix reaching out of private space */
	assert_int_equal(accepted("2001:db8::/32"), 0);
	assert_int_equal(accepted("fc00::/6"), 0);
	assert_int_equal(accepted("8.0.0.0/7"), 0);
	assert_int_equal(accepted("172.16.0.0/11"), 0);
	assert_int_equal(accepted("fd50::1"), 0);
	assert_int_equal(accepted(""), 0);
}

int main(void)
{
	/* the switch stands on its own: pfs_loopback_net does not need it */
	unsetenv("P2PFS_LOOPBACK_ONLY");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loopback_net),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
