/* bt_krpc — the KRPC codec of the DHT; see bt_krpc.h for how strict it is.
 *
 * Decoding goes through bt_bencode's lax decoder (keys in any order) and
 * then picks the known fields out of the tree into the fixed-size message;
 * encoding writes the fields in sorted key order with bt_benc. */
#include "bt_krpc.h"

#include <errno.h>
#include <string.h>

static const char *const method_names[] = {
    [BT_KRPC_UNKNOWN] = "?",
    [BT_KRPC_PING] = "ping",
    [BT_KRPC_FIND_NODE] = "find_node",
    [BT_KRPC_GET_PEERS] = "get_peers",
    [BT_KRPC_ANNOUNCE_PEER] = "announce_peer",
};

const char *bt_krpc_method_name(enum bt_krpc_method method)
{
	if ((unsigned)method >= sizeof(method_names) / sizeof(method_names[0]))
		return "?";
	return method_names[method];
}

static bool str_is(const struct bt_bval *v, const char *s)
{
	size_t n = strlen(s);
	return v && v->type == BT_BSTR && v->s.len == n &&
	       !memcmp(v->s.p, s, n);
}

/* A 20-byte string field into OUT; false when absent or of another size. */
static bool get_id(const struct bt_bval *d, const char *key, uint8_t *out)
{
	const struct bt_bval *v = bt_bdict_get_str(d, key);
	if (!v || v->s.len != BT_KRPC_ID_LEN)
		return false;
	memcpy(out, v->s.p, BT_KRPC_ID_LEN);
	return true;
}

static void get_nodes(const struct bt_bval *d, const char *key, size_t entry,
		      struct bt_krpc_node *out, uint8_t *n, uint32_t *dropped)
{
	const struct bt_bval *v = bt_bdict_get_str(d, key);
	if (!v)
		return;
	size_t count = v->s.len / entry;
	if (v->s.len % entry)
		(*dropped)++;
	for (size_t i = 0; i < count; i++) {
		if (*n >= BT_KRPC_MAX_NODES) {
			*dropped += (uint32_t)(count - i);
			break;
		}
		const uint8_t *p = v->s.p + i * entry;
		struct bt_krpc_node *node = &out[*n];
		memcpy(node->id, p, BT_KRPC_ID_LEN);
		if (bt_addr_from_compact(&node->addr, p + BT_KRPC_ID_LEN,
					 entry - BT_KRPC_ID_LEN)) {
			(*dropped)++;
			continue;
		}
		(*n)++;
	}
}

static void get_values(const struct bt_bval *d, struct bt_krpc_msg *m)
{
	const struct bt_bval *v = bt_bdict_get_list(d, "values");
	if (!v)
		return;
	m->has_values = true;
	for (size_t i = 0; i < v->list.n; i++) {
		const struct bt_bval *it = &v->list.items[i];
		if (m->n_values >= BT_KRPC_MAX_VALUES) {
			m->values_dropped += (uint32_t)(v->list.n - i);
			break;
		}
		if (it->type != BT_BSTR ||
		    bt_addr_from_compact(&m->values[m->n_values], it->s.p,
					 it->s.len)) {
			m->values_dropped++;
			continue;
		}
		m->n_values++;
	}
}

static void get_want(const struct bt_bval *a, struct bt_krpc_msg *m)
{
	const struct bt_bval *w = bt_bdict_get_list(a, "want");
	if (!w)
		return;
	for (size_t i = 0; i < w->list.n; i++) {
		if (str_is(&w->list.items[i], "n4"))
			m->want |= BT_KRPC_WANT_N4;
		else if (str_is(&w->list.items[i], "n6"))
			m->want |= BT_KRPC_WANT_N6;
	}
}

static enum bt_krpc_method method_of(const struct bt_bval *q)
{
	for (size_t i = 1; i < sizeof(method_names) / sizeof(method_names[0]);
	     i++)
		if (str_is(q, method_names[i]))
			return (enum bt_krpc_method)i;
	return BT_KRPC_UNKNOWN;
}

