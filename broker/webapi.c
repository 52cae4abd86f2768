/*
 * webapi — see webapi.h.
 *
 * A stream goes through at most these steps: the request's body is
 * collected (JSON routes) or streamed (tus PATCH); one message is built
 * and dispatched; the answers the request layer sends (op_send,
 * op_send_data) are turned into the HTTP answer by the route's shape. A
 * tus PATCH dispatches up to three messages in turn (status, then put
 * with resume, then end), each the next step once the previous answer came.
 */
#include "broker/webapi.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/dispatch.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/request.h"
#include "broker/upload.h"
#include "broker/web.h"
#include "broker/webjson.h"
#include "broker/webmsg.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"
#include "policy/tzone.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define API_PREFIX "/api/"
#define API_ID 1
#define LIST_MAX 1000			/* items of one list answer */
#define PUMP_MIN (256u * 1024)		/* body bytes written at once */
#define TUS_VERSION "1.0.0"
#define PARAM_MAX 128

enum shape {
	SH_ONE,			/* one message -> one JSON object */
	SH_LIST,		/* items then listed -> {"items", "count", "next"} */
	SH_CSV,			/* the same list as CSV */
	SH_DOWNLOAD,		/* head message, data items, last message */
	SH_RAW,			/* the sekisho/1 bytes of the answer */
	SH_WHOAMI,
	SH_OPENAPI,
	SH_TUS_OPTIONS,
	SH_TUS_CREATE,
	SH_TUS_HEAD,
	SH_TUS_PATCH,
	SH_TUS_DELETE,		/* termination: the owner's withdrawal */
};

enum src { SRC_NONE, SRC_QUERY, SRC_BODY };

struct route {
	const char *method;
	const char *prefix;		/* the path, or what precedes {param} */
	const char *suffix;		/* what follows {param}; NULL: none */
	enum wire_op op;
	const char *param;		/* the field {param} fills */
	enum src src;
	enum shape shape;
	int ok;				/* HTTP status of a success */
	const char *const *cols;	/* SH_CSV: the columns */
	const char *file;		/* SH_CSV, SH_RAW: the file's name */
};

static const char *const inventory_cols[] = { "exception", "status",
	"emergency", "interface", "users", "groups", "class", "max_size",
	"max_count", "uses", "hours", "extensions", "valid_from",
	"valid_until", "reason", "requester", "granted_by", "granted",
	"grant_comment", "confirm_by", "confirmed_by", "ended", "ended_by",
	"end_reason", NULL };

