/*
 * forward — delivery of stored transfers to the specified cloud services.
 *
 * The forwarder owns a queue of transfers waiting for delivery and runs
 * their attempts with libcurl's multi_socket interface on the broker's
 * event loop: no thread per transfer, no blocking call on the loop (the
 * upload body is read from the spool file in curl's read callback, which
 * the page cache serves). Every state change and its audit record go
 * through the commit thread; the spool copy is removed only after the end
 * state is durable (and after delivery.retention).
 *
 * Life of a transfer here:
 *   stored ──forward_submit──▶ queued ──▶ forwarding (attempt n, durable
 *   before the first byte leaves) ──▶ delivered
 *                                     ├─▶ queued (retry at next_attempt_at)
 *                                     └─▶ failed (reason)
 * Before each attempt the register in force is asked again for the
 * interface's service and path; an interface or service that is gone ends
 * the transfer as failed, never a send to a stale destination. An
 * interface that names no service keeps its transfers "stored".
 *
 * Per service: a concurrency limit and a circuit breaker (broker/retry.h),
 * so one dead cloud cannot hold the slots of the others.
 *
 * Crash recovery: forward_start loads queued and forwarding transfers (and
 * stored ones not yet queued). A transfer that was forwarding when the
 * broker stopped is recorded as an interrupted attempt ("forward",
 * result "interrupted") and queued again; it has attempts > 0, so its next
 * attempt first asks the service whether the object is already there
 * (connectors' check step) instead of sending it twice. The interrupted
 * attempt counts toward max_attempts, checked when the next one ends.
 */
#ifndef SEKISHO_FORWARD_H
#define SEKISHO_FORWARD_H

#include <stddef.h>
#include <stdio.h>

struct broker;
struct config;
struct policy;
struct forwarder;

/* Loop thread, after the committer has started. curl_global_init must
 * have been called. Schedules recovery of unfinished deliveries and the
 * periodic removal of spool copies whose retention has passed. */
int forward_start(struct broker *b, struct forwarder **out, char *err,
    size_t errlen);

/* A transfer of interface just became "stored" (durably): queue it for
 * delivery. Cheap; the rest happens on later loop iterations. f may be
 * NULL (no forwarder: nothing happens). */
void forward_submit(struct forwarder *f, const char *transfer,
    const char *interface);

/* One service as the forwarder sees it now (for the monitor). */
struct forward_service_stats {
	const char *id;
	unsigned active;		/* attempts running */
	const char *circuit;		/* "closed", "open", "half-open" */
	unsigned failures;		/* consecutive */
};
/* Loop thread. Calls fn for every service the forwarder has dealt with
 * since start and returns how many transfers it holds (waiting or in
 * delivery). The strings live until fn returns. */
size_t forward_stats(struct forwarder *f,
    void (*fn)(const struct forward_service_stats *s, void *arg), void *arg);

/* Loop thread. How many stored transfers could not be queued for
 * delivery because their state commit failed and are being retried with
 * backoff (0: none); last gets the latest reason. f may be NULL. */
unsigned forward_queue_failing(struct forwarder *f, char *last,
    size_t lastlen);

/* Shutdown, first half (loop thread, from the signal handler): starts no
 * new attempt and cancels the running ones. Cancelled transfers stay
 * "forwarding" in the store and resume at the next start. */
void forward_shutdown(struct forwarder *f);

/* Second half, after committer_stop (no job can call back any more). */
void forward_free(struct forwarder *f);

/*
 * --check-config: checks every service of the register against what
 * delivery needs (connector settings, endpoint form, CA file readable,
 * pins well-formed, credentials present, private and of the right kind),
 * every interface's path template, and that delivery.services names only
 * services of the register. Writes one line per problem to out; returns
 * the number of problems.
 */
size_t forward_check(const struct config *cfg, const struct policy *p,
    FILE *out);

#endif
