/*
 * Tests for lib/auditcsv: RFC 4180 quoting and formula defusing of single
 * cells, the header rows in both languages, local times at the offset in
 * force, and a record flattened into its columns (details that get their
 * own column only with their usual type, the rest only in details).
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

#include "lib/auditcsv.h"

static char *
cell(const char *in, int first)
{
	struct auditcsv_buf b = { NULL, 0, 0, 0 };
	char *s;

	auditcsv_cell_put(&b, in, strlen(in), first);
	assert_false(b.failed);
	s = strdup(b.p != NULL ? b.p : "");
	auditcsv_buf_free(&b);
	return s;
}

#define CELL_IS(in, first, want) do {					\
	char *got_ = cell((in), (first));				\
	assert_string_equal(got_, (want));				\
	free(got_);							\
} while (0)

static void
test_quoting(void **state)
{
	(void)state;
	CELL_IS("plain", 1, "plain");
	CELL_IS("plain", 0, ",plain");
	CELL_IS("", 1, "");
	CELL_IS("a,b", 1, "\"a,b\"");
	CELL_IS("say \"hi\"", 1, "\"say \"\"hi\"\"\"");
	CELL_IS("\"", 1, "\"\"\"\"");
	CELL_IS("line1\nline2", 1, "\"line1\nline2\"");
	CELL_IS("cr\rhere", 1, "\"cr\rhere\"");
	CELL_IS("報告書.xlsx", 1, "報告書.xlsx");
}

static void
test_formula_defused(void **state)
{
	(void)state;
	CELL_IS("=HYPERLINK(\"http://x\")", 1,
	    "\"'=HYPERLINK(\"\"http://x\"\")\"");
	CELL_IS("=1+2", 1, "'=1+2");
	CELL_IS("+81", 1, "'+81");
	CELL_IS("-1", 1, "'-1");
	CELL_IS("@SUM(A1)", 1, "'@SUM(A1)");
	CELL_IS("\tx", 1, "'\tx");
	CELL_IS("\rx", 1, "\"'\rx\"");
	/* Only the first character counts. */
	CELL_IS("a=b", 1, "a=b");
	CELL_IS("1-2", 1, "1-2");
}

static void
test_header(void **state)
{
	struct auditcsv_buf b = { NULL, 0, 0, 0 };

	(void)state;
	auditcsv_header(&b, AUDITCSV_EN, 0);
	assert_true(strncmp(b.p, "seq,time,clock,type,user,", 25) == 0);
	assert_non_null(strstr(b.p, ",record_sha256,local_time,class,name,"
	    "size,sha256,state,result,reason,comment\r\n"));
	auditcsv_buf_free(&b);
	auditcsv_header(&b, AUDITCSV_JA, 1);
	assert_memory_equal(b.p, "\xef\xbb\xbf", 3);
	assert_true(strncmp(b.p + 3, "通番,日時(UTC),時刻同期,種別,利用者,",
	    strlen("通番,日時(UTC),時刻同期,種別,利用者,")) == 0);
	assert_non_null(strstr(b.p, ",日時,機密性区分,ファイル名,"));
	auditcsv_buf_free(&b);
	assert_string_equal(auditcsv_col_name(AUDITCSV_LOCAL_TIME,
	    AUDITCSV_JA), "日時");
	assert_string_equal(auditcsv_col_name(AUDITCSV_NCOLS, AUDITCSV_EN),
	    "");
}

static void
test_local_time(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(auditcsv_local_time("2026-11-22T20:20:31Z", 20,
	    9 * 3600, out, sizeof(out)), 0);
	assert_string_equal(out, "2026-11-23T05:20:31+09:00");
	assert_int_equal(auditcsv_local_time("2026-11-22T01:00:00Z", 20,
	    -(3 * 3600 + 30 * 60), out, sizeof(out)), 0);
	assert_string_equal(out, "2026-11-21T21:30:00-03:30");
	assert_int_equal(auditcsv_local_time("2026-11-22T01:00:00Z", 20, 0,
	    out, sizeof(out)), 0);
	assert_string_equal(out, "2026-11-22T01:00:00+00:00");
	assert_int_equal(auditcsv_local_time("2026-11-22 01:00:00", 19, 0,
	    out, sizeof(out)), -1);
	assert_int_equal(auditcsv_local_time("2026-11-22T01:00:00Z", 20, 0,
	    out, 10), -1);
}

