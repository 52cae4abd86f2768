/*
 * auditcsv — audit records flattened for people: named cells (for the
 * broker's audit_search answers) and CSV rows (the broker's audit_csv and
 * the client's `sekisho audit export --format csv`, one implementation so
 * both give the same bytes for the same records). docs/audit.md, "Export".
 *
 * CSV: RFC 4180 (a cell is quoted when it holds a comma, quote, CR or LF;
 * quotes doubled), CRLF line ends, UTF-8 (a byte order mark first when the
 * caller asks, for Excel). A cell that starts with =, +, -, @, TAB or CR
 * gets a leading apostrophe so a spreadsheet never runs it as a formula.
 * The columns, in this order (new columns only ever come at the end):
 *
 *   seq, time, clock, type, user, dept, terminal, cert_fp, peer, transfer,
 *   interface, service, details, record_sha256,
 *   local_time, class, name, size, sha256, state, result, reason, comment
 *
 * time is UTC as recorded; local_time the same instant in the caller's
 * zone ("2026-11-22T10:20:31+09:00"); details the record's details as one
 * JSON object (byte strings as lowercase hex); record_sha256 the SHA-256
 * of the record's bytes (the next record's prev); class..comment the
 * details of those names, when the record has them with the usual type
 * (class and size numbers, sha256 bytes, the rest text).
 *
 * Personal numbers (個人番号, 12 digits with a valid check digit, ASCII or
 * full-width, optionally grouped 4-4-4) in the free text of name, state,
 * result, reason, comment and of the details' text values are shown as
 * '*' per digit: a flattened record is for reading, and such a number
 * must never be shown. Evidence keeps the bytes: a pull, a bundle, JSON
 * Lines.
 *
 * Nothing here prints or allocates beyond what the caller frees: a row
 * owns its details text (auditcsv_row_clear), a buffer its bytes.
 */
#ifndef SEKISHO_AUDITCSV_H
#define SEKISHO_AUDITCSV_H

#include <stddef.h>
#include <stdint.h>

#include "lib/auditfmt.h"

enum auditcsv_col {
	AUDITCSV_SEQ, AUDITCSV_TIME, AUDITCSV_CLOCK, AUDITCSV_TYPE,
	AUDITCSV_USER, AUDITCSV_DEPT, AUDITCSV_TERMINAL, AUDITCSV_CERT_FP,
	AUDITCSV_PEER, AUDITCSV_TRANSFER, AUDITCSV_INTERFACE,
	AUDITCSV_SERVICE, AUDITCSV_DETAILS, AUDITCSV_RECORD_SHA256,
	AUDITCSV_LOCAL_TIME, AUDITCSV_CLASS, AUDITCSV_NAME, AUDITCSV_SIZE,
	AUDITCSV_SHA256, AUDITCSV_STATE, AUDITCSV_RESULT, AUDITCSV_REASON,
	AUDITCSV_COMMENT,
	AUDITCSV_NCOLS
};

enum auditcsv_lang { AUDITCSV_EN, AUDITCSV_JA };

/* The caller's time zone: seconds east of UTC in force at instant t. */
struct auditcsv_zone {
	int32_t (*offset)(const void *ctx, int64_t t);
	const void *ctx;
};

/* One record, flattened. Cells point into the record bytes or into the
 * row itself; a cell with p == NULL is empty. Valid as long as both. */
struct auditcsv_cell {
	const char *p;
	size_t len;
};

struct auditcsv_row {
	struct auditcsv_cell cell[AUDITCSV_NCOLS];
	uint64_t seq;
	int has_class, has_size;
	uint64_t class, size;
	char seqbuf[24], classbuf[24], sizebuf[24];
	char local[32];
	char sha256[2 * AUDITFMT_HASH_LEN + 1];
	char record_sha256[2 * AUDITFMT_HASH_LEN + 1];
	char *details;			/* malloc'd JSON object */
	char *masked[AUDITCSV_NCOLS];	/* malloc'd cells, personal numbers
					   masked */
	size_t details_len;
	/* Which details made their own column (the rest is only in
	 * details): a bit per index of r->details. */
	uint64_t flat_mask;
};

/* Column name (lang: English key, or the Japanese heading). */
const char *auditcsv_col_name(enum auditcsv_col c, enum auditcsv_lang lang);

/*
 * Flattens record rec[0:len], decoded as r, into row (overwritten; clear
 * it with auditcsv_row_clear). z may be NULL: local_time is then left
 * empty. -1 with err when out of memory or the time is not RFC 3339.
 */
int auditcsv_flatten(const uint8_t *rec, size_t len,
    const struct auditfmt_record *r, const struct auditcsv_zone *z,
    struct auditcsv_row *row, char *err, size_t errlen);
void auditcsv_row_clear(struct auditcsv_row *row);

/* "2026-11-22T01:20:31Z" at offset seconds east: "2026-11-22T10:20:31+09:00"
 * (out of at least 26 bytes). -1 when time is not such a UTC time. */
int auditcsv_local_time(const char *time, size_t len, int32_t offset,
    char *out, size_t outlen);

/* A growing output buffer. */
struct auditcsv_buf {
	char *p;
	size_t len, cap;
	int failed;			/* an allocation failed: p is short */
};

void auditcsv_buf_free(struct auditcsv_buf *b);

/* Appends one cell: a comma first unless first, quoted and defused as
 * described above. */
void auditcsv_cell_put(struct auditcsv_buf *b, const char *p, size_t len,
    int first);

/* Appends the header row (with a byte order mark first when bom). */
void auditcsv_header(struct auditcsv_buf *b, enum auditcsv_lang lang,
    int bom);

/* Appends row as one CSV line. */
void auditcsv_row_put(struct auditcsv_buf *b, const struct auditcsv_row *row);

/* Copies in[0:len] to out (at least len bytes) with every digit of a
 * personal number replaced by '*'; returns the bytes written (<= len). */
size_t auditcsv_mask_mynumber(const char *in, size_t len, char *out);

/* 1 when s[0:len] holds a personal number. */
int auditcsv_has_mynumber(const char *s, size_t len);

/* Appends s[0:len] as a JSON string (UTF-8 kept, quotes, backslashes and
 * control characters escaped). */
void auditcsv_json_quote(struct auditcsv_buf *b, const char *s, size_t len);

#endif
