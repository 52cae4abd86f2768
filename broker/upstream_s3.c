/*
 * upstream_s3 — see upstream_s3.h. A state machine over the responses the
 * forwarder hands back; XML answers are read with libxml2 (no entities, no
 * network), and only a few elements are looked at.
 *
 * A multipart upload's parts are stored (and billed) by the service until
 * the upload is completed or aborted. An attempt that fails aborts its own;
 * a broker that stops or dies in the middle cannot, so the upload id is
 * recorded in the store (UPSTREAM_NOTE) before the first part is sent, and
 * the next attempt aborts that upload before it starts its own.
 */
#include "broker/upstream_s3.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* SHA-256 of the empty string: the payload hash of a bodiless request. */
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_UPLOAD_ID STORE_MAX_UPLOAD_ID

enum phase {
	P_START,
	P_STALE,		/* AbortMultipartUpload of an earlier attempt's */
	P_CHECK,		/* HEAD key */
	P_PUT,			/* single PUT */
	P_CREATE,		/* CreateMultipartUpload */
	P_NOTE,			/* recording the upload id in the store */
	P_HASH,			/* hashing part n */
	P_PART,			/* UploadPart n */
	P_COMPLETE,		/* CompleteMultipartUpload */
	P_ABORT,		/* AbortMultipartUpload, then saved outcome */
	P_REMOVE		/* DELETE key (bad bytes stored), then saved */
};

struct part {
	char etag[STORE_MAX_TAG + 1];
	uint8_t sha[UTIL_SHA256_LEN];
};

struct s3 {
	struct upstream_target t;
	enum phase phase;
	char key[PATHTMPL_MAX + 300];	/* /bucket/path or /path */
	char url[UPSTREAM_URL_MAX];
	char hex[UTIL_SHA256_HEX + 1];
	char b64[48];
	char upload_id[MAX_UPLOAD_ID + 1];
	char upload_q[3 * MAX_UPLOAD_ID + 1];	/* upload id, encoded */
	uint64_t part_size;
	unsigned nparts, part;		/* part is 1-based, current */
	struct part *parts;
	char *complete;			/* CompleteMultipartUpload body */
	size_t completelen;
	struct upstream_outcome saved;
};

