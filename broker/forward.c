/*
 * forward — see forward.h.
 *
 * Structure:
 *   - items: one per transfer waiting for or in delivery, in FIFO order;
 *   - services: one per service id seen, with its running count and its
 *     circuit breaker;
 *   - an attempt: the connector's state machine plus the libcurl easy
 *     handle of its current request; requests of one attempt run one after
 *     the other;
 *   - the libcurl multi handle and the requests on it: broker/fwdhttp.c,
 *     which hands each finished request back to attempt_step;
 *   - a service's settings and an attempt's target from the register:
 *     broker/fwdservice.c.
 *   - what is unfinished at start, and the recording of interrupted
 *     attempts: broker/fwdrecover.c (a commit-thread job's work).
 * The structures they share are in broker/forward_int.h.
 *
 * State changes go through commit jobs; each job's done callback continues
 * the item's story. An item has at most one job or one request outstanding
 * at a time, so it is never freed under a pending callback.
 */
#include "broker/forward.h"
#include "broker/approvals.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/credentials.h"
#include "broker/forward_int.h"
#include "broker/fwdhttp.h"
#include "broker/fwdqueue.h"
#include "broker/fwdrecover.h"
#include "broker/fwdservice.h"
#include "broker/log.h"
#include "broker/pathtmpl.h"
#include "broker/reconcile.h"
#include "broker/retry.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "broker/upstream.h"
#include "broker/upstream_s3.h"
#include "broker/upstream_webdav.h"
#include "lib/util.h"
#include "policy/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <libxml/parser.h>
#include <openssl/evp.h>

#define SWEEP_INTERVAL 60		/* seconds between retention sweeps */
#define MAX_RETRY_AFTER_MS (3600ull * 1000)
#define JOB_RETRY_MS 5000		/* after a failed state commit */

enum fjob_kind {
	FJ_QUEUE, FJ_BEGIN, FJ_NOTE, FJ_END, FJ_LOAD, FJ_SWEEP, FJ_RELEASE,
	FJ_VERIFY
};

struct fjob {
	struct commit_job job;
	enum fjob_kind kind;
	struct forwarder *f;
	struct fwd_item *it;
	char id[UTIL_ID_LEN + 1];
	/* QUEUE: the row after queueing; BEGIN: the destination */
	struct transfer t;
	char destination[STORE_MAX_DEST + 1];
	char blocked[256];		/* BEGIN: why approvals stop it */
	/* BEGIN: the open upload an earlier attempt left ("" none);
	 * NOTE: the upload to record */
	char upload_url[STORE_MAX_DEST + 1];
	char upload_id[STORE_MAX_UPLOAD_ID + 1];
	/* END */
	char state[16];
	unsigned status;
	char etag[STORE_MAX_TAG + 1];
	char version[STORE_MAX_TAG + 1];
	char spki[UTIL_SHA256_HEX + 1];
	uint64_t bytes, duration_ms;
	int64_t next_attempt_at;
	int64_t spool_until;
	char last_error[256];
	char error[256];
	int set_error;
	uint64_t wait_ms;
	struct auditrec rec[2];
	size_t nrec;
	/* LOAD */
	struct fwdrecover_rows load;
	/* SWEEP / RELEASE */
	char (*ids)[UTIL_ID_LEN + 1];
	size_t nids, idcap;
	/* QUEUE: failed commits before this one; no retry when final */
	unsigned tries;
	int final;
	/* VERIFY: the attempt's outcome, the check's result (-2: not run) */
	struct upstream_outcome outcome;
	int verify_rc;
	char verify_why[200];
	uint64_t verify_ms;
};

static void schedule(struct forwarder *f);
static void attempt_step(struct fwd_attempt *a,
    const struct upstream_response *r);
static void attempt_abandon(struct fwd_attempt *a, uint64_t delay_ms);
static void note_start(struct fwd_attempt *a);
static void attempt_finish(struct fwd_attempt *a,
    const struct upstream_outcome *o);
static int spool_copy_damaged(struct fwd_item *it, int fd, char *why,
    size_t whylen);
static void attempt_decide(struct fwd_attempt *a,
    const struct upstream_outcome *o, const char *damaged);

