/*
 * enrol — see enrol.h.
 *
 * The secret is born on the commit thread (inside the batch that marks
 * the code used) and reaches the loop only in the job, which is wiped
 * when it is freed. It is sent only when the batch committed, so a secret
 * the user was shown is always the one the state holds; if the batch
 * fails the user is told to try again and the code is still unused.
 */
#include "broker/enrol.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/enrolcode.h"
#include "broker/log.h"
#include "broker/qrsvg.h"
#include "broker/request.h"
#include "broker/stepgate.h"
#include "broker/stepup.h"
#include "broker/store.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define NO_STEPUP_MSG "this broker has no step-up key configured (stepup " \
	"section), so one-time codes cannot be enrolled; tell the " \
	"administrator"

struct enrol_job {
	struct commit_job job;
	struct reqconn *c;		/* waited on */
	struct principal who;
	uint64_t req_id;
	time_t now;
	const struct stepup *su;	/* immutable; read on the commit thread */
	char typed[WIRE_MAX_ENROL_CODE + 1];
	struct auditrec rec;
	struct enrolcode_outcome o;
	struct stepup_enrolment secret;	/* REDEEMED only */
	char *svg;			/* REDEEMED only */
};

struct confirm_job {
	struct commit_job job;
	struct reqconn *c;		/* waited on */
	struct principal who;
	uint64_t req_id;
	time_t now;
	const struct stepup *su;
	char otp[WIRE_MAX_OTP + 1];
	int pending;			/* a pending secret was there */
	struct auditrec rec;
	struct stepup_outcome so;
};

static void
enrol_job_free(struct enrol_job *j)
{
	if (j->svg != NULL) {
		/* The drawing holds the secret as much as the URI does. */
		OPENSSL_cleanse(j->svg, strlen(j->svg));
		free(j->svg);
	}
	OPENSSL_cleanse(j, sizeof(*j));
	free(j);
}

/* The register must know the principal as someone it lets in: a disabled
 * account, or an unknown one where the register refuses those, does not
 * enrol (0 roles, as dispatch counts them). */
static int
principal_allowed(const struct reqconn *c)
{
	struct policy_principal pp;

	memset(&pp, 0, sizeof(pp));
	pp.user = c->who.user;
	pp.dept = c->who.dept;
	pp.terminal = c->who.terminal;
	return policy_principal_roles(c->b->policy, &pp) != 0;
}

/* A refusal on the loop, before any job: recorded, then answered. */
static void
refuse_now(struct reqconn *c, const struct wire_msg *m, const char *type,
    const char *key, const char *value, const char *code, const char *msg)
{
	struct auditrec rec;

	auditrec_init(&rec, type, &c->who, c->peer);
	auditrec_text(&rec, key, value);
	request_audit(c->b, &rec);
	reqconn_send_error(c, m->id, code, msg, NULL, 0);
}

/* ---- totp_enrol ------------------------------------------------------ */

