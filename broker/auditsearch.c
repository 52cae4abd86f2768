/*
 * auditsearch — see auditsearch.h.
 *
 * Both ops share one reader: a job on the commit thread positions a cursor
 * (audit_find_time for since/until, after for a search), records the
 * request, then each further job reads one chunk and turns it into what
 * the client gets (flattened messages, or CSV text), so the loop only
 * sends. The flattening needs the register's time zone; the register is
 * the loop's and may be replaced by a reload while a job runs, so each
 * request loads its own copy of the zone first.
 */
#include "broker/auditsearch.h"
#include "broker/audit.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/request.h"
#include "lib/auditcsv.h"
#include "lib/auditfmt.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"
#include "policy/tzone.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define CHUNK_BYTES (256u << 10)	/* records read per job */
#define CSV_BACKLOG (4u << 20)		/* output queued before we wait */
#define CSV_RETRY_MS 20
#define CSV_CONTENT_TYPE "text/csv; charset=utf-8"

enum kind { K_SEARCH, K_CSV };

struct search {
	struct commit_job job;
	enum kind kind;
	struct reqconn *s;
	struct broker *b;
	uint64_t req_id;
	struct principal who;
	char peer[64];
	struct tzone *tz;		/* our own copy of the register's */
	/* the request */
	char user[WIRE_MAX_TOKEN + 1], interface[WIRE_MAX_TOKEN + 1];
	char transfer[WIRE_MAX_TOKEN + 1], type[WIRE_MAX_CODE + 1];
	char since_in[WIRE_MAX_WHEN + 1], until_in[WIRE_MAX_WHEN + 1];
	int has_since, has_until, has_after;
	char since[21], until[21];	/* UTC, as recorded */
	char until_next[21];		/* until + 1 s, for audit_find_time */
	uint64_t after;
	unsigned limit;
	enum auditcsv_lang lang;
	/* the reading */
	char code[32];
	uint64_t start, end;
	struct audit_cursor cur;
	uint64_t scanned, scan_max;
	uint8_t *buf;
	struct auditfmt_record *rec;
	/* search: answers built by the commit thread */
	struct wire_msg *out;
	size_t nout;
	uint64_t last_seq;
	/* csv */
	struct auditcsv_buf csv;
	uint64_t rows;
	struct event *retry;
	struct auditrec ar;
};

static void search_next(struct search *p);

/* Records one search request may read. */
static uint64_t
scan_max(void)
{
#ifdef SEKISHO_TEST_HOOKS
	/* A smaller budget, so tests can page through it on a short trail. */
	const char *v = getenv("SEKISHO_TEST_SEARCH_SCAN");
	unsigned long n;

	if (v != NULL && (n = strtoul(v, NULL, 10)) > 0 &&
	    n < AUDITSEARCH_SCAN_MAX)
		return n;
#endif
	return AUDITSEARCH_SCAN_MAX;
}
static void csv_next(struct search *p);

static void
search_free(struct search *p)
{
	struct reqconn *s = p->s;
	size_t i;

	if (p->retry != NULL)
		event_free(p->retry);
	for (i = 0; i < p->nout; i++)
		wire_msg_clear(&p->out[i]);
	free(p->out);
	auditcsv_buf_free(&p->csv);
	tzone_free(p->tz);
	free(p->buf);
	free(p->rec);
	free(p);
	reqconn_done_waiting(s);
}

/* The date in tm exists (no 2026-02-30). */
static int
real_day(const struct tm *in)
{
	struct tm tm = *in, back;
	time_t t = timegm(&tm);

	return gmtime_r(&t, &back) != NULL && back.tm_year == in->tm_year &&
	    back.tm_mon == in->tm_mon && back.tm_mday == in->tm_mday;
}

