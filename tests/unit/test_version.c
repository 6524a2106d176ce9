/* Unit tests for pfs_version: the peer id prefix follows PFS_VERSION
 * ("-PF0100-" for 0.1.0; letters past 9; suffixes and missing components),
 * and the client name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pfs_version.h"

static void check(const char *version, const char *want)
{
	uint8_t id[PFS_PEER_ID_PREFIX_LEN];
	pfs_version_peer_id(version, id);
	assert_memory_equal(id, want, PFS_PEER_ID_PREFIX_LEN);
}

static void test_peer_id(void **state)
{
	(void)state;
	check("0.1.0", "-PF0100-");
	check("1.2.3", "-PF1230-");
	check("1.2.3.4", "-PF1234-");
	check("0.10.0", "-PF0A00-");
	check("2.35.36", "-PF2Za0-");
	check("1.61.62", "-PF1zz0-");
	check("1.2", "-PF1200-");
	check("1.2.3-rc1", "-PF1230-");
	check("", "-PF0000-");
	check(NULL, "-PF0000-");
	check("dev", "-PF0000-");
	/* this build's own */
	uint8_t id[PFS_PEER_ID_PREFIX_LEN];
	pfs_version_peer_id(PFS_VERSION, id);
	assert_memory_equal(id, "-PF", 3);
	assert_int_equal(id[7], '-');
	assert_string_equal(PFS_VERSION_CLIENT, "p2pfs/" PFS_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
