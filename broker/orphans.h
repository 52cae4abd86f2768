/*
 * orphans — partial spool files that no receiving transfer accounts for.
 *
 * The loop creates <id>.part before the job that inserts the transfer row
 * commits; a crash in between (or a failed insert whose connection had
 * already gone) leaves a file with no row, which nothing would ever remove.
 * A .part beside a row that is no longer "receiving" is a leftover of the
 * same kind. Both are removed, each with a "spool_orphan" audit record
 * written before the file goes (a crash in between records it twice,
 * never removes it unrecorded). Final files (<id>) are never touched here:
 * a stored file without its row is lost state, which start-up must report,
 * not clean away.
 *
 * While the broker runs, a file is only judged when it was last written
 * ORPHANS_MIN_AGE seconds before the sweep was submitted: any .part that
 * old was created before the sweep job, so its create job ran before it on
 * the commit thread (jobs run in submission order) and its row, if any, is
 * visible. A file attached to a live connection is never removed.
 *
 * A file that cannot be removed: at start, the first one stops the start
 * (a spool the broker cannot write would fail every upload anyway), with
 * the file and what to check; its record is written (never a removal
 * unrecorded). Every pass lists only files it has not tried, so the start
 * always ends. While running, it is logged once as an error, recorded
 * once, and later sweeps only try to unlink it again (no new record)
 * until that works.
 */
#ifndef SEKISHO_ORPHANS_H
#define SEKISHO_ORPHANS_H

#include <stddef.h>
#include <time.h>

struct audit;
struct broker;
struct spool;
struct store;

#define ORPHANS_MIN_AGE 120		/* seconds */
#define ORPHANS_BATCH 256		/* files judged per sweep */

/* Main thread, at start, before the commit thread runs (nothing is in
 * flight, so no age applies). Returns how many files it removed, or -1
 * with err when the spool cannot be listed or the trail not written. */
int orphans_recover(struct store *st, struct audit *a, struct spool *sp,
    time_t now, char *err, size_t errlen);

/* Loop thread: submits one sweep job (at most one at a time). */
void orphans_sweep(struct broker *b);

/* Loop thread, after the last sweep: frees what the sweeps remember
 * (b->orphans_stuck). */
void orphans_free(struct broker *b);

#endif
