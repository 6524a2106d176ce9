/* bt_ext — BEP 10 extension handshake codec; see bt_ext.h. */
#include "bt_ext.h"

#include <errno.h>
#include <string.h>

#include "pfs_log.h"
#include "pfs_text.h"

#ifndef PFS_VERSION
#error "PFS_VERSION must be defined (the Makefile passes it)"
#endif

/* Names in `m`, indexed by enum bt_ext_kind. */
static const char *const ext_names[BT_EXT_NKINDS] = {
    [BT_EXT_UT_METADATA] = "ut_metadata",
    [BT_EXT_UT_PEX] = "ut_pex",
};

void bt_ext_set_reserved(uint8_t reserved[8])
{
	reserved[BT_EXT_RESERVED_BYTE] |= BT_EXT_RESERVED_MASK;
}

bool bt_ext_supported(const uint8_t reserved[8])
{
	return (reserved[BT_EXT_RESERVED_BYTE] & BT_EXT_RESERVED_MASK) != 0;
}

void bt_ext_hs_init(struct bt_ext_hs *hs)
{
	memset(hs, 0, sizeof(*hs));
	for (int i = 0; i < BT_EXT_NKINDS; i++)
		hs->ids[i] = -1;
	hs->metadata_size = -1;
	hs->port = -1;
	hs->reqq = -1;
	hs->upload_only = -1;
}

/* A 4- or 16-byte raw address string into A (port 0); FAMILY 0 = either. */
static void get_ip(const struct bt_bval *d, const char *key, int family,
		   struct bt_addr *a)
{
	const struct bt_bval *v = bt_bdict_get_str(d, key);
	if (!v)
		return;
	size_t n = v->s.len;
	if ((family == BT_ADDR_V4 && n != 4) ||
	    (family == BT_ADDR_V6 && n != 16) || (n != 4 && n != 16))
		return;
	struct bt_addr t;
	if (bt_addr_set(&t, v->s.p, n, 0) == 0)
		*a = t;
}

int bt_ext_hs_parse(const uint8_t *p, size_t len, struct bt_ext_hs *hs,
		    char *err, size_t errlen)
{
	struct bt_bval *root = NULL;
	char why[160];
	int64_t x;
	int rc;

	bt_ext_hs_init(hs);
	if (err && errlen)
		err[0] = '\0';
	if (len > BT_EXT_MAX_HANDSHAKE_LEN) {
		pfs_errf(err, errlen,
			 "extension handshake of %zu bytes (over "
			 "%u)",
			 len, BT_EXT_MAX_HANDSHAKE_LEN);
		return -EPROTO;
	}
	rc = bt_bdecode(p, len, &root, why, sizeof(why));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		pfs_errf(err, errlen, "extension handshake: %s", why);
		return -EPROTO;
	}
	if (root->type != BT_BDICT) {
		bt_bval_free(root);
		pfs_errf(err, errlen,
			 "extension handshake is not a dictionary");
		return -EPROTO;
	}
	const struct bt_bval *m = bt_bdict_get_dict(root, "m");
	for (int i = 0; m && i < BT_EXT_NKINDS; i++) {
		if (bt_bdict_get_int(m, ext_names[i], &x) == 0 && x >= 0 &&
		    x <= 255)
			hs->ids[i] = (int16_t)x;
	}
	if (bt_bdict_get_int(root, "metadata_size", &x) == 0) {
		/* 0 is what some clients send while they have none */
		if (x > 0 && x <= (int64_t)BT_EXT_MAX_METADATA_SIZE)
			hs->metadata_size = x;
		else if (x != 0)
			hs->metadata_size_refused = x;
	}
	if (bt_bdict_get_int(root, "p", &x) == 0 && x > 0 && x <= 65535)
		hs->port = (int32_t)x;
	const struct bt_bval *v = bt_bdict_get_str(root, "v");
	if (v)
		pfs_text_clean(v->s.p, v->s.len, hs->client,
			       sizeof(hs->client));
	get_ip(root, "yourip", 0, &hs->yourip);
	get_ip(root, "ipv4", BT_ADDR_V4, &hs->ipv4);
	get_ip(root, "ipv6", BT_ADDR_V6, &hs->ipv6);
	/* an "ipv6" that is v4-mapped is stored as IPv4 by bt_addr: not ours */
	if (hs->ipv6.family != BT_ADDR_V6)
		memset(&hs->ipv6, 0, sizeof(hs->ipv6));
	if (bt_bdict_get_int(root, "reqq", &x) == 0 && x > 0)
		hs->reqq = (int32_t)(x > BT_EXT_MAX_REQQ ? BT_EXT_MAX_REQQ : x);
	if (bt_bdict_get_int(root, "upload_only", &x) == 0)
		hs->upload_only = x != 0;
	bt_bval_free(root);
	return 0;
}

