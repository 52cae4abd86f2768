/*
 * auditsearch — the auditor's reading of the trail in the broker, for the
 * browser's audit pages (and any sekisho/1 client): docs/audit.md,
 * "Search and CSV", docs/protocol.md.
 *
 *   audit_search {?user, ?interface, ?transfer, ?type, ?since, ?until,
 *                 ?after, ?limit}
 *   <- audit_record {seq, time, time_local, zone, type, user, ...}  each
 *      matching record, in seq order, at most limit (default 100, <= 500)
 *   <- listed {count, ?next}   next: the seq to give as after to go on
 *
 *   audit_csv {?since, ?until, ?header: "ja" | "en"}
 *   <- audit_csv_head {content_type, filename, zone}
 *   <- data items: the CSV (lib/auditcsv.h), local times in the register's
 *      zone, a byte order mark and Japanese headings with header ja
 *   <- audit_done {count}      records written
 *
 * since and until are RFC 3339 times (Z or an offset) or dates
 * (YYYY-MM-DD, a whole day in the register's time zone). A transfer's
 * timeline is audit_search with transfer = its id.
 *
 * Only auditors (the table checks the role; refusals are recorded as
 * audit_pull_refused). Each request is itself recorded (audit_search,
 * audit_csv) with its filters. The trail is read on the commit thread,
 * one chunk per job, as audit pull does: a search reads at most
 * AUDITSEARCH_SCAN_MAX records per request and then answers listed with
 * next, so a search for something rare over a long trail is a series of
 * bounded requests; a CSV export streams the whole period and waits while
 * the client has not taken its output.
 */
#ifndef SEKISHO_AUDITSEARCH_H
#define SEKISHO_AUDITSEARCH_H

#include <stdint.h>
#include <time.h>

#define AUDITSEARCH_LIMIT 100		/* records when limit is absent */
#define AUDITSEARCH_SCAN_MAX 50000	/* records read per search request */

struct reqconn;
struct tzone;
struct wire_msg;

/* Handlers (loop thread); the table has checked the auditor role. */
void auditsearch_handle_search(struct reqconn *c, const struct wire_msg *m);
void auditsearch_handle_csv(struct reqconn *c, const struct wire_msg *m);

/*
 * A time of a request: "YYYY-MM-DDTHH:MM:SSZ", "...+09:00" / "...-03:30",
 * or "YYYY-MM-DD" (the start of that day in tz, or its last second when
 * end_of_day). 0 with *out, -1 when s is none of these.
 */
int auditsearch_parse_when(const char *s, const struct tzone *tz,
    int end_of_day, time_t *out);

#endif
