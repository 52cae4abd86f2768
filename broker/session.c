/*
 * session — see session.h.
 *
 * The life of an upload on one connection:
 *
 *   put ──▶ decide (policy, on the loop: pure and cheap)
 *        ──▶ job: insert transfer + audit  ──▶ "ready" {transfer, offset 0}
 *   data items are written straight from the bufferevent's input buffer to
 *   the spool file with writev(2) and hashed on the way; every
 *   cfg->sync_interval bytes a job makes the prefix durable and records the
 *   offset, so a resume never starts past what survived.
 *   end ──▶ hash compared ──▶ job: fsync + rename + fsync dir, state
 *           "stored", audit ──▶ "stored" (only now, after all of it is on
 *           stable storage)
 *
 * A resume ("put" with a transfer id) runs a job that checks ownership and
 * state, truncates the partial file to its last durable offset and re-hashes
 * that prefix (all on the commit thread, since it reads the file), then
 * answers "ready" with that offset. Before any decision, a lookup job asks
 * whether the transfer was stored already (its "stored" lost with the
 * connection); then "stored" is answered again, with the state now, and
 * nothing is received.
 *
 * A connection that ends with an upload attached (close_notify, TCP reset,
 * timeout or shutdown) is an aborted upload: a job syncs what arrived and
 * records it as the durable offset; the partial stays resumable until
 * limits.partial_ttl.
 *
 * Step-up: when the policy answers step_up_required and the put carries an
 * "otp", a job checks the code on the commit thread (the store is
 * single-threaded there, so "a code is accepted once" is one transaction).
 * The put is kept encoded in the job; when the code is accepted the step-up
 * is recorded for the client certificate (b->grants, memory only) and the
 * put is decided again from the start, now with ctx.stepup_at set.
 */
#include "broker/session.h"
#include "broker/admission.h"
#include "broker/auditpull.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/forward.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/officer.h"
#include "broker/refusals.h"
#include "broker/request.h"
#include "broker/spool.h"
#include "broker/stepgate.h"
#include "broker/stepup.h"
#include "broker/store.h"
#include "broker/tlsserver.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define SOFTWARE "sekishod/" "0.1.0"
#define READ_HIGH_WATER (256u * 1024)	/* bytes buffered per connection */
/* Answers queued for a client that does not read: above the high mark the
 * session stops reading requests, below the low mark it reads again. */
#define OUT_HIGH_WATER (256u * 1024)
#define OUT_LOW_WATER (64u * 1024)
#define MAX_IOV 16

enum sess_state {
	S_HANDSHAKE,		/* TLS not finished */
	S_CONNECTED,		/* verified, waiting for hello */
	S_OPEN,			/* hello done */
	S_CLOSING		/* flushing a final message */
};

struct upload {
	char id[UTIL_ID_LEN + 1];
	uint64_t req_id;		/* id of the put that opened it */
	char interface[65];
	unsigned class;
	uint64_t size;			/* declared */
	uint64_t received;		/* bytes written to the spool file */
	uint64_t synced;		/* offset of the last durable checkpoint
					   submitted */
	uint64_t remaining;		/* payload bytes left in this data item */
	int fd;				/* -1 until ready */
	EVP_MD_CTX *md;
	int ready;			/* "ready" sent: data may arrive */
	struct officer_put op;		/* exception used; hold for officers */
};

struct session {
	struct reqconn c;		/* the request layer's view; first, so
					   a struct reqconn * is this session */
	struct bufferevent *bev;
	SSL *ssl;
	enum sess_state state;
	int refs;
	int closed;			/* connection gone, waiting for jobs */
	int busy;			/* a job the protocol waits for */
	TAILQ_ENTRY(session) entry;
	/* admission (accept path): the source address the per-source count
	 * is kept under; the handshake deadline, then the session's
	 * lifetime; the list of handshakes while in it */
	char source[ADMISSION_SOURCE_LEN];
	struct event *timer;
	int in_handshakes;
	TAILQ_ENTRY(session) hs_entry;
	int out_blocked;		/* reading stopped: output above the
					   high-water mark */
};

enum job_kind { J_AUDIT, J_CREATE, J_RESUME, J_SYNC, J_COMMIT, J_FAIL,
	J_ABORT, J_STATUS, J_STEPUP, J_USAGE, J_PROBE };

/* Today's usage of one interface by one user, for daily limits. */
struct put_usage {
	uint64_t bytes;
	uint64_t count;
};

struct sjob {
	struct commit_job job;
	enum job_kind kind;
	struct session *s;		/* holds a reference; NULL for none */
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
	struct principal who;		/* for resume / status checks */
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
	/* approval officers: the put's exception and hold; a held commit;
	 * a status's approval request */
	struct officer_put op;
	int held;
	struct store_approval ap;
	int has_ap;
	int was_stored;			/* J_RESUME: answered by its stored
					   state, not continued */
};

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void process_input(struct session *s);

/* ---- lifetime ---------------------------------------------------------- */

static void
session_unref(struct session *s)
{
	if (--s->refs > 0)
		return;
	free(s);
}

static void
upload_free(struct upload *up)
{
	if (up == NULL)
		return;
	if (up->fd != -1)
		close(up->fd);
	EVP_MD_CTX_free(up->md);
	free(up);
}

static struct sjob *
job_new(enum job_kind kind, struct session *s)
{
	struct sjob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->fd = -1;
	if (s != NULL) {
		j->s = s;
		s->refs++;
		j->who = s->c.who;
	}
	return j;
}

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
	if (j->s != NULL)
		session_unref(j->s);
	free(j);
}

/* ---- output -------------------------------------------------------------- */

static void
send_msg(struct session *s, const struct wire_msg *m)
{
	struct wire_error werr;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (s->closed)
		return;
	if (wire_encode(m, &buf, &len, &werr) != 0) {
		log_kv("error", "encode", "user=%s op=%s reason=%s",
		    s->c.who.user, wire_op_name(m->op), werr.message);
		return;
	}
	bufferevent_write(s->bev, buf, len);
	free(buf);
}

/* ---- jobs ------------------------------------------------------------------ */

/* Queues j; with wait set, s stops reading until j's done callback runs. */
static void
submit(struct broker *b, struct session *s, struct sjob *j,
    int (*work)(struct commit_job *, struct commit_env *),
    void (*done)(struct commit_job *, int), int wait)
{
	j->job.work = work;
	j->job.done = done;
	j->job.arg = j;
	if (wait && s != NULL && !s->closed) {
		s->busy = 1;
		bufferevent_disable(s->bev, EV_READ);
	}
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

/* Leaves the waiting state and picks up input that arrived meanwhile. */
static void
session_continue(struct session *s)
{
	s->busy = 0;
	if (s->closed || s->state == S_CLOSING)
		return;
	if (s->out_blocked)
		return;		/* session_write_cb resumes reading */
	bufferevent_enable(s->bev, EV_READ);
	process_input(s);
}

/* ---- the responder (request.h) ---------------------------------------------- */

static struct session *
session_of(const struct reqconn *c)
{
	return (struct session *)c;
}

static void
op_send(struct reqconn *c, const struct wire_msg *m)
{
	send_msg(session_of(c), m);
}

static int
op_send_data(struct reqconn *c, const uint8_t *buf, size_t len)
{
	struct session *s = session_of(c);
	uint8_t head[9];
	size_t hlen;

	if ((hlen = wire_encode_data_head(len, head)) == 0)
		return -1;
	if (s->closed)
		return 0;
	bufferevent_write(s->bev, head, hlen);
	bufferevent_write(s->bev, buf, len);
	return 0;
}

static size_t
op_output_pending(const struct reqconn *c)
{
	const struct session *s = session_of(c);

	if (s->closed)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(s->bev));
}

static int
op_gone(const struct reqconn *c)
{
	return session_of(c)->closed;
}

static void
op_hold(struct reqconn *c)
{
	session_of(c)->refs++;
}

static void
op_release(struct reqconn *c)
{
	session_unref(session_of(c));
}

static void
op_pause(struct reqconn *c)
{
	struct session *s = session_of(c);

	if (s->closed)
		return;
	s->busy = 1;
	bufferevent_disable(s->bev, EV_READ);
}

static void
op_resume(struct reqconn *c)
{
	session_continue(session_of(c));
}

static void session_close_after_flush(struct session *s);

