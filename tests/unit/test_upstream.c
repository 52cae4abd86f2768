/*
 * Tests for the delivery connectors (broker/upstream_webdav.c,
 * broker/upstream_s3.c) as the pure state machines they are: each test
 * plays the server's answers and checks the requests and the outcome —
 * temporary name and MOVE without overwrite, cleanup after a broken body,
 * recognising an earlier delivery, S3 headers, canonical queries,
 * multipart with abort — and the credentials files the connectors use.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "broker/credentials.h"
#include "broker/upstream.h"
#include "broker/upstream_s3.h"
#include "broker/upstream_webdav.h"

#define ID "0123456789abcdef0123456789abcdef"

static uint8_t file_sha[32];

static struct upstream_target
target(uint64_t size)
{
	struct upstream_target t;

	memset(&t, 0, sizeof(t));
	snprintf(t.service, sizeof(t.service), "svc");
	snprintf(t.endpoint, sizeof(t.endpoint), "https://dav.example.jp/base/");
	snprintf(t.path, sizeof(t.path), "/in/%s-報告 書.pdf", ID);
	snprintf(t.transfer, sizeof(t.transfer), ID);
	snprintf(t.region, sizeof(t.region), "ap-northeast-1");
	t.size = size;
	SHA256((const unsigned char *)"file", 4, file_sha);
	memcpy(t.sha256, file_sha, sizeof(file_sha));
	t.multipart_threshold = 64u << 20;
	t.part_size = 16u << 20;
	return t;
}

static int
has_header(const struct upstream_request *q, const char *h)
{
	size_t i;

	for (i = 0; i < q->nheaders; i++)
		if (strcmp(q->headers[i], h) == 0)
			return 1;
	return 0;
}

static const char *
header(const struct upstream_request *q, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < q->nheaders; i++)
		if (strncmp(q->headers[i], name, n) == 0 &&
		    q->headers[i][n] == ':')
			return q->headers[i] + n + 2;
	return NULL;
}

static struct upstream_response
ok(long status)
{
	struct upstream_response r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	return r;
}

/* A WebDAV attempt whose first PUT was answered with status: the state,
 * and in *nx, q and o what the connector did next. */
static void *
webdav_put_answered(const struct upstream_target *t, long status,
    enum upstream_next *nx, struct upstream_request *q,
    struct upstream_outcome *o)
{
	struct upstream_response r;
	char err[128];
	void *w = upstream_webdav_ops.start(t, err, sizeof(err));

	assert_non_null(w);
	assert_int_equal(upstream_webdav_ops.next(w, NULL, q, o),
	    UPSTREAM_SEND);
	assert_string_equal(q->method, "PUT");
	r = ok(status);
	*nx = upstream_webdav_ops.next(w, &r, q, o);
	return w;
}

#define FINAL "https://dav.example.jp/base/in/" ID \
    "-%E5%A0%B1%E5%91%8A%20%E6%9B%B8.pdf"
#define TEMP "https://dav.example.jp/base/in/.sekisho-" ID ".part"

/* ---- WebDAV ----------------------------------------------------------- */

static void
test_webdav_put_move_head(void **state)
{
	struct upstream_target t = target(1000);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	char err[128];
	void *w;

	(void)state;
	w = upstream_webdav_ops.start(&t, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(upstream_webdav_ops.next(w, NULL, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "PUT");
	assert_string_equal(q.url, TEMP);
	assert_int_equal(q.body, UPSTREAM_BODY_SPOOL);
	assert_int_equal(q.offset, 0);
	assert_int_equal(q.length, 1000);
	assert_true(q.main);

	r = ok(201);
	r.sent_hashed = 1;
	memcpy(r.sent_sha256, file_sha, 32);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "MOVE");
	assert_string_equal(q.url, TEMP);
	assert_true(has_header(&q, "Destination: " FINAL));
	assert_true(has_header(&q, "Overwrite: F"));

	r = ok(201);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "HEAD");
	assert_string_equal(q.url, FINAL);
	assert_true(q.cleanup);

	r = ok(200);
	r.has_length = 1;
	r.content_length = 1000;
	snprintf(r.etag, sizeof(r.etag), "\"abc\"");
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_DONE);
	assert_int_equal(o.status, 201);
	assert_string_equal(o.etag, "\"abc\"");
	assert_false(o.already_there);
	upstream_webdav_ops.free(w);
}