/* A record as the broker writes it, built with libcbor. */
static uint8_t *
make_record(size_t *len, const char *name, int size_as_text)
{
	cbor_item_t *m = cbor_new_definite_map(8), *actor, *subject, *det;
	uint8_t prev[32] = { 0 }, sha[32];
	unsigned char *buf = NULL;
	size_t cap = 0;

	memset(sha, 0xab, sizeof(sha));
	actor = cbor_new_definite_map(2);
	cbor_map_add(actor, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "user")), cbor_move(cbor_build_string("yamada")) });
	cbor_map_add(actor, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "dept")), cbor_move(cbor_build_string("somu")) });
	subject = cbor_new_definite_map(1);
	cbor_map_add(subject, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "transfer")), cbor_move(cbor_build_string(
	    "3f2a9c0d5e6b7a8f1c2d3e4f5a6b7c8d")) });
	det = cbor_new_definite_map(5);
	cbor_map_add(det, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "name")), cbor_move(cbor_build_string(name)) });
	cbor_map_add(det, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "size")), cbor_move(size_as_text ? cbor_build_string("12") :
	    cbor_build_uint64(1048576)) });
	cbor_map_add(det, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "sha256")), cbor_move(cbor_build_bytestring(sha, 32)) });
	cbor_map_add(det, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "class")), cbor_move(cbor_build_uint8(2)) });
	cbor_map_add(det, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "approvers")), cbor_move(cbor_build_string("kacho")) });
	cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string("seq")),
	    cbor_move(cbor_build_uint8(12)) });
	cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "time")), cbor_move(cbor_build_string("2026-11-22T20:20:31Z")) });
	cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "clock")), cbor_move(cbor_build_string("synced")) });
	cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "type")), cbor_move(cbor_build_string("stored")) });
	cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "actor")), cbor_move(actor) });
	cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "subject")), cbor_move(subject) });
	cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "details")), cbor_move(det) });
	cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string(
	    "prev")), cbor_move(cbor_build_bytestring(prev, 32)) });
	*len = cbor_serialize_alloc(m, &buf, &cap);
	cbor_decref(&m);
	assert_true(*len > 0);
	return buf;
}

static int32_t
tokyo(const void *ctx, int64_t t)
{
	(void)ctx;
	(void)t;
	return 9 * 3600;
}

static char *
row_text(const struct auditcsv_row *row)
{
	struct auditcsv_buf b = { NULL, 0, 0, 0 };
	char *s;

	auditcsv_row_put(&b, row);
	assert_false(b.failed);
	s = strdup(b.p);
	auditcsv_buf_free(&b);
	return s;
}

static void
test_flatten(void **state)
{
	struct auditfmt_record *r = malloc(sizeof(*r));
	struct auditcsv_zone z = { tokyo, NULL };
	struct auditcsv_row row;
	char err[256], *line;
	uint8_t *rec;
	size_t len;

	(void)state;
	assert_non_null(r);
	rec = make_record(&len, "=cmd|' /C calc'!A0.xlsx", 0);
	assert_int_equal(auditfmt_decode(rec, len, r, err, sizeof(err)), 0);
	assert_int_equal(auditcsv_flatten(rec, len, r, &z, &row, err,
	    sizeof(err)), 0);
	assert_int_equal(row.seq, 12);
	assert_true(row.has_size && row.size == 1048576);
	assert_true(row.has_class && row.class == 2);
	assert_string_equal(row.local, "2026-11-23T05:20:31+09:00");
	assert_int_equal(row.cell[AUDITCSV_SHA256].len, 64);
	assert_memory_equal(row.cell[AUDITCSV_SHA256].p, "abababab", 8);
	assert_int_equal(row.cell[AUDITCSV_STATE].p == NULL, 1);
	/* approvers has no column: only in details, with everything. */
	assert_non_null(strstr(row.details, "\"approvers\":\"kacho\""));
	assert_non_null(strstr(row.details, "\"size\":1048576"));
	line = row_text(&row);
	assert_true(strncmp(line, "12,2026-11-22T20:20:31Z,synced,stored,"
	    "yamada,somu,,,,3f2a9c0d5e6b7a8f1c2d3e4f5a6b7c8d,,,", 70) == 0);
	/* The file name is defused and quoted, its quote doubled. */
	assert_non_null(strstr(line, ",2026-11-23T05:20:31+09:00,2,"
	    "'=cmd|' /C calc'!A0.xlsx,1048576,abab"));
	assert_true(strlen(line) > 2 &&
	    strcmp(line + strlen(line) - 2, "\r\n") == 0);
	free(line);
	auditcsv_row_clear(&row);
	free(rec);

	/* A detail of an unexpected type stays in details only. */
	rec = make_record(&len, "a,\"b\"", 1);
	assert_int_equal(auditfmt_decode(rec, len, r, err, sizeof(err)), 0);
	assert_int_equal(auditcsv_flatten(rec, len, r, NULL, &row, err,
	    sizeof(err)), 0);
	assert_false(row.has_size);
	assert_null(row.cell[AUDITCSV_SIZE].p);
	assert_null(row.cell[AUDITCSV_LOCAL_TIME].p);
	assert_non_null(strstr(row.details, "\"size\":\"12\""));
	assert_non_null(strstr(row.details, "\"name\":\"a,\\\"b\\\"\""));
	line = row_text(&row);
	assert_non_null(strstr(line, ",\"a,\"\"b\"\"\","));
	free(line);
	auditcsv_row_clear(&row);
	free(rec);
	free(r);
}

