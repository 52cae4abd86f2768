/*
 * fwdrecover — what the forwarder finds unfinished at start.
 *
 * Reads the transfers that are "forwarding", "queued" or "stored" (in that
 * order). A transfer still "forwarding" had its attempt cut off by a crash
 * or a stop; it is recorded as an interrupted attempt (a "forward" audit
 * record with result "interrupted" and the attempt's number) and put back
 * to "queued", due at once. The interrupted attempt stays counted in
 * attempts; the forwarder applies the retry rule when the next attempt
 * ends (docs/architecture.md, "Interrupted attempts").
 *
 * Commit thread only (it writes the store and the audit trail inside the
 * commit job's batch); the forwarder uses the rows on the loop thread
 * once the batch is durable.
 */
#ifndef SEKISHO_FWDRECOVER_H
#define SEKISHO_FWDRECOVER_H

#include <stddef.h>

struct audit;
struct store;
struct transfer;

/* The rows read, owned by the caller (fwdrecover_rows_free). Starts
 * zeroed. */
struct fwdrecover_rows {
	struct transfer *rows;
	size_t nrows, cap;
	size_t ninterrupted;	/* rows that were forwarding, now queued */
};

/* Appends the unfinished transfers to out and records the interrupted ones
 * (their rows show them "queued", with the reason as last_error). -1
 * with a reason in err when the store, the audit trail or memory fails:
 * the batch does not commit, and out may hold part of the rows. */
int fwdrecover_load(struct store *store, struct audit *audit,
    struct fwdrecover_rows *out, char *err, size_t errlen);

/* Frees out's rows and zeroes it. */
void fwdrecover_rows_free(struct fwdrecover_rows *r);

#endif
