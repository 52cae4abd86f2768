/*
 * store — the broker's state in SQLite (WAL): transfers and their states.
 * Later issues add exceptions, approvals and TOTP state as new numbered
 * migrations; the store is the only module that knows SQL.
 *
 * All statements are prepared with bound parameters. The store is used only
 * from the commit thread (see committer.h), so it has no locks; a connection
 * must not be shared between threads.
 *
 * Return convention: 0 ok, STORE_NOTFOUND when a row is missing, -1 on an
 * error with the SQLite message in err.
 */
#ifndef SEKISHO_STORE_H
#define SEKISHO_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/util.h"
#include "lib/wire.h"

#define STORE_NOTFOUND 1

/* Number of the newest migration this code applies (store_schema_version of
 * an up-to-date database). Bumped with every new migration. */
#define STORE_SCHEMA_VERSION 10

/* Transfer states. "receiving": bytes may still arrive (also after a broken
 * connection, until partial_ttl); "stored": complete, verified, durable;
 * "held" and "rejected" (migration 4): see the approvals section below. */
#define STORE_RECEIVING "receiving"
#define STORE_STORED "stored"
#define STORE_FAILED "failed"
#define STORE_EXPIRED "expired"
/* Delivery (migration 2): "queued" waits for an attempt (first or next);
 * "forwarding" has an attempt under way (or had one when the broker
 * stopped); "delivered" is the end of a successful transfer. */
#define STORE_QUEUED "queued"
#define STORE_FORWARDING "forwarding"
#define STORE_DELIVERED "delivered"
/* Migration 9: the owner withdrew it while held or still receiving; its
 * spool copy is removed, its approval request (if any) closed. */
#define STORE_WITHDRAWN "withdrawn"
#define STORE_MAX_DEST 2048		/* bytes of a destination URL */
#define STORE_MAX_TAG 128		/* bytes of an ETag or version id */

struct store;

struct transfer {
	char id[UTIL_ID_LEN + 1];
	char user[65];
	char dept[65];
	char terminal[65];		/* "" when the certificate names none */
	char cert_fp[UTIL_SHA256_HEX + 1];	/* SHA-256 of the client cert DER */
	char interface[65];
	char name[WIRE_MAX_NAME + 1];	/* as the client gave it; display only */
	char purpose[WIRE_MAX_PURPOSE + 1];
	uint64_t size;			/* declared total size */
	unsigned class;			/* 機密性 1..3 */
	char state[16];
	uint64_t received;		/* last durable offset */
	char sha256[UTIL_SHA256_HEX + 1];	/* "" until stored */
	char error[256];		/* reason for failed/expired, else "" */
	int64_t created;		/* unix seconds */
	int64_t updated;
	/* delivery (migration 2) */
	int64_t queued_at;		/* first queued, 0 before */
	unsigned attempts;		/* attempts started */
	int64_t next_attempt_at;	/* unix seconds, 0: now */
	char last_error[256];		/* why the last attempt failed */
	char destination[STORE_MAX_DEST + 1];	/* URL of the last attempt */
	unsigned upstream_status;	/* HTTP status of the last attempt */
	char upstream_etag[STORE_MAX_TAG + 1];
	char upstream_version[STORE_MAX_TAG + 1];
	uint64_t upstream_bytes;	/* bytes sent by the last attempt */
	uint64_t upstream_duration_ms;
	char upstream_spki[UTIL_SHA256_HEX + 1];	/* peer key, hex */
	int64_t spool_until;		/* remove the spool copy from then on;
					   0: removed, or not finished */
};

/* Opens or creates the database (0600), sets WAL and synchronous=FULL,
 * foreign keys on and a busy timeout, applies pending migrations in one
 * transaction each. Refuses a database whose schema is newer than this
 * code (a migration it does not know). */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);

/* Schema version after migrations (for --check-config and tests). */
int store_schema_version(struct store *st);