static void
test_json_quote(void **state)
{
	struct auditcsv_buf b = { NULL, 0, 0, 0 };

	(void)state;
	auditcsv_json_quote(&b, "a\"b\\c\n\x01\x7f日本", strlen("a\"b\\c\n"
	    "\x01\x7f日本"));
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f日本\"");
	auditcsv_buf_free(&b);
}

static char *
masked(const char *in)
{
	size_t len = strlen(in);
	char *out = malloc(len + 1);

	assert_non_null(out);
	out[auditcsv_mask_mynumber(in, len, out)] = '\0';
	return out;
}

#define MASK_IS(in, want) do {						\
	char *got_ = masked(in);					\
	assert_string_equal(got_, (want));				\
	assert_int_equal(auditcsv_has_mynumber((in), strlen(in)),	\
	    strcmp((in), (want)) != 0);					\
	free(got_);							\
} while (0)

/* 123456789018 and 987654321093 have valid check digits. */
static void
test_personal_numbers_masked(void **state)
{
	(void)state;
	MASK_IS("123456789018", "************");
	MASK_IS("mynumber_123456789018.xlsx", "mynumber_************.xlsx");
	MASK_IS("1234-5678-9018 and 9876 5432 1093",
	    "****-****-**** and **** **** ****");
	/* Full-width digits, as typed in Japanese text. */
	MASK_IS("番号１２３４５６７８９０１８です", "番号************です");
	/* A wrong check digit, a longer or shorter run: not one. */
	MASK_IS("123456789012", "123456789012");
	MASK_IS("1123456789018", "1123456789018");
	MASK_IS("1234567890180", "1234567890180");
	MASK_IS("23456789018", "23456789018");
	MASK_IS("1234--5678-9018", "1234--5678-9018");
	MASK_IS("", "");
	MASK_IS("12345678901", "12345678901");
}

static void
test_flatten_masks_personal_numbers(void **state)
{
	struct auditfmt_record *r = malloc(sizeof(*r));
	struct auditcsv_row row;
	char err[256], *line;
	uint8_t *rec;
	size_t len;

	(void)state;
	assert_non_null(r);
	rec = make_record(&len, "個人番号 1234-5678-9018.pdf", 0);
	assert_int_equal(auditfmt_decode(rec, len, r, err, sizeof(err)), 0);
	assert_int_equal(auditcsv_flatten(rec, len, r, NULL, &row, err,
	    sizeof(err)), 0);
	assert_int_equal(row.cell[AUDITCSV_NAME].len,
	    strlen("個人番号 ****-****-****.pdf"));
	assert_memory_equal(row.cell[AUDITCSV_NAME].p,
	    "個人番号 ****-****-****.pdf", row.cell[AUDITCSV_NAME].len);
	assert_null(strstr(row.details, "9018"));
	assert_non_null(strstr(row.details, "****-****-****"));
	line = row_text(&row);
	assert_null(strstr(line, "1234-5678"));
	free(line);
	/* The record's own hash is of the bytes, unmasked. */
	assert_int_equal(strlen(row.record_sha256), 64);
	auditcsv_row_clear(&row);
	free(rec);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_formula_defused),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_local_time),
		cmocka_unit_test(test_flatten),
		cmocka_unit_test(test_json_quote),
		cmocka_unit_test(test_personal_numbers_masked),
		cmocka_unit_test(test_flatten_masks_personal_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