static int parse_query(const struct bt_bval *top, struct bt_krpc_msg *m)
{
	const struct bt_bval *q = bt_bdict_get_str(top, "q");
	const struct bt_bval *a = bt_bdict_get_dict(top, "a");
	int64_t iv;

	if (!bt_bdict_get_int(top, "ro", &iv) && iv == 1)
		m->read_only = true;
	if (!q)
		return -EPROTO;
	m->method = method_of(q);
	if (a)
		m->has_id = get_id(a, "id", m->id);
	if (m->method == BT_KRPC_UNKNOWN) {
		/* forward compatibility: keep what a future method shares */
		if (!get_id(a, "target", m->target))
			get_id(a, "info_hash", m->target);
		get_want(a, m);
		return 0;
	}
	if (!m->has_id)
		return -EPROTO;
	switch (m->method) {
	case BT_KRPC_PING:
		return 0;
	case BT_KRPC_FIND_NODE:
		get_want(a, m);
		return get_id(a, "target", m->target) ? 0 : -EPROTO;
	case BT_KRPC_GET_PEERS:
		get_want(a, m);
		return get_id(a, "info_hash", m->target) ? 0 : -EPROTO;
	case BT_KRPC_ANNOUNCE_PEER:
		break;
	default:
		return -EPROTO;
	}
	if (!get_id(a, "info_hash", m->target))
		return -EPROTO;
	const struct bt_bval *tok = bt_bdict_get_str(a, "token");
	if (!tok || tok->s.len == 0 || tok->s.len > BT_KRPC_TOKEN_MAX)
		return -EPROTO;
	memcpy(m->token, tok->s.p, tok->s.len);
	m->token_len = (uint8_t)tok->s.len;
	if (!bt_bdict_get_int(a, "implied_port", &iv) && iv != 0)
		m->implied_port = true;
	int rc = bt_bdict_get_int(a, "port", &iv);
	if (rc == 0 && iv >= 1 && iv <= 65535)
		m->port = (uint16_t)iv;
	else if (!m->implied_port)
		return -EPROTO;
	return 0;
}

static int parse_response(const struct bt_bval *top, struct bt_krpc_msg *m)
{
	const struct bt_bval *r = bt_bdict_get_dict(top, "r");
	if (!r)
		return -EPROTO;
	m->has_id = get_id(r, "id", m->id);
	if (!m->has_id)
		return -EPROTO;
	get_nodes(r, "nodes", BT_KRPC_NODE4_LEN, m->nodes, &m->n_nodes,
		  &m->nodes_dropped);
	get_nodes(r, "nodes6", BT_KRPC_NODE6_LEN, m->nodes6, &m->n_nodes6,
		  &m->nodes_dropped);
	/* a v4 entry in nodes6 (v4-mapped) or the reverse is not a lie, but
	 * it is in the wrong list: keep each list to its family */
	for (uint8_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].addr.family != BT_ADDR_V4) {
			m->nodes[i--] = m->nodes[--m->n_nodes];
			m->nodes_dropped++;
		}
	for (uint8_t i = 0; i < m->n_nodes6; i++)
		if (m->nodes6[i].addr.family != BT_ADDR_V6) {
			m->nodes6[i--] = m->nodes6[--m->n_nodes6];
			m->nodes_dropped++;
		}
	get_values(r, m);
	const struct bt_bval *tok = bt_bdict_get_str(r, "token");
	if (tok && tok->s.len > 0 && tok->s.len <= BT_KRPC_TOKEN_MAX) {
		memcpy(m->token, tok->s.p, tok->s.len);
		m->token_len = (uint8_t)tok->s.len;
	}
	return 0;
}

