/*
 * fwdrecover — see fwdrecover.h.
 *
 * Reading and recording happen in one commit job, so the "interrupted"
 * records and the rows put back to "queued" are durable together, before
 * the forwarder starts any attempt for them.
 */
#include "broker/fwdrecover.h"
#include "broker/auditrec.h"
#include "broker/store.h"
#include "lib/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
text_if(struct auditrec *r, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
		auditrec_text(r, key, v);
}

static int
collect_row(const struct transfer *t, void *arg)
{
	struct fwdrecover_rows *out = arg;
	struct transfer *rows;

	if (out->nrows == out->cap) {
		size_t cap = out->cap == 0 ? 16 : out->cap * 2;

		if ((rows = reallocarray(out->rows, cap, sizeof(*rows))) == NULL)
			return -1;
		out->rows = rows;
		out->cap = cap;
	}
	out->rows[out->nrows++] = *t;
	return 0;
}

/*
 * A transfer still "forwarding" at start had its attempt cut off by a
 * crash or a stop: nothing recorded how it ended. Record it now (a
 * "forward" record with result "interrupted", the attempt number it had)
 * and put the transfer back to "queued" for an attempt at once. The
 * interrupted attempt stays counted in attempts, like a failed one; the
 * retry rule is applied when the next attempt ends, so a transfer whose
 * last allowed attempt was interrupted still gets that one more attempt:
 * the interrupted one may have completed upstream, and only an attempt
 * (which checks the destination first) can tell.
 */
static int
record_interrupted(struct fwdrecover_rows *out, struct store *store,
    struct audit *audit, char *err, size_t errlen)
{
	static const char reason[] = "interrupted: the broker stopped during "
	    "the attempt (crash or shutdown)";
	int64_t now = (int64_t)time(NULL);
	struct store_upstream u;
	struct auditrec r;
	size_t i;

	memset(&u, 0, sizeof(u));
	for (i = 0; i < out->nrows; i++) {
		struct transfer *t = &out->rows[i];

		if (strcmp(t->state, STORE_FORWARDING) != 0)
			continue;
		if (store_transfer_attempt_end(store, t->id, STORE_QUEUED,
		    &u, now, reason, NULL, 0, now, err, errlen) != 0)
			return -1;
		auditrec_init(&r, "forward", NULL, NULL);
		auditrec_subject(&r, t->id, t->interface);
		text_if(&r, "user", t->user);
		text_if(&r, "url", t->destination);
		auditrec_uint(&r, "attempt", t->attempts);
		auditrec_text(&r, "result", "interrupted");
		auditrec_text(&r, "error", reason);
		if (auditrec_append(&r, audit, now, err, errlen) != 0)
			return -1;
		util_strlcpy(t->state, STORE_QUEUED, sizeof(t->state));
		util_strlcpy(t->last_error, reason, sizeof(t->last_error));
		t->next_attempt_at = now;
		out->ninterrupted++;
	}
	return 0;
}

int
fwdrecover_load(struct store *store, struct audit *audit,
    struct fwdrecover_rows *out, char *err, size_t errlen)
{
	static const char *const states[] = { STORE_FORWARDING, STORE_QUEUED,
	    STORE_STORED };
	size_t i;

	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (store_transfer_each(store, states[i], 0, collect_row, out,
		    err, errlen) != 0)
			return -1;
	return record_interrupted(out, store, audit, err, errlen);
}

void
fwdrecover_rows_free(struct fwdrecover_rows *out)
{
	free(out->rows);
	memset(out, 0, sizeof(*out));
}
