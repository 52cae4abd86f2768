/*
 * refusals — connections refused before they authenticated, into the log
 * and the audit trail at a bounded rate.
 *
 * Every refusal is counted per source (an IPv4 address or an IPv6 prefix,
 * limits.source_prefix_v6) in b->admission (see admission.h): the first from a quiet source is logged and written to the
 * trail at once; the rest are logged for the first few per interval and
 * written as one counted `refuse` record per source when the interval
 * (limits.refusal_interval) ends, and at shutdown. docs/audit.md describes
 * the record.
 *
 * Loop thread only. refusals_start creates b->admission and the interval
 * timer (after b->base and the commit thread exist); refusals_stop frees
 * them, after the loop has ended.
 */
#ifndef SEKISHO_REFUSALS_H
#define SEKISHO_REFUSALS_H

#include <stddef.h>

struct broker;

int refusals_start(struct broker *b, char *err, size_t errlen);
void refusals_stop(struct broker *b);

/* One refusal of a connection from source (its address; peer is address
 * and port) for why, worded by the caller and kept as it is. */
void refusals_note(struct broker *b, const char *source, const char *peer,
    const char *why);

/* Writes what was counted since the last interval now (shutdown). */
void refusals_flush(struct broker *b);

#endif
