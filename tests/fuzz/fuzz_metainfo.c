/* libFuzzer target for bt_metainfo.
 *
 * Each input is parsed as a whole .torrent and as a bare info dictionary
 * (with its own SHA-1, so the hash check passes and the info parser is
 * reached directly). Failures must be -EINVAL with a one-line reason; a
 * success must satisfy every promise of bt_metainfo.h: safe and unique
 * paths, consistent offsets, piece counts and hashes, and a piece mapping
 * that agrees with plain arithmetic. Build: make fuzz-build. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bt_metainfo.h"
#include "pfs_hash.h"

static bool utf8_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + k > n)
			return false;
		for (size_t j = 1; j < k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[k] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k;
	}
	return true;
}

static void check_component(const char *c, size_t n)
{
	if (n == 0 || n > 255 || (n == 1 && c[0] == '.') ||
	    (n == 2 && c[0] == '.' && c[1] == '.'))
		abort();
	if (!utf8_ok((const uint8_t *)c, n))
		abort();
}

static void check_path(const char *p)
{
	for (;;) {
		size_t n = strcspn(p, "/");
		check_component(p, n);
		if (!p[n])
			return;
		p += n + 1;
	}
}

static void check(const struct bt_metainfo *mi)
{
	uint8_t h[20];
	char hex[41];

	if (pfs_sha1(mi->info_raw, mi->info_len, h) ||
	    memcmp(h, mi->info_hash, 20))
		abort();
	pfs_hex(h, 20, hex);
	if (strcmp(hex, mi->info_hash_hex))
		abort();
	if (!mi->name || strchr(mi->name, '/'))
		abort();
	check_component(mi->name, strlen(mi->name));
	if (mi->piece_length < 1 || mi->piece_length > BT_MAX_PIECE_LENGTH ||
	    mi->total_length == 0 || mi->total_length > INT64_MAX ||
	    mi->npieces == 0 || mi->npieces > BT_MAX_PIECES ||
	    mi->npieces != (mi->total_length - 1) / mi->piece_length + 1 ||
	    !mi->piece_hashes)
		abort();
	if (mi->nfiles == 0 || mi->nfiles > BT_MAX_FILES ||
	    (!mi->multi_file &&
	     (mi->nfiles != 1 || strcmp(mi->files[0].path, mi->name))))
		abort();

	uint64_t off = 0;
	for (size_t i = 0; i < mi->nfiles; i++) {
		const struct bt_file *f = &mi->files[i];
		if (f->offset != off)
			abort();
		off += f->length;
		check_path(f->path);
		if (f->length) {
			uint32_t first, last;
			bt_metainfo_range_pieces(mi, f->offset, f->length,
						 &first, &last);
			if (first != f->offset / mi->piece_length ||
			    last != (f->offset + f->length - 1) /
					    mi->piece_length ||
			    last >= mi->npieces)
				abort();
		}
	}
	if (off != mi->total_length)
		abort();
	/* unique, and no file is a folder of another (quadratic: keep small) */
	if (mi->nfiles <= 2000)
		for (size_t i = 0; i < mi->nfiles; i++) {
			const char *p = mi->files[i].path;
			size_t len = strlen(p);
			for (size_t k = 0; k < mi->nfiles; k++) {
				const char *q = mi->files[k].path;
				if (k != i && strcmp(p, q) == 0)
					abort();
				if (strncmp(p, q, len) == 0 && q[len] == '/')
					abort();
			}
		}

	uint64_t sum = 0;
	uint32_t step = mi->npieces > 4096 ? mi->npieces / 4096 : 1;
	for (uint32_t i = 0; i < mi->npieces; i += step) {
		uint32_t sz = bt_metainfo_piece_size(mi, i);
		if (sz == 0 || sz > mi->piece_length ||
		    (i + 1 < mi->npieces && sz != mi->piece_length))
			abort();
		sum += sz;
	}
	if (step == 1 && sum != mi->total_length)
		abort();
	if (bt_metainfo_piece_size(mi, mi->npieces) != 0)
		abort();

	for (size_t i = 0; i < mi->ntrackers; i++) {
		const char *t = mi->trackers[i];
		if (strncasecmp(t, "http://", 7) &&
		    strncasecmp(t, "https://", 8) &&
		    strncasecmp(t, "udp://", 6))
			abort();
		for (const char *c = t; *c; c++)
			if ((uint8_t)*c <= ' ' || (uint8_t)*c >= 0x7f)
				abort();
		for (size_t k = 0; k < i; k++)
			if (!strcmp(t, mi->trackers[k]))
				abort();
	}
	if (mi->comment &&
	    !utf8_ok((const uint8_t *)mi->comment, strlen(mi->comment)))
		abort();
}

static void check_fail(int rc, const struct bt_metainfo *mi, const char *err)
{
	if ((rc != -EINVAL && rc != -ENOMEM) || mi || !err[0] ||
	    strchr(err, '\n'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_metainfo *mi = NULL;
	char err[256];
	uint8_t h[20];

	int rc = bt_metainfo_parse(data, size, &mi, err, sizeof(err));
	if (rc == 0)
		check(mi);
	else
		check_fail(rc, mi, err);
	bt_metainfo_free(mi);

	mi = NULL;
	if (pfs_sha1(data, size, h))
		return 0;
	rc = bt_metainfo_from_info(data, size, h, &mi, err, sizeof(err));
	if (rc == 0) {
		check(mi);
		if (mi->info_len != size || mi->ntrackers)
			abort();
	} else {
		check_fail(rc, mi, err);
	}
	bt_metainfo_free(mi);
	return 0;
}
