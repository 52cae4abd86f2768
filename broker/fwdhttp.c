/*
 * fwdhttp — see fwdhttp.h.
 *
 * The libcurl multi handle is driven by libevent: curl tells us which
 * sockets to watch (sock_cb) and when to call it back (timer_cb); we tell
 * it what happened (curl_multi_socket_action) and collect finished
 * requests (check_multi_info), whose results go back to the attempt
 * through forwarder.on_response.
 *
 * Every connection is new (no reuse between requests, no TLS session
 * resumption), so every request proves the upstream's certificate again
 * and the SPKI hash audited for an attempt is the one its connections
 * actually presented. The cost is a handshake per request, small next to
 * a file transfer.
 */
#include "broker/fwdhttp.h"
#include "broker/broker.h"
#include "broker/forward_int.h"
#include "broker/retry.h"
#include "broker/upstream.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define SOFTWARE "sekishod/0.1.0"
#define HASH_SLICE (1u << 20)		/* bytes hashed per loop turn */
#define UPLOAD_BUFFER (2 * 1024 * 1024)	/* libcurl's largest */

struct fwd_sock {
	struct event *ev;
};

/* ---- curl multi <-> libevent -------------------------------------------- */

static void check_multi_info(struct forwarder *f);

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct forwarder *f = arg;
	int running = 0, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(f->multi, fd, action, &running);
	check_multi_info(f);
}

static void
on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
	struct forwarder *f = arg;
	int running = 0;

	(void)fd;
	(void)what;
	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(f);
}

static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct forwarder *f = userp;
	struct fwd_sock *fs = socketp;
	short kind;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL) {
			if (fs->ev != NULL)
				event_free(fs->ev);
			free(fs);
		}
		curl_multi_assign(f->multi, s, NULL);
		return 0;
	}
	if (fs == NULL) {
		if ((fs = calloc(1, sizeof(*fs))) == NULL)
			return -1;
		curl_multi_assign(f->multi, s, fs);
	} else if (fs->ev != NULL) {
		event_free(fs->ev);
		fs->ev = NULL;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if ((fs->ev = event_new(f->b->base, s, kind, on_socket, f)) == NULL ||
	    event_add(fs->ev, NULL) != 0)
		return -1;
	return 0;
}

static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct forwarder *f = userp;
	struct timeval tv;

	(void)m;
	if (timeout_ms < 0) {
		evtimer_del(f->curl_timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(f->curl_timer, &tv) == 0 ? 0 : -1;
}

/* ---- one HTTP request --------------------------------------------------- */

static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct fwd_attempt *a = arg;
	uint64_t left = a->req.length - a->body_sent;
	size_t want = size * n;
	ssize_t r;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	do
		r = pread(a->fd, buf, want, (off_t)(a->req.offset +
		    a->body_sent));
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		snprintf(a->local_error, sizeof(a->local_error), "reading the "
		    "spool file: %s", r < 0 ? strerror(errno) :
		    "it is shorter than the transfer");
		a->spool_read_failed = 1;
		return CURL_READFUNC_ABORT;
	}
	EVP_DigestUpdate(a->sent_md, buf, (size_t)r);
	a->body_sent += (uint64_t)r;
	return (size_t)r;
}

/* curl rewinds a body it must send again (after a 100-continue refusal on
 * a reused connection, for instance): start over and hash afresh. */
static int
seek_cb(void *arg, curl_off_t off, int origin)
{
	struct fwd_attempt *a = arg;

	if (origin != SEEK_SET || off != 0)
		return CURL_SEEKFUNC_CANTSEEK;
	a->body_sent = 0;
	EVP_DigestInit_ex(a->sent_md, EVP_sha256(), NULL);
	return CURL_SEEKFUNC_OK;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fwd_attempt *a = arg;
	size_t len = size * n, room;

	if (a->req.hash_body) {
		EVP_DigestUpdate(a->body_md, p, len);
		a->resp.body_bytes += len;
	}
	if (a->req.keep_body) {
		room = UPSTREAM_BODY_MAX - a->bodylen;
		if (len > room)
			a->resp.body_truncated = 1;
		if (a->body == NULL &&
		    (a->body = malloc(UPSTREAM_BODY_MAX + 1)) == NULL)
			return 0;
		memcpy(a->body + a->bodylen, p, len < room ? len : room);
		a->bodylen += len < room ? len : room;
		a->body[a->bodylen] = '\0';
	}
	return len;
}

