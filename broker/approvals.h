/*
 * approvals — approval officers (承認者): transfers held until officers
 * approve them (上長承認) and time-boxed exceptions (例外措置).
 *
 * Three layers, each usable alone:
 *
 *   - Rules, pure functions of a register, a principal, a record and `now`:
 *     who may vote on a held transfer (officer role, member of the
 *     interface's approver group, never the uploader, once), how votes
 *     count (N approvals close it as approved, one rejection closes it as
 *     rejected), who may request, grant, refuse, confirm and revoke an
 *     exception, and whether an exception is in force at a given time.
 *     Nothing here touches the store or the clock.
 *
 *   - The cache, the event loop's copy of every open exception (requested
 *     or active), so policy_decide can be given the exceptions of a
 *     request without waiting for the commit thread. The store is the
 *     truth: the cache is loaded from it at start and updated only after a
 *     change is durable; a use is checked again against the store on the
 *     commit thread (approvals_use_exception) before it counts.
 *
 *   - Store operations for the commit thread's jobs: hold a transfer,
 *     record a vote and close the request, sweep expired requests and
 *     unconfirmed emergency exceptions, record a use, and the check the
 *     delivery side makes before forwarding (approvals_may_forward).
 *     They run inside the caller's transaction (a commit job's savepoint):
 *     none of them begins or commits.
 *
 * Separation of duties lives here, in the broker: the client only asks.
 *
 * Errors: functions that can fail return -1 with a message in err;
 * refusals by the rules are not errors and come back as an enum
 * approvals_code with a message for the person refused.
 */
#ifndef SEKISHO_APPROVALS_H
#define SEKISHO_APPROVALS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "broker/store.h"
#include "policy/policy.h"

#define APPROVALS_DEFAULT_HOLD (72 * 3600)	/* a held transfer waits */
#define APPROVALS_DEFAULT_CONFIRM (24 * 3600)	/* to confirm an emergency */
#define APPROVALS_DEFAULT_STEPUP_AGE (5 * 60)	/* officer step-up age */
#define APPROVALS_MAX_PRINCIPALS 16	/* users, and groups, of one exception */
#define APPROVALS_MAX_VOTES 16		/* as many as an interface may require */
#define APPROVALS_CACHE_MAX 4096	/* open exceptions the broker keeps */
#define APPROVALS_CONTEXT_MAX 16	/* exceptions passed to one decision */

/* Release state of an approved transfer: what a stored transfer that
 * needs no approval becomes, so delivery picks it up. */
#define APPROVALS_RELEASED STORE_STORED

/* Why the rules refuse; approvals_code_name gives the wire code. */
enum approvals_code {
	APPROVALS_OK = 0,
	APPROVALS_NOT_OFFICER,		/* "not_officer": no officer role */
	APPROVALS_NO_AUTHORITY,		/* "no_authority": not an approver of
					   the interface */
	APPROVALS_OWN_REQUEST,		/* "own_request": separation of duties */
	APPROVALS_ALREADY_VOTED,	/* "already_voted" */
	APPROVALS_NOT_PENDING,		/* "not_pending": already decided */
	APPROVALS_EXPIRED,		/* "expired" */
	APPROVALS_NOT_PERMITTED,	/* "not_permitted": outside the
					   interface's exception limits, or
					   the requester may not ask */
	APPROVALS_TOO_LONG,		/* "too_long": within the limits but
					   longer than their max_duration */
	APPROVALS_BAD_STATE		/* "bad_state": not in a state that
					   allows this */
};

const char *approvals_code_name(enum approvals_code c);

/* ---- ids and lists ---------------------------------------------------- */

/* A fresh exception id, "EX-" and 12 lowercase hex digits (48 random bits
 * from the OS CSPRNG). -1 only when the CSPRNG fails. */
int approvals_new_exception_id(char out[STORE_EX_ID_MAX + 1]);
/* True when s has that form. */
int approvals_is_exception_id(const char *s);

/*
 * Normalises a list of ids given as text separated by commas and/or
 * spaces ("u-a,u-b", "u-a u-b") into out as "u-a u-b": every id a
 * util_is_token of at most 64 characters, no duplicates, at most
 * APPROVALS_MAX_PRINCIPALS of them. An empty or NULL s gives "". -1 with
 * the offending item named in err.
 */
