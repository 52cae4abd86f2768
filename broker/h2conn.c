/*
 * h2conn — see h2conn.h.
 *
 * nghttp2 is driven in memory (nghttp2_session_mem_recv/mem_send) over the
 * connection's bufferevent, so the TLS, the timeouts and the loop are the
 * same as for sekisho/1. nghttp2 callbacks never free the connection: they
 * only record what happened (an abuse to answer with GOAWAY); the event
 * callbacks act on it once nghttp2 has returned.
 */
#include "broker/h2conn.h"
#include "broker/admission.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/request.h"
#include "broker/stepup.h"
#include "broker/tlsserver.h"
#include "broker/web.h"
#include "broker/webapi.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#define H2_MAX_PATH 1024
/* Seconds a connection that got GOAWAY may take to read it: one that does
 * not read would otherwise hold its slot until the idle timeout. */
#define H2_END_GRACE 5
#define H2_MAX_FIELD 255

struct h2stream {
	int32_t id;
	size_t header_bytes;		/* as SETTINGS_MAX_HEADER_LIST_SIZE counts */
	char method[16];
	char path[H2_MAX_PATH + 1];	/* "" when too long: matches nothing */
	char authority[H2_MAX_FIELD + 1];
	char origin[H2_MAX_FIELD + 1];
	int has_origin;
	int origin_bad;			/* repeated or too long: refused */
	int custom;
	int answered;
	struct web_response resp;
	size_t sent;			/* body bytes handed to nghttp2 */
	/* the API (webapi.h): its state, the headers it reads, its answer */
	struct h2conn *conn;
	struct webapi_stream *api;
	char content_type[H2_MAX_FIELD + 1];
	char tus_resumable[16];
	char upload_length[24];
	char upload_offset[24];
	char otp[24];
	char *upload_metadata;		/* malloc'd, WEBAPI_MAX_HEADER */
	struct evbuffer *out;		/* answer bytes not yet framed */
	int out_end;			/* the answer's body is complete */
	int req_ended;			/* the request's END_STREAM came */
	int upload;			/* counted in c->uploads */
	TAILQ_ENTRY(h2stream) entry;
};

struct h2conn {
	/* the request layer's view of the connection: broker, principal and
	 * peer, as the session proved them (request.h). No responder yet
	 * (ops NULL): no request of the layer is answered over h2 until the
	 * JSON API is. */
	struct reqconn req;
	struct bufferevent *bev;
	nghttp2_session *h2;
	char source[ADMISSION_SOURCE_LEN];
	struct event *timer;		/* max_session_lifetime */
	struct event *kick;		/* sends what the API queued */
	int ending;			/* GOAWAY queued: close once written */
	int out_blocked;		/* reading stopped: output above the mark */
	int freed;
	unsigned uploads;		/* PATCH streams of the API */
	char abuse[160];		/* set by a callback: end with GOAWAY */
	char end_why[200];		/* why the broker ended it (GOAWAY) */
	time_t reset_start;		/* the current reset interval */
	unsigned resets;		/* streams reset in it */
	/* the streams with user data: nghttp2_session_del frees its own
	 * streams without calling on_stream_close */
	TAILQ_HEAD(, h2stream) streams;
	TAILQ_ENTRY(h2conn) entry;
};

static void h2_process(struct h2conn *c);

/* From now on the connection only writes what is queued, for at most
 * H2_END_GRACE seconds (h2_timer_cb). */
static void
h2_ending(struct h2conn *c)
{
	struct timeval tv = { H2_END_GRACE, 0 };

	c->ending = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (c->timer != NULL)
		evtimer_add(c->timer, &tv);
}

/* ---- ending -------------------------------------------------------------- */

static void
h2_audit_end(struct h2conn *c, const char *type, const char *why)
{
	struct auditrec rec;

	auditrec_init(&rec, type, &c->req.who, c->req.peer);
	auditrec_text(&rec, "protocol", "h2");
	auditrec_text(&rec, "reason", why);
	request_audit(c->req.b, &rec);
}

