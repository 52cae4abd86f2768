/*
 * Tests for lib/cborjson: the CBOR → JSON mapping item by item, containers
 * at every nesting shape, text escaping, and every refusal: tags, floats,
 * simple values, indefinite lengths, non-text keys, truncation at every
 * offset, trailing bytes, depth, and declared counts far beyond the input.
 * Inputs are written byte by byte (RFC 8949 encodings), plus a few built
 * with libcbor to check agreement with an independent encoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cbor.h>

#include "lib/cborjson.h"

/*
 * The allocator is wrapped (-Wl,--wrap) to record the largest single
 * request, so a test can show that a declared count is never used to size
 * an allocation.
 */
void *__real_malloc(size_t);
void *__real_realloc(void *, size_t);
void *__wrap_malloc(size_t);
void *__wrap_realloc(void *, size_t);

static size_t largest_alloc;

void *
__wrap_malloc(size_t n)
{
	if (n > largest_alloc)
		largest_alloc = n;
	return __real_malloc(n);
}

void *
__wrap_realloc(void *p, size_t n)
{
	if (n > largest_alloc)
		largest_alloc = n;
	return __real_realloc(p, n);
}

/* --- a tiny CBOR writer for hand-made inputs --- */

struct cb {
	uint8_t b[8192];
	size_t n;
};

static void
cb_raw(struct cb *c, const void *p, size_t len)
{
	assert_true(c->n + len <= sizeof(c->b));
	memcpy(c->b + c->n, p, len);
	c->n += len;
}

static void
cb_byte(struct cb *c, uint8_t v)
{
	cb_raw(c, &v, 1);
}

/* Minimal-length head of major type mt with argument v. */
static void
cb_head(struct cb *c, unsigned mt, uint64_t v)
{
	int i, bytes;

	if (v < 24) {
		cb_byte(c, (uint8_t)(mt << 5 | v));
		return;
	}
	if (v <= 0xff) {
		cb_byte(c, (uint8_t)(mt << 5 | 24));
		bytes = 1;
	} else if (v <= 0xffff) {
		cb_byte(c, (uint8_t)(mt << 5 | 25));
		bytes = 2;
	} else if (v <= 0xffffffff) {
		cb_byte(c, (uint8_t)(mt << 5 | 26));
		bytes = 4;
	} else {
		cb_byte(c, (uint8_t)(mt << 5 | 27));
		bytes = 8;
	}
	for (i = bytes - 1; i >= 0; i--)
		cb_byte(c, (uint8_t)(v >> (8 * i)));
}

static void
cb_text(struct cb *c, const char *s)
{
	cb_head(c, 3, strlen(s));
	cb_raw(c, s, strlen(s));
}

static char errbuf[256];

static void
expect_json(const uint8_t *buf, size_t len, const char *want)
{
	char *out = NULL;

	errbuf[0] = '\0';
	if (cborjson_encode(buf, len, &out, errbuf, sizeof(errbuf)) != 0)
		fail_msg("refused (%s), wanted %s", errbuf, want);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void
expect_refused(const uint8_t *buf, size_t len, const char *why)
{
	char *out = (char *)1;

	errbuf[0] = '\0';
	if (cborjson_encode(buf, len, &out, errbuf, sizeof(errbuf)) != -1)
		fail_msg("accepted: %s", out);
	assert_null(out);
	assert_true(errbuf[0] != '\0');
	if (why != NULL && strstr(errbuf, why) == NULL)
		fail_msg("message '%s' lacks '%s'", errbuf, why);
}

#define JSON(want, ...) do {						\
	static const uint8_t in_[] = { __VA_ARGS__ };			\
	expect_json(in_, sizeof(in_), want);				\
} while (0)
#define REFUSED(why, ...) do {						\
	static const uint8_t in_[] = { __VA_ARGS__ };			\
	expect_refused(in_, sizeof(in_), why);				\
} while (0)

