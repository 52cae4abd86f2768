/*
 * auditcsv — see auditcsv.h. Record text is valid UTF-8 (auditfmt_decode
 * checks it), so quoting for JSON only escapes; CSV needs no re-encoding.
 */
#include "lib/auditcsv.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

static const char *const names_en[AUDITCSV_NCOLS] = {
	"seq", "time", "clock", "type", "user", "dept", "terminal", "cert_fp",
	"peer", "transfer", "interface", "service", "details",
	"record_sha256", "local_time", "class", "name", "size", "sha256",
	"state", "result", "reason", "comment",
};

static const char *const names_ja[AUDITCSV_NCOLS] = {
	"通番", "日時(UTC)", "時刻同期", "種別", "利用者", "所属", "端末",
	"証明書指紋", "接続元", "転送ID", "インタフェース", "送信先", "詳細",
	"記録SHA-256", "日時", "機密性区分", "ファイル名", "サイズ",
	"SHA-256", "状態", "結果", "理由", "コメント",
};

const char *
auditcsv_col_name(enum auditcsv_col c, enum auditcsv_lang lang)
{
	if ((int)c < 0 || c >= AUDITCSV_NCOLS)
		return "";
	return lang == AUDITCSV_JA ? names_ja[c] : names_en[c];
}

/* ---- buffer -------------------------------------------------------------- */