/* Exact paths before parameterised ones with the same beginning. */
static const struct route routes[] = {
	{ "GET", "/api/v1/whoami", NULL, WIRE_OP_INVALID, NULL, SRC_NONE,
	    SH_WHOAMI, 200, NULL, NULL },
	{ "GET", "/api/v1/openapi.json", NULL, WIRE_OP_INVALID, NULL,
	    SRC_NONE, SH_OPENAPI, 200, NULL, NULL },
	{ "OPTIONS", "/api/v1/uploads", NULL, WIRE_OP_INVALID, NULL, SRC_NONE,
	    SH_TUS_OPTIONS, 204, NULL, NULL },
	{ "POST", "/api/v1/uploads", NULL, WIRE_OP_PUT, NULL, SRC_NONE,
	    SH_TUS_CREATE, 201, NULL, NULL },
	{ "HEAD", "/api/v1/uploads/", "", WIRE_OP_STATUS, "transfer",
	    SRC_NONE, SH_TUS_HEAD, 200, NULL, NULL },
	{ "PATCH", "/api/v1/uploads/", "", WIRE_OP_STATUS, "transfer",
	    SRC_NONE, SH_TUS_PATCH, 204, NULL, NULL },
	{ "DELETE", "/api/v1/uploads/", "", WIRE_OP_WITHDRAW, "transfer",
	    SRC_NONE, SH_TUS_DELETE, 204, NULL, NULL },
	{ "GET", "/api/v1/interfaces", NULL, WIRE_OP_INTERFACES_LS, NULL,
	    SRC_QUERY, SH_LIST, 200, NULL, NULL },
	{ "GET", "/api/v1/transfers", NULL, WIRE_OP_TRANSFERS_LS, NULL,
	    SRC_QUERY, SH_LIST, 200, NULL, NULL },
	{ "GET", "/api/v1/transfers/", "", WIRE_OP_STATUS, "transfer",
	    SRC_NONE, SH_ONE, 200, NULL, NULL },
	{ "POST", "/api/v1/transfers/", "/withdraw", WIRE_OP_WITHDRAW,
	    "transfer", SRC_BODY, SH_ONE, 200, NULL, NULL },
	{ "GET", "/api/v1/approvals/", "/file", WIRE_OP_HELD_OPEN, "transfer",
	    SRC_NONE, SH_DOWNLOAD, 200, NULL, NULL },
	{ "GET", "/api/v1/approvals", NULL, WIRE_OP_APPROVALS_LS, NULL,
	    SRC_QUERY, SH_LIST, 200, NULL, NULL },
	{ "POST", "/api/v1/approvals/", "/approve", WIRE_OP_APPROVE,
	    "transfer", SRC_BODY, SH_ONE, 200, NULL, NULL },
	{ "POST", "/api/v1/approvals/", "/reject", WIRE_OP_REJECT, "transfer",
	    SRC_BODY, SH_ONE, 200, NULL, NULL },
	{ "GET", "/api/v1/exceptions", NULL, WIRE_OP_EXCEPTION_LS, NULL,
	    SRC_QUERY, SH_LIST, 200, NULL, NULL },
	{ "POST", "/api/v1/exceptions", NULL, WIRE_OP_EXCEPTION_REQUEST, NULL,
	    SRC_BODY, SH_ONE, 201, NULL, NULL },
	{ "GET", "/api/v1/exceptions/inventory.csv", NULL,
	    WIRE_OP_EXCEPTION_LS, NULL, SRC_QUERY, SH_CSV, 200,
	    inventory_cols, "sekisho-inventory.csv" },
	{ "POST", "/api/v1/exceptions/grant", NULL, WIRE_OP_EXCEPTION_GRANT,
	    NULL, SRC_BODY, SH_ONE, 201, NULL, NULL },
	{ "POST", "/api/v1/exceptions/", "/grant", WIRE_OP_EXCEPTION_GRANT,
	    "exception", SRC_BODY, SH_ONE, 200, NULL, NULL },
	{ "POST", "/api/v1/exceptions/", "/refuse", WIRE_OP_EXCEPTION_REFUSE,
	    "exception", SRC_BODY, SH_ONE, 200, NULL, NULL },
	{ "POST", "/api/v1/exceptions/", "/revoke", WIRE_OP_EXCEPTION_REVOKE,
	    "exception", SRC_BODY, SH_ONE, 200, NULL, NULL },
	{ "POST", "/api/v1/exceptions/", "/confirm",
	    WIRE_OP_EXCEPTION_CONFIRM, "exception", SRC_BODY, SH_ONE, 200,
	    NULL, NULL },
	{ "POST", "/api/v1/totp/enrol", NULL, WIRE_OP_TOTP_ENROL, NULL,
	    SRC_BODY, SH_ONE, 200, NULL, NULL },
	{ "POST", "/api/v1/totp/confirm", NULL, WIRE_OP_TOTP_CONFIRM, NULL,
	    SRC_BODY, SH_ONE, 200, NULL, NULL },
	{ "GET", "/api/v1/audit/bundle", NULL, WIRE_OP_AUDIT_PULL, NULL,
	    SRC_QUERY, SH_RAW, 200, NULL, "sekisho-audit.bundle" },
	{ "GET", "/api/v1/audit/records", NULL, WIRE_OP_AUDIT_SEARCH, NULL,
	    SRC_QUERY, SH_LIST, 200, NULL, NULL },
	{ "GET", "/api/v1/audit/transfers/", "", WIRE_OP_AUDIT_SEARCH,
	    "transfer", SRC_QUERY, SH_LIST, 200, NULL, NULL },
	{ "GET", "/api/v1/audit/export.csv", NULL, WIRE_OP_AUDIT_CSV, NULL,
	    SRC_QUERY, SH_DOWNLOAD, 200, NULL, NULL },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* The steps of a tus request. */
enum tus_step { T_NONE, T_CREATE, T_STATUS, T_PUT, T_DATA, T_END };

struct webapi_stream {
	struct reqconn req;		/* first: the request layer's view */
	const struct webapi_io *io;	/* NULL once gone */
	void *t;
	int refs;
	int gone;
	int answered;			/* the head went out */
	int done;			/* the answer is complete */
	const struct route *rt;
	char param[PARAM_MAX + 1];
	char method[16];
	json_t *query;
	struct evbuffer *in;		/* request body not yet dealt with */
	int in_ended;
	int in_over;			/* a JSON body over its bound */
	json_t *items;			/* SH_LIST, SH_CSV */
	/* tus */
	enum tus_step step;
	char id[UTIL_ID_LEN + 1];
	char sha[UTIL_SHA256_HEX + 1];
	uint64_t offset;		/* Upload-Offset of a PATCH */
	uint64_t size;
	char otp[WIRE_MAX_OTP + 1];
	json_t *meta;			/* tus creation: the put's fields */
};

static const struct reqconn_ops api_ops;

/* ---- lifetime ------------------------------------------------------------- */

static void
stream_unref(struct webapi_stream *s)
{
	if (--s->refs > 0)
		return;
	json_decref(s->query);
	json_decref(s->items);
	json_decref(s->meta);
	if (s->in != NULL)
		evbuffer_free(s->in);
	OPENSSL_cleanse(s->otp, sizeof(s->otp));
	free(s);
}

/* ---- answers -------------------------------------------------------------- */

static void
answer_raw(struct webapi_stream *s, int status, struct web_header *h,
    size_t n, const char *body, size_t len)
{
	if (s->gone || s->answered)
		return;
	s->answered = 1;
	s->done = 1;
	if (strcmp(s->method, "HEAD") == 0)
		body = NULL;
	if (s->io->head(s->t, status, h, n, body != NULL) != 0)
		return;
	if (body != NULL) {
		if (s->io->body(s->t, (const uint8_t *)body, len) != 0) {
			s->io->reset(s->t);
			return;
		}
		s->io->end(s->t);
	}
}

/* Answers with JSON (reference taken over) and extra headers. */
static void
answer_json(struct webapi_stream *s, int status, json_t *o,
    const struct web_header *extra, size_t nextra)
{
	struct web_header h[12];
	size_t n = 0, i;
	char *text = NULL;

	h[n].name = "content-type";
	h[n++].value = "application/json";
	h[n].name = "cache-control";
	h[n++].value = "no-store";
	for (i = 0; i < nextra && n < sizeof(h) / sizeof(h[0]); i++)
		h[n++] = extra[i];
	if (o == NULL || (text = json_dumps(o, JSON_COMPACT |
	    JSON_ENSURE_ASCII)) == NULL) {
		static const char oom[] = "{\"code\":\"unavailable\","
		    "\"message\":{\"ja\":\"関所が一時的に応答できません。\","
		    "\"en\":\"out of memory; try again later\"}}";

		answer_raw(s, 503, h, n, oom, sizeof(oom) - 1);
	} else
		answer_raw(s, status, h, n, text, strlen(text));
	free(text);
	json_decref(o);
}

static int
is_tus(const struct webapi_stream *s)
{
	return s->rt != NULL && (s->rt->shape == SH_TUS_CREATE ||
	    s->rt->shape == SH_TUS_HEAD || s->rt->shape == SH_TUS_PATCH ||
	    s->rt->shape == SH_TUS_OPTIONS || s->rt->shape == SH_TUS_DELETE);
}

/*
 * An error answer: the status of code, the Japanese sentence of the code
 * (or of the policy reason), the broker's English, and the details.
 */
static void
answer_error_full(struct webapi_stream *s, const char *code, const char *en,
    const char *field, const char *rule, const char *reason,
    const char *transfer, uint64_t retry_after, const char *offset)
{
	struct web_header h[3];
	size_t n = 0;
	json_t *o, *msg;
	char ra[24];

	if (s->gone || s->answered)
		return;
	o = json_object();
	msg = json_object();
	if (o != NULL && msg != NULL) {
		json_object_set_new(msg, "ja", json_string(webmsg_ja(code,
		    reason)));
		json_object_set_new(msg, "en", json_string(en != NULL &&
		    en[0] != '\0' ? en : code));
		json_object_set_new(o, "code", json_string(code));
		json_object_set(o, "message", msg);
		if (field != NULL && field[0] != '\0')
			json_object_set_new(o, "field", json_string(field));
		if (rule != NULL && rule[0] != '\0')
			json_object_set_new(o, "rule", json_string(rule));
		if (reason != NULL && reason[0] != '\0')
			json_object_set_new(o, "reason", json_string(reason));
		if (transfer != NULL && transfer[0] != '\0')
			json_object_set_new(o, "transfer",
			    json_string(transfer));
		if (retry_after != 0)
			json_object_set_new(o, "retry_after",
			    json_integer((json_int_t)retry_after));
	}
	json_decref(msg);
	if (retry_after != 0) {
		snprintf(ra, sizeof(ra), "%" PRIu64, retry_after);
		h[n].name = "retry-after";
		h[n++].value = ra;
	}
	if (is_tus(s)) {
		h[n].name = "tus-resumable";
		h[n++].value = TUS_VERSION;
	}
	if (offset != NULL) {
		h[n].name = "upload-offset";
		h[n++].value = offset;
	}
	answer_json(s, webmsg_status(code), o, h, n);
}

static void
answer_error(struct webapi_stream *s, const char *code, const char *en,
    const char *field)
{
	answer_error_full(s, code, en, field, NULL, NULL, NULL, 0, NULL);
}

static void
answer_error_msg(struct webapi_stream *s, const struct wire_msg *m)
{
	uint64_t ra = 0;
	const char *code = wire_msg_text(m, "code");

	wire_msg_uint(m, "retry_after", &ra);
	answer_error_full(s, code != NULL ? code : "internal",
	    wire_msg_text(m, "message"), wire_msg_text(m, "field"),
	    wire_msg_text(m, "rule"), wire_msg_text(m, "reason"),
	    wire_msg_text(m, "transfer"), ra, NULL);
}

/* ---- downloads ------------------------------------------------------------- */

/*
 * Content-Disposition for name (RFC 6266): an ASCII fallback in filename
 * (anything else as '_') and the UTF-8 name percent-encoded in filename*.
 */
static void
disposition(const char *name, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	char ascii[128], enc[700];
	size_t i, a = 0, e = 0;

	for (i = 0; name[i] != '\0' && a + 1 < sizeof(ascii); i++) {
		unsigned char ch = (unsigned char)name[i];

		ascii[a++] = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' &&
		    ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		    ch == '-' || ch == '_' ? (char)ch : '_';
	}
	ascii[a] = '\0';
	for (i = 0; name[i] != '\0' && e + 4 < sizeof(enc); i++) {
		unsigned char ch = (unsigned char)name[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		    ch == '_')
			enc[e++] = (char)ch;
		else {
			enc[e++] = '%';
			enc[e++] = hex[ch >> 4];
			enc[e++] = hex[ch & 15];
		}
	}
	enc[e] = '\0';
	snprintf(out, outlen, "attachment; filename=\"%s\"; "
	    "filename*=UTF-8''%s", a > 0 ? ascii : "download", enc);
}

/* The head of a download from its head message. */
static void
download_head(struct webapi_stream *s, const struct wire_msg *m)
{
	struct web_header h[4];
	const char *type = wire_msg_text(m, "content_type");
	const char *name = wire_msg_text(m, "filename");
	char disp[900], len[24];
	uint64_t size = 0;
	size_t n = 0;

	if (name == NULL)
		name = wire_msg_text(m, "name");
	disposition(name != NULL ? name : "download", disp, sizeof(disp));
	h[n].name = "content-type";
	h[n++].value = type != NULL ? type : "application/octet-stream";
	h[n].name = "content-disposition";
	h[n++].value = disp;
	h[n].name = "cache-control";
	h[n++].value = "no-store";
	if (wire_msg_uint(m, "size", &size) == 0) {
		snprintf(len, sizeof(len), "%" PRIu64, size);
		h[n].name = "content-length";
		h[n++].value = len;
	}
	s->answered = 1;
	if (s->io->head(s->t, 200, h, n, 1) != 0)
		s->done = 1;
}

static void
raw_append(struct webapi_stream *s, const struct wire_msg *m)
{
	struct wire_error err;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (!s->answered) {
		struct web_header h[3];
		char disp[300];

		disposition(s->rt->file, disp, sizeof(disp));
		h[0].name = "content-type";
		h[0].value = "application/octet-stream";
		h[1].name = "content-disposition";
		h[1].value = disp;
		h[2].name = "cache-control";
		h[2].value = "no-store";
		s->answered = 1;
		if (s->io->head(s->t, 200, h, 3, 1) != 0) {
			s->done = 1;
			return;
		}
	}
	if (wire_encode(m, &buf, &len, &err) != 0 ||
	    s->io->body(s->t, buf, len) != 0) {
		log_kv("error", "web_bundle", "user=%s reason=\"%s\"",
		    s->req.who.user, err.message);
		s->io->reset(s->t);
		s->done = 1;
	}
	free(buf);
}

/* ---- lists ------------------------------------------------------------------ */

/* One CSV cell, RFC 4180, with a leading = + - @ TAB CR neutralised so a
 * spreadsheet does not run it as a formula. */
static void
csv_cell(struct evbuffer *out, const char *v)
{
	const char *p;

	evbuffer_add(out, "\"", 1);
	if (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' ||
	    v[0] == '\t' || v[0] == '\r')
		evbuffer_add(out, "'", 1);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"')
			evbuffer_add(out, "\"\"", 2);
		else
			evbuffer_add(out, p, 1);
	}
	evbuffer_add(out, "\"", 1);
}

