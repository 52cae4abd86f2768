/*
 * webanswer — the answers of the browser API (webapi_int.h): JSON and
 * errors with their Japanese sentences, lists as JSON or CSV, downloads
 * with RFC 6266 names, the raw sekisho/1 bytes of an audit bundle; and
 * the dispatch of one message as a stream's request.
 */
#include "broker/webapi_int.h"
#include "broker/dispatch.h"
#include "broker/log.h"
#include "broker/webjson.h"
#include "broker/webmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>

#define API_ID 1
#define LIST_MAX 1000			/* items of one list answer */

void
webapi_stream_unref(struct webapi_stream *s)
{
	const json_t *otp;

	if (--s->refs > 0)
		return;
	otp = s->meta != NULL ? json_object_get(s->meta, "otp") : NULL;
	json_decref(s->query);
	json_decref(s->items);
	/* The one-time code of a tus creation: jansson frees its strings
	 * without wiping them. */
	if (json_is_string(otp))
		OPENSSL_cleanse((char *)json_string_value(otp),
		    json_string_length(otp));
	json_decref(s->meta);
	if (s->in != NULL) {
		/* A JSON body may carry a one-time code (an upload's body is
		 * written out and drained as it comes). */
		size_t n = evbuffer_get_length(s->in);

		if (n > 0 && n <= WEBJSON_MAX_BODY)
			OPENSSL_cleanse(evbuffer_pullup(s->in, -1), n);
		evbuffer_free(s->in);
	}
	OPENSSL_cleanse(s->otp, sizeof(s->otp));
	free(s);
}

void
webanswer_raw(struct webapi_stream *s, int status, struct web_header *h,
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
void
webanswer_json(struct webapi_stream *s, int status, json_t *o,
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

		webanswer_raw(s, 503, h, n, oom, sizeof(oom) - 1);
	} else
		webanswer_raw(s, status, h, n, text, strlen(text));
	free(text);
	json_decref(o);
}

int
webanswer_is_tus(const struct webapi_stream *s)
{
	return s->rt != NULL && (s->rt->shape == SH_TUS_CREATE ||
	    s->rt->shape == SH_TUS_HEAD || s->rt->shape == SH_TUS_PATCH ||
	    s->rt->shape == SH_TUS_OPTIONS || s->rt->shape == SH_TUS_DELETE);
}

/*
 * An error answer: the status of code, the Japanese sentence of the code
 * (or of the policy reason), the broker's English, and the details.
 */
void
webanswer_error_full(struct webapi_stream *s, const char *code, const char *en,
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
	if (webanswer_is_tus(s)) {
		h[n].name = "tus-resumable";
		h[n++].value = TUS_VERSION;
	}
	if (offset != NULL) {
		h[n].name = "upload-offset";
		h[n++].value = offset;
	}
	webanswer_json(s, webmsg_status(code), o, h, n);
}

void
webanswer_error(struct webapi_stream *s, const char *code, const char *en,
    const char *field)
{
	webanswer_error_full(s, code, en, field, NULL, NULL, NULL, 0, NULL);
}

void
webanswer_error_msg(struct webapi_stream *s, const struct wire_msg *m)
{
	uint64_t ra = 0;
	const char *code = wire_msg_text(m, "code");

	wire_msg_uint(m, "retry_after", &ra);
	webanswer_error_full(s, code != NULL ? code : "internal",
	    wire_msg_text(m, "message"), wire_msg_text(m, "field"),
	    wire_msg_text(m, "rule"), wire_msg_text(m, "reason"),
	    wire_msg_text(m, "transfer"), ra, NULL);
}

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
void
webanswer_download_head(struct webapi_stream *s, const struct wire_msg *m)
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

void
webanswer_raw_append(struct webapi_stream *s, const struct wire_msg *m)
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
		webanswer_error(s, "unavailable", "out of memory; try again later",
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
	webanswer_raw(s, 200, h, 3, body != NULL ? body : "", body != NULL ?
	    len : 0);
	evbuffer_free(out);
}

void
webanswer_list_item(struct webapi_stream *s, const struct wire_msg *m)
{
	json_t *o;

	if (s->items == NULL && (s->items = json_array()) == NULL)
		return;
	if (json_array_size(s->items) >= LIST_MAX)
		return;
	if ((o = webjson_from_msg(m)) != NULL)
		json_array_append_new(s->items, o);
}

void
webanswer_list_end(struct webapi_stream *s, const struct wire_msg *m)
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
	webanswer_json(s, s->rt->ok, o, NULL, 0);
}

void
webanswer_dispatch(struct webapi_stream *s, enum wire_op op, const json_t *obj)
{
	struct wire_msg m;
	struct wire_error err;

	memset(&err, 0, sizeof(err));
	if (webjson_to_msg(op, API_ID, obj, &m, &err) != 0) {
		webanswer_error(s, err.code[0] != '\0' ? err.code : "bad_value",
		    err.message, err.field);
		return;
	}
	s->refs++;
	dispatch_request(&s->req, &m);
	wire_msg_clear(&m);
	webapi_stream_unref(s);
}
