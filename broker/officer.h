/*
 * officer — the broker side of approval officers (承認者): the protocol
 * handlers for held transfers and exceptions, the hooks the upload path
 * calls, the periodic sweep (expired waits, unconfirmed emergencies) and
 * the notifications. The rules themselves are in broker/approvals.h.
 *
 * Every officer action needs, checked on the broker and never left to the
 * client: the officer role in the register in force, and a TOTP step-up
 * made with the same client certificate no longer ago than
 * approvals.officer_stepup_max_age (a request may carry "otp" to make
 * one); the request layer's table checks both before a handler here runs
 * (handlers.h, dispatch.h). Separation of duties and authority over the
 * interface are checked here by the approvals rules against the register
 * in force.
 *
 * Threads: everything here runs on the event loop, except the functions
 * marked "commit thread".
 */
#ifndef SEKISHO_OFFICER_H
#define SEKISHO_OFFICER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "broker/store.h"
#include "lib/wire.h"
#include "policy/policy.h"

struct broker;
struct config;
struct notify_config;
struct reqconn;
struct store;
struct transfer;
struct wire_msg;

struct officer;

#define OFFICER_CONTEXT_MAX 16	/* exceptions given to one decision */

/*
 * Creates the officer state and loads the open exceptions from st. Main
 * thread, before the commit thread starts (it uses the store directly).
 * -1 with err.
 */
int officer_new(struct store *st, struct officer **out, char *err,
    size_t errlen);

/* The notification settings of cfg (pointers into cfg), as officer_start
 * hands them to notify_start and the start-up checks to notify_check. */
void officer_notify_config(const struct config *cfg, struct notify_config *nc);

/* Loop thread, after the committer started: the notification worker and
 * the sweep timer (which runs once at once, then every minute). */
int officer_start(struct officer *o, struct broker *b, char *err,
    size_t errlen);

/* Stops the timer and the notifications (the loop is ending). */
void officer_stop(struct officer *o);
void officer_free(struct officer *o);

/*
 * The handlers of the table (handlers.h) for held transfers and
 * exceptions. The table has checked, before they run, that the module
 * runs, the principal's roles and the step-up; the approvals rules
 * (separation of duties, authority over the interface) are checked here.
 * officer_handle_exception_change serves exception_refuse, _revoke and
 * _confirm.
 */
void officer_handle_approvals_ls(struct reqconn *c, const struct wire_msg *m);
void officer_handle_approve(struct reqconn *c, const struct wire_msg *m);
void officer_handle_reject(struct reqconn *c, const struct wire_msg *m);
void officer_handle_exception_request(struct reqconn *c,
    const struct wire_msg *m);
void officer_handle_exception_grant(struct reqconn *c,
    const struct wire_msg *m);
void officer_handle_exception_change(struct reqconn *c,
    const struct wire_msg *m);
void officer_handle_exception_ls(struct reqconn *c, const struct wire_msg *m);

/* A refusal of an officer or exception op: audited ("officer_refused"),
 * logged, answered with code and message. */
void officer_refuse(struct reqconn *c, const struct wire_msg *m,
    const char *code, const char *message);

/* ---- hooks of the upload path ------------------------------------------ */

/* What the upload path keeps about a put that needs officers or went
 * through an exception. */
struct officer_put {
	char exception[POLICY_ID_MAX + 1];	/* "" when none */
	char approvers[POLICY_ID_MAX + 1];	/* "" when no hold */
	unsigned approvals;
};

/*
 * Before policy_decide: the exceptions in force for who on interface at
 * now go into ctx (stored in buf, OFFICER_CONTEXT_MAX entries). o may
 * be NULL (no exceptions).
 */
void officer_put_context(const struct officer *o, const struct policy *p,
    const struct policy_principal *who, const char *interface, time_t now,
    struct policy_exception *buf, struct policy_context *ctx);

/* After the decision: what to remember for the transfer. */
void officer_put_from_decision(const struct policy_decision *d,
    struct officer_put *out);

/*
 * Commit thread, when the transfer is created (or resumed): counts the use
 * of the exception op->exception, if any, after checking it in the store.
 * 0 when fine, 1 when the exception no longer allows it (err says why;
 * the caller refuses the put), -1 on a store error.
 */
int officer_record_use(struct store *st, const struct officer_put *op,
    const char *transfer, const char *user, time_t now, char *err,
    size_t errlen);
/* Loop, after that job: the cache counts the use too. */
void officer_used(struct officer *o, const struct officer_put *op);

/*
 * Commit thread, in the job that makes a transfer "stored": when op asks
 * for approval, holds it (state "held", a pending request). Returns 1 when
 * held, 0 when not needed, -1 on a store error.
 */
int officer_hold(struct store *st, const struct officer_put *op,
    const struct transfer *t, uint64_t hold_secs, time_t now, char *err,
    size_t errlen);
/* Loop, after that job is durable: tells the officers. */
void officer_held(struct officer *o, const struct transfer *t,
    const struct officer_put *op, time_t now);

/*
 * Commit thread, for a status answer: the approval request of transfer,
 * if any (1 found, 0 none, -1 error).
 */
int officer_status(struct store *st, const char *transfer,
    struct store_approval *out, char *err, size_t errlen);
/* Adds the approval fields of a (from officer_status) to a state
 * message. */
void officer_status_fields(const struct store_approval *a,
    struct wire_msg *state);

#endif