static void
csv_value(struct evbuffer *out, const json_t *v)
{
	char num[32];

	if (v == NULL || json_is_null(v))
		csv_cell(out, "");
	else if (json_is_string(v))
		csv_cell(out, json_string_value(v));
	else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		csv_cell(out, num);
	} else if (json_is_boolean(v))
		csv_cell(out, json_is_true(v) ? "true" : "false");
	else if (json_is_array(v)) {
		struct evbuffer *joined = evbuffer_new();
		size_t i;
		char *text;

		if (joined == NULL) {
			csv_cell(out, "");
			return;
		}
		for (i = 0; i < json_array_size(v); i++) {
			const json_t *it = json_array_get(v, i);

			if (i > 0)
				evbuffer_add(joined, " ", 1);
			if (json_is_string(it))
				evbuffer_add(joined, json_string_value(it),
				    strlen(json_string_value(it)));
		}
		evbuffer_add(joined, "", 1);
		text = (char *)evbuffer_pullup(joined, -1);
		csv_cell(out, text != NULL ? text : "");
		evbuffer_free(joined);
	} else
		csv_cell(out, "");
}

static void
answer_csv(struct webapi_stream *s)
{
	struct evbuffer *out = evbuffer_new();
	struct web_header h[3];
	char disp[300];
	size_t i, k, len;
	char *body;

	if (out == NULL) {
		answer_error(s, "unavailable", "out of memory; try again later",
		    NULL);
		return;
	}
	/* A BOM: spreadsheet programs on Windows read the file as UTF-8. */
	evbuffer_add(out, "\xef\xbb\xbf", 3);
	for (k = 0; s->rt->cols[k] != NULL; k++) {
		if (k > 0)
			evbuffer_add(out, ",", 1);
		csv_cell(out, s->rt->cols[k]);
	}
	evbuffer_add(out, "\r\n", 2);
	for (i = 0; s->items != NULL && i < json_array_size(s->items); i++) {
		const json_t *it = json_array_get(s->items, i);

		for (k = 0; s->rt->cols[k] != NULL; k++) {
			if (k > 0)
				evbuffer_add(out, ",", 1);
			csv_value(out, json_object_get(it, s->rt->cols[k]));
		}
		evbuffer_add(out, "\r\n", 2);
	}
	len = evbuffer_get_length(out);
	body = (char *)evbuffer_pullup(out, -1);
	disposition(s->rt->file, disp, sizeof(disp));
	h[0].name = "content-type";
	h[0].value = "text/csv; charset=utf-8";
	h[1].name = "content-disposition";
	h[1].value = disp;
	h[2].name = "cache-control";
	h[2].value = "no-store";
	answer_raw(s, 200, h, 3, body != NULL ? body : "", body != NULL ?
	    len : 0);
	evbuffer_free(out);
}

