/*
 * fuzz_wire — libFuzzer target for the sekisho/1 decoder.
 *
 * The input is taken as one direction of a connection: items are decoded
 * one after the other, data payloads skipped as the session would stream
 * them. Every decoded control message must survive encode → decode → encode
 * unchanged, and every result must keep the contract of wire.h (consumed
 * counts, bounds, known error codes, NEED_MORE for a cut item). Any breach
 * aborts, which the fuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_code(const char *code)
{
	static const char *const codes[] = {
		"malformed", "too_large", "too_deep", "unknown_op",
		"unknown_field", "missing_field", "bad_type", "bad_value",
		"duplicate_field", "chunk_too_large", "bad_utf8", "no_memory",
	};
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return;
	abort();
}

static void
check_equal(const struct wire_msg *a, const struct wire_msg *b)
{
	const struct wire_value *x, *y;
	size_t i, j;

	check(a->op == b->op && a->id == b->id && a->nfields == b->nfields);
	for (i = 0; i < a->nfields; i++) {
		x = &a->fields[i].v;
		y = &b->fields[i].v;
		check(strcmp(a->fields[i].key, b->fields[i].key) == 0);
		check(x->type == y->type && x->len == y->len);
		switch (x->type) {
		case WIRE_T_UINT:
		case WIRE_T_BOOL:
			check(x->u == y->u);
			break;
		case WIRE_T_TEXT:
			check(strlen(x->text) == x->len);
			check(memcmp(x->text, y->text, x->len + 1) == 0);
			break;
		case WIRE_T_BYTES:
			check(x->len == 0 || memcmp(x->bytes, y->bytes, x->len) == 0);
			break;
		case WIRE_T_TEXT_ARRAY:
			check(x->len <= WIRE_MAX_ARRAY);
			for (j = 0; j < x->len; j++)
				check(strcmp(x->array[j], y->array[j]) == 0);
			break;
		default:
			abort();
		}
	}
}

/* What the decoder accepted, the encoder must accept and reproduce. */
static void
round_trip(const struct wire_msg *m)
{
	struct wire_msg d;
	struct wire_error e;
	uint8_t *out, *again;
	size_t outlen, againlen, used;
	uint64_t dl;

	check(wire_op_name(m->op) != NULL);
	if (wire_encode(m, &out, &outlen, &e) == -1) {
		/* only running out of memory is an excuse */
		check(strcmp(e.code, "no_memory") == 0);
		return;
	}
	check(outlen > 0 && outlen <= WIRE_MAX_CONTROL);
	check(wire_decode(out, outlen, &d, &dl, &used, &e) == WIRE_CONTROL);
	check(used == outlen);
	check_equal(m, &d);
	check(wire_encode(&d, &again, &againlen, &e) == 0);
	check(againlen == outlen && memcmp(out, again, outlen) == 0);
	wire_msg_clear(&d);
	free(again);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_msg m, cut;
	struct wire_error e;
	enum wire_item it;
	uint64_t dl;
	size_t pos = 0, used;

	while (pos < size) {
		it = wire_decode(data + pos, size - pos, &m, &dl, &used, &e);
		switch (it) {
		case WIRE_CONTROL:
			check(used > 0 && used <= size - pos &&
			    used <= WIRE_MAX_CONTROL);
			check(m.nfields <= WIRE_MAX_FIELDS - 2);
			/* the same item one byte short is incomplete */
			check(wire_decode(data + pos, used - 1, &cut, &dl, &used,
			    &e) == WIRE_NEED_MORE && used == 0);
			used = 0;
			check(wire_decode(data + pos, size - pos, &cut, &dl,
			    &used, &e) == WIRE_CONTROL);
			wire_msg_clear(&cut);
			round_trip(&m);
			wire_msg_clear(&m);
			pos += used;
			break;
		case WIRE_DATA:
			check(used > 0 && used <= 9 && used <= size - pos);
			check(dl <= WIRE_MAX_CHUNK);
			check(m.nfields == 0);
			pos += used;
			pos += dl < size - pos ? (size_t)dl : size - pos;
			break;
		case WIRE_NEED_MORE:
			check(used == 0 && m.nfields == 0);
			check(size - pos < WIRE_MAX_CONTROL);
			return 0;
		case WIRE_ERROR:
			check(used == 0 && m.nfields == 0);
			check(m.op == WIRE_OP_INVALID);
			check_code(e.code);
			check(e.message[0] != '\0');
			return 0;
		default:
			abort();
		}
	}
	return 0;
}