static void
test_unsigned(void **state)
{
	(void)state;
	JSON("0", 0x00);
	JSON("23", 0x17);
	JSON("24", 0x18, 0x18);
	JSON("255", 0x18, 0xff);
	JSON("256", 0x19, 0x01, 0x00);
	JSON("65535", 0x19, 0xff, 0xff);
	JSON("65536", 0x1a, 0x00, 0x01, 0x00, 0x00);
	JSON("4294967296", 0x1b, 0, 0, 0, 1, 0, 0, 0, 0);
	JSON("18446744073709551615", 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff);
	/* Non-minimal heads carry the same value. */
	JSON("5", 0x18, 0x05);
}

static void
test_negative(void **state)
{
	(void)state;
	JSON("-1", 0x20);
	JSON("-24", 0x37);
	JSON("-25", 0x38, 0x18);
	JSON("-256", 0x38, 0xff);
	JSON("-257", 0x39, 0x01, 0x00);
	JSON("-65537", 0x3a, 0x00, 0x01, 0x00, 0x00);
	JSON("-4294967297", 0x3b, 0, 0, 0, 1, 0, 0, 0, 0);
	JSON("-18446744073709551615", 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xfe);
	/* -2^64, one beyond what any C integer holds. */
	JSON("-18446744073709551616", 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff);
}

static void
test_simple(void **state)
{
	(void)state;
	JSON("true", 0xf5);
	JSON("false", 0xf4);
	JSON("null", 0xf6);
	JSON("[true,false,null]", 0x83, 0xf5, 0xf4, 0xf6);
}

static void
test_bytes_as_hex(void **state)
{
	(void)state;
	JSON("\"\"", 0x40);
	JSON("\"00ff10ab\"", 0x44, 0x00, 0xff, 0x10, 0xab);
	JSON("\"22\"", 0x41, '"');	/* never interpreted as text */
}

static void
test_text_escaping(void **state)
{
	(void)state;
	JSON("\"\"", 0x60);
	JSON("\"abc\"", 0x63, 'a', 'b', 'c');
	JSON("\"a\\\"b\"", 0x63, 'a', '"', 'b');
	JSON("\"a\\\\b\"", 0x63, 'a', '\\', 'b');
	JSON("\"\\u000a\\u0009\\u000d\"", 0x63, '\n', '\t', '\r');
	JSON("\"\\u0000\\u0001\\u001f \\u007f\"", 0x65, 0x00, 0x01, 0x1f, ' ',
	    0x7f);
	JSON("\"/\"", 0x61, '/');
	/* 関所 passes through as UTF-8. */
	JSON("\"\xe9\x96\xa2\xe6\x89\x80\"", 0x66, 0xe9, 0x96, 0xa2, 0xe6,
	    0x89, 0x80);
	JSON("\"\xf0\x9f\x98\x80\"", 0x64, 0xf0, 0x9f, 0x98, 0x80);
}

static void
test_text_invalid_utf8_refused(void **state)
{
	(void)state;
	REFUSED("UTF-8", 0x61, 0xff);
	REFUSED("UTF-8", 0x61, 0x80);			/* lone continuation */
	REFUSED("UTF-8", 0x62, 0xc3, 0x28);		/* bad continuation */
	REFUSED("UTF-8", 0x61, 0xc3);			/* cut sequence */
	REFUSED("UTF-8", 0x62, 0xc0, 0xaf);		/* overlong '/' */
	REFUSED("UTF-8", 0x63, 0xe0, 0x80, 0xaf);	/* overlong */
	REFUSED("UTF-8", 0x63, 0xed, 0xa0, 0x80);	/* surrogate */
	REFUSED("UTF-8", 0x64, 0xf4, 0x90, 0x80, 0x80);	/* > U+10FFFF */
	REFUSED("UTF-8", 0x64, 0xf8, 0x88, 0x80, 0x80);
	/* As a map key too. */
	REFUSED("UTF-8", 0xa1, 0x61, 0xfe, 0x01);
	/* The edges that are valid. */
	JSON("\"\xc2\x80\xdf\xbf\"", 0x64, 0xc2, 0x80, 0xdf, 0xbf);
	JSON("\"\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\"", 0x69, 0xed, 0x9f,
	    0xbf, 0xee, 0x80, 0x80, 0xef, 0xbf, 0xbf);
	JSON("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"", 0x68, 0xf0, 0x90, 0x80,
	    0x80, 0xf4, 0x8f, 0xbf, 0xbf);
}