static void
test_webdav_bad_bytes_are_never_moved(void **state)
{
	struct upstream_target t = target(10);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	char err[128];
	void *w = upstream_webdav_ops.start(&t, err, sizeof(err));

	(void)state;
	upstream_webdav_ops.next(w, NULL, &q, &o);
	r = ok(201);
	r.sent_hashed = 1;
	memset(r.sent_sha256, 0xee, 32);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "DELETE");
	assert_string_equal(q.url, TEMP);
	assert_true(q.cleanup);
	r = ok(204);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_int_equal(o.transport, RETRY_T_LOCAL);
	upstream_webdav_ops.free(w);
}

static void
test_webdav_refused_and_broken_puts(void **state)
{
	struct upstream_target t = target(10);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	enum upstream_next nx;
	char err[128];
	void *w;

	(void)state;
	/* 403: nothing stored, nothing to clean, never retried. */
	w = webdav_put_answered(&t, 403, &nx, &q, &o);
	assert_int_equal(nx, UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_NEVER);
	assert_int_equal(o.status, 403);
	upstream_webdav_ops.free(w);

	/* A reset mid-body: the temporary is removed, then retried. */
	w = upstream_webdav_ops.start(&t, err, sizeof(err));
	upstream_webdav_ops.next(w, NULL, &q, &o);
	r = ok(0);
	r.transport = RETRY_T_BROKEN;
	r.body_sent = 5;
	snprintf(r.error, sizeof(r.error), "Connection reset by peer");
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "DELETE");
	r = ok(0);
	r.transport = RETRY_T_CONNECT;	/* even if the cleanup fails */
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_int_equal(o.transport, RETRY_T_BROKEN);
	assert_non_null(strstr(o.reason, "reset"));
	upstream_webdav_ops.free(w);
}

static void
test_webdav_creates_missing_folders(void **state)
{
	struct upstream_target t = target(10);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	enum upstream_next nx;
	void *w;

	(void)state;
	snprintf(t.path, sizeof(t.path), "/if 1/2026-11-22/f.pdf");
	/* 409: no parent collection. The folders are made top down; the
	 * first already exists (405), the second is created. */
	w = webdav_put_answered(&t, 409, &nx, &q, &o);
	assert_int_equal(nx, UPSTREAM_SEND);
	assert_string_equal(q.method, "MKCOL");
	assert_string_equal(q.url, "https://dav.example.jp/base/if%201/");
	r = ok(405);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "MKCOL");
	assert_string_equal(q.url,
	    "https://dav.example.jp/base/if%201/2026-11-22/");
	r = ok(201);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "PUT");
	assert_string_equal(q.url, "https://dav.example.jp/base/if%201/"
	    "2026-11-22/.sekisho-" ID ".part");
	assert_true(q.main);
	/* A second 409 is the server's final word. */
	r = ok(409);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_NEVER);
	assert_int_equal(o.status, 409);
	upstream_webdav_ops.free(w);

	/* A folder the service refuses ends the attempt, naming it. */
	w = webdav_put_answered(&t, 409, &nx, &q, &o);
	r = ok(403);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_NEVER);
	assert_int_equal(o.status, 403);
	assert_non_null(strstr(o.reason, "mkcol"));
	assert_non_null(strstr(o.reason, "creating the folder /if 1"));
	upstream_webdav_ops.free(w);

	/* A 5xx on a folder is retried later, like any server error. */
	w = webdav_put_answered(&t, 409, &nx, &q, &o);
	r = ok(503);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	upstream_webdav_ops.free(w);

	/* A file at the top (no folder to make): the 409 stands. */
	snprintf(t.path, sizeof(t.path), "/f.pdf");
	w = webdav_put_answered(&t, 409, &nx, &q, &o);
	assert_int_equal(nx, UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_NEVER);
	upstream_webdav_ops.free(w);
}

