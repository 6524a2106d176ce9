/* bt_pex — BEP 11 ut_pex codec; see bt_pex.h. */
#include "bt_pex.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "pfs_log.h"

static bool seen(const struct bt_addr *a, const struct bt_pex_peer *added,
		 size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (bt_addr_equal(&added[i].addr, a))
			return true;
	return false;
}

static bool seen_dropped(const struct bt_addr *a, const struct bt_addr *d,
			 size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (bt_addr_equal(&d[i], a))
			return true;
	return false;
}

/* One compact list KEY (entries of ESZ bytes) with its flags FKEY (or
 * NULL); appends to M. */
static int get_list(const struct bt_bval *root, const char *key,
		    const char *fkey, size_t esz, struct bt_pex_msg *m,
		    char *err, size_t errlen)
{
	const struct bt_bval *v = bt_bdict_get(root, key);
	if (!v)
		return 0;
	if (v->type != BT_BSTR || v->s.len % esz) {
		pfs_errf(err, errlen,
			 "ut_pex: '%s' is not a list of %zu-byte "
			 "addresses",
			 key, esz);
		return -EPROTO;
	}
	size_t n = v->s.len / esz;
	const struct bt_bval *f = fkey ? bt_bdict_get_str(root, fkey) : NULL;
	if (f && f->s.len != n)
		f = NULL;
	for (size_t i = 0; i < n; i++) {
		struct bt_addr a;
		if (fkey)
			m->total_added++;
		else
			m->total_dropped++;
		if (bt_addr_from_compact(&a, v->s.p + i * esz, esz) < 0 ||
		    !bt_addr_usable(&a)) {
			m->nskipped++;
			continue;
		}
		if (fkey) {
			if (m->nadded >= BT_PEX_MAX_PARSE ||
			    seen(&a, m->added, m->nadded)) {
				m->nskipped++;
				continue;
			}
			m->added[m->nadded].addr = a;
			m->added[m->nadded++].flags = f ? f->s.p[i] : 0;
		} else {
			if (m->ndropped >= BT_PEX_MAX_PARSE ||
			    seen_dropped(&a, m->dropped, m->ndropped)) {
				m->nskipped++;
				continue;
			}
			m->dropped[m->ndropped++] = a;
		}
	}
	return 0;
}

int bt_pex_parse(const uint8_t *p, size_t len, struct bt_pex_msg *m, char *err,
		 size_t errlen)
{
	struct bt_bval *root = NULL;
	char why[160];
	int rc;

	m->nadded = m->ndropped = 0;
	m->total_added = m->total_dropped = m->nskipped = 0;
	if (err && errlen)
		err[0] = '\0';
	if (len > BT_PEX_MAX_MSG_LEN) {
		pfs_errf(err, errlen, "ut_pex message of %zu bytes (over %u)",
			 len, BT_PEX_MAX_MSG_LEN);
		return -EPROTO;
	}
	rc = bt_bdecode(p, len, &root, why, sizeof(why));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		pfs_errf(err, errlen, "ut_pex: %s", why);
		return -EPROTO;
	}
	rc = -EPROTO;
	if (root->type != BT_BDICT) {
		pfs_errf(err, errlen, "ut_pex: not a dictionary");
		goto out;
	}
	if ((rc = get_list(root, "added", "added.f", BT_COMPACT4_LEN, m, err,
			   errlen)) < 0 ||
	    (rc = get_list(root, "added6", "added6.f", BT_COMPACT6_LEN, m, err,
			   errlen)) < 0 ||
	    (rc = get_list(root, "dropped", NULL, BT_COMPACT4_LEN, m, err,
			   errlen)) < 0 ||
	    (rc = get_list(root, "dropped6", NULL, BT_COMPACT6_LEN, m, err,
			   errlen)) < 0)
		goto out;
	rc = 0;
out:
	bt_bval_free(root);
	return rc;
}

/* The compact bytes (or flags) of the entries of FAMILY. */
static void put_added(struct bt_benc *b, const struct bt_pex_peer *a, size_t n,
		      int family, bool flags)
{
	uint8_t buf[BT_PEX_MAX_PER_MSG * BT_COMPACT6_LEN];
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (a[i].addr.family != family)
			continue;
		if (flags)
			buf[len++] = a[i].flags;
		else
			len += bt_addr_compact(&a[i].addr, buf + len);
	}
	bt_benc_str(b, buf, len);
}

static void put_dropped(struct bt_benc *b, const struct bt_addr *d, size_t n,
			int family)
{
	uint8_t buf[BT_PEX_MAX_PER_MSG * BT_COMPACT6_LEN];
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		if (d[i].family == family)
			len += bt_addr_compact(&d[i], buf + len);
	bt_benc_str(b, buf, len);
}

int bt_pex_build(const struct bt_pex_peer *added, size_t nadded,
		 const struct bt_addr *dropped, size_t ndropped,
		 struct bt_benc *b)
{
	if (nadded > BT_PEX_MAX_PER_MSG || ndropped > BT_PEX_MAX_PER_MSG)
		return -EINVAL;
	for (size_t i = 0; i < nadded; i++)
		if (added[i].addr.family != BT_ADDR_V4 &&
		    added[i].addr.family != BT_ADDR_V6)
			return -EINVAL;
	for (size_t i = 0; i < ndropped; i++)
		if (dropped[i].family != BT_ADDR_V4 &&
		    dropped[i].family != BT_ADDR_V6)
			return -EINVAL;
	/* keys in byte order: added added.f added6 added6.f dropped dropped6 */
	bt_benc_dict_begin(b);
	bt_benc_cstr(b, "added");
	put_added(b, added, nadded, BT_ADDR_V4, false);
	bt_benc_cstr(b, "added.f");
	put_added(b, added, nadded, BT_ADDR_V4, true);
	bt_benc_cstr(b, "added6");
	put_added(b, added, nadded, BT_ADDR_V6, false);
	bt_benc_cstr(b, "added6.f");
	put_added(b, added, nadded, BT_ADDR_V6, true);
	bt_benc_cstr(b, "dropped");
	put_dropped(b, dropped, ndropped, BT_ADDR_V4);
	bt_benc_cstr(b, "dropped6");
	put_dropped(b, dropped, ndropped, BT_ADDR_V6);
	bt_benc_end(b);
	return b->err;
}