static void
test_containers(void **state)
{
	(void)state;
	JSON("[]", 0x80);
	JSON("{}", 0xa0);
	JSON("[1,2,3]", 0x83, 0x01, 0x02, 0x03);
	JSON("{\"a\":1}", 0xa1, 0x61, 'a', 0x01);
	JSON("{\"a\":1,\"b\":2}", 0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x02);
	JSON("[[],{},[[]],{\"\":{}}]", 0x84, 0x80, 0xa0, 0x81, 0x80, 0xa1, 0x60,
	    0xa0);
	JSON("{\"a\":[1,{\"b\":[]}],\"c\":{\"d\":\"e\"},\"f\":null}",
	    0xa3,
	    0x61, 'a', 0x82, 0x01, 0xa1, 0x61, 'b', 0x80,
	    0x61, 'c', 0xa1, 0x61, 'd', 0x61, 'e',
	    0x61, 'f', 0xf6);
	/* Containers closing together at the end. */
	JSON("[[[1]]]", 0x81, 0x81, 0x81, 0x01);
	JSON("{\"k\":{\"k\":{\"k\":[]}}}", 0xa1, 0x61, 'k', 0xa1, 0x61, 'k',
	    0xa1, 0x61, 'k', 0x80);
	/* Keys are not checked for duplicates: the record is shown as is. */
	JSON("{\"a\":1,\"a\":2}", 0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02);
}

static void
test_long_array(void **state)
{
	struct cb c = { .n = 0 };
	char want[8192], *w = want;
	unsigned i;

	(void)state;
	cb_head(&c, 4, 1000);
	*w++ = '[';
	for (i = 0; i < 1000; i++) {
		cb_head(&c, 0, i);
		w += sprintf(w, "%s%u", i ? "," : "", i);
	}
	*w++ = ']';
	*w = '\0';
	expect_json(c.b, c.n, want);
}

static void
test_agrees_with_libcbor(void **state)
{
	cbor_item_t *root, *arr, *inner;
	unsigned char *buf = NULL;
	size_t cap = 0, len;
	uint8_t bytes[3] = { 1, 2, 0xfe };

	(void)state;
	root = cbor_new_definite_map(5);
	arr = cbor_new_definite_array(3);
	inner = cbor_new_definite_map(0);
	assert_true(cbor_array_push(arr, cbor_move(cbor_build_uint64(
	    UINT64_MAX))));
	assert_true(cbor_array_push(arr, cbor_move(cbor_build_negint8(9))));
	assert_true(cbor_array_push(arr, cbor_move(inner)));
	assert_true(cbor_map_add(root, (struct cbor_pair){
	    .key = cbor_move(cbor_build_string("seq")),
	    .value = cbor_move(cbor_build_uint32(70000)) }));
	assert_true(cbor_map_add(root, (struct cbor_pair){
	    .key = cbor_move(cbor_build_string("type")),
	    .value = cbor_move(cbor_build_string("store \"x\"")) }));
	assert_true(cbor_map_add(root, (struct cbor_pair){
	    .key = cbor_move(cbor_build_string("list")),
	    .value = cbor_move(arr) }));
	assert_true(cbor_map_add(root, (struct cbor_pair){
	    .key = cbor_move(cbor_build_string("hash")),
	    .value = cbor_move(cbor_build_bytestring(bytes, 3)) }));
	assert_true(cbor_map_add(root, (struct cbor_pair){
	    .key = cbor_move(cbor_build_string("ok")),
	    .value = cbor_move(cbor_build_bool(true)) }));
	len = cbor_serialize_alloc(root, &buf, &cap);
	assert_true(len > 0);
	expect_json(buf, len, "{\"seq\":70000,\"type\":\"store \\\"x\\\"\","
	    "\"list\":[18446744073709551615,-10,{}],\"hash\":\"0102fe\","
	    "\"ok\":true}");
	free(buf);
	cbor_decref(&root);
}

