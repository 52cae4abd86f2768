/*
 * crlwatch — the CRL's own deadline. After the nextUpdate of the CRL in
 * force, OpenSSL refuses every client certificate (the broker fails
 * closed), so an expired CRL stops every terminal; it must never pass
 * unnoticed:
 *
 *   expired              --check-config and the start refuse it, /health
 *                        is "failing" (503), an error is logged;
 *   within tls.crl_margin (default 7 days) of its nextUpdate
 *                        /health is "degraded", --check-config warns
 *                        (crl_expiring), a warning is logged;
 *
 * and while either lasts the log line is repeated once a day (and at once
 * when the state changes), so a daily log review sees it.
 *
 * The deadline in force is b->crl_next_update, which main sets at start
 * and on every reload that installs a new TLS context.
 *
 * Ownership: crlwatch_start returns a watcher freed with crlwatch_free.
 * Loop thread only.
 */
#ifndef SEKISHO_CRLWATCH_H
#define SEKISHO_CRLWATCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CRLWATCH_REPEAT (24 * 3600)	/* seconds between repeated lines */

struct broker;
struct crlwatch;

enum crlwatch_state {
	CRLWATCH_OK,			/* or no nextUpdate at all */
	CRLWATCH_EXPIRING,		/* within the margin */
	CRLWATCH_EXPIRED
};

/* The state of a CRL whose nextUpdate is next (0: none) at now. */
enum crlwatch_state crlwatch_state(time_t next, time_t now,
    uint64_t margin);

/*
 * Whether a line is due: the state or the CRL changed since the last line
 * (last_state at last_at about last_next; last_at 0: never), or a state
 * other than OK has lasted CRLWATCH_REPEAT since. A return to OK is due
 * once (it says the warning is over).
 */
int crlwatch_due(enum crlwatch_state last_state, time_t last_next,
    time_t last_at, enum crlwatch_state st, time_t next, time_t now);

/* One sentence for the log, /health and --check-config: when the CRL
 * expires or expired, and what to do. */
void crlwatch_describe(time_t next, time_t now, char *out, size_t outlen);

/* Starts the watcher on b's loop: it logs the state at once when it is
 * not OK, then as said above. -1 with err. */
int crlwatch_start(struct broker *b, struct crlwatch **out, char *err,
    size_t errlen);

/* After a reload changed b->crl_next_update: re-evaluated (and logged
 * when not OK) at once. NULL is fine. */
void crlwatch_reloaded(struct crlwatch *w);

void crlwatch_free(struct crlwatch *w);

#endif
