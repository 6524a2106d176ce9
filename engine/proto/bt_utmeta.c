/* bt_utmeta — BEP 9 ut_metadata message codec; see bt_utmeta.h. */
#include "bt_utmeta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bt_bencode.h"
#include "pfs_log.h"

uint32_t bt_utmeta_npieces(uint32_t total)
{
	return (uint32_t)(((uint64_t)total + BT_UTMETA_PIECE_LEN - 1) /
			  BT_UTMETA_PIECE_LEN);
}

uint32_t bt_utmeta_piece_len(uint32_t total, uint32_t piece)
{
	uint64_t start = (uint64_t)piece * BT_UTMETA_PIECE_LEN;
	if (start >= total)
		return 0;
	uint64_t rest = total - start;
	return rest < BT_UTMETA_PIECE_LEN ? (uint32_t)rest
					  : BT_UTMETA_PIECE_LEN;
}

int bt_utmeta_parse(const uint8_t *p, size_t len, struct bt_utmeta_msg *m,
		    char *err, size_t errlen)
{
	struct bt_bval *d = NULL;
	size_t used = 0;
	char why[160];
	int64_t x;
	int rc;

	memset(m, 0, sizeof(*m));
	if (err && errlen)
		err[0] = '\0';
	rc = bt_bdecode_prefix(p, len, &d, &used, why, sizeof(why));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		pfs_errf(err, errlen, "ut_metadata: %s", why);
		return -EPROTO;
	}
	rc = -EPROTO;
	if (d->type != BT_BDICT) {
		pfs_errf(err, errlen, "ut_metadata: not a dictionary");
		goto out;
	}
	if (bt_bdict_get_int(d, "msg_type", &x) < 0 || x < 0) {
		pfs_errf(err, errlen, "ut_metadata: no 'msg_type'");
		goto out;
	}
	m->type = x;
	if (x > BT_UTMETA_REJECT) {
		m->data = p + used;
		m->data_len = len - used;
		rc = 0;
		goto out;
	}
	if (bt_bdict_get_int(d, "piece", &x) < 0 || x < 0 ||
	    x >= (int64_t)BT_UTMETA_MAX_PIECES) {
		pfs_errf(err, errlen,
			 "ut_metadata: 'piece' missing or out of "
			 "range");
		goto out;
	}
	m->piece = (uint32_t)x;
	if (m->type != BT_UTMETA_DATA) {
		if (used != len) {
			pfs_errf(err, errlen,
				 "ut_metadata: %zu bytes after a "
				 "%s",
				 len - used, m->type ? "reject" : "request");
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (bt_bdict_get_int(d, "total_size", &x) < 0 || x <= 0 ||
	    x > (int64_t)BT_EXT_MAX_METADATA_SIZE) {
		pfs_errf(err, errlen,
			 "ut_metadata: 'total_size' missing or "
			 "out of range");
		goto out;
	}
	m->total_size = (uint32_t)x;
	uint32_t want = bt_utmeta_piece_len(m->total_size, m->piece);
	if (want == 0) {
		pfs_errf(err, errlen,
			 "ut_metadata: piece %u past total_size "
			 "%u",
			 m->piece, m->total_size);
		goto out;
	}
	if (len - used != want) {
		pfs_errf(err, errlen,
			 "ut_metadata: piece %u has %zu bytes, "
			 "not %u",
			 m->piece, len - used, want);
		goto out;
	}
	m->data = p + used;
	m->data_len = want;
	rc = 0;
out:
	bt_bval_free(d);
	return rc;
}

size_t bt_utmeta_build(uint8_t *out, size_t cap, const struct bt_utmeta_msg *m)
{
	char h[BT_UTMETA_MAX_HEADER];
	int n;

	if (m->type < BT_UTMETA_REQUEST || m->type > BT_UTMETA_REJECT)
		return 0;
	if (m->type == BT_UTMETA_DATA)
		n = snprintf(h, sizeof(h),
			     "d8:msg_typei1e5:piecei%" PRIu32
			     "e10:total_sizei%" PRIu32 "ee",
			     m->piece, m->total_size);
	else
		n = snprintf(h, sizeof(h),
			     "d8:msg_typei%de5:piecei%" PRIu32 "ee",
			     (int)m->type, m->piece);
	if (n < 0 || (size_t)n >= sizeof(h) || (size_t)n > cap)
		return 0;
	memcpy(out, h, (size_t)n);
	if (m->type != BT_UTMETA_DATA || !m->data)
		return (size_t)n;
	if (m->data_len > cap - (size_t)n)
		return 0;
	memcpy(out + n, m->data, m->data_len);
	return (size_t)n + m->data_len;
}
