/*
 * upstream — the contract between the forwarder and its connectors.
 *
 * A connector (upstream_webdav, upstream_s3) knows one upstream protocol and
 * nothing about sockets: it is a state machine that, given the previous
 * response, says what to do next — send this HTTP request, hash this range
 * of the spool file, record an open multipart upload in the store, or stop
 * with an outcome. The forwarder (forward.c) does
 * all I/O with libcurl on the event loop, verifies TLS and pins, signs S3
 * requests (CURLOPT_AWS_SIGV4) and hands the results back. Because of this
 * split the connectors are pure and their protocol logic can be tested
 * without a network.
 *
 * Ownership: the connector owns its state and any memory a request points
 * to (a MEMORY body) until its next call or its free. The forwarder owns the
 * response and its body for the duration of one next call.
 */
#ifndef SEKISHO_UPSTREAM_H
#define SEKISHO_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "broker/pathtmpl.h"
#include "broker/retry.h"
#include "broker/store.h"
#include "lib/util.h"

#define UPSTREAM_URL_MAX 4096
#define UPSTREAM_MAX_HEADERS 12
#define UPSTREAM_HEADER_MAX 512
#define UPSTREAM_BODY_MAX 65536		/* response body bytes kept */
#define UPSTREAM_MAX_STEPS 20050	/* requests per attempt (parts + 50) */

/* What the attempt delivers, and where. Filled by the forwarder from the
 * current register and the transfer. */
struct upstream_target {
	char service[64];
	char endpoint[1024];		/* https://host[:port][/base] */
	char bucket[256];		/* s3: "" for a bucket endpoint */
	char region[64];		/* s3 */
	char path[PATHTMPL_MAX + 1];	/* expanded destination, '/' first */
	char transfer[UTIL_ID_LEN + 1];
	uint64_t size;
	uint8_t sha256[UTIL_SHA256_LEN];
	int check_existing;		/* an earlier attempt may have arrived */
	int s3_session_token;		/* s3: credentials carry a token */
	char s3_token[2048];		/* s3: x-amz-security-token value */
	uint64_t multipart_threshold;	/* s3 */
	uint64_t part_size;		/* s3 */
	/* s3: a multipart upload an earlier attempt left open (the broker
	 * stopped in the middle), to abort first; "" when none. Only set
	 * when its URL is on this endpoint. */
	char stale_url[UPSTREAM_URL_MAX];
	char stale_upload_id[STORE_MAX_UPLOAD_ID + 1];
};

enum upstream_body {
	UPSTREAM_BODY_NONE = 0,
	UPSTREAM_BODY_SPOOL,		/* [offset, offset + length) of the file */
	UPSTREAM_BODY_MEMORY		/* mem, memlen */
};

struct upstream_request {
	char step[16];			/* "put", "move", "head", ... for logs */
	char method[12];
	char url[UPSTREAM_URL_MAX];
	char headers[UPSTREAM_MAX_HEADERS][UPSTREAM_HEADER_MAX];
	size_t nheaders;
	enum upstream_body body;
	uint64_t offset, length;
	const char *mem;
	size_t memlen;
	int keep_body;			/* keep up to UPSTREAM_BODY_MAX bytes */
	int hash_body;			/* SHA-256 over the whole response body */
	int main;			/* the request that carries the object */
	int cleanup;			/* after the outcome is known: tidying
					   up or reading back, not deciding */
	/* UPSTREAM_NOTE: remember that url has the open multipart upload
	 * note_upload_id, durably, before going on. */
	char note_upload_id[STORE_MAX_UPLOAD_ID + 1];
};

struct upstream_response {
	enum retry_transport transport;	/* RETRY_T_OK when a response came */
	long status;			/* HTTP status, 0 when none */
	char error[256];		/* transport error text, "" when none */
	char etag[STORE_MAX_TAG + 1];
	char version_id[STORE_MAX_TAG + 1];
	char meta_sha256[UTIL_SHA256_HEX + 1];	/* x-amz-meta-sekisho-sha256 */
	int has_length;
	uint64_t content_length;
	const char *body;		/* keep_body: the (bounded) body */
	size_t bodylen;
	int body_truncated;
	uint8_t body_sha256[UTIL_SHA256_LEN];	/* hash_body */
	uint64_t body_bytes;
	uint64_t body_sent;		/* body bytes sent by this request */
	int sent_hashed;		/* a SPOOL body was sent whole and */
	uint8_t sent_sha256[UTIL_SHA256_LEN];	/* hashed on the way */
	/* UPSTREAM_NOTE result: 1 when the note is durable */
	int noted;
	/* UPSTREAM_HASH results */
	int hashed;
	uint8_t range_sha256[UTIL_SHA256_LEN];
};

enum upstream_next {
	UPSTREAM_SEND = 0,		/* send req */
	UPSTREAM_HASH,			/* hash req.offset/req.length of the
					   spool file; the next call gets
					   response.hashed */
	UPSTREAM_NOTE,			/* record req.url + note_upload_id in
					   the store; the next call gets
					   response.noted */
	UPSTREAM_DONE			/* outcome filled */
};

struct upstream_outcome {
	enum retry_verdict verdict;	/* DONE: delivered */
	enum retry_transport transport;
	long status;			/* the deciding HTTP status */
	char reason[256];		/* why it failed, or how it ended */
	char etag[STORE_MAX_TAG + 1];
	char version_id[STORE_MAX_TAG + 1];
	int already_there;		/* found delivered by an earlier attempt */
	/* The bytes read from the spool were not the file (a SPOOL body
	 * that did not hash as expected): the forwarder checks the whole
	 * copy before it retries. */
	int spool_suspect;
};

struct upstream_ops {
	const char *name;
	/* New state for one attempt; NULL with err on failure. */
	void *(*start)(const struct upstream_target *t, char *err,
	    size_t errlen);
	/* r is NULL on the first call. Fills req (SEND, HASH) or o (DONE). */
	enum upstream_next (*next)(void *state,
	    const struct upstream_response *r, struct upstream_request *req,
	    struct upstream_outcome *o);
	void (*free)(void *state);
};

/* Clears req and sets step, method and url. -1 if url does not fit. */
int upstream_req_init(struct upstream_request *req, const char *step,
    const char *method, const char *url);
/* Adds a header line "Name: value". -1 if it does not fit or has a
 * control character. */
int upstream_req_header(struct upstream_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "endpoint + url-encoded path" (the endpoint's trailing '/' dropped),
 * optionally followed by query (already canonical, without '?'). */
int upstream_url(const char *endpoint, const char *path, const char *query,
    char *out, size_t outlen);

/* Fills o from a response of a request that was expected to succeed:
 * DONE for 2xx, otherwise the retry classification, with a reason that
 * names the step. Returns o->verdict. */
enum retry_verdict upstream_settle(const struct upstream_response *r,
    const char *step, struct upstream_outcome *o);

/* Fills o with a verdict and a formatted reason. */
void upstream_outcome(struct upstream_outcome *o, enum retry_verdict v,
    long status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
