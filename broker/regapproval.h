/*
 * regapproval — the interface register under two-person approval
 * (register.mode: approved; docs/policy.md "Approved register").
 *
 * In approved mode the broker runs only a version of the register that is
 * stored in the state store and was approved (regstore.h); the file named
 * by register.path is only the administrator's working copy. This module
 * holds what the daemon and the command line need for that:
 *   - the first version, installed by `sekishod --register-bootstrap`
 *     (explicit, audited through the store's queued-audit events, as the
 *     TOTP commands are);
 *   - reading the version in force at start;
 *   - telling whether the file on disk is that version (a SIGHUP that finds
 *     another file is refused: someone edited it outside the process).
 *
 * Checks of a candidate text are those of `sekishod --check-config`:
 * policy_load_buffer (errors with line numbers) and forward_check (what
 * delivery needs); lint findings are warnings, as there.
 *
 * Ownership: malloc'd buffers and policies go to the caller (free,
 * policy_free, regdiff_free). Errors are returned in err, never printed.
 */
#ifndef SEKISHO_REGAPPROVAL_H
#define SEKISHO_REGAPPROVAL_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "lib/util.h"

struct config;
struct policy;
struct regdiff;
struct store;

/* SHA-256 of buf as lower-case hex (the register hash policy_hash gives). */
int regapproval_sha256(const char *buf, size_t len,
    char out[UTIL_SHA256_HEX + 1], char *err, size_t errlen);

/*
 * The version in force, read from the store: its text (malloc'd, *len
 * bytes, NUL-terminated) and hash. STORE_NOTFOUND (1) with an
 * explanation naming --register-bootstrap when none was installed; -1 on
 * an error. Checks that the text still has its hash.
 */
int regapproval_active_text(struct store *st, char **buf, size_t *len,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen);

/*
 * Checks a candidate text as --check-config does: the register must load
 * (an error names its line) and every service must be deliverable with
 * cfg (each problem one line on problems, may be NULL). name is used in
 * messages ("register.yaml"). On success *p (and *rd when rd is not NULL)
 * hold the loaded register; on failure they are NULL and err says the
 * first problem.
 */
int regapproval_check_text(const struct config *cfg, const char *name,
    const char *buf, size_t len, FILE *problems, struct policy **p,
    struct regdiff **rd, char *err, size_t errlen);

/*
 * --register-bootstrap: installs the text of file as the first version in
 * force, with reason and actor (the administrator's login), in one
 * transaction of st, and queues the "register_bootstrap" audit event the
 * broker moves into the trail. Refused when cfg is not in approved mode,
 * when a version is in force already (changes are proposed and approved),
 * or when the text does not pass regapproval_check_text. *sha is the
 * installed version.
 */
int regapproval_bootstrap(const struct config *cfg, struct store *st,
    const char *file, const char *reason, const char *actor, time_t now,
    FILE *problems, char sha[UTIL_SHA256_HEX + 1], char *err,
    size_t errlen);

/* ---- the broker's part: requests, activation, the sweep --------------- */

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
