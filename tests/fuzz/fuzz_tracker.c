/* libFuzzer target for the tracker core: bt_tracker_parse on the whole
 * input (hostile reply bodies), checking the documented invariants of a
 * successful parse; and bt_tracker_url with the input's first line as the
 * announce base and a capacity taken from the input. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_tracker.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static void check_reply(const struct bt_tracker_reply *r)
{
	if (r->failure) {
		CHECK(r->npeers == 0 && r->peers == NULL);
		CHECK(strlen(r->failure) <= 1024);
		return;
	}
	CHECK(r->interval >= 30 && r->interval <= 86400);
	CHECK(r->min_interval <= 86400);
	CHECK(r->complete >= -1 && r->incomplete >= -1);
	CHECK(r->npeers <= BT_TRACKER_MAX_PEERS);
	CHECK((r->npeers == 0) == (r->peers == NULL));
	for (size_t i = 0; i < r->npeers; i++) {
		const struct bt_addr *a = &r->peers[i];
		CHECK(a->family == BT_ADDR_V4 || a->family == BT_ADDR_V6);
		CHECK(bt_addr_usable(a));
		/* v4-mapped addresses are stored as IPv4 */
		static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
		CHECK(a->family == BT_ADDR_V4 || memcmp(a->ip, mapped, 12));
	}
	for (const char *t = r->warning; t && *t; t++)
		CHECK((unsigned char)*t >= 0x20 && *t != 0x7f);
}

static void fuzz_url(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 512 ? size : 512);
	if (!nl || nl == data)
		return;
	size_t blen = (size_t)(nl - data) - 1;
	char base[512];
	memcpy(base, data + 1, blen);
	base[blen] = '\0';
	size_t slen = strlen(base); /* the line may hold NUL bytes */
	struct bt_announce a;
	memset(&a, 0, sizeof(a));
	size_t rest = size - blen - 2;
	const uint8_t *r = nl + 1;
	if (rest >= 40) {
		memcpy(a.info_hash, r, 20);
		memcpy(a.peer_id, r + 20, 20);
	}
	a.event = (enum bt_tracker_event)(data[0] & 3);
	a.numwant = (int)(signed char)data[0];
	size_t cap = (size_t)data[0] * 4;
	char *out = malloc(cap ? cap : 1);
	CHECK(out);
	int err = bt_tracker_url(out, cap, base, &a);
	CHECK(err == 0 || err == -EINVAL || err == -ENAMETOOLONG);
	if (err == 0) {
		size_t n = strlen(out);
		CHECK(n < cap);
		CHECK(strncmp(out, base, slen) == 0);
		for (size_t i = slen; i < n; i++)
			CHECK(out[i] > 0x20 && out[i] < 0x7f);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_tracker_reply r;
	char err[128];
	int ret = bt_tracker_parse(data, size, &r, err, sizeof(err));
	CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	if (ret == 0) {
		check_reply(&r);
		bt_tracker_reply_release(&r);
	} else {
		CHECK(r.peers == NULL && r.failure == NULL);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		CHECK(ret != -EINVAL || err[0]);
	}
	if (size > 1)
		fuzz_url(data, size);
	return 0;
}
