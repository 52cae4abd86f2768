/*
 * Tests for lib/util: hex in both directions, the id and token predicates
 * that guard spool paths and principal names, bounded string copy, RFC 3339
 * times, and the size and duration parsers used by every configuration file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/util.h"

static void
test_err_formats_and_returns_minus_one(void **state)
{
	char err[16];

	(void)state;
	assert_int_equal(util_err(err, sizeof(err), "n=%d", 42), -1);
	assert_string_equal(err, "n=42");
	/* Longer than the buffer: cut, still terminated. */
	assert_int_equal(util_err(err, sizeof(err), "%s",
	    "0123456789abcdefghij"), -1);
	assert_string_equal(err, "0123456789abcde");
	/* No buffer at all is allowed. */
	assert_int_equal(util_err(NULL, 0, "x"), -1);
}

static void
test_hex_roundtrip(void **state)
{
	uint8_t in[256], back[256];
	char hex[2 * 256 + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	util_hex(in, sizeof(in), hex);
	assert_int_equal(strlen(hex), 512);
	assert_memory_equal(hex, "000102030405060708090a0b0c0d0e0f10", 34);
	assert_string_equal(hex + 2 * 250, "fafbfcfdfeff");
	assert_int_equal(util_unhex(hex, back, sizeof(back)), 0);
	assert_memory_equal(in, back, sizeof(in));

	util_hex(in, 0, hex);
	assert_string_equal(hex, "");
	assert_int_equal(util_unhex("", back, 0), 0);
}

static void
test_unhex_upper_case(void **state)
{
	uint8_t out[4];

	(void)state;
	assert_int_equal(util_unhex("DEADbeef", out, 4), 0);
	assert_int_equal(out[0], 0xde);
	assert_int_equal(out[1], 0xad);
	assert_int_equal(out[2], 0xbe);
	assert_int_equal(out[3], 0xef);
}

static void
test_unhex_refusals(void **state)
{
	uint8_t out[4];

	(void)state;
	assert_int_equal(util_unhex("abc", out, 2), -1);	/* odd */
	assert_int_equal(util_unhex("abcde", out, 2), -1);	/* too long */
	assert_int_equal(util_unhex("abcdef", out, 4), -1);	/* too short */
	assert_int_equal(util_unhex("abcg", out, 2), -1);	/* bad digit */
	assert_int_equal(util_unhex("g0ab", out, 2), -1);
	assert_int_equal(util_unhex("0x12", out, 2), -1);
	assert_int_equal(util_unhex(" 123", out, 2), -1);
	assert_int_equal(util_unhex("12\xff", out, 2), -1);
	assert_int_equal(util_unhex(NULL, out, 2), -1);
	assert_int_equal(util_unhex("", out, 1), -1);
}

static void
test_is_id(void **state)
{
	(void)state;
	assert_true(util_is_id("0123456789abcdef0123456789abcdef"));
	assert_true(util_is_id("ffffffffffffffffffffffffffffffff"));
	/* 31 and 33 characters */
	assert_false(util_is_id("0123456789abcdef0123456789abcde"));
	assert_false(util_is_id("0123456789abcdef0123456789abcdef0"));
	assert_false(util_is_id("0123456789ABCDEF0123456789abcdef"));
	assert_false(util_is_id("0123456789abcdef0123456789abcde/"));
	assert_false(util_is_id("/123456789abcdef0123456789abcdef"));
	assert_false(util_is_id("..23456789abcdef0123456789abcdef"));
	assert_false(util_is_id("0123456789abcdef..23456789abcdef"));
	assert_false(util_is_id("0123456789abcdeg0123456789abcdef"));
	assert_false(util_is_id(""));
	assert_false(util_is_id(".."));
	assert_false(util_is_id(NULL));
}

static void
test_new_id(void **state)
{
	char a[UTIL_ID_LEN + 1], b[UTIL_ID_LEN + 1];

	(void)state;
	memset(a, 'x', sizeof(a));
	memset(b, 'x', sizeof(b));
	assert_int_equal(util_new_id(a), 0);
	assert_int_equal(util_new_id(b), 0);
	assert_int_equal(strlen(a), UTIL_ID_LEN);
	assert_true(util_is_id(a));
	assert_true(util_is_id(b));
	/* 128 random bits: equal only if the generator is broken. */
	assert_string_not_equal(a, b);
}

static void
test_is_token(void **state)
{
	char max[65], over[66];

	(void)state;
	assert_true(util_is_token("alice", 64));
	assert_true(util_is_token("a", 1));
	assert_true(util_is_token("A.b_c-9", 64));
	assert_true(util_is_token("x..", 64));	/* dots inside are fine */
	assert_true(util_is_token("0", 64));
	assert_false(util_is_token("", 64));
	assert_false(util_is_token(NULL, 64));
	assert_false(util_is_token(".hidden", 64));
	assert_false(util_is_token("..", 64));
	assert_false(util_is_token("-rf", 64));
	assert_false(util_is_token("a/b", 64));
	assert_false(util_is_token("a b", 64));
	assert_false(util_is_token("a:b", 64));
	assert_false(util_is_token("a\\b", 64));
	assert_false(util_is_token("a\nb", 64));
	assert_false(util_is_token("tanaka\xe3\x81\x82", 64));	/* あ */
	assert_false(util_is_token("\xc3\xa9", 64));
	assert_false(util_is_token("ab", 1));
	assert_false(util_is_token("a", 0));

	memset(max, 'a', 64);
	max[64] = '\0';
	assert_true(util_is_token(max, 64));
	memset(over, 'a', 65);
	over[65] = '\0';
	assert_false(util_is_token(over, 64));
	assert_true(util_is_token(over, 65));
}

static void
test_strlcpy(void **state)
{
	char dst[8];

	(void)state;
	assert_int_equal(util_strlcpy(dst, "1234567", sizeof(dst)), 0);
	assert_string_equal(dst, "1234567");
	assert_int_equal(util_strlcpy(dst, "", sizeof(dst)), 0);
	assert_string_equal(dst, "");
	memcpy(dst, "garbage", 8);
	assert_int_equal(util_strlcpy(dst, "12345678", sizeof(dst)), -1);
	assert_string_equal(dst, "");	/* emptied, never a cut copy */
	assert_int_equal(util_strlcpy(dst, "x", 1), -1);
	assert_string_equal(dst, "");
	memcpy(dst, "keep", 5);
	assert_int_equal(util_strlcpy(dst, "x", 0), -1);
	assert_string_equal(dst, "keep");	/* size 0: nothing written */
}

static void
test_time_rfc3339(void **state)
{
	char out[21];

	(void)state;
	util_time_rfc3339(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	util_time_rfc3339(1795310423, out);
	assert_string_equal(out, "2026-11-22T01:20:23Z");
	util_time_rfc3339(951782400, out);	/* leap day */
	assert_string_equal(out, "2000-02-29T00:00:00Z");
	util_time_rfc3339(4102444799, out);
	assert_string_equal(out, "2099-12-31T23:59:59Z");
}

static void
test_parse_digits(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(util_parse_digits("0", 1, &v), 0);
	assert_true(v == 0);
	assert_int_equal(util_parse_digits("18446744073709551615", 20, &v), 0);
	assert_true(v == UINT64_MAX);
	/* only len bytes are read */
	assert_int_equal(util_parse_digits("12x", 2, &v), 0);
	assert_true(v == 12);
	v = 7;
	assert_int_equal(util_parse_digits("18446744073709551616", 20, &v), -1);
	assert_int_equal(util_parse_digits("99999999999999999999", 20, &v), -1);
	assert_int_equal(util_parse_digits("", 0, &v), -1);
	assert_int_equal(util_parse_digits("1 2", 3, &v), -1);
	assert_int_equal(util_parse_digits("-1", 2, &v), -1);
	assert_int_equal(util_parse_digits("+1", 2, &v), -1);
	assert_true(v == 7);		/* untouched on failure */
}

static void
test_parse_size_units(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "1048576", 1048576 }, { "7B", 7 },
		{ "512KiB", 512ull << 10 }, { "10MiB", 10ull << 20 },
		{ "2GiB", 2ull << 30 }, { "3TiB", 3ull << 40 },
		{ "5KB", 5000 }, { "5MB", 5000000 }, { "5GB", 5000000000ull },
		{ "5TB", 5000000000000ull },
		{ "18446744073709551615", UINT64_MAX },
		{ "16777215TiB", 16777215ull << 40 },
		{ "0010", 10 },
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		if (util_parse_size(ok[i].s, &v) != 0)
			fail_msg("'%s' refused", ok[i].s);
		if (v != ok[i].v)
			fail_msg("'%s' parsed as %llu", ok[i].s,
			    (unsigned long long)v);
	}
}

