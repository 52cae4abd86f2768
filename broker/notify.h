/*
 * notify — tells people that something waits for them: a held transfer
 * for approval officers, a decision for the uploader, an exception request
 * or grant. Two sinks, either or both:
 *
 *   - a webhook: an HTTPS POST (libcurl) of one small JSON document to a
 *     configured URL, retried with a growing delay a bounded number of
 *     times until the receiver answers 2xx;
 *   - a command: a configured program run with a fixed argv (program,
 *     event name), an empty environment but PATH, the JSON document on its
 *     standard input, and a time limit after which it is killed.
 *
 * Notifications are a convenience, never part of the transfer path: the
 * caller queues an event and goes on; one worker thread delivers. A full
 * queue drops the new event; every failure (drop, HTTP error, exhausted
 * retries, command failure or timeout) goes to the log callback. Nothing
 * ever blocks the caller on the network or on the command.
 *
 * The document carries ids, states and counts only: no file names,
 * purposes, comments or anything else a person typed, and never a secret.
 *
 * Threads: notify_start, notify_send and notify_stop are called from one
 * thread (the event loop); the log callback runs on the worker thread and
 * must be thread-safe (log_kv is).
 */
#ifndef SEKISHO_NOTIFY_H
#define SEKISHO_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NOTIFY_QUEUE_MAX 256		/* events waiting for the worker */
#define NOTIFY_MAX_FIELDS 16
#define NOTIFY_MAX_DOC 4096		/* bytes of one JSON document */
#define NOTIFY_MAX_RETRIES 10

struct notify_config {
	const char *webhook_url;	/* https://...; http:// only to
					   127.0.0.1, ::1 or localhost; NULL:
					   no webhook */
	const char *webhook_ca;		/* CA bundle for the receiver; NULL:
					   the system's */
	uint64_t retries;		/* attempts after the first, <= 10 */
	uint64_t retry_delay;		/* seconds before the first retry;
					   doubles each time, capped at 300 */
	uint64_t timeout;		/* seconds per HTTP attempt */
	const char *command;		/* absolute path; NULL: no command */
	uint64_t command_timeout;	/* seconds */
};

/* The log callback: level "info", "warn" or "error"; msg names the event
 * and the sink, never a secret. */
typedef void notify_log_fn(void *arg, const char *level, const char *msg);

struct notify;

/*
 * The checks of notify_start alone (URL scheme and host, command path
 * absolute and an executable file, bounds), for the start-up checks that
 * --check-config shares (startcheck.h). -1 with err.
 */
int notify_check(const struct notify_config *cfg, char *err, size_t errlen);

/*
 * Checks cfg (notify_check), copies it and starts the worker. With neither sink configured
 * it succeeds and every notify_send is a no-op. -1 with err otherwise.
 */
int notify_start(const struct notify_config *cfg, notify_log_fn *log,
    void *logarg, struct notify **out, char *err, size_t errlen);

/* One field of an event: text when text is not NULL, else the number. */
struct notify_field {
	const char *key;
	const char *text;
	uint64_t u;
};

/*
 * Queues event (e.g. "approval_requested") with the fields given, at time
 * now. The document is {"event": ..., "time": RFC 3339, "id": a random
 * notification id, <fields>}. Returns 0 when queued (or when no sink is
 * configured), -1 when dropped (queue full, too many fields, a key
 * repeated, a document over NOTIFY_MAX_DOC); the drop is also logged.
 */
int notify_send(struct notify *n, const char *event, time_t now,
    const struct notify_field *fields, size_t nfields);

/*
 * Stops the worker: it finishes the attempt in progress (bounded by the
 * timeouts), logs and drops what is still queued, and exits. Frees n.
 */
void notify_stop(struct notify *n);

/* Counters for tests and the log: delivered to the webhook, to the
 * command, and failed or dropped events. */
void notify_stats(struct notify *n, unsigned long *webhook,
    unsigned long *command, unsigned long *failed);

#endif
