/*
 * stepgate — see stepgate.h. One place decides what a step-up attempt
 * leaves in the trail and what the user is told, so a put and an officer
 * action cannot drift apart.
 */
#include "broker/stepgate.h"
#include "broker/committer.h"

#include <inttypes.h>
#include <stdio.h>
#include <openssl/crypto.h>

int
stepgate_verify(const struct stepup *su, struct commit_env *env,
    const struct principal *who, char *otp, size_t otplen, time_t now,
    struct auditrec *rec, struct stepup_outcome *o, char *err, size_t errlen)
{
	struct auditrec extra;
	int rc;

	/* Enrolments queued by the administrator enter the trail before
	 * their first use. */
	rc = stepup_audit_pending(env->store, env->audit, time(NULL), err,
	    errlen) < 0 ? -1 : stepup_verify(su, env->store, who->user, otp,
	    now, o, err, errlen);
	OPENSSL_cleanse(otp, otplen);
	if (rc != 0)
		return -1;
	auditrec_text(rec, "result", stepup_result_name(o->result));
	auditrec_uint(rec, "failures", o->failures);
	auditrec_uint(rec, "lock_count", o->lock_count);
	if (o->locked_until != 0)
		auditrec_uint(rec, "locked_until", (uint64_t)o->locked_until);
	if (auditrec_append(rec, env->audit, time(NULL), err, errlen) != 0)
		return -1;
	if (o->result == STEPUP_ACTIVATED) {
		auditrec_init(&extra, "totp_activate", who, NULL);
		auditrec_uint(&extra, "at", (uint64_t)now);
	} else if (o->result == STEPUP_LOCKOUT) {
		auditrec_init(&extra, "stepup_lockout", who, NULL);
		auditrec_uint(&extra, "seconds", o->retry_after);
		auditrec_uint(&extra, "locked_until",
		    (uint64_t)o->locked_until);
		auditrec_uint(&extra, "lock_count", o->lock_count);
	} else
		return 0;
	return auditrec_append(&extra, env->audit, time(NULL), err, errlen);
}

const char *
stepgate_refusal(const struct stepup_outcome *o, char *msg, size_t msglen,
    uint64_t *retry_after)
{
	*retry_after = 0;
	switch (o->result) {
	case STEPUP_OK:
	case STEPUP_ACTIVATED:
		return NULL;
	case STEPUP_NOT_ENROLLED:
		snprintf(msg, msglen, "no one-time code (TOTP) is enrolled for "
		    "your account; ask your administrator to enrol you");
		return "step_up_failed";
	case STEPUP_LOCKOUT:
	case STEPUP_LOCKED:
		snprintf(msg, msglen, "too many wrong one-time codes: step-up "
		    "is locked for your account for %" PRIu64 " more seconds",
		    o->retry_after);
		*retry_after = o->retry_after > 0 ? o->retry_after : 1;
		return "locked";
	case STEPUP_WRONG:
	case STEPUP_REPLAY:
	default:
		snprintf(msg, msglen, "the one-time code was not accepted; try "
		    "again with the code your authenticator app shows now");
		return "step_up_failed";
	}
}
