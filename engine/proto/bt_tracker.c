/* bt_tracker — the I/O-free half of the HTTP tracker client: announce URL
 * building (BEP 3 query, percent-encoded binary info-hash and peer id) and
 * reply parsing (BEP 3 dictionary peers, BEP 23 compact peers, BEP 7
 * peers6) on top of bt_bencode.
 *
 * A reply is untrusted input: it is decoded by the strict bencode decoder,
 * every field is type-checked, peer lists are capped at
 * BT_TRACKER_MAX_PEERS before anything is allocated, and text fields are
 * copied bounded and with control characters replaced, since they end up in
 * logs. The evhttp side lives in bt_tracker_io.c. */
#include "bt_tracker.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bt_bencode.h"
#include "pfs_log.h"

#define INTERVAL_DEFAULT 1800
#define INTERVAL_MIN 30
#define INTERVAL_MAX 86400
#define TEXT_MAX 1024 /* longest failure/warning text kept */
#define TRACKER_ID_MAX 256

/* ---- URL building ---- */

struct sbuf {
	char *p;
	size_t cap, len;
	bool over;
};

static void sb_putc(struct sbuf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		b->over = true;
		return;
	}
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->over)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->p[b->len] = '\0';
		b->over = true;
		return;
	}
	b->len += (size_t)n;
}

static bool unreserved(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
	       c == '~';
}

static void sb_escape(struct sbuf *b, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		if (unreserved(s[i])) {
			sb_putc(b, (char)s[i]);
		} else {
			sb_putc(b, '%');
			sb_putc(b, hex[s[i] >> 4]);
			sb_putc(b, hex[s[i] & 15]);
		}
	}
}

/* http:// or https:// with a non-empty host, printable ASCII, no
 * fragment (the query is appended, so a fragment would swallow it). */
static bool base_ok(const char *base)
{
	size_t skip;
	if (!strncasecmp(base, "http://", 7))
		skip = 7;
	else if (!strncasecmp(base, "https://", 8))
		skip = 8;
	else
		return false;
	char h = base[skip];
	if (h == '\0' || h == '/' || h == '?' || h == '#')
		return false;
	for (const char *c = base; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f ||
		    *c == '#')
			return false;
	return true;
}