/* ---- small helpers ------------------------------------------------------- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct fjob *
fjob_new(struct forwarder *f, enum fjob_kind kind, struct fwd_item *it)
{
	struct fjob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->f = f;
	j->it = it;
	if (it != NULL)
		util_strlcpy(j->id, it->t.id, sizeof(j->id));
	return j;
}

static void
fjob_free(struct fjob *j)
{
	fwdrecover_rows_free(&j->load);
	free(j->ids);
	free(j);
}

static void
submit(struct forwarder *f, struct fjob *j,
    int (*work)(struct commit_job *, struct commit_env *),
    void (*done)(struct commit_job *, int))
{
	j->job.work = work;
	j->job.done = done;
	j->job.arg = j;
	committer_submit(f->b->committer, &j->job);
}

static int
append_records(struct fjob *j, struct commit_env *env)
{
	size_t i;

	for (i = 0; i < j->nrec; i++)
		if (auditrec_append(&j->rec[i], env->audit, time(NULL),
		    j->job.err, sizeof(j->job.err)) != 0)
			return -1;
	return 0;
}

static struct fwd_service *
service_get(struct forwarder *f, const char *id)
{
	struct fwd_service *s;

	TAILQ_FOREACH(s, &f->services, entry)
		if (strcmp(s->id, id) == 0)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	util_strlcpy(s->id, id, sizeof(s->id));
	retry_circuit_init(&s->circuit);
	TAILQ_INSERT_TAIL(&f->services, s, entry);
	return s;
}

static void
item_free(struct forwarder *f, struct fwd_item *it)
{
	TAILQ_REMOVE(&f->items, it, entry);
	f->nitems--;
	free(it);
}

static struct fwd_item *
item_find(struct forwarder *f, const char *id)
{
	struct fwd_item *it;

	TAILQ_FOREACH(it, &f->items, entry)
		if (strcmp(it->t.id, id) == 0)
			return it;
	return NULL;
}

static struct fwd_item *
item_add(struct forwarder *f, const struct transfer *t)
{
	struct fwd_item *it;
	int64_t now = (int64_t)time(NULL);

	if ((it = item_find(f, t->id)) != NULL)
		return it;
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		log_kv("error", "forward", "transfer=%s reason=\"out of "
		    "memory; delivery resumes at the next start\"", t->id);
		return NULL;
	}
	it->f = f;
	it->t = *t;
	it->state = I_WAITING;
	it->due_ms = now_ms();
	if (t->next_attempt_at > now)
		it->due_ms += (uint64_t)(t->next_attempt_at - now) * 1000;
	TAILQ_INSERT_TAIL(&f->items, it, entry);
	f->nitems++;
	return it;
}

/* ---- attempts ------------------------------------------------------------------ */

static void
attempt_free(struct fwd_attempt *a)
{
	if (a == NULL)
		return;
	fwdhttp_cleanup(a);
	if (a->hash_ev != NULL)
		event_free(a->hash_ev);
	if (a->conn != NULL)
		a->ops->free(a->conn);
	if (a->fd != -1)
		close(a->fd);
	EVP_MD_CTX_free(a->sent_md);
	EVP_MD_CTX_free(a->body_md);
	credentials_clear(&a->cred);
	explicit_bzero(a->target.s3_token, sizeof(a->target.s3_token));
	free(a);
}

static int
work_note(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;

	return store_upload_set(env->store, j->id, j->upload_url, j->upload_id,
	    time(NULL), cj->err, sizeof(cj->err));
}

static void
done_note(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct fwd_attempt *a = j->it->a;
	struct upstream_response r;

	if (status != 0)
		log_kv("error", "forward", "transfer=%s reason=\"could not "
		    "record the upload id: %s\"", j->id, cj->err);
	if (j->f->stopping) {
		/* Recorded or not, the next start takes it from here. */
		fjob_free(j);
		attempt_abandon(a, 0);
		return;
	}
	fjob_free(j);
	memset(&r, 0, sizeof(r));
	r.transport = RETRY_T_OK;
	r.noted = status == 0;
	attempt_step(a, &r);
}

/* UPSTREAM_NOTE: the store learns of an open upload before it is used. */
static void
note_start(struct fwd_attempt *a)
{
	struct fjob *j;
	struct upstream_response r;

	if ((j = fjob_new(a->it->f, FJ_NOTE, a->it)) == NULL ||
	    util_strlcpy(j->upload_url, a->req.url, sizeof(j->upload_url)) !=
	    0 || util_strlcpy(j->upload_id, a->req.note_upload_id,
	    sizeof(j->upload_id)) != 0) {
		free(j);
		memset(&r, 0, sizeof(r));
		r.transport = RETRY_T_OK;	/* r.noted = 0 */
		attempt_step(a, &r);
		return;
	}
	submit(a->it->f, j, work_note, done_note);
}

static void
attempt_step(struct fwd_attempt *a, const struct upstream_response *r)
{
	struct upstream_outcome o;

	enum upstream_next nx;

	memset(&o, 0, sizeof(o));
	nx = a->ops->next(a->conn, r, &a->req, &o);
	/* The response body lives only for that call. */
	free(a->body);
	a->body = NULL;
	a->bodylen = 0;
	switch (nx) {
	case UPSTREAM_SEND:
		fwdhttp_send(a);
		return;
	case UPSTREAM_HASH:
		fwdhttp_hash(a);
		return;
	case UPSTREAM_NOTE:
		note_start(a);
		return;
	case UPSTREAM_DONE:
		attempt_finish(a, &o);
		return;
	}
}

static void done_begin(struct commit_job *cj, int status);
static int work_begin(struct commit_job *cj, struct commit_env *env);
static void end_transfer(struct fwd_item *it, const char *state,
    const char *reason, struct fwd_attempt *a,
    const struct upstream_outcome *o, uint64_t wait_ms);

/* Starts an attempt for it (state I_WAITING, service resolved). */
static void
attempt_start(struct forwarder *f, struct fwd_item *it,
    struct fwd_service *svc, const struct policy_service *s,
    const char *tmpl)
{
	struct fwd_attempt *a;
	struct fjob *j;
	char err[256];

	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->sent_md = EVP_MD_CTX_new()) == NULL ||
	    (a->body_md = EVP_MD_CTX_new()) == NULL ||
	    (j = fjob_new(f, FJ_BEGIN, it)) == NULL) {
		if (a != NULL) {
			a->fd = -1;
			attempt_free(a);
		}
		retry_circuit_cancel(&svc->circuit);
		it->due_ms = now_ms() + JOB_RETRY_MS;
		return;
	}
	a->fd = -1;
	a->it = it;
	a->svc = svc;
	a->d = *config_delivery_for(f->b->cfg, s->id);
	a->start_ms = now_ms();
	it->a = a;
	it->state = I_BUSY;
	svc->active++;
	if (fwdservice_prepare(a, s, tmpl, err, sizeof(err)) != 0) {
		/* Counted and audited like any failed attempt, retried
		 * later: an administrator can fix a configuration. */
		util_strlcpy(a->prep_error, err, sizeof(a->prep_error));
		a->prep_transport = RETRY_T_LOCAL;
	}
	util_strlcpy(j->destination, a->url, sizeof(j->destination));
	submit(f, j, work_begin, done_begin);
}