static void parse_error(const struct bt_bval *top, struct bt_krpc_msg *m)
{
	const struct bt_bval *e = bt_bdict_get_list(top, "e");
	if (!e)
		return;
	if (e->list.n >= 1 && e->list.items[0].type == BT_BINT &&
	    e->list.items[0].i >= 0 && e->list.items[0].i <= 999)
		m->error_code = (int)e->list.items[0].i;
	if (e->list.n >= 2 && e->list.items[1].type == BT_BSTR) {
		const struct bt_bval *s = &e->list.items[1];
		size_t n = s->s.len < BT_KRPC_ERRMSG_MAX - 1
			       ? s->s.len
			       : BT_KRPC_ERRMSG_MAX - 1;
		for (size_t i = 0; i < n; i++) {
			uint8_t c = s->s.p[i];
			/* printable ASCII only: the text goes to logs */
			m->error_msg[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		m->error_msg[n] = '\0';
	}
}

int bt_krpc_parse(const uint8_t *buf, size_t len, struct bt_krpc_msg *m)
{
	struct bt_bval *top = NULL;
	int rc = -EINVAL;

	memset(m, 0, sizeof(*m));
	if (!buf || len < 2 || buf[0] != 'd')
		return -EINVAL;
	if (bt_bdecode_lax(buf, len, &top, NULL, 0))
		return -EINVAL;
	const struct bt_bval *t = bt_bdict_get_str(top, "t");
	const struct bt_bval *y = bt_bdict_get_str(top, "y");
	if (!t || t->s.len > BT_KRPC_TID_MAX || !y || y->s.len != 1)
		goto out;
	switch (y->s.p[0]) {
	case 'q':
		m->type = BT_KRPC_QUERY;
		break;
	case 'r':
		m->type = BT_KRPC_RESPONSE;
		break;
	case 'e':
		m->type = BT_KRPC_ERROR;
		break;
	default:
		goto out;
	}
	memcpy(m->tid, t->s.p, t->s.len);
	m->tid_len = (uint8_t)t->s.len;

	const struct bt_bval *v = bt_bdict_get_str(top, "v");
	if (v) {
		m->version_len = (uint8_t)(v->s.len < BT_KRPC_VERSION_MAX
					       ? v->s.len
					       : BT_KRPC_VERSION_MAX);
		memcpy(m->version, v->s.p, m->version_len);
	}
	const struct bt_bval *ip = bt_bdict_get_str(top, "ip");
	if (ip && !bt_addr_from_compact(&m->ip, ip->s.p, ip->s.len))
		m->has_ip = true;

	if (m->type == BT_KRPC_QUERY)
		rc = parse_query(top, m);
	else if (m->type == BT_KRPC_RESPONSE)
		rc = parse_response(top, m);
	else {
		parse_error(top, m);
		rc = 0;
	}
out:
	bt_bval_free(top);
	return rc;
}

/* ---- encoding ---------------------------------------------------------- */

static void enc_key(struct bt_benc *b, const char *key)
{
	bt_benc_cstr(b, key);
}

static void enc_nodes(struct bt_benc *b, const char *key,
		      const struct bt_krpc_node *nodes, size_t n, size_t entry)
{
	uint8_t buf[BT_KRPC_MAX_NODES * BT_KRPC_NODE6_LEN];
	size_t len = 0;
	for (size_t i = 0; i < n && i < BT_KRPC_MAX_NODES; i++) {
		uint8_t c[BT_COMPACT6_LEN];
		size_t cl = bt_addr_compact(&nodes[i].addr, c);
		if (cl != entry - BT_KRPC_ID_LEN)
			continue; /* wrong family for this list */
		memcpy(buf + len, nodes[i].id, BT_KRPC_ID_LEN);
		memcpy(buf + len + BT_KRPC_ID_LEN, c, cl);
		len += entry;
	}
	enc_key(b, key);
	bt_benc_str(b, buf, len);
}

static void enc_want(struct bt_benc *b, uint8_t want)
{
	if (!want)
		return;
	enc_key(b, "want");
	bt_benc_list_begin(b);
	if (want & BT_KRPC_WANT_N4)
		bt_benc_cstr(b, "n4");
	if (want & BT_KRPC_WANT_N6)
		bt_benc_cstr(b, "n6");
	bt_benc_end(b);
}

static void enc_tail(struct bt_benc *b, const struct bt_krpc_msg *m,
		     const char *y)
{
	enc_key(b, "t");
	bt_benc_str(b, m->tid, m->tid_len);
	if (m->version_len) {
		enc_key(b, "v");
		bt_benc_str(b, m->version,
			    m->version_len < BT_KRPC_VERSION_MAX
				? m->version_len
				: BT_KRPC_VERSION_MAX);
	}
	enc_key(b, "y");
	bt_benc_cstr(b, y);
	bt_benc_end(b);
}

static void enc_ip(struct bt_benc *b, const struct bt_krpc_msg *m)
{
	uint8_t c[BT_COMPACT6_LEN];
	size_t cl;
	if (!m->has_ip || !(cl = bt_addr_compact(&m->ip, c)))
		return;
	enc_key(b, "ip");
	bt_benc_str(b, c, cl);
}

static int enc_query(struct bt_benc *b, const struct bt_krpc_msg *m)
{
	enum bt_krpc_method q = m->method;
	if (q == BT_KRPC_UNKNOWN ||
	    (unsigned)q >= sizeof(method_names) / sizeof(method_names[0]))
		return -EINVAL;
	bt_benc_dict_begin(b);
	enc_key(b, "a");
	bt_benc_dict_begin(b);
	enc_key(b, "id");
	bt_benc_str(b, m->id, BT_KRPC_ID_LEN);
	if (q == BT_KRPC_ANNOUNCE_PEER && m->implied_port) {
		enc_key(b, "implied_port");
		bt_benc_int(b, 1);
	}
	if (q == BT_KRPC_GET_PEERS || q == BT_KRPC_ANNOUNCE_PEER) {
		enc_key(b, "info_hash");
		bt_benc_str(b, m->target, BT_KRPC_ID_LEN);
	}
	if (q == BT_KRPC_ANNOUNCE_PEER) {
		enc_key(b, "port");
		bt_benc_int(b, m->port);
	}
	if (q == BT_KRPC_FIND_NODE) {
		enc_key(b, "target");
		bt_benc_str(b, m->target, BT_KRPC_ID_LEN);
	}
	if (q == BT_KRPC_ANNOUNCE_PEER) {
		enc_key(b, "token");
		bt_benc_str(b, m->token,
			    m->token_len < BT_KRPC_TOKEN_MAX
				? m->token_len
				: BT_KRPC_TOKEN_MAX);
	}
	if (q == BT_KRPC_FIND_NODE || q == BT_KRPC_GET_PEERS)
		enc_want(b, m->want);
	bt_benc_end(b);
	enc_key(b, "q");
	bt_benc_cstr(b, method_names[q]);
	if (m->read_only) {
		enc_key(b, "ro");
		bt_benc_int(b, 1);
	}
	enc_tail(b, m, "q");
	return b->err;
}

static int enc_response(struct bt_benc *b, const struct bt_krpc_msg *m)
{
	bt_benc_dict_begin(b);
	enc_ip(b, m);
	enc_key(b, "r");
	bt_benc_dict_begin(b);
	enc_key(b, "id");
	bt_benc_str(b, m->id, BT_KRPC_ID_LEN);
	if (m->n_nodes)
		enc_nodes(b, "nodes", m->nodes, m->n_nodes, BT_KRPC_NODE4_LEN);
	if (m->n_nodes6)
		enc_nodes(b, "nodes6", m->nodes6, m->n_nodes6,
			  BT_KRPC_NODE6_LEN);
	if (m->token_len) {
		enc_key(b, "token");
		bt_benc_str(b, m->token,
			    m->token_len < BT_KRPC_TOKEN_MAX
				? m->token_len
				: BT_KRPC_TOKEN_MAX);
	}
	if (m->has_values) {
		enc_key(b, "values");
		bt_benc_list_begin(b);
		for (size_t i = 0; i < m->n_values && i < BT_KRPC_MAX_VALUES;
		     i++) {
			uint8_t c[BT_COMPACT6_LEN];
			size_t cl = bt_addr_compact(&m->values[i], c);
			if (cl)
				bt_benc_str(b, c, cl);
		}
		bt_benc_end(b);
	}
	bt_benc_end(b);
	enc_tail(b, m, "r");
	return b->err;
}

static int enc_error(struct bt_benc *b, const struct bt_krpc_msg *m)
{
	bt_benc_dict_begin(b);
	enc_key(b, "e");
	bt_benc_list_begin(b);
	bt_benc_int(b, m->error_code);
	bt_benc_str(b, m->error_msg,
		    strnlen(m->error_msg, sizeof(m->error_msg)));
	bt_benc_end(b);
	enc_ip(b, m);
	enc_tail(b, m, "e");
	return b->err;
}

int bt_krpc_encode(const struct bt_krpc_msg *m, struct bt_benc *b)
{
	if (b->err)
		return b->err;
	if (m->tid_len > BT_KRPC_TID_MAX)
		return -EINVAL;
	switch (m->type) {
	case BT_KRPC_QUERY:
		return enc_query(b, m);
	case BT_KRPC_RESPONSE:
		return enc_response(b, m);
	case BT_KRPC_ERROR:
		return enc_error(b, m);
	}
	return -EINVAL;
}