int approvals_list_parse(const char *s, char *out, size_t outlen,
    char *err, size_t errlen);
/* True when the normalised list holds id. */
int approvals_list_has(const char *list, const char *id);

/* ---- held transfers: rules -------------------------------------------- */

/*
 * May officer (as the certificate names them) vote on request a at now?
 * In order: the officer role in the register (policy_principal_roles), the
 * request still pending and not past a->expires, membership of the
 * request's approver group (policy_group_has), not the uploader, not
 * already voted (voted: whether the store holds a vote of this officer).
 * Returns the first failing check with a message for the officer in msg.
 */
enum approvals_code approvals_check_vote(const struct policy *p,
    const struct policy_principal *officer, const struct store_approval *a,
    int voted, time_t now, char *msg, size_t msglen);

/* What the votes so far make of a request: STORE_AP_REJECTED after any
 * rejection, STORE_AP_APPROVED once approvals >= required, else
 * STORE_AP_PENDING. */
const char *approvals_tally(unsigned required, unsigned approvals,
    unsigned rejections);

/* ---- exceptions: rules ------------------------------------------------ */

/*
 * The state of e as people see it at now: "requested", "refused",
 * "revoked", "scheduled" (granted, not yet started), "active",
 * "unconfirmed" (an emergency past its confirmation deadline, about to be
 * revoked), "used_up" (usage limit reached) or "expired" (past
 * not_after).
 */
const char *approvals_exception_status(const struct store_exception *e,
    time_t now);
/* True when e may carry a new transfer at now: status "active". */
int approvals_exception_usable(const struct store_exception *e, time_t now);
/* True when a transfer accepted under e may still be forwarded at now:
 * granted, not revoked, not past not_after, and an emergency confirmed or
 * still within its confirmation time. The usage limit does not stop a
 * transfer that was counted within it. */
int approvals_exception_holds(const struct store_exception *e, time_t now);
/* True when e names who's user or a group who belongs to. */
int approvals_exception_covers(const struct policy *p,
    const struct store_exception *e, const struct policy_principal *who);
/* The policy's view of e for user; pointers into e and user. */
void approvals_exception_to_policy(const struct store_exception *e,
    const char *user, struct policy_exception *out);

/*
 * A staff member asks for an exception for themselves: e->users must be
 * exactly the requester, e->groups empty; the register must know them
 * (any role); the interface's exception_limits must allow what e asks
 * (policy_exception_check), and e must end after now.
 */
enum approvals_code approvals_check_request(const struct policy *p,
    const struct policy_principal *requester,
    const struct store_exception *e, time_t now, char *msg, size_t msglen);

/*
 * May officer grant e (a request, or a direct grant when e->requester is
 * the officer)? The officer role; authority over the interface (member of
 * its approval group when it has one), except for an emergency grant,
 * which any officer may make and a second officer must confirm; never
 * the requester of someone else's request, never a beneficiary (named,
 * or in a named group); the grant within the interface's limits; not
 * ended at now.
 */
enum approvals_code approvals_check_grant(const struct policy *p,
    const struct policy_principal *officer, const struct store_exception *e,
    int emergency, time_t now, char *msg, size_t msglen);
/* Refuse a request: officer role and authority, not the requester, state
 * requested. */
enum approvals_code approvals_check_refuse(const struct policy *p,
    const struct policy_principal *officer, const struct store_exception *e,
    char *msg, size_t msglen);
/* Confirm an emergency: officer role and authority, not the officer who
 * granted it, not the requester nor a beneficiary, an active emergency
 * not yet confirmed and not past its confirmation deadline. */
enum approvals_code approvals_check_confirm(const struct policy *p,
    const struct policy_principal *officer, const struct store_exception *e,
    time_t now, char *msg, size_t msglen);
/* Revoke: officer role and authority; state active. Anyone with authority
 * may narrow, the granter and a beneficiary included. */
enum approvals_code approvals_check_revoke(const struct policy *p,
    const struct policy_principal *officer, const struct store_exception *e,
    char *msg, size_t msglen);

/* ---- the loop's cache of open exceptions ------------------------------ */

