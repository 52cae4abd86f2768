/*
 * Unit tests for broker/committer.c: group commit, savepoint isolation of a
 * failing job, batch failure, done order and thread, draining on stop.
 * Batching is made deterministic with a gate in the first job, not timing.
 */
#include <sys/stat.h>

#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "broker/audit.h"
#include "broker/committer.h"
#include "broker/store.h"
#include "lib/util.h"

#define NJOBS 200

struct fixture {
	char dir[64];
	struct event_base *base;
	struct event *keepalive;
	struct store *store;
	struct audit *audit;
	struct commit_env env;
	struct committer *c;
	pthread_t loop_thread;
	/* A gate job holds the commit thread until everything is queued,
	 * so the jobs after it form exactly one batch. */
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	int gate_started;
	int gate_open;
	int gate_done;
	/* Filled by done callbacks. */
	int order[NJOBS + 8];
	int ndone;
	int expected;
};

struct tjob {
	struct commit_job job;		/* first: done gets &job */
	struct fixture *f;
	int index;
	int fail;			/* return -1 after inserting */
	int bad_audit;			/* append an invalid audit event */
	int resubmit;			/* done submits `extra` */
	int any_thread;			/* work may run on the loop thread */
	struct tjob *extra;
	struct transfer t;
	int done_status;
	int done_on_loop;
	char done_err[256];
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct timeval hour = { 3600, 0 };
	char path[128], err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-commit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->base = event_base_new();
	assert_non_null(f->base);
	/* The committer's event is never pending; something else keeps the
	 * loop running, as the listeners do in sekishod. */
	f->keepalive = event_new(f->base, -1, EV_PERSIST, keepalive_cb, NULL);
	assert_int_equal(event_add(f->keepalive, &hour), 0);
	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(store_open(path, &f->store, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/audit.log", f->dir);
	assert_int_equal(audit_open(path, &f->audit, NULL, err, sizeof(err)),
	    0);
	f->env.store = f->store;
	f->env.audit = f->audit;
	f->loop_thread = pthread_self();
	pthread_mutex_init(&f->gate_mu, NULL);
	pthread_cond_init(&f->gate_cv, NULL);
	assert_int_equal(committer_start(f->base, &f->env, &f->c, err,
	    sizeof(err)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	committer_stop(f->c);
	audit_close(f->audit);
	store_close(f->store);
	event_free(f->keepalive);
	event_base_free(f->base);
	pthread_cond_destroy(&f->gate_cv);
	pthread_mutex_destroy(&f->gate_mu);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Commit thread: say we are running, then wait for the gate. */
static int
gate_work(struct commit_job *job, struct commit_env *env)
{
	struct fixture *f = job->arg;

	(void)env;
	pthread_mutex_lock(&f->gate_mu);
	f->gate_started = 1;
	pthread_cond_broadcast(&f->gate_cv);
	while (!f->gate_open)
		pthread_cond_wait(&f->gate_cv, &f->gate_mu);
	pthread_mutex_unlock(&f->gate_mu);
	return 0;
}

static void
gate_done(struct commit_job *job, int status)
{
	struct fixture *f = job->arg;

	(void)status;	/* fails too once the audit log is unhealthy */
	assert_int_equal(f->ndone, 0);		/* before everything else */
	f->gate_done = 1;
}

/* Commit thread: insert the job's transfer and record it in the trail. */
static int
tjob_work(struct commit_job *job, struct commit_env *env)
{
	struct tjob *tj = (struct tjob *)job;
	struct fixture *f = tj->f;
	struct audit_event ev;

	if (!tj->any_thread && pthread_equal(pthread_self(), f->loop_thread)) {
		snprintf(job->err, sizeof(job->err), "work on the loop thread");
		return -1;
	}
	if (store_transfer_insert(env->store, &tj->t, job->err,
	    sizeof(job->err)) != 0)
		return -1;
	if (tj->fail) {
		snprintf(job->err, sizeof(job->err), "job %d refuses",
		    tj->index);
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = tj->bad_audit ? NULL : "store";
	ev.transfer = tj->t.id;
	return audit_append(env->audit, 1700000000, &ev, job->err,
	    sizeof(job->err));
}

static void
tjob_done(struct commit_job *job, int status)
{
	struct tjob *tj = (struct tjob *)job;
	struct fixture *f = tj->f;

	tj->done_status = status;
	tj->done_on_loop = pthread_equal(pthread_self(), f->loop_thread);
	snprintf(tj->done_err, sizeof(tj->done_err), "%s", job->err);
	f->order[f->ndone++] = tj->index;
	if (tj->resubmit)
		committer_submit(f->c, &tj->extra->job);
	if (f->ndone == f->expected)
		event_base_loopbreak(f->base);
}

static struct tjob *
make_jobs(struct fixture *f, int n)
{
	struct tjob *jobs = calloc((size_t)n, sizeof(*jobs));
	int i;

	assert_non_null(jobs);
	for (i = 0; i < n; i++) {
		struct transfer *t = &jobs[i].t;

		jobs[i].job.work = tjob_work;
		jobs[i].job.done = tjob_done;
		jobs[i].f = f;
		jobs[i].index = i;
		assert_int_equal(util_new_id(t->id), 0);
		strcpy(t->user, "yamada.taro");
		strcpy(t->dept, "somu");
		memset(t->cert_fp, 'a', UTIL_SHA256_HEX);
		strcpy(t->interface, "jichitai-cloud");
		strcpy(t->name, "report.pdf");
		t->size = 10;
		t->class = 1;
		strcpy(t->state, STORE_RECEIVING);
		t->created = t->updated = i;
	}
	return jobs;
}

struct submit_ctx {
	struct fixture *f;
	struct tjob *jobs;
	int n;
	struct commit_job gate;
};

/* Loop thread: occupy the commit thread with the gate job, queue all
 * jobs, then open the gate. */
static void
submit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct submit_ctx *s = arg;
	struct fixture *f = s->f;
	int i;

	(void)fd;
	(void)what;
	committer_submit(f->c, &s->gate);
	pthread_mutex_lock(&f->gate_mu);
	while (!f->gate_started)
		pthread_cond_wait(&f->gate_cv, &f->gate_mu);
	pthread_mutex_unlock(&f->gate_mu);
	for (i = 0; i < s->n; i++)
		committer_submit(f->c, &s->jobs[i].job);
	pthread_mutex_lock(&f->gate_mu);
	f->gate_open = 1;
	pthread_cond_broadcast(&f->gate_cv);
	pthread_mutex_unlock(&f->gate_mu);
}

static void
run_loop(struct fixture *f, struct tjob *jobs, int n)
{
	struct submit_ctx s;
	struct timeval now = { 0, 0 };

	memset(&s, 0, sizeof(s));
	s.f = f;
	s.jobs = jobs;
	s.n = n;
	s.gate.work = gate_work;
	s.gate.done = gate_done;
	s.gate.arg = f;
	f->gate_started = f->gate_open = f->gate_done = 0;
	f->ndone = 0;
	f->expected = n;
	assert_int_equal(event_base_once(f->base, -1, EV_TIMEOUT, submit_cb,
	    &s, &now), 0);
	assert_int_equal(event_base_dispatch(f->base), 0);
	assert_int_equal(f->ndone, n);
	assert_true(f->gate_done);
}

static int
row_exists(struct fixture *f, const char *id)
{
	struct transfer t;
	char err[256];
	int rc = store_transfer_get(f->store, id, &t, err, sizeof(err));

	assert_true(rc == 0 || rc == STORE_NOTFOUND);
	return rc == 0;
}

static void
test_group_commit_order(void **state)
{
	struct fixture *f = *state;
	struct tjob *jobs = make_jobs(f, NJOBS);
	unsigned long batches, njobs;
	int i;

	run_loop(f, jobs, NJOBS);

	/* One batch for the gate, one for all the jobs queued behind it. */
	committer_stats(f->c, &batches, &njobs);
	assert_int_equal(batches, 2);
	assert_int_equal(njobs, NJOBS + 1);
	for (i = 0; i < NJOBS; i++) {
		assert_int_equal(f->order[i], i);
		assert_int_equal(jobs[i].done_status, 0);
		assert_true(jobs[i].done_on_loop);
	}
	committer_stop(f->c);
	f->c = NULL;
	for (i = 0; i < NJOBS; i++)
		assert_true(row_exists(f, jobs[i].t.id));
	assert_int_equal(audit_next_seq(f->audit), NJOBS);
	free(jobs);
}

static void
test_failing_job_rolls_back_alone(void **state)
{
	struct fixture *f = *state;
	struct tjob *jobs = make_jobs(f, 5);
	unsigned long batches, njobs;

	jobs[1].fail = 1;			/* inserts, then fails */
	jobs[3].t = jobs[2].t;			/* duplicate id: insert fails */
	jobs[3].t.created = 3;
	run_loop(f, jobs, 5);
	committer_stats(f->c, &batches, &njobs);
	assert_int_equal(batches, 2);		/* all five in one batch */
	assert_int_equal(njobs, 6);

	assert_int_equal(jobs[0].done_status, 0);
	assert_int_equal(jobs[1].done_status, -1);
	assert_string_equal(jobs[1].done_err, "job 1 refuses");
	assert_int_equal(jobs[2].done_status, 0);
	assert_int_equal(jobs[3].done_status, -1);
	assert_non_null(strstr(jobs[3].done_err, "UNIQUE"));
	assert_int_equal(jobs[4].done_status, 0);
	committer_stop(f->c);
	f->c = NULL;
	assert_true(row_exists(f, jobs[0].t.id));
	assert_false(row_exists(f, jobs[1].t.id));
	assert_true(row_exists(f, jobs[2].t.id));
	assert_true(row_exists(f, jobs[4].t.id));
	/* Only the three good jobs reached the trail. */
	assert_int_equal(audit_next_seq(f->audit), 3);
	free(jobs);
}

static void
test_audit_failure_fails_batch(void **state)
{
	struct fixture *f = *state;
	struct tjob *jobs = make_jobs(f, 4);
	int i;

	/* Job 2's bad event latches the audit log; the batch of all four
	 * then fails at audit_sync and nothing of it is committed. */
	jobs[2].bad_audit = 1;
	run_loop(f, jobs, 4);
	assert_false(audit_healthy(f->audit));
	for (i = 0; i < 4; i++)
		assert_int_equal(jobs[i].done_status, -1);
	assert_non_null(strstr(jobs[0].done_err, "batch not committed: "
	    "audit sync"));
	assert_non_null(strstr(jobs[1].done_err, "batch not committed: "
	    "audit sync"));
	assert_non_null(strstr(jobs[3].done_err, "earlier failure"));
	assert_non_null(strstr(jobs[2].done_err, "no event type"));

	/* Later batches fail too: the broker must stop (fail closed). */
	{
		struct tjob *more = make_jobs(f, 1);

		run_loop(f, more, 1);
		assert_int_equal(more[0].done_status, -1);
		assert_non_null(strstr(more[0].done_err, "earlier failure"));
		committer_stop(f->c);
		f->c = NULL;
		assert_false(row_exists(f, more[0].t.id));
		free(more);
	}
	for (i = 0; i < 4; i++)
		assert_false(row_exists(f, jobs[i].t.id));
	free(jobs);
}

static void
test_stop_drains(void **state)
{
	struct fixture *f = *state;
	struct tjob *jobs = make_jobs(f, 50);
	struct tjob *extra = make_jobs(f, 1);
	struct commit_job barrier;
	int i;

	memset(&barrier, 0, sizeof(barrier));	/* no work, no done */
	extra[0].index = 50;
	extra[0].any_thread = 1;	/* runs on the stopping thread */
	jobs[10].resubmit = 1;
	jobs[10].extra = &extra[0];
	jobs[20].job.work = NULL;		/* a done-only barrier */
	f->expected = -1;
	for (i = 0; i < 50; i++)
		committer_submit(f->c, &jobs[i].job);
	committer_submit(f->c, &barrier);

	/* No loop iteration: stop must run and deliver everything here. */
	committer_stop(f->c);
	f->c = NULL;
	assert_int_equal(f->ndone, 51);
	for (i = 0; i < 50; i++) {
		assert_int_equal(f->order[i], i);
		assert_int_equal(jobs[i].done_status, 0);
		assert_true(jobs[i].done_on_loop);
	}
	assert_int_equal(f->order[50], 50);	/* submitted during stop */
	assert_int_equal(extra[0].done_status, 0);
	assert_int_equal(barrier.status, 0);
	for (i = 0; i < 50; i++)
		assert_int_equal(row_exists(f, jobs[i].t.id), i != 20);
	assert_true(row_exists(f, extra[0].t.id));
	free(jobs);
	free(extra);
}

static void
test_no_store_no_audit(void **state)
{
	struct fixture *f = *state;
	struct commit_env env = { NULL, NULL, NULL };
	struct committer *c;
	struct tjob *jobs = make_jobs(f, 3);
	char err[256];
	int i;

	/* A committer without a store or an audit log only orders work. */
	committer_stop(f->c);
	f->c = NULL;
	assert_int_equal(committer_start(f->base, &env, &c, err, sizeof(err)),
	    0);
	f->c = c;
	for (i = 0; i < 3; i++)
		jobs[i].job.work = NULL;
	run_loop(f, jobs, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(f->order[i], i);
		assert_int_equal(jobs[i].done_status, 0);
	}
	free(jobs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_commit_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_failing_job_rolls_back_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_failure_fails_batch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_drains, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_store_no_audit, setup,
		    teardown),
	};

	if (evthread_use_pthreads() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
