/* libFuzzer target for bt_ext_hs_parse: every field of an accepted
 * handshake is in its documented range; building it and parsing the
 * result gives the same fields; merging it onto our own handshake keeps
 * the ranges. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_ext.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static void ranges(const struct bt_ext_hs *h)
{
	for (int i = 0; i < BT_EXT_NKINDS; i++)
		CHECK(h->ids[i] >= -1 && h->ids[i] <= 255);
	CHECK(h->metadata_size == -1 ||
	      (h->metadata_size > 0 &&
	       h->metadata_size <= (int64_t)BT_EXT_MAX_METADATA_SIZE));
	CHECK(h->port == -1 || (h->port > 0 && h->port <= 65535));
	CHECK(h->reqq == -1 || (h->reqq > 0 && h->reqq <= BT_EXT_MAX_REQQ));
	CHECK(h->upload_only >= -1 && h->upload_only <= 1);
	CHECK(strlen(h->client) <= BT_EXT_MAX_CLIENT);
	for (const char *p = h->client; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	CHECK(h->yourip.family == 0 || h->yourip.family == BT_ADDR_V4 ||
	      h->yourip.family == BT_ADDR_V6);
	CHECK(h->ipv4.family == 0 || h->ipv4.family == BT_ADDR_V4);
	CHECK(h->ipv6.family == 0 || h->ipv6.family == BT_ADDR_V6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_ext_hs h, back, st;
	char err[256];
	int rc = bt_ext_hs_parse(data, size, &h, err, sizeof(err));
	CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc < 0) {
		CHECK(strlen(err) > 0 && !strchr(err, '\n'));
		return 0;
	}
	ranges(&h);
	struct bt_benc b;
	bt_benc_init(&b);
	if (bt_ext_hs_build(&h, &b) == 0) {
		CHECK(bt_ext_hs_parse(b.buf, b.len, &back, NULL, 0) == 0);
		CHECK(!memcmp(back.ids, h.ids, sizeof(h.ids)));
		CHECK(back.metadata_size == h.metadata_size);
		CHECK(back.port == h.port && back.reqq == h.reqq);
		CHECK(back.upload_only == h.upload_only);
		CHECK(!strcmp(back.client, h.client));
		CHECK(bt_addr_equal(&back.yourip, &h.yourip));
		CHECK(bt_addr_equal(&back.ipv4, &h.ipv4));
		CHECK(bt_addr_equal(&back.ipv6, &h.ipv6));
	}
	bt_benc_release(&b);
	bt_ext_hs_ours(&st, true, 6881, 1000, 250, NULL, false);
	bt_ext_hs_merge(&st, &h);
	ranges(&st);
	return 0;
}
