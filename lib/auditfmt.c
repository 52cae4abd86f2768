/*
 * auditfmt — see auditfmt.h and docs/audit.md.
 *
 * Records are delimited with libcbor's streaming decoder, which reports one
 * item head (or one whole definite string) per call and hands out pointers
 * into our buffer; nothing is allocated from a count in the input. Every
 * container count is checked against the bytes left in the window before
 * descending (each child takes at least one byte), so a hostile count costs
 * nothing. One walker serves both the lenient boundary check and the strict
 * decode; the strict mode only adds checks and captures.
 *
 * The verifier is built on one observation: the broker sends, besides the
 * records, their leaf hashes and a compact range proof (the subtree roots
 * left of the first record, and a consistency proof from the end of the
 * range to the signed tree size). If left + leaves + right lead to the
 * signed root, every leaf hash is authentic, and each record can be checked
 * against its own leaf: a changed record is named exactly. If the leaf
 * hashes themselves were tampered with, the records still must reproduce
 * the signed root, and the hash chain ("prev") names the first record that
 * breaks it.
 */
#include "lib/auditfmt.h"
#include "lib/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/evp.h>

/* ------------------------------------------------------------------ */
/* Streaming items */

enum walk_kind { K_NONE = 0, K_UINT, K_NEGINT, K_BYTES, K_TEXT, K_ARRAY,
	K_MAP, K_TAG, K_BOOL, K_SIMPLE, K_INDEF };

struct walk_item {
	enum walk_kind kind;
	uint64_t u;		/* K_UINT value, K_ARRAY/K_MAP count, K_BOOL */
	const uint8_t *data;	/* K_BYTES/K_TEXT, points into the window */
	size_t len;
};

#define ITEM(c) ((struct walk_item *)(c))

static void
w_uint8(void *c, uint8_t v)
{
	ITEM(c)->kind = K_UINT;
	ITEM(c)->u = v;
}

static void
w_uint16(void *c, uint16_t v)
{
	ITEM(c)->kind = K_UINT;
	ITEM(c)->u = v;
}

static void
w_uint32(void *c, uint32_t v)
{
	ITEM(c)->kind = K_UINT;
	ITEM(c)->u = v;
}

static void
w_uint64(void *c, uint64_t v)
{
	ITEM(c)->kind = K_UINT;
	ITEM(c)->u = v;
}

static void
w_neg8(void *c, uint8_t v)
{
	(void)v;
	ITEM(c)->kind = K_NEGINT;
}

static void
w_neg16(void *c, uint16_t v)
{
	(void)v;
	ITEM(c)->kind = K_NEGINT;
}

static void
w_neg32(void *c, uint32_t v)
{
	(void)v;
	ITEM(c)->kind = K_NEGINT;
}

static void
w_neg64(void *c, uint64_t v)
{
	(void)v;
	ITEM(c)->kind = K_NEGINT;
}

static void
w_bytes(void *c, cbor_data data, uint64_t len)
{
	ITEM(c)->kind = K_BYTES;
	ITEM(c)->data = data;
	ITEM(c)->len = (size_t)len;
}

static void
w_text(void *c, cbor_data data, uint64_t len)
{
	ITEM(c)->kind = K_TEXT;
	ITEM(c)->data = data;
	ITEM(c)->len = (size_t)len;
}

static void
w_array(void *c, uint64_t n)
{
	ITEM(c)->kind = K_ARRAY;
	ITEM(c)->u = n;
}

static void
w_map(void *c, uint64_t n)
{
	ITEM(c)->kind = K_MAP;
	ITEM(c)->u = n;
}

static void
w_tag(void *c, uint64_t v)
{
	(void)v;
	ITEM(c)->kind = K_TAG;
}

static void
w_float(void *c, float v)
{
	(void)v;
	ITEM(c)->kind = K_SIMPLE;
}

static void
w_double(void *c, double v)
{
	(void)v;
	ITEM(c)->kind = K_SIMPLE;
}

static void
w_bool(void *c, bool v)
{
	ITEM(c)->kind = K_BOOL;
	ITEM(c)->u = v ? 1 : 0;
}

static void
w_simple(void *c)
{
	ITEM(c)->kind = K_SIMPLE;
}

static void
w_indef(void *c)
{
	ITEM(c)->kind = K_INDEF;
}

static const struct cbor_callbacks walk_callbacks = {
	.uint8 = w_uint8,
	.uint16 = w_uint16,
	.uint32 = w_uint32,
	.uint64 = w_uint64,
	.negint8 = w_neg8,
	.negint16 = w_neg16,
	.negint32 = w_neg32,
	.negint64 = w_neg64,
	.byte_string = w_bytes,
	.byte_string_start = w_indef,
	.string = w_text,
	.string_start = w_indef,
	.array_start = w_array,
	.indef_array_start = w_indef,
	.map_start = w_map,
	.indef_map_start = w_indef,
	.tag = w_tag,
	.float2 = w_float,
	.float4 = w_float,
	.float8 = w_double,
	.undefined = w_simple,
	.null = w_simple,
	.boolean = w_bool,
	.indef_break = w_indef,
};