void
auditcsv_buf_free(struct auditcsv_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void
put(struct auditcsv_buf *b, const void *p, size_t len)
{
	if (b->failed)
		return;
	if (b->cap - b->len < len + 1) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap - b->len < len + 1) {
			if (cap > SIZE_MAX / 2) {
				b->failed = 1;
				return;
			}
			cap *= 2;
		}
		if ((np = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void
putc1(struct auditcsv_buf *b, char c)
{
	put(b, &c, 1);
}

void
auditcsv_json_quote(struct auditcsv_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	putc1(b, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		put(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(b, esc, 2);
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			put(b, esc, 6);
		}
	}
	put(b, s + run, len - run);
	putc1(b, '"');
}

/* ---- CSV ----------------------------------------------------------------- */

void
auditcsv_cell_put(struct auditcsv_buf *b, const char *p, size_t len,
    int first)
{
	size_t i, run = 0;
	int quote = 0;

	if (!first)
		putc1(b, ',');
	if (p == NULL)
		return;
	for (i = 0; i < len; i++)
		if (p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r')
			quote = 1;
	if (quote)
		putc1(b, '"');
	/* A spreadsheet runs a cell that starts with one of these. */
	if (len > 0 && memchr("=+-@\t\r", p[0], 6) != NULL)
		putc1(b, '\'');
	for (i = 0; i < len; i++)
		if (p[i] == '"') {
			put(b, p + run, i + 1 - run);
			run = i;	/* the quote again: doubled */
		}
	put(b, p + run, len - run);
	if (quote)
		putc1(b, '"');
}

void
auditcsv_header(struct auditcsv_buf *b, enum auditcsv_lang lang, int bom)
{
	int c;

	if (bom)
		put(b, "\xef\xbb\xbf", 3);
	for (c = 0; c < AUDITCSV_NCOLS; c++) {
		const char *n = auditcsv_col_name((enum auditcsv_col)c, lang);

		auditcsv_cell_put(b, n, strlen(n), c == 0);
	}
	put(b, "\r\n", 2);
}

void
auditcsv_row_put(struct auditcsv_buf *b, const struct auditcsv_row *row)
{
	int c;

	for (c = 0; c < AUDITCSV_NCOLS; c++)
		auditcsv_cell_put(b, row->cell[c].p, row->cell[c].len, c == 0);
	put(b, "\r\n", 2);
}

/* ---- personal numbers ------------------------------------------------------ */

/* The digit at s[i] (ASCII or full-width): its value and byte length, or
 * 0 when there is none. */
static size_t
digit_at(const char *s, size_t len, size_t i, int *val)
{
	const unsigned char *p = (const unsigned char *)s + i;

	if (i >= len)
		return 0;
	if (p[0] >= '0' && p[0] <= '9') {
		*val = p[0] - '0';
		return 1;
	}
	/* U+FF10..U+FF19: EF BC 90..99 */
	if (len - i >= 3 && p[0] == 0xef && p[1] == 0xbc && p[2] >= 0x90 &&
	    p[2] <= 0x99) {
		*val = p[2] - 0x90;
		return 3;
	}
	return 0;
}

/* 1 when the digit before s[i] exists (so no number starts at i). */
static int
digit_before(const char *s, size_t i)
{
	const unsigned char *p = (const unsigned char *)s;

	if (i >= 1 && p[i - 1] >= '0' && p[i - 1] <= '9')
		return 1;
	return i >= 3 && p[i - 3] == 0xef && p[i - 2] == 0xbc &&
	    p[i - 1] >= 0x90 && p[i - 1] <= 0x99;
}

/* The bytes of a personal number (個人番号: 12 digits, the last a valid
 * check digit, optionally grouped 4-4-4 by '-' or ' ') starting at s[i],
 * or 0. */
static size_t
mynumber_at(const char *s, size_t len, size_t i)
{
	int d[12], sum = 0, n, check;
	size_t at = i, k;

	if (digit_before(s, i))
		return 0;
	for (n = 0; n < 12; n++) {
		if ((n == 4 || n == 8) && at < len &&
		    (s[at] == '-' || s[at] == ' '))
			at++;
		if ((k = digit_at(s, len, at, &d[n])) == 0)
			return 0;
		at += k;
	}
	if (digit_at(s, len, at, &n) != 0)
		return 0;		/* a longer number */
	for (n = 1; n <= 11; n++)
		sum += d[11 - n] * (n <= 6 ? n + 1 : n - 5);
	check = sum % 11 <= 1 ? 0 : 11 - sum % 11;
	return d[11] == check ? at - i : 0;
}

size_t
auditcsv_mask_mynumber(const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0, n, k;
	int v;

	while (i < len) {
		if ((n = mynumber_at(in, len, i)) == 0) {
			out[o++] = in[i++];
			continue;
		}
		for (k = i; k < i + n;) {
			size_t dl = digit_at(in, len, k, &v);

			if (dl == 0) {
				out[o++] = in[k++];	/* a separator */
				continue;
			}
			out[o++] = '*';
			k += dl;
		}
		i += n;
	}
	return o;
}

int
auditcsv_has_mynumber(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (mynumber_at(s, len, i) != 0)
			return 1;
	return 0;
}

/* Hashes and ids written as hex text are never personal numbers. */
static int
is_hex_text(const char *s, size_t len)
{
	size_t i;

	if (len < 32)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}

/* ---- flattening ------------------------------------------------------------ */

/* "YYYY-MM-DDTHH:MM:SSZ" (exactly) as an instant. */
static int
parse_utc(const char *time, size_t len, time_t *t)
{
	char tmp[21];
	struct tm tm;
	const char *end;

	if (time == NULL || len != 20)
		return -1;
	memcpy(tmp, time, 20);
	tmp[20] = '\0';
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(tmp, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	*t = timegm(&tm);
	return 0;
}

int
auditcsv_local_time(const char *time, size_t len, int32_t offset, char *out,
    size_t outlen)
{
	struct tm tm;
	time_t t;
	int32_t a;

	if (outlen < 26 || parse_utc(time, len, &t) != 0)
		return -1;
	t += offset;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
		return -1;
	a = offset < 0 ? -offset : offset;
	snprintf(out + 19, outlen - 19, "%c%02d:%02d", offset < 0 ? '-' : '+',
	    (int)(a / 3600) % 100, (int)(a % 3600) / 60);
	return 0;
}

static int
key_is(const struct auditfmt_detail *d, const char *k)
{
	return d->key.len == strlen(k) && memcmp(d->key.p, k, d->key.len) == 0;
}

static void
text_cell(struct auditcsv_cell *c, const struct auditfmt_text *t)
{
	c->p = t->p;
	c->len = t->p != NULL ? t->len : 0;
}

/* The details that get a column of their own, with the type they must
 * have for it. */
static const struct {
	const char *key;
	enum auditfmt_vtype type;
	enum auditcsv_col col;
} flat[] = {
	{ "class", AUDITFMT_V_UINT, AUDITCSV_CLASS },
	{ "name", AUDITFMT_V_TEXT, AUDITCSV_NAME },
	{ "size", AUDITFMT_V_UINT, AUDITCSV_SIZE },
	{ "sha256", AUDITFMT_V_BYTES, AUDITCSV_SHA256 },
	{ "state", AUDITFMT_V_TEXT, AUDITCSV_STATE },
	{ "result", AUDITFMT_V_TEXT, AUDITCSV_RESULT },
	{ "reason", AUDITFMT_V_TEXT, AUDITCSV_REASON },
	{ "comment", AUDITFMT_V_TEXT, AUDITCSV_COMMENT },
};

static void
details_json(struct auditcsv_buf *b, const struct auditfmt_record *r)
{
	char hex[2 * 256 + 1];
	size_t i;

	putc1(b, '{');
	for (i = 0; i < r->ndetails; i++) {
		const struct auditfmt_detail *d = &r->details[i];
		char num[24];

		if (i > 0)
			putc1(b, ',');
		auditcsv_json_quote(b, d->key.p, d->key.len);
		putc1(b, ':');
		switch (d->type) {
		case AUDITFMT_V_TEXT: {
			const char *t = (const char *)d->data;
			char *m;

			if (!is_hex_text(t, d->len) &&
			    auditcsv_has_mynumber(t, d->len)) {
				if ((m = malloc(d->len)) == NULL) {
					b->failed = 1;
					break;
				}
				auditcsv_json_quote(b, m,
				    auditcsv_mask_mynumber(t, d->len, m));
				free(m);
			} else
				auditcsv_json_quote(b, t, d->len);
			break;
		}
		case AUDITFMT_V_UINT:
			snprintf(num, sizeof(num), "%" PRIu64, d->u);
			put(b, num, strlen(num));
			break;
		case AUDITFMT_V_BOOL:
			put(b, d->u ? "true" : "false", d->u ? 4 : 5);
			break;
		case AUDITFMT_V_BYTES: {
			size_t done = 0;

			putc1(b, '"');
			while (done < d->len) {
				size_t n = d->len - done < 256 ?
				    d->len - done : 256;

				util_hex(d->data + done, n, hex);
				put(b, hex, 2 * n);
				done += n;
			}
			putc1(b, '"');
			break;
		}
		}
	}
	putc1(b, '}');
}

void
auditcsv_row_clear(struct auditcsv_row *row)
{
	int c;

	free(row->details);
	row->details = NULL;
	for (c = 0; c < AUDITCSV_NCOLS; c++) {
		free(row->masked[c]);
		row->masked[c] = NULL;
	}
}

/* A cell with its personal numbers masked, in a copy the row owns. */
static int
mask_cell(struct auditcsv_row *row, enum auditcsv_col c)
{
	struct auditcsv_cell *x = &row->cell[c];

	if (x->p == NULL || !auditcsv_has_mynumber(x->p, x->len))
		return 0;
	if ((row->masked[c] = malloc(x->len)) == NULL)
		return -1;
	x->len = auditcsv_mask_mynumber(x->p, x->len, row->masked[c]);
	x->p = row->masked[c];
	return 0;
}

int
auditcsv_flatten(const uint8_t *rec, size_t len,
    const struct auditfmt_record *r, const struct auditcsv_zone *z,
    struct auditcsv_row *row, char *err, size_t errlen)
{
	struct auditcsv_buf jb = { NULL, 0, 0, 0 };
	uint8_t sha[AUDITFMT_HASH_LEN];
	unsigned int shalen = sizeof(sha);
	size_t i, k;

	memset(row, 0, sizeof(*row));
	row->seq = r->seq;
	snprintf(row->seqbuf, sizeof(row->seqbuf), "%" PRIu64, r->seq);
	row->cell[AUDITCSV_SEQ].p = row->seqbuf;
	row->cell[AUDITCSV_SEQ].len = strlen(row->seqbuf);
	text_cell(&row->cell[AUDITCSV_TIME], &r->time);
	text_cell(&row->cell[AUDITCSV_CLOCK], &r->clock);
	text_cell(&row->cell[AUDITCSV_TYPE], &r->type);
	text_cell(&row->cell[AUDITCSV_USER], &r->user);
	text_cell(&row->cell[AUDITCSV_DEPT], &r->dept);
	text_cell(&row->cell[AUDITCSV_TERMINAL], &r->terminal);
	text_cell(&row->cell[AUDITCSV_CERT_FP], &r->cert_fp);
	text_cell(&row->cell[AUDITCSV_PEER], &r->peer);
	text_cell(&row->cell[AUDITCSV_TRANSFER], &r->transfer);
	text_cell(&row->cell[AUDITCSV_INTERFACE], &r->interface);
	text_cell(&row->cell[AUDITCSV_SERVICE], &r->service);
	if (z != NULL && r->time.p != NULL) {
		time_t t;

		/* The offset in force at the record's own instant. */
		if (parse_utc(r->time.p, r->time.len, &t) != 0 ||
		    auditcsv_local_time(r->time.p, r->time.len,
		    z->offset(z->ctx, (int64_t)t), row->local,
		    sizeof(row->local)) != 0)
			return util_err(err, errlen, "record %" PRIu64 ": its "
			    "time is not an RFC 3339 UTC time", r->seq);
		row->cell[AUDITCSV_LOCAL_TIME].p = row->local;
		row->cell[AUDITCSV_LOCAL_TIME].len = strlen(row->local);
	}
	for (i = 0; i < r->ndetails; i++) {
		const struct auditfmt_detail *d = &r->details[i];
		struct auditcsv_cell *c;

		for (k = 0; k < sizeof(flat) / sizeof(flat[0]); k++)
			if (key_is(d, flat[k].key) && d->type == flat[k].type)
				break;
		if (k == sizeof(flat) / sizeof(flat[0]))
			continue;
		c = &row->cell[flat[k].col];
		if (c->p != NULL)
			continue;	/* keys are unique; be safe anyway */
		row->flat_mask |= (uint64_t)1 << i;
		switch (flat[k].col) {
		case AUDITCSV_CLASS:
			row->has_class = 1;
			row->class = d->u;
			snprintf(row->classbuf, sizeof(row->classbuf), "%" PRIu64,
			    d->u);
			c->p = row->classbuf;
			c->len = strlen(row->classbuf);
			break;
		case AUDITCSV_SIZE:
			row->has_size = 1;
			row->size = d->u;
			snprintf(row->sizebuf, sizeof(row->sizebuf), "%" PRIu64,
			    d->u);
			c->p = row->sizebuf;
			c->len = strlen(row->sizebuf);
			break;
		case AUDITCSV_SHA256:
			if (d->len != AUDITFMT_HASH_LEN) {
				row->flat_mask &= ~((uint64_t)1 << i);
				break;
			}
			util_hex(d->data, d->len, row->sha256);
			c->p = row->sha256;
			c->len = 2 * AUDITFMT_HASH_LEN;
			break;
		default:
			c->p = (const char *)d->data;
			c->len = d->len;
			break;
		}
	}
	/* Free text a person typed (a file name, a purpose, a comment) may
	 * hold a personal number: never shown. */
	if (mask_cell(row, AUDITCSV_NAME) != 0 ||
	    mask_cell(row, AUDITCSV_STATE) != 0 ||
	    mask_cell(row, AUDITCSV_RESULT) != 0 ||
	    mask_cell(row, AUDITCSV_REASON) != 0 ||
	    mask_cell(row, AUDITCSV_COMMENT) != 0) {
		auditcsv_row_clear(row);
		return util_err(err, errlen, "out of memory");
	}
	details_json(&jb, r);
	if (jb.failed) {
		auditcsv_buf_free(&jb);
		auditcsv_row_clear(row);
		return util_err(err, errlen, "out of memory");
	}
	row->details = jb.p;
	row->details_len = jb.len;
	row->cell[AUDITCSV_DETAILS].p = row->details;
	row->cell[AUDITCSV_DETAILS].len = row->details_len;
	if (EVP_Digest(rec, len, sha, &shalen, EVP_sha256(), NULL) != 1) {
		auditcsv_row_clear(row);
		return util_err(err, errlen, "SHA-256 failed");
	}
	util_hex(sha, sizeof(sha), row->record_sha256);
	row->cell[AUDITCSV_RECORD_SHA256].p = row->record_sha256;
	row->cell[AUDITCSV_RECORD_SHA256].len = 2 * AUDITFMT_HASH_LEN;
	return 0;
}