static void
stream_free(struct h2conn *c, struct h2stream *st)
{
	TAILQ_REMOVE(&c->streams, st, entry);
	if (st->upload)
		c->uploads--;
	if (st->api != NULL)
		webapi_gone(st->api);
	web_response_clear(&st->resp);
	if (st->out != NULL)
		evbuffer_free(st->out);
	/* One-time codes travel in these. */
	OPENSSL_cleanse(st->otp, sizeof(st->otp));
	if (st->upload_metadata != NULL) {
		OPENSSL_cleanse(st->upload_metadata,
		    strlen(st->upload_metadata));
		free(st->upload_metadata);
	}
	free(st);
}

static void
h2_free(struct h2conn *c)
{
	struct broker *b = c->req.b;

	if (c->freed)
		return;
	c->freed = 1;
	TAILQ_REMOVE(&b->h2conns, c, entry);
	b->nsessions--;
	admission_leave(b->admission, c->source);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->kick != NULL)
		event_free(c->kick);
	if (c->h2 != NULL)
		nghttp2_session_del(c->h2);
	while (!TAILQ_EMPTY(&c->streams))
		stream_free(c, TAILQ_FIRST(&c->streams));
	if (c->bev != NULL) {
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

		/* Best effort close_notify; a peer that is gone is fine. */
		if (ssl != NULL)
			SSL_shutdown(ssl);
		ERR_clear_error();
		bufferevent_free(c->bev);
	}
	free(c);
}

/* Ends the connection now, logged and audited. */
static void
h2_close(struct h2conn *c, const char *why)
{
	char q[300];

	log_kv("info", "disconnect", "user=%s peer=%s protocol=h2 reason=%s",
	    c->req.who.user, c->req.peer, log_quote(why, q, sizeof(q)));
	h2_audit_end(c, "disconnect", why);
	h2_free(c);
}

/*
 * Sends what nghttp2 has queued while the output stays under the high
 * mark. 0, or -1 when the session failed (the caller closes).
 */
static int
h2_send(struct h2conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (evbuffer_get_length(out) < H2_OUT_HIGH) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);

		if (n < 0)	/* after a GOAWAY: nothing more to send */
			return c->ending ? 0 : -1;
		if (n == 0)
			break;
		if (evbuffer_add(out, data, (size_t)n) != 0)
			return -1;
	}
	return 0;
}

/*
 * GOAWAY with code, then close once it is written; nothing more is read or
 * sent (a revoked certificate's download stops here). why goes to the
 * log and the audit record when the connection closes.
 */
static void
h2_goaway(struct h2conn *c, uint32_t code, const char *why)
{
	if (c->ending)
		return;
	util_strlcpy(c->end_why, why, sizeof(c->end_why));
	h2_ending(c);
	(void)nghttp2_session_terminate_session(c->h2, code);
	(void)h2_send(c);
}

/* Closes a connection that is done: GOAWAY written, or nothing left for
 * nghttp2 to do either way. 1 when c was freed. */
static int
h2_settle(struct h2conn *c, const char *why)
{
	size_t pending = evbuffer_get_length(bufferevent_get_output(c->bev));

	if (c->ending && pending == 0) {
		h2_close(c, why);
		return 1;
	}
	if (!c->ending && !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2)) {
		h2_ending(c);
		if (pending == 0) {
			h2_close(c, why);
			return 1;
		}
	}
	return 0;
}

/* ---- answers --------------------------------------------------------------- */

static ssize_t
body_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2stream *st = src->ptr;
	size_t n = st->resp.len - st->sent;

	(void)h2;
	(void)id;
	(void)arg;
	if (n > len)
		n = len;
	memcpy(buf, st->resp.body + st->sent, n);
	st->sent += n;
	if (st->sent == st->resp.len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Copied by nghttp2_submit_response: some values live on the stack. */
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), \
	NGHTTP2_NV_FLAG_NONE }

