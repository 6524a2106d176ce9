/* bt_metainfo — .torrent (v1) parsing, path sanitising and the piece/file
 * byte mapping; see bt_metainfo.h.
 *
 * Built on the strict bt_bencode decoder. Everything inside `info` (and the
 * `private` flag, which decides whether DHT/PEX may be used) is checked
 * strictly: a missing key, a wrong type or an out-of-range value is -EINVAL
 * with a one-line reason; only the optional `name.utf-8`/`path.utf-8` fall
 * back to `name`/`path` when unusable. The descriptive keys outside `info`
 * (announce, announce-list, comment, created by, creation date) cannot make
 * us serve a wrong byte, so a wrong-typed one is ignored, as other clients
 * do.
 *
 * Names are made safe once, here, component by component:
 *   - invalid UTF-8 bytes, NUL and '/' become '_';
 *   - "" becomes "_", "." becomes "_." and ".." becomes "_..";
 *   - a component longer than 255 bytes (NAME_MAX) is cut at a character
 *     boundary, keeping a short extension;
 *   - colliding paths (the same path twice, or a file path that is also a
 *     folder of another path) are renamed in file order, real files before
 *     BEP 47 pad files: "a.txt" becomes "a~1.txt", then "a~2.txt", skipping
 *     any name already in use. Folders are never renamed.
 * Paths are joined with '/', so they are never absolute and never contain
 * an empty, "." or ".." component. */
#include "bt_metainfo.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt_bencode.h"
#include "pfs_hash.h"
#include "pfs_log.h"

#define MI_MAX_FILE_SIZE (64u * 1024 * 1024) /* bt_metainfo_load() */
#define MI_NAME_MAX	 255  /* bytes per path component (Linux NAME_MAX) */
#define MI_EXT_MAX	 32   /* longest tail kept as an extension, with '.' */
#define MI_MAX_TRACKERS	 1000 /* further trackers are ignored */

