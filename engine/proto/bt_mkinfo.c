/* bt_mkinfo — the I/O-free half of torrent creation: the file list, its
 * order, the piece size, the info dict and the .torrent bytes; see
 * bt_mkinfo.h. The folder walk and the threaded hasher are in
 * bt_mkinfo_io.c. */
#include "bt_mkinfo.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_metainfo.h"
#include "bt_seal.h"
#include "pfs_hash.h"
#include "pfs_log.h"

struct bt_mkinfo *bt_mkinfo_new(const char *root, const char *name,
				bool single)
{
	if (!root || !name || !*name)
		return NULL;
	struct bt_mkinfo *mk = calloc(1, sizeof(*mk));
	if (!mk)
		return NULL;
	mk->root = strdup(root);
	mk->name = strdup(name);
	mk->single = single;
	if (!mk->root || !mk->name) {
		bt_mkinfo_free(mk);
		return NULL;
	}
	return mk;
}

void bt_mkinfo_free(struct bt_mkinfo *mk)
{
	if (!mk)
		return;
	for (size_t i = 0; i < mk->nfiles; i++)
		free(mk->files[i].path);
	free(mk->files);
	free(mk->pieces);
	free(mk->root);
	free(mk->name);
	free(mk);
}

/* No empty, "." or ".." component, not absolute. */
static bool path_ok(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

int bt_mkinfo_add_file(struct bt_mkinfo *mk, const char *path,
		       uint64_t length)
{
	if (!path_ok(path) || (mk->single && mk->nfiles > 0) ||
	    length > UINT64_MAX - mk->total_length)
		return -EINVAL;
	if (mk->single && strchr(path, '/'))
		return -EINVAL;
	if (mk->nfiles == mk->cap) {
		size_t ncap = mk->cap ? mk->cap * 2 : 64;
		struct bt_mkinfo_file *f =
			realloc(mk->files, ncap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		mk->files = f;
		mk->cap = ncap;
	}
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	mk->files[mk->nfiles++] = (struct bt_mkinfo_file){copy, length};
	mk->total_length += length;
	return 0;
}

static int cmp_file(const void *a, const void *b)
{
	const struct bt_mkinfo_file *x = a, *y = b;
	return strcmp(x->path, y->path); /* compares as unsigned char */
}

void bt_mkinfo_sort(struct bt_mkinfo *mk)
{
	if (mk->nfiles > 1)
		qsort(mk->files, mk->nfiles, sizeof(*mk->files), cmp_file);
}

/* ---- piece size ---- */

uint32_t bt_mkinfo_auto_piece_length(uint64_t total)
{
	uint32_t p = BT_MKINFO_AUTO_MIN;
	while (p < BT_MKINFO_AUTO_MAX &&
	       (total + p - 1) / p > BT_MKINFO_AUTO_PIECES)
		p *= 2;
	return p;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int check_piece(uint64_t v, const char *shown, char *err, size_t errlen)
{
	if (v < BT_MKINFO_MIN_PIECE) {
		pfs_errf(err, errlen, "piece size '%s' is below 16 KiB", shown);
		return -EINVAL;
	}
	if (v > BT_MKINFO_MAX_PIECE) {
		pfs_errf(err, errlen, "piece size '%s' is above 64 MiB", shown);
		return -EINVAL;
	}
	if (!is_pow2(v)) {
		pfs_errf(err, errlen, "piece size '%s' is not a power of two",
			shown);
		return -EINVAL;
	}
	return 0;
}

int bt_mkinfo_parse_piece_size(const char *s, uint32_t *out, char *err,
			       size_t errlen)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > (1ull << 40))
			goto big;
	}
	uint64_t mult = 1;
	if (*p == 'K' || *p == 'k')
		mult = 1024;
	else if (*p == 'M' || *p == 'm')
		mult = 1024 * 1024;
	if (mult > 1) {
		p++;
		if (!strcmp(p, "iB") || !strcmp(p, "B"))
			p += strlen(p);
	}
	if (*p)
		goto bad;
	v *= mult;
	int rc = check_piece(v, s, err, errlen);
	if (rc < 0)
		return rc;
	*out = (uint32_t)v;
	return 0;
big:
	pfs_errf(err, errlen, "piece size '%s' is above 64 MiB", s);
	return -EINVAL;
bad:
	pfs_errf(err, errlen,
		"bad piece size '%s' (bytes, or with a K or M suffix)", s);
	return -EINVAL;
}