/* Submits st->resp, an answer built whole. */
static void
h2_submit_static(struct h2conn *c, struct h2stream *st)
{
	const struct web_header *sec;
	nghttp2_nv nv[24];
	nghttp2_data_provider prd;
	char status[8], clen[24];
	size_t nsec, i, n = 0;
	int head;

	snprintf(status, sizeof(status), "%d", st->resp.status);
	snprintf(clen, sizeof(clen), "%zu", st->resp.len);
	{
		nghttp2_nv a = NV(":status", status);
		nghttp2_nv t = NV("content-type", st->resp.content_type);
		nghttp2_nv l = NV("content-length", clen);
		nghttp2_nv cc = NV("cache-control", st->resp.no_store ?
		    "no-store" : "no-cache");

		nv[n++] = a;
		nv[n++] = t;
		nv[n++] = l;
		nv[n++] = cc;
	}
	if (st->resp.allow != NULL) {
		nghttp2_nv al = NV("allow", st->resp.allow);

		nv[n++] = al;
	}
	sec = web_security_headers(&nsec);
	for (i = 0; i < nsec && n < sizeof(nv) / sizeof(nv[0]); i++) {
		nghttp2_nv h = NV(sec[i].name, sec[i].value);

		nv[n++] = h;
	}
	head = strcmp(st->method, "HEAD") == 0;
	prd.source.ptr = st;
	prd.read_callback = body_read;
	if (nghttp2_submit_response(c->h2, st->id, nv, n,
	    head || st->resp.len == 0 ? NULL : &prd) != 0)
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_INTERNAL_ERROR);
}

static void
h2_answer(struct h2conn *c, struct h2stream *st)
{
	struct web_request rq;

	st->answered = 1;
	memset(&rq, 0, sizeof(rq));
	rq.method = st->method;
	rq.path = st->path;
	rq.authority = st->authority[0] != '\0' ? st->authority : NULL;
	rq.origin = st->has_origin && !st->origin_bad ? st->origin : NULL;
	rq.custom = st->custom;
	web_route(c->req.b->web, c->req.b->cfg->web_origin, &rq, &c->req.who,
	    &st->resp);
	if (st->resp.status == 403) {
		char q1[80], q2[300];

		log_kv("warn", "web_refuse", "user=%s peer=%s code=%s "
		    "method=%s origin=%s", c->req.who.user, c->req.peer,
		    st->resp.code, log_quote(st->method, q1, sizeof(q1)),
		    log_quote(rq.origin != NULL ? rq.origin : "-", q2,
		    sizeof(q2)));
	}
	h2_submit_static(c, st);
}


/* ---- the API's streams (webapi.h) ------------------------------------------- */

/* Sends what the API queued, from the loop (never from inside nghttp2). */
static void
h2_kick(struct h2conn *c)
{
	if (!c->freed && c->kick != NULL)
		event_active(c->kick, EV_TIMEOUT, 0);
}

static void
h2_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	h2_process(arg);
}

static ssize_t
api_body_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2stream *st = src->ptr;
	size_t have = evbuffer_get_length(st->out);
	int n;

	(void)h2;
	(void)id;
	(void)arg;
	if (have == 0) {
		if (!st->out_end)
			return NGHTTP2_ERR_DEFERRED;
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return 0;
	}
	if ((n = evbuffer_remove(st->out, buf, len)) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (st->out_end && evbuffer_get_length(st->out) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return n;
}

static int
api_head(void *t, int status, const struct web_header *h, size_t n,
    int body)
{
	struct h2stream *st = t;
	struct h2conn *c = st->conn;
	const struct web_header *sec;
	nghttp2_nv nv[32];
	nghttp2_data_provider prd;
	char code[8];
	size_t nsec, i, k = 0;

	snprintf(code, sizeof(code), "%d", status);
	{
		nghttp2_nv a = NV(":status", code);

		nv[k++] = a;
	}
	for (i = 0; i < n && k < 20; i++) {
		nghttp2_nv x = NV(h[i].name, h[i].value);

		nv[k++] = x;
	}
	sec = web_security_headers(&nsec);
	for (i = 0; i < nsec && k < sizeof(nv) / sizeof(nv[0]); i++) {
		nghttp2_nv x = NV(sec[i].name, sec[i].value);

		nv[k++] = x;
	}
	st->answered = 1;
	if (status == 403 || status == 401) {
		char q[80];

		log_kv("warn", "web_refuse", "user=%s peer=%s status=%d "
		    "method=%s", c->req.who.user, c->req.peer, status,
		    log_quote(st->method, q, sizeof(q)));
	}
	prd.source.ptr = st;
	prd.read_callback = api_body_read;
	if (nghttp2_submit_response(c->h2, st->id, nv, k,
	    body ? &prd : NULL) != 0) {
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_INTERNAL_ERROR);
		h2_kick(c);
		return -1;
	}
	h2_kick(c);
	return 0;
}