static int mi_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int mi_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		pfs_verrf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- growable string --------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sbuf_add(struct sbuf *s, const void *p, size_t n)
{
	if (n > SIZE_MAX - s->len - 1)
		return -ENOMEM;
	if (s->len + n + 1 > s->cap) {
		size_t ncap = s->cap ? s->cap : 64;
		while (ncap < s->len + n + 1)
			ncap = ncap > SIZE_MAX / 2 ? s->len + n + 1 : ncap * 2;
		char *q = realloc(s->p, ncap);
		if (!q)
			return -ENOMEM;
		s->p = q;
		s->cap = ncap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
	return 0;
}

static int sbuf_addc(struct sbuf *s, char c)
{
	return sbuf_add(s, &c, 1);
}

/* ---- text sanitising --------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at P (N bytes left), or 0 when it
 * is not one: overlong forms, surrogates and code points past U+10FFFF are
 * rejected. */
static size_t utf8_seq_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Appends P as valid UTF-8: bad bytes and NUL (and '/' when SLASH) become
 * '_'. */
static int text_clean(struct sbuf *s, const uint8_t *p, size_t n, bool slash)
{
	size_t i = 0;
	while (i < n) {
		size_t k = utf8_seq_len(p + i, n - i);
		int rc;
		if (k == 0 || p[i] == '\0' || (slash && p[i] == '/')) {
			rc = sbuf_addc(s, '_');
			k = 1;
		} else {
			rc = sbuf_add(s, p + i, k);
		}
		if (rc)
			return rc;
		i += k;
	}
	return 0;
}

static char *text_dup(const struct bt_bval *v)
{
	struct sbuf s = {0};
	if (text_clean(&s, v->s.p, v->s.len, false) || sbuf_add(&s, "", 0)) {
		free(s.p);
		return NULL;
	}
	return s.p;
}

/* Offset of NAME's extension (its last '.', not a leading one, when the
 * tail is short), or LEN when it has none. */
static size_t name_ext(const char *name, size_t len)
{
	const char *dot = NULL;
	for (size_t i = 1; i < len; i++)
		if (name[i] == '.')
			dot = name + i;
	if (!dot || len - (size_t)(dot - name) > MI_EXT_MAX)
		return len;
	return (size_t)(dot - name);
}

/* Appends STEM SUFFIX EXT to S, cutting STEM at a UTF-8 character boundary
 * so the component stays within MI_NAME_MAX bytes. */
static int name_join(struct sbuf *s, const char *stem, size_t slen,
		     const char *suffix, const char *ext, size_t elen)
{
	size_t sufl = strlen(suffix);
	if (slen + sufl + elen > MI_NAME_MAX) {
		/* ext <= MI_EXT_MAX and suffix <= 11, so room stays > 200 */
		size_t keep = MI_NAME_MAX - sufl - elen;
		while (keep > 0 && ((uint8_t)stem[keep] & 0xc0) == 0x80)
			keep--;
		slen = keep;
	}
	int rc = sbuf_add(s, stem, slen);
	if (!rc)
		rc = sbuf_add(s, suffix, sufl);
	if (!rc)
		rc = sbuf_add(s, ext, elen);
	return rc;
}

/* Appends the safe form of one path component (see the top comment). */
static int component_add(struct sbuf *s, const uint8_t *p, size_t n)
{
	struct sbuf c = {0};
	int rc = text_clean(&c, p, n, true);
	if (rc)
		goto out;
	if (c.len == 0)
		rc = sbuf_add(s, "_", 1);
	else if (c.len <= 2 && strspn(c.p, ".") == c.len) {
		rc = sbuf_add(s, "_", 1);
		if (!rc)
			rc = sbuf_add(s, c.p, c.len);
	} else if (c.len > MI_NAME_MAX) {
		size_t e = name_ext(c.p, c.len);
		rc = name_join(s, c.p, e, "", c.p + e, c.len - e);
	} else
		rc = sbuf_add(s, c.p, c.len);
out:
	free(c.p);
	return rc;
}

static char *component_dup(const struct bt_bval *v)
{
	struct sbuf s = {0};
	if (component_add(&s, v->s.p, v->s.len)) {
		free(s.p);
		return NULL;
	}
	return s.p;
}

/* ---- span hash set ----------------------------------------------------- */

/* Open addressing over byte spans that stay owned by someone else; each
 * entry carries a small value and its hash (compared before the bytes). */
struct span {
	const char *p; /* NULL: empty slot */
	size_t len;
	uint64_t hash;
	uint32_t val;
};

struct span_set {
	struct span *e;
	size_t cap; /* power of two */
	size_t n;
};

static uint64_t span_hash(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static struct span *set_slot(const struct span_set *s, const char *p,
			     size_t len, uint64_t hash)
{
	size_t i = (size_t)hash & (s->cap - 1);
	while (s->e[i].p && !(s->e[i].hash == hash && s->e[i].len == len &&
			      memcmp(s->e[i].p, p, len) == 0))
		i = (i + 1) & (s->cap - 1);
	return &s->e[i];
}

static struct span *set_find(const struct span_set *s, const char *p,
			     size_t len)
{
	if (!s->cap)
		return NULL;
	struct span *e = set_slot(s, p, len, span_hash(p, len));
	return e->p ? e : NULL;
}

static int set_put(struct span_set *s, const char *p, size_t len, uint32_t val)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		if (ncap > SIZE_MAX / sizeof(struct span))
			return -ENOMEM;
		struct span_set ns = {calloc(ncap, sizeof(struct span)), ncap,
				      s->n};
		if (!ns.e)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			const struct span *o = &s->e[i];
			if (o->p)
				*set_slot(&ns, o->p, o->len, o->hash) = *o;
		}
		free(s->e);
		*s = ns;
	}
	uint64_t hash = span_hash(p, len);
	struct span *e = set_slot(s, p, len, hash);
	if (!e->p) {
		e->p = p;
		e->len = len;
		e->hash = hash;
		s->n++;
	}
	e->val = val;
	return 0;
}

static void set_release(struct span_set *s)
{
	free(s->e);
	memset(s, 0, sizeof(*s));
}

/* ---- duplicate names --------------------------------------------------- */