/* ------------------------------------------------------------------ */
/* The walker */

enum {
	F_SEQ = 1 << 0, F_TIME = 1 << 1, F_TYPE = 1 << 2, F_ACTOR = 1 << 3,
	F_SUBJECT = 1 << 4, F_DETAILS = 1 << 5, F_PREV = 1 << 6,
	F_REQUIRED = (1 << 7) - 1,
	F_CLOCK = 1 << 7
};

static const struct {
	const char *name;
	int flag;
	enum walk_kind kind;
} fields[] = {
	{ "seq", F_SEQ, K_UINT },
	{ "time", F_TIME, K_TEXT },
	{ "type", F_TYPE, K_TEXT },
	{ "actor", F_ACTOR, K_MAP },
	{ "subject", F_SUBJECT, K_MAP },
	{ "details", F_DETAILS, K_MAP },
	{ "prev", F_PREV, K_BYTES },
	{ "clock", F_CLOCK, K_TEXT },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static int
is_key(const struct walk_item *it, const char *name)
{
	return it->len == strlen(name) && memcmp(it->data, name, it->len) == 0;
}

/* 1 when p[0:len] is valid UTF-8 without NUL. */
static int
utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned int c = p[i], cp, min;
		size_t n, k;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			min = 0x10000;
		} else
			return 0;
		if (len - i < n)
			return 0;
		cp = c & (0x7fu >> n);
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

static void
set_text(struct auditfmt_text *t, const struct walk_item *it)
{
	t->p = (const char *)it->data;
	t->len = it->len;
}

/* Stores one pair of the actor, subject or details map into r (strict
 * mode). Returns NULL or why it is refused. */
static const char *
capture_nested(struct auditfmt_record *r, int flag,
    const struct walk_item *key, const struct walk_item *val)
{
	static const char *const actor[] = { "user", "dept", "terminal",
	    "cert_fp", "peer" };
	static const char *const subject[] = { "transfer", "interface",
	    "service" };
	struct auditfmt_text *actor_t[] = { &r->user, &r->dept, &r->terminal,
	    &r->cert_fp, &r->peer };
	struct auditfmt_text *subject_t[] = { &r->transfer, &r->interface,
	    &r->service };
	struct auditfmt_detail *d;
	size_t i;

	if (val->kind == K_TEXT && !utf8_valid(val->data, val->len))
		return "a value is not valid UTF-8 text";
	if (flag == F_ACTOR || flag == F_SUBJECT) {
		const char *const *names = flag == F_ACTOR ? actor : subject;
		struct auditfmt_text **dst = flag == F_ACTOR ? actor_t :
		    subject_t;
		size_t n = flag == F_ACTOR ? 5 : 3;

		for (i = 0; i < n; i++) {
			if (!is_key(key, names[i]))
				continue;
			if (val->kind != K_TEXT)
				return flag == F_ACTOR ? "an actor field is "
				    "not text" : "a subject field is not text";
			if (dst[i]->p != NULL)
				return "a field appears twice";
			set_text(dst[i], val);
		}
		return NULL;
	}
	if (r->ndetails == AUDITFMT_MAX_DETAILS)
		return "too many details";
	for (i = 0; i < r->ndetails; i++)
		if (r->details[i].key.len == key->len &&
		    memcmp(r->details[i].key.p, key->data, key->len) == 0)
			return "a detail key appears twice";
	d = &r->details[r->ndetails++];
	memset(d, 0, sizeof(*d));
	set_text(&d->key, key);
	switch (val->kind) {
	case K_TEXT:
		d->type = AUDITFMT_V_TEXT;
		d->data = val->data;
		d->len = val->len;
		break;
	case K_BYTES:
		d->type = AUDITFMT_V_BYTES;
		d->data = val->data;
		d->len = val->len;
		break;
	case K_UINT:
		d->type = AUDITFMT_V_UINT;
		d->u = val->u;
		break;
	case K_BOOL:
		d->type = AUDITFMT_V_BOOL;
		d->u = val->u;
		break;
	default:
		return "a detail is not text, an integer, bytes or a boolean";
	}
	return NULL;
}

static enum auditfmt_res
bad(struct auditfmt_head *h, const char *why)
{
	h->why = why;
	return AUDITFMT_BAD;
}

/*
 * Finds the record at buf[0] within len bytes. With r not NULL (strict
 * mode) it also decodes the record into r and applies the stricter checks.
 */
static enum auditfmt_res
walk(const uint8_t *buf, size_t len, struct auditfmt_head *h,
    struct auditfmt_record *r)
{
	uint64_t remaining[AUDITFMT_MAX_DEPTH + 1];
	struct walk_item nkey;		/* key of the current nested pair */
	size_t pos = 0, top_index = 0, nested_index = 0;
	int d = 0, seen = 0, field = -1, nested = 0;