static void
test_parse_size_refusals(void **state)
{
	static const char *const bad[] = {
		"", " ", "-1", "-0", "+1", " 1", "1 ", "10 MiB", "10mib",
		"10Mi", "10M", "10k", "MiB", "1.5MiB", "0x10", "1e6",
		"18446744073709551616",		/* 2^64 */
		"99999999999999999999999",
		"16777216TiB",			/* 2^64 bytes */
		"18446744073709551615KiB",
		"1MiB1", "1MiBx", "1\n",
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 777;
		if (util_parse_size(bad[i], &v) != -1)
			fail_msg("'%s' accepted", bad[i]);
		if (v != 777)
			fail_msg("'%s' changed the output", bad[i]);
	}
	assert_int_equal(util_parse_size(NULL, &v), -1);
}

static void
test_parse_duration(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "90", 90 }, { "90s", 90 }, { "15m", 900 },
		{ "24h", 86400 }, { "3d", 259200 },
		{ "18446744073709551615s", UINT64_MAX },
		{ "213503982334601d", 213503982334601ull * 86400 },
	};
	static const char *const bad[] = {
		"", "s", "-1", "-1s", "1.5h", "1 h", "1H", "1w", "1ms", "1hh",
		"18446744073709551616", "213503982334602d",
		"307445734561825861m", " 1",
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		if (util_parse_duration(ok[i].s, &v) != 0 || v != ok[i].v)
			fail_msg("'%s' -> %llu", ok[i].s,
			    (unsigned long long)v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 777;
		if (util_parse_duration(bad[i], &v) != -1 || v != 777)
			fail_msg("'%s' accepted", bad[i]);
	}
	assert_int_equal(util_parse_duration(NULL, &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_formats_and_returns_minus_one),
		cmocka_unit_test(test_hex_roundtrip),
		cmocka_unit_test(test_unhex_upper_case),
		cmocka_unit_test(test_unhex_refusals),
		cmocka_unit_test(test_is_id),
		cmocka_unit_test(test_new_id),
		cmocka_unit_test(test_is_token),
		cmocka_unit_test(test_strlcpy),
		cmocka_unit_test(test_time_rfc3339),
		cmocka_unit_test(test_parse_digits),
		cmocka_unit_test(test_parse_size_units),
		cmocka_unit_test(test_parse_size_refusals),
		cmocka_unit_test(test_parse_duration),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
