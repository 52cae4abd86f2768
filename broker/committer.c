/*
 * committer — see committer.h.
 *
 * Two lists guarded by one mutex: the submit queue (loop thread -> commit
 * thread, with a condition variable the commit thread sleeps on) and the
 * done list (commit thread -> loop thread, announced by making an event
 * active; libevent with pthread locking makes event_active safe from any
 * thread). Both lists are FIFO and batches run one after another, so done
 * callbacks run in submission order.
 *
 * The commit thread takes the whole queue as one batch. While it waits for
 * the disk, new jobs pile up and become the next batch: the batch size
 * grows with the load and nothing waits for a timer.
 */
#include "broker/committer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "broker/audit.h"
#include "broker/store.h"
#include "lib/util.h"

struct job_list {
	struct commit_job *head;
	struct commit_job *tail;
};

struct committer {
	struct commit_env env;
	struct event *wake;		/* loop thread: done list not empty */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job_list queue;		/* submitted, not yet taken */
	struct job_list done;		/* finished, done not yet called */
	int stopping;
	atomic_int audit_ok;		/* read by any thread */
	char audit_why[256];		/* under mu */
	unsigned long batches;
	unsigned long jobs;
};

static void
list_append(struct job_list *l, struct job_list *more)
{
	if (more->head == NULL)
		return;
	if (l->tail != NULL)
		l->tail->next = more->head;
	else
		l->head = more->head;
	l->tail = more->tail;
	more->head = more->tail = NULL;
}

static void
list_push(struct job_list *l, struct commit_job *job)
{
	job->next = NULL;
	if (l->tail != NULL)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
}

/* Gives every job that has not failed on its own the batch's error. */
static void
batch_fail(struct job_list *batch, const char *what, const char *why)
{
	struct commit_job *job;

	for (job = batch->head; job != NULL; job = job->next) {
		if (job->status == 0) {
			job->status = -1;
			util_err(job->err, sizeof(job->err),
			    "batch not committed: %s: %s", what, why);
		}
	}
}

/* A checkpoint when one is due, then the health the loop sees. Commit
 * thread (or the stopping thread). */
static void
after_batch(struct committer *c)
{
	struct audit *a = c->env.audit;
	char err[256];

	if (a == NULL)
		return;
	if (audit_healthy(a))
		(void)audit_checkpoint(a, time(NULL), 0, err, sizeof(err));
	if (!audit_healthy(a) && atomic_load(&c->audit_ok)) {
		pthread_mutex_lock(&c->mu);
		snprintf(c->audit_why, sizeof(c->audit_why), "%s",
		    audit_failure(a));
		pthread_mutex_unlock(&c->mu);
		atomic_store(&c->audit_ok, 0);
	}
}

/*
 * BEGIN; per job SAVEPOINT, work, RELEASE or ROLLBACK TO; audit_sync;
 * COMMIT. A job's own failure undoes only its savepoint; anything that
 * breaks the transaction or the audit trail fails the whole batch. Runs on
 * the commit thread, or on the stopping thread once the former has exited.
 */
static void
run_batch(struct committer *c, struct job_list *batch)
{
	struct commit_env *env = &c->env;
	struct store *st = env->store;
	struct commit_job *job;
	char err[256];
	int failed = 0;

	for (job = batch->head; job != NULL; job = job->next) {
		job->status = 0;
		job->err[0] = '\0';
	}
	if (st != NULL && store_begin(st, err, sizeof(err)) == -1) {
		batch_fail(batch, "begin", err);
		return;
	}
	for (job = batch->head; job != NULL && !failed; job = job->next) {
		if (job->work == NULL)
			continue;	/* a barrier: only its done matters */
		if (st != NULL && store_savepoint(st, err, sizeof(err)) == -1) {
			batch_fail(batch, "savepoint", err);
			failed = 1;
			break;
		}
		if (job->work(job, env) == 0) {
			if (st != NULL &&
			    store_release(st, err, sizeof(err)) == -1) {
				batch_fail(batch, "release", err);
				failed = 1;
			}
			continue;
		}
		job->status = -1;
		if (job->err[0] == '\0')
			snprintf(job->err, sizeof(job->err), "job failed");
		if (st != NULL && store_rollback_to(st) == -1) {
			batch_fail(batch, "rollback to savepoint",
			    "the transaction is in an unknown state");
			failed = 1;
		}
	}
	/* The trail is synced before the state commits: never behind it. */
	if (!failed && env->audit != NULL &&
	    audit_sync(env->audit, err, sizeof(err)) == -1) {
		batch_fail(batch, "audit sync", err);
		failed = 1;
	}
	if (!failed && st != NULL && store_commit(st, err, sizeof(err)) == -1) {
		batch_fail(batch, "commit", err);
		failed = 1;
	}
	if (failed && st != NULL)
		store_rollback(st);
	after_batch(c);
}

