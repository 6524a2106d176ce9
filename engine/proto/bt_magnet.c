/* bt_magnet — magnet link parser and builder; see bt_magnet.h. */
#include "bt_magnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pfs_hash.h"
#include "pfs_log.h"
#include "pfs_text.h"

/* ---- small helpers ------------------------------------------------------ */

static bool prefix_ci(const char *s, size_t n, const char *pre)
{
	size_t k = strlen(pre);
	return n >= k && strncasecmp(s, pre, k) == 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A printable, shortened copy of hostile text for an error message. */
static const char *shown(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s);
	if (n > 60) {
		pfs_text_clean(s, 57, buf, cap - 3);
		strcat(buf, "...");
	} else {
		pfs_text_clean(s, n, buf, cap);
	}
	return buf;
}

/* Percent-decode N bytes of IN ('+' is a space) into OUT (CAP bytes).
 * Returns the length, -E2BIG when it does not fit, -EINVAL on a bad escape
 * or a decoded NUL. */
static long pct_decode(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -EINVAL;
			int h = hexval(in[i + 1]),
			    l = h < 0 ? -1 : hexval(in[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			c = h << 4 | l;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0)
			return -EINVAL;
		if (o + 1 >= cap)
			return -E2BIG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

/* RFC 4648 base32, 32 characters into 20 bytes. */
static int base32_20(const char *s, uint8_t out[20])
{
	uint64_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (int i = 0; i < 32; i++) {
		int c = s[i], v;
		if (c >= 'a' && c <= 'z')
			v = c - 'a';
		else if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return -EINVAL;
		acc = acc << 5 | (uint64_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o == 20 ? 0 : -EINVAL;
}

static int push_str(char ***v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], s))
			return 0;
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* A URL we could use: SCHEMES match (case-insensitive), something after
 * "://", and no space or control bytes. */
static bool url_ok(const char *s, bool udp)
{
	size_t n = strlen(s), k;
	if (prefix_ci(s, n, "http://"))
		k = 7;
	else if (prefix_ci(s, n, "https://"))
		k = 8;
	else if (udp && prefix_ci(s, n, "udp://"))
		k = 6;
	else
		return false;
	if (n == k)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool host_ok(const char *h, size_t n)
{
	if (n == 0 || n > BT_MAGNET_MAX_HOST || h[0] == '-' || h[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* "IP:PORT", "[V6]:PORT" or "HOST:PORT" (an IPv6 address needs its
 * brackets: "::1:6881" is ambiguous). */
static int parse_peer(const char *s, struct bt_magnet_peer *p, char *err,
		      size_t errlen)
{
	char b[80];
	memset(p, 0, sizeof(*p));
	const char *colon = strrchr(s, ':');
	const char *close = s[0] == '[' ? strchr(s, ']') : NULL;
	if (!colon || (s[0] == '[' && (!close || close + 1 != colon)) ||
	    (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)))) {
		pfs_errf(err, errlen,
			 "'x.pe' peer '%s' is not IP:PORT, [IPv6]:PORT or "
			 "HOST:PORT",
			 shown(s, b, sizeof(b)));
		return -EINVAL;
	}
	const char *ps = colon + 1;
	size_t pl = strlen(ps);
	unsigned long port = 0;
	bool digits = pl > 0 && pl <= 5;
	for (size_t i = 0; digits && i < pl; i++) {
		digits = ps[i] >= '0' && ps[i] <= '9';
		port = port * 10 + (unsigned long)(ps[i] - '0');
	}
	if (!digits || port == 0 || port > 65535) {
		pfs_errf(err, errlen, "'x.pe' peer '%s': bad port",
			 shown(s, b, sizeof(b)));
		return -EINVAL;
	}
	if (bt_addr_parse(s, &p->addr) == 0) {
		if (!bt_addr_usable(&p->addr)) {
			pfs_errf(err, errlen,
				 "'x.pe' peer '%s' is not a usable address",
				 shown(s, b, sizeof(b)));
			return -EINVAL;
		}
		p->port = p->addr.port;
		return 0;
	}
	memset(&p->addr, 0, sizeof(p->addr));
	size_t hn = (size_t)(colon - s);
	if (s[0] == '[' || !host_ok(s, hn)) {
		pfs_errf(err, errlen, "'x.pe' peer '%s': bad %s",
			 shown(s, b, sizeof(b)),
			 s[0] == '[' ? "IPv6 address" : "host name");
		return -EINVAL;
	}
	if (!(p->host = strndup(s, hn)))
		return -ENOMEM;
	p->port = (uint16_t)port;
	return 0;
}

static bool peer_equal(const struct bt_magnet_peer *a,
		       const struct bt_magnet_peer *b)
{
	if (a->host || b->host)
		return a->host && b->host && a->port == b->port &&
		       !strcasecmp(a->host, b->host);
	return bt_addr_equal(&a->addr, &b->addr);
}

/* ---- parse --------------------------------------------------------------- */

bool bt_magnet_is_link(const char *s)
{
	return s && strncasecmp(s, "magnet:", 7) == 0;
}

void bt_magnet_free(struct bt_magnet *m)
{
	if (!m)
		return;
	free(m->name);
	for (size_t i = 0; i < m->ntrackers; i++)
		free(m->trackers[i]);
	free(m->trackers);
	for (size_t i = 0; i < m->npeers; i++)
		free(m->peers[i].host);
	free(m->peers);
	for (size_t i = 0; i < m->nweb_seeds; i++)
		free(m->web_seeds[i]);
	free(m->web_seeds);
	/* the key is a secret: do not leave it in freed memory */
	memset(m->key, 0, sizeof(m->key));
	free(m);
}

struct pstate {
	struct bt_magnet *m;
	bool have_btih, have_btmh, have_key;
	size_t nparams;
};

static int on_xt(struct pstate *st, const char *v, char *err, size_t errlen)
{
	size_t n = strlen(v);
	uint8_t ih[20];
	char b[80];
	if (prefix_ci(v, n, "urn:btmh:")) {
		st->have_btmh = true;
		return 0;
	}
	if (!prefix_ci(v, n, "urn:btih:"))
		return 0; /* urn:sha1:, urn:ed2k: ...: not ours */
	const char *h = v + 9;
	size_t hl = n - 9;
	int rc = -EINVAL;
	if (hl == 40)
		rc = pfs_unhex(h, ih, 20);
	else if (hl == 32)
		rc = base32_20(h, ih);
	if (rc < 0) {
		pfs_errf(err, errlen,
			 "'xt' info-hash '%s' is not 40 hex digits or 32 "
			 "base32 characters",
			 shown(h, b, sizeof(b)));
		return -EINVAL;
	}
	if (st->have_btih && memcmp(ih, st->m->info_hash, 20)) {
		pfs_errf(err, errlen, "two different 'xt' info-hashes");
		return -EINVAL;
	}
	memcpy(st->m->info_hash, ih, 20);
	st->have_btih = true;
	return 0;
}

static int on_param(struct pstate *st, const char *key, size_t klen,
		    const char *v, char *err, size_t errlen)
{
	struct bt_magnet *m = st->m;
	char b[80];
	/* "xt.1", "tr.2": the suffix only numbers repeated keys */
	size_t k = klen;
	while (k > 0 && key[k - 1] >= '0' && key[k - 1] <= '9')
		k--;
	if (k > 0 && k < klen && key[k - 1] == '.')
		klen = k - 1;
#define KEY(s) (klen == strlen(s) && !strncmp(key, s, klen))
	if (KEY("xt"))
		return on_xt(st, v, err, errlen);
	if (KEY("dn")) {
		size_t n = strlen(v);
		free(m->name);
		if (!(m->name = malloc(n + 1)))
			return -ENOMEM;
		pfs_text_clean(v, n, m->name, n + 1);
		return 0;
	}
	if (KEY("tr")) {
		if (!url_ok(v, true)) {
			m->nignored++;
			return 0;
		}
		if (m->ntrackers >= BT_MAGNET_MAX_TRACKERS) {
			pfs_errf(err, errlen, "more than %d 'tr' trackers",
				 BT_MAGNET_MAX_TRACKERS);
			return -EINVAL;
		}
		return push_str(&m->trackers, &m->ntrackers, v);
	}
	if (KEY("ws")) {
		if (!url_ok(v, false)) {
			m->nignored++;
			return 0;
		}
		if (m->nweb_seeds >= BT_MAGNET_MAX_WEB_SEEDS) {
			pfs_errf(err, errlen, "more than %d 'ws' web seeds",
				 BT_MAGNET_MAX_WEB_SEEDS);
			return -EINVAL;
		}
		return push_str(&m->web_seeds, &m->nweb_seeds, v);
	}
	if (KEY("x.pe")) {
		struct bt_magnet_peer p;
		int rc = parse_peer(v, &p, err, errlen);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < m->npeers; i++) {
			if (peer_equal(&m->peers[i], &p)) {
				free(p.host);
				return 0;
			}
		}
		if (m->npeers >= BT_MAGNET_MAX_PEERS) {
			free(p.host);
			pfs_errf(err, errlen, "more than %d 'x.pe' peers",
				 BT_MAGNET_MAX_PEERS);
			return -EINVAL;
		}
		struct bt_magnet_peer *np =
		    realloc(m->peers, (m->npeers + 1) * sizeof(*np));
		if (!np) {
			free(p.host);
			return -ENOMEM;
		}
		m->peers = np;
		np[m->npeers++] = p;
		return 0;
	}
	if (KEY("xl")) {
		size_t n = strlen(v);
		uint64_t x = 0;
		bool ok = n > 0 && n <= 19;
		for (size_t i = 0; ok && i < n; i++) {
			ok = v[i] >= '0' && v[i] <= '9';
			x = x * 10 + (uint64_t)(v[i] - '0');
		}
		if (!ok) {
			pfs_errf(err, errlen,
				 "'xl' length '%s' is not a number",
				 shown(v, b, sizeof(b)));
			return -EINVAL;
		}
		m->length = x;
		return 0;
	}
	if (KEY("x.p2pfs.key")) {
		uint8_t key[BT_MAGNET_KEY_LEN];
		/* never show the value: it is (meant to be) a secret */
		if (strlen(v) != 2 * BT_MAGNET_KEY_LEN ||
		    pfs_unhex(v, key, sizeof(key)) < 0) {
			pfs_errf(err, errlen,
				 "'x.p2pfs.key' is not %d hex digits",
				 2 * BT_MAGNET_KEY_LEN);
			return -EINVAL;
		}
		if (st->have_key && memcmp(key, m->key, sizeof(key))) {
			memset(key, 0, sizeof(key));
			pfs_errf(err, errlen,
				 "two different 'x.p2pfs.key' keys");
			return -EINVAL;
		}
		memcpy(m->key, key, sizeof(key));
		memset(key, 0, sizeof(key));
		st->have_key = m->has_key = true;
		return 0;
	}
#undef KEY
	/* so (select-only), kt, as, xs, mt, ...: tolerated, ignored */
	m->nignored++;
	return 0;
}

int bt_magnet_parse(const char *uri, struct bt_magnet **out, char *err,
		    size_t errlen)
{
	struct pstate st = {0};
	char *val = NULL;
	int rc = -EINVAL;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!uri) {
		pfs_errf(err, errlen, "no magnet link");
		return -EINVAL;
	}
	size_t len = strnlen(uri, BT_MAGNET_MAX_LEN + 1);
	if (len > BT_MAGNET_MAX_LEN) {
		pfs_errf(err, errlen, "magnet link longer than %d bytes",
			 BT_MAGNET_MAX_LEN);
		return -EINVAL;
	}
	if (!bt_magnet_is_link(uri)) {
		pfs_errf(err, errlen, "not a magnet link (no 'magnet:')");
		return -EINVAL;
	}
	if (uri[7] != '?') {
		pfs_errf(err, errlen, "no '?' after 'magnet:'");
		return -EINVAL;
	}
	if (!(st.m = calloc(1, sizeof(*st.m))) ||
	    !(val = malloc(BT_MAGNET_MAX_VALUE + 1))) {
		rc = -ENOMEM;
		goto out;
	}
	const char *p = uri + 8, *end = uri + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		if (pe > p) {
			if (++st.nparams > BT_MAGNET_MAX_PARAMS) {
				pfs_errf(err, errlen, "more than %d parameters",
					 BT_MAGNET_MAX_PARAMS);
				goto out;
			}
			const char *eq = memchr(p, '=', (size_t)(pe - p));
			const char *vs = eq ? eq + 1 : pe;
			size_t klen = (size_t)((eq ? eq : pe) - p);
			char kb[40], b[80];
			snprintf(kb, sizeof(kb), "%.*s",
				 (int)(klen < 32 ? klen : 32), p);
			shown(kb, b, sizeof(b));
			long vl = pct_decode(vs, (size_t)(pe - vs), val,
					     BT_MAGNET_MAX_VALUE + 1);
			if (vl == -E2BIG) {
				pfs_errf(err, errlen,
					 "'%s' value longer than %d bytes", b,
					 BT_MAGNET_MAX_VALUE);
				goto out;
			}
			if (vl < 0) {
				pfs_errf(err, errlen,
					 "'%s' value has a bad %%-escape or a "
					 "NUL",
					 b);
				goto out;
			}
			if ((rc = on_param(&st, p, klen, val, err, errlen)) < 0)
				goto out;
			rc = -EINVAL;
		}
		p = pe + 1;
	}
	if (!st.have_btih) {
		if (st.have_btmh)
			pfs_errf(
			    err, errlen,
			    "v2-only magnet links ('xt=urn:btmh:') are not "
			    "supported");
		else
			pfs_errf(err, errlen, "no 'xt=urn:btih:' info-hash");
		goto out;
	}
	pfs_hex(st.m->info_hash, 20, st.m->info_hash_hex);
	*out = st.m;
	st.m = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM)
		pfs_errf(err, errlen, "out of memory");
	if (val) {
		memset(val, 0, BT_MAGNET_MAX_VALUE + 1); /* may hold the key */
		free(val);
	}
	bt_magnet_free(st.m);
	return rc;
}

