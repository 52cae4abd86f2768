/*
 * officer — see officer.h.
 *
 * The shape of every officer request:
 *
 *   loop: officer role in the register in force? step-up fresh (or a code
 *         in "otp": a job checks it, and the request runs again from the
 *         top once it is accepted)?
 *   loop: the rules (approvals.h) against the register in force and what
 *         is known: the cache of open exceptions, or the request read by a
 *         first job (held transfers are not cached);
 *   commit thread: the change, written with a compare-and-set on the
 *         state it was checked against, and its audit record, in one job;
 *   loop: the answer, the cache, the notification.
 *
 * The register is only ever read on the loop: a reload frees the old one
 * there, so a commit-thread job must not hold a pointer to it. That is why
 * a vote on a held transfer takes two jobs (read, then write) with the
 * check on the loop between them, and why the write re-checks what the
 * store alone can tell (still pending, not expired, not voted).
 *
 * Refusals by the rules are audited ("officer_refused") like decisions:
 * an auditor must see a staff member trying to approve.
 */
#include "broker/officer.h"
#include "broker/approvals.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/forward.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/notify.h"
#include "broker/request.h"
#include "broker/spool.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#define SWEEP_INTERVAL 60	/* seconds between sweeps */
#define LIST_MAX 200		/* held transfers in one answer */
#define LIST_READ_MAX 2000	/* pending requests read to find them */
#define EX_PAGE 100		/* exceptions read per exception_ls */
#define SWEEP_MAX 256		/* changes handled per sweep job */

_Static_assert(OFFICER_CONTEXT_MAX == APPROVALS_CONTEXT_MAX,
    "officer.h and approvals.h agree on the exceptions per decision");

struct officer {
	struct broker *b;
	struct approvals_cache cache;
	struct notify *notify;
	struct event *sweep_ev;
	int sweep_busy;
};

enum ojob_kind {
	OJ_LIST, OJ_VOTE_READ, OJ_VOTE, OJ_EX_WRITE, OJ_EX_LIST,
	OJ_SWEEP
};

struct held_item {
	struct store_approval a;
	struct transfer t;
	int voted;
	char exception[STORE_EX_ID_MAX + 1];
};

struct sweep_change {
	char kind[32];
	struct store_approval a;
	struct store_exception e;
};

struct ojob {
	struct commit_job job;
	enum ojob_kind kind;
	struct officer *o;
	struct reqconn *s;		/* waited on; NULL for the sweep */
	uint64_t req_id;
	time_t now;
	struct principal who;
	char code[32];			/* wire error code of a refusal */
	struct auditrec rec;
	int has_rec;
	/* OJ_VOTE_READ, OJ_VOTE */
	struct store_vote v;
	struct approvals_vote_result vr;
	struct held_item item;
	int found;
	/* OJ_EX_WRITE */
	struct store_exception e;
	char expect[16];		/* "": insert */
	const char *event;		/* notification and answer */
	/* OJ_LIST, OJ_EX_LIST, OJ_SWEEP */
	struct held_item *items;
	size_t nitems;
	struct store_exception *exs;
	size_t nexs;
	char filter[16];
	char after[STORE_EX_ID_MAX + 1];
	char next[STORE_EX_ID_MAX + 1];
	struct sweep_change *changes;
	size_t nchanges;
	int more;
};

/* ---- lifetime ------------------------------------------------------------ */

static void
notify_log(void *arg, const char *level, const char *msg)
{
	char q[600];

	(void)arg;
	log_kv(level, "notify", "message=%s", log_quote(msg, q, sizeof(q)));
}

int
officer_new(struct store *st, struct officer **out, char *err,
    size_t errlen)
{
	struct officer *o;

	*out = NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return util_err(err, errlen, "officer: out of memory");
	approvals_cache_init(&o->cache);
	if (approvals_cache_load(&o->cache, st, err, errlen) != 0) {
		officer_free(o);
		return -1;
	}
	*out = o;
	return 0;
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg);

void
officer_notify_config(const struct config *cfg, struct notify_config *nc)
{
	memset(nc, 0, sizeof(*nc));
	nc->webhook_url = cfg->notify_webhook;
	nc->webhook_ca = cfg->notify_webhook_ca;
	nc->retries = cfg->notify_retries;
	nc->retry_delay = cfg->notify_retry_delay;
	nc->timeout = cfg->notify_timeout;
	nc->command = cfg->notify_command;
	nc->command_timeout = cfg->notify_command_timeout;
}

int
officer_start(struct officer *o, struct broker *b, char *err, size_t errlen)
{
	struct notify_config nc;
	struct timeval now = { 0, 0 };

	o->b = b;
	officer_notify_config(b->cfg, &nc);
	if (notify_start(&nc, notify_log, NULL, &o->notify, err, errlen) != 0)
		return -1;
	if ((o->sweep_ev = event_new(b->base, -1, 0, sweep_cb, o)) == NULL ||
	    event_add(o->sweep_ev, &now) != 0)
		return util_err(err, errlen, "officer: cannot start the sweep "
		    "timer");
	return 0;
}

void
officer_stop(struct officer *o)
{
	if (o == NULL)
		return;
	if (o->sweep_ev != NULL) {
		event_free(o->sweep_ev);
		o->sweep_ev = NULL;
	}
	notify_stop(o->notify);
	o->notify = NULL;
}

void
officer_free(struct officer *o)
{
	if (o == NULL)
		return;
	officer_stop(o);
	approvals_cache_free(&o->cache);
	free(o);
}

/* The register's view of a certificate's principal (pointers into w). */
static struct policy_principal
pp_of(const struct principal *w)
{
	struct policy_principal pp = { w->user, w->dept, w->terminal };

	return pp;
}

/* Answers a request whose job could not read or write the store. */
static void
answer_unavailable(struct reqconn *s, const struct ojob *j,
    const char *event, const char *why)
{
	log_kv("error", event, "user=%s reason=\"%s\"", j->who.user, why);
	reqconn_send_error(s, j->req_id, "unavailable", "the broker could not "
	    "read or record its state; try again later", NULL, 30);
}

/* ---- jobs ------------------------------------------------------------------- */

static struct ojob *
ojob_new(struct officer *o, enum ojob_kind kind, struct reqconn *s,
    uint64_t req_id, time_t now)
{
	struct ojob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->o = o;
	j->req_id = req_id;
	j->now = now;
	if (s != NULL) {
		j->s = s;
		j->who = *&s->who;
	}
	return j;
}

static void
ojob_free(struct ojob *j)
{
	free(j->items);
	free(j->exs);
	free(j->changes);
	free(j);
}

/* Queues j; the connection (if any) stops reading until done has run. */
static void
ojob_submit(struct ojob *j, int (*work)(struct commit_job *,
    struct commit_env *), void (*done)(struct commit_job *, int))
{
	j->job.work = work;
	j->job.done = done;
	j->job.arg = j;
	if (j->s != NULL)
		reqconn_wait(j->s);
	committer_submit(j->o->b->committer, &j->job);
}

/* The job's connection while it is still there and not closing, else
 * NULL: a revoked officer's vote waiting for its job is not written (the
 * wait is ended by ojob_finish either way). */
