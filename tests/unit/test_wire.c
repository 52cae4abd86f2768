/*
 * test_wire — the sekisho/1 codec: round trips, every bound at the limit and
 * one over, the CBOR profile, truncation at every offset (inputs sit right
 * before an unmapped page, so a read past len faults), hostile counts
 * (checked with a counting allocator: the link wraps malloc/calloc/realloc),
 * allocation failures and item-by-item sequences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <cbor.h>

#include "lib/wire.h"

/* ------------------------------------------------- counting allocator */

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);

static struct {
	bool on;
	long calls;
	long fail_at;		/* fail the call with this index; -1: never */
} actl = { false, 0, -1 };

static bool
alloc_fails(void)
{
	if (!actl.on)
		return false;
	return actl.calls++ == actl.fail_at;
}

void *
__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return alloc_fails() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return alloc_fails() ? NULL : __real_realloc(p, n);
}

static void
count_allocs(long fail_at)
{
	actl.on = true;
	actl.calls = 0;
	actl.fail_at = fail_at;
}

static long
stop_counting(void)
{
	actl.on = false;
	actl.fail_at = -1;
	return actl.calls;
}

/* --------------------------------------------- inputs before a guard page */

struct guarded {
	uint8_t *base;
	size_t maplen;
	uint8_t *p;
};

/* Copies n bytes so that p[n] is the first byte of an unmapped page. */
static uint8_t *
guard_copy(struct guarded *g, const uint8_t *src, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (n + pg - 1) / pg;

	g->maplen = (pages + 1) * pg;
	g->base = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->base != MAP_FAILED);
	assert_int_equal(mprotect(g->base + pages * pg, pg, PROT_NONE), 0);
	g->p = g->base + pages * pg - n;
	if (n > 0)
		memcpy(g->p, src, n);
	return g->p;
}

static void
guard_free(struct guarded *g)
{
	munmap(g->base, g->maplen);
}

/* --------------------------------------------- a writer for hand-made CBOR */

struct cb {
	uint8_t b[1 << 17];
	size_t n;
};

static struct cb *
cb_new(void)
{
	struct cb *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

static void
t_raw(struct cb *c, const void *p, size_t n)
{
	assert_true(n <= sizeof(c->b) - c->n);
	memcpy(c->b + c->n, p, n);
	c->n += n;
}

static void
t_byte(struct cb *c, uint8_t v)
{
	t_raw(c, &v, 1);
}

static void
t_uint(struct cb *c, uint64_t v)
{
	size_t n = cbor_encode_uint(v, c->b + c->n, sizeof(c->b) - c->n);

	assert_true(n > 0);
	c->n += n;
}

static void
t_textn(struct cb *c, const void *p, size_t len)
{
	size_t n = cbor_encode_string_start(len, c->b + c->n,
	    sizeof(c->b) - c->n);

	assert_true(n > 0);
	c->n += n;
	t_raw(c, p, len);
}

static void
t_text(struct cb *c, const char *s)
{
	t_textn(c, s, strlen(s));
}

static void
t_fill(struct cb *c, size_t len)
{
	size_t n = cbor_encode_string_start(len, c->b + c->n,
	    sizeof(c->b) - c->n);

	assert_true(n > 0 && len <= sizeof(c->b) - c->n - n);
	c->n += n;
	memset(c->b + c->n, 'a', len);
	c->n += len;
}

static void
t_bytes(struct cb *c, const void *p, size_t len)
{
	size_t n = cbor_encode_bytestring_start(len, c->b + c->n,
	    sizeof(c->b) - c->n);

	assert_true(n > 0);
	c->n += n;
	t_raw(c, p, len);
}

static void
t_map(struct cb *c, size_t pairs)
{
	c->n += cbor_encode_map_start(pairs, c->b + c->n, sizeof(c->b) - c->n);
}

static void
t_array(struct cb *c, size_t items)
{
	c->n += cbor_encode_array_start(items, c->b + c->n,
	    sizeof(c->b) - c->n);
}

/* Writes msg as it is, without the codec's checks, so tests can build what
 * the encoder refuses to send. */
static void
t_msg(struct cb *c, const char *op, const struct wire_msg *m)
{
	const struct wire_value *v;
	size_t i, j;

	t_map(c, m->nfields + 2);
	t_text(c, "op");
	t_text(c, op);
	t_text(c, "id");
	t_uint(c, m->id);
	for (i = 0; i < m->nfields; i++) {
		v = &m->fields[i].v;
		t_text(c, m->fields[i].key);
		switch (v->type) {
		case WIRE_T_UINT:
			t_uint(c, v->u);
			break;
		case WIRE_T_BOOL:
			t_byte(c, v->u ? 0xf5 : 0xf4);
			break;
		case WIRE_T_TEXT:
			t_textn(c, v->text, v->len);
			break;
		case WIRE_T_BYTES:
			t_bytes(c, v->bytes, v->len);
			break;
		case WIRE_T_TEXT_ARRAY:
			t_array(c, v->len);
			for (j = 0; j < v->len; j++)
				t_text(c, v->array[j]);
			break;
		default:
			fail();
		}
	}
}

/* Appends a field bypassing the setters' checks. */
static void
raw_text(struct wire_msg *m, const char *key, size_t len, char ch)
{
	struct wire_field *f = &m->fields[m->nfields++];

	f->key = key;
	f->v.type = WIRE_T_TEXT;
	f->v.text = malloc(len + 1);
	assert_non_null(f->v.text);
	memset(f->v.text, ch, len);
	f->v.text[len] = '\0';
	f->v.len = len;
}

static void
raw_uint(struct wire_msg *m, const char *key, uint64_t u)
{
	struct wire_field *f = &m->fields[m->nfields++];

	f->key = key;
	f->v.type = WIRE_T_UINT;
	f->v.u = u;
}

static void
raw_bytes(struct wire_msg *m, const char *key, size_t len)
{
	struct wire_field *f = &m->fields[m->nfields++];

	f->key = key;
	f->v.type = WIRE_T_BYTES;
	f->v.bytes = calloc(1, len + 1);
	assert_non_null(f->v.bytes);
	f->v.len = len;
}

/* ------------------------------------------------------- message fixtures */

static const uint8_t digest[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};
static const char *const roles[] = { "staff", "officer", "監査人" };
#define TID "0123456789abcdef0123456789abcdef"

static void
set_text(struct wire_msg *m, const char *key, const char *v, const char *skip)
{
	if (skip == NULL || strcmp(key, skip) != 0)
		assert_int_equal(wire_msg_set_text(m, key, v), 0);
}

static void
set_uint(struct wire_msg *m, const char *key, uint64_t v, const char *skip)
{
	if (skip == NULL || strcmp(key, skip) != 0)
		assert_int_equal(wire_msg_set_uint(m, key, v), 0);
}

static void
set_digest(struct wire_msg *m, const char *skip)
{
	if (skip == NULL || strcmp("sha256", skip) != 0)
		assert_int_equal(wire_msg_set_bytes(m, "sha256", digest, 32), 0);
}

/* A message of op with every required field, the optional ones too when
 * opt, leaving out the key skip. */
static void
fill(struct wire_msg *m, enum wire_op op, bool opt, const char *skip)
{
	wire_msg_init(m, op, 42);
	switch (op) {
	case WIRE_OP_HELLO:
		set_uint(m, "version", WIRE_VERSION, skip);
		set_text(m, "software", "sekisho/0.1.0 (linux)", skip);
		break;
	case WIRE_OP_PUT:
		set_text(m, "interface", "kintone-somu", skip);
		set_text(m, "name", "令和8年度 予算書.xlsx", skip);
		set_uint(m, "size", 123456789, skip);
		set_uint(m, "class", 2, skip);
		set_text(m, "purpose", "monthly report to the prefecture", skip);
		if (opt) {
			set_text(m, "resume", TID, skip);
			set_text(m, "otp", "123456", skip);
		}
		break;
	case WIRE_OP_END:
		set_digest(m, skip);
		break;
	case WIRE_OP_STATUS:
		set_text(m, "transfer", TID, skip);
		break;
	case WIRE_OP_WELCOME:
		set_uint(m, "version", WIRE_VERSION, skip);
		set_text(m, "user", "yamada.taro", skip);
		set_text(m, "dept", "somu", skip);
		if (opt) {
			set_text(m, "terminal", "lg-pc-0012", skip);
			if (skip == NULL || strcmp(skip, "roles") != 0)
				assert_int_equal(wire_msg_set_text_array(m,
				    "roles", roles, 3), 0);
		}
		set_uint(m, "max_chunk", WIRE_MAX_CHUNK, skip);
		set_uint(m, "max_size", UINT64_C(10) << 30, skip);
		break;
	case WIRE_OP_READY:
		set_text(m, "transfer", TID, skip);
		set_uint(m, "offset", 4194304, skip);
		break;
	case WIRE_OP_STORED:
		set_text(m, "transfer", TID, skip);
		set_uint(m, "size", 123456789, skip);
		set_digest(m, skip);
		break;
	case WIRE_OP_STATE:
		set_text(m, "transfer", TID, skip);
		set_text(m, "state", "held", skip);
		set_uint(m, "size", 123456789, skip);
		set_uint(m, "received", 123456789, skip);
		set_text(m, "interface", "kintone-somu", skip);
		set_uint(m, "class", 3, skip);
		set_text(m, "name", "report.pdf", skip);
		set_text(m, "created", "2026-11-22T01:20:23Z", skip);
		set_text(m, "updated", "2026-11-22T01:21:00Z", skip);
		if (opt) {
			set_digest(m, skip);
			set_text(m, "error", "upstream 503", skip);
		}
		break;
	case WIRE_OP_ERROR:
		set_text(m, "code", "denied", skip);
		set_text(m, "message", "class 3 never leaves through α'", skip);
		if (opt) {
			set_text(m, "field", "class", skip);
			set_text(m, "rule", "forbid.class3", skip);
			set_text(m, "reason", "absolute_forbid", skip);
			set_text(m, "transfer", TID, skip);
			set_uint(m, "retry_after", 30, skip);
		}
		break;
	default:
		fail();
	}
}

static void
assert_msg_equal(const struct wire_msg *a, const struct wire_msg *b)
{
	const struct wire_value *x, *y;
	size_t i, j;

	assert_int_equal(a->op, b->op);
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->nfields, b->nfields);
	for (i = 0; i < a->nfields; i++) {
		assert_string_equal(a->fields[i].key, b->fields[i].key);
		x = &a->fields[i].v;
		y = &b->fields[i].v;
		assert_int_equal(x->type, y->type);
		assert_int_equal(x->len, y->len);
		switch (x->type) {
		case WIRE_T_UINT:
		case WIRE_T_BOOL:
			assert_int_equal(x->u, y->u);
			break;
		case WIRE_T_TEXT:
			assert_string_equal(x->text, y->text);
			break;
		case WIRE_T_BYTES:
			assert_memory_equal(x->bytes, y->bytes, x->len);
			break;
		case WIRE_T_TEXT_ARRAY:
			for (j = 0; j < x->len; j++)
				assert_string_equal(x->array[j], y->array[j]);
			break;
		default:
			fail();
		}
	}
}