static int
api_body(void *t, const uint8_t *p, size_t len)
{
	struct h2stream *st = t;

	if (evbuffer_add(st->out, p, len) != 0)
		return -1;
	(void)nghttp2_session_resume_data(st->conn->h2, st->id);
	h2_kick(st->conn);
	return 0;
}

static void
api_end(void *t)
{
	struct h2stream *st = t;

	st->out_end = 1;
	(void)nghttp2_session_resume_data(st->conn->h2, st->id);
	h2_kick(st->conn);
}

static void
api_reset(void *t)
{
	struct h2stream *st = t;

	nghttp2_submit_rst_stream(st->conn->h2, NGHTTP2_FLAG_NONE, st->id,
	    NGHTTP2_INTERNAL_ERROR);
	h2_kick(st->conn);
}

static size_t
api_pending(void *t)
{
	struct h2stream *st = t;

	return evbuffer_get_length(st->out) +
	    evbuffer_get_length(bufferevent_get_output(st->conn->bev));
}

static void
api_consume(void *t, size_t n)
{
	struct h2stream *st = t;

	(void)nghttp2_session_consume_stream(st->conn->h2, st->id, n);
	h2_kick(st->conn);
}

static int
api_ending(void *t)
{
	struct h2stream *st = t;

	return st->conn->ending || st->conn->abuse[0] != '\0';
}

static const struct webapi_io api_io = {
	.head = api_head,
	.body = api_body,
	.end = api_end,
	.reset = api_reset,
	.pending = api_pending,
	.consume = api_consume,
	.ending = api_ending,
};

/* Starts an API request at the end of its headers. 1 when the API took
 * it; 0 when h2_answer answers it (not the API's, or refused by the
 * same-origin rule: h2_answer says so). */
static int
api_start(struct h2conn *c, struct h2stream *st, int ended)
{
	struct web_request rq;
	struct webapi_req ar;

	if (!webapi_handles(st->path))
		return 0;
	memset(&rq, 0, sizeof(rq));
	rq.method = st->method;
	rq.path = st->path;
	rq.authority = st->authority[0] != '\0' ? st->authority : NULL;
	rq.origin = st->has_origin && !st->origin_bad ? st->origin : NULL;
	rq.custom = st->custom;
	if (!web_origin_ok(c->req.b->cfg->web_origin, &rq))
		return 0;
	/* Each upload may hold a stream window of body in the broker: a few
	 * per connection, as a page sends a few files at once. */
	if (strcmp(st->method, "PATCH") == 0) {
		if (c->uploads >= H2_MAX_UPLOADS) {
			char en[120];

			snprintf(en, sizeof(en), "at most %u uploads at once on "
			    "one connection; send this one when another has "
			    "finished", H2_MAX_UPLOADS);
			web_error(&st->resp, 429, "too_many_uploads", "同時に"
			    "送れるファイルの数を超えています。ほかの送信が終わって"
			    "から送ってください。", en);
			st->answered = 1;
			h2_submit_static(c, st);
			return 1;
		}
		st->upload = 1;
		c->uploads++;
	}
	memset(&ar, 0, sizeof(ar));
	ar.method = st->method;
	ar.path = st->path;
#define OPT(f) (st->f[0] != '\0' ? st->f : NULL)
	ar.content_type = OPT(content_type);
	ar.tus_resumable = OPT(tus_resumable);
	ar.upload_length = OPT(upload_length);
	ar.upload_offset = OPT(upload_offset);
	ar.otp = OPT(otp);
#undef OPT
	ar.upload_metadata = st->upload_metadata;
	st->conn = c;
	st->answered = 1;
	if ((st->out = evbuffer_new()) == NULL ||
	    (st->api = webapi_begin(c->req.b, &c->req.who, c->req.peer, &ar,
	    &api_io, st)) == NULL) {
		web_error(&st->resp, 503, "unavailable", "関所が一時的に応答でき"
		    "ません。時間をおいてやり直してください。", "the broker is out "
		    "of memory; try again later");
		h2_submit_static(c, st);
		return 1;
	}
	/* A GET is answered at the end of its headers, whatever follows
	 * (a body is not read). */
	if (ended || strcmp(st->method, "GET") == 0 ||
	    strcmp(st->method, "HEAD") == 0) {
		st->req_ended = 1;
		webapi_body_end(st->api);
	}
	return 1;
}

