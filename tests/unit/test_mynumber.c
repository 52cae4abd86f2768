/*
 * Tests for lib/mynumber (the streaming My Number detector): the check
 * digit against an independent transcription of the statutory formula and
 * known values, every accepted format with its location, the false
 * positives that must not match, streaming in any split, segment
 * boundaries, keyword proximity and line numbers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/mynumber.h"

#define MAXHITS 64

struct hits {
	size_t n;
	struct mynumber_hit h[MAXHITS];
};

static void
collect(void *arg, const struct mynumber_hit *hit)
{
	struct hits *hs = arg;

	assert_true(hs->n < MAXHITS);
	hs->h[hs->n++] = *hit;
}

/* The statute's own indexing: P_n is the n-th digit from the right of the
 * 11 digits before the check digit, Q_n = n + 1 (n <= 6), n - 5 (n >= 7). */
static int
ref_check(const char *d11)
{
	int sum = 0, r;

	for (int n = 1; n <= 11; n++) {
		int p = d11[11 - n] - '0';
		int q = n <= 6 ? n + 1 : n - 5;

		sum += p * q;
	}
	r = sum % 11;
	return r <= 1 ? 0 : 11 - r;
}

/* 12 digits: a valid number from seed, or (bad) one with a wrong check. */
static void
make(char out[13], unsigned seed, int bad)
{
	for (int i = 0; i < 11; i++) {
		seed = seed * 1103515245u + 12345u;
		out[i] = (char)('0' + (seed >> 16) % 10);
	}
	out[11] = (char)('0' + (ref_check(out) + (bad ? 1 + (int)(seed % 9) : 0)) % 10);
	out[12] = '\0';
}

static struct hits
scan_split(const char *text, size_t len, size_t step)
{
	struct hits hs = { 0 };
	struct mynumber_scanner *s = mynumber_scanner_new(collect, &hs);

	assert_non_null(s);
	for (size_t o = 0; o < len; o += step)
		mynumber_scanner_feed(s, text + o, len - o < step ? len - o : step);
	mynumber_scanner_finish(s);
	mynumber_scanner_free(s);
	return hs;
}

static struct hits
scan(const char *text)
{
	return scan_split(text, strlen(text), strlen(text) + 1);
}

static void
test_check_digit(void **state)
{
	char d[13];

	(void)state;
	/* Worked by hand: 1*6+2*5+3*4+4*3+5*2+6*7+7*6+8*5+9*4+0*3+1*2 = 212,
	 * 212 mod 11 = 3, check 11 - 3 = 8. */
	assert_true(mynumber_check_digits("123456789018", 12));
	for (char c = '0'; c <= '9'; c++) {
		memcpy(d, "12345678901", 11);
		d[11] = c;
		assert_int_equal(mynumber_check_digits(d, 12), c == '8');
	}
	/* Remainder 0 and 1 both give check digit 0: 00000000000 (sum 0)
	 * and 00000000006 (sum 12, remainder 1). 10000000000 has sum 6,
	 * check 5. */
	assert_true(mynumber_check_digits("000000000000", 12));
	assert_true(mynumber_check_digits("000000000060", 12));
	assert_false(mynumber_check_digits("000000000061", 12));
	assert_true(mynumber_check_digits("100000000005", 12));
	assert_false(mynumber_check_digits("12345678901", 11));
	assert_false(mynumber_check_digits("1234567890180", 13));
	assert_false(mynumber_check_digits("12345678901a", 12));
	/* Exactly one check digit per prefix, the reference's. */
	for (unsigned seed = 0; seed < 20000; seed++) {
		make(d, seed, 0);
		for (char c = '0'; c <= '9'; c++) {
			d[11] = c;
			assert_int_equal(mynumber_check_digits(d, 12),
			    c - '0' == ref_check(d));
		}
	}
}

static void
expect_one(const char *text, uint64_t off, uint32_t len, bool near)
{
	struct hits hs = scan(text);

	assert_int_equal(hs.n, 1);
	assert_int_equal(hs.h[0].offset, off);
	assert_int_equal(hs.h[0].length, len);
	assert_int_equal(hs.h[0].near_keyword, near);
}

static void
expect_none(const char *text)
{
	struct hits hs = scan(text);

	if (hs.n != 0)
		fail_msg("unexpected hit at %llu in a %zu-byte text",
		    (unsigned long long)hs.h[0].offset, strlen(text));
}

