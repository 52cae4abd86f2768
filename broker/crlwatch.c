/*
 * crlwatch — see crlwatch.h.
 *
 * A one-second timer compares two numbers; that is cheaper to reason
 * about than arming a timer for the next of three deadlines (margin,
 * nextUpdate, the daily repeat) and re-arming it on every reload and
 * clock step.
 */
#include "broker/crlwatch.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/log.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

struct crlwatch {
	struct broker *b;
	struct event *ev;
	enum crlwatch_state logged;	/* state of the last line */
	time_t logged_next;		/* nextUpdate it was about */
	time_t logged_at;		/* 0: never */
};

enum crlwatch_state
crlwatch_state(time_t next, time_t now, uint64_t margin)
{
	if (next == 0)
		return CRLWATCH_OK;
	if (now >= next)
		return CRLWATCH_EXPIRED;
	if ((uint64_t)(next - now) <= margin)
		return CRLWATCH_EXPIRING;
	return CRLWATCH_OK;
}

int
crlwatch_due(enum crlwatch_state last_state, time_t last_next,
    time_t last_at, enum crlwatch_state st, time_t next, time_t now)
{
	if (last_at == 0)
		return st != CRLWATCH_OK;
	if (st != last_state || next != last_next)
		return 1;
	return st != CRLWATCH_OK && now - last_at >= CRLWATCH_REPEAT;
}

void
crlwatch_describe(time_t next, time_t now, char *out, size_t outlen)
{
	char when[21];
	int64_t left = (int64_t)next - (int64_t)now;

	util_time_rfc3339(next, when);
	if (next == 0)
		snprintf(out, outlen, "the CRL has no nextUpdate");
	else if (left <= 0)
		snprintf(out, outlen, "the CRL expired at %s: every client is "
		    "refused until a fresh CRL is published (sekisho-pki crl) "
		    "and the broker reloaded (SIGHUP)", when);
	else
		snprintf(out, outlen, "the CRL expires at %s (in %" PRId64
		    "h %" PRId64 "m): publish a fresh one (sekisho-pki crl) "
		    "and reload (SIGHUP) before then, or every client will be "
		    "refused", when, left / 3600, left % 3600 / 60);
}

static void
check(struct crlwatch *w, int force)
{
	struct broker *b = w->b;
	/* The real clock, as OpenSSL's CRL check uses it (not broker_now,
	 * which a test build may shift). */
	time_t now = time(NULL), next = b->crl_next_update;
	enum crlwatch_state st = crlwatch_state(next, now,
	    b->cfg->tls_crl_margin);
	char msg[400], q[450], when[21];

	if (!crlwatch_due(w->logged, w->logged_next, w->logged_at, st, next,
	    now) && !(force && st != CRLWATCH_OK))
		return;
	w->logged = st;
	w->logged_next = next;
	w->logged_at = now;
	if (st == CRLWATCH_OK) {
		log_kv("info", "crl", "state=ok");
		return;
	}
	crlwatch_describe(next, now, msg, sizeof(msg));
	util_time_rfc3339(next, when);
	log_kv(st == CRLWATCH_EXPIRED ? "error" : "warn", "crl",
	    "state=%s next_update=%s reason=%s", st == CRLWATCH_EXPIRED ?
	    "expired" : "expiring", when, log_quote(msg, q, sizeof(q)));
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check(arg, 0);
}

int
crlwatch_start(struct broker *b, struct crlwatch **out, char *err,
    size_t errlen)
{
	struct crlwatch *w;
	struct timeval second = { 1, 0 };

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return util_err(err, errlen, "crl watch: out of memory");
	w->b = b;
	w->ev = event_new(b->base, -1, EV_PERSIST, tick, w);
	if (w->ev == NULL || event_add(w->ev, &second) != 0) {
		crlwatch_free(w);
		return util_err(err, errlen, "crl watch: cannot start its "
		    "timer");
	}
	check(w, 1);
	*out = w;
	return 0;
}

void
crlwatch_reloaded(struct crlwatch *w)
{
	if (w != NULL)
		check(w, 1);
}

void
crlwatch_free(struct crlwatch *w)
{
	if (w == NULL)
		return;
	if (w->ev != NULL)
		event_free(w->ev);
	free(w);
}