static void
test_webdav_existing_object(void **state)
{
	struct upstream_target t = target(4);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	char err[128];
	void *w;

	(void)state;
	/* MOVE answered 412; the object there holds our bytes. */
	w = upstream_webdav_ops.start(&t, err, sizeof(err));
	upstream_webdav_ops.next(w, NULL, &q, &o);
	r = ok(201);
	r.sent_hashed = 1;
	memcpy(r.sent_sha256, file_sha, 32);
	upstream_webdav_ops.next(w, &r, &q, &o);
	r = ok(412);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "GET");
	assert_string_equal(q.url, FINAL);
	assert_true(q.hash_body);
	r = ok(200);
	r.body_bytes = 4;
	memcpy(r.body_sha256, file_sha, 32);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "DELETE");	/* our temporary */
	r = ok(204);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_DONE);
	assert_true(o.already_there);
	upstream_webdav_ops.free(w);

	/* Someone else's object: never overwritten, fails. */
	w = upstream_webdav_ops.start(&t, err, sizeof(err));
	upstream_webdav_ops.next(w, NULL, &q, &o);
	r = ok(201);
	r.sent_hashed = 1;
	memcpy(r.sent_sha256, file_sha, 32);
	upstream_webdav_ops.next(w, &r, &q, &o);
	r = ok(412);
	upstream_webdav_ops.next(w, &r, &q, &o);
	r = ok(200);
	r.body_bytes = 4;
	memset(r.body_sha256, 1, 32);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "DELETE");
	r = ok(204);
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_NEVER);
	assert_non_null(strstr(o.reason, "not overwritten"));
	upstream_webdav_ops.free(w);
}

static void
test_webdav_check_before_a_later_attempt(void **state)
{
	struct upstream_target t = target(4);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	char err[128];
	void *w;

	(void)state;
	t.check_existing = 1;
	w = upstream_webdav_ops.start(&t, err, sizeof(err));
	assert_int_equal(upstream_webdav_ops.next(w, NULL, &q, &o),
	    UPSTREAM_SEND);
	assert_string_equal(q.method, "HEAD");
	assert_string_equal(q.url, FINAL);
	assert_string_equal(q.step, "check");
	r = ok(200);
	upstream_webdav_ops.next(w, &r, &q, &o);
	assert_string_equal(q.method, "GET");
	r = ok(200);
	r.body_bytes = 4;
	memcpy(r.body_sha256, file_sha, 32);
	/* Nothing was sent: no temporary to remove, done at once. */
	assert_int_equal(upstream_webdav_ops.next(w, &r, &q, &o),
	    UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_DONE);
	assert_true(o.already_there);
	upstream_webdav_ops.free(w);

	/* Not there: the usual PUT. */
	w = upstream_webdav_ops.start(&t, err, sizeof(err));
	upstream_webdav_ops.next(w, NULL, &q, &o);
	r = ok(404);
	upstream_webdav_ops.next(w, &r, &q, &o);
	assert_string_equal(q.method, "PUT");
	upstream_webdav_ops.free(w);
}

/* ---- S3 --------------------------------------------------------------- */

#define S3_URL "https://s3.example.jp/bucket-1/in/" ID \
    "-%E5%A0%B1%E5%91%8A%20%E6%9B%B8.pdf"

static struct upstream_target
s3_target(uint64_t size)
{
	struct upstream_target t = target(size);

	snprintf(t.endpoint, sizeof(t.endpoint), "https://s3.example.jp");
	snprintf(t.bucket, sizeof(t.bucket), "bucket-1");
	return t;
}

static void
test_s3_single_put(void **state)
{
	struct upstream_target t = s3_target(1000);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	char err[128], hex[65];
	void *s;
	size_t i;

	(void)state;
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", file_sha[i]);
	s = upstream_s3_ops.start(&t, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(upstream_s3_ops.next(s, NULL, &q, &o), UPSTREAM_SEND);
	assert_string_equal(q.method, "PUT");
	assert_string_equal(q.url, S3_URL);
	assert_string_equal(header(&q, "x-amz-content-sha256"), hex);
	assert_string_equal(header(&q, "x-amz-meta-sekisho-sha256"), hex);
	assert_string_equal(header(&q, "x-amz-meta-sekisho-transfer"), ID);
	assert_int_equal(strlen(header(&q, "x-amz-checksum-sha256")), 44);
	assert_int_equal(q.body, UPSTREAM_BODY_SPOOL);
	assert_int_equal(q.length, 1000);
	r = ok(200);
	r.sent_hashed = 1;
	memcpy(r.sent_sha256, file_sha, 32);
	snprintf(r.etag, sizeof(r.etag), "\"e1\"");
	snprintf(r.version_id, sizeof(r.version_id), "v1");
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_DONE);
	assert_string_equal(o.etag, "\"e1\"");
	assert_string_equal(o.version_id, "v1");
	upstream_s3_ops.free(s);
}