static struct reqconn *
ojob_conn(struct ojob *j)
{
	struct reqconn *s = j->s;

	if (s == NULL || reqconn_ending(s))
		return NULL;
	return s;
}

static void
ojob_finish(struct ojob *j)
{
	struct reqconn *s = j->s;

	ojob_free(j);
	if (s != NULL)
		reqconn_done_waiting(s);
}

static int
ojob_audit(struct ojob *j, struct commit_env *env)
{
	if (!j->has_rec)
		return 0;
	return auditrec_append(&j->rec, env->audit, time(NULL), j->job.err,
	    sizeof(j->job.err));
}

/* Records an officer action the rules refused, and tells the client. */
static void
refuse(struct reqconn *s, const struct wire_msg *m, const char *code,
    const char *msg, const char *subject_transfer, const char *exception)
{
	struct auditrec rec;
	const struct principal *who = &s->who;

	auditrec_init(&rec, "officer_refused", who, s->peer);
	auditrec_subject(&rec, subject_transfer, NULL);
	auditrec_text(&rec, "op", wire_op_name(m->op));
	auditrec_text(&rec, "code", code);
	auditrec_text(&rec, "message", msg);
	if (exception != NULL && exception[0] != '\0')
		auditrec_text(&rec, "exception", exception);
	request_audit(s->b, &rec);
	log_kv("warn", "officer_refused", "user=%s op=%s code=%s", who->user,
	    wire_op_name(m->op), code);
	reqconn_send_error(s, m->id, code, msg, NULL, 0);
}

void
officer_refuse(struct reqconn *c, const struct wire_msg *m, const char *code,
    const char *message)
{
	refuse(c, m, code, message, NULL, NULL);
}

static const char *
now_text(time_t t, char buf[21])
{
	util_time_rfc3339(t, buf);
	return buf;
}

/* ---- answers -------------------------------------------------------------------- */

/* Splits a normalised list into the pointers of a text array. */
static size_t
split_list(char *copy, const char *list, size_t copylen, const char **out,
    size_t max)
{
	size_t n = 0;
	char *p, *save = NULL;

	if (util_strlcpy(copy, list, copylen) != 0)
		return 0;
	for (p = strtok_r(copy, " ", &save); p != NULL && n < max;
	    p = strtok_r(NULL, " ", &save))
		out[n++] = p;
	return n;
}

static void
send_exception(struct reqconn *s, uint64_t id, const struct store_exception *e,
    time_t now)
{
	struct wire_msg r;
	const char *items[APPROVALS_MAX_PRINCIPALS];
	char copy[STORE_EX_LIST_MAX + 1], t[21], hours[32];
	size_t n;

	wire_msg_init(&r, WIRE_OP_EXCEPTION, id);
	wire_msg_set_text(&r, "exception", e->id);
	wire_msg_set_text(&r, "status", approvals_exception_status(e, now));
	wire_msg_set_bool(&r, "emergency", e->emergency);
	wire_msg_set_text(&r, "interface", e->interface);
	if ((n = split_list(copy, e->users, sizeof(copy), items,
	    APPROVALS_MAX_PRINCIPALS)) > 0)
		wire_msg_set_text_array(&r, "users", items, n);
	if ((n = split_list(copy, e->groups, sizeof(copy), items,
	    APPROVALS_MAX_PRINCIPALS)) > 0)
		wire_msg_set_text_array(&r, "groups", items, n);
	if (e->max_class != 0)
		wire_msg_set_uint(&r, "class", e->max_class);
	if (e->max_size != 0)
		wire_msg_set_uint(&r, "max_size", e->max_size);
	if (e->max_count != 0)
		wire_msg_set_uint(&r, "max_count", e->max_count);
	wire_msg_set_uint(&r, "uses", e->uses);
	if (e->hours_from >= 0) {
		snprintf(hours, sizeof(hours), "%02d:%02d-%02d:%02d",
		    e->hours_from / 60, e->hours_from % 60, e->hours_to / 60,
		    e->hours_to % 60);
		wire_msg_set_text(&r, "hours", hours);
	}
	if (e->extensions[0] != '\0')
		wire_msg_set_text(&r, "extensions", e->extensions);
	wire_msg_set_text(&r, "valid_from", now_text((time_t)e->not_before, t));
	wire_msg_set_text(&r, "valid_until", now_text((time_t)e->not_after, t));
	wire_msg_set_text(&r, "reason", e->reason);
	wire_msg_set_text(&r, "requester", e->requester);
	if (e->granted_by[0] != '\0') {
		wire_msg_set_text(&r, "granted_by", e->granted_by);
		wire_msg_set_text(&r, "granted", now_text((time_t)e->granted,
		    t));
		if (e->comment[0] != '\0')
			wire_msg_set_text(&r, "grant_comment", e->comment);
	}
	if (e->emergency && e->confirm_by > 0)
		wire_msg_set_text(&r, "confirm_by",
		    now_text((time_t)e->confirm_by, t));
	if (e->confirmed_by[0] != '\0')
		wire_msg_set_text(&r, "confirmed_by", e->confirmed_by);
	if (e->confirm_comment[0] != '\0')
		wire_msg_set_text(&r, "confirm_comment", e->confirm_comment);
	if (e->ended > 0) {
		wire_msg_set_text(&r, "ended", now_text((time_t)e->ended, t));
		wire_msg_set_text(&r, "ended_by", e->ended_by[0] != '\0' ?
		    e->ended_by : "(broker)");
		wire_msg_set_text(&r, "end_reason", e->end_reason);
	}
	reqconn_send(s, &r);
	wire_msg_clear(&r);
}

static void
send_listed(struct reqconn *s, uint64_t id, uint64_t count, const char *next)
{
	struct wire_msg r;

	wire_msg_init(&r, WIRE_OP_LISTED, id);
	wire_msg_set_uint(&r, "count", count);
	if (next != NULL && next[0] != '\0')
		wire_msg_set_text(&r, "next", next);
	reqconn_send(s, &r);
	wire_msg_clear(&r);
}

static void
send_approval(struct reqconn *s, uint64_t id, const struct held_item *it)
{
	struct wire_msg r;
	uint8_t sha[UTIL_SHA256_LEN];
	char t[21];

	wire_msg_init(&r, WIRE_OP_APPROVAL, id);
	wire_msg_set_text(&r, "transfer", it->t.id);
	wire_msg_set_text(&r, "user", it->t.user);
	wire_msg_set_text(&r, "dept", it->t.dept);
	if (it->t.terminal[0] != '\0')
		wire_msg_set_text(&r, "terminal", it->t.terminal);
	wire_msg_set_text(&r, "interface", it->t.interface);
	wire_msg_set_text(&r, "name", it->t.name);
	wire_msg_set_uint(&r, "size", it->t.size);
	if (util_unhex(it->t.sha256, sha, sizeof(sha)) == 0)
		wire_msg_set_bytes(&r, "sha256", sha, sizeof(sha));
	wire_msg_set_uint(&r, "class", it->t.class);
	wire_msg_set_text(&r, "purpose", it->t.purpose);
	wire_msg_set_text(&r, "created", now_text((time_t)it->t.created, t));
	wire_msg_set_text(&r, "expires", now_text((time_t)it->a.expires, t));
	wire_msg_set_text(&r, "approvers", it->a.approvers);
	wire_msg_set_uint(&r, "approvals", it->a.approvals);
	wire_msg_set_uint(&r, "required", it->a.required);
	wire_msg_set_bool(&r, "voted", it->voted);
	if (it->exception[0] != '\0')
		wire_msg_set_text(&r, "exception", it->exception);
	reqconn_send(s, &r);
	wire_msg_clear(&r);
}

