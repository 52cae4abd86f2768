/*
 * test_webjson — the browser API's JSON and its hand-written parsers: query
 * strings, tus Upload-Metadata, JSON bodies made into messages through the
 * wire schema, messages made into JSON; and the Japanese messages and HTTP
 * statuses of the error codes (webmsg).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "broker/webjson.h"
#include "broker/webmsg.h"

static void
test_query(void **state)
{
	struct wire_error err;
	json_t *o;

	(void)state;
	o = webjson_parse_query("since=2026-12-01&user=%E9%88%B4%E6%9C%A8+a&x=",
	    &err);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "since")),
	    "2026-12-01");
	assert_string_equal(json_string_value(json_object_get(o, "user")),
	    "鈴木 a");
	assert_string_equal(json_string_value(json_object_get(o, "x")), "");
	json_decref(o);
	/* repeated, malformed escape, NUL, not UTF-8 */
	assert_null(webjson_parse_query("a=1&a=2", &err));
	assert_string_equal(err.field, "a");
	assert_null(webjson_parse_query("a=%zz", &err));
	assert_null(webjson_parse_query("a=%4", &err));
	assert_null(webjson_parse_query("a=%00", &err));
	assert_null(webjson_parse_query("a=%ff%fe", &err));
	assert_string_equal(err.code, "bad_value");
}

static void
test_query_bounds(void **state)
{
	struct wire_error err;
	char q[400];
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < 33; i++)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "k%zu=1&", i);
	assert_null(webjson_parse_query(q, &err));
	assert_non_null(strstr(err.message, "32"));
}

static void
test_metadata(void **state)
{
	struct wire_error err;
	json_t *o;

	(void)state;
	/* interface IF-1, filename 報告.pdf, class 2, empty purpose */
	o = webjson_parse_tus_metadata("interface SUYtMQ==,filename "
	    "5aCx5ZGKLnBkZg==, class Mg==,purpose,filetype YQ==", &err);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o,
	    "interface")), "IF-1");
	assert_string_equal(json_string_value(json_object_get(o, "name")),
	    "報告.pdf");
	assert_string_equal(json_string_value(json_object_get(o, "class")),
	    "2");
	assert_string_equal(json_string_value(json_object_get(o, "purpose")),
	    "");
	assert_null(json_object_get(o, "filetype"));
	json_decref(o);
	assert_null(webjson_parse_tus_metadata("colour cmVk", &err));
	assert_non_null(strstr(err.message, "colour"));
	assert_string_equal(err.field, "Upload-Metadata");
	assert_null(webjson_parse_tus_metadata("class Mg==,class Mw==", &err));
	assert_null(webjson_parse_tus_metadata("class Mg", &err));
	assert_null(webjson_parse_tus_metadata("class !!!!", &err));
	/* a NUL inside, and bytes that are not UTF-8 */
	assert_null(webjson_parse_tus_metadata("name YQBi", &err));
	assert_null(webjson_parse_tus_metadata("name //79", &err));
}