static int
work_begin(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	int may;

	/* Held, rejected, or sent under an exception that was revoked or
	 * has expired since: never forwarded (broker/approvals.h). */
	may = approvals_may_forward(env->store, j->id, broker_now(j->f->b),
	    j->blocked, sizeof(j->blocked));
	if (may < 0)
		return util_err(cj->err, sizeof(cj->err), "%s", j->blocked);
	if (may == 0)
		return 0;
	if (store_transfer_attempt(env->store, j->id, j->destination,
	    time(NULL), cj->err, sizeof(cj->err)) != 0)
		return -1;
	if (store_upload_get(env->store, j->id, j->upload_url,
	    sizeof(j->upload_url), j->upload_id, sizeof(j->upload_id), cj->err,
	    sizeof(cj->err)) < 0)
		return -1;
	return 0;
}

/*
 * The upload an earlier attempt left open is aborted only on the endpoint
 * it was made on: after the register moved the service elsewhere, the old
 * host is not one this attempt's trust settings speak for.
 */
static void
stale_upload(struct upstream_target *g, const char *url, const char *id)
{
	size_t n = strlen(g->endpoint);

	while (n > 0 && g->endpoint[n - 1] == '/')
		n--;
	if (id[0] == '\0' || strncmp(url, g->endpoint, n) != 0 ||
	    url[n] != '/')
		return;
	if (util_strlcpy(g->stale_url, url, sizeof(g->stale_url)) != 0 ||
	    util_strlcpy(g->stale_upload_id, id,
	    sizeof(g->stale_upload_id)) != 0)
		g->stale_url[0] = g->stale_upload_id[0] = '\0';
}

static void
attempt_abandon(struct fwd_attempt *a, uint64_t delay_ms)
{
	struct fwd_item *it = a->it;

	a->svc->active--;
	retry_circuit_cancel(&a->svc->circuit);
	it->a = NULL;
	it->state = I_WAITING;
	it->due_ms = now_ms() + delay_ms;
	attempt_free(a);
}

static void
done_begin(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;
	struct fwd_item *it = j->it;
	struct fwd_attempt *a = it->a;
	struct upstream_outcome o;
	char err[256], blocked[256], q[3 * STORE_MAX_UPLOAD_ID + 3];

	util_strlcpy(blocked, j->blocked, sizeof(blocked));
	if (status == 0 && a->ops == &upstream_s3_ops)
		stale_upload(&a->target, j->upload_url, j->upload_id);
	fjob_free(j);
	if (f->stopping) {
		/* The state says forwarding; the next start resumes it. */
		attempt_abandon(a, 0);
		return;
	}
	if (status != 0) {
		log_kv("error", "forward", "transfer=%s reason=\"could not "
		    "record the attempt: %s\"", it->t.id, cj->err);
		attempt_abandon(a, JOB_RETRY_MS);
		schedule(f);
		return;
	}
	memset(&o, 0, sizeof(o));
	if (blocked[0] != '\0') {
		/* Nothing was sent: the transfer ends as failed. */
		log_kv("warn", "forward", "transfer=%s reason=\"%s\"",
		    it->t.id, blocked);
		upstream_outcome(&o, RETRY_NEVER, 0, "%s", blocked);
		o.transport = RETRY_T_LOCAL;
		attempt_finish(a, &o);
		return;
	}
	it->t.attempts++;
	util_strlcpy(it->t.state, STORE_FORWARDING, sizeof(it->t.state));
	if (a->prep_error[0] != '\0') {
		upstream_outcome(&o, RETRY_AGAIN, 0, "%s", a->prep_error);
		o.transport = a->prep_transport;
		attempt_finish(a, &o);
		return;
	}
	if (spool_open_read(f->b->spool, it->t.id, &a->fd, err,
	    sizeof(err)) != 0) {
		/* The stored copy is gone: nothing can ever be sent. */
		upstream_outcome(&o, RETRY_NEVER, 0, "the spool copy cannot be "
		    "read: %s", err);
		o.transport = RETRY_T_LOCAL;
		attempt_finish(a, &o);
		return;
	}
	if (spool_copy_damaged(it, a->fd, err, sizeof(err))) {
		upstream_outcome(&o, RETRY_NEVER, 0, "%s", err);
		o.transport = RETRY_T_LOCAL;
		attempt_finish(a, &o);
		return;
	}
	if ((a->conn = a->ops->start(&a->target, err, sizeof(err))) == NULL) {
		upstream_outcome(&o, RETRY_NEVER, 0, "%s", err);
		o.transport = RETRY_T_LOCAL;
		attempt_finish(a, &o);
		return;
	}
	log_kv("info", "forward", "transfer=%s service=%s attempt=%u "
	    "connector=%s", it->t.id, a->target.service, it->t.attempts,
	    a->ops->name);
	if (a->target.stale_upload_id[0] != '\0')
		log_kv("info", "forward", "transfer=%s abort_upload=%s "
		    "reason=\"an earlier attempt left this multipart upload "
		    "open\"", it->t.id, log_quote(a->target.stale_upload_id, q,
		    sizeof(q)));
	attempt_step(a, NULL);
}