int bt_tracker_url(char *out, size_t cap, const char *base,
		   const struct bt_announce *a)
{
	static const char *const events[] = {
		[BT_EVENT_STARTED] = "started",
		[BT_EVENT_STOPPED] = "stopped",
		[BT_EVENT_COMPLETED] = "completed",
	};
	if (!base || !base_ok(base))
		return -EINVAL;
	if (cap == 0)
		return -ENAMETOOLONG;
	struct sbuf b = {.p = out, .cap = cap};
	out[0] = '\0';

	sb_printf(&b, "%s", base);
	const char *q = strchr(base, '?');
	size_t blen = strlen(base);
	if (!q)
		sb_putc(&b, '?');
	else if (base[blen - 1] != '?' && base[blen - 1] != '&')
		sb_putc(&b, '&');
	sb_printf(&b, "info_hash=");
	sb_escape(&b, a->info_hash, sizeof(a->info_hash));
	sb_printf(&b, "&peer_id=");
	sb_escape(&b, a->peer_id, sizeof(a->peer_id));
	sb_printf(&b,
		  "&port=%u&uploaded=%" PRIu64 "&downloaded=%" PRIu64
		  "&left=%" PRIu64 "&compact=1",
		  (unsigned)a->port, a->uploaded, a->downloaded, a->left);
	if (a->numwant >= 0)
		sb_printf(&b, "&numwant=%d", a->numwant);
	sb_printf(&b, "&key=%08" PRIX32, a->key);
	if (a->event > BT_EVENT_NONE && a->event <= BT_EVENT_COMPLETED)
		sb_printf(&b, "&event=%s", events[a->event]);
	if (a->tracker_id && a->tracker_id[0]) {
		sb_printf(&b, "&trackerid=");
		sb_escape(&b, (const uint8_t *)a->tracker_id,
			  strlen(a->tracker_id));
	}
	if (b.over) {
		out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

/* ---- reply parsing ---- */

/* A NUL-terminated copy of at most MAX bytes of S, control characters
 * replaced by '?'. */
static char *dup_text(const struct bt_bval *s, size_t max)
{
	size_t n = s->s.len < max ? s->s.len : max;
	char *t = malloc(n + 1);
	if (!t)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s->s.p[i];
		t[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	t[n] = '\0';
	return t;
}

static bool port_ok(int64_t port)
{
	return port > 0 && port <= 65535;
}

/* Append a peer (IPv4 or IPv6 by LEN; v4-mapped addresses become IPv4 so
 * the same peer compares equal whichever way a tracker reports it) unless
 * it is unusable (port 0, unspecified, multicast, broadcast). */
static void add_peer(struct bt_tracker_reply *r, size_t cap, const uint8_t *ip,
		     size_t len, uint16_t port)
{
	struct bt_addr a;
	if (r->npeers >= cap || bt_addr_set(&a, ip, len, port) < 0 ||
	    !bt_addr_usable(&a))
		return;
	r->peers[r->npeers++] = a;
}

static void add_v4(struct bt_tracker_reply *r, size_t cap, const uint8_t ip[4],
		   uint16_t port)
{
	add_peer(r, cap, ip, 4, port);
}

static void add_v6(struct bt_tracker_reply *r, size_t cap,
		   const uint8_t ip[16], uint16_t port)
{
	add_peer(r, cap, ip, 16, port);
}

/* One {ip, port} dictionary: literal addresses only (a hostname would need
 * a blocking lookup), anything malformed skipped. */
static void add_dict_peer(struct bt_tracker_reply *r, size_t cap,
			  const struct bt_bval *item)
{
	if (item->type != BT_BDICT)
		return;
	const struct bt_bval *ip = bt_bdict_get_str(item, "ip");
	int64_t port;
	if (!ip || bt_bdict_get_int(item, "port", &port) < 0 || !port_ok(port))
		return;
	char text[INET6_ADDRSTRLEN + 1];
	if (ip->s.len == 0 || ip->s.len >= sizeof(text) ||
	    memchr(ip->s.p, '\0', ip->s.len))
		return;
	memcpy(text, ip->s.p, ip->s.len);
	text[ip->s.len] = '\0';
	uint8_t a[16];
	if (inet_pton(AF_INET, text, a) == 1)
		add_v4(r, cap, a, (uint16_t)port);
	else if (inet_pton(AF_INET6, text, a) == 1)
		add_v6(r, cap, a, (uint16_t)port);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Whitespace after the top-level dict is tolerated: some trackers end
 * their body with a newline. */
static bool only_space(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace(p[i]))
			return false;
	return true;
}

int bt_tracker_parse(const uint8_t *body, size_t len,
		     struct bt_tracker_reply *reply, char *err, size_t errlen)
{
	struct bt_bval *root = NULL;
	char berr[128] = "";
	size_t used = 0;
	int64_t v;
	int ret;

	memset(reply, 0, sizeof(*reply));
	reply->interval = INTERVAL_DEFAULT;
	reply->complete = -1;
	reply->incomplete = -1;
	if (err && errlen)
		err[0] = '\0';

	ret = bt_bdecode_prefix(body, len, &root, &used, berr, sizeof(berr));
	if (ret == -ENOMEM)
		goto out;
	if (ret < 0) {
		pfs_errf(err, errlen, "bad bencode: %s", berr);
		goto out;
	}
	ret = -EINVAL;
	if (!only_space(body + used, len - used)) {
		pfs_errf(err, errlen, "trailing bytes after the reply");
		goto out;
	}
	if (root->type != BT_BDICT) {
		pfs_errf(err, errlen, "reply is not a dictionary");
		goto out;
	}

	const struct bt_bval *fail = bt_bdict_get(root, "failure reason");
	if (fail) {
		if (fail->type != BT_BSTR) {
			pfs_errf(err, errlen, "'failure reason' is not a string");
			goto out;
		}
		ret = -ENOMEM;
		if (!(reply->failure = dup_text(fail, TEXT_MAX)))
			goto out;
		ret = 0;
		goto out;
	}

	/* informational fields: tolerated when of the wrong type */
	const struct bt_bval *warn = bt_bdict_get_str(root, "warning message");
	if (warn && !(reply->warning = dup_text(warn, TEXT_MAX))) {
		ret = -ENOMEM;
		goto out;
	}
	const struct bt_bval *tid = bt_bdict_get_str(root, "tracker id");
	if (tid && tid->s.len > 0 && tid->s.len <= TRACKER_ID_MAX &&
	    !memchr(tid->s.p, '\0', tid->s.len)) {
		if (!(reply->tracker_id = strndup((const char *)tid->s.p,
						  tid->s.len))) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (bt_bdict_get_int(root, "min interval", &v) == 0)
		reply->min_interval = v < 0		 ? 0
				      : v > INTERVAL_MAX ? INTERVAL_MAX
							 : (uint32_t)v;
	if (bt_bdict_get_int(root, "complete", &v) == 0 && v >= 0)
		reply->complete = v;
	if (bt_bdict_get_int(root, "incomplete", &v) == 0 && v >= 0)
		reply->incomplete = v;

	switch (bt_bdict_get_int(root, "interval", &v)) {
	case 0:
		reply->interval = v < INTERVAL_MIN   ? INTERVAL_MIN
				  : v > INTERVAL_MAX ? INTERVAL_MAX
						     : (uint32_t)v;
		break;
	case -ENOENT:
		break;
	default:
		pfs_errf(err, errlen, "'interval' is not an integer");
		goto out;
	}

	const struct bt_bval *peers = bt_bdict_get(root, "peers");
	const struct bt_bval *peers6 = bt_bdict_get(root, "peers6");
	size_t want = 0;
	if (peers) {
		if (peers->type == BT_BSTR) {
			if (peers->s.len % 6) {
				pfs_errf(err, errlen,
					"compact 'peers' length %zu is not a "
					"multiple of 6",
					peers->s.len);
				goto out;
			}
			want += peers->s.len / 6;
		} else if (peers->type == BT_BLIST) {
			want += peers->list.n;
		} else {
			pfs_errf(err, errlen,
				"'peers' is neither a string nor a list");
			goto out;
		}
	}
	if (peers6) {
		if (peers6->type != BT_BSTR) {
			pfs_errf(err, errlen, "'peers6' is not a string");
			goto out;
		}
		if (peers6->s.len % 18) {
			pfs_errf(err, errlen,
				"'peers6' length %zu is not a multiple of 18",
				peers6->s.len);
			goto out;
		}
		want += peers6->s.len / 18;
	}
	size_t cap = want < BT_TRACKER_MAX_PEERS ? want : BT_TRACKER_MAX_PEERS;
	if (cap) {
		reply->peers = calloc(cap, sizeof(*reply->peers));
		if (!reply->peers) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (peers && peers->type == BT_BSTR) {
		const uint8_t *p = peers->s.p;
		for (size_t i = 0; i + 6 <= peers->s.len && reply->npeers < cap;
		     i += 6)
			add_v4(reply, cap, p + i, get16(p + i + 4));
	} else if (peers) {
		for (size_t i = 0; i < peers->list.n && reply->npeers < cap; i++)
			add_dict_peer(reply, cap, &peers->list.items[i]);
	}
	if (peers6) {
		const uint8_t *p = peers6->s.p;
		for (size_t i = 0;
		     i + 18 <= peers6->s.len && reply->npeers < cap; i += 18)
			add_v6(reply, cap, p + i, get16(p + i + 16));
	}
	if (reply->npeers == 0) {
		free(reply->peers);
		reply->peers = NULL;
	}
	ret = 0;
out:
	bt_bval_free(root);
	if (ret < 0)
		bt_tracker_reply_release(reply);
	return ret;
}

void bt_tracker_reply_release(struct bt_tracker_reply *reply)
{
	if (!reply)
		return;
	free(reply->failure);
	free(reply->warning);
	free(reply->tracker_id);
	free(reply->peers);
	memset(reply, 0, sizeof(*reply));
	reply->complete = -1;
	reply->incomplete = -1;
}