static void
encode_ok(const struct wire_msg *m, uint8_t **out, size_t *outlen)
{
	struct wire_error e;

	if (wire_encode(m, out, outlen, &e) != 0)
		fail_msg("encode: %s %s: %s", e.code, e.field, e.message);
}

/* Decodes buf[0..n) from a guarded copy, expecting exactly one control
 * message of n bytes. */
static void
decode_ok(const uint8_t *buf, size_t n, struct wire_msg *m)
{
	struct guarded g;
	struct wire_error e;
	uint64_t dl = 7;
	size_t used = 0;
	enum wire_item it;
	uint8_t *p = guard_copy(&g, buf, n);

	it = wire_decode(p, n, m, &dl, &used, &e);
	guard_free(&g);
	if (it != WIRE_CONTROL)
		fail_msg("decode: %d %s %s: %s", it, e.code, e.field, e.message);
	assert_int_equal(used, n);
}

static void
expect_error(const uint8_t *buf, size_t n, const char *code,
    const char *field)
{
	struct guarded g;
	struct wire_msg m;
	struct wire_error e;
	uint64_t dl;
	size_t used = 99;
	enum wire_item it;
	uint8_t *p = guard_copy(&g, buf, n);

	it = wire_decode(p, n, &m, &dl, &used, &e);
	guard_free(&g);
	if (it != WIRE_ERROR)
		fail_msg("expected %s, got item %d", code, it);
	assert_string_equal(e.code, code);
	if (field != NULL)
		assert_string_equal(e.field, field);
	assert_true(e.message[0] != '\0');
	assert_int_equal(used, 0);
	assert_int_equal(m.op, WIRE_OP_INVALID);
	assert_int_equal(m.nfields, 0);
}

static void
expect_cb_error(struct cb *c, const char *code, const char *field)
{
	expect_error(c->b, c->n, code, field);
}

/* {"op": op, "id": 1, <rest>} with npairs more pairs to follow. */
static void
t_start(struct cb *c, const char *op, size_t npairs)
{
	t_map(c, npairs + 2);
	t_text(c, "op");
	t_text(c, op);
	t_text(c, "id");
	t_uint(c, 1);
}

/* ------------------------------------------------------------------ tests */

/* A literal's bytes and length (without the terminating NUL). */
#define B(s) (s), sizeof(s) - 1

static const enum wire_op all_ops[] = {
	WIRE_OP_HELLO, WIRE_OP_PUT, WIRE_OP_END, WIRE_OP_STATUS,
	WIRE_OP_WELCOME, WIRE_OP_READY, WIRE_OP_STORED, WIRE_OP_STATE,
	WIRE_OP_ERROR,
};

static void
test_op_names(void **state)
{
	(void)state;
	assert_string_equal(wire_op_name(WIRE_OP_PUT), "put");
	assert_string_equal(wire_op_name(WIRE_OP_ERROR), "error");
	assert_null(wire_op_name(WIRE_OP_INVALID));
	assert_null(wire_op_name(WIRE_OP__COUNT));
	assert_null(wire_op_name((enum wire_op)1000));
}

static void
test_round_trip(void **state)
{
	struct wire_msg m, d, d2;
	uint8_t *out, *out2;
	size_t outlen, outlen2, i;
	int opt;

	(void)state;
	for (opt = 0; opt <= 1; opt++) {
		for (i = 0; i < sizeof(all_ops) / sizeof(all_ops[0]); i++) {
			fill(&m, all_ops[i], opt, NULL);
			encode_ok(&m, &out, &outlen);
			decode_ok(out, outlen, &d);
			assert_msg_equal(&m, &d);
			/* encoding is deterministic */
			encode_ok(&d, &out2, &outlen2);
			assert_int_equal(outlen, outlen2);
			assert_memory_equal(out, out2, outlen);
			free(out);
			free(out2);
			wire_msg_clear(&m);
			wire_msg_clear(&d);
		}
	}

	/* the key order of the map does not matter */
	{
		struct cb *c = cb_new();

		t_map(c, 3);
		t_text(c, "transfer");
		t_text(c, TID);
		t_text(c, "id");
		t_uint(c, 7);
		t_text(c, "op");
		t_text(c, "status");
		decode_ok(c->b, c->n, &d2);
		assert_int_equal(d2.op, WIRE_OP_STATUS);
		assert_int_equal(d2.id, 7);
		assert_string_equal(wire_msg_text(&d2, "transfer"), TID);
		wire_msg_clear(&d2);
		free(c);
	}
}

