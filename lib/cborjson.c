/*
 * cborjson — see cborjson.h. A stack of open containers tells each callback
 * whether it is writing a map key, a map value or an array item, so commas
 * and colons land in the right places.
 */
#include "lib/cborjson.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cbor.h>

struct frame {
	int is_map;
	uint64_t left;		/* items (map: keys + values) still to come */
	uint64_t done;
};

struct ctx {
	char *buf;
	size_t len, cap;
	struct frame st[CBORJSON_MAX_DEPTH];
	int depth;
	int failed;
	const char *why;
	int top_done;
};

static void
fail(struct ctx *c, const char *why)
{
	if (!c->failed) {
		c->failed = 1;
		c->why = why;
	}
}

static void
put(struct ctx *c, const char *s, size_t n)
{
	if (c->failed)
		return;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		char *nb;

		while (cap < c->len + n + 1)
			cap *= 2;
		if ((nb = realloc(c->buf, cap)) == NULL) {
			fail(c, "out of memory");
			return;
		}
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, s, n);
	c->len += n;
	c->buf[c->len] = '\0';
}

static void
puts_(struct ctx *c, const char *s)
{
	put(c, s, strlen(s));
}

/* Called before every item: separators, and key-type checking. */
static void
begin_item(struct ctx *c, int is_text)
{
	struct frame *f;

	if (c->depth == 0) {
		if (c->top_done)
			fail(c, "more than one item");
		return;
	}
	f = &c->st[c->depth - 1];
	if (f->left == 0) {
		fail(c, "container overrun");
		return;
	}
	if (f->is_map) {
		int is_key = f->done % 2 == 0;

		if (is_key && !is_text)
			fail(c, "map key is not text");
		if (f->done > 0)
			puts_(c, is_key ? "," : ":");
	} else if (f->done > 0)
		puts_(c, ",");
}

/* Called after every complete item: closes finished containers. */
static void
end_item(struct ctx *c)
{
	while (c->depth > 0) {
		struct frame *f = &c->st[c->depth - 1];

		f->left--;
		f->done++;
		if (f->left > 0)
			return;
		puts_(c, f->is_map ? "}" : "]");
		c->depth--;
	}
	c->top_done = 1;
}

static void
open_container(struct ctx *c, size_t n, int is_map)
{
	begin_item(c, 0);
	if (c->depth >= CBORJSON_MAX_DEPTH) {
		fail(c, "nested too deeply");
		return;
	}
	if (is_map && n > SIZE_MAX / 2) {
		fail(c, "map too large");
		return;
	}
	puts_(c, is_map ? "{" : "[");
	if (n == 0) {
		puts_(c, is_map ? "}" : "]");
		end_item(c);
		return;
	}
	c->st[c->depth].is_map = is_map;
	c->st[c->depth].left = is_map ? (uint64_t)n * 2 : n;
	c->st[c->depth].done = 0;
	c->depth++;
}

static void
cb_uint(void *arg, uint64_t v)
{
	struct ctx *c = arg;
	char num[24];

	begin_item(c, 0);
	snprintf(num, sizeof(num), "%" PRIu64, v);
	puts_(c, num);
	end_item(c);
}

static void cb_u8(void *a, uint8_t v) { cb_uint(a, v); }
static void cb_u16(void *a, uint16_t v) { cb_uint(a, v); }
static void cb_u32(void *a, uint32_t v) { cb_uint(a, v); }

static void
cb_neg(void *arg, uint64_t v)
{
	struct ctx *c = arg;
	char num[24];

	begin_item(c, 0);
	if (v == UINT64_MAX)
		snprintf(num, sizeof(num), "-18446744073709551616");
	else
		snprintf(num, sizeof(num), "-%" PRIu64, v + 1);
	puts_(c, num);
	end_item(c);
}

static void cb_n8(void *a, uint8_t v) { cb_neg(a, v); }
static void cb_n16(void *a, uint16_t v) { cb_neg(a, v); }
static void cb_n32(void *a, uint32_t v) { cb_neg(a, v); }

static void
cb_bytes(void *arg, cbor_data d, size_t n)
{
	struct ctx *c = arg;
	char hex[3];
	size_t i;

	begin_item(c, 0);
	puts_(c, "\"");
	for (i = 0; i < n && !c->failed; i++) {
		util_hex(&d[i], 1, hex);
		put(c, hex, 2);
	}
	puts_(c, "\"");
	end_item(c);
}

