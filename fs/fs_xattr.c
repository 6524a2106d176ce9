/* fs_xattr — formatting and parsing of the p2pfs xattr values; see
 * fs_xattr.h. Values are plain text so that getfattr and shell scripts can
 * read them too. */
#include "fs_xattr.h"

#include "bt_addrbook.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys of user.p2pfs.stats, in order, where each value goes, its width
 * and whether a reader may miss it (keys added later are optional, so a
 * newer `p2pfs status` reads an older daemon). */
#define STATS_KEYS(X)                                                          \
	X("down_rate", down_rate, 64, false)                                   \
	X("up_rate", up_rate, 64, false)                                       \
	X("downloaded", downloaded, 64, false)                                 \
	X("uploaded", uploaded, 64, false)                                     \
	X("peers", peers, 32, false)                                           \
	X("seeds", seeds, 32, false)                                           \
	X("pieces_have", have, 32, false)                                      \
	X("pieces_total", npieces, 32, false)                                  \
	X("hash_fails", hash_fails, 32, false)                                 \
	X("cache_used", cache_used, 64, false)                                 \
	X("cache_limit", cache_limit, 64, false)                               \
	X("evictions", evictions, 64, false)                                   \
	X("reads_waiting", reads_waiting, 32, true)                            \
	X("read_timeouts", read_timeouts, 64, true)                            \
	X("no_source_secs", no_source_secs, 64, true)

int fs_xattr_stats_format(const struct fs_xattr_stats *st, char *out,
			  size_t len)
{
	size_t pos = 0;
#define FMT(key, field, bits, opt)                                             \
	do {                                                                   \
		int n = snprintf(out + pos, len - pos, "%s %" PRIu64 "\n",     \
				 key, (uint64_t)st->field);                    \
		if (n < 0 || (size_t)n >= len - pos)                           \
			return -ERANGE;                                        \
		pos += (size_t)n;                                              \
	} while (0);
	if (!len)
		return -ERANGE;
	STATS_KEYS(FMT)
#undef FMT
	return (int)pos;
}

/* The value of KEY in BUF as a strict decimal; -ENOENT if absent, -EINVAL
 * if bad. */
static int find_u64(const char *buf, size_t len, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < len;) {
		const char *line = buf + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;
		i += ll + 1;
		if (ll <= kl + 1 || memcmp(line, key, kl) || line[kl] != ' ')
			continue;
		uint64_t v = 0;
		size_t j = kl + 1;
		if (j >= ll)
			return -EINVAL;
		for (; j < ll; j++) {
			uint64_t d = (uint64_t)(line[j] - '0');
			if (line[j] < '0' || line[j] > '9' ||
			    v > (UINT64_MAX - d) / 10)
				return -EINVAL;
			v = v * 10 + d;
		}
		*out = v;
		return 0;
	}
	return -ENOENT;
}

int fs_xattr_stats_parse(const char *buf, size_t len, struct fs_xattr_stats *st)
{
	struct fs_xattr_stats t;
	uint64_t v;
	int rc;
	memset(&t, 0, sizeof(t));
#define PARSE(key, field, bits, opt)                                           \
	rc = find_u64(buf, len, key, &v);                                      \
	if (rc == -ENOENT && opt)                                              \
		v = 0;                                                         \
	else if (rc < 0 || (bits == 32 && v > UINT32_MAX))                     \
		return -EINVAL;                                                \
	t.field = v;
	STATS_KEYS(PARSE)
#undef PARSE
	*st = t;
	return 0;
}

static const struct {
	const char code[3];
	const char *name;
} clients[] = {
    {"TR", "Transmission"}, {"qB", "qBittorrent"}, {"LT", "libtorrent"},
    {"lt", "rtorrent"},	    {"UT", "uTorrent"},	   {"DE", "Deluge"},
    {"AZ", "Vuze"},	    {"KT", "KTorrent"},	   {"PF", "p2pfs"},
    {"BI", "BiglyBT"},	    {"UW", "uTorrentWeb"}, {"BT", "BitTorrent"},
};

static bool printable(uint8_t ch)
{
	return ch > ' ' && ch < 0x7f;
}