static void
list_item(struct webapi_stream *s, const struct wire_msg *m)
{
	json_t *o;

	if (s->items == NULL && (s->items = json_array()) == NULL)
		return;
	if (json_array_size(s->items) >= LIST_MAX)
		return;
	if ((o = webjson_from_msg(m)) != NULL)
		json_array_append_new(s->items, o);
}

static void
list_end(struct webapi_stream *s, const struct wire_msg *m)
{
	json_t *o;
	const char *next = wire_msg_text(m, "next");
	uint64_t count = 0;

	if (s->rt->shape == SH_CSV) {
		answer_csv(s);
		return;
	}
	wire_msg_uint(m, "count", &count);
	if ((o = json_object()) != NULL) {
		json_object_set_new(o, "items", s->items != NULL ?
		    json_incref(s->items) : json_array());
		json_object_set_new(o, "count", json_integer(
		    (json_int_t)count));
		if (next != NULL)
			json_object_set_new(o, "next", json_string(next));
	}
	answer_json(s, s->rt->ok, o, NULL, 0);
}

/* ---- tus ----------------------------------------------------------------- */

static void tus_message(struct webapi_stream *s, const struct wire_msg *m);
static void pump(struct webapi_stream *s);

static void
dispatch_msg(struct webapi_stream *s, enum wire_op op, const json_t *obj)
{
	struct wire_msg m;
	struct wire_error err;

	memset(&err, 0, sizeof(err));
	if (webjson_to_msg(op, API_ID, obj, &m, &err) != 0) {
		answer_error(s, err.code[0] != '\0' ? err.code : "bad_value",
		    err.message, err.field);
		return;
	}
	s->refs++;
	dispatch_request(&s->req, &m);
	wire_msg_clear(&m);
	stream_unref(s);
}

/* The tus headers of every answer about an upload. */
static void
tus_answer(struct webapi_stream *s, int status, uint64_t offset,
    int with_offset, const char *state, const char *location)
{
	struct web_header h[8];
	char off[24], len[24];
	size_t n = 0;

	h[n].name = "tus-resumable";
	h[n++].value = TUS_VERSION;
	h[n].name = "cache-control";
	h[n++].value = "no-store";
	if (with_offset) {
		snprintf(off, sizeof(off), "%" PRIu64, offset);
		h[n].name = "upload-offset";
		h[n++].value = off;
	}
	if (s->size != 0 || s->rt->shape == SH_TUS_HEAD) {
		snprintf(len, sizeof(len), "%" PRIu64, s->size);
		h[n].name = "upload-length";
		h[n++].value = len;
	}
	if (state != NULL) {
		h[n].name = "x-sekisho-state";
		h[n++].value = state;
	}
	if (location != NULL) {
		h[n].name = "location";
		h[n++].value = location;
		h[n].name = "x-sekisho-transfer";
		h[n++].value = s->id;
	}
	answer_raw(s, status, h, n, NULL, 0);
}

/* "<transfer>-<sha256>" of an upload's URL into s->id and s->sha. */
static int
tus_parse_url(struct webapi_stream *s)
{
	const char *p = s->param;

	if (strlen(p) != UTIL_ID_LEN + 1 + UTIL_SHA256_HEX ||
	    p[UTIL_ID_LEN] != '-')
		return -1;
	memcpy(s->id, p, UTIL_ID_LEN);
	s->id[UTIL_ID_LEN] = '\0';
	memcpy(s->sha, p + UTIL_ID_LEN + 1, UTIL_SHA256_HEX);
	s->sha[UTIL_SHA256_HEX] = '\0';
	if (!util_is_id(s->id) || strspn(s->sha, "0123456789abcdef") !=
	    UTIL_SHA256_HEX)
		return -1;
	return 0;
}

static int
parse_u64(const char *v, uint64_t *out)
{
	uint64_t x = 0;

	if (v == NULL || *v == '\0' || strlen(v) > 20)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9' || x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*v - '0');
	}
	*out = x;
	return 0;
}

static void
tus_create(struct webapi_stream *s, const struct webapi_req *rq)
{
	const json_t *sha;
	struct wire_error err;

	if (parse_u64(rq->upload_length, &s->size) != 0) {
		answer_error(s, "length_required", "Upload-Length (the file's "
		    "size in bytes) is required; deferred lengths are not "
		    "supported", "Upload-Length");
		return;
	}
	if ((s->meta = webjson_parse_tus_metadata(rq->upload_metadata,
	    &err)) == NULL) {
		answer_error(s, err.code, err.message, err.field);
		return;
	}
	sha = json_object_get(s->meta, "sha256");
	if (!json_is_string(sha) || strlen(json_string_value(sha)) !=
	    UTIL_SHA256_HEX || strspn(json_string_value(sha),
	    "0123456789abcdef") != UTIL_SHA256_HEX) {
		answer_error(s, "bad_value", "Upload-Metadata sha256 is "
		    "required: the file's SHA-256 in 64 lowercase hexadecimal "
		    "digits, declared before the upload", "sha256");
		return;
	}
	util_strlcpy(s->sha, json_string_value(sha), sizeof(s->sha));
	if (json_object_get(s->meta, "purpose") == NULL)
		json_object_set_new(s->meta, "purpose", json_string(""));
	if (json_object_get(s->meta, "otp") == NULL && s->otp[0] != '\0')
		json_object_set_new(s->meta, "otp", json_string(s->otp));
	json_object_set_new(s->meta, "size", json_integer(
	    (json_int_t)(s->size > INT64_MAX ? INT64_MAX : s->size)));
	s->step = T_CREATE;
	dispatch_msg(s, WIRE_OP_PUT, s->meta);
}

