/*
 * webtus — tus 1.0 uploads of the browser API (webapi_int.h, webapi.h).
 *
 * Creation is a put (decided before a byte is taken); HEAD is a status;
 * a PATCH is a status, then a put with resume at the client's offset,
 * then its body into the spool file, then end with the SHA-256 the URL
 * carries, each step the next once the previous answer came; DELETE is
 * the owner's withdrawal.
 */
#include "broker/webapi_int.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/log.h"
#include "broker/upload.h"
#include "broker/webjson.h"
#include "broker/webmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <event2/buffer.h>

#define PUMP_MIN (256u * 1024)		/* body bytes written at once */

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
	webanswer_raw(s, status, h, n, NULL, 0);
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
		webanswer_error(s, "length_required", "Upload-Length (the file's "
		    "size in bytes) is required; deferred lengths are not "
		    "supported", "Upload-Length");
		return;
	}
	if ((s->meta = webjson_parse_tus_metadata(rq->upload_metadata,
	    &err)) == NULL) {
		webanswer_error(s, err.code, err.message, err.field);
		return;
	}
	sha = json_object_get(s->meta, "sha256");
	if (!json_is_string(sha) || strlen(json_string_value(sha)) !=
	    UTIL_SHA256_HEX || strspn(json_string_value(sha),
	    "0123456789abcdef") != UTIL_SHA256_HEX) {
		webanswer_error(s, "bad_value", "Upload-Metadata sha256 is "
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
	webanswer_dispatch(s, WIRE_OP_PUT, s->meta);
}

/* PATCH and HEAD begin with the transfer's status. */
static void
tus_status(struct webapi_stream *s)
{
	json_t *o = json_object();

	if (o == NULL) {
		webanswer_error(s, "unavailable", "out of memory", NULL);
		return;
	}
	json_object_set_new(o, "transfer", json_string(s->id));
	s->step = T_STATUS;
	webanswer_dispatch(s, WIRE_OP_STATUS, o);
	json_decref(o);
}

static void
tus_resume(struct webapi_stream *s, const struct wire_msg *st)
{
	json_t *o = json_object();
	uint64_t class = 0;

	if (o == NULL) {
		webanswer_error(s, "unavailable", "out of memory", NULL);
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
	webanswer_dispatch(s, WIRE_OP_PUT, o);
	json_decref(o);
}

static void
tus_end(struct webapi_stream *s)
{
	json_t *o = json_object();

	if (o == NULL) {
		webanswer_error(s, "unavailable", "out of memory", NULL);
		return;
	}
	json_object_set_new(o, "sha256", json_string(s->sha));
	s->step = T_END;
	webanswer_dispatch(s, WIRE_OP_END, o);
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
			webanswer_error_full(s, "not_resumable", en, NULL, NULL,
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
		webanswer_error_full(s, "offset_mismatch", en, "Upload-Offset",
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

void
webtus_message(struct webapi_stream *s, const struct wire_msg *m)
{
	uint64_t offset = 0;
	char loc[200];

	if (m->op == WIRE_OP_ERROR) {
		/* An upload the layer still holds for this stream goes back
		 * (a resume refused after ready cannot happen; a failed one
		 * was detached by the layer). */
		upload_release(&s->req, "the request was refused");
		webanswer_error_msg(s, m);
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
			webanswer_error_full(s, "offset_mismatch", "the broker "
			    "holds another offset of this upload; ask with HEAD "
			    "and send from there", "Upload-Offset", NULL, NULL,
			    s->id, 0, off);
			return;
		}
		s->step = T_DATA;
		webtus_pump(s);
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
	webanswer_error(s, "internal", "the broker answered out of order", NULL);
}

/*
 * Moves the body of a PATCH into the upload while the layer takes data:
 * in writes of at least PUMP_MIN bytes (HTTP/2 frames are small), the
 * rest when the body has ended. At the end of the body, either end (the
 * file is complete) or the upload is let go at its offset.
 */
int
webtus_write(struct webapi_stream *s, int all)
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
void
webtus_pump(struct webapi_stream *s)
{
	struct reqconn *c = &s->req;

	if (s->gone || s->done || s->step != T_DATA ||
	    webtus_write(s, s->in_ended) != 0)
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

void
webtus_options(struct webapi_stream *s)
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
	webanswer_raw(s, 204, h, 4, NULL, 0);
}

/* ---- the start of a request ------------------------------------------------ */

void
webtus_begin(struct webapi_stream *s, const struct webapi_req *rq)
{
	if (rq->tus_resumable == NULL ||
	    strcmp(rq->tus_resumable, TUS_VERSION) != 0) {
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
		webanswer_json(s, 412, o, h, 2);
		return;
	}
	switch (s->rt->shape) {
	case SH_TUS_CREATE:
		tus_create(s, rq);
		break;
	case SH_TUS_HEAD:
	case SH_TUS_PATCH:
	case SH_TUS_DELETE:
		if (tus_parse_url(s) != 0) {
			webanswer_error(s, "not_found", "no such upload (the "
			    "address is /api/v1/uploads/<transfer>-<sha256> "
			    "as the creation answered)", NULL);
			break;
		}
		if (s->rt->shape == SH_TUS_PATCH) {
			if (rq->content_type == NULL || strcmp(rq->content_type,
			    "application/offset+octet-stream") != 0) {
				webanswer_error(s, "unsupported_media_type",
				    "a PATCH carries Content-Type: "
				    "application/offset+octet-stream",
				    "Content-Type");
				break;
			}
			if (parse_u64(rq->upload_offset, &s->offset) != 0) {
				webanswer_error(s, "bad_value", "Upload-Offset "
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
			webanswer_dispatch(s, WIRE_OP_WITHDRAW, o);
			json_decref(o);
			break;
		}
		tus_status(s);
		break;
	default:
		break;
	}
}