/* PATH (LEN bytes) with "~N" before the extension of its last component. */
static char *path_with_suffix(const char *path, size_t len, uint32_t n)
{
	const char *slash = memrchr(path, '/', len);
	size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
	const char *name = path + dir;
	size_t nlen = len - dir;
	size_t e = name_ext(name, nlen);
	char suffix[16];
	struct sbuf s = {0};

	snprintf(suffix, sizeof(suffix), "~%" PRIu32, n);
	if (sbuf_add(&s, path, dir) ||
	    name_join(&s, name, e, suffix, name + e, nlen - e)) {
		free(s.p);
		return NULL;
	}
	return s.p;
}

static int paths_dedup(struct bt_metainfo *mi)
{
	struct span_set names = {0}; /* every folder and every claimed file */
	struct span_set next = {0};  /* original path -> next suffix to try */
	char **old = NULL; /* replaced paths, still referenced above */
	size_t nold = 0;
	int rc = 0;

	old = calloc(mi->nfiles, sizeof(*old));
	if (!old) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < mi->nfiles; i++) {
		const char *p = mi->files[i].path;
		for (size_t k = 0; p[k]; k++)
			if (p[k] == '/' && (rc = set_put(&names, p, k, 0)))
				goto out;
	}
	/* real files first, so a pad file never takes a real file's name */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < mi->nfiles; i++) {
			struct bt_file *f = &mi->files[i];
			if (f->pad != (pass == 1))
				continue;
			size_t len = strlen(f->path);
			if (!set_find(&names, f->path, len)) {
				if ((rc = set_put(&names, f->path, len, 1)))
					goto out;
				continue;
			}
			const struct span *nx = set_find(&next, f->path, len);
			uint32_t n = nx ? nx->val : 1;
			char *cand;
			for (;;) {
				cand = path_with_suffix(f->path, len, n++);
				if (!cand) {
					rc = -ENOMEM;
					goto out;
				}
				if (!set_find(&names, cand, strlen(cand)))
					break;
				free(cand);
			}
			pfs_log(PFS_LOG_DEBUG, "metainfo",
				"renamed duplicate '%s' to '%s'", f->path,
				cand);
			old[nold++] = f->path;
			f->path = cand;
			if ((rc = set_put(&next, old[nold - 1], len, n)) ||
			    (rc = set_put(&names, cand, strlen(cand), 1)))
				goto out;
		}
	}
out:
	set_release(&names);
	set_release(&next);
	for (size_t i = 0; i < nold; i++)
		free(old[i]);
	free(old);
	return rc;
}

/* ---- info dictionary --------------------------------------------------- */

/* A usable `path.utf-8`: a non-empty list of strings. */
static bool path_list_ok(const struct bt_bval *v)
{
	if (!v || v->type != BT_BLIST || v->list.n == 0)
		return false;
	for (size_t i = 0; i < v->list.n; i++)
		if (v->list.items[i].type != BT_BSTR)
			return false;
	return true;
}

static int parse_file(struct bt_metainfo *mi, size_t i, const struct bt_bval *f,
		      char *err, size_t errlen)
{
	struct bt_file *out = &mi->files[i];
	const struct bt_bval *path, *attr;
	struct sbuf s = {0};
	int64_t len;
	int rc;

	if (f->type != BT_BDICT)
		return mi_fail(err, errlen,
			       "'info' 'files'[%zu] is not a dictionary", i);
	rc = bt_bdict_get_int(f, "length", &len);
	if (rc == -ENOENT)
		return mi_fail(err, errlen,
			       "missing 'info' 'files'[%zu] 'length'", i);
	if (rc)
		return mi_fail(err, errlen,
			       "'info' 'files'[%zu] 'length' is not an integer",
			       i);
	if (len < 0)
		return mi_fail(err, errlen,
			       "'info' 'files'[%zu] 'length' is negative "
			       "(%" PRId64 ")",
			       i, len);
	if ((uint64_t)len > (uint64_t)INT64_MAX - mi->total_length)
		return mi_fail(err, errlen,
			       "'info' 'files' lengths add up to more than "
			       "2^63-1 bytes (at 'files'[%zu])",
			       i);

	path = bt_bdict_get(f, "path.utf-8");
	if (!path_list_ok(path)) {
		path = bt_bdict_get(f, "path");
		if (!path)
			return mi_fail(err, errlen,
				       "missing 'info' 'files'[%zu] 'path'", i);
		if (path->type != BT_BLIST)
			return mi_fail(
				err, errlen,
				"'info' 'files'[%zu] 'path' is not a list", i);
		if (path->list.n == 0)
			return mi_fail(err, errlen,
				       "'info' 'files'[%zu] 'path' is empty",
				       i);
		for (size_t k = 0; k < path->list.n; k++)
			if (path->list.items[k].type != BT_BSTR)
				return mi_fail(
					err, errlen,
					"'info' 'files'[%zu] 'path'[%zu] "
					"is not a string",
					i, k);
	}
	attr = bt_bdict_get(f, "attr");
	if (attr && attr->type != BT_BSTR)
		return mi_fail(err, errlen,
			       "'info' 'files'[%zu] 'attr' is not a string", i);

	for (size_t k = 0; k < path->list.n; k++) {
		const struct bt_bval *c = &path->list.items[k];
		if ((k && (rc = sbuf_addc(&s, '/'))) ||
		    (rc = component_add(&s, c->s.p, c->s.len))) {
			free(s.p);
			return rc;
		}
	}
	out->path = s.p;
	out->length = (uint64_t)len;
	out->offset = mi->total_length;
	out->pad = attr && memchr(attr->s.p, 'p', attr->s.len);
	mi->nfiles++;
	mi->total_length += (uint64_t)len;
	return 0;
}