/* PATCH and HEAD begin with the transfer's status. */
static void
tus_status(struct webapi_stream *s)
{
	json_t *o = json_object();

	if (o == NULL) {
		answer_error(s, "unavailable", "out of memory", NULL);
		return;
	}
	json_object_set_new(o, "transfer", json_string(s->id));
	s->step = T_STATUS;
	dispatch_msg(s, WIRE_OP_STATUS, o);
	json_decref(o);
}

static void
tus_resume(struct webapi_stream *s, const struct wire_msg *st)
{
	json_t *o = json_object();
	uint64_t class = 0;

	if (o == NULL) {
		answer_error(s, "unavailable", "out of memory", NULL);
		return;
	}
	wire_msg_uint(st, "class", &class);
	json_object_set_new(o, "interface", json_string(
	    wire_msg_text(st, "interface")));
	json_object_set_new(o, "name", json_string(wire_msg_text(st, "name")));
	json_object_set_new(o, "size", json_integer((json_int_t)s->size));
	json_object_set_new(o, "class", json_integer((json_int_t)class));
	json_object_set_new(o, "purpose", json_string(""));
	json_object_set_new(o, "resume", json_string(s->id));
	json_object_set_new(o, "sha256", json_string(s->sha));
	if (s->otp[0] != '\0')
		json_object_set_new(o, "otp", json_string(s->otp));
	s->step = T_PUT;
	dispatch_msg(s, WIRE_OP_PUT, o);
	json_decref(o);
}

static void
tus_end(struct webapi_stream *s)
{
	json_t *o = json_object();

	if (o == NULL) {
		answer_error(s, "unavailable", "out of memory", NULL);
		return;
	}
	json_object_set_new(o, "sha256", json_string(s->sha));
	s->step = T_END;
	dispatch_msg(s, WIRE_OP_END, o);
	json_decref(o);
}

/* The answer of a status to HEAD or PATCH. */
static void
tus_on_state(struct webapi_stream *s, const struct wire_msg *m)
{
	const char *state = wire_msg_text(m, "state");
	uint64_t received = 0, size = 0;
	int stored = wire_msg_get(m, "sha256") != NULL;
	char off[24];

	wire_msg_uint(m, "received", &received);
	wire_msg_uint(m, "size", &size);
	s->size = size;
	if (state == NULL)
		state = "";
	if (stored)
		received = size;
	if (!stored && strcmp(state, "receiving") != 0) {
		char en[200];

		snprintf(en, sizeof(en), "the upload is %s and cannot go on; "
		    "start a new upload", state);
		if (s->rt->shape == SH_TUS_HEAD)
			tus_answer(s, 410, 0, 0, state, NULL);
		else
			answer_error_full(s, "not_resumable", en, NULL, NULL,
			    NULL, s->id, 0, NULL);
		return;
	}
	if (s->rt->shape == SH_TUS_HEAD) {
		tus_answer(s, 200, received, 1, state, NULL);
		return;
	}
	snprintf(off, sizeof(off), "%" PRIu64, received);
	if (received != s->offset) {
		char en[200];

		snprintf(en, sizeof(en), "Upload-Offset is %" PRIu64 " but the "
		    "broker holds %" PRIu64 " bytes of this upload; send from "
		    "there", s->offset, received);
		answer_error_full(s, "offset_mismatch", en, "Upload-Offset",
		    NULL, NULL, s->id, 0, off);
		return;
	}
	if (stored) {
		/* Complete before: nothing to take. */
		tus_answer(s, 204, size, 1, state, NULL);
		return;
	}
	tus_resume(s, m);
}

static void
tus_message(struct webapi_stream *s, const struct wire_msg *m)
{
	uint64_t offset = 0;
	char loc[200];

	if (m->op == WIRE_OP_ERROR) {
		/* An upload the layer still holds for this stream goes back
		 * (a resume refused after ready cannot happen; a failed one
		 * was detached by the layer). */
		upload_release(&s->req, "the request was refused");
		answer_error_msg(s, m);
		return;
	}
	if (s->rt->shape == SH_TUS_DELETE) {
		/* withdrawn: the upload is terminated */
		tus_answer(s, 204, 0, 0, wire_msg_text(m, "state"), NULL);
		return;
	}
	switch (s->step) {
	case T_CREATE:
		if (m->op != WIRE_OP_READY)
			break;
		/* The data comes with PATCH requests, each its own resume. */
		upload_release(&s->req, "tus creation answered");
		util_strlcpy(s->id, wire_msg_text(m, "transfer"),
		    sizeof(s->id));
		snprintf(loc, sizeof(loc), "/api/v1/uploads/%s-%s", s->id,
		    s->sha);
		log_kv("info", "web_upload", "user=%s transfer=%s size=%"
		    PRIu64, s->req.who.user, s->id, s->size);
		tus_answer(s, 201, 0, 1, NULL, loc);
		return;
	case T_STATUS:
		if (m->op != WIRE_OP_STATE)
			break;
		tus_on_state(s, m);
		return;
	case T_PUT:
		if (m->op == WIRE_OP_STORED) {
			/* Stored between the status and the resume. */
			tus_answer(s, s->offset == s->size ? 204 : 409, s->size,
			    1, wire_msg_text(m, "state"), NULL);
			return;
		}
		if (m->op != WIRE_OP_READY)
			break;
		wire_msg_uint(m, "offset", &offset);
		if (offset != s->offset) {
			char off[24];

			upload_release(&s->req, "offset mismatch");
			snprintf(off, sizeof(off), "%" PRIu64, offset);
			answer_error_full(s, "offset_mismatch", "the broker "
			    "holds another offset of this upload; ask with HEAD "
			    "and send from there", "Upload-Offset", NULL, NULL,
			    s->id, 0, off);
			return;
		}
		s->step = T_DATA;
		pump(s);
		return;
	case T_END:
		if (m->op != WIRE_OP_STORED)
			break;
		log_kv("info", "web_stored", "user=%s transfer=%s",
		    s->req.who.user, s->id);
		tus_answer(s, 204, s->size, 1, wire_msg_text(m, "state") !=
		    NULL ? wire_msg_text(m, "state") : "stored", NULL);
		return;
	default:
		break;
	}
	log_kv("error", "web_api", "user=%s unexpected=%s step=%d",
	    s->req.who.user, wire_op_name(m->op), (int)s->step);
	answer_error(s, "internal", "the broker answered out of order", NULL);
}