static void
test_formats(void **state)
{
	(void)state;
	expect_one("123456789018", 0, 12, false);
	expect_one("no: 123456789018.", 4, 12, false);
	expect_one("a 1234 5678 9018 b", 2, 14, false);
	expect_one("a 1234-5678-9018 b", 2, 14, false);
	/* full-width digits (3 bytes each), full-width space and hyphen */
	expect_one("番号\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94"
	    "\xef\xbc\x95\xef\xbc\x96\xef\xbc\x97\xef\xbc\x98\xef\xbc\x99"
	    "\xef\xbc\x90\xef\xbc\x91\xef\xbc\x98です", 6, 36, false);
	expect_one("1234\xe3\x80\x80" "5678\xe3\x80\x80" "9018", 0, 18, false);
	expect_one("1234\xef\xbc\x8d" "5678\xef\xbc\x8d" "9018", 0, 18, false);
	/* mixed ASCII and full-width digits */
	expect_one("12345678901\xef\xbc\x98", 0, 14, false);
	/* in a CSV row and JSON */
	expect_one("1,山田,123456789018,x", 9, 12, false);
	expect_one("{\"n\":\"123456789018\"}", 6, 12, false);
	/* keyword before and after */
	expect_one("個人番号：123456789018", 15, 12, true);
	expect_one("マイナンバー 1234-5678-9018", 19, 14, true);
	expect_one("123456789018 (マイナンバー)", 0, 12, true);
}

static void
test_false_positives(void **state)
{
	char d[13], buf[128];

	(void)state;
	for (unsigned seed = 0; seed < 200; seed++) {
		make(d, seed, 1);
		expect_none(d);
		snprintf(buf, sizeof(buf), "%.4s-%.4s-%.4s", d, d + 4, d + 8);
		expect_none(buf);
	}
	expect_none("電話 03-1234-5678, 携帯 090-1234-5678, 0120-123-456");
	/* A 13-digit corporate number containing a valid 12-digit number at
	 * either end, plain and grouped. */
	expect_none("法人番号 1123456789018");
	expect_none("法人番号 1234567890180");
	expect_none("法人番号 9-1234-5678-9018");
	expect_none("1234-5678-9018-7777");
	expect_none("0000 1234 5678 9018");
	expect_none("x12345678901800y");
	/* mixed separators, doubled separators, wrong grouping */
	expect_none("1234-5678 9018");
	expect_none("1234--5678--9018");
	expect_none("123-45678-9018");
	expect_none("12345678 9018");
	/* a 12-digit run is a run of its own even after a separator */
	expect_one("1-123456789018", 2, 12, false);
}

static void
test_streaming_any_split(void **state)
{
	/* Every format and keyword, one text; fed whole and in every block
	 * size from 1 to 40 bytes the hits must be the same. */
	static const char text[] =
	    "個人番号 123456789018\n"
	    "x 1234-5678-9018 y\n"
	    "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xe3\x80\x80"
	    "\xef\xbc\x95\xef\xbc\x96\xef\xbc\x97\xef\xbc\x98\xe3\x80\x80"
	    "\xef\xbc\x99\xef\xbc\x90\xef\xbc\x91\xef\xbc\x98\n"
	    "090-1234-5678 1123456789018 マイナンバー\n"
	    "1234 5678 9018 マイナンバー\n";
	struct hits whole = scan(text);

	(void)state;
	assert_int_equal(whole.n, 4);
	assert_int_equal(whole.h[0].line, 1);
	assert_true(whole.h[0].near_keyword);
	assert_int_equal(whole.h[1].line, 2);
	assert_int_equal(whole.h[2].line, 3);
	assert_int_equal(whole.h[2].length, 3 * 12 + 3 * 2);
	assert_int_equal(whole.h[3].line, 5);
	assert_true(whole.h[3].near_keyword);
	for (size_t step = 1; step <= 40; step++) {
		struct hits hs = scan_split(text, sizeof(text) - 1, step);

		assert_int_equal(hs.n, whole.n);
		for (size_t k = 0; k < hs.n; k++) {
			assert_int_equal(hs.h[k].offset, whole.h[k].offset);
			assert_int_equal(hs.h[k].length, whole.h[k].length);
			assert_int_equal(hs.h[k].line, whole.h[k].line);
			assert_int_equal(hs.h[k].near_keyword,
			    whole.h[k].near_keyword);
		}
	}
}

