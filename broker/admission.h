/*
 * admission — who may hold a connection, and how refusals reach the trail.
 *
 * Both are keyed by the source address of a connection (the peer's IP
 * address without the port; the accept path computes it, so a proxy's
 * PROXY-protocol address can take its place later).
 *
 * Connections per source: a count of the live connections of each source,
 * so one address cannot take every slot (limits.max_connections_per_source).
 *
 * Refusals: a peer that fails or abandons its handshake is refused, and
 * every refusal used to be one signed record, so one looping client could
 * grow the trail by hundreds of megabytes an hour. Refusals are counted per
 * source instead: the first from a source that was quiet is written at once
 * (so a single refusal is still seen promptly); the rest are summed into
 * one record per source and interval (count, first and last time, the
 * reasons with their counts). The table of sources is bounded; once full,
 * further sources share one entry, "*".
 *
 * Pure bookkeeping: no I/O, no clock of its own, loop thread only.
 * Ownership: admission_new returns a table freed by admission_free.
 */
#ifndef SEKISHO_ADMISSION_H
#define SEKISHO_ADMISSION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ADMISSION_SOURCE_LEN 64		/* an address as text, with NUL */
#define ADMISSION_REASONS 4		/* distinct reasons kept per summary */
#define ADMISSION_LOG_PER_INTERVAL 5	/* refusals logged per source and
					   interval; the rest only counted */

struct admission;

/* One source's refusals since the last flush. */
struct admission_summary {
	char source[ADMISSION_SOURCE_LEN];
	uint64_t count;
	uint64_t unlogged;		/* of count, not logged one by one */
	time_t first, last;
	char reasons[512];		/* "reason (n); reason (n)" */
	char reason[256];		/* the most frequent */
};

/* max_sources bounds the refusal table. NULL when out of memory. */
struct admission *admission_new(size_t max_sources);
void admission_free(struct admission *a);

/* The source address of sa as text ("192.0.2.1", "2001:db8::1"); "unknown"
 * for other families. out holds ADMISSION_SOURCE_LEN bytes. */
struct sockaddr;
void admission_source(const struct sockaddr *sa, char *out);

/* Counts one more connection of source unless it already has max: 0 when
 * counted, 1 when at the cap (nothing counted), -1 out of memory. */
int admission_enter(struct admission *a, const char *source, size_t max);
/* Gives back a connection admission_enter counted. */
void admission_leave(struct admission *a, const char *source);

/*
 * Notes one refusal of source at now. Returns 1 when the caller writes it
 * to the trail at once (the first since the source was quiet for a whole
 * interval), 0 when it is counted for the next flush. *log is set when the
 * caller should log its detail (the first few per source and interval).
 */
int admission_refused(struct admission *a, const char *source,
    const char *reason, time_t now, int *log);

/*
 * Once per interval: calls emit for every source with refusals counted
 * since the last flush (and forgets them), then forgets sources that had
 * none for a whole interval, so their next refusal is written at once.
 */
void admission_flush(struct admission *a,
    void (*emit)(const struct admission_summary *, void *), void *arg);

#endif