struct approvals_cache {
	struct store_exception *e;	/* sorted by id */
	size_t n, cap;
};

void approvals_cache_init(struct approvals_cache *c);
void approvals_cache_free(struct approvals_cache *c);
/* Loads every requested and active exception from the store (main thread
 * before the commit thread starts, or on the commit thread). Replaces the
 * contents. -1 with err, or when there are more than APPROVALS_CACHE_MAX. */
int approvals_cache_load(struct approvals_cache *c, struct store *st,
    char *err, size_t errlen);
/* Inserts or replaces e (by id); a refused or revoked e is removed. -1
 * when the cache is full or out of memory (the caller must then refuse
 * the change that would need it). */
int approvals_cache_put(struct approvals_cache *c,
    const struct store_exception *e);
const struct store_exception *approvals_cache_find(
    const struct approvals_cache *c, const char *id);
/* Counts one use of id (after the store recorded it). */
void approvals_cache_count_use(struct approvals_cache *c, const char *id);
/*
 * The exceptions usable at now for who on interface, as the policy wants
 * them, into out (at most max; pointers into the cache and who, valid
 * until the cache changes). Returns how many.
 */
size_t approvals_cache_context(const struct approvals_cache *c,
    const struct policy *p, const struct policy_principal *who,
    const char *interface, time_t now, struct policy_exception *out,
    size_t max);

/* ---- store operations (commit thread, inside a transaction) ----------- */

/*
 * Holds a transfer that was just stored: the transfer's state becomes
 * STORE_HELD and a pending request waits for `required` officers of group
 * approvers until now + hold_secs.
 */
int approvals_hold(struct store *st, const struct transfer *t,
    const char *approvers, unsigned required, uint64_t hold_secs,
    time_t now, char *err, size_t errlen);

/* What approvals_vote did. */
struct approvals_vote_result {
	enum approvals_code code;	/* APPROVALS_OK when the vote counted */
	char state[16];			/* request state after the vote */
	unsigned approvals;		/* approve votes after this one */
	unsigned required;
};

/*
 * Records v (checked by approvals_check_vote on the loop) if the request
 * is still pending and unexpired at now and the officer has not voted:
 * compare-and-set against concurrent votes. Closes the request when the
 * tally says so: approved → the transfer goes to APPROVALS_RELEASED;
 * rejected → STORE_REJECTED (the caller removes the spool file once this
 * is durable). A refused vote is not an error (result->code says why).
 */
int approvals_vote(struct store *st, const struct store_vote *v,
    time_t now, struct approvals_vote_result *result, char *err,
    size_t errlen);

/*
 * Records that transfer went through exception id, after checking in the
 * store that the exception is usable at now (still active, inside its
 * window, under its usage limit). Returns 0 when counted (or already
 * counted for this transfer), 1 with a reason in err when the exception
 * no longer allows it, -1 on a store error.
 */
int approvals_use_exception(struct store *st, const char *id,
    const char *transfer, const char *user, time_t now, char *err,
    size_t errlen);

/*
 * The check before a transfer is forwarded: 1 when it may go, 0 when it
 * may not (reason says why: held, rejected, expired approval, or the
 * exception it came through was revoked, expired or never confirmed), -1
 * on a store error.
 */
int approvals_may_forward(struct store *st, const char *transfer,
    time_t now, char *reason, size_t reasonlen);

/* One change made by approvals_sweep, for the audit trail and the
 * notifications. */
struct approvals_change {
	const char *kind;		/* "approval_expired" or
					   "exception_auto_revoked" */
	const struct store_approval *a;	/* approval_expired */
	const struct store_exception *e;	/* exception_auto_revoked */
};

/*
 * Closes every pending request whose wait ended before now (request
 * "expired", transfer "expired" with a reason; the caller removes spool
 * files) and revokes every emergency exception not confirmed by its
 * deadline. Calls fn for each change, inside the transaction; fn returning
 * -1 fails the sweep, 1 stops it after that change (the rest waits for
 * the next sweep). Returns the number of changes or -1.
 */
int approvals_sweep(struct store *st, time_t now,
    int (*fn)(const struct approvals_change *ch, void *arg), void *arg,
    char *err, size_t errlen);

#endif
