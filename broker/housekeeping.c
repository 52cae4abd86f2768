/*
 * housekeeping — see housekeeping.h.
 *
 * Expiry runs in two commit-thread jobs because only the loop knows which
 * transfers are attached to live connections: the first lists candidates,
 * the loop drops the busy ones, the second expires the rest after checking
 * once more that each is still "receiving" and still stale.
 */
#include "broker/housekeeping.h"
#include "broker/audit.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/log.h"
#include "broker/reconcile.h"
#include "broker/orphans.h"
#include "broker/upload.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define EXPIRE_BATCH 256
#define EXPIRY_PERIOD_MAX 60

struct recover_ctx {
	struct store *st;
	struct audit *a;
	struct spool *sp;
	time_t now;
	int fixed;
	int failed;
	char *err;
	size_t errlen;
	/* Ids to fix after the scan: changing rows while iterating them
	 * would disturb the cursor. */
	struct fix { char id[UTIL_ID_LEN + 1]; int action; uint64_t size;
		char reason[160]; struct transfer t; } *fixes;
	size_t nfix, capfix;
};

enum { FIX_UNCOMMIT, FIX_FAIL };

static int
add_fix(struct recover_ctx *rc, const struct transfer *t, int action,
    const char *reason)
{
	struct fix *f;

	if (rc->nfix == rc->capfix) {
		size_t cap = rc->capfix ? rc->capfix * 2 : 16;
		struct fix *n = reallocarray(rc->fixes, cap, sizeof(*n));

		if (n == NULL)
			return -1;
		rc->fixes = n;
		rc->capfix = cap;
	}
	f = &rc->fixes[rc->nfix++];
	memset(f, 0, sizeof(*f));
	util_strlcpy(f->id, t->id, sizeof(f->id));
	f->action = action;
	f->t = *t;
	util_strlcpy(f->reason, reason, sizeof(f->reason));
	return 0;
}

static int
scan_receiving(const struct transfer *t, void *arg)
{
	struct recover_ctx *rc = arg;
	uint64_t size;

	if (spool_stat(rc->sp, t->id, 1, &size) == 0)
		return add_fix(rc, t, FIX_UNCOMMIT, "commit interrupted by a "
		    "restart; the client's resume will finish it");
	if (spool_stat(rc->sp, t->id, 0, &size) != 0)
		return add_fix(rc, t, FIX_FAIL, "partial spool file missing "
		    "after restart");
	if (size < t->received)
		return add_fix(rc, t, FIX_FAIL, "partial spool file shorter "
		    "than its durable offset after restart");
	return 0;
}

static int
scan_stored(const struct transfer *t, void *arg)
{
	struct recover_ctx *rc = arg;
	uint64_t size;

	if (spool_stat(rc->sp, t->id, 1, &size) != 0 || size != t->size)
		return add_fix(rc, t, FIX_FAIL, "stored spool file missing or "
		    "of the wrong size after restart");
	return 0;
}

int
housekeeping_recover(struct store *st, struct audit *a, struct spool *sp,
    time_t now, char *err, size_t errlen)
{
	struct recover_ctx rc;
	size_t i;
	int ret = -1;

	/* Partial files no transfer accounts for (broker/orphans.h). */
	if (orphans_recover(st, a, sp, now, err, errlen) < 0)
		return -1;
	memset(&rc, 0, sizeof(rc));
	rc.st = st;
	rc.a = a;
	rc.sp = sp;
	rc.now = now;
	if (store_transfer_each(st, STORE_RECEIVING, 0, scan_receiving, &rc,
	    err, errlen) != 0 ||
	    store_transfer_each(st, STORE_STORED, 0, scan_stored, &rc, err,
	    errlen) != 0)
		goto out;
	if (rc.nfix == 0) {
		ret = 0;
		goto out;
	}
	if (store_begin(st, err, errlen) != 0)
		goto out;
	for (i = 0; i < rc.nfix; i++) {
		struct fix *f = &rc.fixes[i];
		struct auditrec rec;

		auditrec_init_owner(&rec, f->action == FIX_UNCOMMIT ?
		    "recover" : "failed", f->id, &f->t);
		auditrec_text(&rec, "reason", f->reason);
		if (f->action == FIX_UNCOMMIT) {
			if (spool_uncommit(sp, f->id, err, errlen) != 0 ||
			    store_transfer_progress(st, f->id, f->t.size, now,
			    err, errlen) != 0)
				goto rollback;
		} else {
			char ignored[128];

			spool_remove(sp, f->id, ignored, sizeof(ignored));
			if (store_transfer_set_state(st, f->id, STORE_FAILED,
			    NULL, f->reason, now, err, errlen) != 0)
				goto rollback;
		}
		log_kv(f->action == FIX_UNCOMMIT ? "info" : "error", "recover",
		    "transfer=%s action=%s reason=\"%s\"", f->id,
		    f->action == FIX_UNCOMMIT ? "resumable" : "failed",
		    f->reason);
		if (auditrec_append(&rec, a, now, err, errlen) != 0)
			goto rollback;
	}
	if (audit_sync(a, err, errlen) != 0 ||
	    store_commit(st, err, errlen) != 0)
		goto rollback;
	ret = (int)rc.nfix;
	goto out;
rollback:
	store_rollback(st);
out:
	free(rc.fixes);
	return ret;
}