	memset(h, 0, sizeof(*h));
	memset(&nkey, 0, sizeof(nkey));
	remaining[0] = 1;
	for (;;) {
		struct cbor_decoder_result res;
		struct walk_item it;
		uint64_t children = 0;
		int parent = d;

		if (pos == len)
			return AUDITFMT_NEED;
		memset(&it, 0, sizeof(it));
		res = cbor_stream_decode(buf + pos, len - pos, &walk_callbacks,
		    &it);
		if (res.status == CBOR_DECODER_NEDATA)
			return AUDITFMT_NEED;
		if (res.status != CBOR_DECODER_FINISHED || it.kind == K_NONE)
			return bad(h, "malformed CBOR");
		if (it.kind == K_INDEF)
			return bad(h, "indefinite-length item");
		pos += res.read;
		remaining[d]--;

		if (it.kind == K_ARRAY)
			children = it.u;
		else if (it.kind == K_MAP) {
			if (it.u > UINT64_MAX / 2)
				return bad(h, "map too large");
			children = 2 * it.u;
		} else if (it.kind == K_TAG)
			children = 1;

		if (parent == 0 && it.kind != K_MAP)
			return bad(h, "not a CBOR map");
		if (parent == 1 && top_index % 2 == 0) {
			/* A key of the record map. */
			size_t i;

			if (it.kind != K_TEXT)
				return bad(h, "a field name is not text");
			field = -1;
			for (i = 0; i < NFIELDS; i++)
				if (is_key(&it, fields[i].name))
					field = (int)i;
			if (field >= 0 && (seen & fields[field].flag))
				return bad(h, "a field appears twice");
		} else if (parent == 1 && field >= 0) {
			/* The value of a known field. */
			int flag = fields[field].flag;

			if (it.kind != fields[field].kind)
				return bad(h, "a field has the wrong type");
			seen |= flag;
			if (flag == F_SEQ)
				h->seq = it.u;
			if (flag == F_PREV) {
				if (it.len != AUDITFMT_HASH_LEN)
					return bad(h, "prev is not 32 bytes");
				memcpy(h->prev, it.data, AUDITFMT_HASH_LEN);
			}
			if (r != NULL && it.kind == K_TEXT) {
				if (!utf8_valid(it.data, it.len))
					return bad(h, "a field is not valid "
					    "UTF-8 text");
				set_text(flag == F_TIME ? &r->time :
				    flag == F_TYPE ? &r->type : &r->clock, &it);
			}
			if (flag == F_ACTOR || flag == F_SUBJECT ||
			    flag == F_DETAILS) {
				nested = flag;
				nested_index = 0;
			}
		} else if (parent == 2 && nested != 0 && r != NULL) {
			/* A pair inside actor, subject or details. */
			if (nested_index % 2 == 0) {
				if (it.kind != K_TEXT ||
				    !utf8_valid(it.data, it.len))
					return bad(h, "a key inside actor, "
					    "subject or details is not text");
				nkey = it;
			} else {
				const char *why;

				if (children > 0)
					return bad(h, "a value inside actor, "
					    "subject or details is nested");
				if ((why = capture_nested(r, nested, &nkey,
				    &it)) != NULL)
					return bad(h, why);
			}
		}
		if (parent == 1)
			top_index++;
		if (parent == 2)
			nested_index++;

		if (children > 0) {
			/* Each child takes at least one byte: a count the
			 * window cannot hold is an incomplete record. */
			if (children > len - pos)
				return AUDITFMT_NEED;
			if (d == AUDITFMT_MAX_DEPTH)
				return bad(h, "nested too deeply");
			remaining[++d] = children;
		}
		while (d > 0 && remaining[d] == 0) {
			d--;
			if (d == 1)
				nested = 0;
		}
		if (d == 0 && remaining[0] == 0)
			break;
	}
	if ((seen & F_REQUIRED) != F_REQUIRED)
		return bad(h, "a required field is missing");
	if (r != NULL && r->time.len == 0)
		return bad(h, "time is empty");
	if (r != NULL && r->type.len == 0)
		return bad(h, "type is empty");
	h->len = pos;
	return AUDITFMT_OK;
}

enum auditfmt_res
auditfmt_walk(const uint8_t *buf, size_t len, struct auditfmt_head *h)
{
	return walk(buf, len, h, NULL);
}

