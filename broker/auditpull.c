/*
 * auditpull — see auditpull.h.
 *
 * The proof a pull carries is a compact range: the roots of the perfect
 * subtrees left of the first record ("left"), the records' own leaf hashes,
 * and a consistency proof from the end of the range to the checkpoint
 * ("right"). Together they give the signed root only if every leaf is the
 * one the broker committed to at that position, which proves inclusion of
 * every record at once in O(log n) hashes instead of one inclusion proof
 * per record. The checkpoint is signed at the start of the pull, so it
 * covers every record up to that moment.
 */
#include "broker/auditpull.h"
#include "broker/audit.h"
#include "broker/auditrec.h"
#include "broker/auditsearch.h"
#include "broker/audittree.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/request.h"
#include "lib/auditfmt.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define PULL_BUF WIRE_MAX_CHUNK		/* records per data item, bytes */
#define PULL_BACKLOG (4u << 20)		/* output queued before we wait */
#define PULL_RETRY_MS 20		/* re-check of a full output */

enum pull_stage { P_START, P_CHUNK };

struct pull {
	struct commit_job job;
	enum pull_stage stage;
	struct reqconn *s;
	struct broker *b;
	uint64_t req_id;
	struct principal who;
	char peer[64];
	/* the request */
	int by_time;
	char since[21], until[21];
	int has_from, has_to, has_previous;
	uint64_t from_seq, to_seq, previous;
	/* what the start job found */
	char code[32];
	char *note;
	size_t notelen;
	uint64_t tree_size, a, end;
	uint8_t left[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	size_t nleft;
	uint8_t right[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	size_t nright;
	int prev_ok;
	uint8_t prev[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	size_t nprev;
	struct audit_cursor cur;
	/* the current chunk */
	uint8_t *buf;
	size_t len;
	uint64_t chunk_from, chunk_count;
	uint8_t leaves[AUDITFMT_CHUNK_RECORDS][MERKLE_HASH_LEN];
	uint64_t sent;
	struct event *retry;
	struct auditrec rec;
};

static void pull_next(struct pull *p);

static void
pull_free(struct pull *p)
{
	struct reqconn *s = p->s;

	if (p->retry != NULL)
		event_free(p->retry);
	free(p->note);
	free(p->buf);
	free(p);
	reqconn_done_waiting(s);
}

/* "YYYY-MM-DDTHH:MM:SSZ" exactly, a real UTC time. */
static int
parse_time(const char *s, time_t *out)
{
	struct tm tm;
	char *end, back[21];

	if (s == NULL || strlen(s) != 20)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	*out = timegm(&tm);
	util_time_rfc3339(*out, back);
	return strcmp(back, s) == 0 ? 0 : -1;
}

/* ---- commit thread ------------------------------------------------------ */

static int
fail(struct pull *p, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct pull *p, const char *code, const char *fmt, ...)
{
	va_list ap;

	util_strlcpy(p->code, code, sizeof(p->code));
	va_start(ap, fmt);
	vsnprintf(p->job.err, sizeof(p->job.err), fmt, ap);
	va_end(ap);
	return -1;
}

static int
work_start(struct commit_job *cj, struct commit_env *env)
{
	struct pull *p = cj->arg;
	struct audit *a = env->audit;
	struct audittree *t;
	char e[256];
	uint64_t first;

	if (a == NULL || !audit_healthy(a))
		return fail(p, "audit_unavailable", "the audit trail is not "
		    "available: %s", a != NULL ? audit_failure(a) : "none");
	/* A checkpoint covering everything recorded so far. */
	if (audit_checkpoint(a, time(NULL), 1, e, sizeof(e)) < 0 ||
	    audit_latest_checkpoint(a, &p->note, &p->notelen, &p->tree_size,
	    e, sizeof(e)) != 0)
		return fail(p, "audit_unavailable", "no signed checkpoint: %s",
		    e);
	first = audit_first_seq(a);
	if (p->by_time) {
		time_t until;
		char next[21];

		if (audit_find_time(a, p->since, &p->a, e, sizeof(e)) != 0)
			return fail(p, "io_error", "reading the trail: %s", e);
		if (p->until[0] != '\0') {
			/* The first record after until ends the range. */
			if (parse_time(p->until, &until) != 0)
				return fail(p, "bad_value", "bad until");
			util_time_rfc3339(until + 1, next);
			if (audit_find_time(a, next, &p->end, e,
			    sizeof(e)) != 0)
				return fail(p, "io_error", "reading the "
				    "trail: %s", e);
		} else
			p->end = p->tree_size;
		if (p->a < first && first > 0)
			p->a = first;
	} else {
		p->a = p->has_from ? p->from_seq : first;
		p->end = p->has_to && p->to_seq < UINT64_MAX ? p->to_seq + 1 :
		    p->tree_size;
	}
	if (p->end > p->tree_size)
		p->end = p->tree_size;
	if (p->a < first)
		return fail(p, "pruned", "records before %" PRIu64 " were "
		    "removed by the retention rule (see the prune record); "
		    "pull from %" PRIu64, first, first);
	if (p->a > p->end)
		p->a = p->end;		/* an empty range */
	t = audit_tree(a);
	if (audittree_compact(t, p->a, p->left, MERKLE_MAX_PROOF, &p->nleft,
	    e, sizeof(e)) != 0 ||
	    audittree_prove_consistency(t, p->end, p->tree_size, p->right,
	    MERKLE_MAX_PROOF, &p->nright, e, sizeof(e)) != 0)
		return fail(p, "io_error", "proof: %s", e);
	if (p->has_previous && p->previous <= p->tree_size) {
		if (audittree_prove_consistency(t, p->previous, p->tree_size,
		    p->prev, MERKLE_MAX_PROOF, &p->nprev, e, sizeof(e)) != 0)
			return fail(p, "io_error", "proof: %s", e);
		p->prev_ok = 1;
	}
	if (p->a < p->end && audit_seek(a, p->a, &p->cur, e,
	    sizeof(e)) != 0)
		return fail(p, "io_error", "reading the trail: %s", e);
	auditrec_init(&p->rec, "audit_pull", &p->who, p->peer);
	auditrec_uint(&p->rec, "from_seq", p->a);
	auditrec_uint(&p->rec, "count", p->end - p->a);
	auditrec_uint(&p->rec, "tree_size", p->tree_size);
	if (p->by_time) {
		auditrec_text(&p->rec, "since", p->since);
		if (p->until[0] != '\0')
			auditrec_text(&p->rec, "until", p->until);
	}
	if (p->has_previous)
		auditrec_uint(&p->rec, "previous", p->previous);
	return auditrec_append(&p->rec, a, time(NULL), cj->err,
	    sizeof(cj->err));
}

static int
work_chunk(struct commit_job *cj, struct commit_env *env)
{
	struct pull *p = cj->arg;
	char e[256];

	p->chunk_from = p->cur.seq;
	if (audit_read(env->audit, &p->cur, p->end, AUDITFMT_CHUNK_RECORDS,
	    p->buf, PULL_BUF, &p->len, &p->chunk_count, e, sizeof(e)) != 0)
		return fail(p, "io_error", "reading the trail: %s", e);
	if (p->chunk_count == 0)
		return fail(p, "io_error", "reading the trail: no record at "
		    "%" PRIu64, p->chunk_from);
	if (audittree_leaves(audit_tree(env->audit), p->chunk_from,
	    p->chunk_from + p->chunk_count, p->leaves, e, sizeof(e)) != 0)
		return fail(p, "io_error", "leaf hashes: %s", e);
	return 0;
}

/* ---- loop thread ----------------------------------------------------------- */

static void
send_failure(struct pull *p)
{
	char q[300];

	log_kv("error", "audit_pull", "user=%s code=%s reason=%s", p->who.user,
	    p->code[0] != '\0' ? p->code : "unavailable",
	    log_quote(p->job.err, q, sizeof(q)));
	reqconn_send_error(p->s, p->req_id, p->code[0] != '\0' ? p->code :
	    "unavailable", p->code[0] != '\0' ? p->job.err : "the broker "
	    "could not serve the pull; try again later", NULL, 0);
}

static void
done_chunk(struct commit_job *cj, int status)
{
	struct pull *p = cj->arg;
	struct wire_msg m;

	if (reqconn_ending(p->s)) {
		pull_free(p);
		return;
	}
	if (status != 0) {
		send_failure(p);
		pull_free(p);
		return;
	}
	wire_msg_init(&m, WIRE_OP_AUDIT_RECORDS, p->req_id);
	wire_msg_set_uint(&m, "from_seq", p->chunk_from);
	wire_msg_set_uint(&m, "count", p->chunk_count);
	wire_msg_set_bytes(&m, "leaves", (const uint8_t *)p->leaves,
	    (size_t)p->chunk_count * MERKLE_HASH_LEN);
	reqconn_send(p->s, &m);
	wire_msg_clear(&m);
	reqconn_send_data(p->s, p->buf, p->len);
	p->sent += p->chunk_count;
	pull_next(p);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pull_next(arg);
}

/* The next chunk, the end, or a wait for the client to catch up. */
static void
pull_next(struct pull *p)
{
	struct wire_msg m;

	if (reqconn_ending(p->s)) {
		pull_free(p);
		return;
	}
	if (p->b->shutting_down) {
		util_strlcpy(p->code, "shutting_down", sizeof(p->code));
		util_strlcpy(p->job.err, "the broker is restarting; pull again "
		    "in a moment", sizeof(p->job.err));
		send_failure(p);
		pull_free(p);
		return;
	}
	if (p->cur.seq >= p->end || p->a >= p->end) {
		wire_msg_init(&m, WIRE_OP_AUDIT_DONE, p->req_id);
		wire_msg_set_uint(&m, "count", p->sent);
		reqconn_send(p->s, &m);
		wire_msg_clear(&m);
		log_kv("info", "audit_pull", "user=%s from_seq=%" PRIu64
		    " count=%" PRIu64 " tree_size=%" PRIu64, p->who.user, p->a,
		    p->sent, p->tree_size);
		pull_free(p);
		return;
	}
	if (reqconn_output_pending(p->s) > PULL_BACKLOG) {
		struct timeval tv = { 0, PULL_RETRY_MS * 1000 };

		if (p->retry == NULL)
			p->retry = evtimer_new(p->b->base, retry_cb, p);
		if (p->retry == NULL || evtimer_add(p->retry, &tv) != 0) {
			util_strlcpy(p->code, "unavailable", sizeof(p->code));
			util_strlcpy(p->job.err, "out of resources",
			    sizeof(p->job.err));
			send_failure(p);
			pull_free(p);
		}
		return;
	}
	p->stage = P_CHUNK;
	p->job.work = work_chunk;
	committer_submit(p->b->committer, &p->job);
}

static void
done_start(struct commit_job *cj, int status)
{
	struct pull *p = cj->arg;
	struct wire_msg m;

	if (reqconn_ending(p->s)) {
		pull_free(p);
		return;
	}
	if (status != 0) {
		send_failure(p);
		pull_free(p);
		return;
	}
	wire_msg_init(&m, WIRE_OP_AUDIT_HEAD, p->req_id);
	wire_msg_set_text(&m, "checkpoint", p->note);
	wire_msg_set_uint(&m, "tree_size", p->tree_size);
	wire_msg_set_uint(&m, "from_seq", p->a);
	wire_msg_set_uint(&m, "count", p->end - p->a);
	wire_msg_set_bytes(&m, "left", (const uint8_t *)p->left,
	    p->nleft * MERKLE_HASH_LEN);
	wire_msg_set_bytes(&m, "right", (const uint8_t *)p->right,
	    p->nright * MERKLE_HASH_LEN);
	if (p->prev_ok) {
		wire_msg_set_uint(&m, "previous_size", p->previous);
		wire_msg_set_bytes(&m, "previous", (const uint8_t *)p->prev,
		    p->nprev * MERKLE_HASH_LEN);
	}
	reqconn_send(p->s, &m);
	wire_msg_clear(&m);
	p->job.done = done_chunk;
	pull_next(p);
}

void
auditpull_refuse(struct reqconn *s, const struct wire_msg *m,
    const char *code, const char *why)
{
	const struct principal *who = &s->who;
	struct auditrec rec;

	auditrec_init(&rec, "audit_pull_refused", who, s->peer);
	auditrec_text(&rec, "reason", why);
	request_audit(s->b, &rec);
	log_kv("warn", "audit_pull_refused", "user=%s peer=%s reason=\"%s\"",
	    who->user, s->peer, why);
	reqconn_send_error(s, m->id, code, why, NULL, 0);
}

void
auditpull_handle(struct reqconn *s, const struct wire_msg *m)
{
	struct broker *b = s->b;
	const struct principal *who = &s->who;
	const char *since = wire_msg_text(m, "since");
	const char *until = wire_msg_text(m, "until");
	const struct tzone *zone;
	struct pull *p;
	time_t t1 = 0, t2 = 0;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->buf = malloc(PULL_BUF)) == NULL) {
		free(p);
		reqconn_send_error(s, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return;
	}
	p->has_from = wire_msg_uint(m, "from_seq", &p->from_seq) == 0;
	p->has_to = wire_msg_uint(m, "to_seq", &p->to_seq) == 0;
	p->has_previous = wire_msg_uint(m, "previous", &p->previous) == 0;
	p->by_time = since != NULL || until != NULL;
	if (p->by_time && (p->has_from || p->has_to)) {
		reqconn_send_error(s, m->id, "bad_request", "give a period "
		    "(since, until) or a range of records (from_seq, to_seq), "
		    "not both", NULL, 0);
		goto refused;
	}
	/* RFC 3339 (Z or an offset) or a date, a whole day in the
	 * register's zone, as the browser's date fields give them. */
	zone = policy_interface_zone(b->policy, NULL);
	if ((since != NULL && auditsearch_parse_when(since, zone, 0,
	    &t1) != 0) || (until != NULL && auditsearch_parse_when(until,
	    zone, 1, &t2) != 0)) {
		reqconn_send_error(s, m->id, "bad_value", "since and until are "
		    "times like 2026-04-01T00:00:00Z or 2026-04-01T09:00:00+09:00"
		    ", or dates like 2026-04-01 (a whole day in the register's "
		    "time zone)", since != NULL && auditsearch_parse_when(since,
		    zone, 0, &t1) != 0 ? "since" : "until", 0);
		goto refused;
	}
	if ((since != NULL && until != NULL && t2 < t1) ||
	    (p->has_from && p->has_to && p->to_seq < p->from_seq)) {
		reqconn_send_error(s, m->id, "bad_value", "the range ends "
		    "before it starts", NULL, 0);
		goto refused;
	}
	if (since != NULL)
		util_time_rfc3339(t1, p->since);
	else
		util_strlcpy(p->since, "1970-01-01T00:00:00Z",
		    sizeof(p->since));
	if (until != NULL)
		util_time_rfc3339(t2, p->until);
	p->s = s;
	p->b = b;
	p->req_id = m->id;
	p->who = *who;
	util_strlcpy(p->peer, s->peer, sizeof(p->peer));
	p->stage = P_START;
	p->job.work = work_start;
	p->job.done = done_start;
	p->job.arg = p;
	reqconn_wait(s);
	committer_submit(b->committer, &p->job);
	return;
refused:
	free(p->buf);
	free(p);
}