/*
 * The spool copy is immutable once stored: a copy of another size, or whose
 * bytes do not give the transfer's SHA-256, was damaged on disk and no retry
 * can send the file. Such a transfer fails at once, loudly.
 */
static int
spool_copy_damaged(struct fwd_item *it, int fd, char *why, size_t whylen)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size == it->t.size)
		return 0;
	snprintf(why, whylen, "the spool copy is damaged: it is %s than the "
	    "transfer (%lld bytes, %" PRIu64 " expected); it cannot be sent "
	    "and is not retried", (uint64_t)sb.st_size < it->t.size ?
	    "shorter" : "longer", (long long)sb.st_size, it->t.size);
	log_kv("error", "spool_damaged", "transfer=%s reason=\"%s\"",
	    it->t.id, why);
	return 1;
}

/*
 * After an attempt whose bytes from the spool were wrong (a failed or short
 * read, bytes that did not hash as expected): the whole copy is read once
 * to tell damage from a passing fault. Up to the largest transfer, so never
 * on the loop: it runs as a job on the commit thread (it changes nothing
 * there, and is rare: only such failures lead here), and the attempt's
 * decision continues in done_verify.
 */
static int
work_verify(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	uint64_t t0 = now_ms();

	j->verify_rc = reconcile_spool_verify(env->spool, j->id, j->t.size,
	    j->t.sha256, j->verify_why, sizeof(j->verify_why));
	j->verify_ms = now_ms() - t0;
	return 0;
}

static void
done_verify(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct fwd_item *it = j->it;
	struct fwd_attempt *a = it->a;
	char reason[300];
	int damaged = j->verify_rc == 1;

	(void)status;		/* a batch that did not commit: result kept */
	log_kv(damaged ? "error" : "info", "spool_verify", "transfer=%s "
	    "result=%s ms=%" PRIu64, it->t.id, damaged ? "damaged" :
	    j->verify_rc == 0 ? "ok" : j->verify_rc == -2 ? "not_run" :
	    "unreadable", j->verify_ms);
	if (damaged) {
		snprintf(reason, sizeof(reason), "the spool copy is damaged: "
		    "%s; it cannot be sent and is not retried", j->verify_why);
		log_kv("error", "spool_damaged", "transfer=%s reason=\"%s\"",
		    it->t.id, reason);
	}
	attempt_decide(a, &j->outcome, damaged ? reason : NULL);
	fjob_free(j);
}

static void
verify_start(struct fwd_attempt *a, const struct upstream_outcome *o)
{
	struct fwd_item *it = a->it;
	struct fjob *j = fjob_new(it->f, FJ_VERIFY, it);

	if (j == NULL) {
		/* Unchecked: retried like any local failure. */
		attempt_decide(a, o, NULL);
		return;
	}
	j->outcome = *o;
	j->verify_rc = -2;
	j->t.size = it->t.size;
	util_strlcpy(j->t.sha256, it->t.sha256, sizeof(j->t.sha256));
	submit(it->f, j, work_verify, done_verify);
}

/* The attempt ended: decide the transfer's next state. */
static void
attempt_finish(struct fwd_attempt *a, const struct upstream_outcome *o)
{
	struct fwd_item *it = a->it;
	const struct config_delivery *d = &a->d;
	uint64_t now = now_ms();
	int healthy, opened;

	fwdhttp_cleanup(a);
	if (a->hash_ev != NULL)
		evtimer_del(a->hash_ev);
	if (a->fd != -1) {
		close(a->fd);
		a->fd = -1;
	}
	a->svc->active--;
	/* The circuit hears about the service's health only. */
	if (o->transport == RETRY_T_LOCAL)
		retry_circuit_cancel(&a->svc->circuit);
	else {
		healthy = !retry_counts_against_service(o->transport,
		    o->status);
		opened = retry_circuit_report(&a->svc->circuit, healthy, now,
		    (unsigned)d->circuit_threshold,
		    d->circuit_cooldown * 1000);
		if (opened)
			log_kv("warn", "circuit", "service=%s state=open "
			    "failures=%u cooldown_s=%" PRIu64, a->svc->id,
			    a->svc->circuit.failures,
			    a->svc->circuit.cooldown_ms / 1000);
	}
	if (o->verdict == RETRY_DONE) {
		end_transfer(it, STORE_DELIVERED, NULL, a, o, 0);
		return;
	}
	/* Only a failure that read the spool says anything about the copy:
	 * a configuration error found when preparing, a failed write of the
	 * answer or a lack of memory did not read it. */
	if (o->verdict == RETRY_AGAIN && o->transport == RETRY_T_LOCAL &&
	    (a->spool_read_failed || o->spool_suspect)) {
		verify_start(a, o);
		return;
	}
	attempt_decide(a, o, NULL);
}

/* The rest of attempt_finish, once the copy was checked when it had to be:
 * damaged (its reason) fails the transfer at once. */