int
auditfmt_decode(const uint8_t *rec, size_t len, struct auditfmt_record *r,
    char *err, size_t errlen)
{
	struct auditfmt_head h;
	enum auditfmt_res res;

	memset(r, 0, sizeof(*r));
	if (len > AUDITFMT_MAX_RECORD)
		return util_err(err, errlen, "record longer than %d bytes",
		    AUDITFMT_MAX_RECORD);
	res = walk(rec, len, &h, r);
	if (res == AUDITFMT_NEED)
		return util_err(err, errlen, "incomplete record");
	if (res == AUDITFMT_BAD)
		return util_err(err, errlen, "%s", h.why);
	if (h.len != len)
		return util_err(err, errlen, "%zu bytes after the record",
		    len - h.len);
	r->seq = h.seq;
	memcpy(r->prev, h.prev, sizeof(r->prev));
	r->len = h.len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reader */

#define READER_CAP (2 * AUDITFMT_MAX_RECORD)

struct auditfmt_reader {
	int fd;
	uint64_t off;		/* file offset of buf[start] */
	uint64_t end;		/* where reading stops */
	size_t start, fill;	/* buf[start, fill) holds file[off, ...) */
	uint8_t buf[READER_CAP];
};

int
auditfmt_reader_open(int fd, uint64_t start, uint64_t end,
    struct auditfmt_reader **out, char *err, size_t errlen)
{
	struct auditfmt_reader *r;

	*out = NULL;
	if (end == UINT64_MAX) {
		off_t size = lseek(fd, 0, SEEK_END);

		if (size < 0)
			return util_err(err, errlen, "seek: %s",
			    strerror(errno));
		end = (uint64_t)size;
	}
	if (start > end)
		return util_err(err, errlen, "offset %llu is past the end "
		    "(%llu bytes)", (unsigned long long)start,
		    (unsigned long long)end);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return util_err(err, errlen, "out of memory");
	r->fd = fd;
	r->off = start;
	r->end = end;
	*out = r;
	return 0;
}

void
auditfmt_reader_free(struct auditfmt_reader *r)
{
	free(r);
}

/* 1 when file[off, end) holds only zero bytes. */
static int
zero_tail(struct auditfmt_reader *r)
{
	uint64_t off = r->off;
	uint8_t tmp[4096];

	while (off < r->end) {
		size_t want = r->end - off < sizeof(tmp) ?
		    (size_t)(r->end - off) : sizeof(tmp);
		ssize_t n = pread(r->fd, tmp, want, (off_t)off);
		ssize_t i;

		if (n <= 0)
			return 0;
		for (i = 0; i < n; i++)
			if (tmp[i] != 0)
				return 0;
		off += (uint64_t)n;
	}
	return 1;
}

int
auditfmt_reader_next(struct auditfmt_reader *r, const uint8_t **rec,
    uint64_t *off, struct auditfmt_head *h, char *err, size_t errlen)
{
	uint64_t left;
	size_t window;
	enum auditfmt_res res;

	*off = r->off;
	if (r->off >= r->end)
		return AUDITFMT_READ_END;
	left = r->end - r->off;
	window = left < AUDITFMT_MAX_RECORD ? (size_t)left :
	    AUDITFMT_MAX_RECORD;
	if (r->fill - r->start < window) {
		memmove(r->buf, r->buf + r->start, r->fill - r->start);
		r->fill -= r->start;
		r->start = 0;
		while (r->fill < window) {
			uint64_t at = r->off + r->fill;
			size_t want = READER_CAP - r->fill;
			ssize_t n;

			if (want > r->end - at)
				want = (size_t)(r->end - at);
			n = pread(r->fd, r->buf + r->fill, want, (off_t)at);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				return util_err(err, errlen, "at offset %llu: "
				    "%s", (unsigned long long)at, n == 0 ?
				    "the file shrank while reading" :
				    strerror(errno));
			r->fill += (size_t)n;
		}
	}
	res = auditfmt_walk(r->buf + r->start, window, h);
	if (res == AUDITFMT_NEED && window == left)
		return AUDITFMT_READ_TORN;
	if (res == AUDITFMT_NEED)
		return util_err(err, errlen, "at offset %llu: longer than %d "
		    "bytes", (unsigned long long)r->off, AUDITFMT_MAX_RECORD);
	if (res == AUDITFMT_BAD) {
		/* Some file systems leave zeros after a crash where unsynced
		 * appends were; no record starts with 0. */
		if (r->buf[r->start] == 0 && zero_tail(r))
			return AUDITFMT_READ_TORN;
		return util_err(err, errlen, "at offset %llu: %s",
		    (unsigned long long)r->off, h->why);
	}
	*rec = r->buf + r->start;
	r->start += h->len;
	r->off += h->len;
	return AUDITFMT_READ_REC;
}

/* ------------------------------------------------------------------ */
/* proof.txt */

struct sbuf {
	char *p;
	size_t len, cap;
	int failed;
};

static void
sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap * 2 + (size_t)n + 64;
			char *np = realloc(b->p, cap);

			if (np == NULL) {
				b->failed = 1;
				return;
			}
			b->p = np;
			b->cap = cap;
		}
	}
}

static void
sb_hashes(struct sbuf *b, const char *name,
    const uint8_t (*h)[AUDITFMT_HASH_LEN], size_t n)
{
	char b64[48];
	size_t i;

	for (i = 0; i < n; i++) {
		EVP_EncodeBlock((unsigned char *)b64, h[i], AUDITFMT_HASH_LEN);
		sb_add(b, "%s %s\n", name, b64);
	}
}