/* Transactions; savepoints nest inside a transaction. store_begin takes
 * the write lock at once (BEGIN IMMEDIATE). If store_commit fails the
 * transaction may still be open: call store_rollback. store_rollback is a
 * no-op when no transaction is open. store_rollback_to undoes everything
 * since the innermost store_savepoint and ends that savepoint (like
 * store_release, but discarding). */
int store_begin(struct store *st, char *err, size_t errlen);
int store_commit(struct store *st, char *err, size_t errlen);
int store_rollback(struct store *st);
int store_savepoint(struct store *st, char *err, size_t errlen);
int store_release(struct store *st, char *err, size_t errlen);
int store_rollback_to(struct store *st);

int store_transfer_insert(struct store *st, const struct transfer *t,
    char *err, size_t errlen);
int store_transfer_get(struct store *st, const char *id, struct transfer *out,
    char *err, size_t errlen);
/* Transfers (count and declared bytes) user started through interface at
 * or after since (unix seconds), not counting failed, expired or rejected
 * ones: the usage daily limits are checked against. */
int store_transfer_usage(struct store *st, const char *user,
    const char *interface, int64_t since, uint64_t *bytes, uint64_t *count,
    char *err, size_t errlen);
/* Records the durable offset of a receiving transfer (STORE_NOTFOUND when
 * there is no such transfer in state receiving). */
int store_transfer_progress(struct store *st, const char *id,
    uint64_t received, int64_t now, char *err, size_t errlen);
/* Moves a transfer to state; sha256 and error may be NULL (unchanged).
 * The CHECK constraints refuse unknown states and "stored" without sha256. */
int store_transfer_set_state(struct store *st, const char *id,
    const char *state, const char *sha256, const char *error, int64_t now,
    char *err, size_t errlen);

/* Calls fn for every transfer in state (ordered by created), stopping early
 * if fn returns non-zero (still returning 0). Used by recovery and expiry.
 * Rows with updated < before only, unless before is 0. Rows are read a page
 * at a time and fn runs with no statement active, so fn may use the store
 * (e.g. move the row to another state). */
int store_transfer_each(struct store *st, const char *state, int64_t before,
    int (*fn)(const struct transfer *t, void *arg), void *arg,
    char *err, size_t errlen);

/*
 * Delivery (migration 2). Each returns STORE_NOTFOUND when the transfer is
 * not in a state the step may start from, so a stale caller can never move
 * a transfer backwards.
 */
/* stored|queued -> queued; sets queued_at the first time. */
int store_transfer_queue(struct store *st, const char *id, int64_t now,
    char *err, size_t errlen);
/* queued|forwarding -> forwarding, attempts + 1, destination recorded. */
int store_transfer_attempt(struct store *st, const char *id,
    const char *destination, int64_t now, char *err, size_t errlen);

struct store_upstream {
	unsigned status;		/* HTTP status, 0: none */
	const char *etag;		/* NULL or "" when none */
	const char *version;
	uint64_t bytes;
	uint64_t duration_ms;
	const char *spki;		/* hex SHA-256, NULL or "" when unknown */
};
/* Ends an attempt (from queued or forwarding) in state queued (to retry at
 * next_attempt_at), delivered or failed. last_error and error may be NULL
 * (unchanged); spool_until as in struct transfer. */
int store_transfer_attempt_end(struct store *st, const char *id,
    const char *state, const struct store_upstream *u,
    int64_t next_attempt_at, const char *last_error, const char *error,
    int64_t spool_until, int64_t now, char *err, size_t errlen);
/* The spool copy is gone: spool_until = 0. */
int store_transfer_spool_released(struct store *st, const char *id,
    char *err, size_t errlen);
/* Calls fn with the id of every transfer whose spool copy is due for
 * removal (0 < spool_until <= now), paged like store_transfer_each; fn may
 * use the store. */
int store_transfer_each_spool_due(struct store *st, int64_t now,
    int (*fn)(const char *id, void *arg), void *arg, char *err,
    size_t errlen);

