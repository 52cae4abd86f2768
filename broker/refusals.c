/*
 * refusals — see refusals.h.
 */
#include "broker/refusals.h"
#include "broker/admission.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/log.h"
#include "broker/request.h"
#include "lib/util.h"

#include <inttypes.h>
#include <time.h>
#include <event2/event.h>

/* Sources whose refusals are counted apart in one interval; past this
 * they share one entry. */
#define MAX_SOURCES 4096

void
refusals_note(struct broker *b, const char *source,
    const char *peer, const char *why)
{
	struct auditrec rec;
	char q[320];
	int log = 1;

	if (admission_refused(b->admission, source, why, time(NULL),
	    &log) == 0) {
		if (log)
			log_kv("warn", "refuse", "peer=%s reason=%s counted=1",
			    peer, log_quote(why, q, sizeof(q)));
		return;
	}
	log_kv("warn", "refuse", "peer=%s reason=%s", peer,
	    log_quote(why, q, sizeof(q)));
	auditrec_init(&rec, "refuse", NULL, peer);
	auditrec_text(&rec, "reason", why);
	auditrec_uint(&rec, "count", 1);
	request_audit(b, &rec);
}

static void
emit_refusals(const struct admission_summary *sum, void *arg)
{
	struct broker *b = arg;
	struct auditrec rec;
	char first[21], last[21], q[600];

	util_time_rfc3339(sum->first, first);
	util_time_rfc3339(sum->last, last);
	log_kv("warn", "refuse_summary", "source=%s count=%" PRIu64
	    " not_logged=%" PRIu64 " first=%s last=%s reasons=%s",
	    sum->source, sum->count, sum->unlogged, first, last,
	    log_quote(sum->reasons, q, sizeof(q)));
	auditrec_init(&rec, "refuse", NULL, sum->source);
	auditrec_text(&rec, "reason", sum->reason);
	auditrec_uint(&rec, "count", sum->count);
	auditrec_text(&rec, "first", first);
	auditrec_text(&rec, "last", last);
	auditrec_text(&rec, "reasons", sum->reasons);
	request_audit(b, &rec);
}

static void
refusal_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	admission_flush(b->admission, emit_refusals, b);
}

int
refusals_start(struct broker *b, char *err, size_t errlen)
{
	struct timeval iv = { (time_t)b->cfg->refusal_interval, 0 };

	if ((b->admission = admission_new(MAX_SOURCES,
	    (unsigned)b->cfg->source_prefix_v6)) == NULL ||
	    (b->refusal_ev = event_new(b->base, -1, EV_PERSIST,
	    refusal_timer_cb, b)) == NULL ||
	    event_add(b->refusal_ev, &iv) != 0)
		return util_err(err, errlen, "cannot set up the count of "
		    "refused connections: out of memory");
	return 0;
}

void
refusals_stop(struct broker *b)
{
	if (b->refusal_ev != NULL)
		event_free(b->refusal_ev);
	b->refusal_ev = NULL;
	admission_free(b->admission);
	b->admission = NULL;
}

void
refusals_flush(struct broker *b)
{
	if (b->admission != NULL)
		admission_flush(b->admission, emit_refusals, b);
}