/* ---- format -------------------------------------------------------------- */

struct sb {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_put(struct sb *s, const char *p, size_t n)
{
	if (s->err)
		return;
	if (s->len + n + 1 > s->cap) {
		size_t nc = s->cap ? s->cap : 256;
		while (nc < s->len + n + 1)
			nc *= 2;
		char *np = realloc(s->p, nc);
		if (!np) {
			s->err = -ENOMEM;
			return;
		}
		s->p = np;
		s->cap = nc;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void sb_cstr(struct sb *s, const char *p)
{
	sb_put(s, p, strlen(p));
}

/* Percent-encode all but RFC 3986 unreserved characters (and ':' '/' when
 * URL). */
static void sb_enc(struct sb *s, const char *p, bool url)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (url && (c == ':' || c == '/'))) {
			sb_put(s, (const char *)&c, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			sb_put(s, e, 3);
		}
	}
}

int bt_magnet_format(const struct bt_magnet *m, bool with_key, char **out)
{
	struct sb s = {0};
	char hex[2 * BT_MAGNET_KEY_LEN + 1];

	*out = NULL;
	pfs_hex(m->info_hash, 20, hex);
	sb_cstr(&s, "magnet:?xt=urn:btih:");
	sb_cstr(&s, hex);
	if (m->name) {
		sb_cstr(&s, "&dn=");
		sb_enc(&s, m->name, false);
	}
	for (size_t i = 0; i < m->ntrackers; i++) {
		sb_cstr(&s, "&tr=");
		sb_enc(&s, m->trackers[i], true);
	}
	for (size_t i = 0; i < m->nweb_seeds; i++) {
		sb_cstr(&s, "&ws=");
		sb_enc(&s, m->web_seeds[i], true);
	}
	for (size_t i = 0; i < m->npeers; i++) {
		const struct bt_magnet_peer *p = &m->peers[i];
		char a[BT_ADDR_STRLEN + BT_MAGNET_MAX_HOST];
		if (p->host)
			snprintf(a, sizeof(a), "%s:%u", p->host, p->port);
		else
			bt_addr_str(&p->addr, a, sizeof(a));
		sb_cstr(&s, "&x.pe=");
		sb_enc(&s, a, true);
	}
	if (m->length) {
		char l[32];
		snprintf(l, sizeof(l), "&xl=%llu",
			 (unsigned long long)m->length);
		sb_cstr(&s, l);
	}
	if (with_key && m->has_key) {
		pfs_hex(m->key, BT_MAGNET_KEY_LEN, hex);
		sb_cstr(&s, "&x.p2pfs.key=");
		sb_cstr(&s, hex);
		memset(hex, 0, sizeof(hex));
	}
	if (s.err) {
		free(s.p);
		return s.err;
	}
	*out = s.p;
	return 0;
}