static void
op_close_after_flush(struct reqconn *c)
{
	session_close_after_flush(session_of(c));
}

static const struct reqconn_ops session_ops = {
	.send = op_send,
	.send_data = op_send_data,
	.output_pending = op_output_pending,
	.gone = op_gone,
	.hold = op_hold,
	.release = op_release,
	.pause = op_pause,
	.resume = op_resume,
	.close_after_flush = op_close_after_flush,
};

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

/* ---- closing ----------------------------------------------------------------- */

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
static void
upload_abort(struct session *s, const char *why)
{
	struct upload *up = s->c.up;
	struct sjob *j;

	if (up == NULL)
		return;
	s->c.up = NULL;
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
	auditrec_init(&j->rec, "abort", &s->c.who, s->c.peer);
	auditrec_subject(&j->rec, up->id, up->interface);
	auditrec_text(&j->rec, "reason", why);
	auditrec_uint(&j->rec, "received", up->received);
	auditrec_uint(&j->rec, "size", up->size);
	j->has_rec = 1;
	log_kv("info", "abort", "user=%s transfer=%s received=%" PRIu64
	    " size=%" PRIu64 " reason=\"%s\"", s->c.who.user, up->id,
	    up->received, up->size, why);
	upload_free(up);
	submit(s->c.b, NULL, j, work_abort, done_free, 0);
}

/* The session is no longer an unauthenticated one. */
static void
handshake_leave(struct session *s)
{
	if (!s->in_handshakes)
		return;
	s->in_handshakes = 0;
	TAILQ_REMOVE(&s->c.b->handshakes, s, hs_entry);
	s->c.b->nhandshakes--;
}

static void
session_free_conn(struct session *s)
{
	struct broker *b = s->c.b;

	if (s->closed)
		return;
	s->closed = 1;
	TAILQ_REMOVE(&b->sessions, s, entry);
	b->nsessions--;
	handshake_leave(s);
	admission_leave(b->admission, s->source);
	if (s->timer != NULL) {
		event_free(s->timer);
		s->timer = NULL;
	}
	if (s->bev != NULL) {
		/* Best effort close_notify; a peer that is gone is fine. */
		if (s->ssl != NULL && s->state != S_HANDSHAKE)
			SSL_shutdown(s->ssl);
		ERR_clear_error();
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	session_unref(s);
}

static void
session_close(struct session *s, const char *why)
{
	if (s->closed)
		return;
	upload_abort(s, why);
	session_free_conn(s);
}

static void
flushed_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	session_close(s, "connection closed by broker after an error");
}

/* Sends what is queued, then closes. */
static void
session_close_after_flush(struct session *s)
{
	if (s->closed || s->state == S_CLOSING)
		return;
	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		session_close(s, "connection closed by broker after an error");
		return;
	}
	bufferevent_setcb(s->bev, NULL, flushed_cb, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
}

static void
protocol_error(struct session *s, uint64_t id, const char *code,
    const char *message, const char *field)
{
	struct auditrec rec;

	log_kv("warn", "protocol", "user=%s peer=%s code=%s field=%s",
	    s->c.who.user, s->c.peer, code, field != NULL ? field : "");
	auditrec_init(&rec, "protocol_error", &s->c.who, s->c.peer);
	if (s->c.up != NULL)
		auditrec_subject(&rec, s->c.up->id, s->c.up->interface);
	auditrec_text(&rec, "code", code);
	auditrec_text(&rec, "message", message);
	request_audit(s->c.b, &rec);
	reqconn_send_error_full(&s->c, id, code, message, field, NULL, NULL, 0);
	session_close_after_flush(s);
}

/* ---- hello ------------------------------------------------------------------------ */

static void
handle_hello(struct session *s, const struct wire_msg *m)
{
	struct wire_msg r;
	uint64_t version = 0;

	if (s->state != S_CONNECTED) {
		protocol_error(s, m->id, "bad_request", "hello was already "
		    "sent on this connection", NULL);
		return;
	}
	wire_msg_uint(m, "version", &version);
	if (version != WIRE_VERSION) {
		protocol_error(s, m->id, "version", "this broker speaks "
		    "sekisho/1 only; update the client", "version");
		return;
	}
	if (request_refuse_unaudited(&s->c, m->id)) {
		session_close_after_flush(s);
		return;
	}
	s->state = S_OPEN;
	wire_msg_init(&r, WIRE_OP_WELCOME, m->id);
	wire_msg_set_uint(&r, "version", WIRE_VERSION);
	wire_msg_set_text(&r, "user", s->c.who.user);
	wire_msg_set_text(&r, "dept", s->c.who.dept);
	if (s->c.who.terminal[0] != '\0')
		wire_msg_set_text(&r, "terminal", s->c.who.terminal);
	wire_msg_set_uint(&r, "max_chunk", WIRE_MAX_CHUNK);
	wire_msg_set_uint(&r, "max_size", s->c.b->cfg->max_file_size);
	send_msg(s, &r);
	wire_msg_clear(&r);
}

/* ---- put: new transfer ---------------------------------------------------------- */

static void
send_ready(struct session *s, uint64_t id, const char *transfer,
    uint64_t offset)
{
	struct wire_msg r;

	wire_msg_init(&r, WIRE_OP_READY, id);
	wire_msg_set_text(&r, "transfer", transfer);
	wire_msg_set_uint(&r, "offset", offset);
	send_msg(s, &r);
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
	struct session *s = j->s;
	struct upload *up = s->c.up;

	if (s->closed) {
		/* The client left meanwhile; the abort job queued behind this
		 * one records the partial as resumable. */
		job_free(j);
		return;
	}
	if (status != 0) {
		log_kv("error", "create", "user=%s transfer=%s reason=\"%s\"",
		    s->c.who.user, j->id, cj->err);
		if (j->code[0] != '\0')
			reqconn_send_error_full(&s->c, j->req_id, j->code, cj->err, NULL, NULL,
			    NULL, 0);
		else
			reqconn_send_error_full(&s->c, j->req_id, "unavailable", "the broker "
			    "could not record the transfer durably; try again "
			    "later or tell the administrator", NULL, NULL, j->id,
			    0);
		s->c.up = NULL;
		upload_free(up);
		spool_remove(s->c.b->spool, j->id, cj->err, sizeof(cj->err));
	} else {
		up->ready = 1;
		officer_used(s->c.b->officer, &j->op);
		log_kv("info", "receive", "user=%s transfer=%s interface=%s "
		    "size=%" PRIu64 " class=%u", s->c.who.user, up->id,
		    up->interface, up->size, up->class);
		send_ready(s, j->req_id, up->id, 0);
	}
	job_free(j);
	session_continue(s);
}

static void done_fail(struct commit_job *cj, int status);