int
auditsearch_parse_when(const char *s, const struct tzone *tz, int end_of_day,
    time_t *out)
{
	struct tm tm;
	const char *rest;
	int64_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strlen(s) < 10 || s[4] != '-' || s[7] != '-' ||
	    (rest = strptime(s, "%Y-%m-%d", &tm)) == NULL ||
	    rest != s + 10 || tm.tm_year < 70 || !real_day(&tm))
		return -1;
	if (*rest == '\0') {
		int64_t day = (int64_t)timegm(&tm) / 86400;

		if (tz == NULL)
			return -1;
		t = end_of_day ? tzone_from_local(tz, (day + 1) * 86400) - 1 :
		    tzone_from_local(tz, day * 86400);
	} else {
		if (strlen(rest) < 9 || (rest = strptime(rest, "T%H:%M:%S",
		    &tm)) == NULL || tm.tm_hour > 23 || tm.tm_min > 59 ||
		    tm.tm_sec > 59)
			return -1;
		t = timegm(&tm);
		if (strcmp(rest, "Z") != 0) {
			int off;

			if (strlen(rest) != 6 || (rest[0] != '+' &&
			    rest[0] != '-') || rest[3] != ':' ||
			    strspn(rest + 1, "0123456789") != 2 ||
			    strspn(rest + 4, "0123456789") != 2)
				return -1;
			off = ((rest[1] - '0') * 10 + (rest[2] - '0')) * 3600 +
			    ((rest[4] - '0') * 10 + (rest[5] - '0')) * 60;
			if (off > 14 * 3600)
				return -1;
			t += rest[0] == '+' ? -off : off;
		}
	}
	if (t < 0)
		return -1;
	*out = (time_t)t;
	return 0;
}

/* ---- commit thread ------------------------------------------------------ */

static int
fail(struct search *p, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct search *p, const char *code, const char *fmt, ...)
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
	struct search *p = cj->arg;
	struct audit *a = env->audit;
	uint64_t first, synced, s;
	char e[256];

	if (a == NULL || !audit_healthy(a))
		return fail(p, "audit_unavailable", "the audit trail is not "
		    "available: %s", a != NULL ? audit_failure(a) : "none");
	first = audit_first_seq(a);
	synced = audit_synced_seq(a);
	p->start = first;
	p->end = synced;
	if (p->has_since) {
		if (audit_find_time(a, p->since, &s, e, sizeof(e)) != 0)
			return fail(p, "io_error", "reading the trail: %s", e);
		if (s > p->start)
			p->start = s;
	}
	if (p->has_until) {
		/* The first record after until ends the range. */
		if (audit_find_time(a, p->until_next, &s, e, sizeof(e)) != 0)
			return fail(p, "io_error", "reading the trail: %s", e);
		if (s < p->end)
			p->end = s;
	}
	if (p->has_after && p->after >= p->start)
		p->start = p->after < p->end ? p->after + 1 : p->end;
	if (p->start > p->end)
		p->start = p->end;
	if (p->start < p->end && audit_seek(a, p->start, &p->cur, e,
	    sizeof(e)) != 0)
		return fail(p, "io_error", "reading the trail: %s", e);
	p->cur.seq = p->start;
	auditrec_init(&p->ar, p->kind == K_SEARCH ? "audit_search" :
	    "audit_csv", &p->who, p->peer);
	if (p->user[0] != '\0')
		auditrec_text(&p->ar, "user", p->user);
	if (p->interface[0] != '\0')
		auditrec_text(&p->ar, "interface", p->interface);
	if (p->transfer[0] != '\0')
		auditrec_text(&p->ar, "transfer", p->transfer);
	if (p->type[0] != '\0')
		auditrec_text(&p->ar, "type", p->type);
	if (p->has_since)
		auditrec_text(&p->ar, "since", p->since);
	if (p->has_until)
		auditrec_text(&p->ar, "until", p->until);
	if (p->has_after)
		auditrec_uint(&p->ar, "after", p->after);
	auditrec_uint(&p->ar, "from_seq", p->start);
	auditrec_uint(&p->ar, "to_seq", p->end);
	return auditrec_append(&p->ar, a, time(NULL), cj->err,
	    sizeof(cj->err));
}

static int
text_is(const struct auditfmt_text *t, const char *s)
{
	return t->p != NULL && t->len == strlen(s) &&
	    memcmp(t->p, s, t->len) == 0;
}

