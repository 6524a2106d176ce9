/* bt_metaserve — answering ut_metadata requests; see bt_metaserve.h. */
#include "bt_metaserve.h"

#include <errno.h>

void bt_metaserve_init(struct bt_metaserve *s, uint64_t now)
{
	*s = (struct bt_metaserve){
	    .tokens = (uint64_t)BT_METASERVE_BURST * 1000,
	    .last = now,
	};
}

ssize_t bt_metaserve_answer(struct bt_metaserve *s, const uint8_t *info,
			    size_t info_len, const struct bt_utmeta_msg *req,
			    uint64_t now, uint8_t *out, size_t cap)
{
	if (req->type != BT_UTMETA_REQUEST || cap < BT_METASERVE_OUT_MAX)
		return -EINVAL;
	if (now > s->last) {
		uint64_t dt = now - s->last;
		uint64_t max = (uint64_t)BT_METASERVE_BURST * 1000;
		/* dt is at most a few hours in practice; clamp anyway */
		uint64_t add = dt > max ? max : dt * BT_METASERVE_RATE;
		s->tokens = s->tokens + add > max ? max : s->tokens + add;
		s->last = now;
	}
	struct bt_utmeta_msg a = {.type = BT_UTMETA_REJECT,
				  .piece = req->piece};
	if (s->tokens < 1000) {
		if (++s->over >= BT_METASERVE_MAX_OVER)
			return -EPROTO;
	} else {
		s->tokens -= 1000;
		s->over = 0;
		uint32_t len =
		    info && info_len <= BT_EXT_MAX_METADATA_SIZE
			? bt_utmeta_piece_len((uint32_t)info_len, req->piece)
			: 0;
		if (len) {
			a.type = BT_UTMETA_DATA;
			a.total_size = (uint32_t)info_len;
			a.data =
			    info + (size_t)req->piece * BT_UTMETA_PIECE_LEN;
			a.data_len = len;
		}
	}
	size_t n = bt_utmeta_build(out, cap, &a);
	if (!n)
		return -EINVAL;
	if (a.type == BT_UTMETA_DATA)
		s->served++;
	else
		s->rejected++;
	return (ssize_t)n;
}