static void
test_s3_check_existing(void **state)
{
	struct upstream_target t = s3_target(1000);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	char err[128];
	void *s;
	size_t i;

	(void)state;
	t.check_existing = 1;
	s = upstream_s3_ops.start(&t, err, sizeof(err));
	upstream_s3_ops.next(s, NULL, &q, &o);
	assert_string_equal(q.method, "HEAD");
	r = ok(200);
	for (i = 0; i < 32; i++)
		snprintf(r.meta_sha256 + 2 * i, 3, "%02x", file_sha[i]);
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_DONE);
	assert_true(o.already_there);
	upstream_s3_ops.free(s);

	s = upstream_s3_ops.start(&t, err, sizeof(err));
	upstream_s3_ops.next(s, NULL, &q, &o);
	r = ok(200);			/* no sekisho metadata: not ours */
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_NEVER);
	upstream_s3_ops.free(s);
}

static const char init_xml[] = "<?xml version=\"1.0\"?>"
    "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
    "<UploadId>up/1+x=</UploadId></InitiateMultipartUploadResult>";

/* After CreateMultipartUpload: the connector asks for its id to be
 * recorded, and goes on once it is. */
static enum upstream_next
note_then(void *s, struct upstream_request *q, struct upstream_outcome *o)
{
	struct upstream_response r;

	assert_string_equal(q->method, "NOTE");
	assert_string_equal(q->url, S3_URL);
	assert_string_equal(q->note_upload_id, "up/1+x=");
	r = ok(0);
	r.noted = 1;
	return upstream_s3_ops.next(s, &r, q, o);
}

/* A multipart attempt whose CreateMultipartUpload was answered: the
 * connector now asks for the upload id to be recorded. */
static void *
s3_created(const struct upstream_target *t, struct upstream_request *q,
    struct upstream_outcome *o)
{
	struct upstream_response r;
	char err[128];
	void *s = upstream_s3_ops.start(t, err, sizeof(err));

	assert_non_null(s);
	assert_int_equal(upstream_s3_ops.next(s, NULL, q, o), UPSTREAM_SEND);
	assert_string_equal(q->method, "POST");
	r = ok(200);
	r.body = init_xml;
	r.bodylen = sizeof(init_xml) - 1;
	assert_int_equal(upstream_s3_ops.next(s, &r, q, o), UPSTREAM_NOTE);
	return s;
}

