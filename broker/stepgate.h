/*
 * stepgate — a one-time code checked on behalf of a request, the same way
 * for staff (put) and officers: the verification and its audit records on
 * the commit thread, and the answer the client gets on the loop.
 */
#ifndef SEKISHO_STEPGATE_H
#define SEKISHO_STEPGATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "broker/auditrec.h"
#include "broker/stepup.h"

struct commit_env;

/*
 * Commit thread. Appends the administrator's queued enrolment records,
 * checks otp for who at now (stepup_verify), wipes otp, and appends rec
 * (the attempt, with its result, failures, lock count and lock end) and,
 * after it, "totp_activate" or "stepup_lockout" when the attempt activated
 * a secret or locked the account. -1 with the reason on a store or audit
 * error; a wrong code is not an error (see o->result).
 */
int stepgate_verify(const struct stepup *su, struct commit_env *env,
    const struct principal *who, char *otp, size_t otplen, time_t now,
    struct auditrec *rec, struct stepup_outcome *o, char *err,
    size_t errlen);

/*
 * Loop thread. NULL when the outcome lets the request go on; otherwise the
 * wire error code, with the message for the user in msg and the seconds to
 * wait in *retry_after (0 for none). A replayed code reads like a wrong one.
 */
const char *stepgate_refusal(const struct stepup_outcome *o, char *msg,
    size_t msglen, uint64_t *retry_after);

#endif
