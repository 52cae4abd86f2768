/*
 * upload — see upload.h.
 */
#include "broker/upload.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/forward.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/officer.h"
#include "broker/request.h"
#include "broker/spool.h"
#include "broker/stepgate.h"
#include "broker/stepup.h"
#include "broker/store.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

enum job_kind { J_AUDIT, J_CREATE, J_RESUME, J_SYNC, J_COMMIT, J_FAIL,
	J_ABORT, J_STEPUP, J_USAGE, J_PROBE };

/* Today's usage of one interface by one user, for daily limits. */
struct put_usage {
	uint64_t bytes;
	uint64_t count;
};

struct sjob {
	struct commit_job job;
	enum job_kind kind;
	struct reqconn *c;		/* holds a reference; NULL for none */
	uint64_t req_id;
	char id[UTIL_ID_LEN + 1];
	int fd;				/* owned by the job while it runs */
	uint64_t offset;
	EVP_MD_CTX *md;
	uint8_t sha[UTIL_SHA256_LEN];
	char code[32];			/* wire error code on failure */
	char reason[WIRE_MAX_MESSAGE + 1];	/* why a transfer failed */
	int close_after;		/* end the connection after answering */
	struct transfer t;
	struct principal who;		/* for resume checks and records */
	struct auditrec rec;
	int has_rec;
	/* J_STEPUP */
	const struct stepup *su;	/* immutable; read on the commit thread */
	char otp[WIRE_MAX_OTP + 1];
	time_t now;			/* the decision's clock */
	uint8_t *put_buf;		/* the put, encoded, to run again */
	size_t put_len;
	int verified;			/* J_USAGE: the put's code was accepted */
	int64_t day_start;		/* J_USAGE: count from here */
	struct put_usage usage;		/* J_USAGE: the answer */
	struct policy_decision d;	/* the step_up_required decision */
	struct stepup_outcome so;
	/* approval officers: the put's exception and hold; a held commit */
	struct officer_put op;
	int held;
	int was_stored;			/* J_RESUME: answered by its stored
					   state, not continued */
};

/* A new upload, fd -1, counted among the live ones until upload_free. */
static struct upload *
upload_new(struct broker *b)
{
	struct upload *up = calloc(1, sizeof(*up));

	if (up == NULL)
		return NULL;
	up->fd = -1;
	LIST_INSERT_HEAD(&b->uploads, up, entry);
	return up;
}

static void
upload_free(struct upload *up)
{
	if (up == NULL)
		return;
	LIST_REMOVE(up, entry);
	if (up->fd != -1)
		close(up->fd);
	EVP_MD_CTX_free(up->md);
	free(up);
}

static struct sjob *
job_new(enum job_kind kind, struct reqconn *c)
{
	struct sjob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->fd = -1;
	if (c != NULL) {
		j->c = c;
		c->ops->hold(c);
		j->who = c->who;
	}
	return j;
}

/* Drops the job's hold on its connection, which may be the last one:
 * whatever the job still does with the connection (resume it) comes
 * before. */
static void
job_free(struct sjob *j)
{
	OPENSSL_cleanse(j->otp, sizeof(j->otp));
	if (j->put_buf != NULL) {
		/* It holds the code too. */
		OPENSSL_cleanse(j->put_buf, j->put_len);
		free(j->put_buf);
	}
	if (j->fd != -1)
		close(j->fd);
	EVP_MD_CTX_free(j->md);
	if (j->c != NULL)
		j->c->ops->release(j->c);
	free(j);
}

/* ---- jobs ------------------------------------------------------------------ */

/* Queues j; with wait set, c stops reading until j's done callback runs. */
static void
submit(struct broker *b, struct reqconn *c, struct sjob *j,
    int (*work)(struct commit_job *, struct commit_env *),
    void (*done)(struct commit_job *, int), int wait)
{
	j->job.work = work;
	j->job.done = done;
	j->job.arg = j;
	if (wait && c != NULL)
		reqconn_pause(c);
	committer_submit(b->committer, &j->job);
}

/* Appends the job's audit record, if any. */
static int
job_audit(struct sjob *j, struct commit_env *env)
{
	if (!j->has_rec)
		return 0;
	return auditrec_append(&j->rec, env->audit, time(NULL), j->job.err,
	    sizeof(j->job.err));
}

static int
work_audit(struct commit_job *cj, struct commit_env *env)
{
	return job_audit(cj->arg, env);
}

static void
done_free(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;

	if (status != 0)
		log_kv("error", "audit", "reason=%s", cj->err);
	job_free(j);
}

/* The record names the cloud service the interface leads to (loop thread:
 * the register in force). */
static void
audit_service(struct broker *b, struct auditrec *rec, const char *interface)
{
	const struct policy_service *svc = NULL;
	const char *path = NULL;

	if (interface != NULL && policy_interface_target(b->policy, interface,
	    &svc, &path) == 0 && svc != NULL)
		auditrec_service(rec, svc->id);
}

static int
work_abort(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;
	char *err = cj->err;
	size_t errlen = sizeof(cj->err);

	/* The durable offset moves only if the sync worked. */
	if (spool_sync(j->fd, err, errlen) != 0) {
		if (store_transfer_set_state(env->store, j->id, STORE_FAILED,
		    NULL, "spool fsync failed after the connection dropped",
		    time(NULL), err, errlen) != 0)
			return -1;
		auditrec_text(&j->rec, "error", "fsync failed; transfer failed");
		close(j->fd);
		j->fd = -1;
		spool_remove(env->spool, j->id, err, errlen);
		return job_audit(j, env);
	}
	close(j->fd);
	j->fd = -1;
	if (store_transfer_progress(env->store, j->id, j->offset, time(NULL),
	    err, errlen) != 0)
		return -1;
	return job_audit(j, env);
}

/* Hands an attached upload to an abort job (loop thread). */
void
upload_abort(struct reqconn *c, const char *why)
{
	struct upload *up = c->up;
	struct sjob *j;

	if (up == NULL)
		return;
	c->up = NULL;
	if (up->fd == -1) {		/* no data yet: nothing to checkpoint */
		upload_free(up);
		return;
	}
	if ((j = job_new(J_ABORT, NULL)) == NULL) {
		log_kv("error", "abort", "transfer=%s reason=\"out of memory\"",
		    up->id);
		upload_free(up);
		return;
	}
	util_strlcpy(j->id, up->id, sizeof(j->id));
	j->fd = up->fd;
	up->fd = -1;
	j->offset = up->received;
	auditrec_init(&j->rec, "abort", &c->who, c->peer);
	auditrec_subject(&j->rec, up->id, up->interface);
	auditrec_text(&j->rec, "reason", why);
	auditrec_uint(&j->rec, "received", up->received);
	auditrec_uint(&j->rec, "size", up->size);
	j->has_rec = 1;
	log_kv("info", "abort", "user=%s transfer=%s received=%" PRIu64
	    " size=%" PRIu64 " reason=\"%s\"", c->who.user, up->id,
	    up->received, up->size, why);
	upload_free(up);
	submit(c->b, NULL, j, work_abort, done_free, 0);
}

