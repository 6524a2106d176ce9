/* libFuzzer target for bt_dht: one node (IPv4 and IPv6) fed a script of
 * datagrams from eight remote addresses, replies to its own queries (so the
 * fuzzer reaches the lookup and table code past the random transaction
 * ids), clock steps and API calls. No crash; the counts stay within their
 * caps (checked every 8 steps and at the end: the check walks every table),
 * periodic's deadline lies ahead, and everything the node sends is a valid
 * KRPC message that fits a datagram.
 *
 * Script records, one after another (a short record ends the script):
 *   op%5 == 0  datagram:   from(1) len(1) bytes(len)
 *   op%5 == 1  clock:      ms(2, big-endian, times 8)
 *   op%5 == 2  reply:      which(1) id(20) len(1) body(len) -- the node's
 *              recent query WHICH is answered from its address with
 *              "d1:rd2:id20:ID" BODY "e1:t..:TID1:y1:re"
 *   op%5 == 3  api:        what(1) arg(21)
 *   op%5 == 4  error:      which(1) -- an error reply to a recent query */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_dht.h"
#include "bt_krpc.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

#define RECENT	  16
#define MAX_DGRAM 1452 /* 1,500 bytes of IPv6 path minus headers */

struct sent {
	struct bt_addr to;
	uint8_t tid[BT_KRPC_TID_MAX];
	uint8_t tid_len;
};

static struct {
	struct sent recent[RECENT];
	unsigned nrecent, next;
	struct bt_krpc_msg m;
	struct bt_addr addrs[8];
} F;

static void f_send(void *arg, const struct bt_addr *to, const uint8_t *buf,
		   size_t len)
{
	(void)arg;
	CHECK(len <= MAX_DGRAM);
	CHECK(bt_krpc_parse(buf, len, &F.m) == 0);
	CHECK(bt_addr_usable(to));
	if (F.m.type != BT_KRPC_QUERY)
		return;
	struct sent *s = &F.recent[F.next];
	F.next = (F.next + 1) % RECENT;
	if (F.nrecent < RECENT)
		F.nrecent++;
	s->to = *to;
	memcpy(s->tid, F.m.tid, F.m.tid_len);
	s->tid_len = F.m.tid_len;
}

static void f_peers(void *arg, const uint8_t ih[20], const struct bt_addr *p,
		    size_t n)
{
	(void)arg;
	(void)ih;
	CHECK(n > 0 && n <= BT_KRPC_MAX_VALUES);
	for (size_t i = 0; i < n; i++)
		CHECK(bt_addr_usable(&p[i]));
}

static void f_done(void *arg, const struct bt_dht_search_result *r)
{
	(void)arg;
	CHECK(r->n_nodes <= BT_DHT_K);
	CHECK(r->queries <= BT_DHT_SEARCH_MAX_QUERIES);
	CHECK(r->peers <= BT_DHT_SEARCH_PEERS);
}

static void check(struct bt_dht *d, uint64_t now)
{
	struct bt_dht_stats st;
	bt_dht_stats(d, &st, now);
	for (int f = 0; f < 2; f++) {
		CHECK(st.buckets[f] >= 1 && st.buckets[f] <= 160);
		CHECK(st.good[f] + st.dubious[f] + st.bad[f] <=
		      st.buckets[f] * BT_DHT_K);
		CHECK(st.replacements[f] <= st.buckets[f] * BT_DHT_K);
	}
	CHECK(st.pending <= 256);
	CHECK(st.searches <= 4);
	CHECK(st.announces <= 4);
	CHECK(st.store_hashes <= 16);
	CHECK(st.store_peers <= 16 * 2 * 8);
}