static void
test_lookups(void **state)
{
	struct wire_msg m, d;
	uint8_t *out;
	size_t outlen, len = 0;
	uint64_t u = 0;
	const struct wire_value *v;

	(void)state;
	fill(&m, WIRE_OP_WELCOME, true, NULL);
	encode_ok(&m, &out, &outlen);
	decode_ok(out, outlen, &d);
	free(out);
	assert_int_equal(d.id, 42);
	assert_string_equal(wire_msg_text(&d, "user"), "yamada.taro");
	assert_int_equal(wire_msg_uint(&d, "max_chunk", &u), 0);
	assert_int_equal(u, WIRE_MAX_CHUNK);
	assert_int_equal(wire_msg_uint(&d, "user", &u), -1);
	assert_null(wire_msg_text(&d, "max_chunk"));
	assert_null(wire_msg_text(&d, "nope"));
	assert_null(wire_msg_bytes(&d, "user", &len));
	v = wire_msg_get(&d, "roles");
	assert_non_null(v);
	assert_int_equal(v->type, WIRE_T_TEXT_ARRAY);
	assert_int_equal(v->len, 3);
	assert_string_equal(v->array[2], "監査人");
	wire_msg_clear(&d);
	wire_msg_clear(&m);
	assert_int_equal(m.nfields, 0);

	fill(&m, WIRE_OP_END, false, NULL);
	assert_memory_equal(wire_msg_bytes(&m, "sha256", &len), digest, 32);
	assert_int_equal(len, 32);
	wire_msg_clear(&m);
}

static void
test_setters_refuse(void **state)
{
	struct wire_msg m;
	const char *const big[WIRE_MAX_ARRAY + 1] = {
		"a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a",
		"a", "a", "a", "a", "a",
	};
	const char *const badtext[] = { "ok", "\xc0\x80" };

	(void)state;
	wire_msg_init(&m, WIRE_OP_PUT, 1);
	assert_int_equal(wire_msg_set_text(&m, "nope", "x"), -1);
	assert_int_equal(wire_msg_set_text(&m, "id", "x"), -1);
	assert_int_equal(wire_msg_set_uint(&m, "id", 1), -1);
	assert_int_equal(wire_msg_set_uint(&m, "op", 1), -1);
	assert_int_equal(wire_msg_set_uint(&m, "name", 1), -1);
	assert_int_equal(wire_msg_set_bool(&m, "class", 1), -1);
	assert_int_equal(wire_msg_set_uint(&m, "class", 0), -1);
	assert_int_equal(wire_msg_set_uint(&m, "class", 4), -1);
	assert_int_equal(wire_msg_set_text(&m, "name", "\xff"), -1);
	assert_int_equal(wire_msg_set_text(&m, "name", NULL), -1);
	assert_int_equal(m.nfields, 0);
	assert_int_equal(wire_msg_set_uint(&m, "class", 3), 0);
	assert_int_equal(wire_msg_set_uint(&m, "class", 1), -1);
	assert_int_equal(m.nfields, 1);
	wire_msg_clear(&m);

	wire_msg_init(&m, WIRE_OP_END, 1);
	assert_int_equal(wire_msg_set_bytes(&m, "sha256", digest, 31), -1);
	assert_int_equal(wire_msg_set_bytes(&m, "sha256", NULL, 32), -1);
	assert_int_equal(wire_msg_set_bytes(&m, "sha256", digest, 32), 0);
	wire_msg_clear(&m);

	wire_msg_init(&m, WIRE_OP_WELCOME, 1);
	assert_int_equal(wire_msg_set_text_array(&m, "roles", big,
	    WIRE_MAX_ARRAY + 1), -1);
	assert_int_equal(wire_msg_set_text_array(&m, "roles", badtext, 2), -1);
	assert_int_equal(wire_msg_set_text_array(&m, "roles", big,
	    WIRE_MAX_ARRAY), 0);
	wire_msg_clear(&m);

	wire_msg_init(&m, WIRE_OP_INVALID, 1);
	assert_int_equal(wire_msg_set_text(&m, "name", "x"), -1);
	wire_msg_init(&m, (enum wire_op)77, 1);
	assert_int_equal(wire_msg_set_text(&m, "name", "x"), -1);
}

static void
test_encode_refuses(void **state)
{
	struct wire_msg m;
	struct wire_error e;
	uint8_t *out = (uint8_t *)&m;
	size_t outlen = 5;

	(void)state;
	/* missing required fields */
	fill(&m, WIRE_OP_PUT, false, "purpose");
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "missing_field");
	assert_string_equal(e.field, "purpose");
	assert_null(out);
	assert_int_equal(outlen, 0);
	wire_msg_clear(&m);

	wire_msg_init(&m, WIRE_OP_INVALID, 1);
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "unknown_op");

	/* hand-built fields are checked as the decoder would */
	fill(&m, WIRE_OP_PUT, false, "class");
	raw_uint(&m, "class", 4);
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "bad_value");
	assert_string_equal(e.field, "class");
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_PUT, false, NULL);
	raw_uint(&m, "size", 4);
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "duplicate_field");
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_PUT, false, NULL);
	raw_uint(&m, "colour", 4);
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "unknown_field");
	assert_string_equal(e.field, "colour");
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_PUT, false, "name");
	raw_uint(&m, "name", 4);
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "bad_type");
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_PUT, false, "name");
	raw_text(&m, "name", 3, 'x');
	m.fields[m.nfields - 1].v.text[1] = '\xff';
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "bad_utf8");
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_END, false, "sha256");
	raw_bytes(&m, "sha256", 33);
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "bad_value");
	wire_msg_clear(&m);
}

static void
test_encode_error(void **state)
{
	struct wire_msg d;
	uint8_t *out;
	size_t outlen;
	char longmsg[2000];
	const char *s;
	size_t i;

	(void)state;
	assert_int_equal(wire_encode_error(9, "denied", "not allowed", "class",
	    &out, &outlen), 0);
	decode_ok(out, outlen, &d);
	free(out);
	assert_int_equal(d.op, WIRE_OP_ERROR);
	assert_int_equal(d.id, 9);
	assert_string_equal(wire_msg_text(&d, "code"), "denied");
	assert_string_equal(wire_msg_text(&d, "message"), "not allowed");
	assert_string_equal(wire_msg_text(&d, "field"), "class");
	wire_msg_clear(&d);

	/* an overlong message is cut at a character boundary: 3-byte "あ"
	 * repeated, so 512 is not a boundary (510 is) */
	for (i = 0; i + 3 < sizeof(longmsg); i += 3)
		memcpy(longmsg + i, "あ", 3);
	longmsg[i] = '\0';
	assert_int_equal(wire_encode_error(1, "malformed", longmsg, NULL,
	    &out, &outlen), 0);
	decode_ok(out, outlen, &d);
	free(out);
	s = wire_msg_text(&d, "message");
	assert_int_equal(strlen(s), 510);
	assert_null(wire_msg_text(&d, "field"));
	wire_msg_clear(&d);

	/* a field that cannot be sent is dropped, not the error */
	assert_int_equal(wire_encode_error(1, "malformed", "x",
	    "a-field-name-that-is-much-too-long-to-send", &out, &outlen), 0);
	decode_ok(out, outlen, &d);
	free(out);
	assert_null(wire_msg_text(&d, "field"));
	wire_msg_clear(&d);

	assert_int_equal(wire_encode_error(1,
	    "a-code-that-is-much-too-long-to-be-a-code", "x", NULL, &out,
	    &outlen), -1);
	assert_int_equal(wire_encode_error(1, NULL, "x", NULL, &out, &outlen),
	    -1);
}