void bt_ext_hs_merge(struct bt_ext_hs *st, const struct bt_ext_hs *upd)
{
	for (int i = 0; i < BT_EXT_NKINDS; i++)
		if (upd->ids[i] >= 0)
			st->ids[i] = upd->ids[i];
	if (upd->metadata_size > 0) {
		st->metadata_size = upd->metadata_size;
		st->metadata_size_refused = 0;
	} else if (upd->metadata_size_refused) {
		st->metadata_size = -1;
		st->metadata_size_refused = upd->metadata_size_refused;
	}
	if (upd->port > 0)
		st->port = upd->port;
	if (upd->client[0])
		memcpy(st->client, upd->client, sizeof(st->client));
	if (upd->yourip.family)
		st->yourip = upd->yourip;
	if (upd->ipv4.family)
		st->ipv4 = upd->ipv4;
	if (upd->ipv6.family)
		st->ipv6 = upd->ipv6;
	if (upd->reqq > 0)
		st->reqq = upd->reqq;
	if (upd->upload_only >= 0)
		st->upload_only = upd->upload_only;
}

static void put_ip(struct bt_benc *b, const char *key, const struct bt_addr *a)
{
	if (a->family != BT_ADDR_V4 && a->family != BT_ADDR_V6)
		return;
	bt_benc_cstr(b, key);
	bt_benc_str(b, a->ip, a->family == BT_ADDR_V4 ? 4 : 16);
}

int bt_ext_hs_build(const struct bt_ext_hs *hs, struct bt_benc *b)
{
	/* keys in byte order: ipv4 ipv6 m metadata_size p reqq upload_only v
	 * yourip; inside m: ut_metadata ut_pex */
	bt_benc_dict_begin(b);
	put_ip(b, "ipv4", &hs->ipv4);
	put_ip(b, "ipv6", &hs->ipv6);
	bt_benc_cstr(b, "m");
	bt_benc_dict_begin(b);
	for (int i = 0; i < BT_EXT_NKINDS; i++) {
		if (hs->ids[i] < 0)
			continue;
		bt_benc_cstr(b, ext_names[i]);
		bt_benc_int(b, hs->ids[i]);
	}
	bt_benc_end(b);
	if (hs->metadata_size > 0) {
		bt_benc_cstr(b, "metadata_size");
		bt_benc_int(b, hs->metadata_size);
	}
	if (hs->port > 0) {
		bt_benc_cstr(b, "p");
		bt_benc_int(b, hs->port);
	}
	if (hs->reqq > 0) {
		bt_benc_cstr(b, "reqq");
		bt_benc_int(b, hs->reqq);
	}
	if (hs->upload_only >= 0) {
		bt_benc_cstr(b, "upload_only");
		bt_benc_int(b, hs->upload_only);
	}
	if (hs->client[0]) {
		bt_benc_cstr(b, "v");
		bt_benc_cstr(b, hs->client);
	}
	put_ip(b, "yourip", &hs->yourip);
	bt_benc_end(b);
	return b->err;
}

void bt_ext_hs_ours(struct bt_ext_hs *hs, bool pex, uint16_t port,
		    uint32_t metadata_size, uint32_t reqq,
		    const struct bt_addr *peer, bool upload_only)
{
	bt_ext_hs_init(hs);
	hs->ids[BT_EXT_UT_METADATA] = BT_EXT_OUR_UT_METADATA;
	if (pex)
		hs->ids[BT_EXT_UT_PEX] = BT_EXT_OUR_UT_PEX;
	if (metadata_size && metadata_size <= BT_EXT_MAX_METADATA_SIZE)
		hs->metadata_size = metadata_size;
	if (port)
		hs->port = port;
	if (reqq)
		hs->reqq =
		    (int32_t)(reqq > BT_EXT_MAX_REQQ ? BT_EXT_MAX_REQQ : reqq);
	if (peer &&
	    (peer->family == BT_ADDR_V4 || peer->family == BT_ADDR_V6)) {
		hs->yourip = *peer;
		hs->yourip.port = 0;
	}
	hs->upload_only = upload_only;
	_Static_assert(sizeof(BT_EXT_CLIENT) <= sizeof(hs->client),
		       "our client name fits");
	memcpy(hs->client, BT_EXT_CLIENT, sizeof(BT_EXT_CLIENT));
}