int
upstream_s3_xml_text(const char *xml, size_t len, const char *name,
    char *out, size_t outlen)
{
	xmlDocPtr doc;
	xmlNodePtr n, stack[32];
	xmlChar *txt;
	int depth = 0, rc = -1;

	if (xml == NULL || len == 0 || len > INT32_MAX)
		return -1;
	doc = xmlReadMemory(xml, (int)len, "response.xml", NULL, XML_PARSE_NONET |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return -1;
	n = xmlDocGetRootElement(doc);
	/* Depth-first, bounded: S3 answers are two or three levels deep. */
	while (n != NULL) {
		if (n->type == XML_ELEMENT_NODE &&
		    xmlStrcmp(n->name, (const xmlChar *)name) == 0) {
			txt = xmlNodeGetContent(n);
			if (txt != NULL && util_strlcpy(out, (const char *)txt,
			    outlen) == 0)
				rc = 0;
			xmlFree(txt);
			break;
		}
		if (n->type == XML_ELEMENT_NODE && n->children != NULL &&
		    depth < (int)(sizeof(stack) / sizeof(stack[0]))) {
			stack[depth++] = n;
			n = n->children;
			continue;
		}
		while (n != NULL && n->next == NULL && depth > 0)
			n = stack[--depth];
		n = n != NULL ? n->next : NULL;
	}
	xmlFreeDoc(doc);
	return rc;
}

/* RFC 3986 encoding of a query value (everything but unreserved). */
static int
qenc(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t len = 0;

	for (p = (const unsigned char *)in; *p != '\0'; p++) {
		if (len + 4 > outlen)
			return -1;
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~')
			out[len++] = (char)*p;
		else {
			out[len++] = '%';
			out[len++] = hex[*p >> 4];
			out[len++] = hex[*p & 0xf];
		}
	}
	if (len >= outlen)
		return -1;
	out[len] = '\0';
	return 0;
}

static void
b64(const uint8_t sha[UTIL_SHA256_LEN], char out[48])
{
	EVP_EncodeBlock((unsigned char *)out, sha, UTIL_SHA256_LEN);
}

static void *
s3_start(const struct upstream_target *t, char *err, size_t errlen)
{
	struct s3 *s;
	uint64_t ps, min;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		util_err(err, errlen, "out of memory");
		return NULL;
	}
	s->t = *t;
	if ((t->bucket[0] != '\0' ? snprintf(s->key, sizeof(s->key), "/%s%s",
	    t->bucket, t->path) : snprintf(s->key, sizeof(s->key), "%s",
	    t->path)) >= (int)sizeof(s->key) ||
	    upstream_url(t->endpoint, s->key, NULL, s->url,
	    sizeof(s->url)) != 0) {
		util_err(err, errlen, "the destination URL is too long");
		free(s);
		return NULL;
	}
	util_hex(t->sha256, sizeof(t->sha256), s->hex);
	b64(t->sha256, s->b64);
	if (t->size >= t->multipart_threshold && t->size > 0) {
		/* At most 10,000 parts: grow the part size (to whole MiB)
		 * for very large files. */
		ps = t->part_size > 0 ? t->part_size : (16u << 20);
		min = (t->size + UPSTREAM_S3_MAX_PARTS - 1) /
		    UPSTREAM_S3_MAX_PARTS;
		if (ps < min)
			ps = (min + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
		s->part_size = ps;
		s->nparts = (unsigned)((t->size + ps - 1) / ps);
		if ((s->parts = calloc(s->nparts, sizeof(*s->parts))) == NULL) {
			util_err(err, errlen, "out of memory");
			free(s);
			return NULL;
		}
	}
	return s;
}

static void
s3_free(void *state)
{
	struct s3 *s = state;

	if (s == NULL)
		return;
	free(s->parts);
	free(s->complete);
	free(s);
}

/* Headers every signed request carries. */
static void
common_headers(struct s3 *s, struct upstream_request *req,
    const char *payload_hash)
{
	upstream_req_header(req, "x-amz-content-sha256: %s", payload_hash);
	if (s->t.s3_session_token)
		upstream_req_header(req, "x-amz-security-token: %s",
		    s->t.s3_token);
	req->keep_body = 1;		/* XML answers and error bodies */
}

static void
object_headers(struct s3 *s, struct upstream_request *req)
{
	upstream_req_header(req, "Content-Type: application/octet-stream");
	upstream_req_header(req, "x-amz-meta-sekisho-sha256: %s", s->hex);
	upstream_req_header(req, "x-amz-meta-sekisho-transfer: %s",
	    s->t.transfer);
}

static int
url_with(struct s3 *s, const char *query, char *out, size_t outlen)
{
	return upstream_url(s->t.endpoint, s->key, query, out, outlen);
}

static enum upstream_next
send_head(struct s3 *s, struct upstream_request *req)
{
	s->phase = P_CHECK;
	upstream_req_init(req, "check", "HEAD", s->url);
	common_headers(s, req, EMPTY_SHA256);
	req->keep_body = 0;
	return UPSTREAM_SEND;
}

static enum upstream_next
send_put(struct s3 *s, struct upstream_request *req)
{
	s->phase = P_PUT;
	upstream_req_init(req, "put", "PUT", s->url);
	common_headers(s, req, s->hex);
	object_headers(s, req);
	upstream_req_header(req, "x-amz-checksum-sha256: %s", s->b64);
	req->body = UPSTREAM_BODY_SPOOL;
	req->offset = 0;
	req->length = s->t.size;
	req->main = 1;
	return UPSTREAM_SEND;
}

static enum upstream_next
send_create(struct s3 *s, struct upstream_request *req)
{
	char url[UPSTREAM_URL_MAX];

	s->phase = P_CREATE;
	url_with(s, "uploads=", url, sizeof(url));
	upstream_req_init(req, "create", "POST", url);
	common_headers(s, req, EMPTY_SHA256);
	object_headers(s, req);
	upstream_req_header(req, "x-amz-checksum-algorithm: SHA256");
	req->body = UPSTREAM_BODY_MEMORY;
	req->mem = "";
	req->memlen = 0;
	return UPSTREAM_SEND;
}

static uint64_t
part_offset(const struct s3 *s, unsigned n)
{
	return (uint64_t)(n - 1) * s->part_size;
}

static uint64_t
part_length(const struct s3 *s, unsigned n)
{
	uint64_t off = part_offset(s, n);

	return s->t.size - off < s->part_size ? s->t.size - off : s->part_size;
}

static enum upstream_next
hash_part(struct s3 *s, struct upstream_request *req)
{
	s->phase = P_HASH;
	memset(req, 0, sizeof(*req));
	util_strlcpy(req->step, "hash", sizeof(req->step));
	req->offset = part_offset(s, s->part);
	req->length = part_length(s, s->part);
	return UPSTREAM_HASH;
}

static enum upstream_next
send_part(struct s3 *s, struct upstream_request *req)
{
	char q[64 + sizeof(s->upload_q)], url[UPSTREAM_URL_MAX], hex[65];
	char pb64[48];
	struct part *p = &s->parts[s->part - 1];

	s->phase = P_PART;
	snprintf(q, sizeof(q), "partNumber=%u&uploadId=%s", s->part,
	    s->upload_q);
	url_with(s, q, url, sizeof(url));
	upstream_req_init(req, "part", "PUT", url);
	util_hex(p->sha, sizeof(p->sha), hex);
	b64(p->sha, pb64);
	common_headers(s, req, hex);
	upstream_req_header(req, "x-amz-checksum-sha256: %s", pb64);
	req->body = UPSTREAM_BODY_SPOOL;
	req->offset = part_offset(s, s->part);
	req->length = part_length(s, s->part);
	req->main = 1;
	return UPSTREAM_SEND;
}

/* Appends XML text with the five predefined entities escaped. */
static size_t
xml_escape(char *dst, const char *src)
{
	size_t n = 0;

	for (; *src != '\0'; src++) {
		const char *e = *src == '&' ? "&amp;" : *src == '<' ? "&lt;" :
		    *src == '>' ? "&gt;" : *src == '"' ? "&quot;" :
		    *src == '\'' ? "&apos;" : NULL;

		if (e != NULL) {
			memcpy(dst + n, e, strlen(e));
			n += strlen(e);
		} else
			dst[n++] = *src;
	}
	return n;
}

static enum upstream_next
send_complete(struct s3 *s, struct upstream_request *req,
    struct upstream_outcome *o)
{
	static const char head[] = "<CompleteMultipartUpload xmlns=\""
	    "http://s3.amazonaws.com/doc/2006-03-01/\">";
	static const char tail[] = "</CompleteMultipartUpload>";
	char q[16 + sizeof(s->upload_q)], url[UPSTREAM_URL_MAX];
	char hex[65], pb64[48], num[16];
	uint8_t sha[UTIL_SHA256_LEN];
	size_t cap, n = 0;
	unsigned i;

	/* Per part: fixed tags (~110 bytes), a number, the escaped ETag (at
	 * most 6 bytes per character) and a base64 hash. */
	cap = sizeof(head) + sizeof(tail) +
	    (size_t)s->nparts * (128 + 6 * STORE_MAX_TAG + 48);
	free(s->complete);
	if ((s->complete = malloc(cap)) == NULL) {
		upstream_outcome(o, RETRY_AGAIN, 0, "out of memory");
		o->transport = RETRY_T_LOCAL;
		return UPSTREAM_DONE;
	}
	memcpy(s->complete, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	for (i = 0; i < s->nparts; i++) {
		snprintf(num, sizeof(num), "%u", i + 1);
		b64(s->parts[i].sha, pb64);
		n += (size_t)sprintf(s->complete + n, "<Part><PartNumber>%s"
		    "</PartNumber><ETag>", num);
		n += xml_escape(s->complete + n, s->parts[i].etag);
		n += (size_t)sprintf(s->complete + n, "</ETag><ChecksumSHA256>"
		    "%s</ChecksumSHA256></Part>", pb64);
	}
	memcpy(s->complete + n, tail, sizeof(tail) - 1);
	n += sizeof(tail) - 1;
	s->completelen = n;
	SHA256((const unsigned char *)s->complete, n, sha);
	util_hex(sha, sizeof(sha), hex);

	s->phase = P_COMPLETE;
	snprintf(q, sizeof(q), "uploadId=%s", s->upload_q);
	url_with(s, q, url, sizeof(url));
	upstream_req_init(req, "complete", "POST", url);
	common_headers(s, req, hex);
	upstream_req_header(req, "Content-Type: application/xml");
	req->body = UPSTREAM_BODY_MEMORY;
	req->mem = s->complete;
	req->memlen = n;
	return UPSTREAM_SEND;
}

/* Ends with o, aborting an open multipart upload first. */
static enum upstream_next
finish(struct s3 *s, const struct upstream_outcome *o,
    struct upstream_request *req, struct upstream_outcome *out)
{
	char q[16 + sizeof(s->upload_q)], url[UPSTREAM_URL_MAX];

	if (s->upload_id[0] != '\0' && s->phase != P_ABORT) {
		s->saved = *o;
		s->phase = P_ABORT;
		snprintf(q, sizeof(q), "uploadId=%s", s->upload_q);
		url_with(s, q, url, sizeof(url));
		upstream_req_init(req, "abort", "DELETE", url);
		common_headers(s, req, EMPTY_SHA256);
		req->cleanup = 1;
		s->upload_id[0] = '\0';
		return UPSTREAM_SEND;
	}
	*out = *o;
	return UPSTREAM_DONE;
}

/* Settles r for step; an S3 <Error><Code> in the body joins the reason. */
static enum retry_verdict
settle(const struct upstream_response *r, const char *step,
    struct upstream_outcome *o)
{
	char code[64];
	enum retry_verdict v = upstream_settle(r, step, o);

	if (v != RETRY_DONE && r->body != NULL &&
	    upstream_s3_xml_text(r->body, r->bodylen, "Code", code,
	    sizeof(code)) == 0) {
		size_t len = strlen(o->reason);

		snprintf(o->reason + len, sizeof(o->reason) - len, " (%s)",
		    code);
	}
	return v;
}

static enum upstream_next
start_upload(struct s3 *s, struct upstream_request *req)
{
	return s->nparts > 0 ? send_create(s, req) : send_put(s, req);
}

static enum upstream_next
first_step(struct s3 *s, struct upstream_request *req)
{
	return s->t.check_existing ? send_head(s, req) : start_upload(s, req);
}

/* Aborts the upload an earlier attempt left open. */
static enum upstream_next
send_stale_abort(struct s3 *s, struct upstream_request *req)
{
	char q[16 + sizeof(s->upload_q)], url[UPSTREAM_URL_MAX];

	if (qenc(s->t.stale_upload_id, s->upload_q, sizeof(s->upload_q)) != 0 ||
	    snprintf(q, sizeof(q), "uploadId=%s", s->upload_q) >=
	    (int)sizeof(q) || snprintf(url, sizeof(url), "%s?%s",
	    s->t.stale_url, q) >= (int)sizeof(url)) {
		s->upload_q[0] = '\0';
		return first_step(s, req);
	}
	s->upload_q[0] = '\0';
	s->phase = P_STALE;
	upstream_req_init(req, "abort-old", "DELETE", url);
	common_headers(s, req, EMPTY_SHA256);
	req->cleanup = 1;
	return UPSTREAM_SEND;
}

static enum upstream_next
s3_next(void *state, const struct upstream_response *r,
    struct upstream_request *req, struct upstream_outcome *o)
{
	struct s3 *s = state;
	struct upstream_outcome tmp;
	struct part *p;
	char code[64];

	memset(&tmp, 0, sizeof(tmp));
	if (r == NULL)
		return s->t.stale_upload_id[0] != '\0' ?
		    send_stale_abort(s, req) : first_step(s, req);
	switch (s->phase) {
	case P_START:
		break;
	case P_STALE:
		/* Gone (204) or no longer there (404): go on. A service in
		 * trouble fails the attempt, which keeps the old id for the
		 * next one. A refusal (no right to abort, an emulator without
		 * the call) cannot be cured by waiting: go on, and the new
		 * upload's id replaces the old one in the store. */
		if (r->transport != RETRY_T_OK || r->status >= 500 ||
		    r->status == 408 || r->status == 429) {
			settle(r, "abort-old", &tmp);
			return finish(s, &tmp, req, o);
		}
		return first_step(s, req);
	case P_CHECK:
		if (r->transport == RETRY_T_OK && r->status == 404)
			return start_upload(s, req);
		if (r->transport == RETRY_T_OK && r->status >= 200 &&
		    r->status <= 299) {
			if (CRYPTO_memcmp(r->meta_sha256, s->hex,
			    sizeof(s->hex)) == 0) {
				upstream_outcome(&tmp, RETRY_DONE, r->status,
				    "the object was already at the "
				    "destination with the same SHA-256 (an "
				    "earlier attempt delivered it)");
				tmp.already_there = 1;
				util_strlcpy(tmp.etag, r->etag,
				    sizeof(tmp.etag));
				util_strlcpy(tmp.version_id, r->version_id,
				    sizeof(tmp.version_id));
				return finish(s, &tmp, req, o);
			}
			upstream_outcome(&tmp, RETRY_NEVER, r->status, "a "
			    "different object already exists at the "
			    "destination; it was not overwritten");
			return finish(s, &tmp, req, o);
		}
		if (settle(r, "check", &tmp) == RETRY_DONE)
			tmp.verdict = RETRY_NEVER;
		return finish(s, &tmp, req, o);
	case P_PUT:
		if (settle(r, "put", &tmp) != RETRY_DONE)
			return finish(s, &tmp, req, o);
		if (!r->sent_hashed || CRYPTO_memcmp(r->sent_sha256,
		    s->t.sha256, sizeof(s->t.sha256)) != 0) {
			/* The service took bytes that are not the file:
			 * take them away again and fail. */
			s->saved = tmp;
			upstream_outcome(&s->saved, RETRY_NEVER, r->status,
			    "the bytes read from the spool did not match the "
			    "transfer's SHA-256; the object was removed");
			s->saved.transport = RETRY_T_LOCAL;
			s->phase = P_REMOVE;
			upstream_req_init(req, "remove", "DELETE", s->url);
			common_headers(s, req, EMPTY_SHA256);
			req->cleanup = 1;
			return UPSTREAM_SEND;
		}
		upstream_outcome(&tmp, RETRY_DONE, r->status, "delivered");
		util_strlcpy(tmp.etag, r->etag, sizeof(tmp.etag));
		util_strlcpy(tmp.version_id, r->version_id,
		    sizeof(tmp.version_id));
		return finish(s, &tmp, req, o);
	case P_CREATE:
		if (settle(r, "create", &tmp) != RETRY_DONE)
			return finish(s, &tmp, req, o);
		if (r->body == NULL || r->body_truncated ||
		    upstream_s3_xml_text(r->body, r->bodylen, "UploadId",
		    s->upload_id, sizeof(s->upload_id)) != 0 ||
		    s->upload_id[0] == '\0' ||
		    qenc(s->upload_id, s->upload_q, sizeof(s->upload_q)) != 0) {
			s->upload_id[0] = '\0';
			upstream_outcome(&tmp, RETRY_AGAIN, r->status, "create: "
			    "no usable UploadId in the answer");
			return finish(s, &tmp, req, o);
		}
		/* Recorded before any part is sent, so that a broker that
		 * stops now can still abort it. */
		s->phase = P_NOTE;
		if (upstream_req_init(req, "note", "NOTE", s->url) != 0 ||
		    util_strlcpy(req->note_upload_id, s->upload_id,
		    sizeof(req->note_upload_id)) != 0) {
			upstream_outcome(&tmp, RETRY_AGAIN, 0, "create: the "
			    "upload id cannot be recorded");
			tmp.transport = RETRY_T_LOCAL;
			return finish(s, &tmp, req, o);
		}
		return UPSTREAM_NOTE;
	case P_NOTE:
		if (!r->noted) {
			upstream_outcome(&tmp, RETRY_AGAIN, 0, "the upload id "
			    "could not be recorded in the store");
			tmp.transport = RETRY_T_LOCAL;
			return finish(s, &tmp, req, o);
		}
		s->part = 1;
		return hash_part(s, req);
	case P_HASH:
		if (!r->hashed) {
			upstream_outcome(&tmp, RETRY_AGAIN, 0, "hash: could "
			    "not read part %u from the spool", s->part);
			tmp.transport = RETRY_T_LOCAL;
			return finish(s, &tmp, req, o);
		}
		memcpy(s->parts[s->part - 1].sha, r->range_sha256,
		    UTIL_SHA256_LEN);
		return send_part(s, req);
	case P_PART:
		p = &s->parts[s->part - 1];
		if (settle(r, "part", &tmp) != RETRY_DONE)
			return finish(s, &tmp, req, o);
		if (!r->sent_hashed || CRYPTO_memcmp(r->sent_sha256, p->sha,
		    sizeof(p->sha)) != 0) {
			upstream_outcome(&tmp, RETRY_AGAIN, r->status, "part "
			    "%u: the spool changed while it was sent", s->part);
			tmp.transport = RETRY_T_LOCAL;
			tmp.spool_suspect = 1;
			return finish(s, &tmp, req, o);
		}
		if (r->etag[0] == '\0') {
			upstream_outcome(&tmp, RETRY_AGAIN, r->status, "part "
			    "%u: no ETag in the answer", s->part);
			return finish(s, &tmp, req, o);
		}
		util_strlcpy(p->etag, r->etag, sizeof(p->etag));
		if (s->part < s->nparts) {
			s->part++;
			return hash_part(s, req);
		}
		return send_complete(s, req, o);
	case P_COMPLETE:
		if (settle(r, "complete", &tmp) != RETRY_DONE)
			return finish(s, &tmp, req, o);
		/* S3 may answer 200 and put an error in the body. */
		if (r->body == NULL || upstream_s3_xml_text(r->body,
		    r->bodylen, "Code", code, sizeof(code)) == 0) {
			upstream_outcome(&tmp, RETRY_AGAIN, r->status,
			    "complete: the service reported %s",
			    r->body != NULL ? code : "nothing");
			return finish(s, &tmp, req, o);
		}
		upstream_outcome(&tmp, RETRY_DONE, r->status, "delivered in "
		    "%u parts", s->nparts);
		if (upstream_s3_xml_text(r->body, r->bodylen, "ETag", tmp.etag,
		    sizeof(tmp.etag)) != 0)
			util_strlcpy(tmp.etag, r->etag, sizeof(tmp.etag));
		util_strlcpy(tmp.version_id, r->version_id,
		    sizeof(tmp.version_id));
		s->upload_id[0] = '\0';		/* nothing to abort now */
		return finish(s, &tmp, req, o);
	case P_ABORT:
	case P_REMOVE:
		*o = s->saved;
		return UPSTREAM_DONE;
	}
	upstream_outcome(o, RETRY_NEVER, 0, "internal error: unexpected S3 "
	    "state");
	return UPSTREAM_DONE;
}

const struct upstream_ops upstream_s3_ops = {
	"s3",
	s3_start,
	s3_next,
	s3_free,
};