void fs_xattr_client(const uint8_t id[20], char *out, size_t len)
{
	if (!len)
		return;
	/* Azureus style: "-XX1234-" */
	if (id[0] == '-' && id[7] == '-' && printable(id[1]) &&
	    printable(id[2])) {
		const char *name = NULL;
		for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]);
		     i++)
			if (id[1] == (uint8_t)clients[i].code[0] &&
			    id[2] == (uint8_t)clients[i].code[1])
				name = clients[i].name;
		char ver[5];
		for (int i = 0; i < 4; i++)
			ver[i] = printable(id[3 + i]) ? (char)id[3 + i] : '?';
		ver[4] = '\0';
		if (name)
			snprintf(out, len, "%s/%s", name, ver);
		else
			snprintf(out, len, "%c%c/%s", id[1], id[2], ver);
		return;
	}
	/* aria2: "A2-1-37-0-" */
	if (id[0] == 'A' && id[1] == '2' && id[2] == '-') {
		char ver[16];
		size_t o = 0;
		int dashes = 0;
		for (int i = 3; i < 20 && o + 1 < sizeof(ver); i++) {
			if (id[i] == '-') {
				if (++dashes == 3)
					break;
				ver[o++] = '.';
			} else if (id[i] >= '0' && id[i] <= '9') {
				ver[o++] = (char)id[i];
			} else {
				break;
			}
		}
		ver[o] = '\0';
		snprintf(out, len, "aria2/%s", o ? ver : "?");
		return;
	}
	size_t o = 0;
	for (int i = 0; i < 8 && printable(id[i]) && o + 1 < len; i++)
		out[o++] = (char)id[i];
	out[o] = '\0';
	if (!o)
		snprintf(out, len, "unknown");
}

void fs_xattr_flags(const struct bt_peer_info *p, char *out)
{
	size_t o = 0;
	if (p->am_interested)
		out[o++] = p->peer_choking ? 'd' : 'D';
	if (p->peer_interested)
		out[o++] = p->am_choking ? 'u' : 'U';
	if (p->incoming)
		out[o++] = 'I';
	if (p->seed)
		out[o++] = 'S';
	if (p->fast)
		out[o++] = 'F';
	if (p->mse)
		out[o++] = p->encrypted ? 'E' : 'e';
	if (!o)
		out[o++] = '-';
	out[o] = '\0';
}

void fs_xattr_source(unsigned src, char *out, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{BT_SRC_MANUAL, "manual"}, {BT_SRC_TRACKER, "tracker"},
		{BT_SRC_DHT, "dht"},	   {BT_SRC_PEX, "pex"},
		{BT_SRC_LSD, "lsd"},	   {BT_SRC_INCOMING, "incoming"},
	};
	size_t o = 0;
	if (!len)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(src & names[i].bit))
			continue;
		int k = snprintf(out + o, len - o, "%s%s", o ? "+" : "",
				 names[i].name);
		if (k < 0 || (size_t)k >= len - o)
			break;
		o += (size_t)k;
	}
	if (!o)
		snprintf(out, len, "-");
}

size_t fs_xattr_peers_format(const struct bt_peer_info *p, size_t n, char *out,
			     size_t len)
{
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		char client[32], flags[8], addr[64], source[48];
		/* untrusted or odd text never splits a line into fields */
		snprintf(addr, sizeof(addr), "%s",
			 p[i].addr[0] ? p[i].addr : "?");
		for (char *c = addr; *c; c++)
			if (!printable((uint8_t)*c))
				*c = '?';
		fs_xattr_client(p[i].peer_id, client, sizeof(client));
		fs_xattr_flags(&p[i], flags);
		fs_xattr_source(p[i].src, source, sizeof(source));
		int k = snprintf(out + pos, len - pos,
				 "%s %s %" PRIu64 " %" PRIu64 " %s %s\n", addr,
				 client, (uint64_t)p[i].down_rate,
				 (uint64_t)p[i].up_rate, flags, source);
		if (k < 0 || (size_t)k >= len - pos)
			break;
		pos += (size_t)k;
	}
	return pos;
}

/* Next space-separated field of [*P, END) into OUT; false if none or too
 * long. */
