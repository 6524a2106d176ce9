/* Unit tests for pfs_text: UTF-8 sequence lengths (overlong, surrogates,
 * past U+10FFFF, truncated) and printable copies: controls (C0, DEL, C1)
 * and bad bytes become '?', cuts fall on character boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pfs_text.h"

static size_t L(const char *s)
{
	return pfs_utf8_seq_len((const uint8_t *)s, strlen(s));
}

static void test_seq_len(void **state)
{
	(void)state;
	assert_int_equal(L("a"), 1);
	assert_int_equal(L("\xc3\xa9"), 2);
	assert_int_equal(L("\xe2\x82\xac"), 3);
	assert_int_equal(L("\xf0\x9f\x98\x80"), 4);
	assert_int_equal(L("\xc0\xaf"), 0);	    /* overlong */
	assert_int_equal(L("\xe0\x80\xaf"), 0);	    /* overlong */
	assert_int_equal(L("\xed\xa0\x80"), 0);	    /* surrogate */
	assert_int_equal(L("\xf4\x90\x80\x80"), 0); /* past U+10FFFF */
	assert_int_equal(L("\xe2\x82"), 0);	    /* truncated */
	assert_int_equal(L("\x80"), 0);
	assert_int_equal(L("\xff"), 0);
}

static void test_clean(void **state)
{
	(void)state;
	char out[32];
	const char in[] = "a\tb\x1b[0m\x7f\xc2\x85\xc2\xa0\xc3\xa9\xff!";
	size_t n = pfs_text_clean(in, sizeof(in) - 1, out, sizeof(out));
	assert_string_equal(out, "a?b?[0m??\xc2\xa0\xc3\xa9?!");
	assert_int_equal(n, strlen(out));
	/* a NUL inside is a control too */
	assert_int_equal(pfs_text_clean("a\0b", 3, out, sizeof(out)), 3);
	assert_string_equal(out, "a?b");
	/* cut on a character boundary: "\xe2\x82\xac" does not fit in 2 */
	assert_int_equal(pfs_text_clean("x\xe2\x82\xac", 4, out, 4), 1);
	assert_string_equal(out, "x");
	assert_int_equal(pfs_text_clean("xyz", 3, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(pfs_text_clean("xyz", 3, out, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seq_len),
	    cmocka_unit_test(test_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