/*
 * CBOR text must be UTF-8 (RFC 8949 3.1) and so must JSON (RFC 8259 8.1);
 * bytes passed through unchecked would make the whole line unreadable to a
 * JSON parser, so text that is not UTF-8 is refused like any malformed item.
 */
static int
utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp, min;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			len = 2;
			cp = p[i] & 0x1f;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = p[i] & 0x0f;
			min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			len = 4;
			cp = p[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static void
cb_text(void *arg, cbor_data d, size_t n)
{
	struct ctx *c = arg;
	size_t i;

	begin_item(c, 1);
	if (!utf8_valid(d, n)) {
		fail(c, "text is not valid UTF-8");
		return;
	}
	puts_(c, "\"");
	for (i = 0; i < n && !c->failed; i++) {
		unsigned char ch = d[i];
		char esc[8];

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			put(c, esc, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			puts_(c, esc);
		} else
			put(c, (const char *)&d[i], 1);
	}
	puts_(c, "\"");
	end_item(c);
}

static void
cb_array(void *arg, size_t n)
{
	open_container(arg, n, 0);
}

static void
cb_map(void *arg, size_t n)
{
	open_container(arg, n, 1);
}

static void
cb_bool(void *arg, bool v)
{
	struct ctx *c = arg;

	begin_item(c, 0);
	puts_(c, v ? "true" : "false");
	end_item(c);
}

static void
cb_null(void *arg)
{
	struct ctx *c = arg;

	begin_item(c, 0);
	puts_(c, "null");
	end_item(c);
}

static void cb_refuse(void *arg) { fail(arg, "unsupported CBOR item"); }
static void cb_refuse_s(void *a, cbor_data d, size_t n)
{ (void)d; (void)n; fail(a, "unsupported CBOR item"); }
static void cb_refuse_tag(void *a, uint64_t v)
{ (void)v; fail(a, "tags are not used in audit records"); }
static void cb_refuse_f(void *a, float v)
{ (void)v; fail(a, "floats are not used in audit records"); }
static void cb_refuse_d(void *a, double v)
{ (void)v; fail(a, "floats are not used in audit records"); }

int
cborjson_encode(const uint8_t *buf, size_t len, char **out, char *err,
    size_t errlen)
{
	struct cbor_callbacks cb;
	struct ctx c;
	size_t off = 0;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	memset(&cb, 0, sizeof(cb));
	cb.uint8 = cb_u8;
	cb.uint16 = cb_u16;
	cb.uint32 = cb_u32;
	cb.uint64 = cb_uint;
	cb.negint8 = cb_n8;
	cb.negint16 = cb_n16;
	cb.negint32 = cb_n32;
	cb.negint64 = cb_neg;
	cb.byte_string = cb_bytes;
	cb.string = cb_text;
	cb.array_start = cb_array;
	cb.map_start = cb_map;
	cb.boolean = cb_bool;
	cb.null = cb_null;
	cb.byte_string_start = cb_refuse;
	cb.string_start = cb_refuse;
	cb.indef_array_start = cb_refuse;
	cb.indef_map_start = cb_refuse;
	cb.indef_break = cb_refuse;
	cb.undefined = cb_refuse;
	cb.tag = cb_refuse_tag;
	cb.float2 = cb_refuse_f;
	cb.float4 = cb_refuse_f;
	cb.float8 = cb_refuse_d;
	(void)cb_refuse_s;

	while (off < len && !c.failed && !c.top_done) {
		struct cbor_decoder_result r;

		r = cbor_stream_decode(buf + off, len - off, &cb, &c);
		if (r.status != CBOR_DECODER_FINISHED) {
			fail(&c, r.status == CBOR_DECODER_NEDATA ?
			    "truncated item" : "malformed CBOR");
			break;
		}
		off += r.read;
	}
	if (!c.failed && (!c.top_done || off != len))
		fail(&c, c.top_done ? "trailing bytes after the item" :
		    "truncated item");
	if (c.failed) {
		free(c.buf);
		return util_err(err, errlen, "%s", c.why);
	}
	*out = c.buf;
	return 0;
}
