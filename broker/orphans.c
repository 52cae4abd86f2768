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
#include "broker/upload.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct orphan {
	char id[UTIL_ID_LEN + 1];
	uint64_t size;
	int has_row;
	/* from the row, when has_row */
	char state[16];
	char interface[65];
	struct principal who;
};

struct orphan_list {
	struct store *st;
	int64_t before;			/* judge files older than this */
	char err[256];			/* a store read that failed */
	size_t n;
	struct orphan items[ORPHANS_BATCH];
};

/* Keeps the partial files that no receiving transfer accounts for
 * (resumable ones do not count toward the batch). */
static int
collect(const char *id, uint64_t size, int64_t mtime, void *arg)
{
	struct orphan_list *l = arg;
	struct orphan *o = &l->items[l->n];
	struct transfer t;
	int rc;

	if (mtime >= l->before)
		return 0;
	memset(o, 0, sizeof(*o));
	rc = store_transfer_get(l->st, id, &t, l->err, sizeof(l->err));
	if (rc != 0 && rc != STORE_NOTFOUND)
		return -1;
	if (rc == 0 && strcmp(t.state, STORE_RECEIVING) == 0)
		return 0;		/* resumable: not ours */
	util_strlcpy(o->id, id, sizeof(o->id));
	o->size = size;
	if ((o->has_row = rc == 0)) {
		util_strlcpy(o->state, t.state, sizeof(o->state));
		util_strlcpy(o->interface, t.interface, sizeof(o->interface));
		util_strlcpy(o->who.user, t.user, sizeof(o->who.user));
		util_strlcpy(o->who.dept, t.dept, sizeof(o->who.dept));
		util_strlcpy(o->who.terminal, t.terminal,
		    sizeof(o->who.terminal));
		util_strlcpy(o->who.cert_fp, t.cert_fp,
		    sizeof(o->who.cert_fp));
	}
	l->n++;
	return l->n == ORPHANS_BATCH;
}

/* Lists the orphans into l and writes an audit record for each. */
static int
judge(struct orphan_list *l, struct spool *sp, struct audit *a, time_t now,
    char *err, size_t errlen)
{
	size_t i;

	l->n = 0;
	l->err[0] = '\0';
	if (spool_each_partial(sp, collect, l, err, errlen) != 0) {
		if (l->err[0] != '\0')
			util_err(err, errlen, "%s", l->err);
		return -1;
	}
	for (i = 0; i < l->n; i++) {
		struct orphan *o = &l->items[i];
		struct auditrec rec;

		auditrec_init(&rec, "spool_orphan", o->has_row ? &o->who :
		    NULL, NULL);
		auditrec_subject(&rec, o->id, o->has_row ? o->interface :
		    NULL);
		auditrec_uint(&rec, "size", o->size);
		auditrec_text(&rec, "state", o->has_row ? o->state : "none");
		auditrec_text(&rec, "reason", o->has_row ? "partial file of a "
		    "transfer that is no longer receiving" : "partial file "
		    "without a transfer (its creation never committed)");
		if (auditrec_append(&rec, a, now, err, errlen) != 0)
			return -1;
	}
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
	    "action=removed", o->id, o->size, o->has_row ? o->state :
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
	l->st = st;
	l->before = INT64_MAX;
	for (;;) {
		if (judge(l, sp, a, now, err, errlen) != 0 ||
		    (l->n > 0 && audit_sync(a, err, errlen) != 0)) {
			free(l);
			return -1;
		}
		for (i = 0; i < l->n; i++)
			remove_one(sp, &l->items[i]);
		total += l->n;
		/* A full batch may have left more behind. */
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

	j->list.st = env->store;
	return judge(&j->list, env->spool, env->audit, time(NULL), cj->err,
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
		if (!upload_transfer_busy(j->b, j->list.items[i].id))
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
