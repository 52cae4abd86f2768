/*
 * orphans — see orphans.h.
 *
 * The sweep lists and judges on the commit thread (the store is its) and
 * writes the records there; the files are removed on the loop once the
 * records are durable, after checking that no connection holds them.
 */
#include "broker/orphans.h"
#include "broker/audit.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/log.h"
#include "broker/session.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct orphan {
	char id[UTIL_ID_LEN + 1];
	uint64_t size;
	char state[16];			/* the row's state, "" without a row */
};

struct orphan_list {
	int64_t before;			/* judge files older than this */
	size_t n;
	struct orphan items[ORPHANS_BATCH];
};

static int
collect(const char *id, uint64_t size, int64_t mtime, void *arg)
{
	struct orphan_list *l = arg;

	if (mtime >= l->before)
		return 0;
	util_strlcpy(l->items[l->n].id, id, sizeof(l->items[0].id));
	l->items[l->n].size = size;
	l->n++;
	return l->n == ORPHANS_BATCH;
}

/* Keeps the files that are orphans, with an audit record each. */
static int
judge(struct orphan_list *l, struct store *st, struct audit *a, time_t now,
    char *err, size_t errlen)
{
	size_t i, keep = 0;

	for (i = 0; i < l->n; i++) {
		struct orphan *o = &l->items[i];
		struct transfer t;
		struct auditrec rec;
		struct principal who;
		int rc;

		rc = store_transfer_get(st, o->id, &t, err, errlen);
		if (rc != 0 && rc != STORE_NOTFOUND)
			return -1;
		if (rc == 0 && strcmp(t.state, STORE_RECEIVING) == 0)
			continue;	/* resumable: not ours */
		memset(&who, 0, sizeof(who));
		if (rc == 0) {
			util_strlcpy(o->state, t.state, sizeof(o->state));
			util_strlcpy(who.user, t.user, sizeof(who.user));
			util_strlcpy(who.dept, t.dept, sizeof(who.dept));
			util_strlcpy(who.terminal, t.terminal,
			    sizeof(who.terminal));
			util_strlcpy(who.cert_fp, t.cert_fp,
			    sizeof(who.cert_fp));
		} else
			o->state[0] = '\0';
		auditrec_init(&rec, "spool_orphan", rc == 0 ? &who : NULL,
		    NULL);
		auditrec_subject(&rec, o->id, rc == 0 ? t.interface : NULL);
		auditrec_uint(&rec, "size", o->size);
		auditrec_text(&rec, "state", rc == 0 ? t.state : "none");
		auditrec_text(&rec, "reason", rc == 0 ? "partial file of a "
		    "transfer that is no longer receiving" : "partial file "
		    "without a transfer (its creation never committed)");
		if (auditrec_append(&rec, a, now, err, errlen) != 0)
			return -1;
		l->items[keep++] = *o;
	}
	l->n = keep;
	return 0;
}

static void
remove_one(struct spool *sp, const struct orphan *o)
{
	char err[256], q[300];

	if (spool_remove_partial(sp, o->id, err, sizeof(err)) != 0) {
		log_kv("error", "spool_orphan", "transfer=%s reason=%s", o->id,
		    log_quote(err, q, sizeof(q)));
		return;
	}
	log_kv("warn", "spool_orphan", "transfer=%s size=%" PRIu64 " state=%s "
	    "action=removed", o->id, o->size, o->state[0] != '\0' ? o->state :
	    "none");
}

int
orphans_recover(struct store *st, struct audit *a, struct spool *sp,
    time_t now, char *err, size_t errlen)
{
	struct orphan_list *l;
	size_t i, total = 0;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return util_err(err, errlen, "orphans: out of memory");
	for (;;) {
		l->n = 0;
		l->before = INT64_MAX;
		if (spool_each_partial(sp, collect, l, err, errlen) != 0 ||
		    judge(l, st, a, now, err, errlen) != 0 ||
		    (l->n > 0 && audit_sync(a, err, errlen) != 0)) {
			free(l);
			return -1;
		}
		for (i = 0; i < l->n; i++)
			remove_one(sp, &l->items[i]);
		total += l->n;
		/* A full batch may have left more behind (receiving ones
		 * are skipped, so a batch of them alone ends the loop). */
		if (l->n < ORPHANS_BATCH)
			break;
	}
	free(l);
	return (int)total;
}

/* ---- while running ------------------------------------------------------ */

struct sweep_job {
	struct commit_job job;
	struct broker *b;
	struct orphan_list list;
};

static int
work_sweep(struct commit_job *cj, struct commit_env *env)
{
	struct sweep_job *j = cj->arg;

	if (spool_each_partial(env->spool, collect, &j->list, cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	return judge(&j->list, env->store, env->audit, time(NULL), cj->err,
	    sizeof(cj->err));
}

static void
done_sweep(struct commit_job *cj, int status)
{
	struct sweep_job *j = cj->arg;
	size_t i;

	j->b->orphan_sweeping = 0;
	if (status != 0)
		log_kv("error", "spool_orphan", "reason=\"sweep failed: %s\"",
		    cj->err);
	for (i = 0; status == 0 && i < j->list.n; i++)
		if (!session_transfer_busy(j->b, j->list.items[i].id))
			remove_one(j->b->spool, &j->list.items[i]);
	free(j);
}

void
orphans_sweep(struct broker *b)
{
	struct sweep_job *j;

	if (b->shutting_down || b->orphan_sweeping ||
	    (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->b = b;
	j->list.before = (int64_t)time(NULL) - ORPHANS_MIN_AGE;
	j->job.work = work_sweep;
	j->job.done = done_sweep;
	j->job.arg = j;
	b->orphan_sweeping = 1;
	committer_submit(b->committer, &j->job);
}