/* Every text bound: at the bound accepted, one over refused by the setter,
 * by the encoder and by the decoder. */
static void
test_text_bounds(void **state)
{
	static const struct {
		enum wire_op op;
		const char *key;
		size_t max;
	} bounds[] = {
		{ WIRE_OP_HELLO, "software", WIRE_MAX_TEXT },
		{ WIRE_OP_PUT, "interface", 64 },
		{ WIRE_OP_PUT, "name", WIRE_MAX_NAME },
		{ WIRE_OP_PUT, "purpose", WIRE_MAX_PURPOSE },
		{ WIRE_OP_PUT, "resume", 64 },
		{ WIRE_OP_PUT, "otp", 16 },
		{ WIRE_OP_STATUS, "transfer", 64 },
		{ WIRE_OP_WELCOME, "user", WIRE_MAX_TEXT },
		{ WIRE_OP_WELCOME, "dept", WIRE_MAX_TEXT },
		{ WIRE_OP_WELCOME, "terminal", WIRE_MAX_TEXT },
		{ WIRE_OP_READY, "transfer", 64 },
		{ WIRE_OP_STORED, "transfer", 64 },
		{ WIRE_OP_STATE, "transfer", 64 },
		{ WIRE_OP_STATE, "state", WIRE_MAX_TEXT },
		{ WIRE_OP_STATE, "interface", 64 },
		{ WIRE_OP_STATE, "name", WIRE_MAX_NAME },
		{ WIRE_OP_STATE, "created", WIRE_MAX_TEXT },
		{ WIRE_OP_STATE, "updated", WIRE_MAX_TEXT },
		{ WIRE_OP_STATE, "error", WIRE_MAX_TEXT },
		{ WIRE_OP_ERROR, "code", 32 },
		{ WIRE_OP_ERROR, "message", 512 },
		{ WIRE_OP_ERROR, "field", 32 },
		{ WIRE_OP_ERROR, "rule", 80 },
		{ WIRE_OP_ERROR, "reason", 40 },
		{ WIRE_OP_ERROR, "transfer", 64 },
	};
	struct wire_msg m, d;
	struct wire_error e;
	struct cb *c;
	char *s;
	uint8_t *out;
	size_t outlen, i;

	(void)state;
	for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		s = malloc(bounds[i].max + 2);
		assert_non_null(s);
		memset(s, 'a', bounds[i].max + 1);
		s[bounds[i].max + 1] = '\0';

		/* one over: refused by the setter and the encoder */
		fill(&m, bounds[i].op, false, bounds[i].key);
		assert_int_equal(wire_msg_set_text(&m, bounds[i].key, s), -1);
		raw_text(&m, bounds[i].key, bounds[i].max + 1, 'a');
		assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
		assert_string_equal(e.code, "too_large");
		assert_string_equal(e.field, bounds[i].key);
		/* and by the decoder */
		c = cb_new();
		t_msg(c, wire_op_name(bounds[i].op), &m);
		expect_cb_error(c, "too_large", bounds[i].key);
		free(c);
		wire_msg_clear(&m);

		/* at the bound: accepted end to end */
		s[bounds[i].max] = '\0';
		fill(&m, bounds[i].op, false, bounds[i].key);
		assert_int_equal(wire_msg_set_text(&m, bounds[i].key, s), 0);
		encode_ok(&m, &out, &outlen);
		decode_ok(out, outlen, &d);
		assert_int_equal(strlen(wire_msg_text(&d, bounds[i].key)),
		    bounds[i].max);
		free(out);
		wire_msg_clear(&m);
		wire_msg_clear(&d);
		free(s);
	}
}

/* The page bound of the list requests, and the new messages round trip
 * through the codec. */
static void
test_own_views(void **state)
{
	static const char *const ops[] = { "interfaces_ls", "transfers_ls" };
	static const char *const classes[] = { "1", "2" };
	static const char *const exts[] = { "csv", "pdf" };
	struct wire_msg m, d;
	uint8_t *out;
	size_t outlen, i;
	struct cb *c;

	(void)state;
	for (i = 0; i < 2; i++) {
		c = cb_new();
		t_start(c, ops[i], 1);
		t_text(c, "limit"); t_uint(c, WIRE_MAX_PAGE);
		decode_ok(c->b, c->n, &d);
		wire_msg_clear(&d);
		free(c);
		c = cb_new();
		t_start(c, ops[i], 1);
		t_text(c, "limit"); t_uint(c, WIRE_MAX_PAGE + 1);
		expect_error(c->b, c->n, "bad_value", "limit");
		free(c);
		c = cb_new();
		t_start(c, ops[i], 1);
		t_text(c, "limit"); t_uint(c, 0);
		expect_error(c->b, c->n, "bad_value", "limit");
		free(c);
	}
	wire_msg_init(&m, WIRE_OP_INTERFACE, 7);
	assert_int_equal(wire_msg_set_text(&m, "interface", "IF-A"), 0);
	assert_int_equal(wire_msg_set_text(&m, "title", "月次報告"), 0);
	assert_int_equal(wire_msg_set_text_array(&m, "classes", classes, 2),
	    0);
	assert_int_equal(wire_msg_set_text_array(&m, "extensions", exts, 2),
	    0);
	assert_int_equal(wire_msg_set_bool(&m, "approval", 1), 0);
	assert_int_equal(wire_msg_set_uint(&m, "approvals_required", 2), 0);
	assert_int_equal(wire_msg_set_bool(&m, "stepup", 0), 0);
	encode_ok(&m, &out, &outlen);
	decode_ok(out, outlen, &d);
	assert_msg_equal(&m, &d);
	free(out);
	wire_msg_clear(&d);
	wire_msg_clear(&m);

	wire_msg_init(&m, WIRE_OP_FILE, 8);
	assert_int_equal(wire_msg_set_text(&m, "transfer", TID), 0);
	assert_int_equal(wire_msg_set_text(&m, "name", "a/申請書.pdf"), 0);
	assert_int_equal(wire_msg_set_uint(&m, "size", 5), 0);
	assert_int_equal(wire_msg_set_bytes(&m, "sha256", digest, 32), 0);
	/* The longest type held files are offered with (pptx). */
	assert_int_equal(wire_msg_set_text(&m, "content_type",
	    "application/vnd.openxmlformats-officedocument.presentationml."
	    "presentation"), 0);
	/* The head is incomplete without the saved name. */
	assert_int_equal(wire_encode(&m, &out, &outlen, NULL) == 0, 0);
	assert_int_equal(wire_msg_set_text(&m, "filename", "申請書.pdf"), 0);
	encode_ok(&m, &out, &outlen);
	decode_ok(out, outlen, &d);
	assert_msg_equal(&m, &d);
	free(out);
	wire_msg_clear(&d);
	wire_msg_clear(&m);
	assert_int_equal(wire_op_from_client(WIRE_OP_WITHDRAW), 1);
	assert_int_equal(wire_op_from_client(WIRE_OP_HELD_OPEN), 1);
	assert_int_equal(wire_op_from_client(WIRE_OP_FILE_DONE), 0);
	assert_string_equal(wire_op_name(WIRE_OP_FILE_DONE), "file_done");
}

