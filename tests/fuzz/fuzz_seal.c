/* libFuzzer target for the sealed header (bt_seal).
 *
 * Each input is used four ways: as the front of a blob for bt_seal_open
 * with a fixed key (an attacker without the key: it must be refused, never
 * opened); as a plaintext file table for bt_seal_table_parse; as a file
 * table sealed here with the fixed key, the way a hostile key holder could
 * (then bt_seal_open must either refuse it with a reason or give a share
 * whose every promise holds, and bt_seal_view must map it onto the blob);
 * and as key text and as a .torrent for the header copy. Build: make
 * fuzz-build. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_seal.h"
#include "pfs_cipher.h"

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
				12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
				23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void check_share(const struct bt_seal *s, uint64_t data_off,
			uint64_t blob_len)
{
	uint64_t end = data_off;
	if (!s->root || !s->root[0] || strchr(s->root, '/'))
		abort();
	if (s->single && (s->nfiles != 1 || strcmp(s->files[0].path, s->root)))
		abort();
	for (size_t i = 0; i < s->nfiles; i++) {
		const struct bt_seal_file *f = &s->files[i];
		if (!f->path[0] || f->path[0] == '/' || strstr(f->path, "//") ||
		    f->slot < f->length || f->offset < end ||
		    f->offset + f->slot > blob_len || f->mtime_nsec >= 1000000000u ||
		    (f->mode & ~BT_SEAL_MODE_EXEC))
			abort();
		if (i && strcmp(s->files[i - 1].path, f->path) >= 0)
			abort();
		end = f->offset + f->slot;
	}
}

static void check_fail(int rc, const char *err)
{
	if ((rc != -EBADMSG && rc != -EKEYREJECTED && rc != -ENOMEM &&
	     rc != -EPROTONOSUPPORT && rc != -EAGAIN) ||
	    (rc != -EAGAIN && (!err[0] || strchr(err, '\n'))))
		abort();
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* DATA as a table sealed with KEY: the header a key holder could make. */
static void sealed_table(const uint8_t *data, size_t size)
{
	uint8_t salt[16] = {9, 9, 9}, ck[16], kh[32], nonce[12] = {0};
	size_t hlen = BT_SEAL_TABLE_OFF + size + 16;
	uint64_t data_off = hlen < 4096 ? 4096 : hlen;
	uint64_t blob = data_off + (1ull << 30);
	uint8_t *h = malloc(hlen), pre[BT_SEAL_PREAMBLE_LEN];
	if (!h)
		return;
	if (pfs_hkdf_sha256(KEY, 32, salt, 16, "p2pfs-seal-v1 check", 19, ck,
			    16) ||
	    pfs_hkdf_sha256(KEY, 32, salt, 16, "p2pfs-seal-v1 header", 20, kh,
			    32))
		goto out;
	memcpy(h, salt, 16);
	memcpy(h + 16, ck, 16);
	memcpy(pre, BT_SEAL_MAGIC, 8);
	memset(pre + 8, 0, 8);
	pre[11] = BT_SEAL_VERSION;
	put64(pre + 16, size);
	put64(pre + 24, data_off);
	put64(pre + 32, blob);
	nonce[11] = 1;
	if (pfs_gcm_seal(kh, nonce, h, 32, pre, sizeof(pre), h + 32, h + 72))
		goto out;
	nonce[11] = 2;
	if (pfs_gcm_seal(kh, nonce, h, BT_SEAL_TABLE_OFF, data, size,
			 h + BT_SEAL_TABLE_OFF, h + BT_SEAL_TABLE_OFF + size))
		goto out;
	struct bt_seal *s = NULL;
	uint64_t need = 0;
	char err[256] = "";
	int rc = bt_seal_open(KEY, h, hlen, blob, &s, &need, err, sizeof(err));
	if (rc == 0) {
		if (s->header_len != hlen || s->data_off != data_off ||
		    s->total_length != blob)
			abort();
		check_share(s, data_off, blob);
		struct bt_file one = {.path = "blob", .length = blob};
		struct bt_metainfo mi = {.name = "blob",
					 .files = &one,
					 .nfiles = 1,
					 .total_length = blob,
					 .piece_length = 1u << 22,
					 .npieces = (uint32_t)(blob >> 22) + 1};
		mi.piece_hashes = calloc(mi.npieces, 20);
		struct bt_metainfo *v = NULL;
		if (mi.piece_hashes &&
		    bt_seal_view(&mi, s, &v, err, sizeof(err)) == 0) {
			uint64_t at = 0;
			for (size_t i = 0; i < v->nfiles; i++) {
				if (v->files[i].offset != at)
					abort();
				at += v->files[i].length;
			}
			if (at != blob)
				abort();
		}
		bt_metainfo_free(v);
		free(mi.piece_hashes);
		bt_seal_free(s);
	} else {
		check_fail(rc, err);
		if (rc == -EAGAIN || rc == -EKEYREJECTED || s)
			abort();
	}
out:
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_seal *s = NULL;
	uint64_t need = 0;
	char err[256] = "";

	/* without the key: never opens */
	int rc = bt_seal_open(KEY, data, size, 1ull << 40, &s, &need, err,
			      sizeof(err));
	if (rc == 0 && size < BT_SEAL_FIXED_LEN)
		abort();
	if (rc == -EAGAIN && need <= size)
		abort();
	if (rc < 0)
		check_fail(rc, err);
	bt_seal_free(s);

	/* the plaintext table */
	s = calloc(1, sizeof(*s));
	if (s) {
		err[0] = '\0';
		rc = bt_seal_table_parse(s, data, size, 4096, 1ull << 40, err,
					 sizeof(err));
		if (rc == 0)
			check_share(s, 4096, 1ull << 40);
		else if ((rc != -EBADMSG && rc != -ENOMEM) || !err[0])
			abort();
		bt_seal_free(s);
	}

	if (size <= (1u << 16))
		sealed_table(data, size);

	/* key text, and the torrent's header copy */
	uint8_t key[32], ih[20];
	bool has;
	err[0] = '\0';
	if (bt_seal_key_text((const char *)data, size, key, ih, &has, err,
			     sizeof(err)) < 0 && !err[0])
		abort();
	const uint8_t *h;
	size_t hl;
	if (bt_seal_torrent_header(data, size, &h, &hl) == 0 &&
	    (h < data || h + hl > data + size))
		abort();
	return 0;
}
