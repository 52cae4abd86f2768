/*
 * admission — who may hold a connection, and how refusals reach the trail.
 *
 * Both are keyed by the source of a connection: the accept path gives the
 * peer's IP address without the port (so a proxy's PROXY-protocol address
 * can take its place later), and admission counts it under its key
 * (admission_key): an IPv4 address as it is, an IPv6 address by its
 * prefix (limits.source_prefix_v6, /64 by default: whoever holds a /64
 * can use any of its addresses, so counting each one alone would let one
 * holder take every slot and write thousands of refusal records), an
 * IPv4-mapped IPv6 address as the IPv4 address. Logs keep the full
 * address; the counted refusal records name the key.
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
#define ADMISSION_PREFIX_V6 64		/* default IPv6 source prefix */

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

/* max_sources bounds the refusal table; IPv6 sources are counted by
 * their first prefix_v6 bits (1..128; another value gives the default).
 * NULL when out of memory. */
struct admission *admission_new(size_t max_sources, unsigned prefix_v6);
void admission_free(struct admission *a);

/* The source address of sa as text ("192.0.2.1", "2001:db8::1"); "unknown"
 * for other families. out holds ADMISSION_SOURCE_LEN bytes. */
struct sockaddr;
void admission_source(const struct sockaddr *sa, char *out);

/* The key source (an address as admission_source writes it) is counted
 * under, into out (ADMISSION_SOURCE_LEN bytes): "192.0.2.1" for IPv4 and
 * IPv4-mapped "::ffff:192.0.2.1"; "2001:db8:1:2::/64" for any address of
 * that /64 when prefix_v6 is 64 (the address itself when 128); other text
 * as it is. */
void admission_key(const char *source, unsigned prefix_v6, char *out);

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
