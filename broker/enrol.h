/*
 * enrol — TOTP enrolment by the user, without the server console: the
 * request handlers of the ops totp_enrol and totp_confirm (handlers.h
 * table; docs/protocol.md).
 *
 *   totp_enrol {code}: the principal of the certificate redeems the
 *     one-time enrolment code the administrator issued for that user
 *     (enrolcode.h). Checked on the commit thread; a good code is used up
 *     and a pending TOTP secret is created, answered once with
 *     totp_secret {user, uri, secret, qr_svg}. Nothing else ever shows the
 *     secret again. A code issued for another user is refused exactly like
 *     a wrong one; failures lead to a lockout of their own.
 *   totp_confirm {otp}: the first code of the pending secret activates it
 *     (stepup_verify, with the step-up's failure counting and lockout),
 *     answered totp_enrolled {user}; refused when nothing is pending.
 *
 * Audit records (docs/audit.md): totp_enrol_redeemed, totp_enrol_refused
 * (with the reason), totp_enrol_lockout, totp_confirm (each attempt, with
 * its result), totp_activate and stepup_lockout as for step-ups. No code
 * and no secret is ever in a record or a log line.
 *
 * Threads: handlers run on the event loop; their checks run as commit
 * jobs.
 */
#ifndef SEKISHO_ENROL_H
#define SEKISHO_ENROL_H

struct reqconn;
struct wire_msg;

void enrol_handle_totp_enrol(struct reqconn *c, const struct wire_msg *m);
void enrol_handle_totp_confirm(struct reqconn *c, const struct wire_msg *m);

#endif
