/*
 * fuzz_webjson — the browser API's hand-written parsers on arbitrary bytes:
 * the query string, tus Upload-Metadata, and a JSON object made into an
 * op's message through the wire schema.
 *
 * A refusal must come with a code and a message and no object; an accepted
 * query or metadata is an object of UTF-8 strings whose count respects the
 * bounds; a message built from a body must encode (it passed the schema).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/webjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(json_t *o, const struct wire_error *err, size_t max_keys)
{
	const char *k;
	json_t *v;

	if (o == NULL) {
		if (err->code[0] == '\0' || err->message[0] == '\0')
			abort();
		return;
	}
	if (!json_is_object(o) || json_object_size(o) > max_keys)
		abort();
	json_object_foreach(o, k, v)
		if (!json_is_string(v))
			abort();
	json_decref(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_error err;
	struct wire_msg m;
	char *s;
	json_t *o;

	if (size > 20000 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&err, 0, sizeof(err));
	check(webjson_parse_query(s, &err), &err, 32);
	memset(&err, 0, sizeof(err));
	check(webjson_parse_tus_metadata(s, &err), &err, 8);
	memset(&err, 0, sizeof(err));
	if ((o = webjson_parse_body(data, size, &err)) != NULL) {
		enum wire_op op = size > 0 ? (enum wire_op)(data[0] %
		    WIRE_OP__COUNT) : WIRE_OP_PUT;

		if (wire_op_from_client(op) &&
		    webjson_to_msg(op, 1, o, &m, &err) == 0) {
			uint8_t *buf = NULL;
			size_t len = 0;

			if (wire_encode(&m, &buf, &len, &err) != 0)
				abort();
			free(buf);
			wire_msg_clear(&m);
		}
		json_decref(o);
	}
	free(s);
	return 0;
}