static bool next_field(const char **p, const char *end, char *out, size_t len)
{
	while (*p < end && **p == ' ')
		(*p)++;
	size_t o = 0;
	while (*p < end && **p != ' ') {
		if (o + 1 >= len)
			return false;
		out[o++] = *(*p)++;
	}
	out[o] = '\0';
	return o > 0;
}

static bool to_u64(const char *s, uint64_t *v)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

int fs_xattr_peer_parse(const char *line, size_t len, struct fs_xattr_peer *p)
{
	const char *s = line, *end = line + len;
	char down[24], up[24], extra[2];
	if (!next_field(&s, end, p->addr, sizeof(p->addr)) ||
	    !next_field(&s, end, p->client, sizeof(p->client)) ||
	    !next_field(&s, end, down, sizeof(down)) ||
	    !next_field(&s, end, up, sizeof(up)) ||
	    !next_field(&s, end, p->flags, sizeof(p->flags)))
		return -EINVAL;
	if (!next_field(&s, end, p->source, sizeof(p->source)))
		p->source[0] = '\0'; /* an older daemon's line */
	if (next_field(&s, end, extra, sizeof(extra)) || s != end ||
	    !to_u64(down, &p->down_rate) || !to_u64(up, &p->up_rate))
		return -EINVAL;
	return 0;
}

void fs_xattr_bar(double pct, char *out, size_t width)
{
	if (!(pct >= 0)) /* NaN too */
		pct = 0;
	if (pct > 100)
		pct = 100;
	size_t full = (size_t)(pct * (double)width / 100.0);
	if (pct < 100 && full == width && width)
		full = width - 1; /* only 100% is a full bar */
	for (size_t i = 0; i < width; i++)
		out[i] = i < full ? '#' : '.';
	out[width] = '\0';
}

/* ---- records ---- */

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

void fs_rec_out_init(struct fs_rec_out *o, char *buf, size_t cap)
{
	memset(o, 0, sizeof(*o));
	o->buf = buf;
	o->cap = cap;
}

static void rec_put(struct fs_rec_out *o, const char *s, size_t n)
{
	if (o->overflow || o->len + o->line + n > o->cap) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len + o->line, s, n);
	o->line += n;
}

void fs_rec_begin(struct fs_rec_out *o, const char *kind)
{
	o->line = 0;
	o->overflow = false;
	rec_put(o, kind, strlen(kind));
}

void fs_rec_str(struct fs_rec_out *o, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	rec_put(o, " ", 1);
	rec_put(o, key, strlen(key));
	rec_put(o, "=", 1);
	size_t n = strlen(val);
	if (n > FS_REC_VAL_MAX - 1)
		n = FS_REC_VAL_MAX - 1; /* what every reader can hold */
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)val[i];
		if (c > ' ' && c <= '~' && c != '%') {
			rec_put(o, (const char *)&c, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			rec_put(o, e, 3);
		}
	}
}

void fs_rec_u64(struct fs_rec_out *o, const char *key, uint64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRIu64, v);
	fs_rec_str(o, key, b);
}

void fs_rec_i64(struct fs_rec_out *o, const char *key, int64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRId64, v);
	fs_rec_str(o, key, b);
}

bool fs_rec_end(struct fs_rec_out *o)
{
	rec_put(o, "\n", 1);
	bool kept = !o->overflow;
	if (kept)
		o->len += o->line;
	o->line = 0;
	o->overflow = false;
	return kept;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A word of key characters at [*P, END) into OUT; false if empty or too
 * long. */
static bool rec_word(const char **p, const char *end, char *out)
{
	size_t n = 0;
	while (*p < end && key_char(**p)) {
		if (n + 1 >= FS_REC_KEY_MAX)
			return false;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	return n > 0;
}

int fs_rec_parse(const char *line, size_t len, struct fs_rec *r)
{
	const char *p = line, *end = line + len;
	memset(r->kind, 0, sizeof(r->kind));
	r->n = 0;
	if (!rec_word(&p, end, r->kind))
		return -EINVAL;
	while (p < end) {
		char key[FS_REC_KEY_MAX];
		if (*p++ != ' ' || !rec_word(&p, end, key) || p >= end ||
		    *p++ != '=')
			return -EINVAL;
		char *val = r->n < FS_REC_MAX_FIELDS ? r->f[r->n].val : NULL;
		size_t vn = 0;
		while (p < end && *p != ' ') {
			char c = *p++;
			if ((uint8_t)c <= ' ' || (uint8_t)c > '~')
				return -EINVAL;
			if (c == '%') {
				int a, b;
				if (end - p < 2 || (a = hexval(p[0])) < 0 ||
				    (b = hexval(p[1])) < 0)
					return -EINVAL;
				c = (char)(a << 4 | b);
				p += 2;
			}
			if (val && vn + 1 < FS_REC_VAL_MAX)
				val[vn++] = c;
		}
		if (val) {
			val[vn] = '\0';
			memcpy(r->f[r->n].key, key, sizeof(key));
			r->n++;
		}
	}
	return 0;
}

const char *fs_rec_get(const struct fs_rec *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->f[i].key, key))
			return r->f[i].val;
	return NULL;
}

