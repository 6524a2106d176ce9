/* libFuzzer target for bt_bencode.
 *
 * Any input must decode or fail with -EINVAL and a reason, never crash. When
 * it decodes, the tree must be consistent (every raw span tiles its parent's
 * exactly, lookups find every key) and re-encoding it with the writer must
 * give back the input byte for byte: the decoder is strict, so only the
 * canonical form is accepted. The prefix decoder must agree with the whole
 * one. The lax decoder (keys in any order) must accept everything the strict
 * one does, and its canonical re-encoding must be accepted by the strict
 * decoder. Build: make fuzz-build.
 *
 * fuzz-max-len: 1024 (run.sh: nesting to the depth limit takes 130 bytes;
 * longer inputs reach no other code and cost a node each) */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bt_bencode.h"

/* The children's raw spans must tile V's span between its brackets. */
static void check_spans(const struct bt_bval *v)
{
	if (v->raw_len == 0)
		abort();
	if (v->type == BT_BINT || v->type == BT_BSTR) {
		if (v->type == BT_BSTR &&
		    v->s.p + v->s.len != v->raw + v->raw_len)
			abort();
		return;
	}
	const uint8_t *at = v->raw + 1;
	if (v->type == BT_BLIST) {
		for (size_t i = 0; i < v->list.n; i++) {
			const struct bt_bval *c = &v->list.items[i];
			if (c->raw != at)
				abort();
			check_spans(c);
			at += c->raw_len;
		}
	} else {
		for (size_t i = 0; i < v->dict.n; i++) {
			const struct bt_bkv *kv = &v->dict.items[i];
			if (kv->key + kv->key_len != kv->val.raw ||
			    kv->key < at)
				abort();
			check_spans(&kv->val);
			at = kv->val.raw + kv->val.raw_len;
			/* keys without NUL are reachable by name */
			if (kv->key_len < 64 &&
			    !memchr(kv->key, 0, kv->key_len)) {
				char key[64];
				memcpy(key, kv->key, kv->key_len);
				key[kv->key_len] = '\0';
				if (bt_bdict_get(v, key) != &kv->val)
					abort();
			}
		}
	}
	if (at + 1 != v->raw + v->raw_len || *at != 'e')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_bval *v = NULL;
	char err[256];
	size_t used = 0;

	int rc = bt_bdecode(data, size, &v, err, sizeof(err));
	if (rc == 0) {
		if (!v || v->raw != data || v->raw_len != size)
			abort();
		check_spans(v);
		struct bt_benc b;
		bt_benc_init(&b);
		if (bt_benc_bval(&b, v) != 0 || b.len != size ||
		    memcmp(b.buf, data, size) != 0)
			abort();
		bt_benc_release(&b);
		bt_bval_free(v);
	} else if ((rc != -EINVAL && rc != -ENOMEM) || v || !err[0] ||
		   strchr(err, '\n')) {
		abort();
	}

	v = NULL;
	int prc = bt_bdecode_prefix(data, size, &v, &used, NULL, 0);
	if (prc == 0) {
		if (!v || used == 0 || used > size || v->raw_len != used)
			abort();
		/* the whole decode succeeds exactly when the prefix is all */
		if ((rc == 0) != (used == size))
			abort();
		bt_bval_free(v);
	} else if (rc == 0 || v) {
		abort();
	}

	v = NULL;
	int lrc = bt_bdecode_lax(data, size, &v, NULL, 0);
	if (rc == 0 && lrc != 0)
		abort();
	if (lrc == 0) {
		struct bt_benc b;
		bt_benc_init(&b);
		if (bt_benc_bval(&b, v) != 0)
			abort();
		struct bt_bval *w = NULL;
		if (bt_bdecode(b.buf, b.len, &w, NULL, 0) != 0 ||
		    w->raw_len != size || (rc == 0 && memcmp(b.buf, data, size)))
			abort();
		bt_bval_free(w);
		bt_benc_release(&b);
		bt_bval_free(v);
	} else if (v) {
		abort();
	}
	return 0;
}