static int parse_files(struct bt_metainfo *mi, const struct bt_bval *files,
		       char *err, size_t errlen)
{
	int rc;

	if (files->type != BT_BLIST)
		return mi_fail(err, errlen, "'info' 'files' is not a list");
	if (files->list.n == 0)
		return mi_fail(err, errlen, "'info' 'files' is empty");
	if (files->list.n > BT_MAX_FILES)
		return mi_fail(err, errlen,
			       "'info' 'files' has %zu entries (at most %d)",
			       files->list.n, BT_MAX_FILES);
	mi->files = calloc(files->list.n, sizeof(*mi->files));
	if (!mi->files)
		return -ENOMEM;
	for (size_t i = 0; i < files->list.n; i++)
		if ((rc = parse_file(mi, i, &files->list.items[i], err,
				     errlen)))
			return rc;
	return paths_dedup(mi);
}

static int parse_single(struct bt_metainfo *mi, const struct bt_bval *length,
			char *err, size_t errlen)
{
	if (length->type != BT_BINT)
		return mi_fail(err, errlen,
			       "'info' 'length' is not an integer");
	if (length->i < 0)
		return mi_fail(err, errlen,
			       "'info' 'length' is negative (%" PRId64 ")",
			       length->i);
	mi->files = calloc(1, sizeof(*mi->files));
	if (!mi->files)
		return -ENOMEM;
	mi->files[0].path = strdup(mi->name);
	if (!mi->files[0].path)
		return -ENOMEM;
	mi->files[0].length = (uint64_t)length->i;
	mi->nfiles = 1;
	mi->total_length = (uint64_t)length->i;
	return 0;
}