static void
header_value(const char *v, size_t len, char *out, size_t outlen)
{
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
	    v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, v, len);
	out[len] = '\0';
}

static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fwd_attempt *a = arg;
	struct upstream_response *r = &a->resp;
	size_t len = size * n, klen;
	const char *colon;
	char num[32];

	/* A new status line (100 Continue, a proxy's CONNECT answer, then
	 * the real one): only the last response's headers count. */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->etag[0] = r->version_id[0] = r->meta_sha256[0] = '\0';
		r->has_length = 0;
		return len;
	}
	if ((colon = memchr(p, ':', len)) == NULL)
		return len;
	klen = (size_t)(colon - p);
#define HDR(name) (klen == strlen(name) && strncasecmp(p, (name), klen) == 0)
	if (HDR("etag"))
		header_value(colon + 1, len - klen - 1, r->etag,
		    sizeof(r->etag));
	else if (HDR("x-amz-version-id"))
		header_value(colon + 1, len - klen - 1, r->version_id,
		    sizeof(r->version_id));
	else if (HDR("x-amz-meta-sekisho-sha256"))
		header_value(colon + 1, len - klen - 1, r->meta_sha256,
		    sizeof(r->meta_sha256));
	else if (HDR("content-length")) {
		header_value(colon + 1, len - klen - 1, num, sizeof(num));
		if (num[0] != '\0' && strspn(num, "0123456789") ==
		    strlen(num) && strlen(num) <= 19) {
			r->content_length = strtoull(num, NULL, 10);
			r->has_length = 1;
		}
	}
#undef HDR
	return len;
}

/* The SPKI of the certificate the upstream presents, whatever the
 * verification's verdict (a refused key is worth auditing too). */
static int
verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct fwd_attempt *a;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *leaf;
	int len;

	if (ssl == NULL ||
	    (a = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl))) == NULL ||
	    (leaf = X509_STORE_CTX_get0_cert(x)) == NULL)
		return ok;
	if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der)) > 0 &&
	    EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
	    mdlen == UTIL_SHA256_LEN)
		util_hex(md, mdlen, a->spki);
	OPENSSL_free(der);
	return ok;
}

static CURLcode
ssl_ctx_cb(CURL *e, void *sslctx, void *arg)
{
	SSL_CTX *ctx = sslctx;

	(void)e;
	SSL_CTX_set_app_data(ctx, arg);
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), verify_cb);
	return CURLE_OK;
}

static enum retry_transport
classify_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return RETRY_T_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return RETRY_T_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return RETRY_T_TIMEOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return RETRY_T_TLS_VERIFY;
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return RETRY_T_PIN;
	case CURLE_READ_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_WRITE_ERROR:
		return RETRY_T_LOCAL;
	default:
		/* Resets, EOFs, handshake and proxy failures: the network. */
		return RETRY_T_BROKEN;
	}
}

void
fwdhttp_cleanup(struct fwd_attempt *a)
{
	if (a->easy != NULL) {
		curl_multi_remove_handle(a->it->f->multi, a->easy);
		curl_easy_cleanup(a->easy);
		a->easy = NULL;
	}
	curl_slist_free_all(a->hdrs);
	a->hdrs = NULL;
	free(a->body);
	a->body = NULL;
	a->bodylen = 0;
}

