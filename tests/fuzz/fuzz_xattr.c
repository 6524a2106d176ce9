/* libFuzzer target for the parsers of `p2pfs status`: fs_xattr_stats_parse,
 * fs_xattr_peer_parse and fs_rec_parse (the records of user.p2pfs.sources
 * and .reading) read the xattr values of whatever is mounted at the path
 * the user gives, so they take any bytes. A stats value that parses must
 * format back and parse again to the same figures; a peer line that
 * parses must give NUL-terminated fields without spaces; a record that
 * parses must write back (fs_rec_*) to a line that parses to the same
 * kind and fields, and print as a status line within its buffer. */
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
		static struct fs_rec r, again;
		if (fs_rec_parse(p, len, &r) == 0) {
			static char out[32768], line[1024];
			struct fs_rec_out o;
			fs_rec_out_init(&o, out, sizeof(out));
			fs_rec_begin(&o, r.kind);
			for (size_t i = 0; i < r.n; i++)
				fs_rec_str(&o, r.f[i].key, r.f[i].val);
			CHECK(fs_rec_end(&o));
			CHECK(o.len > 0 && out[o.len - 1] == '\n');
			CHECK(fs_rec_parse(out, o.len - 1, &again) == 0);
			CHECK(!strcmp(r.kind, again.kind) && r.n == again.n);
			for (size_t i = 0; i < r.n; i++)
				CHECK(!strcmp(r.f[i].key, again.f[i].key) &&
				      !strcmp(r.f[i].val, again.f[i].val));
			fs_xattr_source_line(&r, 1700000000, line, sizeof(line));
			CHECK(strnlen(line, sizeof(line)) < sizeof(line));
		}
		p += len + (nl != NULL);
	}
	return 0;
}