/* A keyword at every position relative to the blocks' ends, behind text
 * that the fast skip passes over: found whatever the split (the skip once
 * went past a keyword whose last byte lay beyond its last 16 bytes). */
static void
test_keyword_any_alignment(void **state)
{
	static const size_t steps[] = { 16, 17, 18, 19, 31, 32, 33, 48, 64, 4096 };
	char buf[512];

	(void)state;
	for (size_t pad = 0; pad < 80; pad++) {
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			struct hits hs;
			int n = snprintf(buf, sizeof(buf), "%*s123456789018 "
			    "マイナンバ\xe3 %*sマイナンバー", (int)pad, "",
			    (int)(pad % 7), "");

			hs = scan_split(buf, (size_t)n, steps[k]);
			assert_int_equal(hs.n, 1);
			if (!hs.h[0].near_keyword)
				fail_msg("keyword missed: pad %zu, block %zu", pad,
				    steps[k]);
			n = snprintf(buf, sizeof(buf), "%*s漢字かなカナ個人番号"
			    "：123456789018", (int)pad, "");
			hs = scan_split(buf, (size_t)n, steps[k]);
			assert_int_equal(hs.n, 1);
			if (!hs.h[0].near_keyword)
				fail_msg("keyword missed: pad %zu, block %zu", pad,
				    steps[k]);
		}
	}
}

static void
test_boundary_not_joined(void **state)
{
	struct hits hs = { 0 };
	struct mynumber_scanner *s = mynumber_scanner_new(collect, &hs);

	(void)state;
	mynumber_scanner_feed(s, "123456", 6);
	mynumber_scanner_boundary(s);
	mynumber_scanner_feed(s, "789018", 6);
	mynumber_scanner_finish(s);
	assert_int_equal(hs.n, 0);
	/* the same without the boundary is one number */
	mynumber_scanner_feed(s, "123456", 6);
	mynumber_scanner_feed(s, "789018", 6);
	mynumber_scanner_finish(s);
	assert_int_equal(hs.n, 1);
	assert_int_equal(hs.h[0].offset, 12);
	/* a keyword does not reach across a boundary */
	mynumber_scanner_feed(s, "個人番号", strlen("個人番号"));
	mynumber_scanner_boundary(s);
	mynumber_scanner_feed(s, "123456789018", 12);
	mynumber_scanner_finish(s);
	assert_int_equal(hs.n, 2);
	assert_false(hs.h[1].near_keyword);
	mynumber_scanner_free(s);
}

static void
test_keyword_distance(void **state)
{
	char buf[1200];
	struct hits hs;

	(void)state;
	/* MYNUMBER_NEAR bytes between keyword and number: near; one more:
	 * not. */
	snprintf(buf, sizeof(buf), "個人番号%*s123456789018", MYNUMBER_NEAR, "");
	hs = scan(buf);
	assert_int_equal(hs.n, 1);
	assert_true(hs.h[0].near_keyword);
	snprintf(buf, sizeof(buf), "個人番号%*s123456789018", MYNUMBER_NEAR + 1, "");
	hs = scan(buf);
	assert_int_equal(hs.n, 1);
	assert_false(hs.h[0].near_keyword);
	snprintf(buf, sizeof(buf), "123456789018%*sマイナンバー", MYNUMBER_NEAR, "");
	hs = scan(buf);
	assert_true(hs.h[0].near_keyword);
	snprintf(buf, sizeof(buf), "123456789018%*sマイナンバー", MYNUMBER_NEAR + 1, "");
	hs = scan(buf);
	assert_false(hs.h[0].near_keyword);
}

static void
test_invalid_utf8(void **state)
{
	(void)state;
	/* Lone lead bytes and truncated sequences are ordinary non-digits:
	 * they neither hide nor join numbers. */
	expect_one("\xe3" "123456789018" "\xef", 1, 12, false);
	expect_one("\xef\xbc" "123456789018", 2, 12, false);
	expect_none("1234\xe3\x80" "5678\xe3\x80" "9018");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_digit),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_false_positives),
		cmocka_unit_test(test_streaming_any_split),
		cmocka_unit_test(test_keyword_any_alignment),
		cmocka_unit_test(test_boundary_not_joined),
		cmocka_unit_test(test_keyword_distance),
		cmocka_unit_test(test_invalid_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