/*
 * Moves the body of a PATCH into the upload while the layer takes data:
 * in writes of at least PUMP_MIN bytes (HTTP/2 frames are small), the
 * rest when the body has ended. At the end of the body, either end (the
 * file is complete) or the upload is let go at its offset.
 */
static int
pump_write(struct webapi_stream *s, int all)
{
	struct reqconn *c = &s->req;

	while (c->up != NULL && upload_is_receiving(c) && !c->busy &&
	    evbuffer_get_length(s->in) > 0) {
		struct evbuffer_iovec vec[UPLOAD_MAX_IOV];
		struct iovec iov[UPLOAD_MAX_IOV];
		size_t avail = evbuffer_get_length(s->in);
		uint64_t pending;
		ssize_t w;
		int n, i;

		if (avail < PUMP_MIN && !all)
			return 0;
		if ((pending = upload_data_pending(c)) == 0) {
			upload_take_data_head(c, avail);
			if (c->up == NULL || s->done)
				return -1;
			pending = upload_data_pending(c);
		}
		n = evbuffer_peek(s->in, (ev_ssize_t)(pending < avail ?
		    pending : avail), NULL, vec, UPLOAD_MAX_IOV);
		if (n > UPLOAD_MAX_IOV)
			n = UPLOAD_MAX_IOV;
		for (i = 0; i < n; i++) {
			iov[i].iov_base = vec[i].iov_base;
			iov[i].iov_len = vec[i].iov_len;
		}
		if ((w = upload_write_data(c, iov, n)) < 0)
			return -1;
		evbuffer_drain(s->in, (size_t)w);
		if (s->io != NULL)
			s->io->consume(s->t, (size_t)w);
	}
	return 0;
}

/*
 * Moves the body of a PATCH into the upload while the layer takes data:
 * in writes of at least PUMP_MIN bytes (HTTP/2 frames are small), the
 * rest when the body has ended. At the end of the body, either end (the
 * file is complete) or the upload is let go at its offset.
 */
static void
pump(struct webapi_stream *s)
{
	struct reqconn *c = &s->req;

	if (s->gone || s->done || s->step != T_DATA ||
	    pump_write(s, s->in_ended) != 0)
		return;
	if (!s->in_ended || evbuffer_get_length(s->in) > 0 || c->up == NULL ||
	    c->busy || upload_data_pending(c) > 0)
		return;
	if (c->up->received == s->size) {
		tus_end(s);
		return;
	}
	{
		uint64_t at = c->up->received;

		upload_release(c, "the request's body ended before the end of "
		    "the file");
		tus_answer(s, 204, at, 1, "receiving", NULL);
	}
}

/* ---- the responder (request.h) -------------------------------------------- */

static struct webapi_stream *
stream_of(const struct reqconn *c)
{
	return (struct webapi_stream *)c;
}

static void
op_send(struct reqconn *c, const struct wire_msg *m)
{
	struct webapi_stream *s = stream_of(c);

	if (s->gone || s->done)
		return;
	if (is_tus(s)) {
		tus_message(s, m);
		return;
	}
	if (m->op == WIRE_OP_ERROR) {
		if (!s->answered)
			answer_error_msg(s, m);
		else {
			/* A download that failed half way: the client must
			 * not take what it got as the whole. */
			log_kv("warn", "web_download", "user=%s reason=\"%s\"",
			    c->who.user, wire_msg_text(m, "message") != NULL ?
			    wire_msg_text(m, "message") : "");
			s->io->reset(s->t);
			s->done = 1;
		}
		return;
	}
	switch (s->rt->shape) {
	case SH_ONE:
		answer_json(s, s->rt->ok, webjson_from_msg(m), NULL, 0);
		break;
	case SH_LIST:
	case SH_CSV:
		if (m->op == WIRE_OP_LISTED)
			list_end(s, m);
		else
			list_item(s, m);
		break;
	case SH_DOWNLOAD:
		if (!s->answered)
			download_head(s, m);
		else {
			s->done = 1;
			s->io->end(s->t);
		}
		break;
	case SH_RAW:
		raw_append(s, m);
		if (!s->done && m->op == WIRE_OP_AUDIT_DONE) {
			s->done = 1;
			s->io->end(s->t);
		}
		break;
	default:
		break;
	}
}

static int
op_send_data(struct reqconn *c, const uint8_t *buf, size_t len)
{
	struct webapi_stream *s = stream_of(c);
	uint8_t head[9];
	size_t hlen;

	if (len > WIRE_MAX_CHUNK)
		return -1;
	if (s->gone || s->done || !s->answered)
		return 0;
	if (s->rt->shape == SH_RAW) {
		if ((hlen = wire_encode_data_head(len, head)) == 0)
			return -1;
		if (s->io->body(s->t, head, hlen) != 0)
			return -1;
	} else if (s->rt->shape != SH_DOWNLOAD)
		return 0;
	return s->io->body(s->t, buf, len) != 0 ? -1 : 0;
}

static size_t
op_output_pending(const struct reqconn *c)
{
	const struct webapi_stream *s = stream_of(c);

	return s->gone ? 0 : s->io->pending(s->t);
}

static int
op_gone(const struct reqconn *c)
{
	return stream_of(c)->gone;
}

static int
op_closing(const struct reqconn *c)
{
	return stream_of(c)->gone;
}

static void
op_hold(struct reqconn *c)
{
	stream_of(c)->refs++;
}

static void
op_release(struct reqconn *c)
{
	stream_unref(stream_of(c));
}

static void
op_pause(struct reqconn *c)
{
	(void)c;			/* c->busy stops the pump */
}

static void
op_resume(struct reqconn *c)
{
	struct webapi_stream *s = stream_of(c);

	c->busy = 0;
	if (s->gone)
		return;
	s->refs++;
	pump(s);
	stream_unref(s);
}

static void
op_close_after_flush(struct reqconn *c)
{
	struct webapi_stream *s = stream_of(c);

	/* The answer that says why was sent; nothing more is read for it. */
	if (s->gone || s->done)
		return;
	s->done = 1;
	if (s->answered)
		s->io->end(s->t);
}

