/*
 * orphans — see orphans.h.
 *
 * The sweep lists and judges on the commit thread (the store is its) and
 * writes the records there; the files are removed on the loop once the
 * records are durable, after checking that no connection holds them.
 *
 * A file that was recorded and then could not be removed is remembered
 * (struct orphans_stuck, in the broker): later sweeps skip it when they
 * list (no second record, and it does not take a place in the batch) and
 * only try to unlink it again, quietly.
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

/* A sorted set of ids. */
struct orphans_stuck {
	char (*ids)[UTIL_ID_LEN + 1];
	size_t n, cap;
};

static int
id_cmp(const void *x, const void *y)
{
	return strcmp(x, y);
}

static int
idset_has(const struct orphans_stuck *s, const char *id)
{
	return s != NULL && s->n > 0 && bsearch(id, s->ids, s->n,
	    sizeof(*s->ids), id_cmp) != NULL;
}

static int
idset_add(struct orphans_stuck *s, const char *id)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(s->ids[mid], id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && strcmp(s->ids[lo], id) == 0)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap == 0 ? 16 : s->cap * 2;
		void *p = reallocarray(s->ids, cap, sizeof(*s->ids));

		if (p == NULL)
			return -1;
		s->ids = p;
		s->cap = cap;
	}
	memmove(&s->ids[lo + 1], &s->ids[lo], (s->n - lo) * sizeof(*s->ids));
	util_strlcpy(s->ids[lo], id, sizeof(s->ids[lo]));
	s->n++;
	return 0;
}

static void
idset_del(struct orphans_stuck *s, size_t i)
{
	memmove(&s->ids[i], &s->ids[i + 1], (s->n - i - 1) * sizeof(*s->ids));
	s->n--;
}

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
	const struct orphans_stuck *skip;	/* tried already: not judged */
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

	if (mtime >= l->before || idset_has(l->skip, id))
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

/* Removes a recorded orphan; on failure says so once, loudly, with err. */
static int
remove_one(struct spool *sp, const struct orphan *o, char *err,
    size_t errlen)
{
	char q[300];

	if (spool_remove_partial(sp, o->id, err, errlen) != 0) {
		log_kv("error", "spool_orphan", "transfer=%s action=kept "
		    "reason=%s result=\"recorded; not recorded again; the "
		    "spool directory must be writable\"", o->id,
		    log_quote(err, q, errlen < sizeof(q) ? errlen : sizeof(q)));
		return -1;
	}
	log_kv("warn", "spool_orphan", "transfer=%s size=%" PRIu64 " state=%s "
	    "action=removed", o->id, o->size, o->has_row ? o->state :
	    "none");
	return 0;
}

int
orphans_recover(struct store *st, struct audit *a, struct spool *sp,
    time_t now, char *err, size_t errlen)
{
	struct orphan_list *l;
	struct orphans_stuck tried;
	char why[256];
	size_t i, total = 0;
	int ret = -1;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return util_err(err, errlen, "orphans: out of memory");
	memset(&tried, 0, sizeof(tried));
	l->st = st;
	l->before = INT64_MAX;
	/* Every pass judges files not tried before, so it ends even if a
	 * removal "succeeds" and the file stays. */
	l->skip = &tried;
	for (;;) {
		if (judge(l, sp, a, now, err, errlen) != 0 ||
		    (l->n > 0 && audit_sync(a, err, errlen) != 0))
			goto out;
		for (i = 0; i < l->n; i++) {
			/* A spool the broker cannot write is a start failure
			 * anyway (every upload would fail): say so at once,
			 * with the file, rather than start half-working. */
			if (remove_one(sp, &l->items[i], why,
			    sizeof(why)) != 0) {
				util_err(err, errlen, "cannot remove the orphan "
				    "partial file %s.part (%s); it is recorded "
				    "in the audit trail (spool_orphan). The "
				    "broker must be able to write its spool "
				    "directory: check its owner, permissions, "
				    "mount options and attributes (lsattr), then "
				    "start again", l->items[i].id, why);
				goto out;
			}
			if (idset_add(&tried, l->items[i].id) != 0) {
				util_err(err, errlen, "orphans: out of memory");
				goto out;
			}
		}
		total += l->n;
		/* A full batch may have left more behind. */
		if (l->n < ORPHANS_BATCH)
			break;
	}
	ret = (int)total;
out:
	free(tried.ids);
	free(l);
	return ret;
}

/* ---- while running ------------------------------------------------------ */

struct sweep_job {
	struct commit_job job;
	struct broker *b;
	struct orphans_stuck skip;	/* a copy: the list runs elsewhere */
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
	struct broker *b = j->b;
	struct orphans_stuck *stuck;
	char err[256];
	size_t i;

	b->orphan_sweeping = 0;
	if (b->orphans_stuck == NULL)
		b->orphans_stuck = calloc(1, sizeof(*b->orphans_stuck));
	stuck = b->orphans_stuck;
	/* Recorded earlier and kept: only the unlink is tried again. */
	for (i = 0; stuck != NULL && i < stuck->n; ) {
		if (upload_transfer_busy(b, stuck->ids[i]) ||
		    spool_remove_partial(b->spool, stuck->ids[i], err,
		    sizeof(err)) != 0) {
			i++;
			continue;
		}
		log_kv("warn", "spool_orphan", "transfer=%s action=removed "
		    "result=\"recorded when it could not be removed\"",
		    stuck->ids[i]);
		idset_del(stuck, i);
	}
	if (status != 0)
		log_kv("error", "spool_orphan", "reason=\"sweep failed: %s\"",
		    cj->err);
	for (i = 0; status == 0 && i < j->list.n; i++) {
		const struct orphan *o = &j->list.items[i];

		if (upload_transfer_busy(b, o->id) ||
		    remove_one(b->spool, o, err, sizeof(err)) == 0)
			continue;
		/* Without memory it may be recorded again; never lost. */
		if (stuck != NULL)
			(void)idset_add(stuck, o->id);
	}
	free(j->skip.ids);
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
	if (b->orphans_stuck != NULL && b->orphans_stuck->n > 0) {
		if ((j->skip.ids = calloc(b->orphans_stuck->n,
		    sizeof(*j->skip.ids))) == NULL) {
			free(j);
			return;
		}
		memcpy(j->skip.ids, b->orphans_stuck->ids,
		    b->orphans_stuck->n * sizeof(*j->skip.ids));
		j->skip.n = j->skip.cap = b->orphans_stuck->n;
	}
	j->list.skip = &j->skip;
	j->list.before = (int64_t)time(NULL) - ORPHANS_MIN_AGE;
	j->job.work = work_sweep;
	j->job.done = done_sweep;
	j->job.arg = j;
	b->orphan_sweeping = 1;
	committer_submit(b->committer, &j->job);
}

void
orphans_free(struct broker *b)
{
	if (b->orphans_stuck != NULL)
		free(b->orphans_stuck->ids);
	free(b->orphans_stuck);
	b->orphans_stuck = NULL;
}