/* ---- nghttp2 callbacks -------------------------------------------------------- */

/* Records an abuse; the GOAWAY goes out once nghttp2 returns. */
static void
h2_abuse(struct h2conn *c, const char *why)
{
	if (c->abuse[0] == '\0')
		util_strlcpy(c->abuse, why, sizeof(c->abuse));
	nghttp2_session_terminate_session(c->h2, NGHTTP2_ENHANCE_YOUR_CALM);
}

static int
on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame,
    void *arg)
{
	struct h2conn *c = arg;
	struct h2stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (c->abuse[0] != '\0' || c->ending)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	st->id = frame->hd.stream_id;
	if (nghttp2_session_set_stream_user_data(h2, st->id, st) != 0) {
		free(st);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	TAILQ_INSERT_TAIL(&c->streams, st, entry);
	return 0;
}

static void
copy_field(char *dst, size_t dstlen, const uint8_t *v, size_t vlen,
    int *too_long)
{
	if (vlen >= dstlen) {
		dst[0] = '\0';
		if (too_long != NULL)
			*too_long = 1;
		return;
	}
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

static int
on_header(nghttp2_session *h2, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *arg)
{
	struct h2conn *c = arg;
	struct h2stream *st;
	int dummy = 0;

	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    (st = nghttp2_session_get_stream_user_data(h2,
	    frame->hd.stream_id)) == NULL)
		return 0;
	/* nghttp2 does not enforce the header list size it advertised: a
	 * stream of headers (one HEADERS and its CONTINUATIONs) costs its
	 * bytes here, and past the bound the connection ends. */
	st->header_bytes += namelen + valuelen + 32;
	if (st->header_bytes > H2_MAX_HEADER_LIST) {
		char why[100];

		snprintf(why, sizeof(why), "header list larger than SETTINGS_"
		    "MAX_HEADER_LIST_SIZE (%u bytes)", H2_MAX_HEADER_LIST);
		h2_abuse(c, why);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
#define IS(s) (namelen == sizeof(s) - 1 && memcmp(name, s, namelen) == 0)
	if (IS(":method"))
		copy_field(st->method, sizeof(st->method), value, valuelen,
		    &dummy);
	else if (IS(":path"))
		copy_field(st->path, sizeof(st->path), value, valuelen, &dummy);
	else if (IS(":authority") || (IS("host") && st->authority[0] == '\0'))
		copy_field(st->authority, sizeof(st->authority), value,
		    valuelen, &dummy);
	else if (IS("origin")) {
		if (st->has_origin)
			st->origin_bad = 1;
		st->has_origin = 1;
		copy_field(st->origin, sizeof(st->origin), value, valuelen,
		    &st->origin_bad);
	} else if (IS(WEB_CUSTOM_HEADER))
		st->custom = valuelen == 1 && value[0] == '1';
	else if (IS("content-type"))
		copy_field(st->content_type, sizeof(st->content_type), value,
		    valuelen, &dummy);
	else if (IS("tus-resumable"))
		copy_field(st->tus_resumable, sizeof(st->tus_resumable), value,
		    valuelen, &dummy);
	else if (IS("upload-length"))
		copy_field(st->upload_length, sizeof(st->upload_length), value,
		    valuelen, &dummy);
	else if (IS("upload-offset"))
		copy_field(st->upload_offset, sizeof(st->upload_offset), value,
		    valuelen, &dummy);
	else if (IS("x-sekisho-otp"))
		copy_field(st->otp, sizeof(st->otp), value, valuelen, &dummy);
	else if (IS("upload-metadata") && st->upload_metadata == NULL &&
	    valuelen < WEBAPI_MAX_HEADER &&
	    (st->upload_metadata = malloc(valuelen + 1)) != NULL) {
		memcpy(st->upload_metadata, value, valuelen);
		st->upload_metadata[valuelen] = '\0';
	}
#undef IS
	return 0;
}

static int
on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *arg)
{
	struct h2conn *c = arg;
	struct h2stream *st;
	int ended = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	(void)h2;
	if ((frame->hd.type != NGHTTP2_HEADERS &&
	    frame->hd.type != NGHTTP2_DATA) || c->ending ||
	    c->abuse[0] != '\0' ||
	    (st = nghttp2_session_get_stream_user_data(h2,
	    frame->hd.stream_id)) == NULL)
		return 0;
	if (frame->hd.type == NGHTTP2_DATA) {
		if (ended && !st->req_ended) {
			st->req_ended = 1;
			if (st->api != NULL)
				webapi_body_end(st->api);
		}
		return 0;
	}
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST || st->answered)
		return 0;
	/* Answered, or handed to the API, at the end of the headers: what
	 * a request may do is decided before its body is read (a
	 * cross-origin POST never gets its body looked at). */
	if (api_start(c, st, ended))
		return 0;
	st->req_ended = ended;
	h2_answer(c, st);
	return 0;
}