int bt_mkinfo_set_piece_length(struct bt_mkinfo *mk, uint32_t piece_length,
			       char *err, size_t errlen)
{
	if (!mk->nfiles) {
		pfs_errf(err, errlen, "no files");
		return -EINVAL;
	}
	if (mk->nfiles > BT_MAX_FILES) {
		pfs_errf(err, errlen, "%zu files: more than %u", mk->nfiles,
			BT_MAX_FILES);
		return -EINVAL;
	}
	if (!mk->total_length) {
		pfs_errf(err, errlen, "nothing to share: total size is 0");
		return -EINVAL;
	}
	if (!piece_length)
		piece_length = bt_mkinfo_auto_piece_length(mk->total_length);
	char shown[32];
	snprintf(shown, sizeof(shown), "%u", piece_length);
	int rc = check_piece(piece_length, shown, err, errlen);
	if (rc < 0)
		return rc;
	uint64_t n = (mk->total_length + piece_length - 1) / piece_length;
	if (n > BT_MAX_PIECES) {
		pfs_errf(err, errlen,
			"%llu pieces of %u bytes: more than %u, use a larger "
			"piece size", (unsigned long long)n, piece_length,
			BT_MAX_PIECES);
		return -EINVAL;
	}
	uint8_t *h = calloc((size_t)n, PFS_SHA1_LEN);
	if (!h)
		return -ENOMEM;
	free(mk->pieces);
	mk->pieces = h;
	mk->piece_length = piece_length;
	mk->npieces = (uint32_t)n;
	return 0;
}

/* ---- bencoding ---- */

/* "a/b/c" as the list ["a", "b", "c"] */
static void enc_path(struct bt_benc *b, const char *p)
{
	bt_benc_list_begin(b);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		bt_benc_str(b, p, n);
		if (!slash)
			break;
		p = slash + 1;
	}
	bt_benc_end(b);
}

int bt_mkinfo_info(const struct bt_mkinfo *mk, bool private_flag,
		   struct bt_benc *b)
{
	if (!mk->piece_length || !mk->pieces)
		return -EINVAL;
	/* keys in byte order: files, length, name, piece length, pieces,
	 * private */
	bt_benc_dict_begin(b);
	if (mk->single) {
		bt_benc_cstr(b, "length");
		bt_benc_int(b, (int64_t)mk->total_length);
	} else {
		bt_benc_cstr(b, "files");
		bt_benc_list_begin(b);
		for (size_t i = 0; i < mk->nfiles; i++) {
			bt_benc_dict_begin(b);
			bt_benc_cstr(b, "length");
			bt_benc_int(b, (int64_t)mk->files[i].length);
			bt_benc_cstr(b, "path");
			enc_path(b, mk->files[i].path);
			bt_benc_end(b);
		}
		bt_benc_end(b);
	}
	bt_benc_cstr(b, "name");
	bt_benc_cstr(b, mk->name);
	bt_benc_cstr(b, "piece length");
	bt_benc_int(b, mk->piece_length);
	bt_benc_cstr(b, "pieces");
	bt_benc_str(b, mk->pieces, (size_t)mk->npieces * PFS_SHA1_LEN);
	if (private_flag) {
		bt_benc_cstr(b, "private");
		bt_benc_int(b, 1);
	}
	return bt_benc_end(b);
}

/* URLs of the comma-separated lists in ARGS: calls FN(url, len, tier) for
 * each, tier = index of its argument. -EINVAL on an empty URL. */
static int each_url(const char *const *args, size_t n,
		    void (*fn)(void *, const char *, size_t, size_t),
		    void *arg)
{
	for (size_t t = 0; t < n; t++) {
		const char *p = args[t];
		for (;;) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			if (!len)
				return -EINVAL;
			if (fn)
				fn(arg, p, len, t);
			if (!comma)
				break;
			p = comma + 1;
		}
	}
	return 0;
}

