/* libFuzzer target for bt_magnet_parse: the input is a magnet link (made a
 * C string). An accepted link must respect the documented bounds (counts,
 * printable name, usable peers, http/https/udp trackers) and must survive
 * bt_magnet_format -> bt_magnet_parse with every field the same, with the
 * key only when asked for. */
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bt_magnet.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static void check(const struct bt_magnet *m)
{
	CHECK(strlen(m->info_hash_hex) == 40);
	CHECK(m->ntrackers <= BT_MAGNET_MAX_TRACKERS);
	CHECK(m->npeers <= BT_MAGNET_MAX_PEERS);
	CHECK(m->nweb_seeds <= BT_MAGNET_MAX_WEB_SEEDS);
	if (m->name) {
		CHECK(strlen(m->name) <= BT_MAGNET_MAX_VALUE);
		for (const char *p = m->name; *p; p++)
			CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	for (size_t i = 0; i < m->npeers; i++) {
		const struct bt_magnet_peer *p = &m->peers[i];
		CHECK(p->port > 0);
		if (p->host)
			CHECK(p->addr.family == 0 && strlen(p->host) > 0 &&
			      strlen(p->host) <= BT_MAGNET_MAX_HOST);
		else
			CHECK(bt_addr_usable(&p->addr) &&
			      p->addr.port == p->port);
	}
	for (size_t i = 0; i < m->ntrackers; i++)
		CHECK(!strncasecmp(m->trackers[i], "http://", 7) ||
		      !strncasecmp(m->trackers[i], "https://", 8) ||
		      !strncasecmp(m->trackers[i], "udp://", 6));
}

static void same(const struct bt_magnet *a, const struct bt_magnet *b, bool key)
{
	CHECK(!memcmp(a->info_hash, b->info_hash, 20));
	CHECK((a->name == NULL) == (b->name == NULL));
	if (a->name)
		CHECK(!strcmp(a->name, b->name));
	CHECK(a->ntrackers == b->ntrackers);
	for (size_t i = 0; i < a->ntrackers; i++)
		CHECK(!strcmp(a->trackers[i], b->trackers[i]));
	CHECK(a->nweb_seeds == b->nweb_seeds);
	for (size_t i = 0; i < a->nweb_seeds; i++)
		CHECK(!strcmp(a->web_seeds[i], b->web_seeds[i]));
	CHECK(a->npeers == b->npeers);
	for (size_t i = 0; i < a->npeers; i++) {
		CHECK(a->peers[i].port == b->peers[i].port);
		CHECK(bt_addr_equal(&a->peers[i].addr, &b->peers[i].addr));
		CHECK((a->peers[i].host == NULL) == (b->peers[i].host == NULL));
		if (a->peers[i].host)
			CHECK(!strcmp(a->peers[i].host, b->peers[i].host));
	}
	CHECK(a->length == b->length);
	CHECK(b->has_key == (key && a->has_key));
	if (b->has_key)
		CHECK(!memcmp(a->key, b->key, BT_MAGNET_KEY_LEN));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct bt_magnet *m = NULL, *b = NULL;
	char err[256];
	int rc = bt_magnet_parse(s, &m, err, sizeof(err));
	CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc < 0) {
		CHECK(m == NULL && strlen(err) > 0 && !strchr(err, '\n'));
		free(s);
		return 0;
	}
	check(m);
	for (int key = 0; key < 2; key++) {
		char *f = NULL;
		if (bt_magnet_format(m, key, &f) < 0)
			continue;
		/* a format of a parsed link may exceed the length cap only
		 * when its input was near it; then the parse may refuse */
		if (bt_magnet_parse(f, &b, err, sizeof(err)) == 0) {
			same(m, b, key);
			bt_magnet_free(b);
		} else {
			CHECK(strlen(f) > BT_MAGNET_MAX_LEN / 2);
		}
		free(f);
	}
	bt_magnet_free(m);
	free(s);
	return 0;
}