void
fwdhttp_send(struct fwd_attempt *a)
{
	struct forwarder *f = a->it->f;
	struct upstream_request *q = &a->req;
	struct curl_slist *h;
	CURL *e;
	char aws[160];
	size_t i;
	int ok = 1;

	memset(&a->resp, 0, sizeof(a->resp));
	a->curl_err[0] = a->local_error[0] = '\0';
	a->body_sent = 0;
	if (++a->nreq > UPSTREAM_MAX_STEPS || (e = curl_easy_init()) == NULL) {
		a->resp.transport = RETRY_T_LOCAL;
		util_strlcpy(a->resp.error, a->nreq > UPSTREAM_MAX_STEPS ?
		    "too many requests in one attempt" : "out of memory",
		    sizeof(a->resp.error));
		a->it->f->on_response(a, &a->resp);
		return;
	}
	a->easy = e;
	if (!q->cleanup)
		util_strlcpy(a->last_step, q->step, sizeof(a->last_step));
	EVP_DigestInit_ex(a->sent_md, EVP_sha256(), NULL);
	EVP_DigestInit_ex(a->body_md, EVP_sha256(), NULL);

#define SET(opt, val) do { if (curl_easy_setopt(e, (opt), (val)) != CURLE_OK) \
	ok = 0; } while (0)
	SET(CURLOPT_URL, q->url);
	SET(CURLOPT_PRIVATE, a);
	SET(CURLOPT_ERRORBUFFER, a->curl_err);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, SOFTWARE);
	SET(CURLOPT_PROTOCOLS_STR, a->plain_http ? "http,https" : "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_FRESH_CONNECT, 1L);
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, (long)a->d.connect_timeout);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, (long)a->d.stall_timeout);
	SET(CURLOPT_UPLOAD_BUFFERSIZE, (long)UPLOAD_BUFFER);
	/* Trust: the chain and the host name, always. */
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (a->ca[0] != '\0') {
		/* Only this CA: no system store next to it. */
		SET(CURLOPT_CAINFO, a->ca);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (a->pins[0] != '\0')
		SET(CURLOPT_PINNEDPUBLICKEY, a->pins);
	SET(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	SET(CURLOPT_SSL_CTX_DATA, a);
	/* An explicit empty proxy also keeps *_proxy variables out. */
	SET(CURLOPT_PROXY, a->d.proxy != NULL ? a->d.proxy : "");
	if (a->d.proxy != NULL)
		SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, a);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, a);

	switch (a->cred.kind) {
	case CREDENTIALS_BEARER:
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		SET(CURLOPT_XOAUTH2_BEARER, a->cred.secret);
		break;
	case CREDENTIALS_BASIC:
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, a->cred.user);
		SET(CURLOPT_PASSWORD, a->cred.secret);
		break;
	case CREDENTIALS_AWS:
		snprintf(aws, sizeof(aws), "aws:amz:%s:s3",
		    a->target.region);
		SET(CURLOPT_AWS_SIGV4, aws);
		SET(CURLOPT_USERNAME, a->cred.user);
		SET(CURLOPT_PASSWORD, a->cred.secret);
		break;
	case CREDENTIALS_NONE:
		break;
	}

	if (strcmp(q->method, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(q->method, "GET") == 0)
		SET(CURLOPT_HTTPGET, 1L);
	else if (q->body == UPSTREAM_BODY_SPOOL) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->length);
		SET(CURLOPT_READFUNCTION, read_cb);
		SET(CURLOPT_READDATA, a);
		SET(CURLOPT_SEEKFUNCTION, seek_cb);
		SET(CURLOPT_SEEKDATA, a);
		if (strcmp(q->method, "PUT") != 0)
			SET(CURLOPT_CUSTOMREQUEST, q->method);
	} else if (q->body == UPSTREAM_BODY_MEMORY) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->memlen);
		SET(CURLOPT_POSTFIELDS, q->mem);
		if (strcmp(q->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, q->method);
	} else
		SET(CURLOPT_CUSTOMREQUEST, q->method);
	for (i = 0; i < q->nheaders; i++) {
		if ((h = curl_slist_append(a->hdrs, q->headers[i])) == NULL) {
			ok = 0;
			break;
		}
		a->hdrs = h;
	}
	/* No header may be blanked out here (such as "Expect:" to skip
	 * 100-continue): libcurl's SigV4 would sign it, send nothing, and
	 * the signature would not match what arrives. */
	SET(CURLOPT_HTTPHEADER, a->hdrs);
#undef SET
	if (!ok || curl_multi_add_handle(f->multi, e) != CURLM_OK) {
		fwdhttp_cleanup(a);
		memset(&a->resp, 0, sizeof(a->resp));
		a->resp.transport = RETRY_T_LOCAL;
		util_strlcpy(a->resp.error, "could not set up the request",
		    sizeof(a->resp.error));
		a->it->f->on_response(a, &a->resp);
	}
}