/* A stored copy whose size or SHA-256 is not the row's was damaged on
 * disk: no attempt can ever send the file. */
static int
scan_copy(const struct transfer *t, void *arg)
{
	struct recover_ctx *rc = arg;
	char why[200], reason[sizeof(rc->fixes->reason)];
	int v;

	v = reconcile_spool_verify(rc->sp, t->id, t->size, t->sha256, why,
	    sizeof(why));
	if (v == 0)
		return 0;
	if (v < 0) {
		util_err(rc->err, rc->errlen, "transfer %s: %s", t->id, why);
		rc->failed = 1;
		return 1;
	}
	snprintf(reason, sizeof(reason), "the spool copy is damaged: %.120s",
	    why);
	if (add_fix(rc, t, FIX_FAIL, reason) != 0) {
		util_err(rc->err, rc->errlen, "out of memory");
		rc->failed = 1;
		return 1;
	}
	return 0;
}

long
housekeeping_verify_spool(struct store *st, struct audit *a, struct spool *sp,
    time_t now, char *err, size_t errlen)
{
	static const char *const states[] = { STORE_STORED, STORE_HELD,
	    STORE_QUEUED, STORE_FORWARDING };
	struct recover_ctx rc;
	size_t i;
	long ret = -1;

	memset(&rc, 0, sizeof(rc));
	rc.sp = sp;
	rc.err = err;
	rc.errlen = errlen;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (store_transfer_each(st, states[i], 0, scan_copy, &rc, err,
		    errlen) != 0 || rc.failed)
			goto out;
	if (rc.nfix == 0) {
		ret = 0;
		goto out;
	}
	if (store_begin(st, err, errlen) != 0)
		goto out;
	for (i = 0; i < rc.nfix; i++) {
		struct fix *f = &rc.fixes[i];
		struct auditrec rec;
		char ignored[128];

		auditrec_init_owner(&rec, "failed", f->id, &f->t);
		auditrec_text(&rec, "reason", f->reason);
		auditrec_text(&rec, "code", "spool_damaged");
		auditrec_text(&rec, "state_before", f->t.state);
		spool_remove(sp, f->id, ignored, sizeof(ignored));
		if (store_transfer_set_state(st, f->id, STORE_FAILED, NULL,
		    f->reason, now, err, errlen) != 0)
			goto rollback;
		log_kv("error", "spool_damaged", "transfer=%s state=%s "
		    "action=failed reason=\"%s\"", f->id, f->t.state,
		    f->reason);
		if (auditrec_append(&rec, a, now, err, errlen) != 0)
			goto rollback;
	}
	if (audit_sync(a, err, errlen) != 0 ||
	    store_commit(st, err, errlen) != 0)
		goto rollback;
	ret = (long)rc.nfix;
	goto out;
rollback:
	store_rollback(st);
out:
	free(rc.fixes);
	return ret;
}

long
housekeeping_cross_check(struct store *st, struct audit *a, char *err,
    size_t errlen)
{
	struct reconcile *r;
	long n;

	if (reconcile_scan(a, &r, err, errlen) != 0)
		return -1;
	n = reconcile_lost(r, st, err, errlen);
	if (n == 0)
		n = reconcile_compensate(r, st, a, time(NULL), err, errlen);
	else
		n = -1;
	reconcile_free(r);
	return n;
}