static int
matches(const struct search *p, const struct auditfmt_record *r)
{
	return (p->user[0] == '\0' || text_is(&r->user, p->user)) &&
	    (p->interface[0] == '\0' || text_is(&r->interface,
	    p->interface)) &&
	    (p->transfer[0] == '\0' || text_is(&r->transfer, p->transfer)) &&
	    (p->type[0] == '\0' || text_is(&r->type, p->type));
}

/* Text cut to at most max bytes on a character boundary. */
static int
set_cut(struct wire_msg *m, const char *key, const struct auditcsv_cell *c,
    size_t max, int *truncated)
{
	char buf[WIRE_MAX_DETAILS + 1];
	size_t n;

	if (c->p == NULL || c->len == 0)
		return 0;
	n = c->len;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)c->p[n] & 0xc0) == 0x80)
			n--;
		*truncated = 1;
	}
	if (n > WIRE_MAX_DETAILS)
		n = WIRE_MAX_DETAILS;
	memcpy(buf, c->p, n);
	buf[n] = '\0';
	return wire_msg_set_text(m, key, buf);
}

static int32_t
zone_offset(const void *ctx, int64_t t)
{
	return tzone_offset(ctx, t);
}

static const struct {
	const char *key;
	enum auditcsv_col col;
	size_t max;
} record_texts[] = {
	{ "time", AUDITCSV_TIME, WIRE_MAX_CODE },
	{ "time_local", AUDITCSV_LOCAL_TIME, WIRE_MAX_CODE },
	{ "clock", AUDITCSV_CLOCK, WIRE_MAX_CODE },
	{ "type", AUDITCSV_TYPE, WIRE_MAX_CODE },
	{ "user", AUDITCSV_USER, WIRE_MAX_TEXT },
	{ "dept", AUDITCSV_DEPT, WIRE_MAX_TEXT },
	{ "terminal", AUDITCSV_TERMINAL, WIRE_MAX_TEXT },
	{ "cert_fp", AUDITCSV_CERT_FP, 2 * WIRE_MAX_TOKEN },
	{ "peer", AUDITCSV_PEER, WIRE_MAX_TEXT },
	{ "transfer", AUDITCSV_TRANSFER, WIRE_MAX_TOKEN },
	{ "interface", AUDITCSV_INTERFACE, WIRE_MAX_TOKEN },
	{ "service", AUDITCSV_SERVICE, WIRE_MAX_TEXT },
	{ "name", AUDITCSV_NAME, WIRE_MAX_NAME },
	{ "state", AUDITCSV_STATE, WIRE_MAX_TEXT },
	{ "result", AUDITCSV_RESULT, WIRE_MAX_TEXT },
	{ "reason", AUDITCSV_REASON, WIRE_MAX_TEXT },
	{ "comment", AUDITCSV_COMMENT, WIRE_MAX_TEXT },
};

/* The message of one flattened record: texts cut to cap (and their own
 * bound), details when with_details. 0, or -1 (out of memory). */
static int
fill_record(struct wire_msg *m, uint64_t id, const struct tzone *tz,
    const struct auditfmt_record *r, const struct auditcsv_row *row,
    size_t cap, int with_details, int truncated)
{
	size_t i;
	int rc = 0;

	wire_msg_init(m, WIRE_OP_AUDIT_RECORD, id);
	rc |= wire_msg_set_uint(m, "seq", r->seq);
	rc |= wire_msg_set_text(m, "zone", tzone_name(tz));
	for (i = 0; i < sizeof(record_texts) / sizeof(record_texts[0]); i++)
		rc |= set_cut(m, record_texts[i].key,
		    &row->cell[record_texts[i].col], record_texts[i].max < cap ?
		    record_texts[i].max : cap, &truncated);
	if (row->has_class)
		rc |= wire_msg_set_uint(m, "class", row->class);
	if (row->has_size)
		rc |= wire_msg_set_uint(m, "size", row->size);
	for (i = 0; i < r->ndetails; i++)
		if (r->details[i].key.len == 6 &&
		    memcmp(r->details[i].key.p, "sha256", 6) == 0 &&
		    r->details[i].type == AUDITFMT_V_BYTES &&
		    r->details[i].len == 32)
			rc |= wire_msg_set_bytes(m, "sha256", r->details[i].data,
			    32);
	/* Everything the record carries, as JSON, when it fits; else the
	 * flattened fields stand alone and say so. */
	if (with_details && row->details_len <= WIRE_MAX_DETAILS)
		rc |= wire_msg_set_text(m, "details", row->details);
	else
		truncated = 1;
	if (truncated)
		rc |= wire_msg_set_bool(m, "truncated", 1);
	if (rc != 0)
		wire_msg_clear(m);
	return rc != 0 ? -1 : 0;
}

