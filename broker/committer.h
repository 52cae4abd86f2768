/*
 * committer — the commit thread: everything that waits for stable storage.
 *
 * The event loop never blocks on fsync. Work that needs durability (spool
 * fsync and rename, SQLite commits, audit appends) is packaged as a job and
 * submitted here. The commit thread takes every queued job at once and runs
 * them as one batch (group commit):
 *
 *   BEGIN; for each job: SAVEPOINT; job->work(); RELEASE (or ROLLBACK TO on
 *   failure); audit_sync(); COMMIT
 *
 * and then hands the jobs back to the loop thread, which calls job->done
 * with the job's status. A job's effects are thus durable before its done
 * callback runs; if audit_sync or COMMIT fails, every job of the batch gets
 * an error status. The audit record is synced before the state commit, so
 * the trail is never behind the state.
 *
 * Ownership: the caller owns the job memory; it must stay valid until done
 * has run (done may free it). work runs on the commit thread and may touch
 * only the job and the env; done runs on the loop thread.
 *
 * Rules for work: it runs inside the batch's transaction and its own
 * savepoint, so it must not begin, commit or roll back itself. Returning -1
 * rolls back its store changes only; the other jobs of the batch are not
 * affected. Files it renamed and audit records it appended are not undone,
 * so append the audit record last, once the state change succeeded (a
 * record that describes the failure is fine). A job with work == NULL is a
 * barrier: its done runs after everything submitted before it.
 *
 * job->status and job->err are set by the committer: 0 and "" on success;
 * -1 and the job's own message if work failed; -1 and "batch not
 * committed: ..." for every other job of a batch that could not be made
 * durable (begin, savepoint, audit_sync or COMMIT failed). Once the audit
 * log is unhealthy every later batch fails: the broker must stop taking
 * transfers (committer_audit_healthy tells the loop).
 *
 * After each batch the commit thread asks the audit log for a signed
 * checkpoint (audit_checkpoint without force: only when enough records
 * have accumulated), so signing never delays a batch's own durability.
 *
 * env->store and env->audit may be NULL (tools and tests): the
 * transaction or the audit sync is then skipped.
 */
#ifndef SEKISHO_COMMITTER_H
#define SEKISHO_COMMITTER_H

#include <stddef.h>
#include <event2/event.h>

struct store;
struct audit;
struct spool;

struct commit_env {
	struct store *store;
	struct audit *audit;
	struct spool *spool;
};

struct commit_job {
	/* Commit thread. Returns 0 or -1 with job->err filled. */
	int (*work)(struct commit_job *job, struct commit_env *env);
	/* Loop thread, after the batch is durable (or failed). May be NULL. */
	void (*done)(struct commit_job *job, int status);
	void *arg;
	int status;
	char err[256];
	struct commit_job *next;	/* internal */
};

struct committer;

/* Starts the thread. base must have been created after
 * evthread_use_pthreads(). env is copied. The committer's own event is
 * never pending, so it does not keep event_base_dispatch running; the
 * broker's listeners do. */
int committer_start(struct event_base *base, struct commit_env *env,
    struct committer **out, char *err, size_t errlen);

/* Queues a job (loop thread; takes a mutex, never blocks on I/O). */
void committer_submit(struct committer *c, struct commit_job *job);

/* Runs everything queued, stops the thread and delivers the remaining done
 * callbacks, in order, on the calling (loop) thread. Jobs that those done
 * callbacks submit are run too, on the calling thread. Frees c; must not be
 * called from a done callback. */
void committer_stop(struct committer *c);

/* False once the audit log is unhealthy: an append, sync or checkpoint
 * failed. Any thread, lock-free; the loop checks it before accepting work
 * and refuses with "audit_unavailable" (fail closed). True when the env has
 * no audit log. */
int committer_audit_healthy(struct committer *c);

/* Why the audit log is unhealthy, into out ("" while healthy). */
void committer_audit_failure(struct committer *c, char *out, size_t outlen);

/* Batches and jobs run so far (for tests and the benchmark). */
void committer_stats(struct committer *c, unsigned long *batches,
    unsigned long *jobs);

#endif