/*
 * The owner's transfers, newest first (created, then id, descending): up
 * to max rows into out, *n of them, strictly before (before_created,
 * before_id) when before_id is not NULL (keyset paging).
 */
int store_transfer_list_own(struct store *st, const char *user,
    int64_t before_created, const char *before_id, struct transfer *out,
    size_t max, size_t *n, char *err, size_t errlen);
/* receiving|held -> withdrawn with error, only for user's own transfer
 * (compare-and-set); STORE_NOTFOUND when it is not in such a state. */
int store_transfer_withdraw(struct store *st, const char *id,
    const char *user, const char *error, int64_t now, char *err,
    size_t errlen);

/* Calls fn(state, count) for every state that has transfers, in state
 * order (for the monitor's metrics). fn must not use the store. */
int store_transfer_count_states(struct store *st,
    void (*fn)(const char *state, uint64_t count, void *arg), void *arg,
    char *err, size_t errlen);

/*
 * Open S3 multipart uploads (migration 6): at most one per transfer, the
 * object URL it belongs to and the id the service gave it. Written before
 * the first part is sent, so that a broker stopped or killed in the middle
 * can abort the upload on its next attempt instead of leaving its parts.
 */
#define STORE_MAX_UPLOAD_ID 1024
/* Remembers (url, upload_id) for transfer, replacing what was there. */
int store_upload_set(struct store *st, const char *transfer, const char *url,
    const char *upload_id, int64_t now, char *err, size_t errlen);
/* Forgets transfer's upload if its id is upload_id (NULL: whatever it is).
 * Forgetting nothing is not an error. */
int store_upload_forget(struct store *st, const char *transfer,
    const char *upload_id, char *err, size_t errlen);
/* The upload remembered for transfer: 0 and url/upload_id filled, 1 when
 * there is none, -1 on error (also when a value does not fit). */
int store_upload_get(struct store *st, const char *transfer, char *url,
    size_t urllen, char *upload_id, size_t idlen, char *err, size_t errlen);

/*
 * TOTP step-up state (see broker/stepup.h): one row per enrolled user with
 * the sealed secret, and a queue of audit events written by the
 * administrator's command line for the broker to move into the trail.
 */
#define STORE_TOTP_PENDING "pending"
#define STORE_TOTP_ACTIVE "active"
#define STORE_TOTP_SEALED_MAX 64	/* ciphertext + GCM tag */
#define STORE_TOTP_NONCE 12

struct store_totp {
	char user[65];
	uint8_t sealed[STORE_TOTP_SEALED_MAX];
	size_t sealed_len;
	uint8_t nonce[STORE_TOTP_NONCE];
	char state[8];			/* pending | active */
	int64_t last_step;		/* last accepted TOTP step, 0: none */
	uint64_t failures;		/* consecutive failures */
	int64_t locked_until;		/* unix seconds, 0: not locked */
	uint64_t lock_count;		/* locks since the last success */
	int64_t created;
	int64_t activated;		/* 0 while pending */
};

struct store_totp_event {
	int64_t id;
	int64_t time;
	char type[32];			/* "totp_enrol", "totp_reset" */
	char user[65];
	char actor[65];			/* the administrator's login */
	char detail[128];
};

int store_totp_get(struct store *st, const char *user, struct store_totp *out,
    char *err, size_t errlen);
/* Inserts t, replacing any row of the same user. */
int store_totp_put(struct store *st, const struct store_totp *t, char *err,
    size_t errlen);
/* Writes t's state, last_step, failures, locked_until, lock_count and
 * activated, but only while the row still holds t's nonce and last_step ==
 * expect_step (compare-and-set); STORE_NOTFOUND when it does not. */
int store_totp_update(struct store *st, const struct store_totp *t,
    int64_t expect_step, char *err, size_t errlen);
int store_totp_delete(struct store *st, const char *user, char *err,
    size_t errlen);
int store_totp_event_add(struct store *st, const struct store_totp_event *ev,
    char *err, size_t errlen);