/* Takes the done list and calls each done in order. Loop thread. */
static void
deliver(struct committer *c)
{
	struct commit_job *job, *next;
	struct job_list done;

	pthread_mutex_lock(&c->mu);
	done = c->done;
	c->done.head = c->done.tail = NULL;
	pthread_mutex_unlock(&c->mu);
	for (job = done.head; job != NULL; job = next) {
		next = job->next;	/* done may free the job */
		job->next = NULL;
		if (job->done != NULL)
			job->done(job, job->status);
	}
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver(arg);
}

static unsigned long
list_count(const struct job_list *l)
{
	const struct commit_job *job;
	unsigned long n = 0;

	for (job = l->head; job != NULL; job = job->next)
		n++;
	return n;
}

static void *
commit_main(void *arg)
{
	struct committer *c = arg;
	struct job_list batch;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		while (c->queue.head == NULL && !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		batch = c->queue;
		c->queue.head = c->queue.tail = NULL;
		pthread_mutex_unlock(&c->mu);
		if (batch.head == NULL)
			break;	/* stopping, and nothing left */

		run_batch(c, &batch);

		pthread_mutex_lock(&c->mu);
		c->batches++;
		c->jobs += list_count(&batch);
		list_append(&c->done, &batch);
		pthread_mutex_unlock(&c->mu);
		/* Outside our mutex: event_active takes the base's lock. */
		event_active(c->wake, EV_READ, 0);
	}
	return NULL;
}

int
committer_start(struct event_base *base, struct commit_env *env,
    struct committer **out, char *err, size_t errlen)
{
	struct committer *c;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return util_err(err, errlen, "committer: out of memory");
	c->env = *env;
	atomic_init(&c->audit_ok, env->audit == NULL || audit_healthy(env->audit));
	if (env->audit != NULL && !audit_healthy(env->audit))
		snprintf(c->audit_why, sizeof(c->audit_why), "%s",
		    audit_failure(env->audit));
	if ((c->wake = event_new(base, -1, 0, wake_cb, c)) == NULL) {
		free(c);
		return util_err(err, errlen, "committer: event_new failed");
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if ((rc = pthread_create(&c->thread, NULL, commit_main, c)) != 0) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		event_free(c->wake);
		free(c);
		return util_err(err, errlen, "committer: pthread_create: %s",
		    strerror(rc));
	}
	*out = c;
	return 0;
}

void
committer_submit(struct committer *c, struct commit_job *job)
{
	pthread_mutex_lock(&c->mu);
	list_push(&c->queue, job);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void
committer_stop(struct committer *c)
{
	struct job_list batch;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);

	/* The thread has drained its queue. Deliver here; a done callback
	 * may still submit a job, which then runs on this thread. */
	event_del(c->wake);
	for (;;) {
		deliver(c);
		pthread_mutex_lock(&c->mu);
		batch = c->queue;
		c->queue.head = c->queue.tail = NULL;
		pthread_mutex_unlock(&c->mu);
		if (batch.head == NULL)
			break;
		run_batch(c, &batch);
		pthread_mutex_lock(&c->mu);
		c->batches++;
		c->jobs += list_count(&batch);
		list_append(&c->done, &batch);
		pthread_mutex_unlock(&c->mu);
	}
	event_free(c->wake);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int
committer_audit_healthy(struct committer *c)
{
	return atomic_load(&c->audit_ok);
}

void
committer_audit_failure(struct committer *c, char *out, size_t outlen)
{
	pthread_mutex_lock(&c->mu);
	snprintf(out, outlen, "%s", atomic_load(&c->audit_ok) ? "" :
	    c->audit_why);
	pthread_mutex_unlock(&c->mu);
}

void
committer_stats(struct committer *c, unsigned long *batches,
    unsigned long *jobs)
{
	pthread_mutex_lock(&c->mu);
	if (batches != NULL)
		*batches = c->batches;
	if (jobs != NULL)
		*jobs = c->jobs;
	pthread_mutex_unlock(&c->mu);
}
