/*
 * audit — see audit.h and docs/audit.md.
 *
 * The log is a plain concatenation of CBOR records; a record is exactly the
 * bytes of one definite-length CBOR map, so the file needs no framing and
 * any CBOR tool can read it. The same record bytes are what the chain hashes
 * ("prev" = SHA-256 of the previous record) and what a Merkle tree will hash
 * later (leaf = SHA-256(0x00 || record)), so records are never re-encoded
 * after they are written.
 *
 * Writing: a record is built with libcbor, serialised into a fixed 64 KiB
 * buffer and written with one write(2) on an O_APPEND descriptor, so a crash
 * can leave at most one incomplete record, at the very end. audit_sync is
 * one fdatasync for everything appended since the last one. Any failure
 * latches the log unhealthy: nothing is written after a failed write or sync
 * (a failed fsync is never retried, see spool.c), and the broker stops
 * accepting transfers until an operator has looked and restarted it.
 *
 * Reading (audit_open, audit_read_file): records are delimited with the
 * libcbor streaming decoder, which only reports item headers and hands out
 * pointers into our buffer; nothing is allocated from a count in the file.
 * Every container count is checked against the bytes left in a record
 * window of at most AUDIT_MAX_RECORD bytes, nesting is bounded, and
 * indefinite-length items (never written) are refused.
 */
#include "broker/audit.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/evp.h>

#include "lib/util.h"

#define AUDIT_MAX_DEPTH 8	/* container nesting a reader accepts */
#define AUDIT_HASH_LEN 32

struct audit {
	int fd;
	int healthy;
	int dirty;			/* appended since the last sync */
	uint64_t seq;			/* next sequence number */
	uint64_t size;			/* bytes in the file */
	uint8_t prev[AUDIT_HASH_LEN];	/* hash of the last record */
	char path[PATH_MAX];
	char failure[256];		/* why the log became unhealthy */
	uint8_t buf[AUDIT_MAX_RECORD];	/* serialisation buffer */
};

/* ------------------------------------------------------------------ */
/* Failure latch */

static int audit_latch(struct audit *a, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Marks the log unhealthy for good and reports why. */
static int
audit_latch(struct audit *a, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (a->healthy) {
		a->healthy = 0;
		snprintf(a->failure, sizeof(a->failure), "%s", msg);
	}
	return util_err(err, errlen, "audit: %s: %s", a->path, msg);
}

static const char *
audit_strerror(int e)
{
	switch (e) {
	case ENOSPC:
		return "no space left on the audit log's file system";
	case EDQUOT:
		return "disk quota exceeded on the audit log's file system";
	case EIO:
		return "I/O error on the audit log's device (records may be "
		    "lost; check the disk and the kernel log)";
	case EROFS:
		return "the audit log's file system is read-only";
	default:
		return strerror(e);
	}
}

/* ------------------------------------------------------------------ */
/* Building a record */

/* Replaces every ill-formed UTF-8 sequence by U+FFFD so that a text value
 * is always a valid CBOR text string. Returns s itself when it is already
 * valid, otherwise a malloc'd copy (*copy set, caller frees); NULL on
 * allocation failure. */
static const char *
audit_utf8(const char *s, char **copy)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, o = 0;
	int valid = 1;
	char *out = NULL;

	*copy = NULL;
	for (;;) {
		size_t n = 0;
		unsigned int c, min = 0;

		if (i >= len)
			break;
		c = p[i];
		if (c < 0x80) {
			n = 1;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			min = 0x10000;
		}
		if (n > 1) {
			unsigned int cp = c & (0x7f >> n);
			size_t k;

			if (i + n > len)
				n = 0;
			for (k = 1; n != 0 && k < n; k++) {
				if ((p[i + k] & 0xc0) != 0x80)
					n = 0;
				else
					cp = cp << 6 | (p[i + k] & 0x3f);
			}
			if (n != 0 && (cp < min || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff)))
				n = 0;
		}
		if (n == 0 && valid) {
			/* First bad byte: switch to copying. */
			valid = 0;
			if ((out = malloc(3 * len + 1)) == NULL)
				return NULL;
			memcpy(out, s, i);
			o = i;
		}
		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			if (!valid)
				memcpy(out + o, p + i, n);
			o += n;
			i += n;
		}
	}
	if (valid)
		return s;
	out[o] = '\0';
	*copy = out;
	return out;
}