/* ---- expiry ---------------------------------------------------------------- */

struct expiry_job {
	struct commit_job job;
	struct broker *b;
	int phase;			/* 1: list, 2: expire */
	int64_t before;
	size_t n;
	char ids[EXPIRE_BATCH][UTIL_ID_LEN + 1];
};

static int
collect(const struct transfer *t, void *arg)
{
	struct expiry_job *j = arg;

	util_strlcpy(j->ids[j->n++], t->id, sizeof(j->ids[0]));
	return j->n == EXPIRE_BATCH;
}

static int
work_expiry(struct commit_job *cj, struct commit_env *env)
{
	struct expiry_job *j = cj->arg;
	size_t i;

	if (j->phase == 1) {
		j->n = 0;
		return store_transfer_each(env->store, STORE_RECEIVING,
		    j->before, collect, j, cj->err, sizeof(cj->err));
	}
	for (i = 0; i < j->n; i++) {
		struct transfer t;
		struct auditrec rec;
		char ignored[128];

		if (store_transfer_get(env->store, j->ids[i], &t, cj->err,
		    sizeof(cj->err)) != 0)
			continue;
		if (strcmp(t.state, STORE_RECEIVING) != 0 ||
		    t.updated >= j->before)
			continue;	/* resumed or finished meanwhile */
		spool_remove(env->spool, t.id, ignored, sizeof(ignored));
		if (store_transfer_set_state(env->store, t.id, STORE_EXPIRED,
		    NULL, "upload not completed within limits.partial_ttl",
		    time(NULL), cj->err, sizeof(cj->err)) != 0)
			return -1;
		auditrec_init_owner(&rec, "expired", t.id, &t);
		auditrec_uint(&rec, "received", t.received);
		auditrec_uint(&rec, "size", t.size);
		if (auditrec_append(&rec, env->audit, time(NULL), cj->err,
		    sizeof(cj->err)) != 0)
			return -1;
	}
	return 0;
}

static void
done_expiry(struct commit_job *cj, int status)
{
	struct expiry_job *j = cj->arg;
	size_t i, keep = 0;

	if (status != 0) {
		log_kv("error", "expiry", "reason=\"%s\"", cj->err);
		free(j);
		return;
	}
	if (j->phase == 2 || j->n == 0 || j->b->shutting_down) {
		if (j->phase == 2 && j->n > 0)
			log_kv("info", "expiry", "checked=%zu", j->n);
		free(j);
		return;
	}
	for (i = 0; i < j->n; i++)
		if (!upload_transfer_busy(j->b, j->ids[i]))
			memmove(j->ids[keep++], j->ids[i], sizeof(j->ids[0]));
	j->n = keep;
	j->phase = 2;
	committer_submit(j->b->committer, &j->job);
}

static void
expiry_tick(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct expiry_job *j;

	(void)fd;
	(void)what;
	if (b->shutting_down || (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->b = b;
	j->phase = 1;
	j->before = (int64_t)time(NULL) - (int64_t)b->cfg->partial_ttl;
	j->job.work = work_expiry;
	j->job.done = done_expiry;
	j->job.arg = j;
	committer_submit(b->committer, &j->job);
	orphans_sweep(b);
}

int
housekeeping_start(struct broker *b, char *err, size_t errlen)
{
	struct timeval tv;
	uint64_t period = b->cfg->partial_ttl / 4;

	if (period == 0)
		period = 1;
	if (period > EXPIRY_PERIOD_MAX)
		period = EXPIRY_PERIOD_MAX;
	tv.tv_sec = (time_t)period;
	tv.tv_usec = 0;
	b->expiry_ev = event_new(b->base, -1, EV_PERSIST, expiry_tick, b);
	if (b->expiry_ev == NULL || event_add(b->expiry_ev, &tv) != 0)
		return util_err(err, errlen, "cannot start the expiry timer");
	return 0;
}

void
housekeeping_stop(struct broker *b)
{
	if (b->expiry_ev != NULL) {
		event_free(b->expiry_ev);
		b->expiry_ev = NULL;
	}
	/* Again after the commit thread stopped: a sweep's done callback
	 * may have run in between. */
	orphans_free(b);
}
