/* libFuzzer target for the parsers of `p2pfs status`: fs_xattr_stats_parse
 * and fs_xattr_peer_parse read the xattr values of whatever is mounted at
 * the path the user gives, so they take any bytes. A stats value that
 * parses must format back and parse again to the same figures; a peer
 * line that parses must give NUL-terminated fields without spaces. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs_xattr.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static void check_field(const char *f, size_t cap)
{
	size_t n = strnlen(f, cap);
	CHECK(n < cap);
	CHECK(!memchr(f, ' ', n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fs_xattr_stats st, again;
	if (fs_xattr_stats_parse((const char *)data, size, &st) == 0) {
		static char buf[FS_XATTR_MAX];
		int n = fs_xattr_stats_format(&st, buf, sizeof(buf));
		CHECK(n > 0);
		CHECK(fs_xattr_stats_parse(buf, (size_t)n, &again) == 0);
		CHECK(!memcmp(&st, &again, sizeof(st)));
	}
	/* every line of the input as a peer line */
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct fs_xattr_peer peer;
		if (fs_xattr_peer_parse(p, len, &peer) == 0) {
			check_field(peer.addr, sizeof(peer.addr));
			check_field(peer.client, sizeof(peer.client));
			check_field(peer.flags, sizeof(peer.flags));
		}
		p += len + (nl != NULL);
	}
	return 0;
}
