/* libFuzzer target for the DHT node's saved state (CACHE/dht.dat, read by
 * bt_dhtnode at start through bt_dht_new's opts.state): any bytes give a
 * node or none, never a crash. The first byte picks the options (families,
 * state_nodes_only, an allow filter that refuses every other address);
 * the rest is the file. A state that loads is saved again, and that save
 * loads and saves to the same bytes (canonical, stable); the node then
 * runs its bootstrap a few times, and everything it sends goes to an
 * address the filter allows.
 * fuzz-max-len: 8192 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_dht.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static bool allow_odd(void *arg, const struct bt_addr *a)
{
	(void)arg;
	return (a->port & 1) != 0;
}

static bool filtered;

static void on_send(void *arg, const struct bt_addr *to, const uint8_t *buf,
		    size_t len)
{
	(void)arg;
	(void)buf;
	CHECK(len > 0);
	CHECK(!filtered || allow_odd(NULL, to));
}

static struct bt_dht *node(const uint8_t *state, size_t len, uint8_t how)
{
	struct bt_dht_opts o = {
	    .seed = 7,
	    .families = (how & 1) ? BT_DHT_V4 | BT_DHT_V6 : BT_DHT_V4,
	    .send = on_send,
	    .state = state,
	    .state_len = len,
	    .state_nodes_only = (how & 2) != 0,
	    .allow = (how & 4) ? allow_odd : NULL,
	};
	filtered = (how & 4) != 0;
	int err = 0;
	return bt_dht_new(&o, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t how = data[0];
	struct bt_dht *d = node(data + 1, size - 1, how);
	if (!d)
		return 0;
	struct bt_dht_stats st;
	bt_dht_stats(d, &st, 0);
	struct bt_benc a, b;
	bt_benc_init(&a);
	bt_benc_init(&b);
	CHECK(bt_dht_save(d, &a, 0) == 0);
	/* nodes never answered: the save holds the id only, and loads */
	struct bt_dht *d2 = node(a.buf, a.len, how & ~2u);
	CHECK(d2);
	struct bt_dht_stats st2;
	bt_dht_stats(d2, &st2, 0);
	CHECK(st2.state_loaded);
	CHECK(!memcmp(st2.id, st.id, 20));
	CHECK(bt_dht_save(d2, &b, 0) == 0);
	CHECK(a.len == b.len && !memcmp(a.buf, b.buf, a.len));
	/* the bootstrap from the loaded nodes, a few rounds */
	uint64_t now = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t next = bt_dht_periodic(d, now);
		CHECK(next >= now);
		now = next > now ? next : now + 1;
	}
	bt_benc_release(&a);
	bt_benc_release(&b);
	bt_dht_free(d2);
	bt_dht_free(d);
	return 0;
}
