/* bt_udptrk — the BEP 15 UDP tracker codec (and BEP 41 URL data); see
 * bt_udptrk.h.
 *
 * Every field is big-endian. Replies are checked for their exact shape
 * before anything is allocated: the peer part of an announce reply must be
 * whole entries of the datagram's family, a scrape reply whole 12-byte
 * entries, and counts are capped by the caller's limits, so a hostile
 * datagram costs at most one bounded allocation. */
#include "bt_udptrk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pfs_log.h"

#define INTERVAL_MIN 30
#define INTERVAL_MAX 86400

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- URLs ---- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool v6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '.';
}

int bt_udptrk_url_parse(const char *url, char *host, size_t hostcap,
			uint16_t *port, const char **url_data, size_t *url_len)
{
	if (!url || strncasecmp(url, "udp://", 6) != 0)
		return -EINVAL;
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return -EINVAL;
	const char *h = url + 6, *he;
	const char *after; /* just past the host */
	if (*h == '[') {
		h++;
		he = h;
		while (v6_char(*he))
			he++;
		if (*he != ']' || he == h)
			return -EINVAL;
		after = he + 1;
	} else {
		he = h;
		while (name_char(*he))
			he++;
		if (he == h)
			return -EINVAL;
		after = he;
	}
	if (*after != ':')
		return -EINVAL; /* BEP 15 has no default port */
	const char *p = after + 1;
	unsigned long v = 0;
	size_t nd = 0;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -EINVAL;
		p++;
		nd++;
	}
	if (nd == 0 || v == 0)
		return -EINVAL;
	if (*p && *p != '/' && *p != '?' && *p != '#')
		return -EINVAL;
	const char *frag = strchr(p, '#');
	size_t ulen = frag ? (size_t)(frag - p) : strlen(p);
	if (ulen > BT_UDPTRK_URLDATA_MAX)
		return -EINVAL;
	size_t hl = (size_t)(he - h);
	if (hl + 1 > hostcap)
		return -ENAMETOOLONG;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	if (url_data)
		*url_data = p;
	if (url_len)
		*url_len = ulen;
	return 0;
}

/* ---- requests ---- */

uint32_t bt_udptrk_event(enum bt_tracker_event e)
{
	switch (e) {
	case BT_EVENT_COMPLETED:
		return 1;
	case BT_EVENT_STARTED:
		return 2;
	case BT_EVENT_STOPPED:
		return 3;
	case BT_EVENT_NONE:
	default:
		return 0;
	}
}

void bt_udptrk_connect_req(uint8_t out[BT_UDPTRK_CONNECT_LEN], uint32_t tid)
{
	put64(out, BT_UDPTRK_PROTOCOL_ID);
	put32(out + 8, BT_UDPTRK_CONNECT);
	put32(out + 12, tid);
}

int bt_udptrk_announce_req(uint8_t *out, size_t cap, uint64_t conn_id,
			   uint32_t tid, const struct bt_announce *a,
			   const char *url_data, size_t url_len)
{
	if (!url_data)
		url_len = 0;
	if (url_len > BT_UDPTRK_URLDATA_MAX)
		return -EINVAL;
	size_t need = BT_UDPTRK_ANNOUNCE_LEN;
	if (url_len)
		need += url_len + 2 * ((url_len + 254) / 255) + 1;
	if (cap < need)
		return -ENOBUFS;
	put64(out, conn_id);
	put32(out + 8, BT_UDPTRK_ANNOUNCE);
	put32(out + 12, tid);
	memcpy(out + 16, a->info_hash, 20);
	memcpy(out + 36, a->peer_id, 20);
	put64(out + 56, a->downloaded);
	put64(out + 64, a->left);
	put64(out + 72, a->uploaded);
	put32(out + 80, bt_udptrk_event(a->event));
	put32(out + 84, 0); /* IP: the sender's address */
	put32(out + 88, a->key);
	put32(out + 92, a->numwant < 0 ? UINT32_MAX : (uint32_t)a->numwant);
	put16(out + 96, a->port);
	size_t n = BT_UDPTRK_ANNOUNCE_LEN;
	for (size_t off = 0; off < url_len;) {
		size_t chunk = url_len - off < 255 ? url_len - off : 255;
		out[n++] = BT_UDPTRK_OPT_URLDATA;
		out[n++] = (uint8_t)chunk;
		memcpy(out + n, url_data + off, chunk);
		n += chunk;
		off += chunk;
	}
	if (url_len)
		out[n++] = BT_UDPTRK_OPT_END;
	return (int)n;
}