static const struct reqconn_ops api_ops = {
	.send = op_send,
	.send_data = op_send_data,
	.output_pending = op_output_pending,
	.gone = op_gone,
	.closing = op_closing,
	.hold = op_hold,
	.release = op_release,
	.pause = op_pause,
	.resume = op_resume,
	.close_after_flush = op_close_after_flush,
};

/* ---- answers without the request layer ----------------------------------------- */

static void
answer_whoami(struct webapi_stream *s)
{
	struct broker *b = s->req.b;
	const struct principal *who = &s->req.who;
	struct policy_principal pp;
	const struct tzone *z;
	json_t *o = json_object(), *roles = json_array();
	unsigned r;

	memset(&pp, 0, sizeof(pp));
	pp.user = who->user;
	pp.dept = who->dept;
	pp.terminal = who->terminal;
	r = policy_principal_roles(b->policy, &pp);
	if (o == NULL || roles == NULL) {
		json_decref(o);
		json_decref(roles);
		answer_error(s, "unavailable", "out of memory", NULL);
		return;
	}
	if (r & POLICY_ROLE_STAFF)
		json_array_append_new(roles, json_string("staff"));
	if (r & POLICY_ROLE_OFFICER)
		json_array_append_new(roles, json_string("officer"));
	if (r & POLICY_ROLE_AUDITOR)
		json_array_append_new(roles, json_string("auditor"));
	if (r & POLICY_ROLE_ADMIN)
		json_array_append_new(roles, json_string("admin"));
	json_object_set_new(o, "user", json_string(who->user));
	json_object_set_new(o, "dept", json_string(who->dept));
	json_object_set_new(o, "terminal", json_string(who->terminal));
	json_object_set_new(o, "serial", json_string(who->serial));
	json_object_set_new(o, "cert_fp", json_string(who->cert_fp));
	json_object_set_new(o, "roles", roles);
	z = policy_interface_zone(b->policy, "");
	json_object_set_new(o, "zone", json_string(z != NULL ?
	    tzone_name(z) : "UTC"));
	json_object_set_new(o, "max_size", json_integer(
	    (json_int_t)b->cfg->max_file_size));
	json_object_set_new(o, "software", json_string("sekishod "
	    SEKISHO_VERSION));
	answer_json(s, 200, o, NULL, 0);
}

static void
answer_openapi(struct webapi_stream *s)
{
	struct web_header h[2];
	const uint8_t *data;
	size_t len;

	if (web_page(s->req.b->web, "/openapi.json", &data, &len) != 0) {
		answer_error(s, "not_found", "the OpenAPI document is not "
		    "installed with the pages (web.root)", NULL);
		return;
	}
	h[0].name = "content-type";
	h[0].value = "application/json";
	h[1].name = "cache-control";
	h[1].value = "no-cache";
	answer_raw(s, 200, h, 2, (const char *)data, len);
}

static void
answer_tus_options(struct webapi_stream *s)
{
	struct web_header h[4];
	char max[24];

	snprintf(max, sizeof(max), "%" PRIu64, s->req.b->cfg->max_file_size);
	h[0].name = "tus-resumable";
	h[0].value = TUS_VERSION;
	h[1].name = "tus-version";
	h[1].value = TUS_VERSION;
	h[2].name = "tus-extension";
	h[2].value = "creation,termination";
	h[3].name = "tus-max-size";
	h[3].value = max;
	answer_raw(s, 204, h, 4, NULL, 0);
}

/* ---- routing -------------------------------------------------------------- */

static int
param_ok(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > PARAM_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' &&
		    p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
		    p[i] == '-' || p[i] == '_' || p[i] == '.'))
			return 0;
	return 1;
}

/* Does path[0..len) match r? Fills param. */
static int
route_match(const struct route *r, const char *path, size_t len,
    char *param)
{
	size_t pl = strlen(r->prefix), sl;

	if (r->suffix == NULL)
		return len == pl && memcmp(path, r->prefix, len) == 0;
	sl = strlen(r->suffix);
	if (len <= pl + sl || memcmp(path, r->prefix, pl) != 0 ||
	    memcmp(path + len - sl, r->suffix, sl) != 0 ||
	    !param_ok(path + pl, len - pl - sl) ||
	    memchr(path + pl, '/', len - pl - sl) != NULL)
		return 0;
	memcpy(param, path + pl, len - pl - sl);
	param[len - pl - sl] = '\0';
	return 1;
}

static void
allow_add(char *allow, size_t len, const char *method)
{
	if (strstr(allow, method) != NULL ||
	    strlen(allow) + strlen(method) + 3 >= len)
		return;
	if (allow[0] != '\0')
		strcat(allow, ", ");
	strcat(allow, method);
}

int
webapi_handles(const char *path)
{
	return path != NULL && strncmp(path, API_PREFIX,
	    strlen(API_PREFIX)) == 0;
}

