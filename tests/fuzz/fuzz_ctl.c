/* libFuzzer target for the control channel's parsers (fs_ctl.h): a daemon
 * parses the request of any local client of its user, and `p2pfs ls`,
 * `status` and `stop` parse the replies and the `info` record of whatever
 * listens at a socket in the channel folder. A request that parses must
 * format back to the same bytes; an info record that parses must format
 * and parse again to the same fields; a reply's body must lie inside the
 * input. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs_ctl.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	enum fs_ctl_verb v;
	if (fs_ctl_request_parse(in, size, &v) == 0) {
		char again[FS_CTL_MAX_REQ];
		size_t n = fs_ctl_request_format(v, again, sizeof(again));
		CHECK(n == size && !memcmp(again, in, n));
	}
	const char *body;
	size_t len;
	char msg[64];
	int rc = fs_ctl_reply_parse(in, size, &body, &len, msg, sizeof(msg));
	if (rc == 0)
		CHECK(body >= in && body + len == in + size);
	else if (rc == -EREMOTEIO)
		CHECK(strnlen(msg, sizeof(msg)) < sizeof(msg));
	else
		CHECK(rc == -EPROTO);
	static struct fs_ctl_info a, b;
	if (fs_ctl_info_parse(in, size, &a) == 0) {
		static char buf[8192];
		size_t n = fs_ctl_info_format(&a, buf, sizeof(buf));
		CHECK(n > 0);
		CHECK(fs_ctl_info_parse(buf, n, &b) == 0);
		CHECK(!memcmp(&a, &b, sizeof(a)));
	}
	return 0;
}