static void
test_refuse_tags_floats_simple(void **state)
{
	(void)state;
	REFUSED("tags", 0xc0, 0x60);			/* tag 0 + "" */
	REFUSED("tags", 0xc1, 0x00);			/* epoch time */
	REFUSED("tags", 0xd8, 0x20, 0x60);		/* tag 32 */
	REFUSED("tags", 0x81, 0xc2, 0x40);		/* bignum inside */
	REFUSED("tags", 0xa1, 0x61, 'a', 0xc0, 0x60);
	REFUSED("floats", 0xf9, 0x3c, 0x00);		/* half 1.0 */
	REFUSED("floats", 0xfa, 0x3f, 0x80, 0x00, 0x00);
	REFUSED("floats", 0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0);
	REFUSED("floats", 0x82, 0x01, 0xf9, 0x7e, 0x00);	/* NaN */
	REFUSED(NULL, 0xf7);				/* undefined */
	REFUSED(NULL, 0xe0);				/* simple(0) */
	REFUSED(NULL, 0xf3);				/* simple(19) */
	REFUSED(NULL, 0xf8, 0x20);			/* simple(32) */
	REFUSED(NULL, 0xfc);				/* reserved */
	REFUSED(NULL, 0x1c);				/* reserved ai */
	REFUSED(NULL, 0x3e);
	REFUSED(NULL, 0x81, 0xf7);
}

static void
test_refuse_indefinite(void **state)
{
	(void)state;
	REFUSED(NULL, 0x9f, 0x01, 0xff);		/* [_ 1] */
	REFUSED(NULL, 0x9f, 0xff);
	REFUSED(NULL, 0xbf, 0x61, 'a', 0x01, 0xff);	/* {_ "a": 1} */
	REFUSED(NULL, 0x5f, 0x41, 0x00, 0xff);		/* (_ h'00') */
	REFUSED(NULL, 0x7f, 0x61, 'a', 0xff);		/* (_ "a") */
	REFUSED(NULL, 0x81, 0x9f, 0xff);
	REFUSED(NULL, 0xff);				/* lone break */
	REFUSED(NULL, 0x82, 0x01, 0xff);
}

static void
test_refuse_non_text_keys(void **state)
{
	(void)state;
	REFUSED("map key is not text", 0xa1, 0x01, 0x01);
	REFUSED("map key is not text", 0xa1, 0x20, 0x01);
	REFUSED("map key is not text", 0xa1, 0x41, 'a', 0x01);
	REFUSED("map key is not text", 0xa1, 0x80, 0x01);
	REFUSED("map key is not text", 0xa1, 0xa0, 0x01);
	REFUSED("map key is not text", 0xa1, 0xf6, 0x01);
	REFUSED("map key is not text", 0xa1, 0xf5, 0x01);
	/* The second key of a map. */
	REFUSED("map key is not text", 0xa2, 0x61, 'a', 0x01, 0x02, 0x03);
	/* A text value is fine, a nested map's key is checked too. */
	REFUSED("map key is not text", 0xa1, 0x61, 'a', 0xa1, 0x00, 0x00);
}