struct webapi_stream *
webapi_begin(struct broker *b, const struct principal *who,
    const char *peer, const struct webapi_req *rq, const struct webapi_io *io,
    void *t)
{
	struct webapi_stream *s = calloc(1, sizeof(*s));
	size_t plen, i;
	char allow[80] = "";
	struct wire_error err;

	if (s == NULL || (s->in = evbuffer_new()) == NULL) {
		free(s);
		return NULL;
	}
	s->req.ops = &api_ops;
	s->req.b = b;
	s->req.who = *who;
	util_strlcpy(s->req.peer, peer, sizeof(s->req.peer));
	s->io = io;
	s->t = t;
	s->refs = 1;
	util_strlcpy(s->method, rq->method, sizeof(s->method));
	if (rq->otp != NULL)
		util_strlcpy(s->otp, rq->otp, sizeof(s->otp));
	plen = strcspn(rq->path, "?#");
	for (i = 0; i < NROUTES; i++) {
		char param[PARAM_MAX + 1] = "";

		/* HEAD: the headers of a GET whose answer is built whole
		 * (not of a download or a bundle). */
		int head_ok = strcmp(routes[i].method, "GET") == 0 &&
		    routes[i].shape != SH_DOWNLOAD &&
		    routes[i].shape != SH_RAW;

		if (!route_match(&routes[i], rq->path, plen, param))
			continue;
		if (strcmp(routes[i].method, rq->method) != 0 &&
		    !(head_ok && strcmp(rq->method, "HEAD") == 0)) {
			allow_add(allow, sizeof(allow), routes[i].method);
			if (head_ok)
				allow_add(allow, sizeof(allow), "HEAD");
			continue;
		}
		s->rt = &routes[i];
		util_strlcpy(s->param, param, sizeof(s->param));
		break;
	}
	if (s->rt == NULL) {
		struct web_header h = { "allow", allow };

		if (allow[0] == '\0')
			answer_error(s, "not_found", "no such API endpoint",
			    NULL);
		else {
			json_t *o = json_object(), *msg = json_object();

			json_object_set_new(msg, "ja", json_string(webmsg_ja(
			    "method_not_allowed", NULL)));
			json_object_set_new(msg, "en", json_string("this "
			    "method is not allowed here"));
			json_object_set_new(o, "code",
			    json_string("method_not_allowed"));
			json_object_set_new(o, "message", msg);
			answer_json(s, 405, o, &h, 1);
		}
		return s;
	}
	if (s->rt->src == SRC_QUERY && rq->path[plen] == '?' &&
	    (s->query = webjson_parse_query(rq->path + plen + 1, &err)) ==
	    NULL) {
		answer_error(s, err.code, err.message, err.field);
		return s;
	}
	if (is_tus(s) && s->rt->shape != SH_TUS_OPTIONS &&
	    (rq->tus_resumable == NULL ||
	    strcmp(rq->tus_resumable, TUS_VERSION) != 0)) {
		struct web_header h[2] = { { "tus-version", TUS_VERSION },
		    { "tus-resumable", TUS_VERSION } };
		json_t *o = json_object(), *msg = json_object();

		json_object_set_new(msg, "ja", json_string(webmsg_ja(
		    "unsupported_version", NULL)));
		json_object_set_new(msg, "en", json_string("Tus-Resumable: "
		    "1.0.0 is required"));
		json_object_set_new(o, "code",
		    json_string("unsupported_version"));
		json_object_set_new(o, "message", msg);
		answer_json(s, 412, o, h, 2);
		return s;
	}
	switch (s->rt->shape) {
	case SH_TUS_CREATE:
		tus_create(s, rq);
		break;
	case SH_TUS_HEAD:
	case SH_TUS_PATCH:
	case SH_TUS_DELETE:
		if (tus_parse_url(s) != 0) {
			answer_error(s, "not_found", "no such upload (the "
			    "address is /api/v1/uploads/<transfer>-<sha256> "
			    "as the creation answered)", NULL);
			break;
		}
		if (s->rt->shape == SH_TUS_PATCH) {
			if (rq->content_type == NULL || strcmp(rq->content_type,
			    "application/offset+octet-stream") != 0) {
				answer_error(s, "unsupported_media_type",
				    "a PATCH carries Content-Type: "
				    "application/offset+octet-stream",
				    "Content-Type");
				break;
			}
			if (parse_u64(rq->upload_offset, &s->offset) != 0) {
				answer_error(s, "bad_value", "Upload-Offset "
				    "(a number of bytes) is required",
				    "Upload-Offset");
				break;
			}
		}
		if (s->rt->shape == SH_TUS_DELETE) {
			json_t *o = json_object();

			json_object_set_new(o, "transfer", json_string(s->id));
			json_object_set_new(o, "reason", json_string("tus "
			    "termination (DELETE) by the owner"));
			dispatch_msg(s, WIRE_OP_WITHDRAW, o);
			json_decref(o);
			break;
		}
		tus_status(s);
		break;
	default:
		break;			/* at the end of the body */
	}
	return s;
}

void
webapi_body(struct webapi_stream *s, const uint8_t *p, size_t len)
{
	if (s->gone)
		return;
	if (s->done || s->rt == NULL || s->rt->shape != SH_TUS_PATCH) {
		/* A JSON body is small; anything else is not wanted: the
		 * window opens at once either way. */
		if (!s->done && !s->in_over && s->rt != NULL &&
		    s->rt->src == SRC_BODY) {
			if (evbuffer_get_length(s->in) + len > WEBJSON_MAX_BODY)
				s->in_over = 1;
			else
				evbuffer_add(s->in, p, len);
		}
		s->io->consume(s->t, len);
		return;
	}
	if (evbuffer_add(s->in, p, len) != 0) {
		s->io->reset(s->t);
		return;
	}
	s->refs++;
	pump(s);
	stream_unref(s);
}

void
webapi_body_end(struct webapi_stream *s)
{
	json_t *obj = NULL;
	struct wire_error err;

	if (s->gone)
		return;
	s->in_ended = 1;
	if (s->done || s->answered || s->rt == NULL)
		return;
	s->refs++;
	switch (s->rt->shape) {
	case SH_TUS_PATCH:
		pump(s);
		break;
	case SH_WHOAMI:
		answer_whoami(s);
		break;
	case SH_OPENAPI:
		answer_openapi(s);
		break;
	case SH_TUS_OPTIONS:
		answer_tus_options(s);
		break;
	case SH_TUS_CREATE:
	case SH_TUS_HEAD:
	case SH_TUS_DELETE:
		break;
	default:
		if (s->in_over) {
			answer_error(s, "too_large", "the request body is "
			    "larger than 16384 bytes", NULL);
			break;
		}
		if (s->rt->src == SRC_BODY) {
			obj = webjson_parse_body(evbuffer_pullup(s->in, -1),
			    evbuffer_get_length(s->in), &err);
			if (obj == NULL) {
				answer_error(s, err.code, err.message, NULL);
				break;
			}
		} else if (s->rt->src == SRC_QUERY && s->query != NULL)
			obj = json_incref(s->query);
		else if ((obj = json_object()) == NULL) {
			answer_error(s, "unavailable", "out of memory", NULL);
			break;
		}
		if (s->rt->param != NULL) {
			if (json_object_get(obj, s->rt->param) != NULL) {
				answer_error(s, "bad_value", "this field is "
				    "given by the address and must not be in "
				    "the request", s->rt->param);
				break;
			}
			json_object_set_new(obj, s->rt->param,
			    json_string(s->param));
		}
		if (s->otp[0] != '\0' && wire_schema_key(s->rt->op, "otp",
		    NULL) != NULL && json_object_get(obj, "otp") == NULL)
			json_object_set_new(obj, "otp", json_string(s->otp));
		dispatch_msg(s, s->rt->op, obj);
		break;
	}
	json_decref(obj);
	stream_unref(s);
}

void
webapi_gone(struct webapi_stream *s)
{
	s->gone = 1;
	s->io = NULL;
	s->t = NULL;
	/* An upload cut off mid-body stays resumable at what arrived: the
	 * bytes that came before the cut are kept too. */
	if (s->step == T_DATA && !s->done)
		(void)pump_write(s, 1);
	if (s->req.up != NULL)
		upload_abort(&s->req, "the request's stream ended before its "
		    "end");
	stream_unref(s);
}