static void
test_array_bounds(void **state)
{
	char item[WIRE_MAX_TEXT + 2];
	const char *items[WIRE_MAX_ARRAY + 1];
	struct wire_msg d;
	struct cb *c;
	size_t i;

	(void)state;
	memset(item, 'r', sizeof(item) - 1);
	item[sizeof(item) - 1] = '\0';
	for (i = 0; i <= WIRE_MAX_ARRAY; i++)
		items[i] = "role";

	/* WIRE_MAX_ARRAY items accepted, one more refused */
	c = cb_new();
	t_start(c, "welcome", 6);
	t_text(c, "version"); t_uint(c, 1);
	t_text(c, "user"); t_text(c, "u");
	t_text(c, "dept"); t_text(c, "d");
	t_text(c, "max_chunk"); t_uint(c, 1);
	t_text(c, "roles"); t_array(c, WIRE_MAX_ARRAY);
	for (i = 0; i < WIRE_MAX_ARRAY; i++)
		t_text(c, items[i]);
	t_text(c, "max_size"); t_uint(c, 1);
	decode_ok(c->b, c->n, &d);
	assert_int_equal(wire_msg_get(&d, "roles")->len, WIRE_MAX_ARRAY);
	wire_msg_clear(&d);
	free(c);

	c = cb_new();
	t_start(c, "welcome", 4);
	t_text(c, "version"); t_uint(c, 1);
	t_text(c, "user"); t_text(c, "u");
	t_text(c, "dept"); t_text(c, "d");
	t_text(c, "roles"); t_array(c, WIRE_MAX_ARRAY + 1);
	for (i = 0; i <= WIRE_MAX_ARRAY; i++)
		t_text(c, items[i]);
	expect_cb_error(c, "too_large", "roles");
	free(c);

	/* each item has its text bound */
	for (i = WIRE_MAX_TEXT; i <= WIRE_MAX_TEXT + 1; i++) {
		c = cb_new();
		t_start(c, "welcome", 6);
		t_text(c, "version"); t_uint(c, 1);
		t_text(c, "user"); t_text(c, "u");
		t_text(c, "dept"); t_text(c, "d");
		t_text(c, "roles"); t_array(c, 2);
		t_text(c, "staff");
		t_textn(c, item, i);
		t_text(c, "max_chunk"); t_uint(c, 1);
		t_text(c, "max_size"); t_uint(c, 1);
		if (i == WIRE_MAX_TEXT) {
			decode_ok(c->b, c->n, &d);
			wire_msg_clear(&d);
		} else
			expect_cb_error(c, "too_large", "roles");
		free(c);
	}

	/* an empty array is an array */
	c = cb_new();
	t_start(c, "welcome", 6);
	t_text(c, "version"); t_uint(c, 1);
	t_text(c, "user"); t_text(c, "u");
	t_text(c, "dept"); t_text(c, "d");
	t_text(c, "roles"); t_array(c, 0);
	t_text(c, "max_chunk"); t_uint(c, 1);
	t_text(c, "max_size"); t_uint(c, 1);
	decode_ok(c->b, c->n, &d);
	assert_int_equal(wire_msg_get(&d, "roles")->len, 0);
	wire_msg_clear(&d);
	free(c);

	/* items must be text */
	c = cb_new();
	t_start(c, "welcome", 4);
	t_text(c, "version"); t_uint(c, 1);
	t_text(c, "user"); t_text(c, "u");
	t_text(c, "dept"); t_text(c, "d");
	t_text(c, "roles"); t_array(c, 2); t_text(c, "a"); t_uint(c, 3);
	expect_cb_error(c, "bad_type", "roles");
	free(c);
}

static void
test_depth(void **state)
{
	struct cb *c;

	(void)state;
	/* depth 2 (map + array) is exercised by the round trips; 3 is
	 * refused, whichever containers make it */
	c = cb_new();
	t_start(c, "welcome", 1);
	t_text(c, "roles"); t_array(c, 1); t_array(c, 1); t_text(c, "x");
	expect_cb_error(c, "too_deep", "roles");
	free(c);

	c = cb_new();
	t_start(c, "welcome", 1);
	t_text(c, "roles"); t_array(c, 1); t_map(c, 0);
	expect_cb_error(c, "too_deep", "roles");
	free(c);

	/* a declared-huge inner array is refused for its depth, unread */
	c = cb_new();
	t_start(c, "welcome", 1);
	t_text(c, "roles"); t_array(c, 1);
	t_raw(c, "\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 9);
	expect_cb_error(c, "too_deep", "roles");
	free(c);

	/* a map at depth 2 is within depth, but no field is a map */
	c = cb_new();
	t_start(c, "hello", 2);
	t_text(c, "version"); t_uint(c, 1);
	t_text(c, "software"); t_map(c, 1); t_text(c, "k"); t_uint(c, 1);
	expect_cb_error(c, "bad_type", "software");
	free(c);
}

static void
test_pairs(void **state)
{
	struct cb *c;
	char key[8];
	size_t i;

	(void)state;
	/* WIRE_MAX_FIELDS pairs pass the size check (and then fail the
	 * schema, since no op has that many fields) */
	c = cb_new();
	t_start(c, "hello", WIRE_MAX_FIELDS - 2);
	for (i = 0; i < WIRE_MAX_FIELDS - 2; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		t_text(c, key);
		t_uint(c, i);
	}
	expect_cb_error(c, "unknown_field", "k0");
	free(c);

	c = cb_new();
	t_start(c, "hello", WIRE_MAX_FIELDS - 1);
	for (i = 0; i < WIRE_MAX_FIELDS - 1; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		t_text(c, key);
		t_uint(c, i);
	}
	expect_cb_error(c, "too_large", NULL);
	free(c);

	/* nested maps have the same bound */
	c = cb_new();
	t_start(c, "hello", 1);
	t_text(c, "software"); t_map(c, WIRE_MAX_FIELDS + 1);
	expect_cb_error(c, "too_large", "software");
	free(c);
}

/* Hostile declared counts and lengths are refused from their head alone,
 * before anything is allocated. */
static void
test_hostile_counts(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *code;
	} cases[] = {
		/* map of 2^32 pairs, then 3 bytes */
		{ B("\xbb\x00\x00\x00\x01\x00\x00\x00\x00\x62op"), "too_large" },
		{ B("\xba\xff\xff\xff\xff\x62op"), "too_large" },
		{ B("\xbb\xff\xff\xff\xff\xff\xff\xff\xff\x62op"), "too_large" },
		/* {"op": text of 2^63 bytes */
		{ B("\xa1\x62op\x7b\x80\x00\x00\x00\x00\x00\x00\x00xyz"),
		    "too_large" },
		/* {"op": text of 2^64-1 bytes (would wrap a size_t sum) */
		{ B("\xa1\x62op\x7b\xff\xff\xff\xff\xff\xff\xff\xffxyz"),
		    "too_large" },
		/* {"op": text one byte longer than a message may be */
		{ B("\xa1\x62op\x79\x40\x00xyz"), "too_large" },
		/* {"roles": array of 2^40 items */
		{ B("\xa1\x65roles\x9b\x00\x00\x01\x00\x00\x00\x00\x00\x61x"),
		    "too_large" },
		/* {"sha256": bytes of 2^32 */
		{ B("\xa1\x66sha256\x5a\xff\xff\xff\xffxyz"), "too_large" },
	};
	struct wire_msg m;
	struct wire_error e;
	uint64_t dl;
	size_t used, i;
	struct guarded g;
	uint8_t *p;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = guard_copy(&g, (const uint8_t *)cases[i].bytes,
		    cases[i].len);
		count_allocs(-1);
		assert_int_equal(wire_decode(p, cases[i].len, &m, &dl, &used,
		    &e), WIRE_ERROR);
		assert_int_equal(stop_counting(), 0);
		assert_string_equal(e.code, cases[i].code);
		guard_free(&g);
	}

	/* an incomplete head is just incomplete */
	p = guard_copy(&g, (const uint8_t *)"\xbb\x00\x00", 3);
	assert_int_equal(wire_decode(p, 3, &m, &dl, &used, &e),
	    WIRE_NEED_MORE);
	guard_free(&g);
}