static int parse_info(struct bt_metainfo *mi, const struct bt_bval *info,
		      char *err, size_t errlen)
{
	const struct bt_bval *pieces, *name, *length, *files;
	int64_t v;
	int rc;

	rc = bt_bdict_get_int(info, "piece length", &v);
	if (rc == -ENOENT)
		return mi_fail(err, errlen, "missing 'info' 'piece length'");
	if (rc)
		return mi_fail(err, errlen,
			       "'info' 'piece length' is not an integer");
	if (v < 1 || v > BT_MAX_PIECE_LENGTH)
		return mi_fail(err, errlen,
			       "'info' 'piece length' %" PRId64
			       " is out of range (1..%u)",
			       v, BT_MAX_PIECE_LENGTH);
	mi->piece_length = (uint32_t)v;

	pieces = bt_bdict_get(info, "pieces");
	if (!pieces && bt_bdict_get_int(info, "meta version", &v) == 0 &&
	    v == 2)
		return mi_fail(err, errlen,
			       "v2-only torrent: missing 'info' 'pieces'");
	if (!pieces)
		return mi_fail(err, errlen, "missing 'info' 'pieces'");
	if (pieces->type != BT_BSTR)
		return mi_fail(err, errlen, "'info' 'pieces' is not a string");
	if (pieces->s.len % 20)
		return mi_fail(err, errlen,
			       "'info' 'pieces' length %zu is not a multiple "
			       "of 20",
			       pieces->s.len);

	name = bt_bdict_get_str(info, "name.utf-8");
	if (!name)
		name = bt_bdict_get(info, "name");
	if (!name)
		return mi_fail(err, errlen, "missing 'info' 'name'");
	if (name->type != BT_BSTR)
		return mi_fail(err, errlen, "'info' 'name' is not a string");
	mi->name = component_dup(name);
	if (!mi->name)
		return -ENOMEM;

	length = bt_bdict_get(info, "length");
	files = bt_bdict_get(info, "files");
	if (length && files)
		return mi_fail(err, errlen,
			       "'info' has both 'length' and 'files'");
	if (!length && !files)
		return mi_fail(err, errlen,
			       "'info' has neither 'length' nor 'files'");
	mi->multi_file = files != NULL;
	rc = files ? parse_files(mi, files, err, errlen)
		   : parse_single(mi, length, err, errlen);
	if (rc)
		return rc;

	if (mi->total_length == 0)
		return mi_fail(err, errlen, "total length is 0");
	uint64_t npieces = (mi->total_length - 1) / mi->piece_length + 1;
	if (npieces > BT_MAX_PIECES)
		return mi_fail(err, errlen,
			       "torrent needs %" PRIu64 " pieces (at most %u)",
			       npieces, BT_MAX_PIECES);
	if (pieces->s.len / 20 != npieces)
		return mi_fail(err, errlen,
			       "'info' 'pieces' has %zu hashes but %" PRIu64
			       " bytes in pieces of %" PRIu32 " need %" PRIu64,
			       pieces->s.len / 20, mi->total_length,
			       mi->piece_length, npieces);
	mi->npieces = (uint32_t)npieces;
	mi->piece_hashes = malloc(pieces->s.len);
	if (!mi->piece_hashes)
		return -ENOMEM;
	memcpy(mi->piece_hashes, pieces->s.p, pieces->s.len);

	rc = bt_bdict_get_int(info, "private", &v);
	if (rc == -EINVAL)
		return mi_fail(err, errlen,
			       "'info' 'private' is not an integer");
	mi->private_flag = rc == 0 && v != 0;
	return 0;
}

/* Copies the raw info dict and hashes it. */
static int set_info_raw(struct bt_metainfo *mi, const uint8_t *raw, size_t len)
{
	mi->info_raw = malloc(len);
	if (!mi->info_raw)
		return -ENOMEM;
	memcpy(mi->info_raw, raw, len);
	mi->info_len = len;
	int rc = pfs_sha1(raw, len, mi->info_hash);
	if (rc)
		return rc;
	pfs_hex(mi->info_hash, 20, mi->info_hash_hex);
	return 0;
}

/* ---- outside info ------------------------------------------------------ */

static bool tracker_scheme_ok(const uint8_t *p, size_t n)
{
	static const char *const schemes[] = {"http://", "https://", "udp://"};
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t k = strlen(schemes[i]);
		if (n > k && strncasecmp((const char *)p, schemes[i], k) == 0)
			return true;
	}
	return false;
}

/* Adds one announce URL: trimmed of blanks, printable ASCII only, an
 * accepted scheme, not seen before. */