/* One matching record as an audit_record message. */
static int
build_record(struct search *p, const uint8_t *rec, size_t len,
    const struct auditfmt_record *r, struct wire_msg *m)
{
	struct auditcsv_zone z = { zone_offset, p->tz };
	struct auditcsv_row row;
	struct wire_error we;
	uint8_t *enc = NULL;
	size_t enclen;
	char e[128];
	int rc;

	if (auditcsv_flatten(rec, len, r, &z, &row, e, sizeof(e)) != 0)
		return fail(p, "io_error", "record %" PRIu64 ": %s", r->seq,
		    e);
	rc = fill_record(m, p->req_id, p->tz, r, &row, SIZE_MAX, 1, 0);
	if (rc == 0 && wire_encode(m, &enc, &enclen, &we) != 0) {
		/* Over the size of one message: again, shorter. */
		wire_msg_clear(m);
		rc = fill_record(m, p->req_id, p->tz, r, &row, 256, 0, 1);
	}
	free(enc);
	auditcsv_row_clear(&row);
	if (rc != 0)
		return fail(p, "unavailable", "out of memory");
	return 0;
}

/* Reads the next chunk; calls each record through to its use. */
static int
work_chunk(struct commit_job *cj, struct commit_env *env)
{
	struct search *p = cj->arg;
	struct auditfmt_head h;
	uint64_t count = 0, want;
	size_t len = 0, off;
	char e[256];

	want = AUDITFMT_CHUNK_RECORDS;
	if (p->kind == K_SEARCH && p->scan_max - p->scanned < want)
		want = p->scan_max - p->scanned;
	if (audit_read(env->audit, &p->cur, p->end, want, p->buf, CHUNK_BYTES,
	    &len, &count, e, sizeof(e)) != 0)
		return fail(p, "io_error", "reading the trail: %s", e);
	if (count == 0)
		return fail(p, "io_error", "reading the trail: no record at %"
		    PRIu64, p->cur.seq);
	for (off = 0; off < len; off += h.len) {
		if (auditfmt_walk(p->buf + off, len - off, &h) != AUDITFMT_OK ||
		    auditfmt_decode(p->buf + off, h.len, p->rec, e,
		    sizeof(e)) != 0)
			return fail(p, "io_error", "the trail holds a record it "
			    "cannot read at %" PRIu64 " (run sekishod "
			    "--print-audit)", p->scanned);
		p->scanned++;
		if (p->kind == K_CSV) {
			struct auditcsv_zone z = { zone_offset, p->tz };
			struct auditcsv_row row;

			if (auditcsv_flatten(p->buf + off, h.len, p->rec, &z,
			    &row, e, sizeof(e)) != 0)
				return fail(p, "io_error", "%s", e);
			auditcsv_row_put(&p->csv, &row);
			auditcsv_row_clear(&row);
			if (p->csv.failed)
				return fail(p, "unavailable", "out of memory");
			p->rows++;
			continue;
		}
		if (!matches(p, p->rec))
			continue;
		if (build_record(p, p->buf + off, h.len, p->rec,
		    &p->out[p->nout]) != 0)
			return -1;
		p->nout++;
		p->last_seq = p->rec->seq;
		if (p->nout == p->limit)
			break;
	}
	return 0;
}

/* ---- loop thread ----------------------------------------------------------- */

static void
send_failure(struct search *p)
{
	char q[300];

	log_kv("error", p->kind == K_SEARCH ? "audit_search" : "audit_csv",
	    "user=%s code=%s reason=%s", p->who.user, p->code[0] != '\0' ?
	    p->code : "unavailable", log_quote(p->job.err, q, sizeof(q)));
	reqconn_send_error(p->s, p->req_id, p->code[0] != '\0' ? p->code :
	    "unavailable", p->code[0] != '\0' ? p->job.err : "the broker "
	    "could not read its audit trail; try again later", NULL, 0);
}