static int
work_enrol(struct commit_job *cj, struct commit_env *env)
{
	struct enrol_job *j = cj->arg;
	struct enrolcode_outcome *o = &j->o;
	struct auditrec extra;
	char err[256];
	int rc;

	/* The administrator's queued record of the code enters the trail
	 * before its use. */
	rc = stepup_audit_pending(env->store, env->audit, time(NULL), cj->err,
	    sizeof(cj->err)) < 0 ? -1 : enrolcode_redeem(j->su, env->store,
	    j->who.user, j->typed, j->now, o, &j->secret, cj->err,
	    sizeof(cj->err));
	OPENSSL_cleanse(j->typed, sizeof(j->typed));
	if (rc != 0)
		return -1;
	if (o->result == ENROLCODE_REDEEMED) {
		j->svg = qrsvg_render(j->secret.uri, WIRE_MAX_QR_SVG, err,
		    sizeof(err));
		if (j->svg == NULL) {
			OPENSSL_cleanse(&j->secret, sizeof(j->secret));
			return util_err(cj->err, sizeof(cj->err), "%s", err);
		}
		auditrec_text(&j->rec, "replaced", j->secret.replaced == 2 ?
		    "active" : j->secret.replaced == 1 ? "pending" : "none");
		auditrec_bool(&j->rec, "forced", o->forced);
		auditrec_uint(&j->rec, "issued", (uint64_t)o->issued);
		return auditrec_append(&j->rec, env->audit, time(NULL),
		    cj->err, sizeof(cj->err));
	}
	/* The record was started as a redemption; it is a refusal. */
	util_strlcpy(j->rec.type, "totp_enrol_refused", sizeof(j->rec.type));
	auditrec_text(&j->rec, "result", enrolcode_result_name(o->result));
	auditrec_text(&j->rec, "reason", o->reason);
	auditrec_uint(&j->rec, "failures", o->failures);
	auditrec_uint(&j->rec, "lock_count", o->lock_count);
	if (o->locked_until != 0)
		auditrec_uint(&j->rec, "locked_until",
		    (uint64_t)o->locked_until);
	if (auditrec_append(&j->rec, env->audit, time(NULL), cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	if (o->result != ENROLCODE_LOCKOUT)
		return 0;
	auditrec_init(&extra, "totp_enrol_lockout", &j->who, NULL);
	auditrec_uint(&extra, "seconds", o->retry_after);
	auditrec_uint(&extra, "locked_until", (uint64_t)o->locked_until);
	auditrec_uint(&extra, "lock_count", o->lock_count);
	return auditrec_append(&extra, env->audit, time(NULL), cj->err,
	    sizeof(cj->err));
}

static void
send_secret(struct reqconn *c, const struct enrol_job *j)
{
	struct wire_msg r;

	wire_msg_init(&r, WIRE_OP_TOTP_SECRET, j->req_id);
	if (wire_msg_set_text(&r, "user", j->who.user) != 0 ||
	    wire_msg_set_text(&r, "uri", j->secret.uri) != 0 ||
	    wire_msg_set_text(&r, "secret", j->secret.base32) != 0 ||
	    wire_msg_set_text(&r, "qr_svg", j->svg) != 0) {
		/* Cannot happen within the bounds above; the code is used up
		 * all the same, so say what to do. */
		reqconn_send_error(c, j->req_id, "unavailable", "the broker "
		    "could not send the new secret; ask your administrator "
		    "for a new enrolment code", NULL, 0);
	} else
		reqconn_send(c, &r);
	/* The message copied the secret: wipe the copies too. */
	for (size_t i = 0; i < r.nfields; i++)
		if (r.fields[i].v.type == WIRE_T_TEXT &&
		    r.fields[i].v.text != NULL)
			OPENSSL_cleanse(r.fields[i].v.text, r.fields[i].v.len);
	wire_msg_clear(&r);
}

static void
done_enrol(struct commit_job *cj, int status)
{
	struct enrol_job *j = cj->arg;
	struct reqconn *c = j->c;
	const struct enrolcode_outcome *o = &j->o;
	char msg[WIRE_MAX_MESSAGE + 1];

	if (status != 0) {
		log_kv("error", "totp_enrol", "user=%s reason=\"%s\"",
		    j->who.user, cj->err);
		if (!reqconn_ending(c))
			reqconn_send_error(c, j->req_id, "unavailable", "the "
			    "broker could not check the enrolment code; try "
			    "again later (the code was not used)", NULL, 30);
		goto out;
	}
	log_kv("info", "totp_enrol", "user=%s result=%s reason=%s",
	    j->who.user, enrolcode_result_name(o->result),
	    o->reason[0] != '\0' ? o->reason : "-");
	if (reqconn_ending(c))
		goto out;
	switch (o->result) {
	case ENROLCODE_REDEEMED:
		send_secret(c, j);
		break;
	case ENROLCODE_USED:
		reqconn_send_error(c, j->req_id, "enrol_code_used", "this "
		    "enrolment code has been used already; if it was not you "
		    "who used it, tell your administrator at once; else ask "
		    "for a new code", "code", 0);
		break;
	case ENROLCODE_EXPIRED:
		reqconn_send_error(c, j->req_id, "enrol_code_expired", "this "
		    "enrolment code has expired; ask your administrator for a "
		    "new one", "code", 0);
		break;
	case ENROLCODE_ACTIVE:
		reqconn_send_error(c, j->req_id, "totp_active", "your account "
		    "already has an active one-time code (TOTP) setup; ask "
		    "your administrator for an enrolment code that replaces "
		    "it", "code", 0);
		break;
	case ENROLCODE_LOCKOUT:
	case ENROLCODE_LOCKED:
		snprintf(msg, sizeof(msg), "too many wrong enrolment codes: "
		    "enrolment is locked for your account for %" PRIu64
		    " more seconds", o->retry_after);
		reqconn_send_error(c, j->req_id, "locked", msg, "code",
		    o->retry_after > 0 ? o->retry_after : 1);
		break;
	case ENROLCODE_WRONG:
	default:
		reqconn_send_error(c, j->req_id, "enrol_code_invalid", "the "
		    "enrolment code was not accepted; check it against what "
		    "your administrator gave you (a code is for one user and "
		    "one use)", "code", 0);
		break;
	}
out:
	enrol_job_free(j);
	reqconn_done_waiting(c);
}

void
enrol_handle_totp_enrol(struct reqconn *c, const struct wire_msg *m)
{
	const char *code = wire_msg_text(m, "code");
	char canon[ENROLCODE_CHARS + 1];
	struct enrol_job *j;
	int shape;

	if (c->b->stepup == NULL) {
		reqconn_send_error(c, m->id, "unavailable", NO_STEPUP_MSG,
		    NULL, 0);
		return;
	}
	shape = enrolcode_normalize(code, canon);
	OPENSSL_cleanse(canon, sizeof(canon));
	if (shape != 0) {
		reqconn_send_error(c, m->id, "bad_value", "an enrolment code "
		    "has 12 characters, letters A-Z and digits 2-7, written "
		    "XXXX-XXXX-XXXX; check what your administrator gave you",
		    "code", 0);
		return;
	}
	if (!principal_allowed(c)) {
		refuse_now(c, m, "totp_enrol_refused", "reason", "not_allowed",
		    "forbidden", "the interface register does not admit your "
		    "account (disabled, or unknown to it); ask your "
		    "administrator");
		return;
	}
	if (request_refuse_unaudited(c, m->id))
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    util_strlcpy(j->typed, code, sizeof(j->typed)) != 0) {
		if (j != NULL)
			enrol_job_free(j);
		reqconn_send_error(c, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return;
	}
	j->c = c;
	j->who = c->who;
	j->req_id = m->id;
	j->now = broker_now(c->b);
	j->su = c->b->stepup;
	auditrec_init(&j->rec, "totp_enrol_redeemed", &c->who, c->peer);
	j->job.work = work_enrol;
	j->job.done = done_enrol;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(c->b->committer, &j->job);
}

/* ---- totp_confirm ---------------------------------------------------- */

static int
work_confirm(struct commit_job *cj, struct commit_env *env)
{
	struct confirm_job *j = cj->arg;
	struct store_totp t;
	int rc;

	if (stepup_audit_pending(env->store, env->audit, time(NULL), cj->err,
	    sizeof(cj->err)) < 0)
		goto fail;
	rc = store_totp_get(env->store, j->who.user, &t, cj->err,
	    sizeof(cj->err));
	if (rc != 0 && rc != STORE_NOTFOUND)
		goto fail;
	j->pending = rc == 0 && strcmp(t.state, STORE_TOTP_PENDING) == 0;
	OPENSSL_cleanse(&t, sizeof(t));
	if (!j->pending) {
		OPENSSL_cleanse(j->otp, sizeof(j->otp));
		auditrec_text(&j->rec, "result", "not_pending");
		return auditrec_append(&j->rec, env->audit, time(NULL),
		    cj->err, sizeof(cj->err));
	}
	/* The same check, counting and records as a step-up with this
	 * secret (the attempt as totp_confirm, then totp_activate or
	 * stepup_lockout). */
	return stepgate_verify(j->su, env, &j->who, j->otp, sizeof(j->otp),
	    j->now, &j->rec, &j->so, cj->err, sizeof(cj->err));
fail:
	OPENSSL_cleanse(j->otp, sizeof(j->otp));
	return -1;
}

static void
done_confirm(struct commit_job *cj, int status)
{
	struct confirm_job *j = cj->arg;
	struct reqconn *c = j->c;
	struct wire_msg r;
	char msg[WIRE_MAX_MESSAGE + 1];
	const char *code;
	uint64_t retry_after;

	if (status != 0) {
		log_kv("error", "totp_confirm", "user=%s reason=\"%s\"",
		    j->who.user, cj->err);
		if (!reqconn_ending(c))
			reqconn_send_error(c, j->req_id, "unavailable", "the "
			    "broker could not check the one-time code; try "
			    "again later", NULL, 30);
		goto out;
	}
	log_kv("info", "totp_confirm", "user=%s result=%s", j->who.user,
	    j->pending ? stepup_result_name(j->so.result) : "not_pending");
	if (reqconn_ending(c))
		goto out;
	if (!j->pending) {
		reqconn_send_error(c, j->req_id, "no_pending_secret", "no "
		    "one-time code setup is waiting for confirmation on your "
		    "account; redeem an enrolment code first (totp_enrol)",
		    NULL, 0);
		goto out;
	}
	if ((code = stepgate_refusal(&j->so, msg, sizeof(msg),
	    &retry_after)) != NULL) {
		reqconn_send_error(c, j->req_id, code, msg, "otp",
		    retry_after);
		goto out;
	}
	wire_msg_init(&r, WIRE_OP_TOTP_ENROLLED, j->req_id);
	wire_msg_set_text(&r, "user", j->who.user);
	reqconn_send(c, &r);
	wire_msg_clear(&r);
out:
	OPENSSL_cleanse(j, sizeof(*j));
	free(j);
	reqconn_done_waiting(c);
}

void
enrol_handle_totp_confirm(struct reqconn *c, const struct wire_msg *m)
{
	const char *otp = wire_msg_text(m, "otp");
	struct confirm_job *j;

	if (c->b->stepup == NULL) {
		reqconn_send_error(c, m->id, "unavailable", NO_STEPUP_MSG,
		    NULL, 0);
		return;
	}
	if (!principal_allowed(c)) {
		refuse_now(c, m, "totp_confirm", "result", "not_allowed",
		    "forbidden",
		    "the interface register does not admit your account "
		    "(disabled, or unknown to it); ask your administrator");
		return;
	}
	if (request_refuse_unaudited(c, m->id))
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    util_strlcpy(j->otp, otp != NULL ? otp : "", sizeof(j->otp)) !=
	    0) {
		if (j != NULL) {
			OPENSSL_cleanse(j, sizeof(*j));
			free(j);
		}
		reqconn_send_error(c, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return;
	}
	j->c = c;
	j->who = c->who;
	j->req_id = m->id;
	j->now = broker_now(c->b);
	j->su = c->b->stepup;
	auditrec_init(&j->rec, "totp_confirm", &c->who, c->peer);
	j->job.work = work_confirm;
	j->job.done = done_confirm;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(c->b->committer, &j->job);
}
