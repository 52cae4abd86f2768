/*
 * retry — when to try a delivery again, and when to stop trying a cloud.
 *
 * Pure policy, no I/O and no clock of its own: callers pass the time and
 * the random numbers, so every rule can be tested exactly.
 *
 * Classification of one attempt's outcome:
 *   - success (2xx at the end of the connector's steps)      RETRY_DONE
 *   - connection failures, timeouts, resets, 5xx, 408, 429    RETRY_AGAIN
 *   - every other 4xx, a certificate or pin that does not
 *     verify, a destination that holds something else        RETRY_NEVER
 * Only RETRY_AGAIN outcomes count against a service's circuit breaker; a
 * 4xx says the service is up and answering.
 *
 * Backoff: attempt n (1-based) waits base * 2^(n-1), capped at max, with
 * "equal jitter" (half fixed, half random) so that many transfers failing
 * together do not come back together. A Retry-After the service sent is
 * honoured when it asks for longer (up to max_retry_after).
 *
 * Circuit breaker, one per service: after `threshold` consecutive failures
 * it opens for `cooldown`; then one probe attempt is let through
 * (half-open): its success closes the circuit, its failure opens it again
 * for twice the previous cooldown (at most 8 times the configured one).
 * While open, transfers to that service wait without spending attempts,
 * and other services are unaffected.
 */
#ifndef SEKISHO_RETRY_H
#define SEKISHO_RETRY_H

#include <stdint.h>

enum retry_verdict {
	RETRY_DONE = 0,
	RETRY_AGAIN,
	RETRY_NEVER
};

/* Transport-level outcome of a request, as the forwarder classifies
 * libcurl's result. */
enum retry_transport {
	RETRY_T_OK = 0,		/* an HTTP response arrived */
	RETRY_T_CONNECT,	/* could not connect / resolve / proxy refused */
	RETRY_T_TIMEOUT,	/* connect timeout or stalled transfer */
	RETRY_T_BROKEN,		/* connection reset or closed mid-exchange */
	RETRY_T_TLS_VERIFY,	/* certificate chain or host name rejected */
	RETRY_T_PIN,		/* SPKI pin mismatch */
	RETRY_T_LOCAL		/* our side: spool read error, out of memory */
};

struct retry_policy {
	unsigned max_attempts;		/* >= 1 */
	uint64_t max_age;		/* seconds since first queued */
	uint64_t base_ms;		/* first backoff */
	uint64_t max_ms;		/* backoff cap */
	uint64_t max_retry_after_ms;	/* cap on a server's Retry-After */
};

/* Classifies an outcome. http_status is 0 when no response arrived. */
enum retry_verdict retry_classify(enum retry_transport t, long http_status);

/* 1 when the outcome says something about the service's health (it
 * counts as a circuit failure), else 0. */
int retry_counts_against_service(enum retry_transport t, long http_status);

/* Milliseconds to wait before attempt `attempt + 1`, after `attempt`
 * attempts (>= 1) failed. rnd is a uniformly random 32-bit number;
 * retry_after_ms is the server's Retry-After (0 when none). */
uint64_t retry_backoff_ms(const struct retry_policy *p, unsigned attempt,
    uint32_t rnd, uint64_t retry_after_ms);

/* 1 when another attempt is allowed after `attempts` attempts, for a
 * transfer first queued at queued_at (seconds), now, and the wait before
 * it (ms); else 0 (the transfer fails). */
int retry_may_continue(const struct retry_policy *p, unsigned attempts,
    int64_t queued_at, int64_t now, uint64_t wait_ms);

enum retry_circuit_state {
	RETRY_CLOSED = 0,
	RETRY_OPEN,
	RETRY_HALF_OPEN
};

struct retry_circuit {
	enum retry_circuit_state state;
	unsigned failures;		/* consecutive */
	uint64_t open_until_ms;		/* RETRY_OPEN: when to probe */
	uint64_t cooldown_ms;		/* current cooldown */
	int probing;			/* RETRY_HALF_OPEN: probe running */
};

/* Zeroes c (closed). */
void retry_circuit_init(struct retry_circuit *c);

/* May an attempt start now? In half-open state only one probe at a time;
 * a 1 answer in that state marks the probe as running. */
int retry_circuit_allow(struct retry_circuit *c, uint64_t now_ms);

/* Milliseconds until the circuit lets an attempt through (0 when it does
 * now). */
uint64_t retry_circuit_wait_ms(const struct retry_circuit *c,
    uint64_t now_ms);

/* Reports an attempt's end: healthy (it reached the service and the
 * service answered sensibly) or not. threshold >= 1, cooldown_ms > 0.
 * Returns 1 when this report opened the circuit. */
int retry_circuit_report(struct retry_circuit *c, int healthy,
    uint64_t now_ms, unsigned threshold, uint64_t cooldown_ms);

/* An attempt that ended without reporting (cancelled): frees the probe
 * slot of a half-open circuit. */
void retry_circuit_cancel(struct retry_circuit *c);

const char *retry_circuit_name(enum retry_circuit_state s);

#endif
