/*
 * monitor — the broker's health and metrics, over plain HTTP on a loopback
 * address, for the host's monitoring agent (Zabbix, Prometheus node agents,
 * a systemd watchdog script):
 *
 *   GET /health    one JSON object; HTTP 200 while the broker can take and
 *                  deliver transfers ("ok", or "degraded" while a service's
 *                  circuit is open or the CRL expires within
 *                  tls.crl_margin), 503 when it cannot ("failing": the
 *                  audit trail is unhealthy, the spool is below its free
 *                  space floor, the TLS key process is gone, the CRL has
 *                  expired, or the broker is shutting down), with the
 *                  reasons.
 *   GET /metrics   the same facts and the transfers per state, in the
 *                  Prometheus text format (version 0.0.4).
 *
 * Nothing secret is shown: counts, states, service ids, the register hash.
 * There is no authentication, which is why config.c accepts only a loopback
 * address literal. Requests are bounded (headers 8 KiB, no body, 10 s) and
 * only GET and HEAD are answered. The per-state counts come from the store
 * through the commit thread (a query, never on the loop) and are kept for
 * MONITOR_COUNT_TTL seconds, so a busy scraper costs one query per period.
 *
 * Everything runs on the broker's event loop (libevent's evhttp).
 */
#ifndef SEKISHO_MONITOR_H
#define SEKISHO_MONITOR_H

#include <stddef.h>

#define MONITOR_COUNT_TTL 5		/* seconds the state counts are kept */
#define MONITOR_MAX_WAITING 32		/* /metrics requests waiting for them */

struct broker;
struct monitor;

/*
 * Loop thread, after the committer and the forwarder have started. With no
 * monitor section configured, *out is NULL and 0 is returned. -1 with err
 * when the address cannot be bound.
 */
int monitor_start(struct broker *b, struct monitor **out, char *err,
    size_t errlen);

/* After committer_stop (no count job is pending any more). NULL is fine. */
void monitor_free(struct monitor *m);

#endif
