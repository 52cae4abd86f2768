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
 * CSV: lib/auditcsv.h (the same rows the broker's audit_csv answers), with
 * the header row in English or Japanese and local_time in the zone given.
 *
 * JSON Lines: one JSON object per record, the record itself (byte strings
 * as lowercase hex), keys in the record's order.
 */
#ifndef SEKISHO_AUDITSHOW_H
#define SEKISHO_AUDITSHOW_H

#include <stddef.h>
#include <stdio.h>

#include "lib/auditcsv.h"

enum auditshow_format { AUDITSHOW_CSV, AUDITSHOW_JSONL };

/* Prints the events of transfer (32 hex digits) to out. Returns the number
 * of records found (0: none), or -1 with err. */
int auditshow_transfer(const char *dir, const char *transfer, FILE *out,
    char *err, size_t errlen);

/* Writes every record of dir to out. Returns the number of records, or -1
 * with err (a record that cannot be decoded stops the export). */
long auditshow_export(const char *dir, enum auditshow_format fmt,
    enum auditcsv_lang lang, const struct auditcsv_zone *zone, FILE *out,
    char *err, size_t errlen);

#endif