void
upload_release(struct reqconn *c, const char *why)
{
	struct upload *up = c->up;

	if (up == NULL)
		return;
	/* Nothing was received through c: no checkpoint job borrows the fd
	 * (they start only after data), the durable offset is what the
	 * store says, and nothing happened that the trail must tell. */
	if (!up->wrote && up->remaining == 0) {
		c->up = NULL;
		upload_free(up);
		return;
	}
	upload_abort(c, why);
}

void
upload_protocol_error(struct reqconn *c, uint64_t id, const char *code,
    const char *message, const char *field)
{
	struct auditrec rec;

	log_kv("warn", "protocol", "user=%s peer=%s code=%s field=%s",
	    c->who.user, c->peer, code, field != NULL ? field : "");
	auditrec_init(&rec, "protocol_error", &c->who, c->peer);
	if (c->up != NULL)
		auditrec_subject(&rec, c->up->id, c->up->interface);
	auditrec_text(&rec, "code", code);
	auditrec_text(&rec, "message", message);
	request_audit(c->b, &rec);
	reqconn_send_error_full(c, id, code, message, field, NULL, NULL, 0);
	reqconn_close_after_flush(c);
}

/* ---- put: new transfer ---------------------------------------------------------- */

static void
send_ready(struct reqconn *c, uint64_t id, const char *transfer,
    uint64_t offset)
{
	struct wire_msg r;

	wire_msg_init(&r, WIRE_OP_READY, id);
	wire_msg_set_text(&r, "transfer", transfer);
	wire_msg_set_uint(&r, "offset", offset);
	reqconn_send(c, &r);
	wire_msg_clear(&r);
}