static void
test_control_size(void **state)
{
	struct wire_msg m, d;
	struct wire_error e;
	const char *items[WIRE_MAX_ARRAY];
	char *role[WIRE_MAX_ARRAY];
	size_t lens[WIRE_MAX_ARRAY];
	uint8_t *out, *over;
	size_t outlen, i, j, tail;
	long delta;
	struct guarded g;
	uint8_t *p;
	uint64_t dl;
	size_t used;
	struct cb *c;

	(void)state;
	/* A welcome of exactly WIRE_MAX_CONTROL bytes: sixteen long roles,
	 * grown until the message hits the bound. */
	for (i = 0; i < WIRE_MAX_ARRAY; i++) {
		role[i] = malloc(WIRE_MAX_TEXT + 1);
		assert_non_null(role[i]);
		lens[i] = 900;
	}
	for (j = 0; j < 4; j++) {
		for (i = 0; i < WIRE_MAX_ARRAY; i++) {
			memset(role[i], 'a' + (int)i, lens[i]);
			role[i][lens[i]] = '\0';
			items[i] = role[i];
		}
		fill(&m, WIRE_OP_WELCOME, false, NULL);
		assert_int_equal(wire_msg_set_text_array(&m, "roles", items,
		    WIRE_MAX_ARRAY), 0);
		if (wire_encode(&m, &out, &outlen, &e) == 0)
			free(out);
		else
			outlen = 0;	/* cannot happen with these sizes */
		wire_msg_clear(&m);
		delta = (long)WIRE_MAX_CONTROL - (long)outlen;
		for (i = 0; i < WIRE_MAX_ARRAY && delta > 0; i++) {
			tail = WIRE_MAX_TEXT - lens[i];
			if ((long)tail > delta)
				tail = (size_t)delta;
			lens[i] += tail;
			delta -= (long)tail;
		}
		if (delta == 0 && outlen == WIRE_MAX_CONTROL)
			break;
	}
	fill(&m, WIRE_OP_WELCOME, false, NULL);
	assert_int_equal(wire_msg_set_text_array(&m, "roles", items,
	    WIRE_MAX_ARRAY), 0);
	encode_ok(&m, &out, &outlen);
	assert_int_equal(outlen, WIRE_MAX_CONTROL);
	decode_ok(out, outlen, &d);
	assert_msg_equal(&m, &d);
	wire_msg_clear(&d);

	/* trailing bytes of the next item are left alone */
	over = malloc(outlen + 100);
	assert_non_null(over);
	memcpy(over, out, outlen);
	memset(over + outlen, 0xa1, 100);
	assert_int_equal(wire_decode(over, outlen + 100, &d, &dl, &used, &e),
	    WIRE_CONTROL);
	assert_int_equal(used, WIRE_MAX_CONTROL);
	wire_msg_clear(&d);

	/* one byte more: the last role grows by one (its head keeps its
	 * size); the encoder refuses, the decoder too */
	assert_int_equal(wire_msg_get(&m, "roles")->array[15][0], 'p');
	memcpy(over, out, outlen);
	tail = lens[WIRE_MAX_ARRAY - 1];
	assert_int_equal(over[outlen - tail - 3], 0x79);
	over[outlen - tail - 2] = (uint8_t)((tail + 1) >> 8);
	over[outlen - tail - 1] = (uint8_t)((tail + 1) & 0xff);
	over[outlen] = 'p';
	assert_true(tail < WIRE_MAX_TEXT);
	expect_error(over, outlen + 1, "too_large", "roles");
	/* the same with more input behind it */
	expect_error(over, outlen + 50, "too_large", "roles");
	free(over);
	wire_msg_clear(&m);
	role[WIRE_MAX_ARRAY - 1][tail] = 'p';
	role[WIRE_MAX_ARRAY - 1][tail + 1] = '\0';
	fill(&m, WIRE_OP_WELCOME, false, NULL);
	assert_int_equal(wire_msg_set_text_array(&m, "roles", items,
	    WIRE_MAX_ARRAY), 0);
	assert_int_equal(wire_encode(&m, &over, &outlen, &e), -1);
	assert_string_equal(e.code, "too_large");
	wire_msg_clear(&m);
	free(out);
	for (i = 0; i < WIRE_MAX_ARRAY; i++)
		free(role[i]);

	/* the encoder refuses to go over */
	fill(&m, WIRE_OP_WELCOME, false, NULL);
	for (i = 0; i < WIRE_MAX_ARRAY; i++) {
		role[i] = malloc(WIRE_MAX_TEXT + 1);
		memset(role[i], 'z', WIRE_MAX_TEXT);
		role[i][WIRE_MAX_TEXT] = '\0';
		items[i] = role[i];
	}
	assert_int_equal(wire_msg_set_text_array(&m, "roles", items,
	    WIRE_MAX_ARRAY), 0);
	assert_int_equal(wire_encode(&m, &out, &outlen, &e), -1);
	assert_string_equal(e.code, "too_large");
	assert_null(out);
	wire_msg_clear(&m);
	for (i = 0; i < WIRE_MAX_ARRAY; i++)
		free(role[i]);

	/* An item still incomplete at WIRE_MAX_CONTROL bytes is too large
	 * even when no declared length gives it away: an 8-byte uint whose
	 * head starts at the last byte of the budget. */
	c = cb_new();
	t_map(c, 2);
	t_text(c, "op");
	t_fill(c, WIRE_MAX_CONTROL - 11);	/* 3-byte head */
	t_text(c, "id");
	assert_int_equal(c->n, WIRE_MAX_CONTROL - 1);
	t_raw(c, "\x1b\x00\x00\x00\x00\x00\x00\x00\x01", 9);
	p = guard_copy(&g, c->b, WIRE_MAX_CONTROL - 1);
	assert_int_equal(wire_decode(p, WIRE_MAX_CONTROL - 1, &d, &dl, &used,
	    &e), WIRE_NEED_MORE);
	guard_free(&g);
	expect_error(c->b, WIRE_MAX_CONTROL, "too_large", NULL);
	expect_error(c->b, c->n, "too_large", NULL);

	/* and the decoder does not look past WIRE_MAX_CONTROL bytes even
	 * when told more are there (only that many are mapped here) */
	p = guard_copy(&g, c->b, WIRE_MAX_CONTROL);
	assert_int_equal(wire_decode(p, 1 << 20, &d, &dl, &used, &e),
	    WIRE_ERROR);
	assert_string_equal(e.code, "too_large");
	guard_free(&g);
	free(c);
}

static void
test_truncation(void **state)
{
	struct wire_msg m, d;
	struct wire_error e;
	struct guarded g;
	uint8_t *out, *p;
	uint64_t dl;
	size_t outlen, used, i, k;

	(void)state;
	for (i = 0; i < sizeof(all_ops) / sizeof(all_ops[0]); i++) {
		fill(&m, all_ops[i], true, NULL);
		encode_ok(&m, &out, &outlen);
		for (k = 0; k < outlen; k++) {
			p = guard_copy(&g, out, k);
			used = 99;
			assert_int_equal(wire_decode(p, k, &d, &dl, &used, &e),
			    WIRE_NEED_MORE);
			assert_int_equal(used, 0);
			assert_int_equal(d.nfields, 0);
			guard_free(&g);
		}
		decode_ok(out, outlen, &d);
		wire_msg_clear(&d);
		free(out);
		wire_msg_clear(&m);
	}
}

