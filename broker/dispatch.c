/*
 * dispatch — see dispatch.h.
 */
#include "broker/dispatch.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/handlers.h"
#include "broker/log.h"
#include "broker/request.h"
#include "broker/stepgate.h"
#include "broker/stepup.h"
#include "broker/upload.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

/* A request parked while its one-time code is checked. */
struct stepup_job {
	struct commit_job job;
	struct reqconn *c;		/* waited on */
	struct principal who;
	uint64_t req_id;
	time_t now;
	const struct stepup *su;	/* immutable; read on the commit thread */
	char otp[WIRE_MAX_OTP + 1];
	uint8_t *msg_buf;		/* the request, to run again */
	size_t msg_len;
	struct auditrec rec;
	struct stepup_outcome so;
};

static void dispatch_run(struct reqconn *c, const struct wire_msg *m,
    const struct handlers_entry *e, int verified);

static void
stepup_job_free(struct stepup_job *j)
{
	OPENSSL_cleanse(j->otp, sizeof(j->otp));
	if (j->msg_buf != NULL) {
		/* It holds the code too. */
		OPENSSL_cleanse(j->msg_buf, j->msg_len);
		free(j->msg_buf);
	}
	free(j);
}

static int
work_stepup(struct commit_job *cj, struct commit_env *env)
{
	struct stepup_job *j = cj->arg;

	return stepgate_verify(j->su, env, &j->who, j->otp, sizeof(j->otp),
	    j->now, &j->rec, &j->so, cj->err, sizeof(cj->err));
}

static void
done_stepup(struct commit_job *cj, int status)
{
	struct stepup_job *j = cj->arg;
	struct reqconn *c = j->c;
	const struct handlers_entry *e;
	struct wire_msg m;
	struct wire_error werr;
	size_t consumed = 0;
	uint64_t dlen = 0, retry_after;
	char msg[WIRE_MAX_MESSAGE + 1];
	const char *code;

	if (reqconn_ending(c))
		goto out;
	if (status != 0) {
		log_kv("error", "officer_stepup", "user=%s reason=\"%s\"",
		    j->who.user, cj->err);
		reqconn_send_error(c, j->req_id, "unavailable", "the broker "
		    "could not check the one-time code; try again later", NULL,
		    30);
		goto out;
	}
	code = stepgate_refusal(&j->so, msg, sizeof(msg), &retry_after);
	if (code != NULL) {
		reqconn_send_error(c, j->req_id, code, msg, "otp",
		    retry_after);
		goto out;
	}
	stepup_grant_record(c->b->grants, j->who.cert_fp, j->who.user,
	    j->now);
	memset(&werr, 0, sizeof(werr));
	if (wire_decode(j->msg_buf, j->msg_len, &m, &dlen, &consumed,
	    &werr) != WIRE_CONTROL || (e = handlers_find(m.op)) == NULL) {
		wire_msg_clear(&m);
		reqconn_send_error(c, j->req_id, "unavailable", "the broker "
		    "lost the request; send it again", NULL, 0);
		goto out;
	}
	/* From the top, as if it came now, with the code accepted. */
	dispatch_run(c, &m, e, 1);
	wire_msg_clear(&m);
out:
	stepup_job_free(j);
	reqconn_done_waiting(c);
}

/*
 * A fresh step-up for e. Returns 1 when the request may go on, 0 when it
 * was answered (refused, or parked until its code is checked).
 */
static int
stepup_gate(struct reqconn *c, const struct wire_msg *m,
    const struct handlers_entry *e)
{
	struct broker *b = c->b;
	const struct principal *who = &c->who;
	time_t now = broker_now(b), at;
	uint64_t age = b->cfg->officer_stepup_max_age;
	const char *otp = wire_msg_text(m, "otp");
	struct wire_error werr;
	struct stepup_job *j;
	char msg[256];

	at = b->grants != NULL ? stepup_grant_lookup(b->grants, who->cert_fp,
	    who->user) : 0;
	if (at != 0 && at <= now && (uint64_t)(now - at) <= age)
		return 1;
	if (b->stepup == NULL) {
		e->refuse(c, m, "step_up_required", "officer actions need a "
		    "one-time code, and this broker has no step-up key "
		    "configured; tell the administrator");
		return 0;
	}
	if (otp == NULL || otp[0] == '\0') {
		snprintf(msg, sizeof(msg), "officer actions need a one-time "
		    "code (TOTP) confirmed in the last %" PRIu64 " seconds; "
		    "send the request again with the current code", age);
		reqconn_send_error(c, m->id, "step_up_required", msg, "otp", 0);
		return 0;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    util_strlcpy(j->otp, otp, sizeof(j->otp)) != 0 ||
	    wire_encode(m, &j->msg_buf, &j->msg_len, &werr) != 0) {
		if (j != NULL)
			stepup_job_free(j);
		reqconn_send_error(c, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return 0;
	}
	j->c = c;
	j->who = *who;
	j->req_id = m->id;
	j->now = now;
	j->su = b->stepup;
	auditrec_init(&j->rec, "stepup", who, c->peer);
	auditrec_text(&j->rec, "op", wire_op_name(m->op));
	j->job.work = work_stepup;
	j->job.done = done_stepup;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(b->committer, &j->job);
	return 0;
}

/* The principal's roles in the register in force. */
static unsigned
principal_roles(const struct reqconn *c)
{
	struct policy_principal pp;

	memset(&pp, 0, sizeof(pp));
	pp.user = c->who.user;
	pp.dept = c->who.dept;
	pp.terminal = c->who.terminal;
	return policy_principal_roles(c->b->policy, &pp);
}

static void
dispatch_run(struct reqconn *c, const struct wire_msg *m,
    const struct handlers_entry *e, int verified)
{
	unsigned roles = 0;

	if ((e->flags & HANDLERS_OFFICERS) && c->b->officer == NULL) {
		reqconn_send_error(c, m->id, "unavailable", "approvals are not "
		    "running on this broker", NULL, 0);
		return;
	}
	if (e->roles != 0 || e->stepup != HANDLERS_STEPUP_NONE)
		roles = principal_roles(c);
	if (!handlers_role_allows(e, roles)) {
		e->refuse(c, m, e->role_code, e->role_message);
		return;
	}
	if (!verified && handlers_stepup_needed(e, roles) &&
	    !stepup_gate(c, m, e))
		return;
	e->handle(c, m);
}

void
dispatch_request(struct reqconn *c, const struct wire_msg *m)
{
	const struct handlers_entry *e = handlers_find(m->op);

	if (upload_is_receiving(c) &&
	    (e == NULL || (e->flags & HANDLERS_IN_UPLOAD) == 0)) {
		upload_protocol_error(c, m->id, "bad_request", "only data and "
		    "end may follow ready until the upload ends", NULL);
		return;
	}
	if (e == NULL) {
		upload_protocol_error(c, m->id, "unknown_op", "this message is "
		    "not accepted from a client", "op");
		return;
	}
	dispatch_run(c, m, e, 0);
}