static void
test_s3_multipart(void **state)
{
	struct upstream_target t = s3_target((12u << 20) + 5);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	char err[128];
	uint8_t ph[3][32];
	void *s;
	unsigned n;
	static const char done_xml[] = "<CompleteMultipartUploadResult>"
	    "<ETag>\"m-3\"</ETag></CompleteMultipartUploadResult>";

	(void)state;
	t.multipart_threshold = 6u << 20;
	t.part_size = 5u << 20;
	s = upstream_s3_ops.start(&t, err, sizeof(err));
	assert_int_equal(upstream_s3_ops.next(s, NULL, &q, &o), UPSTREAM_SEND);
	assert_string_equal(q.method, "POST");
	assert_string_equal(q.url, S3_URL "?uploads=");
	assert_true(has_header(&q, "x-amz-checksum-algorithm: SHA256"));
	assert_non_null(header(&q, "x-amz-meta-sekisho-sha256"));
	r = ok(200);
	r.body = init_xml;
	r.bodylen = sizeof(init_xml) - 1;
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_NOTE);
	for (n = 1; n <= 3; n++) {
		assert_int_equal(n == 1 ? note_then(s, &q, &o) :
		    upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_HASH);
		assert_int_equal(q.offset, (uint64_t)(n - 1) * (5u << 20));
		assert_int_equal(q.length, n < 3 ? 5u << 20 : (2u << 20) + 5);
		r = ok(0);
		r.hashed = 1;
		memset(ph[n - 1], (int)n, 32);
		memcpy(r.range_sha256, ph[n - 1], 32);
		assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o),
		    UPSTREAM_SEND);
		assert_string_equal(q.method, "PUT");
		{
			char want[256];

			snprintf(want, sizeof(want), "%s?partNumber=%u&"
			    "uploadId=up%%2F1%%2Bx%%3D", S3_URL, n);
			assert_string_equal(q.url, want);
		}
		assert_int_equal(q.offset, (uint64_t)(n - 1) * (5u << 20));
		r = ok(200);
		r.sent_hashed = 1;
		memcpy(r.sent_sha256, ph[n - 1], 32);
		snprintf(r.etag, sizeof(r.etag), "\"p%u\"", n);
	}
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_SEND);
	assert_string_equal(q.method, "POST");
	assert_string_equal(q.url, S3_URL "?uploadId=up%2F1%2Bx%3D");
	assert_int_equal(q.body, UPSTREAM_BODY_MEMORY);
	assert_non_null(strstr(q.mem, "<Part><PartNumber>3</PartNumber>"
	    "<ETag>&quot;p3&quot;</ETag>"));
	{
		uint8_t h[32];
		char hex[65];
		size_t i;

		SHA256((const unsigned char *)q.mem, q.memlen, h);
		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", h[i]);
		assert_string_equal(header(&q, "x-amz-content-sha256"), hex);
	}
	r = ok(200);
	r.body = done_xml;
	r.bodylen = sizeof(done_xml) - 1;
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_DONE);
	assert_string_equal(o.etag, "\"m-3\"");
	upstream_s3_ops.free(s);
}

static void
test_s3_multipart_failures_abort(void **state)
{
	struct upstream_target t = s3_target(12u << 20);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	void *s;
	static const char err_xml[] = "<Error><Code>InternalError</Code>"
	    "</Error>";

	(void)state;
	t.multipart_threshold = 6u << 20;
	t.part_size = 5u << 20;
	/* A part answered 503: abort, then retry later. */
	s = s3_created(&t, &q, &o);
	note_then(s, &q, &o);
	r = ok(0);
	r.hashed = 1;
	upstream_s3_ops.next(s, &r, &q, &o);
	r = ok(503);
	r.body = "<Error><Code>SlowDown</Code></Error>";
	r.bodylen = strlen(r.body);
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_SEND);
	assert_string_equal(q.method, "DELETE");
	assert_string_equal(q.url, S3_URL "?uploadId=up%2F1%2Bx%3D");
	assert_true(q.cleanup);
	r = ok(204);
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_int_equal(o.status, 503);
	assert_non_null(strstr(o.reason, "SlowDown"));
	upstream_s3_ops.free(s);

	/* CompleteMultipartUpload answered 200 with an error inside. */
	t.size = 6u << 20;
	s = s3_created(&t, &q, &o);
	note_then(s, &q, &o);
	for (int n = 0; n < 2; n++) {
		r = ok(0);
		r.hashed = 1;
		upstream_s3_ops.next(s, &r, &q, &o);
		r = ok(200);
		r.sent_hashed = 1;
		snprintf(r.etag, sizeof(r.etag), "\"p\"");
		upstream_s3_ops.next(s, &r, &q, &o);
	}
	assert_string_equal(q.method, "POST");
	r = ok(200);
	r.body = err_xml;
	r.bodylen = sizeof(err_xml) - 1;
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_SEND);
	assert_string_equal(q.method, "DELETE");
	r = ok(204);
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_non_null(strstr(o.reason, "InternalError"));
	upstream_s3_ops.free(s);

	/* The id could not be recorded: no part is sent, the upload is
	 * aborted, the attempt is tried again later. */
	s = s3_created(&t, &q, &o);
	r = ok(0);
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_SEND);
	assert_string_equal(q.method, "DELETE");
	assert_string_equal(q.url, S3_URL "?uploadId=up%2F1%2Bx%3D");
	r = ok(204);
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_int_equal(o.transport, RETRY_T_LOCAL);
	upstream_s3_ops.free(s);
}