static void
test_refuse_trailing_and_empty(void **state)
{
	(void)state;
	expect_refused(NULL, 0, NULL);
	expect_refused((const uint8_t *)"", 0, "truncated");
	REFUSED("trailing bytes", 0x01, 0x02);
	REFUSED("trailing bytes", 0x80, 0x00);
	REFUSED("trailing bytes", 0xa1, 0x61, 'a', 0x01, 0xa0);
	REFUSED("trailing bytes", 0xf6, 0xff);
	REFUSED("trailing bytes", 0x60, 0x00);
}

/* Every proper prefix of a valid item is refused, none crashes. */
static void
test_truncated_at_every_offset(void **state)
{
	struct cb c = { .n = 0 };
	char *out = NULL;
	size_t cut;

	(void)state;
	cb_head(&c, 5, 6);
	cb_text(&c, "seq");
	cb_head(&c, 0, 1ull << 40);
	cb_text(&c, "neg");
	cb_head(&c, 1, 70000);
	cb_text(&c, "bin");
	cb_head(&c, 2, 300);
	for (cut = 0; cut < 300; cut++)
		cb_byte(&c, (uint8_t)cut);
	cb_text(&c, "list");
	cb_head(&c, 4, 3);
	cb_byte(&c, 0xf5);
	cb_head(&c, 4, 0);
	cb_head(&c, 5, 1);
	cb_text(&c, "k");
	cb_text(&c, "a longer text value crossing a length head of 24+");
	cb_text(&c, "e");
	cb_head(&c, 5, 0);
	cb_text(&c, "\xe9\x96\xa2");
	cb_byte(&c, 0xf6);

	assert_int_equal(cborjson_encode(c.b, c.n, &out, errbuf,
	    sizeof(errbuf)), 0);
	assert_non_null(strstr(out, "\"k\":\"a longer text"));
	free(out);
	for (cut = 0; cut < c.n; cut++) {
		/* A heap copy of exactly cut bytes, so ASan sees overreads. */
		uint8_t *p = malloc(cut ? cut : 1);

		assert_non_null(p);
		memcpy(p, c.b, cut);
		out = (char *)1;
		if (cborjson_encode(p, cut, &out, errbuf, sizeof(errbuf)) != -1)
			fail_msg("prefix of %zu bytes accepted", cut);
		assert_null(out);
		free(p);
	}
}

static void
test_depth_limit(void **state)
{
	struct cb c;
	char want[128];
	unsigned i;

	(void)state;
	/* CBORJSON_MAX_DEPTH nested arrays around a scalar: accepted. */
	c.n = 0;
	for (i = 0; i < CBORJSON_MAX_DEPTH; i++)
		cb_byte(&c, 0x81);
	cb_byte(&c, 0x01);
	memset(want, '[', CBORJSON_MAX_DEPTH);
	want[CBORJSON_MAX_DEPTH] = '1';
	memset(want + CBORJSON_MAX_DEPTH + 1, ']', CBORJSON_MAX_DEPTH);
	want[2 * CBORJSON_MAX_DEPTH + 1] = '\0';
	expect_json(c.b, c.n, want);

	/* One more: refused. */
	c.n = 0;
	for (i = 0; i < CBORJSON_MAX_DEPTH + 1; i++)
		cb_byte(&c, 0x81);
	cb_byte(&c, 0x01);
	expect_refused(c.b, c.n, "nested too deeply");

	/* Maps count the same. */
	c.n = 0;
	for (i = 0; i < CBORJSON_MAX_DEPTH + 1; i++) {
		cb_byte(&c, 0xa1);
		cb_text(&c, "k");
	}
	cb_byte(&c, 0x01);
	expect_refused(c.b, c.n, "nested too deeply");

	/* A thousand levels: refused, not a stack overflow. */
	c.n = 0;
	for (i = 0; i < 1000; i++)
		cb_byte(&c, 0x81);
	cb_byte(&c, 0x01);
	expect_refused(c.b, c.n, "nested too deeply");
}

