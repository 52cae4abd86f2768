/*
 * reconcile — the start-up cross-check of the state store against the audit
 * trail and the spool, and the rebuild of lost rows.
 *
 * The trail is synced before the state commits, so it knows every transfer
 * the state should know. One sequential read of the trail (all records still
 * in segments) gives each transfer's story: accepted, stored (held or not),
 * approved, finished (delivered, failed, expired, rejected, withdrawn,
 * ...). Then:
 *
 *   - a transfer the trail says was stored and not finished, for which the
 *     state has no row, is LOST: the state lost acknowledged work (a deleted,
 *     truncated or rolled-back database, a lost WAL, a deleted row). The
 *     broker must not start: reconcile_check says how many and how to
 *     rebuild them (sekishod --recover-state);
 *   - reconcile_rebuild puts such rows back from the trail (who, interface,
 *     name, purpose, class, size, SHA-256) after checking that the spool copy
 *     has that size and SHA-256; a held transfer is held again, one the
 *     trail says was approved becomes "stored" (delivery picks it up). A
 *     missing or different spool copy gives a "failed" row instead, so the
 *     client's status finds it and says why. Each rebuilt row is a
 *     "state_rebuilt" record.
 *   - the trail ran ahead of the state (a crash between the audit sync and
 *     the SQLite commit): an outcome record (delivered, delivery_failed,
 *     failed, expired, ...) the state does not reflect, or an "accept"
 *     whose row never became durable. reconcile_compensate writes one
 *     "reconcile" record per such transfer that voids the record the state
 *     does not reflect (details void_seq, void_type, state), so that every
 *     transfer's story ends in one outcome that matches the state. A story
 *     with several outcomes (left by brokers before compensation existed:
 *     each redelivery after such a crash wrote another "delivered") gets
 *     one per earlier outcome, voiding it; the last one stands. It runs at
 *     every start (normal
 *     start-up recovery), not only on demand.
 *
 * Everything here runs on the main thread before the commit thread starts.
 * Errors are returned with a reason in err; nothing is printed. Memory:
 * one small entry (about 300 bytes with the table's slack) per transfer
 * the trail's segments mention, and one per repeated outcome, for the
 * length of the check.
 */
#ifndef SEKISHO_RECONCILE_H
#define SEKISHO_RECONCILE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;
struct audit;
struct spool;
struct reconcile;

/* Reads the whole trail still in segments once and builds the transfers'
 * stories. *out is freed with reconcile_free. */
int reconcile_scan(struct audit *a, struct reconcile **out, char *err,
    size_t errlen);
void reconcile_free(struct reconcile *r);

/* Number of transfers the trail says were stored and not finished but the
 * state has no row for (-1 on a store error). When non-zero, err says so,
 * with the count, a few ids and the command that rebuilds them. */
long reconcile_lost(struct reconcile *r, struct store *st, char *err,
    size_t errlen);

/* Rebuilds every lost row (see above) in one transaction with its audit
 * records (synced before the commit). Every lost transfer is checked first
 * (its accept record still in the trail and complete, its spool copy
 * read): one that cannot be rebuilt fails the call before anything is
 * written. Damaged copies are removed once the commit is durable.
 * hold_secs is approvals.hold. Returns the number of rows rebuilt (failed
 * ones included) and *failed (may be NULL) those whose spool copy was
 * missing or damaged, or -1. */
long reconcile_rebuild(struct reconcile *r, struct store *st,
    struct audit *a, struct spool *sp, uint64_t hold_secs, time_t now,
    long *failed, char *err, size_t errlen);

/*
 * The operator's way past a lost transfer that cannot be rebuilt (its
 * accept record was pruned by retention, or is incomplete): id must be
 * lost (stored and not finished in the trail, no row) and refused by the
 * rebuild, else nothing is changed. Moves its spool copy, if any, into
 * the spool's quarantine directory (spool_quarantine), then writes and
 * syncs a "state_abandoned" record (reason: the operator's text; cause:
 * why it cannot be rebuilt), which finishes its story: later scans no
 * longer count it as lost. 0, or -1 with err.
 */
int reconcile_abandon(struct reconcile *r, struct store *st,
    struct audit *a, struct spool *sp, const char *id, const char *reason,
    time_t now, char *err, size_t errlen);

/* Writes the compensating "reconcile" records (see above) in one
 * transaction. Returns how many it wrote, or -1. */
long reconcile_compensate(struct reconcile *r, struct store *st,
    struct audit *a, time_t now, char *err, size_t errlen);

/*
 * Checks that the final spool copy of transfer id has size bytes and the
 * SHA-256 sha256_hex (reads the whole file). 0 when it does; 1 with what is
 * wrong in why (missing, shorter, longer, different content); -1 on an I/O
 * error other than a missing file, with the reason in why.
 */
int reconcile_spool_verify(struct spool *sp, const char *id, uint64_t size,
    const char *sha256_hex, char *why, size_t whylen);

#endif
