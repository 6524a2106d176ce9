/* libFuzzer target for the BEP 15 codec and client: the input is a
 * datagram from a hostile UDP tracker. It goes through every reply parser
 * (connect, announce as IPv4 and as IPv6, scrape, error), checking the
 * documented invariants of a success; then, with its transaction id
 * patched to the live one, into a bt_udptrk_client waiting for a connect
 * reply and into one waiting for an announce reply (the state machine must
 * survive anything with the right id); and, as text, through
 * bt_udptrk_url_parse. The seeds are real opentracker replies. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_udptrk.h"
#include "bt_udptrk_client.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static void check_reply(const struct bt_tracker_reply *r, size_t len,
			size_t entry, size_t cap)
{
	CHECK(r->interval >= 30 && r->interval <= 86400);
	CHECK(r->complete >= -1 && r->incomplete >= -1);
	CHECK(r->npeers <= cap && r->npeers <= (len - 20) / entry);
	CHECK((r->npeers == 0) == (r->peers == NULL));
	CHECK(r->failure == NULL);
	for (size_t i = 0; i < r->npeers; i++) {
		CHECK(bt_addr_usable(&r->peers[i]));
		CHECK(entry == 18 || r->peers[i].family == BT_ADDR_V4);
	}
}

static void parsers(const uint8_t *data, size_t size)
{
	char err[128];
	uint64_t cid;
	int e = bt_udptrk_parse_connect(data, size, &cid, err, sizeof(err));
	CHECK(e == 0 || e == -EPROTO);
	CHECK(e == 0 || err[0]);

	static const struct {
		int family;
		size_t entry, cap;
	} fam[] = {{BT_ADDR_V4, 6, 0}, {BT_ADDR_V6, 18, 0}, {BT_ADDR_V4, 6, 3}};
	for (size_t i = 0; i < 3; i++) {
		struct bt_tracker_reply r;
		e = bt_udptrk_parse_announce(data, size, fam[i].family,
					     fam[i].cap, &r, err, sizeof(err));
		CHECK(e == 0 || e == -EPROTO || e == -ENOMEM);
		if (e == 0) {
			check_reply(&r, size, fam[i].entry,
				    fam[i].cap ? fam[i].cap
					       : BT_TRACKER_MAX_PEERS);
			bt_tracker_reply_release(&r);
		} else {
			CHECK(r.peers == NULL && r.npeers == 0);
		}
	}

	struct bt_udptrk_scrape_entry se[BT_UDPTRK_SCRAPE_MAX];
	e = bt_udptrk_parse_scrape(data, size, se, BT_UDPTRK_SCRAPE_MAX, err,
				   sizeof(err));
	CHECK(e == -EPROTO || (e >= 1 && e <= BT_UDPTRK_SCRAPE_MAX));
	e = bt_udptrk_parse_scrape(data, size, se, 1, err, sizeof(err));
	CHECK(e == -EPROTO || e == 1);

	char *msg;
	e = bt_udptrk_parse_error(data, size, &msg, err, sizeof(err));
	CHECK(e == 0 || e == -EPROTO || e == -ENOMEM);
	if (e == 0) {
		size_t n = strlen(msg);
		CHECK(n <= BT_UDPTRK_ERROR_MAX && n + 8 <= size);
		for (size_t i = 0; i < n; i++)
			CHECK((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f);
		free(msg);
	} else {
		CHECK(msg == NULL);
	}
}

/* ---- the client ---- */

struct sink {
	uint8_t last[BT_UDPTRK_REQ_MAX];
	size_t len;
	int calls;
};

static int sink_send(void *arg, const struct bt_addr *to, const uint8_t *buf,
		     size_t len)
{
	struct sink *s = arg;
	(void)to;
	CHECK(len <= sizeof(s->last));
	memcpy(s->last, buf, len);
	s->len = len;
	return 0;
}

static void done(int err, const char *why, const struct bt_tracker_reply *r,
		 void *arg)
{
	struct sink *s = arg;
	s->calls++;
	CHECK((err == 0) == (r != NULL));
	CHECK(err == 0 || (why && why[0]));
	if (r)
		CHECK(r->npeers <= BT_TRACKER_MAX_PEERS);
}

static uint32_t tid_of(const uint8_t *p)
{
	return (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 |
	       (uint32_t)p[14] << 8 | p[15];
}

static void client(const uint8_t *data, size_t size, bool announce_stage)
{
	if (size < 8 || size > 65536)
		return;
	struct sink s = {.len = 0};
	struct bt_udptrk_client_cfg cfg;
	bt_udptrk_client_defaults(&cfg);
	cfg.send_fn = sink_send;
	cfg.send_arg = &s;
	cfg.seed = 1;
	struct bt_udptrk_client *c = bt_udptrk_client_new(&cfg, NULL);
	CHECK(c);
	struct bt_addr trk;
	CHECK(bt_addr_parse("127.0.0.1:6969", &trk) == 0);
	struct bt_announce a;
	memset(&a, 0, sizeof(a));
	a.event = BT_EVENT_STARTED;
	CHECK(bt_udptrk_client_announce(c, &trk, "/a", 2, &a, 0, 0, done, &s,
					NULL));
	uint8_t *dg = malloc(size);
	CHECK(dg);
	memcpy(dg, data, size);
	if (announce_stage) {
		uint8_t conn[16] = {0};
		memcpy(conn + 4, s.last + 12, 4);
		conn[15] = 7;
		CHECK(bt_udptrk_client_input(c, conn, sizeof(conn), &trk, 1) ==
		      0);
		CHECK(s.len >= 98);
	}
	uint32_t tid = tid_of(s.last);
	dg[4] = (uint8_t)(tid >> 24);
	dg[5] = (uint8_t)(tid >> 16);
	dg[6] = (uint8_t)(tid >> 8);
	dg[7] = (uint8_t)tid;
	(void)bt_udptrk_client_input(c, dg, size, &trk, 2);
	/* whatever it did, the request ends in bounded time */
	uint64_t t = 2;
	for (int i = 0; i < 8; i++) {
		uint64_t next = bt_udptrk_client_periodic(c, t);
		if (next == UINT64_MAX)
			break;
		t = next;
	}
	CHECK(bt_udptrk_client_deadline(c) == UINT64_MAX);
	CHECK(s.calls == 1);
	struct bt_udptrk_client_stats st;
	bt_udptrk_client_stats(c, &st);
	CHECK(st.live == 0);
	bt_udptrk_client_free(c);
	free(dg);
}

static void url(const uint8_t *data, size_t size)
{
	char s[BT_UDPTRK_URLDATA_MAX + 64];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, n);
	s[n] = '\0';
	char host[64];
	uint16_t port = 0;
	const char *d = NULL;
	size_t dl = 0;
	int e = bt_udptrk_url_parse(s, host, sizeof(host), &port, &d, &dl);
	CHECK(e == 0 || e == -EINVAL || e == -ENAMETOOLONG);
	if (e == 0) {
		CHECK(host[0] && port > 0);
		CHECK(d >= s && d + dl <= s + strlen(s));
		CHECK(dl <= BT_UDPTRK_URLDATA_MAX);
		for (const char *c = host; *c; c++)
			CHECK(*c > 0x20 && *c < 0x7f && *c != '/');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parsers(data, size);
	client(data, size, false);
	client(data, size, true);
	url(data, size);
	return 0;
}