static int tracker_add(struct bt_metainfo *mi, struct span_set *seen,
		       size_t *cap, const struct bt_bval *v, unsigned tier)
{
	if (v->type != BT_BSTR || mi->ntrackers >= MI_MAX_TRACKERS)
		return 0;
	const uint8_t *p = v->s.p;
	size_t n = v->s.len;
	while (n && (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == ' ' || (p[n - 1] >= '\t' && p[n - 1] <= '\r')))
		n--;
	if (!tracker_scheme_ok(p, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] >= 0x7f)
			return 0;
	if (set_find(seen, (const char *)p, n))
		return 0;
	if (mi->ntrackers == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		char **t = realloc(mi->trackers, ncap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		mi->trackers = t;
		unsigned *tt = realloc(mi->tracker_tiers, ncap * sizeof(*tt));
		if (!tt)
			return -ENOMEM;
		mi->tracker_tiers = tt;
		*cap = ncap;
	}
	char *url = strndup((const char *)p, n);
	if (!url)
		return -ENOMEM;
	mi->tracker_tiers[mi->ntrackers] = tier;
	mi->trackers[mi->ntrackers++] = url;
	return set_put(seen, (const char *)p, n, 0);
}

static int parse_trackers(struct bt_metainfo *mi, const struct bt_bval *root)
{
	const struct bt_bval *tiers = bt_bdict_get_list(root, "announce-list");
	const struct bt_bval *announce = bt_bdict_get_str(root, "announce");
	struct span_set seen = {0};
	size_t cap = 0;
	int rc = 0;

	unsigned ntier = 0; /* tiers that kept a tracker so far */
	for (size_t i = 0; tiers && i < tiers->list.n && !rc; i++) {
		const struct bt_bval *tier = &tiers->list.items[i];
		size_t before = mi->ntrackers;
		if (tier->type == BT_BSTR) /* a flat list, seen in the wild */
			rc = tracker_add(mi, &seen, &cap, tier, ntier);
		else if (tier->type == BT_BLIST)
			for (size_t k = 0; k < tier->list.n && !rc; k++)
				rc = tracker_add(mi, &seen, &cap,
						 &tier->list.items[k], ntier);
		if (mi->ntrackers > before)
			ntier++;
	}
	/* BEP 12: `announce` only when announce-list gave nothing */
	if (!rc && mi->ntrackers == 0 && announce)
		rc = tracker_add(mi, &seen, &cap, announce, 0);
	set_release(&seen);
	return rc;
}

static int parse_extras(struct bt_metainfo *mi, const struct bt_bval *root)
{
	const struct bt_bval *v;
	int rc = parse_trackers(mi, root);
	if (rc)
		return rc;
	v = bt_bdict_get_str(root, "comment.utf-8");
	if (!v)
		v = bt_bdict_get_str(root, "comment");
	if (v && !(mi->comment = text_dup(v)))
		return -ENOMEM;
	v = bt_bdict_get_str(root, "created by");
	if (v && !(mi->created_by = text_dup(v)))
		return -ENOMEM;
	if (bt_bdict_get_int(root, "creation date", &mi->creation_date))
		mi->creation_date = 0;
	return 0;
}

/* ---- entry points ------------------------------------------------------ */

static void err_clear(char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
}

static void err_nomem(int rc, char *err, size_t errlen)
{
	if (rc == -ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "out of memory");
}

int bt_metainfo_parse(const uint8_t *buf, size_t len, struct bt_metainfo **out,
		      char *err, size_t errlen)
{
	struct bt_bval *root = NULL;
	struct bt_metainfo *mi = NULL;
	const struct bt_bval *info;
	int rc;

	*out = NULL;
	err_clear(err, errlen);
	rc = bt_bdecode(buf, len, &root, err, errlen);
	if (rc)
		goto out;
	if (root->type != BT_BDICT) {
		rc = mi_fail(err, errlen, "torrent is not a dictionary");
		goto out;
	}
	info = bt_bdict_get(root, "info");
	if (!info || info->type != BT_BDICT) {
		rc = mi_fail(err, errlen,
			     info ? "'info' is not a dictionary"
				  : "missing 'info'");
		goto out;
	}
	mi = calloc(1, sizeof(*mi));
	if (!mi) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = set_info_raw(mi, info->raw, info->raw_len)) ||
	    (rc = parse_info(mi, info, err, errlen)) ||
	    (rc = parse_extras(mi, root)))
		goto out;
	*out = mi;
	mi = NULL;
out:
	err_nomem(rc, err, errlen);
	bt_metainfo_free(mi);
	bt_bval_free(root);
	return rc;
}