static int
on_data_chunk_recv(nghttp2_session *h2, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct h2stream *st = nghttp2_session_get_stream_user_data(h2, id);

	(void)flags;
	(void)arg;
	/* The connection's window opens at once: what waits is bounded by
	 * each stream's window, which opens only as the API takes the
	 * bytes (an upload: once they are in the spool file). */
	(void)nghttp2_session_consume_connection(h2, len);
	if (st != NULL && st->api != NULL && !st->req_ended) {
		webapi_body(st->api, data, len);
		return 0;
	}
	(void)nghttp2_session_consume_stream(h2, id, len);
	return 0;
}

static int
on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *arg)
{
	struct h2stream *st;

	(void)arg;
	if ((frame->hd.type != NGHTTP2_HEADERS &&
	    frame->hd.type != NGHTTP2_DATA) ||
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0 ||
	    (st = nghttp2_session_get_stream_user_data(h2,
	    frame->hd.stream_id)) == NULL || st->req_ended)
		return 0;
	/* The answer is complete while the client still sends (a refused
	 * upload): tell it to stop (RFC 9113 §8.1). */
	(void)nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE,
	    frame->hd.stream_id, NGHTTP2_NO_ERROR);
	return 0;
}

static int
on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code, void *arg)
{
	struct h2conn *c = arg;
	struct h2stream *st = nghttp2_session_get_stream_user_data(h2, id);
	time_t now;

	if (st != NULL) {
		nghttp2_session_set_stream_user_data(h2, id, NULL);
		stream_free(c, st);
	}
	if (code == NGHTTP2_NO_ERROR)
		return 0;
	/* Rapid reset (CVE-2023-44487): streams opened and reset cost the
	 * broker work and the client nothing. A budget per interval;
	 * browsers cancel a few streams, not a hundred in seconds. */
	now = time(NULL);
	if (now - c->reset_start >= H2_RESET_INTERVAL) {
		c->reset_start = now;
		c->resets = 0;
	}
	if (++c->resets > H2_RESET_BUDGET) {
		char why[120];

		snprintf(why, sizeof(why), "too many streams reset (more than "
		    "%u within %us)", H2_RESET_BUDGET, H2_RESET_INTERVAL);
		h2_abuse(c, why);
	}
	return 0;
}

/* ---- events ---------------------------------------------------------------- */

static void
h2_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	h2_process(arg);
}

static int
output_full(struct h2conn *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= H2_OUT_HIGH)
		return 0;
	if (!c->out_blocked) {
		c->out_blocked = 1;
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_setwatermark(c->bev, EV_WRITE, H2_OUT_LOW, 0);
	}
	return 1;
}

static void
h2_write_cb(struct bufferevent *bev, void *arg)
{
	struct h2conn *c = arg;

	(void)bev;
	if (h2_send(c) != 0) {
		h2_close(c, "HTTP/2 session failed while sending");
		return;
	}
	if (h2_settle(c, c->abuse[0] != '\0' ? c->abuse :
	    c->end_why[0] != '\0' ? c->end_why :
	    "connection ended by the broker (GOAWAY)"))
		return;
	if (c->out_blocked && !c->ending &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	    H2_OUT_LOW) {
		c->out_blocked = 0;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		bufferevent_enable(c->bev, EV_READ);
		h2_process(c);
	}
}