static void
test_s3_stale_upload_is_aborted_first(void **state)
{
	struct upstream_target t = s3_target(12u << 20);
	struct upstream_request q;
	struct upstream_outcome o;
	struct upstream_response r;
	char err[128];
	void *s;
	static const long go_on[] = { 204, 404, 403, 405 };
	size_t i;

	(void)state;
	t.multipart_threshold = 6u << 20;
	t.part_size = 5u << 20;
	t.check_existing = 1;
	snprintf(t.stale_url, sizeof(t.stale_url), "%s", S3_URL);
	snprintf(t.stale_upload_id, sizeof(t.stale_upload_id), "old/1 2");
	/* Aborted, gone already, or not abortable by us: the attempt goes
	 * on with its HEAD, then its own upload. */
	for (i = 0; i < sizeof(go_on) / sizeof(go_on[0]); i++) {
		s = upstream_s3_ops.start(&t, err, sizeof(err));
		assert_int_equal(upstream_s3_ops.next(s, NULL, &q, &o),
		    UPSTREAM_SEND);
		assert_string_equal(q.method, "DELETE");
		assert_string_equal(q.url, S3_URL "?uploadId=old%2F1%202");
		assert_true(q.cleanup);
		r = ok(go_on[i]);
		assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o),
		    UPSTREAM_SEND);
		assert_string_equal(q.method, "HEAD");
		r = ok(404);
		assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o),
		    UPSTREAM_SEND);
		assert_string_equal(q.method, "POST");
		assert_string_equal(q.url, S3_URL "?uploads=");
		upstream_s3_ops.free(s);
	}
	/* A service in trouble: the attempt ends, to be tried again, and
	 * nothing new is started on top of the old upload. */
	s = upstream_s3_ops.start(&t, err, sizeof(err));
	upstream_s3_ops.next(s, NULL, &q, &o);
	r = ok(503);
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_non_null(strstr(o.reason, "abort-old"));
	upstream_s3_ops.free(s);
	s = upstream_s3_ops.start(&t, err, sizeof(err));
	upstream_s3_ops.next(s, NULL, &q, &o);
	r = ok(0);
	r.transport = RETRY_T_CONNECT;
	assert_int_equal(upstream_s3_ops.next(s, &r, &q, &o), UPSTREAM_DONE);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	upstream_s3_ops.free(s);
}

static void
test_s3_part_size_grows_for_huge_files(void **state)
{
	struct upstream_target t = s3_target(200ull << 30);	/* 200 GiB */
	struct upstream_request q;
	struct upstream_outcome o;
	void *s;

	(void)state;
	t.part_size = 5u << 20;
	s = s3_created(&t, &q, &o);
	assert_int_equal(note_then(s, &q, &o), UPSTREAM_HASH);
	/* 10,000 parts at most: 200 GiB needs parts above 20 MiB. */
	assert_true(q.length * 10000 >= t.size);
	assert_int_equal(q.length % (1u << 20), 0);
	upstream_s3_ops.free(s);
}

