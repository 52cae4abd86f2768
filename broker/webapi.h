/*
 * webapi — the browser API under /api/v1/: each HTTP request becomes one
 * request of the request layer (request.h), dispatched through the same
 * table, gates and handlers as a sekisho/1 message, and its answers become
 * JSON, a download, or tus headers.
 *
 * Every stream of a browser connection that asks for the API gets a
 * struct webapi_stream, which is a struct reqconn of its own: the request
 * layer sees one "connection" per request, with the principal and peer of
 * the TLS connection. So the rules (roles, step-up, audit records, error
 * codes, the one upload per reqconn) are those of sekisho/1 without a
 * second implementation. What is particular to HTTP is only the mapping:
 *
 *   - a route names the op and where its fields come from (the JSON body,
 *     the query string, the path) and the shape of the answer: one JSON
 *     object, a list ({"items": [...], "count", "next"}), a CSV of a list,
 *     a download (a head message, data items, a last message), or the raw
 *     sekisho/1 bytes of the answer (the audit bundle);
 *   - errors: the HTTP status of the code (webmsg.h) and
 *     {"code", "message": {"ja", "en"}, "field", "rule", "reason", ...};
 *   - uploads speak tus 1.0 (creation, HEAD, PATCH, termination): the
 *     creation is a put (decided by the policy before a byte is taken),
 *     HEAD asks the status of the transfer, and each PATCH is a resume of
 *     the transfer at the client's Upload-Offset whose body streams into
 *     the spool file; the SHA-256 declared at creation travels in the
 *     upload's URL (/api/v1/uploads/<transfer>-<sha256>), so no state is
 *     kept between requests and a restart loses nothing the store does
 *     not hold.
 *
 * The transport (h2conn.c) supplies struct webapi_io for each stream;
 * webapi never sees nghttp2. Request bodies are handed over as they come
 * (webapi_body): a JSON body is collected up to WEBJSON_MAX_BODY bytes, an
 * upload's body goes to the spool file and is given back to the transport
 * (io->consume) only once written, so the stream's flow-control window
 * bounds what waits in memory.
 *
 * Loop thread only.
 */
#ifndef SEKISHO_WEBAPI_H
#define SEKISHO_WEBAPI_H

#include <stddef.h>
#include <stdint.h>

struct broker;
struct principal;
struct web_header;
struct webapi_stream;

/* What the transport does for one stream. t is its stream handle. */
struct webapi_io {
	/* Starts the answer with status and headers (copied). body: 1 when
	 * body bytes follow (then body..., end), 0 when the answer is only
	 * the headers. -1 when the stream cannot take it. */
	int (*head)(void *t, int status, const struct web_header *h,
	    size_t n, int body);
	/* Queues answer bytes (copied). */
	int (*body)(void *t, const uint8_t *p, size_t len);
	/* The answer's body is complete. */
	void (*end)(void *t);
	/* Ends the stream at once (an answer that cannot be completed). */
	void (*reset)(void *t);
	/* Answer bytes queued and not yet written. */
	size_t (*pending)(void *t);
	/* n request body bytes were dealt with: the peer may send more. */
	void (*consume)(void *t, size_t n);
	/* True once the connection is ending (GOAWAY: a revoked
	 * certificate, the lifetime reached, shutdown): a job that ends now
	 * must not act for the request any more (request.h). */
	int (*ending)(void *t);
};

/* One request as the transport collected it; strings are borrowed for
 * the call only (NULL when absent). */
struct webapi_req {
	const char *method;
	const char *path;		/* :path, query included */
	const char *content_type;
	const char *tus_resumable;
	const char *upload_length;
	const char *upload_offset;
	const char *upload_metadata;
	const char *otp;		/* X-Sekisho-OTP */
};

/* Header values webapi reads, bounded by the transport to this many
 * bytes (a longer one is taken as absent). */
#define WEBAPI_MAX_HEADER 2048

/* 1 when path (query allowed) is under /api/ and webapi answers it. */
int webapi_handles(const char *path);

/*
 * Starts the answer to rq for who (from peer), on the transport's stream
 * t. The same-origin rule has been applied by the caller. Returns the
 * stream's state, or NULL when out of memory (the transport answers 503).
 * The transport calls webapi_body/webapi_body_end for the request body and
 * webapi_gone when the stream ends for any reason; after webapi_gone it
 * must not use the pointer again, and webapi no longer uses t.
 */
struct webapi_stream *webapi_begin(struct broker *b,
    const struct principal *who, const char *peer,
    const struct webapi_req *rq, const struct webapi_io *io, void *t);
void webapi_body(struct webapi_stream *s, const uint8_t *p, size_t len);
void webapi_body_end(struct webapi_stream *s);
void webapi_gone(struct webapi_stream *s);

#endif
