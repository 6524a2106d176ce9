/* Unit tests for bt_bencode: every strictness rule with good and bad input,
 * raw spans, bounded depth, lookups, and writer round-trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_bencode.h"

/* Decodes a C string; returns the tree or NULL, with rc and err filled. */
static struct bt_bval *dec(const char *s, int *rc, char *err, size_t errlen)
{
	struct bt_bval *v = NULL;
	*rc = bt_bdecode((const uint8_t *)s, strlen(s), &v, err, errlen);
	return v;
}

static void expect_ok(const char *s)
{
	char err[256];
	int rc;
	struct bt_bval *v = dec(s, &rc, err, sizeof(err));
	if (rc)
		fail_msg("'%s' rejected: %s", s, err);
	assert_non_null(v);
	assert_ptr_equal(v->raw, (const uint8_t *)s);
	assert_int_equal(v->raw_len, strlen(s));
	bt_bval_free(v);
}

static void expect_bad(const char *s, const char *why)
{
	char err[256] = "untouched";
	int rc;
	struct bt_bval *v = dec(s, &rc, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("'%s' accepted (rc %d)", s, rc);
	assert_null(v);
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	if (why && !strstr(err, why))
		fail_msg("'%s': error '%s' lacks '%s'", s, err, why);
}

static int64_t dec_int(const char *s)
{
	int rc;
	struct bt_bval *v = dec(s, &rc, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(v->type, BT_BINT);
	int64_t i = v->i;
	bt_bval_free(v);
	return i;
}

static void test_int_good(void **state)
{
	(void)state;
	assert_true(dec_int("i0e") == 0);
	assert_true(dec_int("i42e") == 42);
	assert_true(dec_int("i-42e") == -42);
	assert_true(dec_int("i9223372036854775807e") == INT64_MAX);
	assert_true(dec_int("i-9223372036854775808e") == INT64_MIN);
	assert_true(dec_int("i10e") == 10);
}

static void test_int_bad(void **state)
{
	(void)state;
	expect_bad("i01e", "leading zero");
	expect_bad("i00e", "leading zero");
	expect_bad("i-01e", "leading zero");
	expect_bad("i-0e", "negative zero");
	expect_bad("ie", "without digits");
	expect_bad("i-e", "without digits");
	expect_bad("i+1e", "without digits");
	expect_bad("i 1e", "without digits");
	expect_bad("i1 e", "unexpected byte");
	expect_bad("i1.5e", "unexpected byte");
	expect_bad("i--1e", "without digits");
	expect_bad("i9223372036854775808e", "64 bits");
	expect_bad("i-9223372036854775809e", "64 bits");
	expect_bad("i99999999999999999999999999e", "64 bits");
	expect_bad("i1", "truncated");
	expect_bad("i-", "truncated");
	expect_bad("i", "truncated");
}

static void test_str(void **state)
{
	(void)state;
	int rc;
	struct bt_bval *v = dec("3:abc", &rc, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(v->type, BT_BSTR);
	assert_int_equal(v->s.len, 3);
	assert_memory_equal(v->s.p, "abc", 3);
	bt_bval_free(v);

	expect_ok("0:");
	expect_ok("10:0123456789");

	/* binary, including NUL, is fine inside strings */
	const uint8_t bin[] = {'3', ':', 0, 0xff, 'e'};
	rc = bt_bdecode(bin, sizeof(bin), &v, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(v->s.len, 3);
	assert_int_equal(v->s.p[1], 0xff);
	bt_bval_free(v);

	expect_bad("4:abc", "exceeds");
	expect_bad("1:", "exceeds");
	expect_bad("01:a", "leading zero");
	expect_bad("00:", "leading zero");
	expect_bad("3abc", "unexpected byte");
	expect_bad("3", "truncated");
	expect_bad("-1:a", "unexpected byte");
	expect_bad("18446744073709551616:a", "overflows");
	expect_bad("99999999999999999999999999999:a", "overflows");
	expect_bad("9223372036854775807:a", "exceeds");
}

static void test_list_dict(void **state)
{
	(void)state;
	int rc;
	const char *s = "d1:ai1e1:bl3:xyzi-2ee1:cd1:d0:ee";
	struct bt_bval *v = dec(s, &rc, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(v->type, BT_BDICT);
	assert_int_equal(v->dict.n, 3);
	assert_memory_equal(v->dict.items[1].key, "b", 1);

	const struct bt_bval *b = bt_bdict_get_list(v, "b");
	assert_non_null(b);
	assert_int_equal(b->list.n, 2);
	assert_int_equal(b->list.items[1].i, -2);
	/* raw spans point at the exact encoded bytes */
	assert_int_equal(b->raw_len, strlen("l3:xyzi-2ee"));
	assert_memory_equal(b->raw, "l3:xyzi-2ee", b->raw_len);
	assert_memory_equal(b->list.items[0].raw, "3:xyz", 5);
	assert_int_equal(b->list.items[0].raw_len, 5);
	const struct bt_bval *c = bt_bdict_get_dict(v, "c");
	assert_non_null(c);
	assert_memory_equal(c->raw, "d1:d0:ee", c->raw_len);
	assert_ptr_equal(v->raw, (const uint8_t *)s);
	assert_int_equal(v->raw_len, strlen(s));
	bt_bval_free(v);

	expect_ok("le");
	expect_ok("de");
	expect_ok("lleleldeee");
	expect_ok("d0:i1ee"); /* the empty key is a key */
	expect_bad("l", "truncated list");
	expect_bad("li1e", "truncated list");
	expect_bad("d", "truncated dictionary");
	expect_bad("d1:a", "without a value");
	expect_bad("d1:ai1e", "truncated dictionary");
	expect_bad("e", "unexpected byte");
	expect_bad("x", "unexpected byte");
	expect_bad("lxe", "unexpected byte");
}

static void test_dict_keys(void **state)
{
	(void)state;
	expect_ok("d1:ai1e2:aai2e1:bi3ee"); /* "a" < "aa" < "b" */
	expect_bad("d1:bi1e1:ai2ee", "out of order");
	expect_bad("d2:aai1e1:ai2ee", "out of order");
	expect_bad("d1:ai1e1:ai2ee", "duplicate");
	expect_bad("di1ei2ee", "not a string");
	expect_bad("dl1:aei2ee", "not a string");
	/* bytes compare unsigned: 0x80 sorts after 'z' */
	const uint8_t good[] = "d1:zi1e1:\x80i2ee";
	const uint8_t bad[] = "d1:\x80i2e1:zi1ee";
	struct bt_bval *v = NULL;
	assert_int_equal(bt_bdecode(good, sizeof(good) - 1, &v, NULL, 0), 0);
	bt_bval_free(v);
	v = NULL;
	assert_int_equal(bt_bdecode(bad, sizeof(bad) - 1, &v, NULL, 0),
			 -EINVAL);
	assert_null(v);
	/* unsorted deep inside is still found */
	expect_bad("ld1:ad1:bi1e1:ai1eeee", "out of order");
}

/* DEPTH nested lists: "ll...ee". */
static char *nested(size_t depth)
{
	char *s = malloc(2 * depth + 1);
	memset(s, 'l', depth);
	memset(s + depth, 'e', depth);
	s[2 * depth] = '\0';
	return s;
}

static void test_depth(void **state)
{
	(void)state;
	char *s = nested(BT_BENCODE_MAX_DEPTH);
	expect_ok(s);
	free(s);
	s = nested(BT_BENCODE_MAX_DEPTH + 1);
	expect_bad(s, "nesting deeper");
	free(s);
	/* 100000 levels: must fail fast without deep recursion */
	s = nested(100000);
	expect_bad(s, "nesting deeper");
	free(s);
	/* only the opening brackets, never closed */
	s = nested(100000);
	s[100000] = '\0';
	expect_bad(s, "nesting deeper");
	free(s);
	/* dicts count too */
	struct bt_benc b;
	bt_benc_init(&b);
	for (int i = 0; i < BT_BENCODE_MAX_DEPTH; i++) {
		bt_benc_dict_begin(&b);
		bt_benc_cstr(&b, "k");
	}
	bt_benc_int(&b, 1);
	for (int i = 0; i < BT_BENCODE_MAX_DEPTH; i++)
		bt_benc_end(&b);
	assert_int_equal(b.err, 0);
	bt_benc_raw(&b, "", 1);
	expect_ok((const char *)b.buf);
	/* one level more: wrap it in a list */
	char *deeper = malloc(b.len + 2);
	sprintf(deeper, "l%se", (const char *)b.buf);
	expect_bad(deeper, "nesting deeper");
	free(deeper);
	bt_benc_release(&b);
}

static void test_trailing(void **state)
{
	(void)state;
	expect_bad("i1ex", "trailing garbage");
	expect_bad("i1ei2e", "trailing garbage");
	expect_bad("lee", "trailing garbage");
	expect_bad("0:0:", "trailing garbage");
	expect_bad("", "empty");

	struct bt_bval *v = NULL;
	char err[128];
	assert_int_equal(bt_bdecode(NULL, 0, &v, err, sizeof(err)), -EINVAL);
	assert_true(err[0]);

	/* prefix decoding allows them and says how much it used */
	size_t used = 0;
	const char *s = "d1:ai1eeRAWBYTES";
	assert_int_equal(bt_bdecode_prefix((const uint8_t *)s, strlen(s), &v,
					   &used, NULL, 0),
			 0);
	assert_int_equal(used, 8);
	assert_int_equal(v->raw_len, 8);
	bt_bval_free(v);
	assert_int_equal(
		bt_bdecode_prefix((const uint8_t *)s, 5, &v, &used, NULL, 0),
		-EINVAL);
	assert_null(v);
}

static void test_error_offsets(void **state)
{
	(void)state;
	char err[256];
	int rc;
	assert_null(dec("li1ei01ee", &rc, err, sizeof(err)));
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err, "offset 4"));
	/* a small buffer truncates, never overflows */
	char tiny[8];
	memset(tiny, 'x', sizeof(tiny));
	assert_null(dec("i01e", &rc, tiny, sizeof(tiny)));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* A tiny input claiming many items must not allocate much: a list of
 * 200000 empty strings is fine, and "l" + huge claimed string fails fast. */
static void test_big_lists(void **state)
{
	(void)state;
	size_t n = 200000;
	char *s = malloc(2 * n + 3);
	s[0] = 'l';
	for (size_t i = 0; i < n; i++)
		memcpy(s + 1 + 2 * i, "0:", 2);
	s[1 + 2 * n] = 'e';
	s[2 + 2 * n] = '\0';
	int rc;
	struct bt_bval *v = dec(s, &rc, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(v->list.n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v->list.items[i].s.len, 0);
	bt_bval_free(v);
	/* unterminated: must free what it built */
	s[1 + 2 * n] = '\0';
	expect_bad(s, "truncated list");
	free(s);
	expect_bad("l999999999999:e", "exceeds");
}

static void test_lookup(void **state)
{
	(void)state;
	int rc;
	const char *s = "d1:ai1e1:bi2e1:cle1:dde1:e3:xyz1:fi-7e1:g0:e";
	struct bt_bval *v = dec(s, &rc, NULL, 0);
	assert_int_equal(rc, 0);
	const char *keys = "abcdefg";
	for (const char *k = keys; *k; k++) {
		char key[2] = {*k, 0};
		assert_non_null(bt_bdict_get(v, key));
	}
	assert_null(bt_bdict_get(v, "h"));
	assert_null(bt_bdict_get(v, ""));
	assert_null(bt_bdict_get(v, "aa"));
	assert_null(bt_bdict_get(NULL, "a"));
	assert_non_null(bt_bdict_get_list(v, "c"));
	assert_null(bt_bdict_get_list(v, "d"));
	assert_non_null(bt_bdict_get_dict(v, "d"));
	assert_null(bt_bdict_get_dict(v, "c"));
	assert_non_null(bt_bdict_get_str(v, "e"));
	assert_non_null(bt_bdict_get_str(v, "g"));
	assert_null(bt_bdict_get_str(v, "a"));
	int64_t i = 0;
	assert_int_equal(bt_bdict_get_int(v, "f", &i), 0);
	assert_true(i == -7);
	assert_int_equal(bt_bdict_get_int(v, "e", &i), -EINVAL);
	assert_int_equal(bt_bdict_get_int(v, "zz", &i), -ENOENT);
	/* lookups on a non-dict */
	const struct bt_bval *e = bt_bdict_get(v, "e");
	assert_null(bt_bdict_get(e, "a"));
	assert_int_equal(bt_bdict_get_int(e, "a", &i), -ENOENT);
	bt_bval_free(v);
	bt_bval_free(NULL);
}

static void test_writer(void **state)
{
	(void)state;
	struct bt_benc b;
	bt_benc_init(&b);
	bt_benc_dict_begin(&b);
	bt_benc_cstr(&b, "a");
	bt_benc_int(&b, INT64_MIN);
	bt_benc_cstr(&b, "b");
	bt_benc_list_begin(&b);
	bt_benc_int(&b, 0);
	bt_benc_int(&b, INT64_MAX);
	bt_benc_str(&b, "\0x", 2);
	bt_benc_str(&b, NULL, 0);
	bt_benc_end(&b);
	bt_benc_cstr(&b, "c");
	bt_benc_raw(&b, "de", 2);
	assert_int_equal(bt_benc_end(&b), 0);
	const char want[] =
		"d1:ai-9223372036854775808e1:bli0ei9223372036854775807"
		"e2:\0x0:e1:cdee";
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.buf, want, b.len);

	/* and it decodes to the same values */
	struct bt_bval *v = NULL;
	assert_int_equal(bt_bdecode(b.buf, b.len, &v, NULL, 0), 0);
	int64_t i;
	assert_int_equal(bt_bdict_get_int(v, "a", &i), 0);
	assert_true(i == INT64_MIN);
	bt_bval_free(v);
	bt_benc_release(&b);
	assert_null(b.buf);
	assert_int_equal(b.len, 0);

	/* grows past its first allocation */
	bt_benc_init(&b);
	char big[5000];
	memset(big, 'q', sizeof(big));
	for (int k = 0; k < 100; k++)
		bt_benc_str(&b, big, sizeof(big));
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 100 * (5 + sizeof(big)));
	bt_benc_release(&b);

	/* a failed buffer stays failed and later calls are no-ops */
	bt_benc_init(&b);
	bt_benc_int(&b, 1);
	b.err = -ENOMEM;
	size_t len = b.len;
	assert_int_equal(bt_benc_cstr(&b, "x"), -ENOMEM);
	assert_int_equal(bt_benc_end(&b), -ENOMEM);
	assert_int_equal(b.len, len);
	bt_benc_release(&b);
}

static void roundtrip(const char *s)
{
	struct bt_bval *v = NULL;
	char err[128];
	int rc =
		bt_bdecode((const uint8_t *)s, strlen(s), &v, err, sizeof(err));
	if (rc)
		fail_msg("'%s': %s", s, err);
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_benc_bval(&b, v), 0);
	assert_int_equal(b.len, strlen(s));
	assert_memory_equal(b.buf, s, b.len);
	bt_benc_release(&b);
	bt_bval_free(v);
}

static void test_roundtrip(void **state)
{
	(void)state;
	roundtrip("i0e");
	roundtrip("i-9223372036854775808e");
	roundtrip("0:");
	roundtrip("le");
	roundtrip("de");
	roundtrip("d8:announce3:url4:infod6:lengthi5e4:name1:x12:piece lengthi"
		  "16384e6:pieces0:ee");
	roundtrip("lli1eeld1:ald1:bleeeeee");
	char *s = nested(BT_BENCODE_MAX_DEPTH);
	roundtrip(s);
	free(s);
}

static void test_writer_depth(void **state)
{
	(void)state;
	/* a hand-built tree deeper than the limit fails the buffer */
	struct bt_bval *levels =
		calloc(BT_BENCODE_MAX_DEPTH + 1, sizeof(*levels));
	for (int i = 0; i <= BT_BENCODE_MAX_DEPTH; i++) {
		levels[i].type = BT_BLIST;
		levels[i].list.items =
			i < BT_BENCODE_MAX_DEPTH ? &levels[i + 1] : NULL;
		levels[i].list.n = i < BT_BENCODE_MAX_DEPTH;
	}
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_benc_bval(&b, &levels[0]), -EINVAL);
	assert_int_equal(b.err, -EINVAL);
	bt_benc_release(&b);
	bt_benc_init(&b);
	assert_int_equal(bt_benc_bval(&b, &levels[1]), 0);
	assert_int_equal(b.len, 2 * BT_BENCODE_MAX_DEPTH);
	bt_benc_release(&b);
	free(levels);
}

/* The lax decoder (KRPC from other clients) takes keys in any order, sorts
 * every dictionary for lookups, and still rejects duplicates and everything
 * else the strict decoder rejects. */
static void test_lax(void **state)
{
	(void)state;
	const char *s = "d1:y1:q1:t2:aa1:ad6:target3:abc2:id2:xxe1:q4:pinge";
	struct bt_bval *v = NULL;
	char err[256];
	/* the strict decoder refuses it */
	assert_int_equal(bt_bdecode((const uint8_t *)s, strlen(s), &v, err,
				    sizeof(err)),
			 -EINVAL);
	assert_null(v);
	assert_int_equal(bt_bdecode_lax((const uint8_t *)s, strlen(s), &v, err,
					sizeof(err)),
			 0);
	assert_non_null(bt_bdict_get_str(v, "y"));
	assert_non_null(bt_bdict_get_str(v, "t"));
	assert_non_null(bt_bdict_get_str(v, "q"));
	const struct bt_bval *a = bt_bdict_get_dict(v, "a");
	assert_non_null(a);
	assert_memory_equal(bt_bdict_get_str(a, "id")->s.p, "xx", 2);
	assert_memory_equal(bt_bdict_get_str(a, "target")->s.p, "abc", 3);
	/* re-encoding gives the canonical order */
	struct bt_benc b;
	bt_benc_init(&b);
	assert_int_equal(bt_benc_bval(&b, v), 0);
	const char *canon = "d1:ad2:id2:xx6:target3:abce1:q4:ping1:t2:aa1:y1:qe";
	assert_int_equal(b.len, strlen(canon));
	assert_memory_equal(b.buf, canon, b.len);
	bt_benc_release(&b);
	bt_bval_free(v);

	static const char *bad[] = {
		"d1:b1:x1:a1:y1:b1:ze", /* duplicate, not adjacent in input */
		"d1:a1:x1:a1:ye",	/* duplicate, adjacent */
		"d1:bi01e1:a1:xe",	/* still strict about integers */
		"d1:b1:xe1:a",		/* trailing garbage */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = NULL;
		err[0] = '\0';
		assert_int_equal(bt_bdecode_lax((const uint8_t *)bad[i],
						strlen(bad[i]), &v, err,
						sizeof(err)),
				 -EINVAL);
		assert_null(v);
		assert_true(err[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int_good),
		cmocka_unit_test(test_int_bad),
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_list_dict),
		cmocka_unit_test(test_dict_keys),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_error_offsets),
		cmocka_unit_test(test_big_lists),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_writer_depth),
		cmocka_unit_test(test_lax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
