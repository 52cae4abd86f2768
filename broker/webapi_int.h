/*
 * webapi_int — what the three parts of the browser API share: webapi.c
 * (routes, the responder, the request's life), webtus.c (tus uploads) and
 * webanswer.c (answers: JSON, errors, lists, CSV, downloads). Not a
 * contract for anyone else; see webapi.h.
 *
 * Layering: webapi.c -> webtus.c -> webanswer.c; nothing calls upward.
 */
#ifndef SEKISHO_WEBAPI_INT_H
#define SEKISHO_WEBAPI_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "broker/request.h"
#include "broker/web.h"
#include "broker/webapi.h"
#include "lib/util.h"
#include "lib/wire.h"

#define API_ID 1
#define LIST_MAX 1000			/* items of one list answer */
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

/* ---- webanswer.c -------------------------------------------------------- */

/* Drops a reference; the last frees the stream. */
void webapi_stream_unref(struct webapi_stream *s);

/* Answers whole: status, headers (copied) and body (NULL: none; HEAD
 * never has one). Nothing once gone or answered. */
void webanswer_raw(struct webapi_stream *s, int status, struct web_header *h,
    size_t n, const char *body, size_t len);
/* JSON (reference taken over; NULL: a 503) with extra headers. */
void webanswer_json(struct webapi_stream *s, int status, json_t *o,
    const struct web_header *extra, size_t nextra);
/* An error: the status of code, its Japanese sentence (of the reason for
 * a policy refusal), the English en, and the details (each may be NULL;
 * offset: an Upload-Offset header). */
void webanswer_error_full(struct webapi_stream *s, const char *code,
    const char *en, const char *field, const char *rule, const char *reason,
    const char *transfer, uint64_t retry_after, const char *offset);
void webanswer_error(struct webapi_stream *s, const char *code,
    const char *en, const char *field);
/* The request layer's error message m as the answer. */
void webanswer_error_msg(struct webapi_stream *s, const struct wire_msg *m);
/* 1 when the stream's route is one of tus's. */
int webanswer_is_tus(const struct webapi_stream *s);
/* A download's headers from its head message (content_type, filename or
 * name, size). */
void webanswer_download_head(struct webapi_stream *s,
    const struct wire_msg *m);
/* One message of a raw answer (the audit bundle), encoded as sekisho/1. */
void webanswer_raw_append(struct webapi_stream *s, const struct wire_msg *m);
/* A list's item, and its end (the JSON or CSV answer). */
void webanswer_list_item(struct webapi_stream *s, const struct wire_msg *m);
void webanswer_list_end(struct webapi_stream *s, const struct wire_msg *m);
/* Builds op's message from obj (the wire schema decides) and dispatches
 * it as a request of the stream; a refusal of obj is answered. */
void webanswer_dispatch(struct webapi_stream *s, enum wire_op op,
    const json_t *obj);

/* ---- webtus.c --------------------------------------------------------------- */

/* Starts a tus request (creation, HEAD, PATCH, DELETE) at the end of its
 * headers: Tus-Resumable checked, the URL and headers parsed, the first
 * message dispatched. */
void webtus_begin(struct webapi_stream *s, const struct webapi_req *rq);
/* An answer of the request layer to a tus request. */
void webtus_message(struct webapi_stream *s, const struct wire_msg *m);
/* Moves a PATCH's body into the upload while it takes data; ends the
 * request when the body has ended. */
void webtus_pump(struct webapi_stream *s);
/* Writes what the body has brought, all of it (all) or in big writes;
 * -1 when the upload failed. */
int webtus_write(struct webapi_stream *s, int all);
/* OPTIONS: the server's tus capabilities. */
void webtus_options(struct webapi_stream *s);

#endif