static cbor_item_t *
audit_build_text(const char *s)
{
	cbor_item_t *item;
	const char *t;
	char *copy;

	if ((t = audit_utf8(s, &copy)) == NULL)
		return NULL;
	item = cbor_build_stringn(t, strlen(t));
	free(copy);
	return item;
}

/* Shortest encoding, so records are in CBOR preferred serialisation. */
static cbor_item_t *
audit_build_uint(uint64_t v)
{
	if (v <= UINT8_MAX)
		return cbor_build_uint8((uint8_t)v);
	if (v <= UINT16_MAX)
		return cbor_build_uint16((uint16_t)v);
	if (v <= UINT32_MAX)
		return cbor_build_uint32((uint32_t)v);
	return cbor_build_uint64(v);
}

/* Adds key => value to map; consumes value (NULL value is a failure). */
static int
audit_put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
	cbor_item_t *k;
	int ok;

	if (value == NULL)
		return -1;
	if ((k = cbor_build_string(key)) == NULL) {
		cbor_decref(&value);
		return -1;
	}
	ok = cbor_map_add(map, (struct cbor_pair){ .key = k, .value = value });
	cbor_decref(&k);
	cbor_decref(&value);
	return ok ? 0 : -1;
}

static int
audit_put_text(cbor_item_t *map, const char *key, const char *v)
{
	return audit_put(map, key, audit_build_text(v));
}

