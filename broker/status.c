/*
 * status — see status.h.
 */
#include "broker/status.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/identity.h"
#include "broker/officer.h"
#include "broker/request.h"
#include "broker/store.h"
#include "lib/util.h"
#include "lib/wire.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct status_job {
	struct commit_job job;
	struct reqconn *c;		/* waited on */
	struct principal who;
	uint64_t req_id;
	char id[UTIL_ID_LEN + 1];
	char code[32];			/* wire error code on failure */
	struct transfer t;
	struct store_approval ap;	/* the approval request, if any */
	int has_ap;
};

void
status_fill_state(const struct transfer *t, const struct store_approval *ap,
    struct wire_msg *r)
{
	uint8_t sha[UTIL_SHA256_LEN];
	char created[21], updated[21];

	util_time_rfc3339((time_t)t->created, created);
	util_time_rfc3339((time_t)t->updated, updated);
	wire_msg_set_text(r, "transfer", t->id);
	wire_msg_set_text(r, "state", t->state);
	wire_msg_set_uint(r, "size", t->size);
	wire_msg_set_uint(r, "received", t->received);
	wire_msg_set_text(r, "interface", t->interface);
	wire_msg_set_uint(r, "class", t->class);
	wire_msg_set_text(r, "name", t->name);
	wire_msg_set_text(r, "created", created);
	wire_msg_set_text(r, "updated", updated);
	if (util_unhex(t->sha256, sha, sizeof(sha)) == 0)
		wire_msg_set_bytes(r, "sha256", sha, sizeof(sha));
	if (t->error[0] != '\0')
		wire_msg_set_text(r, "error", t->error);
	/* Delivery, once it has started. */
	if (t->attempts > 0)
		wire_msg_set_uint(r, "attempts", t->attempts);
	if (t->last_error[0] != '\0')
		wire_msg_set_text(r, "last_error", t->last_error);
	if (t->upstream_status > 0) {
		wire_msg_set_uint(r, "upstream_status",
		    t->upstream_status);
		wire_msg_set_uint(r, "upstream_bytes",
		    t->upstream_bytes);
		wire_msg_set_uint(r, "upstream_duration_ms",
		    t->upstream_duration_ms);
	}
	if (t->upstream_etag[0] != '\0')
		wire_msg_set_text(r, "etag", t->upstream_etag);
	if (t->upstream_version[0] != '\0')
		wire_msg_set_text(r, "version_id",
		    t->upstream_version);
	if (strcmp(t->state, STORE_DELIVERED) == 0 &&
	    t->destination[0] != '\0')
		wire_msg_set_text(r, "destination", t->destination);
	if (ap != NULL)
		officer_status_fields(ap, r);
}

static int
work_status(struct commit_job *cj, struct commit_env *env)
{
	struct status_job *j = cj->arg;
	int rc;

	rc = store_transfer_get(env->store, j->id, &j->t, cj->err,
	    sizeof(cj->err));
	if (rc == STORE_NOTFOUND || (rc == 0 &&
	    strcmp(j->t.user, j->who.user) != 0)) {
		util_strlcpy(j->code, "not_found", sizeof(j->code));
		return util_err(cj->err, sizeof(cj->err), "no transfer %s "
		    "of yours is known to this broker", j->id);
	}
	if (rc != 0 || (j->has_ap = officer_status(env->store, j->id, &j->ap,
	    cj->err, sizeof(cj->err))) < 0)
		return -1;
	return 0;
}

static void
done_status(struct commit_job *cj, int status)
{
	struct status_job *j = cj->arg;
	struct reqconn *c = j->c;
	struct transfer *t = &j->t;
	struct wire_msg r;

	if (status != 0) {
		reqconn_send_error_full(c, j->req_id,
		    j->code[0] != '\0' ? j->code : "unavailable",
		    j->code[0] != '\0' ? cj->err : "the broker could not read "
		    "its state; try again later", "transfer", NULL, NULL, 0);
	} else {
		wire_msg_init(&r, WIRE_OP_STATE, j->req_id);
		status_fill_state(t, j->has_ap > 0 ? &j->ap : NULL, &r);
		reqconn_send(c, &r);
		wire_msg_clear(&r);
	}
	free(j);
	reqconn_done_waiting(c);
}

void
status_handle_request(struct reqconn *c, const struct wire_msg *m)
{
	const char *id = wire_msg_text(m, "transfer");
	struct status_job *j;

	if (!util_is_id(id)) {
		reqconn_send_error_full(c, m->id, "bad_value", "transfer must "
		    "be a transfer id (32 lowercase hex characters)",
		    "transfer", NULL, NULL, 0);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		reqconn_send_error_full(c, m->id, "unavailable", "the broker "
		    "is out of resources; try again later", NULL, NULL, NULL,
		    30);
		return;
	}
	j->c = c;
	j->who = c->who;
	j->req_id = m->id;
	util_strlcpy(j->id, id, sizeof(j->id));
	j->job.work = work_status;
	j->job.done = done_status;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(c->b->committer, &j->job);
}