static void reply(struct bt_dht *d, const uint8_t *id, const uint8_t *body,
		  size_t blen, unsigned which, bool error, uint64_t now)
{
	if (!F.nrecent)
		return;
	const struct sent *s = &F.recent[which % F.nrecent];
	uint8_t buf[512];
	size_t n = 0;
	if (error) {
		memcpy(buf, "d1:eli201e1:xe", 14);
		n = 14;
	} else {
		memcpy(buf, "d1:rd2:id20:", 12);
		memcpy(buf + 12, id, 20);
		n = 32;
		memcpy(buf + n, body, blen);
		n += blen;
		buf[n++] = 'e';
	}
	n += (size_t)snprintf((char *)buf + n, sizeof(buf) - n,
			      "1:t%u:", s->tid_len);
	memcpy(buf + n, s->tid, s->tid_len);
	n += s->tid_len;
	memcpy(buf + n, error ? "1:y1:ee" : "1:y1:re", 7);
	n += 7;
	bt_dht_input(d, buf, n, &s->to, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&F, 0, sizeof(F));
	for (int i = 0; i < 6; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.0.0.%d:%d", i + 1, 6881 + i);
		bt_addr_parse(s, &F.addrs[i]);
	}
	bt_addr_parse("[2001:db8::1]:6881", &F.addrs[6]);
	bt_addr_parse("[2001:db8::2]:6882", &F.addrs[7]);
	struct bt_dht_opts o = {
	    .seed = 1,
	    .families = BT_DHT_V4 | BT_DHT_V6,
	    .send = f_send,
	    .on_peers = f_peers,
	    .on_done = f_done,
	    .max_searches = 4,
	    .max_announces = 4,
	    .store_hashes = 16,
	    .store_peers = 8,
	    .rate = 50,
	    .rate_per_ip = 5,
	};
	int err = 0;
	struct bt_dht *d = bt_dht_new(&o, &err);
	CHECK(d);
	uint64_t now = 1000;
	bt_dht_add_bootstrap(d, &F.addrs[0], now);
	bt_dht_add_bootstrap(d, &F.addrs[6], now);
	bt_dht_periodic(d, now);

	size_t i = 0;
	unsigned ops = 0;
	while (i < size) {
		uint8_t op = data[i++] % 5;
		if (op == 0) {
			if (i + 2 > size)
				break;
			const struct bt_addr *from = &F.addrs[data[i] % 8];
			size_t len = data[i + 1];
			i += 2;
			if (i + len > size)
				len = size - i;
			bt_dht_input(d, data + i, len, from, now);
			i += len;
		} else if (op == 1) {
			if (i + 2 > size)
				break;
			now += 8u * (unsigned)(data[i] << 8 | data[i + 1]);
			i += 2;
			if (now >= bt_dht_deadline(d)) {
				uint64_t next = bt_dht_periodic(d, now);
				CHECK(next > now);
			}
		} else if (op == 2) {
			if (i + 22 > size)
				break;
			unsigned which = data[i];
			const uint8_t *id = data + i + 1;
			size_t len = data[i + 21];
			i += 22;
			if (len > 400)
				len = 400;
			if (i + len > size)
				len = size - i;
			reply(d, id, data + i, len, which, false, now);
			i += len;
		} else if (op == 3) {
			if (i + 22 > size)
				break;
			uint8_t what = data[i];
			const uint8_t *arg = data + i + 1;
			i += 22;
			int fam = arg[20] & 1 ? BT_DHT_V6 : BT_DHT_V4;
			switch (what % 6) {
			case 0:
				bt_dht_search(d, arg, BT_DHT_FIND_NODE, fam,
					      now);
				break;
			case 1:
				bt_dht_search(d, arg, BT_DHT_GET_PEERS, fam,
					      now);
				break;
			case 2:
				bt_dht_announce(d, arg, (uint16_t)(arg[20] + 1),
						arg[0] & 3, now);
				break;
			case 3:
				bt_dht_unannounce(d, arg);
				break;
			case 4:
				bt_dht_ping(d, &F.addrs[arg[0] % 8], now);
				break;
			default: {
				/* the saved state is canonical bencode */
				struct bt_benc b;
				bt_benc_init(&b);
				CHECK(bt_dht_save(d, &b, now) == 0);
				struct bt_bval *v = NULL;
				CHECK(bt_bdecode(b.buf, b.len, &v, NULL, 0) ==
				      0);
				bt_bval_free(v);
				bt_benc_release(&b);
				break;
			}
			}
		} else {
			if (i + 1 > size)
				break;
			reply(d, NULL, NULL, 0, data[i++], true, now);
		}
		if (++ops % 8 == 0)
			check(d, now);
	}
	check(d, now);
	bt_dht_free(d);
	return 0;
}