int bt_metainfo_from_info(const uint8_t *info, size_t len,
			  const uint8_t info_hash[20], struct bt_metainfo **out,
			  char *err, size_t errlen)
{
	struct bt_bval *root = NULL;
	struct bt_metainfo *mi = NULL;
	uint8_t got[20];
	int rc;

	*out = NULL;
	err_clear(err, errlen);
	/* nothing of an unverified info dict is worth parsing */
	if ((rc = pfs_sha1(info, len, got)))
		goto out;
	if (memcmp(got, info_hash, 20) != 0) {
		char want_hex[41], got_hex[41];
		pfs_hex(info_hash, 20, want_hex);
		pfs_hex(got, 20, got_hex);
		rc = mi_fail(err, errlen, "info hash mismatch: got %s, want %s",
			     got_hex, want_hex);
		goto out;
	}
	if ((rc = bt_bdecode(info, len, &root, err, errlen)))
		goto out;
	if (root->type != BT_BDICT) {
		rc = mi_fail(err, errlen, "'info' is not a dictionary");
		goto out;
	}
	mi = calloc(1, sizeof(*mi));
	if (!mi) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = set_info_raw(mi, info, len)) ||
	    (rc = parse_info(mi, root, err, errlen)))
		goto out;
	*out = mi;
	mi = NULL;
out:
	err_nomem(rc, err, errlen);
	bt_metainfo_free(mi);
	bt_bval_free(root);
	return rc;
}

int bt_metainfo_load(const char *path, struct bt_metainfo **out, char *err,
		     size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int fd, rc = 0;

	*out = NULL;
	err_clear(err, errlen);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (S_ISREG(st.st_mode) && st.st_size > MI_MAX_FILE_SIZE) {
		rc = -EFBIG;
		goto out;
	}
	/* read to EOF (pipes have no size), one byte past the limit at most */
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 64 * 1024;
			if (S_ISREG(st.st_mode) && !cap)
				ncap = (size_t)st.st_size + 1;
			if (ncap > MI_MAX_FILE_SIZE + 1)
				ncap = MI_MAX_FILE_SIZE + 1;
			if (ncap <= cap) {
				rc = -EFBIG;
				goto out;
			}
			uint8_t *p = realloc(buf, ncap);
			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			buf = p;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = bt_metainfo_parse(buf, len, out, err, errlen);
out:
	if (rc == -EFBIG && err && errlen)
		snprintf(err, errlen, "'%s' is larger than %u bytes", path,
			 MI_MAX_FILE_SIZE);
	else if (rc && rc != -EINVAL && err && errlen && !err[0])
		snprintf(err, errlen, "cannot read '%s': %s", path,
			 strerror(-rc));
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

void bt_metainfo_free(struct bt_metainfo *mi)
{
	if (!mi)
		return;
	free(mi->name);
	free(mi->piece_hashes);
	for (size_t i = 0; i < mi->nfiles; i++)
		free(mi->files[i].path);
	free(mi->files);
	for (size_t i = 0; i < mi->ntrackers; i++)
		free(mi->trackers[i]);
	free(mi->trackers);
	free(mi->tracker_tiers);
	free(mi->comment);
	free(mi->created_by);
	free(mi->info_raw);
	free(mi);
}

/* ---- piece mapping ----------------------------------------------------- */

uint32_t bt_metainfo_piece_size(const struct bt_metainfo *mi, uint32_t index)
{
	if (index >= mi->npieces || mi->piece_length == 0)
		return 0;
	uint64_t off = (uint64_t)index * mi->piece_length;
	if (off >= mi->total_length)
		return 0;
	uint64_t left = mi->total_length - off;
	return left < mi->piece_length ? (uint32_t)left : mi->piece_length;
}

void bt_metainfo_range_pieces(const struct bt_metainfo *mi, uint64_t off,
			      uint64_t len, uint32_t *first, uint32_t *last)
{
	*first = 1;
	*last = 0;
	if (mi->piece_length == 0 || mi->npieces == 0 || len == 0 ||
	    off >= mi->total_length)
		return;
	uint64_t end =
		len > mi->total_length - off ? mi->total_length : off + len;
	uint64_t f = off / mi->piece_length;
	uint64_t l = (end - 1) / mi->piece_length;
	if (l >= mi->npieces)
		l = mi->npieces - 1;
	if (f > l)
		return;
	*first = (uint32_t)f;
	*last = (uint32_t)l;
}