static void
search_done(struct commit_job *cj, int status)
{
	struct search *p = cj->arg;

	if (reqconn_ending(p->s)) {
		search_free(p);
		return;
	}
	if (status != 0) {
		send_failure(p);
		search_free(p);
		return;
	}
	search_next(p);
}

/* Sends the answers, or reads on. */
static void
search_next(struct search *p)
{
	struct wire_msg m;
	char next[24];
	size_t i;
	int more;

	if (p->b->shutting_down) {
		util_strlcpy(p->code, "shutting_down", sizeof(p->code));
		util_strlcpy(p->job.err, "the broker is restarting; search "
		    "again in a moment", sizeof(p->job.err));
		send_failure(p);
		search_free(p);
		return;
	}
	if (p->nout < p->limit && p->cur.seq < p->end &&
	    p->scanned < p->scan_max) {
		p->job.work = work_chunk;
		committer_submit(p->b->committer, &p->job);
		return;
	}
	for (i = 0; i < p->nout; i++)
		reqconn_send(p->s, &p->out[i]);
	/* Where to go on: after the last record given when the limit was
	 * reached, after the last one read when the budget ran out. */
	wire_msg_init(&m, WIRE_OP_LISTED, p->req_id);
	wire_msg_set_uint(&m, "count", p->nout);
	if (p->nout == p->limit)
		more = p->last_seq + 1 < p->end;
	else
		more = p->cur.seq < p->end;
	if (more) {
		snprintf(next, sizeof(next), "%" PRIu64, p->nout == p->limit ?
		    p->last_seq : p->cur.seq - 1);
		wire_msg_set_text(&m, "next", next);
	}
	reqconn_send(p->s, &m);
	wire_msg_clear(&m);
	log_kv("info", "audit_search", "user=%s count=%zu scanned=%" PRIu64,
	    p->who.user, p->nout, p->scanned);
	search_free(p);
}

static void
csv_done(struct commit_job *cj, int status)
{
	struct search *p = cj->arg;
	size_t off = 0;

	if (reqconn_ending(p->s)) {
		search_free(p);
		return;
	}
	if (status != 0) {
		send_failure(p);
		search_free(p);
		return;
	}
	while (off < p->csv.len) {
		size_t n = p->csv.len - off < WIRE_MAX_CHUNK ?
		    p->csv.len - off : WIRE_MAX_CHUNK;

		reqconn_send_data(p->s, (const uint8_t *)p->csv.p + off, n);
		off += n;
	}
	p->csv.len = 0;
	csv_next(p);
}

static void
csv_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	csv_next(arg);
}

static void
csv_next(struct search *p)
{
	struct wire_msg m;

	if (reqconn_ending(p->s)) {
		search_free(p);
		return;
	}
	if (p->b->shutting_down) {
		util_strlcpy(p->code, "shutting_down", sizeof(p->code));
		util_strlcpy(p->job.err, "the broker is restarting; export "
		    "again in a moment", sizeof(p->job.err));
		send_failure(p);
		search_free(p);
		return;
	}
	if (p->cur.seq >= p->end) {
		wire_msg_init(&m, WIRE_OP_AUDIT_DONE, p->req_id);
		wire_msg_set_uint(&m, "count", p->rows);
		reqconn_send(p->s, &m);
		wire_msg_clear(&m);
		log_kv("info", "audit_csv", "user=%s from_seq=%" PRIu64
		    " count=%" PRIu64, p->who.user, p->start, p->rows);
		search_free(p);
		return;
	}
	if (reqconn_output_pending(p->s) > CSV_BACKLOG) {
		struct timeval tv = { 0, CSV_RETRY_MS * 1000 };

		if (p->retry == NULL)
			p->retry = evtimer_new(p->b->base, csv_retry, p);
		if (p->retry == NULL || evtimer_add(p->retry, &tv) != 0) {
			util_strlcpy(p->code, "unavailable", sizeof(p->code));
			util_strlcpy(p->job.err, "out of resources",
			    sizeof(p->job.err));
			send_failure(p);
			search_free(p);
		}
		return;
	}
	p->job.work = work_chunk;
	committer_submit(p->b->committer, &p->job);
}

