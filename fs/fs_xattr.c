/* fs_xattr — formatting and parsing of the p2pfs xattr values; see
 * fs_xattr.h. Values are plain text so that getfattr and shell scripts can
 * read them too. */
#include "fs_xattr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys of user.p2pfs.stats, in order, and where each value goes. */
#define STATS_KEYS(X)                                                          \
	X("down_rate", down_rate, 64)                                          \
	X("up_rate", up_rate, 64)                                              \
	X("downloaded", downloaded, 64)                                        \
	X("uploaded", uploaded, 64)                                            \
	X("peers", peers, 32)                                                  \
	X("seeds", seeds, 32)                                                  \
	X("pieces_have", have, 32)                                             \
	X("pieces_total", npieces, 32)                                         \
	X("hash_fails", hash_fails, 32)                                        \
	X("cache_used", cache_used, 64)                                        \
	X("cache_limit", cache_limit, 64)                                      \
	X("evictions", evictions, 64)

int fs_xattr_stats_format(const struct fs_xattr_stats *st, char *out,
			  size_t len)
{
	size_t pos = 0;
#define FMT(key, field, bits)                                                  \
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

/* The value of KEY in BUF as a strict decimal; -EINVAL if absent or bad. */
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
	return -EINVAL;
}

int fs_xattr_stats_parse(const char *buf, size_t len, struct fs_xattr_stats *st)
{
	struct fs_xattr_stats t;
	uint64_t v;
	memset(&t, 0, sizeof(t));
#define PARSE(key, field, bits)                                                \
	if (find_u64(buf, len, key, &v) < 0 || (bits == 32 && v > UINT32_MAX)) \
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
	if (!o)
		out[o++] = '-';
	out[o] = '\0';
}

size_t fs_xattr_peers_format(const struct bt_peer_info *p, size_t n, char *out,
			     size_t len)
{
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		char client[32], flags[8], addr[64];
		/* untrusted or odd text never splits a line into fields */
		snprintf(addr, sizeof(addr), "%s",
			 p[i].addr[0] ? p[i].addr : "?");
		for (char *c = addr; *c; c++)
			if (!printable((uint8_t)*c))
				*c = '?';
		fs_xattr_client(p[i].peer_id, client, sizeof(client));
		fs_xattr_flags(&p[i], flags);
		int k = snprintf(out + pos, len - pos,
				 "%s %s %" PRIu64 " %" PRIu64 " %s\n", addr,
				 client, (uint64_t)p[i].down_rate,
				 (uint64_t)p[i].up_rate, flags);
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
	    !next_field(&s, end, p->flags, sizeof(p->flags)) ||
	    next_field(&s, end, extra, sizeof(extra)) || s != end ||
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