struct url_walk {
	struct bt_benc *b;
	size_t count;
	size_t tier; /* tier of the list open in b, or SIZE_MAX */
	const char *first;
	size_t first_len;
};

static void count_url(void *arg, const char *u, size_t len, size_t tier)
{
	struct url_walk *w = arg;
	(void)tier;
	if (!w->count++) {
		w->first = u;
		w->first_len = len;
	}
}

static void tier_url(void *arg, const char *u, size_t len, size_t tier)
{
	struct url_walk *w = arg;
	if (w->tier != tier) {
		if (w->tier != SIZE_MAX)
			bt_benc_end(w->b);
		bt_benc_list_begin(w->b);
		w->tier = tier;
	}
	bt_benc_str(w->b, u, len);
}

static void plain_url(void *arg, const char *u, size_t len, size_t tier)
{
	struct url_walk *w = arg;
	(void)tier;
	bt_benc_str(w->b, u, len);
}

int bt_mkinfo_torrent(const struct bt_mkinfo *mk,
		      const struct bt_mkinfo_opts *o, uint8_t **buf,
		      size_t *len, uint8_t info_hash[20], char *err,
		      size_t errlen)
{
	static const struct bt_mkinfo_opts none;
	struct bt_benc b;
	struct url_walk trk = {.tier = SIZE_MAX}, ws = {.tier = SIZE_MAX};
	int rc;

	if (!o)
		o = &none;
	*buf = NULL;
	*len = 0;
	if (each_url(o->trackers, o->ntrackers, count_url, &trk) < 0) {
		pfs_errf(err, errlen, "empty tracker URL");
		return -EINVAL;
	}
	if (each_url(o->web_seeds, o->nweb_seeds, count_url, &ws) < 0) {
		pfs_errf(err, errlen, "empty web seed URL");
		return -EINVAL;
	}

	/* keys in byte order: announce, announce-list, comment, created by,
	 * creation date, info, p2pfs sealed header, url-list */
	bt_benc_init(&b);
	trk.b = ws.b = &b;
	bt_benc_dict_begin(&b);
	if (trk.count) {
		bt_benc_cstr(&b, "announce");
		bt_benc_str(&b, trk.first, trk.first_len);
	}
	if (trk.count > 1) {
		bt_benc_cstr(&b, "announce-list");
		bt_benc_list_begin(&b);
		each_url(o->trackers, o->ntrackers, tier_url, &trk);
		bt_benc_end(&b); /* the last tier */
		bt_benc_end(&b);
	}
	if (o->comment) {
		bt_benc_cstr(&b, "comment");
		bt_benc_cstr(&b, o->comment);
	}
	if (o->created_by) {
		bt_benc_cstr(&b, "created by");
		bt_benc_cstr(&b, o->created_by);
	}
	if (o->creation_date) {
		bt_benc_cstr(&b, "creation date");
		bt_benc_int(&b, o->creation_date);
	}
	bt_benc_cstr(&b, "info");
	size_t info_at = b.len;
	if ((rc = bt_mkinfo_info(mk, o->private_flag, &b)) < 0 && !b.err) {
		pfs_errf(err, errlen, "no piece size set");
		goto out;
	}
	size_t info_end = b.len;
	if (o->seal_header) {
		bt_benc_cstr(&b, BT_SEAL_TORRENT_KEY);
		bt_benc_str(&b, o->seal_header, o->seal_header_len);
	}
	if (ws.count == 1) {
		bt_benc_cstr(&b, "url-list");
		bt_benc_str(&b, ws.first, ws.first_len);
	} else if (ws.count > 1) {
		bt_benc_cstr(&b, "url-list");
		bt_benc_list_begin(&b);
		each_url(o->web_seeds, o->nweb_seeds, plain_url, &ws);
		bt_benc_end(&b);
	}
	bt_benc_end(&b);
	if (b.err) {
		rc = b.err;
		pfs_errf(err, errlen, "out of memory");
		goto out;
	}
	if ((rc = pfs_sha1(b.buf + info_at, info_end - info_at, info_hash)) < 0)
		goto out;
	*buf = b.buf;
	*len = b.len;
	b.buf = NULL;
	rc = 0;
out:
	bt_benc_release(&b);
	return rc;
}
