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
#include "broker/webapi_int.h"
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

static const struct reqconn_ops api_ops;


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
	if (webanswer_is_tus(s)) {
		webtus_message(s, m);
		return;
	}
	if (m->op == WIRE_OP_ERROR) {
		if (!s->answered)
			webanswer_error_msg(s, m);
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
		webanswer_json(s, s->rt->ok, webjson_from_msg(m), NULL, 0);
		break;
	case SH_LIST:
	case SH_CSV:
		if (m->op == WIRE_OP_LISTED)
			webanswer_list_end(s, m);
		else
			webanswer_list_item(s, m);
		break;
	case SH_DOWNLOAD:
		if (!s->answered)
			webanswer_download_head(s, m);
		else {
			s->done = 1;
			s->io->end(s->t);
		}
		break;
	case SH_RAW:
		webanswer_raw_append(s, m);
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
	const struct webapi_stream *s = stream_of(c);

	return s->gone || s->io->ending(s->t);
}

static void
op_hold(struct reqconn *c)
{
	stream_of(c)->refs++;
}

static void
op_release(struct reqconn *c)
{
	webapi_stream_unref(stream_of(c));
}

static void
op_pause(struct reqconn *c)
{
	(void)c;			/* c->busy stops the webtus_pump */
}

static void
op_resume(struct reqconn *c)
{
	struct webapi_stream *s = stream_of(c);

	c->busy = 0;
	if (s->gone)
		return;
	s->refs++;
	webtus_pump(s);
	webapi_stream_unref(s);
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
		webanswer_error(s, "unavailable", "out of memory", NULL);
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
	webanswer_json(s, 200, o, NULL, 0);
}

static void
answer_openapi(struct webapi_stream *s)
{
	struct web_header h[2];
	const uint8_t *data;
	size_t len;

	if (web_page(s->req.b->web, "/openapi.json", &data, &len) != 0) {
		webanswer_error(s, "not_found", "the OpenAPI document is not "
		    "installed with the pages (web.root)", NULL);
		return;
	}
	h[0].name = "content-type";
	h[0].value = "application/json";
	h[1].name = "cache-control";
	h[1].value = "no-cache";
	webanswer_raw(s, 200, h, 2, (const char *)data, len);
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
			webanswer_error(s, "not_found", "no such API endpoint",
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
			webanswer_json(s, 405, o, &h, 1);
		}
		return s;
	}
	if (s->rt->src == SRC_QUERY && rq->path[plen] == '?' &&
	    (s->query = webjson_parse_query(rq->path + plen + 1, &err)) ==
	    NULL) {
		webanswer_error(s, err.code, err.message, err.field);
		return s;
	}
	if (webanswer_is_tus(s) && s->rt->shape != SH_TUS_OPTIONS)
		webtus_begin(s, rq);
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
	webtus_pump(s);
	webapi_stream_unref(s);
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
		webtus_pump(s);
		break;
	case SH_WHOAMI:
		answer_whoami(s);
		break;
	case SH_OPENAPI:
		answer_openapi(s);
		break;
	case SH_TUS_OPTIONS:
		webtus_options(s);
		break;
	case SH_TUS_CREATE:
	case SH_TUS_HEAD:
	case SH_TUS_DELETE:
		break;
	default:
		if (s->in_over) {
			webanswer_error(s, "too_large", "the request body is "
			    "larger than 16384 bytes", NULL);
			break;
		}
		if (s->rt->src == SRC_BODY) {
			obj = webjson_parse_body(evbuffer_pullup(s->in, -1),
			    evbuffer_get_length(s->in), &err);
			if (obj == NULL) {
				webanswer_error(s, err.code, err.message, NULL);
				break;
			}
		} else if (s->rt->src == SRC_QUERY && s->query != NULL)
			obj = json_incref(s->query);
		else if ((obj = json_object()) == NULL) {
			webanswer_error(s, "unavailable", "out of memory", NULL);
			break;
		}
		if (s->rt->param != NULL) {
			if (json_object_get(obj, s->rt->param) != NULL) {
				webanswer_error(s, "bad_value", "this field is "
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
		webanswer_dispatch(s, s->rt->op, obj);
		break;
	}
	json_decref(obj);
	webapi_stream_unref(s);
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
		(void)webtus_write(s, 1);
	if (s->req.up != NULL)
		upload_abort(&s->req, "the request's stream ended before its "
		    "end");
	webapi_stream_unref(s);
}