static void
h2_report_abuse(struct h2conn *c)
{
	char q[200];

	log_kv("warn", "h2_abuse", "user=%s peer=%s reason=%s", c->req.who.user,
	    c->req.peer, log_quote(c->abuse, q, sizeof(q)));
	h2_ending(c);
}

static void
h2_process(struct h2conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t avail;

	while (!c->ending && !output_full(c) &&
	    (avail = evbuffer_get_length(in)) > 0) {
		struct evbuffer_iovec v;
		size_t n;
		ssize_t rv;

		/* The first chunk as it lies in the buffer, no copy: nghttp2
		 * keeps a frame cut between chunks itself. */
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
			h2_close(c, "out of memory");
			return;
		}
		n = v.iov_len < avail ? v.iov_len : avail;
		rv = nghttp2_session_mem_recv(c->h2, v.iov_base, n);
		if (rv < 0) {
			char why[160];

			/* nghttp2 has queued its GOAWAY where the protocol
			 * asks for one: send it, then close. */
			snprintf(why, sizeof(why), "HTTP/2 protocol error: %s",
			    nghttp2_strerror((int)rv));
			if (c->abuse[0] == '\0')
				util_strlcpy(c->abuse, why, sizeof(c->abuse));
			/* a fatal error queues no GOAWAY itself */
			(void)nghttp2_session_terminate_session(c->h2,
			    NGHTTP2_ENHANCE_YOUR_CALM);
			h2_report_abuse(c);
			evbuffer_drain(in, evbuffer_get_length(in));
			break;
		}
		evbuffer_drain(in, (size_t)rv);
		if (c->abuse[0] != '\0') {
			h2_report_abuse(c);
			evbuffer_drain(in, evbuffer_get_length(in));
			break;
		}
		if (h2_send(c) != 0) {
			h2_close(c, "HTTP/2 session failed while sending");
			return;
		}
	}
	if (h2_send(c) != 0) {
		h2_close(c, "HTTP/2 session failed while sending");
		return;
	}
	(void)h2_settle(c, c->abuse[0] != '\0' ? c->abuse :
	    "HTTP/2 session ended (GOAWAY)");
}

static void
h2_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct h2conn *c = arg;
	char why[200];

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		util_strlcpy(why, "idle timeout", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		util_strlcpy(why, c->abuse[0] != '\0' ? c->abuse :
		    "client closed the connection", sizeof(why));
	else {
		unsigned long e = ERR_peek_error();

		snprintf(why, sizeof(why), "connection dropped without TLS "
		    "close_notify%s%s", e != 0 ? ": " : "",
		    e != 0 && ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "");
		ERR_clear_error();
	}
	h2_close(c, why);
}

static void
h2_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2conn *c = arg;
	char why[300];

	(void)fd;
	(void)what;
	if (c->ending) {
		snprintf(why, sizeof(why), "%s; the GOAWAY was not read within "
		    "%ds", c->abuse[0] != '\0' ? c->abuse : c->end_why[0] !=
		    '\0' ? c->end_why : "HTTP/2 session ended", H2_END_GRACE);
		h2_close(c, why);
		return;
	}
	snprintf(why, sizeof(why), "limits.max_session_lifetime (%" PRIu64
	    "s) reached", c->req.b->cfg->max_session_lifetime);
	log_kv("info", "session_expired", "user=%s peer=%s protocol=h2",
	    c->req.who.user, c->req.peer);
	h2_goaway(c, NGHTTP2_NO_ERROR, why);
	(void)h2_settle(c, why);
}

/* ---- start ------------------------------------------------------------------ */

static int
h2_session_new(struct h2conn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	int rc = -1;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return -1;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    on_stream_close);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb,
	    on_frame_send);
	/* Windows open as the broker takes the bytes (on_data_chunk_recv,
	 * api_consume), not as nghttp2 reads them. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	/* The library's own floods bounds, set explicitly (their defaults
	 * could change): CONTINUATION frames per header block, entries per
	 * SETTINGS frame, SETTINGS/PING ACKs queued for a peer not reading. */
	nghttp2_option_set_max_continuations(opt, H2_MAX_CONTINUATIONS);
	nghttp2_option_set_max_settings(opt, 16);
	nghttp2_option_set_max_outbound_ack(opt, 100);
	/* nghttp2's own rapid-reset limiter stays behind ours (h2_abuse). */
	nghttp2_option_set_stream_reset_rate_limit(opt, 2 * H2_RESET_BUDGET,
	    H2_RESET_BUDGET / H2_RESET_INTERVAL);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	if (nghttp2_session_server_new2(&c->h2, cb, c, opt) == 0 &&
	    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) == 0 &&
	    /* the connection window as large as a stream's */
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
	    (int32_t)H2_WINDOW) == 0)
		rc = 0;
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return rc;
}

