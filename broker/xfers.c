/*
 * xfers — see xfers.h.
 */
#include "broker/xfers.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/download.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/officer.h"
#include "broker/request.h"
#include "broker/spool.h"
#include "broker/status.h"
#include "broker/store.h"
#include "broker/upload.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define OPEN_BACKLOG (4u << 20)		/* output queued before we wait */
#define OPEN_RETRY_MS 20		/* re-check of a full output */
#define MAX_EXTS WIRE_MAX_ARRAY		/* extensions one item carries */

static const char BAD_ID[] = "transfer must be a transfer id (32 lowercase "
	"hex characters)";
static const char NO_MEMORY[] = "the broker is out of resources; try again "
	"later";

/* A UTF-8 text cut to at most max bytes, never inside a character. */
static void
cut_utf8(char *dst, size_t dstlen, const char *src, size_t max)
{
	size_t n = strlen(src);

	if (max >= dstlen)
		max = dstlen - 1;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
send_listed(struct reqconn *c, uint64_t id, uint64_t count, const char *next)
{
	struct wire_msg r;

	wire_msg_init(&r, WIRE_OP_LISTED, id);
	wire_msg_set_uint(&r, "count", count);
	if (next != NULL && next[0] != '\0')
		wire_msg_set_text(&r, "next", next);
	reqconn_send(c, &r);
	wire_msg_clear(&r);
}

/* The page size a list request asks for (the schema bounds it). */
static size_t
page_limit(const struct wire_msg *m)
{
	uint64_t v;

	if (wire_msg_uint(m, "limit", &v) != 0 || v == 0 || v > WIRE_MAX_PAGE)
		return WIRE_MAX_PAGE;
	return (size_t)v;
}

/* ---- interfaces_ls ------------------------------------------------------- */

static void
send_interface(struct reqconn *c, uint64_t id,
    const struct policy_interface_view *v)
{
	static const char *const classes[] = { "1", "2" };
	struct wire_msg r;
	size_t n;

	wire_msg_init(&r, WIRE_OP_INTERFACE, id);
	wire_msg_set_text(&r, "interface", v->id);
	if (v->title != NULL && v->title[0] != '\0' &&
	    wire_msg_set_text(&r, "title", v->title) != 0) {
		char t[WIRE_MAX_PURPOSE + 1];

		cut_utf8(t, sizeof(t), v->title, WIRE_MAX_PURPOSE);
		wire_msg_set_text(&r, "title", t);
	}
	wire_msg_set_text_array(&r, "classes", classes, v->max_class);
	if (v->default_class != 0)
		wire_msg_set_uint(&r, "default_class", v->default_class);
	if (v->hours != NULL)
		wire_msg_set_text(&r, "hours", v->hours);
	if (v->max_size != UINT64_MAX)
		wire_msg_set_uint(&r, "max_size", v->max_size);
	if (v->nextensions > 0) {
		n = v->nextensions < MAX_EXTS ? v->nextensions : MAX_EXTS;
		wire_msg_set_text_array(&r, "extensions", v->extensions, n);
		if (n < v->nextensions)
			wire_msg_set_bool(&r, "extensions_more", 1);
	}
	wire_msg_set_bool(&r, "approval", v->approval);
	if (v->approval)
		wire_msg_set_uint(&r, "approvals_required",
		    v->approvals_required);
	wire_msg_set_bool(&r, "stepup", v->stepup);
	if (v->service != NULL)
		wire_msg_set_text(&r, "destination", v->service);
	reqconn_send(c, &r);
	wire_msg_clear(&r);
}

void
xfers_handle_interfaces_ls(struct reqconn *c, const struct wire_msg *m)
{
	const struct policy *p = c->b->policy;
	const char *after = wire_msg_text(m, "after");
	struct policy_principal pp = { c->who.user, c->who.dept,
	    c->who.terminal };
	struct policy_interface_view v;
	size_t i, n, limit = page_limit(m), count = 0;
	const char *last = NULL;
	time_t now = broker_now(c->b);

	if (after != NULL && !util_is_token(after, POLICY_ID_MAX)) {
		reqconn_send_error(c, m->id, "bad_value", "after must be an "
		    "interface id (the next of the previous page)", "after", 0);
		return;
	}
	n = policy_interface_count(p);
	for (i = 0; i < n; i++) {
		/* Ids come in id order: the page starts after "after". */
		if (after != NULL && strcmp(policy_interface_id(p, i),
		    after) <= 0)
			continue;
		if (policy_interface_usable(p, i, &pp, now, &v) != 1)
			continue;
		if (count == limit) {
			send_listed(c, m->id, count, last);
			return;
		}
		send_interface(c, m->id, &v);
		last = v.id;
		count++;
	}
	send_listed(c, m->id, count, NULL);
}

/* ---- transfers_ls -------------------------------------------------------- */

/* Rows one job reads: a page of up to WIRE_MAX_PAGE items is read in
 * batches so that a list holds little memory (a row is about 5 KiB). */
#define LIST_BATCH 25

struct list_job {
	struct commit_job job;
	struct reqconn *c;		/* waited on */
	uint64_t req_id;
	char user[sizeof(((struct principal *)0)->user)];
	char after[UTIL_ID_LEN + 1];	/* "" from the newest */
	int has_cursor;			/* the last row sent (or "after") */
	int64_t cur_created;
	char cur_id[UTIL_ID_LEN + 1];
	size_t remaining;		/* items the page may still hold */
	size_t sent;
	size_t want;			/* rows this batch sends */
	char code[32];
	size_t n;			/* rows read: want + 1 means more */
	struct transfer t[LIST_BATCH + 1];
	struct store_approval ap[LIST_BATCH];
	int has_ap[LIST_BATCH];
};

static int
work_list(struct commit_job *cj, struct commit_env *env)
{
	struct list_job *j = cj->arg;
	size_t i;
	int rc;

	if (j->after[0] != '\0' && !j->has_cursor) {
		/* Where the previous page ended: one of the caller's own. */
		rc = store_transfer_get(env->store, j->after, &j->t[0],
		    cj->err, sizeof(cj->err));
		if (rc == STORE_NOTFOUND || (rc == 0 &&
		    strcmp(j->t[0].user, j->user) != 0)) {
			util_strlcpy(j->code, "bad_value", sizeof(j->code));
			return util_err(cj->err, sizeof(cj->err), "after must "
			    "be the next of a previous page of your transfers; "
			    "%s is not one of them", j->after);
		}
		if (rc != 0)
			return -1;
		j->has_cursor = 1;
		j->cur_created = j->t[0].created;
		util_strlcpy(j->cur_id, j->after, sizeof(j->cur_id));
	}
	j->want = j->remaining < LIST_BATCH ? j->remaining : LIST_BATCH;
	if (store_transfer_list_own(env->store, j->user, j->cur_created,
	    j->has_cursor ? j->cur_id : NULL, j->t, j->want + 1, &j->n,
	    cj->err, sizeof(cj->err)) != 0)
		return -1;
	for (i = 0; i < j->n && i < j->want; i++)
		if ((j->has_ap[i] = officer_status(env->store, j->t[i].id,
		    &j->ap[i], cj->err, sizeof(cj->err))) < 0)
			return -1;
	return 0;
}

static void
done_list(struct commit_job *cj, int status)
{
	struct list_job *j = cj->arg;
	struct reqconn *c = j->c;
	struct wire_msg r;
	size_t i, shown;
	int more;

	if (reqconn_ending(c))
		goto out;
	if (status != 0) {
		if (j->code[0] == '\0')
			log_kv("error", "transfers_ls", "user=%s reason=\"%s\"",
			    j->user, cj->err);
		reqconn_send_error(c, j->req_id, j->code[0] != '\0' ? j->code :
		    "unavailable", j->code[0] != '\0' ? cj->err : "the broker "
		    "could not read its state; try again later",
		    j->code[0] != '\0' ? "after" : NULL,
		    j->code[0] != '\0' ? 0 : 30);
		goto out;
	}
	shown = j->n > j->want ? j->want : j->n;
	for (i = 0; i < shown; i++) {
		wire_msg_init(&r, WIRE_OP_STATE, j->req_id);
		status_fill_state(&j->t[i], j->has_ap[i] > 0 ? &j->ap[i] :
		    NULL, &r);
		reqconn_send(c, &r);
		wire_msg_clear(&r);
	}
	j->sent += shown;
	j->remaining -= shown;
	more = j->n > j->want;
	if (shown > 0) {
		j->has_cursor = 1;
		j->cur_created = j->t[shown - 1].created;
		util_strlcpy(j->cur_id, j->t[shown - 1].id, sizeof(j->cur_id));
	}
	if (more && j->remaining > 0 && !c->b->shutting_down) {
		/* The next batch; the connection still waits. */
		committer_submit(c->b->committer, &j->job);
		return;
	}
	send_listed(c, j->req_id, j->sent, more && j->sent > 0 ?
	    j->cur_id : NULL);
out:
	free(j);
	reqconn_done_waiting(c);
}

void
xfers_handle_transfers_ls(struct reqconn *c, const struct wire_msg *m)
{
	const char *after = wire_msg_text(m, "after");
	struct list_job *j;

	if (after != NULL && !util_is_id(after)) {
		reqconn_send_error(c, m->id, "bad_value", "after must be a "
		    "transfer id (the next of the previous page)", "after", 0);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		reqconn_send_error(c, m->id, "unavailable", NO_MEMORY, NULL,
		    30);
		return;
	}
	j->remaining = page_limit(m);
	j->c = c;
	j->req_id = m->id;
	util_strlcpy(j->user, c->who.user, sizeof(j->user));
	if (after != NULL)
		util_strlcpy(j->after, after, sizeof(j->after));
	j->job.work = work_list;
	j->job.done = done_list;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(c->b->committer, &j->job);
}

/* ---- withdraw -------------------------------------------------------------- */

struct withdraw_job {
	struct commit_job job;
	struct reqconn *c;		/* waited on */
	uint64_t req_id;
	struct principal who;
	char peer[64];
	char id[UTIL_ID_LEN + 1];
	char reason[WIRE_MAX_COMMENT + 1];
	char code[32];			/* a refusal's wire code */
	char was[16];			/* the state it was withdrawn from */
	struct transfer t;		/* after the withdrawal */
	struct store_approval ap;
	int has_ap;
};

static int
work_withdraw(struct commit_job *cj, struct commit_env *env)
{
	struct withdraw_job *j = cj->arg;
	struct store *st = env->store;
	struct auditrec rec;
	char error[256];
	time_t now = time(NULL);
	int rc, held;

	rc = store_transfer_get(st, j->id, &j->t, cj->err, sizeof(cj->err));
	if (rc == STORE_NOTFOUND || (rc == 0 &&
	    strcmp(j->t.user, j->who.user) != 0)) {
		util_strlcpy(j->code, "not_found", sizeof(j->code));
		return util_err(cj->err, sizeof(cj->err), "no transfer %s of "
		    "yours is known to this broker", j->id);
	}
	if (rc != 0)
		return -1;
	held = strcmp(j->t.state, STORE_HELD) == 0;
	if (!held && strcmp(j->t.state, STORE_RECEIVING) != 0) {
		util_strlcpy(j->code, "wrong_state", sizeof(j->code));
		return util_err(cj->err, sizeof(cj->err), "transfer %s is %s: "
		    "only a transfer still uploading or held for approval can "
		    "be withdrawn", j->id, j->t.state);
	}
	util_strlcpy(j->was, j->t.state, sizeof(j->was));
	snprintf(error, sizeof(error), "withdrawn by its owner%s",
	    j->reason[0] != '\0' ? ": " : "");
	if (j->reason[0] != '\0')
		cut_utf8(error + strlen(error), sizeof(error) - strlen(error),
		    j->reason, 200);
	rc = store_transfer_withdraw(st, j->id, j->who.user, error, now,
	    cj->err, sizeof(cj->err));
	if (rc == STORE_NOTFOUND) {
		util_strlcpy(j->code, "wrong_state", sizeof(j->code));
		return util_err(cj->err, sizeof(cj->err), "transfer %s "
		    "changed meanwhile; ask for its status", j->id);
	}
	if (rc != 0)
		return -1;
	if (held && (rc = store_approval_close(st, j->id, STORE_AP_WITHDRAWN,
	    j->who.user, j->reason[0] != '\0' ? j->reason :
	    "withdrawn by its owner", now, cj->err, sizeof(cj->err))) != 0 &&
	    rc != STORE_NOTFOUND)
		return -1;
	auditrec_init(&rec, "withdrawn", &j->who, j->peer);
	auditrec_subject(&rec, j->id, j->t.interface);
	auditrec_text(&rec, "previous_state", j->was);
	auditrec_text(&rec, "reason", j->reason);
	auditrec_uint(&rec, "size", j->t.size);
	auditrec_uint(&rec, "received", j->t.received);
	if (j->t.sha256[0] != '\0')
		auditrec_text(&rec, "sha256", j->t.sha256);
	if (auditrec_append(&rec, env->audit, now, cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	if (store_transfer_get(st, j->id, &j->t, cj->err,
	    sizeof(cj->err)) != 0 || (j->has_ap = officer_status(st, j->id,
	    &j->ap, cj->err, sizeof(cj->err))) < 0)
		return -1;
	return 0;
}

static void
done_withdraw(struct commit_job *cj, int status)
{
	struct withdraw_job *j = cj->arg;
	struct reqconn *c = j->c;
	struct wire_msg r;
	char e[256];

	if (status == 0) {
		/* Durably withdrawn: the copy must never be delivered. */
		if (spool_remove(c->b->spool, j->id, e, sizeof(e)) != 0)
			log_kv("error", "withdraw", "transfer=%s reason=\"%s\"",
			    j->id, e);
		log_kv("info", "withdraw", "user=%s transfer=%s was=%s",
		    j->who.user, j->id, j->was);
	}
	if (reqconn_ending(c))
		goto out;
	if (status != 0) {
		if (j->code[0] == '\0')
			log_kv("error", "withdraw", "user=%s transfer=%s "
			    "reason=\"%s\"", j->who.user, j->id, cj->err);
		reqconn_send_error_full(c, j->req_id, j->code[0] != '\0' ?
		    j->code : "unavailable", j->code[0] != '\0' ? cj->err :
		    "the broker could not record the withdrawal; try again "
		    "later", "transfer", NULL, j->id, j->code[0] != '\0' ?
		    0 : 30);
		goto out;
	}
	wire_msg_init(&r, WIRE_OP_STATE, j->req_id);
	status_fill_state(&j->t, j->has_ap > 0 ? &j->ap : NULL, &r);
	reqconn_send(c, &r);
	wire_msg_clear(&r);
out:
	free(j);
	reqconn_done_waiting(c);
}

void
xfers_handle_withdraw(struct reqconn *c, const struct wire_msg *m)
{
	const char *id = wire_msg_text(m, "transfer");
	const char *reason = wire_msg_text(m, "reason");
	struct withdraw_job *j;

	if (!util_is_id(id)) {
		reqconn_send_error(c, m->id, "bad_value", BAD_ID, "transfer",
		    0);
		return;
	}
	/* Its bytes are arriving on a connection now: that upload must end
	 * (or break off) first. */
	if (upload_transfer_busy(c->b, id)) {
		reqconn_send_error_full(c, m->id, "busy", "transfer is being "
		    "uploaded on another connection right now; stop that "
		    "upload first, then withdraw it", "transfer", NULL, id, 5);
		return;
	}
	if (request_refuse_unaudited(c, m->id))
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		reqconn_send_error(c, m->id, "unavailable", NO_MEMORY, NULL,
		    30);
		return;
	}
	j->c = c;
	j->req_id = m->id;
	j->who = c->who;
	util_strlcpy(j->peer, c->peer, sizeof(j->peer));
	util_strlcpy(j->id, id, sizeof(j->id));
	if (reason != NULL)
		util_strlcpy(j->reason, reason, sizeof(j->reason));
	j->job.work = work_withdraw;
	j->job.done = done_withdraw;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(c->b->committer, &j->job);
}

/* ---- held_open ------------------------------------------------------------- */

enum open_stage { O_READ, O_AUDIT, O_CHUNK, O_FAILED };

struct hopen {
	struct commit_job job;
	enum open_stage stage;
	struct reqconn *c;		/* waited on for the whole stream */
	struct broker *b;
	uint64_t req_id;
	struct principal who;
	char peer[64];
	char id[UTIL_ID_LEN + 1];
	char code[32];
	struct transfer t;
	struct store_approval ap;
	int fd;
	EVP_MD_CTX *md;
	uint8_t want[UTIL_SHA256_LEN];
	uint8_t *buf;
	size_t len;			/* bytes of the current chunk */
	uint64_t off;			/* bytes read so far */
	uint64_t sent;			/* bytes handed to the transport */
	int verified;			/* the whole copy matched */
	char why[160];			/* held_open_failed reason */
	struct event *retry;
};

static void open_next(struct hopen *o);

static void
hopen_free(struct hopen *o)
{
	struct reqconn *c = o->c;

	if (o->retry != NULL)
		event_free(o->retry);
	if (o->fd >= 0)
		close(o->fd);
	EVP_MD_CTX_free(o->md);
	free(o->buf);
	free(o);
	reqconn_done_waiting(c);
}

/* Commit thread: the held transfer and its request, as the store has
 * them now. */
static int
work_open_read(struct commit_job *cj, struct commit_env *env)
{
	struct hopen *o = cj->arg;
	int rc;

	/* Only transfers that were ever held for approval are an officer's
	 * business; whether this one still is comes after the officer's
	 * authority over it (done_open_read). */
	rc = store_transfer_get(env->store, o->id, &o->t, cj->err,
	    sizeof(cj->err));
	if (rc == 0)
		rc = store_approval_get(env->store, o->id, &o->ap, cj->err,
		    sizeof(cj->err));
	if (rc == STORE_NOTFOUND) {
		util_strlcpy(o->code, "not_found", sizeof(o->code));
		return util_err(cj->err, sizeof(cj->err), "no transfer %s is "
		    "held for approval on this broker", o->id);
	}
	return rc == 0 ? 0 : -1;
}

/* Commit thread: the copy is opened and the read recorded before a byte
 * of it leaves (fail closed: no record, no bytes). */
static int
work_open_audit(struct commit_job *cj, struct commit_env *env)
{
	struct hopen *o = cj->arg;
	struct auditrec rec;
	struct transfer t;
	uint64_t size = 0;
	char e[256];
	int rc;

	/* Decided or withdrawn while the officer's rights were checked? */
	rc = store_transfer_get(env->store, o->id, &t, cj->err,
	    sizeof(cj->err));
	if (rc != 0)
		return -1;
	if (strcmp(t.state, STORE_HELD) != 0) {
		util_strlcpy(o->code, "wrong_state", sizeof(o->code));
		return util_err(cj->err, sizeof(cj->err), "transfer %s is %s "
		    "now: only a transfer held for approval can be opened",
		    o->id, t.state);
	}
	if (spool_open_read(env->spool, o->id, &o->fd, e, sizeof(e)) != 0 ||
	    spool_stat(env->spool, o->id, 1, &size) != 0 ||
	    size != o->t.size) {
		util_strlcpy(o->code, "damaged", sizeof(o->code));
		snprintf(o->why, sizeof(o->why), "the held copy is %s",
		    o->fd < 0 ? "missing" : "of the wrong size");
		auditrec_init(&rec, "held_open_failed", &o->who, o->peer);
		auditrec_subject(&rec, o->id, o->t.interface);
		auditrec_text(&rec, "reason", o->why);
		auditrec_uint(&rec, "bytes", 0);
		if (auditrec_append(&rec, env->audit, time(NULL), cj->err,
		    sizeof(cj->err)) != 0)
			return -1;
		util_err(cj->err, sizeof(cj->err), "transfer %s: %s; it cannot "
		    "be opened; tell the administrator", o->id, o->why);
		o->stage = O_FAILED;
		return 0;
	}
	auditrec_init(&rec, "held_open", &o->who, o->peer);
	auditrec_subject(&rec, o->id, o->t.interface);
	auditrec_text(&rec, "sha256", o->t.sha256);
	auditrec_uint(&rec, "bytes", o->t.size);
	auditrec_text(&rec, "uploader", o->t.user);
	auditrec_text(&rec, "approvers", o->ap.approvers);
	return auditrec_append(&rec, env->audit, time(NULL), cj->err,
	    sizeof(cj->err));
}

/* Commit thread: the next chunk, hashed on the way. */
static int
work_open_chunk(struct commit_job *cj, struct commit_env *env)
{
	struct hopen *o = cj->arg;
	uint64_t left = o->t.size - o->off;
	size_t want = left < WIRE_MAX_CHUNK ? (size_t)left : WIRE_MAX_CHUNK;
	ssize_t r;

	(void)env;
	o->len = 0;
	while (o->len < want) {
		r = pread(o->fd, o->buf + o->len, want - o->len,
		    (off_t)(o->off + o->len));
		if (r < 0)
			return util_err(cj->err, sizeof(cj->err), "reading "
			    "the held copy: %s", strerror(errno));
		if (r == 0)
			break;
		o->len += (size_t)r;
	}
	if (o->len < want) {
		util_strlcpy(o->why, "the held copy is shorter than recorded",
		    sizeof(o->why));
		return 0;
	}
	if (EVP_DigestUpdate(o->md, o->buf, o->len) != 1)
		return util_err(cj->err, sizeof(cj->err), "hashing failed");
	o->off += o->len;
	if (o->off == o->t.size) {
		uint8_t got[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		char extra;

		if (EVP_DigestFinal_ex(o->md, got, &n) != 1 ||
		    n != UTIL_SHA256_LEN)
			return util_err(cj->err, sizeof(cj->err), "hashing "
			    "failed");
		if (pread(o->fd, &extra, 1, (off_t)o->off) != 0)
			util_strlcpy(o->why, "the held copy is longer than "
			    "recorded", sizeof(o->why));
		else if (CRYPTO_memcmp(got, o->want, UTIL_SHA256_LEN) != 0)
			util_strlcpy(o->why, "the held copy does not match its "
			    "recorded SHA-256", sizeof(o->why));
		else
			o->verified = 1;
	}
	return 0;
}

/* Records why a stream ended short (loop; queued to the commit thread). */
static void
open_audit_failure(struct hopen *o, const char *why)
{
	struct auditrec rec;

	auditrec_init(&rec, "held_open_failed", &o->who, o->peer);
	auditrec_subject(&rec, o->id, o->t.interface);
	auditrec_text(&rec, "reason", why);
	auditrec_uint(&rec, "bytes", o->sent);
	auditrec_text(&rec, "sha256", o->t.sha256);
	request_audit(o->b, &rec);
	log_kv("warn", "held_open_failed", "user=%s transfer=%s bytes=%" PRIu64
	    " reason=\"%s\"", o->who.user, o->id, o->sent, why);
}

static void
open_fail(struct hopen *o, const char *code, const char *msg, uint64_t retry)
{
	if (!reqconn_ending(o->c))
		reqconn_send_error_full(o->c, o->req_id, code, msg, "transfer",
		    NULL, o->id, retry);
	hopen_free(o);
}

static void
done_open_chunk(struct commit_job *cj, int status)
{
	struct hopen *o = cj->arg;
	char msg[300];

	if (reqconn_ending(o->c)) {
		open_audit_failure(o, "the connection ended before the file "
		    "was sent whole");
		hopen_free(o);
		return;
	}
	if (status != 0 || o->why[0] != '\0') {
		/* The last chunk of a copy that does not verify is never
		 * sent: the officer never holds all of a damaged file. */
		open_audit_failure(o, status != 0 ? cj->err : o->why);
		if (status != 0)
			log_kv("error", "held_open", "transfer=%s reason=\"%s\"",
			    o->id, cj->err);
		snprintf(msg, sizeof(msg), "transfer %s: %s; the file was not "
		    "sent whole; tell the administrator", o->id,
		    status != 0 ? "the held copy could not be read" : o->why);
		open_fail(o, status != 0 ? "unavailable" : "damaged", msg, 0);
		return;
	}
	if (o->len > 0)
		reqconn_send_data(o->c, o->buf, o->len);
	o->sent += o->len;
	open_next(o);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	open_next(arg);
}

/* The next chunk, the end, or a wait for the client to catch up. */
static void
open_next(struct hopen *o)
{
	struct wire_msg m;

	if (reqconn_ending(o->c)) {
		open_audit_failure(o, "the connection ended before the file "
		    "was sent whole");
		hopen_free(o);
		return;
	}
	if (o->b->shutting_down) {
		open_audit_failure(o, "the broker stopped");
		open_fail(o, "shutting_down", "the broker is restarting; open "
		    "the file again in a moment", 0);
		return;
	}
	if (o->verified && o->sent == o->t.size) {
		wire_msg_init(&m, WIRE_OP_FILE_DONE, o->req_id);
		wire_msg_set_text(&m, "transfer", o->id);
		wire_msg_set_uint(&m, "size", o->sent);
		reqconn_send(o->c, &m);
		wire_msg_clear(&m);
		log_kv("info", "held_open", "user=%s transfer=%s bytes=%" PRIu64,
		    o->who.user, o->id, o->sent);
		hopen_free(o);
		return;
	}
	if (reqconn_output_pending(o->c) > OPEN_BACKLOG) {
		struct timeval tv = { 0, OPEN_RETRY_MS * 1000 };

		if (o->retry == NULL)
			o->retry = evtimer_new(o->b->base, retry_cb, o);
		if (o->retry == NULL || evtimer_add(o->retry, &tv) != 0) {
			open_audit_failure(o, "out of resources");
			open_fail(o, "unavailable", NO_MEMORY, 30);
		}
		return;
	}
	o->stage = O_CHUNK;
	o->job.work = work_open_chunk;
	o->job.done = done_open_chunk;
	committer_submit(o->b->committer, &o->job);
}

static void
done_open_audit(struct commit_job *cj, int status)
{
	struct hopen *o = cj->arg;
	struct wire_msg m;
	char fname[WIRE_MAX_NAME + 1];

	if (status != 0 || o->stage == O_FAILED) {
		if (status != 0 && o->code[0] == '\0')
			log_kv("error", "held_open", "user=%s transfer=%s "
			    "reason=\"%s\"", o->who.user, o->id, cj->err);
		open_fail(o, o->code[0] != '\0' ? o->code : "unavailable",
		    o->code[0] != '\0' ? cj->err : "the broker could not "
		    "record the read; try again later", o->code[0] != '\0' ?
		    0 : 30);
		return;
	}
	if (reqconn_ending(o->c)) {
		open_audit_failure(o, "the connection ended before the file "
		    "was sent");
		hopen_free(o);
		return;
	}
	download_filename(o->t.name, o->id, fname, sizeof(fname));
	wire_msg_init(&m, WIRE_OP_FILE, o->req_id);
	wire_msg_set_text(&m, "transfer", o->id);
	wire_msg_set_text(&m, "name", o->t.name);
	wire_msg_set_uint(&m, "size", o->t.size);
	wire_msg_set_bytes(&m, "sha256", o->want, sizeof(o->want));
	wire_msg_set_text(&m, "content_type", download_content_type(o->t.name));
	wire_msg_set_text(&m, "filename", fname);
	reqconn_send(o->c, &m);
	wire_msg_clear(&m);
	open_next(o);
}

static void
done_open_read(struct commit_job *cj, int status)
{
	struct hopen *o = cj->arg;
	struct reqconn *c = o->c;
	struct policy_principal pp = { o->who.user, o->who.dept,
	    o->who.terminal };
	struct auditrec rec;
	char msg[256];

	if (reqconn_ending(c)) {
		hopen_free(o);
		return;
	}
	if (status != 0) {
		if (o->code[0] == '\0')
			log_kv("error", "held_open", "user=%s transfer=%s "
			    "reason=\"%s\"", o->who.user, o->id, cj->err);
		open_fail(o, o->code[0] != '\0' ? o->code : "unavailable",
		    o->code[0] != '\0' ? cj->err : "the broker could not read "
		    "its state; try again later", o->code[0] != '\0' ? 0 : 30);
		return;
	}
	/* The officers who may decide on it may read it: members of its
	 * approver group in the register in force. */
	if (!policy_group_has(c->b->policy, o->ap.approvers, &pp)) {
		snprintf(msg, sizeof(msg), "transfer %s: you are not one of "
		    "its approvers (group %s)", o->id, o->ap.approvers);
		auditrec_init(&rec, "officer_refused", &o->who, o->peer);
		auditrec_subject(&rec, o->id, NULL);
		auditrec_text(&rec, "op", "held_open");
		auditrec_text(&rec, "code", "no_authority");
		auditrec_text(&rec, "message", msg);
		request_audit(c->b, &rec);
		log_kv("warn", "officer_refused", "user=%s op=held_open "
		    "code=no_authority", o->who.user);
		open_fail(o, "no_authority", msg, 0);
		return;
	}
	if (strcmp(o->t.state, STORE_HELD) != 0) {
		snprintf(msg, sizeof(msg), "transfer %s is %s: only a transfer "
		    "held for approval can be opened", o->id, o->t.state);
		open_fail(o, "wrong_state", msg, 0);
		return;
	}
	if (util_unhex(o->t.sha256, o->want, sizeof(o->want)) != 0) {
		open_fail(o, "unavailable", "the held transfer has no recorded "
		    "SHA-256; tell the administrator", 0);
		return;
	}
	o->stage = O_AUDIT;
	o->job.work = work_open_audit;
	o->job.done = done_open_audit;
	committer_submit(c->b->committer, &o->job);
}

void
xfers_handle_held_open(struct reqconn *c, const struct wire_msg *m)
{
	const char *id = wire_msg_text(m, "transfer");
	struct hopen *o;

	if (!util_is_id(id)) {
		reqconn_send_error(c, m->id, "bad_value", BAD_ID, "transfer",
		    0);
		return;
	}
	if (request_refuse_unaudited(c, m->id))
		return;
	if ((o = calloc(1, sizeof(*o))) == NULL ||
	    (o->buf = malloc(WIRE_MAX_CHUNK)) == NULL ||
	    (o->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(o->md, EVP_sha256(), NULL) != 1) {
		if (o != NULL) {
			EVP_MD_CTX_free(o->md);
			free(o->buf);
			free(o);
		}
		reqconn_send_error(c, m->id, "unavailable", NO_MEMORY, NULL,
		    30);
		return;
	}
	o->fd = -1;
	o->c = c;
	o->b = c->b;
	o->req_id = m->id;
	o->who = c->who;
	util_strlcpy(o->peer, c->peer, sizeof(o->peer));
	util_strlcpy(o->id, id, sizeof(o->id));
	o->stage = O_READ;
	o->job.work = work_open_read;
	o->job.done = done_open_read;
	o->job.arg = o;
	reqconn_wait(c);
	committer_submit(c->b->committer, &o->job);
}