static void
attempt_decide(struct fwd_attempt *a, const struct upstream_outcome *o,
    const char *damaged)
{
	struct fwd_item *it = a->it;
	const struct config_delivery *d = &a->d;
	struct retry_policy pol;
	uint64_t wait = 0;
	char reason[300];

	if (damaged != NULL) {
		end_transfer(it, STORE_FAILED, damaged, a, o, 0);
		return;
	}
	if (o->verdict == RETRY_AGAIN) {
		pol.max_attempts = (unsigned)d->max_attempts;
		pol.max_age = d->max_age;
		pol.base_ms = d->backoff_base * 1000;
		pol.max_ms = d->backoff_max * 1000;
		pol.max_retry_after_ms = MAX_RETRY_AFTER_MS;
		wait = retry_backoff_ms(&pol, it->t.attempts, arc4random(),
		    a->retry_after_ms);
		if (retry_may_continue(&pol, it->t.attempts, it->t.queued_at,
		    (int64_t)time(NULL), wait)) {
			end_transfer(it, STORE_QUEUED, NULL, a, o, wait);
			return;
		}
		snprintf(reason, sizeof(reason), "gave up after %u attempts: "
		    "%s", it->t.attempts, o->reason);
		end_transfer(it, STORE_FAILED, reason, a, o, 0);
		return;
	}
	end_transfer(it, STORE_FAILED, o->reason, a, o, 0);
}

/* ---- ending an attempt or a transfer ------------------------------------ */