int
auditfmt_proof_format(const struct auditfmt_proof *p, char **out,
    size_t *len, char *err, size_t errlen)
{
	struct sbuf b;

	*out = NULL;
	*len = 0;
	if (p->nleft > AUDITFMT_PROOF_MAX || p->nright > AUDITFMT_PROOF_MAX ||
	    p->nprevious > AUDITFMT_PROOF_MAX)
		return util_err(err, errlen, "proof too long");
	memset(&b, 0, sizeof(b));
	if ((b.p = malloc(1024)) == NULL)
		return util_err(err, errlen, "out of memory");
	b.cap = 1024;
	sb_add(&b, "%s\n", AUDITFMT_PROOF_MAGIC);
	sb_add(&b, "from_seq %llu\n", (unsigned long long)p->from_seq);
	sb_add(&b, "count %llu\n", (unsigned long long)p->count);
	sb_add(&b, "tree_size %llu\n", (unsigned long long)p->tree_size);
	sb_hashes(&b, "left", (const uint8_t (*)[AUDITFMT_HASH_LEN])p->left,
	    p->nleft);
	sb_hashes(&b, "right", (const uint8_t (*)[AUDITFMT_HASH_LEN])p->right,
	    p->nright);
	if (p->has_previous) {
		sb_add(&b, "previous_size %llu\n",
		    (unsigned long long)p->previous_size);
		sb_hashes(&b, "previous",
		    (const uint8_t (*)[AUDITFMT_HASH_LEN])p->previous,
		    p->nprevious);
	}
	if (b.failed) {
		free(b.p);
		return util_err(err, errlen, "out of memory");
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* One line of text[*pos:len] without its newline; -1 at the end or when
 * the last line has no newline. */
static int
next_line(const char *text, size_t len, size_t *pos, const char **line,
    size_t *linelen)
{
	const char *nl;

	if (*pos >= len)
		return -1;
	nl = memchr(text + *pos, '\n', len - *pos);
	if (nl == NULL)
		return -1;
	*line = text + *pos;
	*linelen = (size_t)(nl - (text + *pos));
	*pos = (size_t)(nl - text) + 1;
	return 0;
}

/* "name value" where value is a canonical decimal uint64. */
static int
parse_uint_line(const char *line, size_t len, const char *name, uint64_t *v)
{
	size_t n = strlen(name);

	if (len <= n + 1 || memcmp(line, name, n) != 0 || line[n] != ' ')
		return -1;
	line += n + 1;
	len -= n + 1;
	if (len > 1 && line[0] == '0')
		return -1;
	return util_parse_digits(line, len, v);
}

/* "name <base64 of 32 bytes>": 1 and the hash, 0 when the line is not of
 * this name, -1 when it is but the hash is bad. */
static int
parse_hash_line(const char *line, size_t len, const char *name,
    uint8_t out[AUDITFMT_HASH_LEN])
{
	size_t n = strlen(name);
	unsigned char tmp[48], back[48];
	char b64[45];

	if (len <= n + 1 || memcmp(line, name, n) != 0 || line[n] != ' ')
		return 0;
	line += n + 1;
	len -= n + 1;
	if (len != 44)
		return -1;
	memcpy(b64, line, 44);
	b64[44] = '\0';
	if (EVP_DecodeBlock(tmp, (const unsigned char *)b64, 44) != 33 ||
	    b64[43] != '=' || b64[42] == '=')
		return -1;
	/* Canonical only: re-encoding must give the same text. */
	EVP_EncodeBlock(back, tmp, AUDITFMT_HASH_LEN);
	if (memcmp(back, b64, 44) != 0)
		return -1;
	memcpy(out, tmp, AUDITFMT_HASH_LEN);
	return 1;
}

static unsigned
popcount64(uint64_t x)
{
	unsigned n = 0;

	while (x != 0) {
		x &= x - 1;
		n++;
	}
	return n;
}

/* Reads the run of "name <hash>" lines at *pos into out. */
static int
parse_hashes(const char *text, size_t len, size_t *pos, const char *name,
    uint8_t (*out)[AUDITFMT_HASH_LEN], size_t *n, char *err, size_t errlen)
{
	uint8_t tmp[AUDITFMT_HASH_LEN];
	const char *line;
	size_t linelen, at;
	int rc;

	*n = 0;
	for (;;) {
		at = *pos;
		if (next_line(text, len, &at, &line, &linelen) != 0)
			return 0;
		if ((rc = parse_hash_line(line, linelen, name, tmp)) == 0)
			return 0;
		if (rc < 0)
			return util_err(err, errlen, "proof: a %s line is not "
			    "a base64 SHA-256 hash", name);
		if (*n == AUDITFMT_PROOF_MAX)
			return util_err(err, errlen, "proof: more than %d %s "
			    "lines", AUDITFMT_PROOF_MAX, name);
		memcpy(out[(*n)++], tmp, AUDITFMT_HASH_LEN);
		*pos = at;
	}
}

int
auditfmt_proof_parse(const char *text, size_t len, struct auditfmt_proof *p,
    char *err, size_t errlen)
{
	const char *line;
	size_t linelen, pos = 0;

	memset(p, 0, sizeof(*p));
	if (len > AUDITFMT_PROOF_TEXT_MAX)
		return util_err(err, errlen, "proof: longer than %d bytes",
		    AUDITFMT_PROOF_TEXT_MAX);
	if (next_line(text, len, &pos, &line, &linelen) != 0 ||
	    linelen != strlen(AUDITFMT_PROOF_MAGIC) ||
	    memcmp(line, AUDITFMT_PROOF_MAGIC, linelen) != 0)
		return util_err(err, errlen, "proof: does not start with "
		    "\"%s\"", AUDITFMT_PROOF_MAGIC);
	if (next_line(text, len, &pos, &line, &linelen) != 0 ||
	    parse_uint_line(line, linelen, "from_seq", &p->from_seq) != 0)
		return util_err(err, errlen, "proof: line 2 is not "
		    "\"from_seq N\"");
	if (next_line(text, len, &pos, &line, &linelen) != 0 ||
	    parse_uint_line(line, linelen, "count", &p->count) != 0)
		return util_err(err, errlen, "proof: line 3 is not "
		    "\"count N\"");
	if (next_line(text, len, &pos, &line, &linelen) != 0 ||
	    parse_uint_line(line, linelen, "tree_size", &p->tree_size) != 0)
		return util_err(err, errlen, "proof: line 4 is not "
		    "\"tree_size N\"");
	if (p->count > UINT64_MAX - p->from_seq ||
	    p->from_seq + p->count > p->tree_size)
		return util_err(err, errlen, "proof: records %llu + %llu are "
		    "beyond the tree size %llu",
		    (unsigned long long)p->from_seq,
		    (unsigned long long)p->count,
		    (unsigned long long)p->tree_size);
	if (parse_hashes(text, len, &pos, "left", p->left, &p->nleft, err,
	    errlen) != 0 ||
	    parse_hashes(text, len, &pos, "right", p->right, &p->nright, err,
	    errlen) != 0)
		return -1;
	if (p->nleft != popcount64(p->from_seq))
		return util_err(err, errlen, "proof: %zu left hashes, %u "
		    "expected for from_seq %llu", p->nleft,
		    popcount64(p->from_seq), (unsigned long long)p->from_seq);
	if (pos < len) {
		if (next_line(text, len, &pos, &line, &linelen) != 0 ||
		    parse_uint_line(line, linelen, "previous_size",
		    &p->previous_size) != 0)
			return util_err(err, errlen, "proof: unexpected line "
			    "after the right hashes");
		p->has_previous = 1;
		if (parse_hashes(text, len, &pos, "previous", p->previous,
		    &p->nprevious, err, errlen) != 0)
			return -1;
	}
	if (pos != len)
		return util_err(err, errlen, "proof: unexpected text at byte "
		    "%zu", pos);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Verifier */

const char *
auditfmt_fault_name(enum auditfmt_fault f)
{
	switch (f) {
	case AUDITFMT_FAULT_NONE:
		return "none";
	case AUDITFMT_FAULT_CHANGED:
		return "changed";
	case AUDITFMT_FAULT_MISSING:
		return "missing";
	case AUDITFMT_FAULT_REORDERED:
		return "reordered";
	case AUDITFMT_FAULT_MALFORMED:
		return "malformed";
	case AUDITFMT_FAULT_SIGNATURE:
		return "bad signature";
	case AUDITFMT_FAULT_ROLLBACK:
		return "rollback";
	case AUDITFMT_FAULT_PROOF:
		return "bad proof";
	}
	return "unknown";
}

static int
fault(struct auditfmt_verdict *v, enum auditfmt_fault f, int has_seq,
    uint64_t seq, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
fault(struct auditfmt_verdict *v, enum auditfmt_fault f, int has_seq,
    uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (v->fault != AUDITFMT_FAULT_NONE)
		return -1;
	v->fault = f;
	v->has_seq = has_seq;
	v->seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Root of the first from_seq + n leaves: left compact range + leaves. */
static int
range_root(const struct auditfmt_proof *p,
    const uint8_t (*leaves)[AUDITFMT_HASH_LEN], size_t n,
    uint8_t root[AUDITFMT_HASH_LEN])
{
	struct merkle_tree t;
	char e[128];
	size_t i;

	if (merkle_tree_restore(&t, p->from_seq,
	    (const uint8_t (*)[MERKLE_HASH_LEN])p->left, p->nleft, e,
	    sizeof(e)) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (merkle_tree_append(&t, leaves[i], e, sizeof(e)) != 0)
			return -1;
	return merkle_tree_root(&t, root, e, sizeof(e));
}

int
auditfmt_verify_begin(struct auditfmt_verify *vf,
    const struct note_checkpoint *cp, const struct auditfmt_proof *proof,
    const uint8_t (*leaves)[AUDITFMT_HASH_LEN], size_t nleaves)
{
	uint8_t root[AUDITFMT_HASH_LEN];
	char e[128];

	memset(vf, 0, sizeof(*vf));
	vf->cp = *cp;
	vf->proof = proof;
	vf->leaves = leaves;
	vf->nleaves = nleaves;
	if (proof->tree_size != cp->size)
		return fault(&vf->v, cp->size < proof->tree_size ?
		    AUDITFMT_FAULT_ROLLBACK : AUDITFMT_FAULT_PROOF, 0, 0,
		    "the checkpoint is for %llu records but the proof is for "
		    "%llu: the checkpoint was replaced%s",
		    (unsigned long long)cp->size,
		    (unsigned long long)proof->tree_size,
		    cp->size < proof->tree_size ? " by an older one" : "");
	if (merkle_tree_restore(&vf->tree, proof->from_seq,
	    (const uint8_t (*)[MERKLE_HASH_LEN])proof->left, proof->nleft, e,
	    sizeof(e)) != 0)
		return fault(&vf->v, AUDITFMT_FAULT_PROOF, 0, 0, "proof: %s",
		    e);
	if (nleaves == proof->count && range_root(proof, leaves, nleaves,
	    root) == 0 && merkle_verify_consistency(proof->from_seq +
	    proof->count, cp->size, root, cp->root,
	    (const uint8_t (*)[MERKLE_HASH_LEN])proof->right,
	    proof->nright) == MERKLE_OK)
		vf->leaves_ok = 1;
	return 0;
}

int
auditfmt_verify_malformed(struct auditfmt_verify *vf, uint64_t off,
    const char *why)
{
	uint64_t seq = vf->proof->from_seq + vf->pos;

	if (vf->pending)
		return -1;
	return fault(&vf->v, AUDITFMT_FAULT_MALFORMED, 1, seq,
	    "record %llu (at offset %llu of the records) is not a valid "
	    "record: %s; it was changed", (unsigned long long)seq,
	    (unsigned long long)off, why);
}

static void
sha256(const uint8_t *p, size_t len, uint8_t out[AUDITFMT_HASH_LEN])
{
	unsigned int n = AUDITFMT_HASH_LEN;

	if (EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, AUDITFMT_HASH_LEN);
}

int
auditfmt_verify_record(struct auditfmt_verify *vf, const uint8_t *rec,
    size_t len, uint64_t off)
{
	const struct auditfmt_proof *p = vf->proof;
	uint64_t want = p->from_seq + vf->pos;
	uint8_t leaf[AUDITFMT_HASH_LEN], hash[AUDITFMT_HASH_LEN];
	struct auditfmt_head h;
	char e[128];

	if (vf->pending) {
		/* Only looking for the record that was expected. */
		if (auditfmt_walk(rec, len, &h) == AUDITFMT_OK &&
		    h.seq == vf->want_seq)
			vf->want_seen = 1;
		return -1;
	}
	if (vf->v.fault != AUDITFMT_FAULT_NONE)
		return -1;
	if (auditfmt_walk(rec, len, &h) != AUDITFMT_OK || h.len != len)
		return auditfmt_verify_malformed(vf, off, "not one record");
	if (h.seq != want) {
		vf->pending = 1;
		vf->want_seq = want;
		vf->found_seq = h.seq;
		vf->found_off = off;
		return -1;
	}
	if (vf->pos >= p->count)
		return fault(&vf->v, AUDITFMT_FAULT_PROOF, 1, want,
		    "record %llu is beyond the %llu records the proof covers",
		    (unsigned long long)want, (unsigned long long)p->count);
	if (merkle_hash_leaf(rec, len, leaf, e, sizeof(e)) != 0)
		return fault(&vf->v, AUDITFMT_FAULT_PROOF, 0, 0, "%s", e);
	if (!vf->leaf_differs && (vf->pos >= vf->nleaves || memcmp(leaf,
	    vf->leaves[vf->pos], AUDITFMT_HASH_LEN) != 0)) {
		vf->leaf_differs = 1;
		vf->leaf_differs_seq = want;
	}
	if (vf->leaves_ok && memcmp(leaf, vf->leaves[vf->pos],
	    AUDITFMT_HASH_LEN) != 0)
		return fault(&vf->v, AUDITFMT_FAULT_CHANGED, 1, want,
		    "record %llu (at offset %llu of the records) was changed: "
		    "its hash is not leaf %llu of the signed tree",
		    (unsigned long long)want, (unsigned long long)off,
		    (unsigned long long)want);
	/* The chain: with authentic leaves it cannot break here, so this
	 * names changes only when the leaf hashes were tampered with too. */
	if ((vf->pos > 0 || want == 0) &&
	    memcmp(h.prev, vf->prev, AUDITFMT_HASH_LEN) != 0)
		return fault(&vf->v, AUDITFMT_FAULT_CHANGED, 1,
		    want == 0 ? 0 : want - 1, want == 0 ?
		    "record 0 was changed: its prev is not zero" :
		    "record %llu was changed: its hash does not match the "
		    "prev of record %llu (one of the two was altered)",
		    (unsigned long long)(want - 1), (unsigned long long)want);
	sha256(rec, len, hash);
	memcpy(vf->prev, hash, sizeof(hash));
	if (merkle_tree_append(&vf->tree, leaf, e, sizeof(e)) != 0)
		return fault(&vf->v, AUDITFMT_FAULT_PROOF, 0, 0, "%s", e);
	vf->pos++;
	return 0;
}

int
auditfmt_verify_end(struct auditfmt_verify *vf)
{
	const struct auditfmt_proof *p = vf->proof;
	uint8_t root[AUDITFMT_HASH_LEN];
	enum merkle_verdict mv;
	char e[128];

	if (vf->pending) {
		unsigned long long w = vf->want_seq, f = vf->found_seq;

		vf->pending = 0;
		if (vf->want_seen || f < w)
			return fault(&vf->v, AUDITFMT_FAULT_REORDERED, 1, w,
			    "record %llu is out of order: record %llu stands "
			    "in its place (at offset %llu of the records)%s",
			    w, f, (unsigned long long)vf->found_off,
			    vf->want_seen ? " and record it appears later" :
			    "");
		return fault(&vf->v, AUDITFMT_FAULT_MISSING, 1, w,
		    "record %llu is missing: record %llu follows record %llu "
		    "(at offset %llu of the records)%s", w, f, w - 1,
		    (unsigned long long)vf->found_off, f - w > 1 ?
		    " (more records are missing before it)" : "");
	}
	if (vf->v.fault != AUDITFMT_FAULT_NONE)
		return -1;
	if (vf->pos < p->count)
		return fault(&vf->v, AUDITFMT_FAULT_MISSING, 1,
		    p->from_seq + vf->pos, "records %llu to %llu are missing: "
		    "the records end after %llu of the %llu pulled (the tail "
		    "was cut off)", (unsigned long long)(p->from_seq + vf->pos),
		    (unsigned long long)(p->from_seq + p->count - 1),
		    (unsigned long long)vf->pos, (unsigned long long)p->count);
	/* The records themselves must lead to the signed root. */
	if (merkle_tree_root(&vf->tree, root, e, sizeof(e)) != 0)
		return fault(&vf->v, AUDITFMT_FAULT_PROOF, 0, 0, "%s", e);
	if ((mv = merkle_verify_consistency(p->from_seq + p->count,
	    vf->cp.size, root, vf->cp.root,
	    (const uint8_t (*)[MERKLE_HASH_LEN])p->right, p->nright)) !=
	    MERKLE_OK) {
		/* The records agree with their leaf hashes but not with a
		 * signed tree that has more records than the pull ends at:
		 * what cannot be proven starts right after the last record
		 * (a cut tail with leaves.bin and the count fixed up leaves
		 * a right proof of the wrong length for the new count). */
		if (!vf->leaves_ok && !vf->leaf_differs && p->count > 0 &&
		    mv == MERKLE_ERR_PROOF_LEN &&
		    p->from_seq + p->count < vf->cp.size)
			return fault(&vf->v, AUDITFMT_FAULT_MISSING, 1,
			    p->from_seq + p->count, "record %llu cannot be "
			    "proven: the checkpoint signs %llu records, the "
			    "pulled records end at record %llu and the proof "
			    "that connects them to the signed root does not "
			    "hold: records from %llu on were cut off (and the "
			    "leaf hashes and count fixed up), or the proof was "
			    "changed", (unsigned long long)(p->from_seq +
			    p->count), (unsigned long long)vf->cp.size,
			    (unsigned long long)(p->from_seq + p->count - 1),
			    (unsigned long long)(p->from_seq + p->count));
		if (vf->leaves_ok || !vf->leaf_differs)
			return fault(&vf->v, AUDITFMT_FAULT_PROOF, 0, 0,
			    "the records do not lead to the signed root: the "
			    "proof (or the last record together with its "
			    "leaf hash) was changed");
		return fault(&vf->v, AUDITFMT_FAULT_CHANGED, 1,
		    vf->leaf_differs_seq, "record %llu was changed: neither "
		    "it nor the leaf hashes lead to the signed root, and its "
		    "hash differs from its pulled leaf hash",
		    (unsigned long long)vf->leaf_differs_seq);
	}
	if (!vf->leaves_ok)
		return fault(&vf->v, AUDITFMT_FAULT_PROOF, 0, 0, "the records "
		    "are intact but the leaf hashes file was changed");
	return 0;
}

int
auditfmt_verify_previous(const struct note_checkpoint *prev,
    const struct note_checkpoint *cp, const struct auditfmt_proof *proof,
    struct auditfmt_verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (prev->size > cp->size)
		return fault(v, AUDITFMT_FAULT_ROLLBACK, 0, 0, "rollback: the "
		    "pulled checkpoint has %llu records, fewer than the %llu "
		    "of your previous checkpoint", (unsigned long long)cp->size,
		    (unsigned long long)prev->size);
	if (prev->size == cp->size) {
		if (memcmp(prev->root, cp->root, NOTE_HASH_LEN) != 0)
			return fault(v, AUDITFMT_FAULT_ROLLBACK, 0, 0, "the "
			    "log was rewritten: the pulled checkpoint and "
			    "your previous one both have %llu records but "
			    "different roots", (unsigned long long)cp->size);
		return 0;
	}
	if (!proof->has_previous || proof->previous_size != prev->size)
		return fault(v, AUDITFMT_FAULT_PROOF, 0, 0, "the pull has no "
		    "consistency proof from your previous checkpoint (%llu "
		    "records); pull again with --previous",
		    (unsigned long long)prev->size);
	if (merkle_verify_consistency(prev->size, cp->size, prev->root,
	    cp->root, (const uint8_t (*)[MERKLE_HASH_LEN])proof->previous,
	    proof->nprevious) != MERKLE_OK)
		return fault(v, AUDITFMT_FAULT_ROLLBACK, 0, 0, "the log was "
		    "rewritten: the pulled checkpoint (%llu records) does not "
		    "extend your previous checkpoint (%llu records)",
		    (unsigned long long)cp->size,
		    (unsigned long long)prev->size);
	return 0;
}
