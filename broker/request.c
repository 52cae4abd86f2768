/*
 * request — see request.h.
 */
#include "broker/request.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/log.h"
#include "lib/wire.h"
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void
reqconn_send_error_full(struct reqconn *c, uint64_t id, const char *code,
    const char *message, const char *field, const struct policy_decision *d,
    const char *transfer, uint64_t retry_after)
{
	struct wire_msg m;
	char text[WIRE_MAX_MESSAGE + 1];
	size_t len = strlen(message);

	/* Never lose an error to the encoder's bound: cut long text on a
	 * UTF-8 boundary. */
	if (len > WIRE_MAX_MESSAGE) {
		len = WIRE_MAX_MESSAGE;
		while (len > 0 && ((unsigned char)message[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(text, message, len);
	text[len] = '\0';
	wire_msg_init(&m, WIRE_OP_ERROR, id);
	wire_msg_set_text(&m, "code", code);
	wire_msg_set_text(&m, "message", text);
	if (field != NULL && field[0] != '\0')
		wire_msg_set_text(&m, "field", field);
	if (d != NULL) {
		if (d->rule[0] != '\0')
			wire_msg_set_text(&m, "rule", d->rule);
		if (d->code[0] != '\0')
			wire_msg_set_text(&m, "reason", d->code);
	}
	if (transfer != NULL && transfer[0] != '\0')
		wire_msg_set_text(&m, "transfer", transfer);
	if (retry_after > 0)
		wire_msg_set_uint(&m, "retry_after", retry_after);
	reqconn_send(c, &m);
	wire_msg_clear(&m);
}

void
reqconn_send_error(struct reqconn *c, uint64_t id, const char *code,
    const char *message, const char *field, uint64_t retry_after)
{
	reqconn_send_error_full(c, id, code, message, field, NULL, NULL,
	    retry_after);
}

void
reqconn_wait(struct reqconn *c)
{
	c->ops->hold(c);
	c->waits++;
	reqconn_pause(c);
}

void
reqconn_done_waiting(struct reqconn *c)
{
	/* Nested waits (a done callback that queues the next job before it
	 * ends its own wait): reading resumes after the last. */
	if (--c->waits == 0 && !reqconn_gone(c))
		c->ops->resume(c);
	c->ops->release(c);
}

/* ---- audit events ---------------------------------------------------------- */

struct audit_job {
	struct commit_job job;
	struct auditrec rec;
};

static int
work_audit(struct commit_job *cj, struct commit_env *env)
{
	struct audit_job *j = cj->arg;

	return auditrec_append(&j->rec, env->audit, time(NULL), cj->err,
	    sizeof(cj->err));
}

static void
done_audit(struct commit_job *cj, int status)
{
	if (status != 0)
		log_kv("error", "audit", "reason=%s", cj->err);
	free(cj->arg);
}

void
request_audit(struct broker *b, const struct auditrec *rec)
{
	struct audit_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		log_kv("error", "audit", "reason=\"out of memory\" type=%s",
		    rec->type);
		return;
	}
	j->rec = *rec;
	j->job.work = work_audit;
	j->job.done = done_audit;
	j->job.arg = j;
	committer_submit(b->committer, &j->job);
}

int
request_refuse_unaudited(struct reqconn *c, uint64_t id)
{
	char why[256];

	if (committer_audit_healthy(c->b->committer))
		return 0;
	committer_audit_failure(c->b->committer, why, sizeof(why));
	log_kv("error", "audit_unavailable", "user=%s peer=%s reason=\"%s\"",
	    c->who.user, c->peer, why);
	reqconn_send_error(c, id, "audit_unavailable", "the broker cannot "
	    "write its audit trail, so it accepts no transfers now; tell the "
	    "administrator", NULL, 0);
	return 1;
}