static int
present(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* A map of the present (non-NULL, non-empty) fields among n name/value
 * pairs. */
static cbor_item_t *
audit_build_fields(const char *const *names, const char *const *values,
    size_t n)
{
	cbor_item_t *map;
	size_t i, count = 0;

	for (i = 0; i < n; i++)
		if (present(values[i]))
			count++;
	if ((map = cbor_new_definite_map(count)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (present(values[i]) &&
		    audit_put_text(map, names[i], values[i]) == -1) {
			cbor_decref(&map);
			return NULL;
		}
	}
	return map;
}

static int
audit_check_details(const struct audit_event *ev, char *why, size_t whylen)
{
	size_t i, j;

	if (ev->ndetails > AUDIT_MAX_DETAILS) {
		snprintf(why, whylen, "%zu details (at most %d)",
		    ev->ndetails, AUDIT_MAX_DETAILS);
		return -1;
	}
	if (ev->ndetails > 0 && ev->details == NULL) {
		snprintf(why, whylen, "details missing");
		return -1;
	}
	for (i = 0; i < ev->ndetails; i++) {
		const struct audit_kv *kv = &ev->details[i];
		char *copy = NULL;

		if (!present(kv->key) || audit_utf8(kv->key, &copy) !=
		    kv->key) {
			free(copy);
			snprintf(why, whylen, "detail %zu has no valid key", i);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(ev->details[j].key, kv->key) == 0) {
				snprintf(why, whylen, "detail key \"%s\" "
				    "repeated", kv->key);
				return -1;
			}
		}
		switch (kv->type) {
		case AUDIT_TEXT:
		case AUDIT_UINT:
		case AUDIT_BOOL:
			break;
		case AUDIT_BYTES:
			if (kv->bytes == NULL && kv->len != 0) {
				snprintf(why, whylen, "detail \"%s\" has no "
				    "bytes", kv->key);
				return -1;
			}
			break;
		default:
			snprintf(why, whylen, "detail \"%s\" has an unknown "
			    "type", kv->key);
			return -1;
		}
	}
	return 0;
}

static cbor_item_t *
audit_build_details(const struct audit_event *ev)
{
	cbor_item_t *map, *v;
	size_t i;

	if ((map = cbor_new_definite_map(ev->ndetails)) == NULL)
		return NULL;
	for (i = 0; i < ev->ndetails; i++) {
		const struct audit_kv *kv = &ev->details[i];

		switch (kv->type) {
		case AUDIT_TEXT:
			v = audit_build_text(kv->text != NULL ? kv->text : "");
			break;
		case AUDIT_UINT:
			v = audit_build_uint(kv->u);
			break;
		case AUDIT_BYTES:
			v = cbor_build_bytestring(kv->len > 0 ? kv->bytes :
			    (const uint8_t *)"", kv->len);
			break;
		case AUDIT_BOOL:
		default:
			v = cbor_build_bool(kv->u != 0);
			break;
		}
		if (audit_put(map, kv->key, v) == -1) {
			cbor_decref(&map);
			return NULL;
		}
	}
	return map;
}

/* The record for ev as a CBOR item; NULL when out of memory. */
static cbor_item_t *
audit_build(const struct audit *a, time_t now, const struct audit_event *ev)
{
	static const char *const actor_names[] = {
		"user", "dept", "terminal", "cert_fp", "peer",
	};
	static const char *const subject_names[] = { "transfer", "interface" };
	const char *actor_values[] = {
		ev->user, ev->dept, ev->terminal, ev->cert_fp, ev->peer,
	};
	const char *subject_values[] = { ev->transfer, ev->interface };
	char when[21];
	cbor_item_t *rec;

	util_time_rfc3339(now, when);
	if ((rec = cbor_new_definite_map(7)) == NULL)
		return NULL;
	if (audit_put(rec, "seq", audit_build_uint(a->seq)) == -1 ||
	    audit_put_text(rec, "time", when) == -1 ||
	    audit_put_text(rec, "type", ev->type) == -1 ||
	    audit_put(rec, "actor", audit_build_fields(actor_names,
	    actor_values, 5)) == -1 ||
	    audit_put(rec, "subject", audit_build_fields(subject_names,
	    subject_values, 2)) == -1 ||
	    audit_put(rec, "details", audit_build_details(ev)) == -1 ||
	    audit_put(rec, "prev", cbor_build_bytestring(a->prev,
	    sizeof(a->prev))) == -1) {
		cbor_decref(&rec);
		return NULL;
	}
	return rec;
}

static int
audit_sha256(const uint8_t *buf, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	unsigned int n = AUDIT_HASH_LEN;

	return EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) == 1 &&
	    n == AUDIT_HASH_LEN ? 0 : -1;
}

