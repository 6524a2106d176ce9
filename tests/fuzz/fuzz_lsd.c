/* libFuzzer target for bt_lsd_parse: an accepted announce has a port,
 * 1..BT_LSD_MAX_HASHES distinct hashes and a bounded cookie; an announce
 * built from it parses to the same port, hashes and cookie (when the
 * cookie is one bt_lsd_build accepts). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_lsd.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static struct bt_lsd_msg m, back;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	int rc = bt_lsd_parse(data, size, &m, err, sizeof(err));
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc < 0) {
		CHECK(strlen(err) > 0 && !strchr(err, '\n'));
		return 0;
	}
	CHECK(m.port > 0);
	CHECK(m.nhashes > 0 && m.nhashes <= BT_LSD_MAX_HASHES);
	for (size_t i = 0; i < m.nhashes; i++)
		for (size_t j = 0; j < i; j++)
			CHECK(memcmp(m.hashes[i], m.hashes[j], 20));
	if (m.has_cookie)
		CHECK(strlen(m.cookie) > 0 &&
		      strlen(m.cookie) <= BT_LSD_MAX_COOKIE);
	char out[BT_LSD_MAX_SEND + 1];
	size_t len, done = 0;
	const char *cookie = m.has_cookie ? m.cookie : NULL;
	while (done < m.nhashes) {
		rc = bt_lsd_build(out, sizeof(out), &len, m.port & 1, m.port,
				  (const uint8_t(*)[20])m.hashes + done,
				  m.nhashes - done, cookie);
		if (rc == -EINVAL && cookie) {
			cookie = NULL; /* spaces or controls: not ours */
			continue;
		}
		CHECK(rc > 0 && len <= BT_LSD_MAX_SEND);
		CHECK(bt_lsd_parse((const uint8_t *)out, len, &back, NULL, 0) ==
		      0);
		CHECK(back.port == m.port && back.nhashes == (size_t)rc);
		CHECK(!memcmp(back.hashes, m.hashes[done], (size_t)rc * 20));
		if (cookie)
			CHECK(bt_lsd_is_own(&back, cookie));
		done += (size_t)rc;
	}
	return 0;
}