/* ---- notifications ---------------------------------------------------------------- */

static void
notify_exception(struct officer *o, const char *event,
    const struct store_exception *e, const char *officer, time_t now)
{
	struct notify_field f[6];
	char until[21];
	size_t n = 0;

	f[n++] = (struct notify_field){ "exception", e->id, 0 };
	f[n++] = (struct notify_field){ "interface", e->interface, 0 };
	f[n++] = (struct notify_field){ "requester", e->requester, 0 };
	f[n++] = (struct notify_field){ "emergency", NULL,
	    (uint64_t)e->emergency };
	f[n++] = (struct notify_field){ "valid_until",
	    now_text((time_t)e->not_after, until), 0 };
	if (officer != NULL && officer[0] != '\0')
		f[n++] = (struct notify_field){ "officer", officer, 0 };
	notify_send(o->notify, event, now, f, n);
}

static void
notify_transfer(struct officer *o, const char *event,
    const struct store_approval *a, const char *state, const char *officer,
    time_t now)
{
	struct notify_field f[7];
	size_t n = 0;

	f[n++] = (struct notify_field){ "transfer", a->transfer, 0 };
	f[n++] = (struct notify_field){ "interface", a->interface, 0 };
	f[n++] = (struct notify_field){ "user", a->user, 0 };
	f[n++] = (struct notify_field){ "approvers", a->approvers, 0 };
	f[n++] = (struct notify_field){ "required", NULL, a->required };
	if (state != NULL)
		f[n++] = (struct notify_field){ "state", state, 0 };
	if (officer != NULL && officer[0] != '\0')
		f[n++] = (struct notify_field){ "officer", officer, 0 };
	notify_send(o->notify, event, now, f, n);
}

/* ---- approvals_ls ----------------------------------------------------------------- */

struct list_ctx {
	struct ojob *j;
	struct store *st;
	char *err;
	size_t errlen;
	int failed;
	size_t cap;
};

static int
collect_held(const struct store_approval *a, void *arg)
{
	struct list_ctx *c = arg;
	struct ojob *j = c->j;
	struct held_item *it;
	struct store_vote votes[APPROVALS_MAX_VOTES + 1];
	size_t n = 0, i;
	int rc;

	if (j->nitems == LIST_READ_MAX) {
		j->more = 1;
		return 1;
	}
	if (j->nitems == c->cap) {
		size_t cap = c->cap == 0 ? 32 : c->cap * 2;
		struct held_item *ni = reallocarray(j->items, cap,
		    sizeof(*ni));

		if (ni == NULL) {
			util_err(c->err, c->errlen, "out of memory");
			c->failed = 1;
			return 1;
		}
		j->items = ni;
		c->cap = cap;
	}
	it = &j->items[j->nitems];
	memset(it, 0, sizeof(*it));
	it->a = *a;
	if (store_transfer_get(c->st, a->transfer, &it->t, c->err,
	    c->errlen) != 0 ||
	    store_vote_list(c->st, a->transfer, votes, APPROVALS_MAX_VOTES + 1,
	    &n, c->err, c->errlen) != 0) {
		c->failed = 1;
		return 1;
	}
	for (i = 0; i < n; i++)
		if (strcmp(votes[i].officer, j->who.user) == 0)
			it->voted = 1;
	rc = store_exception_of(c->st, a->transfer, it->exception, c->err,
	    c->errlen);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		c->failed = 1;
		return 1;
	}
	j->nitems++;
	return 0;
}

static int
work_list(struct commit_job *cj, struct commit_env *env)
{
	struct ojob *j = cj->arg;
	struct list_ctx c = { j, env->store, cj->err, sizeof(cj->err), 0, 0 };

	if (store_approval_each(env->store, STORE_AP_PENDING, 0, collect_held,
	    &c, cj->err, sizeof(cj->err)) != 0 || c.failed)
		return -1;
	return 0;
}

static void
done_list(struct commit_job *cj, int status)
{
	struct ojob *j = cj->arg;
	struct reqconn *s = ojob_conn(j);
	struct broker *b;
	struct policy_principal pp;
	size_t i, sent = 0;

	if (s == NULL)
		goto out;
	if (status != 0) {
		answer_unavailable(s, j, "approvals_ls", cj->err);
		goto out;
	}
	b = s->b;
	pp = pp_of(&j->who);
	/* Only what this officer may decide: approver of the interface, not
	 * the uploader, the wait not over. */
	for (i = 0; i < j->nitems && sent < LIST_MAX; i++) {
		const struct held_item *it = &j->items[i];

		if (!policy_group_has(b->policy, it->a.approvers, &pp) ||
		    strcmp(it->a.user, j->who.user) == 0 ||
		    (int64_t)broker_now(b) >= it->a.expires)
			continue;
		send_approval(s, j->req_id, it);
		sent++;
	}
	send_listed(s, j->req_id, sent, NULL);
out:
	ojob_finish(j);
}

void
officer_handle_approvals_ls(struct reqconn *s, const struct wire_msg *m)
{
	struct broker *b = s->b;
	struct ojob *j;

	if ((j = ojob_new(b->officer, OJ_LIST, s, m->id, broker_now(b))) ==
	    NULL) {
		reqconn_send_error(s, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return;
	}
	ojob_submit(j, work_list, done_list);
}

/* ---- approve / reject ------------------------------------------------------------- */

static int
work_vote_read(struct commit_job *cj, struct commit_env *env)
{
	struct ojob *j = cj->arg;
	struct store_vote votes[APPROVALS_MAX_VOTES + 1];
	size_t n = 0, i;
	int rc;

	rc = store_approval_get(env->store, j->v.transfer, &j->item.a,
	    cj->err, sizeof(cj->err));
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0 || store_vote_list(env->store, j->v.transfer, votes,
	    APPROVALS_MAX_VOTES + 1, &n, cj->err, sizeof(cj->err)) != 0)
		return -1;
	j->found = 1;
	for (i = 0; i < n; i++)
		if (strcmp(votes[i].officer, j->who.user) == 0)
			j->item.voted = 1;
	return 0;
}