int bt_udptrk_scrape_req(uint8_t *out, size_t cap, uint64_t conn_id,
			 uint32_t tid, const uint8_t *hashes, size_t n)
{
	if (n == 0 || n > BT_UDPTRK_SCRAPE_MAX)
		return -EINVAL;
	size_t need = BT_UDPTRK_SCRAPE_HDR + 20 * n;
	if (cap < need)
		return -ENOBUFS;
	put64(out, conn_id);
	put32(out + 8, BT_UDPTRK_SCRAPE);
	put32(out + 12, tid);
	memcpy(out + 16, hashes, 20 * n);
	return (int)need;
}

/* ---- replies ---- */

bool bt_udptrk_is_reply(const uint8_t *p, size_t len)
{
	return len >= BT_UDPTRK_HEADER_LEN && p[0] == 0 && p[1] == 0 &&
	       p[2] == 0 && p[3] <= BT_UDPTRK_ERROR;
}

int bt_udptrk_header(const uint8_t *p, size_t len, uint32_t *action,
		     uint32_t *tid)
{
	if (!bt_udptrk_is_reply(p, len))
		return -EPROTO;
	*action = get32(p);
	*tid = get32(p + 4);
	return 0;
}

static int expect_action(const uint8_t *p, size_t len, uint32_t action,
			 size_t min, const char *what, char *err, size_t errlen)
{
	if (len < BT_UDPTRK_HEADER_LEN || get32(p) != action) {
		pfs_errf(err, errlen, "not a %s reply", what);
		return -EPROTO;
	}
	if (len < min) {
		pfs_errf(err, errlen, "%s reply of %zu bytes (at least %zu)",
			 what, len, min);
		return -EPROTO;
	}
	return 0;
}

int bt_udptrk_parse_connect(const uint8_t *p, size_t len, uint64_t *conn_id,
			    char *err, size_t errlen)
{
	int rc = expect_action(p, len, BT_UDPTRK_CONNECT, BT_UDPTRK_CONNECT_LEN,
			       "connect", err, errlen);
	if (rc < 0)
		return rc;
	*conn_id = get64(p + 8);
	return 0;
}

static uint32_t clamp_interval(uint32_t raw)
{
	int32_t v = (int32_t)raw;
	if (v < INTERVAL_MIN)
		return INTERVAL_MIN;
	if (v > INTERVAL_MAX)
		return INTERVAL_MAX;
	return (uint32_t)v;
}

static int64_t count_or_absent(uint32_t raw)
{
	int32_t v = (int32_t)raw;
	return v < 0 ? -1 : v;
}