/* The up to max oldest queued events into out, *n of them. */
int store_totp_event_list(struct store *st, struct store_totp_event *out,
    size_t max, size_t *n, char *err, size_t errlen);
int store_totp_event_delete(struct store *st, int64_t id, char *err,
    size_t errlen);

/*
 * One-time TOTP enrolment codes (see broker/enrolcode.h), migration 8: per
 * user at most one code, kept only as a MAC, with its expiry, when it was
 * used, whether it may replace an active secret, and the failures of the
 * user's attempts (their own lockout, apart from the step-up's).
 */
struct store_enrol_code {
	char user[65];
	uint8_t mac[32];
	int has_mac;			/* 0: no code (failures only) */
	int64_t issued;
	int64_t expires;		/* unix seconds */
	int64_t used;			/* when redeemed; 0: not yet */
	int force;			/* may replace an active secret */
	uint64_t failures;		/* consecutive failed attempts */
	int64_t locked_until;		/* 0: not locked */
	uint64_t lock_count;		/* locks since the last success */
};

/* user's row; STORE_NOTFOUND when there is none (*out then names the user
 * and is otherwise zero). */
int store_enrol_code_get(struct store *st, const char *user,
    struct store_enrol_code *out, char *err, size_t errlen);
/* Inserts c, replacing any row of the same user. */
int store_enrol_code_put(struct store *st, const struct store_enrol_code *c,
    char *err, size_t errlen);

/*
 * Held transfers and exceptions (see broker/approvals.h), migration 4.
 *
 * approval_requests: one row per transfer held for approval officers
 * (上長承認); approval_votes: one row per officer and transfer (the primary
 * key is what makes one officer count once); exceptions: time-boxed
 * exceptions (例外措置) from request to end; exception_uses: which transfer
 * went through which exception (one exception per transfer).
 */
#define STORE_HELD "held"		/* transfer state while held */
#define STORE_REJECTED "rejected"	/* transfer state after a rejection */

#define STORE_AP_PENDING "pending"
#define STORE_AP_APPROVED "approved"
#define STORE_AP_REJECTED "rejected"
#define STORE_AP_EXPIRED "expired"
#define STORE_AP_WITHDRAWN "withdrawn"	/* the owner withdrew it (m. 8) */

#define STORE_EX_REQUESTED "requested"
#define STORE_EX_ACTIVE "active"
#define STORE_EX_REFUSED "refused"
#define STORE_EX_REVOKED "revoked"

#define STORE_EX_ID_MAX 31		/* exception ids: "EX-" + 12 hex */
#define STORE_TEXT_MAX 512		/* reasons and comments, in bytes */
#define STORE_EX_LIST_MAX 1040		/* space-separated ids (16 x 64) */
#define STORE_EX_EXTS_MAX 256		/* "pdf,xlsx" (migration 5) */

struct store_approval {
	char transfer[UTIL_ID_LEN + 1];
	char interface[65];
	char user[65];			/* who uploaded (the requester) */
	char approvers[65];		/* register group of the officers */
	unsigned required;		/* approvals needed, 1..16 */
	char state[16];			/* pending|approved|rejected|expired */
	int64_t created;
	int64_t expires;		/* a pending request expires here */
	int64_t decided;		/* 0 while pending */
	char decided_by[65];		/* officer who closed it, "" for expiry */
	char comment[STORE_TEXT_MAX + 1];
	unsigned approvals;		/* approve votes so far (read only) */
};

struct store_vote {
	char transfer[UTIL_ID_LEN + 1];
	char officer[65];
	char cert_fp[UTIL_SHA256_HEX + 1];
	int approve;			/* 1 approve, 0 reject */
	char comment[STORE_TEXT_MAX + 1];
	int64_t at;
};

