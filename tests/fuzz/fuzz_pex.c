/* libFuzzer target for bt_pex_parse and bt_pexstate_on_msg: an accepted
 * message keeps at most BT_PEX_MAX_PARSE usable, distinct addresses per
 * list; its first 50 of each build back to a message that parses to the
 * same peers and flags. The same payload, fed to a bt_pexstate three
 * times at times taken from the input, never yields more than the caps. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_pexstate.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static struct bt_pex_msg m, back;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	int rc = bt_pex_parse(data, size, &m, err, sizeof(err));
	CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 0) {
		CHECK(m.nadded <= BT_PEX_MAX_PARSE &&
		      m.ndropped <= BT_PEX_MAX_PARSE);
		CHECK(m.nadded <= m.total_added &&
		      m.ndropped <= m.total_dropped);
		CHECK(m.nadded + m.ndropped + m.nskipped ==
		      m.total_added + m.total_dropped);
		for (size_t i = 0; i < m.nadded; i++) {
			CHECK(bt_addr_usable(&m.added[i].addr));
			for (size_t j = 0; j < i; j++)
				CHECK(!bt_addr_equal(&m.added[i].addr,
						     &m.added[j].addr));
		}
		for (size_t i = 0; i < m.ndropped; i++)
			CHECK(bt_addr_usable(&m.dropped[i]));
		size_t na = m.nadded < 50 ? m.nadded : 50;
		size_t nd = m.ndropped < 50 ? m.ndropped : 50;
		struct bt_benc b;
		bt_benc_init(&b);
		CHECK(bt_pex_build(m.added, na, m.dropped, nd, &b) == 0);
		CHECK(bt_pex_parse(b.buf, b.len, &back, NULL, 0) == 0);
		CHECK(back.nadded == na && back.ndropped == nd);
		/* build groups by family: compare as sets */
		for (size_t i = 0; i < na; i++) {
			bool found = false;
			for (size_t j = 0; j < na && !found; j++)
				found = bt_addr_equal(&m.added[i].addr,
						      &back.added[j].addr) &&
					m.added[i].flags == back.added[j].flags;
			CHECK(found);
		}
		bt_benc_release(&b);
	} else {
		CHECK(strlen(err) > 0 && !strchr(err, '\n'));
	}
	struct bt_pexstate ps;
	if (bt_pexstate_init(&ps, 0) < 0)
		return 0;
	uint64_t now = 0;
	size_t learned = 0;
	for (int k = 0; k < 3; k++) {
		now += size ? (uint64_t)data[k % size] * 1000 : 1;
		rc = bt_pexstate_on_msg(&ps, data, size, now, &m, NULL, 0);
		CHECK(rc == 0 || rc == 1 || rc == -EPROTO || rc == -ENOMEM);
		if (rc == 0) {
			CHECK(m.nadded <=
			      (k == 0 ? BT_PEX_MAX_PARSE : BT_PEX_MAX_PER_MSG));
			learned += m.nadded;
		}
		if (rc == 1)
			CHECK(m.nadded == 0);
	}
	CHECK(learned <= BT_PEXSTATE_MAX_LEARN);
	bt_pexstate_release(&ps);
	return 0;
}