static void
test_data_heads(void **state)
{
	static const struct {
		uint64_t len;
		size_t hlen;
	} cases[] = {
		{ 0, 1 }, { 23, 1 }, { 24, 2 }, { 255, 2 }, { 256, 3 },
		{ 65535, 3 }, { 65536, 5 }, { WIRE_MAX_CHUNK, 5 },
	};
	struct wire_msg m;
	struct wire_error e;
	struct guarded g;
	uint8_t head[9], *p;
	uint64_t dl;
	size_t n, used, i, k;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = wire_encode_data_head(cases[i].len, head);
		assert_int_equal(n, cases[i].hlen);
		assert_int_equal(head[0] >> 5, 2);
		for (k = 0; k < n; k++) {
			p = guard_copy(&g, head, k);
			assert_int_equal(wire_decode(p, k, &m, &dl, &used, &e),
			    WIRE_NEED_MORE);
			guard_free(&g);
		}
		p = guard_copy(&g, head, n);
		assert_int_equal(wire_decode(p, n, &m, &dl, &used, &e),
		    WIRE_DATA);
		assert_int_equal(dl, cases[i].len);
		assert_int_equal(used, n);
		guard_free(&g);
	}
	assert_int_equal(wire_encode_data_head(WIRE_MAX_CHUNK + 1, head), 0);
	assert_int_equal(wire_encode_data_head(UINT64_MAX, head), 0);

	/* one over the bound; and huge, in an 8-byte head */
	expect_error((const uint8_t *)"\x5a\x00\x10\x00\x01", 5,
	    "chunk_too_large", NULL);
	expect_error((const uint8_t *)"\x5b\xff\xff\xff\xff\xff\xff\xff\xff",
	    9, "chunk_too_large", NULL);
	/* indefinite and reserved heads */
	expect_error((const uint8_t *)"\x5f\x41x\xff", 4, "malformed", NULL);
	expect_error((const uint8_t *)"\x5c", 1, "malformed", NULL);
	/* a non-minimal head is still a valid head */
	p = guard_copy(&g, (const uint8_t *)"\x5a\x00\x00\x00\x05", 5);
	assert_int_equal(wire_decode(p, 5, &m, &dl, &used, &e), WIRE_DATA);
	assert_int_equal(dl, 5);
	assert_int_equal(used, 5);
	guard_free(&g);
}

static void
test_profile(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *code;
		const char *field;
	} cases[] = {
		/* top level: neither map nor byte string */
		{ B("\x01"), "malformed", "" },
		{ B("\x61x"), "malformed", "" },
		{ B("\x81\x01"), "malformed", "" },
		{ B("\xf6"), "malformed", "" },
		{ B("\x1c"), "malformed", "" },
		/* indefinite map */
		{ B("\xbf\x62op\x65hello\xff"), "malformed", "" },
		/* {"op": "hello", "id": <x>} with x: */
		{ B("\xa2\x62op\x65hello\x62id\x20"), "malformed", "id" },
		{ B("\xa2\x62op\x65hello\x62id\x3b\0\0\0\0\0\0\0\1"),
		    "malformed", "id" },
		{ B("\xa2\x62op\x65hello\x62id\xf9\x3c\x00"), "malformed",
		    "id" },
		{ B("\xa2\x62op\x65hello\x62id\xfa\x3f\x80\x00\x00"),
		    "malformed", "id" },
		{ B("\xa2\x62op\x65hello\x62id\xfb\x3f\xf0\0\0\0\0\0\0"),
		    "malformed", "id" },
		{ B("\xa2\x62op\x65hello\x62id\xc1\x01"), "malformed", "id" },
		{ B("\xa2\x62op\x65hello\x62id\xd8\x20\x01"), "malformed",
		    "id" },
		{ B("\xa2\x62op\x65hello\x62id\xf6"), "malformed", "id" },
		{ B("\xa2\x62op\x65hello\x62id\xf7"), "malformed", "id" },
		{ B("\xa2\x62op\x65hello\x62id\xe0"), "malformed", NULL },
		{ B("\xa2\x62op\x65hello\x62id\xf8\x20"), "malformed", NULL },
		{ B("\xa2\x62op\x65hello\x62id\xff"), "malformed", NULL },
		{ B("\xa2\x62op\x65hello\x62id\x1f"), "malformed", NULL },
		/* indefinite text, bytes, array as values */
		{ B("\xa2\x62op\x7f\x65hello\xff\x62id\x01"), "malformed",
		    "op" },
		{ B("\xa2\x62op\x65hello\x62id\x5f\x41x\xff"), "malformed",
		    "id" },
		{ B("\xa2\x62op\x65hello\x62id\x9f\x01\xff"), "malformed",
		    "id" },
		/* non-text keys */
		{ B("\xa2\x62op\x65hello\x01\x01"), "malformed", "" },
		{ B("\xa2\x62op\x65hello\x42id\x01"), "malformed", "" },
		{ B("\xa2\x62op\x65hello\x81\x01\x01"), "malformed", "" },
		{ B("\xa2\x62op\x65hello\xa0\x01"), "malformed", "" },
		{ B("\xa2\x62op\x65hello\xf5\x01"), "malformed", "" },
		/* a key of a nested map must be text too */
		{ B("\xa3\x62op\x65hello\x62id\x01\x68software\xa1\x01\x01"),
		    "malformed", NULL },
		/* duplicates */
		{ B("\xa3\x62op\x65hello\x62id\x01\x62id\x02"),
		    "duplicate_field", "id" },
		{ B("\xa3\x62op\x65hello\x62id\x01\x62op\x65hello"),
		    "duplicate_field", "op" },
		/* op and id */
		{ B("\xa0"), "missing_field", "op" },
		{ B("\xa1\x62id\x01"), "missing_field", "op" },
		{ B("\xa1\x62op\x66status"), "missing_field", "id" },
		{ B("\xa2\x62op\x01\x62id\x01"), "bad_type", "op" },
		{ B("\xa2\x62op\x66" "delete\x62id\x01"), "unknown_op", "op" },
		{ B("\xa2\x62op\x65HELLO\x62id\x01"), "unknown_op", "op" },
		{ B("\xa2\x62op\x65hello\x62id\x61x"), "bad_type", "id" },
		{ B("\xa2\x62op\x65hello\x62id\xf5"), "bad_type", "id" },
		/* bad UTF-8 and NUL, in values and keys */
		{ B("\xa2\x62op\x65hel\xc0\x80\x62id\x01"), "bad_utf8", "op" },
		{ B("\xa2\x62op\x65he\xed\xa0\x80\x62id\x01"), "bad_utf8",
		    "op" },
		{ B("\xa2\x62op\x65hell\xff\x62id\x01"), "bad_utf8", "op" },
		{ B("\xa2\x62op\x65hell\xe3\x62id\x01"), "bad_utf8", "op" },
		{ B("\xa2\x62op\x65h\xf4\x90\x80\x80\x62id\x01"), "bad_utf8",
		    "op" },
		{ B("\xa2\x62op\x65hel\0o\x62id\x01"), "bad_utf8", "op" },
		{ B("\xa2\x62op\x65hello\x62i\0\x01"), "bad_utf8", "i?" },
		{ B("\xa2\x62op\x65hello\x62i\xff\x01"), "bad_utf8", "i?" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("profile case %zu\n", i);
		expect_error((const uint8_t *)cases[i].bytes, cases[i].len,
		    cases[i].code, cases[i].field);
	}
}

