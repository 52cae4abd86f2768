/*
 * regapproval — changes of the interface register under two-person
 * approval, in the request layer (register.mode: approved; docs/policy.md
 * "Approved register"): proposals by administrators, votes by the members
 * of register_approvers of the version in force, activation (the policy
 * swapped on the loop as a reload does), expiry of proposals and the
 * revert of emergency changes nobody confirmed. Every step is audited.
 * The administrative side (bootstrap, export, checks of a text) is
 * regadmin.h; the tables regstore.h.
 *
 * Requests run on the loop; store work runs as commit jobs. A version that
 * becomes active is loaded on the commit thread before its transaction
 * commits, so the store never names a version in force the broker could
 * not load.
 */
#ifndef SEKISHO_REGAPPROVAL_H
#define SEKISHO_REGAPPROVAL_H

#include <stddef.h>

struct store;

struct broker;
struct reqconn;
struct wire_msg;
struct regapproval;

/*
 * Starts the request-layer part on b (register.mode approved only): the
 * digests of the version in force (for diffs) are read from st, which
 * must still be this thread's (before the commit thread starts), and a
 * timer expires proposals and reverts unconfirmed emergency changes, the
 * first time right after start (a deadline that passed while the broker
 * was stopped is applied then). b->regapproval is set. 0, or -1 with err.
 */
int regapproval_start(struct broker *b, struct store *st, char *err,
    size_t errlen);
/* Stops the timer and frees everything (after the commit thread ended). */
void regapproval_free(struct regapproval *ra);

/*
 * The handlers (handlers.c): register_propose (admin role and a fresh
 * step-up by the table), register_ls/show/diff (admins and members of
 * register_approvers), register_approve/reject (members of
 * register_approvers of the version in force, fresh step-up by the
 * table). Refusals are audited as register_refused.
 */
void regapproval_handle_propose(struct reqconn *c, const struct wire_msg *m);
void regapproval_handle_ls(struct reqconn *c, const struct wire_msg *m);
void regapproval_handle_show(struct reqconn *c, const struct wire_msg *m);
void regapproval_handle_vote(struct reqconn *c, const struct wire_msg *m);
void regapproval_refuse(struct reqconn *c, const struct wire_msg *m,
    const char *code, const char *message);

#endif
