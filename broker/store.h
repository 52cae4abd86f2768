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

/* Transfer states. "receiving": bytes may still arrive (also after a broken
 * connection, until partial_ttl); "stored": complete, verified, durable;
 * later issues add held/queued/forwarding/delivered. */
#define STORE_RECEIVING "receiving"
#define STORE_STORED "stored"
#define STORE_FAILED "failed"
#define STORE_EXPIRED "expired"

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

#endif