int bt_udptrk_parse_announce(const uint8_t *p, size_t len, int family,
			     size_t max_peers, struct bt_tracker_reply *reply,
			     char *err, size_t errlen)
{
	memset(reply, 0, sizeof(*reply));
	reply->complete = -1;
	reply->incomplete = -1;
	reply->interval = 1800;
	if (err && errlen)
		err[0] = '\0';
	size_t entry = family == BT_ADDR_V4   ? BT_COMPACT4_LEN
		       : family == BT_ADDR_V6 ? BT_COMPACT6_LEN
					      : 0;
	if (!entry) {
		pfs_errf(err, errlen, "no address family for the peers");
		return -EPROTO;
	}
	/* opentracker answers an announce for a torrent it does not serve
	 * with the bare 8-byte header: say so rather than "too short" */
	if (len == BT_UDPTRK_HEADER_LEN && get32(p) == BT_UDPTRK_ANNOUNCE) {
		pfs_errf(err, errlen,
			 "empty announce reply (the tracker does not serve "
			 "this torrent?)");
		return -EPROTO;
	}
	int rc = expect_action(p, len, BT_UDPTRK_ANNOUNCE,
			       BT_UDPTRK_ANNOUNCE_HDR, "announce", err, errlen);
	if (rc < 0)
		return rc;
	size_t plen = len - BT_UDPTRK_ANNOUNCE_HDR;
	if (plen % entry) {
		pfs_errf(err, errlen,
			 "announce reply's peers are %zu bytes, not a multiple "
			 "of %zu",
			 plen, entry);
		return -EPROTO;
	}
	reply->interval = clamp_interval(get32(p + 8));
	reply->incomplete = count_or_absent(get32(p + 12));
	reply->complete = count_or_absent(get32(p + 16));
	if (max_peers == 0 || max_peers > BT_TRACKER_MAX_PEERS)
		max_peers = BT_TRACKER_MAX_PEERS;
	size_t n = plen / entry;
	size_t cap = n < max_peers ? n : max_peers;
	if (cap == 0)
		return 0;
	if (!(reply->peers = calloc(cap, sizeof(*reply->peers)))) {
		bt_tracker_reply_release(reply);
		return -ENOMEM;
	}
	const uint8_t *q = p + BT_UDPTRK_ANNOUNCE_HDR;
	for (size_t i = 0; i < n && reply->npeers < cap; i++, q += entry) {
		struct bt_addr a;
		if (bt_addr_set(&a, q, entry - 2, get16(q + entry - 2)) == 0 &&
		    bt_addr_usable(&a))
			reply->peers[reply->npeers++] = a;
	}
	if (reply->npeers == 0) {
		free(reply->peers);
		reply->peers = NULL;
	}
	return 0;
}

int bt_udptrk_parse_scrape(const uint8_t *p, size_t len,
			   struct bt_udptrk_scrape_entry *out, size_t max,
			   char *err, size_t errlen)
{
	int rc =
	    expect_action(p, len, BT_UDPTRK_SCRAPE, BT_UDPTRK_HEADER_LEN + 12,
			  "scrape", err, errlen);
	if (rc < 0)
		return rc;
	size_t body = len - BT_UDPTRK_HEADER_LEN;
	if (body % 12) {
		pfs_errf(err, errlen,
			 "scrape reply of %zu bytes is not whole entries", len);
		return -EPROTO;
	}
	size_t n = body / 12;
	if (n > max) {
		pfs_errf(err, errlen,
			 "scrape reply has %zu entries for %zu asked", n, max);
		return -EPROTO;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *q = p + BT_UDPTRK_HEADER_LEN + 12 * i;
		out[i].seeders = get32(q);
		out[i].completed = get32(q + 4);
		out[i].leechers = get32(q + 8);
	}
	return (int)n;
}

int bt_udptrk_parse_error(const uint8_t *p, size_t len, char **msg, char *err,
			  size_t errlen)
{
	*msg = NULL;
	int rc = expect_action(p, len, BT_UDPTRK_ERROR, BT_UDPTRK_HEADER_LEN,
			       "error", err, errlen);
	if (rc < 0)
		return rc;
	const uint8_t *s = p + BT_UDPTRK_HEADER_LEN;
	size_t n = len - BT_UDPTRK_HEADER_LEN;
	/* some trackers send a C string: its NUL (and what follows) is not
	 * text */
	const uint8_t *nul = memchr(s, '\0', n);
	if (nul)
		n = (size_t)(nul - s);
	if (n > BT_UDPTRK_ERROR_MAX)
		n = BT_UDPTRK_ERROR_MAX;
	char *t = malloc(n + 1);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		t[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
	t[n] = '\0';
	*msg = t;
	return 0;
}