static void
test_body_through_the_schema(void **state)
{
	struct wire_error err;
	struct wire_msg m;
	json_t *o;
	uint64_t u = 0;
	size_t len = 0;
	const uint8_t *sha;
	const char *body = "{\"interface\":\"IF-1\","
	    "\"name\":\"a.pdf\",\"size\":\"12\",\"class\":2,\"purpose\":\"p\","
	    "\"sha256\":\"" "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff" "\"}";

	(void)state;
	o = webjson_parse_body((const uint8_t *)body, strlen(body), &err);
	assert_non_null(o);
	assert_int_equal(webjson_to_msg(WIRE_OP_PUT, 7, o, &m, &err), 0);
	assert_int_equal(m.id, 7);
	assert_int_equal(wire_msg_uint(&m, "size", &u), 0);
	assert_int_equal(u, 12);
	sha = wire_msg_bytes(&m, "sha256", &len);
	assert_non_null(sha);
	assert_int_equal(len, 32);
	assert_int_equal(sha[1], 0x11);
	wire_msg_clear(&m);
	/* a class the schema does not take, an unknown field, a missing
	 * required one, a negative size */
	json_object_set_new(o, "class", json_integer(4));
	assert_int_equal(webjson_to_msg(WIRE_OP_PUT, 1, o, &m, &err), -1);
	assert_string_equal(err.field, "class");
	json_object_set_new(o, "class", json_integer(1));
	json_object_set_new(o, "colour", json_string("red"));
	assert_int_equal(webjson_to_msg(WIRE_OP_PUT, 1, o, &m, &err), -1);
	assert_string_equal(err.field, "colour");
	json_object_del(o, "colour");
	json_object_del(o, "name");
	assert_int_equal(webjson_to_msg(WIRE_OP_PUT, 1, o, &m, &err), -1);
	json_object_set_new(o, "name", json_string("a"));
	json_object_set_new(o, "size", json_integer(-1));
	assert_int_equal(webjson_to_msg(WIRE_OP_PUT, 1, o, &m, &err), -1);
	assert_string_equal(err.field, "size");
	json_object_set_new(o, "size", json_integer(1));
	json_object_set_new(o, "sha256", json_string("zz"));
	assert_int_equal(webjson_to_msg(WIRE_OP_PUT, 1, o, &m, &err), -1);
	assert_string_equal(err.field, "sha256");
	json_decref(o);
}

static void
test_bodies_refused(void **state)
{
	struct wire_error err;
	char big[WEBJSON_MAX_BODY + 2];

	(void)state;
	assert_null(webjson_parse_body((const uint8_t *)"[1]", 3, &err));
	assert_string_equal(err.code, "bad_request");
	assert_null(webjson_parse_body((const uint8_t *)"{\"a\":1,\"a\":2}",
	    13, &err));
	assert_null(webjson_parse_body((const uint8_t *)"{", 1, &err));
	memset(big, ' ', sizeof(big));
	assert_null(webjson_parse_body((const uint8_t *)big, sizeof(big),
	    &err));
	assert_string_equal(err.code, "too_large");
}

static void
test_message_to_json(void **state)
{
	struct wire_msg m;
	const char *roles[] = { "a", "b" };
	uint8_t b[32] = { 0xab, 0x01 };
	json_t *o;

	(void)state;
	wire_msg_init(&m, WIRE_OP_STATE, 1);
	assert_int_equal(wire_msg_set_text(&m, "state", "<held>"), 0);
	assert_int_equal(wire_msg_set_uint(&m, "size", 5), 0);
	assert_int_equal(wire_msg_set_bytes(&m, "sha256", b, 32), 0);
	o = webjson_from_msg(&m);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
	    "<held>");
	assert_int_equal(json_integer_value(json_object_get(o, "size")), 5);
	assert_memory_equal(json_string_value(json_object_get(o, "sha256")),
	    "ab010000", 8);
	assert_int_equal(json_string_length(json_object_get(o, "sha256")), 64);
	json_decref(o);
	wire_msg_clear(&m);
	wire_msg_init(&m, WIRE_OP_WELCOME, 1);
	assert_int_equal(wire_msg_set_text_array(&m, "roles", roles, 2), 0);
	o = webjson_from_msg(&m);
	assert_int_equal(json_array_size(json_object_get(o, "roles")), 2);
	json_decref(o);
	wire_msg_clear(&m);
}

static void
test_messages(void **state)
{
	(void)state;
	assert_int_equal(webmsg_status("not_found"), 404);
	assert_int_equal(webmsg_status("step_up_required"), 403);
	assert_int_equal(webmsg_status("unavailable"), 503);
	assert_int_equal(webmsg_status("no_such_code"), 400);
	/* a policy refusal speaks of its reason */
	assert_non_null(strstr(webmsg_ja("denied", "outside_hours"),
	    "時間帯"));
	assert_non_null(strstr(webmsg_ja("denied", "class_too_high"),
	    "機密性"));
	/* never empty */
	assert_true(strlen(webmsg_ja("no_such_code", NULL)) > 0);
	assert_true(strlen(webmsg_ja(NULL, NULL)) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_query_bounds),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_body_through_the_schema),
		cmocka_unit_test(test_bodies_refused),
		cmocka_unit_test(test_message_to_json),
		cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