static int
work_end(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	struct store_upstream u;

	memset(&u, 0, sizeof(u));
	u.status = j->status;
	u.etag = j->etag;
	u.version = j->version;
	u.bytes = j->bytes;
	u.duration_ms = j->duration_ms;
	u.spki = j->spki;
	if (store_transfer_attempt_end(env->store, j->id, j->state, &u,
	    j->next_attempt_at, j->last_error[0] != '\0' ? j->last_error :
	    NULL, j->set_error ? j->error : NULL, j->spool_until, time(NULL),
	    cj->err, sizeof(cj->err)) != 0)
		return -1;
	/* No attempt follows a final state: an upload still recorded was
	 * completed, or its abort failed and only the bucket's lifecycle
	 * rule can remove it now. */
	if (strcmp(j->state, STORE_QUEUED) != 0 &&
	    store_upload_forget(env->store, j->id, NULL, cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	return append_records(j, env);
}

static int
work_release(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	char err[256];
	size_t i;

	for (i = 0; i < j->nids; i++) {
		/* Unlinked first: a crash before the commit repeats it, and
		 * a missing file is not an error. */
		if (spool_remove(env->spool, j->ids[i], err, sizeof(err)) != 0)
			return util_err(cj->err, sizeof(cj->err), "%s", err);
		if (store_transfer_spool_released(env->store, j->ids[i],
		    cj->err, sizeof(cj->err)) < 0)
			return -1;
	}
	return 0;
}

static void
done_release(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;

	if (status != 0)
		log_kv("error", "spool_release", "reason=\"%s\" "
		    "result=\"retried by the next sweep\"", cj->err);
	fjob_free(j);
}

static void
release_spool(struct forwarder *f, const char *id)
{
	struct fjob *j = fjob_new(f, FJ_RELEASE, NULL);

	if (j == NULL || (j->ids = calloc(1, sizeof(*j->ids))) == NULL) {
		free(j);
		return;			/* the sweep catches it */
	}
	util_strlcpy(j->ids[0], id, sizeof(j->ids[0]));
	j->nids = 1;
	submit(f, j, work_release, done_release);
}

static void
done_end(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;
	struct fwd_item *it = j->it;

	if (status != 0) {
		/* Not durable: the row still says forwarding (or queued).
		 * Try the whole attempt again later; the check step finds a
		 * delivered object if this one got there. */
		log_kv("error", "forward", "transfer=%s reason=\"could not "
		    "record the end of the attempt: %s\"", j->id, cj->err);
		if (!f->stopping) {
			it->state = I_WAITING;
			it->due_ms = now_ms() + JOB_RETRY_MS;
			schedule(f);
		}
		fjob_free(j);
		return;
	}
	if (strcmp(j->state, STORE_QUEUED) == 0) {
		it->state = I_WAITING;
		it->due_ms = now_ms() + j->wait_ms;
		util_strlcpy(it->t.state, STORE_QUEUED, sizeof(it->t.state));
	} else {
		/* delivered or failed, durably: the spool copy may go. */
		if (f->b->cfg->delivery_retention == 0)
			release_spool(f, j->id);
		item_free(f, it);
	}
	fjob_free(j);
	if (!f->stopping)
		schedule(f);
}

static void
text_if(struct auditrec *r, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
		auditrec_text(r, key, v);
}

/*
 * Records the end of an attempt (a may be NULL when the transfer ends
 * without one: its interface or service left the register) and the
 * transfer's next state: queued (retry after wait_ms), delivered, failed.
 */
static void
end_transfer(struct fwd_item *it, const char *state, const char *reason,
    struct fwd_attempt *a, const struct upstream_outcome *o, uint64_t wait_ms)
{
	struct forwarder *f = it->f;
	struct fjob *j;
	struct auditrec *r;
	int64_t now = (int64_t)time(NULL);
	uint64_t ms = a != NULL ? now_ms() - a->start_ms : 0;
	const char *result;

	if ((j = fjob_new(f, FJ_END, it)) == NULL) {
		log_kv("error", "forward", "transfer=%s reason=\"out of "
		    "memory\"", it->t.id);
		if (a != NULL) {
			it->a = NULL;
			attempt_free(a);
		}
		it->state = I_WAITING;
		it->due_ms = now_ms() + JOB_RETRY_MS;
		return;
	}
	it->state = I_BUSY;
	util_strlcpy(j->state, state, sizeof(j->state));
	j->wait_ms = wait_ms;
	if (strcmp(state, STORE_QUEUED) == 0) {
		j->next_attempt_at = now + (int64_t)((wait_ms + 999) / 1000);
		result = "retry";
	} else {
		j->spool_until = now + (int64_t)f->b->cfg->delivery_retention;
		if (j->spool_until == 0)
			j->spool_until = 1;
		result = strcmp(state, STORE_DELIVERED) == 0 ? "delivered" :
		    "failed";
	}
	if (o != NULL) {
		j->status = (unsigned)(o->status > 0 && o->status < 1000 ?
		    o->status : 0);
		util_strlcpy(j->etag, o->etag, sizeof(j->etag));
		util_strlcpy(j->version, o->version_id, sizeof(j->version));
		if (o->verdict != RETRY_DONE)
			util_strlcpy(j->last_error, o->reason,
			    sizeof(j->last_error));
	}
	if (reason != NULL) {
		util_strlcpy(j->error, reason, sizeof(j->error));
		if (strlen(reason) >= sizeof(j->error)) {
			memcpy(j->error, reason, sizeof(j->error) - 4);
			memcpy(j->error + sizeof(j->error) - 4, "...", 4);
		}
		j->set_error = 1;
		if (j->last_error[0] == '\0')
			util_strlcpy(j->last_error, j->error,
			    sizeof(j->last_error));
	}
	if (a != NULL) {
		util_strlcpy(j->spki, a->spki, sizeof(j->spki));
		j->bytes = a->bytes;
		j->duration_ms = ms;
	}

	if (a != NULL) {
		/* One record per attempt. */
		r = &j->rec[j->nrec++];
		auditrec_init(r, "forward", NULL, NULL);
		auditrec_subject(r, it->t.id, it->t.interface);
		text_if(r, "user", it->t.user);
		text_if(r, "service", a->target.service);
		text_if(r, "url", a->url);
		auditrec_uint(r, "attempt", it->t.attempts);
		text_if(r, "step", a->last_step);
		auditrec_uint(r, "http_status", j->status);
		auditrec_uint(r, "bytes_sent", a->bytes);
		auditrec_uint(r, "duration_ms", ms);
		text_if(r, "spki_sha256", a->spki);
		text_if(r, "peer", a->peer_ip);
		auditrec_text(r, "result", result);
		if (o != NULL && o->verdict != RETRY_DONE)
			text_if(r, "error", o->reason);
		if (o != NULL && o->already_there)
			auditrec_bool(r, "already_there", 1);
		if (strcmp(state, STORE_QUEUED) == 0)
			auditrec_uint(r, "retry_in_ms", wait_ms);
	}
	if (strcmp(state, STORE_QUEUED) != 0) {
		r = &j->rec[j->nrec++];
		auditrec_init(r, strcmp(state, STORE_DELIVERED) == 0 ?
		    "delivered" : "delivery_failed", NULL, NULL);
		auditrec_subject(r, it->t.id, it->t.interface);
		text_if(r, "user", it->t.user);
		if (a != NULL) {
			text_if(r, "service", a->target.service);
			text_if(r, "url", a->url);
		}
		auditrec_uint(r, "attempts", it->t.attempts);
		auditrec_uint(r, "size", it->t.size);
		text_if(r, "sha256", it->t.sha256);
		if (strcmp(state, STORE_DELIVERED) == 0) {
			text_if(r, "etag", j->etag);
			text_if(r, "version_id", j->version);
		} else
			text_if(r, "reason", j->error[0] != '\0' ? j->error :
			    j->last_error);
	}
	{
		char q[600];

		log_kv(strcmp(result, "failed") == 0 ? "warn" : "info",
		    "forward_end", "transfer=%s result=%s attempt=%u "
		    "status=%u bytes=%" PRIu64 " ms=%" PRIu64 " error=%s",
		    it->t.id, result, it->t.attempts, j->status, j->bytes, ms,
		    log_quote(j->last_error, q, sizeof(q)));
	}
	if (a != NULL) {
		it->a = NULL;
		attempt_free(a);
	}
	submit(f, j, work_end, done_end);
}

/* ---- scheduling ------------------------------------------------------------------ */

static void
on_sched(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	schedule(arg);
}

static void
schedule(struct forwarder *f)
{
	struct fwd_item *it, *next;
	struct fwd_service *svc;
	const struct policy_service *s;
	const char *tmpl;
	const struct config_delivery *d;
	uint64_t now = now_ms(), wake = UINT64_MAX, w;
	struct timeval tv;
	char reason[300];

	if (f->stopping)
		return;
	for (it = TAILQ_FIRST(&f->items); it != NULL; it = next) {
		next = TAILQ_NEXT(it, entry);
		if (it->state != I_WAITING)
			continue;
		if (it->due_ms > now) {
			if (it->due_ms < wake)
				wake = it->due_ms;
			continue;
		}
		/* The register in force decides, every attempt anew. */
		s = NULL;
		tmpl = NULL;
		if (policy_interface_target(f->b->policy, it->t.interface, &s,
		    &tmpl) != 0 || s == NULL) {
			snprintf(reason, sizeof(reason), s == NULL &&
			    policy_interface_target(f->b->policy,
			    it->t.interface, NULL, NULL) == 0 ?
			    "interface %s no longer names a service in the "
			    "register; not delivered" : "interface %s is no "
			    "longer in the register; not delivered",
			    it->t.interface);
			end_transfer(it, STORE_FAILED, reason, NULL, NULL, 0);
			continue;
		}
		if ((svc = service_get(f, s->id)) == NULL)
			continue;
		d = config_delivery_for(f->b->cfg, s->id);
		if (svc->active >= d->concurrency)
			continue;	/* woken when a slot frees */
		if (!retry_circuit_allow(&svc->circuit, now)) {
			w = now + retry_circuit_wait_ms(&svc->circuit, now);
			if (w > now && w < wake)
				wake = w;
			continue;
		}
		attempt_start(f, it, svc, s, tmpl);
	}
	evtimer_del(f->sched);
	if (wake != UINT64_MAX) {
		w = wake > now ? wake - now : 0;
		tv.tv_sec = (time_t)(w / 1000);
		tv.tv_usec = (suseconds_t)((w % 1000) * 1000);
		evtimer_add(f->sched, &tv);
	}
}

/* ---- queueing ----------------------------------------------------------------------- */

static int
work_queue(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	int rc;

	if (j->f->test_fail_queue > 0) {
		j->f->test_fail_queue--;
		return util_err(cj->err, sizeof(cj->err), "injected fault "
		    "(SEKISHO_TEST_FAIL_QUEUE)");
	}
	rc = store_transfer_queue(env->store, j->id, time(NULL), cj->err,
	    sizeof(cj->err));
	if (rc == STORE_NOTFOUND) {
		j->final = 1;
		return util_err(cj->err, sizeof(cj->err), "transfer %s is not "
		    "stored (held, or already handled)", j->id);
	}
	if (rc != 0)
		return -1;
	return store_transfer_get(env->store, j->id, &j->t, cj->err,
	    sizeof(cj->err)) == 0 ? 0 : -1;
}

static void
done_queue(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;
	char q[600];

	if (status != 0 && !j->final) {
		/* Acknowledged and durable, but not queued: never dropped,
		 * retried until the commit succeeds (the state stays
		 * "stored" meanwhile, which a restart also picks up). */
		log_kv("error", "forward", "transfer=%s tries=%u retry_in_ms=%"
		    PRIu64 " reason=%s", j->id, j->tries + 1,
		    fwdqueue_backoff_ms(j->tries + 1), log_quote(cj->err, q,
		    sizeof(q)));
		if (fwdqueue_failed(f->requeue, j->id, j->tries + 1,
		    cj->err) != 0)
			log_kv("error", "forward", "transfer=%s reason=\"out of "
			    "memory; queued at the next start\"", j->id);
		fjob_free(j);
		return;
	}
	if (j->tries > 0)
		log_kv(status == 0 ? "info" : "warn", "forward", "transfer=%s "
		    "tries=%u reason=%s", j->id, j->tries, status == 0 ?
		    "\"queued after failed commits\"" : log_quote(cj->err, q,
		    sizeof(q)));
	else if (status != 0)
		log_kv("warn", "forward", "transfer=%s reason=\"not queued: "
		    "%s\"", j->id, cj->err);
	fwdqueue_settled(f->requeue, j->tries);
	if (status == 0 && !f->stopping && item_add(f, &j->t) != NULL)
		schedule(f);
	fjob_free(j);
}

static void
queue_transfer_try(struct forwarder *f, const char *id, unsigned tries)
{
	struct fjob *j = fjob_new(f, FJ_QUEUE, NULL);

	if (j == NULL) {
		log_kv("error", "forward", "transfer=%s reason=\"out of memory; "
		    "queued at the next start\"", id);
		fwdqueue_settled(f->requeue, tries);
		return;
	}
	util_strlcpy(j->id, id, sizeof(j->id));
	j->tries = tries;
	submit(f, j, work_queue, done_queue);
}

static void
requeue_cb(void *arg, const char *id, unsigned tries)
{
	queue_transfer_try(arg, id, tries);
}

static void
queue_transfer(struct forwarder *f, const char *id)
{
	queue_transfer_try(f, id, 0);
}

unsigned
forward_queue_failing(struct forwarder *f, char *last, size_t lastlen)
{
	return fwdqueue_failing(f != NULL ? f->requeue : NULL, last, lastlen);
}

/* Is there a destination at all? Interfaces without a service keep their
 * transfers stored (nothing can be delivered); anything else is queued,
 * and an interface that has left the register fails at its attempt. */
static int
wants_delivery(struct forwarder *f, const char *interface)
{
	const struct policy_service *s = NULL;

	if (policy_interface_target(f->b->policy, interface, &s, NULL) != 0)
		return 1;
	return s != NULL;
}

void
forward_submit(struct forwarder *f, const char *transfer,
    const char *interface)
{
	if (f == NULL || f->stopping)
		return;
	if (!wants_delivery(f, interface)) {
		log_kv("info", "forward", "transfer=%s interface=%s "
		    "reason=\"the interface names no service; kept stored\"",
		    transfer, interface);
		return;
	}
	queue_transfer(f, transfer);
}

/* ---- recovery (broker/fwdrecover.c) and retention ------------------------------------------------------------ */

static int
work_load(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;

	return fwdrecover_load(env->store, env->audit, &j->load, cj->err,
	    sizeof(cj->err));
}

static void
done_load(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;
	size_t i, resumed = 0, queued = 0;

	if (status != 0)
		log_kv("error", "forward", "reason=\"could not load unfinished "
		    "deliveries: %s\"", cj->err);
	for (i = 0; status == 0 && !f->stopping && i < j->load.nrows; i++) {
		const struct transfer *t = &j->load.rows[i];

		if (strcmp(t->state, STORE_STORED) == 0) {
			if (wants_delivery(f, t->interface)) {
				queue_transfer(f, t->id);
				queued++;
			}
		} else if (item_add(f, t) != NULL)
			resumed++;
	}
	if (status == 0)
		log_kv("info", "forward", "recovered=%zu queued=%zu "
		    "interrupted=%zu", resumed, queued, j->load.ninterrupted);
	fjob_free(j);
	schedule(f);
}

static int
collect_id(const char *id, void *arg)
{
	struct fjob *j = arg;
	char (*ids)[UTIL_ID_LEN + 1];

	if (j->nids == j->idcap) {
		size_t cap = j->idcap == 0 ? 64 : j->idcap * 2;

		if ((ids = reallocarray(j->ids, cap, sizeof(*ids))) == NULL)
			return -1;
		j->ids = ids;
		j->idcap = cap;
	}
	util_strlcpy(j->ids[j->nids++], id, sizeof(j->ids[0]));
	return j->nids >= 4096;		/* the rest next time */
}

static int
work_sweep(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;

	return store_transfer_each_spool_due(env->store, (int64_t)time(NULL),
	    collect_id, j, cj->err, sizeof(cj->err));
}

/* The rows read are durable now (the batch committed): release them. */
static void
done_sweep(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;

	f->sweeping = 0;
	if (status == 0 && j->nids > 0) {
		j->kind = FJ_RELEASE;
		submit(f, j, work_release, done_release);
		return;
	}
	fjob_free(j);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct forwarder *f = arg;
	struct fjob *j;

	(void)fd;
	(void)what;
	if (f->stopping || f->sweeping || (j = fjob_new(f, FJ_SWEEP,
	    NULL)) == NULL)
		return;
	f->sweeping = 1;
	submit(f, j, work_sweep, done_sweep);
}

/* ---- life -------------------------------------------------------------------------- */

int
forward_start(struct broker *b, struct forwarder **out, char *err,
    size_t errlen)
{
	struct forwarder *f;
	struct fjob *j;
	struct timeval tv = { SWEEP_INTERVAL, 0 };

	*out = NULL;
	xmlInitParser();
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return util_err(err, errlen, "forward: out of memory");
	f->b = b;
	TAILQ_INIT(&f->items);
	TAILQ_INIT(&f->services);
	if (fwdhttp_setup(f, attempt_step) != 0 ||
	    (f->sched = evtimer_new(b->base, on_sched, f)) == NULL ||
	    (f->sweep = event_new(b->base, -1, EV_PERSIST, on_sweep,
	    f)) == NULL || (f->requeue = fwdqueue_new(b->base, requeue_cb,
	    f)) == NULL || (j = fjob_new(f, FJ_LOAD, NULL)) == NULL) {
		forward_free(f);
		return util_err(err, errlen, "forward: cannot set up libcurl "
		    "and its events");
	}
#ifdef SEKISHO_TEST_HOOKS
	{
		/* Fail the first N stored->queued commits, as a batch that
		 * did not commit would. */
		const char *v = getenv("SEKISHO_TEST_FAIL_QUEUE");

		if (v != NULL && (f->test_fail_queue = (unsigned)strtoul(v,
		    NULL, 10)) > 0)
			log_kv("warn", "test_hook", "fail_queue=%u",
			    f->test_fail_queue);
	}
#endif
	event_add(f->sweep, &tv);
	submit(f, j, work_load, done_load);
	on_sweep(-1, 0, f);		/* spool copies left by a crash */
	*out = f;
	return 0;
}

void
forward_shutdown(struct forwarder *f)
{
	struct fwd_item *it;
	struct fwd_attempt *a;
	size_t cancelled = 0;

	if (f == NULL || f->stopping)
		return;
	f->stopping = 1;
	fwdqueue_stop(f->requeue);
	evtimer_del(f->sched);
	event_del(f->sweep);
	TAILQ_FOREACH(it, &f->items, entry) {
		if ((a = it->a) == NULL || (a->easy == NULL &&
		    a->hash_ev == NULL))
			continue;	/* none, or waiting for a job */
		if (a->easy == NULL && !evtimer_pending(a->hash_ev, NULL))
			continue;
		cancelled++;
		attempt_abandon(a, 0);
	}
	log_kv("info", "forward", "shutdown=1 cancelled=%zu queued=%zu",
	    cancelled, f->nitems);
}

size_t
forward_stats(struct forwarder *f,
    void (*fn)(const struct forward_service_stats *s, void *arg), void *arg)
{
	struct forward_service_stats st;
	struct fwd_service *s;

	TAILQ_FOREACH(s, &f->services, entry) {
		st.id = s->id;
		st.active = s->active;
		st.circuit = retry_circuit_name(s->circuit.state);
		st.failures = s->circuit.failures;
		fn(&st, arg);
	}
	return f->nitems;
}

void
forward_free(struct forwarder *f)
{
	struct fwd_item *it;
	struct fwd_service *s;

	if (f == NULL)
		return;
	while ((it = TAILQ_FIRST(&f->items)) != NULL) {
		if (it->a != NULL) {
			it->a->svc->active--;
			attempt_free(it->a);
		}
		item_free(f, it);
	}
	while ((s = TAILQ_FIRST(&f->services)) != NULL) {
		TAILQ_REMOVE(&f->services, s, entry);
		free(s);
	}
	fwdhttp_teardown(f);
	if (f->sched != NULL)
		event_free(f->sched);
	if (f->sweep != NULL)
		event_free(f->sweep);
	fwdqueue_free(f->requeue);
	free(f);
}

/* ---- --check-config -------------------------------------------------------------------- */

size_t
forward_check(const struct config *cfg, const struct policy *p, FILE *out)
{
	return fwdservice_check_config(cfg, p, out);
}