struct store_exception {
	char id[STORE_EX_ID_MAX + 1];
	char state[16];			/* requested|active|refused|revoked */
	int emergency;
	char interface[65];
	char users[STORE_EX_LIST_MAX + 1];	/* "u-a u-b", may be "" */
	char groups[STORE_EX_LIST_MAX + 1];	/* "g-a", may be "" */
	unsigned max_class;		/* 0: not widened */
	uint64_t max_size;		/* 0: not widened */
	int hours_from, hours_to;	/* minutes; -1/-1: not widened */
	uint64_t max_count;		/* uses allowed; 0: no limit */
	uint64_t uses;			/* transfers so far (read only) */
	int64_t not_before, not_after;
	char reason[STORE_TEXT_MAX + 1];
	char requester[65];
	int64_t requested;
	char granted_by[65];		/* "" until granted */
	int64_t granted;
	char comment[STORE_TEXT_MAX + 1];	/* of the grant or refusal */
	int64_t confirm_by;		/* emergency: confirm before this */
	char confirmed_by[65];
	int64_t confirmed;
	char ended_by[65];		/* who refused or revoked; "" for the
					   broker (auto-revocation) */
	int64_t ended;
	char end_reason[STORE_TEXT_MAX + 1];
	char extensions[STORE_EX_EXTS_MAX + 1];	/* "pdf,xlsx" it adds; "" */
	char confirm_comment[STORE_TEXT_MAX + 1];	/* of the confirmation */
};

/* Inserts a pending request for an existing transfer. */
int store_approval_insert(struct store *st, const struct store_approval *a,
    char *err, size_t errlen);
/* The request of transfer, with its approve votes counted. */
int store_approval_get(struct store *st, const char *transfer,
    struct store_approval *out, char *err, size_t errlen);
/* Closes a pending request: state, decided_by, comment, decided = now.
 * STORE_NOTFOUND when there is no pending request of that transfer (it
 * was decided meanwhile: compare-and-set). */
int store_approval_close(struct store *st, const char *transfer,
    const char *state, const char *decided_by, const char *comment,
    int64_t now, char *err, size_t errlen);
/* Calls fn for each request in state (NULL: any), ordered by creation,
 * with expires < expires_before only unless it is 0. Paged like
 * store_transfer_each: fn may use the store. fn returning non-zero stops
 * the walk (0 is still returned). */
int store_approval_each(struct store *st, const char *state,
    int64_t expires_before,
    int (*fn)(const struct store_approval *a, void *arg), void *arg,
    char *err, size_t errlen);
/* Records a vote. STORE_EXISTS when this officer already voted on it. */
#define STORE_EXISTS 2
int store_vote_insert(struct store *st, const struct store_vote *v,
    char *err, size_t errlen);
/* Up to max votes of transfer in the order cast, *n of them. */
int store_vote_list(struct store *st, const char *transfer,
    struct store_vote *out, size_t max, size_t *n, char *err, size_t errlen);

/* Inserts an exception (any state). STORE_EXISTS when the id is taken. */
int store_exception_insert(struct store *st, const struct store_exception *e,
    char *err, size_t errlen);
/* The exception, with its uses counted. */
int store_exception_get(struct store *st, const char *id,
    struct store_exception *out, char *err, size_t errlen);
/* Writes every field of e except id, requester and requested, but only
 * while the row is still in state expect (compare-and-set); STORE_NOTFOUND
 * when it is not. */
int store_exception_update(struct store *st, const struct store_exception *e,
    const char *expect, char *err, size_t errlen);
/* Calls fn for each exception in state (NULL: any) in id order, paged as
 * store_approval_each. */
int store_exception_each(struct store *st, const char *state,
    int (*fn)(const struct store_exception *e, void *arg), void *arg,
    char *err, size_t errlen);
/* Records that transfer went through exception id (again for the same
 * pair is a no-op). STORE_EXISTS when the transfer is recorded under
 * another exception. */
int store_exception_use(struct store *st, const char *id,
    const char *transfer, const char *user, int64_t now, char *err,
    size_t errlen);
/* The exception transfer went through into id (size STORE_EX_ID_MAX + 1);
 * STORE_NOTFOUND when none. */
int store_exception_of(struct store *st, const char *transfer, char *id,
    char *err, size_t errlen);

#endif