/* S as a strict decimal: digits only, no overflow. */
static int dec_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		uint64_t d = (uint64_t)(*s - '0');
		if (*s < '0' || *s > '9' || x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int fs_rec_get_u64(const struct fs_rec *r, const char *key, uint64_t *v)
{
	const char *s = fs_rec_get(r, key);
	return s ? dec_u64(s, v) : -EINVAL;
}

int fs_rec_get_i64(const struct fs_rec *r, const char *key, int64_t *v)
{
	const char *s = fs_rec_get(r, key);
	uint64_t u;
	if (!s)
		return -EINVAL;
	bool neg = *s == '-';
	if (dec_u64(s + neg, &u) < 0 || u > (uint64_t)INT64_MAX)
		return -EINVAL;
	*v = neg ? -(int64_t)u : (int64_t)u;
	return 0;
}

const char *fs_xattr_source_state(const struct bt_source_info *s)
{
	bool tracker = s->kind == BT_SOURCE_TRACKER;
	if (s->kind == BT_SOURCE_DHT)
		return s->state == BT_SOURCE_OK	    ? "ok"
		       : s->state == BT_SOURCE_BUSY ? "bootstrapping"
						    : "no-nodes";
	switch (s->state) {
	case BT_SOURCE_BUSY:
		return tracker ? "announcing" : "connecting";
	case BT_SOURCE_OK:
		return tracker ? "ok" : "connected";
	case BT_SOURCE_FAILED:
		return tracker ? "error"
		       : s->err == ECONNREFUSED ? "refused" : "failed";
	default:
		return "idle";
	}
}

size_t fs_xattr_sources_format(const struct bt_source_info *s, size_t n,
			       char *out, size_t len)
{
	struct fs_rec_out o;
	fs_rec_out_init(&o, out, len);
	for (size_t i = 0; i < n; i++) {
		bool tracker = s[i].kind == BT_SOURCE_TRACKER;
		if (s[i].kind == BT_SOURCE_DHT) {
			fs_rec_begin(&o, "dht");
			fs_rec_str(&o, "state", fs_xattr_source_state(&s[i]));
			fs_rec_u64(&o, "nodes", s[i].nodes);
			fs_rec_u64(&o, "table", s[i].nodes_total);
			fs_rec_u64(&o, "lookups", s[i].lookups);
			fs_rec_u64(&o, "peers", s[i].peers);
			if (!fs_rec_end(&o))
				break;
			continue;
		}
		if (!tracker && s[i].kind != BT_SOURCE_PEER)
			continue;
		char name[sizeof(s[i].name)], error[sizeof(s[i].error)];
		/* the engine's strings may lack their NUL: bound them */
		snprintf(name, sizeof(name), "%.*s", (int)sizeof(s[i].name) - 1,
			 s[i].name);
		snprintf(error, sizeof(error), "%.*s",
			 (int)sizeof(s[i].error) - 1, s[i].error);
		fs_rec_begin(&o, tracker ? "tracker" : "peer");
		fs_rec_str(&o, tracker ? "url" : "addr", name);
		fs_rec_str(&o, "state", fs_xattr_source_state(&s[i]));
		fs_rec_i64(&o, "last", s[i].last);
		fs_rec_i64(&o, "next", s[i].next);
		if (tracker)
			fs_rec_u64(&o, "peers", s[i].peers);
		fs_rec_u64(&o, "fails", s[i].fails);
		if (error[0])
			fs_rec_str(&o, "error", error);
		if (!fs_rec_end(&o))
			break;
	}
	return o.len;
}

/* ---- lines of `p2pfs status` ---- */

void fs_xattr_duration(uint64_t secs, char *out, size_t len)
{
	if (secs < 60)
		snprintf(out, len, "%" PRIu64 " s", secs);
	else if (secs < 3600)
		snprintf(out, len, "%" PRIu64 " min %02" PRIu64 " s", secs / 60,
			 secs % 60);
	else if (secs < 86400)
		snprintf(out, len, "%" PRIu64 " h %02" PRIu64 " min",
			 secs / 3600, secs / 60 % 60);
	else
		snprintf(out, len, "%" PRIu64 " d %" PRIu64 " h", secs / 86400,
			 secs / 3600 % 24);
}

void fs_xattr_eta(uint64_t missing, double rate, char *out, size_t len)
{
	if (!missing) {
		snprintf(out, len, "done");
		return;
	}
	if (!(rate >= 1)) {
		snprintf(out, len, "-");
		return;
	}
	double s = (double)missing / rate;
	fs_xattr_duration(s > 1e9 ? 1000000000u : (uint64_t)(s + 0.5), out, len);
}

void fs_xattr_source_line(const struct fs_rec *r, int64_t now, char *out,
			  size_t len)
{
	bool tracker = !strcmp(r->kind, "tracker");
	bool peer = !strcmp(r->kind, "peer");
	size_t pos = 0;
#define PUT(...)                                                               \
	do {                                                                   \
		if (pos < len) {                                               \
			int k_ = snprintf(out + pos, len - pos, __VA_ARGS__);  \
			pos += k_ > 0 ? (size_t)k_ : 0;                        \
		}                                                              \
	} while (0)
	if (!len)
		return;
	out[0] = '\0';
	uint64_t nodes = 0, table = 0, lookups = 0, dpeers = 0;
	if (!strcmp(r->kind, "dht") && !fs_rec_get_u64(r, "nodes", &nodes) &&
	    !fs_rec_get_u64(r, "table", &table) &&
	    !fs_rec_get_u64(r, "lookups", &lookups) &&
	    !fs_rec_get_u64(r, "peers", &dpeers)) {
		const char *st = fs_rec_get(r, "state");
		PUT("%-8s %" PRIu64 " good node%s (%" PRIu64 " in the table), "
		    "%" PRIu64 " lookup%s, %" PRIu64 " peer%s  %s", "dht", nodes,
		    nodes == 1 ? "" : "s", table, lookups,
		    lookups == 1 ? "" : "s", dpeers, dpeers == 1 ? "" : "s",
		    st ? st : "?");
		return;
	}
	if (!tracker && !peer) {
		PUT("%-8s", r->kind);
		for (size_t i = 0; i < r->n; i++)
			PUT(" %s=%s", r->f[i].key, r->f[i].val);
		return;
	}
	const char *name = fs_rec_get(r, tracker ? "url" : "addr");
	const char *state = fs_rec_get(r, "state");
	const char *error = fs_rec_get(r, "error");
	uint64_t peers = 0;
	int64_t last = 0, next = 0;
	fs_rec_get_i64(r, "last", &last);
	fs_rec_get_i64(r, "next", &next);
	PUT("%-8s %s  %s", r->kind, name ? name : "?", state ? state : "?");
	if (error)
		PUT(": %s", error);
	if (tracker && state && !strcmp(state, "ok") &&
	    fs_rec_get_u64(r, "peers", &peers) == 0)
		PUT(", %" PRIu64 " peer%s", peers, peers == 1 ? "" : "s");
	char d[32];
	if (last > 0 && now >= last && (!state || strcmp(state, "connected"))) {
		fs_xattr_duration((uint64_t)(now - last), d, sizeof(d));
		PUT(", last %s ago", d);
	}
	if (next > 0) {
		fs_xattr_duration(next > now ? (uint64_t)(next - now) : 0, d,
				  sizeof(d));
		PUT(", next in %s", d);
	}
#undef PUT
}
