/*
 * auditshow — reading a pulled trail for people and tools, offline:
 *
 *   sekisho audit show TRANSFER_ID DIR   every event of one transfer, in
 *                                        order, one readable line each
 *   sekisho audit export DIR --format csv|jsonl [--output FILE]
 *
 * show marks a record that a later "reconcile" record of the transfer voided
 * with "[voided by N]" (docs/audit.md). Both read DIR/records.audit as
 * pulled; neither checks signatures (run
 * `sekisho audit verify` first). Text from records is untrusted: show
 * sanitises it for the terminal, the exports escape it for their format.
 *
 * CSV (RFC 4180, UTF-8 with a byte order mark, CRLF line ends, every field
 * quoted when it holds a comma, quote or line break) has these columns,
 * in this order, and only ever gains columns at the end:
 *   seq, time, clock, type, user, dept, terminal, cert_fp, peer, transfer,
 *   interface, service, details, record_sha256
 * details is the record's details as one JSON object (byte strings as
 * lowercase hex); record_sha256 is the SHA-256 of the record's bytes (the
 * "prev" of the next record). A text field that starts with =, +, -, @,
 * tab or CR gets a leading apostrophe so a spreadsheet never runs it as a
 * formula.
 *
 * JSON Lines: one JSON object per record, the record itself (byte strings
 * as lowercase hex), keys in the record's order.
 */
#ifndef SEKISHO_AUDITSHOW_H
#define SEKISHO_AUDITSHOW_H

#include <stddef.h>
#include <stdio.h>

enum auditshow_format { AUDITSHOW_CSV, AUDITSHOW_JSONL };

/* Prints the events of transfer (32 hex digits) to out. Returns the number
 * of records found (0: none), or -1 with err. */
int auditshow_transfer(const char *dir, const char *transfer, FILE *out,
    char *err, size_t errlen);

/* Writes every record of dir to out. Returns the number of records, or -1
 * with err (a record that cannot be decoded stops the export). */
long auditshow_export(const char *dir, enum auditshow_format fmt, FILE *out,
    char *err, size_t errlen);

#endif