/* "20260401" of instant t in the zone. */
static void
local_day(const struct tzone *tz, time_t t, char out[9])
{
	struct tm tm;
	time_t l = t + tzone_offset(tz, (int64_t)t);

	gmtime_r(&l, &tm);
	strftime(out, 9, "%Y%m%d", &tm);
}

static void
start_done(struct commit_job *cj, int status)
{
	struct search *p = cj->arg;
	struct wire_msg m;
	char name[64], d1[9], d2[9];
	time_t t;

	if (reqconn_ending(p->s)) {
		search_free(p);
		return;
	}
	if (status != 0) {
		send_failure(p);
		search_free(p);
		return;
	}
	p->job.done = p->kind == K_SEARCH ? search_done : csv_done;
	if (p->kind == K_SEARCH) {
		search_next(p);
		return;
	}
	/* The file is named by the period, in the register's days. */
	if (p->has_since &&
	    auditsearch_parse_when(p->since_in, p->tz, 0, &t) == 0)
		local_day(p->tz, t, d1);
	else
		util_strlcpy(d1, "start", sizeof(d1));
	if (p->has_until &&
	    auditsearch_parse_when(p->until_in, p->tz, 1, &t) == 0)
		local_day(p->tz, t, d2);
	else
		local_day(p->tz, time(NULL), d2);
	snprintf(name, sizeof(name), "sekisho-audit-%s-%s.csv", d1, d2);
	wire_msg_init(&m, WIRE_OP_AUDIT_CSV_HEAD, p->req_id);
	wire_msg_set_text(&m, "content_type", CSV_CONTENT_TYPE);
	wire_msg_set_text(&m, "filename", name);
	wire_msg_set_text(&m, "zone", tzone_name(p->tz));
	reqconn_send(p->s, &m);
	wire_msg_clear(&m);
	/* A byte order mark only for Japanese: Excel then reads UTF-8. */
	auditcsv_header(&p->csv, p->lang, p->lang == AUDITCSV_JA);
	if (p->csv.failed) {
		util_strlcpy(p->code, "unavailable", sizeof(p->code));
		util_strlcpy(p->job.err, "out of memory", sizeof(p->job.err));
		send_failure(p);
		search_free(p);
		return;
	}
	csv_done(&p->job, 0);
}

/* The common part of both requests: since and until. 0, or -1 answered. */
static int
take_period(struct reqconn *s, const struct wire_msg *m, struct search *p)
{
	const char *since = wire_msg_text(m, "since");
	const char *until = wire_msg_text(m, "until");
	time_t t1 = 0, t2 = 0;

	if (since != NULL && auditsearch_parse_when(since, p->tz, 0,
	    &t1) != 0) {
		reqconn_send_error(s, m->id, "bad_value", "since is not a "
		    "time: give a date (2026-04-01, a day in the register's "
		    "time zone) or an RFC 3339 time (2026-04-01T09:00:00+09:00"
		    ", 2026-04-01T00:00:00Z)", "since", 0);
		return -1;
	}
	if (until != NULL && auditsearch_parse_when(until, p->tz, 1,
	    &t2) != 0) {
		reqconn_send_error(s, m->id, "bad_value", "until is not a "
		    "time: give a date (2026-06-30, a day in the register's "
		    "time zone) or an RFC 3339 time (2026-06-30T18:00:00+09:00"
		    ", 2026-06-30T09:00:00Z)", "until", 0);
		return -1;
	}
	if (since != NULL && until != NULL && t2 < t1) {
		reqconn_send_error(s, m->id, "bad_value", "the period ends "
		    "before it starts: until is earlier than since", "until",
		    0);
		return -1;
	}
	if (since != NULL) {
		p->has_since = 1;
		util_strlcpy(p->since_in, since, sizeof(p->since_in));
		util_time_rfc3339(t1, p->since);
	}
	if (until != NULL) {
		p->has_until = 1;
		util_strlcpy(p->until_in, until, sizeof(p->until_in));
		util_time_rfc3339(t2, p->until);
		util_time_rfc3339(t2 + 1, p->until_next);
	}
	return 0;
}