/* Declared counts are never trusted: huge ones cost nothing. */
static void
test_huge_declared_counts(void **state)
{
	(void)state;
	/* A map declaring 2^60 pairs in 9 bytes, then one pair. */
	REFUSED("truncated", 0xbb, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x61, 'a', 0x01);
	REFUSED("truncated", 0xbb, 0x10, 0, 0, 0, 0, 0, 0, 0);
	/* Arrays of 2^64-1 items. */
	REFUSED("truncated", 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0x01);
	/* Maps whose pair count doubled would not fit. */
	REFUSED(NULL, 0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x61, 'a', 0x01);
	REFUSED(NULL, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
	/* Strings longer than the input. */
	REFUSED("truncated", 0x7b, 0x10, 0, 0, 0, 0, 0, 0, 0, 'a');
	REFUSED("truncated", 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff);
	REFUSED("truncated", 0x7a, 0xff, 0xff, 0xff, 0xff, 'a', 'b');
	/* Nested huge counts. */
	REFUSED("truncated", 0x81, 0xbb, 0x10, 0, 0, 0, 0, 0, 0, 0);
}

static void
test_huge_count_allocates_little(void **state)
{
	static const uint8_t map[] = { 0xbb, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x61,
	    'a', 0x01 };
	static const uint8_t arr[] = { 0x9b, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0x80 };
	static const uint8_t str[] = { 0x5b, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0x00 };
	char *out = NULL;

	(void)state;
	/* The counter works: a real text of 10000 bytes needs that much. */
	{
		static uint8_t text[10003];

		text[0] = 0x79;
		text[1] = 10000 >> 8;
		text[2] = 10000 & 0xff;
		memset(text + 3, 'a', 10000);
		largest_alloc = 0;
		assert_int_equal(cborjson_encode(text, sizeof(text), &out,
		    errbuf, sizeof(errbuf)), 0);
		free(out);
		assert_true(largest_alloc > 10000);
	}
	largest_alloc = 0;
	expect_refused(map, sizeof(map), "truncated");
	expect_refused(arr, sizeof(arr), "truncated");
	expect_refused(str, sizeof(str), "truncated");
	assert_true(largest_alloc <= 4096);
}

static void
test_large_text_output(void **state)
{
	size_t n = 100000, i;
	uint8_t *in = malloc(n + 5);
	char *out = NULL;

	(void)state;
	assert_non_null(in);
	in[0] = 0x7a;
	in[1] = (uint8_t)(n >> 24);
	in[2] = (uint8_t)(n >> 16);
	in[3] = (uint8_t)(n >> 8);
	in[4] = (uint8_t)n;
	for (i = 0; i < n; i++)
		in[5 + i] = i % 2 ? '\n' : 'x';		/* half need escapes */
	assert_int_equal(cborjson_encode(in, n + 5, &out, errbuf,
	    sizeof(errbuf)), 0);
	assert_int_equal(strlen(out), 2 + n / 2 + 6 * (n / 2));
	assert_memory_equal(out, "\"x\\u000ax", 9);
	free(out);
	free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsigned),
		cmocka_unit_test(test_negative),
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_bytes_as_hex),
		cmocka_unit_test(test_text_escaping),
		cmocka_unit_test(test_text_invalid_utf8_refused),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_long_array),
		cmocka_unit_test(test_agrees_with_libcbor),
		cmocka_unit_test(test_refuse_tags_floats_simple),
		cmocka_unit_test(test_refuse_indefinite),
		cmocka_unit_test(test_refuse_non_text_keys),
		cmocka_unit_test(test_refuse_trailing_and_empty),
		cmocka_unit_test(test_truncated_at_every_offset),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_huge_declared_counts),
		cmocka_unit_test(test_huge_count_allocates_little),
		cmocka_unit_test(test_large_text_output),
	};

	return cmocka_run_group_tests_name("cborjson", tests, NULL, NULL);
}