int
audit_append(struct audit *a, time_t now, const struct audit_event *ev,
    char *err, size_t errlen)
{
	uint8_t hash[AUDIT_HASH_LEN];
	cbor_item_t *rec;
	char why[128];
	size_t len;
	ssize_t n;

	if (!a->healthy)
		return util_err(err, errlen, "audit: %s is not writable since "
		    "an earlier failure: %s", a->path, a->failure);
	if (ev == NULL || !present(ev->type))
		return audit_latch(a, err, errlen, "record %llu: no event type",
		    (unsigned long long)a->seq);
	if (audit_check_details(ev, why, sizeof(why)) == -1)
		return audit_latch(a, err, errlen, "record %llu (%s): %s",
		    (unsigned long long)a->seq, ev->type, why);
	if ((rec = audit_build(a, now, ev)) == NULL)
		return audit_latch(a, err, errlen, "record %llu: out of memory",
		    (unsigned long long)a->seq);
	len = cbor_serialize(rec, a->buf, sizeof(a->buf));
	cbor_decref(&rec);
	if (len == 0)
		return audit_latch(a, err, errlen, "record %llu (%s) is larger "
		    "than %d bytes", (unsigned long long)a->seq, ev->type,
		    AUDIT_MAX_RECORD);
	if (audit_sha256(a->buf, len, hash) == -1)
		return audit_latch(a, err, errlen, "SHA-256 failed");
	do {
		n = write(a->fd, a->buf, len);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return audit_latch(a, err, errlen, "write of record %llu: %s",
		    (unsigned long long)a->seq, audit_strerror(errno));
	if ((size_t)n != len)
		return audit_latch(a, err, errlen, "short write of record %llu "
		    "(%zd of %zu bytes; the file system is probably full)",
		    (unsigned long long)a->seq, n, len);
	memcpy(a->prev, hash, sizeof(a->prev));
	a->seq++;
	a->size += len;
	a->dirty = 1;
	return 0;
}

int
audit_sync(struct audit *a, char *err, size_t errlen)
{
	if (!a->healthy)
		return util_err(err, errlen, "audit: %s is not writable since "
		    "an earlier failure: %s", a->path, a->failure);
	if (!a->dirty)
		return 0;
	/* Never retried: after a failed fdatasync the pages may be gone. */
	if (fdatasync(a->fd) == -1)
		return audit_latch(a, err, errlen, "fdatasync: %s",
		    audit_strerror(errno));
	a->dirty = 0;
	return 0;
}

int
audit_healthy(const struct audit *a)
{
	return a != NULL && a->healthy;
}

uint64_t
audit_next_seq(const struct audit *a)
{
	return a->seq;
}

/* ------------------------------------------------------------------ */
/* Reading: record boundaries and the top-level fields */

enum walk_kind {
	K_NONE, K_UINT, K_NEGINT, K_BYTES, K_TEXT, K_ARRAY, K_MAP, K_TAG,
	K_SIMPLE, K_INDEF
};

struct walk_item {
	enum walk_kind kind;
	uint64_t u;		/* K_UINT value; K_ARRAY/K_MAP count */
	const uint8_t *data;	/* K_BYTES/K_TEXT, points into the window */
	size_t len;
};

static void
w_uint8(void *c, uint8_t v)
{
	((struct walk_item *)c)->kind = K_UINT;
	((struct walk_item *)c)->u = v;
}

static void
w_uint16(void *c, uint16_t v)
{
	((struct walk_item *)c)->kind = K_UINT;
	((struct walk_item *)c)->u = v;
}

static void
w_uint32(void *c, uint32_t v)
{
	((struct walk_item *)c)->kind = K_UINT;
	((struct walk_item *)c)->u = v;
}

static void
w_uint64(void *c, uint64_t v)
{
	((struct walk_item *)c)->kind = K_UINT;
	((struct walk_item *)c)->u = v;
}

static void
w_neg8(void *c, uint8_t v)
{
	(void)v;
	((struct walk_item *)c)->kind = K_NEGINT;
}

static void
w_neg16(void *c, uint16_t v)
{
	(void)v;
	((struct walk_item *)c)->kind = K_NEGINT;
}

static void
w_neg32(void *c, uint32_t v)
{
	(void)v;
	((struct walk_item *)c)->kind = K_NEGINT;
}

static void
w_neg64(void *c, uint64_t v)
{
	(void)v;
	((struct walk_item *)c)->kind = K_NEGINT;
}

static void
w_bytes(void *c, cbor_data data, size_t len)
{
	((struct walk_item *)c)->kind = K_BYTES;
	((struct walk_item *)c)->data = data;
	((struct walk_item *)c)->len = len;
}

static void
w_text(void *c, cbor_data data, size_t len)
{
	((struct walk_item *)c)->kind = K_TEXT;
	((struct walk_item *)c)->data = data;
	((struct walk_item *)c)->len = len;
}

static void
w_array(void *c, size_t n)
{
	((struct walk_item *)c)->kind = K_ARRAY;
	((struct walk_item *)c)->u = n;
}

static void
w_map(void *c, size_t n)
{
	((struct walk_item *)c)->kind = K_MAP;
	((struct walk_item *)c)->u = n;
}

static void
w_tag(void *c, uint64_t v)
{
	(void)v;
	((struct walk_item *)c)->kind = K_TAG;
}

static void
w_float(void *c, float v)
{
	(void)v;
	((struct walk_item *)c)->kind = K_SIMPLE;
}

static void
w_double(void *c, double v)
{
	(void)v;
	((struct walk_item *)c)->kind = K_SIMPLE;
}

static void
w_bool(void *c, bool v)
{
	(void)v;
	((struct walk_item *)c)->kind = K_SIMPLE;
}

static void
w_simple(void *c)
{
	((struct walk_item *)c)->kind = K_SIMPLE;
}

static void
w_indef(void *c)
{
	((struct walk_item *)c)->kind = K_INDEF;
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

enum walk_res { WALK_OK, WALK_NEED, WALK_BAD };

/* What a record says about its place in the chain. */
struct walk_record {
	size_t len;			/* bytes of the record */
	uint64_t seq;
	uint8_t prev[AUDIT_HASH_LEN];
	const char *why;		/* for WALK_BAD */
};

enum {
	F_SEQ = 1 << 0, F_TIME = 1 << 1, F_TYPE = 1 << 2, F_ACTOR = 1 << 3,
	F_SUBJECT = 1 << 4, F_DETAILS = 1 << 5, F_PREV = 1 << 6,
	F_ALL = (1 << 7) - 1
};

static const struct {
	const char *name;
	int flag;
	enum walk_kind kind;
} walk_fields[] = {
	{ "seq", F_SEQ, K_UINT },
	{ "time", F_TIME, K_TEXT },
	{ "type", F_TYPE, K_TEXT },
	{ "actor", F_ACTOR, K_MAP },
	{ "subject", F_SUBJECT, K_MAP },
	{ "details", F_DETAILS, K_MAP },
	{ "prev", F_PREV, K_BYTES },
};

static enum walk_res
walk_bad(struct walk_record *r, const char *why)
{
	r->why = why;
	return WALK_BAD;
}

/*
 * Finds the record that starts at buf[0] within len bytes and checks its
 * top-level fields. WALK_NEED: the record does not end within len bytes.
 */
static enum walk_res
walk_record(const uint8_t *buf, size_t len, struct walk_record *r)
{
	uint64_t remaining[AUDIT_MAX_DEPTH + 1];
	size_t pos = 0, top_index = 0;
	int d = 0, seen = 0, field = -1;

	memset(r, 0, sizeof(*r));
	remaining[0] = 1;
	for (;;) {
		struct cbor_decoder_result res;
		struct walk_item it;
		uint64_t children = 0;
		int parent = d;

		if (pos == len)
			return WALK_NEED;
		memset(&it, 0, sizeof(it));
		res = cbor_stream_decode(buf + pos, len - pos, &walk_callbacks,
		    &it);
		if (res.status == CBOR_DECODER_NEDATA)
			return WALK_NEED;
		if (res.status != CBOR_DECODER_FINISHED || it.kind == K_NONE)
			return walk_bad(r, "malformed CBOR");
		if (it.kind == K_INDEF)
			return walk_bad(r, "indefinite-length item");
		pos += res.read;
		remaining[d]--;

		if (it.kind == K_ARRAY)
			children = it.u;
		else if (it.kind == K_MAP) {
			if (it.u > UINT64_MAX / 2)
				return walk_bad(r, "map too large");
			children = 2 * it.u;
		} else if (it.kind == K_TAG)
			children = 1;

		if (parent == 0 && it.kind != K_MAP)
			return walk_bad(r, "not a CBOR map");
		if (parent == 1 && top_index % 2 == 0) {
			/* A key of the record map. */
			size_t i;

			if (it.kind != K_TEXT)
				return walk_bad(r, "a field name is not text");
			field = -1;
			for (i = 0; i < sizeof(walk_fields) /
			    sizeof(walk_fields[0]); i++) {
				if (it.len == strlen(walk_fields[i].name) &&
				    memcmp(it.data, walk_fields[i].name,
				    it.len) == 0)
					field = (int)i;
			}
			if (field >= 0 && (seen & walk_fields[field].flag))
				return walk_bad(r, "a field appears twice");
		} else if (parent == 1 && field >= 0) {
			/* The value of a known field. */
			if (it.kind != walk_fields[field].kind)
				return walk_bad(r, "a field has the wrong type");
			seen |= walk_fields[field].flag;
			if (walk_fields[field].flag == F_SEQ)
				r->seq = it.u;
			if (walk_fields[field].flag == F_PREV) {
				if (it.len != AUDIT_HASH_LEN)
					return walk_bad(r, "prev is not 32 "
					    "bytes");
				memcpy(r->prev, it.data, AUDIT_HASH_LEN);
			}
		}
		if (parent == 1)
			top_index++;

		if (children > 0) {
			/* Each child takes at least one byte: a count the
			 * window cannot hold is an incomplete record. */
			if (children > len - pos)
				return WALK_NEED;
			if (d == AUDIT_MAX_DEPTH)
				return walk_bad(r, "nested too deeply");
			remaining[++d] = children;
		}
		while (d > 0 && remaining[d] == 0)
			d--;
		if (d == 0 && remaining[0] == 0)
			break;
	}
	if (seen != F_ALL)
		return walk_bad(r, "a required field is missing");
	r->len = pos;
	return WALK_OK;
}

/* ------------------------------------------------------------------ */
/* Reading: the whole file */

struct audit_scan {
	uint64_t nrec;			/* records verified */
	uint64_t end;			/* offset after the last of them */
	uint8_t prev[AUDIT_HASH_LEN];	/* hash of the last of them */
	uint64_t torn;			/* bytes after end, when returning 1 */
};

/* 1 when [off, size) of fd holds only zero bytes. */
static int
audit_zero_tail(int fd, uint64_t off, uint64_t size, uint8_t *buf,
    size_t buflen)
{
	while (off < size) {
		size_t want = size - off < buflen ? (size_t)(size - off) :
		    buflen;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		size_t i;

		if (n <= 0)
			return 0;
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != 0)
				return 0;
		off += (uint64_t)n;
	}
	return 1;
}

/*
 * Reads and checks every record of fd (size bytes), calling fn for each.
 * Returns 0 when every byte belongs to an intact record, 1 when the file
 * ends in an incomplete record (or in zero bytes a crash can leave), and -1
 * with "record N: ..." in err when a record is corrupt, out of sequence or
 * off the chain.
 */
static int
audit_scan(int fd, uint64_t size,
    int (*fn)(uint64_t seq, const uint8_t *rec, size_t len, void *arg),
    void *arg, struct audit_scan *sc, char *err, size_t errlen)
{
	const size_t cap = 2 * AUDIT_MAX_RECORD;
	uint8_t *buf, hash[AUDIT_HASH_LEN];
	size_t start = 0, end = 0;	/* buf[start, end) is file[off, ...) */
	uint64_t off = 0;
	struct walk_record r;
	int ret = 0;

	memset(sc, 0, sizeof(*sc));
	if ((buf = malloc(cap)) == NULL)
		return util_err(err, errlen, "out of memory");
	while (off < size) {
		uint64_t left = size - off;
		size_t window;
		enum walk_res wr;

		/* Have min(AUDIT_MAX_RECORD, left) bytes from off. */
		window = left < AUDIT_MAX_RECORD ? (size_t)left :
		    AUDIT_MAX_RECORD;
		if (end - start < window) {
			memmove(buf, buf + start, end - start);
			end -= start;
			start = 0;
			while (end < window) {
				uint64_t at = off + end;
				size_t want = cap - end;
				ssize_t n;

				if (want > size - at)
					want = (size_t)(size - at);
				n = pread(fd, buf + end, want, (off_t)at);
				if (n == -1 && errno == EINTR)
					continue;
				if (n <= 0) {
					ret = util_err(err, errlen, "record "
					    "%llu: read at offset %llu: %s",
					    (unsigned long long)sc->nrec,
					    (unsigned long long)at, n == 0 ?
					    "the file shrank while reading" :
					    strerror(errno));
					goto out;
				}
				end += (size_t)n;
			}
		}

		wr = walk_record(buf + start, window, &r);
		if (wr == WALK_NEED && window == left) {
			sc->torn = left;
			ret = 1;
			goto out;
		}
		if (wr == WALK_NEED) {
			ret = util_err(err, errlen, "record %llu at offset "
			    "%llu: longer than %d bytes",
			    (unsigned long long)sc->nrec,
			    (unsigned long long)off, AUDIT_MAX_RECORD);
			goto out;
		}
		if (wr == WALK_BAD) {
			/* Some file systems leave zeros after a crash where
			 * unsynced appends were; no record starts with 0. */
			if (buf[start] == 0 &&
			    audit_zero_tail(fd, off, size, buf, cap)) {
				sc->torn = left;
				ret = 1;
				goto out;
			}
			ret = util_err(err, errlen, "record %llu at offset "
			    "%llu: %s", (unsigned long long)sc->nrec,
			    (unsigned long long)off, r.why);
			goto out;
		}
		if (r.seq != sc->nrec) {
			ret = util_err(err, errlen, "record %llu at offset "
			    "%llu: sequence number is %llu",
			    (unsigned long long)sc->nrec,
			    (unsigned long long)off,
			    (unsigned long long)r.seq);
			goto out;
		}
		if (memcmp(r.prev, sc->prev, AUDIT_HASH_LEN) != 0) {
			ret = util_err(err, errlen, "record %llu at offset "
			    "%llu: prev does not match the hash of record "
			    "%lld (one of the two was changed)",
			    (unsigned long long)sc->nrec,
			    (unsigned long long)off,
			    (long long)sc->nrec - 1);
			goto out;
		}
		if (audit_sha256(buf + start, r.len, hash) == -1) {
			ret = util_err(err, errlen, "SHA-256 failed");
			goto out;
		}
		if (fn != NULL && fn(sc->nrec, buf + start, r.len, arg) != 0) {
			ret = util_err(err, errlen, "record %llu: reading "
			    "stopped by the caller",
			    (unsigned long long)sc->nrec);
			goto out;
		}
		memcpy(sc->prev, hash, AUDIT_HASH_LEN);
		sc->nrec++;
		start += r.len;
		off += r.len;
		sc->end = off;
	}
out:
	free(buf);
	return ret;
}

/* Opens path and checks it is a regular file; -1 with err otherwise. */
static int
audit_open_file(const char *path, int flags, int *created, struct stat *sb,
    char *err, size_t errlen)
{
	int fd, e;

	*created = 0;
	fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 && errno == ENOENT && (flags & O_ACCMODE) != O_RDONLY) {
		fd = open(path, flags | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		*created = fd != -1;
	}
	if (fd == -1) {
		e = errno;
		util_err(err, errlen, "audit: open %s: %s", path,
		    e == ELOOP ? "is a symbolic link" : audit_strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, sb) == -1) {
		e = errno;
		close(fd);
		util_err(err, errlen, "audit: stat %s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (!S_ISREG(sb->st_mode)) {
		close(fd);
		return util_err(err, errlen, "audit: %s is not a regular file",
		    path);
	}
	return fd;
}

/* Makes a new file's directory entry durable. */
static int
audit_sync_dir(const char *path, char *err, size_t errlen)
{
	char copy[PATH_MAX];
	int dfd, e;

	memcpy(copy, path, strlen(path) + 1);
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || fsync(dfd) == -1) {
		e = errno;
		if (dfd != -1)
			close(dfd);
		return util_err(err, errlen, "audit: fsync of the directory "
		    "of %s: %s", path, audit_strerror(e));
	}
	close(dfd);
	return 0;
}

int
audit_open(const char *path, struct audit **out, size_t *torn_bytes,
    char *err, size_t errlen)
{
	struct audit_scan sc;
	struct audit *a;
	struct stat sb;
	char why[256];
	int fd, created, rc;

	*out = NULL;
	if (torn_bytes != NULL)
		*torn_bytes = 0;
	if (path == NULL || path[0] == '\0')
		return util_err(err, errlen, "audit: no log path given");
	if (strlen(path) >= sizeof(a->path))
		return util_err(err, errlen, "audit: log path too long");
	fd = audit_open_file(path, O_RDWR | O_APPEND, &created, &sb, err,
	    errlen);
	if (fd == -1)
		return -1;
	if (sb.st_uid != geteuid()) {
		close(fd);
		return util_err(err, errlen, "audit: %s is owned by uid %lu, "
		    "not by this process", path, (unsigned long)sb.st_uid);
	}
	if ((sb.st_mode & 077) != 0 && fchmod(fd, 0600) == -1) {
		util_err(err, errlen, "audit: chmod 0600 %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	/* Two writers would fork the chain. */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		util_err(err, errlen, "audit: %s: %s", path,
		    errno == EWOULDBLOCK ? "in use by another process" :
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (created && audit_sync_dir(path, err, errlen) == -1) {
		close(fd);
		return -1;
	}

	rc = audit_scan(fd, (uint64_t)sb.st_size, NULL, NULL, &sc, why,
	    sizeof(why));
	if (rc == -1) {
		close(fd);
		return util_err(err, errlen, "audit: %s: %s; refusing to "
		    "append to it (an operator must inspect the log)", path,
		    why);
	}
	if (rc == 1) {
		/* Only a crash during an unsynced append leaves this, and
		 * the state commit of that batch never happened either. */
		if (ftruncate(fd, (off_t)sc.end) == -1 || fsync(fd) == -1) {
			util_err(err, errlen, "audit: %s: truncating an "
			    "incomplete final record of %llu bytes: %s", path,
			    (unsigned long long)sc.torn,
			    audit_strerror(errno));
			close(fd);
			return -1;
		}
		if (torn_bytes != NULL)
			*torn_bytes = (size_t)sc.torn;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		close(fd);
		return util_err(err, errlen, "audit: out of memory");
	}
	a->fd = fd;
	a->healthy = 1;
	a->seq = sc.nrec;
	a->size = sc.end;
	memcpy(a->prev, sc.prev, sizeof(a->prev));
	memcpy(a->path, path, strlen(path) + 1);
	*out = a;
	return 0;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	close(a->fd);
	free(a);
}

int
audit_read_file(const char *path,
    int (*fn)(uint64_t seq, const uint8_t *rec, size_t len, void *arg),
    void *arg, char *err, size_t errlen)
{
	struct audit_scan sc;
	struct stat sb;
	int fd, created, rc;

	fd = audit_open_file(path, O_RDONLY, &created, &sb, err, errlen);
	if (fd == -1)
		return -1;
	rc = audit_scan(fd, (uint64_t)sb.st_size, fn, arg, &sc, err, errlen);
	close(fd);
	if (rc == 1)
		return util_err(err, errlen, "record %llu: incomplete final "
		    "record (%llu bytes at offset %llu)",
		    (unsigned long long)sc.nrec, (unsigned long long)sc.torn,
		    (unsigned long long)sc.end);
	return rc;
}