static struct search *
search_new(struct reqconn *s, const struct wire_msg *m, enum kind kind)
{
	const struct tzone *rz = policy_interface_zone(s->b->policy, NULL);
	struct search *p;
	char e[128];

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->buf = malloc(CHUNK_BYTES)) == NULL ||
	    (p->rec = malloc(sizeof(*p->rec))) == NULL ||
	    tzone_load(tzone_name(rz), &p->tz, e, sizeof(e)) != 0) {
		if (p != NULL) {
			free(p->buf);
			free(p->rec);
			free(p);
		}
		reqconn_send_error(s, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		return NULL;
	}
	p->kind = kind;
	p->scan_max = scan_max();
	p->s = s;
	p->b = s->b;
	p->req_id = m->id;
	p->who = s->who;
	util_strlcpy(p->peer, s->peer, sizeof(p->peer));
	return p;
}

static void
search_drop(struct search *p)
{
	tzone_free(p->tz);
	free(p->buf);
	free(p->rec);
	free(p->out);
	free(p);
}

static void
search_start(struct reqconn *s, struct search *p)
{
	p->job.work = work_start;
	p->job.done = start_done;
	p->job.arg = p;
	reqconn_wait(s);
	committer_submit(p->b->committer, &p->job);
}

void
auditsearch_handle_search(struct reqconn *s, const struct wire_msg *m)
{
	static const char *const keys[] = { "user", "interface", "transfer",
	    "type" };
	struct search *p;
	uint64_t limit = AUDITSEARCH_LIMIT;
	size_t i;

	if ((p = search_new(s, m, K_SEARCH)) == NULL)
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = wire_msg_text(m, keys[i]);
		char *dst = i == 0 ? p->user : i == 1 ? p->interface :
		    i == 2 ? p->transfer : p->type;

		if (v != NULL && v[0] == '\0') {
			reqconn_send_error(s, m->id, "bad_value", "an empty "
			    "filter matches nothing: leave the field out to "
			    "match every record", keys[i], 0);
			search_drop(p);
			return;
		}
		if (v != NULL)
			util_strlcpy(dst, v, WIRE_MAX_TOKEN + 1);
	}
	if (p->transfer[0] != '\0' && !util_is_id(p->transfer)) {
		reqconn_send_error(s, m->id, "bad_value", "transfer is not a "
		    "transfer id (32 lowercase hex digits)", "transfer", 0);
		search_drop(p);
		return;
	}
	p->has_after = wire_msg_uint(m, "after", &p->after) == 0;
	(void)wire_msg_uint(m, "limit", &limit);
	p->limit = (unsigned)limit;	/* the schema bounds it: 1..500 */
	if (take_period(s, m, p) != 0) {
		search_drop(p);
		return;
	}
	if ((p->out = calloc(p->limit, sizeof(*p->out))) == NULL) {
		reqconn_send_error(s, m->id, "unavailable", "the broker is out "
		    "of resources; try again later", NULL, 30);
		search_drop(p);
		return;
	}
	search_start(s, p);
}

void
auditsearch_handle_csv(struct reqconn *s, const struct wire_msg *m)
{
	const char *header = wire_msg_text(m, "header");
	struct search *p;

	if ((p = search_new(s, m, K_CSV)) == NULL)
		return;
	if (header != NULL && strcmp(header, "ja") != 0 &&
	    strcmp(header, "en") != 0) {
		reqconn_send_error(s, m->id, "bad_value", "header is ja "
		    "(Japanese headings, with a byte order mark for Excel) or "
		    "en", "header", 0);
		search_drop(p);
		return;
	}
	p->lang = header != NULL && strcmp(header, "ja") == 0 ? AUDITCSV_JA :
	    AUDITCSV_EN;
	if (take_period(s, m, p) != 0) {
		search_drop(p);
		return;
	}
	search_start(s, p);
}