static int
work_create(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;

	int rc;

	if (store_transfer_insert(env->store, &j->t, cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	/* The exception is checked again here, where uses are counted one
	 * at a time: a revocation or a usage limit reached since the
	 * decision refuses the put. */
	if ((rc = officer_record_use(env->store, &j->op, j->id, j->who.user,
	    (time_t)j->t.created, cj->err, sizeof(cj->err))) != 0) {
		if (rc > 0)
			util_strlcpy(j->code, "denied", sizeof(j->code));
		return -1;
	}
	return job_audit(j, env);
}

static void
done_create(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct reqconn *c = j->c;
	struct upload *up = c->up;

	/* The client left meanwhile, or the connection is ending (lifetime,
	 * revocation, shutdown) and handed the upload to the abort job
	 * queued behind this one, which records the partial as resumable. */
	if (reqconn_gone(c) || up == NULL || strcmp(up->id, j->id) != 0) {
		job_free(j);
		return;
	}
	if (status != 0) {
		log_kv("error", "create", "user=%s transfer=%s reason=\"%s\"",
		    c->who.user, j->id, cj->err);
		if (j->code[0] != '\0')
			reqconn_send_error_full(c, j->req_id, j->code, cj->err,
			    NULL, NULL, NULL, 0);
		else
			reqconn_send_error_full(c, j->req_id, "unavailable",
			    "the broker could not record the transfer durably; "
			    "try again later or tell the administrator", NULL,
			    NULL, j->id, 0);
		c->up = NULL;
		upload_free(up);
		spool_remove(c->b->spool, j->id, cj->err, sizeof(cj->err));
	} else {
		up->ready = 1;
		officer_used(c->b->officer, &j->op);
		log_kv("info", "receive", "user=%s transfer=%s interface=%s "
		    "size=%" PRIu64 " class=%u", c->who.user, up->id,
		    up->interface, up->size, up->class);
		send_ready(c, j->req_id, up->id, 0);
	}
	reqconn_resume(c);
	job_free(j);
}

static void done_fail(struct commit_job *cj, int status);

/* Maps a policy verdict to what the client is told. */
static void
refuse_by_policy(struct reqconn *c, const struct wire_msg *m,
    const struct policy_request *req, const struct policy_decision *d)
{
	struct auditrec rec;
	struct sjob *j;
	const char *code = "denied";
	const char *msg = d->reason;
	char buf[512];

	if (d->verdict == POLICY_STEP_UP_REQUIRED) {
		code = "step_up_required";
		if (c->b->stepup == NULL)
			snprintf(buf, sizeof(buf), "%s (this broker has no "
			    "step-up key configured, so the request is refused; "
			    "tell the administrator)", d->reason);
		else
			snprintf(buf, sizeof(buf), "%s: send the request again "
			    "with the current code from your authenticator app",
			    d->reason);
		msg = buf;
	} else if (d->verdict == POLICY_APPROVAL_REQUIRED) {
		code = "approval_required";
		snprintf(buf, sizeof(buf), "%s (this broker does not hold "
		    "transfers for approval yet, so the request is refused)",
		    d->reason);
		msg = buf;
	}
	auditrec_init(&rec, "decide", &c->who, c->peer);
	auditrec_subject(&rec, NULL, req->interface);
	audit_service(c->b, &rec, req->interface);
	auditrec_text(&rec, "verdict", policy_verdict_name(d->verdict));
	auditrec_text(&rec, "reason", d->code);
	auditrec_text(&rec, "rule", d->rule);
	auditrec_text(&rec, "register", d->register_hash);
	auditrec_text(&rec, "name", req->filename);
	auditrec_uint(&rec, "size", req->size);
	auditrec_uint(&rec, "class", req->class);
	log_kv("info", "deny", "user=%s interface=%s verdict=%s reason=%s "
	    "rule=%s", c->who.user, req->interface,
	    policy_verdict_name(d->verdict), d->code, d->rule);
	/* The refusal is told once its record is durable, like every other
	 * answer about a request. */
	if ((j = job_new(J_AUDIT, c)) == NULL) {
		request_audit(c->b, &rec);
		reqconn_send_error_full(c, m->id, code, msg, NULL, d, NULL, 0);
		return;
	}
	j->rec = rec;
	j->has_rec = 1;
	j->req_id = m->id;
	j->d = *d;
	util_strlcpy(j->code, code, sizeof(j->code));
	util_strlcpy(j->reason, msg, sizeof(j->reason));
	submit(c->b, c, j, work_audit, done_fail, 1);
}

static void handle_resume(struct reqconn *c, const struct wire_msg *m,
    const struct policy_request *req, const char *resume,
    const struct officer_put *op, time_t now);

/* Keeps the SHA-256 the put declared, if any, for end to match. */
static void
upload_declare(struct upload *up, const struct wire_msg *m)
{
	size_t len = 0;
	const uint8_t *sha = wire_msg_bytes(m, "sha256", &len);

	if (sha != NULL && len == sizeof(up->declared)) {
		memcpy(up->declared, sha, sizeof(up->declared));
		up->has_declared = 1;
	}
}
static void stepup_begin(struct reqconn *c, const struct wire_msg *m,
    const struct policy_request *req, const struct policy_decision *d,
    const char *otp, time_t now);

static void probe_begin(struct reqconn *c, const struct wire_msg *m,
    const struct policy_request *req, const char *resume, int verified);
static void usage_begin(struct reqconn *c, const struct wire_msg *m,
    const char *interface, int verified, int64_t day_start);

/*
 * Spool space promised to the uploads attached to connections: what each
 * declared and has not written yet (what it wrote already shows in the
 * free space). Derived from the live uploads, so it is given back by
 * itself when an upload ends, fails, aborts or is detached; a resume
 * counts its whole size until its offset is known, then the remainder.
 */
static uint64_t
spool_promised(struct broker *b)
{
	const struct upload *up;
	uint64_t sum = 0;

	LIST_FOREACH(up, &b->uploads, entry)
		if (up->size > up->received)
			sum += up->size - up->received;
	return sum;
}

/*
 * A put, new or resumed. verified is set when it runs again after its
 * one-time code was accepted: it must then not ask for (or check) a code
 * a second time. usage is today's usage for the interface's daily limits;
 * NULL until it has been looked up (only interfaces with such a limit need
 * it).
 */
static void
put_request(struct reqconn *c, const struct wire_msg *m, int verified,
    const struct put_usage *usage)
{
	struct broker *b = c->b;
	struct policy_principal pp;
	struct policy_request req;
	struct policy_context ctx;
	struct policy_decision d;
	struct upload *up;
	struct sjob *j;
	uint64_t size = 0, class = 0, free_bytes = 0, promised, need, have;
	const char *resume = wire_msg_text(m, "resume");
	struct policy_exception exb[OFFICER_CONTEXT_MAX];
	struct officer_put op;
	char msgbuf[256];
	int fd, decided;

	if (c->up != NULL) {
		upload_protocol_error(c, m->id, "bad_request", "an upload is "
		    "already in progress on this connection; send end first",
		    NULL);
		return;
	}
	if (request_refuse_unaudited(c, m->id))
		return;
	memset(&req, 0, sizeof(req));
	req.interface = wire_msg_text(m, "interface");
	req.filename = wire_msg_text(m, "name");
	req.purpose = wire_msg_text(m, "purpose");
	wire_msg_uint(m, "size", &size);
	req.size = size;
	if (!util_is_token(req.interface, 64)) {
		reqconn_send_error_full(c, m->id, "bad_value", "interface id "
		    "must be 1-64 characters of A-Z a-z 0-9 . _ -", "interface",
		    NULL, NULL, 0);
		return;
	}
	/* No class: the interface's explicit default, else refused; never
	 * a silent class 1. */
	if (wire_msg_uint(m, "class", &class) != 0 && (class =
	    policy_interface_default_class(b->policy, req.interface)) == 0) {
		reqconn_send_error_full(c, m->id, "class_required", "機密性の分類が指定され"
		    "ていません。--class 1〜3 を指定してください / the put names "
		    "no classification and this interface has no default_class: "
		    "give --class 1, 2 or 3", "class", NULL, NULL, 0);
		return;
	}
	req.class = (unsigned)class;
	if (req.filename == NULL || req.filename[0] == '\0') {
		reqconn_send_error_full(c, m->id, "bad_value", "name must not "
		    "be empty: it is what the audit trail and the recipient "
		    "see", "name", NULL, NULL, 0);
		return;
	}
	if (size > b->cfg->max_file_size) {
		snprintf(msgbuf, sizeof(msgbuf), "the file is %" PRIu64 " bytes; "
		    "this broker accepts at most %" PRIu64 " bytes per file",
		    size, b->cfg->max_file_size);
		reqconn_send_error_full(c, m->id, "too_large", msgbuf, "size",
		    NULL, NULL, 0);
		return;
	}

	/* A resume of a transfer stored before is answered with what is
	 * stored, whatever today's policy, limits or free space say: the
	 * transfer was accepted then, and the client must learn that it is
	 * done rather than send the file again. */
	if (resume != NULL && util_is_id(resume) && c->probed != m->id + 1) {
		probe_begin(c, m, &req, resume, verified);
		return;
	}
	/* Every put, new or resumed, is decided again under today's policy. */
	pp.user = c->who.user;
	pp.dept = c->who.dept;
	pp.terminal = c->who.terminal;
	memset(&ctx, 0, sizeof(ctx));
	ctx.now = broker_now(b);
	if (usage == NULL) {
		int64_t day_start = 0;

		if (policy_daily_window(b->policy, req.interface, ctx.now,
		    &day_start) == 1) {
			usage_begin(c, m, req.interface, verified, day_start);
			return;
		}
	} else {
		ctx.bytes_today = usage->bytes;
		ctx.count_today = usage->count;
	}
	if (b->grants != NULL)
		ctx.stepup_at = stepup_grant_lookup(b->grants, c->who.cert_fp,
		    c->who.user);
	/* Exceptions in force for this user and interface (例外措置). */
	officer_put_context(b->officer, b->policy, &pp, req.interface,
	    ctx.now, exb, &ctx);
	decided = policy_decide(b->policy, &pp, &req, &ctx, &d);
	if (decided == 0 && d.verdict == POLICY_STEP_UP_REQUIRED && !verified &&
	    b->stepup != NULL) {
		const char *otp = wire_msg_text(m, "otp");

		if (otp != NULL && otp[0] != '\0') {
			stepup_begin(c, m, &req, &d, otp, ctx.now);
			return;
		}
	}
	/* Approval required: accepted, and held for officers once stored. */
	if (decided != 0 || (d.verdict != POLICY_ALLOW &&
	    (d.verdict != POLICY_APPROVAL_REQUIRED || b->officer == NULL))) {
		if (d.verdict == POLICY_ALLOW)	/* error path: fail closed */
			d.verdict = POLICY_DENY;
		refuse_by_policy(c, m, &req, &d);
		return;
	}
	officer_put_from_decision(&d, &op);
	promised = spool_promised(b);
	/* A resume grows the spool only by what is still to come: the bytes
	 * of its partial file are on the disk already. */
	need = size;
	if (resume != NULL && util_is_id(resume) &&
	    spool_stat(b->spool, resume, 0, &have) == 0)
		need = have < size ? size - have : 0;
	if (spool_has_room(b->spool, b->cfg->min_free_space, promised, need,
	    &free_bytes) != 0) {
		snprintf(msgbuf, sizeof(msgbuf), "the broker's spool does not "
		    "have room for %" PRIu64 " bytes now (space is kept for "
		    "uploads in progress); try again later or tell the "
		    "administrator", need);
		log_kv("warn", "disk_full", "user=%s size=%" PRIu64
		    " free=%" PRIu64 " promised=%" PRIu64, c->who.user, need,
		    free_bytes, promised);
		reqconn_send_error_full(c, m->id, "disk_full", msgbuf, "size",
		    NULL, NULL, 60);
		return;
	}
	if (resume != NULL) {
		handle_resume(c, m, &req, resume, &op, ctx.now);
		return;
	}

	if ((up = upload_new(b)) == NULL ||
	    (up->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(up->md, EVP_sha256(), NULL) != 1 ||
	    util_new_id(up->id) != 0 || (j = job_new(J_CREATE, c)) == NULL) {
		upload_free(up);
		reqconn_send_error_full(c, m->id, "unavailable", "the broker "
		    "is out of resources; try again later", NULL, NULL, NULL,
		    30);
		return;
	}
	up->fd = -1;
	up->req_id = m->id;
	util_strlcpy(up->interface, req.interface, sizeof(up->interface));
	up->class = req.class;
	up->size = size;
	up->op = op;
	upload_declare(up, m);
	j->op = op;
	if (spool_create(b->spool, up->id, &fd, j->job.err,
	    sizeof(j->job.err)) != 0) {
		log_kv("error", "spool", "reason=\"%s\"", j->job.err);
		reqconn_send_error_full(c, m->id, errno == ENOSPC ? "disk_full"
		    : "io_error", "the broker cannot create the spool file; "
		    "tell the administrator", NULL, NULL, NULL, 60);
		upload_free(up);
		job_free(j);
		return;
	}
	up->fd = fd;
	c->up = up;

	j->req_id = m->id;
	util_strlcpy(j->id, up->id, sizeof(j->id));
	memset(&j->t, 0, sizeof(j->t));
	util_strlcpy(j->t.id, up->id, sizeof(j->t.id));
	util_strlcpy(j->t.user, c->who.user, sizeof(j->t.user));
	util_strlcpy(j->t.dept, c->who.dept, sizeof(j->t.dept));
	util_strlcpy(j->t.terminal, c->who.terminal, sizeof(j->t.terminal));
	util_strlcpy(j->t.cert_fp, c->who.cert_fp, sizeof(j->t.cert_fp));
	util_strlcpy(j->t.interface, req.interface, sizeof(j->t.interface));
	util_strlcpy(j->t.name, req.filename, sizeof(j->t.name));
	util_strlcpy(j->t.purpose, req.purpose != NULL ? req.purpose : "",
	    sizeof(j->t.purpose));
	util_strlcpy(j->t.state, STORE_RECEIVING, sizeof(j->t.state));
	j->t.size = size;
	j->t.class = req.class;
	j->t.created = j->t.updated = ctx.now;

	auditrec_init(&j->rec, "accept", &c->who, c->peer);
	auditrec_subject(&j->rec, up->id, req.interface);
	audit_service(b, &j->rec, req.interface);
	auditrec_text(&j->rec, "verdict", policy_verdict_name(d.verdict));
	auditrec_text(&j->rec, "rule", d.rule);
	auditrec_text(&j->rec, "register", d.register_hash);
	auditrec_text(&j->rec, "name", req.filename);
	auditrec_uint(&j->rec, "size", size);
	auditrec_uint(&j->rec, "class", req.class);
	auditrec_text(&j->rec, "purpose", req.purpose != NULL ? req.purpose : "");
	if (up->has_declared)
		auditrec_bytes(&j->rec, "declared_sha256", up->declared,
		    sizeof(up->declared));
	if (ctx.stepup_at != 0)
		auditrec_uint(&j->rec, "stepup_at", (uint64_t)ctx.stepup_at);
	if (op.exception[0] != '\0')
		auditrec_text(&j->rec, "exception", op.exception);
	/* What an interface review must look at: allowed while overdue, or
	 * through an interface that names no one. */
	if (d.flags & POLICY_FLAG_REVIEW_OVERDUE)
		auditrec_bool(&j->rec, "review_overdue", 1);
	if (d.flags & POLICY_FLAG_LEGACY_OPEN)
		auditrec_bool(&j->rec, "legacy_open", 1);
	if (op.approvers[0] != '\0') {
		auditrec_text(&j->rec, "approvers", op.approvers);
		auditrec_uint(&j->rec, "approvals_required", op.approvals);
	}
	j->has_rec = 1;
	submit(c->b, c, j, work_create, done_create, 1);
}

void
upload_handle_put(struct reqconn *c, const struct wire_msg *m)
{
	put_request(c, m, 0, NULL);
}

/* ---- put: daily usage ------------------------------------------------------------------- */

static int
work_usage(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;

	return store_transfer_usage(env->store, j->who.user, j->t.interface,
	    j->day_start, &j->usage.bytes, &j->usage.count, cj->err,
	    sizeof(cj->err));
}

/* Runs a put again from the top once something it needed is known. */
static void
put_again(struct reqconn *c, struct sjob *j, const struct put_usage *usage)
{
	struct wire_msg m;
	struct wire_error werr;
	size_t consumed = 0;
	uint64_t dlen = 0;

	/* A connection that is ending (certificate revoked, lifetime
	 * reached, shutdown) decides nothing more: only its last answers go
	 * out. */
	if (reqconn_ending(c)) {
		reqconn_resume(c);
		return;
	}
	memset(&werr, 0, sizeof(werr));
	if (wire_decode(j->put_buf, j->put_len, &m, &dlen, &consumed,
	    &werr) != WIRE_CONTROL) {
		reqconn_send_error_full(c, j->req_id, "unavailable", "the "
		    "broker lost the request; send it again", NULL, NULL, NULL,
		    0);
		reqconn_resume(c);
		return;
	}
	c->busy = 0;
	put_request(c, &m, j->verified, usage);
	wire_msg_clear(&m);
	/* put_request may have queued a job the connection waits for. */
	if (!c->busy)
		reqconn_resume(c);
}

static void
done_usage(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct reqconn *c = j->c;

	if (reqconn_gone(c)) {
		job_free(j);
		return;
	}
	if (status != 0) {
		/* Without the usage the daily limit cannot be checked: refuse
		 * rather than guess (fail closed). */
		log_kv("error", "usage", "user=%s reason=\"%s\"", c->who.user,
		    cj->err);
		reqconn_send_error_full(c, j->req_id, "unavailable", "the "
		    "broker could not check today's usage of this interface; "
		    "try again later", NULL, NULL, NULL, 30);
		reqconn_resume(c);
		job_free(j);
		return;
	}
	put_again(c, j, &j->usage);
	job_free(j);
}

/*
 * A job that keeps the put encoded, to run it again from the top once the
 * job is done (usage, step-up, probe). NULL when out of resources: the
 * put is then answered "unavailable".
 */
static struct sjob *
put_job_new(enum job_kind kind, struct reqconn *c, const struct wire_msg *m)
{
	struct wire_error werr;
	struct sjob *j;

	if ((j = job_new(kind, c)) == NULL ||
	    wire_encode(m, &j->put_buf, &j->put_len, &werr) != 0) {
		if (j != NULL)
			job_free(j);
		reqconn_send_error_full(c, m->id, "unavailable", "the broker "
		    "is out of resources; try again later", NULL, NULL, NULL,
		    30);
		return NULL;
	}
	j->req_id = m->id;
	return j;
}

static void
usage_begin(struct reqconn *c, const struct wire_msg *m,
    const char *interface, int verified, int64_t day_start)
{
	struct sjob *j;

	if ((j = put_job_new(J_USAGE, c, m)) == NULL)
		return;
	j->verified = verified;
	j->day_start = day_start;
	util_strlcpy(j->t.interface, interface, sizeof(j->t.interface));
	submit(c->b, c, j, work_usage, done_usage, 1);
}

/* ---- put: step-up ------------------------------------------------------------------------ */

static int
work_stepup(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;

	return stepgate_verify(j->su, env, &j->who, j->otp, sizeof(j->otp),
	    j->now, &j->rec, &j->so, cj->err, sizeof(cj->err));
}

static void
done_stepup(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct reqconn *c = j->c;
	const struct stepup_outcome *o = &j->so;
	char msg[WIRE_MAX_MESSAGE + 1];
	const char *code;
	uint64_t retry_after;

	/* Ending (a revoked certificate among others): no grant, no put. */
	if (reqconn_ending(c)) {
		job_free(j);
		return;
	}
	if (status != 0) {
		log_kv("error", "stepup", "user=%s reason=\"%s\"", c->who.user,
		    cj->err);
		reqconn_send_error_full(c, j->req_id, "unavailable", "the "
		    "broker could not check the one-time code; try again later",
		    NULL, NULL, NULL, 30);
		goto out;
	}
	log_kv(o->result == STEPUP_OK || o->result == STEPUP_ACTIVATED ?
	    "info" : "warn", "stepup", "user=%s cert=%.16s result=%s "
	    "failures=%" PRIu64, c->who.user, c->who.cert_fp,
	    stepup_result_name(o->result), o->failures);
	code = stepgate_refusal(o, msg, sizeof(msg), &retry_after);
	if (code == NULL) {
		stepup_grant_record(c->b->grants, c->who.cert_fp, c->who.user,
		    j->now);
		/* Decide again, from the top, as if the put came now. */
		j->verified = 1;
		put_again(c, j, NULL);
		job_free(j);
		return;
	}
	reqconn_send_error_full(c, j->req_id, code, msg, "otp", &j->d, NULL,
	    retry_after);
out:
	reqconn_resume(c);
	job_free(j);
}

static void
stepup_begin(struct reqconn *c, const struct wire_msg *m,
    const struct policy_request *req, const struct policy_decision *d,
    const char *otp, time_t now)
{
	struct sjob *j;

	if ((j = put_job_new(J_STEPUP, c, m)) == NULL)
		return;
	if (util_strlcpy(j->otp, otp, sizeof(j->otp)) != 0) {
		job_free(j);
		reqconn_send_error_full(c, m->id, "unavailable", "the broker "
		    "is out of resources; try again later", NULL, NULL, NULL,
		    30);
		return;
	}
	j->su = c->b->stepup;
	j->now = now;
	j->d = *d;
	auditrec_init(&j->rec, "stepup", &c->who, c->peer);
	auditrec_subject(&j->rec, NULL, req->interface);
	auditrec_text(&j->rec, "rule", d->rule);
	auditrec_text(&j->rec, "register", d->register_hash);
	j->has_rec = 1;
	submit(c->b, c, j, work_stepup, done_stepup, 1);
}

/* ---- put: resume ---------------------------------------------------------------------- */

static int resume_stored(struct sjob *j, struct commit_env *env,
    const struct transfer *cur);
static void send_stored_again(struct reqconn *c, const struct sjob *j);

/* Before any decision: is this a resume of a transfer stored before? */
static int
work_probe(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;
	const struct transfer *want = &j->t;
	struct transfer cur;
	int rc;

	rc = store_transfer_get(env->store, j->id, &cur, cj->err,
	    sizeof(cj->err));
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0)
		return -1;
	/* Anything else takes the usual way (and its refusals). */
	if (strcmp(cur.user, j->who.user) != 0 ||
	    strcmp(cur.state, STORE_RECEIVING) == 0 ||
	    cur.sha256[0] == '\0' ||
	    strcmp(cur.interface, want->interface) != 0 ||
	    cur.size != want->size || cur.class != want->class ||
	    strcmp(cur.name, want->name) != 0)
		return 0;
	return resume_stored(j, env, &cur);
}

static void
done_probe(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct reqconn *c = j->c;

	if (reqconn_gone(c)) {
		job_free(j);
		return;
	}
	if (status != 0) {
		log_kv("error", "resume", "user=%s transfer=%s reason=\"%s\"",
		    c->who.user, j->id, cj->err);
		reqconn_send_error_full(c, j->req_id, "unavailable", "the "
		    "broker could not look the transfer up; try again later",
		    "resume", NULL, j->id, 30);
		reqconn_resume(c);
		job_free(j);
		return;
	}
	if (j->was_stored) {
		send_stored_again(c, j);
		reqconn_resume(c);
		job_free(j);
		return;
	}
	c->probed = j->req_id + 1;
	put_again(c, j, NULL);
	job_free(j);
}

/* What a resume asks for, and its audit record: the same for the probe of
 * a transfer stored before and for a resume of a partial upload. */
static void
resume_job_fill(struct sjob *j, const struct reqconn *c,
    const struct policy_request *req, const char *resume)
{
	util_strlcpy(j->id, resume, sizeof(j->id));
	util_strlcpy(j->t.interface, req->interface, sizeof(j->t.interface));
	util_strlcpy(j->t.name, req->filename, sizeof(j->t.name));
	j->t.size = req->size;
	j->t.class = req->class;
	auditrec_init(&j->rec, "resume", &c->who, c->peer);
	auditrec_subject(&j->rec, resume, req->interface);
	j->has_rec = 1;
}

static void
probe_begin(struct reqconn *c, const struct wire_msg *m,
    const struct policy_request *req, const char *resume, int verified)
{
	struct sjob *j;

	if ((j = put_job_new(J_PROBE, c, m)) == NULL)
		return;
	j->verified = verified;
	resume_job_fill(j, c, req, resume);
	submit(c->b, c, j, work_probe, done_probe, 1);
}

/*
 * The transfer was stored before (its "stored" answer may never have
 * reached the client): answer with what the broker holds instead of
 * refusing, so the client never uploads the same file a second time. It
 * must still be the same request (name, size, class, interface). No
 * exception use is counted: the upload was counted when it began.
 */
static int
resume_stored(struct sjob *j, struct commit_env *env,
    const struct transfer *cur)
{
	const struct transfer *want = &j->t;

	if (strcmp(cur->interface, want->interface) != 0 ||
	    cur->size != want->size || cur->class != want->class ||
	    strcmp(cur->name, want->name) != 0) {
		util_strlcpy(j->code, "mismatch", sizeof(j->code));
		return util_err(j->job.err, sizeof(j->job.err), "transfer %s "
		    "was started with another file, size, class or "
		    "interface; start a new upload", j->id);
	}
	j->t = *cur;
	j->was_stored = 1;
	auditrec_text(&j->rec, "state", cur->state);
	auditrec_text(&j->rec, "sha256", cur->sha256);
	auditrec_uint(&j->rec, "size", cur->size);
	return job_audit(j, env);
}

static int
work_resume(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;
	struct transfer *t = &j->t;
	const struct transfer *want = &j->t;
	struct transfer cur;
	int rc;

	rc = store_transfer_get(env->store, j->id, &cur, cj->err,
	    sizeof(cj->err));
	if (rc == STORE_NOTFOUND || (rc == 0 &&
	    strcmp(cur.user, j->who.user) != 0)) {
		/* Someone else's transfer looks exactly like a missing one. */
		util_strlcpy(j->code, "not_found", sizeof(j->code));
		return util_err(cj->err, sizeof(cj->err), "no resumable "
		    "transfer %s for you; start a new upload", j->id);
	}
	if (rc != 0)
		return -1;
	if (strcmp(cur.state, STORE_RECEIVING) != 0 && cur.sha256[0] != '\0')
		return resume_stored(j, env, &cur);
	if (strcmp(cur.state, STORE_RECEIVING) != 0) {
		util_strlcpy(j->code, strcmp(cur.state, STORE_EXPIRED) == 0 ?
		    "expired" : "not_resumable", sizeof(j->code));
		return util_err(cj->err, sizeof(cj->err), "transfer %s is %s "
		    "and cannot be resumed; start a new upload", j->id,
		    cur.state);
	}
	if (strcmp(cur.interface, want->interface) != 0 ||
	    cur.size != want->size || cur.class != want->class ||
	    strcmp(cur.name, want->name) != 0) {
		util_strlcpy(j->code, "mismatch", sizeof(j->code));
		return util_err(cj->err, sizeof(cj->err), "transfer %s was "
		    "started with another file, size, class or interface; "
		    "start a new upload", j->id);
	}
	if ((j->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(j->md, EVP_sha256(), NULL) != 1)
		return util_err(cj->err, sizeof(cj->err), "out of memory");
	if (spool_reopen(env->spool, j->id, cur.received, j->md, &j->fd,
	    cj->err, sizeof(cj->err)) != 0) {
		util_strlcpy(j->code, "io_error", sizeof(j->code));
		return -1;
	}
	j->offset = cur.received;
	*t = cur;
	if ((rc = officer_record_use(env->store, &j->op, j->id, j->who.user,
	    j->now, cj->err, sizeof(cj->err))) != 0) {
		if (rc > 0)
			util_strlcpy(j->code, "denied", sizeof(j->code));
		return -1;
	}
	auditrec_uint(&j->rec, "offset", cur.received);
	return job_audit(j, env);
}

/* The answer to a resume of a transfer stored before: the same "stored"
 * as after end, with the transfer's state now. */
static void
send_stored_again(struct reqconn *c, const struct sjob *j)
{
	struct wire_msg r;
	uint8_t sha[UTIL_SHA256_LEN];

	if (util_unhex(j->t.sha256, sha, sizeof(sha)) != 0) {
		reqconn_send_error_full(c, j->req_id, "internal", "the "
		    "broker's record of this transfer is damaged; tell the "
		    "administrator", "resume", NULL, j->id, 0);
		return;
	}
	log_kv("info", "resume_stored", "user=%s transfer=%s state=%s "
	    "size=%" PRIu64, c->who.user, j->id, j->t.state, j->t.size);
	wire_msg_init(&r, WIRE_OP_STORED, j->req_id);
	wire_msg_set_text(&r, "transfer", j->id);
	wire_msg_set_uint(&r, "size", j->t.size);
	wire_msg_set_bytes(&r, "sha256", sha, sizeof(sha));
	wire_msg_set_text(&r, "state", j->t.state);
	reqconn_send(c, &r);
	wire_msg_clear(&r);
}

static void
done_resume(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct reqconn *c = j->c;
	struct upload *up = c->up;

	if (reqconn_gone(c) || up == NULL || strcmp(up->id, j->id) != 0) {
		job_free(j);		/* closes the reopened fd */
		return;
	}
	if (status != 0) {
		log_kv("info", "resume_refused", "user=%s transfer=%s "
		    "reason=\"%s\"", c->who.user, j->id, cj->err);
		reqconn_send_error_full(c, j->req_id,
		    j->code[0] != '\0' ? j->code : "unavailable",
		    j->code[0] != '\0' ? cj->err : "the broker could not "
		    "reopen the transfer; try again later", "resume", NULL,
		    j->id, 0);
		c->up = NULL;
		upload_free(up);
	} else if (j->was_stored) {
		c->up = NULL;
		upload_free(up);
		send_stored_again(c, j);
	} else {
		up->fd = j->fd;
		j->fd = -1;
		EVP_MD_CTX_free(up->md);
		up->md = j->md;
		j->md = NULL;
		up->received = up->synced = j->offset;
		up->ready = 1;
		officer_used(c->b->officer, &j->op);
		log_kv("info", "resume", "user=%s transfer=%s offset=%" PRIu64
		    " size=%" PRIu64, c->who.user, up->id, j->offset, up->size);
		send_ready(c, j->req_id, up->id, j->offset);
	}
	reqconn_resume(c);
	job_free(j);
}

static void
handle_resume(struct reqconn *c, const struct wire_msg *m,
    const struct policy_request *req, const char *resume,
    const struct officer_put *op, time_t now)
{
	struct upload *up;
	struct sjob *j;

	if (!util_is_id(resume)) {
		reqconn_send_error_full(c, m->id, "bad_value", "resume must be "
		    "a transfer id (32 lowercase hex characters)", "resume",
		    NULL, NULL, 0);
		return;
	}
	if (upload_transfer_busy(c->b, resume)) {
		reqconn_send_error_full(c, m->id, "busy", "this transfer is "
		    "still attached to another connection; retry shortly",
		    "resume", NULL, resume, 2);
		return;
	}
	if ((up = upload_new(c->b)) == NULL ||
	    (j = job_new(J_RESUME, c)) == NULL) {
		upload_free(up);
		reqconn_send_error_full(c, m->id, "unavailable", "the broker "
		    "is out of resources; try again later", NULL, NULL, NULL,
		    30);
		return;
	}
	up->fd = -1;
	up->req_id = m->id;
	util_strlcpy(up->id, resume, sizeof(up->id));
	util_strlcpy(up->interface, req->interface, sizeof(up->interface));
	up->class = req->class;
	up->size = req->size;
	up->op = *op;
	upload_declare(up, m);
	c->up = up;

	j->req_id = m->id;
	j->op = *op;
	j->now = now;
	resume_job_fill(j, c, req, resume);
	submit(c->b, c, j, work_resume, done_resume, 1);
}

/* ---- data ----------------------------------------------------------------------------- */

static int
work_sync(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;

	if (spool_sync(j->fd, cj->err, sizeof(cj->err)) != 0)
		return -1;
	return store_transfer_progress(env->store, j->id, j->offset,
	    time(NULL), cj->err, sizeof(cj->err));
}

static void upload_fail(struct reqconn *c, const char *code,
    const char *why, int close_after);

static void
done_sync(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct reqconn *c = j->c;

	j->fd = -1;			/* borrowed from the upload */
	if (status != 0) {
		log_kv("error", "sync", "transfer=%s reason=\"%s\"", j->id,
		    cj->err);
		if (!reqconn_gone(c) && c->up != NULL &&
		    strcmp(c->up->id, j->id) == 0)
			upload_fail(c, "io_error", "the broker could not store "
			    "the data durably; the transfer failed", 1);
	}
	job_free(j);
}

/*
 * The fd stays with the upload; a checkpoint job only borrows it. That is
 * safe because every job that closes the fd (commit, fail, abort) is queued
 * after it, and the commit thread runs jobs in order.
 */
static void
upload_checkpoint(struct reqconn *c)
{
	struct upload *up = c->up;
	struct sjob *j;

	if ((j = job_new(J_SYNC, c)) == NULL)
		return;			/* the next checkpoint will catch up */
	util_strlcpy(j->id, up->id, sizeof(j->id));
	j->fd = up->fd;
	j->offset = up->received;
	up->synced = up->received;
	submit(c->b, c, j, work_sync, done_sync, 0);
}

uint64_t
upload_data_pending(const struct reqconn *c)
{
	return c->up != NULL ? c->up->remaining : 0;
}

int
upload_is_receiving(const struct reqconn *c)
{
	return c->up != NULL && c->up->ready;
}

ssize_t
upload_write_data(struct reqconn *c, const struct iovec *iov_in, int n)
{
	struct upload *up = c->up;
	struct iovec iov[UPLOAD_MAX_IOV];
	size_t want, total = 0, left;
	ssize_t w;
	int i;

	if (up == NULL || up->remaining == 0)
		return 0;
	want = up->remaining > SSIZE_MAX ? SSIZE_MAX : (size_t)up->remaining;
	if (n > UPLOAD_MAX_IOV)
		n = UPLOAD_MAX_IOV;
	for (i = 0; i < n && total < want; i++) {
		iov[i] = iov_in[i];
		if (total + iov[i].iov_len > want)
			iov[i].iov_len = want - total;
		total += iov[i].iov_len;
	}
	n = i;
	do
		w = writev(up->fd, iov, n);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		int e = errno;
		char why[160];

		snprintf(why, sizeof(why), "the broker could not write the "
		    "spool file (%s); the transfer failed", strerror(e));
		log_kv("error", "spool_write", "transfer=%s reason=\"%s\"",
		    up->id, strerror(e));
		upload_fail(c, e == ENOSPC || e == EDQUOT ? "disk_full" :
		    "io_error", why, 1);
		return -1;
	}
	for (i = 0, left = (size_t)w; i < n && left > 0; i++) {
		size_t len = iov[i].iov_len < left ? iov[i].iov_len : left;

		EVP_DigestUpdate(up->md, iov[i].iov_base, len);
		left -= len;
	}
	up->remaining -= (uint64_t)w;
	up->received += (uint64_t)w;
	up->wrote = 1;
	if (up->remaining == 0 &&
	    up->received - up->synced >= c->b->cfg->sync_interval)
		upload_checkpoint(c);
	return w;
}

void
upload_take_data_head(struct reqconn *c, uint64_t len)
{
	struct upload *up = c->up;
	char msg[200];

	if (up == NULL || !up->ready) {
		upload_protocol_error(c, 0, "bad_request", "data arrived "
		    "before the broker answered put with ready", NULL);
		return;
	}
	if (len > up->size - up->received) {
		snprintf(msg, sizeof(msg), "more data than the declared size "
		    "of %" PRIu64 " bytes", up->size);
		upload_fail(c, "size_mismatch", msg, 1);
		return;
	}
	up->remaining = len;
}

/* ---- end ------------------------------------------------------------------------------- */

static int
work_commit(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;
	char hex[UTIL_SHA256_HEX + 1];

	if (spool_commit(env->spool, j->id, j->fd, cj->err,
	    sizeof(cj->err)) != 0) {
		util_strlcpy(j->code, errno == ENOSPC ? "disk_full" : "io_error",
		    sizeof(j->code));
		return -1;
	}
	close(j->fd);
	j->fd = -1;
	util_hex(j->sha, sizeof(j->sha), hex);
	if (store_transfer_progress(env->store, j->id, j->offset, time(NULL),
	    cj->err, sizeof(cj->err)) != 0 ||
	    store_transfer_set_state(env->store, j->id, STORE_STORED, hex, NULL,
	    time(NULL), cj->err, sizeof(cj->err)) != 0)
		return -1;
	if (j->op.approvers[0] != '\0') {
		/* Stored and held in one transaction: never "stored" alone,
		 * where delivery could pick it up. */
		struct transfer t;

		memset(&t, 0, sizeof(t));
		util_strlcpy(t.id, j->id, sizeof(t.id));
		util_strlcpy(t.interface, j->rec.interface, sizeof(t.interface));
		util_strlcpy(t.user, j->who.user, sizeof(t.user));
		if ((j->held = officer_hold(env->store, &j->op, &t,
		    j->c->b->cfg->approvals_hold, broker_now(j->c->b), cj->err,
		    sizeof(cj->err))) < 0)
			return -1;
		auditrec_text(&j->rec, "state", STORE_HELD);
		auditrec_text(&j->rec, "approvers", j->op.approvers);
	}
	return job_audit(j, env);
}

static int
work_fail(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;
	char ignored[128];

	if (j->fd != -1) {
		close(j->fd);
		j->fd = -1;
	}
	spool_remove(env->spool, j->id, ignored, sizeof(ignored));
	if (store_transfer_set_state(env->store, j->id, STORE_FAILED, NULL,
	    j->reason, time(NULL), cj->err, sizeof(cj->err)) != 0)
		return -1;
	return job_audit(j, env);
}

static void
done_commit(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct reqconn *c = j->c;
	struct wire_msg r;
	char hex[UTIL_SHA256_HEX + 1];

	util_hex(j->sha, sizeof(j->sha), hex);
	if (status != 0) {
		log_kv("error", "commit", "user=%s transfer=%s reason=\"%s\"",
		    j->who.user, j->id, cj->err);
		/* Nothing durable says it is stored: fail it for good, so a
		 * half-done commit is never left looking resumable. */
		{
			struct sjob *f = job_new(J_FAIL, NULL);

			if (f != NULL) {
				util_strlcpy(f->id, j->id, sizeof(f->id));
				f->fd = j->fd;
				j->fd = -1;
				auditrec_init(&f->rec, "failed", &j->who, NULL);
				auditrec_subject(&f->rec, j->id, NULL);
				util_strlcpy(f->reason, cj->err,
				    sizeof(f->reason));
				auditrec_text(&f->rec, "reason", cj->err);
				f->has_rec = 1;
				submit(c->b, NULL, f, work_fail, done_free, 0);
			}
		}
		reqconn_send_error_full(c, j->req_id,
		    j->code[0] != '\0' ? j->code : "unavailable", "the broker "
		    "could not store the file durably; the transfer failed, "
		    "please upload it again", NULL, NULL, j->id, 0);
	} else {
		log_kv("info", "stored", "user=%s transfer=%s size=%" PRIu64
		    " sha256=%s", j->who.user, j->id, j->offset, hex);
		wire_msg_init(&r, WIRE_OP_STORED, j->req_id);
		wire_msg_set_text(&r, "transfer", j->id);
		wire_msg_set_uint(&r, "size", j->offset);
		wire_msg_set_bytes(&r, "sha256", j->sha, sizeof(j->sha));
		if (j->held > 0)
			wire_msg_set_text(&r, "state", STORE_HELD);
		reqconn_send(c, &r);
		wire_msg_clear(&r);
		if (j->held > 0) {
			/* Waits for officers; they are told. */
			struct transfer t;

			memset(&t, 0, sizeof(t));
			util_strlcpy(t.id, j->id, sizeof(t.id));
			util_strlcpy(t.interface, j->rec.interface,
			    sizeof(t.interface));
			util_strlcpy(t.user, j->who.user, sizeof(t.user));
			officer_held(c->b->officer, &t, &j->op,
			    broker_now(c->b));
		} else
			/* Durably stored: now it may leave for its
			 * destination. */
			forward_submit(c->b->forwarder, j->id,
			    j->rec.interface);
	}
	reqconn_resume(c);
	job_free(j);
}

/*
 * Answers a request with the error the job carries (j->code, j->reason),
 * once the job's records are durable: a failed transfer (with its id) or a
 * policy refusal (with the decision's rule and reason).
 */
static void
done_fail(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct reqconn *c = j->c;

	if (status != 0)
		log_kv("error", "job", "user=%s transfer=%s reason=\"%s\"",
		    j->who.user, j->id, cj->err);
	reqconn_send_error_full(c, j->req_id, j->code, j->reason, NULL,
	    j->d.code[0] != '\0' ? &j->d : NULL,
	    j->id[0] != '\0' ? j->id : NULL, 0);
	if (j->close_after && !reqconn_gone(c))
		reqconn_close_after_flush(c);
	reqconn_resume(c);
	job_free(j);
}

/* Ends the attached upload as failed: the spool copy is removed and the
 * state says why. The client is told when that is durable. */
static void
upload_fail(struct reqconn *c, const char *code, const char *why,
    int close_after)
{
	struct upload *up = c->up;
	struct sjob *j;

	if (up == NULL)
		return;
	if ((j = job_new(J_FAIL, c)) == NULL) {
		/* Leave it to the abort path; the partial expires later. */
		reqconn_send_error_full(c, up->req_id, code, why, NULL, NULL,
		    NULL, 0);
		reqconn_close_after_flush(c);
		return;
	}
	c->up = NULL;
	j->close_after = close_after;
	j->req_id = up->req_id;
	util_strlcpy(j->id, up->id, sizeof(j->id));
	util_strlcpy(j->code, code, sizeof(j->code));
	j->fd = up->fd;
	up->fd = -1;
	auditrec_init(&j->rec, "failed", &c->who, c->peer);
	auditrec_subject(&j->rec, up->id, up->interface);
	util_strlcpy(j->reason, why, sizeof(j->reason));
	auditrec_text(&j->rec, "reason", why);
	auditrec_text(&j->rec, "code", code);
	auditrec_uint(&j->rec, "received", up->received);
	j->has_rec = 1;
	log_kv("warn", "failed", "user=%s transfer=%s code=%s", c->who.user,
	    up->id, code);
	upload_free(up);
	submit(c->b, c, j, work_fail, done_fail, 1);
}

void
upload_handle_end(struct reqconn *c, const struct wire_msg *m)
{
	struct upload *up = c->up;
	const uint8_t *want;
	uint8_t got[EVP_MAX_MD_SIZE];
	unsigned int gotlen = 0;
	size_t wantlen = 0;
	struct sjob *j;
	char msg[200];

	if (up == NULL || !up->ready) {
		upload_protocol_error(c, m->id, "bad_request", "end without an "
		    "upload in progress", NULL);
		return;
	}
	if (up->received != up->size) {
		snprintf(msg, sizeof(msg), "end after %" PRIu64 " of %" PRIu64
		    " declared bytes; resume the upload to send the rest",
		    up->received, up->size);
		reqconn_send_error_full(c, m->id, "size_mismatch", msg, "size",
		    NULL, up->id, 0);
		upload_abort(c, "end before all declared bytes arrived");
		return;
	}
	want = wire_msg_bytes(m, "sha256", &wantlen);
	if (EVP_DigestFinal_ex(up->md, got, &gotlen) != 1 ||
	    want == NULL || wantlen != UTIL_SHA256_LEN ||
	    gotlen != UTIL_SHA256_LEN) {
		upload_fail(c, "io_error", "could not compute the file hash", 0);
		return;
	}
	if (up->has_declared &&
	    CRYPTO_memcmp(want, up->declared, UTIL_SHA256_LEN) != 0) {
		upload_fail(c, "hash_mismatch", "the SHA-256 sent with end is "
		    "not the one declared when the upload began; the transfer "
		    "was discarded, please upload the file again", 0);
		return;
	}
	if (CRYPTO_memcmp(want, got, UTIL_SHA256_LEN) != 0) {
		upload_fail(c, "hash_mismatch", "the SHA-256 the client sent "
		    "does not match the bytes received; the transfer was "
		    "discarded, please upload the file again", 0);
		return;
	}
	if ((j = job_new(J_COMMIT, c)) == NULL) {
		upload_fail(c, "unavailable", "the broker is out of resources",
		    0);
		return;
	}
	c->up = NULL;
	j->req_id = m->id;
	util_strlcpy(j->id, up->id, sizeof(j->id));
	j->fd = up->fd;
	up->fd = -1;
	j->offset = up->received;
	memcpy(j->sha, got, sizeof(j->sha));
	j->op = up->op;
	auditrec_init(&j->rec, "stored", &c->who, c->peer);
	auditrec_subject(&j->rec, up->id, up->interface);
	auditrec_uint(&j->rec, "size", up->received);
	auditrec_bytes(&j->rec, "sha256", got, UTIL_SHA256_LEN);
	j->has_rec = 1;
	upload_free(up);
	submit(c->b, c, j, work_commit, done_commit, 1);
}

int
upload_transfer_busy(const struct broker *b, const char *id)
{
	const struct upload *up;

	LIST_FOREACH(up, &b->uploads, entry)
		if (strcmp(up->id, id) == 0)
			return 1;
	return 0;
}