/* A request finished: fill the response, clean up, run the next step. */
static void
request_done(struct fwd_attempt *a, CURLcode rc)
{
	struct upstream_response *r = &a->resp;
	curl_off_t up = 0, ra = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	long status = 0;
	char *ip = NULL;

	curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(a->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	if (curl_easy_getinfo(a->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
	    ip != NULL && ip[0] != '\0')
		util_strlcpy(a->peer_ip, ip, sizeof(a->peer_ip));
	if (curl_easy_getinfo(a->easy, CURLINFO_RETRY_AFTER, &ra) ==
	    CURLE_OK && ra > 0)
		a->retry_after_ms = (uint64_t)ra * 1000;
	if (up > 0)
		a->bytes += (uint64_t)up;
	r->transport = classify_curl(rc);
	if (rc != CURLE_OK) {
		if (a->local_error[0] != '\0') {
			r->transport = RETRY_T_LOCAL;
			util_strlcpy(r->error, a->local_error, sizeof(r->error));
		} else
			snprintf(r->error, sizeof(r->error), "%s",
			    a->curl_err[0] != '\0' ? a->curl_err :
			    curl_easy_strerror(rc));
		status = 0;
	}
	r->status = status;
	r->body_sent = a->body_sent;
	if (a->req.main && status != 0)
		a->main_status = status;
	if (a->req.body == UPSTREAM_BODY_SPOOL &&
	    a->body_sent == a->req.length &&
	    EVP_DigestFinal_ex(a->sent_md, md, &mdlen) == 1 &&
	    mdlen == UTIL_SHA256_LEN) {
		memcpy(r->sent_sha256, md, mdlen);
		r->sent_hashed = 1;
	}
	if (a->req.hash_body && EVP_DigestFinal_ex(a->body_md, md, &mdlen) ==
	    1 && mdlen == UTIL_SHA256_LEN)
		memcpy(r->body_sha256, md, mdlen);
	r->body = a->body;
	r->bodylen = a->bodylen;
	curl_multi_remove_handle(a->it->f->multi, a->easy);
	curl_easy_cleanup(a->easy);
	a->easy = NULL;
	curl_slist_free_all(a->hdrs);
	a->hdrs = NULL;
	a->it->f->on_response(a, r);
}

static void
check_multi_info(struct forwarder *f)
{
	struct fwd_attempt *a;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		a = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&a);
		if (a != NULL && a->easy == msg->easy_handle)
			request_done(a, msg->data.result);
	}
}

/* ---- hashing a range of the spool file (S3 parts) ---------------------- */

static void
on_hash(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_attempt *a = arg;
	static const struct timeval now = { 0, 0 };
	unsigned char buf[64 * 1024], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t end = a->req.offset + a->req.length, done = 0;
	ssize_t r;

	(void)fd;
	(void)what;
	while (a->hash_pos < end && done < HASH_SLICE) {
		size_t want = end - a->hash_pos < sizeof(buf) ?
		    (size_t)(end - a->hash_pos) : sizeof(buf);

		do
			r = pread(a->fd, buf, want, (off_t)a->hash_pos);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			a->spool_read_failed = 1;
			memset(&a->resp, 0, sizeof(a->resp));
			a->it->f->on_response(a, &a->resp);	/* hashed == 0 */
			return;
		}
		EVP_DigestUpdate(a->body_md, buf, (size_t)r);
		a->hash_pos += (uint64_t)r;
		done += (uint64_t)r;
	}
	if (a->hash_pos < end) {
		/* Let the loop serve sockets before the next slice. */
		evtimer_add(a->hash_ev, &now);
		return;
	}
	memset(&a->resp, 0, sizeof(a->resp));
	if (EVP_DigestFinal_ex(a->body_md, md, &mdlen) == 1 &&
	    mdlen == UTIL_SHA256_LEN) {
		memcpy(a->resp.range_sha256, md, mdlen);
		a->resp.hashed = 1;
	}
	a->it->f->on_response(a, &a->resp);
}

void
fwdhttp_hash(struct fwd_attempt *a)
{
	static const struct timeval now = { 0, 0 };

	if (a->hash_ev == NULL && (a->hash_ev = evtimer_new(a->it->f->b->base,
	    on_hash, a)) == NULL) {
		memset(&a->resp, 0, sizeof(a->resp));
		a->it->f->on_response(a, &a->resp);
		return;
	}
	EVP_DigestInit_ex(a->body_md, EVP_sha256(), NULL);
	a->hash_pos = a->req.offset;
	evtimer_add(a->hash_ev, &now);
}

/* ---- the multi handle -------------------------------------------------- */

int
fwdhttp_setup(struct forwarder *f,
    void (*on_response)(struct fwd_attempt *a,
    const struct upstream_response *r))
{
	f->on_response = on_response;
	if ((f->multi = curl_multi_init()) == NULL ||
	    (f->curl_timer = evtimer_new(f->b->base, on_curl_timer,
	    f)) == NULL)
		return -1;
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	return 0;
}

void
fwdhttp_teardown(struct forwarder *f)
{
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi);
	f->multi = NULL;
	if (f->curl_timer != NULL)
		event_free(f->curl_timer);
	f->curl_timer = NULL;
}
