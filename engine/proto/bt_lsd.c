/* bt_lsd — BEP 14 announce codec; see bt_lsd.h. */
#include "bt_lsd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pfs_hash.h"
#include "pfs_log.h"

static const char request_line[] = "BT-SEARCH * HTTP/1.1";

/* Trim spaces and tabs at both ends of [*S, *E). */
static void trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

static bool name_is(const char *s, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(s, name, n) == 0;
}

int bt_lsd_parse(const uint8_t *buf, size_t len, struct bt_lsd_msg *m,
		 char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (err && errlen)
		err[0] = '\0';
	if (len > BT_LSD_MAX_MSG) {
		pfs_errf(err, errlen, "lsd: datagram of %zu bytes (over %d)",
			 len, BT_LSD_MAX_MSG);
		return -EINVAL;
	}
	const char *p = (const char *)buf, *end = p + len;
	bool first = true, have_port = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *ls = p;
		p = nl ? nl + 1 : end;
		if (le > ls && le[-1] == '\r')
			le--;
		if (memchr(ls, '\0', (size_t)(le - ls))) {
			pfs_errf(err, errlen, "lsd: NUL in a line");
			return -EINVAL;
		}
		if (first) {
			first = false;
			if ((size_t)(le - ls) != strlen(request_line) ||
			    memcmp(ls, request_line, strlen(request_line))) {
				pfs_errf(err, errlen,
					 "lsd: not a "
					 "'BT-SEARCH * HTTP/1.1' announce");
				return -EINVAL;
			}
			continue;
		}
		if (le == ls)
			break; /* the blank line ends the headers */
		const char *colon = memchr(ls, ':', (size_t)(le - ls));
		if (!colon)
			continue; /* not a header: ignored */
		const char *ns = ls, *ne = colon, *vs = colon + 1, *ve = le;
		trim(&ns, &ne);
		trim(&vs, &ve);
		size_t nn = (size_t)(ne - ns), vn = (size_t)(ve - vs);
		if (name_is(ns, nn, "port")) {
			unsigned v = 0;
			bool ok = vn > 0 && vn <= 5;
			for (size_t i = 0; ok && i < vn; i++) {
				ok = vs[i] >= '0' && vs[i] <= '9';
				v = v * 10 + (unsigned)(vs[i] - '0');
			}
			if (ok && v > 0 && v <= 65535) {
				m->port = (uint16_t)v;
				have_port = true;
			}
		} else if (name_is(ns, nn, "infohash")) {
			char hex[41];
			uint8_t ih[20];
			if (vn != 40) {
				m->nskipped++;
				continue;
			}
			memcpy(hex, vs, 40);
			hex[40] = '\0';
			if (pfs_unhex(hex, ih, 20) < 0 ||
			    m->nhashes >= BT_LSD_MAX_HASHES) {
				m->nskipped++;
				continue;
			}
			bool dup = false;
			for (size_t i = 0; i < m->nhashes && !dup; i++)
				dup = !memcmp(m->hashes[i], ih, 20);
			if (!dup)
				memcpy(m->hashes[m->nhashes++], ih, 20);
		} else if (name_is(ns, nn, "cookie")) {
			if (vn > 0 && vn <= BT_LSD_MAX_COOKIE) {
				memcpy(m->cookie, vs, vn);
				m->cookie[vn] = '\0';
				m->has_cookie = true;
			}
		}
		/* Host and anything else: ignored */
	}
	if (first) {
		pfs_errf(err, errlen, "lsd: empty datagram");
		return -EINVAL;
	}
	if (!have_port) {
		pfs_errf(err, errlen, "lsd: no valid 'Port' header");
		return -EINVAL;
	}
	if (!m->nhashes) {
		pfs_errf(err, errlen, "lsd: no valid 'Infohash' header");
		return -EINVAL;
	}
	return 0;
}

bool bt_lsd_is_own(const struct bt_lsd_msg *m, const char *cookie)
{
	return cookie && m->has_cookie && !strcmp(m->cookie, cookie);
}

int bt_lsd_build(char *out, size_t cap, size_t *len, bool v6, uint16_t port,
		 const uint8_t (*hashes)[20], size_t n, const char *cookie)
{
	char head[128], tail[BT_LSD_MAX_COOKIE + 16];
	*len = 0;
	if (!n || !port)
		return -EINVAL;
	if (cookie) {
		size_t cl = strlen(cookie);
		if (!cl || cl > BT_LSD_MAX_COOKIE)
			return -EINVAL;
		for (size_t i = 0; i < cl; i++)
			if (cookie[i] <= ' ' || cookie[i] > '~')
				return -EINVAL;
	}
	int hl =
	    snprintf(head, sizeof(head), "%s\r\nHost: %s:%d\r\nPort: %u\r\n",
		     request_line, v6 ? "[" BT_LSD_GROUP6 "]" : BT_LSD_GROUP4,
		     BT_LSD_PORT, port);
	int tl = snprintf(tail, sizeof(tail), "%s%s%s\r\n\r\n",
			  cookie ? "cookie: " : "", cookie ? cookie : "",
			  cookie ? "\r\n" : "");
	size_t limit = cap < BT_LSD_MAX_SEND ? cap : BT_LSD_MAX_SEND;
	const size_t per = strlen("Infohash: ") + 40 + 2;
	if (hl < 0 || tl < 0 || (size_t)hl + per + (size_t)tl >= limit)
		return -EINVAL;
	size_t k = (limit - 1 - (size_t)hl - (size_t)tl) / per;
	if (k > n)
		k = n;
	size_t o = 0;
	memcpy(out, head, (size_t)hl);
	o += (size_t)hl;
	for (size_t i = 0; i < k; i++) {
		char hex[41];
		pfs_hex(hashes[i], 20, hex);
		o +=
		    (size_t)snprintf(out + o, cap - o, "Infohash: %s\r\n", hex);
	}
	memcpy(out + o, tail, (size_t)tl);
	o += (size_t)tl;
	out[o] = '\0';
	*len = o;
	return (int)k;
}