int
h2conn_start(struct bufferevent *bev, const struct reqconn *from,
    const char *source)
{
	struct broker *b = from->b;
	const char *peer = from->peer;
	struct h2conn *c;
	struct timeval tv;

	if (admission_enter(b->admission, source,
	    b->cfg->max_connections_per_source) != 0) {
		log_kv("error", "accept", "peer=%s protocol=h2 reason=\"no "
		    "admission slot\"", peer);
		bufferevent_free(bev);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		admission_leave(b->admission, source);
		log_kv("error", "accept", "peer=%s protocol=h2 reason=\"out of "
		    "memory\"", peer);
		bufferevent_free(bev);
		return -1;
	}
	c->req.b = b;
	c->req.who = from->who;
	util_strlcpy(c->req.peer, peer, sizeof(c->req.peer));
	c->bev = bev;
	util_strlcpy(c->source, source, sizeof(c->source));
	c->reset_start = time(NULL);
	TAILQ_INIT(&c->streams);
	TAILQ_INSERT_TAIL(&b->h2conns, c, entry);
	b->nsessions++;
	if (h2_session_new(c) != 0 ||
	    (c->timer = evtimer_new(b->base, h2_timer_cb, c)) == NULL ||
	    (c->kick = event_new(b->base, -1, 0, h2_kick_cb, c)) == NULL) {
		h2_close(c, "out of memory");
		return -1;
	}
	tv.tv_sec = (time_t)b->cfg->max_session_lifetime;
	tv.tv_usec = 0;
	evtimer_add(c->timer, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0, H2_READ_HIGH);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_setcb(bev, h2_read_cb, h2_write_cb, h2_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	log_kv("info", "h2_start", "user=%s peer=%s", c->req.who.user,
	    c->req.peer);
	if (h2_send(c) != 0) {
		h2_close(c, "HTTP/2 session failed while sending");
		return -1;
	}
	/* The client's preface may have come with the handshake. */
	h2_process(c);
	return 0;
}

size_t
h2conn_recheck_certificates(struct broker *b)
{
	struct h2conn *c, *next;
	char why[256], q[300];
	size_t n = 0;

	for (c = TAILQ_FIRST(&b->h2conns); c != NULL; c = next) {
		SSL *ssl;
		int dropped;

		next = TAILQ_NEXT(c, entry);
		if (c->ending || (ssl = bufferevent_openssl_get_ssl(c->bev)) ==
		    NULL)
			continue;
		if (tlsserver_recheck(b->ssl_ctx, ssl, why, sizeof(why)) == 0)
			continue;
		dropped = b->grants != NULL &&
		    stepup_grant_drop(b->grants, c->req.who.cert_fp);
		log_kv("warn", "session_revoked", "user=%s peer=%s serial=%s "
		    "protocol=h2 stepup_dropped=%d reason=%s", c->req.who.user,
		    c->req.peer, c->req.who.serial, dropped, log_quote(why, q,
		    sizeof(q)));
		{
			struct auditrec rec;

			auditrec_init(&rec, "session_revoked", &c->req.who,
			    c->req.peer);
			auditrec_text(&rec, "serial", c->req.who.serial);
			auditrec_text(&rec, "protocol", "h2");
			auditrec_text(&rec, "reason", why);
			auditrec_bool(&rec, "stepup_dropped", dropped);
			request_audit(b, &rec);
		}
		h2_goaway(c, NGHTTP2_NO_ERROR, why);
		(void)h2_settle(c, why);
		n++;
	}
	return n;
}

void
h2conn_shutdown_all(struct broker *b)
{
	struct h2conn *c, *next;

	for (c = TAILQ_FIRST(&b->h2conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		h2_goaway(c, NGHTTP2_NO_ERROR, "broker shutting down");
		(void)h2_settle(c, "broker shutting down");
	}
}