static void
test_schema(void **state)
{
	struct wire_msg m, d;
	struct cb *c;
	uint64_t cls;

	(void)state;
	/* unknown key, wrong type, missing required key */
	fill(&m, WIRE_OP_PUT, false, NULL);
	raw_uint(&m, "colour", 1);
	c = cb_new();
	t_msg(c, "put", &m);
	expect_cb_error(c, "unknown_field", "colour");
	free(c);
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_PUT, false, "size");
	raw_text(&m, "size", 3, '1');
	c = cb_new();
	t_msg(c, "put", &m);
	expect_cb_error(c, "bad_type", "size");
	free(c);
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_PUT, false, "name");
	raw_bytes(&m, "name", 3);
	c = cb_new();
	t_msg(c, "put", &m);
	expect_cb_error(c, "bad_type", "name");
	free(c);
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_PUT, false, "purpose");
	c = cb_new();
	t_msg(c, "put", &m);
	expect_cb_error(c, "missing_field", "purpose");
	free(c);
	wire_msg_clear(&m);

	/* a key of one op is unknown to another */
	fill(&m, WIRE_OP_STATUS, false, NULL);
	raw_uint(&m, "offset", 1);
	c = cb_new();
	t_msg(c, "status", &m);
	expect_cb_error(c, "unknown_field", "offset");
	free(c);
	wire_msg_clear(&m);

	/* class 0 and 4 refused, 1 and 3 accepted, in put and state */
	for (cls = 0; cls <= 4; cls++) {
		fill(&m, WIRE_OP_PUT, false, "class");
		raw_uint(&m, "class", cls);
		c = cb_new();
		t_msg(c, "put", &m);
		if (cls == 0 || cls == 4)
			expect_cb_error(c, "bad_value", "class");
		else {
			decode_ok(c->b, c->n, &d);
			wire_msg_clear(&d);
		}
		free(c);
		wire_msg_clear(&m);
	}
	fill(&m, WIRE_OP_STATE, false, "class");
	raw_uint(&m, "class", 4);
	c = cb_new();
	t_msg(c, "state", &m);
	expect_cb_error(c, "bad_value", "class");
	free(c);
	wire_msg_clear(&m);

	/* sha256 of 31 and 33 bytes, and not bytes at all */
	fill(&m, WIRE_OP_END, false, "sha256");
	raw_bytes(&m, "sha256", 31);
	c = cb_new();
	t_msg(c, "end", &m);
	expect_cb_error(c, "bad_value", "sha256");
	free(c);
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_STORED, false, "sha256");
	raw_bytes(&m, "sha256", 33);
	c = cb_new();
	t_msg(c, "stored", &m);
	expect_cb_error(c, "bad_value", "sha256");
	free(c);
	wire_msg_clear(&m);

	fill(&m, WIRE_OP_END, false, "sha256");
	raw_text(&m, "sha256", 32, 'a');
	c = cb_new();
	t_msg(c, "end", &m);
	expect_cb_error(c, "bad_type", "sha256");
	free(c);
	wire_msg_clear(&m);

	/* peer-chosen keys come back printable and short */
	c = cb_new();
	t_start(c, "hello", 1);
	t_text(c, "\x1b[31mred\x1b[0m-and-a-very-long-key-name-indeed");
	t_uint(c, 1);
	{
		struct wire_error e;
		uint64_t dl;
		size_t used;

		assert_int_equal(wire_decode(c->b, c->n, &d, &dl, &used, &e),
		    WIRE_ERROR);
		assert_string_equal(e.code, "unknown_field");
		assert_string_equal(e.field, "?[31mred?[0m-and-a-very-long-ke");
	}
	free(c);
}

static void
test_sequence(void **state)
{
	struct wire_msg a, b, d;
	struct wire_error e;
	uint8_t *m1, *m2, *m3, stream[4096], head[9];
	size_t l1, l2, l3, hl, n = 0, pos = 0, used;
	uint64_t dl;

	(void)state;
	fill(&a, WIRE_OP_HELLO, false, NULL);
	fill(&b, WIRE_OP_PUT, true, NULL);
	encode_ok(&a, &m1, &l1);
	encode_ok(&b, &m2, &l2);
	wire_msg_clear(&b);
	fill(&b, WIRE_OP_END, false, NULL);
	encode_ok(&b, &m3, &l3);
	hl = wire_encode_data_head(5, head);

	memcpy(stream + n, m1, l1); n += l1;
	memcpy(stream + n, m2, l2); n += l2;
	memcpy(stream + n, head, hl); n += hl;
	memcpy(stream + n, "\xa1\x62op\x00", 5); n += 5;	/* payload */
	memcpy(stream + n, m3, l3); n += l3;

	assert_int_equal(wire_decode(stream + pos, n - pos, &d, &dl, &used,
	    &e), WIRE_CONTROL);
	assert_int_equal(used, l1);
	assert_int_equal(d.op, WIRE_OP_HELLO);
	wire_msg_clear(&d);
	pos += used;
	assert_int_equal(wire_decode(stream + pos, n - pos, &d, &dl, &used,
	    &e), WIRE_CONTROL);
	assert_int_equal(used, l2);
	assert_int_equal(d.op, WIRE_OP_PUT);
	wire_msg_clear(&d);
	pos += used;
	assert_int_equal(wire_decode(stream + pos, n - pos, &d, &dl, &used,
	    &e), WIRE_DATA);
	assert_int_equal(used, 1);
	assert_int_equal(dl, 5);
	/* the payload is the caller's: only part of it need be there */
	assert_int_equal(wire_decode(stream + pos, 1, &d, &dl, &used, &e),
	    WIRE_DATA);
	pos += used + dl;
	assert_int_equal(wire_decode(stream + pos, n - pos, &d, &dl, &used,
	    &e), WIRE_CONTROL);
	assert_int_equal(used, l3);
	assert_int_equal(d.op, WIRE_OP_END);
	assert_msg_equal(&b, &d);
	wire_msg_clear(&d);
	pos += used;
	assert_int_equal(pos, n);
	assert_int_equal(wire_decode(stream + pos, 0, &d, &dl, &used, &e),
	    WIRE_NEED_MORE);

	wire_msg_clear(&a);
	wire_msg_clear(&b);
	free(m1);
	free(m2);
	free(m3);
}

/* Every allocation the codec makes can fail: it reports no_memory (or -1),
 * leaks nothing (the sanitizer build checks) and leaves msg empty. */
static void
test_alloc_failure(void **state)
{
	struct wire_msg m, d;
	struct wire_error e;
	uint8_t *out;
	size_t outlen, used;
	uint64_t dl;
	enum wire_item it;
	long i, calls;
	int rc;

	(void)state;
	fill(&m, WIRE_OP_WELCOME, true, NULL);
	encode_ok(&m, &out, &outlen);
	for (i = 0;; i++) {
		count_allocs(i);
		it = wire_decode(out, outlen, &d, &dl, &used, &e);
		calls = stop_counting();
		if (it == WIRE_CONTROL) {
			assert_true(calls <= i);
			assert_msg_equal(&m, &d);
			wire_msg_clear(&d);
			break;
		}
		assert_int_equal(it, WIRE_ERROR);
		assert_string_equal(e.code, "no_memory");
		assert_int_equal(d.nfields, 0);
	}
	assert_true(i > 3);
	free(out);

	for (i = 0;; i++) {
		count_allocs(i);
		rc = wire_encode(&m, &out, &outlen, &e);
		calls = stop_counting();
		if (rc == 0 && calls <= i) {
			free(out);
			break;
		}
		if (rc == 0)
			free(out);	/* only the shrinking realloc failed */
		else
			assert_string_equal(e.code, "no_memory");
	}
	wire_msg_clear(&m);

	for (i = 0;; i++) {
		wire_msg_init(&m, WIRE_OP_WELCOME, 1);
		count_allocs(i);
		rc = wire_msg_set_text_array(&m, "roles", roles, 3);
		calls = stop_counting();
		if (rc == 0) {
			wire_msg_clear(&m);
			break;
		}
		assert_int_equal(m.nfields, 0);
	}
	assert_int_equal(calls, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_op_names),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_setters_refuse),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_encode_error),
		cmocka_unit_test(test_text_bounds),
		cmocka_unit_test(test_array_bounds),
		cmocka_unit_test(test_own_views),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_hostile_counts),
		cmocka_unit_test(test_control_size),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_data_heads),
		cmocka_unit_test(test_profile),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