static void
test_xml_reader(void **state)
{
	char out[64];
	static const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE a ["
	    "<!ENTITY e SYSTEM \"file:///etc/hostname\">]><a><Code>&e;</Code>"
	    "</a>";
	static const char nested[] = "<a><b><c>1</c></b><d><Code>X"
	    "</Code></d></a>";

	(void)state;
	assert_int_equal(upstream_s3_xml_text(nested, strlen(nested), "Code",
	    out, sizeof(out)), 0);
	assert_string_equal(out, "X");
	assert_int_equal(upstream_s3_xml_text(nested, strlen(nested), "Nope",
	    out, sizeof(out)), -1);
	assert_int_equal(upstream_s3_xml_text("<a>", 3, "a", out, sizeof(out)),
	    -1);
	/* External entities are never loaded. */
	if (upstream_s3_xml_text(xxe, strlen(xxe), "Code", out,
	    sizeof(out)) == 0)
		assert_string_equal(out, "");
}

/* ---- helpers and credentials ----------------------------------------- */

static void
test_request_helpers(void **state)
{
	struct upstream_request q;
	char url[64];

	(void)state;
	assert_int_equal(upstream_req_init(&q, "put", "PUT", "https://x/"), 0);
	assert_int_equal(upstream_req_header(&q, "A: %s", "b"), 0);
	/* Header injection is refused. */
	assert_int_equal(upstream_req_header(&q, "A: b\r\nX: y"), -1);
	assert_int_equal(q.nheaders, 1);
	assert_int_equal(upstream_url("https://h/base/", "/a b", "x=1", url,
	    sizeof(url)), 0);
	assert_string_equal(url, "https://h/base/a%20b?x=1");
	assert_int_equal(upstream_url("https://h", "/aaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
	    url, sizeof(url)), -1);
}

static char dir[] = "/tmp/sekisho-cred-XXXXXX";

static void
write_file(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_credentials(void **state)
{
	struct credentials c;
	char err[512], path[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file("b.yaml", "type: bearer\ntoken: \"tok en\"\n", 0600);
	write_file("u.yaml", "type: basic\nusername: u\npassword: p4ss\n",
	    0600);
	write_file("s.yaml", "type: aws\naccess_key_id: AK\n"
	    "secret_access_key: SK/+=\n", 0600);
	write_file("open.yaml", "type: bearer\ntoken: s3cr3t\n", 0644);
	write_file("ctl.yaml", "type: bearer\ntoken: \"a\\r\\nX: y\"\n", 0600);
	write_file("odd.yaml", "type: kerberos\n", 0600);
	write_file("extra.yaml", "type: bearer\ntoken: t\npassword: x\n",
	    0600);

	assert_int_equal(credentials_load(dir, "b", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, CREDENTIALS_BEARER);
	assert_string_equal(c.secret, "tok en");
	assert_int_equal(credentials_load(dir, "u", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, CREDENTIALS_BASIC);
	assert_string_equal(c.user, "u");
	snprintf(path, sizeof(path), "%s/s.yaml", dir);
	assert_int_equal(credentials_load(NULL, path, &c, err, sizeof(err)),
	    0);
	assert_int_equal(c.kind, CREDENTIALS_AWS);
	assert_string_equal(c.secret, "SK/+=");
	credentials_clear(&c);
	assert_int_equal(c.secret[0], 0);

	assert_int_equal(credentials_load(dir, "open", &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(strstr(err, "s3cr3t"));
	assert_int_equal(credentials_load(dir, "ctl", &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "control character"));
	assert_int_equal(credentials_load(dir, "odd", &c, err, sizeof(err)),
	    -1);
	assert_int_equal(credentials_load(dir, "extra", &c, err, sizeof(err)),
	    -1);
	assert_int_equal(credentials_load(dir, "missing", &c, err,
	    sizeof(err)), -1);
	assert_int_equal(c.kind, CREDENTIALS_NONE);
	/* A name is an id; anything else must be an absolute path. */
	assert_int_equal(credentials_load(dir, "../b", &c, err, sizeof(err)),
	    -1);
	assert_int_equal(credentials_load(dir, "/x/../b.yaml", &c, err,
	    sizeof(err)), -1);

	/* A symbolic link is refused. */
	snprintf(path, sizeof(path), "%s/link.yaml", dir);
	{
		char target[256];

		snprintf(target, sizeof(target), "%s/b.yaml", dir);
		assert_int_equal(symlink(target, path), 0);
	}
	assert_int_equal(credentials_load(dir, "link", &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "symbolic link"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_webdav_put_move_head),
		cmocka_unit_test(test_webdav_bad_bytes_are_never_moved),
		cmocka_unit_test(test_webdav_refused_and_broken_puts),
		cmocka_unit_test(test_webdav_creates_missing_folders),
		cmocka_unit_test(test_webdav_existing_object),
		cmocka_unit_test(test_webdav_check_before_a_later_attempt),
		cmocka_unit_test(test_s3_single_put),
		cmocka_unit_test(test_s3_check_existing),
		cmocka_unit_test(test_s3_multipart),
		cmocka_unit_test(test_s3_multipart_failures_abort),
		cmocka_unit_test(test_s3_stale_upload_is_aborted_first),
		cmocka_unit_test(test_s3_part_size_grows_for_huge_files),
		cmocka_unit_test(test_xml_reader),
		cmocka_unit_test(test_request_helpers),
		cmocka_unit_test(test_credentials),
	};
	int rc = cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
	char cmd[300];

	if (strchr(dir, 'X') == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			rc = rc != 0 ? rc : 1;
	}
	return rc;
}
