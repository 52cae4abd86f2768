/*
 * housekeeping — start-up recovery and the periodic expiry of abandoned
 * partial uploads.
 *
 * Recovery runs once, on the main thread, before the commit thread starts
 * and before anything is accepted; it makes the spool and the state store
 * agree again after a crash:
 *   - "receiving" with a final file <id>: the commit renamed the file but its
 *     state update never became durable, so the client was never told
 *     "stored". The file goes back to <id>.part; the client's resume sends
 *     "end" again and the hash is checked once more.
 *   - "receiving" whose partial file is missing or shorter than the durable
 *     offset: failed, loudly (it means the disk lost acknowledged data).
 *   - "stored" whose file is missing: failed, loudly, for the same reason.
 * Every correction is an audit record.
 *
 * Expiry: every so often, transfers still "receiving" whose last durable
 * progress is older than limits.partial_ttl, and that no live connection is
 * uploading, become "expired" and their partial files are removed.
 */
#ifndef SEKISHO_HOUSEKEEPING_H
#define SEKISHO_HOUSEKEEPING_H

#include <stddef.h>
#include <time.h>

struct broker;
struct store;
struct audit;
struct spool;

/* Main thread, before committer_start. Returns the number of transfers it
 * corrected, or -1 with the reason (the broker must not start). */
int housekeeping_recover(struct store *st, struct audit *a, struct spool *sp,
    time_t now, char *err, size_t errlen);

/*
 * Main thread, before housekeeping_recover and before anything else
 * changes the state or the spool: cross-checks the state against the audit
 * trail (broker/reconcile.h). Acknowledged transfers the trail
 * knows and the state lost stop the start (-1, err names the count and
 * sekishod --recover-state); records the state never caught up with get a
 * compensating "reconcile" record. Returns the number of such records.
 */
long housekeeping_cross_check(struct store *st, struct audit *a,
    char *err, size_t errlen);

/*
 * Main thread, after housekeeping_recover: reads every spool copy of a
 * transfer in state stored, held, queued or forwarding and compares its
 * size and SHA-256 with the row. A damaged copy can never be sent, so such
 * a transfer fails at once (removed, audited "failed" with code
 * spool_damaged, logged as an error). Returns how many failed, or -1.
 */
long housekeeping_verify_spool(struct store *st, struct audit *a,
    struct spool *sp, time_t now, char *err, size_t errlen);

/* Starts the periodic expiry on b's loop. */
int housekeeping_start(struct broker *b, char *err, size_t errlen);
/* Stops the timer and frees what the orphan sweeps remember; called at
 * shutdown and once more after the commit thread stopped. */
void housekeeping_stop(struct broker *b);

#endif