static int
work_vote(struct commit_job *cj, struct commit_env *env)
{
	struct ojob *j = cj->arg;
	struct auditrec dec;

	if (approvals_vote(env->store, &j->v, j->now, &j->vr, cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	if (j->vr.code != APPROVALS_OK)
		return 0;		/* lost a race: nothing changed */
	auditrec_text(&j->rec, "state", j->vr.state);
	auditrec_uint(&j->rec, "approvals", j->vr.approvals);
	auditrec_uint(&j->rec, "required", j->vr.required);
	if (ojob_audit(j, env) != 0)
		return -1;
	if (strcmp(j->vr.state, STORE_AP_PENDING) == 0)
		return 0;
	auditrec_init(&dec, "approval_decided", &j->who, NULL);
	auditrec_subject(&dec, j->v.transfer, j->item.a.interface);
	auditrec_text(&dec, "state", j->vr.state);
	auditrec_text(&dec, "decided_by", j->who.user);
	auditrec_text(&dec, "comment", j->v.comment);
	auditrec_text(&dec, "uploader", j->item.a.user);
	auditrec_uint(&dec, "approvals", j->vr.approvals);
	return auditrec_append(&dec, env->audit, time(NULL), cj->err,
	    sizeof(cj->err));
}

static void
done_vote(struct commit_job *cj, int status)
{
	struct ojob *j = cj->arg;
	struct reqconn *s = ojob_conn(j);
	struct officer *o = j->o;
	struct wire_msg r;
	char msg[256];

	if (status != 0) {
		log_kv("error", "vote", "user=%s transfer=%s reason=\"%s\"",
		    j->who.user, j->v.transfer, cj->err);
		if (s != NULL)
			reqconn_send_error(s, j->req_id, "unavailable", "the "
			    "broker could not record the decision; try again "
			    "later", NULL, 30);
		goto out;
	}
	if (j->vr.code != APPROVALS_OK) {
		if (s != NULL) {
			snprintf(msg, sizeof(msg), "transfer %s: %s",
			    j->v.transfer, j->vr.code == APPROVALS_EXPIRED ?
			    "the wait for approval has ended" :
			    j->vr.code == APPROVALS_ALREADY_VOTED ?
			    "you have already decided on it" :
			    "it was decided meanwhile");
			reqconn_send_error(s, j->req_id,
			    approvals_code_name(j->vr.code), msg, "transfer",
			    0);
		}
		goto out;
	}
	log_kv("info", "vote", "user=%s transfer=%s vote=%s state=%s "
	    "approvals=%u required=%u", j->who.user, j->v.transfer,
	    j->v.approve ? "approve" : "reject", j->vr.state,
	    j->vr.approvals, j->vr.required);
	if (strcmp(j->vr.state, STORE_AP_APPROVED) == 0)
		forward_submit(o->b->forwarder, j->v.transfer,
		    j->item.a.interface);
	else if (strcmp(j->vr.state, STORE_AP_REJECTED) == 0 &&
	    spool_remove(o->b->spool, j->v.transfer, msg, sizeof(msg)) != 0)
		/* Rejected durably: the copy must never be delivered. */
		log_kv("error", "vote", "transfer=%s reason=\"%s\"",
		    j->v.transfer, msg);
	if (strcmp(j->vr.state, STORE_AP_PENDING) != 0)
		notify_transfer(o, "approval_decided", &j->item.a, j->vr.state,
		    j->who.user, j->now);
	if (s != NULL) {
		wire_msg_init(&r, WIRE_OP_DECIDED, j->req_id);
		wire_msg_set_text(&r, "transfer", j->v.transfer);
		wire_msg_set_text(&r, "state", j->vr.state);
		wire_msg_set_uint(&r, "approvals", j->vr.approvals);
		wire_msg_set_uint(&r, "required", j->vr.required);
		reqconn_send(s, &r);
		wire_msg_clear(&r);
	}
out:
	ojob_finish(j);
}

static void
done_vote_read(struct commit_job *cj, int status)
{
	struct ojob *j = cj->arg;
	struct reqconn *s = ojob_conn(j);
	struct broker *b;
	struct policy_principal pp;
	struct wire_msg fake;
	enum approvals_code c;
	char msg[256];

	if (s == NULL)
		goto out;
	if (status != 0) {
		answer_unavailable(s, j, "vote", cj->err);
		goto out;
	}
	if (!j->found) {
		reqconn_send_error(s, j->req_id, "not_found", "no transfer "
		    "with that id is waiting for approval", "transfer", 0);
		goto out;
	}
	b = s->b;
	pp = pp_of(&j->who);
	c = approvals_check_vote(b->policy, &pp, &j->item.a, j->item.voted,
	    j->now, msg, sizeof(msg));
	if (c != APPROVALS_OK) {
		memset(&fake, 0, sizeof(fake));
		fake.op = j->v.approve ? WIRE_OP_APPROVE : WIRE_OP_REJECT;
		fake.id = j->req_id;
		refuse(s, &fake, approvals_code_name(c), msg, j->v.transfer,
		    NULL);
		goto out;
	}
	/* Second job: the write, re-checked against the store. The connection
	 * waits on it; this job's wait ends below. */
	{
		struct ojob *w = ojob_new(j->o, OJ_VOTE, s, j->req_id, j->now);

		if (w == NULL) {
			reqconn_send_error(s, j->req_id, "unavailable", "the "
			    "broker is out of resources; try again later",
			    NULL, 30);
			goto out;
		}
		w->v = j->v;
		w->item = j->item;
		auditrec_init(&w->rec, "approval_vote", &j->who,
		    s->peer);
		auditrec_subject(&w->rec, j->v.transfer, j->item.a.interface);
		auditrec_text(&w->rec, "vote", j->v.approve ? "approve" :
		    "reject");
		auditrec_text(&w->rec, "comment", j->v.comment);
		auditrec_text(&w->rec, "uploader", j->item.a.user);
		auditrec_text(&w->rec, "approvers", j->item.a.approvers);
		auditrec_text(&w->rec, "register", policy_hash(b->policy));
		w->has_rec = 1;
		ojob_submit(w, work_vote, done_vote);
	}
out:
	ojob_finish(j);
}

static void
handle_vote(struct reqconn *s, const struct wire_msg *m, int approve)
{
	struct broker *b = s->b;
	const char *id = wire_msg_text(m, "transfer");
	const char *comment = wire_msg_text(m, "comment");
	struct ojob *j;

	if (!util_is_id(id)) {
		reqconn_send_error(s, m->id, "bad_value", "transfer must be a "
		    "transfer id (32 lowercase hex characters)", "transfer", 0);
		return;
	}
	if (!approve && (comment == NULL || comment[0] == '\0')) {
		reqconn_send_error(s, m->id, "bad_value", "a rejection needs a "
		    "comment: the uploader is told why", "comment", 0);
		return;
	}
	if ((j = ojob_new(b->officer, OJ_VOTE_READ, s, m->id,
	    broker_now(b))) == NULL) {
		reqconn_send_error(s, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return;
	}
	util_strlcpy(j->v.transfer, id, sizeof(j->v.transfer));
	util_strlcpy(j->v.officer, j->who.user, sizeof(j->v.officer));
	util_strlcpy(j->v.cert_fp, j->who.cert_fp, sizeof(j->v.cert_fp));
	util_strlcpy(j->v.comment, comment != NULL ? comment : "",
	    sizeof(j->v.comment));
	j->v.approve = approve;
	j->v.at = j->now;
	ojob_submit(j, work_vote_read, done_vote_read);
}

void
officer_handle_approve(struct reqconn *s, const struct wire_msg *m)
{
	handle_vote(s, m, 1);
}

void
officer_handle_reject(struct reqconn *s, const struct wire_msg *m)
{
	handle_vote(s, m, 0);
}

/* ---- exceptions: writes ------------------------------------------------------------ */

static int
work_ex_write(struct commit_job *cj, struct commit_env *env)
{
	struct ojob *j = cj->arg;
	int rc;

	if (j->expect[0] == '\0')
		rc = store_exception_insert(env->store, &j->e, cj->err,
		    sizeof(cj->err));
	else
		rc = store_exception_update(env->store, &j->e, j->expect,
		    cj->err, sizeof(cj->err));
	if (rc == STORE_NOTFOUND || rc == STORE_EXISTS) {
		util_strlcpy(j->code, rc == STORE_EXISTS ? "unavailable" :
		    "bad_state", sizeof(j->code));
		return -1;
	}
	if (rc != 0)
		return -1;
	return ojob_audit(j, env);
}

static void
done_ex_write(struct commit_job *cj, int status)
{
	struct ojob *j = cj->arg;
	struct reqconn *s = ojob_conn(j);
	struct officer *o = j->o;

	if (status != 0) {
		log_kv("error", j->event, "user=%s exception=%s reason=\"%s\"",
		    j->who.user, j->e.id, cj->err);
		if (s != NULL)
			reqconn_send_error(s, j->req_id, j->code[0] != '\0' ?
			    j->code : "unavailable", j->code[0] != '\0' ?
			    "the exception changed meanwhile; list it again" :
			    "the broker could not record the change; try "
			    "again later", "exception", 0);
		goto out;
	}
	if (approvals_cache_put(&o->cache, &j->e) != 0)
		log_kv("error", j->event, "exception=%s reason=\"the cache of "
		    "open exceptions is full\"", j->e.id);
	log_kv("info", j->event, "user=%s exception=%s interface=%s",
	    j->who.user, j->e.id, j->e.interface);
	/* A request is made by the requester, whom the notification names
	 * already; only the officers' own actions have an officer. */
	notify_exception(o, j->event, &j->e,
	    strcmp(j->event, "exception_requested") == 0 ? NULL : j->who.user,
	    j->now);
	if (s != NULL)
		send_exception(s, j->req_id, &j->e, j->now);
out:
	ojob_finish(j);
}

/* Queues the write of e (insert when expect is NULL) with its audit
 * record; event names both. */
static void
ex_write(struct reqconn *s, const struct wire_msg *m,
    const struct store_exception *e, const char *expect, const char *event)
{
	struct broker *b = s->b;
	struct ojob *j;
	char t[21];

	if (expect == NULL && b->officer->cache.n >= APPROVALS_CACHE_MAX) {
		reqconn_send_error(s, m->id, "unavailable", "too many open "
		    "exceptions; refuse or revoke some first", NULL, 0);
		return;
	}
	if ((j = ojob_new(b->officer, OJ_EX_WRITE, s, m->id,
	    broker_now(b))) == NULL) {
		reqconn_send_error(s, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return;
	}
	j->e = *e;
	j->event = event;
	if (expect != NULL)
		util_strlcpy(j->expect, expect, sizeof(j->expect));
	auditrec_init(&j->rec, event, &s->who, s->peer);
	auditrec_subject(&j->rec, NULL, e->interface);
	auditrec_text(&j->rec, "exception", e->id);
	auditrec_text(&j->rec, "state", e->state);
	auditrec_bool(&j->rec, "emergency", e->emergency);
	auditrec_text(&j->rec, "users", e->users);
	auditrec_text(&j->rec, "groups", e->groups);
	auditrec_uint(&j->rec, "class", e->max_class);
	auditrec_uint(&j->rec, "max_size", e->max_size);
	auditrec_uint(&j->rec, "max_count", e->max_count);
	if (e->hours_from >= 0) {
		auditrec_uint(&j->rec, "hours_from", (uint64_t)e->hours_from);
		auditrec_uint(&j->rec, "hours_to", (uint64_t)e->hours_to);
	}
	auditrec_text(&j->rec, "extensions", e->extensions);
	auditrec_text(&j->rec, "valid_from", now_text((time_t)e->not_before,
	    t));
	auditrec_text(&j->rec, "valid_until", now_text((time_t)e->not_after,
	    t));
	auditrec_text(&j->rec, "reason", e->reason);
	auditrec_text(&j->rec, "requester", e->requester);
	if (strcmp(event, "exception_refused") == 0 ||
	    strcmp(event, "exception_revoked") == 0)
		auditrec_text(&j->rec, "end_reason", e->end_reason);
	else if (e->comment[0] != '\0')
		auditrec_text(&j->rec, "comment", e->comment);
	if (strcmp(event, "exception_confirmed") == 0 &&
	    e->confirm_comment[0] != '\0')
		auditrec_text(&j->rec, "confirm_comment", e->confirm_comment);
	auditrec_text(&j->rec, "register", policy_hash(b->policy));
	j->has_rec = 1;
	ojob_submit(j, work_ex_write, done_ex_write);
}

/* Fills the scope of e from a request's fields. 0, or -1 with the
 * offending field answered. */
static int
scope_from_msg(struct reqconn *s, const struct wire_msg *m, time_t now,
    struct store_exception *e, int need_until)
{
	const char *interface = wire_msg_text(m, "interface");
	const char *hours = wire_msg_text(m, "hours");
	const char *reason = wire_msg_text(m, "reason");
	const char *exts = wire_msg_text(m, "extensions");
	uint64_t v, from = (uint64_t)now, until = 0;
	size_t i;

	if (!util_is_token(interface, 64)) {
		reqconn_send_error(s, m->id, "bad_value", "interface id must "
		    "be 1-64 characters of A-Z a-z 0-9 . _ -", "interface", 0);
		return -1;
	}
	util_strlcpy(e->interface, interface, sizeof(e->interface));
	e->hours_from = e->hours_to = -1;
	if (wire_msg_uint(m, "class", &v) == 0)
		e->max_class = (unsigned)v;
	if (wire_msg_uint(m, "max_size", &v) == 0) {
		if (v == 0 || v > (uint64_t)INT64_MAX) {
			reqconn_send_error(s, m->id, "bad_value", "max_size "
			    "out of range", "max_size", 0);
			return -1;
		}
		e->max_size = v;
	}
	if (wire_msg_uint(m, "max_count", &v) == 0) {
		if (v == 0 || v > 1000000) {
			reqconn_send_error(s, m->id, "bad_value", "max_count "
			    "must be 1..1000000", "max_count", 0);
			return -1;
		}
		e->max_count = v;
	}
	if (hours != NULL && policy_parse_hours(hours, &e->hours_from,
	    &e->hours_to) != 0) {
		reqconn_send_error(s, m->id, "bad_value", "hours must be "
		    "HH:MM-HH:MM", "hours", 0);
		return -1;
	}
	if (exts != NULL) {
		/* Extensions compare lower-case, as the register lists them;
		 * policy_exception_check judges the rest. */
		if (util_strlcpy(e->extensions, exts,
		    sizeof(e->extensions)) != 0) {
			reqconn_send_error(s, m->id, "bad_value", "extensions: "
			    "too long", "extensions", 0);
			return -1;
		}
		for (i = 0; e->extensions[i] != '\0'; i++)
			if (e->extensions[i] >= 'A' && e->extensions[i] <= 'Z')
				e->extensions[i] += 'a' - 'A';
	}
	wire_msg_uint(m, "from", &from);
	if (wire_msg_uint(m, "until", &until) != 0 && need_until) {
		reqconn_send_error(s, m->id, "bad_value", "an exception needs "
		    "a deadline (until)", "until", 0);
		return -1;
	}
	/* A start in the past would make it longer than it looks. */
	if (from + 300 < (uint64_t)now || from > (uint64_t)now + 400 * 86400 ||
	    until > (uint64_t)now + 400 * 86400) {
		reqconn_send_error(s, m->id, "bad_value", "from must not be in "
		    "the past; from and until at most 400 days ahead", "from",
		    0);
		return -1;
	}
	if (from < (uint64_t)now)
		from = (uint64_t)now;
	e->not_before = (int64_t)from;
	e->not_after = (int64_t)until;
	if (reason == NULL || reason[0] == '\0') {
		reqconn_send_error(s, m->id, "bad_value", "an exception needs "
		    "a reason", "reason", 0);
		return -1;
	}
	util_strlcpy(e->reason, reason, sizeof(e->reason));
	return 0;
}

void
officer_handle_exception_request(struct reqconn *s, const struct wire_msg *m)
{
	struct broker *b = s->b;
	const struct principal *who = &s->who;
	struct policy_principal pp = pp_of(who);
	struct store_exception e;
	time_t now = broker_now(b);
	enum approvals_code c;
	char msg[320];

	memset(&e, 0, sizeof(e));
	if (scope_from_msg(s, m, now, &e, 1) != 0)
		return;
	if (approvals_new_exception_id(e.id) != 0) {
		reqconn_send_error(s, m->id, "unavailable", "no random bytes "
		    "for an id; try again later", NULL, 30);
		return;
	}
	util_strlcpy(e.state, STORE_EX_REQUESTED, sizeof(e.state));
	util_strlcpy(e.users, who->user, sizeof(e.users));
	util_strlcpy(e.requester, who->user, sizeof(e.requester));
	e.requested = now;
	c = approvals_check_request(b->policy, &pp, &e, now, msg,
	    sizeof(msg));
	if (c != APPROVALS_OK) {
		refuse(s, m, approvals_code_name(c), msg, NULL, NULL);
		return;
	}
	ex_write(s, m, &e, NULL, "exception_requested");
}

/* Joins a text array into a normalised list; -1 answered. */
static int
list_from_msg(struct reqconn *s, const struct wire_msg *m, const char *key,
    char *out, size_t outlen)
{
	const struct wire_value *v = wire_msg_get(m, key);
	char joined[STORE_EX_LIST_MAX * 2], err[160];
	size_t i, used = 0, len;

	out[0] = '\0';
	if (v == NULL)
		return 0;
	joined[0] = '\0';
	for (i = 0; i < v->len; i++) {
		len = strlen(v->array[i]);
		if (used + len + 2 > sizeof(joined)) {
			reqconn_send_error(s, m->id, "bad_value", "too many "
			    "principals", key, 0);
			return -1;
		}
		if (used > 0)
			joined[used++] = ',';
		memcpy(joined + used, v->array[i], len + 1);
		used += len;
	}
	if (approvals_list_parse(joined, out, outlen, err, sizeof(err)) != 0) {
		reqconn_send_error(s, m->id, "bad_value", err, key, 0);
		return -1;
	}
	return 0;
}

void
officer_handle_exception_grant(struct reqconn *s, const struct wire_msg *m)
{
	struct broker *b = s->b;
	struct officer *o = b->officer;
	const struct principal *who = &s->who;
	struct policy_principal pp = pp_of(who);
	const char *id = wire_msg_text(m, "exception");
	const char *comment = wire_msg_text(m, "comment");
	const struct wire_value *em = wire_msg_get(m, "emergency");
	int emergency = em != NULL && em->u != 0;
	struct store_exception e;
	const struct store_exception *cur;
	time_t now = broker_now(b);
	enum approvals_code c;
	const char *expect = NULL;
	char msg[320];

	memset(&e, 0, sizeof(e));
	if (id != NULL) {
		/* Granting a request: exactly as asked. */
		if (!approvals_is_exception_id(id) ||
		    (cur = approvals_cache_find(&o->cache, id)) == NULL) {
			reqconn_send_error(s, m->id, "not_found", "no open "
			    "exception request with that id", "exception", 0);
			return;
		}
		e = *cur;
		expect = STORE_EX_REQUESTED;
	} else {
		/* A direct grant for named users and groups. */
		if (scope_from_msg(s, m, now, &e, 1) != 0 ||
		    list_from_msg(s, m, "users", e.users,
		    sizeof(e.users)) != 0 ||
		    list_from_msg(s, m, "groups", e.groups,
		    sizeof(e.groups)) != 0)
			return;
		if (e.users[0] == '\0' && e.groups[0] == '\0') {
			reqconn_send_error(s, m->id, "bad_value", "name the "
			    "users or groups the exception is for", "users", 0);
			return;
		}
		if (approvals_new_exception_id(e.id) != 0) {
			reqconn_send_error(s, m->id, "unavailable", "no random "
			    "bytes for an id; try again later", NULL, 30);
			return;
		}
		util_strlcpy(e.state, STORE_EX_REQUESTED, sizeof(e.state));
		util_strlcpy(e.requester, who->user, sizeof(e.requester));
		e.requested = now;
	}
	c = approvals_check_grant(b->policy, &pp, &e, emergency, now, msg,
	    sizeof(msg));
	if (c != APPROVALS_OK) {
		refuse(s, m, approvals_code_name(c), msg, NULL, e.id);
		return;
	}
	util_strlcpy(e.state, STORE_EX_ACTIVE, sizeof(e.state));
	util_strlcpy(e.granted_by, who->user, sizeof(e.granted_by));
	e.granted = now;
	e.emergency = emergency;
	if (emergency) {
		/* Effective at once, whatever start was asked. */
		if (e.not_before > (int64_t)now)
			e.not_before = now;
		e.confirm_by = (int64_t)now +
		    (int64_t)b->cfg->emergency_confirm;
	}
	util_strlcpy(e.comment, comment != NULL ? comment : "",
	    sizeof(e.comment));
	ex_write(s, m, &e, expect, emergency ? "exception_emergency" :
	    "exception_granted");
}

/* refuse, revoke, confirm: an open exception from the cache. */
void
officer_handle_exception_change(struct reqconn *s, const struct wire_msg *m)
{
	struct broker *b = s->b;
	struct officer *o = b->officer;
	const struct principal *who = &s->who;
	struct policy_principal pp = pp_of(who);
	const char *id = wire_msg_text(m, "exception");
	const char *comment = wire_msg_text(m, "comment");
	const char *reason = wire_msg_text(m, "reason");
	const struct store_exception *cur;
	struct store_exception e;
	time_t now = broker_now(b);
	enum approvals_code c;
	const char *event;
	char msg[320];

	if (!approvals_is_exception_id(id) ||
	    (cur = approvals_cache_find(&o->cache, id)) == NULL) {
		reqconn_send_error(s, m->id, "not_found", "no open exception "
		    "with that id", "exception", 0);
		return;
	}
	if ((m->op == WIRE_OP_EXCEPTION_REFUSE && (comment == NULL ||
	    comment[0] == '\0')) || (m->op == WIRE_OP_EXCEPTION_REVOKE &&
	    (reason == NULL || reason[0] == '\0'))) {
		reqconn_send_error(s, m->id, "bad_value", "say why: the "
		    "requester and the review see it", m->op ==
		    WIRE_OP_EXCEPTION_REFUSE ? "comment" : "reason", 0);
		return;
	}
	e = *cur;
	switch (m->op) {
	case WIRE_OP_EXCEPTION_REFUSE:
		c = approvals_check_refuse(b->policy, &pp, &e, msg,
		    sizeof(msg));
		event = "exception_refused";
		break;
	case WIRE_OP_EXCEPTION_REVOKE:
		c = approvals_check_revoke(b->policy, &pp, &e, msg,
		    sizeof(msg));
		event = "exception_revoked";
		break;
	default:
		c = approvals_check_confirm(b->policy, &pp, &e, now, msg,
		    sizeof(msg));
		event = "exception_confirmed";
		break;
	}
	if (c != APPROVALS_OK) {
		refuse(s, m, approvals_code_name(c), msg, NULL, e.id);
		return;
	}
	if (m->op == WIRE_OP_EXCEPTION_CONFIRM) {
		util_strlcpy(e.confirmed_by, who->user, sizeof(e.confirmed_by));
		util_strlcpy(e.confirm_comment, comment != NULL ? comment : "",
		    sizeof(e.confirm_comment));
		e.confirmed = now;
		ex_write(s, m, &e, STORE_EX_ACTIVE, event);
		return;
	}
	util_strlcpy(e.state, m->op == WIRE_OP_EXCEPTION_REFUSE ?
	    STORE_EX_REFUSED : STORE_EX_REVOKED, sizeof(e.state));
	util_strlcpy(e.ended_by, who->user, sizeof(e.ended_by));
	e.ended = now;
	util_strlcpy(e.end_reason, m->op == WIRE_OP_EXCEPTION_REFUSE ?
	    comment : reason, sizeof(e.end_reason));
	ex_write(s, m, &e, cur->state, event);
}

/* ---- exception_ls ----------------------------------------------------------------- */

struct exlist_ctx {
	struct ojob *j;
	size_t cap;
	int failed;
};

static int
collect_ex(const struct store_exception *e, void *arg)
{
	struct exlist_ctx *c = arg;
	struct ojob *j = c->j;

	if (strcmp(e->id, j->after) <= 0)
		return 0;
	if (j->nexs == EX_PAGE) {
		j->more = 1;
		return 1;
	}
	if (j->nexs == c->cap) {
		size_t cap = c->cap == 0 ? 16 : c->cap * 2;
		struct store_exception *ne = reallocarray(j->exs, cap,
		    sizeof(*ne));

		if (ne == NULL) {
			c->failed = 1;
			return 1;
		}
		j->exs = ne;
		c->cap = cap;
	}
	j->exs[j->nexs++] = *e;
	return 0;
}

static int
work_ex_list(struct commit_job *cj, struct commit_env *env)
{
	struct ojob *j = cj->arg;
	struct exlist_ctx c = { j, 0, 0 };

	if (store_exception_each(env->store, NULL, collect_ex, &c, cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	if (c.failed)
		return util_err(cj->err, sizeof(cj->err), "out of memory");
	return 0;
}

static int
ex_matches(const char *filter, const struct store_exception *e, time_t now)
{
	const char *st = approvals_exception_status(e, now);
	int ended = strcmp(st, "expired") == 0 || strcmp(st, "revoked") == 0 ||
	    strcmp(st, "refused") == 0;

	if (strcmp(filter, "all") == 0)
		return 1;
	if (strcmp(filter, "expired") == 0)
		return ended;
	if (strcmp(filter, "active") == 0)
		return strcmp(e->state, STORE_EX_ACTIVE) == 0 && !ended;
	if (strcmp(filter, "requested") == 0)
		return strcmp(e->state, STORE_EX_REQUESTED) == 0;
	return !ended;			/* "open": requested or in force */
}

static void
done_ex_list(struct commit_job *cj, int status)
{
	struct ojob *j = cj->arg;
	struct reqconn *s = ojob_conn(j);
	struct broker *b;
	struct policy_principal pp;
	unsigned roles;
	size_t i, sent = 0;
	int everyone;

	if (s == NULL)
		goto out;
	if (status != 0) {
		answer_unavailable(s, j, "exception_ls", cj->err);
		goto out;
	}
	b = s->b;
	pp = pp_of(&j->who);
	roles = policy_principal_roles(b->policy, &pp);
	everyone = (roles & (POLICY_ROLE_OFFICER | POLICY_ROLE_AUDITOR)) != 0;
	for (i = 0; i < j->nexs; i++) {
		const struct store_exception *e = &j->exs[i];

		if (!ex_matches(j->filter, e, j->now))
			continue;
		/* Staff see what they asked for and what applies to them. */
		if (!everyone && strcmp(e->requester, j->who.user) != 0 &&
		    !approvals_exception_covers(b->policy, e, &pp))
			continue;
		send_exception(s, j->req_id, e, j->now);
		sent++;
	}
	send_listed(s, j->req_id, sent, j->more && j->nexs > 0 ?
	    j->exs[j->nexs - 1].id : NULL);
out:
	ojob_finish(j);
}

void
officer_handle_exception_ls(struct reqconn *s, const struct wire_msg *m)
{
	struct broker *b = s->b;
	const char *filter = wire_msg_text(m, "filter");
	const char *after = wire_msg_text(m, "after");
	struct ojob *j;

	if (filter == NULL)
		filter = "open";
	if (strcmp(filter, "open") != 0 && strcmp(filter, "active") != 0 &&
	    strcmp(filter, "expired") != 0 && strcmp(filter, "all") != 0 &&
	    strcmp(filter, "requested") != 0) {
		reqconn_send_error(s, m->id, "bad_value", "filter must be one "
		    "of open, requested, active, expired, all", "filter", 0);
		return;
	}
	if (after != NULL && !approvals_is_exception_id(after)) {
		reqconn_send_error(s, m->id, "bad_value", "after must be an "
		    "exception id", "after", 0);
		return;
	}
	if ((j = ojob_new(b->officer, OJ_EX_LIST, s, m->id,
	    broker_now(b))) == NULL) {
		reqconn_send_error(s, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return;
	}
	util_strlcpy(j->filter, filter, sizeof(j->filter));
	if (after != NULL)
		util_strlcpy(j->after, after, sizeof(j->after));
	ojob_submit(j, work_ex_list, done_ex_list);
}

/* ---- sweep ----------------------------------------------------------------------- */

struct sweep_ctx {
	struct ojob *j;
	struct commit_env *env;
};

static int
sweep_change(const struct approvals_change *ch, void *arg)
{
	struct sweep_ctx *c = arg;
	struct ojob *j = c->j;
	struct sweep_change *sc;
	struct auditrec rec;

	if (j->nchanges == SWEEP_MAX) {
		j->more = 1;
		return 1;		/* the rest at the next sweep */
	}
	sc = &j->changes[j->nchanges++];
	util_strlcpy(sc->kind, ch->kind, sizeof(sc->kind));
	auditrec_init(&rec, ch->kind, NULL, NULL);
	if (ch->a != NULL) {
		sc->a = *ch->a;
		auditrec_subject(&rec, ch->a->transfer, ch->a->interface);
		auditrec_text(&rec, "uploader", ch->a->user);
		auditrec_text(&rec, "approvers", ch->a->approvers);
		auditrec_uint(&rec, "approvals", ch->a->approvals);
		auditrec_uint(&rec, "required", ch->a->required);
	}
	if (ch->e != NULL) {
		sc->e = *ch->e;
		auditrec_subject(&rec, NULL, ch->e->interface);
		auditrec_text(&rec, "exception", ch->e->id);
		auditrec_text(&rec, "granted_by", ch->e->granted_by);
		auditrec_text(&rec, "end_reason", ch->e->end_reason);
		auditrec_text(&rec, "extensions", ch->e->extensions);
	}
	return auditrec_append(&rec, c->env->audit, time(NULL), j->job.err,
	    sizeof(j->job.err)) == 0 ? 0 : -1;
}

static int
work_sweep(struct commit_job *cj, struct commit_env *env)
{
	struct ojob *j = cj->arg;
	struct sweep_ctx c = { j, env };

	return approvals_sweep(env->store, j->now, sweep_change, &c, cj->err,
	    sizeof(cj->err)) < 0 ? -1 : 0;
}

static void
sweep_arm(struct officer *o, time_t secs)
{
	struct timeval tv = { secs, 0 };

	if (o->sweep_ev != NULL)
		event_add(o->sweep_ev, &tv);
}

static void
done_sweep(struct commit_job *cj, int status)
{
	struct ojob *j = cj->arg;
	struct officer *o = j->o;
	char err[128];
	size_t i;

	o->sweep_busy = 0;
	if (status != 0) {
		log_kv("error", "sweep", "reason=\"%s\"", cj->err);
		j->nchanges = 0;
	}
	for (i = 0; i < j->nchanges; i++) {
		const struct sweep_change *c = &j->changes[i];

		if (strcmp(c->kind, "approval_expired") == 0) {
			/* Durably expired: now the file may go. */
			if (spool_remove(o->b->spool, c->a.transfer, err,
			    sizeof(err)) != 0)
				log_kv("error", "sweep", "transfer=%s "
				    "reason=\"%s\"", c->a.transfer, err);
			log_kv("info", "approval_expired", "transfer=%s "
			    "user=%s", c->a.transfer, c->a.user);
			notify_transfer(o, "approval_expired", &c->a,
			    STORE_AP_EXPIRED, NULL, j->now);
		} else {
			approvals_cache_put(&o->cache, &c->e);
			log_kv("warn", "exception_auto_revoked", "exception=%s "
			    "granted_by=%s", c->e.id, c->e.granted_by);
			notify_exception(o, "exception_auto_revoked", &c->e,
			    NULL, j->now);
		}
	}
	sweep_arm(o, j->more ? 1 : SWEEP_INTERVAL);
	ojob_finish(j);
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct officer *o = arg;
	struct ojob *j;

	(void)fd;
	(void)what;
	if (o->sweep_busy || o->b->shutting_down)
		return;
	if ((j = ojob_new(o, OJ_SWEEP, NULL, 0, broker_now(o->b))) == NULL ||
	    (j->changes = calloc(SWEEP_MAX, sizeof(*j->changes))) == NULL) {
		if (j != NULL)
			ojob_free(j);
		log_kv("error", "sweep", "reason=\"out of memory\"");
		sweep_arm(o, SWEEP_INTERVAL);
		return;
	}
	o->sweep_busy = 1;
	ojob_submit(j, work_sweep, done_sweep);
}

/* ---- hooks of the upload path ------------------------------------------------------ */

void
officer_put_context(const struct officer *o, const struct policy *p,
    const struct policy_principal *who, const char *interface, time_t now,
    struct policy_exception *buf, struct policy_context *ctx)
{
	if (o == NULL)
		return;
	ctx->nexceptions = approvals_cache_context(&o->cache, p, who,
	    interface, now, buf, OFFICER_CONTEXT_MAX);
	ctx->exceptions = ctx->nexceptions > 0 ? buf : NULL;
}

void
officer_put_from_decision(const struct policy_decision *d,
    struct officer_put *out)
{
	memset(out, 0, sizeof(*out));
	if (d->flags & POLICY_FLAG_EXCEPTION)
		util_strlcpy(out->exception, d->exception,
		    sizeof(out->exception));
	if (d->verdict == POLICY_APPROVAL_REQUIRED) {
		util_strlcpy(out->approvers, d->approvers,
		    sizeof(out->approvers));
		out->approvals = d->approvals;
	}
}

int
officer_record_use(struct store *st, const struct officer_put *op,
    const char *transfer, const char *user, time_t now, char *err,
    size_t errlen)
{
	if (op->exception[0] == '\0')
		return 0;
	return approvals_use_exception(st, op->exception, transfer, user, now,
	    err, errlen);
}

void
officer_used(struct officer *o, const struct officer_put *op)
{
	if (o != NULL && op->exception[0] != '\0')
		approvals_cache_count_use(&o->cache, op->exception);
}

int
officer_hold(struct store *st, const struct officer_put *op,
    const struct transfer *t, uint64_t hold_secs, time_t now, char *err,
    size_t errlen)
{
	if (op->approvers[0] == '\0')
		return 0;
	if (approvals_hold(st, t, op->approvers, op->approvals, hold_secs,
	    now, err, errlen) != 0)
		return -1;
	return 1;
}

void
officer_held(struct officer *o, const struct transfer *t,
    const struct officer_put *op, time_t now)
{
	struct store_approval a;

	if (o == NULL)
		return;
	memset(&a, 0, sizeof(a));
	util_strlcpy(a.transfer, t->id, sizeof(a.transfer));
	util_strlcpy(a.interface, t->interface, sizeof(a.interface));
	util_strlcpy(a.user, t->user, sizeof(a.user));
	util_strlcpy(a.approvers, op->approvers, sizeof(a.approvers));
	a.required = op->approvals;
	notify_transfer(o, "approval_requested", &a, NULL, NULL, now);
}

int
officer_status(struct store *st, const char *transfer,
    struct store_approval *out, char *err, size_t errlen)
{
	int rc = store_approval_get(st, transfer, out, err, errlen);

	if (rc == STORE_NOTFOUND)
		return 0;
	return rc == 0 ? 1 : -1;
}

void
officer_status_fields(const struct store_approval *a, struct wire_msg *state)
{
	wire_msg_set_text(state, "approval", a->state);
	wire_msg_set_uint(state, "approvals", a->approvals);
	wire_msg_set_uint(state, "required", a->required);
	if (a->comment[0] != '\0')
		wire_msg_set_text(state, "comment", a->comment);
}