/* Maps a policy verdict to what the client is told. */
static void
refuse_by_policy(struct session *s, const struct wire_msg *m,
    const struct policy_request *req, const struct policy_decision *d)
{
	struct auditrec rec;
	struct sjob *j;
	const char *code = "denied";
	const char *msg = d->reason;
	char buf[512];

	if (d->verdict == POLICY_STEP_UP_REQUIRED) {
		code = "step_up_required";
		if (s->c.b->stepup == NULL)
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
	auditrec_init(&rec, "decide", &s->c.who, s->c.peer);
	auditrec_subject(&rec, NULL, req->interface);
	audit_service(s->c.b, &rec, req->interface);
	auditrec_text(&rec, "verdict", policy_verdict_name(d->verdict));
	auditrec_text(&rec, "reason", d->code);
	auditrec_text(&rec, "rule", d->rule);
	auditrec_text(&rec, "register", d->register_hash);
	auditrec_text(&rec, "name", req->filename);
	auditrec_uint(&rec, "size", req->size);
	auditrec_uint(&rec, "class", req->class);
	log_kv("info", "deny", "user=%s interface=%s verdict=%s reason=%s "
	    "rule=%s", s->c.who.user, req->interface,
	    policy_verdict_name(d->verdict), d->code, d->rule);
	/* The refusal is told once its record is durable, like every other
	 * answer about a request. */
	if ((j = job_new(J_AUDIT, s)) == NULL) {
		request_audit(s->c.b, &rec);
		reqconn_send_error_full(&s->c, m->id, code, msg, NULL, d, NULL, 0);
		return;
	}
	j->rec = rec;
	j->has_rec = 1;
	j->req_id = m->id;
	j->d = *d;
	util_strlcpy(j->code, code, sizeof(j->code));
	util_strlcpy(j->reason, msg, sizeof(j->reason));
	submit(s->c.b, s, j, work_audit, done_fail, 1);
}

static void handle_resume(struct session *s, const struct wire_msg *m,
    const struct policy_request *req, const char *resume,
    const struct officer_put *op, time_t now);
static void stepup_begin(struct session *s, const struct wire_msg *m,
    const struct policy_request *req, const struct policy_decision *d,
    const char *otp, time_t now);

static void probe_begin(struct session *s, const struct wire_msg *m,
    const struct policy_request *req, const char *resume, int verified);
static void usage_begin(struct session *s, const struct wire_msg *m,
    const char *interface, int verified, int64_t day_start);

/*
 * Spool space promised to the uploads attached to sessions: what each
 * declared and has not written yet (what it wrote already shows in the
 * free space). Derived from the live uploads, so it is given back by
 * itself when an upload ends, fails, aborts or is detached; a resume
 * counts its whole size until its offset is known, then the remainder.
 */
static uint64_t
spool_promised(struct broker *b)
{
	struct session *s;
	uint64_t sum = 0;

	TAILQ_FOREACH(s, &b->sessions, entry)
		if (s->c.up != NULL && s->c.up->size > s->c.up->received)
			sum += s->c.up->size - s->c.up->received;
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
put_request(struct session *s, const struct wire_msg *m, int verified,
    const struct put_usage *usage)
{
	struct broker *b = s->c.b;
	struct policy_principal pp;
	struct policy_request req;
	struct policy_context ctx;
	struct policy_decision d;
	struct upload *up;
	struct sjob *j;
	uint64_t size = 0, class = 0, free_bytes = 0, promised;
	const char *resume = wire_msg_text(m, "resume");
	struct policy_exception exb[OFFICER_CONTEXT_MAX];
	struct officer_put op;
	char msgbuf[256];
	int fd, decided;

	if (s->c.up != NULL) {
		protocol_error(s, m->id, "bad_request", "an upload is already "
		    "in progress on this connection; send end first", NULL);
		return;
	}
	if (request_refuse_unaudited(&s->c, m->id))
		return;
	memset(&req, 0, sizeof(req));
	req.interface = wire_msg_text(m, "interface");
	req.filename = wire_msg_text(m, "name");
	req.purpose = wire_msg_text(m, "purpose");
	wire_msg_uint(m, "size", &size);
	req.size = size;
	if (!util_is_token(req.interface, 64)) {
		reqconn_send_error_full(&s->c, m->id, "bad_value", "interface id must be 1-64 "
		    "characters of A-Z a-z 0-9 . _ -", "interface", NULL, NULL,
		    0);
		return;
	}
	/* No class: the interface's explicit default, else refused; never
	 * a silent class 1. */
	if (wire_msg_uint(m, "class", &class) != 0 && (class =
	    policy_interface_default_class(b->policy, req.interface)) == 0) {
		reqconn_send_error_full(&s->c, m->id, "class_required", "機密性の分類が指定され"
		    "ていません。--class 1〜3 を指定してください / the put names "
		    "no classification and this interface has no default_class: "
		    "give --class 1, 2 or 3", "class", NULL, NULL, 0);
		return;
	}
	req.class = (unsigned)class;
	if (req.filename == NULL || req.filename[0] == '\0') {
		reqconn_send_error_full(&s->c, m->id, "bad_value", "name must not be empty: it "
		    "is what the audit trail and the recipient see", "name",
		    NULL, NULL, 0);
		return;
	}
	if (size > b->cfg->max_file_size) {
		snprintf(msgbuf, sizeof(msgbuf), "the file is %" PRIu64 " bytes; "
		    "this broker accepts at most %" PRIu64 " bytes per file",
		    size, b->cfg->max_file_size);
		reqconn_send_error_full(&s->c, m->id, "too_large", msgbuf, "size", NULL, NULL, 0);
		return;
	}

	/* A resume of a transfer stored before is answered with what is
	 * stored, whatever today's policy, limits or free space say: the
	 * transfer was accepted then, and the client must learn that it is
	 * done rather than send the file again. */
	if (resume != NULL && util_is_id(resume) && s->c.probed != m->id + 1) {
		probe_begin(s, m, &req, resume, verified);
		return;
	}
	/* Every put, new or resumed, is decided again under today's policy. */
	pp.user = s->c.who.user;
	pp.dept = s->c.who.dept;
	pp.terminal = s->c.who.terminal;
	memset(&ctx, 0, sizeof(ctx));
	ctx.now = broker_now(b);
	if (usage == NULL) {
		int64_t day_start = 0;

		if (policy_daily_window(b->policy, req.interface, ctx.now,
		    &day_start) == 1) {
			usage_begin(s, m, req.interface, verified, day_start);
			return;
		}
	} else {
		ctx.bytes_today = usage->bytes;
		ctx.count_today = usage->count;
	}
	if (b->grants != NULL)
		ctx.stepup_at = stepup_grant_lookup(b->grants, s->c.who.cert_fp,
		    s->c.who.user);
	/* Exceptions in force for this user and interface (例外措置). */
	officer_put_context(b->officer, b->policy, &pp, req.interface,
	    ctx.now, exb, &ctx);
	decided = policy_decide(b->policy, &pp, &req, &ctx, &d);
	if (decided == 0 && d.verdict == POLICY_STEP_UP_REQUIRED && !verified &&
	    b->stepup != NULL) {
		const char *otp = wire_msg_text(m, "otp");

		if (otp != NULL && otp[0] != '\0') {
			stepup_begin(s, m, &req, &d, otp, ctx.now);
			return;
		}
	}
	/* Approval required: accepted, and held for officers once stored. */
	if (decided != 0 || (d.verdict != POLICY_ALLOW &&
	    (d.verdict != POLICY_APPROVAL_REQUIRED || b->officer == NULL))) {
		if (d.verdict == POLICY_ALLOW)	/* error path: fail closed */
			d.verdict = POLICY_DENY;
		refuse_by_policy(s, m, &req, &d);
		return;
	}
	officer_put_from_decision(&d, &op);
	promised = spool_promised(b);
	if (spool_has_room(b->spool, b->cfg->min_free_space, promised, size,
	    &free_bytes) != 0) {
		snprintf(msgbuf, sizeof(msgbuf), "the broker's spool does not "
		    "have room for %" PRIu64 " bytes now (space is kept for "
		    "uploads in progress); try again later or tell the "
		    "administrator", size);
		log_kv("warn", "disk_full", "user=%s size=%" PRIu64
		    " free=%" PRIu64 " promised=%" PRIu64, s->c.who.user, size,
		    free_bytes, promised);
		reqconn_send_error_full(&s->c, m->id, "disk_full", msgbuf, "size", NULL, NULL, 60);
		return;
	}
	if (resume != NULL) {
		handle_resume(s, m, &req, resume, &op, ctx.now);
		return;
	}

	if ((up = calloc(1, sizeof(*up))) == NULL ||
	    (up->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(up->md, EVP_sha256(), NULL) != 1 ||
	    util_new_id(up->id) != 0 || (j = job_new(J_CREATE, s)) == NULL) {
		if (up != NULL)
			up->fd = -1;
		upload_free(up);
		reqconn_send_error_full(&s->c, m->id, "unavailable", "the broker is out of "
		    "resources; try again later", NULL, NULL, NULL, 30);
		return;
	}
	up->fd = -1;
	up->req_id = m->id;
	util_strlcpy(up->interface, req.interface, sizeof(up->interface));
	up->class = req.class;
	up->size = size;
	up->op = op;
	j->op = op;
	if (spool_create(b->spool, up->id, &fd, j->job.err,
	    sizeof(j->job.err)) != 0) {
		log_kv("error", "spool", "reason=\"%s\"", j->job.err);
		reqconn_send_error_full(&s->c, m->id, errno == ENOSPC ? "disk_full" : "io_error",
		    "the broker cannot create the spool file; tell the "
		    "administrator", NULL, NULL, NULL, 60);
		upload_free(up);
		job_free(j);
		return;
	}
	up->fd = fd;
	s->c.up = up;

	j->req_id = m->id;
	util_strlcpy(j->id, up->id, sizeof(j->id));
	memset(&j->t, 0, sizeof(j->t));
	util_strlcpy(j->t.id, up->id, sizeof(j->t.id));
	util_strlcpy(j->t.user, s->c.who.user, sizeof(j->t.user));
	util_strlcpy(j->t.dept, s->c.who.dept, sizeof(j->t.dept));
	util_strlcpy(j->t.terminal, s->c.who.terminal, sizeof(j->t.terminal));
	util_strlcpy(j->t.cert_fp, s->c.who.cert_fp, sizeof(j->t.cert_fp));
	util_strlcpy(j->t.interface, req.interface, sizeof(j->t.interface));
	util_strlcpy(j->t.name, req.filename, sizeof(j->t.name));
	util_strlcpy(j->t.purpose, req.purpose != NULL ? req.purpose : "",
	    sizeof(j->t.purpose));
	util_strlcpy(j->t.state, STORE_RECEIVING, sizeof(j->t.state));
	j->t.size = size;
	j->t.class = req.class;
	j->t.created = j->t.updated = ctx.now;

	auditrec_init(&j->rec, "accept", &s->c.who, s->c.peer);
	auditrec_subject(&j->rec, up->id, req.interface);
	audit_service(b, &j->rec, req.interface);
	auditrec_text(&j->rec, "verdict", policy_verdict_name(d.verdict));
	auditrec_text(&j->rec, "rule", d.rule);
	auditrec_text(&j->rec, "register", d.register_hash);
	auditrec_text(&j->rec, "name", req.filename);
	auditrec_uint(&j->rec, "size", size);
	auditrec_uint(&j->rec, "class", req.class);
	auditrec_text(&j->rec, "purpose", req.purpose != NULL ? req.purpose : "");
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
	submit(s->c.b, s, j, work_create, done_create, 1);
}

static void
handle_put(struct session *s, const struct wire_msg *m)
{
	put_request(s, m, 0, NULL);
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
put_again(struct session *s, struct sjob *j, const struct put_usage *usage)
{
	struct wire_msg m;
	struct wire_error werr;
	size_t consumed = 0;
	uint64_t dlen = 0;

	memset(&werr, 0, sizeof(werr));
	if (wire_decode(j->put_buf, j->put_len, &m, &dlen, &consumed,
	    &werr) != WIRE_CONTROL) {
		reqconn_send_error_full(&s->c, j->req_id, "unavailable", "the broker lost the "
		    "request; send it again", NULL, NULL, NULL, 0);
		session_continue(s);
		return;
	}
	s->busy = 0;
	put_request(s, &m, j->verified, usage);
	wire_msg_clear(&m);
	/* put_request may have queued a job the session waits for. */
	if (!s->busy)
		session_continue(s);
}

static void
done_usage(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct session *s = j->s;

	if (s->closed) {
		job_free(j);
		return;
	}
	if (status != 0) {
		/* Without the usage the daily limit cannot be checked: refuse
		 * rather than guess (fail closed). */
		log_kv("error", "usage", "user=%s reason=\"%s\"", s->c.who.user,
		    cj->err);
		reqconn_send_error_full(&s->c, j->req_id, "unavailable", "the broker could not "
		    "check today's usage of this interface; try again later",
		    NULL, NULL, NULL, 30);
		job_free(j);
		session_continue(s);
		return;
	}
	put_again(s, j, &j->usage);
	job_free(j);
}

static void
usage_begin(struct session *s, const struct wire_msg *m,
    const char *interface, int verified, int64_t day_start)
{
	struct wire_error werr;
	struct sjob *j;

	if ((j = job_new(J_USAGE, s)) == NULL ||
	    wire_encode(m, &j->put_buf, &j->put_len, &werr) != 0) {
		if (j != NULL)
			job_free(j);
		reqconn_send_error_full(&s->c, m->id, "unavailable", "the broker is out of "
		    "resources; try again later", NULL, NULL, NULL, 30);
		return;
	}
	j->req_id = m->id;
	j->verified = verified;
	j->day_start = day_start;
	util_strlcpy(j->t.interface, interface, sizeof(j->t.interface));
	submit(s->c.b, s, j, work_usage, done_usage, 1);
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
	struct session *s = j->s;
	const struct stepup_outcome *o = &j->so;
	char msg[WIRE_MAX_MESSAGE + 1];
	const char *code;
	uint64_t retry_after;

	if (s->closed) {
		job_free(j);
		return;
	}
	if (status != 0) {
		log_kv("error", "stepup", "user=%s reason=\"%s\"", s->c.who.user,
		    cj->err);
		reqconn_send_error_full(&s->c, j->req_id, "unavailable", "the broker could not "
		    "check the one-time code; try again later", NULL, NULL,
		    NULL, 30);
		goto out;
	}
	log_kv(o->result == STEPUP_OK || o->result == STEPUP_ACTIVATED ?
	    "info" : "warn", "stepup", "user=%s cert=%.16s result=%s "
	    "failures=%" PRIu64, s->c.who.user, s->c.who.cert_fp,
	    stepup_result_name(o->result), o->failures);
	code = stepgate_refusal(o, msg, sizeof(msg), &retry_after);
	if (code == NULL) {
		stepup_grant_record(s->c.b->grants, s->c.who.cert_fp, s->c.who.user,
		    j->now);
		/* Decide again, from the top, as if the put came now. */
		j->verified = 1;
		put_again(s, j, NULL);
		job_free(j);
		return;
	}
	reqconn_send_error_full(&s->c, j->req_id, code, msg, "otp", &j->d, NULL, retry_after);
out:
	job_free(j);
	session_continue(s);
}

static void
stepup_begin(struct session *s, const struct wire_msg *m,
    const struct policy_request *req, const struct policy_decision *d,
    const char *otp, time_t now)
{
	struct wire_error werr;
	struct sjob *j;

	if ((j = job_new(J_STEPUP, s)) == NULL ||
	    util_strlcpy(j->otp, otp, sizeof(j->otp)) != 0 ||
	    wire_encode(m, &j->put_buf, &j->put_len, &werr) != 0) {
		if (j != NULL)
			job_free(j);
		reqconn_send_error_full(&s->c, m->id, "unavailable", "the broker is out of "
		    "resources; try again later", NULL, NULL, NULL, 30);
		return;
	}
	j->req_id = m->id;
	j->su = s->c.b->stepup;
	j->now = now;
	j->d = *d;
	auditrec_init(&j->rec, "stepup", &s->c.who, s->c.peer);
	auditrec_subject(&j->rec, NULL, req->interface);
	auditrec_text(&j->rec, "rule", d->rule);
	auditrec_text(&j->rec, "register", d->register_hash);
	j->has_rec = 1;
	submit(s->c.b, s, j, work_stepup, done_stepup, 1);
}

/* ---- put: resume ---------------------------------------------------------------------- */

static int resume_stored(struct sjob *j, struct commit_env *env,
    const struct transfer *cur);
static void send_stored_again(struct session *s, const struct sjob *j);

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
	struct session *s = j->s;

	if (s->closed) {
		job_free(j);
		return;
	}
	if (status != 0) {
		log_kv("error", "resume", "user=%s transfer=%s reason=\"%s\"",
		    s->c.who.user, j->id, cj->err);
		reqconn_send_error_full(&s->c, j->req_id, "unavailable", "the broker could not "
		    "look the transfer up; try again later", "resume", NULL,
		    j->id, 30);
		job_free(j);
		session_continue(s);
		return;
	}
	if (j->was_stored) {
		send_stored_again(s, j);
		job_free(j);
		session_continue(s);
		return;
	}
	s->c.probed = j->req_id + 1;
	put_again(s, j, NULL);
	job_free(j);
}

static void
probe_begin(struct session *s, const struct wire_msg *m,
    const struct policy_request *req, const char *resume, int verified)
{
	struct wire_error werr;
	struct sjob *j;

	if ((j = job_new(J_PROBE, s)) == NULL ||
	    wire_encode(m, &j->put_buf, &j->put_len, &werr) != 0) {
		if (j != NULL)
			job_free(j);
		reqconn_send_error_full(&s->c, m->id, "unavailable", "the broker is out of "
		    "resources; try again later", NULL, NULL, NULL, 30);
		return;
	}
	j->req_id = m->id;
	j->verified = verified;
	util_strlcpy(j->id, resume, sizeof(j->id));
	util_strlcpy(j->t.interface, req->interface, sizeof(j->t.interface));
	util_strlcpy(j->t.name, req->filename, sizeof(j->t.name));
	j->t.size = req->size;
	j->t.class = req->class;
	auditrec_init(&j->rec, "resume", &s->c.who, s->c.peer);
	auditrec_subject(&j->rec, resume, req->interface);
	j->has_rec = 1;
	submit(s->c.b, s, j, work_probe, done_probe, 1);
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
send_stored_again(struct session *s, const struct sjob *j)
{
	struct wire_msg r;
	uint8_t sha[UTIL_SHA256_LEN];

	if (util_unhex(j->t.sha256, sha, sizeof(sha)) != 0) {
		reqconn_send_error_full(&s->c, j->req_id, "internal", "the broker's record of "
		    "this transfer is damaged; tell the administrator",
		    "resume", NULL, j->id, 0);
		return;
	}
	log_kv("info", "resume_stored", "user=%s transfer=%s state=%s "
	    "size=%" PRIu64, s->c.who.user, j->id, j->t.state, j->t.size);
	wire_msg_init(&r, WIRE_OP_STORED, j->req_id);
	wire_msg_set_text(&r, "transfer", j->id);
	wire_msg_set_uint(&r, "size", j->t.size);
	wire_msg_set_bytes(&r, "sha256", sha, sizeof(sha));
	wire_msg_set_text(&r, "state", j->t.state);
	send_msg(s, &r);
	wire_msg_clear(&r);
}

static void
done_resume(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct session *s = j->s;
	struct upload *up = s->c.up;

	if (s->closed || up == NULL || strcmp(up->id, j->id) != 0) {
		job_free(j);		/* closes the reopened fd */
		return;
	}
	if (status != 0) {
		log_kv("info", "resume_refused", "user=%s transfer=%s "
		    "reason=\"%s\"", s->c.who.user, j->id, cj->err);
		reqconn_send_error_full(&s->c, j->req_id, j->code[0] != '\0' ? j->code :
		    "unavailable", j->code[0] != '\0' ? cj->err :
		    "the broker could not reopen the transfer; try again later",
		    "resume", NULL, j->id, 0);
		s->c.up = NULL;
		upload_free(up);
	} else if (j->was_stored) {
		s->c.up = NULL;
		upload_free(up);
		send_stored_again(s, j);
	} else {
		up->fd = j->fd;
		j->fd = -1;
		EVP_MD_CTX_free(up->md);
		up->md = j->md;
		j->md = NULL;
		up->received = up->synced = j->offset;
		up->ready = 1;
		officer_used(s->c.b->officer, &j->op);
		log_kv("info", "resume", "user=%s transfer=%s offset=%" PRIu64
		    " size=%" PRIu64, s->c.who.user, up->id, j->offset, up->size);
		send_ready(s, j->req_id, up->id, j->offset);
	}
	job_free(j);
	session_continue(s);
}

static void
handle_resume(struct session *s, const struct wire_msg *m,
    const struct policy_request *req, const char *resume,
    const struct officer_put *op, time_t now)
{
	struct upload *up;
	struct sjob *j;

	if (!util_is_id(resume)) {
		reqconn_send_error_full(&s->c, m->id, "bad_value", "resume must be a transfer "
		    "id (32 lowercase hex characters)", "resume", NULL, NULL,
		    0);
		return;
	}
	if (session_transfer_busy(s->c.b, resume)) {
		reqconn_send_error_full(&s->c, m->id, "busy", "this transfer is still attached "
		    "to another connection; retry shortly", "resume", NULL,
		    resume, 2);
		return;
	}
	if ((up = calloc(1, sizeof(*up))) == NULL ||
	    (j = job_new(J_RESUME, s)) == NULL) {
		free(up);
		reqconn_send_error_full(&s->c, m->id, "unavailable", "the broker is out of "
		    "resources; try again later", NULL, NULL, NULL, 30);
		return;
	}
	up->fd = -1;
	up->req_id = m->id;
	util_strlcpy(up->id, resume, sizeof(up->id));
	util_strlcpy(up->interface, req->interface, sizeof(up->interface));
	up->class = req->class;
	up->size = req->size;
	up->op = *op;
	s->c.up = up;

	j->req_id = m->id;
	j->op = *op;
	j->now = now;
	util_strlcpy(j->id, resume, sizeof(j->id));
	util_strlcpy(j->t.interface, req->interface, sizeof(j->t.interface));
	util_strlcpy(j->t.name, req->filename, sizeof(j->t.name));
	j->t.size = req->size;
	j->t.class = req->class;
	auditrec_init(&j->rec, "resume", &s->c.who, s->c.peer);
	auditrec_subject(&j->rec, resume, req->interface);
	j->has_rec = 1;
	submit(s->c.b, s, j, work_resume, done_resume, 1);
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

static void upload_fail(struct session *s, const char *code,
    const char *why, int close_after);

static void
done_sync(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct session *s = j->s;

	j->fd = -1;			/* borrowed from the upload */
	if (status != 0) {
		log_kv("error", "sync", "transfer=%s reason=\"%s\"", j->id,
		    cj->err);
		if (!s->closed && s->c.up != NULL && strcmp(s->c.up->id, j->id) == 0)
			upload_fail(s, "io_error", "the broker could not store "
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
upload_checkpoint(struct session *s)
{
	struct upload *up = s->c.up;
	struct sjob *j;

	if ((j = job_new(J_SYNC, s)) == NULL)
		return;			/* the next checkpoint will catch up */
	util_strlcpy(j->id, up->id, sizeof(j->id));
	j->fd = up->fd;
	j->offset = up->received;
	up->synced = up->received;
	submit(s->c.b, s, j, work_sync, done_sync, 0);
}

/* Writes buffered payload bytes of the current data item to the spool. */
static int
write_data(struct session *s, struct evbuffer *in)
{
	struct upload *up = s->c.up;
	struct evbuffer_iovec vec[MAX_IOV];
	struct iovec iov[MAX_IOV];
	size_t want = evbuffer_get_length(in), total = 0, left;
	ssize_t w;
	int n, i;

	if (want > up->remaining)
		want = (size_t)up->remaining;
	n = evbuffer_peek(in, (ev_ssize_t)want, NULL, vec, MAX_IOV);
	if (n > MAX_IOV)
		n = MAX_IOV;
	for (i = 0; i < n && total < want; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
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
		upload_fail(s, e == ENOSPC || e == EDQUOT ? "disk_full" :
		    "io_error", why, 1);
		return -1;
	}
	for (i = 0, left = (size_t)w; i < n && left > 0; i++) {
		size_t len = iov[i].iov_len < left ? iov[i].iov_len : left;

		EVP_DigestUpdate(up->md, iov[i].iov_base, len);
		left -= len;
	}
	evbuffer_drain(in, (size_t)w);
	up->remaining -= (uint64_t)w;
	up->received += (uint64_t)w;
	if (up->remaining == 0 &&
	    up->received - up->synced >= s->c.b->cfg->sync_interval)
		upload_checkpoint(s);
	return 0;
}

static void
handle_data_head(struct session *s, uint64_t len)
{
	struct upload *up = s->c.up;
	char msg[200];

	if (up == NULL || !up->ready) {
		protocol_error(s, 0, "bad_request", "data arrived before the "
		    "broker answered put with ready", NULL);
		return;
	}
	if (len > up->size - up->received) {
		snprintf(msg, sizeof(msg), "more data than the declared size "
		    "of %" PRIu64 " bytes", up->size);
		upload_fail(s, "size_mismatch", msg, 1);
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
		    j->s->c.b->cfg->approvals_hold, broker_now(j->s->c.b), cj->err,
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
	struct session *s = j->s;
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
				submit(s->c.b, NULL, f, work_fail, done_free, 0);
			}
		}
		reqconn_send_error_full(&s->c, j->req_id, j->code[0] != '\0' ? j->code :
		    "unavailable", "the broker could not store the file "
		    "durably; the transfer failed, please upload it again",
		    NULL, NULL, j->id, 0);
	} else {
		log_kv("info", "stored", "user=%s transfer=%s size=%" PRIu64
		    " sha256=%s", j->who.user, j->id, j->offset, hex);
		wire_msg_init(&r, WIRE_OP_STORED, j->req_id);
		wire_msg_set_text(&r, "transfer", j->id);
		wire_msg_set_uint(&r, "size", j->offset);
		wire_msg_set_bytes(&r, "sha256", j->sha, sizeof(j->sha));
		if (j->held > 0)
			wire_msg_set_text(&r, "state", STORE_HELD);
		send_msg(s, &r);
		wire_msg_clear(&r);
		if (j->held > 0) {
			/* Waits for officers; they are told. */
			struct transfer t;

			memset(&t, 0, sizeof(t));
			util_strlcpy(t.id, j->id, sizeof(t.id));
			util_strlcpy(t.interface, j->rec.interface,
			    sizeof(t.interface));
			util_strlcpy(t.user, j->who.user, sizeof(t.user));
			officer_held(s->c.b->officer, &t, &j->op,
			    broker_now(s->c.b));
		} else
			/* Durably stored: now it may leave for its
			 * destination. */
			forward_submit(s->c.b->forwarder, j->id,
			    j->rec.interface);
	}
	job_free(j);
	session_continue(s);
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
	struct session *s = j->s;

	if (status != 0)
		log_kv("error", "job", "user=%s transfer=%s reason=\"%s\"",
		    j->who.user, j->id, cj->err);
	reqconn_send_error_full(&s->c, j->req_id, j->code, j->reason, NULL,
	    j->d.code[0] != '\0' ? &j->d : NULL,
	    j->id[0] != '\0' ? j->id : NULL, 0);
	if (j->close_after && !s->closed)
		session_close_after_flush(s);
	job_free(j);
	session_continue(s);
}

/* Ends the attached upload as failed: the spool copy is removed and the
 * state says why. The client is told when that is durable. */
static void
upload_fail(struct session *s, const char *code, const char *why,
    int close_after)
{
	struct upload *up = s->c.up;
	struct sjob *j;

	if (up == NULL)
		return;
	if ((j = job_new(J_FAIL, s)) == NULL) {
		/* Leave it to the abort path; the partial expires later. */
		reqconn_send_error_full(&s->c, up->req_id, code, why, NULL, NULL, NULL, 0);
		session_close_after_flush(s);
		return;
	}
	s->c.up = NULL;
	j->close_after = close_after;
	j->req_id = up->req_id;
	util_strlcpy(j->id, up->id, sizeof(j->id));
	util_strlcpy(j->code, code, sizeof(j->code));
	j->fd = up->fd;
	up->fd = -1;
	auditrec_init(&j->rec, "failed", &s->c.who, s->c.peer);
	auditrec_subject(&j->rec, up->id, up->interface);
	util_strlcpy(j->reason, why, sizeof(j->reason));
	auditrec_text(&j->rec, "reason", why);
	auditrec_text(&j->rec, "code", code);
	auditrec_uint(&j->rec, "received", up->received);
	j->has_rec = 1;
	log_kv("warn", "failed", "user=%s transfer=%s code=%s", s->c.who.user,
	    up->id, code);
	upload_free(up);
	submit(s->c.b, s, j, work_fail, done_fail, 1);
}

static void
handle_end(struct session *s, const struct wire_msg *m)
{
	struct upload *up = s->c.up;
	const uint8_t *want;
	uint8_t got[EVP_MAX_MD_SIZE];
	unsigned int gotlen = 0;
	size_t wantlen = 0;
	struct sjob *j;
	char msg[200];

	if (up == NULL || !up->ready) {
		protocol_error(s, m->id, "bad_request", "end without an "
		    "upload in progress", NULL);
		return;
	}
	if (up->received != up->size) {
		snprintf(msg, sizeof(msg), "end after %" PRIu64 " of %" PRIu64
		    " declared bytes; resume the upload to send the rest",
		    up->received, up->size);
		reqconn_send_error_full(&s->c, m->id, "size_mismatch", msg, "size", NULL, up->id,
		    0);
		upload_abort(s, "end before all declared bytes arrived");
		return;
	}
	want = wire_msg_bytes(m, "sha256", &wantlen);
	if (EVP_DigestFinal_ex(up->md, got, &gotlen) != 1 ||
	    want == NULL || wantlen != UTIL_SHA256_LEN ||
	    gotlen != UTIL_SHA256_LEN) {
		upload_fail(s, "io_error", "could not compute the file hash", 0);
		return;
	}
	if (CRYPTO_memcmp(want, got, UTIL_SHA256_LEN) != 0) {
		upload_fail(s, "hash_mismatch", "the SHA-256 the client sent "
		    "does not match the bytes received; the transfer was "
		    "discarded, please upload the file again", 0);
		return;
	}
	if ((j = job_new(J_COMMIT, s)) == NULL) {
		upload_fail(s, "unavailable", "the broker is out of resources",
		    0);
		return;
	}
	s->c.up = NULL;
	j->req_id = m->id;
	util_strlcpy(j->id, up->id, sizeof(j->id));
	j->fd = up->fd;
	up->fd = -1;
	j->offset = up->received;
	memcpy(j->sha, got, sizeof(j->sha));
	j->op = up->op;
	auditrec_init(&j->rec, "stored", &s->c.who, s->c.peer);
	auditrec_subject(&j->rec, up->id, up->interface);
	auditrec_uint(&j->rec, "size", up->received);
	auditrec_bytes(&j->rec, "sha256", got, UTIL_SHA256_LEN);
	j->has_rec = 1;
	upload_free(up);
	submit(s->c.b, s, j, work_commit, done_commit, 1);
}

/* ---- status ----------------------------------------------------------------------------- */

static int
work_status(struct commit_job *cj, struct commit_env *env)
{
	struct sjob *j = cj->arg;
	int rc;

	rc = store_transfer_get(env->store, j->id, &j->t, cj->err,
	    sizeof(cj->err));
	if (rc == STORE_NOTFOUND || (rc == 0 &&
	    strcmp(j->t.user, j->who.user) != 0)) {
		util_strlcpy(j->code, "not_found", sizeof(j->code));
		return util_err(cj->err, sizeof(cj->err), "no transfer %s "
		    "of yours is known to this broker", j->id);
	}
	if (rc != 0 || (j->has_ap = officer_status(env->store, j->id, &j->ap,
	    cj->err, sizeof(cj->err))) < 0)
		return -1;
	return 0;
}

static void
done_status(struct commit_job *cj, int status)
{
	struct sjob *j = cj->arg;
	struct session *s = j->s;
	struct transfer *t = &j->t;
	struct wire_msg r;
	uint8_t sha[UTIL_SHA256_LEN];
	char created[21], updated[21];

	if (status != 0) {
		reqconn_send_error_full(&s->c, j->req_id, j->code[0] != '\0' ? j->code :
		    "unavailable", j->code[0] != '\0' ? cj->err :
		    "the broker could not read its state; try again later",
		    "transfer", NULL, NULL, 0);
	} else {
		util_time_rfc3339((time_t)t->created, created);
		util_time_rfc3339((time_t)t->updated, updated);
		wire_msg_init(&r, WIRE_OP_STATE, j->req_id);
		wire_msg_set_text(&r, "transfer", t->id);
		wire_msg_set_text(&r, "state", t->state);
		wire_msg_set_uint(&r, "size", t->size);
		wire_msg_set_uint(&r, "received", t->received);
		wire_msg_set_text(&r, "interface", t->interface);
		wire_msg_set_uint(&r, "class", t->class);
		wire_msg_set_text(&r, "name", t->name);
		wire_msg_set_text(&r, "created", created);
		wire_msg_set_text(&r, "updated", updated);
		if (util_unhex(t->sha256, sha, sizeof(sha)) == 0)
			wire_msg_set_bytes(&r, "sha256", sha, sizeof(sha));
		if (t->error[0] != '\0')
			wire_msg_set_text(&r, "error", t->error);
		/* Delivery, once it has started. */
		if (t->attempts > 0)
			wire_msg_set_uint(&r, "attempts", t->attempts);
		if (t->last_error[0] != '\0')
			wire_msg_set_text(&r, "last_error", t->last_error);
		if (t->upstream_status > 0) {
			wire_msg_set_uint(&r, "upstream_status",
			    t->upstream_status);
			wire_msg_set_uint(&r, "upstream_bytes",
			    t->upstream_bytes);
			wire_msg_set_uint(&r, "upstream_duration_ms",
			    t->upstream_duration_ms);
		}
		if (t->upstream_etag[0] != '\0')
			wire_msg_set_text(&r, "etag", t->upstream_etag);
		if (t->upstream_version[0] != '\0')
			wire_msg_set_text(&r, "version_id",
			    t->upstream_version);
		if (j->has_ap > 0)
			officer_status_fields(&j->ap, &r);
		send_msg(s, &r);
		wire_msg_clear(&r);
	}
	job_free(j);
	session_continue(s);
}

static void
handle_status(struct session *s, const struct wire_msg *m)
{
	const char *id = wire_msg_text(m, "transfer");
	struct sjob *j;

	if (!util_is_id(id)) {
		reqconn_send_error_full(&s->c, m->id, "bad_value", "transfer must be a transfer "
		    "id (32 lowercase hex characters)", "transfer", NULL, NULL,
		    0);
		return;
	}
	if ((j = job_new(J_STATUS, s)) == NULL) {
		reqconn_send_error_full(&s->c, m->id, "unavailable", "the broker is out of "
		    "resources; try again later", NULL, NULL, NULL, 30);
		return;
	}
	j->req_id = m->id;
	util_strlcpy(j->id, id, sizeof(j->id));
	submit(s->c.b, s, j, work_status, done_status, 1);
}

/* ---- input loop -------------------------------------------------------------------------- */

static void
dispatch(struct session *s, const struct wire_msg *m)
{
	if (s->state != S_OPEN && m->op != WIRE_OP_HELLO) {
		protocol_error(s, m->id, "bad_request", "send hello first",
		    NULL);
		return;
	}
	if (s->c.up != NULL && s->c.up->ready && m->op != WIRE_OP_END) {
		protocol_error(s, m->id, "bad_request", "only data and end may "
		    "follow ready until the upload ends", NULL);
		return;
	}
	switch (m->op) {
	case WIRE_OP_HELLO:
		handle_hello(s, m);
		break;
	case WIRE_OP_PUT:
		handle_put(s, m);
		break;
	case WIRE_OP_END:
		handle_end(s, m);
		break;
	case WIRE_OP_STATUS:
		handle_status(s, m);
		break;
	case WIRE_OP_AUDIT_PULL:
		auditpull_handle(&s->c, m);
		break;
	default:
		if (officer_dispatch(&s->c, m))
			break;
		protocol_error(s, m->id, "unknown_op", "this message is not "
		    "accepted from a client", "op");
		break;
	}
}

/*
 * A client that sends requests and never reads would make every answer
 * pile up here: above the high-water mark stop reading (the client's
 * sends then stall in TCP), and read again once the output has drained
 * below the low mark (session_write_cb).
 */
static int
output_full(struct session *s)
{
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) <=
	    OUT_HIGH_WATER)
		return 0;
	if (!s->out_blocked) {
		s->out_blocked = 1;
		bufferevent_disable(s->bev, EV_READ);
		bufferevent_setwatermark(s->bev, EV_WRITE, OUT_LOW_WATER, 0);
	}
	return 1;
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (!s->out_blocked || s->closed || s->state == S_CLOSING)
		return;
	s->out_blocked = 0;
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (s->busy)
		return;		/* the job's end resumes reading */
	bufferevent_enable(s->bev, EV_READ);
	process_input(s);
}

static void
process_input(struct session *s)
{
	struct evbuffer *in;

	while (!s->closed && !s->busy && s->state != S_CLOSING &&
	    !output_full(s)) {
		struct wire_msg m;
		struct wire_error werr;
		uint64_t dlen = 0;
		size_t avail, n, consumed = 0;
		unsigned char *p;
		enum wire_item item;

		in = bufferevent_get_input(s->bev);
		if ((avail = evbuffer_get_length(in)) == 0)
			return;
		if (s->c.up != NULL && s->c.up->remaining > 0) {
			if (write_data(s, in) != 0)
				return;
			continue;
		}
		n = avail < WIRE_MAX_CONTROL ? avail : WIRE_MAX_CONTROL;
		if ((p = evbuffer_pullup(in, (ev_ssize_t)n)) == NULL) {
			session_close(s, "out of memory");
			return;
		}
		memset(&werr, 0, sizeof(werr));
		item = wire_decode(p, n, &m, &dlen, &consumed, &werr);
		switch (item) {
		case WIRE_NEED_MORE:
			return;
		case WIRE_ERROR:
			protocol_error(s, 0, werr.code, werr.message, werr.field);
			return;
		case WIRE_DATA:
			evbuffer_drain(in, consumed);
			handle_data_head(s, dlen);
			break;
		case WIRE_CONTROL:
			evbuffer_drain(in, consumed);
			dispatch(s, &m);
			wire_msg_clear(&m);
			break;
		}
	}
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_input(arg);
}

/* ---- admission: refusals, deadlines, lifetime ------------------------------------------- */

/* Ends a connection still in its handshake as a refusal. */
static void
handshake_refuse(struct session *s, const char *why)
{
	refusals_note(s->c.b, s->source, s->c.peer, why);
	session_close(s, why);
}

/*
 * One timer per connection: from accept, the handshake's absolute
 * deadline (bytes trickling in do not extend it, unlike the bufferevent's
 * inactivity timeouts); after the handshake, the session's lifetime.
 */
static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct auditrec rec;
	char why[128];

	(void)fd;
	(void)what;
	if (s->closed)
		return;
	if (s->state == S_HANDSHAKE) {
		snprintf(why, sizeof(why), "TLS handshake not finished within "
		    "limits.handshake_timeout (%" PRIu64 "s)",
		    s->c.b->cfg->handshake_timeout);
		handshake_refuse(s, why);
		return;
	}
	if (s->state == S_CLOSING)
		return;
	snprintf(why, sizeof(why), "limits.max_session_lifetime (%" PRIu64
	    "s) reached", s->c.b->cfg->max_session_lifetime);
	log_kv("info", "disconnect", "user=%s peer=%s reason=\"%s\"",
	    s->c.who.user, s->c.peer, why);
	auditrec_init(&rec, "disconnect", &s->c.who, s->c.peer);
	auditrec_text(&rec, "reason", why);
	request_audit(s->c.b, &rec);
	reqconn_send_error_full(&s->c, 0, "session_expired", "this connection reached the "
	    "broker's maximum session lifetime; connect again (an upload in "
	    "progress can be resumed)", NULL, NULL,
	    s->c.up != NULL ? s->c.up->id : NULL, 1);
	upload_abort(s, why);
	s->busy = 0;
	session_close_after_flush(s);
}

/* ---- connection events ------------------------------------------------------------------- */

static void
handshake_done(struct session *s)
{
	struct auditrec rec;
	struct timeval idle;
	char why[256];
	X509 *cert;

	handshake_leave(s);
	cert = SSL_get0_peer_certificate(s->ssl);
	if (tlsserver_check(s->ssl, why, sizeof(why)) != 0 ||
	    identity_from_cert(cert, &s->c.who, why, sizeof(why)) != 0) {
		char q[300];

		log_kv("warn", "refuse", "peer=%s reason=%s", s->c.peer,
		    log_quote(why, q, sizeof(q)));
		auditrec_init(&rec, "refuse", NULL, s->c.peer);
		auditrec_text(&rec, "reason", why);
		if (cert != NULL) {
			char fp[UTIL_SHA256_HEX + 1];

			if (identity_fingerprint(cert, fp) == 0)
				auditrec_text(&rec, "cert_fp", fp);
		}
		request_audit(s->c.b, &rec);
		s->state = S_CONNECTED;
		reqconn_send_error_full(&s->c, 0, "certificate_refused", why, NULL, NULL, NULL,
		    0);
		session_close_after_flush(s);
		return;
	}
	s->state = S_CONNECTED;
	idle.tv_sec = (time_t)s->c.b->cfg->idle_timeout;
	idle.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	idle.tv_sec = (time_t)s->c.b->cfg->max_session_lifetime;
	evtimer_add(s->timer, &idle);
	log_kv("info", "connect", "user=%s dept=%s terminal=%s peer=%s "
	    "serial=%s", s->c.who.user, s->c.who.dept, s->c.who.terminal, s->c.peer,
	    s->c.who.serial);
	auditrec_init(&rec, "connect", &s->c.who, s->c.peer);
	auditrec_text(&rec, "serial", s->c.who.serial);
	request_audit(s->c.b, &rec);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char why[300];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		handshake_done(s);
		if (!s->closed && s->state == S_CONNECTED)
			process_input(s);
		return;
	}
	if (s->state == S_HANDSHAKE) {
		if (what & BEV_EVENT_TIMEOUT)
			util_strlcpy(why, "TLS handshake timed out", sizeof(why));
		else if (what & BEV_EVENT_EOF)
			util_strlcpy(why, "peer closed during TLS handshake",
			    sizeof(why));
		else
			tlsserver_failure(s->ssl,
			    bufferevent_get_openssl_error(bev), why,
			    sizeof(why));
		handshake_refuse(s, why);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		util_strlcpy(why, "idle timeout", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		util_strlcpy(why, "client closed the connection", sizeof(why));
	else {
		unsigned long e = ERR_peek_error();

		snprintf(why, sizeof(why), "connection dropped without TLS "
		    "close_notify%s%s", e != 0 ? ": " : "",
		    e != 0 ? ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "" : "");
		ERR_clear_error();
	}
	log_kv("info", "disconnect", "user=%s peer=%s reason=\"%s\"",
	    s->c.who.user, s->c.peer, why);
	{
		struct auditrec rec;

		auditrec_init(&rec, "disconnect", &s->c.who, s->c.peer);
		auditrec_text(&rec, "reason", why);
		request_audit(s->c.b, &rec);
	}
	session_close(s, why);
}

static void
format_peer(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, outlen, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, outlen, "[%s]:%u", host, port);
	} else
		util_strlcpy(out, "unknown", outlen);
}

/*
 * Whether a new connection from source gets a slot (0: counted for its
 * source, admission_leave gives it back) or is refused (-1, counted as a
 * refusal). Unauthenticated connections never hold more than
 * limits.max_handshakes slots, so the rest stay for authenticated sessions; when the handshake budget or every slot is taken, the oldest
 * pending handshake gives way (it had the longest to finish), so idle
 * sockets only delay a real client, they cannot lock it out.
 */
static int
accept_gate(struct broker *b, const char *source, const char *peer)
{
	char why[160];
	int rc;

	if ((rc = admission_enter(b->admission, source,
	    b->cfg->max_connections_per_source)) != 0) {
		if (rc < 0)
			util_strlcpy(why, "out of memory", sizeof(why));
		else
			snprintf(why, sizeof(why), "limits."
			    "max_connections_per_source (%" PRIu64 ") reached "
			    "for %s", b->cfg->max_connections_per_source,
			    source);
		refusals_note(b, source, peer, why);
		return -1;
	}
	while (b->nhandshakes >= b->cfg->max_handshakes ||
	    b->nsessions >= b->cfg->max_connections) {
		struct session *old = TAILQ_FIRST(&b->handshakes);

		if (old == NULL) {
			admission_leave(b->admission, source);
			refusals_note(b, source, peer,
			    "limits.max_connections reached");
			return -1;
		}
		snprintf(why, sizeof(why), "handshake slots full (limits.%s): "
		    "the oldest pending handshake gave way",
		    b->nhandshakes >= b->cfg->max_handshakes ?
		    "max_handshakes" : "max_connections");
		handshake_refuse(old, why);
	}
	return 0;
}

void
session_accept(struct broker *b, evutil_socket_t fd,
    const struct sockaddr *sa, int salen)
{
	struct session *s;
	struct timeval hs;
	char peer[64], source[ADMISSION_SOURCE_LEN];

	(void)salen;
	format_peer(sa, peer, sizeof(peer));
	admission_source(sa, source);
	if (b->shutting_down) {
		log_kv("warn", "refuse", "peer=%s reason=\"shutting down\"",
		    peer);
		evutil_closesocket(fd);
		return;
	}
	if (accept_gate(b, source, peer) != 0) {
		evutil_closesocket(fd);
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ssl = SSL_new(b->ssl_ctx)) == NULL ||
	    (s->timer = evtimer_new(b->base, session_timer_cb, s)) == NULL) {
		log_kv("error", "accept", "peer=%s reason=\"out of memory\"",
		    peer);
		admission_leave(b->admission, source);
		if (s != NULL) {
			if (s->timer != NULL)
				event_free(s->timer);
			SSL_free(s->ssl);
		}
		free(s);
		evutil_closesocket(fd);
		return;
	}
	util_strlcpy(s->source, source, sizeof(s->source));
	s->c.ops = &session_ops;
	s->c.b = b;
	s->refs = 1;
	s->state = S_HANDSHAKE;
	util_strlcpy(s->c.peer, peer, sizeof(s->c.peer));
	util_strlcpy(s->c.who.user, "-", sizeof(s->c.who.user));
	s->bev = bufferevent_openssl_socket_new(b->base, fd, s->ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		log_kv("error", "accept", "peer=%s reason=\"cannot create "
		    "connection\"", peer);
		admission_leave(b->admission, source);
		event_free(s->timer);
		SSL_free(s->ssl);
		free(s);
		evutil_closesocket(fd);
		return;
	}
	TAILQ_INSERT_TAIL(&b->sessions, s, entry);
	b->nsessions++;
	TAILQ_INSERT_TAIL(&b->handshakes, s, hs_entry);
	b->nhandshakes++;
	s->in_handshakes = 1;
	hs.tv_sec = (time_t)b->cfg->handshake_timeout;
	hs.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &hs, &hs);
	evtimer_add(s->timer, &hs);
	bufferevent_setwatermark(s->bev, EV_READ, 0, READ_HIGH_WATER);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
session_shutdown(struct session *s)
{
	if (s->closed)
		return;
	if (s->state == S_OPEN || s->state == S_CONNECTED)
		reqconn_send_error_full(&s->c, 0, "shutting_down", "the broker is restarting; "
		    "resume the upload in a moment", NULL, NULL,
		    s->c.up != NULL ? s->c.up->id : NULL, 5);
	upload_abort(s, "broker shutting down");
	s->busy = 0;
	session_close_after_flush(s);
}

void
session_shutdown_all(struct broker *b)
{
	struct session *s, *next;

	/* What was counted since the last interval goes into the trail. */
	refusals_flush(b);

	for (s = TAILQ_FIRST(&b->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_shutdown(s);
	}
}

int
session_transfer_busy(struct broker *b, const char *id)
{
	struct session *s;

	TAILQ_FOREACH(s, &b->sessions, entry)
		if (s->c.up != NULL && strcmp(s->c.up->id, id) == 0)
			return 1;
	return 0;
}

/* Closes an authenticated session whose certificate no longer verifies. */
static void
session_revoke(struct session *s, const char *why)
{
	struct auditrec rec;
	char q[320];
	int dropped;

	dropped = s->c.b->grants != NULL &&
	    stepup_grant_drop(s->c.b->grants, s->c.who.cert_fp);
	log_kv("warn", "session_revoked", "user=%s peer=%s serial=%s "
	    "stepup_dropped=%d reason=%s", s->c.who.user, s->c.peer,
	    s->c.who.serial, dropped, log_quote(why, q, sizeof(q)));
	auditrec_init(&rec, "session_revoked", &s->c.who, s->c.peer);
	auditrec_text(&rec, "serial", s->c.who.serial);
	auditrec_text(&rec, "reason", why);
	auditrec_bool(&rec, "stepup_dropped", dropped);
	if (s->c.up != NULL)
		auditrec_subject(&rec, s->c.up->id, s->c.up->interface);
	request_audit(s->c.b, &rec);
	reqconn_send_error_full(&s->c, 0, "certificate_refused", why, NULL, NULL, NULL, 0);
	upload_abort(s, why);
	s->busy = 0;
	session_close_after_flush(s);
}

size_t
session_recheck_certificates(struct broker *b)
{
	struct session *s, *next;
	char why[256];
	size_t n = 0;

	for (s = TAILQ_FIRST(&b->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->closed || s->state == S_HANDSHAKE ||
		    s->state == S_CLOSING)
			continue;
		if (tlsserver_recheck(b->ssl_ctx, s->ssl, why,
		    sizeof(why)) == 0)
			continue;
		session_revoke(s, why);
		n++;
	}
	return n;
}
